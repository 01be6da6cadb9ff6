//! Helpers shared by the integration tests: fixtures in temp dirs, the real binary, Docker.
#![allow(dead_code)]

pub mod bases;
pub mod fault_proxy;
pub mod hostile;
pub mod images;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The marker line every fixture binary prints.
pub const HELLO_MARKER: &str = "hello from cargo-containerize fixture";

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cargo-containerize")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fixture copied into its own temporary directory.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn copy(fixture: &str) -> Project {
        let dir = tempfile::Builder::new().prefix("cc-test-").tempdir().unwrap();
        copy_tree(&fixtures().join(fixture), dir.path());
        let docker = dir.path().join(".home/docker");
        std::fs::create_dir_all(&docker).unwrap();
        std::fs::write(docker.join("config.json"), "{}").unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn manifest(&self) -> PathBuf {
        self.path().join("Cargo.toml")
    }

    /// `cargo-containerize containerize ARGS` run in the project directory, in an
    /// environment of its own: caches, Docker and Podman configs inside the project (an
    /// empty Docker config, unless a test writes one), no credentials or tuning inherited.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("containerize").current_dir(self.path()).stdin(Stdio::null());
        isolate(&mut c, self.path());
        c
    }

    /// The Docker config directory the tool reads (see [`Project::cmd`]).
    pub fn docker_config(&self) -> PathBuf {
        self.path().join(".home/docker")
    }

    /// Runs the tool; no form of the canary may show in its output or any file it wrote.
    pub fn run(&self, args: &[&str]) -> Run {
        let run = Run::of(self.cmd().args(args));
        assert_no_canary(&[&run.stdout, &run.stderr], &[self.path()]);
        run
    }

    /// Runs the tool against `engine` (its `DOCKER_HOST`), as [`Project::run`] does.
    pub fn run_on(&self, engine: Engine, args: &[&str]) -> Run {
        let run = Run::of(self.cmd().env("DOCKER_HOST", engine.host()).args(args));
        assert_no_canary(&[&run.stdout, &run.stderr], &[self.path()]);
        run
    }
}

/// Points every user-level path the tool reads or writes into `home/.home`, and drops
/// the variables that would change its behaviour.
pub fn isolate(c: &mut Command, home: &Path) {
    let home = home.join(".home");
    c.env("XDG_CACHE_HOME", home.join("cache"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("HOME", &home);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_string();
        // A CI runner's GITHUB_* variables would change labels and provenance.
        if name.starts_with("CARGO_CONTAINERIZE_")
            || name.starts_with("GITHUB_")
            || name == "REGISTRY_AUTH_FILE"
            || name == "SOURCE_DATE_EPOCH"
        {
            c.env_remove(&name);
        }
    }
    // Every run carries the canary, for a host no test pushes to (a test that gives
    // credentials of its own overrides it); `Project::run` checks that it never shows.
    c.envs(canary_env("canary.invalid"));
}

/// The known password every push test runs with: it must never appear in any output or
/// any file a run writes, nor its Basic forms.
pub const CANARY_USER: &str = "canary";
pub const CANARY_PASSWORD: &str = "Canary-Pa55word-7f3b1c9e";

/// The canary and the forms it travels in (Basic `user:password`, and base64 of either
/// with and without padding, URL-safe).
pub fn canary_forms() -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    let raw = format!("{CANARY_USER}:{CANARY_PASSWORD}");
    let mut forms = vec![CANARY_PASSWORD.to_string()];
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        forms.push(engine.encode(&raw));
        forms.push(engine.encode(CANARY_PASSWORD));
    }
    forms
}

/// The CI variables carrying the canary, for the registry `host`.
pub fn canary_env(host: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CARGO_CONTAINERIZE_USERNAME", CANARY_USER.to_string()),
        ("CARGO_CONTAINERIZE_PASSWORD", CANARY_PASSWORD.to_string()),
        ("CARGO_CONTAINERIZE_REGISTRY", host.to_string()),
    ]
}

