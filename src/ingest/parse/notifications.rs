//! Registry notification envelopes (`formats.md` §3.5) `{"events":[…]}`, as a receiving
//! endpoint stores them: back to back, each either compact on one line or pretty-printed over
//! several lines (the registry itself sends them pretty-printed with three-space indentation).
//! [`envelopes`] splits a block of such a file into envelopes, each with the number of the line
//! it starts on (so a reject names the line where its envelope begins); [`block_cut`] says where
//! a block may end. A line that starts with `{` in its first column always starts a new envelope,
//! so one truncated envelope cannot swallow the ones after it.
//!
//! Each `pull` event whose `request.method` is `GET` is used: a manifest media type gives a
//! manifest request (reference = `target.tag`, else `target.digest`), anything else (blobs
//! usually carry `application/octet-stream`) a blob pull. The registry also fires `pull`
//! for HEAD requests and for redirects, so HEAD events are skipped and a GET event cannot
//! tell whether bytes were transferred. A used event with a bad digest rejects the whole
//! line, and no events of that line are emitted.

use serde::Deserialize;

use crate::ingest::event::{
    BlobGet, BlobPull, Event, LineOutcome, ManifestRequest, ParseOptions, Reject, TimestampUs,
};
use crate::ingest::parse::common::{
    is_manifest_media_type, parse_rfc3339, prepare, present, JNum, JStr,
};
use crate::model::Digest;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    events: Vec<NEvent<'a>>,
}

#[derive(Deserialize)]
struct NEvent<'a> {
    #[serde(borrow)]
    id: Option<JStr<'a>>,
    #[serde(borrow)]
    action: Option<JStr<'a>>,
    #[serde(borrow)]
    timestamp: Option<JStr<'a>>,
    #[serde(borrow, default)]
    target: Option<NTarget<'a>>,
    #[serde(borrow, default)]
    request: Option<NRequest<'a>>,
}

#[derive(Deserialize)]
struct NTarget<'a> {
    #[serde(borrow, rename = "mediaType")]
    media_type: Option<JStr<'a>>,
    #[serde(borrow)]
    digest: Option<JStr<'a>>,
    size: Option<JNum>,
    length: Option<JNum>,
    #[serde(borrow)]
    repository: Option<JStr<'a>>,
    #[serde(borrow)]
    url: Option<JStr<'a>>,
    #[serde(borrow)]
    tag: Option<JStr<'a>>,
}

#[derive(Deserialize)]
struct NRequest<'a> {
    #[serde(borrow)]
    addr: Option<JStr<'a>>,
    #[serde(borrow)]
    method: Option<JStr<'a>>,
    #[serde(borrow)]
    useragent: Option<JStr<'a>>,
}

/// Parses one envelope line.
pub fn parse<'a>(
    line: &'a [u8],
    _opts: &ParseOptions,
    out: &mut Vec<Event<'a>>,
) -> Result<LineOutcome, Reject> {
    let line = prepare(line)?.trim_ascii_start();
    if line.is_empty() {
        return Ok(LineOutcome::Foreign);
    }
    let env: Envelope<'a> = serde_json::from_slice(line).map_err(|_| Reject::BadJson)?;
    let before = out.len();
    match push_events(env, out) {
        Ok(()) if out.len() > before => Ok(LineOutcome::Used),
        Ok(()) => Ok(LineOutcome::Ignored("no_pull_events")),
        Err(r) => {
            out.truncate(before);
            Err(r)
        }
    }
}

