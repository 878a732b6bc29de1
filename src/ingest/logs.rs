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

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{mpsc, Arc, Mutex};

use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

use crate::config::ClientIdentity;
use crate::config::IngestConfig;
use crate::ingest::block::{merge_days, parse_piece, parse_piece_into, BlockOut, Ctx};
use crate::ingest::event::ParseOptions;
use crate::ingest::parse::notifications;
use crate::ingest::rejects::{InputRejects, RejectsError, RAW_MAX};
use crate::ingest::tables::Aggregates;
use crate::model::{LogFormat, UaClass};

/// Bytes a block holds before it is cut at the next record boundary.
const BLOCK: usize = 4 << 20;
/// Bytes read at a time while a block fills.
const READ_CHUNK: usize = 1 << 20;
/// Bytes read at a time while a record over the limit is read through.
const SKIP_CHUNK: usize = 64 << 10;
/// Bytes of a record kept for its `raw`: [`RAW_MAX`] and a margin, so that redacting a client
/// address cut at the end does not leave part of it in clear.
pub(crate) const PREFIX: usize = RAW_MAX + 64;
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
pub(crate) enum Piece {
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
        opts: &opts,
        ua: &ua,
        hashing: cfg
            .client_identity
            .as_ref()
            .filter(|id| matches!(id, ClientIdentity::Keyed(_))),
        max_line: cfg.max_line,
    };
    let pieces = Pieces::new(&mut text, Records::of(format), cfg.max_line);
    // In input order: the rows stored are the first of the input.
    let absorb = |total: &mut BlockOut, o: BlockOut, rejects: &mut InputRejects| {
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
        Ok::<(), ReadError>(())
    };
    let merged = if batch == 1 {
        // One block at a time: parsed here, as it is cut. No reader thread and no channel,
        // which for the many small inputs of an S3 log delivery cost more than the parsing
        // (the inputs themselves are read in parallel, see `ingest::read`).
        let mut total = BlockOut::default();
        for piece in pieces {
            let agg = std::mem::take(&mut total.agg);
            let mut out = parse_piece_into(&ctx, &piece?, rejects.room(), agg);
            total.agg = std::mem::take(&mut out.agg);
            absorb(&mut total, out, rejects)?;
        }
        total
    } else {
        std::thread::scope(|s| -> Result<BlockOut, ReadError> {
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
                for o in outs {
                    absorb(&mut total, o, rejects)?;
                }
            }
        })?
    };
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

    fn block(first_line: u64, bytes: &[u8]) -> Piece {
        Piece::Block {
            first_line,
            bytes: bytes.to_vec(),
        }
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
                block(0, b"one\ntwo\n"),
                too_long(3, &long[..PREFIX], long.len()),
                block(3, b"four\n"),
            ]
        );
        // At the end of the input, without a newline; and a blank one is nothing.
        let got = pieces(&long, Records::Lines, 1024);
        assert_eq!(got, [too_long(1, &long[..PREFIX], long.len())]);
        let mut blank = vec![b' '; READ_CHUNK + 5000];
        blank.extend_from_slice(b"\nnext\n");
        let got = pieces(&blank, Records::Lines, 1024);
        assert_eq!(got, [block(1, b"next\n")]);
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
                    block(0, b"\n\n"),
                    too_long(3, &text[2..2 + PREFIX], len),
                    block(lines, b"{\"events\": []}\n"),
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
