//! Renders requests as the registry's own logs: logrus JSON lines (`logs/registry-json/`, one
//! gzip file per day, one day zstd without extension, a block of days with the Apache access
//! lines of the same processes interleaved) and the combined access log
//! (`logs/registry-combined/`, one zstd file per day; instance 0 written by the registry,
//! instance 1 by its nginx front).

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;

use crate::fmtu::{self, json_esc, ymd, NS};
use crate::http::{self, View};
use crate::rng::{mix, Rng};
use crate::sink::{BadPlan, Enc, Reject, Report, Sink};
use crate::traffic::Req;
use crate::{Ctx, DayBatch};

const GO_VERSION: &str = "go1.20.8";
const REGISTRY_VERSION: &str = "v2.8.3";

/// The request ID (`http.request.id`, also `request.id` in notifications).
pub(crate) fn request_id(rid: u64) -> String {
    fmtu::uuid_from(mix(rid, 0x1D1D))
}

/// Gorilla's `appendQuoted`: `\` and `"` backslash-escaped.
fn gorilla_quote(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// nginx's log escaping: `"`, `\` and non-printable bytes as `\xHH`.
fn nginx_quote(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b as char);
        }
    }
}

/// Which days' JSON files also carry the Apache access lines (a contiguous block).
fn foreign_days(days: u32) -> std::ops::Range<u32> {
    let start = days * 2 / 5;
    start..(start + (days / 30).max(2)).min(days)
}

/// The day whose JSON file is zstd-compressed and named without extension.
fn zstd_day(days: u32) -> u32 {
    days / 2 + 1
}

/// Writes the JSON application log.
pub(crate) struct JsonWriter {
    ctx: Arc<Ctx>,
    pub(crate) report: Report,
    bad: BadPlan,
    buf: String,
}