fn push_events<'a>(env: Envelope<'a>, out: &mut Vec<Event<'a>>) -> Result<(), Reject> {
    for ev in env.events {
        if ev.action.as_ref().map(JStr::as_str) != Some("pull") {
            continue;
        }
        let Some(request) = ev.request else {
            continue;
        };
        if request.method.as_ref().map(JStr::as_str) != Some("GET") {
            continue;
        }
        let target = ev.target.ok_or(Reject::BadJson)?;
        let ts = ev
            .timestamp
            .as_ref()
            .and_then(|t| parse_rfc3339(t.as_str().as_bytes()))
            .ok_or(Reject::BadTimestamp)?;
        let client = present(request.addr);
        let ua = present(request.useragent);
        let is_manifest = match present(target.media_type) {
            Some(mt) => is_manifest_media_type(&mt),
            // Events without a media type: the canonical URL says what the target is.
            None => target
                .url
                .as_ref()
                .is_some_and(|u| u.as_str().contains("/manifests/")),
        };
        if is_manifest {
            let repo = present(target.repository).ok_or(Reject::BadJson)?;
            let reference = match present(target.tag) {
                Some(tag) => tag,
                None => {
                    let digest = present(target.digest).ok_or(Reject::BadJson)?;
                    if digest.starts_with("sha256:") && Digest::parse(digest.as_bytes()).is_none() {
                        return Err(Reject::BadDigest);
                    }
                    digest
                }
            };
            out.push(Event::Manifest(ManifestRequest {
                ts,
                repo,
                reference,
                client,
                ua,
            }));
        } else {
            let digest = target
                .digest
                .as_ref()
                .and_then(|d| Digest::parse(d.as_str().as_bytes()))
                .ok_or(Reject::BadDigest)?;
            let pull = BlobPull {
                get: BlobGet {
                    ts,
                    digest,
                    client,
                    ua,
                },
                repo: present(target.repository),
                bytes: target.size.or(target.length).map(|n| n.0),
            };
            // A retried delivery repeats the event with its `id`: counted once.
            out.push(match present(ev.id) {
                Some(id) => Event::NotifiedPull(pull, id),
                None => Event::Pull(pull),
            });
        }
    }
    Ok(())
}

/// Where a block of a notifications input may end: just after the last newline that is
/// followed by `{` in the first column (the start of an envelope), or `None` if there is none.
pub fn block_cut(buf: &[u8]) -> Option<usize> {
    memchr::memmem::rfind(buf, b"\n{").map(|i| i + 1)
}

/// Splits `block` (whole envelopes, as cut by [`block_cut`]) into envelopes; see [`Envelopes`].
pub fn envelopes(block: &[u8]) -> Envelopes<'_> {
    Envelopes {
        buf: block,
        pos: 0,
        line: 0,
    }
}

/// Iterator over the envelopes of a block: `(line, bytes)` where `line` is the 0-based number,
/// within the block, of the line the envelope starts on.
///
/// An envelope is a top-level JSON object or array, found by counting brackets outside strings.
/// Whitespace between envelopes is skipped. Text at the top level that is not JSON is returned
/// up to the end of its line (the parser rejects it). An envelope still open when a line starts
/// with `{`, or at the end of the block, is returned up to the end of its last line, without
/// the newline (the parser rejects it).
#[derive(Debug, Clone)]
pub struct Envelopes<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Iterator for Envelopes<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf;
        while self.pos < buf.len() && buf[self.pos].is_ascii_whitespace() {
            if buf[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        if self.pos >= buf.len() {
            return None;
        }
        let (start, start_line) = (self.pos, self.line);
        if !matches!(buf[start], b'{' | b'[') {
            let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i);
            self.pos = end;
            return Some((start_line, &buf[start..end]));
        }
        let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
        while self.pos < buf.len() {
            let c = buf[self.pos];
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' || c == b'\n' {
                    // A raw newline cannot be inside a JSON string: the envelope is broken.
                    in_string = false;
                }
            } else {
                match c {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            self.pos += 1;
                            return Some((start_line, &buf[start..self.pos]));
                        }
                    }
                    _ => {}
                }
            }
            if c == b'\n' {
                self.line += 1;
                if buf.get(self.pos + 1) == Some(&b'{') {
                    // A new envelope starts in the first column: this one was truncated.
                    let end = self.pos;
                    self.pos += 1;
                    return Some((start_line, &buf[start..end]));
                }
            }
            self.pos += 1;
        }
        // Still open at the end of the block: it ends before the block's last newline, as it
        // would where a `{` in the first column cuts it, so its bytes do not depend on where
        // the driver cut the block.
        let end = buf.len() - usize::from(buf.ends_with(b"\n"));
        Some((start_line, &buf[start..end]))
    }
}

