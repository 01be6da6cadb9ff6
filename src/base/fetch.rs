//! Getting a base's bytes: from its registry (one lazily opened session), from an `oci:`
//! layout (copied into the store, each blob checked), and the layers a sink or the fit
//! check needs, fetched into the store only when it lacks them.

use crate::digest::{Digest, HashingWriter};
use crate::image::blob::{Blob, Origin};
use crate::registry::client::Client;
use crate::registry::pull::{self, Manifest};
use crate::registry::session::Session;
use crate::registry::{self, PushOptions, Target};
use crate::store::Store;
use serde_json::Value;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

/// A base's repository on a registry, through the run's session with it.
pub(crate) struct Remote<'t> {
    client: &'t Client,
    pub(crate) target: Target,
    opts: &'t PushOptions,
}

impl<'t> Remote<'t> {
    pub(crate) fn new(client: &'t Client, target: Target, opts: &'t PushOptions) -> Remote<'t> {
        Remote { client, target, opts }
    }

    async fn session(&self) -> Result<Arc<Session>, registry::Error> {
        self.client.session(&self.target.registry, &self.target.bases, self.opts).await
    }

    pub(crate) async fn manifest(&self, reference: &str) -> Result<Manifest, registry::Error> {
        pull::get_manifest(&*self.session().await?, &self.target.repository, reference).await
    }

    /// What to say of the registry's 401 or 403 to a pull (see
    /// [`registry::preflight::refusal`]); `None` for another error.
    pub(crate) async fn refusal(&self, e: &registry::Error) -> Option<String> {
        let session = self.session().await.ok()?;
        let rights = registry::preflight::Rights::Pull;
        registry::preflight::refusal(&session, &self.target.repository, e, self.opts, self.opts.given.as_ref(), rights)
            .await
    }

    /// The repository's tags, or `None` when the registry has no such repository.
    pub(crate) async fn tags(&self) -> Result<Option<Vec<String>>, registry::Error> {
        pull::tags(&*self.session().await?, &self.target.repository).await
    }

    /// Downloads a blob into the store, checked against its digest and size.
    pub(crate) async fn blob_into_store(
        &self,
        store: &Store,
        digest: &Digest,
        size: u64,
    ) -> Result<(), registry::Error> {
        let s = self.session().await?;
        pull::into_store(&s, &self.target.repository, store, digest, size).await
    }
}

/// The check's [`crate::store::verify::Fault`] inside a download's error, when that is what failed.
fn fault_of(e: registry::Error) -> Result<crate::store::verify::Fault, registry::Error> {
    match e {
        registry::Error::Io { source, .. }
            if source.get_ref().is_some_and(|s| s.is::<crate::store::verify::Fault>()) =>
        {
            Ok(*source.into_inner().expect("has an inner error").downcast().expect("is a Fault"))
        }
        other => Err(other),
    }
}

/// The run's registry client (see [`registry::client`]).
pub(crate) fn client(opts: &PushOptions) -> Result<&Client, super::Error> {
    opts.client().map_err(|e| super::Error::Client { source: Box::new(e) })
}

/// Fetches every held blob among `blobs` that the store lacks, from its origin; blobs with
/// no origin must be there already. Says on stderr what it downloads.
pub(crate) fn missing(blobs: &[&Blob], opts: &PushOptions) -> Result<(), super::Error> {
    let store = Store::user();
    let wanted: Vec<&Blob> =
        blobs.iter().copied().filter(|b| b.held_at().is_some() && !store.has(&b.digest, b.size)).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let bytes: u64 = wanted.iter().map(|b| b.size).sum();
    let s = if wanted.len() == 1 { "" } else { "s" };
    crate::shell::status("Downloading", format_args!("{} base layer{s} ({:.1} MB)", wanted.len(), bytes as f64 / 1e6));
    // Only an offline resolution holds a blob it cannot fetch.
    if let Some(blob) = wanted.iter().find(|b| matches!(b.held_at(), Some((_, None)))) {
        return Err(super::Error::NotCached { base: format!("layer {}", blob.digest), store: store.root().into() });
    }
    let client = client(opts)?;
    client.block_on(into_store_all(client, wanted, &store, opts)).map_err(|(origin, e)| match fault_of(e) {
        Ok(fault) => super::Error::Layer(fault),
        Err(e) => {
            super::Error::Registry { base: format!("{}/{}", origin.registry, origin.repository), source: Box::new(e) }
        }
    })
}

