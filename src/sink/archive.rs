//! docker-archive tars for `docker load`: `manifest.json` + `repositories`, laid out so
//! the same tar is also an OCI image layout.

use super::layout::OCI_LAYOUT;
use crate::digest::{Digest, HashingReader};
use crate::fsutil;
use crate::image::blob::Blob;
use crate::image::config::canonical_json;
use crate::image::layer::{Contents, Source, MTIME};
use crate::image::referrer::Referrer;
use crate::image::{Artifact, Image};
use crate::platform::Platform;
use crate::reference::Reference;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// A docker-archive tarball (also an OCI layout) as a destination: a file, a FIFO, or
/// standard output (`-`). It holds one image: with several platforms, the load platform's.
pub(crate) struct ArchiveSink {
    pub(crate) path: PathBuf,
    pub(crate) tags: Vec<Reference>,
    pub(crate) ref_names: Vec<String>,
    pub(crate) load_platform: Option<Platform>,
}

impl super::Sink for ArchiveSink {
    fn check(&self) -> Result<(), super::Error> {
        super::check_paths(None, Some(&self.path))
    }

    fn refuses_zstd(&self) -> Option<(String, &'static str)> {
        Some((
            format!("--tarball {}", self.path.display()),
            "a docker-archive tarball carries gzip or plain tar layers only (Docker 20.10 cannot load zstd)",
        ))
    }

    fn publish(&self, artifact: &Artifact, _: &[Referrer], cx: &super::Context) -> Vec<super::Outcome> {
        let image = super::load_image(artifact, self.load_platform.as_ref());
        if let Artifact::Index(_) = artifact {
            crate::shell::note(format_args!(
                "the tarball gets the {} image only: a Docker 20.10 engine cannot load an index (choose with \
                 --load-platform)",
                image.platform
            ));
        }
        let shown = self.path.display().to_string();
        let written = fsutil::write_output(&self.path, &cx.push.tuning, |w| {
            write(w, image, &self.tags, &self.ref_names).map(drop)
        })
        .and_then(|()| image.digest().cloned());
        let result = match written {
            Ok(digest) => Ok(super::Delivered {
                line: format!("{shown} {digest}"),
                full: format!("oci-archive:{shown}@{digest}"),
                artifact: Artifact::Image(image.clone()),
                referrers: Vec::new(),
                engine: None,
                types: crate::image::MediaTypes::Oci,
            }),
            Err(source) => Err(std::sync::Arc::new(super::Error::Archive { path: self.path.clone(), source })),
        };
        vec![super::Outcome { kind: "tarball", reference: shown, result }]
    }
}

/// Writes a tar for `image` carrying `tags` to `w`: a docker-archive whose compressed
/// layers sit under `blobs/sha256/`, next to `oci-layout` and `index.json`, so the same tar
/// is also an OCI image layout.
/// `ref_names` name the image in the OCI `index.json`; `tags` go to `manifest.json`.
pub(crate) fn write<W: Write>(w: W, image: &Image, tags: &[Reference], ref_names: &[String]) -> io::Result<W> {
    write_with_index(w, image, tags, &tarball_index(&Artifact::Image(image.clone()), tags, ref_names)?)
}

/// The `index.json` of a tarball: `ref_names` as a layout names them; each entry whose name
/// is the tag of one of `tags` also carries that tag's full name as
/// `io.containerd.image.name`, the only name `docker load` on an engine with the containerd
/// image store reads (it reads no `manifest.json` when `index.json` is there). skopeo and
/// the other OCI readers go by the ref name, which is unchanged.
pub(super) fn tarball_index(artifact: &Artifact, tags: &[Reference], ref_names: &[String]) -> io::Result<Vec<u8>> {
    let mut entries = super::layout::entries(artifact, ref_names)?;
    add_containerd_names(&mut entries, tags);
    Ok(canonical_json(&json!({
        "schemaVersion": 2,
        "mediaType": crate::image::index::MEDIA_TYPE_OCI_INDEX,
        "manifests": entries,
    })))
}

/// Gives each of `entries` whose ref name is the tag of one of `tags` (`TAG`, or `BIN:TAG`
/// in the tar of several images) that tag's full name as `io.containerd.image.name`.
pub(super) fn add_containerd_names(entries: &mut [serde_json::Value], tags: &[Reference]) {
    use crate::image::annotation::{CONTAINERD_NAME, REF_NAME};
    for entry in entries {
        let name = entry["annotations"][REF_NAME].as_str().unwrap_or_default().to_string();
        let tag_part = name.rsplit_once(':').map_or(name.as_str(), |(_, t)| t);
        if let Some(tag) = tags.iter().find(|t| t.tag_or_default() == tag_part) {
            entry["annotations"][CONTAINERD_NAME] = json!(crate::engine::full_name(tag));
        }
    }
}

