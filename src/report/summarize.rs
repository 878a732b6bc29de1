//! [`summarize`]: every figure of the report from the plan's tables, a pure function of its
//! [`Inputs`].
//!
//! Invariants: money sums are over the unrounded per-blob amounts of `decisions`, in row
//! order; the headline is the plan's own numbers, never re-priced. Only the
//! Intelligent-Tiering alternative and the split of one-time costs into their parts use the
//! cost model ([`crate::cost`]). Must not: read files, or format numbers for people
//! ([`super::format`] does).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use super::backtest::Backtest;
use super::format::list_days;
use super::read::{LedgerRejects, StatRow};
use super::summary::*;
use super::{CUMULATIVE_MONTHS, FORMAT_VERSION, TOP_MOVES};
use crate::config::PlanConfig;
use crate::cost::{self, Prices};
use crate::model::{Action, Method, RestoreTier, StorageClass};
use crate::plan::file::PlanRow;
use crate::stats::coverage::Coverage;

mod context;
use context::*;

/// Everything [`summarize`] needs.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// As-of.
    pub as_of: NaiveDate,
    /// The `decisions` rows.
    pub rows: &'a [PlanRow],
    /// The `decisions` column `days_in_class`, one per row of `rows`: the days in its class
    /// the plan priced each blob with (empty for tables written before it existed: then
    /// `age_days` is used, as those plans did).
    pub days_in_class: &'a [Option<i64>],
    /// The `digest_stats` rows.
    pub stats: &'a [StatRow],
    /// `plan.summary.json`.
    pub plan_summary: &'a serde_json::Value,
    /// Prices (the plan's).
    pub prices: &'a Prices,
    /// Plan config.
    pub cfg: &'a PlanConfig,
    /// Coverage of the stats window.
    pub coverage: &'a Coverage,
    /// `run.max_inventory_age_days`.
    pub max_inventory_age_days: u32,
    /// Ledger rejects.
    pub rejects: LedgerRejects,
    /// Latest backtest.
    pub backtest: Option<Backtest>,
}

fn add_class<'a>(m: &'a mut BTreeMap<(usize, String), ClassRow>, class: &str) -> &'a mut ClassRow {
    // Classes in the order of `StorageClass::MANAGED` (most to least expensive), others after.
    let rank = StorageClass::from(class)
        .managed_rank()
        .unwrap_or(StorageClass::MANAGED.len());
    m.entry((rank, class.to_string()))
        .or_insert_with(|| ClassRow {
            class: class.to_string(),
            ..Default::default()
        })
}

/// How the plan priced versioning (`plan.summary.json` `versioned_buckets` and
/// `noncurrent_days`; plans written before them: the config).
#[derive(Debug, Clone)]
pub struct PlanVersioning {
    /// The buckets priced as versioned and how that was known (`None`: the summary does not
    /// list them).
    buckets: Option<BTreeMap<String, String>>,
    /// Days the old version of a copy was priced for.
    noncurrent_days: u32,
}

impl PlanVersioning {
    /// From the plan summary, else the config.
    pub fn of(ps: &serde_json::Value, cfg: &PlanConfig) -> PlanVersioning {
        let buckets = ps["versioned_buckets"].as_object().map(|m| {
            m.iter()
                .map(|(b, s)| (b.clone(), s.as_str().unwrap_or("config").to_owned()))
                .collect()
        });
        let noncurrent_days = ps["noncurrent_days"]
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(cfg.noncurrent_days);
        PlanVersioning {
            buckets,
            noncurrent_days,
        }
    }

    /// Whether the plan priced `bucket` as versioned.
    fn versioned(&self, cfg: &PlanConfig, bucket: &str) -> bool {
        match &self.buckets {
            Some(b) => b.contains_key(bucket),
            None => cfg.versioned_for(bucket).unwrap_or(false),
        }
    }
}

