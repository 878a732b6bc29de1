//! One LocalStack S3 server per test process, started on first use.
//!
//! [`localstack()`] installs LocalStack into a cached venv (`tests/setup/install-venv.sh localstack`),
//! starts it on a free loopback port with a private data directory, and waits until S3 reports
//! healthy. All tests in the process share that server, so each test must use its own buckets
//! ([`LocalStack::unique_bucket`]).
//!
//! If LocalStack cannot be installed or started, every test that asks for it panics with the
//! reason. S3 tests never skip (see STYLE.md, Tests).
//!
//! The test binary exits without running the `Drop` of statics, so the server cannot be stopped
//! from Rust. Instead it is started through a small `sh` wrapper whose stdin is a pipe from this
//! process: when this process exits for any reason (including SIGKILL) the kernel closes the pipe,
//! the wrapper's watcher reads EOF, kills the server's process group and deletes its data
//! directory. No crate is needed, and nothing polls while the tests run.

use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

/// How long LocalStack may take to report S3 healthy (it usually takes 1-5 s).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How many times to retry when the server exits right away (e.g. the port was taken meanwhile).
const START_ATTEMPTS: u32 = 3;
const REGION: &str = "us-east-1";
const ACCESS_KEY: &str = "test";
const SECRET_KEY: &str = "test";

/// Runs the server command given as `"$@"` with the watcher described in the module docs.
/// `$1` is the private directory to delete afterwards. The wrapper `exec`s the server, so the
/// server's pid is the wrapper's pid and its process group id (`process_group(0)`).
///
/// The server gets SIGKILL, not SIGTERM: it keeps no state worth saving, and once it has served
/// requests LocalStack 4.4.0 hangs in its SIGTERM shutdown ("Stopping all services").
/// `kill -s SIG -- -PGID` is the form dash (Debian's `sh`) accepts. The wait for the server to
/// die reads its state from `/proc`, because `kill -0` also succeeds on a zombie, and an init that
/// does not reap orphans (as in some containers) would keep it one.
const WRAPPER: &str = r#"
dir=$1; shift
exec 3<&0 </dev/null
(
    read -r _ <&3 || :
    kill -s KILL -- "$$" 2>/dev/null
    n=0
    while [ "$n" -lt 50 ]; do
        case $(sed 's/.*) //; s/ .*//' "/proc/$$/stat" 2>/dev/null) in ''|Z|X) break ;; esac
        sleep 0.1; n=$((n + 1))
    done
    rm -rf -- "$dir"
    kill -s KILL -- "-$$" 2>/dev/null
) &
exec "$@" 3<&-
"#;

/// Runs LocalStack as `python -m localstack.runtime.main` does, after moving S3's object storage
/// from a hard-coded directory shared by all servers (`/tmp/localstack-s3-storage`, where a
/// `DeleteBucket` on one server removes another's files) into this server's private TMPDIR.
const BOOTSTRAP: &str = "\
import os, runpy
import localstack.services.s3.provider as s3
s3.DEFAULT_S3_TMP_DIR = os.path.join(os.environ['TMPDIR'], 's3-storage')
runpy.run_module('localstack.runtime.main', run_name='__main__', alter_sys=True)
";

/// A running LocalStack S3 server; get it with [`localstack()`].
#[derive(Debug)]
pub struct LocalStack {
    port: u16,
    /// The server's pid, which is also its process group id.
    pid: u32,
    log: PathBuf,
    /// Write end of the wrapper's stdin. Never written; closing it (at process exit) stops the
    /// server.
    _lifeline: ChildStdin,
}

static LOCALSTACK: OnceLock<Result<LocalStack, String>> = OnceLock::new();

/// The LocalStack server of this test process, started on first call.
///
/// Panics (with installer output or the server's log) if it cannot be installed or started; the
/// failure is remembered, so later tests fail at once instead of retrying.
pub fn localstack() -> &'static LocalStack {
    match LOCALSTACK.get_or_init(LocalStack::start) {
        Ok(server) => server,
        Err(message) => {
            panic!("LocalStack is required for this test and is not available:\n{message}")
        }
    }
}

/// Runs a future to completion on a new current-thread tokio runtime, for sync tests.
///
/// Do not call it from inside another runtime (e.g. a `#[tokio::test]`); `.await` there instead.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime")
        .block_on(f)
}

