//! `base`: building on an image (registry, `oci:` layout, Docker engine) with bases made
//! here from Debian packages, pushed into real registries and run in a real engine.

mod common;

use common::bases::{self, copy, write_layout};
use common::fault_proxy::{FaultProxy, Faults, Kind};
use common::registry::Registry;
use common::{docker_inspect, docker_run, tool, unique_name, DockerImages, Engine, Project, HELLO_MARKER};
use serde_json::Value;
use std::path::Path;

const GNU: &str = "x86_64-unknown-linux-gnu";

/// A base written as a layout and pushed to `registry` as `repo:tag`; the layout is kept.
fn push_base(registry: &str, repo_tag: &str, images: &[bases::ImageSpec]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let digest = write_layout(dir.path(), "base", images);
    copy(dir.path(), "base", &format!("docker://{registry}/{repo_tag}"), &[]);
    (dir, digest)
}

/// The raw manifest a registry serves.
fn raw_manifest(reference: &str) -> Value {
    let out = tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")]).stdout;
    serde_json::from_str(&out).unwrap()
}

/// Nothing was compiled: the run failed before `cargo build`.
fn nothing_built(p: &Project) {
    for triple in ["x86_64-unknown-linux-musl", GNU] {
        assert!(!p.path().join("target").join(triple).exists(), "{triple} was built");
    }
}

#[test]
fn a_gnu_binary_runs_on_the_cc_base_and_the_image_records_its_base() {
    let reg = Registry::plain();
    let (_layout, base_digest) = push_base(&reg.host(), "base/cc:12", &bases::cc(false));
    let p = Project::copy("hello");
    let name = unique_name("gnu-cc");
    let _cleanup = DockerImages(vec![name.clone()]);
    let base = format!("{}/base/cc:12", reg.host());
    let push = format!("{}/app:1", reg.host());
    let run = p.run(&["--target", GNU, "--base", &base, "--push", &push, "--tag", &name]).ok();
    assert!(run.stderr.contains(&format!("    Building on {base} ({base_digest})")), "{}", run.stderr);
    assert!(docker_run(&name, &[]).contains(HELLO_MARKER));
    let manifest = raw_manifest(&push);
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.name"], base);
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.digest"], base_digest);
    // The base's two layers come first, unchanged, then ours (no users layer on a base).
    let base_manifest = raw_manifest(&base);
    assert_eq!(manifest["layers"][0], base_manifest["layers"][0]);
    assert_eq!(manifest["layers"][1], base_manifest["layers"][1]);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
}

