//! Every local sink, checked with the real tools: skopeo, umoci + runc, and the Docker engine.

mod common;

use common::{docker_inspect, docker_run, tool, unique_name, DockerImages, Engine, Project, Run, HELLO_MARKER};
use std::process::Command;

/// A test of the engine as a destination, run against each engine of the test bed (see
/// docs/engines.md): `NAME::classic` (Docker 20.10, the classic image store, where an
/// image's ID is its config digest) and `NAME::containerd` (Docker 26, the containerd image
/// store, where it is the digest of the manifest the engine keeps).
macro_rules! on_both_engines {
    ($(#[doc = $doc:literal])* fn $name:ident($engine:ident) $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            use super::*;

            fn body($engine: Engine) $body

            #[test]
            fn classic() {
                body(Engine::Classic)
            }

            #[test]
            fn containerd() {
                body(Engine::Containerd)
            }
        }
    };
}

/// The ID each store gives our image: the config digest on the classic store; on the
/// containerd store, the digest of our manifest, which is what the engine gets.
fn expected_id(engine: Engine, manifest_digest: &str, config_digest: &str) -> String {
    match engine {
        Engine::Classic => config_digest.to_string(),
        Engine::Containerd => manifest_digest.to_string(),
    }
}

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

on_both_engines! {
    /// `--tag` of a new image, under names of every form: each is listed by the engine under
    /// the ID printed, and the image runs.
    fn tag_loads_into_docker_and_runs_like_docker_build(engine) {
        let p = Project::copy("hello");
        let name = unique_name("tag");
        let tags = [format!("{name}:1.0"), format!("cc-ns/{name}:extra"), format!("localhost:5000/{name}:latest")];
        let mut cleanup = engine.images(tags.to_vec());
        // A label of its own: an image (an ID) no other test has, so removing it is safe.
        let label = format!("test.run={name}");
        let short = format!("localhost:5000/{name}");
        let run = p.run_on(engine, &["-q", "--label", &label, "-t", &tags[0], "-t", &tags[1], "-t", &short]).ok();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{}", run.stdout);
        let id = run.digest();
        cleanup.images.push(id.clone());
        for (line, tag) in lines.iter().zip(&tags) {
            assert_eq!(*line, format!("{tag} {id}"), "{}", run.stdout);
            // What `docker inspect` and `docker images` show.
            assert_eq!(engine.inspect(tag)["Id"], id.as_str(), "{tag}");
            let (repository, version) = tag.rsplit_once(':').unwrap();
            let listed = engine.docker(&["images", "--no-trunc", "--format", "{{.Tag}} {{.ID}}", repository]).stdout;
            assert!(listed.lines().any(|l| l == format!("{version} {id}")), "{tag}: {listed}");
        }
        let out = engine.run_image(&tags[0], &[]);
        assert!(out.contains(HELLO_MARKER) && out.contains("arch=x86_64"), "{out}");
    }
}

on_both_engines! {
    /// Issue 22: `docker load` of a `--tarball` gives the image its tags on either store:
    /// the classic store reads `manifest.json`, the containerd store `index.json`, whose
    /// entries carry `io.containerd.image.name`.
    fn a_tarball_loads_under_its_tags(engine) {
        let p = Project::copy("hello");
        let name = format!("{}:1", unique_name("tar-load"));
        let mut cleanup = engine.images(vec![name.clone()]);
        let label = format!("test.run={name}");
        let run = p.run_on(engine, &["-q", "--label", &label, "--tarball", "app.tar", "-t", &name, "-o", "lay"]).ok();
        let line = |prefix: &str| run.stdout.lines().find(|l| l.starts_with(prefix)).unwrap().rsplit(' ').next().unwrap().to_string();
        let (id, manifest) = (line(&name), line("lay "));
        cleanup.images.push(id.clone());
        let config = common::layout_manifest(&p.path().join("lay"))["config"]["digest"].as_str().unwrap().to_string();
        assert_eq!(id, expected_id(engine, &manifest, &config));
        engine.docker(&["rmi", &name]);
        let loaded = engine.docker(&["load", "-i", p.path().join("app.tar").to_str().unwrap()]);
        assert!(loaded.stdout.contains(&format!("Loaded image: {name}")), "{}", loaded.stdout);
        assert_eq!(engine.inspect(&name)["Id"], id.as_str());
        assert!(engine.run_image(&name, &[]).contains(HELLO_MARKER));
    }
}

