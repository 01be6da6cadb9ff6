//! The command line, shaped like cargo's: flags and help text only, no logic.

use clap::{ArgAction, Parser};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  cargo containerize --tag myimage:1.0            build, then load into the local Docker engine
  cargo containerize --push 127.0.0.1:5000/app:1  build, then push to a registry
  cargo containerize -o out/                      write an OCI image layout (no Docker needed)
  cargo containerize --tarball app.tar            write a tar for `docker load`
  cargo containerize -p server --bin api -t api:dev --tarball api.tar
  cargo containerize -t app:1 --expose 8080 --env RUST_LOG=info -- --port 8080
  cargo containerize documents 127.0.0.1:5000/app:1 -o docs   save the SBOMs and provenance attached

Results go to stdout, one line per destination; everything else goes to stderr.";

// The cargo-facing flags are clap-cargo's structs, flattened, so that more cargo flags are
// added to them. `--workspace`, `--exclude`, a repeated `-p` or `--bin`, and `--bins` select
// several binaries, one image each (`plan::selection`); `-p` says what it selects here.
/// Build a container image of a Cargo binary with no Dockerfile: FROM scratch or on --base, for
/// the local engine (--tag), a layout (--output), a tarball or a registry (--push).
#[derive(Parser, Debug, Default, Clone)]
#[command(name = "cargo containerize", bin_name = "cargo containerize", version, after_help = EXAMPLES)]
#[command(mut_arg("package", |a| a.help("Package whose binary goes into the image (repeatable: an image per binary)")))]
#[command(mut_arg("workspace", |a| a.help("Every member of the workspace: an image per binary")))]
#[command(mut_arg("exclude", |a| a.help("Leave this package out (with --workspace)")))]
#[command(mut_arg("features", |a| a.value_delimiter(None).help(FEATURES_HELP)))]
pub struct Args {
    // The arguments without a heading come first: a flattened struct's heading carries over
    // to every argument after it that names none.
    /// Do not print cargo log messages or progress
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Use verbose output (-vv very verbose)
    #[arg(short, long, action = ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Default arguments for the binary
    #[arg(last = true, value_name = "ARGS")]
    pub(crate) args: Vec<String>,

    // `--manifest-path`, and `-m`.
    #[command(flatten, next_help_heading = "Package Selection")]
    pub(crate) manifest: clap_cargo::Manifest,
    // `-p`, `--workspace`, `--exclude`, and clap-cargo's hidden `--all`.
    #[command(flatten, next_help_heading = "Package Selection")]
    pub(crate) workspace: clap_cargo::Workspace,
    /// Binary target to put into the image (repeatable: an image per binary)
    #[arg(long, value_name = "NAME", action = ArgAction::Append, help_heading = "Package Selection")]
    pub(crate) bin: Vec<String>,
    /// Every binary target of the selected packages: an image per binary
    #[arg(long, help_heading = "Package Selection")]
    pub(crate) bins: bool,

    // `-F`, `--all-features`, `--no-default-features`.
    #[command(flatten, next_help_heading = "Feature Selection")]
    pub(crate) features: clap_cargo::Features,

    /// Build with the given profile
    #[arg(long, value_name = "PROFILE-NAME", default_value = "release", help_heading = "Compilation Options")]
    pub(crate) profile: String,
    /// Build in release mode, with optimizations (the default here; taken as cargo takes it)
    #[arg(short, long, help_heading = "Compilation Options")]
    pub(crate) release: bool,
    /// Number of parallel jobs, as for cargo build (default: the number of CPUs)
    #[arg(short, long, value_name = "N", allow_negative_numbers = true, help_heading = "Compilation Options")]
    pub(crate) jobs: Option<String>,
    /// Do not abort the build as soon as there is an error, as for cargo build
    #[arg(long, help_heading = "Compilation Options")]
    pub(crate) keep_going: bool,
    /// Write cargo's report of the compilation's timings (target/cargo-timings/)
    #[arg(long, help_heading = "Compilation Options")]
    pub(crate) timings: bool,
    /// Directory for all generated artifacts, as for cargo build
    #[arg(long, value_name = "DIRECTORY", help_heading = "Compilation Options")]
    pub(crate) target_dir: Option<PathBuf>,
    /// Override a cargo configuration value, as for cargo (repeatable)
    #[arg(long, value_name = "KEY=VALUE|PATH", action = ArgAction::Append)]
    pub(crate) config: Vec<String>,
    /// Coloring: auto, always, never (cargo's output too)
    #[arg(long, value_name = "WHEN", value_parser = ["auto", "always", "never"])]
    pub(crate) color: Option<String>,
    /// Build for the target triple, a static musl target for FROM scratch
    /// [default: x86_64-unknown-linux-musl]
    #[arg(long, value_name = "TRIPLE", value_parser = target_triple, help_heading = "Compilation Options")]
    pub(crate) target: Option<String>,

