//! Expected pulls in the next 30 days, estimated from the pull counts of past windows.
//!
//! The estimator is a named, configurable choice ([`Estimator`]) so that a plan records which
//! one produced its numbers. Counts are pulls in the last 7, 30 and 90 days; the result is a
//! rate per 30 days (one cost-model month), not a whole number.

use std::fmt;
use std::str::FromStr;

use super::{CostError, Result};

/// How to turn past pull counts into expected pulls per 30 days.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum Estimator {
    /// `pulls_90d / 90 × 30`: the long-run rate; smooths out bursts (the default).
    #[default]
    #[serde(rename = "rate_90d")]
    Rate90d,
    /// `pulls_30d`: the last month as it was.
    #[serde(rename = "rate_30d")]
    Rate30d,
    /// `max(pulls_7d / 7 × 30, pulls_30d)`: reacts to a blob that has just become hot.
    #[serde(rename = "max_7d_30d")]
    Max7d30d,
}

impl Estimator {
    /// Every estimator.
    pub const ALL: [Estimator; 3] = [Estimator::Rate90d, Estimator::Rate30d, Estimator::Max7d30d];

    /// The name used in config and plans (`rate_90d`, `rate_30d`, `max_7d_30d`).
    pub fn as_str(self) -> &'static str {
        match self {
            Estimator::Rate90d => "rate_90d",
            Estimator::Rate30d => "rate_30d",
            Estimator::Max7d30d => "max_7d_30d",
        }
    }

    /// Expected pulls in the next 30 days; see [`expected_pulls_30d`].
    pub fn expected_pulls_30d(self, pulls_7d: f64, pulls_30d: f64, pulls_90d: f64) -> f64 {
        expected_pulls_30d(self, pulls_7d, pulls_30d, pulls_90d)
    }
}

impl fmt::Display for Estimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Estimator {
    type Err = CostError;

    fn from_str(s: &str) -> Result<Self> {
        Estimator::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| CostError::UnknownEstimator {
                value: s.to_owned(),
            })
    }
}

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
    fn names_round_trip() {
        for e in Estimator::ALL {
            assert_eq!(e.as_str().parse::<Estimator>().unwrap(), e);
            assert_eq!(e.to_string(), e.as_str());
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
        }
        assert_eq!(Estimator::default(), Estimator::Rate90d);
        let err = "ewma".parse::<Estimator>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown estimator `ewma`: expected one of `rate_90d`, `rate_30d`, `max_7d_30d`"
        );
    }

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
        assert_eq!(Estimator::Rate90d.expected_pulls_30d(0.0, 0.0, 9.0), 3.0);
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
