//! Class history: since when each object is in its current storage class, from consecutive
//! inventory snapshots and the plans blobtier made between them. The lake table
//! `class_history/as_of=DATE/part-0.parquet` (`docs/schemas.md`), written by every plan.
//!
//! Why: minimum storage durations and early-deletion charges count from the day an object
//! entered its class, and `last_modified` only says when it was written. A lifecycle
//! transition (ours or the bucket owner's) keeps `last_modified`, so right after a move the
//! plan would see an object that has "been there for 400 days" and move it on at once.
//!
//! How, per object (`bucket`, `key`, `version_id`), folding the snapshots oldest first:
//! - first seen: it entered its class when it was written (`last_modified`; source
//!   `written`), unless one of our plans moved it there before the snapshot (below);
//! - `last_modified` changed: rewritten (a copy, ours or not): entered when written;
//! - same class as before: unchanged;
//! - another class, same `last_modified` (a lifecycle transition): if a plan made between the
//!   two snapshots planned that very move, the night after that plan (S3 transitions at the
//!   first midnight after the tag; source `plan`), else the day of the snapshot that first
//!   shows it (the latest day it can have happened, so minimum durations err on the side of
//!   waiting; source `observed`).
//!
//! Incremental: a plan starts from the newest `class_history` partition before its as-of and
//! folds only the snapshots after the one that partition was made from; without one, it folds
//! the snapshots of the last [`LOOKBACK_DAYS`] (no minimum duration is longer, so older class
//! changes cannot change a decision). Re-planning a day gives the same table.
//!
//! Memory: one entry per object of the bucket (the objects of one snapshot), as the plan's
//! hot set. The plans read are the action rows only.
//!
//! Must not: guess a class change it has not seen (a missing snapshot leaves the earlier
//! entry), or read apply's journal (apply sits beside the stages; what landed is what the
//! inventory shows).

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Date32Builder, StringBuilder};
use arrow::record_batch::RecordBatch;
use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use crate::lake::Lake;
use crate::model::{schema, Action};
use crate::plan::file;

/// Days of snapshots folded when no earlier `class_history` exists (DEEP_ARCHIVE's 180-day
/// minimum is the longest).
pub const LOOKBACK_DAYS: i64 = 180;

/// The lake table.
pub const TABLE: &str = "class_history";

/// One object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version id (`None` in current-version inventories).
    pub version_id: Option<String>,
}

/// Where an object's entry date comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Written (uploaded or copied) on that day: `last_modified`.
    Written,
    /// Moved by a transition one of our plans asked for, the night after that plan.
    Plan,
    /// Moved by someone else: the first snapshot that shows the new class.
    Observed,
}

impl Source {
    /// The `source` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Written => "written",
            Source::Plan => "plan",
            Source::Observed => "observed",
        }
    }

    fn parse(s: &str) -> Source {
        match s {
            "plan" => Source::Plan,
            "observed" => Source::Observed,
            _ => Source::Written,
        }
    }
}

/// Since when an object is in its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Current class.
    pub class: String,
    /// Day of `last_modified` (None: the inventory had none).
    pub written: Option<NaiveDate>,
    /// First day in the class.
    pub entered: NaiveDate,
    /// How `entered` is known.
    pub source: Source,
}

/// The objects of one snapshot: class and `last_modified` day.
pub type Snapshot = Vec<(ObjectKey, String, Option<NaiveDate>)>;

/// Moves our plans asked for: object → (night of the plan, target class), oldest first.
pub type PlannedMoves = HashMap<ObjectKey, Vec<(NaiveDate, String)>>;

