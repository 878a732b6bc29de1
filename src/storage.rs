//! Where inputs come from: local files, directories (recursive), globs, and `s3://` prefixes
//! (aws-sdk-s3 with the standard credential chain; `AWS_ENDPOINT_URL[_S3]` is honoured by the
//! SDK, path-style addressing by config). Reading returns the raw bytes' stream; callers
//! detect compression by content.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::io::{IoContext, IoError};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Local IO.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A path or glob that matches nothing.
    #[error("no input matches `{0}`")]
    NoMatch(String),
    /// A glob that does not parse.
    #[error("invalid glob `{pattern}`: {reason}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// An `s3://` URI that does not parse.
    #[error("invalid S3 URI `{0}`: expected `s3://bucket/prefix`")]
    BadS3Uri(String),
    /// An object or file that does not exist.
    #[error("`{0}` not found")]
    NotFound(String),
    /// An S3 call failed.
    #[error("S3 {op} failed on `s3://{bucket}/{key}`: {message}")]
    S3 {
        /// Operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key or prefix.
        key: String,
        /// The SDK's error, rendered with its chain.
        message: String,
    },
}

/// Where an input lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// A canonical local path.
    Local(PathBuf),
    /// An S3 object.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// One input file as listed (not yet read).
#[derive(Debug, Clone)]
pub struct Listed {
    /// Where it is.
    pub location: Location,
    /// Size in bytes.
    pub size: u64,
    /// Cheap change detector: `mtime:<ns>` locally, `etag:<etag>` on S3.
    pub fingerprint: String,
}

/// Parses `s3://bucket/prefix`.
pub fn parse_s3_uri(uri: &str) -> Result<(String, String), StorageError> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| StorageError::BadS3Uri(uri.into()))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StorageError::BadS3Uri(uri.into()));
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

/// S3 access shared by a run: one small runtime and two clients: one with the SDK's retries
/// (listing and single reads), one without for [`S3::get_many`], which retries itself and
/// counts every attempt.
pub struct S3 {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    reader: aws_sdk_s3::Client,
}

/// Attempts per object in [`S3::get_many`].
pub const READ_ATTEMPTS: u32 = 5;

/// What [`Storage::read_many`] did.
#[derive(Debug, Default)]
pub struct ReadMany {
    /// One result per location, in input order; a missing object is [`StorageError::NotFound`].
    pub results: Vec<Result<Vec<u8>, StorageError>>,
    /// Requests sent (S3 attempts; local reads count one each).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
}

/// Whether a failed GetObject is worth another attempt, and whether it means "no such key".
fn classify_read<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (bool, bool) {
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::ServiceError(se) => match se.raw().status().as_u16() {
            404 => (false, true),
            429 | 500..=599 => (true, false),
            _ => (false, false),
        },
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => (true, false),
        SdkError::DispatchFailure(d) => (!d.is_user(), false),
        _ => (false, false),
    }
}

/// Exponential backoff from 100 ms, capped at 3.2 s, with jitter derived from the key (no RNG
/// state: retries of different keys spread out, and a test run is reproducible).
fn read_backoff(attempt: u32, key: &str) -> std::time::Duration {
    let base = 100u64 << attempt.saturating_sub(1).min(5);
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), u64::from(attempt));
    std::time::Duration::from_millis(base / 2 + h % (base / 2 + 1))
}

async fn get_with_retry(
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
) -> (Result<Vec<u8>, StorageError>, u32) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (retry, message) = match client.get_object().bucket(&bucket).key(&key).send().await {
            Ok(resp) => match resp.body.collect().await {
                Ok(b) => return (Ok(b.into_bytes().to_vec()), attempt),
                Err(e) => (true, sdk_message(&e)),
            },
            Err(e) => {
                let (retry, not_found) = classify_read(&e);
                if not_found {
                    return (
                        Err(StorageError::NotFound(format!("s3://{bucket}/{key}"))),
                        attempt,
                    );
                }
                (retry, sdk_message(&e))
            }
        };
        if !retry || attempt >= READ_ATTEMPTS {
            return (
                Err(StorageError::S3 {
                    op: "GetObject",
                    bucket,
                    key,
                    message: format!("{message} (attempt {attempt})"),
                }),
                attempt,
            );
        }
        tracing::debug!(bucket, key, attempt, error = %message, "retrying a read");
        tokio::time::sleep(read_backoff(attempt, &key)).await;
    }
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3")
    }
}

