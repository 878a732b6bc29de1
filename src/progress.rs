//! Progress of long stages (`apply`, and each stage of `run`/`demo`), shown one of two ways:
//!
//! - **bars**: an `indicatif` bar (counts, rate, bytes, ETA) or a spinner per stage, on stderr,
//!   only when stderr is a terminal, logs are text and `--quiet` is not given. Log lines are
//!   written through [`LogWriter`], which lifts the bars while a line is printed.
//! - **log lines** otherwise (cron, pipes, `--log-format json`, tests): no bar and no escape
//!   code at all; a background thread emits one `tracing` INFO line per stage at most every
//!   [`LOG_EVERY`] and one when the stage ends. INFO is off by default (`-v` turns it on), so
//!   a cron job stays quiet.
//!
//! The mode is chosen once by [`crate::logging::init`]; a library user that never calls it
//! gets log lines. This module only reports: it must never change what a stage does.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::model::units::{format_bytes as bytes, format_count};

/// Longest time between two progress log lines of a running stage.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `indicatif` bars on stderr.
    Bars,
    /// Periodic `tracing` INFO lines.
    Log,
}

static MODE: OnceLock<Mode> = OnceLock::new();
static MULTI: OnceLock<MultiProgress> = OnceLock::new();

/// Bars only on an interactive terminal with text logs, and never with `--quiet`.
pub fn choose(quiet: bool, text_logs: bool, stderr_is_terminal: bool, term: Option<&str>) -> Mode {
    if !quiet && text_logs && stderr_is_terminal && term != Some("dumb") {
        Mode::Bars
    } else {
        Mode::Log
    }
}

/// Sets the mode for the process (first call wins).
pub fn init(mode: Mode) {
    let _ = MODE.set(mode);
}

/// The mode in force (log lines when [`init`] was never called).
pub fn mode() -> Mode {
    MODE.get().copied().unwrap_or(Mode::Log)
}

fn multi() -> &'static MultiProgress {
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// A `tracing` writer for stderr that hides the bars while a log line is written, so that
/// lines and bars do not garble each other.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match (mode(), MULTI.get()) {
            (Mode::Bars, Some(m)) => m.suspend(|| std::io::stderr().write(buf)),
            _ => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Whole units as `1,234`, fractions with one decimal (`12.5`), small rates with two.
