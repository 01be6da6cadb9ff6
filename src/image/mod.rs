//! The core image model: layers, config and manifest, assembled once and read by every sink.

pub(crate) mod annotation;
pub(crate) mod base;
pub(crate) mod blob;
pub(crate) mod cache;
pub(crate) mod config;
pub(crate) mod growing;
pub(crate) mod gzip;
pub(crate) mod include;
pub(crate) mod index;
pub(crate) mod layer;
pub(crate) mod parent;
pub(crate) mod referrer;

use crate::digest::Digest;
use crate::platform::Platform;
use blob::Blob;
use config::{canonical_json, RunConfig};
use layer::Layer;
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use parent::Parent;
use std::collections::BTreeMap;

pub(crate) const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub(crate) const MEDIA_TYPE_DOCKER_LAYER: &str = layer::MEDIA_TYPE_DOCKER_GZIP;

/// Which family of media types a manifest uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaTypes {
    Oci,
    /// Docker image manifest v2 schema 2, for registries that refuse OCI types.
    Docker,
}

/// An image whose layers of ours are not compressed yet: its config and layers (a base's
/// held blobs first). A Docker engine loads this directly; compressing it gives the `Image`.
#[derive(Clone, Debug)]
pub(crate) struct Unpacked {
    pub(crate) platform: Platform,
    pub(crate) config: Blob,
    pub(crate) layers: Vec<Layer>,
    /// Annotations for the manifest.
    pub(crate) annotations: BTreeMap<String, String>,
}

impl Unpacked {
    /// Builds the config for `layers` (ours) on `parent` (if any), run as `run`; computed
    /// once, here. The parent's layers come first, and its history and config are kept
    /// where ours say nothing (`config::inherit`).
    pub(crate) fn assemble(platform: Platform, run: &RunConfig, ours: Vec<Layer>, parent: Option<&Parent>) -> Unpacked {
        let history: Vec<(Digest, String)> = ours.iter().map(|l| (l.diff_id.clone(), l.created_by.clone())).collect();
        let config = config::build(run, &platform, &history);
        let mut annotations = run.annotations.clone();
        let (config, layers) = match parent {
            None => (canonical_json(&config), ours),
            Some(p) => {
                for (k, v) in p.annotations() {
                    annotations.entry(k).or_insert(v);
                }
                let layers = p.layers.iter().cloned().chain(ours).collect();
                (canonical_json(&config::inherit(&p.config, config, run)), layers)
            }
        };
        let config = Blob::from_bytes(MEDIA_TYPE_OCI_CONFIG, config);
        Unpacked { platform, config, layers, annotations }
    }

    /// The image ID Docker shows: the config digest.
    pub(crate) fn id(&self) -> &Digest {
        &self.config.digest
    }
}

/// A complete single-platform image. Digests are computed once, here.
#[derive(Clone, Debug)]
pub struct Image {
    pub(crate) platform: Platform,
    pub(crate) config: Blob,
    pub(crate) layers: Vec<Layer>,
    /// The OCI manifest, exactly as hashed.
    pub(crate) manifest: Blob,
    pub(crate) annotations: BTreeMap<String, String>,
}

impl Image {
    /// Assembles config and manifest for `layers` run as `run`, on scratch.
    pub fn assemble(platform: Platform, run: &RunConfig, layers: Vec<Layer>) -> Image {
        Image::assemble_on(platform, run, layers, None)
    }

    /// Assembles config and manifest for `layers` (ours, compressed) on `parent`.
    pub(crate) fn assemble_on(
        platform: Platform,
        run: &RunConfig,
        layers: Vec<Layer>,
        parent: Option<&Parent>,
    ) -> Image {
        let unpacked = Unpacked::assemble(platform, run, layers.iter().map(Layer::uncompressed).collect(), parent);
        Image::from_unpacked(&unpacked, layers)
    }

    /// Completes `unpacked` with its compressed layers of ours, reusing its config.
    pub(crate) fn from_unpacked(unpacked: &Unpacked, ours: Vec<Layer>) -> Image {
        let held = unpacked.layers.len() - ours.len();
        let layers: Vec<Layer> = unpacked.layers[..held].iter().cloned().chain(ours).collect();
        debug_assert!(unpacked.layers.iter().map(|d| &d.diff_id).eq(layers.iter().map(|l| &l.diff_id)));
        let config = unpacked.config.clone();
        let annotations = unpacked.annotations.clone();
        let manifest = manifest_bytes(&config, &layers, &annotations, MediaTypes::Oci);
        let manifest = Blob::from_bytes(MEDIA_TYPE_OCI_MANIFEST, manifest);
        Image { platform: unpacked.platform.clone(), config, layers, manifest, annotations }
    }

    /// The uncompressed view, for a Docker engine.
    pub(crate) fn unpacked(&self) -> Unpacked {
        Unpacked {
            platform: self.platform.clone(),
            config: self.config.clone(),
            layers: self.layers.iter().map(Layer::uncompressed).collect(),
            annotations: self.annotations.clone(),
        }
    }

    /// The manifest digest: the image's identity in registries and layouts.
    pub fn digest(&self) -> &Digest {
        &self.manifest.digest
    }

