//! A lake on S3 (`run.lake = "s3://bucket/prefix"`): the same layout as a local lake, under a
//! prefix, so Athena, Spark and DuckDB read it as they read a directory.
//!
//! `run` does not change how stages write. It works on a local *mirror* of the lake (a cache
//! directory) and moves whole files between the mirror and S3:
//!
//! 1. take the lock object `_run_lock` (a lease, see [`lock`]); a held lock → exit 2;
//! 2. [`S3Lake::recover`]: read the *state* `_lake_state.json` — the list of committed objects
//!    with size, content hash (xxh3-128) and ETag — and delete what a killed run uploaded but
//!    never committed (objects not in the state that carry blobtier's metadata; other objects
//!    are left alone);
//! 3. [`S3Lake::sync_down`]: make the mirror equal the state (download missing or different
//!    files, each verified against its hash; remove files the state does not list);
//! 4. run the pipeline on the mirror, exactly as on a local lake;
//! 5. [`S3Lake::publish`]: upload each new or changed file — data first, then the ledger
//!    entries and the run record, which name data files — then commit by writing the new
//!    state, and only then delete the objects the new state no longer lists.
//!
//! The state object is the commit point: one PutObject, conditional on the ETag of the state
//! this run started from (`If-Match`, or `If-None-Match: *` for the first), so a run that lost
//! its lock can never commit over another run's work. Data uploads are conditional too:
//! `If-None-Match: *` for a new key, `If-Match: <ETag>` to replace one.
//!
//! What readers see: blobtier (the next run) sees exactly the committed state. Engines that
//! list prefixes (Athena, DuckDB, Spark) see every object whole (each is one PutObject); a
//! replaced partition has one file with a fixed name (`digest_stats/as_of=D/part-0.parquet`,
//! `plan/as_of=D/plan.parquet`, …), overwritten in place, so it is old or new, never half of
//! each and never doubled. Ingest parts are new files with unique names; during a publish,
//! and after a run killed mid-publish until the next run removes them, they can be listed
//! before the state (and ledger entry) that commits them. `docs/nightly.md` shows how to read
//! only committed files through the state.
//!
//! This module must not interpret the lake's tables: it moves files and keeps the state.

pub mod lock;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::io::{IoContext, IoError};
use crate::storage::{sdk_message, S3};

/// The commit point of an `s3://` lake, relative to its prefix.
pub const STATE_KEY: &str = "_lake_state.json";
/// The lock object, relative to the prefix.
pub const LOCK_KEY: &str = "_run_lock";
/// Marks a directory as the mirror of one lake (its content is the lake's URL).
pub const MIRROR_MARKER: &str = ".blobtier-mirror";
/// User metadata on every object blobtier uploads: the content hash.
const META_HASH: &str = "blobtier-xxh3";
/// User metadata on every object blobtier uploads: the run that uploaded it.
const META_RUN: &str = "blobtier-run";
/// Transfers in flight.
const TRANSFERS: usize = 8;

/// Errors of an `s3://` lake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another run holds the lock.
    #[error("lake `{lake}` is locked by another run ({holder}) until {until}; a lock whose lease has run out is taken over")]
    Locked {
        /// The lake.
        lake: String,
        /// Who holds it.
        holder: String,
        /// End of its lease.
        until: String,
    },
    /// This run lost its lock and must not commit.
    #[error("lost the lock of lake `{lake}`: {reason}; nothing was committed")]
    LockLost {
        /// The lake.
        lake: String,
        /// Why.
        reason: String,
    },
    /// An object changed under the lock.
    #[error(
        "`{key}` was changed by another writer during this run ({reason}); nothing was committed"
    )]
    Conflict {
        /// The object.
        key: String,
        /// What was expected.
        reason: String,
    },
    /// An S3 call failed.
    #[error("S3 {op} failed on `s3://{bucket}/{key}`: {message}")]
    S3 {
        /// Operation.
        op: &'static str,
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The SDK's error with its chain.
        message: String,
    },
    /// The state object does not parse.
    #[error("corrupt lake state `{key}`: {reason}")]
    CorruptState {
        /// The object.
        key: String,
        /// Why.
        reason: String,
    },
    /// The lock object does not parse.
    #[error("corrupt lock object `{key}`: {reason}; remove it if no run is active")]
    CorruptLock {
        /// The object.
        key: String,
        /// Why.
        reason: String,
    },
    /// A committed object is missing or does not match the state.
    #[error("`{key}` does not match the lake state: {reason}")]
    Mismatch {
        /// The object.
        key: String,
        /// How.
        reason: String,
    },
    /// The mirror directory belongs to something else.
    #[error("`{}` cannot be the local mirror of `{lake}`: {reason}", dir.display())]
    Mirror {
        /// The directory.
        dir: PathBuf,
        /// The lake.
        lake: String,
        /// Why, and what to do.
        reason: String,
    },
    /// Local IO.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// What a failed call means here.
