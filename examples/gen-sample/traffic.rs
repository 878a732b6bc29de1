//! The event model: one [`Req`] per HTTP request to the registry (or, for a few kinds, to S3
//! only), generated day by day. Every renderer turns the same `Req`s into its own format, so
//! the formats agree on pulls by construction.
//!
//! A day's requests come from sessions: image pushes (with the rollouts, scans and mirror
//! copies they trigger), CI builds, developers, Kubernetes nodes, scheduled scanners, and noise
//! (404s, unauthenticated probes, aborted uploads). Sessions that start late in a day spill into
//! the next one; the caller carries those requests over.

use crate::fmtu::{DAY, NS};
use crate::rng::{mix, Rng, Weighted};
use crate::world::{BlobKind, ClientKind, PushStep, Style};
use crate::Ctx;

const MS: i64 = 1_000_000;
const MIN: i64 = 60 * NS;
const HOUR: i64 = 3600 * NS;

/// How a manifest is addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum By {
    /// The moving `latest` tag.
    Latest,
    /// The image's version tag.
    Tag,
    /// The manifest digest.
    Digest,
}

/// Which part of a blob a GET transferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The whole blob.
    Full,
    /// Aborted after this many bytes (S3 still logs 200).
    Cut(u64),
    /// A `Range: bytes=<offset>-` resume (S3 206).
    Resume(u64),
}

/// What a request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `GET /v2/` without credentials: 401.
    BaseUnauth,
    /// `GET /v2/`: 200.
    BaseOk,
    /// `GET`/`HEAD /v2/<repo>/manifests/<ref>`: 200.
    ManifestGet { img: u32, by: By, head: bool },
    /// `GET /v2/<repo>/manifests/<typo>`: 404.
    ManifestMissing { repo: u32, tag: u8 },
    /// `PUT /v2/<repo>/manifests/<tag>`: 201 (version tag, or `latest`).
    ManifestPut { img: u32, latest: bool },
    /// `DELETE /v2/<repo>/manifests/<digest>`: 202.
    ManifestDelete { img: u32 },
    /// `GET /v2/<repo>/blobs/<digest>`: 307 to S3 (a pull).
    BlobGet { repo: u32, blob: u32, part: Part },
    /// `HEAD /v2/<repo>/blobs/<digest>` of a linked blob: 307.
    BlobHead { repo: u32, blob: u32 },
    /// `HEAD /v2/<repo>/blobs/<digest>` before an upload or mount: 404.
    BlobHeadMissing { repo: u32, blob: u32 },
    /// `GET /v2/<repo>/blobs/<digest>` of an unknown digest (derived from the request): 404.
    BlobMissing { repo: u32 },
    /// `POST /v2/<repo>/blobs/uploads/`: 202.
    UploadStart { repo: u32, up: u64 },
    /// `PATCH /v2/<repo>/blobs/uploads/<uuid>?_state=…`: 202.
    UploadPatch { repo: u32, up: u64, len: u64 },
    /// `PUT /v2/<repo>/blobs/uploads/<uuid>?_state=…&digest=…`: 201.
    UploadPut { repo: u32, up: u64, blob: u32 },
    /// `POST /v2/<repo>/blobs/uploads/?mount=…&from=…`: 201.
    Mount { repo: u32, blob: u32, from: u32 },
    /// S3 only: the client re-sends a still-valid presigned GET with `If-None-Match`: 304.
    S3Revalidate { blob: u32 },
    /// S3 only: the client re-uses an expired presigned URL: 403.
    S3Expired { blob: u32 },
    /// S3 only: offline garbage collection deletes a blob.
    GcDelete { blob: u32 },
}

impl Op {
    /// Whether the registry saw the request (false for S3-only requests).
    pub(crate) fn is_registry(&self) -> bool {
        !matches!(
            self,
            Op::S3Revalidate { .. } | Op::S3Expired { .. } | Op::GcDelete { .. }
        )
    }
}

/// One request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Req {
    /// When it was logged (ns since the epoch, UTC); all formats use this instant.
    pub(crate) ts: i64,
    /// Seed for every per-request random field (request ID, port, duration, …).
    pub(crate) rid: u64,
    pub(crate) client: u32,
    /// Registry instance (0 direct, 1 behind nginx).
    pub(crate) inst: u8,
    pub(crate) op: Op,
}

