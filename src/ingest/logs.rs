//! Reads one log input: decompresses by content, hashes the raw bytes, splits the text into
//! blocks at record boundaries and parses the blocks in parallel (rayon) into [`Aggregates`],
//! counters and quarantined lines.
//!
//! A record is a line, except for `notifications`, whose records are envelopes that may span
//! several lines ([`notifications::envelopes`]); a record's line number is the line it starts on.
//!
//! Memory is bounded whatever the input decompresses to: a reader thread cuts the text into
//! `Piece`s of about `BLOCK` bytes; a few of them at a time are parsed in parallel and
//! merged in input order. A record longer than `ingest.max_line_size` is never buffered whole:
//! once the unfinished record at the end of the buffer passes the limit, it is read through in
//! `SKIP_CHUNK`-byte chunks to its end (the next newline; for `notifications`, the next line
//! that starts with `{`) and becomes one `too_long` reject holding its first bytes and its
//! length. Quarantined lines go to an [`InputRejects`] as they come, in line order, so the cap
//! of stored rows applies while reading and their text is on disk, not in memory.
//!
//! Must not: write to the lake, or decide what a malformed line is (the parsers do).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::sync::{mpsc, Arc, Mutex};

use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

use crate::config::ClientIdentity;
use crate::config::IngestConfig;
use crate::ingest::client::{normalize_addr, redact_addresses};
use crate::ingest::event::{Event, LineOutcome, ParseFn, ParseOptions, Reject};
use crate::ingest::parse::notifications;
use crate::ingest::rejects::{InputRejects, RejectRow, RejectsError, RAW_MAX};
use crate::ingest::render_client;
use crate::ingest::tables::{day_of, Aggregates, PullKind};
use crate::model::{LogFormat, UaClass};

/// Bytes a block holds before it is cut at the next record boundary.
const BLOCK: usize = 4 << 20;
/// Bytes read at a time while a block fills.
const READ_CHUNK: usize = 1 << 20;
/// Bytes read at a time while a record over the limit is read through.
const SKIP_CHUNK: usize = 64 << 10;
/// Bytes of a record kept for its `raw`: [`RAW_MAX`] and a margin, so that redacting a client
/// address cut at the end does not leave part of it in clear.
const PREFIX: usize = RAW_MAX + 64;
/// Pieces of one input parsed in parallel at a time (and the most waiting to be): with
/// [`BLOCK`] and the largest `ingest.max_line_size` (8 MiB), at most 2 × 8 × 13 MiB are in
/// flight for one input; inputs read at the same time share 4 × 8 pieces
/// ([`batch_per_input`]).
const MAX_BATCH: usize = 8;

/// Why a log input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading or decompressing the input (e.g. a corrupt gzip).
    #[error(transparent)]
    Input(#[from] io::Error),
    /// Spooling its quarantined lines.
    #[error(transparent)]
    Rejects(#[from] RejectsError),
}

/// Counts for one input (also the ledger record's numbers).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Non-empty lines read (for `notifications`, envelopes: one may span several lines).
    pub lines: u64,
    /// Pull events.
    pub pulls: u64,
    /// Manifest-request events.
    pub manifest_requests: u64,
    /// Failed GETs of blobs (`failed_pulls`).
    #[serde(skip_serializing_if = "is_zero")]
    pub failed_pulls: u64,
    /// Well-formed lines that are neither, by reason.
    pub ignored: BTreeMap<String, u64>,
    /// Lines of another stream (skipped, not rejected).
    pub foreign: u64,
    /// Quarantined lines by reason code.
    pub rejects: BTreeMap<String, u64>,
    /// Quarantined lines whose raw text was stored.
    pub rejects_stored: u64,
}

