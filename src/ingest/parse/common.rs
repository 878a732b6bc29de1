//! Pieces shared by the line parsers: a field tokenizer for space-separated logs with
//! `[...]` and `"..."` fields, number and timestamp parsing without allocation, the
//! registry API path matcher, the event of a registry API request ([`v2_get`]) and borrowed
//! JSON string/number helpers for serde.
//!
//! Everything here works on bytes and never panics on arbitrary input; nothing allocates
//! except [`unescape`] (only called when a field contains a backslash) and percent-decoding
//! of a digest that was percent-encoded in a URI path.

use std::borrow::Cow;
use std::fmt;

use memchr::{memchr, memchr2};
use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::ingest::event::{
    BlobGet, BlobPull, Event, LineOutcome, ManifestRequest, Reject, TimestampUs, MAX_LINE,
};
use crate::model::Digest;

/// Checks the line length and trims trailing whitespace (`\r`, `\n`, spaces, tabs): the
/// driver strips the newline, but CRLF files and trailing spaces (AWS docs) happen.
pub fn prepare(line: &[u8]) -> Result<&[u8], Reject> {
    if line.len() > MAX_LINE {
        return Err(Reject::TooLong);
    }
    Ok(line.trim_ascii_end())
}

/// One field of a space-separated log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The content, without the surrounding quotes or brackets (still escaped).
    pub raw: &'a [u8],
    /// Whether the field was written as `"..."`.
    pub quoted: bool,
    /// Whether a quoted field contains a backslash escape (only in escape mode): the
    /// caller must [`unescape`] it.
    pub escaped: bool,
}

impl<'a> Field<'a> {
    /// An empty bare field (a placeholder in fixed-size field arrays).
    pub const EMPTY: Field<'static> = Field {
        raw: b"",
        quoted: false,
        escaped: false,
    };

    /// `None` for `-` (and for an empty quoted field), the raw bytes otherwise.
    pub fn value(&self) -> Option<&'a [u8]> {
        match self.raw {
            b"-" | b"" => None,
            raw => Some(raw),
        }
    }
}

/// A tokenizer over `[...]` | `"..."` | bare tokens separated by spaces.
///
/// A quoted or bracketed field must be followed by a space or the end of the line,
/// otherwise the line is [`Reject::BadQuoting`] (this catches the stray `"` that breaks
/// every S3 access log tokenizer). In escape mode (`escapes = true`) a backslash inside a
/// quoted field escapes the next byte, as gorilla's and nginx's access logs write `\"`.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
    escapes: bool,
}

impl<'a> Fields<'a> {
    /// Tokenizes `line`; `escapes` honours backslash escapes inside quotes.
    pub fn new(line: &'a [u8], escapes: bool) -> Self {
        Fields {
            line,
            pos: 0,
            escapes,
        }
    }

    /// The next field, `None` at the end of the line.
    pub fn next_field(&mut self) -> Option<Result<Field<'a>, Reject>> {
        let line = self.line;
        while self.pos < line.len() && line[self.pos] == b' ' {
            self.pos += 1;
        }
        if self.pos >= line.len() {
            return None;
        }
        let start = self.pos;
        let field = match line[start] {
            b'"' => {
                let body = &line[start + 1..];
                let (end, escaped) = if self.escapes {
                    match find_closing_quote(body) {
                        Some(found) => found,
                        None => return Some(self.fail()),
                    }
                } else {
                    match memchr(b'"', body) {
                        Some(end) => (end, false),
                        None => return Some(self.fail()),
                    }
                };
                self.pos = start + 1 + end + 1;
                Field {
                    raw: &body[..end],
                    quoted: true,
                    escaped,
                }
            }
            b'[' => {
                let body = &line[start + 1..];
                let Some(end) = memchr(b']', body) else {
                    return Some(self.fail());
                };
                self.pos = start + 1 + end + 1;
                Field {
                    raw: &body[..end],
                    quoted: false,
                    escaped: false,
                }
            }
            _ => {
                let end = memchr(b' ', &line[start..]).map_or(line.len(), |e| start + e);
                self.pos = end;
                return Some(Ok(Field {
                    raw: &line[start..end],
                    quoted: false,
                    escaped: false,
                }));
            }
        };
        // A closing quote or bracket must end the field.
        if self.pos < line.len() && line[self.pos] != b' ' {
            return Some(self.fail());
        }
        Some(Ok(field))
    }

    fn fail(&mut self) -> Result<Field<'a>, Reject> {
        self.pos = self.line.len();
        Err(Reject::BadQuoting)
    }
}

