//! Moving whole files between the mirror and the lake's prefix, [`TRANSFERS`] at a time:
//! uploads (conditional puts) and downloads (GET with `If-Match`, verified by hash).
//!
//! Invariants:
//! - every upload is `If-None-Match: *` (a new key) or `If-Match: <ETag>` (the committed
//!   object it replaces), so it can never overwrite another writer's object. It is not
//!   idempotent and goes through [`crate::s3::retry::Retrier::write_conditional`]: a timeout, a reset
//!   or a failed condition is resolved by reading the object back ([`landed`]: its
//!   `blobtier-xxh3` metadata is the content uploaded), and only an upload that did not land
//!   is sent again;
//! - a download is idempotent and retried whole; it lands as temp → fsync → rename, and a
//!   failed `If-Match` means another writer changed the object ([`Error::Conflict`]);
//! - a chunk of transfers finishes before the next starts, and the first failure of a chunk
//!   stops the run there.
//!
//! Must not: decide what to transfer (the lake's `publish` and `sync_down` do) or delete.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;

use super::{Committed, Entry, Error, LakeState, S3Lake, Transfer, META_HASH, META_RUN};
use crate::io::{IoContext, IoError};
use crate::s3::blocking::bounded;
use crate::s3::retry::Written;
use crate::s3::{call, CallError, S3Error, Session};

/// Transfers in flight.
const TRANSFERS: usize = 8;

