//! Stats: per-digest pull windows, unique clients and unique-pull ratio, joined with the
//! latest inventory snapshot on or before as-of, and with the latest image-graph snapshot on or
//! before as-of (manifest pulls propagated to every blob they reach, `referenced_by_tag`,
//! `ref_repos`). The analytics live in `queries/*.sql` (portable SQL run by Polars' streaming
//! engine); this module only registers the lake's tables, fills in parameters and writes the
//! result atomically to `digest_stats/as_of=DATE/`. Inputs after as-of are never read, so a
//! backfill is reproducible.

pub mod coverage;
pub mod partition;
pub mod template;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use polars::sql::SQLContext;

use crate::io::IoContext;
use crate::lake::{newest_part, Lake, LakeError};
use template::Dialect;

/// The query that defines `digest_stats`.
pub const DIGEST_STATS_SQL: &str = include_str!("../../queries/digest_stats.sql");
/// Summary: digests and bytes by storage class.
pub const SUMMARY_BY_CLASS_SQL: &str = include_str!("../../queries/summary_by_class.sql");
/// Summary: top digests by pulls.
pub const SUMMARY_TOP_SQL: &str = include_str!("../../queries/summary_top_pulled.sql");

/// Stats errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Lake IO.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A query failed.
    #[error("query `{query}` failed")]
    Query {
        /// Query file.
        query: &'static str,
        /// Cause.
        #[source]
        source: PolarsError,
    },
    /// Template expansion.
    #[error("query `{query}` is not a valid template")]
    Template {
        /// Query file.
        query: &'static str,
        /// Cause.
        #[source]
        source: template::TemplateError,
    },
    /// No inventory snapshot on or before as-of.
    #[error("no inventory snapshot on or before {as_of} in `{}`: ingest an S3 Inventory report first", lake.display())]
    NoInventory {
        /// As-of.
        as_of: NaiveDate,
        /// Lake.
        lake: PathBuf,
    },
    /// Bad `--windows`.
    #[error("invalid `--windows`: {0}")]
    BadWindows(String),
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

fn qerr(query: &'static str) -> impl Fn(PolarsError) -> Error {
    move |source| Error::Query { query, source }
}

/// The latest `snapshot=DATE` partition on or before `as_of`.
pub fn latest_snapshot(lake: &Lake, as_of: NaiveDate) -> Result<Option<(String, PathBuf)>> {
    let latest = lake.latest_partition("inventory", "snapshot", Some(as_of))?;
    Ok(latest.map(|(d, p)| (d.to_string(), p)))
}

fn scan_dir(path: &Path, hive: bool) -> PolarsResult<LazyFrame> {
    let mut args = ScanArgsParquet::default();
    if hive {
        args.hive_options = HiveOptions::new_enabled();
        args.hive_options.try_parse_dates = false;
    }
    let glob = format!("{}/**/*.parquet", path.display());
    LazyFrame::scan_parquet(PlRefPath::new(glob.as_str()), args)
}

/// An empty table of the lake's schema for `table` (one the stats query reads): for a lake
/// without logs, without manifest requests or without an image graph, and for the schema
/// checks of tier rules.
pub fn empty_table(table: &str) -> PolarsResult<DataFrame> {
    let ts = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let s = |n: &str| Column::new_empty(n.into(), &DataType::String);
    let i = |n: &str| Column::new_empty(n.into(), &DataType::Int64);
    let b = |n: &str| Column::new_empty(n.into(), &DataType::Boolean);
    let t = |n: &str| Column::new_empty(n.into(), &ts);
    let cols = match table {
        "pulls" => vec![
            s("digest"),
            s("client"),
            s("repo"),
            s("ua_class"),
            s("source"),
            i("pulls"),
            i("bytes"),
            t("first_at"),
            t("last_at"),
            s("date"),
        ],
        "manifest_pulls" => vec![
            s("repo"),
            s("reference"),
            s("client"),
            s("ua"),
            s("ua_class"),
            s("source"),
            i("requests"),
            t("first_at"),
            t("last_at"),
            s("date"),
        ],
        "inventory" => vec![
            s("bucket"),
            s("key"),
            s("version_id"),
            b("is_latest"),
            b("is_delete_marker"),
            i("size"),
            t("last_modified"),
            s("etag"),
            s("storage_class"),
            s("intelligent_tiering_access_tier"),
            s("digest"),
            s("kind"),
            s("repo"),
        ],
        "tags" => vec![s("repo"), s("tag"), s("manifest"), s("link_fingerprint")],
        "manifest_refs" => vec![s("manifest"), s("digest"), s("role")],
        "blob_refs" => vec![
            s("digest"),
            s("role"),
            s("media_type"),
            b("in_storage"),
            i("size"),
            i("ref_manifests"),
            i("ref_repos"),
            i("ref_tags"),
            b("referenced_by_tag"),
        ],
        other => {
            return Err(PolarsError::ComputeError(
                format!("no such lake table `{other}`").into(),
            ))
        }
    };
    DataFrame::new_infer_height(cols)
}

