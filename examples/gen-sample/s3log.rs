//! Renders the S3 side of the traffic as S3 server access log records for bucket
//! `registry-prod` (`logs/s3-access/<delivery time>-<unique>`, plain text; gzip or zstd with
//! `--s3-compress`).
//!
//! Only what S3 sees: presigned (`QueryString`) GET/HEAD of blob data by clients following the
//! registry's 307, and the registry's own `AuthHeader` traffic (link reads, manifest content,
//! uploads, copies, deletes). No manifest request of a client reaches S3.
//!
//! Delivery: a record goes to a file named by its delivery time (its time plus a delay, rounded
//! up to the delivery slot), so files regularly hold records of the previous day; during two
//! "delivery incidents" records are delivered days late in large backlog files.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::sync::Arc;

use crate::fmtu::{self, DAY, NS};
use crate::http::{self, blob_key, presign_query, BUCKET, ROOT, S3_HOST};
use crate::rng::{mix, Rng};
use crate::sink::{BadPlan, Enc, Reject, Report, Sink};
use crate::traffic::{By, Op, Part, Req};
use crate::world::{Client, ClientKind};
use crate::{Ctx, DayBatch};

const MS: i64 = 1_000_000;
const MIN: i64 = 60 * NS;
const HOUR: i64 = 3600 * NS;

/// The IAM principal the registry uses (requester of everything it signs).
pub(crate) const REQUESTER: &str = "arn:aws:iam::123456789012:user/registry-prod";

/// One access log record.
struct Rec<'a> {
    ts: i64,
    client: &'a Client,
    op: &'static str,
    key: String,
    /// `None`: the bare `-` of COPY_GET and BATCH records.
    request: Option<(&'static str, String)>,
    status: u16,
    error: &'static str,
    bytes: Option<u64>,
    object_size: Option<u64>,
    presigned: bool,
}

/// A delivery incident: records in `[from, to)` are delivered late, in backlog files.
#[derive(Clone, Copy)]
struct Incident {
    from: i64,
    to: i64,
}

/// Writes the S3 access log.
pub(crate) struct S3Writer {
    ctx: Arc<Ctx>,
    open: BTreeMap<(i64, u32, u8), Sink>,
    pub(crate) report: Report,
    bad: BadPlan,
    incidents: Vec<Incident>,
    buf: String,
}

fn reg_key(repo: &str, rest: &str) -> String {
    format!("{ROOT}/repositories/{repo}/{rest}")
}

