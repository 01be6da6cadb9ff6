//! Sinks: where an assembled image goes. The layout takes the `Artifact`, the tarball the
//! one image Docker loads, the engine that image uncompressed where it can be (our layers
//! are written as plain tars, a base's go as held); registries are `crate::registry`.
//! `crate::publish` dispatches to each. None recomputes a digest.

pub(crate) mod archive;
pub(crate) mod daemon;
pub(crate) mod layout;

use crate::digest::Digest;
use crate::fsutil;
use crate::image::parent::Parent;
use crate::image::{Artifact, Image};
use crate::reference::Reference;
use std::io;
use std::path::{Path, PathBuf};

/// Where the image goes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SinkSpec {
    /// An OCI image layout directory; `default` when no output was asked for.
    Layout { dir: PathBuf, ref_names: Vec<String>, default: bool },
    /// A docker-archive tar carrying `tags`, also an OCI layout naming the image `ref_names`.
    Archive { path: PathBuf, tags: Vec<Reference>, ref_names: Vec<String> },
    /// The local Docker engine, under `tags`.
    Daemon { tags: Vec<Reference> },
    /// A registry, under `references`.
    Registry { references: Vec<Reference> },
}

impl SinkSpec {
    /// Whether the sink takes our layers uncompressed: a Docker engine would only
    /// decompress them again, so it gets plain tars, loaded while the other sinks' layers
    /// compress, and a run with only such sinks never compresses.
    pub(crate) fn takes_uncompressed(&self) -> bool {
        matches!(self, SinkSpec::Daemon { .. })
    }

    /// Whether the sink can pass on a base's zstd layers: a registry and an OCI layout
    /// can; a docker-archive tarball and a Docker engine's load (20.10 reads only gzip and
    /// plain tars) cannot.
    pub(crate) fn takes_zstd(&self) -> bool {
        matches!(self, SinkSpec::Layout { .. } | SinkSpec::Registry { .. })
    }
}

