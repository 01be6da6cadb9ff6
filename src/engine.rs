//! The Docker Engine API client: requests over the engine's socket (`DOCKER_HOST`, else
//! `/var/run/docker.sock`), each bounded in time: `GET /_ping`, `GET /info` (which image
//! store the engine keeps, asked once per run), an image's inspection, its export, a tag,
//! and a load that streams whatever tar its caller writes.

use crate::reference::Reference;
use crate::tuning::Tuning;
use crate::wait::{announce_after, Announce};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

/// The most of the engine's answer that is read.
const MAX_ANSWER: u64 = 1 << 20;

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Why the engine did not load the image.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot reach the Docker engine at {endpoint}: {source}")]
    Unreachable { endpoint: String, source: io::Error },
    #[error("{variable}={host:?} is not supported; expected unix:///path/to/docker.sock or tcp://HOST:PORT")]
    UnsupportedHost { variable: &'static str, host: String },
    /// The Docker CLI's current context, which the engine is taken from, is not usable.
    #[error("the Docker context {name:?} (from {from}) {message}")]
    Context { name: String, from: String, message: String },
    #[error("the Docker engine at {endpoint} refused the image: {message}")]
    Refused { endpoint: String, message: String },
    #[error("talking to the Docker engine at {endpoint}: {source}")]
    Io { endpoint: String, source: io::Error },
    /// What was to be sent could not be read or made (a layer to compress, say).
    #[error("cannot prepare the image for the Docker engine at {endpoint}: {source}")]
    Unsent { endpoint: String, source: io::Error },
    /// An answer that is not what a Docker engine answers, or an image that is not what
    /// was loaded.
    #[error("the Docker engine at {endpoint} {message}")]
    Unexpected { endpoint: String, message: String },
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Unreachable { source, .. } if source.to_string().starts_with("TLS") => Some(
                "check the engine's TLS files (the directory named above, as the Docker CLI keeps them): ca.pem must \
                 be the CA that signed the engine's certificate, and cert.pem and key.pem this client's certificate \
                 and key, signed by a CA the engine trusts"
                    .into(),
            ),
            Error::Unreachable { .. } => Some(
                "start Docker (e.g. `sudo systemctl start docker`) or Podman's API service (`systemctl --user start \
                 podman.socket`), or set DOCKER_HOST; or skip the engine with --tarball FILE --name NAME (then \
                 `docker load -i FILE`), --output DIR (OCI layout) or --push REGISTRY/REPO"
                    .into(),
            ),
            Error::UnsupportedHost { variable: "CONTAINER_HOST", .. } => Some(
                "give Podman's socket as CONTAINER_HOST=unix:///path/to/podman.sock (a remote Podman over ssh is not \
                 supported), or set DOCKER_HOST"
                    .into(),
            ),
            Error::UnsupportedHost { .. } => {
                Some("unset DOCKER_HOST to use /var/run/docker.sock, or use --tarball FILE and `docker load`".into())
            }
            Error::Context { .. } => Some(
                "check it with `docker context ls`; `docker context use default` (or DOCKER_HOST) names another \
                 engine; or use --tarball FILE and `docker load`"
                    .into(),
            ),
            Error::Unexpected { .. } => Some(
                "check that DOCKER_HOST names a Docker engine (`docker info` answers), and run again; or skip the \
                 engine with --tarball FILE and `docker load`"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// `DOCKER_HOST` as it may be shown: user information (`ssh://user:password@host`) removed.
fn shown_host(host: &str) -> String {
    crate::redact::server_text(&crate::registry::error::redact_url(host), 200)
}

/// Where the engine listens, and how it was found.
enum Endpoint {
    Unix(String, Via),
    /// `host:port`, and the TLS it is reached with, if any.
    Tcp(String, Via, Option<Tls>),
}

/// The files an engine's TLS endpoint is reached with, in one directory, as the Docker CLI
/// keeps them: `ca.pem` (the CA that signed the engine's certificate: the only one
/// trusted), and `cert.pem` and `key.pem` (this client's, which a `--tlsverify` engine
/// asks for), when there.
#[derive(Clone, Debug, PartialEq)]
struct Tls {
    dir: std::path::PathBuf,
}

/// How the engine's address was found.
#[derive(Clone, Debug, PartialEq)]
enum Via {
    /// `DOCKER_HOST`, or the default socket.
    Docker,
    /// The Docker CLI's current context, by name.
    Context(String),
    /// Podman's socket, as no Docker socket is there: from `CONTAINER_HOST`, or where
    /// Podman's API service listens.
    Podman(&'static str),
}

/// Where Podman's API service listens when no `CONTAINER_HOST` says: the user's
/// (rootless) socket, then the system's.
const PODMAN_SYSTEM_SOCKET: &str = "/run/podman/podman.sock";

impl Endpoint {
    /// As the Docker CLI finds the engine: `DOCKER_HOST`; else the current context
    /// (`DOCKER_CONTEXT`, else `currentContext` in `$DOCKER_CONFIG/config.json`), whose
    /// endpoint is in `contexts/meta/<sha256 of its name>/meta.json`; else the default
    /// socket; and when no Docker socket is there, Podman's: `CONTAINER_HOST`, else
    /// `$XDG_RUNTIME_DIR/podman/podman.sock`, else `/run/podman/podman.sock`, the first
    /// that is there.
    fn from_env() -> Result<Endpoint, Error> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        if !host.is_empty() {
            let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
            if set("DOCKER_TLS") && !set("DOCKER_TLS_VERIFY") {
                return Err(Error::UnsupportedHost {
                    variable: "DOCKER_HOST",
                    host: format!("{} with DOCKER_TLS (TLS that verifies nothing)", shown_host(&host)),
                });
            }
            // As the Docker CLI: DOCKER_CERT_PATH, else the config directory.
            let tls = set("DOCKER_TLS_VERIFY").then(|| Tls {
                dir: std::env::var_os("DOCKER_CERT_PATH")
                    .filter(|d| !d.is_empty())
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(docker_config_dir),
            });
            return Endpoint::parse(&host, Via::Docker, tls);
        }
        if let Some((name, host, tls)) = context()? {
            return Endpoint::parse(&host, Via::Context(name), tls);
        }
        if std::path::Path::new(DEFAULT_SOCKET).exists() {
            return Ok(Endpoint::Unix(DEFAULT_SOCKET.into(), Via::Docker));
        }
        let host = std::env::var("CONTAINER_HOST").unwrap_or_default();
        if !host.is_empty() {
            return Endpoint::parse(&host, Via::Podman("CONTAINER_HOST"), None);
        }
        let rootless = std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(|d| std::path::Path::new(&d).join("podman/podman.sock"));
        let found = rootless
            .filter(|p| p.exists())
            .map(|p| (p.to_string_lossy().into_owned(), "$XDG_RUNTIME_DIR/podman/podman.sock"))
            .or_else(|| {
                std::path::Path::new(PODMAN_SYSTEM_SOCKET)
                    .exists()
                    .then(|| (PODMAN_SYSTEM_SOCKET.to_string(), PODMAN_SYSTEM_SOCKET))
            });
        Ok(match found {
            Some((path, from)) => Endpoint::Unix(path, Via::Podman(from)),
            None => Endpoint::Unix(DEFAULT_SOCKET.into(), Via::Docker),
        })
    }

    /// A `DOCKER_HOST`-style address, `unix://PATH` or `tcp://HOST[:PORT]`.
    fn parse(host: &str, via: Via, tls: Option<Tls>) -> Result<Endpoint, Error> {
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(path.into(), via));
        }
        let unsupported = |host: String| match &via {
            Via::Context(name) => Error::Context {
                name: name.clone(),
                from: "its endpoint".into(),
                message: format!("has the endpoint {host:?}, which is not supported; expected unix:// or tcp://"),
            },
            Via::Podman(_) => Error::UnsupportedHost { variable: "CONTAINER_HOST", host },
            Via::Docker => Error::UnsupportedHost { variable: "DOCKER_HOST", host },
        };
        // As Docker reads it: a path after the address is ignored, the port defaults to 2375
        // (2376 over TLS).
        if let Some(rest) = host.strip_prefix("tcp://") {
            let addr = rest.split('/').next().unwrap_or(rest);
            // No user information in a Docker TCP address: refused, and never shown.
            if addr.contains('@') {
                return Err(unsupported(shown_host(host)));
            }
            let has_port = addr.rsplit_once(':').is_some_and(|(h, p)| !h.ends_with(':') && p.parse::<u16>().is_ok());
            let port = if tls.is_some() { 2376 } else { 2375 };
            let addr = if has_port { addr.to_string() } else { format!("{addr}:{port}") };
            return Ok(Endpoint::Tcp(addr, via, tls));
        }
        Err(unsupported(shown_host(host)))
    }

    fn describe(&self) -> String {
        let (address, via) = match self {
            Endpoint::Unix(p, v) => (format!("unix://{p}"), v),
            Endpoint::Tcp(a, v, None) => (format!("tcp://{a}"), v),
            Endpoint::Tcp(a, v, Some(tls)) => (format!("tcp://{a} (TLS, with {})", tls.dir.display()), v),
        };
        match via {
            Via::Context(name) => format!("{address} (Docker context {})", crate::redact::server_text(name, 100)),
            Via::Podman(from) => format!("{address} (Podman, from {from}: no Docker socket at {DEFAULT_SOCKET})"),
            Via::Docker => address,
        }
    }
}

