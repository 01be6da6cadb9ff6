//! Whether a base's layers are what its manifest and config claim: each layer blob's
//! compression against its media type (gzip, zstd, or a plain tar), and its diff_id (the
//! digest of the uncompressed tar) against the config's. A blob's facts are learnt once,
//! when it enters the user-level store, and remembered by its digest (the store is content
//! addressed), so a later run reads nothing again; every claim is then checked against them.
//!
//! The claims come from the bases resolved in this run (`claim`); a blob that enters the
//! store with no claim (a config) is not read.

use crate::digest::{Digest, HashingWriter};
use crate::image::layer::{MEDIA_TYPE_DOCKER_GZIP, MEDIA_TYPE_GZIP, MEDIA_TYPE_TAR, MEDIA_TYPE_ZSTD};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;

/// The most a layer may expand to when it is read (to check it, or for the fit check): a
/// gzip bomb in a base fails the check instead of keeping the run busy for hours.
const MAX_UNPACKED: u64 = 32 << 30;

/// A reader that fails, saying why, once it has given `left` bytes.
pub(crate) struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R> Capped<R> {
    /// `inner`, failing past [`MAX_UNPACKED`] bytes.
    pub(crate) fn new(inner: R) -> Capped<R> {
        Capped { inner, left: MAX_UNPACKED }
    }

    /// `inner`, failing past `left` bytes.
    #[cfg(test)]
    pub(crate) fn with_limit(inner: R, left: u64) -> Capped<R> {
        Capped { inner, left }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other(format!("it expands to more than {} GiB", MAX_UNPACKED >> 30)));
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// What a layer blob's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    Gzip,
    Zstd,
    Tar,
    Other,
}

impl Format {
    /// The format a layer media type promises.
    pub(crate) fn of_media_type(media_type: &str) -> Format {
        match media_type {
            MEDIA_TYPE_GZIP | MEDIA_TYPE_DOCKER_GZIP => Format::Gzip,
            MEDIA_TYPE_ZSTD => Format::Zstd,
            MEDIA_TYPE_TAR => Format::Tar,
            _ => Format::Other,
        }
    }

    /// The format the first bytes of a blob show: the gzip or zstd magic number, or a tar
    /// header whose checksum holds (or the zero block that ends an empty tar).
    fn sniff(head: &[u8]) -> Format {
        if head.starts_with(&[0x1f, 0x8b]) {
            Format::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Format::Zstd
        } else if head.len() >= 512 && is_tar_header(&head[..512]) {
            Format::Tar
        } else {
            Format::Other
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Tar => "a plain tar (not compressed)",
            Format::Other => "neither gzip, zstd nor a tar",
        }
    }
}

/// Whether a 512-byte block is a tar header (its checksum holds) or all zeros.
fn is_tar_header(block: &[u8]) -> bool {
    if block.iter().all(|b| *b == 0) {
        return true;
    }
    let field = &block[148..156];
    let text: String = field.iter().take_while(|b| **b != 0).map(|b| *b as char).collect();
    let Ok(stored) = u32::from_str_radix(text.trim(), 8) else { return false };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| if (148..156).contains(&i) { u32::from(b' ') } else { u32::from(*b) })
        .sum();
    sum == stored
}

/// What a layer blob is, learnt from its bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Facts {
    pub(crate) format: Format,
    /// The digest of the uncompressed tar; `None` for zstd (not decompressed here) and for
    /// bytes that are no layer.
    pub(crate) diff_id: Option<String>,
}

/// What a base says about one of its layers.
#[derive(Clone, Debug)]
pub(crate) struct Claim {
    /// The base, as shown.
    pub(crate) base: String,
    pub(crate) media_type: String,
    pub(crate) diff_id: Digest,
}

/// How far a claim was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Compression and diff_id.
    Whole,
    /// The compression only: a zstd layer is not decompressed here.
    CompressionOnly,
}

/// A layer that is not what its base claims, or that cannot be read from the store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fault {
    #[error("the base image {base} is broken: its layer {digest} ({media_type}) {problem}")]
    Broken { base: String, digest: Digest, media_type: String, problem: String },
    #[error("cannot read base layer {digest} from the cache at {}: {source}", path.display())]
    Read { digest: Digest, path: PathBuf, source: io::Error },
}

impl Fault {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Fault::Broken { .. } => Some(
                "the base is broken: rebuild it (with a tool that records each layer's real media type and \
                 diff_id), or choose another base"
                    .into(),
            ),
            Fault::Read { .. } => Some("set XDG_CACHE_HOME to a directory you can read and write".into()),
        }
    }
}

