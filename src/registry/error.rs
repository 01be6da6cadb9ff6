//! Registry errors: the spec's error envelope plus what failed and how to fix it.

use serde::Deserialize;
use std::fmt;

/// One entry of the distribution spec's `{"errors": [...]}` envelope.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Diagnostic {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
}

/// The failed request: method and redacted URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

/// Why a push failed. Every message names the registry and the request, and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reference has no `host[:port]/` part.
    #[error("cannot push to {reference:?}: it names no registry host; write the registry first, e.g. 127.0.0.1:5000/{repository}:1.0 or ghcr.io/OWNER/{repository}:1.0")]
    NoRegistry { reference: String, repository: String },
    /// The registry answered with an unexpected status.
    #[error("{request} on registry {registry} failed: {status}{}{}", diagnostics_text(.diagnostics), hint_text(&status_hint(.registry, *.status, .diagnostics, &.request.method, .location.as_deref())))]
    Status { registry: String, request: Request, status: u16, diagnostics: Vec<Diagnostic>, location: Option<Box<str>> },
    /// A URL to contact (the registry's, its token realm, a redirect, an upload location)
    /// is plain HTTP on a host that may not get it.
    #[error("refusing to contact {url} over plain HTTP ({via} given by registry {registry}): {host} is neither a loopback address nor an --insecure-registry host, and plain HTTP would expose credentials and image data to the network\n  help: if {host} really serves only plain HTTP, pass --insecure-registry {host}; otherwise the registry is misconfigured: ask its operator to serve {host} over HTTPS")]
    Insecure { registry: String, url: String, host: String, via: String },
    /// The request never got an answer: DNS, connection, TLS, a timeout or a broken body.
    #[error("{request} to registry {registry} failed: {detail}{}", hint_text(&network_hint(.registry, *.kind)))]
    Network { registry: String, request: Request, detail: String, kind: Failure },
    /// The registry answered 2xx but broke the protocol (missing Location, wrong digest...).
    #[error("{request} on registry {registry}: {message}")]
    Protocol { registry: String, request: Request, message: String },
    /// Reading a blob or a CA certificate from disk failed.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// Credentials could not be looked up (broken config file or helper).
    #[error("looking up credentials for {registry}: {message}")]
    Credentials { registry: String, message: String },
    /// The TLS setup (e.g. a --ca-cert file) is unusable.
    #[error("{message}")]
    Tls { message: String },
    /// A push destination failed its check before the build (see `super::preflight`): the
    /// message names the registry, where the credentials came from, and the fix.
    #[error("{message}")]
    Preflight { registry: String, message: String },
}

/// What kind of network failure an [`Error::Network`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer within the timeout.
    Timeout,
    /// An upload made no progress for the stall time.
    Stalled,
    /// The certificate was not trusted, or TLS failed.
    Tls,
    /// Anything else: DNS, a refused or broken connection.
    Other,
}

impl Error {
    /// A failure to get an answer, of `kind`.
    pub(crate) fn network(registry: &str, request: Request, detail: String, kind: Failure) -> Error {
        Error::Network { registry: registry.to_string(), request, detail, kind }
    }

    /// Whether retrying the same request may succeed: network errors, 408, 429 and 5xx.
    /// A server that did not answer in time is not asked again (that would only multiply
    /// the wait), nor one whose certificate is not trusted.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Error::Status { status, .. } => is_retryable_status(*status),
            Error::Network { kind, .. } => matches!(kind, Failure::Stalled | Failure::Other),
            _ => false,
        }
    }

    /// Whether the request got no answer in time.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, Error::Network { kind: Failure::Timeout, .. })
    }

    /// Whether TLS failed (an untrusted certificate, or no TLS on the other end).
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Error::Network { kind: Failure::Tls, .. })
    }

    /// The HTTP status, when the registry answered.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A copy of this error, for a failure remembered and reported again (an I/O error keeps
    /// its kind and message).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::NoRegistry { reference, repository } => {
                Error::NoRegistry { reference: reference.clone(), repository: repository.clone() }
            }
            Error::Status { registry, request, status, diagnostics, location } => Error::Status {
                registry: registry.clone(),
                request: request.clone(),
                status: *status,
                diagnostics: diagnostics.clone(),
                location: location.clone(),
            },
            Error::Insecure { registry, url, host, via } => {
                Error::Insecure { registry: registry.clone(), url: url.clone(), host: host.clone(), via: via.clone() }
            }
            Error::Network { registry, request, detail, kind } => {
                Error::network(registry, request.clone(), detail.clone(), *kind)
            }
            Error::Protocol { registry, request, message } => {
                Error::Protocol { registry: registry.clone(), request: request.clone(), message: message.clone() }
            }
            Error::Io { what, source } => {
                Error::Io { what: what.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
            }
            Error::Credentials { registry, message } => {
                Error::Credentials { registry: registry.clone(), message: message.clone() }
            }
            Error::Tls { message } => Error::Tls { message: message.clone() },
            Error::Preflight { registry, message } => {
                Error::Preflight { registry: registry.clone(), message: message.clone() }
            }
        }
    }

    /// Whether any diagnostic carries `code`.
    pub(crate) fn has_code(&self, code: &str) -> bool {
        matches!(self, Error::Status { diagnostics, .. } if diagnostics.iter().any(|d| d.code == code))
    }
}

