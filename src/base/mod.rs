//! Base images: what `base = "..."` names, resolved to a digest once per run, its
//! manifests and config kept in the user-level store (`store`), and turned into one
//! `Parent` per platform. Layers are held by digest and fetched only when a sink or the
//! fit check needs their bytes (`fetch`).

pub(crate) mod engine;
pub(crate) mod fetch;
pub(crate) mod fit;

use crate::digest::Digest;
use crate::image::blob::Blob;
use crate::image::index::{MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_OCI_INDEX};
use crate::image::layer::{self, Layer};
use crate::image::parent::Parent;
use crate::image::{
    MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_MANIFEST,
};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::{self, PushOptions, Target};
use crate::store::{verify, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `base` names.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum BaseRef {
    /// No base: the image holds only what we write (the default).
    #[default]
    Scratch,
    /// `registry/repo[:tag][@digest]`; a name with no registry host is Docker Hub's.
    Registry(Reference),
    /// `oci:DIR[:tag]`: an OCI image layout on disk.
    Layout { dir: PathBuf, tag: Option<String>, shown: String },
    /// `docker:NAME[:TAG]`: an image in the local Docker engine.
    Engine { name: Reference, shown: String },
}

/// Transports other tools name, which a base cannot be read from (`docker-archive:` and
/// `oci-archive:` get a tip of their own).
const OTHER_SCHEMES: &[&str] = &["containers-storage", "dir", "http", "https", "file", "ostree", "sif", "podman"];

impl BaseRef {
    /// Parses a base reference; a relative `oci:` directory is relative to `dir` (the
    /// package's directory for Cargo.toml, the current one for `--base`).
    pub(crate) fn parse(text: &str, dir: &Path) -> Result<BaseRef, String> {
        let expected = "expected scratch, REGISTRY/REPO[:TAG][@sha256:DIGEST], oci:DIR[:TAG] or docker:NAME[:TAG]";
        if text == "scratch" {
            return Ok(BaseRef::Scratch);
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            // DIR[:tag]: a last ':' followed by a valid tag (no '/') names the tag.
            let (path, tag) = match rest.rsplit_once(':') {
                Some((p, t)) if !p.is_empty() && crate::reference::check_tag(t).is_ok() => (p, Some(t.to_string())),
                _ => (rest, None),
            };
            if path.is_empty() {
                return Err(format!("{text:?} names no directory; {expected}"));
            }
            let given = Path::new(path);
            // What the image records: the name as written, never an absolute host path.
            let shown_dir = if given.is_absolute() {
                given.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
            } else {
                path.to_string()
            };
            let shown = match &tag {
                Some(t) => format!("oci:{shown_dir}:{t}"),
                None => format!("oci:{shown_dir}"),
            };
            return Ok(BaseRef::Layout { dir: dir.join(given), tag, shown });
        }
        if let Some(rest) = text.strip_prefix("docker://") {
            return Err(format!(
                "{text:?} is skopeo's way to name a registry image; write it without the scheme ({rest}) for a \
                 registry, or docker:NAME[:TAG] for an image in the local Docker engine"
            ));
        }
        // `docker-daemon:` is skopeo's name for the same place: the local Docker engine.
        if let Some(rest) = text.strip_prefix("docker:").or_else(|| text.strip_prefix("docker-daemon:")) {
            let name = Reference::parse(rest).map_err(|e| e.to_string())?;
            return Ok(BaseRef::Engine { name, shown: format!("docker:{rest}") });
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (file, tag) = match rest.rsplit_once(':') {
                Some((f, t)) if !f.is_empty() && crate::reference::check_tag(t).is_ok() => (f, t),
                _ => (rest, "TAG"),
            };
            return Err(format!(
                "{text:?} is an OCI layout in a tar, which a base is not read from; unpack it and name the directory: \
                 `mkdir base && tar -xf {file} -C base`, then oci:base:{tag}"
            ));
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            return Err(format!(
                "{text:?} is a `docker save` tar, which a base is not read from; load it into the engine \
                 (`docker load -i {}`) and name the image it prints: docker:NAME[:TAG]",
                rest.split(':').next().unwrap_or(rest)
            ));
        }
        if let Some((scheme, _)) = text.split_once(':') {
            let lower = scheme.to_ascii_lowercase();
            if OTHER_SCHEMES.contains(&lower.as_str()) || text.contains("://") {
                return Err(format!("unknown scheme `{scheme}:` in {text:?}; {expected}"));
            }
        }
        let r = Reference::parse(text).map_err(|e| format!("{e}; {expected}"))?;
        let r = if r.registry.is_none() { Reference { registry: Some("docker.io".into()), ..r } } else { r };
        Ok(BaseRef::Registry(r))
    }

    /// The name the image records in `org.opencontainers.image.base.name`.
    pub(crate) fn shown(&self) -> String {
        match self {
            BaseRef::Scratch => "scratch".into(),
            BaseRef::Registry(r) => r.to_string(),
            BaseRef::Layout { shown, .. } | BaseRef::Engine { shown, .. } => shown.clone(),
        }
    }
}

/// What the registry holds, asked when a base is not there.
#[derive(Debug)]
pub(crate) enum Found {
    /// No such repository.
    NoRepository,
    /// The repository, with these tags.
    Tags(Vec<String>),
    /// The tag list could not be read: the registry's 404, as it was.
    Unknown(Box<registry::Error>),
}

/// Whether `tag` is one the referrers tag schema writes: `sha256-` and 64 hex digits.
fn is_referrers_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The body of [`Error::NotThere`]: which part of the name is wrong, and what exists.
fn not_there(registry: &str, repository: &str, reference: &str, found: &Found) -> String {
    let what = if Digest::parse(reference).is_some() { "manifest" } else { "tag" };
    match found {
        Found::NoRepository => format!("{registry} has no repository {repository}"),
        Found::Tags(tags) if tags.is_empty() => {
            format!("{registry}/{repository} has no {what} {reference}, and no tag at all")
        }
        Found::Tags(tags) => format!(
            "{registry}/{repository} has no {what} {reference}; its tags: {}",
            crate::progress::some_of(tags, 20)
        ),
        Found::Unknown(e) => e.to_string(),
    }
}

/// Why a base could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot pull the base image {base}: {source}")]
    Registry { base: String, source: Box<registry::Error> },
    #[error("the base image {base} is not there: {}", not_there(registry, repository, reference, found))]
    NotThere { base: String, registry: String, repository: String, reference: String, found: Found },
    #[error("cannot pull the base image {base}: {message}")]
    Refused { base: String, message: String },
    #[error("the Docker engine holds the index of {base}, but not its {platform} image (a multi-platform image pulled for one platform)")]
    NotInEngine { base: String, platform: String },
    #[error("the base image {base} is {what}, not a container image")]
    NotAnImage { base: String, what: String },
    #[error("the base image {base} has no image for {wanted}; it has: {}", if available.is_empty() { "none".to_string() } else { crate::progress::some_of(available, 20) })]
    MissingPlatform { base: String, wanted: String, available: Vec<String> },
    #[error("the base image {base} is named by a tag, and --offline cannot resolve a tag to a digest")]
    OfflineTag { base: String },
    #[error("the base image {base} is not in the cache at {}, and --offline forbids pulling it", store.display())]
    NotCached { base: String, store: PathBuf },
    #[error("the base image {base} is malformed: {message}")]
    Malformed { base: String, message: String },
    #[error("cannot read the base image {base}: {message}")]
    Local { base: String, message: String },
    #[error("cannot read the base image {base}: {source}")]
    Engine { base: String, source: crate::engine::Error },
    #[error("cannot set up the registry client: {source}")]
    Client { source: Box<registry::Error> },
    #[error("cannot use the base image cache at {}: {source}", store.display())]
    Store { store: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Layer(#[from] verify::Fault),
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            // The registry's own message says how to log in.
            Error::Registry { source, .. } => match source.status() {
                // The top manifest is there (else NotThere): a part it names is not.
                Some(404) => Some("the registry lacks a part the base's manifest names: push the base there again".into()),
                _ => None,
            },
            Error::NotThere { found: Found::NoRepository, .. } => {
                Some("check the repository's name, and the registry's host".into())
            }
            Error::NotThere { found: Found::Tags(tags), .. } if tags.is_empty() => {
                Some("push the base there first, or name another repository".into())
            }
            Error::NotThere { found: Found::Tags(_), .. } => Some("name one of its tags, or push that tag first".into()),
            Error::NotThere { found: Found::Unknown(_), registry, repository, .. } => Some(format!(
                "check the base's name and tag: `skopeo list-tags{} docker://{registry}/{repository}` lists the tags",
                if crate::registry::transport::insecure_entry(registry).is_ok_and(|(h, _)| crate::registry::transport::is_loopback(&h)) { " --tls-verify=false" } else { "" }
            )),
            // The message carries its fix.
            Error::Refused { .. } => None,
            Error::NotInEngine { base, platform } => Some(format!(
                "pull that platform into the engine (`docker pull --platform {platform} {}`), or name the base in its \
                 registry (--base REGISTRY/REPO:TAG)",
                base.trim_start_matches("docker:")
            )),
            Error::NotAnImage { .. } => Some("name an image (a manifest or an index of images) as the base".into()),
            Error::MissingPlatform { .. } => {
                Some("choose platforms the base has (--platform), or a base that has this one".into())
            }
            Error::OfflineTag { base } => Some(format!(
                "pin the base by digest (base = \"{}@sha256:...\"; `skopeo inspect docker://{base}` shows it), or run without --offline",
                base.split('@').next().unwrap_or(base)
            )),
            Error::NotCached { .. } => Some("run once without --offline to fill the cache".into()),
            Error::Local { base, .. } if base.starts_with("docker:") => {
                Some("check the name with `docker images`, or load the image first (`docker load -i FILE`)".into())
            }
            Error::Local { .. } => Some("check the directory: `skopeo inspect oci:DIR:TAG` should read it".into()),
            Error::Store { .. } => Some("set XDG_CACHE_HOME to a directory you can write".into()),
            Error::Engine { source, .. } => source.hint().or_else(|| {
                Some("check that the Docker engine answers (`docker info`); for a slow one, raise \
                      CARGO_CONTAINERIZE_TIMEOUT_SECS"
                    .into())
            }),
            Error::Layer(fault) => fault.hint(),
            Error::Malformed { .. } | Error::Client { .. } => None,
        }
    }
}

