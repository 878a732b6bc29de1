//! Report: the dry-run cost report of a plan, for a proposal a finance reviewer can check and a
//! manager can read in a minute.
//!
//! `blobtier report --as-of D` reads the plan's tables for D (`decisions`, `plan.summary.json`,
//! `digest_stats`, the `_ledger` and the latest backtest on or before D) and writes one directory,
//! `reports/as_of=D/` (or `--out`), staged and renamed into place:
//! - `summary.json`: every figure of the report ([`Summary`]);
//! - `report.html`: one self-contained page (inline CSS and SVG, no scripts, nothing fetched);
//! - `report.md` plus the charts as `.svg` files beside it.
//!
//! Invariants:
//! - every number in the HTML, the Markdown and the charts comes from [`Summary`], which is
//!   computed by [`summarize`], a pure function of the tables; the renderers do no arithmetic
//!   beyond formatting;
//! - money sums are over the unrounded per-blob amounts of `decisions`; the headline is the
//!   plan's own numbers, never re-priced. Only the Intelligent-Tiering alternative and the
//!   split of one-time costs into their parts use the cost model ([`crate::cost`]);
//! - the report never changes the lake's tables; it only replaces its own output directory.
//!
//! The backtest ([`backtest`]) replays real pulls after a past plan; see `docs/report.md`.

pub mod backtest;
pub mod charts;
pub mod document;
pub mod html;
pub mod markdown;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{Config, MoveMethod, PlanConfig};
use crate::cost::{self, Prices, StorageClass};
use crate::io::{IoContext, IoError};
use crate::lake::{Lake, LakeError};
use crate::plan::file::PlanRow;
use crate::stats::coverage::Coverage;

/// Version of `summary.json` and `backtest.json`.
pub const FORMAT_VERSION: u32 = 1;

/// Months shown in the cumulative-savings chart.
pub const CUMULATIVE_MONTHS: u32 = 24;

/// Moves listed under "top moves".
pub const TOP_MOVES: usize = 15;

/// Report and backtest errors.
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
    /// Bad `--horizon-days`.
    #[error("invalid `--horizon-days`: expected 1 to 366, got `{0}`")]
    BadHorizon(u32),
    /// Stats (backtest).
    #[error(transparent)]
    Stats(#[from] crate::stats::Error),
    /// Plan (backtest, pricing).
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// Reading the lake's tables

/// Reads one Parquet file or a directory glob into a frame.
pub(crate) fn read_parquet(path: &Path, glob: Option<&str>) -> Result<DataFrame> {
    let p = match glob {
        Some(g) => format!("{}/{g}", path.display()),
        None => path.display().to_string(),
    };
    LazyFrame::scan_parquet(PlRefPath::new(p.as_str()), ScanArgsParquet::default())
        .and_then(|lf| lf.collect())
        .map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })
}

/// Typed column access with errors that name the file and the column.
struct Cols<'a> {
    df: &'a DataFrame,
    path: &'a Path,
    what: &'static str,
}

impl Cols<'_> {
    fn bad(&self, reason: String) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            what: self.what,
            reason,
        }
    }

    fn cast(&self, n: &str, t: &DataType) -> Result<Column> {
        let c = self
            .df
            .column(n)
            .map_err(|_| self.bad(format!("missing column `{n}`")))?;
        c.cast(t)
            .map_err(|e| self.bad(format!("column `{n}`: {e}")))
    }

    fn has(&self, n: &str) -> bool {
        self.df.column(n).is_ok()
    }

    fn str(&self, n: &str) -> Result<StringChunked> {
        let c = self.cast(n, &DataType::String)?;
        Ok(c.str().map_err(|e| self.bad(e.to_string()))?.clone())
    }

    fn f64(&self, n: &str) -> Result<Float64Chunked> {
        let c = self.cast(n, &DataType::Float64)?;
        Ok(c.f64().map_err(|e| self.bad(e.to_string()))?.clone())
    }

    fn i64(&self, n: &str) -> Result<Int64Chunked> {
        let c = self.cast(n, &DataType::Int64)?;
        Ok(c.i64().map_err(|e| self.bad(e.to_string()))?.clone())
    }

    fn i32(&self, n: &str) -> Result<Int32Chunked> {
        let c = self.cast(n, &DataType::Int32)?;
        Ok(c.i32().map_err(|e| self.bad(e.to_string()))?.clone())
    }

    fn bool(&self, n: &str) -> Result<BooleanChunked> {
        let c = self.cast(n, &DataType::Boolean)?;
        Ok(c.bool().map_err(|e| self.bad(e.to_string()))?.clone())
    }
}

/// Reads a `decisions` (or `plan.parquet`) file into rows, without checking `plan_id`
/// (`decisions` carries the id of its actions, not of all its rows).
pub fn read_decisions(path: &Path) -> Result<Vec<PlanRow>> {
    let df = read_parquet(path, None)?;
    let c = Cols {
        df: &df,
        path,
        what: "decisions table",
    };
    let (plan_id, bucket, key, version, etag, digest) = (
        c.str("plan_id")?,
        c.str("bucket")?,
        c.str("key")?,
        c.str("version_id")?,
        c.str("etag")?,
        c.str("digest")?,
    );
    let (from, to, tier, action, method, reason) = (
        c.str("from_class")?,
        c.str("to_class")?,
        c.str("tier")?,
        c.str("action")?,
        c.str("method")?,
        c.str("reason")?,
    );
    let (as_of, size) = (c.i32("as_of")?, c.i64("size")?);
    let (expected, now, after, one_time, payback, net) = (
        c.f64("expected_pulls_30d")?,
        c.f64("monthly_cost_now")?,
        c.f64("monthly_cost_after")?,
        c.f64("one_time_cost")?,
        c.f64("payback_days")?,
        c.f64("net_savings_12m")?,
    );
    let s = |a: &StringChunked, i: usize| a.get(i).unwrap_or_default().to_string();
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        rows.push(PlanRow {
            plan_id: s(&plan_id, i),
            as_of: as_of.get(i).unwrap_or_default(),
            bucket: s(&bucket, i),
            key: s(&key, i),
            version_id: version.get(i).map(str::to_string),
            etag: etag.get(i).map(str::to_string),
            size: size.get(i).unwrap_or_default(),
            digest: s(&digest, i),
            from_class: s(&from, i),
            to_class: s(&to, i),
            tier: s(&tier, i),
            action: s(&action, i),
            method: s(&method, i),
            reason: s(&reason, i),
            expected_pulls_30d: expected.get(i).unwrap_or_default(),
            monthly_cost_now: now.get(i).unwrap_or_default(),
            monthly_cost_after: after.get(i).unwrap_or_default(),
            one_time_cost: one_time.get(i).unwrap_or_default(),
            payback_days: payback.get(i),
            net_savings_12m: net.get(i).unwrap_or_default(),
        });
    }
    Ok(rows)
}

