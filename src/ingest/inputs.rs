//! Which inputs an ingest run reads: every log file the `--logs` specs list (once, in one
//! format), and the inventory snapshots not yet in the ledger. What the ledger already holds
//! is skipped here and reported as skipped; a log file's content is checked against the ledger
//! only once it is read ([`super::read`]).
//!
//! Must not read any input's content, nor write anything.

use std::collections::{HashMap, HashSet};

use crate::ingest::inventory::{self, Manifest};
use crate::ingest::{Error, IngestMetrics, LogSpec, Result};
use crate::lake::{Lake, LakeError};
use crate::model::LogFormat;
use crate::progress::Progress;
use crate::storage::{Listed, Location, Storage};

/// What the ledger says was ingested before.
#[derive(Debug, Default)]
pub(super) struct LedgerIndex {
    /// (format, location) → (fingerprint, content hash, run id). The format is part of the
    /// key: a file read in the wrong format once must still be readable in the right one.
    pub by_location: HashMap<(String, String), (String, String, String)>,
    /// (format, content hash) → location
    pub by_hash: HashMap<(String, String), String>,
    /// `bucket@date` → manifest location
    pub snapshots: HashMap<String, String>,
}

impl LedgerIndex {
    /// Reads every ledger entry of `lake`.
    pub fn load(lake: &Lake) -> Result<LedgerIndex> {
        let mut idx = LedgerIndex::default();
        for (path, v) in lake.ledger_entries()? {
            let run_id = v["run_id"].as_str().unwrap_or_default().to_string();
            let Some(inputs) = v["inputs"].as_array() else {
                return Err(LakeError::CorruptLedger {
                    path,
                    reason: "missing `inputs`".into(),
                }
                .into());
            };
            for i in inputs {
                let loc = i["location"].as_str().unwrap_or_default().to_string();
                let fp = i["fingerprint"].as_str().unwrap_or_default().to_string();
                let h = i["content_hash"].as_str().unwrap_or_default().to_string();
                let format = i["format"].as_str().unwrap_or_default().to_string();
                idx.by_hash.insert((format.clone(), h.clone()), loc.clone());
                idx.by_location
                    .insert((format, loc), (fp, h, run_id.clone()));
            }
            for s in v["inventories"].as_array().into_iter().flatten() {
                let key = format!(
                    "{}@{}",
                    s["source_bucket"].as_str().unwrap_or_default(),
                    s["snapshot"].as_str().unwrap_or_default()
                );
                idx.snapshots
                    .insert(key, s["location"].as_str().unwrap_or_default().to_string());
            }
        }
        Ok(idx)
    }
}

/// Lists every log input. An overlapping glob lists a file once; a file listed in two formats
/// is an error; a directory input that contains the lake does not read the lake itself, but a
/// path (or glob) inside the lake is an error, and so is a kernel pseudo-file (`/proc/…`).
pub(super) fn list_logs(
    lake: &Lake,
    storage: &Storage,
    specs: &[LogSpec],
) -> Result<Vec<(LogFormat, Listed)>> {
    let mut listed: Vec<(LogFormat, Listed)> = Vec::new();
    let mut seen_loc: HashMap<Location, LogFormat> = HashMap::new();
    let lake_root = std::fs::canonicalize(lake.root()).unwrap_or_else(|_| lake.root().to_owned());
    for spec in specs {
        if let Some(root) = local_root(&spec.path) {
            if root.starts_with(&lake_root) {
                return Err(Error::InputInsideLake {
                    spec: format!("{}:{}", spec.format.as_str(), spec.path),
                    lake: lake_root.display().to_string(),
                });
            }
        }
        for l in storage.expand(&spec.path)? {
            if let Location::Local(p) = &l.location {
                if p.starts_with(&lake_root) {
                    continue;
                }
                if PSEUDO_FS.iter().any(|fs| p.starts_with(fs)) {
                    return Err(Error::PseudoFile {
                        location: p.display().to_string(),
                    });
                }
            }
            match seen_loc.get(&l.location) {
                Some(f) if *f != spec.format => {
                    return Err(Error::BadLogsSpec {
                        spec: format!("{}:{}", spec.format.as_str(), spec.path),
                        reason: format!("`{}` is also listed as `{}`", l.location, f.as_str()),
                    })
                }
                Some(_) => continue,
                None => {
                    seen_loc.insert(l.location.clone(), spec.format);
                    listed.push((spec.format, l));
                }
            }
        }
    }
    Ok(listed)
}

/// Kernel pseudo-filesystems: their files are not logs (and `/proc/self/environ` holds secrets).
const PSEUDO_FS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The canonical directory or file a local `--logs` path names: the path itself, or for a glob
/// the directory before its first pattern component. `None` for `s3://` or a path that does not
/// exist (listing reports that).
fn local_root(spec: &str) -> Option<std::path::PathBuf> {
    if spec.starts_with("s3://") {
        return None;
    }
    let literal: std::path::PathBuf = std::path::Path::new(spec)
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .collect();
    std::fs::canonicalize(literal).ok()
}

/// Loads each inventory manifest and keeps the snapshots (`bucket@date`) neither in the ledger
/// nor already kept by this run; the others are reported as skipped in `metrics`.
pub(super) fn new_inventories(
    specs: &[String],
    idx: &LedgerIndex,
    storage: &Storage,
    progress: &Progress,
    metrics: &mut IngestMetrics,
) -> Result<Vec<(String, Manifest)>> {
    let mut kept: Vec<(String, Manifest)> = Vec::new();
    let mut snapshots_this_run: HashSet<String> = HashSet::new();
    for spec in specs {
        progress.inc(1);
        let m = inventory::load_manifest(storage, spec)?;
        let key = format!("{}@{}", m.source_bucket, m.snapshot_date());
        let loc = m.location.to_string();
        if idx.snapshots.contains_key(&key) || snapshots_this_run.contains(&key) {
            let status = if idx.snapshots.get(&key) == Some(&loc) {
                "skipped:already_ingested"
            } else {
                tracing::warn!(manifest = %loc, snapshot = %key, "an inventory snapshot of this bucket and date was already ingested; skipping");
                "skipped:snapshot_already_ingested"
            };
            metrics.skipped(loc, "inventory", status);
            continue;
        }
        snapshots_this_run.insert(key.clone());
        kept.push((key, m));
    }
    Ok(kept)
}
