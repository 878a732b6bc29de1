//! A real CNCF distribution registry (Debian's `docker-registry`, 2.8) and a real client
//! (`skopeo`) for the image-graph tests, both installed by `tests/setup/install-apt.sh registry`
//! (apt). If they cannot be installed or started the tests fail; they never skip.
//!
//! - [`Registry::start`]: `docker-registry serve config.yml` on a free `127.0.0.1` port with
//!   JSON logging and the Apache-combined access log written to one file (as the process writes
//!   both streams to one output), notifications POSTed to a [`Webhook`] that appends every body
//!   to a file, and storage on the filesystem or (S3 driver) on an S3-compatible server;
//! - [`ClientProxy`]: a loopback forwarder whose upstream connections come from a chosen
//!   `127.0.0.N` address, so that the registry sees distinct clients in all three outputs (the
//!   registry honours `X-Forwarded-For` in its JSON log and notifications but not in the
//!   access log, which shows the socket address);
//! - [`OciLayout`]: small OCI image layouts written by the test (random gzip layers, image
//!   manifests, multi-arch indexes) for `skopeo copy oci:…`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::support::localstack::{block_on, LocalStack};

static TOOLS: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();

/// `(docker-registry, skopeo)`, installed on first use; panics (never skips) if that fails.
pub fn tools() -> &'static (PathBuf, PathBuf) {
    TOOLS
        .get_or_init(install)
        .as_ref()
        .unwrap_or_else(|e| panic!("docker-registry and skopeo are needed for this test: {e}"))
}

fn install() -> Result<(PathBuf, PathBuf), String> {
    let paths = crate::support::setup::install("install-apt.sh", "registry")?;
    paths
        .split_once(' ')
        .map(|(a, b)| (PathBuf::from(a), PathBuf::from(b)))
        .filter(|(a, b)| a.exists() && b.exists())
        .ok_or_else(|| format!("`install-apt.sh registry` printed no usable paths: `{paths}`"))
}

/// A free port on 127.0.0.1 (bound and released; the caller binds it right away).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Receives notification POSTs and appends each body, followed by a newline, to a file.
pub struct Webhook {
    pub addr: SocketAddr,
    pub file: PathBuf,
}

impl Webhook {
    pub fn start(file: &Path) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
        let addr = listener.local_addr().unwrap();
        fs::write(file, b"").unwrap();
        let path = file.to_owned();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let _ = serve_hook(conn, &path);
            }
        });
        Webhook {
            addr,
            file: file.to_owned(),
        }
    }
}

/// One HTTP/1.1 connection (possibly several requests: Go keeps connections alive).
fn serve_hook(conn: TcpStream, path: &Path) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    loop {
        let mut len = 0usize;
        let mut first = true;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if first && line.trim().is_empty() {
                continue;
            }
            first = false;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        {
            let mut f = fs::OpenOptions::new().append(true).open(path)?;
            f.write_all(&body)?;
            f.write_all(b"\n")?;
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
    }
}

/// Where the registry stores blobs and links.
pub enum RegistryStorage {
    /// The filesystem driver under this directory.
    Filesystem(PathBuf),
    /// The S3 driver against an S3-compatible endpoint.
    S3 {
        endpoint: String,
        bucket: String,
        root: String,
        access_key: String,
        secret_key: String,
    },
}

/// A running registry (killed when dropped).
pub struct Registry {
    pub port: u16,
    pub dir: PathBuf,
    /// The process's stdout and stderr: JSON application lines and access lines, interleaved.
    pub log: PathBuf,
    pub webhook: Webhook,
    child: Child,
    /// Seconds from spawn to the first `GET /v2/` answered 200.
    pub start_seconds: f64,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// A registry with `log.formatter: json`.
    pub fn start(dir: &Path, storage: RegistryStorage) -> Registry {
        Registry::start_with(dir, storage, "json")
    }

    /// A registry with its S3 driver on the LocalStack `ls`, in a new bucket `bucket` under
    /// the root `/reg` (so its keys start with `reg/docker/registry/v2/`), with
    /// `log.formatter: FORMATTER`. Blob GETs are answered with redirects to presigned URLs,
    /// the driver's default.
    pub fn on_localstack(dir: &Path, ls: &LocalStack, bucket: &str, formatter: &str) -> Registry {
        block_on(ls.create_bucket(bucket));
        let env: BTreeMap<String, String> = ls.env().into_iter().collect();
        let storage = RegistryStorage::S3 {
            endpoint: ls.endpoint(),
            bucket: bucket.to_owned(),
            root: "/reg".into(),
            access_key: env["AWS_ACCESS_KEY_ID"].clone(),
            secret_key: env["AWS_SECRET_ACCESS_KEY"].clone(),
        };
        Registry::start_with(dir, storage, formatter)
    }

