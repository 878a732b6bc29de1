//! `blobtier demo`: the pipeline ([`crate::pipeline`]: ingest, stats, plan, report) on
//! `sample-data/` into `./blobtier-demo/lake` for the sample's last day, with no
//! configuration and no credentials (clients are stored with a fixed demo key, which is fine
//! for synthetic data and wrong for real data). Prints nothing: `commands::demo` does.

use std::path::{Path, PathBuf};

use crate::config::{ClientIdentity, RawConfig};
use crate::ingest::{IngestRequest, LogSpec};
use crate::lake::Lake;
use crate::model::LogFormat;
use crate::storage::Storage;

/// Demo errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Sample data missing.
    #[error(
        "sample data not found at `{0}`: run from the repository root or pass `--sample-data`"
    )]
    NoSampleData(String),
    /// Opening the lake.
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
    /// A stage of the pipeline.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::Error),
    /// IO.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// expected.json.
    #[error("sample data `expected.json` is unreadable: {0}")]
    BadExpected(String),
}

/// What the demo did, for the commands layer to print.
#[derive(Debug)]
pub struct DemoSummary {
    /// Days of sample data (`window.days` of `expected.json`).
    pub days: u64,
    /// The sample's last day: the stats, plan and report day.
    pub as_of: chrono::NaiveDate,
    /// The lake written.
    pub lake: PathBuf,
    /// The plan file.
    pub plan_path: PathBuf,
    /// Every stage's output.
    pub outputs: crate::pipeline::Outputs,
}

/// Runs the pipeline on the sample data into `out/lake` (`out` is replaced).
pub fn run_demo(sample: &Path, out: &Path) -> Result<DemoSummary, Error> {
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
    let lake = Lake::open(&out.join("lake"))?;
    let mut cfg = RawConfig::default()
        .validate(&Default::default())
        .expect("defaults are valid");
    cfg.ingest.client_identity = Some(ClientIdentity::Keyed(
        b"blobtier-demo-key-not-secret".to_vec(),
    ));
    let mut inventories = walk_manifests(&sample.join("inventory"));
    inventories.sort();
    inventories.retain(|m| m.contains("daily-csv"));
    let req = crate::pipeline::Request {
        name: "demo",
        ingest: IngestRequest {
            logs: vec![LogSpec {
                format: LogFormat::S3Access,
                path: sample.join("logs/s3-access").display().to_string(),
            }],
            inventories,
            registry_storage: None,
            graph_date: None,
        },
        as_of: end,
        windows: crate::model::windows::PLAN_WINDOWS.to_vec(),
        guard: None,
    };
    let outputs = crate::pipeline::run(
        &lake,
        &Storage::new(false),
        &cfg,
        &req,
        &mut serde_json::Map::new(),
    )?;
    Ok(DemoSummary {
        days: expected["window"]["days"].as_u64().unwrap_or(90),
        as_of: end,
        lake: out.join("lake"),
        plan_path: crate::plan::plan_path(&lake, end),
        outputs,
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
