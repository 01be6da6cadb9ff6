//! The same sources give the same digests, wherever and whenever they are built.

mod common;

use common::{Project, Run};

fn build_layout(p: &Project, epoch: Option<&str>) -> (String, serde_json::Value) {
    let mut cmd = p.cmd();
    cmd.args(["-q", "-o", "out"]);
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    let run = Run::of(&mut cmd).ok();
    (run.digest(), common::layout_config(&p.path().join("out")))
}

#[test]
fn two_copies_built_apart_give_the_same_manifest_digest() {
    let a = Project::copy("hello");
    let b = Project::copy("hello");
    // Different paths, and different file times, as two checkouts would have.
    let old = std::fs::File::options().write(true).open(b.path().join("src/main.rs")).unwrap();
    old.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000)).unwrap();
    let (da, _) = build_layout(&a, None);
    let (db, _) = build_layout(&b, None);
    assert_eq!(da, db);
    // And again, from a clean target directory.
    std::fs::remove_dir_all(a.path().join("target")).unwrap();
    std::fs::remove_dir_all(a.path().join("out")).unwrap();
    let (again, _) = build_layout(&a, None);
    assert_eq!(da, again);
    let blob_a = std::fs::read_dir(a.path().join("out/blobs/sha256")).unwrap().count();
    assert_eq!(
        blob_a, 9,
        "config, base layer, binary layer, manifest; and the two SBOMs' documents and manifests, with their empty config"
    );
}

#[test]
fn source_date_epoch_sets_created() {
    let p = Project::copy("hello");
    let (d1, config) = build_layout(&p, Some("1700000000"));
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["history"][0]["created"], "2023-11-14T22:13:20Z");
    let (d2, config) = build_layout(&p, None);
    assert_eq!(config["created"], "1970-01-01T00:00:00Z", "outside git the fallback is the epoch");
    assert_ne!(d1, d2);
}

#[test]
fn created_follows_the_last_commit_of_the_package() {
    let p = Project::copy("hello");
    let git = |args: &[&str]| {
        Run::of(
            std::process::Command::new("git")
                .args(args)
                .current_dir(p.path())
                .env("GIT_AUTHOR_DATE", "2024-02-03T04:05:06Z")
                .env("GIT_COMMITTER_DATE", "2024-02-03T04:05:06Z")
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com"),
        )
        .ok()
    };
    git(&["init", "-q"]);
    git(&["add", "Cargo.toml", "Cargo.lock", "src"]);
    git(&["commit", "-q", "-m", "fixture"]);
    let (_, config) = build_layout(&p, None);
    assert_eq!(config["created"], "2024-02-03T04:05:06Z");
}
