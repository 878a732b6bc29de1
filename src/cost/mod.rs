//! Cost model: what keeping a blob in an S3 storage class costs per month, and what moving it
//! to another class costs once. Pure functions over a [`Prices`] table.
//!
//! - [`prices`]: the price table ([`Prices`]), parsed from our own TOML format. One table per
//!   region of [`prices::REGIONS`] (`pricing/<region>.toml`) is compiled in, so nothing here
//!   reads files.
//! - [`model`]: the formulas ([`monthly_cost`], [`one_time_cost`], [`evaluate`], …).
//! - [`estimator`]: expected pulls per month from pull counts (`model::Estimator`).
//!
//! The vocabulary (storage classes, methods, restore tiers, estimators) is `crate::model`'s.
//! Only the classes of `StorageClass::MANAGED` are priced: every function fails with
//! [`CostError::Unpriced`] for any other class (an unpriced S3 class or
//! `StorageClass::Unknown`), so nothing outside them gets a price by default.
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
//! - Volume tiers (STANDARD and Intelligent-Tiering Frequent Access: first 50 TB, next 450 TB,
//!   over 500 TB): every storage rate is the *marginal* rate at the class's volume
//!   ([`Prices::at_volumes`], [`Prices::storage_rate`]); a table as read is at volume 0 (the
//!   first tier). Class totals with the tiered formula are [`Prices::tiered_storage`]. AWS tiers
//!   by the account's total in the region; the caller can only pass what it sees.
//! - Intelligent-Tiering (IT) is modelled with its three automatic tiers only; the opt-in Archive
//!   Access and Deep Archive Access tiers are not. [`monthly_cost`] uses the IT steady state
//!   under periodic access (see [`intelligent_tiering_steady_monthly`]). It does not include the
//!   first 90 days after a move into IT, which are billed at the higher Frequent and Infrequent
//!   rates, so savings of a move into IT are overstated for short horizons.
//! - A pull of a GLACIER or DEEP_ARCHIVE object costs one restore (of the tier the caller
//!   chooses), the temporary STANDARD copy for [`PULL_RESTORE_DAYS`] day, and one GET. The
//!   restore before a copy out of an archive class is priced for the days the move asks for
//!   ([`MoveInput::restore_days`]: what `apply` requests).
//! - Objects over 5 GiB are copied with a multipart upload (a few more requests at the PUT
//!   price); this is ignored: under $0.001 per object.
//!
//! # What it does not decide
//! Whether a move is worth it (that is `plan`), the 30-day minimum age before a lifecycle rule
//! may move objects into STANDARD_IA / ONEZONE_IA, the default 128 KiB size floor for lifecycle
//! transitions, and Object Lock retention (which keeps an old version billed until it ends).
//! The model never does I/O and never panics on any input; invalid combinations (an unpriced
//! class, an expedited restore from DEEP_ARCHIVE, a lifecycle transition S3 does not offer)
//! are [`CostError`]s.

pub mod estimator;
pub mod model;
pub mod prices;
pub mod scanner;

pub use estimator::expected_pulls_30d;
pub use model::{
    evaluate, intelligent_tiering_monthly, intelligent_tiering_steady_monthly, min_days,
    monthly_access, monthly_cost, monthly_storage, moves_down, one_time_cost, restore_tier_for,
    MonthlyCost, MoveEval, MoveInput, OneTime, OneTimeBreakdown,
};
pub use prices::{
    ClassPrices, ClassVolumes, IntelligentTieringPrices, Prices, RestorePrice, RestorePrices,
    StorageTier, REGIONS,
};

use crate::model::{RestoreTier, StorageClass};

/// Bytes in one billing GB (2^30).
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;

/// Days in one month when prorating a monthly price.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// Days the restored copy of one *pull* of a GLACIER / DEEP_ARCHIVE object is kept (and billed
/// at the STANDARD rate), in [`monthly_access`] and [`monthly_cost`].
///
/// One day is the smallest restore period; a copy only has to live long enough to be read.
/// S3 rounds the expiry up to the next midnight UTC, so a real copy may live up to a day
/// longer (about $0.00077 per GiB). The restore before a planned copy back is priced with
/// the move's own [`MoveInput::restore_days`] instead.
pub const PULL_RESTORE_DAYS: u32 = 1;

/// Errors of the cost model: a bad price table, a class it does not price, or a move S3 does
/// not offer.
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
    /// A class outside [`StorageClass::MANAGED`] (an unpriced S3 class such as
    /// `EXPRESS_ONEZONE`, or [`StorageClass::Unknown`]): the price table has no prices for
    /// it, so nothing about it is priced.
    #[error("storage class `{class}` is not priced")]
    Unpriced {
        /// The class.
        class: StorageClass,
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