/// The `digest_stats` columns the report uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatRow {
    /// Digest.
    pub digest: String,
    /// Bucket (None when not in the inventory).
    pub bucket: Option<String>,
    /// Key.
    pub key: Option<String>,
    /// In the inventory snapshot.
    pub in_inventory: bool,
    /// Bytes.
    pub size: Option<i64>,
    /// Days since last modification.
    pub age_days: Option<i64>,
    /// Pulls in 7 days.
    pub pulls_7d: i64,
    /// Pulls in 30 days.
    pub pulls_30d: i64,
    /// Distinct clients in 30 days (None when 30 is not a stats window).
    pub unique_clients_30d: Option<i64>,
    /// `unique_clients_30d / pulls_30d`.
    pub unique_pull_ratio_30d: Option<f64>,
    /// Days since the last pull.
    pub days_since_last_pull: Option<i64>,
    /// Repositories whose manifests reach the blob (None: no image graph, or stats written
    /// before it existed).
    pub ref_repos: Option<i64>,
}

/// Reads `digest_stats/as_of=D/`.
pub fn read_stats(dir: &Path) -> Result<Vec<StatRow>> {
    let df = read_parquet(dir, Some("*.parquet"))?;
    let c = Cols {
        df: &df,
        path: dir,
        what: "digest_stats partition",
    };
    let (digest, bucket, key) = (c.str("digest")?, c.str("bucket")?, c.str("key")?);
    let in_inv = c.bool("in_inventory")?;
    let (size, age, p7, p30, since) = (
        c.i64("size")?,
        c.i64("age_days")?,
        c.i64("pulls_7d")?,
        c.i64("pulls_30d")?,
        c.i64("days_since_last_pull")?,
    );
    let uniq = if c.has("unique_clients_30d") {
        Some(c.i64("unique_clients_30d")?)
    } else {
        None
    };
    let ratio = if c.has("unique_pull_ratio_30d") {
        Some(c.f64("unique_pull_ratio_30d")?)
    } else {
        None
    };
    let ref_repos = if c.has("ref_repos") {
        Some(c.i64("ref_repos")?)
    } else {
        None
    };
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        out.push(StatRow {
            ref_repos: ref_repos.as_ref().and_then(|r| r.get(i)),
            digest: digest.get(i).unwrap_or_default().to_string(),
            bucket: bucket.get(i).map(str::to_string),
            key: key.get(i).map(str::to_string),
            in_inventory: in_inv.get(i).unwrap_or(false),
            size: size.get(i),
            age_days: age.get(i),
            pulls_7d: p7.get(i).unwrap_or(0),
            pulls_30d: p30.get(i).unwrap_or(0),
            unique_clients_30d: uniq.as_ref().and_then(|u| u.get(i)),
            unique_pull_ratio_30d: ratio.as_ref().and_then(|r| r.get(i)),
            days_since_last_pull: since.get(i),
        });
    }
    Ok(out)
}

/// Rejected lines of the log inputs that cover the stats window, and of the inventory
/// snapshot in use, from the `_ledger`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerRejects {
    /// Log inputs counted.
    pub log_inputs: u64,
    /// Their non-empty lines.
    pub lines_read: u64,
    /// Their quarantined lines.
    pub rejected_lines: u64,
    /// Quarantined lines per reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rows of the inventory snapshot in use.
    pub inventory_rows: u64,
    /// Its quarantined rows.
    pub inventory_rejected_rows: u64,
}

/// Sums the ledger's counts: log inputs whose days overlap `[from, to]` (or whose days are
/// unknown because no line parsed), and inventory reports of `snapshot`.
pub fn ledger_rejects(
    lake: &Lake,
    from: NaiveDate,
    to: NaiveDate,
    snapshot: Option<NaiveDate>,
) -> Result<LedgerRejects> {
    let day = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let mut r = LedgerRejects::default();
    for (_, entry) in lake.ledger_entries()? {
        for i in entry["inputs"].as_array().into_iter().flatten() {
            let overlaps = match (day(&i["first_day"]), day(&i["last_day"])) {
                (Some(a), Some(b)) => a <= to && b >= from,
                _ => true,
            };
            let Some(counts) = i.get("counts").filter(|c| c.is_object()) else {
                continue;
            };
            if !overlaps {
                continue;
            }
            r.log_inputs += 1;
            r.lines_read += counts["lines"].as_u64().unwrap_or(0);
            for (reason, n) in counts["rejects"].as_object().into_iter().flatten() {
                let n = n.as_u64().unwrap_or(0);
                r.rejected_lines += n;
                *r.rejected_by_reason.entry(reason.clone()).or_default() += n;
            }
        }
        for inv in entry["inventories"].as_array().into_iter().flatten() {
            if snapshot.is_none() || day(&inv["snapshot"]) != snapshot {
                continue;
            }
            for f in inv["files"].as_array().into_iter().flatten() {
                r.inventory_rows += f["rows"].as_u64().unwrap_or(0);
                r.inventory_rejected_rows += f["rejects"].as_u64().unwrap_or(0);
            }
        }
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// The summary: every figure of the report

/// Every figure of the report (`summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Format version.
    pub v: u32,
    /// As-of day of the plan.
    pub as_of: String,
    /// The plan's content hash.
    pub plan_id: String,
    /// `blobtier <version>`.
    pub generated_by: String,
    /// Price table.
    pub pricing: Pricing,
    /// The headline figures.
    pub headline: Headline,
    /// Objects, bytes and cost per storage class, now and after the plan.
    pub by_class: Vec<ClassRow>,
    /// Objects, bytes and cost per policy tier.
    pub by_tier: Vec<TierRow>,
    /// The plan versus doing nothing and versus Intelligent-Tiering.
    pub alternatives: Alternatives,
    /// Cumulative net savings per month, months 0 to [`CUMULATIVE_MONTHS`].
    pub cumulative: Vec<CumulativePoint>,
    /// The moves that save most over 12 months.
    pub top_moves: Vec<TopMove>,
    /// Decisions per reason code.
    pub reasons: Vec<ReasonRow>,
    /// Blobs by days since the last pull.
    pub days_since_last_pull: Vec<AgeBucket>,
    /// Hot set (cache candidates).
    pub hot_set: HotSet,
    /// Repeat pulls a pull-through cache would absorb.
    pub pull_through: PullThrough,
    /// Data quality.
    pub data_quality: DataQuality,
    /// Assumptions.
    pub assumptions: Assumptions,
    /// The latest backtest on or before as-of, if any.
    pub backtest: Option<backtest::Backtest>,
    /// Blobs no manifest references (None without an image graph).
    pub unreferenced: Option<Unreferenced>,
}

/// Blobs in the inventory that no manifest revision of any repository references
/// (`ref_repos = 0`): what `registry garbage-collect` would delete, and what they cost.
/// blobtier only reports them; it never deletes anything.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unreferenced {
    /// Blobs.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their monthly cost now (USD, from `decisions`).
    pub monthly_cost_now: f64,
    /// Their monthly cost after the plan (USD).
    pub monthly_cost_after: f64,
    /// Of the blobs, those the plan moves.
    pub planned_moves: u64,
    /// The costliest, at most [`TOP_MOVES`].
    pub largest: Vec<UnreferencedBlob>,
}