/// The parts of one action's one-time cost, recomputed with the cost model from what the plan
/// priced it with (the days in class of `decisions`, the versioning of the plan summary);
/// None when they do not add up to the plan's figure (config or prices changed since).
fn one_time_parts(
    p: &Prices,
    cfg: &PlanConfig,
    v: &PlanVersioning,
    r: &PlanRow,
    days_in_class: Option<i64>,
) -> Option<cost::OneTime> {
    let (from, to) = (r.from_class.clone(), r.to_class.clone());
    let versioned = v.versioned(cfg, &r.bucket);
    let method = r.method;
    // Restore rows carry the restore they were priced with (older plans: the config's tier,
    // the plan's days).
    let restore_tier = r.restore_tier.unwrap_or(cfg.restore_tier);
    let restore_days = r.restore_days.unwrap_or(crate::plan::file::RESTORE_DAYS);
    let input = cost::MoveInput {
        from,
        to,
        size: r.size.max(0) as u64,
        days_in_current_class: days_in_class.unwrap_or(0).max(0) as u32,
        versioned,
        noncurrent_retention_days: v.noncurrent_days,
        method,
        restore_tier,
        restore_days,
    };
    let o = cost::one_time_cost(p, &input).ok()?;
    let tol = 1e-9 * r.one_time_cost.abs().max(1e-6);
    ((o.total - r.one_time_cost).abs() <= tol).then_some(o)
}

/// Intelligent-Tiering figures of one blob: (eligible, one-time, cost of months 1..=3, steady).
fn it_costs(p: &Prices, r: &PlanRow, days_in_class: Option<i64>) -> Option<(f64, [f64; 3], f64)> {
    let it = StorageClass::IntelligentTiering;
    let from = r.from_class.clone();
    let size = r.size.max(0) as u64;
    if !from.can_lifecycle_to(&it) || size < p.intelligent_tiering().monitoring_min_object_bytes {
        return None;
    }
    let input = cost::MoveInput {
        from,
        to: it,
        size,
        days_in_current_class: days_in_class.unwrap_or(0).max(0) as u32,
        versioned: false,
        noncurrent_retention_days: 0,
        method: Method::Lifecycle,
        restore_tier: RestoreTier::Bulk,
        restore_days: crate::plan::file::RESTORE_DAYS,
    };
    // A bucket-wide rule needs no tags.
    let one_time = cost::one_time_cost(p, &input)
        .map(|o| o.total - o.parts.tagging)
        .ok()?;
    let gets = r.expected_pulls_30d;
    let steady = cost::intelligent_tiering_steady_monthly(p, size, gets);
    // After the move a blob starts in Frequent Access and steps down while not pulled; a blob
    // pulled often enough stays higher than this ramp, so each month costs the larger of the two.
    let month = |m: u32| cost::intelligent_tiering_monthly(p, size, Some(30 * m), gets).max(steady);
    Some((one_time, [month(0), month(1), month(2)], steady))
}

fn break_even(points: &[CumulativePoint], f: impl Fn(&CumulativePoint) -> f64) -> Option<f64> {
    let first = points.first().map(&f)?;
    if first >= 0.0 {
        return None;
    }
    points.windows(2).find_map(|w| {
        let (a, b) = (f(&w[0]), f(&w[1]));
        (a < 0.0 && b >= 0.0).then(|| f64::from(w[0].month) + (-a) / (b - a))
    })
}

const AGE_BUCKETS: [(&str, Option<i64>, Option<i64>); 7] = [
    ("0-6", Some(0), Some(6)),
    ("7-29", Some(7), Some(29)),
    ("30-89", Some(30), Some(89)),
    ("90-179", Some(90), Some(179)),
    ("180-364", Some(180), Some(364)),
    ("365+", Some(365), None),
    ("never", None, None),
];

