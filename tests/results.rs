//! `--metadata-file`: the results file a CI pipeline reads, against real destinations.

mod common;

use common::hostile::Silent;
use common::registry::Registry;
use common::{unique_name, DockerImages, Project};
use serde_json::Value;

fn read(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn every_destination_is_described_and_failures_are_listed() {
    let reg = Registry::plain();
    let silent = Silent::start();
    let p = Project::copy("with-deps");
    let file = p.path().join("results.json");
    let name = unique_name("results");
    let _cleanup = DockerImages(vec![name.clone()]);
    let good = format!("{}/app:1", reg.host());
    let bad = format!("{}/app:1", silent.host());
    let run = common::Run::of(p.cmd().env("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2").args([
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
    assert!(run.stdout.contains(&format!("{}/app@{digest}", reg.host())), "{}", run.stdout);
    assert_eq!(pushed["platforms"][0]["platform"], "linux/amd64");
    assert_eq!(pushed["package"], "with-deps");
    assert!(pushed["size"].as_u64().unwrap() > 100_000);
    let kinds: Vec<&str> =
        pushed["referrers"].as_array().unwrap().iter().map(|r| r["artifactType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["application/spdx+json", "application/vnd.cyclonedx+json", "application/vnd.in-toto+json"]);
    let failed = find("registry", &bad);
    assert!(failed["error"].as_str().unwrap().contains("no answer within 2 s"), "{failed}");
    let layout = find("layout", "out");
    assert_eq!(layout["digest"], digest, "the same image everywhere");
    let engine = find("engine", &format!("{name}:latest"));
    assert_eq!(engine["config"], pushed["config"], "the engine's image ID is the config digest");
}

#[test]
fn a_run_that_stops_before_publishing_still_writes_why() {
    let p = Project::copy("hello");
    let file = p.path().join("results.json");
    let run = p.run(&["--metadata-file", file.to_str().unwrap(), "--base", "docker-archive:/x.tar"]).failed();
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
