//! `gen-sample`: a seeded, deterministic generator of synthetic but realistic input data for
//! blobtier: S3 server access logs, CNCF distribution JSON and combined access logs,
//! notification envelopes, and S3 Inventory reports (CSV and Parquet) of one registry bucket,
//! plus `expected.json`, the ground truth computed from the generator's own event model.
//!
//! It is an independent oracle: it does not use the blobtier library. The same arguments give
//! byte-identical output; nothing depends on the current date. Traffic is generated and
//! written day by day, so memory stays bounded at benchmark sizes.
//!
//! Usage (see `docs/sample-data.md`):
//! `cargo run --release --example gen-sample -- --size small --out sample-data`
// A developer tool: it reports progress on stderr and may stop on bad arguments.
#![allow(clippy::print_stderr, clippy::print_stdout, clippy::unwrap_used)]

mod fmtu;
mod http;
mod inventory;
mod notify;
mod registry;
mod rng;
mod s3log;
mod sink;
mod traffic;
mod world;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::error::Error;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

use crate::fmtu::{days_from_civil, ymd, DAY, NS};
use crate::sink::Report;
use crate::traffic::{Op, Req};
use crate::world::{ClientKind, Window, World};

/// Generate the synthetic sample data set (logs, inventory, expected.json)
///
/// The output is a deterministic function of the arguments. The generator owns `logs/`,
/// `inventory/`, `expected.json`, `expected-pulls.csv.gz` and `README.md` under `--out` and
/// replaces them; nothing else in the directory is touched.
#[derive(Debug, Parser)]
#[command(name = "gen-sample")]
struct Args {
    /// Preset volume: `small` is the committed demo set (< 4 MB); `medium` ~1 M and `large`
    /// ~50 M lines per registry format
    #[arg(long, value_enum, default_value_t = Size::Small)]
    size: Size,
    /// Target lines per registry format (overrides the preset's volume; at most 50 000 000)
    #[arg(long, value_name = "N")]
    lines_per_format: Option<u64>,
    /// Seed of every random choice
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Last day of traffic (UTC); the latest inventory snapshot is taken at 01:00Z that day
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2026-11-26")]
    end_date: NaiveDate,
    /// Number of days of traffic, ending with `--end-date`
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=400))]
    days: u32,
    /// Log formats to write, comma-separated (default: all four); the inventory and the
    /// ground truth are always written
    #[arg(long, value_enum, value_delimiter = ',', value_name = "FORMAT,...",
          default_values_t = Format::ALL)]
    formats: Vec<Format>,
    /// Compression of the S3 access log files (`none`: plain text, as S3 delivers them;
    /// `gzip` / `zstd` add `.gz` / `.zst` to the file names)
    #[arg(long, value_enum, default_value_t = S3Compress::None)]
    s3_compress: S3Compress,
    /// Output directory
    #[arg(long, value_name = "DIR", default_value = "sample-data")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Size {
    Small,
    Medium,
    Large,
}

/// A log format (`--formats`), in the order of `expected.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    S3Access,
    RegistryJson,
    RegistryCombined,
    Notifications,
}

impl Format {
    const ALL: [Format; 4] = [
        Format::S3Access,
        Format::RegistryJson,
        Format::RegistryCombined,
        Format::Notifications,
    ];

    fn name(self) -> &'static str {
        match self {
            Format::S3Access => "s3-access",
            Format::RegistryJson => "registry-json",
            Format::RegistryCombined => "registry-combined",
            Format::Notifications => "notifications",
        }
    }
}

/// Compression of the S3 access log files (`--s3-compress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum S3Compress {
    None,
    Gzip,
    Zstd,
}

impl Args {
    /// Which of `Format::ALL` are written.
    fn enabled(&self) -> [bool; 4] {
        Format::ALL.map(|f| self.formats.contains(&f))
    }