/// A mirror file to upload.
#[derive(Debug, Clone)]
pub(super) struct Upload {
    pub(super) rel: String,
    pub(super) path: PathBuf,
    pub(super) size: u64,
    pub(super) xxh3: String,
    /// The ETag of the committed object it replaces.
    pub(super) replaces: Option<String>,
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
pub(super) fn is_commit_record(rel: &str) -> bool {
    rel.starts_with("_ledger/") || rel.starts_with("_runs/")
}

impl S3Lake<'_> {
    /// Uploads `ups` and records each in `next` and `t`.
    pub(super) fn upload_all(
        &self,
        ups: &[Upload],
        run_id: &str,
        next: &mut LakeState,
        t: &mut Transfer,
    ) -> Result<(), Error> {
        for chunk in ups.chunks(TRANSFERS) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|up| {
                    let (s, bucket, key) = (
                        self.s3.session().clone(),
                        self.bucket.clone(),
                        self.key(&up.rel),
                    );
                    let (up, run_id) = (up.clone(), run_id.to_owned());
                    async move {
                        let send = || put_file(&s, &bucket, &key, &up, &run_id);
                        let ours = || landed(&s, &bucket, &key, &up.xxh3);
                        s.retrier().write_conditional(send, ours).await
                    }
                })
                .collect();
            let results = self.s3.block_on(bounded(tasks, TRANSFERS));
            for (up, r) in chunk.iter().zip(results) {
                let Written::Ours(etag) = r? else {
                    return Err(Error::Conflict {
                        key: self.shown(&up.rel),
                        reason: match &up.replaces {
                            Some(e) => format!("expected ETag {e}"),
                            None => "expected no object".into(),
                        },
                    });
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

    /// Downloads `want` into the mirror `dir`, each checked against the state's hash (or, for
    /// an object a killed run replaced, adopting the hash found), and records it in `t`.
    pub(super) fn download_all(
        &self,
        want: &[(String, Entry)],
        committed: &mut Committed,
        dir: &Path,
        t: &mut Transfer,
    ) -> Result<(), Error> {
        let mut first = true;
        for chunk in want.chunks(TRANSFERS) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|(rel, entry)| {
                    let (s, bucket, key) = (
                        self.s3.session().clone(),
                        self.bucket.clone(),
                        self.key(rel),
                    );
                    let (etag, path) = (entry.etag.clone(), dir.join(rel));
                    async move {
                        let once = || download(&s, &bucket, &key, &etag, &path);
                        match s.retrier().run(once).await {
                            (Err(Error::S3(e)), n) => Err(Error::S3(e.after(n))),
                            (r, _) => r,
                        }
                    }
                })
                .collect();
            let results = self.s3.block_on(bounded(tasks, TRANSFERS));
            for ((rel, entry), r) in chunk.iter().zip(results) {
                let h = match r {
                    Ok(h) => h,
                    Err(Error::S3(e)) if e.call.condition_failed() => {
                        return Err(Error::Conflict {
                            key: self.shown(rel),
                            reason: format!("expected ETag {}", entry.etag),
                        })
                    }
                    Err(e) => return Err(e),
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
                self.remember_hash(rel, &meta, h);
                t.objects += 1;
                t.bytes += meta.len();
                tracing::debug!(key = %self.shown(rel), "downloaded");
                if first {
                    first = false;
                    crate::crashpoint::pause("sync:downloading");
                }
            }
        }
        Ok(())
    }
}

/// One attempt of the conditional upload of `up` to `key`; the new ETag.
async fn put_file(
    s: &Session,
    bucket: &str,
    key: &str,
    up: &Upload,
    run_id: &str,
) -> Result<String, Error> {
    let body = ByteStream::from_path(&up.path).await.map_err(|e| IoError {
        op: "failed to read",
        path: up.path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let req = s
        .client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type(&up.rel))
        .metadata(META_HASH, &up.xxh3)
        .metadata(META_RUN, run_id)
        .body(body);
    let req = match &up.replaces {
        Some(etag) => req.if_match(etag),
        None => req.if_none_match("*"),
    };
    let out = call("PutObject", false, req.send())
        .await
        .map_err(|c| S3Error::new(bucket, key, c))?;
    Ok(out.e_tag().unwrap_or_default().to_owned())
}

/// Whether the object `key` holds the content this run uploaded (its `blobtier-xxh3` metadata
/// is `xxh3`): its ETag if so. A write whose answer was lost, or whose condition then failed
/// because its own first attempt had landed, is recognised this way.
pub(super) async fn landed(
    s: &Session,
    bucket: &str,
    key: &str,
    xxh3: &str,
) -> Result<Option<String>, Error> {
    let Some(h) = s.head(bucket, key).await? else {
        return Ok(None);
    };
    let ours = h
        .metadata()
        .and_then(|m| m.get(META_HASH))
        .is_some_and(|v| v == xxh3);
    Ok(ours.then(|| h.e_tag().unwrap_or_default().to_owned()))
}

/// Streams the object `key`, if its ETag is still `etag`, into `path` (temp → fsync →
/// rename); returns its content hash. One attempt.
async fn download(
    s: &Session,
    bucket: &str,
    key: &str,
    etag: &str,
    path: &Path,
) -> Result<String, Error> {
    let req = s
        .client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .if_match(etag);
    let out = call("GetObject", true, req.send())
        .await
        .map_err(|c| S3Error::new(bucket, key, c))?;
    crate::io::ensure_parent(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = fs::File::create(&tmp).at("failed to create", &tmp)?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut body = out.body;
    loop {
        match body.next().await {
            None => break,
            Some(Ok(chunk)) => {
                h.update(&chunk);
                f.write_all(&chunk).at("failed to write", &tmp)?;
            }
            Some(Err(e)) => {
                let _ = fs::remove_file(&tmp);
                let call = CallError::transit("GetObject", true, &e);
                return Err(S3Error::new(bucket, key, call).into());
            }
        }
    }
    f.sync_all().at("failed to sync", &tmp)?;
    drop(f);
    fs::rename(&tmp, path).at("failed to rename into place", path)?;
    Ok(format!("{:032x}", h.digest128()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_and_run_records_go_last() {
        assert!(is_commit_record("_ledger/20261126T000000Z-1.json"));
        assert!(is_commit_record("_runs/x.json"));
        assert!(!is_commit_record("pulls/date=2026-11-26/part-x.parquet"));
        assert!(!is_commit_record("_rejects/date=2026-11-26/part-x.parquet"));
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type("reports/as_of=D/report.html"),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type("plan/as_of=D/plan.parquet"),
            "application/vnd.apache.parquet"
        );
        assert_eq!(content_type("_runs/x.json"), "application/json");
        assert_eq!(content_type("no-extension"), "application/octet-stream");
    }
}
