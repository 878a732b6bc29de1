//! The static model: repositories, images, blobs and clients of one registry, built once from
//! the seed. Memory is proportional to the number of images and clients, never to traffic.
//!
//! Invariants: every blob is created by the first image push that contains it (`created`);
//! images are pushed in time order; an image's blobs are either new, already linked in its
//! repository, or mounted from its base repository. Two special images exist: one deleted
//! (and its unique blobs garbage-collected) before the last inventory snapshot, and one pushed
//! on the last day after the snapshot, so some pulled digests are absent from it.

use std::collections::HashSet;

use crate::fmtu::{DAY, NS};
use crate::rng::{mix, Rng};
use crate::Params;

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What a blob holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlobKind {
    /// A filesystem layer.
    Layer,
    /// An image config.
    Config,
    /// A manifest (stored as a blob too).
    Manifest,
}

/// One content-addressed blob in `registry-prod`.
#[derive(Debug)]
pub(crate) struct Blob {
    pub(crate) digest: [u8; 32],
    pub(crate) size: u64,
    pub(crate) kind: BlobKind,
    /// First push (ns since epoch).
    pub(crate) created: i64,
    /// When garbage collection deleted it, if ever.
    pub(crate) gc: Option<i64>,
    /// A layer of a base image (shared across repositories).
    pub(crate) base: bool,
}

impl Blob {
    /// Lower-case hex of the digest.
    pub(crate) fn hex(&self) -> String {
        hex::encode(self.digest)
    }
}

/// How a push handles one blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PushStep {
    /// Uploaded (HEAD 404, POST, PATCH, PUT).
    New,
    /// Already linked in the repository (HEAD 307).
    InRepo,
    /// Cross-repository mount from the given repository (HEAD 404, POST ?mount=).
    Mount(u32),
}

/// One image (manifest + config + layers) under one version tag.
#[derive(Debug)]
pub(crate) struct Image {
    pub(crate) repo: u32,
    pub(crate) tag: String,
    pub(crate) manifest: u32,
    pub(crate) config: u32,
    pub(crate) layers: Vec<u32>,
    /// The repository's dependencies layer (app images only).
    pub(crate) deps: Option<u32>,
    pub(crate) pushed: i64,
    /// Zipf popularity (unnormalised).
    pub(crate) pop: f64,
    /// OCI manifest (else Docker v2 schema 2).
    pub(crate) oci: bool,
    pub(crate) steps: Vec<(u32, PushStep)>,
    /// When its manifest was deleted through the API.
    pub(crate) deleted: Option<i64>,
}

impl Image {
    /// The manifest media type.
    pub(crate) fn media_type(&self) -> &'static str {
        if self.oci {
            "application/vnd.oci.image.manifest.v1+json"
        } else {
            "application/vnd.docker.distribution.manifest.v2+json"
        }
    }
}

/// A repository.
#[derive(Debug)]
pub(crate) struct Repo {
    pub(crate) name: String,
    pub(crate) is_base: bool,
    /// Image indices in push order.
    pub(crate) images: Vec<u32>,
    pub(crate) base_repo: Option<u32>,
    /// The CI runner that builds it.
    pub(crate) ci: u32,
    pub(crate) activity: f64,
}

/// Client classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// CI runners: few addresses, no cache, pull base images on every build.
    Ci,
    /// Kubernetes nodes (containerd, CRI-O) with a local cache.
    Node,
    /// Developers with Docker or Podman.
    Human,
    /// Vulnerability scanners that re-pull much of the registry.
    Scanner,
    /// Mirroring jobs (skopeo, crane).
    Mirror,
    /// The registry's own S3 client.
    Registry,
}

/// How a client talks to the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `GET /v2/`, `GET manifests/<tag>`, blobs.
    Docker,
    /// `HEAD manifests/<tag>`, `GET manifests/<digest>`, blobs.
    Containerd,
    /// `GET manifests/<digest or tag>`, config and every layer.
    Scanner,
    /// skopeo and crane.
    Mirror,
}

