//! The image graph (`ingest --registry-storage`): which manifests, repositories and current
//! tags reference each blob, so that no blob a pullable image needs is ever planned into a class
//! the registry cannot serve, and so that a manifest pull can count as a use of its blobs.
//!
//! Inputs, under the directory that holds `docker/registry/v2/` (`formats.md` §3.3):
//! - manifest revisions `repositories/<repo>/_manifests/revisions/sha256/<hex>/link` (the key
//!   names the digest; the file is not read), current tags
//!   `repositories/<repo>/_manifests/tags/<tag>/current/link` (read: the content is the digest)
//!   and blobs `blobs/sha256/<2>/<hex>/data`. On `s3://` the keys come from the bucket's S3
//!   Inventory (ingested in the same run, else the newest in the lake), or from a listing if
//!   the lake has none; on a local filesystem-driver directory from a directory walk;
//! - the manifests themselves, read from the blob store and parsed ([`super::manifest`]).
//!
//! Invariants:
//! - manifests are immutable by digest: each is read once and kept in `LAKE/manifests/`
//!   (append-only part files); a nightly run reads only manifests it has not seen, and a tag
//!   link only when its ETag (or mtime) changed since the previous graph snapshot;
//! - a manifest that cannot be read for a reason other than "not found" (after the retries) is
//!   an error: a graph with holes could show a blob as unreferenced that is not;
//! - S3 reads are bounded in concurrency and retried ([`crate::storage::S3::get_many`]).
//!
//! Outputs (one snapshot per run; a later run of the same day supersedes it):
//! `blob_refs/snapshot=D/` (per blob), `manifest_refs/snapshot=D/` (every blob reachable from
//! each manifest, through indexes), `tags/snapshot=D/` (tag → manifest), and new rows of
//! `manifests/`. `D` is the inventory snapshot's date when the keys came from an inventory,
//! else the run's UTC date.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use serde::Serialize;

use crate::ingest::manifest::{self, Kind, Reference, Role};
use crate::io::IoContext;
use crate::lake::Lake;
use crate::model::Digest;
use crate::storage::{Location, Storage, StorageError};

/// Manifest and tag-link reads in flight at once (S3).
pub const READ_CONCURRENCY: usize = 32;
/// Longest `manifests`, `repos` and `tags` list kept per `blob_refs` row (the counts are exact).
pub const LIST_CAP: usize = 100;

const V2: &str = "docker/registry/v2/";

/// Graph errors: the run stops and the lake is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// `--registry-storage` value.
    #[error("invalid `--registry-storage {spec}`: {reason}")]
    BadSpec {
        /// The value.
        spec: String,
        /// Why.
        reason: String,
    },
    /// Listing or reading the registry's storage.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A lake table that does not read.
    #[error("failed to read `{}`: {reason}", path.display())]
    BadTable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A manifest that could not be read.
    #[error("failed to read manifest {digest} at `{location}`")]
    Manifest {
        /// Digest.
        digest: String,
        /// Where.
        location: String,
        /// Cause.
        #[source]
        source: Box<StorageError>,
    },
}

/// Result alias.
pub type Result<T, E = GraphError> = std::result::Result<T, E>;

/// Where the registry keeps its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// A filesystem-driver directory: the path of its `docker/registry/v2` directory.
    Local(PathBuf),
    /// An S3-driver bucket: the key prefix up to and including `docker/registry/v2/`.
    S3 {
        /// Bucket.
        bucket: String,
        /// `<rootdirectory>/docker/registry/v2/` (no leading slash).
        prefix: String,
    },
}

impl Root {
    /// Parses `DIR` or `s3://bucket/prefix`: the directory (or prefix, the driver's
    /// `rootdirectory`) that holds `docker/registry/v2/`. A spec that already ends with
    /// `docker/registry/v2` is accepted as well.
    pub fn parse(spec: &str) -> Result<Root> {
        let bad = |reason: String| GraphError::BadSpec {
            spec: spec.to_owned(),
            reason,
        };
        if spec.starts_with("s3://") {
            let (bucket, p) = crate::storage::parse_s3_uri(spec).map_err(|e| bad(e.to_string()))?;
            let p = p.trim_matches('/');
            let p = p
                .strip_suffix("docker/registry/v2")
                .unwrap_or(p)
                .trim_end_matches('/');
            let prefix = if p.is_empty() {
                V2.to_owned()
            } else {
                format!("{p}/{V2}")
            };
            return Ok(Root::S3 { bucket, prefix });
        }
        let p = Path::new(spec);
        let v2 = if p.join(V2).is_dir() {
            p.join("docker/registry/v2")
        } else if p.ends_with("docker/registry/v2") && p.is_dir() {
            p.to_owned()
        } else {
            return Err(bad(format!(
                "`{}` not found: expected the registry's storage directory (the filesystem driver's `rootdirectory`) or `s3://bucket/prefix`",
                p.join(V2).display()
            )));
        };
        Ok(Root::Local(fs::canonicalize(&v2).unwrap_or(v2)))
    }

