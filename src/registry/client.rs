//! The run's one async runtime, one HTTP client and one session per registry, shared by
//! everything that talks to registries: a base's resolution and its downloads (for a sink
//! or the fit check), the head-start upload and the push. Made on first use, and shared by
//! every clone of the run's [`PushOptions`], so a registry is pinged, and asked for a token,
//! once per run.

use super::error::Error;
use super::session::Session;
use super::transport::Transport;
use super::PushOptions;
use reqwest::Url;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// What was made in this process, for `-v` and the tests: runtimes, HTTP clients (each
/// [`Transport`]) and sessions.
static MADE: [AtomicUsize; 3] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];

/// The runtime, the client and the sessions.
pub(crate) struct Client {
    runtime: tokio::runtime::Runtime,
    pub(crate) transport: Arc<Transport>,
    pub(super) sessions: tokio::sync::Mutex<HashMap<String, Arc<Session>>>,
    /// Requests that need no answer before the run goes on (see [`Client::later`]).
    pending: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Where the run's [`Client`] is kept once made; clones share it.
#[derive(Clone, Default)]
pub struct Shared(Arc<OnceLock<Client>>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Shared(made)" } else { "Shared(not made yet)" })
    }
}

impl PushOptions {
    /// The run's client, made on first use from these options.
    pub(crate) fn client(&self) -> Result<&Client, Error> {
        if let Some(client) = self.shared.0.get() {
            return Ok(client);
        }
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| {
                Error::Io {
                    what: "starting the async runtime".into(),
                    source: std::io::Error::new(e.kind(), e.to_string()),
                }
            })?;
        let transport = Arc::new(Transport::new(&self.client_options())?);
        let made = Client {
            runtime,
            transport,
            sessions: tokio::sync::Mutex::new(HashMap::new()),
            pending: Default::default(),
        };
        // Another thread may have made one meanwhile: its client is the run's, this one goes.
        if self.shared.0.set(made).is_ok() {
            MADE[0].fetch_add(1, Ordering::Relaxed);
            MADE[1].fetch_add(1, Ordering::Relaxed);
        }
        Ok(self.shared.0.get().expect("set above"))
    }
}

impl Client {
    /// Sends `f` off, to finish while the run goes on (cancelling the uploads that checked
    /// a push was allowed, say); the client waits for it when it goes, at the end of the
    /// run. `f` must bound its own waits (each request has its timeout).
    pub(crate) fn later(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = self.runtime.spawn(f);
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(handle);
    }

    /// Runs `f` on the run's runtime, in the background.
    pub(crate) fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(f)
    }

    /// Runs `f` to completion on the run's runtime, from synchronous code.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The session with `registry` (`host[:port]` as written, reached at `bases`), connected
    /// (pinged, its credentials looked up) the first time it is asked for. A connection that
    /// fails is not kept: the next caller tries again.
    pub(crate) async fn session(
        &self,
        registry: &str,
        bases: &[Url],
        opts: &PushOptions,
    ) -> Result<Arc<Session>, Error> {
        let mut sessions = self.sessions.lock().await;
        if let Some(session) = sessions.get(registry) {
            return Ok(session.clone());
        }
        // A credential helper is a process that may take its time: off the async workers.
        let (host, owned) = (registry.to_string(), PushOptions { shared: Shared::default(), ..opts.clone() });
        let credentials = tokio::task::spawn_blocking(move || super::credentials_for(&host, &owned))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let session = Arc::new(Session::connect(&self.transport, registry, bases, credentials).await?);
        MADE[2].fetch_add(1, Ordering::Relaxed);
        sessions.insert(registry.to_string(), session.clone());
        Ok(session)
    }
}

impl Drop for Client {
    /// Waits for what was sent off with [`Client::later`].
    fn drop(&mut self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if !pending.is_empty() {
            self.runtime.block_on(futures_util::future::join_all(pending));
        }
    }
}

/// What this process made, in words (`1 async runtime, 1 HTTP client, 2 registry
/// sessions`); `None` when it made nothing.
pub(crate) fn made() -> Option<String> {
    let [runtimes, clients, sessions] = MADE.each_ref().map(|n| n.load(Ordering::Relaxed));
    if runtimes == 0 {
        return None;
    }
    let s = |n: usize| if n == 1 { "" } else { "s" };
    Some(format!(
        "{runtimes} async runtime{}, {clients} HTTP client{}, {sessions} registry session{}",
        s(runtimes),
        s(clients),
        s(sessions)
    ))
}
