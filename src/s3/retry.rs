//! Retry mechanics: *when* to try a failed call again. Decorrelated-jitter backoff, a
//! per-action time budget, and the [`Retrier`] of one call: its loop ([`Retrier::run`]), which
//! every blocking user runs (ingest's reads, the image graph, the `s3://` lake), and the rule
//! for conditional writes, which are not idempotent ([`Retrier::write_conditional`]).
//!
//! This is the only retry layer: the SDK's retries are off ([`super::client::build`]), so every
//! attempt is counted and logged. What to retry is decided by [`super::classify`]; this module
//! only decides when. The random source is injected ([`Rng`]) so that tests are deterministic
//! (object_store `backoff.rs`). apply keeps its own action-level loop (every attempt re-checks
//! the object first) on the same [`Backoff`] and [`Budget`].
//!
//! Must not: retry a class other than `Retry` (an `Ambiguous` failure goes back to the caller,
//! or through [`Retrier::write_conditional`]'s read-back), classify errors itself, or log above
//! DEBUG (a retry is routine; callers count them).

use std::future::Future;
use std::time::{Duration, Instant};

use super::classify::{Class, RetryReason};
use super::CallError;

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

/// How many attempts one call gets and the delays between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. Default 5.
    pub attempts: u32,
    /// No retry starts later than this after the first attempt. Default none.
    pub budget: Option<Duration>,
    /// Delays. Default 100 ms, growing by up to 3x, at most 5 s.
    pub backoff: BackoffConfig,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            budget: None,
            backoff: BackoffConfig {
                init: Duration::from_millis(100),
                max: Duration::from_secs(5),
                base: 3.0,
            },
        }
    }
}

/// An error that may be a failed S3 call. The loops look only at the call; any other error
/// (a local file, a corrupt body) ends them at once.
pub trait AsCall {
    /// The failed call, if this is one.
    fn as_call(&self) -> Option<&CallError>;
}

impl AsCall for CallError {
    fn as_call(&self) -> Option<&CallError> {
        Some(self)
    }
}

impl AsCall for super::S3Error {
    fn as_call(&self) -> Option<&CallError> {
        Some(&self.call)
    }
}

/// What a retry loop tells before it sleeps: the error, why it is retried, the attempt that
/// failed (1-based) and the delay. The blocking users log ([`log_retry`]); apply counts.
pub type LogRetry = fn(&CallError, RetryReason, u32, Duration);

/// Logs a retry at DEBUG (the blocking users' default).
pub fn log_retry(e: &CallError, reason: RetryReason, attempt: u32, delay: Duration) {
    tracing::debug!(op = e.op, attempt, error_class = reason.as_str(), error_code = %e.code(), delay_ms = delay.as_millis() as u64, "retrying an S3 call");
}

/// What a conditional write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written<T> {
    /// The object holds what this writer wrote (by this attempt or an earlier one).
    Ours(T),
    /// The condition did not hold: another writer's object is there (or none is, for
    /// `If-Match`).
    ConditionFailed,
}

/// The retries of one call: its policy, its backoff sequence (with the injected RNG), its
/// budget, and `on_retry`, told before each retry. Made for one call and used up by it.
#[derive(Debug)]
pub struct Retrier<R: Rng, H> {
    policy: RetryPolicy,
    backoff: Backoff<R>,
    budget: Option<Budget>,
    on_retry: H,
    attempts: u32,
}