    /// The non-default options that change the output, as command-line text (empty by default).
    fn extra_args(&self) -> String {
        let mut s = String::new();
        if self.enabled() != [true; 4] {
            let names: Vec<&str> = Format::ALL
                .iter()
                .filter(|f| self.formats.contains(f))
                .map(|f| f.name())
                .collect();
            s.push_str(&format!("--formats {} ", names.join(",")));
        }
        match self.s3_compress {
            S3Compress::None => {}
            S3Compress::Gzip => s.push_str("--s3-compress gzip "),
            S3Compress::Zstd => s.push_str("--s3-compress zstd "),
        }
        s
    }
}

/// Volume and layout knobs, derived from `--size` / `--lines-per-format`.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) repos: usize,
    pub(crate) base_repos: usize,
    pub(crate) images_per_repo: f64,
    pub(crate) ci: usize,
    pub(crate) nodes: usize,
    pub(crate) humans: usize,
    /// Interactive/CI/node sessions per day (before weekday factors).
    pub(crate) rate: f64,
    /// Target registry-format lines (feedback-controlled rate) instead of a fixed rate.
    pub(crate) target_lines: Option<u64>,
    pub(crate) rollout_nodes: f64,
    pub(crate) scanner_repos: f64,
    pub(crate) big_blobs: bool,
    pub(crate) s3_slot_hours: i64,
    pub(crate) s3_incident_slot_hours: i64,
    pub(crate) s3_shards: u32,
    pub(crate) s3_p_late: f64,
    /// Delivery incidents: (start as a fraction of the window, length in days).
    pub(crate) s3_incidents: Vec<(f64, i64)>,
    /// Share of the registry-internal S3 reads (link lookups) that are rendered.
    pub(crate) s3_internal: f64,
    /// Days covered by one combined access log file.
    pub(crate) combined_roll_days: u32,
    /// Days covered by one notifications file.
    pub(crate) notify_roll_days: u32,
    /// Days with a storm of unauthenticated `GET /v2/` retries (fractions of the window).
    pub(crate) storms: Vec<f64>,
    pub(crate) gz_level: u32,
    pub(crate) zstd_level: i32,
    pub(crate) bad_every: u64,
    pub(crate) bad_p: f64,
    pub(crate) bad_p_s3: f64,
    pub(crate) inv_files: usize,
    pub(crate) parquet_files: usize,
}

impl Params {
    fn small() -> Self {
        Params {
            repos: 40,
            base_repos: 6,
            images_per_repo: 2.6,
            ci: 6,
            nodes: 24,
            humans: 60,
            rate: 3.0,
            target_lines: None,
            rollout_nodes: 1.2,
            scanner_repos: 0.35,
            big_blobs: false,
            s3_slot_hours: 8,
            s3_incident_slot_hours: 24 * 10,
            s3_shards: 1,
            s3_p_late: 0.0,
            s3_incidents: vec![(0.12, 10), (0.45, 10), (0.78, 10)],
            s3_internal: 0.35,
            notify_roll_days: 30,
            combined_roll_days: 7,
            storms: vec![0.08, 0.25, 0.41, 0.58, 0.74, 0.9],
            gz_level: 9,
            zstd_level: 19,
            bad_every: 250,
            bad_p: 1.0,
            bad_p_s3: 1.0,
            inv_files: 3,
            parquet_files: 2,
        }
    }

