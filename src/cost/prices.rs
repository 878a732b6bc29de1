//! The price table: per-class storage, request, retrieval, transition and restore prices,
//! the storage volume tiers, the Intelligent-Tiering tier rates and the tag-storage price, for
//! one AWS region.
//!
//! The format is ours (see `pricing/us-east-1.toml`, which documents every key and unit), read
//! with serde and `deny_unknown_fields`, then validated: every price must be finite and ≥ 0,
//! every class of `StorageClass::MANAGED` must be present (and no other), every class but STANDARD must have a lifecycle
//! transition price, GLACIER and DEEP_ARCHIVE must offer a `standard` restore, a class's
//! `storage_tiers` must start at its `storage_gb_month`, rise in `up_to_gb` and end with one
//! open tier, and `unverified` may only name price keys. Errors name the dotted key. Parsing
//! takes a string; reading the file is the caller's job.
//!
//! # Regions
//! One table per region of [`REGIONS`] is compiled in (`pricing/<region>.toml`, each dated and
//! naming its sources); [`Prices::for_region`] picks one.
//!
//! # Volume tiers
//! AWS prices a class's storage by the account's monthly total in the region (STANDARD and
//! Intelligent-Tiering Frequent Access: first 50 TB, next 450 TB, over 500 TB). A table read
//! from TOML prices every class at its first tier (volume 0). [`Prices::at_volumes`] sets the
//! volume of each class (the plan passes the bucket's total per class); from then on
//! [`Prices::storage_rate`] is the *marginal* rate at that volume, the rate one more (or one
//! fewer) GB costs, which is what the cost model charges a blob that enters or leaves the class.
//! [`Prices::tiered_storage`] is the tiered formula for a class total. Below the first tier's
//! bound (50 TB) both are the first tier's rate, bit for bit.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{CostError, Result};
use crate::model::{RestoreTier, StorageClass};

/// The built-in us-east-1 table, compiled in so the binary works without any price file.
pub const BUILTIN_TOML: &str = include_str!("../../pricing/us-east-1.toml");

/// The regions with a compiled-in table, the default (us-east-1) first.
pub const REGIONS: [&str; 5] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
];

/// The compiled-in tables, in the order of [`REGIONS`].
const REGION_TOMLS: [&str; 5] = [
    BUILTIN_TOML,
    include_str!("../../pricing/us-west-2.toml"),
    include_str!("../../pricing/eu-west-1.toml"),
    include_str!("../../pricing/eu-central-1.toml"),
    include_str!("../../pricing/ap-northeast-1.toml"),
];

/// The price keys of a class a table may list in its `unverified`.
const CLASS_PRICE_KEYS: [&str; 6] = [
    "storage_gb_month",
    "storage_tiers",
    "retrieval_gb",
    "put_per_1000",
    "get_per_1000",
    "transition_per_1000",
];

/// The only `format_version` this code reads.
const FORMAT_VERSION: u32 = 1;

/// A validated price table for one region. Read-only: the only way to get one is
/// [`Prices::from_toml`] (or [`Prices::builtin`]), so every value has passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    region: String,
    as_of: NaiveDate,
    tag_storage_per_10000_month: f64,
    intelligent_tiering: IntelligentTieringPrices,
    classes: ClassTable,
    /// GB per class (index = `StorageClass::managed_rank`) the marginal rates are taken at.
    volumes: ClassVolumes,
}

/// Monthly storage volume per managed class, in GB (2^30 bytes): what a class's storage tier
/// is chosen by. All zero by default (every class at its first tier).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClassVolumes {
    gb: [f64; StorageClass::MANAGED.len()],
}

impl ClassVolumes {
    /// Sets the volume of `class` (ignored for a class outside `StorageClass::MANAGED`;
    /// negative and NaN count as 0).
    pub fn set(&mut self, class: &StorageClass, gb: f64) {
        if let Some(i) = class.managed_rank() {
            self.gb[i] = if gb > 0.0 { gb } else { 0.0 };
        }
    }

    /// Adds `gb` to the volume of `class` (see [`ClassVolumes::set`]).
    pub fn add(&mut self, class: &StorageClass, gb: f64) {
        let now = self.get(class);
        self.set(class, now + gb);
    }

    /// The volume of `class` (0 for a class outside `StorageClass::MANAGED`).
    pub fn get(&self, class: &StorageClass) -> f64 {
        class.managed_rank().map_or(0.0, |i| self.gb[i])
    }

    /// `(class, GB)` for every managed class, most expensive first.
    pub fn iter(&self) -> impl Iterator<Item = (StorageClass, f64)> + '_ {
        StorageClass::MANAGED.into_iter().zip(self.gb)
    }
}

/// One volume tier of a class's storage price.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageTier {
    /// Upper bound of the tier: the class's monthly total in GB (2^30 bytes) up to which
    /// `usd` applies; absent for the last, open tier.
    #[serde(default)]
    pub up_to_gb: Option<f64>,
    /// USD per GB-month within the tier.
    pub usd: f64,
}

