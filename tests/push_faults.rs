//! `--push` under faults, through a fault-injecting proxy of our own in front of a real
//! registry: 503s, a dropped upload, 429 with Retry-After, re-push and interruption.

mod common;

use cargo_containerize::api::Image;
use cargo_containerize::api::Reference;
use cargo_containerize::api::{push_blocking, PushOptions, Tuning};
use cargo_containerize::api::{Event, Progress};
use common::fault_proxy::{FaultProxy, Faults, Kind, Seen};
use common::registry::{skopeo_digest, Registry};
use common::{assert_no_canary, images};
use std::time::{Duration, Instant};

fn push(image: &Image, reference: &str) -> (Result<String, String>, Vec<Event>) {
    push_with(image, reference, &PushOptions::default())
}

/// Pushes one reference through the library; no form of the canary may show in the
/// result or the events.
fn push_with(image: &Image, reference: &str, opts: &PushOptions) -> (Result<String, String>, Vec<Event>) {
    let progress = Progress::hidden();
    let refs = [Reference::parse(reference).unwrap()];
    let result = push_blocking(image, &refs, opts, &progress).pop().unwrap();
    let result = result.map(|d| d.to_string()).map_err(|e| e.to_string());
    let events = progress.events();
    assert_no_canary(&[&format!("{result:?} {events:?}")], &[]);
    (result, events)
}

fn uploads(proxy: &FaultProxy) -> usize {
    proxy.count(Kind::UploadStart) + proxy.count(Kind::UploadPatch) + proxy.count(Kind::UploadPut)
}

fn faulty_push(registry: &Registry, image: &Image) -> FaultProxy {
    let faults = Faults { every_nth_503: Some(3), drop_one_upload: true, manifest_429: true, ..Default::default() };
    let proxy = FaultProxy::start(registry.port, faults);
    let started = Instant::now();
    let (result, events) = push(image, &format!("{}/faulty:1", proxy.host()));
    assert_eq!(result.as_deref(), Ok(image.digest().unwrap().as_str()), "events: {events:?}\nseen: {:?}", proxy.seen());
    let seen = proxy.seen();
    assert!(seen.iter().filter(|s| s.injected && s.status == 503).count() >= 3, "{seen:?}");
    assert!(seen.iter().any(|s| s.injected && s.status == 0), "no upload was dropped: {seen:?}");
    assert!(seen.iter().any(|s| s.injected && s.status == 429 && s.kind == Kind::ManifestPut), "{seen:?}");
    assert!(events.iter().any(|e| matches!(e, Event::Retrying { .. })), "{events:?}");
    // Retry-After: 1 was honoured.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(skopeo_digest(registry, "faulty:1", &["--tls-verify=false"]), image.digest().unwrap().to_string());
    proxy
}

#[test]
fn push_survives_503s_a_dropped_upload_and_429() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let image = images::image_with(dir.path(), "faults", 2 << 20);
    faulty_push(&registry, &image);
}

#[test]
fn push_survives_faults_docker_run() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let image = images::image_with(dir.path(), "faults-docker", 2 << 20);
    faulty_push(&registry, &image);
    let name = format!("{}/faulty:1", registry.host());
    let _cleanup = common::DockerImages(vec![name.clone()]);
    common::tool("docker", &["pull", &name]);
    let out = common::docker_run(&name, &[]);
    assert!(out.contains(common::HELLO_MARKER), "{out}");
}

#[test]
fn repush_of_an_unchanged_image_uploads_no_blob() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let image = images::image_with(dir.path(), "repush", 1 << 20);
    let first = FaultProxy::start(registry.port, Faults::default());
    let (result, _) = push(&image, &format!("{}/again:1", first.host()));
    assert_eq!(result.as_deref(), Ok(image.digest().unwrap().as_str()));
    assert_eq!(first.count(Kind::UploadStart), image.blobs().unwrap().len(), "{:?}", first.seen());

    // The tag names this very manifest already: nothing is checked blob by blob, nothing
    // written; one HEAD of the tag.
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let (result, events) = push(&image, &format!("{}/again:1", proxy.host()));
    assert_eq!(result.as_deref(), Ok(image.digest().unwrap().as_str()));
    assert_eq!(uploads(&proxy), 0, "{:?}", proxy.seen());
    assert_eq!(proxy.count(Kind::BlobHead) + proxy.count(Kind::ManifestPut), 0, "{:?}", proxy.seen());
    assert_eq!(proxy.count(Kind::ManifestGet), 1, "{:?}", proxy.seen());
    assert!(events.is_empty(), "{events:?}");

    // Under a new tag, each blob is found there, and the manifest is written.
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let (result, events) = push(&image, &format!("{}/again:2", proxy.host()));
    assert_eq!(result.as_deref(), Ok(image.digest().unwrap().as_str()));
    assert_eq!(uploads(&proxy), 0, "{:?}", proxy.seen());
    assert_eq!(proxy.count(Kind::BlobHead), image.blobs().unwrap().len());
    assert_eq!(proxy.count(Kind::ManifestPut), 1);
    let skipped = events.iter().filter(|e| matches!(e, Event::Skipped { .. })).count();
    assert_eq!(skipped, image.blobs().unwrap().len(), "{events:?}");
}

