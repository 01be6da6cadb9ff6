//! The user-level store of base-image blobs, shared by every project:
//! `$XDG_CACHE_HOME/cargo-containerize/blobs/sha256/<hex>` (else `~/.cache/...`). Content
//! addressed, so it never needs invalidating: an entry is trusted only while it matches
//! its digest (small documents are hashed on every read, layers through the memo of file
//! digests), and one that does not is fetched again.

pub(crate) mod verify;

use crate::digest::Digest;
use crate::fsutil::TempFile;
use crate::image::cache::FileDigests;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The most of a manifest or config that is read from the store.
const MAX_DOCUMENT: u64 = 4 << 20;

#[derive(Clone, Debug)]
pub(crate) struct Store {
    root: PathBuf,
}

impl Store {
    /// The store under `$XDG_CACHE_HOME`, else `$HOME/.cache`, else the temporary directory.
    pub(crate) fn user() -> Store {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let cache = var("XDG_CACHE_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        Store { root: cache.join("cargo-containerize") }
    }

    #[cfg(test)]
    pub(crate) fn at(root: PathBuf) -> Store {
        Store { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn blobs(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// Where the blob `digest` is, or will be, stored.
    pub(crate) fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs().join(digest.hex())
    }

    fn memo(&self) -> FileDigests {
        FileDigests::new(self.root.join("files"))
    }

    /// A small document (manifest, config), when stored and intact.
    pub(crate) fn document(&self, digest: &Digest) -> Option<Vec<u8>> {
        let bytes = crate::fsutil::read_regular(&self.path(digest), MAX_DOCUMENT).ok()?;
        (&Digest::of(&bytes) == digest).then_some(bytes)
    }

    /// Whether the blob is stored, whole and intact.
    pub(crate) fn has(&self, digest: &Digest, size: u64) -> bool {
        self.memo().digest(&self.path(digest)).is_ok_and(|(d, n)| &d == digest && n == size)
    }

    /// Stores a small document under its digest.
    pub(crate) fn put_document(&self, digest: &Digest, bytes: &[u8]) -> io::Result<()> {
        let mut tmp = self.temp()?;
        tmp.file_mut().write_all(bytes)?;
        self.persist(tmp, digest, bytes.len() as u64)
    }

    /// A temporary file in the store, to be filled and then `persist`ed.
    pub(crate) fn temp(&self) -> io::Result<TempFile> {
        std::fs::create_dir_all(self.blobs())?;
        TempFile::new_in(&self.blobs())
    }

    /// Moves a filled temporary file into place as `digest`, which the caller checked.
    pub(crate) fn persist(&self, tmp: TempFile, digest: &Digest, size: u64) -> io::Result<()> {
        tmp.file().sync_all()?;
        let path = self.path(digest);
        tmp.persist(&path)?;
        self.memo().record(&path, digest, size);
        Ok(())
    }

    /// Removes what killed runs left (temporary files).
    pub(crate) fn sweep(&self) {
        crate::fsutil::sweep(&self.blobs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_entry_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_path_buf());
        let doc = b"{\"schemaVersion\":2}".to_vec();
        let d = Digest::of(&doc);
        assert_eq!(store.document(&d), None);
        store.put_document(&d, &doc).unwrap();
        assert_eq!(store.document(&d), Some(doc.clone()));
        assert!(store.has(&d, doc.len() as u64));
        let mut bad = doc.clone();
        bad[3] ^= 1;
        std::fs::write(store.path(&d), &bad).unwrap();
        assert_eq!(store.document(&d), None);
        assert!(!store.has(&d, doc.len() as u64));
    }
}
