//! Layers: a deterministic tar of sorted entries with fixed metadata, and its gzip blob.

use super::blob::Blob;
use super::cache::LayerCache;
use super::growing::Growth;
use crate::digest::{Digest, HashingWriter};
use std::io::Read as _;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The OCI media type of a gzip-compressed layer.
pub(crate) const MEDIA_TYPE_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The Docker media type of a gzip-compressed layer.
pub(crate) const MEDIA_TYPE_DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The OCI media types of an uncompressed and a zstd-compressed layer.
pub(crate) const MEDIA_TYPE_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const MEDIA_TYPE_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The Docker media type of an uncompressed layer, as a containerd-store engine's own
/// manifests name the layers of an image loaded from a docker-archive: held as
/// [`MEDIA_TYPE_TAR`], the same bytes.
pub(crate) const MEDIA_TYPE_DOCKER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Whether a layer of this media type can be held and passed on: gzip (OCI or Docker),
/// zstd or plain tar. Foreign and non-distributable layers cannot.
pub(crate) fn is_layer_type(media_type: &str) -> bool {
    matches!(media_type, MEDIA_TYPE_GZIP | MEDIA_TYPE_DOCKER_GZIP | MEDIA_TYPE_TAR | MEDIA_TYPE_ZSTD)
}

/// The media type a manifest of one family gives `blob`: a gzip layer takes the family's
/// gzip type (`gzip_type`); any other keeps its own.
pub(crate) fn media_type<'a>(blob: &'a super::blob::Blob, gzip_type: &'a str) -> &'a str {
    match blob.media_type.as_str() {
        MEDIA_TYPE_GZIP | MEDIA_TYPE_DOCKER_GZIP => gzip_type,
        other => other,
    }
}

/// Every entry's modification time: the epoch, so no build time leaks into a digest.
pub(crate) const MTIME: u64 = 0;

/// The bytes of a regular file in a layer.
#[derive(Clone, Debug)]
pub(crate) enum FileData {
    /// Read from this path when the tar is written.
    Path(PathBuf),
    /// Held in memory.
    Bytes(Arc<[u8]>),
}

/// What an entry is.
#[derive(Clone, Debug)]
pub(crate) enum EntryKind {
    Dir,
    File {
        data: FileData,
        digest: Digest,
        size: u64,
    },
    /// A symbolic link to `target`, stored as it is.
    Symlink {
        target: String,
    },
}

/// One entry of a layer: a path relative to `/`, with its owner and mode.
#[derive(Clone, Debug)]
pub struct Entry {
    pub(crate) path: String,
    pub(crate) kind: EntryKind,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
}

impl Entry {
    /// A regular file read from disk; hashed now so the layer can be keyed by content.
    pub fn file(path: &str, source: PathBuf, mode: u32) -> io::Result<Entry> {
        let (digest, size) = crate::digest::of_file(&source)?;
        Ok(Entry::with_data(path, FileData::Path(source), digest, size, mode))
    }

    /// A regular file read from disk whose digest and size are already known.
    pub(crate) fn file_with_digest(path: &str, source: PathBuf, mode: u32, digest: Digest, size: u64) -> Entry {
        Entry::with_data(path, FileData::Path(source), digest, size, mode)
    }

    /// A regular file held in memory.
    pub fn bytes(path: &str, bytes: Vec<u8>, mode: u32) -> Entry {
        let digest = Digest::of(&bytes);
        let size = bytes.len() as u64;
        Entry::with_data(path, FileData::Bytes(bytes.into()), digest, size, mode)
    }

    /// A directory.
    pub(crate) fn dir(path: &str, mode: u32) -> Entry {
        Entry { path: normalize(path), kind: EntryKind::Dir, mode, uid: 0, gid: 0 }
    }

    /// A symbolic link (mode 0777, as links have).
    pub(crate) fn symlink(path: &str, target: &str) -> Entry {
        Entry {
            path: normalize(path),
            kind: EntryKind::Symlink { target: target.to_string() },
            mode: 0o777,
            uid: 0,
            gid: 0,
        }
    }

    fn with_data(path: &str, data: FileData, digest: Digest, size: u64, mode: u32) -> Entry {
        let kind = EntryKind::File { data, digest, size };
        Entry { path: normalize(path), kind, mode, uid: 0, gid: 0 }
    }

