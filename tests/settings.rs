//! Image settings from Cargo.toml and the command line, checked in `docker inspect` and
//! from inside the running container.

mod common;

use common::{docker_inspect, docker_run, unique_name, DockerImages, Project, Run, HELLO_MARKER};
use serde_json::json;

#[test]
fn cargo_toml_settings_show_in_docker_inspect() {
    let p = Project::copy("with-metadata");
    let name = unique_name("settings");
    let _cleanup = DockerImages(vec![format!("{name}:1")]);
    p.run(&["-q", "-o", "lay", "-t", &format!("{name}:1")]).ok();
    let c = &docker_inspect(&format!("{name}:1"))["Config"];
    assert_eq!(c["Entrypoint"], json!(["/server"]));
    assert_eq!(c["Cmd"], json!(["--greeting", "hi"]));
    assert_eq!(
        c["Env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "FROM_WORKSPACE=ws",
            "RUST_LOG=info",
            "SHARED=package"
        ])
    );
    assert_eq!(c["ExposedPorts"], json!({"53/udp": {}, "8080/tcp": {}}));
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["WorkingDir"], "/data");
    let labels = &c["Labels"];
    assert_eq!(labels["com.example.team"], "infra", "workspace label");
    assert_eq!(labels["com.example.tier"], "backend", "package label");
    assert_eq!(labels["org.opencontainers.image.title"], "server");
    assert_eq!(labels["org.opencontainers.image.version"], "2.3.4");
    assert_eq!(labels["org.opencontainers.image.description"], "A configured fixture of cargo-containerize");
    assert_eq!(labels["org.opencontainers.image.licenses"], "MIT OR Apache-2.0");
    assert_eq!(labels["org.opencontainers.image.source"], "https://example.com/acme/server");
    assert_eq!(labels["org.opencontainers.image.url"], "https://example.com/server");
    assert_eq!(labels["org.opencontainers.image.authors"], "Ada <ada@example.com>, Bob <bob@example.com>");
    let config = common::layout_config(&p.path().join("lay"));
    assert_eq!(labels["org.opencontainers.image.created"], config["created"]);

    // Annotations go on the manifest.
    let manifest = common::layout_manifest(&p.path().join("lay"));
    assert_eq!(manifest["annotations"]["com.example.build"], "fixture");
    // The layout is named after the tag used.
    assert_eq!(common::layout_ref_names(&p.path().join("lay")), ["1"]);
}

#[test]
fn the_container_honours_args_env_user_workdir_and_includes() {
    let p = Project::copy("with-metadata");
    let name = unique_name("inside");
    let _cleanup = DockerImages(vec![format!("{name}:1")]);
    p.run(&["-q", "-t", &format!("{name}:1")]).ok();
    let out = docker_run(&format!("{name}:1"), &[]);
    assert!(out.contains("args=--greeting hi"), "{out}");
    assert!(out.contains("env FROM_WORKSPACE=ws") && out.contains("env SHARED=package"), "{out}");
    assert!(out.contains("uid=65532 gid=65532"), "{out}");
    assert!(out.contains("cwd=/data") && out.contains("cwd writable=true"), "{out}");
    assert!(out.contains("tmp writable=true"), "{out}");
    assert!(out.contains("include=static content of the fixture"), "{out}");
    assert!(out.contains("nested=nested"), "{out}");
    assert!(out.contains("ca bundle=false"), "ca-certificates = false: {out}");
    // entrypoint = true: arguments to `docker run` reach the binary.
    let out = docker_run(&format!("{name}:1"), &["--flag", "x"]);
    assert!(out.contains("args=--flag x"), "{out}");
}