/// Fails if any form of the canary is in `texts` or in any file under `dirs`.
pub fn assert_no_canary(texts: &[&str], dirs: &[&Path]) {
    let forms = canary_forms();
    for text in texts {
        for form in &forms {
            assert!(!text.contains(form.as_str()), "the canary secret leaked ({form}) into:\n{text}");
        }
    }
    for dir in dirs {
        for file in files_under(dir) {
            let Ok(bytes) = std::fs::read(&file) else { continue };
            for form in &forms {
                let (first, rest) = (form.as_bytes()[0], &form.as_bytes()[1..]);
                let found = bytes
                    .iter()
                    .enumerate()
                    .any(|(i, b)| *b == first && bytes.get(i + 1..i + 1 + rest.len()) == Some(rest));
                assert!(!found, "the canary secret leaked ({form}) into {}", file.display());
            }
        }
    }
}

/// Every file under `dir` that the tool may have written: of a `target/` directory, only
/// `target/containerize` (cargo's own outputs are not the tool's).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        let is_target = d.file_name().is_some_and(|n| n == "target");
        for e in entries.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() && (!is_target || e.file_name() == "containerize") {
                pending.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".home" {
            continue;
        }
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// A finished command with its output decoded.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(cmd: &mut Command) -> Run {
        Run::from_output(cmd.output().unwrap())
    }

    pub fn from_output(Output { status, stdout, stderr }: Output) -> Run {
        Run { status, stdout: String::from_utf8_lossy(&stdout).into(), stderr: String::from_utf8_lossy(&stderr).into() }
    }

    pub fn ok(self) -> Run {
        assert!(
            self.status.success(),
            "command failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn failed(self) -> Run {
        assert!(
            !self.status.success(),
            "command should have failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The digest at the end of the single stdout line.
    pub fn digest(&self) -> String {
        let line = self.stdout.lines().next().unwrap_or_else(|| panic!("no stdout; stderr:\n{}", self.stderr));
        line.rsplit(' ').next().unwrap().to_string()
    }
}

/// Runs an external tool and returns its output, failing the test if it fails.
pub fn tool(program: &str, args: &[&str]) -> Run {
    let run = Run::of(Command::new(program).args(args).stdin(Stdio::null()));
    assert!(run.status.success(), "{program} {args:?} failed:\n{}\n{}", run.stdout, run.stderr);
    run
}

/// A Docker image name unique to this test process and call.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("cc-{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// Removes Docker images when dropped.
pub struct DockerImages(pub Vec<String>);

impl Drop for DockerImages {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

/// Waits, for 30 s at most, until `ready` says so, polling; panics naming `what` after.
pub fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
}

/// Removes a Docker container (running or not) when dropped.
pub struct Container(pub String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// Where the test bed's second engine listens unless `CARGO_CONTAINERIZE_TEST_DOCKER26` says.
pub const DOCKER26_DEFAULT: &str = "unix:///run/cargo-containerize-d26/docker.sock";

/// A Docker engine of the test bed (see docs/engines.md), each checked to keep the image
/// store it stands for: a test meant for one store never passes on the other unnoticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The classic image store: the environment's `DOCKER_HOST`, else the default socket
    /// (the system's Docker 20.10).
    Classic,
    /// The containerd image store: Docker 26 from `.ci/docker26`, at
    /// `CARGO_CONTAINERIZE_TEST_DOCKER26` (else [`DOCKER26_DEFAULT`]).
    Containerd,
}

impl Engine {
    /// Its `DOCKER_HOST`.
    pub fn host(self) -> String {
        let var = match self {
            Engine::Classic => "DOCKER_HOST",
            Engine::Containerd => "CARGO_CONTAINERIZE_TEST_DOCKER26",
        };
        let default = match self {
            Engine::Classic => "unix:///var/run/docker.sock",
            Engine::Containerd => DOCKER26_DEFAULT,
        };
        std::env::var(var).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| default.to_string())
    }

    /// Fails the test unless the engine answers and keeps the store it stands for; asked
    /// once per test process.
    fn check(self) {
        static CHECKED: [std::sync::OnceLock<Result<(), String>>; 2] =
            [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
        let checked = CHECKED[self as usize].get_or_init(|| {
            let host = self.host();
            let out = Command::new("docker")
                .args(["info", "--format", "{{json .DriverStatus}}"])
                .env("DOCKER_HOST", &host)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run docker: {e}"))?;
            let start = match self {
                Engine::Classic => "the system's engine",
                Engine::Containerd => "the second engine: `bash .ci/docker26` (.ci/setup runs it)",
            };
            if !out.status.success() {
                return Err(format!(
                    "the {self:?} engine does not answer at {host} ({}); start {start}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            let status = String::from_utf8_lossy(&out.stdout).to_string();
            let containerd = status.contains(r#"["driver-type","io.containerd.snapshotter.v1"]"#);
            if containerd != (self == Engine::Containerd) {
                return Err(format!("the engine at {host} is not the {self:?} image store: DriverStatus {status}"));
            }
            Ok(())
        });
        if let Err(e) = checked {
            panic!("{e}");
        }
    }

    /// `docker ARGS` against this engine; the caller reads how it ended.
    pub fn command(self, args: &[&str]) -> Command {
        self.check();
        let mut c = Command::new("docker");
        c.args(args).env("DOCKER_HOST", self.host()).stdin(Stdio::null());
        c
    }

    /// `docker ARGS` against this engine; fails the test if it fails.
    pub fn docker(self, args: &[&str]) -> Run {
        let run = Run::of(&mut self.command(args));
        assert!(run.status.success(), "docker {args:?} on {self:?} failed:\n{}\n{}", run.stdout, run.stderr);
        run
    }

    /// `docker run --rm --network none IMAGE ARGS` on this engine, stdout.
    pub fn run_image(self, image: &str, args: &[&str]) -> String {
        let mut all = vec!["run", "--rm", "--network", "none", image];
        all.extend_from_slice(args);
        self.docker(&all).stdout
    }

    /// `docker image inspect IMAGE` on this engine, as JSON.
    pub fn inspect(self, image: &str) -> serde_json::Value {
        let out = self.docker(&["image", "inspect", image]).stdout;
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
    }

    /// The engine's clock (`docker info`), for `docker events --since/--until`.
    pub fn now(self) -> String {
        self.docker(&["info", "--format", "{{.SystemTime}}"]).stdout.trim().to_string()
    }

    /// The engine's image events between two instants (`docker events`), as `ACTION ID`
    /// lines.
    pub fn image_events(self, since: &str, until: &str) -> Vec<String> {
        let args = ["events", "--since", since, "--until", until, "--filter", "type=image", "--format"];
        let out = self.docker(&[&args[..], &["{{.Action}} {{.Actor.ID}}"]].concat()).stdout;
        out.lines().map(str::to_string).collect()
    }

    /// Images (names or IDs) of this engine that are removed when the value is dropped.
    pub fn images(self, images: Vec<String>) -> EngineImages {
        EngineImages { engine: self, images }
    }
}

/// Removes images from an engine when dropped (see [`Engine::images`]).
pub struct EngineImages {
    engine: Engine,
    pub images: Vec<String>,
}

impl Drop for EngineImages {
    fn drop(&mut self) {
        for image in &self.images {
            let _ = Command::new("docker")
                .args(["rmi", "-f", image])
                .env("DOCKER_HOST", self.engine.host())
                .stdin(Stdio::null())
                .output();
        }
    }
}

/// `docker run --rm --network none IMAGE ARGS`, stdout.
pub fn docker_run(image: &str, args: &[&str]) -> String {
    let mut all = vec!["run", "--rm", "--network", "none", image];
    all.extend_from_slice(args);
    tool("docker", &all).stdout
}

/// `docker inspect IMAGE` as JSON.
pub fn docker_inspect(image: &str) -> serde_json::Value {
    let out = tool("docker", &["image", "inspect", image]).stdout;
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
}

/// Reads a blob of an OCI layout.
pub fn layout_blob(dir: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap()
}

/// A layout's `index.json`.
pub fn layout_index(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

/// The manifest a layout's `index.json` points at first.
pub fn layout_manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&layout_blob(dir, &layout_index_digest(dir))).unwrap()
}

/// The `org.opencontainers.image.ref.name` of each named `index.json` entry, in order
/// (referrers, such as SBOMs, have none).
pub fn layout_ref_names(dir: &Path) -> Vec<String> {
    let index = layout_index(dir);
    let entries = index["manifests"].as_array().unwrap();
    entries.iter().filter_map(|m| m["annotations"][REF_NAME].as_str().map(str::to_string)).collect()
}

/// The config JSON of the image a layout's index points at first.
pub fn layout_config(dir: &Path) -> serde_json::Value {
    let manifest = layout_manifest(dir);
    serde_json::from_slice(&layout_blob(dir, manifest["config"]["digest"].as_str().unwrap())).unwrap()
}

/// Unpacks `dir:reference` with umoci and runs it with runc; returns the container's stdout.
pub fn umoci_runc(dir: &Path, reference: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    let image = format!("{}:{reference}", dir.display());
    tool("umoci", &["unpack", "--image", &image, bundle.to_str().unwrap()]);
    let config_path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = serde_json::json!(false);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let id = unique_name("runc");
    let run = Run::of(Command::new("runc").args(["run", &id]).current_dir(&bundle).stdin(Stdio::null()));
    let _ = Command::new("runc").args(["delete", "-f", &id]).output();
    assert!(run.status.success(), "runc run failed:\n{}\n{}", run.stdout, run.stderr);
    run.stdout
}

/// Every path in every layer of the first image of a layout.
pub fn layout_files(dir: &Path) -> Vec<String> {
    let manifest = layout_manifest(dir);
    let mut files = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let gz = layout_blob(dir, layer["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        for entry in archive.entries().unwrap() {
            files.push(entry.unwrap().path().unwrap().display().to_string().trim_end_matches('/').to_string());
        }
    }
    files
}

/// The bytes of the file at `path` (relative, as in the tar) in a layout's image: the
/// topmost layer's.
pub fn layout_file(dir: &Path, path: &str) -> Vec<u8> {
    let manifest = layout_manifest(dir);
    let mut found = None;
    for layer in manifest["layers"].as_array().unwrap() {
        let gz = layout_blob(dir, layer["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some(path) {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
                found = Some(bytes);
            }
        }
    }
    found.unwrap_or_else(|| panic!("{path} is in no layer of {}", dir.display()))
}

/// The digest of the top entry of a layout's `index.json`.
pub fn layout_index_digest(dir: &Path) -> String {
    let index = layout_index(dir);
    let named = index["manifests"].as_array().unwrap().iter().find(|m| m["annotations"].get(REF_NAME).is_some());
    named.expect("a named image")["digest"].as_str().unwrap().to_string()
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A `cargo` in front of the real one that logs each subcommand it is given, for a test to
/// count the builds a run started: pass [`CargoShim::path`] as `CARGO`.
pub struct CargoShim {
    pub path: PathBuf,
    log: PathBuf,
}

impl CargoShim {
    /// Made under the project's own home.
    pub fn new(project: &Project) -> CargoShim {
        use std::os::unix::fs::PermissionsExt;
        let log = project.path().join("cargo.log");
        let path = project.path().join(".home/cargo-shim");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let args = project.path().join("cargo-args.log");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"$1\" >> '{}'\necho \"$*\" >> '{}'\nexec '{cargo}' \"$@\"\n",
                log.display(),
                args.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        CargoShim { path, log }
    }

    /// Every subcommand run so far, a line each.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every cargo command line run so far (its arguments), a line each.
    pub fn args(&self) -> String {
        std::fs::read_to_string(self.log.with_file_name("cargo-args.log")).unwrap_or_default()
    }

    /// How many `cargo build`s ran so far.
    pub fn builds(&self) -> usize {
        self.log().lines().filter(|l| *l == "build").count()
    }

    /// Forgets what ran so far.
    pub fn clear(&self) {
        let _ = std::fs::remove_file(self.log.with_file_name("cargo-args.log"));
        let _ = std::fs::remove_file(&self.log);
    }
}
