//! Writes one ingest run's outputs into the lake's staging area and publishes them with the
//! ledger entry as the commit point ([`crate::lake::Staging`]): `pulls` and `manifest_pulls`
//! per day, one `inventory` part per snapshot (its data files read here, sorted by digest),
//! the image graph, `_rejects`, then `_ledger/<run id>.json`.
//!
//! Invariant: nothing is visible in the lake before the commit; an error leaves it unchanged.
//! Every output is listed in the ledger entry and in the metrics.

use std::path::PathBuf;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde_json::json;

use crate::config::ClientIdentity;
use crate::ingest::inventory::Snapshot;
use crate::ingest::read::LogsRead;
use crate::ingest::rejects::Quarantine;
use crate::ingest::tables::{self, day_string, Aggregates};
use crate::ingest::{graph, render_client, IngestMetrics, InputSummary, Result};
use crate::io::write_parquet;
use crate::lake::{Lake, Staging};
use crate::model::schema;
use crate::progress::Progress;
use crate::storage::Storage;

/// Everything a run found new, to be written and committed.
pub(super) struct Work<'a> {
    /// The lake (its writer lock held by the caller).
    pub lake: &'a Lake,
    /// Input access.
    pub storage: &'a Storage,
    /// When the run started.
    pub started: chrono::DateTime<chrono::Utc>,
    /// How clients are stored (`None` when no logs were requested).
    pub identity: Option<&'a ClientIdentity>,
    /// The new inventory snapshots, read and accepted (`inventory::read_new`).
    pub inventories: Vec<Snapshot>,
    /// The registry's storage, to build the image graph from.
    pub graph_root: Option<&'a graph::Root>,
    /// The graph's snapshot date when its keys come from a walk or a listing.
    pub graph_date: chrono::NaiveDate,
    /// Progress.
    pub progress: &'a Progress,
}

/// An inventory part staged by this run: source bucket, snapshot date, staged file.
type StagedInventory = (String, String, PathBuf);

