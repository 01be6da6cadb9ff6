//! OCI image layout directories: `oci-layout`, `index.json` and `blobs/sha256/*`.
//!
//! An existing layout is added to, as skopeo and go-containerregistry's `layout` do: the
//! blobs it lacks are written (each atomically), then `index.json` is replaced atomically
//! with every other image kept and this one's names moved to it. The layout is valid at
//! every moment, so an interrupted run leaves at most unreferenced blobs. A directory that
//! holds anything but a layout is refused, and nothing in it is touched.

use crate::fsutil::{self, TempDir, TempFile};
use crate::image::blob::Blob;
use crate::image::cache::FileDigests;
use crate::image::config::canonical_json;
use crate::image::index::{platform_json, MEDIA_TYPE_OCI_INDEX};
use crate::image::referrer::Referrer;
use crate::image::Artifact;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
use crate::image::annotation::REF_NAME;

/// An OCI image layout directory as a destination; `default` when no output was asked
/// for (the tool's own layout under `target/`).
pub(crate) struct LayoutSink {
    pub(crate) dir: PathBuf,
    pub(crate) ref_names: Vec<String>,
    pub(crate) default: bool,
}

impl super::Sink for LayoutSink {
    fn check(&self) -> Result<(), super::Error> {
        super::check_paths(Some(&self.dir), None)
    }

    fn keeps(&self) -> super::Keeps {
        super::Keeps::Local
    }

    fn publish(&self, artifact: &Artifact, referrers: &[Referrer], cx: &super::Context) -> Vec<super::Outcome> {
        let mode = if self.default { Mode::Own } else { Mode::Add };
        let shown = self.dir.display().to_string();
        let written = write(&self.dir, &Contents { artifact, referrers }, &self.ref_names, mode, cx.memo)
            .and_then(|()| artifact.digest().cloned());
        let result = match written {
            Ok(digest) => Ok(super::Delivered {
                line: format!("{shown} {digest}"),
                full: format!("oci:{shown}:{}@{digest}", self.ref_names[0]),
                artifact: artifact.clone(),
                referrers: referrers.to_vec(),
                engine: None,
                types: crate::image::MediaTypes::Oci,
            }),
            Err(source) => Err(std::sync::Arc::new(super::Error::Layout { dir: self.dir.clone(), source })),
        };
        vec![super::Outcome { kind: "layout", reference: shown, result }]
    }
}

/// What goes into a layout: the artifact, and the documents about it (listed in
/// `index.json` without a name, so that `skopeo copy --all` and oras carry them).
pub(crate) struct Contents<'a> {
    pub(crate) artifact: &'a Artifact,
    pub(crate) referrers: &'a [Referrer],
}

/// How a layout directory is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The user's directory: other images are kept, with their blobs.
    Add,
    /// The tool's own directory under `target/`: blobs no image uses any more are removed.
    Own,
}

/// Writes `artifact` into the OCI layout at `dir` under each of `ref_names`.
/// `memo` knows the digests of the blobs it wrote, so checking them costs nothing.
pub(crate) fn write(
    given: &Path,
    artifact: &Contents,
    ref_names: &[String],
    mode: Mode,
    memo: &FileDigests,
) -> io::Result<()> {
    // Symlinks on the way are followed only as the kernel's protected_symlinks would.
    let (dir, _) = fsutil::resolve_links(given)?;
    let dir = dir.as_path();
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A new layout is built aside and appears whole, with one rename.
            let parent = fsutil::output_parent(given, dir, true)?;
            fsutil::sweep(&parent);
            let staging = TempDir::new_in(&parent)?;
            fs::write(staging.path().join("oci-layout"), OCI_LAYOUT)?;
            add(staging.path(), artifact, ref_names, mode, memo)?;
            match staging.rename_to(dir) {
                // Another run made it meanwhile: add to that one.
                Err(e) if dir.is_dir() && matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                    write(given, artifact, ref_names, mode, memo)
                }
                Err(e) => Err(e),
                Ok(()) => {
                    record_blobs(dir, artifact.artifact, memo);
                    Ok(())
                }
            }
        }
        Err(e) => Err(e),
        Ok(meta) if !meta.is_dir() => Err(not_a_directory(dir)),
        Ok(_) => {
            let _lock = fsutil::lock_dir(dir, LOCK_TIMEOUT)?;
            let is_layout = dir.join("oci-layout").exists();
            if !is_layout && fs::read_dir(dir)?.next().is_some() {
                return Err(not_a_layout(dir));
            }
            if is_layout {
                check_layout_version(dir)?;
                fsutil::sweep(dir);
            } else {
                write_small(dir, "oci-layout", OCI_LAYOUT)?;
            }
            add(dir, artifact, ref_names, mode, memo)?;
            record_blobs(dir, artifact.artifact, memo);
            Ok(())
        }
    }
}

