//! The fast path of the S3 server access log parser ([`super::s3_access`]): most lines of a
//! bucket's log are plain, and for those it gives the same outcome and the same events as the
//! exact parser in one pass over the bytes, without building the field table or allocating.
//!
//! A line is plain when its fields are separated by single spaces, its first 22 fields
//! (through the authentication type) are bare, `"quoted"` or `[bracketed]` as the tokenizer
//! of [`super::common::Fields`] reads them, nothing after them could start a quoted or
//! bracketed field, its time, status and byte count decode, and it is either no
//! `REST.GET.OBJECT` at all (`not_get`) or a `REST.GET.OBJECT` answered 200 or 206 (a pull or
//! a range of one, a `not_blob` key or an `internal` read). Every other line — another status, a malformed
//! field, invalid UTF-8 in the key or the client — goes to the exact parser, which alone
//! decides what odd lines are. `parse_is_the_slow_path_where_fast` (below) and the
//! differential targets of `super::fuzz` (test-only) hold the two to the same outcomes.
//!
//! Must not: decide anything the exact parser does not (a rule belongs there first), nor take
//! a line it is not sure of.

use memchr::{memchr, memchr2};

use crate::ingest::event::{BlobGet, BlobPull, Event, LineOutcome, ParseOptions, Reject};
use crate::ingest::parse::common::{
    opt_text, opt_utf8, parse_bytes_field, parse_clf_time, parse_status, prepare,
};
use crate::ingest::parse::s3_access::{
    self, F_AUTH_TYPE, F_BYTES_SENT, F_KEY, F_OPERATION, F_REMOTE_IP, F_STATUS, F_TIME,
    F_USER_AGENT, KEPT, MIN_FIELDS,
};

/// Parses one S3 server access log line: the fast path when the line is plain, the exact
/// parser otherwise (same outcome and events either way).
pub fn parse<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    match fast(line, opts, out) {
        Some(outcome) => outcome,
        None => s3_access::parse(line, opts, out),
    }
}

/// The fields of a plain line through [`KEPT`], and how many there are (up to [`KEPT`]);
/// `None` when the line is not plain.
fn fields(line: &[u8]) -> Option<([&[u8]; KEPT], usize)> {
    let mut f: [&[u8]; KEPT] = [b""; KEPT];
    let mut n = 0;
    let mut pos = 0;
    let len = line.len();
    while n < KEPT && pos < len {
        let (raw, end) = match line[pos] {
            // Two spaces in a row, or one at the start: not plain.
            b' ' => return None,
            b'"' => {
                let end = pos + 1 + memchr(b'"', &line[pos + 1..])?;
                (&line[pos + 1..end], end + 1)
            }
            b'[' => {
                let end = pos + 1 + memchr(b']', &line[pos + 1..])?;
                (&line[pos + 1..end], end + 1)
            }
            _ => {
                let end = memchr(b' ', &line[pos..]).map_or(len, |e| pos + e);
                (&line[pos..end], end)
            }
        };
        f[n] = raw;
        n += 1;
        if end == len {
            pos = len;
            break;
        }
        // A closing quote or bracket must end the field; a space separates the next one.
        if line[end] != b' ' {
            return None;
        }
        pos = end + 1;
    }
    // The trailing fields are only counted by the exact parser: plain when none of them can
    // be a quoted or bracketed field (which could be unterminated).
    if pos < len && memchr2(b'"', b'[', &line[pos..]).is_some() {
        return None;
    }
    // A line ending with a space after the 22nd field is trimmed before this is called.
    Some((f, n))
}