impl S3Writer {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        let bad = BadPlan::new(
            ctx.p.bad_every,
            ctx.p.bad_p_s3,
            Rng::stream(ctx.seed, "bad-s3", 0),
            &[
                Reject::BadQuoting,
                Reject::TooFewFields,
                Reject::BadTimestamp,
                Reject::BadDigest,
                Reject::BadNumber,
            ],
        );
        let days = i64::from(ctx.win.days);
        let incidents = ctx
            .p
            .s3_incidents
            .iter()
            .map(|&(f, len)| ((days as f64 * f) as i64, len))
            .filter(|(start, len)| start + len < days - 1)
            .map(|(start, len)| Incident {
                from: ctx.win.start + start * DAY,
                to: ctx.win.start + (start + len) * DAY,
            })
            .collect();
        S3Writer {
            ctx,
            open: BTreeMap::new(),
            report: Report::default(),
            bad,
            incidents,
            buf: String::with_capacity(2048),
        }
    }

    /// The file a record at `ts` is delivered in: (delivery time, shard, kind).
    fn file_for(&self, ts: i64, rng: &mut Rng) -> (i64, u32, u8) {
        let p = &self.ctx.p;
        let shard = rng.below(u64::from(p.s3_shards)) as u32;
        let off = |slot_end: i64, shard: u32, kind: u8| {
            let h = mix(
                self.ctx.seed ^ u64::from(kind),
                (slot_end as u64) ^ u64::from(shard) << 48,
            );
            slot_end + ((h % 3_540) as i64) * NS
        };
        if let Some(inc) = self.incidents.iter().find(|i| ts >= i.from && ts < i.to) {
            let slot = p.s3_incident_slot_hours * HOUR;
            let k = (ts - inc.from) / slot;
            let delivery = inc.to + 3 * HOUR + k * 37 * NS;
            return (off(delivery, shard, 2), shard, 2);
        }
        let slot = p.s3_slot_hours * HOUR;
        if rng.chance(p.s3_p_late) {
            let t = ts + rng.range(26 * HOUR, 72 * HOUR);
            let end = (t.div_euclid(slot) + 1) * slot;
            return (off(end, shard, 1), shard, 1);
        }
        let t = ts + rng.range(10 * MIN, 50 * MIN);
        let end = (t.div_euclid(slot) + 1) * slot;
        (off(end, shard, 0), shard, 0)
    }

    fn file_name(&self, key: (i64, u32, u8)) -> String {
        let t = fmtu::tm(key.0);
        let u = mix(
            self.ctx.seed ^ 0x5EED,
            (key.0 as u64) ^ (u64::from(key.1) << 40) ^ (u64::from(key.2) << 56),
        );
        let ext = match self.ctx.s3_enc {
            Enc::Plain => "",
            Enc::Gz(_) => ".gz",
            Enc::Zst(_) => ".zst",
        };
        format!(
            "logs/s3-access/{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{:016X}{ext}",
            t.y, t.mo, t.d, t.h, t.mi, t.s, u
        )
    }

    /// The records S3 logs for one request.
    fn records<'a>(&self, ctx: &'a Ctx, req: &Req, rng: &mut Rng) -> Vec<Rec<'a>> {
        let w = &ctx.w;
        let client = &w.clients[req.client as usize];
        let reg = &w.clients[w.registry[req.inst as usize] as usize];
        let repo_name = |r: u32| w.repos[r as usize].name.as_str();
        let internal = |ts: i64, op: &'static str, key: String, status: u16, size: Option<u64>| {
            let method = match op {
                "REST.GET.OBJECT" => "GET",
                "REST.HEAD.OBJECT" => "HEAD",
                "REST.PUT.OBJECT" | "REST.COPY.OBJECT" => "PUT",
                _ => "DELETE",
            };
            let uri = format!("/{key}");
            let (error, bytes, object_size) = match (status, op) {
                (404, _) => ("NoSuchKey", Some(300 + key.len() as u64), None),
                (_, "REST.GET.OBJECT") => ("-", size, size),
                (_, "REST.COPY.OBJECT") => ("-", Some(234), size),
                _ => ("-", None, size),
            };
            Rec {
                ts,
                client: reg,
                op,
                key,
                request: Some((method, uri)),
                status,
                error,
                bytes,
                object_size,
                presigned: false,
            }
        };
        let presigned = |ts: i64,
                         method: &'static str,
                         blob: u32,
                         status: u16,
                         bytes: Option<u64>,
                         date: i64| {
            let b = &w.blobs[blob as usize];
            let key = blob_key(&b.hex());
            let uri = format!("/{key}?{}", presign_query(ctx, date, req.rid));
            let (error, object_size) = match status {
                403 => ("AccessDenied", None),
                _ => ("-", Some(b.size)),
            };
            Rec {
                ts,
                client,
                op: if method == "GET" {
                    "REST.GET.OBJECT"
                } else {
                    "REST.HEAD.OBJECT"
                },
                key,
                request: Some((method, uri)),
                status,
                error,
                bytes,
                object_size,
                presigned: true,
            }
        };
        let layer_link =
            |repo: &str, hex: &str| reg_key(repo, &format!("_layers/sha256/{hex}/link"));
        let mut v = Vec::new();
        let ts = req.ts;
        match req.op {
            Op::BlobGet { repo, blob, part } => {
                let hex = w.blobs[blob as usize].hex();
                if rng.chance(0.06) {
                    v.push(internal(
                        ts - 4 * MS,
                        "REST.GET.OBJECT",
                        layer_link(repo_name(repo), &hex),
                        200,
                        Some(71),
                    ));
                }
                if rng.chance(0.06) {
                    v.push(internal(
                        ts - 2 * MS,
                        "REST.HEAD.OBJECT",
                        blob_key(&hex),
                        200,
                        Some(w.blobs[blob as usize].size),
                    ));
                }
                let size = w.blobs[blob as usize].size;
                let (status, bytes) = match part {
                    Part::Full => (200, size),
                    Part::Cut(n) => (200, n),
                    Part::Resume(off) => (206, size - off),
                };
                v.push(presigned(ts, "GET", blob, status, Some(bytes), ts));
            }
            Op::BlobHead { repo, blob } => {
                let hex = w.blobs[blob as usize].hex();
                if rng.chance(0.06) {
                    v.push(internal(
                        ts - 3 * MS,
                        "REST.GET.OBJECT",
                        layer_link(repo_name(repo), &hex),
                        200,
                        Some(71),
                    ));
                }
                v.push(presigned(ts, "HEAD", blob, 200, None, ts));
            }
            Op::ManifestGet { img, by, .. } => {
                let im = &w.images[img as usize];
                let m = &w.blobs[im.manifest as usize];
                let name = repo_name(im.repo);
                let hex = m.hex();
                {
                    match by {
                        By::Latest | By::Tag => {
                            let tag = if by == By::Latest {
                                "latest"
                            } else {
                                im.tag.as_str()
                            };
                            v.push(internal(
                                ts - 6 * MS,
                                "REST.GET.OBJECT",
                                reg_key(name, &format!("_manifests/tags/{tag}/current/link")),
                                200,
                                Some(71),
                            ));
                        }
                        By::Digest => {
                            v.push(internal(
                                ts - 6 * MS,
                                "REST.HEAD.OBJECT",
                                reg_key(name, &format!("_manifests/revisions/sha256/{hex}/link")),
                                200,
                                Some(71),
                            ));
                        }
                    }
                }
                {
                    v.push(internal(
                        ts - 3 * MS,
                        "REST.GET.OBJECT",
                        blob_key(&hex),
                        200,
                        Some(m.size),
                    ));
                }
            }
            Op::ManifestMissing { repo, tag } => {
                let tag = crate::traffic::TYPO_TAGS[tag as usize];
                v.push(internal(
                    ts - 2 * MS,
                    "REST.GET.OBJECT",
                    reg_key(
                        repo_name(repo),
                        &format!("_manifests/tags/{tag}/current/link"),
                    ),
                    404,
                    None,
                ));
            }
            Op::ManifestPut { img, latest } => {
                let im = &w.images[img as usize];
                let m = &w.blobs[im.manifest as usize];
                let name = repo_name(im.repo);
                let hex = m.hex();
                let tag = if latest { "latest" } else { im.tag.as_str() };
                if !latest {
                    v.push(internal(
                        ts - 9 * MS,
                        "REST.PUT.OBJECT",
                        blob_key(&hex),
                        200,
                        Some(m.size),
                    ));
                    v.push(internal(
                        ts - 7 * MS,
                        "REST.PUT.OBJECT",
                        reg_key(name, &format!("_manifests/revisions/sha256/{hex}/link")),
                        200,
                        Some(71),
                    ));
                }
                v.push(internal(
                    ts - 4 * MS,
                    "REST.PUT.OBJECT",
                    reg_key(name, &format!("_manifests/tags/{tag}/current/link")),
                    200,
                    Some(71),
                ));
                v.push(internal(
                    ts - 2 * MS,
                    "REST.PUT.OBJECT",
                    reg_key(
                        name,
                        &format!("_manifests/tags/{tag}/index/sha256/{hex}/link"),
                    ),
                    200,
                    Some(71),
                ));
            }
            Op::ManifestDelete { img } => {
                let im = &w.images[img as usize];
                let hex = w.blobs[im.manifest as usize].hex();
                let name = repo_name(im.repo);
                v.push(internal(
                    ts - 5 * MS,
                    "REST.DELETE.OBJECT",
                    reg_key(name, &format!("_manifests/revisions/sha256/{hex}/link")),
                    204,
                    None,
                ));
                v.push(internal(
                    ts - 3 * MS,
                    "REST.DELETE.OBJECT",
                    reg_key(name, &format!("_manifests/tags/{}/current/link", im.tag)),
                    204,
                    None,
                ));
                v.push(internal(
                    ts - 2 * MS,
                    "REST.DELETE.OBJECT",
                    reg_key(
                        name,
                        &format!("_manifests/tags/{}/index/sha256/{hex}/link", im.tag),
                    ),
                    204,
                    None,
                ));
            }
            Op::BlobHeadMissing { repo, blob } => {
                let hex = w.blobs[blob as usize].hex();
                v.push(internal(
                    ts - 2 * MS,
                    "REST.GET.OBJECT",
                    layer_link(repo_name(repo), &hex),
                    404,
                    None,
                ));
            }
            Op::BlobMissing { repo } => {
                let hex = hex::encode(http::unknown_digest(req.rid));
                v.push(internal(
                    ts - 2 * MS,
                    "REST.GET.OBJECT",
                    layer_link(repo_name(repo), &hex),
                    404,
                    None,
                ));
            }
            Op::UploadStart { repo, up } => {
                let u = fmtu::uuid_from(up);
                v.push(internal(
                    ts - 2 * MS,
                    "REST.PUT.OBJECT",
                    reg_key(repo_name(repo), &format!("_uploads/{u}/startedat")),
                    200,
                    Some(20),
                ));
            }
            Op::UploadPatch { repo, up, len } => {
                let u = fmtu::uuid_from(up);
                v.push(internal(
                    ts - 5 * MS,
                    "REST.PUT.OBJECT",
                    reg_key(repo_name(repo), &format!("_uploads/{u}/data")),
                    200,
                    Some(len),
                ));
            }
            Op::UploadPut { repo, up, blob } => {
                let b = &w.blobs[blob as usize];
                let hex = b.hex();
                let name = repo_name(repo);
                let u = fmtu::uuid_from(up);
                let src = reg_key(name, &format!("_uploads/{u}/data"));
                v.push(internal(
                    ts - 30 * MS,
                    "REST.COPY.OBJECT",
                    blob_key(&hex),
                    200,
                    Some(b.size),
                ));
                v.push(Rec {
                    ts: ts - 30 * MS,
                    client: reg,
                    op: "REST.COPY.OBJECT_GET",
                    key: src.clone(),
                    request: None,
                    status: 200,
                    error: "-",
                    bytes: None,
                    object_size: Some(b.size),
                    presigned: false,
                });
                v.push(internal(
                    ts - 12 * MS,
                    "REST.PUT.OBJECT",
                    layer_link(name, &hex),
                    200,
                    Some(71),
                ));
                for (i, k) in [src, reg_key(name, &format!("_uploads/{u}/startedat"))]
                    .into_iter()
                    .enumerate()
                {
                    v.push(Rec {
                        ts: ts - 8 * MS + i as i64 * MS,
                        client: reg,
                        op: "BATCH.DELETE.OBJECT",
                        key: k,
                        request: None,
                        status: 204,
                        error: "-",
                        bytes: None,
                        object_size: Some(if i == 0 { b.size } else { 20 }),
                        presigned: false,
                    });
                }
            }
            Op::Mount { repo, blob, from } => {
                let hex = w.blobs[blob as usize].hex();
                v.push(internal(
                    ts - 6 * MS,
                    "REST.GET.OBJECT",
                    layer_link(repo_name(from), &hex),
                    200,
                    Some(71),
                ));
                v.push(internal(
                    ts - 2 * MS,
                    "REST.PUT.OBJECT",
                    layer_link(repo_name(repo), &hex),
                    200,
                    Some(71),
                ));
            }
            Op::S3Revalidate { blob } => {
                let date = ts - rng.range(20 * NS, 18 * MIN);
                v.push(presigned(ts, "GET", blob, 304, None, date));
            }
            Op::S3Expired { blob } => {
                let date = ts - rng.range(21 * MIN, 70 * MIN);
                v.push(presigned(ts, "GET", blob, 403, Some(243), date));
            }
            Op::GcDelete { blob } => {
                let b = &w.blobs[blob as usize];
                v.push(internal(
                    ts,
                    "REST.DELETE.OBJECT",
                    blob_key(&b.hex()),
                    204,
                    None,
                ));
            }
            Op::BaseUnauth | Op::BaseOk => {}
        }
        if ctx.p.s3_internal < 1.0 {
            // The small preset renders only a share of the registry's own bookkeeping
            // (link reads and writes, upload scratch files) to stay small. Kept always:
            // client requests, errors, copies, deletes of blobs, and manifest content reads
            // behind a client GET.
            let head = matches!(
                req.op,
                Op::ManifestGet { head: true, .. } | Op::BlobHead { .. }
            );
            v.retain(|r| {
                r.presigned
                    || r.status >= 400
                    || r.op.starts_with("REST.COPY")
                    || (r.op == "REST.DELETE.OBJECT"
                        && r.key.starts_with("docker/registry/v2/blobs"))
                    || (r.op == "REST.GET.OBJECT"
                        && r.key.starts_with("docker/registry/v2/blobs")
                        && !head)
                    || rng.chance(ctx.p.s3_internal)
            });
        }
        v
    }

    fn render(&mut self, rec: &Rec, rng: &mut Rng) {
        let ctx = &self.ctx;
        let b = &mut self.buf;
        b.clear();
        let _ = write!(b, "{} {BUCKET} [", ctx.w.owner_id);
        fmtu::clf(b, rec.ts);
        let request_id: String = {
            let x = rng.next_u64();
            format!("{x:016X}")
        };
        let _ = write!(
            b,
            "] {} {REQUESTER} {request_id} {} {} ",
            rec.client.ip, rec.op, rec.key
        );
        let Some((method, uri)) = &rec.request else {
            // COPY_GET (18 fields) and BATCH.DELETE (24+) records.
            if rec.op == "REST.COPY.OBJECT_GET" {
                let _ = write!(
                    b,
                    "- {} - - {} - - - - -",
                    rec.status,
                    rec.object_size.unwrap_or(0)
                );
                return;
            }
            let _ = write!(
                b,
                "- {} - - {} - - - - - ",
                rec.status,
                rec.object_size.unwrap_or(0)
            );
            b.push_str(&fmtu::base64(&rng.bytes::<56>()));
            let _ = write!(
                b,
                " SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader {S3_HOST} TLSv1.2"
            );
            return;
        };
        let _ = write!(
            b,
            "\"{method} {uri} HTTP/1.1\" {} {} ",
            rec.status, rec.error
        );
        match rec.bytes {
            Some(n) if n > 0 => {
                let _ = write!(b, "{n} ");
            }
            _ => b.push_str("- "),
        }
        match rec.object_size {
            Some(n) => {
                let _ = write!(b, "{n} ");
            }
            None => b.push_str("- "),
        }
        let bytes = rec.bytes.unwrap_or(0);
        let total = 3 + bytes / (40_000 + rng.below(200_000)) + rng.below(25);
        let turn = 2 + rng.below(30);
        let _ = write!(b, "{total} ");
        if rec.status == 304 || rng.chance(0.1) {
            b.push_str("- ");
        } else {
            let _ = write!(b, "{turn} ");
        }
        b.push_str("\"-\" \"");
        b.push_str(&rec.client.ua);
        b.push_str("\" - ");
        b.push_str(&fmtu::base64(&rng.bytes::<56>()));
        let tls13 = rng.chance(0.7);
        let (cipher, tls) = if tls13 {
            ("TLS_AES_128_GCM_SHA256", "TLSv1.3")
        } else {
            ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2")
        };
        let auth = if rec.presigned {
            "QueryString"
        } else {
            "AuthHeader"
        };
        let _ = write!(b, " SigV4 {cipher} {auth} {S3_HOST} {tls}");
        // Field count: 27 mostly; some 26 and 24 (older writers) and some with an extra field.
        let region = if rec.client.in_aws || rec.client.kind == ClientKind::Registry {
            "us-east-1"
        } else {
            "-"
        };
        let x = rng.f64();
        if x < 0.06 {
            // 24 fields: ends at TLS version.
        } else if x < 0.20 {
            b.push_str(" - -");
        } else if x < 0.25 {
            let _ = write!(b, " - - {region} ");
        } else if x < 0.30 {
            let _ = write!(b, " - - {region} -");
        } else {
            let _ = write!(b, " - - {region}");
        }
    }

    /// Writes the records of one day's requests, closing files delivered before the day.
    pub(crate) fn write_day(&mut self, batch: &DayBatch) -> io::Result<()> {
        let ctx = Arc::clone(&self.ctx);
        self.close_before(batch.d0)?;
        for req in &batch.reqs {
            let mut rng = Rng::new(mix(req.rid, 0x53));
            let recs = self.records(&ctx, req, &mut rng);
            for rec in recs {
                if rec.presigned
                    && rec.op == "REST.GET.OBJECT"
                    && (rec.status == 200 || rec.status == 206)
                {
                    self.report.count("presigned_get_pulls");
                }
                self.render(&rec, &mut rng);
                let key = self.file_for(rec.ts, &mut rng);
                let name = self.file_name(key);
                let sink = match self.open.entry(key) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(Sink::create(&ctx.out, &name, ctx.s3_enc)?),
                };
                sink.good_line(&self.buf)?;
                if let Some(kind) = self.bad.due(sink) {
                    let line = malformed(&ctx, self.bad.rng(), rec.ts, kind);
                    self.report.bad_line(sink, &line, kind)?;
                }
            }
        }
        Ok(())
    }

    fn close_before(&mut self, t: i64) -> io::Result<()> {
        let keys: Vec<(i64, u32, u8)> = self.open.range(..(t, 0, 0)).map(|(k, _)| *k).collect();
        for k in keys {
            let s = self.open.remove(&k).expect("key listed");
            self.report.close(s)?;
        }
        Ok(())
    }

    /// Closes every open file.
    pub(crate) fn close_all(&mut self) -> io::Result<()> {
        self.close_before(i64::MAX)
    }
}