/// Position of the closing `"` in `body` honouring backslash escapes, and whether any
/// backslash was seen.
fn find_closing_quote(body: &[u8]) -> Option<(usize, bool)> {
    let mut at = 0;
    let mut escaped = false;
    loop {
        let i = at + memchr2(b'"', b'\\', &body[at..])?;
        if body[i] == b'"' {
            return Some((i, escaped));
        }
        escaped = true;
        at = i + 2;
        if at > body.len() {
            return None;
        }
    }
}

/// Undoes the escapes written by gorilla's combined log handler (`\"`, `\\`, `\t`, `\n`,
/// `\r`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`) and nginx (`\xHH`). An unknown or truncated
/// escape is kept verbatim.
pub fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' || i + 1 >= raw.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = raw[i + 1];
        let simple = match e {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b't' => Some(b'\t'),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
            continue;
        }
        let width = match e {
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            _ => 0,
        };
        let code = raw
            .get(i + 2..i + 2 + width)
            .filter(|_| width > 0)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u32::from_str_radix(hex, 16).ok());
        match (e, code) {
            (b'x', Some(byte)) => out.push(byte as u8),
            (_, Some(cp)) => {
                let ch = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => {
                out.push(b'\\');
                i += 1;
                continue;
            }
        }
        i += 2 + width;
    }
    out
}

/// A quoted field as bytes, unescaped only when it holds escapes.
pub fn field_bytes<'a>(f: &Field<'a>) -> Cow<'a, [u8]> {
    if f.escaped {
        Cow::Owned(unescape(f.raw))
    } else {
        Cow::Borrowed(f.raw)
    }
}

/// Bytes as text: borrowed when valid UTF-8, lossily converted otherwise (user agents and
/// such are informative only, so bad bytes must not cost the line).
pub fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Like [`lossy`] for a `Cow` of bytes.
pub fn lossy_cow(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// A user agent or client field: `None` for `-` or empty.
pub fn opt_text(b: &[u8]) -> Option<Cow<'_, str>> {
    match b {
        b"" | b"-" => None,
        b => Some(lossy(b)),
    }
}

/// A field that must be text (a client address, an error code): `None` for `-` or empty,
/// borrowed from the line when UTF-8, [`Reject::BadUtf8`] otherwise. Never allocates.
pub fn opt_utf8(b: &[u8]) -> Result<Option<Cow<'_, str>>, Reject> {
    match b {
        b"" | b"-" => Ok(None),
        b => std::str::from_utf8(b)
            .map(|s| Some(Cow::Borrowed(s)))
            .map_err(|_| Reject::BadUtf8),
    }
}

/// A non-empty run of ASCII digits as `u64` (no sign, no overflow).
pub fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// A byte count where `-` means zero (S3 "Bytes Sent", CLF size).
pub fn parse_bytes_field(b: &[u8]) -> Result<i64, Reject> {
    if b == b"-" {
        return Ok(0);
    }
    parse_u64(b)
        .and_then(|v| i64::try_from(v).ok())
        .ok_or(Reject::BadNumber)
}

