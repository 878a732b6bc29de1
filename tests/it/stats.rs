//! `stats` against an independent computation: a plain Rust fold over generated raw events
//! (written as registry JSON log lines, ingested by the real binary) and a hand-made S3
//! Inventory report. Covers pulls at 00:00:00 and 23:59:59 UTC on window edges, IPv6 clients,
//! one digest under several repositories, scanners, a digest only in the logs, a digest only
//! in the inventory, and pulls after as-of (ignored).
//! See: issue 3.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use md5::{Digest as _, Md5};

use crate::ingest::{walk, KEY};
use crate::support::cli::{blobtier, run, tree_digest};

/// Writes an S3 Inventory CSV report (manifest.json, manifest.checksum, one gzip data file)
/// under `root/dest/<bucket>/cfg/`; returns the manifest path.
pub fn write_inventory(
    root: &Path,
    bucket: &str,
    date: &str,
    rows: &[InvRow],
) -> std::path::PathBuf {
    write_inventory_to(root, "dest", bucket, date, rows)
}

/// [`write_inventory`] into destination bucket `dest` (files under `root/<dest>/`).
pub fn write_inventory_to(
    root: &Path,
    dest: &str,
    bucket: &str,
    date: &str,
    rows: &[InvRow],
) -> std::path::PathBuf {
    let dir = root.join(format!("{dest}/{bucket}/cfg"));
    let snap = dir.join(format!("{date}T01-00Z"));
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::create_dir_all(&snap).unwrap();
    let mut csv = String::new();
    for (key, size, lm, class) in rows {
        let key = key.replace('=', "%3D");
        csv.push_str(&format!(
            "\"{bucket}\",\"{key}\",\"{size}\",\"{lm}\",\"abc\",\"{class}\"\n"
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).unwrap();
    let data = gz.finish().unwrap();
    let data_key = format!("{bucket}/cfg/data/{date}.csv.gz");
    fs::write(root.join(dest).join(&data_key), &data).unwrap();
    let ms = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(1, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let manifest = format!(
        "{{\n  \"sourceBucket\" : \"{bucket}\",\n  \"destinationBucket\" : \"arn:aws:s3:::{dest}\",\n  \"version\" : \"2016-11-30\",\n  \"creationTimestamp\" : \"{ms}\",\n  \"fileFormat\" : \"CSV\",\n  \"fileSchema\" : \"Bucket, Key, Size, LastModifiedDate, ETag, StorageClass\",\n  \"files\" : [ {{\n    \"key\" : \"{data_key}\",\n    \"size\" : {},\n    \"MD5checksum\" : \"{}\"\n  }} ]\n}}\n",
        data.len(),
        hex::encode(Md5::digest(&data))
    );
    let mp = snap.join("manifest.json");
    fs::write(&mp, &manifest).unwrap();
    fs::write(
        snap.join("manifest.checksum"),
        format!("{}\n", hex::encode(Md5::digest(manifest.as_bytes()))),
    )
    .unwrap();
    mp
}

#[derive(Debug, Clone)]
pub struct Ev {
    ts: NaiveDateTime,
    hex: String,
    ip: String,
    repo: String,
    ua: &'static str,
    bytes: u64,
    status: u16,
}

/// An inventory row: key, size, last-modified, storage class.
pub type InvRow = (String, u64, String, String);

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const UAS: [(&str, &str); 5] = [
    ("docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0 os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))", "human"),
    ("containerd/1.7.13", "ci"),
    ("buildkit/v0.12.5", "ci"),
    ("Trivy/0.48.3", "scanner"),
    ("curl/8.5.0", "other"),
];

fn json_line(e: &Ev) -> String {
    let addr = if e.ip.contains(':') {
        format!("[{}]:{}", e.ip, 40000 + e.bytes % 1000)
    } else {
        format!("{}:{}", e.ip, 40000 + e.bytes % 1000)
    };
    let ua = e.ua.replace('\\', "\\\\");
    format!(
        "{{\"go.version\":\"go1.21.5\",\"http.request.host\":\"registry.example.com\",\"http.request.id\":\"r\",\"http.request.method\":\"GET\",\"http.request.remoteaddr\":\"{addr}\",\"http.request.uri\":\"/v2/{}/blobs/sha256:{}\",\"http.request.useragent\":\"{ua}\",\"http.response.contenttype\":\"application/octet-stream\",\"http.response.duration\":\"1.2ms\",\"http.response.status\":{},\"http.response.written\":{},\"level\":\"info\",\"msg\":\"response completed\",\"time\":\"{}\"}}\n",
        e.repo,
        e.hex,
        e.status,
        if e.status == 307 { 0 } else { e.bytes },
        e.ts.format("%Y-%m-%dT%H:%M:%S%.9fZ")
    )
}

fn hex(i: u32) -> String {
    format!("{:064x}", 0xdead_0000_u64 + i as u64)
}

fn parse_ts(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn generate(as_of: NaiveDate) -> (Vec<Ev>, Vec<InvRow>) {
    let mut r = Lcg(7);
    let ips: Vec<String> = (0..30)
        .map(|i| format!("192.0.2.{}", i + 1))
        .chain((0..8).map(|i| format!("2001:db8::{:x}", i + 1)))
        .collect();
    let repos = ["team1/api", "team1/web", "base/alpine", "ml/train"];
    let mut evs = Vec::new();
    // Digests 0..40 in the inventory; 40..43 only in the logs; 35..40 never pulled.
    for _ in 0..3000 {
        let d = r.below(43) as u32;
        if (35..40).contains(&d) {
            continue;
        }
        let day = as_of - Duration::days(r.below(130) as i64 - 3); // includes 3 days after as-of
        let secs = r.below(86_400);
        let ts = day.and_hms_opt(0, 0, 0).unwrap() + Duration::seconds(secs as i64);
        // Digest 1 is pulled under several repositories; the others mostly under one.
        let repo = if d == 1 {
            repos[r.below(4) as usize]
        } else {
            repos[(d % 4) as usize]
        };
        let ua = UAS[r.below(5) as usize].0;
        let ip = ips[r.below(ips.len() as u64) as usize].clone();
        evs.push(Ev {
            ts,
            hex: hex(d),
            ip,
            repo: repo.into(),
            ua,
            bytes: 1000 + d as u64,
            status: if r.below(2) == 0 { 200 } else { 307 },
        });
    }
    // Window edges for digest 2: the first and last second of days around as-of - 7 and - 30.
    for (date, time) in [
        (7, "00:00:00"),
        (7, "23:59:59"),
        (6, "00:00:00"),
        (30, "23:59:59"),
        (29, "00:00:00"),
        (0, "23:59:59"),
        (-1, "00:00:00"),
        (90, "23:59:59"),
        (89, "00:00:00"),
    ] {
        let day = as_of - Duration::days(date);
        evs.push(Ev {
            ts: parse_ts(&format!("{day} {time}")),
            hex: hex(2),
            ip: "2001:db8::99".into(),
            repo: "team1/api".into(),
            ua: UAS[0].0,
            bytes: 5,
            status: 200,
        });
    }
    // Pulled only before the longest window: digest 35 (in the inventory: its last and first
    // pull, no window counts) and digest 43 (only in the logs: not a row at all).
    for (d, date, time) in [
        (35, 100, "10:00:00"),
        (35, 120, "08:00:00"),
        (43, 95, "12:00:00"),
    ] {
        let day = as_of - Duration::days(date);
        evs.push(Ev {
            ts: parse_ts(&format!("{day} {time}")),
            hex: hex(d),
            ip: "192.0.2.200".into(),
            repo: "team1/web".into(),
            ua: UAS[0].0,
            bytes: 7,
            status: 200,
        });
    }
    let mut inv = Vec::new();
    for d in 0..40u32 {
        let h = hex(d);
        let lm = (as_of - Duration::days(d as i64 * 5))
            .and_hms_opt(3, 4, 5)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let class = if d % 3 == 0 {
            "STANDARD_IA"
        } else {
            "STANDARD"
        };
        inv.push((
            format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2]),
            10_000 + d as u64,
            lm,
            class.to_string(),
        ));
    }
    inv.push((
        "docker/registry/v2/repositories/team1/api/_layers/sha256/00/link".into(),
        71,
        "2026-01-01T00:00:00.000Z".into(),
        "STANDARD".into(),
    ));
    (evs, inv)
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Expect {
    in_inventory: bool,
    size: Option<i64>,
    storage_class: Option<String>,
    age_days: Option<i64>,
    pulls: BTreeMap<u32, i64>,
    unique: BTreeMap<u32, i64>,
    ratio: BTreeMap<u32, Option<f64>>,
    bytes_served_30d: i64,
    repos_90d: i64,
    ci_share_30d: Option<f64>,
    scanner_pulls_30d: i64,
    last_pull_at: Option<i64>,
    first_pull_at: Option<i64>,
    days_since_last_pull: Option<i64>,
}

fn fold(
    evs: &[Ev],
    inv: &[InvRow],
    as_of: NaiveDate,
    windows: &[u32],
    include_scanners: bool,
) -> BTreeMap<String, Expect> {
    let class_of = |ua: &str| UAS.iter().find(|(u, _)| *u == ua).unwrap().1;
    let mut out: BTreeMap<String, Expect> = BTreeMap::new();
    for (key, size, lm, class) in inv {
        let h = key.rsplit('/').nth(1).unwrap();
        if h.len() != 64 {
            continue;
        }
        let lm_date = NaiveDate::parse_from_str(&lm[..10], "%Y-%m-%d").unwrap();
        out.insert(
            format!("sha256:{h}"),
            Expect {
                in_inventory: true,
                size: Some(*size as i64),
                storage_class: Some(class.clone()),
                age_days: Some((as_of - lm_date).num_days()),
                ..Default::default()
            },
        );
    }
    let longest = *windows.iter().chain([90u32].iter()).max().unwrap();
    let in_window = |e: &Ev, n: u32| {
        let d = e.ts.date();
        d > as_of - Duration::days(n as i64) && d <= as_of
    };
    let mut by_digest: HashMap<String, Vec<&Ev>> = HashMap::new();
    for e in evs.iter().filter(|e| e.ts.date() <= as_of) {
        by_digest
            .entry(format!("sha256:{}", e.hex))
            .or_default()
            .push(e);
    }
    for (d, es) in by_digest {
        let pulled_longest = es.iter().any(|e| in_window(e, longest));
        if !out.contains_key(&d) && !pulled_longest {
            continue;
        }
        let x = out.entry(d).or_default();
        let counted = |e: &&&Ev| include_scanners || class_of(e.ua) != "scanner";
        for &n in windows {
            let w: Vec<&&Ev> = es
                .iter()
                .filter(|e| in_window(e, n))
                .filter(counted)
                .collect();
            let p = w.len() as i64;
            let u = w
                .iter()
                .map(|e| e.ip.clone())
                .collect::<BTreeSet<_>>()
                .len() as i64;
            x.pulls.insert(n, p);
            x.unique.insert(n, u);
            x.ratio.insert(
                n,
                if p == 0 {
                    None
                } else {
                    Some(u as f64 / p as f64)
                },
            );
        }
        x.bytes_served_30d = es
            .iter()
            .filter(|e| in_window(e, 30))
            .map(|e| if e.status == 307 { 0 } else { e.bytes as i64 })
            .sum();
        x.repos_90d = es
            .iter()
            .filter(|e| in_window(e, 90))
            .filter(counted)
            .map(|e| e.repo.clone())
            .collect::<BTreeSet<_>>()
            .len() as i64;
        let c30: Vec<&&Ev> = es
            .iter()
            .filter(|e| in_window(e, 30))
            .filter(counted)
            .collect();
        let ci = c30.iter().filter(|e| class_of(e.ua) == "ci").count();
        x.ci_share_30d = if c30.is_empty() {
            None
        } else {
            Some(ci as f64 / c30.len() as f64)
        };
        x.scanner_pulls_30d = es
            .iter()
            .filter(|e| in_window(e, 30) && class_of(e.ua) == "scanner")
            .count() as i64;
        let counted_all: Vec<&&Ev> = es.iter().filter(counted).collect();
        x.last_pull_at = counted_all
            .iter()
            .map(|e| e.ts.and_utc().timestamp_micros())
            .max();
        x.first_pull_at = counted_all
            .iter()
            .map(|e| e.ts.and_utc().timestamp_micros())
            .min();
        x.days_since_last_pull = counted_all
            .iter()
            .map(|e| e.ts.date())
            .max()
            .map(|d| (as_of - d).num_days());
    }
    for x in out.values_mut() {
        for &n in windows {
            x.pulls.entry(n).or_insert(0);
            x.unique.entry(n).or_insert(0);
            x.ratio.entry(n).or_insert(None);
        }
    }
    out
}

fn read_stats(lake: &Path, as_of: NaiveDate, windows: &[u32]) -> BTreeMap<String, Expect> {
    let files: Vec<_> = walk(&lake.join(format!("digest_stats/as_of={as_of}")));
    assert_eq!(files.len(), 1, "{files:?}");
    let b = crate::support::parquet::read(&files[0]);
    let mut out = BTreeMap::new();
    let s = |n: &str| {
        let c = b
            .column_by_name(n)
            .unwrap_or_else(|| panic!("missing column {n}"))
            .clone();
        // Polars writes strings as Arrow string views; compare as plain strings.
        match c.data_type() {
            arrow::datatypes::DataType::Utf8View | arrow::datatypes::DataType::LargeUtf8 => {
                arrow::compute::cast(&c, &arrow::datatypes::DataType::Utf8).unwrap()
            }
            _ => c,
        }
    };
    let get_i = |n: &str, i: usize| {
        let c = s(n);
        let c = c.as_primitive::<Int64Type>();
        (!c.is_null(i)).then(|| c.value(i))
    };
    let get_f = |n: &str, i: usize| {
        let c = s(n);
        let c = c.as_primitive::<Float64Type>();
        (!c.is_null(i)).then(|| c.value(i))
    };
    let get_t = |n: &str, i: usize| {
        let c = s(n);
        let c = c.as_primitive::<TimestampMicrosecondType>();
        (!c.is_null(i)).then(|| c.value(i))
    };
    for i in 0..b.num_rows() {
        let digest = s("digest").as_string::<i32>().value(i).to_string();
        let class = s("storage_class");
        let class = class.as_string::<i32>();
        let mut x = Expect {
            in_inventory: s("in_inventory").as_boolean().value(i),
            size: get_i("size", i),
            storage_class: (!class.is_null(i)).then(|| class.value(i).to_string()),
            age_days: get_i("age_days", i),
            bytes_served_30d: get_i("bytes_served_30d", i).unwrap(),
            repos_90d: get_i("repos_90d", i).unwrap(),
            ci_share_30d: get_f("ci_share_30d", i),
            scanner_pulls_30d: get_i("scanner_pulls_30d", i).unwrap(),
            last_pull_at: get_t("last_pull_at", i),
            first_pull_at: get_t("first_pull_at", i),
            days_since_last_pull: get_i("days_since_last_pull", i),
            ..Default::default()
        };
        for &n in windows {
            x.pulls.insert(n, get_i(&format!("pulls_{n}d"), i).unwrap());
            x.unique
                .insert(n, get_i(&format!("unique_clients_{n}d"), i).unwrap());
            x.ratio
                .insert(n, get_f(&format!("unique_pull_ratio_{n}d"), i));
        }
        assert!(
            out.insert(digest.clone(), x).is_none(),
            "duplicate row for {digest}"
        );
    }
    out
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-12,
        (None, None) => true,
        _ => false,
    }
}

fn compare(got: &BTreeMap<String, Expect>, want: &BTreeMap<String, Expect>) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "digest sets differ"
    );
    for (d, w) in want {
        let g = &got[d];
        let mut g2 = g.clone();
        let mut w2 = w.clone();
        for x in [&mut g2, &mut w2] {
            x.ci_share_30d = None;
            x.ratio.clear();
        }
        assert_eq!(g2, w2, "digest {d}");
        assert!(
            close(g.ci_share_30d, w.ci_share_30d),
            "ci_share_30d of {d}: {:?} vs {:?}",
            g.ci_share_30d,
            w.ci_share_30d
        );
        for (n, r) in &w.ratio {
            assert!(
                close(g.ratio[n], *r),
                "unique_pull_ratio_{n}d of {d}: {:?} vs {r:?}",
                g.ratio[n]
            );
        }
    }
}

