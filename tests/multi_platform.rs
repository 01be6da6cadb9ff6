//! Multi-platform images: per-platform builds cross-linked with rust-lld, an OCI index,
//! and arm64 images run under qemu.

mod common;

use common::{docker_run, tool, unique_name, DockerImages, Engine, Project, Run, HELLO_MARKER};
use serde_json::Value;

fn index_of_layout(dir: &std::path::Path) -> Value {
    assert_eq!(common::layout_index(dir)["manifests"][0]["mediaType"], "application/vnd.oci.image.index.v1+json");
    common::layout_manifest(dir)
}

fn platforms(index: &Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!("{}/{}", m["platform"]["os"].as_str().unwrap(), m["platform"]["architecture"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn layout_holds_an_index_of_both_platforms_and_each_image_runs() {
    let p = Project::copy("hello");
    let name = unique_name("multi");
    let _cleanup = DockerImages(vec![format!("{name}:arm"), format!("{name}:amd")]);
    let dir = p.path().join("lay");
    let run = p.run(&["-q", "--platform", "linux/amd64,linux/arm64", "-o", dir.to_str().unwrap()]).ok();
    let index = index_of_layout(&dir);
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
    assert_eq!(run.digest(), common::layout_index_digest(&dir));
    let raw: Value =
        serde_json::from_str(&tool("skopeo", &["inspect", "--raw", &format!("oci:{}:latest", dir.display())]).stdout)
            .unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    // Each manifest's config names its architecture.
    for m in index["manifests"].as_array().unwrap() {
        let manifest: Value =
            serde_json::from_slice(&common::layout_blob(&dir, m["digest"].as_str().unwrap())).unwrap();
        let config: Value =
            serde_json::from_slice(&common::layout_blob(&dir, manifest["config"]["digest"].as_str().unwrap())).unwrap();
        assert_eq!(config["architecture"], m["platform"]["architecture"]);
    }
    // The engine gets one platform, said so on stderr; under qemu the arm64 one runs.
    let run = p
        .run(&["--platform", "linux/amd64,linux/arm64", "-t", &format!("{name}:arm"), "--load-platform", "linux/arm64"])
        .ok();
    assert!(run.stderr.contains("gets the linux/arm64 image only"), "{}", run.stderr);
    let out =
        tool("docker", &["run", "--rm", "--network", "none", "--platform", "linux/arm64", &format!("{name}:arm")])
            .stdout;
    assert!(out.contains(HELLO_MARKER) && out.contains("arch=aarch64"), "{out}");
    p.run(&["-q", "--platform", "linux/amd64,linux/arm64", "-t", &format!("{name}:amd")]).ok();
    let out = docker_run(&format!("{name}:amd"), &[]);
    assert!(out.contains("arch=x86_64"), "{out}");
}

#[test]
fn the_arm64_binary_is_an_aarch64_static_elf_linked_with_rust_lld() {
    let p = Project::copy("hello");
    p.run(&["-q", "--platform", "linux/arm64", "-o", "lay"]).ok();
    let bin = p.path().join("target/aarch64-unknown-linux-musl/release/hello");
    let bytes = std::fs::read(&bin).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 183, "e_machine is EM_AARCH64");
    // One platform gives a plain image, not an index.
    let top: Value = serde_json::from_slice(&std::fs::read(p.path().join("lay/index.json")).unwrap()).unwrap();
    assert_eq!(top["manifests"][0]["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(top["manifests"][0]["platform"]["architecture"], "arm64");
}

#[test]
fn platforms_can_come_from_cargo_toml_and_the_index_is_reproducible() {
    let a = Project::copy("hello");
    let b = Project::copy("hello");
    for p in [&a, &b] {
        let manifest = std::fs::read_to_string(p.manifest()).unwrap();
        std::fs::write(
            p.manifest(),
            format!("{manifest}\n[package.metadata.containerize]\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n"),
        )
        .unwrap();
    }
    let da = a.run(&["-q", "-o", "lay"]).ok().digest();
    let db = b.run(&["-q", "-o", "lay"]).ok().digest();
    assert_eq!(da, db);
    assert_eq!(platforms(&index_of_layout(&a.path().join("lay"))), ["linux/amd64", "linux/arm64"]);
}

#[test]
fn an_unsupported_platform_lists_the_supported_ones() {
    let p = Project::copy("hello");
    let run = p.run(&["--platform", "linux/sparc64"]).failed();
    assert!(run.stderr.contains("unsupported platform \"linux/sparc64\""), "{}", run.stderr);
    assert!(run.stderr.contains("linux/amd64, linux/arm64, linux/arm/v7"), "{}", run.stderr);
    assert!(!p.path().join("target").exists(), "nothing may be built");
}

#[test]
fn a_load_platform_that_was_not_built_is_refused() {
    let p = Project::copy("hello");
    let run = Run::of(p.cmd().args([
        "--platform",
        "linux/amd64,linux/arm64",
        "--tarball",
        "x.tar",
        "--load-platform",
        "linux/386",
    ]))
    .failed();
    assert!(run.stderr.contains("linux/386") && run.stderr.contains("not among the platforms built"), "{}", run.stderr);
}

#[test]
fn a_tarball_of_two_platforms_loads_one_and_copies_the_whole_index() {
    let registry = common::registry::Registry::plain();
    let p = Project::copy("hello");
    let name = unique_name("idxtar");
    let tar = p.path().join("both.tar");
    let run = p
        .run(&[
            "--platform",
            "linux/amd64,linux/arm64",
            "--tarball",
            tar.to_str().unwrap(),
            "--load-platform",
            "linux/amd64",
            "-o",
            "lay",
        ])
        .ok();
    assert!(run.stderr.contains("holds every platform") && run.stderr.contains("linux/amd64"), "{}", run.stderr);
    // The tarball is known by the index's digest: the layout's.
    let index_digest = common::layout_index_digest(&p.path().join("lay"));
    assert!(run.stdout.contains(&format!("{} {index_digest}", tar.display())), "{}", run.stdout);
    let archive = format!("oci-archive:{}", tar.display());
    let raw: Value = serde_json::from_str(&tool("skopeo", &["inspect", "--raw", &archive]).stdout).unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(platforms(&raw), ["linux/amd64", "linux/arm64"]);
    // skopeo copy --all: a registry index whose arm64 image docker pulls and runs.
    let image = format!("{}/{name}:1", registry.host());
    tool("skopeo", &["copy", "-q", "--all", "--dest-tls-verify=false", &archive, &format!("docker://{image}")]);
    let _cleanup = DockerImages(vec![image.clone(), format!("{name}:loaded")]);
    tool("docker", &["pull", "-q", "--platform", "linux/arm64", &image]);
    let out = tool("docker", &["run", "--rm", "--network", "none", "--platform", "linux/arm64", &image]).stdout;
    assert!(out.contains(HELLO_MARKER) && out.contains("arch=aarch64"), "{out}");
    // docker load (Docker 20.10) takes the load platform's image.
    let loaded = tool("docker", &["load", "-q", "-i", tar.to_str().unwrap()]).stdout;
    let id = loaded.trim().rsplit(' ').next().unwrap().to_string();
    tool("docker", &["tag", &id, &format!("{name}:loaded")]);
    let out = docker_run(&format!("{name}:loaded"), &[]);
    assert!(out.contains(HELLO_MARKER) && out.contains("arch=x86_64"), "{out}");
}

#[test]
fn push_sends_each_platform_then_the_index_and_docker_pulls_arm64() {
    let registry = common::registry::Registry::plain();
    let p = Project::copy("hello");
    let repo = format!("{}/{}", registry.host(), unique_name("idx"));
    let run = p.run(&["-q", "--platform", "linux/amd64,linux/arm64", "--push", &format!("{repo}:1"), "-o", "lay"]).ok();
    let pushed = run.stdout.lines().find(|l| l.starts_with(&repo)).expect("a push line");
    let digest = pushed.rsplit('@').next().unwrap();
    assert_eq!(digest, common::layout_index_digest(&p.path().join("lay")), "the registry holds the layout's index");

    let raw: Value = serde_json::from_str(
        &tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &format!("docker://{repo}:1")]).stdout,
    )
    .unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(platforms(&raw), ["linux/amd64", "linux/arm64"]);
    // Each platform's manifest is in the registry by digest.
    for m in raw["manifests"].as_array().unwrap() {
        let by_digest = format!("docker://{repo}@{}", m["digest"].as_str().unwrap());
        tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &by_digest]);
    }

    let image = format!("{repo}:1");
    let _cleanup = DockerImages(vec![image.clone()]);
    tool("docker", &["pull", "-q", "--platform", "linux/arm64", &image]);
    let out = tool("docker", &["run", "--rm", "--network", "none", "--platform", "linux/arm64", &image]).stdout;
    assert!(out.contains(HELLO_MARKER) && out.contains("arch=aarch64"), "{out}");
    tool("docker", &["rmi", &image]);
    tool("docker", &["pull", "-q", "--platform", "linux/amd64", &image]);
    let out = tool("docker", &["run", "--rm", "--network", "none", "--platform", "linux/amd64", &image]).stdout;
    assert!(out.contains("arch=x86_64"), "{out}");
}