/// Prices and rules of one storage class. Units: USD per GB-month (GB = 2^30 bytes), USD per
/// 1,000 requests, bytes, days.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassPrices {
    /// Storage, USD per GB-month, first volume tier. The rate the model charges is
    /// [`Prices::storage_rate`] (the marginal rate at the class's volume).
    pub storage_gb_month: f64,
    /// Every volume tier, the first at `storage_gb_month`; absent in the TOML = one tier at
    /// `storage_gb_month`.
    #[serde(default)]
    pub storage_tiers: Vec<StorageTier>,
    /// Minimum storage duration in days; leaving earlier bills the remaining days.
    pub min_days: u32,
    /// Objects smaller than this are billed as this many bytes.
    pub min_billable_bytes: u64,
    /// Extra bytes per object billed at this class's storage rate (32 KiB for archives).
    pub overhead_class_bytes: u64,
    /// Extra bytes per object billed at the STANDARD storage rate (8 KiB for archives).
    pub overhead_standard_bytes: u64,
    /// Retrieval, USD per GB read (0 for classes that are read through a restore).
    pub retrieval_gb: f64,
    /// PUT, COPY, POST, LIST, USD per 1,000 requests.
    pub put_per_1000: f64,
    /// GET, HEAD and other requests, USD per 1,000 requests.
    pub get_per_1000: f64,
    /// Lifecycle transition into this class, USD per 1,000; `None` = not a lifecycle target.
    #[serde(default)]
    pub transition_per_1000: Option<f64>,
    /// Restore prices per tier (empty for classes that need no restore).
    #[serde(default)]
    pub restore: RestorePrices,
    /// Keys of this class whose value no source confirms for this region (an assumption the
    /// table's comments name). Empty when every value is sourced.
    #[serde(default)]
    pub unverified: Vec<String>,
}

impl ClassPrices {
    /// The restore price of `tier`, if the class offers it.
    pub fn restore_price(&self, tier: RestoreTier) -> Option<RestorePrice> {
        match tier {
            RestoreTier::Expedited => self.restore.expedited,
            RestoreTier::Standard => self.restore.standard,
            RestoreTier::Bulk => self.restore.bulk,
        }
    }
}

/// Restore prices per tier; `None` = the tier is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestorePrices {
    /// `Expedited` tier.
    #[serde(default)]
    pub expedited: Option<RestorePrice>,
    /// `Standard` tier.
    #[serde(default)]
    pub standard: Option<RestorePrice>,
    /// `Bulk` tier.
    #[serde(default)]
    pub bulk: Option<RestorePrice>,
}

/// Price of one restore tier.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestorePrice {
    /// USD per GB restored.
    pub per_gb: f64,
    /// USD per 1,000 restore requests.
    pub per_1000: f64,
}

/// Intelligent-Tiering: monitoring fee and the rates of its access tiers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelligentTieringPrices {
    /// Monitoring and automation, USD per 1,000 objects per month (monitored objects only).
    pub monitoring_per_1000_objects_month: f64,
    /// Objects smaller than this are not monitored: no fee, always Frequent Access.
    pub monitoring_min_object_bytes: u64,
    /// Frequent Access, USD per GB-month (equals the class's `storage_gb_month`).
    pub frequent_gb_month: f64,
    /// Infrequent Access, USD per GB-month.
    pub infrequent_gb_month: f64,
    /// Archive Instant Access, USD per GB-month.
    pub archive_instant_gb_month: f64,
    /// Opt-in Archive Access, USD per GB-month (not used by the model).
    pub archive_access_gb_month: f64,
    /// Opt-in Deep Archive Access, USD per GB-month (not used by the model).
    pub deep_archive_access_gb_month: f64,
    /// Days without access before an object moves to Infrequent Access.
    pub infrequent_after_days: u32,
    /// Days without access before an object moves to Archive Instant Access.
    pub archive_instant_after_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrices {
    format_version: u32,
    region: String,
    currency: String,
    as_of: String,
    tags: RawTags,
    intelligent_tiering: IntelligentTieringPrices,
    classes: ClassTable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTags {
    storage_per_10000_month: f64,
}

/// `[classes.*]`: one table per class of `StorageClass::MANAGED`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassTable {
    #[serde(rename = "STANDARD")]
    standard: ClassPrices,
    #[serde(rename = "INTELLIGENT_TIERING")]
    intelligent_tiering: ClassPrices,
    #[serde(rename = "STANDARD_IA")]
    standard_ia: ClassPrices,
    #[serde(rename = "ONEZONE_IA")]
    onezone_ia: ClassPrices,
    #[serde(rename = "GLACIER_IR")]
    glacier_ir: ClassPrices,
    #[serde(rename = "GLACIER")]
    glacier: ClassPrices,
    #[serde(rename = "DEEP_ARCHIVE")]
    deep_archive: ClassPrices,
}

impl Prices {
    /// The built-in us-east-1 table (`pricing/us-east-1.toml`, compiled in).
    pub fn builtin() -> Prices {
        Prices::from_toml(BUILTIN_TOML)
            .expect("the built-in price table is valid (checked by `builtin_table_parses`)")
    }

    /// The compiled-in table of `region` (one of [`REGIONS`]); `None` for any other name.
    pub fn for_region(region: &str) -> Option<Prices> {
        let i = REGIONS.iter().position(|r| *r == region)?;
        Some(
            Prices::from_toml(REGION_TOMLS[i]).expect(
                "the built-in price tables are valid (checked by `every_region_table_loads`)",
            ),
        )
    }