/// The claims of the bases resolved in this run, by blob digest.
static CLAIMS: Mutex<Option<HashMap<Digest, Vec<Claim>>>> = Mutex::new(None);

/// Records what a base resolved in this run says about the layer blob `digest`: the blob
/// is checked against it when it enters the store (see [`check_claims`]).
pub(crate) fn claim(digest: &Digest, claim: Claim) {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    let list = claims.get_or_insert_with(HashMap::new).entry(digest.clone()).or_default();
    if !list.iter().any(|c| c.base == claim.base && c.media_type == claim.media_type && c.diff_id == claim.diff_id) {
        list.push(claim);
    }
}

fn claims_of(digest: &Digest) -> Vec<Claim> {
    let claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    claims.as_ref().and_then(|c| c.get(digest)).cloned().unwrap_or_default()
}

/// Checks the stored blob `digest` against every claim made about it in this run (none:
/// nothing is read).
pub(crate) fn check_claims(store: &Store, digest: &Digest) -> Result<(), Fault> {
    for claim in claims_of(digest) {
        check(store, digest, &claim)?;
    }
    Ok(())
}

/// Checks the stored blob `digest` against `claim`, learning its facts first unless they
/// are remembered.
pub(crate) fn check(store: &Store, digest: &Digest, claim: &Claim) -> Result<Checked, Fault> {
    let broken = |problem: String| Fault::Broken {
        base: claim.base.clone(),
        digest: digest.clone(),
        media_type: claim.media_type.clone(),
        problem,
    };
    let facts = match facts(store, digest) {
        Ok(Ok(facts)) => facts,
        Ok(Err(problem)) => return Err(broken(problem)),
        Err(source) => return Err(Fault::Read { digest: digest.clone(), path: store.path(digest), source }),
    };
    let promised = Format::of_media_type(&claim.media_type);
    if facts.format != promised {
        let detail = match facts.format {
            Format::Other => format!(" (they begin with {})", head_hex(store, digest)),
            _ => String::new(),
        };
        return Err(broken(format!(
            "is labelled {}, but its bytes are {}{detail}",
            promised.describe(),
            facts.format.describe()
        )));
    }
    match &facts.diff_id {
        Some(actual) if actual != claim.diff_id.as_str() => Err(broken(format!(
            "uncompresses to {actual}, but the image's config gives it the diff_id {}; `docker load` and \
             container runtimes refuse such a layer",
            claim.diff_id
        ))),
        Some(_) => Ok(Checked::Whole),
        None => Ok(Checked::CompressionOnly),
    }
}

