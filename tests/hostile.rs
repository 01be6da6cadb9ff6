//! The catalogue of hostile inputs: each promise of the README (no secret leaves, no file is
//! destroyed, nothing hangs, bad input is refused before the build) against the input that
//! once broke it, through the real binary. Small hostile servers of our own stand in for
//! registries, token realms, engines and the network (`common::hostile`); real registries
//! sit behind a fault proxy where the case needs one.

mod common;

use common::bases::{self, Blobs};
use common::fault_proxy::{FaultProxy, Faults, Kind};
use common::hostile::{Request, Response, Scripted, Silent};
use common::registry::{skopeo_digest, Registry};
use common::{assert_no_canary, canary_env, Project, Run, CANARY_PASSWORD, CANARY_USER};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the tool in `p` with `envs` and `args`; no form of the canary may show in its
/// output or in any file it wrote.
fn run(p: &Project, envs: &[(&str, String)], args: &[&str]) -> Run {
    let run = Run::of(p.cmd().envs(envs.iter().map(|(k, v)| (*k, v))).args(args));
    assert_no_canary(&[&run.stdout, &run.stderr], &[p.path()]);
    run
}

/// Nothing was built: cargo never ran for the project.
fn assert_nothing_built(p: &Project) {
    assert!(!p.path().join("target").exists(), "the build ran before the bad input was reported");
}

/// A proxy that records what would have left the machine (the tests' network).
fn network() -> Scripted {
    Scripted::start(|_, _| Response::new(502))
}

fn proxied(capture: &Scripted) -> Vec<(&'static str, String)> {
    let url = format!("http://{}", capture.host());
    vec![("HTTP_PROXY", url.clone()), ("http_proxy", url), ("NO_PROXY", String::new()), ("no_proxy", String::new())]
}

