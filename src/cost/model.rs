//! The cost formulas: monthly cost of keeping an object in a class, one-time cost of moving it,
//! and the comparison of the two ([`evaluate`]).
//!
//! Every function is pure and total: sizes are `u64` bytes, request counts that are negative or
//! NaN count as 0, and the only failures ([`CostError`]) are classes the price table does not
//! have (anything outside `StorageClass::MANAGED`) and moves S3 does not offer.
//!
//! # One-time cost of a move ([`one_time_cost`])
//! - `transition`: the request that changes the class. Lifecycle: the transition price into the
//!   target class. Copy: one COPY request at the target class's PUT price (S3 bills a copy at
//!   the destination's price).
//! - `tagging` (lifecycle only): one `PutObjectTagging`, billed as a PUT at the *source* class's
//!   price (which class's PUT price applies to archived objects is unverified; the source's is
//!   the higher one), plus one tag stored for one month (lifecycle acts within about two days;
//!   `apply` may delete the tag afterwards, which is free).
//! - `retrieval` (copy only): the source class's retrieval fee on the bytes read (STANDARD_IA,
//!   ONEZONE_IA, GLACIER_IR). Lifecycle transitions are charged no retrieval fee here.
//! - `restore` (copy only, GLACIER / DEEP_ARCHIVE source): one restore of the move's tier
//!   (per GB + per request) plus the temporary restored copy at the STANDARD rate for the
//!   move's [`MoveInput::restore_days`] (the `Days` that `apply` sends with the restore). Lifecycle moves out of GLACIER (only to DEEP_ARCHIVE) need no restore.
//! - `early_delete`: leaving a class before its minimum duration is billed for the remaining
//!   days, prorated: `(min_days − days_in_current_class) × monthly_storage(source) / 30`.
//! - `old_version` (copy in a versioned bucket): the copy creates a new version and the old one
//!   stays billed at the source class as a noncurrent version for `noncurrent_retention_days`
//!   days, until a `NoncurrentVersionExpiration` rule (or `apply`) deletes it. Its early-deletion
//!   charge then covers only the part of the minimum not already billed here:
//!   `max(0, min_days − days_in_class − retention)`. `noncurrent_retention_days = 0` means the
//!   old version is deleted right away; if it never expires, pass the planning horizon in days.
//!   Lifecycle transitions change the class of the current version in place and leave no old
//!   version.

use serde::Serialize;

use super::prices::Prices;
use super::{CostError, Result, BYTES_PER_GB, DAYS_PER_MONTH, PULL_RESTORE_DAYS};
use crate::model::{Method, RestoreTier, StorageClass};

/// Monthly cost of keeping one object in a class, in USD.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct MonthlyCost {
    /// Storage, including the minimum billable size, archive overhead and the
    /// Intelligent-Tiering monitoring fee.
    pub storage: f64,
    /// GET requests, plus restore requests for GLACIER / DEEP_ARCHIVE.
    pub requests: f64,
    /// Retrieval fees per GB; for GLACIER / DEEP_ARCHIVE the restore per-GB fee and the
    /// temporary restored copy.
    pub retrieval: f64,
    /// `storage + requests + retrieval`.
    pub total: f64,
}

/// A move of one object from one class to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveInput {
    /// Current class.
    pub from: StorageClass,
    /// Target class.
    pub to: StorageClass,
    /// Object size in bytes.
    pub size: u64,
    /// Days the object has been in its current class (for early deletion).
    pub days_in_current_class: u32,
    /// Whether the bucket is versioned (a copy then leaves a noncurrent version behind).
    pub versioned: bool,
    /// Days the noncurrent version is kept before it expires (see the module doc).
    pub noncurrent_retention_days: u32,
    /// Copy in place or lifecycle transition.
    pub method: Method,
    /// Restore tier for reading GLACIER / DEEP_ARCHIVE objects (the source of a copy, and
    /// every pull while the object is archived). Ignored for other classes.
    pub restore_tier: RestoreTier,
    /// Days the restored copy of an archived source is kept before the copy back (the
    /// restore's `Days`, billed at the STANDARD rate). Ignored for other sources.
    pub restore_days: u32,
}

/// One-time cost of a move, in USD: its parts and their sum.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct OneTime {
    /// The parts (serialised inline, before `total`).
    #[serde(flatten)]
    pub parts: OneTimeBreakdown,
    /// Sum of the parts.
    pub total: f64,
}

/// The kinds of one-time cost, in USD. See the module doc for what each covers. One move's
/// ([`OneTime`]), or summed over many (the report's one-time costs).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct OneTimeBreakdown {
    /// The request that changes the class (lifecycle transition or COPY).
    pub transition: f64,
    /// Minimum-duration charge of the source class.
    pub early_delete: f64,
    /// Restore of a GLACIER / DEEP_ARCHIVE source before a copy.
    pub restore: f64,
    /// Retrieval fee of the source class for the bytes copied.
    pub retrieval: f64,
    /// Storage of the noncurrent version left by a copy in a versioned bucket.
    pub old_version: f64,
    /// Tagging request and tag storage (lifecycle method).
    pub tagging: f64,
}

impl OneTimeBreakdown {
    /// Sum of the parts.
    pub fn sum(&self) -> f64 {
        self.transition
            + self.early_delete
            + self.restore
            + self.retrieval
            + self.old_version
            + self.tagging
    }
}

impl std::ops::AddAssign for OneTimeBreakdown {
    fn add_assign(&mut self, o: OneTimeBreakdown) {
        self.transition += o.transition;
        self.early_delete += o.early_delete;
        self.restore += o.restore;
        self.retrieval += o.retrieval;
        self.old_version += o.old_version;
        self.tagging += o.tagging;
    }
}

/// A move compared with staying put, in USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MoveEval {
    /// Monthly cost in the current class (`breakdown_now.total`).
    pub monthly_now: f64,
    /// Monthly cost in the target class (`breakdown_after.total`).
    pub monthly_after: f64,
    /// Parts of `monthly_now`.
    pub breakdown_now: MonthlyCost,
    /// Parts of `monthly_after`.
    pub breakdown_after: MonthlyCost,
    /// One-time cost of the move.
    pub one_time: OneTime,
    /// `monthly_now − monthly_after` (negative when the move costs more per month).
    pub monthly_saving: f64,
    /// Days until the saving has paid for the move: `one_time.total / (monthly_saving / 30)`;
    /// `None` when the move saves nothing (`monthly_saving ≤ 0`).
    pub payback_days: Option<f64>,
    /// The horizon passed to [`evaluate`], in months.
    pub horizon_months: u32,
    /// `self.net_savings(self.horizon_months)`.
    pub net_savings_horizon: f64,
}

