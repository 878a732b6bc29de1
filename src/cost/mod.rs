//! Cost model: what keeping a blob in an S3 storage class costs per month, and what moving it
//! to another class costs once. Pure functions over a [`Prices`] table.
//!
//! - [`prices`]: the price table ([`Prices`]), parsed from our own TOML format. The built-in
//!   table (`pricing/us-east-1.toml`) is compiled in, so nothing here reads files.
//! - [`model`]: the formulas ([`monthly_cost`], [`one_time_cost`], [`evaluate`], …).
//! - [`estimator`]: expected pulls per month from pull counts ([`Estimator`]).
//!
//! # Units
//! - Money is USD as `f64`. Per-object amounts are tiny (often below $0.00001), so callers
//!   should sum before rounding.
//! - 1 GB = 2^30 bytes ([`BYTES_PER_GB`]), as in AWS's own billing examples.
//! - Storage prices are per GB-month. Wherever a duration in days is turned into money (early
//!   deletion, noncurrent versions, restored copies) a month is [`DAYS_PER_MONTH`] = 30 days,
//!   so the daily cost is monthly / 30. AWS meters byte-hours over the calendar month, so a real
//!   bill differs by up to a day's worth per month.
//! - Request prices are per 1,000 requests.
//!
//! # Simplifications
//! - Volume tiers of STANDARD and Intelligent-Tiering Frequent Access (first 50 TB, next 450 TB,
//!   over 500 TB) are reduced to the first tier. Costs above 50 TB are overstated by up to ~10%.
//! - Intelligent-Tiering (IT) is modelled with its three automatic tiers only; the opt-in Archive
//!   Access and Deep Archive Access tiers are not. [`monthly_cost`] uses the IT steady state
//!   under periodic access (see [`intelligent_tiering_steady_monthly`]). It does not include the
//!   first 90 days after a move into IT, which are billed at the higher Frequent and Infrequent
//!   rates, so savings of a move into IT are overstated for short horizons.
//! - A pull of a GLACIER or DEEP_ARCHIVE object costs one restore (of the tier the caller
//!   chooses), the temporary STANDARD copy for [`RESTORE_DAYS`] days, and one GET.
//! - Objects over 5 GiB are copied with a multipart upload (a few more requests at the PUT
//!   price); this is ignored: under $0.001 per object.
//!
//! # What it does not decide
//! Whether a move is worth it (that is `plan`), the 30-day minimum age before a lifecycle rule
//! may move objects into STANDARD_IA / ONEZONE_IA, the default 128 KiB size floor for lifecycle
//! transitions, and Object Lock retention (which keeps an old version billed until it ends).
//! The model never does I/O and never panics on any input; invalid combinations (an expedited
//! restore from DEEP_ARCHIVE, a lifecycle transition S3 does not offer) are [`CostError`]s.

use std::fmt;
use std::str::FromStr;

pub mod estimator;
pub mod model;
pub mod prices;

pub use estimator::{expected_pulls_30d, Estimator};
pub use model::{
    evaluate, intelligent_tiering_monthly, intelligent_tiering_steady_monthly, min_days,
    monthly_access, monthly_cost, monthly_storage, one_time_cost, MonthlyCost, MoveEval, MoveInput,
    OneTime,
};
pub use prices::{ClassPrices, IntelligentTieringPrices, Prices, RestorePrice, RestorePrices};

/// Bytes in one billing GB (2^30).
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;

/// Days in one month when prorating a monthly price.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// Days a restored GLACIER / DEEP_ARCHIVE copy is kept (and billed at the STANDARD rate).
///
/// One day is the smallest restore period; a copy only has to live long enough to be read or
/// copied. S3 rounds the expiry up to the next midnight UTC, so a real copy may live up to a
/// day longer (about $0.00077 per GiB).
pub const RESTORE_DAYS: u32 = 1;

