//! The fast path of the registry's JSON log parser ([`super::registry_json`]): instead of
//! deserialising every line with serde_json, a scanner walks the object once, checks that it is
//! JSON serde_json would read the same way, and keeps the handful of keys a pull needs.
//!
//! A line is plain when it has no control byte, is one flat object (no nested object or array),
//! whose keys are ASCII without escapes, whose strings read are UTF-8 (serde_json checks those,
//! not the strings it skips), whose string values use only
//! the short escapes (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`; no `\u`), whose other
//! values are numbers (JSON's grammar), `true`, `false` or `null`, with no key the parser reads
//! given twice, and whose keys read have values of their type (strings; the status and the byte
//! count as integers of at most 15 digits). Its outcome is then taken only when it is plain as
//! well: a message other than `response completed…` (`other_msg`), or a `response completed`
//! request with a valid time that is no GET (`not_get`) or a GET answered 200, 206 or 307 that
//! [`v2_get`] reads without a reject. Every other line goes to the exact parser, which alone
//! decides what odd lines are; `parse_is_the_slow_path_where_fast` (below) and the differential
//! targets of `super::fuzz` (test-only) hold the two to the same outcomes.
//!
//! Must not: decide anything the exact parser does not, nor take a line it is not sure of.

use std::borrow::Cow;

use crate::ingest::event::{Event, LineOutcome, ParseOptions, Reject, TimestampUs};
use crate::ingest::parse::common::{
    parse_rfc3339, prepare, present, v2_get, JStr, RequestFields, RequestSlot,
};
use crate::ingest::parse::registry_json;

/// Parses one JSON log line: the fast path when the line is plain, the exact parser otherwise
/// (same outcome and events either way).
pub fn parse<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    match fast(line, out) {
        Some(outcome) => outcome,
        None => registry_json::parse(line, opts, out),
    }
}

/// The `time` of a JSON line: scanned when the line is plain, else as
/// [`registry_json::time_of`] reads it.
pub fn time_of(line: &[u8]) -> Option<TimestampUs> {
    match object(line).and_then(|o| scan(o, true)) {
        Some(keys) => parse_rfc3339(&keys.time?),
        None => registry_json::time_of(line),
    }
}

/// The keys the parser reads, as found, the numbers checked.
type Keys<'a> = RequestFields<'a, i64>;

/// The line, trimmed as the exact parser trims it, when it is an object without a control
/// byte.
fn object(line: &[u8]) -> Option<&[u8]> {
    let line = prepare(line).ok()?.trim_ascii_start();
    // No control byte (branch-free, so that the check vectorises): inside a string serde_json
    // refuses them, outside one the only space left to skip is ` `.
    let odd = line
        .iter()
        .fold(false, |acc, &b| acc | (b < 0x20) | (b == 0x7f));
    (!odd && line.first() == Some(&b'{')).then_some(line)
}

/// A cursor over a plain object.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Skips spaces (the only whitespace left in a printable line).
    fn ws(&mut self) {
        while self.s.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    /// A string after its opening quote: its raw content and whether it has escapes.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.pos;
        let mut escaped = false;
        loop {
            let i = quote_or_backslash(self.s, self.pos)?;
            if self.s[i] == b'"' {
                self.pos = i + 1;
                return Some((&self.s[start..i], escaped));
            }
            match self.s.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                _ => return None,
            }
            escaped = true;
            self.pos = i + 2;
        }
    }

    /// A number (JSON's grammar, as serde_json checks it): its text.
    fn number(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        let digits = |c: &mut Cursor<'_>| {
            let from = c.pos;
            while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                c.pos += 1;
            }
            c.pos > from
        };
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && !digits(self) {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        // `01` is no number; neither is `1x` (the caller checks what follows).
        let text = &self.s[start..self.pos];
        let unsigned = text.strip_prefix(b"-").unwrap_or(text);
        if unsigned.len() > 1 && unsigned[0] == b'0' && unsigned[1].is_ascii_digit() {
            return None;
        }
        Some(text)
    }
}

