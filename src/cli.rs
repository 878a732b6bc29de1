//! Command-line interface: clap derive structs only, no logic. The commands layer
//! ([`crate::commands`]) maps these to the library's types; nothing in the library uses them
//! (this module depends on [`crate::model`] only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};

use crate::model::LogFormat;

/// Find which container-registry blobs are used and tier the rest to cheaper S3 storage
///
/// Exit codes: 0 success; 1 finished with item failures (e.g. an input over the reject
/// threshold); 2 could not run (usage, config, IO, corrupt input).
#[derive(Debug, Parser)]
#[command(name = "blobtier", version, propagate_version = true)]
pub struct Cli {
    /// Config file (default: `blobtier.toml` in the current directory, if present)
    #[arg(long, global = true, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub config: Option<PathBuf>,

    /// More logs (-v info, -vv debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Fewer logs (errors only) and no progress bars
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormatArg::Text)]
    pub log_format: LogFormatArg,

    /// The subcommand
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// JSON lines (for log shippers).
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest registry access logs and S3 Inventory reports into the lake
    Ingest(IngestArgs),
    /// Per-digest pull statistics for one day
    Stats(StatsArgs),
    /// Tier-migration plan for one day (only moves that pay off)
    Plan(PlanArgs),
    /// Dry-run cost report of a plan: HTML, Markdown with SVG charts, and summary.json
    Report(ReportArgs),
    /// Replay real pulls against the plan the policy would have made `--horizon-days` earlier
    Backtest(BacktestArgs),
    /// Execute a plan against S3 (prints what it would do unless --execute is given)
    Apply(Box<ApplyArgs>),
    /// The nightly job: ingest what is new, then stats, plan and report for as-of
    ///
    /// Works on `run.lake` from the config: a directory, or `s3://bucket/prefix` (kept in a
    /// local mirror, `run.lake_cache`, and published with one commit object). Exits 2 if
    /// another run holds the lake's lock; a lock left by a killed run is taken over (on S3,
    /// after its lease, `run.lock_lease`). See docs/nightly.md.
    Run(RunArgs),
    /// Delete partitions older than the `[run.retention]` ages (as `run` does at its end)
    Prune(PruneArgs),
    /// Run the pipeline on `sample-data/` into `./blobtier-demo/`
    Demo(DemoArgs),
    /// Print a query of `queries/` expanded for an engine, or a lake table's columns
    ///
    /// The expansion blobtier itself runs (`--dialect polars`), or the same query for Spark,
    /// DuckDB or Athena/Trino: `spark/run_stats.py` runs `blobtier sql --dialect spark …
    /// digest_stats`. Queries: digest_stats, summary_by_class, summary_top_pulled, plan_view.
    /// With `--schema`, NAME is a table (pulls, manifest_pulls, inventory, blob_refs,
    /// manifest_refs, tags) and the output its column list for a `CREATE TABLE`.
    Sql(SqlArgs),
    /// Write a commented `blobtier.toml` for a common setup
    Init(InitArgs),
    /// Config commands
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The lake directory
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub lake: PathBuf,

    /// A log input: FORMAT:PATH, FORMAT one of s3-access, registry-json, registry-text,
    /// registry-combined, notifications, cloudfront; PATH a file, directory (recursive), glob or s3://bucket/prefix
    #[arg(long = "logs", value_name = "FORMAT:PATH")]
    pub logs: Vec<LogsArg>,

    /// An S3 Inventory `manifest.json` (local path or s3:// URI)
    #[arg(long = "inventory", value_name = "MANIFEST")]
    pub inventory: Vec<String>,

    /// The registry's storage, the directory that holds `docker/registry/v2/` (a
    /// filesystem-driver directory, or s3://bucket/prefix for the S3 driver): read its
    /// manifests and tags and write the image graph (`blob_refs`, `manifest_refs`, `tags`)
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub registry_storage: Option<String>,

    /// Store client addresses as logged instead of a keyed hash
    #[arg(long)]
    pub raw_clients: bool,

    /// Reject ratio above which an input makes the run exit 1 (default 0.01)
    #[arg(long, value_name = "RATIO")]
    pub max_bad_ratio: Option<f64>,
}

/// One `--logs FORMAT:PATH`.
#[derive(Debug, Clone)]
pub struct LogsArg {
    /// Format.
    pub format: LogFormat,
    /// Path spec (file, directory, glob, `s3://`).
    pub path: String,
}

impl std::str::FromStr for LogsArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (f, p) = s
            .split_once(':')
            .ok_or_else(|| format!("expected FORMAT:PATH, got `{s}`"))?;
        let format = f.parse::<LogFormat>()?;
        if p.is_empty() {
            return Err(format!("empty path in `{s}`"));
        }
        Ok(LogsArg {
            format,
            path: p.to_string(),
        })
    }
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The lake directory
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub lake: PathBuf,

    /// The last day of every window (UTC), YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    pub as_of: chrono::NaiveDate,

    /// Windows and scanners
    #[command(flatten)]
    pub query: StatsQueryArgs,
}

