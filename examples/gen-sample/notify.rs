//! Renders requests as registry notification envelopes (`logs/notifications/`, one gzip JSON
//! Lines file per day, one compact `{"events":[…]}` envelope per line).
//!
//! Each registry instance has its own queue; consecutive events of one instance are grouped
//! into envelopes of 1–5 events, occasionally out of order. Instance 1 stamps events in a
//! `-08:00` zone. Blob and manifest `pull` events fire for GET and HEAD alike (HEAD is not a
//! pull); push, mount and delete events come from uploads, mounts, manifest PUTs and DELETEs.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;

use crate::fmtu::{self, json_esc, ymd};
use crate::http;
use crate::registry::request_id;
use crate::rng::{mix, Rng};
use crate::sink::{BadPlan, Enc, Reject, Report, Sink};
use crate::traffic::{By, Op, Req};
use crate::{Ctx, DayBatch};

const OCTET: &str = "application/octet-stream";

/// Minutes east of UTC each instance stamps its events with.
const OFFSETS: [i32; 2] = [0, -480];

struct Target<'a> {
    media: &'a str,
    size: u64,
    digest: String,
    repo: &'a str,
    from: Option<&'a str>,
    kind: &'static str, // "blobs" / "manifests"
    tag: Option<&'a str>,
}

/// Writes notification envelopes.
pub(crate) struct NotifyWriter {
    ctx: Arc<Ctx>,
    pub(crate) report: Report,
    bad: BadPlan,
    rng: Rng,
    /// The open file and the day it started.
    cur: Option<(u32, Sink)>,
}