on_both_engines! {
    /// Issue 12: `--name` names the image in the tarball (and the layout) without an engine:
    /// with none at all (`DOCKER_HOST` at nothing), the run succeeds, and `docker load`
    /// lists the name on either store. With several images, each is `PREFIX/<bin>:TAG` in
    /// the one tarball. Without a tarball or a layout to name, it is refused before the build.
    fn a_tarball_named_with_no_engine_loads_under_its_name(engine) {
        let p = Project::copy("hello");
        let name = format!("{}:1", unique_name("named"));
        let mut cleanup = engine.images(vec![name.clone()]);
        let run = Run::of(
            p.cmd().env("DOCKER_HOST", "unix:///nonexistent").args(["-q", "--tarball", "app.tar", "--name", &name]),
        );
        assert!(run.status.success(), "{}", run.stderr);
        let loaded = engine.docker(&["load", "-i", p.path().join("app.tar").to_str().unwrap()]);
        assert!(loaded.stdout.contains(&format!("Loaded image: {name}")), "{}", loaded.stdout);
        assert!(engine.run_image(&name, &[]).contains(HELLO_MARKER));
        let ws = Project::copy("two-bins");
        let prefix = unique_name("named-ws");
        cleanup.images.extend([format!("{prefix}/alpha:2"), format!("{prefix}/beta:2")]);
        let run = Run::of(ws.cmd().env("DOCKER_HOST", "unix:///nonexistent").args([
            "-q",
            "--workspace",
            "--tarball",
            "all.tar",
            "--name",
            &format!("{prefix}:2"),
        ]));
        assert!(run.status.success(), "{}", run.stderr);
        let loaded = engine.docker(&["load", "-i", ws.path().join("all.tar").to_str().unwrap()]);
        for bin in ["alpha", "beta"] {
            assert!(loaded.stdout.contains(&format!("Loaded image: {prefix}/{bin}:2")), "{}", loaded.stdout);
        }
        let refused = p.run(&["--name", &name, "--push", "127.0.0.1:9/x:1"]).failed();
        assert!(refused.stderr.contains("--name names the image in a tarball or a layout"), "{}", refused.stderr);
        assert!(refused.stderr.contains("help: add --tarball FILE"), "{}", refused.stderr);
    }
}

/// Issue 22: `podman load` (Podman 4.3, in a store of its own) takes `--tarball`, of one
/// platform or of several, under its tag: it names the image from the OCI part's
/// `io.containerd.image.name` (without it, a bare `localhost/1:latest`), and of an index it
/// keeps this machine's platform.
#[test]
fn podman_loads_the_tarball_under_its_tag() {
    let store = tempfile::tempdir().unwrap();
    let podman = |args: &[&str]| {
        let root = store.path().join("root");
        let run = store.path().join("run");
        let fixed = ["--root", root.to_str().unwrap(), "--runroot", run.to_str().unwrap(), "--storage-driver", "vfs"];
        tool("podman", &[&fixed[..], args].concat()).stdout
    };
    let p = Project::copy("hello");
    let name = unique_name("podman");
    let (one, two) = (format!("{name}:1"), format!("{name}:2"));
    let _cleanup = DockerImages(vec![one.clone(), two.clone()]);
    let run = p.run(&["-q", "--tarball", "one.tar", "-t", &one]).ok();
    let digest =
        run.stdout.lines().find(|l| l.starts_with("one.tar ")).unwrap().rsplit(' ').next().unwrap().to_string();
    let loaded = podman(&["load", "-i", p.path().join("one.tar").to_str().unwrap()]);
    assert!(loaded.contains(&format!("Loaded image: docker.io/library/{one}")), "{loaded}");
    assert_eq!(podman(&["image", "inspect", &one, "--format", "{{.Digest}}"]).trim(), digest);
    p.run(&["-q", "--platform", "linux/amd64,linux/arm64", "--tarball", "two.tar", "-t", &two]).ok();
    let loaded = podman(&["load", "-i", p.path().join("two.tar").to_str().unwrap()]);
    assert!(loaded.contains(&format!("Loaded image: docker.io/library/{two}")), "{loaded}");
    assert_eq!(podman(&["image", "inspect", &two, "--format", "{{.Architecture}}"]).trim(), "amd64");
}

