//! Every service of a workspace in one run: an image per binary, and the one tarball that
//! holds them all, checked with docker and skopeo.

mod common;

use common::{docker_run, tool, unique_name, DockerImages, Engine, Project, Run};
use serde_json::Value;

/// `--workspace --tarball FILE`: one tar that `docker load` takes as every image under its
/// tag (as `docker save a b c` writes it), and that skopeo reads as each image by name.
#[test]
fn one_tarball_holds_every_image_of_the_workspace() {
    let p = Project::copy("two-bins");
    let prefix = unique_name("bundle");
    let _cleanup = DockerImages(vec![format!("{prefix}/alpha:1"), format!("{prefix}/beta:1")]);
    let tar = p.path().join("all.tar");
    let file = p.path().join("results.json");
    let run = p
        .run(&[
            "-q",
            "--workspace",
            "--tarball",
            tar.to_str().unwrap(),
            "--push",
            &format!("127.0.0.1:9/{prefix}:1"),
            "--dry-run",
        ])
        .ok();
    // The plan has no tarball per image: it is the run's.
    assert!(!run.stdout.contains("\"tarball\""), "{}", run.stdout);
    p.run(&["-q", "--workspace", "--tarball", tar.to_str().unwrap(), "--metadata-file", file.to_str().unwrap()]).ok();
    let results: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let entries: Vec<&Value> =
        results["destinations"].as_array().unwrap().iter().filter(|d| d["kind"] == "tarball").collect();
    assert_eq!(entries.len(), 2, "{results}");
    // The bundle is the run's destination: no image gets the tool's own layout besides.
    assert_eq!(results["destinations"].as_array().unwrap().len(), 2, "{results}");
    assert!(!p.path().join("target/containerize/alpha").exists());
    // Loaded, each image runs its own binary under its name, here the engine's own tags.
    let run = p.run(&["-q", "--workspace", "--tarball", tar.to_str().unwrap(), "-t", &format!("{prefix}:1")]).ok();
    for bin in ["alpha", "beta"] {
        let line = run.stdout.lines().find(|l| l.starts_with(&format!("{} {bin}:1@sha256:", tar.display())));
        let digest = line.unwrap_or_else(|| panic!("a line for {bin}: {}", run.stdout)).rsplit('@').next().unwrap();
        // skopeo finds the image by its name in the OCI part, and it is the one printed.
        let inspected = tool("skopeo", &["inspect", &format!("oci-archive:{}:{bin}:1", tar.display())]).stdout;
        let inspected: Value = serde_json::from_str(&inspected).unwrap();
        assert_eq!(inspected["Digest"], digest, "{bin}");
    }
    tool("docker", &["rmi", &format!("{prefix}/alpha:1"), &format!("{prefix}/beta:1")]);
    let loaded = tool("docker", &["load", "-i", tar.to_str().unwrap()]).stdout;
    for bin in ["alpha", "beta"] {
        assert!(loaded.contains(&format!("Loaded image: {prefix}/{bin}:1")), "{loaded}");
        let out = docker_run(&format!("{prefix}/{bin}:1"), &[]);
        assert!(out.contains(&format!("{bin} from cargo-containerize two-bins fixture")), "{out}");
    }
    // An engine with the containerd image store reads the OCI part, whose entries carry
    // each image's full name (issue 22): the same names.
    let engine = Engine::Containerd;
    let _loaded = engine.images(vec![format!("{prefix}/alpha:1"), format!("{prefix}/beta:1")]);
    let loaded = engine.docker(&["load", "-i", tar.to_str().unwrap()]).stdout;
    for bin in ["alpha", "beta"] {
        assert!(loaded.contains(&format!("Loaded image: {prefix}/{bin}:1")), "{loaded}");
        let out = engine.run_image(&format!("{prefix}/{bin}:1"), &[]);
        assert!(out.contains(&format!("{bin} from cargo-containerize two-bins fixture")), "{out}");
    }
}

