//! Apply metrics: counted locally while the run goes, published once at the end as a JSON
//! summary (stdout, and the journal's `end` line) and as a Prometheus text file for
//! node-exporter's textfile collector (written atomically), encoded by `prometheus-client`
//! (the one exposition writer, as for `run --metrics-file`).
//!
//! Names (a contract, `docs/apply.md`): `blobtier_apply_actions_total{action,result}`,
//! `blobtier_apply_retries_total{reason}`, `blobtier_apply_failures_total{reason}`,
//! `blobtier_apply_duration_seconds` (histogram of per-action time),
//! `blobtier_apply_bytes_moved_total{class}`, `blobtier_apply_requests_total{op}`,
//! `blobtier_apply_throttles_total`, `blobtier_apply_pending_actions`,
//! `blobtier_apply_last_run_timestamp_seconds`, `blobtier_apply_run_duration_seconds`.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde::Serialize;

use super::classify::RetryReason;

/// Upper bounds (seconds) of the per-action duration histogram.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
];

/// A Prometheus-style cumulative histogram.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Histogram {
    /// Upper bounds.
    pub le: Vec<f64>,
    /// Observations `<= le[i]` (cumulative).
    pub counts: Vec<u64>,
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            le: DURATION_BUCKETS.to_vec(),
            counts: vec![0; DURATION_BUCKETS.len()],
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&mut self, v: f64) {
        for (i, le) in self.le.iter().enumerate() {
            if v <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// One permanently failed action, as listed in the summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    /// Plan row index.
    pub i: usize,
    /// `copy`, `lifecycle`, `restore`.
    pub action: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Planned version.
    pub version_id: Option<String>,
    /// Error class (`permanent`, `retry_exhausted:throttle`, …).
    pub error_class: String,
    /// Error code (`AccessDenied`, `http_403`, …).
    pub error_code: String,
    /// Detail.
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
}

#[derive(Debug, Default)]
struct Inner {
    actions: BTreeMap<(String, String), u64>,
    retries: BTreeMap<RetryReason, u64>,
    failures: Vec<Failure>,
    bytes_moved: BTreeMap<String, u64>,
    requests: BTreeMap<&'static str, u64>,
    durations: Histogram,
}

/// Run-wide counters (cheap to update from many tasks).
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One S3 request was sent.
    pub fn request(&self, op: &'static str) {
        *self.lock().requests.entry(op).or_default() += 1;
    }

    /// A failed attempt will be retried.
    pub fn retry(&self, reason: RetryReason) {
        *self.lock().retries.entry(reason).or_default() += 1;
    }

    /// An action finished (any result, failures included).
    pub fn finished(&self, action: &str, result: &str, elapsed: Duration) {
        let mut g = self.lock();
        *g.actions
            .entry((action.to_owned(), result.to_owned()))
            .or_default() += 1;
        g.durations.observe(elapsed.as_secs_f64());
    }

    /// Bytes that now sit in `class` because of this run.
    pub fn moved(&self, class: &str, bytes: u64) {
        *self.lock().bytes_moved.entry(class.to_owned()).or_default() += bytes;
    }

    /// A permanent failure.
    pub fn failed(&self, f: Failure) {
        self.lock().failures.push(f);
    }

    /// Retries so far by reason.
    pub fn retries(&self) -> BTreeMap<RetryReason, u64> {
        self.lock().retries.clone()
    }

    /// Actions finished so far by result.
    pub fn results(&self) -> BTreeMap<String, u64> {
        let g = self.lock();
        let mut out = BTreeMap::new();
        for ((_, r), n) in &g.actions {
            *out.entry(r.clone()).or_default() += n;
        }
        out
    }

    /// The counters as a summary (the caller fills the run fields).
    pub fn snapshot(&self, run: RunInfo) -> ApplyMetrics {
        let g = self.lock();
        let mut results = BTreeMap::new();
        let mut actions: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((a, r), n) in &g.actions {
            *results.entry(r.clone()).or_default() += n;
            actions.entry(a.clone()).or_default().insert(r.clone(), *n);
        }
        let mut failures = g.failures.clone();
        failures.sort_by_key(|f| f.i);
        let mut failures_by_reason = BTreeMap::new();
        for f in &failures {
            *failures_by_reason.entry(f.error_code.clone()).or_default() += 1;
        }
        ApplyMetrics {
            run,
            results,
            actions,
            retries: RetryReason::ALL
                .iter()
                .map(|r| {
                    (
                        r.as_str().to_owned(),
                        g.retries.get(r).copied().unwrap_or(0),
                    )
                })
                .collect(),
            failures_by_reason,
            failures,
            bytes_moved_by_class: g.bytes_moved.clone(),
            requests: g
                .requests
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            duration_histogram: g.durations.clone(),
        }
    }
}

