//! Never-panic properties of the line parsers: one proptest target per format (a module each:
//! `s3_access`, `registry_combined`, `registry_json`, `registry_text`, `cloudfront`,
//! `notifications`), each fed arbitrary
//! bytes and mutated valid lines (bytes flipped, inserted or deleted, truncation, NUL, invalid UTF-8, huge
//! numbers, quotes and brackets). Every outcome must be `Ok` or a [`Reject`] with a reason
//! code, a rejected or non-used line emits no event, and a used line emits at least one; the
//! format's [`time_of`] (the time a line counts for in the coverage) must return too. Where a
//! format has a fast path (`s3_access`, `registry_json`), every case is also a differential
//! test: the parser must give the outcome, events and time of the exact parser.
//! The notifications target also runs the envelope splitter ([`envelopes`], [`block_cut`]) over
//! every input, and `notifications_mutated_files` over whole mutated files, parsing every
//! envelope found.
//!
//! Seeds are the fixtures in `tests/fixtures/` (all in the repository). Case counts: each
//! target runs [`ARBITRARY_CASES`] cases of arbitrary bytes and [`MUTATED_CASES`] of mutated
//! lines ([`FILE_CASES`] of mutated notification files): a few seconds each in a debug build,
//! well under 60 s on a loaded 2-core machine. `PROPTEST_CASES` raises the counts (never
//! lowers them) for a longer run.
//!
//! Inputs that once crashed a parser stay below as named regression tests.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;

use crate::ingest::event::{LineOutcome, ParseFn, ParseOptions, Reject};
use crate::ingest::parse as exact;
use crate::ingest::parse::notifications::{block_cut, envelopes};
use crate::ingest::parse::testing::{fixture, lines};
#[cfg(doc)]
use crate::ingest::parse::{fast_json, fast_s3};
use crate::ingest::parse::{parser, time_of};
use crate::model::{Layout, LogFormat};

/// Cases of each arbitrary-bytes property: 10,000 (measured in a debug build on a 2-core
/// machine with a load average of 6: about 2.5 s of CPU and 5 s of wall time each).
const ARBITRARY_CASES: u32 = 10_000;
/// Cases of each mutated-lines property: 20,000 (measured: the same 2.5 s CPU, 5 s wall).
const MUTATED_CASES: u32 = 20_000;
/// Cases of the mutated-files property (each a whole file of envelopes): 5,000 (measured: the
/// same 2.5 s CPU, 5 s wall).
const FILE_CASES: u32 = 5_000;

/// `cases`, or `PROPTEST_CASES` when that is more.
fn config(cases: u32) -> ProptestConfig {
    let env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    ProptestConfig {
        cases: env.map_or(cases, |n| n.max(cases)),
        ..ProptestConfig::default()
    }
}

/// Tokens a hostile or broken line is made of.
const HOSTILE: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xef\xbf\xbd",
    b"\"",
    b"\\",
    b"\\\"",
    b"\\x",
    b"\\u",
    b"\\ud800",
    b"\\u0000",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\n{",
    b"-",
    b" ",
    b"\t",
    b"\r",
    b"\n",
    b"%",
    b"%3A",
    b"%ff",
    b"?",
    b"/v2/",
    b"/blobs/",
    b"/manifests/",
    b"sha256:",
    b"-0",
    b"+99:99",
    b"Z",
];

/// Numbers past every integer type a parser reads into.
const HUGE: &[&[u8]] = &[
    b"99999999999999999999999999",
    b"18446744073709551616",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"4294967296",
    b"1e400",
];

/// One edit of a valid line.
#[derive(Debug, Clone)]
enum Edit {
    /// XOR the byte at an index with a non-zero mask.
    Flip(Index, u8),
    /// Insert a byte.
    Insert(Index, u8),
    /// Delete a byte.
    Delete(Index),
    /// Cut the line at an index.
    Truncate(Index),
    /// Insert a [`HOSTILE`] token or a [`HUGE`] number.
    Splice(Index, Index),
    /// Overwrite the run of digits at or after an index with a huge number.
    BigNumber(Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1..=u8::MAX).prop_map(|(i, m)| Edit::Flip(i, m)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<Index>().prop_map(Edit::Delete),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Edit::Splice(i, t)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Edit::BigNumber(i, t)),
    ]
}

