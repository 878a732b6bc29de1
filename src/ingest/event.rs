//! What a log parser hands to the ingest driver: zero or more events per line, or a
//! reject with a reason code. Parsers are pure functions over one line of bytes; they never
//! panic, never allocate per line unless a field needs unescaping, and never decide about
//! client hashing or user-agent classes (the driver does, once per distinct value).

use std::borrow::Cow;

use crate::model::{Digest, Layout};

/// Microseconds since the Unix epoch, UTC.
pub type TimestampUs = i64;

/// A GET of a blob: when, which blob, and who asked. What a pull and a failed pull share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobGet<'a> {
    /// When the request was logged (UTC).
    pub ts: TimestampUs,
    /// The blob's digest.
    pub digest: Digest,
    /// The remote address exactly as logged (may carry a port, brackets); `None` for `-`.
    /// The driver normalises it with [`crate::ingest::client::normalize_addr`].
    pub client: Option<Cow<'a, str>>,
    /// The user agent, `None` when absent or `-`.
    pub ua: Option<Cow<'a, str>>,
}

/// A GET of a blob by digest that counts as a pull (see `docs/ingest.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPull<'a> {
    /// The request.
    pub get: BlobGet<'a>,
    /// The repository, where the format carries it.
    pub repo: Option<Cow<'a, str>>,
    /// Bytes sent for the request, where the format carries it (0 for a redirect).
    pub bytes: Option<i64>,
}

/// A GET of a manifest by tag or digest (kept for the image-graph stage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRequest<'a> {
    /// When the request was logged (UTC).
    pub ts: TimestampUs,
    /// The repository name (may contain `/`).
    pub repo: Cow<'a, str>,
    /// The tag or `sha256:` digest the client asked for.
    pub reference: Cow<'a, str>,
    /// The remote address exactly as logged; `None` for `-`.
    pub client: Option<Cow<'a, str>>,
    /// The user agent, `None` when absent or `-`.
    pub ua: Option<Cow<'a, str>>,
}

/// A GET of a blob that failed (`s3-access`: 4xx/5xx on a blob data key, e.g. 403
/// `InvalidObjectState` for a blob in GLACIER / DEEP_ARCHIVE). Not a pull: kept in the
/// `failed_pulls` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPull<'a> {
    /// The request.
    pub get: BlobGet<'a>,
    /// The HTTP status (400 ..= 599).
    pub status: u16,
    /// The error code as logged (`InvalidObjectState`), `None` for `-`.
    pub error_code: Option<Cow<'a, str>>,
}

