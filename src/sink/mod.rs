//! Sinks: where an assembled image goes. The layout and the tarball take the `Artifact` (a
//! tarball the one image Docker loads); the engine takes the `Unpacked` image; registries
//! are published by `crate::registry`. None recomputes a digest.

pub(crate) mod archive;
pub(crate) mod daemon;
pub(crate) mod layout;

use crate::fsutil;
use crate::image::{Artifact, Image};
use crate::plan::SinkSpec;
use std::io;
use std::path::PathBuf;

/// Why a sink failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot write the OCI layout to {}: {source}", dir.display())]
    Layout { dir: PathBuf, source: io::Error },
    #[error("cannot write the image tar to {}: {source}", path.display())]
    Archive { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Daemon(#[from] daemon::Error),
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Layout { source, .. } | Error::Archive { source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    Some("choose a path you can write to".into())
                }
                io::ErrorKind::AlreadyExists => {
                    Some("choose a new directory, an empty one, or an existing OCI image layout".into())
                }
                _ => None,
            },
            Error::Daemon(e) => e.hint(),
        }
    }
}

/// Writes `artifact` to the local sink `spec`; returns the result lines for stdout. A tar
/// holds `load`, the one image Docker loads (the artifact itself unless it is an index).
/// The engine (`daemon::load`) and registries (`crate::registry`) are published apart.
/// `timeout` bounds the wait for a FIFO's reader.
pub(crate) fn publish_local(
    spec: &SinkSpec,
    artifact: &Artifact,
    load: &Image,
    timeout: std::time::Duration,
) -> Result<Vec<String>, Error> {
    match spec {
        SinkSpec::Layout { dir, ref_names, default } => {
            let mode = if *default { layout::Mode::Own } else { layout::Mode::Add };
            layout::write(dir, artifact, ref_names, mode)
                .map_err(|source| Error::Layout { dir: dir.clone(), source })?;
            Ok(vec![format!("{} {}", dir.display(), artifact.digest())])
        }
        SinkSpec::Archive { path, tags, ref_names } => {
            fsutil::write_output(path, timeout, |w| archive::write(w, load, tags, ref_names).map(drop))
                .map_err(|source| Error::Archive { path: path.clone(), source })?;
            Ok(vec![format!("{} {}", path.display(), load.digest())])
        }
        SinkSpec::Daemon { .. } | SinkSpec::Registry { .. } => {
            unreachable!("engines load `Unpacked` images; registries are published by crate::registry")
        }
    }
}
