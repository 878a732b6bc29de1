//! `apply --execute`: runs a validated plan's actions against S3 and returns the metrics.
//!
//! Order of a run: read the journal, append a `start` line, skip what earlier runs finished,
//! group the rest by object into chains (one key's actions run one after the other, in plan
//! order: single flight), run the chains on `concurrency` workers under the run's limits
//! (`--max-actions`, `--max-bytes`; a journal error stops starting actions), append an `end`
//! line with the metrics, write the Prometheus file.
//!
//! Invariants: an action an earlier run finished (`done` in the journal) is never started
//! again; a limit stops *starting* actions, never one under way; the journal is closed on every
//! path out of a run that opened it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::{error, info};

use super::actions::{self, Action, CopyScope, Ctx, LifecycleRules, Op, Step, WantedRule};
use super::journal::{self, History, Journal, Prior};
use super::metrics::{self, ApplyMetrics, Metrics, RunInfo};
use super::retry;
use super::{s3, Options, Result, Settings};
use crate::plan::file::PlanRow;
use crate::progress::Progress;
use crate::s3::pacer::Pacer;

/// Limits on what one run starts.
#[derive(Debug, Default)]
struct Limits {
    started: u64,
    bytes: u64,
    stopped_by: Option<&'static str>,
    not_started: usize,
}

impl Limits {
    /// Whether to start an action of `size` bytes. Once a journal error (`stopped`) or a limit
    /// has stopped the run, every later action is counted as not started.
    fn admit(
        &mut self,
        stopped: impl FnOnce() -> bool,
        size: u64,
        max_actions: Option<u64>,
        max_bytes: Option<u64>,
    ) -> bool {
        if self.stopped_by.is_none() && stopped() {
            self.stopped_by = Some("journal_error");
        }
        if self.stopped_by.is_none() && max_actions.is_some_and(|m| self.started >= m) {
            self.stopped_by = Some("max_actions");
        }
        if self.stopped_by.is_none() && max_bytes.is_some_and(|m| self.bytes + size > m) {
            self.stopped_by = Some("max_bytes");
        }
        if self.stopped_by.is_some() {
            self.not_started += 1;
            false
        } else {
            self.started += 1;
            self.bytes += size;
            true
        }
    }
}

/// What is left to do after earlier runs.
struct Pending {
    /// Actions an earlier run finished.
    done_before: usize,
    /// The other actions, one chain per object, in plan order.
    chains: Vec<Vec<Action>>,
    /// Their last journaled state, where an earlier run left one.
    priors: HashMap<usize, Prior>,
    /// bucket -> (tier, class, allowed prefix) of the lifecycle actions left.
    lifecycle_wanted: HashMap<String, Vec<WantedRule>>,
}

/// Skips what earlier runs finished and groups the rest by object so that one key's actions
/// run one after the other (single flight), in plan order. Lifecycle rules are wanted per
/// (tier, class) and scoped to the allow-list prefix of the rows (bucket-wide only when the
/// whole bucket is allowed).
fn pending(rows: &[PlanRow], acts: &[Action], history: &History, allow: &[String]) -> Pending {
    let mut p = Pending {
        done_before: 0,
        chains: Vec::new(),
        priors: HashMap::new(),
        lifecycle_wanted: HashMap::new(),
    };
    let mut chain_of: HashMap<(&str, &str), usize> = HashMap::new();
    for a in acts {
        let r = &rows[a.i];
        match history.actions.get(&a.i) {
            Some(Prior::Done(_)) => {
                p.done_before += 1;
                continue;
            }
            Some(prior) => {
                p.priors.insert(a.i, prior.clone());
            }
            None => {}
        }
        if a.op == Op::Lifecycle {
            let w = p.lifecycle_wanted.entry(r.bucket.clone()).or_default();
            let want = WantedRule {
                tier: r.tier.clone(),
                class: r.to_class.to_string(),
                prefix: super::allow_scope(allow, &r.bucket, &r.key).flatten(),
            };
            if !w.contains(&want) {
                w.push(want);
            }
        }
        let c = *chain_of
            .entry((r.bucket.as_str(), r.key.as_str()))
            .or_insert_with(|| {
                p.chains.push(Vec::new());
                p.chains.len() - 1
            });
        p.chains[c].push(*a);
    }
    p
}

