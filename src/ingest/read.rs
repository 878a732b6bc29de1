//! Reads and parses the new log inputs ([`super::logs::read_log_with`]) into one set of aggregates,
//! the quarantined lines per input (spooled on disk, [`Quarantine`]) and the ledger records of
//! the inputs read.
//!
//! Inputs are read in parallel, a window of them at a time (each parsed block by block by
//! [`super::logs::read_log_with`]), and taken in list order, so that what comes out does not
//! depend on the number of threads.
//!
//! Invariants: an input whose content is already in the ledger (same location, or the same
//! content anywhere, this run included) is skipped, never counted twice; an input whose content
//! changed since it was ingested is an error naming it. Writes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Mutex, PoisonError};

use serde_json::json;

use crate::config::Config;
use crate::ingest::inputs::LedgerIndex;
use crate::ingest::logs::{self, Counts, ReadError};
use crate::ingest::rejects::{InputRejects, Quarantine};
use crate::ingest::tables::{day_string, Aggregates};
use crate::ingest::{BadFile, Error, IngestMetrics, InputSummary, Result};
use crate::model::LogFormat;
use crate::progress::Progress;
use crate::storage::{Listed, Storage};

/// What the new log inputs gave.
#[derive(Debug)]
pub(super) struct LogsRead {
    /// Their aggregates, merged.
    pub agg: Aggregates,
    /// Quarantined lines of the inputs read (not of those skipped after reading).
    pub rejects: Quarantine,
    /// One ledger record per input read.
    pub ledger_inputs: Vec<serde_json::Value>,
}

/// Log inputs read at the same time (at most; two per thread when fewer). Each
/// holds a bounded number of blocks ([`logs::read_log_with`]), so memory stays bounded per
/// thread whatever the inputs.
const MAX_FILES: usize = 8;

/// Inputs of at most this many bytes (as listed, compressed or not) are parsed block after
/// block on the thread that reads them, without a reader thread of their own: S3 delivers
/// its access log as thousands of files of a few MB, where handing each block to another
/// thread cost more than parsing it.
const SMALL_INPUT: u64 = 8 << 20;

/// What reading one input gave, with its quarantined lines.
type ReadOne = Result<(logs::FileResult, InputRejects)>;

/// The ledger record of an input at its location: fingerprint, content hash, run id.
type Known<'a> = Option<&'a (String, String, String)>;

