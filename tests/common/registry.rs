//! Real registries (CNCF distribution) started on loopback for tests: plain, htpasswd,
//! Bearer token (with a token server of our own issuing ES256 JWTs) and TLS.

use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A running `docker-registry serve`; killed on drop.
pub struct Registry {
    pub port: u16,
    /// The CA certificate that signed the TLS certificate, for `--ca-cert`.
    pub ca_cert: Option<PathBuf>,
    pub token_server: Option<TokenServer>,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Registry {
    /// No auth, plain HTTP.
    pub fn plain() -> Registry {
        Registry::start(tempfile::tempdir().unwrap(), "", None)
    }

    /// Basic auth from an htpasswd file.
    pub fn htpasswd(user: &str, pass: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().expect("htpasswd is installed");
        assert!(out.status.success());
        std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
            dir.path().join("htpasswd").display()
        );
        Registry::start(dir, &auth, None)
    }

    /// Bearer tokens from a [`TokenServer`] that accepts `user`/`pass`.
    pub fn token(user: &str, pass: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.pem",
                "-days",
                "2",
                "-subj",
                "/CN=test-token-issuer",
            ],
        );
        openssl(dir.path(), &["x509", "-in", "token.pem", "-outform", "DER", "-out", "token.der"]);
        let server = TokenServer::start(dir.path(), user, pass);
        let auth = format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
            server.port,
            dir.path().join("token.pem").display()
        );
        Registry::start(dir, &auth, Some(server))
    }

    /// HTTPS with a certificate for 127.0.0.1 signed by a CA of its own (`ca_cert`).
    pub fn tls() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=cargo-containerize test CA",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "tls.key",
                "-out",
                "tls.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n").unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "tls.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "tls.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        let tls = format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            d.join("tls.pem").display(),
            d.join("tls.key").display()
        );
        let mut registry = Registry::start_with(dir, "", None, &tls);
        registry.ca_cert = Some(registry.dir.path().join("ca.pem"));
        registry
    }

    fn start(dir: tempfile::TempDir, auth: &str, token_server: Option<TokenServer>) -> Registry {
        Registry::start_with(dir, auth, token_server, "")
    }

    fn start_with(dir: tempfile::TempDir, auth: &str, token_server: Option<TokenServer>, http_extra: &str) -> Registry {
        let port = free_port();
        let storage = dir.path().join("storage");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n{http_extra}{auth}",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry is installed (apt-get install docker-registry)");
        let registry = Registry { port, ca_cert: None, token_server, dir, child };
        registry.wait_ready();
        registry
    }

    /// Waits (bounded) until the port accepts connections.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "registry did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token server: `GET /token?service=..&scope=..` with Basic credentials (or none, which
/// gets a token with no access) answers `{"token": JWT, "expires_in": 300}`.
pub struct TokenServer {
    pub port: u16,
    /// Requests served, and how many of them had wrong credentials.
    pub requests: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    issuer: Arc<Issuer>,
}

struct Issuer {
    key: p256::ecdsa::SigningKey,
    cert_der: Vec<u8>,
    user: String,
    pass: String,
    /// The OAuth2 refresh token (Docker's `identitytoken`) this server accepts.
    identity_token: String,
    oauth_posts: AtomicUsize,
    refuse_oauth_post: AtomicBool,
    /// Grant `pull` only, whatever is asked (a read-only account).
    pull_only: AtomicBool,
    /// Every `scope` asked for with GET, in order.
    scopes: std::sync::Mutex<Vec<String>>,
}

impl TokenServer {
    pub fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        use p256::pkcs8::DecodePrivateKey;
        let pem = std::fs::read_to_string(dir.join("token.key")).unwrap();
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
        let issuer = Arc::new(Issuer {
            key,
            cert_der: std::fs::read(dir.join("token.der")).unwrap(),
            user: user.into(),
            pass: pass.into(),
            identity_token: format!("refresh-token-of-{user}"),
            oauth_posts: AtomicUsize::new(0),
            refuse_oauth_post: AtomicBool::new(false),
            pull_only: AtomicBool::new(false),
            scopes: Default::default(),
        });
        let issuer_handle = issuer.clone();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (requests, refused, stop) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (r, f, s) = (requests.clone(), refused.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (issuer, r, f) = (issuer.clone(), r.clone(), f.clone());
                std::thread::spawn(move || serve_token(conn, &issuer, &r, &f));
            }
        });
        TokenServer { port, requests, refused, stop, issuer: issuer_handle }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl TokenServer {
    /// The identity token (OAuth2 refresh token) accepted for the user.
    pub fn identity_token(&self) -> &str {
        &self.issuer.identity_token
    }

    /// How many OAuth2 `POST` refresh-token grants were answered.
    pub fn oauth_posts(&self) -> usize {
        self.issuer.oauth_posts.load(Ordering::SeqCst)
    }

    /// Every scope requested with GET so far.
    pub fn scopes(&self) -> Vec<String> {
        self.issuer.scopes.lock().unwrap().clone()
    }

    /// Grant pull and nothing else from now on, as for a read-only account.
    pub fn pull_only(&self) {
        self.issuer.pull_only.store(true, Ordering::SeqCst);
    }

    /// Answer `POST /token` with 404, as token servers without OAuth2 support do.
    pub fn refuse_oauth_post(&self) {
        self.issuer.refuse_oauth_post.store(true, Ordering::SeqCst);
    }
}

