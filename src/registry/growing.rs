//! Uploading a layer while it is still being compressed: `POST`, one `PATCH` whose body
//! follows the file as it grows, then `PUT ?digest=` once the digest is known. On a cold
//! push this hides the upload behind the compression. Any failure only costs the head
//! start: the push that follows checks each blob with `HEAD` and uploads what is missing.
//! The streamed body obeys the stall rule of every upload, so a registry that stops reading
//! or never answers costs at most the stall time.

use super::upload::{self, Started};
use super::{auth, Error, PushOptions, Target};
use crate::digest::Digest;
use crate::image::growing::{Growth, Written};
use crate::progress::{Event, Progress};
use crate::reference::Reference;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// How long the head start waits for any answer.
const HEAD_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Streams the file `growth` offers to `reference`'s repository as it is written. Returns
/// the digest and size uploaded, or `None` when there was nothing to stream (the layer was
/// already cached, or compressing it failed).
pub(crate) fn upload_growing_blocking(
    reference: &Reference,
    opts: &PushOptions,
    growth: &Growth,
    rx: watch::Receiver<Written>,
    progress: &Progress,
) -> Result<Option<(Digest, u64)>, Error> {
    let client = opts.client()?;
    client.block_on(upload_growing(client, reference, opts, growth, rx, progress))
}

/// `fut`, given at most [`HEAD_START_TIMEOUT`] to answer.
async fn within<T>(
    target: &Target,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(HEAD_START_TIMEOUT, fut).await {
        Ok(result) => result,
        Err(_) => Err(super::transport::timed_out(&target.registry, &Method::POST, what, HEAD_START_TIMEOUT)),
    }
}

async fn upload_growing(
    client: &super::client::Client,
    reference: &Reference,
    opts: &PushOptions,
    growth: &Growth,
    mut rx: watch::Receiver<Written>,
    progress: &Progress,
) -> Result<Option<(Digest, u64)>, Error> {
    let target = Target::from_reference(reference, &opts.insecure_registries)?;
    // A head start is worth little against a registry slow to answer: it gives up early on
    // each answer (the push that follows waits the full timeout), so a silent registry
    // costs one wait. The session is the run's: the push finds it connected.
    let url = target.bases.first().map(|b| b.to_string()).unwrap_or_default();
    let session = within(&target, &url, client.session(&target.registry, &target.bases, opts)).await?;
    // The writer offers the file before its first byte, or ends without one.
    let file = loop {
        if let Some(file) = growth.take_reader() {
            break file;
        }
        if rx.borrow_and_update().failed || rx.changed().await.is_err() {
            return Ok(None);
        }
    };
    let repo = &target.repository;
    let scopes = [auth::push_scope(repo)];
    let start = upload::start_upload(&session, repo, &scopes, None);
    let Started::Upload(location) = within(&target, &format!("{url}v2/{repo}/blobs/uploads/"), start).await? else {
        unreachable!("no mount was asked for");
    };
    let hasher = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    let sent = Arc::new(AtomicU64::new(0));
    let watch = rx.clone();
    let body = reqwest::Body::wrap_stream(follow(file, rx, hasher.clone(), sent.clone()));
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    let patch = session.stream(Method::PATCH, &location, &scopes, headers, body, &[StatusCode::ACCEPTED]);
    // Waiting for the compression to write more is not a stall.
    let compressing = |now: u64| {
        let w = *watch.borrow();
        !w.done && !w.failed && now >= w.bytes
    };
    let resp = upload::unless_stalled(&session, &Method::PATCH, &location, patch, &sent, compressing).await?;
    let next = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| upload::resolve_location(&location, l))
        .unwrap_or(location);
    let (digest, size) = {
        let mut h = hasher.lock().unwrap_or_else(|e| e.into_inner());
        let (sha, size) = std::mem::take(&mut *h);
        (Digest::from_sha256(sha.finalize().into()), size)
    };
    within(&target, next.as_str(), upload::commit(&session, &scopes, &next, &digest)).await?;
    session.placed(repo, &digest);
    progress.emit(Event::Uploaded { digest: digest.clone(), size, early: true });
    Ok(Some((digest, size)))
}

/// The file's bytes as they are written, hashed and counted on the way, ending when it is
/// complete; an error if writing stopped short.
fn follow(
    file: File,
    rx: watch::Receiver<Written>,
    hasher: Arc<Mutex<(Sha256, u64)>>,
    sent: Arc<AtomicU64>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some((file, rx, 0u64)), move |state| {
        let (hasher, sent) = (hasher.clone(), sent.clone());
        async move {
            let (mut file, mut rx, offset) = state?;
            loop {
                let w = *rx.borrow_and_update();
                if offset < w.bytes {
                    let mut buf = vec![0; (w.bytes - offset).min(1 << 20) as usize];
                    if let Err(e) = file.read_exact(&mut buf) {
                        return Some((Err(e), None));
                    }
                    let mut h = hasher.lock().unwrap_or_else(|e| e.into_inner());
                    h.0.update(&buf);
                    h.1 += buf.len() as u64;
                    let next = offset + buf.len() as u64;
                    sent.store(next, Ordering::Relaxed);
                    return Some((Ok(buf), Some((file, rx, next))));
                }
                if w.done {
                    return None;
                }
                if w.failed || rx.changed().await.is_err() {
                    return Some((Err(std::io::Error::other("the layer was not completely written")), None));
                }
            }
        }
    })
}
