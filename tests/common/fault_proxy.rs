//! A fault-injecting HTTP/1.1 proxy of our own, in front of a real registry: it counts
//! requests by kind and can answer 503s, 429s, drop an upload mid-body or stall uploads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Which faults to inject.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Answer every Nth request (counting from 1) with 503 instead of forwarding it.
    pub every_nth_503: Option<usize>,
    /// Drop the first blob upload (PUT/PATCH with a body of at least 1 KiB) after half its body.
    pub drop_one_upload: bool,
    /// Answer the first manifest PUT with 429 and `Retry-After: 1`.
    pub manifest_429: bool,
    /// After forwarding this many bytes of one upload's body, stop reading it forever (once).
    pub stall_after_bytes: Option<u64>,
    /// Refuse manifests with OCI media types (400 MANIFEST_INVALID), as some registries do.
    pub refuse_oci_manifests: bool,
    /// Point upload `Location`s at this other loopback port (another origin, like a storage host).
    pub upload_location_port: Option<u16>,
    /// Add this `Authorization` to forwarded requests that carry none (a presigned-URL stand-in).
    pub inject_authorization: Option<String>,
    /// Answer the first upload start (POST) with 401 and this `WWW-Authenticate` challenge.
    pub unauthorized_once: Option<String>,
    /// Answer the second chunk (PATCH) with 416, so the client must ask where the upload stands.
    pub range_416_once: bool,
    /// Drop `mount`/`from` from upload starts: the registry then answers 202, as a refused mount.
    pub refuse_mounts: bool,
    /// Answer manifest PUTs with a wrong `Docker-Content-Digest` (what a broken registry does).
    pub lie_about_manifest_digest: bool,
    /// Answer `GET /v2/` without `Authorization` with 401 and this challenge (the registry
    /// behind then takes any token: a stand-in for a Bearer registry).
    pub challenge: Option<String>,
    /// Read a streamed (chunked) `PATCH` to its end, then never answer.
    pub swallow_streamed_patch: bool,
    /// Refuse only OCI image indexes (400 MANIFEST_INVALID); OCI manifests are taken.
    pub refuse_oci_index: bool,
    /// Refuse manifests pushed by digest (400), as an old registry refuses artifact
    /// manifests: for a one-platform image, only its referrers are pushed by digest.
    pub refuse_manifests_by_digest: bool,
    /// Answer 201 to writes of a referrers tag-schema index (`/manifests/sha256-...`)
    /// without passing them on: as if another writer replaced each one at once.
    pub lose_tag_schema_writes: bool,
    /// Answer 500 to manifests pushed by digest (for a one-platform image: its referrers).
    pub fail_manifests_by_digest: bool,
    /// Answer a read of a referrers tag-schema index (`GET /manifests/sha256-...`) with 200
    /// and this body instead of passing it on.
    pub tag_schema_body: Option<Vec<u8>>,
    /// Cut the first blob download (`GET .../blobs/<digest>`) of at least 64 KiB after half
    /// its body.
    pub drop_one_download: bool,
    /// Send blob downloads (`GET .../blobs/<digest>`) at about this many bytes a second: a
    /// slow link that keeps moving.
    pub throttle_blob_gets: Option<u64>,
    /// Answer the cancel of an upload (`DELETE .../blobs/uploads/...`) with this status
    /// instead of passing it on, as registries that cannot cancel uploads do (405
    /// `UNSUPPORTED`, 404).
    pub refuse_upload_cancel: Option<u16>,
    /// Answer upload starts (`POST`) to this repository with 403 `DENIED`, as a registry
    /// answers an account that may not push there.
    pub deny_uploads_to: Option<String>,
    /// Hold each manifest `PUT` whose path contains the first string until a manifest `PUT`
    /// whose path contains the second has arrived (for 20 s at most: then
    /// [`FaultProxy::held_too_long`] says so): only a client that publishes both at once
    /// gets through without waiting.
    pub hold_manifests: Option<(String, String)>,
    /// Answer every `HEAD` of a manifest with 405, as a registry that serves manifests by
    /// `GET` only.
    pub refuse_manifest_heads: bool,
}

/// What a request was, by method and path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Ping,
    BlobHead,
    UploadStart,
    UploadPatch,
    UploadPut,
    UploadStatus,
    ManifestPut,
    /// `GET /v2/<repo>/blobs/<digest>`: a download.
    BlobGet,
    ManifestGet,
    /// `DELETE` of an upload's location: a cancel.
    UploadCancel,
    /// A `POST` that started an upload which was then cancelled, with no byte sent: the
    /// check before the build (counted apart from `UploadStart`, the uploads that carry data).
    UploadProbe,
    Other,
}

