//! The registry's keys, for the graph: where they come from (a directory walk, an S3
//! Inventory, a listing), what each key under `docker/registry/v2/` is (a blob, a manifest
//! revision, a current tag), and the tag links' targets.
//!
//! Invariants: a revision counts only by its `link` key (a revision directory whose link is
//! gone is a deleted manifest); a tag link is read only when its fingerprint (ETag, or mtime
//! and size) changed since the previous graph snapshot; a link that vanished between listing
//! and read, or that does not hold a digest, drops the tag and is counted.
//!
//! Must not: read manifests (`cache.rs` does) or write anything.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::tables::{bools, int64s, read_batches, string_columns};
use super::{GraphMetrics, Result, Root, READ_CONCURRENCY};
use crate::model::Digest;
use crate::storage::{Location, Storage, StorageError};

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
    let uploads = |_top: bool, p: &Path| p.file_name().is_some_and(|n| n == "_uploads");
    let files = crate::io::walk_files(v2, false, &uploads).map_err(StorageError::from)?;
    Ok(files
        .into_iter()
        .map(|f| Key {
            rest: f.rel,
            size: Some(f.meta.len() as i64),
            fingerprint: format!(
                "mtime:{}:{}",
                crate::storage::mtime_ns(&f.meta),
                f.meta.len()
            ),
        })
        .collect())
}

/// The registry's keys from inventory Parquet files (latest, non-deleted versions of `bucket`
/// under `prefix`).
pub fn inventory_keys(files: &[PathBuf], bucket: &str, prefix: &str) -> Result<Vec<Key>> {
    let mut out = Vec::new();
    for path in files {
        for b in read_batches(path)? {
            let [bk, key, etag] = string_columns(&b, ["bucket", "key", "etag"], path)?;
            let size = int64s(&b, "size", path)?;
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

/// The keys of `root` from `source`, and the snapshot date they stand for (the inventory's
/// date, else `today`). Records where they came from in `m.keys_from`.
pub(super) fn collect(
    root: &Root,
    source: &KeySource,
    storage: &Storage,
    today: NaiveDate,
    m: &mut GraphMetrics,
) -> Result<(Vec<Key>, String)> {
    match (source, root) {
        (KeySource::Inventory(date, files), Root::S3 { bucket, prefix }) => {
            m.keys_from = "inventory".into();
            Ok((inventory_keys(files, bucket, prefix)?, date.clone()))
        }
        (KeySource::Walk | KeySource::Listing, Root::S3 { bucket, prefix }) => {
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
            Ok((keys, today.to_string()))
        }
        (_, Root::Local(v2)) => {
            m.keys_from = "walk".into();
            Ok((walk_keys(v2)?, today.to_string()))
        }
    }
}

/// A current tag: (repository, tag, manifest, link fingerprint).
pub(super) type Tag = (String, String, Digest, String);

/// The keys that matter to the graph, by kind.
#[derive(Debug, Default)]
pub(super) struct Sorted {
    /// Blobs in the store, with their size.
    pub blobs: HashMap<Digest, Option<i64>>,
    /// Manifest revisions: (repository, manifest).
    pub revisions: BTreeSet<(String, Digest)>,
    /// Tag links, by (repository, tag).
    pub tag_keys: Vec<(String, String, Key)>,
}

impl Sorted {
    /// Sorts `keys` by kind; other keys (layer links, uploads, …) are dropped.
    pub fn new(keys: Vec<Key>) -> Sorted {
        let mut s = Sorted::default();
        for k in keys {
            match parse_rest(&k.rest) {
                Some(KeyInfo::Blob(d)) => {
                    s.blobs.insert(d, k.size);
                }
                Some(KeyInfo::Revision { repo, digest }) => {
                    s.revisions.insert((repo, digest));
                }
                Some(KeyInfo::Tag { repo, tag }) => s.tag_keys.push((repo, tag, k)),
                None => {}
            }
        }
        s.tag_keys.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        s
    }
}

/// The current tags: each link's target from the previous snapshot (`prev`: (repo, tag) →
/// (fingerprint, manifest)) when its fingerprint is unchanged, else read from the store.
/// Sorted.
pub(super) fn read_tags(
    root: &Root,
    tag_keys: Vec<(String, String, Key)>,
    prev: &HashMap<(String, String), (String, Digest)>,
    storage: &Storage,
    m: &mut GraphMetrics,
) -> Result<Vec<Tag>> {
    let mut tags: Vec<Tag> = Vec::new();
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
    Ok(tags)
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
    fn keys_sorted_by_kind() {
        let key = |rest: &str| Key {
            rest: rest.into(),
            size: Some(7),
            fingerprint: "etag:x".into(),
        };
        let s = Sorted::new(vec![
            key("repositories/b/_manifests/tags/v1/current/link"),
            key(&format!("blobs/sha256/07/{HEX}/data")),
            key("repositories/a/_manifests/tags/v2/current/link"),
            key(&format!(
                "repositories/a/_manifests/revisions/sha256/{HEX}/link"
            )),
            key("_uploads/x/data"),
        ]);
        assert_eq!(s.blobs.len(), 1);
        assert_eq!(s.revisions.len(), 1);
        let tags: Vec<(&str, &str)> = s
            .tag_keys
            .iter()
            .map(|(r, t, _)| (r.as_str(), t.as_str()))
            .collect();
        assert_eq!(tags, [("a", "v2"), ("b", "v1")]);
    }
}