/// An SDK error with its chain of causes, on one line.
pub(crate) fn sdk_message<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

impl S3 {
    /// Builds a client from the standard AWS chain.
    pub fn new(path_style: bool) -> Result<S3, IoError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .at("failed to start the async runtime", Path::new("<tokio>"))?;
        let client = rt.block_on(async {
            let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let conf = aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(path_style)
                .build();
            let reader = aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(path_style)
                .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
                .build();
            (
                aws_sdk_s3::Client::from_conf(conf),
                aws_sdk_s3::Client::from_conf(reader),
            )
        });
        let (client, reader) = client;
        Ok(S3 { rt, client, reader })
    }

    /// The client with the SDK's retries, for callers that make their own calls (the `s3://`
    /// lake); drive its futures with [`S3::block_on`].
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Runs a future on this client's runtime (callable from several threads at once).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// GETs `keys` of `bucket` with at most `concurrency` requests in flight, each retried on
    /// 5xx, 429, timeouts and connection errors (up to [`READ_ATTEMPTS`] attempts, exponential
    /// backoff with jitter); 404 is [`StorageError::NotFound`] at once. Results in input order.
    pub fn get_many(&self, bucket: &str, keys: &[String], concurrency: usize) -> ReadMany {
        self.rt.block_on(async {
            let mut results: Vec<Option<Result<Vec<u8>, StorageError>>> =
                (0..keys.len()).map(|_| None).collect();
            let mut set = tokio::task::JoinSet::new();
            let (mut next, mut requests, mut retries) = (0usize, 0u64, 0u64);
            loop {
                while set.len() < concurrency.max(1) && next < keys.len() {
                    let (i, client) = (next, self.reader.clone());
                    let (bucket, key) = (bucket.to_owned(), keys[i].clone());
                    set.spawn(async move {
                        let (r, attempts) = get_with_retry(client, bucket, key).await;
                        (i, r, attempts)
                    });
                    next += 1;
                }
                match set.join_next().await {
                    None => break,
                    Some(Ok((i, r, attempts))) => {
                        requests += u64::from(attempts);
                        retries += u64::from(attempts - 1);
                        results[i] = Some(r);
                    }
                    Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
                }
            }
            ReadMany {
                results: results
                    .into_iter()
                    .map(|r| r.expect("every key was read"))
                    .collect(),
                requests,
                retries,
            }
        })
    }

    /// Lists every object under `prefix`.
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, StorageError> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| StorageError::S3 {
                    op: "ListObjectsV2",
                    bucket: bucket.into(),
                    key: prefix.into(),
                    message: sdk_message(&e),
                })?;
                for o in page.contents() {
                    let Some(key) = o.key() else { continue };
                    if key.ends_with('/') {
                        continue;
                    }
                    out.push(Listed {
                        location: Location::S3 {
                            bucket: bucket.into(),
                            key: key.into(),
                        },
                        size: o.size().unwrap_or(0).max(0) as u64,
                        fingerprint: format!("etag:{}", o.e_tag().unwrap_or("")),
                    });
                }
            }
            Ok(out)
        })
    }

    /// Reads a whole object.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StorageError> {
        self.rt.block_on(async {
            let err = |e: String| StorageError::S3 {
                op: "GetObject",
                bucket: bucket.into(),
                key: key.into(),
                message: e,
            };
            let resp = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| err(sdk_message(&e)))?;
            let body = resp
                .body
                .collect()
                .await
                .map_err(|e| err(sdk_message(&e)))?;
            Ok(body.into_bytes().to_vec())
        })
    }
}

/// Lazily created S3 access.
#[derive(Debug, Default)]
pub struct Storage {
    path_style: bool,
    s3: std::sync::OnceLock<S3>,
}

