//! `docker:NAME[:TAG]` bases: the image is exported from the local engine
//! (`GET /images/{name}/get`). What the export is depends on the engine's image store:
//!
//! - the classic store: a docker-archive of plain layers, compressed into the store as gzip
//!   blobs (deterministically, so the same engine image always gives the same digests), and
//!   an OCI manifest written for it;
//! - the containerd store: an OCI layout of what the engine keeps, its image ID being the
//!   digest of the manifest or index `index.json` names: every blob goes into the store as
//!   it is (gzip, zstd or plain tar, each checked against its digest), and the base is that
//!   manifest or index, pinned by the digest the engine reports; an index gives each
//!   platform its image.
//!
//! The import is remembered by the engine's image ID, so an unchanged image is not exported
//! again.

use crate::digest::{Digest, HashingWriter};
use crate::image::config::canonical_json;
use crate::image::layer::{Compressor, MEDIA_TYPE_GZIP};
use crate::image::{MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_MANIFEST};
use crate::reference::Reference;
use crate::store::Store;
use crate::tuning::Tuning;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{self, Read};

/// Entries of an exported image kept in memory (manifest.json, the config).
const SMALL: u64 = 4 << 20;

/// Why an engine image could not be imported.
#[derive(Debug)]
pub(crate) enum ImportError {
    /// The engine could not be reached, or did not answer in time.
    Engine(crate::engine::Error),
    /// The engine answered, but not with the image.
    Image(String),
}

impl From<String> for ImportError {
    fn from(message: String) -> ImportError {
        ImportError::Image(message)
    }
}

impl From<&str> for ImportError {
    fn from(message: &str) -> ImportError {
        ImportError::Image(message.to_string())
    }
}