/// Reads every listed input that is new, counting each in `metrics` (read, skipped, over the
/// reject threshold); quarantined lines are spooled into `rejects`.
///
/// Inputs are read in parallel (rayon tasks, a window of two per thread, at most
/// [`MAX_FILES`]) and taken in list order: the merged aggregates, the ledger records, the
/// metrics and the quarantine do not depend on the number of threads or on which input
/// finished first.
pub(super) fn read_logs(
    listed: &[(LogFormat, Listed)],
    idx: &LedgerIndex,
    storage: &Storage,
    cfg: &Config,
    progress: &Progress,
    metrics: &mut IngestMetrics,
    rejects: Quarantine,
) -> Result<LogsRead> {
    let mut out = LogsRead {
        agg: Aggregates::default(),
        rejects,
        ledger_inputs: Vec::new(),
    };
    let known: Vec<Known<'_>> = listed
        .iter()
        .map(|(format, l)| {
            idx.by_location
                .get(&(format.as_str().to_string(), l.location.to_string()))
        })
        .collect();
    // Inputs already ingested with the same fingerprint are not read again.
    let to_read: Vec<usize> = (0..listed.len())
        .filter(|&i| known[i].is_none_or(|(fp, _, _)| *fp != listed[i].1.fingerprint))
        .collect();
    let threads = rayon::current_num_threads();
    // Two per thread, so that a thread never waits for the calling thread to take a result
    // before it has another input to read.
    let window = (2 * threads).clamp(1, MAX_FILES);
    let batch = logs::batch_per_input(threads, window);
    let merged = Merged::new(threads);
    let read_one = |i: usize, mut input_rejects: InputRejects| -> ReadOne {
        let (format, l) = &listed[i];
        let started = std::time::Instant::now();
        let raw = storage.open(&l.location)?;
        // A small input is one or two blocks: parsed on this thread as it is read (the
        // inputs around it keep the other threads busy).
        let batch = if l.size <= SMALL_INPUT { 1 } else { batch };
        let res = logs::read_log_with(*format, raw, &cfg.ingest, &mut input_rejects, batch)
            .map_err(|e| match e {
                ReadError::Input(e) => Error::Unreadable {
                    location: l.location.to_string(),
                    reason: e.to_string(),
                },
                ReadError::Rejects(e) => Error::Rejects(e),
            })?;
        let mut res = res;
        merged.absorb(*format, known[i], idx, &mut res);
        tracing::trace!(input = %l.location, ms = started.elapsed().as_millis() as u64, "parsed log input");
        Ok((res, input_rejects))
    };
    let mut hashes_this_run: HashMap<(String, String), String> = HashMap::new();
    // The calling thread only takes results in order; the reads run on the rayon pool. An
    // error returns at once, after the reads under way end (their results are dropped).
    rayon::in_place_scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::channel::<(usize, ReadOne)>();
        let mut ready: HashMap<usize, ReadOne> = HashMap::new();
        let (mut spawned, mut taken) = (0, 0);
        for (i, (format, l)) in listed.iter().enumerate() {
            progress.inc(1);
            if to_read.get(taken) != Some(&i) {
                let loc = l.location.to_string();
                metrics.skipped(loc, format.as_str(), "skipped:already_ingested");
                continue;
            }
            // Keep the window full: the inputs after this one are read while it is taken.
            while spawned < to_read.len() && spawned < taken + window {
                let (n, tx, read_one) = (to_read[spawned], tx.clone(), &read_one);
                let input_rejects = out.rejects.input();
                scope.spawn(move |_| {
                    // The receiver is gone only when an earlier input failed.
                    let _ = tx.send((n, read_one(n, input_rejects)));
                });
                spawned += 1;
            }
            taken += 1;
            let res = loop {
                if let Some(r) = ready.remove(&i) {
                    break r;
                }
                let (n, r) = next_result(&rx);
                ready.insert(n, r);
            };
            let (res, input_rejects) = res?;
            progress.add_bytes(l.size);
            let taken_input = Taken {
                format: *format,
                listed: l,
                known: known[i],
                res,
                rejects: input_rejects,
            };
            take(
                taken_input,
                &mut hashes_this_run,
                idx,
                storage,
                cfg,
                metrics,
                &mut out,
            )?;
        }
        Ok(())
    })?;
    out.agg = merged.into_aggregates();
    Ok(out)
}

/// The aggregates of the inputs read, merged on the threads that read them (one slot per
/// thread, so merging never waits for a lock held by another thread, nor for the calling
/// thread, which only keeps the books in list order).
///
/// Which inputs count is decided here as [`take`] decides it in list order: one input per new
/// content (format and hash), none whose content is in the ledger. Two inputs with the same
/// content parse to the same aggregates, so whichever of them a thread claims first, the
/// merged aggregates are the same; an input [`take`] rejects with an error fails the run, and
/// the aggregates with it. The merge is commutative (sums, minima, maxima, sets, unsorted
/// times) and the rows are sorted by name when written, so the output does not depend on the
/// order in which inputs were merged or on the number of threads.
struct Merged {
    /// Per rayon thread, and one more for a thread outside the pool.
    slots: Vec<Mutex<Aggregates>>,
    /// The contents (format, hash) claimed so far in this run.
    claimed: Mutex<HashSet<(LogFormat, String)>>,
}

impl Merged {
    fn new(threads: usize) -> Merged {
        Merged {
            slots: (0..=threads)
                .map(|_| Mutex::new(Aggregates::default()))
                .collect(),
            claimed: Mutex::new(HashSet::new()),
        }
    }