/// The first bytes of a stored blob, in hex, for a message.
fn head_hex(store: &Store, digest: &Digest) -> String {
    let mut head = Vec::new();
    if let Ok(f) = crate::digest::open_regular(&store.path(digest)) {
        let _ = f.take(8).read_to_end(&mut head);
    }
    head.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// Where a blob's facts are remembered.
fn memo(store: &Store, digest: &Digest) -> PathBuf {
    store.root().join("layer-facts").join(format!("{}.json", digest.hex()))
}

/// Remembers facts learnt elsewhere (a layer we compressed ourselves).
pub(crate) fn remember(store: &Store, digest: &Digest, facts: &Facts) {
    let path = memo(store, digest);
    if let Ok(bytes) = serde_json::to_vec(facts) {
        let _ = crate::fsutil::write_file_atomic(&path, |w| w.write_all(&bytes));
    }
}

/// The facts of the stored blob `digest`: remembered, or learnt from its bytes (and then
/// remembered). The inner error says what is wrong with bytes that cannot be decoded.
fn facts(store: &Store, digest: &Digest) -> io::Result<Result<Facts, String>> {
    let path = memo(store, digest);
    if let Some(known) =
        crate::fsutil::read_regular(&path, 4096).ok().and_then(|b| serde_json::from_slice::<Facts>(&b).ok())
    {
        return Ok(Ok(known));
    }
    let learnt = learn(store, digest)?;
    if let Ok(facts) = &learnt {
        remember(store, digest, facts);
    }
    Ok(learnt)
}

/// Reads a stored blob once: its format, and for gzip its uncompressed digest.
fn learn(store: &Store, digest: &Digest) -> io::Result<Result<Facts, String>> {
    let file = crate::digest::open_regular(&store.path(digest))?;
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let mut head = Vec::with_capacity(512);
    (&mut reader).take(512).read_to_end(&mut head)?;
    let format = Format::sniff(&head);
    let diff_id = match format {
        // An uncompressed layer is its own tar.
        Format::Tar => Some(digest.to_string()),
        Format::Gzip => {
            let stream = io::Cursor::new(head).chain(reader);
            let gz = Capped::new(flate2::read::MultiGzDecoder::new(stream));
            let mut hashing = HashingWriter::new(io::sink());
            match io::copy(&mut { gz }, &mut hashing) {
                Ok(_) => Some(hashing.finish().1.to_string()),
                Err(e) => return Ok(Err(format!("is gzip, but its gzip stream is broken ({e})"))),
            }
        }
        Format::Zstd | Format::Other => None,
    };
    Ok(Ok(Facts { format, diff_id }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_of(name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &b"abc"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    fn stored(store: &Store, bytes: &[u8]) -> Digest {
        let d = Digest::of(bytes);
        store.put_document(&d, bytes).unwrap();
        d
    }

    fn claim(media_type: &str, diff_id: Digest) -> Claim {
        Claim { base: "base:1".into(), media_type: media_type.into(), diff_id }
    }

    #[test]
    fn formats_are_told_by_their_first_bytes() {
        let tar = tar_of("a");
        assert_eq!(Format::sniff(&tar), Format::Tar);
        assert_eq!(Format::sniff(&[0u8; 1024]), Format::Tar, "an empty tar");
        assert_eq!(Format::sniff(&gzip(&tar)), Format::Gzip);
        assert_eq!(Format::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Format::Zstd);
        let mut bad = tar.clone();
        bad[0] ^= 1;
        assert_eq!(Format::sniff(&bad), Format::Other, "a header whose checksum fails");
        assert_eq!(Format::sniff(b"<html>"), Format::Other);
    }

    #[test]
    fn claims_are_checked_against_the_bytes_and_the_facts_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_path_buf());
        let tar = tar_of("a");
        let diff_id = Digest::of(&tar);
        let gz = stored(&store, &gzip(&tar));
        assert_eq!(check(&store, &gz, &claim(MEDIA_TYPE_GZIP, diff_id.clone())).unwrap(), Checked::Whole);
        assert!(memo(&store, &gz).is_file());
        let lie = check(&store, &gz, &claim(MEDIA_TYPE_GZIP, Digest::of(b"other"))).unwrap_err().to_string();
        assert!(lie.contains(&format!("uncompresses to {diff_id}")) && lie.contains("base:1"), "{lie}");
        let e = check(&store, &gz, &claim(MEDIA_TYPE_TAR, diff_id.clone())).unwrap_err().to_string();
        assert!(e.contains("is labelled a plain tar (not compressed), but its bytes are gzip"), "{e}");
        let plain = stored(&store, &tar);
        let e = check(&store, &plain, &claim(MEDIA_TYPE_DOCKER_GZIP, diff_id.clone())).unwrap_err().to_string();
        assert!(e.contains(&format!("its layer {plain} ({MEDIA_TYPE_DOCKER_GZIP}) is labelled gzip")), "{e}");
        assert!(e.contains("but its bytes are a plain tar"), "{e}");
        assert_eq!(check(&store, &plain, &claim(MEDIA_TYPE_TAR, diff_id)).unwrap(), Checked::Whole);
        // Remembered: the blob is not read again.
        std::fs::remove_file(store.path(&gz)).unwrap();
        assert!(check(&store, &gz, &claim(MEDIA_TYPE_GZIP, Digest::of(&tar))).is_ok());
    }

    #[test]
    fn a_broken_gzip_stream_and_foreign_bytes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_path_buf());
        let mut gz = gzip(&tar_of("a"));
        let n = gz.len();
        gz[n / 2] ^= 0xff;
        let d = stored(&store, &gz);
        let e = check(&store, &d, &claim(MEDIA_TYPE_GZIP, Digest::of(b"x"))).unwrap_err().to_string();
        assert!(e.contains("gzip stream is broken"), "{e}");
        assert!(!memo(&store, &d).exists(), "a failure is not remembered");
        let d = stored(&store, b"<html>not a layer</html>");
        let e = check(&store, &d, &claim(MEDIA_TYPE_ZSTD, Digest::of(b"x"))).unwrap_err().to_string();
        assert!(e.contains("but its bytes are neither gzip, zstd nor a tar (they begin with 3c 68"), "{e}");
    }
}