/// The time of an envelope (its first event's `timestamp`), whatever the events are; see
/// [`TimeFn`](crate::ingest::parse::TimeFn).
pub fn time_of(line: &[u8]) -> Option<TimestampUs> {
    #[derive(Deserialize)]
    struct Timed<'a> {
        #[serde(borrow)]
        timestamp: Option<JStr<'a>>,
    }
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        events: Vec<Timed<'a>>,
    }
    let env: Envelope<'_> = serde_json::from_slice(prepare(line).ok()?.trim_ascii_start()).ok()?;
    env.events
        .iter()
        .find_map(|e| parse_rfc3339(e.timestamp.as_ref()?.as_str().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::testing::{
        self, assert_edits, check_fixture, manifest, one, pull, D3E, D87,
    };
    use proptest::prelude::*;

    /// A real sample as one compact line: HTTP headers (up to the first blank line of a
    /// `.http` capture) dropped, the pretty-printed body re-serialised by serde_json.
    fn sample_line(name: &str) -> String {
        let text = testing::fixture(&format!("samples/registry-notifications/{name}"));
        let text = String::from_utf8(text).unwrap();
        let body = if name.ends_with(".http") {
            let text = text.replace("\r\n", "\n");
            text.split_once("\n\n").unwrap().1.to_owned()
        } else {
            text
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let line = v.to_string();
        assert!(!line.contains('\n'));
        line
    }

    #[test]
    fn distribution_docs_pull_manifest() {
        let line = sample_line("distribution-docs-pull-manifest-2016.json");
        let (r, e) = one(parse, &line);
        assert_eq!(r, Ok(LineOutcome::Used));
        // 2016-03-09T14:44:26.402973972-08:00
        let at = 1_457_563_466_402_973;
        let (client, ua) = (Some("192.168.64.11:42961"), Some("curl/7.38.0"));
        assert_eq!(e, vec![manifest(at, "hello-world", "latest", client, ua)]);
    }

    #[test]
    fn imagespy_captures() {
        let line = sample_line("imagespy-b-pull-manifest.http");
        let (r, e) = one(parse, &line);
        assert_eq!(r, Ok(LineOutcome::Used));
        assert_eq!(e.len(), 1);
        let Event::Manifest(m) = &e[0] else {
            panic!("{e:?}")
        };
        assert_eq!(m.ts, 1_559_816_764_582_510);
        assert_eq!((&*m.repo, &*m.reference), ("golang", "1.12.4"));
        assert_eq!(m.client.as_deref(), Some("172.18.0.1:35646"));
        // JSON `\\(` decodes to `\(`, so the user agent is a copy.
        assert_eq!(
            m.ua.as_deref(),
            Some(
                r"docker/18.09.2 go/go1.10.6 git-commit/6247962 kernel/4.9.125-linuxkit os/linux arch/amd64 UpstreamClient(Docker-Client/18.09.2 \(darwin\))"
            )
        );
        for push in ["imagespy-a-push-manifest.http", "imagespy-c-push-blob.http"] {
            let line = sample_line(push);
            let (r, e) = one(parse, &line);
            assert_eq!(r, Ok(LineOutcome::Ignored("no_pull_events")), "{push}");
            assert!(e.is_empty());
        }
    }

    #[test]
    fn written_envelopes_give_exact_events() {
        use LineOutcome::*;
        let events = check_fixture(
            parse,
            "written/notifications.jsonl",
            &[
                Ok(Used),                      // blob pull (GET)
                Ok(Ignored("no_pull_events")), // blob pull by HEAD
                Ok(Used),                      // manifest pull by digest + 2 blob pulls + a push
                Err(Reject::BadDigest),        // a blob pull with an upper-case digest
                Ok(Used),                      // OCI index by tag, no mediaType on a blob
                Ok(Ignored("no_pull_events")), // delete event
            ],
        );
        let by_digest = "sha256:74f634b1bc1bd74535d5209589734efbd44a25f4e2dc96d78784576a3eb5b335";
        let (client, ua) = (Some("198.51.100.23:40112"), Some("containerd/1.7.2"));
        let (alpine, app) = (Some("library/alpine"), Some("team1/app"));
        let want = vec![
            pull(
                1_795_801_089_210_542,
                D87,
                Some("172.17.0.1:45678"),
                app,
                Some("skopeo/1.9.3"),
                Some(300_290),
            ),
            manifest(
                1_795_801_150_000_000,
                "library/alpine",
                by_digest,
                client,
                ua,
            ),
            pull(
                1_795_801_150_500_000,
                D3E,
                client,
                alpine,
                ua,
                Some(3_402_451),
            ),
            pull(1_795_801_151_000_000, D87, client, alpine, ua, Some(1_577)),
            manifest(1_795_801_160_000_000, "team1/app", "v2", None, None),
            pull(1_795_801_160_000_000, D3E, None, app, None, None),
        ];
        assert_eq!(testing::plain(events.clone()), want);
        let notified = testing::kinds(&events);
        assert!(
            notified
                .iter()
                .all(|k| ["notified", "manifest"].contains(k)),
            "every pull event carries its id: {notified:?}"
        );
    }

    /// Pretty-printed envelopes as distribution 2.8.2 sends them (captured from a real
    /// registry), then a truncated one, a compact one, two compact ones on one line and a line
    /// that is not JSON: every envelope is found, with the line it starts on.
    #[test]
    fn pretty_printed_envelopes_back_to_back() {
        let text = testing::fixture("written/notifications-pretty.json");
        let got: Vec<(u64, Result<LineOutcome, Reject>, usize)> = envelopes(&text)
            .map(|(line, rec)| {
                let mut out = Vec::new();
                let r = parse(rec, &ParseOptions::default(), &mut out);
                (line + 1, r, out.len())
            })
            .collect();
        use LineOutcome::*;
        assert_eq!(
            got,
            vec![
                (1, Ok(Ignored("no_pull_events")), 0), // a HEAD pull
                (30, Ok(Used), 1),                     // OCI index by tag
                (60, Ok(Used), 1),                     // its arm64 manifest by digest
                (89, Ok(Used), 1),                     // blob GET
                (118, Ok(Used), 1),                    // blob GET
                (147, Err(Reject::BadJson), 0),        // truncated after 12 lines
                (159, Ok(Used), 1),                    // compact, one line
                (160, Ok(Used), 1),                    // two compact envelopes on one line
                (160, Ok(Used), 1),
                (161, Err(Reject::BadJson), 0), // not JSON
            ]
        );
        let mut out = Vec::new();
        let (_, index) = envelopes(&text).nth(1).unwrap();
        parse(index, &ParseOptions::default(), &mut out).unwrap();
        let Event::Manifest(m) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!((&*m.repo, &*m.reference), ("team/multi", "v1"));
        assert_eq!(m.ts, 1_795_809_218_000_307);
        // A block may end only where an envelope starts in the first column; cutting there
        // and splitting both halves finds the same envelopes.
        let cut = block_cut(&text).unwrap();
        assert_eq!(&text[cut..cut + 10], b"{\"events\":");
        let halves: Vec<&[u8]> = envelopes(&text[..cut])
            .chain(envelopes(&text[cut..]))
            .map(|(_, r)| r)
            .collect();
        let whole: Vec<&[u8]> = envelopes(&text).map(|(_, r)| r).collect();
        assert_eq!(halves, whole);
        // One envelope per line: the same records as splitting at newlines.
        let compact = testing::fixture("written/notifications.jsonl");
        let by_line: Vec<&[u8]> = compact
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let lines: Vec<u64> = envelopes(&compact).map(|(l, _)| l).collect();
        assert_eq!(lines, (0..by_line.len() as u64).collect::<Vec<_>>());
        assert_eq!(
            envelopes(&compact).map(|(_, r)| r).collect::<Vec<_>>(),
            by_line
        );
        assert_eq!(envelopes(b" \n\t\n").count(), 0);
    }

    #[test]
    fn pretty_blob_push_has_no_pull_events() {
        // Written in the shape of a registry's pretty-printed blob push (a PUT): one envelope
        // over the whole file, found from its first line, with no pull in it, pretty or compact.
        let text = testing::fixture("written/notifications-push-blob.json");
        let found: Vec<_> = envelopes(&text).collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 0);
        assert_eq!(found[0].1, text.trim_ascii());
        let (r, e) = one(parse, found[0].1);
        assert_eq!(
            (r, e.len()),
            (Ok(LineOutcome::Ignored("no_pull_events")), 0)
        );
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let compact = v.to_string();
        assert_eq!(
            one(parse, &compact).0,
            Ok(LineOutcome::Ignored("no_pull_events"))
        );
        // The same envelope as a GET is a blob pull: the test above fails for the right reason.
        let as_get = compact
            .replace("\"PUT\"", "\"GET\"")
            .replace("\"push\"", "\"pull\"");
        let (r, e) = one(parse, &as_get);
        assert_eq!((r, e.len()), (Ok(LineOutcome::Used), 1));
    }

    #[test]
    fn rejects() {
        use LineOutcome::{Foreign, Ignored, Used};
        for (line, want) in [
            ("{", Err(Reject::BadJson)),
            ("{}", Err(Reject::BadJson)),
            ("[]", Err(Reject::BadJson)),
            ("not json", Err(Reject::BadJson)),
            (r#"{"events":{}}"#, Err(Reject::BadJson)),
            (r#"{"events":[]}"#, Ok(Ignored("no_pull_events"))),
            (" \r", Ok(Foreign)),
        ] {
            assert_eq!(one(parse, line).0, want, "{line}");
        }
        let ev = r#"{"events":[{"action":"pull","timestamp":"2019-06-06T10:26:04Z","target":{"mediaType":"application/octet-stream","digest":"sha256:07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548","repository":"a"},"request":{"method":"GET"}}]}"#;
        assert_eq!(one(parse, ev).0, Ok(Used));
        assert_edits(
            parse,
            ev,
            &[
                ("04Z", "04.5825108Z", Ok(Used)),
                (
                    "\"2019-06-06T10:26:04Z\"",
                    "\"yesterday\"",
                    Err(Reject::BadTimestamp),
                ),
                (
                    "\"2019-06-06T10:26:04Z\"",
                    "null",
                    Err(Reject::BadTimestamp),
                ),
                ("sha256:", "sha512:", Err(Reject::BadDigest)),
                ("\"digest\"", "\"digestx\"", Err(Reject::BadDigest)),
                (
                    "\"repository\":\"a\"",
                    "\"repository\":1",
                    Err(Reject::BadJson),
                ),
                ("\"GET\"", "\"HEAD\"", Ok(Ignored("no_pull_events"))),
            ],
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Envelopes are disjoint, in order, cover every byte that is not whitespace between
        /// them, and their line numbers count the newlines before them.
        #[test]
        fn envelopes_partition_any_input(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("{".to_string()), Just("}".to_string()), Just("[".to_string()),
                    Just("]".to_string()), Just("\"".to_string()), Just("\\".to_string()),
                    Just("\n".to_string()), Just(" ".to_string()), Just("x".to_string()),
                    Just("\n{".to_string()),
                ],
                0..60,
            )
        ) {
            let text = parts.concat().into_bytes();
            let mut end = 0usize;
            for (line, rec) in envelopes(&text) {
                prop_assert!(!rec.is_empty());
                let start = rec.as_ptr() as usize - text.as_ptr() as usize;
                prop_assert!(start >= end);
                prop_assert!(text[end..start].iter().all(u8::is_ascii_whitespace));
                let newlines = text[..start].iter().filter(|&&b| b == b'\n').count() as u64;
                prop_assert_eq!(line, newlines);
                end = start + rec.len();
            }
            prop_assert!(text[end..].iter().all(u8::is_ascii_whitespace));
        }

    }
}