pub fn setup(t: &Path, as_of: NaiveDate) -> (std::path::PathBuf, Vec<Ev>, Vec<InvRow>) {
    let (evs, inv) = generate(as_of);
    let logs = t.join("logs");
    fs::create_dir_all(&logs).unwrap();
    // Several files, one per 30-day block, to exercise partitions written by different inputs.
    let mut by_file: BTreeMap<i64, String> = BTreeMap::new();
    for e in &evs {
        by_file
            .entry((as_of - e.ts.date()).num_days().div_euclid(30))
            .or_default()
            .push_str(&json_line(e));
    }
    for (k, text) in by_file {
        fs::write(logs.join(format!("registry-{k}.log")), text).unwrap();
    }
    let manifest = write_inventory(t, "registry-prod", &as_of.to_string(), &inv);
    let lake = t.join("lake");
    let out = run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg("--logs")
        .arg(format!("registry-json:{}", logs.display()))
        .arg("--inventory")
        .arg(&manifest)
        .env("BLOBTIER_CLIENT_KEY", KEY));
    out.assert_success();
    (lake, evs, inv)
}

#[test]
fn stats_match_an_independent_fold_over_the_raw_events() {
    let t = tempfile::tempdir().unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let (lake, evs, inv) = setup(t.path(), as_of);
    let windows = [7u32, 30, 90];
    let out = run(blobtier()
        .args(["stats", "--as-of", "2026-11-26", "--lake"])
        .arg(&lake));
    out.assert_success();
    assert!(out.stdout.contains("absent from inventory: 3"), "{out}");
    let got = read_stats(&lake, as_of, &windows);
    let want = fold(&evs, &inv, as_of, &windows, false);
    compare(&got, &want);
    // The edge digest: 00:00:00 on as_of-6 is inside 7d, 23:59:59 on as_of-7 is not.
    let edge = &got[&format!("sha256:{}", hex(2))];
    assert!(edge.pulls[&7] >= 3, "{edge:?}");
    // A digest only in the inventory, never pulled.
    let never = &got[&format!("sha256:{}", hex(36))];
    assert_eq!(
        (never.pulls[&90], never.ratio[&90], never.last_pull_at),
        (0, None, None)
    );
    // A digest only in the logs.
    assert!(!got[&format!("sha256:{}", hex(41))].in_inventory);
    // Pulls older than the longest window count in no window but still give the last and
    // first pull (the query takes them apart from the per-day rows): the lake has such digests.
    assert!(
        got.values()
            .any(|r| r.in_inventory && r.pulls[&90] == 0 && r.last_pull_at.is_some()),
        "no digest pulled only before the 90-day window"
    );

    // Re-running is idempotent (one file in the partition, same content).
    run(blobtier()
        .args(["stats", "--as-of", "2026-11-26", "--lake"])
        .arg(&lake))
    .assert_success();
    assert_eq!(read_stats(&lake, as_of, &windows), got);
    // Run per digest range (as for large lakes): the same rows, in the same order.
    run(blobtier()
        .args(["stats", "--as-of", "2026-11-26", "--lake"])
        .arg(&lake)
        .env("BLOBTIER_STATS_RANGES", "16"))
    .assert_success();
    assert_eq!(read_stats(&lake, as_of, &windows), got);
}

