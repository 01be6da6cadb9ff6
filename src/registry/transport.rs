//! The HTTP client: scheme choice and the plain-HTTP rule, TLS roots, timeouts, one place
//! that checks statuses, and retries with bounded backoff and jitter.

use super::error::{
    is_retryable_status, is_tls_failure, parse_envelope, redact_url, tls_setup, Error, Failure, Request,
};
use crate::tuning::Tuning;
use crate::wait::announce_after;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// At most this much of an error body is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How long an error body may take to arrive.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many redirects a request follows.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// The schemes to try, in order: `http` only for `--insecure-registry` hosts; `http` then
/// `https` for loopback hosts (a local registry may serve either, and plain http, the usual
/// case, costs no TLS handshake); else `https` only.
pub(crate) fn schemes(host: &str, insecure: &[String]) -> &'static [&'static str] {
    let Ok(url) = Url::parse(&format!("http://{host}/")) else { return &["https"] };
    if named_insecure(&url, insecure) {
        &["http"]
    } else if url.host_str().is_some_and(is_loopback) {
        &["http", "https"]
    } else {
        &["https"]
    }
}

/// Whether `url` may be contacted: HTTPS always; plain HTTP only on a loopback host or a
/// host named with `--insecure-registry` (as `host` or `host:port`). Applies to every URL
/// the tool contacts: the registry, its token realm, redirects and upload locations.
pub(crate) fn plain_http_allowed(url: &Url, insecure: &[String]) -> bool {
    if url.scheme() != "http" {
        return url.scheme() == "https";
    }
    url.host_str().is_some_and(is_loopback) || named_insecure(url, insecure)
}

/// Whether `--insecure-registry` names the host (and port) of this plain-HTTP `url`. Hosts
/// compare as URLs compare them, so `Reg.LAN`, `10.0.0.001` and `[fd00:0::1]` name
/// `reg.lan`, `10.0.0.1` and `[fd00::1]`; an entry without a port names every port.
fn named_insecure(url: &Url, insecure: &[String]) -> bool {
    let Some(host) = url.host_str() else { return false };
    insecure
        .iter()
        .filter_map(|entry| insecure_entry(entry).ok())
        .any(|(name, port)| name == host && port.is_none_or(|p| Some(p) == url.port_or_known_default()))
}

/// An `--insecure-registry` entry: `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6
/// address, as the host a URL shows (lower case, IPv6 in brackets) and an optional port.
pub(crate) fn insecure_entry(entry: &str) -> Result<(String, Option<u16>), String> {
    let problem =
        || format!("{entry:?} is not a registry host; expected HOST, HOST:PORT or [IPV6]:PORT, e.g. 10.0.0.5:5000");
    if entry.is_empty() || entry.contains(['/', '@', '?', '#', ' ']) {
        return Err(problem());
    }
    let bare_v6 = !entry.starts_with('[') && entry.matches(':').count() > 1;
    let authority = if bare_v6 { format!("[{entry}]") } else { entry.to_string() };
    let url = Url::parse(&format!("http://{authority}/")).map_err(|_| problem())?;
    let host = url.host_str().ok_or_else(problem)?.to_string();
    // `Url` forgets a port equal to the scheme's default: keep the one written.
    let port = match authority.rsplit_once(':') {
        Some((_, p)) if !p.ends_with(']') => Some(p.parse::<u16>().map_err(|_| problem())?),
        _ => None,
    };
    Ok((host, port))
}

/// `localhost`, 127.0.0.0/8 and `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// How many times a request is tried, and how long to wait between tries.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    pub(crate) attempts: u32,
    pub(crate) base: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// 5 tries, from `base` doubling up to 5 s.
    pub(crate) fn new(base: Duration) -> Backoff {
        Backoff { attempts: 5, base, max: Duration::from_secs(5) }
    }

    /// The wait before try `attempt + 1` (attempt counts from 1); `Retry-After` wins, capped at 60 s.
    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(Duration::from_secs(60));
        }
        let exp = self.base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(self.max);
        // Jitter: up to +50%, from the clock's nanoseconds (no rand dependency needed).
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        exp + exp.mul_f64((nanos % 1000) as f64 / 2000.0)
    }
}

/// Settings of the HTTP client.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientOptions {
    pub(crate) ca_certs: Vec<PathBuf>,
    /// Hosts that may be reached over plain HTTP besides loopback ones.
    pub(crate) insecure: Vec<String>,
    pub(crate) verbose: bool,
    pub(crate) quiet: bool,
    pub(crate) tuning: Tuning,
}

