//! One registry host: its base URL, the `GET /v2/` ping, and authenticated requests that
//! renew their token once on a 401.

use super::auth::Auth;
use super::credentials::Credentials;
use super::error::Error;
use super::transport::{check, is_loopback, Body, Transport};
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};
use std::sync::Arc;

/// How long the https probe of a loopback registry may take, after plain http failed.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A connection to one registry, shared by all pushes to it.
pub(crate) struct Session {
    /// `host[:port]` as the user wrote it; named in errors and used for credentials.
    pub(crate) registry: String,
    /// `http(s)://api-host[:port]`.
    pub(crate) base: Url,
    pub(crate) transport: Arc<Transport>,
    auth: Auth,
    /// Whether the registry has the referrers API, once an answer said so (see
    /// [`super::referrers`]).
    pub(crate) referrers_api: tokio::sync::OnceCell<bool>,
    /// The blobs this run put in (or found in) each repository: pushed again, they are
    /// neither asked about nor reported twice.
    placed: std::sync::Mutex<std::collections::HashSet<(String, crate::digest::Digest)>>,
    /// What each tag (repository, tag) named, read while cargo built (see [`super::ahead`]).
    ahead: std::sync::Mutex<std::collections::HashMap<(String, String), super::ahead::Pending>>,
}

impl Session {
    /// Pings `GET /v2/` (200, or 401 with the challenge to answer) on each base in turn: for
    /// a loopback registry plain `http` first, then `https` when the port turned out to speak
    /// TLS (it closed the connection, or answered 400 as Go's servers do). A registry that
    /// accepted the connection and never answered is not tried again.
    pub(crate) async fn connect(
        transport: &Arc<Transport>,
        registry: &str,
        bases: &[Url],
        credentials: Option<Credentials>,
    ) -> Result<Session, Error> {
        let mut first_error: Option<Error> = None;
        for (i, base) in bases.iter().enumerate() {
            let session = Session {
                registry: registry.to_string(),
                base: base.clone(),
                transport: transport.clone(),
                auth: Auth::new(registry, credentials.clone()),
                referrers_api: tokio::sync::OnceCell::new(),
                placed: Default::default(),
                ahead: Default::default(),
            };
            let more = i + 1 < bases.len();
            match session.ping().await {
                Ok(()) => return Ok(session),
                Err(e) if e.is_timeout() => return Err(e),
                Err(e @ Error::Network { .. }) if !e.is_tls() => {
                    first_error.get_or_insert(e);
                }
                // Plain http to a TLS port: Go's servers answer 400; try https next, and
                // report what https says if it fails too.
                Err(e) if more && base.scheme() == "http" && e.status() == Some(400) => {}
                Err(e) => return Err(e),
            }
        }
        Err(first_error.expect("a base was tried"))
    }