    /// Build for these platforms, e.g. linux/amd64,linux/arm64: an image index (repeatable)
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',', action = ArgAction::Append, conflicts_with = "target", help_heading = "Compilation Options")]
    pub(crate) platforms: Vec<String>,
    /// With several platforms, the one --tag and --tarball load (default: this machine's)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", help_heading = "Compilation Options")]
    pub(crate) load_platform: Option<String>,
    /// Build with `cargo zigbuild` (cargo-zigbuild) instead of `cargo build`, for C cross-compiling
    #[arg(long, help_heading = "Compilation Options")]
    pub(crate) zig: bool,

    /// Write an OCI image layout to this directory
    #[arg(short, long, value_name = "DIR", help_heading = "Outputs")]
    pub(crate) output: Option<PathBuf>,
    /// Write a tar that `docker load` accepts (also a valid OCI layout)
    #[arg(long, value_name = "FILE", help_heading = "Outputs")]
    pub(crate) tarball: Option<PathBuf>,
    /// Load the image into the local Docker engine under NAME[:TAG] (repeatable)
    #[arg(short, long = "tag", value_name = "NAME[:TAG]", action = ArgAction::Append, help_heading = "Outputs")]
    pub(crate) tags: Vec<String>,
    /// Name the image NAME[:TAG] in --tarball and --output, loading nothing (repeatable)
    #[arg(long = "name", value_name = "NAME[:TAG]", action = ArgAction::Append, help_heading = "Outputs")]
    pub(crate) names: Vec<String>,
    /// Push the image to REGISTRY/REPO[:TAG] (repeatable; the tag defaults to `tags` or latest);
    /// `:TAG` or no value at all pushes to the `repository` setting
    #[arg(long = "push", value_name = "REGISTRY/REPO[:TAG]", num_args = 0..=1, default_missing_value = "", action = ArgAction::Append, help_heading = "Outputs")]
    pub(crate) push: Vec<String>,

    /// Write a JSON file describing every destination of the run (failed ones too)
    #[arg(long, value_name = "FILE", help_heading = "Outputs")]
    pub(crate) metadata_file: Option<PathBuf>,
    /// Print the plan as JSON (each image's package, binary, platforms and destinations) and
    /// build nothing
    #[arg(long, help_heading = "Outputs")]
    pub(crate) dry_run: bool,
    /// Allow plain HTTP to this registry host (loopback registries always are)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]", value_parser = insecure_host, action = ArgAction::Append, help_heading = "Registry Options")]
    pub(crate) insecure_registries: Vec<String>,
    /// Trust this PEM CA certificate for HTTPS, besides the system's store
    #[arg(long = "ca-cert", value_name = "FILE", action = ArgAction::Append, help_heading = "Registry Options")]
    pub(crate) ca_certs: Vec<PathBuf>,
    /// Registry user name (with --password-stdin)
    #[arg(long, value_name = "USER", requires = "password_stdin", help_heading = "Registry Options")]
    pub(crate) username: Option<String>,
    /// Read the registry password or token from standard input
    #[arg(long, requires = "username", help_heading = "Registry Options")]
    pub(crate) password_stdin: bool,

    /// The image to build on: scratch (the default), REGISTRY/REPO[:TAG][@DIGEST], oci:DIR[:TAG] or docker:NAME[:TAG]
    #[arg(long, value_name = "REF", help_heading = "Image Settings")]
    pub(crate) base: Option<String>,
    /// Attach SBOMs (SPDX and CycloneDX) to pushes (the default) and to layouts too
    #[arg(long, overrides_with = "no_sbom", help_heading = "Supply Chain")]
    pub(crate) sbom: bool,
    /// Attach no SBOM
    #[arg(long, help_heading = "Supply Chain")]
    pub(crate) no_sbom: bool,
    /// Also write each image's SBOMs into DIR, as BIN.spdx.json and BIN.cdx.json (BIN.OS-ARCH.* with several platforms), whatever the destinations
    #[arg(long, value_name = "DIR", conflicts_with = "no_sbom", help_heading = "Supply Chain")]
    pub(crate) sbom_output: Option<PathBuf>,
    /// Attach SLSA provenance (the default for pushes; with this flag, layouts too)
    #[arg(long, overrides_with = "no_provenance", help_heading = "Supply Chain")]
    pub(crate) provenance: bool,
    /// Attach no provenance
    #[arg(long, help_heading = "Supply Chain")]
    pub(crate) no_provenance: bool,
    /// Do not embed the dependency list (.dep-v0, as cargo auditable does) in the binary
    #[arg(long, help_heading = "Supply Chain")]
    pub(crate) no_auditable: bool,
    /// Set an environment variable in the image (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", action = ArgAction::Append, help_heading = "Image Settings")]
    pub(crate) env: Vec<String>,
    /// Add a label to the image config (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", action = ArgAction::Append, help_heading = "Image Settings")]
    pub(crate) labels: Vec<String>,
    /// Add an annotation to the manifest (repeatable)
    #[arg(long = "annotation", value_name = "KEY=VALUE", action = ArgAction::Append, help_heading = "Image Settings")]
    pub(crate) annotations: Vec<String>,
    /// Expose a port, e.g. 8080 or 53/udp (repeatable)
    #[arg(long = "expose", value_name = "PORT[/PROTO]", action = ArgAction::Append, help_heading = "Image Settings")]
    pub(crate) expose: Vec<String>,
    /// Run as this user (default 65532:65532, "nonroot"; "root" to opt out)
    #[arg(long, value_name = "USER[:GROUP]", help_heading = "Image Settings")]
    pub(crate) user: Option<String>,
    /// Working directory of the container
    #[arg(long, value_name = "DIR", help_heading = "Image Settings")]
    pub(crate) workdir: Option<String>,
    /// Copy a file or directory (relative to the current directory) into the image (repeatable)
    #[arg(long = "include", value_name = "FROM:TO", action = ArgAction::Append, help_heading = "Image Settings")]
    pub(crate) include: Vec<String>,
    /// Let --include copy files from outside the current directory
    #[arg(long, help_heading = "Image Settings")]
    pub(crate) allow_include_outside: bool,
    /// Let an `oci:` base named in Cargo.toml be read from outside the package (or the
    /// workspace root, for the workspace's table)
    #[arg(long, help_heading = "Image Settings")]
    pub(crate) allow_base_outside: bool,
    /// Make the binary the Entrypoint, so `docker run IMAGE ARGS` passes ARGS to it
    #[arg(long, help_heading = "Image Settings")]
    pub(crate) entrypoint: bool,
    /// Put a small init (built from source) in front of the binary, as PID 1: it passes
    /// signals on and reaps children
    #[arg(long, help_heading = "Image Settings")]
    pub(crate) init: bool,

    /// Require Cargo.lock is up to date
    #[arg(long, help_heading = "Manifest Options")]
    pub(crate) locked: bool,
    /// Require Cargo.lock and cache are up to date
    #[arg(long, help_heading = "Manifest Options")]
    pub(crate) frozen: bool,
    /// Run without accessing the network
    #[arg(long, help_heading = "Manifest Options")]
    pub(crate) offline: bool,
}