impl JsonWriter {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        let bad = BadPlan::new(
            ctx.p.bad_every,
            ctx.p.bad_p,
            Rng::stream(ctx.seed, "bad-json", 0),
            &[Reject::BadJson, Reject::BadTimestamp, Reject::BadDigest],
        );
        JsonWriter {
            ctx,
            report: Report::default(),
            bad,
            buf: String::with_capacity(2048),
        }
    }

    fn header(&mut self, t: i64, inst: u8) {
        let ctx = &self.ctx;
        self.buf.clear();
        let _ = write!(
            self.buf,
            "{{\"go.version\":\"{GO_VERSION}\",\"instance.id\":\"{}\",",
            ctx.w.instance_id(ctx.seed, inst, t)
        );
    }

    fn trailer(&mut self, t: i64) {
        self.buf.push_str(",\"service\":\"registry\",\"time\":\"");
        fmtu::rfc3339_nano(&mut self.buf, t, 0);
        let _ = write!(self.buf, "\",\"version\":\"{REGISTRY_VERSION}\"}}");
    }

    /// A non-request line (startup, upload purger).
    fn plain(&mut self, t: i64, inst: u8, level: &str, msg: &str) -> String {
        self.header(t, inst);
        let _ = write!(self.buf, "\"level\":\"{level}\",\"msg\":\"");
        json_esc(&mut self.buf, msg);
        self.buf.push('"');
        self.trailer(t);
        self.buf.clone()
    }

    fn request_line(&mut self, req: &Req, v: &View) {
        let ctx = Arc::clone(&self.ctx);
        let c = &ctx.w.clients[req.client as usize];
        let b = &mut self.buf;
        b.clear();
        b.push('{');
        if let Some(e) = &v.err {
            let _ = write!(b, "\"err.code\":\"{}\",\"err.detail\":\"", e.code);
            json_esc(b, &e.detail);
            let _ = write!(b, "\",\"err.message\":\"{}\",", e.message);
        }
        let _ = write!(
            b,
            "\"go.version\":\"{GO_VERSION}\",\"http.request.host\":\"{}\",\"http.request.id\":\"{}\",\"http.request.method\":\"{}\",\"http.request.remoteaddr\":\"{}\",\"http.request.uri\":\"",
            http::HOST,
            request_id(req.rid),
            v.method,
            http::remote_addr(&ctx, req)
        );
        json_esc(b, &v.uri);
        b.push_str("\",\"http.request.useragent\":\"");
        json_esc(b, &c.ua);
        b.push_str("\",");
        let (level, msg) = if v.unauthorized {
            (
                "warning",
                "error authorizing context: authorization header required",
            )
        } else if v.err.is_some() {
            ("error", "response completed with error")
        } else {
            ("info", "response completed")
        };
        if !v.unauthorized {
            if let Some(ct) = v.ctype {
                let _ = write!(b, "\"http.response.contenttype\":\"{ct}\",");
            }
            b.push_str("\"http.response.duration\":\"");
            fmtu::go_duration(b, http::duration_ns(req, v));
            let _ = write!(
                b,
                "\",\"http.response.status\":{},\"http.response.written\":{},",
                v.status, v.written
            );
        }
        let _ = write!(
            b,
            "\"instance.id\":\"{}\",\"level\":\"{level}\",\"msg\":\"{msg}\",\"service\":\"registry\",\"time\":\"",
            ctx.w.instance_id(ctx.seed, req.inst, req.ts)
        );
        fmtu::rfc3339_nano(b, req.ts, 0);
        b.push('"');
        if let Some(e) = &v.err {
            for (k, val) in &e.vars {
                let _ = write!(b, ",\"{k}\":\"");
                json_esc(b, val);
                b.push('"');
            }
        }
        let _ = write!(b, ",\"version\":\"{REGISTRY_VERSION}\"}}");
    }

    /// Writes one day's file.
    pub(crate) fn write_day(&mut self, batch: &DayBatch) -> io::Result<()> {
        let ctx = Arc::clone(&self.ctx);
        let d0 = batch.d0;
        let (rel, enc) = if batch.day == zstd_day(ctx.win.days) {
            (
                format!("logs/registry-json/registry-{}", ymd(d0)),
                Enc::Zst(ctx.p.zstd_level),
            )
        } else {
            (
                format!("logs/registry-json/registry-{}.log.gz", ymd(d0)),
                Enc::Gz(ctx.p.gz_level),
            )
        };
        let mut sink = Sink::create(&ctx.out, &rel, enc)?;
        let foreign = foreign_days(ctx.win.days).contains(&batch.day);

        // Non-request lines of the day: restarts and the daily upload purge.
        let mut extra: Vec<(i64, String)> = Vec::new();
        for inst in 0..2u8 {
            for &r in ctx.w.restarts[inst as usize]
                .iter()
                .filter(|&&r| r >= d0 && r < d0 + fmtu::DAY)
            {
                let mut r2 = Rng::new(mix(ctx.seed, r as u64));
                let purge_in = r2.range(1, 60);
                let l1 = self.plain(r, inst, "info", "redis not configured");
                let l2 = self.plain(
                    r + 3_100_000,
                    inst,
                    "info",
                    &format!("Starting upload purge in {purge_in}m0s"),
                );
                let l3 = self.plain(r + 5_800_000, inst, "info", "listening on [::]:5000");
                extra.extend([(r, l1), (r + 3_100_000, l2), (r + 5_800_000, l3)]);
            }
            let t = d0
                + (18 + 7 * i64::from(inst)) * 60 * NS
                + (mix(ctx.seed, d0 as u64) % 50_000_000_000) as i64;
            let mut older = String::new();
            let o = fmtu::tm(t - 7 * fmtu::DAY);
            let _ = write!(
                older,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09} +0000 UTC",
                o.y, o.mo, o.d, o.h, o.mi, o.s, o.ns
            );
            let l1 = self.plain(
                t,
                inst,
                "info",
                &format!("PurgeUploads starting: olderThan={older}, actuallyDelete=true"),
            );
            let l2 = self.plain(
                t + 412_000_000,
                inst,
                "info",
                "Purge uploads finished.  Num deleted=0, num errors=0",
            );
            extra.extend([(t, l1), (t + 412_000_000, l2)]);
        }
        extra.sort();
        let mut next_extra = 0;

        let mut access = String::new();
        for req in batch.reqs.iter().filter(|r| r.op.is_registry()) {
            while next_extra < extra.len() && extra[next_extra].0 <= req.ts {
                sink.line(&extra[next_extra].1)?;
                self.report.count("non_request_json");
                next_extra += 1;
            }
            let v = http::view(&ctx, req);
            self.request_line(req, &v);
            sink.good_line(&self.buf)?;
            if foreign {
                access.clear();
                combined_line(&ctx, req, &v, true, &mut access);
                sink.line(&access)?;
                self.report.foreign += 1;
            }
            if let Some(kind) = self.bad.due(&sink) {
                let line = self.malformed(req.ts, kind);
                self.report.bad_line(&mut sink, &line, kind)?;
            }
        }
        for (_, l) in &extra[next_extra..] {
            sink.line(l)?;
            self.report.count("non_request_json");
        }
        self.report.close(sink)
    }

    fn malformed(&mut self, ts: i64, kind: Reject) -> String {
        let ctx = Arc::clone(&self.ctx);
        let rng = self.bad.rng();
        let w = &ctx.w;
        let blob = &w.blobs[rng.index(w.blobs.len())];
        let repo = &w.repos[rng.index(w.repos.len())].name;
        let client = &w.clients[w.humans[rng.index(w.humans.len())] as usize];
        let mut hex = blob.hex();
        let mut time = String::new();
        fmtu::rfc3339_nano(&mut time, ts, 0);
        match kind {
            Reject::BadTimestamp => time = "2026-11-31T25:61:07.000000001Z".into(),
            Reject::BadDigest => hex.replace_range(30..32, "zz"),
            _ => {}
        }
        let mut b = String::new();
        let _ = write!(
            b,
            "{{\"go.version\":\"{GO_VERSION}\",\"http.request.host\":\"{}\",\"http.request.id\":\"{}\",\"http.request.method\":\"GET\",\"http.request.remoteaddr\":\"{}\",\"http.request.uri\":\"/v2/{repo}/blobs/sha256:{hex}\",\"http.request.useragent\":\"",
            http::HOST,
            fmtu::uuid_from(rng.next_u64()),
            if client.v6 {
                format!("[{}]:{}", client.ip, 40_000 + rng.below(20_000))
            } else {
                format!("{}:{}", client.ip, 40_000 + rng.below(20_000))
            },
        );
        json_esc(&mut b, &client.ua);
        let _ = write!(
            b,
            "\",\"http.response.contenttype\":\"text/html; charset=utf-8\",\"http.response.duration\":\"2.1ms\",\"http.response.status\":307,\"http.response.written\":512,\"instance.id\":\"{}\",\"level\":\"info\",\"msg\":\"response completed\",\"service\":\"registry\",\"time\":\"{time}\",\"version\":\"{REGISTRY_VERSION}\"}}",
            w.instance_id(ctx.seed, 0, ts)
        );
        if kind == Reject::BadJson {
            // A line cut while being written (log rotation, crash).
            let cut = b.len() * (30 + rng.below(50) as usize) / 100;
            let mut cut = cut;
            while !b.is_char_boundary(cut) {
                cut -= 1;
            }
            b.truncate(cut);
        }
        b
    }
}