/// Computes every figure of the report from the tables. Pure.
pub fn summarize(i: &Inputs<'_>) -> Summary {
    let p = i.prices;
    let age: HashMap<(&str, &str), Option<i64>> = i
        .stats
        .iter()
        .filter_map(|s| Some(((s.bucket.as_deref()?, s.key.as_deref()?), s.age_days)))
        .collect();
    let versioning = PlanVersioning::of(i.plan_summary, i.cfg);
    let mut t = Tally::new(i.cfg.horizon_months);
    for (n, r) in i.rows.iter().enumerate() {
        // The days the plan priced with; `age_days` for plans that did not record them.
        let days_in_class = match i.days_in_class.get(n) {
            Some(d) => *d,
            None => age
                .get(&(r.bucket.as_str(), r.key.as_str()))
                .copied()
                .flatten(),
        };
        t.add(p, i.cfg, &versioning, r, days_in_class);
    }
    let Tally {
        mut h,
        mut classes,
        tiers,
        reasons,
        mut alt,
        it_months,
        it_steady,
        versioned,
    } = t;
    let storage_volumes = crate::plan::volumes::read_summary(i.plan_summary);
    tier_adjust(&mut h, &mut classes, &storage_volumes);
    let h = finish_headline(h, i.cfg.horizon_months);
    let cumulative = scenarios(&h, &mut alt, it_months, it_steady);
    let inv: Vec<&StatRow> = i.stats.iter().filter(|s| s.in_inventory).collect();
    let ps = i.plan_summary;
    Summary {
        v: FORMAT_VERSION,
        as_of: i.as_of.to_string(),
        plan_id: ps["plan_id"].as_str().unwrap_or_default().to_string(),
        generated_by: format!("blobtier {}", env!("CARGO_PKG_VERSION")),
        pricing: Pricing {
            region: p.region().to_string(),
            as_of: p.as_of().to_string(),
            unverified: p.unverified(),
            volume_tiers: storage_volumes,
        },
        by_class: classes.into_values().collect(),
        by_tier: tiers.into_values().collect(),
        alternatives: alt,
        cumulative,
        top_moves: top_moves(i.rows),
        reasons: sorted_reasons(reasons),
        days_since_last_pull: days_since_last_pull(&inv),
        hot_set: hot_set(i, &inv),
        pull_through: pull_through(i.stats),
        data_quality: data_quality(i, &h),
        assumptions: assumptions(i),
        backtest: i.backtest.clone(),
        unreferenced: unreferenced(i),
        realized: super::realized::from_plan_summary(i.plan_summary),
        versioning: versioned_buckets(versioned, &versioning),
        sources: Default::default(),
        headline: h,
    }
}

/// The sums over the decisions, one row at a time: the headline, classes, tiers, reasons and
/// the Intelligent-Tiering alternative.
struct Tally {
    h: Headline,
    classes: BTreeMap<(usize, String), ClassRow>,
    tiers: BTreeMap<String, TierRow>,
    reasons: BTreeMap<String, ReasonRow>,
    alt: Alternatives,
    /// What the blobs cost in months 1 to 3 under the Intelligent-Tiering alternative.
    it_months: [f64; 3],
    /// And once settled.
    it_steady: f64,
    /// Per versioned bucket: its copies and the keys they touch.
    versioned: BTreeMap<String, VersionedCopies>,
}

/// The copies of one versioned bucket.
#[derive(Debug, Default)]
struct VersionedCopies {
    copies: u64,
    bytes: u64,
    old_version_cost: f64,
    /// The longest common prefix of the keys copied.
    prefix: Option<String>,
}

impl Tally {
    fn new(horizon_months: u32) -> Tally {
        Tally {
            h: Headline {
                horizon_months,
                ..Headline::default()
            },
            classes: BTreeMap::new(),
            tiers: BTreeMap::new(),
            reasons: BTreeMap::new(),
            alt: Alternatives::default(),
            it_months: [0.0; 3],
            it_steady: 0.0,
            versioned: BTreeMap::new(),
        }
    }

