//! A fault-injecting HTTP/1.1 proxy between the real SDK client (inside `blobtier`) and
//! LocalStack, so that apply's retries meet real network behaviour (STYLE.md, Tests;
//! test-components.md §2).
//!
//! Each client request is read whole, then, by a seeded random draw (only for the operations the
//! test allows):
//! - `SlowDown`: a canned `503 SlowDown` (not forwarded);
//! - `Internal`: a canned `500 InternalError` (not forwarded);
//! - `Reset`: forwarded (the server acts), the response is read, then the client connection is
//!   reset (RST) — the client cannot know whether the request took effect;
//! - `Stall`: forwarded, then the response is held back until the client gives up (its attempt
//!   timeout) and the connection is closed;
//! - `Delay`: a slow but successful response (no retry expected).
//!
//! Every upstream connection serves one request. The proxy counts what it saw per operation, what
//! the server completed (2xx) per operation and path (to prove "no action done twice"), and every
//! fault it injected (to compare with apply's retry metrics). It can also rewrite HEAD responses:
//! `x-amz-restore: ongoing-request="false"` → `"true"` for the first N HEADs (a restore in
//! progress, which LocalStack never shows), and the ETag of a path (a stale view, to drive the
//! 412 path of `x-amz-copy-source-if-match`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An injected fault kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// 503 SlowDown.
    SlowDown,
    /// 500 InternalError.
    Internal,
    /// Connection reset after the server acted.
    Reset,
    /// Response withheld until the client times out.
    Stall,
    /// Slow success.
    Delay,
}

/// Probabilities of each fault per request (the rest pass).
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultMix {
    pub slowdown: f64,
    pub internal: f64,
    pub reset: f64,
    pub stall: f64,
    pub delay: f64,
}

impl FaultMix {
    pub fn none() -> FaultMix {
        FaultMix::default()
    }

    pub fn total(&self) -> f64 {
        self.slowdown + self.internal + self.reset + self.stall + self.delay
    }
}

/// What the proxy saw.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Requests per operation (every attempt).
    pub seen: BTreeMap<String, u64>,
    /// Requests the server answered with 2xx, per (operation, path).
    pub completed: BTreeMap<(String, String), u64>,
    /// Injected faults.
    pub injected: BTreeMap<Fault, u64>,
    /// Injected faults per operation.
    pub injected_by_op: BTreeMap<(String, Fault), u64>,
    /// Upstream error statuses passed through, per (operation, status).
    pub upstream_errors: BTreeMap<(String, u16), u64>,
    /// `x-amz-restore` headers rewritten to ongoing.
    pub restore_rewrites: u64,
    /// Requests whose forwarding to the server failed (the client saw its connection close).
    pub upstream_failures: u64,
    /// `x-amz-copy-source` of every CopyObject and UploadPartCopy request.
    pub copy_sources: Vec<String>,
    /// Responses the client had given up on (its attempt timed out: it closed the connection)
    /// before the proxy could answer, by what the answer would have been: `slowdown`,
    /// `internal`, `reset`, `upstream_5xx`, `upstream_failure` or `other`. On a quiet machine
    /// there are none; on a loaded one a slow server makes the client count a timeout where
    /// the proxy meant another fault.
    pub gave_up: BTreeMap<&'static str, u64>,
}

impl Counts {
    /// Responses of kind `what` the client had given up on (see [`Counts::gave_up`]).
    pub fn gave_up(&self, what: &str) -> u64 {
        self.gave_up.get(what).copied().unwrap_or(0)
    }

    pub fn injected(&self, f: Fault) -> u64 {
        self.injected.get(&f).copied().unwrap_or(0)
    }

    pub fn seen(&self, op: &str) -> u64 {
        self.seen.get(op).copied().unwrap_or(0)
    }

    /// Completed requests of `op`, per path.
    pub fn completed_per_path(&self, op: &str) -> BTreeMap<String, u64> {
        self.completed
            .iter()
            .filter(|((o, _), _)| o == op)
            .map(|((_, p), n)| (p.clone(), *n))
            .collect()
    }

    /// Upstream 5xx statuses passed through (not injected, but retried all the same).
    pub fn upstream_5xx(&self) -> u64 {
        self.upstream_errors
            .iter()
            .filter(|((_, s), _)| *s >= 500)
            .map(|(_, n)| n)
            .sum()
    }
}

struct State {
    mix: FaultMix,
    /// Operations that may get faults (`None` = all).
    fault_ops: Option<HashSet<String>>,
    rng: u64,
    counts: Counts,
    /// HEAD responses still to rewrite to `ongoing-request="true"`.
    restore_ongoing: u64,
    /// path -> ETag to show in HEAD responses.
    etag_override: HashMap<String, String>,
    /// (operation, n) -> something to do once the server has answered the n-th request of that
    /// operation and before the client gets the answer (e.g. another writer's request).
    hooks: HashMap<(String, u64), Hook>,
}