impl Counts {
    /// Total rejects.
    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }

    /// Adds another count.
    pub fn add(&mut self, o: &Counts) {
        self.lines += o.lines;
        self.pulls += o.pulls;
        self.manifest_requests += o.manifest_requests;
        self.failed_pulls += o.failed_pulls;
        self.foreign += o.foreign;
        self.rejects_stored += o.rejects_stored;
        for (k, v) in &o.ignored {
            *self.ignored.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.rejects {
            *self.rejects.entry(k.clone()).or_default() += v;
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one input produced.
#[derive(Debug, Default)]
pub struct FileResult {
    /// Aggregates.
    pub agg: Aggregates,
    /// Counters.
    pub counts: Counts,
    /// xxh3-128 of the raw (possibly compressed) bytes, hex.
    pub content_hash: String,
    /// Earliest and latest event day.
    pub days: Option<(i32, i32)>,
    /// Lines per day (days since 1970-01-01): every line with a time, pull or not. The
    /// coverage guard reads these, never the span between the first and the last day.
    pub day_lines: BTreeMap<i32, u64>,
}

/// User-agent classifier with ordered substring patterns.
#[derive(Debug, Clone)]
pub struct UaClassifier {
    rules: Vec<(UaClass, Vec<String>)>,
}

impl UaClassifier {
    /// From validated config.
    pub fn new(rules: &[(UaClass, Vec<String>)]) -> UaClassifier {
        UaClassifier {
            rules: rules.to_vec(),
        }
    }

    /// Classifies one user agent (first matching class wins; none → `other`).
    pub fn classify(&self, ua: Option<&str>) -> UaClass {
        let Some(ua) = ua else { return UaClass::Other };
        let lower = ua.to_ascii_lowercase();
        for (class, pats) in &self.rules {
            if pats.iter().any(|p| lower.contains(p.as_str())) {
                return *class;
            }
        }
        UaClass::Other
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Arc<Mutex<Xxh3>>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher
            .lock()
            .expect("hasher lock is not poisoned")
            .update(&buf[..n]);
        Ok(n)
    }
}

/// A stretch of a log input, in input order.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    /// Whole records (the last one may be unfinished at the end of the input); `first_line`
    /// is the 0-based number of the line the block starts on.
    Block { first_line: u64, bytes: Vec<u8> },
    /// A record longer than the limit, read through without being buffered: the 1-based line
    /// it starts on, its first [`PREFIX`] bytes and its length in bytes (without the newline
    /// that ends it).
    TooLong {
        line: u64,
        prefix: Vec<u8>,
        len: u64,
    },
}

/// How records end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Records {
    /// At a newline.
    Lines,
    /// Before a newline followed by `{` ([`notifications::block_cut`]); leading whitespace is
    /// not part of a record.
    Envelopes,
}

impl Records {
    fn of(format: LogFormat) -> Records {
        match format {
            LogFormat::Notifications => Records::Envelopes,
            _ => Records::Lines,
        }
    }

    /// The end of the last whole record in `buf` (just after its newline), if any.
    fn last_cut(self, buf: &[u8]) -> Option<usize> {
        match self {
            Records::Lines => memchr::memrchr(b'\n', buf).map(|i| i + 1),
            Records::Envelopes => notifications::block_cut(buf),
        }
    }

    /// The end of the first whole record in `buf` (just after its newline), if any, where
    /// `prev` is the byte before `buf`.
    fn first_cut(self, prev: Option<u8>, buf: &[u8]) -> Option<usize> {
        match self {
            Records::Lines => memchr::memchr(b'\n', buf).map(|i| i + 1),
            Records::Envelopes if prev == Some(b'\n') && buf.first() == Some(&b'{') => Some(0),
            Records::Envelopes => memchr::memmem::find(buf, b"\n{").map(|i| i + 1),
        }
    }
}

/// A record over the limit while it is read through.
struct Skipped {
    records: Records,
    /// Whether a byte other than whitespace was seen (an all-blank record is skipped, as a
    /// blank line is).
    started: bool,
    /// Newlines before the record's first byte (envelopes only: their leading whitespace is
    /// not part of them).
    lead_lines: u64,
    prefix: Vec<u8>,
    len: u64,
    newlines: u64,
    last: [u8; 2],
}

impl Skipped {
    fn new(records: Records) -> Skipped {
        Skipped {
            records,
            started: false,
            lead_lines: 0,
            prefix: Vec::with_capacity(PREFIX),
            len: 0,
            newlines: 0,
            last: [0; 2],
        }
    }

    fn last_byte(&self) -> Option<u8> {
        (self.len > 0).then_some(self.last[1])
    }

    /// Appends bytes of the record (including, at the end, the newline that ends it).
    fn feed(&mut self, mut bytes: &[u8]) {
        let lines = memchr::memchr_iter(b'\n', bytes).count() as u64;
        self.newlines += lines;
        if !self.started {
            match bytes.iter().position(|b| !b.is_ascii_whitespace()) {
                None if self.records == Records::Envelopes => {
                    self.lead_lines += lines;
                    return;
                }
                None => {}
                Some(i) => {
                    self.started = true;
                    if self.records == Records::Envelopes {
                        self.lead_lines += memchr::memchr_iter(b'\n', &bytes[..i]).count() as u64;
                        bytes = &bytes[i..];
                    }
                }
            }
        }
        let room = PREFIX - self.prefix.len();
        self.prefix
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.len += bytes.len() as u64;
        match bytes {
            [.., a, b] => self.last = [*a, *b],
            [b] => self.last = [self.last[1], *b],
            [] => {}
        }
    }

    /// The piece, `None` for a blank record; `first` is the 0-based line the record's stretch
    /// starts on.
    fn finish(mut self, first: u64) -> Option<Piece> {
        if !self.started {
            return None;
        }
        // The newline that ends the record, and a carriage return before it, are not part
        // of it (as for a line in a block).
        if self.last_byte() == Some(b'\n') {
            self.len -= 1;
            self.last[1] = self.last[0];
        }
        if self.last_byte() == Some(b'\r') {
            self.len -= 1;
        }
        self.prefix.truncate(self.len.min(PREFIX as u64) as usize);
        Some(Piece::TooLong {
            line: first + self.lead_lines + 1,
            prefix: self.prefix,
            len: self.len,
        })
    }
}

/// Splits a reader into [`Piece`]s: blocks of about [`BLOCK`] bytes that end at a record
/// boundary, and records over `max` bytes read through. Holds at most [`BLOCK`] +
/// [`READ_CHUNK`] + `max` bytes.
struct Pieces<R> {
    r: R,
    records: Records,
    max: usize,
    /// The start of the records not cut yet.
    carry: Vec<u8>,
    /// The 0-based line `carry` starts on.
    next_line: u64,
    done: bool,
    queued: Option<Piece>,
}

impl<R: Read> Pieces<R> {
    fn new(r: R, records: Records, max: usize) -> Pieces<R> {
        Pieces {
            r,
            records,
            max,
            carry: Vec::new(),
            next_line: 0,
            done: false,
            queued: None,
        }
    }

    /// Reads at most `n` bytes onto the end of `buf`; 0 at the end of the input.
    fn read_into(&mut self, buf: &mut Vec<u8>, n: usize) -> io::Result<usize> {
        (&mut self.r).take(n as u64).read_to_end(buf)
    }

    /// The next piece(s): a block, a record over the limit, or both (the block first).
    fn fill(&mut self) -> io::Result<Option<Piece>> {
        let mut buf = std::mem::take(&mut self.carry);
        let mut cut = self.records.last_cut(&buf);
        loop {
            let tail = cut.unwrap_or(0);
            if buf.len() - tail > self.max {
                return self.read_through(buf, tail);
            }
            if buf.len() >= BLOCK && cut.is_some() {
                break;
            }
            let from = buf.len().saturating_sub(1);
            if self.read_into(&mut buf, READ_CHUNK)? == 0 {
                self.done = true;
                break;
            }
            if let Some(c) = self.records.last_cut(&buf[from..]) {
                cut = Some(from + c);
            }
        }
        if !self.done {
            let end = cut.expect("the loop ends with a record boundary when not at the end");
            self.carry = buf.split_off(end);
        }
        Ok(self.block(buf))
    }

    /// `bytes` as a block starting at `next_line`, counting its lines.
    fn block(&mut self, bytes: Vec<u8>) -> Option<Piece> {
        let first = self.next_line;
        self.next_line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        (!bytes.is_empty()).then_some(Piece::Block {
            first_line: first,
            bytes,
        })
    }

    /// `buf[..tail]` are whole records and `buf[tail..]`, an unfinished one, is over the
    /// limit: reads it through to its end, keeping the bytes after it as the carry.
    fn read_through(&mut self, mut buf: Vec<u8>, tail: usize) -> io::Result<Option<Piece>> {
        let mut skipped = Skipped::new(self.records);
        skipped.feed(&buf[tail..]);
        buf.truncate(tail);
        let head = self.block(buf);
        let first = self.next_line;
        let mut chunk = Vec::with_capacity(SKIP_CHUNK);
        loop {
            chunk.clear();
            if self.read_into(&mut chunk, SKIP_CHUNK)? == 0 {
                self.done = true;
                break;
            }
            if let Some(c) = self.records.first_cut(skipped.last_byte(), &chunk) {
                skipped.feed(&chunk[..c]);
                self.carry = chunk[c..].to_vec();
                break;
            }
            skipped.feed(&chunk);
        }
        self.next_line = first + skipped.newlines;
        let long = skipped.finish(first);
        match (head, long) {
            (Some(h), l) => {
                self.queued = l;
                Ok(Some(h))
            }
            (None, l) => Ok(l),
        }
    }
}

impl<R: Read> Iterator for Pieces<R> {
    type Item = io::Result<Piece>;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(p) = self.queued.take() {
            return Some(Ok(p));
        }
        while !self.done {
            match self.fill() {
                Ok(Some(p)) => return Some(Ok(p)),
                // A blank record over the limit: nothing to parse.
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.queued.take().map(Ok)
    }
}

#[derive(Default)]
struct BlockOut {
    agg: Aggregates,
    counts: Counts,
    /// The first quarantined records (as many as there was room for), with their lengths.
    rejects: Vec<(RejectRow, u64)>,
    days: Option<(i32, i32)>,
    day_lines: BTreeMap<i32, u64>,
}

/// The quarantine row of a record (its first bytes, client addresses redacted when hashing
/// is on).
fn reject_row(
    format: LogFormat,
    hashing: Option<&ClientIdentity>,
    line: u64,
    reason: Reject,
    record: &[u8],
) -> RejectRow {
    let raw = String::from_utf8_lossy(&record[..record.len().min(PREFIX)]);
    // With hashing on, no client address is stored as logged, not even here.
    let raw = match hashing {
        Some(id) => redact_addresses(&raw, &|a| render_client(id, a)),
        None => raw.into_owned(),
    };
    RejectRow {
        format: format.as_str(),
        line,
        reason: reason.code(),
        raw,
        raw_len: record.len() as u64,
    }
}

/// Settings of one input's parse.
struct Ctx<'a> {
    format: LogFormat,
    parse: ParseFn,
    opts: &'a ParseOptions,
    ua: &'a UaClassifier,
    hashing: Option<&'a ClientIdentity>,
    max_line: usize,
}

/// Parses one piece, keeping at most `room` quarantined records.
fn parse_piece(ctx: &Ctx<'_>, piece: &Piece, room: u64) -> BlockOut {
    match piece {
        Piece::Block { first_line, bytes } => parse_block(ctx, *first_line, bytes, room),
        Piece::TooLong { line, prefix, len } => {
            let mut out = BlockOut::default();
            out.counts.lines = 1;
            out.counts
                .rejects
                .insert(Reject::TooLong.code().to_string(), 1);
            if room > 0 {
                let row = reject_row(ctx.format, ctx.hashing, *line, Reject::TooLong, prefix);
                out.rejects.push((row, *len));
            }
            out
        }
    }
}

fn merge_days(a: Option<(i32, i32)>, b: Option<(i32, i32)>) -> Option<(i32, i32)> {
    match (a, b) {
        (Some(x), Some(y)) => Some((x.0.min(y.0), x.1.max(y.1))),
        (x, None) | (None, x) => x,
    }
}

/// The first and the last microsecond of 1970-01-01 .. 9999-12-31 (UTC): an event outside
/// would make a partition `date=1969-12-31` or `date=+10000-01-01`.
const TS_RANGE: std::ops::RangeInclusive<i64> = 0..=253_402_300_799_999_999;

fn in_range(ts: i64) -> bool {
    TS_RANGE.contains(&ts)
}

fn event_ts(e: &Event<'_>) -> i64 {
    e.ts()
}

/// A per-block cache of what a distinct text (a user agent, a client) gives.
type Cache<V> = HashMap<Box<str>, V, ahash::RandomState>;

/// The lines of a block (as `block.split(|&b| b == b'\n')`, with a SIMD search for the
/// newlines instead of a test of every byte).
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', block)
        .chain(std::iter::once(block.len()))
        .map(move |end| {
            let line = &block[start..end];
            start = end + 1;
            line
        })
}

