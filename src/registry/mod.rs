//! Registry push over the Docker Registry HTTP API v2 / OCI distribution spec: blobs first
//! (existence check, cross-repository mount, upload), then the manifest, per reference.

pub(crate) mod ahead;
pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod credentials;
pub(crate) mod error;
pub(crate) mod growing;
pub(crate) mod preflight;
pub(crate) mod pull;
pub(crate) mod referrers;
pub(crate) mod session;
pub(crate) mod transport;
pub(crate) mod upload;

pub use credentials::Credentials;
pub use error::Error;
pub(crate) use growing::upload_growing_blocking;

use crate::digest::Digest;
use crate::image::blob::Blob;
use crate::image::index::Index;
use crate::image::referrer::Referrer;
use crate::image::{Artifact, Image, MediaTypes};
use crate::progress::{Event, Progress};
use crate::reference::Reference;
use futures_util::{stream, StreamExt};
use reqwest::Url;
use session::Session;
use std::collections::HashMap;
use std::sync::Arc;
use transport::ClientOptions;
use upload::Started;

/// How many blobs upload at once.
pub(crate) const MAX_CONCURRENT_UPLOADS: usize = 4;
/// How many times one blob is tried from its existence check.
pub(crate) const BLOB_ATTEMPTS: u32 = 5;

/// Options of a push, from the command line.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Hosts (`host` or `host:port`) reached over plain HTTP; loopback always is.
    pub insecure_registries: Vec<String>,
    /// Extra PEM root certificates (`--ca-cert`); `SSL_CERT_FILE` is honoured too.
    pub ca_certs: Vec<std::path::PathBuf>,
    /// Explicit credentials (`--username` + `--password-stdin`, or the CI variables), each
    /// for one registry host (`host[:port]`); other hosts look theirs up.
    pub credentials: Vec<(String, Credentials)>,
    /// Where the explicit credentials came from, for a registry's refusal of them.
    pub given: Option<credentials::Source>,
    /// Trace requests on stderr (never secrets).
    pub verbose: bool,
    /// Say nothing on stderr but errors.
    pub quiet: bool,
    pub tuning: crate::tuning::Tuning,
    /// The run's runtime, HTTP client and sessions, made on first use (see [`client`]).
    pub shared: client::Shared,
}

impl PushOptions {
    pub(crate) fn client_options(&self) -> ClientOptions {
        ClientOptions {
            ca_certs: self.ca_certs.clone(),
            insecure: self.insecure_registries.clone(),
            verbose: self.verbose,
            quiet: self.quiet,
            tuning: self.tuning.clone(),
        }
    }
}

/// Where a reference points on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// `host[:port]` as written: shown in errors, used to find credentials.
    pub(crate) registry: String,
    /// The API bases to try in order, e.g. `http://127.0.0.1:5000/` then `https://127.0.0.1:5000/`.
    pub(crate) bases: Vec<Url>,
    pub(crate) repository: String,
    /// The tag, or the digest when the reference names only a digest.
    pub(crate) tag: String,
}