type Hook = Box<dyn FnOnce() + Send>;

/// A running proxy (stopped when dropped).
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long a stalled response is held (longer than the client's attempt timeout).
pub const STALL: Duration = Duration::from_secs(6);
/// How long a delayed response waits.
pub const DELAY: Duration = Duration::from_millis(300);

impl FaultProxy {
    /// Starts a proxy to `upstream` (e.g. `http://127.0.0.1:4566`).
    pub fn start(upstream: &str, mix: FaultMix, seed: u64) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is http://ip:port");
        let state = Arc::new(Mutex::new(State {
            mix,
            fault_ops: None,
            rng: seed,
            counts: Counts::default(),
            restore_ongoing: 0,
            etag_override: HashMap::new(),
            hooks: HashMap::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let st = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        a = listener.accept() => {
                            let Ok((sock, _)) = a else { continue };
                            let _ = sock.set_nodelay(true);
                            tokio::spawn(serve(sock, upstream, Arc::clone(&st)));
                        }
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        FaultProxy {
            addr,
            state,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `env` with `AWS_ENDPOINT_URL` pointing at this proxy.
    pub fn env(&self, env: Vec<(String, String)>) -> Vec<(String, String)> {
        env.into_iter()
            .map(|(k, v)| {
                if k == "AWS_ENDPOINT_URL" {
                    (k, self.endpoint())
                } else {
                    (k, v)
                }
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts.clone()
    }

    pub fn set_mix(&self, mix: FaultMix) {
        self.lock().mix = mix;
    }

    /// Only these operations get faults.
    pub fn fault_only(&self, ops: &[&str]) {
        self.lock().fault_ops = Some(ops.iter().map(|s| s.to_string()).collect());
    }

    /// Rewrite the next `n` HEAD responses showing a finished restore to "in progress".
    pub fn restore_ongoing_for(&self, n: u64) {
        self.lock().restore_ongoing = n;
    }

    /// Runs `f` (on its own thread) after the server answered the `n`-th request of `op` and
    /// before that answer goes to the client.
    pub fn after(&self, op: &str, n: u64, f: impl FnOnce() + Send + 'static) {
        self.lock().hooks.insert((op.to_owned(), n), Box::new(f));
    }

    /// Show `etag` in HEAD responses for `path` (`/bucket/key`, URL-encoded as sent).
    pub fn override_etag(&self, path: &str, etag: &str) {
        self.lock()
            .etag_override
            .insert(path.to_owned(), etag.to_owned());
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn splitmix(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// A buffered connection.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16384];
        let n = self.s.read(&mut tmp).await?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// The head including the blank line; `None` at a clean EOF.
    async fn head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                return Ok(Some(self.buf.drain(..i + 4).collect()));
            }
            if self.fill().await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    async fn exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                return Ok(self.buf.drain(..i + 2).collect());
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// A chunked body, raw (chunks, last chunk and trailers).
    async fn chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await?;
            let size_text = String::from_utf8_lossy(&l);
            let size_hex = size_text.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size_hex.trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            out.extend_from_slice(&l);
            if size == 0 {
                loop {
                    let t = self.line().await?;
                    out.extend_from_slice(&t);
                    if t == b"\r\n" {
                        return Ok(out);
                    }
                }
            }
            let data = self.exact(size + 2).await?;
            out.extend_from_slice(&data);
        }
    }

    async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

struct Head {
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(raw: &[u8]) -> Head {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split("\r\n");
        let first = lines.next().unwrap_or("").to_owned();
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Head { first, headers }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn length(&self) -> Option<usize> {
        self.get("content-length").and_then(|v| v.parse().ok())
    }

    fn render(&self) -> Vec<u8> {
        let mut s = self.first.clone();
        s.push_str("\r\n");
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }
}

/// The S3 operation of a request.
pub fn op_of(method: &str, target: &str, has_copy_source: bool) -> &'static str {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let has = |q: &str| {
        query
            .split('&')
            .any(|kv| kv == q || kv.starts_with(&format!("{q}=")))
    };
    let object = path.trim_start_matches('/').contains('/');
    match method {
        "HEAD" if object => "HeadObject",
        "HEAD" => "HeadBucket",
        "GET" if has("tagging") => "GetObjectTagging",
        "GET" if has("acl") => "GetObjectAcl",
        "GET" if has("lifecycle") => "GetBucketLifecycleConfiguration",
        "GET" if has("uploads") => "ListMultipartUploads",
        "GET" if object => "GetObject",
        "GET" => "ListObjects",
        "PUT" if has_copy_source && has("partNumber") => "UploadPartCopy",
        "PUT" if has_copy_source => "CopyObject",
        "PUT" if has("tagging") => "PutObjectTagging",
        "PUT" if has("lifecycle") => "PutBucketLifecycleConfiguration",
        "PUT" if has("acl") => "PutObjectAcl",
        "PUT" if has("partNumber") => "UploadPart",
        "PUT" => "PutObject",
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "POST" if has("restore") => "RestoreObject",
        "POST" if has("delete") => "DeleteObjects",
        "POST" => "Post",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        "DELETE" if has("tagging") => "DeleteObjectTagging",
        "DELETE" if has("lifecycle") => "DeleteBucketLifecycle",
        "DELETE" => "DeleteObject",
        _ => "Other",
    }
}

fn canned(status: u16, reason: &str, code: &str, message: &str, head_only: bool) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
    );
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: fault-proxy\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

async fn serve(sock: TcpStream, upstream: SocketAddr, st: Arc<Mutex<State>>) {
    let mut client = Conn {
        s: sock,
        buf: Vec::new(),
    };
    loop {
        let Ok(Some(raw)) = client.head().await else {
            return;
        };
        let mut head = Head::parse(&raw);
        let mut parts = head.first.split(' ');
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let path = target.split('?').next().unwrap_or("").to_owned();
        let op = op_of(&method, &target, head.get("x-amz-copy-source").is_some());
        if head
            .get("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            head.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("expect"));
            if client
                .s
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
        }
        let body = if head.chunked() {
            client.chunked().await
        } else {
            client.exact(head.length().unwrap_or(0)).await
        };
        let Ok(body) = body else { return };
        let is_head = method == "HEAD";
        let (fault, ordinal) = {
            let mut s = st.lock().unwrap();
            let seen = s.counts.seen.entry(op.to_owned()).or_default();
            *seen += 1;
            let ordinal = *seen;
            if let Some(src) = head.get("x-amz-copy-source") {
                s.counts.copy_sources.push(src.to_owned());
            }
            let eligible = s.fault_ops.as_ref().is_none_or(|o| o.contains(op));
            let m = s.mix;
            let r = splitmix(&mut s.rng);
            let f = if !eligible {
                None
            } else if r < m.slowdown {
                Some(Fault::SlowDown)
            } else if r < m.slowdown + m.internal {
                Some(Fault::Internal)
            } else if r < m.slowdown + m.internal + m.reset {
                Some(Fault::Reset)
            } else if r < m.slowdown + m.internal + m.reset + m.stall {
                Some(Fault::Stall)
            } else if r < m.total() {
                Some(Fault::Delay)
            } else {
                None
            };
            if let Some(f) = f {
                *s.counts.injected.entry(f).or_default() += 1;
                *s.counts
                    .injected_by_op
                    .entry((op.to_owned(), f))
                    .or_default() += 1;
            }
            (f, ordinal)
        };
        match fault {
            Some(f @ (Fault::SlowDown | Fault::Internal)) => {
                let (what, status, reason, code, message) = if f == Fault::SlowDown {
                    (
                        "slowdown",
                        503,
                        "Slow Down",
                        "SlowDown",
                        "Please reduce your request rate.",
                    )
                } else {
                    (
                        "internal",
                        500,
                        "Internal Server Error",
                        "InternalError",
                        "We encountered an internal error. Please try again.",
                    )
                };
                if gave_up(&client.s).await {
                    *st.lock().unwrap().counts.gave_up.entry(what).or_default() += 1;
                    return;
                }
                let r = canned(status, reason, code, message, is_head);
                if client.s.write_all(&r).await.is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::Delay) => tokio::time::sleep(DELAY).await,
            _ => {}
        }
        let resp = forward(upstream, &head, &body, is_head).await;
        let Ok((mut rhead, rbody)) = resp else {
            // Upstream failed: the client sees a closed connection (unless it left before).
            let left = gave_up(&client.s).await;
            let mut s = st.lock().unwrap();
            if left {
                *s.counts.gave_up.entry("upstream_failure").or_default() += 1;
            } else {
                s.counts.upstream_failures += 1;
            }
            return;
        };
        let status: u16 = rhead
            .first
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        {
            let mut s = st.lock().unwrap();
            if (200..300).contains(&status) {
                *s.counts
                    .completed
                    .entry((op.to_owned(), path.clone()))
                    .or_default() += 1;
            } else if status >= 400 {
                *s.counts
                    .upstream_errors
                    .entry((op.to_owned(), status))
                    .or_default() += 1;
            }
            if is_head && (200..300).contains(&status) {
                if let Some(e) = s.etag_override.get(&path).cloned() {
                    for (k, v) in rhead.headers.iter_mut() {
                        if k.eq_ignore_ascii_case("etag") {
                            *v = format!("\"{}\"", e.trim_matches('"'));
                        }
                    }
                }
                let finished = rhead
                    .get("x-amz-restore")
                    .is_some_and(|v| v.contains("ongoing-request=\"false\""));
                if finished && s.restore_ongoing > 0 {
                    s.restore_ongoing -= 1;
                    s.counts.restore_rewrites += 1;
                    for (k, v) in rhead.headers.iter_mut() {
                        if k.eq_ignore_ascii_case("x-amz-restore") {
                            *v = "ongoing-request=\"true\"".into();
                        }
                    }
                }
            }
        }
        let hook = st.lock().unwrap().hooks.remove(&(op.to_owned(), ordinal));
        if let Some(h) = hook {
            tokio::task::block_in_place(|| std::thread::spawn(h).join().expect("hook panicked"));
        }
        if fault != Some(Fault::Stall) && gave_up(&client.s).await {
            let what = match fault {
                Some(Fault::Reset) => "reset",
                _ if status >= 500 => "upstream_5xx",
                _ => "other",
            };
            *st.lock().unwrap().counts.gave_up.entry(what).or_default() += 1;
            return;
        }
        match fault {
            Some(Fault::Reset) => {
                // RST instead of FIN: SO_LINGER 0, then close. (Deprecated because a non-zero
                // linger blocks the thread on drop; zero does not block.)
                #[allow(deprecated)]
                let _ = client.s.set_linger(Some(Duration::ZERO));
                return;
            }
            Some(Fault::Stall) => {
                tokio::time::sleep(STALL).await;
                return;
            }
            _ => {}
        }
        let mut out = rhead.render();
        out.extend_from_slice(&rbody);
        if client.s.write_all(&out).await.is_err() {
            return;
        }
        if rhead
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}

/// Whether the client has closed (or reset) its connection: it gave up on the request it
/// sent (the SDK drops a connection whose attempt timed out; it never sends a second request
/// before the first is answered, so nothing else can be waiting on the socket).
async fn gave_up(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    // `timeout` polls the peek once before it looks at the clock: ready now, or not at all.
    match tokio::time::timeout(Duration::ZERO, s.peek(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

/// Sends one request upstream on a new connection and reads the response whole. A
/// close-delimited body gets a `Content-Length` so that the client connection can stay open.
async fn forward(
    upstream: SocketAddr,
    head: &Head,
    body: &[u8],
    is_head: bool,
) -> io::Result<(Head, Vec<u8>)> {
    let s = TcpStream::connect(upstream).await?;
    s.set_nodelay(true)?;
    let mut up = Conn { s, buf: Vec::new() };
    let mut req = head.render();
    req.extend_from_slice(body);
    up.s.write_all(&req).await?;
    loop {
        let raw = up
            .head()
            .await?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let mut h = Head::parse(&raw);
        let status: u16 = h
            .first
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if (100..200).contains(&status) {
            continue;
        }
        let no_body = is_head || status == 204 || status == 304;
        let body = if no_body {
            Vec::new()
        } else if h.chunked() {
            up.chunked().await?
        } else if let Some(n) = h.length() {
            up.exact(n).await?
        } else {
            let b = up.read_to_end().await?;
            h.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("connection"));
            h.headers
                .push(("Content-Length".into(), b.len().to_string()));
            b
        };
        return Ok((h, body));
    }
}

#[cfg(test)]
mod tests {
    use super::op_of;

    #[test]
    fn operations() {
        assert_eq!(op_of("PUT", "/b/k", true), "CopyObject");
        assert_eq!(
            op_of("PUT", "/b/k?partNumber=1&uploadId=x", true),
            "UploadPartCopy"
        );
        assert_eq!(
            op_of("POST", "/b/k?uploads", false),
            "CreateMultipartUpload"
        );
        assert_eq!(
            op_of("POST", "/b/k?uploadId=x", false),
            "CompleteMultipartUpload"
        );
        assert_eq!(op_of("POST", "/b/k?restore", false), "RestoreObject");
        assert_eq!(op_of("HEAD", "/b/k", false), "HeadObject");
        assert_eq!(
            op_of("GET", "/b?lifecycle", false),
            "GetBucketLifecycleConfiguration"
        );
        assert_eq!(op_of("DELETE", "/b/k", false), "DeleteObject");
    }
}
