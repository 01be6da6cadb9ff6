//! The blob and manifest protocol, one function per request: HEAD, POST (maybe mount),
//! PUT `?digest=` (monolithic), PATCH chunks, GET upload status, PUT manifest.

use super::error::{is_retryable_status, Error};
use super::session::Session;
use super::transport::{request, Body};
use crate::digest::Digest;
use crate::image::blob::Blob;
use crate::progress::{Event, Progress};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode, Url};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What `POST .../blobs/uploads/` gave.
pub(crate) enum Started {
    /// 201: the mount worked; nothing to upload.
    Mounted,
    /// 202: upload into this URL.
    Upload(Url),
}

/// `HEAD /v2/<repo>/blobs/<digest>`: 200 means present, 404 absent.
pub(crate) async fn blob_exists(s: &Session, repo: &str, scopes: &[String], digest: &Digest) -> Result<bool, Error> {
    let url = s.url(&format!("/v2/{repo}/blobs/{digest}"));
    let ok = [StatusCode::OK, StatusCode::NOT_FOUND];
    let resp = s.request(Method::HEAD, &url, scopes, HeaderMap::new(), Body::Empty, &ok).await?;
    Ok(resp.status() == StatusCode::OK)
}

/// `POST /v2/<repo>/blobs/uploads/`, with `?mount=<digest>&from=<repo>` to cross-mount:
/// 201 is a finished mount, 202 an upload session in `Location`.
pub(crate) async fn start_upload(
    s: &Session,
    repo: &str,
    scopes: &[String],
    mount: Option<(&Digest, &str)>,
) -> Result<Started, Error> {
    let mut url = s.url(&format!("/v2/{repo}/blobs/uploads/"));
    if let Some((digest, from)) = mount {
        // Quay refuses a `mount` without a `from`: always send both.
        url.query_pairs_mut().append_pair("mount", digest.as_str()).append_pair("from", from);
    }
    let ok = [StatusCode::CREATED, StatusCode::ACCEPTED];
    let resp = s.request(Method::POST, &url, scopes, HeaderMap::new(), Body::Empty, &ok).await?;
    if resp.status() == StatusCode::CREATED && mount.is_some() {
        return Ok(Started::Mounted);
    }
    Ok(Started::Upload(location(s, &Method::POST, &url, &resp)?))
}

/// Resolves a `Location` header against the request URL; relative or absolute, query kept.
pub(crate) fn resolve_location(request_url: &Url, location: &str) -> Option<Url> {
    request_url.join(location).ok()
}

/// The upload location a response names, checked against the transport rule.
fn location(s: &Session, method: &Method, url: &Url, resp: &Response) -> Result<Url, Error> {
    let value = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
    let next = value.and_then(|l| resolve_location(url, l)).ok_or_else(|| Error::Protocol {
        registry: s.registry.clone(),
        request: request(method, url.as_str()),
        message: format!("answered {} without a usable Location header", resp.status().as_u16()),
    })?;
    s.transport.check_url(&s.registry, next.as_str(), "the upload location")
}

fn with_digest(location: &Url, digest: &Digest) -> Url {
    let mut url = location.clone();
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    url
}

/// `PUT <location>?digest=<digest>` with the whole blob streamed from disk: 201.
pub(crate) async fn put_blob(
    s: &Session,
    scopes: &[String],
    location: &Url,
    blob: &Blob,
    progress: &Progress,
) -> Result<(), Error> {
    let url = with_digest(location, &blob.digest);
    let mut headers = octet_headers(blob.size);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(blob.size));
    let (body, sent) = stream_body(blob, 0, blob.size)?;
    let fut = s.stream(Method::PUT, &url, scopes, headers, body, &[StatusCode::CREATED]);
    report_while(s, &Method::PUT, &url, fut, &sent, &blob.digest, progress).await?;
    Ok(())
}

