//! The commit point of an `s3://` lake: `_lake_state.json`, the list of committed objects
//! (path, size, xxh3-128, ETag), read at the start of a run and written once at its end.
//!
//! Invariants: the state is written by one conditional PutObject (`If-Match` on the ETag of
//! the state the run started from, `If-None-Match: *` for a lake never committed), through
//! the S3 layer's rule for non-idempotent writes: a timeout, a reset or a failed condition
//! is resolved by reading the state object back (its `blobtier-xxh3` metadata names the
//! content this run wrote), so a commit whose answer was lost is recognised as ours, and a
//! commit over another run's state never happens. Format version 1 only.
//!
//! Must not: write anything but the state object, or interpret the objects it lists.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::mirror::hash_bytes;
use super::transfer::landed;
use super::{Error, S3Lake, META_HASH, META_RUN, STATE_KEY};
use crate::s3::retry::Written;
use crate::s3::{call, Class, S3Error};

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
    pub(super) drifted: BTreeSet<String>,
}

impl S3Lake<'_> {
    /// The state object and its ETag, if the lake was ever committed.
    pub(super) fn read_state(&self) -> Result<Option<(LakeState, String)>, Error> {
        let key = self.key(STATE_KEY);
        let got = match self.s3.block_on(self.s3.session().get(&self.bucket, &key)) {
            Ok(got) => got,
            Err(e) if e.call.class == Class::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let corrupt = |reason: String| Error::CorruptState {
            key: self.shown(STATE_KEY),
            reason,
        };
        let file: StateFile =
            serde_json::from_slice(&got.bytes).map_err(|e| corrupt(e.to_string()))?;
        let state = LakeState::from(file);
        if state.v != 1 {
            return Err(corrupt(format!(
                "format version {} is not supported (expected 1)",
                state.v
            )));
        }
        Ok(Some((state, got.etag)))
    }

    /// Writes the new state, conditional on the one this run started from.
    pub(super) fn commit(&self, committed: &Committed, next: &LakeState) -> Result<(), Error> {
        let bytes =
            serde_json::to_vec_pretty(&StateFile::from(next)).expect("lake state serialises");
        let h = hash_bytes(&bytes);
        let (s, key) = (self.s3.session(), self.key(STATE_KEY));
        let send = || {
            let req = s
                .client()
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/json")
                .metadata(META_HASH, &h)
                .metadata(META_RUN, &next.run_id)
                .body(ByteStream::from(bytes.clone()));
            let req = match &committed.etag {
                Some(etag) => req.if_match(etag),
                None => req.if_none_match("*"),
            };
            async {
                let out = call("PutObject", false, req.send())
                    .await
                    .map_err(|c| S3Error::new(&self.bucket, &key, c))?;
                Ok::<_, Error>(out.e_tag().unwrap_or_default().to_owned())
            }
        };
        let ours = || landed(s, &self.bucket, &key, &h);
        if self
            .s3
            .block_on(s.retrier().write_conditional(send, ours))?
            == Written::ConditionFailed
        {
            return Err(Error::Conflict {
                key: self.shown(STATE_KEY),
                reason: "another run committed since this one started".into(),
            });
        }
        tracing::info!(objects = next.objects.len(), run_id = %next.run_id, lake = %self.url(), "committed the lake state");
        Ok(())
    }
}
