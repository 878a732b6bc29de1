//! The run-wide adaptive request pacer: every S3 request of a run reserves a slot, and when
//! S3 throttles (503 `SlowDown`, 429) the pacer lowers the whole run's rate, then raises it
//! again additively while nothing is throttled (CUBIC's multiplicative decrease, as in the
//! SDK's adaptive mode, but counted and logged by us).
//!
//! Invariants: without a throttle and without a cap it never delays anything; it never goes
//! below `min_rps`. It takes the current time as an argument, so its dynamics are tested
//! without sleeping. It must not sleep or classify errors itself: callers sleep for the
//! returned wait and report successes and throttles ([`super::classify`] decides which is which).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Adaptive pacing parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacerConfig {
    /// Hard cap on requests per second (`--max-rps`); `None` = no cap.
    pub max_rps: Option<f64>,
    /// The pacer never goes below this. Default 1 request/s.
    pub min_rps: f64,
    /// Multiplicative decrease on a throttle. Default 0.7 (CUBIC's beta, as in the SDK's
    /// adaptive mode).
    pub decrease: f64,
    /// At most one decrease per cooldown, so that a burst of throttles answering requests that
    /// were already in flight counts once. Default 1 s.
    pub cooldown: Duration,
    /// Additive increase of the limit per successful request. Default 0.5: at the limit the
    /// rate grows by about half per second while nothing is throttled.
    pub increase_per_success: f64,
}

impl Default for PacerConfig {
    fn default() -> Self {
        PacerConfig {
            max_rps: None,
            min_rps: 1.0,
            decrease: 0.7,
            cooldown: Duration::from_secs(1),
            increase_per_success: 0.5,
        }
    }
}

#[derive(Debug)]
struct PacerState {
    /// Adaptive limit; `None` until the first throttle, and again once it stops binding.
    limit: Option<f64>,
    next_slot: Option<Instant>,
    last_decrease: Option<Instant>,
    /// Start times of recent requests, to measure the rate when the first throttle comes.
    recent: VecDeque<Instant>,
    throttles: u64,
    decreases: u64,
}

/// The run-wide request pacer: every S3 request reserves a slot. Without throttling and
/// without `--max-rps` it never delays anything.
#[derive(Debug)]
pub struct Pacer {
    cfg: PacerConfig,
    state: Mutex<PacerState>,
}

const RECENT: usize = 256;

impl Pacer {
    /// A pacer.
    pub fn new(cfg: PacerConfig) -> Self {
        Pacer {
            cfg,
            state: Mutex::new(PacerState {
                limit: None,
                next_slot: None,
                last_decrease: None,
                recent: VecDeque::with_capacity(RECENT),
                throttles: 0,
                decreases: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn effective(&self, s: &PacerState) -> Option<f64> {
        match (s.limit, self.cfg.max_rps) {
            (Some(l), Some(m)) => Some(l.min(m)),
            (l, m) => l.or(m),
        }
    }

    /// Reserves a slot for a request starting at `now`; returns how long to wait first.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut s = self.lock();
        let wait = match self.effective(&s) {
            None => Duration::ZERO,
            Some(rate) => {
                let slot = s.next_slot.map_or(now, |n| n.max(now));
                s.next_slot = Some(slot + Duration::from_secs_f64(1.0 / rate));
                slot - now
            }
        };
        if s.recent.len() == RECENT {
            s.recent.pop_front();
        }
        s.recent.push_back(now + wait);
        wait
    }

    fn measured_rate(s: &PacerState, now: Instant) -> Option<f64> {
        let first = *s.recent.front()?;
        let span = now.saturating_duration_since(first).as_secs_f64();
        (s.recent.len() >= 2 && span > 0.0).then(|| s.recent.len() as f64 / span)
    }

    /// A request succeeded: raise the limit additively.
    pub fn on_success(&self, now: Instant) {
        let mut s = self.lock();
        if let Some(l) = s.limit {
            let l = l + self.cfg.increase_per_success;
            // Once the limit is twice what the run actually does, it no longer binds.
            let unbound = Self::measured_rate(&s, now).is_some_and(|m| l > 2.0 * m);
            s.limit = if unbound { None } else { Some(l) };
        }
    }

    /// S3 throttled a request: lower the limit (at most once per cooldown).
    pub fn on_throttle(&self, now: Instant) {
        let mut s = self.lock();
        s.throttles += 1;
        if s.last_decrease
            .is_some_and(|t| now.saturating_duration_since(t) < self.cfg.cooldown)
        {
            return;
        }
        let current = self
            .effective(&s)
            .or_else(|| Self::measured_rate(&s, now))
            .unwrap_or(self.cfg.min_rps * 10.0);
        s.limit = Some((current * self.cfg.decrease).max(self.cfg.min_rps));
        s.last_decrease = Some(now);
        s.decreases += 1;
    }

    /// The current adaptive limit (`None` = not limiting).
    pub fn limit(&self) -> Option<f64> {
        let s = self.lock();
        self.effective(&s)
    }

    /// (throttles seen, decreases made).
    pub fn throttle_counts(&self) -> (u64, u64) {
        let s = self.lock();
        (s.throttles, s.decreases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_is_free_until_throttled_then_paces_and_recovers() {
        let p = Pacer::new(PacerConfig::default());
        let t0 = Instant::now();
        // 100 requests over one second: no waits.
        for i in 0..100 {
            assert_eq!(
                p.reserve(t0 + Duration::from_millis(i * 10)),
                Duration::ZERO
            );
        }
        let t1 = t0 + Duration::from_secs(1);
        p.on_throttle(t1);
        let limit = p.limit().unwrap();
        // Measured about 100/s, so the limit is about 70/s.
        assert!((60.0..80.0).contains(&limit), "{limit}");
        // A burst of throttles within the cooldown counts once.
        for i in 0..10 {
            p.on_throttle(t1 + Duration::from_millis(i * 50));
        }
        assert_eq!(p.limit().unwrap(), limit);
        assert_eq!(p.throttle_counts(), (11, 1));
        // Now requests are spaced 1/limit apart.
        let w1 = p.reserve(t1);
        let w2 = p.reserve(t1);
        assert_eq!(w1, Duration::ZERO);
        let gap = w2.as_secs_f64();
        assert!((gap - 1.0 / limit).abs() < 1e-6, "{gap}");
        // Another throttle after the cooldown lowers it again.
        p.on_throttle(t1 + Duration::from_secs(2));
        assert!((p.limit().unwrap() - limit * 0.7).abs() < 1e-9);
        // Successes raise it additively.
        let before = p.limit().unwrap();
        for _ in 0..10 {
            p.on_success(t1 + Duration::from_secs(2));
        }
        assert!((p.limit().unwrap() - (before + 5.0)).abs() < 1e-9);
    }

    #[test]
    fn pacer_respects_cap_and_floor() {
        let p = Pacer::new(PacerConfig {
            max_rps: Some(10.0),
            min_rps: 2.0,
            ..Default::default()
        });
        let t0 = Instant::now();
        assert_eq!(p.limit(), Some(10.0));
        assert_eq!(p.reserve(t0), Duration::ZERO);
        assert_eq!(p.reserve(t0), Duration::from_millis(100));
        for i in 0..20 {
            p.on_throttle(t0 + Duration::from_secs(2 * i));
        }
        assert_eq!(p.limit(), Some(2.0));
        for _ in 0..1000 {
            p.on_success(t0);
        }
        assert_eq!(p.limit(), Some(10.0));
    }
}
