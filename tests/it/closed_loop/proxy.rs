//! A recording HTTP/1.1 proxy between `blobtier apply` and LocalStack: the closed loop's record
//! of the requests blobtier really made (what the bill model prices), independent of blobtier's
//! own counters and journal.
//!
//! One request per connection (the response goes back with `Connection: close`; the SDK opens a
//! new connection for the next one). For each request it records the operation, bucket, key,
//! status, the `x-amz-storage-class` header (the target class of a copy) and, for
//! `RestoreObject`, the tier and days of the request body.
//!
//! It also makes restores take a night, which LocalStack never does (a restore there finishes at
//! once): a HEAD of an object whose `RestoreObject` this proxy passed since the last
//! [`Recorder::end_night`] shows `x-amz-restore: ongoing-request="true"`. The next night the
//! object shows LocalStack's finished restore.
//!
//! It must not change anything else: requests and responses are passed byte for byte apart from
//! the `Connection` header and that one rewrite.

use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request the proxy passed on.
#[derive(Debug, Clone)]
pub struct Request {
    /// S3 operation (`HeadObject`, `CopyObject`, …).
    pub op: &'static str,
    /// Bucket (path-style addressing).
    pub bucket: String,
    /// Object key, decoded (empty for bucket operations).
    pub key: String,
    /// HTTP status of the server's answer.
    pub status: u16,
    /// `x-amz-storage-class` of the request (the target class of a copy).
    pub storage_class: Option<String>,
    /// `<Tier>` of a `RestoreObject` body.
    pub restore_tier: Option<String>,
    /// `<Days>` of a `RestoreObject` body.
    pub restore_days: Option<u32>,
}

#[derive(Default)]
struct State {
    log: Vec<Request>,
    /// `/bucket/key` paths restored since the last `end_night`: shown as in progress.
    restoring: HashSet<String>,
}

/// A running proxy; stopped when dropped.
pub struct Recorder {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts a proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Recorder {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("upstream `{upstream}`: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recording proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, halt) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    if let Err(e) = serve(conn, upstream, &st) {
                        eprintln!("recording proxy: {e}");
                    }
                });
            }
        });
        Recorder {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `env` with `AWS_ENDPOINT_URL` pointing at this proxy.
    pub fn env(&self, env: Vec<(String, String)>) -> Vec<(String, String)> {
        env.into_iter()
            .map(|(k, v)| {
                if k == "AWS_ENDPOINT_URL" {
                    (k, format!("http://{}", self.addr))
                } else {
                    (k, v)
                }
            })
            .collect()
    }

    /// The requests recorded since the last call, in the order they were answered.
    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut self.state.lock().unwrap().log)
    }

    /// Restores requested so far are finished from now on.
    pub fn end_night(&self) {
        self.state.lock().unwrap().restoring.clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The S3 operation of a request (path-style addressing).
fn op_of(method: &str, path: &str, query: &str, copy: bool) -> &'static str {
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
        "GET" if has("versioning") => "GetBucketVersioning",
        "GET" if has("uploads") => "ListMultipartUploads",
        "GET" if object => "GetObject",
        "GET" => "ListObjects",
        "PUT" if copy && has("partNumber") => "UploadPartCopy",
        "PUT" if copy => "CopyObject",
        "PUT" if has("tagging") => "PutObjectTagging",
        "PUT" if has("lifecycle") => "PutBucketLifecycleConfiguration",
        "PUT" if has("partNumber") => "UploadPart",
        "PUT" => "PutObject",
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "POST" if has("restore") => "RestoreObject",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        "DELETE" if has("tagging") => "DeleteObjectTagging",
        "DELETE" if has("lifecycle") => "DeleteBucketLifecycle",
        "DELETE" => "DeleteObject",
        _ => "Other",
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A request or status line and its headers.
type Head = (String, Vec<(String, String)>);

/// Reads a head up to the blank line.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "head cut short",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok(Some((first.trim_end().to_owned(), headers)))
}

/// Reads a request body as framed by its headers, raw (chunked bodies keep their framing).
fn read_body(r: &mut impl BufRead, headers: &[(String, String)]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if header(headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size_line = String::new();
            r.read_line(&mut size_line)?;
            body.extend_from_slice(size_line.as_bytes());
            let size =
                usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0").trim(), 16)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut t = String::new();
                    r.read_line(&mut t)?;
                    body.extend_from_slice(t.as_bytes());
                    if t.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
        }
    }
    let n: usize = header(headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    body.resize(n, 0);
    r.read_exact(&mut body)?;
    Ok(body)
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

fn serve(client: TcpStream, upstream: SocketAddr, st: &Mutex<State>) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let Some((first, headers)) = read_head(&mut reader)? else {
        return Ok(());
    };
    let body = read_body(&mut reader, &headers)?;
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let op = op_of(
        &method,
        path,
        query,
        header(&headers, "x-amz-copy-source").is_some(),
    );
    let decoded = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    let (bucket, key) = decoded
        .split_once('/')
        .map(|(b, k)| (b.to_owned(), k.to_owned()))
        .unwrap_or((decoded.clone(), String::new()));

    let mut up = TcpStream::connect(upstream)?;
    let mut out = format!("{first}\r\n");
    for (k, v) in &headers {
        if !k.eq_ignore_ascii_case("connection") {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    up.flush()?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(response.len());
    let (rhead, rbody) = response.split_at(split);
    let mut r = BufReader::new(rhead);
    let (status_line, mut rheaders) =
        read_head(&mut r)?.unwrap_or_else(|| ("HTTP/1.1 502 Bad Gateway".into(), Vec::new()));
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);

    let text = String::from_utf8_lossy(&body);
    let request = Request {
        op,
        bucket,
        key,
        status,
        storage_class: header(&headers, "x-amz-storage-class").map(str::to_owned),
        restore_tier: (op == "RestoreObject")
            .then(|| between(&text, "<Tier>", "</Tier>").map(str::to_owned))
            .flatten(),
        restore_days: (op == "RestoreObject")
            .then(|| between(&text, "<Days>", "</Days>").and_then(|d| d.trim().parse().ok()))
            .flatten(),
    };
    {
        let mut s = st.lock().unwrap();
        if op == "RestoreObject" && (200..300).contains(&status) {
            s.restoring.insert(path.to_owned());
        }
        if op == "HeadObject" && s.restoring.contains(path) {
            for (k, v) in rheaders.iter_mut() {
                if k.eq_ignore_ascii_case("x-amz-restore")
                    && v.contains("ongoing-request=\"false\"")
                {
                    *v = "ongoing-request=\"true\"".into();
                }
            }
        }
        s.log.push(request);
    }
    let mut back = format!("{status_line}\r\n");
    for (k, v) in &rheaders {
        if !k.eq_ignore_ascii_case("connection") {
            back.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    back.push_str("Connection: close\r\n\r\n");
    let mut client = client;
    client.write_all(back.as_bytes())?;
    client.write_all(rbody)?;
    client.flush()?;
    Ok(())
}
