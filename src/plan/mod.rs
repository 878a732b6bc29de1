//! Plan: from `digest_stats` to a tier-migration plan that only moves a blob when the cost
//! model says it pays off.
//!
//! Writes, for one as-of day:
//! - `decisions/as_of=DATE/part-0.parquet`: every blob with its tier, target class and reason
//!   (also the blobs that stay);
//! - `plan/as_of=DATE/plan.parquet` (only the actions) and `plan.summary.json`;
//! - `hot_set/as_of=DATE/part-0.parquet`: the most-pulled digests within a byte cap.
//!
//! The same stats and config always give a byte-identical plan; `plan_id` is its content hash
//! ([`file::plan_id`]). Outputs are staged and renamed into place.
//!
//! Every caller that makes a plan from fresh stats (`plan`, `run`) first applies the one
//! coverage guard, `crate::pipeline::coverage_guard`: missing log days look like "no pulls", so they hold
//! every move to a cheaper class back unless the caller overrides it (`--allow-gaps`), and
//! `plan.summary.json` records which of the two happened (`held_down`, `gaps_allowed`).

pub mod build;
pub mod file;
pub mod history;
pub mod policy;
pub mod realized;
pub mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use polars::prelude::*;
use rayon::prelude::*;

use crate::config::Config;
use crate::cost::Prices;
use crate::io::{atomic_write, IoContext, ParquetStream};
use crate::lake::{Lake, LakeError};
use crate::model::{Action, Estimator};
use crate::query::{self, partition};