/// A registry that answers no `HEAD` of a manifest: a re-push cannot learn that the tag
/// names the image already, and pushes it in full; the documents, listed in the tag
/// schema's index (read by `GET`), are found there. It never fails for it.
#[test]
fn a_registry_that_refuses_manifest_heads_still_takes_every_push() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults { refuse_manifest_heads: true, ..Default::default() });
    let p = common::Project::copy("with-deps");
    let reference = format!("{}/noheads:1", proxy.host());
    for (attached, there) in [(3, 0), (0, 3)] {
        let before = proxy.seen().len();
        let run = p.run(&["-v", "--push", &reference]).ok();
        assert_eq!(run.stderr.matches("    Attached ").count(), attached, "{}", run.stderr);
        assert_eq!(run.stderr.matches(": already attached").count(), there, "{}", run.stderr);
        let digest = run.stdout.trim().rsplit('@').next().unwrap().to_string();
        assert_eq!(skopeo_digest(&registry, "noheads:1", &["--tls-verify=false"]), digest);
        let seen = &proxy.seen()[before..];
        let puts = seen.iter().filter(|s| s.kind == Kind::ManifestPut).count();
        // The image's manifest each time (its tag could not be asked about); the three
        // documents and the tag schema's index the first time only.
        assert_eq!(puts, if attached > 0 { 5 } else { 1 }, "{seen:?}");
    }
    let refused = proxy.seen().iter().filter(|s| s.kind == Kind::ManifestGet && s.status == 405).count();
    assert!(refused >= 2, "the tag was asked about each time: {:?}", proxy.seen());
}

