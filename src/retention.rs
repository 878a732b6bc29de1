//! Retention: deletes whole partitions older than the `[run.retention]` ages, at the end of
//! `run` and by `blobtier prune`.
//!
//! Invariants:
//! - only whole Hive partitions (`table/key=YYYY-MM-DD/`) and whole run records
//!   (`_runs/<run id>.json`) are deleted, never single part files; a name that does not parse
//!   as a date is left alone;
//! - dates are relative to as-of: a partition dated D goes when D < as-of − N days, so a
//!   backfill with an old as-of never deletes newer partitions, and as-of's own partitions
//!   are never deleted;
//! - the newest `snapshot=` on or before as-of of `inventory/` and of the image graph is kept
//!   whatever its age (stats read it);
//! - the ledger (`_ledger/`) is never touched: it is what makes ingest incremental, so a raw
//!   log file whose pulls were pruned is still known and is not read again while its source
//!   still lists it. `_journal/` (apply's audit trail) is not touched either;
//! - crash-safe: each partition is first renamed into `_tmp/prune-<id>/` (atomic on one file
//!   system, so readers see a partition whole or not at all), then the directory is removed;
//!   a crash in between leaves it to [`Lake::recover`], which removes it.
//!
//! Runs under the lake's writer lock.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::RawRetention;
use crate::io::{sync_dir, IoContext, IoError};
use crate::lake::{Lake, LakeError};

/// How a table's entries are dated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `key=YYYY-MM-DD` partitions.
    Dated(&'static str),
    /// `snapshot=YYYY-MM-DD` partitions; the newest on or before as-of stays.
    Snapshot,
    /// `<YYYYMMDD>T…json` files (run records).
    RunFiles,
}

/// (config key, table directory, kind).
const TABLES: [(&str, &str, Kind); 16] = [
    ("pulls_days", "pulls", Kind::Dated("date")),
    ("pulls_days", "manifest_pulls", Kind::Dated("date")),
    ("inventory_days", "inventory", Kind::Snapshot),
    ("graph_days", "blob_refs", Kind::Snapshot),
    ("graph_days", "manifest_refs", Kind::Snapshot),
    ("graph_days", "tags", Kind::Snapshot),
    ("digest_stats_days", "digest_stats", Kind::Dated("as_of")),
    ("decisions_days", "decisions", Kind::Dated("as_of")),
    ("plan_days", "plan", Kind::Dated("as_of")),
    ("plan_days", "hot_set", Kind::Dated("as_of")),
    ("plan_days", "class_history", Kind::Dated("as_of")),
    ("plan_days", "realized", Kind::Dated("as_of")),
    ("reports_days", "reports", Kind::Dated("as_of")),
    ("backtests_days", "backtests", Kind::Dated("as_of")),
    ("rejects_days", "_rejects", Kind::Dated("date")),
    ("runs_days", "_runs", Kind::RunFiles),
];

/// What was (or, in a dry run, would be) deleted from one table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TablePrune {
    /// The config key that set the age.
    pub key: String,
    /// The age in days.
    pub keep_days: u32,
    /// The oldest date kept (as-of − age).
    pub oldest_kept: NaiveDate,
    /// The partitions (or run-record files) deleted, oldest first.
    pub pruned: Vec<String>,
    /// Files in them.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What a prune did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PruneReport {
    /// The as-of the ages count from.
    pub as_of: NaiveDate,
    /// Only listed, nothing deleted.
    pub dry_run: bool,
    /// Per table directory with an age configured.
    pub tables: BTreeMap<String, TablePrune>,
    /// Partitions and run records deleted.
    pub partitions: usize,
    /// Files deleted.
    pub files: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// The date of a partition or run record name, if it is one of `kind`.
