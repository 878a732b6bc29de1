//! Report: the dry-run cost report of a plan, for a proposal a finance reviewer can check and a
//! manager can read in a minute.
//!
//! `blobtier report --as-of D` reads the plan's tables for D (`decisions`, `plan.summary.json`,
//! `digest_stats`, the `_ledger` and the latest backtest on or before D) and writes one directory,
//! `reports/as_of=D/` (or `--out`), staged and renamed into place ([`crate::lake::write_dir`]):
//! - `summary.json`: every figure of the report ([`Summary`]);
//! - `report.html`: one self-contained page (inline CSS and SVG, no scripts, nothing fetched);
//! - `report.md` plus the charts as `.svg` files beside it.
//!
//! The parts, in the order a report is made: [`read`] (the tables), [`mod@summarize`] (every
//! figure, into the types of [`summary`]), [`document`] (the text, once) rendered by [`html`]
//! and [`markdown`], with [`charts`] and [`mod@format`] (numbers for people).
//!
//! Invariants:
//! - every number in the HTML, the Markdown and the charts comes from [`Summary`], which is
//!   computed by [`summarize()`], a pure function of the tables; the renderers do no
//!   arithmetic beyond formatting;
//! - money sums are over the unrounded per-blob amounts of `decisions`; the headline is the
//!   plan's own numbers, never re-priced. Only the Intelligent-Tiering alternative and the
//!   split of one-time costs into their parts use the cost model ([`crate::cost`]);
//! - the report never changes the lake's tables; it only replaces its own output directory.
//!
//! The backtest ([`backtest`]: its figures, the replay of real pulls against a past plan, and
//! reading the latest one) is shown in the report; running one, which runs `stats` and `plan`
//! in a scratch lake, is a job above the stages ([`crate::backtest`]). See `docs/report.md`.

pub mod backtest;
pub mod charts;
pub mod document;
pub mod format;
pub mod html;
pub mod markdown;
pub mod read;
pub mod realized;
pub mod sources;
pub mod summarize;
pub mod summary;

use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::PolarsError;
use serde::Serialize;

use crate::config::Config;
use crate::cost::Prices;
use crate::io::{IoContext, IoError};
use crate::lake::{Lake, LakeError};
use crate::plan::file::PlanRow;

pub use format::{bytes, count, days, money, percent};
pub use read::{ledger_rejects, read_decisions, read_stats, LedgerRejects, StatRow};
pub use summarize::{summarize, Inputs};
pub use summary::*;

/// Version of `summary.json` and `backtest.json`.
pub const FORMAT_VERSION: u32 = 1;

/// Months shown in the cumulative-savings chart.
pub const CUMULATIVE_MONTHS: u32 = 24;

/// Moves listed under "top moves".
pub const TOP_MOVES: usize = 15;

/// Report errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Lake IO or lock.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// File system.
    #[error(transparent)]
    Io(#[from] IoError),
    /// No plan for as-of.
    #[error("no plan for {0} in the lake: run `blobtier stats --as-of {0}` and `blobtier plan --as-of {0}` first")]
    NoPlan(NaiveDate),
    /// A table could not be read.
    #[error("failed to read `{}`", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: PolarsError,
    },
    /// A table or file has an unexpected shape.
    #[error("`{}` is not a valid {what}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it should have been.
        what: &'static str,
        /// Why it is not.
        reason: String,
    },
    /// The configured prices differ from the ones the plan was made with.
    #[error("the plan for {as_of} was priced with `{plan}` but the config prices with `{config}`: re-run `blobtier plan --as-of {as_of}` or use the plan's pricing")]
    PricingChanged {
        /// As-of.
        as_of: NaiveDate,
        /// The plan's region and price date.
        plan: String,
        /// The config's.
        config: String,
    },
    /// A chart could not be drawn.
    #[error("failed to draw chart `{chart}`: {reason}")]
    Chart {
        /// The chart's file name.
        chart: &'static str,
        /// The plotting library's message.
        reason: String,
    },
    /// Plan (pricing).
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Options of `blobtier report`.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The plan's as-of day.
    pub as_of: NaiveDate,
    /// Output directory (default `LAKE/reports/as_of=DATE/`); replaced as a whole.
    pub out: Option<PathBuf>,
}

/// What `report` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReportOutput {
    /// The output directory.
    pub dir: PathBuf,
    /// Files in it.
    pub files: Vec<String>,
    /// Headline figures.
    pub headline: Headline,
    /// Data-quality warnings.
    pub warnings: Vec<String>,
}