impl Storage {
    /// A storage that creates its S3 client on first use.
    pub fn new(path_style: bool) -> Storage {
        Storage {
            path_style,
            s3: std::sync::OnceLock::new(),
        }
    }

    /// The S3 access, created on first use.
    pub fn s3(&self) -> Result<&S3, StorageError> {
        if let Some(s) = self.s3.get() {
            return Ok(s);
        }
        let s = S3::new(self.path_style)?;
        Ok(self.s3.get_or_init(|| s))
    }

    /// Expands a path spec: file, directory (recursive; hidden entries skipped), glob, or
    /// `s3://bucket/prefix`. Sorted, de-duplicated.
    pub fn expand(&self, spec: &str) -> Result<Vec<Listed>, StorageError> {
        let mut out = if spec.starts_with("s3://") {
            let (bucket, prefix) = parse_s3_uri(spec)?;
            self.s3()?.list(&bucket, &prefix)?
        } else if spec.contains(['*', '?', '[']) {
            let paths = glob::glob(spec).map_err(|e| StorageError::BadGlob {
                pattern: spec.into(),
                reason: e.to_string(),
            })?;
            let mut v = Vec::new();
            for p in paths {
                let p = p.map_err(|e| {
                    StorageError::Io(IoError {
                        op: "failed to read",
                        path: e.path().to_owned(),
                        source: io::Error::other(e.to_string()),
                    })
                })?;
                walk(&p, &mut v)?;
            }
            v
        } else {
            let p = Path::new(spec);
            if !p.exists() {
                return Err(StorageError::NoMatch(spec.into()));
            }
            let mut v = Vec::new();
            walk(p, &mut v)?;
            v
        };
        if out.is_empty() {
            return Err(StorageError::NoMatch(spec.into()));
        }
        out.sort_by(|a, b| a.location.cmp(&b.location));
        out.dedup_by(|a, b| a.location == b.location);
        Ok(out)
    }

    /// Opens an input for reading (whole object for S3, a file handle locally).
    pub fn open(&self, loc: &Location) -> Result<Box<dyn Read + Send>, StorageError> {
        match loc {
            Location::Local(p) => Ok(Box::new(fs::File::open(p).at("failed to open", p)?)),
            Location::S3 { bucket, key } => {
                Ok(Box::new(io::Cursor::new(self.s3()?.get(bucket, key)?)))
            }
        }
    }

    /// Reads a whole input into memory.
    pub fn read_all(&self, loc: &Location) -> Result<Vec<u8>, StorageError> {
        match loc {
            Location::Local(p) => Ok(fs::read(p).at("failed to read", p)?),
            Location::S3 { bucket, key } => self.s3()?.get(bucket, key),
        }
    }

    /// Reads many small objects or files (manifests, link files): S3 objects with
    /// [`S3::get_many`] (bounded concurrency, retries), local files in parallel.
    pub fn read_many(&self, locs: &[Location], concurrency: usize) -> ReadMany {
        use rayon::prelude::*;
        let mut out = ReadMany {
            results: (0..locs.len()).map(|_| Ok(Vec::new())).collect(),
            ..Default::default()
        };
        let mut by_bucket: std::collections::BTreeMap<&str, Vec<(usize, String)>> =
            Default::default();
        let local: Vec<(usize, Result<Vec<u8>, StorageError>)> = locs
            .par_iter()
            .enumerate()
            .filter_map(|(i, l)| match l {
                Location::Local(p) => Some((
                    i,
                    fs::read(p).map_err(|e| {
                        if e.kind() == io::ErrorKind::NotFound {
                            StorageError::NotFound(p.display().to_string())
                        } else {
                            StorageError::Io(IoError {
                                op: "failed to read",
                                path: p.clone(),
                                source: e,
                            })
                        }
                    }),
                )),
                Location::S3 { .. } => None,
            })
            .collect();
        out.requests += local.len() as u64;
        for (i, r) in local {
            out.results[i] = r;
        }
        for (i, l) in locs.iter().enumerate() {
            if let Location::S3 { bucket, key } = l {
                by_bucket.entry(bucket).or_default().push((i, key.clone()));
            }
        }
        for (bucket, items) in by_bucket {
            let s3 = match self.s3() {
                Ok(s3) => s3,
                Err(e) => {
                    let message = e.to_string();
                    for (i, key) in items {
                        out.results[i] = Err(StorageError::S3 {
                            op: "GetObject",
                            bucket: bucket.to_owned(),
                            key,
                            message: message.clone(),
                        });
                    }
                    continue;
                }
            };
            let keys: Vec<String> = items.iter().map(|(_, k)| k.clone()).collect();
            let r = s3.get_many(bucket, &keys, concurrency);
            out.requests += r.requests;
            out.retries += r.retries;
            for ((i, _), res) in items.into_iter().zip(r.results) {
                out.results[i] = res;
            }
        }
        out
    }