/// The Docker CLI's configuration directory: `DOCKER_CONFIG`, else `~/.docker`.
fn docker_config_dir() -> std::path::PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::path::Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
    }
}

/// The Docker CLI's current context, when it is not the default one: its name, the `Host`
/// of its Docker endpoint, and its TLS material (`contexts/tls/<same hash>/docker/`) when
/// it has some. One that skips the verification of the engine's certificate is refused.
fn context() -> Result<Option<(String, String, Option<Tls>)>, Error> {
    if std::env::var_os("DOCKER_CONFIG").is_none_or(|d| d.is_empty()) && std::env::var_os("HOME").is_none() {
        return Ok(None);
    }
    let dir = docker_config_dir();
    let read = |path: &std::path::Path| -> Option<serde_json::Value> {
        crate::fsutil::read_regular(path, 1 << 20).ok().and_then(|b| serde_json::from_slice(&b).ok())
    };
    let (name, from) = match std::env::var("DOCKER_CONTEXT").ok().filter(|n| !n.is_empty()) {
        Some(name) => (name, "DOCKER_CONTEXT".to_string()),
        None => {
            let config = dir.join("config.json");
            match read(&config).and_then(|c| c["currentContext"].as_str().map(str::to_string)) {
                Some(name) if !name.is_empty() => (name, format!("currentContext in {}", config.display())),
                _ => return Ok(None),
            }
        }
    };
    if name == "default" {
        return Ok(None);
    }
    let hash = crate::digest::Digest::of(name.as_bytes()).hex().to_string();
    let meta = dir.join("contexts").join("meta").join(&hash).join("meta.json");
    let fail = |message: String| Error::Context { name: name.clone(), from: from.clone(), message };
    let Some(meta_json) = read(&meta) else {
        return Err(fail(format!("does not exist here: {} is missing or not JSON", meta.display())));
    };
    let Some(host) = meta_json["Endpoints"]["docker"]["Host"].as_str().filter(|h| !h.is_empty()) else {
        return Err(fail(format!("names no Docker endpoint in {}", meta.display())));
    };
    let tls_dir = dir.join("contexts").join("tls").join(&hash).join("docker");
    if meta_json["Endpoints"]["docker"]["SkipTLSVerify"].as_bool() == Some(true) {
        return Err(fail(format!(
            "skips the verification of the engine's certificate at {} (SkipTLSVerify), which this tool does not do",
            shown_host(host)
        )));
    }
    let tls = tls_dir.is_dir().then_some(Tls { dir: tls_dir });
    Ok(Some((name, host.to_string(), tls)))
}

