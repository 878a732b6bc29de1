//! `sample-data/` (made by `examples/gen-sample`) against the generator's own ground truth,
//! `sample-data/expected.json` and `expected-pulls.csv.gz`, which it computes from its event
//! model, not by parsing its output: exact lines, pulls, manifest requests and rejects per
//! format; pulls per day; per-digest window sums in `digest_stats`; the demo end to end.
//! See: issues 2, 3, 4 and 8.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use chrono::NaiveDate;

use crate::ingest::{walk, KEY};
use crate::support::cli::{blobtier, run};
use crate::support::parquet;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data")
}

fn expected() -> serde_json::Value {
    let p = sample().join("expected.json");
    serde_json::from_slice(&fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn read_i64_by(files: &[PathBuf], key: &str, value: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for f in files {
        let b = parquet::read(f);
        let k = arrow::compute::cast(b.column_by_name(key).unwrap(), &DataType::Utf8).unwrap();
        let k = k.as_string::<i32>();
        let v = b.column_by_name(value).unwrap().as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            if !k.is_null(i) {
                *out.entry(k.value(i).to_string()).or_default() += v.value(i);
            }
        }
    }
    out
}

/// Pulls per day from the lake's `pulls/date=…` partitions.
fn pulls_per_day(lake: &Path) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for f in walk(&lake.join("pulls")) {
        let day = f
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches("date=")
            .to_string();
        let n: i64 = read_i64_by(std::slice::from_ref(&f), "digest", "pulls")
            .values()
            .sum();
        *out.entry(day).or_default() += n;
    }
    out
}

#[test]
fn every_format_of_the_sample_gives_the_generators_exact_counts() {
    let exp = expected();
    for fmt in [
        "s3-access",
        "registry-json",
        "registry-combined",
        "notifications",
    ] {
        let e = &exp["formats"][fmt];
        let t = tempfile::tempdir().unwrap();
        let lake = t.path().join("lake");
        let out = run(blobtier()
            .args(["ingest", "--lake"])
            .arg(&lake)
            .args([
                "--logs",
                &format!("{fmt}:{}", sample().join("logs").join(fmt).display()),
            ])
            .env("BLOBTIER_CLIENT_KEY", KEY));
        assert_eq!(out.code(), 0, "{fmt}: {out}");
        let m: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let tot = &m["totals"];
        assert_eq!(tot["lines"], e["lines"], "{fmt} lines");
        assert_eq!(tot["pulls"], e["pulls"], "{fmt} pulls");
        assert_eq!(
            tot["manifest_requests"], e["manifest_requests"],
            "{fmt} manifest requests"
        );
        let want: BTreeMap<String, u64> = e["rejects"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.as_u64() != Some(0))
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        let got: BTreeMap<String, u64> = tot["rejects"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(got, want, "{fmt} rejects");
        let want_days: BTreeMap<String, i64> = e["pulls_per_day"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.as_i64() != Some(0))
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        assert_eq!(pulls_per_day(&lake), want_days, "{fmt} pulls per day");
    }
}

/// Window sums of `digest_stats` (with scanners, which the generator counts) equal the sums
/// of the generator's per-(day, digest) pulls.
#[test]
fn digest_stats_of_the_sample_match_the_generators_per_digest_pulls() {
    let exp = expected();
    let as_of =
        NaiveDate::parse_from_str(exp["window"]["last_day"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let t = tempfile::tempdir().unwrap();
    let lake = t.path().join("lake");
    let manifests: Vec<PathBuf> = walk(&sample().join("inventory"))
        .into_iter()
        .filter(|p| p.ends_with("manifest.json") && p.to_string_lossy().contains("daily-csv"))
        .collect();
    let mut cmd = blobtier();
    cmd.args(["ingest", "--lake"])
        .arg(&lake)
        .args([
            "--logs",
            &format!("s3-access:{}", sample().join("logs/s3-access").display()),
        ])
        .env("BLOBTIER_CLIENT_KEY", KEY);
    for m in &manifests {
        cmd.arg("--inventory").arg(m);
    }
    run(&mut cmd).assert_success();
    run(blobtier()
        .args([
            "stats",
            "--include-scanners",
            "--as-of",
            &as_of.to_string(),
            "--lake",
        ])
        .arg(&lake))
    .assert_success();

    let mut csv = String::new();
    flate2::read::GzDecoder::new(fs::File::open(sample().join("expected-pulls.csv.gz")).unwrap())
        .read_to_string(&mut csv)
        .unwrap();
    let mut want: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let mut f = line.split(',');
        let (day, digest, n) = (
            f.next().unwrap(),
            f.next().unwrap(),
            f.next().unwrap().parse::<i64>().unwrap(),
        );
        let age = (as_of - NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap()).num_days();
        let w = want.entry(digest.to_string()).or_default();
        for (i, n_days) in [7, 30, 90].iter().enumerate() {
            if (0..*n_days).contains(&age) {
                w[i] += n;
            }
        }
    }
    let files = walk(&lake.join("digest_stats"));
    let cols = ["pulls_7d", "pulls_30d", "pulls_90d"].map(|c| read_i64_by(&files, "digest", c));
    let mut checked = 0;
    for (d, w) in &want {
        let got = [0, 1, 2].map(|i| cols[i].get(d).copied().unwrap_or(0));
        assert_eq!(&got, w, "{d}");
        checked += 1;
    }
    // Digests in the stats but not in the truth file were never pulled.
    for (d, n) in &cols[2] {
        if !want.contains_key(d) {
            assert_eq!(*n, 0, "{d}");
        }
    }
    assert!(checked > 100, "only {checked} digests checked");
    assert_eq!(
        checked,
        exp["distinct_digests_pulled"].as_u64().unwrap() as usize
    );
}

/// The README's first command, as a newcomer runs it, minus `--release`: CI builds the debug
/// profile only (see docs/benchmarks.md for the release build time).
#[test]
fn demo_runs_from_the_repository_root_and_prints_the_headline() {
    let t = tempfile::tempdir().unwrap();
    let out = run(blobtier()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--out"])
        .arg(t.path().join("demo")));
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.contains("monthly cost now $"), "{out}");
    assert!(out.stdout.contains("net 12-month savings $"), "{out}");
    assert!(t.path().join("demo/lake/plan").is_dir());
}