impl MoveEval {
    /// Net savings after `horizon_months`: `monthly_saving × horizon_months − one_time.total`
    /// (negative when the move has not paid for itself by then).
    pub fn net_savings(&self, horizon_months: u32) -> f64 {
        self.monthly_saving * f64::from(horizon_months) - self.one_time.total
    }
}

fn gb(bytes: u64) -> f64 {
    bytes as f64 / BYTES_PER_GB
}

/// Price of one request from a price per 1,000.
fn each(per_1000: f64) -> f64 {
    per_1000 / 1000.0
}

/// Request counts: negative and NaN count as none.
fn count(n: f64) -> f64 {
    if n > 0.0 {
        n
    } else {
        0.0
    }
}

/// Intelligent-Tiering monitoring fee for one object per month (none under the threshold).
fn it_monitoring(p: &Prices, size: u64) -> f64 {
    let it = p.intelligent_tiering();
    if size >= it.monitoring_min_object_bytes {
        each(it.monitoring_per_1000_objects_month)
    } else {
        0.0
    }
}

/// Monthly storage of one object, including the minimum billable size, the per-object archive
/// overhead (GLACIER / DEEP_ARCHIVE: 32 KiB at the class rate + 8 KiB at the STANDARD rate) and,
/// for INTELLIGENT_TIERING, the monitoring fee (objects ≥ 128 KiB) at the Frequent Access rate,
/// i.e. the cost right after an access. For IT costs that depend on access, see
/// [`intelligent_tiering_monthly`] and [`intelligent_tiering_steady_monthly`].
///
/// Every storage rate is [`Prices::storage_rate`]: the marginal rate at the class's volume
/// ([`Prices::at_volumes`]; the first volume tier for a table as read).
pub fn monthly_storage(p: &Prices, class: &StorageClass, size_bytes: u64) -> Result<f64> {
    let c = p.class(class)?;
    let standard_rate = p.standard_storage_rate();
    let billable = size_bytes.max(c.min_billable_bytes);
    let mut cost = (gb(billable) + gb(c.overhead_class_bytes)) * p.storage_rate(class)?
        + gb(c.overhead_standard_bytes) * standard_rate;
    if *class == StorageClass::IntelligentTiering {
        cost += it_monitoring(p, size_bytes);
    }
    Ok(cost)
}

/// Cost of one restore of `size` bytes whose copy is kept `days`: (request part, per-GB part
/// + temporary copy).
fn restore_once(
    p: &Prices,
    class: &StorageClass,
    size: u64,
    tier: RestoreTier,
    days: u32,
) -> Result<(f64, f64)> {
    let price =
        p.class(class)?
            .restore_price(tier)
            .ok_or_else(|| CostError::RestoreTierUnavailable {
                class: class.clone(),
                tier,
            })?;
    let standard_rate = p.standard_storage_rate();
    let temp_copy = gb(size) * standard_rate * f64::from(days) / DAYS_PER_MONTH;
    Ok((each(price.per_1000), gb(size) * price.per_gb + temp_copy))
}

/// (requests, retrieval) per month for `gets` pulls.
fn access_parts(
    p: &Prices,
    class: &StorageClass,
    size: u64,
    gets: f64,
    tier: RestoreTier,
) -> Result<(f64, f64)> {
    let gets = count(gets);
    let c = p.class(class)?;
    let mut requests = gets * each(c.get_per_1000);
    let retrieval = if class.needs_restore() {
        let (restore_request, restore_bytes) =
            restore_once(p, class, size, tier, PULL_RESTORE_DAYS)?;
        requests += gets * restore_request;
        gets * restore_bytes
    } else {
        gets * gb(size) * c.retrieval_gb
    };
    Ok((requests, retrieval))
}

/// Monthly cost of `gets_per_month` pulls of one object: GET requests, plus the retrieval fee per
/// GB for STANDARD_IA / ONEZONE_IA / GLACIER_IR. For GLACIER / DEEP_ARCHIVE every pull needs a
/// restore of `restore_tier` (per request + per GB) and the restored copy is kept at the
/// STANDARD rate for [`PULL_RESTORE_DAYS`] day.
///
/// Fails with [`CostError::RestoreTierUnavailable`] for a tier the class does not offer
/// (DEEP_ARCHIVE has no `Expedited`), whatever the number of pulls, and with
/// [`CostError::Unpriced`] for a class outside `StorageClass::MANAGED`.
pub fn monthly_access(
    p: &Prices,
    class: &StorageClass,
    size_bytes: u64,
    gets_per_month: f64,
    restore_tier: RestoreTier,
) -> Result<f64> {
    let (requests, retrieval) = access_parts(p, class, size_bytes, gets_per_month, restore_tier)?;
    Ok(requests + retrieval)
}

/// Monthly cost of one object in `class` pulled `gets_per_month` times. For
/// INTELLIGENT_TIERING the storage is the steady state under periodic access
/// ([`intelligent_tiering_steady_monthly`]); for the other classes it is [`monthly_storage`].
pub fn monthly_cost(
    p: &Prices,
    class: &StorageClass,
    size: u64,
    gets_per_month: f64,
    restore_tier: RestoreTier,
) -> Result<MonthlyCost> {
    let storage = if *class == StorageClass::IntelligentTiering {
        it_steady_storage(p, size, gets_per_month)
    } else {
        monthly_storage(p, class, size)?
    };
    let (requests, retrieval) = access_parts(p, class, size, gets_per_month, restore_tier)?;
    Ok(MonthlyCost {
        storage,
        requests,
        retrieval,
        total: storage + requests + retrieval,
    })
}

/// Storage rate (USD per GB-month) of a monitored IT object last accessed `days` ago.
fn it_rate_after(p: &Prices, days: u32) -> f64 {
    let it = p.intelligent_tiering();
    if days < it.infrequent_after_days {
        p.it_frequent_rate()
    } else if days < it.archive_instant_after_days {
        it.infrequent_gb_month
    } else {
        it.archive_instant_gb_month
    }
}

/// Monthly cost of one INTELLIGENT_TIERING object at a point in time: storage at the rate of
/// its current access tier, the monitoring fee, and `gets_per_month` GET requests. IT has no
/// retrieval fees.
///
/// Objects under 128 KiB are not monitored: no fee, always Frequent Access. Monitored objects
/// are in Frequent Access below 30 days since the last access, Infrequent Access from 30 to 89
/// days, Archive Instant Access from 90 days (the thresholds come from [`Prices`]).
/// `days_since_last_access = None` (unknown) is billed at Frequent Access, the highest rate.
pub fn intelligent_tiering_monthly(
    p: &Prices,
    size: u64,
    days_since_last_access: Option<u32>,
    gets_per_month: f64,
) -> f64 {
    let it = p.intelligent_tiering();
    let rate = match days_since_last_access {
        Some(days) if size >= it.monitoring_min_object_bytes => it_rate_after(p, days),
        _ => p.it_frequent_rate(),
    };
    gb(size) * rate
        + it_monitoring(p, size)
        + count(gets_per_month) * each(p.intelligent_tiering_class().get_per_1000)
}