/// One client (one address).
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) kind: ClientKind,
    pub(crate) ip: String,
    pub(crate) v6: bool,
    pub(crate) ua: String,
    pub(crate) style: Style,
    pub(crate) actor: Option<String>,
    /// Requests to S3 come from inside AWS (the `Source region` field is set).
    pub(crate) in_aws: bool,
    /// Go HTTP client (the registry's own access log shows `HTTP/2.0`).
    pub(crate) h2: bool,
}

/// An upload that was started and never finished (left under `_uploads/`).
#[derive(Debug)]
pub(crate) struct Aborted {
    pub(crate) repo: u32,
    pub(crate) up: u64,
    pub(crate) started: i64,
    pub(crate) size: u64,
    pub(crate) client: u32,
}

/// The whole static model.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) repos: Vec<Repo>,
    pub(crate) images: Vec<Image>,
    pub(crate) blobs: Vec<Blob>,
    pub(crate) clients: Vec<Client>,
    pub(crate) ci: Vec<u32>,
    pub(crate) nodes: Vec<u32>,
    pub(crate) humans: Vec<u32>,
    pub(crate) scanners: Vec<u32>,
    pub(crate) mirrors: Vec<u32>,
    /// The registry instances' own S3 client (instance 0, 1).
    pub(crate) registry: [u32; 2],
    pub(crate) aborted: Vec<Aborted>,
    /// Bucket owner canonical ID.
    pub(crate) owner_id: String,
    pub(crate) gc_image: u32,
    pub(crate) late_image: u32,
    /// Registry restarts per instance (ns); a new `instance.id` after each.
    pub(crate) restarts: [Vec<i64>; 2],
    /// When bucket versioning was enabled (older objects have the null version).
    pub(crate) versioning_on: i64,
}

/// Time frame of the model.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// First day's 00:00 UTC (ns).
    pub(crate) start: i64,
    /// The day after the last day, 00:00 UTC (ns).
    pub(crate) end: i64,
    pub(crate) days: u32,
}

impl Window {
    /// 00:00 UTC of the last day.
    pub(crate) fn last_day(&self) -> i64 {
        self.end - DAY
    }
}

const BASES: [(&str, &str); 8] = [
    ("base/debian", "bookworm"),
    ("base/alpine", "3.19"),
    ("base/python", "3.12"),
    ("base/node", "20"),
    ("base/golang", "1.22"),
    ("base/jdk", "21"),
    ("base/distroless", "static"),
    ("base/ubuntu", "jammy"),
];

const TEAMS: [&str; 12] = [
    "payments", "search", "identity", "platform", "data", "web", "ml", "growth", "infra", "team1",
    "team2", "team3",
];

const SERVICES: [&str; 18] = [
    "api",
    "web",
    "worker",
    "gateway",
    "auth",
    "billing",
    "ledger-service",
    "indexer",
    "scheduler",
    "notifier",
    "ingest",
    "reports",
    "frontend",
    "admin",
    "trainer",
    "feature-store",
    "cron",
    "exporter",
];

const CI_UAS: [&str; 5] = [
    "buildkit/v0.12.5",
    "containerd/1.7.13",
    "kaniko/v1.19.2",
    "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0-1014-aws os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))",
    "buildkit/v0.13.0",
];

const HUMAN_UAS: [&str; 6] = [
    "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0 os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))",
    "docker/25.0.3 go/go1.21.6 git-commit/f417435 kernel/6.6.12-linuxkit os/linux arch/arm64 UpstreamClient(Docker-Client/25.0.3 \\(darwin\\))",
    "podman/4.9.3",
    "docker/20.10.24 go/go1.19.7 git-commit/5d6db84 kernel/5.15.0-91-generic os/linux arch/amd64 UpstreamClient(Docker-Client/20.10.24 \\(linux\\))",
    "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/5.15.133.1-microsoft-standard-WSL2 os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(windows\\))",
    "podman/5.0.2",
];

