//! CloudFront standard access logs (the tab-separated "W3C" format, `formats.md` §3.6): the CDN
//! in front of the registry's bucket, as distribution's `cloudfront` storage middleware sets it
//! up. The registry redirects a blob GET to `baseurl + S3 key`, so a pull served by the CDN is a
//! line whose `cs-uri-stem` is `/<root>/docker/registry/v2/blobs/sha256/<2>/<hex>/data`: the
//! digest comes from that key, read with the same [`Layout`](crate::model::Layout) as S3 keys.
//! The bucket's own access log sees only the CDN's cache misses, so without these lines the
//! most-pulled blobs look cold.
//!
//! Fields, in their documented order (new ones are only ever appended, and older files have
//! fewer): `date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status
//! cs(Referer) cs(User-Agent) …`. `#Version` and `#Fields` header lines are
//! [`LineOutcome::Foreign`]. A pull is a GET of a blob key answered 200 or 206, whatever the
//! cache did (`Hit`, `Miss`, `RefreshHit`); the client is `c-ip`, the user agent is
//! URL-encoded (sometimes twice: `%2520`) and decoded here.

use std::borrow::Cow;

use crate::ingest::event::{
    BlobGet, BlobPull, Event, LineOutcome, ParseOptions, Reject, TimestampUs,
};
use crate::ingest::parse::common::{opt_utf8, parse_rfc3339, parse_status, prepare};

const F_DATE: usize = 0;
const F_TIME: usize = 1;
const F_BYTES: usize = 3;
const F_CLIENT: usize = 4;
const F_METHOD: usize = 5;
const F_URI_STEM: usize = 7;
const F_STATUS: usize = 8;
const F_USER_AGENT: usize = 10;
/// Fields a line must have: up to and including the user agent.
const MIN_FIELDS: usize = F_USER_AGENT + 1;

/// `date` and `time` (`2026-11-20` and `10:00:01`, UTC) as one timestamp.
fn timestamp(date: &[u8], time: &[u8]) -> Option<TimestampUs> {
    if date.len() != 10 || time.len() != 8 {
        return None;
    }
    let mut s = [0u8; 20];
    s[..10].copy_from_slice(date);
    s[10] = b'T';
    s[11..19].copy_from_slice(time);
    s[19] = b'Z';
    parse_rfc3339(&s)
}

/// A percent-encoded field, decoded (twice when CloudFront encoded the `%` itself); `None`
/// for `-`.
fn decoded(raw: &[u8]) -> Option<Cow<'_, str>> {
    if raw == b"-" || raw.is_empty() {
        return None;
    }
    let once: Cow<'_, [u8]> = percent_encoding::percent_decode(raw).into();
    let text = if raw.windows(3).any(|w| w == b"%25") {
        Cow::Owned(percent_encoding::percent_decode(&once).collect::<Vec<u8>>())
    } else {
        once
    };
    Some(match text {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    })
}

/// Parses one CloudFront log line.
pub fn parse<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    let line = prepare(line)?;
    if line.is_empty() || line.starts_with(b"#") {
        return Ok(LineOutcome::Foreign);
    }
    let mut f: [&[u8]; MIN_FIELDS] = [b""; MIN_FIELDS];
    let mut n = 0;
    for field in line.split(|&b| b == b'\t') {
        if n < MIN_FIELDS {
            f[n] = field;
        }
        n += 1;
    }
    if n < MIN_FIELDS {
        return Err(Reject::TooFewFields);
    }
    let ts = timestamp(f[F_DATE], f[F_TIME]).ok_or(Reject::BadTimestamp)?;
    let status = parse_status(f[F_STATUS])?;
    let bytes = match f[F_BYTES] {
        b"-" => None,
        raw => Some(
            std::str::from_utf8(raw)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|b| *b >= 0)
                .ok_or(Reject::BadNumber)?,
        ),
    };
    if f[F_METHOD] != b"GET" {
        return Ok(LineOutcome::Ignored("not_get"));
    }
    if !matches!(status, 200 | 206) {
        return Ok(LineOutcome::Ignored("status"));
    }
    // The stem is the S3 key with a leading `/`, percent-encoded where the key needs it.
    let stem = f[F_URI_STEM].strip_prefix(b"/").unwrap_or(f[F_URI_STEM]);
    let stem: Cow<'_, [u8]> = percent_encoding::percent_decode(stem).into();
    let key = std::str::from_utf8(&stem).map_err(|_| Reject::BadUtf8)?;
    let Some(digest) = opts.layout.blob_digest(key) else {
        return Ok(LineOutcome::Ignored("not_blob"));
    };
    let pull = BlobPull {
        get: BlobGet {
            ts,
            digest,
            client: opt_utf8(f[F_CLIENT])?,
            ua: decoded(f[F_USER_AGENT]),
        },
        repo: None,
        bytes,
    };
    out.push(pull.into_event(status == 206));
    Ok(LineOutcome::Used)
}

