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
//! A 206 is a [`Event::RangedPull`] (the ranged GETs of a download count once). A
//! `REST.GET.OBJECT` of a blob answered 4xx or 5xx, with the same authentication rule as a
//! pull, is a [`Event::FailedPull`] (`failed_pulls`): `403 InvalidObjectState` is a client
//! asking for a blob that sits in GLACIER / DEEP_ARCHIVE and could not be served — demand all
//! the same, which the plan's `restore:failed_pulls` acts on.
//!
//! The parser reads bytes: invalid UTF-8 in the Request-URI (seen in real logs) is never
//! looked at. It does not allocate unless the user agent is not UTF-8.

use crate::ingest::event::{
    BlobGet, BlobPull, Event, FailedPull, LineOutcome, ParseOptions, Reject, TimestampUs,
};
use crate::ingest::parse::common::{
    opt_text, opt_utf8, parse_bytes_field, parse_clf_time, parse_status, prepare, Field, Fields,
};

// The field layout, shared with the fast path ([`super::fast_s3`]).
/// Fields a line must have (up to the User-Agent).
pub(super) const MIN_FIELDS: usize = 17;
/// Fields we keep (through the authentication type, the 1-based 22nd; the rest are counted,
/// then skipped).
pub(super) const KEPT: usize = 22;

pub(super) const F_TIME: usize = 2;
pub(super) const F_REMOTE_IP: usize = 3;
pub(super) const F_OPERATION: usize = 6;
pub(super) const F_KEY: usize = 7;
pub(super) const F_STATUS: usize = 9;
const F_ERROR_CODE: usize = 10;
pub(super) const F_BYTES_SENT: usize = 11;
pub(super) const F_USER_AGENT: usize = 16;
pub(super) const F_AUTH_TYPE: usize = 21;