impl LocalStack {
    /// Base URL of the server, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Path of the server's log file (deleted when the test process exits).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// A new S3 client for this server: path-style, `us-east-1`, static test credentials.
    ///
    /// A new client per runtime: clients pool connections on the runtime that opened them, so
    /// do not keep one across [`block_on`] calls.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY,
                SECRET_KEY,
                None,
                None,
                "blobtier-tests",
            ))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Environment for a child process (e.g. `blobtier`) that should talk to this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint().as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", REGION),
            ("BLOBTIER_S3_PATH_STYLE", "1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A bucket name that no other test in this process (or a concurrent run) uses:
    /// `<stem>-<pid>-<n>`. `stem` must be lowercase letters, digits and hyphens.
    pub fn unique_bucket(&self, stem: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("{stem}-{}-{n}", std::process::id())
    }

    /// Creates `bucket` (in `us-east-1`, so without a location constraint).
    pub async fn create_bucket(&self, bucket: &str) {
        let client = self.client().await;
        client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket `{bucket}`: {}", DisplayErrorContext(&e)));
    }

    /// Puts one object.
    pub async fn put_object(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        let client = self.client().await;
        put(&client, bucket, key, bytes.into()).await;
    }

    /// Uploads every file under `local_dir`, recursively, to `<prefix><relative path>` (with `/`
    /// separators; a `/` is added after a non-empty `prefix` that lacks one). Returns the keys,
    /// sorted.
    pub async fn upload_dir(&self, bucket: &str, prefix: &str, local_dir: &Path) -> Vec<String> {
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('/') => p.to_owned(),
            p => format!("{p}/"),
        };
        let mut files = Vec::new();
        walk_files(local_dir, local_dir, &mut files);
        files.sort();
        let client = self.client().await;
        let mut keys = Vec::with_capacity(files.len());
        for rel in files {
            let parts: Vec<_> = rel
                .iter()
                .map(|c| c.to_str().expect("UTF-8 file name"))
                .collect();
            let key = format!("{prefix}{}", parts.join("/"));
            let path = local_dir.join(&rel);
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()));
            put(&client, bucket, &key, bytes).await;
            keys.push(key);
        }
        keys
    }

    /// All keys in `bucket` that start with `prefix`, in S3's (lexicographic) order.
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let objects = self.list_sizes(bucket, prefix).await;
        objects.into_iter().map(|(key, _)| key).collect()
    }

    /// All keys in `bucket` that start with `prefix` with their sizes, in S3's order.
    pub async fn list_sizes(&self, bucket: &str, prefix: &str) -> Vec<(String, i64)> {
        let client = self.client().await;
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.unwrap_or_else(|e| {
                panic!("list `s3://{bucket}/{prefix}`: {}", DisplayErrorContext(&e))
            });
            objects.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| Some((o.key()?.to_owned(), o.size().unwrap_or(0)))),
            );
        }
        objects
    }

    fn start() -> Result<LocalStack, String> {
        let venv = crate::support::setup::venv("localstack", "bin/python")?;
        let mut last_error = String::new();
        for attempt in 1..=START_ATTEMPTS {
            match spawn_and_wait(&venv) {
                Ok(server) => return Ok(server),
                Err(Start::ExitedEarly(message)) => {
                    eprintln!("localstack: attempt {attempt} of {START_ATTEMPTS} failed");
                    last_error = message;
                }
                Err(Start::Failed(message)) => return Err(message),
            }
        }
        Err(format!(
            "{last_error}\n(gave up after {START_ATTEMPTS} attempts)"
        ))
    }
}

async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, bytes: Vec<u8>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put `s3://{bucket}/{key}`: {}", DisplayErrorContext(&e)));
}

/// Collects the paths of all files under `dir`, relative to `root`.
fn walk_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read `{}`: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("read directory entry").path();
        if path.is_dir() {
            walk_files(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .expect("path is under root")
                    .to_owned(),
            );
        }
    }
}

enum Start {
    /// The server exited before it was healthy; worth another try on a new port.
    ExitedEarly(String),
    Failed(String),
}