/// One Apache combined line. `registry_written`: gorilla's format (instance 0, or the
/// registry's own stdout); otherwise nginx's (instance 1 in the combined directory).
pub(crate) fn combined_line(ctx: &Ctx, req: &Req, v: &View, in_json: bool, out: &mut String) {
    let c = &ctx.w.clients[req.client as usize];
    let gorilla = in_json || req.inst == 0;
    // Gorilla logs the socket peer: for instance 1 that is its nginx sidecar.
    let ip = if gorilla && req.inst == 1 {
        "127.0.0.1"
    } else {
        c.ip.as_str()
    };
    out.push_str(ip);
    out.push_str(" - - [");
    fmtu::clf(out, req.ts);
    let proto = if c.h2 { "HTTP/2.0" } else { "HTTP/1.1" };
    // The JSON log's access lines come from the redirecting registry; the combined directory
    // shows the streaming setup.
    let (status, bytes) = if in_json {
        (v.status, v.written)
    } else {
        (v.c_status, v.c_bytes)
    };
    let _ = write!(
        out,
        "] \"{} {} {proto}\" {status} {bytes} ",
        v.method, v.uri
    );
    if gorilla {
        out.push_str("\"\" \"");
        gorilla_quote(out, &c.ua);
    } else {
        out.push_str("\"-\" \"");
        nginx_quote(out, &c.ua);
    }
    out.push('"');
}