fn parse_block(ctx: &Ctx<'_>, first_line: u64, block: &[u8], room: u64) -> BlockOut {
    let Ctx {
        format,
        parse,
        opts,
        ua,
        hashing,
        max_line,
    } = *ctx;
    let mut out = BlockOut::default();
    let time_of = crate::ingest::parse::time_of(format);
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut ua_cache: Cache<UaClass> = Cache::default();
    // Clients as logged → normalised ([`normalize_addr`] allocates): once per distinct value.
    let mut clients: Cache<Option<Box<str>>> = Cache::default();
    let normalized = |raw: Option<&str>, cache: &mut Cache<Option<Box<str>>>| {
        let raw = raw?;
        if !cache.contains_key(raw) {
            cache.insert(raw.into(), normalize_addr(raw).map(String::into_boxed_str));
        }
        Some(())
    };
    let mut ignored: HashMap<&'static str, u64> = HashMap::new();
    let mut rejects: HashMap<&'static str, u64> = HashMap::new();
    let classify = |s: Option<&str>, cache: &mut Cache<UaClass>| -> UaClass {
        match s {
            None => UaClass::Other,
            Some(s) => {
                if let Some(c) = cache.get(s) {
                    return *c;
                }
                let c = ua.classify(Some(s));
                cache.insert(s.into(), c);
                c
            }
        }
    };
    let records: Box<dyn Iterator<Item = (u64, &[u8])> + '_> = match format {
        LogFormat::Notifications => Box::new(
            notifications::envelopes(block).map(move |(off, rec)| (first_line + 1 + off, rec)),
        ),
        _ => Box::new((first_line + 1..).zip(lines(block))),
    };
    for (line_no, mut line) in records {
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        out.counts.lines += 1;
        events.clear();
        let res = if line.len() > max_line {
            Err(Reject::TooLong)
        } else if memchr::memchr(0, line).is_some() {
            // A NUL where a separator belongs shifts every field after it.
            Err(Reject::NulByte)
        } else {
            match parse(line, opts, &mut events) {
                Ok(LineOutcome::Used) if events.iter().any(|e| !in_range(event_ts(e))) => {
                    events.clear();
                    Err(Reject::BadTimestamp)
                }
                res => res,
            }
        };
        let line_ts = match res {
            Ok(LineOutcome::Used) => events.first().map(event_ts),
            Ok(LineOutcome::Ignored(_)) => time_of(line).filter(|&ts| in_range(ts)),
            _ => None,
        };
        if let Some(ts) = line_ts {
            *out.day_lines.entry(day_of(ts)).or_default() += 1;
        }
        match res {
            Ok(LineOutcome::Used) => {
                for ev in events.drain(..) {
                    match ev {
                        Event::Pull(_) | Event::RangedPull(_) | Event::NotifiedPull(..) => {
                            let (p, kind) = match ev {
                                Event::RangedPull(p) => (p, PullKind::Ranged),
                                Event::NotifiedPull(p, id) => {
                                    let id = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
                                    (p, PullKind::Notified(id))
                                }
                                Event::Pull(p) => (p, PullKind::Whole),
                                _ => unreachable!("matched above"),
                            };
                            let day = day_of(p.ts);
                            out.days = merge_days(out.days, Some((day, day)));
                            let raw = p.client.as_deref();
                            normalized(raw, &mut clients);
                            let client = raw.and_then(|r| clients.get(r)?.as_deref());
                            let class = classify(p.ua.as_deref(), &mut ua_cache);
                            out.agg.add_pull(
                                day,
                                p.digest,
                                client,
                                p.repo.as_deref(),
                                class,
                                format,
                                p.ts,
                                p.bytes.unwrap_or(0).max(0),
                                kind,
                            );
                            out.counts.pulls += 1;
                        }
                        Event::FailedPull(f) => {
                            let day = day_of(f.ts);
                            out.days = merge_days(out.days, Some((day, day)));
                            let client = f.client.as_deref().and_then(normalize_addr);
                            let class = classify(f.ua.as_deref(), &mut ua_cache);
                            out.agg.add_failed(
                                day,
                                f.digest,
                                client.as_deref(),
                                class,
                                format,
                                f.status,
                                f.error_code.as_deref(),
                                f.ts,
                            );
                            out.counts.failed_pulls += 1;
                        }
                        Event::Manifest(m) => {
                            let day = day_of(m.ts);
                            out.days = merge_days(out.days, Some((day, day)));
                            let raw = m.client.as_deref();
                            normalized(raw, &mut clients);
                            let client = raw.and_then(|r| clients.get(r)?.as_deref());
                            let class = classify(m.ua.as_deref(), &mut ua_cache);
                            out.agg.add_manifest(
                                day,
                                &m.repo,
                                &m.reference,
                                client,
                                m.ua.as_deref(),
                                class,
                                format,
                                m.ts,
                            );
                            out.counts.manifest_requests += 1;
                        }
                    }
                }
            }
            Ok(LineOutcome::Ignored(why)) => *ignored.entry(why).or_default() += 1,
            Ok(LineOutcome::Foreign) => out.counts.foreign += 1,
            Err(r) => {
                *rejects.entry(r.code()).or_default() += 1;
                if (out.rejects.len() as u64) < room {
                    let row = reject_row(format, hashing, line_no, r, line);
                    out.rejects.push((row, line.len() as u64));
                }
            }
        }
    }
    out.counts.ignored = ignored
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.counts.rejects = rejects
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out
}

