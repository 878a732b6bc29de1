//! Storage volume per class, before and after the plan: what the storage volume tiers are
//! chosen by (`cost::Prices::at_volumes`).
//!
//! AWS tiers a class's storage price by the *account's* monthly total in the region. blobtier
//! sees only the buckets in its inventory, so the volume of a class is the total size of the
//! inventory's objects in it, over every bucket in the lake's newest snapshot (all priced in
//! one region). Other buckets of the account in that region are not seen: if they hold enough
//! to pass a tier boundary, AWS bills a lower rate than the plan charges. Sizes are the objects'
//! bytes, without minimum billable sizes or archive overheads.
//!
//! Before the plan: [`before`], from `digest_stats` (inventory rows), computed before any
//! decision so every blob is priced at the same marginal rate. After the plan: [`After`] adds
//! each decision's move to the volumes before. [`summarize`] gives the plan summary's
//! `storage_volumes`: the tiered formula for each class total, and what the per-blob prices
//! (charged at the marginal rate before the plan) miss of it.
//!
//! Must not: decide anything about a blob, or write files.

use polars::prelude::*;
use serde::Serialize;

use super::build::inventory_class;
use super::file::PlanRow;
use crate::cost::{ClassVolumes, Prices, BYTES_PER_GB};
use crate::model::StorageClass;

/// The inventory's GB per class in `stats` (`digest_stats`; rows with `in_inventory` only; a
/// missing class is STANDARD, as the plan reads it).
pub fn before(stats: LazyFrame) -> PolarsResult<ClassVolumes> {
    let df = stats
        .filter(col("in_inventory"))
        .group_by([col("storage_class").cast(DataType::String)])
        .agg([col("size").cast(DataType::Float64).sum().alias("bytes")])
        .collect()?;
    let class = df.column("storage_class")?.str()?.clone();
    let bytes = df.column("bytes")?.f64()?.clone();
    let mut v = ClassVolumes::default();
    for i in 0..df.height() {
        let c = class.get(i).map_or(StorageClass::Standard, inventory_class);
        v.add(&c, bytes.get(i).unwrap_or(0.0) / BYTES_PER_GB);
    }
    Ok(v)
}

/// The volumes before the plan, and after it: the volumes before with every decision's move
/// applied.
#[derive(Debug, Clone)]
pub struct After {
    before: ClassVolumes,
    after: ClassVolumes,
}

impl After {
    /// Starts from the volumes before the plan.
    pub fn new(before: ClassVolumes) -> After {
        After {
            before,
            after: before,
        }
    }

    /// Applies the decisions in `rows` (a row whose `to_class` differs from its `from_class`
    /// moves its size).
    pub fn add(&mut self, rows: &[PlanRow]) {
        for r in rows.iter().filter(|r| r.from_class != r.to_class) {
            let gb = r.size.max(0) as f64 / BYTES_PER_GB;
            self.after.add(&r.from_class, -gb);
            self.after.add(&r.to_class, gb);
        }
    }

    /// The volumes after the decisions added so far.
    pub fn volumes(&self) -> ClassVolumes {
        self.after
    }

    /// [`summarize`] of the volumes before and after.
    pub fn summarize(&self, prices: &Prices) -> Vec<ClassVolume> {
        summarize(prices, &self.before, &self.after)
    }
}

/// One class of `storage_volumes` in `plan.summary.json`: its volume and storage cost before
/// and after the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassVolume {
    /// Storage class.
    pub class: StorageClass,
    /// Stored GB before the plan.
    pub gb_now: f64,
    /// Stored GB after the plan.
    pub gb_after: f64,
    /// The marginal rate every blob in the class was priced at (USD per GB-month).
    pub marginal_rate: f64,
    /// Tiered storage of `gb_now` (USD/month).
    pub storage_now: f64,
    /// Tiered storage of `gb_after` (USD/month).
    pub storage_after: f64,
    /// `storage_now − gb_now × marginal_rate`: what the blobs' prices, summed, miss of the
    /// tiered total before the plan (USD/month; the report adds it to the class's total).
    pub tier_adjustment_now: f64,
    /// `storage_after − gb_after × marginal_rate`, likewise after the plan.
    pub tier_adjustment_after: f64,
}