/// Imports the engine's image `name` into the store; returns its manifest digest, and its
/// name and digest in the registry it was pulled from when the engine knows them (the
/// first of `RepoDigests` that is a valid `NAME@sha256:…`). The engine is asked as a
/// `--tag` run asks it: within the timeout, saying what it waits for.
pub(crate) fn import(
    name: &Reference,
    store: &Store,
    tuning: &Tuning,
    quiet: bool,
) -> Result<(String, Option<String>), ImportError> {
    let shown = name.with_default_tag();
    let _announce = (!quiet).then(|| {
        crate::wait::Announce::after(
            crate::wait::announce_after(tuning.timeout),
            format!("waiting for the Docker engine to answer GET /images/{shown}/json"),
        )
    });
    let (status, inspect) =
        crate::engine::short_request("GET", &format!("/images/{shown}/json"), tuning).map_err(ImportError::Engine)?;
    drop(_announce);
    if status == 404 {
        return Err(format!("the Docker engine has no image {shown}").into());
    }
    if status != 200 {
        return Err(format!("the Docker engine answered {status} to GET /images/{shown}/json").into());
    }
    let inspect = serde_json::from_slice::<Value>(&inspect).unwrap_or_default();
    let id = inspect
        .get("Id")
        .and_then(Value::as_str)
        .and_then(Digest::parse)
        .ok_or("the Docker engine's answer names no image ID")?;
    // What an engine says is checked as any reference is: a name and a sha256 digest.
    let registry_digest = inspect["RepoDigests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|r| Reference::parse(r).is_ok_and(|r| r.digest.is_some()))
        .map(str::to_string);
    let memo = store.root().join("engine").join(id.hex());
    // Read as every cache file is: a regular file of bounded size, never a FIFO to wait on.
    let recalled = crate::fsutil::read_regular(&memo, 1024).ok().and_then(|b| String::from_utf8(b).ok());
    if let Some(done) = recalled.as_deref().and_then(|t| Digest::parse(t.trim())) {
        if complete(store, &done) {
            return Ok((done.to_string(), registry_digest));
        }
    }
    crate::shell::status("Exporting", format_args!("{shown} from the Docker engine"));
    let (status, body) = crate::engine::get(&format!("/images/{shown}/get"), tuning).map_err(ImportError::Engine)?;
    if status != 200 {
        return Err(format!("the Docker engine answered {status} to GET /images/{shown}/get").into());
    }
    if crate::engine::store(tuning, quiet).map_err(ImportError::Engine)? == crate::engine::ImageStore::Containerd {
        let top = from_layout(body, store, &id).map_err(|e| export_failed(&shown, &e))?;
        let _ = crate::fsutil::write_file_atomic(&memo, |w| w.write_all(top.as_str().as_bytes()));
        return Ok((top.to_string(), registry_digest));
    }
    let digest = from_archive(body, store).map_err(|e| format!("reading the export of {shown}: {e}"))?;
    if digest.as_ref().is_some_and(|(_, config)| config != &id) {
        return Err(format!("the export of {shown} is not image {id}; it changed meanwhile: run again").into());
    }
    let (manifest, _) = digest.ok_or(ImportError::from("the export holds no image"))?;
    let _ = std::fs::create_dir_all(memo.parent().expect("has a parent"));
    let _ = crate::fsutil::write_file_atomic(&memo, |w| w.write_all(manifest.as_str().as_bytes()));
    Ok((manifest.to_string(), registry_digest))
}

/// What to say when the export of `shown` could not be read.
fn export_failed(shown: &str, e: &io::Error) -> String {
    format!(
        "reading the export of {shown}: {e}; an engine with the containerd image store cannot export an image \
         whose index lists platforms it does not hold (docker/cli#5476), as a multi-platform image pulled for one \
         platform is: name the base in its registry instead (--base REGISTRY/REPO:TAG), or `docker save` it with \
         --platform (Docker 28 and later), `docker load` that, and name what it loads"
    )
}

/// Reads the OCI layout a containerd-store engine exports: each `blobs/sha256/<hex>` goes
/// into the store as it is, unless it is there, checked against its name; `index.json`
/// must name `id`, the engine's image ID, which is then the base's top manifest (or index).
fn from_layout(body: impl Read, store: &Store, id: &Digest) -> io::Result<Digest> {
    let mut index = None;
    each_file(body, |path, entry| {
        if path == "index.json" {
            index = Some(read_small(entry)?);
            return Ok(());
        }
        let Some(digest) = path.strip_prefix("blobs/sha256/").and_then(|h| Digest::parse(&format!("sha256:{h}")))
        else {
            return Ok(());
        };
        let size = entry.size();
        if store.has(&digest, size) {
            return Ok(());
        }
        let mut tmp = store.temp()?;
        let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, tmp.file_mut()));
        io::copy(entry, &mut w)?;
        let (buf, got, n) = w.finish();
        buf.into_inner().map_err(|e| e.into_error())?;
        if got != digest || n != size {
            return Err(io::Error::other(format!("blob {digest} of the export holds {n} bytes whose digest is {got}")));
        }
        store.persist(tmp, &digest, size)
    })?;
    let index = index.ok_or_else(|| io::Error::other("the export has no index.json"))?;
    let index: Value = serde_json::from_slice(&index).map_err(|_| io::Error::other("index.json is not JSON"))?;
    let named = index["manifests"].as_array().into_iter().flatten().any(|e| e["digest"].as_str() == Some(id.as_str()));
    if !named || store.document(id).is_none() {
        return Err(io::Error::other(format!("it does not hold image {id}, the engine's ID for it")));
    }
    Ok(id.clone())
}

/// Calls `f` with each regular file of the tar `body` and its path (`./` removed), in
/// order; links, directories and special files are skipped.
fn each_file<R: Read>(body: R, mut f: impl FnMut(String, &mut tar::Entry<'_, R>) -> io::Result<()>) -> io::Result<()> {
    let mut archive = tar::Archive::new(body);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path()?.to_string_lossy().trim_start_matches("./").to_string();
        f(path, &mut entry)?;
    }
    Ok(())
}

fn read_small(r: impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(SMALL).read_to_end(&mut out)?;
    Ok(out)
}

/// Whether the store holds the manifest `digest`, its config and every layer (for an index,
/// every manifest it lists).
fn complete(store: &Store, digest: &Digest) -> bool {
    let Some(m) = store.document(digest).and_then(|b| serde_json::from_slice::<Value>(&b).ok()) else { return false };
    if let Some(children) = m.get("manifests").and_then(Value::as_array) {
        return children.iter().all(|c| {
            c.get("digest").and_then(Value::as_str).and_then(Digest::parse).is_some_and(|d| complete(store, &d))
        });
    }
    let blobs = m.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
    let config_ok = m
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(Value::as_str)
        .and_then(Digest::parse)
        .is_some_and(|d| store.document(&d).is_some());
    config_ok
        && blobs.iter().all(|l| {
            let d = l.get("digest").and_then(Value::as_str).and_then(Digest::parse);
            let n = l.get("size").and_then(Value::as_u64);
            matches!((d, n), (Some(d), Some(n)) if store.has(&d, n))
        })
}