/// Reads the plan of `opts.as_of` and writes the report.
pub fn run_report(lake: &Lake, opts: &ReportOptions, cfg: &Config) -> Result<ReportOutput> {
    let as_of = opts.as_of;
    let prices = crate::plan::load_prices(cfg)?;
    let lock = lake.lock()?;
    lake.recover(&lock)?;
    let root = lake.root();
    let decisions = root.join(format!("decisions/as_of={as_of}/part-0.parquet"));
    let summary_path = root.join(format!("plan/as_of={as_of}/plan.summary.json"));
    let stats_dir = root.join(format!("digest_stats/as_of={as_of}"));
    if !decisions.is_file() || !summary_path.is_file() || !stats_dir.is_dir() {
        return Err(Error::NoPlan(as_of));
    }
    let text = fs::read(&summary_path).at("failed to read", &summary_path)?;
    let plan_summary: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| Error::Invalid {
            path: summary_path.clone(),
            what: "plan summary",
            reason: e.to_string(),
        })?;
    check_pricing(&plan_summary, &prices, as_of)?;
    // The plan priced every blob at its class's marginal rate at the volume before the plan.
    let volumes = crate::plan::volumes::read_summary(&plan_summary);
    let prices = prices.at_volumes(crate::plan::volumes::volumes_now(&volumes));
    let rows = read_decisions(&decisions)?;
    check_plan_id(&rows, &plan_summary, &decisions)?;
    let days_in_class = read::read_days_in_class(&decisions)?;
    let stats = read_stats(&stats_dir)?;
    let window = cfg.run.windows.iter().copied().max().unwrap_or(90);
    let coverage = crate::stats::coverage::coverage(lake, as_of, window)?;
    let from = as_of - chrono::Duration::days(i64::from(window) - 1);
    let rejects = ledger_rejects(lake, from, as_of, coverage.inventory_snapshot)?;
    let bt = backtest::latest(lake, as_of)?;
    let mut summary = summarize(&Inputs {
        as_of,
        rows: &rows,
        days_in_class: &days_in_class,
        stats: &stats,
        plan_summary: &plan_summary,
        prices: &prices,
        cfg: &cfg.plan,
        coverage: &coverage,
        max_inventory_age_days: cfg.run.max_inventory_age_days,
        rejects,
        backtest: bt,
    });
    summary.sources = sources::read(root, &stats_dir, as_of, &rows)?;
    let charts = charts::render_all(&summary)?;
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "summary.json".into(),
            serde_json::to_vec_pretty(&summary).expect("summary serialises"),
        ),
        (
            "report.html".into(),
            html::render(&summary, &charts).into_bytes(),
        ),
        (
            "report.md".into(),
            markdown::render(&summary, &charts).into_bytes(),
        ),
    ];
    for c in &charts {
        files.push((c.file.to_string(), c.svg.clone().into_bytes()));
    }
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| root.join(format!("reports/as_of={as_of}")));
    crate::lake::write_dir(&dir, &files, Some("report:publishing"))?;
    drop(lock);
    for w in &summary.data_quality.warnings {
        tracing::warn!(warning = %w, "report data quality");
    }
    tracing::info!(dir = %dir.display(), actions = summary.headline.actions, "wrote report");
    Ok(ReportOutput {
        dir,
        files: files.into_iter().map(|(n, _)| n).collect(),
        headline: summary.headline.clone(),
        warnings: summary.data_quality.warnings.clone(),
    })
}

fn check_pricing(ps: &serde_json::Value, prices: &Prices, as_of: NaiveDate) -> Result<()> {
    let plan = format!(
        "{} {}",
        ps["pricing_region"].as_str().unwrap_or("?"),
        ps["pricing_as_of"].as_str().unwrap_or("?")
    );
    let config = format!("{} {}", prices.region(), prices.as_of());
    if plan != config {
        return Err(Error::PricingChanged {
            as_of,
            plan,
            config,
        });
    }
    Ok(())
}

/// The actions in `decisions` must hash to the plan's id: the report describes that plan.
fn check_plan_id(rows: &[PlanRow], ps: &serde_json::Value, path: &Path) -> Result<()> {
    let actions: Vec<PlanRow> = rows
        .iter()
        .filter(|r| r.action != crate::model::Action::Keep)
        .cloned()
        .collect();
    let computed = crate::plan::file::plan_id(&actions);
    let stored = ps["plan_id"].as_str().unwrap_or_default();
    if computed != stored || rows.iter().any(|r| r.plan_id != stored) {
        return Err(Error::Invalid {
            path: path.to_owned(),
            what: "decisions table",
            reason: format!(
                "its actions hash to {computed}, not to the plan's {stored}: the table was \
                 modified or belongs to another plan run"
            ),
        });
    }
    Ok(())
}