/// Where the documents and blobs of a base come from while it is resolved.
enum Source<'a, 't> {
    Registry(&'a fetch::Remote<'t>),
    /// Everything is in the store already (an `oci:` layout copied in, an engine's image
    /// imported).
    Store,
    /// `--offline`: the store alone, and what it lacks is not pulled.
    Offline,
}

impl Source<'_, '_> {
    /// The error for a document or blob the store lacks, when it cannot be fetched.
    fn missing(&self, store: &Store, base: &str, what: String) -> Error {
        match self {
            Source::Offline => Error::NotCached { base: base.into(), store: store.root().into() },
            _ => Error::Malformed { base: base.into(), message: format!("{what} is missing from the image") },
        }
    }
}

/// Resolves `base` for each of `platforms`, in order: `None` for scratch. Tags are
/// resolved once, here; every document is checked against its digest and kept in the
/// user-level store, so a base pinned by digest resolves from the store alone.
pub(crate) fn resolve(
    base: &BaseRef,
    platforms: &[Platform],
    opts: &PushOptions,
    offline: bool,
) -> Result<Option<Vec<Parent>>, Error> {
    let store = Store::user();
    store.sweep();
    let shown = base.shown();
    let parents = match base {
        BaseRef::Scratch => return Ok(None),
        BaseRef::Registry(r) => {
            let client = fetch::client(opts)?;
            client.block_on(async {
                let target = Target::from_reference(r, &opts.insecure_registries)
                    .map_err(|e| Error::Registry { base: shown.clone(), source: Box::new(e) })?;
                let remote = fetch::Remote::new(client, target, opts);
                let top = match (&r.digest, offline) {
                    (Some(d), _) if store.document(d).is_some() => d.to_string(),
                    (Some(_), true) => {
                        return Err(Error::NotCached { base: shown.clone(), store: store.root().into() })
                    }
                    (None, true) => return Err(Error::OfflineTag { base: shown.clone() }),
                    (Some(d), false) => d.to_string(),
                    (None, false) => r.tag_or_default().to_string(),
                };
                let source = if offline { Source::Offline } else { Source::Registry(&remote) };
                resolve_from(&source, &store, &shown, &top, platforms).await
            })?
        }
        BaseRef::Layout { dir, tag, .. } => {
            let top = fetch::import_layout(dir, tag.as_deref(), &store)
                .map_err(|message| Error::Local { base: shown.clone(), message })?;
            fetch::client(opts)?.block_on(resolve_from(&Source::Store, &store, &shown, &top, platforms))?
        }
        BaseRef::Engine { name, .. } => {
            let (top, registry_digest) =
                engine::import(name, &store, &opts.tuning, opts.quiet).map_err(|e| match e {
                    engine::ImportError::Engine(source) => Error::Engine { base: shown.clone(), source },
                    engine::ImportError::Image(message) => Error::Local { base: shown.clone(), message },
                })?;
            let mut parents =
                fetch::client(opts)?.block_on(resolve_from(&Source::Store, &store, &shown, &top, platforms))?;
            for p in &mut parents {
                p.registry_digest = registry_digest.clone();
            }
            parents
        }
    };
    check_stored_layers(&parents, &store, opts)?;
    let mut digests: Vec<String> = parents.iter().map(|p| p.digest.to_string()).collect();
    digests.dedup();
    crate::shell::status("Building", format_args!("on {shown} ({})", digests.join(", ")));
    Ok(Some(parents))
}

