//! The image we build on (`base`): its config, its layers held by digest, and where it
//! came from. Scratch has none.

use super::blob::Blob;
use super::layer::Layer;
use crate::digest::Digest;
use crate::platform::Platform;
use std::collections::BTreeMap;

pub(crate) use super::annotation::{BASE_DIGEST, BASE_NAME};

/// One platform's base image, resolved to a digest.
#[derive(Clone, Debug)]
pub(crate) struct Parent {
    /// The reference as the user gave it (`registry/repo:tag`, `oci:DIR:tag`, ...).
    pub(crate) name: String,
    /// This platform's manifest digest.
    pub(crate) digest: Digest,
    pub(crate) platform: Platform,
    /// The base's config, as it was (every field we do not set is kept).
    pub(crate) config: serde_json::Value,
    /// Its layers, bottom up, each a blob held by digest with the config's diff_id.
    pub(crate) layers: Vec<Layer>,
    /// For an engine's image (`docker:`), its name and digest in the registry it was pulled
    /// from, when the engine knows them (`RepoDigests`): `REGISTRY/REPO@sha256:…`.
    pub(crate) registry_digest: Option<String>,
}

impl Parent {
    /// Its layers with their blobs, bottom up: a base's layers are all held by digest.
    pub(crate) fn held(&self) -> impl Iterator<Item = (&Layer, &Blob)> {
        self.layers.iter().filter_map(|l| l.held_blob().map(|b| (l, b)))
    }

    /// Its layers' blobs, bottom up.
    pub(crate) fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.held().map(|(_, b)| b)
    }

    /// The manifest annotations that record the base.
    pub(crate) fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(BASE_NAME.to_string(), self.name.clone()), (BASE_DIGEST.to_string(), self.digest.to_string())])
    }
}
