//! docker-archive tars for `docker load`: `manifest.json` + `repositories`, laid out so
//! the same tar is also an OCI image layout.

use super::layout::{index_json, OCI_LAYOUT};
use crate::image::config::canonical_json;
use crate::image::layer::{Layer, MTIME};
use crate::image::Image;
use crate::reference::Reference;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};

/// How layers go into the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layers {
    /// The gzip blobs under `blobs/sha256/`: the archive is also an OCI layout.
    Compressed,
    /// Plain tars, written on the fly: what a local engine loads fastest.
    Uncompressed,
}

/// Writes the archive for `image` carrying `tags` to `w`.
pub fn write<W: Write>(w: W, image: &Image, tags: &[Reference], layers: Layers) -> io::Result<W> {
    let mut tar = tar::Builder::new(w);
    if layers == Layers::Compressed {
        let ref_names: Vec<String> = tags
            .iter()
            .map(|t| t.tag_or_default().to_string())
            .collect();
        let ref_names = if ref_names.is_empty() {
            vec![crate::reference::DEFAULT_TAG.to_string()]
        } else {
            ref_names
        };
        append(&mut tar, "oci-layout", OCI_LAYOUT.len() as u64, OCI_LAYOUT)?;
        let index = index_json(image, &ref_names);
        append(&mut tar, "index.json", index.len() as u64, &index[..])?;
    }
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    let config = image.config.bytes().expect("configs are held in memory");
    append(
        &mut tar,
        &blob_path(image.config.digest.hex()),
        image.config.size,
        config,
    )?;
    let mut layer_paths = Vec::new();
    for layer in &image.layers {
        layer_paths.push(append_layer(&mut tar, layer, layers)?);
    }
    if layers == Layers::Compressed {
        let manifest = image
            .manifest
            .bytes()
            .expect("manifests are held in memory");
        append(
            &mut tar,
            &blob_path(image.digest().hex()),
            image.manifest.size,
            manifest,
        )?;
    }
    let manifest = manifest_json(image, tags, &layer_paths);
    append(
        &mut tar,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    let repositories = repositories_json(image, tags);
    append(
        &mut tar,
        "repositories",
        repositories.len() as u64,
        &repositories[..],
    )?;
    tar.into_inner()
}

fn blob_path(hex: &str) -> String {
    format!("blobs/sha256/{hex}")
}

fn append_layer<W: Write>(
    tar: &mut tar::Builder<W>,
    layer: &Layer,
    layers: Layers,
) -> io::Result<String> {
    match layers {
        Layers::Compressed => {
            let path = blob_path(layer.blob.digest.hex());
            append(tar, &path, layer.blob.size, layer.blob.open()?)?;
            Ok(path)
        }
        Layers::Uncompressed => {
            // The tar is produced by a thread into a pipe, so it is never held whole.
            let path = blob_path(layer.diff_id.hex());
            let (mut reader, writer) = io::pipe()?;
            let contents = layer.contents.clone();
            let producer = std::thread::spawn(move || {
                contents
                    .write_tar(io::BufWriter::with_capacity(1 << 20, writer))
                    .and_then(|w| w.into_inner().map(drop).map_err(|e| e.into_error()))
            });
            let result = append(tar, &path, layer.diff_size, &mut reader);
            drop(reader);
            producer
                .join()
                .map_err(|_| io::Error::other("the layer writer panicked"))??;
            result?;
            Ok(path)
        }
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

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut h = header(size, tar::EntryType::Regular, 0o644);
    tar.append_data(&mut h, path, data.take(size))
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut h = header(0, tar::EntryType::Directory, 0o755);
    tar.append_data(&mut h, path, io::empty())
}

/// docker-archive `manifest.json`: config, tags and layer paths.
fn manifest_json(image: &Image, tags: &[Reference], layer_paths: &[String]) -> Vec<u8> {
    let repo_tags: Vec<String> = tags.iter().map(Reference::with_default_tag).collect();
    canonical_json(&json!([{
        "Config": blob_path(image.config.digest.hex()),
        "RepoTags": repo_tags,
        "Layers": layer_paths,
    }]))
}

/// The legacy `repositories` file: repository → tag → top layer id.
fn repositories_json(image: &Image, tags: &[Reference]) -> Vec<u8> {
    let top = image
        .layers
        .last()
        .map(|l| l.diff_id.hex().to_string())
        .unwrap_or_default();
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for t in tags {
        repos
            .entry(t.name())
            .or_default()
            .insert(t.tag_or_default().to_string(), top.clone());
    }
    canonical_json(&repos)
}
