//! The coverage guard of a standalone `blobtier plan`: the same guard as `run`'s, with the
//! same override (`--allow-gaps`), which the plan summary and the report show.
//!
//! See: issue 15 ("A standalone `blobtier plan` has no coverage guard").

use std::fs;

use crate::run::{setup, AS_OF};
use crate::support::cli::{blobtier, run, Output};

const KEY: &str = "plan-guard-test-key";

fn plan(cfg: &std::path::Path, lake: &std::path::Path, extra: &[&str]) -> Output {
    run(blobtier()
        .arg("--config")
        .arg(cfg)
        .args(["plan", "--lake"])
        .arg(lake)
        .args(["--as-of", AS_OF])
        .args(extra)
        .env("BLOBTIER_CLIENT_KEY", KEY))
}

/// A day without logs in the window: `plan` holds every move down (exit 1, like `run`) and
/// says why; `--allow-gaps` plans the moves and the summary and the report say the gaps
/// were overridden.
#[test]
fn a_standalone_plan_holds_moves_down_on_missing_log_days_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), Some(40));
    let lake = t.path().join("lake");
    // Ingest and stats (the run itself is overridden, so it plans too).
    let out = run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--as-of", AS_OF, "--allow-gaps"])
        .env("BLOBTIER_CLIENT_KEY", KEY));
    assert_eq!(out.code(), 0, "{out}");

    let out = plan(&cfg, &lake, &[]);
    assert_eq!(out.code(), 1, "the guard must hold the moves\n{out}");
    assert!(
        out.stderr.contains("coverage guard") && out.stderr.contains("2026-10-17"),
        "{out}"
    );
    let s: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(s["totals"]["actions"], 0, "{s:#}");
    assert_eq!(s["totals"]["by_reason"]["kept:coverage_gap"], 16, "{s:#}");
    assert!(
        s["held_down"].as_str().unwrap().contains("2026-10-17"),
        "{s:#}"
    );
    assert!(s["gaps_allowed"].is_null(), "{s:#}");

    let out = plan(&cfg, &lake, &["--allow-gaps"]);
    assert_eq!(out.code(), 0, "{out}");
    let s: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(s["totals"]["actions"], 16, "{s:#}");
    assert!(s["held_down"].is_null(), "{s:#}");
    let allowed = s["gaps_allowed"].as_str().unwrap();
    assert!(allowed.contains("2026-10-17"), "{s:#}");

    let out = run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["report", "--lake"])
        .arg(&lake)
        .args(["--as-of", AS_OF]));
    assert_eq!(out.code(), 0, "{out}");
    let md = fs::read_to_string(lake.join(format!("reports/as_of={AS_OF}/report.md"))).unwrap();
    assert!(
        md.contains("--allow-gaps") && md.contains("2026-10-17"),
        "the report must show the override:\n{md}"
    );
}