    async fn ping(&self) -> Result<(), Error> {
        let url = self.url("/v2/");
        let (registry, transport) = (&self.registry, &*self.transport);
        // Over https on a loopback host that may speak plain http, fail fast rather than retry.
        let resp = if url.scheme() == "https" && self.base.host_str().is_some_and(is_loopback) {
            let timeout = PING_TIMEOUT.min(transport.tuning.timeout);
            transport.send_once(registry, Method::GET, url.as_str(), HeaderMap::new(), None, Some(timeout)).await?
        } else {
            transport.send(registry, Method::GET, url.as_str(), &HeaderMap::new(), &Body::Empty).await?
        };
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.auth.set_challenge(self.challenge(&resp)).await;
            return Ok(());
        }
        check(registry, &Method::GET, url.as_str(), resp, &[StatusCode::OK]).await?;
        Ok(())
    }

    /// An absolute URL on this registry.
    pub(crate) fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("registry paths are valid")
    }

    /// Whether `url` is on this registry's host: only then does it get credentials.
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    async fn authorize(&self, url: &Url, scopes: &[String], headers: &mut HeaderMap) -> Result<(), Error> {
        if self.same_origin(url) {
            if let Some(value) = self.auth.header(&self.transport, scopes).await? {
                headers.insert(AUTHORIZATION, value);
            }
        }
        Ok(())
    }

    /// A replayable request: retried by the transport, and once more after a 401 with a new token.
    pub(crate) async fn request(
        &self,
        method: Method,
        url: &Url,
        scopes: &[String],
        headers: HeaderMap,
        body: Body,
        accepted: &[StatusCode],
    ) -> Result<Response, Error> {
        let mut renewed = false;
        loop {
            let mut h = headers.clone();
            self.authorize(url, scopes, &mut h).await?;
            let resp = self.transport.send(&self.registry, method.clone(), url.as_str(), &h, &body).await?;
            if resp.status() == StatusCode::UNAUTHORIZED && !renewed {
                self.auth.unauthorized(self.challenge(&resp)).await;
                renewed = true;
                continue;
            }
            return check(&self.registry, &method, url.as_str(), resp, accepted).await;
        }
    }

    /// A streamed request, sent once (the caller restarts the whole blob on failure).
    pub(crate) async fn stream(
        &self,
        method: Method,
        url: &Url,
        scopes: &[String],
        mut headers: HeaderMap,
        body: reqwest::Body,
        accepted: &[StatusCode],
    ) -> Result<Response, Error> {
        self.authorize(url, scopes, &mut headers).await?;
        let resp =
            self.transport.send_once(&self.registry, method.clone(), url.as_str(), headers, Some(body), None).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.auth.unauthorized(self.challenge(&resp)).await;
        }
        check(&self.registry, &method, url.as_str(), resp, accepted).await
    }
}

impl Session {
    /// Records that `repo` holds `digest`, as this run put it there or found it there.
    pub(crate) fn placed(&self, repo: &str, digest: &crate::digest::Digest) {
        self.placed.lock().unwrap_or_else(|e| e.into_inner()).insert((repo.to_string(), digest.clone()));
    }

    /// Keeps the reading of a tag started while cargo builds.
    pub(crate) fn ahead(&self, key: (String, String), pending: super::ahead::Pending) {
        self.ahead.lock().unwrap_or_else(|e| e.into_inner()).insert(key, pending);
    }

    /// The reading of `repo:tag`, taken out: it serves one push.
    pub(crate) fn take_ahead(&self, repo: &str, tag: &str) -> Option<super::ahead::Pending> {
        self.ahead.lock().unwrap_or_else(|e| e.into_inner()).remove(&(repo.to_string(), tag.to_string()))
    }

    /// Whether this run already put `digest` into `repo`, or found it there.
    pub(crate) fn has_placed(&self, repo: &str, digest: &crate::digest::Digest) -> bool {
        self.placed.lock().unwrap_or_else(|e| e.into_inner()).contains(&(repo.to_string(), digest.clone()))
    }

    /// A request with no body sent once, within the timeout, its status not checked: for
    /// what may fail without harm (cancelling an upload).
    pub(crate) async fn once(&self, method: Method, url: &Url, scopes: &[String]) -> Result<Response, Error> {
        let mut headers = HeaderMap::new();
        self.authorize(url, scopes, &mut headers).await?;
        let timeout = Some(self.transport.tuning.timeout);
        self.transport.send_once(&self.registry, method, url.as_str(), headers, None, timeout).await
    }

    /// Adds `scopes` to those every token of this registry is asked for.
    pub(crate) async fn want_scopes(&self, scopes: &[String]) {
        self.auth.want(scopes).await;
    }

    /// The scheme of the registry's challenge (`basic`, `bearer`); `None` when it asks for none.
    pub(crate) async fn scheme(&self) -> Option<String> {
        self.auth.scheme().await
    }

    /// The `WWW-Authenticate` challenge of a response, when it came from this registry: a
    /// challenge from another host (an upload location, a redirect) names a realm that would
    /// get this registry's credentials, so it is never taken.
    fn challenge<'r>(&self, resp: &'r Response) -> Option<&'r str> {
        if !self.same_origin(resp.url()) {
            return None;
        }
        resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok())
    }
}