    /// A registry with `log.formatter: FORMATTER` (`json` or `text`, the registry's default).
    pub fn start_with(dir: &Path, storage: RegistryStorage, formatter: &str) -> Registry {
        let (bin, _) = tools();
        fs::create_dir_all(dir).unwrap();
        let webhook = Webhook::start(&dir.join("notifications.log"));
        let port = free_port();
        let storage_yaml = match &storage {
            RegistryStorage::Filesystem(root) => {
                format!("  filesystem:\n    rootdirectory: {}\n", root.display())
            }
            RegistryStorage::S3 {
                endpoint,
                bucket,
                root,
                access_key,
                secret_key,
            } => format!(
                "  s3:\n    region: us-east-1\n    regionendpoint: {endpoint}\n    bucket: {bucket}\n    rootdirectory: {root}\n    accesskey: {access_key}\n    secretkey: {secret_key}\n    secure: false\n    v4auth: true\n    forcepathstyle: true\n"
            ),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  formatter: {formatter}\n  accesslog:\n    disabled: false\nstorage:\n{storage_yaml}  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: blobtier-test-secret\nnotifications:\n  endpoints:\n    - name: webhook\n      url: http://{}/events\n      timeout: 5s\n      threshold: 5\n      backoff: 1s\n",
            webhook.addr
        );
        fs::write(dir.join("config.yml"), config).unwrap();
        let log = dir.join("registry.log");
        let out = fs::File::create(&log).unwrap();
        let started = Instant::now();
        let mut cmd = Command::new(bin);
        // The S3 driver takes its settings from the config only: an inherited `AWS_CA_BUNDLE`
        // (or any other AWS_*) would change how it connects.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("AWS_")) {
                cmd.env_remove(name);
            }
        }
        let child = cmd
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start `{}`: {e}", bin.display()));
        let mut reg = Registry {
            port,
            dir: dir.to_owned(),
            log,
            webhook,
            child,
            start_seconds: 0.0,
        };
        loop {
            if http_status(port, "/v2/") == Some(200) {
                break;
            }
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!(
                    "docker-registry exited with {status}; its output:\n{}",
                    fs::read_to_string(&reg.log).unwrap_or_default()
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!(
                    "docker-registry did not answer on port {port} within 60 s; its output:\n{}",
                    fs::read_to_string(&reg.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        reg.start_seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "registry: docker-registry serving on 127.0.0.1:{port} after {:.2} s",
            reg.start_seconds
        );
        reg
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits until every successful GET of a manifest or blob in the JSON log has its `pull`
    /// notification (the registry sends them asynchronously); panics after 60 s.
    pub fn wait_for_notifications(&self) {
        let started = Instant::now();
        loop {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let gets = json_log_gets(&log) + text_log_gets(&log);
            let events = notification_gets(&fs::read(&self.webhook.file).unwrap_or_default());
            if gets == events {
                return;
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!("after 60 s: {gets} successful GETs logged but {events} GET pull notifications received");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Successful GETs of manifests and blobs (200, or 307 to storage) in registry JSON log text.
pub fn json_log_gets(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["msg"] == "response completed"
                && v["http.request.method"] == "GET"
                && (v["http.response.status"] == 200 || v["http.response.status"] == 307)
                && v["http.request.uri"]
                    .as_str()
                    .is_some_and(|u| u.contains("/manifests/") || u.contains("/blobs/"))
        })
        .count()
}

/// The same in registry text (logfmt) log text, by plain string matching.
pub fn text_log_gets(text: &str) -> usize {
    text.lines()
        .filter(|l| {
            l.starts_with("time=")
                && l.contains(" msg=\"response completed\" ")
                && l.contains(" http.request.method=GET ")
                && (l.contains(" http.response.status=200 ")
                    || l.contains(" http.response.status=307 "))
                && (l.contains("/manifests/") || l.contains("/blobs/"))
        })
        .count()
}

/// `pull` events of GET requests in a file of notification bodies (pretty-printed envelopes
/// back to back), read with serde_json's stream reader: independent of blobtier's reader.
pub fn notification_gets(bytes: &[u8]) -> usize {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<serde_json::Value>()
        .filter_map(Result::ok)
        .flat_map(|env| env["events"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["action"] == "pull" && e["request"]["method"] == "GET")
        .count()
}

/// The status of `GET path` on 127.0.0.1:port, or None if nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut buf = String::new();
    BufReader::new(s).read_line(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// A loopback forwarder: clients connect to `127.0.0.1:port`; each connection is forwarded to
/// the upstream from a socket bound to `source` (a `127.0.0.N` address).
pub struct ClientProxy {
    pub port: u16,
    pub source: String,
}

impl ClientProxy {
    pub fn start(source: &str, upstream: u16) -> ClientProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the client proxy");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let src: std::net::IpAddr = source.parse().expect("an IPv4 address");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((mut down, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(async move {
                        let sock = tokio::net::TcpSocket::new_v4().unwrap();
                        sock.bind(SocketAddr::new(src, 0)).unwrap();
                        let Ok(mut up) = sock
                            .connect(SocketAddr::from(([127, 0, 0, 1], upstream)))
                            .await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    });
                }
            });
        });
        ClientProxy {
            port,
            source: source.to_owned(),
        }
    }

    /// `127.0.0.1:PORT` of this client's forwarder.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Runs skopeo with `args` (HOME in `home`, so no cache or auth is shared with anything else);
