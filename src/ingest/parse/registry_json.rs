//! CNCF distribution application log lines with `log.formatter: json` (logrus JSON, one
//! object per line, `formats.md` §3.2 and its appendix).
//!
//! Only `"msg":"response completed"` lines describe requests; everything else (startup
//! messages, `response completed with error`, debug lines) is ignored. Lines that do not
//! start with `{` are the Apache access lines the registry interleaves on the same output
//! and are [`LineOutcome::Foreign`].
//!
//! The digest and repository come from `http.request.uri` (the raw request URI, query
//! stripped): `vars.*` only appear on success lines from v3 on. A pull is a GET of a blob
//! answered 200, 206 or 307 (redirect to storage; bytes reported as 0). Strings borrow
//! from the line unless they contain JSON escapes.

use std::borrow::Cow;

use serde::Deserialize;

use crate::ingest::event::{Event, LineOutcome, ParseOptions, Reject, TimestampUs};
use crate::ingest::parse::common::{parse_rfc3339, prepare, present, v2_get, JNum, JStr};

/// The keys we use; unknown keys are skipped.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    msg: Option<JStr<'a>>,
    #[serde(borrow)]
    time: Option<JStr<'a>>,
    #[serde(borrow, rename = "http.request.method")]
    method: Option<JStr<'a>>,
    #[serde(borrow, rename = "http.request.uri")]
    uri: Option<JStr<'a>>,
    #[serde(borrow, rename = "http.request.remoteaddr")]
    remote_addr: Option<JStr<'a>>,
    #[serde(borrow, rename = "http.request.useragent")]
    user_agent: Option<JStr<'a>>,
    #[serde(rename = "http.response.status")]
    status: Option<JNum>,
    #[serde(rename = "http.response.written")]
    written: Option<JNum>,
}

/// Parses one JSON log line.
pub fn parse<'a>(
    line: &'a [u8],
    _opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    let line = prepare(line)?.trim_ascii_start();
    if line.first() != Some(&b'{') {
        return Ok(LineOutcome::Foreign);
    }
    let l: Line<'a> = serde_json::from_slice(line).map_err(|_| Reject::BadJson)?;
    if l.msg.as_ref().map(JStr::as_str) != Some("response completed") {
        return Ok(LineOutcome::Ignored("other_msg"));
    }
    let ts = l
        .time
        .as_ref()
        .and_then(|t| parse_rfc3339(t.as_str().as_bytes()))
        .ok_or(Reject::BadTimestamp)?;
    let (Some(method), Some(uri), Some(JNum(status))) = (l.method, l.uri, l.status) else {
        return Err(Reject::BadJson);
    };
    if method.as_str() != "GET" {
        return Ok(LineOutcome::Ignored("not_get"));
    }
    let uri = match uri.0 {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    };
    let (client, ua) = (present(l.remote_addr), present(l.user_agent));
    v2_get(uri, status, ts, client, ua, l.written.map(|w| w.0), out)
}

