//! apply: execute a plan against S3 — the only stage that changes anything (issue 6).
//!
//! `blobtier apply --plan PATH` prints what it would do. With `--execute` (and an allow-list)
//! it runs every action of the plan: `copy` (CopyObject in place with the new storage class),
//! `lifecycle` (tag the object; a bucket lifecycle rule moves it) and `restore` (RestoreObject,
//! then a copy back once the restore has finished, possibly in a later run).
//! `--batch-manifest DIR` writes S3 Batch Operations manifests instead of acting.
//!
//! Safety rules (each has a test; `docs/apply.md`):
//! - the plan's `plan_id` must match its content, and every action must be inside the
//!   allow-list; `--execute` without an allow-list refuses to run;
//! - every attempt HEADs the object first; "already in the target state" is success, a changed
//!   object (ETag, deleted, overwritten) is skipped and never overwritten;
//! - one retry layer (ours; SDK retries off), decorrelated jitter, a per-action time budget,
//!   and a run-wide adaptive rate when S3 throttles;
//! - actions on the same key never run at the same time;
//! - the journal (`<journal dir>/<plan_id>.jsonl`) lets a rerun skip finished actions; a
//!   `started` action is simply re-checked, so SIGKILL at any moment and a rerun finish every
//!   action exactly once;
//! - one `--execute` per plan journal at a time, across processes ([`lock`]): a second one
//!   exits 2 naming the holder, before any S3 call;
//! - apply never deletes an object or a version.
//!
//! Layout: this file validates the flags and the plan (`plan_actions`, the allow-list) and
//! dispatches; `dry_run` (without `--execute`), `batch` (`--batch-manifest`) and `execute` (the
//! run: journal, chains of one object's actions, workers, limits, metrics) do the rest;
//! `actions/` holds one action's state machine, `journal` and `metrics` the run's records,
//! `s3` the S3 calls, on the S3 layer ([`crate::s3`]: client, `classify`, `retry`, pacer).
//!
//! Depends on `plan::file` (the plan format), `model` and the S3 layer (`crate::s3`) only, plus
//! the base utilities `io` and `progress`; nothing depends on it.

pub mod actions;
pub mod batch;
mod dry_run;
mod execute;
pub mod journal;
pub mod lock;
pub mod metrics;
pub mod s3;

pub use dry_run::{DryRun, Group, SampleRow};
// The S3 layer's classification and retry mechanics, under the names apply's modules use.
pub use crate::s3::{classify, retry};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::types::Tier;
use tracing::info;

use crate::io::IoError;
use crate::model::units::parse_size;
use crate::model::{Action as PlanAction, Method, RestoreTier, StorageClass};
use crate::plan::file::{self, PlanFileError, PlanRow};
use crate::s3::pacer::PacerConfig;
use crate::s3::retry::BackoffConfig;
use actions::{Action, Op, Tuning};
use journal::JournalError;
use metrics::ApplyMetrics;