/// The class history after the snapshot of `day` (`prev`: the history after the previous
/// snapshot, of `prev_day`; `moves`: the plans' transitions). Pure.
pub fn fold(
    prev: &HashMap<ObjectKey, Entry>,
    prev_day: Option<NaiveDate>,
    snapshot: Snapshot,
    day: NaiveDate,
    moves: &PlannedMoves,
) -> HashMap<ObjectKey, Entry> {
    // The night after the latest plan before `day` (and not before `after`) that moved `k`
    // to `class`.
    let planned = |k: &ObjectKey, class: &str, after: Option<NaiveDate>| {
        moves.get(k).and_then(|ms| {
            ms.iter()
                .rev()
                .find(|(night, to)| {
                    to == class && *night < day && after.is_none_or(|a| *night >= a)
                })
                .map(|(night, _)| (*night + Duration::days(1)).min(day))
        })
    };
    snapshot
        .into_iter()
        .map(|(k, class, written)| {
            let entry = match prev.get(&k) {
                Some(p) if p.written == written && p.class == class => p.clone(),
                Some(p) if p.written == written => match planned(&k, &class, prev_day) {
                    Some(night) => Entry {
                        class,
                        written,
                        entered: night,
                        source: Source::Plan,
                    },
                    None => Entry {
                        class,
                        written,
                        entered: day,
                        source: Source::Observed,
                    },
                },
                // Rewritten (a copy, ours or not): since written, to the day.
                Some(_) => Entry {
                    class,
                    written,
                    entered: written.unwrap_or(day).min(day),
                    source: Source::Written,
                },
                // First seen: since written, unless one of our plans moved it there since.
                None => {
                    let w = written.unwrap_or(day);
                    match planned(&k, &class, Some(w)) {
                        Some(night) if class != "STANDARD" => Entry {
                            class,
                            written,
                            entered: night,
                            source: Source::Plan,
                        },
                        _ => Entry {
                            class,
                            written,
                            entered: w.min(day),
                            source: Source::Written,
                        },
                    }
                }
            };
            (k, entry)
        })
        .collect()
}

/// Reads the blob objects of an inventory snapshot directory.
fn read_snapshot(dir: &Path) -> PolarsResult<Snapshot> {
    let df = crate::query::tables::scan_dir(dir, false)?
        .filter(
            col("kind")
                .eq(lit("blob"))
                .and(col("is_latest").fill_null(lit(true)))
                .and(col("is_delete_marker").fill_null(lit(false)).not()),
        )
        .select([
            col("bucket").cast(DataType::String),
            col("key").cast(DataType::String),
            col("version_id").cast(DataType::String),
            col("storage_class").cast(DataType::String),
            col("last_modified").cast(DataType::Date).alias("written"),
        ])
        .collect()?;
    let s = |n: &str| -> PolarsResult<StringChunked> { Ok(df.column(n)?.str()?.clone()) };
    let (bucket, key, version, class) = (
        s("bucket")?,
        s("key")?,
        s("version_id")?,
        s("storage_class")?,
    );
    let written = df.column("written")?.cast(&DataType::Int32)?;
    let written = written.i32()?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        out.push((
            ObjectKey {
                bucket: bucket.get(i).unwrap_or_default().to_owned(),
                key: key.get(i).unwrap_or_default().to_owned(),
                version_id: version.get(i).map(str::to_owned),
            },
            class.get(i).unwrap_or("STANDARD").to_owned(),
            written.get(i).and_then(day_from_epoch),
        ));
    }
    Ok(out)
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
}

fn day_from_epoch(d: i32) -> Option<NaiveDate> {
    epoch().checked_add_signed(Duration::days(i64::from(d)))
}

