//! Ingest: registry access logs and S3 Inventory reports → the lake's `pulls`,
//! `manifest_pulls`, `inventory` and `_rejects` tables, plus a `_ledger` entry per run.
//!
//! Invariants:
//! - idempotent: an input already in the ledger (same location and fingerprint, or same
//!   content anywhere) is not read again; an input whose content changed since it was
//!   ingested is an error naming it, never a recount;
//! - atomic: outputs are staged and published with the ledger entry as commit point
//!   ([`crate::lake`]); an error leaves the lake unchanged;
//! - a malformed line is quarantined and counted, never dropped silently.
//!
//! This stage must not read anything but its inputs and the ledger.

mod block;
pub mod client;
pub mod event;
pub mod graph;
pub mod inventory;
pub mod logs;
pub mod manifest;
pub mod parse;
pub mod rejects;
pub mod sniff;
pub mod tables;

mod columns;
mod commit;
mod inputs;
mod read;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::config::{ClientIdentity, Config};
use crate::io::WriteError;
use crate::lake::{Lake, LakeError};
use crate::model::LogFormat;
use crate::progress::Progress;
use crate::storage::{Storage, StorageError};
use logs::Counts;

/// Ingest errors: the run could not complete; the lake is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Lake IO or lock.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// Listing or reading inputs.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Writing outputs.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// `--logs` value.
    #[error("invalid `--logs {spec}`: {reason}")]
    BadLogsSpec {
        /// The value.
        spec: String,
        /// Why.
        reason: String,
    },
    /// Reading or decompressing one input failed.
    #[error("failed to read `{location}`: {reason}")]
    Unreadable {
        /// The input.
        location: String,
        /// Why (e.g. corrupt gzip).
        reason: String,
    },
    /// No line of a log input is a line of the format it was given as.
    #[error("`{location}`: none of its {lines} lines is a `{}` line{}", format.as_str(), match fits {
        Some(f) => format!("; they read as `{0}`: ingest it with `--logs {0}:…`", f.as_str()),
        None => String::from(" (nor of any other format blobtier reads)"),
    })]
    WrongFormat {
        /// The input.
        location: String,
        /// The format it was given as.
        format: LogFormat,
        /// Its lines.
        lines: u64,
        /// The format its first lines fit, if any.
        fits: Option<LogFormat>,
    },
    /// An input changed after it was ingested.
    #[error("`{location}` changed since it was ingested by run {run_id} (content hash {old} → {new}); refusing to count it again: move the new content to a new file name")]
    ContentChanged {
        /// The input.
        location: String,
        /// Run that ingested it.
        run_id: String,
        /// Hash then.
        old: String,
        /// Hash now.
        new: String,
    },
    /// A `--logs` path inside the lake.
    #[error("`{spec}` is inside the lake `{lake}`: ingest never reads the lake's own files; move the input out of the lake")]
    InputInsideLake {
        /// The `--logs` value.
        spec: String,
        /// The lake.
        lake: String,
    },
    /// A kernel pseudo-file (`/proc`, `/sys`, `/dev`): never a log, possibly secrets.
    #[error("refusing to read `{location}`: a kernel pseudo-file under /proc, /sys or /dev is not a log")]
    PseudoFile {
        /// The file.
        location: String,
    },
    /// No client identity configured.
    #[error("client addresses must be hashed: set `ingest.client_key` in the config or the `BLOBTIER_CLIENT_KEY` environment variable, or pass `--raw-clients` to store them as logged")]
    NoClientKey,
    /// Spooling or writing quarantined lines.
    #[error(transparent)]
    Rejects(#[from] rejects::RejectsError),
    /// Inventory.
    #[error(transparent)]
    Inventory(#[from] inventory::InventoryError),
    /// Image graph (`--registry-storage`).
    #[error(transparent)]
    Graph(#[from] graph::GraphError),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One `--logs FORMAT:PATH`.
#[derive(Debug, Clone)]
pub struct LogSpec {
    /// Format.
    pub format: LogFormat,
    /// Path spec (file, directory, glob, `s3://`).
    pub path: String,
}

/// What to ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestRequest {
    /// Log inputs.
    pub logs: Vec<LogSpec>,
    /// Inventory manifests.
    pub inventories: Vec<String>,
    /// The registry's storage (`DIR` or `s3://bucket/prefix`): build the image graph.
    pub registry_storage: Option<String>,
    /// The snapshot date of a graph whose keys come from a directory walk or a listing
    /// (default: the run's UTC date). `run` passes its as-of, so that the stats it computes
    /// next use the graph it just built.
    pub graph_date: Option<chrono::NaiveDate>,
}

/// Per-input outcome for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    /// Location.
    pub location: String,
    /// Format.
    pub format: String,
    /// `ingested`, `skipped:already_ingested`, `skipped:duplicate_content`.
    pub status: String,
    /// Counts (ingested only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
}

/// A file over the reject threshold.
#[derive(Debug, Clone, Serialize)]
pub struct BadFile {
    /// Location.
    pub location: String,
    /// Reject ratio.
    pub ratio: f64,
    /// Top reasons.
    pub top_reasons: Vec<(String, u64)>,
}

/// Metrics of one run (printed, and stored in the ledger entry).
#[derive(Debug, Clone, Serialize, Default)]
pub struct IngestMetrics {
    /// Run id (`None` when nothing new was found and nothing was written).
    pub run_id: Option<String>,
    /// Log inputs read.
    pub files_read: u64,
    /// Inputs skipped (already in the ledger).
    pub files_skipped: u64,
    /// Totals over the inputs read.
    pub totals: Counts,
    /// Inventory rows written.
    pub inventory_rows: u64,
    /// Inventory blob rows.
    pub inventory_blobs: u64,
    /// Inventory rows dropped as copies of an object already listed (same bucket, key and
    /// version id, in one data file or two of one report).
    pub inventory_duplicates: u64,
    /// Inventory snapshots ingested (`bucket@date`).
    pub inventory_snapshots: Vec<String>,
    /// Files written (relative to the lake).
    pub outputs: Vec<String>,
    /// Inputs over the reject threshold (run exits 1).
    pub bad_files: Vec<BadFile>,
    /// Per input.
    pub inputs: Vec<InputSummary>,
    /// The image graph, when `--registry-storage` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph: Option<graph::GraphMetrics>,
}

impl IngestMetrics {
    /// Counts an input that is not read, and why (`status`).
    fn skipped(&mut self, location: String, format: &str, status: &str) {
        self.files_skipped += 1;
        self.inputs.push(InputSummary {
            location,
            format: format.into(),
            status: status.into(),
            counts: None,
        });
    }
}

/// Stored form of a client: keyed hash (32 hex) or the normalised address.
pub fn render_client(identity: &ClientIdentity, addr: &str) -> String {
    match identity {
        ClientIdentity::Raw => addr.to_string(),
        ClientIdentity::Keyed(k) => {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(k).expect("HMAC takes keys of any length");
            mac.update(addr.as_bytes());
            hex::encode(&mac.finalize().into_bytes()[..16])
        }
    }
}

/// Runs one ingest into `lake`, showing its progress (files and bytes read).
pub fn ingest(
    lake: &Lake,
    req: &IngestRequest,
    cfg: &Config,
    storage: &Storage,
) -> Result<IngestMetrics> {
    let progress = Progress::counter("ingest", "files", Some(0), true);
    match ingest_with(lake, req, cfg, storage, &progress) {
        Ok(m) => {
            progress.finish(format!(
                "{} read, {} skipped, {} pulls",
                m.files_read, m.files_skipped, m.totals.pulls
            ));
            Ok(m)
        }
        Err(e) => {
            progress.abandon();
            Err(e)
        }
    }
}

fn ingest_with(
    lake: &Lake,
    req: &IngestRequest,
    cfg: &Config,
    storage: &Storage,
    progress: &Progress,
) -> Result<IngestMetrics> {
    let lock = lake.lock()?;
    lake.recover(&lock)?;
    let identity = if req.logs.is_empty() {
        None
    } else {
        Some(
            cfg.ingest
                .client_identity
                .as_ref()
                .ok_or(Error::NoClientKey)?,
        )
    };
    let started = chrono::Utc::now();
    let graph_root = req
        .registry_storage
        .as_deref()
        .map(graph::Root::parse)
        .transpose()?;
    let idx = inputs::LedgerIndex::load(lake)?;
    let mut metrics = IngestMetrics::default();

    // 1. List every input; an overlapping glob lists a file once.
    let listed = inputs::list_logs(lake, storage, &req.logs)?;

    // 2. Read new inputs.
    progress.inc_total((listed.len() + req.inventories.len()) as u64);
    progress.set_message("logs");
    // Quarantined lines are spooled in the lake's `_tmp/` (unnamed files: nothing is left
    // there if the run dies) until the commit writes them.
    let quarantine = rejects::Quarantine::new(lake.root().join("_tmp"));
    let logs = read::read_logs(
        &listed,
        &idx,
        storage,
        cfg,
        progress,
        &mut metrics,
        quarantine,
    )?;

    // 3. Inventories.
    progress.set_message("inventory");
    let inventories =
        inputs::new_inventories(&req.inventories, &idx, storage, progress, &mut metrics)?;
    let inventories =
        inventory::read_new(inventories, storage, &cfg.ingest, progress, &mut metrics)?;

    let nothing_new =
        logs.ledger_inputs.is_empty() && inventories.is_empty() && graph_root.is_none();
    if nothing_new {
        tracing::info!(skipped = metrics.files_skipped, "nothing new to ingest");
        return Ok(metrics);
    }

    // 4. Stage the outputs and commit them with the ledger entry.
    let work = commit::Work {
        lake,
        storage,
        started,
        identity,
        inventories,
        graph_root: graph_root.as_ref(),
        graph_date: req.graph_date.unwrap_or_else(|| started.date_naive()),
        progress,
    };
    commit::stage_and_commit(&work, logs, &mut metrics)?;
    tracing::info!(
        files = metrics.files_read,
        skipped = metrics.files_skipped,
        pulls = metrics.totals.pulls,
        rejects = metrics.totals.rejected(),
        "ingested"
    );
    drop(lock);
    Ok(metrics)
}
