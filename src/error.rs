//! The top-level error: every module's typed error, and the fix to suggest for each.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
    #[error(transparent)]
    Build(#[from] crate::build::Error),
    #[error(transparent)]
    NotStatic(#[from] crate::elf::Error),
    #[error("cannot assemble the image from {}: {source}", binary.display())]
    Assemble { binary: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Sink(#[from] crate::sink::Error),
    #[error(transparent)]
    Registry(#[from] Box<crate::registry::Error>),
    #[error("cannot read the password from standard input: {source}")]
    Stdin { source: std::io::Error },
    #[error("--password-stdin was given but standard input was empty")]
    EmptyPassword,
    #[error("--password-stdin read more than {max} bytes from standard input, more than any password or token")]
    PasswordTooLong { max: usize },
    #[error("--password-stdin got no end of standard input within {secs} s")]
    StdinTimeout { secs: u64 },
    #[error("{set} is set but {missing} is not")]
    HalfCredentials { set: &'static str, missing: &'static str },
    #[error("the credentials from {from} could be for any of the registries this run {} ({}), and each registry gets only its own", if *bases { "pulls its bases from" } else { "pushes to" }, hosts.join(", "))]
    CredentialsHost { from: &'static str, hosts: Vec<String>, bases: bool },
    #[error("CARGO_CONTAINERIZE_REGISTRY is not a registry host: {reason}")]
    BadRegistryVariable { reason: String },
    #[error(transparent)]
    Tuning(#[from] crate::tuning::BadVariable),
    #[error(transparent)]
    Base(#[from] crate::base::Error),
    #[error(transparent)]
    Fit(#[from] crate::base::fit::Error),
    #[error(transparent)]
    OnBase(#[from] crate::spec::OnBaseError),
    #[error(transparent)]
    Inventory(#[from] crate::sbom::inventory::Error),
    #[error("cannot write the results file {}: {source}", path.display())]
    MetadataFile { path: PathBuf, source: std::io::Error },
    #[error("cannot write SBOMs into --sbom-output {}: {source}", path.display())]
    SbomOutput { path: PathBuf, source: std::io::Error },
    #[error("cannot write the plan to standard output: {source}")]
    Stdout { source: std::io::Error },
}

impl Error {
    /// What to do about it: the command to run, the flag to pass, the key to set.
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Plan(e) => e.hint(),
            Error::Build(e) => e.hint(),
            Error::NotStatic(e) => e.hint(),
            Error::Assemble { .. } => None,
            Error::Sink(e) => e.hint(),
            // Registry errors carry their fix in their message.
            Error::Registry(_) | Error::Stdin { .. } => None,
            Error::EmptyPassword | Error::PasswordTooLong { .. } => {
                Some("pipe it in: `echo \"$TOKEN\" | cargo containerize --username USER --password-stdin ...`".into())
            }
            Error::StdinTimeout { .. } => Some(
                "pipe the password in and close the pipe: `echo \"$TOKEN\" | cargo containerize --username USER \
                 --password-stdin ...`; or set CARGO_CONTAINERIZE_TIMEOUT_SECS to wait longer"
                    .into(),
            ),
            Error::HalfCredentials { missing, .. } => Some(format!("set {missing} too, or neither of them")),
            Error::CredentialsHost { hosts, .. } => Some(format!(
                "set CARGO_CONTAINERIZE_REGISTRY to the host they are for (e.g. CARGO_CONTAINERIZE_REGISTRY={}); \
                 the other registries use `docker login HOST`",
                hosts[0]
            )),
            Error::Tuning(_) => Some("unset it, or give it a number".into()),
            Error::Base(e) => e.hint(),
            Error::Fit(e) => e.hint(),
            Error::OnBase(crate::spec::OnBaseError::Settings(e)) => e.hint(),
            Error::OnBase(crate::spec::OnBaseError::Fit(e)) => e.hint(),
            Error::MetadataFile { .. } => Some("choose a path whose directory you can write to".into()),
            Error::SbomOutput { .. } => Some("name a directory you can write to (it is made if missing)".into()),
            Error::Stdout { .. } => {
                Some("keep standard output open until the run ends, e.g. redirect it to a file".into())
            }
            Error::Inventory(_) => Some("fix what cargo says, or attach no SBOM with --no-sbom (sbom = false)".into()),
            Error::BadRegistryVariable { .. } => {
                Some("give it as HOST or HOST:PORT, as in the image reference, e.g. ghcr.io or 127.0.0.1:5000".into())
            }
        }
    }
}
