//! The closed loop's own bill model: what S3 would charge for the bucket's daily states and for
//! the requests that were made. Independent of blobtier's cost code (`src/cost/`): the prices
//! are written out here by hand from `pricing/us-east-1.toml` (us-east-1, AWS price feed of
//! 2026-08-18), and nothing here calls into the crate.
//!
//! Units: USD; GB = 2^30 bytes; a month is 30 days (storage is billed per day as monthly / 30);
//! request prices are per 1,000 requests.
//!
//! Scale: every object of the test bucket stands for a blob [`SCALE`] times its size. All
//! per-byte quantities (storage, retrieval, restore per GB, the 128 KiB minimum billable size
//! and the 40 KiB archive overhead, the lifecycle 128 KiB floor) are taken on the scaled size;
//! per-request prices are not scaled. blobtier is given the same economics through a price
//! table with the per-GB prices multiplied and the byte thresholds divided by [`SCALE`]
//! ([`scaled_price_table`]), which is the same arithmetic.
//!
//! What it bills:
//! - storage of each object per day in its class (128 KiB minimum for IA / GLACIER_IR; 32 KiB
//!   at the class rate + 8 KiB at the STANDARD rate per GLACIER / DEEP_ARCHIVE object), and a
//!   restored copy of an archived object at the STANDARD rate on each day it is readable;
//! - every GET of a client at its class's GET price (a 403 on an archived object too), plus the
//!   retrieval fee per GB sent for STANDARD_IA / ONEZONE_IA / GLACIER_IR (reads of a restored
//!   copy pay no retrieval: the restore did);
//! - every request blobtier sent (recorded by the proxy): HEAD / GET-type requests at the
//!   object's class's GET price, CopyObject at the target class's PUT price plus the source's
//!   retrieval fee, PutObjectTagging at the object's class's PUT price, RestoreObject at its
//!   tier's per-request and per-GB price, bucket-level requests at STANDARD prices; 5xx answers
//!   are free;
//! - every lifecycle transition at the target class's transition price;
//! - early deletion: an object that leaves a class (copy or transition) before the class's
//!   minimum duration pays the remaining days' storage.
//!
//! Not billed, on both sides of every comparison: S3 Inventory, the access logs' own storage,
//! data transfer out (the same for every class).

use std::collections::BTreeMap;

/// Every object stands for one this many times its size.
pub const SCALE: u64 = 256;
/// Bytes per billing GB.
pub const GB: f64 = 1_073_741_824.0;
/// Days per month for proration.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// Prices of one storage class (us-east-1, `pricing/us-east-1.toml`).
#[derive(Debug)]
pub struct ClassPrice {
    /// USD per GB-month.
    pub storage: f64,
    /// Minimum storage duration in days.
    pub min_days: i64,
    /// Minimum billable size in bytes.
    pub min_billable: u64,
    /// Per-object overhead billed at this class's rate.
    pub overhead_class: u64,
    /// Per-object overhead billed at the STANDARD rate.
    pub overhead_standard: u64,
    /// Retrieval USD per GB read.
    pub retrieval_gb: f64,
    /// PUT / COPY / POST / LIST per 1,000.
    pub put_1000: f64,
    /// GET / HEAD and other requests per 1,000.
    pub get_1000: f64,
    /// Lifecycle transition into this class per 1,000.
    pub transition_1000: f64,
    /// Restore tiers: (tier, USD per GB, USD per 1,000 requests).
    pub restore: &'static [(&'static str, f64, f64)],
}

const STANDARD: ClassPrice = ClassPrice {
    storage: 0.023,
    min_days: 0,
    min_billable: 0,
    overhead_class: 0,
    overhead_standard: 0,
    retrieval_gb: 0.0,
    put_1000: 0.005,
    get_1000: 0.0004,
    transition_1000: f64::NAN,
    restore: &[],
};
const STANDARD_IA: ClassPrice = ClassPrice {
    storage: 0.0125,
    min_days: 30,
    min_billable: 131_072,
    overhead_class: 0,
    overhead_standard: 0,
    retrieval_gb: 0.01,
    put_1000: 0.01,
    get_1000: 0.001,
    transition_1000: 0.01,
    restore: &[],
};
const ONEZONE_IA: ClassPrice = ClassPrice {
    storage: 0.01,
    ..STANDARD_IA
};
const GLACIER_IR: ClassPrice = ClassPrice {
    storage: 0.004,
    min_days: 90,
    min_billable: 131_072,
    overhead_class: 0,
    overhead_standard: 0,
    retrieval_gb: 0.03,
    put_1000: 0.02,
    get_1000: 0.01,
    transition_1000: 0.02,
    restore: &[],
};
const GLACIER: ClassPrice = ClassPrice {
    storage: 0.0036,
    min_days: 90,
    min_billable: 0,
    overhead_class: 32_768,
    overhead_standard: 8_192,
    retrieval_gb: 0.0,
    put_1000: 0.03,
    get_1000: 0.0004,
    transition_1000: 0.03,
    restore: &[
        ("Expedited", 0.03, 10.0),
        ("Standard", 0.01, 0.05),
        ("Bulk", 0.0, 0.0),
    ],
};
const DEEP_ARCHIVE: ClassPrice = ClassPrice {
    storage: 0.00099,
    min_days: 180,
    min_billable: 0,
    overhead_class: 32_768,
    overhead_standard: 8_192,
    retrieval_gb: 0.0,
    put_1000: 0.05,
    get_1000: 0.0004,
    transition_1000: 0.05,
    restore: &[("Standard", 0.02, 0.10), ("Bulk", 0.0025, 0.025)],
};