/// The `time` of a JSON line, whatever its message; see
/// [`TimeFn`](crate::ingest::parse::TimeFn).
pub fn time_of(line: &[u8]) -> Option<TimestampUs> {
    #[derive(Deserialize)]
    struct Timed<'a> {
        #[serde(borrow)]
        time: Option<JStr<'a>>,
    }
    let t: Timed<'_> = serde_json::from_slice(prepare(line).ok()?.trim_ascii_start()).ok()?;
    parse_rfc3339(t.time?.as_str().as_bytes())
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
            "written/registry-json.log",
            &[
                Ok(Ignored("other_msg")), // startup message
                Ok(Ignored("not_blob")),  // GET /v2/
                Ok(Used),                 // GET manifest by tag
                Ok(Used),                 // GET blob 200
                Ok(Foreign),              // interleaved access line
                Ok(Ignored("not_get")),   // HEAD blob
                Ok(Used),                 // GET blob 307
                Ok(Ignored("other_msg")), // response completed with error (GET 404)
                Ok(Ignored("not_get")),   // PUT upload
                Ok(Used),                 // offset time, IPv6, ?ns=, vars.*
                Ok(Ignored("other_msg")), // response completed with error (HEAD 404)
                Ok(Used),                 // status and written as strings
            ],
        );
        let docker = r"docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0-14-generic os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \(linux\))";
        let (local, skopeo) = (Some("127.0.0.1:45678"), Some("skopeo/1.9.3"));
        let (alpine, containerd) = (Some("library/alpine"), Some("containerd/1.7.2"));
        let want = vec![
            manifest(1_795_801_089_150_117, "team1/app", "v1.4.2", local, skopeo),
            pull(
                1_795_801_089_210_542,
                D87,
                local,
                Some("team1/app"),
                skopeo,
                Some(300_290),
            ),
            pull(
                1_795_801_090_532_871,
                D07,
                Some("10.0.0.5:33602"),
                Some("myproject/busybox"),
                Some(docker),
                Some(0),
            ),
            pull(
                1_795_801_150_999_999,
                D3E,
                Some("[2001:db8::5]:51234"),
                alpine,
                containerd,
                Some(3_402_451),
            ),
            pull(
                1_795_801_161_500_000,
                D3E,
                Some("203.0.113.7"),
                alpine,
                containerd,
                Some(1_048_576),
            ),
        ];
        assert_eq!(testing::plain(events.clone()), want);
        // Unescaped strings borrow from the line.
        let Event::Pull(p) = &events[1] else { panic!() };
        assert!(
            matches!(p.repo, Some(Cow::Borrowed(_))) && matches!(p.get.ua, Some(Cow::Borrowed(_)))
        );
    }

    #[test]
    fn ibm_trace_record_is_not_registry_output() {
        // The IBM trace (Apache-2.0) is a derived format: `timestamp` instead of `time`, a
        // URI without the leading `/` and hashed digests. Rebuild the record as one JSON line
        // with a `msg` and check it is not mistaken for a pull.
        let text = testing::fixture("samples/registry-logs/ibm-registry-trace-record.txt");
        let body: String = String::from_utf8_lossy(&text)
            .lines()
            .skip(1)
            .map(|l| l.trim_start_matches('#').trim())
            .collect::<Vec<_>>()
            .join(" ");
        let json = format!(
            "{{{}, \"msg\": \"response completed\"}}",
            body.trim_end_matches(',')
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["http.response.status"], 200);
        assert_eq!(one(parse, &json).0, Err(Reject::BadTimestamp));
        assert_edits(
            parse,
            &json,
            &[(
                "\"timestamp\"",
                "\"time\"",
                Ok(LineOutcome::Ignored("not_blob")),
            )],
        );
    }

    #[test]
    fn startup_lines_are_other_messages() {
        // Written in the shape of a registry's startup output: level, instance id, version,
        // nanosecond times, but no request.
        let other = Ok(LineOutcome::Ignored("other_msg"));
        check_fixture(parse, "written/registry-json-startup.log", &[other; 3]);
    }

    #[test]
    fn rejects_and_foreign() {
        let good = format!(
            r#"{{"http.request.method":"GET","http.request.uri":"/v2/a/blobs/sha256:{D07}","http.response.status":200,"msg":"response completed","time":"2026-11-27T17:38:09Z"}}"#
        );
        let (r, e) = one(parse, &good);
        assert_eq!(r, Ok(LineOutcome::Used));
        assert_eq!(
            e,
            vec![pull(
                1_795_801_089_000_000,
                D07,
                None,
                Some("a"),
                None,
                None
            )]
        );
        use LineOutcome::{Foreign, Ignored, Used};
        assert_edits(
            parse,
            &good,
            &[
                ("sha256:0", "sha256:Z", Err(Reject::BadDigest)),
                (
                    ",\"time\":\"2026-11-27T17:38:09Z\"",
                    "",
                    Err(Reject::BadTimestamp),
                ),
                ("17:38:09Z", "17:38:09", Err(Reject::BadTimestamp)),
                ("\"http.response.status\":200,", "", Err(Reject::BadJson)),
                ("\"http.request.method\":\"GET\",", "", Err(Reject::BadJson)),
                (":200", ":\"two hundred\"", Err(Reject::BadJson)),
                ("\"}", "\"", Err(Reject::BadJson)),
                ("\"}", "\"} x", Err(Reject::BadJson)),
                ("{", "  {", Ok(Used)),
                ("\"}", "\"} \r", Ok(Used)),
                (
                    "completed\"",
                    "completed with error\"",
                    Ok(Ignored("other_msg")),
                ),
                (
                    ",\"msg\":\"response completed\"",
                    "",
                    Ok(Ignored("other_msg")),
                ),
            ],
        );
        assert_eq!(one(parse, "").0, Ok(Foreign));
        let logfmt = "time=\"2026-11-27T17:38:09Z\" level=info msg=\"response completed\"";
        assert_eq!(one(parse, logfmt).0, Ok(Foreign));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Lines serialised by serde_json (so with any escaping it chooses) round-trip.
        #[test]
        fn generated_pull_round_trips(
            raw in any::<[u8; 32]>(),
            repo in "[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,3}",
            ua in "\\PC{1,30}",
            written in 0i64..1 << 40,
            secs in 0i64..4_000_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            let digest = Digest(raw);
            let time = chrono::DateTime::from_timestamp(secs, nanos).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let v = serde_json::json!({
                "http.request.method": "GET",
                "http.request.remoteaddr": "192.0.2.1:5555",
                "http.request.uri": format!("/v2/{repo}/blobs/{digest}"),
                "http.request.useragent": ua,
                "http.response.status": 200,
                "http.response.written": written,
                "level": "info",
                "msg": "response completed",
                "time": time,
            });
            let line = v.to_string();
            let want_ua = (ua != "-").then_some(ua.as_str());
            let ts = secs * 1_000_000 + i64::from(nanos / 1000);
            let want = pull(ts, &digest.hex(), Some("192.0.2.1:5555"), Some(&repo), want_ua, Some(written));
            prop_assert_eq!(one(parse, &line), (Ok(LineOutcome::Used), vec![want]));
        }
    }
}