/// `-F`'s help. Each value goes to cargo as typed, as cargo takes it: clap-cargo's split at
/// spaces is turned off, so that `cargo build` and the provenance get the list as before.
const FEATURES_HELP: &str = "Space or comma separated list of features to activate";

/// The target built when neither `--target`, `--platform` nor `platforms` says otherwise.
pub(crate) const DEFAULT_TARGET: &str = "x86_64-unknown-linux-musl";

impl Args {
    /// The `--target` given, or the default.
    pub(crate) fn target(&self) -> &str {
        self.target.as_deref().unwrap_or(DEFAULT_TARGET)
    }

    /// Parses the process arguments, accepting both `cargo containerize ...` (where cargo
    /// passes `containerize` as the first argument) and `cargo-containerize ...`.
    pub fn from_env() -> Args {
        Args::parse_args(argv())
    }

    /// Parses `argv` as clap does, except that an unknown flag gets the nearest known flag
    /// as its only tip (a transposed letter counts as one change), never clap's `-- FLAG`,
    /// which would put the typo into the image's command line. Exits on an error, as clap.
    pub(crate) fn parse_args(argv: Vec<std::ffi::OsString>) -> Args {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        use clap::CommandFactory;
        let e = match Args::try_parse_from(argv) {
            Ok(args) => return args,
            Err(e) => e,
        };
        let unknown = match (e.kind(), e.get(ContextKind::InvalidArg)) {
            (ErrorKind::UnknownArgument, Some(ContextValue::String(arg))) if arg.starts_with('-') => arg.clone(),
            _ => e.exit(),
        };
        let mut cmd = Args::command();
        cmd.build();
        let typed = unknown.trim_start_matches('-').split('=').next().unwrap_or_default().to_string();
        let nearest = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long())
            .map(|long| (strsim::osa_distance(&typed, long), long))
            .filter(|(d, long)| unknown.starts_with("--") && *d <= 2.max(long.len() / 4) && *d < long.len())
            .min_by_key(|(d, _)| *d)
            .map(|(_, long)| format!("--{long}"));
        let mut err = clap::Error::new(ErrorKind::UnknownArgument).with_cmd(&cmd);
        err.insert(ContextKind::InvalidArg, ContextValue::String(unknown));
        if let Some(nearest) = nearest {
            err.insert(ContextKind::SuggestedArg, ContextValue::String(nearest));
        }
        if let Some(usage) = e.get(ContextKind::Usage) {
            err.insert(ContextKind::Usage, usage.clone());
        }
        err.exit()
    }
}

