//! S3 server access log lines (`formats.md` §2): space-separated fields, `[time]` and
//! `"quoted"` fields, 18 to 27 fields depending on the year, and any number of trailing
//! fields AWS may add later.
//!
//! A pull is a `REST.GET.OBJECT` answered 200 or 206 on a blob data key of the registry
//! layout, signed by `QueryString` (a presigned URL the registry redirected a client to),
//! or with an unknown authentication type (18-field lines before the field existed, `-`,
//! or a value AWS may add): over-counting only keeps a blob hot, missing a pull could tier
//! a used blob. `AuthHeader` reads are the registry's own and count only with
//! [`ParseOptions::s3_include_auth_header`].
//!
//! A `REST.GET.OBJECT` answered `403 InvalidObjectState` is a pull too (with 0 bytes): a client
//! asked for a blob that sits in GLACIER / DEEP_ARCHIVE and could not be served. It is demand
//! all the same, and the plan's `restore:pulled` acts on it; leaving it out would keep the
//! blob archived for as long as clients keep failing. Other 403s (AccessDenied, signature
//! errors) are not pulls.
//!
//! The parser reads bytes: invalid UTF-8 in the Request-URI (seen in real logs) is never
//! looked at. It does not allocate unless the user agent is not UTF-8.

use std::borrow::Cow;

use crate::ingest::event::{BlobPull, Event, LineOutcome, ParseOptions, Reject, TimestampUs};
use crate::ingest::parse::common::{
    opt_text, parse_bytes_field, parse_clf_time, parse_status, prepare, Field, Fields,
};

/// Fields a line must have (up to the User-Agent).
const MIN_FIELDS: usize = 17;
/// Fields we keep (1-based numbering in the docs; the rest are counted, then skipped).
const KEPT: usize = 22;

const F_TIME: usize = 2;
const F_REMOTE_IP: usize = 3;
const F_OPERATION: usize = 6;
const F_KEY: usize = 7;
const F_STATUS: usize = 9;
const F_ERROR_CODE: usize = 10;
const F_BYTES_SENT: usize = 11;
const F_USER_AGENT: usize = 16;
const F_AUTH_TYPE: usize = 21;

/// Parses one S3 server access log line.
pub fn parse<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    let line = prepare(line)?;
    if line.is_empty() {
        return Ok(LineOutcome::Foreign);
    }
    let mut f = [Field::EMPTY; KEPT];
    let mut n = 0;
    let mut tokens = Fields::new(line, false);
    while let Some(field) = tokens.next_field() {
        let field = field?;
        if n < KEPT {
            f[n] = field;
        }
        n += 1;
    }
    if n < MIN_FIELDS {
        return Err(Reject::TooFewFields);
    }
    let ts = parse_clf_time(f[F_TIME].raw).ok_or(Reject::BadTimestamp)?;
    let status = match f[F_STATUS].raw {
        b"-" => None,
        raw => Some(parse_status(raw)?),
    };
    let bytes = parse_bytes_field(f[F_BYTES_SENT].raw)?;

    if f[F_OPERATION].raw != b"REST.GET.OBJECT" {
        return Ok(LineOutcome::Ignored("not_get"));
    }
    // A GET of an archived object: the client wanted the blob and got nothing.
    let archived = status == Some(403) && f[F_ERROR_CODE].raw == b"InvalidObjectState";
    if !matches!(status, Some(200 | 206)) && !archived {
        return Ok(LineOutcome::Ignored("status"));
    }
    // A GET whose key cannot be decoded might be a pull under a root prefix that is not UTF-8:
    // quarantined and counted, never silently a non-pull.
    let key = std::str::from_utf8(f[F_KEY].raw).map_err(|_| Reject::BadUtf8)?;
    let Some(digest) = opts.layout.blob_digest(key) else {
        return Ok(LineOutcome::Ignored("not_blob"));
    };
    let auth = if n > F_AUTH_TYPE {
        f[F_AUTH_TYPE].raw
    } else {
        b"-"
    };
    if auth == b"AuthHeader" && !opts.s3_include_auth_header {
        return Ok(LineOutcome::Ignored("internal"));
    }
    let client = match f[F_REMOTE_IP].value() {
        None => None,
        Some(ip) => Some(Cow::Borrowed(
            std::str::from_utf8(ip).map_err(|_| Reject::BadUtf8)?,
        )),
    };
    out.push(Event::Pull(BlobPull {
        ts,
        digest,
        client,
        repo: None,
        ua: opt_text(f[F_USER_AGENT].raw),
        bytes: Some(if archived { 0 } else { bytes }),
    }));
    Ok(LineOutcome::Used)
}

