//! `blobtier demo`: ingest `sample-data/` into `./blobtier-demo/lake` and compute stats for
//! the sample's last day, with no configuration and no credentials (clients are stored
//! with a fixed demo key, which is fine for synthetic data and wrong for real data).

use std::path::Path;

use crate::config::{ClientIdentity, RawConfig};
use crate::ingest::{IngestRequest, LogSpec};
use crate::lake::Lake;
use crate::model::LogFormat;
use crate::progress::stage;
use crate::storage::Storage;
use crate::Outcome;

/// Demo errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Sample data missing.
    #[error(
        "sample data not found at `{0}`: run from the repository root or pass `--sample-data`"
    )]
    NoSampleData(String),
    /// Ingest.
    #[error(transparent)]
    Ingest(#[from] crate::ingest::Error),
    /// Stats.
    #[error(transparent)]
    Stats(#[from] crate::stats::Error),
    /// Plan.
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
    /// Report.
    #[error(transparent)]
    Report(#[from] crate::report::Error),
    /// IO.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// expected.json.
    #[error("sample data `expected.json` is unreadable: {0}")]
    BadExpected(String),
}

/// Runs the demo.
pub fn run_demo(sample: &Path, out: &Path) -> Result<Outcome, Error> {
    use crate::io::IoContext;
    if !sample.join("logs").is_dir() {
        return Err(Error::NoSampleData(sample.display().to_string()));
    }
    let expected: serde_json::Value = std::fs::read(sample.join("expected.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| Error::BadExpected(sample.join("expected.json").display().to_string()))?;
    let end = expected["window"]["last_day"]
        .as_str()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| Error::BadExpected("missing `window.last_day`".into()))?;
    if out.exists() {
        std::fs::remove_dir_all(out).at("failed to remove", out)?;
    }
    let lake = Lake::open(&out.join("lake")).map_err(crate::ingest::Error::from)?;
    let mut cfg = RawConfig::default()
        .validate(&Default::default())
        .expect("defaults are valid");
    cfg.ingest.client_identity = Some(ClientIdentity::Keyed(
        b"blobtier-demo-key-not-secret".to_vec(),
    ));
    let mut inventories = Vec::new();
    for entry in walk_manifests(&sample.join("inventory")) {
        inventories.push(entry);
    }
    inventories.sort();
    let req = IngestRequest {
        logs: vec![LogSpec {
            format: LogFormat::S3Access,
            path: sample.join("logs/s3-access").display().to_string(),
        }],
        inventories: inventories
            .iter()
            .filter(|m| m.contains("daily-csv"))
            .cloned()
            .collect(),
        registry_storage: None,
        graph_date: None,
    };
    let m = crate::ingest::ingest(&lake, &req, &cfg, &Storage::new(false))?;
    let s = stage(
        "stats",
        "digest_stats",
        || {
            crate::stats::run_stats(
                &lake,
                &crate::stats::StatsOptions {
                    as_of: end,
                    windows: vec![7, 30, 90],
                    include_scanners: false,
                },
            )
        },
        |s| format!("{} digests", s.counts.rows),
    )?;
    let p = stage(
        "plan",
        "decisions and plan",
        || crate::plan::run_plan(&lake, end, &cfg, None),
        |p| format!("{} of {} blobs move", p.totals.actions, p.totals.blobs),
    )?;
    let r = stage(
        "report",
        "dry-run cost report",
        || {
            crate::report::run_report(
                &lake,
                &crate::report::ReportOptions {
                    as_of: end,
                    out: None,
                },
                &cfg,
            )
        },
        |r| format!("written to {}", r.dir.display()),
    )?;
    let t = &p.totals;
    outln!(
        "blobtier demo: sample data of {} days ending {end}, lake at {}",
        expected["window"]["days"].as_u64().unwrap_or(90),
        out.join("lake").display()
    );
    outln!(
        "  ingested {} log files: {} pulls, {} rejected lines; {} inventory rows; {} digests in digest_stats",
        m.files_read,
        m.totals.pulls,
        m.totals.rejected(),
        m.inventory_rows,
        s.counts.rows
    );
    outln!(
        "  monthly cost now ${:.2} -> after the plan ${:.2}: {} of {} blobs move ({:.1} GiB), one-time ${:.2}, net 12-month savings ${:.2}",
        t.monthly_cost_now,
        t.monthly_cost_after,
        t.actions,
        t.blobs,
        t.bytes_moved as f64 / f64::from(1u32 << 30),
        t.one_time_cost,
        t.net_savings_12m
    );
    outln!(
        "  hot set: {} digests, {:.1} GiB, {:.0}% of 7-day pulls",
        p.hot_set.digests,
        p.hot_set.bytes as f64 / f64::from(1u32 << 30),
        p.hot_set.pull_share_7d * 100.0
    );
    outln!("  plan: {}", crate::plan::plan_path(&lake, end).display());
    outln!("  report: {}", r.dir.join("report.html").display());
    Ok(if m.bad_files.is_empty() {
        Outcome::Success
    } else {
        Outcome::ItemFailures
    })
}

fn walk_manifests(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_manifests(&p));
            } else if p.file_name().is_some_and(|n| n == "manifest.json") {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