/// The first `"` or `\\` in `s` at or after `from`, looked for eight bytes at a time: the
/// strings of a log line are short (keys of 4 to 30 bytes), where a call per string to a
/// vector search costs more than the search.
fn quote_or_backslash(s: &[u8], mut from: usize) -> Option<usize> {
    while let Some(word) = s.get(from..from + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let hits = bytes_equal(w, b'"') | bytes_equal(w, b'\\');
        if hits != 0 {
            // Little-endian: the lowest set byte is the first in the line.
            return Some(from + (hits.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    let tail = s.get(from..)?;
    let at = tail.iter().position(|&b| b == b'"' || b == b'\\')?;
    Some(from + at)
}

/// The high bit of each byte of `w` that equals `b`, and no other bit (exact: no carry
/// crosses a byte, unlike the shorter `(x - 0x01…) & !x` test).
fn bytes_equal(w: u64, b: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = w ^ (u64::from(b) * 0x0101_0101_0101_0101);
    // Bit 7 of a byte of `nonzero` is set when the byte of `x` is not 0.
    let nonzero = ((x & LOW7) + LOW7) | x;
    !nonzero & !LOW7
}

/// A value read from the line.
enum Value<'a> {
    Str(&'a [u8], bool),
    Num(&'a [u8]),
    Other,
}

/// The text of a string value, unescaped (short escapes only: see [`Cursor::string`]).
fn text(raw: &[u8], escaped: bool) -> Cow<'_, [u8]> {
    if !escaped {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            out.push(match raw[i + 1] {
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                c => c,
            });
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// A plain integer of at most 15 digits (what serde_json reads as the same `i64` whatever
/// its path).
fn integer(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 15 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0i64, |v, &d| v * 10 + i64::from(d - b'0')))
}

/// Scans a plain object (see the module doc) and returns the keys read; `None` when the
/// object is not plain. With `time_only`, only `time` is read (as [`registry_json::time_of`]
/// does: other keys may then repeat).
fn scan(obj: &[u8], time_only: bool) -> Option<Keys<'_>> {
    let mut c = Cursor { s: obj, pos: 1 };
    let mut keys = Keys::default();
    c.ws();
    if c.eat(b'}').is_none() {
        loop {
            c.eat(b'"')?;
            let (key, escaped) = c.string()?;
            // serde_json checks that every key is UTF-8 (it reads them as text).
            if escaped || !key.is_ascii() {
                return None;
            }
            c.ws();
            c.eat(b':')?;
            c.ws();
            let value = match c.peek()? {
                b'"' => {
                    c.pos += 1;
                    let (raw, escaped) = c.string()?;
                    Value::Str(raw, escaped)
                }
                b'-' | b'0'..=b'9' => Value::Num(c.number()?),
                b't' | b'f' | b'n' => {
                    let word: &[u8] = match c.peek()? {
                        b't' => b"true",
                        b'f' => b"false",
                        _ => b"null",
                    };
                    if !c.s[c.pos..].starts_with(word) {
                        return None;
                    }
                    c.pos += word.len();
                    Value::Other
                }
                _ => return None,
            };
            keep(&mut keys, key, value, time_only)?;
            c.ws();
            match c.peek()? {
                b',' => {
                    c.pos += 1;
                    c.ws();
                }
                b'}' => {
                    c.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    // Nothing after the object (the line is trimmed).
    (c.pos == obj.len()).then_some(keys)
}

/// Stores a value under the key it belongs to, if read: `None` when the key is read and
/// already set, or its value is not of its type.
fn keep<'a>(keys: &mut Keys<'a>, key: &[u8], value: Value<'a>, time_only: bool) -> Option<()> {
    if time_only && key != b"time" {
        return Some(());
    }
    let slot = match keys.slot(key) {
        Some(RequestSlot::Text(slot)) => slot,
        Some(RequestSlot::Number(slot)) => {
            let Value::Num(n) = value else { return None };
            if slot.is_some() {
                return None;
            }
            *slot = Some(integer(n)?);
            return Some(());
        }
        None => return Some(()),
    };
    let Value::Str(raw, escaped) = value else {
        return None;
    };
    // A string read as text must be UTF-8 (serde_json checks it; the strings skipped are not
    // checked, there or here).
    if slot.is_some() || !(raw.is_ascii() || std::str::from_utf8(raw).is_ok()) {
        return None;
    }
    *slot = Some(text(raw, escaped));
    Some(())
}

/// As [`JStr`] (what the exact parser reads a string into): `None` if not UTF-8 (checked
/// already by [`keep`]).
fn jstr(b: Option<Cow<'_, [u8]>>) -> Option<Option<JStr<'_>>> {
    Some(match b {
        None => None,
        Some(Cow::Borrowed(b)) => Some(JStr(Cow::Borrowed(std::str::from_utf8(b).ok()?))),
        Some(Cow::Owned(v)) => Some(JStr(Cow::Owned(String::from_utf8(v).ok()?))),
    })
}

/// The outcome of a plain line (events pushed to `out`), `None` for any other line.
pub fn fast<'a>(line: &'a [u8], out: &mut Vec<Event<'a>>) -> Option<Result<LineOutcome, Reject>> {
    fast_keyed(line, out).map(|(outcome, _)| outcome)
}

/// [`parse`], with the time of a line it ignores (what [`time_of`] reads, for the per-day line
/// counts): taken from the same scan when the line is plain, instead of scanning it twice.
pub fn parse_timed<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> (Result<LineOutcome, Reject>, Option<TimestampUs>) {
    let ignored = |r: &Result<LineOutcome, Reject>| matches!(r, Ok(LineOutcome::Ignored(_)));
    match fast_keyed(line, out) {
        Some((outcome, time)) => {
            let ts = time
                .filter(|_| ignored(&outcome))
                .and_then(|t| parse_rfc3339(&t));
            (outcome, ts)
        }
        None => {
            let outcome = registry_json::parse(line, opts, out);
            let ts = if ignored(&outcome) {
                time_of(line)
            } else {
                None
            };
            (outcome, ts)
        }
    }
}

/// The outcome of a line the fast path took, with the line's raw `time`.
type Taken<'a> = (Result<LineOutcome, Reject>, Option<Cow<'a, [u8]>>);

/// [`fast`], with the raw `time` of the line.
fn fast_keyed<'a>(line: &'a [u8], out: &mut Vec<Event<'a>>) -> Option<Taken<'a>> {
    let mut keys = scan(object(line)?, false)?;
    let time = keys.time.take();
    let msg = keys.msg.as_deref();
    if msg != Some(b"response completed") {
        // Other messages, unless they might be about a request (`… with error`).
        if msg.is_some_and(|m| m.starts_with(b"response completed")) {
            return None;
        }
        return Some((Ok(LineOutcome::Ignored("other_msg")), time));
    }
    let ts = parse_rfc3339(time.as_deref()?)?;
    let (Some(method), Some(uri), Some(status)) = (keys.method, keys.uri, keys.status) else {
        return None;
    };
    if *method != *b"GET" {
        return Some((Ok(LineOutcome::Ignored("not_get")), time));
    }
    if !matches!(status, 200 | 206 | 307) {
        return None;
    }
    let client = present(jstr(keys.remote_addr)?);
    let ua = present(jstr(keys.user_agent)?);
    let before = out.len();
    match v2_get(uri, status, ts, client, ua, keys.written, out) {
        Ok(outcome) => Some((Ok(outcome), time)),
        Err(_) => {
            out.truncate(before);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::testing::{fixture, lines, one_byte_edits};

    /// [`parse_timed`] gives the exact parser's outcome and events, and the time [`time_of`]
    /// reads for an ignored line (no time for any other outcome).
    fn assert_timed(line: &[u8], slow: &Result<LineOutcome, Reject>, events: &[Event<'_>]) {
        let mut got = Vec::new();
        let (outcome, ts) = parse_timed(line, &ParseOptions::default(), &mut got);
        let want = match slow {
            Ok(LineOutcome::Ignored(_)) => registry_json::time_of(line),
            _ => None,
        };
        let line = String::from_utf8_lossy(line);
        assert_eq!(
            (&outcome, got.as_slice(), ts),
            (slow, events, want),
            "{line}"
        );
    }

    /// Where the fast path takes a line, it says what the exact parser says (and its time is
    /// the exact one); and it takes the plain lines of the fixtures, so it is no dead code.
    #[test]
    fn parse_is_the_slow_path_where_fast() {
        let opts = ParseOptions::default();
        let (mut taken, mut used) = (0, 0);
        for name in [
            "written/registry-json.log",
            "written/registry-json-startup.log",
        ] {
            let text = fixture(name);
            for line in lines(&text) {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let slow = registry_json::parse(line, &opts, &mut a);
                if let Some(got) = fast(line, &mut b) {
                    taken += 1;
                    used += usize::from(got == Ok(LineOutcome::Used));
                    assert_eq!((got, &b), (slow, &a), "{}", String::from_utf8_lossy(line));
                }
                let mut c = Vec::new();
                assert_eq!(parse(line, &opts, &mut c), slow);
                assert_eq!(c, a);
                assert_eq!(time_of(line), registry_json::time_of(line));
                assert_timed(line, &slow, &a);
            }
        }
        assert!(taken >= 8 && used >= 3, "{taken} lines taken, {used} pulls");
    }

    /// Every one-byte edit of fixture lines (deleted, replaced or inserted quotes, braces,
    /// colons, commas, digits, backslashes, NUL, invalid UTF-8 …): the parser says what the
    /// exact parser says, with the same time, and the fast path takes a share of the edits.
    #[test]
    fn every_one_byte_edit_agrees_with_the_exact_parser() {
        let opts = ParseOptions::default();
        let text = fixture("written/registry-json.log");
        let (mut edits, mut taken) = (0, 0);
        // A blob GET 200, one with an offset time and IPv6 client, one with numbers as
        // strings (a few seconds in a debug build).
        for line in [3, 9, 11].map(|i| lines(&text)[i]) {
            for edited in one_byte_edits(line) {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let slow = registry_json::parse(&edited, &opts, &mut a);
                taken += usize::from(fast(&edited, &mut Vec::new()).is_some());
                assert_eq!(
                    (parse(&edited, &opts, &mut b), &b),
                    (slow, &a),
                    "{}",
                    String::from_utf8_lossy(&edited)
                );
                assert_eq!(time_of(&edited), registry_json::time_of(&edited));
                assert_timed(&edited, &slow, &a);
                edits += 1;
            }
        }
        assert!(taken * 4 > edits, "{taken} of {edits} edits taken");
    }

    /// The word-at-a-time search finds what a byte-at-a-time one finds, from every start,
    /// with the quote or backslash at every offset of a word, next to bytes that differ from
    /// them by one bit (`#` for `"`, `]` and `|` for `\\`) and high-bit bytes.
    #[test]
    fn quote_or_backslash_is_a_byte_search() {
        let naive = |s: &[u8], from: usize| {
            let at = s.get(from..)?.iter().position(|&b| b == b'"' || b == b'\\');
            at.map(|i| from + i)
        };
        let fills: [&[u8]; 4] = [
            b"#]|a",
            b"\xa2\xdc\x02\x00",
            b"\xff\xfe#\x01",
            b"!\x80[\x7f",
        ];
        let mut checked = 0;
        for len in 0..40 {
            for fill in fills {
                for hit in (0..len).map(Some).chain([None]) {
                    for mark in [b'"', b'\\'] {
                        let mut s: Vec<u8> = (0..len).map(|i| fill[i % fill.len()]).collect();
                        if let Some(h) = hit {
                            s[h] = mark;
                        }
                        for from in 0..=len + 1 {
                            assert_eq!(
                                quote_or_backslash(&s, from),
                                naive(&s, from),
                                "{s:?} {from}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
        assert_eq!(
            bytes_equal(u64::from_le_bytes(*b"a\"#\"\"\"\"\""), b'"'),
            0x8080_8080_8000_8000
        );
    }

    /// Lines the fast path leaves to the exact parser, each an edit of a plain pull.
    #[test]
    fn odd_lines_go_to_the_exact_parser() {
        let hex = "07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548";
        let good = format!(
            r#"{{"http.request.method":"GET","http.request.uri":"/v2/a/blobs/sha256:{hex}","http.request.useragent":"docker/1 \\(linux\\)","http.response.status":200,"http.response.written":5,"level":"info","msg":"response completed","time":"2026-11-27T17:38:09Z","n":-1.5e3,"t":true}}"#
        );
        let mut out = Vec::new();
        assert_eq!(fast(good.as_bytes(), &mut out), Some(Ok(LineOutcome::Used)));
        let crate::ingest::event::Event::Pull(p) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(p.get.ua.as_deref(), Some(r"docker/1 \(linux\)"));
        // UTF-8 in a value it skips (`"http.response.duration":"378.462µs"`) is plain.
        let micro = good.replace("\"info\"", "\"378.462µs\"");
        assert_eq!(
            fast(micro.as_bytes(), &mut Vec::new()),
            Some(Ok(LineOutcome::Used))
        );
        for (from, to) in [
            (":200", ":404"),
            (":200", ":\"200\""),
            (":200", ":200.0"),
            (":5,", ":1234567890123456,"),
            ("completed\"", "completed with error\""),
            ("\"level\"", "\"msg\":\"x\",\"level\""),
            ("\"level\"", "\"lev\\u0065l\""),
            ("\"info\"", "\"inf\\u006f\""),
            ("\"info\"", "\"inf\\q\""),
            ("\"info\"", "{\"a\":1}"),
            ("\"info\"", "[1]"),
            ("\"info\"", "01"),
            ("\"info\"", "1."),
            ("\"info\"", "tru"),
            ("\"level\"", "\"lévél\""),
            ("17:38:09Z", "17:38:09"),
            ("sha256:0", "sha256:Z"),
            ("\"t\":true}", "\"t\":true} x"),
            ("\"t\":true}", "\"t\":true,}"),
            ("linux", "lin\tux"),
        ] {
            let line = good.replace(from, to);
            assert_ne!(line, good, "`{from}` is not in the line");
            assert_eq!(fast(line.as_bytes(), &mut Vec::new()), None, "{line}");
        }
    }
}