/// apply's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors that stop apply before or while it runs (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan could not be read or its `plan_id` does not match.
    #[error(transparent)]
    Plan(#[from] PlanFileError),
    /// Rows apply cannot execute.
    #[error("invalid plan `{}`: {}", path.display(), problems.join("; "))]
    InvalidPlan {
        /// The plan.
        path: PathBuf,
        /// The first problems found.
        problems: Vec<String>,
    },
    /// Actions outside the allow-list.
    #[error("refusing to run: {count} action(s) touch objects outside the allow-list ({allowed}); first: `s3://{first}`")]
    NotAllowed {
        /// How many.
        count: usize,
        /// The first such object.
        first: String,
        /// The allow-list.
        allowed: String,
    },
    /// `--execute` without an allow-list.
    #[error("refusing to `--execute` without an allow-list: pass `--allow-bucket BUCKET[/PREFIX]` for each bucket the plan may touch")]
    NoAllowList,
    /// A flag value.
    #[error("invalid `{flag}`: {reason}")]
    InvalidArg {
        /// The flag.
        flag: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Another apply holds this plan's journal.
    #[error(transparent)]
    Locked(#[from] lock::LockError),
    /// Files.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// How to run (the CLI flags, not yet validated), in groups: what to act on, how fast, how
/// much this run may do, how S3 calls are retried, multipart copies, restores, and where the
/// run's records go. Each group validates its own flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The plan file.
    pub plan: PathBuf,
    /// Act instead of printing.
    pub execute: bool,
    /// Allowed `bucket` or `bucket/prefix` entries.
    pub allow: Vec<String>,
    /// S3 path-style addressing.
    pub path_style: bool,
    /// `--noncurrent-expiration`: the `NoncurrentDays` of the rule to put in place in
    /// versioned buckets (`plan.noncurrent_days`); `None`: not asked.
    pub noncurrent_expiration: Option<u32>,
    /// Concurrency and request rate.
    pub pace: Pace,
    /// How much one run may start.
    pub limits: Limits,
    /// Timeouts and backoff of S3 calls.
    pub retry: Retry,
    /// Multipart copies.
    pub multipart: Multipart,
    /// Restores of archived objects.
    pub restore: Restore,
    /// Journal, metrics and batch files.
    pub output: Output,
}

/// How fast apply acts.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// Actions in flight. Default 16.
    pub concurrency: Option<usize>,
    /// Request-rate cap.
    pub max_rps: Option<f64>,
    /// Floor of the adaptive rate.
    pub min_rps: Option<f64>,
}

impl Pace {
    /// Actions in flight: 1 to 1024, default 16.
    fn concurrency(&self) -> Result<usize> {
        let concurrency = self.concurrency.unwrap_or(16);
        if concurrency == 0 || concurrency > 1024 {
            return Err(Error::InvalidArg {
                flag: "--concurrency",
                reason: format!("expected 1 to 1024, got `{concurrency}`"),
            });
        }
        Ok(concurrency)
    }

    /// The adaptive rate, between a positive `--min-rps` (default 1/s) and `--max-rps`.
    fn pacer(&self) -> Result<PacerConfig> {
        if let Some(r) = self.max_rps {
            positive("--max-rps", Some(r), 1.0)?;
        }
        Ok(PacerConfig {
            max_rps: self.max_rps,
            min_rps: positive("--min-rps", self.min_rps, 1.0)?,
            ..PacerConfig::default()
        })
    }
}

/// How much one run may start; the rest is left for the next run.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Start at most this many actions.
    pub max_actions: Option<u64>,
    /// Start actions for at most this many bytes (`500GiB`).
    pub max_bytes: Option<String>,
}

impl Limits {
    /// `--max-bytes` in bytes (`None`: no limit).
    fn max_bytes(&self) -> Result<Option<u64>> {
        self.max_bytes
            .as_ref()
            .map(|_| size("--max-bytes", &self.max_bytes, 0))
            .transpose()
    }
}

/// Timeouts and backoff of S3 calls.
#[derive(Debug, Clone, Default)]
pub struct Retry {
    /// Per-attempt timeout in seconds.
    pub attempt_timeout: Option<f64>,
    /// Per-action retry budget in seconds.
    pub budget: Option<f64>,
    /// First backoff delay in ms.
    pub backoff_init_ms: Option<u64>,
    /// Largest backoff delay in ms.
    pub backoff_max_ms: Option<u64>,
}

impl Retry {
    /// The backoff between attempts (delays of at least 1 ms).
    fn backoff(&self) -> BackoffConfig {
        BackoffConfig {
            init: Duration::from_millis(self.backoff_init_ms.unwrap_or(100).max(1)),
            max: Duration::from_millis(self.backoff_max_ms.unwrap_or(20_000).max(1)),
            base: 3.0,
        }
    }

    /// The time budget of one action's retries. Default 10 min.
    fn budget(&self) -> Result<Duration> {
        let secs = positive("--retry-budget", self.budget, 600.0)?;
        Ok(Duration::from_secs_f64(secs))
    }