    /// Where a blob's data lives.
    pub fn blob_location(&self, d: &Digest) -> Location {
        let hex = d.hex();
        let rel = format!("blobs/sha256/{}/{hex}/data", &hex[..2]);
        match self {
            Root::Local(v2) => Location::Local(v2.join(rel)),
            Root::S3 { bucket, prefix } => Location::S3 {
                bucket: bucket.clone(),
                key: format!("{prefix}{rel}"),
            },
        }
    }

    fn location(&self, rest: &str) -> Location {
        match self {
            Root::Local(v2) => Location::Local(v2.join(rest)),
            Root::S3 { bucket, prefix } => Location::S3 {
                bucket: bucket.clone(),
                key: format!("{prefix}{rest}"),
            },
        }
    }
}

impl std::fmt::Display for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Root::Local(p) => write!(f, "{}", p.display()),
            Root::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// What a key under `docker/registry/v2/` is, for the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyInfo {
    Blob(Digest),
    Revision { repo: String, digest: Digest },
    Tag { repo: String, tag: String },
}

/// Classifies the part of a key after `docker/registry/v2/`.
fn parse_rest(rest: &str) -> Option<KeyInfo> {
    if let Some(b) = rest.strip_prefix("blobs/sha256/") {
        let (two, tail) = b.split_once('/')?;
        let hex = tail.strip_suffix("/data")?;
        if two.len() != 2 || !hex.starts_with(two) {
            return None;
        }
        return Digest::from_hex(hex.as_bytes()).map(KeyInfo::Blob);
    }
    let r = rest.strip_prefix("repositories/")?;
    // Repository name components never start with `_`, so the first `/_manifests/` ends it.
    let (repo, tail) = r.split_once("/_manifests/")?;
    if repo.is_empty() {
        return None;
    }
    if let Some(t) = tail.strip_prefix("revisions/sha256/") {
        let hex = t.strip_suffix("/link")?;
        return Digest::from_hex(hex.as_bytes()).map(|digest| KeyInfo::Revision {
            repo: repo.to_owned(),
            digest,
        });
    }
    let t = tail.strip_prefix("tags/")?;
    let tag = t.strip_suffix("/current/link")?;
    if tag.is_empty() || tag.contains('/') {
        return None;
    }
    Some(KeyInfo::Tag {
        repo: repo.to_owned(),
        tag: tag.to_owned(),
    })
}

/// One key of the registry's storage as listed: the part after `docker/registry/v2/`, its
/// size and change fingerprint (`etag:` on S3, `mtime:` locally).
#[derive(Debug, Clone)]
pub struct Key {
    /// Path after `docker/registry/v2/`.
    pub rest: String,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Change detector.
    pub fingerprint: String,
}

/// Where the keys of a graph came from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A directory walk of a local root.
    Walk,
    /// An S3 Inventory snapshot (date) of the registry's bucket: its Parquet files in the lake
    /// or staged by this run.
    Inventory(String, Vec<PathBuf>),
    /// A listing of the bucket under the prefix.
    Listing,
}

/// Walks a local `docker/registry/v2` directory (`_uploads` are skipped).
pub fn walk_keys(v2: &Path) -> Result<Vec<Key>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<Key>) -> Result<()> {
        let rd = fs::read_dir(dir)
            .at("failed to list", dir)
            .map_err(StorageError::from)?;
        for e in rd {
            let e = e.at("failed to list", dir).map_err(StorageError::from)?;
            let name = e.file_name();
            if name == "_uploads" {
                continue;
            }
            let p = e.path();
            let meta = fs::metadata(&p)
                .at("failed to stat", &p)
                .map_err(StorageError::from)?;
            if meta.is_dir() {
                walk(root, &p, out)?;
            } else if meta.is_file() {
                let rest = p
                    .strip_prefix(root)
                    .expect("walked path is under the root")
                    .to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/");
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                out.push(Key {
                    rest,
                    size: Some(meta.len() as i64),
                    fingerprint: format!("mtime:{mtime}:{}", meta.len()),
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(v2, v2, &mut out)?;
    Ok(out)
}

fn table_err(path: &Path) -> impl Fn(String) -> GraphError + '_ {
    move |reason| GraphError::BadTable {
        path: path.to_owned(),
        reason,
    }
}

/// Reads a Parquet file written by blobtier into record batches.
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let err = table_err(path);
    let f = fs::File::open(path)
        .at("failed to open", path)
        .map_err(StorageError::from)?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| err(e.to_string()))?
        .build()
        .map_err(|e| err(e.to_string()))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))
}

fn col<'b>(b: &'b RecordBatch, name: &str, path: &Path) -> Result<&'b ArrayRef> {
    b.column_by_name(name)
        .ok_or_else(|| table_err(path)(format!("missing column `{name}`")))
}

fn strings(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<String>>> {
    let c = col(b, name, path)?;
    let c = arrow::compute::cast(c, &DataType::Utf8).map_err(|e| table_err(path)(e.to_string()))?;
    let c = c.as_string::<i32>();
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i).to_owned()))
        .collect())
}