/// As [`write`], with the OCI part's `index.json` given (the engine's containerd store
/// wants its own names there).
pub(super) fn write_with_index<W: Write>(w: W, image: &Image, tags: &[Reference], index: &[u8]) -> io::Result<W> {
    let mut tar = tar::Builder::new(w);
    append(&mut tar, "oci-layout", OCI_LAYOUT.len() as u64, OCI_LAYOUT)?;
    append(&mut tar, "index.json", index.len() as u64, index)?;
    append_config(&mut tar, &image.config)?;
    let mut layer_paths = Vec::new();
    for layer in &image.layers {
        layer_paths.push(append_blob(&mut tar, layer.blob()?)?);
    }
    let manifest = image.manifest()?;
    let bytes = manifest.bytes().expect("manifests are held in memory");
    append(&mut tar, &blob_path(manifest.digest.hex()), manifest.size, bytes)?;
    let top = image.layers.last().map(|l| &l.diff_id);
    append_docker_files(&mut tar, &[Loadable { config: &image.config, top, tags, layer_paths }])?;
    tar.into_inner()
}

/// Writes a docker-archive of `image` with plain (uncompressed) layer tars, produced on the
/// fly: what a local engine loads fastest, with no compression spent.
pub(crate) fn write_unpacked<W: Write>(w: W, image: &Image, tags: &[Reference]) -> io::Result<W> {
    let mut tar = tar::Builder::new(w);
    append_config(&mut tar, &image.config)?;
    let mut layer_paths = Vec::new();
    for layer in &image.layers {
        let path = match &layer.source {
            Source::Ours { contents, diff_size, .. } => append_diff(&mut tar, &layer.diff_id, contents, *diff_size)?,
            // A base's layer goes as it is held: the engine decompresses it.
            Source::Held(blob) => append_blob(&mut tar, blob)?,
        };
        layer_paths.push(path);
    }
    let top = image.layers.last().map(|l| &l.diff_id);
    append_docker_files(&mut tar, &[Loadable { config: &image.config, top, tags, layer_paths }])?;
    tar.into_inner()
}

pub(super) fn append_config<W: Write>(tar: &mut tar::Builder<W>, config: &Blob) -> io::Result<()> {
    append_dir(tar, "blobs/")?;
    append_dir(tar, "blobs/sha256/")?;
    let bytes = config.bytes().expect("configs are held in memory");
    append(tar, &blob_path(config.digest.hex()), config.size, bytes)
}

/// One image of a docker-archive, as `docker load` reads it.
pub(super) struct Loadable<'a> {
    pub(super) config: &'a Blob,
    /// Its top layer's diff_id, for the legacy `repositories`.
    pub(super) top: Option<&'a Digest>,
    pub(super) tags: &'a [Reference],
    /// Its layers' paths in the tar, bottom up.
    pub(super) layer_paths: Vec<String>,
}

/// The docker-archive files for `images` (one, or several as `docker save a b c` writes
/// them): `manifest.json` and the legacy `repositories`.
pub(super) fn append_docker_files<W: Write>(tar: &mut tar::Builder<W>, images: &[Loadable]) -> io::Result<()> {
    let manifest = manifest_json(images);
    append(tar, "manifest.json", manifest.len() as u64, &manifest[..])?;
    let repositories = repositories_json(images);
    append(tar, "repositories", repositories.len() as u64, &repositories[..])
}

pub(super) fn blob_path(hex: &str) -> String {
    format!("blobs/sha256/{hex}")
}

/// Appends a compressed blob under `blobs/sha256/`, hashed on the way in: a cached layer
/// that changed during the run fails the tar.
pub(super) fn append_blob<W: Write>(tar: &mut tar::Builder<W>, blob: &Blob) -> io::Result<String> {
    let path = blob_path(blob.digest.hex());
    let mut reader = HashingReader::new(blob.open()?);
    append(tar, &path, blob.size, &mut reader)?;
    if reader.finish() != (blob.digest.clone(), blob.size) {
        return Err(io::Error::other(format!(
            "layer {} changed during the run (the layer cache was modified); run again",
            blob.digest
        )));
    }
    Ok(path)
}