/// One unreferenced blob.
#[derive(Debug, Clone, Serialize)]
pub struct UnreferencedBlob {
    /// Digest.
    pub digest: String,
    /// Bytes.
    pub size: i64,
    /// Current class.
    pub storage_class: String,
    /// Monthly cost now (USD).
    pub monthly_cost_now: f64,
}

/// Price table identity.
#[derive(Debug, Clone, Serialize)]
pub struct Pricing {
    /// AWS region.
    pub region: String,
    /// Date the prices were published.
    pub as_of: String,
}

/// Headline figures (USD).
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    /// Blobs in the plan's decisions (the inventory's blobs).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Actions (`action != 'none'`).
    pub actions: u64,
    /// Bytes of the actions.
    pub bytes_moved: u64,
    /// USD/month of all blobs now: sum of `monthly_cost_now`.
    pub monthly_cost_now: f64,
    /// USD/month after the plan: sum of `monthly_cost_after`.
    pub monthly_cost_after: f64,
    /// `monthly_cost_now - monthly_cost_after`.
    pub monthly_savings: f64,
    /// One-time costs of the actions.
    pub one_time: OneTimeParts,
    /// `12 × monthly_savings − one_time.total`.
    pub net_savings_12m: f64,
    /// The plan's horizon in months.
    pub horizon_months: u32,
    /// `horizon_months × monthly_savings − one_time.total`.
    pub net_savings_horizon: f64,
    /// Days until the savings repay the one-time costs: `one_time.total / (monthly_savings / 30)`;
    /// None when the plan saves nothing per month.
    pub payback_days: Option<f64>,
}

/// One-time costs split by kind (USD).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OneTimeParts {
    /// Transition requests (lifecycle transition or COPY).
    pub transition: f64,
    /// Early-deletion charges (leaving a class before its minimum duration).
    pub early_delete: f64,
    /// Restores of archived blobs.
    pub restore: f64,
    /// Retrieval fees of the source classes on copied bytes.
    pub retrieval: f64,
    /// Noncurrent versions left by copies in versioned buckets.
    pub old_version: f64,
    /// Tagging requests and tag storage (lifecycle method).
    pub tagging: f64,
    /// Rows whose parts could not be reproduced with the current config (their whole cost).
    pub unattributed: f64,
    /// Sum of `one_time_cost` over the actions.
    pub total: f64,
}

/// One storage class, now and after the plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassRow {
    /// Class.
    pub class: String,
    /// Blobs in the class now.
    pub objects_now: u64,
    /// Their bytes.
    pub bytes_now: u64,
    /// Their USD/month now.
    pub monthly_now: f64,
    /// Blobs in the class after the plan.
    pub objects_after: u64,
    /// Their bytes.
    pub bytes_after: u64,
    /// Their USD/month after.
    pub monthly_after: f64,
}

/// One policy tier.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TierRow {
    /// Tier (`none` = no rule matched).
    pub tier: String,
    /// Blobs.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
    /// Actions.
    pub actions: u64,
    /// Bytes of the actions.
    pub bytes_moved: u64,
    /// USD/month now.
    pub monthly_now: f64,
    /// USD/month after.
    pub monthly_after: f64,
}

/// One way to go (USD).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scenario {
    /// USD/month in the first month.
    pub monthly_first: f64,
    /// USD/month once settled.
    pub monthly_steady: f64,
    /// One-time cost.
    pub one_time: f64,
    /// Total cost of the first 12 months, one-time cost included.
    pub cost_12m: f64,
    /// Doing nothing's `cost_12m` minus this one's.
    pub net_savings_12m: f64,
    /// Month at which the cumulative net savings reach zero (None: not within 24 months, or
    /// nothing to repay).
    pub break_even_month: Option<f64>,
}

/// The plan against the alternatives, for the same blobs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Alternatives {
    /// Keep every blob where it is.
    pub do_nothing: Scenario,
    /// Carry out the plan.
    pub plan: Scenario,
    /// A bucket-wide lifecycle rule moving every eligible blob to INTELLIGENT_TIERING.
    pub intelligent_tiering: Scenario,
    /// Blobs such a rule would move (STANDARD and STANDARD_IA, at least 128 KiB).
    pub it_objects: u64,
    /// Their bytes.
    pub it_bytes: u64,
    /// The monitoring fee of all monitored blobs, USD/month.
    pub it_monitoring_monthly: f64,
}

/// Cumulative net savings against doing nothing after `month` months (USD).
#[derive(Debug, Clone, Serialize)]
pub struct CumulativePoint {
    /// Months since the start (0 = right after the one-time costs).
    pub month: u32,
    /// The plan.
    pub plan: f64,
    /// Intelligent-Tiering.
    pub intelligent_tiering: f64,
}

/// One move.
#[derive(Debug, Clone, Serialize)]
pub struct TopMove {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Digest.
    pub digest: String,
    /// Bytes.
    pub size: i64,
    /// From class.
    pub from_class: String,
    /// To class.
    pub to_class: String,
    /// Reason code.
    pub reason: String,
    /// USD/month now.
    pub monthly_now: f64,
    /// USD/month after.
    pub monthly_after: f64,
    /// One-time USD.
    pub one_time: f64,
    /// Payback in days.
    pub payback_days: Option<f64>,
    /// Net 12-month savings.
    pub net_savings_12m: f64,
}

/// Decisions with one reason code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReasonRow {
    /// Reason code.
    pub reason: String,
    /// `kept:*` (no action).
    pub kept: bool,
    /// Blobs.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
    /// USD/month now.
    pub monthly_now: f64,
    /// USD/month after.
    pub monthly_after: f64,
}

