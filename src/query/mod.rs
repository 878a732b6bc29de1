//! The query layer shared by `stats` and `plan`: the portable SQL of `queries/` ([`Query`]),
//! its one template expander ([`template`]) and parameters ([`Params`]), the lake's tables as the
//! queries see them ([`tables`]), digest-range partitioning ([`partition`]), the `digest_stats`
//! schema ([`stats_schema`]) and the plan's view of the stats ([`plan_view`]).
//!
//! Invariants: the SQL lives in `queries/*.sql` only, and every engine runs the expansion of
//! [`template::expand`]: Polars here, Spark, DuckDB and Athena/Trino through `blobtier sql`
//! ([`Query::render`]). The usable windows are [`crate::model::windows::Windows`].
//!
//! Must not: write to the lake (`stats` publishes, `plan` decides), or know about decisions,
//! costs or plan files.

pub mod partition;
pub mod tables;
pub mod template;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::*;
use polars::sql::SQLContext;

use crate::lake::LakeError;
use crate::model::windows::{Windows, PLAN_WINDOWS};
use template::{Dialect, TemplateError};

/// One query of `queries/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Its name (the file name without `.sql`), as `blobtier sql` takes it.
    pub name: &'static str,
    /// Its path in the repository, for messages.
    pub file: &'static str,
    /// The template text.
    pub text: &'static str,
}

/// The [`Query`] of `queries/NAME.sql`.
macro_rules! query {
    ($name:literal) => {
        Query {
            name: $name,
            file: concat!("queries/", $name, ".sql"),
            text: include_str!(concat!("../../queries/", $name, ".sql")),
        }
    };
}

/// `digest_stats`: one row per blob of the inventory snapshot, plus digests pulled but absent.
pub const DIGEST_STATS: Query = query!("digest_stats");
/// Summary over `digest_stats`: digests and bytes by storage class.
pub const SUMMARY_BY_CLASS: Query = query!("summary_by_class");
/// Summary over `digest_stats`: top digests by pulls.
pub const SUMMARY_TOP_PULLED: Query = query!("summary_top_pulled");
/// The plan's view of `digest_stats`: the rows and numbers its rules and decisions read.
pub const PLAN_VIEW: Query = query!("plan_view");

/// Every query of `queries/`.
pub const QUERIES: [Query; 4] = [
    DIGEST_STATS,
    SUMMARY_BY_CLASS,
    SUMMARY_TOP_PULLED,
    PLAN_VIEW,
];

/// Query-layer errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Lake IO.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A query failed.
    #[error("query `{query}` failed")]
    Polars {
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
        source: TemplateError,
    },
    /// `blobtier sql NAME` with a name that is not in `queries/`.
    #[error("no query `{0}`: expected one of digest_stats, summary_by_class, summary_top_pulled, plan_view")]
    UnknownQuery(String),
    /// `blobtier sql --schema TABLE` with a table the queries do not read.
    #[error("no schema for `{table}` in {dialect}: expected one of pulls, manifest_pulls, inventory, blob_refs, manifest_refs, tags, and a dialect other than polars")]
    NoSchema {
        /// The table asked for.
        table: String,
        /// The dialect asked for.
        dialect: Dialect,
    },
}

/// The parameters of the templates. Each query uses some of them (`digest_stats`: all but
/// `count_manifest_pulls`; `plan_view`: `as_of` and `count_manifest_pulls`; the summaries none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The last day of every window.
    pub as_of: NaiveDate,
    /// The windows (`-- @each window`, `${from_N}`).
    pub windows: Windows,
    /// Count scanner pulls (`${include_scanners}`).
    pub include_scanners: bool,
    /// A manifest pull counts as a use of every blob it reaches (`${count_manifest_pulls}`,
    /// the config's `plan.count_manifest_pulls`).
    pub count_manifest_pulls: bool,
    /// Which sides' logs count pulls (`${pull_source}`, the config's `ingest.pull_source`).
    pub pull_source: PullSource,
}

/// Which logs count a blob's pulls (`${pull_source}`): defined with its config key.
pub use crate::config::PullSource;

impl Params {
    /// The parameters for `as_of` and `windows`, the flags at their defaults (scanners left
    /// out, manifest pulls counted: `plan.count_manifest_pulls` defaults to true).
    pub fn new(as_of: NaiveDate, windows: Windows) -> Params {
        Params {
            as_of,
            windows,
            include_scanners: false,
            count_manifest_pulls: true,
            pull_source: PullSource::Auto,
        }
    }

    /// The template values: `as_of`, `from_N` for every window (the exclusive lower bound
    /// `as_of - N`), `from_max` (that of the longest window), and the two flags as SQL booleans.
    pub fn values(&self) -> BTreeMap<String, String> {
        let sql_bool = |b: bool| if b { "TRUE" } else { "FALSE" }.to_string();
        let from = |n: u32| (self.as_of - chrono::Duration::days(i64::from(n))).to_string();
        let mut p = BTreeMap::new();
        p.insert("as_of".into(), self.as_of.to_string());
        p.insert("pull_source".into(), self.pull_source.to_string());
        p.insert("include_scanners".into(), sql_bool(self.include_scanners));
        p.insert(
            "count_manifest_pulls".into(),
            sql_bool(self.count_manifest_pulls),
        );
        for &n in self.windows.days() {
            p.insert(format!("from_{n}"), from(n));
        }
        p.insert("from_max".into(), from(self.windows.longest()));
        p
    }
}

