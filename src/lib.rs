//! blobtier: find out which container-registry blobs are actually used and move the rest to
//! cheaper S3 storage classes, with the cost shown up front.
//!
//! The pipeline is a set of stages that exchange files in a lake directory ([`lake`]):
//! 1. [`ingest`]: access logs, S3 Inventory and the registry's storage → Hive-partitioned
//!    Parquet (`pulls`, `manifest_pulls`, `inventory`, the image graph, `_rejects`, `_ledger`);
//! 2. [`stats`]: per-digest pull windows, unique clients, unique-pull ratio (`digest_stats`);
//! 3. [`plan`]: the tier decision per blob and the content-hashed plan file;
//! 4. [`report`]: the dry-run cost report of a plan (with the latest backtest's figures);
//! 5. [`apply`]: executes a plan file against S3, with a journal.
//!
//! Dependencies point one way: [`model`] ← [`cost`] ← [`ingest`] ← [`query`] ← [`stats`] ←
//! [`plan`] ← [`report`] ([`query`]: the SQL, its expander and the tables, shared by `stats`
//! and `plan`); [`apply`] depends on the plan's file format, [`model`] and the S3 layer only.
//! Shared low-level modules ([`io`], [`lake`], [`storage`], [`s3lake`], [`crashpoint`],
//! [`progress`], [`config`]) sit below the stages. [`pipeline`] runs the stages in order for
//! [`run`](mod@run) (the nightly job) and [`demo`]; [`backtest`] runs `stats` and `plan` for a past day
//! in a scratch lake and replays the pulls since. On top, [`cli`] (clap structs) and [`commands`]
//! (one file per subcommand, the only place that prints data to stdout); nothing depends on
//! `apply`, `cli` or `commands`. `main.rs` is the only place that uses `anyhow`.
#![warn(missing_docs)]

pub mod apply;
pub mod backtest;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cost;
pub mod crashpoint;
pub mod demo;
pub mod ingest;
pub mod init;
pub mod io;
pub mod lake;
pub mod logging;
pub mod model;
pub mod pins;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod query;
pub mod report;
pub mod retention;
pub mod run;
pub mod s3;
pub mod s3lake;
pub mod stats;
pub mod storage;

/// How a finished command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything succeeded.
    Success,
    /// Finished, but some items failed (exit 1).
    ItemFailures,
}

impl Outcome {
    /// Process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::ItemFailures => 1,
        }
    }
}

/// Any error that stops a command (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Config.
    #[error(transparent)]
    Config(#[from] config::LoadError),
    /// A setting a command needs is missing or unusable.
    #[error("invalid `{key}`: {reason}")]
    Setting {
        /// Key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// Lake IO or lock.
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    /// Ingest.
    #[error(transparent)]
    Ingest(#[from] ingest::Error),
    /// Stats.
    #[error(transparent)]
    Stats(#[from] stats::Error),
    /// `sql`.
    #[error(transparent)]
    Query(#[from] query::Error),
    /// Demo.
    #[error(transparent)]
    Demo(#[from] demo::Error),
    /// Apply.
    #[error(transparent)]
    Apply(#[from] apply::Error),
    /// Plan.
    #[error(transparent)]
    Plan(#[from] plan::Error),
    /// Run.
    #[error(transparent)]
    Run(#[from] run::Error),
    /// Init.
    #[error(transparent)]
    Init(#[from] init::Error),
    /// Report.
    #[error(transparent)]
    Report(#[from] report::Error),
    /// Backtest.
    #[error(transparent)]
    Backtest(#[from] backtest::Error),
}

/// Runs a parsed command line: the subcommand's function in [`commands`].
pub fn run(cli: cli::Cli) -> Result<Outcome, Error> {
    use cli::{Command, ConfigCommand};
    let config = cli.config.as_deref();
    match cli.command {
        Command::Ingest(a) => commands::ingest(config, a),
        Command::Stats(a) => commands::stats(a),
        Command::Plan(a) => commands::plan(config, a),
        Command::Report(a) => commands::report(config, a),
        Command::Backtest(a) => commands::backtest(config, a),
        Command::Apply(a) => commands::apply(config, *a),
        Command::Run(a) => commands::run(config, a),
        Command::Prune(a) => commands::prune(config, a),
        Command::Demo(a) => commands::demo(a),
        Command::Sql(a) => commands::sql(a),
        Command::Init(a) => commands::init(a),
        Command::Config(ConfigCommand::Check) => commands::config_check(config),
    }
}