fn epoch_day(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

/// Reads a `class_history` partition: the entries and the snapshot they were made from.
fn read_history(dir: &Path) -> PolarsResult<(HashMap<ObjectKey, Entry>, Option<NaiveDate>)> {
    let df = crate::query::tables::scan_dir(dir, false)?.collect()?;
    let s = |n: &str| -> PolarsResult<StringChunked> {
        Ok(df.column(n)?.cast(&DataType::String)?.str()?.clone())
    };
    let d = |n: &str| -> PolarsResult<Int32Chunked> {
        Ok(df.column(n)?.cast(&DataType::Int32)?.i32()?.clone())
    };
    let (bucket, key, version, class, source) = (
        s("bucket")?,
        s("key")?,
        s("version_id")?,
        s("storage_class")?,
        s("source")?,
    );
    let (written, entered, snapshot) = (d("written")?, d("entered")?, d("snapshot")?);
    let mut out = HashMap::with_capacity(df.height());
    let mut snap = None;
    for i in 0..df.height() {
        snap = snap.or(snapshot.get(i).and_then(day_from_epoch));
        let Some(entered) = entered.get(i).and_then(day_from_epoch) else {
            continue;
        };
        out.insert(
            ObjectKey {
                bucket: bucket.get(i).unwrap_or_default().to_owned(),
                key: key.get(i).unwrap_or_default().to_owned(),
                version_id: version.get(i).map(str::to_owned),
            },
            Entry {
                class: class.get(i).unwrap_or_default().to_owned(),
                written: written.get(i).and_then(day_from_epoch),
                entered,
                source: Source::parse(source.get(i).unwrap_or_default()),
            },
        );
    }
    Ok((out, snap))
}

/// The class history as one batch, sorted by object.
pub fn to_batch(h: &ClassHistory) -> RecordBatch {
    let mut keys: Vec<&ObjectKey> = h.entries.keys().collect();
    keys.sort();
    let (mut bucket, mut key, mut version, mut class, mut source) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut written, mut entered, mut snapshot) = (
        Date32Builder::new(),
        Date32Builder::new(),
        Date32Builder::new(),
    );
    for k in keys {
        let e = &h.entries[k];
        bucket.append_value(&k.bucket);
        key.append_value(&k.key);
        version.append_option(k.version_id.as_deref());
        class.append_value(&e.class);
        written.append_option(e.written.map(epoch_day));
        entered.append_value(epoch_day(e.entered));
        source.append_value(e.source.as_str());
        snapshot.append_value(epoch_day(h.snapshot));
    }
    crate::io::finish_batch(
        schema::class_history(),
        &mut [
            &mut bucket,
            &mut key,
            &mut version,
            &mut class,
            &mut written,
            &mut entered,
            &mut source,
            &mut snapshot,
        ],
    )
    .expect("columns match the class_history schema")
}

/// The class history of a plan's as-of day.
#[derive(Debug, Clone)]
pub struct ClassHistory {
    /// The snapshot it describes (the latest on or before as-of).
    pub snapshot: NaiveDate,
    /// Per object.
    pub entries: HashMap<ObjectKey, Entry>,
}

impl ClassHistory {
    /// Days `k` has been in `class` on `as_of`; `None` when the history does not know the
    /// object in that class.
    pub fn days_in_class(&self, k: &ObjectKey, class: &str, as_of: NaiveDate) -> Option<i64> {
        self.entries
            .get(k)
            .filter(|e| e.class.eq_ignore_ascii_case(class))
            .map(|e| (as_of - e.entered).num_days().max(0))
    }
}

/// Errors reading the lake's snapshots, histories and plans.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Lake IO.
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
    /// A table could not be read.
    #[error("failed to read `{table}` at `{path}`")]
    Read {
        /// Table.
        table: &'static str,
        /// Partition.
        path: std::path::PathBuf,
        /// Cause.
        #[source]
        source: PolarsError,
    },
    /// A plan file could not be read.
    #[error(transparent)]
    Plan(#[from] file::PlanFileError),
}

/// The transitions of the plans made on days in `[from, to)`: object → (plan day, target).
fn planned_moves(
    lake: &Lake,
    from: Option<NaiveDate>,
    to: NaiveDate,
) -> Result<PlannedMoves, HistoryError> {
    let mut out: PlannedMoves = HashMap::new();
    for (day, dir) in lake.partitions("plan", "as_of")? {
        if day >= to || from.is_some_and(|f| day < f) {
            continue;
        }
        let path = dir.join("plan.parquet");
        if !path.is_file() {
            continue;
        }
        for r in file::read(&path)? {
            if r.action == Action::Keep {
                continue;
            }
            out.entry(ObjectKey {
                bucket: r.bucket,
                key: r.key,
                version_id: r.version_id,
            })
            .or_default()
            .push((day, r.to_class.to_string()));
        }
    }
    Ok(out)
}

