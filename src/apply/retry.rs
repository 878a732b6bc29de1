//! Retry mechanics: decorrelated-jitter backoff with a per-action time budget, and the global
//! adaptive pacer that slows every S3 request of a run down when S3 throttles.
//!
//! This is the only retry layer: the SDK's retries are off (`RetryConfig::disabled()`), so every
//! attempt is counted and logged. What to retry is decided by `classify.rs`; this module only
//! decides *when*. The random source is injected ([`Rng`]) so that tests are deterministic
//! (object_store `backoff.rs`), and the pacer takes the current time as an argument so that its
//! dynamics are tested without sleeping.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A source of uniform random numbers.
pub trait Rng: Send {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// SplitMix64: small, fast, good enough for jitter (not for secrets).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl Rng for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A seed that differs between processes and calls (time and pid mixed).
pub fn seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut m =
        SplitMix64(t ^ (u64::from(std::process::id()) << 32) ^ N.fetch_add(1, Ordering::Relaxed));
    m.next_u64()
}

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// First delay and lower bound of every delay. Default 100 ms.
    pub init: Duration,
    /// Upper bound of a delay. Default 20 s (the SDK's `max_backoff`).
    pub max: Duration,
    /// Growth factor of the upper bound of the jitter range. Default 3.
    pub base: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            init: Duration::from_millis(100),
            max: Duration::from_secs(20),
            base: 3.0,
        }
    }
}

/// Decorrelated jitter (AWS architecture blog "Exponential Backoff And Jitter"):
/// `delay = min(max, uniform(init, prev * base))`, `prev` starting at `init`.
#[derive(Debug)]
pub struct Backoff<R: Rng> {
    cfg: BackoffConfig,
    prev: Duration,
    rng: R,
}

impl<R: Rng> Backoff<R> {
    /// A new sequence.
    pub fn new(cfg: BackoffConfig, rng: R) -> Self {
        Backoff {
            cfg,
            prev: cfg.init,
            rng,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let lo = self.cfg.init.as_secs_f64();
        let hi = (self.prev.as_secs_f64() * self.cfg.base).max(lo);
        let d = lo + self.rng.next_f64() * (hi - lo);
        let d = Duration::from_secs_f64(d.min(self.cfg.max.as_secs_f64()));
        self.prev = d;
        d
    }
}

/// A per-action retry budget: no retry may start after `started + budget`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// A budget of `budget` from `now`.
    pub fn new(now: Instant, budget: Duration) -> Self {
        Budget {
            deadline: now + budget,
        }
    }

    /// Whether a retry after sleeping `delay` from `now` still fits.
    pub fn allows(&self, now: Instant, delay: Duration) -> bool {
        now + delay <= self.deadline
    }
}

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

    /// A fixed sequence of values in `[0, 1)` (object_store's `FixedRng`).
    struct Fixed(Vec<f64>, usize);
    impl Rng for Fixed {
        fn next_u64(&mut self) -> u64 {
            unreachable!()
        }
        fn next_f64(&mut self) -> f64 {
            let v = self.0[self.1 % self.0.len()];
            self.1 += 1;
            v
        }
    }

    #[test]
    fn decorrelated_jitter_sequence() {
        let cfg = BackoffConfig {
            init: Duration::from_millis(100),
            max: Duration::from_secs(2),
            base: 3.0,
        };
        // rng = 0.999: near the top of the range -> 0.2998, 0.8986, 2.0 (capped), 2.0
        let mut b = Backoff::new(cfg, Fixed(vec![0.999], 0));
        let got: Vec<u64> = (0..4).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(got, vec![299, 898, 2000, 2000]);
        // rng = 0: always init.
        let mut b = Backoff::new(cfg, Fixed(vec![0.0], 0));
        assert!((0..5).all(|_| b.next_delay() == Duration::from_millis(100)));
        // rng = 0.5: (0.1+0.3)/2 = 0.2, then uniform(0.1, 0.6) mid = 0.35, then (0.1+1.05)/2
        let mut b = Backoff::new(cfg, Fixed(vec![0.5], 0));
        let got: Vec<u64> = (0..3).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(got, vec![200, 350, 575]);
    }

    #[test]
    fn jitter_stays_in_bounds_with_a_real_rng() {
        let cfg = BackoffConfig::default();
        let mut b = Backoff::new(cfg, SplitMix64(42));
        for _ in 0..1000 {
            let d = b.next_delay();
            assert!(d >= cfg.init && d <= cfg.max, "{d:?}");
        }
        // Same seed, same sequence.
        let mut a = Backoff::new(cfg, SplitMix64(7));
        let mut c = Backoff::new(cfg, SplitMix64(7));
        assert!((0..50).all(|_| a.next_delay() == c.next_delay()));
    }

    #[test]
    fn budget() {
        let t0 = Instant::now();
        let b = Budget::new(t0, Duration::from_secs(10));
        assert!(b.allows(t0 + Duration::from_secs(9), Duration::from_secs(1)));
        assert!(!b.allows(t0 + Duration::from_secs(9), Duration::from_millis(1001)));
    }

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