/// The engine `DOCKER_HOST` names, as messages show it: `unix:///path` or `tcp://host:port`.
pub(crate) fn address() -> Result<String, Error> {
    Ok(Endpoint::from_env()?.describe())
}

/// A connection to the engine: a unix or TCP socket.
trait Stream: Read + Write + Send {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Ends the request: the engine then answers what it made of it.
    fn shutdown_write(&self);
}

impl Stream for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }

    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Stream for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// A TLS connection to the engine, whose TLS failures say so: with TLS 1.3, an engine that
/// refuses this client's certificate says it after the handshake, on the first read.
struct TlsStream(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

/// `e`, marked as TLS's when rustls made it.
fn tls_error(e: io::Error) -> io::Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(inner) => io::Error::new(e.kind(), format!("TLS: {inner}")),
        None => e,
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(tls_error)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(tls_error)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(tls_error)
    }
}

impl Stream for TlsStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.sock.set_read_timeout(timeout)
    }

    fn shutdown_write(&self) {
        let _ = self.0.sock.shutdown(std::net::Shutdown::Write);
    }
}

/// TLS over `tcp` to the engine at `addr` (`host:port`), with the files of `tls`: the engine's
/// certificate must chain to `ca.pem` and name `host`; `cert.pem` and `key.pem` are sent
/// when there. The handshake is made here, so that a refusal shows as the connection's.
fn tls_stream(tcp: TcpStream, addr: &str, tls: &Tls) -> io::Result<Box<dyn Stream>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let file = |name: &str| {
        let path = tls.dir.join(name);
        crate::fsutil::read_regular(&path, 1 << 20).map(|b| (b, path))
    };
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let (ca, ca_path) =
        file("ca.pem").map_err(|e| bad(format!("TLS: the engine's CA, {}: {e}", tls.dir.join("ca.pem").display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&ca) {
        let cert = cert.map_err(|e| bad(format!("TLS: {}: {e}", ca_path.display())))?;
        roots.add(cert).map_err(|e| bad(format!("TLS: {}: {e}", ca_path.display())))?;
    }
    if roots.is_empty() {
        return Err(bad(format!("TLS: {} holds no certificate", ca_path.display())));
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match (file("cert.pem"), file("key.pem")) {
        (Ok((cert, cert_path)), Ok((key, key_path))) => {
            let chain = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("TLS: {}: {e}", cert_path.display())))?;
            let key =
                PrivateKeyDer::from_pem_slice(&key).map_err(|e| bad(format!("TLS: {}: {e}", key_path.display())))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| bad(format!("TLS: {}: {e}", cert_path.display())))?
        }
        _ => builder.with_no_client_auth(),
    };
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| bad(format!("TLS: {host:?}: {e}")))?;
    let conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), name).map_err(|e| bad(format!("TLS: {e}")))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).map_err(|e| bad(format!("TLS handshake: {e}")))?;
    }
    Ok(Box::new(TlsStream(stream)))
}