/// The batch of [`read_log_with`] for each of `inputs` inputs read at the same time on
/// `threads` threads: together they hold at most 2 × `inputs` × batch ≤ 4 × `MAX_BATCH`
/// blocks, and one input alone still uses every thread.
pub fn batch_per_input(threads: usize, inputs: usize) -> usize {
    (2 * MAX_BATCH / inputs.max(1)).clamp(1, threads.clamp(1, MAX_BATCH))
}

/// Parses one log input. IO and decompression errors (e.g. a corrupt gzip) are errors;
/// malformed lines are counted, and the first of them go to `rejects` (in line order).
pub fn read_log(
    format: LogFormat,
    raw: Box<dyn Read + Send>,
    cfg: &IngestConfig,
    rejects: &mut InputRejects,
) -> Result<FileResult, ReadError> {
    let batch = rayon::current_num_threads().clamp(1, MAX_BATCH);
    read_log_with(format, raw, cfg, rejects, batch)
}

/// [`read_log`], parsing `batch` blocks at a time in parallel (at most 2 × `batch` blocks are
/// held: those parsed and those the reader cut ahead).
pub fn read_log_with(
    format: LogFormat,
    raw: Box<dyn Read + Send>,
    cfg: &IngestConfig,
    rejects: &mut InputRejects,
    batch: usize,
) -> Result<FileResult, ReadError> {
    let batch = batch.clamp(1, MAX_BATCH);
    let hasher = Arc::new(Mutex::new(Xxh3::new()));
    let hashing: Box<dyn Read + Send> = Box::new(HashingReader {
        inner: raw,
        hasher: Arc::clone(&hasher),
    });
    let mut text = crate::storage::decompressing(hashing)?;
    let opts = ParseOptions {
        layout: cfg.layout.clone(),
        s3_include_auth_header: cfg.s3_include_auth_header,
    };
    let ua = UaClassifier::new(&cfg.ua_classes);
    let ctx = Ctx {
        format,
        parse: crate::ingest::parse::parser(format),
        opts: &opts,
        ua: &ua,
        hashing: cfg
            .client_identity
            .as_ref()
            .filter(|id| matches!(id, ClientIdentity::Keyed(_))),
        max_line: cfg.max_line,
    };
    let pieces = Pieces::new(&mut text, Records::of(format), cfg.max_line);
    let merged = std::thread::scope(|s| -> Result<BlockOut, ReadError> {
        // The reader decompresses and cuts while the pieces before are parsed; the channel
        // bounds how far ahead it gets.
        let (tx, rx) = mpsc::sync_channel(batch);
        s.spawn(move || {
            for piece in pieces {
                let failed = piece.is_err();
                if tx.send(piece).is_err() || failed {
                    break;
                }
            }
        });
        let mut total = BlockOut::default();
        loop {
            let mut group = Vec::with_capacity(batch);
            while group.len() < batch {
                match rx.recv() {
                    Ok(piece) => group.push(piece?),
                    Err(mpsc::RecvError) => break,
                }
            }
            if group.is_empty() {
                return Ok(total);
            }
            let room = rejects.room();
            let outs: Vec<BlockOut> = group
                .par_iter()
                .map(|p| parse_piece(&ctx, p, room))
                .collect();
            drop(group);
            // In input order: the rows stored are the first of the input.
            for o in outs {
                let kept = o.rejects.len() as u64;
                for (row, len) in o.rejects {
                    rejects.push_prefix(row, len)?;
                }
                rejects.count_unstored(o.counts.rejected() - kept);
                total.agg.merge(o.agg);
                total.counts.add(&o.counts);
                total.days = merge_days(total.days, o.days);
                for (day, n) in o.day_lines {
                    *total.day_lines.entry(day).or_default() += n;
                }
            }
        }
    })?;
    // Drain anything the decompressor did not need so the hash covers every byte.
    io::copy(&mut text, &mut io::sink())?;
    drop(text);
    let mut counts = merged.counts;
    counts.rejects_stored = rejects.stored();
    let digest = hasher
        .lock()
        .expect("hasher lock is not poisoned")
        .digest128();
    Ok(FileResult {
        agg: merged.agg,
        counts,
        content_hash: format!("xxh3-128:{digest:032x}"),
        days: merged.days,
        day_lines: merged.day_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_line_numbers_and_lose_nothing() {
        let mut text = Vec::new();
        for i in 0..300_000u32 {
            text.extend_from_slice(
                format!("line {i} with some padding to make blocks\n").as_bytes(),
            );
        }
        text.extend_from_slice(b"last line without newline");
        let blocks: Vec<_> = Pieces::new(&text[..], Records::Lines, 1 << 20)
            .map(|b| b.unwrap())
            .collect();
        assert!(blocks.len() > 1, "expected several blocks");
        let mut expect_line = 0u64;
        let mut joined = Vec::new();
        for piece in &blocks {
            let Piece::Block { first_line, bytes } = piece else {
                panic!("no line is too long: {piece:?}");
            };
            assert_eq!(*first_line, expect_line);
            expect_line += bytes.iter().filter(|&&c| c == b'\n').count() as u64;
            joined.extend_from_slice(bytes);
        }
        assert_eq!(joined, text);
    }

    fn pieces(text: &[u8], records: Records, max: usize) -> Vec<Piece> {
        Pieces::new(text, records, max)
            .map(|p| p.unwrap())
            .collect()
    }

    fn too_long(line: u64, prefix: &[u8], len: usize) -> Piece {
        Piece::TooLong {
            line,
            prefix: prefix.to_vec(),
            len: len as u64,
        }
    }

    /// A line over the limit is read through in chunks and becomes one piece holding its
    /// first bytes and its length; the lines around it keep their numbers. (A long line that
    /// arrives whole in one read stays in its block: the parser rejects it.)
    #[test]
    fn a_line_over_the_limit_is_read_through() {
        let long = vec![b'x'; READ_CHUNK + 3 * SKIP_CHUNK + 17];
        let mut text = b"one\ntwo\n".to_vec();
        text.extend_from_slice(&long);
        text.extend_from_slice(b"\r\nfour\n");
        let got = pieces(&text, Records::Lines, 1024);
        assert_eq!(
            got,
            [
                Piece::Block {
                    first_line: 0,
                    bytes: b"one\ntwo\n".to_vec()
                },
                too_long(3, &long[..PREFIX], long.len()),
                Piece::Block {
                    first_line: 3,
                    bytes: b"four\n".to_vec()
                },
            ]
        );
        // At the end of the input, without a newline; and a blank one is nothing.
        let got = pieces(&long, Records::Lines, 1024);
        assert_eq!(got, [too_long(1, &long[..PREFIX], long.len())]);
        let mut blank = vec![b' '; READ_CHUNK + 5000];
        blank.extend_from_slice(b"\nnext\n");
        let got = pieces(&blank, Records::Lines, 1024);
        assert_eq!(
            got,
            [Piece::Block {
                first_line: 1,
                bytes: b"next\n".to_vec()
            }]
        );
    }

    /// An envelope over the limit ends before the next line that starts with `{` (also when
    /// that newline is the last byte of a chunk and the `{` the first of the next), and is
    /// numbered by the line it starts on.
    #[test]
    fn an_envelope_over_the_limit_ends_at_the_next_envelope() {
        let edge = READ_CHUNK + 2 * SKIP_CHUNK;
        for before_next in [edge - 1, edge, edge + 1] {
            let mut text = b"\n\n{\"events\": [\n".to_vec();
            let mut lines = 3;
            while text.len() < before_next {
                let pad = (before_next - text.len()).clamp(1, 1000);
                text.extend_from_slice(&vec![b' '; pad - 1]);
                text.push(b'\n');
                lines += 1;
            }
            assert_eq!(text.len(), before_next);
            let len = text.len() - 2 - 1;
            text.extend_from_slice(b"{\"events\": []}\n");
            let got = pieces(&text, Records::Envelopes, 1024);
            assert_eq!(
                got,
                [
                    Piece::Block {
                        first_line: 0,
                        bytes: b"\n\n".to_vec()
                    },
                    too_long(3, &text[2..2 + PREFIX], len),
                    Piece::Block {
                        first_line: lines,
                        bytes: b"{\"events\": []}\n".to_vec()
                    },
                ],
                "next envelope at {before_next}"
            );
        }
    }

    /// Pretty-printed envelopes spread over several blocks: none is split, every pull is
    /// counted once, and a reject names the line its envelope starts on.
    #[test]
    fn pretty_printed_notifications_across_blocks() {
        let sample = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/written/notifications-pretty.json"
        ))
        .unwrap();
        // The fourth envelope (lines 89-117) is a blob GET.
        let blob: String = sample
            .lines()
            .skip(88)
            .take(29)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(blob.starts_with('{') && blob.ends_with('}'));
        let n = 12_000u64;
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(&blob);
            text.push('\n');
        }
        assert!(text.len() > 2 * BLOCK, "several blocks");
        text.push_str("{\n   \"events\": [\n");
        let bad_line = n * 29 + 1;
        let cfg = crate::config::RawConfig::default()
            .validate(&Default::default())
            .unwrap();
        let t = tempfile::tempdir().unwrap();
        let mut rejects = InputRejects::new(t.path());
        let r = read_log(
            LogFormat::Notifications,
            Box::new(io::Cursor::new(text.into_bytes())),
            &cfg.ingest,
            &mut rejects,
        )
        .unwrap();
        assert_eq!(r.counts.pulls, n);
        assert_eq!(r.counts.lines, n + 1);
        assert_eq!(r.counts.rejects.get("bad_json"), Some(&1));
        assert_eq!((rejects.counted(), rejects.stored()), (1, 1));
        assert_eq!(r.counts.rejects_stored, 1);
        let mut q = crate::ingest::rejects::Quarantine::new(t.path().to_owned());
        q.keep("in", rejects);
        let out = t.path().join("r.parquet");
        q.write(&out, "run").unwrap();
        let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&out).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
        use arrow::array::AsArray;
        let line = batch
            .column_by_name("line")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0);
        assert_eq!(line as u64, bad_line);
    }

    #[test]
    fn lines_split_as_split_does() {
        for block in [&b""[..], b"\n", b"a", b"a\n", b"a\nb", b"\n\na\r\nb\n\n"] {
            let want: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
            assert_eq!(lines(block).collect::<Vec<_>>(), want, "{block:?}");
        }
    }

    #[test]
    fn ua_classes_in_order() {
        let cfg = crate::config::RawConfig::default()
            .validate(&Default::default())
            .unwrap();
        let c = UaClassifier::new(&cfg.ingest.ua_classes);
        assert_eq!(c.classify(Some("Trivy/0.48.3")), UaClass::Scanner);
        assert_eq!(c.classify(Some("containerd/1.7.13")), UaClass::Ci);
        assert_eq!(c.classify(Some("buildkit/v0.12")), UaClass::Ci);
        assert_eq!(
            c.classify(Some(
                "docker/24.0.7 go/go1.20.10 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))"
            )),
            UaClass::Human
        );
        assert_eq!(c.classify(Some("curl/8.0")), UaClass::Other);
        assert_eq!(c.classify(None), UaClass::Other);
    }
}
