//! Image indexes: one manifest per platform, for multi-platform images.

use super::blob::Blob;
use super::config::canonical_json;
use super::{Image, MediaTypes};
use crate::platform::Platform;
use serde_json::json;
use std::io;
use std::sync::OnceLock;

pub(crate) const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const MEDIA_TYPE_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A multi-platform image: its images, and the index that lists their manifests.
#[derive(Clone, Debug)]
pub(crate) struct Index {
    pub(crate) images: Vec<Image>,
    /// The OCI index, exactly as hashed, once made.
    manifest: OnceLock<Blob>,
}

impl Index {
    /// Lists `images` (one per platform, in the order given) in an OCI index.
    pub(crate) fn assemble(images: Vec<Image>) -> Index {
        Index { images, manifest: OnceLock::new() }
    }

    /// The OCI index; made on first need, with every image's manifest.
    pub(crate) fn manifest(&self) -> io::Result<&Blob> {
        if let Some(manifest) = self.manifest.get() {
            return Ok(manifest);
        }
        let bytes = index_bytes(&self.images, MediaTypes::Oci)?;
        Ok(self.manifest.get_or_init(|| Blob::from_bytes(MEDIA_TYPE_OCI_INDEX, bytes)))
    }

    /// The image for `platform`, if the index has one.
    pub(crate) fn image_for(&self, platform: &Platform) -> Option<&Image> {
        self.images.iter().find(|i| &i.platform == platform)
    }

    /// The index in the given media types; the Docker form lists Docker manifests, which
    /// registries that refuse OCI types need (see `Image::manifest_as`).
    pub(crate) fn manifest_as(&self, types: MediaTypes) -> io::Result<Blob> {
        match types {
            MediaTypes::Oci => self.manifest().cloned(),
            MediaTypes::Docker => Ok(Blob::from_bytes(MEDIA_TYPE_DOCKER_LIST, index_bytes(&self.images, types)?)),
        }
    }
}

/// The JSON of a platform's entry in an index.
pub(crate) fn platform_json(p: &Platform) -> serde_json::Value {
    let mut platform = json!({"architecture": p.architecture, "os": p.os});
    if let Some(v) = &p.variant {
        platform["variant"] = json!(v);
    }
    platform
}

fn index_bytes(images: &[Image], types: MediaTypes) -> io::Result<Vec<u8>> {
    let media_type = match types {
        MediaTypes::Oci => MEDIA_TYPE_OCI_INDEX,
        MediaTypes::Docker => MEDIA_TYPE_DOCKER_LIST,
    };
    let manifests = images
        .iter()
        .map(|image| {
            let m = image.manifest_as(types)?;
            Ok(json!({
                "mediaType": m.media_type,
                "digest": m.digest.to_string(),
                "size": m.size,
                "platform": platform_json(&image.platform),
            }))
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(canonical_json(&json!({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::cache::LayerCache;
    use crate::image::config::RunConfig;
    use crate::image::layer::{Compressor, Contents, Entry};

    fn image(arch: &str, dir: &std::path::Path) -> Image {
        let cache = LayerCache::new(dir.to_path_buf());
        let contents = Contents::new(vec![Entry::bytes("/app", arch.as_bytes().to_vec(), 0o755)]);
        let layer = cache.layer(contents, Compressor::default(), "COPY".into()).unwrap();
        Image::assemble(Platform::linux(arch, None), &RunConfig::default(), vec![layer])
    }

    #[test]
    fn index_lists_each_platform_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::assemble(vec![image("amd64", dir.path()), image("arm64", dir.path())]);
        let v: serde_json::Value = serde_json::from_slice(index.manifest().unwrap().bytes().unwrap()).unwrap();
        assert_eq!(v["mediaType"], MEDIA_TYPE_OCI_INDEX);
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(v["manifests"][1]["platform"]["architecture"], "arm64");
        assert_eq!(v["manifests"][1]["digest"], index.images[1].digest().unwrap().to_string());
        let docker: serde_json::Value =
            serde_json::from_slice(index.manifest_as(MediaTypes::Docker).unwrap().bytes().unwrap()).unwrap();
        assert_eq!(docker["manifests"][0]["mediaType"], crate::image::MEDIA_TYPE_DOCKER_MANIFEST);
        assert!(index.image_for(&Platform::linux("arm64", None)).is_some());
        assert_eq!(Index::assemble(index.images.clone()).manifest().unwrap().digest, index.manifest().unwrap().digest);
    }
}