    /// Adds one decision (`days_in_class`: the days in its class the plan priced it with).
    fn add(
        &mut self,
        p: &Prices,
        cfg: &PlanConfig,
        v: &PlanVersioning,
        r: &PlanRow,
        days_in_class: Option<i64>,
    ) {
        let size = r.size.max(0) as u64;
        let moved = r.action != Action::Keep;
        let h = &mut self.h;
        let (now, after) = (&mut h.monthly_cost_now, &mut h.monthly_cost_after);
        add_blob(&mut h.objects, &mut h.bytes, now, after, r);
        let c = add_class(&mut self.classes, r.from_class.as_str());
        c.objects_now += 1;
        c.bytes_now += size;
        c.monthly_now += r.monthly_cost_now;
        let c = add_class(&mut self.classes, r.to_class.as_str());
        c.objects_after += 1;
        c.bytes_after += size;
        c.monthly_after += r.monthly_cost_after;
        let t = self.tiers.entry(r.tier.clone()).or_insert_with(|| TierRow {
            tier: r.tier.clone(),
            ..Default::default()
        });
        add_blob(
            &mut t.objects,
            &mut t.bytes,
            &mut t.monthly_now,
            &mut t.monthly_after,
            r,
        );
        if moved {
            t.actions += 1;
            t.bytes_moved += size;
        }
        let why = self
            .reasons
            .entry(r.reason.clone())
            .or_insert_with(|| ReasonRow {
                reason: r.reason.clone(),
                kept: !moved,
                ..Default::default()
            });
        let (now, after) = (&mut why.monthly_now, &mut why.monthly_after);
        add_blob(&mut why.objects, &mut why.bytes, now, after, r);
        if moved {
            h.actions += 1;
            h.bytes_moved += size;
            let parts = one_time_parts(p, cfg, v, r, days_in_class);
            if r.method == Method::Copy && v.versioned(cfg, &r.bucket) {
                let c = self.versioned.entry(r.bucket.clone()).or_default();
                c.copies += 1;
                c.bytes += size;
                c.old_version_cost += parts.map_or(0.0, |o| o.parts.old_version);
                c.prefix = Some(match c.prefix.take() {
                    None => r.key.clone(),
                    Some(p) => common_prefix(&p, &r.key).to_owned(),
                });
            }
            add_one_time(&mut h.one_time, parts, r);
        }
        self.add_intelligent_tiering(p, r, size, days_in_class);
    }

    /// Adds one blob to the Intelligent-Tiering alternative: moved if eligible, else where it is.
    fn add_intelligent_tiering(&mut self, p: &Prices, r: &PlanRow, size: u64, age: Option<i64>) {
        let alt = &mut self.alt;
        let fee = p.intelligent_tiering().monitoring_per_1000_objects_month / 1000.0;
        if r.from_class == StorageClass::IntelligentTiering
            && size >= p.intelligent_tiering().monitoring_min_object_bytes
        {
            alt.it_monitoring_monthly += fee;
        }
        match it_costs(p, r, age) {
            Some((one_time, months, steady)) => {
                alt.it_objects += 1;
                alt.it_bytes += size;
                alt.it_monitoring_monthly += fee;
                alt.intelligent_tiering.one_time += one_time;
                for (m, v) in self.it_months.iter_mut().zip(months) {
                    *m += v;
                }
                self.it_steady += steady;
            }
            None => {
                // Not eligible: stays where it is.
                for m in &mut self.it_months {
                    *m += r.monthly_cost_now;
                }
                self.it_steady += r.monthly_cost_now;
            }
        }
    }
}

/// The longest common prefix of `a` and `b` (on character boundaries).
fn common_prefix<'s>(a: &'s str, b: &str) -> &'s str {
    let n = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    &a[..n]
}

/// The versioned buckets the plan copies in, each with the `NoncurrentVersionExpiration`
/// rule that ends the old versions' billing, scoped to the keys copied (their common prefix,
/// cut after its last `/`).
fn versioned_buckets(
    by_bucket: BTreeMap<String, VersionedCopies>,
    v: &PlanVersioning,
) -> Vec<VersionedBucket> {
    by_bucket
        .into_iter()
        .map(|(bucket, c)| {
            let prefix = c
                .prefix
                .as_deref()
                .and_then(|p| p.rfind('/').map(|i| p[..=i].to_owned()));
            let rule = noncurrent_rule(prefix.as_deref(), v.noncurrent_days);
            let source = v
                .buckets
                .as_ref()
                .and_then(|b| b.get(&bucket).cloned())
                .unwrap_or_else(|| "config".to_owned());
            VersionedBucket {
                cli: format!(
                    "aws s3api put-bucket-lifecycle-configuration --bucket {bucket} \
                     --lifecycle-configuration file://lifecycle.json"
                ),
                bucket,
                source,
                noncurrent_days: v.noncurrent_days,
                copies: c.copies,
                bytes: c.bytes,
                old_version_cost: c.old_version_cost,
                prefix,
                rule: serde_json::json!({ "Rules": [rule] }).to_string(),
            }
        })
        .collect()
}