/// The image-graph tables of the latest snapshot on or before `as_of`: the date and the
/// newest part file of `blob_refs`, `manifest_refs` and `tags` (all written by one run).
pub fn graph_snapshot(lake: &Lake, as_of: NaiveDate) -> Option<(String, [PathBuf; 3])> {
    let (date, blob_refs) = lake.latest_part("blob_refs", Some(as_of))?;
    let newest =
        |table: &str| newest_part(&lake.root().join(table).join(format!("snapshot={date}")));
    let (manifest_refs, tags) = (newest("manifest_refs")?, newest("tags")?);
    Some((date.to_string(), [blob_refs, manifest_refs, tags]))
}

fn scan_file(path: &Path) -> PolarsResult<LazyFrame> {
    LazyFrame::scan_parquet(
        PlRefPath::new(path.display().to_string().as_str()),
        ScanArgsParquet::default(),
    )
}

fn has_parquet(dir: &Path) -> bool {
    fn walk(d: &Path) -> bool {
        let Ok(rd) = fs::read_dir(d) else {
            return false;
        };
        rd.flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else {
                p.extension().is_some_and(|x| x == "parquet")
            }
        })
    }
    walk(dir)
}

/// Parameters of the templates for `opts`.
pub fn params(opts: &StatsOptions) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert("as_of".into(), opts.as_of.to_string());
    p.insert(
        "include_scanners".into(),
        if opts.include_scanners {
            "TRUE"
        } else {
            "FALSE"
        }
        .into(),
    );
    let mut all: Vec<u32> = opts.windows.clone();
    all.extend([30, 90]);
    for n in all {
        p.insert(
            format!("from_{n}"),
            (opts.as_of - chrono::Duration::days(n as i64)).to_string(),
        );
    }
    let max = opts.windows.iter().copied().chain([90]).max().unwrap_or(90);
    p.insert(
        "from_max".into(),
        (opts.as_of - chrono::Duration::days(max as i64)).to_string(),
    );
    p
}