/// Errors of the cost model: a bad price table, an unknown name, or a move S3 does not offer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    /// The pricing TOML is not valid TOML or does not match our format.
    #[error("invalid pricing TOML at line {line}: {message}")]
    MalformedPricing {
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value in the pricing TOML is out of range or inconsistent.
    #[error("invalid `{key}` in pricing: {reason}")]
    InvalidPrice {
        /// Dotted key, e.g. `classes.GLACIER.storage_gb_month`.
        key: String,
        /// What is expected, and what was found.
        reason: String,
    },
    /// A storage-class name that is not one of the seven we model.
    #[error(
        "unknown storage class `{value}`: expected one of `STANDARD`, `INTELLIGENT_TIERING`, \
         `STANDARD_IA`, `ONEZONE_IA`, `GLACIER_IR`, `GLACIER`, `DEEP_ARCHIVE`"
    )]
    UnknownStorageClass {
        /// The name given.
        value: String,
    },
    /// A restore-tier name that is not `Expedited`, `Standard` or `Bulk`.
    #[error("unknown restore tier `{value}`: expected one of `Expedited`, `Standard`, `Bulk`")]
    UnknownRestoreTier {
        /// The name given.
        value: String,
    },
    /// A move method that is not `copy` or `lifecycle`.
    #[error("unknown move method `{value}`: expected one of `copy`, `lifecycle`")]
    UnknownMethod {
        /// The name given.
        value: String,
    },
    /// An estimator name that is not one of [`Estimator::ALL`].
    #[error("unknown estimator `{value}`: expected one of `rate_90d`, `rate_30d`, `max_7d_30d`")]
    UnknownEstimator {
        /// The name given.
        value: String,
    },
    /// The class does not offer this restore tier (DEEP_ARCHIVE has no `Expedited`).
    #[error("restore tier `{tier}` is not available for `{class}`")]
    RestoreTierUnavailable {
        /// The archived class.
        class: StorageClass,
        /// The tier asked for.
        tier: RestoreTier,
    },
    /// S3 lifecycle cannot move objects from `from` to `to`.
    #[error("lifecycle cannot transition `{from}` to `{to}`")]
    UnsupportedTransition {
        /// Current class.
        from: StorageClass,
        /// Target class.
        to: StorageClass,
    },
    /// `from` and `to` are the same class, so there is nothing to move.
    #[error("`{class}` to `{class}` is not a move")]
    SameClass {
        /// The class.
        class: StorageClass,
    },
}

/// Result of the cost model.
pub type Result<T, E = CostError> = std::result::Result<T, E>;

/// The S3 storage classes blobtier prices. Other S3 classes (EXPRESS_ONEZONE, OUTPOSTS, …) are
/// not modelled; parsing them fails, and callers should leave such objects alone.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    /// `STANDARD`.
    Standard,
    /// `INTELLIGENT_TIERING`.
    IntelligentTiering,
    /// `STANDARD_IA`.
    StandardIa,
    /// `ONEZONE_IA`.
    OnezoneIa,
    /// `GLACIER_IR` (Glacier Instant Retrieval).
    GlacierIr,
    /// `GLACIER` (Glacier Flexible Retrieval): needs a restore before it can be read.
    Glacier,
    /// `DEEP_ARCHIVE` (Glacier Deep Archive): needs a restore before it can be read.
    DeepArchive,
}

impl StorageClass {
    /// Every modelled class, from the most to the least expensive to store.
    pub const ALL: [StorageClass; 7] = [
        StorageClass::Standard,
        StorageClass::IntelligentTiering,
        StorageClass::StandardIa,
        StorageClass::OnezoneIa,
        StorageClass::GlacierIr,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
    ];

    /// The S3 API name (`x-amz-storage-class`, S3 Inventory `StorageClass`).
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::OnezoneIa => "ONEZONE_IA",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    /// Whether objects must be restored (`RestoreObject`) before a GET or a copy.
    pub fn needs_restore(self) -> bool {
        matches!(self, StorageClass::Glacier | StorageClass::DeepArchive)
    }

    /// Whether an S3 lifecycle rule can transition objects from `self` to `to` (the
    /// "waterfall" of the S3 User Guide). Nothing transitions into STANDARD, nothing leaves
    /// DEEP_ARCHIVE, and a class never transitions to itself.
    pub fn can_lifecycle_to(self, to: StorageClass) -> bool {
        use StorageClass::*;
        match (self, to) {
            (a, b) if a == b => false,
            (_, Standard) | (DeepArchive, _) => false,
            (_, DeepArchive) => true,
            (Standard, _) => true,
            (StandardIa, IntelligentTiering | OnezoneIa | GlacierIr | Glacier) => true,
            (IntelligentTiering, OnezoneIa | GlacierIr | Glacier) => true,
            (OnezoneIa, Glacier) => true,
            (GlacierIr, Glacier) => true,
            _ => false,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StorageClass {
    type Err = CostError;

    /// Parses the S3 API name, ignoring ASCII case (`GLACIER_IR`, `glacier_ir`).
    fn from_str(s: &str) -> Result<Self> {
        StorageClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| CostError::UnknownStorageClass {
                value: s.to_owned(),
            })
    }
}

/// Restore (`RestoreObject`) speed tier for GLACIER and DEEP_ARCHIVE objects.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum RestoreTier {
    /// Minutes; GLACIER only; the most expensive.
    Expedited,
    /// Hours; S3's default tier.
    #[default]
    Standard,
    /// Up to 12 (GLACIER) or 48 (DEEP_ARCHIVE) hours; the cheapest (free for GLACIER).
    Bulk,
}

impl RestoreTier {
    /// Every tier, fastest first.
    pub const ALL: [RestoreTier; 3] = [
        RestoreTier::Expedited,
        RestoreTier::Standard,
        RestoreTier::Bulk,
    ];