/// One event found in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A blob pull: a whole GET (200) or a redirect (307).
    Pull(BlobPull<'a>),
    /// A ranged GET of a blob (206): the ranged GETs of one blob by one client within
    /// [`RANGED_PULL_WINDOW_US`] of the first are one pull (`docs/ingest.md`).
    RangedPull(BlobPull<'a>),
    /// A pull reported by a notification, with the event's `id`: a retried delivery of the
    /// same event counts once.
    NotifiedPull(BlobPull<'a>, Cow<'a, str>),
    /// A failed GET of a blob.
    FailedPull(FailedPull<'a>),
    /// A manifest request.
    Manifest(ManifestRequest<'a>),
}

/// How long after a client's first ranged GET of a blob its further ranged GETs of the same
/// blob continue the same pull: the lifetime of the registry's presigned URL (CNCF
/// distribution's S3 driver and CloudFront middleware sign for 20 minutes), since a client
/// resuming a download with the URL it was redirected to can only do so while it is valid.
pub const RANGED_PULL_WINDOW_US: i64 = 20 * 60 * 1_000_000;

impl<'a> BlobPull<'a> {
    /// The event of this pull: a ranged pull when the GET was answered 206 (`ranged`), else a
    /// whole one.
    pub fn into_event(self, ranged: bool) -> Event<'a> {
        if ranged {
            Event::RangedPull(self)
        } else {
            Event::Pull(self)
        }
    }
}

impl<'a> Event<'a> {
    /// When the event happened.
    pub fn ts(&self) -> TimestampUs {
        match self {
            Event::Pull(p) | Event::RangedPull(p) | Event::NotifiedPull(p, _) => p.get.ts,
            Event::FailedPull(f) => f.get.ts,
            Event::Manifest(m) => m.ts,
        }
    }
}

/// What a well-formed line amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOutcome {
    /// The line produced the events pushed to the output vector (one or more).
    Used,
    /// A well-formed line that is not a pull nor a manifest request (HEAD, 404, uploads,
    /// other keys, registry-internal reads …). The `&'static str` is a short snake_case
    /// reason, counted per reason in the ingest metrics (e.g. `not_get`, `status`,
    /// `not_blob`, `internal`).
    Ignored(&'static str),
    /// A line of another stream interleaved in the same file (e.g. an Apache access line
    /// inside a registry JSON log, or an empty line). Not a reject.
    Foreign,
}

/// Why a line was quarantined. The codes are a small fixed set (a contract: the
/// `reason_code` column of `_rejects`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    /// Fewer fields than the format requires.
    TooFewFields,
    /// An unterminated quote or bracket, or stray characters after a quoted field.
    BadQuoting,
    /// A timestamp that does not parse, or lies outside 1970-01-01 .. 9999-12-31 (UTC).
    BadTimestamp,
    /// A status or byte count that is not a number.
    BadNumber,
    /// A blob or manifest request whose digest is not `sha256:<64 lower-case hex>`.
    BadDigest,
    /// A line that should be JSON (starts with `{`) but is not valid JSON or lacks a
    /// required field.
    BadJson,
    /// A request line (`"METHOD URI PROTO"`) that does not have three parts.
    BadRequestLine,
    /// Not valid UTF-8 where text is required.
    BadUtf8,
    /// Longer than the maximum line length (`ingest.max_line_size`, default 1 MiB).
    TooLong,
    /// A NUL byte in the line (where a separator belongs, it shifts every field after it).
    NulByte,
    /// A logfmt line (`registry-text`) with a key that has no `=value`.
    BadLogfmt,
    /// A line of the registry's TTY text formatter (`INFO[0024] …`): elapsed seconds instead
    /// of a time and values with spaces unquoted, so it cannot be read reliably.
    TtyText,
}

impl Reject {
    /// All codes.
    pub const ALL: [Reject; 12] = [
        Reject::TooFewFields,
        Reject::BadQuoting,
        Reject::BadTimestamp,
        Reject::BadNumber,
        Reject::BadDigest,
        Reject::BadJson,
        Reject::BadRequestLine,
        Reject::BadUtf8,
        Reject::TooLong,
        Reject::NulByte,
        Reject::BadLogfmt,
        Reject::TtyText,
    ];

    /// The value stored in the `reason_code` column.
    pub fn code(self) -> &'static str {
        match self {
            Reject::TooFewFields => "too_few_fields",
            Reject::BadQuoting => "bad_quoting",
            Reject::BadTimestamp => "bad_timestamp",
            Reject::BadNumber => "bad_number",
            Reject::BadDigest => "bad_digest",
            Reject::BadJson => "bad_json",
            Reject::BadRequestLine => "bad_request_line",
            Reject::BadUtf8 => "bad_utf8",
            Reject::TooLong => "too_long",
            Reject::NulByte => "nul_byte",
            Reject::BadLogfmt => "bad_logfmt",
            Reject::TtyText => "tty_text",
        }
    }
}

/// Settings a parser needs.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Where blobs live in the bucket (s3-access only).
    pub layout: Layout,
    /// s3-access: also count blob GETs signed with `AuthHeader` (registry-internal reads;
    /// only meaningful when the registry streams blobs itself with redirects disabled).
    /// Default false: only presigned (`QueryString`) GETs, i.e. client pulls redirected
    /// by the registry, count.
    pub s3_include_auth_header: bool,
}

/// The longest line a parser accepts (longer ones are rejected with [`Reject::TooLong`]), and
/// the largest `ingest.max_line_size`: the log reader applies the configured limit (default
/// 1 MiB) before a parser sees a line, and never buffers more than this of one line.
pub const MAX_LINE: usize = crate::config::MAX_LINE_LIMIT;

/// A line parser: one function per format.
pub type ParseFn =
    for<'a> fn(&'a [u8], &ParseOptions, &mut Vec<Event<'a>>) -> Result<LineOutcome, Reject>;