/// The `NoncurrentVersionExpiration` rule (S3's JSON) for `prefix` (`None`: bucket-wide).
pub fn noncurrent_rule(prefix: Option<&str>, days: u32) -> serde_json::Value {
    serde_json::json!({
        "ID": crate::model::noncurrent_rule_id(prefix),
        "Status": "Enabled",
        "Filter": { "Prefix": prefix.unwrap_or("") },
        "NoncurrentVersionExpiration": { "NoncurrentDays": days },
    })
}

/// Adds one blob to a group's count, bytes and monthly costs now and after the plan.
fn add_blob(objects: &mut u64, bytes: &mut u64, now: &mut f64, after: &mut f64, r: &PlanRow) {
    *objects += 1;
    *bytes += r.size.max(0) as u64;
    *now += r.monthly_cost_now;
    *after += r.monthly_cost_after;
}

/// Adds an action's one-time cost to `o`, split into its parts when the cost model reproduces
/// them (`parts`), else as unattributed.
fn add_one_time(o: &mut OneTimeParts, parts: Option<cost::OneTime>, r: &PlanRow) {
    o.total += r.one_time_cost;
    match parts {
        Some(one_time) => o.parts += one_time.parts,
        None => o.unattributed += r.one_time_cost,
    }
}

/// The headline's derived figures, from its sums.
/// Adds to the classes' and the headline's monthly totals what the blobs' prices (each at
/// its class's marginal rate) miss of the tiered formula (`storage_volumes` of the plan
/// summary; nothing for classes below their first tier).
fn tier_adjust(
    h: &mut Headline,
    classes: &mut BTreeMap<(usize, String), ClassRow>,
    volumes: &[crate::plan::volumes::ClassVolume],
) {
    for v in volumes {
        let c = add_class(classes, v.class.as_str());
        c.monthly_now += v.tier_adjustment_now;
        c.monthly_after += v.tier_adjustment_after;
        h.monthly_cost_now += v.tier_adjustment_now;
        h.monthly_cost_after += v.tier_adjustment_after;
    }
}

fn finish_headline(mut h: Headline, horizon_months: u32) -> Headline {
    h.monthly_savings = h.monthly_cost_now - h.monthly_cost_after;
    h.net_savings_12m = 12.0 * h.monthly_savings - h.one_time.total;
    h.net_savings_horizon = f64::from(horizon_months) * h.monthly_savings - h.one_time.total;
    h.payback_days = (h.monthly_savings > 0.0)
        .then(|| h.one_time.total / (h.monthly_savings / cost::DAYS_PER_MONTH));
    h
}

/// Fills the three scenarios of `alt` and returns the cumulative-savings curve, months 0 to
/// [`CUMULATIVE_MONTHS`].
fn scenarios(
    h: &Headline,
    alt: &mut Alternatives,
    it_months: [f64; 3],
    it_steady: f64,
) -> Vec<CumulativePoint> {
    let it_month = |m: u32| -> f64 {
        match m {
            1..=3 => it_months[(m - 1) as usize],
            _ => it_steady,
        }
    };
    let mut cumulative = Vec::new();
    let (mut plan_cum, mut it_cum) = (-h.one_time.total, -alt.intelligent_tiering.one_time);
    for m in 0..=CUMULATIVE_MONTHS {
        if m > 0 {
            plan_cum += h.monthly_savings;
            it_cum += h.monthly_cost_now - it_month(m);
        }
        cumulative.push(CumulativePoint {
            month: m,
            plan: plan_cum,
            intelligent_tiering: it_cum,
        });
    }
    let cost_12m =
        |monthly: &dyn Fn(u32) -> f64, one_time: f64| one_time + (1..=12).map(monthly).sum::<f64>();
    alt.do_nothing = Scenario {
        monthly_first: h.monthly_cost_now,
        monthly_steady: h.monthly_cost_now,
        one_time: 0.0,
        cost_12m: 12.0 * h.monthly_cost_now,
        net_savings_12m: 0.0,
        break_even_month: None,
    };
    alt.plan = Scenario {
        monthly_first: h.monthly_cost_after,
        monthly_steady: h.monthly_cost_after,
        one_time: h.one_time.total,
        cost_12m: cost_12m(&|_| h.monthly_cost_after, h.one_time.total),
        net_savings_12m: h.net_savings_12m,
        break_even_month: h.payback_days.map(|d| d / cost::DAYS_PER_MONTH),
    };
    let it_one_time = alt.intelligent_tiering.one_time;
    alt.intelligent_tiering = Scenario {
        monthly_first: it_month(1),
        monthly_steady: it_steady,
        one_time: it_one_time,
        cost_12m: cost_12m(&it_month, it_one_time),
        net_savings_12m: 0.0,
        break_even_month: break_even(&cumulative, |c| c.intelligent_tiering),
    };
    alt.intelligent_tiering.net_savings_12m =
        alt.do_nothing.cost_12m - alt.intelligent_tiering.cost_12m;
    cumulative
}

