//! Registry access lines in Apache combined (or common) log format, as written by the
//! registry's gorilla handler on stdout or by an nginx in front of it (`formats.md` §3.2):
//!
//! `host ident user [time] "METHOD URI PROTO" status size "referer" "ua" [extra…]`
//!
//! Referer and user agent may be missing (common log format); extra trailing fields
//! (nginx custom formats) are ignored. Quoted fields honour backslash escapes (`\"`,
//! `\\`, nginx's `\x22`) and are unescaped, with a copy, only when they contain one.
//! Lines starting with `{` belong to the JSON stream interleaved in the same output and
//! are [`LineOutcome::Foreign`].
//!
//! A pull is `GET /v2/<name>/blobs/<digest>` answered 200, 206 or 307 (a redirect to
//! storage, bytes reported as 0); `GET /v2/<name>/manifests/<ref>` answered 200 is a
//! manifest request.

use std::borrow::Cow;

use memchr::{memchr, memrchr};

use crate::ingest::event::{Event, LineOutcome, ParseOptions, Reject, TimestampUs};
use crate::ingest::parse::common::{
    field_bytes, lossy_cow, parse_bytes_field, parse_clf_time, parse_status, prepare, v2_get,
    Field, Fields,
};

/// Parses one access line.
pub fn parse<'a>(
    line: &'a [u8],
    _opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    let line = prepare(line)?;
    let start = line.trim_ascii_start();
    if start.is_empty() || start[0] == b'{' {
        return Ok(LineOutcome::Foreign);
    }
    let mut fields = Fields::new(start, true);
    let mut required = [Field::EMPTY; 7];
    for slot in &mut required {
        *slot = fields
            .next_field()
            .transpose()?
            .ok_or(Reject::TooFewFields)?;
    }
    let [host, _ident, _user, time, request, status, size] = required;
    let _referer = fields.next_field().transpose()?;
    let ua = fields.next_field().transpose()?;
    // Check the quoting of any extra fields too.
    while fields.next_field().transpose()?.is_some() {}

    let ts = parse_clf_time(time.raw).ok_or(Reject::BadTimestamp)?;
    let status = parse_status(status.raw)?;
    let bytes = parse_bytes_field(size.raw)?;

    let request = field_bytes(&request);
    let Some((method, uri)) = split_request(&request) else {
        // nginx logs `"-"` or raw garbage (TLS handshakes, scanners) as the request line of
        // requests it refused: only a line that would otherwise count is malformed.
        if matches!(status, 200 | 206 | 307) {
            return Err(Reject::BadRequestLine);
        }
        return Ok(LineOutcome::Ignored("status"));
    };
    if method != b"GET" {
        return Ok(LineOutcome::Ignored("not_get"));
    }
    let uri = match request {
        Cow::Borrowed(r) => Cow::Borrowed(&r[uri.0..uri.1]),
        Cow::Owned(ref r) => Cow::Owned(r[uri.0..uri.1].to_vec()),
    };
    let client = match host.raw {
        b"-" | b"" => None,
        raw => Some(Cow::Borrowed(
            std::str::from_utf8(raw).map_err(|_| Reject::BadUtf8)?,
        )),
    };
    let ua = ua.and_then(|f| match f.raw {
        b"" | b"-" => None,
        _ => Some(lossy_cow(field_bytes(&f))),
    });
    v2_get(uri, i64::from(status), ts, client, ua, Some(bytes), out)
}

/// `METHOD URI PROTO` → the method and the byte range of the URI. The URI is what lies
/// between the first and the last space, so a URI with a raw space still parses.
fn split_request(r: &[u8]) -> Option<(&[u8], (usize, usize))> {
    let first = memchr(b' ', r)?;
    let last = memrchr(b' ', r)?;
    if last <= first + 1 || last + 1 >= r.len() || first == 0 {
        return None;
    }
    Some((&r[..first], (first + 1, last)))
}