/// The upload ID (seed of the upload UUID) of push step `step` of image `img`.
pub(crate) fn upload_id(seed: u64, img: u32, step: usize) -> u64 {
    mix(seed ^ 0x9A, (u64::from(img) << 16) | step as u64)
}

/// Typos used by 404 manifest requests.
pub(crate) const TYPO_TAGS: [&str; 4] = ["lastest", "v0.0.0", "main", "prod"];

struct Out<'a> {
    v: &'a mut Vec<Req>,
    rng: Rng,
    client: u32,
    inst: u8,
}

impl Out<'_> {
    fn emit(&mut self, ts: i64, op: Op) {
        let rid = self.rng.next_u64();
        self.v.push(Req {
            ts,
            rid,
            client: self.client,
            inst: self.inst,
            op,
        });
    }
}

/// What a client already has.
#[derive(Clone, Copy)]
struct Cache {
    /// Probability that only the manifest is fetched (image up to date).
    manifest_only: f64,
    /// Probability that a base layer is already present.
    base_hit: f64,
    /// Probability that any other blob is already present.
    other_hit: f64,
}

const NO_CACHE: Cache = Cache {
    manifest_only: 0.0,
    base_hit: 0.0,
    other_hit: 0.0,
};

/// Hour-of-day weights (UTC) for interactive and CI traffic.
const BUSINESS: [f64; 24] = [
    0.3, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.2, 1.8, 2.2, 2.4, 2.3, 2.0, 2.2, 2.4, 2.3, 2.0, 1.6, 1.2,
    0.9, 0.7, 0.5, 0.4, 0.3,
];

