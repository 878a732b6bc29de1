//! Stats: per-digest pull windows, unique clients and unique-pull ratio, joined with the
//! latest inventory snapshot on or before as-of, and with the latest image-graph snapshot on or
//! before as-of (manifest pulls propagated to every blob they reach, `referenced_by_tag`,
//! `ref_repos`). The analytics live in `queries/*.sql`, the tables and the expansion in
//! [`crate::query`]; this module checks the options, runs the query per digest range with
//! Polars' streaming engine and writes the result atomically to `digest_stats/as_of=DATE/`.
//! Inputs after as-of are never read, so a backfill is reproducible; options the plan cannot
//! use are refused before the lake is touched.

pub mod coverage;

use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

use crate::io::IoContext;
use crate::lake::{Lake, LakeError};
use crate::model::windows::{Windows, WindowsError};
use crate::query::tables::{scan_file, StatsInputs};
use crate::query::template::Dialect;
use crate::query::{self, partition, Query};

/// Stats errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Lake IO.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A query, its expansion or its tables.
    #[error(transparent)]
    Query(#[from] query::Error),
    /// No inventory snapshot on or before as-of.
    #[error("no inventory snapshot on or before {as_of} in `{}`: ingest an S3 Inventory report first", lake.display())]
    NoInventory {
        /// As-of.
        as_of: NaiveDate,
        /// Lake.
        lake: PathBuf,
    },
    /// Bad `--windows`: refused before anything is read or written.
    #[error("invalid `--windows`: {0}")]
    BadWindows(WindowsError),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Counts over a written `digest_stats` partition (computed by a streaming scan).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StatsCounts {
    /// Rows (digests).
    pub rows: usize,
    /// Rows present in the inventory snapshot.
    pub in_inventory: usize,
    /// Rows pulled in the last 90 days.
    pub pulled_90d: usize,
    /// Rows reachable from a current tag (0 without an image graph).
    pub referenced_by_tag: usize,
    /// Rows that no manifest references (0 without an image graph).
    pub unreferenced: usize,
}

/// Options of one stats run.
#[derive(Debug, Clone)]
pub struct StatsOptions {
    /// Last day of every window.
    pub as_of: NaiveDate,
    /// Window lengths in days.
    pub windows: Vec<u32>,
    /// Count scanners.
    pub include_scanners: bool,
    /// Which logs count pulls (`ingest.pull_source`).
    pub pull_source: crate::query::PullSource,
}

impl StatsOptions {
    /// The windows, checked: a list the plan cannot use is refused ([`Windows::new`]).
    pub fn checked_windows(&self) -> Result<Windows> {
        Windows::new(&self.windows).map_err(Error::BadWindows)
    }
}

/// What a stats run produced.
#[derive(Debug)]
pub struct StatsResult {
    /// The output file.
    pub path: PathBuf,
    /// The inventory snapshot used.
    pub snapshot: String,
    /// The image-graph snapshot used, if the lake has one on or before as-of.
    pub graph_snapshot: Option<String>,
    /// Counts over the written table.
    pub counts: StatsCounts,
    /// By storage class.
    pub by_class: DataFrame,
    /// Top digests by pulls.
    pub top: DataFrame,
}

fn qerr(query: Query) -> impl Fn(PolarsError) -> Error {
    move |source| {
        Error::Query(query::Error::Polars {
            query: query.file,
            source,
        })
    }
}

/// Runs `digest_stats` for `opts.as_of` and writes it to the lake. Windows the plan cannot
/// use are refused before the lake is locked.
pub fn run_stats(lake: &Lake, opts: &StatsOptions) -> Result<StatsResult> {
    let params = query::Params {
        include_scanners: opts.include_scanners,
        pull_source: opts.pull_source,
        ..query::Params::new(opts.as_of, opts.checked_windows()?)
    };
    polars::error::set_warning_function(|_, _| {});
    let lock = lake.lock()?;
    lake.recover(&lock)?;
    let inputs = StatsInputs::resolve(lake, opts.as_of)?.ok_or_else(|| Error::NoInventory {
        as_of: opts.as_of,
        lake: lake.root().to_owned(),
    })?;
    let q = query::DIGEST_STATS;
    let sql = q.expand(&params, Dialect::Polars)?;
    tracing::debug!(query = q.file, sql = %sql, "expanded query");
    // Every aggregate is per digest: run the query once per digest range and append the
    // results in range order, so memory is bounded by one range (see `partition`).
    let pulls_dir = lake.root().join("pulls");
    let k = partition::count_from_env(partition::ENV_RANGES, || {
        partition::choose(
            partition::parquet_rows(&pulls_dir) + partition::parquet_rows(&inputs.snapshot_dir),
        )
    });
    let rel = format!("digest_stats/as_of={}", opts.as_of);
    let staging = lake.stage_dirs("stats")?;
    let new_dir = staging.path("new");
    fs::create_dir_all(&new_dir)
        .at("failed to create", &new_dir)
        .map_err(LakeError::from)?;
    write_ranges(&inputs, &sql, k, &new_dir.join("part-0.parquet"))?;
    let target = staging.replace(&new_dir, &rel, Some("stats:publishing"))?;
    staging.finish()?;
    // Summaries and counts: streaming scans of the published file (only the columns they
    // need), never the whole table in memory.
    let published = target.join("part-0.parquet");
    let by_class = summary(query::SUMMARY_BY_CLASS, &published)?;
    let top = summary(query::SUMMARY_TOP_PULLED, &published)?;
    let counts = counts(&published).map_err(qerr(q))?;
    drop(lock);
    Ok(StatsResult {
        path: target.join("part-0.parquet"),
        snapshot: inputs.snapshot,
        graph_snapshot: inputs.graph_snapshot,
        counts,
        by_class,
        top,
    })
}

/// Runs `sql` over `inputs` once per digest range (`k` of them) and writes the results, in
/// range order, to the Parquet file `file` (zstd, as every table of the lake), synced.
fn write_ranges(inputs: &StatsInputs, sql: &str, k: usize, file: &Path) -> Result<()> {
    let q = qerr(query::DIGEST_STATS);
    let mut writer: Option<polars::io::parquet::write::BatchedWriter<fs::File>> = None;
    for (lo, hi) in partition::ranges(k) {
        let part = inputs
            .context(&lo, &hi)
            .execute(sql)
            .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
            .map_err(&q)?
            .unwrap_single();
        tracing::debug!(range = ?lo, rows = part.height(), "stats range");
        if writer.is_none() {
            let f = fs::File::create(file)
                .at("failed to create", file)
                .map_err(LakeError::from)?;
            writer = Some(
                ParquetWriter::new(f)
                    .with_compression(ParquetCompression::Zstd(Some(
                        polars_utils::compression::ZstdLevel::try_new(crate::io::ZSTD_LEVEL)
                            .map_err(&q)?,
                    )))
                    .batched(part.schema())
                    .map_err(&q)?,
            );
        }
        if let Some(w) = writer.as_mut() {
            w.write_batch(&part).map_err(&q)?;
        }
    }
    if let Some(w) = writer {
        w.finish().map_err(&q)?;
        fs::File::open(file)
            .and_then(|f| f.sync_all())
            .at("failed to sync", file)
            .map_err(LakeError::from)?;
    }
    Ok(())
}

fn summary(q: Query, file: &Path) -> Result<DataFrame> {
    let mut ctx = polars::sql::SQLContext::new();
    ctx.register("digest_stats", scan_file(file).map_err(qerr(q))?);
    ctx.execute(q.text)
        .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
        .map(|r| r.unwrap_single())
        .map_err(qerr(q))
}

/// [`StatsCounts`] of a `digest_stats` file, by a streaming scan.
pub fn counts(file: &Path) -> PolarsResult<StatsCounts> {
    let mut lf = scan_file(file)?;
    let schema = lf.collect_schema()?;
    let n = |e: Expr, name: &str| e.cast(DataType::Int64).sum().alias(name);
    let mut aggs = vec![
        len().alias("rows"),
        n(col("in_inventory"), "in_inventory"),
        n(col("pulls_90d").gt(lit(0)), "pulled_90d"),
    ];
    if schema.contains("referenced_by_tag") && schema.contains("ref_repos") {
        aggs.push(n(col("referenced_by_tag"), "referenced_by_tag"));
        aggs.push(n(col("ref_repos").eq(lit(0)), "unreferenced"));
    }
    let df = lf
        .select(aggs)
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    let get = |name: &str| -> usize {
        df.column(name)
            .ok()
            .and_then(|c| c.cast(&DataType::Int64).ok())
            .and_then(|c| c.i64().ok().and_then(|c| c.get(0)))
            .unwrap_or(0)
            .max(0) as usize
    };
    Ok(StatsCounts {
        rows: get("rows"),
        in_inventory: get("in_inventory"),
        pulled_90d: get("pulled_90d"),
        referenced_by_tag: get("referenced_by_tag"),
        unreferenced: get("unreferenced"),
    })
}

/// Renders a small frame as an aligned text table (no dependency on polars' `fmt`).
pub fn render_table(df: &DataFrame) -> String {
    let cols = df.columns();
    let mut cells: Vec<Vec<String>> = vec![cols.iter().map(|c| c.name().to_string()).collect()];
    for i in 0..df.height() {
        cells.push(
            cols.iter()
                .map(|c| match c.get(i) {
                    Ok(AnyValue::Null) | Err(_) => String::from("-"),
                    Ok(AnyValue::String(s)) => s.to_string(),
                    Ok(AnyValue::Float64(f)) => format!("{f:.3}"),
                    Ok(v) => v.to_string(),
                })
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|j| {
            cells
                .iter()
                .map(|r| r[j].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &cells {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
