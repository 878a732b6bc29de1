//! One registry's traffic seen through several sources: the S3 access log of its bucket
//! (presigned GETs, some of them ranged), the registry's JSON log (the 307 redirects) and its
//! notifications (with retried deliveries). Ingested all at once, or each alone, `stats` must
//! give the traffic's ground truth exactly for every digest: pulls and unique clients per
//! window, and the last pull. The ground truth is the generated traffic itself, folded here
//! independently of blobtier.
//!
//! The traffic keeps to what the counting rules promise (`docs/ingest.md`, "One pull, several
//! sources"): times are whole seconds (the precision of S3's log) and the S3 GET of a redirect
//! falls in the same second; a ranged download and its ranges stay on one UTC day; two pulls of
//! a blob by one client are more than the ranged-pull window (20 minutes) apart.
//! See: issue 16.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate, NaiveDateTime};

use crate::spark::{compare_runs, read_partition, read_table, Cell, Table};
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run};

const BUCKET: &str = "acme-registry";
const WINDOWS: [u32; 3] = [7, 30, 90];

/// One pull of the ground truth.
#[derive(Debug, Clone)]
struct Pull {
    /// Whole seconds, UTC.
    ts: NaiveDateTime,
    digest: u32,
    ip: String,
    repo: &'static str,
    ua: &'static str,
    scanner: bool,
    /// 0: one whole GET (200); n: n ranged GETs (206), 90 s apart.
    ranges: u32,
    /// Extra deliveries of its notification (the registry retried).
    retries: u32,
}

struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const UAS: [(&str, bool); 4] = [
    ("docker/27.3.1 go/go1.22.7 os/linux arch/amd64", false),
    ("containerd/1.7.13", false),
    ("skopeo/1.13.3", false),
    ("Trivy/0.48.3", true),
];

fn hex(d: u32) -> String {
    format!("{:064x}", 0x0dd5_0000_u64 + u64::from(d))
}

/// The traffic: pulls of 30 digests by 24 clients over 110 days (a few after as-of), with
/// repeated pulls by the same client on the same day, ranged downloads and retries.
fn traffic(as_of: NaiveDate) -> Vec<Pull> {
    let mut r = Lcg(16);
    let ips: Vec<String> = (0..18)
        .map(|i| format!("198.51.100.{}", i + 10))
        .chain((0..6).map(|i| format!("2001:db8::{:x}", i + 0xa0)))
        .collect();
    let repos = ["team1/api", "team1/web", "base/alpine"];
    let mut pulls: Vec<Pull> = Vec::new();
    while pulls.len() < 1500 {
        let digest = r.below(30) as u32;
        let day = as_of - Duration::days(r.below(110) as i64 - 2);
        // Before 23:30, so that a ranged download (up to 6 min) ends on the same day.
        let secs = r.below(23 * 3600 + 1800) as i64;
        let ts = day.and_hms_opt(0, 0, 0).unwrap() + Duration::seconds(secs);
        let ip = ips[r.below(ips.len() as u64) as usize].clone();
        let too_close = pulls.iter().any(|p| {
            p.digest == digest && p.ip == ip && (p.ts - ts).num_seconds().abs() <= 30 * 60
        });
        if too_close {
            continue;
        }
        let (ua, scanner) = UAS[r.below(UAS.len() as u64) as usize];
        let ranges = if r.below(5) == 0 {
            1 + r.below(4) as u32
        } else {
            0
        };
        let retries = if r.below(4) == 0 {
            1 + r.below(2) as u32
        } else {
            0
        };
        pulls.push(Pull {
            ts,
            digest,
            ip,
            repo: repos[(digest % 3) as usize],
            ua,
            scanner,
            ranges,
            retries,
        });
        // Often the same client again the same day (a CI runner), an hour later.
        if r.below(3) == 0 && secs < 22 * 3600 {
            let mut again = pulls.last().unwrap().clone();
            again.ts += Duration::hours(1);
            again.ranges = 0;
            let too_close = pulls.iter().any(|p| {
                p.digest == again.digest
                    && p.ip == again.ip
                    && (p.ts - again.ts).num_seconds().abs() <= 30 * 60
            });
            if !too_close {
                pulls.push(again);
            }
        }
    }
    pulls.sort_by_key(|p| p.ts);
    pulls
}