const NODE_UAS: [&str; 3] = [
    "containerd/1.7.13",
    "cri-o/1.28.1 go/go1.20.10 os/linux arch/amd64",
    "containerd/v1.6.28",
];

const USERS: [&str; 10] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];

/// The registry's S3 client user agent (aws-sdk-go v1, as in distribution 2.8).
pub(crate) const REGISTRY_S3_UA: &str = "aws-sdk-go/1.44.327 (go1.20.8; linux; amd64)";

struct Spec {
    repo: u32,
    pushed: i64,
    special: Special,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    None,
    Gc,
    Late,
}

fn repo_names(n_app: usize, with_ml: bool, rng: &mut Rng) -> Vec<String> {
    let mut names = Vec::with_capacity(n_app);
    let mut combos: Vec<String> = TEAMS
        .iter()
        .flat_map(|t| SERVICES.iter().map(move |s| format!("{t}/{s}")))
        .collect();
    rng.shuffle(&mut combos);
    let extras = [
        "platform/tools/ci-runner",
        "data/pipelines/etl",
        "nginx-proxy",
    ];
    for (i, e) in extras.iter().enumerate() {
        if names.len() < n_app && i * 12 < n_app {
            names.push((*e).to_string());
        }
    }
    if with_ml && names.len() < n_app {
        names.push("ml/trainer".to_string());
    }
    let mut k = 0usize;
    while names.len() < n_app {
        if k < combos.len() {
            if !names.contains(&combos[k]) {
                names.push(combos[k].clone());
            }
        } else {
            names.push(format!(
                "team{}/{}",
                k / SERVICES.len() + 4,
                SERVICES[k % SERVICES.len()]
            ));
        }
        k += 1;
    }
    names.sort();
    names.dedup();
    names
}

fn v4(a: u32, b: u32, c: u32, d: u32) -> String {
    format!("{a}.{b}.{c}.{d}")
}

