//! `--push`: the registry client against real registries (CNCF distribution) on loopback:
//! plain, htpasswd, Bearer token, TLS, credential helpers, chunked uploads, mounts.

mod common;

use cargo_containerize::api::Image;
use cargo_containerize::api::Reference;
use cargo_containerize::api::{push_blocking, Credentials, Error, PushOptions};
use cargo_containerize::api::{Event, Progress};
use common::registry::{skopeo_digest, Registry};
use common::{assert_no_canary, images, CANARY_PASSWORD, CANARY_USER};
use std::process::Command;

/// Pushes through the library; no form of the canary may appear in any result or event.
fn push(image: &Image, refs: &[&str], opts: &PushOptions) -> (Vec<Result<String, Error>>, Vec<Event>) {
    let refs: Vec<Reference> = refs.iter().map(|r| Reference::parse(r).unwrap()).collect();
    let progress = Progress::hidden();
    let results = push_blocking(image, &refs, opts, &progress);
    let events = progress.events();
    let shown: Vec<String> = results
        .iter()
        .map(|r| format!("{r:?} {}", r.as_ref().err().map(|e| e.to_string()).unwrap_or_default()))
        .collect();
    let shown = format!("{shown:?} {events:?}");
    assert_no_canary(&[&shown], &[]);
    (results.into_iter().map(|r| r.map(|d| d.to_string())).collect(), events)
}

fn push_ok(image: &Image, refs: &[&str], opts: &PushOptions) -> Vec<Event> {
    let (results, events) = push(image, refs, opts);
    for (r, result) in refs.iter().zip(results) {
        match result {
            Ok(digest) => assert_eq!(digest, image.digest().unwrap().to_string(), "{r}"),
            Err(e) => panic!("pushing {r} failed: {e}"),
        }
    }
    events
}

/// Credentials for `registry`'s host only.
fn creds(registry: &Registry, user: &str, pass: &str) -> PushOptions {
    PushOptions { credentials: vec![(registry.host(), Credentials::basic(user, pass))], ..Default::default() }
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// `skopeo copy` into an OCI layout: the pulled manifest digest is the one we pushed.
fn skopeo_copy_digest(registry: &Registry, name_tag: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let src = format!("docker://{}/{name_tag}", registry.host());
    let dst = format!("oci:{}:pulled", dir.path().display());
    let mut args = vec!["copy", "--quiet"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&src, &dst]);
    let out = Command::new("skopeo").args(&args).output().unwrap();
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_string()
}

#[test]
fn plain_registry_push_round_trips_through_skopeo() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "plain");
    let name = format!("{}/hello:1", registry.host());
    let events = push_ok(&image, &[&name], &PushOptions::default());
    assert_eq!(count(&events, |e| matches!(e, Event::Uploaded { .. })), 2, "{events:?}");
    let digest = image.digest().unwrap().to_string();
    assert_eq!(skopeo_digest(&registry, "hello:1", &["--tls-verify=false"]), digest);
    assert_eq!(skopeo_copy_digest(&registry, "hello:1", &["--src-tls-verify=false"]), digest);
}

#[test]
fn several_references_push_blobs_once_and_mount_across_repositories() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "multi");
    let h = registry.host();
    let refs = [format!("{h}/team/a:1"), format!("{h}/team/b:2"), format!("{h}/team/a")];
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let events = push_ok(&image, &refs, &PushOptions::default());
    assert_eq!(count(&events, |e| matches!(e, Event::Uploaded { .. })), 2, "{events:?}");
    let mounted = count(&events, |e| matches!(e, Event::Mounted { from, .. } if from == "team/a"));
    assert_eq!(mounted, 2, "{events:?}");
    for tag in ["team/a:1", "team/b:2", "team/a:latest"] {
        assert_eq!(skopeo_digest(&registry, tag, &["--tls-verify=false"]), image.digest().unwrap().to_string());
    }
}

#[test]
fn reference_without_registry_is_refused_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "noreg");
    let (results, _) = push(&image, &["myimage:1.0"], &PushOptions::default());
    let e = results.into_iter().next().unwrap().unwrap_err().to_string();
    assert!(e.contains("127.0.0.1:5000/myimage:1.0"), "{e}");
}

#[test]
fn htpasswd_registry_accepts_the_right_password() {
    let registry = Registry::htpasswd(CANARY_USER, CANARY_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "basic");
    push_ok(&image, &[&format!("{}/hello:1", registry.host())], &creds(&registry, CANARY_USER, CANARY_PASSWORD));
    let login = format!("{CANARY_USER}:{CANARY_PASSWORD}");
    let got = skopeo_digest(&registry, "hello:1", &["--tls-verify=false", "--creds", &login]);
    assert_eq!(got, image.digest().unwrap().to_string());
}

#[test]
fn htpasswd_registry_without_credentials_says_how_to_log_in() {
    let registry = Registry::htpasswd("alice", "s3cret-basic");
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "anon");
    let (results, _) = push(&image, &[&format!("{}/hello:1", registry.host())], &PushOptions::default());
    let e = results.into_iter().next().unwrap().unwrap_err().to_string();
    assert!(e.contains("401") && e.contains(&format!("docker login {}", registry.host())), "{e}");
    assert!(e.contains("CARGO_CONTAINERIZE_USERNAME"), "{e}");
}

