//! One plan action from start to finish: the state machines of `copy`, `lifecycle` and
//! `restore`, the action-level retry loop, multipart copy, and the bucket lifecycle merge.
//!
//! Invariants:
//! - Every attempt starts with a HEAD of the object, so an attempt repeated after an error (or
//!   after a crash, from a `started` journal line) sees what the previous attempt did: "already
//!   in the target state" is success, never a second copy.
//! - A copy is conditional on the plan's ETag (`x-amz-copy-source-if-match`); a changed,
//!   deleted or overwritten object is skipped (`skipped:changed`), never overwritten. In a
//!   versioned bucket only a planned version that is still the current one is copied (copying
//!   an older version on top would roll the key back).
//! - Nothing here deletes an object or a version. The only abort is of a multipart upload this
//!   action created.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::types::{
    ExpirationStatus, LifecycleRule, LifecycleRuleFilter, Tag, Tier, Transition,
    TransitionStorageClass,
};
use tracing::{debug, warn, Instrument};

use super::classify::Class;
use super::journal::{ActionLine, Journal, JournalError, Prior};
use super::metrics::{Failure, Metrics};
use super::retry::{seed, Backoff, BackoffConfig, Budget, SplitMix64};
use super::s3::{CallError, CopySource, Grants, Head, LifecycleDoc, RestoreState, Sse, S3};
use crate::plan::file::PlanRow;

/// The tag key of the lifecycle method.
pub const TAG_KEY: &str = "blobtier-tier";
/// S3's limit on tags per object.
pub const MAX_TAGS: usize = 10;
/// S3's limit on lifecycle rules per bucket.
pub const MAX_RULES: usize = 1000;
/// Lifecycle rule ids written by blobtier start with this.
pub const RULE_PREFIX: &str = "blobtier-tier-";
/// S3's limits for multipart copies.
pub const MAX_PARTS: u64 = 10_000;
/// Largest part (and largest single CopyObject).
pub const MAX_PART: u64 = 5 << 30;

/// What kind of action a plan row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `transition` + `copy`: CopyObject in place with the new class.
    Copy,
    /// `transition` + `lifecycle`: tag the object; a bucket rule moves it.
    Lifecycle,
    /// `restore`: RestoreObject, then (maybe in a later run) copy back to the target class.
    Restore,
}

impl Op {
    /// The `action` label and journal `op`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Copy => "copy",
            Op::Lifecycle => "lifecycle",
            Op::Restore => "restore",
        }
    }
}

/// Run-time knobs of the action machinery.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Objects larger than this use multipart copy. Default 5 GiB (CopyObject's limit).
    pub multipart_threshold: u64,
    /// Part size of multipart copies (raised so that there are at most 10,000 parts).
    /// Default 512 MiB.
    pub part_size: u64,
    /// Time budget of one action's retries. Default 10 min.
    pub retry_budget: Duration,
    /// Backoff.
    pub backoff: BackoffConfig,
    /// `Days` of a restore (the temporary copy must outlive the gap until the next run).
    /// Default 3.
    pub restore_days: i32,
    /// Restore tier when the plan row does not name one. Default Bulk.
    pub restore_tier: Tier,
}

/// How an action ended (this run).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Finished.
    Done {
        /// `copied`, `tagged`, `restored`, `skipped:already_done`, `skipped:changed`,
        /// `skipped:sse_c`.
        result: &'static str,
        /// Why it was skipped.
        detail: Option<String>,
    },
    /// A restore is running; a later run finishes the action.
    Pending,
    /// Failed permanently (or ran out of retry budget).
    Failed {
        /// `permanent`, `retry_exhausted:<reason>`, …
        class: String,
        /// Error code.
        code: String,
        /// Detail.
        message: String,
    },
}

fn done(result: &'static str) -> Step {
    Step::Done {
        result,
        detail: None,
    }
}

fn failed(class: &str, code: &str, message: impl Into<String>) -> Step {
    Step::Failed {
        class: class.into(),
        code: code.into(),
        message: message.into(),
    }
}

