//! The backtest job (`blobtier backtest`): would the policy have paid off? Decide as of
//! `as_of − horizon` using only data up to that day, then replay the next `horizon` days of
//! real pulls against the decisions.
//!
//! Why a module of its own, above the stages: a backtest *runs* `stats` and `plan`, and a stage
//! must not run other stages (the dependency direction, `ARCHITECTURE.md`). So the job sits
//! beside `run` and `demo`, the commands layer calls it, and the report only reads what it
//! wrote: the figures, the replay arithmetic and reading a backtest back belong to
//! [`crate::report::backtest`], which runs nothing.
//!
//! The decision is made by the real `stats` and `plan` code, in a scratch lake under
//! `LAKE/_scratch/backtest-<id>/` that holds hard links to the lake's `pulls` and
//! `manifest_pulls` partitions up to as-of, its inventory snapshots up to the decision day and
//! its `_ledger`. The lake's own `digest_stats`, `decisions` and `plan` partitions are never
//! touched, and the scratch lake is removed afterwards (also on errors). `stats` never reads
//! pulls after its as-of, so the decision cannot see the replay window.
//!
//! Output: `LAKE/backtests/as_of=DATE/backtest.json` ([`Backtest`]), written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::config::Config;
use crate::io::{IoContext, IoError};
use crate::lake::{Lake, LakeError};
use crate::report::backtest::{replay, replay_pulls, Backtest, BacktestCoverage, Decisions};
use crate::report::read_decisions;

/// Backtest errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad `--horizon-days`.
    #[error("invalid `--horizon-days`: expected 1 to 366, got `{0}`")]
    BadHorizon(u32),
    /// File system (linking the scratch lake, writing `backtest.json`).
    #[error(transparent)]
    Io(#[from] IoError),
    /// A stage of the decision day (the lake, stats, plan, or reading their outputs back), as
    /// the pipeline reports it.
    #[error(transparent)]
    Stage(#[from] crate::pipeline::Error),
}

/// A stage's error is a [`Error::Stage`].
macro_rules! from_stage {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Stage(e.into())
            }
        }
    )*};
}
from_stage!(
    LakeError,
    crate::stats::Error,
    crate::plan::Error,
    crate::report::Error
);

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Options of `blobtier backtest`.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// Last day of the replay.
    pub as_of: NaiveDate,
    /// Days replayed (1 to 366).
    pub horizon_days: u32,
}

/// The scratch lake; removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        if let Some(parent) = self.dir.parent() {
            // Only succeeds when no other backtest is running.
            let _ = fs::remove_dir(parent);
        }
    }
}

/// Hard-links (or, across file systems, copies) every file under `src` into `dst`.
fn link_all(src: &Path, dst: &Path) -> Result<u64> {
    let mut n = 0;
    fs::create_dir_all(dst).at("failed to create", dst)?;
    for e in fs::read_dir(src).at("failed to list", src)? {
        let e = e.at("failed to list", src)?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if from.is_dir() {
            n += link_all(&from, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).at("failed to copy", &from)?;
            n += 1;
        } else {
            n += 1;
        }
    }
    Ok(n)
}

/// Links the partitions `<key>=DATE` of `table` whose day satisfies `keep` into `scratch`.
fn link_table(
    lake: &Lake,
    scratch: &Path,
    table: &str,
    key: &str,
    keep: impl Fn(NaiveDate) -> bool,
) -> Result<u64> {
    let mut n = 0;
    for (day, dir) in lake.partitions(table, key)? {
        if keep(day) && dir.is_dir() {
            let name = dir.file_name().expect("a partition directory has a name");
            n += link_all(&dir, &scratch.join(table).join(name))?;
        }
    }
    Ok(n)
}

/// Fills a scratch lake with links to what a decision on `day0` may see (see the module docs).
fn link_scratch(lake: &Lake, scratch: &Path, as_of: NaiveDate, day0: NaiveDate) -> Result<()> {
    // A consistent view of the lake while linking it.
    let lock = lake.lock()?;
    lake.recover(&lock)?;
    link_table(lake, scratch, "pulls", "date", |d| d <= as_of)?;
    link_table(lake, scratch, "manifest_pulls", "date", |d| d <= as_of)?;
    link_table(lake, scratch, "inventory", "snapshot", |d| d <= day0)?;
    let ledger = lake.root().join("_ledger");
    if ledger.is_dir() {
        link_all(&ledger, &scratch.join("_ledger"))?;
    }
    Ok(())
}