fn int64s(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<i64>>> {
    let c = col(b, name, path)?;
    let c =
        arrow::compute::cast(c, &DataType::Int64).map_err(|e| table_err(path)(e.to_string()))?;
    let c = c.as_primitive::<Int64Type>();
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i)))
        .collect())
}

fn bools(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<bool>>> {
    let c = col(b, name, path)?;
    let c = c
        .as_boolean_opt()
        .ok_or_else(|| table_err(path)(format!("column `{name}` is not boolean")))?;
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i)))
        .collect())
}

/// The registry's keys from inventory Parquet files (latest, non-deleted versions of `bucket`
/// under `prefix`).
pub fn inventory_keys(files: &[PathBuf], bucket: &str, prefix: &str) -> Result<Vec<Key>> {
    let mut out = Vec::new();
    for path in files {
        for b in read_batches(path)? {
            let (bk, key, size, etag) = (
                strings(&b, "bucket", path)?,
                strings(&b, "key", path)?,
                int64s(&b, "size", path)?,
                strings(&b, "etag", path)?,
            );
            let (latest, deleted) = (
                bools(&b, "is_latest", path)?,
                bools(&b, "is_delete_marker", path)?,
            );
            for i in 0..b.num_rows() {
                if bk[i].as_deref() != Some(bucket)
                    || latest[i] == Some(false)
                    || deleted[i] == Some(true)
                {
                    continue;
                }
                let Some(rest) = key[i].as_deref().and_then(|k| k.strip_prefix(prefix)) else {
                    continue;
                };
                out.push(Key {
                    rest: rest.to_owned(),
                    size: size[i],
                    fingerprint: format!("etag:{}", etag[i].as_deref().unwrap_or("")),
                });
            }
        }
    }
    Ok(out)
}

/// The newest `part-*.parquet` of the newest `snapshot=D` partition of `table` with `D <= max`.
pub fn latest_part(lake: &Lake, table: &str, max: Option<NaiveDate>) -> Option<(String, PathBuf)> {
    let dir = lake.root().join(table);
    let mut best: Option<(NaiveDate, PathBuf)> = None;
    for e in fs::read_dir(&dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(d) = name
            .strip_prefix("snapshot=")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if max.is_some_and(|m| d > m) {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| d > *b) {
            best = Some((d, e.path()));
        }
    }
    let (d, part_dir) = best?;
    let newest = fs::read_dir(&part_dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"))
        })
        .max()?;
    Some((d.to_string(), newest))
}

/// A manifest as cached in `LAKE/manifests/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    /// `mediaType` as written.
    pub media_type: Option<String>,
    /// Kind.
    pub kind: Kind,
    /// Bytes of the manifest.
    pub size: i64,
    /// Its descriptors.
    pub refs: Vec<Reference>,
}