/// Plan errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Lake IO.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// Writing.
    #[error(transparent)]
    Write(#[from] crate::io::WriteError),
    /// Plan file.
    #[error(transparent)]
    File(#[from] file::PlanFileError),
    /// No stats for as-of.
    #[error("no `digest_stats` for {0} in the lake: run `blobtier stats --as-of {0}` first")]
    NoStats(NaiveDate),
    /// Query.
    #[error("planning query failed")]
    Query(#[source] PolarsError),
    /// Tier rules.
    #[error("invalid tier rules:\n  {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Rules(Vec<crate::config::ConfigError>),
    /// Pricing.
    #[error(transparent)]
    Pricing(#[from] crate::cost::CostError),
    /// Pins (`run.pins`, `--pins`).
    #[error(transparent)]
    Pins(#[from] crate::pins::PinsError),
    /// Class history.
    #[error(transparent)]
    History(#[from] history::HistoryError),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Summary of a plan run (also `plan.summary.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanSummary {
    /// Content hash of the plan.
    pub plan_id: String,
    /// As-of day.
    pub as_of: String,
    /// Pricing region.
    pub pricing_region: String,
    /// Pricing as-of date.
    pub pricing_as_of: String,
    /// Keys the price table marks unverified for its region (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pricing_unverified: Vec<String>,
    /// Classes whose stored volume reaches past their first price tier, before or after the
    /// plan ([`volumes::summarize`]); absent when none does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_volumes: Vec<volumes::ClassVolume>,
    /// Savings horizon.
    pub horizon_months: u32,
    /// Estimator.
    pub estimator: Estimator,
    /// Totals.
    pub totals: build::Totals,
    /// Hot set: digests, bytes, share of 7-day pulls.
    pub hot_set: HotSetSummary,
    /// Why moves to cheaper classes were held back (coverage guard), if they were.
    pub held_down: Option<String>,
    /// The coverage gaps the plan was made despite (`--allow-gaps`), if it was.
    pub gaps_allowed: Option<String>,
    /// What the pins gave (`run.pins`, `--pins`), when any were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pins: Option<crate::pins::Summary>,
    /// The earlier plans' actions against the newest inventory ([`realized`]); absent when
    /// there is no earlier plan or no inventory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realized: Option<realized::RealizedSummary>,
    /// The buckets priced as versioned (a copy leaves a noncurrent version), and how that
    /// is known (`config` or `inventory`); absent when none is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versioned_buckets: BTreeMap<String, build::VersioningSource>,
    /// `plan.noncurrent_days`, when a bucket is priced as versioned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noncurrent_days: Option<u32>,
    /// Output files.
    pub outputs: Vec<String>,
}

/// Hot-set figures.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HotSetSummary {
    /// Digests in the set.
    pub digests: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Byte cap.
    pub max_bytes: u64,
    /// Share of all 7-day pulls they received (the hit ratio if cached).
    pub pull_share_7d: f64,
}

/// Loads the pricing table the config names: the file of `plan.pricing`, else the
/// compiled-in table of `plan.region`. Warns when the table's region differs from an explicit
/// `plan.region`, and when the table marks prices unverified.
pub fn load_prices(cfg: &Config) -> Result<Prices> {
    let prices = match &cfg.plan.pricing {
        None => Prices::for_region(&cfg.plan.region)
            .expect("`plan.region` is validated against `cost::REGIONS`"),
        Some(p) => {
            let text = fs::read_to_string(p)
                .at("failed to read pricing file", p)
                .map_err(LakeError::from)?;
            let prices = Prices::from_toml(&text)?;
            if prices.region() != cfg.plan.region && cfg.plan.region != crate::cost::REGIONS[0] {
                tracing::warn!(
                    file = %p.display(),
                    file_region = prices.region(),
                    plan_region = %cfg.plan.region,
                    "`plan.pricing` overrides `plan.region` with another region's prices"
                );
            }
            prices
        }
    };
    let unverified = prices.unverified();
    if !unverified.is_empty() {
        tracing::info!(region = prices.region(), keys = ?unverified, "price table has unverified prices");
    }
    Ok(prices)
}

/// Repositories referencing each digest, from the inventory's layer links.
fn repos_by_digest(lake: &Lake, as_of: NaiveDate) -> Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let Some((_, dir)) = crate::query::tables::latest_snapshot(lake, as_of)? else {
        return Ok(out);
    };
    let df = crate::query::tables::scan_dir(&dir, false)
        .and_then(|lf| {
            lf.filter(col("kind").eq(lit("layer_link")))
                .select([col("repo"), col("key")])
                .collect()
        })
        .map_err(Error::Query)?;
    let repo = df
        .column("repo")
        .and_then(|c| c.cast(&polars::prelude::DataType::String))
        .map_err(Error::Query)?;
    let key = df
        .column("key")
        .and_then(|c| c.cast(&polars::prelude::DataType::String))
        .map_err(Error::Query)?;
    let (repo, key) = (
        repo.str().map_err(Error::Query)?,
        key.str().map_err(Error::Query)?,
    );
    for i in 0..df.height() {
        let (Some(r), Some(k)) = (repo.get(i), key.get(i)) else {
            continue;
        };
        // `…/_layers/sha256/<hex>/link`
        if let Some(hex) = k.strip_suffix("/link").and_then(|p| p.rsplit('/').next()) {
            if hex.len() == 64 {
                out.entry(format!("sha256:{hex}"))
                    .or_default()
                    .push(r.to_string());
            }
        }
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    Ok(out)
}

/// Blobs per planning chunk (Blob + PlanRow take about 1 KiB each).
const PLAN_ROWS_PER_CHUNK: u64 = 500_000;

/// Overrides the number of planning chunks (digest ranges): for tests.
pub const ENV_CHUNKS: &str = "BLOBTIER_PLAN_CHUNKS";

/// Wall time per planning phase, for `RUST_LOG=blobtier=debug`.
#[derive(Default)]
struct PhaseTimer(
    Vec<(&'static str, std::time::Duration)>,
    Option<std::time::Instant>,
);

impl PhaseTimer {
    /// Charges the time since the last lap to `phase`.
    fn lap(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        let spent = self.1.map(|t| now - t).unwrap_or_default();
        self.1 = Some(now);
        match self.0.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, d)) => *d += spent,
            None => self.0.push((phase, spent)),
        }
    }
}

/// What the hot set needs of a blob pulled in the last 7 days.
struct HotCandidate {
    digest: Box<str>,
    size: i64,
    pulls_7d: i64,
}

/// `schema` without `plan_id`: staged rows, before the id is known.
fn staged(schema: &arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    let rest: Vec<usize> = (1..schema.fields().len()).collect();
    Arc::new(schema.project(&rest).expect("columns exist"))
}

/// The `decisions` columns beyond the plan's, one value per row.
#[derive(Default)]
struct Decisions {
    /// `intelligent_tiering_monthly_cost`.
    it: Vec<f64>,
    /// `days_in_class`.
    days_in_class: Vec<Option<i32>>,
}

impl Decisions {
    /// The plan rows of [`build::decide_all`]'s results, and their `decisions`-only columns.
    fn split(decided: Vec<(file::PlanRow, f64, i32)>) -> (Vec<file::PlanRow>, Decisions) {
        let (mut rows, mut extra) = (Vec::with_capacity(decided.len()), Decisions::default());
        for (r, it, days) in decided {
            rows.push(r);
            extra.it.push(it);
            extra.days_in_class.push(Some(days));
        }
        (rows, extra)
    }
}

/// Writes `plan.summary.json` beside the staged plan, then replaces each published partition
/// of `as_of` (decisions first, the crash point after it) and removes the staging directory.
fn publish(
    staging: crate::lake::DirStaging,
    summary: &PlanSummary,
    published: &[&str],
    as_of: NaiveDate,
) -> Result<()> {
    atomic_write(
        &staging.path("plan").join("plan.summary.json"),
        &serde_json::to_vec_pretty(summary).expect("summary serialises"),
    )
    .map_err(LakeError::from)?;
    for name in published {
        staging.replace(&staging.path(name), &format!("{name}/as_of={as_of}"), None)?;
        if *name == "decisions" {
            crate::crashpoint::pause("plan:publishing");
        }
    }
    staging.finish()?;
    Ok(())
}

/// Writes `rows` to a staged file (every column but `plan_id`), with the `decisions` columns
/// `intelligent_tiering_monthly_cost` and `days_in_class` when `decisions` is given.
fn write_staged<'a>(
    out: &mut ParquetStream,
    rows: impl IntoIterator<Item = &'a file::PlanRow>,
    decisions: Option<Decisions>,
) -> Result<()> {
    let batch = file::to_batch(rows);
    let mut cols = batch.columns()[1..].to_vec();
    let schema = match decisions {
        Some(d) => {
            cols.push(Arc::new(arrow::array::Float64Array::from(d.it)));
            cols.push(Arc::new(arrow::array::Int32Array::from(d.days_in_class)));
            staged(&file::decisions_schema())
        }
        None => staged(&file::schema()),
    };
    let batch = RecordBatch::try_new(schema, cols).expect("columns match the staged schema");
    Ok(out.write(&batch)?)
}

/// Copies the staged file `src` to `dst` with `plan_id` = `id` in every row (the other
/// columns are copied encoded), then removes `src`.
fn fill_plan_id(
    src: &std::path::Path,
    dst: &std::path::Path,
    schema: arrow::datatypes::SchemaRef,
    id: &str,
) -> Result<()> {
    crate::io::splice_constant_column(src, dst, schema, id, file::UNIQUE_COLUMNS)?;
    fs::remove_file(src)
        .at("failed to remove", src)
        .map_err(LakeError::from)?;
    Ok(())
}

fn hot_set(mut by: Vec<HotCandidate>, total7: i64, max_bytes: u64) -> (RecordBatch, HotSetSummary) {
    // Most pulled first, then by digest; a digest stored under several keys has the same
    // pulls and size in every row, so its rows end up next to each other.
    by.par_sort_unstable_by(|a, b| b.pulls_7d.cmp(&a.pulls_7d).then(a.digest.cmp(&b.digest)));
    let (mut digest, mut size, mut pulls, mut rank, mut cum_bytes, mut share) = (
        StringBuilder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Float64Builder::new(),
    );
    let mut s = HotSetSummary {
        max_bytes,
        ..Default::default()
    };
    let mut served = 0i64;
    let mut last: Option<&str> = None;
    for b in &by {
        if last == Some(&*b.digest) {
            continue;
        }
        last = Some(&b.digest);
        let sz = b.size.max(0) as u64;
        if s.bytes + sz > max_bytes {
            continue;
        }
        s.bytes += sz;
        s.digests += 1;
        served += b.pulls_7d;
        digest.append_value(&b.digest);
        size.append_value(b.size);
        pulls.append_value(b.pulls_7d);
        rank.append_value(s.digests as i64);
        cum_bytes.append_value(s.bytes as i64);
        share.append_value(if total7 > 0 {
            served as f64 / total7 as f64
        } else {
            0.0
        });
    }
    s.pull_share_7d = if total7 > 0 {
        served as f64 / total7 as f64
    } else {
        0.0
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("digest", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("pulls_7d", DataType::Int64, false),
        Field::new("rank", DataType::Int64, false),
        Field::new("cumulative_bytes", DataType::Int64, false),
        Field::new("cumulative_pull_share_7d", DataType::Float64, false),
    ]));
    let batch = crate::io::finish_batch(
        schema,
        &mut [
            &mut digest,
            &mut size,
            &mut pulls,
            &mut rank,
            &mut cum_bytes,
            &mut share,
        ],
    )
    .expect("columns match the hot-set schema");
    (batch, s)
}