#[test]
fn the_command_line_overrides_cargo_toml() {
    let p = Project::copy("with-metadata");
    let name = unique_name("cli");
    let _cleanup = DockerImages(vec![format!("{name}:1")]);
    p.run(&[
        "-q",
        "-t",
        &format!("{name}:1"),
        "--user",
        "root",
        "--env",
        "FROM_CLI=yes",
        "--env",
        "SHARED=cli",
        "--label",
        "com.example.tier=edge",
        "--expose",
        "9090",
        "--workdir",
        "/work",
        "--",
        "--from",
        "cli",
    ])
    .ok();
    let c = &docker_inspect(&format!("{name}:1"))["Config"];
    assert_eq!(c["User"], "root");
    assert_eq!(c["ExposedPorts"], json!({"9090/tcp": {}}));
    assert_eq!(c["Labels"]["com.example.tier"], "edge");
    assert_eq!(c["Cmd"], json!(["--from", "cli"]));
    let out = docker_run(&format!("{name}:1"), &[]);
    assert!(out.contains("uid=0 gid=0") && out.contains("cwd=/work"), "{out}");
    assert!(
        out.contains("env FROM_CLI=yes") && out.contains("env SHARED=cli") && out.contains("env FROM_WORKSPACE=ws"),
        "{out}"
    );
    assert!(out.contains("args=--from cli"), "{out}");
}

#[test]
fn the_default_image_runs_as_nonroot_with_the_classic_cmd() {
    let p = Project::copy("hello");
    let dir = p.path().join("lay");
    p.run(&["-q", "-o", dir.to_str().unwrap(), "--", "one", "two"]).ok();
    let config = common::layout_config(&dir);
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Cmd"], json!(["/hello", "one", "two"]));
    assert!(config["config"].get("Entrypoint").is_none());
    let out = common::umoci_runc(&dir, "latest");
    assert!(out.contains(HELLO_MARKER) && out.contains("args=one two"), "{out}");
}

#[test]
fn include_from_the_command_line_is_readable_in_the_container() {
    let p = Project::copy("with-metadata");
    std::fs::write(p.path().join("extra.conf"), "from the command line\n").unwrap();
    let name = unique_name("inc");
    let _cleanup = DockerImages(vec![format!("{name}:1")]);
    // The CLI include replaces the package's list, so /srv/static is gone.
    p.run(&["-q", "-t", &format!("{name}:1"), "--include", "extra.conf:/srv/static/hello.txt"]).ok();
    let out = docker_run(&format!("{name}:1"), &[]);
    assert!(out.contains("include=from the command line"), "{out}");
    assert!(out.contains("nested=\n"), "the package's include list was replaced: {out}");
}