fn blob_key(d: u32) -> String {
    let h = hex(d);
    format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2])
}

fn with_port(ip: &str, port: u32) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The S3 access log: each pull's GETs (one 200, or its ranged 206s), plus the registry's own
/// HEADs and a few GETs refused with 403 `InvalidObjectState`, which are no pulls.
fn s3_log(pulls: &[Pull]) -> String {
    let mut out = String::new();
    let line = |ts: NaiveDateTime, ip: &str, op: &str, key: &str, status: u16, ua: &str, auth| {
        let time = ts.format("%d/%b/%Y:%H:%M:%S +0000");
        let query = if auth == "QueryString" {
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=1200&X-Amz-Signature=ab"
        } else {
            ""
        };
        format!(
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be {BUCKET} [{time}] {ip} - 3E57427F3EXAMPLE {op} {key} \"GET /{BUCKET}/{key}{query} HTTP/1.1\" {status} - 1048576 4194304 12 11 \"-\" \"{ua}\" - hostid SigV4 ECDHE-RSA-AES128-GCM-SHA256 {auth} {BUCKET}.s3.us-east-1.amazonaws.com TLSv1.3 - -\n"
        )
    };
    for (i, p) in pulls.iter().enumerate() {
        let key = blob_key(p.digest);
        // Now and then the blob is still being restored: S3 refuses the GET first (a failed
        // pull, no pull).
        if i % 40 == 0 {
            out += &line(
                p.ts,
                &p.ip,
                "REST.GET.OBJECT",
                &key,
                403,
                p.ua,
                "QueryString",
            )
            .replace(" 403 - ", " 403 InvalidObjectState ");
        }
        if p.ranges == 0 {
            out += &line(
                p.ts,
                &p.ip,
                "REST.GET.OBJECT",
                &key,
                200,
                p.ua,
                "QueryString",
            );
        } else {
            for i in 0..p.ranges {
                let ts = p.ts + Duration::seconds(90 * i64::from(i));
                out += &line(ts, &p.ip, "REST.GET.OBJECT", &key, 206, p.ua, "QueryString");
            }
        }
        // The registry checks the blob before redirecting: its own read, and a HEAD.
        let registry = "aws-sdk-go/1.44.327";
        out += &line(
            p.ts,
            "10.0.0.2",
            "REST.HEAD.OBJECT",
            &key,
            200,
            registry,
            "AuthHeader",
        );
    }
    out
}

/// The registry's JSON log: a 307 per pull (a resumed download asks the registry once).
fn registry_json(pulls: &[Pull]) -> String {
    pulls
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{{\"http.request.id\":\"req-{i}\",\"http.request.method\":\"GET\",\"http.request.remoteaddr\":\"{}\",\"http.request.uri\":\"/v2/{}/blobs/sha256:{}\",\"http.request.useragent\":\"{}\",\"http.response.status\":307,\"http.response.written\":0,\"level\":\"info\",\"msg\":\"response completed\",\"time\":\"{}\"}}\n",
                with_port(&p.ip, 40_000 + i as u32 % 20_000),
                p.repo,
                hex(p.digest),
                p.ua,
                p.ts.format("%Y-%m-%dT%H:%M:%S%.9fZ"),
            )
        })
        .collect()
}