/// Blobs whose last pull is in a range of days.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgeBucket {
    /// Label, e.g. `30-89`.
    pub label: String,
    /// Lowest day count (None for `never`).
    pub min_days: Option<i64>,
    /// Highest day count, inclusive (None: no upper end).
    pub max_days: Option<i64>,
    /// Blobs.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One point of the hot-set curve.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// Digests in the set.
    pub digests: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Share of all 7-day pulls they received.
    pub share: f64,
}

/// Hot set: the most-pulled digests, for a pull-through cache or CDN.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HotSet {
    /// The plan's hot set: digests.
    pub digests: u64,
    /// Its bytes.
    pub bytes: u64,
    /// Its byte cap.
    pub max_bytes: u64,
    /// Its share of 7-day pulls.
    pub pull_share_7d: f64,
    /// All 7-day pulls of inventory blobs.
    pub pulls_7d: i64,
    /// Bytes of the most-pulled digests versus the share of pulls they received (at most 200
    /// points, most-pulled first).
    pub curve: Vec<CurvePoint>,
}

/// One digest in the pulls-vs-ratio chart.
#[derive(Debug, Clone, Serialize)]
pub struct PullPoint {
    /// Pulls in 30 days.
    pub pulls_30d: i64,
    /// Unique-pull ratio in 30 days.
    pub ratio: f64,
}

/// Repeat pulls: the same client pulling the same blob again.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PullThrough {
    /// Digests pulled in 30 days.
    pub digests_pulled_30d: u64,
    /// Their pulls.
    pub pulls_30d: i64,
    /// Sum of their distinct clients.
    pub unique_clients_30d: i64,
    /// `pulls_30d − unique_clients_30d`: pulls a cache next to the clients would serve.
    pub repeat_pulls_30d: i64,
    /// Bytes of those pulls (digests of known size).
    pub repeat_bytes_30d: u64,
    /// Digests charted (the most pulled, at most 1,000).
    pub points: Vec<PullPoint>,
}

/// Data quality.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataQuality {
    /// Days checked for log coverage (the longest stats window).
    pub window_days: u32,
    /// Days in the window with no log input at all.
    pub missing_log_days: Vec<String>,
    /// Inventory snapshot used.
    pub inventory_snapshot: Option<String>,
    /// Its age in days at as-of.
    pub inventory_age_days: Option<i64>,
    /// The age above which `run` holds moves down.
    pub max_inventory_age_days: u32,
    /// Digests pulled in the window but absent from the inventory.
    pub digests_not_in_inventory: u64,
    /// Their 30-day pulls.
    pub pulls_30d_not_in_inventory: i64,
    /// Rejected lines, from the ledger.
    pub rejects: LedgerRejects,
    /// Why the plan held moves down, if it did.
    pub held_down: Option<String>,
    /// Everything a reader must know before trusting the numbers.
    pub warnings: Vec<String>,
}

/// One tier rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Tier.
    pub name: String,
    /// SQL condition.
    pub when: String,
    /// Target class.
    pub class: String,
}

/// Assumptions behind the numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    /// Expected-pulls estimator.
    pub estimator: String,
    /// Savings horizon in months.
    pub horizon_months: u32,
    /// Longest payback a move may have.
    pub max_payback_days: f64,
    /// Restore tier for archived blobs.
    pub restore_tier: String,
    /// Default move method.
    pub method: String,
    /// Smallest blob that may move, bytes.
    pub min_size: u64,
    /// Bytes per GB.
    pub bytes_per_gb: f64,
    /// Days per month.
    pub days_per_month: f64,
    /// The tier rules in force when the report was made.
    pub tiers: Vec<Rule>,
    /// Plain statements.
    pub statements: Vec<String>,
}

/// Everything [`summarize`] needs.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// As-of.
    pub as_of: NaiveDate,
    /// The `decisions` rows.
    pub rows: &'a [PlanRow],
    /// The `digest_stats` rows.
    pub stats: &'a [StatRow],
    /// `plan.summary.json`.
    pub plan_summary: &'a serde_json::Value,
    /// Prices (the plan's).
    pub prices: &'a Prices,
    /// Plan config.
    pub cfg: &'a PlanConfig,
    /// Coverage of the stats window.
    pub coverage: &'a Coverage,
    /// `run.max_inventory_age_days`.
    pub max_inventory_age_days: u32,
    /// Ledger rejects.
    pub rejects: LedgerRejects,
    /// Latest backtest.
    pub backtest: Option<backtest::Backtest>,
}

fn add_class<'a>(m: &'a mut BTreeMap<(usize, String), ClassRow>, class: &str) -> &'a mut ClassRow {
    // Classes in the order of `StorageClass::ALL` (most to least expensive), others after.
    let rank = class
        .parse::<StorageClass>()
        .ok()
        .and_then(|c| StorageClass::ALL.iter().position(|x| *x == c))
        .unwrap_or(StorageClass::ALL.len());
    m.entry((rank, class.to_string()))
        .or_insert_with(|| ClassRow {
            class: class.to_string(),
            ..Default::default()
        })
}

/// The parts of one action's one-time cost, recomputed with the cost model; None when they
/// do not add up to the plan's figure (config or prices changed since the plan).
fn one_time_parts(
    p: &Prices,
    cfg: &PlanConfig,
    r: &PlanRow,
    age_days: Option<i64>,
) -> Option<cost::OneTime> {
    let from: StorageClass = r.from_class.parse().ok()?;
    let to: StorageClass = r.to_class.parse().ok()?;
    let versioned = cfg
        .buckets
        .get(&r.bucket)
        .map_or(cfg.versioned, |(_, v)| *v);
    let method: cost::Method = r.method.parse().ok()?;
    let restore_tier: cost::RestoreTier = cfg.restore_tier.parse().ok()?;
    let input = cost::MoveInput {
        from,
        to,
        size: r.size.max(0) as u64,
        days_in_current_class: age_days.unwrap_or(0).max(0) as u32,
        versioned,
        noncurrent_retention_days: cfg.noncurrent_days,
        method,
        restore_tier,
    };
    let o = cost::one_time_cost(p, &input).ok()?;
    let tol = 1e-9 * r.one_time_cost.abs().max(1e-6);
    ((o.total - r.one_time_cost).abs() <= tol).then_some(o)
}