/// Shared state of a run's actions.
pub struct Ctx {
    /// S3.
    pub s3: S3,
    /// Journal.
    pub journal: Journal,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Knobs.
    pub tuning: Tuning,
    /// The plan.
    pub rows: Arc<Vec<PlanRow>>,
    /// Lifecycle rules per bucket.
    pub lifecycle: LifecycleRules,
    /// The first journal error; once set the run stops starting actions.
    pub fatal: Mutex<Option<JournalError>>,
}

impl Ctx {
    fn note(&self, r: Result<(), JournalError>) {
        if let Err(e) = r {
            let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
            if f.is_none() {
                *f = Some(e);
            }
        }
    }

    /// Whether a journal error stopped the run.
    pub fn stopped(&self) -> bool {
        self.fatal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

/// One action of the plan.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    /// Plan row index.
    pub i: usize,
    /// Kind.
    pub op: Op,
}

/// The version a row names, if any (`null`/empty mean an unversioned object).
pub fn planned_version(row: &PlanRow) -> Option<&str> {
    row.version_id
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "null")
}

/// What the HEAD before an attempt says to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Already in the target class.
    AlreadyDone,
    /// Changed since the plan (the reason: `gone`, `etag`, `not_current`).
    Changed(&'static str),
    /// SSE-C: apply holds no customer keys.
    SseC,
    /// Go ahead.
    Proceed,
}

/// Decides from the current object (HEAD without a version id). Pure.
pub fn decide(row: &PlanRow, head: Option<&Head>) -> Decision {
    let Some(h) = head else {
        return Decision::Changed("gone");
    };
    if let Some(v) = planned_version(row) {
        if h.version_id.as_deref() != Some(v) {
            // A newer version is current: ours from an earlier attempt (then it is in the
            // target class) or someone else's.
            return if h.class == row.to_class {
                Decision::AlreadyDone
            } else {
                Decision::Changed("not_current")
            };
        }
    }
    if h.class == row.to_class {
        return Decision::AlreadyDone;
    }
    if let (Some(p), Some(e)) = (row.etag.as_deref(), h.etag.as_deref()) {
        if super::s3::unquote(p) != e {
            return Decision::Changed("etag");
        }
    }
    if h.sse == Sse::Customer {
        return Decision::SseC;
    }
    Decision::Proceed
}

/// Per-action memory across attempts.
#[derive(Debug, Default)]
struct Attempts {
    n: u32,
    /// A copy (or multipart completion) was sent: finding the target state later means we did it.
    copy_sent: bool,
    /// A PutObjectTagging was sent.
    tag_sent: bool,
    /// A RestoreObject was sent by this run.
    restore_sent: bool,
}

/// Runs one action to its end (retries included), journals and counts it.
pub async fn run(ctx: &Ctx, a: Action, prior: Option<&Prior>) -> Step {
    let row = &ctx.rows[a.i];
    let span = tracing::info_span!(
        "action",
        i = a.i,
        action = a.op.as_str(),
        key = %row.key,
        digest = %row.digest,
        attempt = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let step = attempts(ctx, a, row, prior, started).await;
        let (result, attempts_made) = step;
        record_end(ctx, a, row, &result, attempts_made, started.elapsed());
        result
    }
    .instrument(span)
    .await
}

fn line<'a>(a: Action, row: &'a PlanRow, state: &'a str, attempt: u32) -> ActionLine<'a> {
    ActionLine {
        i: a.i,
        op: a.op.as_str(),
        bucket: &row.bucket,
        key: &row.key,
        version_id: planned_version(row),
        digest: &row.digest,
        state,
        attempt,
        result: None,
        error_class: None,
        error_code: None,
        delay_ms: None,
        elapsed_ms: None,
        message: None,
    }
}

