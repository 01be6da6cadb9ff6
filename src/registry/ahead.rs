//! What each destination tag names, read while cargo builds: once the push is checked,
//! each tag is asked about (`HEAD`) and, when it names a manifest, that manifest's listing
//! of referrers is read. A re-push of what did not change then asks the registry nothing
//! after the build, and a changed one skips the round trip of the `HEAD`.
//!
//! A reading serves a push only while it is fresh (`Tuning::read_ahead`, 2 s unless
//! `CARGO_CONTAINERIZE_READ_AHEAD_MS` says otherwise, counted from when it was started):
//! after a longer build the push asks again, so that a tag another pusher moved
//! meanwhile is written again. A listing names documents by digest, which a later push
//! cannot undo; only a deletion could.

use super::client::Client;
use super::session::Session;
use super::{PushOptions, Target};
use crate::digest::Digest;
use crate::reference::Reference;
use std::sync::Arc;
use std::time::Instant;

/// What a tag was found to name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reading {
    /// The manifest the tag names, or `None` when there is no such tag.
    pub(crate) digest: Option<Digest>,
    /// The referrers listed for that manifest (their manifest digests), when read.
    pub(crate) listing: Option<Vec<String>>,
}

/// A reading under way, or done; it serves one push.
pub(crate) struct Pending {
    started: Instant,
    /// `None` when the registry's answer said nothing usable (an error): the push asks
    /// again.
    task: tokio::task::JoinHandle<Option<Reading>>,
}

/// Starts reading the tag of each of `references` whose registry the run has a session
/// with already (the check before the build made it), on the run's runtime; returns at
/// once.
pub(crate) fn start(references: &[Reference], opts: &PushOptions) {
    let Ok(client) = opts.client() else { return };
    for reference in references {
        let Ok(target) = Target::from_reference(reference, &opts.insecure_registries) else { continue };
        let Some(session) = client.block_on(client.existing_session(&target.registry)) else { continue };
        if reference.tag.is_none() {
            continue;
        }
        let key = (target.repository.clone(), target.tag.clone());
        let (s, repo, tag) = (session.clone(), target.repository, target.tag);
        let task = client.spawn(async move { read(&s, &repo, &tag).await });
        session.ahead(key, Pending { started: Instant::now(), task });
    }
}

/// `HEAD` of the tag, then the listing of what it names.
async fn read(s: &Session, repo: &str, tag: &str) -> Option<Reading> {
    let digest = super::tag_digest(s, repo, tag).await.ok()?;
    let listing = match &digest {
        Some(digest) => super::referrers::listing(s, repo, digest).await.ok(),
        None => None,
    };
    Some(Reading { digest, listing })
}

/// The reading of `repo:tag`, once (it is taken), if one was started and is still fresh;
/// waits for it to be done.
pub(crate) async fn take(s: &Session, repo: &str, tag: &str) -> Option<Reading> {
    let pending = s.take_ahead(repo, tag)?;
    if pending.started.elapsed() > s.transport.tuning.read_ahead {
        crate::shell::detail(format_args!(
            "{}/{repo}:{tag}: read {:.1} s ago, while cargo built; asked again",
            s.registry,
            pending.started.elapsed().as_secs_f64()
        ));
        pending.task.abort();
        return None;
    }
    pending.task.await.ok().flatten()
}

impl Client {
    /// The session with `registry`, if one was made.
    pub(crate) async fn existing_session(&self, registry: &str) -> Option<Arc<Session>> {
        self.sessions.lock().await.get(registry).cloned()
    }
}