/// The notifications: one envelope per pull, delivered again `retries` times a few envelopes
/// later (the same event `id`), plus HEAD pull events, which are no pulls.
fn notification_envelopes(pulls: &[Pull]) -> String {
    let envelope = |i: usize, p: &Pull, method: &str| {
        format!(
            "{{\"events\":[{{\"id\":\"evt-{i}-{method}\",\"timestamp\":\"{}\",\"action\":\"pull\",\"target\":{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:{}\",\"size\":4194304,\"length\":4194304,\"repository\":\"{}\",\"url\":\"http://registry:5000/v2/{}/blobs/sha256:{}\"}},\"request\":{{\"id\":\"req-{i}\",\"addr\":\"{}\",\"host\":\"registry:5000\",\"method\":\"{method}\",\"useragent\":\"{}\"}},\"actor\":{{}},\"source\":{{\"addr\":\"registry:5000\",\"instanceID\":\"i-1\"}}}}]}}\n",
            p.ts.format("%Y-%m-%dT%H:%M:%S%.9fZ"),
            hex(p.digest),
            p.repo,
            p.repo,
            hex(p.digest),
            with_port(&p.ip, 40_000 + i as u32 % 20_000),
            p.ua,
        )
    };
    let mut out = String::new();
    let mut pending: Vec<(usize, String)> = Vec::new();
    for (i, p) in pulls.iter().enumerate() {
        out += &envelope(i, p, "HEAD");
        out += &envelope(i, p, "GET");
        for k in 0..p.retries {
            pending.push((i + 3 + k as usize, envelope(i, p, "GET")));
        }
        pending.retain(|(at, text)| {
            if *at <= i {
                out += text;
            }
            *at > i
        });
    }
    for (_, text) in pending {
        out += &text;
    }
    out
}

/// The inventory: digests 0..25 (26..29 are pulled but absent from it).
fn inventory(as_of: NaiveDate) -> Vec<InvRow> {
    (0..26)
        .map(|d| {
            let lm = (as_of - Duration::days(200)).format("%Y-%m-%dT03:04:05.000Z");
            (blob_key(d), 4_194_304, lm.to_string(), "STANDARD".into())
        })
        .collect()
}

/// The ground truth per digest: pulls and unique clients per window, and the last pull
/// (scanners left out, as `stats` does by default).
#[derive(Debug, Default, PartialEq, Eq)]
struct Truth {
    pulls: Vec<i64>,
    unique: Vec<i64>,
    last_pull_at: Option<i64>,
}

fn truth(pulls: &[Pull], inv: &[InvRow], as_of: NaiveDate) -> BTreeMap<String, Truth> {
    let mut out: BTreeMap<String, Truth> = BTreeMap::new();
    for (key, ..) in inv {
        let h = key.rsplit('/').nth(1).unwrap();
        out.insert(format!("sha256:{h}"), Truth::default());
    }
    let in_window = |p: &Pull, n: u32| {
        let d = p.ts.date();
        d > as_of - Duration::days(i64::from(n)) && d <= as_of
    };
    for d in 0..30 {
        let mine: Vec<&Pull> = pulls
            .iter()
            .filter(|p| p.digest == d && !p.scanner && p.ts.date() <= as_of)
            .collect();
        let digest = format!("sha256:{}", hex(d));
        if !out.contains_key(&digest) && !mine.iter().any(|p| in_window(p, 90)) {
            continue;
        }
        let t = out.entry(digest).or_default();
        for n in WINDOWS {
            let w: Vec<&&Pull> = mine.iter().filter(|p| in_window(p, n)).collect();
            t.pulls.push(w.len() as i64);
            t.unique
                .push(w.iter().map(|p| &p.ip).collect::<BTreeSet<_>>().len() as i64);
        }
        t.last_pull_at = mine.iter().map(|p| p.ts.and_utc().timestamp_micros()).max();
    }
    for t in out.values_mut() {
        t.pulls.resize(WINDOWS.len(), 0);
        t.unique.resize(WINDOWS.len(), 0);
    }
    out
}

fn int(row: &[Cell], i: usize) -> i64 {
    match &row[i] {
        Cell::Int(n) => *n,
        c => panic!("expected an integer, got {c:?}"),
    }
}