/// The options of the stats query: `stats` runs it, `sql` prints it.
#[derive(Debug, Args)]
pub struct StatsQueryArgs {
    /// Window lengths in days, 1 to 3660; must include 7, 30 and 90 (the plan reads them)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "7,30,90",
        value_name = "N,N,..."
    )]
    pub windows: Vec<u32>,

    /// Count scanner pulls in pulls_*, unique_* and last_pull_at
    #[arg(long)]
    pub include_scanners: bool,

    /// Which logs count pulls: auto (all, each pull once), s3 or registry
    #[arg(long, default_value = "auto", value_name = "SOURCE", value_parser = ["auto", "s3", "registry"])]
    pub pull_source: String,
}

/// `sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query (or, with `--schema`, the table)
    #[arg(value_name = "NAME")]
    pub name: String,

    /// The engine
    #[arg(long, value_enum, default_value_t = SqlDialectArg::Polars)]
    pub dialect: SqlDialectArg,

    /// Print the column list of the table NAME instead of a query
    #[arg(long, conflicts_with_all = ["as_of", "windows", "include_scanners", "count_manifest_pulls"])]
    pub schema: bool,

    /// The last day of every window (UTC), YYYY-MM-DD [default: yesterday]
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,

    /// Windows and scanners, as for `stats`
    #[command(flatten)]
    pub query: StatsQueryArgs,

    /// Count a manifest pull as a use of every blob it reaches (`plan_view`; the config's
    /// `plan.count_manifest_pulls`)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub count_manifest_pulls: bool,
}

/// The engine of `sql`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SqlDialectArg {
    /// Polars SQL, as blobtier runs it.
    Polars,
    /// Spark SQL.
    Spark,
    /// DuckDB.
    Duckdb,
    /// Athena (engine v3) and Trino.
    Trino,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The lake directory
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub lake: PathBuf,

    /// The stats day to plan from, YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    pub as_of: chrono::NaiveDate,

    /// Plan moves to cheaper classes even when days of logs are missing or the inventory is old
    #[arg(long)]
    pub allow_gaps: bool,

    /// A file of image references in use whose blobs are kept, and restored if archived:
    /// `repo@sha256:…` lines or `kubectl get pods -A -o json` (repeatable; `-` reads standard
    /// input; adds to `run.pins`; docs/pins.md)
    #[arg(long = "pins", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub pins: Vec<PathBuf>,
}

/// `report`.
///
/// Reads the plan of `--as-of` (`decisions`, `plan.summary.json`, `digest_stats`) and writes
/// `report.html`, `report.md` with its charts as `.svg` files, and `summary.json` to
/// `LAKE/reports/as_of=DATE/` or `--out` (the directory is replaced as a whole).
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The lake directory
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub lake: PathBuf,

    /// The plan's day, YYYY-MM-DD (run `stats` and `plan` for it first)
    #[arg(long, value_name = "DATE")]
    pub as_of: chrono::NaiveDate,

    /// Output directory [default: `LAKE/reports/as_of=DATE/`]
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: Option<PathBuf>,
}

/// `backtest`.
///
/// Decides as of `as-of − horizon-days` with the real `stats` and `plan` code in a scratch
/// lake (the lake's own partitions are not touched), replays the real pulls of the following
/// days and writes `LAKE/backtests/as_of=DATE/backtest.json`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// The lake directory
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub lake: PathBuf,

    /// The last day replayed, YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    pub as_of: chrono::NaiveDate,

    /// Days replayed after the decision day
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub horizon_days: u32,
}

