//! What a log parser hands to the ingest driver: zero or more events per line, or a
//! reject with a reason code. Parsers are pure functions over one line of bytes; they never
//! panic, never allocate per line unless a field needs unescaping, and never decide about
//! client hashing or user-agent classes (the driver does, once per distinct value).

use std::borrow::Cow;

use crate::model::{Digest, Layout};

/// Microseconds since the Unix epoch, UTC.
pub type TimestampUs = i64;

/// A GET of a blob by digest that counts as a pull (see `docs/ingest.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPull<'a> {
    /// When the request was logged (UTC).
    pub ts: TimestampUs,
    /// The blob's digest.
    pub digest: Digest,
    /// The remote address exactly as logged (may carry a port, brackets); `None` for `-`.
    /// The driver normalises it with [`crate::ingest::client::normalize_addr`].
    pub client: Option<Cow<'a, str>>,
    /// The repository, where the format carries it.
    pub repo: Option<Cow<'a, str>>,
    /// The user agent, `None` when absent or `-`.
    pub ua: Option<Cow<'a, str>>,
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

/// One event found in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A blob pull.
    Pull(BlobPull<'a>),
    /// A manifest request.
    Manifest(ManifestRequest<'a>),
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