    /// Whether an input exists (used to find inventory data files next to a manifest).
    pub fn exists(&self, loc: &Location) -> bool {
        match loc {
            Location::Local(p) => p.is_file(),
            Location::S3 { .. } => true,
        }
    }
}

fn walk(p: &Path, out: &mut Vec<Listed>) -> Result<(), StorageError> {
    let meta = fs::metadata(p).at("failed to stat", p)?;
    if meta.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(p)
            .at("failed to list", p)?
            .collect::<Result<Vec<_>, _>>()
            .at("failed to list", p)?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            walk(&e.path(), out)?;
        }
    } else if meta.is_file() {
        let canon = fs::canonicalize(p).at("failed to resolve", p)?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        out.push(Listed {
            location: Location::Local(canon),
            size: meta.len(),
            fingerprint: format!("mtime:{mtime}"),
        });
    }
    Ok(())
}

/// Magic-byte compression detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// zstd (possibly several frames).
    Zstd,
}

/// Detects compression from the first bytes, whatever the file is called.
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps a raw reader in the decompressor its content calls for.
pub fn decompressing(mut raw: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        let k = raw.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let chained: Box<dyn Read + Send> = Box::new(io::Cursor::new(head[..n].to_vec()).chain(raw));
    Ok(match detect(&head[..n]) {
        Compression::None => chained,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 16, chained),
        )),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(chained)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_by_content_not_name() {
        let text = b"hello\nworld\n".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::stream::encode_all(&text[..], 3).unwrap();
        for input in [text.clone(), gz, zs] {
            let mut out = Vec::new();
            decompressing(Box::new(io::Cursor::new(input)))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, text);
        }
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut bad = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        bad.extend_from_slice(b"garbage that is not deflate");
        let mut out = Vec::new();
        assert!(decompressing(Box::new(io::Cursor::new(bad)))
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
    }

    #[test]
    fn read_backoff_grows_within_bounds() {
        for attempt in 1..=8 {
            let base = 100u64 << (attempt - 1).min(5);
            for key in ["a", "docker/registry/v2/blobs/sha256/00/x/data"] {
                let d = read_backoff(attempt, key).as_millis() as u64;
                assert!((base / 2..=base).contains(&d), "{attempt} {key}: {d}");
                assert_eq!(read_backoff(attempt, key), read_backoff(attempt, key));
            }
        }
    }

    #[test]
    fn read_many_local_keeps_order_and_reports_missing_files() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::write(&a, b"one").unwrap();
        std::fs::write(&b, b"two").unwrap();
        let locs = [
            Location::Local(b.clone()),
            Location::Local(t.path().join("missing")),
            Location::Local(a.clone()),
        ];
        let r = Storage::new(false).read_many(&locs, 4);
        assert_eq!(r.requests, 3);
        assert_eq!(r.retries, 0);
        assert_eq!(r.results[0].as_deref().unwrap(), b"two");
        assert!(matches!(r.results[1], Err(StorageError::NotFound(_))));
        assert_eq!(r.results[2].as_deref().unwrap(), b"one");
    }

    #[test]
    fn s3_uris() {
        assert_eq!(
            parse_s3_uri("s3://b/p/q").unwrap(),
            ("b".into(), "p/q".into())
        );
        assert_eq!(parse_s3_uri("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(parse_s3_uri("s3:///x").is_err());
    }
}
