//! Runs `cargo build` for one binary, or for several in one invocation (so their shared
//! dependencies compile once), and takes their paths from cargo's artifact messages.

use cargo_metadata::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Everything `cargo build` needs to build the chosen binary.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct BuildSpec {
    pub(crate) manifest_path: Option<PathBuf>,
    pub(crate) package: String,
    pub(crate) bin: String,
    pub(crate) features: Vec<String>,
    pub(crate) all_features: bool,
    pub(crate) no_default_features: bool,
    pub(crate) profile: String,
    pub(crate) target: String,
    pub(crate) locked: bool,
    pub(crate) frozen: bool,
    pub(crate) offline: bool,
    pub(crate) quiet: bool,
    pub(crate) verbose: u8,
    /// Extra environment for cargo, such as a cross linker.
    pub(crate) env: Vec<(String, String)>,
    /// Build with `cargo zigbuild`.
    pub(crate) zig: bool,
    /// Embed the dependency list (`.dep-v0`) in the binary.
    pub(crate) auditable: bool,
    /// More (package, binary) pairs built by the same cargo invocation, after this one.
    pub(crate) batch: Vec<(String, String)>,
    /// cargo build's `--jobs`, `--keep-going` and `--timings`.
    pub(crate) jobs: Option<String>,
    pub(crate) keep_going: bool,
    pub(crate) timings: bool,
    /// cargo's `--color`.
    pub(crate) color: Option<String>,
    /// cargo's `--target-dir`, absolute.
    pub(crate) target_dir: Option<PathBuf>,
    /// cargo's `--config` values, file paths absolute (see [`crate::plan::cargo_config`]).
    pub(crate) config: Vec<String>,
}

impl BuildSpec {
    /// Every (package, binary) the build makes, this spec's own first.
    pub(crate) fn units(&self) -> Vec<(String, String)> {
        let mut units = vec![(self.package.clone(), self.bin.clone())];
        units.extend(self.batch.iter().cloned());
        units
    }

    /// The packages the build selects, each once, in order.
    pub(crate) fn packages(&self) -> Vec<String> {
        let mut packages: Vec<String> = Vec::new();
        for (package, _) in self.units() {
            if !packages.contains(&package) {
                packages.push(package);
            }
        }
        packages
    }

    /// The `cargo tree` that shows what this build resolved.
    pub(crate) fn resolution<'a>(
        &'a self,
        cargo: &'a std::ffi::OsStr,
        packages: &'a [String],
        env: &'a [(String, String)],
        within: std::time::Duration,
    ) -> crate::resolved::Query<'a> {
        crate::resolved::Query {
            cargo,
            dir: None,
            manifest_path: self.manifest_path.as_deref(),
            packages,
            target: &self.target,
            features: &self.features,
            all_features: self.all_features,
            no_default_features: self.no_default_features,
            locked: self.locked,
            frozen: self.frozen,
            offline: self.offline,
            config: &self.config,
            env,
            within: Some(within),
        }
    }
}