    /// The timeouts of one S3 call. Default 120 s per attempt.
    fn timeouts(&self) -> Result<crate::s3::Timeouts> {
        let attempt = positive("--attempt-timeout", self.attempt_timeout, 120.0)?;
        Ok(crate::s3::Timeouts {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs_f64(attempt),
        })
    }
}

/// Multipart copies (of objects CopyObject cannot copy in one request).
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    /// Multipart threshold (`5GiB`).
    pub threshold: Option<String>,
    /// Multipart part size (`512MiB`).
    pub part_size: Option<String>,
}

impl Multipart {
    /// The threshold (at most CopyObject's 5 GiB) and the part size (at least 1 byte).
    fn validate(&self) -> Result<(u64, u64)> {
        let threshold = size("--multipart-threshold", &self.threshold, 5 << 30)?;
        if threshold > actions::MAX_PART {
            return Err(Error::InvalidArg {
                flag: "--multipart-threshold",
                reason: "CopyObject copies at most 5 GiB".into(),
            });
        }
        let part_size = size("--part-size", &self.part_size, 512 << 20)?.max(1);
        Ok((threshold, part_size))
    }
}

/// Restores, for plan rows that carry no restore settings of their own.
#[derive(Debug, Clone, Default)]
pub struct Restore {
    /// Restore `Days`.
    pub days: Option<i32>,
    /// Default restore tier (`bulk`, `standard`, `expedited`).
    pub tier: Option<String>,
}

impl Restore {
    /// The tier, default Bulk.
    fn tier(&self) -> Result<Tier> {
        Ok(match self.tier.as_deref() {
            None => Tier::Bulk,
            Some(t) => match t.to_ascii_lowercase().parse::<RestoreTier>() {
                Ok(RestoreTier::Bulk) => Tier::Bulk,
                Ok(RestoreTier::Standard) => Tier::Standard,
                Ok(RestoreTier::Expedited) => Tier::Expedited,
                Err(_) => {
                    return Err(Error::InvalidArg {
                        flag: "--restore-tier",
                        reason: format!("expected bulk, standard or expedited, got `{t}`"),
                    })
                }
            },
        })
    }

    /// The `Days`, at least 1; default the plan's [`crate::plan::file::RESTORE_DAYS`].
    fn days(&self) -> Result<i32> {
        let days = self.days.unwrap_or(crate::plan::file::RESTORE_DAYS as i32);
        if days < 1 {
            return Err(Error::InvalidArg {
                flag: "--restore-days",
                reason: format!("expected at least 1, got `{days}`"),
            });
        }
        Ok(days)
    }
}

/// Where the run's records go.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Journal directory (default: `LAKE/_journal` for a plan in a lake, else `<plan dir>/journal`).
    pub journal_dir: Option<PathBuf>,
    /// When the journal is fsynced (default batched; the others for benchmarks).
    pub journal_fsync: journal::FsyncMode,
    /// Prometheus text file.
    pub metrics_file: Option<PathBuf>,
    /// Write S3 Batch Operations manifests here instead of acting.
    pub batch_manifest: Option<PathBuf>,
}

/// Validated run settings.
#[derive(Debug, Clone)]
struct Settings {
    concurrency: usize,
    max_bytes: Option<u64>,
    tuning: Tuning,
    timeouts: crate::s3::Timeouts,
    pacer: PacerConfig,
}

/// A size flag (`512MiB`, `5GiB`), `default` when not given.
fn size(flag: &'static str, v: &Option<String>, default: u64) -> Result<u64> {
    match v {
        None => Ok(default),
        Some(s) => parse_size(s).ok_or_else(|| Error::InvalidArg {
            flag,
            reason: format!("expected a size such as `512MiB` or `5GiB`, got `{s}`"),
        }),
    }
}