/// The time of a line (its third field), whatever the operation; see
/// [`TimeFn`](crate::ingest::parse::TimeFn).
pub fn time_of(line: &[u8]) -> Option<TimestampUs> {
    let mut tokens = Fields::new(prepare(line).ok()?, false);
    let time = (0..=F_TIME).map(|_| tokens.next_field()).last()??.ok()?;
    parse_clf_time(time.raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::testing;
    use crate::model::{Digest, Layout};
    use proptest::prelude::*;

    const SAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/samples/s3-access-logs/"
    );
    const WRITTEN: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/written/s3-access.log"
    );

    #[derive(Debug, Default, PartialEq, Eq)]
    struct Tally {
        pulls: usize,
        manifests: usize,
        ignored: Vec<&'static str>,
        foreign: usize,
        rejects: Vec<Reject>,
    }

    fn run<'a>(text: &'a [u8], opts: &ParseOptions) -> (Tally, Vec<Event<'a>>) {
        let mut t = Tally::default();
        let mut all = Vec::new();
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let mut out = Vec::new();
            match parse(line, opts, &mut out) {
                Ok(LineOutcome::Used) => assert!(!out.is_empty()),
                Ok(LineOutcome::Ignored(r)) => t.ignored.push(r),
                Ok(LineOutcome::Foreign) => t.foreign += 1,
                Err(r) => t.rejects.push(r),
            }
            for e in &out {
                match e {
                    Event::Pull(_) => t.pulls += 1,
                    Event::Manifest(_) => t.manifests += 1,
                }
            }
            all.extend(out);
        }
        (t, all)
    }

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("reading `{path}`: {e}"))
    }

    fn one(line: &str, opts: &ParseOptions) -> Result<(LineOutcome, Vec<Event<'static>>), Reject> {
        let leaked: &'static [u8] = Box::leak(line.as_bytes().to_vec().into_boxed_slice());
        let mut out = Vec::new();
        parse(leaked, opts, &mut out).map(|o| (o, out))
    }

    #[test]
    fn aws_docs_examples_parse_without_pulls() {
        let text = read(&format!("{SAMPLES}aws-docs-examples.log"));
        let (t, _) = run(&text, &ParseOptions::default());
        assert_eq!(
            t,
            Tally {
                ignored: vec!["not_get"; 7],
                ..Tally::default()
            }
        );
    }

    #[test]
    fn logstash_patterns_core_spec_parses() {
        let text = read(&format!("{SAMPLES}logstash-patterns-core-spec.log"));
        let (t, _) = run(&text, &ParseOptions::default());
        // line 2 is a REST.GET.OBJECT 304 with `-` bytes sent: not a pull
        assert_eq!(
            t,
            Tally {
                ignored: vec!["not_get", "status", "not_get"],
                ..Tally::default()
            }
        );
    }

    #[test]
    fn written_lines_give_exact_events() {
        let text = read(WRITTEN);
        let opts = ParseOptions::default();
        let (t, events) = run(&text, &opts);
        assert_eq!(
            t,
            Tally {
                pulls: 6,
                ignored: vec![
                    "internal", "not_get", "status", "status", "not_get", "not_blob", "not_blob"
                ],
                ..Tally::default()
            }
        );
        let d07 = Digest::parse(
            b"sha256:07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548",
        )
        .unwrap();
        let d3e = Digest::parse(
            b"sha256:3ecd1c3829ce622c9e59853f48ec741441cd5c35ece50996c78eace0513e771d",
        )
        .unwrap();
        let d87 = Digest::parse(
            b"sha256:87a8d9a5d6e2c3d1f0f27b8c4a0a9e6a5f2b3c1d0e9f8a7b6c5d4e3f2a1b0e38",
        )
        .unwrap();
        let pull = |ts: i64, digest: Digest, client: &'static str, ua: &'static str, bytes: i64| {
            Event::Pull(BlobPull {
                ts,
                digest,
                client: Some(Cow::Borrowed(client)),
                repo: None,
                ua: Some(Cow::Borrowed(ua)),
                bytes: Some(bytes),
            })
        };
        let docker = "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0-14-generic os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))";
        let want = vec![
            // 27 fields, presigned GET 200, 27/Nov/2026:17:38:09 +0000
            pull(
                1_795_801_089_000_000,
                d07,
                "198.51.100.23",
                docker,
                2_811_478,
            ),
            // 26 fields, ranged presigned GET 206
            pull(
                1_795_801_090_000_000,
                d3e,
                "198.51.100.23",
                "containerd/1.7.2",
                1_048_576,
            ),
            // 24-field (2019-style) line
            pull(
                1_795_801_150_000_000,
                d87,
                "2001:db8::17",
                "skopeo/1.9.3",
                300_290,
            ),
            // 18-field line without auth type: unknown counts
            pull(
                1_795_801_151_000_000,
                d87,
                "203.0.113.5",
                "cri-o/1.28.1",
                300_290,
            ),
            // 27 fields plus extra trailing fields
            pull(
                1_795_801_152_000_000,
                d07,
                "198.51.100.24",
                "containerd/1.7.2",
                2_811_478,
            ),
            // registry root directory prefix, `-` bytes sent, `-` user agent
            Event::Pull(BlobPull {
                ts: 1_795_801_153_000_000,
                digest: d3e,
                client: Some(Cow::Borrowed("198.51.100.25")),
                repo: None,
                ua: None,
                bytes: Some(0),
            }),
        ];
        assert_eq!(events, want);
    }

    #[test]
    fn auth_header_counts_only_when_asked() {
        let text = read(WRITTEN);
        let opts = ParseOptions {
            s3_include_auth_header: true,
            ..ParseOptions::default()
        };
        let (t, events) = run(&text, &opts);
        assert_eq!(t.pulls, 7);
        assert!(!t.ignored.contains(&"internal"));
        let Event::Pull(p) = &events[1] else { panic!() };
        assert_eq!(
            p.ua.as_deref(),
            Some("aws-sdk-go/1.44.327 (go1.20.10; linux; amd64)")
        );
    }

    #[test]
    fn rooted_layout_ignores_other_roots() {
        let text = read(WRITTEN);
        let opts = ParseOptions {
            layout: Layout {
                root: Some("registry".into()),
            },
            ..ParseOptions::default()
        };
        let (t, _) = run(&text, &opts);
        assert_eq!(t.pulls, 1);
    }

    #[test]
    fn real_line_fields() {
        // logstash-patterns-core line 2 (Apache-2.0), REST.GET.OBJECT 304
        let text = read(&format!("{SAMPLES}logstash-patterns-core-spec.log"));
        let line = text.split(|&b| b == b'\n').nth(1).unwrap();
        let s = std::str::from_utf8(line).unwrap();
        // Make the same line a 200 on a blob key to check the extracted values.
        let hex = "3ecd1c3829ce622c9e59853f48ec741441cd5c35ece50996c78eace0513e771d";
        let edited = s
            .replace(
                "foo/bar.html",
                &format!("docker/registry/v2/blobs/sha256/3e/{hex}/data"),
            )
            .replace("304 - -", "200 - 1718");
        let (o, events) = one(&edited, &ParseOptions::default()).unwrap();
        assert_eq!(o, LineOutcome::Used);
        let Event::Pull(p) = &events[0] else { panic!() };
        // 12/May/2014:07:54:01 +0000
        assert_eq!(p.ts, 1_399_881_241_000_000);
        assert_eq!(p.client.as_deref(), Some("10.0.1.2"));
        assert_eq!(p.ua.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(p.bytes, Some(1718));
    }

    #[test]
    fn edited_lines_from_unlicensed_fixture_shapes() {
        // Shapes of kdgm-logstash-plugins-author-edited.log (not copied: unknown license),
        // rebuilt with our own values. (1) a stray `"` after the Referer must not parse.
        let stray = r#"aaaa media.example.org [24/Mar/2013:10:22:56 +0000] 192.0.2.24 aaaa A5A6B08FB9342F4D REST.GET.OBJECT a/b.mp3 "GET /a/b.mp3?Signature=x&Expires=1 HTTP/1.1" 200 - 18547033 18547033 17344 58 "http://example.org/p.php?id=452"" "Mozilla/5.0 (compatible)" -"#;
        assert_eq!(
            one(stray, &ParseOptions::default()).unwrap_err(),
            Reject::BadQuoting
        );
        // (2) `any other fields` appended after an 18-field line parses.
        let extra = r#"aaaa media.example.org [14/Sep/2014:17:04:09 +0000] 192.0.2.177 aaaa B29B27C9138CCF11 REST.HEAD.OBJECT a/b.mp4 "HEAD /a/b.mp4 HTTP/1.1" 200 - - 431614646 9 - "-" "-" - any other fields"#;
        assert_eq!(
            one(extra, &ParseOptions::default()).unwrap().0,
            LineOutcome::Ignored("not_get")
        );
    }

    #[test]
    fn other_buckets_lines_are_never_pulls() {
        // Written in the shapes of S3 logs of media and console buckets (18 to 27 fields,
        // presigned GETs of non-registry keys, bucket-level operations, a stray `"` after
        // the Referer): under any option, nothing is a pull and only the stray quote rejects.
        let text = testing::fixture("written/s3-access-other-buckets.log");
        use LineOutcome::Ignored;
        let want = vec![
            Ok(Ignored("not_blob")), // GET 200, signed with `Signature=`
            Ok(Ignored("not_blob")), // GET 206
            Ok(Ignored("status")),   // GET 304, `-` bytes sent
            Ok(Ignored("status")),   // GET 403 AccessDenied
            Ok(Ignored("not_get")),  // REST.COPY.OBJECT_GET, `-` request
            Ok(Ignored("not_get")),  // REST.DELETE.OBJECT
            Ok(Ignored("not_get")),  // REST.PUT.ACL
            Ok(Ignored("not_get")),  // SOAP.PUT.OBJECT
            Ok(Ignored("not_get")),  // REST.GET.LIFECYCLE 404
            Ok(Ignored("not_get")),  // REST.GET.ACL 307
            Ok(Ignored("not_get")),  // REST.GET.BUCKET
            Ok(Ignored("not_blob")), // 26 fields, SigV4 presigned GET 206
            Ok(Ignored("not_get")),  // REST.GET.LOCATION, AuthHeader
            Ok(Ignored("not_get")),  // BATCH.DELETE.OBJECT
            Err(Reject::BadQuoting), // stray `"` after the Referer
        ];
        let all_on = ParseOptions {
            s3_include_auth_header: true,
            layout: Layout {
                root: Some("media".into()),
            },
        };
        for opts in [ParseOptions::default(), all_on] {
            let got: Vec<_> = testing::lines(&text)
                .into_iter()
                .map(|l| {
                    let mut out = Vec::new();
                    let r = parse(l, &opts, &mut out);
                    assert!(out.is_empty(), "{opts:?}: {out:?}");
                    r
                })
                .collect();
            assert_eq!(got, want, "{opts:?}");
        }
    }

    #[test]
    fn a_get_of_an_archived_blob_is_a_pull_other_403s_are_not() {
        let o = ParseOptions::default();
        let hex = "ab".repeat(32);
        let line = |status_and_code: &str| {
            format!(
                r#"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - X REST.GET.OBJECT docker/registry/v2/blobs/sha256/ab/{hex}/data "GET /b/docker/registry/v2/blobs/sha256/ab/{hex}/data?X-Amz-Signature=ab HTTP/1.1" {status_and_code} 243 5000 1 - "-" "containerd/1.7.2" - hostid SigV4 ECDHE-RSA-AES128-GCM-SHA256 QueryString b.s3.amazonaws.com TLSv1.3 - -"#
            )
        };
        let (outcome, events) = one(&line("403 InvalidObjectState"), &o).unwrap();
        assert_eq!(outcome, LineOutcome::Used);
        match &events[..] {
            [Event::Pull(p)] => assert_eq!(p.bytes, Some(0)),
            other => panic!("expected one pull, got {other:?}"),
        }
        for code in [
            "403 AccessDenied",
            "403 SignatureDoesNotMatch",
            "404 NoSuchKey",
        ] {
            assert_eq!(
                one(&line(code), &o).unwrap().0,
                LineOutcome::Ignored("status"),
                "{code}"
            );
        }
    }

    #[test]
    fn rejects() {
        let o = ParseOptions::default();
        assert_eq!(
            one(
                "a b [06/Feb/2019:00:00:38 +0000] 1.2.3.4 - X REST.GET.OBJECT k",
                &o
            )
            .unwrap_err(),
            Reject::TooFewFields
        );
        let base = r#"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - X REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 5 5 1 1 "-" "ua" -"#;
        assert_eq!(one(base, &o).unwrap().0, LineOutcome::Ignored("not_blob"));
        assert_eq!(
            one(&base.replace("06/Feb", "32/Feb"), &o).unwrap_err(),
            Reject::BadTimestamp
        );
        assert_eq!(
            one(&base.replace(" 200 ", " 2x0 "), &o).unwrap_err(),
            Reject::BadNumber
        );
        assert_eq!(
            one(&base.replace(" 5 5 ", " 5x 5 "), &o).unwrap_err(),
            Reject::BadNumber
        );
        assert_eq!(
            one(&base.replace("\"ua\"", "\"ua"), &o).unwrap_err(),
            Reject::BadQuoting
        );
        assert_eq!(
            one(&base.replace(" 200 ", " - "), &o).unwrap().0,
            LineOutcome::Ignored("status")
        );
        assert_eq!(
            one(&format!("{base}\r  "), &o).unwrap().0,
            LineOutcome::Ignored("not_blob")
        );
        assert_eq!(one("", &o).unwrap().0, LineOutcome::Foreign);
    }

    #[test]
    fn invalid_utf8_in_request_uri_is_fine() {
        let hex = "07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548";
        let mut line = format!(r#"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - X REST.GET.OBJECT docker/registry/v2/blobs/sha256/07/{hex}/data "GET /"#).into_bytes();
        line.extend_from_slice(&[0xef, 0xbf, 0xbd, 0xc2, 0xff, 0xfe]);
        line.extend_from_slice(
            b" HTTP/1.1\" 200 - 5 5 1 1 \"-\" \"ua\xff\" - h SigV4 c QueryString host TLSv1.2",
        );
        let mut out = Vec::new();
        assert_eq!(
            parse(&line, &ParseOptions::default(), &mut out),
            Ok(LineOutcome::Used)
        );
        let Event::Pull(p) = &out[0] else { panic!() };
        assert_eq!(p.ua.as_deref(), Some("ua\u{fffd}"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A generated presigned blob GET round-trips its digest, time, client and bytes.
        #[test]
        fn generated_pull_round_trips(raw in any::<[u8; 32]>(), secs in 0i64..4_000_000_000, bytes in 0i64..1 << 40, ip in any::<[u8; 4]>()) {
            let digest = Digest(raw);
            let hex = digest.hex();
            let time = chrono::DateTime::from_timestamp(secs, 0).unwrap().format("%d/%b/%Y:%H:%M:%S +0000");
            let client = std::net::Ipv4Addr::from(ip).to_string();
            let line = format!(
                r#"owner bucket [{time}] {client} arn:aws:iam::1:user/r REQ REST.GET.OBJECT docker/registry/v2/blobs/sha256/{two}/{hex}/data "GET /bucket/docker/registry/v2/blobs/sha256/{two}/{hex}/data?X-Amz-Signature=ab HTTP/1.1" 206 - {bytes} 9 1 1 "-" "containerd/1.7.2" - hostid SigV4 ECDHE-RSA-AES128-GCM-SHA256 QueryString bucket.s3.amazonaws.com TLSv1.3 - -"#,
                two = &hex[..2],
            );
            let mut out = Vec::new();
            prop_assert_eq!(parse(line.as_bytes(), &ParseOptions::default(), &mut out), Ok(LineOutcome::Used));
            let Event::Pull(p) = &out[0] else { panic!() };
            prop_assert_eq!(p.digest, digest);
            prop_assert_eq!(p.ts, secs * 1_000_000);
            prop_assert_eq!(p.client.as_deref(), Some(client.as_str()));
            prop_assert_eq!(p.bytes, Some(bytes));
        }
    }
}