/// A TLS setup error, with the fix.
pub(crate) fn tls_setup(problem: String) -> Error {
    Error::Tls {
        message: format!(
            "{problem}\n  help: --ca-cert and SSL_CERT_FILE take a file of PEM certificates (BEGIN CERTIFICATE)"
        ),
    }
}

/// 408, 429 and 5xx are worth retrying.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// Parses the error envelope from a response body; anything else gives no diagnostics.
pub(crate) fn parse_envelope(body: &[u8]) -> Vec<Diagnostic> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Vec<Diagnostic>,
    }
    // What a server says is escaped and bounded before it can reach a terminal.
    let mut errors = serde_json::from_slice::<Envelope>(body).map(|e| e.errors).unwrap_or_default();
    errors.truncate(10);
    for d in &mut errors {
        d.code = crate::redact::server_text(&d.code, 64);
        d.message = crate::redact::server_text(&d.message, 1000);
    }
    errors
}

fn diagnostics_text(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(|d| format!(" ({}: {})", d.code, d.message)).collect()
}

fn hint_text(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default()
}

pub(crate) fn login_hint(registry: &str) -> String {
    format!(
        "log in with `docker login {registry}`, or set CARGO_CONTAINERIZE_USERNAME and CARGO_CONTAINERIZE_PASSWORD, or pass --username USER --password-stdin"
    )
}

fn status_hint(
    registry: &str,
    status: u16,
    diagnostics: &[Diagnostic],
    method: &str,
    location: Option<&str>,
) -> Option<String> {
    let has = |c: &str| diagnostics.iter().any(|d| d.code == c);
    let hint = match status {
        200..=299 => format!(
            "{registry} answered {status}, a success code this request does not expect: it does not follow the \
             Docker Registry HTTP API v2 here; check that {registry} is the registry's API address, not a web page or \
             a proxy that rewrites answers"
        ),
        300..=399 => format!(
            "{registry} redirected this request{}; redirects are followed at most {} times, never to plain HTTP on \
             another host, and not for uploads streamed from disk; check the registry address (host, port, https)",
            location.map(|l| format!(" to {l}")).unwrap_or_default(),
            super::transport::MAX_REDIRECTS
        ),
        401 => format!("the registry refused the credentials (or there were none); {}", login_hint(registry)),
        403 => format!(
            "access denied: the account may lack {} rights on this repository; check its permissions, or {}",
            if method == "GET" { "pull" } else { "push" },
            login_hint(registry)
        ),
        404 if method == "GET" && (has("MANIFEST_UNKNOWN") || has("NAME_UNKNOWN")) => {
            "no such tag or repository on this registry; check the name".to_string()
        }
        404 if has("NAME_UNKNOWN") => {
            "the repository does not exist and this registry does not create it on push; create it first (e.g. in the registry's web UI)".to_string()
        }
        429 => "the registry is rate limiting; wait and try again".to_string(),
        s if (500..600).contains(&s) => "the registry kept failing; try again later".to_string(),
        _ if method == "HEAD" => "HEAD responses have no body; the status alone is known".to_string(),
        _ => return None,
    };
    Some(hint)
}