/// A body that can be sent again on a retry, with its content type.
#[derive(Clone, Debug, Default)]
pub(crate) enum Body {
    #[default]
    Empty,
    Bytes(Vec<u8>, String),
    /// A body holding a secret (an OAuth2 refresh token): its request follows no redirect,
    /// since a 307 would send the body on to wherever it points.
    Secret(Vec<u8>, String),
}

/// The shared reqwest client plus retry policy, timeouts and tracing.
pub(crate) struct Transport {
    pub(crate) client: reqwest::Client,
    /// The same, following no redirect: for bodies that hold a secret. Made on first use:
    /// making a client reads the whole OS certificate store, and most runs never send such
    /// a body.
    no_redirects: std::sync::OnceLock<reqwest::Client>,
    /// What makes a client: the extra roots, the proxy, the connect timeout.
    setup: (Vec<reqwest::Certificate>, Option<reqwest::Proxy>, std::time::Duration),
    pub(crate) backoff: Backoff,
    pub(crate) tuning: Tuning,
    insecure: Vec<String>,
    verbose: bool,
    pub(crate) quiet: bool,
}

/// The extra roots: each `--ca-cert` file and `SSL_CERT_FILE`, read as PEM. A file that
/// cannot be read, or holds no certificate, is an error naming it; checked before the build.
pub(crate) fn ca_certificates(ca_certs: &[PathBuf]) -> Result<Vec<reqwest::Certificate>, Error> {
    let mut files = ca_certs.to_vec();
    if let Some(f) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        files.push(PathBuf::from(f));
    }
    let mut certs = Vec::new();
    for file in &files {
        let pem = crate::fsutil::read_regular(file, 16 << 20)
            .map_err(|e| tls_setup(format!("cannot read CA certificate {}: {e}", file.display())))?;
        let found = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| tls_setup(format!("{} holds no usable PEM certificate: {e}", file.display())))?;
        if found.is_empty() {
            return Err(tls_setup(format!("{} holds no PEM certificate", file.display())));
        }
        certs.extend(found);
    }
    Ok(certs)
}

/// A reqwest client that verifies HTTPS with the OS store plus the extra roots of `setup`,
/// through its proxy, following `redirects`.
fn client(
    (certs, proxy, connect_timeout): &(Vec<reqwest::Certificate>, Option<reqwest::Proxy>, std::time::Duration),
    redirects: reqwest::redirect::Policy,
) -> Result<reqwest::Client, Error> {
    let builder = match proxy {
        Some(proxy) => reqwest::Client::builder().proxy(proxy.clone()),
        None => reqwest::Client::builder().no_proxy(),
    };
    builder
        .user_agent(concat!("cargo-containerize/", env!("CARGO_PKG_VERSION")))
        .tls_certs_merge(certs.clone())
        .connect_timeout(*connect_timeout)
        .redirect(redirects)
        .build()
        .map_err(|e| tls_setup(format!("cannot set up the HTTPS client: {e}")))
}