/// The time of an access line (its fourth field), whatever the request; see
/// [`TimeFn`](crate::ingest::parse::TimeFn).
pub fn time_of(line: &[u8]) -> Option<TimestampUs> {
    let mut fields = Fields::new(prepare(line).ok()?.trim_ascii_start(), true);
    let time = (0..4).map(|_| fields.next_field()).last()??.ok()?;
    parse_clf_time(time.raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::testing::{
        self, assert_edits, check_fixture, manifest, one, pull, D07, D3E, D87,
    };
    use crate::model::Digest;
    use proptest::prelude::*;

    #[test]
    fn written_lines_give_exact_events() {
        use LineOutcome::*;
        let events = check_fixture(
            parse,
            "written/registry-combined.log",
            &[
                Ok(Ignored("not_get")),  // HEAD blob 200
                Ok(Ignored("not_blob")), // GET /v2/ 401
                Ok(Ignored("not_blob")), // GET /v2/ 200
                Ok(Used),                // GET manifest by tag 200
                Ok(Used),                // GET blob 200
                Ok(Used),                // GET blob 307
                Ok(Used),                // GET manifest by digest 200
                Ok(Ignored("status")),   // GET blob 404
                Ok(Ignored("not_get")),  // PUT upload 201
                Ok(Ignored("upload")),   // GET upload status 204
                Ok(Used),                // nginx, HTTP/2.0, \x22 in UA, +0100, extra fields
                Ok(Used),                // IPv6 client, 206
                Ok(Used),                // common log format, no referer/UA
                Ok(Used),                // gorilla `\"` in UA
                Ok(Foreign),             // JSON line of the other stream
                Ok(Ignored("status")),   // nginx 400 with a garbage request line
            ],
        );
        let docker = Some(
            r"docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0-14-generic os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \(linux\))",
        );
        let (app, busybox, alpine) = (
            Some("team1/app"),
            Some("myproject/busybox"),
            Some("library/alpine"),
        );
        let (docker_host, skopeo) = (Some("172.17.0.1"), Some("skopeo/1.9.3"));
        let by_digest = "sha256:74f634b1bc1bd74535d5209589734efbd44a25f4e2dc96d78784576a3eb5b335";
        let want = vec![
            manifest(
                1_795_801_089_000_000,
                "team1/app",
                "v1.4.2",
                docker_host,
                skopeo,
            ),
            pull(
                1_795_801_089_000_000,
                D87,
                docker_host,
                app,
                skopeo,
                Some(300_290),
            ),
            pull(
                1_795_801_090_000_000,
                D07,
                Some("10.0.0.5"),
                busybox,
                docker,
                Some(0),
            ),
            manifest(
                1_795_801_091_000_000,
                "myproject/busybox",
                by_digest,
                Some("10.0.0.5"),
                docker,
            ),
            // 27/Nov/2026:18:39:10 +0100
            pull(
                1_795_801_150_000_000,
                D3E,
                Some("192.0.2.10"),
                alpine,
                Some("containerd/1.7.2 \"patched\""),
                Some(3_402_451),
            ),
            pull(
                1_795_801_151_000_000,
                D3E,
                Some("2001:db8::17"),
                alpine,
                Some("containerd/1.7.2"),
                Some(1_048_576),
            ),
            pull(
                1_795_801_152_000_000,
                D87,
                Some("198.51.100.7"),
                app,
                None,
                Some(300_290),
            ),
            pull(
                1_795_801_153_000_000,
                D87,
                Some("198.51.100.8"),
                app,
                Some("my \"quoted\" client/1.0"),
                Some(300_290),
            ),
        ];
        assert_eq!(testing::plain(events.clone()), want);
        assert_eq!(testing::kinds(&events)[5], "ranged", "the 206");
        // Unescaped fields are the only copies.
        let Event::Pull(p) = &events[1] else { panic!() };
        assert!(
            matches!(p.get.client, Some(Cow::Borrowed(_)))
                && matches!(p.repo, Some(Cow::Borrowed(_)))
        );
    }

    #[test]
    fn shapes_of_real_gorilla_lines() {
        // Shape of distribution-access-combined.log line 2 (user content, not copied):
        // HEAD of a blob, empty referer, doubled backslashes in the UA.
        let (r, _) = one(
            parse,
            r#"10.34.129.188 - - [04/Jul/2018:08:52:06 +0000] "HEAD /v2/myproject/busybox/blobs/sha256:07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548 HTTP/1.1" 200 0 "" "docker/1.13.1 UpstreamClient(Docker-Client/1.13.1 \\(linux\\))""#,
        );
        assert_eq!(r, Ok(LineOutcome::Ignored("not_get")));
        let (r, e) = one(
            parse,
            r#"10.34.129.188 - - [04/Jul/2018:08:52:06 +0000] "GET /v2/myproject/busybox/blobs/sha256:07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548 HTTP/1.1" 200 527 "" "docker/1.13.1 UpstreamClient(Docker-Client/1.13.1 \\(linux\\))""#,
        );
        assert_eq!(r, Ok(LineOutcome::Used));
        let Event::Pull(p) = &e[0] else { panic!() };
        assert_eq!(p.get.ts, 1_530_694_326_000_000);
        assert_eq!(
            p.get.ua.as_deref(),
            Some(r"docker/1.13.1 UpstreamClient(Docker-Client/1.13.1 \(linux\))")
        );
        assert_eq!(p.get.client.as_deref(), Some("10.34.129.188"));
    }

    #[test]
    fn docker_clients_lines() {
        // Written in the shape of gorilla lines from docker clients of several versions:
        // empty referers, doubled backslashes in the user agents, HEADs before GETs.
        use LineOutcome::{Ignored, Used};
        let events = check_fixture(
            parse,
            "written/registry-combined-docker-clients.log",
            &[
                Ok(Ignored("not_blob")), // GET /v2/ 200
                Ok(Ignored("not_get")),  // HEAD blob
                Ok(Ignored("not_blob")), // GET /v2/ 401
                Ok(Ignored("not_get")),  // HEAD blob, windows client
                Ok(Ignored("not_get")),  // HEAD blob, darwin client
                Ok(Used),                // GET blob 200
            ],
        );
        let ua = r"docker/1.13.1 go/go1.10.2 git-commit/1ab62f1-unsupported kernel/4.16.13-300.fc28.x86_64 os/linux arch/amd64 UpstreamClient(Docker-Client/1.13.1 \(linux\))";
        let hex = "8e2b5a0d4c1f3e6a9b7d0c2e4f6a8b0d1c3e5f7a9b1d3c5e7f9a0b2c4d6e8f0a";
        // 05/Jul/2018:09:16:02 +0000
        let at = 1_530_782_162_000_000;
        let want = pull(
            at,
            hex,
            Some("10.34.129.18"),
            Some("team/busybox"),
            Some(ua),
            Some(760),
        );
        assert_eq!(events, vec![want]);
    }

    #[test]
    fn rejects() {
        let good = format!(
            r#"1.2.3.4 - - [27/Nov/2026:17:38:09 +0000] "GET /v2/a/blobs/sha256:{D07} HTTP/1.1" 200 5 "" "ua""#
        );
        assert_eq!(one(parse, &good).0, Ok(LineOutcome::Used));
        assert_edits(
            parse,
            &good,
            &[
                ("sha256:0", "sha256:X", Err(Reject::BadDigest)),
                ("27/Nov", "27/Nob", Err(Reject::BadTimestamp)),
                (" 200 5", " 2000 5", Err(Reject::BadNumber)),
                (" 200 5", " 200 x", Err(Reject::BadNumber)),
                (" HTTP/1.1", "", Err(Reject::BadRequestLine)),
                ("\"ua\"", "\"ua", Err(Reject::BadQuoting)),
                ("\"ua\"", "\"ua\\\"", Err(Reject::BadQuoting)),
                ("\"ua\"", "\"ua\" \r", Ok(LineOutcome::Used)),
            ],
        );
        // A malformed digest only matters on a line that would count.
        let not_found = good.replace(" 200 5", " 404 5");
        let edit = [("sha256:0", "sha256:X", Ok(LineOutcome::Ignored("status")))];
        assert_edits(parse, &not_found, &edit);
        let short = r#"1.2.3.4 - - [27/Nov/2026:17:38:09 +0000] "GET / HTTP/1.1" 200"#;
        assert_eq!(one(parse, short).0, Err(Reject::TooFewFields));
        assert_eq!(one(parse, "   ").0, Ok(LineOutcome::Foreign));
        let mut bad_utf8 = good.clone().into_bytes();
        let at = good.rfind("ua").unwrap() + 1;
        bad_utf8.splice(at..at, [0xff]);
        assert_eq!(one(parse, &bad_utf8).0, Ok(LineOutcome::Used));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Generated pull lines round-trip repository, digest, time and user agent,
        /// including gorilla's escaping of `"` and `\` in the user agent.
        #[test]
        fn generated_pull_round_trips(
            raw in any::<[u8; 32]>(),
            repo in "[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,3}",
            ua in "[ -~]{0,40}",
            secs in 0i64..4_000_000_000,
            status in prop::sample::select(vec![200u16, 206, 307]),
        ) {
            let digest = Digest(raw);
            let time = testing::clf_time(secs);
            let escaped = ua.replace('\\', "\\\\").replace('"', "\\\"");
            let line = format!(r#"192.0.2.1 - - [{time}] "GET /v2/{repo}/blobs/{digest}?ns=docker.io HTTP/1.1" {status} 77 "" "{escaped}""#);
            let want_ua = (!ua.is_empty() && ua != "-").then_some(ua.as_str());
            let bytes = if status == 307 { 0 } else { 77 };
            let want = pull(secs * 1_000_000, &digest.hex(), Some("192.0.2.1"), Some(&repo), want_ua, Some(bytes));
            let want = if status == 206 { testing::ranged(want) } else { want };
            prop_assert_eq!(one(parse, &line), (Ok(LineOutcome::Used), vec![want]));
        }
    }
}