/// A layer found in the export: its diff_id and its gzip blob in the store.
struct Stored {
    diff_id: Digest,
    digest: Digest,
    size: u64,
}

/// Reads a docker-archive (either the legacy `<id>/layer.tar` form or the OCI-layout
/// form of newer engines): small entries are kept, large ones compressed into the store
/// as they stream by. Returns the manifest's digest and the config's.
fn from_archive(body: impl Read, store: &Store) -> io::Result<Option<(Digest, Digest)>> {
    let mut small: HashMap<String, Vec<u8>> = HashMap::new();
    let mut stored: HashMap<String, Stored> = HashMap::new();
    each_file(body, |path, entry| {
        if entry.size() <= SMALL {
            small.insert(path, read_small(entry)?);
        } else {
            stored.insert(path, compress_into(entry, store)?);
        }
        Ok(())
    })?;
    let Some(manifest) = small.get("manifest.json") else { return Ok(None) };
    let manifest: Value =
        serde_json::from_slice(manifest).map_err(|_| io::Error::other("manifest.json is not JSON"))?;
    let Some(first) = manifest.as_array().and_then(|a| a.first()) else { return Ok(None) };
    let config_path = first.get("Config").and_then(Value::as_str).ok_or_else(|| io::Error::other("no Config"))?;
    let config = small.get(config_path).ok_or_else(|| io::Error::other("the config is missing"))?.clone();
    let config_digest = Digest::of(&config);
    store.put_document(&config_digest, &config)?;
    let mut layers = Vec::new();
    for path in first.get("Layers").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let layer = match stored.remove(path) {
            Some(l) => l,
            None => {
                let bytes = small.get(path).ok_or_else(|| io::Error::other(format!("layer {path} is missing")))?;
                compress_into(&mut &bytes[..], store)?
            }
        };
        layers.push(layer);
    }
    let config_json: Value = serde_json::from_slice(&config).map_err(|_| io::Error::other("the config is not JSON"))?;
    let diff_ids: Vec<&str> = config_json
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !diff_ids.iter().copied().eq(layers.iter().map(|l| l.diff_id.as_str())) {
        return Err(io::Error::other("the layers do not match the config's diff_ids"));
    }
    let manifest = canonical_json(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": MEDIA_TYPE_GZIP, "digest": l.digest.to_string(), "size": l.size})).collect::<Vec<_>>(),
    }));
    let digest = Digest::of(&manifest);
    store.put_document(&digest, &manifest)?;
    Ok(Some((digest, config_digest)))
}

/// Compresses an uncompressed layer into the store: its diff_id and blob. The tar is
/// spooled to a file first (an archive entry cannot cross threads; compression does).
fn compress_into(r: &mut dyn Read, store: &Store) -> io::Result<Stored> {
    let mut spool = store.temp()?;
    let mut plain = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, spool.file_mut()));
    io::copy(r, &mut plain)?;
    let (buf, diff_id, _) = plain.finish();
    buf.into_inner().map_err(|e| e.into_error())?;
    let mut tmp = store.temp()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, tmp.file_mut()));
    let level = Compressor::default().level;
    let input = io::BufReader::with_capacity(1 << 20, spool.reopen()?);
    let (buf, digest, size) = crate::image::gzip::compress(input, out, level, threads)?.finish();
    buf.into_inner().map_err(|e| e.into_error())?;
    store.persist(tmp, &digest, size)?;
    // Compressed here from the tar whose digest is known: nothing to learn by reading it.
    let facts =
        crate::store::verify::Facts { format: crate::store::verify::Format::Gzip, diff_id: Some(diff_id.to_string()) };
    crate::store::verify::remember(store, &digest, &facts);
    Ok(Stored { diff_id, digest, size })
}
