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

pub mod client;
pub mod event;
pub mod graph;
pub mod inventory;
pub mod logs;
pub mod manifest;
pub mod parse;
pub mod tables;

use std::collections::{BTreeMap, HashMap, HashSet};

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;

use crate::config::{ClientIdentity, Config};
use crate::io::{write_parquet, WriteError};
use crate::lake::{Lake, LakeError};
use crate::model::LogFormat;
use crate::storage::{Listed, Location, Storage, StorageError};
use logs::Counts;
use tables::{day_string, Aggregates, RejectRow};

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
    /// No client identity configured.
    #[error("client addresses must be hashed: set `ingest.client_key` in the config or the `BLOBTIER_CLIENT_KEY` environment variable, or pass `--raw-clients` to store them as logged")]
    NoClientKey,
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

impl std::str::FromStr for LogSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (f, p) = s
            .split_once(':')
            .ok_or_else(|| format!("expected FORMAT:PATH, got `{s}`"))?;
        let format = f.parse::<LogFormat>()?;
        if p.is_empty() {
            return Err(format!("empty path in `{s}`"));
        }
        Ok(LogSpec {
            format,
            path: p.to_string(),
        })
    }
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

#[derive(Default)]
struct LedgerIndex {
    /// location → (fingerprint, content hash, run id)
    by_location: HashMap<String, (String, String, String)>,
    /// content hash → location
    by_hash: HashMap<String, String>,
    /// `bucket@date` → manifest location
    snapshots: HashMap<String, String>,
}