/// Why a sink failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot write the OCI layout to {}: {source}", dir.display())]
    Layout { dir: PathBuf, source: io::Error },
    #[error("cannot write the image tar to {}: {source}", path.display())]
    Archive { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Daemon(#[from] crate::engine::Error),
    #[error("{first} and {second} {problem}")]
    Collision { first: String, second: String, problem: &'static str, metadata_file: bool },
    /// A destination that cannot take a base's zstd layer.
    #[error("{sink} cannot take the base image {base}: its layer {digest} is zstd ({media_type}), and {why}")]
    Zstd { sink: String, base: String, digest: Digest, media_type: String, why: &'static str },
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Archive { path, source } if source.kind() == io::ErrorKind::TimedOut => Some(format!(
                "start its reader first and keep it reading, e.g. `docker load < {}` in another shell; the waits \
                 are CARGO_CONTAINERIZE_TIMEOUT_SECS (for a reader to come) and CARGO_CONTAINERIZE_STALL_SECS \
                 (for it to read on)",
                path.display()
            )),
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
            Error::Collision { .. } => Some(
                "give each output a path of its own; a file beside a layout's own entries (e.g. -o out \
                 --metadata-file out/run.json) is fine"
                    .into(),
            ),
            Error::Zstd { .. } => Some(
                "choose another base (one whose layers are gzip), or a destination that takes zstd layers: \
                 --push REGISTRY/REPO:TAG, or -o DIR (an OCI layout)"
                    .into(),
            ),
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

/// Checks, before the build, that no output would overwrite another: two outputs at one
/// path (standard output included), a file at one of a layout's own entries (`index.json`,
/// `oci-layout`, `blobs/...`) or at the layout directory itself, and a tarball inside a
/// layout. Other files in a layout's directory are left alone by the layout, so they are
/// allowed.
pub(crate) fn check_collisions(sinks: &[SinkSpec], metadata_file: Option<&Path>) -> Result<(), Error> {
    let mut files: Vec<(String, &Path)> = Vec::new();
    let mut layouts: Vec<(String, &Path)> = Vec::new();
    for spec in sinks {
        match spec {
            SinkSpec::Layout { dir, .. } => layouts.push((format!("the layout {}", dir.display()), dir)),
            SinkSpec::Archive { path, .. } => files.push((format!("--tarball {}", path.display()), path)),
            SinkSpec::Daemon { .. } | SinkSpec::Registry { .. } => {}
        }
    }
    if let Some(path) = metadata_file {
        files.push((format!("--metadata-file {}", path.display()), path));
    }
    let collision = |first: &str, second: &str, problem| Error::Collision {
        first: first.into(),
        second: second.into(),
        problem,
        metadata_file: first.starts_with("--metadata-file") || second.starts_with("--metadata-file"),
    };
    for (i, (name, path)) in files.iter().enumerate() {
        let file = fsutil::comparable(path);
        for (other, other_path) in &files[i + 1..] {
            let both_stdout = fsutil::is_stdout_path(path) && fsutil::is_stdout_path(other_path);
            if both_stdout || file == fsutil::comparable(other_path) {
                return Err(collision(name, other, "are the same file: one would overwrite the other"));
            }
        }
        for (layout, dir) in &layouts {
            let dir = fsutil::comparable(dir);
            let Ok(inside) = file.strip_prefix(&dir) else { continue };
            let problem = if inside.as_os_str().is_empty() {
                "are the same path: the file would replace the layout"
            } else if matches!(inside.to_str(), Some("index.json" | "oci-layout")) || inside.starts_with("blobs") {
                "collide: the file would replace one of the layout's own entries"
            } else if name.starts_with("--tarball") {
                "collide: a tarball inside a layout's directory is not part of the layout; write it elsewhere"
            } else {
                continue;
            };
            return Err(collision(name, layout, problem));
        }
    }
    Ok(())
}

/// Checks, before the build, that every destination can take the base's layers (see
/// [`SinkSpec::takes_zstd`]; every platform's base is checked, though the engine and the
/// tarball get one). With `verbose`, says which base layers a push alone may leave
/// unchecked: the registry mounts them or has them, so they are never downloaded.
pub(crate) fn check_base(sinks: &[SinkSpec], parents: Option<&[Parent]>, verbose: bool) -> Result<(), Error> {
    let Some(parents) = parents else { return Ok(()) };
    let layers = || parents.iter().flat_map(|p| p.blobs().map(move |b| (p, b)));
    for spec in sinks.iter().filter(|s| !s.takes_zstd()) {
        let zstd = layers().find(|(_, b)| b.media_type == crate::image::layer::MEDIA_TYPE_ZSTD);
        let Some((parent, blob)) = zstd else { continue };
        let (sink, why) = match spec {
            SinkSpec::Archive { path, .. } => (
                format!("--tarball {}", path.display()),
                "a docker-archive tarball carries gzip or plain tar layers only (Docker 20.10 cannot load zstd)",
            ),
            SinkSpec::Daemon { tags } => (
                format!("--tag {} (the Docker engine)", tags.first().map(|t| t.to_string()).unwrap_or_default()),
                "Docker 20.10 loads gzip or plain tar layers only",
            ),
            SinkSpec::Layout { .. } | SinkSpec::Registry { .. } => unreachable!("these take zstd"),
        };
        return Err(Error::Zstd {
            sink,
            base: parent.name.clone(),
            digest: blob.digest.clone(),
            media_type: blob.media_type.clone(),
            why,
        });
    }
    if verbose && sinks.iter().all(|s| matches!(s, SinkSpec::Registry { .. })) {
        let store = crate::store::Store::user();
        let mut seen = std::collections::HashSet::new();
        for (parent, blob) in layers() {
            if seen.insert(&blob.digest) && !store.has(&blob.digest, blob.size) {
                crate::shell::line(format_args!(
                    "base layer {} ({}) of {} is not checked (compression, diff_id) unless it is downloaded: a \
                     push does not download a layer the registry mounts or already has",
                    blob.digest, blob.media_type, parent.name
                ));
            }
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

/// Writes `artifact` into the OCI layout at `dir` under `ref_names` (the tool's own layout
/// when `default`), with its `referrers` listed in `index.json`; returns its digest.
pub(crate) fn write_layout(
    dir: &Path,
    artifact: &Artifact,
    referrers: &[crate::image::referrer::Referrer],
    ref_names: &[String],
    default: bool,
    memo: &crate::image::cache::FileDigests,
) -> Result<Digest, Error> {
    let mode = if default { layout::Mode::Own } else { layout::Mode::Add };
    let what = layout::Contents { artifact, referrers };
    let error = |source| Error::Layout { dir: dir.into(), source };
    layout::write(dir, &what, ref_names, mode, memo).map_err(error)?;
    artifact.digest().cloned().map_err(error)
}

/// Writes the tar of `image` (the one image Docker loads) to `path`, carrying `tags` and
/// naming the image `ref_names`; the tuning bounds the waits for a FIFO's (or standard
/// output's) reader. Returns the image's digest.
pub(crate) fn write_archive(
    path: &Path,
    image: &Image,
    tags: &[crate::reference::Reference],
    ref_names: &[String],
    tuning: &crate::tuning::Tuning,
) -> Result<Digest, Error> {
    let error = |source| Error::Archive { path: path.into(), source };
    fsutil::write_output(path, tuning, |w| archive::write(w, image, tags, ref_names).map(drop)).map_err(error)?;
    image.digest().cloned().map_err(error)
}
