//! `run --metrics-file`: the nightly job's Prometheus textfile, checked line by line against the
//! text format 0.0.4 grammar, against the run record, and across a failed night (the last
//! success time survives an exit 2).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use chrono::{Duration, NaiveDate};

use crate::hostile::{metrics, nightly, old_blobs_report, run_config, s3_pull};

const AS_OF: &str = "2026-11-26";

/// `name{labels}` → value, after checking every line: `# HELP name …`, `# TYPE name gauge`, or
/// `name{label="value",…} number`, every sample's name declared by a TYPE line before it.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut typed = Vec::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(name_ok(rest.split(' ').next().unwrap()), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(name_ok(name) && kind == "gauge", "{line}");
            typed.push(name.to_owned());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let name = series.split('{').next().unwrap();
            assert!(typed.iter().any(|t| t == name), "no TYPE before {line}");
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}'));
                    for pair in inner.unwrap_or_else(|| panic!("{line}")).split(',') {
                        let (k, v) = pair.split_once('=').unwrap();
                        assert!(
                            name_ok(k) && v.starts_with('"') && v.ends_with('"'),
                            "{line}"
                        );
                    }
                }
            }
            out.insert(
                series.to_owned(),
                value.parse::<f64>().unwrap_or_else(|_| panic!("{line}")),
            );
        }
    }
    out
}

fn setup(t: &Path) -> std::path::PathBuf {
    let (logs, dest, lake) = (t.join("logs"), t.join("dest"), t.join("lake"));
    fs::create_dir_all(&logs).unwrap();
    let as_of = NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap();
    let text: String = (0..95)
        .map(|d| s3_pull(as_of - Duration::days(d), "203.0.113.9", 0))
        .collect();
    fs::write(logs.join("2026-11-26-00-00-00-A"), text).unwrap();
    let inv = old_blobs_report(&dest, AS_OF, 4);
    run_config(t, &lake, &logs, &inv, "")
}

#[test]
fn the_textfile_matches_the_run_and_survives_a_failed_night() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path());
    let prom = t.path().join("textfile/blobtier.prom");
    let out = nightly(&cfg, AS_OF, &["--metrics-file", prom.to_str().unwrap()]);
    assert_eq!(out.code(), 0, "{out}");
    let rec = metrics(&out);
    let s = samples(&fs::read_to_string(&prom).unwrap());
    assert_eq!(s["blobtier_run_outcome{outcome=\"success\"}"], 1.0);
    assert_eq!(s["blobtier_run_outcome{outcome=\"error\"}"], 0.0);
    let last = s["blobtier_run_last_run_timestamp_seconds"];
    assert_eq!(s["blobtier_run_last_success_timestamp_seconds"], last);
    for stage in ["ingest", "stats", "plan", "report"] {
        let key = format!("blobtier_run_stage_duration_seconds{{stage=\"{stage}\"}}");
        // One number written twice (shortest round-trip digits both times). serde_json's
        // default float parser may land one ULP off (1.3000574999999999 for 1.3000575), so
        // compare to 1e-12 relative: a wrong stage or unit is off by far more.
        let (got, want) = (s[&key], rec["timings"][stage].as_f64().unwrap());
        assert!(
            (got - want).abs() <= want.abs() * 1e-12,
            "{key}: {got} vs {want}"
        );
    }
    let totals = &rec["ingest"]["totals"];
    assert_eq!(
        s["blobtier_ingest_lines"],
        totals["lines"].as_f64().unwrap()
    );
    assert_eq!(
        s["blobtier_ingest_pulls"],
        totals["pulls"].as_f64().unwrap()
    );
    assert_eq!(s["blobtier_coverage_missing_days"], 0.0);
    let plan = &rec["plan"]["totals"];
    let now = plan["monthly_cost_now"].as_f64().unwrap();
    let after = plan["monthly_cost_after"].as_f64().unwrap();
    assert!(now > after, "the cold blobs move: {plan}");
    assert_eq!(s["blobtier_plan_monthly_cost_dollars{when=\"now\"}"], now);
    assert!((s["blobtier_plan_monthly_savings_dollars"] - (now - after)).abs() < 1e-12);
    assert_eq!(
        s["blobtier_plan_actions"],
        plan["actions"].as_f64().unwrap()
    );
    // No hidden sibling is left beside it (the collector reads `*.prom` only anyway).
    assert_eq!(fs::read_dir(prom.parent().unwrap()).unwrap().count(), 1);

    // The next night fails (its log source is gone): exit 2, the file says so and keeps the
    // last success.
    fs::remove_dir_all(t.path().join("logs")).unwrap();
    let out = nightly(
        &cfg,
        "2026-11-27",
        &["--metrics-file", prom.to_str().unwrap()],
    );
    assert_eq!(out.code(), 2, "{out}");
    let s2 = samples(&fs::read_to_string(&prom).unwrap());
    assert_eq!(s2["blobtier_run_outcome{outcome=\"error\"}"], 1.0);
    assert_eq!(s2["blobtier_run_outcome{outcome=\"success\"}"], 0.0);
    assert_eq!(s2["blobtier_run_last_success_timestamp_seconds"], last);
    assert!(s2["blobtier_run_last_run_timestamp_seconds"] >= last);
    assert!(
        !s2.contains_key("blobtier_ingest_lines"),
        "no record, no run facts: {s2:?}"
    );
}