/// `digest_stats` as [`Truth`]s.
fn observed(t: &Table) -> BTreeMap<String, Truth> {
    let digest = t.col("digest");
    let last = t.col("last_pull_at");
    t.rows
        .iter()
        .map(|row| {
            let Cell::Str(d) = &row[digest] else {
                panic!("digest {:?}", row[digest])
            };
            let truth = Truth {
                pulls: WINDOWS
                    .iter()
                    .map(|n| int(row, t.col(&format!("pulls_{n}d"))))
                    .collect(),
                unique: WINDOWS
                    .iter()
                    .map(|n| int(row, t.col(&format!("unique_clients_{n}d"))))
                    .collect(),
                last_pull_at: match &row[last] {
                    Cell::Ts(us) => Some(*us),
                    Cell::Null => None,
                    c => panic!("last_pull_at {c:?}"),
                },
            };
            (d.clone(), truth)
        })
        .collect()
}

/// The traffic's three sources written to `dir`, with the inventory report.
struct Sources {
    s3: PathBuf,
    json: PathBuf,
    notifications: PathBuf,
    manifest: PathBuf,
    as_of: NaiveDate,
    pulls: Vec<Pull>,
    inv: Vec<InvRow>,
}

fn sources(dir: &Path) -> Sources {
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let pulls = traffic(as_of);
    let inv = inventory(as_of);
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).unwrap();
    let (s3, json, notifications) = (
        logs.join("s3-access.log"),
        logs.join("registry.json"),
        logs.join("notifications.jsonl"),
    );
    fs::write(&s3, s3_log(&pulls)).unwrap();
    fs::write(&json, registry_json(&pulls)).unwrap();
    fs::write(&notifications, notification_envelopes(&pulls)).unwrap();
    let manifest = write_inventory(&dir.join("inv"), BUCKET, "2026-11-30", &inv);
    Sources {
        s3,
        json,
        notifications,
        manifest,
        as_of,
        pulls,
        inv,
    }
}

/// A fresh lake with `logs` (`FORMAT:PATH`) and the inventory ingested, and `stats` run with
/// `extra` arguments.
fn lake_with(dir: &Path, name: &str, src: &Sources, logs: &[String], extra: &[&str]) -> PathBuf {
    let lake = dir.join(name);
    let mut cmd = blobtier();
    cmd.args(["ingest", "--raw-clients", "--lake"]).arg(&lake);
    for l in logs {
        cmd.arg("--logs").arg(l);
    }
    run(cmd.arg("--inventory").arg(&src.manifest)).assert_success();
    run(blobtier()
        .args(["stats", "--as-of", &src.as_of.to_string(), "--lake"])
        .arg(&lake)
        .args(extra))
    .assert_success();
    lake
}

fn assert_truth(what: &str, lake: &Path, src: &Sources) {
    let want = truth(&src.pulls, &src.inv, src.as_of);
    let got = observed(&read_partition(lake, src.as_of));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: digests"
    );
    let mut wrong = Vec::new();
    for (d, w) in &want {
        if &got[d] != w {
            wrong.push(format!("{d}: got {:?}, want {w:?}", got[d]));
        }
    }
    assert!(
        wrong.is_empty(),
        "{what}: {} of {} digests differ from the traffic:\n{}",
        wrong.len(),
        want.len(),
        wrong.join("\n")
    );
    // The traffic is not trivial: most digests pulled, ranged downloads and retries present.
    assert!(want.values().filter(|t| t.pulls[2] > 0).count() >= 25);
}

/// The acceptance test of issue 16: three sources at once, and each alone, all equal to the
/// traffic.
#[test]
fn three_sources_of_one_traffic_count_each_pull_once() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sources(tmp.path());
    assert!(src.pulls.iter().any(|p| p.ranges > 1) && src.pulls.iter().any(|p| p.retries > 0));
    let s3 = format!("s3-access:{}", src.s3.display());
    let json = format!("registry-json:{}", src.json.display());
    let notif = format!("notifications:{}", src.notifications.display());
    let all = [s3.clone(), json.clone(), notif.clone()];
    let lake = lake_with(tmp.path(), "all", &src, &all, &[]);
    assert_truth("s3-access + registry-json + notifications", &lake, &src);
    for (name, logs) in [("s3", &s3), ("json", &json), ("notifications", &notif)] {
        let lake = lake_with(tmp.path(), name, &src, std::slice::from_ref(logs), &[]);
        assert_truth(logs.split(':').next().unwrap(), &lake, &src);
    }
    // One side only, with every source ingested: the same truth.
    for side in ["s3", "registry"] {
        let lake = lake_with(
            tmp.path(),
            &format!("all-{side}"),
            &src,
            &all,
            &["--pull-source", side],
        );
        assert_truth(&format!("--pull-source {side}"), &lake, &src);
    }
}