/// The class history for `as_of`: the newest earlier `class_history` partition with the
/// snapshots since folded in ([`fold`]); `None` without an inventory snapshot.
pub fn build(lake: &Lake, as_of: NaiveDate) -> Result<Option<ClassHistory>, HistoryError> {
    let snapshots: Vec<(NaiveDate, std::path::PathBuf)> = lake
        .partitions("inventory", "snapshot")?
        .into_iter()
        .filter(|(d, _)| *d <= as_of)
        .collect();
    let Some(&(latest, _)) = snapshots.last() else {
        return Ok(None);
    };
    let earlier = lake
        .partitions(TABLE, "as_of")?
        .into_iter()
        .rfind(|(d, _)| *d < as_of);
    let (mut entries, mut prev_day) = match earlier {
        Some((_, dir)) => read_history(&dir).map_err(|source| HistoryError::Read {
            table: TABLE,
            path: dir.clone(),
            source,
        })?,
        None => (HashMap::new(), None),
    };
    if prev_day.is_some_and(|p| p > latest) {
        // Made from a snapshot this day does not see yet: start over.
        entries.clear();
        prev_day = None;
    }
    let start = prev_day.unwrap_or(latest - Duration::days(LOOKBACK_DAYS));
    let moves = planned_moves(lake, prev_day.or(Some(start)), latest)?;
    for (day, dir) in snapshots {
        let new = match prev_day {
            Some(p) => day > p,
            None => day >= start,
        };
        if !new {
            continue;
        }
        let snap = read_snapshot(&dir).map_err(|source| HistoryError::Read {
            table: "inventory",
            path: dir.clone(),
            source,
        })?;
        entries = fold(&entries, prev_day, snap, day, &moves);
        prev_day = Some(day);
    }
    Ok(Some(ClassHistory {
        snapshot: latest,
        entries,
    }))
}

/// Writes `h` to `dir/part-0.parquet`.
pub fn write(dir: &Path, h: &ClassHistory) -> Result<(), crate::io::WriteError> {
    let batch = to_batch(h);
    crate::io::write_parquet(&dir.join("part-0.parquet"), batch.schema(), &[batch])?;
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Day `day` of September 2026.
    pub(in crate::plan) fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 9, day).unwrap()
    }

    /// The current version of `name` in bucket `b`.
    pub(in crate::plan) fn k(name: &str) -> ObjectKey {
        ObjectKey {
            bucket: "b".into(),
            key: name.into(),
            version_id: None,
        }
    }

    fn snap(rows: &[(&str, &str, NaiveDate)]) -> Snapshot {
        rows.iter()
            .map(|(key, class, w)| (k(key), (*class).to_owned(), Some(*w)))
            .collect()
    }

    /// Three nights of one bucket: an object our plan of night 2 sent to GLACIER_IR by
    /// lifecycle, one someone else moved, one copied (rewritten), one untouched.
    #[test]
    fn entries_follow_snapshots_and_plans() {
        let old = NaiveDate::from_ymd_opt(2025, 8, 1).unwrap();
        let mut moves = PlannedMoves::new();
        moves.insert(k("ours"), vec![(d(2), "GLACIER_IR".into())]);
        // Nights 1 and 2 see the same objects in the same classes.
        let before = [
            ("ours", "STANDARD", old),
            ("theirs", "STANDARD", old),
            ("copied", "STANDARD", old),
            ("still", "STANDARD_IA", old),
        ];
        let h1 = fold(&HashMap::new(), None, snap(&before), d(1), &moves);
        assert!(h1
            .values()
            .all(|e| e.entered == old && e.source == Source::Written));
        let h2 = fold(&h1, Some(d(1)), snap(&before), d(2), &moves);
        assert_eq!(h2, h1);
        // Snapshot of night 4 (night 3's missing): the transition of `ours` happened at the
        // first midnight after night 2's plan; `theirs` moved some time up to day 4.
        let h4 = fold(
            &h2,
            Some(d(2)),
            snap(&[
                ("ours", "GLACIER_IR", old),
                ("theirs", "GLACIER_IR", old),
                ("copied", "STANDARD_IA", d(3)),
                ("still", "STANDARD_IA", old),
            ]),
            d(4),
            &moves,
        );
        let at = |n: &str| (h4[&k(n)].entered, h4[&k(n)].source);
        assert_eq!(at("ours"), (d(3), Source::Plan));
        assert_eq!(at("theirs"), (d(4), Source::Observed));
        assert_eq!(at("copied"), (d(3), Source::Written));
        assert_eq!(at("still"), (old, Source::Written));
        let h = ClassHistory {
            snapshot: d(4),
            entries: h4,
        };
        assert_eq!(h.days_in_class(&k("ours"), "GLACIER_IR", d(5)), Some(2));
        // Another class than the history knows: no answer.
        assert_eq!(h.days_in_class(&k("ours"), "STANDARD", d(5)), None);
    }
}
