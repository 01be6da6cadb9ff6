//! The layer cache: compressed layers on disk, keyed on their contents' digests and the
//! compression settings, so an unchanged binary is never compressed twice.

use super::blob::Blob;
use super::digest::Digest;
use super::layer::{Compressor, Contents, Layer, MEDIA_TYPE_GZIP};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A directory of `<key>/layer.tar.gz` + `<key>/layer.json`.
#[derive(Clone, Debug)]
pub struct LayerCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    diff_id: String,
    diff_size: u64,
    digest: String,
    size: u64,
}

impl LayerCache {
    pub fn new(dir: PathBuf) -> LayerCache {
        LayerCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the layer for `contents`, compressing only on a cache miss.
    pub fn layer(
        &self,
        contents: Contents,
        compressor: Compressor,
        created_by: String,
    ) -> io::Result<Layer> {
        let key = Digest::of(format!("{}\n{}", compressor.id(), contents.key()).as_bytes());
        let entry_dir = self.dir.join(key.hex());
        let blob_path = entry_dir.join("layer.tar.gz");
        if let Some((diff_id, diff_size, blob)) = read_entry(&entry_dir, &blob_path) {
            return Ok(Layer {
                contents,
                diff_id,
                diff_size,
                blob,
                created_by,
            });
        }
        fs::create_dir_all(&self.dir)?;
        let staging = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)?;
        let file = fs::File::create(staging.path().join("layer.tar.gz"))?;
        let (diff_id, diff_size, digest, size) = compressor.compress(&contents, file)?;
        let meta = Meta {
            diff_id: diff_id.to_string(),
            diff_size,
            digest: digest.to_string(),
            size,
        };
        fs::write(
            staging.path().join("layer.json"),
            serde_json::to_vec(&meta)?,
        )?;
        let staged = staging.keep();
        if fs::rename(&staged, &entry_dir).is_err() {
            // Another run filled this entry first; its bytes are the same.
            let _ = fs::remove_dir_all(&staged);
        }
        let blob = Blob::from_file(MEDIA_TYPE_GZIP, blob_path, digest, size);
        Ok(Layer {
            contents,
            diff_id,
            diff_size,
            blob,
            created_by,
        })
    }
}

/// Reads a complete cache entry; anything missing or inconsistent counts as a miss.
fn read_entry(entry_dir: &Path, blob_path: &Path) -> Option<(Digest, u64, Blob)> {
    let meta: Meta = serde_json::from_slice(&fs::read(entry_dir.join("layer.json")).ok()?).ok()?;
    let size = fs::metadata(blob_path).ok()?.len();
    if size != meta.size {
        return None;
    }
    let diff_id = Digest::parse(&meta.diff_id)?;
    let digest = Digest::parse(&meta.digest)?;
    Some((
        diff_id,
        meta.diff_size,
        Blob::from_file(MEDIA_TYPE_GZIP, blob_path.to_path_buf(), digest, size),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::Entry;

    #[test]
    fn second_lookup_reuses_the_compressed_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("c"));
        let contents = || Contents::new(vec![Entry::bytes("/x", vec![7; 4096], 0o755)]);
        let first = cache
            .layer(contents(), Compressor::default(), "a".into())
            .unwrap();
        let path = first.blob.path().unwrap().to_path_buf();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let second = cache
            .layer(contents(), Compressor::default(), "a".into())
            .unwrap();
        assert_eq!(first.blob.digest, second.blob.digest);
        assert_eq!(first.diff_id, second.diff_id);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        let other = cache
            .layer(contents(), Compressor { level: 1 }, "a".into())
            .unwrap();
        assert_ne!(other.blob.path(), first.blob.path());
    }
}
