//! Credentials for a registry host, looked up as the Docker CLI does: the Docker config
//! (helpers, store, auths), then Podman's auth files. Explicit credentials (`--username`, the
//! CI variables) are scoped to one host at the edge (`crate::login`).

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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

    /// Registers the secret and its Basic form (`user:secret`) with [`crate::redact`], each
    /// with its base64 forms, so that no message can show them, even one quoting a server
    /// that echoes them.
    pub(crate) fn register_secrets(&self) {
        crate::redact::register(self.secret());
        crate::redact::register(&format!("{}:{}", self.username(), self.secret()));
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

/// Whether two `host[:port]` names are the same registry (Docker Hub's names are one).
pub(crate) fn same_host(a: &str, b: &str) -> bool {
    server_key(a).eq_ignore_ascii_case(&server_key(b))
}

/// Where a registry's credentials came from, in words for messages (never the secret), and
/// how to give others in their place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// `the \`auths\` entry for HOST in PATH`, `--username alice with --password-stdin`...
    pub(crate) from: String,
    /// How to give the right ones, as words that follow "give the right ones": `with
    /// \`docker login HOST\``, `on --password-stdin`...
    pub(crate) renew: String,
}

/// Looks up credentials for `host` (`host[:port]`) in the Docker config, then Podman's
/// auth files, with where they were found; `Ok(None)` means anonymous. A credential helper
/// gets `timeout` to answer. Errors name the file and the key, never a value from the file.
pub(crate) fn lookup(
    host: &str,
    env: Env,
    timeout: Duration,
    quiet: bool,
) -> Result<Option<(Credentials, Source)>, String> {
    let found = lookup_inner(host, env, timeout, quiet)?;
    if let Some((c, _)) = &found {
        c.register_secrets();
    }
    Ok(found)
}

/// The files a lookup reads, in order, for a message saying where none were found.
pub(crate) fn places(env: Env) -> Vec<PathBuf> {
    docker_config_path(env).into_iter().chain(podman_auth_paths(env)).collect()
}

fn lookup_inner(host: &str, env: Env, timeout: Duration, quiet: bool) -> Result<Option<(Credentials, Source)>, String> {
    if let Some(path) = docker_config_path(env) {
        if let Some(config) = read_config(&path)? {
            let helper = Helper { env, timeout, quiet };
            if let Some(found) = from_docker_config(&config, &path, host, &helper)? {
                return Ok(Some(found));
            }
        }
    }
    for path in podman_auth_paths(env) {
        if let Some(config) = read_config(&path)? {
            if let Some(found) = from_auths(&config, &path, host)? {
                let renew = format!("with `podman login {host}` (or `docker login {host}`)");
                return Ok(Some((found.0, Source { renew, ..found.1 })));
            }
        }
    }
    Ok(None)
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

/// The file as a JSON value; what each key holds is checked only for the host asked about,
/// so a broken entry for another registry does not matter. Never quotes the file.
fn read_config(path: &Path) -> Result<Option<Value>, String> {
    // A FIFO here must not hang the run, nor a link to a device fill the memory.
    let text = match crate::fsutil::read_regular(path, 16 << 20) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let value: Value = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{} is not valid JSON (line {}, column {}); fix it, or move it away to push anonymously",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    if !value.is_object() {
        return Err(format!("{} is not a JSON object; fix it, or move it away to push anonymously", path.display()));
    }
    Ok(Some(value))
}

/// How credential helpers are run.
struct Helper<'a> {
    env: Env<'a>,
    timeout: Duration,
    quiet: bool,
}

/// Docker's order: `credHelpers[host]`, then `credsStore`, then `auths`.
fn from_docker_config(
    config: &Value,
    path: &Path,
    host: &str,
    helper: &Helper,
) -> Result<Option<(Credentials, Source)>, String> {
    let key = server_key(host);
    let helpers = config.get("credHelpers").and_then(Value::as_object);
    let named = helpers.and_then(|h| h.get(&key).or_else(|| h.get(host)));
    let from_helper = |what: String, found: Option<Credentials>| {
        let renew = format!("with `docker login {host}`, which stores them with that helper");
        found.map(|c| (c, Source { from: what, renew }))
    };
    if let Some(name) = named {
        let name = name.as_str().filter(|n| !n.is_empty()).ok_or_else(|| {
            format!(
                "`credHelpers` entry for {host} in {} is not a helper name (a string such as \"pass\")",
                path.display()
            )
        })?;
        let what = format!("the credential helper that `credHelpers` names for {host} in {}", path.display());
        let found = run_helper(name, &key, &what, helper)?;
        return Ok(from_helper(what, found));
    }
    match config.get("credsStore") {
        None | Some(Value::Null) => {}
        Some(Value::String(store)) if store.is_empty() => {}
        Some(Value::String(store)) => {
            let what = format!("the credential helper that `credsStore` names in {}", path.display());
            if let Some(found) = run_helper(store, &key, &what, helper)? {
                return Ok(from_helper(what, Some(found)));
            }
        }
        Some(_) => {
            return Err(format!(
                "`credsStore` in {} is not a helper name (a string such as \"desktop\")",
                path.display()
            ))
        }
    }
    from_auths(config, path, host)
}

