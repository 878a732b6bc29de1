//! Reads one log input: decompresses by content, hashes the raw bytes, splits the text into
//! blocks at record boundaries and parses the blocks in parallel (rayon) into [`Aggregates`],
//! counters and quarantined lines. Memory is bounded by a few blocks plus the aggregates.
//!
//! A record is a line, except for `notifications`, whose records are envelopes that may span
//! several lines ([`notifications::envelopes`]); a record's line number is the line it starts on.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

use crate::config::ClientIdentity;
use crate::config::IngestConfig;
use crate::ingest::client::{normalize_addr, redact_addresses};
use crate::ingest::event::{Event, LineOutcome, ParseFn, ParseOptions, Reject, MAX_LINE};
use crate::ingest::parse::notifications;
use crate::ingest::render_client;
use crate::ingest::tables::{day_of, Aggregates, RejectRow};
use crate::model::{LogFormat, UaClass};

/// Lines per file whose raw text is stored in `_rejects` (all are counted).
pub const MAX_STORED_REJECTS: usize = 100_000;
const BLOCK: usize = 4 << 20;

/// Counts for one input (also the ledger record's numbers).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Non-empty lines read (for `notifications`, envelopes: one may span several lines).
    pub lines: u64,
    /// Pull events.
    pub pulls: u64,
    /// Manifest-request events.
    pub manifest_requests: u64,
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

