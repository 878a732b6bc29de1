//! Line parsers, one module per input format (`formats.md` §2 and §3).
//!
//! Each parser is a pure [`ParseFn`]: one line of bytes in,
//! zero or more [`Event`]s out, or a
//! [`Reject`] code. Parsers never panic on any input, never
//! do I/O, and do not allocate per line in the common case (fields borrow from the line;
//! only escaped text is copied). They do not normalise clients or classify user agents:
//! the driver does that once per distinct value.
//!
//! What counts as a pull: a GET of a blob by digest answered 200 or 206 (a ranged pull), or
//! 307 in the registry's own logs (a redirect to storage); a notification's pull carries its
//! event id. A GET of a blob that failed (`s3-access` 4xx/5xx) is a failed pull. HEAD requests, errors, uploads and other
//! paths or keys are [`LineOutcome::Ignored`]
//! with a short reason.

pub mod cloudfront;
pub mod common;
pub mod fast_json;
pub mod fast_s3;
#[cfg(test)]
mod fuzz;
pub mod notifications;
pub mod registry_combined;
pub mod registry_json;
pub mod registry_text;
pub mod s3_access;
#[cfg(test)]
pub(crate) mod testing;

use crate::ingest::event::{Event, LineOutcome, ParseFn, ParseOptions, Reject, TimestampUs};
use crate::model::LogFormat;

/// When a line that is no pull happened, for the per-day line counts the coverage guard
/// reads (`stats::coverage`): a day whose only lines are HEADs or errors still has logs.
pub type TimeFn = fn(&[u8]) -> Option<TimestampUs>;

/// The [`TimeFn`] of a format: it reads only the timestamp, the same way the parser does.
pub fn time_of(format: LogFormat) -> TimeFn {
    match format {
        LogFormat::S3Access => s3_access::time_of,
        LogFormat::RegistryJson => fast_json::time_of,
        LogFormat::RegistryText => registry_text::time_of,
        LogFormat::RegistryCombined => registry_combined::time_of,
        LogFormat::Notifications => notifications::time_of,
        LogFormat::Cloudfront => cloudfront::time_of,
    }
}

/// The outcome of `line` under `format`'s parser ([`parser`]) and, for a line it ignores, the
/// line's time ([`time_of`]; the per-day line counts count ignored lines too). The registry's
/// JSON lines give both from one scan ([`fast_json::parse_timed`]).
pub fn parse_timed<'a>(
    format: LogFormat,
    line: &'a [u8],
    opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> (Result<LineOutcome, Reject>, Option<TimestampUs>) {
    if format == LogFormat::RegistryJson {
        return fast_json::parse_timed(line, opts, out);
    }
    let res = parser(format)(line, opts, out);
    let ts = match res {
        Ok(LineOutcome::Ignored(_)) => time_of(format)(line),
        _ => None,
    };
    (res, ts)
}

/// The line parser of a format (for `s3-access` and `registry-json`, a fast path for plain
/// lines in front of the exact parser: [`fast_s3`], [`fast_json`]).
pub fn parser(format: LogFormat) -> ParseFn {
    match format {
        LogFormat::S3Access => fast_s3::parse,
        LogFormat::RegistryJson => fast_json::parse,
        LogFormat::RegistryText => registry_text::parse,
        LogFormat::RegistryCombined => registry_combined::parse,
        LogFormat::Notifications => notifications::parse,
        LogFormat::Cloudfront => cloudfront::parse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::event::{Event, LineOutcome, ParseOptions, Reject, MAX_LINE};
    use crate::ingest::parse::testing::{fixture, lines};

    /// Valid lines of each format: the written fixtures, and AWS's documented examples.
    fn valid_lines() -> Vec<Vec<u8>> {
        let fixtures = [
            "written/s3-access.log",
            "samples/s3-access-logs/aws-docs-examples.log",
            "written/registry-json.log",
            "written/registry-text.log",
            "written/registry-combined.log",
            "written/notifications.jsonl",
            "written/cloudfront.log",
        ];
        let mut out = Vec::new();
        for f in fixtures {
            out.extend(lines(&fixture(f)).into_iter().map(<[u8]>::to_vec));
        }
        out
    }

    /// The time a line counts for in the per-day coverage is the time of its events.
    #[test]
    fn time_of_agrees_with_the_parser() {
        let opts = ParseOptions::default();
        let mut checked = 0;
        for line in valid_lines() {
            for format in LogFormat::ALL {
                let mut out = Vec::new();
                if parser(format)(&line, &opts, &mut out) != Ok(LineOutcome::Used) {
                    continue;
                }
                let ts = |e: &Event<'_>| e.ts();
                let got = time_of(format)(&line);
                if format == LogFormat::Notifications {
                    // The envelope's first event, which need not be a pull.
                    assert!(got.is_some(), "{}", String::from_utf8_lossy(&line));
                } else {
                    assert_eq!(
                        got,
                        out.first().map(ts),
                        "{}",
                        String::from_utf8_lossy(&line)
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 10, "only {checked} valid lines");
    }

    #[test]
    fn every_format_has_a_parser_with_common_rules() {
        let opts = ParseOptions::default();
        for format in LogFormat::ALL {
            let parse = parser(format);
            let mut out = Vec::new();
            assert_eq!(
                parse(b"", &opts, &mut out),
                Ok(LineOutcome::Foreign),
                "{format:?}"
            );
            assert_eq!(
                parse(b" \r", &opts, &mut out),
                Ok(LineOutcome::Foreign),
                "{format:?}"
            );
            for fill in [b'{', b'a', b' '] {
                let long = vec![fill; MAX_LINE + 1];
                assert_eq!(
                    parse(&long, &opts, &mut Vec::new()),
                    Err(Reject::TooLong),
                    "{format:?}"
                );
            }
            assert!(out.is_empty());
        }
    }
}