#[test]
fn tags_and_repository_fill_in_push_and_tag_references() {
    let p = Project::copy("with-metadata");
    let name = unique_name("tags");
    let _cleanup = DockerImages(vec![format!("{name}:2.3.4"), format!("{name}:latest")]);
    let run = p.run(&["-q", "-t", &name]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with(&format!("{name}:2.3.4 ")) && lines[1].starts_with(&format!("{name}:latest ")),
        "{}",
        run.stdout
    );
    // `--push :TAG` and a bare `--push` take the repository, here a real registry.
    let registry = common::registry::Registry::plain();
    let manifest = std::fs::read_to_string(p.path().join("server/Cargo.toml")).unwrap();
    let repo = format!("{}/acme/server", registry.host());
    std::fs::write(p.path().join("server/Cargo.toml"), manifest.replace("127.0.0.1:5000/acme/server", &repo)).unwrap();
    let run = p.run(&["-q", "--push", ":9.9", "--push"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "9.9, then the configured 2.3.4 and latest: {}", run.stdout);
    for (line, tag) in lines.iter().zip(["9.9", "2.3.4", "latest"]) {
        assert!(line.starts_with(&format!("{repo}:{tag}@sha256:")), "{}", run.stdout);
    }
    for tag in ["9.9", "2.3.4", "latest"] {
        common::tool("skopeo", &["inspect", "--tls-verify=false", &format!("docker://{repo}:{tag}")]);
    }
}

#[test]
fn push_with_only_a_tag_and_no_repository_says_which_key_to_set() {
    let p = Project::copy("hello");
    let run = p.run(&["--push", ":1.0"]).failed();
    assert!(
        run.stderr.contains("`repository` is not set") && run.stderr.contains("[package.metadata.containerize]"),
        "{}",
        run.stderr
    );
}

fn with_package_table(p: &Project, table: &str) {
    let manifest = std::fs::read_to_string(p.manifest()).unwrap();
    std::fs::write(p.manifest(), format!("{manifest}\n[package.metadata.containerize]\n{table}\n")).unwrap();
}

#[test]
fn an_unknown_key_is_named_with_the_valid_keys() {
    let p = Project::copy("hello");
    with_package_table(&p, "entrypiont = true");
    let run = p.run(&[]).failed();
    assert!(run.stderr.contains("unknown key `entrypiont`"), "{}", run.stderr);
    assert!(run.stderr.contains("[package.metadata.containerize] in"), "{}", run.stderr);
    assert!(run.stderr.contains("valid keys: args, entrypoint, env, ports, user, workdir, labels"), "{}", run.stderr);
    assert!(!p.path().join("target/x86_64-unknown-linux-musl").exists(), "nothing may be built");
}

#[test]
fn a_value_of_the_wrong_type_names_the_key_and_the_type() {
    let p = Project::copy("hello");
    with_package_table(&p, "ports = \"8080\"");
    let run = p.run(&[]).failed();
    assert!(run.stderr.contains("`ports`"), "{}", run.stderr);
    assert!(run.stderr.contains("must be an array of ports"), "{}", run.stderr);
    assert!(run.stderr.contains("ports = [8080, \"53/udp\"]"), "the fix shows an example: {}", run.stderr);
}

#[test]
fn a_crate_that_loads_system_roots_gets_a_ca_bundle_and_hello_does_not() {
    let p = Project::copy("tls-roots");
    let name = unique_name("tls");
    let _cleanup = DockerImages(vec![format!("{name}:1")]);
    let run = p.run(&["-t", &format!("{name}:1")]).ok();
    // Said, with the crate that wants them (issue 12).
    let said =
        "the image gets the CA certificates (/etc/ssl/certs/ca-certificates.crt), as it links rustls-native-certs";
    assert!(run.stderr.contains(said), "{}", run.stderr);
    let out = docker_run(&format!("{name}:1"), &[]);
    let roots: usize = out.lines().find_map(|l| l.strip_prefix("roots=")).unwrap().parse().unwrap();
    assert!(roots > 50, "{out}");

    let hello = Project::copy("hello");
    let dir = hello.path().join("lay");
    let run = hello.run(&["-o", dir.to_str().unwrap()]).ok();
    assert!(!run.stderr.contains("CA certificates"), "{}", run.stderr);
    let files = common::layout_files(&dir);
    assert!(files.iter().any(|f| f == "etc/passwd"), "{files:?}");
    assert!(!files.iter().any(|f| f.contains("ssl")), "hello makes no TLS calls: {files:?}");
}

/// Issue 12: `extra-ca-certificates` appends a corporate CA to the bundle. The program in
/// the image loads every certificate of it (rustls-native-certs, one more than Mozilla's
/// roots, no error), and `openssl verify` takes a server certificate signed by that CA
/// against the image's bundle, as a TLS client behind an inspecting proxy must. A key file,
/// a file outside the package and a file with no certificate are refused before the build.
#[test]
fn extra_ca_certificates_join_the_bundle_and_are_checked_before_the_build() {
    let p = Project::copy("tls-roots");
    let keys = tempfile::tempdir().unwrap();
    let k = |name: &str| keys.path().join(name).to_str().unwrap().to_string();
    std::fs::create_dir_all(p.path().join("certs")).unwrap();
    let ca = p.path().join("certs/corp.pem").to_str().unwrap().to_string();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    common::tool(
        "openssl",
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", &k("ca.key"), "-out", &ca, "-days", "2", "-subj", "/CN=corp-inspecting-proxy-ca"],
        ]
        .concat(),
    );
    common::tool(
        "openssl",
        &[&["req"][..], &ec, &["-keyout", &k("server.key"), "-out", &k("server.csr"), "-subj", "/CN=intranet.example"]]
            .concat(),
    );
    common::tool(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &k("server.csr"),
            "-CA",
            &ca,
            "-CAkey",
            &k("ca.key"),
            "-CAcreateserial",
            "-out",
            &k("server.pem"),
            "-days",
            "2",
        ],
    );
    let name = format!("{}:1", unique_name("corp-ca"));
    let _cleanup = DockerImages(vec![name.clone()]);
    let plain = p.run(&["-q", "-o", "plain"]).ok();
    assert!(plain.status.success());
    let plain_bundle = common::layout_file(&p.path().join("plain"), "etc/ssl/certs/ca-certificates.crt");
    std::fs::write(k("plain.pem"), &plain_bundle).unwrap();
    let mozilla = String::from_utf8(plain_bundle).unwrap().matches("-----BEGIN CERTIFICATE-----").count();
    with_package_table(&p, "extra-ca-certificates = [\"certs/corp.pem\"]");
    let run = p.run(&["-t", &name]).ok();
    let said = "the image gets the CA certificates (/etc/ssl/certs/ca-certificates.crt): Mozilla's roots, and the 1 \
                certificate of extra-ca-certificates";
    assert!(run.stderr.contains(said), "{}", run.stderr);
    let out = docker_run(&name, &[]);
    assert!(out.contains(&format!("roots={}", mozilla + 1)), "{out}");
    assert!(!out.contains("error="), "{out}");
    let container = common::tool("docker", &["create", &name]).stdout.trim().to_string();
    let bundle = k("bundle.pem");
    let copied = Run::of(std::process::Command::new("docker").args([
        "cp",
        &format!("{container}:/etc/ssl/certs/ca-certificates.crt"),
        &bundle,
    ]));
    common::tool("docker", &["rm", &container]);
    assert!(copied.status.success(), "{}", copied.stderr);
    let verified = common::tool("openssl", &["verify", "-CAfile", &bundle, &k("server.pem")]).stdout;
    assert!(verified.trim().ends_with(": OK"), "{verified}");
    let args = ["verify", "-CAfile", &k("plain.pem"), &k("server.pem")];
    let mozilla_only = Run::of(std::process::Command::new("openssl").args(args));
    assert!(!mozilla_only.status.success(), "Mozilla's roots alone do not verify it: {}", mozilla_only.stdout);

    // Refused before the build, naming the file and what is wrong with it.
    std::fs::copy(keys.path().join("ca.key"), p.path().join("certs/key.pem")).unwrap();
    std::fs::write(p.path().join("certs/empty.pem"), "nothing here\n").unwrap();
    let outside = keys.path().join("server.pem");
    for (value, says) in [
        ("certs/key.pem", "holds a PRIVATE KEY block; give certificates only"),
        ("certs/empty.pem", "holds no certificate"),
        (outside.to_str().unwrap(), "must be a path relative to the package directory"),
        ("../outside.pem", "does not exist"),
    ] {
        let q = Project::copy("hello");
        std::fs::create_dir_all(q.path().join("certs")).unwrap();
        for f in ["key.pem", "empty.pem"] {
            std::fs::copy(p.path().join("certs").join(f), q.path().join("certs").join(f)).unwrap();
        }
        with_package_table(&q, &format!("extra-ca-certificates = [{value:?}]"));
        let run = q.run(&["-o", "out"]).failed();
        assert!(run.stderr.contains("`extra-ca-certificates`") && run.stderr.contains(says), "{value}: {}", run.stderr);
        assert!(!q.path().join("target").exists(), "nothing was built");
    }
}