/// A positive finite number flag, `default` when not given.
fn positive(flag: &'static str, v: Option<f64>, default: f64) -> Result<f64> {
    let x = v.unwrap_or(default);
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::InvalidArg {
            flag,
            reason: format!("expected a positive number, got `{x}`"),
        })
    }
}

fn settings(o: &Options) -> Result<Settings> {
    let concurrency = o.pace.concurrency()?;
    let pacer = o.pace.pacer()?;
    let max_bytes = o.limits.max_bytes()?;
    let (multipart_threshold, part_size) = o.multipart.validate()?;
    Ok(Settings {
        concurrency,
        max_bytes,
        tuning: Tuning {
            multipart_threshold,
            part_size,
            retry_budget: o.retry.budget()?,
            backoff: o.retry.backoff(),
            restore_days: o.restore.days()?,
            restore_tier: o.restore.tier()?,
        },
        timeouts: o.retry.timeouts()?,
        pacer,
    })
}

/// The plan's actions (rows with `action` = `none` are not actions). Collects every problem.
pub fn plan_actions(rows: &[PlanRow]) -> std::result::Result<Vec<Action>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut lifecycle: HashMap<(&str, &str), &StorageClass> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let op = match (r.action, r.method) {
            (PlanAction::Keep, _) => continue,
            (PlanAction::Transition, Method::Copy) => Op::Copy,
            (PlanAction::Transition, Method::Lifecycle) => Op::Lifecycle,
            (PlanAction::Restore, _) => Op::Restore,
        };
        if r.bucket.is_empty() || r.key.is_empty() {
            problems.push(format!("row {i}: empty bucket or key"));
            continue;
        }
        let targets: &[StorageClass] = if op == Op::Lifecycle {
            StorageClass::LIFECYCLE_TARGETS
        } else {
            &StorageClass::MANAGED
        };
        if !targets.contains(&r.to_class) {
            let names: Vec<&str> = targets.iter().map(StorageClass::as_str).collect();
            problems.push(format!(
                "row {i}: `{}` is not a target class for {} (expected one of {})",
                r.to_class,
                op.as_str(),
                names.join(", ")
            ));
            continue;
        }
        if op == Op::Lifecycle {
            let valid_tag = !r.tier.is_empty()
                && r.tier.len() <= 256
                && r.tier
                    .chars()
                    .all(|c| c.is_alphanumeric() || " +-=._:/@".contains(c));
            if !valid_tag {
                problems.push(format!(
                    "row {i}: tier `{}` is not a valid tag value",
                    r.tier
                ));
                continue;
            }
            if let Some(prev) = lifecycle.insert((&r.bucket, &r.tier), &r.to_class) {
                if *prev != r.to_class {
                    problems.push(format!(
                        "row {i}: tier `{}` in bucket `{}` goes to both {prev} and {} (one lifecycle rule per tier)",
                        r.tier, r.bucket, r.to_class
                    ));
                    continue;
                }
            }
        }
        out.push(Action { i, op });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Whether `bucket/key` is inside one of the `bucket` or `bucket/prefix` entries.
pub fn allowed(allow: &[String], bucket: &str, key: &str) -> bool {
    allow_scope(allow, bucket, key).is_some()
}

/// The allow-list entry that lets apply touch `bucket`/`key`: `Some(None)` when the whole
/// bucket is allowed, `Some(Some(prefix))` (ending in `/`) when only a prefix is (the first
/// such entry), `None` when nothing allows it. A prefix entry is matched on `/` boundaries:
/// `b/blobs` (or `b/blobs/`) allows the key `blobs` and every key under `blobs/`, never
/// `blobsX`. Pure.
pub fn allow_scope(allow: &[String], bucket: &str, key: &str) -> Option<Option<String>> {
    let mut scoped = None;
    for a in allow {
        let a = a.strip_prefix("s3://").unwrap_or(a);
        let (b, prefix) = a.split_once('/').unwrap_or((a, ""));
        if b != bucket {
            continue;
        }
        let dir = prefix.trim_end_matches('/');
        if dir.is_empty() {
            return Some(None);
        }
        let under = key
            .strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if under && scoped.is_none() {
            scoped = Some(format!("{dir}/"));
        }
    }
    scoped.map(Some)
}