async fn attempts(
    ctx: &Ctx,
    a: Action,
    row: &PlanRow,
    prior: Option<&Prior>,
    started: Instant,
) -> (Step, u32) {
    let budget = Budget::new(started, ctx.tuning.retry_budget);
    let mut backoff = Backoff::new(ctx.tuning.backoff, SplitMix64(seed()));
    let mut st = Attempts::default();
    ctx.note(ctx.journal.action(&line(a, row, "started", 1)));
    loop {
        st.n += 1;
        tracing::Span::current().record("attempt", st.n);
        let t = Instant::now();
        let r = match a.op {
            Op::Copy => copy_attempt(ctx, row, &mut st).await,
            Op::Lifecycle => lifecycle_attempt(ctx, row, &mut st).await,
            Op::Restore => restore_attempt(ctx, a, row, &mut st, prior).await,
        };
        let e = match r {
            Ok(step) => return (step, st.n),
            Err(e) => e,
        };
        let reason = match e.class {
            Class::Retry(r) | Class::Ambiguous(r) => r,
            Class::Precondition => {
                return (
                    Step::Done {
                        result: "skipped:changed",
                        detail: Some(format!("{}: precondition failed", e.op)),
                    },
                    st.n,
                )
            }
            Class::NotFound => {
                return (
                    Step::Done {
                        result: "skipped:changed",
                        detail: Some(format!("{}: not found", e.op)),
                    },
                    st.n,
                )
            }
            Class::AlreadyDone | Class::Permanent if head_needs_customer_key(&e) => {
                return (
                    Step::Done {
                        result: "skipped:sse_c",
                        detail: Some(
                            "HEAD answered 400 Bad Request: an SSE-C object (apply holds no customer keys)"
                                .into(),
                        ),
                    },
                    st.n,
                )
            }
            Class::AlreadyDone | Class::Permanent => {
                return (failed("permanent", &e.code(), e.to_string()), st.n)
            }
        };
        let delay = backoff.next_delay();
        let now = Instant::now();
        if !budget.allows(now, delay) {
            return (
                failed(
                    &format!("retry_exhausted:{}", reason.as_str()),
                    &e.code(),
                    e.to_string(),
                ),
                st.n,
            );
        }
        ctx.metrics.retry(reason);
        let code = e.code();
        // INFO, not WARN: a retry is routine, and cron runs stay quiet; the counts are in the
        // summary.
        tracing::info!(
            attempt = st.n,
            op = e.op,
            error_class = reason.as_str(),
            error_code = %code,
            elapsed_ms = t.elapsed().as_millis() as u64,
            delay_ms = delay.as_millis() as u64,
            "retrying"
        );
        let mut l = line(a, row, "retry", st.n);
        l.error_class = Some(reason.as_str());
        l.error_code = Some(&code);
        l.delay_ms = Some(delay.as_millis() as u64);
        ctx.note(ctx.journal.action(&l));
        tokio::time::sleep(delay).await;
    }
}

fn record_end(ctx: &Ctx, a: Action, row: &PlanRow, step: &Step, attempts: u32, elapsed: Duration) {
    let elapsed_ms = Some(elapsed.as_millis() as u64);
    match step {
        Step::Done { result, detail } => {
            let mut l = line(a, row, "done", attempts);
            l.result = Some(result);
            l.message = detail.as_deref();
            l.elapsed_ms = elapsed_ms;
            ctx.note(ctx.journal.action(&l));
            ctx.metrics.finished(a.op.as_str(), result, elapsed);
            if matches!(*result, "copied" | "restored") {
                ctx.metrics.moved(&row.to_class, row.size.max(0) as u64);
            }
            debug!(
                result,
                elapsed_ms = elapsed.as_millis() as u64,
                "action done"
            );
        }
        Step::Pending => {
            let mut l = line(a, row, "pending", attempts);
            l.result = Some("pending:restore_in_progress");
            l.elapsed_ms = elapsed_ms;
            ctx.note(ctx.journal.action(&l));
            ctx.metrics
                .finished(a.op.as_str(), "pending:restore_in_progress", elapsed);
        }
        Step::Failed {
            class,
            code,
            message,
        } => {
            let mut l = line(a, row, "failed", attempts);
            l.error_class = Some(class);
            l.error_code = Some(code);
            l.message = Some(message);
            l.elapsed_ms = elapsed_ms;
            ctx.note(ctx.journal.action(&l));
            ctx.metrics.finished(a.op.as_str(), "failed", elapsed);
            ctx.metrics.failed(Failure {
                i: a.i,
                action: a.op.as_str().into(),
                bucket: row.bucket.clone(),
                key: row.key.clone(),
                version_id: row.version_id.clone(),
                error_class: class.clone(),
                error_code: code.clone(),
                message: message.clone(),
                attempts,
            });
            warn!(error_class = %class, error_code = %code, "action failed");
        }
    }
}