fn serve_token(conn: TcpStream, issuer: &Issuer, requests: &AtomicUsize, refused: &AtomicUsize) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let method = line.split(' ').next().unwrap_or("").to_string();
    let target = line.split(' ').nth(1).unwrap_or("/").to_string();
    let mut authorization = None;
    let mut content_length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        match name.to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value.trim().to_string()),
            "content-length" => content_length = value.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0; content_length];
    let _ = reader.read_exact(&mut body);
    requests.fetch_add(1, Ordering::SeqCst);
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let params: Vec<(String, String)> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), percent_decode(v))).collect();
    issuer.scopes.lock().unwrap().extend(params.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()));
    if method == "POST" {
        let (status, reply) = oauth_reply(issuer, &body);
        let mut conn = conn;
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        );
        return;
    }
    let with_identity = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", issuer.user, issuer.identity_token))
    );
    let anon_identity =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!(":{}", issuer.identity_token)));
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", issuer.user, issuer.pass))
    );
    let (status, reply) = match authorization {
        Some(a) if a == expected || a == with_identity || a == anon_identity => {
            ("200 OK", token_reply(issuer, &params, true))
        }
        Some(_) => {
            refused.fetch_add(1, Ordering::SeqCst);
            ("401 Unauthorized", r#"{"details":"incorrect username or password"}"#.to_string())
        }
        None => ("200 OK", token_reply(issuer, &params, false)),
    };
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

/// `POST /token` with `grant_type=refresh_token&refresh_token=..&service=..&scope=..`.
fn oauth_reply(issuer: &Issuer, body: &[u8]) -> (&'static str, String) {
    if issuer.refuse_oauth_post.load(Ordering::SeqCst) {
        return ("404 Not Found", "{}".into());
    }
    let form: Vec<(String, String)> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("refresh_token") || get("refresh_token") != Some(issuer.identity_token.as_str()) {
        return ("401 Unauthorized", r#"{"error":"invalid_grant"}"#.into());
    }
    issuer.oauth_posts.fetch_add(1, Ordering::SeqCst);
    let mut params = vec![("service".to_string(), get("service").unwrap_or("").to_string())];
    params.push(("scope".to_string(), get("scope").unwrap_or("").to_string()));
    let reply: serde_json::Value = serde_json::from_str(&token_reply(issuer, &params, true)).unwrap();
    (
        "200 OK",
        serde_json::json!({"access_token": reply["token"], "expires_in": 300, "scope": get("scope")}).to_string(),
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Signs a JWT granting every requested `repository:NAME:ACTIONS` scope (none if anonymous).
fn token_reply(issuer: &Issuer, params: &[(String, String)], authenticated: bool) -> String {
    use p256::ecdsa::signature::Signer;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let service = params.iter().find(|(k, _)| k == "service").map(|(_, v)| v.clone()).unwrap_or_default();
    let access: Vec<serde_json::Value> = params
        .iter()
        .filter(|(k, _)| k == "scope" && authenticated)
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (ty, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let pull_only = issuer.pull_only.load(Ordering::SeqCst);
            let actions: Vec<&str> = actions.split(',').filter(|a| !pull_only || *a == "pull").collect();
            Some(serde_json::json!({"type": ty, "name": name, "actions": actions}))
        })
        .collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [base64::engine::general_purpose::STANDARD.encode(&issuer.cert_der)]});
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": if authenticated { issuer.user.as_str() } else { "" }, "aud": service,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", rand_suffix()), "access": access,
    });
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature: p256::ecdsa::Signature = issuer.key.sign(signing_input.as_bytes());
    let jwt = format!("{signing_input}.{}", b64(&signature.to_bytes()));
    serde_json::json!({"token": jwt, "expires_in": 300, "issued_at": "2026-01-01T00:00:00Z"}).to_string()
}

fn rand_suffix() -> u32 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u32
}

/// `skopeo inspect --raw` digest check: the manifest digest the registry serves for `name:tag`.
pub fn skopeo_digest(registry: &Registry, name_tag: &str, extra: &[&str]) -> String {
    let image = format!("docker://{}/{name_tag}", registry.host());
    let mut args = vec!["inspect", "--format", "{{.Digest}}"];
    args.extend_from_slice(extra);
    args.push(&image);
    let out = Command::new("skopeo").args(&args).output().expect("skopeo is installed");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A running `ferro-oci-server` (crates.io), a registry with the OCI 1.1 referrers API;
/// killed on drop.
pub struct Ferro {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Ferro {
    pub fn start() -> Ferro {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("ferro.log")).unwrap();
        let child = Command::new("ferro-oci-server")
            .env("FERRO_OCI_LISTEN", format!("127.0.0.1:{port}"))
            .env("FERRO_OCI_STORAGE_DIR", dir.path().join("storage"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("ferro-oci-server is installed (cargo install --locked ferro-oci-server)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "ferro-oci-server did not start");
            std::thread::sleep(Duration::from_millis(30));
        }
        Ferro { port, dir, child }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Ferro {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