/// Whether a layout can be written at `dir`: it is missing (and its parent takes new
/// entries), an empty directory, or a layout whose `oci-layout` and `index.json` can be
/// read; checked before the build.
pub(crate) fn check(given: &Path) -> io::Result<()> {
    let (dir, _) = fsutil::resolve_links(given)?;
    let dir = dir.as_path();
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fsutil::output_parent(given, dir, false).map(drop),
        Err(e) => Err(e),
        Ok(meta) if !meta.is_dir() => Err(not_a_directory(dir)),
        Ok(_) if dir.join("oci-layout").exists() => {
            check_layout_version(dir)?;
            read_index(dir)?;
            TempFile::new_in(dir).map(drop)
        }
        Ok(_) if fs::read_dir(dir)?.next().is_none() => TempFile::new_in(dir).map(drop),
        Ok(_) => Err(not_a_layout(dir)),
    }
}

/// Whether `--output DIR` can hold a layout per image (several images, `DIR/<bin>` each):
/// `DIR` is missing (and its parent takes new entries) or a directory, whatever else it
/// holds; each image's own layout is checked by [`check`] once the plan names it.
pub(crate) fn check_parent(given: &Path) -> io::Result<()> {
    let (dir, _) = fsutil::resolve_links(given)?;
    match fs::metadata(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fsutil::output_parent(given, &dir, false).map(drop),
        Err(e) => Err(e),
        Ok(meta) if !meta.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory; with several images it holds a layout for each", dir.display()),
        )),
        Ok(_) => Ok(()),
    }
}

fn not_a_directory(dir: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{} exists and is not a directory; an OCI layout is a directory", dir.display()),
    )
}

fn not_a_layout(dir: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} holds files but no `oci-layout`, so it is not an OCI image layout; refusing to write into it",
            dir.display()
        ),
    )
}

/// How long to wait for another run writing into the same layout.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Adds the blobs the layout lacks, then points `index.json` at the artifact.
fn add(dir: &Path, contents: &Contents, ref_names: &[String], mode: Mode, memo: &FileDigests) -> io::Result<()> {
    let index = read_index(dir)?;
    let blobs = dir.join("blobs").join("sha256");
    fsutil::real_dir(&dir.join("blobs"))?;
    fsutil::real_dir(&blobs)?;
    fsutil::sweep(&blobs);
    for blob in contents.artifact.all_blobs()? {
        write_blob(&blobs, blob, memo)?;
    }
    for r in contents.referrers {
        for blob in r.blobs().into_iter().chain(std::iter::once(&r.manifest)) {
            write_blob(&blobs, blob, memo)?;
        }
    }
    let index = updated_index(index, contents, ref_names, mode)?;
    write_small(dir, "index.json", &canonical_json(&index))?;
    if mode == Mode::Own {
        remove_unreferenced(dir, &index)?;
    }
    Ok(())
}