/// S3 answers HEAD on an SSE-C object with a bare 400 unless the request carries the customer
/// key; that is the only 400 a well-formed HEAD of an existing key gets.
fn head_needs_customer_key(e: &CallError) -> bool {
    e.op == "HeadObject"
        && matches!(
            e.facts,
            super::classify::Facts::Response {
                status: 400,
                code: None
            }
        )
}

/// Retries one idempotent call inside an action (multipart parts, lifecycle reads) with its
/// own budget; non-retryable errors and an exhausted budget return the last error.
async fn with_retries<T, F, Fut>(ctx: &Ctx, mut f: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let budget = Budget::new(Instant::now(), ctx.tuning.retry_budget);
    let mut backoff = Backoff::new(ctx.tuning.backoff, SplitMix64(seed()));
    let mut n = 0u32;
    loop {
        n += 1;
        let e = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Class::Retry(reason) = e.class else {
            return Err(e);
        };
        let delay = backoff.next_delay();
        if !budget.allows(Instant::now(), delay) {
            return Err(e);
        }
        ctx.metrics.retry(reason);
        tracing::info!(call_attempt = n, op = e.op, error_class = reason.as_str(), error_code = %e.code(), delay_ms = delay.as_millis() as u64, "retrying call");
        tokio::time::sleep(delay).await;
    }
}