/// Runs the backtest and writes `backtests/as_of=DATE/backtest.json`.
pub fn run_backtest(lake: &Lake, opts: &BacktestOptions, cfg: &Config) -> Result<Backtest> {
    if opts.horizon_days == 0 || opts.horizon_days > 366 {
        return Err(Error::BadHorizon(opts.horizon_days));
    }
    let as_of = opts.as_of;
    let day0 = as_of - chrono::Duration::days(i64::from(opts.horizon_days));
    let prices = crate::plan::load_prices(cfg)?;
    let restore_tier = cfg.plan.restore_tier;
    let scratch = Scratch {
        dir: lake
            .root()
            .join("_scratch")
            .join(crate::lake::stage_run_id("backtest")),
    };
    link_scratch(lake, &scratch.dir, as_of, day0)?;
    let work = Lake::open(&scratch.dir)?;
    crate::stats::run_stats(
        &work,
        &crate::stats::StatsOptions {
            as_of: day0,
            windows: cfg.run.windows.clone(),
            include_scanners: false,
            pull_source: cfg.ingest.pull_source,
        },
    )?;
    let plan = crate::plan::run_plan(&work, day0, cfg, crate::plan::CoverageHold::none())?;
    // Replayed at the marginal storage rates the plan priced its blobs at.
    let prices = prices.at_volumes(crate::plan::volumes::volumes_now(&plan.storage_volumes));
    let rows = read_decisions(
        &scratch
            .dir
            .join(format!("decisions/as_of={day0}/part-0.parquet")),
    )?;
    let window = cfg.run.windows.iter().copied().max().unwrap_or(90);
    let cov_decision = crate::stats::coverage::coverage(&work, day0, window)?;
    let cov_replay = crate::stats::coverage::coverage(&work, as_of, opts.horizon_days)?;
    let pulls = replay_pulls(&work, day0, as_of)?;
    let (decisions, replay, one_time_cost, predicted, realised_savings, top_misses) =
        replay(&prices, restore_tier, &rows, &pulls, opts.horizon_days);
    drop(work);
    drop(scratch);

    let days = |v: &[NaiveDate]| v.iter().map(|d| d.to_string()).collect::<Vec<_>>();
    let coverage = BacktestCoverage {
        decision_missing_days: days(&cov_decision.missing_days),
        replay_missing_days: days(&cov_replay.missing_days),
        inventory_snapshot: cov_decision.inventory_snapshot.map(|d| d.to_string()),
    };
    let warnings = warnings(&coverage, &decisions);
    let bt = Backtest {
        v: crate::report::FORMAT_VERSION,
        as_of: as_of.to_string(),
        decision_day: day0.to_string(),
        horizon_days: opts.horizon_days,
        plan_id: plan.plan_id,
        pricing_region: plan.pricing_region,
        pricing_as_of: plan.pricing_as_of,
        estimator: plan.estimator.to_string(),
        decisions,
        replay,
        one_time_cost,
        predicted_savings: predicted,
        realised_savings,
        coverage,
        top_misses,
        warnings,
    };
    let out = lake
        .root()
        .join(format!("backtests/as_of={as_of}/backtest.json"));
    crate::io::atomic_write(
        &out,
        &serde_json::to_vec_pretty(&bt).expect("backtest serialises"),
    )?;
    tracing::info!(path = %out.display(), actions = bt.decisions.actions, pulls_on_moved = bt.replay.pulls_on_moved, "wrote backtest");
    Ok(bt)
}

/// What limits a backtest's result.
fn warnings(coverage: &BacktestCoverage, decisions: &Decisions) -> Vec<String> {
    let mut warnings = Vec::new();
    if !coverage.decision_missing_days.is_empty() {
        warnings.push(format!(
            "{} day(s) before the decision day have no logs: the plan was made on incomplete \
             data (the nightly job would have held moves back)",
            coverage.decision_missing_days.len()
        ));
    }
    if !coverage.replay_missing_days.is_empty() {
        warnings.push(format!(
            "{} day(s) of the replay window have no logs: pulls on those days are missing, so \
             the realised savings are overstated",
            coverage.replay_missing_days.len()
        ));
    }
    if coverage.inventory_snapshot.is_none() {
        warnings.push("no inventory snapshot on or before the decision day".into());
    }
    if decisions.actions == 0 {
        warnings.push("the plan of the decision day moves nothing".into());
    }
    warnings
}