/// Issue 20 §4: a push on a base uses one async runtime and one HTTP client for the base's
/// resolution, the fit check's download, the upload begun while compressing and the push,
/// and one session per registry (it once made four of each).
#[test]
fn a_push_on_a_base_makes_one_runtime_one_client_and_a_session_per_registry() {
    let (from, to) = (Registry::plain(), Registry::plain());
    push_base(&from.host(), "base/cc:12", &bases::cc(false));
    let p = Project::copy("hello");
    let base = format!("{}/base/cc:12", from.host());
    let run = p.run(&["-v", "--target", GNU, "--base", &base, "--push", &format!("{}/app:1", to.host())]).ok();
    assert!(run.stderr.contains(" Downloading "), "the fit check downloads the base's layers: {}", run.stderr);
    assert!(
        run.stderr.contains("registry clients this run: 1 async runtime, 1 HTTP client, 2 registry sessions"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_base_without_libgcc_fails_naming_the_library_and_a_base_that_has_it() {
    let reg = Registry::plain();
    push_base(&reg.host(), "base/libc-only:12", &bases::cc(true));
    let p = Project::copy("hello");
    let base = format!("{}/base/libc-only:12", reg.host());
    let run = p.run(&["--target", GNU, "--base", &base, "--output", "out"]).failed();
    assert!(run.stderr.contains("it needs libgcc_s.so.1, which the base does not have"), "{}", run.stderr);
    assert!(run.stderr.contains("distroless/cc-debian12") && run.stderr.contains("musl"), "{}", run.stderr);
    assert!(!p.path().join("out").exists(), "nothing is written");
}

#[test]
fn an_old_glibc_base_fails_naming_the_version_needed_and_the_one_it_has() {
    let reg = Registry::plain();
    push_base(&reg.host(), "base/bullseye:11", &bases::old_glibc());
    let p = Project::copy("hello");
    let base = format!("{}/base/bullseye:11", reg.host());
    let run = p.run(&["--target", GNU, "--base", &base, "--output", "out"]).failed();
    assert!(run.stderr.contains("GLIBC_2.34"), "{}", run.stderr);
    assert!(run.stderr.contains("the base's libc.so.6 is glibc 2.31"), "{}", run.stderr);
    assert!(run.stderr.contains("newer glibc"), "{}", run.stderr);
}

#[test]
fn the_debug_base_has_a_shell_and_its_config_is_inherited_field_by_field() {
    let reg = Registry::plain();
    let (_layout, _) = push_base(&reg.host(), "base/debug:1", &bases::debug(&["amd64"]));
    let p = Project::copy("hello");
    let name = unique_name("debug");
    let _cleanup = DockerImages(vec![name.clone()]);
    let base = format!("{}/base/debug:1", reg.host());
    let args =
        ["--base", &base, "--tag", &name, "--env", "SHARED=ours", "--label", "shared.label=ours", "--expose", "8080"];
    p.run(&args).ok();
    // A musl binary on the debug base runs; so does the base's shell.
    assert!(docker_run(&name, &[]).contains(HELLO_MARKER));
    let shell = tool(
        "docker",
        &["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", &name, "-c", "echo shell works; pwd; id -u"],
    );
    assert_eq!(shell.stdout, "shell works\n/srv\n1000\n");
    let c = &docker_inspect(&name)["Config"];
    let env: Vec<&str> = c["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(env.contains(&"PATH=/usr/local/bin:/usr/bin:/bin:/base/bin"), "the base's PATH: {env:?}");
    assert!(env.contains(&"BASE_VAR=from-base") && env.contains(&"SHARED=ours"), "{env:?}");
    assert!(!env.contains(&"SHARED=base"), "ours wins: {env:?}");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["Labels"]["base.label"], "kept");
    assert_eq!(c["Labels"]["shared.label"], "ours");
    assert!(c["ExposedPorts"].get("9000/tcp").is_some() && c["ExposedPorts"].get("8080/tcp").is_some());
    assert_eq!(c["Entrypoint"], Value::Null, "the base's entrypoint is replaced");
    assert_eq!(c["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(c["StopSignal"], "SIGINT", "what we do not set is kept");
    let history = tool("docker", &["history", "-q", "--no-trunc", &name]).stdout;
    assert_eq!(history.lines().count(), 2, "the base's layer and our binary's: {history}");
}

#[test]
fn oci_layout_and_docker_engine_bases_work() {
    let layout = tempfile::tempdir().unwrap();
    write_layout(layout.path(), "12", &bases::cc(false));
    let p = Project::copy("hello");
    let (from_layout, from_engine, engine_base) =
        (unique_name("oci-base"), unique_name("engine-base"), unique_name("cc"));
    let _cleanup = DockerImages(vec![from_layout.clone(), from_engine.clone(), format!("{engine_base}:12")]);
    let oci = format!("oci:{}:12", layout.path().display());
    let run = p.run(&["--target", GNU, "--base", &oci, "--tag", &from_layout]).ok();
    assert!(docker_run(&from_layout, &[]).contains(HELLO_MARKER));
    // The host path of the layout is not recorded.
    let m = layout_manifest_built_on(&p, &oci);
    let dir_name = layout.path().file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(m["annotations"]["org.opencontainers.image.base.name"], format!("oci:{dir_name}:12"), "{}", run.stderr);
    copy(layout.path(), "12", &format!("docker-daemon:{engine_base}:12"), &[]);
    let first = p.run(&["--target", GNU, "--base", &format!("docker:{engine_base}:12"), "--tag", &from_engine]).ok();
    assert!(first.stderr.contains("   Exporting "), "{}", first.stderr);
    assert!(docker_run(&from_engine, &[]).contains(HELLO_MARKER));
    // The engine's image, once imported, is recalled by its ID; skopeo's name for the engine
    // means it too, and is recorded as docker: (the same image).
    let again =
        p.run(&["--target", GNU, "--base", &format!("docker-daemon:{engine_base}:12"), "--tag", &from_engine]).ok();
    assert!(!again.stderr.contains("Exporting"), "{}", again.stderr);
    assert_eq!(first.stdout, again.stdout, "same base, same sources: same image");
}

/// The manifest of the image built on `base` into an OCI layout.
fn layout_manifest_built_on(p: &Project, base: &str) -> Value {
    let out = p.path().join("layout-out");
    p.run(&["--target", GNU, "--base", base, "--output", out.to_str().unwrap()]).ok();
    common::layout_manifest(&out)
}

#[test]
fn the_arm64_half_of_a_two_platform_base_runs_under_qemu() {
    let reg = Registry::plain();
    push_base(&reg.host(), "base/debug:multi", &bases::debug(&["amd64", "arm64"]));
    let p = Project::copy("hello");
    let base = format!("{}/base/debug:multi", reg.host());
    let push = format!("{}/app:multi", reg.host());
    let first = p.run(&["--platform", "linux/amd64,linux/arm64", "--base", &base, "--push", &push]).ok();
    let index = raw_manifest(&push);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let _cleanup = DockerImages(vec![push.clone()]);
    tool("docker", &["pull", "-q", "--platform", "linux/arm64", &push]);
    let out = tool(
        "docker",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--platform",
            "linux/arm64",
            "--entrypoint",
            "/bin/sh",
            &push,
            "-c",
            "uname -m; /hello",
        ],
    )
    .stdout;
    assert!(out.starts_with("aarch64\n") && out.contains(HELLO_MARKER), "{out}");
    // Reproducible: the same base digest and sources give the same index digest.
    let second = p.run(&["--platform", "linux/amd64,linux/arm64", "--base", &base, "--push", &push]).ok();
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn a_platform_the_base_lacks_lists_the_ones_it_has_before_the_build() {
    let reg = Registry::plain();
    push_base(&reg.host(), "base/debug:multi", &bases::debug(&["amd64", "arm64"]));
    push_base(&reg.host(), "base/cc:12", &bases::cc(false));
    let p = Project::copy("hello");
    let run = p
        .run(&["--platform", "linux/amd64,linux/arm/v7", "--base", &format!("{}/base/debug:multi", reg.host())])
        .failed();
    assert!(run.stderr.contains("has no image for linux/arm/v7; it has: linux/amd64, linux/arm64"), "{}", run.stderr);
    let run =
        p.run(&["--platform", "linux/amd64,linux/arm64", "--base", &format!("{}/base/cc:12", reg.host())]).failed();
    assert!(run.stderr.contains("has no image for linux/arm64; it has: linux/amd64"), "{}", run.stderr);
    nothing_built(&p);
}

#[test]
fn a_second_build_makes_no_blob_request_and_a_pinned_base_builds_offline() {
    let reg = Registry::plain();
    let (_layout, digest) = push_base(&reg.host(), "base/cc:12", &bases::cc(false));
    let proxy = FaultProxy::start(reg.port, Faults::default());
    let p = Project::copy("hello");
    let base = format!("{}/base/cc@{digest}", proxy.host());
    let first = p.run(&["--target", GNU, "--base", &base, "--output", "one"]).ok();
    assert!(proxy.count(Kind::BlobGet) >= 3, "config and two layers were downloaded: {:?}", proxy.seen());
    let before = proxy.seen().len();
    let second = p.run(&["--target", GNU, "--base", &base, "--output", "two"]).ok();
    assert_eq!(proxy.seen().len(), before, "no request at all: {:?}", &proxy.seen()[before..]);
    assert_eq!(first.digest(), second.digest());
    drop(proxy);
    let offline = p.run(&["--offline", "--target", GNU, "--base", &base, "--output", "three"]).ok();
    assert_eq!(offline.digest(), first.digest());
    // From an empty store, offline, the base is missing: said, with the fix.
    let fresh = tempfile::tempdir().unwrap();
    let args = ["--offline", "--target", GNU, "--base", &base, "--output", "four"];
    let empty = common::Run::of(p.cmd().env("XDG_CACHE_HOME", fresh.path()).args(args)).failed();
    assert!(
        empty.stderr.contains("is not in the cache") && empty.stderr.contains("without --offline"),
        "{}",
        empty.stderr
    );
    // A tag cannot be resolved offline: the error says to pin it.
    let tagged = p.run(&["--offline", "--target", GNU, "--base", &format!("{}/base/cc:12", reg.host())]).failed();
    assert!(
        tagged.stderr.contains("--offline cannot resolve a tag") && tagged.stderr.contains("@sha256:"),
        "{}",
        tagged.stderr
    );
}

#[test]
fn a_push_to_the_registry_holding_the_base_downloads_no_base_layer() {
    let reg = Registry::plain();
    push_base(&reg.host(), "base/debug:1", &bases::debug(&["amd64"]));
    let proxy = FaultProxy::start(reg.port, Faults::default());
    let p = Project::copy("hello");
    let base = format!("{}/base/debug:1", proxy.host());
    let push = format!("{}/team/app:1", proxy.host());
    p.run(&["--base", &base, "--push", &push]).ok();
    let layer_gets = proxy.seen().iter().filter(|s| s.kind == Kind::BlobGet).count();
    assert_eq!(layer_gets, 1, "only the base's config was read: {:?}", proxy.seen());
    assert!(proxy.count(Kind::UploadStart) >= 1);
    // The image is whole: the base's layer was mounted from its repository.
    let name = format!("{}/team/app:1", reg.host());
    let _cleanup = DockerImages(vec![name.clone()]);
    tool("docker", &["pull", "-q", &name]);
    assert!(docker_run(&name, &[]).contains(HELLO_MARKER));
}

#[test]
fn a_push_to_another_registry_streams_the_base_from_the_cache() {
    let (base_reg, target) = (Registry::plain(), Registry::plain());
    push_base(&base_reg.host(), "base/cc:12", &bases::cc(false));
    let p = Project::copy("hello");
    let push = format!("{}/app:1", target.host());
    p.run(&["--target", GNU, "--base", &format!("{}/base/cc:12", base_reg.host()), "--push", &push]).ok();
    let _cleanup = DockerImages(vec![push.clone()]);
    tool("docker", &["pull", "-q", &push]);
    assert!(docker_run(&push, &[]).contains(HELLO_MARKER));
}

#[test]
fn a_corrupt_blob_from_the_registry_is_refused_naming_both_digests() {
    let reg = Registry::plain();
    let (layout, _) = push_base(&reg.host(), "base/debug:1", &bases::debug(&["amd64"]));
    let manifest = common::layout_manifest(layout.path());
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let data = reg.dir.path().join(format!("storage/docker/registry/v2/blobs/sha256/{}/{layer}/data", &layer[..2]));
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let p = Project::copy("hello");
    let run = p.run(&["--base", &format!("{}/base/debug:1", reg.host()), "--output", "out"]).failed();
    assert!(run.stderr.contains(&format!("but blob sha256:{layer} was asked for")), "{}", run.stderr);
    assert!(run.stderr.contains("whose digest is sha256:"), "{}", run.stderr);
    assert!(!p.path().join("out").exists());
    // Nothing corrupt is kept: the cache has no file under the layer's name.
    assert!(!p.path().join(".home/cache/cargo-containerize/blobs/sha256").join(&layer).exists());
}

#[test]
fn a_corrupt_cache_entry_is_detected_and_fetched_again() {
    let reg = Registry::plain();
    let (_layout, digest) = push_base(&reg.host(), "base/debug:1", &bases::debug(&["amd64"]));
    let p = Project::copy("hello");
    let base = format!("{}/base/debug@{digest}", reg.host());
    let first = p.run(&["--base", &base, "--output", "one"]).ok();
    let blobs = p.path().join(".home/cache/cargo-containerize/blobs/sha256");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        damaged += 1;
    }
    assert!(damaged >= 3, "manifest, config, layer");
    let second = p.run(&["--base", &base, "--output", "two"]).ok();
    assert_eq!(first.digest(), second.digest());
    let one = p.path().join("one");
    let two = p.path().join("two");
    assert_eq!(std::fs::read(one.join("index.json")).unwrap(), std::fs::read(two.join("index.json")).unwrap());
}

#[test]
fn a_token_registry_that_allows_pull_only_serves_the_base() {
    let base_reg = Registry::token("reader", "s3cret");
    let target = Registry::plain();
    // Pushed as the full-rights user first, then the account becomes read-only.
    let layout = tempfile::tempdir().unwrap();
    write_layout(layout.path(), "base", &bases::debug(&["amd64"]));
    copy(
        layout.path(),
        "base",
        &format!("docker://{}/base/debug:1", base_reg.host()),
        &["--dest-creds", "reader:s3cret"],
    );
    base_reg.token_server.as_ref().unwrap().pull_only();
    let p = Project::copy("hello");
    let auth = base64_of("reader:s3cret");
    std::fs::write(
        p.docker_config().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, base_reg.host()),
    )
    .unwrap();
    let push = format!("{}/app:1", target.host());
    p.run(&["--base", &format!("{}/base/debug:1", base_reg.host()), "--push", &push]).ok();
    let scopes = base_reg.token_server.as_ref().unwrap().scopes();
    assert!(scopes.iter().any(|s| s == "repository:base/debug:pull"), "{scopes:?}");
    let _cleanup = DockerImages(vec![push.clone()]);
    tool("docker", &["pull", "-q", &push]);
    assert!(docker_run(&push, &[]).contains(HELLO_MARKER));
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn a_gnu_binary_on_scratch_is_refused_with_the_base_as_a_fix() {
    let p = Project::copy("hello");
    let run = p.run(&["--target", GNU, "--output", "out"]).failed();
    assert!(run.stderr.contains("dynamically linked") && run.stderr.contains("libc.so.6"), "{}", run.stderr);
    assert!(run.stderr.contains("--base REGISTRY/REPO:TAG") && run.stderr.contains("musl"), "{}", run.stderr);
    assert!(!p.path().join("out").exists());
}

#[test]
fn bad_bases_fail_before_the_build_with_the_fix() {
    let reg = Registry::plain();
    push_base(&reg.host(), "base/cc:12", &bases::cc(false));
    let p = Project::copy("hello");
    let check = |args: &[&str], wanted: &[&str]| {
        let run = p.run(args).failed();
        for w in wanted {
            assert!(run.stderr.contains(w), "{args:?}: wanted {w:?} in\n{}", run.stderr);
        }
    };
    check(&["--base", "docker-archive:/tmp/x.tar"], &["`docker load -i /tmp/x.tar`", "docker:NAME[:TAG]"]);
    check(&["--base", "oci-archive:/tmp/x.tar:1"], &["`mkdir base && tar -xf /tmp/x.tar -C base`, then oci:base:1"]);
    // A base that is not there: the registry is asked which part of the name is wrong.
    let host = reg.host();
    check(
        &["--base", &format!("{host}/base/cc:nope")],
        &[&format!("is not there: {host}/base/cc has no tag nope; its tags: 12"), "name one of its tags"],
    );
    check(
        &["--base", &format!("{host}/base/nope:12")],
        &[&format!("is not there: {host} has no repository base/nope"), "check the repository's name"],
    );
    // 401 from a token registry without credentials, 403 from a registry that refuses.
    let token = Registry::token("u", "p");
    check(&["--base", &format!("{}/base/cc:12", token.host())], &["401", "docker login"]);
    let forbidding = common::hostile::Scripted::start(|req, _| {
        if req.target == "/v2/" {
            common::hostile::Response::new(200)
        } else {
            common::hostile::Response::new(403).json(r#"{"errors":[{"code":"DENIED","message":"no pull for you"}]}"#)
        }
    });
    check(&["--base", &format!("{}/base/cc:12", forbidding.host())], &["403", "pull rights"]);
    // An artifact, not an image.
    let artifact = tempfile::tempdir().unwrap();
    write_artifact(artifact.path());
    check(&["--base", &format!("oci:{}:sbom", artifact.path().display())], &["is an artifact", "name an image"]);
    nothing_built(&p);
}

/// An OCI layout whose one manifest is an artifact (its config is not an image config).
fn write_artifact(dir: &Path) {
    use sha2::Digest as _;
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |bytes: &[u8]| {
        let hex = format!("{:x}", sha2::Sha256::digest(bytes));
        std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (cd, cs) = put(b"{}");
    let (ld, ls) = put(b"{\"spdxVersion\":\"SPDX-2.3\"}");
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/spdx+json", "digest": ld, "size": ls}],
    });
    let (md, ms) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
        "annotations": {"org.opencontainers.image.ref.name": "sbom"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

#[test]
fn the_ca_bundle_is_added_only_when_the_base_lacks_one() {
    let layout = tempfile::tempdir().unwrap();
    write_layout(layout.path(), "bare", &bases::debug(&["amd64"]));
    let with_ca = tempfile::tempdir().unwrap();
    let mut images = bases::debug(&["amd64"]);
    images[0].layers[0].files.push(("/etc/ssl/certs/ca-certificates.crt", b"the base's own roots\n"));
    write_layout(with_ca.path(), "ca", &images);
    let p = Project::copy("tls-roots");
    let created_by = |out: &str| -> Vec<String> {
        let m = common::layout_manifest(&p.path().join(out));
        let config: Value =
            serde_json::from_slice(&common::layout_blob(&p.path().join(out), m["config"]["digest"].as_str().unwrap()))
                .unwrap();
        config["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["created_by"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    p.run(&["--base", &format!("oci:{}:bare", layout.path().display()), "--output", "bare"]).ok();
    let history = created_by("bare");
    assert_eq!(history.len(), 3, "{history:?}");
    assert_eq!(history[1], "cargo containerize: CA certificates");
    p.run(&["--base", &format!("oci:{}:ca", with_ca.path().display()), "--output", "ca"]).ok();
    let history = created_by("ca");
    assert_eq!(history.len(), 2, "the base's bundle is kept, none added: {history:?}");
    assert!(!history.iter().any(|h| h.contains("CA certificates")) && !history.iter().any(|h| h.contains("users")));
}

/// Issue 23: a private base refused, with nothing pushed: the error says whose credentials
/// were refused and where they came from (never the secret), and its hint never suggests
/// the very source that was used; explicit credentials are used for the base's host.
#[test]
fn a_private_base_refused_says_whose_credentials_and_never_suggests_them_again() {
    use std::io::Write;
    let reg = Registry::htpasswd("alice", "right-password");
    let host = reg.host();
    let layout = tempfile::tempdir().unwrap();
    write_layout(layout.path(), "base", &bases::tiny(serde_json::json!({})));
    copy(layout.path(), "base", &format!("docker://{host}/base/tiny:1"), &["--dest-creds", "alice:right-password"]);
    let p = Project::copy("hello");
    let base = format!("{host}/base/tiny:1");
    let run = |envs: &[(&str, &str)], args: &[&str], stdin: &str| {
        let mut cmd = p.cmd();
        for name in ["CARGO_CONTAINERIZE_USERNAME", "CARGO_CONTAINERIZE_PASSWORD", "CARGO_CONTAINERIZE_REGISTRY"] {
            cmd.env_remove(name);
        }
        cmd.envs(envs.iter().copied()).args(["--base", &base, "-o", "out"]).args(args);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        common::Run::from_output(child.wait_with_output().unwrap())
    };
    // None: where they were looked for, and every way to give them.
    let none = run(&[], &[], "").failed();
    for wanted in [
        &format!("cannot pull the base image {base}: {host} wants credentials, and this run has none for it"),
        "docker login",
        "--username USER --password-stdin",
    ] {
        assert!(none.stderr.contains(wanted), "{wanted:?} in\n{}", none.stderr);
    }
    // Wrong ones from the environment: named, and not suggested again.
    let env = [
        ("CARGO_CONTAINERIZE_USERNAME", "ci"),
        ("CARGO_CONTAINERIZE_PASSWORD", "Wr0ng-Pa55"),
        ("CARGO_CONTAINERIZE_REGISTRY", host.as_str()),
    ];
    let wrong = run(&env, &[], "").failed();
    let named = format!(
        "{host} refused the credentials from CARGO_CONTAINERIZE_USERNAME and CARGO_CONTAINERIZE_PASSWORD (user \"ci\")"
    );
    assert!(wrong.stderr.contains(&named), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("set CARGO_CONTAINERIZE_USERNAME"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("Wr0ng-Pa55") && !wrong.stderr.contains("<redacted>"), "{}", wrong.stderr);
    // Wrong ones on the command line: the same, for --password-stdin.
    let given = run(&[], &["--username", "ci", "--password-stdin"], "Wr0ng-Pa55\n").failed();
    assert!(
        given.stderr.contains("refused the credentials from --username and --password-stdin (user \"ci\")"),
        "{}",
        given.stderr
    );
    assert!(!given.stderr.contains("pass --username"), "{}", given.stderr);
    nothing_built(&p);
    // The right ones pull the base.
    let ok = run(&[], &["--username", "alice", "--password-stdin"], "right-password\n");
    assert!(ok.status.success(), "{}", ok.stderr);
    assert!(ok.stderr.contains(&format!("Building on {base}")), "{}", ok.stderr);
}

/// Issue 22: a `docker:` base on an engine with the containerd image store: its export is an
/// OCI layout of what the engine keeps (here, the engine's own manifest of plain tar layers,
/// from a `docker load` of a docker-archive), and the base is pinned by the digest the
/// engine reports, its image ID; an unchanged image is not exported again.
#[test]
fn a_docker_base_on_the_containerd_store_is_pinned_by_the_engines_digest() {
    let engine = Engine::Containerd;
    let layout = tempfile::tempdir().unwrap();
    write_layout(layout.path(), "12", &bases::cc(false));
    let base = format!("{}:12", unique_name("d26-cc"));
    let out = format!("{}:1", unique_name("on-d26"));
    let mut cleanup = engine.images(vec![base.clone(), out.clone()]);
    let tar = layout.path().join("cc.tar");
    let src = format!("oci:{}:12", layout.path().display());
    tool("skopeo", &["copy", &src, &format!("docker-archive:{}:{base}", tar.display())]);
    engine.docker(&["load", "-i", tar.to_str().unwrap()]);
    let id = engine.inspect(&base)["Id"].as_str().unwrap().to_string();
    cleanup.images.push(id.clone());
    let p = Project::copy("hello");
    let from = format!("docker:{base}");
    let first = p.run_on(engine, &["--target", GNU, "--base", &from, "-t", &out, "-o", "lay"]).ok();
    assert!(first.stderr.contains("   Exporting "), "{}", first.stderr);
    assert!(first.stderr.contains(&format!("Building on {from} ({id})")), "{}", first.stderr);
    let m = common::layout_manifest(&p.path().join("lay"));
    assert_eq!(m["annotations"]["org.opencontainers.image.base.digest"], id.as_str());
    assert!(engine.run_image(&out, &[]).contains(HELLO_MARKER));
    let again = p.run_on(engine, &["--target", GNU, "--base", &from, "-t", &out, "-o", "lay"]).ok();
    assert!(!again.stderr.contains("Exporting"), "{}", again.stderr);
    assert_eq!(first.stdout, again.stdout, "same base, same sources: same image");
}

/// Issue 22: a multi-platform base pulled into a containerd-store engine for one platform
/// (the usual state of a pulled base): the platform it holds builds, pinned by that
/// platform's manifest; one it lacks fails before the build, saying so and how to pull it;
/// once pulled, both build.
#[test]
fn a_multi_platform_base_pulled_for_one_platform_builds_that_one_and_names_the_others_fix() {
    let engine = Engine::Containerd;
    let reg = Registry::plain();
    let (_layout, _) = push_base(&reg.host(), "base/debug:multi", &bases::debug(&["amd64", "arm64"]));
    let remote = format!("{}/base/debug:multi", reg.host());
    let _cleanup = engine.images(vec![remote.clone()]);
    engine.docker(&["pull", "-q", "--platform", "linux/amd64", &remote]);
    let p = Project::copy("hello");
    let from = format!("docker:{remote}");
    p.run_on(engine, &["-q", "--base", &from, "-o", "amd", "--provenance"]).ok();
    // The provenance records the base as the engine has it, and as its registry does
    // (the engine's `RepoDigests`): the index pushed there.
    let served = tool("sh", &["-c", &format!("skopeo inspect --raw --tls-verify=false docker://{remote} | sha256sum")]);
    let served = served.stdout.split_whitespace().next().unwrap().to_string();
    let index = common::layout_index(&p.path().join("amd"));
    let provenance = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["artifactType"] == "application/vnd.in-toto+json")
        .map(|e| {
            let m: Value =
                serde_json::from_slice(&common::layout_blob(&p.path().join("amd"), e["digest"].as_str().unwrap()))
                    .unwrap();
            let doc = common::layout_blob(&p.path().join("amd"), m["layers"][0]["digest"].as_str().unwrap());
            serde_json::from_slice::<Value>(&doc).unwrap()
        })
        .unwrap();
    let resolved = provenance["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap().clone();
    let repository = remote.rsplit_once(':').unwrap().0;
    assert!(
        resolved.iter().any(|d| d["uri"] == repository && d["digest"]["sha256"] == served.as_str()),
        "{resolved:?}"
    );
    let arm = p.run_on(engine, &["--base", &from, "--platform", "linux/arm64", "-o", "arm"]).failed();
    let said = format!("the Docker engine holds the index of {from}, but not its linux/arm64 image");
    assert!(arm.stderr.contains(&said), "{}", arm.stderr);
    assert!(arm.stderr.contains(&format!("docker pull --platform linux/arm64 {remote}")), "{}", arm.stderr);
    assert!(!p.path().join("target/aarch64-unknown-linux-musl").exists(), "nothing was built for it");
    engine.docker(&["pull", "-q", "--platform", "linux/arm64", &remote]);
    p.run_on(engine, &["-q", "--base", &from, "--platform", "linux/amd64,linux/arm64", "-o", "both"]).ok();
    let index = common::layout_manifest(&p.path().join("both"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
}
