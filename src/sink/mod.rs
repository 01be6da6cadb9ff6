//! Sinks: where an assembled image goes, each behind one interface ([`Sink`]). The layout
//! takes the `Artifact`, the tarball the one image Docker loads, the engine that image
//! uncompressed (our layers are written as plain tars, a base's go as held), a registry
//! the artifact through `crate::registry`. A plan names its destinations as data
//! ([`SinkSpec`]); [`open`] makes each a `Sink`. None recomputes a digest.

pub(crate) mod archive;
pub(crate) mod bundle;
pub(crate) mod daemon;
pub(crate) mod index_archive;
pub(crate) mod layout;
pub(crate) mod push;

use crate::digest::Digest;
use crate::fsutil;
use crate::image::cache::FileDigests;
use crate::image::parent::Parent;
use crate::image::referrer::Referrer;
use crate::image::{Artifact, Image};
use crate::platform::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::PushOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A destination, in the manner of ko's `publish.Interface`: it says before the build what
/// it can check and what it takes, then publishes an artifact and says what each of its
/// names got. One observer (`crate::publish`) turns those outcomes into the stdout lines
/// and the results file.
pub(crate) trait Sink {
    /// Checks, before the build, what can be checked of the destination.
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Whether it takes our layers uncompressed: a Docker engine would only decompress them
    /// again, so it gets the image before compression, and a run with only such sinks
    /// never compresses.
    fn takes_uncompressed(&self) -> bool {
        false
    }

    /// Why it cannot take a base's zstd layer, and how it is named in that message; `None`
    /// when it can.
    fn refuses_zstd(&self) -> Option<(String, &'static str)> {
        None
    }

    /// Which documents (SBOMs, provenance) it keeps beside the image.
    fn keeps(&self) -> Keeps {
        Keeps::Nothing
    }

    /// Publishes `artifact` with the `referrers` it keeps; one outcome per name it was
    /// given, in order.
    fn publish(&self, artifact: &Artifact, referrers: &[Referrer], cx: &Context) -> Vec<Outcome>;
}

/// Which documents a destination keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keeps {
    Nothing,
    /// Those of a local layout.
    Local,
    /// Those of a push.
    Pushed,
}

/// What every sink shares in one run.
pub(crate) struct Context<'a> {
    /// The run's registry options: they also say how quiet to be, and bound every wait.
    pub(crate) push: &'a PushOptions,
    pub(crate) progress: &'a Progress,
    /// What the layer cache knows of file digests, so layouts check their blobs for free.
    pub(crate) memo: &'a FileDigests,
}

/// What one name of a destination (a layout, a tarball, an engine tag, a registry
/// reference) got, or why it got nothing.
pub(crate) struct Outcome {
    /// Its kind in the results file: `layout`, `tarball`, `engine` or `registry`.
    pub(crate) kind: &'static str,
    /// The destination as given (a tag with its default tag).
    pub(crate) reference: String,
    /// What it got; an error shared by the names one failure stopped.
    pub(crate) result: Result<Delivered, Arc<Error>>,
}

/// What a destination holds now.
pub(crate) struct Delivered {
    /// The line on stdout.
    pub(crate) line: String,
    /// The full reference (with the digest) for the results file.
    pub(crate) full: String,
    /// The artifact, or the one image of it that a docker-archive or an engine takes.
    pub(crate) artifact: Artifact,
    /// The documents it holds beside it.
    pub(crate) referrers: Vec<Referrer>,
    /// What an engine holds: its image ID, and the manifest it keeps when it is ours.
    pub(crate) engine: Option<daemon::Loaded>,
    /// The media types of the manifests it holds (Docker's for a registry that refused OCI
    /// types): the digests of the results file are those it serves.
    pub(crate) types: crate::image::MediaTypes,
}

impl Outcome {
    /// The same failure for each of `references`.
    fn failed(kind: &'static str, references: impl IntoIterator<Item = String>, error: Error) -> Vec<Outcome> {
        let error = Arc::new(error);
        references.into_iter().map(|reference| Outcome { kind, reference, result: Err(error.clone()) }).collect()
    }
}

