//! The price table: per-class storage, request, retrieval, transition and restore prices,
//! the Intelligent-Tiering tier rates and the tag-storage price.
//!
//! The format is ours (see `pricing/us-east-1.toml`, which documents every key and unit), read
//! with serde and `deny_unknown_fields`, then validated: every price must be finite and ≥ 0,
//! every class of `StorageClass::MANAGED` must be present (and no other), every class but STANDARD must have a lifecycle
//! transition price, GLACIER and DEEP_ARCHIVE must offer a `standard` restore. Errors name the
//! dotted key. Parsing takes a string; reading the file is the caller's job.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{CostError, Result};
use crate::model::{RestoreTier, StorageClass};

/// The built-in table, compiled in so the binary works without any price file.
pub const BUILTIN_TOML: &str = include_str!("../../pricing/us-east-1.toml");

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
}

/// Prices and rules of one storage class. Units: USD per GB-month (GB = 2^30 bytes), USD per
/// 1,000 requests, bytes, days.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassPrices {
    /// Storage, USD per GB-month (first volume tier).
    pub storage_gb_month: f64,
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

    /// Prices of the INTELLIGENT_TIERING class (always in the table); its access tiers are
    /// [`Prices::intelligent_tiering`].
    pub fn intelligent_tiering_class(&self) -> &ClassPrices {
        &self.classes.intelligent_tiering
    }
}

impl ClassTable {
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

        let classes = self.classes;
        for class in StorageClass::MANAGED {
            let prices = classes
                .get(&class)
                .expect("the table has every managed class");
            validate_class(&class, prices)?;
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
    if class.needs_restore() && p.restore.standard.is_none() {
        return Err(invalid(
            k("restore.standard"),
            "expected the standard restore price: objects in this class must be restored to be read",
        ));
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
