//! `--push`: the registry client against real registries (CNCF distribution) on loopback:
//! plain, htpasswd, Bearer token, TLS, credential helpers, chunked uploads, mounts.

mod common;

use cargo_containerize::image::Image;
use cargo_containerize::progress::{Event, Progress};
use cargo_containerize::reference::Reference;
use cargo_containerize::registry::{push_blocking, Credentials, Error, PushOptions};
use common::registry::{skopeo_digest, Registry};
use common::{child, images};
use std::process::Command;

fn push(image: &Image, refs: &[&str], opts: &PushOptions) -> (Vec<Result<String, Error>>, Vec<Event>) {
    let refs: Vec<Reference> = refs.iter().map(|r| Reference::parse(r).unwrap()).collect();
    let progress = Progress::hidden();
    let results = push_blocking(image, &refs, opts, &progress);
    (results.into_iter().map(|r| r.map(|d| d.to_string())).collect(), progress.events())
}

fn push_ok(image: &Image, refs: &[&str], opts: &PushOptions) -> Vec<Event> {
    let (results, events) = push(image, refs, opts);
    for (r, result) in refs.iter().zip(results) {
        match result {
            Ok(digest) => assert_eq!(digest, image.digest().to_string(), "{r}"),
            Err(e) => panic!("pushing {r} failed: {e}"),
        }
    }
    events
}

fn creds(user: &str, pass: &str) -> PushOptions {
    PushOptions { credentials: Some(Credentials::basic(user, pass)), ..Default::default() }
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
    let digest = image.digest().to_string();
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
        assert_eq!(skopeo_digest(&registry, tag, &["--tls-verify=false"]), image.digest().to_string());
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
    let registry = Registry::htpasswd("alice", "s3cret-basic");
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "basic");
    push_ok(&image, &[&format!("{}/hello:1", registry.host())], &creds("alice", "s3cret-basic"));
    let got = skopeo_digest(&registry, "hello:1", &["--tls-verify=false", "--creds", "alice:s3cret-basic"]);
    assert_eq!(got, image.digest().to_string());
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

/// Child of [`wrong_password_fails_clearly_and_never_shows_the_secret`]: pushes with the
/// credentials in the environment (CI variables), verbose, and prints the error.
#[test]
fn child_push_from_env() {
    if !child::is_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "child");
    let reference = std::env::var("CC_PUSH_REF").unwrap();
    let opts = PushOptions { verbose: true, ..Default::default() };
    let (results, events) = push(&image, &[&reference], &opts);
    match results.into_iter().next().unwrap() {
        Ok(digest) => println!("PUSHED {digest} {events:?}"),
        Err(e) => {
            eprintln!("ERROR {e}");
            eprintln!("DEBUG {e:?}");
            std::process::exit(3);
        }
    }
}

fn assert_refused_without_secret(registry: &Registry, secret: &str) {
    let out = child::run(
        "child_push_from_env",
        &[
            ("CC_PUSH_REF", format!("{}/hello:1", registry.host())),
            ("CARGO_CONTAINERIZE_USERNAME", "alice".into()),
            ("CARGO_CONTAINERIZE_PASSWORD", secret.into()),
        ],
    );
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("ERROR") && stderr.contains("401"), "{stderr}");
    assert!(stderr.contains(&format!("docker login {}", registry.host())), "{stderr}");
    assert!(stderr.contains("> GET"), "verbose traces expected: {stderr}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret), "the secret leaked:\n{stdout}\n{stderr}");
    let basic = base64_of(&format!("alice:{secret}"));
    assert!(!stderr.contains(&basic), "the Basic header leaked: {stderr}");
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn wrong_password_fails_clearly_and_never_shows_the_secret() {
    let registry = Registry::htpasswd("alice", "right-password");
    assert_refused_without_secret(&registry, "wrong-Pa55word-xyz");
}

#[test]
fn token_registry_pushes_with_a_bearer_token() {
    let registry = Registry::token("bob", "t0ken-pass");
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "token");
    let h = registry.host();
    push_ok(&image, &[&format!("{h}/org/app:1"), &format!("{h}/org/other:1")], &creds("bob", "t0ken-pass"));
    let server = registry.token_server.as_ref().unwrap();
    assert!(server.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(server.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    let got = skopeo_digest(&registry, "org/app:1", &["--tls-verify=false", "--creds", "bob:t0ken-pass"]);
    assert_eq!(got, image.digest().to_string());
}

#[test]
fn token_registry_wrong_password_fails_clearly_and_never_shows_the_secret() {
    let registry = Registry::token("alice", "right-password");
    assert_refused_without_secret(&registry, "wrong-T0ken-secret");
    assert!(registry.token_server.as_ref().unwrap().refused.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[test]
fn tls_registry_with_ca_cert_succeeds() {
    let registry = Registry::tls();
    let dir = tempfile::tempdir().unwrap();
    let image = images::hello_image(dir.path(), "tls");
    // A loopback registry is tried over HTTPS first: this one speaks only HTTPS.
    let opts = PushOptions { ca_certs: vec![registry.ca_cert.clone().unwrap()], ..Default::default() };
    let name = format!("{}/hello:1", registry.host());
    push_ok(&image, &[&name], &opts);
    let ca_dir = tempfile::tempdir().unwrap();
    std::fs::copy(registry.ca_cert.as_ref().unwrap(), ca_dir.path().join("ca.crt")).unwrap();
    let cert_dir = format!("--cert-dir={}", ca_dir.path().display());
    assert_eq!(skopeo_digest(&registry, "hello:1", &[&cert_dir]), image.digest().to_string());
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