fn with(mut a: Vec<(&'static str, String)>, b: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    a.extend(b);
    a
}

// ---- Secrets -------------------------------------------------------------------------------

/// Item 1: A registry whose token realm is plain HTTP on another host gets nothing sent there;
/// with `--insecure-registry` for that host the realm is contacted, which shows the
/// refusal was the rule at work.
#[test]
fn a_plain_http_token_realm_on_another_host_gets_no_credentials() {
    let registry = Scripted::start(|req, _| match req.target.as_str() {
        "/v2/" => Response::new(401)
            .header("WWW-Authenticate", r#"Bearer realm="http://auth.hostile.test/token",service="reg""#),
        _ => Response::new(404),
    });
    let net = network();
    let p = Project::copy("hello");
    let envs = with(canary_env(&registry.host()), proxied(&net));
    let reference = format!("{}/app:1", registry.host());
    let refused = run(&p, &envs, &["--push", &reference]).failed();
    assert!(
        refused.stderr.contains("refusing to contact http://auth.hostile.test/token over plain HTTP"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--insecure-registry auth.hostile.test"), "{}", refused.stderr);
    assert!(net.seen().is_empty(), "a request left for the realm: {:?}", net.seen());

    let allowed = run(&p, &envs, &["--insecure-registry", "auth.hostile.test", "--push", &reference]).failed();
    assert!(
        net.seen().iter().any(|r| r.target.starts_with("http://auth.hostile.test/token")),
        "{:?}\n{}",
        net.seen(),
        allowed.stderr
    );
    // A realm that keeps failing is asked once per run (with the transport's retries), not
    // again for every blob and every retry of it.
    let realm = net.seen().iter().filter(|r| r.target.starts_with("http://auth.hostile.test/token")).count();
    assert!(realm <= 5, "the failing realm was asked {realm} times\n{}", allowed.stderr);
}

/// Item 1: An upload location, or a redirect, to plain HTTP on another host is refused the same way.
#[test]
fn an_upload_location_or_redirect_to_plain_http_elsewhere_is_refused() {
    let locating = Scripted::start(|req, _| match (req.method.as_str(), req.target.as_str()) {
        (_, "/v2/") => Response::new(200),
        ("HEAD", _) => Response::new(404),
        ("POST", _) => Response::new(202).header("Location", "http://storage.hostile.test/upload/1"),
        _ => Response::new(404),
    });
    let redirecting =
        Scripted::start(|_, _| Response::new(307).header("Location", "http://elsewhere.hostile.test/v2/"));
    let net = network();
    let p = Project::copy("hello");
    for (registry, expected) in [
        (&locating, "refusing to contact http://storage.hostile.test/upload/1 over plain HTTP (the upload location"),
        (&redirecting, "refused a redirect to http://elsewhere.hostile.test/v2/ over plain HTTP"),
    ] {
        let envs = with(canary_env(&registry.host()), proxied(&net));
        let r = run(&p, &envs, &["--push", &format!("{}/app:1", registry.host())]).failed();
        assert!(r.stderr.contains(expected), "{}", r.stderr);
    }
    assert!(net.seen().is_empty(), "{:?}", net.seen());
}

/// Item 2: Credentials from the CI variables go to one registry host only; with two hosts and no
/// `CARGO_CONTAINERIZE_REGISTRY` the run stops before contacting either, or building.
#[test]
fn explicit_credentials_go_to_one_registry_only() {
    let a = Registry::htpasswd(CANARY_USER, CANARY_PASSWORD);
    let b = Scripted::start(|_, _| Response::new(401).header("WWW-Authenticate", r#"Basic realm="b""#));
    let p = Project::copy("hello");
    // An empty variable counts as unset.
    let ci = vec![
        ("CARGO_CONTAINERIZE_USERNAME", CANARY_USER.to_string()),
        ("CARGO_CONTAINERIZE_PASSWORD", CANARY_PASSWORD.to_string()),
        ("CARGO_CONTAINERIZE_REGISTRY", String::new()),
    ];
    let args = ["--push", &format!("{}/app:1", a.host()), "--push", &format!("{}/app:1", b.host())];
    let ambiguous = run(&p, &ci, &args).failed();
    assert!(ambiguous.stderr.contains(&a.host()) && ambiguous.stderr.contains(&b.host()), "{}", ambiguous.stderr);
    assert!(ambiguous.stderr.contains("CARGO_CONTAINERIZE_REGISTRY="), "{}", ambiguous.stderr);
    assert!(b.seen().is_empty());
    assert_nothing_built(&p);

    // Issue 21 §4: b, which wants credentials the run has not for it, is refused before the
    // build; a, checked first, took the ones it was given.
    let scoped = run(&p, &with(ci, vec![("CARGO_CONTAINERIZE_REGISTRY", a.host())]), &args).failed();
    assert!(!scoped.stderr.contains(&format!("cannot push to {}", a.host())), "{}", scoped.stderr);
    assert!(scoped.stderr.contains(&format!("docker login {}", b.host())), "{}", scoped.stderr);
    assert_nothing_built(&p);
    assert!(!b.seen().is_empty());
    assert!(b.seen().iter().all(|r| r.header("Authorization").is_none()), "{:?}", b.seen());
}

/// Item 3: A malformed `auths` entry fails only the host it is for, and no message quotes it.
#[test]
fn a_malformed_docker_config_entry_matters_only_for_its_host_and_is_never_quoted() {
    use base64::Engine;
    let registry = Registry::plain();
    let p = Project::copy("hello");
    // The test writes this secret itself, so it is not the canary (which no file may hold).
    let secret = base64::engine::general_purpose::STANDARD.encode("alice:Malformed-Secret-42");
    let write = |config: serde_json::Value| {
        std::fs::write(p.docker_config().join("config.json"), config.to_string()).unwrap();
    };
    write(serde_json::json!({"auths": {"other.example": secret}}));
    run(&p, &[], &["--push", &format!("{}/app:1", registry.host())]).ok();
    write(serde_json::json!({"auths": {"other.example": secret, registry.host(): secret}}));
    let r = run(&p, &[], &["--push", &format!("{}/app:2", registry.host())]).failed();
    assert!(r.stderr.contains("config.json") && r.stderr.contains(&registry.host()), "{}", r.stderr);
    assert!(r.stderr.contains("docker login"), "{}", r.stderr);
    assert!(!r.stderr.contains(&secret) && !r.stderr.contains("YWxpY2U"), "{}", r.stderr);
}

/// Item 4: An error body that echoes the `Authorization` header (Basic, or a Bearer token) shows
/// `<redacted>` in its place.
#[test]
fn an_error_body_echoing_the_authorization_header_is_redacted() {
    // HEAD answers carry no body: the echo comes with the upload's POST.
    let echo = |req: &Request, challenge: String| match (req.target.as_str(), req.header("Authorization")) {
        (t, _) if t.starts_with("/token") => Response::new(200).json(r#"{"token":"Bearer-Tok-9d8e7f6a5b"}"#),
        ("/v2/", None) => Response::new(401).header("WWW-Authenticate", &challenge),
        (_, Some(_)) if req.method == "HEAD" => Response::new(404),
        (_, Some(auth)) => Response::new(403)
            .json(&format!(r#"{{"errors":[{{"code":"DENIED","message":"denied for Authorization: {auth}"}}]}}"#)),
        (_, None) => Response::new(401).header("WWW-Authenticate", &challenge),
    };
    let basic = Scripted::start(move |req, _| echo(req, r#"Basic realm="r""#.to_string()));
    let bearer = Scripted::start(move |req, port| {
        echo(req, format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="reg""#))
    });
    // A 500 that echoes it is retried: the retry lines are shown too.
    let failing = Scripted::start(|req, _| match (req.target.as_str(), req.header("Authorization")) {
        ("/v2/", None) => Response::new(401).header("WWW-Authenticate", r#"Basic realm="r""#),
        (_, Some(_)) if req.method == "HEAD" => Response::new(404),
        (_, Some(auth)) => Response::new(500).json(&format!(
            r#"{{"errors":[{{"code":"UNKNOWN","message":"internal error for Authorization: {auth}"}}]}}"#
        )),
        (_, None) => Response::new(401).header("WWW-Authenticate", r#"Basic realm="r""#),
    });
    let p = Project::copy("hello");
    let envs = with(canary_env(&failing.host()), vec![("CARGO_CONTAINERIZE_RETRY_BASE_MS", "1".into())]);
    let r = run(&p, &envs, &["--push", &format!("{}/app:1", failing.host())]).failed();
    assert!(r.stderr.contains("    Retrying sha256:") && r.stderr.contains("<redacted>"), "{}", r.stderr);
    for registry in [&basic, &bearer] {
        let r = run(&p, &canary_env(&registry.host()), &["-v", "--push", &format!("{}/app:1", registry.host())]);
        let r = r.failed();
        assert!(
            r.stderr.contains("DENIED: denied for Authorization: ") && r.stderr.contains("<redacted>"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("Bearer-Tok-9d8e7f6a5b"), "the token leaked: {}", r.stderr);
    }
}

/// Issue 19 §3: a registry error that quotes base64(password) alone (not the Basic
/// `user:password`), in any of its four spellings, is redacted on stderr and in the results
/// file.
#[test]
fn an_error_quoting_the_password_in_base64_alone_is_redacted() {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        let registry = Scripted::start(move |req, _| match (req.target.as_str(), req.header("Authorization")) {
            (_, None) => Response::new(401).header("WWW-Authenticate", r#"Basic realm="r""#),
            (_, Some(_)) if req.method == "HEAD" => Response::new(404),
            (_, Some(auth)) => {
                let basic = STANDARD.decode(auth.trim_start_matches("Basic ")).unwrap_or_default();
                let password = String::from_utf8_lossy(&basic).split_once(':').map(|(_, p)| p.to_string());
                let echoed = engine.encode(password.unwrap_or_default());
                Response::new(403).json(&format!(
                    r#"{{"errors":[{{"code":"DENIED","message":"password {echoed} is not valid here"}}]}}"#
                ))
            }
        });
        let p = Project::copy("hello");
        let r = run(
            &p,
            &canary_env(&registry.host()),
            &["--push", &format!("{}/app:1", registry.host()), "--metadata-file", "results.json"],
        )
        .failed();
        assert!(r.stderr.contains("password <redacted> is not valid here"), "{}", r.stderr);
        let results = std::fs::read_to_string(p.path().join("results.json")).unwrap();
        assert!(results.contains("<redacted>"), "{results}");
    }
}

// ---- Files ---------------------------------------------------------------------------------

/// Item 5: `--tarball` into a character device or a FIFO streams into it and leaves it as it
/// was; through a symlink it writes the target; `-` and `/dev/stdout` stream to standard
/// output (the result line then goes to stderr); a directory or a socket is refused.
#[test]
fn a_tarball_into_special_files_never_replaces_them() {
    let p = Project::copy("hello");
    let dir = p.path().join("out");
    std::fs::create_dir_all(dir.join("real")).unwrap();
    let null = dir.join("null");
    common::tool("mknod", &[null.to_str().unwrap(), "c", "1", "3"]);
    run(&p, &[], &["--tarball", null.to_str().unwrap()]).ok();
    assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device());

    let fifo = dir.join("fifo");
    common::tool("mkfifo", &[fifo.to_str().unwrap()]);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    run(&p, &[], &["--tarball", fifo.to_str().unwrap()]).ok();
    let streamed = reader.join().unwrap();
    assert!(tar_names(&streamed).contains(&"manifest.json".to_string()));
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    let link = dir.join("link.tar");
    std::os::unix::fs::symlink("real/image.tar", &link).unwrap();
    run(&p, &[], &["--tarball", link.to_str().unwrap()]).ok();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(tar_names(&std::fs::read(dir.join("real/image.tar")).unwrap()).contains(&"index.json".to_string()));

    for target in ["-", "/dev/stdout"] {
        let out = p.cmd().args(["--tarball", target]).stdout(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(tar_names(&out.stdout).contains(&"manifest.json".to_string()), "stdout is not a tar");
        assert!(stderr.lines().any(|l| l.starts_with(&format!("{target} sha256:"))), "{stderr}");
    }

    let socket = dir.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for (path, what) in [(&dir, "is a directory"), (&socket, "is a socket")] {
        let r = run(&p, &[], &["--tarball", path.to_str().unwrap()]).failed();
        assert!(r.stderr.contains(what), "{}", r.stderr);
    }
    assert!(std::fs::metadata(&socket).unwrap().file_type().is_socket());
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
}

/// Item 6: `-o DIR` on an existing layout adds the image (or moves its tag) and keeps every other
/// image and unrelated file; a directory that is not a layout, or a layout with a broken
/// `index.json`, is refused and left as it was.
#[test]
fn an_output_layout_keeps_other_images_and_unrelated_files() {
    let p = Project::copy("hello");
    let first = p.path().join("first");
    let epoch = |n: &str| vec![("SOURCE_DATE_EPOCH", n.to_string())];
    let other = run(&p, &epoch("1"), &["-o", first.to_str().unwrap()]).ok().digest();
    let layout = p.path().join("layout");
    let src = format!("oci:{}:latest", first.display());
    common::tool("skopeo", &["copy", "--quiet", &src, &format!("oci:{}:other", layout.display())]);
    std::fs::write(layout.join("notes.txt"), "mine").unwrap();
    std::fs::create_dir_all(layout.join("src")).unwrap();
    std::fs::write(layout.join("src/lib.rs"), "// mine").unwrap();

    let latest = run(&p, &epoch("2"), &["-o", layout.to_str().unwrap()]).ok().digest();
    assert_ne!(latest, other);
    run(&p, &epoch("2"), &["-o", layout.to_str().unwrap()]).ok();
    assert_eq!(common::layout_ref_names(&layout), ["other", "latest"]);
    let inspect = |tag: &str| {
        let r =
            common::tool("skopeo", &["inspect", "--format", "{{.Digest}}", &format!("oci:{}:{tag}", layout.display())]);
        r.stdout.trim().to_string()
    };
    assert_eq!((inspect("other"), inspect("latest")), (other, latest));
    assert_eq!(std::fs::read_to_string(layout.join("notes.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(layout.join("src/lib.rs")).unwrap(), "// mine");

    let plain = p.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("notes.txt"), "mine").unwrap();
    let r = run(&p, &[], &["-o", plain.to_str().unwrap()]).failed();
    assert!(r.stderr.contains("not an OCI image layout"), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(&plain).unwrap().count(), 1);

    std::fs::write(layout.join("index.json"), "{\"manifests\": 5}").unwrap();
    let r = run(&p, &[], &["-o", layout.to_str().unwrap()]).failed();
    assert!(r.stderr.contains("is not an OCI image index"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(layout.join("index.json")).unwrap(), "{\"manifests\": 5}");
}

/// Item 7: `include` copies only what the package holds: no absolute or escaping `from`, no
/// symlink out of the tree (links inside it stay links), no special file, before the build.
#[test]
fn include_copies_nothing_from_outside_the_package() {
    let p = Project::copy("hello");
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "host secret").unwrap();
    let assets = p.path().join("assets");
    std::fs::create_dir_all(assets.join("v1")).unwrap();
    std::fs::write(assets.join("v1/app.js"), "x").unwrap();
    let manifest = std::fs::read_to_string(p.manifest()).unwrap();
    let with_include = |from: &str| {
        let table = format!("\n[package.metadata.containerize]\ninclude = [{{ from = {from:?}, to = \"/srv\" }}]\n");
        std::fs::write(p.manifest(), manifest.replace("[dependencies]", &format!("{table}\n[dependencies]"))).unwrap();
    };
    let relative_out = format!("../{}", pathdiff(outside.path(), p.path()).join("secret.txt").display());
    for (from, expected) in
        [(secret.to_str().unwrap(), "is an absolute path"), (relative_out.as_str(), "outside the package directory")]
    {
        with_include(from);
        let r = run(&p, &[], &[]).failed();
        assert!(r.stderr.contains(expected), "{from}: {}", r.stderr);
        assert_nothing_built(&p);
    }
    with_include("assets");
    std::os::unix::fs::symlink(&secret, assets.join("shadow")).unwrap();
    let r = run(&p, &[], &[]).failed();
    assert!(r.stderr.contains("shadow is a symlink to") && r.stderr.contains("an absolute path"), "{}", r.stderr);
    std::fs::remove_file(assets.join("shadow")).unwrap();
    std::os::unix::fs::symlink(format!("../{relative_out}"), assets.join("v1/up")).unwrap();
    let r = run(&p, &[], &[]).failed();
    assert!(r.stderr.contains("outside the included tree"), "{}", r.stderr);
    std::fs::remove_file(assets.join("v1/up")).unwrap();
    common::tool("mkfifo", &[assets.join("pipe").to_str().unwrap()]);
    let started = Instant::now();
    let r = run(&p, &[], &[]).failed();
    assert!(r.stderr.contains("pipe is a FIFO"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_nothing_built(&p);
    std::fs::remove_file(assets.join("pipe")).unwrap();

    // Links inside the tree are stored as links.
    std::os::unix::fs::symlink("v1", assets.join("current")).unwrap();
    let layout = p.path().join("layout");
    run(&p, &[], &["-o", layout.to_str().unwrap()]).ok();
    let link = layer_entries(&layout).into_iter().find(|(path, _, _)| path == "srv/current");
    assert_eq!(link, Some(("srv/current".into(), tar::EntryType::Symlink, Some("v1".into()))));

    // From the command line: inside the current directory, or anywhere with the opt-in; the
    // history then names only the file.
    let cli = |extra: &[&str]| {
        let mut args = vec!["-o", layout.to_str().unwrap(), "--include"];
        let spec = format!("{}:/s", secret.display());
        args.push(&spec);
        args.extend_from_slice(extra);
        run(&p, &[], &args)
    };
    std::fs::write(p.manifest(), &manifest).unwrap();
    let r = cli(&[]).failed();
    assert!(r.stderr.contains("--allow-include-outside"), "{}", r.stderr);
    cli(&["--allow-include-outside"]).ok();
    let config = serde_json::to_string(&common::layout_config(&layout)).unwrap();
    assert!(config.contains("COPY secret.txt /s") && !config.contains(outside.path().to_str().unwrap()), "{config}");
    let r = run(&p, &[], &["--allow-include-outside", "--include", "/dev/zero:/z"]).failed();
    assert!(r.stderr.contains("/dev/zero is a character device"), "{}", r.stderr);
}

/// `to` relative to `from`, for paths under a common root.
fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    let ups = from.components().count();
    let mut out = PathBuf::new();
    for _ in 0..ups - 1 {
        out.push("..");
    }
    out.join(to.strip_prefix("/").unwrap())
}

/// (path, type, link target) of every entry of every layer of a layout's first image.
fn layer_entries(layout: &Path) -> Vec<(String, tar::EntryType, Option<String>)> {
    let manifest = common::layout_manifest(layout);
    let mut out = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let gz = common::layout_blob(layout, layer["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            let path = entry.path().unwrap().display().to_string().trim_end_matches('/').to_string();
            out.push((path, entry.header().entry_type(), link));
        }
    }
    out
}

/// Item 8: New files follow the umask, as `cp` would: here 027.
#[test]
fn outputs_follow_the_umask() {
    let p = Project::copy("hello");
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "umask 027 && exec \"$0\" \"$@\"",
        common::bin(),
        "containerize",
        "-o",
        "layout",
        "--tarball",
        "image.tar",
    ]);
    cmd.current_dir(p.path()).stdin(Stdio::null());
    common::isolate(&mut cmd, p.path());
    Run::of(&mut cmd).ok();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&p.path().join("image.tar")), 0o640);
    assert_eq!(mode(&p.path().join("layout")), 0o750);
    assert_eq!(mode(&p.path().join("layout/index.json")), 0o640);
    for blob in std::fs::read_dir(p.path().join("layout/blobs/sha256")).unwrap() {
        assert_eq!(mode(&blob.unwrap().path()), 0o640);
    }
}

/// Item 9: Layout blobs share no inode with the layer cache, so editing one corrupts nothing else;
/// an edited cache entry is found by its digest and compressed again.
#[test]
fn outputs_and_the_layer_cache_share_nothing() {
    use sha2::Digest as _;
    let p = Project::copy("hello");
    let a = p.path().join("a");
    run(&p, &[], &["-o", a.to_str().unwrap()]).ok();
    let blobs = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir.join("blobs/sha256")).unwrap().map(|e| e.unwrap().path()).collect()
    };
    for blob in blobs(&a) {
        assert_eq!(std::fs::metadata(&blob).unwrap().nlink(), 1, "{} is linked elsewhere", blob.display());
    }
    let flip = |path: &Path| {
        let mut bytes = std::fs::read(path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(path, &bytes).unwrap();
        let earlier = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(path).unwrap().set_modified(earlier).unwrap();
    };
    for blob in blobs(&a) {
        flip(&blob);
    }
    let cache = p.path().join("target/containerize/cache");
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "gz") {
            flip(&path);
        }
    }
    let b = p.path().join("b");
    run(&p, &[], &["-o", b.to_str().unwrap()]).ok();
    for blob in blobs(&b) {
        let hex = format!("{:x}", sha2::Sha256::digest(std::fs::read(&blob).unwrap()));
        assert_eq!(blob.file_name().unwrap().to_str().unwrap(), hex, "a blob does not match its digest");
    }
    common::tool("skopeo", &["inspect", &format!("oci:{}:latest", b.display())]);
}

/// Item 10: What a killed run left (temporary files no process holds) is swept by the next run;
/// Ctrl-C mid-run removes its own temporary files and exits 130.
#[test]
fn interrupted_runs_leave_nothing_behind() {
    let p = Project::copy("hello");
    let out = p.path().join("out");
    let cache = p.path().join("target/containerize/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    for dir in [&cache, &out] {
        let stale = dir.join(".cargo-containerize-stale");
        std::fs::write(&stale, vec![0; 1 << 20]).unwrap();
        std::fs::File::options().write(true).open(&stale).unwrap().set_modified(old).unwrap();
    }
    run(&p, &[], &["--tarball", "out/image.tar"]).ok();
    assert_eq!(temp_files(&cache), Vec::<PathBuf>::new());
    assert_eq!(temp_files(&out), Vec::<PathBuf>::new());

    // A layer big enough that its compression is under way when Ctrl-C comes.
    std::fs::write(p.path().join("big.bin"), common::images::noise(300 << 20, "sigint")).unwrap();
    let mut child = p
        .cmd()
        .args(["--include", "big.bin:/big.bin", "--tarball", "out/image.tar"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while temp_files(&cache).is_empty() {
        assert!(Instant::now() < deadline, "compression never started");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        std::thread::sleep(Duration::from_millis(20));
    }
    common::tool("kill", &["-INT", &child.id().to_string()]);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(temp_files(&cache), Vec::<PathBuf>::new());
    assert_eq!(temp_files(&out), Vec::<PathBuf>::new());
    assert!(std::fs::read(out.join("image.tar")).is_ok(), "the earlier tarball is still there");
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".cargo-containerize-"))
        .collect()
}

/// Items 10 and 19: SIGTERM during the build stops cargo and its build script; an early error with
/// last run's build already started stops that build too: no cargo process outlives a run.
#[test]
fn no_build_outlives_the_run() {
    let p = Project::copy("slow-build");
    run(&p, &[], &[]).ok();
    let marker = p.path().join("build-script.pid");
    let slow = vec![("CC_SLOW_BUILD", marker.display().to_string())];

    let mut child = p.cmd().envs(slow.clone()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() || std::fs::read_to_string(&marker).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the build script never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = std::fs::read_to_string(&marker).unwrap();
    common::tool("kill", &["-TERM", &child.id().to_string()]);
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let gone = Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < gone, "the build script {pid} outlived the run");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A settings error after last run's build has started: that build is stopped, not left.
    let manifest = std::fs::read_to_string(p.manifest()).unwrap();
    std::fs::write(
        p.manifest(),
        manifest.replace("[dependencies]", "[package.metadata.containerize]\nargz = []\n\n[dependencies]"),
    )
    .unwrap();
    let r = run(&p, &slow, &[]).failed();
    assert!(r.stderr.contains("unknown key `argz`"), "{}", r.stderr);
    assert_eq!(processes_in(p.path()), Vec::<String>::new(), "a build outlived the run");
}

/// The processes whose working directory is `dir` or below it.
fn processes_in(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else { continue };
        if cwd.starts_with(&dir) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    found
}

// ---- Hangs and timeouts --------------------------------------------------------------------

/// Item 11: A registry that reads the streamed upload and never answers costs the stall time,
/// no more: the layout is written, and the push falls back to a normal upload.
#[test]
fn a_registry_swallowing_the_streamed_upload_costs_only_the_stall_time() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults { swallow_streamed_patch: true, ..Default::default() });
    let p = Project::copy("hello");
    let started = Instant::now();
    let envs = vec![("CARGO_CONTAINERIZE_STALL_SECS", "2".to_string())];
    let r = run(&p, &envs, &["-o", "layout", "--push", &format!("{}/app:1", proxy.host())]).ok();
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(r.stdout.lines().any(|l| l.starts_with("layout sha256:")), "{}", r.stdout);
    let digest = r.stdout.lines().find_map(|l| l.split_once('@').map(|(_, d)| d.to_string())).unwrap();
    assert!(proxy.seen().iter().any(|s| s.kind == Kind::UploadPatch && s.injected), "{:?}", proxy.seen());
    assert_eq!(skopeo_digest(&registry, "app:1", &["--tls-verify=false"]), digest);
}

/// Item 12: A registry that accepts TCP and never answers: a message once the wait passes a few
/// seconds, a timeout, and (issue 21 §4) nothing built.
#[test]
fn a_silent_registry_times_out_with_a_message() {
    let silent = Silent::start();
    let p = Project::copy("hello");
    let started = Instant::now();
    let envs = vec![("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())];
    let r = run(&p, &envs, &["-o", "layout", "--push", &format!("{}/app:1", silent.host())]).failed();
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(r.stderr.contains(&format!("waiting for {} to answer GET", silent.host())), "{}", r.stderr);
    assert!(r.stderr.contains("no answer within 2 s"), "{}", r.stderr);
    assert_nothing_built(&p);
}

/// Item 13: A silent `DOCKER_HOST=tcp://` engine, and a credential helper that never exits: each
/// is named when it times out, and the helper is stopped.
#[test]
fn a_silent_engine_and_a_hung_credential_helper_time_out_by_name() {
    let silent = Silent::start();
    let p = Project::copy("hello");
    let envs =
        vec![("DOCKER_HOST", format!("tcp://{}", silent.host())), ("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())];
    let started = Instant::now();
    let r = run(&p, &envs, &["-t", "app:1"]).failed();
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(r.stderr.contains(&format!("tcp://{}", silent.host())), "{}", r.stderr);
    assert!(r.stderr.contains("no answer to GET /_ping within 2 s"), "{}", r.stderr);
    assert!(r.stderr.contains("waiting for the Docker engine"), "{}", r.stderr);
    assert_nothing_built(&p);

    let registry = Registry::plain();
    let bin = tempfile::tempdir().unwrap();
    let pid_file = bin.path().join("helper.pid");
    let helper = bin.path().join("docker-credential-hang");
    std::fs::write(&helper, format!("#!/bin/sh\necho $$ > {}\nexec sleep 600\n", pid_file.display())).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = serde_json::json!({"credHelpers": {registry.host(): "hang"}});
    std::fs::write(p.docker_config().join("config.json"), config.to_string()).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    let envs = vec![("PATH", path), ("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())];
    let r = run(&p, &envs, &["--push", &format!("{}/app:1", registry.host())]).failed();
    assert!(
        r.stderr.contains("`credHelpers` names for") && r.stderr.contains("did not answer within 2 s"),
        "{}",
        r.stderr
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(!Path::new(&format!("/proc/{}", pid.trim())).exists(), "the helper was left running");
}

// ---- Crashes and wrong results -------------------------------------------------------------

/// Item 14: Token lifetimes near `u64::MAX`, as strings or as floats: the push goes through.
#[test]
fn absurd_token_lifetimes_are_clamped_and_strings_or_floats_accepted() {
    let registry = Registry::plain();
    let p = Project::copy("hello");
    for expires_in in ["18446744073709551615", "\"300\"", "299.5", "-1", "1e308"] {
        let body = format!(r#"{{"token":"tok-abc","expires_in":{expires_in}}}"#);
        let tokens = Scripted::start(move |_, _| Response::new(200).json(&body));
        let challenge = format!(r#"Bearer realm="http://{}/token",service="reg""#, tokens.host());
        let proxy = FaultProxy::start(registry.port, Faults { challenge: Some(challenge), ..Default::default() });
        let r = run(&p, &canary_env(&proxy.host()), &["--push", &format!("{}/app:1", proxy.host())]);
        assert!(r.status.success(), "expires_in {expires_in}: {}", r.stderr);
        assert!(!tokens.seen().is_empty(), "no token was asked for");
    }
}

/// Item 15: The history names included files relative to the package: two checkouts give one digest.
#[test]
fn included_files_leave_no_host_path_in_the_image() {
    let digests: Vec<String> = (0..2)
        .map(|_| {
            let p = Project::copy("hello");
            std::fs::create_dir_all(p.path().join("assets")).unwrap();
            std::fs::write(p.path().join("assets/a.txt"), "a").unwrap();
            let layout = p.path().join("layout");
            let r = run(&p, &[], &["--include", "assets:/srv", "-o", layout.to_str().unwrap()]).ok();
            let config = serde_json::to_string(&common::layout_config(&layout)).unwrap();
            assert!(config.contains("COPY assets /srv"), "{config}");
            assert!(!config.contains(p.path().to_str().unwrap()), "{config}");
            r.digest()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

/// Items 16 and 17: Values that were once accepted wrong, or refused only after the build, are
/// refused first, naming the key or flag and quoting what was written.
#[test]
fn bad_values_are_refused_before_the_build() {
    let table = |body: &str| format!("[package.metadata.containerize]\n{body}\n");
    type Case<'a> = (String, Vec<(&'a str, String)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (table(r#"env = { "A=B" = "c" }"#), vec![], vec![], "holds `=`"),
        (table(r#"env = { "" = "c" }"#), vec![], vec![], "empty name"),
        (table(r#"include = [{ from = "src", to = "/" }]"#), vec![], vec![], "the image's root"),
        (table(r#"include = [{ from = "src", to = "/a\u0000b" }]"#), vec![], vec![], "NUL"),
        (table(r#"workdir = "/../x""#), vec![], vec![], "`..`"),
        (table(r#"repository = "app""#), vec![], vec!["--push"], "names no registry host"),
        (String::new(), vec![("SOURCE_DATE_EPOCH", "-1".into())], vec![], "SOURCE_DATE_EPOCH"),
        (String::new(), vec![("SOURCE_DATE_EPOCH", "253402300800".into())], vec![], "from 0 to 253402300799"),
        (
            String::new(),
            vec![],
            vec![
                "--push",
                "127.0.0.1:5000/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ],
            "names a digest",
        ),
        (String::new(), vec![], vec!["-t", ":"], "invalid image reference \":\""),
        (String::new(), vec![], vec!["--env", "=x"], "expected KEY=VALUE"),
    ];
    for (settings, envs, args, expected) in cases {
        let p = Project::copy("hello");
        let manifest = std::fs::read_to_string(p.manifest()).unwrap();
        std::fs::write(p.manifest(), manifest.replace("[dependencies]", &format!("{settings}\n[dependencies]")))
            .unwrap();
        let r = run(&p, &envs, &args).failed();
        assert!(r.stderr.contains(expected), "{settings} {envs:?} {args:?}: {}", r.stderr);
        assert!(r.stderr.contains("help:"), "no fix offered: {}", r.stderr);
        assert_nothing_built(&p);
    }
    let p = Project::copy("hello");
    std::fs::write(p.manifest(), "[workspace]\nmembers = []\n").unwrap();
    let r = run(&p, &[], &[]).failed();
    assert!(r.stderr.contains(&format!("{} has no packages", p.manifest().display())), "{}", r.stderr);
}

/// Item 17: A registry answering an unexpected 200, or a redirect the upload cannot follow: both
/// explained, with a fix.
#[test]
fn unexpected_success_and_redirect_codes_are_explained() {
    let ok200 = Scripted::start(|req, _| match (req.method.as_str(), req.target.as_str()) {
        (_, "/v2/") => Response::new(200),
        ("HEAD", _) => Response::new(404),
        _ => Response::new(200),
    });
    let moved = Scripted::start(|req, _| match (req.method.as_str(), req.target.as_str()) {
        (_, "/v2/") => Response::new(200),
        ("HEAD", _) => Response::new(404),
        ("POST", _) => Response::new(202).header("Location", "/v2/app/blobs/uploads/1"),
        _ => Response::new(307).header("Location", "https://blobs.hostile.test/app"),
    });
    let p = Project::copy("hello");
    for (registry, expected) in
        [(&ok200, "failed: 200\n  help:"), (&moved, "redirected this request to https://blobs.hostile.test/app")]
    {
        let r = run(&p, &canary_env(&registry.host()), &["--push", &format!("{}/app:1", registry.host())]).failed();
        assert!(r.stderr.contains(expected), "{}", r.stderr);
    }
}

// ---- Found by reading the code -------------------------------------------------------------

/// Item 18: For a single foreign platform, the next run's head-start build is the one wanted.
#[test]
fn the_head_start_build_is_used_for_a_foreign_platform() {
    let p = Project::copy("hello");
    let args = ["-v", "--platform", "linux/arm64", "-o", "layout"];
    let first = run(&p, &[], &args).ok();
    assert!(!first.stderr.contains("using the build started from the last run"), "{}", first.stderr);
    let second = run(&p, &[], &args).ok();
    assert!(second.stderr.contains("using the build started from the last run"), "{}", second.stderr);
}

// ---- Found by a hostile review of the first pass -------------------------------------------

/// Item 5: a symlink another user planted in a sticky world-writable directory is not
/// followed (as the kernel's `protected_symlinks` would not), and no directory is created
/// through a dangling one.
#[test]
fn a_symlink_planted_by_another_user_is_not_followed() {
    let p = Project::copy("hello");
    let sticky = p.path().join("sticky");
    std::fs::create_dir_all(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = p.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let planted = sticky.join("image.tar");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    common::tool("chown", &["-h", "nobody", planted.to_str().unwrap()]);
    let r = run(&p, &[], &["--tarball", planted.to_str().unwrap()]).failed();
    assert!(r.stderr.contains("symlink owned by another user"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_nothing_built(&p);

    let dangling = p.path().join("dangling.tar");
    std::os::unix::fs::symlink(p.path().join("new/deeper/x.tar"), &dangling).unwrap();
    let r = run(&p, &[], &["--tarball", dangling.to_str().unwrap()]).failed();
    assert!(r.stderr.contains("refusing to create directories through a link"), "{}", r.stderr);
    assert!(!p.path().join("new").exists(), "a directory was made through a link");
    assert_nothing_built(&p);
}

/// Item 5: a reader that opened the FIFO and takes nothing fails the write after the stall
/// time, with a message, instead of holding the run.
#[test]
fn a_fifo_reader_that_takes_nothing_costs_only_the_stall_time() {
    let p = Project::copy("hello");
    let fifo = p.path().join("fifo");
    common::tool("mkfifo", &[fifo.to_str().unwrap()]);
    let _reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    let started = Instant::now();
    let envs = vec![("CARGO_CONTAINERIZE_STALL_SECS", "2".to_string())];
    let r = run(&p, &envs, &["--tarball", fifo.to_str().unwrap()]).failed();
    assert!(r.stderr.contains("took nothing for 2 s"), "{}", r.stderr);
    assert!(r.stderr.contains("waiting for the process reading"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Item 6: outputs that cannot be written are found before the build; a FIFO where the
/// layout's `index.json` should be is refused, not read.
#[test]
fn unwritable_outputs_are_found_before_the_build() {
    let p = Project::copy("hello");
    let dir = p.path().join("a-dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    for (args, expected) in [
        (vec!["--tarball", "a-dir"], "is a directory"),
        (vec!["-o", "a-dir"], "not an OCI image layout"),
        (vec!["--tarball", "line\nbreak.tar"], "line break"),
    ] {
        let r = run(&p, &[], &args).failed();
        assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
        assert_nothing_built(&p);
    }
    let layout = p.path().join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    common::tool("mkfifo", &[layout.join("index.json").to_str().unwrap()]);
    let started = Instant::now();
    let r = run(&p, &[], &["-o", "layout"]).failed();
    assert!(r.stderr.contains("is not a regular file"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Item 6: runs writing the same new layout at once all succeed, into one layout.
#[test]
fn concurrent_runs_share_a_new_layout() {
    let p = Project::copy("hello");
    run(&p, &[], &["-o", "warm"]).ok();
    let children: Vec<_> = (0..4)
        .map(|i| {
            p.cmd()
                .env("SOURCE_DATE_EPOCH", (i + 1).to_string())
                .args(["-o", "shared"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stderr}");
        let digest = stdout.trim().rsplit(' ').next().unwrap().to_string();
        // Every image reached the layout, whichever holds the tag now.
        assert!(p.path().join("shared/blobs/sha256").join(digest.trim_start_matches("sha256:")).is_file());
    }
    assert_eq!(common::layout_ref_names(&p.path().join("shared")), ["latest"]);
    common::tool("skopeo", &["inspect", &format!("oci:{}:latest", p.path().join("shared").display())]);
}

/// Item 3 (endless uploads): a registry that accepts every chunk but never moves the upload
/// forward fails it, instead of taking chunks for ever.
#[test]
fn a_registry_that_never_moves_a_chunked_upload_forward_fails_it() {
    let registry = Scripted::start(|req, _| match (req.method.as_str(), req.target.as_str()) {
        (_, "/v2/") => Response::new(200),
        ("HEAD", _) => Response::new(404),
        ("POST", _) => Response::new(202).header("Location", "/v2/app/blobs/uploads/1"),
        ("PUT", _) => Response::new(405),
        ("PATCH", _) => Response::new(202).header("Location", "/v2/app/blobs/uploads/1").header("Range", "0-0"),
        _ => Response::new(404),
    });
    let p = Project::copy("hello");
    let started = Instant::now();
    let envs = vec![("CARGO_CONTAINERIZE_RETRY_BASE_MS", "1".to_string())];
    let r = run(&p, &envs, &["--push", &format!("{}/app:1", registry.host())]).failed();
    assert!(r.stderr.contains("accepted chunks but kept holding"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(registry.seen().iter().filter(|r| r.method == "PATCH").count() < 200, "{}", registry.seen().len());
}

/// Item 2 (secrets): the password read from the CI variables reaches no child process:
/// not cargo, not a build script, not even through `/proc/<pid>/environ` of the tool.
#[test]
fn the_registry_password_reaches_no_build_script() {
    let p = Project::copy("slow-build");
    let seen = p.path().join("seen-by-build-script");
    let envs = vec![("CC_SEEN_ENV", seen.display().to_string())];
    run(&p, &envs, &[]).ok();
    let found = std::fs::read_to_string(&seen).unwrap();
    assert!(!found.contains(CANARY_PASSWORD), "a build script found the password: {found}");
}

/// Item 13: a credential helper that answers and exits, leaving a process of its own on its
/// output, does not hold the run.
#[test]
fn a_credential_helper_leaving_a_process_behind_does_not_hold_the_run() {
    let registry = Registry::plain();
    let p = Project::copy("hello");
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-bg");
    std::fs::write(&helper, "#!/bin/sh\nread s\nsleep 90 &\necho '{\"Username\":\"u\",\"Secret\":\"x\"}'\n").unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = serde_json::json!({"credHelpers": {registry.host(): "bg"}});
    std::fs::write(p.docker_config().join("config.json"), config.to_string()).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    // A timeout far above what the run takes: the helper must not cost it.
    let envs = vec![("PATH", path), ("CARGO_CONTAINERIZE_TIMEOUT_SECS", "60".to_string())];
    let started = Instant::now();
    run(&p, &envs, &["--push", &format!("{}/app:1", registry.host())]).ok();
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

// ---- Found by a second hostile review -------------------------------------------------------

/// Item 1: a 401 from another host (an upload location) names a realm; it is never taken, so
/// the registry's credentials never go there.
#[test]
fn a_challenge_from_an_upload_host_is_never_answered_with_credentials() {
    let storage = Scripted::start(|req, port| match req.target.as_str() {
        "/steal" => Response::new(200).json(r#"{"token":"stolen"}"#),
        _ => Response::new(401)
            .header("WWW-Authenticate", &format!(r#"Bearer realm="http://localhost:{port}/steal",service="s""#)),
    });
    let storage_port = storage.port;
    let registry =
        Scripted::start(move |req, _| match (req.method.as_str(), req.target.as_str(), req.header("Authorization")) {
            (_, "/v2/", None) => Response::new(401).header("WWW-Authenticate", r#"Basic realm="r""#),
            ("HEAD", _, _) => Response::new(404),
            ("POST", _, _) => {
                Response::new(202).header("Location", &format!("http://localhost:{storage_port}/upload/1"))
            }
            _ => Response::new(404),
        });
    let p = Project::copy("hello");
    let r = run(&p, &canary_env(&registry.host()), &["--push", &format!("{}/app:1", registry.host())]).failed();
    assert!(r.stderr.contains("/upload/1?digest=") && r.stderr.contains("failed: 401"), "{}", r.stderr);
    let seen = storage.seen();
    assert!(!seen.is_empty(), "the upload never reached the storage host");
    assert!(seen.iter().all(|q| q.target != "/steal" && q.header("Authorization").is_none()), "{seen:?}");
}

/// Item 10 (second review): a redirect answered to the OAuth2 refresh-token POST is not
/// followed, so the refresh token goes nowhere else.
#[test]
fn a_redirected_refresh_token_post_is_not_followed() {
    let elsewhere = Scripted::start(|_, _| Response::new(200).json(r#"{"access_token":"x"}"#));
    let target = format!("http://localhost:{}/steal", elsewhere.port);
    let registry = Scripted::start(move |req, port| match (req.method.as_str(), req.target.as_str()) {
        (_, "/v2/") => Response::new(401)
            .header("WWW-Authenticate", &format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="reg""#)),
        ("POST", t) if t.starts_with("/token") => Response::new(307).header("Location", &target),
        _ => Response::new(404),
    });
    let p = Project::copy("hello");
    let config =
        serde_json::json!({"auths": {registry.host(): {"auth": "", "identitytoken": "IdTok-refresh-SECRET-1234"}}});
    std::fs::write(p.docker_config().join("config.json"), config.to_string()).unwrap();
    let r = run(&p, &[], &["--push", &format!("{}/app:1", registry.host())]).failed();
    assert!(elsewhere.seen().is_empty(), "the refresh token was sent on: {:?}", elsewhere.seen());
    assert!(!r.stderr.contains("IdTok-refresh-SECRET-1234"), "{}", r.stderr);
}

/// Items 3 and 5 (second review): a symlinked `blobs` directory in a layout is refused
/// (nothing is written or deleted through it); a blob of the right size but the wrong
/// content is replaced; FIFOs in the caches and the layout hold nothing up.
#[test]
fn layouts_and_caches_resist_planted_links_fifos_and_corrupt_blobs() {
    let p = Project::copy("hello");
    run(&p, &[], &[]).ok();
    let default = p.path().join("target/containerize/hello");
    let victim = p.path().join("victim");
    std::fs::create_dir_all(victim.join("sha256")).unwrap();
    std::fs::write(victim.join("sha256/important-file"), "keep").unwrap();
    std::fs::remove_dir_all(default.join("blobs")).unwrap();
    std::os::unix::fs::symlink(&victim, default.join("blobs")).unwrap();
    let r = run(&p, &[], &[]).failed();
    assert!(r.stderr.contains("refusing to write through it"), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(victim.join("sha256")).unwrap().count(), 1);
    assert!(victim.join("sha256/important-file").exists());

    let out = p.path().join("out");
    run(&p, &[], &["-o", out.to_str().unwrap()]).ok();
    let largest = std::fs::read_dir(out.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|b| std::fs::metadata(b).unwrap().len())
        .unwrap();
    let size = std::fs::metadata(&largest).unwrap().len() as usize;
    std::fs::write(&largest, vec![0; size]).unwrap();
    run(&p, &[], &["-o", out.to_str().unwrap()]).ok();
    let copy = p.path().join("copy");
    common::tool(
        "skopeo",
        &["copy", "--quiet", &format!("oci:{}:latest", out.display()), &format!("dir:{}", copy.display())],
    );

    // FIFOs where the selection cache and the file-digest memo keep their files.
    let fifo_over = |path: &Path| {
        std::fs::remove_file(path).unwrap();
        common::tool("mkfifo", &[path.to_str().unwrap()]);
    };
    for dir in
        [p.path().join(".home/cache/cargo-containerize/selection"), p.path().join("target/containerize/cache/files")]
    {
        for entry in std::fs::read_dir(&dir).unwrap() {
            fifo_over(&entry.unwrap().path());
        }
    }
    let started = Instant::now();
    run(&p, &[], &["-o", out.to_str().unwrap()]).ok();
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Items 6 and 7 (second review): an engine socket that never accepts, and a git that never
/// answers, each cost the timeout, named.
#[test]
fn an_engine_that_never_accepts_and_a_git_that_never_answers_time_out() {
    let p = Project::copy("hello");
    let path = p.path().join("engine.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // Fill the backlog: listen(0) leaves room for one pending connection, which is taken,
    // and nothing ever accepts.
    // SAFETY: listen(2) on a socket this listener owns.
    assert_eq!(unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 0) }, 0);
    let _held = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let envs = vec![
        ("DOCKER_HOST", format!("unix://{}", path.display())),
        ("CARGO_CONTAINERIZE_TIMEOUT_SECS", "3".to_string()),
    ];
    let started = Instant::now();
    let r = run(&p, &envs, &["-t", "app:1"]).failed();
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}: {}", started.elapsed(), r.stderr);
    assert!(r.stderr.contains("cannot reach the Docker engine"), "{}", r.stderr);

    common::tool("git", &["-C", p.path().to_str().unwrap(), "init", "-q"]);
    let head = p.path().join(".git/HEAD");
    std::fs::remove_file(&head).unwrap();
    common::tool("mkfifo", &[head.to_str().unwrap()]);
    let started = Instant::now();
    let r = run(&p, &[("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())], &["-o", "layout"]).failed();
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    assert!(r.stderr.contains("did not answer within 2 s") && r.stderr.contains("git "), "{}", r.stderr);
}

/// Item 8 (second review): a token answer that comes one byte at a time costs the timeout
/// once, with a message, and is reported as a timeout.
#[test]
fn a_dribbling_token_answer_costs_the_timeout_once() {
    let registry = common::hostile::Dribbling::start(Duration::from_millis(500));
    let p = Project::copy("hello");
    let envs = with(canary_env(&registry.host()), vec![("CARGO_CONTAINERIZE_TIMEOUT_SECS", "3".to_string())]);
    let started = Instant::now();
    let r = run(&p, &envs, &["--push", &format!("{}/app:1", registry.host())]).failed();
    // The head-start upload and the push each meet it once.
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}: {}", started.elapsed(), r.stderr);
    assert!(r.stderr.contains("no answer within 3 s"), "{}", r.stderr);
    assert!(r.stderr.contains("waiting for"), "{}", r.stderr);
}

/// Item 9 (second review): `--tarball -` into a socket nobody reads fails after the stall
/// time; a closed stderr makes no run fail.
#[test]
fn a_socket_stdout_nobody_reads_and_a_closed_stderr() {
    let p = Project::copy("hello");
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let started = Instant::now();
    let out = p
        .cmd()
        .env("CARGO_CONTAINERIZE_STALL_SECS", "2")
        .args(["--tarball", "-"])
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    drop(ours);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("took nothing for 2 s"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));

    // stderr closed before the run starts: the run still succeeds, quietly.
    let mut child = p.cmd().args(["-o", "layout"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// Items 11, 12 and 14 (second review): symlinks planted by another user are not followed
/// anywhere on an output's path; outputs and CA files that cannot be used are found before
/// the build (before last run's build is even started); a device with nothing behind it is
/// not waited for as if it were a FIFO.
#[test]
fn planted_links_odd_devices_and_bad_files_are_refused_before_the_build() {
    let p = Project::copy("slow-build");
    run(&p, &[], &[]).ok();
    std::fs::remove_dir_all(p.path().join("target")).unwrap();
    let sticky = p.path().join("sticky");
    std::fs::create_dir_all(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = p.path().join("victimdir");
    std::fs::create_dir_all(&victim).unwrap();
    for name in ["layout", "sub"] {
        let link = sticky.join(name);
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        common::tool("chown", &["-h", "nobody", link.to_str().unwrap()]);
    }
    let broken = p.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(broken.join("index.json"), "[").unwrap();
    let tty = p.path().join("ttydev");
    common::tool("mknod", &[tty.to_str().unwrap(), "c", "5", "0"]);
    let marker = p.path().join("guess-started");
    let slow = vec![("CC_SLOW_BUILD", marker.display().to_string())];
    for (args, expected) in [
        (vec!["-o", "sticky/layout"], "symlink owned by another user"),
        (vec!["--tarball", "sticky/sub/x.tar"], "symlink owned by another user"),
        (vec!["-o", "broken"], "is not an OCI image index"),
        (vec!["--tarball", "/proc/x.tar"], "cannot write the image tar"),
        (vec!["--push", "127.0.0.1:9/app:1", "--ca-cert", "/nonexistent.pem"], "cannot read CA certificate"),
    ] {
        let r = run(&p, &slow, &args).failed();
        assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
        assert_nothing_built(&p);
        assert!(!marker.exists(), "last run's build started before {args:?} was refused");
    }
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    let out = Command::new("setsid")
        .arg(common::bin())
        .args(["containerize", "--tarball", tty.to_str().unwrap()])
        .current_dir(p.path())
        .envs([("CARGO_CONTAINERIZE_TIMEOUT_SECS", "30")])
        .env("XDG_CACHE_HOME", p.path().join(".home/cache"))
        .env("DOCKER_CONFIG", p.path().join(".home/docker"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !stderr.contains("FIFO"), "{stderr}");
}

/// Item 18: a single foreign platform installs no other target. A cargo whose sysroot holds
/// only the aarch64 target, and a rustup that records what it is asked: nothing is asked
/// for x86_64.
#[test]
fn a_single_foreign_platform_installs_no_other_target() {
    let p = Project::copy("hello");
    let fake = tempfile::tempdir().unwrap();
    let write_script = |path: PathBuf, body: String| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write_script(fake.path().join("toolchain/bin/cargo"), format!("#!/bin/sh\nexec {} \"$@\"\n", env!("CARGO")));
    std::fs::create_dir_all(fake.path().join("toolchain/lib/rustlib/aarch64-unknown-linux-musl/lib")).unwrap();
    let log = fake.path().join("rustup.log");
    write_script(fake.path().join("bin/rustup"), format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()));
    let path = format!("{}:{}", fake.path().join("bin").display(), std::env::var("PATH").unwrap());
    let envs = vec![("CARGO", fake.path().join("toolchain/bin/cargo").display().to_string()), ("PATH", path)];
    for _ in 0..2 {
        run(&p, &envs, &["--platform", "linux/arm64", "-o", "layout"]).ok();
    }
    let asked = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!asked.contains("x86_64"), "rustup was asked for x86_64: {asked}");
}

// ---- Found by a third hostile review ---------------------------------------------------------

/// A cache that cannot be written is replaced by a temporary one for the run, said on
/// stderr; a result line that cannot be written fails the run; escape sequences in a
/// registry's error text are shown escaped; `DOCKER_HOST` is read as Docker reads it, and a
/// password in it is never shown.
#[test]
fn odd_caches_outputs_answers_and_docker_hosts() {
    let p = Project::copy("hello");
    std::fs::create_dir_all(p.path().join("target/containerize")).unwrap();
    std::fs::write(p.path().join("target/containerize/cache"), "not a directory").unwrap();
    let r = run(&p, &[], &["-o", "layout"]).ok();
    assert!(r.stderr.contains("this run uses a temporary one"), "{}", r.stderr);

    let full = p.path().join("full");
    common::tool("mknod", &[full.to_str().unwrap(), "c", "1", "7"]);
    let status = p.cmd().args(["-q", "-o", "layout"]).stdout(std::fs::File::create(&full).unwrap()).status().unwrap();
    assert!(!status.success(), "a result that could not be written was counted a success");

    // `new/` names a directory that is not there yet: no file called `new` is written.
    for path in ["new/", "new/.", ".."] {
        let r = run(&p, &[], &["--tarball", path]).failed();
        assert!(r.stderr.contains("is a directory name, not a file name"), "{path}: {}", r.stderr);
        assert!(!p.path().join("new").exists(), "{path}");
    }

    let escaping = Scripted::start(|req, _| match (req.method.as_str(), req.target.as_str()) {
        (_, "/v2/") => Response::new(200),
        ("HEAD", _) => Response::new(404),
        _ => Response::new(403).json(
            r#"{"errors":[{"code":"DENIED","message":"\u001b]0;pwned\u0007\u001b[2K\r127.0.0.1:9/app@sha256:0000"}]}"#,
        ),
    });
    let r = run(&p, &[], &["--push", &format!("{}/app:1", escaping.host())]).failed();
    assert!(!r.stderr.contains('\u{1b}') && !r.stderr.contains('\r'), "{:?}", r.stderr);
    assert!(r.stderr.contains("\\u{1b}]0;pwned"), "{}", r.stderr);

    let envs = vec![
        ("DOCKER_HOST", "tcp://cc-test.invalid/v1.41".to_string()),
        ("CARGO_CONTAINERIZE_TIMEOUT_SECS", "3".to_string()),
    ];
    let r = run(&p, &envs, &["-t", "app:1"]).failed();
    assert!(r.stderr.contains("tcp://cc-test.invalid:2375"), "{}", r.stderr);
    // Docker has no credentials in a tcp:// address: one written there is refused unsent.
    let r = run(&p, &[("DOCKER_HOST", "tcp://user:hunter2-secret@127.0.0.1:9".to_string())], &["-t", "app:1"]).failed();
    assert!(!r.stderr.contains("hunter2-secret") && r.stderr.contains("DOCKER_HOST"), "{}", r.stderr);
    let r = run(&p, &[("DOCKER_HOST", "ssh://user:hunter2-secret@host".to_string())], &["-t", "app:1"]).failed();
    assert!(!r.stderr.contains("hunter2-secret") && r.stderr.contains("ssh://host"), "{}", r.stderr);
}

// ---- Round two (issue 19) ------------------------------------------------------------------

/// §2: `--password-stdin` reads at most 64 KiB (`yes |` once grew without bound) and waits at
/// most the timeout for its input to end, saying what it waits for; both before the build.
#[test]
fn password_stdin_is_bounded_in_size_and_time() {
    let p = Project::copy("hello");
    let args = ["--username", "u", "--password-stdin", "--push", "127.0.0.1:1/app:1"];
    let mut yes = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let r = Run::of(p.cmd().args(args).stdin(yes.stdout.take().unwrap())).failed();
    let _ = yes.kill();
    let _ = yes.wait();
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(r.stderr.contains("read more than 65536 bytes from standard input"), "{}", r.stderr);
    assert!(r.stderr.contains("echo \"$TOKEN\" |"), "{}", r.stderr);
    assert_nothing_built(&p);

    // A writer that never ends the input.
    let mut sleeper = Command::new("sleep").arg("100").stdout(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let r =
        Run::of(p.cmd().args(args).env("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2").stdin(sleeper.stdout.take().unwrap()))
            .failed();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(r.stderr.contains("waiting for the password on standard input"), "{}", r.stderr);
    assert!(r.stderr.contains("got no end of standard input within 2 s"), "{}", r.stderr);
    assert!(r.stderr.contains("CARGO_CONTAINERIZE_TIMEOUT_SECS"), "{}", r.stderr);
    assert_nothing_built(&p);
}

/// §2: a base layer that keeps arriving, slowly, is not cut by the timeout (it once failed at
/// the timeout with `error decoding response body`): only a stall is, and it says so.
#[test]
fn a_slow_base_download_is_bounded_by_stalls_not_by_total_time() {
    let registry = Registry::plain();
    let layout = tempfile::tempdir().unwrap();
    common::bases::write_layout(layout.path(), "base", &common::bases::debug(&["amd64"]));
    common::bases::copy(layout.path(), "base", &format!("docker://{}/base/debug:1", registry.host()), &[]);
    // About 4 s for the busybox layer at this rate, twice the timeout.
    let slow = FaultProxy::start(registry.port, Faults { throttle_blob_gets: Some(250_000), ..Default::default() });
    let p = Project::copy("hello");
    let envs = vec![("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())];
    let base = format!("{}/base/debug:1", slow.host());
    let started = Instant::now();
    let r = run(&p, &envs, &["--base", &base, "-o", "out"]).ok();
    println!("the slow base built in {:.1} s with a 2 s timeout", started.elapsed().as_secs_f64());
    assert!(started.elapsed() > Duration::from_secs(2), "the download was not slow: {:?}", started.elapsed());
    assert!(r.stdout.starts_with("out sha256:"), "{}", r.stdout);
    assert!(slow.count(Kind::BlobGet) >= 2, "{:?}", slow.seen());
}

/// §2: a `docker:` base on an engine that never answers: the timeout and the words of a
/// `--tag` run (it once waited 120 s in silence, then said to check the name).
#[test]
fn a_docker_base_on_a_silent_engine_times_out_as_a_tag_does() {
    let silent = Silent::start();
    let p = Project::copy("hello");
    let envs =
        vec![("DOCKER_HOST", format!("tcp://{}", silent.host())), ("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())];
    let started = Instant::now();
    let r = run(&p, &envs, &["--base", "docker:base/cc:12", "-o", "out"]).failed();
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(r.stderr.contains("waiting for the Docker engine to answer GET /images/base/cc:12/json"), "{}", r.stderr);
    assert!(r.stderr.contains("no answer to GET /images/base/cc:12/json within 2 s"), "{}", r.stderr);
    assert!(r.stderr.contains("CARGO_CONTAINERIZE_TIMEOUT_SECS"), "{}", r.stderr);
    assert!(!r.stderr.contains("docker images"), "{}", r.stderr);
    assert_nothing_built(&p);
}

/// §2: a `--metadata-file` FIFO nobody reads waits the run's timeout, in the words of
/// `--tarball` (it once waited 30 s whatever the timeout, and suggested `docker load`).
#[test]
fn a_metadata_fifo_without_a_reader_waits_the_runs_timeout() {
    let p = Project::copy("hello");
    let fifo = p.path().join("results.fifo");
    common::tool("mkfifo", &[fifo.to_str().unwrap()]);
    let envs = vec![("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())];
    let r = run(&p, &envs, &["-o", "out", "--metadata-file", fifo.to_str().unwrap()]).failed();
    assert!(r.stderr.contains("nothing read from the FIFO") && r.stderr.contains("within 2 s"), "{}", r.stderr);
    assert!(!r.stderr.contains("docker load"), "{}", r.stderr);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// §4: a run stopped by SIGINT writes the results file with the interruption as its error,
/// instead of leaving the previous run's success in place.
#[test]
fn an_interrupted_run_replaces_the_last_results_with_its_interruption() {
    let p = Project::copy("slow-build");
    run(&p, &[], &["-o", "out", "--metadata-file", "results.json"]).ok();
    let before: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("results.json")).unwrap()).unwrap();
    assert!(before.get("error").is_none(), "{before}");
    let marker = p.path().join("build-script.pid");
    let mut child = p
        .cmd()
        .env("CC_SLOW_BUILD", &marker)
        .args(["-o", "out", "--metadata-file", "results.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() || std::fs::read_to_string(&marker).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the build script never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    common::tool("kill", &["-INT", &child.id().to_string()]);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("results.json")).unwrap()).unwrap();
    assert!(after["error"].as_str().unwrap().contains("interrupted by SIGINT"), "{after}");
    assert_eq!(after["destinations"], serde_json::json!([]), "{after}");
}

/// §4: no output may overwrite another (the results file once replaced the tarball or the
/// layout's `index.json`, and the run still printed their digests): refused before the
/// build; a file of its own in a layout's directory stays allowed.
#[test]
fn outputs_that_would_overwrite_each_other_are_refused_before_the_build() {
    let p = Project::copy("hello");
    let cases: &[(&[&str], &str)] = &[
        (&["--tarball", "app.tar", "--metadata-file", "app.tar"], "are the same file"),
        (&["--tarball", "./x/../app.tar", "--metadata-file", "app.tar"], "are the same file"),
        (&["--tarball", "-", "--metadata-file", "/dev/stdout"], "are the same file"),
        (&["-o", "out", "--metadata-file", "out/index.json"], "one of the layout's own entries"),
        (&["-o", "out", "--metadata-file", "out/oci-layout"], "one of the layout's own entries"),
        (&["-o", "out", "--metadata-file", "out/blobs/sha256/x"], "one of the layout's own entries"),
        (&["-o", "out", "--metadata-file", "out"], "the file would replace the layout"),
        (&["-o", "out", "--metadata-file", "out/../out/index.json"], "one of the layout's own entries"),
        (&["-o", "out", "--tarball", "out/app.tar"], "a tarball inside a layout's directory"),
    ];
    std::fs::create_dir(p.path().join("x")).unwrap();
    for (args, expected) in cases {
        let r = Run::of(p.cmd().args(*args).stdout(Stdio::piped())).failed();
        assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("give each output a path of its own"), "{args:?}: {}", r.stderr);
        assert_nothing_built(&p);
        assert!(!p.path().join("app.tar").exists() && !p.path().join("out").exists(), "{args:?} wrote an output");
    }
    // A results file beside the layout's entries is fine, and so is one through a symlink
    // to another name.
    let r = run(&p, &[], &["-o", "out", "--metadata-file", "out/run.json"]).ok();
    assert!(r.stdout.starts_with("out sha256:"), "{}", r.stdout);
    let results = std::fs::read_to_string(p.path().join("out/run.json")).unwrap();
    assert!(results.contains("\"destinations\""), "{results}");
    common::layout_index(&p.path().join("out"));
    // A symlink that leads to the layout's index.json is seen through.
    std::os::unix::fs::symlink("out/index.json", p.path().join("link.json")).unwrap();
    let index = std::fs::read(p.path().join("out/index.json")).unwrap();
    let r = run(&p, &[], &["-o", "out", "--metadata-file", "link.json"]).failed();
    assert!(r.stderr.contains("one of the layout's own entries"), "{}", r.stderr);
    assert_eq!(std::fs::read(p.path().join("out/index.json")).unwrap(), index);
}

/// §7: a `--target` holding a newline (it once reached `rustup target add` and its
/// backtrace); an include of a /proc file (once "changed while the image was being
/// assembled", headed by the binary's path): both refused before the build, naming what.
#[test]
fn a_target_with_a_newline_and_an_include_from_proc_are_refused_before_the_build() {
    let p = Project::copy("hello");
    let r = run(&p, &[], &["--target", "x86_64-unknown-linux-musl\nevil", "-o", "out"]).failed();
    assert!(r.stderr.contains("a target triple holds only ASCII letters, digits"), "{}", r.stderr);
    assert!(!r.stderr.contains("backtrace") && !r.stderr.contains("rustup"), "{}", r.stderr);
    assert_nothing_built(&p);

    let r = run(&p, &[], &["--allow-include-outside", "--include", "/proc/self/status:/status", "-o", "out"]).failed();
    assert!(
        r.stderr.contains("an included file cannot be copied: /proc/")
            && r.stderr.contains("/status is a file of /proc"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("copy it into the project"), "{}", r.stderr);
    assert!(!r.stderr.contains("target/"), "headed by the binary: {}", r.stderr);
    assert_nothing_built(&p);
}

/// §7: a base index of 10,000 foreign platforms once made a 159 KB error line: the list is
/// bounded.
#[test]
fn a_base_with_thousands_of_platforms_gives_a_short_error() {
    let layout = tempfile::tempdir().unwrap();
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let digest = format!("sha256:{}", sha256_hex(manifest));
    let blobs = layout.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), manifest).unwrap();
    std::fs::write(blobs.join("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"), b"{}").unwrap();
    let entries: Vec<serde_json::Value> = (0..10_000)
        .map(|i| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                "size": manifest.len(), "platform": {"os": "linux", "architecture": format!("arch{i}")}})
        })
        .collect();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
    let index = serde_json::to_vec(&index).unwrap();
    let index_digest = sha256_hex(&index);
    std::fs::write(blobs.join(&index_digest), &index).unwrap();
    std::fs::write(layout.path().join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": format!("sha256:{index_digest}"), "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "many"}}]});
    std::fs::write(layout.path().join("index.json"), top.to_string()).unwrap();
    let p = Project::copy("hello");
    let r = run(&p, &[], &["--base", &format!("oci:{}:many", layout.path().display()), "-o", "out"]).failed();
    assert!(
        r.stderr.contains("has no image for linux/amd64; it has: linux/arch0, linux/arch1"),
        "{}",
        &r.stderr[..2000.min(r.stderr.len())]
    );
    assert!(r.stderr.contains("and 9980 more"), "{}", &r.stderr[..2000.min(r.stderr.len())]);
    assert!(r.stderr.len() < 4000, "{} bytes of error", r.stderr.len());
    assert_nothing_built(&p);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// §4: a registry that answers 500 to the documents' manifests still holds the image under
/// its tag: the destination is reported with its digest (stdout and results file), and the
/// missing documents are a warning (it once exited 1 with no digest).
#[test]
fn documents_the_registry_will_not_take_leave_the_pushed_image_reported() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults { fail_manifests_by_digest: true, ..Default::default() });
    let p = Project::copy("hello");
    let envs = vec![("CARGO_CONTAINERIZE_RETRY_BASE_MS", "1".to_string())];
    let reference = format!("{}/app:1", proxy.host());
    let r = run(&p, &envs, &["--push", &reference, "--metadata-file", "results.json"]).ok();
    let line = format!("{}/app:1@sha256:", proxy.host());
    assert!(r.stdout.starts_with(&line), "{}", r.stdout);
    assert!(r.stderr.contains("the SBOM and provenance were not attached"), "{}", r.stderr);
    assert!(r.stderr.contains("the image itself was pushed"), "{}", r.stderr);
    let digest = r.stdout.trim().rsplit_once('@').unwrap().1.to_string();
    assert_eq!(skopeo_digest(&registry, "app:1", &["--tls-verify=false"]), digest);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("results.json")).unwrap()).unwrap();
    let entry = &results["destinations"][0];
    assert_eq!(entry["digest"], digest.as_str(), "{results}");
    assert_eq!(entry["referrers"], serde_json::json!([]), "documents not attached are not listed: {results}");
    assert!(entry.get("error").is_none(), "{results}");
}

/// §4: a referrers tag (`sha256-<hex>`) that holds garbage, or an image manifest, is said for
/// what it holds, and not written over (it was once reported as another writer winning 5
/// times).
#[test]
fn a_referrers_tag_holding_something_else_is_named_and_kept() {
    let image =
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
    let images = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#;
    for (body, said) in [
        (b"\x00\x01 not json at all".to_vec(), "18 bytes that are not JSON"),
        (image.to_vec(), "a manifest of type application/vnd.oci.image.manifest.v1+json"),
        (images.to_vec(), "an index of images"),
    ] {
        let registry = Registry::plain();
        let proxy = FaultProxy::start(registry.port, Faults { tag_schema_body: Some(body), ..Default::default() });
        let p = Project::copy("hello");
        let r = run(&p, &[], &["--push", &format!("{}/app:1", proxy.host())]).ok();
        assert!(r.stderr.contains(&format!("holds {said}")), "{}", r.stderr);
        assert!(r.stderr.contains("not an index of referrers, so it was not written over"), "{}", r.stderr);
        assert!(!r.stderr.contains("kept losing"), "{}", r.stderr);
        assert!(r.stdout.starts_with(&format!("{}/app:1@sha256:", proxy.host())), "{}", r.stdout);
        // No index was written under the tag (the proxy only answers its reads).
        let digest = r.stdout.trim().rsplit_once("@sha256:").unwrap().1.to_string();
        let tag = format!("docker://{}/app:sha256-{digest}", registry.host());
        let inspect = Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &tag]).output().unwrap();
        assert!(!inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stdout));
    }
}

/// §3: git remotes that carry a secret where URL parsing would not find it (scp-like
/// `user:SECRET@host:path`, a fragment) never reach the provenance; a plain one does.
#[test]
fn git_remotes_carrying_secrets_stay_out_of_the_provenance() {
    let p = Project::copy("hello");
    let git = |args: &[&str]| common::tool("git", &[&["-C", p.path().to_str().unwrap()], args].concat());
    git(&["init", "-q"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "add", "Cargo.toml", "src"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "fixture"]);
    git(&["remote", "add", "origin", "alice:Remote-Secret-71@git.example:acme/app.git"]);
    let blobs_with = |dir: &str, needle: &str| {
        std::fs::read_dir(p.path().join(dir).join("blobs/sha256"))
            .unwrap()
            .filter(|e| {
                std::fs::read(e.as_ref().unwrap().path()).unwrap().windows(needle.len()).any(|w| w == needle.as_bytes())
            })
            .count()
    };
    let r = run(&p, &[], &["-v", "-o", "scp", "--provenance"]).ok();
    assert_eq!(blobs_with("scp", "Remote-Secret-71"), 0);
    assert!(r.stderr.contains("the provenance names no git remote"), "{}", r.stderr);
    git(&["remote", "set-url", "origin", "https://git.example/acme/app.git#Remote-Secret-72"]);
    run(&p, &[], &["-o", "fragment", "--provenance"]).ok();
    assert_eq!(blobs_with("fragment", "Remote-Secret-72"), 0);
    assert_eq!(blobs_with("fragment", "git+https://git.example/acme/app.git"), 1, "the remote itself is kept");
}

/// Issue 20 §4: a base layer whose download breaks off halfway is fetched again, as an
/// upload is pushed again (a pull once failed at the first broken body).
#[test]
fn a_base_download_that_breaks_off_is_tried_again() {
    let registry = Registry::plain();
    let layout = tempfile::tempdir().unwrap();
    common::bases::write_layout(layout.path(), "base", &common::bases::debug(&["amd64"]));
    common::bases::copy(layout.path(), "base", &format!("docker://{}/base/debug:1", registry.host()), &[]);
    let flaky = FaultProxy::start(registry.port, Faults { drop_one_download: true, ..Default::default() });
    let p = Project::copy("hello");
    let envs = vec![("CARGO_CONTAINERIZE_RETRY_BASE_MS", "1".to_string())];
    let r = run(&p, &envs, &["--base", &format!("{}/base/debug:1", flaky.host()), "-o", "out"]).ok();
    assert!(r.stderr.contains("    Retrying the download of sha256:"), "{}", r.stderr);
    assert!(r.stdout.starts_with("out sha256:"), "{}", r.stdout);
    let cut = flaky.seen().iter().filter(|s| s.kind == Kind::BlobGet && s.injected).count();
    assert_eq!(cut, 1, "one download was cut: {:?}", flaky.seen());
}

/// §1, reviewed: the directory put first on the build's PATH (for the rustc wrapper's bare
/// name) must be this user's and private; one that others can write (a `$TMPDIR` fallback
/// another user made first) is not used, and a program planted there never runs.
#[test]
fn a_wrapper_directory_others_can_write_never_goes_on_the_build_path() {
    use sha2::Digest as _;
    let p = Project::copy("hello");
    let root = p.path().join(".home/cache/cargo-containerize");
    let key = format!("{:x}", sha2::Sha256::digest(common::bin().as_bytes()));
    let dir = root.join("wrapper").join(&key[..16]);
    std::fs::create_dir_all(&dir).unwrap();
    let marker = p.path().join("planted-ran");
    let planted = format!("#!/bin/sh\ntouch {}\nexec /usr/bin/cc \"$@\"\n", marker.display());
    for name in ["cc", "rustc"] {
        std::fs::write(dir.join(name), &planted).unwrap();
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for d in [&root, &root.join("wrapper"), &dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let r = run(&p, &[], &["-o", "out", "--sbom"]).ok();
    assert!(r.stderr.contains("is not a directory of this user's that others cannot write"), "{}", r.stderr);
    assert!(!marker.exists(), "a program planted in the wrapper's directory ran");
}

// ---- Base images ---------------------------------------------------------------------------

/// The credentials given for the push registry never reach the base's registry, however it
/// asks for them, and a base that cannot be pulled stops the run before the build.
#[test]
fn the_push_credentials_never_reach_the_base_registry() {
    let push = Registry::htpasswd(CANARY_USER, CANARY_PASSWORD);
    let base = Scripted::start(|_, _| Response::new(401).header("WWW-Authenticate", r#"Basic realm="base""#));
    let p = Project::copy("hello");
    let args = ["--base", &format!("{}/base/cc:12", base.host()), "--push", &format!("{}/app:1", push.host())];
    let r = run(&p, &canary_env(&push.host()), &args).failed();
    assert!(r.stderr.contains("cannot pull the base image") && r.stderr.contains("401"), "{}", r.stderr);
    assert!(!base.seen().is_empty());
    assert!(base.seen().iter().all(|r| r.header("Authorization").is_none()), "{:?}", base.seen());
    assert_nothing_built(&p);
}

/// A base registry that answers a manifest of 5 MiB, or one whose digest is not the one
/// pinned, or never answers, is refused by name, before the build.
#[test]
fn a_hostile_base_registry_is_refused_before_the_build() {
    let pinned = format!("sha256:{}", "ab".repeat(32));
    let huge = Scripted::start(|req, _| {
        if req.target == "/v2/" {
            return Response::new(200);
        }
        let mut r = Response::new(200).header("Content-Type", "application/vnd.oci.image.manifest.v1+json");
        r.body = vec![b' '; 5 << 20];
        r
    });
    let p = Project::copy("hello");
    let r = run(&p, &[], &["--base", &format!("{}/base:1", huge.host())]).failed();
    assert!(r.stderr.contains("more than 4194304 bytes") && r.stderr.contains("/v2/base/manifests/1"), "{}", r.stderr);
    let liar = Scripted::start(|req, _| {
        if req.target == "/v2/" {
            return Response::new(200);
        }
        Response::new(200).json(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#)
    });
    let r = run(&p, &[], &["--base", &format!("{}/base@{pinned}", liar.host())]).failed();
    assert!(r.stderr.contains(&format!("but {pinned} was expected")), "{}", r.stderr);
    let silent = Silent::start();
    let started = Instant::now();
    let envs = vec![("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())];
    let r = run(&p, &envs, &["--base", &format!("{}/base:1", silent.host())]).failed();
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(r.stderr.contains("no answer within 2 s"), "{}", r.stderr);
    assert_nothing_built(&p);
}

/// A base layout whose blob is a symlink to a file elsewhere is refused, and nothing of the
/// file it points at gets into the cache or an image.
#[test]
fn a_base_layout_blob_that_is_a_symlink_is_not_followed() {
    let layout = tempfile::tempdir().unwrap();
    let secret = layout.path().join("secret");
    std::fs::write(&secret, "top secret base bytes").unwrap();
    let blobs = layout.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let hex = "cd".repeat(32);
    std::os::unix::fs::symlink(&secret, blobs.join(&hex)).unwrap();
    std::fs::write(layout.path().join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{hex}","size":21,"annotations":{{"org.opencontainers.image.ref.name":"x"}}}}]}}"#
    );
    std::fs::write(layout.path().join("index.json"), index).unwrap();
    let p = Project::copy("hello");
    let r = run(&p, &[], &["--base", &format!("oci:{}:x", layout.path().display()), "-o", "out"]).failed();
    assert!(r.stderr.contains("is a symlink"), "{}", r.stderr);
    assert!(!p.path().join("out").exists());
    let cache = p.path().join(".home/cache/cargo-containerize/blobs/sha256");
    assert!(!cache.join(&hex).exists());
    assert_nothing_built(&p);
}

// ---- Base configs ----------------------------------------------------------------------------

/// Writes `images` as an OCI layout tagged `1` in a new temporary directory.
fn base_layout(images: &[common::bases::ImageSpec]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::bases::write_layout(dir.path(), "1", images);
    dir
}

/// The fixture's Cargo.toml with `body` as its `[<table>.metadata.containerize]`.
fn with_table(original: &str, table: &str, body: &str) -> String {
    match table {
        "package" => {
            original.replace("[dependencies]", &format!("[package.metadata.containerize]\n{body}\n\n[dependencies]"))
        }
        _ => format!("{original}\n[workspace.metadata.containerize]\n{body}\n"),
    }
}

/// Section 5: An `oci:` base named in Cargo.toml is read only from inside the package (the
/// workspace root, for the workspace's table), as an include's `from` is: an absolute
/// path, a path that climbs out and a symlink that leads out are refused before the build,
/// with the fixes. `--allow-base-outside` opts in; `--base` on the command line is free.
#[test]
fn an_oci_base_named_in_cargo_toml_stays_inside_the_package() {
    let layout = base_layout(&common::bases::tiny(serde_json::json!({"Env": [common::bases::PATH]})));
    let p = Project::copy("hello");
    assert_eq!(layout.path().parent(), p.path().parent(), "both in the temporary directory");
    let climb = format!("../{}", layout.path().file_name().unwrap().to_string_lossy());
    std::os::unix::fs::symlink(layout.path(), p.path().join("bases")).unwrap();
    let original = std::fs::read_to_string(p.manifest()).unwrap();
    let absolute = format!("oci:{}:1", layout.path().display());
    let cases = [
        ("package", absolute.clone(), "is an absolute path; it must be relative to the package directory"),
        ("package", format!("oci:{climb}:1"), "outside the package directory"),
        ("package", "oci:bases:1".to_string(), "outside the package directory"),
        ("workspace", format!("oci:./src/../{climb}:1"), "outside the workspace root"),
    ];
    for (table, base, expected) in &cases {
        std::fs::write(p.manifest(), with_table(&original, table, &format!("base = {base:?}"))).unwrap();
        let r = run(&p, &[], &["-o", "out"]).failed();
        assert!(r.stderr.contains(expected), "{table} {base}: {}", r.stderr);
        assert!(r.stderr.contains("--allow-base-outside") && r.stderr.contains("(--base)"), "{}", r.stderr);
        assert!(!p.path().join("out").exists());
        assert_nothing_built(&p);
    }
    // The opt-in reads it, and so does the command line, with the same digest.
    let r = run(&p, &[], &["--allow-base-outside", "-o", "out"]).ok();
    let opted = r.digest();
    let manifest = common::layout_manifest(&p.path().join("out"));
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.name"], format!("oci:./src/../{climb}:1"));
    std::fs::write(p.manifest(), &original).unwrap();
    let r = run(&p, &[], &["--base", &absolute, "-o", "out-cli"]).ok();
    assert!(!r.digest().is_empty() && !opted.is_empty());
    // A layout inside the package needs no opt-in.
    common::bases::write_layout(&p.path().join("base-layout"), "1", &common::bases::tiny(serde_json::json!({})));
    std::fs::write(p.manifest(), with_table(&original, "package", r#"base = "oci:base-layout:1""#)).unwrap();
    run(&p, &[], &["-o", "out-inside"]).ok();
}

/// Section 5: A base config's `OnBuild` triggers are cleared, as Docker clears them in a
/// child image, and its `Env` entries that `env` and `--env` would refuse (no `=`, an empty
/// name) are left out with a warning naming them: no program can read them by name.
#[test]
fn a_hostile_base_config_loses_onbuild_and_env_entries_no_program_can_read() {
    let config = serde_json::json!({
        "Env": [common::bases::PATH, "NOEQ", "=empty", "KEPT=yes"],
        "OnBuild": ["RUN touch /pwned"],
    });
    let layout = base_layout(&common::bases::tiny(config));
    let p = Project::copy("hello");
    let name = common::unique_name("onbuild");
    let _cleanup = common::DockerImages(vec![name.clone()]);
    let base = format!("oci:{}:1", layout.path().display());
    let r = run(&p, &[], &["--base", &base, "-o", "out", "--tag", &name]).ok();
    assert!(
        r.stderr.contains("warning: the base image") && r.stderr.contains("left out: \"NOEQ\", \"=empty\""),
        "{}",
        r.stderr
    );
    let config = common::layout_config(&p.path().join("out"));
    assert!(config["config"].get("OnBuild").is_none(), "{config}");
    assert_eq!(config["config"]["Env"], serde_json::json!([common::bases::PATH, "KEPT=yes"]));
    let inspected = common::docker_inspect(&name);
    assert_eq!(inspected["Config"]["OnBuild"], serde_json::Value::Null, "{inspected}");
    assert!(common::docker_run(&name, &[]).contains(common::HELLO_MARKER));
}

/// Section 5: On a base, a user name is looked up in the base's /etc/passwd and /etc/group
/// (the top layer that has them wins), and kept as a name in the config, as Docker does; a
/// name the base lacks is refused before the build, naming the ones it has. A `workdir`
/// made for the image is owned by the user it runs as: ours, else the base's own `User`.
/// Scratch still knows only root and nonroot.
#[test]
fn a_user_name_on_a_base_is_read_from_its_passwd_and_group() {
    let layout = base_layout(&common::bases::with_users(serde_json::json!({"Env": [common::bases::PATH]})));
    let base = format!("oci:{}:1", layout.path().display());
    let p = Project::copy("hello");
    let cases = [
        ("nobody", "\"nobody\" is not a user of the base image: its /etc/passwd has app, root, www-data"),
        ("www-data:wheel", "\"wheel\" is not a group of the base image: its /etc/group has root, staff, www-data"),
    ];
    for (user, expected) in cases {
        let r = run(&p, &[], &["--base", &base, "--user", user, "-o", "out"]).failed();
        assert!(r.stderr.contains(expected), "{user}: {}", r.stderr);
        assert!(r.stderr.contains("runAsNonRoot"), "{}", r.stderr);
        assert_nothing_built(&p);
    }
    let r = run(&p, &[], &["--user", "www-data", "-o", "out"]).failed();
    assert!(r.stderr.contains("nor a user of the image (root, nonroot)"), "{}", r.stderr);
    assert_nothing_built(&p);

    let original = std::fs::read_to_string(p.manifest()).unwrap();
    std::fs::write(p.manifest(), with_table(&original, "package", "user = \"www-data:staff\"\nworkdir = \"/data\""))
        .unwrap();
    let name = common::unique_name("www-data");
    let inherited = common::unique_name("base-user");
    let _cleanup = common::DockerImages(vec![name.clone(), inherited.clone()]);
    run(&p, &[], &["--base", &base, "--tag", &name]).ok();
    assert_eq!(common::docker_inspect(&name)["Config"]["User"], "www-data:staff");
    let ids = |image: &str| {
        let script = "busybox id -u; busybox id -g; busybox stat -c %u:%g /data";
        let args = ["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", script];
        common::tool("docker", &args).stdout
    };
    assert_eq!(ids(&name), "33\n50\n33:50\n");

    let user_base =
        base_layout(&common::bases::with_users(serde_json::json!({"Env": [common::bases::PATH], "User": "www-data"})));
    std::fs::write(p.manifest(), &original).unwrap();
    let args = ["--base", &format!("oci:{}:1", user_base.path().display()), "--workdir", "/data", "--tag", &inherited];
    run(&p, &[], &args).ok();
    assert_eq!(common::docker_inspect(&inherited)["Config"]["User"], "www-data");
    assert_eq!(ids(&inherited), "33\n33\n33:33\n");
}

// ---- Documents that validate ---------------------------------------------------------------

/// The SBOMs an `-o` layout holds, by artifact type: (type, document).
fn layout_sboms(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let index = common::layout_index(dir);
    let mut out = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let Some(kind) = entry["artifactType"].as_str() else { continue };
        let manifest: serde_json::Value =
            serde_json::from_slice(&common::layout_blob(dir, entry["digest"].as_str().unwrap())).unwrap();
        out.push((kind.to_string(), common::layout_blob(dir, manifest["layers"][0]["digest"].as_str().unwrap())));
    }
    out
}

/// The verdicts of pyspdxtools and of cyclonedx-python-lib's strict 1.6 validator (with a
/// check for dangling references) on `docs`, in one process: "" for a valid document.
fn sbom_verdicts(docs: &[(String, Vec<u8>)]) -> Vec<String> {
    let venv = std::env::var_os("CARGO_CONTAINERIZE_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/cargo-containerize-tests/venv".into());
    let python = venv.join("bin/python");
    assert!(python.exists(), "{} is missing: run `bash .ci/setup`", python.display());
    let input: Vec<serde_json::Value> = docs
        .iter()
        .map(|(kind, doc)| {
            let format = if kind == "application/spdx+json" { "spdx" } else { "cyclonedx" };
            serde_json::json!({"format": format, "document": String::from_utf8_lossy(doc)})
        })
        .collect();
    let mut child = Command::new(python)
        .args(["-c", include_str!("../src/sbom/validate.py")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &serde_json::to_vec(&input).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the validators failed: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A private crate's `LicenseRef-Proprietary` is declared in the SPDX document
/// (`hasExtractedLicensingInfos`), so both documents validate; an invalid license expression
/// is left out of both documents alike, where CycloneDX once copied it verbatim.
#[test]
fn sboms_of_license_refs_and_invalid_expressions_validate() {
    let p = Project::copy("hello");
    let manifest = std::fs::read_to_string(p.manifest()).unwrap();
    let licensed =
        |license: &str| manifest.replace("edition = \"2021\"\n", &format!("edition = \"2021\"\nlicense = {license}\n"));
    std::fs::write(p.manifest(), licensed("\"LicenseRef-Proprietary\"")).unwrap();
    run(&p, &[], &["-o", "out", "--sbom"]).ok();
    std::fs::write(p.manifest(), licensed(r#""MIT\" OR <evil>\nAND""#)).unwrap();
    run(&p, &[], &["-o", "invalid", "--sbom"]).ok();
    let (proprietary, invalid) = (layout_sboms(&p.path().join("out")), layout_sboms(&p.path().join("invalid")));
    for docs in [&proprietary, &invalid] {
        let kinds: Vec<&str> = docs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["application/spdx+json", "application/vnd.cyclonedx+json"]);
    }
    let docs: Vec<(String, Vec<u8>)> = proprietary.iter().chain(&invalid).cloned().collect();
    for ((kind, doc), verdict) in docs.iter().zip(sbom_verdicts(&docs)) {
        assert!(verdict.is_empty(), "{kind} refused: {verdict}\n{}", String::from_utf8_lossy(doc));
    }
    let spdx: serde_json::Value = serde_json::from_slice(&proprietary[0].1).unwrap();
    assert_eq!(spdx["packages"][0]["licenseDeclared"], "LicenseRef-Proprietary");
    assert_eq!(spdx["hasExtractedLicensingInfos"][0]["licenseId"], "LicenseRef-Proprietary", "{spdx}");
    let cdx: serde_json::Value = serde_json::from_slice(&proprietary[1].1).unwrap();
    assert_eq!(cdx["metadata"]["component"]["licenses"], serde_json::json!([{"expression": "LicenseRef-Proprietary"}]));
    // The invalid expression is in neither document.
    let spdx: serde_json::Value = serde_json::from_slice(&invalid[0].1).unwrap();
    assert_eq!(spdx["packages"][0]["licenseDeclared"], "NOASSERTION");
    let cdx = String::from_utf8_lossy(&invalid[1].1).into_owned();
    assert!(!cdx.contains("evil"), "the invalid expression went into the CycloneDX document: {cdx}");
}

// ---- Bases that lie ------------------------------------------------------------------------

/// An `oci:` base of one small layer written as `blobs` says, and its `--base` argument.
fn lying_base(blobs: Blobs) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    bases::write_layout_with(dir.path(), "base", &bases::tiny(serde_json::json!({"Env": [bases::PATH]})), blobs);
    let arg = format!("oci:{}:base", dir.path().display());
    (dir, arg)
}

/// The digest and media type of a layout's one layer, and the name the tool shows for it.
fn lying_layer(layout: &Path) -> (String, String, String) {
    let layer = &common::layout_manifest(layout)["layers"][0];
    let shown = format!("oci:{}:base", layout.file_name().unwrap().to_string_lossy());
    (layer["digest"].as_str().unwrap().into(), layer["mediaType"].as_str().unwrap().into(), shown)
}

/// A base whose config gives a layer a diff_id that is not its tar's digest is refused by
/// name: an `oci:` base before the build, a registry's when its layer is fetched, before any
/// output is written. A push that only mounts the layer says, with -v, that it was not
/// checked.
#[test]
fn a_base_whose_diff_ids_lie_is_refused_before_any_output() {
    let (layout, base) = lying_base(Blobs::WrongDiffId);
    let (digest, _, shown) = lying_layer(layout.path());
    let p = Project::copy("hello");
    for out in [["-o", "out"], ["--tarball", "out.tar"]] {
        let r = run(&p, &[], &[&["--base", base.as_str()][..], &out].concat()).failed();
        for needle in [digest.as_str(), "diff_id", shown.as_str(), "rebuild it", "another base"] {
            assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
        }
        assert!(!p.path().join(out[1]).exists());
        assert_nothing_built(&p);
    }
    let reg = Registry::plain();
    bases::copy(layout.path(), "base", &format!("docker://{}/base/lie:1", reg.host()), &[]);
    let remote = format!("{}/base/lie:1", reg.host());
    let q = Project::copy("hello");
    let r = run(&q, &[], &["--base", &remote, "-v", "--push", &format!("{}/app:1", reg.host())]).ok();
    assert!(
        r.stderr.lines().any(|l| l.contains(&digest) && l.contains("not checked")),
        "a mounted layer is said to be unchecked:\n{}",
        r.stderr
    );
    let r = run(&q, &[], &["--base", &remote, "--tarball", "out.tar"]).failed();
    for needle in [digest.as_str(), "diff_id", remote.as_str(), "rebuild it"] {
        assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
    }
    assert!(!q.path().join("out.tar").exists());
    // A push to another registry downloads the layer to upload it: checked there too.
    let other = Registry::plain();
    let r =
        run(&Project::copy("hello"), &[], &["--base", &remote, "--push", &format!("{}/app:1", other.host())]).failed();
    for needle in [digest.as_str(), "diff_id", remote.as_str(), "rebuild it"] {
        assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
    }
}

/// A base with a zstd layer is refused before the build by the destinations that cannot
/// take zstd (a docker-archive tarball, the Docker engine), naming the layer and the
/// choices; an OCI layout and a registry take it.
#[test]
fn a_zstd_base_is_refused_before_the_build_where_zstd_cannot_go() {
    let (layout, base) = lying_base(Blobs::Zstd);
    let (digest, media_type, _) = lying_layer(layout.path());
    assert_eq!(media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
    let p = Project::copy("hello");
    let name = common::unique_name("zstd");
    let _cleanup = common::DockerImages(vec![name.clone()]);
    for out in [["--tarball", "out.tar"], ["--tag", name.as_str()]] {
        let r = run(&p, &[], &[&["--base", base.as_str()][..], &out].concat()).failed();
        for needle in [digest.as_str(), media_type.as_str(), "zstd", "another base", "--push", "-o"] {
            assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
        }
        assert!(!p.path().join("out.tar").exists());
        assert_nothing_built(&p);
    }
    let reg = Registry::plain();
    let r = run(&p, &[], &["--base", &base, "-v", "-o", "out", "--push", &format!("{}/app:1", reg.host())]).ok();
    assert!(
        r.stderr.lines().any(|l| l.contains(&digest) && l.contains("its diff_id is not checked")),
        "a zstd layer's unchecked diff_id is said with -v:\n{}",
        r.stderr
    );
    assert_eq!(common::layout_manifest(&p.path().join("out"))["layers"][0]["digest"], digest.as_str());
}

/// Issue 22: an engine with the containerd image store takes a base's zstd layer, as
/// containerd unpacks it: the image loads and runs there.
#[test]
fn a_zstd_base_loads_into_the_containerd_store() {
    let engine = common::Engine::Containerd;
    let (_layout, base) = lying_base(Blobs::Zstd);
    let p = Project::copy("hello");
    let name = format!("{}:1", common::unique_name("zstd-d26"));
    let _cleanup = engine.images(vec![name.clone()]);
    p.run_on(engine, &["-q", "--base", &base, "--tag", &name]).ok();
    assert!(engine.run_image(&name, &[]).contains(common::HELLO_MARKER));
}

/// A layer labelled gzip that is a plain tar is refused when it enters the cache, naming
/// the layer, what its bytes are, the base, and what to do: an `oci:` base before the
/// build, a registry's before any output.
#[test]
fn a_plain_tar_labelled_gzip_is_refused_naming_the_layer() {
    let (layout, base) = lying_base(Blobs::TarLabelledGzip);
    let (digest, media_type, shown) = lying_layer(layout.path());
    let p = Project::copy("hello");
    let r = run(&p, &[], &["--base", &base, "-o", "out"]).failed();
    for needle in [digest.as_str(), media_type.as_str(), "plain tar", shown.as_str(), "rebuild it", "another base"] {
        assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
    }
    assert!(!r.stderr.contains("invalid gzip header"), "{}", r.stderr);
    assert!(!p.path().join("out").exists());
    assert_nothing_built(&p);
    let reg = Registry::plain();
    // skopeo would compress the plain tar on the way, unless told to keep the digests.
    bases::copy(layout.path(), "base", &format!("docker://{}/base/tar:1", reg.host()), &["--preserve-digests"]);
    let remote = format!("{}/base/tar:1", reg.host());
    let q = Project::copy("hello");
    let r = run(&q, &[], &["--base", &remote, "--tarball", "out.tar"]).failed();
    for needle in [digest.as_str(), "plain tar", remote.as_str(), "rebuild it"] {
        assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
    }
    assert!(!q.path().join("out.tar").exists());
}

// ---- Push destinations checked before the build (issue 21 §4) --------------------------------

/// A registry that accepts TCP and never answers, beside one that works: the run stops at the
/// timeout, with the message, before anything is built, and pushes to neither.
#[test]
fn a_silent_push_destination_stops_the_run_before_the_build() {
    let good = Registry::plain();
    let proxy = FaultProxy::start(good.port, Faults::default());
    let silent = Silent::start();
    let p = Project::copy("hello");
    let envs = vec![("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2".to_string())];
    let args = ["--push", &format!("{}/app:1", proxy.host()), "--push", &format!("{}/app:1", silent.host())];
    let started = Instant::now();
    let r = run(&p, &envs, &args).failed();
    let seconds = started.elapsed().as_secs_f64();
    println!("a silent registry stopped the run in {seconds:.1} s, with a timeout of 2 s");
    assert!(seconds < 20.0, "took {seconds} s: {}", r.stderr);
    assert!(r.stderr.contains(&format!("waiting for {} to answer GET", silent.host())), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("cannot push to {} (checked before the build)", silent.host()))
            && r.stderr.contains("no answer within 2 s"),
        "{}",
        r.stderr
    );
    assert_nothing_built(&p);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(silent.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // The good registry was checked, and got nothing else.
    assert_eq!(proxy.count(Kind::UploadProbe), 1, "{:?}", proxy.seen());
    assert_eq!(proxy.count(Kind::BlobHead) + proxy.count(Kind::ManifestPut), 0, "{:?}", proxy.seen());
}

/// A registry failing for the moment (500 to the upload, after the retries) is not taken for
/// a refusal: a warning says it was not checked, the build runs, and the push meets it again.
#[test]
fn a_registry_failing_for_the_moment_is_warned_about_and_built_for() {
    let failing = Scripted::start(|req, _| match (req.method.as_str(), req.target.as_str()) {
        (_, "/v2/") => Response::new(200),
        ("HEAD", _) => Response::new(404),
        _ => Response::new(500).json(r#"{"errors":[{"code":"UNKNOWN","message":"storage is down"}]}"#),
    });
    let p = Project::copy("hello");
    let envs = vec![("CARGO_CONTAINERIZE_RETRY_BASE_MS", "1".to_string())];
    let r = run(&p, &envs, &["--push", &format!("{}/app:1", failing.host())]).failed();
    assert!(
        r.stderr.contains(&format!("warning: could not check the push to {}/app before the build", failing.host()))
            && r.stderr.contains("failed: 500 (UNKNOWN: storage is down); building anyway"),
        "{}",
        r.stderr
    );
    assert!(p.path().join("target").exists(), "the build did not run");
    assert!(r.stderr.contains("    Retrying sha256:"), "the push met it again: {}", r.stderr);
}