/// The [`TOP_MOVES`] actions that save most over 12 months.
fn top_moves(rows: &[PlanRow]) -> Vec<TopMove> {
    let mut moves: Vec<&PlanRow> = rows.iter().filter(|r| r.action != Action::Keep).collect();
    moves.sort_by(|a, b| {
        b.net_savings_12m
            .total_cmp(&a.net_savings_12m)
            .then_with(|| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)))
    });
    moves
        .into_iter()
        .take(TOP_MOVES)
        .map(|r| TopMove {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            digest: r.digest.clone(),
            size: r.size,
            from_class: r.from_class.to_string(),
            to_class: r.to_class.to_string(),
            reason: r.reason.clone(),
            monthly_now: r.monthly_cost_now,
            monthly_after: r.monthly_cost_after,
            one_time: r.one_time_cost,
            payback_days: r.payback_days,
            net_savings_12m: r.net_savings_12m,
        })
        .collect()
}

/// Reasons of moves first, then of the blobs kept; the most frequent first in each.
fn sorted_reasons(reasons: BTreeMap<String, ReasonRow>) -> Vec<ReasonRow> {
    let mut reasons: Vec<ReasonRow> = reasons.into_values().collect();
    reasons.sort_by(|a, b| {
        a.kept
            .cmp(&b.kept)
            .then(b.objects.cmp(&a.objects))
            .then_with(|| a.reason.cmp(&b.reason))
    });
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_even_interpolates_between_months() {
        let pts: Vec<CumulativePoint> = (0..5)
            .map(|m| CumulativePoint {
                month: m,
                plan: -3.0 + 2.0 * f64::from(m),
                intelligent_tiering: -1.0,
            })
            .collect();
        assert_eq!(break_even(&pts, |c| c.plan), Some(1.5));
        assert_eq!(break_even(&pts, |c| c.intelligent_tiering), None);
    }

    #[test]
    fn thin_keeps_first_and_last() {
        let v: Vec<u32> = (0..1000).collect();
        let t = thin(v, 200);
        assert_eq!(t.len(), 200);
        assert_eq!((t[0], t[199]), (0, 999));
        assert_eq!(thin(vec![1, 2], 200), vec![1, 2]);
    }
}

#[cfg(test)]
mod priced_as_planned_tests {
    use super::*;
    use crate::plan::file::testing::row;

    const GIB: i64 = 1 << 30;

    fn summary_of(
        rows: &[PlanRow],
        days_in_class: &[Option<i64>],
        stats: &[StatRow],
        plan_summary: &serde_json::Value,
    ) -> Summary {
        let prices = Prices::builtin();
        let cfg = crate::config::RawConfig::default()
            .validate(&Default::default())
            .unwrap()
            .plan;
        let as_of = NaiveDate::from_ymd_opt(2024, 10, 1).unwrap();
        let coverage = Coverage {
            as_of,
            window_days: 90,
            missing_days: vec![],
            inventory_snapshot: Some(as_of),
            inventory_age_days: Some(0),
        };
        summarize(&Inputs {
            as_of,
            rows,
            days_in_class,
            stats,
            plan_summary,
            prices: &prices,
            cfg: &cfg,
            coverage: &coverage,
            max_inventory_age_days: 7,
            rejects: LedgerRejects::default(),
            backtest: None,
        })
    }

    fn stat(key: &str, age_days: i64) -> StatRow {
        StatRow {
            digest: "sha256:00".into(),
            bucket: Some("b".into()),
            key: Some(key.into()),
            in_inventory: true,
            size: Some(GIB),
            age_days: Some(age_days),
            ..Default::default()
        }
    }