/// What the coverage guard decided for one plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CoverageHold {
    /// Why every move to a cheaper class is held back (`kept:coverage_gap`).
    pub held_down: Option<String>,
    /// The gaps an explicit override (`--allow-gaps`) planned despite.
    pub gaps_allowed: Option<String>,
}

impl CoverageHold {
    /// No guard (backtests replay a plan on data they choose).
    pub fn none() -> Self {
        Self::default()
    }

    /// The gaps found, whether held or overridden.
    pub fn gaps(&self) -> Option<&str> {
        self.held_down.as_deref().or(self.gaps_allowed.as_deref())
    }
}

/// Makes the plan for `as_of` and writes it to the lake, holding moves down as `hold` says
/// (`crate::pipeline::coverage_guard`).
pub fn run_plan(
    lake: &Lake,
    as_of: NaiveDate,
    cfg: &Config,
    hold: CoverageHold,
) -> Result<PlanSummary> {
    let CoverageHold {
        held_down: hold_down,
        gaps_allowed,
    } = hold;
    let mut timer = PhaseTimer::default();
    timer.lap("start");
    policy::validate_rules(&cfg.plan.tiers, &cfg.run.windows).map_err(Error::Rules)?;
    let prices = load_prices(cfg)?;
    let lock = lake.lock()?;
    lake.recover(&lock)?;
    let (stats_dir, stats) = scan_stats(lake, as_of)?;
    let (prices, mut volumes) = at_volumes(prices, &stats)?;
    timer.lap("validate+lock");
    let repos = repos_by_digest(lake, as_of)?;
    timer.lap("repos");
    let pins = crate::pins::load(lake, as_of, &cfg.run.pins)?;
    timer.lap("pins");
    let class_history = history::build(lake, as_of)?;
    let earlier = match &class_history {
        Some(_) => realized::earlier_actions(lake, as_of)?,
        None => HashMap::new(),
    };
    let mut billed_now: HashMap<history::ObjectKey, f64> = HashMap::new();
    timer.lap("class_history");
    let day = (as_of - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32;
    let stats =
        query::plan_view(stats, as_of, cfg.plan.count_manifest_pulls).map_err(Error::Query)?;
    let rules = policy::tier_sql(&cfg.plan.tiers);
    let detected = build::detect_versioning(stats.clone()).map_err(Error::Query)?;
    let versioned_buckets = build::versioned_buckets(&cfg.plan, &detected);
    let ctx = build::Context {
        prices: &prices,
        cfg: &cfg.plan,
        as_of: day,
        hold_down: hold_down.clone(),
    };
    let staging = lake.stage_dirs("plan")?;
    let d = |name: &str| staging.path(name);

    // Chunk by digest range (digest_stats is sorted by digest, in small row groups), so memory
    // is bounded by one chunk; the chunks' rows, each sorted by digest, bucket, key, version,
    // concatenate into the sorted plan. The plan id is only known at the end: rows are
    // staged without the id, which is spliced in at the end (`fill_plan_id`).
    let chunks = partition::count_from_env(ENV_CHUNKS, || {
        partition::choose_per(partition::parquet_rows(&stats_dir), PLAN_ROWS_PER_CHUNK)
    });
    let raw_decisions = d("staged-decisions.parquet");
    let raw_actions = d("staged-plan.parquet");
    // Staged without `plan_id`, encoded as the final files are: `fill_plan_id` copies the
    // encoded columns and adds the id.
    let open = |path: &std::path::Path, schema| {
        ParquetStream::create_unique(path, staged(&schema), file::UNIQUE_COLUMNS)
    };
    let mut decisions_out = open(&raw_decisions, file::decisions_schema())?;
    let mut actions_out = open(&raw_actions, file::schema())?;
    let mut hasher = file::PlanHasher::default();
    let mut totals = build::Totals::default();
    let mut hot_candidates: Vec<HotCandidate> = Vec::new();
    for (lo, hi) in partition::ranges(chunks) {
        timer.lap("other");
        let mut blobs = build::load_blobs(
            partition::filter_range(stats.clone(), &lo, &hi),
            &rules,
            &repos,
        )
        .map_err(Error::Query)?;
        annotate(&mut blobs, pins.as_ref(), class_history.as_ref(), as_of);
        for b in &mut blobs {
            b.bucket_versioned = detected.get(&b.bucket).copied().unwrap_or(false);
        }
        timer.lap("load");
        hot_candidates.extend(hot_candidates_of(&blobs));
        let (rows, extra) = Decisions::split(build::decide_all(&ctx, &blobs));
        drop(blobs);
        timer.lap("decide");
        note_billed_now(&rows, &earlier, &mut billed_now);
        let actions: Vec<&file::PlanRow> =
            rows.iter().filter(|r| r.action != Action::Keep).collect();
        // Summing and hashing on one thread while the columns are encoded on the others.
        let ((), written) = rayon::join(
            || {
                totals.add(&rows);
                volumes.add(&rows);
                for a in &actions {
                    hasher.add(a);
                }
            },
            || -> Result<()> {
                write_staged(&mut decisions_out, &rows, Some(extra))?;
                write_staged(&mut actions_out, actions.iter().copied(), None)
            },
        );
        written?;
        timer.lap("totals+hash+write");
    }
    decisions_out.finish()?;
    actions_out.finish()?;
    timer.lap("write");
    let id = hasher.finish();
    let decisions = d("decisions").join("part-0.parquet");
    fill_plan_id(&raw_decisions, &decisions, file::decisions_schema(), &id)?;
    fill_plan_id(
        &raw_actions,
        &d("plan").join("plan.parquet"),
        file::schema(),
        &id,
    )?;
    timer.lap("fill_plan_id");
    let total_pulls_7d = hot_candidates.iter().map(|c| c.pulls_7d).sum();
    let (hot, hot_summary) = hot_set(hot_candidates, total_pulls_7d, cfg.plan.hot_set_max_bytes);
    crate::io::write_parquet(&d("hot_set").join("part-0.parquet"), hot.schema(), &[hot])?;
    timer.lap("hot_set");
    let mut published = vec!["decisions", "plan", "hot_set"];
    let realized_summary = match &class_history {
        Some(h) => write_history(&d, h, &earlier, &billed_now, &mut published)?,
        None => None,
    };
    let outputs = outputs_of(as_of, &published);
    let summary = PlanSummary {
        plan_id: id,
        as_of: as_of.to_string(),
        pricing_region: prices.region().to_string(),
        pricing_as_of: prices.as_of().to_string(),
        pricing_unverified: prices.unverified(),
        storage_volumes: volumes.summarize(&prices),
        horizon_months: cfg.plan.horizon_months,
        estimator: cfg.plan.estimator,
        totals,
        hot_set: hot_summary,
        held_down: hold_down,
        gaps_allowed,
        pins: pins.map(|p| p.summary),
        realized: realized_summary,
        noncurrent_days: (!versioned_buckets.is_empty()).then_some(cfg.plan.noncurrent_days),
        versioned_buckets,
        outputs,
    };
    publish(staging, &summary, &published, as_of)?;
    timer.lap("publish");
    tracing::debug!(phases = ?timer.0, "plan phase times");
    drop(lock);
    Ok(summary)
}

/// `prices` at the inventory's volume per class in `stats` (every blob is priced at the
/// marginal rate of its class's volume before the plan), and the volumes to apply the
/// decisions to.
fn at_volumes(prices: Prices, stats: &LazyFrame) -> Result<(Prices, volumes::After)> {
    let now = volumes::before(stats.clone()).map_err(Error::Query)?;
    Ok((prices.at_volumes(now), volumes::After::new(now)))
}

/// Marks the blobs of one chunk with what the plan knows beside their stats: whether a pin
/// reaches them, and how many days they have been in their current class (class history).
fn annotate(
    blobs: &mut [build::Blob],
    pins: Option<&crate::pins::Pins>,
    class_history: Option<&history::ClassHistory>,
    as_of: NaiveDate,
) {
    if let Some(p) = pins {
        blobs
            .iter_mut()
            .for_each(|b| b.pinned = p.contains(&b.digest));
    }
    if let Some(h) = class_history {
        for b in blobs.iter_mut() {
            let k = history::ObjectKey {
                bucket: b.bucket.clone(),
                key: b.key.clone(),
                version_id: b.version_id.clone(),
            };
            b.days_in_class = h.days_in_class(&k, b.storage_class.as_str(), as_of);
        }
    }
}

/// The blobs of one chunk pulled in the last 7 days: candidates for the hot set.
fn hot_candidates_of(blobs: &[build::Blob]) -> impl Iterator<Item = HotCandidate> + '_ {
    blobs
        .iter()
        .filter(|b| b.pulls[0] > 0)
        .map(|b| HotCandidate {
            digest: b.digest.as_str().into(),
            size: b.size,
            pulls_7d: b.pulls[0],
        })
}