    /// The S3 API name (`Tier` in `GlacierJobParameters`).
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreTier::Expedited => "Expedited",
            RestoreTier::Standard => "Standard",
            RestoreTier::Bulk => "Bulk",
        }
    }
}

impl fmt::Display for RestoreTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RestoreTier {
    type Err = CostError;

    /// Parses the S3 API name, ignoring ASCII case (`Bulk`, `bulk`).
    fn from_str(s: &str) -> Result<Self> {
        RestoreTier::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| CostError::UnknownRestoreTier {
                value: s.to_owned(),
            })
    }
}

/// How an object is moved to another class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `CopyObject` onto itself with a new storage class. Works between any two classes (after a
    /// restore for GLACIER / DEEP_ARCHIVE), resets Last-Modified and, in a versioned bucket,
    /// leaves the old version behind as a noncurrent version.
    Copy,
    /// Tag the object and let a tag-filtered lifecycle rule transition it. Only the moves S3
    /// lifecycle supports ([`StorageClass::can_lifecycle_to`]); keeps Last-Modified.
    Lifecycle,
}

impl Method {
    /// The name used in plans and config (`copy`, `lifecycle`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Copy => "copy",
            Method::Lifecycle => "lifecycle",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = CostError;

    fn from_str(s: &str) -> Result<Self> {
        [Method::Copy, Method::Lifecycle]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| CostError::UnknownMethod {
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_class_names_round_trip() {
        for c in StorageClass::ALL {
            assert_eq!(c.as_str().parse::<StorageClass>().unwrap(), c);
            assert_eq!(c.to_string(), c.as_str());
            // serde uses the same API names as `as_str`.
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        assert_eq!(
            "glacier_ir".parse::<StorageClass>().unwrap(),
            StorageClass::GlacierIr
        );
    }

    #[test]
    fn unknown_storage_class_is_an_error_listing_the_choices() {
        let err = "EXPRESS_ONEZONE".parse::<StorageClass>().unwrap_err();
        assert_eq!(
            err,
            CostError::UnknownStorageClass {
                value: "EXPRESS_ONEZONE".into()
            }
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("unknown storage class `EXPRESS_ONEZONE`"),
            "{msg}"
        );
        assert!(msg.contains("`DEEP_ARCHIVE`"), "{msg}");
        assert!("".parse::<StorageClass>().is_err());
    }

    #[test]
    fn restore_tier_and_method_names_round_trip() {
        for t in RestoreTier::ALL {
            assert_eq!(t.as_str().parse::<RestoreTier>().unwrap(), t);
        }
        assert_eq!("bulk".parse::<RestoreTier>().unwrap(), RestoreTier::Bulk);
        assert!(matches!(
            "fast".parse::<RestoreTier>(),
            Err(CostError::UnknownRestoreTier { .. })
        ));
        assert_eq!(RestoreTier::default(), RestoreTier::Standard);
        for m in [Method::Copy, Method::Lifecycle] {
            assert_eq!(m.as_str().parse::<Method>().unwrap(), m);
        }
        assert!("move".parse::<Method>().is_err());
    }

    #[test]
    fn only_archive_classes_need_a_restore() {
        let archived: Vec<_> = StorageClass::ALL
            .into_iter()
            .filter(|c| c.needs_restore())
            .collect();
        assert_eq!(archived, [StorageClass::Glacier, StorageClass::DeepArchive]);
    }

    #[test]
    fn lifecycle_waterfall_matches_the_user_guide() {
        use StorageClass::*;
        // Every (from, to) pair S3 lifecycle supports; all others must be refused.
        let allowed = [
            (Standard, IntelligentTiering),
            (Standard, StandardIa),
            (Standard, OnezoneIa),
            (Standard, GlacierIr),
            (Standard, Glacier),
            (Standard, DeepArchive),
            (StandardIa, IntelligentTiering),
            (StandardIa, OnezoneIa),
            (StandardIa, GlacierIr),
            (StandardIa, Glacier),
            (StandardIa, DeepArchive),
            (IntelligentTiering, OnezoneIa),
            (IntelligentTiering, GlacierIr),
            (IntelligentTiering, Glacier),
            (IntelligentTiering, DeepArchive),
            (OnezoneIa, Glacier),
            (OnezoneIa, DeepArchive),
            (GlacierIr, Glacier),
            (GlacierIr, DeepArchive),
            (Glacier, DeepArchive),
        ];
        for from in StorageClass::ALL {
            for to in StorageClass::ALL {
                assert_eq!(
                    from.can_lifecycle_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }
}