#[test]
fn a_registry_refusing_oci_types_gets_a_docker_manifest_list() {
    use common::fault_proxy::Faults;
    docker_list_for(Faults { refuse_oci_manifests: true, ..Default::default() });
}

/// A registry that takes OCI manifests but refuses the OCI index: the Docker list it gets
/// instead names Docker manifests that are all there.
#[test]
fn a_registry_refusing_only_the_oci_index_gets_a_complete_docker_manifest_list() {
    use common::fault_proxy::Faults;
    docker_list_for(Faults { refuse_oci_index: true, ..Default::default() });
}

fn docker_list_for(faults: common::fault_proxy::Faults) {
    use common::fault_proxy::FaultProxy;
    let registry = common::registry::Registry::plain();
    let proxy = FaultProxy::start(registry.port, faults);
    let p = Project::copy("hello");
    let name = unique_name("list");
    p.run(&["-q", "--platform", "linux/amd64,linux/arm64", "--push", &format!("{}/{name}:1", proxy.host())]).ok();
    let raw: Value = serde_json::from_str(
        &tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/{name}:1", registry.host())])
            .stdout,
    )
    .unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json");
    assert_eq!(platforms(&raw), ["linux/amd64", "linux/arm64"]);
    for m in raw["manifests"].as_array().unwrap() {
        assert_eq!(m["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
        let by_digest = format!("docker://{}/{name}@{}", registry.host(), m["digest"].as_str().unwrap());
        tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &by_digest]);
    }
}