/// Spark runs the same rule: the Spark runner's `digest_stats` of the three-source lake equals
/// blobtier's, cell for cell, with each `--pull-source` (failed pulls included).
#[test]
fn spark_runner_reconciles_the_sources_as_blobtier_does() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sources(tmp.path());
    let all = [
        format!("s3-access:{}", src.s3.display()),
        format!("registry-json:{}", src.json.display()),
        format!("notifications:{}", src.notifications.display()),
    ];
    let lake = lake_with(tmp.path(), "all", &src, &all, &[]);
    let spark = tmp.path().join("spark");
    for args in [
        &[][..],
        &["--pull-source", "s3"],
        &["--pull-source", "registry"],
    ] {
        let table = compare_runs(&lake, src.as_of, args, &[], &spark);
        let failed = table.col("failed_pulls_90d");
        assert!(
            table
                .rows
                .iter()
                .any(|r| matches!(r[failed], Cell::Int(n) if n > 0)),
            "the lake has failed pulls"
        );
        assert_truth(&format!("blobtier stats {args:?}"), &lake, &src);
    }
}

/// The raw count stays in `pulls.requests`: every ranged GET and every delivery, while
/// `pulls.pulls` counts each download and each event once.
#[test]
fn the_pulls_table_keeps_the_raw_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sources(tmp.path());
    let logs = [
        format!("s3-access:{}", src.s3.display()),
        format!("notifications:{}", src.notifications.display()),
    ];
    let lake = lake_with(tmp.path(), "lake", &src, &logs, &[]);
    let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for f in crate::ingest::walk(&lake.join("pulls")) {
        let t = read_table(&f);
        let (source, pulls, requests) = (t.col("source"), t.col("pulls"), t.col("requests"));
        for row in &t.rows {
            let Cell::Str(s) = &row[source] else { panic!() };
            let e = sums.entry(s.clone()).or_default();
            e.0 += int(row, pulls);
            e.1 += int(row, requests);
        }
    }
    let n = src.pulls.len() as i64;
    let gets: i64 = src.pulls.iter().map(|p| i64::from(p.ranges.max(1))).sum();
    let deliveries: i64 = src.pulls.iter().map(|p| 1 + i64::from(p.retries)).sum();
    assert!(gets > n && deliveries > n);
    assert_eq!(sums["s3-access"], (n, gets));
    assert_eq!(sums["notifications"], (n, deliveries));
}

