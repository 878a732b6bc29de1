//! Backtest, the report's side: would the policy have paid off? The figures of
//! `LAKE/backtests/as_of=DATE/backtest.json` ([`Backtest`]), the replay of real pulls against
//! the decisions of a past day ([`replay`], pure; [`replay_pulls`] reads the pulls), and the
//! latest backtest on or before a day ([`latest`]), which the report shows.
//!
//! Running a backtest (deciding as of `as_of − horizon` with the real `stats` and `plan` code
//! in a scratch lake, then replaying the next `horizon` days) is [`crate::backtest`]'s job: this
//! module must not run other stages.
//!
//! The replay prices each blob's real pulls in the window in the class the plan left it in and
//! in the class it was in, with the same cost model the plan used: client pulls with
//! [`crate::cost::monthly_cost`] at the observed rate, scanner reads as the plan prices them
//! ([`crate::cost::scanner`]: a GET and the retrieval fee each, never a restore). Client pulls
//! of blobs the plan sent to GLACIER or DEEP_ARCHIVE would have failed until restored; each is
//! counted as a failed pull and priced as one restore, as the cost model prices every pull of
//! an archived blob.

use std::collections::{BTreeMap, HashMap};
use std::fs;

use chrono::NaiveDate;
use polars::prelude::{Int64Type, StringType};
use serde::{Deserialize, Serialize};

use super::read::{read_parquet, Cols};
use super::{Error, Result};
use crate::cost::{self, Prices};
use crate::io::IoContext;
use crate::lake::Lake;
use crate::model::{Action, RestoreTier, StorageClass};
use crate::plan::file::PlanRow;

/// `backtest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Backtest {
    /// Format version ([`super::FORMAT_VERSION`]).
    pub v: u32,
    /// Last day of the replay.
    pub as_of: String,
    /// The day the decision was made for (`as_of − horizon_days`).
    pub decision_day: String,
    /// Days replayed.
    pub horizon_days: u32,
    /// Content hash of the backtest's plan.
    pub plan_id: String,
    /// Pricing region.
    pub pricing_region: String,
    /// Pricing date.
    pub pricing_as_of: String,
    /// Estimator.
    pub estimator: String,
    /// What the plan decided.
    pub decisions: Decisions,
    /// What the real pulls did to it.
    pub replay: Replay,
    /// One-time costs of the plan's actions (USD).
    pub one_time_cost: f64,
    /// Net savings over the horizon the plan predicted: `Σ (now − after) × horizon/30 −
    /// one-time` over its actions (USD).
    pub predicted_savings: f64,
    /// Net savings over the horizon with the real pulls priced in both classes (USD).
    pub realised_savings: f64,
    /// Log coverage of the decision and replay windows.
    pub coverage: BacktestCoverage,
    /// Moved blobs with the costliest pulls after the move (at most 10).
    pub top_misses: Vec<Miss>,
    /// What limits the result.
    pub warnings: Vec<String>,
}

/// The backtest plan's decisions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Decisions {
    /// Blobs decided on.
    pub blobs: u64,
    /// Actions.
    pub actions: u64,
    /// Bytes of the actions.
    pub bytes_moved: u64,
    /// Actions per `FROM -> TO`.
    pub by_move: BTreeMap<String, u64>,
}

/// The replay.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Replay {
    /// Pulls in the window, all blobs, scanners included.
    pub pulls: u64,
    /// Of which by scanners.
    pub scanner_pulls: u64,
    /// Pulls of blobs the plan moved to a cheaper class.
    pub pulls_on_moved: u64,
    /// Moved blobs pulled at least once.
    pub blobs_moved_pulled: u64,
    /// Pulls of the moved blobs the estimator expected over the window.
    pub expected_pulls_on_moved: f64,
    /// Per target class of the moves to a cheaper class.
    pub by_class: BTreeMap<String, ClassHits>,
    /// Pulls of blobs the plan archived (GLACIER, DEEP_ARCHIVE): they fail until restored.
    pub failed_pulls: u64,
    /// Pulls of blobs that were archived before the plan and stayed so.
    pub failed_pulls_already_archived: u64,
    /// Restores those failed pulls cause (USD).
    pub restore_cost: f64,
    /// Requests and retrieval of the pulls on moved blobs in their new class (USD).
    pub access_cost: f64,
    /// `access_cost` minus what the same pulls cost in the old class (USD).
    pub extra_access_cost: f64,
}

