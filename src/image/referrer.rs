//! Referrers: documents about an image (an SBOM, provenance), each an OCI 1.1 artifact
//! manifest whose `subject` is the image's manifest (or index), so registries list them
//! with `GET /v2/<repo>/referrers/<digest>` and the image's own digest never changes.

use super::blob::Blob;
use super::config::canonical_json;
use super::MEDIA_TYPE_OCI_MANIFEST;
use crate::digest::Digest;
use serde_json::{json, Value};

/// The empty config every artifact manifest points at, and its bytes.
pub(crate) const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub(crate) const EMPTY: &[u8] = b"{}";

pub(crate) const ARTIFACT_SPDX: &str = "application/spdx+json";
pub(crate) const ARTIFACT_CYCLONEDX: &str = "application/vnd.cyclonedx+json";
pub(crate) const ARTIFACT_IN_TOTO: &str = "application/vnd.in-toto+json";

use super::annotation::CREATED;

/// One document attached to an image.
#[derive(Clone, Debug)]
pub(crate) struct Referrer {
    pub(crate) artifact_type: String,
    /// The empty config.
    pub(crate) config: Blob,
    /// The document itself, the manifest's one layer.
    pub(crate) document: Blob,
    /// The manifest, exactly as hashed.
    pub(crate) manifest: Blob,
    /// The digest of the manifest (or index) it describes.
    pub(crate) subject: Digest,
    /// When it was made (RFC 3339): the image's time.
    created: String,
}

impl Referrer {
    /// An artifact manifest for `document` (of `artifact_type`) about `subject` (an image
    /// manifest or index), made at `created` (RFC 3339, the image's own time).
    pub(crate) fn new(artifact_type: &str, document: Vec<u8>, subject: &Blob, created: &str) -> Referrer {
        let config = Blob::from_bytes(MEDIA_TYPE_EMPTY, EMPTY.to_vec());
        let document = Blob::from_bytes(artifact_type, document);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": MEDIA_TYPE_EMPTY, "digest": config.digest.to_string(), "size": config.size},
            "layers": [{"mediaType": artifact_type, "digest": document.digest.to_string(), "size": document.size}],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest.to_string(), "size": subject.size},
            "annotations": {CREATED: created},
        });
        let manifest = Blob::from_bytes(MEDIA_TYPE_OCI_MANIFEST, canonical_json(&manifest));
        Referrer {
            artifact_type: artifact_type.to_string(),
            config,
            document,
            manifest,
            subject: subject.digest.clone(),
            created: created.to_string(),
        }
    }

    /// The descriptor a referrers list (an index) gives it.
    pub(crate) fn descriptor(&self) -> Value {
        json!({
            "mediaType": MEDIA_TYPE_OCI_MANIFEST,
            "digest": self.manifest.digest.to_string(),
            "size": self.manifest.size,
            "artifactType": self.artifact_type,
            "annotations": {CREATED: self.created},
        })
    }

    /// The blobs before the manifest: the empty config and the document.
    pub(crate) fn blobs(&self) -> [&Blob; 2] {
        [&self.config, &self.document]
    }
}

/// The tag the referrers tag schema keeps a subject's referrers under: `sha256-<hex>`.
pub(crate) fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_manifest_points_at_its_subject_with_the_empty_config() {
        let subject = Blob::from_bytes(MEDIA_TYPE_OCI_MANIFEST, b"{\"schemaVersion\":2}".to_vec());
        let r =
            Referrer::new(ARTIFACT_SPDX, b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec(), &subject, "2024-01-01T00:00:00Z");
        let m: Value = serde_json::from_slice(r.manifest.bytes().unwrap()).unwrap();
        assert_eq!(m["artifactType"], ARTIFACT_SPDX);
        assert_eq!(m["config"]["mediaType"], MEDIA_TYPE_EMPTY);
        assert_eq!(m["config"]["digest"], Digest::of(b"{}").to_string());
        assert_eq!(m["subject"]["digest"], subject.digest.to_string());
        assert_eq!(m["layers"][0]["digest"], r.document.digest.to_string());
        assert_eq!(r.descriptor()["annotations"][CREATED], "2024-01-01T00:00:00Z");
        let again =
            Referrer::new(ARTIFACT_SPDX, b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec(), &subject, "2024-01-01T00:00:00Z");
        assert_eq!(again.manifest.digest, r.manifest.digest, "deterministic");
        assert_eq!(fallback_tag(&subject.digest), format!("sha256-{}", subject.digest.hex()));
    }
}