fn date_of(kind: Kind, name: &str) -> Option<NaiveDate> {
    let text = match kind {
        Kind::Dated(key) => name.strip_prefix(key)?.strip_prefix('=')?,
        Kind::Snapshot => name.strip_prefix("snapshot=")?,
        Kind::RunFiles => {
            if !name.ends_with(".json") {
                return None;
            }
            let d = name.get(..8)?;
            return NaiveDate::parse_from_str(d, "%Y%m%d").ok();
        }
    };
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Which of `names` (entries of one table directory) go, given as-of and the age.
fn select(kind: Kind, names: &[String], as_of: NaiveDate, keep_days: u32) -> Vec<String> {
    let oldest_kept = as_of - chrono::Duration::days(i64::from(keep_days));
    let dated: Vec<(NaiveDate, &String)> = names
        .iter()
        .filter(|n| !n.starts_with('.') && !n.starts_with('_'))
        .filter_map(|n| date_of(kind, n).map(|d| (d, n)))
        .collect();
    let keep_snapshot = match kind {
        Kind::Snapshot => dated
            .iter()
            .filter(|(d, _)| *d <= as_of)
            .map(|(d, _)| *d)
            .max(),
        _ => None,
    };
    let mut out: Vec<(NaiveDate, String)> = dated
        .into_iter()
        .filter(|(d, _)| *d < oldest_kept && Some(*d) != keep_snapshot)
        .map(|(d, n)| (d, n.clone()))
        .collect();
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

fn usage(p: &Path) -> (u64, u64) {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| usage(&e.path()))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        Ok(m) => (1, m.len()),
        Err(_) => (0, 0),
    }
}

