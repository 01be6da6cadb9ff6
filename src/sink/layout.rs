//! OCI image layout directories: `oci-layout`, `index.json` and `blobs/sha256/*`.

use crate::fsutil;
use crate::image::blob::Blob;
use crate::image::config::canonical_json;
use crate::image::Image;
use serde_json::json;
use std::fs;
use std::io;
use std::path::Path;

pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Writes `image` as an OCI layout at `dir`, one index entry per reference name,
/// replacing an earlier layout there atomically.
pub fn write(dir: &Path, image: &Image, ref_names: &[String]) -> io::Result<()> {
    fsutil::write_dir_atomic(dir, is_replaceable, |staging| {
        fs::write(staging.join("oci-layout"), OCI_LAYOUT)?;
        fs::write(staging.join("index.json"), index_json(image, ref_names))?;
        let blobs = staging.join("blobs/sha256");
        fs::create_dir_all(&blobs)?;
        for blob in image.blobs().chain(std::iter::once(&image.manifest)) {
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

/// The layout's `index.json`: the manifest once per reference name, with its platform.
pub fn index_json(image: &Image, ref_names: &[String]) -> Vec<u8> {
    let p = &image.platform;
    let mut platform = json!({"architecture": p.architecture, "os": p.os});
    if let Some(v) = &p.variant {
        platform["variant"] = json!(v);
    }
    let manifests: Vec<_> = ref_names
        .iter()
        .map(|name| {
            json!({
                "mediaType": image.manifest.media_type,
                "digest": image.digest().to_string(),
                "size": image.manifest.size,
                "annotations": {REF_NAME: name},
                "platform": platform,
            })
        })
        .collect();
    canonical_json(&json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": manifests}))
}