/// Reads from the engine with two limits: `idle` without a byte, and a `deadline` for the
/// whole answer, so an engine that sends a byte now and then cannot hold the run either.
struct Bounded {
    stream: Box<dyn Stream>,
    idle: Duration,
    deadline: std::time::Instant,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the answer took too long"));
        }
        self.stream.set_read_timeout(Some(left.min(self.idle)))?;
        self.stream.read(buf)
    }
}

/// Connects; every read and write then fails after `idle` without progress.
fn connect(endpoint: &Endpoint, connect_timeout: Duration, idle: Duration) -> io::Result<Box<dyn Stream>> {
    Ok(match endpoint {
        Endpoint::Unix(p, _) => {
            // A socket whose backlog is full blocks connect(2) with no limit: wait on a thread.
            let (tx, rx) = std::sync::mpsc::channel();
            let path = p.clone();
            std::thread::spawn(move || {
                let _ = tx.send(UnixStream::connect(path));
            });
            let s = rx
                .recv_timeout(connect_timeout)
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the socket accepted no connection in time"))??;
            s.set_read_timeout(Some(idle))?;
            s.set_write_timeout(Some(idle))?;
            Box::new(s)
        }
        Endpoint::Tcp(a, _, tls) => {
            let addrs: Vec<_> = a.to_socket_addrs()?.collect();
            let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{a} resolves to no address"));
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, connect_timeout) {
                    Ok(s) => {
                        s.set_read_timeout(Some(idle))?;
                        s.set_write_timeout(Some(idle))?;
                        return match tls {
                            Some(tls) => tls_stream(s, a, tls),
                            None => Ok(Box::new(s)),
                        };
                    }
                    Err(e) => last = e,
                }
            }
            return Err(last);
        }
    })
}

/// A read or write that timed out, said plainly.
fn timed_out(e: io::Error, what: &str, after: Duration) -> io::Error {
    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
        io::Error::new(io::ErrorKind::TimedOut, format!("no answer to {what} within {} s", after.as_secs()))
    } else {
        e
    }
}

/// Checks that the engine answers `GET /_ping`, so a missing engine fails before building,
/// then learns its image store ([`store`]); waits at most the tuning's timeout for each,
/// saying what it waits for after a few seconds.
pub(crate) fn ping(tuning: &Tuning, quiet: bool) -> Result<(), Error> {
    let endpoint = Endpoint::from_env()?;
    let describe = endpoint.describe();
    let unreachable = |source| Error::Unreachable { endpoint: describe.clone(), source };
    let _announce = (!quiet).then(|| {
        Announce::after(
            announce_after(tuning.timeout),
            format!("waiting for the Docker engine at {describe} to answer GET /_ping"),
        )
    });
    let timeout = tuning.timeout;
    let mut stream = connect(&endpoint, tuning.connect_timeout(), timeout)
        .map_err(|e| unreachable(timed_out(e, "connecting", timeout)))?;
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .map_err(|e| unreachable(timed_out(e, "GET /_ping", timeout)))?;
    let bounded = Bounded { stream, idle: timeout, deadline: std::time::Instant::now() + timeout };
    let (status, _) = read_response(bounded).map_err(|e| unreachable(timed_out(e, "GET /_ping", timeout)))?;
    if status != 200 {
        return Err(unreachable(io::Error::other(format!("GET /_ping answered {status}"))));
    }
    // Which engine gets the image: said when it is Podman's, which a user may not expect.
    match &endpoint {
        Endpoint::Unix(_, Via::Podman(_)) | Endpoint::Tcp(_, Via::Podman(_), _) => {
            crate::shell::note(format_args!("the image goes to Podman's engine at {describe}"))
        }
        _ => crate::shell::detail(format_args!("the image goes to the Docker engine at {describe}")),
    }
    store(tuning, quiet).map(drop)
}

