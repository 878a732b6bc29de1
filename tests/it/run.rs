//! The nightly job through the real binary: identical re-runs, incremental days, the coverage
//! guard, and mutual exclusion of concurrent runs.
//! See: issue 8.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};

use crate::ingest::{hex_of, s3_pull_line, walk, KEY};
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run, Output};

const AS_OF: &str = "2026-11-26";

fn as_of() -> NaiveDate {
    NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap()
}

/// One log file per day for `days` days ending on as-of: digests 0..4 pulled every day, so
/// they stay; digests 4..20 are in the inventory and never pulled, so they go cold.
fn write_day(logs: &Path, day: NaiveDate) {
    let mut text = String::new();
    for i in 0..4u32 {
        text.push_str(&s3_pull_line(
            &day.format("%d/%b/%Y").to_string(),
            "12:00:00",
            &format!("203.0.113.{i}"),
            &hex_of(i),
            "containerd/1.7.13",
            10,
        ));
    }
    fs::write(
        logs.join(format!("{}-12-00-00-X", day.format("%Y-%m-%d"))),
        text,
    )
    .unwrap();
}

fn setup(t: &Path, skip_day: Option<i64>) -> PathBuf {
    let logs = t.join("logs");
    fs::create_dir_all(&logs).unwrap();
    for d in 0..95 {
        if Some(d) != skip_day {
            write_day(&logs, as_of() - Days::days(d));
        }
    }
    let rows: Vec<InvRow> = (0..20u32)
        .map(|i| {
            let h = hex_of(i);
            (
                format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2]),
                50 << 20,
                "2025-06-01T00:00:00.000Z".to_string(),
                "STANDARD".to_string(),
            )
        })
        .collect();
    write_inventory(&t.join("inv"), "registry-prod", AS_OF, &rows);
    let cfg = t.join("blobtier.toml");
    fs::write(
        &cfg,
        format!(
            "[run]\nlake = \"{}\"\nlogs = [\"s3-access:{}\"]\ninventory = \"{}\"\n",
            t.join("lake").display(),
            logs.display(),
            t.join("inv/dest/registry-prod/cfg").display()
        ),
    )
    .unwrap();
    cfg
}

fn nightly(cfg: &Path, extra: &[&str]) -> Output {
    run(blobtier()
        .arg("--config")
        .arg(cfg)
        .args(["run", "--as-of", AS_OF])
        .args(extra)
        .env("BLOBTIER_CLIENT_KEY", KEY))
}

fn derived(lake: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    ["digest_stats", "decisions", "plan", "hot_set"]
        .iter()
        .flat_map(|t| walk(&lake.join(t)))
        .map(|p| {
            (
                p.strip_prefix(lake).unwrap().to_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn run_twice_gives_identical_outputs_and_a_new_day_is_the_only_input_read() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), None);
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["outcome"], "success");
    assert_eq!(rec["ingest"]["files_read"], 95);
    assert_eq!(rec["plan"]["totals"]["actions"], 16, "{}", rec["plan"]);
    let lake = t.path().join("lake");
    let first = derived(&lake);
    assert!(!first.is_empty());
    assert_eq!(walk(&lake.join("_runs")).len(), 1);

    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["ingest"]["files_read"], 0);
    assert_eq!(
        derived(&lake),
        first,
        "a re-run must give byte-identical outputs"
    );

    write_day(&t.path().join("logs"), as_of() + Days::days(1));
    let out = run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--as-of", "2026-11-27"])
        .env("BLOBTIER_CLIENT_KEY", KEY));
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["ingest"]["files_read"], 1);
}

#[test]
fn a_day_without_logs_holds_every_move_down_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), Some(40));
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("coverage guard") && out.stderr.contains("2026-10-17"),
        "{out}"
    );
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["outcome"], "held_down");
    assert_eq!(rec["plan"]["totals"]["actions"], 0);
    assert_eq!(rec["plan"]["totals"]["by_reason"]["kept:coverage_gap"], 16);
    // Stats were still written.
    assert_eq!(walk(&t.path().join("lake/digest_stats")).len(), 1);
    let out = nightly(&cfg, &["--allow-gaps"]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["plan"]["totals"]["actions"], 16);
}

#[test]
fn a_second_concurrent_run_exits_2_naming_the_holder() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), None);
    let mut first = blobtier();
    first
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--as-of", AS_OF])
        .env("BLOBTIER_CLIENT_KEY", KEY)
        .env("BLOBTIER_TEST_PAUSE_BEFORE_COMMIT", "1");
    first.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = first.spawn().unwrap();
    let lock = t.path().join("lake/_run_lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lock.exists() {
        assert!(Instant::now() < deadline, "first run never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = nightly(&cfg, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr.contains("locked by another run")
            && out.stderr.contains(&format!("pid {}", child.id())),
        "{out}"
    );
    // The killed run left a stale lock and staged files; the next run takes over and completes.
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
}
