//! Test helpers shared by the parsers' unit tests: read a fixture, run a parser over one line
//! or every line of a text, check a table of edits of a valid line, and build the events a
//! test expects.

use std::borrow::Cow;

use crate::ingest::event::{
    BlobGet, BlobPull, Event, LineOutcome, ManifestRequest, ParseFn, ParseOptions, Reject,
    TimestampUs,
};
use crate::model::Digest;

/// What a parser says about one line.
pub type Outcome = Result<LineOutcome, Reject>;

/// One parse: its outcome and the events it pushed.
pub type Parsed<'a> = (Outcome, Vec<Event<'a>>);

/// The bytes of `tests/fixtures/<rel>` (every fixture is in the repository).
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading `{path}`: {e}"))
}

/// The non-empty lines of `text`.
pub fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

/// `parse` with `opts` over one line.
fn one_with<'a>(parse: ParseFn, line: &'a [u8], opts: &ParseOptions) -> Parsed<'a> {
    let mut out = Vec::new();
    let r = parse(line, opts, &mut out);
    (r, out)
}

/// `parse` with the default options over one line (bytes or text).
pub fn one<L: AsRef<[u8]> + ?Sized>(parse: ParseFn, line: &L) -> Parsed<'_> {
    one_with(parse, line.as_ref(), &ParseOptions::default())
}

/// Parses every non-empty line of the fixture `rel` with `opts`, checks each line's outcome
/// against `want` (and that a used line pushed events, any other line none), and returns all
/// the events in order.
pub fn check_fixture_with(
    parse: ParseFn,
    rel: &str,
    opts: &ParseOptions,
    want: &[Outcome],
) -> Vec<Event<'static>> {
    // Leaked so that the events can borrow from it (a few KiB, once per test).
    let text: &'static [u8] = Box::leak(fixture(rel).into_boxed_slice());
    let mut outcomes = Vec::new();
    let mut events = Vec::new();
    for line in lines(text) {
        let (r, out) = one_with(parse, line, opts);
        assert_eq!(
            r == Ok(LineOutcome::Used),
            !out.is_empty(),
            "{r:?} with {out:?} for {:?}",
            String::from_utf8_lossy(line)
        );
        outcomes.push(r);
        events.extend(out);
    }
    assert_eq!(outcomes, want, "{rel} with {opts:?}");
    events
}

/// [`check_fixture_with`] with the default options.
pub fn check_fixture(parse: ParseFn, rel: &str, want: &[Outcome]) -> Vec<Event<'static>> {
    check_fixture_with(parse, rel, &ParseOptions::default(), want)
}

/// For each `(from, to, want)`: `good` with `from` replaced by `to` parses to `want`. An edit
/// that does not change `good` fails the test (it would test nothing).
pub fn assert_edits(parse: ParseFn, good: &str, edits: &[(&str, &str, Outcome)]) {
    for (from, to, want) in edits {
        let line = good.replace(from, to);
        assert_ne!(line, good, "`{from}` is not in the line");
        assert_eq!(one(parse, &line).0, *want, "`{from}` -> `{to}`");
    }
}

/// Digests the written fixtures use (hex).
pub const D07: &str = "07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548";
/// See [`D07`].
pub const D3E: &str = "3ecd1c3829ce622c9e59853f48ec741441cd5c35ece50996c78eace0513e771d";
/// See [`D07`].
pub const D87: &str = "87a8d9a5d6e2c3d1f0f27b8c4a0a9e6a5f2b3c1d0e9f8a7b6c5d4e3f2a1b0e38";

/// A digest from 64 hex characters.
pub fn d(hex: &str) -> Digest {
    Digest::from_hex(hex.as_bytes()).unwrap()
}

/// An expected blob pull; the text fields as logged (`None` where absent).
pub fn pull<'a>(
    ts: TimestampUs,
    hex: &str,
    client: Option<&'a str>,
    repo: Option<&'a str>,
    ua: Option<&'a str>,
    bytes: Option<i64>,
) -> Event<'a> {
    Event::Pull(BlobPull {
        get: BlobGet {
            ts,
            digest: d(hex),
            client: client.map(Cow::Borrowed),
            ua: ua.map(Cow::Borrowed),
        },
        repo: repo.map(Cow::Borrowed),
        bytes,
    })
}

/// The events with ranged and notified pulls as plain pulls (to compare their fields).
pub fn plain(events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    events
        .into_iter()
        .map(|e| match e {
            Event::RangedPull(p) | Event::NotifiedPull(p, _) => Event::Pull(p),
            e => e,
        })
        .collect()
}

/// The kind of each event: `pull`, `ranged`, `notified`, `failed`, `manifest`.
pub fn kinds(events: &[Event<'_>]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            Event::Pull(_) => "pull",
            Event::RangedPull(_) => "ranged",
            Event::NotifiedPull(..) => "notified",
            Event::FailedPull(_) => "failed",
            Event::Manifest(_) => "manifest",
        })
        .collect()
}

/// The same pull as a ranged GET (206).
pub fn ranged(e: Event<'_>) -> Event<'_> {
    match e {
        Event::Pull(p) => Event::RangedPull(p),
        e => e,
    }
}

/// An expected failed GET of a blob.
pub fn failed<'a>(
    ts: TimestampUs,
    hex: &str,
    client: Option<&'a str>,
    ua: Option<&'a str>,
    status: u16,
    error_code: Option<&'a str>,
) -> Event<'a> {
    Event::FailedPull(crate::ingest::event::FailedPull {
        get: BlobGet {
            ts,
            digest: d(hex),
            client: client.map(Cow::Borrowed),
            ua: ua.map(Cow::Borrowed),
        },
        status,
        error_code: error_code.map(Cow::Borrowed),
    })
}

/// An expected manifest request.
pub fn manifest<'a>(
    ts: TimestampUs,
    repo: &'a str,
    reference: &'a str,
    client: Option<&'a str>,
    ua: Option<&'a str>,
) -> Event<'a> {
    Event::Manifest(ManifestRequest {
        ts,
        repo: Cow::Borrowed(repo),
        reference: Cow::Borrowed(reference),
        client: client.map(Cow::Borrowed),
        ua: ua.map(Cow::Borrowed),
    })
}

/// `secs` since the epoch as an Apache/CLF time in UTC (`06/Feb/2019:00:00:38 +0000`).
pub fn clf_time(secs: i64) -> String {
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap();
    t.format("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

/// Every one-byte edit of `line`: each byte deleted, and each byte replaced by (and, before
/// it, inserted) one of the bytes that matter to a tokenizer or a JSON scanner.
pub fn one_byte_edits(line: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    const BYTES: &[u8] = b"\" []{}:,-0\t\0\xff\\uZ";
    (0..line.len()).flat_map(move |i| {
        let deleted = [line[..i].iter().chain(&line[i + 1..]).copied().collect()];
        let edits = BYTES.iter().flat_map(move |&b| {
            let mut replaced = line.to_vec();
            replaced[i] = b;
            let mut inserted = line.to_vec();
            inserted.insert(i, b);
            [replaced, inserted]
        });
        deleted.into_iter().chain(edits)
    })
}