pub fn kind(method: &str, path: &str) -> Kind {
    let path = path.split('?').next().unwrap_or(path);
    // Absolute-form targets, as clients send them to an HTTP proxy.
    let path = path.strip_prefix("http://").map_or(path, |rest| &rest[rest.find('/').unwrap_or(rest.len())..]);
    match method {
        _ if path == "/v2/" => Kind::Ping,
        "HEAD" if path.contains("/blobs/") => Kind::BlobHead,
        "POST" if path.contains("/blobs/uploads") => Kind::UploadStart,
        "PATCH" if path.contains("/blobs/uploads") => Kind::UploadPatch,
        "PUT" if path.contains("/blobs/uploads") => Kind::UploadPut,
        "GET" if path.contains("/blobs/uploads") => Kind::UploadStatus,
        "DELETE" if path.contains("/blobs/uploads") => Kind::UploadCancel,
        "PUT" if path.contains("/manifests/") => Kind::ManifestPut,
        "GET" if path.contains("/blobs/") => Kind::BlobGet,
        "GET" | "HEAD" if path.contains("/manifests/") => Kind::ManifestGet,
        _ => Kind::Other,
    }
}

/// One request seen: its kind and the status the client got (0 when the connection was cut).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: Kind,
    pub status: u16,
    pub injected: bool,
}

struct Shared {
    upstream: u16,
    faults: Faults,
    requests: AtomicUsize,
    dropped: AtomicBool,
    download_dropped: AtomicBool,
    manifest_429_done: AtomicBool,
    stalled_once: AtomicBool,
    authorized_uploads: AtomicUsize,
    unauthorized_done: AtomicBool,
    patches: AtomicUsize,
    upload_bytes: AtomicU64,
    /// What was seen and whether an upload stalled; `changed` signals every update.
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

/// The proxy; stops accepting on drop.
pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    pub fn start(upstream_port: u16, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream: upstream_port,
            faults,
            requests: AtomicUsize::new(0),
            dropped: AtomicBool::new(false),
            download_dropped: AtomicBool::new(false),
            manifest_429_done: AtomicBool::new(false),
            stalled_once: AtomicBool::new(false),
            authorized_uploads: AtomicUsize::new(0),
            unauthorized_done: AtomicBool::new(false),
            patches: AtomicUsize::new(0),
            upload_bytes: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        FaultProxy { port, shared }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.state.lock().unwrap().seen.clone()
    }

    /// How many requests of `kind` were seen.
    pub fn count(&self, kind: Kind) -> usize {
        self.seen().iter().filter(|s| s.kind == kind).count()
    }

    /// Upload PUT/PATCH requests that arrived carrying an `Authorization` header.
    pub fn authorized_uploads(&self) -> usize {
        self.shared.authorized_uploads.load(Ordering::SeqCst)
    }

    /// Blob HEADs the registry answered 200 (blob already there).
    pub fn blobs_found(&self) -> usize {
        self.seen().iter().filter(|s| s.kind == Kind::BlobHead && s.status == 200).count()
    }

    /// Whether a manifest `PUT` held for another waited its 20 s out (see
    /// [`Faults::hold_manifests`]).
    pub fn held_too_long(&self) -> bool {
        self.shared.state.lock().unwrap().held_too_long
    }

    /// Blocks until `done(seen, stalled)` holds (or `timeout` passed); true if it does.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Seen], bool) -> bool) -> bool {
        let guard = self.shared.state.lock().unwrap();
        let (guard, _) =
            self.shared.changed.wait_timeout_while(guard, timeout, |st| !done(&st.seen, st.stalled)).unwrap();
        done(&guard.seen, guard.stalled)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A request head: first line and headers, as read.
struct Head {
    method: String,
    path: String,
    lines: Vec<String>,
    content_length: u64,
    /// `Transfer-Encoding: chunked`: a streamed body of unknown length.
    chunked: bool,
}

fn read_head<R: BufRead>(r: &mut R) -> std::io::Result<Option<Head>> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut lines = vec![first.trim_end().to_string()];
    let mut content_length = 0;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let h = h.trim_end().to_string();
        if let Some((name, value)) = h.split_once(':') {
            let name = name.to_ascii_lowercase();
            if name == "content-length" {
                content_length = value.trim().parse().unwrap_or(0);
            }
            if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
            if name == "connection" || name == "keep-alive" {
                continue;
            }
        }
        lines.push(h);
    }
    Ok(Some(Head { method, path, lines, content_length, chunked }))
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// A manifest `PUT` the held ones wait for (see [`Faults::hold_manifests`]) arrived.
    awaited: bool,
    /// A held manifest `PUT` waited its 20 s out.
    held_too_long: bool,
    stalled: bool,
    /// Each upload started: the path of its location, and its index in `seen`.
    uploads: Vec<(String, usize)>,
}