impl<R, H> Retrier<R, H>
where
    R: Rng,
    H: FnMut(&CallError, RetryReason, u32, Duration),
{
    /// Retries under `policy`, the budget counted from now.
    pub fn new(policy: RetryPolicy, rng: R, on_retry: H) -> Self {
        Retrier {
            policy,
            backoff: Backoff::new(policy.backoff, rng),
            budget: policy.budget.map(|b| Budget::new(Instant::now(), b)),
            on_retry,
            attempts: 0,
        }
    }

    /// The delay before retrying `call`, failed with `class`, or `None` to stop: only `Retry`
    /// classes are retried, within the attempts and the budget.
    fn next_delay(&mut self, call: &CallError, class: Class) -> Option<Duration> {
        let Class::Retry(reason) = class else {
            return None;
        };
        if self.attempts >= self.policy.attempts {
            return None;
        }
        let delay = self.backoff.next_delay();
        if self
            .budget
            .is_some_and(|b| !b.allows(Instant::now(), delay))
        {
            return None;
        }
        (self.on_retry)(call, reason, self.attempts, delay);
        Some(delay)
    }

    /// Runs `f` until it succeeds, fails with anything but [`Class::Retry`], or the attempts
    /// or the budget are used up, sleeping a backoff delay before each retry. Returns the last
    /// result and the number of attempts made.
    pub async fn run<T, E, F, Fut>(mut self, mut f: F) -> (Result<T, E>, u32)
    where
        E: AsCall,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        loop {
            self.attempts += 1;
            let e = match f().await {
                Ok(v) => return (Ok(v), self.attempts),
                Err(e) => e,
            };
            match e.as_call().and_then(|c| self.next_delay(c, c.class)) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return (Err(e), self.attempts),
            }
        }
    }

    /// A conditional write (`If-None-Match: *` or `If-Match: <ETag>`), which is not
    /// idempotent: `send` makes one attempt, classified as non-idempotent, and `ours` reads the
    /// object back and says whether it holds what this writer wrote (then with the value to
    /// return, e.g. its ETag).
    ///
    /// - A failed condition ([`CallError::condition_failed`]) is resolved by `ours`: an
    ///   earlier attempt of ours that landed although its answer was lost fails the condition
    ///   of the next one, so "not what I expected" may be our own write.
    /// - A failure in transit (`Ambiguous`: timeout, reset) is not retried blindly: `ours`
    ///   first; only if the object does not hold our write is the write sent again, under the
    ///   same condition, so it can never replace another writer's object.
    /// - A `Retry` failure (5xx, throttling: the server did not act) is sent again; other
    ///   failures end the write.
    pub async fn write_conditional<T, E, F, Fut, V, VFut>(
        mut self,
        mut send: F,
        mut ours: V,
    ) -> Result<Written<T>, E>
    where
        E: AsCall,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        V: FnMut() -> VFut,
        VFut: Future<Output = Result<Option<T>, E>>,
    {
        loop {
            self.attempts += 1;
            let e = match send().await {
                Ok(v) => return Ok(Written::Ours(v)),
                Err(e) => e,
            };
            let Some(call) = e.as_call() else {
                return Err(e);
            };
            if call.condition_failed() {
                return Ok(ours()
                    .await?
                    .map_or(Written::ConditionFailed, Written::Ours));
            }
            let class = match call.class {
                Class::Ambiguous(reason) => match ours().await? {
                    Some(v) => return Ok(Written::Ours(v)),
                    // Not landed (yet): sending again under the same condition is safe.
                    None => Class::Retry(reason),
                },
                class => class,
            };
            match self.next_delay(call, class) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::classify::Facts;

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

    fn failure(class: Class) -> CallError {
        let facts = match class {
            Class::Precondition => Facts::Response {
                status: 412,
                code: Some("PreconditionFailed".into()),
            },
            Class::NotFound => Facts::Response {
                status: 404,
                code: Some("NoSuchKey".into()),
            },
            Class::Ambiguous(_) => Facts::Connection,
            Class::Retry(_) => Facts::Response {
                status: 503,
                code: Some("SlowDown".into()),
            },
            _ => Facts::Response {
                status: 403,
                code: Some("AccessDenied".into()),
            },
        };
        CallError {
            op: "PutObject",
            class,
            facts,
            message: format!("{class:?}"),
        }
    }

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            budget: None,
            backoff: BackoffConfig {
                init: Duration::from_millis(1),
                max: Duration::from_millis(1),
                base: 1.0,
            },
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Runs `retry` over a script of outcomes (`None` = success); returns (result, attempts,
    /// reasons reported to `on_retry`).
    fn run_script(
        policy: RetryPolicy,
        script: Vec<Option<Class>>,
    ) -> (Result<u32, CallError>, u32, Vec<RetryReason>) {
        let mut reasons = Vec::new();
        let mut i = 0;
        let retrier = Retrier::new(policy, SplitMix64(1), |_: &CallError, reason, _, _| {
            reasons.push(reason)
        });
        let (r, n) = block_on(retrier.run(|| {
            let step = script[i];
            i += 1;
            async move {
                match step {
                    None => Ok(i as u32),
                    Some(c) => Err(failure(c)),
                }
            }
        }));
        (r, n, reasons)
    }

    #[test]
    fn retry_loop_retries_only_retry_classes_within_the_attempts() {
        use RetryReason::*;
        let throttle = Some(Class::Retry(Throttle));
        let server = Some(Class::Retry(ServerError));
        // Retried until success.
        let (r, n, reasons) = run_script(quick(5), vec![throttle, server, None]);
        assert_eq!((r.unwrap(), n), (3, 3));
        assert_eq!(reasons, [Throttle, ServerError]);
        // At most `attempts`; the last error is returned.
        let (r, n, reasons) = run_script(quick(3), vec![server, server, server, None]);
        assert_eq!(r.unwrap_err().class, Class::Retry(ServerError));
        assert_eq!((n, reasons.len()), (3, 2));
        // Everything else ends the loop at once.
        for c in [
            Class::Ambiguous(Timeout),
            Class::Precondition,
            Class::NotFound,
            Class::AlreadyDone,
            Class::Permanent,
        ] {
            let (r, n, reasons) = run_script(quick(5), vec![Some(c), None]);
            assert_eq!((r.unwrap_err().class, n, reasons.len()), (c, 1, 0));
        }
    }

    #[test]
    fn retry_loop_respects_the_budget_and_ignores_other_errors() {
        let policy = RetryPolicy {
            budget: Some(Duration::ZERO),
            ..quick(5)
        };
        let (r, n, _) = run_script(
            policy,
            vec![Some(Class::Retry(RetryReason::Throttle)), None],
        );
        assert!(r.is_err());
        assert_eq!(n, 1);

        /// A local failure that is not a call.
        struct Local;
        impl AsCall for Local {
            fn as_call(&self) -> Option<&CallError> {
                None
            }
        }
        let retrier = Retrier::new(quick(5), SplitMix64(1), log_retry);
        let (r, n) = block_on(retrier.run(|| async { Err::<(), _>(Local) }));
        assert!(r.is_err());
        assert_eq!(n, 1);
    }

    /// Runs `write_conditional` over scripts of send outcomes and read-backs (`true` = the
    /// object holds our write); returns (result, sends, read-backs).
    fn write_script(
        sends: Vec<Option<Class>>,
        readbacks: Vec<bool>,
    ) -> (Result<Written<&'static str>, CallError>, usize, usize) {
        let (mut s, mut v) = (0, 0);
        let retrier = Retrier::new(quick(4), SplitMix64(1), log_retry);
        let r = block_on(retrier.write_conditional(
            || {
                let step = sends[s];
                s += 1;
                async move {
                    match step {
                        None => Ok("sent"),
                        Some(c) => Err(failure(c)),
                    }
                }
            },
            || {
                let landed = readbacks[v];
                v += 1;
                async move { Ok(landed.then_some("read back")) }
            },
        ));
        (r, s, v)
    }

    #[test]
    fn conditional_writes_read_back_before_they_are_sent_again() {
        use RetryReason::*;
        let (ambiguous, retry) = (
            Some(Class::Ambiguous(Connection)),
            Some(Class::Retry(Throttle)),
        );
        let pre = Some(Class::Precondition);
        type Row = (
            Vec<Option<Class>>,
            Vec<bool>,
            Result<Written<&'static str>, Class>,
            usize,
            usize,
        );
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            // Sent once, answered.
            (vec![None], vec![], Ok(Written::Ours("sent")), 1, 0),
            // A reset after the server acted: read back, found, not sent again.
            (vec![ambiguous], vec![true], Ok(Written::Ours("read back")), 1, 1),
            // A reset before it acted: read back, absent, sent again.
            (vec![ambiguous, None], vec![false], Ok(Written::Ours("sent")), 2, 1),
            // Sent again after a reset, and the first attempt landed late: 412, ours.
            (vec![ambiguous, pre], vec![false, true], Ok(Written::Ours("read back")), 2, 2),
            // Another writer's object.
            (vec![pre], vec![false], Ok(Written::ConditionFailed), 1, 1),
            // 5xx or throttling: the server did not act; sent again without a read-back.
            (vec![retry, retry, None], vec![], Ok(Written::Ours("sent")), 3, 0),
            // Transit failures on every attempt: the last error.
            (vec![ambiguous; 4], vec![false; 4], Err(Class::Ambiguous(Connection)), 4, 4),
            // Permanent.
            (vec![Some(Class::Permanent)], vec![], Err(Class::Permanent), 1, 0),
        ];
        for (sends, readbacks, want, want_sends, want_reads) in table {
            let (got, s, v) = write_script(sends.clone(), readbacks.clone());
            let got = got.map_err(|e| e.class);
            assert_eq!(
                (got, s, v),
                (want, want_sends, want_reads),
                "{sends:?} {readbacks:?}"
            );
        }
    }
}
