//! `blobtier apply`: executes a plan against S3 (only prints what it would do without
//! `--execute`).

use std::path::Path;

use crate::apply::journal::FsyncMode;
use crate::apply::{Limits, Multipart, Options, Output, Pace, Restore, Retry};
use crate::cli::{ApplyArgs, FsyncArg};
use crate::config::Config;
use crate::{Error, Outcome};

/// Applies `--plan` and prints the summary; exit 1 when some actions failed permanently.
pub fn apply(config: Option<&Path>, a: ApplyArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config(config, Default::default())?;
    let report = crate::apply::run(&options(&cfg, a))?;
    super::print_json(&report.summary());
    Ok(super::outcome(report.has_failures()))
}

/// The arguments and the config as apply's options: the allow-list is the config's
/// `apply.allow` plus every `--allow-bucket`.
fn options(cfg: &Config, a: ApplyArgs) -> Options {
    Options {
        plan: a.plan,
        execute: a.execute,
        allow: cfg
            .apply_allow
            .iter()
            .cloned()
            .chain(a.allow_bucket)
            .collect(),
        path_style: cfg.s3_path_style,
        noncurrent_expiration: (a.noncurrent_expiration || cfg.apply_noncurrent_expiration)
            .then_some(cfg.plan.noncurrent_days),
        pace: Pace {
            concurrency: Some(a.concurrency),
            max_rps: a.max_rps,
            min_rps: a.min_rps,
        },
        limits: Limits {
            max_actions: a.max_actions,
            max_bytes: a.max_bytes,
        },
        retry: Retry {
            attempt_timeout: a.attempt_timeout,
            budget: a.retry_budget,
            backoff_init_ms: a.backoff_init_ms,
            backoff_max_ms: a.backoff_max_ms,
        },
        multipart: Multipart {
            threshold: a.multipart_threshold,
            part_size: a.part_size,
        },
        restore: Restore {
            days: a.restore_days,
            tier: a.restore_tier,
        },
        output: Output {
            journal_dir: a.journal,
            journal_fsync: match a.journal_fsync {
                FsyncArg::Batched => FsyncMode::Batched,
                FsyncArg::Every => FsyncMode::Every,
                FsyncArg::Off => FsyncMode::Off,
            },
            metrics_file: a.metrics_file,
            batch_manifest: a.batch_manifest,
        },
    }
}