#[test]
fn extra_windows_and_included_scanners_match_the_fold() {
    let t = tempfile::tempdir().unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let (lake, evs, inv) = setup(t.path(), as_of);
    let windows = [1u32, 7, 14, 30, 60, 90, 120];
    run(blobtier()
        .args([
            "stats",
            "--as-of",
            "2026-11-26",
            "--windows",
            "1,7,14,30,60,90,120",
            "--include-scanners",
            "--lake",
        ])
        .arg(&lake))
    .assert_success();
    compare(
        &read_stats(&lake, as_of, &windows),
        &fold(&evs, &inv, as_of, &windows, true),
    );
    // A backfill uses only data up to its as-of.
    let back = as_of - Duration::days(20);
    // The only inventory snapshot is dated as_of, after the backfill day: stats refuses.
    let out = run(blobtier()
        .args(["stats", "--as-of", &back.to_string(), "--lake"])
        .arg(&lake));
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr
            .contains("no inventory snapshot on or before 2026-11-06"),
        "{out}"
    );
    // With an older snapshot the backfill matches the fold at its own as-of (later pulls ignored).
    let older = t.path().join("older");
    let manifest = write_inventory(
        &older,
        "registry-prod",
        &(back - Duration::days(1)).to_string(),
        &inv,
    );
    run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg("--inventory")
        .arg(&manifest))
    .assert_success();
    run(blobtier()
        .args(["stats", "--as-of", &back.to_string(), "--lake"])
        .arg(&lake))
    .assert_success();
    let w = [7u32, 30, 90];
    compare(
        &read_stats(&lake, back, &w),
        &fold(&evs, &inv, back, &w, false),
    );
}