/// Chunked upload: `PATCH <location>` with `Content-Range: start-end` per chunk (202 with the
/// next `Location` and the `Range` received), then `PUT ?digest=` with no body (201).
/// A 416 means the registry holds another offset: ask it (GET) and resume there. Every chunk
/// must move the upload forward, within the blob: a registry that claims otherwise more than
/// five times fails the upload, so no registry can keep it going for ever.
pub(crate) async fn patch_blob(
    s: &Session,
    scopes: &[String],
    mut location: Url,
    blob: &Blob,
    chunk_size: u64,
    progress: &Progress,
) -> Result<(), Error> {
    let mut offset = 0;
    let mut mismatches = 0;
    while offset < blob.size {
        let len = chunk_size.min(blob.size - offset);
        let mut headers = octet_headers(len);
        headers.insert(
            "Content-Range",
            HeaderValue::from_str(&format!("{}-{}", offset, offset + len - 1)).expect("ascii"),
        );
        let (body, sent) = stream_body(blob, offset, len)?;
        let ok = [StatusCode::ACCEPTED, StatusCode::RANGE_NOT_SATISFIABLE];
        let fut = s.stream(Method::PATCH, &location, scopes, headers, body, &ok);
        let resp = match report_while(s, &Method::PATCH, &location, fut, &sent, &blob.digest, progress).await {
            // A 5xx/429 to a chunk: ask the registry where it stands and go on from there.
            Err(e) if e.status().is_some_and(is_retryable_status) && mismatches < 5 => None,
            other => Some(other?),
        };
        if resp.as_ref().is_none_or(|r| r.status() == StatusCode::RANGE_NOT_SATISFIABLE) {
            mismatches += 1;
            if mismatches > 5 {
                return Err(protocol(
                    s,
                    &Method::PATCH,
                    &location,
                    "kept refusing chunks (416 Range Not Satisfiable or 5xx) after asking where the upload stands",
                ));
            }
            tokio::time::sleep(s.transport.backoff.delay(mismatches, None)).await;
            let (next, at) = upload_status(s, scopes, &location).await?;
            let at = within(s, &location, at, blob.size)?;
            progress.emit(Event::Started { digest: blob.digest.clone(), size: blob.size });
            progress.emit(Event::Advanced { digest: blob.digest.clone(), bytes: at });
            (location, offset) = (next, at);
            continue;
        }
        let resp = resp.expect("handled above");
        let next = location_of(s, &location, &resp)?;
        let held = within(s, &location, held_bytes(&resp, true).unwrap_or(offset + len), blob.size)?;
        if held <= offset {
            mismatches += 1;
            if mismatches > 5 {
                let message = format!("accepted chunks but kept holding {held} bytes of {}", blob.size);
                return Err(protocol(s, &Method::PATCH, &location, &message));
            }
        }
        (offset, location) = (held, next);
    }
    commit(s, scopes, &location, &blob.digest).await
}

/// A byte count a registry reports, checked against the blob's size.
fn within(s: &Session, location: &Url, held: u64, size: u64) -> Result<u64, Error> {
    if held > size {
        let message = format!("claims to hold {held} bytes of a {size}-byte blob");
        return Err(protocol(s, &Method::PATCH, location, &message));
    }
    Ok(held)
}

/// `GET <location>`: 204 with `Range: 0-<last>` gives the bytes the registry holds.
pub(crate) async fn upload_status(s: &Session, scopes: &[String], location: &Url) -> Result<(Url, u64), Error> {
    let ok = [StatusCode::NO_CONTENT];
    let resp = s.request(Method::GET, location, scopes, HeaderMap::new(), Body::Empty, &ok).await?;
    let next = location_of(s, location, &resp)?;
    Ok((next, held_bytes(&resp, false).unwrap_or(0)))
}