/// Why the build gave no usable binary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("could not run cargo: {0}")]
    Spawn(std::io::Error),
    #[error("cargo build failed ({status}); its diagnostics are above")]
    Failed { status: String, missing_c_compiler: Option<String>, target: String },
    #[error("cargo build succeeded but reported no executable for bin `{bin}`")]
    NoArtifact { bin: String },
    #[error("the Rust target {target} is not installed")]
    TargetMissing { target: String },
    #[error("`rustup target add {target}` failed ({status})")]
    TargetInstall { target: String, status: String },
    /// The source of `init = true`'s init could not be written where it is built.
    #[error("cannot write the init's source to {}: {source}", path.display())]
    InitSource { path: PathBuf, source: std::io::Error },
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Failed { missing_c_compiler: Some(krate), target, .. } if is_host_arch(target) => Some(format!(
                "the crate {krate} compiles C code, and no C compiler for {target} was found: install \
                 one (on Debian/Ubuntu: `apt-get install musl-tools`, which gives musl-gcc), or set \
                 CC_{} to a C compiler for that target",
                target.replace('-', "_")
            )),
            Error::Failed { missing_c_compiler: Some(krate), target, .. } => Some(format!(
                "the crate {krate} compiles C code for {target}, and no C cross compiler was found: {}, or set \
                 CC_{} to a C compiler for that target",
                if which("cargo-zigbuild") {
                    "cargo-zigbuild is installed, so rerun with --zig".to_string()
                } else {
                    "install zig and cargo-zigbuild (`cargo install cargo-zigbuild`) and rerun with --zig".to_string()
                },
                target.replace('-', "_")
            )),
            Error::TargetMissing { target } => Some(format!("run `rustup target add {target}`")),
            Error::NoArtifact { .. } => {
                Some("rerun with -v to see the cargo command, and check that it builds the binary on its own".into())
            }
            Error::TargetInstall { target, .. } => {
                Some(format!("check your network, then run `rustup target add {target}` yourself"))
            }
            Error::InitSource { .. } => Some(
                "the init is built under the target directory (containerize/init/): make it writable, or give \
                 another with --target-dir"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// The cargo executable: `$CARGO` when cargo runs us as a subcommand, else `cargo`.
pub(crate) fn cargo_exe() -> PathBuf {
    std::env::var_os("CARGO").map(PathBuf::from).unwrap_or_else(|| "cargo".into())
}

/// The environment cargo gets for `spec`: a cross linker, the rustflags that keep
/// `$CARGO_HOME` out of the binary, and the rustc wrapper that embeds the dependency list.
/// Every cargo call of the run gets the same, so cargo's cache of what rustc says
/// (`target/.rustc_info.json`, keyed on the wrapper too) stays valid.
pub(crate) fn cargo_env(spec: &BuildSpec) -> Vec<(String, String)> {
    let mut env = spec.env.clone();
    if let Some(flags) = rustflags(&spec.target) {
        env.push(("CARGO_ENCODED_RUSTFLAGS".into(), flags));
    }
    if spec.auditable {
        let request = crate::auditable::Request {
            bins: spec.units().into_iter().map(|(_, bin)| bin).collect(),
            packages: spec.packages(),
            features: spec.features.clone(),
            all_features: spec.all_features,
            no_default_features: spec.no_default_features,
            locked: spec.locked,
            frozen: spec.frozen,
            offline: spec.offline,
            config: spec.config.clone(),
        };
        env.extend(crate::auditable::wrapper_env(&request).unwrap_or_default());
    }
    env
}

/// The rustflags cargo would use for `target` (from `CARGO_ENCODED_RUSTFLAGS`, `RUSTFLAGS`,
/// `target.<triple>`/`target.<cfg>` or `build.rustflags`, as cargo picks them), with
/// `--remap-path-prefix` for the current directory (to `/build`) and `$CARGO_HOME` (to
/// `/cargo`) added: registry and git dependencies are compiled from under `$CARGO_HOME`,
/// generated code from under the target directory, and their panic messages carry their
/// source paths, so the user's home and the project's path would otherwise reach the
/// binary. rustc keeps the flag out of its
/// `-C metadata`, so the binary is the same whatever the path. `None` when cargo's
/// configuration cannot be read (cargo then says why) or the home is not known: the
/// user's flags are then left to cargo, as they are. Read once per target.
fn rustflags(target: &str) -> Option<String> {
    static FOUND: Mutex<Vec<(String, Option<String>)>> = Mutex::new(Vec::new());
    let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, flags)) = found.iter().find(|(t, _)| t == target) {
        return flags.clone();
    }
    let resolve = || {
        let cwd = std::env::current_dir().ok()?;
        let home = cargo_config2::cargo_home_with_cwd(&cwd)?;
        let home = home.to_str()?.trim_end_matches('/');
        let config = cargo_config2::Config::load_with_cwd(&cwd).ok()?;
        let mut flags = config.rustflags(target).ok()?.unwrap_or_default();
        // The project's own absolute paths (code a build script generates into `OUT_DIR`,
        // path dependencies outside the workspace) under the directory cargo runs in; then
        // `$CARGO_HOME`, which wins where both match (rustc takes the last match).
        if let Some(dir) = cwd.to_str().map(|d| d.trim_end_matches('/')).filter(|d| !d.is_empty()) {
            flags.flags.push(format!("--remap-path-prefix={dir}=/build"));
        }
        flags.flags.push(format!("--remap-path-prefix={home}=/cargo"));
        flags.encode().ok()
    };
    let flags = resolve();
    found.push((target.to_string(), flags.clone()));
    flags
}