/// Podman 4.3's API service, with a store of its own, listening on `socket`; stopped when
/// dropped. `podman run` here needs lower limits (see TESTBED), set for the service too.
struct PodmanService {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl PodmanService {
    fn start(socket: &std::path::Path) -> PodmanService {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("containers.conf");
        std::fs::write(&conf, "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n").unwrap();
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        let mut c = Command::new("podman");
        c.args(PodmanService::store_args(dir.path()))
            .args(["system", "service", "--time=0", &format!("unix://{}", socket.display())])
            .env("CONTAINERS_CONF", &conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = c.spawn().expect("podman is installed (.ci/setup)");
        common::wait_until("podman's API service", || std::os::unix::net::UnixStream::connect(socket).is_ok());
        PodmanService { child, dir }
    }

    fn store_args(dir: &std::path::Path) -> Vec<String> {
        let (root, run) = (dir.join("root"), dir.join("runroot"));
        ["--root", root.to_str().unwrap(), "--runroot", run.to_str().unwrap(), "--storage-driver", "vfs"]
            .map(str::to_string)
            .to_vec()
    }

    /// `podman ARGS` on the service's store.
    fn podman(&self, args: &[&str]) -> String {
        let conf = self.dir.path().join("containers.conf");
        let out = Command::new("podman")
            .args(PodmanService::store_args(self.dir.path()))
            .args(args)
            .env("CONTAINERS_CONF", conf)
            .output()
            .unwrap();
        assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 12: with no Docker socket, `--tag` loads through Podman's API service, found where
/// rootless Podman listens (`$XDG_RUNTIME_DIR/podman/podman.sock`), or at `CONTAINER_HOST`,
/// and says so on stderr; `podman images` lists the image under its name (`localhost/NAME`,
/// as for `podman build -t NAME`), and `podman run` runs it. The Docker socket is hidden by a tmpfs over `/run` in a mount namespace of the
/// run's own (`unshare -m`): nothing of the host changes.
#[test]
fn with_no_docker_socket_tag_loads_into_podman() {
    let p = Project::copy("hello");
    let socket = p.path().join(".home/run/podman/podman.sock");
    let service = PodmanService::start(&socket);
    let name = format!("{}:1", unique_name("podman-tag"));
    let without_docker = |args: &[&str], env: &[(&str, String)]| {
        let mut c = Command::new("unshare");
        c.args(["-m", "sh", "-c", "mount -t tmpfs tmpfs /run && exec \"$@\"", "sh", common::bin(), "containerize"])
            .args(args)
            .current_dir(p.path())
            .stdin(std::process::Stdio::null());
        common::isolate(&mut c, p.path());
        c.env_remove("DOCKER_HOST").env_remove("DOCKER_CONTEXT").env_remove("CONTAINER_HOST");
        c.envs(env.iter().map(|(k, v)| (k, v)));
        Run::of(&mut c)
    };
    let run = without_docker(&["-t", &name], &[]);
    assert!(run.status.success(), "{}", run.stderr);
    let said = format!(
        "note: the image goes to Podman's engine at unix://{} (Podman, from $XDG_RUNTIME_DIR/podman/podman.sock: no \
         Docker socket at /var/run/docker.sock)",
        socket.display()
    );
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    // Named as Podman names a local image with no registry (`podman build -t NAME`).
    let listed = service.podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(listed.lines().any(|l| l == format!("localhost/{name}")), "{listed}");
    let out = service.podman(&["run", "--rm", &name]);
    assert!(out.contains(HELLO_MARKER), "{out}");
    // CONTAINER_HOST comes first; the rootless socket is then not looked for.
    let elsewhere = p.path().join("elsewhere");
    let run = without_docker(
        &["-t", &name],
        &[
            ("CONTAINER_HOST", format!("unix://{}", socket.display())),
            ("XDG_RUNTIME_DIR", elsewhere.display().to_string()),
        ],
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains("(Podman, from CONTAINER_HOST: no Docker socket"), "{}", run.stderr);
    // An ssh:// CONTAINER_HOST (a remote Podman) is refused, naming the variable (its user
    // left out, as from any address shown).
    let run = without_docker(&["-t", &name], &[("CONTAINER_HOST", "ssh://core@host/run/podman.sock".into())]);
    assert!(!run.status.success());
    assert!(run.stderr.contains("CONTAINER_HOST=\"ssh://host/run/podman.sock\" is not supported"), "{}", run.stderr);
    assert!(run.stderr.contains("help: give Podman's socket as CONTAINER_HOST=unix://"), "{}", run.stderr);
}

/// Issue 12: `--tag` goes where `docker` goes. That is the current Docker context
/// (`docker context use`, kept in config.json) or `DOCKER_CONTEXT`; its endpoint is in
/// `contexts/meta/<sha256 of its name>/meta.json`. `DOCKER_HOST` beats both, `default` is
/// the default socket, and a context that does not exist is named, before the build.
#[test]
fn tag_follows_the_docker_context_as_the_cli_does() {
    let p = Project::copy("hello");
    let config = p.docker_config();
    let hash =
        tool("sh", &["-c", "printf %s d26ctx | sha256sum"]).stdout.split_whitespace().next().unwrap().to_string();
    let meta = config.join("contexts/meta").join(&hash);
    std::fs::create_dir_all(&meta).unwrap();
    let endpoint = Engine::Containerd.host();
    let doc = serde_json::json!({"Name": "d26ctx", "Metadata": {}, "Endpoints": {"docker": {"Host": endpoint, "SkipTLSVerify": false}}});
    std::fs::write(meta.join("meta.json"), doc.to_string()).unwrap();
    std::fs::write(config.join("config.json"), r#"{"currentContext": "d26ctx"}"#).unwrap();
    let name = format!("{}:1", unique_name("ctx"));
    let _cleanup = Engine::Containerd.images(vec![name.clone()]);
    let _classic = DockerImages(vec![name.clone()]);
    let run = Run::of(p.cmd().env_remove("DOCKER_HOST").env_remove("DOCKER_CONTEXT").args(["-q", "-t", &name])).ok();
    assert_eq!(Engine::Containerd.inspect(&name)["Id"], run.digest().as_str(), "loaded into the context's engine");
    let classic = Engine::Classic.command(&["image", "inspect", &name]).output().unwrap();
    assert!(!classic.status.success(), "not into the default socket's");
    // DOCKER_CONTEXT=default is the default socket.
    let run =
        Run::of(p.cmd().env_remove("DOCKER_HOST").env("DOCKER_CONTEXT", "default").args(["-q", "-t", &name])).ok();
    assert_eq!(Engine::Classic.inspect(&name)["Id"], run.digest().as_str());
    // DOCKER_HOST beats the context.
    Engine::Classic.docker(&["rmi", &name]);
    let run = Run::of(p.cmd().env("DOCKER_HOST", Engine::Classic.host()).args(["-q", "-t", &name])).ok();
    assert_eq!(Engine::Classic.inspect(&name)["Id"], run.digest().as_str(), "DOCKER_HOST, not the context");
    // A context that does not exist is named, with where it came from.
    let missing =
        Run::of(p.cmd().env_remove("DOCKER_HOST").env("DOCKER_CONTEXT", "nope").args(["-t", "ctx-missing:1"]));
    assert!(!missing.status.success());
    assert!(
        missing.stderr.contains("the Docker context \"nope\" (from DOCKER_CONTEXT) does not exist here"),
        "{}",
        missing.stderr
    );
    assert!(missing.stderr.contains("docker context ls"), "{}", missing.stderr);
}

/// A TLS front for the engine (socat, asking for a client certificate signed by `ca`), on a
/// loopback port; stopped when dropped.
struct TlsFront {
    child: std::process::Child,
    port: u16,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsFront {
    fn start(dir: &std::path::Path, socket: &str) -> TlsFront {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let f = |name: &str| dir.join(name).display().to_string();
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
            f("server.pem"),
            f("server.key"),
            f("ca.pem")
        );
        let child = Command::new("socat")
            .args([&listen, &format!("UNIX-CONNECT:{socket}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("socat is installed (.ci/setup)");
        common::wait_until("socat", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        TlsFront { child, port }
    }
}

/// A CA, and in `dir` its `ca.pem`, a server certificate for 127.0.0.1 (`server.pem`,
/// `server.key`) and a client certificate (`cert.pem`, `key.pem`), all signed by it.
fn tls_material(dir: &std::path::Path, cn: &str) {
    let f = |name: &str| dir.join(name).display().to_string();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let subject = format!("/CN={cn}");
    tool(
        "openssl",
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", &f("ca.key"), "-out", &f("ca.pem"), "-days", "2", "-subj", &subject],
        ]
        .concat(),
    );
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let key = if name == "server" { f("server.key") } else { f("key.pem") };
        tool(
            "openssl",
            &[
                &["req"][..],
                &ec,
                &["-keyout", &key, "-out", &f(&format!("{name}.csr")), "-subj", &format!("/CN={name}")],
            ]
            .concat(),
        );
        let out = if name == "server" { f("server.pem") } else { f("cert.pem") };
        tool(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &f(&format!("{name}.csr")),
                "-CA",
                &f("ca.pem"),
                "-CAkey",
                &f("ca.key"),
                "-CAcreateserial",
                "-out",
                &out,
                "-days",
                "2",
                "-extfile",
                &f(&format!("{name}.ext")),
            ],
        );
    }
}

/// Issue 12: a Docker context (and `DOCKER_HOST` with `DOCKER_TLS_VERIFY`) whose engine is
/// reached over TLS: the engine's certificate is checked against the context's `ca.pem`,
/// and the client's `cert.pem` and `key.pem` are sent, as the Docker CLI does. The engine
/// here is the real one behind a TLS front that asks for a client certificate. Another
/// CA's certificate, no client certificate, and a context that skips verification fail
/// before the build, named.
#[test]
fn tag_reaches_an_engine_over_tls_with_the_contexts_material() {
    let p = Project::copy("hello");
    let certs = tempfile::tempdir().unwrap();
    tls_material(certs.path(), "engine-ca");
    let socket = Engine::Classic.host().trim_start_matches("unix://").to_string();
    let front = TlsFront::start(certs.path(), &socket);
    let config = p.docker_config();
    let hash =
        tool("sh", &["-c", "printf %s tlsctx | sha256sum"]).stdout.split_whitespace().next().unwrap().to_string();
    let meta = config.join("contexts/meta").join(&hash);
    let tls = config.join("contexts/tls").join(&hash).join("docker");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::create_dir_all(&tls).unwrap();
    let host = format!("tcp://127.0.0.1:{}", front.port);
    let doc = |skip: bool| serde_json::json!({"Name": "tlsctx", "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}}});
    std::fs::write(meta.join("meta.json"), doc(false).to_string()).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(certs.path().join(f), tls.join(f)).unwrap();
    }
    std::fs::write(config.join("config.json"), r#"{"currentContext": "tlsctx"}"#).unwrap();
    let name = format!("{}:1", unique_name("tls-ctx"));
    let other = format!("{}:1", unique_name("tls-env"));
    let _cleanup = DockerImages(vec![name.clone(), other.clone()]);
    let no_host = |c: &mut Command| {
        c.env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
    };
    let mut c = p.cmd();
    no_host(&mut c);
    let run = Run::of(c.args(["-v", "-t", &name])).ok();
    assert!(run.stderr.contains(&format!("{host} (TLS, with {})", tls.display())), "{}", run.stderr);
    assert_eq!(Engine::Classic.inspect(&name)["Id"], run.digest().as_str(), "loaded through the TLS front");
    // DOCKER_HOST with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the Docker CLI takes them.
    let with_cert_path = |dir: &std::path::Path, tag: &str| {
        let mut c = p.cmd();
        no_host(&mut c);
        c.env("DOCKER_HOST", &host).env("DOCKER_TLS_VERIFY", "1").env("DOCKER_CERT_PATH", dir);
        Run::of(c.args(["-q", "-t", tag]))
    };
    let run = with_cert_path(certs.path(), &other).ok();
    assert_eq!(Engine::Classic.inspect(&other)["Id"], run.digest().as_str());
    // Another CA's certificate in ca.pem: the engine's is not trusted.
    let stranger = tempfile::tempdir().unwrap();
    tls_material(stranger.path(), "stranger-ca");
    let refused = with_cert_path(stranger.path(), "tls-refused:1");
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("TLS handshake: invalid peer certificate: UnknownIssuer"), "{}", refused.stderr);
    assert!(refused.stderr.contains(&format!("cannot reach the Docker engine at {host} (TLS")), "{}", refused.stderr);
    // No client certificate: the engine's front refuses it once the handshake is done.
    let ca_only = tempfile::tempdir().unwrap();
    std::fs::copy(certs.path().join("ca.pem"), ca_only.path().join("ca.pem")).unwrap();
    let refused = with_cert_path(ca_only.path(), "tls-refused:1");
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("TLS: received fatal alert: CertificateRequired"), "{}", refused.stderr);
    assert!(refused.stderr.contains("help: check the engine's TLS files"), "{}", refused.stderr);
    // A context that skips verification is refused, named.
    std::fs::write(meta.join("meta.json"), doc(true).to_string()).unwrap();
    let mut c = p.cmd();
    no_host(&mut c);
    let refused = Run::of(c.args(["-t", "tls-refused:1"]));
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("the Docker context \"tlsctx\""), "{}", refused.stderr);
    assert!(refused.stderr.contains("(SkipTLSVerify)"), "{}", refused.stderr);
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
    // The tarball carries the push's name too; the registry is checked before the build, so
    // it is a real one.
    let registry = common::registry::Registry::plain();
    let pushed = format!("{}/{name}:2", registry.host());
    let run = p.run(&["-q", "--tarball", tar_path.to_str().unwrap(), "--push", &pushed]).ok();
    assert!(run.stdout.starts_with(&format!("{} sha256:", tar_path.display())), "{}", run.stdout);

    let loaded = tool("docker", &["load", "-i", tar_path.to_str().unwrap()]).stdout;
    assert!(loaded.contains(&pushed), "{loaded}");
    let _cleanup2 = DockerImages(vec![pushed.clone()]);
    assert!(docker_run(&pushed, &[]).contains(HELLO_MARKER));

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

on_both_engines! {
    /// One image for every destination of a run; the engine's line and the results file give
    /// the ID the engine shows, and the config digest.
    fn all_sinks_in_one_run_share_one_image(engine) {
        let p = Project::copy("hello");
        let name = unique_name("all");
        let mut cleanup = engine.images(vec![format!("{name}:1")]);
        let results = p.path().join("results.json");
        // A label of its own: an image (an ID) no other test has, so removing it is safe.
        let label = format!("test.run={name}");
        let args = ["-q", "--label", &label, "-o", "lay", "--tarball", "img.tar", "-t", &format!("{name}:1")];
        let run = p.run_on(engine, &[&args[..], &["--metadata-file", results.to_str().unwrap()]].concat()).ok();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{}", run.stdout);
        let digest_of = |prefix: &str| {
            let line = lines.iter().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} line"));
            line.rsplit(' ').next().unwrap().to_string()
        };
        // The layout and the tar carry the same manifest.
        let manifest_digest = digest_of("lay ");
        assert_eq!(digest_of("img.tar "), manifest_digest);
        let manifest: serde_json::Value =
            serde_json::from_slice(&common::layout_blob(&p.path().join("lay"), &manifest_digest)).unwrap();
        let config = manifest["config"]["digest"].as_str().unwrap().to_string();
        // The engine reports its image ID: the one its store gives that manifest.
        let id = engine.inspect(&format!("{name}:1"))["Id"].as_str().unwrap().to_string();
        cleanup.images.push(id.clone());
        assert_eq!(id, expected_id(engine, &manifest_digest, &config));
        assert_eq!(digest_of(&format!("{name}:1 ")), id);

        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
        let entries = v["destinations"].as_array().unwrap();
        let entry = entries.iter().find(|e| e["kind"] == "engine").unwrap_or_else(|| panic!("no engine entry: {v}"));
        let kept = match engine {
            Engine::Classic => serde_json::Value::Null,
            Engine::Containerd => serde_json::json!(manifest_digest),
        };
        assert_eq!(
            *entry,
            serde_json::json!({
                "kind": "engine", "reference": format!("{name}:1"), "fullReference": format!("{name}:1@{id}"),
                "imageId": id, "config": config, "digest": kept, "package": "hello", "bin": "hello",
            })
        );
    }
}

/// On the classic store: the containerd store gets our manifest, so the gzip layers.
#[test]
fn tag_alone_never_compresses_a_layer() {
    let engine = Engine::Classic;
    let p = Project::copy("hello");
    let name = unique_name("nocompress");
    let _cleanup = engine.images(vec![format!("{name}:1")]);
    p.run_on(engine, &["-q", "-t", &format!("{name}:1")]).ok();
    let cache = p.path().join("target/containerize/cache");
    let gz: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "gz"))
        .collect();
    assert!(gz.is_empty(), "--tag alone compressed {gz:?}");
    assert!(engine.run_image(&format!("{name}:1"), &[]).contains(HELLO_MARKER));
}

on_both_engines! {
    /// `--tag` of an unchanged image: the engine, which has it (found by the ID its store
    /// gives it), only gets the new tag: one `load` event for the first run, only `tag`
    /// events for the second.
    fn an_image_the_engine_already_has_is_tagged_not_loaded_again(engine) {
        let p = Project::copy("hello");
        let (first, second) = (common::unique_name("load"), common::unique_name("tag-only"));
        let mut cleanup = engine.images(vec![first.clone(), second.clone()]);
        // A label of its own: an image no earlier run can have loaded.
        let label = format!("test.run={first}");
        let start = engine.now();
        let one = p.run_on(engine, &["--tag", &first, "--label", &label]).ok();
        let middle = engine.now();
        let two = p.run_on(engine, &["--tag", &second, "--label", &label]).ok();
        let end = engine.now();
        let id = one.digest();
        cleanup.images.push(id.clone());
        assert_eq!(two.digest(), id);
        assert_eq!(engine.inspect(&second)["Id"], id.as_str());
        // Other tests use the engine meanwhile: only this image's events count.
        let ours = |events: Vec<String>| -> Vec<String> { events.into_iter().filter(|e| e.ends_with(&id)).collect() };
        let loaded = ours(engine.image_events(&start, &middle));
        assert_eq!(loaded.iter().filter(|e| e.starts_with("load")).count(), 1, "{loaded:?}");
        let tagged = ours(engine.image_events(&middle, &end));
        assert!(!tagged.iter().any(|e| e.starts_with("load")), "loaded again: {tagged:?}");
        assert!(tagged.iter().any(|e| e.starts_with("tag")), "{tagged:?}");
        assert!(engine.run_image(&second, &[]).contains(common::HELLO_MARKER));
    }
}

/// An engine that refuses `GET /info` (a socket proxy that allows only some endpoints) is
/// taken as the classic store, with a warning that says so; one whose `/info` is no
/// engine's answer stops the run before the build, saying why.
#[test]
fn an_engine_that_does_not_say_its_image_store() {
    use common::hostile::{Response, Scripted};
    // The proxy lets the rest through to an engine that has the image: only tagged.
    let proxy = Scripted::start(|req, _| match (req.method.as_str(), req.target.as_str()) {
        ("GET", "/_ping") => Response::new(200),
        ("GET", "/info") => Response::new(403).json(r#"{"message":"forbidden by the proxy"}"#),
        ("GET", t) if t.starts_with("/images/sha256:") && t.ends_with("/json") => Response::new(200).json("{}"),
        ("POST", t) if t.starts_with("/images/sha256:") && t.contains("/tag?") => Response::new(201),
        _ => Response::new(500).json(r#"{"message":"not expected in this test"}"#),
    });
    let p = Project::copy("hello");
    let host = format!("tcp://{}", proxy.host());
    let run = Run::of(p.cmd().env("DOCKER_HOST", &host).args(["--tag", "x:1", "-o", "lay"])).ok();
    assert!(
        run.stderr.contains(&format!("the Docker engine at {host} did not say which image store")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("HTTP 403: forbidden by the proxy"), "{}", run.stderr);
    let config = common::layout_manifest(&p.path().join("lay"))["config"]["digest"].as_str().unwrap().to_string();
    assert!(run.stdout.lines().any(|l| l == format!("x:1 {config}")), "{}", run.stdout);
    let seen: Vec<String> = proxy.seen().iter().map(|r| format!("{} {}", r.method, r.target)).collect();
    assert_eq!(
        seen,
        [
            "GET /_ping".to_string(),
            "GET /info".to_string(),
            format!("GET /images/{config}/json"),
            format!("POST /images/{config}/tag?repo=x&tag=1"),
        ]
    );

    let odd = Scripted::start(|req, _| match req.target.as_str() {
        "/_ping" => Response::new(200),
        _ => {
            let mut page = Response::new(200).header("Content-Type", "text/html");
            page.body = b"<html>a login page</html>".to_vec();
            page
        }
    });
    let p = Project::copy("hello");
    let host = format!("tcp://{}", odd.host());
    let run = Run::of(p.cmd().env("DOCKER_HOST", &host).args(["--tag", "x:1"])).failed();
    assert!(
        run.stderr.contains(&format!("the Docker engine at {host} answered GET /info with no JSON object")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("check that DOCKER_HOST names a Docker engine"), "{}", run.stderr);
    assert!(!p.path().join("target").exists(), "nothing may be built when the engine cannot be used");
}