/// The key Docker uses for `host`: Docker Hub's legacy URL, or the host itself.
pub(crate) fn server_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        _ => host.to_string(),
    }
}

/// `auths` keys may be `host`, `https://host`, `http://host/v1/`...: compare hosts. Only the
/// entry for `host` is read.
fn from_auths(config: &Value, path: &Path, host: &str) -> Result<Option<(Credentials, Source)>, String> {
    let Some(auths) = config.get("auths").and_then(Value::as_object) else { return Ok(None) };
    let key = server_key(host);
    let wanted = normalize_key(&key);
    let entry = auths.get(&key).or_else(|| auths.iter().find(|(k, _)| normalize_key(k) == wanted).map(|(_, v)| v));
    let Some(entry) = entry else { return Ok(None) };
    let what = format!("the `auths` entry for {host} in {}", path.display());
    let renew = format!("with `docker login {host}`");
    Ok(decode_entry(entry, &what)?.map(|c| (c, Source { from: what, renew })))
}

fn normalize_key(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key).to_ascii_lowercase()
}

/// Decodes one `auths` entry: `auth` (base64 `user:password`), `username`/`password`, or
/// `identitytoken`. `what` names the entry in errors, which never show its values.
fn decode_entry(entry: &Value, what: &str) -> Result<Option<Credentials>, String> {
    let expected = "an object such as {\"auth\": \"<base64 of user:password>\"}";
    let Value::Object(fields) = entry else {
        return Err(format!("{what} is not {expected}; log in again with `docker login`"));
    };
    let field = |name: &str| -> Result<Option<String>, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{name}` in {what} is not a string; log in again with `docker login`")),
        }
    };
    let (mut username, mut password) = (field("username")?, field("password")?);
    if let Some(auth) = field("auth")?.filter(|a| !a.is_empty()) {
        let bad = || format!("`auth` in {what} is not the base64 of USER:PASSWORD; log in again with `docker login`");
        let raw = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (u, p) = raw.split_once(':').ok_or_else(bad)?;
        username = Some(u.to_string());
        password = Some(p.to_string());
    }
    if let Some(token) = field("identitytoken")?.filter(|t| !t.is_empty()) {
        let username = username.unwrap_or_default();
        return Ok(Some(Credentials::IdentityToken { username, token }));
    }
    Ok(match (username, password) {
        (Some(u), Some(p)) if !u.is_empty() || !p.is_empty() => Some(Credentials::basic(u, p)),
        _ => None,
    })
}

/// Runs `docker-credential-<name> get` with the server URL on stdin; kills it when it does
/// not answer within the timeout, and says what it waits for once a wait passes a few seconds.
/// Messages name the helper by `what` (the key of the config file), never by the name the
/// file gives: that is a value of the file, and may be a secret written in the wrong place.
fn run_helper(name: &str, server: &str, what: &str, helper: &Helper) -> Result<Option<Credentials>, String> {
    if name.is_empty() || name.contains(['/', '\0']) {
        return Err(format!("{what} is not a helper name (a word such as \"pass\", run as docker-credential-<name>)"));
    }
    let program = format!("docker-credential-{name}");
    let mut cmd = Command::new(&program);
    cmd.arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(path) = (helper.env)("PATH") {
        cmd.env("PATH", path);
    }
    let mut child = cmd.spawn().map_err(|e| {
        format!("cannot run {what} (docker-credential-<name> on PATH): {e}; install it, or remove it from the file")
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let waiting = (!helper.quiet).then(|| format!("waiting for {what} to answer for {server}"));
    let out = match crate::wait::output_within(child, helper.timeout, waiting) {
        Ok(Some(out)) => out,
        Ok(None) => {
            return Err(format!(
                "{what} did not answer within {} s and was stopped; check that it works on its own \
                 (`echo {server} | docker-credential-<name> get`), or remove it from the file",
                helper.timeout.as_secs()
            ))
        }
        Err(e) => return Err(format!("running {what}: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found")
            || String::from_utf8_lossy(&out.stderr).contains("credentials not found")
        {
            return Ok(None);
        }
        // The helper's output may hold secrets: show only its exit status.
        return Err(format!("{what} failed ({})", out.status));
    }
    #[derive(Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let reply: Reply = serde_json::from_str(&stdout).map_err(|_| format!("{what} did not print the expected JSON"))?;
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

    fn helper(dir: &Path, name: &str, script: &str) {
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn find(host: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Credentials>, String> {
        Ok(lookup(host, env, Duration::from_secs(10), true)?.map(|(c, _)| c))
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
    fn ci_variables_are_not_read_here() {
        // They are scoped to one host at the edge (crate::login), never given to every host.
        let env = env_of(vec![
            ("CARGO_CONTAINERIZE_USERNAME", "ci".into()),
            ("CARGO_CONTAINERIZE_PASSWORD", "pw".into()),
            ("DOCKER_CONFIG", "/nonexistent".into()),
        ]);
        assert_eq!(find("r.io", &env).unwrap(), None);
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
        assert_eq!(find("a.io", &env).unwrap(), Some(Credentials::basic("h-a.io", "s1")));
        assert_eq!(find("b.io", &env).unwrap(), Some(Credentials::basic("store", "s2")));
        // A helper named for the host that knows nothing means anonymous, not the store.
        assert_eq!(find("none.io", &env).unwrap(), None);
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
        assert_eq!(find("docker.io", &env).unwrap(), Some(Credentials::basic("hub", "pw:with:colons")));
        assert_eq!(
            find("c.io", &env).unwrap(),
            Some(Credentials::IdentityToken { username: "u".into(), token: "refresh".into() })
        );
        assert_eq!(find("d.io", &env).unwrap(), None);
    }

    #[test]
    fn malformed_entries_for_other_hosts_do_not_matter_and_errors_never_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = auth("alice", "s3cret-value");
        let config = serde_json::json!({
            "auths": {
                "other.io": secret,
                "weird.io": {"auth": 42},
                "good.io": {"auth": auth("bob", "pw")},
                "bad.io": secret,
                "badfield.io": {"auth": ["x"], "password": secret},
                "notb64.io": {"auth": "!!" },
            },
            "credHelpers": {"x.io": 7},
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let env = env_of(vec![("DOCKER_CONFIG", dir.path().display().to_string())]);
        assert_eq!(find("good.io", &env).unwrap(), Some(Credentials::basic("bob", "pw")));
        assert_eq!(find("unknown.io", &env).unwrap(), None);
        for host in ["bad.io", "badfield.io", "notb64.io", "x.io"] {
            let err = find(host, &env).unwrap_err();
            assert!(err.contains(host) && err.contains("config.json"), "{err}");
            assert!(!err.contains(&secret) && !err.contains("YWxpY2U") && !err.contains("!!"), "{err}");
        }
        std::fs::write(dir.path().join("config.json"), format!("{{\"auths\": {{\"a\": \"{secret}\" ")).unwrap();
        let err = find("good.io", &env).unwrap_err();
        assert!(err.contains("not valid JSON (line 1") && !err.contains(&secret), "{err}");
    }

    #[test]
    fn a_lookup_says_where_it_found_the_credentials_and_how_to_renew_them() {
        let dir = tempfile::tempdir().unwrap();
        helper(dir.path(), "h", r#"echo '{"Username":"u","Secret":"s-helper"}'"#);
        let config = serde_json::json!({"credHelpers": {"a.io": "h"}, "auths": {"b.io": {"auth": auth("u", "p")}}});
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        std::fs::create_dir_all(dir.path().join("containers")).unwrap();
        let podman = serde_json::json!({"auths": {"c.io": {"auth": auth("pod", "man")}}});
        std::fs::write(dir.path().join("containers/auth.json"), podman.to_string()).unwrap();
        let env = env_of(vec![
            ("DOCKER_CONFIG", dir.path().display().to_string()),
            ("XDG_RUNTIME_DIR", dir.path().display().to_string()),
            ("PATH", format!("{}:/usr/bin:/bin", dir.path().display())),
        ]);
        let source = |host: &str| lookup(host, &env, Duration::from_secs(10), true).unwrap().unwrap().1;
        let (docker, podman) = (dir.path().join("config.json"), dir.path().join("containers/auth.json"));
        let a = source("a.io");
        assert_eq!(a.from, format!("the credential helper that `credHelpers` names for a.io in {}", docker.display()));
        assert!(a.renew.contains("`docker login a.io`") && a.renew.contains("helper"), "{a:?}");
        let b = source("b.io");
        assert_eq!(b.from, format!("the `auths` entry for b.io in {}", docker.display()));
        assert_eq!(b.renew, "with `docker login b.io`");
        let c = source("c.io");
        assert_eq!(c.from, format!("the `auths` entry for c.io in {}", podman.display()));
        assert!(c.renew.contains("`podman login c.io`"), "{c:?}");
        assert_eq!(places(&env), vec![docker, podman]);
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
        assert_eq!(find("p.io", &env).unwrap(), Some(Credentials::basic("pod", "man")));
    }

    #[test]
    fn helper_token_user_means_identity_token_and_a_silent_helper_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        helper(dir.path(), "tok", r#"echo '{"Username":"<token>","Secret":"rt"}'"#);
        helper(dir.path(), "hang", "exec sleep 60");
        let env = env_of(vec![("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))]);
        let h = Helper { env: &env, timeout: Duration::from_millis(300), quiet: true };
        assert_eq!(
            run_helper("tok", "x.io", "tok", &Helper { timeout: Duration::from_secs(10), ..h }).unwrap(),
            Some(Credentials::IdentityToken { username: String::new(), token: "rt".into() })
        );
        let started = std::time::Instant::now();
        let err = run_helper("hang", "x.io", "the helper", &h).unwrap_err();
        assert!(err.contains("the helper did not answer within"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let err = run_helper("missing-helper", "x.io", "the helper", &h).unwrap_err();
        assert!(err.contains("cannot run the helper") && !err.contains("missing-helper"), "{err}");
    }
}
