//! Credentials for a registry host, looked up as the Docker CLI does: explicit or CI variables,
//! then the Docker config (helpers, store, auths), then Podman's auth files.

use base64::Engine;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Docker Hub's key in `auths` and for credential helpers.
pub(crate) const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A secret for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or personal access token), sent as Basic or to the token endpoint.
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    IdentityToken { username: String, token: String },
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials::Basic { username: username.into(), password: password.into() }
    }

    pub(crate) fn username(&self) -> &str {
        match self {
            Credentials::Basic { username, .. } | Credentials::IdentityToken { username, .. } => username,
        }
    }

    /// The secret itself; callers must never print it.
    pub(crate) fn secret(&self) -> &str {
        match self {
            Credentials::Basic { password, .. } => password,
            Credentials::IdentityToken { token, .. } => token,
        }
    }

    /// `Basic base64(user:secret)`.
    pub(crate) fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username(), self.secret());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Credentials::Basic { .. } => "Basic",
            Credentials::IdentityToken { .. } => "IdentityToken",
        };
        f.debug_tuple(kind).field(&self.username()).field(&"<redacted>").finish()
    }
}

/// Where a lookup reads environment variables from (the process, or a map in tests).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Looks up credentials for `host` (`host[:port]`); `Ok(None)` means anonymous.
pub(crate) fn lookup(host: &str, env: Env) -> Result<Option<Credentials>, String> {
    if let (Some(u), Some(p)) = (env("CARGO_CONTAINERIZE_USERNAME"), env("CARGO_CONTAINERIZE_PASSWORD")) {
        return Ok(Some(Credentials::basic(u, p)));
    }
    if let Some(path) = docker_config_path(env) {
        if let Some(config) = read_config(&path)? {
            if let Some(found) = from_docker_config(&config, host, env)? {
                return Ok(Some(found));
            }
        }
    }
    for path in podman_auth_paths(env) {
        if let Some(config) = read_config(&path)? {
            if let Some(found) = from_auths(&config.auths, host)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// The subset of `config.json` / `auth.json` used here.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

fn docker_config_path(env: Env) -> Option<PathBuf> {
    match env("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => env("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json")),
    }
}

fn podman_auth_paths(env: Env) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(p) = env("REGISTRY_AUTH_FILE") {
        paths.push(PathBuf::from(p));
    }
    if let Some(dir) = env("XDG_RUNTIME_DIR") {
        paths.push(PathBuf::from(dir).join("containers").join("auth.json"));
    }
    paths
}

fn read_config(path: &std::path::Path) -> Result<Option<ConfigFile>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    serde_json::from_slice(&text).map(Some).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// Docker's order: `credHelpers[host]`, then `credsStore`, then `auths`.
fn from_docker_config(config: &ConfigFile, host: &str, env: Env) -> Result<Option<Credentials>, String> {
    let key = server_key(host);
    if let Some(helper) = config.cred_helpers.get(&key).or_else(|| config.cred_helpers.get(host)) {
        return run_helper(helper, &key, env);
    }
    if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        if let Some(found) = run_helper(store, &key, env)? {
            return Ok(Some(found));
        }
    }
    from_auths(&config.auths, host)
}

/// The key Docker uses for `host`: Docker Hub's legacy URL, or the host itself.
pub(crate) fn server_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        _ => host.to_string(),
    }
}

/// `auths` keys may be `host`, `https://host`, `http://host/v1/`...: compare hosts.
fn from_auths(auths: &HashMap<String, AuthEntry>, host: &str) -> Result<Option<Credentials>, String> {
    let key = server_key(host);
    let wanted = normalize_key(&key);
    let entry = auths.get(&key).or_else(|| auths.iter().find(|(k, _)| normalize_key(k) == wanted).map(|(_, v)| v));
    let Some(entry) = entry else { return Ok(None) };
    decode_entry(entry, host)
}

fn normalize_key(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key).to_string()
}