fn check_layout_version(dir: &Path) -> io::Result<()> {
    let text = read_small(&dir.join("oci-layout"))?;
    let version = serde_json::from_slice::<Value>(&text)
        .ok()
        .and_then(|v| v.get("imageLayoutVersion").and_then(Value::as_str).map(str::to_string));
    match version.as_deref() {
        Some(v) if v.starts_with("1.") => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is not an OCI layout file of version 1.x; refusing to change the layout",
                dir.join("oci-layout").display()
            ),
        )),
    }
}

/// The layout's `index.json`, or a new empty index; a malformed one is refused, not replaced.
fn read_index(dir: &Path) -> io::Result<Value> {
    let path = dir.join("index.json");
    let text = match read_small(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": []}))
        }
        other => other?,
    };
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is not an OCI image index (an object with a `manifests` array); refusing to change the layout: \
                 fix it, or write to another directory",
                path.display()
            ),
        )
    };
    let index: Value = serde_json::from_slice(&text).map_err(|_| bad())?;
    let ok = index.as_object().is_some_and(|o| o.get("manifests").is_none_or(Value::is_array));
    if !ok {
        return Err(bad());
    }
    Ok(index)
}

/// `index` with entries named by any of `ref_names` dropped and the artifact's entries (one
/// per name) appended; everything else kept as it was.
fn updated_index(mut index: Value, contents: &Contents, ref_names: &[String], mode: Mode) -> io::Result<Value> {
    let artifact = contents.artifact;
    let ours: Vec<Value> = contents.referrers.iter().map(Referrer::descriptor).collect();
    let our_digests: Vec<&Value> = ours.iter().map(|d| &d["digest"]).collect();
    let named = |entry: &Value| {
        entry.get("annotations").and_then(|a| a.get(REF_NAME)).and_then(Value::as_str).map(str::to_string)
    };
    let mut manifests: Vec<Value> = index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| named(entry).is_none_or(|n| !ref_names.contains(&n)))
        .filter(|entry| !our_digests.contains(&&entry["digest"]))
        // The tool's own layout holds one image: the documents of an earlier one go.
        .filter(|entry| mode == Mode::Add || named(entry).is_some() || entry.get("artifactType").is_none())
        .collect();
    manifests.extend(entries(artifact, ref_names)?);
    manifests.extend(ours);
    index["manifests"] = Value::Array(manifests);
    index["schemaVersion"] = json!(2);
    if index.get("mediaType").is_none() {
        index["mediaType"] = json!(MEDIA_TYPE_OCI_INDEX);
    }
    Ok(index)
}

/// The most of a layout's `index.json` or `oci-layout` that is read.
const MAX_SMALL: u64 = 64 << 20;

/// Reads a small file of the layout (see `fsutil::read_regular`).
fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    fsutil::read_regular(path, MAX_SMALL)
}

/// Writes a small file of the layout atomically.
fn write_small(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = TempFile::new_in(dir)?;
    tmp.file_mut().write_all(bytes)?;
    tmp.file().sync_all()?;
    tmp.persist(&dir.join(name))
}

/// Writes a blob the layout lacks: copied (never linked, so no inode is shared with the
/// layer cache or another layout) into a temporary file, then renamed into place. A blob
/// already there is kept when its content matches its digest, and replaced otherwise.
fn write_blob(blobs: &Path, blob: &Blob, memo: &FileDigests) -> io::Result<()> {
    let dst = blobs.join(blob.digest.hex());
    let same_size = fs::symlink_metadata(&dst).is_ok_and(|m| m.is_file() && m.len() == blob.size);
    // A blob already there is kept only if it is what its name says (the memo knows the
    // ones this tool wrote, while they are unchanged).
    if same_size && memo.digest(&dst).is_ok_and(|(d, _)| d == blob.digest) {
        return Ok(());
    }
    let mut tmp = TempFile::new_in(blobs)?;
    blob.copy_to(tmp.file_mut())?;
    // The copy is read back and checked: the memo will vouch for it from now on.
    let mut copy = tmp.reopen()?;
    let (digest, size) = crate::digest::of_open(&mut copy)?;
    if (&digest, size) != (&blob.digest, blob.size) {
        return Err(io::Error::other(format!(
            "the copy of blob {} does not match it (its source changed during the run); run again",
            blob.digest
        )));
    }
    tmp.persist(&dst)
}