fn spawn_and_wait(venv: &Path) -> Result<LocalStack, Start> {
    let fail = |m: String| Start::Failed(m);
    let dir = tempfile::Builder::new()
        .prefix("blobtier-localstack-")
        .tempdir()
        .map_err(|e| fail(format!("could not create a temp directory: {e}")))?
        .keep();
    let log = dir.join("localstack.log");
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).map_err(|e| fail(format!("create `{}`: {e}", tmp.display())))?;
    let log_file =
        File::create(&log).map_err(|e| fail(format!("create `{}`: {e}", log.display())))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| fail(format!("dup log file: {e}")))?;
    let fs_root = dir.join("fs");
    link_service_catalog(venv, &fs_root).map_err(|e| {
        fail(format!(
            "link the service catalog into `{}`: {e}",
            fs_root.display()
        ))
    })?;
    let port = free_port().map_err(|e| fail(format!("could not find a free port: {e}")))?;

    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(WRAPPER)
        .arg("localstack-wrapper")
        .arg(&dir)
        .arg(venv.join("bin/python"))
        .args(["-c", BOOTSTRAP])
        // A clean environment: nothing from the developer's shell (AWS_*, DEBUG, PERSISTENCE, a
        // PYTHONPATH) can change how LocalStack behaves.
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", &dir)
        .env("LANG", "C.UTF-8")
        // hypercorn honours the host in GATEWAY_LISTEN; the default twisted server binds 0.0.0.0.
        .env("GATEWAY_SERVER", "hypercorn")
        .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("SERVICES", "s3")
        .env("EAGER_SERVICE_LOADING", "1")
        .env("DNS_ADDRESS", "0")
        .env("DISABLE_EVENTS", "1")
        // No network: use the self-signed certificate instead of downloading one.
        .env("SKIP_SSL_CERT_DOWNLOAD", "1")
        // Inside a container LocalStack would otherwise use /var/lib/localstack and /tmp/localstack;
        // host mode keeps every file under FILESYSTEM_ROOT, which is private to this server.
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("FILESYSTEM_ROOT", &fs_root)
        .env("LOCALSTACK_VOLUME_DIR", dir.join("volume"))
        .env("TMPDIR", &tmp)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(log_file)
        .stderr(log_err)
        .process_group(0);

    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("could not start `sh` for LocalStack: {e}")))?;
    let lifeline = child.stdin.take().expect("stdin is piped");
    let server = LocalStack {
        port,
        pid: child.id(),
        log,
        _lifeline: lifeline,
    };

    // Returning without the server drops its lifeline, so its watcher kills it and deletes `dir`.
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Start::ExitedEarly(format!(
                "LocalStack exited with {status} before S3 became healthy on {}; \
                 last lines of `{}`:\n{}",
                server.endpoint(),
                server.log.display(),
                log_tail(&server.log, 40)
            )));
        }
        // LocalStack does not fail when its port is taken: it logs "Ready." and never serves.
        // Worse, the taker could be another test process's LocalStack, which would answer the
        // health check. So check who listens, also after a healthy answer.
        let stolen = || listener_is(port, server.pid) == Some(false);
        let healthy = !stolen() && s3_healthy(port);
        if stolen() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Start::ExitedEarly(format!(
                "port {port} was taken by another process before LocalStack could listen on it"
            )));
        }
        if healthy {
            let healthy_after = started.elapsed();
            warm_up(port);
            eprintln!(
                "localstack: S3 healthy at {} (pid {}) after {:.1} s, warmed up after {:.1} s; \
                 log `{}`",
                server.endpoint(),
                server.pid,
                healthy_after.as_secs_f64(),
                started.elapsed().as_secs_f64(),
                server.log.display()
            );
            return Ok(server);
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            return Err(Start::Failed(format!(
                "LocalStack did not report S3 healthy at {} within {} s; last lines of `{}`:\n{}",
                server.endpoint(),
                STARTUP_TIMEOUT.as_secs(),
                server.log.display(),
                log_tail(&server.log, 40)
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether the process `pid` holds the socket listening on TCP port `port` (IPv4 or IPv6, any
/// address), from Linux's `/proc`. `None` if nothing listens there or `/proc` cannot be read.
fn listener_is(port: u16, pid: u32) -> Option<bool> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        // Columns: sl local_address rem_address st ... inode; addresses are `HEXIP:HEXPORT`,
        // state `0A` is LISTEN.
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(&"0A"), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                continue;
            };
            let listens_on_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port);
            if listens_on_port {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let ours = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .any(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()));
    Some(ours)
}

/// Links the service catalog index that `install-venv.sh localstack` prebuilt into `fs_root`, where
/// LocalStack looks for it (its "static libs" directory). Without it the first request builds the
/// index, which takes 3-5 s; so a missing index only costs time.
fn link_service_catalog(venv: &Path, fs_root: &Path) -> std::io::Result<()> {
    const STATIC_LIBS: &str = "usr/lib/localstack";
    let Ok(entries) = std::fs::read_dir(venv.join("localstack-fs").join(STATIC_LIBS)) else {
        return Ok(());
    };
    let target_dir = fs_root.join(STATIC_LIBS);
    std::fs::create_dir_all(&target_dir)?;
    for entry in entries {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("service-catalog-")
        {
            std::os::unix::fs::symlink(entry.path(), target_dir.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// A port that was free a moment ago. Another process may take it before LocalStack binds it;
/// then LocalStack exits and [`LocalStack::start`] tries again.
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether `GET /_localstack/health` reports S3 as `available` or `running`.
fn s3_healthy(port: u16) -> bool {
    let Some(body) = http_get(port, "/_localstack/health", "", Duration::from_secs(5)) else {
        return false;
    };
    let Ok(health) = serde_json::from_str::<serde_json::Value>(&body) else {
        return false;
    };
    matches!(
        health["services"]["s3"].as_str(),
        Some("available" | "running")
    )
}

/// Sends one S3 request (ListBuckets; LocalStack does not check the signature) and waits for the
/// answer. LocalStack builds its request routing lazily, so the first request after it reports
/// healthy takes about 3.5 s; paying that here keeps it out of the first test's timings.
fn warm_up(port: u16) {
    let auth = "Authorization: AWS4-HMAC-SHA256 \
        Credential=test/20260101/us-east-1/s3/aws4_request, \
        SignedHeaders=host;x-amz-date, Signature=0\r\n\
        x-amz-date: 20260101T000000Z\r\n";
    let _ = http_get(port, "/", auth, Duration::from_secs(60));
}

/// A minimal HTTP/1.0 GET on 127.0.0.1 (no HTTP client crate is needed for two requests).
/// `headers` are extra `Name: value\r\n` lines. Returns the body of a 200 response.
fn http_get(port: u16, path: &str, headers: &str, timeout: Duration) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?;
    (status == "200").then(|| body.to_owned())
}

/// The last `n` lines of the file at `path`, or a note saying why it could not be read.
fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(could not read the log: {e})"),
    }
}