/// Whether a blob GET with authentication type `auth` (absent on old lines) is a
/// registry-internal read: signed with `AuthHeader`, unless
/// [`ParseOptions::s3_include_auth_header`] counts those too.
pub(super) fn internal(auth: Option<&[u8]>, opts: &ParseOptions) -> bool {
    auth == Some(b"AuthHeader".as_slice()) && !opts.s3_include_auth_header
}

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
    // A GET that failed (an archived object: 403 InvalidObjectState): the client wanted the
    // blob and got nothing.
    let failed = matches!(status, Some(400..=599));
    if !matches!(status, Some(200 | 206)) && !failed {
        return Ok(LineOutcome::Ignored("status"));
    }
    // A GET whose key cannot be decoded might be a pull under a root prefix that is not UTF-8:
    // quarantined and counted, never silently a non-pull.
    let key = std::str::from_utf8(f[F_KEY].raw).map_err(|_| Reject::BadUtf8)?;
    let Some(digest) = opts.layout.blob_digest(key) else {
        return Ok(LineOutcome::Ignored("not_blob"));
    };
    if internal((n > F_AUTH_TYPE).then_some(f[F_AUTH_TYPE].raw), opts) {
        return Ok(LineOutcome::Ignored("internal"));
    }
    let get = BlobGet {
        ts,
        digest,
        client: opt_utf8(f[F_REMOTE_IP].raw)?,
        ua: opt_text(f[F_USER_AGENT].raw),
    };
    if let (true, Some(status)) = (failed, status) {
        out.push(Event::FailedPull(FailedPull {
            get,
            status,
            error_code: opt_utf8(f[F_ERROR_CODE].raw)?,
        }));
        return Ok(LineOutcome::Used);
    }
    let pull = BlobPull {
        get,
        repo: None,
        bytes: Some(bytes),
    };
    out.push(pull.into_event(status == Some(206)));
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
    use crate::ingest::parse::testing::{
        self, assert_edits, check_fixture, check_fixture_with, failed, one, pull, ranged, D07, D3E,
        D87,
    };
    use crate::model::{Digest, Layout};
    use proptest::prelude::*;

    #[test]
    fn aws_docs_examples_parse_without_pulls() {
        let not_get = Ok(LineOutcome::Ignored("not_get"));
        check_fixture(
            parse,
            "samples/s3-access-logs/aws-docs-examples.log",
            &[not_get; 7],
        );
    }

    #[test]
    fn logstash_patterns_core_spec_parses() {
        use LineOutcome::Ignored;
        // line 2 is a REST.GET.OBJECT 304 with `-` bytes sent: not a pull
        let want = [
            Ok(Ignored("not_get")),
            Ok(Ignored("status")),
            Ok(Ignored("not_get")),
        ];
        check_fixture(
            parse,
            "samples/s3-access-logs/logstash-patterns-core-spec.log",
            &want,
        );
    }

    #[test]
    fn written_lines_give_exact_events() {
        use LineOutcome::{Ignored, Used};
        let events = check_fixture(
            parse,
            "written/s3-access.log",
            &[
                Ok(Used),                // 27 fields, presigned GET 200
                Ok(Ignored("internal")), // AuthHeader GET
                Ok(Used),                // 26 fields, ranged presigned GET 206
                Ok(Ignored("not_get")),  // HEAD
                Ok(Used),                // expired URL, 403 AccessDenied: a failed pull
                Ok(Ignored("status")),   // 304
                Ok(Used),                // 24-field (2019-style) line
                Ok(Ignored("not_get")),  // REST.COPY.OBJECT_GET
                Ok(Used),                // 18-field line without auth type: unknown counts
                Ok(Ignored("not_blob")), // AuthHeader read of a layer link
                Ok(Used),                // 27 fields plus extra trailing fields
                Ok(Ignored("not_blob")), // a key outside the registry
                Ok(Used),                // registry root directory prefix
            ],
        );
        let docker = "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0-14-generic os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))";
        let containerd = Some("containerd/1.7.2");
        let ip23 = Some("198.51.100.23");
        let want = vec![
            // 27/Nov/2026:17:38:09 +0000
            pull(
                1_795_801_089_000_000,
                D07,
                ip23,
                None,
                Some(docker),
                Some(2_811_478),
            ),
            ranged(pull(
                1_795_801_090_000_000,
                D3E,
                ip23,
                None,
                containerd,
                Some(1_048_576),
            )),
            failed(
                1_795_802_700_000_000,
                D07,
                Some("198.51.100.99"),
                containerd,
                403,
                Some("AccessDenied"),
            ),
            pull(
                1_795_801_150_000_000,
                D87,
                Some("2001:db8::17"),
                None,
                Some("skopeo/1.9.3"),
                Some(300_290),
            ),
            pull(
                1_795_801_151_000_000,
                D87,
                Some("203.0.113.5"),
                None,
                Some("cri-o/1.28.1"),
                Some(300_290),
            ),
            pull(
                1_795_801_152_000_000,
                D07,
                Some("198.51.100.24"),
                None,
                containerd,
                Some(2_811_478),
            ),
            // `-` bytes sent, `-` user agent
            pull(
                1_795_801_153_000_000,
                D3E,
                Some("198.51.100.25"),
                None,
                None,
                Some(0),
            ),
        ];
        assert_eq!(events, want);
    }

    #[test]
    fn auth_header_counts_only_when_asked() {
        let opts = ParseOptions {
            s3_include_auth_header: true,
            ..ParseOptions::default()
        };
        use LineOutcome::{Ignored, Used};
        let events = check_fixture_with(
            parse,
            "written/s3-access.log",
            &opts,
            &[
                Ok(Used),
                Ok(Used), // AuthHeader GET
                Ok(Used),
                Ok(Ignored("not_get")),
                Ok(Used),
                Ok(Ignored("status")),
                Ok(Used),
                Ok(Ignored("not_get")),
                Ok(Used),
                Ok(Ignored("not_blob")),
                Ok(Used),
                Ok(Ignored("not_blob")),
                Ok(Used),
            ],
        );
        let sdk = Some("aws-sdk-go/1.44.327 (go1.20.10; linux; amd64)");
        let Event::Pull(p) = &events[1] else { panic!() };
        assert_eq!(p.get.ua.as_deref(), sdk);
    }

    #[test]
    fn rooted_layout_ignores_other_roots() {
        let opts = ParseOptions {
            layout: Layout {
                root: Some("registry".into()),
            },
            ..ParseOptions::default()
        };
        use LineOutcome::{Ignored, Used};
        let (not_blob, not_get, status) =
            (Ignored("not_blob"), Ignored("not_get"), Ignored("status"));
        let events = check_fixture_with(
            parse,
            "written/s3-access.log",
            &opts,
            &[
                Ok(not_blob),
                Ok(not_blob), // AuthHeader GET: the key is looked at first
                Ok(not_blob),
                Ok(not_get),
                Ok(not_blob), // a failed GET, of a key outside `registry/`
                Ok(status),
                Ok(not_blob),
                Ok(not_get),
                Ok(not_blob),
                Ok(not_blob),
                Ok(not_blob),
                Ok(not_blob),
                Ok(Used), // under `registry/`
            ],
        );
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn real_line_fields() {
        // logstash-patterns-core line 2 (Apache-2.0), REST.GET.OBJECT 304
        let text = testing::fixture("samples/s3-access-logs/logstash-patterns-core-spec.log");
        let line = testing::lines(&text)[1];
        let s = std::str::from_utf8(line).unwrap();
        // Make the same line a 200 on a blob key to check the extracted values.
        let edited = s
            .replace(
                "foo/bar.html",
                &format!("docker/registry/v2/blobs/sha256/3e/{D3E}/data"),
            )
            .replace("304 - -", "200 - 1718");
        let (o, events) = one(parse, &edited);
        assert_eq!(o, Ok(LineOutcome::Used));
        // 12/May/2014:07:54:01 +0000
        let want = pull(
            1_399_881_241_000_000,
            D3E,
            Some("10.0.1.2"),
            None,
            Some("Mozilla/5.0"),
            Some(1718),
        );
        assert_eq!(events, vec![want]);
    }

    #[test]
    fn edited_lines_from_unlicensed_fixture_shapes() {
        // Shapes of kdgm-logstash-plugins-author-edited.log (not copied: unknown license),
        // rebuilt with our own values. (1) a stray `"` after the Referer must not parse.
        let stray = r#"aaaa media.example.org [24/Mar/2013:10:22:56 +0000] 192.0.2.24 aaaa A5A6B08FB9342F4D REST.GET.OBJECT a/b.mp3 "GET /a/b.mp3?Signature=x&Expires=1 HTTP/1.1" 200 - 18547033 18547033 17344 58 "http://example.org/p.php?id=452"" "Mozilla/5.0 (compatible)" -"#;
        assert_eq!(one(parse, stray).0, Err(Reject::BadQuoting));
        // (2) `any other fields` appended after an 18-field line parses.
        let extra = r#"aaaa media.example.org [14/Sep/2014:17:04:09 +0000] 192.0.2.177 aaaa B29B27C9138CCF11 REST.HEAD.OBJECT a/b.mp4 "HEAD /a/b.mp4 HTTP/1.1" 200 - - 431614646 9 - "-" "-" - any other fields"#;
        assert_eq!(one(parse, extra).0, Ok(LineOutcome::Ignored("not_get")));
    }

    #[test]
    fn other_buckets_lines_are_never_pulls() {
        // Written in the shapes of S3 logs of media and console buckets (18 to 27 fields,
        // presigned GETs of non-registry keys, bucket-level operations, a stray `"` after
        // the Referer): under any option, nothing is a pull and only the stray quote rejects.
        use LineOutcome::Ignored;
        let want = vec![
            Ok(Ignored("not_blob")), // GET 200, signed with `Signature=`
            Ok(Ignored("not_blob")), // GET 206
            Ok(Ignored("status")),   // GET 304, `-` bytes sent
            Ok(Ignored("not_blob")), // GET 403 AccessDenied (a failed GET, but not of a blob)
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
            let events =
                check_fixture_with(parse, "written/s3-access-other-buckets.log", &opts, &want);
            assert!(events.is_empty(), "{opts:?}: {events:?}");
        }
    }

    #[test]
    fn failed_gets_of_blobs_are_failed_pulls() {
        let hex = "ab".repeat(32);
        let line = |status_and_code: &str| {
            format!(
                r#"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - X REST.GET.OBJECT docker/registry/v2/blobs/sha256/ab/{hex}/data "GET /b/docker/registry/v2/blobs/sha256/ab/{hex}/data?X-Amz-Signature=ab HTTP/1.1" {status_and_code} 243 5000 1 - "-" "containerd/1.7.2" - hostid SigV4 ECDHE-RSA-AES128-GCM-SHA256 QueryString b.s3.amazonaws.com TLSv1.3 - -"#
            )
        };
        let archived = line("403 InvalidObjectState");
        let (outcome, events) = one(parse, &archived);
        assert_eq!(outcome, Ok(LineOutcome::Used));
        let ua = Some("containerd/1.7.2");
        // 06/Feb/2019:00:00:38 +0000
        let ts = 1_549_411_238_000_000;
        let client = Some("192.0.2.3");
        let want = failed(ts, &hex, client, ua, 403, Some("InvalidObjectState"));
        assert_eq!(events, vec![want]);
        for (status, code) in [
            (403, "AccessDenied"),
            (403, "SignatureDoesNotMatch"),
            (404, "NoSuchKey"),
            (503, "SlowDown"),
        ] {
            let text = line(&format!("{status} {code}"));
            let (outcome, events) = one(parse, &text);
            assert_eq!(outcome, Ok(LineOutcome::Used), "{code}");
            assert_eq!(
                events,
                vec![failed(ts, &hex, client, ua, status, Some(code))]
            );
        }
        for other in ["304 -", "307 -"] {
            let (outcome, _) = one(parse, &line(other));
            assert_eq!(outcome, Ok(LineOutcome::Ignored("status")), "{other}");
        }
    }

    #[test]
    fn rejects() {
        let short = "a b [06/Feb/2019:00:00:38 +0000] 1.2.3.4 - X REST.GET.OBJECT k";
        assert_eq!(one(parse, short).0, Err(Reject::TooFewFields));
        let base = r#"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - X REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 5 5 1 1 "-" "ua" -"#;
        use LineOutcome::{Foreign, Ignored};
        assert_eq!(one(parse, base).0, Ok(Ignored("not_blob")));
        assert_edits(
            parse,
            base,
            &[
                ("06/Feb", "32/Feb", Err(Reject::BadTimestamp)),
                (" 200 ", " 2x0 ", Err(Reject::BadNumber)),
                (" 5 5 ", " 5x 5 ", Err(Reject::BadNumber)),
                ("\"ua\"", "\"ua", Err(Reject::BadQuoting)),
                (" 200 ", " - ", Ok(Ignored("status"))),
                ("\" -", "\" -\r  ", Ok(Ignored("not_blob"))),
            ],
        );
        assert_eq!(one(parse, "").0, Ok(Foreign));
    }

    #[test]
    fn invalid_utf8_in_request_uri_is_fine() {
        let mut line = format!(r#"o b [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - X REST.GET.OBJECT docker/registry/v2/blobs/sha256/07/{D07}/data "GET /"#).into_bytes();
        line.extend_from_slice(&[0xef, 0xbf, 0xbd, 0xc2, 0xff, 0xfe]);
        line.extend_from_slice(
            b" HTTP/1.1\" 200 - 5 5 1 1 \"-\" \"ua\xff\" - h SigV4 c QueryString host TLSv1.2",
        );
        let (outcome, events) = one(parse, &line);
        assert_eq!(outcome, Ok(LineOutcome::Used));
        let Event::Pull(p) = &events[0] else { panic!() };
        assert_eq!(p.get.ua.as_deref(), Some("ua\u{fffd}"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A generated presigned blob GET round-trips its digest, time, client and bytes.
        #[test]
        fn generated_pull_round_trips(raw in any::<[u8; 32]>(), secs in 0i64..4_000_000_000, bytes in 0i64..1 << 40, ip in any::<[u8; 4]>()) {
            let hex = Digest(raw).hex();
            let time = testing::clf_time(secs);
            let client = std::net::Ipv4Addr::from(ip).to_string();
            let line = format!(
                r#"owner bucket [{time}] {client} arn:aws:iam::1:user/r REQ REST.GET.OBJECT docker/registry/v2/blobs/sha256/{two}/{hex}/data "GET /bucket/docker/registry/v2/blobs/sha256/{two}/{hex}/data?X-Amz-Signature=ab HTTP/1.1" 206 - {bytes} 9 1 1 "-" "containerd/1.7.2" - hostid SigV4 ECDHE-RSA-AES128-GCM-SHA256 QueryString bucket.s3.amazonaws.com TLSv1.3 - -"#,
                two = &hex[..2],
            );
            let want = ranged(pull(secs * 1_000_000, &hex, Some(&client), None, Some("containerd/1.7.2"), Some(bytes)));
            prop_assert_eq!(one(parse, &line), (Ok(LineOutcome::Used), vec![want]));
        }
    }
}