impl Transport {
    /// A client that verifies HTTPS with the OS store plus `--ca-cert` files and `SSL_CERT_FILE`;
    /// proxies come from `HTTPS_PROXY`/`NO_PROXY`. Redirects drop `Authorization` across hosts
    /// (reqwest's `remove_sensitive_headers`) and are never followed to plain HTTP on a host
    /// that may not get it.
    pub(crate) fn new(opts: &ClientOptions) -> Result<Transport, Error> {
        let setup = (ca_certificates(&opts.ca_certs)?, env_proxy()?, opts.tuning.connect_timeout());
        let insecure = opts.insecure.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                let error = format!("more than {MAX_REDIRECTS} redirects");
                attempt.error(error)
            } else if !plain_http_allowed(attempt.url(), &insecure) {
                let error = InsecureRedirect(redact_url(attempt.url().as_str()));
                attempt.error(error)
            } else {
                attempt.follow()
            }
        });
        Ok(Transport {
            client: client(&setup, redirects)?,
            no_redirects: std::sync::OnceLock::new(),
            setup,
            backoff: Backoff::new(opts.tuning.retry_base),
            tuning: opts.tuning.clone(),
            insecure: opts.insecure.clone(),
            verbose: opts.verbose,
            quiet: opts.quiet,
        })
    }

    /// The client that follows no redirect, made on first use.
    fn no_redirects(&self) -> Result<&reqwest::Client, Error> {
        if let Some(made) = self.no_redirects.get() {
            return Ok(made);
        }
        let made = client(&self.setup, reqwest::redirect::Policy::none())?;
        Ok(self.no_redirects.get_or_init(|| made))
    }

    /// Refuses a URL that the transport rule forbids (see [`plain_http_allowed`]); `via`
    /// says where the URL came from.
    pub(crate) fn check_url(&self, registry: &str, url: &str, via: &str) -> Result<Url, Error> {
        let parsed = Url::parse(url).map_err(|_| Error::Protocol {
            registry: registry.to_string(),
            request: request(&Method::GET, url),
            message: format!("{via} is not a URL"),
        })?;
        if plain_http_allowed(&parsed, &self.insecure) {
            return Ok(parsed);
        }
        Err(Error::Insecure {
            registry: registry.to_string(),
            url: redact_url(url),
            host: parsed.host_str().unwrap_or_default().to_string(),
            via: via.to_string(),
        })
    }

    /// Sends once; `Err` only for transport failures (the status is not checked here).
    /// With a `timeout` (requests with small bodies), says on stderr what it is waiting for
    /// once the wait passes a few seconds.
    pub(crate) async fn send_once(
        &self,
        registry: &str,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
        timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        self.send_via(&self.client, registry, method, url, headers, body, timeout).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_via(
        &self,
        client: &reqwest::Client,
        registry: &str,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
        timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        self.check_url(registry, url, "the URL")?;
        if self.verbose {
            let auth = headers.get(AUTHORIZATION).map(scheme_of).unwrap_or_default();
            crate::shell::line(format_args!("> {method} {}{auth}", redact_url(url)));
        }
        let mut req = client.request(method.clone(), url).headers(headers);
        if let Some(body) = body {
            req = req.body(body);
        }
        // The timeout bounds the wait for the answer's head only: a body is read within a
        // time of its own (`body`), or, for a blob, as long as it keeps coming (`get_blob`).
        let sent = req.send();
        tokio::pin!(sent);
        let result = match timeout {
            Some(timeout) => {
                let announce = announce_after(timeout);
                let waited = async {
                    tokio::select! {
                        result = &mut sent => result,
                        () = tokio::time::sleep(announce) => {
                            if !self.quiet {
                                crate::shell::line(format_args!(
                                    "waiting for {registry} to answer {method} {} ({} s so far; giving up after {} s)",
                                    redact_url(url),
                                    announce.as_secs_f64().round(),
                                    timeout.as_secs()
                                ));
                            }
                            (&mut sent).await
                        }
                    }
                };
                match tokio::time::timeout(timeout, waited).await {
                    Ok(result) => result,
                    Err(_) => return Err(timed_out(registry, &method, url, timeout)),
                }
            }
            None => sent.await,
        };
        match result {
            Ok(resp) => {
                if self.verbose {
                    crate::shell::line(format_args!("< {} {method} {}", resp.status().as_u16(), redact_url(url)));
                }
                Ok(resp)
            }
            Err(e) => Err(network_error(registry, &method, url, e, timeout)),
        }
    }

    /// Sends a replayable request, retrying network errors, 408, 429 and 5xx with backoff;
    /// a request that timed out is not tried again. Returns the last response whatever its
    /// status; callers pass it to [`check`].
    pub(crate) async fn send(
        &self,
        registry: &str,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: &Body,
    ) -> Result<Response, Error> {
        let mut attempt = 1;
        let client = if matches!(body, Body::Secret(..)) { self.no_redirects()? } else { &self.client };
        loop {
            let (headers, body) = with_body(headers.clone(), body);
            let timeout = Some(self.tuning.timeout);
            let result = self.send_via(client, registry, method.clone(), url, headers, body, timeout).await;
            let retry_after = match &result {
                Ok(resp) if is_retryable_status(resp.status().as_u16()) => retry_after(resp),
                Ok(_) => return result,
                // A server that did not answer in time will not answer a second time either.
                Err(e) if e.is_timeout() => return result,
                Err(e) if e.is_retryable() => None,
                Err(_) => return result,
            };
            if attempt >= self.backoff.attempts {
                return result;
            }
            let wait = self.backoff.delay(attempt, retry_after);
            if self.verbose {
                crate::shell::line(format_args!(
                    "  retrying {method} {} in {:.1}s",
                    redact_url(url),
                    wait.as_secs_f64()
                ));
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

impl Transport {
    /// Reads a response's body, at most `limit` bytes, within the timeout, saying on stderr
    /// once the wait passes a few seconds.
    pub(crate) async fn body(
        &self,
        registry: &str,
        method: &Method,
        url: &str,
        mut resp: Response,
        limit: usize,
    ) -> Result<Vec<u8>, Error> {
        let announce = announce_after(self.tuning.timeout);
        let read = async {
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > limit {
                    break;
                }
            }
            Ok::<_, reqwest::Error>(body)
        };
        tokio::pin!(read);
        let waited = async {
            tokio::select! {
                r = &mut read => r,
                () = tokio::time::sleep(announce) => {
                    if !self.quiet {
                        crate::shell::line(format_args!("waiting for {registry} to finish answering {method} {} ({} s so far)", redact_url(url), announce.as_secs()));
                    }
                    (&mut read).await
                }
            }
        };
        let result = match tokio::time::timeout(self.tuning.timeout, waited).await {
            Ok(r) => r,
            Err(_) => return Err(timed_out(registry, method, url, self.tuning.timeout)),
        };
        let body = result.map_err(|e| network_error(registry, method, url, e, Some(self.tuning.timeout)))?;
        if body.len() > limit {
            return Err(Error::Protocol {
                registry: registry.to_string(),
                request: request(method, url),
                message: format!("answered more than {limit} bytes"),
            });
        }
        Ok(body)
    }
}

/// The error a redirect to a forbidden plain-HTTP URL fails with.
#[derive(Debug)]
struct InsecureRedirect(String);

impl std::fmt::Display for InsecureRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused a redirect to {} over plain HTTP: that host is neither loopback nor an --insecure-registry host",
            self.0
        )
    }
}