fn count(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 100.0 || v == v.trunc() {
        format_count(v.round() as i128)
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A short duration: `850ms`, `42s`, `3m05s`, `1h02m`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        format!("{}ms", d.as_millis())
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Items per second over `elapsed` (`None` before any time has passed).
pub fn rate(done: u64, elapsed: Duration) -> Option<f64> {
    let s = elapsed.as_secs_f64();
    (s > 0.0).then(|| done as f64 / s)
}

/// Time left at the average rate so far (`None` when unknown: nothing done yet, or no total).
pub fn eta(done: u64, total: Option<u64>, elapsed: Duration) -> Option<Duration> {
    let total = total?;
    if done >= total {
        return Some(Duration::ZERO);
    }
    let r = rate(done, elapsed).filter(|r| *r > 0.0)?;
    Some(Duration::from_secs_f64((total - done) as f64 / r))
}

/// The one-line summary used by log lines and by a finished bar, e.g.
/// `412/2,000 actions (20%), 41.20 actions/s, 3.1 MiB (320.0 KiB/s), 10s, eta 38s`.
pub fn line(
    unit: &str,
    done: u64,
    total: Option<u64>,
    bytes_done: Option<u64>,
    elapsed: Duration,
) -> String {
    let mut s = match total {
        Some(t) if t > 0 => format!(
            "{}/{} {unit} ({}%)",
            count(done as f64),
            count(t as f64),
            done * 100 / t
        ),
        Some(t) => format!("{}/{} {unit}", count(done as f64), count(t as f64)),
        None => format!("{} {unit}", count(done as f64)),
    };
    if let Some(r) = rate(done, elapsed) {
        let _ = write!(s, ", {} {unit}/s", count(r));
    }
    if let Some(b) = bytes_done {
        let _ = write!(s, ", {}", bytes(b));
        if let Some(r) = rate(b, elapsed) {
            let _ = write!(s, " ({}/s)", bytes(r as u64));
        }
    }
    let _ = write!(s, ", {}", duration(elapsed));
    if let Some(e) = eta(done, total, elapsed).filter(|e| !e.is_zero()) {
        let _ = write!(s, ", eta {}", duration(e));
    }
    s
}

#[derive(Debug)]
struct Shared {
    stage: &'static str,
    unit: &'static str,
    total: AtomicU64,
    has_total: bool,
    with_bytes: bool,
    done: AtomicU64,
    bytes: AtomicU64,
    started: Instant,
    message: Mutex<String>,
}

impl Shared {
    fn summary(&self) -> String {
        let elapsed = self.started.elapsed();
        let msg = self
            .message
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut s = if self.unit.is_empty() {
            duration(elapsed)
        } else {
            line(
                self.unit,
                self.done.load(Ordering::Relaxed),
                self.has_total.then(|| self.total.load(Ordering::Relaxed)),
                self.with_bytes.then(|| self.bytes.load(Ordering::Relaxed)),
                elapsed,
            )
        };
        if !msg.is_empty() {
            s = format!("{msg}: {s}");
        }
        s
    }

    fn log(&self, finished: bool) {
        let summary = self.summary();
        if finished {
            tracing::info!(stage = self.stage, "{} finished: {summary}", self.stage);
        } else {
            tracing::info!(stage = self.stage, "{} progress: {summary}", self.stage);
        }
    }
}

/// The log-mode thread of a stage: a message (or dropping the sender) stops it.
type Ticker = (mpsc::Sender<()>, JoinHandle<()>);

/// The progress of one stage. Cheap to clone and to update from many threads or tasks.
#[derive(Debug, Clone)]
pub struct Progress {
    shared: Arc<Shared>,
    bar: Option<ProgressBar>,
    ticker: Arc<Mutex<Option<Ticker>>>,
}

impl Progress {
    /// Counts `unit`s (`files`, `actions`) towards `total` (a spinner with counts when
    /// `None`); with `with_bytes`, bytes and their rate are shown too.
    pub fn counter(
        stage: &'static str,
        unit: &'static str,
        total: Option<u64>,
        with_bytes: bool,
    ) -> Progress {
        Self::new(stage, unit, total, with_bytes)
    }

    /// A stage without counts: a spinner with the elapsed time and a message.
    pub fn spinner(stage: &'static str, message: impl Into<String>) -> Progress {
        let p = Self::new(stage, "", None, false);
        p.set_message(message);
        p
    }

    fn new(
        stage: &'static str,
        unit: &'static str,
        total: Option<u64>,
        with_bytes: bool,
    ) -> Progress {
        let shared = Arc::new(Shared {
            stage,
            unit,
            total: AtomicU64::new(total.unwrap_or(0)),
            has_total: total.is_some(),
            with_bytes,
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            started: Instant::now(),
            message: Mutex::new(String::new()),
        });
        let (bar, ticker) = match mode() {
            Mode::Bars => (Some(Self::bar(&shared)), None),
            Mode::Log => {
                let (tx, rx) = mpsc::channel::<()>();
                let s = Arc::clone(&shared);
                let h = std::thread::Builder::new()
                    .name("blobtier-progress".into())
                    .spawn(move || {
                        // Wakes every LOG_EVERY; a message or a closed channel means done.
                        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(LOG_EVERY)
                        {
                            s.log(false);
                        }
                    })
                    .ok();
                (None, h.map(|h| (tx, h)))
            }
        };
        Progress {
            shared,
            bar,
            ticker: Arc::new(Mutex::new(ticker)),
        }
    }

    fn bar(shared: &Arc<Shared>) -> ProgressBar {
        let s = Arc::clone(shared);
        let bytes_key = move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let b = s.bytes.load(Ordering::Relaxed);
            let r = rate(b, s.started.elapsed()).unwrap_or(0.0);
            let _ = write!(w, "{} ({}/s)", bytes(b), bytes(r as u64));
        };
        let template = match (shared.unit.is_empty(), shared.has_total, shared.with_bytes) {
            (true, _, _) => "{spinner} {prefix:>7} {msg} {elapsed}".to_owned(),
            (false, true, b) => format!(
                "{{spinner}} {{prefix:>7}} [{{bar:30}}] {{human_pos}}/{{human_len}} {} ({{per_sec:1}}){} {{msg}} eta {{eta}}",
                shared.unit,
                if b { ", {bytes}" } else { "" }
            ),
            (false, false, b) => format!(
                "{{spinner}} {{prefix:>7}} {{human_pos}} {} ({{per_sec:1}}){} {{msg}} {{elapsed}}",
                shared.unit,
                if b { ", {bytes}" } else { "" }
            ),
        };
        let style = ProgressStyle::with_template(&template)
            .expect("progress templates are valid")
            .with_key("bytes", bytes_key)
            .progress_chars("=> ");
        let len = shared
            .has_total
            .then(|| shared.total.load(Ordering::Relaxed));
        let pb = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden())
            .with_style(style)
            .with_prefix(shared.stage);
        let pb = multi().add(pb);
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        self.shared.done.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// `n` more bytes done.
    pub fn add_bytes(&self, n: u64) {
        self.shared.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Raises the total by `n` (work found while running).
    pub fn inc_total(&self, n: u64) {
        self.shared.total.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc_length(n);
        }
    }

    /// What the stage is doing now (shown next to the counts).
    pub fn set_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        if let Some(b) = &self.bar {
            b.set_message(msg.clone());
        }
        *self
            .shared
            .message
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = msg;
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.shared.done.load(Ordering::Relaxed)
    }

    /// Ends the stage: the bar is replaced by a summary line, or a final log line is written.
    /// `result` (e.g. `647 digests`) is shown in front of the counts. Later calls do nothing.
    pub fn finish(&self, result: impl Into<String>) {
        let ticker = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        let result = result.into();
        if !result.is_empty() {
            *self
                .shared
                .message
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = result;
        }
        match &self.bar {
            Some(b) if !b.is_finished() => {
                // A permanent line above the remaining bars (a finished bar left in place
                // would not end with a newline, and stdout would continue on its line).
                let _ = multi().println(format!(
                    "{:>9} {}",
                    self.shared.stage,
                    self.shared.summary()
                ));
                b.finish_and_clear();
            }
            Some(_) => {}
            None => {
                if let Some((tx, h)) = ticker {
                    let _ = tx.send(());
                    let _ = h.join();
                    self.shared.log(true);
                }
            }
        }
    }

    /// Ends the stage after an error: the bar is removed, the log thread stopped, nothing
    /// printed (the error is reported by the caller).
    pub fn abandon(&self) {
        let ticker = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((tx, h)) = ticker {
            let _ = tx.send(());
            let _ = h.join();
        }
        if let Some(b) = &self.bar {
            if !b.is_finished() {
                b.finish_and_clear();
            }
        }
    }
}

