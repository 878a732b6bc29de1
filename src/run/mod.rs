//! `blobtier run`: the nightly job. Ingests what is new from every configured source and the
//! newest inventory report on or before as-of, then computes stats, the plan and the dry-run
//! cost report for as-of ([`crate::pipeline`], with the coverage guard on). `apply` stays a
//! separate, explicit step. Returns the run record; printing it and the exit code are the
//! commands layer's.
//!
//! - One job at a time: `_run_lock` is held for the whole job (a second run exits 2 naming
//!   the holder); each stage also takes the lake's writer lock. On an `s3://` lake the lock is
//!   an object with a lease, and the job runs on a local mirror that is synced down first and
//!   published after (see [`crate::s3lake`]).
//! - Coverage guard: if a day of the longest window has no log input, or the inventory is
//!   older than `run.max_inventory_age_days`, stats are still written but the plan holds every
//!   move to a cheaper class back (`kept:coverage_gap`) and the run exits 1, unless
//!   `--allow-gaps`.
//! - Retention: with `[run.retention]` ages, whole partitions older than as-of − age are
//!   deleted at the end ([`crate::retention`]); the ledger is kept, so ingest stays
//!   incremental.
//! - Every run leaves a record `_runs/<run id>.json`: inputs, rows, rejects, timings per
//!   stage, what was pruned, outcome.

pub mod textfile;

use std::time::Instant;

use chrono::NaiveDate;
use serde_json::json;

use crate::config::{Config, LakeLocation};
use crate::ingest::{IngestRequest, LogSpec};
use crate::lake::Lake;
use crate::s3lake::lock::{Holder, S3Lock};
use crate::s3lake::S3Lake;
use crate::storage::{Location, Storage};

