//! Output files (plain, gzip, zstd) with line counting, the plan for malformed lines, and the
//! per-format report the writers hand back.
//!
//! Malformed lines are *extra* lines (never a replacement for a real request), inserted only
//! when the file already holds `every` good lines per malformed line, so that the share of
//! malformed lines in any file stays below `1 / every` at every point of the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::rng::Rng;

/// Compression of an output file.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Enc {
    Plain,
    Gz(u32),
    Zst(i32),
}

enum Inner {
    Plain(BufWriter<File>),
    Gz(BufWriter<GzEncoder<File>>),
    Zst(BufWriter<zstd::stream::write::Encoder<'static, File>>),
}

/// One output file.
pub(crate) struct Sink {
    inner: Inner,
    /// Path relative to the output directory (for the report).
    pub(crate) rel: String,
    /// Physical lines written.
    pub(crate) lines: u64,
    /// Lines that count toward the malformed-line budget.
    pub(crate) good: u64,
    /// Malformed lines written.
    pub(crate) bad: u64,
}

const BUF: usize = 256 * 1024;

impl Sink {
    /// Creates `root/rel` (parents included).
    pub(crate) fn create(root: &Path, rel: &str, enc: Enc) -> io::Result<Sink> {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = File::create(&path)?;
        let inner = match enc {
            Enc::Plain => Inner::Plain(BufWriter::with_capacity(BUF, f)),
            Enc::Gz(level) => Inner::Gz(BufWriter::with_capacity(
                BUF,
                GzEncoder::new(f, Compression::new(level)),
            )),
            Enc::Zst(level) => Inner::Zst(BufWriter::with_capacity(
                BUF,
                zstd::stream::write::Encoder::new(f, level)?,
            )),
        };
        Ok(Sink {
            inner,
            rel: rel.to_string(),
            lines: 0,
            good: 0,
            bad: 0,
        })
    }

    fn w(&mut self) -> &mut dyn Write {
        match &mut self.inner {
            Inner::Plain(w) => w,
            Inner::Gz(w) => w,
            Inner::Zst(w) => w,
        }
    }

    /// Writes one line (a newline is appended).
    pub(crate) fn line(&mut self, s: &str) -> io::Result<()> {
        let w = self.w();
        w.write_all(s.as_bytes())?;
        w.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }

    /// Writes one line that counts toward the malformed-line budget.
    pub(crate) fn good_line(&mut self, s: &str) -> io::Result<()> {
        self.good += 1;
        self.line(s)
    }

    /// Flushes and closes the file (finishing the compressed stream).
    pub(crate) fn finish(self) -> io::Result<()> {
        match self.inner {
            Inner::Plain(mut w) => w.flush(),
            Inner::Gz(w) => w
                .into_inner()
                .map_err(|e| e.into_error())?
                .finish()
                .map(drop),
            Inner::Zst(w) => w
                .into_inner()
                .map_err(|e| e.into_error())?
                .finish()
                .map(drop),
        }
    }
}

/// Reject reason codes (the ingest contract's `reason_code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reject {
    TooFewFields,
    BadQuoting,
    BadTimestamp,
    BadNumber,
    BadDigest,
    BadJson,
    BadRequestLine,
}

impl Reject {
    /// All codes, for reporting zeros too.
    pub(crate) const ALL: [Reject; 7] = [
        Reject::TooFewFields,
        Reject::BadQuoting,
        Reject::BadTimestamp,
        Reject::BadNumber,
        Reject::BadDigest,
        Reject::BadJson,
        Reject::BadRequestLine,
    ];

    /// The reason code string.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Reject::TooFewFields => "too_few_fields",
            Reject::BadQuoting => "bad_quoting",
            Reject::BadTimestamp => "bad_timestamp",
            Reject::BadNumber => "bad_number",
            Reject::BadDigest => "bad_digest",
            Reject::BadJson => "bad_json",
            Reject::BadRequestLine => "bad_request_line",
        }
    }
}

/// When to insert a malformed line and of which kind.
pub(crate) struct BadPlan {
    every: u64,
    p: f64,
    rng: Rng,
    kinds: &'static [Reject],
    next: usize,
}

impl BadPlan {
    /// `every` good lines per malformed line at most; `p` = chance per opportunity.
    pub(crate) fn new(every: u64, p: f64, rng: Rng, kinds: &'static [Reject]) -> Self {
        // Kinds come in the given order (most important first), so that small outputs with few
        // opportunities still get the important ones.
        BadPlan {
            every,
            p,
            rng,
            kinds,
            next: 0,
        }
    }

    /// A malformed kind to insert now into `sink`, if one is due: each time the file reaches
    /// another `every` good lines there is one chance `p`.
    pub(crate) fn due(&mut self, sink: &Sink) -> Option<Reject> {
        let mark = sink.good > 0 && sink.good.is_multiple_of(self.every);
        if mark && sink.bad < sink.good / self.every && self.rng.chance(self.p) {
            let k = self.kinds[self.next % self.kinds.len()];
            self.next += 1;
            Some(k)
        } else {
            None
        }
    }

    /// Randomness for building the malformed line.
    pub(crate) fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}

/// One malformed line: where it is and why.
#[derive(Clone, Debug)]
pub(crate) struct Malformed {
    pub(crate) file: String,
    pub(crate) line: u64,
    pub(crate) reason: Reject,
}

/// What a writer produced.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) files: u64,
    pub(crate) lines: u64,
    /// Lines of another stream interleaved (Apache lines in the JSON log).
    pub(crate) foreign: u64,
    /// Notification events (lines are envelopes).
    pub(crate) events: u64,
    pub(crate) malformed: Vec<Malformed>,
    /// Other counters (by kind), informational.
    pub(crate) other: BTreeMap<&'static str, u64>,
}

impl Report {
    /// Accounts a finished file.
    pub(crate) fn close(&mut self, sink: Sink) -> io::Result<()> {
        self.files += 1;
        self.lines += sink.lines;
        sink.finish()
    }

    /// Writes a malformed line into `sink` and records it.
    pub(crate) fn bad_line(
        &mut self,
        sink: &mut Sink,
        line: &str,
        reason: Reject,
    ) -> io::Result<()> {
        sink.line(line)?;
        sink.bad += 1;
        self.malformed.push(Malformed {
            file: sink.rel.clone(),
            line: sink.lines,
            reason,
        });
        Ok(())
    }

    /// Counts rejects by reason code (all codes present).
    pub(crate) fn rejects(&self) -> BTreeMap<&'static str, u64> {
        let mut m: BTreeMap<&'static str, u64> =
            Reject::ALL.iter().map(|r| (r.code(), 0)).collect();
        for b in &self.malformed {
            *m.entry(b.reason.code()).or_default() += 1;
        }
        m
    }

    /// Bumps an informational counter.
    pub(crate) fn count(&mut self, key: &'static str) {
        *self.other.entry(key).or_default() += 1;
    }
}
