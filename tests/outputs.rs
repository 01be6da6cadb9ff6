//! Every local sink, checked with the real tools: skopeo, umoci + runc, and the Docker engine.

mod common;

use common::{docker_inspect, docker_run, tool, unique_name, DockerImages, Project, Run, HELLO_MARKER};
use std::process::Command;

#[test]
fn oci_layout_passes_skopeo_and_runs_under_runc() {
    let p = Project::copy("hello");
    let dir = p.path().join("layout");
    let run = p.run(&["-q", "-o", dir.to_str().unwrap(), "--tag", "hello-layout:1.5"]).ok();
    let prefix = format!("{} sha256:", dir.display());
    let layout_line = run.stdout.lines().find(|l| l.starts_with(&prefix)).expect("a layout line");
    let digest = layout_line.rsplit(' ').next().unwrap().to_string();

    assert!(dir.join("oci-layout").is_file());
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "1.5");
    assert_eq!(index["manifests"][0]["digest"], digest);

    let inspect: serde_json::Value =
        serde_json::from_str(&tool("skopeo", &["inspect", &format!("oci:{}:1.5", dir.display())]).stdout).unwrap();
    assert_eq!(inspect["Digest"], digest);
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2);

    let config = common::layout_config(&dir);
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/hello"]));
    assert!(config["config"].get("Entrypoint").is_none());
    assert_eq!(config["history"].as_array().unwrap().len(), 2);
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);

    let out = common::umoci_runc(&dir, "1.5");
    assert!(out.contains(HELLO_MARKER), "{out}");
    let _cleanup = DockerImages(vec!["hello-layout:1.5".into()]);
}

#[test]
fn the_top_layer_holds_only_the_binary_at_root_with_mode_0755_owned_by_root() {
    let p = Project::copy("hello");
    let dir = p.path().join("layout");
    p.run(&["-q", "-o", dir.to_str().unwrap()]).ok();
    let manifest = common::layout_manifest(&dir);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "the base layer, then the binary's");
    let gz = common::layout_blob(&dir, layers[1]["digest"].as_str().unwrap());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let entries: Vec<(String, u32, u64, u64, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
            )
        })
        .collect();
    assert_eq!(entries, vec![("hello".to_string(), 0o755, 0, 0, 0)]);
}

#[test]
fn tag_loads_into_docker_and_runs_like_docker_build() {
    let p = Project::copy("hello");
    let name = unique_name("tag");
    let _cleanup = DockerImages(vec![format!("{name}:1.0"), format!("{name}:extra")]);
    let run = p.run(&["-q", "--tag", &format!("{name}:1.0"), "--tag", &format!("{name}:extra")]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with(&format!("{name}:1.0 sha256:")), "{}", run.stdout);

    let listed = tool("docker", &["images", "--format", "{{.Repository}}:{{.Tag}}", &name]).stdout;
    assert!(listed.contains(&format!("{name}:1.0")) && listed.contains(&format!("{name}:extra")), "{listed}");
    let out = docker_run(&format!("{name}:1.0"), &[]);
    assert!(out.contains(HELLO_MARKER) && out.contains("arch=x86_64"), "{out}");
}