/// panics with its output unless it succeeds.
pub fn skopeo(home: &Path, args: &[&str]) -> String {
    let (_, bin) = tools();
    fs::create_dir_all(home).unwrap();
    let out = Command::new(bin)
        .arg("--insecure-policy")
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("REGISTRY_AUTH_FILE")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run skopeo: {e}"));
    assert!(
        out.status.success(),
        "skopeo {args:?} failed with {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A gzip-compressed tar layer holding one file of `size` pseudo-random bytes from `seed`.
#[derive(Debug, Clone)]
pub struct Layer {
    pub gz: Vec<u8>,
    pub digest: String,
    pub diff_id: String,
}

impl Layer {
    pub fn random(seed: u64, size: usize) -> Layer {
        let mut data = Vec::with_capacity(size);
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        while data.len() < size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(size);
        let tar = tar_one(&format!("data-{seed}.bin"), &data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        Layer {
            digest: sha256(&gz),
            diff_id: sha256(&tar),
            gz,
        }
    }
}

/// A POSIX ustar archive with one regular file.
fn tar_one(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, 0o644);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, data.len() as u64);
    octal(&mut h, 136, 12, 1_700_000_000);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// An image written to a layout: its manifest and config digests.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: String,
    pub config: String,
    pub layers: Vec<String>,
    pub bytes: Vec<u8>,
}

/// An OCI image layout directory, referenced by skopeo as `oci:<dir>:latest`.
pub struct OciLayout {
    pub dir: PathBuf,
}

impl OciLayout {
    pub fn new(dir: &Path) -> OciLayout {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        OciLayout {
            dir: dir.to_owned(),
        }
    }

    fn put(&self, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        fs::write(
            self.dir
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
            bytes,
        )
        .unwrap();
        d
    }

    /// An image manifest for `arch` with `layers`.
    pub fn image(&self, arch: &str, layers: &[&Layer]) -> Image {
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        })
        .to_string();
        let config_digest = self.put(config.as_bytes());
        let mut descs = Vec::new();
        for l in layers {
            self.put(&l.gz);
            descs.push(
                serde_json::json!({"mediaType": OCI_LAYER, "digest": l.digest, "size": l.gz.len()}),
            );
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": descs,
        })
        .to_string();
        Image {
            manifest: self.put(manifest.as_bytes()),
            config: config_digest,
            layers: layers.iter().map(|l| l.digest.clone()).collect(),
            bytes: manifest.into_bytes(),
        }
    }

    /// An index of `images` (`(arch, image)`); returns its digest.
    pub fn index(&self, images: &[(&str, &Image)]) -> (String, Vec<u8>) {
        let manifests: Vec<serde_json::Value> = images
            .iter()
            .map(|(arch, im)| {
                serde_json::json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": im.manifest,
                    "size": im.bytes.len(),
                    "platform": {"architecture": arch, "os": "linux"},
                })
            })
            .collect();
        let index =
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
                .to_string();
        (self.put(index.as_bytes()), index.into_bytes())
    }

    /// Points the layout's `latest` reference at a manifest or index.
    pub fn set_latest(&self, media_type: &str, digest: &str, size: usize) {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": media_type,
                "digest": digest,
                "size": size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }],
        });
        fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }

    /// `oci:<dir>:latest`.
    pub fn reference(&self) -> String {
        format!("oci:{}:latest", self.dir.display())
    }
}
