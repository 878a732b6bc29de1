//! One block of a log input, parsed: the lines (or notification envelopes) of a piece that
//! `logs` cut from an input, each checked (size, NUL, time range), parsed by the format's
//! parser and added to the block's aggregates, with per-day line counts and the first
//! quarantined records. A block knows nothing of files, order or other blocks: `logs` reads
//! the pieces, runs blocks in parallel and merges their [`BlockOut`]s in input order.

use std::collections::{BTreeMap, HashMap};

use crate::config::ClientIdentity;
use crate::ingest::client::{normalize_addr, redact_addresses};
use crate::ingest::event::{Event, LineOutcome, ParseOptions, Reject};
use crate::ingest::logs::{Counts, Piece, UaClassifier, PREFIX};
use crate::ingest::parse::{self, notifications};
use crate::ingest::rejects::RejectRow;
use crate::ingest::render_client;
use crate::ingest::tables::{day_of, Aggregates, PullKind};
use crate::model::{LogFormat, UaClass};

#[derive(Default)]
pub(crate) struct BlockOut {
    pub(crate) agg: Aggregates,
    pub(crate) counts: Counts,
    /// The first quarantined records (as many as there was room for), with their lengths.
    pub(crate) rejects: Vec<(RejectRow, u64)>,
    pub(crate) days: Option<(i32, i32)>,
    pub(crate) day_lines: BTreeMap<i32, u64>,
}

impl BlockOut {
    /// The day of an event at `ts` (µs), taken into the block's first and last day.
    fn event_day(&mut self, ts: i64) -> i32 {
        let day = day_of(ts);
        self.days = merge_days(self.days, Some((day, day)));
        day
    }
}

/// The quarantine row of a record (its first bytes, client addresses redacted when hashing
/// is on).
pub(crate) fn reject_row(
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
pub(crate) struct Ctx<'a> {
    pub(crate) format: LogFormat,
    pub(crate) opts: &'a ParseOptions,
    pub(crate) ua: &'a UaClassifier,
    pub(crate) hashing: Option<&'a ClientIdentity>,
    pub(crate) max_line: usize,
}

/// Parses one piece, keeping at most `room` quarantined records.
pub(crate) fn parse_piece(ctx: &Ctx<'_>, piece: &Piece, room: u64) -> BlockOut {
    parse_piece_into(ctx, piece, room, Aggregates::default())
}