/// The path of a request target or a `Location`, without scheme, host or query.
fn path_of(target: &str) -> String {
    let path = target.split('?').next().unwrap_or(target);
    let path = match path.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => path,
    };
    path.to_string()
}

/// A cancel of the upload at `path`: the `POST` that started it was a probe.
fn cancelled(s: &Shared, path: &str) {
    let mut state = s.state.lock().unwrap();
    let started = state.uploads.iter().find(|(p, _)| p == path).map(|(_, i)| *i);
    if let Some(i) = started {
        state.seen[i].kind = Kind::UploadProbe;
    }
    drop(state);
    s.changed.notify_all();
}

fn record(s: &Shared, kind: Kind, status: u16, injected: bool) {
    s.state.lock().unwrap().seen.push(Seen { kind, status, injected });
    s.changed.notify_all();
}

fn reply(conn: &mut TcpStream, status: &str, extra: &str) -> std::io::Result<()> {
    let body = if status.starts_with("400") {
        r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"OCI media types are not supported"}]}"#
    } else if status.starts_with("403") {
        r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#
    } else if status.starts_with("405") {
        r#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#
    } else {
        r#"{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}"#
    };
    write!(conn, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}", body.len())
}

/// Serves requests on one client connection, each over a fresh upstream connection.
fn serve(mut client: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    // A TLS ClientHello (a client probing https first): this proxy speaks plain HTTP only.
    if reader.fill_buf()?.first() == Some(&0x16) {
        return Ok(());
    }
    while let Some(head) = read_head(&mut reader)? {
        let kind = kind(&head.method, &head.path);
        let n = s.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let is_upload =
            matches!(kind, Kind::UploadPatch | Kind::UploadPut) && (head.content_length >= 1024 || head.chunked);
        let had_auth = head.lines.iter().any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
        if let (Kind::Ping, Some(challenge), false) = (kind, &s.faults.challenge, had_auth) {
            record(s, kind, 401, true);
            reply(&mut client, "401 Unauthorized", &format!("WWW-Authenticate: {challenge}\r\n"))?;
            return Ok(());
        }
        if kind == Kind::UploadCancel {
            cancelled(s, &path_of(&head.path));
            if let Some(status) = s.faults.refuse_upload_cancel {
                discard(&mut reader, head.content_length)?;
                record(s, kind, status, true);
                let reason = if status == 405 { "Method Not Allowed" } else { "Refused" };
                reply(&mut client, &format!("{status} {reason}"), "")?;
                return Ok(());
            }
        }
        if let (Kind::UploadStart, Some(repo)) = (kind, &s.faults.deny_uploads_to) {
            if path_of(&head.path) == format!("/v2/{repo}/blobs/uploads/") {
                discard(&mut reader, head.content_length)?;
                record(s, kind, 403, true);
                reply(&mut client, "403 Forbidden", "")?;
                return Ok(());
            }
        }
        if kind == Kind::UploadPatch && head.chunked && s.faults.swallow_streamed_patch {
            copy_chunked(&mut reader, None)?;
            record(s, kind, 0, true);
            while !s.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
        if let (Kind::UploadStart, Some(challenge)) = (kind, &s.faults.unauthorized_once) {
            if !s.unauthorized_done.swap(true, Ordering::SeqCst) {
                discard(&mut reader, head.content_length)?;
                record(s, kind, 401, true);
                reply(&mut client, "401 Unauthorized", &format!("WWW-Authenticate: {challenge}\r\n"))?;
                return Ok(());
            }
        }
        if kind == Kind::UploadPatch && s.faults.range_416_once && s.patches.fetch_add(1, Ordering::SeqCst) == 1 {
            discard(&mut reader, head.content_length)?;
            record(s, kind, 416, true);
            reply(&mut client, "416 Range Not Satisfiable", "")?;
            return Ok(());
        }
        if s.faults.every_nth_503.is_some_and(|k| n.is_multiple_of(k)) {
            discard(&mut reader, head.content_length)?;
            record(s, kind, 503, true);
            reply(&mut client, "503 Service Unavailable", "")?;
            return Ok(());
        }
        if s.faults.refuse_manifest_heads && head.method == "HEAD" && kind == Kind::ManifestGet {
            record(s, kind, 405, true);
            reply(&mut client, "405 Method Not Allowed", "")?;
            return Ok(());
        }
        if let (Kind::ManifestPut, Some((held, awaited))) = (kind, &s.faults.hold_manifests) {
            if head.path.contains(awaited.as_str()) {
                s.state.lock().unwrap().awaited = true;
                s.changed.notify_all();
            } else if head.path.contains(held.as_str()) {
                let state = s.state.lock().unwrap();
                let (mut state, waited) =
                    s.changed.wait_timeout_while(state, Duration::from_secs(20), |st| !st.awaited).unwrap();
                if waited.timed_out() {
                    state.held_too_long = true;
                }
            }
        }
        if kind == Kind::ManifestPut && s.faults.manifest_429 && !s.manifest_429_done.swap(true, Ordering::SeqCst) {
            discard(&mut reader, head.content_length)?;
            record(s, kind, 429, true);
            reply(&mut client, "429 Too Many Requests", "Retry-After: 1\r\n")?;
            return Ok(());
        }
        let oci = head.lines.iter().any(|l| l.to_ascii_lowercase().starts_with("content-type: application/vnd.oci."));
        let oci_index = head
            .lines
            .iter()
            .any(|l| l.to_ascii_lowercase().starts_with("content-type: application/vnd.oci.image.index"));
        let by_digest = head.path.contains("/manifests/sha256:");
        if kind == Kind::ManifestPut
            && ((s.faults.refuse_oci_manifests && oci)
                || (s.faults.refuse_oci_index && oci_index)
                || (s.faults.refuse_manifests_by_digest && by_digest))
        {
            discard(&mut reader, head.content_length)?;
            record(s, kind, 400, true);
            reply(&mut client, "400 Bad Request", "")?;
            return Ok(());
        }
        if kind == Kind::ManifestPut && s.faults.fail_manifests_by_digest && by_digest {
            discard(&mut reader, head.content_length)?;
            record(s, kind, 500, true);
            reply(&mut client, "500 Internal Server Error", "")?;
            return Ok(());
        }
        if let (Kind::ManifestGet, Some(body), true) =
            (kind, &s.faults.tag_schema_body, head.path.contains("/manifests/sha256-"))
        {
            record(s, kind, 200, true);
            let type_ = "application/vnd.oci.image.index.v1+json";
            write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: {type_}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if head.method != "HEAD" {
                client.write_all(body)?;
            }
            return Ok(());
        }
        if kind == Kind::ManifestPut && s.faults.lose_tag_schema_writes && head.path.contains("/manifests/sha256-") {
            discard(&mut reader, head.content_length)?;
            record(s, kind, 201, true);
            write!(client, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            return Ok(());
        }
        if is_upload && s.faults.drop_one_upload && !s.dropped.swap(true, Ordering::SeqCst) {
            discard(&mut reader, head.content_length / 2)?;
            record(s, kind, 0, true);
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        let status = forward(&mut reader, &mut client, s, &head, kind, is_upload)?;
        if status == 0 {
            record(s, kind, 0, false);
            return Ok(());
        }
    }
    Ok(())
}

/// Copies a chunked body, framing and all, to `to` (or drops it); returns the data bytes.
fn copy_chunked<R: BufRead>(r: &mut R, mut to: Option<&mut TcpStream>) -> std::io::Result<u64> {
    let mut total = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("the chunked body ended early"));
        }
        if let Some(up) = to.as_deref_mut() {
            up.write_all(line.as_bytes())?;
        }
        let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                r.read_line(&mut t)?;
                if let Some(up) = to.as_deref_mut() {
                    up.write_all(t.as_bytes())?;
                }
                if t == "\r\n" || t.is_empty() {
                    return Ok(total);
                }
            }
        }
        let mut data = vec![0; size as usize + 2];
        r.read_exact(&mut data)?;
        if let Some(up) = to.as_deref_mut() {
            up.write_all(&data)?;
        }
        total += size;
    }
}

