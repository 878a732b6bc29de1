//! Command-line interface: clap derive structs only, no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};

use crate::ingest::LogSpec;

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

    /// Fewer logs (errors only)
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
    /// Tier-migration plan (not implemented yet)
    Plan(Unimplemented),
    /// Dry-run cost report (not implemented yet)
    Report(Unimplemented),
    /// Execute a plan against S3 (not implemented yet)
    Apply(Unimplemented),
    /// The nightly job: ingest → stats → plan → report (not implemented yet)
    Run(Unimplemented),
    /// Run the pipeline on `sample-data/` into `./blobtier-demo/`
    Demo(DemoArgs),
}

/// `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The lake directory
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub lake: PathBuf,

    /// A log input: FORMAT:PATH, FORMAT one of s3-access, registry-json, registry-combined,
    /// notifications; PATH a file, directory (recursive), glob or s3://bucket/prefix
    #[arg(long = "logs", value_name = "FORMAT:PATH")]
    pub logs: Vec<LogSpec>,

    /// An S3 Inventory `manifest.json` (local path or s3:// URI)
    #[arg(long = "inventory", value_name = "MANIFEST")]
    pub inventory: Vec<String>,

    /// Store client addresses as logged instead of a keyed hash
    #[arg(long)]
    pub raw_clients: bool,

    /// Reject ratio above which an input makes the run exit 1 (default 0.01)
    #[arg(long, value_name = "RATIO")]
    pub max_bad_ratio: Option<f64>,
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

    /// Window lengths in days
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

/// A stage whose issue has not landed yet.
#[derive(Debug, Args)]
pub struct Unimplemented {
    /// Arguments (ignored)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<String>,
}
