//! blobtier: find out which container-registry blobs are actually used and move the rest to
//! cheaper S3 storage classes, with the cost shown up front.
//!
//! The pipeline is a set of stages that exchange files in a lake directory:
//! 1. [`ingest`]: access logs + S3 Inventory → Hive-partitioned Parquet (`pulls`,
//!    `manifest_pulls`, `inventory`, `_rejects`, `_ledger`);
//! 2. [`stats`]: per-digest pull windows, unique clients, unique-pull ratio;
//! 3. plan, report, apply: later stages.
//!
//! Dependencies point one way: `model` ← `ingest` ← `stats`. `main.rs` is the only place
//! that uses `anyhow`.
#![warn(missing_docs)]

/// Writes a line to stdout (the data channel). A closed pipe (`blobtier … | head`) is not an
/// error worth a panic: the rest of the output is dropped.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod apply;
pub mod cli;
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
pub mod plan;
pub mod progress;
pub mod report;
pub mod retention;
pub mod run;
pub mod s3lake;
pub mod stats;
pub mod storage;

use std::path::Path;

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
    /// Ingest.
    #[error(transparent)]
    Ingest(#[from] ingest::Error),
    /// Stats.
    #[error(transparent)]
    Stats(#[from] stats::Error),
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
    /// Report and backtest.
    #[error(transparent)]
    Report(#[from] report::Error),
}

fn load_config(
    path: Option<&Path>,
    ov: config::Overrides,
) -> Result<config::Config, config::LoadError> {
    let default = Path::new("blobtier.toml");
    let path = path.or_else(|| default.is_file().then_some(default));
    config::load(path, ov)
}

/// Prints a JSON value to stdout (the data channel).
#[allow(clippy::print_stdout)]
pub fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("metrics serialise")
    );
}