impl World {
    /// Builds the model.
    pub(crate) fn build(seed: u64, p: &Params, win: &Window) -> World {
        let mut rng = Rng::stream(seed, "world", 0);
        let hist_start = win.end - 400 * DAY;

        // ---- clients ----
        let mut clients = Vec::new();
        let mut add = |c: Client| {
            clients.push(c);
            (clients.len() - 1) as u32
        };
        let registry = [
            add(Client {
                kind: ClientKind::Registry,
                ip: "10.0.1.17".into(),
                v6: false,
                ua: REGISTRY_S3_UA.into(),
                style: Style::Docker,
                actor: None,
                in_aws: true,
                h2: false,
            }),
            add(Client {
                kind: ClientKind::Registry,
                ip: "10.0.2.23".into(),
                v6: false,
                ua: REGISTRY_S3_UA.into(),
                style: Style::Docker,
                actor: None,
                in_aws: true,
                h2: false,
            }),
        ];
        let ci: Vec<u32> = (0..p.ci)
            .map(|i| {
                let ua = CI_UAS[i % CI_UAS.len()];
                let i = i as u32;
                add(Client {
                    kind: ClientKind::Ci,
                    ip: v4(10, 40, i / 250, i % 250 + 10),
                    v6: false,
                    ua: ua.into(),
                    style: if ua.starts_with("docker") || ua.starts_with("kaniko") {
                        Style::Docker
                    } else {
                        Style::Containerd
                    },
                    actor: Some("ci-bot".into()),
                    in_aws: true,
                    h2: !ua.starts_with("docker"),
                })
            })
            .collect();
        let nodes: Vec<u32> = (0..p.nodes)
            .map(|i| {
                let v6 = i % 7 == 6;
                let iu = i as u32;
                let ip = if v6 {
                    format!("2001:db8:50::{:x}", iu + 0x100)
                } else {
                    v4(10, 50, iu / 250, iu % 250 + 2)
                };
                add(Client {
                    kind: ClientKind::Node,
                    ip,
                    v6,
                    ua: NODE_UAS[i % NODE_UAS.len()].into(),
                    style: Style::Containerd,
                    actor: None,
                    in_aws: true,
                    h2: true,
                })
            })
            .collect();
        let humans: Vec<u32> = (0..p.humans)
            .map(|i| {
                let v6 = i % 5 == 4;
                let iu = i as u32;
                let ip = if v6 {
                    format!(
                        "2001:db8:{:x}:{:x}::{:x}",
                        0x1000 + iu / 4096,
                        iu % 4096,
                        0x20 + iu % 200
                    )
                } else if iu < 200 {
                    v4(198, 51, 100, iu + 1)
                } else if iu < 400 {
                    v4(203, 0, 113, iu - 199)
                } else {
                    let k = iu - 400;
                    v4(100, 64 + k / 65_000, (k / 250) % 250, k % 250 + 1)
                };
                let ua = HUMAN_UAS[rng.index(HUMAN_UAS.len())];
                add(Client {
                    kind: ClientKind::Human,
                    ip,
                    v6,
                    ua: ua.into(),
                    style: Style::Docker,
                    actor: Some(format!("{}{}", USERS[i % USERS.len()], i / USERS.len())),
                    in_aws: false,
                    h2: ua.starts_with("docker"),
                })
            })
            .collect();
        let scanner_defs: [(&str, &str, bool); 5] = [
            ("10.60.0.11", "Trivy/0.48.3", true),
            ("10.60.0.12", "grype/0.74.0", true),
            ("10.60.0.13", "clair/4.7", true),
            (
                "192.0.2.44",
                "Amazon Inspector (inspector-scan/1.2.0)",
                false,
            ),
            (
                "2001:db8:a15::44",
                "Amazon Inspector (inspector-scan/1.2.0)",
                false,
            ),
        ];
        let scanners: Vec<u32> = scanner_defs
            .iter()
            .map(|(ip, ua, in_aws)| {
                add(Client {
                    kind: ClientKind::Scanner,
                    ip: (*ip).into(),
                    v6: ip.contains(':'),
                    ua: (*ua).into(),
                    style: Style::Scanner,
                    actor: Some("scanner".into()),
                    in_aws: *in_aws,
                    h2: true,
                })
            })
            .collect();
        let mirrors: Vec<u32> = [
            ("10.70.0.5", "skopeo/1.13.3"),
            ("10.70.0.6", "crane/v0.19.0 go-containerregistry/v0.19.0"),
        ]
        .iter()
        .map(|(ip, ua)| {
            add(Client {
                kind: ClientKind::Mirror,
                ip: (*ip).into(),
                v6: false,
                ua: (*ua).into(),
                style: Style::Mirror,
                actor: Some("mirror-bot".into()),
                in_aws: true,
                h2: true,
            })
        })
        .collect();

        // ---- repositories ----
        let n_base = p
            .base_repos
            .min(BASES.len())
            .min(p.repos.saturating_sub(1))
            .max(1);
        let n_app = p.repos - n_base;
        let mut repos: Vec<Repo> = BASES[..n_base]
            .iter()
            .map(|(name, _)| Repo {
                name: (*name).into(),
                is_base: true,
                images: Vec::new(),
                base_repo: None,
                ci: ci[0],
                activity: 1.0,
            })
            .collect();
        let mut ranks: Vec<usize> = (0..n_app).collect();
        rng.shuffle(&mut ranks);
        for (i, name) in repo_names(n_app, p.big_blobs, &mut rng)
            .into_iter()
            .enumerate()
        {
            let base_repo = if name.starts_with("base/") {
                None
            } else {
                Some(rng.index(n_base) as u32)
            };
            repos.push(Repo {
                name,
                is_base: false,
                images: Vec::new(),
                base_repo,
                ci: ci[rng.index(ci.len())],
                activity: 1.0 / (ranks[i] as f64 + 1.0).powf(0.9),
            });
        }

        // ---- image push times ----
        let mut specs: Vec<Spec> = Vec::new();
        for (r, _) in BASES[..n_base].iter().enumerate() {
            let mut t = hist_start + rng.range(0, 3 * DAY);
            while t < win.end - 2 * DAY {
                specs.push(Spec {
                    repo: r as u32,
                    pushed: t,
                    special: Special::None,
                });
                t += rng.range(25 * DAY, 60 * DAY);
            }
        }
        let act_sum: f64 = repos[n_base..].iter().map(|r| r.activity).sum();
        let app_images = (p.images_per_repo * n_app as f64).round() as usize;
        for (r, repo) in repos.iter().enumerate().skip(n_base) {
            let share = repo.activity / act_sum;
            let n = ((app_images as f64 * share).round() as usize).max(1);
            for _ in 0..n {
                specs.push(Spec {
                    repo: r as u32,
                    pushed: rng.range(hist_start + 5 * DAY, win.end - DAY - 2 * 3600 * NS),
                    special: Special::None,
                });
            }
        }
        // The image that gets deleted and garbage-collected, plus a successor so that it is
        // not `latest` when deleted.
        let gc_repo = (n_base + n_app / 2) as u32;
        let gc_push = win.start + (win.days as i64 / 8).max(1) * DAY + 10 * 3600 * NS;
        specs.push(Spec {
            repo: gc_repo,
            pushed: gc_push,
            special: Special::Gc,
        });
        specs.push(Spec {
            repo: gc_repo,
            pushed: gc_push + 2 * DAY + 3 * 3600 * NS,
            special: Special::None,
        });
        // The image pushed on the last day after the inventory snapshot (01:00Z).
        let late_repo = (n_base
            + (0..n_app)
                .max_by(|&a, &b| {
                    repos[n_base + a]
                        .activity
                        .total_cmp(&repos[n_base + b].activity)
                })
                .unwrap_or(0)) as u32;
        specs.push(Spec {
            repo: late_repo,
            pushed: win.last_day() + 9 * 3600 * NS + rng.range(0, 1800 * NS),
            special: Special::Late,
        });
        specs.sort_by_key(|s| (s.pushed, s.repo));

        // ---- materialise images and blobs ----
        let mut blobs: Vec<Blob> = Vec::new();
        let mut images: Vec<Image> = Vec::new();
        let mut linked: Vec<HashSet<u32>> = vec![HashSet::new(); repos.len()];
        let mut version = vec![(1u32, 0u32, 0u32); repos.len()];
        let mut gc_image = 0u32;
        let mut late_image = 0u32;
        let big_repo = repos.iter().position(|r| r.name == "ml/trainer");
        for spec in &specs {
            let r = spec.repo as usize;
            let t = spec.pushed;
            let prev = repos[r].images.last().map(|&i| &images[i as usize]);
            let mut layers: Vec<u32> = Vec::new();
            let mut is_base_layer: Vec<bool> = Vec::new();
            let mut deps_of = None;
            if repos[r].is_base {
                // OS layer, sometimes kept from the previous version, then runtime layers.
                match prev {
                    Some(pi) if rng.chance(0.3) => layers.push(pi.layers[0]),
                    _ => {
                        let s = rng_size(&mut rng, 28.0 * MIB, 0.6, 2.0 * MIB, 300.0 * MIB);
                        layers.push(new_blob(&mut blobs, &mut rng, s, BlobKind::Layer, t, true))
                    }
                }
                for _ in 0..rng.range(0, 3) {
                    let s = rng_size(&mut rng, 60.0 * MIB, 0.8, MIB, 900.0 * MIB);
                    layers.push(new_blob(&mut blobs, &mut rng, s, BlobKind::Layer, t, true));
                }
                is_base_layer.resize(layers.len(), true);
            } else {
                let br = repos[r].base_repo.expect("app repo has a base") as usize;
                let base_img = repos[br]
                    .images
                    .iter()
                    .rev()
                    .map(|&i| &images[i as usize])
                    .find(|i| i.pushed < t)
                    .or_else(|| repos[br].images.first().map(|&i| &images[i as usize]));
                if let Some(b) = base_img {
                    layers.extend_from_slice(&b.layers);
                }
                is_base_layer.resize(layers.len(), true);
                // Dependencies layer: shared with the previous image of the repo most of the time.
                let deps = match prev.and_then(|pi| pi.deps) {
                    Some(d) if spec.special != Special::Gc && rng.chance(0.7) => d,
                    _ => {
                        let s = rng_size(&mut rng, 35.0 * MIB, 1.2, 64.0 * KIB, 2.0 * GIB);
                        new_blob(&mut blobs, &mut rng, s, BlobKind::Layer, t, false)
                    }
                };
                layers.push(deps);
                is_base_layer.push(false);
                deps_of = Some(deps);
                if Some(r) == big_repo && p.big_blobs && rng.chance(0.5) {
                    let s = rng.uniform(5.2 * GIB, 7.5 * GIB);
                    layers.push(new_blob(&mut blobs, &mut rng, s, BlobKind::Layer, t, false));
                    is_base_layer.push(false);
                }
                for _ in 0..rng.range(1, 4) {
                    let s = if rng.chance(0.25) {
                        rng_size(&mut rng, 24.0 * KIB, 1.0, KIB, 127.0 * KIB)
                    } else {
                        rng_size(&mut rng, 2.0 * MIB, 2.0, KIB, 1.5 * GIB)
                    };
                    layers.push(new_blob(&mut blobs, &mut rng, s, BlobKind::Layer, t, false));
                    is_base_layer.push(false);
                }
            }
            let config_size = (KIB * 10f64.powf(rng.f64())).round();
            let config = new_blob(
                &mut blobs,
                &mut rng,
                config_size,
                BlobKind::Config,
                t,
                false,
            );
            let msize =
                (400 + 170 * (layers.len() as i64 + 1) + rng.range(-60, 60)).clamp(520, 2048);
            let manifest = new_blob(
                &mut blobs,
                &mut rng,
                msize as f64,
                BlobKind::Manifest,
                t,
                false,
            );

            let mut steps = Vec::with_capacity(layers.len() + 1);
            for (i, &b) in layers.iter().chain(std::iter::once(&config)).enumerate() {
                let step = if linked[r].contains(&b) {
                    PushStep::InRepo
                } else if blobs[b as usize].created < t
                    && is_base_layer.get(i).copied().unwrap_or(false)
                {
                    PushStep::Mount(repos[r].base_repo.unwrap_or(spec.repo))
                } else if blobs[b as usize].created < t {
                    PushStep::InRepo
                } else {
                    PushStep::New
                };
                steps.push((b, step));
                linked[r].insert(b);
            }

            let v = &mut version[r];
            let tag = if repos[r].is_base {
                let tm = crate::fmtu::tm(t);
                format!("{}-{:04}{:02}{:02}", BASES[r].1, tm.y, tm.mo, tm.d)
            } else if r % 3 == 2 {
                format!("sha-{}", &hex::encode(rng.bytes::<4>())[..7])
            } else {
                if rng.chance(0.15) {
                    v.1 += 1;
                    v.2 = 0;
                } else {
                    v.2 += 1;
                }
                format!("v{}.{}.{}", v.0, v.1, v.2)
            };
            let idx = images.len() as u32;
            images.push(Image {
                repo: spec.repo,
                tag,
                manifest,
                config,
                layers,
                deps: deps_of,
                pushed: t,
                pop: 0.0,
                oci: r.is_multiple_of(2),
                steps,
                deleted: None,
            });
            repos[r].images.push(idx);
            match spec.special {
                Special::Gc => gc_image = idx,
                Special::Late => late_image = idx,
                Special::None => {}
            }
        }

        // Popularity: Zipf over a random permutation of the images.
        let mut perm: Vec<usize> = (0..images.len()).collect();
        rng.shuffle(&mut perm);
        for (rank, &i) in perm.iter().enumerate() {
            images[i].pop = 1.0 / (rank as f64 + 1.0).powf(1.0);
        }

        // Deletion and garbage collection of the special image's unique blobs.
        let deleted = win.last_day() - 5 * DAY + 15 * 3600 * NS;
        let gc_time = deleted + 20 * 3600 * NS;
        images[gc_image as usize].deleted = Some(deleted);
        let gi = &images[gc_image as usize];
        let mut unique: Vec<u32> = vec![gi.manifest, gi.config];
        unique.extend(gi.layers.iter().copied().filter(|&b| {
            !blobs[b as usize].base
                && images
                    .iter()
                    .enumerate()
                    .all(|(j, im)| j as u32 == gc_image || !im.layers.contains(&b))
        }));
        for b in unique {
            blobs[b as usize].gc = Some(gc_time);
        }

        // Aborted uploads (left under `_uploads/`, purged after 7 days).
        let n_aborted = (p.repos / 8).max(3) + win.days as usize / 15;
        let aborted = (0..n_aborted)
            .map(|_| {
                let r = rng.range(n_base as i64, repos.len() as i64) as u32;
                Aborted {
                    repo: r,
                    up: rng.next_u64(),
                    started: rng.range(win.end - 45 * DAY, win.end - 2 * 3600 * NS),
                    size: rng_size(&mut rng, 8.0 * MIB, 1.5, 10.0 * KIB, 500.0 * MIB) as u64,
                    client: repos[r as usize].ci,
                }
            })
            .collect();

        let restarts = [0u64, 1].map(|i| {
            let mut r = Rng::stream(seed, "restarts", i);
            let mut v: Vec<i64> = (0..3)
                .map(|_| r.range(win.start + DAY, win.end - DAY))
                .collect();
            v.sort_unstable();
            v
        });

        World {
            repos,
            images,
            blobs,
            clients,
            ci,
            nodes,
            humans,
            scanners,
            mirrors,
            registry,
            aborted,
            owner_id: hex::encode(Rng::stream(seed, "owner", 0).bytes::<32>()),
            gc_image,
            late_image,
            restarts,
            versioning_on: win.end - 200 * DAY,
        }
    }