/// The buckets the plan copies in (copies and restores, which copy back), each with the
/// allowed prefixes copied under and whether its rows name versions.
fn copy_scopes(rows: &[PlanRow], acts: &[Action], allow: &[String]) -> BTreeMap<String, CopyScope> {
    let mut out: BTreeMap<String, CopyScope> = BTreeMap::new();
    for a in acts.iter().filter(|a| a.op != Op::Lifecycle) {
        let r = &rows[a.i];
        let s = out.entry(r.bucket.clone()).or_default();
        let prefix = super::allow_scope(allow, &r.bucket, &r.key).flatten();
        if !s.prefixes.contains(&prefix) {
            s.prefixes.push(prefix);
        }
        s.plan_version_ids |= actions::planned_version(r).is_some();
    }
    out
}

/// Runs the plan's actions (`acts`, validated) and returns the metrics.
pub(super) fn execute(
    opts: &Options,
    s: &Settings,
    plan_id: &str,
    rows: Vec<PlanRow>,
    acts: Vec<Action>,
    jpath: &Path,
) -> Result<ApplyMetrics> {
    let t0 = Instant::now();
    let history = journal::load(jpath)?;
    if history.bad_lines > 0 {
        tracing::warn!(journal = %jpath.display(), lines = history.bad_lines, "ignoring journal lines that do not parse (cut by a crash?)");
    }
    let journal = Journal::open(jpath, opts.output.journal_fsync)?;
    let run_id = format!("{:016x}", retry::seed());
    journal.record(
        "start",
        serde_json::json!({
            "plan_id": plan_id,
            "plan": opts.plan.display().to_string(),
            "run": run_id,
            "pid": std::process::id(),
            "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "actions": acts.len(),
            "earlier_runs": history.runs,
        }),
    )?;

    let Pending {
        done_before,
        chains,
        priors,
        lifecycle_wanted,
    } = pending(&rows, &acts, &history, &opts.allow);
    let pending_work: usize = chains.iter().map(Vec::len).sum();
    info!(plan_id, actions = acts.len(), done_before, to_do = pending_work, journal = %jpath.display(), "apply starting");

    let metrics = Arc::new(Metrics::default());
    let pacer = Arc::new(Pacer::new(s.pacer));
    let rt = runtime()?;
    let limits = Arc::new(Mutex::new(Limits::default()));
    // Buckets with copies still to make; with `--noncurrent-expiration` every bucket the plan
    // copies in, so that a rerun puts a missing rule in place (a rerun with nothing to do and
    // nothing asked sends no request).
    let asked = opts.noncurrent_expiration.is_some();
    let to_check: Vec<Action> = acts
        .iter()
        .filter(|a| asked || !matches!(history.actions.get(&a.i), Some(Prior::Done(_))))
        .copied()
        .collect();
    let copy_scopes = copy_scopes(&rows, &to_check, &opts.allow);
    let (fatal, journal, versioning) = rt.block_on(async {
        let client = crate::s3::client::build(&crate::s3::ClientOptions {
            path_style: opts.path_style,
            timeouts: Some(s.timeouts),
        })
        .await;
        let ctx = Arc::new(Ctx {
            s3: s3::S3::new(client, Arc::clone(&pacer), Arc::clone(&metrics)),
            journal,
            metrics: Arc::clone(&metrics),
            tuning: s.tuning.clone(),
            rows: Arc::new(rows),
            lifecycle: LifecycleRules::new(lifecycle_wanted),
            fatal: Mutex::new(None),
        });
        let days = opts
            .noncurrent_expiration
            .map(|d| i32::try_from(d).unwrap_or(i32::MAX));
        let versioning = actions::check_versioning(&ctx, &copy_scopes, days).await;
        let progress = Progress::counter("apply", "actions", Some(pending_work as u64), true);
        let workers = Workers {
            ctx: Arc::clone(&ctx),
            chains: Arc::new(chains),
            priors: Arc::new(priors),
            next: Arc::new(AtomicUsize::new(0)),
            limits: Arc::clone(&limits),
            progress: progress.clone(),
            max_actions: opts.limits.max_actions,
            max_bytes: s.max_bytes,
        };
        workers.run(s.concurrency).await;
        let results: Vec<String> = metrics
            .results()
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        progress.finish(results.join(", "));
        let ctx =
            Arc::try_unwrap(ctx).unwrap_or_else(|_| unreachable!("every worker has finished"));
        let Ctx { journal, fatal, .. } = ctx;
        (
            fatal.into_inner().unwrap_or_else(|p| p.into_inner()),
            journal,
            versioning,
        )
    });
    drop(rt);
    if let Some(e) = fatal {
        let _ = journal.close();
        return Err(e.into());
    }
    let l = limits.lock().unwrap_or_else(|p| p.into_inner());
    let (throttles, _) = pacer.throttle_counts();
    let results = metrics.results();
    let info = RunInfo {
        plan: opts.plan.display().to_string(),
        plan_id: plan_id.to_owned(),
        run: run_id,
        execute: true,
        actions_in_plan: acts.len(),
        done_in_earlier_runs: done_before,
        not_started: l.not_started,
        stopped_by: l.stopped_by.map(str::to_owned),
        pending: results
            .get("pending:restore_in_progress")
            .copied()
            .unwrap_or(0) as usize,
        throttles,
        rate_limit_rps: pacer.limit(),
        duration_seconds: t0.elapsed().as_secs_f64(),
        finished_at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        journal: jpath.display().to_string(),
        journal_lines: 0,
        journal_fsyncs: 0,
        journal_fsync: opts.output.journal_fsync.as_str().to_owned(),
        journal_time: journal.stats(),
        journal_overhead: 0.0,
        journal_busy_share: 0.0,
        versioning,
    };
    let summary = finish(journal, &metrics, info)?;
    if let Some(p) = &opts.output.metrics_file {
        crate::io::atomic_write(p, metrics::prometheus(&summary).as_bytes())?;
    }
    log_failures(&summary.failures);
    info!(duration_s = summary.run.duration_seconds, results = ?summary.results, retries = ?summary.retries, "apply finished");
    Ok(summary)
}