fn load_index(lake: &Lake) -> Result<LedgerIndex> {
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
            idx.by_hash.insert(h.clone(), loc.clone());
            idx.by_location.insert(loc, (fp, h, run_id.clone()));
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
    let progress = crate::progress::Progress::counter("ingest", "files", Some(0), true);
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
    progress: &crate::progress::Progress,
) -> Result<IngestMetrics> {
    let lock = lake.lock()?;
    lake.recover(&lock)?;
    let identity = if req.logs.is_empty() {
        None
    } else {
        Some(
            cfg.ingest
                .client_identity
                .clone()
                .ok_or(Error::NoClientKey)?,
        )
    };
    let started = chrono::Utc::now();
    let graph_root = req
        .registry_storage
        .as_deref()
        .map(graph::Root::parse)
        .transpose()?;
    let idx = load_index(lake)?;
    let mut metrics = IngestMetrics::default();

    // 1. List every input; an overlapping glob lists a file once.
    let mut listed: Vec<(LogFormat, Listed)> = Vec::new();
    let mut seen_loc: HashMap<Location, LogFormat> = HashMap::new();
    let lake_root = std::fs::canonicalize(lake.root()).unwrap_or_else(|_| lake.root().to_owned());
    for spec in &req.logs {
        for l in storage.expand(&spec.path)? {
            if matches!(&l.location, Location::Local(p) if p.starts_with(&lake_root)) {
                // A directory input that contains the lake must not read the lake itself.
                continue;
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

    // 2. Read new inputs.
    progress.inc_total((listed.len() + req.inventories.len()) as u64);
    progress.set_message("logs");
    let mut agg = Aggregates::default();
    let mut rejects: BTreeMap<String, Vec<RejectRow>> = BTreeMap::new();
    let mut ledger_inputs = Vec::new();
    let mut hashes_this_run: HashMap<String, String> = HashMap::new();
    for (format, l) in &listed {
        progress.inc(1);
        let loc = l.location.to_string();
        if let Some((fp, _, _)) = idx.by_location.get(&loc) {
            if *fp == l.fingerprint {
                metrics.files_skipped += 1;
                metrics.inputs.push(InputSummary {
                    location: loc,
                    format: format.as_str().into(),
                    status: "skipped:already_ingested".into(),
                    counts: None,
                });
                continue;
            }
        }
        let raw = storage.open(&l.location)?;
        let unreadable = |e: std::io::Error| Error::Unreadable {
            location: loc.clone(),
            reason: e.to_string(),
        };
        let res = logs::read_log(*format, raw, &cfg.ingest).map_err(unreadable)?;
        progress.add_bytes(l.size);
        if let Some((_, old, run_id)) = idx.by_location.get(&loc) {
            if *old == res.content_hash {
                // Touched but identical: nothing to do.
                metrics.files_skipped += 1;
                metrics.inputs.push(InputSummary {
                    location: loc,
                    format: format.as_str().into(),
                    status: "skipped:already_ingested".into(),
                    counts: None,
                });
                continue;
            }
            return Err(Error::ContentChanged {
                location: loc,
                run_id: run_id.clone(),
                old: old.clone(),
                new: res.content_hash,
            });
        }
        if let Some(other) = idx
            .by_hash
            .get(&res.content_hash)
            .or_else(|| hashes_this_run.get(&res.content_hash))
        {
            tracing::warn!(input = %loc, same_as = %other, "identical content already ingested; skipping");
            metrics.files_skipped += 1;
            metrics.inputs.push(InputSummary {
                location: loc,
                format: format.as_str().into(),
                status: "skipped:duplicate_content".into(),
                counts: None,
            });
            continue;
        }
        hashes_this_run.insert(res.content_hash.clone(), loc.clone());
        tracing::debug!(input = %loc, lines = res.counts.lines, pulls = res.counts.pulls, "read log input");
        let c = &res.counts;
        let denom = c.lines.saturating_sub(c.foreign);
        if denom > 0 {
            let ratio = c.rejected() as f64 / denom as f64;
            if ratio > cfg.ingest.max_bad_ratio {
                let mut top: Vec<(String, u64)> =
                    c.rejects.iter().map(|(k, v)| (k.clone(), *v)).collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                top.truncate(3);
                metrics.bad_files.push(BadFile {
                    location: loc.clone(),
                    ratio,
                    top_reasons: top,
                });
            }
        }
        metrics.files_read += 1;
        metrics.totals.add(c);
        ledger_inputs.push(json!({
            "kind": "log",
            "format": format.as_str(),
            "location": loc,
            "size": l.size,
            "fingerprint": l.fingerprint,
            "content_hash": res.content_hash,
            "counts": c,
            "first_day": res.days.map(|d| day_string(d.0)),
            "last_day": res.days.map(|d| day_string(d.1)),
        }));
        metrics.inputs.push(InputSummary {
            location: loc.clone(),
            format: format.as_str().into(),
            status: "ingested".into(),
            counts: Some(c.clone()),
        });
        if !res.rejects.is_empty() {
            rejects.insert(loc, res.rejects);
        }
        agg.merge(res.agg);
    }

    // 3. Inventories.
    let mut inv_entries = Vec::new();
    let mut inv_outputs: Vec<(String, inventory::Manifest)> = Vec::new();
    let mut snapshots_this_run: HashSet<String> = HashSet::new();
    progress.set_message("inventory");
    for spec in &req.inventories {
        progress.inc(1);
        let m = inventory::load_manifest(storage, spec)?;
        let key = format!("{}@{}", m.source_bucket, m.snapshot_date());
        let loc = m.location.to_string();
        if idx.snapshots.contains_key(&key) || snapshots_this_run.contains(&key) {
            let status = if idx.snapshots.get(&key) == Some(&loc) {
                "skipped:already_ingested"
            } else {
                "skipped:snapshot_already_ingested"
            };
            if status != "skipped:already_ingested" {
                tracing::warn!(manifest = %loc, snapshot = %key, "an inventory snapshot of this bucket and date was already ingested; skipping");
            }
            metrics.files_skipped += 1;
            metrics.inputs.push(InputSummary {
                location: loc,
                format: "inventory".into(),
                status: status.into(),
                counts: None,
            });
            continue;
        }
        snapshots_this_run.insert(key.clone());
        inv_outputs.push((key, m));
    }

    let nothing_new = ledger_inputs.is_empty() && inv_outputs.is_empty() && graph_root.is_none();
    if nothing_new {
        tracing::info!(skipped = metrics.files_skipped, "nothing new to ingest");
        return Ok(metrics);
    }

    // 4. Stage outputs.
    let run_id = crate::lake::run_id();
    let mut staging = lake.stage(&run_id)?;
    let part = format!("part-{run_id}.parquet");
    if let Some(identity) = &identity {
        let render = |a: &str| render_client(identity, a);
        for day in agg.days() {
            let d = day_string(day);
            if agg.pulls.keys().any(|k| k.day == day) {
                let rel = format!("pulls/date={d}/{part}");
                write_parquet(
                    &staging.path_for(&rel),
                    tables::pulls_schema(),
                    &[tables::pulls_batch(&agg, day, &render)],
                )?;
                metrics.outputs.push(rel);
            }
            if agg.manifests.keys().any(|k| k.day == day) {
                let rel = format!("manifest_pulls/date={d}/{part}");
                write_parquet(
                    &staging.path_for(&rel),
                    tables::manifest_schema(),
                    &[tables::manifests_batch(&agg, day, &render)],
                )?;
                metrics.outputs.push(rel);
            }
        }
    }
    let mut staged_inventories: Vec<(String, String, std::path::PathBuf)> = Vec::new();
    for (key, m) in &inv_outputs {
        let rel = format!(
            "inventory/snapshot={}/part-{run_id}-{}.parquet",
            m.snapshot_date(),
            sanitize(&m.source_bucket)
        );
        staged_inventories.push((
            m.source_bucket.clone(),
            m.snapshot_date(),
            staging.staged_path(&rel),
        ));
        let mut batches = Vec::new();
        let mut files = Vec::new();
        let mut rows = 0;
        let mut blobs = 0;
        progress.inc_total(m.files.len() as u64);
        for i in 0..m.files.len() {
            let df = inventory::read_data_file(storage, m, i, &cfg.ingest.layout)?;
            progress.inc(1);
            rows += df.rows;
            blobs += df.blobs;
            files.push(json!({"key": m.files[i].1, "md5": m.files[i].2, "rows": df.rows, "rejects": df.rejects.len()}));
            if !df.rejects.is_empty() {
                rejects
                    .entry(m.files[i].0.to_string())
                    .or_default()
                    .extend(df.rejects);
            }
            batches.push(df.batch);
        }
        // Sorted by digest (then bucket, key, version) so that digest-range readers (stats)
        // skip the row groups outside their range.
        let sorted =
            inventory::sort_by_digest(&batches).map_err(|source| crate::io::WriteError::Arrow {
                path: staging.path_for(&rel),
                source,
            })?;
        write_parquet(
            &staging.path_for(&rel),
            inventory::inventory_schema(),
            std::slice::from_ref(&sorted),
        )?;
        metrics.outputs.push(rel);
        metrics.inventory_rows += rows;
        metrics.inventory_blobs += blobs;
        metrics.inventory_snapshots.push(key.clone());
        inv_entries.push(json!({
            "kind": "inventory",
            "location": m.location.to_string(),
            "manifest_md5": m.md5,
            "source_bucket": m.source_bucket,
            "snapshot": m.snapshot_date(),
            "created_ms": m.created_ms,
            "file_format": m.format,
            "files": files,
            "rows": rows,
            "blobs": blobs,
        }));
        metrics.inputs.push(InputSummary {
            location: m.location.to_string(),
            format: "inventory".into(),
            status: "ingested".into(),
            counts: None,
        });
    }
    let mut graph_parts = Vec::new();
    if let Some(root) = &graph_root {
        progress.set_message("image graph");
        let keys = match root {
            graph::Root::Local(_) => graph::KeySource::Walk,
            graph::Root::S3 { bucket, .. } => inventory_for(lake, bucket, &staged_inventories)
                .unwrap_or(graph::KeySource::Listing),
        };
        let built = graph::build(graph::Input {
            root,
            keys,
            lake,
            storage,
            today: req.graph_date.unwrap_or_else(|| started.date_naive()),
        })?;
        tracing::info!(
            manifests = built.metrics.manifests,
            fetched = built.metrics.manifests_fetched,
            blobs = built.metrics.blobs,
            unreferenced = built.metrics.blobs_unreferenced,
            "built the image graph"
        );
        for (table, schema, batch) in [
            ("blob_refs", graph::blob_refs_schema(), &built.blob_refs),
            (
                "manifest_refs",
                graph::manifest_refs_schema(),
                &built.manifest_refs,
            ),
            ("tags", graph::tags_schema(), &built.tags),
        ] {
            let rel = format!("{table}/snapshot={}/{part}", built.snapshot);
            write_parquet(&staging.path_for(&rel), schema, std::slice::from_ref(batch))?;
            metrics.outputs.push(rel.clone());
            graph_parts.push(rel);
        }
        if let Some(batch) = &built.new_manifests {
            let rel = format!("manifests/{part}");
            write_parquet(
                &staging.path_for(&rel),
                graph::manifests_schema(),
                std::slice::from_ref(batch),
            )?;
            metrics.outputs.push(rel);
        }
        metrics.graph = Some(built.metrics);
    }
    if !rejects.is_empty() {
        let rel = format!("_rejects/date={}/{part}", started.format("%Y-%m-%d"));
        write_parquet(
            &staging.path_for(&rel),
            tables::rejects_schema(),
            &[tables::rejects_batch(&rejects, &run_id)],
        )?;
        metrics.outputs.push(rel);
    }
    metrics.run_id = Some(run_id.clone());
    let ledger = json!({
        "v": 1,
        "run_id": run_id,
        "blobtier_version": env!("CARGO_PKG_VERSION"),
        "started_at": started.to_rfc3339(),
        "finished_at": chrono::Utc::now().to_rfc3339(),
        "inputs": ledger_inputs,
        "inventories": inv_entries,
        "outputs": metrics.outputs,
        "totals": metrics.totals,
        "bad_files": metrics.bad_files,
        "graph": metrics.graph,
    });
    crate::crashpoint::pause("ingest:staged");
    staging.commit(&ledger)?;
    graph::prune_superseded(lake, &graph_parts);
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

/// The inventory snapshot to take the registry's keys from: one of `bucket` staged by this run,
/// else the newest in the lake (its part files for `bucket`).
fn inventory_for(
    lake: &Lake,
    bucket: &str,
    staged: &[(String, String, std::path::PathBuf)],
) -> Option<graph::KeySource> {
    if let Some((_, date, path)) = staged
        .iter()
        .filter(|(b, _, _)| b == bucket)
        .max_by(|a, b| a.1.cmp(&b.1))
    {
        return Some(graph::KeySource::Inventory(
            date.clone(),
            vec![path.clone()],
        ));
    }
    let suffix = format!("-{}.parquet", sanitize(bucket));
    let mut snapshots: Vec<(String, Vec<std::path::PathBuf>)> =
        std::fs::read_dir(lake.root().join("inventory"))
            .ok()?
            .flatten()
            .filter_map(|e| {
                let date = e
                    .file_name()
                    .to_string_lossy()
                    .strip_prefix("snapshot=")?
                    .to_owned();
                let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(e.path())
                    .ok()?
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
                    })
                    .collect();
                files.sort();
                (!files.is_empty()).then_some((date, files))
            })
            .collect();
    snapshots.sort();
    let (date, files) = snapshots.pop()?;
    Some(graph::KeySource::Inventory(date, files))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