/// What apply did.
#[derive(Debug, Clone)]
pub enum Report {
    /// Printed what it would do.
    DryRun(DryRun),
    /// Executed.
    Executed(Box<ApplyMetrics>),
    /// Wrote S3 Batch Operations files.
    Batch(batch::BatchSummary),
}

impl Report {
    /// The JSON summary for stdout.
    pub fn summary(&self) -> serde_json::Value {
        let v = match self {
            Report::DryRun(d) => serde_json::to_value(d),
            Report::Executed(m) => serde_json::to_value(m),
            Report::Batch(b) => serde_json::to_value(b),
        };
        v.expect("summaries serialise")
    }

    /// Whether some actions failed permanently (exit 1).
    pub fn has_failures(&self) -> bool {
        matches!(self, Report::Executed(m) if !m.failures.is_empty())
    }
}

/// Where journals go by default: `LAKE/_journal/` for a plan inside a lake
/// (`LAKE/plan/as_of=DATE/plan.parquet`), whose partition `plan` replaces on a re-run;
/// otherwise `journal/` next to the plan file.
pub fn default_journal_dir(plan: &Path) -> PathBuf {
    let dir = plan.parent().unwrap_or(Path::new("."));
    let in_lake = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("as_of="))
        && dir
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "plan");
    match dir.parent().and_then(Path::parent) {
        Some(lake) if in_lake => lake.join("_journal"),
        _ => dir.join("journal"),
    }
}

/// The journal file of a plan run with `opts`.
pub fn journal_path(opts: &Options, plan_id: &str) -> PathBuf {
    let dir = opts
        .output
        .journal_dir
        .clone()
        .unwrap_or_else(|| default_journal_dir(&opts.plan));
    journal::path_for(&dir, plan_id)
}