/// A CLI push killed while the big layer is stuck mid-body; the next run uploads only what
/// did not reach the registry.
#[test]
fn interrupted_push_resumes_and_reuses_what_reached_the_registry() {
    let registry = Registry::plain();
    let p = common::Project::copy("hello");
    std::fs::write(p.path().join("big.bin"), images::noise(24 << 20, "big")).unwrap();
    let stalling = FaultProxy::start(registry.port, Faults { stall_after_bytes: Some(6 << 20), ..Default::default() });
    let args = |proxy: &FaultProxy| {
        [
            "--include".to_string(),
            "big.bin:/data.bin".to_string(),
            // Requests are counted below: no documents attached.
            "--no-sbom".to_string(),
            "--no-provenance".to_string(),
            "--push".to_string(),
            format!("{}/big:1", proxy.host()),
        ]
    };
    let mut process = p
        .cmd()
        .args(args(&stalling))
        .envs(common::canary_env(&stalling.host()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill once the big layer is stuck mid-body and the three small blobs are in: config,
    // base layer, and the binary's layer (uploaded while it was compressed).
    let small_done = |seen: &[Seen]| seen.iter().filter(|s| s.kind == Kind::UploadPut && s.status == 201).count() == 3;
    let ready = stalling.wait_until(Duration::from_secs(120), |seen, stalled| stalled && small_done(seen));
    process.kill().unwrap();
    let output = process.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(ready, "never stalled with the small blobs in: {:?}\n{stderr}", stalling.seen());
    assert!(stdout.is_empty(), "the push finished before the kill: {stdout}");
    assert_no_canary(&[&stdout, &stderr], &[p.path()]);
    drop(stalling);

    let proxy = FaultProxy::start(registry.port, Faults::default());
    let run = common::Run::of(p.cmd().args(args(&proxy)).envs(common::canary_env(&proxy.host()))).ok();
    assert_no_canary(&[&run.stdout, &run.stderr], &[p.path()]);
    assert_eq!(proxy.blobs_found(), 3, "config, base and binary layers exist: {:?}", proxy.seen());
    assert!(run.stderr.contains("     Skipped sha256:"), "{}", run.stderr);
    assert_eq!(proxy.count(Kind::UploadStart), 1, "only the big layer uploads again: {:?}", proxy.seen());
    let digest = run.stdout.trim().rsplit('@').next().unwrap().to_string();
    assert_eq!(skopeo_digest(&registry, "big:1", &["--tls-verify=false"]), digest);
}

#[test]
fn chunked_upload_with_small_chunks_round_trips() {
    let registry = Registry::plain();
    // The second chunk is refused with 416: the client asks the registry where it stands.
    let proxy = FaultProxy::start(registry.port, Faults { range_416_once: true, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let image = images::image_with(dir.path(), "chunked", 1 << 20);
    let tuning = Tuning { force_chunked: true, chunk_size: 300_000, ..Tuning::default() };
    let opts = PushOptions { tuning, ..Default::default() };
    let (result, _) = push_with(&image, &format!("{}/chunked:1", proxy.host()), &opts);
    assert_eq!(result.as_deref(), Ok(image.digest().unwrap().as_str()));
    // The 1 MiB layer went up in 4 PATCHes of at most 300000 bytes, the config in 1.
    assert!(proxy.count(Kind::UploadPatch) >= 5, "{:?}", proxy.seen());
    assert!(proxy.seen().iter().any(|s| s.injected && s.status == 416), "{:?}", proxy.seen());
    assert!(proxy.count(Kind::UploadStatus) >= 1, "no GET of the upload status after 416: {:?}", proxy.seen());
    assert_eq!(skopeo_digest(&registry, "chunked:1", &["--tls-verify=false"]), image.digest().unwrap().to_string());
}

#[test]
fn stalled_upload_times_out_and_restarts_from_head() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults { stall_after_bytes: Some(1 << 20), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let image = images::image_with(dir.path(), "stall", 4 << 20);
    let opts =
        PushOptions { tuning: Tuning { stall: Duration::from_secs(1), ..Tuning::default() }, ..Default::default() };
    let (result, events) = push_with(&image, &format!("{}/stall:1", proxy.host()), &opts);
    assert_eq!(result.as_deref(), Ok(image.digest().unwrap().as_str()), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, Event::Retrying { reason, .. } if reason.contains("stalled"))),
        "{events:?}"
    );
    // Config, hello layer and the data layer, plus the data layer again after the stall.
    assert_eq!(proxy.count(Kind::BlobHead), 4, "{:?}", proxy.seen());
    assert_eq!(proxy.count(Kind::UploadStart), 4, "{:?}", proxy.seen());
}

#[test]
fn registry_refusing_oci_manifests_gets_docker_v2_schema_2() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "docker-types");
    let proxy = FaultProxy::start(registry.port, Faults { refuse_oci_manifests: true, ..Default::default() });
    let (result, _) = push(&image, &format!("{}/dockertypes:1", proxy.host()));
    let docker = image.manifest_as(cargo_containerize::api::MediaTypes::Docker).unwrap();
    assert_eq!(result.as_deref(), Ok(docker.digest.as_str()));
    assert_eq!(proxy.count(Kind::ManifestPut), 2, "{:?}", proxy.seen());
    let raw = common::tool(
        "skopeo",
        &["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/dockertypes:1", registry.host())],
    )
    .stdout;
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(manifest["mediaType"], cargo_containerize::api::MEDIA_TYPE_DOCKER_MANIFEST);
    assert_eq!(skopeo_digest(&registry, "dockertypes:1", &["--tls-verify=false"]), docker.digest.to_string());
}