    /// Takes the aggregates out of `res` into this thread's slot when its content counts.
    fn absorb(
        &self,
        format: LogFormat,
        known: Known<'_>,
        idx: &LedgerIndex,
        res: &mut logs::FileResult,
    ) {
        if known.is_some() {
            // Unchanged (skipped) or changed (an error): neither counts.
            return;
        }
        let key = (format.as_str().to_string(), res.content_hash.clone());
        if idx.by_hash.contains_key(&key) {
            return;
        }
        let first = self
            .claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((format, key.1));
        if !first {
            return;
        }
        let slot = rayon::current_thread_index()
            .unwrap_or(self.slots.len() - 1)
            .min(self.slots.len() - 1);
        let agg = std::mem::take(&mut res.agg);
        self.slots[slot]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .merge(agg);
    }

    /// Every slot merged into one, pairwise on the pool.
    fn into_aggregates(self) -> Aggregates {
        let slots: Vec<Aggregates> = self
            .slots
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect();
        merge_all(slots)
    }
}

/// `parts` merged into one, halves in parallel.
fn merge_all(mut parts: Vec<Aggregates>) -> Aggregates {
    if parts.len() <= 1 {
        return parts.pop().unwrap_or_default();
    }
    let rest = parts.split_off(parts.len().div_ceil(2));
    let (mut a, b) = rayon::join(|| merge_all(parts), || merge_all(rest));
    a.merge(b);
    a
}

