//! The report's view of where pulls come from and of the pulls that failed: pulls per log
//! source in the 30-day window and how many of them were the same pulls seen by more than one
//! source (`docs/ingest.md`, "One pull, several sources"), and the blobs clients failed to
//! GET (`failed_pulls_30d`: 403 `InvalidObjectState` for an archived blob), which the report
//! opens with as an alert.
//!
//! Invariants: the counted pulls are `digest_stats`'s own (`pulls_30d`, the reconciled
//! figure); the per-source figures are sums of the `pulls` table over the same days, scanners
//! left out as `stats` does by default, so the difference is exactly what reconciliation (and
//! `pull_source`) left out. Must not: re-apply the reconciliation rule (that lives in
//! `queries/digest_stats.sql` only) or change the lake.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

use super::document::Block;
use super::read::{read_parquet, Cols};
use super::{count, Result};
use crate::plan::file::PlanRow;

/// Pulls of one log source in the 30-day window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceRow {
    /// The input format (`s3-access`, `registry-json`, …).
    pub source: String,
    /// Pulls as that source counts them (ranged GETs of a download and retried notifications
    /// once), scanners left out.
    pub pulls: i64,
    /// Requests as logged (every ranged GET and every delivery).
    pub requests: i64,
}

/// A blob clients failed to pull.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FailedBlob {
    /// Digest.
    pub digest: String,
    /// Its storage class in the inventory (None when not in it).
    pub storage_class: Option<String>,
    /// Failed GETs in 30 days.
    pub failed_pulls_30d: i64,
    /// The last failed GET (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub last_failed_pull_at: Option<String>,
    /// The plan's decision for it (`restore:failed_pulls`), if the plan has a row for it.
    pub reason: Option<String>,
}

/// Pull sources and failed pulls (`summary.json` `sources`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sources {
    /// Per source, sorted by name.
    pub by_source: Vec<SourceRow>,
    /// Pulls `digest_stats` counts in 30 days (each pull once).
    pub counted_30d: i64,
    /// Per-source pulls minus counted pulls: the same pulls seen by several sources, or
    /// sources left out by `pull_source`.
    pub matched_30d: i64,
    /// Blobs with failed pulls in 30 days, most failures first.
    pub failed: Vec<FailedBlob>,
}