#[test]
fn credentials_never_go_to_an_upload_location_on_another_host() {
    use base64::Engine;
    let registry = Registry::htpasswd("erin", "erin-Secret");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("erin:erin-Secret"));
    // The "storage host": another origin that authorizes requests itself, as presigned URLs do.
    let storage = FaultProxy::start(registry.port, Faults { inject_authorization: Some(basic), ..Default::default() });
    let front =
        FaultProxy::start(registry.port, Faults { upload_location_port: Some(storage.port), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "elsewhere");
    let progress = Progress::hidden();
    let opts = PushOptions {
        credentials: vec![(front.host(), cargo_containerize::api::Credentials::basic("erin", "erin-Secret"))],
        ..Default::default()
    };
    let refs = [Reference::parse(&format!("{}/elsewhere:1", front.host())).unwrap()];
    let result = push_blocking(&image, &refs, &opts, &progress).pop().unwrap();
    assert_eq!(
        result.map(|d| d.to_string()).map_err(|e| e.to_string()).as_deref(),
        Ok(image.digest().unwrap().as_str())
    );
    assert_eq!(storage.count(Kind::UploadPut), 2, "uploads went to the storage host: {:?}", storage.seen());
    assert_eq!(storage.authorized_uploads(), 0, "credentials leaked to another host");
    assert!(front.count(Kind::BlobHead) == 2 && front.count(Kind::ManifestPut) == 1, "{:?}", front.seen());
}

#[test]
fn http_proxy_variables_are_honoured_except_for_loopback() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults::default());
    // A name only the proxy can reach (it forwards everything to the registry).
    let remote = format!("registry.invalid:{}", registry.port);
    let p = common::Project::copy("hello");
    let run = common::Run::of(
        p.cmd()
            .envs([
                ("HTTP_PROXY", format!("http://{}", proxy.host())),
                ("http_proxy", format!("http://{}", proxy.host())),
                ("NO_PROXY", String::new()),
                ("no_proxy", String::new()),
            ])
            .envs(common::canary_env("canary.invalid"))
            .args(["--insecure-registry", &remote, "--no-sbom", "--no-provenance"])
            .args(["--push", &format!("{remote}/proxied:1"), "--push", &format!("{}/direct:1", registry.host())]),
    )
    .ok();
    assert_no_canary(&[&run.stdout, &run.stderr], &[p.path()]);
    // Only the remote reference went through the proxy; the loopback one went direct.
    assert_eq!(proxy.count(Kind::ManifestPut), 1, "{:?}", proxy.seen());
    assert!(proxy.count(Kind::UploadPut) >= 1, "{:?}", proxy.seen());
    assert_eq!(
        skopeo_digest(&registry, "direct:1", &["--tls-verify=false"]),
        skopeo_digest(&registry, "proxied:1", &["--tls-verify=false"])
    );
}

#[test]
fn unauthorized_mid_push_merges_the_scope_and_renews_the_token_once() {
    let registry = Registry::token("frank", "frank-pass");
    let server = registry.token_server.as_ref().unwrap();
    let challenge = format!(
        r#"Bearer realm="http://127.0.0.1:{}/token",service="test-registry",scope="repository:team/app:pull,push repository:team/base:pull",error="insufficient_scope""#,
        server.port
    );
    let proxy = FaultProxy::start(registry.port, Faults { unauthorized_once: Some(challenge), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "renew");
    let progress = Progress::hidden();
    let opts = PushOptions {
        credentials: vec![(proxy.host(), cargo_containerize::api::Credentials::basic("frank", "frank-pass"))],
        ..Default::default()
    };
    let refs = [Reference::parse(&format!("{}/team/app:1", proxy.host())).unwrap()];
    let result = push_blocking(&image, &refs, &opts, &progress).pop().unwrap();
    assert_eq!(
        result.map(|d| d.to_string()).map_err(|e| e.to_string()).as_deref(),
        Ok(image.digest().unwrap().as_str())
    );
    assert!(proxy.seen().iter().any(|s| s.injected && s.status == 401), "{:?}", proxy.seen());
    let scopes = server.scopes();
    assert_eq!(scopes.first().map(String::as_str), Some("repository:team/app:pull,push"), "{scopes:?}");
    assert!(scopes.iter().any(|s| s == "repository:team/base:pull"), "the challenged scope was not merged: {scopes:?}");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 2, "one token, then one renewal");
}

#[test]
fn refused_mount_falls_back_to_an_upload() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults { refuse_mounts: true, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "no-mount");
    let h = proxy.host();
    let refs = [Reference::parse(&format!("{h}/one:1")).unwrap(), Reference::parse(&format!("{h}/two:1")).unwrap()];
    let progress = Progress::hidden();
    for result in push_blocking(&image, &refs, &PushOptions::default(), &progress) {
        assert_eq!(
            result.map(|d| d.to_string()).map_err(|e| e.to_string()).as_deref(),
            Ok(image.digest().unwrap().as_str())
        );
    }
    let events = progress.events();
    assert!(!events.iter().any(|e| matches!(e, Event::Mounted { .. })), "{events:?}");
    let uploaded = events.iter().filter(|e| matches!(e, Event::Uploaded { .. })).count();
    assert_eq!(uploaded, 2 * image.blobs().unwrap().len(), "{events:?}");
    // One POST per blob and repository: the refused mount's session was used for the upload.
    assert_eq!(proxy.count(Kind::UploadStart), 2 * image.blobs().unwrap().len(), "{:?}", proxy.seen());
    assert_eq!(skopeo_digest(&registry, "two:1", &["--tls-verify=false"]), image.digest().unwrap().to_string());
}

