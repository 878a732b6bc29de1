//! The `copy` action: CopyObject in place with the new storage class, conditional on the
//! plan's ETag, verified by a HEAD afterwards; a multipart copy (CreateMultipartUpload,
//! UploadPartCopy, Complete) above the threshold. `restore` uses [`copy_to`] for its copy back.
//!
//! Invariants: `copy_sent` is set before a copy is sent, so a lost answer is settled by the next
//! attempt's HEAD; the only abort is of a multipart upload this action created (or, after an
//! ambiguous CreateMultipartUpload, of this key's uploads started since; or, when an earlier
//! run was killed during this action, of this key's uploads begun before it resumed:
//! [`abort_orphans`]); nothing is deleted.

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use super::decide::{head_then_decide, planned_version};
use super::{done, failed, with_retries, Attempts, Ctx, Op, Step, TAG_KEY};
use crate::apply::classify::Class;
use crate::apply::s3::{CallError, CopySource, Grants, Head};
use crate::plan::file::PlanRow;

/// S3's limits for multipart copies.
pub const MAX_PARTS: u64 = 10_000;
/// Largest part (and largest single CopyObject).
pub const MAX_PART: u64 = 5 << 30;

/// One attempt of a `copy` action: HEAD, decide, then CopyObject in place (multipart above the
/// threshold) and verify. An archived object fails: it needs a `restore` action first.
pub(super) async fn attempt(
    ctx: &Ctx,
    row: &PlanRow,
    st: &mut Attempts,
) -> Result<Step, CallError> {
    let head = match head_then_decide(ctx, row, st, Op::Copy).await? {
        ControlFlow::Continue(head) => head,
        ControlFlow::Break(step) => return Ok(step),
    };
    if head.archived() {
        return Ok(failed(
            "permanent",
            "archived",
            format!(
                "object is in {} and must be restored first (plan a `restore` action)",
                head.class
            ),
        ));
    }
    copy_to(ctx, row, st, &head, row.to_class.as_str(), "copied").await
}

/// Copies the (current, planned) object onto itself in `to_class` and verifies; `result` names
/// the success (`copied`, `restored`).
pub(super) async fn copy_to(
    ctx: &Ctx,
    row: &PlanRow,
    st: &mut Attempts,
    head: &Head,
    to_class: &str,
    result: &'static str,
) -> Result<Step, CallError> {
    let version = planned_version(row);
    let grants = ctx.s3.grants(&row.bucket, &row.key, version).await?;
    let src = CopySource {
        bucket: row.bucket.clone(),
        key: row.key.clone(),
        version_id: version.map(str::to_owned),
    };
    let if_match = row.etag.as_deref().or(head.etag.as_deref());
    let size = head.size.max(0) as u64;
    // blobtier's own lifecycle tag must not survive a copy: the object's class is now set by
    // this copy, and a tag-filtered `blobtier-tier-*` rule would move it down again (a reheated
    // or restored blob sent back to the archive by blobtier's own rule).
    let kept = if size > ctx.tuning.multipart_threshold {
        None
    } else {
        without_lifecycle_tag(&ctx.s3.get_tags(&row.bucket, &row.key, version).await?)
    };
    // Set before sending: if the outcome is lost, the next HEAD decides, and it was us.
    st.copy_sent = true;
    let new_version = if size > ctx.tuning.multipart_threshold {
        match multipart_copy(ctx, row, head, &grants, &src, to_class, if_match).await? {
            Multipart::Done(v) => v,
            Multipart::Changed => {
                return Ok(Step::Done {
                    result: "skipped:changed",
                    detail: Some("UploadPartCopy: precondition failed".into()),
                })
            }
        }
    } else {
        ctx.s3
            .copy_in_place(&src, to_class, if_match, head, &grants, kept.as_deref())
            .await?
    };
    let after = ctx.s3.head(&row.bucket, &row.key, None).await?;
    match after {
        Some(h)
            if h.class == to_class
                && (new_version.is_none()
                    || h.version_id.is_none()
                    || h.version_id == new_version) =>
        {
            Ok(done(result))
        }
        Some(h) => Ok(failed(
            "permanent",
            "verify_mismatch",
            format!(
                "after the copy HEAD shows class {} version {:?} (expected {to_class}, {:?})",
                h.class, h.version_id, new_version
            ),
        )),
        None => Ok(failed(
            "permanent",
            "verify_mismatch",
            "after the copy the object is gone",
        )),
    }
}

/// `tags` without blobtier's lifecycle tag, or `None` when it is not among them (the copy then
/// copies the tag set as it is). Pure.
pub fn without_lifecycle_tag(tags: &[(String, String)]) -> Option<Vec<(String, String)>> {
    tags.iter()
        .any(|(k, _)| k == TAG_KEY)
        .then(|| tags.iter().filter(|(k, _)| k != TAG_KEY).cloned().collect())
}

enum Multipart {
    Done(Option<String>),
    Changed,
}

