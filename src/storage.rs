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

/// S3 access shared by a run: one client, one small runtime.
pub struct S3 {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3")
    }
}

fn sdk_message<E: std::error::Error>(e: &E) -> String {
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
            aws_sdk_s3::Client::from_conf(conf)
        });
        Ok(S3 { rt, client })
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

    fn s3(&self) -> Result<&S3, StorageError> {
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
    fn s3_uris() {
        assert_eq!(
            parse_s3_uri("s3://b/p/q").unwrap(),
            ("b".into(), "p/q".into())
        );
        assert_eq!(parse_s3_uri("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(parse_s3_uri("s3:///x").is_err());
    }
}
