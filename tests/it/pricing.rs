//! Pricing through the real binary: the region a plan is priced in (`plan.region`), and
//! storage volume tiers on a bucket whose STANDARD total is above 50 TB.
//!
//! Expected figures are written out by hand from the price tables (`pricing/*.toml`), GB =
//! 2^30 bytes:
//! - us-east-1 STANDARD: first 50 TB (51,200 GB) $0.023, next 450 TB $0.022, over 500 TB
//!   $0.021 per GB-month; GLACIER_IR $0.004.
//! - eu-central-1 STANDARD: $0.0245 / $0.0235 / $0.0225; GLACIER_IR $0.005.
//!
//! The lake: thirty young STANDARD objects of 2 TiB (61,440 GB: the `warm` rule keeps them,
//! they are younger than 30 days) and one old, never pulled 10 GiB STANDARD object that the
//! `cold` rule moves to GLACIER_IR. STANDARD holds 61,450 GB before the plan and 61,440 GB
//! after it: above the first tier both times.
//!
//! See: issue 15 (item 8).

use std::fs;
use std::path::{Path, PathBuf};

use crate::ingest::{hex_of, s3_pull_line, KEY};
use crate::stats::write_inventory;
use crate::support::cli::{blobtier, run, Output};
use crate::support::parquet;

const AS_OF: &str = "2026-11-26";
const TIB: u64 = 1 << 40;
const GIB: u64 = 1 << 30;

fn key_of(i: u32) -> String {
    let h = hex_of(i);
    format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2])
}

fn stage(cfg: &Path, lake: &Path, cmd: &str, extra: &[&str]) -> Output {
    run(blobtier()
        .arg("--config")
        .arg(cfg)
        .args([cmd, "--as-of", AS_OF, "--lake"])
        .arg(lake)
        .args(extra))
}

/// Builds the lake described in the module doc with `config` as `blobtier.toml`, runs
/// `stats`, `plan` and `report`; returns (lake, config path).
fn big_bucket(t: &Path, config: &str) -> (PathBuf, PathBuf) {
    let logs = t.join("logs");
    fs::create_dir_all(&logs).unwrap();
    // One pull of an object that is not in the inventory, so the log source exists.
    fs::write(
        logs.join("2026-11-25-12-00-00-X"),
        s3_pull_line(
            "25/Nov/2026",
            "08:00:00",
            "192.0.2.10",
            &hex_of(999),
            "containerd/1.7.13",
            1000,
        ),
    )
    .unwrap();
    let young = "2026-11-20T00:00:00.000Z";
    let old = "2025-06-01T00:00:00.000Z";
    let mut rows: Vec<crate::stats::InvRow> = (0..30u32)
        .map(|i| (key_of(i), 2 * TIB, young.into(), "STANDARD".into()))
        .collect();
    rows.push((key_of(100), 10 * GIB, old.into(), "STANDARD".into()));
    let manifest = write_inventory(&t.join("inv"), "registry-prod", AS_OF, &rows);
    let lake = t.join("lake");
    run(blobtier()
        .args(["ingest", "--max-bad-ratio", "0.5", "--lake"])
        .arg(&lake)
        .arg("--logs")
        .arg(format!("s3-access:{}", logs.display()))
        .arg("--inventory")
        .arg(&manifest)
        .env("BLOBTIER_CLIENT_KEY", KEY))
    .assert_success();
    let cfg = t.join("blobtier.toml");
    fs::write(&cfg, config).unwrap();
    stage(&cfg, &lake, "stats", &[]).assert_success();
    // Only one day of logs: plan despite the gaps.
    stage(&cfg, &lake, "plan", &["--allow-gaps"]).assert_success();
    stage(&cfg, &lake, "report", &[]).assert_success();
    (lake, cfg)
}

/// (key, from_class, to_class, monthly_cost_now, monthly_cost_after) of every decision.
fn decisions(lake: &Path) -> Vec<(String, String, String, f64, f64)> {
    let b = parquet::read(&lake.join(format!("decisions/as_of={AS_OF}/part-0.parquet")));
    let text = |n: &str| parquet::texts(&b, n);
    let (key, from, to) = (text("key"), text("from_class"), text("to_class"));
    let (now, after) = (
        parquet::f64s(&b, "monthly_cost_now"),
        parquet::f64s(&b, "monthly_cost_after"),
    );
    (0..b.num_rows())
        .map(|i| {
            (
                key[i].clone(),
                from[i].clone(),
                to[i].clone(),
                now[i],
                after[i],
            )
        })
        .collect()
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_slice(&fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

#[track_caller]
fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1e-3),
        "{what}: got {got}, want {want}"
    );
}

