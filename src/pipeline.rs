//! The stages in order on one lake: ingest → stats → plan → report. `blobtier run` (the
//! nightly job, [`crate::run`](mod@crate::run)) and `blobtier demo` ([`crate::demo`]) both run this one
//! function; they differ only in what they ingest, the windows, and whether the coverage
//! guard is on. [`coverage_guard`] is also the guard of a standalone `blobtier plan`.
//!
//! Invariants: each stage reads only what the stage before it published in the lake (the
//! stages exchange files, never values), so this function adds no behaviour of its own besides
//! the order, the coverage guard and the timings. It never prints: the commands layer
//! decides what goes to stdout. It takes no lock beyond each stage's own writer lock.

use std::time::Instant;

use chrono::NaiveDate;
use serde_json::json;

use crate::config::Config;
use crate::ingest::{IngestMetrics, IngestRequest};
use crate::lake::{Lake, LakeError};
use crate::plan::{CoverageHold, PlanSummary};
use crate::progress::stage;
use crate::report::ReportOutput;
use crate::stats::coverage::Coverage;
use crate::stats::StatsResult;
use crate::storage::Storage;

/// Pipeline errors: the stage that failed, as it reported it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Ingest.
    #[error(transparent)]
    Ingest(#[from] crate::ingest::Error),
    /// Stats.
    #[error(transparent)]
    Stats(#[from] crate::stats::Error),
    /// Coverage (reading the lake's partitions).
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// Plan.
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
    /// Report.
    #[error(transparent)]
    Report(#[from] crate::report::Error),
}

/// The coverage guard ([`coverage_guard`], the one `plan` applies too): days
/// without logs, or an inventory older than `run.max_inventory_age_days`, hold every move to
/// a cheaper class back.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// `--allow-gaps`: report the gaps, plan as if there were none.
    pub allow_gaps: bool,
}

/// The coverage guard of every plan made from fresh stats (`plan` and `run`): the log
/// coverage of the longest stats window (`run.windows`) and the inventory's age
/// (`run.max_inventory_age_days`), from [`crate::stats::coverage`]. Gaps hold every move to a
/// cheaper class back, unless `allow_gaps`, which plans as if there were none and says so.
pub fn coverage_guard(
    lake: &Lake,
    as_of: NaiveDate,
    cfg: &Config,
    allow_gaps: bool,
) -> Result<(Coverage, CoverageHold), LakeError> {
    let longest = cfg.run.windows.iter().copied().max().unwrap_or(90);
    let coverage = crate::stats::coverage::coverage(lake, as_of, longest)?;
    let hold = match coverage.hold_reason(cfg.run.max_inventory_age_days) {
        None => CoverageHold::none(),
        Some(why) if allow_gaps => {
            tracing::warn!(reason = %why, "coverage gaps ignored (--allow-gaps)");
            CoverageHold {
                held_down: None,
                gaps_allowed: Some(why),
            }
        }
        Some(why) => {
            tracing::error!(reason = %why, "coverage guard: the plan moves nothing to a cheaper class");
            CoverageHold {
                held_down: Some(why),
                gaps_allowed: None,
            }
        }
    };
    Ok((coverage, hold))
}

/// One pass of the pipeline.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who runs it (`run`, `demo`), for the log lines.
    pub name: &'static str,
    /// What to ingest.
    pub ingest: IngestRequest,
    /// The stats, plan and report day.
    pub as_of: NaiveDate,
    /// Stats window lengths in days.
    pub windows: Vec<u32>,
    /// The coverage guard, or `None` for none.
    pub guard: Option<Guard>,
}

/// What each stage returned.
#[derive(Debug)]
pub struct Outputs {
    /// Ingest metrics.
    pub ingest: IngestMetrics,
    /// Stats result.
    pub stats: StatsResult,
    /// Coverage of the longest window (with a guard only).
    pub coverage: Option<Coverage>,
    /// Why moves were held back, when the guard found gaps (even with `allow_gaps`).
    pub hold: Option<String>,
    /// Plan summary.
    pub plan: PlanSummary,
    /// The report written.
    pub report: ReportOutput,
}

/// Runs ingest → stats → plan → report on `lake`, adding each stage's seconds to `timings`
/// (in stage order, after what is already there).
pub fn run(
    lake: &Lake,
    storage: &Storage,
    cfg: &Config,
    req: &Request,
    timings: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Outputs, Error> {
    let as_of = req.as_of;
    let ingest = timed(timings, "ingest", || {
        crate::ingest::ingest(lake, &req.ingest, cfg, storage)
    })?;
    tracing::info!(
        files = ingest.files_read,
        skipped = ingest.files_skipped,
        pulls = ingest.totals.pulls,
        "{}: ingested",
        req.name
    );

    let stats_opts = crate::stats::StatsOptions {
        as_of,
        windows: req.windows.clone(),
        include_scanners: false,
        pull_source: cfg.ingest.pull_source,
    };
    let stats = timed_stage(
        timings,
        "stats",
        "digest_stats",
        || crate::stats::run_stats(lake, &stats_opts),
        |s| format!("{} digests", s.counts.rows),
    )?;

    let (coverage, guard) = match req.guard {
        None => (None, CoverageHold::none()),
        Some(guard) => {
            let (coverage, hold) = coverage_guard(lake, as_of, cfg, guard.allow_gaps)?;
            (Some(coverage), hold)
        }
    };
    let hold = guard.gaps().map(str::to_string);

    let plan = timed_stage(
        timings,
        "plan",
        "decisions and plan",
        || crate::plan::run_plan(lake, as_of, cfg, guard.clone()),
        |p| format!("{} of {} blobs move", p.totals.actions, p.totals.blobs),
    )?;

    let report_opts = crate::report::ReportOptions { as_of, out: None };
    let report = timed_stage(
        timings,
        "report",
        "dry-run cost report",
        || crate::report::run_report(lake, &report_opts, cfg),
        |r| format!("written to {}", r.dir.display()),
    )?;

    Ok(Outputs {
        ingest,
        stats,
        coverage,
        hold,
        plan,
        report,
    })
}

/// Runs one step and records its wall time in seconds under `name` in `timings` (the run
/// record's `timings`); a step that fails records nothing.
pub fn timed<T, E>(
    timings: &mut serde_json::Map<String, serde_json::Value>,
    name: &str,
    step: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let t = Instant::now();
    let out = step()?;
    timings.insert(name.into(), json!(t.elapsed().as_secs_f64()));
    Ok(out)
}

/// Runs one stage under a spinner ([`stage`]) and records its wall time under the same `name`
/// in `timings` ([`timed`]).
pub fn timed_stage<T, E>(
    timings: &mut serde_json::Map<String, serde_json::Value>,
    name: &'static str,
    message: &str,
    f: impl FnOnce() -> Result<T, E>,
    describe: impl FnOnce(&T) -> String,
) -> Result<T, E> {
    timed(timings, name, || stage(name, message, f, describe))
}
