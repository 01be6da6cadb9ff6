//! The pull half of the protocol: `GET` a manifest (with an `Accept` for every manifest and
//! index type), and `GET` a blob into a file, its digest checked while it streams.

use super::error::Error;
use super::session::Session;
use super::transport::{request, Body};
use crate::digest::{Digest, HashingWriter};
use crate::image::index::{MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_OCI_INDEX};
use crate::image::{MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_MANIFEST};
use crate::store::Store;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::{Method, StatusCode};
use std::io::{self, Write};

/// The most of a manifest that is read: manifests are small documents.
pub(crate) const MAX_MANIFEST: usize = 4 << 20;

/// A manifest as the registry sent it, and its digest.
pub(crate) struct Manifest {
    pub(crate) bytes: Vec<u8>,
    pub(crate) digest: Digest,
}

/// `GET /v2/<repo>/tags/list`: the repository's tags (its first page), or `None` when the
/// registry says it has no such repository (404).
pub(crate) async fn tags(s: &Session, repo: &str) -> Result<Option<Vec<String>>, Error> {
    let url = s.url(&format!("/v2/{repo}/tags/list?n={MAX_TAGS}"));
    let scopes = [super::auth::pull_scope(repo)];
    let resp = match s.request(Method::GET, &url, &scopes, HeaderMap::new(), Body::Empty, &[StatusCode::OK]).await {
        Ok(resp) => resp,
        Err(e) if e.status() == Some(404) => return Ok(None),
        Err(e) => return Err(e),
    };
    let bytes = s.transport.body(&s.registry, &Method::GET, url.as_str(), resp, MAX_MANIFEST).await?;
    let list: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
        registry: s.registry.clone(),
        request: request(&Method::GET, url.as_str()),
        message: format!("sent a tag list that is not JSON ({e})"),
    })?;
    let tags = list["tags"].as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect());
    Ok(Some(tags.unwrap_or_default()))
}

/// How many tags are asked for: enough to show some, and to say whether one is there.
const MAX_TAGS: usize = 1000;

/// `GET /v2/<repo>/manifests/<reference>` (a tag or a digest). The body's digest is
/// computed here: it must equal the digest asked for, and the registry's
/// `Docker-Content-Digest` when it sends one.
pub(crate) async fn get_manifest(s: &Session, repo: &str, reference: &str) -> Result<Manifest, Error> {
    let url = s.url(&format!("/v2/{repo}/manifests/{reference}"));
    let accept = [MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST];
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_str(&accept.join(", ")).expect("ascii"));
    let scopes = [super::auth::pull_scope(repo)];
    let resp = s.request(Method::GET, &url, &scopes, headers, Body::Empty, &[StatusCode::OK]).await?;
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let sent_digest = header("Docker-Content-Digest");
    let bytes = s.transport.body(&s.registry, &Method::GET, url.as_str(), resp, MAX_MANIFEST).await?;
    let bad = |message: String| Error::Protocol {
        registry: s.registry.clone(),
        request: request(&Method::GET, url.as_str()),
        message,
    };
    let digest = Digest::of(&bytes);
    let expected = Digest::parse(reference).or_else(|| sent_digest.as_deref().and_then(Digest::parse));
    if let Some(expected) = expected.filter(|e| e != &digest) {
        return Err(bad(format!("sent a manifest whose digest is {digest}, but {expected} was expected")));
    }
    Ok(Manifest { bytes, digest })
}