/// Writes the combined access log.
pub(crate) struct CombinedWriter {
    ctx: Arc<Ctx>,
    pub(crate) report: Report,
    bad: BadPlan,
    buf: String,
    /// The open file and the day it started.
    cur: Option<(u32, Sink)>,
}

impl CombinedWriter {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        let bad = BadPlan::new(
            ctx.p.bad_every,
            ctx.p.bad_p,
            Rng::stream(ctx.seed, "bad-combined", 0),
            &[
                Reject::TooFewFields,
                Reject::BadQuoting,
                Reject::BadTimestamp,
                Reject::BadNumber,
                Reject::BadRequestLine,
                Reject::BadDigest,
            ],
        );
        CombinedWriter {
            ctx,
            report: Report::default(),
            bad,
            buf: String::with_capacity(1024),
            cur: None,
        }
    }

    /// Writes one day's lines (a new file every `combined_roll_days` days, like logrotate).
    pub(crate) fn write_day(&mut self, batch: &DayBatch) -> io::Result<()> {
        let ctx = Arc::clone(&self.ctx);
        let roll = ctx.p.combined_roll_days.max(1);
        if self
            .cur
            .as_ref()
            .is_none_or(|(start, _)| batch.day >= start + roll)
        {
            if let Some((_, s)) = self.cur.take() {
                self.report.close(s)?;
            }
            let rel = format!("logs/registry-combined/access-{}.log.zst", ymd(batch.d0));
            self.cur = Some((
                batch.day,
                Sink::create(&ctx.out, &rel, Enc::Zst(ctx.p.zstd_level))?,
            ));
        }
        let (start, mut sink) = self.cur.take().expect("file opened above");
        for req in batch.reqs.iter().filter(|r| r.op.is_registry()) {
            let v = http::view(&ctx, req);
            self.buf.clear();
            combined_line(&ctx, req, &v, false, &mut self.buf);
            sink.good_line(&self.buf)?;
            if let Some(kind) = self.bad.due(&sink) {
                let line = self.malformed(req.ts, kind);
                self.report.bad_line(&mut sink, &line, kind)?;
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

    fn malformed(&mut self, ts: i64, kind: Reject) -> String {
        let ctx = Arc::clone(&self.ctx);
        let rng = self.bad.rng();
        let w = &ctx.w;
        let blob = &w.blobs[rng.index(w.blobs.len())];
        let repo = &w.repos[rng.index(w.repos.len())].name;
        let client = &w.clients[w.humans[rng.index(w.humans.len())] as usize];
        let mut hex = blob.hex();
        if kind == Reject::BadDigest {
            hex.replace_range(30..32, "zz");
        }
        let mut time = String::new();
        fmtu::clf(&mut time, ts);
        if kind == Reject::BadTimestamp {
            time.replace_range(3..6, "Noe");
        }
        let uri = format!("/v2/{repo}/blobs/sha256:{hex}");
        let request = if kind == Reject::BadRequestLine {
            format!("GET {uri}")
        } else {
            format!("GET {uri} HTTP/1.1")
        };
        let status = if kind == Reject::BadNumber {
            "2O0"
        } else {
            "200"
        };
        let mut l = format!("{} - - [{time}] \"{request}\" {status}", client.ip);
        if kind == Reject::TooFewFields {
            return l;
        }
        let _ = write!(l, " {} \"\" \"", blob.size);
        gorilla_quote(&mut l, &client.ua);
        if kind != Reject::BadQuoting {
            l.push('"');
        }
        l
    }
}

impl crate::DayWriter for JsonWriter {
    fn day(&mut self, batch: &DayBatch) -> io::Result<()> {
        self.write_day(batch)
    }

    fn take_report(&mut self) -> Report {
        std::mem::take(&mut self.report)
    }
}

impl crate::DayWriter for CombinedWriter {
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
