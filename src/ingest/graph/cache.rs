//! The manifest cache `LAKE/manifests/` (manifests are immutable by digest, so each is read
//! from the blob store once) and the walk that fills the graph's set of manifests: every
//! revision, tag target and, followed recursively, the children of indexes.
//!
//! Invariants: a manifest is fetched only if no part file of the cache holds it; a manifest
//! that cannot be read for a reason other than "not found" (after the S3 layer's retries)
//! stops the build ([`GraphError::Manifest`]), because a graph with holes could show a used
//! blob as unreferenced; a missing one is counted and logged. The same manifest in two part
//! files (two runs raced before the lock) keeps one copy of each descriptor.
//!
//! Must not: write the cache (ingest writes the new rows the build returns).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

use super::tables::{int64s, read_batches, string_columns, table_err};
use super::{GraphError, GraphMetrics, Result, Root, READ_CONCURRENCY};
use crate::ingest::manifest::{self, Kind, Reference, Role};
use crate::lake::Lake;
use crate::model::Digest;
use crate::storage::{Location, Storage, StorageError};

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
            let [digest, mt, kind, rd, rr, rmt, rplat] = string_columns(
                &b,
                [
                    "digest",
                    "media_type",
                    "kind",
                    "ref_digest",
                    "ref_role",
                    "ref_media_type",
                    "ref_platform",
                ],
                path,
            )?;
            let (size, rsize) = (int64s(&b, "size", path)?, int64s(&b, "ref_size", path)?);
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
pub(super) fn previous_tags(lake: &Lake) -> Result<HashMap<(String, String), (String, Digest)>> {
    let mut out = HashMap::new();
    let Some((_, path)) = lake.latest_part("tags", None) else {
        return Ok(out);
    };
    for b in read_batches(&path)? {
        let [repo, tag, m, fp] =
            string_columns(&b, ["repo", "tag", "manifest", "link_fingerprint"], &path)?;
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

/// The manifests of a graph: every one reachable from the roots, and what is known of each.
#[derive(Debug)]
pub(super) struct Manifests {
    /// Every manifest reached (roots, index children), found or not.
    pub known: BTreeSet<Digest>,
    /// The cache with this run's reads added.
    pub cache: HashMap<Digest, Cached>,
    /// The manifests read from the store this run (the cache's new rows).
    pub fetched: BTreeMap<Digest, Cached>,
}

/// Reads every manifest reachable from `roots` (revisions and tag targets) that the cache does
/// not hold, following index children, and counts them in `m`.
pub(super) fn fetch(
    root: &Root,
    roots: BTreeSet<Digest>,
    lake: &Lake,
    storage: &Storage,
    m: &mut GraphMetrics,
) -> Result<Manifests> {
    let mut cache = load_cache(lake)?;
    let mut fetched: BTreeMap<Digest, Cached> = BTreeMap::new();
    let mut missing: HashSet<Digest> = HashSet::new();
    let mut known = roots;
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
    Ok(Manifests {
        known,
        cache,
        fetched,
    })
}