fn decode_entry(entry: &AuthEntry, host: &str) -> Result<Option<Credentials>, String> {
    let (mut username, mut password) = (entry.username.clone(), entry.password.clone());
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| format!("the `auth` entry for {host} is not valid base64"))?;
        let raw = String::from_utf8(raw).map_err(|_| format!("the `auth` entry for {host} is not UTF-8"))?;
        let (u, p) = raw.split_once(':').ok_or_else(|| format!("the `auth` entry for {host} is not USER:PASSWORD"))?;
        username = Some(u.to_string());
        password = Some(p.to_string());
    }
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        let username = username.unwrap_or_default();
        return Ok(Some(Credentials::IdentityToken { username, token: token.to_string() }));
    }
    Ok(match (username, password) {
        (Some(u), Some(p)) if !u.is_empty() || !p.is_empty() => Some(Credentials::basic(u, p)),
        _ => None,
    })
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin.
pub(crate) fn run_helper(helper: &str, server: &str, env: Env) -> Result<Option<Credentials>, String> {
    let program = format!("docker-credential-{helper}");
    let mut cmd = Command::new(&program);
    cmd.arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(path) = env("PATH") {
        cmd.env("PATH", path);
    }
    let mut child = cmd.spawn().map_err(|e| {
        format!("running {program} (from the Docker config): {e}; install it or remove it from config.json")
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| format!("running {program}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found")
            || String::from_utf8_lossy(&out.stderr).contains("credentials not found")
        {
            return Ok(None);
        }
        // The helper's output may hold secrets: show only its exit status.
        return Err(format!("{program} get failed ({})", out.status));
    }
    #[derive(Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let reply: Reply =
        serde_json::from_str(&stdout).map_err(|_| format!("{program} get did not print the expected JSON"))?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if reply.username == "<token>" {
        Credentials::IdentityToken { username: String::new(), token: reply.secret }
    } else {
        Credentials::basic(reply.username, reply.secret)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn env_of(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    }

    fn auth(u: &str, p: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    }

    fn helper(dir: &std::path::Path, name: &str, script: &str) {
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c = Credentials::basic("alice", "hunter2");
        let t = Credentials::IdentityToken { username: "bob".into(), token: "tok-xyz".into() };
        let shown = format!("{c:?} {t:?}");
        assert!(shown.contains("alice") && shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains("tok-xyz"), "{shown}");
    }

    #[test]
    fn ci_variables_come_first() {
        let env = env_of(vec![
            ("CARGO_CONTAINERIZE_USERNAME", "ci".into()),
            ("CARGO_CONTAINERIZE_PASSWORD", "pw".into()),
            ("DOCKER_CONFIG", "/nonexistent".into()),
        ]);
        assert_eq!(lookup("r.io", &env).unwrap(), Some(Credentials::basic("ci", "pw")));
    }

    #[test]
    fn docker_order_is_helper_then_store_then_auths() {
        let dir = tempfile::tempdir().unwrap();
        helper(dir.path(), "one", r#"read s; echo "{\"Username\":\"h-$s\",\"Secret\":\"s1\"}""#);
        helper(dir.path(), "store", r#"read s; echo "{\"Username\":\"store\",\"Secret\":\"s2\"}""#);
        helper(dir.path(), "none", "echo 'credentials not found in native keychain'; exit 1");
        let config = serde_json::json!({
            "credHelpers": {"a.io": "one", "none.io": "none"},
            "credsStore": "store",
            "auths": {"https://a.io": {"auth": auth("x", "y")}, "b.io": {"auth": auth("x", "y")}}
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let env = env_of(vec![
            ("DOCKER_CONFIG", dir.path().display().to_string()),
            ("PATH", format!("{}:/usr/bin:/bin", dir.path().display())),
        ]);
        assert_eq!(lookup("a.io", &env).unwrap(), Some(Credentials::basic("h-a.io", "s1")));
        assert_eq!(lookup("b.io", &env).unwrap(), Some(Credentials::basic("store", "s2")));
        // A helper named for the host that knows nothing means anonymous, not the store.
        assert_eq!(lookup("none.io", &env).unwrap(), None);
    }

    #[test]
    fn auths_decode_and_identity_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let config = serde_json::json!({"auths": {
            "https://index.docker.io/v1/": {"auth": auth("hub", "pw:with:colons")},
            "http://c.io/v1/": {"auth": auth("u", "")  , "identitytoken": "refresh"},
        }});
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let env = env_of(vec![("DOCKER_CONFIG", dir.path().display().to_string())]);
        assert_eq!(lookup("docker.io", &env).unwrap(), Some(Credentials::basic("hub", "pw:with:colons")));
        assert_eq!(
            lookup("c.io", &env).unwrap(),
            Some(Credentials::IdentityToken { username: "u".into(), token: "refresh".into() })
        );
        assert_eq!(lookup("d.io", &env).unwrap(), None);
    }

    #[test]
    fn podman_auth_file_is_read_after_docker() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("containers")).unwrap();
        let config = serde_json::json!({"auths": {"p.io": {"auth": auth("pod", "man")}}});
        std::fs::write(dir.path().join("containers/auth.json"), config.to_string()).unwrap();
        let env = env_of(vec![
            ("DOCKER_CONFIG", dir.path().join("nope").display().to_string()),
            ("XDG_RUNTIME_DIR", dir.path().display().to_string()),
        ]);
        assert_eq!(lookup("p.io", &env).unwrap(), Some(Credentials::basic("pod", "man")));
    }

    #[test]
    fn helper_token_user_means_identity_token() {
        let dir = tempfile::tempdir().unwrap();
        helper(dir.path(), "tok", r#"echo '{"Username":"<token>","Secret":"rt"}'"#);
        let env = env_of(vec![("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))]);
        assert_eq!(
            run_helper("tok", "x.io", &env).unwrap(),
            Some(Credentials::IdentityToken { username: String::new(), token: "rt".into() })
        );
        let err = run_helper("missing-helper", "x.io", &env).unwrap_err();
        assert!(err.contains("docker-credential-missing-helper"), "{err}");
    }
}
