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
//! - S3 reads are bounded in concurrency and retried by the S3 layer ([`crate::s3::S3::get_many`]).
//!
//! Outputs (one snapshot per run; a later run of the same day supersedes it):
//! `blob_refs/snapshot=D/` (per blob), `manifest_refs/snapshot=D/` (every blob reachable from
//! each manifest, through indexes), `tags/snapshot=D/` (tag → manifest), and new rows of
//! `manifests/`. `D` is the inventory snapshot's date when the keys came from an inventory,
//! else the run's UTC date.
//!
//! Layout: `keys.rs` (listing, walking, classifying keys; tag links), `cache.rs` (the manifest
//! cache and the walk through indexes), `closure.rs` (who reaches each blob), `tables.rs`
//! (schemas, batches, reading Parquet back). [`build`] runs them in that order.
//!
//! Must not: write to the lake (ingest writes the batches [`build`] returns), or call S3
//! other than through `storage`.

mod cache;
mod closure;
mod keys;
mod tables;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use serde::Serialize;

use crate::lake::Lake;
use crate::model::Digest;
use crate::storage::{Location, Storage, StorageError};
pub use cache::{load_cache, Cached};
pub use keys::{inventory_keys, walk_keys, Key, KeySource};
pub use tables::read_batches;

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

    pub(super) fn location(&self, rest: &str) -> Location {
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
    let (keys, snapshot) = keys::collect(root, &keys, storage, today, &mut m)?;
    m.snapshot = snapshot.clone();
    let keys = keys::Sorted::new(keys);
    m.revisions = keys.revisions.len() as u64;
    // 2. Tag links: reuse the previous snapshot's target when the link did not change.
    let prev = cache::previous_tags(lake)?;
    let tags = keys::read_tags(root, keys.tag_keys, &prev, storage, &mut m)?;
    // 3. Manifests: every revision, tag target and index child, from the cache or the store.
    let mut roots: BTreeSet<Digest> = keys.revisions.iter().map(|(_, d)| *d).collect();
    roots.extend(tags.iter().map(|t| t.2));
    let manifests = cache::fetch(root, roots, lake, storage, &mut m)?;
    // 4. Closures: every blob reachable from each manifest (itself included), through indexes.
    let closures = closure::closures(&manifests.known, &manifests.cache);
    // 5. Per blob: manifests, repositories and tags that reach it.
    let media = closure::media_types(&manifests.known, &manifests.cache);
    let refs = closure::per_blob(
        &keys.blobs,
        &manifests.known,
        &closures,
        &keys.revisions,
        &tags,
        &mut m,
    );
    // 6. Tables.
    Ok(Built {
        snapshot,
        blob_refs: tables::blob_refs_batch(&refs, &media, &mut m),
        manifest_refs: tables::manifest_refs_batch(&manifests.known, &closures),
        tags: tables::tags_batch(&tags),
        new_manifests: (!manifests.fetched.is_empty())
            .then(|| tables::manifests_batch(&manifests.fetched)),
        metrics: m,
    })
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