fn list(dir: &Path) -> Result<Vec<String>, LakeError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(IoError {
                op: "failed to list",
                path: dir.to_owned(),
                source,
            }
            .into())
        }
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.at("failed to list", dir)?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Deletes (or with `dry_run` only lists) every partition older than its table's age.
/// Takes the lake's writer lock.
pub fn prune(
    lake: &Lake,
    retention: &RawRetention,
    as_of: NaiveDate,
    dry_run: bool,
) -> Result<PruneReport, LakeError> {
    let lock = lake.lock()?;
    if !dry_run {
        lake.recover(&lock)?;
    }
    let ages: BTreeMap<&str, u32> = retention
        .entries()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let id = crate::lake::stage_run_id("prune");
    let trash = lake.root().join("_tmp").join(&id);
    let mut report = PruneReport {
        as_of,
        dry_run,
        tables: BTreeMap::new(),
        partitions: 0,
        files: 0,
        bytes: 0,
    };
    let mut moved: Vec<PathBuf> = Vec::new();
    for (key, table, kind) in TABLES {
        let Some(&keep_days) = ages.get(key) else {
            continue;
        };
        let dir = lake.root().join(table);
        let names = list(&dir)?;
        let pruned = select(kind, &names, as_of, keep_days);
        let mut t = TablePrune {
            key: format!("run.retention.{key}"),
            keep_days,
            oldest_kept: as_of - chrono::Duration::days(i64::from(keep_days)),
            pruned: Vec::new(),
            files: 0,
            bytes: 0,
        };
        for name in pruned {
            let from = dir.join(&name);
            let (files, bytes) = usage(&from);
            if !dry_run {
                let to = trash.join(table).join(&name);
                crate::io::ensure_parent(&to)?;
                fs::rename(&from, &to).at("failed to move out of the lake", &from)?;
                moved.push(dir.clone());
            }
            t.files += files;
            t.bytes += bytes;
            t.pruned.push(name);
        }
        report.partitions += t.pruned.len();
        report.files += t.files;
        report.bytes += t.bytes;
        report.tables.insert(table.to_owned(), t);
    }
    if !dry_run && trash.exists() {
        moved.sort();
        moved.dedup();
        for d in &moved {
            sync_dir(d)?;
        }
        fs::remove_dir_all(&trash).at("failed to remove pruned partitions", &trash)?;
    }
    if report.partitions > 0 {
        tracing::info!(
            partitions = report.partitions,
            files = report.files,
            bytes = report.bytes,
            dry_run,
            "pruned partitions past their retention"
        );
    }
    drop(lock);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_table_has_a_config_key() {
        let keys: Vec<&str> = RawRetention::default()
            .entries()
            .iter()
            .map(|(k, _)| *k)
            .collect();
        for (k, _, _) in TABLES {
            assert!(keys.contains(&k), "{k}");
        }
        for k in keys {
            assert!(TABLES.iter().any(|(t, _, _)| *t == k), "{k}");
        }
    }

    #[test]
    fn dated_partitions_older_than_the_age_go() {
        let n = names(&[
            "date=2026-08-27",
            "date=2026-08-28",
            "date=2026-08-29",
            "date=2026-11-26",
            "date=2026-12-01", // after as-of (a backfill): never
            "date=garbage",
            "_hidden=2020-01-01",
            "as_of=2020-01-01", // another key: not a partition of this table
        ]);
        // as-of − 90 days = 2026-08-28: kept; 2026-08-27 goes.
        assert_eq!(
            select(Kind::Dated("date"), &n, d("2026-11-26"), 90),
            ["date=2026-08-27"]
        );
        assert_eq!(
            select(Kind::Dated("date"), &n, d("2026-11-26"), 0),
            ["date=2026-08-27", "date=2026-08-28", "date=2026-08-29"]
        );
        assert!(select(Kind::Dated("date"), &n, d("2026-08-01"), 0).is_empty());
    }

    #[test]
    fn the_newest_snapshot_on_or_before_as_of_stays() {
        let n = names(&[
            "snapshot=2026-01-01",
            "snapshot=2026-02-01",
            "snapshot=2026-12-01",
        ]);
        // All older than as-of − 0, but 2026-02-01 is the one stats read.
        assert_eq!(
            select(Kind::Snapshot, &n, d("2026-11-26"), 0),
            ["snapshot=2026-01-01"]
        );
        assert_eq!(
            select(Kind::Snapshot, &n, d("2026-11-26"), 330),
            Vec::<String>::new()
        );
    }

    #[test]
    fn run_records_are_dated_by_their_id() {
        let n = names(&[
            "20260101T000000000000Z-1.json",
            "20261126T033000123456Z-9.json",
            "notes.txt",
            ".20200101T000000Z-1.json",
        ]);
        assert_eq!(
            select(Kind::RunFiles, &n, d("2026-11-26"), 30),
            ["20260101T000000000000Z-1.json"]
        );
    }

    #[test]
    fn prune_moves_whole_partitions_and_leaves_the_ledger() {
        let t = tempfile::tempdir().unwrap();
        let lake = Lake::open(t.path()).unwrap();
        for rel in [
            "pulls/date=2026-01-01/part-a.parquet",
            "pulls/date=2026-01-01/part-b.parquet",
            "pulls/date=2026-11-20/part-a.parquet",
            "_ledger/20260101T000000Z-1.json",
        ] {
            let p = t.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"12345").unwrap();
        }
        let r = RawRetention {
            pulls_days: Some(90),
            ..Default::default()
        };
        let dry = prune(&lake, &r, d("2026-11-26"), true).unwrap();
        assert!(t.path().join("pulls/date=2026-01-01").exists());
        let done = prune(&lake, &r, d("2026-11-26"), false).unwrap();
        assert_eq!(dry.tables, done.tables);
        assert!(dry.dry_run && !done.dry_run);
        let p = &done.tables["pulls"];
        assert_eq!(p.pruned, ["date=2026-01-01"]);
        assert_eq!((p.files, p.bytes), (2, 10));
        assert_eq!(p.oldest_kept, d("2026-08-28"));
        assert_eq!(done.tables["manifest_pulls"].pruned, Vec::<String>::new());
        assert!(!t.path().join("pulls/date=2026-01-01").exists());
        assert!(t
            .path()
            .join("pulls/date=2026-11-20/part-a.parquet")
            .exists());
        assert!(t.path().join("_ledger/20260101T000000Z-1.json").exists());
        assert_eq!(fs::read_dir(t.path().join("_tmp")).unwrap().count(), 0);
        assert!(!t.path().join("_lock").exists());
    }
}