impl std::error::Error for InsecureRedirect {}

/// `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (either case) minus `NO_PROXY`; as in Docker (Go's
/// `ProxyFromEnvironment`), loopback registries are always reached directly.
fn env_proxy() -> Result<Option<reqwest::Proxy>, Error> {
    let get = |names: &[&'static str]| {
        names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()).map(|v| (*n, v)))
    };
    let https = get(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]);
    let http = get(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]);
    // A proxy that is not a URL is an error, not a reason to go direct.
    let parse = |found: Option<(&str, String)>| -> Result<Option<Url>, Error> {
        let Some((name, value)) = found else { return Ok(None) };
        let with_scheme = if value.contains("://") { value } else { format!("http://{value}") };
        Url::parse(&with_scheme).map(Some).map_err(|_| Error::Tls {
            message: format!(
                "{name} is not a proxy URL\n  help: set it as http://HOST:PORT (or http://USER:PASSWORD@HOST:PORT), or unset it"
            ),
        })
    };
    let (https, http) = (parse(https)?, parse(http)?);
    if https.is_none() && http.is_none() {
        return Ok(None);
    }
    let proxy = reqwest::Proxy::custom(move |url| {
        if url.host_str().is_some_and(is_loopback) {
            return None;
        }
        if url.scheme() == "https" {
            https.clone()
        } else {
            http.clone()
        }
    });
    Ok(Some(proxy.no_proxy(reqwest::NoProxy::from_env())))
}

fn scheme_of(v: &HeaderValue) -> String {
    let s = v.to_str().unwrap_or("");
    format!(" (Authorization: {} <redacted>)", s.split(' ').next().unwrap_or(""))
}