impl Query {
    /// The query called `name`.
    pub fn by_name(name: &str) -> Result<Query, Error> {
        QUERIES
            .into_iter()
            .find(|q| q.name == name)
            .ok_or_else(|| Error::UnknownQuery(name.into()))
    }

    /// The text for `dialect` with `params`.
    pub fn expand(&self, params: &Params, dialect: Dialect) -> Result<String, Error> {
        template::expand(self.text, params.windows.days(), &params.values(), dialect).map_err(
            |source| Error::Template {
                query: self.file,
                source,
            },
        )
    }

    /// What `blobtier sql` prints: a first line naming the query, the dialect and the
    /// parameters (`-- blobtier sql: queries/NAME.sql for DIALECT, as_of=… windows=…
    /// include_scanners=… count_manifest_pulls=…`, which the Spark runner checks), then
    /// [`Query::expand`].
    pub fn render(&self, params: &Params, dialect: Dialect) -> Result<String, Error> {
        let header = format!(
            "-- blobtier sql: {} for {dialect}, as_of={} windows={} include_scanners={} count_manifest_pulls={} pull_source={}\n",
            self.file,
            params.as_of,
            params.windows,
            params.include_scanners,
            params.count_manifest_pulls,
            params.pull_source
        );
        Ok(header + &self.expand(params, dialect)?)
    }
}

/// The column list of the lake table `table` for a `CREATE TABLE` in `dialect`
/// ([`tables::ddl`]).
pub fn schema_ddl(table: &str, dialect: Dialect) -> Result<String, Error> {
    tables::ddl(table, dialect).map_err(|_| Error::NoSchema {
        table: table.into(),
        dialect,
    })
}

fn compute_error(e: impl std::fmt::Display) -> PolarsError {
    PolarsError::ComputeError(e.to_string().into())
}

/// The `digest_stats` schema for `windows`, obtained by running the stats query on empty
/// tables (so it can never drift from the query).
pub fn stats_schema(windows: &Windows) -> PolarsResult<DataFrame> {
    polars::error::set_warning_function(|_, _| {});
    let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    let sql = DIGEST_STATS
        .expand(&Params::new(as_of, windows.clone()), Dialect::Polars)
        .map_err(compute_error)?;
    tables::empty_context()?.execute(&sql)?.collect()
}

/// The windows of a `digest_stats` table, from its `pulls_Nd` columns.
fn windows_of(schema: &Schema) -> PolarsResult<Windows> {
    let days: Vec<u32> = schema
        .iter_names()
        .filter_map(|c| c.strip_prefix("pulls_")?.strip_suffix('d')?.parse().ok())
        .collect();
    Windows::new(&days).map_err(|e| {
        compute_error(format!(
            "`digest_stats` has the windows {days:?}, which the plan cannot read ({e}); run `blobtier stats` with windows {PLAN_WINDOWS:?}"
        ))
    })
}

/// The plan's view of `stats` (one `digest_stats` partition): `queries/plan_view.sql`, the rows
/// of the inventory with, when `count_manifest_pulls`, manifest pulls counted as uses of every
/// blob they reach, and `days_since_last_manifest_pull`. Stats written before the image graph
/// existed (without `last_manifest_pull_at`) are returned as they are.
///
/// Before the view runs, both timestamps are cast to microseconds in "UTC" (lakes written by
/// other tools may say "Etc/UTC", a different type to Polars). The windows are those of `stats`.
pub fn plan_view(
    stats: LazyFrame,
    as_of: NaiveDate,
    count_manifest_pulls: bool,
) -> PolarsResult<LazyFrame> {
    polars::error::set_warning_function(|_, _| {});
    let mut stats = stats;
    let schema = stats.collect_schema()?;
    if !schema.contains("last_manifest_pull_at") {
        return Ok(stats);
    }
    let params = Params {
        count_manifest_pulls,
        ..Params::new(as_of, windows_of(&schema)?)
    };
    let sql = PLAN_VIEW
        .expand(&params, Dialect::Polars)
        .map_err(compute_error)?;
    let utc = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let mut stats = stats.with_columns([
        col("last_pull_at").cast(utc.clone()),
        col("last_manifest_pull_at").cast(utc.clone()),
    ]);
    // Stats written before failed pulls were kept: none known.
    if !schema.contains("last_failed_pull_at") {
        let mut cols: Vec<Expr> = params
            .windows
            .days()
            .iter()
            .map(|n| lit(0i64).alias(format!("failed_pulls_{n}d")))
            .collect();
        cols.push(lit(NULL).cast(utc.clone()).alias("last_failed_pull_at"));
        stats = stats.with_columns(cols);
    }
    let stats = stats.with_column(col("last_failed_pull_at").cast(utc));
    let mut ctx = SQLContext::new();
    ctx.register("digest_stats", stats);
    ctx.execute(&sql)
}

#[cfg(test)]
mod tests;
