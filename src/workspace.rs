//! What cargo knows about the workspace: packages, their binary targets, default members.

use cargo_metadata::{Metadata, MetadataCommand, Package};
use std::path::{Path, PathBuf};

/// Flags that change how cargo reads the workspace.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadOptions {
    pub(crate) manifest_path: Option<PathBuf>,
    pub(crate) locked: bool,
    pub(crate) frozen: bool,
    pub(crate) offline: bool,
    /// cargo's `--config` values, and `--target-dir` (absolute), which the metadata's
    /// target directory follows.
    pub(crate) config: Vec<String>,
    pub(crate) target_dir: Option<PathBuf>,
}

/// Why the workspace could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("no Cargo.toml at {}", path.display())]
    MissingManifest { path: PathBuf },
    #[error("no Cargo.toml in {} or any parent directory", dir.display())]
    NoManifestHere { dir: PathBuf },
    #[error("`cargo metadata` failed: {message}")]
    Metadata { message: String },
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::MissingManifest { .. } => {
                Some("pass --manifest-path with the path of an existing Cargo.toml".into())
            }
            Error::NoManifestHere { .. } => {
                Some("run from a Cargo project directory, or pass --manifest-path path/to/Cargo.toml".into())
            }
            Error::Metadata { .. } => None,
        }
    }
}

/// The workspace as cargo reports it (`cargo metadata --no-deps`).
pub(crate) struct Workspace {
    pub(crate) metadata: Metadata,
}

impl Workspace {
    /// Runs `cargo metadata --no-deps`, after checking the manifest exists.
    pub(crate) fn load(opts: &LoadOptions) -> Result<Workspace, Error> {
        match &opts.manifest_path {
            Some(path) if !path.is_file() => return Err(Error::MissingManifest { path: path.clone() }),
            None => {
                let dir = std::env::current_dir().unwrap_or_default();
                if !dir.ancestors().any(|d| d.join("Cargo.toml").is_file()) {
                    return Err(Error::NoManifestHere { dir });
                }
            }
            _ => {}
        }
        let mut cmd = MetadataCommand::new();
        cmd.no_deps();
        if let Some(path) = &opts.manifest_path {
            cmd.manifest_path(path);
        }
        let mut other = Vec::new();
        for (on, flag) in [(opts.locked, "--locked"), (opts.frozen, "--frozen"), (opts.offline, "--offline")] {
            if on {
                other.push(flag.to_string());
            }
        }
        for value in &opts.config {
            other.extend(["--config".to_string(), value.clone()]);
        }
        cmd.other_options(other);
        if let Some(dir) = &opts.target_dir {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        let metadata = cmd.exec().map_err(|e| Error::Metadata { message: metadata_message(e) })?;
        Ok(Workspace { metadata })
    }

    /// Workspace members, in cargo's order.
    pub(crate) fn members(&self) -> Vec<&Package> {
        self.metadata.workspace_packages()
    }

    /// The packages a bare `cargo build` would build, as cargo reports them: the package
    /// of the manifest it was run on (the one nearest the current directory, or
    /// `--manifest-path`), a member's too; else (a virtual manifest) the default members.
    /// A cargo too old to report them (before 1.71) gets the root package, or every member.
    pub(crate) fn default_packages(&self) -> Vec<&Package> {
        let defaults = &self.metadata.workspace_default_members;
        if defaults.is_available() {
            return self.members().into_iter().filter(|p| defaults.contains(&p.id)).collect();
        }
        match self.metadata.root_package() {
            Some(root) => vec![root],
            None => self.members(),
        }
    }

    pub(crate) fn target_directory(&self) -> &Path {
        self.metadata.target_directory.as_std_path()
    }
}

/// The names of a package's binary targets.
pub(crate) fn bin_names(package: &Package) -> Vec<&str> {
    package.targets.iter().filter(|t| t.is_bin()).map(|t| t.name.as_str()).collect()
}

fn metadata_message(e: cargo_metadata::Error) -> String {
    match e {
        cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim().to_string(),
        other => other.to_string(),
    }
}