/// Where an engine keeps its images; it decides what an image ID is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ImageStore {
    /// The classic store (a graph driver such as `overlay2`): an image's ID is its config
    /// digest, whatever manifest it came with.
    Classic,
    /// The containerd image store (a snapshotter, e.g. `overlayfs`; the default of Docker 29
    /// on fresh installs, and of Docker Desktop): an image's ID is the digest of the
    /// manifest (or index) the engine keeps, which it makes itself for a docker-archive.
    Containerd,
}

/// The `DriverStatus` pair that names the containerd store.
const CONTAINERD_SNAPSHOTTER: [&str; 2] = ["driver-type", "io.containerd.snapshotter.v1"];

/// What `GET /info` says of the engine, as far as it matters here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Info {
    /// `ServerVersion`, e.g. `26.1.5+dfsg1`.
    pub(crate) version: String,
    /// `Driver`: a graph driver (`overlay2`), or the containerd store's snapshotter (`overlayfs`).
    pub(crate) driver: String,
    pub(crate) store: ImageStore,
}

impl Info {
    /// Reads `GET /info`'s answer: the containerd store iff `DriverStatus` holds
    /// `["driver-type", "io.containerd.snapshotter.v1"]` (Docker 26 has no other sign of it).
    fn parse(body: &[u8]) -> Result<Info, String> {
        let refused = || "answered GET /info with no JSON object; a Docker engine describes itself there".to_string();
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| refused())?;
        if !v.is_object() {
            return Err(refused());
        }
        let text = |key: &str| v.get(key).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        let containerd = v.get("DriverStatus").and_then(serde_json::Value::as_array).is_some_and(|pairs| {
            pairs.iter().any(|pair| {
                pair.as_array().is_some_and(|kv| {
                    kv.len() == 2 && kv.iter().zip(CONTAINERD_SNAPSHOTTER).all(|(x, want)| x.as_str() == Some(want))
                })
            })
        });
        let store = if containerd { ImageStore::Containerd } else { ImageStore::Classic };
        Ok(Info { version: text("ServerVersion"), driver: text("Driver"), store })
    }
}

/// What this run learnt of each engine it asked, by address.
static STORES: Mutex<BTreeMap<String, ImageStore>> = Mutex::new(BTreeMap::new());

/// The image store of the engine `DOCKER_HOST` names: `GET /info`, asked once per run and
/// engine, within the timeout. An engine that refuses `GET /info` (a socket proxy that
/// allows only some endpoints) is taken as the classic store, with a warning.
pub(crate) fn store(tuning: &Tuning, quiet: bool) -> Result<ImageStore, Error> {
    let describe = Endpoint::from_env()?.describe();
    if let Some(store) = known_store_of(&describe) {
        return Ok(store);
    }
    let _announce = (!quiet).then(|| {
        Announce::after(
            announce_after(tuning.timeout),
            format!("waiting for the Docker engine at {describe} to answer GET /info"),
        )
    });
    let (status, body) = short_request("GET", "/info", tuning)?;
    let info = match status {
        200 => Info::parse(&body).map_err(|message| Error::Unexpected { endpoint: describe.clone(), message })?,
        _ => {
            let said = check_load_response(status, &body).err().unwrap_or_else(|| format!("HTTP {status}"));
            crate::shell::warn(format_args!(
                "the Docker engine at {describe} did not say which image store it keeps (GET /info: {said}); taken \
                 as the classic store, where an image's ID is its config digest. On the containerd image store \
                 the ID shown by `docker images` will differ from the one printed; allow GET /info to fix that"
            ));
            Info { version: String::new(), driver: String::new(), store: ImageStore::Classic }
        }
    };
    STORES.lock().unwrap_or_else(|e| e.into_inner()).insert(describe, info.store);
    Ok(info.store)
}

/// The image store of the engine `DOCKER_HOST` names, if this run has asked it already.
pub(crate) fn known_store() -> Option<ImageStore> {
    known_store_of(&Endpoint::from_env().ok()?.describe())
}

fn known_store_of(address: &str) -> Option<ImageStore> {
    STORES.lock().unwrap_or_else(|e| e.into_inner()).get(address).copied()
}