/// Steady-state storage of an IT object pulled `gets` times a month, monitoring included.
fn it_steady_storage(p: &Prices, size: u64, gets: f64) -> f64 {
    let it = p.intelligent_tiering();
    if size < it.monitoring_min_object_bytes {
        return gb(size) * p.it_frequent_rate();
    }
    let gets = count(gets);
    // Days between two accesses.
    let period = DAYS_PER_MONTH / gets;
    let rate = if gets == 0.0 || !period.is_finite() {
        it.archive_instant_gb_month
    } else if period <= 0.0 {
        p.it_frequent_rate()
    } else {
        let to_infrequent = f64::from(it.infrequent_after_days);
        let to_archive = f64::from(it.archive_instant_after_days);
        let frequent_days = period.min(to_infrequent);
        let infrequent_days = (period.min(to_archive) - to_infrequent).max(0.0);
        let archive_days = (period - to_archive).max(0.0);
        (frequent_days * p.it_frequent_rate()
            + infrequent_days * it.infrequent_gb_month
            + archive_days * it.archive_instant_gb_month)
            / period
    };
    gb(size) * rate + it_monitoring(p, size)
}

/// Long-run monthly cost of one INTELLIGENT_TIERING object pulled `gets_per_month` times, evenly
/// spaced: between two pulls `30 / gets_per_month` days apart the object spends the first 30
/// days in Frequent, days 30–89 in Infrequent and the rest in Archive Instant Access; the rate
/// is the time-weighted mean. With no pulls it is Archive Instant Access. Evenly spaced pulls
/// are the worst case for a given count (bursts leave longer idle gaps), so this does not
/// overstate savings in steady state; it does ignore the first 90 days after a move into IT.
/// Objects under 128 KiB stay in Frequent Access without a monitoring fee.
pub fn intelligent_tiering_steady_monthly(p: &Prices, size: u64, gets_per_month: f64) -> f64 {
    it_steady_storage(p, size, gets_per_month)
        + count(gets_per_month) * each(p.intelligent_tiering_class().get_per_1000)
}

/// One-time cost of moving one object (see the module doc for each part).
///
/// Fails when `from == to`, when either class is not priced, when the lifecycle method is
/// asked for a transition S3 lifecycle does not offer ([`StorageClass::can_lifecycle_to`]),
/// and when a copy out of an archive class asks for a restore tier it does not offer.
pub fn one_time_cost(p: &Prices, m: &MoveInput) -> Result<OneTime> {
    if m.from == m.to {
        return Err(CostError::SameClass {
            class: m.from.clone(),
        });
    }
    let from = p.class(&m.from)?;
    let to = p.class(&m.to)?;
    let daily_source = monthly_storage(p, &m.from, m.size)? / DAYS_PER_MONTH;
    let min_days_left = f64::from(from.min_days.saturating_sub(m.days_in_current_class));
    let mut o = OneTimeBreakdown::default();
    match m.method {
        Method::Lifecycle => {
            let unsupported = || CostError::UnsupportedTransition {
                from: m.from.clone(),
                to: m.to.clone(),
            };
            if !m.from.can_lifecycle_to(&m.to) {
                return Err(unsupported());
            }
            o.transition = each(to.transition_per_1000.ok_or_else(unsupported)?);
            o.tagging = each(from.put_per_1000) + p.tag_storage_per_10000_month() / 10_000.0;
            o.early_delete = min_days_left * daily_source;
        }
        Method::Copy => {
            o.transition = each(to.put_per_1000);
            if m.from.needs_restore() {
                let (request, bytes) =
                    restore_once(p, &m.from, m.size, m.restore_tier, m.restore_days)?;
                o.restore = request + bytes;
            } else {
                o.retrieval = gb(m.size) * from.retrieval_gb;
            }
            let kept_days = if m.versioned {
                f64::from(m.noncurrent_retention_days)
            } else {
                0.0
            };
            o.old_version = kept_days * daily_source;
            o.early_delete = (min_days_left - kept_days).max(0.0) * daily_source;
        }
    }
    Ok(OneTime {
        total: o.sum(),
        parts: o,
    })
}

/// Compares moving one object with keeping it where it is, for `gets_per_month` pulls and a
/// horizon of `horizon_months`. Monthly costs use [`monthly_cost`] with the move's restore tier.
pub fn evaluate(
    p: &Prices,
    m: &MoveInput,
    gets_per_month: f64,
    horizon_months: u32,
) -> Result<MoveEval> {
    let one_time = one_time_cost(p, m)?;
    let breakdown_now = monthly_cost(p, &m.from, m.size, gets_per_month, m.restore_tier)?;
    let breakdown_after = monthly_cost(p, &m.to, m.size, gets_per_month, m.restore_tier)?;
    let monthly_saving = breakdown_now.total - breakdown_after.total;
    let payback_days =
        (monthly_saving > 0.0).then(|| one_time.total / (monthly_saving / DAYS_PER_MONTH));
    let mut eval = MoveEval {
        monthly_now: breakdown_now.total,
        monthly_after: breakdown_after.total,
        breakdown_now,
        breakdown_after,
        one_time,
        monthly_saving,
        payback_days,
        horizon_months,
        net_savings_horizon: 0.0,
    };
    eval.net_savings_horizon = eval.net_savings(horizon_months);
    Ok(eval)
}