    /// Parses and validates a price table in our TOML format.
    pub fn from_toml(text: &str) -> Result<Prices> {
        let raw: RawPrices = toml::from_str(text).map_err(|e| CostError::MalformedPricing {
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or_default(),
            message: e.message().trim_end().to_owned(),
        })?;
        raw.validate()
    }

    /// AWS region, e.g. `us-east-1`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The date AWS published these prices.
    pub fn as_of(&self) -> NaiveDate {
        self.as_of
    }

    /// Object-tag storage, USD per 10,000 tags per month.
    pub fn tag_storage_per_10000_month(&self) -> f64 {
        self.tag_storage_per_10000_month
    }

    /// Intelligent-Tiering tier rates and monitoring fee.
    pub fn intelligent_tiering(&self) -> &IntelligentTieringPrices {
        &self.intelligent_tiering
    }

    /// Prices of `class`; [`CostError::Unpriced`] for a class outside
    /// `StorageClass::MANAGED` (the table has no others).
    pub fn class(&self, class: &StorageClass) -> Result<&ClassPrices> {
        self.classes.get(class).ok_or_else(|| CostError::Unpriced {
            class: class.clone(),
        })
    }

    /// Prices of STANDARD (always in the table).
    pub fn standard(&self) -> &ClassPrices {
        &self.classes.standard
    }

    /// This table with the volume of each class set to `volumes`: [`Prices::storage_rate`]
    /// becomes the marginal rate at that volume.
    pub fn at_volumes(mut self, volumes: ClassVolumes) -> Prices {
        self.volumes = volumes;
        self
    }

    /// The volumes set by [`Prices::at_volumes`] (all 0 for a table as read).
    pub fn volumes(&self) -> &ClassVolumes {
        &self.volumes
    }

    /// The storage rate the cost model charges for `class`, USD per GB-month: the marginal
    /// rate of the class's volume tiers at its volume ([`Prices::at_volumes`]), i.e. the rate
    /// of the tier the next GB falls in. For INTELLIGENT_TIERING this is the Frequent Access
    /// rate. [`CostError::Unpriced`] for a class outside `StorageClass::MANAGED`.
    pub fn storage_rate(&self, class: &StorageClass) -> Result<f64> {
        let c = self.class(class)?;
        Ok(marginal_rate(c, self.volumes.get(class)))
    }

    /// [`Prices::storage_rate`] of STANDARD (archive metadata and restored copies are billed
    /// at it).
    pub fn standard_storage_rate(&self) -> f64 {
        marginal_rate(
            &self.classes.standard,
            self.volumes.get(&StorageClass::Standard),
        )
    }

    /// The Intelligent-Tiering Frequent Access rate at the INTELLIGENT_TIERING volume (its
    /// tiers are the class's `storage_tiers`).
    pub fn it_frequent_rate(&self) -> f64 {
        marginal_rate(
            &self.classes.intelligent_tiering,
            self.volumes.get(&StorageClass::IntelligentTiering),
        )
    }

    /// Monthly storage of `gb` GB in `class` with the tiered formula: each tier's rate on the
    /// part of `gb` inside the tier (`Σ rate_i × (min(gb, up_to_i) − up_to_{i−1})`). Negative
    /// and NaN count as 0. [`CostError::Unpriced`] for a class outside `StorageClass::MANAGED`.
    pub fn tiered_storage(&self, class: &StorageClass, gb: f64) -> Result<f64> {
        let c = self.class(class)?;
        let gb = if gb > 0.0 { gb } else { 0.0 };
        let mut cost = 0.0;
        let mut from = 0.0;
        for t in &c.storage_tiers {
            let to = t.up_to_gb.map_or(gb, |u| u.min(gb));
            if to > from {
                cost += (to - from) * t.usd;
            }
            match t.up_to_gb {
                Some(u) if u < gb => from = u,
                _ => break,
            }
        }
        Ok(cost)
    }

    /// The dotted keys (`classes.<CLASS>.<key>`) the table marks unverified, in class order.
    pub fn unverified(&self) -> Vec<String> {
        StorageClass::MANAGED
            .iter()
            .filter_map(|c| Some((c, self.classes.get(c)?)))
            .flat_map(|(c, p)| p.unverified.iter().map(move |k| format!("classes.{c}.{k}")))
            .collect()
    }

    /// Prices of the INTELLIGENT_TIERING class (always in the table); its access tiers are
    /// [`Prices::intelligent_tiering`].
    pub fn intelligent_tiering_class(&self) -> &ClassPrices {
        &self.classes.intelligent_tiering
    }
}

/// The rate of the tier the next GB above `gb` falls in (the first tier at 0).
fn marginal_rate(c: &ClassPrices, gb: f64) -> f64 {
    c.storage_tiers
        .iter()
        .find(|t| t.up_to_gb.is_none_or(|u| gb < u))
        .map_or(c.storage_gb_month, |t| t.usd)
}

impl ClassTable {
    fn get_mut(&mut self, class: &StorageClass) -> Option<&mut ClassPrices> {
        use StorageClass::*;
        Some(match class {
            Standard => &mut self.standard,
            IntelligentTiering => &mut self.intelligent_tiering,
            StandardIa => &mut self.standard_ia,
            OnezoneIa => &mut self.onezone_ia,
            GlacierIr => &mut self.glacier_ir,
            Glacier => &mut self.glacier,
            DeepArchive => &mut self.deep_archive,
            _ => return None,
        })
    }

