//! CNCF distribution application log lines with `log.formatter: text`, the default, which
//! Harbor's registry writes too (logrus's text formatter, `formats.md` §3.2): logfmt,
//! `time="…" level=info msg="response completed" http.request.method=GET …`.
//!
//! A value is bare up to the next space, or double-quoted when it needs it; inside quotes a
//! `"` is written `\"`. Older logrus versions put a value in quotes without escaping anything
//! else (a docker user agent keeps its `\(linux\)`), newer ones quote it like Go's `%q`
//! (`\\(linux\\)`): both read the same after [`unescape`], which keeps an unknown escape
//! as it is. The same requests count as in `registry-json` ([`v2_get`]): only
//! `msg="response completed"` lines describe them.
//!
//! Lines that do not start with `time=` are other streams on the same output (the Apache
//! access lines, JSON lines) and are [`LineOutcome::Foreign`]. The formatter's TTY variant
//! (`INFO[0024] response completed …`, elapsed seconds instead of a time, values with spaces
//! left unquoted by some versions) cannot be read reliably: each such line is rejected as
//! `tty_text`, so a whole file of them fails ingest naming the reason.

use std::borrow::Cow;

use crate::ingest::event::{Event, LineOutcome, ParseOptions, Reject, TimestampUs};
use crate::ingest::parse::common::{
    parse_rfc3339, prepare, unescape, v2_get, RequestFields, RequestSlot,
};

/// One `key=value` pair; the value borrows from the line unless it held escapes.
struct Pair<'a> {
    key: &'a [u8],
    value: Cow<'a, [u8]>,
}

/// The pairs of a logfmt line, in order.
struct Pairs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<Pair<'a>, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rest = self.rest.trim_ascii_start();
        if self.rest.is_empty() {
            return None;
        }
        let Some(eq) = self.rest.iter().position(|&b| b == b'=' || b == b' ') else {
            // A key without a value at the end of the line.
            return Some(Err(Reject::BadLogfmt));
        };
        if self.rest[eq] != b'=' || eq == 0 {
            return Some(Err(Reject::BadLogfmt));
        }
        let key = &self.rest[..eq];
        let after = &self.rest[eq + 1..];
        if after.first() != Some(&b'"') {
            let end = memchr::memchr(b' ', after).unwrap_or(after.len());
            self.rest = &after[end..];
            return Some(Ok(Pair {
                key,
                value: Cow::Borrowed(&after[..end]),
            }));
        }
        // A quoted value: up to the first `"` not preceded by an odd number of backslashes.
        let body = &after[1..];
        let mut i = 0;
        let mut escaped = false;
        while i < body.len() {
            match body[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                    continue;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        if i >= body.len() {
            return Some(Err(Reject::BadQuoting));
        }
        let raw = &body[..i];
        let tail = &body[i + 1..];
        if tail.first().is_some_and(|&b| b != b' ') {
            return Some(Err(Reject::BadQuoting));
        }
        self.rest = tail;
        let value = if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        };
        Some(Ok(Pair { key, value }))
    }
}

/// The fields a request needs, the numbers as their text.
type Line<'a> = RequestFields<'a, Cow<'a, [u8]>>;

/// `INFO[0024]`, `WARN[0000]`…: the TTY formatter's level and elapsed seconds.
fn is_tty_line(line: &[u8]) -> bool {
    let level_len = line.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (4..=5).contains(&level_len) && line.get(level_len) == Some(&b'[')
}

fn read_line(line: &[u8]) -> Result<Line<'_>, Reject> {
    let mut l = Line::default();
    for pair in (Pairs { rest: line }) {
        let Pair { key, value } = pair?;
        let (Some(RequestSlot::Text(slot)) | Some(RequestSlot::Number(slot))) = l.slot(key) else {
            continue;
        };
        *slot = Some(value);
    }
    Ok(l)
}

/// Text that says something: `None` when absent, empty or `-`; lossily decoded (a client
/// address or user agent is informative, bad bytes must not cost the line).
fn present(v: Option<Cow<'_, [u8]>>) -> Option<Cow<'_, str>> {
    let v = v.filter(|v| !v.is_empty() && v.as_ref() != b"-")?;
    Some(match v {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    })
}

fn number(v: Option<&Cow<'_, [u8]>>) -> Result<Option<i64>, Reject> {
    v.map(|v| {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(Reject::BadNumber)
    })
    .transpose()
}

/// Parses one text log line.
pub fn parse<'a>(
    line: &'a [u8],
    _opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    let line = prepare(line)?.trim_ascii_start();
    if is_tty_line(line) {
        return Err(Reject::TtyText);
    }
    if !line.starts_with(b"time=") {
        return Ok(LineOutcome::Foreign);
    }
    let l = read_line(line)?;
    if l.msg.as_deref() != Some(b"response completed".as_slice()) {
        return Ok(LineOutcome::Ignored("other_msg"));
    }
    let ts = l
        .time
        .as_deref()
        .and_then(parse_rfc3339)
        .ok_or(Reject::BadTimestamp)?;
    let status = number(l.status.as_ref())?;
    let written = number(l.written.as_ref())?;
    let (Some(method), Some(uri), Some(status)) = (l.method, l.uri, status) else {
        return Err(Reject::TooFewFields);
    };
    if method.as_ref() != b"GET" {
        return Ok(LineOutcome::Ignored("not_get"));
    }
    let (client, ua) = (present(l.remote_addr), present(l.user_agent));
    v2_get(uri, status, ts, client, ua, written, out)
}