/// The `cargo build` command for `spec`, as a value (no side effects).
pub(crate) fn cargo_command(spec: &BuildSpec) -> Command {
    let mut cmd = Command::new(cargo_exe());
    cmd.arg(if spec.zig { "zigbuild" } else { "build" }).arg("--message-format=json-render-diagnostics");
    cmd.envs(cargo_env(spec));
    if let Some(path) = &spec.manifest_path {
        cmd.arg("--manifest-path").arg(path);
    }
    for package in spec.packages() {
        cmd.args(["--package", &package]);
    }
    for (_, bin) in spec.units() {
        cmd.args(["--bin", &bin]);
    }
    cmd.args(["--profile", &spec.profile, "--target", &spec.target]);
    if !spec.features.is_empty() {
        cmd.args(["--features", &spec.features.join(",")]);
    }
    for (on, flag) in [
        (spec.all_features, "--all-features"),
        (spec.no_default_features, "--no-default-features"),
        (spec.locked, "--locked"),
        (spec.frozen, "--frozen"),
        (spec.offline, "--offline"),
        (spec.quiet, "--quiet"),
        (spec.keep_going, "--keep-going"),
        (spec.timings, "--timings"),
    ] {
        if on {
            cmd.arg(flag);
        }
    }
    if let Some(jobs) = &spec.jobs {
        cmd.args(["--jobs", jobs]);
    }
    if let Some(when) = &spec.color {
        cmd.args(["--color", when]);
    }
    if let Some(dir) = &spec.target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    for value in &spec.config {
        cmd.args(["--config", value]);
    }
    for _ in 0..spec.verbose {
        cmd.arg("--verbose");
    }
    cmd
}

/// On a terminal, cargo's stderr (a pipe, read here) looks as `cargo build` makes it
/// look: in colour when this tool's output is (`--color`, `CARGO_TERM_COLOR`, a terminal),
/// with cargo's progress bar as wide as the terminal, unless `-q` or
/// `CARGO_TERM_PROGRESS_WHEN` says otherwise.
fn on_terminal(cmd: &mut Command, spec: &BuildSpec) {
    use std::io::IsTerminal;
    if spec.color.is_none() && crate::shell::colour_enabled() {
        cmd.args(["--color", "always"]);
    }
    let asked = std::env::var_os("CARGO_TERM_PROGRESS_WHEN").is_some();
    if spec.quiet || asked || !std::io::stderr().is_terminal() {
        return;
    }
    cmd.env("CARGO_TERM_PROGRESS_WHEN", "always");
    cmd.env("CARGO_TERM_PROGRESS_WIDTH", crate::shell::terminal_width().unwrap_or(80).to_string());
}