/// Reads the pull sources of the 30 days up to `as_of` from `LAKE/pulls` and the failed pulls
/// from the `digest_stats` partition in `stats_dir`, with the plan's reasons from `rows`.
pub fn read(lake: &Path, stats_dir: &Path, as_of: NaiveDate, rows: &[PlanRow]) -> Result<Sources> {
    let mut out = Sources::default();
    let stats = read_parquet(stats_dir, Some("*.parquet"))?;
    let c = Cols::new(&stats, stats_dir, "digest_stats table");
    out.counted_30d = c.get::<Int64Type>("pulls_30d")?.sum().unwrap_or(0);
    if let Some(failed) = c.optional::<Int64Type>("failed_pulls_30d")? {
        let digest = c.get::<StringType>("digest")?;
        let class = c.get::<StringType>("storage_class")?;
        let last = c
            .optional::<Int64Type>("last_failed_pull_at")?
            .unwrap_or_else(|| Int64Chunked::full_null("".into(), stats.height()));
        let reasons: BTreeMap<&str, &str> = rows
            .iter()
            .map(|r| (r.digest.as_str(), r.reason.as_str()))
            .collect();
        for i in 0..stats.height() {
            let n = failed.get(i).unwrap_or(0);
            if n == 0 {
                continue;
            }
            let d = digest.get(i).unwrap_or_default();
            out.failed.push(FailedBlob {
                digest: d.to_string(),
                storage_class: class.get(i).map(str::to_string),
                failed_pulls_30d: n,
                last_failed_pull_at: last.get(i).and_then(|us| {
                    chrono::DateTime::from_timestamp_micros(us)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                }),
                reason: reasons.get(d).map(|r| r.to_string()),
            });
        }
        out.failed
            .sort_by(|a, b| (b.failed_pulls_30d, &a.digest).cmp(&(a.failed_pulls_30d, &b.digest)));
    }
    let pulls_dir = lake.join("pulls");
    if crate::query::tables::has_parquet(&pulls_dir) {
        let from = (as_of - chrono::Duration::days(29)).to_string();
        let df = crate::query::tables::scan_table_dir(&pulls_dir, "pulls")
            .and_then(|lf| {
                lf.filter(
                    col("date")
                        .gt_eq(lit(from))
                        .and(col("date").lt_eq(lit(as_of.to_string())))
                        .and(col("ua_class").neq(lit("scanner"))),
                )
                .group_by([col("source")])
                .agg([
                    col("pulls").sum().alias("pulls"),
                    col("requests")
                        .fill_null(col("pulls"))
                        .sum()
                        .alias("requests"),
                ])
                .sort(["source"], Default::default())
                .collect()
            })
            .map_err(|source| super::Error::Read {
                path: pulls_dir.clone(),
                source,
            })?;
        let c = Cols::new(&df, &pulls_dir, "pulls table");
        let (source, pulls, requests) = (
            c.get::<StringType>("source")?,
            c.get::<Int64Type>("pulls")?,
            c.get::<Int64Type>("requests")?,
        );
        for i in 0..df.height() {
            out.by_source.push(SourceRow {
                source: source.get(i).unwrap_or_default().to_string(),
                pulls: pulls.get(i).unwrap_or(0),
                requests: requests.get(i).unwrap_or(0),
            });
        }
    }
    let logged: i64 = out.by_source.iter().map(|r| r.pulls).sum();
    out.matched_30d = (logged - out.counted_30d).max(0);
    Ok(out)
}

fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if hex.len() <= 16 || !hex.is_ascii() {
        return format!("`{hex}`");
    }
    format!("`{}…{}`", &hex[..12], &hex[hex.len() - 4..])
}

/// The alert the report opens with when clients failed to pull blobs.
pub fn alert(s: &Sources, d: &mut Vec<Block>) {
    if s.failed.is_empty() {
        return;
    }
    let items = s
        .failed
        .iter()
        .map(|f| {
            format!(
                "{} ({}): {} failed pulls in 30 days, the last {}; plan: {}",
                short(&f.digest),
                f.storage_class
                    .as_deref()
                    .map_or("not in the inventory".to_string(), |c| format!("`{c}`")),
                count(i128::from(f.failed_pulls_30d)),
                f.last_failed_pull_at.as_deref().unwrap_or("unknown"),
                f.reason
                    .as_deref()
                    .map_or("no row".to_string(), |r| format!("`{r}`")),
            )
        })
        .collect();
    d.push(Block::Alert {
        title: format!(
            "Failed pulls: clients could not download {} blobs (S3 answered 403 InvalidObjectState or another error)",
            s.failed.len()
        ),
        items,
    });
}

/// The "Pull sources" section: pulls per source and how many were matched across sources.
pub fn section(s: &Sources, d: &mut Vec<Block>) {
    if s.by_source.is_empty() {
        return;
    }
    d.push(Block::Heading("Pull sources".into()));
    d.push(Block::Para(format!(
        "Pulls in the last 30 days per log source (scanners left out). A pull seen by several \
         sources (a registry's 307, the S3 GET it led to, its notification) is counted once: \
         {} pulls counted, {} matched across sources or left out by `pull_source`.",
        count(i128::from(s.counted_30d)),
        count(i128::from(s.matched_30d)),
    )));
    let rows = s
        .by_source
        .iter()
        .map(|r| {
            vec![
                format!("`{}`", r.source),
                count(i128::from(r.pulls)),
                count(i128::from(r.requests)),
            ]
        })
        .collect();
    d.push(Block::Table {
        head: vec!["Source".into(), "Pulls".into(), "Requests logged".into()],
        rows,
        numeric: vec![false, true, true],
    });
}
