//! OCI image layout directories: `oci-layout`, `index.json` and `blobs/sha256/*`.

use crate::fsutil;
use crate::image::blob::Blob;
use crate::image::config::canonical_json;
use crate::image::index::{platform_json, MEDIA_TYPE_OCI_INDEX};
use crate::image::Artifact;
use serde_json::json;
use std::fs;
use std::io;
use std::path::Path;

pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Writes `artifact` as an OCI layout at `dir`, one `index.json` entry per reference name,
/// replacing an earlier layout there atomically.
pub(crate) fn write(dir: &Path, artifact: &Artifact, ref_names: &[String]) -> io::Result<()> {
    fsutil::write_dir_atomic(dir, is_replaceable, |staging| {
        fs::write(staging.join("oci-layout"), OCI_LAYOUT)?;
        fs::write(staging.join("index.json"), index_json(artifact, ref_names))?;
        let blobs = staging.join("blobs/sha256");
        fs::create_dir_all(&blobs)?;
        for blob in artifact.all_blobs() {
            write_blob(&blobs, blob)?;
        }
        Ok(())
    })
}

/// An existing directory may be replaced when it is empty or already an OCI layout.
fn is_replaceable(dir: &Path) -> bool {
    dir.join("oci-layout").is_file() || fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

fn write_blob(blobs: &Path, blob: &Blob) -> io::Result<()> {
    let dst = blobs.join(blob.digest.hex());
    match (blob.path(), blob.bytes()) {
        (Some(src), _) => fsutil::link_or_copy(src, &dst),
        (None, Some(bytes)) => fs::write(dst, bytes),
        (None, None) => unreachable!("a blob is in memory or in a file"),
    }
}

/// The layout's `index.json`: the top manifest once per reference name; an image's entry
/// carries its platform, an index's lists the platforms itself.
pub(crate) fn index_json(artifact: &Artifact, ref_names: &[String]) -> Vec<u8> {
    let top = artifact.manifest();
    let manifests: Vec<_> = ref_names
        .iter()
        .map(|name| {
            let mut entry = json!({
                "mediaType": top.media_type,
                "digest": top.digest.to_string(),
                "size": top.size,
                "annotations": {REF_NAME: name},
            });
            if let Artifact::Image(image) = artifact {
                entry["platform"] = platform_json(&image.platform);
            }
            entry
        })
        .collect();
    canonical_json(&json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": manifests}))
}