    fn lines(n: u64) -> Self {
        let scale = (n as f64 / 30_000.0).max(1.0);
        let repos = (40.0 * scale.powf(0.45)).clamp(40.0, 1500.0) as usize;
        let opportunities = (n as f64 / 250.0).max(1.0);
        Params {
            repos,
            base_repos: 8,
            images_per_repo: 5.0,
            ci: 6 + repos / 20,
            nodes: (24.0 * scale.powf(0.4)) as usize,
            humans: ((60.0 * scale.powf(0.5)) as usize).min(60_000),
            rate: 12.0 * scale,
            target_lines: Some(n),
            rollout_nodes: 1.5 * scale.powf(0.2),
            scanner_repos: (repos as f64 * 0.12).max(1.0),
            big_blobs: n >= 1_000_000,
            s3_slot_hours: 1,
            s3_incident_slot_hours: 1,
            s3_shards: (n / 2_000_000).clamp(1, 8) as u32,
            s3_p_late: 0.002,
            s3_incidents: vec![(0.22, 5), (0.64, 4)],
            s3_internal: 1.0,
            notify_roll_days: 1,
            combined_roll_days: 1,
            storms: vec![0.08, 0.25, 0.41, 0.58, 0.74, 0.9],
            gz_level: if n > 1_000_000 { 1 } else { 6 },
            zstd_level: 3,
            bad_every: 250,
            bad_p: (40.0 / opportunities).min(1.0),
            bad_p_s3: (40.0 / opportunities).min(1.0),
            inv_files: 3 + repos / 100,
            parquet_files: 2 + repos / 200,
        }
    }
}

/// Everything the writers share.
pub(crate) struct Ctx {
    pub(crate) seed: u64,
    pub(crate) p: Params,
    pub(crate) w: World,
    pub(crate) win: Window,
    pub(crate) out: PathBuf,
    pub(crate) access_key: String,
    /// Compression of the S3 access log files.
    pub(crate) s3_enc: sink::Enc,
}

/// A per-format renderer fed with day batches in order.
pub(crate) trait DayWriter: Send {
    /// Renders one day.
    fn day(&mut self, batch: &DayBatch) -> std::io::Result<()>;
    /// Closes what is still open.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// The report (taken once, at the end).
    fn take_report(&mut self) -> Report;
}

/// One day's requests, sorted by time.
pub(crate) struct DayBatch {
    pub(crate) day: u32,
    pub(crate) d0: i64,
    pub(crate) reqs: Vec<Req>,
}

/// Ground truth accumulated from the event model.
struct Truth {
    pulls_per_day: Vec<u64>,
    manifest_per_day: Vec<u64>,
    pulls: u64,
    scanner_pulls: u64,
    manifest_requests: u64,
    per_blob: Vec<u64>,
    last_pull: [Vec<i64>; 2],
    pull_clients: BTreeSet<u32>,
    by_kind: BTreeMap<&'static str, u64>,
    resumed_206: u64,
    cut_200: u64,
    head_pull_events: u64,
    registry_requests: u64,
    s3_only_requests: u64,
    dropped_after_window: u64,
}