/// Clients pull an archived blob and S3 answers 403 `InvalidObjectState`: the lines reach
/// `failed_pulls`, `digest_stats` counts them, the nightly plan restores the blob
/// (`restore:failed_pulls`), the report opens with an alert naming it, and the metrics file
/// counts them. An archived blob nobody asked for stays where it is.
#[test]
fn failed_pulls_of_an_archived_blob_restore_it_and_raise_an_alert() {
    use crate::hostile::{
        blob_key, clf_day, csv_report, csv_row, hex, metrics, nightly, parquet_rows, run_config,
        s3_line_at, s3_pull,
    };
    let t = tempfile::tempdir().unwrap();
    let (logs, dest, lake) = (
        t.path().join("logs"),
        t.path().join("dest"),
        t.path().join("lake"),
    );
    fs::create_dir_all(&logs).unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    // Blob 0 in DEEP_ARCHIVE, pulled (and failing) by two clients; blob 1 in GLACIER, never
    // asked for; blob 2 pulled every day (the logs cover every day of the windows).
    let mut text: String = (0..95)
        .map(|d| s3_pull(as_of - Duration::days(d), "203.0.113.9", 2))
        .collect();
    let failed = |day: NaiveDate, time: &str, ip: &str| {
        s3_line_at(
            &format!("{}:{time} +0000", clf_day(day)),
            ip,
            &blob_key(&hex(0)),
        )
        .replace("\" 200 - 1000 1000", "\" 403 InvalidObjectState 243 - ")
    };
    for (day, time, ip) in [
        (1, "08:00:00", "198.51.100.1"),
        (1, "08:00:03", "198.51.100.1"),
        (0, "09:30:00", "198.51.100.2"),
    ] {
        text += &failed(as_of - Duration::days(day), time, ip);
    }
    fs::write(logs.join("2026-11-26-00-00-00-A"), text).unwrap();
    let row = |i: u32, class: &str| {
        csv_row(
            &blob_key(&hex(i)),
            "52428800",
            "2025-06-01T00:00:00.000Z",
            class,
        )
    };
    let csv = row(0, "DEEP_ARCHIVE") + &row(1, "GLACIER") + &row(2, "STANDARD");
    csv_report(&dest, &as_of.to_string(), &csv);
    let inv = dest.join(format!("{}/cfg", crate::hostile::BUCKET));
    let cfg = run_config(t.path(), &lake, &logs, &inv, "");
    let prom = t.path().join("blobtier.prom");
    let out = nightly(
        &cfg,
        &as_of.to_string(),
        &["--metrics-file", prom.to_str().unwrap()],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        metrics(&out)["ingest"]["totals"]["failed_pulls"],
        3,
        "{out}"
    );

    // The 403 lines, in their own table (and not as pulls).
    let digest0 = format!("sha256:{}", hex(0));
    let rows = parquet_rows(&lake.join("failed_pulls"));
    let requests: i64 = rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
    assert_eq!(requests, 3, "{rows:?}");
    assert!(rows.iter().all(|r| r["digest"] == digest0.as_str()
        && r["status"] == 403
        && r["error_code"] == "InvalidObjectState"
        && r["source"] == "s3-access"));
    let pulls = parquet_rows(&lake.join("pulls"));
    assert!(
        pulls.iter().all(|r| r["digest"] != digest0.as_str()),
        "{pulls:?}"
    );
    let stats = read_partition(&lake, as_of);
    let d0 = stats
        .rows
        .iter()
        .find(|r| r[stats.col("digest")] == Cell::Str(digest0.clone()))
        .unwrap();
    assert_eq!(d0[stats.col("failed_pulls_7d")], Cell::Int(3));
    assert_eq!(d0[stats.col("pulls_30d")], Cell::Int(0));

    // The plan restores blob 0, keeps blob 1.
    let decisions = parquet_rows(&lake.join(format!("decisions/as_of={as_of}")));
    let reason = |i: u32| {
        let d = format!("sha256:{}", hex(i));
        let r = decisions
            .iter()
            .find(|r| r["digest"] == d.as_str())
            .unwrap();
        (
            r["action"].as_str().unwrap().to_string(),
            r["reason"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(reason(0), ("restore".into(), "restore:failed_pulls".into()));
    assert_eq!(reason(1).1, "kept:archived");

    // The report opens with the alert, naming the blob.
    let md = fs::read_to_string(lake.join(format!("reports/as_of={as_of}/report.md"))).unwrap();
    let alert = md
        .find("Failed pulls: clients could not download 1 blobs")
        .unwrap_or_else(|| panic!("{md}"));
    let first_heading = md.find("\n## ").unwrap();
    assert!(alert < first_heading, "the alert comes first:\n{md}");
    let short = &hex(0)[..12];
    let line = md[alert..]
        .lines()
        .find(|l| l.contains(short))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        line.contains("`DEEP_ARCHIVE`")
            && line.contains("3 failed pulls")
            && line.contains("restore:failed_pulls"),
        "{line}"
    );

    // The metrics file counts them.
    let prom = fs::read_to_string(&prom).unwrap();
    assert!(
        prom.contains("\nblobtier_ingest_failed_pulls 3.0\n"),
        "{prom}"
    );
}