/// An HTTP status: three digits.
pub fn parse_status(b: &[u8]) -> Result<u16, Reject> {
    match b {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(Reject::BadNumber),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Microseconds since the epoch of a civil date-time, validating the ranges; `offset_s`
/// is the zone offset east of UTC (subtracted).
fn civil_to_us(
    (y, mo, d): (i64, u32, u32),
    (h, mi, s): (u32, u32, u32),
    frac_us: u32,
    offset_s: i64,
) -> Option<TimestampUs> {
    // A leap second (`:60`) is accepted and lands on the next second.
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s) - offset_s;
    Some(secs * 1_000_000 + i64::from(frac_us))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `[+-]hhmm` or `[+-]hh:mm` as seconds east of UTC.
fn parse_offset(b: &[u8]) -> Option<i64> {
    let (sign, rest) = match b.split_first()? {
        (b'+', rest) => (1, rest),
        (b'-', rest) => (-1, rest),
        _ => return None,
    };
    let (hh, mm) = match rest {
        [h1, h2, b':', m1, m2] => ([*h1, *h2], [*m1, *m2]),
        [h1, h2, m1, m2] => ([*h1, *h2], [*m1, *m2]),
        _ => return None,
    };
    let (hh, mm) = (digits(&hh)?, digits(&mm)?);
    if hh > 23 || mm > 59 {
        return None;
    }
    Some(sign * i64::from(hh * 3600 + mm * 60))
}

/// Apache/CLF time `06/Feb/2019:00:00:38 +0000` (the content of the brackets) to
/// microseconds UTC. Any `+hhmm`/`-hhmm` offset is applied.
pub fn parse_clf_time(b: &[u8]) -> Option<TimestampUs> {
    // dd/Mon/yyyy:HH:MM:SS +zzzz
    if b.len() < 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' {
        return None;
    }
    if b[17] != b':' || b[20] != b' ' {
        return None;
    }
    let d = digits(&b[0..2])?;
    let mon = &b[3..6];
    let mo = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y = digits(&b[7..11])?;
    let h = digits(&b[12..14])?;
    let mi = digits(&b[15..17])?;
    let s = digits(&b[18..20])?;
    let offset = parse_offset(&b[21..])?;
    civil_to_us((i64::from(y), mo, d), (h, mi, s), 0, offset)
}

/// RFC 3339 time with optional fraction (any number of digits, truncated to µs) and `Z`
/// or `±hh:mm` offset, e.g. `2016-03-09T14:44:26.402973972-08:00`, to microseconds UTC.
pub fn parse_rfc3339(b: &[u8]) -> Option<TimestampUs> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let y = digits(&b[0..4])?;
    let mo = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let s = digits(&b[17..19])?;
    let mut rest = &b[19..];
    let mut frac_us = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..6 {
            frac_us = frac_us * 10
                + frac
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |c| u32::from(c - b'0'));
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        _ => parse_offset(rest)?,
    };
    civil_to_us((i64::from(y), mo, d), (h, mi, s), frac_us, offset)
}

/// What a registry API request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Path<'u> {
    /// `/v2/<name>/blobs/<digest>` with a valid `sha256` digest.
    Blob {
        /// The repository name (may contain `/`).
        repo: &'u [u8],
        /// The blob digest.
        digest: Digest,
    },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// The repository name (may contain `/`).
        repo: &'u [u8],
        /// A tag or digest, as written.
        reference: &'u [u8],
    },
    /// `/v2/<name>/blobs/uploads/...` (push traffic).
    Upload,
    /// Anything else (`/v2/`, `_catalog`, tags lists, non-registry paths).
    Other,
}

/// Matches a request URI (origin-form, or absolute-form as proxies log it) against the
/// registry API routes. The query is ignored. A blob path whose digest is not a valid
/// lower-case `sha256` (after percent-decoding) is [`Reject::BadDigest`]; so is a manifest
/// reference that starts with `sha256:` but is not a valid digest (tags cannot contain
/// `:`, so such a reference is meant as a digest).
pub fn match_v2_path(uri: &[u8]) -> Result<V2Path<'_>, Reject> {
    let mut path = uri;
    if let Some(end) = memchr2(b'?', b'#', path) {
        path = &path[..end];
    }
    for scheme in [&b"http://"[..], b"https://"] {
        if path.len() > scheme.len() && path[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let after = &path[scheme.len()..];
            path = memchr(b'/', after).map_or(&b""[..], |i| &after[i..]);
            break;
        }
    }
    let Some(rest) = path.strip_prefix(b"/v2/") else {
        return Ok(V2Path::Other);
    };
    let Some(slash) = memchr::memrchr(b'/', rest) else {
        return Ok(V2Path::Other);
    };
    let (head, last) = (&rest[..slash], &rest[slash + 1..]);
    if let Some(repo) = head.strip_suffix(b"/blobs") {
        if repo.is_empty() {
            return Ok(V2Path::Other);
        }
        if last == b"uploads" || last.is_empty() {
            return Ok(V2Path::Upload);
        }
        let digest = if memchr(b'%', last).is_some() {
            let decoded: Cow<'_, [u8]> = percent_encoding::percent_decode(last).into();
            Digest::parse(&decoded)
        } else {
            Digest::parse(last)
        };
        return digest
            .map(|digest| V2Path::Blob { repo, digest })
            .ok_or(Reject::BadDigest);
    }
    if let Some(repo) = head.strip_suffix(b"/manifests") {
        if repo.is_empty() || last.is_empty() {
            return Ok(V2Path::Other);
        }
        if last.starts_with(b"sha256:") && Digest::parse(last).is_none() {
            return Err(Reject::BadDigest);
        }
        return Ok(V2Path::Manifest {
            repo,
            reference: last,
        });
    }
    if head.ends_with(b"/blobs/uploads") {
        return Ok(V2Path::Upload);
    }
    Ok(V2Path::Other)
}