/// A malformed record of the given kind (an extra line, never a real request).
fn malformed(ctx: &Ctx, rng: &mut Rng, ts: i64, kind: Reject) -> String {
    let w = &ctx.w;
    let blob = &w.blobs[rng.index(w.blobs.len())];
    let client = &w.clients[w.humans[rng.index(w.humans.len())] as usize];
    let mut hex = blob.hex();
    if kind == Reject::BadDigest {
        hex.replace_range(30..32, "zz");
    }
    let key = blob_key(&hex);
    let mut time = String::new();
    fmtu::clf(&mut time, ts);
    if kind == Reject::BadTimestamp {
        time.replace_range(3..6, "Noe");
    }
    let rid = rng.next_u64();
    let mut l = format!(
        "{} {BUCKET} [{time}] {} {REQUESTER} {:016X} REST.GET.OBJECT {key}",
        w.owner_id,
        client.ip,
        rng.next_u64()
    );
    if kind == Reject::TooFewFields {
        return l;
    }
    let status = if kind == Reject::BadNumber {
        "2O0"
    } else {
        "200"
    };
    let _ = write!(
        l,
        " \"GET /{key}?{} HTTP/1.1\" {status} - {} {} 41 12 \"-\" \"{}",
        presign_query(ctx, ts, rid),
        blob.size,
        blob.size,
        client.ua
    );
    if kind == Reject::BadQuoting {
        // The User-Agent quote is never closed.
        let _ = write!(
            l,
            " - {} SigV4 TLS_AES_128_GCM_SHA256 QueryString {S3_HOST} TLSv1.3 - - -",
            fmtu::base64(&rng.bytes::<56>())
        );
        return l;
    }
    let _ = write!(
        l,
        "\" - {} SigV4 TLS_AES_128_GCM_SHA256 QueryString {S3_HOST} TLSv1.3 - - -",
        fmtu::base64(&rng.bytes::<56>())
    );
    l
}

impl crate::DayWriter for S3Writer {
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