#[test]
fn token_registry_anonymous_push_says_how_to_log_in() {
    let registry = Registry::token("bob", "t0ken-pass");
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "anon-token");
    let (results, _) = push(&image, &[&format!("{}/hello:1", registry.host())], &PushOptions::default());
    let e = results.into_iter().next().unwrap().unwrap_err().to_string();
    assert!(e.contains("401") && e.contains(&format!("docker login {}", registry.host())), "{e}");
    // Anonymous tokens were asked for: no Basic credentials, none refused.
    let server = registry.token_server.as_ref().unwrap();
    assert!(server.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(server.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// Pushes with the canary as the (wrong) password in the CI variables, verbose: a clear
/// 401 with the login hint, and no form of the secret anywhere, Debug output included.
fn assert_refused_without_secret(registry: &Registry) {
    let project = common::Project::copy("hello");
    let envs = common::canary_env(&registry.host());
    let run = cli_push(&project, &["-v", "--push", &format!("{}/hello:1", registry.host())], &envs, "").failed();
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("docker login {}", registry.host())), "{}", run.stderr);
    assert!(run.stderr.contains("> GET"), "verbose traces expected: {}", run.stderr);
    assert_no_canary(&[&run.stdout, &run.stderr], &[project.path()]);
}

#[test]
fn wrong_password_fails_clearly_and_never_shows_the_secret() {
    let registry = Registry::htpasswd("alice", "right-password");
    assert_refused_without_secret(&registry);
}

#[test]
fn token_registry_pushes_with_a_bearer_token() {
    let registry = Registry::token(CANARY_USER, CANARY_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "token");
    let h = registry.host();
    let opts = creds(&registry, CANARY_USER, CANARY_PASSWORD);
    push_ok(&image, &[&format!("{h}/org/app:1"), &format!("{h}/org/other:1")], &opts);
    let server = registry.token_server.as_ref().unwrap();
    assert!(server.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(server.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    let login = format!("{CANARY_USER}:{CANARY_PASSWORD}");
    let got = skopeo_digest(&registry, "org/app:1", &["--tls-verify=false", "--creds", &login]);
    assert_eq!(got, image.digest().unwrap().to_string());
}

#[test]
fn token_registry_wrong_password_fails_clearly_and_never_shows_the_secret() {
    let registry = Registry::token("alice", "right-password");
    assert_refused_without_secret(&registry);
    assert!(registry.token_server.as_ref().unwrap().refused.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[test]
fn tls_registry_with_ca_cert_succeeds() {
    let registry = Registry::tls();
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "tls");
    // A loopback registry is tried over plain HTTP first, then HTTPS: this one speaks only HTTPS.
    let opts = PushOptions { ca_certs: vec![registry.ca_cert.clone().unwrap()], ..Default::default() };
    let name = format!("{}/hello:1", registry.host());
    push_ok(&image, &[&name], &opts);
    let ca_dir = tempfile::tempdir().unwrap();
    std::fs::copy(registry.ca_cert.as_ref().unwrap(), ca_dir.path().join("ca.crt")).unwrap();
    let cert_dir = format!("--cert-dir={}", ca_dir.path().display());
    assert_eq!(skopeo_digest(&registry, "hello:1", &[&cert_dir]), image.digest().unwrap().to_string());
}

#[test]
fn tls_registry_without_ca_cert_mentions_ca_cert() {
    let registry = Registry::tls();
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "tls-fail");
    let (results, _) = push(&image, &[&format!("{}/hello:1", registry.host())], &PushOptions::default());
    let e = results.into_iter().next().unwrap().unwrap_err().to_string();
    assert!(e.contains("--ca-cert"), "{e}");
    assert!(e.contains("GET https://"), "{e}");
}

// ---- Through the real binary -------------------------------------------------------------

/// `cargo-containerize containerize --manifest-path hello --push ...` with extra env, stdin;
/// the canary rides along (see `common::isolate`), and no form of it may show anywhere.
fn cli_push(project: &common::Project, args: &[&str], envs: &[(&str, String)], stdin: &str) -> common::Run {
    use std::io::Write;
    let mut cmd = project.cmd();
    if args.contains(&"--username") {
        // Not the CI variables: the test gives the credentials on the command line.
        for name in ["CARGO_CONTAINERIZE_USERNAME", "CARGO_CONTAINERIZE_PASSWORD", "CARGO_CONTAINERIZE_REGISTRY"] {
            cmd.env_remove(name);
        }
    }
    cmd.arg("--manifest-path").arg(project.manifest()).args(args);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let run = common::Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    assert_no_canary(&[&run.stdout, &run.stderr], &[project.path()]);
    run
}

/// An empty Docker config, for `docker login` without touching the machine's.
fn empty_docker_config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    dir
}

/// Writes the Docker config the tool reads in `project`.
fn write_docker_config(project: &common::Project, config: &serde_json::Value) {
    std::fs::write(project.docker_config().join("config.json"), config.to_string()).unwrap();
}

#[test]
fn cli_push_prints_reference_at_digest() {
    let registry = Registry::plain();
    let project = common::Project::copy("hello");
    let name = format!("{}/hello:1", registry.host());
    let run = cli_push(&project, &["--push", &name, "--push", &format!("{}/other:2", registry.host())], &[], "").ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    let digest = skopeo_digest(&registry, "hello:1", &["--tls-verify=false"]);
    // A pullable reference that keeps the tag.
    assert_eq!(lines[0], format!("{}/hello:1@{digest}", registry.host()));
    assert_eq!(lines[1], format!("{}/other:2@{digest}", registry.host()));
    assert!(run.stderr.contains("     Mounted sha256:"), "{}", run.stderr);
}

#[test]
fn cli_credential_helper_on_path_is_used() {
    use std::os::unix::fs::PermissionsExt;
    let registry = Registry::htpasswd("helper-user", "helper-Secret-1");
    let project = common::Project::copy("hello");
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("asked");
    let helper = bin.path().join("docker-credential-test");
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >> {}\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"helper-user\",\"Secret\":\"helper-Secret-1\"}}'\n",
        log.display()
    );
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = serde_json::json!({"credHelpers": {registry.host(): "test"}, "auths": {registry.host(): {"auth": "d3Jvbmc6d3Jvbmc="}}});
    write_docker_config(&project, &cfg);
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    let envs = [("PATH", path)];
    let run = cli_push(&project, &["-v", "--push", &format!("{}/hello:1", registry.host())], &envs, "").ok();
    assert!(run.stdout.starts_with(&format!("{}/hello:1@sha256:", registry.host())), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(&log).unwrap().trim(), registry.host());
    assert!(!run.stderr.contains("helper-Secret-1") && !run.stdout.contains("helper-Secret-1"), "{}", run.stderr);
}