/// Runs one stage of a pipeline under a spinner; `describe` turns its result into the summary
/// shown at the end (`647 digests`).
pub fn stage<T, E>(
    name: &'static str,
    message: &str,
    f: impl FnOnce() -> Result<T, E>,
    describe: impl FnOnce(&T) -> String,
) -> Result<T, E> {
    let p = Progress::spinner(name, message);
    match f() {
        Ok(v) => {
            p.finish(describe(&v));
            Ok(v)
        }
        Err(e) => {
            p.abandon();
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_only_on_an_interactive_terminal_with_text_logs() {
        assert_eq!(choose(false, true, true, Some("xterm")), Mode::Bars);
        assert_eq!(choose(false, true, true, None), Mode::Bars);
        assert_eq!(choose(true, true, true, Some("xterm")), Mode::Log);
        assert_eq!(choose(false, false, true, Some("xterm")), Mode::Log);
        assert_eq!(choose(false, true, false, Some("xterm")), Mode::Log);
        assert_eq!(choose(false, true, true, Some("dumb")), Mode::Log);
    }

    #[test]
    fn rates_and_eta() {
        let s = Duration::from_secs;
        assert_eq!(rate(10, Duration::ZERO), None);
        assert_eq!(rate(50, s(10)), Some(5.0));
        assert_eq!(eta(0, Some(100), s(10)), None);
        assert_eq!(eta(25, Some(100), s(10)), Some(s(30)));
        assert_eq!(eta(100, Some(100), s(10)), Some(Duration::ZERO));
        assert_eq!(eta(5, None, s(10)), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(41.25), "41.2");
        assert_eq!(count(3.456), "3.46");
        assert_eq!(count(f64::NAN), "-");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(duration(Duration::from_millis(850)), "850ms");
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn summary_line() {
        let s = Duration::from_secs;
        assert_eq!(
            line("actions", 412, Some(2000), Some(3 << 20), s(10)),
            "412/2,000 actions (20%), 41.2 actions/s, 3.0 MiB (307.2 KiB/s), 10s, eta 38s"
        );
        assert_eq!(
            line("files", 142, Some(142), None, s(2)),
            "142/142 files (100%), 71 files/s, 2s"
        );
        assert_eq!(line("files", 0, None, None, Duration::ZERO), "0 files, 0ms");
    }

    /// In log mode (what the test harness and cron get) nothing is drawn: updates only move
    /// counters, and `finish` can be called twice.
    #[test]
    fn log_mode_draws_nothing_and_finishes_once() {
        init(Mode::Log);
        let p = Progress::counter("apply", "actions", Some(3), true);
        assert!(p.bar.is_none());
        p.inc(2);
        p.add_bytes(10);
        p.inc_total(1);
        assert_eq!(p.done(), 2);
        p.finish("");
        p.finish("");
        assert!(p.ticker.lock().unwrap().is_none());
    }
}