/// The name under which the containerd store keeps `reference`, which is the name an OCI
/// archive must give (`io.containerd.image.name`) for Docker to find the image by its
/// familiar name: fully qualified as Docker normalizes it (`app:1` is
/// `docker.io/library/app:1`, `team/app` is `docker.io/team/app:latest`,
/// `localhost:5000/app:1` stays as it is).
pub(crate) fn full_name(reference: &Reference) -> String {
    let tag = reference.tag_or_default();
    match reference.registry.as_deref() {
        None | Some("docker.io" | "index.docker.io") if !reference.repository.contains('/') => {
            format!("docker.io/library/{}:{tag}", reference.repository)
        }
        None | Some("docker.io" | "index.docker.io") => format!("docker.io/{}:{tag}", reference.repository),
        Some(host) => format!("{host}/{}:{tag}", reference.repository),
    }
}

/// Whether the engine has the image of this ID (`GET /images/{id}/json` answers 200).
pub(crate) fn has_image(id: &crate::digest::Digest, tuning: &Tuning) -> Result<bool, Error> {
    let (status, _) = short_request("GET", &format!("/images/{id}/json"), tuning)?;
    Ok(status == 200)
}

/// The ID of the engine's image `name` (`GET /images/{name}/json`: `Id`); `None` when the
/// engine has no image of that name.
pub(crate) fn image_id(name: &str, tuning: &Tuning) -> Result<Option<crate::digest::Digest>, Error> {
    let (status, body) = short_request("GET", &format!("/images/{name}/json"), tuning)?;
    if status == 404 {
        return Ok(None);
    }
    let unexpected = |message: String| Error::Unexpected { endpoint: address().unwrap_or_default(), message };
    if status != 200 {
        let said = check_load_response(status, &body).err().unwrap_or_else(|| format!("HTTP {status}"));
        return Err(unexpected(format!("answered GET /images/{name}/json with {said}; expected the image")));
    }
    let id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("Id").and_then(serde_json::Value::as_str).and_then(crate::digest::Digest::parse));
    id.map(Some).ok_or_else(|| {
        unexpected(format!("answered GET /images/{name}/json with no image ID (\"Id\": \"sha256:...\")"))
    })
}

/// `POST /images/{id}/tag?repo=NAME&tag=TAG`: 201.
pub(crate) fn tag(id: &crate::digest::Digest, reference: &Reference, tuning: &Tuning) -> Result<(), Error> {
    let mut url = reqwest::Url::parse(&format!("http://docker/images/{id}/tag")).expect("a valid URL");
    url.query_pairs_mut().append_pair("repo", &reference.name()).append_pair("tag", reference.tag_or_default());
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let (status, body) = short_request("POST", &path, tuning)?;
    if status != 201 {
        let endpoint = Endpoint::from_env()?.describe();
        let message = check_load_response(status, &body).err().unwrap_or_else(|| format!("HTTP {status}"));
        return Err(Error::Refused {
            endpoint,
            message: format!("tagging {}: {message}", reference.with_default_tag()),
        });
    }
    Ok(())
}

/// A request with no body, and its whole (bounded) answer, within the timeout.
pub(crate) fn short_request(method: &str, path: &str, tuning: &Tuning) -> Result<(u16, Vec<u8>), Error> {
    let endpoint = Endpoint::from_env()?;
    let describe = endpoint.describe();
    let timeout = tuning.timeout;
    let what = format!("{method} {path}");
    let io_err = |e| Error::Io { endpoint: describe.clone(), source: timed_out(e, &what, timeout) };
    let mut stream = connect(&endpoint, tuning.connect_timeout(), timeout)
        .map_err(|source| Error::Unreachable { endpoint: describe.clone(), source })?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .map_err(io_err)?;
    let bounded = Bounded { stream, idle: timeout, deadline: std::time::Instant::now() + timeout };
    read_response(bounded).map_err(io_err)
}