#[test]
fn cli_wrong_password_from_stdin_fails_without_leaking() {
    let registry = Registry::htpasswd("alice", "the-right-one");
    let project = common::Project::copy("hello");
    let args = ["-v", "--username", CANARY_USER, "--password-stdin", "--push", &format!("{}/hello:1", registry.host())];
    let run = cli_push(&project, &args, &[], &format!("{CANARY_PASSWORD}\n")).failed();
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("docker login {}", registry.host())), "{}", run.stderr);
}

// ---- docker pull + docker run of what was pushed (needs a Docker engine) -----------------

/// `docker` with its own config directory (for `docker login` without touching the machine's).
fn docker(config: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("docker")
        .env("DOCKER_CONFIG", config)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker is installed");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into()
}

/// Pushes the hello image to `registry` with `opts`, logs in if `login` is given, pulls and runs it.
fn push_pull_run(registry: &Registry, opts: &PushOptions, login: Option<(&str, &str)>) {
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "docker");
    let name = format!("{}/hello-docker:1", registry.host());
    push_ok(&image, &[&name], opts);
    let config = empty_docker_config();
    if let Some((user, pass)) = login {
        docker(config.path(), &["login", "-u", user, "--password-stdin", &registry.host()], pass);
    }
    let _cleanup = common::DockerImages(vec![name.clone()]);
    docker(config.path(), &["pull", &name], "");
    let out = docker(config.path(), &["run", "--rm", "--network", "none", &name], "");
    assert!(out.contains(common::HELLO_MARKER), "{out}");
}

#[test]
fn plain_registry_docker_run() {
    push_pull_run(&Registry::plain(), &PushOptions::default(), None);
}

#[test]
fn htpasswd_registry_docker_run() {
    let registry = Registry::htpasswd(CANARY_USER, CANARY_PASSWORD);
    push_pull_run(&registry, &creds(&registry, CANARY_USER, CANARY_PASSWORD), Some((CANARY_USER, CANARY_PASSWORD)));
}

#[test]
fn token_registry_docker_run() {
    let registry = Registry::token(CANARY_USER, CANARY_PASSWORD);
    push_pull_run(&registry, &creds(&registry, CANARY_USER, CANARY_PASSWORD), Some((CANARY_USER, CANARY_PASSWORD)));
}

#[test]
fn tls_registry_docker_run() {
    // Docker treats loopback registries as insecure: it skips verification of this certificate.
    let registry = Registry::tls();
    let opts = PushOptions { ca_certs: vec![registry.ca_cert.clone().unwrap()], ..Default::default() };
    push_pull_run(&registry, &opts, None);
}

/// A Docker config whose `auths` entry for `registry` holds only an identity token.
fn identity_token_config(project: &common::Project, registry: &Registry) {
    let token = registry.token_server.as_ref().unwrap().identity_token();
    write_docker_config(
        project,
        &serde_json::json!({"auths": {registry.host(): {"auth": "", "identitytoken": token}}}),
    );
}