/// The sink for `spec`; `load_platform` picks the image a Docker engine or a
/// docker-archive takes from an index.
pub(crate) fn open(spec: &SinkSpec, load_platform: Option<&Platform>) -> Box<dyn Sink> {
    let load_platform = load_platform.cloned();
    match spec.clone() {
        SinkSpec::Layout { dir, ref_names, default } => Box::new(layout::LayoutSink { dir, ref_names, default }),
        SinkSpec::Archive { path, tags, ref_names } if let Some(load_platform) = load_platform.clone() => {
            Box::new(index_archive::IndexArchiveSink { path, tags, ref_names, load_platform })
        }
        SinkSpec::Archive { path, tags, ref_names } => {
            Box::new(archive::ArchiveSink { path, tags, ref_names, load_platform })
        }
        SinkSpec::Daemon { tags } => Box::new(daemon::EngineSink { tags, load_platform }),
        SinkSpec::Registry { references } => Box::new(push::RegistrySink { references }),
    }
}

/// The image that a Docker engine or a docker-archive takes from `artifact`: the one image,
/// or the index's image for `platform` (its first without one).
pub(crate) fn load_image<'a>(artifact: &'a Artifact, platform: Option<&Platform>) -> &'a Image {
    match (artifact, platform) {
        (Artifact::Index(index), Some(platform)) => index.image_for(platform).unwrap_or(&index.images[0]),
        _ => &artifact.images()[0],
    }
}

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
    /// A push that failed.
    #[error(transparent)]
    Registry(Box<crate::registry::Error>),
    /// A base's blob that a push needed could not be fetched.
    #[error(transparent)]
    Base(Box<crate::base::Error>),
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Registry(_) => None,
            Error::Base(e) => e.hint(),
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

/// Checks, before the build, what can be checked of every destination ([`Sink::check`]).
pub(crate) fn check(sinks: &[SinkSpec]) -> Result<(), Error> {
    sinks.iter().try_for_each(|spec| open(spec, None).check())
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
/// [`Sink::refuses_zstd`]; every platform's base is checked, though the engine and the
/// tarball get one). With `verbose`, says which base layers a push alone may leave
/// unchecked: the registry mounts them or has them, so they are never downloaded.
pub(crate) fn check_base(sinks: &[SinkSpec], parents: Option<&[Parent]>, verbose: bool) -> Result<(), Error> {
    let Some(parents) = parents else { return Ok(()) };
    let layers = || parents.iter().flat_map(|p| p.blobs().map(move |b| (p, b)));
    for spec in sinks {
        let Some((sink, why)) = open(spec, None).refuses_zstd() else { continue };
        let zstd = layers().find(|(_, b)| b.media_type == crate::image::layer::MEDIA_TYPE_ZSTD);
        let Some((parent, blob)) = zstd else { continue };
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

/// With several images, `--output DIR` is the directory of their layouts (`DIR/<bin>`): a
/// directory or a path where one can be made, checked before the build as `check_paths`
/// checks a single layout.
pub(crate) fn check_layouts_dir(dir: &Path) -> Result<(), Error> {
    no_line_break(dir)
        .and_then(|()| layout::check_parent(dir))
        .map_err(|source| Error::Layout { dir: dir.to_path_buf(), source })
}

/// A path printed on a result line must not break it.
fn no_line_break(path: &Path) -> io::Result<()> {
    if path.to_string_lossy().contains(['\n', '\r']) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the path holds a line break; choose another"));
    }
    Ok(())
}

/// A layout directory must be new (its parent taking new entries), empty or a readable
/// layout; a tarball path must lead to a file whose directory takes new files, a FIFO, a
/// character device or a standard output that is not a terminal; and neither may hold a
/// line break, which would break the one-line-per-result contract of stdout.
pub(crate) fn check_paths(layout: Option<&Path>, tarball: Option<&Path>) -> Result<(), Error> {
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