/// Appends one of our layers as a plain tar, produced by a thread into a pipe so it is
/// never held whole.
fn append_diff<W: Write>(
    tar: &mut tar::Builder<W>,
    diff_id: &Digest,
    contents: &Contents,
    diff_size: u64,
) -> io::Result<String> {
    let path = blob_path(diff_id.hex());
    let (mut reader, writer) = io::pipe()?;
    let contents = contents.clone();
    let producer = std::thread::spawn(move || {
        let w = contents.write_tar(io::BufWriter::with_capacity(1 << 20, writer))?;
        w.into_inner().map(drop).map_err(|e| e.into_error())
    });
    let result = append(tar, &path, diff_size, &mut reader);
    drop(reader);
    let produced = producer.join().map_err(|_| io::Error::other("the layer writer panicked"))?;
    first_cause(result, produced)?;
    Ok(path)
}

/// The error that explains a pipe's failure: the producer's own (a file that changed, say),
/// unless it is only the broken pipe that the consumer's failure caused; else the consumer's.
fn first_cause(consumer: io::Result<()>, producer: io::Result<()>) -> io::Result<()> {
    match (consumer, producer) {
        (Err(c), Err(p)) if p.kind() == io::ErrorKind::BrokenPipe => Err(c),
        (_, Err(p)) => Err(p),
        (c, Ok(())) => c,
    }
}

fn header(size: u64, kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

pub(super) fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, size: u64, data: impl Read) -> io::Result<()> {
    let mut h = header(size, tar::EntryType::Regular, 0o644);
    tar.append_data(&mut h, path, data.take(size))
}

pub(super) fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut h = header(0, tar::EntryType::Directory, 0o755);
    tar.append_data(&mut h, path, io::empty())
}

/// docker-archive `manifest.json`: each image's config, tags and layer paths.
fn manifest_json(images: &[Loadable]) -> Vec<u8> {
    let entries: Vec<serde_json::Value> = images
        .iter()
        .map(|i| {
            let repo_tags: Vec<String> = i.tags.iter().map(Reference::with_default_tag).collect();
            json!({"Config": blob_path(i.config.digest.hex()), "RepoTags": repo_tags, "Layers": i.layer_paths})
        })
        .collect();
    canonical_json(&entries)
}

/// The legacy `repositories` file: repository → tag → top layer id, for every image.
fn repositories_json(images: &[Loadable]) -> Vec<u8> {
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for i in images {
        let top = i.top.map(|d| d.hex().to_string()).unwrap_or_default();
        for t in i.tags {
            repos.entry(t.name()).or_default().insert(t.tag_or_default().to_string(), top.clone());
        }
    }
    canonical_json(&repos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_error_wins_over_the_broken_pipe_it_caused() {
        let sink_full = || Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device"));
        let broken = || Err(io::Error::new(io::ErrorKind::BrokenPipe, "broken pipe"));
        let changed = || Err(io::Error::other("bin changed while the image was being assembled"));
        let short = || Err(io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected end of file"));
        assert_eq!(first_cause(sink_full(), broken()).unwrap_err().kind(), io::ErrorKind::StorageFull);
        assert!(first_cause(short(), changed()).unwrap_err().to_string().contains("changed"));
        assert_eq!(first_cause(sink_full(), Ok(())).unwrap_err().kind(), io::ErrorKind::StorageFull);
        assert!(first_cause(Ok(()), Ok(())).is_ok());
    }

    #[test]
    fn a_cached_layer_changed_during_the_run_fails_the_tar() {
        use crate::image::cache::LayerCache;
        use crate::image::config::RunConfig;
        use crate::image::layer::{Compressor, Contents, Entry};
        use crate::platform::Platform;
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().to_path_buf());
        let contents = Contents::new(vec![Entry::bytes("/app", b"app".to_vec(), 0o755)]);
        let layer = cache.layer(contents, Compressor::default(), "COPY".into()).unwrap();
        let image = Image::assemble(Platform::linux("amd64", None), &RunConfig::default(), vec![layer]);
        write(Vec::new(), &image, &[], &[]).unwrap();
        // Same size, other bytes: only hashing the layer as it goes in can tell.
        let path = image.layers[0].blob().unwrap().path().expect("a cached layer is a file").to_path_buf();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let err = write(Vec::new(), &image, &[], &[]).unwrap_err().to_string();
        assert!(err.contains("changed during the run"), "{err}");
    }
}