    /// Sets the owner.
    pub(crate) fn owned_by(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

fn normalize(path: &str) -> String {
    path.trim_start_matches('/').trim_end_matches('/').to_string()
}

/// The entries of one layer, sorted by path so the tar bytes depend on nothing else.
#[derive(Clone, Debug)]
pub struct Contents {
    entries: Vec<Entry>,
}

impl Contents {
    pub fn new(mut entries: Vec<Entry>) -> Contents {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries.dedup_by(|a, b| a.path == b.path);
        Contents { entries }
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an entry has this path (`/etc/x` or `etc/x`).
    pub(crate) fn has(&self, path: &str) -> bool {
        let path = normalize(path);
        self.entries.iter().any(|e| e.path == path)
    }

    /// A stable description of every entry (path, kind, owner, mode, content digest):
    /// two `Contents` with the same key give the same tar bytes.
    pub(crate) fn key(&self) -> String {
        let mut key = String::new();
        for e in &self.entries {
            let what = match &e.kind {
                EntryKind::Dir => "dir".to_string(),
                EntryKind::File { digest, size, .. } => format!("file {digest} {size}"),
                EntryKind::Symlink { target } => format!("link {}", target.escape_debug()),
            };
            key.push_str(&format!("{} {} {}:{} {:o}\n", e.path, what, e.uid, e.gid, e.mode));
        }
        key
    }

    /// Writes the uncompressed tar: sorted entries, mtime 0, no user or group names.
    pub(crate) fn write_tar<W: Write>(&self, w: W) -> io::Result<W> {
        let mut builder = tar::Builder::new(w);
        builder.mode(tar::HeaderMode::Deterministic);
        for e in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(MTIME);
            header.set_uid(e.uid);
            header.set_gid(e.gid);
            header.set_mode(e.mode);
            match &e.kind {
                EntryKind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    builder.append_data(&mut header, format!("{}/", e.path), io::empty())?;
                }
                EntryKind::File { data, size, digest } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(*size);
                    match data {
                        // What goes into the tar is hashed on the way: it must be what the
                        // layer is keyed by, or the layer would be cached under a lie.
                        FileData::Path(p) => {
                            let changed = |now: &str| {
                                io::Error::other(format!(
                                    "{} changed while the image was being assembled ({now}); run again",
                                    p.display()
                                ))
                            };
                            let file = crate::digest::open_regular(p)?;
                            let got = file.metadata()?.len();
                            if got != *size {
                                return Err(changed(&format!("{size} bytes hashed, {got} now")));
                            }
                            let mut reader = crate::digest::HashingReader::new(file.take(*size));
                            builder.append_data(&mut header, &e.path, &mut reader)?;
                            if reader.finish() != (digest.clone(), *size) {
                                return Err(changed("its content differs from what was hashed"));
                            }
                        }
                        FileData::Bytes(b) => builder.append_data(&mut header, &e.path, &b[..])?,
                    }
                }
                EntryKind::Symlink { target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, &e.path, target)?;
                }
            }
        }
        builder.into_inner()
    }
}

/// How layers are compressed; part of the layer cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compressor {
    pub level: u32,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor { level: 6 }
    }
}

impl Compressor {
    /// Names the algorithm, backend, level and chunking, so a change of any of them changes
    /// the cache key.
    pub(crate) fn id(&self) -> String {
        format!("gzip/zlib-rs/{}/chunks-{}", self.level, super::gzip::CHUNK)
    }