pub(crate) enum Fail {
    /// 412, or 409 `ConditionalRequestConflict`: a condition did not hold.
    Precondition,
    /// 404.
    NotFound,
    /// Anything else.
    Other,
}

pub(crate) fn fail_of<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Fail {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(se) => match se.raw().status().as_u16() {
            412 | 409 => Fail::Precondition,
            404 => Fail::NotFound,
            _ => Fail::Other,
        },
        _ => Fail::Other,
    }
}

/// One committed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Bytes.
    pub size: u64,
    /// xxh3-128 of the content, 32 hex digits.
    pub xxh3: String,
    /// The object's ETag when committed.
    pub etag: String,
}

/// The committed content of the lake (stored as `_lake_state.json`, see [`StateFile`]).
#[derive(Debug, Clone, Default)]
pub struct LakeState {
    /// Format version (1).
    pub v: u32,
    /// The run that committed it.
    pub run_id: String,
    /// When (RFC 3339).
    pub committed_at: String,
    /// Relative path → object.
    pub objects: BTreeMap<String, Entry>,
}

/// `_lake_state.json`: objects as a list sorted by path, so that a query engine reads them as
/// rows (`SELECT unnest(objects) FROM read_json('…/_lake_state.json')` in DuckDB).
#[derive(Debug, Serialize, Deserialize)]
pub struct StateFile {
    /// Format version (1).
    pub v: u32,
    /// The run that committed it.
    pub run_id: String,
    /// When (RFC 3339).
    pub committed_at: String,
    /// Every committed object.
    pub objects: Vec<StateObject>,
}

/// One object of [`StateFile`].
#[derive(Debug, Serialize, Deserialize)]
pub struct StateObject {
    /// Path relative to the lake's prefix.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// xxh3-128 of the content, 32 hex digits.
    pub xxh3: String,
    /// The object's ETag when committed.
    pub etag: String,
}

impl From<&LakeState> for StateFile {
    fn from(s: &LakeState) -> StateFile {
        StateFile {
            v: s.v,
            run_id: s.run_id.clone(),
            committed_at: s.committed_at.clone(),
            objects: s
                .objects
                .iter()
                .map(|(path, e)| StateObject {
                    path: path.clone(),
                    size: e.size,
                    xxh3: e.xxh3.clone(),
                    etag: e.etag.clone(),
                })
                .collect(),
        }
    }
}