#[test]
fn the_tarball_of_several_images_is_not_standard_output() {
    let p = Project::copy("two-bins");
    let run = p.run(&["--workspace", "--tarball", "-"]).failed();
    assert!(
        run.stderr.contains("--tarball - (standard output) is not supported with several images"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("target").exists());
}

/// Every binary of the run comes from one `cargo build`, so what they share compiles once;
/// a second platform is a second build, of both binaries again.
#[test]
fn one_cargo_build_compiles_every_binary_of_the_run() {
    let p = Project::copy("services");
    let shim = common::CargoShim::new(&p);
    let run = Run::of(p.cmd().env("CARGO", &shim.path).args(["-q", "--workspace", "-o", "out"]));
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(shim.builds(), 1, "{}", shim.log());
    let lines: Vec<&str> = run.stdout.lines().map(|l| l.split(" sha256:").next().unwrap()).collect();
    assert_eq!(lines, ["out/alpha", "out/beta"], "{}", run.stdout);
    // Run again, `out` holds the layouts of the last run: each is added to, nothing compiles.
    shim.clear();
    let again = Run::of(p.cmd().env("CARGO", &shim.path).args(["-q", "--workspace", "-o", "out"]));
    assert!(again.status.success(), "{}", again.stderr);
    assert_eq!(again.stdout, run.stdout);
    assert_eq!(shim.builds(), 1, "{}", shim.log());
    // `out` a file: refused before the build.
    std::fs::write(p.path().join("file"), "").unwrap();
    shim.clear();
    let file = Run::of(p.cmd().env("CARGO", &shim.path).args(["-q", "--workspace", "-o", "file"]));
    assert!(file.stderr.contains("file exists and is not a directory; with several images"), "{}", file.stderr);
    assert_eq!(shim.builds(), 0, "{}", shim.log());
    // The tarball of them all beside their layouts is fine; inside one of them, refused.
    let beside =
        Run::of(p.cmd().env("CARGO", &shim.path).args(["-q", "--workspace", "-o", "out", "--tarball", "out/all.tar"]));
    assert!(beside.status.success(), "{}", beside.stderr);
    shim.clear();
    let inside = Run::of(p.cmd().env("CARGO", &shim.path).args([
        "-q",
        "--workspace",
        "-o",
        "out",
        "--tarball",
        "out/beta/all.tar",
    ]));
    assert!(inside.stderr.contains("--tarball out/beta/all.tar and the layout out/beta collide"), "{}", inside.stderr);
    assert_eq!(shim.builds(), 0, "{}", shim.log());
    shim.clear();
    let run = Run::of(p.cmd().env("CARGO", &shim.path).args([
        "-q",
        "--workspace",
        "--platform",
        "linux/amd64,linux/arm64",
        "-o",
        "both",
    ]));
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(shim.builds(), 2, "one per platform");
}

/// Git is asked about every package at once: outside a repository not at all, inside one
/// `HEAD` once for the run and each package's last commit once; every image gets them.
#[test]
fn git_is_asked_once_per_repository_and_not_at_all_outside_one() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::copy("services");
    let real = tool("sh", &["-c", "command -v git"]).stdout.trim().to_string();
    let log = p.path().join("git.log");
    let shims = p.path().join(".home/shims");
    std::fs::create_dir_all(&shims).unwrap();
    let shim = shims.join("git");
    std::fs::write(&shim, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec '{real}' \"$@\"\n", log.display())).unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", shims.display(), std::env::var("PATH").unwrap());
    let run = |out: &str| {
        let _ = std::fs::remove_file(&log);
        let run =
            Run::of(p.cmd().env("PATH", &path).env_remove("SOURCE_DATE_EPOCH").args(["-q", "--workspace", "-o", out]));
        assert!(run.status.success(), "{}", run.stderr);
        std::fs::read_to_string(&log).unwrap_or_default()
    };
    assert_eq!(run("plain"), "", "no repository, no git");

    let dir = p.path().to_str().unwrap();
    let commit = |paths: &[&str], date: &str| {
        tool("git", &[&["-C", dir, "add"], paths].concat());
        let git = ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "m"];
        let dates = [("GIT_AUTHOR_DATE", date), ("GIT_COMMITTER_DATE", date)];
        let run = Run::of(std::process::Command::new("git").args(git).envs(dates));
        assert!(run.status.success(), "{}", run.stderr);
    };
    tool("git", &["-C", dir, "init", "-q"]);
    commit(&["alpha", "beta", "common", "Cargo.toml"], "2021-06-01T00:00:00Z");
    std::fs::write(p.path().join("beta/NOTES"), "later").unwrap();
    commit(&["beta/NOTES"], "2022-01-01T00:00:00Z");
    let head = tool("git", &["-C", dir, "rev-parse", "HEAD"]).stdout.trim().to_string();
    let asked = run("git");
    let mut lines: Vec<&str> = asked.lines().collect();
    lines.sort();
    assert_eq!(lines, ["log -1 --format=%ct -- .", "log -1 --format=%ct -- .", "rev-parse HEAD"], "{asked}");
    for (bin, created) in [("alpha", "2021-06-01T00:00:00Z"), ("beta", "2022-01-01T00:00:00Z")] {
        let config = common::layout_config(&p.path().join("git").join(bin));
        assert_eq!(config["config"]["Labels"]["org.opencontainers.image.revision"], head.as_str(), "{bin}");
        assert_eq!(config["created"], created, "{bin}: its own last commit");
    }
}