/// Facts about the run that the counters do not hold.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RunInfo {
    /// The plan file.
    pub plan: String,
    /// Its id.
    pub plan_id: String,
    /// Run id (also in the journal's `start`/`end` lines).
    pub run: String,
    /// `--execute` was given.
    pub execute: bool,
    /// Plan rows with an action (`none` rows excluded).
    pub actions_in_plan: usize,
    /// Actions skipped because an earlier run finished them (journal).
    pub done_in_earlier_runs: usize,
    /// Actions not started because a limit was reached.
    pub not_started: usize,
    /// `max_actions` or `max_bytes` when a limit stopped the run early.
    pub stopped_by: Option<String>,
    /// Restores still running (left for a later run).
    pub pending: usize,
    /// Throttling responses seen.
    pub throttles: u64,
    /// The adaptive rate limit at the end (`None` = not limiting).
    pub rate_limit_rps: Option<f64>,
    /// Wall time.
    pub duration_seconds: f64,
    /// Unix time of the end of the run.
    pub finished_at_unix: f64,
    /// The journal file.
    pub journal: String,
    /// Journal lines written by this run.
    pub journal_lines: u64,
    /// Journal fsyncs made by this run.
    pub journal_fsyncs: u64,
    /// Journal fsync mode (`batched`; `every` and `off` for benchmarks).
    pub journal_fsync: String,
    /// The journal's own accounting of its time (`record_seconds` inside `record` summed over
    /// actions; `encode_seconds`, `write_seconds`, `fsync_seconds`).
    pub journal_time: super::journal::WriterStats,
    /// Time actions spent inside the journal (`journal_time.action_record_seconds`) / total
    /// action time (`duration_histogram.sum`): what the journal adds to every action.
    pub journal_overhead: f64,
    /// The journal's own work (encoding, writes, fsyncs) / wall time.
    pub journal_busy_share: f64,
    /// Versioning of each bucket the plan copies in, and the noncurrent-version rule when
    /// asked for (`--noncurrent-expiration`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versioning: BTreeMap<String, super::actions::BucketVersioning>,
}

/// The JSON summary printed on stdout (and stored in the journal's `end` line).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApplyMetrics {
    /// Run facts.
    #[serde(flatten)]
    pub run: RunInfo,
    /// Finished actions by result (all actions).
    pub results: BTreeMap<String, u64>,
    /// Finished actions by action then result.
    pub actions: BTreeMap<String, BTreeMap<String, u64>>,
    /// Retries by reason.
    pub retries: BTreeMap<String, u64>,
    /// Failures by error code.
    pub failures_by_reason: BTreeMap<String, u64>,
    /// Every permanently failed action.
    pub failures: Vec<Failure>,
    /// Bytes moved into each class.
    pub bytes_moved_by_class: BTreeMap<String, u64>,
    /// S3 requests sent by operation (every attempt).
    pub requests: BTreeMap<String, u64>,
    /// Per-action durations.
    pub duration_histogram: Histogram,
}

type Labels = Vec<(String, String)>;
type Count = Counter<u64, AtomicU64>;
type Seconds = Counter<f64, AtomicU64>;
type Value = Gauge<f64, AtomicU64>;

/// A counter family with one label, from counts.
fn counted(
    reg: &mut Registry,
    name: &str,
    help: &str,
    label: &str,
    counts: &BTreeMap<String, u64>,
) {
    let f = Family::<Labels, Count>::default();
    for (k, n) in counts {
        f.get_or_create(&vec![(label.to_owned(), k.clone())])
            .inc_by(*n);
    }
    reg.register(name, help, f);
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: f64) {
    let g = Value::default();
    g.set(v);
    reg.register(name, help, g);
}

/// [`Histogram`] (cumulative counts, already aggregated) as prometheus-client encodes a
/// histogram (per-bucket counts; the `+Inf` bucket, `_sum` and `_count` added).
#[derive(Debug)]
struct Durations(Histogram);

