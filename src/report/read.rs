//! Reading the lake's tables the report is made from: `decisions` (with the plan file's reader),
//! `digest_stats` and the rejected-line counts of the `_ledger`.
//!
//! Invariants: a table of an unexpected shape is an [`Error::Invalid`] naming the file and the
//! column, never a silent default for a column that must be there; columns added by later
//! versions (`unique_clients_30d`, `ref_repos`, …) are optional. Must not: compute figures
//! ([`super::summarize()`] does).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Error, Result};
use crate::lake::Lake;
use crate::plan::file::{PlanFileError, PlanRow};

/// Reads one Parquet file or a directory glob into a frame.
pub(crate) fn read_parquet(path: &Path, glob: Option<&str>) -> Result<DataFrame> {
    let p = match glob {
        Some(g) => format!("{}/{g}", path.display()),
        None => path.display().to_string(),
    };
    LazyFrame::scan_parquet(PlRefPath::new(p.as_str()), ScanArgsParquet::default())
        .and_then(|lf| lf.collect())
        .map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })
}

/// Typed column access with errors that name the file and the column.
pub(super) struct Cols<'a> {
    df: &'a DataFrame,
    path: &'a Path,
    what: &'static str,
}

impl<'a> Cols<'a> {
    /// The columns of `df`, read from `path`; `what` names the table in errors.
    pub(super) fn new(df: &'a DataFrame, path: &'a Path, what: &'static str) -> Self {
        Cols { df, path, what }
    }

    fn bad(&self, reason: String) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            what: self.what,
            reason,
        }
    }

    /// Whether the frame has column `n`.
    pub(super) fn has(&self, n: &str) -> bool {
        self.df.column(n).is_ok()
    }

    /// Column `n`, cast to `T`.
    pub(super) fn get<T: PolarsPhysicalType>(&self, n: &str) -> Result<ChunkedArray<T>> {
        let c = self
            .df
            .column(n)
            .map_err(|_| self.bad(format!("missing column `{n}`")))?
            .cast(&T::get_static_dtype())
            .map_err(|e| self.bad(format!("column `{n}`: {e}")))?;
        let ca = c
            .as_materialized_series()
            .unpack::<T>()
            .map_err(|e| self.bad(e.to_string()))?;
        Ok(ca.clone())
    }

    /// Column `n`, cast to `T`, or None when the frame has no such column (one written by an
    /// older version).
    pub(super) fn optional<T: PolarsPhysicalType>(
        &self,
        n: &str,
    ) -> Result<Option<ChunkedArray<T>>> {
        self.has(n).then(|| self.get(n)).transpose()
    }
}

/// Reads a `decisions` (or `plan.parquet`) file into rows with the plan file's one reader
/// ([`crate::plan::file::read`]), without checking `plan_id` (`decisions` carries the id of
/// its actions, not of all its rows; [`super::run_report`] checks it).
pub fn read_decisions(path: &Path) -> Result<Vec<PlanRow>> {
    crate::plan::file::read(path).map_err(|e| match e {
        PlanFileError::Io(e) => Error::Io(e),
        PlanFileError::Invalid { path, reason } => Error::Invalid {
            path,
            what: "decisions table",
            reason,
        },
        other => Error::Invalid {
            path: path.to_owned(),
            what: "decisions table",
            reason: other.to_string(),
        },
    })
}

/// The `decisions` column `days_in_class` (the days in its class the plan priced each blob
/// with), in row order; empty for tables written before the column existed.
pub fn read_days_in_class(path: &Path) -> Result<Vec<Option<i64>>> {
    let df = read_parquet(path, None)?;
    let c = Cols::new(&df, path, "decisions table");
    Ok(c.optional::<Int64Type>(crate::plan::file::DAYS_IN_CLASS)?
        .map(|d| d.iter().collect())
        .unwrap_or_default())
}

/// The `digest_stats` columns the report uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatRow {
    /// Digest.
    pub digest: String,
    /// Bucket (None when not in the inventory).
    pub bucket: Option<String>,
    /// Key.
    pub key: Option<String>,
    /// In the inventory snapshot.
    pub in_inventory: bool,
    /// Bytes.
    pub size: Option<i64>,
    /// Days since last modification.
    pub age_days: Option<i64>,
    /// Pulls in 7 days.
    pub pulls_7d: i64,
    /// Pulls in 30 days.
    pub pulls_30d: i64,
    /// Distinct clients in 30 days (None when 30 is not a stats window).
    pub unique_clients_30d: Option<i64>,
    /// `unique_clients_30d / pulls_30d`.
    pub unique_pull_ratio_30d: Option<f64>,
    /// Days since the last pull.
    pub days_since_last_pull: Option<i64>,
    /// Repositories whose manifests reach the blob (None: no image graph, or stats written
    /// before it existed).
    pub ref_repos: Option<i64>,
}