fn discard<R: Read>(r: &mut R, n: u64) -> std::io::Result<()> {
    std::io::copy(&mut r.take(n), &mut std::io::sink())?;
    Ok(())
}

/// Forwards one request and its response; returns the status (0 if the exchange broke off).
fn forward<R: BufRead>(
    reader: &mut R,
    client: &mut TcpStream,
    s: &Shared,
    head: &Head,
    kind: Kind,
    is_upload: bool,
) -> std::io::Result<u16> {
    let mut up = TcpStream::connect(("127.0.0.1", s.upstream))?;
    let had_auth = head.lines.iter().any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
    if had_auth && matches!(kind, Kind::UploadPut | Kind::UploadPatch) {
        s.authorized_uploads.fetch_add(1, Ordering::SeqCst);
    }
    let mut lines = head.lines.clone();
    if s.faults.refuse_mounts && kind == Kind::UploadStart {
        lines[0] = lines[0].replace("?mount=", "?refused-mount=");
    }
    let mut out = lines.join("\r\n");
    if let (false, Some(auth)) = (had_auth, &s.faults.inject_authorization) {
        out.push_str(&format!("\r\nAuthorization: {auth}"));
    }
    out.push_str("\r\nConnection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    if head.chunked {
        let n = copy_chunked(reader, Some(&mut up))?;
        if is_upload {
            s.upload_bytes.fetch_add(n, Ordering::SeqCst);
        }
    }
    let mut remaining = head.content_length;
    let mut buf = vec![0; 64 * 1024];
    while remaining > 0 {
        let want = buf.len().min(remaining as usize);
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(0);
        }
        up.write_all(&buf[..n])?;
        remaining -= n as u64;
        if is_upload {
            s.upload_bytes.fetch_add(n as u64, Ordering::SeqCst);
            // Stall the one request whose own body passed the limit; others go on.
            let limit_reached =
                s.faults.stall_after_bytes.is_some_and(|limit| head.content_length - remaining >= limit);
            if limit_reached && !s.stalled_once.swap(true, Ordering::SeqCst) {
                s.state.lock().unwrap().stalled = true;
                s.changed.notify_all();
                while !s.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return Ok(0);
            }
        }
    }
    // Response: pass the head through with `Connection: close`, then the body until EOF.
    let mut upr = BufReader::new(up);
    let mut first = String::new();
    upr.read_line(&mut first)?;
    let status = first.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut resp_head = first.trim_end().to_string();
    loop {
        let mut h = String::new();
        if upr.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if lower.starts_with("connection:") || lower.starts_with("keep-alive:") {
            continue;
        }
        if kind == Kind::ManifestPut
            && s.faults.lie_about_manifest_digest
            && lower.starts_with("docker-content-digest:")
        {
            resp_head.push_str(
                "\r\nDocker-Content-Digest: sha256:0000000000000000000000000000000000000000000000000000000000000000",
            );
            continue;
        }
        if let (true, Some(port)) = (lower.starts_with("location:"), s.faults.upload_location_port) {
            let value = h.split_once(':').map_or("", |(_, v)| v).trim();
            let path =
                value.strip_prefix("http://").map_or(value, |rest| &rest[rest.find('/').unwrap_or(rest.len())..]);
            resp_head.push_str(&format!("\r\nLocation: http://127.0.0.1:{port}{path}"));
            continue;
        }
        resp_head.push_str("\r\n");
        resp_head.push_str(h.trim_end());
    }
    resp_head.push_str("\r\nConnection: close\r\n\r\n");
    // Recorded before the client can see the answer, so counts are final when a push returns.
    let location = resp_head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("location").then(|| path_of(value.trim()))
    });
    match location {
        Some(location) if kind == Kind::UploadStart => {
            let mut state = s.state.lock().unwrap();
            state.seen.push(Seen { kind, status, injected: false });
            let index = state.seen.len() - 1;
            state.uploads.push((location, index));
            drop(state);
            s.changed.notify_all();
        }
        _ => record(s, kind, status, false),
    }
    client.write_all(resp_head.as_bytes())?;
    if kind == Kind::BlobGet && s.faults.drop_one_download {
        let length = resp_head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(length) = length.filter(|n| *n >= 64 << 10) {
            if !s.download_dropped.swap(true, Ordering::SeqCst) {
                std::io::copy(&mut (&mut upr).take(length / 2), client)?;
                let _ = client.shutdown(Shutdown::Both);
                record(s, kind, 0, true);
                return Ok(0);
            }
        }
    }
    match s.faults.throttle_blob_gets {
        Some(rate) if kind == Kind::BlobGet => {
            // A tenth of the rate every tenth of a second.
            let mut piece = vec![0; (rate / 10).max(1) as usize];
            loop {
                let n = upr.read(&mut piece)?;
                if n == 0 {
                    break;
                }
                client.write_all(&piece[..n])?;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        _ => {
            std::io::copy(&mut upr, client)?;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(status)
}