impl EncodeMetric for Durations {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        let h = &self.0;
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> =
            h.le.iter()
                .zip(&h.counts)
                .map(|(le, c)| {
                    let n = c.saturating_sub(below);
                    below = *c;
                    (*le, n)
                })
                .collect();
        buckets.push((f64::INFINITY, h.count.saturating_sub(below)));
        encoder.encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Renders the summary in the Prometheus text exposition format (0.0.4), with
/// `prometheus-client` (counters get their `_total` suffix from it).
pub fn prometheus(m: &ApplyMetrics) -> String {
    let mut reg = Registry::default();
    let actions = Family::<Labels, Count>::default();
    for (a, rs) in &m.actions {
        for (r, n) in rs {
            actions
                .get_or_create(&vec![
                    ("action".to_owned(), a.clone()),
                    ("result".to_owned(), r.clone()),
                ])
                .inc_by(*n);
        }
    }
    reg.register(
        "blobtier_apply_actions",
        "Actions finished by the last apply run, by action and result",
        actions,
    );
    counted(
        &mut reg,
        "blobtier_apply_retries",
        "Failed S3 attempts that were retried, by reason",
        "reason",
        &m.retries,
    );
    counted(
        &mut reg,
        "blobtier_apply_failures",
        "Actions that failed permanently, by error code",
        "reason",
        &m.failures_by_reason,
    );
    reg.register(
        "blobtier_apply_duration_seconds",
        "Time per action, retries included",
        Durations(m.duration_histogram.clone()),
    );
    counted(
        &mut reg,
        "blobtier_apply_bytes_moved",
        "Bytes moved into each storage class by the last run",
        "class",
        &m.bytes_moved_by_class,
    );
    counted(
        &mut reg,
        "blobtier_apply_requests",
        "S3 requests sent (every attempt), by operation",
        "op",
        &m.requests,
    );
    let throttles = Count::default();
    throttles.inc_by(m.run.throttles);
    reg.register(
        "blobtier_apply_throttles",
        "Throttling responses (503 SlowDown, 429) seen",
        throttles,
    );
    gauge(
        &mut reg,
        "blobtier_apply_pending_actions",
        "Restores still running, left for a later run",
        m.run.pending as f64,
    );
    gauge(
        &mut reg,
        "blobtier_apply_run_duration_seconds",
        "Wall time of the last run",
        m.run.duration_seconds,
    );
    let jt = &m.run.journal_time;
    let journal = Family::<Labels, Seconds>::default();
    for (part, v) in [
        ("record", jt.record_seconds),
        ("encode", jt.encode_seconds),
        ("write", jt.write_seconds),
        ("fsync", jt.fsync_seconds),
    ] {
        journal
            .get_or_create(&vec![("part".to_owned(), part.to_owned())])
            .inc_by(v);
    }
    reg.register(
        "blobtier_apply_journal_seconds",
        "Time the journal took, by part: record (inside record calls, summed over actions), encode, write, fsync",
        journal,
    );
    gauge(
        &mut reg,
        "blobtier_apply_journal_overhead_ratio",
        "Time actions spent in the journal / total action time, last run",
        m.run.journal_overhead,
    );
    gauge(
        &mut reg,
        "blobtier_apply_last_run_timestamp_seconds",
        "Unix time the last run finished",
        m.run.finished_at_unix,
    );
    let mut out = String::new();
    encode(&mut out, &reg).expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.02);
        h.observe(0.2);
        h.observe(5000.0);
        assert_eq!(h.counts[0], 0);
        assert_eq!(h.counts[1], 1); // <= 0.025
        assert_eq!(h.counts[4], 2); // <= 0.25
        assert_eq!(*h.counts.last().unwrap(), 2);
        assert_eq!(h.count, 3);
    }

    #[test]
    fn prometheus_text() {
        let m = Metrics::default();
        m.request("CopyObject");
        m.request("HeadObject");
        m.request("HeadObject");
        m.retry(RetryReason::Throttle);
        m.finished("copy", "copied", Duration::from_millis(30));
        m.finished("copy", "skipped:changed", Duration::from_millis(3));
        m.moved("STANDARD_IA", 1024);
        m.failed(Failure {
            i: 3,
            action: "copy".into(),
            bucket: "b".into(),
            key: "k".into(),
            version_id: None,
            error_class: "permanent".into(),
            error_code: "AccessDenied".into(),
            message: "no".into(),
            attempts: 1,
        });
        m.finished("copy", "failed", Duration::from_millis(3));
        let s = m.snapshot(RunInfo::default());
        assert_eq!(s.results["copied"], 1);
        assert_eq!(s.retries["throttle"], 1);
        assert_eq!(s.retries["timeout"], 0);
        let text = prometheus(&s);
        for want in [
            "blobtier_apply_actions_total{action=\"copy\",result=\"copied\"} 1",
            "blobtier_apply_actions_total{action=\"copy\",result=\"skipped:changed\"} 1",
            "blobtier_apply_retries_total{reason=\"throttle\"} 1",
            "blobtier_apply_failures_total{reason=\"AccessDenied\"} 1",
            "blobtier_apply_duration_seconds_bucket{le=\"+Inf\"} 3",
            "blobtier_apply_duration_seconds_count 3",
            "blobtier_apply_bytes_moved_total{class=\"STANDARD_IA\"} 1024",
            "blobtier_apply_requests_total{op=\"HeadObject\"} 2",
            "# TYPE blobtier_apply_duration_seconds histogram",
            // Cumulative: 3 ms twice, 30 ms once.
            "blobtier_apply_duration_seconds_bucket{le=\"0.01\"} 2",
            "blobtier_apply_duration_seconds_bucket{le=\"0.05\"} 3",
            "blobtier_apply_duration_seconds_bucket{le=\"1800\"} 3",
            "blobtier_apply_throttles_total 0",
            "blobtier_apply_journal_seconds_total{part=\"fsync\"} 0.0",
        ] {
            assert!(text.contains(want), "missing `{want}` in\n{text}");
        }
        // Every sample line is `name{labels} value` or `name value`.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
    }
}