/// Intelligent-Tiering figures of one blob: (eligible, one-time, cost of months 1..=3, steady).
fn it_costs(p: &Prices, r: &PlanRow, age_days: Option<i64>) -> Option<(f64, [f64; 3], f64)> {
    let it = StorageClass::IntelligentTiering;
    let from: StorageClass = r.from_class.parse().ok()?;
    let size = r.size.max(0) as u64;
    if !from.can_lifecycle_to(it) || size < p.intelligent_tiering().monitoring_min_object_bytes {
        return None;
    }
    let input = cost::MoveInput {
        from,
        to: it,
        size,
        days_in_current_class: age_days.unwrap_or(0).max(0) as u32,
        versioned: false,
        noncurrent_retention_days: 0,
        method: cost::Method::Lifecycle,
        restore_tier: cost::RestoreTier::Bulk,
    };
    // A bucket-wide rule needs no tags.
    let one_time = cost::one_time_cost(p, &input)
        .map(|o| o.total - o.tagging)
        .ok()?;
    let gets = r.expected_pulls_30d;
    let steady = cost::intelligent_tiering_steady_monthly(p, size, gets);
    // After the move a blob starts in Frequent Access and steps down while not pulled; a blob
    // pulled often enough stays higher than this ramp, so each month costs the larger of the two.
    let month = |m: u32| cost::intelligent_tiering_monthly(p, size, Some(30 * m), gets).max(steady);
    Some((one_time, [month(0), month(1), month(2)], steady))
}

fn break_even(points: &[CumulativePoint], f: impl Fn(&CumulativePoint) -> f64) -> Option<f64> {
    let first = points.first().map(&f)?;
    if first >= 0.0 {
        return None;
    }
    points.windows(2).find_map(|w| {
        let (a, b) = (f(&w[0]), f(&w[1]));
        (a < 0.0 && b >= 0.0).then(|| f64::from(w[0].month) + (-a) / (b - a))
    })
}

const AGE_BUCKETS: [(&str, Option<i64>, Option<i64>); 7] = [
    ("0-6", Some(0), Some(6)),
    ("7-29", Some(7), Some(29)),
    ("30-89", Some(30), Some(89)),
    ("90-179", Some(90), Some(179)),
    ("180-364", Some(180), Some(364)),
    ("365+", Some(365), None),
    ("never", None, None),
];