/// Checks every layer of `parents` the store holds (an `oci:` or `docker:` base's, or one
/// an earlier run fetched) against what its base claims: read once per blob, remembered
/// after. The others are checked when they are fetched (`fetch::into_store`).
fn check_stored_layers(parents: &[Parent], store: &Store, opts: &PushOptions) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for parent in parents {
        for (layer, blob) in parent.held() {
            // Platforms may share a layer, and each may claim its own diff_id for it.
            if !seen.insert((&blob.digest, &layer.diff_id, &blob.media_type)) || !store.has(&blob.digest, blob.size) {
                continue;
            }
            let claim = verify::Claim {
                base: parent.name.clone(),
                media_type: blob.media_type.clone(),
                diff_id: layer.diff_id.clone(),
            };
            if verify::check(store, &blob.digest, &claim)? == verify::Checked::CompressionOnly && opts.verbose {
                crate::shell::line(format_args!(
                    "base layer {} ({}) of {} is zstd: its compression is checked, its diff_id is not checked",
                    blob.digest, blob.media_type, parent.name
                ));
            }
        }
    }
    Ok(())
}

/// A manifest or index, read from the source (a tag or a digest) or the store.
async fn document(
    source: &Source<'_, '_>,
    store: &Store,
    base: &str,
    reference: &str,
) -> Result<(Vec<u8>, Digest), Error> {
    if let Some(d) = Digest::parse(reference) {
        if let Some(bytes) = store.document(&d) {
            return Ok((bytes, d));
        }
    }
    let Source::Registry(remote) = source else {
        return Err(source.missing(store, base, reference.to_string()));
    };
    let m = remote.manifest(reference).await.map_err(|e| Error::Registry { base: base.into(), source: Box::new(e) })?;
    store.put_document(&m.digest, &m.bytes).map_err(|source| Error::Store { store: store.root().into(), source })?;
    Ok((m.bytes, m.digest))
}