/// `apply`.
///
/// Without `--execute` only prints what it would do. Exit codes: 0 all actions done (restores
/// still running are left for the next run); 1 finished, some actions failed permanently
/// (listed in the JSON summary); 2 could not run (plan modified, outside the allow-list, IO).
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file (`plan.parquet`)
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub plan: PathBuf,

    /// Act on S3; without it apply only prints what it would do
    #[arg(long)]
    pub execute: bool,

    /// A bucket or bucket/prefix the plan may touch (repeatable; required with --execute)
    #[arg(long = "allow-bucket", value_name = "BUCKET[/PREFIX]")]
    pub allow_bucket: Vec<String>,

    /// Actions in flight at once
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,

    /// Cap on S3 requests per second (throttling lowers the rate further on its own)
    #[arg(long, value_name = "N")]
    pub max_rps: Option<f64>,

    /// Start at most N actions in this run; the rest is left for the next run
    #[arg(long, value_name = "N")]
    pub max_actions: Option<u64>,

    /// Start actions for at most SIZE bytes in this run (e.g. `500GiB`)
    #[arg(long, value_name = "SIZE")]
    pub max_bytes: Option<String>,

    /// Journal directory [default: `LAKE/_journal/` for a plan in a lake, else `journal/` next to the plan]
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub journal: Option<PathBuf>,

    /// Write Prometheus text-format metrics to PATH (node-exporter textfile collector)
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub metrics_file: Option<PathBuf>,

    /// Write S3 Batch Operations manifests and job inputs to DIR instead of acting
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub batch_manifest: Option<PathBuf>,

    /// In versioned buckets, add a NoncurrentVersionExpiration rule (plan.noncurrent_days)
    /// for the allowed prefixes copied under, keeping every other rule (also
    /// `apply.noncurrent_expiration`)
    #[arg(long)]
    pub noncurrent_expiration: bool,

    /// Restore tier when a plan row names none: bulk, standard or expedited [default: bulk]
    #[arg(long, value_name = "TIER")]
    pub restore_tier: Option<String>,

    /// Objects above SIZE use multipart copy (default 5GiB; lowered by tests)
    #[arg(
        long,
        hide = true,
        env = "BLOBTIER_TEST_MULTIPART_THRESHOLD",
        value_name = "SIZE"
    )]
    pub multipart_threshold: Option<String>,

    /// Multipart copy part size (default 512MiB)
    #[arg(long, hide = true, value_name = "SIZE")]
    pub part_size: Option<String>,

    /// Timeout of one attempt of one S3 call, seconds (default 120)
    #[arg(long, hide = true, value_name = "SECONDS")]
    pub attempt_timeout: Option<f64>,

    /// Retry time budget per action, seconds (default 600)
    #[arg(long, hide = true, value_name = "SECONDS")]
    pub retry_budget: Option<f64>,

    /// First backoff delay, ms (default 100)
    #[arg(long, hide = true, value_name = "MS")]
    pub backoff_init_ms: Option<u64>,

    /// Largest backoff delay, ms (default 20000)
    #[arg(long, hide = true, value_name = "MS")]
    pub backoff_max_ms: Option<u64>,

    /// Floor of the adaptive request rate (default 1/s)
    #[arg(long, hide = true, value_name = "N")]
    pub min_rps: Option<f64>,

    /// `Days` of a restore when a plan row carries none (default 3)
    #[arg(long, hide = true, value_name = "N")]
    pub restore_days: Option<i32>,

    /// When the journal is fsynced: batched (default), every (each line, before the action
    /// goes on) or off; the last two for benchmarks
    #[arg(long, hide = true, value_enum, default_value_t = FsyncArg::Batched, value_name = "MODE")]
    pub journal_fsync: FsyncArg,
}

/// `--journal-fsync`: when apply's journal is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FsyncArg {
    /// At most every few milliseconds, off the actions' path (the default).
    Batched,
    /// Each line, before the action goes on.
    Every,
    /// Never.
    Off,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The day to compute for (default: yesterday, UTC); a past day is a reproducible backfill
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,

    /// Plan moves to cheaper classes even when days of logs are missing or the inventory is old
    #[arg(long)]
    pub allow_gaps: bool,

    /// Also write the run's metrics to FILE as a Prometheus textfile (for node-exporter's
    /// textfile collector; replaced atomically, also when the run fails) [default:
    /// `run.metrics_file` of the config]
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub metrics_file: Option<PathBuf>,

    /// A file of image references in use whose blobs are kept, and restored if archived:
    /// `repo@sha256:…` lines or `kubectl get pods -A -o json` (repeatable; `-` reads standard
    /// input; adds to `run.pins`; docs/pins.md)
    #[arg(long = "pins", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub pins: Vec<PathBuf>,
}

/// `prune`.
///
/// Deletes whole partitions (`table/key=DATE/`) dated before as-of minus the table's age in
/// `[run.retention]`, and run records likewise; never the ledger, so inputs whose pulls were
/// pruned are not ingested again. Prints what it deleted as JSON.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The lake directory [default: `run.lake` of the config]
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub lake: Option<PathBuf>,

    /// The day the ages count back from, YYYY-MM-DD (default: yesterday, UTC)
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,

    /// Only list what would be deleted
    #[arg(long)]
    pub dry_run: bool,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Which setup to write the config for
    #[arg(long, value_enum, default_value_t = SetupArg::S3Access)]
    pub setup: SetupArg,

    /// Where to write it (never overwritten)
    #[arg(long, default_value = "blobtier.toml", value_name = "FILE")]
    pub out: PathBuf,
}

/// The setups `init` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SetupArg {
    /// CNCF distribution on S3 with S3 server access logging (redirects to presigned URLs).
    S3Access,
    /// The registry's own JSON logs (logrus `formatter: json`), e.g. shipped to files.
    RegistryJson,
    /// Registry notification envelopes collected by a webhook receiver (compact or
    /// pretty-printed, back to back).
    Notifications,
}

/// `config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config (`--config` or ./blobtier.toml) and print the resolved settings
    Check,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The sample data directory
    #[arg(long, default_value = "sample-data", value_name = "DIR")]
    pub sample_data: PathBuf,

    /// Output directory (replaced)
    #[arg(long, default_value = "blobtier-demo", value_name = "DIR")]
    pub out: PathBuf,
}