    /// Writes `contents` as a gzip tar into `out`, flushed; returns `out`, the diff_id and size
    /// of the tar, and the digest and size of the gzip. The tar is produced on one thread and
    /// compressed on every core (`gzip::compress`); the gzip header carries no time and no
    /// file name.
    pub fn compress<W: Write>(&self, contents: &Contents, out: W) -> io::Result<(W, Digest, u64, Digest, u64)> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (reader, writer) = io::pipe()?;
        std::thread::scope(|scope| {
            let producer = scope.spawn(move || -> io::Result<(Digest, u64)> {
                let tar = contents.write_tar(HashingWriter::new(BufWriter::with_capacity(1 << 20, writer)))?;
                let (buf, diff_id, diff_size) = tar.finish();
                buf.into_inner().map_err(|e| e.into_error())?;
                Ok((diff_id, diff_size))
            });
            let compressed = HashingWriter::new(BufWriter::with_capacity(1 << 20, out));
            let result = super::gzip::compress(reader, compressed, self.level, threads);
            let produced = producer.join().map_err(|_| io::Error::other("the tar writer panicked"))?;
            // A compression error explains a broken pipe on the tar side, so it goes first.
            let (compressed, digest, size) = result?.finish();
            let (diff_id, diff_size) = produced?;
            let out = compressed.into_inner().map_err(|e| e.into_error())?;
            Ok((out, diff_id, diff_size, digest, size))
        })
    }
}

/// What a layer's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// Entries we write: the tar (of `diff_size` bytes) is produced on demand, and
    /// compressed through the layer cache on first need, once for every clone of the layer.
    Ours {
        contents: Contents,
        diff_size: u64,
        cache: LayerCache,
        compressor: Compressor,
        compressed: Arc<OnceLock<Blob>>,
    },
    /// A compressed blob held by digest (a base image's), never unpacked by us.
    Held(Blob),
}

/// One layer of an image: ours, or a blob held by digest. Its diff_id is known up front;
/// the compressed blob of ours is made when a sink first needs it ([`Layer::blob`]), so a
/// run whose sinks take uncompressed layers (a Docker engine) never compresses.
#[derive(Clone, Debug)]
pub struct Layer {
    pub(crate) source: Source,
    pub(crate) diff_id: Digest,
    /// The `history` line for this layer, like a Dockerfile step.
    pub(crate) created_by: String,
}

impl Layer {
    /// A layer of ours whose tar has `diff_id` and `diff_size`; `compressed` if its blob is
    /// made already.
    pub(crate) fn ours(
        contents: Contents,
        diff_id: Digest,
        diff_size: u64,
        created_by: String,
        cache: &LayerCache,
        compressor: Compressor,
        compressed: Option<Blob>,
    ) -> Layer {
        let once = OnceLock::new();
        if let Some(blob) = compressed {
            let _ = once.set(blob);
        }
        let source = Source::Ours { contents, diff_size, cache: cache.clone(), compressor, compressed: Arc::new(once) };
        Layer { source, diff_id, created_by }
    }

    /// A compressed blob held by digest, with the diff_id its image's config gives.
    pub(crate) fn held(blob: Blob, diff_id: Digest, created_by: String) -> Layer {
        Layer { source: Source::Held(blob), diff_id, created_by }
    }

    /// The size of our layer's tar (`None` for a held one).
    pub(crate) fn tar_size(&self) -> Option<u64> {
        match &self.source {
            Source::Ours { diff_size, .. } => Some(*diff_size),
            Source::Held(_) => None,
        }
    }

    /// The compressed size of a held layer (`None` for ours, which may not be compressed).
    pub(crate) fn held_size(&self) -> Option<u64> {
        match &self.source {
            Source::Held(blob) => Some(blob.size),
            Source::Ours { .. } => None,
        }
    }

    /// The compressed blob: a held one as it is; ours from the layer cache, compressed on
    /// the first call.
    pub(crate) fn blob(&self) -> io::Result<&Blob> {
        self.compress(None)
    }

    /// As [`Layer::blob`]; when the layer is compressed now, `growth` (if any) is offered the
    /// file as it is written, so it can be uploaded meanwhile.
    pub(crate) fn compress(&self, growth: Option<&Growth>) -> io::Result<&Blob> {
        match &self.source {
            Source::Held(blob) => Ok(blob),
            Source::Ours { contents, cache, compressor, compressed, .. } => {
                if let Some(blob) = compressed.get() {
                    return Ok(blob);
                }
                let (diff_id, _, blob) = cache.compressed(contents, *compressor, growth)?;
                if diff_id != self.diff_id {
                    return Err(io::Error::other(format!(
                        "a layer changed while the image was being assembled (its tar was {}, now {diff_id}); run again",
                        self.diff_id
                    )));
                }
                Ok(compressed.get_or_init(|| blob))
            }
        }
    }