/// A config blob, from the store or the registry.
async fn config(
    source: &Source<'_, '_>,
    store: &Store,
    base: &str,
    digest: &Digest,
    size: u64,
) -> Result<Vec<u8>, Error> {
    if let Some(bytes) = store.document(digest) {
        return Ok(bytes);
    }
    let Source::Registry(remote) = source else {
        return Err(source.missing(store, base, format!("its config {digest}")));
    };
    if size > 4 << 20 {
        return Err(Error::Malformed { base: base.into(), message: format!("its config is {size} bytes long") });
    }
    remote
        .blob_into_store(store, digest, size)
        .await
        .map_err(|e| Error::Registry { base: base.into(), source: Box::new(e) })?;
    store
        .document(digest)
        .ok_or_else(|| Error::Malformed { base: base.into(), message: format!("config {digest} unreadable") })
}

fn json(base: &str, bytes: &[u8], what: &str) -> Result<Value, Error> {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Error::Malformed { base: base.into(), message: format!("its {what} is not a JSON object") })
}

/// The kind of a manifest document.
fn kind(doc: &Value) -> Option<&str> {
    if let Some(t) = doc.get("mediaType").and_then(Value::as_str) {
        return Some(t);
    }
    // Media types are optional in OCI documents: the shape tells.
    if doc.get("manifests").is_some() {
        Some(MEDIA_TYPE_OCI_INDEX)
    } else if doc.get("config").is_some() {
        Some(MEDIA_TYPE_OCI_MANIFEST)
    } else {
        None
    }
}