/// The restore tier to read `class` with when `wanted` is asked for: `wanted` when the class
/// offers it (or needs no restore), else the tier the class offers that restores `size`
/// bytes cheapest (DEEP_ARCHIVE has no `Expedited`: `Bulk`). The flag says whether it fell
/// back. Fails with [`CostError::RestoreTierUnavailable`] only when the class offers no tier
/// at all, and with [`CostError::Unpriced`] for a class outside `StorageClass::MANAGED`.
pub fn restore_tier_for(
    p: &Prices,
    class: &StorageClass,
    wanted: RestoreTier,
    size: u64,
) -> Result<(RestoreTier, bool)> {
    if !class.needs_restore() {
        return Ok((wanted, false));
    }
    let c = p.class(class)?;
    if c.restore_price(wanted).is_some() {
        return Ok((wanted, false));
    }
    RestoreTier::ALL
        .into_iter()
        .filter_map(|t| {
            c.restore_price(t)
                .map(|r| (t, each(r.per_1000) + gb(size) * r.per_gb))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(t, _)| (t, true))
        .ok_or_else(|| CostError::RestoreTierUnavailable {
            class: class.clone(),
            tier: wanted,
        })
}

/// Whether `to` stores `size` bytes for less a month than `from` ([`monthly_storage`]): a move
/// "down", which the plan's safety nets hold back.
pub fn moves_down(p: &Prices, from: &StorageClass, to: &StorageClass, size: u64) -> Result<bool> {
    Ok(monthly_storage(p, to, size)? < monthly_storage(p, from, size)?)
}

/// Minimum storage duration of `class` in days (0 when there is none).
pub fn min_days(p: &Prices, class: &StorageClass) -> Result<u32> {
    Ok(p.class(class)?.min_days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use StorageClass::*;

    const KIB: u64 = 1024;
    const GIB: u64 = 1024 * 1024 * 1024;

    fn prices() -> Prices {
        Prices::builtin()
    }

    #[track_caller]
    fn close(actual: f64, expected: f64) {
        let tol = 1e-12_f64.max(expected.abs() * 1e-9);
        assert!(
            (actual - expected).abs() <= tol,
            "expected {expected:e}, got {actual:e}"
        );
    }

    /// [`monthly_storage`] of a class the table prices.
    fn storage(p: &Prices, class: StorageClass, size: u64) -> f64 {
        monthly_storage(p, &class, size).unwrap()
    }

    fn mv(from: StorageClass, to: StorageClass, size: u64, method: Method) -> MoveInput {
        MoveInput {
            from,
            to,
            size,
            days_in_current_class: 365,
            versioned: false,
            noncurrent_retention_days: 0,
            method,
            restore_tier: RestoreTier::Standard,
            restore_days: 1,
        }
    }

    // ---- storage -------------------------------------------------------------------------

    #[test]
    fn standard_storage_is_size_times_rate() {
        // 1 GiB × $0.023 = $0.023; 10 KiB = 10240 / 2^30 GB × $0.023.
        close(storage(&prices(), Standard, GIB), 0.023);
        close(
            storage(&prices(), Standard, 10 * KIB),
            10240.0 / 1_073_741_824.0 * 0.023,
        );
        assert_eq!(storage(&prices(), Standard, 0), 0.0);
    }

    /// A bucket holding 100 TB in STANDARD: its blobs are priced at the second tier,
    /// $0.022 (pricing/us-east-1.toml), archive metadata and restored copies too. See: issue 15.
    #[test]
    fn storage_is_priced_at_the_marginal_rate_of_the_class_volume() {
        let mut v = crate::cost::prices::ClassVolumes::default();
        v.set(&Standard, 102_400.0);
        let p = prices().at_volumes(v);
        close(storage(&p, Standard, GIB), 0.022);
        close(storage(&p, GlacierIr, GIB), 0.004);
        // GLACIER: 1 GiB + 32 KiB at $0.0036, 8 KiB at STANDARD's marginal $0.022.
        close(
            storage(&p, Glacier, GIB),
            (1.0 + 32.0 / 1_048_576.0) * 0.0036 + 8.0 / 1_048_576.0 * 0.022,
        );
        // Leaving STANDARD saves the marginal rate.
        let m = mv(Standard, GlacierIr, GIB, Method::Copy);
        let e = evaluate(&p, &m, 0.0, 12).unwrap();
        close(e.monthly_saving, 0.022 - 0.004);
        // Below 50 TB nothing changes, bit for bit.
        let mut v = crate::cost::prices::ClassVolumes::default();
        v.set(&Standard, 51_000.0);
        let small = prices().at_volumes(v);
        assert_eq!(
            storage(&small, Standard, 3 * GIB + 5),
            storage(&prices(), Standard, 3 * GIB + 5)
        );
    }

    #[test]
    fn ia_bills_small_objects_as_128_kib() {
        let p = prices();
        // A 10 KiB object in STANDARD_IA is billed as 128 KiB = 2^17 / 2^30 = 1/8192 GB:
        // $0.0125 / 8192 = $1.52587890625e-6 per month.
        close(storage(&p, StandardIa, 10 * KIB), 0.0125 / 8192.0);
        close(
            storage(&p, StandardIa, 10 * KIB),
            storage(&p, StandardIa, 128 * KIB),
        );
        // Same floor in ONEZONE_IA ($0.01) and GLACIER_IR ($0.004).
        close(storage(&p, OnezoneIa, 1), 0.01 / 8192.0);
        close(storage(&p, GlacierIr, 1), 0.004 / 8192.0);
        // Above the floor the real size counts: 256 KiB = 1/4096 GB.
        close(storage(&p, StandardIa, 256 * KIB), 0.0125 / 4096.0);
        // So a 10 KiB blob costs more in STANDARD_IA than in STANDARD:
        // 1.526e-6 > 10240/2^30 × 0.023 = 2.193e-7.
        assert!(storage(&p, StandardIa, 10 * KIB) > storage(&p, Standard, 10 * KIB));
    }

    #[test]
    fn archive_overhead_in_deep_archive() {
        // 1 GiB in DEEP_ARCHIVE:
        //   1 GB × $0.00099                       = 0.00099
        // + 32 KiB = 2^-15 GB × $0.00099 (DA)     = 3.021240234375e-8
        // + 8 KiB  = 2^-17 GB × $0.023 (STANDARD) = 1.7547607421875e-7
        //                                         = 0.00099020568847656...
        let expected = 0.00099 + 0.00099 / 32768.0 + 0.023 / 131072.0;
        close(storage(&prices(), DeepArchive, GIB), expected);
        close(expected, 0.000_990_205_688_476_562_5);
        // GLACIER has the same 40 KiB overhead at its own rate: a 0-byte object costs
        // 2^-15 × 0.0036 + 2^-17 × 0.023.
        close(
            storage(&prices(), Glacier, 0),
            0.0036 / 32768.0 + 0.023 / 131072.0,
        );
    }

    #[test]
    fn intelligent_tiering_storage_is_frequent_plus_monitoring() {
        let p = prices();
        // 1 GiB: $0.023 + one object's monitoring, $0.0025 / 1000.
        close(storage(&p, IntelligentTiering, GIB), 0.023 + 0.0000025);
        // Under 128 KiB: no monitoring fee.
        close(
            storage(&p, IntelligentTiering, 100 * KIB),
            storage(&p, Standard, 100 * KIB),
        );
    }

    // ---- access ---------------------------------------------------------------------------

    #[test]
    fn access_costs_gets_and_retrieval() {
        let p = prices();
        let std = RestoreTier::Standard;
        // STANDARD: 1000 GETs × $0.0004 / 1000 = $0.0004, no retrieval.
        close(
            monthly_access(&p, &Standard, GIB, 1000.0, std).unwrap(),
            0.0004,
        );
        // STANDARD_IA: 10 GETs of 1 GiB = 10 × ($0.001/1000 + $0.01) = $0.10001.
        close(
            monthly_access(&p, &StandardIa, GIB, 10.0, std).unwrap(),
            0.10001,
        );
        // GLACIER_IR: 2 GETs of 512 MiB = 2 × ($0.01/1000 + 0.5 × $0.03) = $0.03002.
        close(
            monthly_access(&p, &GlacierIr, GIB / 2, 2.0, std).unwrap(),
            0.03002,
        );
        // IT: no retrieval fee.
        close(
            monthly_access(&p, &IntelligentTiering, GIB, 10.0, std).unwrap(),
            10.0 * 0.0004 / 1000.0,
        );
        // Negative and NaN pull counts count as none.
        assert_eq!(
            monthly_access(&p, &StandardIa, GIB, -3.0, std).unwrap(),
            0.0
        );
        assert_eq!(
            monthly_access(&p, &StandardIa, GIB, f64::NAN, std).unwrap(),
            0.0
        );
    }

    #[test]
    fn glacier_restore_tiers() {
        let p = prices();
        // One pull of 1 GiB from GLACIER = one GET ($0.0004/1000) + one restore + the restored
        // copy at STANDARD for 1 day (1 GB × $0.023 / 30 = $0.000766666...).
        let get = 0.0004 / 1000.0;
        let copy = 0.023 / 30.0;
        // Standard: $0.05/1000 per request + $0.01/GB.
        let standard = monthly_cost(&p, &Glacier, GIB, 1.0, RestoreTier::Standard).unwrap();
        close(standard.requests, get + 0.05 / 1000.0);
        close(standard.retrieval, 0.01 + copy);
        // Bulk: free request and bytes; only the GET and the temporary copy.
        let bulk = monthly_access(&p, &Glacier, GIB, 1.0, RestoreTier::Bulk).unwrap();
        close(bulk, get + copy);
        // Expedited: $10/1000 per request + $0.03/GB.
        let expedited = monthly_access(&p, &Glacier, GIB, 1.0, RestoreTier::Expedited).unwrap();
        close(expedited, get + 0.01 + 0.03 + copy);
        let standard_access = standard.requests + standard.retrieval;
        assert!(bulk < standard_access && standard_access < expedited);
        // Twice the pulls, twice the access cost.
        close(
            monthly_access(&p, &Glacier, GIB, 2.0, RestoreTier::Standard).unwrap(),
            2.0 * (standard.requests + standard.retrieval),
        );
    }

    /// The tier an archived class is read with: the one asked for when offered, else the
    /// cheapest one offered; classes without restores keep the one asked for.
    #[test]
    fn restore_tier_for_falls_back_to_the_cheapest_offered() {
        let p = prices();
        let (ex, bulk) = (RestoreTier::Expedited, RestoreTier::Bulk);
        assert_eq!(
            restore_tier_for(&p, &DeepArchive, ex, GIB),
            Ok((bulk, true))
        );
        let std = RestoreTier::Standard;
        assert_eq!(
            restore_tier_for(&p, &DeepArchive, std, GIB),
            Ok((std, false))
        );
        assert_eq!(restore_tier_for(&p, &Glacier, ex, GIB), Ok((ex, false)));
        assert_eq!(restore_tier_for(&p, &Standard, ex, GIB), Ok((ex, false)));
        // A copy out of DEEP_ARCHIVE priced for 3 days of the restored copy.
        let mut m = mv(DeepArchive, Standard, GIB, Method::Copy);
        m.restore_tier = bulk;
        m.restore_days = 3;
        close(
            one_time_cost(&p, &m).unwrap().parts.restore,
            0.025 / 1000.0 + 0.0025 + 3.0 * 0.023 / 30.0,
        );
    }

    #[test]
    fn deep_archive_restore_tiers_and_no_expedited() {
        let p = prices();
        // Standard: GET + $0.10/1000 + 1 GB × $0.02 + 1 day of STANDARD.
        close(
            monthly_access(&p, &DeepArchive, GIB, 1.0, RestoreTier::Standard).unwrap(),
            0.0004 / 1000.0 + 0.10 / 1000.0 + 0.02 + 0.023 / 30.0,
        );
        // Bulk: GET + $0.025/1000 + 1 GB × $0.0025 + 1 day of STANDARD.
        close(
            monthly_access(&p, &DeepArchive, GIB, 1.0, RestoreTier::Bulk).unwrap(),
            0.0004 / 1000.0 + 0.025 / 1000.0 + 0.0025 + 0.023 / 30.0,
        );
        let unavailable = CostError::RestoreTierUnavailable {
            class: DeepArchive,
            tier: RestoreTier::Expedited,
        };
        assert_eq!(
            monthly_access(&p, &DeepArchive, GIB, 1.0, RestoreTier::Expedited),
            Err(unavailable.clone())
        );
        assert_eq!(
            monthly_cost(&p, &DeepArchive, GIB, 0.0, RestoreTier::Expedited),
            Err(unavailable.clone())
        );
        let mut m = mv(DeepArchive, Standard, GIB, Method::Copy);
        m.restore_tier = RestoreTier::Expedited;
        assert_eq!(one_time_cost(&p, &m), Err(unavailable.clone()));
        assert_eq!(
            unavailable.to_string(),
            "restore tier `expedited` is not available for `DEEP_ARCHIVE`"
        );
        // Non-archive classes ignore the tier.
        assert!(monthly_access(&p, &StandardIa, GIB, 1.0, RestoreTier::Expedited).is_ok());
    }

    #[test]
    fn monthly_cost_adds_up() {
        let p = prices();
        // 10 GiB in STANDARD_IA, 3 pulls: storage 10 × 0.0125 = 0.125; requests 3 × 0.001/1000
        // = 0.000003; retrieval 3 × 10 × 0.01 = 0.3.
        let c = monthly_cost(&p, &StandardIa, 10 * GIB, 3.0, RestoreTier::Standard).unwrap();
        close(c.storage, 0.125);
        close(c.requests, 0.000003);
        close(c.retrieval, 0.3);
        close(c.total, 0.425003);
    }

    // ---- Intelligent-Tiering ----------------------------------------------------------------

    #[test]
    fn intelligent_tiering_monitoring_threshold_is_128_kib() {
        let p = prices();
        let below = 128 * KIB - 1;
        let at = 128 * KIB;
        // Below 128 KiB: no fee and Frequent Access even after a year without access.
        close(
            intelligent_tiering_monthly(&p, below, Some(365), 0.0),
            below as f64 / 1_073_741_824.0 * 0.023,
        );
        // At 128 KiB: monitored ($0.0025/1000 objects) and tiered down (Archive Instant $0.004).
        close(
            intelligent_tiering_monthly(&p, at, Some(365), 0.0),
            0.004 / 8192.0 + 0.0025 / 1000.0,
        );
        close(
            intelligent_tiering_monthly(&p, at, Some(0), 0.0),
            0.023 / 8192.0 + 0.0025 / 1000.0,
        );
    }

    #[test]
    fn intelligent_tiering_tiers_by_days_since_access() {
        let p = prices();
        let fee = 0.0025 / 1000.0;
        let it = |days| intelligent_tiering_monthly(&p, GIB, days, 0.0);
        close(it(Some(0)), 0.023 + fee);
        close(it(Some(29)), 0.023 + fee);
        close(it(Some(30)), 0.0125 + fee);
        close(it(Some(89)), 0.0125 + fee);
        close(it(Some(90)), 0.004 + fee);
        close(it(Some(10_000)), 0.004 + fee);
        // Unknown: billed at the highest (Frequent) rate.
        close(it(None), 0.023 + fee);
        // GETs are requests only: 100 × $0.0004/1000 = $0.00004.
        close(
            intelligent_tiering_monthly(&p, GIB, Some(90), 100.0),
            0.004 + fee + 0.00004,
        );
    }

    #[test]
    fn intelligent_tiering_steady_state() {
        let p = prices();
        let fee = 0.0025 / 1000.0;
        // No pulls: Archive Instant.
        close(
            intelligent_tiering_steady_monthly(&p, GIB, 0.0),
            0.004 + fee,
        );
        // 1 pull a month (every 30 days): always Frequent. Plus the GET.
        close(
            intelligent_tiering_steady_monthly(&p, GIB, 1.0),
            0.023 + fee + 0.0004 / 1000.0,
        );
        // 1 pull every 60 days (0.5 / month): 30 days Frequent + 30 days Infrequent:
        // (30 × 0.023 + 30 × 0.0125) / 60 = 0.01775.
        close(
            intelligent_tiering_steady_monthly(&p, GIB, 0.5),
            0.01775 + fee + 0.5 * 0.0004 / 1000.0,
        );
        // 1 pull every 150 days (0.2 / month): 30 F + 60 I + 60 AI:
        // (30 × 0.023 + 60 × 0.0125 + 60 × 0.004) / 150 = 0.0112.
        let c = monthly_cost(&p, &IntelligentTiering, GIB, 0.2, RestoreTier::Standard).unwrap();
        close(c.storage, 0.0112 + fee);
        close(c.retrieval, 0.0);
        // Small objects: Frequent, no fee, whatever the pulls.
        close(
            monthly_cost(
                &p,
                &IntelligentTiering,
                64 * KIB,
                0.0,
                RestoreTier::Standard,
            )
            .unwrap()
            .storage,
            0.023 / 16384.0,
        );
    }

    // ---- one-time costs -----------------------------------------------------------------------

    #[test]
    fn early_deletion_is_prorated() {
        let p = prices();
        // 1 GiB in STANDARD_IA for 10 days, moved to GLACIER_IR: 30 − 10 = 20 days of IA storage
        // are still owed: 20 × $0.0125 / 30 = $0.0083333...
        let mut m = mv(StandardIa, GlacierIr, GIB, Method::Lifecycle);
        m.days_in_current_class = 10;
        let o = one_time_cost(&p, &m).unwrap();
        close(o.parts.early_delete, 20.0 * 0.0125 / 30.0);
        // Lifecycle: transition into GLACIER_IR $0.02/1000; tagging = one PUT at the IA price
        // ($0.01/1000) + one tag for a month ($0.01/10000).
        close(o.parts.transition, 0.00002);
        close(o.parts.tagging, 0.00001 + 0.000001);
        close(o.total, 20.0 * 0.0125 / 30.0 + 0.00002 + 0.000011);
        // Past the minimum: nothing owed.
        m.days_in_current_class = 30;
        assert_eq!(one_time_cost(&p, &m).unwrap().parts.early_delete, 0.0);
        // The minimum counts the class's billed size: a 10 KiB IA object owes 20 days of 128 KiB.
        m.days_in_current_class = 10;
        m.size = 10 * KIB;
        close(
            one_time_cost(&p, &m).unwrap().parts.early_delete,
            20.0 * 0.0125 / 8192.0 / 30.0,
        );
        // DEEP_ARCHIVE keeps 180 days: 1 GiB after 30 days owes 150 days of its storage.
        let mut m = mv(DeepArchive, Standard, GIB, Method::Copy);
        m.days_in_current_class = 30;
        close(
            one_time_cost(&p, &m).unwrap().parts.early_delete,
            150.0 * storage(&p, DeepArchive, GIB) / 30.0,
        );
    }

    #[test]
    fn lifecycle_versus_copy() {
        let p = prices();
        // STANDARD_IA → GLACIER_IR, 1 GiB, 10 days in class, unversioned.
        let mut m = mv(StandardIa, GlacierIr, GIB, Method::Lifecycle);
        m.days_in_current_class = 10;
        let early = 20.0 * 0.0125 / 30.0;
        let lifecycle = one_time_cost(&p, &m).unwrap();
        // Lifecycle: transition $0.00002 + tagging $0.000011 + early deletion; no retrieval.
        assert_eq!(lifecycle.parts.retrieval, 0.0);
        close(lifecycle.total, 0.00002 + 0.000011 + early);
        // Copy: COPY at the GLACIER_IR PUT price ($0.02/1000) + IA retrieval of 1 GB ($0.01)
        // + the same early deletion; no tagging.
        m.method = Method::Copy;
        let copy = one_time_cost(&p, &m).unwrap();
        assert_eq!(
            copy,
            OneTime {
                parts: OneTimeBreakdown {
                    transition: 0.02 / 1000.0,
                    early_delete: early,
                    retrieval: 0.01 * 1.0,
                    ..OneTimeBreakdown::default()
                },
                total: copy.total,
            }
        );
        close(copy.total, 0.00002 + 0.01 + early);
        assert!(copy.total > lifecycle.total);

        // STANDARD → DEEP_ARCHIVE: lifecycle $0.05/1000 + tagging (STANDARD PUT $0.005/1000 +
        // tag $0.000001) = $0.000056; copy = COPY at the DA PUT price $0.05/1000 = $0.00005.
        let lifecycle =
            one_time_cost(&p, &mv(Standard, DeepArchive, GIB, Method::Lifecycle)).unwrap();
        close(lifecycle.total, 0.000056);
        let copy = one_time_cost(&p, &mv(Standard, DeepArchive, GIB, Method::Copy)).unwrap();
        close(copy.total, 0.00005);
    }

    #[test]
    fn copy_out_of_glacier_pays_a_restore() {
        let p = prices();
        // GLACIER → STANDARD, 1 GiB, Standard tier: COPY at the STANDARD PUT price
        // ($0.005/1000) + restore ($0.05/1000 + $0.01/GB) + 1 day of STANDARD for the copy.
        let o = one_time_cost(&p, &mv(Glacier, Standard, GIB, Method::Copy)).unwrap();
        close(o.parts.transition, 0.000005);
        close(o.parts.restore, 0.00005 + 0.01 + 0.023 / 30.0);
        assert_eq!(o.parts.retrieval, 0.0);
        // Bulk: only the temporary copy.
        let mut m = mv(Glacier, Standard, GIB, Method::Copy);
        m.restore_tier = RestoreTier::Bulk;
        close(one_time_cost(&p, &m).unwrap().parts.restore, 0.023 / 30.0);
        // Lifecycle GLACIER → DEEP_ARCHIVE needs no restore.
        let o = one_time_cost(&p, &mv(Glacier, DeepArchive, GIB, Method::Lifecycle)).unwrap();
        assert_eq!(o.parts.restore, 0.0);
        close(o.parts.transition, 0.00005);
    }

    #[test]
    fn versioned_copy_counts_the_old_version() {
        let p = prices();
        // 1 GiB STANDARD_IA, 10 days in class, copied to GLACIER_IR in a versioned bucket whose
        // noncurrent versions expire after 7 days: the old version is billed 7 more days of IA
        // ($0.0125 × 7/30), and its deletion then owes the remaining 30 − 10 − 7 = 13 days.
        let mut m = mv(StandardIa, GlacierIr, GIB, Method::Copy);
        m.days_in_current_class = 10;
        m.versioned = true;
        m.noncurrent_retention_days = 7;
        let o = one_time_cost(&p, &m).unwrap();
        close(o.parts.old_version, 0.0125 * 7.0 / 30.0);
        close(o.parts.early_delete, 0.0125 * 13.0 / 30.0);
        // Kept 60 days: 60 days billed, nothing early.
        m.noncurrent_retention_days = 60;
        let o = one_time_cost(&p, &m).unwrap();
        close(o.parts.old_version, 0.0125 * 60.0 / 30.0);
        assert_eq!(o.parts.early_delete, 0.0);
        // Retention 0 (deleted at once): only early deletion, like an unversioned bucket.
        m.noncurrent_retention_days = 0;
        let o = one_time_cost(&p, &m).unwrap();
        assert_eq!(o.parts.old_version, 0.0);
        close(o.parts.early_delete, 0.0125 * 20.0 / 30.0);
        // Unversioned buckets ignore the retention.
        m.versioned = false;
        m.noncurrent_retention_days = 60;
        assert_eq!(one_time_cost(&p, &m).unwrap().parts.old_version, 0.0);
        // Lifecycle changes the class in place: no old version even in a versioned bucket.
        m.versioned = true;
        m.method = Method::Lifecycle;
        assert_eq!(one_time_cost(&p, &m).unwrap().parts.old_version, 0.0);
        // An archived old version is billed with its overhead: 1 GiB GLACIER kept 30 days =
        // one month of monthly_storage(GLACIER, 1 GiB).
        let mut m = mv(Glacier, Standard, GIB, Method::Copy);
        m.versioned = true;
        m.noncurrent_retention_days = 30;
        close(
            one_time_cost(&p, &m).unwrap().parts.old_version,
            0.0036 + 0.0036 / 32768.0 + 0.023 / 131072.0,
        );
    }

    #[test]
    fn min_days_per_class() {
        let p = prices();
        let days: Vec<u32> = StorageClass::MANAGED
            .iter()
            .map(|c| min_days(&p, c).unwrap())
            .collect();
        // STANDARD, IT, STANDARD_IA, ONEZONE_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE.
        assert_eq!(days, [0, 0, 30, 30, 90, 90, 180]);
    }

    #[test]
    fn impossible_moves_are_errors() {
        let p = prices();
        assert_eq!(
            one_time_cost(&p, &mv(Glacier, Glacier, GIB, Method::Copy)),
            Err(CostError::SameClass { class: Glacier })
        );
        for (from, to) in [
            (Glacier, Standard),
            (DeepArchive, Glacier),
            (IntelligentTiering, StandardIa),
            (OnezoneIa, GlacierIr),
        ] {
            let unsupported = CostError::UnsupportedTransition {
                from: from.clone(),
                to: to.clone(),
            };
            let lifecycle = mv(from.clone(), to.clone(), GIB, Method::Lifecycle);
            assert_eq!(
                one_time_cost(&p, &lifecycle),
                Err(unsupported),
                "{from} -> {to}"
            );
            // A copy can do any of them.
            assert!(one_time_cost(&p, &mv(from, to, GIB, Method::Copy)).is_ok());
        }
    }

    /// Classes outside the price table are never priced: no cost, no move, a typed error.
    #[test]
    fn unpriced_classes_are_errors() {
        let p = prices();
        for class in [
            ReducedRedundancy,
            Outposts,
            ExpressOnezone,
            StorageClass::from("GLACIER_DEEP"),
        ] {
            let unpriced = CostError::Unpriced {
                class: class.clone(),
            };
            assert_eq!(monthly_storage(&p, &class, GIB), Err(unpriced.clone()));
            assert_eq!(
                monthly_access(&p, &class, GIB, 1.0, RestoreTier::Bulk),
                Err(unpriced.clone())
            );
            assert_eq!(min_days(&p, &class), Err(unpriced));
            assert!(monthly_cost(&p, &class, GIB, 1.0, RestoreTier::Bulk).is_err());
            assert!(moves_down(&p, &class, &GlacierIr, GIB).is_err());
            for method in Method::ALL {
                let from = mv(class.clone(), GlacierIr, GIB, method);
                let to = mv(Standard, class.clone(), GIB, method);
                for m in [from, to] {
                    assert!(
                        matches!(one_time_cost(&p, &m), Err(CostError::Unpriced { .. })),
                        "{m:?}"
                    );
                    assert!(evaluate(&p, &m, 0.0, 12).is_err(), "{m:?}");
                }
            }
        }
        assert_eq!(
            CostError::Unpriced {
                class: StorageClass::from("GLACIER_DEEP")
            }
            .to_string(),
            "storage class `GLACIER_DEEP` is not priced"
        );
    }

    // ---- evaluate -------------------------------------------------------------------------

    #[test]
    fn payback_and_net_savings() {
        let p = prices();
        // 10 GiB STANDARD_IA, just moved in (0 days), no pulls, copied to GLACIER_IR.
        // one-time: COPY $0.00002 + retrieval 10 × $0.01 = $0.1 + early 30 days × 10 × 0.0125/30
        //           = $0.125  → $0.22502
        // monthly:  now 10 × 0.0125 = $0.125, after 10 × 0.004 = $0.04 → saving $0.085
        // payback:  0.22502 / (0.085 / 30) = 79.4188... days
        // net(12):  0.085 × 12 − 0.22502 = $0.79498
        let mut m = mv(StandardIa, GlacierIr, 10 * GIB, Method::Copy);
        m.days_in_current_class = 0;
        let e = evaluate(&p, &m, 0.0, 12).unwrap();
        close(e.one_time.total, 0.22502);
        close(e.monthly_now, 0.125);
        close(e.monthly_after, 0.04);
        close(e.breakdown_now.storage, 0.125);
        close(e.breakdown_after.storage, 0.04);
        close(e.monthly_saving, 0.085);
        close(e.payback_days.unwrap(), 0.22502 / (0.085 / 30.0));
        close(e.payback_days.unwrap(), 79.418_823_529_411_76);
        assert_eq!(e.horizon_months, 12);
        close(e.net_savings_horizon, 0.79498);
        close(e.net_savings(12), 0.79498);
        // Over 2 months it does not pay: 0.17 − 0.22502 = −0.05502.
        close(e.net_savings(2), -0.05502);
        close(
            evaluate(&p, &m, 0.0, 2).unwrap().net_savings_horizon,
            -0.05502,
        );
    }

    #[test]
    fn no_payback_without_saving() {
        let p = prices();
        // GLACIER_IR → STANDARD costs more per month when idle: no payback.
        let e = evaluate(&p, &mv(GlacierIr, Standard, GIB, Method::Copy), 0.0, 12).unwrap();
        assert!(e.monthly_saving < 0.0);
        assert_eq!(e.payback_days, None);
        // ...but pays back when the blob is hot: 100 pulls of 1 GiB cost 100 × $0.03 in
        // retrieval in GLACIER_IR.
        let e = evaluate(&p, &mv(GlacierIr, Standard, GIB, Method::Copy), 100.0, 12).unwrap();
        assert!(e.monthly_saving > 2.9);
        assert!(e.payback_days.unwrap() < 1.0);
        // Tiny objects cost more in STANDARD_IA (billed as 128 KiB): no payback either.
        let e = evaluate(&p, &mv(Standard, StandardIa, KIB, Method::Copy), 0.0, 12).unwrap();
        assert!(e.monthly_saving < 0.0);
        assert_eq!(e.payback_days, None);
        assert!(e.net_savings_horizon < 0.0);
    }

    // ---- properties -----------------------------------------------------------------------

    fn any_class() -> impl Strategy<Value = StorageClass> {
        prop::sample::select(StorageClass::MANAGED.to_vec())
    }

    fn any_tier() -> impl Strategy<Value = RestoreTier> {
        prop::sample::select(RestoreTier::ALL.to_vec())
    }

    fn any_method() -> impl Strategy<Value = Method> {
        prop::sample::select(Method::ALL.to_vec())
    }

    prop_compose! {
        fn any_move()(
            from in any_class(),
            to in any_class(),
            size in 0u64..(64 * GIB),
            days_in_current_class in 0u32..400,
            versioned in any::<bool>(),
            noncurrent_retention_days in 0u32..400,
            method in any_method(),
            restore_tier in any_tier(),
            restore_days in 1u32..30,
        ) -> MoveInput {
            MoveInput { from, to, size, days_in_current_class, versioned,
                        noncurrent_retention_days, method, restore_tier, restore_days }
        }
    }

    proptest! {
        #[test]
        fn storage_is_monotone_in_size(class in any_class(), a in any::<u64>(), b in any::<u64>()) {
            let p = prices();
            let (small, large) = (a.min(b), a.max(b));
            prop_assert!(storage(&p, class.clone(), small) <= storage(&p, class, large));
        }

        #[test]
        fn monthly_cost_is_monotone_in_size(
            class in any_class(),
            a in 0u64..(1 << 50),
            b in 0u64..(1 << 50),
            gets in 0.0f64..1e4,
        ) {
            let p = prices();
            let (small, large) = (a.min(b), a.max(b));
            let tier = RestoreTier::Standard;
            let lo = monthly_cost(&p, &class, small, gets, tier).unwrap();
            let hi = monthly_cost(&p, &class, large, gets, tier).unwrap();
            prop_assert!(lo.total <= hi.total, "{lo:?} > {hi:?}");
        }

        #[test]
        fn one_time_cost_is_never_negative(m in any_move()) {
            let p = prices();
            match one_time_cost(&p, &m) {
                Ok(o) => {
                    for part in [o.parts.transition, o.parts.early_delete, o.parts.restore, o.parts.retrieval,
                                 o.parts.old_version, o.parts.tagging] {
                        prop_assert!(part >= 0.0 && part.is_finite(), "{o:?}");
                    }
                    prop_assert!(o.total > 0.0, "every move costs at least a request: {o:?}");
                }
                Err(CostError::SameClass { .. }) => prop_assert_eq!(m.from, m.to),
                Err(CostError::UnsupportedTransition { .. }) => {
                    prop_assert_eq!(m.method, Method::Lifecycle);
                    prop_assert!(!m.from.can_lifecycle_to(&m.to));
                }
                Err(CostError::RestoreTierUnavailable { class, tier }) => {
                    prop_assert_eq!((class, tier), (DeepArchive, RestoreTier::Expedited));
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }

        #[test]
        fn net_savings_is_saving_times_horizon_minus_one_time(
            m in any_move(),
            gets in 0.0f64..1e3,
            horizon in 0u32..120,
        ) {
            let p = prices();
            if let Ok(e) = evaluate(&p, &m, gets, horizon) {
                let expected = e.monthly_saving * f64::from(horizon) - e.one_time.total;
                close_enough(e.net_savings_horizon, expected)?;
                close_enough(e.net_savings(horizon), expected)?;
                close_enough(e.net_savings(0), -e.one_time.total)?;
                close_enough(e.monthly_saving, e.monthly_now - e.monthly_after)?;
                prop_assert_eq!(e.monthly_now, e.breakdown_now.total);
                prop_assert_eq!(e.monthly_after, e.breakdown_after.total);
                match e.payback_days {
                    Some(days) => {
                        prop_assert!(e.monthly_saving > 0.0 && days >= 0.0);
                        // After the payback period the move has paid for itself.
                        let at_payback = e.monthly_saving * days / 30.0 - e.one_time.total;
                        prop_assert!(at_payback.abs() <= 1e-9 * (1.0 + e.one_time.total));
                    }
                    None => prop_assert!(e.monthly_saving <= 0.0),
                }
            }
        }
    }

    fn close_enough(a: f64, b: f64) -> std::result::Result<(), TestCaseError> {
        prop_assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} != {b}");
        Ok(())
    }
}