/// Loads every cached manifest.
pub fn load_cache(lake: &Lake) -> Result<HashMap<Digest, Cached>> {
    let dir = lake.root().join("manifests");
    let mut out: HashMap<Digest, Cached> = HashMap::new();
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    for path in &files {
        for b in read_batches(path)? {
            let (digest, mt, kind, size) = (
                strings(&b, "digest", path)?,
                strings(&b, "media_type", path)?,
                strings(&b, "kind", path)?,
                int64s(&b, "size", path)?,
            );
            let (rd, rr, rmt, rsize, rplat) = (
                strings(&b, "ref_digest", path)?,
                strings(&b, "ref_role", path)?,
                strings(&b, "ref_media_type", path)?,
                int64s(&b, "ref_size", path)?,
                strings(&b, "ref_platform", path)?,
            );
            for i in 0..b.num_rows() {
                let Some(d) = digest[i]
                    .as_deref()
                    .and_then(|d| Digest::parse(d.as_bytes()))
                else {
                    return Err(table_err(path)(format!("bad digest in row {i}")));
                };
                let k = kind[i]
                    .as_deref()
                    .and_then(Kind::parse)
                    .ok_or_else(|| table_err(path)(format!("bad kind in row {i}")))?;
                let entry = out.entry(d).or_insert_with(|| Cached {
                    media_type: mt[i].clone(),
                    kind: k,
                    size: size[i].unwrap_or(0),
                    refs: Vec::new(),
                });
                if let (Some(r), Some(role)) = (
                    rd[i].as_deref().and_then(|r| Digest::parse(r.as_bytes())),
                    rr[i].as_deref().and_then(Role::parse),
                ) {
                    let reference = Reference {
                        digest: r,
                        role,
                        media_type: rmt[i].clone(),
                        size: rsize[i],
                        platform: rplat[i].clone(),
                    };
                    // The same manifest may sit in two part files (two runs raced before
                    // the lock); keep one copy of each descriptor.
                    if !entry.refs.contains(&reference) {
                        entry.refs.push(reference);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Tags of the newest graph snapshot: (repo, tag) → (link fingerprint, manifest).
fn previous_tags(lake: &Lake) -> Result<HashMap<(String, String), (String, Digest)>> {
    let mut out = HashMap::new();
    let Some((_, path)) = latest_part(lake, "tags", None) else {
        return Ok(out);
    };
    for b in read_batches(&path)? {
        let (repo, tag, m, fp) = (
            strings(&b, "repo", &path)?,
            strings(&b, "tag", &path)?,
            strings(&b, "manifest", &path)?,
            strings(&b, "link_fingerprint", &path)?,
        );
        for i in 0..b.num_rows() {
            if let (Some(r), Some(t), Some(d), Some(fp)) = (
                repo[i].clone(),
                tag[i].clone(),
                m[i].as_deref().and_then(|d| Digest::parse(d.as_bytes())),
                fp[i].clone(),
            ) {
                out.insert((r, t), (fp, d));
            }
        }
    }
    Ok(out)
}

/// What building the graph did (part of the ingest metrics and ledger entry).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GraphMetrics {
    /// `--registry-storage` as resolved.
    pub location: String,
    /// Snapshot date of the outputs.
    pub snapshot: String,
    /// Where the keys came from: `walk`, `inventory`, `listing`.
    pub keys_from: String,
    /// Repositories with at least one manifest revision or tag.
    pub repositories: u64,
    /// Manifest revisions (repository, digest).
    pub revisions: u64,
    /// Current tags with a valid link.
    pub tags: u64,
    /// Tag links read this run.
    pub tag_links_read: u64,
    /// Tag links whose fingerprint was unchanged since the previous snapshot (not read).
    pub tag_links_reused: u64,
    /// Tag links whose content is not a digest, or that vanished while being read.
    pub bad_tag_links: u64,
    /// Distinct manifests in the graph (revisions, tag targets and index children).
    pub manifests: u64,
    /// Of those, found in `LAKE/manifests/`.
    pub manifests_cached: u64,
    /// Of those, read from the blob store this run.
    pub manifests_fetched: u64,
    /// Manifests named by a link or an index whose blob is missing from the store.
    pub manifests_missing: u64,
    /// Manifests per kind (`image`, `index`, `schema1`, `artifact`, `unknown`, `invalid`).
    pub manifest_kinds: BTreeMap<String, u64>,
    /// Manifests of unknown media types, per media type (recorded, their descriptors followed).
    pub unknown_media_types: BTreeMap<String, u64>,
    /// Descriptors skipped because their digest is not `sha256:<64 hex>`.
    pub bad_references: u64,
    /// Rows of `blob_refs`.
    pub blobs: u64,
    /// Blobs present in the store.
    pub blobs_in_storage: u64,
    /// Blobs referenced by at least one manifest revision.
    pub blobs_referenced: u64,
    /// Blobs reachable from a current tag.
    pub blobs_tagged: u64,
    /// Blobs in the store that no manifest revision references (what `registry
    /// garbage-collect` would delete).
    pub blobs_unreferenced: u64,
    /// Their bytes.
    pub bytes_unreferenced: u64,
    /// Blobs referenced by a manifest but absent from the store.
    pub blobs_missing: u64,
    /// Read requests (S3 attempts, or local reads).
    pub read_requests: u64,
    /// Of those, retries.
    pub read_retries: u64,
}

/// The graph's output tables.
#[derive(Debug)]
pub struct Built {
    /// Snapshot date.
    pub snapshot: String,
    /// `blob_refs` rows.
    pub blob_refs: RecordBatch,
    /// `manifest_refs` rows.
    pub manifest_refs: RecordBatch,
    /// `tags` rows.
    pub tags: RecordBatch,
    /// New `manifests` rows (None when nothing new was read).
    pub new_manifests: Option<RecordBatch>,
    /// Metrics.
    pub metrics: GraphMetrics,
}

/// Schema of `blob_refs/snapshot=D/part-*.parquet`.
pub fn blob_refs_schema() -> SchemaRef {
    let list = |n: &str| {
        Field::new(
            n,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("digest", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, true),
        Field::new("media_type", DataType::Utf8, true),
        Field::new("in_storage", DataType::Boolean, false),
        Field::new("size", DataType::Int64, true),
        Field::new("ref_manifests", DataType::Int64, false),
        Field::new("ref_repos", DataType::Int64, false),
        Field::new("ref_tags", DataType::Int64, false),
        Field::new("referenced_by_tag", DataType::Boolean, false),
        list("manifests"),
        list("repos"),
        list("tags"),
    ]))
}

/// Schema of `manifest_refs/snapshot=D/part-*.parquet`.
pub fn manifest_refs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("manifest", DataType::Utf8, false),
        Field::new("digest", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
    ]))
}

/// Schema of `tags/snapshot=D/part-*.parquet`.
pub fn tags_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("repo", DataType::Utf8, false),
        Field::new("tag", DataType::Utf8, false),
        Field::new("manifest", DataType::Utf8, false),
        Field::new("link_fingerprint", DataType::Utf8, false),
    ]))
}

