//! Registry authentication: `WWW-Authenticate` challenges, and Basic or Bearer tokens per scope.

use super::credentials::Credentials;
use super::error::Error;
use super::transport::{check, Body, Transport};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode, Url};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// One parsed challenge: `Basic realm="x"` or `Bearer realm="..",service="..",scope=".."`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// Lowercased scheme: `basic` or `bearer`.
    pub(crate) scheme: String,
    pub(crate) params: BTreeMap<String, String>,
}

impl Challenge {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The `scope` parameter split on spaces (several scopes may be requested at once).
    pub(crate) fn scopes(&self) -> Vec<String> {
        self.param("scope")
            .map(|s| s.split(' ').filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }
}

/// Parses a `WWW-Authenticate` value: several challenges, quoted values that may hold commas
/// and escaped quotes, and unquoted tokens.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let end = rest.find([' ', ',', '=']).unwrap_or(rest.len());
        let word = &rest[..end];
        let after = &rest[end..];
        if word.is_empty() {
            break;
        }
        if after.trim_start().starts_with('=') && !out.is_empty() {
            // A parameter of the current challenge.
            let after = after.trim_start()[1..].trim_start();
            let (value, remaining) = parse_value(after);
            out.last_mut().unwrap().params.insert(word.to_ascii_lowercase(), value);
            rest = remaining;
        } else {
            out.push(Challenge { scheme: word.to_ascii_lowercase(), params: BTreeMap::new() });
            rest = after;
        }
    }
    out
}

/// A quoted string (with `\"` escapes) or a token; returns the value and the rest.
fn parse_value(s: &str) -> (String, &str) {
    if let Some(body) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                '"' => return (value, &body[i + 1..]),
                _ => value.push(c),
            }
        }
        (value, "")
    } else {
        let end = s.find([',', ' ']).unwrap_or(s.len());
        (s[..end].to_string(), &s[end..])
    }
}

/// `repository:NAME:pull,push`.
pub(crate) fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// `repository:NAME:pull`, for mounting from another repository.
pub(crate) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// How long a token is used: its lifetime less a margin (10 s, or half a short lifetime),
/// so it is renewed before the registry starts refusing it.
pub(crate) fn refresh_after(lifetime: Duration) -> Duration {
    lifetime - (lifetime / 2).min(Duration::from_secs(10))
}

/// The lifetime assumed when a token endpoint gives none, as the distribution spec says.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// The longest lifetime believed: remote numbers are clamped before any arithmetic.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Reads a token endpoint's answer: `token` or `access_token`, and `expires_in` as a number
/// (integer or not) or a string of one, as some servers send; clamped to a day. Returns the
/// token and its lifetime, or what was wrong.
pub(crate) fn parse_token_reply(bytes: &[u8]) -> Result<(String, Duration), &'static str> {
    let reply: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| "the token endpoint did not answer JSON")?;
    let text = |key: &str| reply.get(key).and_then(|v| v.as_str()).filter(|t| !t.is_empty());
    let token = text("token").or_else(|| text("access_token")).ok_or("the token endpoint answered no token")?;
    let seconds = match reply.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    // At least a second: a token must serve at least one request.
    let lifetime = match seconds {
        Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s.clamp(1.0, MAX_LIFETIME.as_secs_f64())),
        _ => DEFAULT_LIFETIME,
    };
    Ok((token.to_string(), lifetime))
}

struct Token {
    value: String,
    refresh_at: Instant,
    scopes: BTreeSet<String>,
}

#[derive(Default)]
struct State {
    challenge: Option<Challenge>,
    scopes: BTreeSet<String>,
    token: Option<Token>,
    /// The token endpoint failed (after its own retries): every later request that needs a
    /// token fails at once with this, instead of asking (and waiting) again. A new 401
    /// challenge clears it.
    failed: Option<Error>,
}

/// Authentication for one registry host. Shared by all its requests.
pub(crate) struct Auth {
    registry: String,
    credentials: Option<Credentials>,
    state: tokio::sync::Mutex<State>,
}

impl Auth {
    pub(crate) fn new(registry: &str, credentials: Option<Credentials>) -> Auth {
        if let Some(c) = &credentials {
            c.register_secrets();
        }
        Auth { registry: registry.to_string(), credentials, state: Default::default() }
    }