impl Target {
    /// Refuses references with no registry host; maps Docker Hub names to its API host.
    pub(crate) fn from_reference(reference: &Reference, insecure: &[String]) -> Result<Target, Error> {
        let Some(registry) = reference.registry.clone() else {
            return Err(Error::NoRegistry {
                reference: reference.to_string(),
                repository: reference.repository.clone(),
            });
        };
        let hub = matches!(registry.as_str(), "docker.io" | "index.docker.io" | "registry-1.docker.io");
        let api_host = if hub { "registry-1.docker.io" } else { registry.as_str() };
        let repository = if hub && !reference.repository.contains('/') {
            format!("library/{}", reference.repository)
        } else {
            reference.repository.clone()
        };
        let bases = transport::schemes(&registry, insecure)
            .iter()
            .map(|scheme| Url::parse(&format!("{scheme}://{api_host}/")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::NoRegistry {
                reference: reference.to_string(),
                repository: reference.repository.clone(),
            })?;
        let tag = match (&reference.tag, &reference.digest) {
            (None, Some(digest)) => digest.to_string(),
            _ => reference.tag_or_default().to_string(),
        };
        Ok(Target { registry, bases, repository, tag })
    }
}

impl Target {
    /// Where a base's blob is fetched from: its origin's registry and repository, as the
    /// reference it was pulled by named them.
    pub(crate) fn of_origin(origin: &crate::image::blob::Origin, insecure: &[String]) -> Result<Target, Error> {
        let mut target = Target::from_reference(
            &Reference {
                registry: Some(origin.registry.clone()),
                repository: origin.repository.clone(),
                tag: None,
                digest: None,
            },
            insecure,
        )?;
        // The repository was mapped already (`library/` on Docker Hub).
        target.repository = origin.repository.clone();
        Ok(target)
    }
}

/// Pushes one image under every reference (same registry/repo or not), returns for each the
/// manifest digest. Blocks on its own runtime; writes nothing to stdout.
pub fn push_blocking(
    image: &Image,
    references: &[Reference],
    opts: &PushOptions,
    progress: &Progress,
) -> Vec<Result<Digest, Error>> {
    push_artifact_blocking(&Artifact::Image(image.clone()), references, &[], opts, progress)
        .into_iter()
        .map(|r| r.map(|p| p.digest))
        .collect()
}

/// Pushes an image or, for several platforms, each platform's manifest by digest and then
/// the index under every reference. Returns for each reference the digest of the top
/// manifest the registry stored.
pub(crate) fn push_artifact_blocking(
    artifact: &Artifact,
    references: &[Reference],
    referrers: &[Referrer],
    opts: &PushOptions,
    progress: &Progress,
) -> Vec<Result<Pushed, Error>> {
    let client = match opts.client() {
        Ok(client) => client,
        // The same setup error for every reference (the first keeps its source).
        Err(first) => {
            let message = first.to_string();
            let mut out = vec![Err(first)];
            out.extend(references.iter().skip(1).map(|_| Err(Error::Tls { message: message.clone() })));
            return out;
        }
    };
    // Our layers are compressed here, before the runtime, if no one did yet.
    if let Err(e) = artifact.manifest() {
        let message = e.to_string();
        let mut out = vec![Err(assembly(e))];
        out.extend(references.iter().skip(1).map(|_| Err(assembly(std::io::Error::other(message.clone())))));
        return out;
    }
    client.block_on(push_artifact(client, artifact, references, referrers, opts, progress))
}

/// A failure to make the image's manifest (compressing its layers, which a caller of the
/// async pushes did first; so only an engineering slip of ours reaches it there).
fn assembly(source: std::io::Error) -> Error {
    Error::Io { what: "the image's layers".into(), source }
}

/// The credentials for `registry`: the explicit ones given for that host, else the
/// keychain's, looked up once per registry and process (a credential helper may prompt, be
/// slow, or time out: its answer, or its failure, is not asked for twice).
pub(crate) fn credentials_for(registry: &str, opts: &PushOptions) -> Result<Option<Credentials>, Error> {
    if let Some((_, c)) = opts.credentials.iter().find(|(host, _)| credentials::same_host(host, registry)) {
        return Ok(Some(c.clone()));
    }
    Ok(looked_up(registry, opts)?.map(|(c, _)| c))
}

/// The keychain's credentials for `registry` and where they were found, looked up once per
/// registry and process.
fn looked_up(registry: &str, opts: &PushOptions) -> Result<Option<(Credentials, credentials::Source)>, Error> {
    type Found = HashMap<String, Result<Option<(Credentials, credentials::Source)>, String>>;
    static FOUND: std::sync::Mutex<Option<Found>> = std::sync::Mutex::new(None);
    let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    let found = found.get_or_insert_with(HashMap::new);
    let looked_up = found
        .entry(registry.to_string())
        .or_insert_with(|| credentials::lookup(registry, &credentials::process_env, opts.tuning.timeout, opts.quiet));
    looked_up.clone().map_err(|message| Error::Credentials { registry: registry.to_string(), message })
}

/// Where the credentials [`credentials_for`] gives for `registry` come from: `given` for
/// the explicit ones, else the keychain entry; `None` when there are none. Blocks while a
/// credential helper answers, unless the lookup was made already.
pub(crate) fn credentials_source(
    registry: &str,
    opts: &PushOptions,
    given: Option<&credentials::Source>,
) -> Result<Option<(Credentials, credentials::Source)>, Error> {
    if let Some((_, c)) = opts.credentials.iter().find(|(host, _)| credentials::same_host(host, registry)) {
        let source = given.cloned().unwrap_or_else(|| credentials::Source {
            from: format!("the credentials given for {registry}"),
            renew: "where they were given".to_string(),
        });
        return Ok(Some((c.clone(), source)));
    }
    looked_up(registry, opts)
}

/// What a reference got: the digest of the top manifest the registry stored, and the
/// manifest digests of the referrers attached beside it (and listed, so readers find them).
#[derive(Debug)]
pub(crate) struct Pushed {
    pub(crate) digest: Digest,
    pub(crate) documents: Vec<Digest>,
}

/// The async core of [`push_artifact_blocking`]: the artifact under every reference, then
/// its `referrers` once per repository.
pub(crate) async fn push_artifact(
    client: &client::Client,
    artifact: &Artifact,
    references: &[Reference],
    referrers: &[Referrer],
    opts: &PushOptions,
    progress: &Progress,
) -> Vec<Result<Pushed, Error>> {
    let mut sessions: HashMap<String, Arc<Session>> = HashMap::new();
    // Per registry, the repositories that already hold every blob (mount sources).
    let mut complete: HashMap<String, Vec<String>> = HashMap::new();
    let mut results = Vec::new();
    // Per (registry, repository): the documents attached there.
    let mut attached: HashMap<(String, String), Vec<Digest>> = HashMap::new();
    for reference in references {
        let pushed =
            push_one(client, &mut sessions, &mut complete, artifact, referrers, reference, opts, progress).await;
        let result = match pushed {
            Ok((digest, standing)) if !referrers.is_empty() => {
                let target = Target::from_reference(reference, &opts.insecure_registries).expect("pushed");
                let key = (target.registry.clone(), target.repository.clone());
                let documents = match attached.get(&key) {
                    Some(done) => done.clone(),
                    None => {
                        let session = &sessions[&target.registry];
                        // The image is in, under its tag: documents that would not attach
                        // are a warning, and the destination is reported with its digest.
                        let done = match attach(session, &target, artifact, &digest, referrers, &standing).await {
                            Ok(done) => done,
                            Err(e) => {
                                crate::shell::warn(format_args!(
                                    "{}/{}: the SBOM and provenance were not attached: {}; the image \
                                     itself was pushed",
                                    target.registry,
                                    target.repository,
                                    crate::redact::redact(&e.to_string())
                                ));
                                Vec::new()
                            }
                        };
                        attached.insert(key, done.clone());
                        done
                    }
                };
                Ok(Pushed { digest, documents })
            }
            Ok((digest, _)) => Ok(Pushed { digest, documents: Vec::new() }),
            Err(e) => Err(e),
        };
        results.push(result);
    }
    results
}

/// Attaches `referrers` in the repository of `target`, where the artifact was pushed as
/// `pushed`, saying on stderr what was attached and what the registry refused; returns the
/// manifest digests of those attached.
async fn attach(
    s: &Session,
    target: &Target,
    artifact: &Artifact,
    pushed: &Digest,
    referrers: &[Referrer],
    standing: &[referrers::Standing],
) -> Result<Vec<Digest>, Error> {
    let name = format!("{}/{}", target.registry, target.repository);
    if pushed != artifact.digest().map_err(assembly)? {
        // The registry took the Docker form only: the referrers describe the OCI one.
        crate::shell::warn(format_args!("{name} refused OCI media types, so no SBOM or provenance was attached"));
        return Ok(Vec::new());
    }
    // Their blobs went with the image's (see `push_one`).
    let done = referrers::attach(s, &target.repository, referrers, standing).await?;
    for (kind, digest) in &done.pushed {
        let i = referrers.iter().position(|r| &r.manifest.digest == digest);
        // With several platforms, each document says which one it describes.
        let platform = match (artifact, i) {
            (Artifact::Index(_), Some(i)) => artifact
                .images()
                .iter()
                .find(|image| image.digest().is_ok_and(|d| d == &referrers[i].subject))
                .map(|image| format!(" ({})", image.platform))
                .unwrap_or_default(),
            _ => String::new(),
        };
        // One already there (a re-push) is no news.
        if i.is_some_and(|i| standing.get(i).is_some_and(|s| s.there())) {
            crate::shell::detail(format_args!("{kind}{platform} {name}@{digest}: already attached"));
        } else {
            crate::shell::status("Attached", format_args!("{kind}{platform} {name}@{digest}"));
        }
    }
    for skipped in &done.skipped {
        crate::shell::warn(format_args!("{name} did not take the referrer {skipped}; the image itself was pushed"));
    }
    Ok(done.pushed.into_iter().map(|(_, digest)| digest).collect())
}

#[allow(clippy::too_many_arguments)]
async fn push_one(
    client: &client::Client,
    sessions: &mut HashMap<String, Arc<Session>>,
    complete: &mut HashMap<String, Vec<String>>,
    artifact: &Artifact,
    referrers: &[Referrer],
    reference: &Reference,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<(Digest, Vec<referrers::Standing>), Error> {
    let target = Target::from_reference(reference, &opts.insecure_registries)?;
    if !sessions.contains_key(&target.registry) {
        let session = client.session(&target.registry, &target.bases, opts).await?;
        sessions.insert(target.registry.clone(), session);
    }
    let session = &sessions[&target.registry];
    let done = complete.entry(target.registry.clone()).or_default();
    let repo = &target.repository;
    // A re-push: when the tag already names this very artifact, the registry holds its
    // blobs, and documents whose manifests are there hold theirs; only what is missing is
    // sent, and the tag is not written again.
    let ours = artifact.digest().map_err(assembly)?;
    // What the tag named, read while cargo built, if that is fresh (see `ahead`): its
    // listing serves the documents of the same manifest.
    let (tagged, standing) = match ahead::take(session, repo, &target.tag).await {
        Some(read) => {
            let tagged = read.digest.as_ref() == Some(ours) && target.tag != ours.as_str();
            if tagged {
                crate::shell::detail(format_args!(
                    "{}/{repo}:{} names {ours} already (read while cargo built)",
                    target.registry, target.tag
                ));
            }
            let known = read.digest.zip(read.listing);
            (Ok(tagged), referrers::standing(session, repo, referrers, known.as_ref()).await)
        }
        None => {
            futures_util::future::join(
                tag_names(session, repo, &target.tag, ours),
                referrers::standing(session, repo, referrers, None),
            )
            .await
        }
    };
    // An unanswered question (a registry that refuses `HEAD`, a failing one) only means
    // the full push, which says what is wrong if something is.
    let tagged = tagged.unwrap_or(false);
    if !done.contains(repo) {
        let mount_from = done.first().cloned();
        // The documents' blobs go with the image's, at once; their manifests follow it.
        let extra: Vec<&Blob> = referrers
            .iter()
            .zip(&standing)
            .filter(|(_, standing)| !standing.there() || !tagged)
            .flat_map(|(r, _)| r.blobs())
            .collect();
        push_blobs(session, repo, (!tagged).then_some(artifact), &extra, mount_from.as_deref(), progress).await?;
        done.push(repo.clone());
    }
    if tagged {
        return Ok((ours.clone(), standing));
    }
    let digest = match artifact {
        Artifact::Image(image) => push_manifest(session, repo, &target.tag, image).await?,
        Artifact::Index(index) => push_index(session, repo, &target.tag, index).await?,
    };
    Ok((digest, standing))
}

/// Whether `tag` in `repo` names the manifest `digest`; false when it names another, or
/// nothing.
async fn tag_names(s: &Session, repo: &str, tag: &str, digest: &Digest) -> Result<bool, Error> {
    if tag == digest.as_str() {
        return Ok(false);
    }
    Ok(tag_digest(s, repo, tag).await?.as_ref() == Some(digest))
}

/// The manifest `tag` in `repo` names (`HEAD`, asking for every manifest type this tool
/// writes), or `None` when there is no such tag.
pub(crate) async fn tag_digest(s: &Session, repo: &str, tag: &str) -> Result<Option<Digest>, Error> {
    let url = s.url(&format!("/v2/{repo}/manifests/{tag}"));
    let accept = [
        crate::image::MEDIA_TYPE_OCI_MANIFEST,
        crate::image::index::MEDIA_TYPE_OCI_INDEX,
        crate::image::MEDIA_TYPE_DOCKER_MANIFEST,
        crate::image::index::MEDIA_TYPE_DOCKER_LIST,
    ]
    .join(", ");
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(value) = reqwest::header::HeaderValue::from_str(&accept) {
        headers.insert(reqwest::header::ACCEPT, value);
    }
    let ok = [reqwest::StatusCode::OK, reqwest::StatusCode::NOT_FOUND];
    let scopes = [auth::push_scope(repo)];
    let resp = s.request(reqwest::Method::HEAD, &url, &scopes, headers, transport::Body::Empty, &ok).await?;
    if resp.status() != reqwest::StatusCode::OK {
        return Ok(None);
    }
    let named = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok());
    Ok(named.and_then(Digest::parse))
}

/// Pushes every image's config and layers (unless `artifact` is `None`) and `extra` (each blob once), up to
/// [`MAX_CONCURRENT_UPLOADS`] at once; the first error wins.
async fn push_blobs(
    s: &Session,
    repo: &str,
    artifact: Option<&Artifact>,
    extra: &[&Blob],
    mount_from: Option<&str>,
    progress: &Progress,
) -> Result<(), Error> {
    let mut scopes = vec![auth::push_scope(repo)];
    if let Some(from) = mount_from {
        scopes.push(auth::pull_scope(from));
    }
    let mut seen = std::collections::HashSet::new();
    let mut ours = Vec::new();
    for image in artifact.map(Artifact::images).unwrap_or_default() {
        ours.extend(image.blobs().map_err(assembly)?);
    }
    let blobs: Vec<&Blob> = ours.into_iter().chain(extra.iter().copied()).filter(|b| seen.insert(&b.digest)).collect();
    // A base's repository on this registry: its blobs are mounted from there, or read.
    for blob in &blobs {
        if let Some((_, Some(origin))) = blob.held_at() {
            let scope = auth::pull_scope(&origin.repository);
            if origin.registry == s.registry && origin.repository != repo && !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
    }
    let results: Vec<Result<(), Error>> = stream::iter(blobs)
        .map(|blob| push_blob(s, repo, &scopes, blob, mount_from, progress))
        .buffer_unordered(MAX_CONCURRENT_UPLOADS)
        .collect()
        .await;
    results.into_iter().collect()
}

/// One blob, retried from its existence check when a try fails for a transient reason.
async fn push_blob(
    s: &Session,
    repo: &str,
    scopes: &[String],
    blob: &Blob,
    mount_from: Option<&str>,
    progress: &Progress,
) -> Result<(), Error> {
    let mut attempt = 1;
    loop {
        match try_push_blob(s, repo, scopes, blob, mount_from, progress).await {
            Err(e) if attempt < BLOB_ATTEMPTS && e.is_retryable() => {
                progress.emit(Event::Retrying { digest: blob.digest.clone(), reason: first_line(&e) });
                tokio::time::sleep(s.transport.backoff.delay(attempt + 2, None)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The first line of an error, secrets removed: it is shown as a retry's reason.
fn first_line(e: &Error) -> String {
    crate::redact::redact(e.to_string().lines().next().unwrap_or_default())
}

/// HEAD; if absent, mount (when another repository has it) or upload it.
async fn try_push_blob(
    s: &Session,
    repo: &str,
    scopes: &[String],
    blob: &Blob,
    mount_from: Option<&str>,
    progress: &Progress,
) -> Result<(), Error> {
    let (digest, size) = (blob.digest.clone(), blob.size);
    // Put there earlier in this run (the upload during compression): its line was shown.
    if s.has_placed(repo, &digest) {
        return Ok(());
    }
    if upload::blob_exists(s, repo, scopes, &blob.digest).await? {
        s.placed(repo, &digest);
        progress.emit(Event::Skipped { digest, size });
        return Ok(());
    }
    // A base's blob is mounted from the base's repository when it is on this registry.
    let held = blob.held_at();
    let mount_from = match held {
        Some((_, Some(origin))) if origin.registry == s.registry && origin.repository != repo => {
            Some(origin.repository.as_str())
        }
        _ => mount_from,
    };
    let location = match mount_from {
        Some(from) => match upload::start_upload(s, repo, scopes, Some((&blob.digest, from))).await {
            Ok(Started::Mounted) => {
                s.placed(repo, &digest);
                progress.emit(Event::Mounted { digest, size, from: from.to_string() });
                return Ok(());
            }
            Ok(Started::Upload(location)) => location,
            // A refused mount is not fatal: upload instead.
            Err(_) => new_upload(s, repo, scopes).await?,
        },
        None => new_upload(s, repo, scopes).await?,
    };
    // Uploading a base's blob needs its bytes: read from the base's repository here.
    if let Some((_, origin)) = held {
        let store = crate::store::Store::user();
        if !store.has(&blob.digest, blob.size) {
            match origin {
                Some(o) if o.registry == s.registry => {
                    pull::into_store(s, &o.repository, &store, &blob.digest, blob.size).await?
                }
                _ => {
                    return Err(Error::Io {
                        what: format!("reading base layer {}", blob.digest),
                        source: std::io::Error::new(std::io::ErrorKind::NotFound, "it is not in the cache"),
                    })
                }
            }
        }
    }
    progress.emit(Event::Started { digest: digest.clone(), size });
    let chunk_size = s.transport.tuning.chunk_size;
    if s.transport.tuning.force_chunked {
        upload::patch_blob(s, scopes, location, blob, chunk_size, progress).await?;
    } else {
        match put_blob(s, scopes, &location, blob, progress).await {
            // Registries that refuse a monolithic PUT (or its size) take chunks.
            Err(e) if matches!(e.status(), Some(405 | 413 | 501)) => {
                let location = new_upload(s, repo, scopes).await?;
                progress.emit(Event::Started { digest: digest.clone(), size });
                upload::patch_blob(s, scopes, location, blob, chunk_size, progress).await?;
            }
            other => other?,
        }
    }
    s.placed(repo, &digest);
    progress.emit(Event::Uploaded { digest, size, early: false });
    Ok(())
}

/// The monolithic PUT, sent again to the same session when the registry answered a
/// retryable status (the session is still open; a broken connection restarts from HEAD).
async fn put_blob(
    s: &Session,
    scopes: &[String],
    location: &Url,
    blob: &Blob,
    progress: &Progress,
) -> Result<(), Error> {
    let mut attempt = 1;
    loop {
        match upload::put_blob(s, scopes, location, blob, progress).await {
            // A 401 to the streamed body: the session has renewed its token; send once more.
            Err(e) if e.status() == Some(401) && attempt == 1 => attempt += 1,
            Err(e) if e.status().is_some_and(error::is_retryable_status) && attempt < s.transport.backoff.attempts => {
                progress.emit(Event::Retrying { digest: blob.digest.clone(), reason: first_line(&e) });
                tokio::time::sleep(s.transport.backoff.delay(attempt, None)).await;
                progress.emit(Event::Started { digest: blob.digest.clone(), size: blob.size });
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn new_upload(s: &Session, repo: &str, scopes: &[String]) -> Result<Url, Error> {
    match upload::start_upload(s, repo, scopes, None).await? {
        Started::Upload(location) => Ok(location),
        Started::Mounted => unreachable!("no mount was asked for"),
    }
}

/// PUTs the OCI manifest; if the registry refuses OCI media types, the Docker v2 schema 2 one.
async fn push_manifest(s: &Session, repo: &str, tag: &str, image: &Image) -> Result<Digest, Error> {
    let docker = || image.manifest_as(MediaTypes::Docker).map_err(assembly);
    Ok(put_with_fallback(s, repo, tag, image.manifest().map_err(assembly)?, docker).await?.0)
}

/// PUTs each platform's manifest by digest, then the index under `tag`. When the registry
/// refuses OCI types, the Docker forms are used throughout: a Docker manifest list names
/// Docker manifests.
async fn push_index(s: &Session, repo: &str, tag: &str, index: &Index) -> Result<Digest, Error> {
    let scopes = [auth::push_scope(repo)];
    let mut types = MediaTypes::Oci;
    for (i, image) in index.images.iter().enumerate() {
        let manifest = image.manifest_as(types).map_err(assembly)?;
        let docker = || image.manifest_as(MediaTypes::Docker).map_err(assembly);
        let (_, fell_back) = put_with_fallback(s, repo, manifest.digest.as_str(), &manifest, docker).await?;
        if fell_back && types == MediaTypes::Oci {
            // Refused from this image on: the ones before it need their Docker form too,
            // so that the Docker manifest list can name them.
            types = MediaTypes::Docker;
            for earlier in &index.images[..i] {
                let docker = earlier.manifest_as(types).map_err(assembly)?;
                upload::put_manifest(s, repo, &scopes, docker.digest.as_str(), &docker).await?;
            }
        }
    }
    let top = index.manifest_as(types).map_err(assembly)?;
    match upload::put_manifest(s, repo, &scopes, tag, &top).await {
        // The OCI index refused though its manifests were taken: the Docker manifest list
        // names Docker manifests, so every image's Docker form goes first.
        Err(e) if types == MediaTypes::Oci && refuses_media_type(&e) => {
            for image in &index.images {
                let docker = image.manifest_as(MediaTypes::Docker).map_err(assembly)?;
                upload::put_manifest(s, repo, &scopes, docker.digest.as_str(), &docker).await?;
            }
            upload::put_manifest(s, repo, &scopes, tag, &index.manifest_as(MediaTypes::Docker).map_err(assembly)?).await
        }
        other => other,
    }
}

/// Whether a registry's answer refuses a manifest for its media type.
fn refuses_media_type(e: &Error) -> bool {
    e.has_code("MANIFEST_INVALID") || e.has_code("UNSUPPORTED") || e.status() == Some(415)
}

/// PUTs `manifest` under `reference`; if the registry refuses its media types
/// (MANIFEST_INVALID, UNSUPPORTED, 415), PUTs the Docker form instead, and says so.
async fn put_with_fallback(
    s: &Session,
    repo: &str,
    reference: &str,
    manifest: &Blob,
    docker: impl FnOnce() -> Result<Blob, Error>,
) -> Result<(Digest, bool), Error> {
    let scopes = [auth::push_scope(repo)];
    match upload::put_manifest(s, repo, &scopes, reference, manifest).await {
        Err(e) if refuses_media_type(&e) => {
            let docker = docker()?;
            // A manifest pushed by digest is addressed by the Docker form's own digest.
            let reference = if reference == manifest.digest.as_str() { docker.digest.as_str() } else { reference };
            Ok((upload::put_manifest(s, repo, &scopes, reference, &docker).await?, true))
        }
        other => Ok((other?, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Result<Target, Error> {
        Target::from_reference(&Reference::parse(s).unwrap(), &[])
    }

    #[test]
    fn references_without_a_registry_are_refused_with_an_example() {
        let e = target("myimage:1.0").unwrap_err().to_string();
        assert!(e.contains("127.0.0.1:5000/myimage:1.0"), "{e}");
    }

    #[test]
    fn targets_pick_scheme_host_and_tag() {
        let t = target("127.0.0.1:5000/team/app:1").unwrap();
        assert_eq!(
            (t.bases[0].as_str(), t.repository.as_str(), t.tag.as_str()),
            ("http://127.0.0.1:5000/", "team/app", "1")
        );
        let t = target("ghcr.io/o/app").unwrap();
        assert_eq!((t.bases.len(), t.bases[0].as_str(), t.tag.as_str()), (1, "https://ghcr.io/", "latest"));
        let t = target("docker.io/hello").unwrap();
        assert_eq!((t.bases[0].as_str(), t.repository.as_str()), ("https://registry-1.docker.io/", "library/hello"));
        let d = Digest::of(b"m");
        assert_eq!(target(&format!("localhost:5000/a@{d}")).unwrap().tag, d.to_string());
    }
}
