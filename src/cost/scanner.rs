//! Reads by scanners (vulnerability scanners, mirrors checking layers): they do not make a blob
//! "used" (the plan leaves them out of the pulls its rules and safety nets read), but S3 bills
//! each of them like any GET: the request at the class's GET price and, for STANDARD_IA,
//! ONEZONE_IA and GLACIER_IR, the retrieval fee per GB. A scanner's GET of a GLACIER /
//! DEEP_ARCHIVE object without a restored copy fails (403 `InvalidObjectState`) and is billed as
//! a request only: scanners never restore. Pure.

use super::model::{MonthlyCost, MoveEval};
use super::{Prices, Result, BYTES_PER_GB, DAYS_PER_MONTH};
use crate::model::StorageClass;

/// Monthly (requests, retrieval) of `reads` scanner reads of one object of `size` bytes in
/// `class`.
pub fn parts(p: &Prices, class: &StorageClass, size: u64, reads: f64) -> Result<(f64, f64)> {
    let c = p.class(class)?;
    let reads = if reads > 0.0 { reads } else { 0.0 };
    let request = reads * c.get_per_1000 / 1000.0;
    if class.needs_restore() {
        return Ok((request, 0.0));
    }
    Ok((request, reads * size as f64 / BYTES_PER_GB * c.retrieval_gb))
}

/// Monthly cost of `reads` scanner reads ([`parts`], summed).
pub fn monthly(p: &Prices, class: &StorageClass, size: u64, reads: f64) -> Result<f64> {
    parts(p, class, size, reads).map(|(a, b)| a + b)
}

/// `c` with the scanners' (requests, retrieval) added.
fn add(c: &MonthlyCost, (requests, retrieval): (f64, f64)) -> MonthlyCost {
    MonthlyCost {
        requests: c.requests + requests,
        retrieval: c.retrieval + retrieval,
        total: c.total + requests + retrieval,
        ..*c
    }
}

/// `ev` with the scanners' reads added to both sides ([`parts`]: `now` in the current class,
/// `after` in the target class); the saving, payback and net savings follow.
pub fn with_reads(ev: &MoveEval, now: (f64, f64), after: (f64, f64)) -> MoveEval {
    let mut e = *ev;
    e.breakdown_now = add(&ev.breakdown_now, now);
    e.breakdown_after = add(&ev.breakdown_after, after);
    e.monthly_now = e.breakdown_now.total;
    e.monthly_after = e.breakdown_after.total;
    e.monthly_saving = e.monthly_now - e.monthly_after;
    e.payback_days =
        (e.monthly_saving > 0.0).then(|| e.one_time.total / (e.monthly_saving / DAYS_PER_MONTH));
    e.net_savings_horizon = e.net_savings(e.horizon_months);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_reads_by_class() {
        let p = Prices::builtin();
        let gib = 1u64 << 30;
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} != {b}");
        // us-east-1: STANDARD GET 0.0004/1000, no retrieval.
        close(
            monthly(&p, &StorageClass::Standard, gib, 30.0).unwrap(),
            30.0 * 0.0004 / 1000.0,
        );
        // GLACIER_IR: GET 0.01/1000 + 0.03/GB.
        close(
            monthly(&p, &StorageClass::GlacierIr, gib, 2.0).unwrap(),
            2.0 * (0.01 / 1000.0 + 0.03),
        );
        // GLACIER: the GET fails; no restore.
        close(
            monthly(&p, &StorageClass::Glacier, gib, 2.0).unwrap(),
            2.0 * 0.0004 / 1000.0,
        );
        assert!(monthly(&p, &StorageClass::Unknown("X".into()), gib, 1.0).is_err());
    }
}