/// [`V2Path`] with text fields, borrowed from the line where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// A blob by digest.
    Blob {
        /// The repository name.
        repo: Cow<'a, str>,
        /// The blob digest.
        digest: Digest,
    },
    /// A manifest by tag or digest.
    Manifest {
        /// The repository name.
        repo: Cow<'a, str>,
        /// The tag or digest.
        reference: Cow<'a, str>,
    },
    /// An upload (push traffic).
    Upload,
    /// Anything else.
    Other,
}

fn to_target<'x, 'y>(
    p: V2Path<'x>,
    text: impl Fn(&'x [u8]) -> Result<Cow<'y, str>, Reject>,
) -> Result<Target<'y>, Reject> {
    Ok(match p {
        V2Path::Blob { repo, digest } => Target::Blob {
            repo: text(repo)?,
            digest,
        },
        V2Path::Manifest { repo, reference } => Target::Manifest {
            repo: text(repo)?,
            reference: text(reference)?,
        },
        V2Path::Upload => Target::Upload,
        V2Path::Other => Target::Other,
    })
}

/// [`match_v2_path`] over a URI that may have been unescaped: the repository and reference
/// borrow from the line when the URI did; a name that is not UTF-8 is [`Reject::BadUtf8`].
pub fn match_v2_target(uri: Cow<'_, [u8]>) -> Result<Target<'_>, Reject> {
    match uri {
        Cow::Borrowed(b) => to_target(match_v2_path(b)?, |s| {
            std::str::from_utf8(s)
                .map(Cow::Borrowed)
                .map_err(|_| Reject::BadUtf8)
        }),
        Cow::Owned(v) => to_target(match_v2_path(&v)?, |s| {
            std::str::from_utf8(s)
                .map(|s| Cow::Owned(s.to_owned()))
                .map_err(|_| Reject::BadUtf8)
        }),
    }
}

/// What a registry access line (`GET` of `uri`, answered `status`) is, pushing its event: a
/// blob answered 200, 206 or 307 is a pull (a 307 redirects to storage, so 0 bytes are
/// counted, else `bytes`; a 206 is a ranged one), a manifest answered 200 is a manifest request. A malformed digest
/// only rejects a line that would count.
pub fn v2_get<'a>(
    uri: Cow<'a, [u8]>,
    status: i64,
    ts: TimestampUs,
    client: Option<Cow<'a, str>>,
    ua: Option<Cow<'a, str>>,
    bytes: Option<i64>,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    let pull_status = matches!(status, 200 | 206 | 307);
    let target = match match_v2_target(uri) {
        Ok(target) => target,
        Err(_) if !pull_status => return Ok(LineOutcome::Ignored("status")),
        Err(r) => return Err(r),
    };
    match target {
        Target::Blob { .. } | Target::Manifest { .. } if !pull_status => {
            Ok(LineOutcome::Ignored("status"))
        }
        Target::Blob { repo, digest } => {
            let pull = BlobPull {
                get: BlobGet {
                    ts,
                    digest,
                    client,
                    ua,
                },
                repo: Some(repo),
                bytes: if status == 307 { Some(0) } else { bytes },
            };
            out.push(pull.into_event(status == 206));
            Ok(LineOutcome::Used)
        }
        Target::Manifest { .. } if status != 200 => Ok(LineOutcome::Ignored("status")),
        Target::Manifest { repo, reference } => {
            out.push(Event::Manifest(ManifestRequest {
                ts,
                repo,
                reference,
                client,
                ua,
            }));
            Ok(LineOutcome::Used)
        }
        Target::Upload => Ok(LineOutcome::Ignored("upload")),
        Target::Other => Ok(LineOutcome::Ignored("not_blob")),
    }
}