/// Runs `apply`.
pub fn run(opts: &Options) -> Result<Report> {
    let settings = settings(opts)?;
    let rows = file::read_verified(&opts.plan)?;
    let plan_id = rows
        .first()
        .map(|r| r.plan_id.clone())
        .unwrap_or_else(|| file::plan_id(&rows));
    let acts = plan_actions(&rows).map_err(|mut problems| {
        let n = problems.len();
        problems.truncate(10);
        if n > 10 {
            problems.push(format!("and {} more", n - 10));
        }
        Error::InvalidPlan {
            path: opts.plan.clone(),
            problems,
        }
    })?;
    let outside: Vec<&PlanRow> = acts
        .iter()
        .map(|a| &rows[a.i])
        .filter(|r| !allowed(&opts.allow, &r.bucket, &r.key))
        .collect();
    if !opts.allow.is_empty() && !outside.is_empty() {
        return Err(Error::NotAllowed {
            count: outside.len(),
            first: format!("{}/{}", outside[0].bucket, outside[0].key),
            allowed: opts.allow.join(", "),
        });
    }
    let jpath = journal_path(opts, &plan_id);
    if let Some(dir) = &opts.output.batch_manifest {
        let s = batch::write(dir, &opts.plan, &plan_id, &rows, &acts)?;
        info!(dir = %dir.display(), "wrote S3 Batch Operations manifests");
        return Ok(Report::Batch(s));
    }
    if !opts.execute {
        return Ok(Report::DryRun(dry_run::dry_run(
            opts, &plan_id, &rows, &acts, &jpath,
        )?));
    }
    if opts.allow.is_empty() {
        return Err(Error::NoAllowList);
    }
    // Before the journal is read and before any S3 call; held to the last journal line.
    let lock = lock::acquire(&jpath)?;
    let m = execute::execute(opts, &settings, &plan_id, rows, acts, &jpath)?;
    drop(lock);
    Ok(Report::Executed(Box::new(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, action: &str, method: &str, to: &str) -> PlanRow {
        PlanRow {
            to_class: to.into(),
            tier: "cold".into(),
            action: action.parse().unwrap(),
            method: method.parse().unwrap(),
            ..crate::plan::file::testing::row(key)
        }
    }

    #[test]
    fn allow_list_matches_bucket_and_prefix() {
        let allow = vec!["reg".to_owned(), "other/blobs/".to_owned()];
        assert!(allowed(&allow, "reg", "any/key"));
        assert!(allowed(&allow, "other", "blobs/x"));
        assert!(!allowed(&allow, "other", "uploads/x"));
        assert!(!allowed(&allow, "reg2", "x"));
        assert!(!allowed(&[], "reg", "x"));
        assert!(allowed(&["s3://reg/a".to_owned()], "reg", "a/b"));
    }

    /// An allowed prefix ends on a `/` boundary: `b/blobs` allows `blobs` and `blobs/…`,
    /// never `blobsX`. See: issue 15.
    #[test]
    fn allow_list_prefixes_end_on_slash_boundaries() {
        let allow = vec!["b/blobs".to_owned()];
        assert!(allowed(&allow, "b", "blobs/sha256/ab/data"));
        assert!(allowed(&allow, "b", "blobs"));
        assert!(!allowed(&allow, "b", "blobsX/sha256/ab/data"));
        assert!(!allowed(&allow, "b", "blobsX"));
        let slash = vec!["b/blobs/".to_owned()];
        assert!(allowed(&slash, "b", "blobs/x"));
        assert!(!allowed(&slash, "b", "blobsX/x"));
        // `b/` is the whole bucket.
        assert!(allowed(&["b/".to_owned()], "b", "anything"));
    }

    #[test]
    fn plan_actions_checks_rows() {
        let rows = vec![
            row("k0", "transition", "copy", "STANDARD_IA"),
            row("k1", "none", "copy", "STANDARD"),
            row("k2", "transition", "lifecycle", "GLACIER_IR"),
            row("k3", "restore", "copy", "STANDARD"),
        ];
        let a = plan_actions(&rows).unwrap();
        assert_eq!(
            a.iter().map(|a| (a.i, a.op)).collect::<Vec<_>>(),
            vec![(0, Op::Copy), (2, Op::Lifecycle), (3, Op::Restore)]
        );
        let bad = vec![
            row("k0", "transition", "copy", "EXPRESS_ONEZONE"),
            row("k1", "transition", "lifecycle", "STANDARD"),
            row("k3", "transition", "lifecycle", "GLACIER"),
            row("k4", "transition", "lifecycle", "DEEP_ARCHIVE"),
        ];
        let p = plan_actions(&bad).unwrap_err();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[2].contains("goes to both"), "{p:?}");
    }

    /// The flag an invalid setting names.
    fn invalid_flag<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
        match r {
            Err(Error::InvalidArg { flag, .. }) => flag,
            other => panic!("expected an invalid flag, got {other:?}"),
        }
    }

    #[test]
    fn settings_validate_flags() {
        assert!(settings(&Options::default()).is_ok());
        let pace = Pace {
            concurrency: Some(0),
            ..Default::default()
        };
        assert_eq!(invalid_flag(pace.concurrency()), "--concurrency");
        let limits = Limits {
            max_bytes: Some("lots".into()),
            ..Default::default()
        };
        assert_eq!(invalid_flag(limits.max_bytes()), "--max-bytes");
        let multipart = Multipart {
            threshold: Some("6GiB".into()),
            ..Default::default()
        };
        assert_eq!(invalid_flag(multipart.validate()), "--multipart-threshold");
        // A group's error stops the whole run's settings.
        let o = Options {
            restore: Restore {
                days: Some(0),
                tier: None,
            },
            ..Default::default()
        };
        assert_eq!(invalid_flag(settings(&o)), "--restore-days");
    }
}