async fn copy_attempt(ctx: &Ctx, row: &PlanRow, st: &mut Attempts) -> Result<Step, CallError> {
    let head = ctx.s3.head(&row.bucket, &row.key, None).await?;
    let head = match decide(row, head.as_ref()) {
        Decision::AlreadyDone => {
            return Ok(done(if st.copy_sent {
                "copied"
            } else {
                "skipped:already_done"
            }))
        }
        Decision::Changed(why) => {
            return Ok(Step::Done {
                result: "skipped:changed",
                detail: Some(why.into()),
            })
        }
        Decision::SseC => {
            return Ok(Step::Done {
                result: "skipped:sse_c",
                detail: Some("SSE-C object: apply holds no customer keys".into()),
            })
        }
        Decision::Proceed => head.expect("decide proceeds only with a head"),
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
    copy_to(ctx, row, st, &head, &row.to_class, "copied").await
}

/// Copies the (current, planned) object onto itself in `to_class` and verifies.
async fn copy_to(
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
            .copy_in_place(&src, to_class, if_match, head, &grants)
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
    // CopyObject keeps tags by itself (TaggingDirective COPY); a multipart copy must send them.
    let tags = with_retries(ctx, || ctx.s3.get_tags(bucket, key, version)).await?;
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

/// The tag set with `key=value` set (replacing an earlier value of `key`). Pure.
pub fn merge_tags(
    tags: &[(String, String)],
    key: &str,
    value: &str,
) -> Result<Vec<(String, String)>, usize> {
    let mut out: Vec<(String, String)> = tags.iter().filter(|(k, _)| k != key).cloned().collect();
    out.push((key.to_owned(), value.to_owned()));
    if out.len() > MAX_TAGS {
        return Err(out.len());
    }
    Ok(out)
}

async fn lifecycle_attempt(ctx: &Ctx, row: &PlanRow, st: &mut Attempts) -> Result<Step, CallError> {
    if let Err((code, message)) = ctx.lifecycle.ensure(ctx, &row.bucket).await {
        return Ok(failed("permanent", &code, message));
    }
    let head = ctx.s3.head(&row.bucket, &row.key, None).await?;
    match decide(row, head.as_ref()) {
        Decision::AlreadyDone => return Ok(done("skipped:already_done")),
        Decision::Changed(why) => {
            return Ok(Step::Done {
                result: "skipped:changed",
                detail: Some(why.into()),
            })
        }
        // Tagging needs no key: lifecycle transitions SSE-C objects like any other.
        Decision::SseC | Decision::Proceed => {}
    }
    let version = planned_version(row);
    let tags = ctx.s3.get_tags(&row.bucket, &row.key, version).await?;
    if tags.iter().any(|(k, v)| k == TAG_KEY && *v == row.tier) {
        return Ok(done(if st.tag_sent {
            "tagged"
        } else {
            "skipped:already_done"
        }));
    }
    let merged = match merge_tags(&tags, TAG_KEY, &row.tier) {
        Ok(m) => m,
        Err(n) => {
            return Ok(failed(
                "permanent",
                "too_many_tags",
                format!("adding `{TAG_KEY}` would give the object {n} tags (S3 allows {MAX_TAGS})"),
            ))
        }
    };
    st.tag_sent = true;
    ctx.s3
        .put_tags(&row.bucket, &row.key, version, &merged)
        .await?;
    let check = ctx.s3.get_tags(&row.bucket, &row.key, version).await?;
    if check.iter().any(|(k, v)| k == TAG_KEY && *v == row.tier) {
        Ok(done("tagged"))
    } else {
        Ok(failed(
            "permanent",
            "verify_mismatch",
            "the tag is missing after PutObjectTagging",
        ))
    }
}

/// The restore tier a row asks for: the `tier` column or the reason's last `:` part when it
/// names one (`bulk`, `standard`, `expedited`), else `default`.
pub fn restore_tier(row: &PlanRow, default: &Tier) -> Tier {
    let named = |s: &str| match s.to_ascii_lowercase().as_str() {
        "bulk" => Some(Tier::Bulk),
        "standard" => Some(Tier::Standard),
        "expedited" => Some(Tier::Expedited),
        _ => None,
    };
    named(&row.tier)
        .or_else(|| row.reason.rsplit(':').next().and_then(named))
        .unwrap_or_else(|| default.clone())
}

async fn restore_attempt(
    ctx: &Ctx,
    a: Action,
    row: &PlanRow,
    st: &mut Attempts,
    prior: Option<&Prior>,
) -> Result<Step, CallError> {
    let head = ctx.s3.head(&row.bucket, &row.key, None).await?;
    let head = match decide(row, head.as_ref()) {
        Decision::AlreadyDone => {
            return Ok(done(if st.copy_sent {
                "restored"
            } else {
                "skipped:already_done"
            }))
        }
        Decision::Changed(why) => {
            return Ok(Step::Done {
                result: "skipped:changed",
                detail: Some(why.into()),
            })
        }
        Decision::SseC => {
            return Ok(Step::Done {
                result: "skipped:sse_c",
                detail: Some("SSE-C object: apply holds no customer keys".into()),
            })
        }
        Decision::Proceed => head.expect("decide proceeds only with a head"),
    };
    if !head.archived() {
        return copy_to(ctx, row, st, &head, &row.to_class, "restored").await;
    }
    match head.restore {
        Some(RestoreState::Done) => copy_to(ctx, row, st, &head, &row.to_class, "restored").await,
        Some(RestoreState::Ongoing) => {
            debug!(
                requested_earlier = matches!(prior, Some(Prior::RestoreRequested)),
                "restore still running"
            );
            Ok(Step::Pending)
        }
        None => {
            if st.restore_sent {
                // Requested by this run, yet no restore shows: leave it for the next run.
                return Ok(Step::Pending);
            }
            let version = planned_version(row);
            let days = (head.class != "INTELLIGENT_TIERING").then_some(ctx.tuning.restore_days);
            let tier = restore_tier(row, &ctx.tuning.restore_tier);
            st.restore_sent = true;
            let r = ctx
                .s3
                .restore(&row.bucket, &row.key, version, days, &tier)
                .await;
            match r {
                Ok(()) => {}
                Err(e) if e.class == Class::AlreadyDone => {}
                Err(e) if e.code() == "GlacierExpeditedRetrievalNotAvailable" => {
                    warn!("expedited retrieval not available; requesting a Standard restore");
                    match ctx
                        .s3
                        .restore(&row.bucket, &row.key, version, days, &Tier::Standard)
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if e.class == Class::AlreadyDone => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
            ctx.note(ctx.journal.action(&line(a, row, "restore_requested", st.n)));
            // Some restores finish at once (and every restore on the test servers does).
            match ctx.s3.head(&row.bucket, &row.key, None).await? {
                Some(h) if h.restore == Some(RestoreState::Done) => {
                    copy_to(ctx, row, st, &h, &row.to_class, "restored").await
                }
                _ => Ok(Step::Pending),
            }
        }
    }
}

/// The lifecycle rule that moves objects tagged `blobtier-tier=<tier>` to `class`.
pub fn rule_for(tier: &str, class: &str) -> Result<LifecycleRule, String> {
    let tag = Tag::builder()
        .key(TAG_KEY)
        .value(tier)
        .build()
        .map_err(|e| e.to_string())?;
    // The IA classes need 30 days in STANDARD first (counted from Last-Modified, not from
    // tagging, so older objects move at the next lifecycle run); the others can go at once.
    let days = match class {
        "STANDARD_IA" | "ONEZONE_IA" => 30,
        _ => 0,
    };
    LifecycleRule::builder()
        .id(format!("{RULE_PREFIX}{tier}"))
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().tag(tag).build())
        .transitions(
            Transition::builder()
                .days(days)
                .storage_class(TransitionStorageClass::from(class))
                .build(),
        )
        .build()
        .map_err(|e| e.to_string())
}

/// Why a lifecycle merge cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    /// The result would exceed S3's 1,000 rules.
    TooManyRules(usize),
}

/// Merges `wanted` (blobtier's rules) into `existing`: every existing rule is kept in place,
/// a blobtier rule with the same id is replaced when it differs, new ones are appended.
/// `None` when nothing changes. Pure.
pub fn merge_rules(
    existing: &[LifecycleRule],
    wanted: &[LifecycleRule],
) -> Result<Option<Vec<LifecycleRule>>, MergeError> {
    let mut out = existing.to_vec();
    let mut changed = false;
    for w in wanted {
        match out.iter_mut().find(|r| r.id.is_some() && r.id == w.id) {
            Some(r) if r == w => {}
            Some(r) => {
                *r = w.clone();
                changed = true;
            }
            None => {
                out.push(w.clone());
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    if out.len() > MAX_RULES {
        return Err(MergeError::TooManyRules(out.len()));
    }
    Ok(Some(out))
}

/// Whether the configuration read back holds what was written: the same rule ids (servers may
/// normalise a rule's form) and blobtier's rules with their transitions.
fn holds(after: &LifecycleDoc, written: &[LifecycleRule], wanted: &[LifecycleRule]) -> bool {
    let ids = |rs: &[LifecycleRule]| {
        let mut v: Vec<String> = rs
            .iter()
            .map(|r| r.id.clone().unwrap_or_default())
            .collect();
        v.sort();
        v
    };
    ids(&after.rules) == ids(written)
        && wanted.iter().all(|w| {
            after.rules.iter().any(|r| {
                r.id == w.id
                    && r.status == w.status
                    && r.transitions == w.transitions
                    && r.filter.as_ref().and_then(|f| f.tag.clone())
                        == w.filter.as_ref().and_then(|f| f.tag.clone())
            })
        })
}

/// `Err((code, message))` when a bucket's rules could not be put in place.
type RulesResult = Result<(), (String, String)>;

/// Per-bucket lifecycle rules: made sure of once per run, before the bucket's first object is
/// tagged.
pub struct LifecycleRules {
    /// tier -> class wanted per bucket (from the plan).
    wanted: HashMap<String, Vec<(String, String)>>,
    done: tokio::sync::Mutex<HashMap<String, RulesResult>>,
}

impl LifecycleRules {
    /// From the plan's lifecycle rows: bucket -> (tier, class).
    pub fn new(wanted: HashMap<String, Vec<(String, String)>>) -> Self {
        LifecycleRules {
            wanted,
            done: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn ensure(&self, ctx: &Ctx, bucket: &str) -> RulesResult {
        let mut g = self.done.lock().await;
        if let Some(r) = g.get(bucket) {
            return r.clone();
        }
        let pairs = self.wanted.get(bucket).cloned().unwrap_or_default();
        let r = ensure_rules(ctx, bucket, &pairs).await;
        if let Err((code, message)) = &r {
            tracing::error!(bucket, code = %code, message = %message, "lifecycle rules not in place; the bucket's lifecycle actions fail");
        }
        g.insert(bucket.to_owned(), r.clone());
        r
    }
}

/// Read-merge-write of a bucket's lifecycle configuration, keeping every existing rule and the
/// `x-amz-transition-default-minimum-object-size` setting. PUT replaces the whole document and
/// has no precondition, so: read, merge, read again (a difference means a concurrent writer:
/// start over), write, read back and check.
async fn ensure_rules(
    ctx: &Ctx,
    bucket: &str,
    pairs: &[(String, String)],
) -> Result<(), (String, String)> {
    let wanted = pairs
        .iter()
        .map(|(t, c)| rule_for(t, c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| ("invalid_rule".to_owned(), m))?;
    let err = |e: CallError| (e.code(), e.to_string());
    for round in 1..=5 {
        let first = with_retries(ctx, || ctx.s3.get_lifecycle(bucket))
            .await
            .map_err(err)?;
        let merged = match merge_rules(&first.rules, &wanted) {
            Ok(None) => return Ok(()),
            Ok(Some(m)) => m,
            Err(MergeError::TooManyRules(n)) => {
                return Err((
                    "too_many_lifecycle_rules".into(),
                    format!(
                        "bucket `{bucket}` would need {n} lifecycle rules (S3 allows {MAX_RULES})"
                    ),
                ))
            }
        };
        let again = with_retries(ctx, || ctx.s3.get_lifecycle(bucket))
            .await
            .map_err(err)?;
        if again != first {
            warn!(
                bucket,
                round, "lifecycle configuration changed while merging; starting over"
            );
            continue;
        }
        let doc = LifecycleDoc {
            rules: merged.clone(),
            min_size: first.min_size.clone(),
        };
        with_retries(ctx, || ctx.s3.put_lifecycle(bucket, &doc))
            .await
            .map_err(err)?;
        let after = with_retries(ctx, || ctx.s3.get_lifecycle(bucket))
            .await
            .map_err(err)?;
        let size_kept = first.min_size.is_none() || after.min_size == first.min_size;
        if holds(&after, &merged, &wanted) && size_kept {
            tracing::info!(bucket, rules = merged.len(), "lifecycle rules in place");
            return Ok(());
        }
        warn!(
            bucket,
            round,
            "lifecycle configuration read back differs (a concurrent writer?); starting over"
        );
    }
    Err((
        "lifecycle_conflict".into(),
        format!("bucket `{bucket}`: the lifecycle configuration kept changing under us"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::s3::SystemMeta;

    fn row() -> PlanRow {
        PlanRow {
            plan_id: String::new(),
            as_of: 20_000,
            bucket: "b".into(),
            key: "k".into(),
            version_id: None,
            etag: Some("\"e1\"".into()),
            size: 10,
            digest: "sha256:00".into(),
            from_class: "STANDARD".into(),
            to_class: "STANDARD_IA".into(),
            tier: "cool".into(),
            action: "transition".into(),
            method: "copy".into(),
            reason: "moved:cool".into(),
            expected_pulls_30d: 0.0,
            monthly_cost_now: 0.0,
            monthly_cost_after: 0.0,
            one_time_cost: 0.0,
            payback_days: None,
            net_savings_12m: 0.0,
        }
    }

    fn head(class: &str, etag: &str, version: Option<&str>) -> Head {
        Head {
            class: class.into(),
            etag: Some(etag.into()),
            size: 10,
            version_id: version.map(str::to_owned),
            restore: None,
            archive_status: None,
            sse: Sse::None,
            meta: SystemMeta::default(),
            website_redirect: None,
            lock_mode: None,
            lock_until: None,
            legal_hold: None,
        }
    }

    #[test]
    fn decisions() {
        let r = row();
        assert_eq!(decide(&r, None), Decision::Changed("gone"));
        assert_eq!(
            decide(&r, Some(&head("STANDARD", "e1", None))),
            Decision::Proceed
        );
        assert_eq!(
            decide(&r, Some(&head("STANDARD_IA", "e1", None))),
            Decision::AlreadyDone
        );
        // Already in the class wins over a changed ETag (a multipart source changes its ETag
        // when copied).
        assert_eq!(
            decide(&r, Some(&head("STANDARD_IA", "zz", None))),
            Decision::AlreadyDone
        );
        assert_eq!(
            decide(&r, Some(&head("STANDARD", "e2", None))),
            Decision::Changed("etag")
        );
        let mut c = head("STANDARD", "e1", None);
        c.sse = Sse::Customer;
        assert_eq!(decide(&r, Some(&c)), Decision::SseC);
        // Versioned: the planned version must be the current one.
        let mut v = row();
        v.version_id = Some("v1".into());
        assert_eq!(
            decide(&v, Some(&head("STANDARD", "e1", Some("v1")))),
            Decision::Proceed
        );
        assert_eq!(
            decide(&v, Some(&head("STANDARD", "e1", Some("v2")))),
            Decision::Changed("not_current")
        );
        assert_eq!(
            decide(&v, Some(&head("STANDARD_IA", "e1", Some("v2")))),
            Decision::AlreadyDone
        );
        // `null` is an unversioned object.
        let mut n = row();
        n.version_id = Some("null".into());
        assert_eq!(
            decide(&n, Some(&head("STANDARD", "e1", Some("null")))),
            Decision::Proceed
        );
        assert_eq!(
            decide(&n, Some(&head("STANDARD", "e1", None))),
            Decision::Proceed
        );
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

    #[test]
    fn tag_merge() {
        let t = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            merge_tags(&[t("a", "1")], TAG_KEY, "cold").unwrap(),
            vec![t("a", "1"), t(TAG_KEY, "cold")]
        );
        assert_eq!(
            merge_tags(&[t(TAG_KEY, "cool"), t("a", "1")], TAG_KEY, "cold").unwrap(),
            vec![t("a", "1"), t(TAG_KEY, "cold")]
        );
        let nine: Vec<_> = (0..9).map(|i| t(&format!("k{i}"), "v")).collect();
        assert_eq!(merge_tags(&nine, TAG_KEY, "x").unwrap().len(), 10);
        let ten: Vec<_> = (0..10).map(|i| t(&format!("k{i}"), "v")).collect();
        assert_eq!(merge_tags(&ten, TAG_KEY, "x"), Err(11));
    }

    #[test]
    fn rule_merge_keeps_existing_rules() {
        let theirs = LifecycleRule::builder()
            .id("expire-uploads")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("uploads/").build())
            .build()
            .unwrap();
        let cold = rule_for("cold", "GLACIER_IR").unwrap();
        let merged = merge_rules(std::slice::from_ref(&theirs), std::slice::from_ref(&cold))
            .unwrap()
            .unwrap();
        assert_eq!(merged, vec![theirs.clone(), cold.clone()]);
        // Nothing to do the second time.
        assert_eq!(
            merge_rules(&merged, std::slice::from_ref(&cold)).unwrap(),
            None
        );
        // Our rule with another class is replaced in place.
        let cold2 = rule_for("cold", "DEEP_ARCHIVE").unwrap();
        let m2 = merge_rules(&merged, std::slice::from_ref(&cold2))
            .unwrap()
            .unwrap();
        assert_eq!(m2, vec![theirs.clone(), cold2]);
        // 1,000 rules at most.
        let many: Vec<_> = (0..MAX_RULES)
            .map(|i| {
                LifecycleRule::builder()
                    .id(format!("r{i}"))
                    .status(ExpirationStatus::Enabled)
                    .build()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            merge_rules(&many, &[cold]),
            Err(MergeError::TooManyRules(MAX_RULES + 1))
        );
        let ia = rule_for("cool", "STANDARD_IA").unwrap();
        assert_eq!(ia.transitions()[0].days(), Some(30));
    }

    #[test]
    fn restore_tier_from_row() {
        let mut r = row();
        assert_eq!(restore_tier(&r, &Tier::Bulk), Tier::Bulk);
        r.tier = "Standard".into();
        assert_eq!(restore_tier(&r, &Tier::Bulk), Tier::Standard);
        r.tier = "reheat".into();
        r.reason = "restore:expedited".into();
        assert_eq!(restore_tier(&r, &Tier::Bulk), Tier::Expedited);
    }
}