/// Generates the requests of sessions that start on day `day`.
pub(crate) fn gen_day(ctx: &Ctx, day: u32, rate: f64, v: &mut Vec<Req>) {
    let w = &ctx.w;
    let d0 = ctx.win.start + i64::from(day) * DAY;
    let d1 = d0 + DAY;
    let last = day + 1 == ctx.win.days;
    // On the last day no session may spill past the window.
    let start_limit = if last { d1 - 20 * MIN } else { d1 };
    let mut rng = Rng::stream(ctx.seed, "day", u64::from(day));
    let weekday = (d0.div_euclid(DAY) + 3).rem_euclid(7); // 0 = Monday
    let weekend = weekday >= 5;
    let wk = if weekend { 0.35 } else { 1.0 };
    let hours = Weighted::new(BUSINESS);
    let biz_time = |rng: &mut Rng| -> i64 {
        let h = hours.sample(rng) as i64;
        (d0 + h * HOUR + rng.range(0, HOUR)).min(start_limit - rng.range(MIN, 10 * MIN))
    };
    let any_time = |rng: &mut Rng| -> i64 { rng.range(d0, start_limit - 5 * MIN) };

    // ---- pushes of images pushed today, and what follows them ----
    let first = w.images.partition_point(|i| i.pushed < d0);
    let end = w.images.partition_point(|i| i.pushed < d1);
    for img in first..end {
        let img = img as u32;
        push_session(ctx, &mut rng, v, img, d0);
        let im = &w.images[img as usize];
        let is_gc = img == w.gc_image;
        // Rollout to nodes.
        let n_nodes = if is_gc || img == w.late_image {
            2
        } else {
            rng.around(ctx.p.rollout_nodes)
        };
        let mut t = im.pushed + rng.range(2 * MIN, 20 * MIN);
        for _ in 0..n_nodes {
            if t >= start_limit {
                break;
            }
            let node = *rng.pick(&w.nodes);
            let cache = Cache {
                manifest_only: 0.0,
                base_hit: 0.8,
                other_hit: 0.4,
            };
            pull_image(ctx, &mut rng, v, t, node, img, cache);
            t += rng.range(5 * NS, 3 * MIN);
        }
        // Registry scanning on push (Amazon Inspector).
        if rng.chance(0.6) {
            let t = im.pushed + rng.range(MIN, 8 * MIN);
            if t < start_limit {
                let s = w.scanners[3 + rng.index(2)];
                pull_image(ctx, &mut rng, v, t, s, img, NO_CACHE);
            }
        }
        // Mirror copy.
        if rng.chance(0.3) {
            let t = im.pushed + rng.range(HOUR, 6 * HOUR);
            if t < start_limit {
                let m = *rng.pick(&w.mirrors);
                pull_image(ctx, &mut rng, v, t, m, img, NO_CACHE);
            }
        }
    }

    // ---- aborted uploads ----
    for a in w
        .aborted
        .iter()
        .filter(|a| a.started >= d0 && a.started < d1)
    {
        let mut o = Out {
            v: &mut *v,
            rng: Rng::new(mix(ctx.seed, a.up)),
            client: a.client,
            inst: (a.up & 1) as u8,
        };
        o.emit(
            a.started,
            Op::UploadStart {
                repo: a.repo,
                up: a.up,
            },
        );
        o.emit(
            a.started + 2 * NS + (a.size as i64 / 40_000_000) * NS,
            Op::UploadPatch {
                repo: a.repo,
                up: a.up,
                len: a.size,
            },
        );
    }

    // ---- manifest deletion and garbage collection ----
    let gi = &w.images[w.gc_image as usize];
    if let Some(del) = gi.deleted.filter(|&t| t >= d0 && t < d1) {
        let mut o = Out {
            v: &mut *v,
            rng: Rng::new(rng.next_u64()),
            client: w.humans[0],
            inst: 0,
        };
        o.emit(del - 400 * MS, Op::BaseOk);
        o.emit(del, Op::ManifestDelete { img: w.gc_image });
    }
    let mut gc_t = 0;
    for (b, blob) in w.blobs.iter().enumerate() {
        if let Some(t) = blob.gc.filter(|&t| t >= d0 && t < d1) {
            let mut o = Out {
                v: &mut *v,
                rng: Rng::new(mix(ctx.seed ^ 0x6C, b as u64)),
                client: w.registry[0],
                inst: 0,
            };
            o.emit(t + gc_t * 70 * MS, Op::GcDelete { blob: b as u32 });
            gc_t += 1;
        }
    }

    // ---- popularity over the images that can be pulled today ----
    let pullable: Vec<u32> = (0..first as u32)
        .filter(|&i| w.images[i as usize].deleted.is_none_or(|t| t > d1))
        .collect();
    if pullable.is_empty() {
        return;
    }
    let weights = Weighted::new(pullable.iter().map(|&i| {
        let im = &w.images[i as usize];
        let age = (d0 - im.pushed) as f64 / DAY as f64;
        let latest = w.latest_at(im.repo, d0) == Some(i);
        im.pop * ((-age / 18.0).exp() + 0.012) * if latest { 2.5 } else { 1.0 }
    }));
    let app_repos: Vec<u32> = (0..w.repos.len() as u32)
        .filter(|&r| !w.repos[r as usize].is_base)
        .collect();
    let repo_w = Weighted::new(app_repos.iter().map(|&r| w.repos[r as usize].activity));

    // ---- CI builds: base image + cache-from image, no local cache ----
    for _ in 0..rng.around(rate * 0.22 * wk) {
        let r = app_repos[repo_w.sample(&mut rng)];
        let t = biz_time(&mut rng);
        let client = w.repos[r as usize].ci;
        let mut t2 = t;
        if let Some(br) = w.repos[r as usize].base_repo {
            if let Some(bi) = w.latest_at(br, t) {
                t2 = pull_image(ctx, &mut rng, v, t, client, bi, NO_CACHE);
            }
        }
        if rng.chance(0.5) {
            if let Some(ai) = w.latest_at(r, t) {
                if w.images[ai as usize].pushed < d0 {
                    let t3 = t2 + rng.range(MIN, 5 * MIN);
                    pull_image(ctx, &mut rng, v, t3, client, ai, NO_CACHE);
                }
            }
        }
    }

    // ---- developers ----
    for _ in 0..rng.around(rate * 0.4 * wk) {
        let img = pullable[weights.sample(&mut rng)];
        let t = biz_time(&mut rng);
        let h = *rng.pick(&w.humans);
        let cache = Cache {
            manifest_only: 0.45,
            base_hit: 0.75,
            other_hit: 0.3,
        };
        pull_image(ctx, &mut rng, v, t, h, img, cache);
    }

    // ---- Kubernetes nodes (rescheduling, scale-ups, imagePullPolicy: Always) ----
    for _ in 0..rng.around(rate * 0.3 * if weekend { 0.8 } else { 1.0 }) {
        let img = pullable[weights.sample(&mut rng)];
        let t = any_time(&mut rng);
        let n = *rng.pick(&w.nodes);
        let cache = Cache {
            manifest_only: 0.5,
            base_hit: 0.8,
            other_hit: 0.35,
        };
        pull_image(ctx, &mut rng, v, t, n, img, cache);
    }

    // ---- scheduled scanners: latest image of a rotating subset of repositories ----
    let n_repos = w.repos.len();
    let schedule: [(usize, u32, i64, f64); 4] = [
        (0, 1, 2, 1.0), // Trivy daily 02:00
        (1, 7, 4, 2.0), // grype weekly 04:00
        (2, 3, 5, 1.0), // clair every 3 days 05:00
        (3, 1, 6, 0.5), // Inspector re-scan daily 06:00
    ];
    for (s, every, hour, mult) in schedule {
        if day % every != (s as u32) % every {
            continue;
        }
        let k = rng.around(ctx.p.scanner_repos * mult).min(n_repos);
        let mut t = d0 + hour * HOUR + rng.range(0, 30 * MIN);
        let offset = (day as usize * k + s * 7) % n_repos;
        let client = if s == 3 {
            w.scanners[3 + rng.index(2)]
        } else {
            w.scanners[s]
        };
        for j in 0..k {
            let r = ((offset + j) % n_repos) as u32;
            if let Some(img) = w.latest_at(r, d0) {
                if t < start_limit {
                    t = pull_image(ctx, &mut rng, v, t, client, img, NO_CACHE)
                        + rng.range(NS, 20 * NS);
                }
            }
        }
    }

    // ---- mirror sync of popular images ----
    for _ in 0..rng.around(rate * 0.02) {
        let img = pullable[weights.sample(&mut rng)];
        let m = *rng.pick(&w.mirrors);
        let t = any_time(&mut rng);
        pull_image(ctx, &mut rng, v, t, m, img, NO_CACHE);
    }

    // ---- noise: typos and stale digests ----
    for _ in 0..rng.around(rate * 0.04 + 0.3) {
        let h = *rng.pick(&w.humans);
        let mut o = Out {
            v: &mut *v,
            rng: Rng::new(rng.next_u64()),
            client: h,
            inst: rng.below(2) as u8,
        };
        let t = biz_time(&mut rng);
        o.emit(t, Op::BaseUnauth);
        let repo = rng.index(n_repos) as u32;
        let tag = rng.below(TYPO_TAGS.len() as u64) as u8;
        o.emit(
            t + rng.range(200 * MS, 900 * MS),
            Op::ManifestMissing { repo, tag },
        );
    }
    for _ in 0..rng.around(rate * 0.015 + 0.1) {
        let n = *rng.pick(&w.nodes);
        let mut o = Out {
            v: &mut *v,
            rng: Rng::new(rng.next_u64()),
            client: n,
            inst: rng.below(2) as u8,
        };
        let repo = rng.index(n_repos) as u32;
        o.emit(any_time(&mut rng), Op::BlobMissing { repo });
    }

    // ---- a client retrying `GET /v2/` without credentials (broken credential helper) ----
    if !last
        && ctx
            .p
            .storms
            .iter()
            .any(|&f| (f64::from(ctx.win.days) * f) as u32 == day)
    {
        let c = w.ci[rng.index(w.ci.len())];
        let mut o = Out {
            v: &mut *v,
            rng: Rng::new(rng.next_u64()),
            client: c,
            inst: 0,
        };
        let mut t = d0 + rng.range(8 * HOUR, 15 * HOUR);
        for _ in 0..rng.range(250, 270) {
            o.emit(t, Op::BaseUnauth);
            t += rng.range(7 * NS, 12 * NS);
        }
    }

    // ---- pulls exactly at the day boundary ----
    if !last && (day % 9 == 4 || day % 9 == 7) {
        let img = pullable[weights.sample(&mut rng)];
        let im = &w.images[img as usize];
        let client = w.ci[rng.index(w.ci.len())];
        let repo = im.repo;
        let mut o = Out {
            v: &mut *v,
            rng: Rng::new(rng.next_u64()),
            client,
            inst: 0,
        };
        let blobs: Vec<u32> = std::iter::once(im.config)
            .chain(im.layers.iter().copied())
            .collect();
        let times: [i64; 3] = if day % 9 == 4 {
            [d1 - 1, d1, d1 + 300 * MS]
        } else {
            [d1 - NS, d1 - NS + 450 * MS, d1]
        };
        o.emit(
            d1 - 1200 * MS,
            Op::ManifestGet {
                img,
                by: By::Tag,
                head: false,
            },
        );
        for (b, t) in blobs.iter().zip(times) {
            o.emit(
                t,
                Op::BlobGet {
                    repo,
                    blob: *b,
                    part: Part::Full,
                },
            );
        }
    }
}