/// The command line, without the `containerize` cargo passes first.
pub(crate) fn argv() -> Vec<std::ffi::OsString> {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "containerize") {
        argv.remove(1);
    }
    argv
}

/// An `--insecure-registry` value is a host, checked when the command line is read.
fn insecure_host(value: &str) -> Result<String, String> {
    crate::registry::transport::insecure_entry(value).map(|_| value.to_string())
}

/// A target triple: only the characters triples are made of, so that nothing else reaches
/// cargo or rustup.
fn target_triple(value: &str) -> Result<String, String> {
    if crate::platform::is_triple(value) {
        Ok(value.to_string())
    } else {
        Err("a target triple holds only ASCII letters, digits, `-`, `_` and `.`, \
             such as x86_64-unknown-linux-musl"
            .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_are_release_and_musl() {
        let a = Args::parse_from(["cargo-containerize", "-t", "a:1", "-t", "b", "-F", "x,y"]);
        assert_eq!(a.profile, "release");
        assert_eq!(a.target(), "x86_64-unknown-linux-musl");
        assert_eq!(a.tags, ["a:1", "b"]);
        assert_eq!(a.features.features, ["x,y"]);
    }

    #[test]
    fn the_cargo_flags_parse_as_before() {
        let a = Args::parse_from([
            "cargo-containerize",
            "--manifest-path",
            "w/Cargo.toml",
            "-p",
            "srv",
            "--bin",
            "api",
            "-F",
            "a b",
            "--features",
            "c",
            "--all-features",
            "--no-default-features",
        ]);
        assert_eq!(a.manifest.manifest_path, Some(PathBuf::from("w/Cargo.toml")));
        assert_eq!(a.workspace.package, ["srv"]);
        assert_eq!(a.bin, ["api"]);
        // As typed, not split at spaces: cargo gets `--features "a b,c"`, as before clap-cargo.
        assert_eq!(a.features.features, ["a b", "c"]);
        assert!(a.features.all_features && a.features.no_default_features);
        let a = Args::parse_from(["cargo-containerize", "-p", "a", "-p", "b", "--workspace", "--exclude", "c"]);
        assert_eq!(a.workspace.package, ["a", "b"]);
        assert!(a.workspace.workspace);
        assert_eq!(a.workspace.exclude, ["c"]);
    }

    #[test]
    fn help_keeps_the_headings_and_lists_the_selection_flags() {
        let help = Args::command().render_help().to_string();
        let package = help.find("Package Selection:").expect(&help);
        let features = help.find("Feature Selection:").expect(&help);
        let compilation = help.find("Compilation Options:").expect(&help);
        let section = |from: usize, to: usize| &help[from..to];
        for flag in
            ["--manifest-path <PATH>", "-p, --package <SPEC>", "--bin <NAME>", "--bins", "--workspace", "--exclude"]
        {
            assert!(section(package, features).contains(flag), "{flag}:\n{help}");
        }
        assert!(section(package, features).contains("Package whose binary goes into the image"), "{help}");
        for flag in ["-F, --features <FEATURES>", "--all-features", "--no-default-features"] {
            assert!(section(features, compilation).contains(flag), "{flag}:\n{help}");
        }
        assert!(section(features, compilation).contains(FEATURES_HELP), "{help}");
        // The arguments without a heading stay out of the flattened structs' headings.
        for plain in ["[ARGS]...", "-q, --quiet", "-v, --verbose"] {
            assert!(section(0, package).contains(plain), "{plain}:\n{help}");
        }
        // cargo's deprecated alias of --workspace stays hidden, as clap-cargo has it.
        assert!(!help.contains("--all "), "{help}");
    }

    #[test]
    fn an_insecure_registry_must_be_a_host() {
        let a = Args::try_parse_from(["cargo-containerize", "--insecure-registry", "[fd00::1]:5000"]).unwrap();
        assert_eq!(a.insecure_registries, ["[fd00::1]:5000"]);
        let e = Args::try_parse_from(["cargo-containerize", "--insecure-registry", "http://reg.lan"]).unwrap_err();
        assert!(e.to_string().contains("expected HOST, HOST:PORT or [IPV6]:PORT"), "{e}");
    }
}