#[test]
fn image_matches_the_classic_dockerfile_field_by_field() {
    let p = Project::copy("hello");
    let ours = unique_name("ours");
    let classic = unique_name("classic");
    let _cleanup = DockerImages(vec![format!("{ours}:1"), format!("{classic}:1")]);
    p.run(&["-q", "--tag", &format!("{ours}:1")]).ok();

    // The classic ritual, on the very binary cargo containerize just built, with what the
    // image holds by default: the nonroot user, /tmp, and the labels Cargo.toml gives.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(p.path().join("target/x86_64-unknown-linux-musl/release/hello"), ctx.path().join("hello")).unwrap();
    let rootfs = ctx.path().join("rootfs");
    for dir in ["etc", "home/nonroot", "root", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnonroot:x:65532:\n").unwrap();
    let dockerfile = "FROM scratch\n\
        COPY rootfs/ /\n\
        COPY ./hello /\n\
        USER 65532:65532\n\
        LABEL org.opencontainers.image.title=hello org.opencontainers.image.version=0.1.0 \
        org.opencontainers.image.description=\"The hello fixture of cargo-containerize's tests\" \
        org.opencontainers.image.created=1970-01-01T00:00:00Z\n\
        CMD [\"/hello\"]\n";
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    Run::of(
        Command::new("docker")
            .args(["build", "-q", "-t", &format!("{classic}:1"), "."])
            .current_dir(ctx.path())
            .env("DOCKER_BUILDKIT", "0"),
    )
    .ok();

    let a = docker_inspect(&format!("{ours}:1"));
    let b = docker_inspect(&format!("{classic}:1"));
    for field in ["Cmd", "Entrypoint", "Env", "User", "WorkingDir", "ExposedPorts", "Volumes", "Labels", "OnBuild"] {
        assert_eq!(a["Config"][field], b["Config"][field], "Config.{field} differs");
    }
    for field in ["Architecture", "Os", "Variant", "Size"] {
        assert_eq!(a[field], b[field], "{field} differs");
    }
    assert_eq!(a["RootFS"]["Type"], b["RootFS"]["Type"]);
    assert_eq!(a["RootFS"]["Layers"].as_array().unwrap().len(), b["RootFS"]["Layers"].as_array().unwrap().len());
    assert_eq!(a["Config"]["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(a["Config"]["User"], "65532:65532");
    assert_eq!(
        a["Config"]["Env"],
        serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    );
    assert_eq!(docker_run(&format!("{ours}:1"), &[]), docker_run(&format!("{classic}:1"), &[]));
}

#[test]
fn tarball_loads_on_docker_with_its_tags_and_is_also_an_oci_layout() {
    let p = Project::copy("hello");
    let name = unique_name("tarball");
    let _cleanup = DockerImages(vec![format!("{name}:2")]);
    let tar_path = p.path().join("image.tar");
    let run = p.run(&["-q", "--tarball", tar_path.to_str().unwrap(), "--push", &format!("127.0.0.1:1/{name}:2")]);
    // --push to a closed port fails, but the tarball is written and reported first.
    let run = run.failed();
    assert!(run.stdout.starts_with(&format!("{} sha256:", tar_path.display())), "{}", run.stdout);

    let loaded = tool("docker", &["load", "-i", tar_path.to_str().unwrap()]).stdout;
    assert!(loaded.contains(&format!("127.0.0.1:1/{name}:2")), "{loaded}");
    let _cleanup2 = DockerImages(vec![format!("127.0.0.1:1/{name}:2")]);
    assert!(docker_run(&format!("127.0.0.1:1/{name}:2"), &[]).contains(HELLO_MARKER));

    let inspect: serde_json::Value =
        serde_json::from_str(&tool("skopeo", &["inspect", &format!("oci-archive:{}:2", tar_path.display())]).stdout)
            .unwrap();
    assert_eq!(inspect["Digest"], run.digest());
}

#[test]
fn tarball_with_tag_carries_that_tag() {
    let p = Project::copy("hello");
    let name = unique_name("tartag");
    let tar_path = p.path().join("image.tar");
    let _cleanup = DockerImages(vec![format!("{name}:3")]);
    p.run(&["-q", "--tarball", tar_path.to_str().unwrap(), "--output", "lay", "-t", &format!("{name}:3")]).ok();
    tool("docker", &["rmi", &format!("{name}:3")]);
    let loaded = tool("docker", &["load", "-i", tar_path.to_str().unwrap()]).stdout;
    assert!(loaded.contains(&format!("Loaded image: {name}:3")), "{loaded}");
}

#[test]
fn no_engine_is_a_clear_error_naming_the_ways_without_docker() {
    let p = Project::copy("hello");
    let run = Run::of(p.cmd().env("DOCKER_HOST", "unix:///nonexistent/docker.sock").args(["--tag", "x:1"])).failed();
    assert!(run.stderr.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock"), "{}", run.stderr);
    for way in ["--output", "--tarball", "--push"] {
        assert!(run.stderr.contains(way), "{}", run.stderr);
    }
    assert!(!p.path().join("target").exists(), "nothing may be built when the engine is unreachable");
}

#[test]
fn all_sinks_in_one_run_share_one_image() {
    let p = Project::copy("hello");
    let name = unique_name("all");
    let _cleanup = DockerImages(vec![format!("{name}:1")]);
    let run = p.run(&["-q", "-o", "lay", "--tarball", "img.tar", "-t", &format!("{name}:1")]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let digest_of = |prefix: &str| {
        let line = lines.iter().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} line"));
        line.rsplit(' ').next().unwrap().to_string()
    };
    // The layout and the tar carry the same manifest.
    let manifest_digest = digest_of("lay ");
    assert_eq!(digest_of("img.tar "), manifest_digest);
    // The engine reports its image ID: the config digest that manifest names.
    let manifest: serde_json::Value =
        serde_json::from_slice(&common::layout_blob(&p.path().join("lay"), &manifest_digest)).unwrap();
    let id = docker_inspect(&format!("{name}:1"))["Id"].as_str().unwrap().to_string();
    assert_eq!(manifest["config"]["digest"], id);
    assert_eq!(digest_of(&format!("{name}:1 ")), id);
}

#[test]
fn tag_alone_never_compresses_a_layer() {
    let p = Project::copy("hello");
    let name = unique_name("nocompress");
    let _cleanup = DockerImages(vec![format!("{name}:1")]);
    p.run(&["-q", "-t", &format!("{name}:1")]).ok();
    let cache = p.path().join("target/containerize/cache");
    let gz: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "gz"))
        .collect();
    assert!(gz.is_empty(), "--tag alone compressed {gz:?}");
    assert!(docker_run(&format!("{name}:1"), &[]).contains(HELLO_MARKER));
}

/// The engine's image events between two instants (`docker events`), as `ACTION NAME` lines.
fn image_events(since: &str, until: &str) -> Vec<String> {
    let out = common::tool(
        "docker",
        &[
            "events",
            "--since",
            since,
            "--until",
            until,
            "--filter",
            "type=image",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ],
    )
    .stdout;
    out.lines().map(str::to_string).collect()
}

fn engine_now() -> String {
    common::tool("docker", &["info", "--format", "{{.SystemTime}}"]).stdout.trim().to_string()
}

#[test]
fn an_image_the_engine_already_has_is_tagged_not_loaded_again() {
    let p = Project::copy("hello");
    let (first, second) = (common::unique_name("load"), common::unique_name("tag-only"));
    let _cleanup = common::DockerImages(vec![first.clone(), second.clone()]);
    // A label of its own: an image no earlier run can have loaded.
    let label = format!("test.run={first}");
    let start = engine_now();
    let one = p.run(&["--tag", &first, "--label", &label]).ok();
    let middle = engine_now();
    let two = p.run(&["--tag", &second, "--label", &label]).ok();
    let end = engine_now();
    let id = one.digest();
    assert_eq!(two.digest(), id);
    // Other tests use the engine meanwhile: only this image's events count.
    let ours = |events: Vec<String>| -> Vec<String> { events.into_iter().filter(|e| e.ends_with(&id)).collect() };
    let loaded = ours(image_events(&start, &middle));
    assert!(loaded.iter().any(|e| e.starts_with("load")), "{loaded:?}");
    let tagged = ours(image_events(&middle, &end));
    assert!(!tagged.iter().any(|e| e.starts_with("load")), "loaded again: {tagged:?}");
    assert!(tagged.iter().any(|e| e.starts_with("tag")), "{tagged:?}");
    assert!(common::docker_run(&second, &[]).contains(common::HELLO_MARKER));
}