/// Issue 12: `init = true` puts an init, built from source, in front of a binary that
/// handles no signal: `docker stop` then stops it with SIGTERM (the init passes it on and
/// exits as the binary did, 128 + 15), where as PID 1 the binary would wait for the
/// SIGKILL (137). The init passes the binary's exit code on, is the same bytes from two
/// project paths, and nothing may take its path.
#[test]
fn init_passes_sigterm_to_a_binary_that_ignores_it() {
    let p = Project::copy("sleeper");
    let name = format!("{}:1", unique_name("init"));
    let _cleanup = DockerImages(vec![name.clone()]);
    let run = p.run(&["-t", &name]).ok();
    assert!(run.stderr.contains("entrypoint /init --, cmd /sleeper"), "{}", run.stderr);
    assert!(!run.stderr.contains("warning"), "the init builds without a word: {}", run.stderr);
    let config = docker_inspect(&name)["Config"].clone();
    assert_eq!(config["Entrypoint"], json!(["/init", "--"]));
    assert_eq!(config["Cmd"], json!(["/sleeper"]));
    let container = format!("cc-init-{}", std::process::id());
    let started = common::tool("docker", &["run", "-d", "--name", &container, &name]).stdout;
    let _gone = common::Container(container.clone());
    assert!(!started.trim().is_empty());
    common::wait_until("the sleeper", || {
        common::tool("docker", &["logs", &container]).stdout.contains("sleeper ready")
    });
    common::tool("docker", &["stop", "-t", "60", &container]);
    let code = common::tool("docker", &["inspect", "--format", "{{.State.ExitCode}}", &container]).stdout;
    assert_eq!(code.trim(), "143", "stopped by SIGTERM through the init, not killed after the wait");
    // The binary's own exit code comes out of the init.
    let exited = Run::of(std::process::Command::new("docker").args(["run", "--rm", &name, "/sleeper", "--exit", "7"]));
    assert_eq!(exited.status.code(), Some(7), "{}", exited.stderr);
    // The same init from another project path (its own layer, the same digest).
    let again = Project::copy("sleeper");
    let (a, b) = (p.path().join("a"), again.path().join("b"));
    let init_layer = |dir: &std::path::Path| common::layout_manifest(dir)["layers"][1]["digest"].clone();
    p.run(&["-q", "-o", a.to_str().unwrap()]).ok();
    again.run(&["-q", "-o", b.to_str().unwrap()]).ok();
    assert_eq!(init_layer(&a), init_layer(&b));
    assert_eq!(common::layout_file(&a, "init").len(), common::layout_file(&b, "init").len());
    // Nothing else may be at /init.
    with_package_table_extra(&again, "include = [{ from = \"src\", to = \"/init\" }]");
    let refused = again.run(&["-o", "c"]).failed();
    assert!(refused.stderr.contains("where init = true puts the init"), "{}", refused.stderr);
}