/// What the lake holds: every file with a digest of its bytes, and every directory.
pub fn lake_state(lake: &Path) -> (BTreeMap<std::path::PathBuf, u64>, Vec<std::path::PathBuf>) {
    let mut dirs = Vec::new();
    let mut todo = vec![lake.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p.strip_prefix(lake).unwrap().to_path_buf());
                todo.push(p);
            }
        }
    }
    dirs.sort();
    (tree_digest(lake), dirs)
}

/// `stats --windows` with a list the plan cannot use (it reads 7, 30 and 90 days) exits 2
/// before anything is written: the lake is unchanged, file for file and directory for
/// directory, and a lake that does not exist yet is not created. See: issue 14.
#[test]
fn windows_the_plan_cannot_use_are_rejected_before_the_lake_changes() {
    let t = tempfile::tempdir().unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let (lake, _, _) = setup(t.path(), as_of);
    let before = lake_state(&lake);
    assert!(!before.0.is_empty());
    let absent = t.path().join("no-lake");
    for windows in ["7", "7,7", "7,30", "1,7,30,90,3661", "0,7,30,90"] {
        for dir in [&lake, &absent] {
            let out = run(blobtier()
                .args([
                    "stats",
                    "--as-of",
                    "2026-11-26",
                    "--windows",
                    windows,
                    "--lake",
                ])
                .arg(dir));
            assert_eq!(out.code(), 2, "--windows {windows}: {out}");
            assert!(
                out.stderr.contains("error: invalid `--windows`: expected "),
                "--windows {windows}: {out}"
            );
            assert!(out.stdout.is_empty(), "--windows {windows}: {out}");
        }
        assert!(
            lake_state(&lake) == before,
            "--windows {windows} changed the lake"
        );
        assert!(!absent.exists(), "--windows {windows} created a lake");
    }
    // The same lists are fine with the plan's windows in them.
    run(blobtier()
        .args([
            "stats",
            "--as-of",
            "2026-11-26",
            "--windows",
            "90,7,30,7",
            "--lake",
        ])
        .arg(&lake))
    .assert_success();
}