impl NotifyWriter {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        let bad = BadPlan::new(
            ctx.p.bad_every,
            ctx.p.bad_p,
            Rng::stream(ctx.seed, "bad-notify", 0),
            &[Reject::BadJson, Reject::BadTimestamp, Reject::BadDigest],
        );
        let rng = Rng::stream(ctx.seed, "envelopes", 0);
        NotifyWriter {
            ctx,
            report: Report::default(),
            bad,
            rng,
            cur: None,
        }
    }

    /// The event for `req`, if the registry emits one.
    fn event(&self, req: &Req, out: &mut String) -> bool {
        let ctx = &self.ctx;
        let w = &ctx.w;
        let repo_name = |r: u32| w.repos[r as usize].name.as_str();
        let (action, method, t) = match req.op {
            Op::ManifestGet { img, by, head } => {
                let im = &w.images[img as usize];
                let m = &w.blobs[im.manifest as usize];
                let tag = match by {
                    By::Latest => Some("latest"),
                    By::Tag => Some(im.tag.as_str()),
                    By::Digest => None,
                };
                (
                    "pull",
                    if head { "HEAD" } else { "GET" },
                    Target {
                        media: im.media_type(),
                        size: m.size,
                        digest: http::digest_str(m),
                        repo: repo_name(im.repo),
                        from: None,
                        kind: "manifests",
                        tag,
                    },
                )
            }
            Op::ManifestPut { img, latest } => {
                let im = &w.images[img as usize];
                let m = &w.blobs[im.manifest as usize];
                (
                    "push",
                    "PUT",
                    Target {
                        media: im.media_type(),
                        size: m.size,
                        digest: http::digest_str(m),
                        repo: repo_name(im.repo),
                        from: None,
                        kind: "manifests",
                        tag: Some(if latest { "latest" } else { im.tag.as_str() }),
                    },
                )
            }
            Op::ManifestDelete { img } => {
                let im = &w.images[img as usize];
                out.clear();
                self.envelope_head(req, out);
                out.push_str("\"delete\",\"target\":{\"digest\":\"");
                out.push_str(&http::digest_str(&w.blobs[im.manifest as usize]));
                out.push_str("\",\"repository\":\"");
                json_esc(out, repo_name(im.repo));
                out.push_str("\"},");
                self.envelope_tail(req, "DELETE", out);
                return true;
            }
            Op::BlobGet { repo, blob, .. } | Op::BlobHead { repo, blob } => {
                let b = &w.blobs[blob as usize];
                let head = matches!(req.op, Op::BlobHead { .. });
                (
                    "pull",
                    if head { "HEAD" } else { "GET" },
                    blob_target(b, repo_name(repo), None),
                )
            }
            Op::UploadPut { repo, blob, .. } => (
                "push",
                "PUT",
                blob_target(&w.blobs[blob as usize], repo_name(repo), None),
            ),
            Op::Mount { repo, blob, from } => (
                "mount",
                "POST",
                blob_target(
                    &w.blobs[blob as usize],
                    repo_name(repo),
                    Some(repo_name(from)),
                ),
            ),
            _ => return false,
        };
        out.clear();
        self.envelope_head(req, out);
        let _ = write!(out, "\"{action}\",\"target\":{{\"mediaType\":\"{}\",\"size\":{},\"digest\":\"{}\",\"length\":{},\"repository\":\"", t.media, t.size, t.digest, t.size);
        json_esc(out, t.repo);
        out.push('"');
        if let Some(f) = t.from {
            out.push_str(",\"fromRepository\":\"");
            json_esc(out, f);
            out.push('"');
        }
        let _ = write!(
            out,
            ",\"url\":\"https://{}/v2/{}/{}/{}\"",
            http::HOST,
            t.repo,
            t.kind,
            t.digest
        );
        if let Some(tag) = t.tag {
            let _ = write!(out, ",\"tag\":\"{tag}\"");
        }
        out.push_str("},");
        self.envelope_tail(req, method, out);
        true
    }

    fn envelope_head(&self, req: &Req, out: &mut String) {
        let _ = write!(
            out,
            "{{\"id\":\"{}\",\"timestamp\":\"",
            fmtu::uuid_from(mix(req.rid, 0xE7E7))
        );
        fmtu::rfc3339_nano(out, req.ts, OFFSETS[req.inst as usize]);
        out.push_str("\",\"action\":");
    }

    fn envelope_tail(&self, req: &Req, method: &str, out: &mut String) {
        let ctx = &self.ctx;
        let c = &ctx.w.clients[req.client as usize];
        let _ = write!(
            out,
            "\"request\":{{\"id\":\"{}\",\"addr\":\"{}\",\"host\":\"{}\",\"method\":\"{method}\",\"useragent\":\"",
            request_id(req.rid),
            http::remote_addr(ctx, req),
            http::HOST
        );
        json_esc(out, &c.ua);
        out.push_str("\"},\"actor\":{");
        if let Some(a) = &c.actor {
            out.push_str("\"name\":\"");
            json_esc(out, a);
            out.push('"');
        }
        let _ = write!(
            out,
            "}},\"source\":{{\"addr\":\"registry-{}:5000\",\"instanceID\":\"{}\"}}}}",
            req.inst,
            ctx.w.instance_id(ctx.seed, req.inst, req.ts)
        );
    }

    /// Writes one day's envelopes (a new file every `notify_roll_days` days).
    pub(crate) fn write_day(&mut self, batch: &DayBatch) -> io::Result<()> {
        let ctx = Arc::clone(&self.ctx);
        let roll = ctx.p.notify_roll_days.max(1);
        if self
            .cur
            .as_ref()
            .is_none_or(|(start, _)| batch.day >= start + roll)
        {
            if let Some((_, s)) = self.cur.take() {
                self.report.close(s)?;
            }
            let rel = format!("logs/notifications/events-{}.jsonl.gz", ymd(batch.d0));
            self.cur = Some((
                batch.day,
                Sink::create(&ctx.out, &rel, Enc::Gz(ctx.p.gz_level))?,
            ));
        }
        let (start, mut sink) = self.cur.take().expect("file opened above");
        let mut pending: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        let mut target = [1usize, 1usize];
        let mut ev = String::with_capacity(1024);
        for req in &batch.reqs {
            if !self.event(req, &mut ev) {
                continue;
            }
            self.report.events += 1;
            let i = req.inst as usize;
            pending[i].push(ev.clone());
            if pending[i].len() >= target[i] {
                let evs = std::mem::take(&mut pending[i]);
                self.write_envelope(&mut sink, evs, req.ts)?;
                target[i] = if self.rng.chance(0.7) {
                    1
                } else {
                    2 + self.rng.index(4)
                };
            }
        }
        for evs in pending {
            if !evs.is_empty() {
                self.write_envelope(&mut sink, evs, batch.d0)?;
            }
        }
        self.cur = Some((start, sink));
        Ok(())
    }

    /// Closes the open file.
    pub(crate) fn close_all(&mut self) -> io::Result<()> {
        if let Some((_, s)) = self.cur.take() {
            self.report.close(s)?;
        }
        Ok(())
    }

    fn write_envelope(&mut self, sink: &mut Sink, mut evs: Vec<String>, ts: i64) -> io::Result<()> {
        if evs.len() > 1 && self.rng.chance(0.15) {
            // Delivery order is not guaranteed.
            let j = self.rng.index(evs.len() - 1);
            evs.swap(j, j + 1);
        }
        let line = format!("{{\"events\":[{}]}}", evs.join(","));
        sink.good_line(&line)?;
        if let Some(kind) = self.bad.due(sink) {
            let l = self.malformed(ts, kind);
            self.report.bad_line(sink, &l, kind)?;
        }
        Ok(())
    }

    fn malformed(&mut self, ts: i64, kind: Reject) -> String {
        let ctx = Arc::clone(&self.ctx);
        let w = &ctx.w;
        let rng = self.bad.rng();
        let b = &w.blobs[rng.index(w.blobs.len())];
        let repo = &w.repos[rng.index(w.repos.len())].name;
        let client = &w.clients[w.humans[rng.index(w.humans.len())] as usize];
        let mut hex = b.hex();
        if kind == Reject::BadDigest {
            hex.replace_range(30..32, "zz");
        }
        let mut time = String::new();
        fmtu::rfc3339_nano(&mut time, ts, 0);
        if kind == Reject::BadTimestamp {
            time = "2026-11-31T25:61:07.5Z".into();
        }
        let mut l = format!(
            "{{\"events\":[{{\"id\":\"{}\",\"timestamp\":\"{time}\",\"action\":\"pull\",\"target\":{{\"mediaType\":\"{OCTET}\",\"size\":{},\"digest\":\"sha256:{hex}\",\"length\":{},\"repository\":\"{repo}\",\"url\":\"https://{}/v2/{repo}/blobs/sha256:{hex}\"}},\"request\":{{\"id\":\"{}\",\"addr\":\"{}\",\"host\":\"{}\",\"method\":\"GET\",\"useragent\":\"",
            fmtu::uuid_from(rng.next_u64()),
            b.size,
            b.size,
            http::HOST,
            fmtu::uuid_from(rng.next_u64()),
            if client.v6 { format!("[{}]:{}", client.ip, 41_000 + rng.below(9_000)) } else { format!("{}:{}", client.ip, 41_000 + rng.below(9_000)) },
            http::HOST,
        );
        json_esc(&mut l, &client.ua);
        let _ = write!(
            l,
            "\"}},\"actor\":{{}},\"source\":{{\"addr\":\"registry-0:5000\",\"instanceID\":\"{}\"}}}}]}}",
            w.instance_id(ctx.seed, 0, ts)
        );
        if kind == Reject::BadJson {
            let mut cut = l.len() * (25 + rng.below(60) as usize) / 100;
            while !l.is_char_boundary(cut) {
                cut -= 1;
            }
            l.truncate(cut);
        }
        l
    }
}

fn blob_target<'a>(b: &crate::world::Blob, repo: &'a str, from: Option<&'a str>) -> Target<'a> {
    Target {
        media: OCTET,
        size: b.size,
        digest: http::digest_str(b),
        repo,
        from,
        kind: "blobs",
        tag: None,
    }
}

impl crate::DayWriter for NotifyWriter {
    fn day(&mut self, batch: &DayBatch) -> io::Result<()> {
        self.write_day(batch)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.close_all()
    }

    fn take_report(&mut self) -> Report {
        std::mem::take(&mut self.report)
    }
}