/// The async runtime of one apply run: 2 to 4 worker threads (the work waits on S3).
fn runtime() -> Result<tokio::runtime::Runtime> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4);
    Ok(crate::s3::runtime(workers)?)
}

/// Logs the first 20 failed actions, and how many more there are (all are in the summary).
fn log_failures(failures: &[super::metrics::Failure]) {
    for f in failures.iter().take(20) {
        error!(i = f.i, action = %f.action, bucket = %f.bucket, key = %f.key, error_class = %f.error_class, error_code = %f.error_code, attempts = f.attempts, "action failed: {}", f.message);
    }
    if failures.len() > 20 {
        error!(
            more = failures.len() - 20,
            "more actions failed (all are in the JSON summary)"
        );
    }
}

/// Appends the `end` line (with the metrics so far), closes the journal and returns the
/// summary with the journal's own accounting filled in.
fn finish(journal: Journal, metrics: &Metrics, mut info: RunInfo) -> Result<ApplyMetrics> {
    let snapshot = metrics.snapshot(info.clone());
    journal.record(
        "end",
        serde_json::json!({
            "run": info.run,
            "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "metrics": snapshot,
        }),
    )?;
    let stats = journal.close()?;
    info.journal_lines = stats.lines;
    info.journal_fsyncs = stats.fsyncs;
    info.journal_time = stats;
    let mut summary = metrics.snapshot(info);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    summary.run.journal_overhead =
        ratio(stats.action_record_seconds, summary.duration_histogram.sum);
    summary.run.journal_busy_share = ratio(stats.busy_seconds(), summary.run.duration_seconds);
    Ok(summary)
}

/// What every worker shares: the chains, a cursor into them, and the run's limits.
#[derive(Clone)]
struct Workers {
    ctx: Arc<Ctx>,
    chains: Arc<Vec<Vec<Action>>>,
    priors: Arc<HashMap<usize, Prior>>,
    next: Arc<AtomicUsize>,
    limits: Arc<Mutex<Limits>>,
    progress: Progress,
    max_actions: Option<u64>,
    max_bytes: Option<u64>,
}

impl Workers {
    /// Runs every chain on at most `concurrency` tasks, each taking the next chain when it is
    /// done with one; returns when all have finished.
    async fn run(self, concurrency: usize) {
        let tasks: Vec<_> = (0..concurrency.min(self.chains.len().max(1)))
            .map(|_| tokio::spawn(self.clone().work()))
            .collect();
        drop(self);
        for t in tasks {
            if let Err(e) = t.await {
                error!(error = %e, "an apply worker panicked");
            }
        }
    }

    async fn work(self) {
        loop {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(chain) = self.chains.get(c) else {
                break;
            };
            for a in chain {
                let size = self.ctx.rows[a.i].size.max(0) as u64;
                let go = self.limits.lock().unwrap_or_else(|p| p.into_inner()).admit(
                    || self.ctx.stopped(),
                    size,
                    self.max_actions,
                    self.max_bytes,
                );
                if go {
                    let _: Step = actions::run(&self.ctx, *a, self.priors.get(&a.i)).await;
                    self.progress.inc(1);
                    self.progress.add_bytes(size);
                }
            }
        }
    }
}