/// Schema of `manifests/part-*.parquet`: one row per descriptor (a manifest without any has
/// one row with NULL `ref_*`).
pub fn manifests_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("digest", DataType::Utf8, false),
        Field::new("media_type", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("ref_digest", DataType::Utf8, true),
        Field::new("ref_role", DataType::Utf8, true),
        Field::new("ref_media_type", DataType::Utf8, true),
        Field::new("ref_size", DataType::Int64, true),
        Field::new("ref_platform", DataType::Utf8, true),
    ]))
}

fn manifests_batch(rows: &BTreeMap<Digest, Cached>) -> RecordBatch {
    let (mut d, mut mt, mut kind, mut size) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
    );
    let (mut rd, mut rr, mut rmt, mut rsize, mut rplat) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
        StringBuilder::new(),
    );
    for (digest, m) in rows {
        let refs: Vec<Option<&Reference>> = if m.refs.is_empty() {
            vec![None]
        } else {
            m.refs.iter().map(Some).collect()
        };
        for r in refs {
            d.append_value(digest.to_string());
            mt.append_option(m.media_type.as_deref());
            kind.append_value(m.kind.as_str());
            size.append_value(m.size);
            rd.append_option(r.map(|r| r.digest.to_string()));
            rr.append_option(r.map(|r| r.role.as_str()));
            rmt.append_option(r.and_then(|r| r.media_type.as_deref()));
            rsize.append_option(r.and_then(|r| r.size));
            rplat.append_option(r.and_then(|r| r.platform.as_deref()));
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(d.finish()),
        Arc::new(mt.finish()),
        Arc::new(kind.finish()),
        Arc::new(size.finish()),
        Arc::new(rd.finish()),
        Arc::new(rr.finish()),
        Arc::new(rmt.finish()),
        Arc::new(rsize.finish()),
        Arc::new(rplat.finish()),
    ];
    RecordBatch::try_new(manifests_schema(), cols).expect("columns match the manifests schema")
}

/// Everything the graph needs to be built.
#[derive(Debug)]
pub struct Input<'a> {
    /// The registry's storage.
    pub root: &'a Root,
    /// Where its keys come from.
    pub keys: KeySource,
    /// The lake (manifest cache, previous tags).
    pub lake: &'a Lake,
    /// Storage access.
    pub storage: &'a Storage,
    /// The run's UTC date (the snapshot date unless the keys come from an inventory).
    pub today: NaiveDate,
}

/// Per-blob accumulator.
#[derive(Default)]
struct Acc {
    role: Option<Role>,
    in_storage: bool,
    size: Option<i64>,
    manifests: HashSet<u32>,
    repos: HashSet<u32>,
    tags: HashSet<u32>,
}