/// A push by the repository's CI runner ending with the manifest PUT at `pushed`.
fn push_session(ctx: &Ctx, rng: &mut Rng, v: &mut Vec<Req>, img: u32, d0: i64) {
    let w = &ctx.w;
    let im = &w.images[img as usize];
    let repo = im.repo;
    let client = w.repos[repo as usize].ci;
    let mut plan: Vec<(i64, Op)> = Vec::new();
    let mut t: i64 = 0;
    let step = |plan: &mut Vec<(i64, Op)>, t: &mut i64, gap: i64, op: Op| {
        *t += gap;
        plan.push((*t, op));
    };
    step(&mut plan, &mut t, 0, Op::BaseUnauth);
    step(&mut plan, &mut t, rng.range(50 * MS, 300 * MS), Op::BaseOk);
    for (i, &(blob, st)) in im.steps.iter().enumerate() {
        let up = upload_id(ctx.seed, img, i);
        let g = rng.range(20 * MS, 250 * MS);
        match st {
            PushStep::InRepo => step(&mut plan, &mut t, g, Op::BlobHead { repo, blob }),
            PushStep::Mount(from) => {
                step(&mut plan, &mut t, g, Op::BlobHeadMissing { repo, blob });
                step(
                    &mut plan,
                    &mut t,
                    rng.range(20 * MS, 90 * MS),
                    Op::Mount { repo, blob, from },
                );
            }
            PushStep::New => {
                let size = w.blobs[blob as usize].size;
                step(&mut plan, &mut t, g, Op::BlobHeadMissing { repo, blob });
                step(
                    &mut plan,
                    &mut t,
                    rng.range(20 * MS, 90 * MS),
                    Op::UploadStart { repo, up },
                );
                // 20-120 MB/s upload.
                let dur = (size as f64 / rng.uniform(20e6, 120e6) * 1e9) as i64 + 30 * MS;
                step(
                    &mut plan,
                    &mut t,
                    dur,
                    Op::UploadPatch {
                        repo,
                        up,
                        len: size,
                    },
                );
                step(
                    &mut plan,
                    &mut t,
                    rng.range(30 * MS, 400 * MS),
                    Op::UploadPut { repo, up, blob },
                );
            }
        }
    }
    step(
        &mut plan,
        &mut t,
        rng.range(50 * MS, 300 * MS),
        Op::ManifestPut { img, latest: false },
    );
    let total = t;
    // Map relative times so that the manifest PUT lands exactly at `pushed`, without starting
    // before the day (the previous day's requests are already written).
    let avail = im.pushed - d0;
    let scale = if total > avail {
        avail as f64 / total as f64
    } else {
        1.0
    };
    let mut o = Out {
        v: &mut *v,
        rng: Rng::new(rng.next_u64()),
        client,
        inst: rng.below(2) as u8,
    };
    for (rt, op) in plan {
        let back = ((total - rt) as f64 * scale) as i64;
        o.emit(im.pushed - back, op);
    }
    o.emit(
        im.pushed + rng.range(20 * MS, 80 * MS),
        Op::ManifestPut { img, latest: true },
    );
}