    /// The blob of a layer held by digest (a base's); `None` for ours.
    pub(crate) fn held_blob(&self) -> Option<&Blob> {
        match &self.source {
            Source::Held(blob) => Some(blob),
            Source::Ours { .. } => None,
        }
    }

    /// Whether the layer's compressed blob exists: held, or ours compressed already.
    #[cfg(test)]
    pub(crate) fn is_compressed(&self) -> bool {
        match &self.source {
            Source::Held(_) => true,
            Source::Ours { compressed, .. } => compressed.get().is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn sample() -> Contents {
        Contents::new(vec![
            Entry::bytes("/b", b"bee".to_vec(), 0o755),
            Entry::dir("/a", 0o755),
            Entry::bytes("/a/x", b"x".to_vec(), 0o644).owned_by(65532, 65532),
        ])
    }

    #[test]
    fn tar_is_sorted_with_fixed_metadata() {
        let tar = sample().write_tar(Vec::new()).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!(h.username().unwrap(), Some(""));
            seen.push((entry.path().unwrap().display().to_string(), h.mode().unwrap(), h.uid().unwrap()));
        }
        assert_eq!(seen, vec![("a/".into(), 0o755, 0), ("a/x".into(), 0o644, 65532), ("b".into(), 0o755, 0)]);
    }

    #[test]
    fn same_contents_give_identical_bytes_and_digests() {
        let dir = tempfile::tempdir().unwrap();
        let c = Compressor::default();
        let (_, a0, a1, a2, a3) = c.compress(&sample(), File::create(dir.path().join("a")).unwrap()).unwrap();
        let (_, b0, b1, b2, b3) = c.compress(&sample(), File::create(dir.path().join("b")).unwrap()).unwrap();
        let (a, b) = ((a0, a1, a2, a3), (b0, b1, b2, b3));
        assert_eq!(a, b);
        let bytes = std::fs::read(dir.path().join("a")).unwrap();
        assert_eq!(bytes, std::fs::read(dir.path().join("b")).unwrap());
        // gzip header: magic, deflate, no flags (so no name), mtime zero.
        assert_eq!(&bytes[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
        let tar = sample().write_tar(Vec::new()).unwrap();
        assert_eq!((a.0, a.1), (Digest::of(&tar), tar.len() as u64));
        assert_eq!((a.2, a.3), (Digest::of(&bytes), bytes.len() as u64));
    }

    #[test]
    fn key_changes_with_mode_or_content_or_owner_or_link_target() {
        let one = |e: Entry| Contents::new(vec![e]).key();
        let base = one(Entry::bytes("/b", b"bee".to_vec(), 0o755));
        assert_eq!(base, one(Entry::bytes("/b", b"bee".to_vec(), 0o755)));
        // Each differs from the base in exactly one thing.
        assert_ne!(base, one(Entry::bytes("/b", b"bee".to_vec(), 0o700)), "mode");
        assert_ne!(base, one(Entry::bytes("/b", b"bex".to_vec(), 0o755)), "content of the same size");
        assert_ne!(base, one(Entry::bytes("/b", b"bee".to_vec(), 0o755).owned_by(1, 1)), "owner");
        assert_ne!(one(Entry::symlink("/l", "a")), one(Entry::symlink("/l", "b")), "link target");
    }

    #[test]
    fn a_file_changed_after_it_was_hashed_fails_the_tar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "AAAA").unwrap();
        let contents = Contents::new(vec![Entry::file("/a.txt", path.clone(), 0o644).unwrap()]);
        std::fs::write(&path, "BBBB").unwrap();
        let err = contents.write_tar(Vec::new()).unwrap_err().to_string();
        assert!(err.contains("changed while the image was being assembled"), "{err}");
        // Swapped for a link to elsewhere: refused, not followed.
        std::fs::write(dir.path().join("secret"), "AAAA").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), &path).unwrap();
        let err = contents.write_tar(Vec::new()).unwrap_err().to_string();
        assert!(err.contains("is a symlink"), "{err}");
    }

    #[test]
    fn symlinks_are_stored_as_links() {
        let tar = Contents::new(vec![Entry::symlink("/srv/current", "v1")]).write_tar(Vec::new()).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(entry.link_name().unwrap().unwrap().to_str(), Some("v1"));
    }
}