/// Runs `digest_stats` for `opts.as_of` and writes it to the lake.
pub fn run_stats(lake: &Lake, opts: &StatsOptions) -> Result<StatsResult> {
    let mut windows = opts.windows.clone();
    windows.sort_unstable();
    windows.dedup();
    if windows.is_empty() || windows.contains(&0) || windows.iter().any(|&w| w > 3660) {
        return Err(Error::BadWindows(format!(
            "expected day counts between 1 and 3660, got {:?}",
            opts.windows
        )));
    }
    let opts = StatsOptions {
        windows,
        ..opts.clone()
    };
    polars::error::set_warning_function(|_, _| {});
    let lock = lake.lock()?;
    lake.recover(&lock)?;
    let (snapshot, inv_dir) =
        latest_snapshot(lake, opts.as_of)?.ok_or_else(|| Error::NoInventory {
            as_of: opts.as_of,
            lake: lake.root().to_owned(),
        })?;
    let q = "queries/digest_stats.sql";
    let sql = template::expand(
        DIGEST_STATS_SQL,
        &opts.windows,
        &params(&opts),
        Dialect::Polars,
    )
    .map_err(|source| Error::Template { query: q, source })?;
    tracing::debug!(query = q, sql = %sql, "expanded query");
    let graph = graph_snapshot(lake, opts.as_of);
    // Every aggregate is per digest: run the query once per digest range and append the
    // results in range order, so memory is bounded by one range (see `partition`).
    let pulls_dir = lake.root().join("pulls");
    let k = partition::count_from_env(partition::ENV_RANGES, || {
        partition::choose(partition::parquet_rows(&pulls_dir) + partition::parquet_rows(&inv_dir))
    });
    let rel = format!("digest_stats/as_of={}", opts.as_of);
    let staging = lake.stage_dirs("stats")?;
    let new_dir = staging.path("new");
    fs::create_dir_all(&new_dir)
        .at("failed to create", &new_dir)
        .map_err(LakeError::from)?;
    let file = new_dir.join("part-0.parquet");
    let mut writer: Option<polars::io::parquet::write::BatchedWriter<fs::File>> = None;
    // The tables, resolved once; each range registers them (cheap clones of the lazy scans)
    // behind its digest filter. `tags` is keyed by tag, not digest, so it is never filtered.
    let mut tables: Vec<(&str, LazyFrame, bool)> = Vec::new();
    for table in ["pulls", "manifest_pulls"] {
        let dir = lake.root().join(table);
        let lf = if has_parquet(&dir) {
            scan_dir(&dir, true)
        } else {
            empty_table(table).map(DataFrame::lazy)
        }
        .map_err(qerr(q))?;
        tables.push((table, lf, table == "pulls"));
    }
    tables.push((
        "inventory",
        scan_dir(&inv_dir, false).map_err(qerr(q))?,
        true,
    ));
    for (i, table) in ["blob_refs", "manifest_refs", "tags"]
        .into_iter()
        .enumerate()
    {
        let lf = match &graph {
            Some((_, files)) => scan_file(&files[i]),
            None => empty_table(table).map(DataFrame::lazy),
        }
        .map_err(qerr(q))?;
        tables.push((table, lf, table != "tags"));
    }
    for (lo, hi) in partition::ranges(k) {
        let mut ctx = SQLContext::new();
        for (name, lf, by_digest) in &tables {
            let lf = lf.clone();
            ctx.register(
                name,
                if *by_digest {
                    partition::filter_range(lf, &lo, &hi)
                } else {
                    lf
                },
            );
        }
        let lf = ctx.execute(&sql).map_err(qerr(q))?;
        let part = lf
            .collect_with_engine(Engine::Streaming)
            .map_err(qerr(q))?
            .unwrap_single();
        tracing::debug!(range = ?lo, rows = part.height(), "stats range");
        if writer.is_none() {
            let f = fs::File::create(&file)
                .at("failed to create", &file)
                .map_err(LakeError::from)?;
            writer = Some(
                ParquetWriter::new(f)
                    .with_compression(ParquetCompression::Zstd(Some(
                        polars_utils::compression::ZstdLevel::try_new(crate::io::ZSTD_LEVEL)
                            .map_err(qerr(q))?,
                    )))
                    .batched(part.schema())
                    .map_err(qerr(q))?,
            );
        }
        if let Some(w) = writer.as_mut() {
            w.write_batch(&part).map_err(qerr(q))?;
        }
    }
    if let Some(w) = writer {
        w.finish().map_err(qerr(q))?;
        fs::File::open(&file)
            .and_then(|f| f.sync_all())
            .at("failed to sync", &file)
            .map_err(LakeError::from)?;
    }
    let target = staging.replace(&new_dir, &rel, Some("stats:publishing"))?;
    staging.finish()?;
    // Summaries and counts: streaming scans of the published file (only the columns they
    // need), never the whole table in memory.
    let published = target.join("part-0.parquet");
    let by_class = summary(
        SUMMARY_BY_CLASS_SQL,
        "queries/summary_by_class.sql",
        &published,
    )?;
    let top = summary(
        SUMMARY_TOP_SQL,
        "queries/summary_top_pulled.sql",
        &published,
    )?;
    let counts = counts(&published).map_err(qerr(q))?;
    drop(lock);
    Ok(StatsResult {
        path: target.join("part-0.parquet"),
        snapshot,
        graph_snapshot: graph.map(|(d, _)| d),
        counts,
        by_class,
        top,
    })
}

fn summary(sql: &str, q: &'static str, file: &Path) -> Result<DataFrame> {
    let mut ctx = SQLContext::new();
    ctx.register("digest_stats", scan_file(file).map_err(qerr(q))?);
    ctx.execute(sql)
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