/// Downloads each held blob of `blobs` that has an origin and that the store lacks, one
/// session per origin; a failure names the origin.
pub(crate) async fn into_store_all(
    client: &Client,
    blobs: impl IntoIterator<Item = &Blob>,
    store: &Store,
    opts: &PushOptions,
) -> Result<(), (Origin, registry::Error)> {
    let mut remotes: Vec<Remote> = Vec::new();
    for blob in blobs {
        let Some((_, Some(origin))) = blob.held_at() else { continue };
        if store.has(&blob.digest, blob.size) {
            continue;
        }
        let i = match remotes
            .iter()
            .position(|r| r.target.registry == origin.registry && r.target.repository == origin.repository)
        {
            Some(i) => i,
            None => {
                let target = Target::of_origin(origin, &opts.insecure_registries).map_err(|e| (origin.clone(), e))?;
                remotes.push(Remote::new(client, target, opts));
                remotes.len() - 1
            }
        };
        remotes[i].blob_into_store(store, &blob.digest, blob.size).await.map_err(|e| (origin.clone(), e))?;
    }
    Ok(())
}

/// Copies the image `tag` names in the OCI layout at `dir` (the only one, without a tag)
/// into the store, every blob checked against its digest; returns its digest.
pub(crate) fn import_layout(dir: &Path, tag: Option<&str>, store: &Store) -> Result<String, String> {
    let blob_path = |d: &Digest| dir.join("blobs").join("sha256").join(d.hex());
    let index_bytes = crate::fsutil::read_regular(&dir.join("index.json"), 4 << 20)
        .map_err(|e| format!("{}: {e}", dir.join("index.json").display()))?;
    let index: Value = serde_json::from_slice(&index_bytes)
        .map_err(|_| format!("{} is not JSON", dir.join("index.json").display()))?;
    let entries = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    let name = |e: &Value| {
        e.get("annotations")
            .and_then(|a| a.get(crate::image::annotation::REF_NAME))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let entry = match tag {
        Some(t) => entries.iter().find(|e| name(e).as_deref() == Some(t)),
        None if entries.len() == 1 => entries.first(),
        None => None,
    };
    let Some(entry) = entry else {
        let names: Vec<String> = entries.iter().filter_map(name).collect();
        return Err(format!(
            "{} has no image{}; it has: {}",
            dir.display(),
            tag.map(|t| format!(" named {t:?}")).unwrap_or_else(|| " without a tag (it holds several)".into()),
            if names.is_empty() { "no named image".into() } else { crate::progress::some_of(&names, 20) }
        ));
    };
    let top = entry
        .get("digest")
        .and_then(Value::as_str)
        .and_then(Digest::parse)
        .ok_or("an index.json entry has no valid digest")?;
    // Walk index -> manifests -> config and layers, copying each blob once.
    let mut queue = vec![top.clone()];
    let mut seen = std::collections::HashSet::new();
    while let Some(d) = queue.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        let path = blob_path(&d);
        let doc = copy_checked(&path, &d, store).map_err(|e| format!("blob {d} of {}: {e}", dir.display()))?;
        let Some(doc) = doc.and_then(|b| serde_json::from_slice::<Value>(&b).ok()) else { continue };
        let refs = doc
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(doc.get("config"))
            .chain(doc.get("layers").and_then(Value::as_array).into_iter().flatten());
        for r in refs {
            if let Some(d) = r.get("digest").and_then(Value::as_str).and_then(Digest::parse) {
                queue.push(d);
            }
        }
    }
    Ok(top.to_string())
}

/// Copies the blob at `path` into the store unless it is there, checking its digest;
/// returns its bytes when it is small enough to be a document.
fn copy_checked(path: &Path, digest: &Digest, store: &Store) -> io::Result<Option<Vec<u8>>> {
    let file = crate::digest::open_regular(path)?;
    let size = file.metadata()?.len();
    if size <= 4 << 20 {
        let mut bytes = Vec::new();
        file.take(4 << 20).read_to_end(&mut bytes)?;
        if &Digest::of(&bytes) != digest {
            return Err(io::Error::other(format!("its content's digest is {}", Digest::of(&bytes))));
        }
        if store.document(digest).is_none() {
            store.put_document(digest, &bytes)?;
        }
        return Ok(Some(bytes));
    }
    if store.has(digest, size) {
        return Ok(None);
    }
    let mut tmp = store.temp()?;
    let mut w = HashingWriter::new(tmp.file_mut());
    io::copy(&mut file.take(size), &mut w)?;
    let (_, got, n) = w.finish();
    if &got != digest || n != size {
        return Err(io::Error::other(format!("its content's digest is {got}")));
    }
    store.persist(tmp, digest, size)?;
    Ok(None)
}