/// `line` with `edits` applied in order.
fn mutate(line: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut line = line.to_vec();
    for e in edits {
        let at = |i: &Index, len: usize| i.index(len + 1);
        match e {
            Edit::Flip(i, mask) if !line.is_empty() => {
                let i = i.index(line.len());
                line[i] ^= mask;
            }
            Edit::Insert(i, b) => line.insert(at(i, line.len()), *b),
            Edit::Delete(i) if !line.is_empty() => {
                line.remove(i.index(line.len()));
            }
            Edit::Truncate(i) => line.truncate(at(i, line.len())),
            Edit::Splice(i, t) => {
                let i = at(i, line.len());
                let t = t.index(HOSTILE.len() + HUGE.len());
                let token = match HOSTILE.get(t) {
                    Some(token) => token,
                    None => HUGE[t - HOSTILE.len()],
                };
                line.splice(i..i, token.iter().copied());
            }
            Edit::BigNumber(i, t) => {
                let from = at(i, line.len());
                let Some(start) = line[from..].iter().position(u8::is_ascii_digit) else {
                    continue;
                };
                let start = from + start;
                let len = line[start..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                let big = HUGE[t.index(HUGE.len())];
                line.splice(start..start + len, big.iter().copied());
            }
            _ => {}
        }
    }
    line
}

/// The valid lines (envelopes for notifications) of a format, from its fixtures.
fn seeds(format: LogFormat) -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<Vec<u8>>>> = OnceLock::new();
    let all = SEEDS.get_or_init(|| {
        LogFormat::ALL
            .iter()
            .map(|&f| {
                let mut out = Vec::new();
                for text in files(f) {
                    match f {
                        LogFormat::Notifications => {
                            out.extend(envelopes(text).map(|(_, e)| e.to_vec()));
                        }
                        _ => out.extend(lines(text).into_iter().map(<[u8]>::to_vec)),
                    }
                }
                out
            })
            .collect()
    });
    &all[format_index(format)]
}

fn format_index(format: LogFormat) -> usize {
    LogFormat::ALL
        .iter()
        .position(|&f| f == format)
        .unwrap_or_default()
}

/// The fixture files of a format, whole (read once).
fn files(format: LogFormat) -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<Vec<u8>>>> = OnceLock::new();
    let all = FILES.get_or_init(|| {
        LogFormat::ALL
            .iter()
            .map(|&f| file_names(f).iter().map(|n| fixture(n)).collect())
            .collect()
    });
    &all[format_index(format)]
}

fn file_names(format: LogFormat) -> &'static [&'static str] {
    match format {
        LogFormat::S3Access => &[
            "written/s3-access.log",
            "written/s3-access-other-buckets.log",
            "samples/s3-access-logs/aws-docs-examples.log",
            "samples/s3-access-logs/logstash-patterns-core-spec.log",
        ],
        LogFormat::RegistryJson => &[
            "written/registry-json.log",
            "written/registry-json-startup.log",
        ],
        LogFormat::RegistryCombined => &[
            "written/registry-combined.log",
            "written/registry-combined-docker-clients.log",
        ],
        LogFormat::RegistryText => &["written/registry-text.log"],
        LogFormat::Cloudfront => &[
            "written/cloudfront.log",
            "samples/cloudfront/logstash-patterns-core-cloudfront.log",
        ],
        LogFormat::Notifications => &[
            "written/notifications.jsonl",
            "written/notifications-pretty.json",
            "written/notifications-push-blob.json",
            "samples/registry-notifications/distribution-docs-pull-manifest-2016.json",
        ],
    }
}

