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
    Registry(#[from] crate::registry::Error),
    #[error("cannot read the password from standard input: {source}")]
    Stdin { source: std::io::Error },
    #[error("--password-stdin was given but standard input was empty")]
    EmptyPassword,
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
            Error::EmptyPassword => {
                Some("pipe it in: `echo \"$TOKEN\" | cargo containerize --username USER --password-stdin ...`".into())
            }
        }
    }
}