    fn get(&self, class: &StorageClass) -> Option<&ClassPrices> {
        use StorageClass::*;
        Some(match class {
            Standard => &self.standard,
            IntelligentTiering => &self.intelligent_tiering,
            StandardIa => &self.standard_ia,
            OnezoneIa => &self.onezone_ia,
            GlacierIr => &self.glacier_ir,
            Glacier => &self.glacier,
            DeepArchive => &self.deep_archive,
            _ => return None,
        })
    }
}

/// 1-based line number of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> CostError {
    CostError::InvalidPrice {
        key: key.into(),
        reason: reason.into(),
    }
}

/// A price must be a finite, non-negative number.
fn check_price(key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(key, format!("expected a price >= 0, got `{v}`")))
    }
}

impl RawPrices {
    fn validate(self) -> Result<Prices> {
        if self.format_version != FORMAT_VERSION {
            return Err(invalid(
                "format_version",
                format!("expected `{FORMAT_VERSION}`, got `{}`", self.format_version),
            ));
        }
        if self.region.trim().is_empty() {
            return Err(invalid(
                "region",
                "expected a region name, got an empty string",
            ));
        }
        if self.currency != "USD" {
            return Err(invalid(
                "currency",
                format!("expected `USD`, got `{}`", self.currency),
            ));
        }
        let as_of = NaiveDate::parse_from_str(&self.as_of, "%Y-%m-%d").map_err(|_| {
            invalid(
                "as_of",
                format!("expected a date `YYYY-MM-DD`, got `{}`", self.as_of),
            )
        })?;
        check_price(
            "tags.storage_per_10000_month",
            self.tags.storage_per_10000_month,
        )?;

        let mut classes = self.classes;
        for class in StorageClass::MANAGED {
            let prices = classes
                .get_mut(&class)
                .expect("the table has every managed class");
            validate_class(&class, prices)?;
            if prices.storage_tiers.is_empty() {
                prices.storage_tiers = vec![StorageTier {
                    up_to_gb: None,
                    usd: prices.storage_gb_month,
                }];
            }
        }

        let it = &self.intelligent_tiering;
        let k = |name: &str| format!("intelligent_tiering.{name}");
        for (name, v) in [
            (
                "monitoring_per_1000_objects_month",
                it.monitoring_per_1000_objects_month,
            ),
            ("frequent_gb_month", it.frequent_gb_month),
            ("infrequent_gb_month", it.infrequent_gb_month),
            ("archive_instant_gb_month", it.archive_instant_gb_month),
            ("archive_access_gb_month", it.archive_access_gb_month),
            (
                "deep_archive_access_gb_month",
                it.deep_archive_access_gb_month,
            ),
        ] {
            check_price(&k(name), v)?;
        }
        let it_class = &classes.intelligent_tiering;
        if it.frequent_gb_month != it_class.storage_gb_month {
            return Err(invalid(
                k("frequent_gb_month"),
                format!(
                    "expected the same value as `classes.INTELLIGENT_TIERING.storage_gb_month` \
                     (`{}`), got `{}`",
                    it_class.storage_gb_month, it.frequent_gb_month
                ),
            ));
        }
        if !(0 < it.infrequent_after_days
            && it.infrequent_after_days < it.archive_instant_after_days)
        {
            return Err(invalid(
                k("archive_instant_after_days"),
                format!(
                    "expected 0 < `infrequent_after_days` < `archive_instant_after_days`, got \
                     `{}` and `{}`",
                    it.infrequent_after_days, it.archive_instant_after_days
                ),
            ));
        }

        Ok(Prices {
            region: self.region,
            as_of,
            tag_storage_per_10000_month: self.tags.storage_per_10000_month,
            intelligent_tiering: self.intelligent_tiering,
            classes,
            volumes: ClassVolumes::default(),
        })
    }
}

fn validate_class(class: &StorageClass, p: &ClassPrices) -> Result<()> {
    let k = |name: &str| format!("classes.{class}.{name}");
    for (name, v) in [
        ("storage_gb_month", p.storage_gb_month),
        ("retrieval_gb", p.retrieval_gb),
        ("put_per_1000", p.put_per_1000),
        ("get_per_1000", p.get_per_1000),
    ] {
        check_price(&k(name), v)?;
    }
    match (class, p.transition_per_1000) {
        (StorageClass::Standard, Some(_)) => {
            return Err(invalid(
                k("transition_per_1000"),
                "expected no value: lifecycle cannot transition objects into `STANDARD`",
            ));
        }
        (StorageClass::Standard, None) => {}
        (_, Some(v)) => check_price(&k("transition_per_1000"), v)?,
        (_, None) => {
            return Err(invalid(
                k("transition_per_1000"),
                "expected the lifecycle transition price, got nothing",
            ));
        }
    }
    for tier in RestoreTier::ALL {
        if let Some(r) = p.restore_price(tier) {
            let t = tier.as_str();
            check_price(&k(&format!("restore.{t}.per_gb")), r.per_gb)?;
            check_price(&k(&format!("restore.{t}.per_1000")), r.per_1000)?;
        }
    }
    validate_tiers(&k, p)?;
    for key in &p.unverified {
        let restore_key = key
            .strip_prefix("restore.")
            .and_then(|r| r.split_once('.'))
            .is_some_and(|(tier, part)| {
                RestoreTier::ALL.iter().any(|t| t.as_str() == tier)
                    && (part == "per_gb" || part == "per_1000")
            });
        if !CLASS_PRICE_KEYS.contains(&key.as_str()) && !restore_key {
            return Err(invalid(
                k("unverified"),
                format!(
                    "expected price keys of the class (`{}`, `restore.<tier>.per_gb`, \
                     `restore.<tier>.per_1000`), got `{key}`",
                    CLASS_PRICE_KEYS.join("`, `")
                ),
            ));
        }
    }
    if class.needs_restore() && p.restore.standard.is_none() {
        return Err(invalid(
            k("restore.standard"),
            "expected the standard restore price: objects in this class must be restored to be read",
        ));
    }
    Ok(())
}