/// The outcome of a plain line (events pushed to `out`), `None` for any other line.
pub fn fast<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Option<Result<LineOutcome, Reject>> {
    let line = prepare(line).ok()?;
    let (f, n) = fields(line)?;
    if n < MIN_FIELDS {
        return None;
    }
    let ts = parse_clf_time(f[F_TIME])?;
    let status = parse_status(f[F_STATUS]).ok()?;
    let bytes = parse_bytes_field(f[F_BYTES_SENT]).ok()?;
    if f[F_OPERATION] != b"REST.GET.OBJECT" {
        return Some(Ok(LineOutcome::Ignored("not_get")));
    }
    if !matches!(status, 200 | 206) {
        return None;
    }
    let key = std::str::from_utf8(f[F_KEY]).ok()?;
    let Some(digest) = opts.layout.blob_digest(key) else {
        return Some(Ok(LineOutcome::Ignored("not_blob")));
    };
    if s3_access::internal((n > F_AUTH_TYPE).then_some(f[F_AUTH_TYPE]), opts) {
        return Some(Ok(LineOutcome::Ignored("internal")));
    }
    let pull = BlobPull {
        get: BlobGet {
            ts,
            digest,
            client: opt_utf8(f[F_REMOTE_IP]).ok()?,
            ua: opt_text(f[F_USER_AGENT]),
        },
        repo: None,
        bytes: Some(bytes),
    };
    // As the exact parser: a 206 is one range of a download, counted once per download.
    out.push(pull.into_event(status == 206));
    Some(Ok(LineOutcome::Used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::testing::{fixture, lines, one_byte_edits};
    use crate::model::Layout;

    /// Every option set the parsers are tested with.
    pub(crate) fn option_sets() -> Vec<ParseOptions> {
        vec![
            ParseOptions::default(),
            ParseOptions {
                s3_include_auth_header: true,
                layout: Layout {
                    root: Some("registry".into()),
                },
            },
        ]
    }

    /// Where the fast path takes a line, it says what the exact parser says; and it takes the
    /// plain lines of the fixtures (pulls and non-pulls), so it is no dead code.
    #[test]
    fn parse_is_the_slow_path_where_fast() {
        let mut taken = 0;
        let mut used = 0;
        for name in [
            "written/s3-access.log",
            "written/s3-access-other-buckets.log",
            "samples/s3-access-logs/aws-docs-examples.log",
            "samples/s3-access-logs/logstash-patterns-core-spec.log",
        ] {
            let text = fixture(name);
            for line in lines(&text) {
                for opts in option_sets() {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    let slow = s3_access::parse(line, &opts, &mut a);
                    if let Some(got) = fast(line, &opts, &mut b) {
                        taken += 1;
                        used += usize::from(got == Ok(LineOutcome::Used));
                        assert_eq!(
                            (got, &b),
                            (slow, &a),
                            "{name}: {}",
                            String::from_utf8_lossy(line)
                        );
                    }
                    let mut c = Vec::new();
                    assert_eq!(parse(line, &opts, &mut c), slow);
                    assert_eq!(c, a);
                }
            }
        }
        assert!(taken > 30 && used > 5, "{taken} lines taken, {used} pulls");
    }

    /// Every one-byte edit of fixture lines (deleted, replaced or inserted quotes, brackets,
    /// spaces, digits, NUL, invalid UTF-8 …): the parser says what the exact parser says, and
    /// the fast path takes a good share of the edits.
    #[test]
    fn every_one_byte_edit_agrees_with_the_exact_parser() {
        let text = fixture("written/s3-access.log");
        let (mut edits, mut taken) = (0, 0);
        // A 27-field presigned pull, an 18-field pull, a HEAD (a few seconds in a debug build).
        for line in [0, 8, 3].map(|i| lines(&text)[i]) {
            for edited in one_byte_edits(line) {
                for opts in option_sets() {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    let slow = s3_access::parse(&edited, &opts, &mut a);
                    taken += usize::from(fast(&edited, &opts, &mut Vec::new()).is_some());
                    assert_eq!(
                        (parse(&edited, &opts, &mut b), b),
                        (slow, a),
                        "{}",
                        String::from_utf8_lossy(&edited)
                    );
                    edits += 1;
                }
            }
        }
        assert!(taken * 2 > edits, "{taken} of {edits} edits taken");
    }

    /// Lines the fast path leaves to the exact parser.
    #[test]
    fn odd_lines_go_to_the_exact_parser() {
        let hex = "ab".repeat(32);
        let line = |status: &str| {
            format!(
                r#"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - X REST.GET.OBJECT docker/registry/v2/blobs/sha256/ab/{hex}/data "GET /x HTTP/1.1" {status} 243 5000 1 - "-" "containerd/1.7.2" - hostid SigV4 ECDHE-RSA-AES128-GCM-SHA256 QueryString b.s3.amazonaws.com TLSv1.3 - -"#
            )
        };
        let opts = ParseOptions::default();
        assert_eq!(
            fast(line("200 -").as_bytes(), &opts, &mut Vec::new()),
            Some(Ok(LineOutcome::Used))
        );
        for odd in [
            line("403 InvalidObjectState"),
            line("304 -"),
            line("2x0 -"),
            line("200 -").replace(" 243 ", " -1 "),
            line("200 -").replace("06/Feb", "32/Feb"),
            line("200 -").replace("o b ", "o  b "),
            line("200 -").replace("\"-\"", "\"-\"x"),
            line("200 -").replace("TLSv1.3", "\"TLSv1.3"),
            line("200 -").replace(" - -", " [x -"),
            line("200 -")[..60].to_string(),
        ] {
            assert_eq!(fast(odd.as_bytes(), &opts, &mut Vec::new()), None, "{odd}");
        }
    }
}