    /// The image a tag `latest` points to at time `t` (the newest pushed before `t`).
    pub(crate) fn latest_at(&self, repo: u32, t: i64) -> Option<u32> {
        let imgs = &self.repos[repo as usize].images;
        let n = imgs.partition_point(|&i| self.images[i as usize].pushed < t);
        imgs[..n]
            .iter()
            .rev()
            .copied()
            .find(|&i| self.images[i as usize].deleted.is_none_or(|d| d > t))
    }

    /// The instance ID of a registry instance at time `t` (changes at each restart).
    pub(crate) fn instance_id(&self, seed: u64, inst: u8, t: i64) -> String {
        let epoch = self.restarts[inst as usize].partition_point(|&r| r <= t) as u64;
        crate::fmtu::uuid_from(mix(seed ^ 0x1D, u64::from(inst) * 1000 + epoch))
    }
}

fn new_blob(
    blobs: &mut Vec<Blob>,
    rng: &mut Rng,
    size: f64,
    kind: BlobKind,
    created: i64,
    base: bool,
) -> u32 {
    blobs.push(Blob {
        digest: rng.bytes(),
        size: size.max(1.0) as u64,
        kind,
        created,
        gc: None,
        base,
    });
    (blobs.len() - 1) as u32
}

fn rng_size(rng: &mut Rng, median: f64, sigma: f64, lo: f64, hi: f64) -> f64 {
    rng.lognormal(median, sigma, lo, hi).round()
}
