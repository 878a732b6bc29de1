//! Coverage: which days inside the longest window have no log input at all, and how old the
//! inventory snapshot is. A day without logs looks exactly like a day without pulls, so a plan
//! made on incomplete data would send hot blobs to cold storage; `run` uses this to hold moves
//! down back (see `docs/nightly.md`).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::Serialize;

use crate::lake::{Lake, LakeError};

/// Coverage of one as-of day.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Coverage {
    /// As-of.
    pub as_of: NaiveDate,
    /// Days checked (the longest window).
    pub window_days: u32,
    /// Days in the window with no log input.
    pub missing_days: Vec<NaiveDate>,
    /// Latest inventory snapshot on or before as-of.
    pub inventory_snapshot: Option<NaiveDate>,
    /// Its age in days.
    pub inventory_age_days: Option<i64>,
}

impl Coverage {
    /// Why a plan must not move blobs down, if it must not.
    pub fn hold_reason(&self, max_inventory_age_days: u32) -> Option<String> {
        let mut why = Vec::new();
        if !self.missing_days.is_empty() {
            let shown: Vec<String> = self
                .missing_days
                .iter()
                .take(5)
                .map(|d| d.to_string())
                .collect();
            let more = if self.missing_days.len() > 5 {
                format!(" and {} more", self.missing_days.len() - 5)
            } else {
                String::new()
            };
            why.push(format!(
                "{} day(s) of the last {} have no log input ({}{more})",
                self.missing_days.len(),
                self.window_days,
                shown.join(", ")
            ));
        }
        match self.inventory_age_days {
            None => why.push("no inventory snapshot on or before as-of".into()),
            Some(a) if a > i64::from(max_inventory_age_days) => why.push(format!(
                "the inventory snapshot is {a} days old (limit {max_inventory_age_days})"
            )),
            _ => {}
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

fn partition_days(lake: &Lake, table: &str, out: &mut BTreeSet<NaiveDate>) {
    if let Ok(rd) = std::fs::read_dir(lake.root().join(table)) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(d) = name
                .strip_prefix("date=")
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            {
                out.insert(d);
            }
        }
    }
}

/// Computes coverage for `as_of` over `window_days`.
pub fn coverage(lake: &Lake, as_of: NaiveDate, window_days: u32) -> Result<Coverage, LakeError> {
    let mut covered = BTreeSet::new();
    partition_days(lake, "pulls", &mut covered);
    partition_days(lake, "manifest_pulls", &mut covered);
    // A day with log lines but no pull has no partition: the ledger keeps each input's lines
    // per day. Only days that have lines count — never the span between an input's first and
    // last day, which one stray old line would stretch over every missing day. Entries written
    // before the per-day counts existed add nothing (their days count only where they have
    // pulls), which can only hold moves back, never let them through.
    for (_, v) in lake.ledger_entries()? {
        for i in v["inputs"].as_array().into_iter().flatten() {
            for (day, lines) in i["days"].as_object().into_iter().flatten() {
                let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok();
                if let Some(d) = day.filter(|d| *d <= as_of && lines.as_u64() > Some(0)) {
                    covered.insert(d);
                }
            }
        }
    }
    let missing_days = (0..window_days)
        .map(|i| as_of - chrono::Duration::days(i64::from(i)))
        .filter(|d| !covered.contains(d))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let snap = crate::query::tables::latest_snapshot(lake, as_of)
        .ok()
        .flatten()
        .and_then(|(d, _)| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    Ok(Coverage {
        as_of,
        window_days,
        missing_days,
        inventory_snapshot: snap,
        inventory_age_days: snap.map(|s| (as_of - s).num_days()),
    })
}