/// The platform an index entry declares.
fn entry_platform(entry: &Value) -> Option<Platform> {
    let p = entry.get("platform")?;
    let os = p.get("os")?.as_str()?;
    let arch = p.get("architecture")?.as_str()?;
    let variant = p.get("variant").and_then(Value::as_str);
    Some(Platform { os: os.into(), architecture: arch.into(), variant: variant.map(str::to_string) })
}

/// Whether two platforms are the same, as registries write them (`arm64` with or without
/// `v8`, `amd64` with or without `v1`).
pub(crate) fn same_platform(a: &Platform, b: &Platform) -> bool {
    let norm = |p: &Platform| {
        let variant = match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", Some("v8")) | ("amd64", Some("v1")) => None,
            (_, v) => v.map(str::to_string),
        };
        (p.os.clone(), p.architecture.clone(), variant)
    };
    norm(a) == norm(b)
}

async fn resolve_from(
    source: &Source<'_, '_>,
    store: &Store,
    base: &str,
    top: &str,
    platforms: &[Platform],
) -> Result<Vec<Parent>, Error> {
    let (bytes, top_digest) = match document(source, store, base, top).await {
        // Not there: the registry is asked what is, so the error can say which part is wrong.
        Err(Error::Registry { source: e, .. }) if e.status() == Some(404) => {
            let Source::Registry(remote) = source else { unreachable!("only a registry answers 404") };
            let found = match remote.tags().await {
                Ok(None) => Found::NoRepository,
                // The referrers tag schema's tags (`sha256-<hex>`) name no image.
                Ok(Some(tags)) => Found::Tags(tags.into_iter().filter(|t| !is_referrers_tag(t)).collect()),
                Err(_) => Found::Unknown(e),
            };
            let (registry, repository) = (remote.target.registry.clone(), remote.target.repository.clone());
            return Err(Error::NotThere { base: base.into(), registry, repository, reference: top.into(), found });
        }
        Err(Error::Registry { source: e, .. }) if matches!(e.status(), Some(401 | 403)) => {
            let Source::Registry(remote) = source else { unreachable!("only a registry answers 401 or 403") };
            return Err(match remote.refusal(&e).await {
                Some(message) => Error::Refused { base: base.into(), message },
                None => Error::Registry { base: base.into(), source: e },
            });
        }
        other => other?,
    };
    let doc = json(base, &bytes, "manifest")?;
    if doc.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err(Error::NotAnImage {
            base: base.into(),
            what: "a Docker schema 1 manifest (no longer supported)".into(),
        });
    }
    let mut parents = Vec::new();
    match kind(&doc) {
        Some(MEDIA_TYPE_OCI_INDEX | MEDIA_TYPE_DOCKER_LIST) => {
            let entries: Vec<&Value> =
                doc.get("manifests").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
            let available: Vec<(Platform, &Value)> = entries
                .iter()
                .filter_map(|e| entry_platform(e).map(|p| (p, *e)))
                .filter(|(p, _)| p.os != "unknown")
                .collect();
            for wanted in platforms {
                let Some((_, entry)) = available.iter().find(|(p, _)| same_platform(p, wanted)) else {
                    return Err(Error::MissingPlatform {
                        base: base.into(),
                        wanted: wanted.to_string(),
                        available: available.iter().map(|(p, _)| p.to_string()).collect(),
                    });
                };
                let digest = entry.get("digest").and_then(Value::as_str).and_then(Digest::parse).ok_or_else(|| {
                    Error::Malformed { base: base.into(), message: "an index entry has no valid digest".into() }
                })?;
                let (bytes, digest) = match document(source, store, base, digest.as_str()).await {
                    // An engine's index whose platform it does not hold: a multi-platform
                    // image pulled for one platform.
                    Err(Error::Malformed { .. }) if base.starts_with("docker:") => {
                        return Err(Error::NotInEngine { base: base.into(), platform: wanted.to_string() })
                    }
                    other => other?,
                };
                let doc = json(base, &bytes, "manifest")?;
                parents.push(image(source, store, base, &doc, digest, wanted).await?);
            }
        }
        Some(MEDIA_TYPE_OCI_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST) => {
            for wanted in platforms {
                parents.push(image(source, store, base, &doc, top_digest.clone(), wanted).await?);
            }
        }
        other => {
            let what = other.map_or("a document of no known type".to_string(), |t| format!("a document of type {t}"));
            return Err(Error::NotAnImage { base: base.into(), what });
        }
    }
    Ok(parents)
}