/// Tells the memo the digests of the layout's blobs at their final paths (a new layout's
/// were written under a staging name), so the next run checks them without reading them.
fn record_blobs(dir: &Path, artifact: &Artifact, memo: &FileDigests) {
    let blobs = dir.join("blobs").join("sha256");
    for blob in artifact.all_blobs().into_iter().flatten() {
        memo.record(&blobs.join(blob.digest.hex()), &blob.digest, blob.size);
    }
}

/// The layout's index entries for the artifact: its top manifest once per reference name;
/// an image's entry carries its platform, an index's lists the platforms itself.
pub(super) fn entries(artifact: &Artifact, ref_names: &[String]) -> io::Result<Vec<Value>> {
    let top = artifact.manifest()?;
    Ok(ref_names
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
        .collect())
}

/// Removes the blobs that nothing in `index` reaches (manifests, their configs and layers,
/// nested indexes), from the tool's own layouts only.
fn remove_unreferenced(dir: &Path, index: &Value) -> io::Result<()> {
    let blobs = dir.join("blobs").join("sha256");
    let mut reachable = HashSet::new();
    let mut pending: Vec<String> = descriptors(index);
    while let Some(digest) = pending.pop() {
        let Some(hex) = digest.strip_prefix("sha256:") else { continue };
        if !reachable.insert(hex.to_string()) {
            continue;
        }
        // Manifests and indexes are small JSON; layers, and anything odd, are not parsed.
        if let Ok(bytes) = fsutil::read_regular(&blobs.join(hex), 4 << 20) {
            if let Ok(doc) = serde_json::from_slice::<Value>(&bytes) {
                pending.extend(descriptors(&doc));
            }
        }
    }
    // Best effort: only files are removed, and what cannot be is left for another time.
    for entry in fs::read_dir(&blobs)?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let file = entry.file_type().is_ok_and(|t| t.is_file() || t.is_symlink());
        if file && !name.starts_with(fsutil::TEMP_PREFIX) && !reachable.contains(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// The digests a manifest or index document points at.
fn descriptors(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut take = |d: &Value| {
        if let Some(digest) = d.get("digest").and_then(Value::as_str) {
            out.push(digest.to_string());
        }
    };
    for key in ["manifests", "layers"] {
        for d in doc.get(key).and_then(Value::as_array).into_iter().flatten() {
            take(d);
        }
    }
    for key in ["config", "subject"] {
        if let Some(d) = doc.get(key) {
            take(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::image::cache::LayerCache;

    #[test]
    fn a_blob_whose_source_does_not_match_its_digest_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, source) = (dir.path().join("blobs"), dir.path().join("layer"));
        fs::create_dir(&blobs).unwrap();
        fs::write(&source, b"changed").unwrap();
        let memo = LayerCache::new(dir.path().join("cache")).files();
        // The digest and size recorded for the layer are of other bytes of the same length.
        let blob = Blob::from_file("application/octet-stream", source.clone(), Digest::of(b"content"), 7);
        let err = write_blob(&blobs, &blob, &memo).unwrap_err().to_string();
        assert!(err.contains("does not match it"), "{err}");
        assert_eq!(fs::read_dir(&blobs).unwrap().count(), 0, "a blob or a temporary file was left");
        // The right bytes are written.
        fs::write(&source, b"content").unwrap();
        write_blob(&blobs, &blob, &memo).unwrap();
        assert_eq!(fs::read(blobs.join(Digest::of(b"content").hex())).unwrap(), b"content");
    }
}