/// Reads up to and including the next `\n` or `\r` (a progress bar redraws its line after
/// a `\r`) into `out`, cleared first; returns its length, 0 at the end.
fn read_segment(r: &mut impl BufRead, out: &mut Vec<u8>) -> std::io::Result<usize> {
    out.clear();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(out.len());
        }
        match buf.iter().position(|b| *b == b'\n' || *b == b'\r') {
            Some(i) => {
                out.extend_from_slice(&buf[..=i]);
                r.consume(i + 1);
                return Ok(out.len());
            }
            None => {
                let n = buf.len();
                out.extend_from_slice(buf);
                r.consume(n);
            }
        }
    }
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`): cargo's coloured lines, as
/// plain text to search.
fn without_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The init of `init = true`, built from its source (`src/init/main.rs`, held in this
/// program) as a package of its own in `<target-dir>/containerize/init/`, for `spec`'s
/// target, with its linker and cargo flags: small (`opt-level = "s"`, stripped), with no
/// dependency but std, and the same bytes for the same toolchain and target anywhere.
pub(crate) fn build_init(spec: &BuildSpec, target_dir: &Path) -> Result<PathBuf, Error> {
    const SOURCE: &str = include_str!("init/main.rs");
    const NAME: &str = "cargo-containerize-init";
    let manifest = format!(
        "[package]\nname = \"{NAME}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [workspace]\n\n[profile.release]\nopt-level = \"s\"\npanic = \"abort\"\nstrip = true\ncodegen-units = 1\n"
    );
    let dir = target_dir.join("containerize").join("init");
    let write = |path: &Path, text: &str| -> Result<(), Error> {
        if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
            return Ok(());
        }
        let failed = |source| Error::InitSource { path: path.to_path_buf(), source };
        std::fs::create_dir_all(path.parent().expect("a file in a directory")).map_err(failed)?;
        crate::fsutil::write_file_atomic(path, |w| w.write_all(text.as_bytes())).map_err(failed)
    };
    write(&dir.join("Cargo.toml"), &manifest)?;
    write(&dir.join("src").join("main.rs"), SOURCE)?;
    let init = BuildSpec {
        manifest_path: Some(dir.join("Cargo.toml")),
        package: NAME.into(),
        bin: NAME.into(),
        profile: "release".into(),
        target: spec.target.clone(),
        offline: spec.offline,
        quiet: true,
        env: spec.env.clone(),
        zig: spec.zig,
        auditable: false,
        jobs: spec.jobs.clone(),
        color: spec.color.clone(),
        target_dir: Some(dir.join("target")),
        config: spec.config.clone(),
        ..BuildSpec::default()
    };
    let running = Running::spawn(&init)?;
    running.show_output();
    let built = running.finish_all()?;
    Ok(built.into_iter().next().expect("one unit").executable)
}

/// Holds cargo's stderr back until the build is confirmed as the one wanted.
#[derive(Default)]
struct Gate {
    open: bool,
    pending: Vec<String>,
}

/// A `cargo build` under way, in a process group of its own. Its stderr is held back until
/// `show_output`, so a build started on a guess prints nothing if the guess was wrong.
/// Dropped before [`Running::finish`] (a wrong guess, an early error), it stops the whole
/// build, cargo and its rustc processes, rather than leave it running.
pub(crate) struct Running {
    child: std::process::Child,
    /// Set once the child has been waited for.
    reaped: bool,
    spec: BuildSpec,
    gate: Arc<Mutex<Gate>>,
    stderr: Option<JoinHandle<Vec<String>>>,
    artifact: Option<JoinHandle<Reported>>,
}

/// What cargo's messages said: each binary's executable and package, and the crates of
/// each package built for the target (see [`Built`]).
#[derive(Default)]
struct Reported {
    executables: BTreeMap<String, (PathBuf, String)>,
    crates: BTreeMap<String, BTreeSet<String>>,
}

/// What a build gave: the executable, and the crates compiled for the target (library
/// names with `-` as `_`), which tell what the binary links.
#[derive(Clone, Debug)]
pub(crate) struct Built {
    pub(crate) executable: PathBuf,
    pub(crate) crates: BTreeSet<String>,
    /// The cargo package IDs of everything compiled into the binary: the packages of the
    /// crates built for the target, and the binary's own. Build scripts and proc-macros
    /// run on the host and are not in it.
    pub(crate) packages: BTreeSet<String>,
    /// The binary's own package ID.
    pub(crate) package_id: String,
    /// The library crates (`-` as `_`) of each package in `packages`.
    pub(crate) crates_by_package: BTreeMap<String, BTreeSet<String>>,
    /// The init built for the same target, when the image runs one (`init = true`).
    pub(crate) init: Option<PathBuf>,
}

impl Built {
    /// Keeps only what this binary links, out of everything a build of several compiled:
    /// its own package and the packages `graph` (the build's resolution) reaches from it.
    /// Unchanged if its package is not known to the graph.
    pub(crate) fn narrow(&mut self, graph: &crate::resolved::Graph) {
        let Some(root) = crate::resolved::key_of_id(&self.package_id) else { return };
        let reached = graph.reachable(&root);
        let own = self.package_id.clone();
        let keep = |id: &String| *id == own || crate::resolved::key_of_id(id).is_some_and(|k| reached.contains(&k));
        self.packages.retain(keep);
        self.crates_by_package.retain(|id, _| keep(id));
        self.crates = self.crates_by_package.values().flatten().cloned().collect();
    }
}

impl Running {
    /// Starts `cargo build` for `spec`.
    pub(crate) fn spawn(spec: &BuildSpec) -> Result<Running, Error> {
        use std::os::unix::process::CommandExt;
        let mut cmd = cargo_command(spec);
        on_terminal(&mut cmd, spec);
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).spawn().map_err(Error::Spawn)?;
        crate::interrupt::add_group(child.id());
        let gate = Arc::new(Mutex::new(Gate::default()));
        // Tee cargo's stderr: show it live once allowed, keep its lines to explain a failure.
        let stderr = child.stderr.take().expect("piped");
        let tee_gate = gate.clone();
        let stderr = std::thread::spawn(move || {
            let mut kept = Vec::new();
            let (mut reader, mut segment) = (BufReader::new(stderr), Vec::new());
            while read_segment(&mut reader, &mut segment).is_ok_and(|n| n > 0) {
                // A build script can print what it finds in the environment.
                let text = crate::redact::redact(&String::from_utf8_lossy(&segment));
                let mut g = tee_gate.lock().unwrap_or_else(|e| e.into_inner());
                if g.open {
                    let _ = std::io::stderr().write_all(text.as_bytes());
                } else {
                    g.pending.push(text.clone());
                }
                // A progress bar's frame (ended by `\r`) is not a line to keep.
                if !text.ends_with('\r') {
                    kept.push(without_escapes(text.trim_end_matches('\n')));
                }
            }
            kept
        });
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let bins: BTreeSet<String> = spec.units().into_iter().map(|(_, bin)| bin).collect();
        // Artifacts built for the target (not the host) live under `<target-dir>/<triple>/`.
        let for_target = format!("/{}/", spec.target);
        let artifact = std::thread::spawn(move || {
            let mut reported = Reported::default();
            for message in Message::parse_stream(stdout).map_while(Result::ok) {
                if let Message::CompilerArtifact(artifact) = message {
                    let id = artifact.package_id.repr;
                    if artifact.target.is_bin() && bins.contains(artifact.target.name.as_str()) {
                        if let Some(exe) = artifact.executable {
                            reported.executables.insert(artifact.target.name.clone(), (exe.into_std_path_buf(), id));
                        }
                    } else if artifact.filenames.iter().any(|f| f.as_str().contains(&for_target)) {
                        reported.crates.entry(id).or_default().insert(artifact.target.name.replace('-', "_"));
                    }
                }
            }
            reported
        });
        Ok(Running { child, reaped: false, spec: spec.clone(), gate, stderr: Some(stderr), artifact: Some(artifact) })
    }

    pub(crate) fn spec(&self) -> &BuildSpec {
        &self.spec
    }

    /// Prints what cargo said so far, and streams the rest.
    pub(crate) fn show_output(&self) {
        let mut g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        for segment in g.pending.drain(..) {
            let _ = err.write_all(segment.as_bytes());
        }
        g.open = true;
    }

    /// Waits for cargo and returns what it built for each of the spec's units, in order.
    /// With several, each gets everything the build compiled for the target: narrow it
    /// with [`Built::narrow`].
    pub(crate) fn finish_all(mut self) -> Result<Vec<Built>, Error> {
        let status = self.child.wait().map_err(Error::Spawn)?;
        self.reaped = true;
        crate::interrupt::remove_group(self.child.id());
        let stderr_lines = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let reported = self.artifact.take().and_then(|h| h.join().ok()).unwrap_or_default();
        if !status.success() {
            return Err(Error::Failed {
                status: status.to_string(),
                missing_c_compiler: missing_c_compiler(&stderr_lines),
                target: self.spec.target.clone(),
            });
        }
        let crates: BTreeSet<String> = reported.crates.values().flatten().cloned().collect();
        self.spec
            .units()
            .into_iter()
            .map(|(_, bin)| {
                let (executable, package_id) =
                    reported.executables.get(&bin).cloned().ok_or(Error::NoArtifact { bin })?;
                let mut crates_by_package = reported.crates.clone();
                crates_by_package.entry(package_id.clone()).or_default();
                let packages = crates_by_package.keys().cloned().collect();
                Ok(Built { executable, crates: crates.clone(), packages, package_id, crates_by_package, init: None })
            })
            .collect()
    }
}

impl Drop for Running {
    /// Stops a build nobody will wait for: its process group gets SIGTERM (cargo leaves the
    /// target directory consistent when interrupted), then it is waited for.
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        if let Ok(None) = self.child.try_wait() {
            crate::interrupt::kill_group(self.child.id());
        }
        let _ = self.child.wait();
        crate::interrupt::remove_group(self.child.id());
    }
}

/// Finds the crate whose build script failed for want of a C compiler, from cargo's stderr.
fn missing_c_compiler(lines: &[String]) -> Option<String> {
    let no_compiler = lines.iter().any(|l| {
        l.contains("failed to find tool")
            || l.contains("Failed to find tool")
            || (l.contains("musl-gcc") && (l.contains("not found") || l.contains("No such file")))
    });
    if !no_compiler {
        return None;
    }
    lines.iter().find_map(|l| {
        let rest = l.split("failed to run custom build command for `").nth(1)?;
        Some(rest.split('`').next()?.to_string())
    })
}

