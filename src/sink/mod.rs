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
use std::path::{Path, PathBuf};

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

/// Checks, before the build, what can be checked of every local destination (see
/// [`check_paths`]).
pub(crate) fn check(sinks: &[SinkSpec]) -> Result<(), Error> {
    for spec in sinks {
        match spec {
            SinkSpec::Layout { dir, .. } => check_paths(Some(dir), None)?,
            SinkSpec::Archive { path, .. } => check_paths(None, Some(path))?,
            SinkSpec::Daemon { .. } | SinkSpec::Registry { .. } => {}
        }
    }
    Ok(())
}

/// A layout directory must be new (its parent taking new entries), empty or a readable
/// layout; a tarball path must lead to a file whose directory takes new files, a FIFO, a
/// character device or a standard output that is not a terminal; and neither may hold a
/// line break, which would break the one-line-per-result contract of stdout.
pub(crate) fn check_paths(layout: Option<&Path>, tarball: Option<&Path>) -> Result<(), Error> {
    let no_line_break = |path: &Path| {
        if path.to_string_lossy().contains(['\n', '\r']) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the path holds a line break; choose another"));
        }
        Ok(())
    };
    if let Some(dir) = layout {
        no_line_break(dir)
            .and_then(|()| layout::check(dir))
            .map_err(|source| Error::Layout { dir: dir.to_path_buf(), source })?;
    }
    if let Some(path) = tarball {
        no_line_break(path)
            .and_then(|()| fsutil::check_output(path))
            .map_err(|source| Error::Archive { path: path.to_path_buf(), source })?;
    }
    Ok(())
}

/// Writes `artifact` to the local sink `spec`; returns the result lines for stdout. A tar
/// holds `load`, the one image Docker loads (the artifact itself unless it is an index).
/// The engine (`daemon::load`) and registries (`crate::registry`) are published apart.
/// The tuning bounds the waits for a FIFO's (or standard output's) reader.
pub(crate) fn publish_local(
    spec: &SinkSpec,
    artifact: &Artifact,
    load: &Image,
    tuning: &crate::tuning::Tuning,
    memo: &crate::image::cache::FileDigests,
) -> Result<Vec<String>, Error> {
    match spec {
        SinkSpec::Layout { dir, ref_names, default } => {
            let mode = if *default { layout::Mode::Own } else { layout::Mode::Add };
            layout::write(dir, artifact, ref_names, mode, memo)
                .map_err(|source| Error::Layout { dir: dir.clone(), source })?;
            Ok(vec![format!("{} {}", dir.display(), artifact.digest())])
        }
        SinkSpec::Archive { path, tags, ref_names } => {
            fsutil::write_output(path, tuning, |w| archive::write(w, load, tags, ref_names).map(drop))
                .map_err(|source| Error::Archive { path: path.clone(), source })?;
            Ok(vec![format!("{} {}", path.display(), load.digest())])
        }
        SinkSpec::Daemon { .. } | SinkSpec::Registry { .. } => {
            unreachable!("engines load `Unpacked` images; registries are published by crate::registry")
        }
    }
}
