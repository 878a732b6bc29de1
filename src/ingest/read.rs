//! Reads and parses the new log inputs ([`super::logs::read_log`]) into one set of aggregates,
//! the quarantined lines per input (spooled on disk, [`Quarantine`]) and the ledger records of
//! the inputs read.
//!
//! Invariants: an input whose content is already in the ledger (same location, or the same
//! content anywhere, this run included) is skipped, never counted twice; an input whose content
//! changed since it was ingested is an error naming it. Writes nothing.

use std::collections::HashMap;

use serde_json::json;

use crate::config::Config;
use crate::ingest::inputs::LedgerIndex;
use crate::ingest::logs::{self, Counts, ReadError};
use crate::ingest::rejects::Quarantine;
use crate::ingest::tables::{day_string, Aggregates};
use crate::ingest::{BadFile, Error, IngestMetrics, InputSummary, Result};
use crate::model::LogFormat;
use crate::progress::Progress;
use crate::storage::{Listed, Storage};

/// What the new log inputs gave.
#[derive(Debug)]
pub(super) struct LogsRead {
    /// Their aggregates, merged.
    pub agg: Aggregates,
    /// Quarantined lines of the inputs read (not of those skipped after reading).
    pub rejects: Quarantine,
    /// One ledger record per input read.
    pub ledger_inputs: Vec<serde_json::Value>,
}

/// Reads every listed input that is new, counting each in `metrics` (read, skipped, over the
/// reject threshold); quarantined lines are spooled into `rejects`.
pub(super) fn read_logs(
    listed: &[(LogFormat, Listed)],
    idx: &LedgerIndex,
    storage: &Storage,
    cfg: &Config,
    progress: &Progress,
    metrics: &mut IngestMetrics,
    rejects: Quarantine,
) -> Result<LogsRead> {
    let mut out = LogsRead {
        agg: Aggregates::default(),
        rejects,
        ledger_inputs: Vec::new(),
    };
    let mut hashes_this_run: HashMap<(String, String), String> = HashMap::new();
    for (format, l) in listed {
        progress.inc(1);
        let loc = l.location.to_string();
        let known = idx
            .by_location
            .get(&(format.as_str().to_string(), loc.clone()));
        if known.is_some_and(|(fp, _, _)| *fp == l.fingerprint) {
            metrics.skipped(loc, format.as_str(), "skipped:already_ingested");
            continue;
        }
        let raw = storage.open(&l.location)?;
        let mut input_rejects = out.rejects.input();
        let res =
            logs::read_log(*format, raw, &cfg.ingest, &mut input_rejects).map_err(|e| match e {
                ReadError::Input(e) => Error::Unreadable {
                    location: loc.clone(),
                    reason: e.to_string(),
                },
                ReadError::Rejects(e) => Error::Rejects(e),
            })?;
        progress.add_bytes(l.size);
        if let Some((_, old, run_id)) = known {
            if *old == res.content_hash {
                // Touched but identical: nothing to do.
                metrics.skipped(loc, format.as_str(), "skipped:already_ingested");
                continue;
            }
            return Err(Error::ContentChanged {
                location: loc,
                run_id: run_id.clone(),
                old: old.clone(),
                new: res.content_hash,
            });
        }
        let hash_key = (format.as_str().to_string(), res.content_hash.clone());
        if let Some(other) = idx
            .by_hash
            .get(&hash_key)
            .or_else(|| hashes_this_run.get(&hash_key))
        {
            tracing::warn!(input = %loc, same_as = %other, "identical content already ingested; skipping");
            metrics.skipped(loc, format.as_str(), "skipped:duplicate_content");
            continue;
        }
        check_format(*format, l, storage, cfg, &res.counts)?;
        hashes_this_run.insert(hash_key, loc.clone());
        tracing::debug!(input = %loc, lines = res.counts.lines, pulls = res.counts.pulls, "read log input");
        let c = &res.counts;
        metrics
            .bad_files
            .extend(over_threshold(&loc, c, cfg.ingest.max_bad_ratio));
        metrics.files_read += 1;
        metrics.totals.add(c);
        out.ledger_inputs.push(json!({
            "kind": "log",
            "format": format.as_str(),
            "location": loc,
            "size": l.size,
            "fingerprint": l.fingerprint,
            "content_hash": res.content_hash,
            "counts": c,
            "first_day": res.days.map(|d| day_string(d.0)),
            "last_day": res.days.map(|d| day_string(d.1)),
            "days": res
                .day_lines
                .iter()
                .map(|(d, n)| (day_string(*d), json!(n)))
                .collect::<serde_json::Map<_, _>>(),
        }));
        metrics.inputs.push(InputSummary {
            location: loc.clone(),
            format: format.as_str().into(),
            status: "ingested".into(),
            counts: Some(c.clone()),
        });
        out.rejects.keep(&loc, input_rejects);
        out.agg.merge(res.agg);
    }
    Ok(out)
}

/// An input none of whose lines is a line of `format` (no pull, no manifest request, no
/// well-formed line of another kind) was given in the wrong format when its first lines fit
/// another one, or is no log of `format` at all when every line was `foreign`: either is an
/// error naming the input (nothing is committed, so the right format can read it next time).
/// Lines that are all malformed lines of `format` stay what they are: rejects, against the
/// reject threshold.
fn check_format(
    format: LogFormat,
    l: &Listed,
    storage: &Storage,
    cfg: &Config,
    c: &Counts,
) -> Result<()> {
    if c.lines == 0 || c.pulls > 0 || c.manifest_requests > 0 || !c.ignored.is_empty() {
        return Ok(());
    }
    let unreadable = |e: std::io::Error| Error::Unreadable {
        location: l.location.to_string(),
        reason: e.to_string(),
    };
    let text = crate::storage::decompressing(storage.open(&l.location)?).map_err(unreadable)?;
    let opts = crate::ingest::event::ParseOptions {
        layout: cfg.ingest.layout.clone(),
        s3_include_auth_header: cfg.ingest.s3_include_auth_header,
    };
    let fits = crate::ingest::sniff::fitting_format(text, format, &opts).map_err(unreadable)?;
    if fits.is_some() || c.foreign == c.lines {
        return Err(Error::WrongFormat {
            location: l.location.to_string(),
            format,
            lines: c.lines,
            fits,
        });
    }
    Ok(())
}

/// The input as a [`BadFile`] when its reject ratio (over the lines of its own stream) is
/// above `max_bad_ratio`, with its three most frequent reasons.
fn over_threshold(location: &str, c: &Counts, max_bad_ratio: f64) -> Option<BadFile> {
    let denom = c.lines.saturating_sub(c.foreign);
    if denom == 0 {
        return None;
    }
    let ratio = c.rejected() as f64 / denom as f64;
    (ratio > max_bad_ratio).then(|| {
        let mut top: Vec<(String, u64)> = c.rejects.iter().map(|(k, v)| (k.clone(), *v)).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(3);
        BadFile {
            location: location.to_owned(),
            ratio,
            top_reasons: top,
        }
    })
}