/// `PUT <location>?digest=<digest>` with no body closes a chunked upload: 201.
pub(crate) async fn commit(s: &Session, scopes: &[String], location: &Url, digest: &Digest) -> Result<(), Error> {
    let url = with_digest(location, digest);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
    s.request(Method::PUT, &url, scopes, headers, Body::Empty, &[StatusCode::CREATED]).await?;
    Ok(())
}

/// `PUT /v2/<repo>/manifests/<tag>` with the exact hashed bytes and their media type: 201.
/// Checks `Docker-Content-Digest` when the registry sends it.
pub(crate) async fn put_manifest(
    s: &Session,
    repo: &str,
    scopes: &[String],
    tag: &str,
    manifest: &Blob,
) -> Result<Digest, Error> {
    Ok(put_manifest_answered(s, repo, scopes, tag, manifest).await?.0)
}

/// As [`put_manifest`], also giving the `OCI-Subject` header of the answer: a registry
/// with the referrers API sends it for a manifest with a `subject`.
pub(crate) async fn put_manifest_answered(
    s: &Session,
    repo: &str,
    scopes: &[String],
    tag: &str,
    manifest: &Blob,
) -> Result<(Digest, Option<String>), Error> {
    let url = s.url(&format!("/v2/{repo}/manifests/{tag}"));
    let bytes = manifest.bytes().map(<[u8]>::to_vec).map_or_else(|| read_all(manifest), Ok)?;
    let body = Body::Bytes(bytes, manifest.media_type.clone());
    let resp = s.request(Method::PUT, &url, scopes, HeaderMap::new(), body, &[StatusCode::CREATED]).await?;
    if let Some(got) = resp.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()) {
        if got != manifest.digest.as_str() {
            let got = crate::redact::server_text(got, 100);
            let message = format!("the registry stored the manifest as {got}, but its digest is {}", manifest.digest);
            return Err(protocol(s, &Method::PUT, &url, &message));
        }
    }
    let subject = resp.headers().get("OCI-Subject").and_then(|v| v.to_str().ok()).map(str::to_string);
    Ok((manifest.digest.clone(), subject))
}

fn read_all(blob: &Blob) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    blob.open()
        .and_then(|mut r| r.read_to_end(&mut bytes))
        .map_err(|source| Error::Io { what: format!("reading {}", blob.digest), source })?;
    Ok(bytes)
}

fn octet_headers(len: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers
}

fn location_of(s: &Session, url: &Url, resp: &Response) -> Result<Url, Error> {
    match resp.headers().get(LOCATION) {
        Some(_) => location(s, &Method::PATCH, url, resp),
        None => Ok(url.clone()),
    }
}

/// The bytes the registry holds, from the `Range` header of `resp`.
fn held_bytes(resp: &Response, after_a_chunk: bool) -> Option<u64> {
    parse_held_bytes(resp.headers().get(RANGE)?.to_str().ok()?, after_a_chunk)
}

/// `Range: 0-<last>` (or `bytes=0-<last>`) as a byte count. `0-0` is ambiguous: distribution
/// sends it for an empty upload, so it means 0 unless a chunk was just accepted.
pub(crate) fn parse_held_bytes(value: &str, after_a_chunk: bool) -> Option<u64> {
    let value = value.trim().trim_start_matches("bytes=");
    let (_, last) = value.split_once('-')?;
    let last: u64 = last.trim().parse().ok()?;
    if last == 0 && !after_a_chunk {
        return Some(0);
    }
    last.checked_add(1)
}

fn protocol(s: &Session, method: &Method, url: &Url, message: &str) -> Error {
    Error::Protocol {
        registry: s.registry.clone(),
        request: request(method, url.as_str()),
        message: message.to_string(),
    }
}