fn kind_name(k: ClientKind) -> &'static str {
    match k {
        ClientKind::Ci => "ci",
        ClientKind::Node => "node",
        ClientKind::Human => "human",
        ClientKind::Scanner => "scanner",
        ClientKind::Mirror => "mirror",
        ClientKind::Registry => "registry",
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let started = Instant::now();
    let p = match (args.lines_per_format, args.size) {
        (Some(n), _) => {
            if !(1_000..=50_000_000).contains(&n) {
                return Err(format!(
                    "invalid `--lines-per-format`: expected 1000..=50000000, got `{n}`"
                )
                .into());
            }
            Params::lines(n)
        }
        (None, Size::Small) => Params::small(),
        (None, Size::Medium) => Params::lines(1_000_000),
        (None, Size::Large) => Params::lines(50_000_000),
    };
    let end_day = days_from_civil(
        i64::from(args.end_date.year()),
        args.end_date.month(),
        args.end_date.day(),
    );
    let win = Window {
        start: (end_day - i64::from(args.days) + 1) * DAY,
        end: (end_day + 1) * DAY,
        days: args.days,
    };
    let s3_enc = match args.s3_compress {
        S3Compress::None => sink::Enc::Plain,
        S3Compress::Gzip => sink::Enc::Gz(p.gz_level),
        S3Compress::Zstd => sink::Enc::Zst(p.zstd_level),
    };
    let enabled = args.enabled();
    prepare_out(&args.out)?;
    let w = World::build(args.seed, &p, &win);
    let ctx = Arc::new(Ctx {
        seed: args.seed,
        access_key: http::access_key(args.seed),
        p,
        w,
        win,
        out: args.out.clone(),
        s3_enc,
    });
    let snaps = [
        win.last_day() + 3600 * NS,
        win.last_day() - 7 * DAY + 3600 * NS,
    ];

    // ---- writer threads: one per written format, fed the same day batches ----
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for (name, on) in ["s3", "json", "combined", "notify"]
        .into_iter()
        .zip(enabled)
    {
        if !on {
            handles.push(None);
            continue;
        }
        let (tx, rx) = sync_channel::<Arc<DayBatch>>(2);
        let c = Arc::clone(&ctx);
        senders.push(tx);
        let h = thread::Builder::new().name(name.into()).spawn(
            move || -> std::io::Result<Report> {
                let mut wr: Box<dyn DayWriter> = match name {
                    "s3" => Box::new(s3log::S3Writer::new(c)),
                    "json" => Box::new(registry::JsonWriter::new(c)),
                    "combined" => Box::new(registry::CombinedWriter::new(c)),
                    _ => Box::new(notify::NotifyWriter::new(c)),
                };
                for b in rx {
                    wr.day(&b)?;
                }
                wr.finish()?;
                Ok(wr.take_report())
            },
        )?;
        handles.push(Some(h));
    }

    // ---- day loop ----
    let nb = ctx.w.blobs.len();
    let mut truth = Truth {
        pulls_per_day: vec![0; win.days as usize],
        manifest_per_day: vec![0; win.days as usize],
        pulls: 0,
        scanner_pulls: 0,
        manifest_requests: 0,
        per_blob: vec![0; nb],
        last_pull: [vec![i64::MIN; nb], vec![i64::MIN; nb]],
        pull_clients: BTreeSet::new(),
        by_kind: BTreeMap::new(),
        resumed_206: 0,
        cut_200: 0,
        head_pull_events: 0,
        registry_requests: 0,
        s3_only_requests: 0,
        dropped_after_window: 0,
    };
    let mut pulls_csv = flate2::write::GzEncoder::new(
        std::fs::File::create(args.out.join("expected-pulls.csv.gz"))?,
        flate2::Compression::new(ctx.p.gz_level),
    );
    writeln!(pulls_csv, "day,digest,pulls")?;
    let mut pending: Vec<Req> = Vec::new();
    let mut rate = ctx.p.rate;
    let weight = |d: u32| {
        let wd = ((win.start / DAY + i64::from(d)) + 3).rem_euclid(7);
        if wd >= 5 {
            0.5
        } else {
            1.0
        }
    };
    // Registry requests per unit of rate, learned as days go by; calibrated first on two
    // throw-away generations of day 0 (each day has its own random stream, so this does not
    // change what is generated).
    let mut ratio = 10.0;
    if let Some(n) = ctx.p.target_lines {
        let wsum: f64 = (0..win.days).map(weight).sum();
        let want = n as f64 * weight(0) / wsum;
        let probe = |rate: f64| {
            let mut probe = Vec::new();
            traffic::gen_day(&ctx, 0, rate, &mut probe);
            probe.iter().filter(|r| r.op.is_registry()).count() as f64
        };
        let mut points = Vec::new();
        for _ in 0..2 {
            let probe_rate = (want / ratio).max(0.5);
            let reqs = probe(probe_rate);
            points.push((probe_rate, reqs));
            ratio = (reqs / probe_rate).max(0.1);
        }
        // Windows shorter than a week leave the day-by-day feedback below too few days to
        // correct the first day, and requests are not proportional to the rate (scheduled
        // pushes, rollouts, scans): look for day 0's rate by secant steps, aiming at 0.5 % and
        // keeping the closest probe (the count is not smooth in the rate: one day of ~40 M
        // requests ends ~1.5 % off after 10 probes). Only for such windows, so that longer
        // ones are generated exactly as before.
        if win.days < 7 {
            for _ in 0..8 {
                let [(r0, q0), (r1, q1)] = [points[points.len() - 2], points[points.len() - 1]];
                if (q1 - want).abs() <= want * 0.005 {
                    break;
                }
                let mut next = if (q1 - q0).abs() > 0.0 && (q1 - q0) / (r1 - r0) > 0.0 {
                    r1 + (want - q1) * (r1 - r0) / (q1 - q0)
                } else {
                    r1 * want / q1.max(1.0)
                };
                if !(next.is_finite() && next > 0.0) {
                    next = r1 * want / q1.max(1.0);
                }
                let next = next.max(0.5);
                points.push((next, probe(next)));
            }
            let &(r, q) = points
                .iter()
                .min_by(|a, b| (a.1 - want).abs().total_cmp(&(b.1 - want).abs()))
                .expect("probed");
            ratio = want / r;
            eprintln!(
                "gen-sample: day 0 calibrated to {q:.0} registry requests (target {want:.0}) after {} probes",
                points.len()
            );
        }
    }
    let (mut reqs_so_far, mut rate_so_far) = (0u64, 0f64);
    for day in 0..win.days {
        let d0 = win.start + i64::from(day) * DAY;
        let d1 = d0 + DAY;
        if let Some(n) = ctx.p.target_lines {
            let remaining = n.saturating_sub(reqs_so_far) as f64;
            let wsum: f64 = (day..win.days).map(weight).sum();
            let target = remaining * weight(day) / wsum;
            rate = (target / ratio).max(0.5);
        }
        let mut cur = std::mem::take(&mut pending);
        traffic::gen_day(&ctx, day, rate, &mut cur);
        cur.sort_by_key(|r| (r.ts, r.rid));
        let split = cur.partition_point(|r| r.ts < d1);
        pending = cur.split_off(split);
        debug_assert!(cur.first().is_none_or(|r| r.ts >= d0));
        let mut day_counts: HashMap<u32, u64> = HashMap::new();
        let mut day_reqs = 0u64;
        for r in &cur {
            account(&ctx, &mut truth, r, day, &snaps, &mut day_counts);
            if r.op.is_registry() {
                day_reqs += 1;
            }
        }
        let mut dc: Vec<(String, u64)> = day_counts
            .into_iter()
            .map(|(b, n)| (ctx.w.blobs[b as usize].hex(), n))
            .collect();
        dc.sort();
        let dstr = ymd(d0);
        for (h, n) in dc {
            writeln!(pulls_csv, "{dstr},sha256:{h},{n}")?;
        }
        reqs_so_far += day_reqs;
        rate_so_far += rate;
        if rate_so_far > 0.0 && reqs_so_far > 0 {
            ratio = reqs_so_far as f64 / rate_so_far;
        }
        let batch = Arc::new(DayBatch { day, d0, reqs: cur });
        for tx in &senders {
            tx.send(Arc::clone(&batch))
                .map_err(|_| "writer thread stopped early")?;
        }
    }
    truth.dropped_after_window = pending.len() as u64;
    drop(senders);
    pulls_csv.finish()?;
    let mut reports = Vec::new();
    for h in handles {
        reports.push(match h {
            Some(h) => Some(h.join().map_err(|_| "writer thread panicked")??),
            None => None,
        });
    }
    let [s3r, jsonr, combr, notr]: [Option<Report>; 4] =
        reports.try_into().map_err(|_| "four reports")?;

    // ---- inventory ----
    let (inv, in_latest) = inventory::write(&ctx, snaps, &truth.last_pull)?;

    // ---- expected.json ----
    let expected = expected_json(
        &ctx,
        &args,
        &truth,
        [s3r.as_ref(), jsonr.as_ref(), combr.as_ref(), notr.as_ref()],
        inv,
        &in_latest,
    );
    let mut text = serde_json::to_string_pretty(&expected)?;
    text.push('\n');
    std::fs::write(args.out.join("expected.json"), text)?;
    std::fs::write(args.out.join("README.md"), readme(&args, &truth, &ctx))?;
    let lines = |r: &Option<Report>| r.as_ref().map_or("-".to_string(), |r| r.lines.to_string());
    eprintln!(
        "gen-sample: {} pulls, {} manifest requests; lines s3={} json={} combined={} notifications={}; {:.1}s",
        truth.pulls,
        truth.manifest_requests,
        lines(&s3r),
        lines(&jsonr),
        lines(&combr),
        lines(&notr),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn account(
    ctx: &Ctx,
    t: &mut Truth,
    r: &Req,
    day: u32,
    snaps: &[i64; 2],
    day_counts: &mut HashMap<u32, u64>,
) {
    if r.op.is_registry() {
        t.registry_requests += 1;
    } else {
        t.s3_only_requests += 1;
    }
    let kind = ctx.w.clients[r.client as usize].kind;
    match r.op {
        Op::BlobGet { blob, part, .. } => {
            t.pulls += 1;
            t.pulls_per_day[day as usize] += 1;
            t.per_blob[blob as usize] += 1;
            *day_counts.entry(blob).or_default() += 1;
            for (k, &s) in snaps.iter().enumerate() {
                if r.ts <= s {
                    let lp = &mut t.last_pull[k][blob as usize];
                    *lp = (*lp).max(r.ts);
                }
            }
            t.pull_clients.insert(r.client);
            *t.by_kind.entry(kind_name(kind)).or_default() += 1;
            if kind == ClientKind::Scanner {
                t.scanner_pulls += 1;
            }
            match part {
                traffic::Part::Resume(_) => t.resumed_206 += 1,
                traffic::Part::Cut(_) => t.cut_200 += 1,
                traffic::Part::Full => {}
            }
        }
        Op::ManifestGet { head: false, .. } => {
            t.manifest_requests += 1;
            t.manifest_per_day[day as usize] += 1;
        }
        Op::ManifestGet { head: true, .. } | Op::BlobHead { .. } => t.head_pull_events += 1,
        _ => {}
    }
}

fn per_day(ctx: &Ctx, v: &[u64]) -> Value {
    let m: serde_json::Map<String, Value> = v
        .iter()
        .enumerate()
        .map(|(d, n)| (ymd(ctx.win.start + d as i64 * DAY), json!(n)))
        .collect();
    Value::Object(m)
}

fn expected_json(
    ctx: &Ctx,
    args: &Args,
    t: &Truth,
    reps: [Option<&Report>; 4],
    inventory: Value,
    in_latest: &inventory::InLatest,
) -> Value {
    let w = &ctx.w;
    let ppd = per_day(ctx, &t.pulls_per_day);
    let names = [
        "s3-access",
        "registry-json",
        "registry-combined",
        "notifications",
    ];
    let mut formats = serde_json::Map::new();
    for (i, (name, r)) in names.iter().zip(reps).enumerate() {
        let Some(r) = r else { continue };
        let mut f = json!({
            "dir": format!("logs/{name}"),
            "files": r.files,
            "lines": r.lines,
            "pulls": t.pulls,
            "manifest_requests": if i == 0 { 0 } else { t.manifest_requests },
            "rejects": r.rejects(),
            "rejects_total": r.malformed.len(),
            "pulls_per_day": ppd.clone(),
        });
        if i == 1 {
            f["foreign_lines"] = json!(r.foreign);
            f["non_request_json_lines"] =
                json!(r.other.get("non_request_json").copied().unwrap_or(0));
        }
        if i == 3 {
            f["events"] = json!(r.events);
            f["head_pull_events"] = json!(t.head_pull_events);
        }
        formats.insert((*name).to_string(), f);
    }
    let mut pulled: Vec<(u64, String)> = t
        .per_blob
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(b, &n)| (n, format!("sha256:{}", w.blobs[b].hex())))
        .collect();
    pulled.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let pulled_where = |f: &dyn Fn(u32) -> bool| -> Vec<String> {
        t.per_blob
            .iter()
            .enumerate()
            .filter(|(b, &n)| n > 0 && f(*b as u32))
            .map(|(b, _)| format!("sha256:{}", w.blobs[b].hex()))
            .collect()
    };
    let absent = pulled_where(&|b| !in_latest.listed.contains(&b));
    let deleted =
        pulled_where(&|b| in_latest.listed.contains(&b) && !in_latest.current.contains(&b));
    let never_pulled = in_latest
        .current
        .iter()
        .filter(|&&b| t.per_blob[b as usize] == 0)
        .count();
    let gc: Vec<String> = w
        .blobs
        .iter()
        .filter(|b| b.gc.is_some())
        .map(|b| format!("sha256:{}", b.hex()))
        .collect();
    let mut malformed: Vec<Value> = Vec::new();
    for (name, r) in names.iter().zip(reps) {
        let Some(r) = r else { continue };
        for m in &r.malformed {
            malformed.push(
                json!({"format": name, "file": m.file, "line": m.line, "reason": m.reason.code()}),
            );
        }
    }
    let truncated = malformed.len() > 1000;
    malformed.truncate(1000);
    let mut v = json!({
        "generator": {
            "command": format!(
                "cargo run --release --example gen-sample -- {}{}--seed {} --end-date {} --days {} --out {}",
                match args.lines_per_format {
                    Some(n) => format!("--lines-per-format {n} "),
                    None => format!("--size {} ", format!("{:?}", args.size).to_lowercase()),
                },
                args.extra_args(),
                args.seed,
                args.end_date,
                args.days,
                args.out.display()
            ),
            "seed": args.seed,
            "end_date": args.end_date.to_string(),
            "days": args.days,
            "synthetic": true,
        },
        "end_date": ymd(ctx.win.last_day()),
        "window": {
            "first_day": ymd(ctx.win.start),
            "last_day": ymd(ctx.win.last_day()),
            "days": ctx.win.days,
        },
        "counting_rules": {
            "pull": "GET of a blob (config or layer) answered 200/206 (S3: REST.GET.OBJECT of a blob data key, Authentication Type QueryString, status 200 or 206; registry JSON/combined: GET /v2/<name>/blobs/sha256:<hex> with status 200, 206 or 307; notifications: action pull, request.method GET, target.mediaType not a manifest type). Day = UTC date of the request time, truncated (never rounded).",
            "manifest_request": "GET /v2/<name>/manifests/<ref> answered 200 (notifications: pull + GET + manifest media type); none in S3 logs",
            "not_pulls": "HEAD requests (also those that produce pull notifications), 304, 403, 404, 401, uploads, AuthHeader (registry-internal) S3 reads including manifest data GETs",
            "client": "the client IP address (port and brackets removed)",
        },
        "pulls": t.pulls,
        "manifest_requests": t.manifest_requests,
        "scanner_pulls": t.scanner_pulls,
        "pulls_by_client_kind": t.by_kind,
        "range_resume_pulls_206": t.resumed_206,
        "interrupted_pulls_200": t.cut_200,
        "distinct_digests_pulled": pulled.len(),
        "distinct_clients": t.pull_clients.len(),
        "distinct_clients_ipv6": t.pull_clients.iter().filter(|&&c| w.clients[c as usize].v6).count(),
        "registry_requests": t.registry_requests,
        "s3_only_requests": t.s3_only_requests,
        "pulls_per_day": ppd,
        "manifest_requests_per_day": per_day(ctx, &t.manifest_per_day),
        "formats": Value::Object(formats),
        "inventory": {
            "bucket": http::BUCKET,
            "snapshots": inventory,
            "blob_digests_in_latest_snapshot": in_latest.current.len(),
            "never_pulled_blobs_in_latest_snapshot": never_pulled,
            "pulled_digests_absent_from_latest_snapshot": absent,
            "pulled_digests_deleted_in_latest_snapshot": deleted,
            "garbage_collected_digests": gc,
        },
        "top_pulled_digests": pulled.iter().take(10).map(|(n, d)| json!({"digest": d, "pulls": n})).collect::<Vec<_>>(),
        "per_digest_day_pulls_file": "expected-pulls.csv.gz",
        "malformed_lines": malformed,
        "malformed_lines_truncated": truncated,
    });
    if t.dropped_after_window > 0 {
        v["requests_dropped_after_window"] = json!(t.dropped_after_window);
    }
    v
}

fn readme(args: &Args, t: &Truth, ctx: &Ctx) -> String {
    let cmd = match args.lines_per_format {
        Some(n) => format!("--lines-per-format {n} {}", args.extra_args()),
        None => format!(
            "--size {} {}",
            format!("{:?}", args.size).to_lowercase(),
            args.extra_args()
        ),
    };
    let s3_enc = match args.s3_compress {
        S3Compress::None => "plain text",
        S3Compress::Gzip => "gzip",
        S3Compress::Zstd => "zstd",
    };
    let items = [
        format!("- `logs/s3-access/`: S3 server access logs ({s3_enc}, named by delivery time).\n"),
        "- `logs/registry-json/`: the registry's logrus JSON log, one gzip file per day (one day is\n  zstd without an extension); some days also carry the Apache access lines.\n".to_string(),
        format!(
            "- `logs/registry-combined/`: Apache combined access log, zstd, a new file every {} day(s).\n",
            ctx.p.combined_roll_days
        ),
        format!(
            "- `logs/notifications/`: notification envelopes, one JSON envelope per line, gzip, a new file\n  every {} day(s).\n",
            ctx.p.notify_roll_days
        ),
    ];
    let enabled = args.enabled();
    let list: String = items
        .iter()
        .zip(enabled)
        .filter(|(_, on)| *on)
        .map(|(s, _)| s.as_str())
        .collect();
    let how_many = match enabled.iter().filter(|&&on| on).count() {
        4 => "rendered in four formats".to_string(),
        1 => "rendered in one format (the others were not requested)".to_string(),
        n => format!("rendered in {n} formats (the others were not requested)"),
    };
    format!(
        "# Synthetic sample data (generated)\n\n\
This directory is **synthetic**: it was produced by blobtier's seeded generator, not captured\n\
from a real registry. Addresses are from documentation and private ranges, digests are random.\n\n\
Regenerate it byte for byte with:\n\n\
```\ncargo run --release --example gen-sample -- {cmd}--seed {} --end-date {} --days {} --out {}\n```\n\n\
It models one CNCF distribution registry storing blobs in the S3 bucket `registry-prod`\n\
(rootdirectory `\"\"`) over {} days ({} .. {}): {} repositories, {} images, {} blobs.\n\
The same {} blob pulls ({} manifest requests) are {how_many}:\n\n\
{list}\
- `inventory/`: S3 Inventory (all versions) of `registry-prod`: CSV snapshots at the last day\n  01:00Z and seven days earlier, and the latest one as Parquet.\n\n\
`expected.json` holds the ground truth computed from the generator's event model (pulls per\n\
day and format, rejects by reason with file and line, inventory statistics), and\n\
`expected-pulls.csv.gz` the pulls per (day, digest). See `docs/sample-data.md` in the\n\
repository for the model and the counting rules.\n",
        args.seed,
        args.end_date,
        args.days,
        args.out.display(),
        ctx.win.days,
        ymd(ctx.win.start),
        ymd(ctx.win.last_day()),
        ctx.w.repos.len(),
        ctx.w.images.len(),
        ctx.w.blobs.len(),
        t.pulls,
        t.manifest_requests,
    )
}

/// Removes what a previous run wrote (only the generator's own entries).
fn prepare_out(out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    for d in ["logs", "inventory"] {
        let p = out.join(d);
        if p.exists() {
            std::fs::remove_dir_all(&p)?;
        }
    }
    for f in ["expected.json", "expected-pulls.csv.gz", "README.md"] {
        let p = out.join(f);
        if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}