/// The cold blob of [`big_bucket`]: (monthly_cost_now, monthly_cost_after); it must move to
/// GLACIER_IR.
fn cold_blob(lake: &Path) -> (f64, f64) {
    let d = decisions(lake);
    assert_eq!(d.len(), 31);
    let cold = d.iter().find(|r| r.0 == key_of(100)).unwrap();
    assert_eq!(
        (cold.1.as_str(), cold.2.as_str()),
        ("STANDARD", "GLACIER_IR")
    );
    (cold.3, cold.4)
}

/// A class total above 50 TB: a move is priced at the marginal (second-tier) rate, and the
/// report's totals per class use the tiered formula.
#[test]
fn above_50_tb_a_move_is_priced_at_the_second_tier() {
    let t = tempfile::tempdir().unwrap();
    let (lake, _) = big_bucket(t.path(), "");
    let (now, after) = cold_blob(&lake);
    // 10 GB at the second STANDARD tier (61,450 GB is past the first 51,200 GB), and at
    // GLACIER_IR's only rate.
    close(now, 10.0 * 0.022, "cold blob now");
    close(after, 10.0 * 0.004, "cold blob after");
    let summary = json(lake.join(format!("reports/as_of={AS_OF}/summary.json")));
    assert_eq!(summary["pricing"]["region"], "us-east-1");
    let standard = summary["by_class"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "STANDARD")
        .unwrap();
    // Tiered: 51,200 GB at 0.023 + the rest at 0.022 (no pulls: storage only).
    close(
        standard["monthly_now"].as_f64().unwrap(),
        51_200.0 * 0.023 + (61_450.0 - 51_200.0) * 0.022,
        "STANDARD now",
    );
    close(
        standard["monthly_after"].as_f64().unwrap(),
        51_200.0 * 0.023 + (61_440.0 - 51_200.0) * 0.022,
        "STANDARD after",
    );
    let headline = &summary["headline"];
    close(
        headline["monthly_cost_now"].as_f64().unwrap(),
        51_200.0 * 0.023 + (61_450.0 - 51_200.0) * 0.022,
        "headline now",
    );
    close(
        headline["monthly_savings"].as_f64().unwrap(),
        10.0 * 0.022 - 10.0 * 0.004,
        "headline savings",
    );
    let md = fs::read_to_string(lake.join(format!("reports/as_of={AS_OF}/report.md"))).unwrap();
    assert!(
        md.contains(
            "Volume tiers, STANDARD: 61,450 GB before the plan, 61,440 GB after; each move is \
             priced at the marginal rate $0.022/GB-month"
        ),
        "{md}"
    );
    // us-east-1 has no unverified price.
    assert!(!md.contains("has no source for"), "{md}");
}

/// `plan.region = "eu-central-1"`: the plan, its summary and the report use that region's table.
#[test]
fn a_plan_in_eu_central_1_uses_that_regions_prices() {
    let t = tempfile::tempdir().unwrap();
    let (lake, _) = big_bucket(t.path(), "[plan]\nregion = \"eu-central-1\"\n");
    let (now, after) = cold_blob(&lake);
    close(now, 10.0 * 0.0235, "cold blob now");
    close(after, 10.0 * 0.005, "cold blob after");
    let plan = json(lake.join(format!("plan/as_of={AS_OF}/plan.summary.json")));
    assert_eq!(plan["pricing_region"], "eu-central-1");
    let summary = json(lake.join(format!("reports/as_of={AS_OF}/summary.json")));
    assert_eq!(summary["pricing"]["region"], "eu-central-1");
    let md = fs::read_to_string(lake.join(format!("reports/as_of={AS_OF}/report.md"))).unwrap();
    assert!(
        md.contains("Prices: eu-central-1 list prices published 2024-09-25"),
        "{md}"
    );
    assert!(
        md.contains(
            "The eu-central-1 price table has no source for \
             `classes.DEEP_ARCHIVE.get_per_1000`"
        ),
        "{md}"
    );
}

/// An unknown region is a config error naming the key and the regions there are.
#[test]
fn an_unknown_region_is_a_config_error_naming_the_key() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("blobtier.toml");
    fs::write(&cfg, "[plan]\nregion = \"mars-1\"\n").unwrap();
    let out = stage(&cfg, &t.path().join("lake"), "plan", &[]);
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr.contains(
            "invalid `plan.region`: expected one of `us-east-1`, `us-west-2`, `eu-west-1`, \
             `eu-central-1`, `ap-northeast-1`, got `mars-1`"
        ),
        "{out}"
    );
}
