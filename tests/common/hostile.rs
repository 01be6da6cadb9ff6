//! Small hostile servers of our own, for the catalogue of hostile inputs: a listener that
//! accepts and never answers, and a scripted HTTP/1.1 server that answers each request as a
//! test says (a registry whose realm is elsewhere, an error body echoing `Authorization`, a
//! token with an absurd lifetime, a proxy that records what reaches it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Accepts TCP connections and never reads or writes; holds them until dropped.
pub struct Silent {
    pub port: u16,
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (accepted, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (a, s) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn {
                    a.fetch_add(1, Ordering::SeqCst);
                    held.push(conn);
                }
            }
        });
        Silent { port, accepted, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A request as the scripted server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent: a path, or an absolute URL when sent to a proxy.
    pub target: String,
    /// Header lines, `Name: value`, as sent.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// What to answer.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn json(mut self, body: &str) -> Response {
        self.headers.push(("Content-Type".into(), "application/json".into()));
        self.body = body.as_bytes().to_vec();
        self
    }
}

type Handler = dyn Fn(&Request, u16) -> Response + Send + Sync;

/// An HTTP/1.1 server answering every request with `handler(request, own_port)`, one
/// request per connection; records every request.
pub struct Scripted {
    pub port: u16,
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Scripted {
    pub fn start(handler: impl Fn(&Request, u16) -> Response + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (handler, seen) = (handler.clone(), seen2.clone());
                std::thread::spawn(move || {
                    if let Some(req) = read_request(&conn) {
                        seen.lock().unwrap().push(req.clone());
                        let resp = handler(&req, port);
                        let _ = write_response(conn, &resp);
                    }
                });
            }
        });
        Scripted { port, seen, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_request(conn: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut first = String::new();
    r.read_line(&mut first).ok()?;
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        let h = h.trim_end().to_string();
        if let Some((n, v)) = h.split_once(':') {
            if n.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        headers.push(h);
    }
    let mut body = vec![0; length.min(1 << 20)];
    r.read_exact(&mut body).ok()?;
    Some(Request { method, target, headers, body })
}

fn write_response(mut conn: TcpStream, resp: &Response) -> std::io::Result<()> {
    let mut head =
        format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n", resp.status, resp.body.len());
    for (n, v) in &resp.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(&resp.body)?;
    conn.flush()
}

/// A registry whose token realm sends its answer's headers at once and then its body one
/// byte at a time, every `every`.
pub struct Dribbling {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Dribbling {
    pub fn start(every: std::time::Duration) -> Dribbling {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let Some(req) = read_request(&conn) else { return };
                    if req.target == "/v2/" && req.header("Authorization").is_none() {
                        let challenge = format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="reg""#);
                        let resp = Response::new(401).header("WWW-Authenticate", &challenge);
                        let _ = write_response(conn, &resp);
                        return;
                    }
                    let body = br#"{"token":"tok-dribbled","expires_in":300}"#;
                    let head =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    if conn.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    for b in body {
                        if s.load(Ordering::SeqCst) || conn.write_all(&[*b]).is_err() {
                            return;
                        }
                        std::thread::sleep(every);
                    }
                });
            }
        });
        Dribbling { port, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dribbling {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