/// Stages every output of `w` and `logs`, then commits them with the ledger entry.
pub(super) fn stage_and_commit(
    w: &Work<'_>,
    logs: LogsRead,
    metrics: &mut IngestMetrics,
) -> Result<()> {
    let run_id = crate::lake::run_id();
    let mut staging = w.lake.stage(&run_id)?;
    let part = format!("part-{run_id}.parquet");
    let LogsRead {
        agg,
        mut rejects,
        ledger_inputs,
    } = logs;
    if let Some(identity) = w.identity {
        write_pulls(&mut staging, &agg, identity, &part, &mut metrics.outputs)?;
    }
    let mut inv_entries = Vec::new();
    let mut staged_inventories: Vec<StagedInventory> = Vec::new();
    for snap in &w.inventories {
        let (entry, staged) = write_inventory(&mut staging, &run_id, snap, &mut rejects, metrics)?;
        inv_entries.push(entry);
        staged_inventories.push(staged);
    }
    let mut graph_parts = Vec::new();
    if let Some(root) = w.graph_root {
        graph_parts = write_graph(&mut staging, w, root, &staged_inventories, &part, metrics)?;
    }
    if !rejects.is_empty() {
        let rel = format!("_rejects/date={}/{part}", w.started.format("%Y-%m-%d"));
        rejects.write(&staging.path_for(&rel), &run_id)?;
        metrics.outputs.push(rel);
    }
    metrics.run_id = Some(run_id.clone());
    let ledger = json!({
        "v": 1,
        "run_id": run_id,
        "blobtier_version": env!("CARGO_PKG_VERSION"),
        "started_at": w.started.to_rfc3339(),
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
    graph::prune_superseded(w.lake, &graph_parts);
    Ok(())
}

/// Writes one batch as the staged file `rel` and lists it in `outputs`.
fn write_table(
    staging: &mut Staging,
    rel: String,
    schema: SchemaRef,
    batch: &RecordBatch,
    outputs: &mut Vec<String>,
) -> Result<()> {
    write_parquet(&staging.path_for(&rel), schema, std::slice::from_ref(batch))?;
    outputs.push(rel);
    Ok(())
}

/// `pulls`, `failed_pulls` and `manifest_pulls`, one file per day that has rows, written in
/// parallel (days and, within a file, columns: [`crate::io::ParquetStream`]) and listed in
/// `outputs` in day order. Clients are rendered (hashed) and names ranked once, not once per
/// day ([`tables::Names`]), and the rows are split by day in one pass: each day used to scan
/// every row and hash every client, which took seconds after the last input was read.
fn write_pulls(
    staging: &mut Staging,
    agg: &Aggregates,
    identity: &ClientIdentity,
    part: &str,
    outputs: &mut Vec<String>,
) -> Result<()> {
    use rayon::prelude::*;
    use std::collections::{BTreeMap, HashMap};
    let started = std::time::Instant::now();
    let render = |a: &str| render_client(identity, a);
    let names = tables::Names::new(agg, &render);
    // (relative path, staged path, what to write), in day order.
    enum Rows<'a> {
        Pulls(Vec<(&'a tables::PullKey, &'a tables::Agg)>),
        Failed(Vec<(&'a tables::FailedKey, &'a tables::Agg)>),
        Manifests(Vec<(&'a tables::ManifestKey, &'a tables::Agg)>),
    }
    fn by_day<K, V>(
        rows: &HashMap<K, V, impl std::hash::BuildHasher>,
        day: impl Fn(&K) -> i32,
    ) -> BTreeMap<i32, Vec<(&K, &V)>> {
        let mut out: BTreeMap<i32, Vec<_>> = BTreeMap::new();
        for row in rows {
            out.entry(day(row.0)).or_default().push(row);
        }
        out
    }
    let mut jobs: Vec<(i32, &str, Rows<'_>)> = Vec::new();
    jobs.extend(
        by_day(&agg.pulls, |k| k.day)
            .into_iter()
            .map(|(d, r)| (d, "pulls", Rows::Pulls(r))),
    );
    jobs.extend(
        by_day(&agg.failed, |k| k.day)
            .into_iter()
            .map(|(d, r)| (d, "failed_pulls", Rows::Failed(r))),
    );
    jobs.extend(
        by_day(&agg.manifests, |k| k.day)
            .into_iter()
            .map(|(d, r)| (d, "manifest_pulls", Rows::Manifests(r))),
    );
    // In day order, then table order.
    jobs.sort_by_key(|(day, table, _)| (*day, *table));
    let jobs: Vec<(PathBuf, String, Rows<'_>)> = jobs
        .into_iter()
        .map(|(day, table, rows)| {
            let rel = format!("{table}/date={}/{part}", day_string(day));
            (staging.path_for(&rel), rel, rows)
        })
        .collect();
    let written: Vec<String> = jobs
        .into_par_iter()
        .map(|(path, rel, rows)| {
            let (schema, batch) = match rows {
                Rows::Pulls(rows) => (schema::pulls(), tables::pulls_batch_of(&names, rows)),
                Rows::Failed(rows) => (
                    schema::failed_pulls(),
                    tables::failed_batch_of(&names, rows),
                ),
                Rows::Manifests(rows) => (
                    schema::manifest_pulls(),
                    tables::manifests_batch_of(&names, rows),
                ),
            };
            // Synced with the other staged files when the staging area commits.
            let mut w = crate::io::ParquetStream::create(&path, schema)?;
            w.write(&batch)?;
            w.finish_unsynced()?;
            Ok(rel)
        })
        .collect::<Result<_>>()?;
    tracing::debug!(
        files = written.len(),
        ms = started.elapsed().as_millis() as u64,
        "wrote pulls, failed pulls and manifest requests"
    );
    outputs.extend(written);
    Ok(())
}

/// One inventory snapshot, read by `inventory::read_new` (sorted by digest, then bucket, key,
/// version, so that digest-range readers such as stats skip the row groups outside their range),
/// written as one part. Returns its ledger record and where it is staged.
fn write_inventory(
    staging: &mut Staging,
    run_id: &str,
    snap: &Snapshot,
    rejects: &mut Quarantine,
    metrics: &mut IngestMetrics,
) -> Result<(serde_json::Value, StagedInventory)> {
    let m = &snap.manifest;
    let rel = format!(
        "inventory/snapshot={}/part-{run_id}-{}.parquet",
        m.snapshot_date(),
        sanitize(&m.source_bucket)
    );
    let staged = (
        m.source_bucket.clone(),
        m.snapshot_date(),
        staging.staged_path(&rel),
    );
    // The rows the reader kept (capped while reading) go to the quarantine like a log's.
    for (location, rows) in &snap.rejects {
        let mut file_rejects = rejects.input();
        for row in rows {
            file_rejects.push(row.clone())?;
        }
        rejects.keep(location, file_rejects);
    }
    write_table(
        staging,
        rel,
        schema::inventory(),
        &snap.batch,
        &mut metrics.outputs,
    )?;
    metrics.inventory_rows += snap.rows;
    metrics.inventory_blobs += snap.blobs;
    metrics.inventory_duplicates += snap.duplicates;
    metrics.inventory_snapshots.push(snap.key.clone());
    metrics.inputs.push(InputSummary {
        location: m.location.to_string(),
        format: "inventory".into(),
        status: "ingested".into(),
        counts: None,
    });
    Ok((snap.ledger_record(), staged))
}

/// Builds the image graph and stages its tables; returns the `blob_refs`, `manifest_refs` and
/// `tags` parts it wrote (older snapshots of them are pruned after the commit).
fn write_graph(
    staging: &mut Staging,
    w: &Work<'_>,
    root: &graph::Root,
    staged_inventories: &[StagedInventory],
    part: &str,
    metrics: &mut IngestMetrics,
) -> Result<Vec<String>> {
    w.progress.set_message("image graph");
    let keys = match root {
        graph::Root::Local(_) => graph::KeySource::Walk,
        graph::Root::S3 { bucket, .. } => {
            inventory_for(w.lake, bucket, staged_inventories).unwrap_or(graph::KeySource::Listing)
        }
    };
    let built = graph::build(graph::Input {
        root,
        keys,
        lake: w.lake,
        storage: w.storage,
        today: w.graph_date,
    })?;
    tracing::info!(
        manifests = built.metrics.manifests,
        fetched = built.metrics.manifests_fetched,
        blobs = built.metrics.blobs,
        unreferenced = built.metrics.blobs_unreferenced,
        "built the image graph"
    );
    let mut parts = Vec::new();
    for (table, schema, batch) in [
        ("blob_refs", schema::blob_refs(), &built.blob_refs),
        (
            "manifest_refs",
            schema::manifest_refs(),
            &built.manifest_refs,
        ),
        ("tags", schema::tags(), &built.tags),
    ] {
        let rel = format!("{table}/snapshot={}/{part}", built.snapshot);
        write_table(staging, rel.clone(), schema, batch, &mut metrics.outputs)?;
        parts.push(rel);
    }
    if let Some(batch) = &built.new_manifests {
        let rel = format!("manifests/{part}");
        write_table(
            staging,
            rel,
            schema::manifests(),
            batch,
            &mut metrics.outputs,
        )?;
    }
    metrics.graph = Some(built.metrics);
    Ok(parts)
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