/// What one input produced.
#[derive(Debug, Default)]
pub struct FileResult {
    /// Aggregates.
    pub agg: Aggregates,
    /// Counters.
    pub counts: Counts,
    /// Quarantined lines (first [`MAX_STORED_REJECTS`]).
    pub rejects: Vec<RejectRow>,
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

/// Splits a reader into blocks that end at a record boundary (`cut` gives the end of the last
/// whole record in a buffer, `None` if there is none yet); yields `(first_line_no, bytes)`.
struct Blocks<R> {
    r: R,
    carry: Vec<u8>,
    next_line: u64,
    done: bool,
    cut: fn(&[u8]) -> Option<usize>,
}

/// The end of the last whole line.
fn line_cut(buf: &[u8]) -> Option<usize> {
    memchr::memrchr(b'\n', buf).map(|i| i + 1)
}

/// Where a block of `format` may end.
fn cut_for(format: LogFormat) -> fn(&[u8]) -> Option<usize> {
    match format {
        LogFormat::Notifications => notifications::block_cut,
        _ => line_cut,
    }
}

impl<R: Read> Iterator for Blocks<R> {
    type Item = io::Result<(u64, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = std::mem::take(&mut self.carry);
        let start = buf.len();
        buf.resize(start.max(BLOCK) + BLOCK, 0);
        let mut filled = start;
        // Read until a block's worth is buffered and a record boundary is present, or EOF.
        loop {
            if filled == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            match self.r.read(&mut buf[filled..]) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(n) => {
                    filled += n;
                    if filled >= BLOCK && (self.cut)(&buf[..filled]).is_some() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        buf.truncate(filled);
        if !self.done {
            let cut = (self.cut)(&buf).expect("loop ends with a record boundary when not at EOF");
            self.carry = buf[cut..].to_vec();
            buf.truncate(cut);
        }
        if buf.is_empty() {
            return None;
        }
        let first = self.next_line;
        self.next_line += memchr::memchr_iter(b'\n', &buf).count() as u64;
        if self.done && !buf.ends_with(b"\n") {
            self.next_line += 1;
        }
        Some(Ok((first, buf)))
    }
}

struct BlockOut {
    agg: Aggregates,
    counts: Counts,
    rejects: Vec<RejectRow>,
    days: Option<(i32, i32)>,
    day_lines: BTreeMap<i32, u64>,
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
    match e {
        Event::Pull(p) => p.ts,
        Event::Manifest(m) => m.ts,
    }
}

#[allow(clippy::too_many_arguments)]
fn parse_block(
    format: LogFormat,
    parse: ParseFn,
    opts: &ParseOptions,
    ua: &UaClassifier,
    hashing: Option<&ClientIdentity>,
    first_line: u64,
    block: &[u8],
) -> BlockOut {
    let mut out = BlockOut {
        agg: Aggregates::default(),
        counts: Counts::default(),
        rejects: Vec::new(),
        days: None,
        day_lines: BTreeMap::new(),
    };
    let time_of = crate::ingest::parse::time_of(format);
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut ua_cache: HashMap<Box<str>, UaClass> = HashMap::new();
    let mut ignored: HashMap<&'static str, u64> = HashMap::new();
    let mut rejects: HashMap<&'static str, u64> = HashMap::new();
    let classify = |s: Option<&str>, cache: &mut HashMap<Box<str>, UaClass>| -> UaClass {
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
        _ => Box::new((first_line + 1..).zip(block.split(|&b| b == b'\n'))),
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
        let res = if line.len() > MAX_LINE {
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
                        Event::Pull(p) => {
                            let day = day_of(p.ts);
                            out.days = merge_days(out.days, Some((day, day)));
                            let client = p.client.as_deref().and_then(normalize_addr);
                            let class = classify(p.ua.as_deref(), &mut ua_cache);
                            out.agg.add_pull(
                                day,
                                p.digest,
                                client.as_deref(),
                                p.repo.as_deref(),
                                class,
                                format,
                                p.ts,
                                p.bytes.unwrap_or(0).max(0),
                            );
                            out.counts.pulls += 1;
                        }
                        Event::Manifest(m) => {
                            let day = day_of(m.ts);
                            out.days = merge_days(out.days, Some((day, day)));
                            let client = m.client.as_deref().and_then(normalize_addr);
                            let class = classify(m.ua.as_deref(), &mut ua_cache);
                            out.agg.add_manifest(
                                day,
                                &m.repo,
                                &m.reference,
                                client.as_deref(),
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
                if out.rejects.len() < MAX_STORED_REJECTS {
                    let raw = String::from_utf8_lossy(&line[..line.len().min(4096)]);
                    // With hashing on, no client address is stored as logged, not even here.
                    let raw = match hashing {
                        Some(id) => redact_addresses(&raw, &|a| render_client(id, a)),
                        None => raw.into_owned(),
                    };
                    out.rejects.push(RejectRow {
                        format: format.as_str(),
                        line: line_no,
                        reason: r.code(),
                        raw,
                        raw_len: line.len() as u64,
                    });
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

/// Parses one log input. IO and decompression errors (e.g. a corrupt gzip) are errors;
/// malformed lines are counted and kept in the result.
pub fn read_log(
    format: LogFormat,
    raw: Box<dyn Read + Send>,
    cfg: &IngestConfig,
) -> io::Result<FileResult> {
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
    let parse = crate::ingest::parse::parser(format);
    let ua = UaClassifier::new(&cfg.ua_classes);
    let hashing = cfg
        .client_identity
        .as_ref()
        .filter(|id| matches!(id, ClientIdentity::Keyed(_)));
    let blocks = Blocks {
        r: &mut text,
        carry: Vec::new(),
        next_line: 0,
        done: false,
        cut: cut_for(format),
    };
    let merged = blocks
        .par_bridge()
        .map(|b| {
            b.map(|(first, bytes)| parse_block(format, parse, &opts, &ua, hashing, first, &bytes))
        })
        .try_reduce(
            || BlockOut {
                agg: Aggregates::default(),
                counts: Counts::default(),
                rejects: Vec::new(),
                days: None,
                day_lines: BTreeMap::new(),
            },
            |mut a, b| {
                a.agg.merge(b.agg);
                a.counts.add(&b.counts);
                a.rejects.extend(b.rejects);
                a.days = merge_days(a.days, b.days);
                for (day, n) in b.day_lines {
                    *a.day_lines.entry(day).or_default() += n;
                }
                Ok(a)
            },
        )?;
    // Drain anything the decompressor did not need so the hash covers every byte.
    io::copy(&mut text, &mut io::sink())?;
    drop(text);
    let mut rejects = merged.rejects;
    rejects.sort_by_key(|r| r.line);
    rejects.truncate(MAX_STORED_REJECTS);
    let mut counts = merged.counts;
    counts.rejects_stored = rejects.len() as u64;
    let digest = hasher
        .lock()
        .expect("hasher lock is not poisoned")
        .digest128();
    Ok(FileResult {
        agg: merged.agg,
        counts,
        rejects,
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
        let blocks: Vec<_> = Blocks {
            r: &text[..],
            carry: Vec::new(),
            next_line: 0,
            done: false,
            cut: line_cut,
        }
        .map(|b| b.unwrap())
        .collect();
        assert!(blocks.len() > 1, "expected several blocks");
        let mut expect_line = 0u64;
        let mut joined = Vec::new();
        for (first, b) in &blocks {
            assert_eq!(*first, expect_line);
            expect_line += b.iter().filter(|&&c| c == b'\n').count() as u64;
            joined.extend_from_slice(b);
        }
        assert_eq!(joined, text);
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
        let r = read_log(
            LogFormat::Notifications,
            Box::new(io::Cursor::new(text.into_bytes())),
            &cfg.ingest,
        )
        .unwrap();
        assert_eq!(r.counts.pulls, n);
        assert_eq!(r.counts.lines, n + 1);
        assert_eq!(r.counts.rejects.get("bad_json"), Some(&1));
        assert_eq!(r.rejects.len(), 1);
        assert_eq!(r.rejects[0].line, bad_line);
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
