//! Which log format an input's first lines are, for the error that a log read in the wrong
//! format gets: a combined access log given as `registry-json` has no JSON line (every line is
//! `foreign`, 0 pulls, exit 0), and before this check it was then in the ledger, so reading it
//! again in the right format was skipped and its pulls were lost.
//!
//! Reads at most [`SAMPLE_BYTES`] of the decompressed input and parses its complete lines with
//! every parser; a format fits when at least half of the sampled lines are lines of it (a pull,
//! a manifest request or a well-formed line that is neither). Never reads more, never writes.

use std::io::Read;

use crate::ingest::event::{LineOutcome, ParseOptions};
use crate::ingest::parse::{self, notifications};
use crate::model::LogFormat;

/// How much of an input is sampled.
pub const SAMPLE_BYTES: u64 = 256 * 1024;

/// Lines of `format` in `sample` (ignoring blank ones), and how many lines were tried. A line is
/// one of `format` when it is a pull or a manifest request of it, or a well-formed line of it
/// that is neither and has the format's time (a notification envelope is valid JSON, but no
/// JSON log line: it has no `time`).
fn score(format: LogFormat, sample: &[u8], opts: &ParseOptions) -> (usize, usize) {
    let time_of = parse::time_of(format);
    let own = |outcome: Result<LineOutcome, _>, line: &[u8]| match outcome {
        Ok(LineOutcome::Used) => true,
        Ok(LineOutcome::Ignored(_)) => time_of(line).is_some(),
        _ => false,
    };
    let parser = parse::parser(format);
    let mut events = Vec::new();
    let (mut hits, mut tried) = (0, 0);
    if format == LogFormat::Notifications {
        for (_, envelope) in notifications::envelopes(sample) {
            tried += 1;
            events.clear();
            hits += usize::from(own(parser(envelope, opts, &mut events), envelope));
        }
        return (hits, tried);
    }
    for line in sample.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        tried += 1;
        events.clear();
        hits += usize::from(own(parser(line, opts, &mut events), line));
    }
    (hits, tried)
}

/// The format other than `given` that the first lines of `text` (decompressed) fit best, if
/// one fits at least half of them.
pub fn fitting_format(
    text: impl Read,
    given: LogFormat,
    opts: &ParseOptions,
) -> std::io::Result<Option<LogFormat>> {
    let mut sample = Vec::new();
    text.take(SAMPLE_BYTES).read_to_end(&mut sample)?;
    // Only complete lines: the last one may be cut by the sample's end.
    if sample.len() as u64 == SAMPLE_BYTES {
        if let Some(end) = memchr::memrchr(b'\n', &sample) {
            sample.truncate(end);
        }
    }
    let best = LogFormat::ALL
        .into_iter()
        .filter(|f| *f != given)
        .map(|f| (f, score(f, &sample, opts)))
        .filter(|(_, (hits, tried))| *tried > 0 && 2 * hits >= *tried)
        .max_by_key(|(_, (hits, _))| *hits);
    Ok(best.map(|(f, _)| f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/written/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn each_written_log_is_told_apart_from_the_others() {
        let opts = ParseOptions::default();
        for (file, format) in [
            ("s3-access.log", LogFormat::S3Access),
            ("registry-combined.log", LogFormat::RegistryCombined),
            ("registry-text.log", LogFormat::RegistryText),
            ("cloudfront.log", LogFormat::Cloudfront),
            ("notifications-pretty.json", LogFormat::Notifications),
        ] {
            let text = fixture(file);
            for given in LogFormat::ALL.into_iter().filter(|g| *g != format) {
                let got = fitting_format(text.as_slice(), given, &opts).unwrap();
                assert_eq!(got, Some(format), "{file} given as {given:?}");
            }
        }
        // A notification envelope whose only event is broken is no JSON log line.
        let envelope = br#"{"events":[{"action":"pull","timestamp":"yesterday"}]}"#.as_slice();
        assert_eq!(
            fitting_format(envelope, LogFormat::Notifications, &opts).unwrap(),
            None
        );
        // Text that is no log at all fits nothing.
        let prose = b"Dear registry,\nplease keep my layers.\n".as_slice();
        assert_eq!(
            fitting_format(prose, LogFormat::RegistryJson, &opts).unwrap(),
            None
        );
    }
}