#[test]
fn cli_identity_token_uses_the_oauth2_refresh_grant() {
    let registry = Registry::token("carol", "unused-password");
    let project = common::Project::copy("hello");
    identity_token_config(&project, &registry);
    let run = cli_push(&project, &["--push", &format!("{}/team/app:1", registry.host())], &[], "").ok();
    assert!(run.stdout.starts_with(&format!("{}/team/app:1@sha256:", registry.host())), "{}", run.stdout);
    assert!(registry.token_server.as_ref().unwrap().oauth_posts() >= 1);
}

#[test]
fn cli_identity_token_falls_back_to_get_when_post_is_404() {
    let registry = Registry::token("dave", "unused-password");
    let server = registry.token_server.as_ref().unwrap();
    server.refuse_oauth_post();
    let project = common::Project::copy("hello");
    identity_token_config(&project, &registry);
    let run = cli_push(&project, &["--push", &format!("{}/team/app:1", registry.host())], &[], "").ok();
    assert!(run.stdout.starts_with(&format!("{}/team/app:1@sha256:", registry.host())), "{}", run.stdout);
    assert_eq!(server.oauth_posts(), 0);
    assert!(!run.stderr.contains(server.identity_token()), "{}", run.stderr);
}

#[test]
fn unusable_ca_cert_file_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "bad-ca");
    let bad = dir.path().join("not-a-cert.pem");
    std::fs::write(&bad, "hello").unwrap();
    let opts = PushOptions { ca_certs: vec![bad.clone()], ..Default::default() };
    let (results, _) = push(&image, &["127.0.0.1:9/a:1", "127.0.0.1:9/b:1"], &opts);
    for result in results {
        let e = result.unwrap_err().to_string();
        assert!(e.contains(&bad.display().to_string()) && e.contains("--ca-cert"), "{e}");
    }
}

/// Progress: bars (bytes, rate) on a terminal, plain lines otherwise; never on stdout.
#[test]
fn progress_draws_bars_on_a_terminal_and_lines_otherwise() {
    let registry = Registry::plain();
    let p = common::Project::copy("hello");
    let bin = common::bin();
    let reference = format!("{}/progress:1", registry.host());
    // `script` gives the command a terminal; its output is what that terminal showed.
    let home = p.path().join(".home");
    let line = format!(
        "cd {} && XDG_CACHE_HOME={}/cache DOCKER_CONFIG={}/docker {bin} containerize --push {reference}",
        p.path().display(),
        home.display(),
        home.display()
    );
    let on_tty = common::tool("script", &["-qec", &line, "/dev/null"]).stdout;
    assert!(on_tty.contains("[==============================]"), "{on_tty}");
    assert!(on_tty.contains("B/s"), "a rate is shown: {on_tty}");
    // One unit system, the final lines' (decimal, as registries and Docker show sizes).
    assert!(on_tty.contains(" kB/") && !on_tty.contains("KiB") && !on_tty.contains("MiB"), "{on_tty}");
    let piped = p.run(&["--push", &format!("{}/progress:2", registry.host())]).ok();
    assert!(!piped.stderr.contains('\u{1b}'), "no escape codes when stderr is not a terminal: {}", piped.stderr);
    assert!(piped.stderr.contains("     Skipped sha256:"), "{}", piped.stderr);
    assert!(piped.stdout.lines().all(|l| l.starts_with(&registry.host())), "{}", piped.stdout);
}

/// `--workspace`: an image per binary, each pushed under the prefix and loaded under the
/// tag prefix, with one stdout line per destination, and each runs its own binary.
#[test]
fn a_workspace_pushes_and_loads_an_image_per_binary() {
    let registry = Registry::plain();
    let project = common::Project::copy("two-bins");
    let prefix = common::unique_name("svc");
    let _cleanup = common::DockerImages(vec![format!("{prefix}/alpha:1"), format!("{prefix}/beta:1")]);
    let push = format!("{}/acme:1", registry.host());
    let run = project.run(&["-q", "--workspace", "--push", &push, "-t", &format!("{prefix}:1")]).ok();
    for bin in ["alpha", "beta"] {
        let digest = skopeo_digest(&registry, &format!("acme/{bin}:1"), &["--tls-verify=false"]);
        let line = format!("{}/acme/{bin}:1@{digest}", registry.host());
        assert!(run.stdout.lines().any(|l| l == line), "{line} in {}", run.stdout);
        let out = common::docker_run(&format!("{prefix}/{bin}:1"), &[]);
        assert!(out.contains(&format!("{bin} from cargo-containerize two-bins fixture")), "{out}");
    }
    assert_eq!(run.stdout.lines().count(), 4, "{}", run.stdout);
}

// ---- Checked before the build (issue 21 §4) ------------------------------------------------

/// Nothing was compiled: the project's `target/` was never made.
fn assert_nothing_built(project: &common::Project) {
    assert!(!project.path().join("target").exists(), "cargo ran before the push destination was refused");
}

