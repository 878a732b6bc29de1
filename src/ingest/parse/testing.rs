//! Test helpers shared by the parsers' unit tests: read a fixture, run a parser over lines,
//! decode a digest.

use crate::ingest::event::{Event, LineOutcome, ParseFn, ParseOptions, Reject};
use crate::model::Digest;

/// One parse: its outcome and the events it pushed.
pub type Parsed<'a> = (Result<LineOutcome, Reject>, Vec<Event<'a>>);

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

/// `parse` with the default options over one line.
pub fn one<'a>(parse: ParseFn, line: &'a [u8]) -> Parsed<'a> {
    let mut out = Vec::new();
    let r = parse(line, &ParseOptions::default(), &mut out);
    (r, out)
}

/// `parse` with the default options over every non-empty line of `text`.
pub fn parse_all(parse: ParseFn, text: &[u8]) -> Vec<Parsed<'_>> {
    lines(text).into_iter().map(|l| one(parse, l)).collect()
}

/// A digest from 64 hex characters.
pub fn d(hex: &str) -> Digest {
    Digest::from_hex(hex.as_bytes()).unwrap()
}