impl From<StateFile> for LakeState {
    fn from(f: StateFile) -> LakeState {
        LakeState {
            v: f.v,
            run_id: f.run_id,
            committed_at: f.committed_at,
            objects: f
                .objects
                .into_iter()
                .map(|o| {
                    (
                        o.path,
                        Entry {
                            size: o.size,
                            xxh3: o.xxh3,
                            etag: o.etag,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// The state a run starts from, after [`S3Lake::recover`].
#[derive(Debug, Clone)]
pub struct Committed {
    /// The committed objects, with the content found in place of any a killed run replaced.
    pub state: LakeState,
    /// ETag of the state object; `None` for a lake never committed.
    pub etag: Option<String>,
    /// Objects a killed run overwrote after the state was committed: their content is
    /// adopted when downloaded.
    drifted: BTreeSet<String>,
}

/// What [`S3Lake::sync_down`] and [`S3Lake::publish`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Transfer {
    /// Objects read or written.
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Files or objects removed.
    pub removed: usize,
}

/// An `s3://` lake.
pub struct S3Lake<'a> {
    s3: &'a S3,
    bucket: String,
    prefix: String,
    /// Content hashes of mirror files already hashed, by (size, mtime, inode).
    hashes: std::sync::Mutex<BTreeMap<String, (FileId, String)>>,
}

impl std::fmt::Debug for S3Lake<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Lake({})", self.url())
    }
}

type FileId = (u64, i64, i64, u64);

fn file_id(m: &fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (m.len(), m.mtime(), m.mtime_nsec(), m.ino())
}

/// xxh3-128 of a file, 32 hex digits.
pub fn hash_file(path: &Path) -> Result<String, IoError> {
    let mut f = fs::File::open(path).at("failed to open", path)?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).at("failed to read", path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:032x}", h.digest128()))
}

fn hash_bytes(b: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(b))
}

/// Files of a mirror, relative path → path: everything but staging (`_tmp/`), lock files and
/// hidden (`.`) entries.
pub fn mirror_files(root: &Path) -> Result<BTreeMap<String, PathBuf>, IoError> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) -> Result<(), IoError> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(IoError {
                    op: "failed to list",
                    path: dir.to_owned(),
                    source: e,
                })
            }
        };
        for e in rd {
            let e = e.at("failed to list", dir)?;
            let name = e.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(path = %e.path().display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            let top = dir == root;
            if name.starts_with('.')
                || (top && matches!(name, "_tmp" | "_lock" | LOCK_KEY | STATE_KEY))
            {
                continue;
            }
            let path = e.path();
            let meta = fs::metadata(&path).at("failed to stat", &path)?;
            if meta.is_dir() {
                walk(root, &path, out)?;
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("walked below the root")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, path);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

/// `Content-Type` by extension, so reports open in a browser straight from S3.
fn content_type(rel: &str) -> &'static str {
    match rel.rsplit('.').next().unwrap_or_default() {
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "svg" => "image/svg+xml",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

/// Whether a key belongs with the commit points (uploaded after the data they name).
fn is_commit_record(rel: &str) -> bool {
    rel.starts_with("_ledger/") || rel.starts_with("_runs/")
}

impl<'a> S3Lake<'a> {
    /// The lake at `s3://bucket/prefix` (`prefix` empty or ending with `/`).
    pub fn new(s3: &'a S3, bucket: &str, prefix: &str) -> S3Lake<'a> {
        S3Lake {
            s3,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            hashes: Default::default(),
        }
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }

    /// The key of a lake path.
    pub fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }

    fn s3_err(&self, op: &'static str, rel: &str, message: String) -> Error {
        Error::S3 {
            op,
            bucket: self.bucket.clone(),
            key: self.key(rel),
            message,
        }
    }

    /// HeadObject of the lake object `rel` (the SDK's own result type).
    #[allow(clippy::result_large_err)]
    fn head(
        &self,
        rel: &str,
    ) -> Result<
        aws_sdk_s3::operation::head_object::HeadObjectOutput,
        aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::head_object::HeadObjectError>,
    > {
        self.s3.block_on(
            self.s3
                .client()
                .head_object()
                .bucket(&self.bucket)
                .key(self.key(rel))
                .send(),
        )
    }

    fn shown(&self, rel: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(rel))
    }

    /// Hash of a mirror file, from the memo if the file has not changed since.
    fn hash_of(&self, rel: &str, path: &Path) -> Result<(u64, String), IoError> {
        let meta = fs::metadata(path).at("failed to stat", path)?;
        let id = file_id(&meta);
        if let Some((known, h)) = self.hashes.lock().expect("hash memo").get(rel) {
            if *known == id {
                return Ok((meta.len(), h.clone()));
            }
        }
        let h = hash_file(path)?;
        self.hashes
            .lock()
            .expect("hash memo")
            .insert(rel.to_owned(), (id, h.clone()));
        Ok((meta.len(), h))
    }

    /// Every object under the prefix: relative path → (ETag, size).
    fn list(&self) -> Result<BTreeMap<String, (String, u64)>, Error> {
        let client = self.s3.client();
        self.s3.block_on(async {
            let mut out = BTreeMap::new();
            let mut pages = client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.s3_err("ListObjectsV2", "", sdk_message(&e)))?;
                for o in page.contents() {
                    let Some(rel) = o.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                        continue;
                    };
                    if rel.is_empty() || rel.ends_with('/') {
                        continue;
                    }
                    out.insert(
                        rel.to_owned(),
                        (
                            o.e_tag().unwrap_or_default().to_owned(),
                            o.size().unwrap_or(0).max(0) as u64,
                        ),
                    );
                }
            }
            Ok(out)
        })
    }

    /// The state object and its ETag, if the lake was ever committed.
    fn read_state(&self) -> Result<Option<(LakeState, String)>, Error> {
        let req = self
            .s3
            .client()
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(STATE_KEY));
        let got = self.s3.block_on(async {
            match req.send().await {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().to_owned();
                    let b = out.body.collect().await.map_err(|e| sdk_message(&e))?;
                    Ok(Some((b.into_bytes().to_vec(), etag)))
                }
                Err(e) => match fail_of(&e) {
                    Fail::NotFound => Ok(None),
                    _ => Err(sdk_message(&e)),
                },
            }
        });
        let Some((bytes, etag)) = got.map_err(|m| self.s3_err("GetObject", STATE_KEY, m))? else {
            return Ok(None);
        };
        let corrupt = |reason: String| Error::CorruptState {
            key: self.shown(STATE_KEY),
            reason,
        };
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let state = LakeState::from(file);
        if state.v != 1 {
            return Err(corrupt(format!(
                "format version {} is not supported (expected 1)",
                state.v
            )));
        }
        Ok(Some((state, etag)))
    }

    /// Reads the committed state and removes what a killed run left: objects it uploaded but
    /// never committed, including objects a committed run meant to delete. Call with the lock
    /// held.
    pub fn recover(&self) -> Result<Committed, Error> {
        let (mut state, etag) = match self.read_state()? {
            Some((s, e)) => (s, Some(e)),
            None => (
                LakeState {
                    v: 1,
                    ..Default::default()
                },
                None,
            ),
        };
        let listed = self.list()?;
        let mut drifted = BTreeSet::new();
        for (rel, entry) in state.objects.iter_mut() {
            match listed.get(rel) {
                None => {
                    return Err(Error::Mismatch {
                        key: self.shown(rel),
                        reason: format!(
                            "committed by run {} but missing; restore it (from a bucket \
                             version or a backup) or remove the lake state to start over",
                            state.run_id
                        ),
                    })
                }
                Some((e, size)) if *e != entry.etag => {
                    // Overwritten in place by a run killed before its commit.
                    tracing::warn!(key = %self.shown(rel), "an interrupted run replaced this object; taking its content");
                    entry.etag = e.clone();
                    entry.size = *size;
                    drifted.insert(rel.clone());
                }
                Some(_) => {}
            }
        }
        let strays: Vec<&String> = listed
            .keys()
            .filter(|rel| {
                !state.objects.contains_key(*rel) && *rel != STATE_KEY && *rel != LOCK_KEY
            })
            .collect();
        let mut ours: Vec<(&String, String)> = Vec::new();
        for rel in strays {
            // Only what blobtier uploaded: the prefix may hold other objects.
            let head = self.head(rel);
            match head {
                Ok(h) => match h.metadata().and_then(|m| m.get(META_RUN)) {
                    Some(run) => ours.push((rel, run.clone())),
                    None => {
                        tracing::warn!(key = %self.shown(rel), "not part of the lake (not uploaded by blobtier); leaving it")
                    }
                },
                Err(e) => match fail_of(&e) {
                    Fail::NotFound => {}
                    _ => return Err(self.s3_err("HeadObject", rel, sdk_message(&e))),
                },
            }
        }
        let runs: BTreeSet<&str> = ours.iter().map(|(_, r)| r.as_str()).collect();
        if etag.is_none() && runs.len() > 1 {
            // One killed first run leaves objects of one run; more means the state was lost.
            return Err(Error::CorruptState {
                key: self.shown(STATE_KEY),
                reason: format!(
                    "missing, while the prefix holds objects uploaded by {} runs; restore it \
                     (from a bucket version or a backup) rather than let a run delete them",
                    runs.len()
                ),
            });
        }
        let mut removed = 0;
        for (rel, _) in ours {
            self.delete(rel)?;
            removed += 1;
        }
        if removed > 0 {
            tracing::warn!(
                objects = removed,
                lake = %self.url(),
                "removed objects of an interrupted run"
            );
        }
        Ok(Committed {
            state,
            etag,
            drifted,
        })
    }

    fn delete(&self, rel: &str) -> Result<(), Error> {
        self.s3
            .block_on(
                self.s3
                    .client()
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(self.key(rel))
                    .send(),
            )
            .map_err(|e| self.s3_err("DeleteObject", rel, sdk_message(&e)))?;
        tracing::debug!(key = %self.shown(rel), "deleted");
        Ok(())
    }

    /// Makes `dir` (the mirror) hold exactly the committed state: downloads what is missing or
    /// different (each object verified against its hash, written as temp → fsync → rename) and
    /// removes files the state does not list.
    ///
    /// A directory that is not yet a mirror is accepted if it is empty, or — for a lake never
    /// committed — as a local lake to upload as the first content; its files are then kept.
    pub fn sync_down(&self, committed: &mut Committed, dir: &Path) -> Result<Transfer, Error> {
        let local = mirror_files(dir)?;
        let marker = dir.join(MIRROR_MARKER);
        let marked = fs::read_to_string(&marker)
            .ok()
            .map(|s| s.trim().to_owned());
        let mirror_err = |reason: String| Error::Mirror {
            dir: dir.to_owned(),
            lake: self.url(),
            reason,
        };
        match (marked.as_deref(), committed.etag.is_some()) {
            (Some(u), _) if u != self.url() => {
                return Err(mirror_err(format!(
                    "it mirrors `{u}`; give each lake its own `run.lake_cache`"
                )))
            }
            (None, true) if !local.is_empty() => {
                return Err(mirror_err(format!(
                    "it holds files ({} …) and is not a mirror of this lake; use an empty \
                     directory",
                    local.keys().next().map(String::as_str).unwrap_or_default()
                )))
            }
            (_, false) => {
                // Never committed (or a first run killed before its commit): what is here
                // becomes the lake's first content.
                if !local.is_empty() {
                    tracing::warn!(files = local.len(), dir = %dir.display(), lake = %self.url(), "the lake has no content yet: this directory's lake becomes its first content");
                }
                return Ok(Transfer::default());
            }
            (Some(_), true) => {}
            (None, true) => {
                // Empty: it becomes this lake's mirror before anything lands in it, so that a
                // download cut short leaves a mirror the next run completes.
                crate::io::atomic_write(&marker, self.url().as_bytes())?;
            }
        }
        let mut t = Transfer::default();
        for (rel, path) in &local {
            if !committed.state.objects.contains_key(rel) {
                fs::remove_file(path).at("failed to remove", path)?;
                crate::lake::remove_empty_parents(dir, path);
                tracing::debug!(file = rel, "removed from the mirror: not committed");
                t.removed += 1;
            }
        }
        let mut want: Vec<(String, Entry)> = Vec::new();
        for (rel, entry) in &committed.state.objects {
            let same = match local.get(rel) {
                Some(p) if !committed.drifted.contains(rel) => {
                    let (size, h) = self.hash_of(rel, p)?;
                    size == entry.size && h == entry.xxh3
                }
                _ => false,
            };
            if !same {
                want.push((rel.clone(), entry.clone()));
            }
        }
        let mut first = true;
        for chunk in want.chunks(TRANSFERS) {
            let results = self.s3.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for (i, (rel, entry)) in chunk.iter().enumerate() {
                    let req = self
                        .s3
                        .client()
                        .get_object()
                        .bucket(&self.bucket)
                        .key(self.key(rel))
                        .if_match(&entry.etag);
                    let path = dir.join(rel);
                    set.spawn(async move { (i, download(req, path).await) });
                }
                let mut out: Vec<Option<Result<String, DownloadError>>> =
                    (0..chunk.len()).map(|_| None).collect();
                while let Some(r) = set.join_next().await {
                    let (i, r) = r.expect("a download task panicked");
                    out[i] = Some(r);
                }
                out
            });
            for ((rel, entry), r) in chunk.iter().zip(results) {
                let h = match r.expect("every download reported") {
                    Ok(h) => h,
                    Err(DownloadError::Io(e)) => return Err(e.into()),
                    Err(DownloadError::Precondition) => {
                        return Err(Error::Conflict {
                            key: self.shown(rel),
                            reason: format!("expected ETag {}", entry.etag),
                        })
                    }
                    Err(DownloadError::S3(m)) => return Err(self.s3_err("GetObject", rel, m)),
                };
                let path = dir.join(rel);
                if committed.drifted.contains(rel) {
                    if let Some(e) = committed.state.objects.get_mut(rel) {
                        e.xxh3 = h.clone();
                    }
                } else if h != entry.xxh3 {
                    return Err(Error::Mismatch {
                        key: self.shown(rel),
                        reason: format!("its content hashes to {h}, the state says {}", entry.xxh3),
                    });
                }
                let meta = fs::metadata(&path).at("failed to stat", &path)?;
                self.hashes
                    .lock()
                    .expect("hash memo")
                    .insert(rel.clone(), (file_id(&meta), h));
                t.objects += 1;
                t.bytes += meta.len();
                tracing::debug!(key = %self.shown(rel), "downloaded");
                if first {
                    first = false;
                    crate::crashpoint::pause("sync:downloading");
                }
            }
        }
        tracing::info!(
            downloaded = t.objects,
            bytes = t.bytes,
            removed = t.removed,
            lake = %self.url(),
            "synced the local mirror"
        );
        Ok(t)
    }

    /// Uploads what changed in the mirror `dir` since `committed`, commits the new state, then
    /// deletes the objects it no longer lists. `check` runs just before the commit (the lock
    /// must still be ours).
    pub fn publish(
        &self,
        committed: &Committed,
        dir: &Path,
        run_id: &str,
        check: &dyn Fn() -> Result<(), Error>,
    ) -> Result<Transfer, Error> {
        let local = mirror_files(dir)?;
        let mut next = LakeState {
            v: 1,
            run_id: run_id.to_owned(),
            committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            objects: BTreeMap::new(),
        };
        let mut data = Vec::new();
        let mut records = Vec::new();
        for (rel, path) in &local {
            let (size, h) = self.hash_of(rel, path)?;
            match committed.state.objects.get(rel) {
                Some(e) if e.xxh3 == h && e.size == size => {
                    next.objects.insert(rel.clone(), e.clone());
                }
                old => {
                    let up = Upload {
                        rel: rel.clone(),
                        path: path.clone(),
                        size,
                        xxh3: h,
                        replaces: old.map(|e| e.etag.clone()),
                    };
                    if is_commit_record(rel) {
                        records.push(up);
                    } else {
                        data.push(up);
                    }
                }
            }
        }
        let removals: Vec<String> = committed
            .state
            .objects
            .keys()
            .filter(|rel| !local.contains_key(*rel))
            .cloned()
            .collect();
        // From now on the directory's files are this lake's (see `sync_down`).
        crate::io::atomic_write(&dir.join(MIRROR_MARKER), self.url().as_bytes())?;
        let mut t = Transfer::default();
        self.upload_all(&data, run_id, &mut next, &mut t)?;
        crate::crashpoint::pause("publish:data");
        self.upload_all(&records, run_id, &mut next, &mut t)?;
        check()?;
        self.commit(committed, &next)?;
        crate::crashpoint::pause("publish:committed");
        for rel in &removals {
            // Committed without them: a failure here only leaves objects the next run removes.
            if let Err(e) = self.delete(rel) {
                tracing::warn!(error = %e, "could not delete a replaced object; the next run removes it");
            } else {
                t.removed += 1;
            }
        }
        tracing::info!(
            uploaded = t.objects,
            bytes = t.bytes,
            deleted = t.removed,
            lake = %self.url(),
            "published the lake"
        );
        Ok(t)
    }

    fn upload_all(
        &self,
        ups: &[Upload],
        run_id: &str,
        next: &mut LakeState,
        t: &mut Transfer,
    ) -> Result<(), Error> {
        for chunk in ups.chunks(TRANSFERS) {
            let results = self.s3.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for (i, up) in chunk.iter().enumerate() {
                    let body = ByteStream::from_path(&up.path).await;
                    let body = match body {
                        Ok(b) => b,
                        Err(e) => {
                            let path = up.path.clone();
                            set.spawn(async move {
                                (
                                    i,
                                    Err(UploadError::Io(IoError {
                                        op: "failed to read",
                                        path,
                                        source: std::io::Error::other(e.to_string()),
                                    })),
                                )
                            });
                            continue;
                        }
                    };
                    let mut req = self
                        .s3
                        .client()
                        .put_object()
                        .bucket(&self.bucket)
                        .key(self.key(&up.rel))
                        .content_type(content_type(&up.rel))
                        .metadata(META_HASH, &up.xxh3)
                        .metadata(META_RUN, run_id)
                        .body(body);
                    req = match &up.replaces {
                        Some(etag) => req.if_match(etag),
                        None => req.if_none_match("*"),
                    };
                    set.spawn(async move {
                        let r = match req.send().await {
                            Ok(out) => Ok(out.e_tag().unwrap_or_default().to_owned()),
                            Err(e) => Err(match fail_of(&e) {
                                Fail::Precondition | Fail::NotFound => UploadError::Precondition,
                                Fail::Other => UploadError::S3(sdk_message(&e)),
                            }),
                        };
                        (i, r)
                    });
                }
                let mut out: Vec<Option<Result<String, UploadError>>> =
                    (0..chunk.len()).map(|_| None).collect();
                while let Some(r) = set.join_next().await {
                    let (i, r) = r.expect("an upload task panicked");
                    out[i] = Some(r);
                }
                out
            });
            for (up, r) in chunk.iter().zip(results) {
                let etag = match r.expect("every upload reported") {
                    Ok(etag) => etag,
                    Err(UploadError::Io(e)) => return Err(e.into()),
                    Err(UploadError::S3(m)) => return Err(self.s3_err("PutObject", &up.rel, m)),
                    Err(UploadError::Precondition) => {
                        self.landed(&up.rel, &up.xxh3)?
                            .ok_or_else(|| Error::Conflict {
                                key: self.shown(&up.rel),
                                reason: match &up.replaces {
                                    Some(e) => format!("expected ETag {e}"),
                                    None => "expected no object".into(),
                                },
                            })?
                    }
                };
                tracing::debug!(key = %self.shown(&up.rel), bytes = up.size, "uploaded");
                t.objects += 1;
                t.bytes += up.size;
                next.objects.insert(
                    up.rel.clone(),
                    Entry {
                        size: up.size,
                        xxh3: up.xxh3.clone(),
                        etag,
                    },
                );
            }
        }
        Ok(())
    }

    /// After a failed condition on our own upload: whether the object holds what we uploaded
    /// (a first attempt that landed, answered with 412 on the SDK's retry). Its ETag if so.
    fn landed(&self, rel: &str, xxh3: &str) -> Result<Option<String>, Error> {
        let head = self.head(rel);
        match head {
            Ok(h) => Ok(h
                .metadata()
                .and_then(|m| m.get(META_HASH))
                .filter(|v| v.as_str() == xxh3)
                .map(|_| h.e_tag().unwrap_or_default().to_owned())),
            Err(e) => match fail_of(&e) {
                Fail::NotFound => Ok(None),
                _ => Err(self.s3_err("HeadObject", rel, sdk_message(&e))),
            },
        }
    }

    /// Writes the new state, conditional on the one this run started from.
    fn commit(&self, committed: &Committed, next: &LakeState) -> Result<(), Error> {
        let bytes =
            serde_json::to_vec_pretty(&StateFile::from(next)).expect("lake state serialises");
        let h = hash_bytes(&bytes);
        let mut req = self
            .s3
            .client()
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(STATE_KEY))
            .content_type("application/json")
            .metadata(META_HASH, &h)
            .metadata(META_RUN, &next.run_id)
            .body(ByteStream::from(bytes));
        req = match &committed.etag {
            Some(etag) => req.if_match(etag),
            None => req.if_none_match("*"),
        };
        match self.s3.block_on(req.send()) {
            Ok(_) => {}
            Err(e) => match fail_of(&e) {
                Fail::Precondition | Fail::NotFound => {
                    if self.landed(STATE_KEY, &h)?.is_none() {
                        return Err(Error::Conflict {
                            key: self.shown(STATE_KEY),
                            reason: "another run committed since this one started".into(),
                        });
                    }
                }
                Fail::Other => return Err(self.s3_err("PutObject", STATE_KEY, sdk_message(&e))),
            },
        }
        tracing::info!(objects = next.objects.len(), run_id = %next.run_id, lake = %self.url(), "committed the lake state");
        Ok(())
    }
}