    /// Records the challenge of a `GET /v2/` ping (or of any 401).
    pub(crate) async fn set_challenge(&self, header: Option<&str>) {
        let challenges = header.map(parse_challenges).unwrap_or_default();
        let preferred = challenges
            .iter()
            .find(|c| c.scheme == "bearer")
            .or_else(|| challenges.iter().find(|c| c.scheme == "basic"));
        self.state.lock().await.challenge = preferred.cloned();
    }

    /// Adds `scopes` to those every token is asked for: a check of several repositories
    /// before the push gets one token that serves them all, and the push after it.
    pub(crate) async fn want(&self, scopes: &[String]) {
        self.state.lock().await.scopes.extend(scopes.iter().cloned());
    }

    /// The scheme of the challenge answered (`basic` or `bearer`), if the registry gave one.
    pub(crate) async fn scheme(&self) -> Option<String> {
        self.state.lock().await.challenge.as_ref().map(|c| c.scheme.clone())
    }

    /// After a 401: merge the scope the registry asked for and drop the token.
    pub(crate) async fn unauthorized(&self, header: Option<&str>) {
        let challenges = header.map(parse_challenges).unwrap_or_default();
        let mut state = self.state.lock().await;
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            state.scopes.extend(bearer.scopes());
            state.challenge = Some(bearer.clone());
        } else if let Some(basic) = challenges.iter().find(|c| c.scheme == "basic") {
            state.challenge = Some(basic.clone());
        }
        state.token = None;
        state.failed = None;
    }

    /// The `Authorization` value covering `scopes`, fetching a token when needed.
    pub(crate) async fn header(&self, transport: &Transport, scopes: &[String]) -> Result<Option<HeaderValue>, Error> {
        let mut state = self.state.lock().await;
        let Some(challenge) = state.challenge.clone() else {
            return Ok(None);
        };
        if challenge.scheme == "basic" {
            return Ok(self.credentials.as_ref().map(|c| secret_header(c.basic_header())));
        }
        state.scopes.extend(scopes.iter().cloned());
        let fresh = state
            .token
            .as_ref()
            .is_some_and(|t| t.refresh_at > Instant::now() && scopes.iter().all(|s| t.scopes.contains(s)));
        if !fresh {
            if let Some(failed) = &state.failed {
                return Err(failed.duplicate());
            }
            let all: Vec<String> = state.scopes.iter().cloned().collect();
            let (value, lifetime) = match self.fetch_token(transport, &challenge, &all).await {
                Ok(token) => token,
                Err(e) => {
                    state.failed = Some(e.duplicate());
                    return Err(e);
                }
            };
            let now = Instant::now();
            let refresh_at = now.checked_add(refresh_after(lifetime)).unwrap_or(now);
            state.token = Some(Token { value, refresh_at, scopes: state.scopes.clone() });
        }
        Ok(state.token.as_ref().map(|t| secret_header(format!("Bearer {}", t.value))))
    }

    /// Asks the token endpoint; an identity token uses the OAuth2 refresh grant first.
    async fn fetch_token(
        &self,
        transport: &Transport,
        challenge: &Challenge,
        scopes: &[String],
    ) -> Result<(String, Duration), Error> {
        let realm = challenge.param("realm").ok_or_else(|| Error::Protocol {
            registry: self.registry.clone(),
            request: super::transport::request(&Method::GET, "/v2/"),
            message: "the Bearer challenge has no realm".into(),
        })?;
        // Credentials go to the realm: it must pass the transport rule before anything is sent.
        let mut url = transport.check_url(&self.registry, realm, "the token realm")?;
        let service = challenge.param("service");
        if let Some(Credentials::IdentityToken { token, .. }) = &self.credentials {
            match self.oauth_refresh(transport, realm, service, scopes, token).await {
                Err(e) if e.status() == Some(404) => {} // Not supported here: fall back to GET.
                other => return other,
            }
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = service {
                q.append_pair("service", service);
            }
            for scope in scopes {
                q.append_pair("scope", scope);
            }
        }
        let mut headers = HeaderMap::new();
        if let Some(c) = &self.credentials {
            headers.insert(AUTHORIZATION, secret_header(c.basic_header()));
        }
        let resp = transport.send(&self.registry, Method::GET, url.as_str(), &headers, &Body::Empty).await?;
        let resp = check(&self.registry, &Method::GET, url.as_str(), resp, &[StatusCode::OK]).await?;
        self.token_from(transport, resp, &Method::GET, url.as_str()).await
    }

    /// `POST realm` with `grant_type=refresh_token`; 200 gives `access_token`.
    async fn oauth_refresh(
        &self,
        transport: &Transport,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        refresh: &str,
    ) -> Result<(String, Duration), Error> {
        let mut form = Url::parse("http://x/").expect("static URL");
        form.query_pairs_mut()
            .append_pair("grant_type", "refresh_token")
            .append_pair("service", service.unwrap_or(""))
            .append_pair("client_id", "cargo-containerize")
            .append_pair("scope", &scopes.join(" "))
            .append_pair("refresh_token", refresh);
        // The form holds the refresh token: never sent on to another host by a redirect.
        let body = Body::Secret(
            form.query().unwrap_or("").as_bytes().to_vec(),
            "application/x-www-form-urlencoded".to_string(),
        );
        let resp = transport.send(&self.registry, Method::POST, realm, &HeaderMap::new(), &body).await?;
        let resp = check(&self.registry, &Method::POST, realm, resp, &[StatusCode::OK]).await?;
        self.token_from(transport, resp, &Method::POST, realm).await
    }

    async fn token_from(
        &self,
        transport: &Transport,
        resp: reqwest::Response,
        method: &Method,
        url: &str,
    ) -> Result<(String, Duration), Error> {
        let bad = |message: &str| Error::Protocol {
            registry: self.registry.clone(),
            request: super::transport::request(method, url),
            message: message.to_string(),
        };
        let bytes = transport.body(&self.registry, method, url, resp, MAX_TOKEN_REPLY).await?;
        let (token, lifetime) = parse_token_reply(&bytes).map_err(bad)?;
        crate::redact::register(&token);
        Ok((token, lifetime))
    }
}