/// `storage_volumes`: the classes whose volume reaches past their first tier, before or after
/// the plan (empty for a bucket below 50 TB per class, whose figures need no adjustment).
/// INTELLIGENT_TIERING is left out: its blobs are priced across its access tiers, and only
/// Frequent Access has volume tiers (its marginal rate is taken at the class's whole volume).
pub fn summarize(prices: &Prices, before: &ClassVolumes, after: &ClassVolumes) -> Vec<ClassVolume> {
    let mut out = Vec::new();
    for (class, gb_now) in before.iter() {
        if class == StorageClass::IntelligentTiering {
            continue;
        }
        let gb_after = after.get(&class);
        let (Ok(c), Ok(rate)) = (prices.class(&class), prices.storage_rate(&class)) else {
            continue;
        };
        let first_bound = c
            .storage_tiers
            .first()
            .and_then(|t| t.up_to_gb)
            .unwrap_or(f64::INFINITY);
        if gb_now < first_bound && gb_after < first_bound {
            continue;
        }
        let tiered = |gb: f64| prices.tiered_storage(&class, gb).unwrap_or(0.0);
        let (storage_now, storage_after) = (tiered(gb_now), tiered(gb_after));
        out.push(ClassVolume {
            class,
            gb_now,
            gb_after,
            marginal_rate: rate,
            storage_now,
            storage_after,
            tier_adjustment_now: storage_now - gb_now * rate,
            tier_adjustment_after: storage_after - gb_after * rate,
        });
    }
    out
}

/// `storage_volumes` read back from a `plan.summary.json` (empty when absent: plans below the
/// first tiers, and plans made before volume tiers). Entries that do not parse are skipped.
pub fn read_summary(plan_summary: &serde_json::Value) -> Vec<ClassVolume> {
    let Some(list) = plan_summary["storage_volumes"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|c| {
            let f = |k: &str| c[k].as_f64();
            Some(ClassVolume {
                class: StorageClass::from(c["class"].as_str()?),
                gb_now: f("gb_now")?,
                gb_after: f("gb_after")?,
                marginal_rate: f("marginal_rate")?,
                storage_now: f("storage_now")?,
                storage_after: f("storage_after")?,
                tier_adjustment_now: f("tier_adjustment_now")?,
                tier_adjustment_after: f("tier_adjustment_after")?,
            })
        })
        .collect()
}

/// The volumes before the plan that `storage_volumes` recorded (classes not listed are below
/// their first tier, where the rate does not depend on the volume).
pub fn volumes_now(volumes: &[ClassVolume]) -> ClassVolumes {
    let mut v = ClassVolumes::default();
    for c in volumes {
        v.set(&c.class, c.gb_now);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use StorageClass::*;

    const TIB: i64 = 1 << 40;

    fn stats(rows: &[(&str, i64, bool)]) -> LazyFrame {
        df!(
            "storage_class" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "size" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "in_inventory" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )
        .unwrap()
        .lazy()
    }

    #[test]
    fn volumes_before_are_the_inventory_totals_per_class() {
        let v = before(stats(&[
            ("STANDARD", 40 * TIB, true),
            ("standard", 20 * TIB, true),
            ("GLACIER_IR", 1 << 30, true),
            // Not in the inventory (a digest only the logs know): not stored.
            ("STANDARD", 900 * TIB, false),
        ]))
        .unwrap();
        assert_eq!(v.get(&Standard), 60.0 * 1024.0);
        assert_eq!(v.get(&GlacierIr), 1.0);
        assert_eq!(v.get(&DeepArchive), 0.0);
    }

    /// STANDARD at 61,450 GB before and 61,440 GB after (10 GB moved to GLACIER_IR); figures
    /// by hand from pricing/us-east-1.toml (0.023 up to 51,200 GB, then 0.022). See: issue 15.
    #[test]
    fn summary_gives_the_tiered_totals_and_the_adjustments() {
        let mut now = ClassVolumes::default();
        now.set(&Standard, 61_450.0);
        now.set(&GlacierIr, 5.0);
        let mut after = now;
        after.add(&Standard, -10.0);
        after.add(&GlacierIr, 10.0);
        let prices = Prices::builtin().at_volumes(now);
        let s = summarize(&prices, &now, &after);
        // GLACIER_IR has one tier: never listed.
        assert_eq!(s.len(), 1);
        let c = &s[0];
        assert_eq!(c.class, Standard);
        assert_eq!(c.marginal_rate, 0.022);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} != {b}");
        close(c.storage_now, 51_200.0 * 0.023 + 10_250.0 * 0.022);
        close(c.storage_after, 51_200.0 * 0.023 + 10_240.0 * 0.022);
        // 51,200 GB are billed 0.001 above the marginal rate.
        close(c.tier_adjustment_now, 51.2);
        close(c.tier_adjustment_after, 51.2);
        let json = serde_json::json!({ "storage_volumes": s });
        assert_eq!(read_summary(&json), s);
        assert_eq!(volumes_now(&s).get(&Standard), 61_450.0);
        assert!(read_summary(&serde_json::json!({})).is_empty());
        // Below 50 TB nothing is listed.
        let mut small = ClassVolumes::default();
        small.set(&Standard, 50_000.0);
        assert!(summarize(&Prices::builtin(), &small, &small).is_empty());
    }
}