/// Run errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Config lacks something `run` needs.
    #[error("invalid `{key}`: {reason}")]
    Config {
        /// Key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// Lake.
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
    /// Listing inventories.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// A stage of the pipeline.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::Error),
    /// The `s3://` lake: lock, sync, publish.
    #[error(transparent)]
    S3Lake(#[from] crate::s3lake::Error),
    /// Writing the metrics textfile.
    #[error("failed to write the metrics file: {0}")]
    MetricsFile(#[from] crate::io::IoError),
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// As-of day.
    pub as_of: NaiveDate,
    /// Plan even with coverage gaps.
    pub allow_gaps: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Everything succeeded.
    Success,
    /// The coverage guard held moves to cheaper classes back (exit 1).
    HeldDown,
    /// An input exceeded the reject threshold (exit 1).
    ItemFailures,
}

/// What a run did (also `_runs/<id>.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    /// Run id.
    pub run_id: String,
    /// As-of.
    pub as_of: NaiveDate,
    /// Outcome: `success`, `held_down` (coverage guard), `item_failures`.
    pub outcome: RunOutcome,
    /// Seconds per stage.
    pub timings: serde_json::Value,
    /// Ingest metrics.
    pub ingest: crate::ingest::IngestMetrics,
    /// Stats rows.
    pub stats_rows: usize,
    /// Coverage of the longest window (always set by `run`).
    pub coverage: Option<crate::stats::coverage::Coverage>,
    /// Plan summary.
    pub plan: crate::plan::PlanSummary,
    /// Where the dry-run cost report is (a directory, or its `s3://` URL).
    pub report: String,
    /// What `[run.retention]` pruned at the end of the run (`None`: no ages configured).
    pub pruned: Option<crate::retention::PruneReport>,
}

/// The newest `…/<YYYY-MM-DDTHH-MMZ>/manifest.json` under `spec` whose date is on or before `as_of`.
pub fn newest_manifest(
    storage: &Storage,
    spec: &str,
    as_of: NaiveDate,
) -> Result<Option<String>, Error> {
    let mut best: Option<(String, String)> = None;
    for l in storage.expand(spec)? {
        let path = l.location.to_string();
        if !path.ends_with("/manifest.json") {
            continue;
        }
        let folder = path
            .trim_end_matches("/manifest.json")
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let Some(date) = folder
            .get(..10)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if date > as_of {
            continue;
        }
        if best.as_ref().is_none_or(|(f, _)| folder > *f) {
            let shown = match &l.location {
                Location::Local(p) => p.display().to_string(),
                Location::S3 { .. } => path.clone(),
            };
            best = Some((folder, shown));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Runs the nightly job on the lake of `cfg` (a directory or `s3://bucket/prefix`).
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<RunRecord, Error> {
    let location = cfg.run.lake.clone().ok_or(Error::Config {
        key: "run.lake",
        reason: "required by `blobtier run`".into(),
    })?;
    if cfg.run.logs.is_empty() {
        return Err(Error::Config {
            key: "run.logs",
            reason: "expected at least one `FORMAT:PATH` source".into(),
        });
    }
    let storage = Storage::new(cfg.s3_path_style);
    let run_id = crate::lake::run_id();
    match location {
        LakeLocation::Local(dir) => {
            let lake = Lake::open(&dir)?;
            let _job = lake.lock_named("_run_lock")?;
            pipeline(
                cfg,
                opts,
                &lake,
                &storage,
                &run_id,
                None,
                Default::default(),
            )
        }
        LakeLocation::S3 { bucket, prefix } => {
            run_s3(cfg, opts, &storage, &run_id, &bucket, &prefix)
        }
    }
}

/// The job on an `s3://` lake: lock, recover, sync the mirror down, run, publish, unlock
/// (see [`crate::s3lake`]).
fn run_s3(
    cfg: &Config,
    opts: &RunOptions,
    storage: &Storage,
    run_id: &str,
    bucket: &str,
    prefix: &str,
) -> Result<RunRecord, Error> {
    let s3 = storage.s3()?;
    let remote = S3Lake::new(s3, bucket, prefix);
    let url = remote.url();
    let mirror = match &cfg.run.lake_cache {
        Some(d) => d.clone(),
        None => crate::s3lake::default_mirror(&url).ok_or(Error::Config {
            key: "run.lake_cache",
            reason: "required for an `s3://` lake when neither `XDG_CACHE_HOME` nor `HOME` is set"
                .into(),
        })?,
    };
    let lock = S3Lock::acquire(
        s3,
        bucket,
        &remote.key(crate::s3lake::LOCK_KEY),
        &url,
        cfg.run.lock_lease,
        Holder::current(run_id),
    )?;
    let result = std::thread::scope(|scope| {
        let _renewing = lock.keep_alive(scope);
        let t = Instant::now();
        let mut committed = remote.recover()?;
        let lake = Lake::open(&mirror)?;
        let _job = lake.lock_named("_run_lock")?;
        let down = remote.sync_down(&mut committed, lake.root())?;
        let mut timings = serde_json::Map::new();
        timings.insert("sync".into(), json!(t.elapsed().as_secs_f64()));
        let record = pipeline(cfg, opts, &lake, storage, run_id, Some(&url), timings)?;
        let t = Instant::now();
        let up = remote.publish(&committed, lake.root(), run_id, &|| lock.check())?;
        tracing::info!(
            downloaded = down.objects,
            uploaded = up.objects,
            deleted = up.removed,
            seconds = t.elapsed().as_secs_f64(),
            lake = %url,
            "run: published"
        );
        Ok::<_, Error>(record)
    });
    lock.release();
    result
}

/// The pipeline ([`crate::pipeline`]) on `lake` with the coverage guard, then retention, then
/// the run record `_runs/<run_id>.json`. `shown_root` is how the lake is named in the record
/// (its URL, for a mirror).
fn pipeline(
    cfg: &Config,
    opts: &RunOptions,
    lake: &Lake,
    storage: &Storage,
    run_id: &str,
    shown_root: Option<&str>,
    mut timings: serde_json::Map<String, serde_json::Value>,
) -> Result<RunRecord, Error> {
    let inventories = match &cfg.run.inventory {
        None => Vec::new(),
        Some(spec) => newest_manifest(storage, spec, opts.as_of)?
            .into_iter()
            .collect(),
    };
    let req = crate::pipeline::Request {
        name: "run",
        ingest: IngestRequest {
            logs: cfg
                .run
                .logs
                .iter()
                .map(|(f, p)| LogSpec {
                    format: *f,
                    path: p.clone(),
                })
                .collect(),
            inventories,
            registry_storage: cfg.run.registry_storage.clone(),
            graph_date: Some(opts.as_of),
        },
        as_of: opts.as_of,
        windows: cfg.run.windows.clone(),
        guard: Some(crate::pipeline::Guard {
            allow_gaps: opts.allow_gaps,
        }),
    };
    let out = crate::pipeline::run(lake, storage, cfg, &req, &mut timings)?;

    // Retention last: every stage of this run has read what it needs. Whole partitions older
    // than the configured ages go; the ledger stays, so inputs whose pulls were pruned are
    // still known to ingest.
    let pruned = if cfg.run.retention.is_empty() {
        None
    } else {
        Some(crate::pipeline::timed_stage(
            &mut timings,
            "prune",
            "partitions past their retention",
            || crate::retention::prune(lake, &cfg.run.retention, opts.as_of, false),
            |p| format!("{} partitions, {} files", p.partitions, p.files),
        )?)
    };

    let outcome = if out.hold.is_some() && !opts.allow_gaps {
        RunOutcome::HeldDown
    } else if !out.ingest.bad_files.is_empty() {
        RunOutcome::ItemFailures
    } else {
        RunOutcome::Success
    };
    let report_dir = match (shown_root, out.report.dir.strip_prefix(lake.root())) {
        (Some(root), Ok(rel)) => format!("{root}/{}", rel.display()),
        _ => out.report.dir.display().to_string(),
    };
    let record = RunRecord {
        run_id: run_id.to_owned(),
        as_of: opts.as_of,
        outcome,
        timings: serde_json::Value::Object(timings),
        ingest: out.ingest,
        stats_rows: out.stats.counts.rows,
        coverage: out.coverage,
        plan: out.plan,
        report: report_dir,
        pruned,
    };
    crate::crashpoint::pause("run:record");
    let path = lake.root().join("_runs").join(format!("{run_id}.json"));
    crate::io::atomic_write(
        &path,
        &serde_json::to_vec_pretty(&record).expect("run record serialises"),
    )
    .map_err(crate::lake::LakeError::from)?;
    Ok(record)
}