/// One platform's image: its config (checked to be an image config for `wanted`) and its
/// layers, held by digest.
async fn image(
    source: &Source<'_, '_>,
    store: &Store,
    base: &str,
    manifest: &Value,
    digest: Digest,
    wanted: &Platform,
) -> Result<Parent, Error> {
    let malformed = |message: String| Error::Malformed { base: base.into(), message };
    if let Some(t) = manifest.get("artifactType").and_then(Value::as_str) {
        return Err(Error::NotAnImage { base: base.into(), what: format!("an artifact of type {t}") });
    }
    let cfg = manifest.get("config").ok_or_else(|| malformed("its manifest has no config".into()))?;
    let cfg_type = cfg.get("mediaType").and_then(Value::as_str).unwrap_or_default();
    if cfg_type != MEDIA_TYPE_OCI_CONFIG && cfg_type != MEDIA_TYPE_DOCKER_CONFIG {
        return Err(Error::NotAnImage { base: base.into(), what: format!("an artifact (its config is {cfg_type:?})") });
    }
    let descriptor = |d: &Value| -> Result<(String, Digest, u64), Error> {
        let media_type = d.get("mediaType").and_then(Value::as_str).unwrap_or_default().to_string();
        let digest = d.get("digest").and_then(Value::as_str).and_then(Digest::parse);
        let size = d.get("size").and_then(Value::as_u64);
        match (digest, size) {
            (Some(digest), Some(size)) => Ok((media_type, digest, size)),
            _ => Err(malformed("a descriptor lacks a valid sha256 digest or size".into())),
        }
    };
    let (_, cfg_digest, cfg_size) = descriptor(cfg)?;
    let config_bytes = config(source, store, base, &cfg_digest, cfg_size).await?;
    let config = json(base, &config_bytes, "config")?;
    let platform = Platform {
        os: config.get("os").and_then(Value::as_str).unwrap_or_default().into(),
        architecture: config.get("architecture").and_then(Value::as_str).unwrap_or_default().into(),
        variant: config.get("variant").and_then(Value::as_str).map(str::to_string),
    };
    if !same_platform(&platform, wanted) {
        return Err(Error::MissingPlatform {
            base: base.into(),
            wanted: wanted.to_string(),
            available: vec![platform.to_string()],
        });
    }
    let diff_ids: Vec<Digest> = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|d| d.as_str().and_then(Digest::parse)).collect())
        .unwrap_or_default();
    let layer_docs = manifest.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
    if layer_docs.len() != diff_ids.len() {
        return Err(malformed(format!(
            "its manifest lists {} layers but its config {} diff_ids",
            layer_docs.len(),
            diff_ids.len()
        )));
    }
    let origin = match source {
        Source::Registry(remote) => Some(Arc::new(crate::image::blob::Origin {
            registry: remote.target.registry.clone(),
            repository: remote.target.repository.clone(),
        })),
        Source::Store | Source::Offline => None,
    };
    let mut layers = Vec::new();
    for (d, diff_id) in layer_docs.iter().zip(diff_ids) {
        let (media_type, digest, size) = descriptor(d)?;
        // A Docker tar layer is an OCI tar layer: the same bytes.
        let media_type =
            if media_type == layer::MEDIA_TYPE_DOCKER_TAR { layer::MEDIA_TYPE_TAR.to_string() } else { media_type };
        if !layer::is_layer_type(&media_type) {
            return Err(malformed(format!("layer {digest} has media type {media_type:?}, which cannot be passed on")));
        }
        verify::claim(
            &digest,
            verify::Claim { base: base.into(), media_type: media_type.clone(), diff_id: diff_id.clone() },
        );
        let blob = Blob::held(&media_type, digest.clone(), size, store.path(&digest), origin.clone());
        layers.push(Layer::held(blob, diff_id, String::new()));
    }
    Ok(Parent { name: base.to_string(), digest, platform: wanted.clone(), config, layers, registry_digest: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_by_scheme() {
        let dir = Path::new("/pkg");
        assert_eq!(BaseRef::parse("scratch", dir), Ok(BaseRef::Scratch));
        let BaseRef::Registry(r) = BaseRef::parse("127.0.0.1:5000/base/cc:12", dir).unwrap() else { panic!() };
        assert_eq!(
            (r.registry.as_deref(), r.repository.as_str(), r.tag.as_deref()),
            (Some("127.0.0.1:5000"), "base/cc", Some("12"))
        );
        let BaseRef::Registry(r) = BaseRef::parse("debian:12", dir).unwrap() else { panic!() };
        assert_eq!(r.registry.as_deref(), Some("docker.io"));
        assert_eq!(
            BaseRef::parse("oci:layouts/cc:v1", dir),
            Ok(BaseRef::Layout {
                dir: "/pkg/layouts/cc".into(),
                tag: Some("v1".into()),
                shown: "oci:layouts/cc:v1".into()
            })
        );
        let BaseRef::Layout { shown, tag, .. } = BaseRef::parse("oci:/home/me/secret/cc", dir).unwrap() else {
            panic!()
        };
        assert_eq!((shown.as_str(), tag), ("oci:cc", None), "no host path is recorded");
        assert!(matches!(BaseRef::parse("docker:debian:12", dir), Ok(BaseRef::Engine { .. })));
        // skopeo's name for the engine means the engine here too, recorded as docker:.
        let Ok(BaseRef::Engine { name, shown }) = BaseRef::parse("docker-daemon:cc:12", dir) else { panic!() };
        assert_eq!((name.repository.as_str(), shown.as_str()), ("cc", "docker:cc:12"));
        // Tars are refused with the command that makes them readable.
        let oci = BaseRef::parse("oci-archive:out/app.tar:1", dir).unwrap_err();
        assert!(oci.contains("`mkdir base && tar -xf out/app.tar -C base`, then oci:base:1"), "{oci}");
        assert!(is_referrers_tag(&format!("sha256-{}", "a".repeat(64))));
        assert!(!is_referrers_tag("sha256-abc") && !is_referrers_tag("1.0"));
        let docker = BaseRef::parse("docker-archive:app.tar", dir).unwrap_err();
        assert!(docker.contains("`docker load -i app.tar`") && docker.contains("docker:NAME[:TAG]"), "{docker}");
        for bad in ["docker-archive:/tmp/x.tar", "https://reg/x", "oci:", "Bad Name", "docker://ghcr.io/o/x"] {
            assert!(BaseRef::parse(bad, dir).is_err(), "{bad}");
        }
        assert!(BaseRef::parse("containers-storage:x", dir).unwrap_err().contains("unknown scheme"));
    }

    #[test]
    fn platforms_match_as_registries_write_them() {
        let p = |a: &str, v: Option<&str>| Platform::linux(a, v);
        assert!(same_platform(&p("arm64", Some("v8")), &p("arm64", None)));
        assert!(!same_platform(&p("arm", Some("v6")), &p("arm", Some("v7"))));
        assert!(!same_platform(&p("amd64", None), &p("arm64", None)));
    }
}