/// `POST /images/load` with the tar `write` writes, streamed as it is written (chunked).
/// An engine that takes nothing, or answers nothing, for the stall time fails the load.
pub(crate) fn load(
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    tuning: &Tuning,
    quiet: bool,
) -> Result<(), Error> {
    let endpoint = Endpoint::from_env()?;
    let describe = endpoint.describe();
    let stall = tuning.stall;
    let io_err = |source| Error::Io { endpoint: describe.clone(), source: timed_out(source, "the image load", stall) };
    let stream = connect(&endpoint, tuning.connect_timeout(), stall)
        .map_err(|source| Error::Unreachable { endpoint: describe.clone(), source })?;
    let mut w = BufWriter::with_capacity(1 << 20, stream);
    w.write_all(
        b"POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )
    .map_err(io_err)?;
    let sent = write(&mut Chunked(&mut w)).and_then(|()| w.write_all(b"0\r\n\r\n")).and_then(|()| w.flush());
    // The socket back, whatever happened to the body: the engine's answer says what it made
    // of it, even when it stopped reading early.
    let (stream, _unsent) = w.into_parts();
    if sent.is_err() {
        // The body broke off: say so now, rather than leave the engine waiting for the rest.
        stream.shutdown_write();
    }
    let _announce = (!quiet).then(|| {
        Announce::after(
            Duration::from_secs(5),
            format!("waiting for the Docker engine at {describe} to load the image"),
        )
    });
    // Loading is the engine's work, and may take a while: ten stall times at most.
    let stream = Bounded { stream, idle: stall, deadline: std::time::Instant::now() + stall * 10 };
    // Which failure explains the others: a body that broke off here (a file changed while it
    // was read) over the engine's complaint about the short tar; the engine's answer over
    // the broken pipe its early refusal caused.
    let local = sent.as_ref().is_err_and(|e| !is_broken_connection(e));
    let (status, body) = match read_response(stream) {
        Ok(r) => r,
        Err(e) => return Err(io_err(sent.err().unwrap_or(e))),
    };
    if local {
        return sent.map_err(io_err);
    }
    check_load_response(status, &body).map_err(|message| Error::Refused { endpoint: describe.clone(), message })?;
    sent.map_err(io_err)
}

/// `GET path` on the engine: the status and a reader of the (de-chunked) body, which must
/// keep coming: `stall` without a byte fails the read.
pub(crate) fn get(path: &str, tuning: &Tuning) -> Result<(u16, Box<dyn Read + Send>), Error> {
    let endpoint = Endpoint::from_env()?;
    let describe = endpoint.describe();
    let stall = tuning.stall;
    let io_err =
        |source| Error::Io { endpoint: describe.clone(), source: timed_out(source, &format!("GET {path}"), stall) };
    let mut stream = connect(&endpoint, tuning.connect_timeout(), stall)
        .map_err(|source| Error::Unreachable { endpoint: describe.clone(), source })?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n").map_err(io_err)?;
    let mut r = BufReader::new(stream);
    let (status, chunked, length) = read_head(&mut r).map_err(io_err)?;
    let body: Box<dyn Read + Send> = match (chunked, length) {
        (true, _) => Box::new(Dechunk { inner: r, left: 0, done: false }),
        (false, Some(n)) => Box::new(r.take(n)),
        (false, None) => Box::new(r),
    };
    Ok((status, body))
}

/// A chunked HTTP/1.1 body, read as it comes.
struct Dechunk<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Dechunk<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            (&mut self.inner).take(1024).read_line(&mut line)?;
            if line == "\r\n" {
                line.clear();
                (&mut self.inner).take(1024).read_line(&mut line)?;
            }
            let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::other("bad chunk size in the engine's answer"))?;
            if size == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = size;
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the engine's answer broke off"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Whether a write failed because the other end went away.
fn is_broken_connection(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted)
}

/// A 200 can still carry `{"error": ...}` lines: any of them is a failure.
/// What the engine says is escaped and bounded before it is shown.
fn check_load_response(status: u16, body: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let shown = |s: &str| crate::redact::server_text(s.trim(), 1000);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
                return Err(shown(err));
            }
            if let Some(msg) = v.get("message").and_then(|e| e.as_str()).filter(|_| status != 200) {
                return Err(format!("HTTP {status}: {}", shown(msg)));
            }
        }
    }
    if status != 200 {
        return Err(format!("HTTP {status}: {}", shown(&text)));
    }
    Ok(())
}

/// Writes each buffer as one HTTP/1.1 chunk.
struct Chunked<W: Write>(W);

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        write!(self.0, "{:x}\r\n", buf.len())?;
        self.0.write_all(buf)?;
        self.0.write_all(b"\r\n")?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Reads an HTTP/1.1 response: status and de-chunked body.
fn read_response(stream: impl Read) -> io::Result<(u16, Vec<u8>)> {
    // Headers and chunk framing included, an answer is never read past twice the body limit.
    let mut r = BufReader::new(stream.take(2 * MAX_ANSWER));
    let (status, chunked, length) = read_head(&mut r)?;
    let mut line = String::new();
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::other("bad chunk size in the engine's answer"))?;
            if size == 0 {
                break;
            }
            let room = MAX_ANSWER.saturating_sub(body.len() as u64);
            (&mut r).take(size.min(room)).read_to_end(&mut body)?;
            if size > room {
                break;
            }
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(n) = length {
        r.take(n.min(MAX_ANSWER)).read_to_end(&mut body)?;
    } else {
        r.take(MAX_ANSWER).read_to_end(&mut body)?;
    }
    Ok((status, body))
}