/// The next read to finish. Called from a rayon worker (ingest run inside a parallel job), it
/// runs the pool's pending jobs while it waits instead of blocking: on a one-thread pool the
/// reads would otherwise never run.
fn next_result<T>(rx: &mpsc::Receiver<T>) -> T {
    const DISCONNECTED: &str = "every spawned read sends its result";
    if rayon::current_thread_index().is_none() {
        return rx.recv().expect(DISCONNECTED);
    }
    loop {
        match rx.try_recv() {
            Ok(r) => return r,
            Err(mpsc::TryRecvError::Disconnected) => return rx.recv().expect(DISCONNECTED),
            Err(mpsc::TryRecvError::Empty) => {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
    }
}

/// One input, read.
struct Taken<'a> {
    format: LogFormat,
    listed: &'a Listed,
    known: Known<'a>,
    res: logs::FileResult,
    rejects: InputRejects,
}

/// Takes one read input into `out`: skipped when its content was ingested before (here or
/// earlier in this run), an error when it changed since it was ingested or is in the wrong
/// format; otherwise counted, recorded for the ledger, its rejects kept and its aggregates
/// merged.
fn take(
    t: Taken<'_>,
    hashes_this_run: &mut HashMap<(String, String), String>,
    idx: &LedgerIndex,
    storage: &Storage,
    cfg: &Config,
    metrics: &mut IngestMetrics,
    out: &mut LogsRead,
) -> Result<()> {
    let Taken {
        format,
        listed: l,
        known,
        res,
        rejects: input_rejects,
    } = t;
    let loc = l.location.to_string();
    if let Some((_, old, run_id)) = known {
        if *old == res.content_hash {
            // Touched but identical: nothing to do.
            metrics.skipped(loc, format.as_str(), "skipped:already_ingested");
            return Ok(());
        }
        return Err(Error::ContentChanged {
            location: loc,
            run_id: run_id.clone(),
            old: old.clone(),
            new: res.content_hash,
        });
    }
    let hash_key = (format.as_str().to_string(), res.content_hash.clone());
    if let Some(other) = idx
        .by_hash
        .get(&hash_key)
        .or_else(|| hashes_this_run.get(&hash_key))
    {
        tracing::warn!(input = %loc, same_as = %other, "identical content already ingested; skipping");
        metrics.skipped(loc, format.as_str(), "skipped:duplicate_content");
        return Ok(());
    }
    check_format(format, l, storage, cfg, &res.counts)?;
    hashes_this_run.insert(hash_key, loc.clone());
    tracing::debug!(input = %loc, lines = res.counts.lines, pulls = res.counts.pulls, "read log input");
    let c = &res.counts;
    metrics
        .bad_files
        .extend(over_threshold(&loc, c, cfg.ingest.max_bad_ratio));
    metrics.files_read += 1;
    metrics.totals.add(c);
    out.ledger_inputs.push(json!({
        "kind": "log",
        "format": format.as_str(),
        "location": loc,
        "size": l.size,
        "fingerprint": l.fingerprint,
        "content_hash": res.content_hash,
        "counts": c,
        "first_day": res.days.map(|d| day_string(d.0)),
        "last_day": res.days.map(|d| day_string(d.1)),
        "days": res
            .day_lines
            .iter()
            .map(|(d, n)| (day_string(*d), json!(n)))
            .collect::<serde_json::Map<_, _>>(),
    }));
    metrics.inputs.push(InputSummary {
        location: loc.clone(),
        format: format.as_str().into(),
        status: "ingested".into(),
        counts: Some(c.clone()),
    });
    out.rejects.keep(&loc, input_rejects);
    // Its aggregates were merged by the thread that read it ([`Merged`]).
    Ok(())
}

/// An input none of whose lines is a line of `format` (no pull, no manifest request, no
/// well-formed line of another kind) was given in the wrong format when its first lines fit
/// another one, or is no log of `format` at all when every line was `foreign`: either is an
/// error naming the input (nothing is committed, so the right format can read it next time).
/// Lines that are all malformed lines of `format` stay what they are: rejects, against the
/// reject threshold.
fn check_format(
    format: LogFormat,
    l: &Listed,
    storage: &Storage,
    cfg: &Config,
    c: &Counts,
) -> Result<()> {
    if c.lines == 0 || c.pulls > 0 || c.manifest_requests > 0 || !c.ignored.is_empty() {
        return Ok(());
    }
    let unreadable = |e: std::io::Error| Error::Unreadable {
        location: l.location.to_string(),
        reason: e.to_string(),
    };
    let text = crate::storage::decompressing(storage.open(&l.location)?).map_err(unreadable)?;
    let opts = crate::ingest::event::ParseOptions {
        layout: cfg.ingest.layout.clone(),
        s3_include_auth_header: cfg.ingest.s3_include_auth_header,
    };
    let fits = crate::ingest::sniff::fitting_format(text, format, &opts).map_err(unreadable)?;
    if fits.is_some() || c.foreign == c.lines {
        return Err(Error::WrongFormat {
            location: l.location.to_string(),
            format,
            lines: c.lines,
            fits,
        });
    }
    Ok(())
}

/// The input as a [`BadFile`] when its reject ratio (over the lines of its own stream) is
/// above `max_bad_ratio`, with its three most frequent reasons.
fn over_threshold(location: &str, c: &Counts, max_bad_ratio: f64) -> Option<BadFile> {
    let denom = c.lines.saturating_sub(c.foreign);
    if denom == 0 {
        return None;
    }
    let ratio = c.rejected() as f64 / denom as f64;
    (ratio > max_bad_ratio).then(|| {
        let mut top: Vec<(String, u64)> = c.rejects.iter().map(|(k, v)| (k.clone(), *v)).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(3);
        BadFile {
            location: location.to_owned(),
            ratio,
            top_reasons: top,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waiting for a read from inside a one-thread pool runs the read (a blocking `recv` there
    /// would wait forever).
    #[test]
    fn waiting_on_a_pool_thread_runs_the_pending_reads() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let got = pool.install(|| {
            rayon::in_place_scope(|s| {
                let (tx, rx) = mpsc::channel();
                for i in 0..3 {
                    let tx = tx.clone();
                    s.spawn(move |_| tx.send(i).unwrap());
                }
                let mut got: Vec<i32> = (0..3).map(|_| next_result(&rx)).collect();
                got.sort_unstable();
                got
            })
        });
        assert_eq!(got, [0, 1, 2]);
    }
}