/// `storage_tiers`: starts at `storage_gb_month`, bounds positive and rising, exactly the
/// last tier open.
fn validate_tiers(k: &dyn Fn(&str) -> String, p: &ClassPrices) -> Result<()> {
    let Some(first) = p.storage_tiers.first() else {
        return Ok(());
    };
    let key = k("storage_tiers");
    if first.usd != p.storage_gb_month {
        return Err(invalid(
            key,
            format!(
                "expected the first tier at `storage_gb_month` (`{}`), got `{}`",
                p.storage_gb_month, first.usd
            ),
        ));
    }
    let last = p.storage_tiers.len() - 1;
    let mut below = 0.0;
    for (i, t) in p.storage_tiers.iter().enumerate() {
        check_price(&format!("{key}[{i}].usd"), t.usd)?;
        match (t.up_to_gb, i == last) {
            (None, true) => {}
            (None, false) => {
                return Err(invalid(
                    format!("{key}[{i}].up_to_gb"),
                    "expected a bound: only the last tier is open",
                ))
            }
            (Some(u), true) => {
                return Err(invalid(
                    format!("{key}[{i}].up_to_gb"),
                    format!("expected no bound on the last tier, got `{u}`"),
                ))
            }
            (Some(u), false) => {
                if !(u.is_finite() && u > below) {
                    return Err(invalid(
                        format!("{key}[{i}].up_to_gb"),
                        format!("expected a bound above `{below}`, got `{u}`"),
                    ));
                }
                below = u;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses() {
        // `Prices::builtin` relies on this.
        let p = Prices::from_toml(BUILTIN_TOML).unwrap();
        assert_eq!(p, Prices::builtin());
        assert_eq!(p.region(), "us-east-1");
        assert_eq!(p.as_of(), NaiveDate::from_ymd_opt(2026, 8, 18).unwrap());
        assert_eq!(p.as_of().to_string(), "2026-08-18");
    }

    #[test]
    fn builtin_spot_values_match_the_aws_price_table() {
        use StorageClass::*;
        let p = Prices::builtin();
        let class = |c: StorageClass| p.class(&c).unwrap().clone();
        assert_eq!(class(Standard).storage_gb_month, 0.023);
        assert_eq!(class(Standard).put_per_1000, 0.005);
        assert_eq!(class(Standard).get_per_1000, 0.0004);
        assert_eq!(class(Standard).transition_per_1000, None);
        assert_eq!(class(StandardIa).storage_gb_month, 0.0125);
        assert_eq!(class(StandardIa).min_billable_bytes, 128 * 1024);
        assert_eq!(class(StandardIa).retrieval_gb, 0.01);
        assert_eq!(class(OnezoneIa).storage_gb_month, 0.01);
        assert_eq!(class(GlacierIr).retrieval_gb, 0.03);
        assert_eq!(class(GlacierIr).min_days, 90);
        assert_eq!(class(Glacier).storage_gb_month, 0.0036);
        assert_eq!(class(Glacier).transition_per_1000, Some(0.03));
        assert_eq!(class(Glacier).overhead_class_bytes, 32 * 1024);
        assert_eq!(class(Glacier).overhead_standard_bytes, 8 * 1024);
        assert_eq!(class(DeepArchive).storage_gb_month, 0.00099);
        assert_eq!(class(DeepArchive).min_days, 180);
        assert_eq!(class(DeepArchive).put_per_1000, 0.05);
        // Restore prices: (class, tier, per GB, per 1000 requests); None = tier not offered.
        for (c, tier, expected) in [
            (Glacier, RestoreTier::Expedited, Some((0.03, 10.0))),
            (Glacier, RestoreTier::Bulk, Some((0.0, 0.0))),
            (DeepArchive, RestoreTier::Bulk, Some((0.0025, 0.025))),
            (DeepArchive, RestoreTier::Expedited, None),
        ] {
            let expected = expected.map(|(per_gb, per_1000)| RestorePrice { per_gb, per_1000 });
            assert_eq!(class(c).restore_price(tier), expected, "{tier}");
        }
        let it = p.intelligent_tiering();
        assert_eq!(it.monitoring_per_1000_objects_month, 0.0025);
        assert_eq!(it.monitoring_min_object_bytes, 131_072);
        assert_eq!(it.infrequent_gb_month, 0.0125);
        assert_eq!(it.archive_instant_gb_month, 0.004);
        assert_eq!(
            (it.infrequent_after_days, it.archive_instant_after_days),
            (30, 90)
        );
        assert_eq!(p.tag_storage_per_10000_month(), 0.01);
    }

    #[track_caller]
    fn close(got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1e-9),
            "got {got}, want {want}"
        );
    }

    /// Hand-computed from pricing/us-east-1.toml: STANDARD $0.023 for the first 51,200 GB,
    /// $0.022 up to 512,000 GB, $0.021 above. See: issue 15.
    #[test]
    fn above_50_tb_standard_is_priced_at_the_second_tier() {
        use StorageClass::*;
        let base = Prices::builtin();
        let at = |gb: f64| {
            let mut v = ClassVolumes::default();
            v.set(&Standard, gb);
            base.clone().at_volumes(v)
        };
        // A table as read: every class at its first tier.
        assert_eq!(base.storage_rate(&Standard).unwrap(), 0.023);
        // 100 TB: the next GB costs the second tier's rate.
        assert_eq!(at(102_400.0).storage_rate(&Standard).unwrap(), 0.022);
        assert_eq!(at(102_400.0).standard_storage_rate(), 0.022);
        // At exactly 50 TB the next GB is in the second tier; just below, in the first.
        assert_eq!(at(51_200.0).storage_rate(&Standard).unwrap(), 0.022);
        assert_eq!(at(51_199.5).storage_rate(&Standard).unwrap(), 0.023);
        assert_eq!(at(600.0 * 1024.0).storage_rate(&Standard).unwrap(), 0.021);
        // Other classes keep their one rate whatever STANDARD holds.
        assert_eq!(at(102_400.0).storage_rate(&GlacierIr).unwrap(), 0.004);
        // Tiered totals: 100 TB = 51,200 × 0.023 + 51,200 × 0.022.
        close(
            base.tiered_storage(&Standard, 102_400.0).unwrap(),
            1177.6 + 1126.4,
        );
        // 600 TB = 51,200 × 0.023 + 460,800 × 0.022 + 102,400 × 0.021.
        close(
            base.tiered_storage(&Standard, 614_400.0).unwrap(),
            1177.6 + 10_137.6 + 2150.4,
        );
        // Below 50 TB the formula is the first rate times the volume, bit for bit.
        assert_eq!(
            base.tiered_storage(&Standard, 1000.5).unwrap(),
            1000.5 * 0.023
        );
        assert_eq!(base.tiered_storage(&Standard, -3.0).unwrap(), 0.0);
        // Intelligent-Tiering Frequent Access has the same tiers, at the IT volume.
        let mut v = ClassVolumes::default();
        v.set(&IntelligentTiering, 102_400.0);
        let p = base.clone().at_volumes(v);
        assert_eq!(p.it_frequent_rate(), 0.022);
        assert_eq!(p.standard_storage_rate(), 0.023);
        close(
            base.tiered_storage(&IntelligentTiering, 102_400.0).unwrap(),
            1177.6 + 1126.4,
        );
    }

    /// Each compiled-in region loads and validates; spot values written out from the
    /// tables' sources (the 2024-09-25 AWS price-feed capture). See: issue 15.
    #[test]
    fn every_region_table_loads() {
        use StorageClass::*;
        /// (regions, as_of, STANDARD tiers, STANDARD_IA, GLACIER_IR, DEEP_ARCHIVE, unverified):
        /// the regions of one row have the same figures.
        type Row = (
            &'static [&'static str],
            &'static str,
            [f64; 3],
            f64,
            f64,
            f64,
            &'static [&'static str],
        );
        let expected: [Row; 4] = [
            (
                &["us-east-1"],
                "2026-08-18",
                [0.023, 0.022, 0.021],
                0.0125,
                0.004,
                0.00099,
                &[],
            ),
            (
                &["us-west-2", "eu-west-1"],
                "2024-09-25",
                [0.023, 0.022, 0.021],
                0.0125,
                0.004,
                0.00099,
                &["classes.DEEP_ARCHIVE.get_per_1000"],
            ),
            (
                &["eu-central-1"],
                "2024-09-25",
                [0.0245, 0.0235, 0.0225],
                0.0135,
                0.005,
                0.0018,
                &["classes.DEEP_ARCHIVE.get_per_1000"],
            ),
            (
                &["ap-northeast-1"],
                "2024-09-25",
                [0.025, 0.024, 0.023],
                0.0138,
                0.005,
                0.002,
                &[],
            ),
        ];
        let rows = expected
            .iter()
            .flat_map(|(regions, as_of, tiers, ia, ir, da, unverified)| {
                regions
                    .iter()
                    .map(move |region| (*region, *as_of, *tiers, *ia, *ir, *da, *unverified))
            });
        assert_eq!(REGIONS.len(), rows.clone().count());
        for (region, as_of, tiers, ia, ir, da, unverified) in rows {
            let p = Prices::for_region(region).unwrap_or_else(|| panic!("{region}"));
            assert_eq!(p.region(), region);
            assert_eq!(p.as_of().to_string(), as_of, "{region}");
            let std = p.standard();
            let got: Vec<(Option<f64>, f64)> = std
                .storage_tiers
                .iter()
                .map(|t| (t.up_to_gb, t.usd))
                .collect();
            assert_eq!(
                got,
                [
                    (Some(51_200.0), tiers[0]),
                    (Some(512_000.0), tiers[1]),
                    (None, tiers[2])
                ],
                "{region}"
            );
            assert_eq!(
                p.intelligent_tiering_class().storage_tiers,
                std.storage_tiers,
                "{region}"
            );
            assert_eq!(
                p.intelligent_tiering().frequent_gb_month,
                tiers[0],
                "{region}"
            );
            for (class, rate) in [(StandardIa, ia), (GlacierIr, ir), (DeepArchive, da)] {
                assert_eq!(
                    p.class(&class).unwrap().storage_gb_month,
                    rate,
                    "{region} {class}"
                );
            }
            // Classes without volume tiers get one open tier at their rate.
            assert_eq!(
                p.class(&DeepArchive).unwrap().storage_tiers,
                [StorageTier {
                    up_to_gb: None,
                    usd: da
                }],
                "{region}"
            );
            assert_eq!(p.unverified(), unverified, "{region}");
        }
        assert_eq!(Prices::for_region("us-east-1").unwrap(), Prices::builtin());
        assert_eq!(Prices::for_region("mars-1"), None);
        // A few request and retrieval prices that differ between regions.
        let eu = Prices::for_region("eu-central-1").unwrap();
        assert_eq!(eu.standard().put_per_1000, 0.0054);
        assert_eq!(eu.standard().get_per_1000, 0.00043);
        assert_eq!(eu.class(&Glacier).unwrap().put_per_1000, 0.036);
        assert_eq!(
            eu.class(&DeepArchive)
                .unwrap()
                .restore_price(RestoreTier::Bulk),
            Some(RestorePrice {
                per_gb: 0.005,
                per_1000: 0.03
            })
        );
        let tokyo = Prices::for_region("ap-northeast-1").unwrap();
        assert_eq!(tokyo.class(&Glacier).unwrap().put_per_1000, 0.03426);
        assert_eq!(tokyo.class(&DeepArchive).unwrap().get_per_1000, 0.00037);
        let dublin = Prices::for_region("eu-west-1").unwrap();
        assert_eq!(
            dublin.class(&DeepArchive).unwrap().transition_per_1000,
            Some(0.055)
        );
    }

    #[test]
    fn storage_tiers_are_validated() {
        let tiers = "storage_tiers = [\n    { up_to_gb = 51200, usd = 0.023 },\n    { up_to_gb = 512000, usd = 0.022 },\n    { usd = 0.021 },\n]";
        assert!(
            BUILTIN_TOML.contains(tiers),
            "the builtin table lists the tiers so"
        );
        // (the text in `tiers` replaced, by what, the key refused, why)
        for (from, to, key, reason) in [
            (
                "usd = 0.023",
                "usd = 0.024",
                "classes.STANDARD.storage_tiers",
                "expected the first tier at `storage_gb_month` (`0.023`), got `0.024`",
            ),
            (
                "512000",
                "40000",
                "classes.STANDARD.storage_tiers[1].up_to_gb",
                "expected a bound above `51200`, got `40000`",
            ),
            (
                "{ usd = 0.021 }",
                "{ up_to_gb = 900000, usd = 0.021 }",
                "classes.STANDARD.storage_tiers[2].up_to_gb",
                "expected no bound on the last tier, got `900000`",
            ),
            (
                "{ up_to_gb = 512000, usd = 0.022 }",
                "{ usd = 0.022 }",
                "classes.STANDARD.storage_tiers[1].up_to_gb",
                "expected a bound: only the last tier is open",
            ),
            (
                "usd = 0.021",
                "usd = -0.021",
                "classes.STANDARD.storage_tiers[2].usd",
                "expected a price >= 0, got `-0.021`",
            ),
        ] {
            assert!(tiers.contains(from), "`{from}` not in the tiers");
            assert_eq!(
                Prices::from_toml(&edited(tiers, &tiers.replace(from, to))).unwrap_err(),
                CostError::InvalidPrice {
                    key: key.into(),
                    reason: reason.into()
                }
            );
        }
        let text = edited(
            "get_per_1000 = 0.0004           # source: [pricing]\n# no transition",
            "get_per_1000 = 0.0004\nunverified = [\"colour\"]\n# no transition",
        );
        let err = Prices::from_toml(&text).unwrap_err();
        assert!(
            matches!(&err, CostError::InvalidPrice { key, reason } if key == "classes.STANDARD.unverified" && reason.ends_with("got `colour`")),
            "{err:?}"
        );
        let text = edited(
            "get_per_1000 = 0.0004           # source: [pricing]\n# no transition",
            "get_per_1000 = 0.0004\nunverified = [\"get_per_1000\", \"restore.bulk.per_gb\"]\n# no transition",
        );
        assert_eq!(
            Prices::from_toml(&text).unwrap().unverified(),
            [
                "classes.STANDARD.get_per_1000",
                "classes.STANDARD.restore.bulk.per_gb"
            ]
        );
    }

    #[test]
    fn every_non_standard_class_is_a_lifecycle_target() {
        let p = Prices::builtin();
        for c in StorageClass::MANAGED {
            assert_eq!(
                p.class(&c).unwrap().transition_per_1000.is_some(),
                c != StorageClass::Standard,
                "{c}"
            );
            assert_eq!(
                p.class(&c).unwrap().transition_per_1000.is_some(),
                StorageClass::LIFECYCLE_TARGETS.contains(&c),
                "{c}"
            );
        }
        // Nothing else has prices.
        for c in StorageClass::KNOWN.into_iter().filter(|c| !c.is_managed()) {
            assert_eq!(p.class(&c), Err(CostError::Unpriced { class: c.clone() }));
        }
        let unknown = StorageClass::from("GLACIER_DEEP");
        assert!(matches!(p.class(&unknown), Err(CostError::Unpriced { .. })));
    }

    /// The builtin table with one line replaced (the line must exist).
    fn edited(from: &str, to: &str) -> String {
        assert!(BUILTIN_TOML.contains(from), "`{from}` not in the table");
        BUILTIN_TOML.replacen(from, to, 1)
    }

    /// The key named by the `InvalidPrice` error that the builtin table with one line
    /// replaced is refused with.
    fn invalid_key(from: &str, to: &str) -> String {
        match Prices::from_toml(&edited(from, to)) {
            Err(CostError::InvalidPrice { key, .. }) => key,
            other => panic!("expected InvalidPrice, got {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let text = edited("[tags]\n", "[tags]\ncolour = \"blue\"\n");
        let err = Prices::from_toml(&text).unwrap_err();
        let CostError::MalformedPricing { line, message } = &err else {
            panic!("{err:?}");
        };
        let expected_line = text.lines().position(|l| l.starts_with("colour")).unwrap() + 1;
        assert_eq!(*line, expected_line);
        assert!(message.contains("unknown field `colour`"), "{message}");
    }

    #[test]
    fn unmodelled_classes_are_refused() {
        let text = format!("{BUILTIN_TOML}\n[classes.EXPRESS_ONEZONE]\nstorage_gb_month = 0.11\n");
        let err = Prices::from_toml(&text).unwrap_err();
        assert!(err.to_string().contains("EXPRESS_ONEZONE"), "{err}");
    }

    #[test]
    fn missing_class_names_the_key() {
        // Cut the GLACIER tables out of the file.
        let start = BUILTIN_TOML.find("[classes.GLACIER]").unwrap();
        let end = BUILTIN_TOML.find("[classes.DEEP_ARCHIVE]").unwrap();
        let text = format!("{}{}", &BUILTIN_TOML[..start], &BUILTIN_TOML[end..]);
        let err = Prices::from_toml(&text).unwrap_err();
        assert!(
            matches!(&err, CostError::MalformedPricing { message, .. } if message.contains("missing field `GLACIER`")),
            "{err:?}"
        );
    }

    #[test]
    fn negative_price_names_the_key() {
        let text = edited("storage_gb_month = 0.0036 ", "storage_gb_month = -0.0036 ");
        assert_eq!(
            Prices::from_toml(&text).unwrap_err(),
            CostError::InvalidPrice {
                key: "classes.GLACIER.storage_gb_month".into(),
                reason: "expected a price >= 0, got `-0.0036`".into(),
            }
        );
        let text = edited("per_1000 = 0.025 ", "per_1000 = nan ");
        let err = Prices::from_toml(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid `classes.DEEP_ARCHIVE.restore.bulk.per_1000` in pricing: expected a price >= 0, got `NaN`"
        );
    }

    #[test]
    fn transition_price_rules() {
        // Lifecycle never transitions into STANDARD: a price for it is refused.
        assert_eq!(
            invalid_key(
                "get_per_1000 = 0.0004           # source: [pricing]\n# no transition",
                "get_per_1000 = 0.0004\ntransition_per_1000 = 0.01\n# no transition",
            ),
            "classes.STANDARD.transition_per_1000"
        );
        // Every other class needs one: a missing price is refused.
        assert_eq!(
            invalid_key(
                "transition_per_1000 = 0.02 ",
                "# transition_per_1000 = 0.02 "
            ),
            "classes.GLACIER_IR.transition_per_1000"
        );
    }

    #[test]
    fn archives_need_a_standard_restore_price() {
        let text = edited(
            "[classes.DEEP_ARCHIVE.restore.standard]",
            "[classes.DEEP_ARCHIVE.restore.expedited]",
        );
        // Expedited is now offered for DEEP_ARCHIVE (allowed), but Standard is gone.
        let err = Prices::from_toml(&text).unwrap_err();
        assert_eq!(
            err,
            CostError::InvalidPrice {
                key: "classes.DEEP_ARCHIVE.restore.standard".into(),
                reason: "expected the standard restore price: objects in this class must be \
                         restored to be read"
                    .into(),
            }
        );
    }

    #[test]
    fn header_fields_are_validated() {
        for (from, to, key) in [
            ("as_of = \"2026-08-18\"", "as_of = \"18/08/2026\"", "as_of"),
            ("currency = \"USD\"", "currency = \"EUR\"", "currency"),
            ("format_version = 1", "format_version = 2", "format_version"),
            (
                "frequent_gb_month = 0.023",
                "frequent_gb_month = 0.022",
                "intelligent_tiering.frequent_gb_month",
            ),
        ] {
            assert_eq!(invalid_key(from, to), key);
        }
        let err = Prices::from_toml("this is not toml").unwrap_err();
        assert!(
            matches!(err, CostError::MalformedPricing { line: 1, .. }),
            "{err:?}"
        );
    }
}