/// A wrong password fails in seconds, before anything is built, naming the registry, where
/// the credentials came from, and the fix; the same from `--password-stdin`.
#[test]
fn a_wrong_password_fails_before_the_build_in_seconds() {
    let registry = Registry::htpasswd("alice", "the-right-password");
    let host = registry.host();
    let project = common::Project::copy("hello");
    let started = std::time::Instant::now();
    let run = cli_push(&project, &["--push", &format!("{host}/app:1")], &common::canary_env(&host), "").failed();
    let seconds = started.elapsed().as_secs_f64();
    println!("a wrong password failed in {seconds:.2} s");
    assert!(seconds < 15.0, "{seconds} s:\n{}", run.stderr);
    assert_nothing_built(&project);
    for wanted in [
        format!("cannot push to {host}/app (checked before the build): {host} refused the credentials from"),
        "CARGO_CONTAINERIZE_USERNAME and CARGO_CONTAINERIZE_PASSWORD (user \"canary\")".to_string(),
        "failed: 401".to_string(),
        "help: check them (a wrong password, or a token that expired or was revoked)".to_string(),
        format!("docker login {host}"),
    ] {
        assert!(run.stderr.contains(&wanted), "{wanted:?} in:\n{}", run.stderr);
    }
    let args = ["--username", CANARY_USER, "--password-stdin", "--push", &format!("{host}/app:1")];
    let run = cli_push(&project, &args, &[], &format!("{CANARY_PASSWORD}\n")).failed();
    assert!(
        run.stderr.contains("refused the credentials from --username and --password-stdin (user \"canary\")"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("give the right ones on --password-stdin"), "{}", run.stderr);
    assert_nothing_built(&project);
}

/// A run starts the build it made last time at once, while cargo metadata runs (the head
/// start); not when it pushes: with a build remembered, a refused push compiles nothing.
#[test]
fn a_remembered_build_waits_for_the_push_check() {
    let registry = Registry::htpasswd(CANARY_USER, CANARY_PASSWORD);
    let host = registry.host();
    let project = common::Project::copy("hello");
    let push = format!("{host}/app:1");
    cli_push(&project, &["-q", "--push", &push], &common::canary_env(&host), "").ok();
    let shim = common::CargoShim::new(&project);
    let mut env = common::canary_env(&host);
    env.push(("CARGO", shim.path.display().to_string()));
    let mut wrong = env.clone();
    wrong.iter_mut().filter(|(k, _)| *k == "CARGO_CONTAINERIZE_PASSWORD").for_each(|(_, v)| *v = "wrong".into());
    let run = cli_push(&project, &["--push", &push], &wrong, "").failed();
    assert!(run.stderr.contains("refused the credentials"), "{}", run.stderr);
    assert_eq!(shim.builds(), 0, "cargo build ran before the push was checked");
    cli_push(&project, &["-q", "--push", &push], &env, "").ok();
    assert_eq!(shim.builds(), 1, "the shim sees the build of a run that pushes");
}

/// A cargo whose `step` (`metadata` or `build`) waits, 60 s at most, for the file `go`,
/// and logs in `log` whether it came (`early`, else `late`), and each build (`build`).
fn cargo_waiting_at(
    project: &common::Project,
    step: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let (go, log) = (project.path().join("go"), project.path().join("steps.log"));
    let shim = project.path().join(".home/cargo-waiting");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\n[ \"$1\" = build ] && echo build >> '{log}'\nif [ \"$1\" = {step} ]; then\n  i=0\n  \
             while [ ! -e '{go}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n  [ -e '{go}' ] && echo \
             early >> '{log}' || echo late >> '{log}'\nfi\nexec '{cargo}' \"$@\"\n",
            go = go.display(),
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    (shim, go, log)
}

/// The repositories a command line pushed to last time are checked while `cargo metadata`
/// runs, before the plan names them; each repository once. Still no build starts before
/// the check.
#[test]
fn the_last_runs_repositories_are_checked_while_cargo_metadata_runs() {
    use common::fault_proxy::{FaultProxy, Faults, Kind};
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let project = common::Project::copy("two-bins");
    let push = format!("{}/acme:1", proxy.host());
    let args = ["-q", "--workspace", "--push", &push];
    project.run(&args).ok();
    let probes = || proxy.seen().iter().filter(|s| matches!(s.kind, Kind::UploadProbe | Kind::UploadStart)).count();
    assert_eq!(proxy.count(Kind::UploadProbe), 2, "{:?}", proxy.seen());
    // `cargo metadata` waits for the word that both uploads of the check were started.
    let (shim, go, log) = cargo_waiting_at(&project, "metadata");
    let before = probes();
    let mut cmd = project.cmd();
    cmd.env("CARGO", &shim).args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let started = proxy.wait_until(std::time::Duration::from_secs(60), |seen, _| {
        seen.iter().filter(|s| matches!(s.kind, Kind::UploadProbe | Kind::UploadStart)).count() >= before + 2
    });
    std::fs::write(&go, "").unwrap();
    let run = common::Run::from_output(child.wait_with_output().unwrap()).ok();
    assert!(started, "the check's uploads: {:?}", proxy.seen());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "early\nbuild\n");
    // Each repository was checked once, and nothing more was uploaded.
    assert_eq!(probes(), before + 2, "{:?}", proxy.seen());
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
}

/// Once the push is checked, each tag is read (`HEAD`, and the listing of its documents)
/// while cargo builds: a re-push of what did not change asks the registry nothing after
/// the build. A reading older than `CARGO_CONTAINERIZE_READ_AHEAD_MS` is not used: a tag
/// moved meanwhile is written again.
#[test]
fn each_tag_is_read_while_cargo_builds_and_read_again_after_a_long_build() {
    use common::fault_proxy::{FaultProxy, Faults, Kind};
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let project = common::Project::copy("two-bins");
    let push = format!("{}/acme:1", proxy.host());
    let args = ["-q", "--workspace", "--push", &push];
    let first = project.run(&args).ok();
    let (shim, go, log) = cargo_waiting_at(&project, "build");
    let reads = || proxy.count(Kind::ManifestGet);
    let run_waiting = |env: &[(&str, &str)], meanwhile: &dyn Fn()| {
        let _ = std::fs::remove_file(&go);
        let _ = std::fs::remove_file(&log);
        let before = reads();
        let mut cmd = project.cmd();
        cmd.env("CARGO", &shim).envs(env.iter().copied()).args(args);
        let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        // Each tag's `HEAD` and the read of its listing (the tag schema's index here).
        let read = proxy.wait_until(std::time::Duration::from_secs(60), |seen, _| {
            seen.iter().filter(|s| s.kind == Kind::ManifestGet).count() >= before + 4
        });
        meanwhile();
        let during = reads() - before;
        std::fs::write(&go, "").unwrap();
        let run = common::Run::from_output(child.wait_with_output().unwrap()).ok();
        assert!(read, "the tags were not read during the build: {:?}", proxy.seen());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "build\nearly\n");
        (run, during, reads() - before)
    };
    let puts = proxy.count(Kind::ManifestPut);
    let (run, during, all) = run_waiting(&[], &|| {});
    assert_eq!(run.stdout, first.stdout);
    assert_eq!((during, all), (4, 4), "nothing asked after the build: {:?}", proxy.seen());
    assert_eq!(proxy.count(Kind::ManifestPut), puts, "nothing written again: {:?}", proxy.seen());
    // Read too long ago (1 ms), and `acme/alpha:1` moved to beta's image meanwhile: asked
    // again, and written again.
    let direct = |name: &str| format!("docker://{}/acme/{name}:1", registry.host());
    let moved = || {
        common::tool(
            "skopeo",
            &["copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", &direct("beta"), &direct("alpha")],
        );
    };
    let (run, _, _) = run_waiting(&[("CARGO_CONTAINERIZE_READ_AHEAD_MS", "1")], &moved);
    assert_eq!(run.stdout, first.stdout);
    let alpha = first.stdout.lines().next().unwrap().rsplit('@').next().unwrap().to_string();
    assert_eq!(skopeo_digest(&registry, "acme/alpha:1", &["--tls-verify=false"]), alpha);
}