/// Computes every figure of the report from the tables. Pure.
pub fn summarize(i: &Inputs<'_>) -> Summary {
    let p = i.prices;
    let cfg = i.cfg;
    let age: std::collections::HashMap<(&str, &str), Option<i64>> = i
        .stats
        .iter()
        .filter_map(|s| Some(((s.bucket.as_deref()?, s.key.as_deref()?), s.age_days)))
        .collect();
    let age_of = |r: &PlanRow| {
        age.get(&(r.bucket.as_str(), r.key.as_str()))
            .copied()
            .flatten()
    };

    // Headline, classes, tiers, reasons, one-time parts, Intelligent-Tiering.
    let mut h = Headline {
        objects: 0,
        bytes: 0,
        actions: 0,
        bytes_moved: 0,
        monthly_cost_now: 0.0,
        monthly_cost_after: 0.0,
        monthly_savings: 0.0,
        one_time: OneTimeParts::default(),
        net_savings_12m: 0.0,
        horizon_months: cfg.horizon_months,
        net_savings_horizon: 0.0,
        payback_days: None,
    };
    let mut classes: BTreeMap<(usize, String), ClassRow> = BTreeMap::new();
    let mut tiers: BTreeMap<String, TierRow> = BTreeMap::new();
    let mut reasons: BTreeMap<String, ReasonRow> = BTreeMap::new();
    let mut alt = Alternatives::default();
    let mut it_months = [0.0f64; 3];
    let mut it_steady = 0.0;
    let fee = p.intelligent_tiering().monitoring_per_1000_objects_month / 1000.0;
    for r in i.rows {
        let size = r.size.max(0) as u64;
        let moved = r.action != "none";
        h.objects += 1;
        h.bytes += size;
        h.monthly_cost_now += r.monthly_cost_now;
        h.monthly_cost_after += r.monthly_cost_after;
        let c = add_class(&mut classes, &r.from_class);
        c.objects_now += 1;
        c.bytes_now += size;
        c.monthly_now += r.monthly_cost_now;
        let c = add_class(&mut classes, &r.to_class);
        c.objects_after += 1;
        c.bytes_after += size;
        c.monthly_after += r.monthly_cost_after;
        let t = tiers.entry(r.tier.clone()).or_insert_with(|| TierRow {
            tier: r.tier.clone(),
            ..Default::default()
        });
        t.objects += 1;
        t.bytes += size;
        t.monthly_now += r.monthly_cost_now;
        t.monthly_after += r.monthly_cost_after;
        let why = reasons
            .entry(r.reason.clone())
            .or_insert_with(|| ReasonRow {
                reason: r.reason.clone(),
                kept: !moved,
                ..Default::default()
            });
        why.objects += 1;
        why.bytes += size;
        why.monthly_now += r.monthly_cost_now;
        why.monthly_after += r.monthly_cost_after;
        if moved {
            h.actions += 1;
            h.bytes_moved += size;
            t.actions += 1;
            t.bytes_moved += size;
            let o = &mut h.one_time;
            o.total += r.one_time_cost;
            match one_time_parts(p, cfg, r, age_of(r)) {
                Some(parts) => {
                    o.transition += parts.transition;
                    o.early_delete += parts.early_delete;
                    o.restore += parts.restore;
                    o.retrieval += parts.retrieval;
                    o.old_version += parts.old_version;
                    o.tagging += parts.tagging;
                }
                None => o.unattributed += r.one_time_cost,
            }
        }
        if r.from_class == "INTELLIGENT_TIERING"
            && size >= p.intelligent_tiering().monitoring_min_object_bytes
        {
            alt.it_monitoring_monthly += fee;
        }
        match it_costs(p, r, age_of(r)) {
            Some((one_time, months, steady)) => {
                alt.it_objects += 1;
                alt.it_bytes += size;
                alt.it_monitoring_monthly += fee;
                alt.intelligent_tiering.one_time += one_time;
                for (m, v) in it_months.iter_mut().zip(months) {
                    *m += v;
                }
                it_steady += steady;
            }
            None => {
                // Not eligible: stays where it is.
                for m in &mut it_months {
                    *m += r.monthly_cost_now;
                }
                it_steady += r.monthly_cost_now;
            }
        }
    }
    h.monthly_savings = h.monthly_cost_now - h.monthly_cost_after;
    h.net_savings_12m = 12.0 * h.monthly_savings - h.one_time.total;
    h.net_savings_horizon = f64::from(cfg.horizon_months) * h.monthly_savings - h.one_time.total;
    h.payback_days = (h.monthly_savings > 0.0)
        .then(|| h.one_time.total / (h.monthly_savings / cost::DAYS_PER_MONTH));

    // Scenarios and the cumulative curve.
    let it_month = |m: u32| -> f64 {
        match m {
            1..=3 => it_months[(m - 1) as usize],
            _ => it_steady,
        }
    };
    let mut cumulative = Vec::new();
    let (mut plan_cum, mut it_cum) = (-h.one_time.total, -alt.intelligent_tiering.one_time);
    for m in 0..=CUMULATIVE_MONTHS {
        if m > 0 {
            plan_cum += h.monthly_savings;
            it_cum += h.monthly_cost_now - it_month(m);
        }
        cumulative.push(CumulativePoint {
            month: m,
            plan: plan_cum,
            intelligent_tiering: it_cum,
        });
    }
    let cost_12m =
        |monthly: &dyn Fn(u32) -> f64, one_time: f64| one_time + (1..=12).map(monthly).sum::<f64>();
    alt.do_nothing = Scenario {
        monthly_first: h.monthly_cost_now,
        monthly_steady: h.monthly_cost_now,
        one_time: 0.0,
        cost_12m: 12.0 * h.monthly_cost_now,
        net_savings_12m: 0.0,
        break_even_month: None,
    };
    alt.plan = Scenario {
        monthly_first: h.monthly_cost_after,
        monthly_steady: h.monthly_cost_after,
        one_time: h.one_time.total,
        cost_12m: cost_12m(&|_| h.monthly_cost_after, h.one_time.total),
        net_savings_12m: h.net_savings_12m,
        break_even_month: h.payback_days.map(|d| d / cost::DAYS_PER_MONTH),
    };
    let it_one_time = alt.intelligent_tiering.one_time;
    alt.intelligent_tiering = Scenario {
        monthly_first: it_month(1),
        monthly_steady: it_steady,
        one_time: it_one_time,
        cost_12m: cost_12m(&it_month, it_one_time),
        net_savings_12m: 0.0,
        break_even_month: break_even(&cumulative, |c| c.intelligent_tiering),
    };
    alt.intelligent_tiering.net_savings_12m =
        alt.do_nothing.cost_12m - alt.intelligent_tiering.cost_12m;

    // Top moves.
    let mut moves: Vec<&PlanRow> = i.rows.iter().filter(|r| r.action != "none").collect();
    moves.sort_by(|a, b| {
        b.net_savings_12m
            .total_cmp(&a.net_savings_12m)
            .then_with(|| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)))
    });
    let top_moves = moves
        .into_iter()
        .take(TOP_MOVES)
        .map(|r| TopMove {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            digest: r.digest.clone(),
            size: r.size,
            from_class: r.from_class.clone(),
            to_class: r.to_class.clone(),
            reason: r.reason.clone(),
            monthly_now: r.monthly_cost_now,
            monthly_after: r.monthly_cost_after,
            one_time: r.one_time_cost,
            payback_days: r.payback_days,
            net_savings_12m: r.net_savings_12m,
        })
        .collect();
    let mut reasons: Vec<ReasonRow> = reasons.into_values().collect();
    reasons.sort_by(|a, b| {
        a.kept
            .cmp(&b.kept)
            .then(b.objects.cmp(&a.objects))
            .then_with(|| a.reason.cmp(&b.reason))
    });

    // Pull patterns from digest_stats.
    let inv: Vec<&StatRow> = i.stats.iter().filter(|s| s.in_inventory).collect();
    let mut ages: Vec<AgeBucket> = AGE_BUCKETS
        .iter()
        .map(|(l, lo, hi)| AgeBucket {
            label: (*l).into(),
            min_days: *lo,
            max_days: *hi,
            ..Default::default()
        })
        .collect();
    for s in &inv {
        let b = match s.days_since_last_pull {
            None => ages.len() - 1,
            Some(d) => ages
                .iter()
                .position(|b| {
                    b.min_days.is_some_and(|lo| d >= lo) && b.max_days.is_none_or(|hi| d <= hi)
                })
                .unwrap_or(0),
        };
        ages[b].objects += 1;
        ages[b].bytes += s.size.unwrap_or(0).max(0) as u64;
    }
    let hot_set = hot_set(i, &inv);
    let pull_through = pull_through(i.stats);
    let unreferenced = unreferenced(i);

    // Data quality.
    let ps = i.plan_summary;
    let held_down = ps["held_down"].as_str().map(str::to_string);
    let not_in_inv: Vec<&StatRow> = i.stats.iter().filter(|s| !s.in_inventory).collect();
    let mut dq = DataQuality {
        window_days: i.coverage.window_days,
        missing_log_days: i
            .coverage
            .missing_days
            .iter()
            .map(|d| d.to_string())
            .collect(),
        inventory_snapshot: i.coverage.inventory_snapshot.map(|d| d.to_string()),
        inventory_age_days: i.coverage.inventory_age_days,
        max_inventory_age_days: i.max_inventory_age_days,
        digests_not_in_inventory: not_in_inv.len() as u64,
        pulls_30d_not_in_inventory: not_in_inv.iter().map(|s| s.pulls_30d).sum(),
        rejects: i.rejects.clone(),
        held_down: held_down.clone(),
        warnings: Vec::new(),
    };
    let w = &mut dq.warnings;
    if !dq.missing_log_days.is_empty() {
        w.push(format!(
            "{} day(s) of the last {} have no log input at all ({}). A day without logs looks \
             exactly like a day without pulls, so blobs pulled only on those days are planned as \
             unused and may be sent to cold storage. Ingest the missing logs and re-run `stats` \
             and `plan` before acting on this plan.",
            dq.missing_log_days.len(),
            dq.window_days,
            list_days(&dq.missing_log_days)
        ));
    }
    match dq.inventory_age_days {
        None => w.push("no inventory snapshot on or before as-of".into()),
        Some(a) if a > i64::from(i.max_inventory_age_days) => w.push(format!(
            "the inventory snapshot is {a} days old (more than {}): blobs added since are \
             missing and classes may have changed",
            i.max_inventory_age_days
        )),
        _ => {}
    }
    if dq.digests_not_in_inventory > 0 {
        w.push(format!(
            "{} digest(s) with {} pull(s) in 30 days are not in the inventory: a wrong \
             `registry_root`, or logs of another bucket",
            dq.digests_not_in_inventory, dq.pulls_30d_not_in_inventory
        ));
    }
    let r = &dq.rejects;
    if r.rejected_lines > 0 {
        let share = r.rejected_lines as f64 / r.lines_read.max(1) as f64;
        w.push(format!(
            "{} of {} log line(s) ({:.2}%) were rejected; rejected pulls are missing from the \
             statistics (see `_rejects/`)",
            r.rejected_lines,
            r.lines_read,
            share * 100.0
        ));
    }
    if let Some(why) = &held_down {
        w.push(format!(
            "the plan held every move to a cheaper class back: {why}"
        ));
    }
    if h.one_time.unattributed > 0.0 {
        w.push(
            "some one-time costs could not be split into their parts with the current config \
             (it changed since the plan); they are listed as unattributed"
                .into(),
        );
    }
    if let Some(bt) = &i.backtest {
        if !bt.coverage.replay_missing_days.is_empty() {
            w.push(format!(
                "the backtest's replay window has {} day(s) without logs: its realised savings \
                 are overstated",
                bt.coverage.replay_missing_days.len()
            ));
        }
    }

    let assumptions = Assumptions {
        estimator: ps["estimator"]
            .as_str()
            .unwrap_or(&cfg.estimator)
            .to_string(),
        horizon_months: cfg.horizon_months,
        max_payback_days: cfg.max_payback_days,
        restore_tier: cfg.restore_tier.clone(),
        method: match cfg.method {
            MoveMethod::Copy => "copy".into(),
            MoveMethod::Lifecycle => "lifecycle".into(),
        },
        min_size: cfg.min_size,
        bytes_per_gb: cost::BYTES_PER_GB,
        days_per_month: cost::DAYS_PER_MONTH,
        tiers: cfg
            .tiers
            .iter()
            .map(|t| Rule {
                name: t.name.clone(),
                when: t.when.clone(),
                class: t.class.clone(),
            })
            .collect(),
        statements: statements(i, cfg),
    };

    Summary {
        v: FORMAT_VERSION,
        as_of: i.as_of.to_string(),
        plan_id: ps["plan_id"].as_str().unwrap_or_default().to_string(),
        generated_by: format!("blobtier {}", env!("CARGO_PKG_VERSION")),
        pricing: Pricing {
            region: p.region().to_string(),
            as_of: p.as_of().to_string(),
        },
        headline: h,
        by_class: classes.into_values().collect(),
        by_tier: tiers.into_values().collect(),
        alternatives: alt,
        cumulative,
        top_moves,
        reasons,
        days_since_last_pull: ages,
        hot_set,
        pull_through,
        data_quality: dq,
        assumptions,
        backtest: i.backtest.clone(),
        unreferenced,
    }
}