struct Upload {
    rel: String,
    path: PathBuf,
    size: u64,
    xxh3: String,
    replaces: Option<String>,
}

enum UploadError {
    Io(IoError),
    Precondition,
    S3(String),
}

enum DownloadError {
    Io(IoError),
    Precondition,
    S3(String),
}

fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> DownloadError + 'p {
    move |source| {
        DownloadError::Io(IoError {
            op,
            path: path.to_owned(),
            source,
        })
    }
}

/// Streams an object into `path` (temp → fsync → rename) and returns its content hash.
async fn download(
    req: aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder,
    path: PathBuf,
) -> Result<String, DownloadError> {
    let out = req.send().await.map_err(|e| match fail_of(&e) {
        Fail::Precondition => DownloadError::Precondition,
        _ => DownloadError::S3(sdk_message(&e)),
    })?;
    crate::io::ensure_parent(&path).map_err(DownloadError::Io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(io("failed to create", &tmp))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut body = out.body;
    loop {
        match body.next().await {
            None => break,
            Some(Ok(chunk)) => {
                h.update(&chunk);
                f.write_all(&chunk).map_err(io("failed to write", &tmp))?;
            }
            Some(Err(e)) => {
                let _ = fs::remove_file(&tmp);
                return Err(DownloadError::S3(sdk_message(&e)));
            }
        }
    }
    f.sync_all().map_err(io("failed to sync", &tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io("failed to rename into place", &path))?;
    Ok(format!("{:032x}", h.digest128()))
}

/// The default mirror of a lake: `$XDG_CACHE_HOME/blobtier/lake/<xxh3-64 of the URL>`, or
/// under `$HOME/.cache`.
pub fn default_mirror(url: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("blobtier").join("lake").join(format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(url.as_bytes())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_lists_lake_files_only() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for p in [
            "pulls/date=2026-11-26/part-a.parquet",
            "_ledger/a.json",
            "_runs/a.json",
            "reports/as_of=2026-11-26/report.html",
            "_tmp/x/pulls/date=2026-11-26/part-b.parquet",
            "_lock",
            "_run_lock",
            ".blobtier-mirror",
            "_runs/.a.json.tmp-12",
            "reports/.as_of=2026-11-26.old-3/report.html",
        ] {
            crate::io::ensure_parent(&r.join(p)).unwrap();
            fs::write(r.join(p), p).unwrap();
        }
        let files: Vec<String> = mirror_files(r).unwrap().into_keys().collect();
        assert_eq!(
            files,
            [
                "_ledger/a.json",
                "_runs/a.json",
                "pulls/date=2026-11-26/part-a.parquet",
                "reports/as_of=2026-11-26/report.html"
            ]
        );
    }

    #[test]
    fn file_and_memory_hashes_agree() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&p, &bytes).unwrap();
        assert_eq!(hash_file(&p).unwrap(), hash_bytes(&bytes));
        assert_eq!(hash_bytes(b"").len(), 32);
    }

    #[test]
    fn ledger_and_run_records_go_last() {
        assert!(is_commit_record("_ledger/20261126T000000Z-1.json"));
        assert!(is_commit_record("_runs/x.json"));
        assert!(!is_commit_record("pulls/date=2026-11-26/part-x.parquet"));
        assert!(!is_commit_record("_rejects/date=2026-11-26/part-x.parquet"));
    }

    #[test]
    fn default_mirror_is_per_lake_under_the_cache_home() {
        let a = default_mirror("s3://b/lake").unwrap();
        let b = default_mirror("s3://b/other").unwrap();
        assert_ne!(a, b);
        assert!(
            a.to_string_lossy().contains("blobtier/lake/"),
            "{}",
            a.display()
        );
    }
}