/// The prices of `class` (an S3 API name). Panics on a class the loop never uses.
pub fn price(class: &str) -> &'static ClassPrice {
    match class {
        "STANDARD" => &STANDARD,
        "STANDARD_IA" => &STANDARD_IA,
        "ONEZONE_IA" => &ONEZONE_IA,
        "GLACIER_IR" => &GLACIER_IR,
        "GLACIER" => &GLACIER,
        "DEEP_ARCHIVE" => &DEEP_ARCHIVE,
        other => panic!("the bill model has no prices for class `{other}`"),
    }
}

/// Whether objects of `class` must be restored before they can be read.
pub fn is_archive(class: &str) -> bool {
    matches!(class, "GLACIER" | "DEEP_ARCHIVE")
}

fn scaled(bytes: u64) -> f64 {
    (bytes * SCALE) as f64
}

/// Storage of one object of `size` real bytes for a month in `class`.
pub fn storage_month(class: &str, size: u64) -> f64 {
    let p = price(class);
    let billable = scaled(size).max(p.min_billable as f64);
    (billable + p.overhead_class as f64) * p.storage / GB
        + p.overhead_standard as f64 * STANDARD.storage / GB
}

/// The restored (temporary) copy of an archived object, per day.
pub fn restored_copy_day(size: u64) -> f64 {
    scaled(size) * STANDARD.storage / GB / DAYS_PER_MONTH
}

/// One GET-type request (GET, HEAD, GetObjectAcl, GetObjectTagging) on an object of `class`.
pub fn get(class: &str) -> f64 {
    price(class).get_1000 / 1000.0
}

/// One PUT-type request (PUT, COPY, POST, LIST) at `class`'s price.
pub fn put(class: &str) -> f64 {
    price(class).put_1000 / 1000.0
}

/// Retrieval fee for reading `bytes` real bytes of an object in `class`.
pub fn retrieval(class: &str, bytes: u64) -> f64 {
    price(class).retrieval_gb * scaled(bytes) / GB
}

/// One lifecycle transition into `class`.
pub fn transition(class: &str) -> f64 {
    let t = price(class).transition_1000;
    assert!(t.is_finite(), "lifecycle cannot transition into `{class}`");
    t / 1000.0
}

/// One restore of `size` real bytes from `class` at `tier` (S3's default tier is Standard).
pub fn restore(class: &str, tier: Option<&str>, size: u64) -> f64 {
    let tier = tier.unwrap_or("Standard");
    let (_, per_gb, per_1000) = price(class)
        .restore
        .iter()
        .find(|(t, _, _)| t.eq_ignore_ascii_case(tier))
        .unwrap_or_else(|| panic!("`{class}` has no `{tier}` restore"));
    per_gb * scaled(size) / GB + per_1000 / 1000.0
}

/// Early-deletion charge for leaving `class` after `days_in_class` days.
pub fn early_delete(class: &str, size: u64, days_in_class: i64) -> f64 {
    let left = (price(class).min_days - days_in_class).max(0);
    left as f64 * storage_month(class, size) / DAYS_PER_MONTH
}

/// Whether moving from `from` to `to` is a move to a cheaper class (by storage price).
pub fn is_down(from: &str, to: &str) -> bool {
    price(to).storage < price(from).storage
}

/// Whether the real lifecycle would transition an object of `size` real bytes at all (the
/// default `all_storage_classes_128K` floor, on the scaled size).
pub fn lifecycle_size_ok(size: u64) -> bool {
    scaled(size) >= 131_072.0
}

/// A bill: USD by part.
#[derive(Debug, Default, Clone)]
pub struct Bill {
    pub parts: BTreeMap<String, f64>,
}

impl Bill {
    pub fn add(&mut self, part: &str, usd: f64) {
        assert!(usd.is_finite() && usd >= 0.0, "{part}: {usd}");
        *self.parts.entry(part.to_owned()).or_default() += usd;
    }

    pub fn total(&self) -> f64 {
        self.parts.values().sum()
    }

    /// One line per part, for the test's report.
    pub fn show(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.parts {
            s.push_str(&format!("    {k:<32} ${v:.6}\n"));
        }
        s.push_str(&format!("    {:<32} ${:.6}\n", "total", self.total()));
        s
    }
}