fn network_hint(registry: &str, kind: Failure) -> Option<String> {
    if kind == Failure::Timeout {
        return Some(format!(
            "{registry} did not answer in time: check that it is reachable and that a registry listens there (not \
             another service); for a slow one, raise CARGO_CONTAINERIZE_TIMEOUT_SECS"
        ));
    }
    if kind == Failure::Stalled {
        return Some(format!(
            "{registry} stopped sending or taking data: check the connection to it; on a slow link, raise \
             CARGO_CONTAINERIZE_STALL_SECS (how long a transfer may make no progress)"
        ));
    }
    if kind == Failure::Tls {
        return Some(format!(
            "the TLS certificate of {registry} is not trusted; pass its CA certificate with --ca-cert FILE (PEM) or SSL_CERT_FILE, or use --insecure-registry {registry} for a plain-HTTP registry"
        ));
    }
    Some(format!("check that {registry} is reachable from here (host name, port, firewall, HTTPS_PROXY/NO_PROXY)"))
}

/// Whether a transport error's text describes an untrusted or invalid certificate.
pub(crate) fn is_tls_failure(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    ["certificate", "unknownissuer", "notvalidforname", "invalid peer"].iter().any(|k| d.contains(k))
}

/// Removes credentials, secret-looking query values and every known secret (see
/// `crate::redact`) from a URL before it is shown.
pub(crate) fn redact_url(url: &str) -> String {
    crate::redact::redact(&strip_url_secrets(url))
}

fn strip_url_secrets(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, path)) => format!("{scheme}://{}/{path}", strip_userinfo(authority)),
            None => format!("{scheme}://{}", strip_userinfo(rest)),
        },
        None => base.to_string(),
    };
    let Some(query) = query else { return base };
    let shown: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if !matches!(k, "digest" | "mount" | "from" | "service" | "scope") => {
                format!("{k}=<redacted>")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", shown.join("&"))
}

fn strip_userinfo(authority: &str) -> &str {
    authority.rsplit_once('@').map_or(authority, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_parsed_and_shown() {
        let body =
            br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied","detail":null}]}"#;
        let e = Error::Status {
            registry: "r.example".into(),
            request: Request { method: "PUT".into(), url: "https://r.example/v2/a/manifests/1".into() },
            status: 403,
            diagnostics: parse_envelope(body),
            location: None,
        };
        let text = e.to_string();
        assert!(text.contains("PUT https://r.example/v2/a/manifests/1"), "{text}");
        assert!(text.contains("403") && text.contains("DENIED: requested access"), "{text}");
        assert!(text.contains("docker login r.example"), "{text}");
        assert!(!e.is_retryable());
        assert!(parse_envelope(b"<html>").is_empty());
    }

    #[test]
    fn unexpected_success_and_redirect_codes_have_a_hint() {
        let status = |status, location: Option<&str>| Error::Status {
            registry: "r.example".into(),
            request: Request { method: "POST".into(), url: "https://r.example/v2/a/blobs/uploads/".into() },
            status,
            diagnostics: Vec::new(),
            location: location.map(Box::from),
        };
        let ok = status(200, None).to_string();
        assert!(ok.contains("help:") && ok.contains("success code this request does not expect"), "{ok}");
        let moved = status(307, Some("https://elsewhere.example/v2/")).to_string();
        assert!(moved.contains("help:") && moved.contains("redirected this request to https://elsewhere"), "{moved}");
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 405, 415] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("https://user:pw@r.io/v2/a/blobs/uploads/x?_state=SECRET&digest=sha256:1"),
            "https://r.io/v2/a/blobs/uploads/x?_state=<redacted>&digest=sha256:1"
        );
        assert_eq!(redact_url("http://127.0.0.1:5000/v2/"), "http://127.0.0.1:5000/v2/");
        assert_eq!(redact_url("https://s3/x?X-Amz-Signature=abc"), "https://s3/x?X-Amz-Signature=<redacted>");
    }

    #[test]
    fn tls_failures_point_to_ca_cert() {
        let detail = "invalid peer certificate: UnknownIssuer";
        let request = Request { method: "GET".into(), url: "https://127.0.0.1:5443/v2/".into() };
        let e = Error::network("127.0.0.1:5443", request, detail.into(), Failure::Tls);
        assert!(is_tls_failure(detail));
        assert!(e.to_string().contains("--ca-cert"));
        assert!(!e.is_retryable());
    }
}