/// Builds the graph.
pub fn build(input: Input<'_>) -> Result<Built> {
    let Input {
        root,
        keys,
        lake,
        storage,
        today,
    } = input;
    let mut m = GraphMetrics {
        location: root.to_string(),
        ..Default::default()
    };
    // 1. Keys.
    let (keys, snapshot) = match (&keys, root) {
        (KeySource::Walk, Root::Local(v2)) => {
            m.keys_from = "walk".into();
            (walk_keys(v2)?, today.to_string())
        }
        (KeySource::Inventory(date, files), Root::S3 { bucket, prefix }) => {
            m.keys_from = "inventory".into();
            (inventory_keys(files, bucket, prefix)?, date.clone())
        }
        (_, Root::S3 { bucket, prefix }) => {
            m.keys_from = "listing".into();
            let listed = match storage.expand(&format!("s3://{bucket}/{prefix}")) {
                Ok(l) => l,
                Err(StorageError::NoMatch(_)) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            let keys = listed
                .into_iter()
                .filter_map(|l| match l.location {
                    Location::S3 { key, .. } => Some(Key {
                        rest: key.strip_prefix(prefix.as_str())?.to_owned(),
                        size: Some(l.size as i64),
                        fingerprint: l.fingerprint,
                    }),
                    Location::Local(_) => None,
                })
                .collect();
            (keys, today.to_string())
        }
        (_, Root::Local(v2)) => {
            m.keys_from = "walk".into();
            (walk_keys(v2)?, today.to_string())
        }
    };
    m.snapshot = snapshot.clone();
    let mut blobs: HashMap<Digest, Option<i64>> = HashMap::new();
    let mut revisions: BTreeSet<(String, Digest)> = BTreeSet::new();
    let mut tag_keys: Vec<(String, String, Key)> = Vec::new();
    for k in keys {
        match parse_rest(&k.rest) {
            Some(KeyInfo::Blob(d)) => {
                blobs.insert(d, k.size);
            }
            Some(KeyInfo::Revision { repo, digest }) => {
                revisions.insert((repo, digest));
            }
            Some(KeyInfo::Tag { repo, tag }) => tag_keys.push((repo, tag, k)),
            None => {}
        }
    }
    tag_keys.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    m.revisions = revisions.len() as u64;

    // 2. Tag links: reuse the previous snapshot's target when the link did not change.
    let prev = previous_tags(lake)?;
    let mut tags: Vec<(String, String, Digest, String)> = Vec::new();
    let mut to_read: Vec<(String, String, String)> = Vec::new();
    let mut locs: Vec<Location> = Vec::new();
    for (repo, tag, k) in tag_keys {
        match prev.get(&(repo.clone(), tag.clone())) {
            Some((fp, d)) if *fp == k.fingerprint => {
                m.tag_links_reused += 1;
                tags.push((repo, tag, *d, k.fingerprint));
            }
            _ => {
                locs.push(root.location(&k.rest));
                to_read.push((repo, tag, k.fingerprint));
            }
        }
    }
    let read = storage.read_many(&locs, READ_CONCURRENCY);
    m.read_requests += read.requests;
    m.read_retries += read.retries;
    for ((repo, tag, fp), (res, loc)) in
        to_read.into_iter().zip(read.results.into_iter().zip(&locs))
    {
        m.tag_links_read += 1;
        match res {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                match Digest::parse(text.trim().as_bytes()) {
                    Some(d) => tags.push((repo, tag, d, fp)),
                    None => {
                        m.bad_tag_links += 1;
                        tracing::warn!(link = %loc, content = %text.trim(), "tag link does not hold a sha256 digest; ignoring the tag");
                    }
                }
            }
            // Deleted between the listing and the read: the tag is gone.
            Err(StorageError::NotFound(_)) => m.bad_tag_links += 1,
            Err(e) => return Err(e.into()),
        }
    }
    tags.sort();
    m.tags = tags.len() as u64;

    // 3. Manifests: every revision, tag target and index child, from the cache or the store.
    let mut cache = load_cache(lake)?;
    let mut fetched: BTreeMap<Digest, Cached> = BTreeMap::new();
    let mut missing: HashSet<Digest> = HashSet::new();
    let mut known: BTreeSet<Digest> = revisions.iter().map(|(_, d)| *d).collect();
    known.extend(tags.iter().map(|t| t.2));
    let mut frontier: Vec<Digest> = known.iter().copied().collect();
    while !frontier.is_empty() {
        let need: Vec<Digest> = frontier
            .iter()
            .filter(|d| !cache.contains_key(d))
            .copied()
            .collect();
        let locs: Vec<Location> = need.iter().map(|d| root.blob_location(d)).collect();
        let read = storage.read_many(&locs, READ_CONCURRENCY);
        m.read_requests += read.requests;
        m.read_retries += read.retries;
        for ((d, res), loc) in need.iter().zip(read.results).zip(&locs) {
            match res {
                Ok(bytes) => {
                    let p = manifest::parse(&bytes);
                    let c = Cached {
                        media_type: p.media_type,
                        kind: p.kind,
                        size: bytes.len() as i64,
                        refs: p.refs,
                    };
                    m.bad_references += u64::from(p.bad_refs);
                    fetched.insert(*d, c.clone());
                    cache.insert(*d, c);
                }
                Err(StorageError::NotFound(_)) => {
                    tracing::warn!(digest = %d, location = %loc, "a manifest named by a link or an index is missing from the blob store");
                    missing.insert(*d);
                }
                Err(source) => {
                    return Err(GraphError::Manifest {
                        digest: d.to_string(),
                        location: loc.to_string(),
                        source: Box::new(source),
                    })
                }
            }
        }
        let mut next = Vec::new();
        for d in &frontier {
            if let Some(c) = cache.get(d) {
                for r in c.refs.iter().filter(|r| r.role == Role::Manifest) {
                    if known.insert(r.digest) {
                        next.push(r.digest);
                    }
                }
            }
        }
        frontier = next;
    }
    m.manifests = known.len() as u64;
    m.manifests_missing = missing.len() as u64;
    m.manifests_fetched = fetched.len() as u64;
    m.manifests_cached = known
        .iter()
        .filter(|d| cache.contains_key(d) && !fetched.contains_key(d))
        .count() as u64;
    for d in &known {
        if let Some(c) = cache.get(d) {
            *m.manifest_kinds.entry(c.kind.as_str().into()).or_default() += 1;
            if c.kind == Kind::Unknown {
                *m.unknown_media_types
                    .entry(c.media_type.clone().unwrap_or_else(|| "(none)".into()))
                    .or_default() += 1;
            }
        }
    }

    // 4. Closures: every blob reachable from each manifest (itself included), through indexes.
    let mut closures: HashMap<Digest, Arc<Vec<(Digest, Role)>>> = HashMap::new();
    fn closure(
        d: Digest,
        cache: &HashMap<Digest, Cached>,
        memo: &mut HashMap<Digest, Arc<Vec<(Digest, Role)>>>,
        visiting: &mut HashSet<Digest>,
    ) -> Arc<Vec<(Digest, Role)>> {
        if let Some(c) = memo.get(&d) {
            return Arc::clone(c);
        }
        if !visiting.insert(d) {
            return Arc::new(Vec::new()); // a cycle (malformed indexes): stop here
        }
        let mut set: BTreeMap<Digest, Role> = BTreeMap::new();
        set.insert(d, Role::Manifest);
        if let Some(c) = cache.get(&d) {
            for r in &c.refs {
                if r.role == Role::Manifest {
                    for (b, role) in closure(r.digest, cache, memo, visiting).iter() {
                        let e = set.entry(*b).or_insert(*role);
                        *e = (*e).min(*role);
                    }
                } else {
                    let e = set.entry(r.digest).or_insert(r.role);
                    *e = (*e).min(r.role);
                }
            }
        }
        visiting.remove(&d);
        let v = Arc::new(set.into_iter().collect::<Vec<_>>());
        memo.insert(d, Arc::clone(&v));
        v
    }
    let mut visiting = HashSet::new();
    for d in &known {
        closure(*d, &cache, &mut closures, &mut visiting);
    }

    // 5. Per blob: manifests, repositories and tags that reach it.
    let mut media: HashMap<Digest, String> = HashMap::new();
    for d in &known {
        if let Some(c) = cache.get(d) {
            if let Some(mt) = &c.media_type {
                media.insert(*d, mt.clone());
            }
            for r in &c.refs {
                if let Some(mt) = &r.media_type {
                    media.entry(r.digest).or_insert_with(|| mt.clone());
                }
            }
        }
    }
    let mut names: Vec<String> = Vec::new(); // interned repo names, tags and manifest digests
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut intern = |s: String| -> u32 {
        if let Some(&i) = ids.get(&s) {
            return i;
        }
        let i = names.len() as u32;
        ids.insert(s.clone(), i);
        names.push(s);
        i
    };
    let mut acc: HashMap<Digest, Acc> = HashMap::new();
    for (d, size) in &blobs {
        let a = acc.entry(*d).or_default();
        a.in_storage = true;
        a.size = *size;
    }
    for d in &known {
        let mid = intern(d.to_string());
        for (b, role) in closures[d].iter() {
            let a = acc.entry(*b).or_default();
            a.role = Some(a.role.map_or(*role, |r| r.min(*role)));
            if b != d {
                a.manifests.insert(mid);
            }
        }
    }
    let mut repos: BTreeSet<&str> = BTreeSet::new();
    for (repo, d) in &revisions {
        repos.insert(repo);
        let rid = intern(repo.clone());
        for (b, _) in closures[d].iter() {
            acc.entry(*b).or_default().repos.insert(rid);
        }
    }
    for (repo, tag, d, _) in &tags {
        repos.insert(repo);
        let (rid, tid) = (intern(repo.clone()), intern(format!("{repo}:{tag}")));
        for (b, _) in closures[d].iter() {
            let a = acc.entry(*b).or_default();
            a.tags.insert(tid);
            a.repos.insert(rid);
        }
    }
    m.repositories = repos.len() as u64;

    // 6. Tables.
    let mut digests: Vec<&Digest> = acc.keys().collect();
    digests.sort();
    let list = || ListBuilder::new(StringBuilder::new());
    let (mut c_d, mut c_role, mut c_mt, mut c_in, mut c_size) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        BooleanBuilder::new(),
        Int64Builder::new(),
    );
    let (mut c_nm, mut c_nr, mut c_nt, mut c_tagged) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        BooleanBuilder::new(),
    );
    let (mut l_m, mut l_r, mut l_t) = (list(), list(), list());
    let sorted_names = |set: &HashSet<u32>| -> Vec<&str> {
        let mut v: Vec<&str> = set.iter().map(|&i| names[i as usize].as_str()).collect();
        v.sort_unstable();
        v.truncate(LIST_CAP);
        v
    };
    for d in digests {
        let a = &acc[d];
        m.blobs += 1;
        if a.in_storage {
            m.blobs_in_storage += 1;
            if a.repos.is_empty() {
                m.blobs_unreferenced += 1;
                m.bytes_unreferenced += a.size.unwrap_or(0).max(0) as u64;
            }
        } else {
            m.blobs_missing += 1;
        }
        if !a.repos.is_empty() {
            m.blobs_referenced += 1;
        }
        if !a.tags.is_empty() {
            m.blobs_tagged += 1;
        }
        c_d.append_value(d.to_string());
        c_role.append_option(a.role.map(Role::as_str));
        c_mt.append_option(media.get(d).map(String::as_str));
        c_in.append_value(a.in_storage);
        c_size.append_option(a.size);
        c_nm.append_value(a.manifests.len() as i64);
        c_nr.append_value(a.repos.len() as i64);
        c_nt.append_value(a.tags.len() as i64);
        c_tagged.append_value(!a.tags.is_empty());
        for (builder, set) in [
            (&mut l_m, &a.manifests),
            (&mut l_r, &a.repos),
            (&mut l_t, &a.tags),
        ] {
            for s in sorted_names(set) {
                builder.values().append_value(s);
            }
            builder.append(true);
        }
    }
    let blob_refs = RecordBatch::try_new(
        blob_refs_schema(),
        vec![
            Arc::new(c_d.finish()),
            Arc::new(c_role.finish()),
            Arc::new(c_mt.finish()),
            Arc::new(c_in.finish()),
            Arc::new(c_size.finish()),
            Arc::new(c_nm.finish()),
            Arc::new(c_nr.finish()),
            Arc::new(c_nt.finish()),
            Arc::new(c_tagged.finish()),
            Arc::new(nonnull_list(l_m.finish())),
            Arc::new(nonnull_list(l_r.finish())),
            Arc::new(nonnull_list(l_t.finish())),
        ],
    )
    .expect("columns match the blob_refs schema");

    let (mut r_m, mut r_d, mut r_role) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    for d in &known {
        let ms = d.to_string();
        for (b, role) in closures[d].iter() {
            r_m.append_value(&ms);
            r_d.append_value(b.to_string());
            r_role.append_value(role.as_str());
        }
    }
    let manifest_refs = RecordBatch::try_new(
        manifest_refs_schema(),
        vec![
            Arc::new(r_m.finish()),
            Arc::new(r_d.finish()),
            Arc::new(r_role.finish()),
        ],
    )
    .expect("columns match the manifest_refs schema");

    let (mut t_r, mut t_t, mut t_m, mut t_f) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    for (repo, tag, d, fp) in &tags {
        t_r.append_value(repo);
        t_t.append_value(tag);
        t_m.append_value(d.to_string());
        t_f.append_value(fp);
    }
    let tags_batch = RecordBatch::try_new(
        tags_schema(),
        vec![
            Arc::new(t_r.finish()),
            Arc::new(t_t.finish()),
            Arc::new(t_m.finish()),
            Arc::new(t_f.finish()),
        ],
    )
    .expect("columns match the tags schema");

    Ok(Built {
        snapshot,
        blob_refs,
        manifest_refs,
        tags: tags_batch,
        new_manifests: (!fetched.is_empty()).then(|| manifests_batch(&fetched)),
        metrics: m,
    })
}