    /// The manifest in the given media types (the OCI one is `self.manifest`).
    pub fn manifest_as(&self, types: MediaTypes) -> Blob {
        match types {
            MediaTypes::Oci => self.manifest.clone(),
            MediaTypes::Docker => Blob::from_bytes(
                MEDIA_TYPE_DOCKER_MANIFEST,
                manifest_bytes(&self.config, &self.layers, &self.annotations, MediaTypes::Docker),
            ),
        }
    }

    /// Every blob a registry or layout needs before the manifest: config, then layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(self.layers.iter().map(Layer::blob))
    }
}

/// What a run produces: one image, or an index of one image per platform.
#[derive(Clone, Debug)]
pub(crate) enum Artifact {
    Image(Image),
    Index(index::Index),
}

impl Artifact {
    /// The top manifest: the image's manifest, or the index.
    pub(crate) fn manifest(&self) -> &Blob {
        match self {
            Artifact::Image(i) => &i.manifest,
            Artifact::Index(x) => &x.manifest,
        }
    }

    /// The digest a registry or layout knows the artifact by.
    pub(crate) fn digest(&self) -> &Digest {
        &self.manifest().digest
    }

    /// Every image in the artifact.
    pub(crate) fn images(&self) -> &[Image] {
        match self {
            Artifact::Image(i) => std::slice::from_ref(i),
            Artifact::Index(x) => &x.images,
        }
    }

    /// Every blob, each once, in the order a layout or registry wants them: each image's
    /// config and layers, then its manifest; an index's manifest last.
    pub(crate) fn all_blobs(&self) -> Vec<&Blob> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for image in self.images() {
            for blob in image.blobs().chain(std::iter::once(&image.manifest)) {
                if seen.insert(&blob.digest) {
                    out.push(blob);
                }
            }
        }
        if let Artifact::Index(x) = self {
            out.push(&x.manifest);
        }
        out
    }
}

/// A descriptor of `blob` under `media_type`.
pub(crate) fn descriptor(blob: &Blob, media_type: &str) -> Descriptor {
    let digest = oci_spec::image::Digest::try_from(blob.digest.as_str()).expect("our digests are valid");
    Descriptor::new(MediaType::from(media_type), blob.size, digest)
}

fn manifest_bytes(
    config: &Blob,
    layers: &[Layer],
    annotations: &BTreeMap<String, String>,
    types: MediaTypes,
) -> Vec<u8> {
    let (manifest_type, config_type, layer_type) = match types {
        MediaTypes::Oci => (MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_CONFIG, layer::MEDIA_TYPE_GZIP),
        MediaTypes::Docker => (MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER),
    };
    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(manifest_type))
        .config(descriptor(config, config_type))
        .layers(
            layers.iter().map(|l| descriptor(l.blob(), layer::media_type(l.blob(), layer_type))).collect::<Vec<_>>(),
        );
    if !annotations.is_empty() {
        manifest = manifest.annotations(annotations.clone().into_iter().collect::<std::collections::HashMap<_, _>>());
    }
    canonical_json(&manifest.build().expect("manifest has every required field"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use layer::{Compressor, Contents, Entry};

    fn image() -> Image {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache::LayerCache::new(dir.path().to_path_buf());
        let contents = Contents::new(vec![Entry::bytes("/app", b"\x7fELF".to_vec(), 0o755)]);
        let layer = cache.layer(contents, Compressor::default(), "COPY app /app".into()).unwrap();
        let run = RunConfig { cmd: vec!["/app".into()], created: config::rfc3339(0), ..Default::default() };
        Image::assemble(Platform::linux("amd64", None), &run, vec![layer])
    }

    #[test]
    fn manifest_references_config_and_layer_by_digest() {
        let img = image();
        let m: serde_json::Value = serde_json::from_slice(img.manifest.bytes().unwrap()).unwrap();
        assert_eq!(m["schemaVersion"], 2);
        assert_eq!(m["mediaType"], MEDIA_TYPE_OCI_MANIFEST);
        assert_eq!(m["config"]["digest"], img.config.digest.to_string());
        assert_eq!(m["config"]["size"], img.config.size);
        assert_eq!(m["layers"][0]["mediaType"], layer::MEDIA_TYPE_GZIP);
        assert_eq!(m["layers"][0]["digest"], img.layers[0].blob().digest.to_string());
        assert_eq!(img.digest(), &Digest::of(img.manifest.bytes().unwrap()));
    }

    #[test]
    fn docker_manifest_keeps_digests_and_changes_types() {
        let img = image();
        let docker = img.manifest_as(MediaTypes::Docker);
        let m: serde_json::Value = serde_json::from_slice(docker.bytes().unwrap()).unwrap();
        assert_eq!(m["mediaType"], MEDIA_TYPE_DOCKER_MANIFEST);
        assert_eq!(m["config"]["mediaType"], MEDIA_TYPE_DOCKER_CONFIG);
        assert_eq!(m["layers"][0]["mediaType"], MEDIA_TYPE_DOCKER_LAYER);
        assert_eq!(m["config"]["digest"], img.config.digest.to_string());
        assert_ne!(docker.digest, img.manifest.digest);
    }

    #[test]
    fn assembling_twice_gives_the_same_digest() {
        assert_eq!(image().digest(), image().digest());
    }
}