/// The time of a line (its first two fields), whatever the request; see
/// [`TimeFn`](crate::ingest::parse::TimeFn).
pub fn time_of(line: &[u8]) -> Option<TimestampUs> {
    let mut fields = prepare(line).ok()?.split(|&b| b == b'\t');
    timestamp(fields.next()?, fields.next()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::testing::{self, check_fixture, d};
    use proptest::prelude::*;

    const REAL: &str = "samples/cloudfront/logstash-patterns-core-cloudfront.log";

    /// The real line (a PDF behind a CDN, 23 fields of the older layout) parses as a
    /// well-formed GET that is no blob.
    #[test]
    fn real_line_is_a_get_of_no_blob() {
        check_fixture(parse, REAL, &[Ok(LineOutcome::Ignored("not_blob"))]);
        let text = testing::fixture(REAL);
        assert_eq!(
            time_of(text.split(|&b| b == b'\n').next().unwrap()),
            parse_rfc3339(b"2016-06-10T18:41:39Z")
        );
        // The user agent is decoded from its double encoding.
        assert_eq!(
            decoded(b"Mozilla/5.0%2520(Windows%2520NT%25206.1)").as_deref(),
            Some("Mozilla/5.0 (Windows NT 6.1)")
        );
    }

    #[test]
    fn written_lines_give_exact_events() {
        use LineOutcome::{Foreign, Ignored, Used};
        let events = check_fixture(
            parse,
            "written/cloudfront.log",
            &[
                Ok(Foreign),             // #Version
                Ok(Foreign),             // #Fields
                Ok(Used),                // blob GET 200, a cache hit
                Ok(Used),                // blob GET 206, a miss, 33 fields
                Ok(Ignored("not_get")),  // HEAD of a blob
                Ok(Ignored("status")),   // 403: the signed URL expired
                Ok(Ignored("not_blob")), // another object of the distribution
                Ok(Used),                // a blob under a root directory, URL-encoded stem
                Err(Reject::TooFewFields),
                Err(Reject::BadTimestamp),
            ],
        );
        let pull = |ts: &[u8], hex: &str, ip: &str, ua: &str, bytes: i64| {
            Event::Pull(BlobPull {
                get: BlobGet {
                    ts: parse_rfc3339(ts).unwrap(),
                    digest: d(&hex.repeat(32)),
                    client: Some(Cow::Owned(ip.to_owned())),
                    ua: Some(Cow::Owned(ua.to_owned())),
                },
                repo: None,
                bytes: Some(bytes),
            })
        };
        assert_eq!(
            testing::kinds(&events),
            ["pull", "ranged", "pull"],
            "the 206 is a ranged pull"
        );
        assert_eq!(
            testing::plain(events),
            vec![
                pull(
                    b"2026-11-20T10:00:01Z",
                    "aa",
                    "198.51.100.7",
                    "containerd/1.7.13",
                    5242880
                ),
                pull(
                    b"2026-11-20T10:00:02Z",
                    "bb",
                    "2001:db8::7",
                    "docker/27.3.1 go/go1.22.7 (linux)",
                    1048576
                ),
                pull(
                    b"2026-11-20T10:00:06Z",
                    "cc",
                    "198.51.100.8",
                    "cri-o/1.29",
                    2048
                ),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Arbitrary bytes and tab-separated garbage: no panic, and a rejected line emits no
        /// event.
        #[test]
        fn arbitrary_lines_never_panic(fields in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 0..36)) {
            let line = fields.join(&b'\t');
            let mut out = Vec::new();
            if parse(&line, &ParseOptions::default(), &mut out).is_err() {
                prop_assert!(out.is_empty());
            }
            let _ = time_of(&line);
        }
    }
}
