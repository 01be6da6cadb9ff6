//! Blobs: content-addressed bytes held in memory or in a file, with their descriptor.

use crate::digest::Digest;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a base image's blob comes from: the registry (`host[:port]` as written) and the
/// repository. Plain data: the image model knows no transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) registry: String,
    pub(crate) repository: String,
}

/// Where a blob's bytes live.
#[derive(Clone, Debug)]
enum Source {
    Bytes(Arc<[u8]>),
    File(PathBuf),
    /// A base image's blob, held by digest: in the user-level store at `path` once fetched,
    /// from `origin` (a registry repository) when it must be.
    Held {
        path: PathBuf,
        origin: Option<Arc<Origin>>,
    },
}

/// A content-addressed blob: config, layer or manifest.
#[derive(Clone, Debug)]
pub struct Blob {
    pub(crate) media_type: String,
    pub digest: Digest,
    pub(crate) size: u64,
    source: Source,
}

impl Blob {
    /// A blob held in memory; its digest is computed here, once.
    pub(crate) fn from_bytes(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            source: Source::Bytes(bytes.into()),
        }
    }

    /// A blob stored in a file whose digest and size are already known.
    pub(crate) fn from_file(media_type: &str, path: PathBuf, digest: Digest, size: u64) -> Blob {
        Blob { media_type: media_type.to_string(), digest, size, source: Source::File(path) }
    }

    /// A base image's blob held by digest (see `Source::Held`).
    pub(crate) fn held(
        media_type: &str,
        digest: Digest,
        size: u64,
        path: PathBuf,
        origin: Option<Arc<Origin>>,
    ) -> Blob {
        Blob { media_type: media_type.to_string(), digest, size, source: Source::Held { path, origin } }
    }

    /// Where a held blob is stored, and the repository it comes from: `None` for our blobs.
    pub(crate) fn held_at(&self) -> Option<(&std::path::Path, Option<&Origin>)> {
        match &self.source {
            Source::Held { path, origin } => Some((path, origin.as_deref())),
            _ => None,
        }
    }

    /// Opens the blob for reading from the start.
    pub(crate) fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match &self.source {
            Source::Bytes(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
            Source::File(p) | Source::Held { path: p, .. } => Ok(Box::new(crate::digest::open_regular(p)?)),
        }
    }

    /// Copies the blob into `out`: file to file in the kernel (`copy_file_range`, a reflink
    /// where the filesystem has them) when the blob lives in a file. Returns the bytes copied.
    pub(crate) fn copy_to(&self, out: &mut File) -> io::Result<u64> {
        match &self.source {
            Source::Bytes(b) => io::copy(&mut &b[..], out),
            Source::File(p) | Source::Held { path: p, .. } => io::copy(&mut crate::digest::open_regular(p)?, out),
        }
    }

    /// The bytes, when the blob is held in memory.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match &self.source {
            Source::Bytes(b) => Some(b),
            Source::File(_) | Source::Held { .. } => None,
        }
    }

    /// The backing file, when the blob lives on disk.
    #[cfg(test)]
    pub(crate) fn path(&self) -> Option<&std::path::Path> {
        match &self.source {
            Source::Bytes(_) => None,
            Source::File(p) | Source::Held { path: p, .. } => Some(p),
        }
    }
}

impl AsRef<Blob> for Blob {
    fn as_ref(&self) -> &Blob {
        self
    }
}