/// `pricing/us-east-1.toml` with every per-GB price multiplied and every byte threshold divided
/// by [`SCALE`]: blobtier then prices each object as the blob it stands for.
pub fn scaled_price_table() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/pricing/us-east-1.toml");
    let text = std::fs::read_to_string(path).expect("read the price table");
    let mut v: toml::Value = toml::from_str(&text).expect("parse the price table");
    let k = SCALE as f64;
    let times = |t: &mut toml::Table, key: &str| {
        if let Some(x) = t.get(key).and_then(toml::Value::as_float) {
            t.insert(key.into(), toml::Value::Float(x * k));
        }
    };
    let divided = |t: &mut toml::Table, key: &str| {
        if let Some(x) = t.get(key).and_then(toml::Value::as_integer) {
            assert_eq!(
                x % SCALE as i64,
                0,
                "{key} = {x} is not a multiple of {SCALE}"
            );
            t.insert(key.into(), toml::Value::Integer(x / SCALE as i64));
        }
    };
    let root = v.as_table_mut().expect("a table");
    let it = root
        .get_mut("intelligent_tiering")
        .and_then(toml::Value::as_table_mut)
        .expect("[intelligent_tiering]");
    for key in [
        "frequent_gb_month",
        "infrequent_gb_month",
        "archive_instant_gb_month",
        "archive_access_gb_month",
        "deep_archive_access_gb_month",
    ] {
        times(it, key);
    }
    divided(it, "monitoring_min_object_bytes");
    let classes = root
        .get_mut("classes")
        .and_then(toml::Value::as_table_mut)
        .expect("[classes]");
    for (_, class) in classes.iter_mut() {
        let c = class.as_table_mut().expect("a class table");
        times(c, "storage_gb_month");
        times(c, "retrieval_gb");
        // Volume tiers: the rates like every per-GB price, the bounds (GB of the class's
        // total) like every byte threshold.
        if let Some(tiers) = c
            .get_mut("storage_tiers")
            .and_then(toml::Value::as_array_mut)
        {
            for t in tiers.iter_mut().filter_map(toml::Value::as_table_mut) {
                times(t, "usd");
                if let Some(up) = t.get("up_to_gb").and_then(toml::Value::as_integer) {
                    t.insert("up_to_gb".into(), toml::Value::Float(up as f64 / k));
                }
            }
        }
        for key in [
            "min_billable_bytes",
            "overhead_class_bytes",
            "overhead_standard_bytes",
        ] {
            divided(c, key);
        }
        if let Some(r) = c.get_mut("restore").and_then(toml::Value::as_table_mut) {
            for (_, tier) in r.iter_mut() {
                times(tier.as_table_mut().expect("a tier table"), "per_gb");
            }
        }
    }
    toml::to_string(&v).expect("serialise the price table")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// blobtier accepts the scaled table (it validates the tiers against the first rate).
    #[test]
    fn the_scaled_price_table_is_valid() {
        let p = blobtier::cost::Prices::from_toml(&scaled_price_table()).unwrap();
        let standard = p.standard();
        assert_eq!(standard.storage_tiers[0].usd, 0.023 * SCALE as f64);
        assert_eq!(
            standard.storage_tiers[0].up_to_gb,
            Some(51_200.0 / SCALE as f64)
        );
    }

    #[test]
    fn bill_model_prices_by_hand() {
        // 512 KiB real = 128 MiB scaled = 0.125 GB.
        let s = 512 * 1024;
        assert!((storage_month("STANDARD", s) - 0.125 * 0.023).abs() < 1e-12);
        assert!((storage_month("GLACIER_IR", s) - 0.125 * 0.004).abs() < 1e-12);
        // 40 KiB overhead: 32 KiB at the GLACIER rate, 8 KiB at the STANDARD rate.
        let over = 32_768.0 * 0.0036 / GB + 8_192.0 * 0.023 / GB;
        assert!((storage_month("GLACIER", s) - (0.125 * 0.0036 + over)).abs() < 1e-12);
        // 256 bytes real = 64 KiB scaled: billed as 128 KiB in STANDARD_IA.
        assert!((storage_month("STANDARD_IA", 256) - 131_072.0 * 0.0125 / GB).abs() < 1e-15);
        // Ten days in GLACIER_IR leave 80 days to pay.
        assert!((early_delete("GLACIER_IR", s, 10) - 80.0 * 0.125 * 0.004 / 30.0).abs() < 1e-12);
        assert_eq!(early_delete("STANDARD", s, 0), 0.0);
        assert!(
            (restore("DEEP_ARCHIVE", Some("Bulk"), s) - (0.125 * 0.0025 + 0.000025)).abs() < 1e-12
        );
        assert!((restore("GLACIER", None, s) - (0.125 * 0.01 + 0.00005)).abs() < 1e-12);
        assert!(is_down("STANDARD", "GLACIER_IR") && !is_down("GLACIER_IR", "STANDARD"));
    }
}
