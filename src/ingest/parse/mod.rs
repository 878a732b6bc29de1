//! Line parsers, one module per input format (`formats.md` §2 and §3).
//!
//! Each parser is a pure [`ParseFn`]: one line of bytes in,
//! zero or more [`Event`](crate::ingest::event::Event)s out, or a
//! [`Reject`](crate::ingest::event::Reject) code. Parsers never panic on any input, never
//! do I/O, and do not allocate per line in the common case (fields borrow from the line;
//! only escaped text is copied). They do not normalise clients or classify user agents:
//! the driver does that once per distinct value.
//!
//! What counts as a pull: a GET of a blob by digest answered 200 or 206, or 307 in the
//! registry's own logs (a redirect to storage). HEAD requests, errors, uploads and other
//! paths or keys are [`LineOutcome::Ignored`](crate::ingest::event::LineOutcome::Ignored)
//! with a short reason.

pub mod common;
pub mod notifications;
pub mod registry_combined;
pub mod registry_json;
pub mod s3_access;
#[cfg(test)]
pub(crate) mod testing;

use crate::ingest::event::ParseFn;
use crate::model::LogFormat;

/// The line parser of a format.
pub fn parser(format: LogFormat) -> ParseFn {
    match format {
        LogFormat::S3Access => s3_access::parse,
        LogFormat::RegistryJson => registry_json::parse,
        LogFormat::RegistryCombined => registry_combined::parse,
        LogFormat::Notifications => notifications::parse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::event::{LineOutcome, ParseOptions, Reject, MAX_LINE};

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
            let long = vec![b'{'; MAX_LINE + 1];
            assert_eq!(
                parse(&long, &opts, &mut out),
                Err(Reject::TooLong),
                "{format:?}"
            );
            assert!(out.is_empty());
        }
    }
}