/// Appends `line` to the package's existing `[package.metadata.containerize]` table (the
/// last table of the manifest).
fn with_package_table_extra(p: &Project, line: &str) {
    let manifest = std::fs::read_to_string(p.manifest()).unwrap();
    let (head, tail) = manifest.split_once("[package.metadata.containerize]\n").unwrap();
    std::fs::write(p.manifest(), format!("{head}[package.metadata.containerize]\n{line}\n{tail}")).unwrap();
}

#[test]
fn ca_certificates_true_forces_the_bundle() {
    let p = Project::copy("hello");
    with_package_table(&p, "ca-certificates = true");
    let dir = p.path().join("lay");
    let run = Run::of(p.cmd().args(["-o", dir.to_str().unwrap()])).ok();
    assert!(run.stderr.contains("the image gets the CA certificates"), "{}", run.stderr);
    assert!(run.stderr.contains("as ca-certificates = true asks for them"), "{}", run.stderr);
    assert!(common::layout_files(&dir).iter().any(|f| f == "etc/ssl/certs/ca-certificates.crt"));
}

#[test]
fn a_layout_is_named_by_the_tags_used_else_by_the_configured_tags() {
    let p = Project::copy("with-metadata");
    let names = |dir: &str| common::layout_ref_names(&p.path().join(dir));
    p.run(&["-q", "-o", "configured"]).ok();
    assert_eq!(names("configured"), ["2.3.4", "latest"]);
    let n = unique_name("names");
    let (x, y, z) = (format!("{n}-x:1"), format!("{n}-y:2"), format!("{n}-z:1"));
    let _cleanup = DockerImages(vec![x.clone(), y.clone(), z.clone()]);
    p.run(&["-q", "-o", "used", "--tarball", "used.tar", "-t", &x, "-t", &y, "-t", &z]).ok();
    assert_eq!(names("used"), ["1", "2"], "each name once, in order");
    common::tool("skopeo", &["inspect", &format!("oci-archive:{}:2", p.path().join("used.tar").display())]);
}

#[test]
fn inside_github_actions_the_workflow_names_the_source_and_the_revision() {
    let p = Project::copy("hello");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let gh = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/app"),
        ("GITHUB_SHA", sha),
    ];
    Run::of(p.cmd().envs(gh).args(["-q", "-o", "gh"])).ok();
    let labels = common::layout_config(&p.path().join("gh"))["config"]["Labels"].clone();
    assert_eq!(labels["org.opencontainers.image.source"], "https://github.com/acme/app");
    assert_eq!(labels["org.opencontainers.image.revision"], sha, "git is not there: the workflow's commit");
    // Outside Actions the same variables say nothing.
    Run::of(p.cmd().envs(gh[1..].iter().copied()).args(["-q", "-o", "plain"])).ok();
    let labels = common::layout_config(&p.path().join("plain"))["config"]["Labels"].clone();
    assert!(
        labels.get("org.opencontainers.image.source").is_none()
            && labels.get("org.opencontainers.image.revision").is_none()
    );
    // A repository in Cargo.toml wins.
    let manifest = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("edition = \"2021\"", "edition = \"2021\"\nrepository = \"https://git.example/own\""),
    )
    .unwrap();
    Run::of(p.cmd().envs(gh).args(["-q", "-o", "own"])).ok();
    let labels = common::layout_config(&p.path().join("own"))["config"]["Labels"].clone();
    assert_eq!(labels["org.opencontainers.image.source"], "https://git.example/own");
}