/// The `time` of a text line, whatever its message; see
/// [`TimeFn`](crate::ingest::parse::TimeFn).
pub fn time_of(line: &[u8]) -> Option<TimestampUs> {
    let line = prepare(line).ok()?.trim_ascii_start();
    let first = (Pairs { rest: line }).next()?.ok()?;
    (first.key == b"time").then(|| parse_rfc3339(&first.value))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::event::{BlobGet, BlobPull, ManifestRequest};
    use crate::ingest::parse::testing::{self, check_fixture, d, Parsed};
    use proptest::prelude::*;

    fn one(line: &str) -> Parsed<'_> {
        testing::one(parse, line.as_bytes())
    }

    /// Every line of the written fixture: pulls by both quoting styles, a 307, manifests,
    /// HEADs, uploads, errors, the access lines and a JSON line interleaved.
    #[test]
    fn written_lines_give_exact_events() {
        use LineOutcome::{Foreign, Ignored, Used};
        let events = check_fixture(
            parse,
            "written/registry-text.log",
            &[
                Ok(Ignored("other_msg")), // startup message
                Ok(Ignored("not_blob")),  // GET /v2/
                Ok(Used),                 // blob GET 200, %q-quoted user agent
                Ok(Used),                 // blob GET 307 (redirect), old quoting
                Ok(Ignored("not_get")),   // HEAD blob
                Ok(Used),                 // manifest GET by digest
                Ok(Ignored("not_get")),   // PUT upload
                Ok(Ignored("other_msg")), // response completed with error (GET 404)
                Ok(Foreign),              // access line on the same output
                Ok(Foreign),              // a JSON line
                Ok(Used),                 // blob GET 206 with an escaped quote in the UA
            ],
        );
        fn pull(ts: &str, hex: &str, client: &str, ua: &str, bytes: i64) -> Event<'static> {
            Event::Pull(BlobPull {
                get: BlobGet {
                    ts: parse_rfc3339(ts.as_bytes()).unwrap(),
                    digest: d(&hex.repeat(32)),
                    client: Some(client.to_owned().into()),
                    ua: Some(ua.to_owned().into()),
                },
                repo: Some("team/api".into()),
                bytes: Some(bytes),
            })
        }
        let ranged = testing::kinds(&events)
            .iter()
            .filter(|k| **k == "ranged")
            .count();
        assert_eq!(ranged, 1, "the blob GET 206 is a ranged pull");
        assert_eq!(
            testing::plain(events),
            vec![
                pull(
                    "2026-11-20T10:00:01.5Z",
                    "aa",
                    "10.1.2.3:51000",
                    r"docker/27.3.1 go/go1.22.7 UpstreamClient(Docker-Client/27.3.1 \(linux\))",
                    5_242_880
                ),
                pull(
                    "2026-11-20T10:00:02Z",
                    "bb",
                    "10.1.2.4",
                    r"docker/19.03.5 UpstreamClient(Docker-Client/19.03.5 \(darwin\))",
                    0
                ),
                Event::Manifest(ManifestRequest {
                    ts: parse_rfc3339(b"2026-11-20T10:00:04Z").unwrap(),
                    repo: "team/api".into(),
                    reference: format!("sha256:{}", "cc".repeat(32)).into(),
                    client: Some("10.1.2.3:51000".into()),
                    ua: Some("containerd/1.7.13".into()),
                }),
                pull(
                    "2026-11-20T10:00:09Z",
                    "dd",
                    "10.1.2.5:40000",
                    "say \"hi\" agent/1.0",
                    1024
                ),
            ]
        );
    }

    #[test]
    fn broken_lines_are_rejected_by_reason() {
        let ok = r#"time="2026-11-20T10:00:01Z" level=info msg="response completed" http.request.method=GET http.request.uri="/v2/a/blobs/sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" http.response.status=200 http.response.written=3"#;
        assert_eq!(one(ok).0, Ok(LineOutcome::Used));
        for (line, why) in [
            (ok.replace("written=3", "written=3x"), Reject::BadNumber),
            (ok.replace("status=200", "status=OK"), Reject::BadNumber),
            (
                ok.replace("2026-11-20T10", "2026-13-20T10"),
                Reject::BadTimestamp,
            ),
            (
                ok.replace(r#"msg="response completed""#, r#"msg="response completed"#),
                Reject::BadQuoting,
            ),
            (ok.replace(r#""/v2/a/"#, r#""/v2/a/"x"#), Reject::BadQuoting),
            (
                ok.replace(" http.request.method=GET", ""),
                Reject::TooFewFields,
            ),
            (format!("{ok} dangling"), Reject::BadLogfmt),
            (ok.replace("sha256:aa", "sha256:AA"), Reject::BadDigest),
            (
                "INFO[0024] response completed   http.request.useragent=docker/1.8.1 go/go1.4.2"
                    .into(),
                Reject::TtyText,
            ),
        ] {
            assert_eq!(one(&line).0, Err(why), "{line}");
            assert!(one(&line).1.is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Arbitrary bytes after `time=`: no panic, and a rejected line emits no event.
        #[test]
        fn arbitrary_tails_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut line = b"time=".to_vec();
            line.extend_from_slice(&tail);
            let mut out = Vec::new();
            if parse(&line, &ParseOptions::default(), &mut out).is_err() {
                prop_assert!(out.is_empty());
            }
            let _ = time_of(&line);
        }
    }
}