/// `parse` over `line` with the default options and with every option on: it returns, and
/// the outcome says what it did.
fn outcome_is_honest(parse: ParseFn, line: &[u8]) -> Result<(), TestCaseError> {
    let all_on = ParseOptions {
        s3_include_auth_header: true,
        layout: Layout {
            root: Some("registry".into()),
        },
    };
    for opts in [&ParseOptions::default(), &all_on] {
        let mut out = Vec::new();
        match parse(line, opts, &mut out) {
            Ok(LineOutcome::Used) => prop_assert!(!out.is_empty(), "used without an event"),
            Ok(LineOutcome::Ignored(reason)) => {
                prop_assert!(
                    !reason.is_empty()
                        && reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "ignored without a reason code: {reason:?}"
                );
                prop_assert!(out.is_empty(), "ignored with events: {out:?}");
            }
            Ok(LineOutcome::Foreign) => prop_assert!(out.is_empty(), "foreign with events"),
            Err(r) => {
                prop_assert!(Reject::ALL.contains(&r) && !r.code().is_empty());
                prop_assert!(out.is_empty(), "{r:?} with events: {out:?}");
            }
        }
    }
    Ok(())
}

/// Differential check of the fast paths ([`fast_s3`], [`fast_json`]): the parser of `format`
/// gives the same outcome and events as the exact parser, with the default options and with
/// every option on, and the same time.
fn fast_is_exact(format: LogFormat, line: &[u8]) -> Result<(), TestCaseError> {
    let (exact, exact_time): (ParseFn, fn(&[u8]) -> _) = match format {
        LogFormat::S3Access => (exact::s3_access::parse, exact::s3_access::time_of),
        LogFormat::RegistryJson => (exact::registry_json::parse, exact::registry_json::time_of),
        _ => return Ok(()),
    };
    let all_on = ParseOptions {
        s3_include_auth_header: true,
        layout: Layout {
            root: Some("registry".into()),
        },
    };
    for opts in [&ParseOptions::default(), &all_on] {
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        let got = parser(format)(line, opts, &mut fast);
        let want = exact(line, opts, &mut slow);
        prop_assert_eq!(
            (got, fast),
            (want, slow),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    prop_assert_eq!(time_of(format)(line), exact_time(line));
    Ok(())
}

/// A line: a seed of `format` (three times in four), or of any format, mutated.
fn mutated(format: LogFormat) -> impl Strategy<Value = Vec<u8>> {
    let own = (any::<Index>(), prop::collection::vec(edit(), 1..6))
        .prop_map(move |(i, e)| pick_and_mutate(seeds(format), i, &e));
    let any_format = (
        any::<Index>(),
        any::<Index>(),
        prop::collection::vec(edit(), 1..6),
    )
        .prop_map(|(f, i, e)| {
            let f = LogFormat::ALL[f.index(LogFormat::ALL.len())];
            pick_and_mutate(seeds(f), i, &e)
        });
    prop_oneof![3 => own, 1 => any_format]
}

fn pick_and_mutate(seeds: &[Vec<u8>], i: Index, edits: &[Edit]) -> Vec<u8> {
    if seeds.is_empty() {
        return Vec::new();
    }
    mutate(&seeds[i.index(seeds.len())], edits)
}

/// Arbitrary bytes, half of them drawn from the format's structural bytes so that the parsers
/// get past their first checks.
fn arbitrary(structural: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<(u8, bool)>(), 0..600).prop_map(move |v| {
        v.into_iter()
            .map(|(b, pick)| match pick {
                true => structural[usize::from(b) % structural.len()],
                false => b,
            })
            .collect()
    })
}

const CLF_BYTES: &[u8] = b" \"[]-/:\\0123456789GETHEADv2blobsha256:+x";
const JSON_BYTES: &[u8] = b"{}[]\":,\\ 0123456789.-eEtruefalsnul\n";
const LOGFMT_BYTES: &[u8] = b" =\"\\timemsglevelhttp.request.uri/v2blobsha256:0123456789-:TZ";
const TSV_BYTES: &[u8] = b"\t #-:%0123456789GETHEAD/v2blobsha256";

/// `parse` of `format` is honest about `bytes`, and the format's [`time_of`] returns; where the
/// format has a fast path, the parser says exactly what the exact parser says; for
/// notifications, the splitter is consistent too.
fn check(format: LogFormat, bytes: &[u8]) -> Result<(), TestCaseError> {
    outcome_is_honest(parser(format), bytes)?;
    fast_is_exact(format, bytes)?;
    let _ = time_of(format)(bytes);
    if format == LogFormat::Notifications {
        splitter_is_consistent(bytes)?;
    }
    Ok(())
}

/// The two targets of a format, in a module named after it: `arbitrary_bytes` (drawn half from
/// `$structural`) and `mutated_lines`.
macro_rules! fuzz_targets {
    ($name:ident, $format:expr, $structural:expr) => {
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(config(ARBITRARY_CASES))]
                #[test]
                fn arbitrary_bytes(bytes in arbitrary($structural)) {
                    check($format, &bytes)?;
                }
            }

            proptest! {
                #![proptest_config(config(MUTATED_CASES))]
                #[test]
                fn mutated_lines(line in mutated($format)) {
                    check($format, &line)?;
                }
            }
        }
    };
}