/// Sums the decisions of the blobs no manifest references (None when no stats row carries
/// `ref_repos`, i.e. the lake has no image graph for as-of).
fn unreferenced(i: &Inputs<'_>) -> Option<Unreferenced> {
    if i.stats.iter().all(|s| s.ref_repos.is_none()) {
        return None;
    }
    let garbage: std::collections::HashSet<&str> = i
        .stats
        .iter()
        .filter(|s| s.in_inventory && s.ref_repos == Some(0))
        .map(|s| s.digest.as_str())
        .collect();
    let mut u = Unreferenced::default();
    let mut rows: Vec<&PlanRow> = i
        .rows
        .iter()
        .filter(|r| garbage.contains(r.digest.as_str()))
        .collect();
    for r in &rows {
        u.blobs += 1;
        u.bytes += r.size.max(0) as u64;
        u.monthly_cost_now += r.monthly_cost_now;
        u.monthly_cost_after += r.monthly_cost_after;
        u.planned_moves += u64::from(r.action != "none");
    }
    rows.sort_by(|a, b| {
        b.monthly_cost_now
            .total_cmp(&a.monthly_cost_now)
            .then(a.digest.cmp(&b.digest))
    });
    u.largest = rows
        .into_iter()
        .take(TOP_MOVES)
        .map(|r| UnreferencedBlob {
            digest: r.digest.clone(),
            size: r.size,
            storage_class: r.from_class.clone(),
            monthly_cost_now: r.monthly_cost_now,
        })
        .collect();
    Some(u)
}

fn list_days(days: &[String]) -> String {
    let shown: Vec<&str> = days.iter().take(10).map(String::as_str).collect();
    if days.len() > 10 {
        format!("{} and {} more", shown.join(", "), days.len() - 10)
    } else {
        shown.join(", ")
    }
}

fn statements(i: &Inputs<'_>, cfg: &PlanConfig) -> Vec<String> {
    let est = i.plan_summary["estimator"]
        .as_str()
        .unwrap_or(&cfg.estimator)
        .to_string();
    vec![
        format!(
            "Expected pulls per month come from the `{est}` estimator over the stats windows; \
             a blob whose pattern changes after as-of is priced on its past."
        ),
        format!(
            "A move is planned only if it saves more than it costs within {} months and pays \
             back within {} days; blobs pulled in the last 7 days never move to a cheaper class.",
            cfg.horizon_months, cfg.max_payback_days
        ),
        format!(
            "Prices: {} list prices as of {}, first volume tier of each class (above 50 TB per \
             class costs are overstated by up to ~10%); 1 GB = 2^30 bytes; a month is 30 days.",
            i.prices.region(),
            i.prices.as_of()
        ),
        "One-time costs are paid in month 0; savings accrue evenly from month 1.".into(),
        "Intelligent-Tiering alternative: one bucket-wide lifecycle rule moves every STANDARD \
         and STANDARD_IA blob of at least 128 KiB; the monitoring fee is included; each blob \
         starts in Frequent Access and steps down while not pulled (the 90-day ramp-up); the \
         opt-in archive tiers are not used."
            .into(),
        "Days in the current class are taken from `last_modified` (the inventory does not \
         record class changes), which can overstate early-deletion charges after a lifecycle \
         transition."
            .into(),
        "Not modelled: data transfer out (a pull costs the same egress in every class), request \
         rate limits, restore waiting times, Object Lock, and volume tiers beyond the first."
            .into(),
    ]
}

fn hot_set(i: &Inputs<'_>, inv: &[&StatRow]) -> HotSet {
    let hs = &i.plan_summary["hot_set"];
    let total: i64 = inv.iter().map(|s| s.pulls_7d).sum();
    let mut pulled: Vec<&&StatRow> = inv.iter().filter(|s| s.pulls_7d > 0).collect();
    pulled.sort_by(|a, b| b.pulls_7d.cmp(&a.pulls_7d).then(a.digest.cmp(&b.digest)));
    let mut seen = BTreeSet::new();
    let mut full = Vec::new();
    let (mut bytes, mut served) = (0u64, 0i64);
    for s in pulled {
        if !seen.insert(s.digest.as_str()) {
            continue;
        }
        bytes += s.size.unwrap_or(0).max(0) as u64;
        served += s.pulls_7d;
        full.push(CurvePoint {
            digests: seen.len() as u64,
            bytes,
            share: if total > 0 {
                served as f64 / total as f64
            } else {
                0.0
            },
        });
    }
    HotSet {
        digests: hs["digests"].as_u64().unwrap_or(0),
        bytes: hs["bytes"].as_u64().unwrap_or(0),
        max_bytes: hs["max_bytes"].as_u64().unwrap_or(i.cfg.hot_set_max_bytes),
        pull_share_7d: hs["pull_share_7d"].as_f64().unwrap_or(0.0),
        pulls_7d: total,
        curve: thin(full, 200),
    }
}

