//! `--metadata-file`: the results file a CI pipeline reads, against real destinations.

mod common;

use common::fault_proxy::{FaultProxy, Faults};
use common::registry::Registry;
use common::{unique_name, DockerImages, Project};
use serde_json::Value;

fn read(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn every_destination_is_described_and_failures_are_listed() {
    let reg = Registry::plain();
    // A destination that passes the check before the build and fails at the push: its
    // registry lies about the digest of the manifest it stored.
    let other = Registry::plain();
    let lying = FaultProxy::start(other.port, Faults { lie_about_manifest_digest: true, ..Default::default() });
    let p = Project::copy("with-deps");
    let file = p.path().join("results.json");
    let name = unique_name("results");
    let _cleanup = DockerImages(vec![name.clone()]);
    let good = format!("{}/app:1", reg.host());
    let bad = format!("{}/app:1", lying.host());
    let run = common::Run::of(p.cmd().args([
        "--metadata-file",
        file.to_str().unwrap(),
        "-o",
        "out",
        "--tag",
        &name,
        "--push",
        &good,
        "--push",
        &bad,
    ]))
    .failed();
    let v = read(&file);
    assert_eq!(v["version"], 1);
    let d = v["destinations"].as_array().unwrap();
    let find = |kind: &str, reference: &str| {
        d.iter()
            .find(|e| e["kind"] == kind && e["reference"] == reference)
            .unwrap_or_else(|| panic!("{kind} {reference}: {v}"))
    };
    let pushed = find("registry", &good);
    let digest = pushed["digest"].as_str().unwrap();
    assert_eq!(pushed["fullReference"], format!("{good}@{digest}"));
    assert!(run.stdout.contains(&format!("{good}@{digest}")), "{}", run.stdout);
    assert_eq!(pushed["platforms"][0]["platform"], "linux/amd64");
    assert_eq!(pushed["package"], "with-deps");
    assert!(pushed["size"].as_u64().unwrap() > 100_000);
    let kinds: Vec<&str> =
        pushed["referrers"].as_array().unwrap().iter().map(|r| r["artifactType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["application/spdx+json", "application/vnd.cyclonedx+json", "application/vnd.in-toto+json"]);
    let failed = find("registry", &bad);
    assert!(failed["error"].as_str().unwrap().contains("the registry stored the manifest as sha256:0000"), "{failed}");
    let layout = find("layout", "out");
    assert_eq!(layout["digest"], digest, "the same image everywhere");
    let engine = find("engine", &format!("{name}:latest"));
    assert_eq!(engine["config"], pushed["config"], "the engine's image ID is the config digest");
}

#[test]
fn a_run_that_stops_before_publishing_still_writes_why() {
    let p = Project::copy("hello");
    let file = p.path().join("results.json");
    let run = p.run(&["--metadata-file", file.to_str().unwrap(), "--base", "containers-storage:x"]).failed();
    assert!(run.stderr.contains("unknown scheme"), "{}", run.stderr);
    let v = read(&file);
    assert!(v["error"].as_str().unwrap().contains("unknown scheme"), "{v}");
    assert_eq!(v["destinations"].as_array().unwrap().len(), 0);
    // A results file that cannot be written is refused before the build.
    let under_a_file = p.path().join("Cargo.toml/results.json");
    let run = p.run(&["--metadata-file", under_a_file.to_str().unwrap()]).failed();
    assert!(run.stderr.contains("cannot write the results file"), "{}", run.stderr);
    assert!(!p.path().join("target/x86_64-unknown-linux-musl").exists());
}

/// After a fallback to Docker media types, every digest of the entry is the one the
/// registry serves: `digest`, the platform's, and `fullReference`'s.
#[test]
fn a_registry_that_took_the_docker_form_is_described_by_its_digests() {
    use common::fault_proxy::{FaultProxy, Faults};
    let reg = Registry::plain();
    let proxy = FaultProxy::start(reg.port, Faults { refuse_oci_manifests: true, ..Default::default() });
    let p = Project::copy("hello");
    let file = p.path().join("results.json");
    let reference = format!("{}/app:1", proxy.host());
    let run = p.run(&["-q", "--push", &reference, "--metadata-file", file.to_str().unwrap()]).ok();
    let served = common::registry::skopeo_digest(&reg, "app:1", &["--tls-verify=false"]);
    assert_eq!(run.stdout.trim(), format!("{reference}@{served}"));
    let results = read(&file);
    let entry = &results["destinations"][0];
    assert_eq!(entry["digest"], served.as_str(), "{results}");
    assert_eq!(entry["fullReference"], format!("{reference}@{served}"), "{results}");
    assert_eq!(entry["platforms"][0]["digest"], served.as_str(), "{results}");
}

/// Referrers the registry would not take are not listed as attached.
#[test]
fn referrers_the_registry_refused_are_not_listed() {
    use common::fault_proxy::{FaultProxy, Faults};
    let reg = Registry::plain();
    let proxy = FaultProxy::start(reg.port, Faults { refuse_manifests_by_digest: true, ..Default::default() });
    let p = Project::copy("hello");
    let file = p.path().join("results.json");
    let run = p.run(&["--push", &format!("{}/app:1", proxy.host()), "--metadata-file", file.to_str().unwrap()]).ok();
    assert!(run.stderr.contains("did not take the referrer"), "{}", run.stderr);
    let results = read(&file);
    assert_eq!(results["destinations"][0]["referrers"], serde_json::json!([]), "{results}");
    // A registry that takes them lists them all: SPDX, CycloneDX, provenance.
    let run = p.run(&["--push", &format!("{}/app:2", reg.host()), "--metadata-file", file.to_str().unwrap()]).ok();
    assert!(!run.stderr.contains("did not take"), "{}", run.stderr);
    assert_eq!(read(&file)["destinations"][0]["referrers"].as_array().unwrap().len(), 3, "{}", run.stderr);
}

/// `--metadata-file -`: stdout carries the JSON alone, and the result lines go to stderr.
#[test]
fn a_results_file_on_stdout_leaves_stdout_to_the_json() {
    let p = Project::copy("hello");
    let out = p.path().join("out");
    let run = p.run(&["-q", "-o", out.to_str().unwrap(), "--metadata-file", "-"]).ok();
    let results: Value = serde_json::from_str(&run.stdout).expect("stdout is the JSON alone");
    let digest = results["destinations"][0]["digest"].as_str().unwrap().to_string();
    assert!(run.stderr.contains(&format!("{} {digest}", out.display())), "{}", run.stderr);
}

/// A results file that cannot be written does not hide why the run failed.
#[test]
fn an_unwritable_results_file_does_not_hide_the_runs_own_error() {
    let p = Project::copy("hello");
    // A FIFO nobody reads: the write gives up after the timeout.
    let fifo = p.path().join("results.fifo");
    common::tool("mkfifo", &[fifo.to_str().unwrap()]);
    let run = common::Run::of(p.cmd().env("CARGO_CONTAINERIZE_TIMEOUT_SECS", "1").args([
        "--platform",
        "linux/amd64,linux/arm64",
        "--tarball",
        "x.tar",
        "--load-platform",
        "linux/386",
        "--metadata-file",
        fifo.to_str().unwrap(),
    ]))
    .failed();
    assert!(run.stderr.contains("cannot write the results file"), "{}", run.stderr);
    assert!(run.stderr.contains("not among the platforms built"), "the run's own error: {}", run.stderr);
}
