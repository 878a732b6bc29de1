//! Where inputs come from: local files, directories (recursive), globs, and `s3://` prefixes.
//! S3 goes through the S3 layer ([`crate::s3::S3`]: the standard AWS chain, path-style
//! addressing by config, its classification and retries); this module only maps its listings
//! and reads to [`Listed`] inputs. Reading returns the raw bytes; callers detect compression
//! by content.
//!
//! Must not: call the SDK itself, retry on its own, or interpret what it reads.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::io::{IoContext, IoError};
use crate::s3::{Class, S3Error, S3};

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
    /// An S3 call failed (after the S3 layer's retries).
    #[error(transparent)]
    S3(#[from] S3Error),
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
            self.s3()?
                .list(&bucket, &prefix)?
                .into_iter()
                .filter(|o| !o.key.ends_with('/'))
                .map(|o| Listed {
                    location: Location::S3 {
                        bucket: bucket.clone(),
                        key: o.key,
                    },
                    size: o.size,
                    fingerprint: format!("etag:{}", o.etag),
                })
                .collect()
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
            Location::S3 { bucket, key } => Ok(Box::new(io::Cursor::new(
                self.s3()?.get(bucket, key)?.bytes,
            ))),
        }
    }

    /// Reads a whole input into memory.
    pub fn read_all(&self, loc: &Location) -> Result<Vec<u8>, StorageError> {
        match loc {
            Location::Local(p) => Ok(fs::read(p).at("failed to read", p)?),
            Location::S3 { bucket, key } => Ok(self.s3()?.get(bucket, key)?.bytes),
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
        let local: Vec<(usize, Result<Vec<u8>, StorageError>)> = locs
            .par_iter()
            .enumerate()
            .filter_map(|(i, l)| match l {
                Location::Local(p) => Some((i, read_local(p))),
                Location::S3 { .. } => None,
            })
            .collect();
        out.requests += local.len() as u64;
        for (i, r) in local {
            out.results[i] = r;
        }
        let mut by_bucket: std::collections::BTreeMap<&str, Vec<(usize, String)>> =
            Default::default();
        for (i, l) in locs.iter().enumerate() {
            if let Location::S3 { bucket, key } = l {
                by_bucket.entry(bucket).or_default().push((i, key.clone()));
            }
        }
        for (bucket, items) in by_bucket {
            let s3 = match self.s3() {
                Ok(s3) => s3,
                Err(e) => {
                    let call = crate::s3::CallError::local("GetObject", e.to_string());
                    for (i, key) in items {
                        out.results[i] = Err(S3Error::new(bucket, &key, call.clone()).into());
                    }
                    continue;
                }
            };
            let keys: Vec<String> = items.iter().map(|(_, k)| k.clone()).collect();
            let r = s3.get_many(bucket, &keys, concurrency);
            out.requests += r.requests;
            out.retries += r.retries;
            for ((i, key), res) in items.into_iter().zip(r.results) {
                out.results[i] = res.map_err(|e| match e.call.class {
                    Class::NotFound => StorageError::NotFound(format!("s3://{bucket}/{key}")),
                    _ => e.into(),
                });
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

/// A whole local file; a missing one is [`StorageError::NotFound`].
fn read_local(p: &Path) -> Result<Vec<u8>, StorageError> {
    fs::read(p).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            StorageError::NotFound(p.display().to_string())
        } else {
            StorageError::Io(IoError {
                op: "failed to read",
                path: p.to_owned(),
                source: e,
            })
        }
    })
}

/// A file's modification time in nanoseconds since the epoch (0 when unknown): the local
/// change detector.
pub fn mtime_ns(meta: &fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
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
        out.push(Listed {
            location: Location::Local(canon),
            size: meta.len(),
            fingerprint: format!("mtime:{}", mtime_ns(&meta)),
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