/// Reads `digest_stats/as_of=D/`.
pub fn read_stats(dir: &Path) -> Result<Vec<StatRow>> {
    let df = read_parquet(dir, Some("*.parquet"))?;
    let c = Cols::new(&df, dir, "digest_stats partition");
    let (digest, bucket, key) = (
        c.get::<StringType>("digest")?,
        c.get::<StringType>("bucket")?,
        c.get::<StringType>("key")?,
    );
    let in_inv = c.get::<BooleanType>("in_inventory")?;
    let i64s = |n: &str| c.get::<Int64Type>(n);
    let (size, age, p7, p30, since) = (
        i64s("size")?,
        i64s("age_days")?,
        i64s("pulls_7d")?,
        i64s("pulls_30d")?,
        i64s("days_since_last_pull")?,
    );
    let uniq = c.optional::<Int64Type>("unique_clients_30d")?;
    let ratio = c.optional::<Float64Type>("unique_pull_ratio_30d")?;
    let ref_repos = c.optional::<Int64Type>("ref_repos")?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        out.push(StatRow {
            ref_repos: ref_repos.as_ref().and_then(|r| r.get(i)),
            digest: digest.get(i).unwrap_or_default().to_string(),
            bucket: bucket.get(i).map(str::to_string),
            key: key.get(i).map(str::to_string),
            in_inventory: in_inv.get(i).unwrap_or(false),
            size: size.get(i),
            age_days: age.get(i),
            pulls_7d: p7.get(i).unwrap_or(0),
            pulls_30d: p30.get(i).unwrap_or(0),
            unique_clients_30d: uniq.as_ref().and_then(|u| u.get(i)),
            unique_pull_ratio_30d: ratio.as_ref().and_then(|r| r.get(i)),
            days_since_last_pull: since.get(i),
        });
    }
    Ok(out)
}

/// Rejected lines of the log inputs that cover the stats window, and of the inventory
/// snapshot in use, from the `_ledger`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerRejects {
    /// Log inputs counted.
    pub log_inputs: u64,
    /// Their non-empty lines.
    pub lines_read: u64,
    /// Their quarantined lines.
    pub rejected_lines: u64,
    /// Quarantined lines per reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rows of the inventory snapshot in use.
    pub inventory_rows: u64,
    /// Its quarantined rows.
    pub inventory_rejected_rows: u64,
}

/// Sums the ledger's counts: log inputs whose days overlap `[from, to]` (or whose days are
/// unknown because no line parsed), and inventory reports of `snapshot`.
pub fn ledger_rejects(
    lake: &Lake,
    from: NaiveDate,
    to: NaiveDate,
    snapshot: Option<NaiveDate>,
) -> Result<LedgerRejects> {
    let day = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let mut r = LedgerRejects::default();
    for (_, entry) in lake.ledger_entries()? {
        for i in entry["inputs"].as_array().into_iter().flatten() {
            let overlaps = match (day(&i["first_day"]), day(&i["last_day"])) {
                (Some(a), Some(b)) => a <= to && b >= from,
                _ => true,
            };
            let Some(counts) = i.get("counts").filter(|c| c.is_object()) else {
                continue;
            };
            if !overlaps {
                continue;
            }
            r.log_inputs += 1;
            r.lines_read += counts["lines"].as_u64().unwrap_or(0);
            for (reason, n) in counts["rejects"].as_object().into_iter().flatten() {
                let n = n.as_u64().unwrap_or(0);
                r.rejected_lines += n;
                *r.rejected_by_reason.entry(reason.clone()).or_default() += n;
            }
        }
        for inv in entry["inventories"].as_array().into_iter().flatten() {
            if snapshot.is_none() || day(&inv["snapshot"]) != snapshot {
                continue;
            }
            for f in inv["files"].as_array().into_iter().flatten() {
                r.inventory_rows += f["rows"].as_u64().unwrap_or(0);
                r.inventory_rejected_rows += f["rejects"].as_u64().unwrap_or(0);
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::plan::file;

    /// A decision for `digest` moving it from `from` to `to` (no action when they are equal),
    /// for the report's tests.
    pub(in crate::report) fn row(digest: &str, from: &str, to: &str, size: i64) -> PlanRow {
        PlanRow {
            etag: None,
            size,
            digest: digest.into(),
            from_class: from.into(),
            to_class: to.into(),
            tier: "cold".into(),
            action: if from == to {
                crate::model::Action::Keep
            } else {
                crate::model::Action::Transition
            },
            reason: String::new(),
            ..file::testing::row(digest)
        }
    }

    #[test]
    fn decisions_are_read_with_the_plan_file_reader_and_bad_ones_named() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("part-0.parquet");
        // `decisions` rows carry the id of the plan's actions, not of their own content.
        let rows = vec![
            row("a", "STANDARD", "STANDARD", 1 << 20),
            row("b", "GLACIER", "GLACIER", 7),
        ];
        file::write(&p, &rows).unwrap();
        assert_eq!(read_decisions(&p).unwrap(), rows);

        let bad = t.path().join("bad.parquet");
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("plan_id", arrow::datatypes::DataType::Utf8, false),
        ]));
        let col = arrow::array::StringArray::from(vec!["x"]);
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![std::sync::Arc::new(col)],
        )
        .unwrap();
        crate::io::write_parquet(&bad, schema, &[batch]).unwrap();
        let err = read_decisions(&bad).unwrap_err().to_string();
        assert!(
            err.contains("is not a valid decisions table: missing column `as_of`"),
            "{err}"
        );
    }
}
