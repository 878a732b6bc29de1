//! Expected pulls in the next 30 days, estimated from the pull counts of past windows.
//!
//! The estimator is a named, configurable choice ([`Estimator`], in `model`) so that a plan
//! records which one produced its numbers. Counts are pulls in the last 7, 30 and 90 days; the result is a
//! rate per 30 days (one cost-model month), not a whole number.

use crate::model::Estimator;

/// Expected pulls in the next 30 days from the pulls of the last 7, 30 and 90 days. Counts are
/// `f64` so that any integer type (or an already-scaled count) can be passed; negative and NaN
/// counts count as 0.
pub fn expected_pulls_30d(est: Estimator, pulls_7d: f64, pulls_30d: f64, pulls_90d: f64) -> f64 {
    let count = |n: f64| if n > 0.0 { n } else { 0.0 };
    let (p7, p30, p90) = (count(pulls_7d), count(pulls_30d), count(pulls_90d));
    match est {
        Estimator::Rate90d => p90 / 90.0 * 30.0,
        Estimator::Rate30d => p30,
        Estimator::Max7d30d => (p7 / 7.0 * 30.0).max(p30),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates() {
        // 90 pulls in 90 days = 30 per 30 days; 30d and 7d counts are ignored.
        assert_eq!(
            expected_pulls_30d(Estimator::Rate90d, 50.0, 50.0, 90.0),
            30.0
        );
        // 0 pulls in 90 days.
        assert_eq!(expected_pulls_30d(Estimator::Rate90d, 0.0, 0.0, 0.0), 0.0);
        // 9 in 90 days = 3 per 30 days.
        assert_eq!(expected_pulls_30d(Estimator::Rate90d, 0.0, 0.0, 9.0), 3.0);
        assert_eq!(
            expected_pulls_30d(Estimator::Rate30d, 7.0, 12.0, 90.0),
            12.0
        );
        // 7 in the last 7 days = 30 per 30 days > 12.
        assert_eq!(
            expected_pulls_30d(Estimator::Max7d30d, 7.0, 12.0, 90.0),
            30.0
        );
        // 1 in the last 7 days = 30/7 ≈ 4.29 < 12.
        assert_eq!(
            expected_pulls_30d(Estimator::Max7d30d, 1.0, 12.0, 90.0),
            12.0
        );
        // Nonsense counts count as none.
        assert_eq!(
            expected_pulls_30d(Estimator::Max7d30d, -7.0, f64::NAN, 0.0),
            0.0
        );
    }
}