/// One client pulls one image starting at `t`; returns when it finished.
fn pull_image(
    ctx: &Ctx,
    rng: &mut Rng,
    v: &mut Vec<Req>,
    t: i64,
    client: u32,
    img: u32,
    cache: Cache,
) -> i64 {
    let w = &ctx.w;
    let c = &w.clients[client as usize];
    let im = &w.images[img as usize];
    let repo = im.repo;
    let is_latest = w.latest_at(repo, t) == Some(img);
    let by_tag = if is_latest && rng.chance(0.6) {
        By::Latest
    } else {
        By::Tag
    };
    let mut o = Out {
        v: &mut *v,
        rng: Rng::new(rng.next_u64()),
        client,
        inst: rng.below(2) as u8,
    };
    let mut t = t;
    let gap = |rng: &mut Rng, lo: i64, hi: i64| rng.range(lo * MS, hi * MS);
    let manifest_only = rng.chance(cache.manifest_only);
    match c.style {
        Style::Docker => {
            if rng.chance(0.5) {
                o.emit(t, Op::BaseUnauth);
                t += gap(rng, 30, 200);
            }
            if rng.chance(0.3) {
                o.emit(t, Op::BaseOk);
                t += gap(rng, 20, 150);
            }
            let by = if rng.chance(0.08) { By::Digest } else { by_tag };
            o.emit(
                t,
                Op::ManifestGet {
                    img,
                    by,
                    head: false,
                },
            );
        }
        Style::Containerd => {
            o.emit(
                t,
                Op::ManifestGet {
                    img,
                    by: by_tag,
                    head: true,
                },
            );
            if manifest_only {
                return t;
            }
            t += gap(rng, 10, 120);
            o.emit(
                t,
                Op::ManifestGet {
                    img,
                    by: By::Digest,
                    head: false,
                },
            );
        }
        Style::Scanner => {
            let by = if rng.chance(0.6) { By::Digest } else { by_tag };
            o.emit(
                t,
                Op::ManifestGet {
                    img,
                    by,
                    head: false,
                },
            );
        }
        Style::Mirror => {
            if c.ua.starts_with("crane") {
                o.emit(
                    t,
                    Op::ManifestGet {
                        img,
                        by: By::Tag,
                        head: true,
                    },
                );
                t += gap(rng, 10, 80);
                o.emit(
                    t,
                    Op::ManifestGet {
                        img,
                        by: By::Digest,
                        head: false,
                    },
                );
            } else {
                o.emit(
                    t,
                    Op::ManifestGet {
                        img,
                        by: By::Tag,
                        head: false,
                    },
                );
            }
        }
    }
    if manifest_only {
        return t;
    }
    let mut wanted: Vec<u32> = Vec::with_capacity(im.layers.len() + 1);
    if !rng.chance(cache.other_hit * 0.5) {
        wanted.push(im.config);
    }
    for &l in &im.layers {
        let hit = if w.blobs[l as usize].base {
            cache.base_hit
        } else {
            cache.other_hit
        };
        if !rng.chance(hit) {
            wanted.push(l);
        }
    }
    if wanted.is_empty() {
        wanted.push(*im.layers.last().unwrap_or(&im.config));
    }
    for b in wanted {
        t += gap(rng, 20, 400);
        let blob = &w.blobs[b as usize];
        if rng.chance(0.015) {
            o.emit(t, Op::BlobHead { repo, blob: b });
            t += gap(rng, 5, 60);
        }
        if blob.kind == BlobKind::Layer && blob.size > 64 << 20 && rng.chance(0.04) {
            let cut = (blob.size as f64 * rng.uniform(0.05, 0.9)) as u64;
            o.emit(
                t,
                Op::BlobGet {
                    repo,
                    blob: b,
                    part: Part::Cut(cut),
                },
            );
            t += rng.range(NS, 6 * NS);
            o.emit(
                t,
                Op::BlobGet {
                    repo,
                    blob: b,
                    part: Part::Resume(cut),
                },
            );
            continue;
        }
        o.emit(
            t,
            Op::BlobGet {
                repo,
                blob: b,
                part: Part::Full,
            },
        );
        if c.kind != ClientKind::Scanner && rng.chance(0.012) {
            o.emit(
                t + rng.range(30 * NS, 15 * MIN),
                Op::S3Revalidate { blob: b },
            );
        } else if rng.chance(0.004) {
            o.emit(t + rng.range(25 * MIN, 70 * MIN), Op::S3Expired { blob: b });
        }
    }
    t
}
