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
use std::io;
use std::sync::OnceLock;

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

/// A single-platform image: its config, computed once when it is assembled, and its
/// manifest, made on first need. Our layers are compressed only then (see [`Layer::blob`]),
/// so a sink that takes them uncompressed (a Docker engine) gets the image at once.
#[derive(Clone, Debug)]
pub struct Image {
    pub(crate) platform: Platform,
    pub(crate) config: Blob,
    /// The parent's layers first (a base's held blobs; scratch has none), then ours.
    pub(crate) layers: Vec<Layer>,
    /// Annotations for the manifest.
    pub(crate) annotations: BTreeMap<String, String>,
    /// The OCI manifest, exactly as hashed, once made.
    manifest: OnceLock<Blob>,
}

impl Image {
    /// Assembles the image of `layers` on scratch, run as `run`.
    pub fn assemble(platform: Platform, run: &RunConfig, layers: Vec<Layer>) -> Image {
        Image::assemble_on(platform, run, layers, None)
    }

    /// Assembles the image of `ours` (our layers, bottom up) on `parent` (none: scratch),
    /// run as `run`. The config is built here, once; the parent's layers come first, and
    /// its history and config are kept where ours say nothing (`config::inherit`).
    pub(crate) fn assemble_on(platform: Platform, run: &RunConfig, ours: Vec<Layer>, parent: Option<&Parent>) -> Image {
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
        Image { platform, config, layers, annotations, manifest: OnceLock::new() }
    }

    /// The image ID Docker's classic store shows: the config digest.
    pub(crate) fn id(&self) -> &Digest {
        &self.config.digest
    }

    /// The OCI manifest; made on the first call, which compresses those of our layers
    /// that are not yet.
    pub(crate) fn manifest(&self) -> io::Result<&Blob> {
        if let Some(manifest) = self.manifest.get() {
            return Ok(manifest);
        }
        let bytes = manifest_bytes(&self.config, &self.layer_blobs()?, &self.annotations, MediaTypes::Oci);
        Ok(self.manifest.get_or_init(|| Blob::from_bytes(MEDIA_TYPE_OCI_MANIFEST, bytes)))
    }

    /// The manifest digest: the image's identity in registries and layouts.
    pub fn digest(&self) -> io::Result<&Digest> {
        Ok(&self.manifest()?.digest)
    }

    /// The manifest in the given media types (the OCI one is [`Image::manifest`]).
    pub fn manifest_as(&self, types: MediaTypes) -> io::Result<Blob> {
        match types {
            MediaTypes::Oci => self.manifest().cloned(),
            MediaTypes::Docker => Ok(Blob::from_bytes(
                MEDIA_TYPE_DOCKER_MANIFEST,
                manifest_bytes(&self.config, &self.layer_blobs()?, &self.annotations, MediaTypes::Docker),
            )),
        }
    }

    /// The compressed blob of every layer, bottom up.
    fn layer_blobs(&self) -> io::Result<Vec<&Blob>> {
        self.layers.iter().map(Layer::blob).collect()
    }

    /// Every blob a registry or layout needs before the manifest: config, then layers.
    pub fn blobs(&self) -> io::Result<Vec<&Blob>> {
        Ok(std::iter::once(&self.config).chain(self.layer_blobs()?).collect())
    }
}

/// What a run produces: one image, or an index of one image per platform.
#[derive(Clone, Debug)]
pub(crate) enum Artifact {
    Image(Image),
    Index(index::Index),
}

impl Artifact {
    /// The top manifest: the image's manifest, or the index; made on first need.
    pub(crate) fn manifest(&self) -> io::Result<&Blob> {
        match self {
            Artifact::Image(i) => i.manifest(),
            Artifact::Index(x) => x.manifest(),
        }
    }

    /// The digest a registry or layout knows the artifact by.
    pub(crate) fn digest(&self) -> io::Result<&Digest> {
        Ok(&self.manifest()?.digest)
    }

    /// The top manifest in the given media types (a registry that refuses OCI types gets
    /// the Docker ones).
    pub(crate) fn manifest_as(&self, types: MediaTypes) -> io::Result<Blob> {
        match self {
            Artifact::Image(i) => i.manifest_as(types),
            Artifact::Index(x) => x.manifest_as(types),
        }
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
    pub(crate) fn all_blobs(&self) -> io::Result<Vec<&Blob>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for image in self.images() {
            for blob in image.blobs()?.into_iter().chain(std::iter::once(image.manifest()?)) {
                if seen.insert(&blob.digest) {
                    out.push(blob);
                }
            }
        }
        if let Artifact::Index(x) = self {
            out.push(x.manifest()?);
        }
        Ok(out)
    }
}

/// A descriptor of `blob` under `media_type`.
pub(crate) fn descriptor(blob: &Blob, media_type: &str) -> Descriptor {
    let digest = oci_spec::image::Digest::try_from(blob.digest.as_str()).expect("our digests are valid");
    Descriptor::new(MediaType::from(media_type), blob.size, digest)
}

fn manifest_bytes(
    config: &Blob,
    layers: &[&Blob],
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
        .layers(layers.iter().map(|b| descriptor(b, layer::media_type(b, layer_type))).collect::<Vec<_>>());
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
        let m: serde_json::Value = serde_json::from_slice(img.manifest().unwrap().bytes().unwrap()).unwrap();
        assert_eq!(m["schemaVersion"], 2);
        assert_eq!(m["mediaType"], MEDIA_TYPE_OCI_MANIFEST);
        assert_eq!(m["config"]["digest"], img.config.digest.to_string());
        assert_eq!(m["config"]["size"], img.config.size);
        assert_eq!(m["layers"][0]["mediaType"], layer::MEDIA_TYPE_GZIP);
        assert_eq!(m["layers"][0]["digest"], img.layers[0].blob().unwrap().digest.to_string());
        assert_eq!(img.digest().unwrap(), &Digest::of(img.manifest().unwrap().bytes().unwrap()));
    }

    #[test]
    fn docker_manifest_keeps_digests_and_changes_types() {
        let img = image();
        let docker = img.manifest_as(MediaTypes::Docker).unwrap();
        let m: serde_json::Value = serde_json::from_slice(docker.bytes().unwrap()).unwrap();
        assert_eq!(m["mediaType"], MEDIA_TYPE_DOCKER_MANIFEST);
        assert_eq!(m["config"]["mediaType"], MEDIA_TYPE_DOCKER_CONFIG);
        assert_eq!(m["layers"][0]["mediaType"], MEDIA_TYPE_DOCKER_LAYER);
        assert_eq!(m["config"]["digest"], img.config.digest.to_string());
        assert_ne!(docker.digest, img.manifest().unwrap().digest);
    }

    #[test]
    fn assembling_twice_gives_the_same_digest() {
        assert_eq!(image().digest().unwrap(), image().digest().unwrap());
    }
}