/// Today's monthly cost of the objects an earlier plan acted on, for planned vs realized.
fn note_billed_now<V>(
    rows: &[file::PlanRow],
    earlier: &HashMap<history::ObjectKey, V>,
    billed_now: &mut HashMap<history::ObjectKey, f64>,
) {
    if earlier.is_empty() {
        return;
    }
    for r in rows {
        let k = history::ObjectKey {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            version_id: r.version_id.clone(),
        };
        if earlier.contains_key(&k) {
            billed_now.insert(k, r.monthly_cost_now);
        }
    }
}

/// Stages `class_history/` and, when an earlier plan acted on objects, `realized/` (planned vs
/// realized); adds their names to `published` and returns the realized summary.
fn write_history(
    dir: &dyn Fn(&str) -> PathBuf,
    h: &history::ClassHistory,
    earlier: &HashMap<history::ObjectKey, realized::Earlier>,
    billed_now: &HashMap<history::ObjectKey, f64>,
    published: &mut Vec<&'static str>,
) -> Result<Option<realized::RealizedSummary>> {
    history::write(&dir(history::TABLE), h)?;
    published.push(history::TABLE);
    if earlier.is_empty() {
        return Ok(None);
    }
    let compared = realized::compare(earlier, h, billed_now);
    realized::write(&dir(realized::TABLE), &compared)?;
    published.push(realized::TABLE);
    Ok(Some(realized::summarize(&compared)))
}