    /// A blob moved into GLACIER_IR yesterday (written 400 days ago) goes back up: the plan
    /// priced 89 days of early deletion from the class history. The report splits that cost
    /// with the same days (the `decisions` column `days_in_class`), not with `age_days`, so
    /// nothing is "unattributed". See: issue 15.
    #[test]
    fn one_time_parts_use_the_days_in_class_the_plan_priced_with() {
        let p = Prices::builtin();
        let input = cost::MoveInput {
            from: StorageClass::GlacierIr,
            to: StorageClass::Standard,
            size: GIB as u64,
            days_in_current_class: 1,
            versioned: false,
            noncurrent_retention_days: 30,
            method: Method::Copy,
            restore_tier: RestoreTier::Bulk,
            restore_days: crate::plan::file::RESTORE_DAYS,
        };
        let planned = cost::one_time_cost(&p, &input).unwrap();
        assert!(planned.parts.early_delete > 0.0);
        let r = PlanRow {
            size: GIB,
            from_class: StorageClass::GlacierIr,
            to_class: StorageClass::Standard,
            tier: "hot".into(),
            reason: "moved:reheat".into(),
            one_time_cost: planned.total,
            ..row("k")
        };
        let stats = [stat("k", 400)];
        let s = summary_of(
            std::slice::from_ref(&r),
            &[Some(1)],
            &stats,
            &serde_json::json!({}),
        );
        let o = &s.headline.one_time;
        assert_eq!(o.unattributed, 0.0, "{o:?}");
        assert!((o.parts.early_delete - planned.parts.early_delete).abs() < 1e-12);
        // A decisions table without the column (older plans priced with `age_days`).
        let s = summary_of(&[r], &[], &stats, &serde_json::json!({}));
        assert_eq!(s.headline.one_time.unattributed, planned.total);
    }

    /// The plan summary says which buckets were priced as versioned: the report splits the
    /// old version's cost out and says how to expire it, scoped to the copied keys.
    /// See: issue 15.
    #[test]
    fn versioned_buckets_get_their_old_versions_and_the_rule_to_expire_them() {
        let p = Prices::builtin();
        let standard = cost::monthly_storage(&p, &StorageClass::Standard, GIB as u64).unwrap();
        let put = p.class(&StorageClass::StandardIa).unwrap().put_per_1000 / 1000.0;
        let old_version = 7.0 * standard / 30.0;
        let keys = [
            "docker/registry/v2/blobs/sha256/aa/aa1/data",
            "docker/registry/v2/blobs/sha256/ab/ab1/data",
        ];
        let rows: Vec<PlanRow> = keys
            .iter()
            .map(|k| PlanRow {
                size: GIB,
                one_time_cost: put + old_version,
                ..row(k)
            })
            .collect();
        let stats: Vec<StatRow> = keys.iter().map(|k| stat(k, 400)).collect();
        let ps = serde_json::json!({"versioned_buckets": {"b": "inventory"}, "noncurrent_days": 7});
        let s = summary_of(&rows, &[Some(400), Some(400)], &stats, &ps);
        let o = &s.headline.one_time;
        assert_eq!(o.unattributed, 0.0, "{o:?}");
        assert!(
            (o.parts.old_version - 2.0 * old_version).abs() < 1e-12,
            "{o:?}"
        );
        assert_eq!(s.versioning.len(), 1);
        let v = &s.versioning[0];
        assert_eq!((v.bucket.as_str(), v.source.as_str()), ("b", "inventory"));
        assert_eq!((v.copies, v.noncurrent_days), (2, 7));
        assert_eq!(
            v.prefix.as_deref(),
            Some("docker/registry/v2/blobs/sha256/")
        );
        let rule: serde_json::Value = serde_json::from_str(&v.rule).unwrap();
        assert_eq!(
            rule,
            serde_json::json!({"Rules": [{
                "ID": "blobtier-noncurrent@docker/registry/v2/blobs/sha256/",
                "Status": "Enabled",
                "Filter": {"Prefix": "docker/registry/v2/blobs/sha256/"},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
            }]})
        );
        // Not versioned by the plan: no section, and the same cost is not attributable.
        let s = summary_of(
            &rows,
            &[Some(400), Some(400)],
            &stats,
            &serde_json::json!({}),
        );
        assert!(s.versioning.is_empty());
        assert!(s.headline.one_time.unattributed > 0.0);
    }
}