/// `GET /v2/<repo>/blobs/<digest>` into `out` (from its start), as an upload is pushed: a
/// try whose body broke off or stalled is made again, up to [`super::BLOB_ATTEMPTS`]
/// times, after a backoff, saying why (statuses are the transport's to retry).
pub(crate) async fn get_blob(
    s: &Session,
    repo: &str,
    digest: &Digest,
    size: Option<u64>,
    out: &mut std::fs::File,
) -> Result<(), Error> {
    use std::io::Seek;
    let mut attempt = 1;
    loop {
        let io = |e: std::io::Error| Error::Io { what: format!("writing blob {digest} to the cache"), source: e };
        out.set_len(0).map_err(io)?;
        out.rewind().map_err(io)?;
        match try_get_blob(s, repo, digest, size, out).await {
            // Statuses were retried already, by the transport: only a body that broke off or
            // stalled is tried again here.
            Err(e @ Error::Network { .. }) if attempt < super::BLOB_ATTEMPTS && e.is_retryable() => {
                let reason = super::first_line(&e);
                crate::shell::status(
                    "Retrying",
                    format_args!("the download of {} ({reason})", crate::progress::short(digest)),
                );
                tokio::time::sleep(s.transport.backoff.delay(attempt + 2, None)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One try of [`get_blob`]: the bytes hashed on the way; fails unless they match `digest`
/// (and `size`, when known), naming both digests. A download that moves no byte for the
/// stall time fails.
async fn try_get_blob(
    s: &Session,
    repo: &str,
    digest: &Digest,
    size: Option<u64>,
    out: &mut std::fs::File,
) -> Result<(), Error> {
    let url = s.url(&format!("/v2/{repo}/blobs/{digest}"));
    let scopes = [super::auth::pull_scope(repo)];
    let mut resp = s.request(Method::GET, &url, &scopes, HeaderMap::new(), Body::Empty, &[StatusCode::OK]).await?;
    let stall = s.transport.tuning.stall;
    let bad = |message: String| Error::Protocol {
        registry: s.registry.clone(),
        request: request(&Method::GET, url.as_str()),
        message,
    };
    let io = |e: std::io::Error| Error::Io { what: format!("writing blob {digest} to the cache"), source: e };
    let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, out));
    let limit = size.unwrap_or(u64::MAX);
    let mut got = 0u64;
    loop {
        let chunk = match tokio::time::timeout(stall, resp.chunk()).await {
            Err(_) => return Err(super::transport::stalled(&s.registry, &Method::GET, url.as_str(), stall)),
            Ok(Err(e)) => {
                let detail = e.to_string();
                return Err(Error::network(
                    &s.registry,
                    request(&Method::GET, url.as_str()),
                    detail,
                    super::error::Failure::Other,
                ));
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        got += chunk.len() as u64;
        if got > limit {
            return Err(bad(format!("sent more than the {limit} bytes of blob {digest}")));
        }
        writer.write_all(&chunk).map_err(io)?;
    }
    let (buf, actual, n) = writer.finish();
    buf.into_inner().map_err(|e| io(e.into_error()))?;
    if &actual != digest || size.is_some_and(|s| s != n) {
        return Err(bad(format!("sent {n} bytes whose digest is {actual}, but blob {digest} was asked for")));
    }
    Ok(())
}

/// `GET`s a blob of `repo` on `s` into the store, and checks it against what the bases
/// resolved in this run claim about it (a layer's compression and diff_id): a failed
/// check is an `Io` error whose source is the [`crate::store::verify::Fault`].
pub(crate) async fn into_store(
    s: &Session,
    repo: &str,
    store: &Store,
    digest: &Digest,
    size: u64,
) -> Result<(), Error> {
    let io =
        |e: io::Error| Error::Io { what: format!("storing blob {digest} in {}", store.root().display()), source: e };
    let mut tmp = store.temp().map_err(io)?;
    get_blob(s, repo, digest, Some(size), tmp.file_mut()).await?;
    store.persist(tmp, digest, size).map_err(io)?;
    // Decompressing a layer is blocking work: off the async workers.
    let (owned, d) = (store.clone(), digest.clone());
    let checked = tokio::task::spawn_blocking(move || crate::store::verify::check_claims(&owned, &d))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    checked.map_err(|fault| Error::Io {
        what: "cannot pass the base on (rebuild it, or choose another base)".into(),
        source: io::Error::other(fault),
    })
}