fuzz_targets!(s3_access, LogFormat::S3Access, CLF_BYTES);
fuzz_targets!(registry_combined, LogFormat::RegistryCombined, CLF_BYTES);
fuzz_targets!(registry_json, LogFormat::RegistryJson, JSON_BYTES);
fuzz_targets!(notifications, LogFormat::Notifications, JSON_BYTES);
fuzz_targets!(registry_text, LogFormat::RegistryText, LOGFMT_BYTES);
fuzz_targets!(cloudfront, LogFormat::Cloudfront, TSV_BYTES);

proptest! {
    #![proptest_config(config(FILE_CASES))]

    /// Whole notification files, mutated: the splitter partitions them, a cut block splits
    /// into the same envelopes, and every envelope parses to an honest outcome.
    #[test]
    fn notifications_mutated_files(
        file in any::<Index>(),
        edits in prop::collection::vec(edit(), 1..12),
    ) {
        let files = files(LogFormat::Notifications);
        let text = mutate(&files[file.index(files.len())], &edits);
        splitter_is_consistent(&text)?;
    }
}

/// [`block_cut`] cuts just before a `{` in the first column; [`envelopes`] partitions `text`
/// (whitespace between envelopes aside), finds the same envelopes in the two halves of a cut
/// block, and every envelope parses to an honest outcome.
fn splitter_is_consistent(text: &[u8]) -> Result<(), TestCaseError> {
    let mut end = 0;
    for (line, env) in envelopes(text) {
        prop_assert!(!env.is_empty());
        let start = env.as_ptr() as usize - text.as_ptr() as usize;
        prop_assert!(start >= end && start + env.len() <= text.len());
        prop_assert!(text[end..start].iter().all(u8::is_ascii_whitespace));
        let newlines = text[..start].iter().filter(|&&b| b == b'\n').count() as u64;
        prop_assert_eq!(line, newlines);
        end = start + env.len();
        outcome_is_honest(parser(LogFormat::Notifications), env)?;
    }
    prop_assert!(text[end..].iter().all(u8::is_ascii_whitespace));
    if let Some(cut) = block_cut(text) {
        prop_assert!(cut >= 1 && cut < text.len());
        prop_assert_eq!((text[cut - 1], text[cut]), (b'\n', b'{'));
        let whole: Vec<_> = envelopes(text).map(|(_, e)| e).collect();
        let halves: Vec<_> = envelopes(&text[..cut])
            .chain(envelopes(&text[cut..]))
            .map(|(_, e)| e)
            .collect();
        prop_assert_eq!(whole, halves);
    }
    Ok(())
}

/// Found by `notifications_arbitrary_bytes` and `notifications_mutated_files`: an envelope still
/// open where the driver cuts a block (`{\n{`) kept the block's last newline at the end of the
/// first block but not in the whole text, so its reject's raw bytes depended on the block size.
#[test]
fn regression_open_envelope_at_a_block_cut_is_the_same_either_side() {
    for text in [
        &b"{\n{"[..],
        b"[\0\n{",
        b"{\"a\n{}",
        b"{ \n \n{\"events\":[]}",
    ] {
        let whole: Vec<_> = envelopes(text).collect();
        let cut = block_cut(text).unwrap();
        let first: Vec<_> = envelopes(&text[..cut]).collect();
        assert_eq!(first[..], whole[..first.len()], "{text:?}");
        assert!(!first[first.len() - 1].1.ends_with(b"\n"), "{text:?}");
    }
}