/// [`parse_piece`], adding the piece's events to `agg` (the returned [`BlockOut`] holds
/// them): the blocks of an input parsed one after the other share one set of aggregates
/// instead of building one per block and merging it.
pub(crate) fn parse_piece_into(
    ctx: &Ctx<'_>,
    piece: &Piece,
    room: u64,
    agg: Aggregates,
) -> BlockOut {
    match piece {
        Piece::Block { first_line, bytes } => parse_block(ctx, *first_line, bytes, room, agg),
        Piece::TooLong { line, prefix, len } => {
            let mut out = BlockOut {
                agg,
                ..BlockOut::default()
            };
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

pub(crate) fn merge_days(a: Option<(i32, i32)>, b: Option<(i32, i32)>) -> Option<(i32, i32)> {
    match (a, b) {
        (Some(x), Some(y)) => Some((x.0.min(y.0), x.1.max(y.1))),
        (x, None) | (None, x) => x,
    }
}

/// The first and the last microsecond of 1970-01-01 .. 9999-12-31 (UTC): an event outside
/// would make a partition `date=1969-12-31` or `date=+10000-01-01`.
pub(crate) const TS_RANGE: std::ops::RangeInclusive<i64> = 0..=253_402_300_799_999_999;

pub(crate) fn in_range(ts: i64) -> bool {
    TS_RANGE.contains(&ts)
}

pub(crate) fn event_ts(e: &Event<'_>) -> i64 {
    e.ts()
}

/// A per-block cache of what a distinct text (a user agent, a client) gives.
type Cache<V> = HashMap<Box<str>, V, ahash::RandomState>;

/// The lines of a block (as `block.split(|&b| b == b'\n')`, with a SIMD search for the
/// newlines instead of a test of every byte).
pub(crate) fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', block)
        .chain(std::iter::once(block.len()))
        .map(move |end| {
            let line = &block[start..end];
            start = end + 1;
            line
        })
}

/// What one block's events add up to, with per-block caches: each distinct client is
/// normalised ([`normalize_addr`] allocates) and each user agent classified once.
struct Sink<'a> {
    format: LogFormat,
    ua: &'a UaClassifier,
    uas: Cache<UaClass>,
    clients: Cache<Option<Box<str>>>,
}

impl<'a> Sink<'a> {
    fn new(format: LogFormat, ua: &'a UaClassifier) -> Self {
        Self {
            format,
            ua,
            uas: Cache::default(),
            clients: Cache::default(),
        }
    }

    fn class(&mut self, s: Option<&str>) -> UaClass {
        let Some(s) = s else {
            return UaClass::Other;
        };
        if let Some(c) = self.uas.get(s) {
            return *c;
        }
        let c = self.ua.classify(Some(s));
        self.uas.insert(s.into(), c);
        c
    }

    /// The normalised client of a raw address (None when absent or not an address).
    fn client(&mut self, raw: Option<&str>) -> Option<&str> {
        let raw = raw?;
        if !self.clients.contains_key(raw) {
            let n = normalize_addr(raw).map(String::into_boxed_str);
            self.clients.insert(raw.into(), n);
        }
        self.clients.get(raw)?.as_deref()
    }

    /// Adds one event of a used line to `out`.
    fn add(&mut self, ev: Event<'_>, out: &mut BlockOut) {
        let format = self.format;
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
                let day = out.event_day(p.get.ts);
                let class = self.class(p.get.ua.as_deref());
                let client = self.client(p.get.client.as_deref());
                out.agg.add_pull(
                    day,
                    p.get.digest,
                    client,
                    p.repo.as_deref(),
                    class,
                    format,
                    p.get.ts,
                    p.bytes.unwrap_or(0).max(0),
                    kind,
                );
                out.counts.pulls += 1;
            }
            Event::FailedPull(f) => {
                let day = out.event_day(f.get.ts);
                let class = self.class(f.get.ua.as_deref());
                let client = self.client(f.get.client.as_deref());
                out.agg.add_failed(
                    day,
                    f.get.digest,
                    client,
                    class,
                    format,
                    f.status,
                    f.error_code.as_deref(),
                    f.get.ts,
                );
                out.counts.failed_pulls += 1;
            }
            Event::Manifest(m) => {
                let day = out.event_day(m.ts);
                let class = self.class(m.ua.as_deref());
                let client = self.client(m.client.as_deref());
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

/// The outcome of one line: its size, NUL and time checks, then the format's parser; with the
/// line's time when it is used or ignored (for the per-day line counts).
fn parse_line<'l>(
    ctx: &Ctx<'_>,
    line: &'l [u8],
    events: &mut Vec<Event<'l>>,
) -> (Result<LineOutcome, Reject>, Option<i64>) {
    if line.len() > ctx.max_line {
        return (Err(Reject::TooLong), None);
    }
    if memchr::memchr(0, line).is_some() {
        // A NUL where a separator belongs shifts every field after it.
        return (Err(Reject::NulByte), None);
    }
    match parse::parse_timed(ctx.format, line, ctx.opts, events) {
        (Ok(LineOutcome::Used), _) if events.iter().any(|e| !in_range(event_ts(e))) => {
            events.clear();
            (Err(Reject::BadTimestamp), None)
        }
        (res @ Ok(LineOutcome::Used), _) => (res, events.first().map(event_ts)),
        (res @ Ok(LineOutcome::Ignored(_)), ts) => (res, ts.filter(|&ts| in_range(ts))),
        (res, _) => (res, None),
    }
}

fn parse_block(
    ctx: &Ctx<'_>,
    first_line: u64,
    block: &[u8],
    room: u64,
    agg: Aggregates,
) -> BlockOut {
    let format = ctx.format;
    let mut out = BlockOut {
        agg,
        ..BlockOut::default()
    };
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut sink = Sink::new(format, ctx.ua);
    let mut ignored: HashMap<&'static str, u64> = HashMap::new();
    let mut rejects: HashMap<&'static str, u64> = HashMap::new();
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
        let (res, line_ts) = parse_line(ctx, line, &mut events);
        if let Some(ts) = line_ts {
            *out.day_lines.entry(day_of(ts)).or_default() += 1;
        }
        match res {
            Ok(LineOutcome::Used) => {
                for ev in events.drain(..) {
                    sink.add(ev, &mut out);
                }
            }
            Ok(LineOutcome::Ignored(why)) => *ignored.entry(why).or_default() += 1,
            Ok(LineOutcome::Foreign) => out.counts.foreign += 1,
            Err(r) => {
                *rejects.entry(r.code()).or_default() += 1;
                if (out.rejects.len() as u64) < room {
                    let row = reject_row(format, ctx.hashing, line_no, r, line);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_as_split_does() {
        for block in [&b""[..], b"\n", b"a", b"a\n", b"a\nb", b"\n\na\r\nb\n\n"] {
            let want: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
            assert_eq!(lines(block).collect::<Vec<_>>(), want, "{block:?}");
        }
    }
}
