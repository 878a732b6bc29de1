//! Planned vs realized: every plan compares the actions of the earlier plans in the lake with
//! the newest inventory snapshot (through the class history, [`super::history`]) and prices
//! what the moved objects cost now. Written as `realized/as_of=DATE/part-0.parquet`
//! (`docs/schemas.md`) and summed into `plan.summary.json` (`realized`), which the report's
//! "Planned vs realized" section and `run --metrics-file` show.
//!
//! Per object only the newest earlier action counts (a blob cooled to STANDARD_IA and later
//! sent on to GLACIER_IR is judged by the second move). Its status:
//! - `landed`: the object is in the action's `to_class`;
//! - `pending_restore`: a restore whose object is still in its archive class;
//! - `pending`: still in `from_class` and has not left it since the plan (a lifecycle rule
//!   not run yet, or an apply not run);
//! - `reverted`: back in `from_class`, entered after the plan's night (moved back by someone
//!   else);
//! - `drifted`: in a third class;
//! - `gone`: no longer in the inventory.
//!
//! Money: `planned_before` / `planned_after` are the plan row's `monthly_cost_now` /
//! `monthly_cost_after`; `billed_now` is what this plan prices the object at in the class the
//! inventory shows (its `monthly_cost_now`, with today's expected pulls). Realized monthly
//! savings = Σ (`planned_before` − `billed_now`) over the compared actions; planned = Σ
//! (`planned_before` − `planned_after`); both leave `gone` objects out. Pure apart from
//! reading the earlier plans.
//!
//! Must not: count an action of the plan being made, or re-price the earlier plans.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::{ArrayBuilder, Date32Builder, Float64Builder, StringBuilder};
use chrono::NaiveDate;

use super::file::{self, PlanRow};
use super::history::{ClassHistory, HistoryError, ObjectKey};
use crate::lake::Lake;
use crate::model::{schema, Action};

/// The lake table.
pub const TABLE: &str = "realized";

/// The newest earlier action on one object.
#[derive(Debug, Clone)]
pub struct Earlier {
    /// The plan's as-of day.
    pub day: NaiveDate,
    /// Its row.
    pub row: PlanRow,
}

/// The newest action of the plans made before `as_of`, per object.
pub fn earlier_actions(
    lake: &Lake,
    as_of: NaiveDate,
) -> Result<HashMap<ObjectKey, Earlier>, HistoryError> {
    let mut out = HashMap::new();
    for (day, dir) in lake.partitions("plan", "as_of")? {
        let path = dir.join("plan.parquet");
        if day >= as_of || !path.is_file() {
            continue;
        }
        for row in file::read(&path)? {
            if row.action == Action::Keep {
                continue;
            }
            let k = ObjectKey {
                bucket: row.bucket.clone(),
                key: row.key.clone(),
                version_id: row.version_id.clone(),
            };
            // Partitions come oldest first: the newest wins.
            out.insert(k, Earlier { day, row });
        }
    }
    Ok(out)
}

/// The status of an earlier action given the history (see the module doc).
pub fn status(e: &Earlier, history: &ClassHistory, k: &ObjectKey) -> &'static str {
    let Some(now) = history.entries.get(k) else {
        return "gone";
    };
    let is = |c: &crate::model::StorageClass| c.as_str().eq_ignore_ascii_case(&now.class);
    if is(&e.row.to_class) {
        "landed"
    } else if is(&e.row.from_class) {
        if now.entered > e.day {
            "reverted"
        } else if e.row.action == Action::Restore {
            "pending_restore"
        } else {
            "pending"
        }
    } else {
        "drifted"
    }
}

/// One compared action.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    /// The plan's as-of day.
    pub plan_as_of: NaiveDate,
    /// The plan's id.
    pub plan_id: String,
    /// The object.
    pub object: ObjectKey,
    /// `transition` or `restore`.
    pub action: String,
    /// From, to, and the class the inventory shows now.
    pub from_class: String,
    /// Target.
    pub to_class: String,
    /// Now (empty when gone).
    pub class_now: String,
    /// See the module doc.
    pub status: &'static str,
    /// Plan row's `monthly_cost_now`.
    pub planned_before: f64,
    /// Plan row's `monthly_cost_after`.
    pub planned_after: f64,
    /// This plan's `monthly_cost_now` (0 when gone).
    pub billed_now: f64,
}