/// Issue 23: each image is summed up on one stderr line (its size, layers, user, command,
/// ports and base), as docker says its size and Jib its entrypoint; not with -q.
#[test]
fn each_image_is_summed_up_on_one_stderr_line() {
    let p = Project::copy("with-metadata");
    let run = p.run(&["-o", "lay"]).ok();
    let line = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("Assembled server: "))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    // The size is our layers' tars: the sum of the layout's layers, uncompressed.
    let dir = p.path().join("lay");
    let manifest = common::layout_manifest(&dir);
    let layers = manifest["layers"].as_array().unwrap();
    let mut size = 0u64;
    for layer in layers {
        let blob = common::layout_blob(&dir, layer["digest"].as_str().unwrap());
        size += std::io::copy(&mut flate2::read::GzDecoder::new(&blob[..]), &mut std::io::sink()).unwrap();
    }
    let shown = if size < 1000 {
        format!("{size} B")
    } else if size < 1_000_000 {
        format!("{:.1} kB", size as f64 / 1e3)
    } else {
        format!("{:.1} MB", size as f64 / 1e6)
    };
    let expected = format!(
        "{shown}, {} layers, user 65532:65532, entrypoint /server, cmd --greeting hi, ports 53/udp 8080/tcp, base scratch",
        layers.len()
    );
    assert_eq!(line.trim_start(), format!("Assembled server: {expected}"), "{}", run.stderr);
    let quiet = p.run(&["-q", "-o", "lay"]).ok();
    assert!(!quiet.stderr.contains("Assembled"), "{}", quiet.stderr);
}

/// Issue 12: a metadata table whose name is close to `containerize` (the British
/// `containerise`) is not silently dropped: a warning names it and the right name, once; its
/// settings do not apply. A table of another tool says nothing.
#[test]
fn a_misspelt_metadata_table_is_named_with_the_right_one() {
    let p = Project::copy("hello");
    let manifest = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let tables =
        "\n[package.metadata.containerise]\nuser = \"root\"\n\n[package.metadata.docs.rs]\nall-features = true\n";
    std::fs::write(&manifest, format!("{text}{tables}")).unwrap();
    let run = p.run(&["-o", "out"]).ok();
    let warning = "[package.metadata.containerise] in";
    assert_eq!(run.stderr.matches(warning).count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("is not read: did you mean [package.metadata.containerize]?"), "{}", run.stderr);
    assert!(!run.stderr.contains("docs.rs"), "{}", run.stderr);
    let config = common::layout_config(&p.path().join("out"));
    assert_eq!(config["config"]["User"], "65532:65532", "its settings do not apply");
}

/// Issue 12: an include into the working directory leaves it to the image's user: the
/// include layer's entry for the directory carries the owner and mode the workdir's own
/// layer gave it, so the program can still write there.
#[test]
fn an_include_into_the_workdir_leaves_it_to_the_images_user() {
    let p = Project::copy("hello");
    p.run(&["-q", "-o", "out", "--workdir", "/app", "--include", "Cargo.toml:/app/config.toml"]).ok();
    let dir = p.path().join("out");
    let mut seen = Vec::new();
    for layer in common::layout_manifest(&dir)["layers"].as_array().unwrap() {
        let blob = common::layout_blob(&dir, layer["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            if path.trim_end_matches('/') == "app" {
                let h = entry.header();
                seen.push((h.uid().unwrap(), h.gid().unwrap(), h.mode().unwrap()));
            }
        }
    }
    assert_eq!(seen.len(), 2, "the workdir's layer and the include's: {seen:?}");
    assert_eq!(seen[0], seen[1], "{seen:?}");
    assert_eq!((seen[1].0, seen[1].1), (65532, 65532), "{seen:?}");
}