fn with_body(mut headers: HeaderMap, body: &Body) -> (HeaderMap, Option<reqwest::Body>) {
    match body {
        Body::Empty => (headers, None),
        Body::Bytes(bytes, content_type) | Body::Secret(bytes, content_type) => {
            if let Ok(v) = HeaderValue::from_str(content_type) {
                headers.insert(reqwest::header::CONTENT_TYPE, v);
            }
            (headers, Some(reqwest::Body::from(bytes.clone())))
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is treated as 1 s).
pub(crate) fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    Some(Duration::from_secs(v.trim().parse().unwrap_or(1)))
}

/// A transport failure as an [`Error::Network`], with the whole source chain.
pub(crate) fn network_error(
    registry: &str,
    method: &Method,
    url: &str,
    e: reqwest::Error,
    timeout: Option<Duration>,
) -> Error {
    let e = e.without_url();
    if e.is_timeout() {
        return match timeout {
            Some(t) => timed_out(registry, method, url, t),
            None => Error::network(registry, request(method, url), "timed out".into(), Failure::Timeout),
        };
    }
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    let kind = if is_tls_failure(&detail) { Failure::Tls } else { Failure::Other };
    Error::network(registry, request(method, url), detail, kind)
}

/// No answer within `after`.
pub(crate) fn timed_out(registry: &str, method: &Method, url: &str, after: Duration) -> Error {
    let detail = format!("no answer within {} s (timed out)", after.as_secs());
    Error::network(registry, request(method, url), detail, Failure::Timeout)
}

/// An upload that made no progress for `after`: restarted from its existence check.
pub(crate) fn stalled(registry: &str, method: &Method, url: &str, after: Duration) -> Error {
    let detail = format!("no progress for {} s; the connection stalled", after.as_secs());
    Error::network(registry, request(method, url), detail, Failure::Stalled)
}

pub(crate) fn request(method: &Method, url: &str) -> Request {
    Request { method: method.to_string(), url: redact_url(url) }
}

/// Returns the response if its status is one of `accepted`, else the registry's error.
pub(crate) async fn check(
    registry: &str,
    method: &Method,
    url: &str,
    resp: Response,
    accepted: &[StatusCode],
) -> Result<Response, Error> {
    if accepted.contains(&resp.status()) {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let location = resp
        .status()
        .is_redirection()
        .then(|| resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(|l| redact_url(l).into()))
        .flatten();
    // An error body is small; one that comes slowly is not waited for long.
    let body = tokio::time::timeout(ERROR_BODY_TIMEOUT, read_limited(resp)).await.unwrap_or_default();
    Err(Error::Status {
        registry: registry.to_string(),
        request: request(method, url),
        status,
        diagnostics: parse_envelope(&body),
        location,
    })
}

async fn read_limited(mut resp: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_or_insecure_hosts() {
        let both: &[&str] = &["http", "https"];
        assert_eq!(schemes("127.0.0.1:5000", &[]), both);
        assert_eq!(schemes("127.3.4.5", &[]), both);
        assert_eq!(schemes("localhost:5000", &[]), both);
        assert_eq!(schemes("[::1]:5000", &[]), both);
        assert_eq!(schemes("ghcr.io", &[]), ["https"]);
        assert_eq!(schemes("10.0.0.1:5000", &[]), ["https"]);
        assert_eq!(schemes("10.0.0.1:5000", &["10.0.0.1:5000".into()]), ["http"]);
        assert_eq!(schemes("reg.lan:5000", &["reg.lan".into()]), ["http"]);
        assert_eq!(schemes("reg.lan:5000", &["Reg.LAN:5000".into()]), ["http"]);
        assert_eq!(schemes("reg.lan:5000", &["reg.lan:6000".into()]), ["https"]);
        assert_eq!(schemes("[fd00::1]:5000", &["[fd00::1]".into()]), ["http"]);
        assert_eq!(schemes("[fd00::1]:5000", &["fd00::1".into()]), ["http"]);
        let allowed = |url: &str, entry: &str| plain_http_allowed(&Url::parse(url).unwrap(), &[entry.to_string()]);
        assert!(allowed("http://[fd00::1]:5000/v2/", "fd00::1"));
        assert!(allowed("http://[fd00::1]:5000/v2/", "[fd00::1]:5000"));
        assert!(allowed("http://reg.lan:5000/v2/", "Reg.LAN"));
        assert!(!allowed("http://reg.lan:5000/v2/", "reg.lan:80"));
        assert!(allowed("http://reg.lan/v2/", "reg.lan:80"));
        assert!(!allowed("http://other.lan/v2/", "reg.lan"));
        // Spellings of the same host name it; look-alikes do not.
        assert!(allowed("http://[fd00::1]:5000/v2/", "[fd00:0:0::1]:5000"));
        assert!(allowed("http://[fd00::1]:5000/v2/", "fd00:0000::1"));
        assert!(allowed("http://10.0.0.1:5000/v2/", "10.0.0.001"));
        assert!(allowed("http://reg.lan./v2/", "reg.lan.") && !allowed("http://reg.lan.evil/v2/", "reg.lan"));
        assert!(!allowed("http://10.0.0.10/v2/", "10.0.0.1"));
        assert_eq!(schemes("[fd00::1]:5000", &["[FD00:0::1]:5000".into()]), ["http"]);
        assert_eq!(schemes("10.0.0.1:5000", &["10.0.0.001".into()]), ["http"]);
        for bad in ["", "reg.lan/path", "user@reg.lan", "reg.lan:port", "reg.lan:99999", "[fd00::1"] {
            assert!(insecure_entry(bad).is_err(), "{bad:?}");
            assert!(!allowed("http://reg.lan/v2/", bad), "{bad:?}");
        }
    }

    #[test]
    fn backoff_grows_is_bounded_and_honours_retry_after() {
        let b = Backoff { attempts: 5, base: Duration::from_millis(100), max: Duration::from_millis(800) };
        let d1 = b.delay(1, None);
        let d3 = b.delay(3, None);
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(150), "{d1:?}");
        assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(600), "{d3:?}");
        assert!(b.delay(20, None) <= Duration::from_millis(1200));
        assert_eq!(b.delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
    }
}