/// The most of a token response that is read; real ones are a few kilobytes.
const MAX_TOKEN_REPLY: usize = 1 << 20;

/// A header value marked sensitive, so that no debug output shows it.
fn secret_header(value: String) -> HeaderValue {
    let mut v = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_quoted_commas() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push repository:c:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].scopes(), ["repository:a/b:pull,push", "repository:c:pull"]);
    }

    #[test]
    fn parses_several_challenges_and_tokens() {
        let c = parse_challenges(
            r#"Basic realm="Registry Realm", Bearer realm=https://x/token, service="a\"b", error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        assert_eq!(c[1].param("realm"), Some("https://x/token"));
        assert_eq!(c[1].param("service"), Some("a\"b"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
        assert!(parse_challenges("").is_empty());
        assert_eq!(parse_challenges("Basic")[0].scheme, "basic");
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let s = Duration::from_secs;
        assert_eq!(refresh_after(s(300)), s(290));
        assert_eq!(refresh_after(s(60)), s(50));
        assert_eq!(refresh_after(s(4)), s(2));
        assert_eq!(refresh_after(s(0)), Duration::ZERO);
    }

    #[test]
    fn token_replies_accept_strings_and_floats_and_clamp_absurd_lifetimes() {
        let life = |body: &str| parse_token_reply(body.as_bytes()).map(|(_, d)| d);
        assert_eq!(life(r#"{"token":"t","expires_in":300}"#), Ok(Duration::from_secs(300)));
        assert_eq!(life(r#"{"token":"t","expires_in":"300"}"#), Ok(Duration::from_secs(300)));
        assert_eq!(life(r#"{"token":"t","expires_in":299.5}"#), Ok(Duration::from_millis(299_500)));
        assert_eq!(life(r#"{"token":"t","expires_in":18446744073709551615}"#), Ok(MAX_LIFETIME));
        assert_eq!(life(r#"{"token":"t","expires_in":1e300}"#), Ok(MAX_LIFETIME));
        assert_eq!(life(r#"{"token":"t","expires_in":-5}"#), Ok(DEFAULT_LIFETIME));
        assert_eq!(life(r#"{"token":"t","expires_in":"1e-10"}"#), Ok(Duration::from_secs(1)));
        assert_eq!(life(r#"{"access_token":"t"}"#), Ok(DEFAULT_LIFETIME));
        assert_eq!(life(r#"{"token":""}"#), Err("the token endpoint answered no token"));
        assert_eq!(life("<html>"), Err("the token endpoint did not answer JSON"));
    }

    #[test]
    fn scopes_name_the_repository() {
        assert_eq!(push_scope("team/app"), "repository:team/app:pull,push");
        assert_eq!(pull_scope("x"), "repository:x:pull");
    }
}