/// A list array whose field is declared non-nullable at the top level (every row has a list,
/// possibly empty), matching [`blob_refs_schema`].
fn nonnull_list(a: arrow::array::ListArray) -> arrow::array::ListArray {
    let (field, offsets, values, _) = a.into_parts();
    arrow::array::ListArray::new(field, offsets, values, None)
}

/// Removes part files of the partitions of `written` (relative paths) that `written` supersedes:
/// a later run of the same day replaces a graph snapshot. Called after the commit; readers
/// also take only the newest part, so a crash before this runs is harmless.
pub fn prune_superseded(lake: &Lake, written: &[String]) {
    for rel in written {
        let path = lake.root().join(rel);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            continue;
        };
        let Ok(rd) = fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            let n = e.file_name();
            let s = n.to_string_lossy();
            if s.starts_with("part-") && s.ends_with(".parquet") && n.as_os_str() < name {
                if let Err(err) = fs::remove_file(e.path()) {
                    tracing::warn!(path = %e.path().display(), error = %err, "could not remove a superseded graph part");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548";

    #[test]
    fn keys_under_v2() {
        let d = Digest::from_hex(HEX.as_bytes()).unwrap();
        assert_eq!(
            parse_rest(&format!("blobs/sha256/07/{HEX}/data")),
            Some(KeyInfo::Blob(d))
        );
        assert_eq!(parse_rest(&format!("blobs/sha256/08/{HEX}/data")), None);
        assert_eq!(
            parse_rest(&format!(
                "repositories/team/app/_manifests/revisions/sha256/{HEX}/link"
            )),
            Some(KeyInfo::Revision {
                repo: "team/app".into(),
                digest: d
            })
        );
        assert_eq!(
            parse_rest("repositories/a/_manifests/tags/v1.2/current/link"),
            Some(KeyInfo::Tag {
                repo: "a".into(),
                tag: "v1.2".into()
            })
        );
        assert_eq!(
            parse_rest(&format!(
                "repositories/a/_manifests/tags/v1/index/sha256/{HEX}/link"
            )),
            None
        );
        assert_eq!(
            parse_rest(&format!("repositories/a/_layers/sha256/{HEX}/link")),
            None
        );
        // A revision directory whose link was removed by a manifest delete.
        assert_eq!(
            parse_rest(&format!("repositories/a/_manifests/revisions/sha256/{HEX}")),
            None
        );
    }

    #[test]
    fn roots() {
        assert_eq!(
            Root::parse("s3://b").unwrap(),
            Root::S3 {
                bucket: "b".into(),
                prefix: "docker/registry/v2/".into()
            }
        );
        for spec in [
            "s3://b/reg/",
            "s3://b/reg",
            "s3://b/reg/docker/registry/v2/",
        ] {
            assert_eq!(
                Root::parse(spec).unwrap(),
                Root::S3 {
                    bucket: "b".into(),
                    prefix: "reg/docker/registry/v2/".into()
                },
                "{spec}"
            );
        }
        let t = tempfile::tempdir().unwrap();
        let err = Root::parse(t.path().to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("docker/registry/v2"), "{err}");
        fs::create_dir_all(t.path().join("docker/registry/v2")).unwrap();
        assert!(matches!(
            Root::parse(t.path().to_str().unwrap()).unwrap(),
            Root::Local(p) if p.ends_with("docker/registry/v2")
        ));
    }
}