/// A body streaming `len` bytes from `offset` of `blob`, read on a thread; counts bytes sent.
fn stream_body(blob: &Blob, offset: u64, len: u64) -> Result<(reqwest::Body, Arc<AtomicU64>), Error> {
    let mut reader =
        blob.open().map_err(|source| Error::Io { what: format!("opening blob {}", blob.digest), source })?;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::spawn(move || {
        if offset > 0 {
            if let Err(e) = std::io::copy(&mut reader.by_ref().take(offset), &mut std::io::sink()) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
        let mut reader = reader.take(len);
        loop {
            let mut buf = vec![0; 256 * 1024];
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(buf)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold((rx, counter), |(mut rx, counter)| async move {
        let item = rx.recv().await?;
        if let Ok(chunk) = &item {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Some((item, (rx, counter)))
    });
    Ok((reqwest::Body::wrap_stream(stream), sent))
}

/// Drives `fut` while turning the byte counter into `Advanced` events every 100 ms.
async fn report_while<F: std::future::Future<Output = Result<Response, Error>>>(
    s: &Session,
    method: &Method,
    url: &Url,
    fut: F,
    sent: &AtomicU64,
    digest: &Digest,
    progress: &Progress,
) -> Result<Response, Error> {
    let mut reported = 0;
    let mut report = |now: u64| {
        if now > reported {
            progress.emit(Event::Advanced { digest: digest.clone(), bytes: now - reported });
            reported = now;
        }
        false
    };
    let result = unless_stalled(s, method, url, fut, sent, &mut report).await;
    report(sent.load(Ordering::Relaxed));
    result
}

/// Drives `fut`, a streamed upload whose bytes sent `sent` counts, under the stall rule of
/// every upload: it fails once the count has not moved for the stall time (nothing sent,
/// or, once all was sent, no answer). Every 100 ms `tick` gets the count; it answers true
/// while the upload only waits for bytes of its own (a layer still being compressed),
/// which is no stall.
pub(crate) async fn unless_stalled<F: std::future::Future<Output = Result<Response, Error>>>(
    s: &Session,
    method: &Method,
    url: &Url,
    fut: F,
    sent: &AtomicU64,
    mut tick: impl FnMut(u64) -> bool,
) -> Result<Response, Error> {
    tokio::pin!(fut);
    let stall = s.transport.tuning.stall;
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    let (mut last, mut since) = (0, std::time::Instant::now());
    loop {
        tokio::select! {
            result = &mut fut => return result,
            _ = interval.tick() => {
                let now = sent.load(Ordering::Relaxed);
                let waiting_for_own_bytes = tick(now);
                if now != last || waiting_for_own_bytes {
                    (last, since) = (now, std::time::Instant::now());
                } else if since.elapsed() > stall {
                    return Err(super::transport::stalled(&s.registry, method, url.as_str(), stall));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_relative_and_absolute_keeping_query() {
        let req = Url::parse("http://127.0.0.1:5000/v2/app/blobs/uploads/").unwrap();
        let rel = resolve_location(&req, "/v2/app/blobs/uploads/abc?_state=xyz").unwrap();
        assert_eq!(rel.as_str(), "http://127.0.0.1:5000/v2/app/blobs/uploads/abc?_state=xyz");
        let abs = resolve_location(&req, "https://storage.example/upload/1?sig=s").unwrap();
        assert_eq!(abs.as_str(), "https://storage.example/upload/1?sig=s");
        let d = Digest::of(b"x");
        let put = with_digest(&rel, &d);
        assert_eq!(put.query(), Some(format!("_state=xyz&digest=sha256%3A{}", d.hex()).as_str()));
    }

    #[test]
    fn range_headers_give_the_next_offset() {
        assert_eq!(parse_held_bytes("0-1023", true), Some(1024));
        assert_eq!(parse_held_bytes("bytes=0-9", false), Some(10));
        assert_eq!(parse_held_bytes("0-0", false), Some(0));
        assert_eq!(parse_held_bytes("0-0", true), Some(1));
        assert_eq!(parse_held_bytes("0--1", false), None);
        assert_eq!(parse_held_bytes("garbage", true), None);
        assert_eq!(parse_held_bytes("0-18446744073709551615", true), None);
    }
}
