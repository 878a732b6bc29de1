//! Finding partitions: the `<key>=DATE` directories of a lake table (`inventory/snapshot=D/`,
//! `pulls/date=D/`, `backtests/as_of=D/`), the latest one on or before a day, and the newest
//! part file in one. The one place that parses partition names; readers of every stage use it.
//!
//! Must not: write, or decide what a missing partition means (callers do).

use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{Lake, LakeError};
use crate::io::IoContext;

/// The day of a partition directory named `<key>=YYYY-MM-DD`, if `name` is one.
pub fn partition_day(name: &str, key: &str) -> Option<NaiveDate> {
    name.strip_prefix(key)
        .and_then(|rest| rest.strip_prefix('='))
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

/// The newest part file (`part-*.parquet`, by name) directly in `dir`, if any.
pub fn newest_part(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"))
        })
        .max()
}

impl Lake {
    /// The partitions `<key>=DATE` of `table` (entries of `LAKE/<table>/` whose name parses),
    /// oldest first; none when the table does not exist.
    pub fn partitions(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Vec<(NaiveDate, PathBuf)>, LakeError> {
        let dir = self.root().join(table);
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.at("failed to list", &dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(d) = partition_day(&name, key) {
                out.push((d, e.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The latest partition `<key>=DATE` of `table` with `DATE <= max` (any day without `max`).
    pub fn latest_partition(
        &self,
        table: &str,
        key: &str,
        max: Option<NaiveDate>,
    ) -> Result<Option<(NaiveDate, PathBuf)>, LakeError> {
        Ok(self
            .partitions(table, key)?
            .into_iter()
            .rfind(|(d, _)| max.is_none_or(|m| *d <= m)))
    }

    /// The newest part file of the latest `snapshot=DATE` partition of `table` with
    /// `DATE <= max` ([`Lake::latest_partition`], [`newest_part`]): none when that partition
    /// holds no part file (an older one is not used) or the table cannot be listed.
    pub fn latest_part(&self, table: &str, max: Option<NaiveDate>) -> Option<(NaiveDate, PathBuf)> {
        let (d, dir) = self.latest_partition(table, "snapshot", max).ok()??;
        Some((d, newest_part(&dir)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::testing::put;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_latest_partition_on_or_before_a_day_and_its_newest_part() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let files = [
            "blob_refs/snapshot=2026-11-19/part-a.parquet",
            "blob_refs/snapshot=2026-11-26/part-r1.parquet",
            "blob_refs/snapshot=2026-11-26/part-r2.parquet",
            "blob_refs/snapshot=2026-11-26/.part-r3.parquet.tmp-1",
            "blob_refs/snapshot=2026-11-30/notes.txt",
            "blob_refs/snapshot=bad/part-b.parquet",
            "blob_refs/_x/part-c.parquet",
        ];
        put(root, &files.map(|f| (f, "x")));
        let lake = Lake::open(root).unwrap();
        let dir = |d: &str| root.join(format!("blob_refs/snapshot={d}"));
        assert_eq!(
            lake.partitions("blob_refs", "snapshot").unwrap(),
            [
                (day("2026-11-19"), dir("2026-11-19")),
                (day("2026-11-26"), dir("2026-11-26")),
                (day("2026-11-30"), dir("2026-11-30")),
            ]
        );
        assert_eq!(
            lake.latest_partition("blob_refs", "snapshot", Some(day("2026-11-25")))
                .unwrap(),
            Some((day("2026-11-19"), dir("2026-11-19")))
        );
        assert_eq!(
            lake.latest_part("blob_refs", Some(day("2026-11-29"))),
            Some((day("2026-11-26"), dir("2026-11-26").join("part-r2.parquet")))
        );
        // The latest partition has no part file: nothing, not an older snapshot's.
        assert_eq!(lake.latest_part("blob_refs", None), None);
        assert_eq!(
            lake.latest_partition("blob_refs", "snapshot", Some(day("2026-11-18")))
                .unwrap(),
            None
        );
        assert_eq!(lake.partitions("tags", "snapshot").unwrap(), []);
        assert_eq!(
            partition_day("date=2026-11-26", "date"),
            Some(day("2026-11-26"))
        );
        assert_eq!(partition_day("dates=2026-11-26", "date"), None);
    }
}