/// Whether `target` builds code for the machine we run on.
pub(crate) fn is_host_arch(target: &str) -> bool {
    target.split('-').next() == Some(std::env::consts::ARCH)
}

/// Whether a program is on `PATH`.
fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// The variable that names cargo's linker for `target`: `CARGO_TARGET_<TRIPLE>_LINKER`.
pub(crate) fn linker_variable(target: &str) -> String {
    format!("CARGO_TARGET_{}_LINKER", target.to_ascii_uppercase().replace(['-', '.'], "_"))
}

/// The environment that cross-links `target` with `rust-lld`, which links pure-Rust musl
/// binaries for any architecture with no cross gcc. Empty for the host's architecture, with
/// `--zig`, or when the user configured a linker for the target (environment or cargo config).
pub(crate) fn cross_linker_env(target: &str, zig: bool, config_dirs: &[&Path]) -> Vec<(String, String)> {
    let var = linker_variable(target);
    if is_host_arch(target) || zig || std::env::var_os(&var).is_some() || linker_configured(target, config_dirs) {
        return Vec::new();
    }
    vec![(var, "rust-lld".to_string())]
}

/// Whether a cargo config file that applies (`.cargo/config.toml` in `dirs` and their
/// ancestors, or in `$CARGO_HOME`) sets `[target.<target>] linker`.
fn linker_configured(target: &str, dirs: &[&Path]) -> bool {
    let mut files = Vec::new();
    for dir in dirs {
        for d in dir.ancestors() {
            files.push(d.join(".cargo/config.toml"));
            files.push(d.join(".cargo/config"));
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = home {
        files.push(home.join("config.toml"));
        files.push(home.join("config"));
    }
    files.iter().any(|f| {
        let Ok(text) = std::fs::read_to_string(f) else { return false };
        let Ok(table) = text.parse::<toml::Table>() else { return false };
        table.get("target").and_then(|t| t.get(target)).and_then(|t| t.get("linker")).is_some()
    })
}

/// Makes sure the standard library for `target` is installed: installs it with rustup
/// when rustup is there (saying so on stderr), else fails with the command to run.
pub(crate) fn ensure_target(target: &str) -> Result<(), Error> {
    if target_installed(target) {
        return Ok(());
    }
    let rustup_present = Command::new("rustup")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !rustup_present {
        return Err(Error::TargetMissing { target: target.into() });
    }
    crate::shell::status("Installing", format_args!("the Rust target {target} (`rustup target add {target}`)"));
    let status = Command::new("rustup").args(["target", "add", target]).status().map_err(Error::Spawn)?;
    if !status.success() {
        return Err(Error::TargetInstall { target: target.into(), status: status.to_string() });
    }
    Ok(())
}

/// Whether the sysroot has `lib/rustlib/<target>`. The sysroot is found next to `$CARGO`
/// (as rustup lays toolchains out) without spawning a process; else asked of rustc.
pub(crate) fn target_installed(target: &str) -> bool {
    let beside_cargo = std::env::var_os("RUSTC").is_none().then(|| {
        let cargo = PathBuf::from(std::env::var_os("CARGO")?);
        let sysroot = cargo.parent()?.parent()?.to_path_buf();
        sysroot.join("lib/rustlib").is_dir().then_some(sysroot)
    });
    let sysroot = beside_cargo.flatten().or_else(rustc_sysroot);
    match sysroot {
        Some(root) => has_target(&root, target),
        // No way to tell: let cargo try and report.
        None => true,
    }
}

fn has_target(sysroot: &Path, target: &str) -> bool {
    sysroot.join("lib/rustlib").join(target).join("lib").is_dir()
}

fn rustc_sysroot() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).args(["--print", "sysroot"]).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn command_carries_every_flag() {
        let spec = BuildSpec {
            manifest_path: Some("w/Cargo.toml".into()),
            package: "app".into(),
            bin: "srv".into(),
            features: vec!["a".into(), "b".into()],
            no_default_features: true,
            profile: "release".into(),
            target: "x86_64-unknown-linux-musl".into(),
            locked: true,
            offline: true,
            verbose: 2,
            env: vec![("CARGO_TARGET_X_LINKER".into(), "rust-lld".into())],
            ..Default::default()
        };
        let a = args(&cargo_command(&spec)).join(" ");
        assert_eq!(
            a,
            "build --message-format=json-render-diagnostics --manifest-path w/Cargo.toml --package app \
             --bin srv --profile release --target x86_64-unknown-linux-musl --features a,b \
             --no-default-features --locked --offline --verbose --verbose"
        );
    }

    #[test]
    fn foreign_targets_link_with_rust_lld_unless_configured() {
        let dir = tempfile::tempdir().unwrap();
        let foreign =
            if std::env::consts::ARCH == "x86_64" { "aarch64-unknown-linux-musl" } else { "x86_64-unknown-linux-musl" };
        let host = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
        assert!(cross_linker_env(&host, false, &[dir.path()]).is_empty());
        let env = cross_linker_env(foreign, false, &[dir.path()]);
        assert_eq!(env.len(), 1);
        assert!(env[0].0.starts_with("CARGO_TARGET_") && env[0].0.ends_with("_UNKNOWN_LINUX_MUSL_LINKER"), "{env:?}");
        assert_eq!(env[0].1, "rust-lld");
        assert!(cross_linker_env(foreign, true, &[dir.path()]).is_empty(), "zig links itself");
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        std::fs::write(dir.path().join(".cargo/config.toml"), format!("[target.{foreign}]\nlinker = \"my-cc\"\n"))
            .unwrap();
        assert!(cross_linker_env(foreign, false, &[&dir.path().join("sub")]).is_empty());
    }

    #[test]
    fn names_the_crate_that_needs_a_c_compiler() {
        let lines: Vec<String> = [
            "error: failed to run custom build command for `ring v0.17.8`",
            "  error occurred in cc-rs: failed to find tool \"musl-gcc\": No such file or directory",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(missing_c_compiler(&lines).as_deref(), Some("ring v0.17.8"));
        assert_eq!(missing_c_compiler(&lines[..1]), None);
    }
}