#[test]
fn a_c_dependency_for_a_foreign_target_names_the_crate_and_the_zig_fix() {
    let p = Project::copy("c-dep");
    let run = p.run(&["-q", "--platform", "linux/arm64", "-o", "lay"]).failed();
    assert!(run.stderr.contains("the crate c-dep v0.1.0"), "{}", run.stderr);
    assert!(run.stderr.contains("aarch64-unknown-linux-musl"), "{}", run.stderr);
    assert!(run.stderr.contains("--zig") && run.stderr.contains("CC_aarch64_unknown_linux_musl"), "{}", run.stderr);
}

#[test]
fn zig_cross_compiles_a_c_dependency_for_arm64() {
    let p = Project::copy("c-dep");
    let name = unique_name("zig");
    let _cleanup = DockerImages(vec![format!("{name}:1")]);
    p.run(&["-q", "--zig", "--platform", "linux/arm64", "-t", &format!("{name}:1"), "--load-platform", "linux/arm64"])
        .ok();
    let out =
        tool("docker", &["run", "--rm", "--network", "none", "--platform", "linux/arm64", &format!("{name}:1")]).stdout;
    assert!(out.contains("answer=42"), "{out}");
}

/// Issue 22: an engine with the containerd image store gets the whole index (its digest is
/// the ID the engine shows), and `docker run --platform` runs each platform's image; the
/// same index under another tag is only tagged.
#[test]
fn the_containerd_store_gets_the_whole_index_and_runs_each_platform() {
    let engine = Engine::Containerd;
    let p = Project::copy("hello");
    let (first, second) = (format!("{}:1", unique_name("d26-multi")), format!("{}:2", unique_name("d26-multi")));
    let mut cleanup = engine.images(vec![first.clone(), second.clone()]);
    let both = "linux/amd64,linux/arm64";
    let start = engine.now();
    let run = p.run_on(engine, &["--platform", both, "-t", &first, "-o", "lay"]).ok();
    let middle = engine.now();
    assert!(!run.stderr.contains("image only"), "{}", run.stderr);
    let index = common::layout_index_digest(&p.path().join("lay"));
    cleanup.images.push(index.clone());
    assert!(run.stdout.lines().any(|l| l == format!("{first} {index}")), "{}", run.stdout);
    assert_eq!(engine.inspect(&first)["Id"], index.as_str(), "the engine's ID is the index digest");
    for (platform, arch) in [("linux/arm64", "arch=aarch64"), ("linux/amd64", "arch=x86_64")] {
        let out = engine.docker(&["run", "--rm", "--network", "none", "--platform", platform, &first]).stdout;
        assert!(out.contains(HELLO_MARKER) && out.contains(arch), "{platform}: {out}");
    }
    let again = p.run_on(engine, &["--platform", both, "-t", &second]).ok();
    let end = engine.now();
    assert!(again.stdout.lines().any(|l| l == format!("{second} {index}")), "{}", again.stdout);
    let ours = |events: Vec<String>| -> Vec<String> { events.into_iter().filter(|e| e.ends_with(&index)).collect() };
    let loaded = ours(engine.image_events(&start, &middle));
    assert_eq!(loaded.iter().filter(|e| e.starts_with("load")).count(), 1, "{loaded:?}");
    let tagged = ours(engine.image_events(&middle, &end));
    assert!(!tagged.iter().any(|e| e.starts_with("load")) && tagged.iter().any(|e| e.starts_with("tag")), "{tagged:?}");
}