/// A token service that grants pull only, silently (a read-only account or token): the
/// upload the check starts is refused, before the build, naming the file the credentials
/// came from and the rights they lack.
#[test]
fn a_read_only_token_fails_before_the_build() {
    // The test writes this password into the Docker config itself: it is not the canary,
    // which no file may hold.
    let registry = Registry::token("reader", "Read-0nly-pass");
    let server = registry.token_server.as_ref().unwrap();
    server.pull_only();
    let host = registry.host();
    let project = common::Project::copy("hello");
    let auth = base64_of("reader:Read-0nly-pass");
    write_docker_config(&project, &serde_json::json!({"auths": {host.clone(): {"auth": auth}}}));
    let started = std::time::Instant::now();
    let run = cli_push(&project, &["--push", &format!("{host}/team/app:1")], &[], "").failed();
    println!("a read-only token failed in {:.2} s", started.elapsed().as_secs_f64());
    assert_nothing_built(&project);
    let config = project.docker_config().join("config.json");
    for wanted in [
        format!("cannot push to {host}/team/app (checked before the build): the credentials from"),
        format!("the `auths` entry for {host} in {} (user \"reader\") may not push there", config.display()),
        "failed: 401".to_string(),
        format!("help: they need push (write) rights to team/app on {host}"),
        format!("with `docker login {host}`"),
    ] {
        assert!(run.stderr.contains(&wanted), "{wanted:?} in:\n{}", run.stderr);
    }
    assert!(server.scopes().iter().any(|s| s == "repository:team/app:pull,push"), "{:?}", server.scopes());
}

/// An identity token (OAuth2 refresh token) the token service no longer takes, as an
/// expired one: refused before the build, naming the entry it came from.
#[test]
fn an_expired_identity_token_fails_before_the_build() {
    let registry = Registry::token("erin", "unused-password");
    let host = registry.host();
    let project = common::Project::copy("hello");
    let stale = serde_json::json!({"auths": {host.clone(): {"auth": "", "identitytoken": "Expired-Refresh-Token-1"}}});
    write_docker_config(&project, &stale);
    let run = cli_push(&project, &["--push", &format!("{host}/app:1")], &[], "").failed();
    assert_nothing_built(&project);
    let config = project.docker_config().join("config.json");
    let wanted = format!("{host} refused the credentials from the `auths` entry for {host} in {}:", config.display());
    assert!(run.stderr.contains(&wanted), "{wanted:?} in:\n{}", run.stderr);
    assert!(run.stderr.contains("POST") && run.stderr.contains("failed: 401"), "{}", run.stderr);
    assert!(run.stderr.contains("a token that expired or was revoked"), "{}", run.stderr);
    assert!(!run.stderr.contains("Expired-Refresh-Token-1"), "{}", run.stderr);
}