/// Byte ranges `(first, last)` of a multipart copy: `part_size` raised until there are at most
/// 10,000 parts, capped at 5 GiB. Pure.
pub fn part_ranges(size: u64, part_size: u64) -> Vec<(u64, u64)> {
    if size == 0 {
        return Vec::new();
    }
    let part = part_size.max(size.div_ceil(MAX_PARTS)).clamp(1, MAX_PART);
    (0..size.div_ceil(part))
        .map(|n| (n * part, ((n + 1) * part).min(size) - 1))
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn multipart_copy(
    ctx: &Ctx,
    row: &PlanRow,
    head: &Head,
    grants: &Grants,
    src: &CopySource,
    to_class: &str,
    if_match: Option<&str>,
) -> Result<Multipart, CallError> {
    let (bucket, key) = (&row.bucket, &row.key);
    let version = planned_version(row);
    // CopyObject keeps tags by itself (TaggingDirective COPY); a multipart copy must send them,
    // without blobtier's lifecycle tag (see `copy_to`).
    let tags = with_retries(ctx, || ctx.s3.get_tags(bucket, key, version)).await?;
    let tags = without_lifecycle_tag(&tags).unwrap_or(tags);
    let sent_at = SystemTime::now();
    let upload_id = match ctx
        .s3
        .create_multipart(bucket, key, to_class, head, grants, &tags)
        .await
    {
        Ok(id) => id,
        Err(e) => {
            if matches!(e.class, Class::Ambiguous(_)) {
                // The upload may exist without us knowing its id: abort this key's uploads
                // started since we sent the request, so that none is left orphaned.
                abort_uploads_since(ctx, bucket, key, sent_at - Duration::from_secs(5)).await;
            }
            return Err(e);
        }
    };
    let ranges = part_ranges(head.size.max(0) as u64, ctx.tuning.part_size);
    let uid = upload_id.as_str();
    let work = async {
        let mut parts = Vec::with_capacity(ranges.len());
        for (n, (first, last)) in ranges.iter().enumerate() {
            let part = n as i32 + 1;
            let etag = with_retries(ctx, || {
                ctx.s3
                    .upload_part_copy(src, uid, part, *first, *last, if_match)
            })
            .await?;
            parts.push((part, etag));
        }
        with_retries(ctx, || ctx.s3.complete_multipart(bucket, key, uid, &parts)).await
    };
    match work.await {
        Ok(v) => Ok(Multipart::Done(v)),
        // A retried Complete whose first attempt went through: the upload is gone because it
        // was completed; the verifying HEAD checks the result.
        Err(e) if e.op == "CompleteMultipartUpload" && e.class == Class::NotFound => {
            Ok(Multipart::Done(None))
        }
        Err(e) => {
            abort(ctx, bucket, key, uid).await;
            if e.class == Class::Precondition {
                Ok(Multipart::Changed)
            } else {
                Err(e)
            }
        }
    }
}

async fn abort(ctx: &Ctx, bucket: &str, key: &str, upload_id: &str) {
    if let Err(e) = with_retries(ctx, || ctx.s3.abort_multipart(bucket, key, upload_id)).await {
        tracing::error!(bucket, key, upload_id, error = %e, "could not abort a multipart upload; abort it by hand or add an AbortIncompleteMultipartUpload lifecycle rule");
    }
}

/// Before the first attempt of an action an earlier run left `started` (killed mid-copy):
/// aborts the multipart uploads of the planned key begun before now, which only that run can
/// have begun (one action per key at a time, and a registry writes a blob's key once, when the
/// blob is new, not while the blob is in a plan). Objects at or below the multipart threshold
/// were copied with CopyObject and left nothing to abort. A failure is logged and the action
/// goes on (the upload then waits for an `AbortIncompleteMultipartUpload` rule).
pub(super) async fn abort_orphans(ctx: &Ctx, row: &PlanRow) {
    if (row.size.max(0) as u64) <= ctx.tuning.multipart_threshold {
        return;
    }
    let before = SystemTime::now();
    let (bucket, key) = (&row.bucket, &row.key);
    match with_retries(ctx, || ctx.s3.list_uploads(bucket, key)).await {
        Ok(ups) => {
            for u in ups
                .iter()
                .filter(|u| u.initiated.is_none_or(|t| t < before))
            {
                tracing::warn!(bucket, key, upload_id = %u.upload_id, "aborting a multipart upload an earlier run left behind");
                abort(ctx, bucket, &u.key, &u.upload_id).await;
            }
        }
        Err(e) => {
            tracing::error!(bucket, key, error = %e, "could not list the multipart uploads an earlier run may have left")
        }
    }
}

async fn abort_uploads_since(ctx: &Ctx, bucket: &str, key: &str, since: SystemTime) {
    match with_retries(ctx, || ctx.s3.list_uploads(bucket, key)).await {
        Ok(ups) => {
            for u in ups {
                if u.initiated.is_some_and(|t| t >= since) {
                    abort(ctx, bucket, &u.key, &u.upload_id).await;
                }
            }
        }
        Err(e) => {
            tracing::error!(bucket, key, error = %e, "could not list multipart uploads after an ambiguous CreateMultipartUpload")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_tag_is_dropped_and_no_other() {
        let t = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(without_lifecycle_tag(&[t("team", "ml")]), None);
        assert_eq!(without_lifecycle_tag(&[]), None);
        assert_eq!(
            without_lifecycle_tag(&[t("team", "ml"), t(TAG_KEY, "cold")]),
            Some(vec![t("team", "ml")])
        );
        assert_eq!(without_lifecycle_tag(&[t(TAG_KEY, "cold")]), Some(vec![]));
    }

    #[test]
    fn part_ranges_cover_the_object() {
        assert_eq!(part_ranges(0, 5), vec![]);
        assert_eq!(part_ranges(12, 5), vec![(0, 4), (5, 9), (10, 11)]);
        assert_eq!(part_ranges(10, 5), vec![(0, 4), (5, 9)]);
        // 10,000 parts at most: 100 GiB with 5 MiB parts needs bigger parts.
        let size = 100u64 << 30;
        let r = part_ranges(size, 5 << 20);
        assert!(r.len() as u64 <= MAX_PARTS);
        assert_eq!(r.last().unwrap().1, size - 1);
        assert!(r.windows(2).all(|w| w[0].1 + 1 == w[1].0));
        // Never above 5 GiB per part.
        let r = part_ranges(12 << 30, 8 << 30);
        assert!(r.iter().all(|(a, b)| b - a < MAX_PART));
    }
}
