//! The layer cache: layer digests and compressed layers on disk, keyed on their contents'
//! digests and the compression settings, so an unchanged binary is never hashed as a tar
//! or compressed twice. Files are memoised by their metadata, so it is not re-read either.
//!
//! A hit is trusted only while the compressed file is the one written (same inode, size and
//! times); otherwise it is hashed again, and a file that no longer matches its digest is a
//! miss. Outputs never share the cache's inodes (layouts copy), so nothing done to an
//! output can reach the cache.

use super::blob::Blob;
use super::growing::Growth;
use super::layer::{Compressor, Contents, Layer, MEDIA_TYPE_GZIP};
use crate::digest::{self, Digest, HashingWriter};
use crate::fsutil::TempFile;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A directory of `<key>.json` (digests) and `<key>.tar.gz` (the compressed layer).
#[derive(Clone, Debug)]
pub struct LayerCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize, Default)]
struct Meta {
    diff_id: String,
    diff_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

impl LayerCache {
    pub fn new(dir: PathBuf) -> LayerCache {
        LayerCache { dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn key(contents: &Contents, compressor: Compressor) -> String {
        Digest::of(format!("{}\n{}", compressor.id(), contents.key()).as_bytes()).hex().to_string()
    }

    fn read_meta(&self, key: &str) -> Option<Meta> {
        serde_json::from_slice(&crate::fsutil::read_regular(&self.dir.join(format!("{key}.json")), 64 << 10).ok()?).ok()
    }

    fn write_meta(&self, key: &str, meta: &Meta) -> io::Result<()> {
        let bytes = serde_json::to_vec(meta)?;
        crate::fsutil::write_file_atomic(&self.dir.join(format!("{key}.json")), |w| w.write_all(&bytes))
    }

    /// The uncompressed layer (diff_id and size) for `contents`, hashing the tar on a miss
    /// but never compressing it: all a Docker engine needs.
    pub(crate) fn diff(&self, contents: Contents, compressor: Compressor, created_by: String) -> io::Result<Layer> {
        let key = Self::key(&contents, compressor);
        if let Some(meta) = self.read_meta(&key) {
            if let Some(diff_id) = Digest::parse(&meta.diff_id) {
                return Ok(Layer::ours(contents, diff_id, meta.diff_size, created_by, self, compressor, None));
            }
        }
        let (_, diff_id, diff_size) = contents.write_tar(HashingWriter::new(io::sink()))?.finish();
        let meta = Meta { diff_id: diff_id.to_string(), diff_size, ..Meta::default() };
        self.write_meta(&key, &meta)?;
        Ok(Layer::ours(contents, diff_id, diff_size, created_by, self, compressor, None))
    }

    /// Whether the compressed layer for `contents` is already here, and intact.
    pub(crate) fn has_layer(&self, contents: &Contents, compressor: Compressor) -> bool {
        let key = Self::key(contents, compressor);
        self.hit(&key).is_some()
    }

    /// The cached compressed layer for `key`, verified: its file must be the one the memo of
    /// file digests knows, or hash to the recorded digest. A file that does not is a miss,
    /// and compressing the layer again replaces it.
    fn hit(&self, key: &str) -> Option<(Digest, u64, Blob)> {
        let blob_path = self.dir.join(format!("{key}.tar.gz"));
        let meta = self.read_meta(key)?;
        let (size, digest) = (meta.size?, Digest::parse(meta.digest.as_deref()?)?);
        if self.files().digest(&blob_path).ok()? != (digest.clone(), size) {
            return None;
        }
        let diff_id = Digest::parse(&meta.diff_id)?;
        Some((diff_id, meta.diff_size, Blob::from_file(MEDIA_TYPE_GZIP, blob_path, digest, size)))
    }

    /// Removes what killed runs left here (temporary layer files).
    pub(crate) fn sweep(&self) {
        crate::fsutil::sweep(&self.dir);
        crate::fsutil::sweep(&self.dir.join("files"));
    }

    /// The compressed layer for `contents`, compressing only on a miss.
    pub fn layer(&self, contents: Contents, compressor: Compressor, created_by: String) -> io::Result<Layer> {
        self.layer_growing(contents, compressor, created_by, None)
    }

    /// As [`LayerCache::layer`]; on a miss, `growth` (if any) is offered the file and told
    /// how far it is written, so it can be uploaded while it is compressed.
    pub(crate) fn layer_growing(
        &self,
        contents: Contents,
        compressor: Compressor,
        created_by: String,
        growth: Option<&Growth>,
    ) -> io::Result<Layer> {
        let (diff_id, diff_size, blob) = self.compressed(&contents, compressor, growth)?;
        Ok(Layer::ours(contents, diff_id, diff_size, created_by, self, compressor, Some(blob)))
    }

    /// The compressed layer of `contents` (diff_id, tar size, blob), compressing only on a
    /// miss; on a miss, `growth` (if any) is offered the file as it is written.
    pub(crate) fn compressed(
        &self,
        contents: &Contents,
        compressor: Compressor,
        growth: Option<&Growth>,
    ) -> io::Result<(Digest, u64, Blob)> {
        let key = Self::key(contents, compressor);
        let blob_path = self.dir.join(format!("{key}.tar.gz"));
        if let Some(hit) = self.hit(&key) {
            return Ok(hit);
        }
        fs::create_dir_all(&self.dir)?;
        let tmp = TempFile::new_in(&self.dir)?;
        let file = tmp.reopen()?;
        let (diff_id, diff_size, digest, size) = match growth {
            Some(growth) => {
                growth.start(tmp.reopen()?);
                let (out, diff_id, diff_size, digest, size) = compressor.compress(contents, growth.writer(file))?;
                out.finish().sync_all()?;
                (diff_id, diff_size, digest, size)
            }
            None => {
                let (file, diff_id, diff_size, digest, size) = compressor.compress(contents, file)?;
                file.sync_all()?;
                (diff_id, diff_size, digest, size)
            }
        };
        tmp.persist(&blob_path)?;
        self.files().record(&blob_path, &digest, size);
        let meta = Meta { diff_id: diff_id.to_string(), diff_size, digest: Some(digest.to_string()), size: Some(size) };
        self.write_meta(&key, &meta)?;
        Ok((diff_id, diff_size, Blob::from_file(MEDIA_TYPE_GZIP, blob_path, digest, size)))
    }

    /// The digest and size of a file, re-hashed only when its metadata changed.
    pub(crate) fn file_digest(&self, path: &Path) -> io::Result<(Digest, u64)> {
        self.files().digest(path)
    }

    /// The memo of file digests this cache keeps.
    pub(crate) fn files(&self) -> FileDigests {
        FileDigests { dir: self.dir.join("files") }
    }
}

/// File digests memoised by path, with the file's identity (device, inode, size and times):
/// a file is hashed again only once it changed. For the built binary, and for the blobs a
/// layout already holds, which are then checked against their names at no cost. One memo
/// per path, so the memo does not grow with every version of a file.
#[derive(Clone, Debug)]
pub(crate) struct FileDigests {
    dir: PathBuf,
}

impl FileDigests {
    /// A memo kept in `dir`.
    pub(crate) fn new(dir: PathBuf) -> FileDigests {
        FileDigests { dir }
    }

    /// The digest and size of `path`, from the memo while the file is the one recorded.
    pub(crate) fn digest(&self, path: &Path) -> io::Result<(Digest, u64)> {
        let mut file = digest::open_regular(path)?;
        let id = identity(&file.metadata()?);
        let Some(memo) = self.memo(path) else { return digest::of_open(&mut file) };
        if let Some(hit) = self.read(&memo, &id) {
            return Ok(hit);
        }
        let (digest, size) = digest::of_open(&mut file)?;
        // Only a file that did not change while it was hashed may be remembered.
        if file.metadata().is_ok_and(|m| identity(&m) == id) {
            self.write(&memo, &id, &digest, size);
        }
        Ok((digest, size))
    }

    /// Records the digest of a file just written from bytes of known digest.
    pub(crate) fn record(&self, path: &Path, digest: &Digest, size: u64) {
        let (Some(memo), Ok(meta)) = (self.memo(path), fs::metadata(path)) else { return };
        let id = identity(&meta);
        if self.read(&memo, &id).is_none_or(|(d, n)| &d != digest || n != size) {
            self.write(&memo, &id, digest, size);
        }
    }

    /// The memo of a path: named by the digest of its canonical form.
    fn memo(&self, path: &Path) -> Option<PathBuf> {
        let path = fs::canonicalize(path).ok()?;
        Some(self.dir.join(Digest::of(path.as_os_str().as_encoded_bytes()).hex()))
    }

    /// The memo's digest and size, when it holds this identity.
    fn read(&self, memo: &Path, id: &str) -> Option<(Digest, u64)> {
        let text = String::from_utf8(crate::fsutil::read_regular(memo, 4 << 10).ok()?).ok()?;
        let (stored, rest) = text.split_once('\n')?;
        (stored == id).then(|| parse_memo(rest)).flatten()
    }

    /// Best effort: a memo that cannot be written only costs a hash next time.
    fn write(&self, memo: &Path, id: &str, digest: &Digest, size: u64) {
        let text = format!("{id}\n{digest} {size}\n");
        let _ = crate::fsutil::write_file_atomic(memo, |w| w.write_all(text.as_bytes()));
    }
}

/// What identifies a file's version without reading it: device, inode, size, and
/// modification and change times in nanoseconds.
fn identity(m: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{} {} {} {}.{} {}.{}", m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec())
}

fn parse_memo(text: &str) -> Option<(Digest, u64)> {
    let (digest, size) = text.trim().split_once(' ')?;
    Some((Digest::parse(digest)?, size.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::Entry;

    fn contents() -> Contents {
        Contents::new(vec![Entry::bytes("/x", vec![7; 4096], 0o755)])
    }

    #[test]
    fn second_lookup_reuses_the_compressed_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("c"));
        let first = cache.layer(contents(), Compressor::default(), "a".into()).unwrap();
        let path = first.blob().unwrap().path().unwrap().to_path_buf();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let second = cache.layer(contents(), Compressor::default(), "a".into()).unwrap();
        assert_eq!(first.blob().unwrap().digest, second.blob().unwrap().digest);
        assert_eq!(first.diff_id, second.diff_id);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        let other = cache.layer(contents(), Compressor { level: 1 }, "a".into()).unwrap();
        assert_ne!(other.blob().unwrap().path(), first.blob().unwrap().path());
    }

    #[test]
    fn diff_alone_never_compresses_and_agrees_with_the_full_layer() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("c"));
        let diff = cache.diff(contents(), Compressor::default(), "a".into()).unwrap();
        let gz_files = || {
            fs::read_dir(cache.dir())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "gz"))
                .count()
        };
        assert_eq!(gz_files(), 0);
        let layer = cache.layer(contents(), Compressor::default(), "a".into()).unwrap();
        assert_eq!(gz_files(), 1);
        let size = |l: &Layer| match &l.source {
            crate::image::layer::Source::Ours { diff_size, .. } => *diff_size,
            crate::image::layer::Source::Held(_) => unreachable!(),
        };
        assert_eq!((&diff.diff_id, size(&diff)), (&layer.diff_id, size(&layer)));
        assert!(!diff.is_compressed());
        // Asked for its blob, the lazy layer compresses once, to the same blob.
        assert_eq!(diff.blob().unwrap().digest, layer.blob().unwrap().digest);
        assert!(diff.is_compressed());
    }

    #[test]
    fn a_corrupted_cache_entry_is_detected_and_compressed_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("c"));
        let first = cache.layer(contents(), Compressor::default(), "a".into()).unwrap();
        let path = first.blob().unwrap().path().unwrap().to_path_buf();
        let good = fs::read(&path).unwrap();
        // An in-place edit of the same size: the size alone would not tell.
        let mut bad = good.clone();
        bad[20] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        // As time passes between the write and the edit (the clock's tick is coarse).
        let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options().write(true).open(&path).unwrap().set_modified(earlier).unwrap();
        assert!(!cache.has_layer(&contents(), Compressor::default()));
        let again = cache.layer(contents(), Compressor::default(), "a".into()).unwrap();
        assert_eq!(again.blob().unwrap().digest, first.blob().unwrap().digest);
        assert_eq!(fs::read(&path).unwrap(), good);
        assert_eq!(Digest::of(&fs::read(&path).unwrap()), first.blob().unwrap().digest);
    }

    #[test]
    fn a_cache_entry_swapped_for_a_symlink_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("c"));
        let first = cache.layer(contents(), Compressor::default(), "a".into()).unwrap();
        let path = first.blob().unwrap().path().unwrap().to_path_buf();
        let secret = dir.path().join("secret");
        fs::copy(&path, &secret).unwrap();
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&secret, &path).unwrap();
        // Even with the memo made to vouch for the other file's identity, a link is not followed.
        cache.files().record(&path, &first.blob().unwrap().digest, first.blob().unwrap().size);
        assert!(!cache.has_layer(&contents(), Compressor::default()));
    }

    #[test]
    fn file_digests_are_remembered_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("c"));
        let file = dir.path().join("bin");
        fs::write(&file, b"one").unwrap();
        assert_eq!(cache.file_digest(&file).unwrap(), (Digest::of(b"one"), 3));
        assert_eq!(cache.file_digest(&file).unwrap(), (Digest::of(b"one"), 3));
        fs::write(&file, b"two").unwrap();
        assert_eq!(cache.file_digest(&file).unwrap(), (Digest::of(b"two"), 3));
    }
}