/// Per target class.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassRealized {
    /// Actions compared.
    pub objects: u64,
    /// Of which landed.
    pub landed: u64,
    /// Σ planned_before (USD/month).
    pub planned_before: f64,
    /// Σ planned_after (USD/month).
    pub planned_after: f64,
    /// Σ billed_now (USD/month).
    pub billed_now: f64,
}

/// The `realized` part of `plan.summary.json`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RealizedSummary {
    /// Earlier plans with at least one compared action.
    pub plans: u64,
    /// Actions compared (one per object).
    pub actions: u64,
    /// Actions per status.
    pub by_status: BTreeMap<String, u64>,
    /// Per target class.
    pub by_class: BTreeMap<String, ClassRealized>,
    /// Σ (planned_before − planned_after), USD/month.
    pub planned_monthly_savings: f64,
    /// Σ (planned_before − billed_now), USD/month.
    pub realized_monthly_savings: f64,
}

/// Compares `earlier` with the history; `billed_now` per object from this plan.
pub fn compare(
    earlier: &HashMap<ObjectKey, Earlier>,
    history: &ClassHistory,
    billed_now: &HashMap<ObjectKey, f64>,
) -> Vec<Compared> {
    let mut out: Vec<Compared> = earlier
        .iter()
        .map(|(k, e)| {
            let now = history.entries.get(k);
            Compared {
                plan_as_of: e.day,
                plan_id: e.row.plan_id.clone(),
                object: k.clone(),
                action: e.row.action.to_string(),
                from_class: e.row.from_class.to_string(),
                to_class: e.row.to_class.to_string(),
                class_now: now.map(|n| n.class.clone()).unwrap_or_default(),
                status: status(e, history, k),
                planned_before: e.row.monthly_cost_now,
                planned_after: e.row.monthly_cost_after,
                billed_now: billed_now.get(k).copied().unwrap_or(0.0),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.object, a.plan_as_of).cmp(&(&b.object, b.plan_as_of)));
    out
}

/// Sums the compared actions.
pub fn summarize(rows: &[Compared]) -> RealizedSummary {
    let mut s = RealizedSummary::default();
    let mut plans = std::collections::BTreeSet::new();
    for r in rows {
        plans.insert(&r.plan_id);
        s.actions += 1;
        *s.by_status.entry(r.status.to_owned()).or_default() += 1;
        if r.status == "gone" {
            // Deleted: neither a saving of ours nor a cost.
            continue;
        }
        let c = s.by_class.entry(r.to_class.clone()).or_default();
        c.objects += 1;
        c.landed += u64::from(r.status == "landed");
        c.planned_before += r.planned_before;
        c.planned_after += r.planned_after;
        c.billed_now += r.billed_now;
        s.planned_monthly_savings += r.planned_before - r.planned_after;
        s.realized_monthly_savings += r.planned_before - r.billed_now;
    }
    s.plans = plans.len() as u64;
    s
}

/// Writes `rows` to `dir/part-0.parquet`.
pub fn write(dir: &Path, rows: &[Compared]) -> Result<(), crate::io::WriteError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let mut day = Date32Builder::new();
    let mut strs: Vec<StringBuilder> = (0..9).map(|_| StringBuilder::new()).collect();
    let mut nums: Vec<Float64Builder> = (0..3).map(|_| Float64Builder::new()).collect();
    for r in rows {
        day.append_value((r.plan_as_of - epoch).num_days() as i32);
        strs[0].append_value(&r.plan_id);
        strs[1].append_value(&r.object.bucket);
        strs[2].append_value(&r.object.key);
        strs[3].append_option(r.object.version_id.as_deref());
        strs[4].append_value(&r.action);
        strs[5].append_value(&r.from_class);
        strs[6].append_value(&r.to_class);
        strs[7].append_option((!r.class_now.is_empty()).then_some(r.class_now.as_str()));
        strs[8].append_value(r.status);
        nums[0].append_value(r.planned_before);
        nums[1].append_value(r.planned_after);
        nums[2].append_value(r.billed_now);
    }
    let mut cols: Vec<&mut dyn ArrayBuilder> = vec![&mut day];
    cols.extend(strs.iter_mut().map(|b| b as &mut dyn ArrayBuilder));
    cols.extend(nums.iter_mut().map(|b| b as &mut dyn ArrayBuilder));
    let batch = crate::io::finish_batch(schema::realized(), &mut cols)
        .expect("columns match the realized schema");
    crate::io::write_parquet(&dir.join("part-0.parquet"), batch.schema(), &[batch])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StorageClass;
    use crate::plan::history::tests::{d, k};
    use crate::plan::history::{Entry, Source};

    fn row(key: &str, action: Action, from: &str, to: &str, now: f64, after: f64) -> PlanRow {
        PlanRow {
            plan_id: "sha256:p".into(),
            as_of: 0,
            bucket: "b".into(),
            key: key.into(),
            version_id: None,
            etag: None,
            size: 1 << 30,
            digest: "sha256:aa".into(),
            from_class: StorageClass::from(from),
            to_class: StorageClass::from(to),
            tier: "t".into(),
            action,
            method: crate::model::Method::Copy,
            reason: "moved:t".into(),
            expected_pulls_30d: 0.0,
            monthly_cost_now: now,
            monthly_cost_after: after,
            one_time_cost: 0.0,
            payback_days: None,
            net_savings_12m: 0.0,
            restore_tier: None,
            restore_days: None,
        }
    }

    #[test]
    fn statuses_and_sums() {
        let t = Action::Transition;
        let earlier: HashMap<ObjectKey, Earlier> = [
            row("landed", t, "STANDARD", "GLACIER_IR", 0.023, 0.004),
            row("pending", t, "STANDARD", "GLACIER_IR", 0.023, 0.004),
            row("reverted", t, "STANDARD", "GLACIER_IR", 0.023, 0.004),
            row("drifted", t, "STANDARD", "STANDARD_IA", 0.023, 0.0125),
            row(
                "restore",
                Action::Restore,
                "GLACIER",
                "STANDARD",
                0.004,
                0.023,
            ),
            row("gone", t, "STANDARD", "GLACIER_IR", 0.023, 0.004),
        ]
        .into_iter()
        .map(|r| (k(&r.key), Earlier { day: d(2), row: r }))
        .collect();
        let entry = |class: &str, entered| Entry {
            class: class.into(),
            written: Some(d(1)),
            entered,
            source: Source::Observed,
        };
        let history = ClassHistory {
            snapshot: d(5),
            entries: [
                (k("landed"), entry("GLACIER_IR", d(3))),
                (k("pending"), entry("STANDARD", d(1))),
                (k("reverted"), entry("STANDARD", d(4))),
                (k("drifted"), entry("GLACIER", d(3))),
                (k("restore"), entry("GLACIER", d(1))),
            ]
            .into_iter()
            .collect(),
        };
        let billed: HashMap<ObjectKey, f64> = [
            (k("landed"), 0.005),
            (k("pending"), 0.023),
            (k("reverted"), 0.023),
            (k("drifted"), 0.0036),
            (k("restore"), 0.004),
        ]
        .into_iter()
        .collect();
        let rows = compare(&earlier, &history, &billed);
        let got: BTreeMap<&str, &str> = rows
            .iter()
            .map(|r| (r.object.key.as_str(), r.status))
            .collect();
        let want: BTreeMap<&str, &str> = [
            ("landed", "landed"),
            ("pending", "pending"),
            ("reverted", "reverted"),
            ("drifted", "drifted"),
            ("restore", "pending_restore"),
            ("gone", "gone"),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
        let s = summarize(&rows);
        assert_eq!((s.plans, s.actions), (1, 6));
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} != {b}");
        // Planned: 3 × 0.019 + 0.0105 − 0.019 (the restore costs more after; `gone` left out).
        close(s.planned_monthly_savings, 3.0 * 0.019 + 0.0105 - 0.019);
        // Realized: 0.018 (landed) + 0 + 0 + 0.0194 (drifted) + 0 (restore).
        close(s.realized_monthly_savings, 0.018 + 0.0194);
        let ir = &s.by_class["GLACIER_IR"];
        assert_eq!((ir.objects, ir.landed), (3, 1));
        close(ir.billed_now, 0.005 + 0.023 + 0.023);
    }
}
