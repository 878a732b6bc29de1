//! The stats windows: which lists of window lengths the pipeline can use. `digest_stats` has
//! one `pulls_Nd`, `unique_clients_Nd` and `unique_pull_ratio_Nd` column per window N, and the
//! plan reads `pulls_7d`, `pulls_30d` and `pulls_90d`, so a usable list holds at least
//! [`PLAN_WINDOWS`]. This is the one definition: `stats --windows`, `run.windows` in the
//! config, the tier-rule check and the plan all go through [`Windows::new`].
//!
//! Invariant: a [`Windows`] is sorted, without duplicates, every length in
//! `1..=`[`MAX_WINDOW_DAYS`], and contains every [`PLAN_WINDOWS`] length. No I/O.

use std::fmt;

/// The windows the plan reads (`pulls_7d`, `pulls_30d`, `pulls_90d`).
pub const PLAN_WINDOWS: [u32; 3] = [7, 30, 90];

/// The longest window accepted, in days (ten years).
pub const MAX_WINDOW_DAYS: u32 = 3660;

/// A list of window lengths the plan can use (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows(Vec<u32>);

/// Why a list of windows cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowsError {
    /// Empty, 0, or longer than [`MAX_WINDOW_DAYS`].
    #[error("expected day counts between 1 and {MAX_WINDOW_DAYS}, got {0:?}")]
    OutOfRange(Vec<u32>),
    /// A window of [`PLAN_WINDOWS`] is missing.
    #[error("expected a list that includes 7, 30 and 90 (the windows the plan reads), got {given:?}: add {missing:?}")]
    MissingPlanWindows {
        /// The list as given.
        given: Vec<u32>,
        /// The plan windows it lacks.
        missing: Vec<u32>,
    },
}

impl Windows {
    /// Checks `days` and normalises it (sorted, duplicates removed).
    pub fn new(days: &[u32]) -> Result<Windows, WindowsError> {
        if days.is_empty() || days.iter().any(|&w| w == 0 || w > MAX_WINDOW_DAYS) {
            return Err(WindowsError::OutOfRange(days.to_vec()));
        }
        let missing: Vec<u32> = PLAN_WINDOWS
            .into_iter()
            .filter(|w| !days.contains(w))
            .collect();
        if !missing.is_empty() {
            return Err(WindowsError::MissingPlanWindows {
                given: days.to_vec(),
                missing,
            });
        }
        let mut v = days.to_vec();
        v.sort_unstable();
        v.dedup();
        Ok(Windows(v))
    }

    /// The plan's own windows, 7, 30 and 90 days (the default).
    pub fn plan() -> Windows {
        Windows(PLAN_WINDOWS.to_vec())
    }

    /// The lengths, ascending.
    pub fn days(&self) -> &[u32] {
        &self.0
    }

    /// The longest window.
    pub fn longest(&self) -> u32 {
        self.0.last().copied().unwrap_or(PLAN_WINDOWS[2])
    }
}

impl Default for Windows {
    fn default() -> Self {
        Windows::plan()
    }
}

impl fmt::Display for Windows {
    /// `7,30,90`: the form `--windows` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&days.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_lists_are_normalised() {
        let w = Windows::new(&[120, 1, 7, 14, 30, 7, 60, 90]).unwrap();
        assert_eq!(w.days(), [1, 7, 14, 30, 60, 90, 120]);
        assert_eq!(w.longest(), 120);
        assert_eq!(w.to_string(), "1,7,14,30,60,90,120");
        assert_eq!(Windows::new(&[90, 30, 7]).unwrap(), Windows::plan());
        assert_eq!(Windows::default().longest(), 90);
        assert_eq!(
            Windows::new(&[7, 30, 90, MAX_WINDOW_DAYS])
                .unwrap()
                .longest(),
            MAX_WINDOW_DAYS
        );
    }

    #[test]
    fn lists_the_plan_cannot_use_are_rejected() {
        for bad in [&[][..], &[0, 7, 30, 90], &[7, 30, 90, 3661]] {
            assert_eq!(
                Windows::new(bad),
                Err(WindowsError::OutOfRange(bad.to_vec()))
            );
        }
        for (bad, missing) in [
            (&[7][..], &[30, 90][..]),
            (&[7, 7], &[30, 90]),
            (&[1, 30, 90], &[7]),
            (&[7, 30, 120], &[90]),
        ] {
            assert_eq!(
                Windows::new(bad),
                Err(WindowsError::MissingPlanWindows {
                    given: bad.to_vec(),
                    missing: missing.to_vec()
                })
            );
        }
        let e = Windows::new(&[7, 7]).unwrap_err().to_string();
        assert_eq!(
            e,
            "expected a list that includes 7, 30 and 90 (the windows the plan reads), got [7, 7]: add [30, 90]"
        );
    }
}