/// The `digest_stats` partition of `as_of`: its directory and a scan of its files.
fn scan_stats(lake: &Lake, as_of: NaiveDate) -> Result<(PathBuf, LazyFrame)> {
    let stats_dir = lake.root().join(format!("digest_stats/as_of={as_of}"));
    if !stats_dir.is_dir() {
        return Err(Error::NoStats(as_of));
    }
    let glob = format!("{}/*.parquet", stats_dir.display());
    let stats = LazyFrame::scan_parquet(PlRefPath::new(glob.as_str()), ScanArgsParquet::default())
        .map_err(Error::Query)?;
    Ok((stats_dir, stats))
}

/// The files a plan publishes, relative to the lake (`published` after the first three are
/// one-part tables).
fn outputs_of(as_of: NaiveDate, published: &[&str]) -> Vec<String> {
    let mut outputs = vec![
        format!("decisions/as_of={as_of}/part-0.parquet"),
        format!("plan/as_of={as_of}/plan.parquet"),
        format!("plan/as_of={as_of}/plan.summary.json"),
        format!("hot_set/as_of={as_of}/part-0.parquet"),
    ];
    for table in &published[3..] {
        outputs.push(format!("{table}/as_of={as_of}/part-0.parquet"));
    }
    outputs
}

/// Path of the plan file for `as_of`.
pub fn plan_path(lake: &Lake, as_of: NaiveDate) -> PathBuf {
    lake.root().join(format!("plan/as_of={as_of}/plan.parquet"))
}
