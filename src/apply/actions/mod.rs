//! One plan action from start to finish: the action-level retry loop, the journal lines and
//! counters of each action, and the state machines of `copy`, `lifecycle` and `restore` (one
//! file each; `decide` holds the HEAD-then-decide prologue every attempt starts with).
//!
//! Invariants:
//! - Every attempt starts with a HEAD of the object, so an attempt repeated after an error (or
//!   after a crash, from a `started` journal line) sees what the previous attempt did: "already
//!   in the target state" is success, never a second copy.
//! - A copy is conditional on the plan's ETag (`x-amz-copy-source-if-match`); a changed,
//!   deleted or overwritten object is skipped (`skipped:changed`), never overwritten. In a
//!   versioned bucket only a planned version that is still the current one is copied (copying
//!   an older version on top would roll the key back). An object no longer in the row's
//!   `from_class` is skipped (`skipped:class_changed`): the plan priced a move from that class.
//! - Nothing here deletes an object or a version. The only abort is of a multipart upload this
//!   action created.

mod copy;
mod decide;
mod lifecycle;
mod restore;
mod versioning;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::types::Tier;
use tracing::{debug, warn, Instrument};

use super::classify::{Class, RetryReason};
use super::journal::{ActionLine, Journal, JournalError, Prior};
use super::metrics::{Failure, Metrics};
use super::retry::{seed, Backoff, BackoffConfig, Budget, SplitMix64};
use super::s3::{CallError, S3};
use crate::plan::file::PlanRow;

pub use copy::{part_ranges, MAX_PART, MAX_PARTS};
pub use decide::{decide, planned_version, Decision};
pub use lifecycle::{
    merge_rules, merge_tags, rule_for, LifecycleRules, MergeError, WantedRule, MAX_RULES, MAX_TAGS,
    RULE_PREFIX, TAG_KEY,
};
pub use restore::restore_request;
pub use versioning::{check as check_versioning, noncurrent_rule, BucketVersioning, CopyScope};

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
    /// `Days` of a restore when the plan row does not carry them (plans written before the
    /// `restore_days` column; the temporary copy must outlive the gap until the next run).
    /// Default [`crate::plan::file::RESTORE_DAYS`].
    pub restore_days: i32,
    /// Restore tier when the plan row does not carry one. Default Bulk.
    pub restore_tier: Tier,
}

/// How an action ended (this run).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Finished.
    Done {
        /// `copied`, `tagged`, `restored`, `skipped:already_done`, `skipped:changed`,
        /// `skipped:class_changed`, `skipped:sse_c`.
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
    /// Keeps the first journal error (the run then stops starting actions).
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

/// A journal line of action `a` in `state`.
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
    if matches!(prior, Some(Prior::Started)) && matches!(a.op, Op::Copy | Op::Restore) {
        // An earlier run was killed during this action: a multipart copy may be left over.
        copy::abort_orphans(ctx, row).await;
    }
    loop {
        st.n += 1;
        tracing::Span::current().record("attempt", st.n);
        let t = Instant::now();
        let r = match a.op {
            Op::Copy => copy::attempt(ctx, row, &mut st).await,
            Op::Lifecycle => lifecycle::attempt(ctx, row, &mut st).await,
            Op::Restore => restore::attempt(ctx, a, row, &mut st, prior).await,
        };
        let e = match r {
            Ok(step) => return (step, st.n),
            Err(e) => e,
        };
        let reason = match retry_reason(&e) {
            Ok(reason) => reason,
            Err(step) => return (step, st.n),
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
                ctx.metrics
                    .moved(row.to_class.as_str(), row.size.max(0) as u64);
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

/// Whether a failed attempt is retried (and under which reason) or how it ends the action:
/// a failed precondition or a vanished object is `skipped:changed`, an SSE-C object's HEAD is
/// `skipped:sse_c`, anything else permanent fails.
fn retry_reason(e: &CallError) -> Result<RetryReason, Step> {
    let skipped = |result: &'static str, detail: String| Step::Done {
        result,
        detail: Some(detail),
    };
    match e.class {
        Class::Retry(r) | Class::Ambiguous(r) => Ok(r),
        Class::Precondition => Err(skipped(
            "skipped:changed",
            format!("{}: precondition failed", e.op),
        )),
        Class::NotFound => Err(skipped("skipped:changed", format!("{}: not found", e.op))),
        Class::AlreadyDone | Class::Permanent if head_needs_customer_key(e) => Err(skipped(
            "skipped:sse_c",
            "HEAD answered 400 Bad Request: an SSE-C object (apply holds no customer keys)".into(),
        )),
        Class::AlreadyDone | Class::Permanent => Err(failed("permanent", &e.code(), e.to_string())),
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