#[test]
fn wrong_docker_content_digest_is_an_error() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults { lie_about_manifest_digest: true, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "lying");
    let (result, _) = push(&image, &format!("{}/lying:1", proxy.host()));
    let e = result.unwrap_err();
    assert!(e.contains("PUT http://") && e.contains("/manifests/1"), "{e}");
    assert!(e.contains("sha256:0000000000000000") && e.contains(image.digest().unwrap().as_str()), "{e}");
}

/// A cold push uploads the binary's layer while it is compressed (one streamed PATCH), and
/// the push that follows waits for it and knows it is there: it neither asks again nor
/// prints a second line for it; also when a layout is written first. The pulled image runs.
#[test]
fn a_new_layer_is_uploaded_while_it_compresses() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(registry.port, Faults::default());
    for (repo, layout) in [("streamed", false), ("with-layout", true)] {
        // A project of its own each time: the layer must be new to its cache.
        let p = common::Project::copy("hello");
        let dir = p.path().join("layout");
        let extra = if layout { vec!["--output", dir.to_str().unwrap()] } else { vec![] };
        let before = proxy.seen().len();
        let reference = format!("{}/{repo}:1", proxy.host());
        let run = p.run(&[&["-v", "--push", &reference][..], &extra].concat()).ok();
        let seen = &proxy.seen()[before..];
        assert_eq!(seen.iter().filter(|s| s.kind == Kind::UploadPatch).count(), 1, "{seen:?}");
        let streamed: Vec<&str> = run.stderr.lines().filter(|l| l.ends_with("(while compressing)")).collect();
        assert_eq!(streamed.len(), 1, "one line for the streamed layer: {}", run.stderr);
        let short = streamed[0].split_whitespace().nth(1).unwrap();
        assert!(short.starts_with("sha256:") && short.ends_with('…'), "{}", streamed[0]);
        let prefix = short.trim_end_matches('…');
        let asked = run.stderr.lines().any(|l| l.starts_with("> HEAD") && l.contains(prefix));
        assert!(!asked, "the push asked about the layer it had just streamed: {}", run.stderr);
        let lines = run.stderr.lines().filter(|l| l.contains(short)).count();
        assert_eq!(lines, 1, "the streamed layer gets exactly one line: {}", run.stderr);
        // The two layers, the config, the three documents and their empty config: one
        // upload each.
        assert_eq!(seen.iter().filter(|s| s.kind == Kind::UploadStart).count(), 7, "{seen:?}");
        let image = format!("{}/{repo}:1", registry.host());
        let _cleanup = common::DockerImages(vec![image.clone()]);
        common::tool("docker", &["pull", "-q", &image]);
        assert!(common::docker_run(&image, &[]).contains(common::HELLO_MARKER));
    }
}

/// The same under the fault plan: whatever happens to the streamed upload, the push
/// completes and the image runs.
#[test]
fn a_cold_push_through_faults_still_lands() {
    let registry = Registry::plain();
    let faults = Faults { every_nth_503: Some(3), drop_one_upload: true, manifest_429: true, ..Default::default() };
    let proxy = FaultProxy::start(registry.port, faults);
    let p = common::Project::copy("hello");
    let run = common::Run::of(
        p.cmd().env("CARGO_CONTAINERIZE_RETRY_BASE_MS", "20").args(["--push", &format!("{}/cold:1", proxy.host())]),
    )
    .ok();
    let digest = run.stdout.trim().rsplit('@').next().unwrap().to_string();
    assert_eq!(skopeo_digest(&registry, "cold:1", &["--tls-verify=false"]), digest);
    let image = format!("{}/cold:1", registry.host());
    let _cleanup = common::DockerImages(vec![image.clone()]);
    common::tool("docker", &["pull", "-q", &image]);
    assert!(common::docker_run(&image, &[]).contains(common::HELLO_MARKER));
}
