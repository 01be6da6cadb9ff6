//! `--tarball FILE` when a run makes several images: one tar holding every image, as
//! `docker save a b c` writes it. It is a docker-archive whose `manifest.json` lists each
//! image (its load platform's, with several platforms) under its tags, and an OCI image
//! layout whose `index.json` lists each image's top manifest (an index, with several
//! platforms) under its names. Unlike the other sinks it takes the whole run's images, so it
//! is published once they are all assembled; its outcomes go to the same observer.

use super::archive::{append, append_blob, append_dir, append_docker_files, blob_path, Loadable};
use super::layout::{entries, OCI_LAYOUT};
use super::{Context, Delivered, Error, Outcome};
use crate::fsutil;
use crate::image::config::canonical_json;
use crate::image::index::MEDIA_TYPE_OCI_INDEX;
use crate::image::{Artifact, Image, MediaTypes};
use crate::platform::Platform;
use crate::reference::Reference;
use serde_json::json;
use std::collections::HashSet;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// One image of the bundle.
pub(crate) struct Member<'a> {
    pub(crate) artifact: &'a Artifact,
    /// The tags `docker load` gives it.
    pub(crate) tags: Vec<Reference>,
    /// Its names in the OCI part (`org.opencontainers.image.ref.name`).
    pub(crate) ref_names: Vec<String>,
    /// With several platforms, the one `docker load` takes.
    pub(crate) load_platform: Option<Platform>,
}

/// The tarball of several images.
pub(crate) struct Bundle {
    pub(crate) path: PathBuf,
}

/// Its path is checked before the build as any `--tarball`'s (`sink::check_paths`), and a
/// zstd base as the docker-archive's (`sink::check_base`).
impl Bundle {
    /// Writes every member into the one tar; one outcome per member, in order.
    pub(crate) fn publish(&self, members: &[Member], cx: &Context) -> Vec<Outcome> {
        let shown = self.path.display().to_string();
        let written = fsutil::write_output(&self.path, &cx.push.tuning, |w| write(w, members).map(drop));
        let error = match written {
            Ok(()) => None,
            Err(source) => Some(Arc::new(Error::Archive { path: self.path.clone(), source })),
        };
        members
            .iter()
            .map(|m| {
                let result = match (&error, m.artifact.digest()) {
                    (Some(e), _) => Err(e.clone()),
                    (None, Err(source)) => Err(Arc::new(Error::Archive { path: self.path.clone(), source })),
                    (None, Ok(digest)) => Ok(Delivered {
                        line: format!("{shown} {}@{digest}", m.ref_names[0]),
                        full: format!("oci-archive:{shown}:{}@{digest}", m.ref_names[0]),
                        artifact: m.artifact.clone(),
                        referrers: Vec::new(),
                        engine: None,
                        types: MediaTypes::Oci,
                    }),
                };
                Outcome { kind: "tarball", reference: format!("{shown}:{}", m.ref_names[0]), result }
            })
            .collect()
    }
}

/// Writes the tar: `oci-layout`, `index.json` (every member under its names), every blob
/// once (each hashed on the way in), then `manifest.json` and `repositories` (every member's
/// load image under its tags).
fn write<W: Write>(w: W, members: &[Member]) -> io::Result<W> {
    let mut tar = tar::Builder::new(w);
    append(&mut tar, "oci-layout", OCI_LAYOUT.len() as u64, OCI_LAYOUT)?;
    let mut manifests = Vec::new();
    for m in members {
        // Named for a containerd-store engine's `docker load` too (see `archive::tarball_index`).
        let mut named = entries(m.artifact, &m.ref_names)?;
        super::archive::add_containerd_names(&mut named, &m.tags);
        manifests.extend(named);
    }
    let index = canonical_json(&json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": manifests}));
    append(&mut tar, "index.json", index.len() as u64, &index[..])?;
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    let mut seen = HashSet::new();
    for m in members {
        for blob in m.artifact.all_blobs()? {
            if seen.insert(blob.digest.clone()) {
                append_blob(&mut tar, blob)?;
            }
        }
    }
    let mut loadable = Vec::new();
    for m in members {
        let load: &Image = super::load_image(m.artifact, m.load_platform.as_ref());
        let layer_paths =
            load.layers.iter().map(|l| Ok(blob_path(l.blob()?.digest.hex()))).collect::<io::Result<Vec<_>>>()?;
        let top = load.layers.last().map(|l| &l.diff_id);
        loadable.push(Loadable { config: &load.config, top, tags: &m.tags, layer_paths });
    }
    append_docker_files(&mut tar, &loadable)?;
    tar.into_inner()
}