/// At most `n` points of `v`, evenly spaced, always keeping the last.
fn thin<T>(v: Vec<T>, n: usize) -> Vec<T> {
    if v.len() <= n {
        return v;
    }
    let len = v.len();
    let keep: BTreeSet<usize> = (0..n).map(|k| k * (len - 1) / (n - 1)).collect();
    v.into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, x)| x)
        .collect()
}

fn pull_through(stats: &[StatRow]) -> PullThrough {
    let mut pt = PullThrough::default();
    let mut pulled: Vec<&StatRow> = stats.iter().filter(|s| s.pulls_30d > 0).collect();
    for s in &pulled {
        let uniq = s.unique_clients_30d.unwrap_or(s.pulls_30d).min(s.pulls_30d);
        pt.digests_pulled_30d += 1;
        pt.pulls_30d += s.pulls_30d;
        pt.unique_clients_30d += uniq;
        pt.repeat_pulls_30d += s.pulls_30d - uniq;
        pt.repeat_bytes_30d += ((s.pulls_30d - uniq) * s.size.unwrap_or(0).max(0)) as u64;
    }
    pulled.sort_by(|a, b| b.pulls_30d.cmp(&a.pulls_30d).then(a.digest.cmp(&b.digest)));
    pt.points = pulled
        .into_iter()
        .filter_map(|s| {
            Some(PullPoint {
                pulls_30d: s.pulls_30d,
                ratio: s.unique_pull_ratio_30d?,
            })
        })
        .take(1000)
        .collect();
    pt
}

// ---------------------------------------------------------------------------------------------
// Formatting shared by the renderers

/// USD with thousands separators and cents; amounts under a cent keep four decimals.
pub fn money(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        // Two significant digits: $0.0031, $0.000020.
        let decimals = ((-x.abs().log10()).ceil() as usize + 1).min(8);
        let s = format!("{:.*}", decimals, x.abs());
        return format!("{}${s}", if x < 0.0 { "-" } else { "" });
    }
    let cents = (x.abs() * 100.0).round() as i128;
    let (whole, frac) = (cents / 100, cents % 100);
    let sign = if x < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}${}.{frac:02}", count(whole))
}

/// Bytes in binary units (`1.5 GiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A count with thousands separators.
pub fn count(n: i128) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Days, or `never` / `immediately`.
pub fn days(d: Option<f64>) -> String {
    match d {
        None => "never".into(),
        Some(d) if d < 1.0 => "under a day".into(),
        Some(d) => format!("{} days", count(d.round() as i128)),
    }
}

/// A share as a percentage.
pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

// ---------------------------------------------------------------------------------------------
// The command

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
    let rows = read_decisions(&decisions)?;
    check_plan_id(&rows, &plan_summary, &decisions)?;
    let stats = read_stats(&stats_dir)?;
    let window = cfg.run.windows.iter().copied().max().unwrap_or(90);
    let coverage = crate::stats::coverage::coverage(lake, as_of, window)?;
    let from = as_of - chrono::Duration::days(i64::from(window) - 1);
    let rejects = ledger_rejects(lake, from, as_of, coverage.inventory_snapshot)?;
    let bt = backtest::latest(lake, as_of)?;
    let summary = summarize(&Inputs {
        as_of,
        rows: &rows,
        stats: &stats,
        plan_summary: &plan_summary,
        prices: &prices,
        cfg: &cfg.plan,
        coverage: &coverage,
        max_inventory_age_days: cfg.run.max_inventory_age_days,
        rejects,
        backtest: bt,
    });
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
    write_dir(&dir, &files)?;
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
        .filter(|r| r.action != "none")
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

/// Writes `files` into `dir`, replacing it: a sibling temporary directory is filled and
/// fsynced, then renamed into place.
pub(crate) fn write_dir(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    use std::io::Write;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).at("failed to create", parent)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let pid = std::process::id();
    let tmp = parent.join(format!(".{name}.tmp-{pid}"));
    let old = parent.join(format!(".{name}.old-{pid}"));
    for p in [&tmp, &old] {
        if p.exists() {
            fs::remove_dir_all(p).at("failed to remove", p)?;
        }
    }
    fs::create_dir_all(&tmp).at("failed to create", &tmp)?;
    for (n, bytes) in files {
        let p = tmp.join(n);
        let mut f = fs::File::create(&p).at("failed to create", &p)?;
        f.write_all(bytes).at("failed to write", &p)?;
        f.sync_all().at("failed to sync", &p)?;
    }
    crate::io::sync_dir(&tmp)?;
    if dir.exists() {
        fs::rename(dir, &old).at("failed to replace", dir)?;
    }
    crate::crashpoint::pause("report:publishing");
    fs::rename(&tmp, dir).at("failed to rename into place", dir)?;
    crate::io::sync_dir(parent)?;
    if old.exists() {
        fs::remove_dir_all(&old).at("failed to remove", &old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_sizes_format_for_people() {
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(money(1234567.891), "$1,234,567.89");
        assert_eq!(money(-12.5), "-$12.50");
        assert_eq!(money(0.00123), "$0.0012");
        assert_eq!(money(-0.004), "-$0.0040");
        assert_eq!(money(0.00002), "$0.000020");
        assert_eq!(money(0.0099), "$0.0099");
        assert_eq!(money(999.995), "$1,000.00");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(1536 << 40), "1.5 PiB");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(days(None), "never");
        assert_eq!(days(Some(12.4)), "12 days");
        assert_eq!(percent(0.1234), "12.3%");
    }

    #[test]
    fn break_even_interpolates_between_months() {
        let pts: Vec<CumulativePoint> = (0..5)
            .map(|m| CumulativePoint {
                month: m,
                plan: -3.0 + 2.0 * f64::from(m),
                intelligent_tiering: -1.0,
            })
            .collect();
        assert_eq!(break_even(&pts, |c| c.plan), Some(1.5));
        assert_eq!(break_even(&pts, |c| c.intelligent_tiering), None);
    }

    #[test]
    fn thin_keeps_first_and_last() {
        let v: Vec<u32> = (0..1000).collect();
        let t = thin(v, 200);
        assert_eq!(t.len(), 200);
        assert_eq!((t[0], t[199]), (0, 999));
        assert_eq!(thin(vec![1, 2], 200), vec![1, 2]);
    }
}