/// Runs a parsed command line.
pub fn run(cli: cli::Cli) -> Result<Outcome, Error> {
    use cli::Command;
    match cli.command {
        Command::Ingest(a) => {
            let cfg = load_config(
                cli.config.as_deref(),
                config::Overrides {
                    raw_clients: a.raw_clients,
                    max_bad_ratio: a.max_bad_ratio,
                    ..Default::default()
                },
            )?;
            let lake = lake::Lake::open(&a.lake).map_err(ingest::Error::from)?;
            let storage = storage::Storage::new(cfg.s3_path_style);
            let req = ingest::IngestRequest {
                logs: a.logs,
                inventories: a.inventory,
                registry_storage: a.registry_storage,
                graph_date: None,
            };
            let m = ingest::ingest(&lake, &req, &cfg, &storage)?;
            print_json(&m);
            for b in &m.bad_files {
                let reasons: Vec<String> = b
                    .top_reasons
                    .iter()
                    .map(|(r, n)| format!("{r} ({n})"))
                    .collect();
                tracing::error!(input = %b.location, ratio = b.ratio, reasons = %reasons.join(", "), "too many malformed lines");
            }
            Ok(if m.bad_files.is_empty() {
                Outcome::Success
            } else {
                Outcome::ItemFailures
            })
        }
        Command::Stats(a) => {
            let lake = lake::Lake::open(&a.lake).map_err(stats::Error::from)?;
            let opts = stats::StatsOptions {
                as_of: a.as_of,
                windows: a.windows,
                include_scanners: a.include_scanners,
            };
            let s = stats::run_stats(&lake, &opts)?;
            stats::print_summary(&s);
            Ok(Outcome::Success)
        }
        Command::Init(a) => {
            init::init(a.setup, &a.out)?;
            tracing::info!(path = %a.out.display(), "wrote config");
            Ok(Outcome::Success)
        }
        Command::Config(cli::ConfigCommand::Check) => {
            let cfg = load_config(cli.config.as_deref(), config::Overrides::default())?;
            if let Err(errors) = plan::policy::validate_rules(&cfg.plan.tiers, &cfg.run.windows) {
                return Err(config::LoadError::Invalid {
                    path: cli.config.clone().unwrap_or_else(|| "blobtier.toml".into()),
                    errors,
                }
                .into());
            }
            print_json(&init::resolved(&cfg));
            Ok(Outcome::Success)
        }
        Command::Demo(a) => Ok(demo::run_demo(&a.sample_data, &a.out)?),
        Command::Plan(a) => {
            let cfg = load_config(cli.config.as_deref(), config::Overrides::default())?;
            let lake = lake::Lake::open(&a.lake).map_err(plan::Error::from)?;
            let s = plan::run_plan(&lake, a.as_of, &cfg, None)?;
            print_json(&s);
            Ok(Outcome::Success)
        }
        Command::Apply(a) => {
            let a = *a;
            let cfg = load_config(cli.config.as_deref(), config::Overrides::default())?;
            let report = apply::run(&apply::Options {
                plan: a.plan,
                execute: a.execute,
                allow: cfg
                    .apply_allow
                    .iter()
                    .cloned()
                    .chain(a.allow_bucket)
                    .collect(),
                concurrency: Some(a.concurrency),
                max_rps: a.max_rps,
                max_actions: a.max_actions,
                max_bytes: a.max_bytes,
                journal_dir: a.journal,
                metrics_file: a.metrics_file,
                batch_manifest: a.batch_manifest,
                path_style: cfg.s3_path_style,
                multipart_threshold: a.multipart_threshold,
                part_size: a.part_size,
                attempt_timeout: a.attempt_timeout,
                retry_budget: a.retry_budget,
                backoff_init_ms: a.backoff_init_ms,
                backoff_max_ms: a.backoff_max_ms,
                min_rps: a.min_rps,
                restore_days: a.restore_days,
                restore_tier: a.restore_tier,
                journal_fsync: match a.journal_fsync {
                    cli::JournalFsync::Batched => apply::journal::FsyncMode::Batched,
                    cli::JournalFsync::Every => apply::journal::FsyncMode::Every,
                    cli::JournalFsync::Off => apply::journal::FsyncMode::Off,
                },
            })?;
            print_json(&report.summary());
            Ok(if report.has_failures() {
                Outcome::ItemFailures
            } else {
                Outcome::Success
            })
        }
        Command::Run(a) => {
            let cfg = load_config(cli.config.as_deref(), config::Overrides::default())?;
            let as_of = a
                .as_of
                .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Duration::days(1));
            let (outcome, record) = run::run(
                &cfg,
                &run::RunOptions {
                    as_of,
                    allow_gaps: a.allow_gaps,
                },
            )?;
            print_json(&record);
            Ok(outcome)
        }
        Command::Prune(a) => {
            let cfg = load_config(cli.config.as_deref(), config::Overrides::default())?;
            let dir = match (a.lake, cfg.run.lake.clone()) {
                (Some(d), _) | (None, Some(config::LakeLocation::Local(d))) => d,
                (None, Some(config::LakeLocation::S3 { .. })) => {
                    return Err(run::Error::Config {
                        key: "run.lake",
                        reason: "`blobtier prune` works on a local lake; an `s3://` lake is pruned by `blobtier run` (`[run.retention]`)".into(),
                    }
                    .into())
                }
                (None, None) => {
                    return Err(run::Error::Config {
                        key: "run.lake",
                        reason: "`blobtier prune` needs `--lake DIR` or `run.lake`".into(),
                    }
                    .into())
                }
            };
            if cfg.run.retention.is_empty() {
                return Err(run::Error::Config {
                    key: "run.retention",
                    reason: "sets no age (e.g. `pulls_days = 400`), so there is nothing to prune"
                        .into(),
                }
                .into());
            }
            let as_of = a
                .as_of
                .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Duration::days(1));
            let lake = lake::Lake::open(&dir).map_err(run::Error::from)?;
            let r = retention::prune(&lake, &cfg.run.retention, as_of, a.dry_run)
                .map_err(run::Error::from)?;
            print_json(&r);
            Ok(Outcome::Success)
        }
        Command::Report(a) => {
            let cfg = load_config(cli.config.as_deref(), config::Overrides::default())?;
            let lake = lake::Lake::open(&a.lake).map_err(report::Error::from)?;
            let out = report::run_report(
                &lake,
                &report::ReportOptions {
                    as_of: a.as_of,
                    out: a.out,
                },
                &cfg,
            )?;
            print_json(&out);
            Ok(Outcome::Success)
        }
        Command::Backtest(a) => {
            let cfg = load_config(cli.config.as_deref(), config::Overrides::default())?;
            let lake = lake::Lake::open(&a.lake).map_err(report::Error::from)?;
            let bt = report::backtest::run_backtest(
                &lake,
                &report::backtest::BacktestOptions {
                    as_of: a.as_of,
                    horizon_days: a.horizon_days,
                },
                &cfg,
            )?;
            print_json(&bt);
            Ok(Outcome::Success)
        }
    }
}