/// `blobtier sql` prints the expansion blobtier runs (a first line naming the options, then
/// the SQL), for every query, dialect and option; Spark, DuckDB and Trino get their SQL from it.
/// Their results are compared with blobtier's in `spark.rs` and `duckdb.rs`. See: issue 14.
#[test]
fn sql_prints_the_expansion_blobtier_runs() {
    use blobtier::model::windows::Windows;
    use blobtier::query::{template::Dialect, Params, PullSource, QUERIES};
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    for (windows, scanners, count, source) in [
        ("7,30,90", false, true, PullSource::Auto),
        ("1,7,14,30,60,90,180", true, false, PullSource::S3),
    ] {
        let days: Vec<u32> = windows.split(',').map(|w| w.parse().unwrap()).collect();
        let params = Params {
            include_scanners: scanners,
            count_manifest_pulls: count,
            pull_source: source,
            ..Params::new(as_of, Windows::new(&days).unwrap())
        };
        for q in QUERIES {
            for d in Dialect::ALL {
                let mut cmd = blobtier();
                cmd.args(["sql", "--dialect", d.as_str(), "--as-of", "2026-11-26"])
                    .args(["--windows", windows])
                    .args(["--count-manifest-pulls", &count.to_string()])
                    .args(["--pull-source", source.as_str()]);
                if scanners {
                    cmd.arg("--include-scanners");
                }
                let out = run(cmd.arg(q.name));
                out.assert_success();
                let (header, sql) = out.stdout.split_once('\n').unwrap();
                assert_eq!(
                    header,
                    format!(
                        "-- blobtier sql: {} for {d}, as_of=2026-11-26 windows={windows} \
                         include_scanners={scanners} count_manifest_pulls={count} \
                         pull_source={source}",
                        q.file
                    )
                );
                assert_eq!(sql, q.expand(&params, d).unwrap(), "{} {d}", q.name);
            }
        }
    }
    let out = run(blobtier().args([
        "sql",
        "--as-of",
        "2026-11-26",
        "--windows",
        "7",
        "digest_stats",
    ]));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("invalid `--windows`"), "{out}");
    let out = run(blobtier().args(["sql", "digest_statz"]));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("no query `digest_statz`"), "{out}");
}