/// A registry that refuses the connection: the run stops in seconds, before the build.
#[test]
fn a_registry_that_is_down_fails_before_the_build_in_seconds() {
    let host = format!("127.0.0.1:{}", common::registry::free_port());
    let project = common::Project::copy("hello");
    let started = std::time::Instant::now();
    let run = cli_push(&project, &["--push", &format!("{host}/app:1")], &[], "").failed();
    let seconds = started.elapsed().as_secs_f64();
    println!("a registry that is down failed in {seconds:.2} s");
    assert!(seconds < 15.0, "{seconds} s:\n{}", run.stderr);
    assert_nothing_built(&project);
    assert!(run.stderr.contains(&format!("cannot push to {host} (checked before the build): GET")), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("check that {host} is reachable from here")), "{}", run.stderr);
}

/// The check cancels the upload it started (`DELETE`, 204); a registry that refuses the
/// cancel (405 `UNSUPPORTED`) lets the run go on: the upload expires there, which `-v`
/// says, and only `-v`.
#[test]
fn the_check_cancels_its_upload_and_a_refused_cancel_fails_nothing() {
    use common::fault_proxy::{FaultProxy, Faults, Kind, Seen};
    let registry = Registry::plain();
    let project = common::Project::copy("hello");
    let cancels = |proxy: &FaultProxy| -> Vec<Seen> {
        proxy.seen().into_iter().filter(|s| s.kind == Kind::UploadCancel).collect()
    };
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let run = cli_push(&project, &["-v", "--push", &format!("{}/app:1", proxy.host())], &[], "").ok();
    let wanted =
        format!("{}/app: may be pushed to (an upload was started and cancelled before the build)", proxy.host());
    assert!(run.stderr.contains(&wanted), "{}", run.stderr);
    assert_eq!(cancels(&proxy).len(), 1, "{:?}", proxy.seen());
    assert!(!cancels(&proxy)[0].injected && cancels(&proxy)[0].status == 204, "{:?}", proxy.seen());
    // The check's upload is no upload of a blob.
    assert_eq!(proxy.count(Kind::UploadProbe), 1, "{:?}", proxy.seen());

    let proxy = FaultProxy::start(registry.port, Faults { refuse_upload_cancel: Some(405), ..Default::default() });
    let run = cli_push(&project, &["-v", "--push", &format!("{}/app:2", proxy.host())], &[], "").ok();
    let wanted = format!(
        "{}/app: may be pushed to; the upload started to check it was not cancelled (it answered 405)",
        proxy.host()
    );
    assert!(run.stderr.contains(&wanted), "{}", run.stderr);
    assert_eq!(cancels(&proxy).len(), 1, "{:?}", proxy.seen());
    assert!(cancels(&proxy)[0].injected && cancels(&proxy)[0].status == 405);
    assert_eq!(proxy.count(Kind::UploadProbe), 1, "{:?}", proxy.seen());
    let digest = run.stdout.trim().rsplit('@').next().unwrap().to_string();
    assert_eq!(skopeo_digest(&registry, "app:2", &["--tls-verify=false"]), digest);
    let quiet = cli_push(&project, &["--push", &format!("{}/app:3", proxy.host())], &[], "").ok();
    assert!(!quiet.stderr.contains("not cancelled"), "{}", quiet.stderr);
}

/// A run of several images checks every repository it pushes to: one that may not be
/// pushed to stops the run before the build, by name, even when the others may.
#[test]
fn every_repository_of_a_workspace_push_is_checked() {
    use common::fault_proxy::{FaultProxy, Faults, Kind};
    let registry = Registry::plain();
    let project = common::Project::copy("two-bins");
    let proxy = FaultProxy::start(registry.port, Faults::default());
    cli_push(&project, &["-q", "--workspace", "--push", &format!("{}/acme:1", proxy.host())], &[], "").ok();
    assert_eq!(proxy.count(Kind::UploadProbe), 2, "one check per image: {:?}", proxy.seen());
    assert_eq!(proxy.count(Kind::UploadCancel), 2, "{:?}", proxy.seen());

    let project = common::Project::copy("two-bins");
    let faults = Faults { deny_uploads_to: Some("acme/beta".into()), ..Default::default() };
    let denying = FaultProxy::start(registry.port, faults);
    let run = cli_push(&project, &["--workspace", "--push", &format!("{}/acme:1", denying.host())], &[], "").failed();
    let wanted = format!("cannot push to {}/acme/beta (checked before the build)", denying.host());
    assert!(run.stderr.contains(&wanted) && run.stderr.contains("403 (DENIED"), "{}", run.stderr);
    assert!(!run.stderr.contains("acme/alpha (checked"), "{}", run.stderr);
    assert_nothing_built(&project);
    assert_eq!(denying.count(Kind::UploadProbe), 1, "acme/alpha was checked too: {:?}", denying.seen());
}