/// The fields of a registry request line that the parsers read, under the same logrus keys
/// in the JSON and the text formatter's output: the text fields as found (unescaped), the
/// status and the byte count as `N` (their raw text, or integers already checked).
#[derive(Default)]
pub struct RequestFields<'a, N> {
    /// `time`.
    pub time: Option<Cow<'a, [u8]>>,
    /// `msg`.
    pub msg: Option<Cow<'a, [u8]>>,
    /// `http.request.method`.
    pub method: Option<Cow<'a, [u8]>>,
    /// `http.request.uri`.
    pub uri: Option<Cow<'a, [u8]>>,
    /// `http.request.remoteaddr`.
    pub remote_addr: Option<Cow<'a, [u8]>>,
    /// `http.request.useragent`.
    pub user_agent: Option<Cow<'a, [u8]>>,
    /// `http.response.status`.
    pub status: Option<N>,
    /// `http.response.written`.
    pub written: Option<N>,
}

/// Where the value of a key of [`RequestFields`] goes.
pub enum RequestSlot<'s, 'a, N> {
    /// A text field.
    Text(&'s mut Option<Cow<'a, [u8]>>),
    /// `http.response.status` or `http.response.written`.
    Number(&'s mut Option<N>),
}

impl<'a, N> RequestFields<'a, N> {
    /// The slot of `key`, `None` for a key the parsers do not read.
    pub fn slot(&mut self, key: &[u8]) -> Option<RequestSlot<'_, 'a, N>> {
        use RequestSlot::{Number, Text};
        Some(match key {
            b"time" => Text(&mut self.time),
            b"msg" => Text(&mut self.msg),
            b"http.request.method" => Text(&mut self.method),
            b"http.request.uri" => Text(&mut self.uri),
            b"http.request.remoteaddr" => Text(&mut self.remote_addr),
            b"http.request.useragent" => Text(&mut self.user_agent),
            b"http.response.status" => Number(&mut self.status),
            b"http.response.written" => Number(&mut self.written),
            _ => return None,
        })
    }
}

/// A JSON string that borrows from the input when it has no escapes (serde's own
/// `Cow<str>` impl always allocates when wrapped in an `Option`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for JStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl JStr<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A JSON string field that says something: `None` when absent, empty or `-`.
pub fn present(s: Option<JStr<'_>>) -> Option<Cow<'_, str>> {
    s.map(|s| s.0).filter(|s| !s.is_empty() && s != "-")
}

/// A JSON integer, also accepted as a numeric string (`200` or `"200"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JNum(pub i64);

impl<'de> Deserialize<'de> for JNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = JNum;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a numeric string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JNum, E> {
                Ok(JNum(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JNum, E> {
                i64::try_from(v).map(JNum).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JNum, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(JNum(v as i64))
                } else {
                    Err(E::custom("not an integer"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JNum, E> {
                v.trim().parse().map(JNum).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Media types of manifests and indexes (anything else in a notification is a blob).
pub fn is_manifest_media_type(mt: &str) -> bool {
    let mt = mt.split(';').next().unwrap_or("").trim();
    matches!(
        mt,
        "application/vnd.docker.distribution.manifest.v2+json"
            | "application/vnd.docker.distribution.manifest.list.v2+json"
            | "application/vnd.docker.distribution.manifest.v1+json"
            | "application/vnd.docker.distribution.manifest.v1+prettyjws"
            | "application/vnd.oci.image.manifest.v1+json"
            | "application/vnd.oci.image.index.v1+json"
            | "application/vnd.oci.artifact.manifest.v1+json"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use proptest::prelude::*;

    const HEX: &str = "07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548";

    #[test]
    fn text_fields_borrow_or_reject() {
        assert_eq!(opt_utf8(b"-"), Ok(None));
        assert_eq!(opt_utf8(b""), Ok(None));
        assert!(matches!(
            opt_utf8(b"10.0.0.1"),
            Ok(Some(Cow::Borrowed("10.0.0.1")))
        ));
        assert_eq!(opt_utf8(b"a\xffb"), Err(Reject::BadUtf8));
    }

    fn fields(line: &str, escapes: bool) -> Result<Vec<Vec<u8>>, Reject> {
        let mut f = Fields::new(line.as_bytes(), escapes);
        let mut out = Vec::new();
        while let Some(field) = f.next_field() {
            out.push(field?.raw.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn tokenizer_splits_quotes_and_brackets() {
        let got = fields(
            r#"a [06/Feb/2019:00:00:38 +0000] "GET / HTTP/1.1" - "x y""#,
            false,
        )
        .unwrap();
        let want: Vec<&[u8]> = vec![
            b"a",
            b"06/Feb/2019:00:00:38 +0000",
            b"GET / HTTP/1.1",
            b"-",
            b"x y",
        ];
        assert_eq!(got, want);
        assert_eq!(fields(r#"a "b"" c"#, false), Err(Reject::BadQuoting));
        assert_eq!(fields(r#"a "b c"#, false), Err(Reject::BadQuoting));
        assert_eq!(fields("a [b c", false), Err(Reject::BadQuoting));
        assert_eq!(fields("a [b]c", false), Err(Reject::BadQuoting));
        // escapes: `\"` does not close the field
        let got = fields(r#"x "a \"q\" \\" y"#, true).unwrap();
        assert_eq!(got[1], br#"a \"q\" \\"#.to_vec());
        assert_eq!(fields(r#"x "a \""#, true), Err(Reject::BadQuoting));
        assert_eq!(fields(r#"x "a \"#, true), Err(Reject::BadQuoting));
    }

    #[test]
    fn unescape_handles_gorilla_and_nginx() {
        assert_eq!(unescape(br#"a\"b\\c"#), br#"a"b\c"#);
        assert_eq!(unescape(br"\x22x\x5c"), br#""x\"#);
        assert_eq!(unescape(br"\u00e9"), "é".as_bytes());
        assert_eq!(unescape(br"\q\x2"), br"\q\x2");
        assert_eq!(unescape(br"end\"), br"end\");
    }

    #[test]
    fn clf_time_with_offsets() {
        let utc = parse_clf_time(b"06/Feb/2019:00:00:38 +0000").unwrap();
        assert_eq!(utc, 1_549_411_238_000_000);
        let plus1 = parse_clf_time(b"06/Feb/2019:01:00:38 +0100").unwrap();
        assert_eq!(plus1, utc);
        let minus = parse_clf_time(b"05/Feb/2019:16:30:38 -0730").unwrap();
        assert_eq!(minus, utc);
        for bad in [
            "31/Feb/2019:00:00:38 +0000",
            "06/Fbr/2019:00:00:38 +0000",
            "06/Feb/2019:24:00:38 +0000",
            "06/Feb/2019:00:00:38",
            "-",
        ] {
            assert_eq!(parse_clf_time(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_with_nanos_and_offsets() {
        let a = parse_rfc3339(b"2016-03-09T14:44:26.402973972-08:00").unwrap();
        assert_eq!(a, 1_457_563_466_402_973);
        for (good, want) in [
            ("2016-03-09T22:44:26.402973Z", a),
            ("2019-06-06T10:26:04.5825108Z", 1_559_816_764_582_510),
            ("2015-12-11T06:02:03Z", 1_449_813_723_000_000),
            ("1969-12-31T23:59:59.5Z", -500_000),
        ] {
            assert_eq!(parse_rfc3339(good.as_bytes()), Some(want), "{good}");
        }
        for bad in [
            "2016-03-09T14:44:26.Z",
            "2016-03-09T14:44:26",
            "2016-13-09T14:44:26Z",
            "2016-03-09T14:44:26+0800x",
        ] {
            assert_eq!(parse_rfc3339(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn v2_paths() {
        let blob = format!("/v2/team/app/blobs/sha256:{HEX}?ns=docker.io");
        match match_v2_path(blob.as_bytes()).unwrap() {
            V2Path::Blob { repo, digest } => {
                assert_eq!(repo, b"team/app");
                assert_eq!(digest.hex(), HEX);
            }
            other => panic!("{other:?}"),
        }
        let encoded = format!("/v2/a/blobs/sha256%3A{HEX}");
        assert!(matches!(
            match_v2_path(encoded.as_bytes()),
            Ok(V2Path::Blob { .. })
        ));
        let absolute = format!("https://reg.example.com/v2/a/blobs/sha256:{HEX}");
        assert!(matches!(
            match_v2_path(absolute.as_bytes()),
            Ok(V2Path::Blob { .. })
        ));
        // a repository component called `blobs`
        let nested = format!("/v2/x/blobs/blobs/sha256:{HEX}");
        assert!(matches!(
            match_v2_path(nested.as_bytes()),
            Ok(V2Path::Blob {
                repo: b"x/blobs",
                ..
            })
        ));
        assert_eq!(
            match_v2_path(format!("/v2/a/blobs/sha256:{}", HEX.to_uppercase()).as_bytes()),
            Err(Reject::BadDigest)
        );
        assert_eq!(
            match_v2_path(format!("/v2/a/blobs/sha512:{HEX}").as_bytes()),
            Err(Reject::BadDigest)
        );
        assert_eq!(match_v2_path(b"/v2/a/b/blobs/uploads/"), Ok(V2Path::Upload));
        assert_eq!(match_v2_path(b"/v2/a/b/blobs/uploads"), Ok(V2Path::Upload));
        assert_eq!(
            match_v2_path(b"/v2/a/blobs/uploads/5d1e?_state=x&digest=sha256%3Aab"),
            Ok(V2Path::Upload)
        );
        assert_eq!(
            match_v2_path(b"/v2/library/alpine/manifests/3.19"),
            Ok(V2Path::Manifest {
                repo: b"library/alpine",
                reference: b"3.19"
            })
        );
        assert_eq!(
            match_v2_path(b"/v2/a/manifests/sha256:abc"),
            Err(Reject::BadDigest)
        );
        assert_eq!(match_v2_path(b"/v2/"), Ok(V2Path::Other));
        assert_eq!(match_v2_path(b"/v2/_catalog"), Ok(V2Path::Other));
        assert_eq!(match_v2_path(b"/v2/a/tags/list"), Ok(V2Path::Other));
        assert_eq!(
            match_v2_path(format!("/v2/blobs/sha256:{HEX}").as_bytes()),
            Ok(V2Path::Other)
        );
        assert_eq!(match_v2_path(b"/healthz"), Ok(V2Path::Other));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_status(b"206"), Ok(206));
        assert_eq!(parse_status(b"-"), Err(Reject::BadNumber));
        assert_eq!(parse_status(b"20"), Err(Reject::BadNumber));
        assert_eq!(parse_bytes_field(b"-"), Ok(0));
        assert_eq!(parse_bytes_field(b"18547033"), Ok(18_547_033));
        assert_eq!(
            parse_bytes_field(b"99999999999999999999"),
            Err(Reject::BadNumber)
        );
        assert_eq!(parse_bytes_field(b"1e3"), Err(Reject::BadNumber));
    }

    #[test]
    fn json_helpers_borrow_and_accept_strings() {
        #[derive(serde::Deserialize)]
        struct T<'a> {
            #[serde(borrow)]
            s: Option<JStr<'a>>,
            n: JNum,
        }
        let t: T<'_> = serde_json::from_str(r#"{"s":"plain","n":"200"}"#).unwrap();
        assert!(matches!(t.s.unwrap().0, Cow::Borrowed("plain")));
        assert_eq!(t.n, JNum(200));
        let t: T<'_> = serde_json::from_str(r#"{"s":"a\"b","n":307}"#).unwrap();
        assert_eq!(t.s.unwrap().as_str(), "a\"b");
        assert_eq!(t.n, JNum(307));
        assert!(serde_json::from_str::<T<'_>>(r#"{"n":"x"}"#).is_err());
    }

    #[test]
    fn manifest_media_types() {
        assert!(is_manifest_media_type(
            "application/vnd.oci.image.index.v1+json"
        ));
        assert!(is_manifest_media_type(
            "application/vnd.docker.distribution.manifest.v1+prettyjws"
        ));
        assert!(!is_manifest_media_type("application/octet-stream"));
        assert!(!is_manifest_media_type(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Our allocation-free timestamp parsers agree with chrono.
        #[test]
        fn timestamps_agree_with_chrono(secs in -2_000_000_000i64..8_000_000_000, nanos in 0u32..1_000_000_000, off_min in -1439i32..=1439) {
            let utc = DateTime::from_timestamp(secs, nanos).unwrap();
            let tz = chrono::FixedOffset::east_opt(off_min * 60).unwrap();
            let local = utc.with_timezone(&tz);
            let want_us = secs * 1_000_000 + i64::from(nanos / 1000);
            let rfc = local.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
            prop_assert_eq!(parse_rfc3339(rfc.as_bytes()), Some(want_us));
            let clf = local.format("%d/%b/%Y:%H:%M:%S %z").to_string();
            prop_assert_eq!(parse_clf_time(clf.as_bytes()), Some(secs * 1_000_000));
        }

        #[test]
        fn helpers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse_clf_time(&bytes);
            let _ = parse_rfc3339(&bytes);
            let _ = match_v2_path(&bytes);
            let _ = unescape(&bytes);
            let mut f = Fields::new(&bytes, true);
            while let Some(Ok(_)) = f.next_field() {}
        }
    }
}
