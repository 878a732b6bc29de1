//! Issue 17 case 1: the coverage guard counts the days that have log lines, not the span
//! between an input's first and last day (case 12, `stats --windows 7`, is in `tests/it/stats.rs`).

use std::fs;

use chrono::Duration;

use super::*;

const AS_OF: &str = "2026-11-26";

fn as_of() -> NaiveDate {
    NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap()
}

/// An inventory of blob 0 (pulled) and blobs 1..=5 (cold, 50 MiB, old) dated as-of.
fn inventory(dest: &Path) -> PathBuf {
    old_blobs_report(dest, AS_OF, 6)
}

/// 88 of the 90 days have no logs: `run` holds every move and exits 1. One line dated
/// 2020-01-01 in the same file made the input's span cover every day: exit 0 and the moves went
/// ahead, without a warning. Coverage now comes from the days that have lines (a day whose only
/// line is a HEAD still has logs), kept per input and per day in the ledger.
#[test]
fn one_old_line_does_not_switch_off_the_coverage_guard() {
    let t = tempfile::tempdir().unwrap();
    let (logs, dest, lake) = (
        t.path().join("logs"),
        t.path().join("dest"),
        t.path().join("lake"),
    );
    fs::create_dir_all(&logs).unwrap();
    let head = s3_pull(as_of() - Duration::days(2), "203.0.113.2", 0)
        .replace("REST.GET.OBJECT", "REST.HEAD.OBJECT")
        .replace("\"GET ", "\"HEAD ");
    let text = format!(
        "{}{}{}{}",
        s3_pull(
            NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            "203.0.113.1",
            0
        ),
        head,
        s3_pull(as_of() - Duration::days(1), "203.0.113.1", 0),
        s3_pull(as_of(), "203.0.113.1", 0),
    );
    fs::write(logs.join("2026-11-26-00-00-00-A"), text).unwrap();
    let inv = inventory(&dest);
    let cfg = run_config(t.path(), &lake, &logs, &inv, "");
    let out = nightly(&cfg, AS_OF, &[]);
    assert_eq!(out.code(), 1, "the guard must hold the moves\n{out}");
    assert!(out.stderr.contains("coverage guard"), "{out}");
    let rec = metrics(&out);
    assert_eq!(rec["outcome"], "held_down", "{rec}");
    assert_eq!(rec["plan"]["totals"]["actions"], 0, "{}", rec["plan"]);
    let missing: Vec<&str> = rec["coverage"]["missing_days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(missing.len(), 87, "{missing:?}");
    assert!(missing.contains(&"2026-11-23") && !missing.contains(&"2026-11-24"));
    // The ledger keeps the lines of each day of the input.
    let l = ledger(&lake);
    let days = &l[0]["inputs"][0]["days"];
    assert_eq!(
        days,
        &serde_json::json!({"2020-01-01": 1, "2026-11-24": 1, "2026-11-25": 1, "2026-11-26": 1}),
        "{}",
        l[0]["inputs"][0]
    );
}