/// The images of a run are published at once: alpha's manifest is held at the registry
/// until beta's arrives, which a run that pushes one image after the other never sends.
/// Their stdout lines and results-file entries still come in the plan's order, and both
/// references pull.
#[test]
fn the_images_of_a_run_are_pushed_at_once_and_reported_in_order() {
    use common::fault_proxy::{FaultProxy, Faults};
    let registry = Registry::plain();
    let project = common::Project::copy("two-bins");
    let hold = Some(("/acme/alpha/manifests/".to_string(), "/acme/beta/manifests/".to_string()));
    let proxy = FaultProxy::start(registry.port, Faults { hold_manifests: hold, ..Default::default() });
    let file = project.path().join("results.json");
    let args = ["-q", "--workspace", "--push", &format!("{}/acme:1", proxy.host()), "--metadata-file"];
    let mut args = args.to_vec();
    args.push(file.to_str().unwrap());
    let run = cli_push(&project, &args, &[], "").ok();
    assert!(!proxy.held_too_long(), "alpha's manifest waited for beta's in vain: the images were pushed in turn");
    let names: Vec<&str> = run.stdout.lines().map(|l| l.split('@').next().unwrap()).collect();
    let host = proxy.host();
    assert_eq!(names, [format!("{host}/acme/alpha:1"), format!("{host}/acme/beta:1")], "{}", run.stdout);
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let bins: Vec<&str> =
        results["destinations"].as_array().unwrap().iter().map(|d| d["bin"].as_str().unwrap()).collect();
    assert_eq!(bins, ["alpha", "beta"], "{results}");
    for line in run.stdout.lines() {
        let digest = line.rsplit('@').next().unwrap();
        let tagged = line.split('@').next().unwrap().replace(&format!("{host}/"), "");
        assert_eq!(skopeo_digest(&registry, &tagged, &["--tls-verify=false"]), digest, "{line}");
    }
}

/// The check and the push share the run's session: one token serves both.
#[test]
fn the_token_the_check_gets_serves_the_push() {
    let registry = Registry::token(CANARY_USER, CANARY_PASSWORD);
    let host = registry.host();
    let project = common::Project::copy("hello");
    // No documents: their referrers are read with a scope of their own, which needs a token of its own.
    let args = ["-v", "--no-sbom", "--no-provenance", "--push", &format!("{host}/app:1")];
    let run = cli_push(&project, &args, &common::canary_env(&host), "").ok();
    // Distribution wants a `delete` grant to cancel an upload, which a push token does not
    // carry: the upload expires there.
    let wanted =
        format!("{host}/app: may be pushed to; the upload started to check it was not cancelled (it answered 401)");
    assert!(run.stderr.contains(&wanted), "{}", run.stderr);
    let server = registry.token_server.as_ref().unwrap();
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 1, "{:?}", server.scopes());
    let login = format!("{CANARY_USER}:{CANARY_PASSWORD}");
    let digest = run.stdout.trim().rsplit('@').next().unwrap().to_string();
    assert_eq!(skopeo_digest(&registry, "app:1", &["--tls-verify=false", "--creds", &login]), digest);
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `--username` with a private `--base` and no push: the credentials are for the base's
/// registry (they were once dropped, and the run then suggested `--username`).
#[test]
fn explicit_credentials_with_a_private_base_and_no_push_are_for_the_base() {
    use common::bases;
    let registry = Registry::htpasswd(CANARY_USER, CANARY_PASSWORD);
    let layout = tempfile::tempdir().unwrap();
    bases::write_layout(layout.path(), "base", &bases::tiny(serde_json::json!({"Env": [bases::PATH]})));
    let creds = format!("{CANARY_USER}:{CANARY_PASSWORD}");
    bases::copy(layout.path(), "base", &format!("docker://{}/base/tiny:1", registry.host()), &["--dest-creds", &creds]);
    let project = common::Project::copy("hello");
    let base = format!("{}/base/tiny:1", registry.host());
    let args = ["--username", CANARY_USER, "--password-stdin", "--base", &base, "-o", "out"];
    let run = cli_push(&project, &args, &[], &format!("{CANARY_PASSWORD}\n")).ok();
    assert!(run.stdout.starts_with("out sha256:"), "{}", run.stdout);
    let manifest = common::layout_manifest(&project.path().join("out"));
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.name"], base.as_str());
    // The same from the CI variables, with no CARGO_CONTAINERIZE_REGISTRY.
    let ci = [
        ("CARGO_CONTAINERIZE_USERNAME", CANARY_USER.to_string()),
        ("CARGO_CONTAINERIZE_PASSWORD", CANARY_PASSWORD.to_string()),
        ("CARGO_CONTAINERIZE_REGISTRY", String::new()),
    ];
    cli_push(&project, &["--base", &base, "-o", "out-ci"], &ci, "").ok();
}
