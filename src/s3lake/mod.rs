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
//! Retries: every call goes through the S3 layer ([`crate::s3`]): listings, reads, HEADs and
//! deletes are retried as idempotent; the conditional puts (data, state, lock) are not
//! idempotent, so a timeout or a reset on one is never simply sent again: the object is read
//! back first (its `blobtier-xxh3` metadata, or the lock's holder and expiry), and only a put
//! that did not land is repeated, under the same condition. A failed condition is read back
//! the same way, since our own earlier attempt may be what fails it.
//!
//! Layout: `state.rs` (the commit point), `transfer.rs` (uploads and downloads),
//! `mirror.rs` (the local directory), [`lock`] (the lease).
//!
//! This module must not interpret the lake's tables: it moves files and keeps the state.

pub mod lock;
mod mirror;
mod state;
mod transfer;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::io::{IoContext, IoError};
use crate::s3::retry::AsCall;
use crate::s3::{CallError, S3Error, S3};
pub use mirror::{default_mirror, hash_file, mirror_files};
use mirror::{file_id, FileId};
pub use state::{Committed, Entry, LakeState, StateFile, StateObject};
use transfer::{is_commit_record, Upload};

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
    /// An S3 call failed (after the S3 layer's retries).
    #[error(transparent)]
    S3(#[from] S3Error),
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

impl AsCall for Error {
    fn as_call(&self) -> Option<&CallError> {
        match self {
            Error::S3(e) => Some(&e.call),
            _ => None,
        }
    }
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
        self.remember_hash(rel, &meta, h.clone());
        Ok((meta.len(), h))
    }

    /// Records the hash of the mirror file `rel` as it is now.
    fn remember_hash(&self, rel: &str, meta: &fs::Metadata, h: String) {
        self.hashes
            .lock()
            .expect("hash memo")
            .insert(rel.to_owned(), (file_id(meta), h));
    }

    /// Every object under the prefix: relative path → (ETag, size).
    fn list(&self) -> Result<BTreeMap<String, (String, u64)>, Error> {
        let listed = self.s3.list(&self.bucket, &self.prefix)?;
        Ok(listed
            .into_iter()
            .filter_map(|o| {
                let rel = o.key.strip_prefix(&self.prefix)?;
                (!rel.is_empty() && !rel.ends_with('/')).then(|| (rel.to_owned(), (o.etag, o.size)))
            })
            .collect())
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
            let head = self
                .s3
                .block_on(self.s3.session().head(&self.bucket, &self.key(rel)))?;
            let Some(h) = head else { continue };
            match h.metadata().and_then(|m| m.get(META_RUN)) {
                Some(run) => ours.push((rel, run.clone())),
                None => {
                    tracing::warn!(key = %self.shown(rel), "not part of the lake (not uploaded by blobtier); leaving it")
                }
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
            .block_on(self.s3.session().delete(&self.bucket, &self.key(rel)))?;
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
        self.download_all(&want, committed, dir, &mut t)?;
        tracing::info!(downloaded = t.objects, bytes = t.bytes, removed = t.removed, lake = %self.url(), "synced the local mirror");
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
        tracing::info!(uploaded = t.objects, bytes = t.bytes, deleted = t.removed, lake = %self.url(), "published the lake");
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_errors_name_the_failed_call() {
        let call = CallError::local("PutObject", "no ETag");
        let e = Error::from(S3Error::new("b", "lake/_lake_state.json", call));
        assert_eq!(e.as_call().map(|c| c.op), Some("PutObject"));
        assert_eq!(
            e.to_string(),
            "S3 PutObject failed on `s3://b/lake/_lake_state.json`: no ETag"
        );
        let io = Error::Io(IoError {
            op: "failed to read",
            path: "x".into(),
            source: std::io::Error::other("gone"),
        });
        assert!(io.as_call().is_none());
    }
}