/// Reads a response's status line (past interim answers) and headers: the status, whether
/// the body is chunked, and its length when given.
fn read_head(r: &mut impl BufRead) -> io::Result<(u16, bool, Option<u64>)> {
    let mut line = String::new();
    let status = loop {
        line.clear();
        r.by_ref().take(8 << 10).read_line(&mut line)?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
            io::Error::other(format!("not an HTTP response: {}", crate::redact::server_text(&line, 200)))
        })?;
        if !(100..200).contains(&status) {
            break status;
        }
        // An interim answer (100 Continue): its headers, then the real one.
        loop {
            line.clear();
            if r.by_ref().take(8 << 10).read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                break;
            }
        }
    };
    let (mut chunked, mut length) = (false, None);
    for _ in 0..200 {
        line.clear();
        if r.by_ref().take(8 << 10).read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            return Ok((status, chunked, length));
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        } else if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<u64>().ok();
        }
    }
    Err(io::Error::other("the engine's answer has too many headers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_stream_is_read_as_it_comes() {
        let raw = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let mut out = String::new();
        Dechunk { inner: &raw[..], left: 0, done: false }.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
        let cut = b"5\r\nhel";
        assert!(Dechunk { inner: &cut[..], left: 0, done: false }.read_to_string(&mut String::new()).is_err());
    }

    #[test]
    fn an_error_line_inside_a_200_is_a_failure() {
        let body = b"{\"stream\":\"Loading\"}\n{\"errorDetail\":{\"message\":\"bad tar\"},\"error\":\"bad tar\"}\n";
        assert_eq!(check_load_response(200, body), Err("bad tar".into()));
        assert_eq!(check_load_response(200, b"{\"stream\":\"Loaded image: a:1\\n\"}\n"), Ok(()));
        assert!(check_load_response(500, b"{\"message\":\"no space\"}").unwrap_err().contains("no space"));
    }

    #[test]
    fn the_containerd_store_is_told_by_its_driver_status() {
        // Both engines of the test bed, `GET /info` cut to these keys (docs/engines.md).
        let d26 = br#"{"ServerVersion":"26.1.5+dfsg1","Driver":"overlayfs","DriverStatus":[["driver-type","io.containerd.snapshotter.v1"]]}"#;
        let d20 = br#"{"ServerVersion":"20.10.24+dfsg1","Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"],["Native Overlay Diff","true"],["userxattr","false"]]}"#;
        assert_eq!(
            Info::parse(d26).unwrap(),
            Info { version: "26.1.5+dfsg1".into(), driver: "overlayfs".into(), store: ImageStore::Containerd }
        );
        assert_eq!(
            Info::parse(d20).unwrap(),
            Info { version: "20.10.24+dfsg1".into(), driver: "overlay2".into(), store: ImageStore::Classic }
        );
        // The sign is the pair, not either half, and an engine may send no DriverStatus.
        for classic in [
            &br#"{"Driver":"overlayfs","DriverStatus":[["driver-type","io.containerd.other"]]}"#[..],
            br#"{"DriverStatus":[["io.containerd.snapshotter.v1","driver-type"]]}"#,
            br#"{"DriverStatus":[["driver-type","io.containerd.snapshotter.v1","x"]]}"#,
            br#"{"DriverStatus":null}"#,
            br#"{}"#,
        ] {
            assert_eq!(
                Info::parse(classic).unwrap().store,
                ImageStore::Classic,
                "{}",
                String::from_utf8_lossy(classic)
            );
        }
        for bad in [&b"<html>"[..], b"[]", b"\"info\""] {
            assert!(Info::parse(bad).unwrap_err().contains("GET /info"));
        }
    }

    #[test]
    fn full_names_are_what_docker_normalizes_to() {
        let full = |r: &str| full_name(&Reference::parse(r).unwrap());
        assert_eq!(full("app"), "docker.io/library/app:latest");
        assert_eq!(full("app:1"), "docker.io/library/app:1");
        assert_eq!(full("team/app:1"), "docker.io/team/app:1");
        assert_eq!(full("docker.io/app:1"), "docker.io/library/app:1");
        assert_eq!(full("index.docker.io/team/app"), "docker.io/team/app:latest");
        assert_eq!(full("localhost/app:1"), "localhost/app:1");
        assert_eq!(full("127.0.0.1:5000/a/b/app"), "127.0.0.1:5000/a/b/app:latest");
        assert_eq!(full("ghcr.io/acme/app:2"), "ghcr.io/acme/app:2");
    }

    #[test]
    fn chunked_responses_are_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(read_response(&raw[..]).unwrap(), (200, b"hello world".to_vec()));
        let raw = b"HTTP/1.1 400 Bad\r\nContent-Length: 3\r\n\r\nabcdef";
        assert_eq!(read_response(&raw[..]).unwrap(), (400, b"abc".to_vec()));
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(read_response(&raw[..]).unwrap(), (200, b"ok".to_vec()));
    }
}