/// Pulls that hit one target class.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClassHits {
    /// Blobs the plan moved into the class.
    pub blobs_moved: u64,
    /// Of which pulled in the window.
    pub blobs_pulled: u64,
    /// Their pulls.
    pub pulls: u64,
    /// Bytes those pulls read.
    pub bytes: u64,
    /// Requests and retrieval (restores for archive classes) of those pulls (USD).
    pub access_cost: f64,
}

/// A moved blob pulled after the move.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Miss {
    /// Digest.
    pub digest: String,
    /// Bytes.
    pub size: i64,
    /// Class before.
    pub from_class: String,
    /// Class the plan moved it to.
    pub to_class: String,
    /// Pulls in the window.
    pub pulls: u64,
    /// Access cost beyond the old class (USD).
    pub extra_cost: f64,
}

/// Log coverage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BacktestCoverage {
    /// Days without logs in the longest stats window ending on the decision day.
    pub decision_missing_days: Vec<String>,
    /// Days without logs in the replay window.
    pub replay_missing_days: Vec<String>,
    /// Inventory snapshot the decision used.
    pub inventory_snapshot: Option<String>,
}

/// Pulls per digest in the days `(from, to]` of the lake's `pulls` table: (all, scanners).
pub fn replay_pulls(
    lake: &Lake,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<HashMap<String, (u64, u64)>> {
    let mut out: HashMap<String, (u64, u64)> = HashMap::new();
    let days = lake
        .partitions("pulls", "date")?
        .into_iter()
        .filter(|(d, _)| *d > from && *d <= to)
        .map(|(_, p)| p);
    for day in days {
        let df = read_parquet(&day, Some("*.parquet"))?;
        let c = Cols::new(&df, &day, "pulls partition");
        let (digest, pulls, ua) = (
            c.get::<StringType>("digest")?,
            c.get::<Int64Type>("pulls")?,
            c.get::<StringType>("ua_class")?,
        );
        for i in 0..df.height() {
            let (Some(d), Some(p)) = (digest.get(i), pulls.get(i)) else {
                continue;
            };
            let p = p.max(0) as u64;
            let e = out.entry(d.to_string()).or_default();
            e.0 += p;
            if ua.get(i) == Some("scanner") {
                e.1 += p;
            }
        }
    }
    Ok(out)
}

/// Cost over `days` days of one blob in `class` (storage included), USD, read by clients
/// (`pulls`, each archived one a restore) and by scanners (`scans`, GETs and retrieval fees
/// only, as the plan prices them: [`cost::scanner`]).
fn realised(
    p: &Prices,
    class: &StorageClass,
    size: u64,
    (pulls, scans): (u64, u64),
    days: f64,
    tier: RestoreTier,
) -> Option<f64> {
    let per_month = |n: u64| n as f64 * cost::DAYS_PER_MONTH / days;
    let clients = cost::monthly_cost(p, class, size, per_month(pulls), tier).ok()?;
    let scanners = cost::scanner::monthly(p, class, size, per_month(scans)).ok()?;
    Some((clients.total + scanners) * days / cost::DAYS_PER_MONTH)
}

/// Requests and retrieval of `pulls` client pulls and `scans` scanner reads of one blob in
/// `class`, USD (0 for a class without prices).
fn access(
    p: &Prices,
    class: &StorageClass,
    size: u64,
    (pulls, scans): (u64, u64),
    tier: RestoreTier,
) -> f64 {
    let clients = cost::monthly_access(p, class, size, pulls as f64, tier).unwrap_or(0.0);
    clients + cost::scanner::monthly(p, class, size, scans as f64).unwrap_or(0.0)
}

/// Replays `pulls` against `rows` (the decisions of the decision day). Pure.
pub fn replay(
    p: &Prices,
    restore_tier: RestoreTier,
    rows: &[PlanRow],
    pulls: &HashMap<String, (u64, u64)>,
    horizon_days: u32,
) -> (Decisions, Replay, f64, f64, f64, Vec<Miss>) {
    let h = f64::from(horizon_days);
    let mut d = Decisions::default();
    let mut r = Replay::default();
    let (mut one_time, mut predicted, mut realised_total) = (0.0, 0.0, 0.0);
    let mut misses = Vec::new();
    for (all, scanners) in pulls.values() {
        r.pulls += all;
        r.scanner_pulls += scanners;
    }
    for row in rows {
        d.blobs += 1;
        let (n, scans) = pulls.get(&row.digest).copied().unwrap_or((0, 0));
        // Scanners are in `n`; they read, they never restore.
        let reads = (n.saturating_sub(scans), scans.min(n));
        let (from, to) = (&row.from_class, &row.to_class);
        if !from.is_managed() || !to.is_managed() {
            continue;
        }
        let size = row.size.max(0) as u64;
        if row.action == Action::Keep {
            if from.needs_restore() {
                r.failed_pulls_already_archived += reads.0;
            }
            continue;
        }
        d.actions += 1;
        d.bytes_moved += size;
        *d.by_move
            .entry(format!("{} -> {}", row.from_class, row.to_class))
            .or_default() += 1;
        one_time += row.one_time_cost;
        predicted += (row.monthly_cost_now - row.monthly_cost_after) * h / cost::DAYS_PER_MONTH
            - row.one_time_cost;
        let before = realised(p, from, size, reads, h, restore_tier).unwrap_or(0.0);
        let after = realised(p, to, size, reads, h, restore_tier).unwrap_or(0.0);
        realised_total += before - after - row.one_time_cost;
        if !matches!(cost::moves_down(p, from, to, size), Ok(true)) {
            continue;
        }
        let (acc_to, acc_from) = (
            access(p, to, size, reads, restore_tier),
            access(p, from, size, reads, restore_tier),
        );
        let hits = r.by_class.entry(row.to_class.to_string()).or_default();
        hits.blobs_moved += 1;
        r.expected_pulls_on_moved += row.expected_pulls_30d * h / cost::DAYS_PER_MONTH;
        if n == 0 {
            continue;
        }
        hits.blobs_pulled += 1;
        hits.pulls += n;
        hits.bytes += n * size;
        hits.access_cost += acc_to;
        r.pulls_on_moved += n;
        r.blobs_moved_pulled += 1;
        r.access_cost += acc_to;
        r.extra_access_cost += acc_to - acc_from;
        if to.needs_restore() {
            r.failed_pulls += reads.0;
            r.restore_cost +=
                cost::monthly_access(p, to, size, reads.0 as f64, restore_tier).unwrap_or(0.0);
        }
        misses.push(Miss {
            digest: row.digest.clone(),
            size: row.size,
            from_class: row.from_class.to_string(),
            to_class: row.to_class.to_string(),
            pulls: n,
            extra_cost: acc_to - acc_from,
        });
    }
    misses.sort_by(|a, b| {
        b.extra_cost
            .total_cmp(&a.extra_cost)
            .then_with(|| a.digest.cmp(&b.digest))
    });
    misses.truncate(10);
    (d, r, one_time, predicted, realised_total, misses)
}

/// The latest backtest on or before `as_of`, if any.
pub fn latest(lake: &Lake, as_of: NaiveDate) -> Result<Option<Backtest>> {
    let latest = lake
        .partitions("backtests", "as_of")?
        .into_iter()
        .map(|(d, dir)| (d, dir.join("backtest.json")))
        .rfind(|(d, file)| *d <= as_of && file.is_file());
    let Some((_, path)) = latest else {
        return Ok(None);
    };
    let text = fs::read(&path).at("failed to read", &path)?;
    let bt: Backtest = serde_json::from_slice(&text).map_err(|e| Error::Invalid {
        path: path.clone(),
        what: "backtest",
        reason: e.to_string(),
    })?;
    if bt.v != super::FORMAT_VERSION {
        return Err(Error::Invalid {
            path,
            what: "backtest",
            reason: format!(
                "format version {} (expected {})",
                bt.v,
                super::FORMAT_VERSION
            ),
        });
    }
    Ok(Some(bt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::read::tests::row;

    #[test]
    fn pulls_of_moved_blobs_are_charged_retrieval_once_each() {
        let p = Prices::builtin();
        let gib = 1i64 << 30;
        let rows = vec![
            row("a", "STANDARD", "GLACIER_IR", gib),
            row("b", "STANDARD", "DEEP_ARCHIVE", 2 * gib),
            row("c", "STANDARD", "STANDARD", gib),
            row("d", "GLACIER", "GLACIER", gib),
        ];
        let pulls: HashMap<String, (u64, u64)> = [
            ("a".to_string(), (3, 1)),
            ("b".to_string(), (2, 0)),
            ("c".to_string(), (50, 0)),
            ("d".to_string(), (4, 0)),
        ]
        .into();
        let (d, r, ..) = replay(&p, RestoreTier::Bulk, &rows, &pulls, 30);
        assert_eq!((d.blobs, d.actions), (4, 2));
        assert_eq!((r.pulls, r.scanner_pulls), (59, 1));
        assert_eq!((r.pulls_on_moved, r.blobs_moved_pulled), (5, 2));
        let gir = p.class(&StorageClass::GlacierIr).unwrap();
        let want = 3.0 * (gir.get_per_1000 / 1000.0 + gir.retrieval_gb);
        assert!((r.by_class["GLACIER_IR"].access_cost - want).abs() < 1e-12);
        assert_eq!(r.failed_pulls, 2);
        assert_eq!(r.failed_pulls_already_archived, 4);
        assert_eq!(r.by_class["DEEP_ARCHIVE"].bytes, 4 << 30);
    }

    /// Scanner reads are billed as the plan prices them ([`cost::scanner`]): a GET (plus
    /// the retrieval fee) per read, never a restore. A blob the plan sent to DEEP_ARCHIVE
    /// that only a scanner read costs three failed GETs there, not three restores, and no
    /// client pull failed. See: issue 15.
    #[test]
    fn scanner_reads_are_priced_as_the_plan_prices_them() {
        let p = Prices::builtin();
        let gib = 1i64 << 30;
        let size = gib as u64;
        let rows = vec![
            row("a", "STANDARD", "DEEP_ARCHIVE", gib),
            row("b", "STANDARD", "GLACIER_IR", gib),
        ];
        let pulls: HashMap<String, (u64, u64)> =
            [("a".to_string(), (3, 3)), ("b".to_string(), (3, 2))].into();
        let (_, r, _, _, realised, _) = replay(&p, RestoreTier::Bulk, &rows, &pulls, 30);
        assert_eq!((r.failed_pulls, r.restore_cost), (0, 0.0), "{r:?}");
        let (da, gir) = (StorageClass::DeepArchive, StorageClass::GlacierIr);
        let scans = |c: &StorageClass, n: f64| cost::scanner::monthly(&p, c, size, n).unwrap();
        let client = |c: &StorageClass, n: f64| {
            cost::monthly_access(&p, c, size, n, RestoreTier::Bulk).unwrap()
        };
        let want_da = scans(&da, 3.0);
        assert!(
            (r.by_class["DEEP_ARCHIVE"].access_cost - want_da).abs() < 1e-12,
            "{r:?}"
        );
        let want_gir = client(&gir, 1.0) + scans(&gir, 2.0);
        assert!(
            (r.by_class["GLACIER_IR"].access_cost - want_gir).abs() < 1e-12,
            "{r:?}"
        );
        // Storage for the 30 days plus the reads, in the class before and after.
        let storage = |c: &StorageClass| cost::monthly_storage(&p, c, size).unwrap();
        let std = StorageClass::Standard;
        let before = 2.0 * storage(&std) + client(&std, 1.0) + scans(&std, 5.0);
        let after = storage(&da) + want_da + storage(&gir) + want_gir;
        assert!(
            (realised - (before - after)).abs() < 1e-12,
            "{realised} vs {}",
            before - after
        );
    }
}
