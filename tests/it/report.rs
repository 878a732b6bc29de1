//! `report` and `backtest` through the real binary, on lakes built from generated logs and
//! inventories:
//! - every figure of `summary.json` is recomputed here from the `decisions`, `digest_stats` and
//!   `hot_set` tables, and every dollar amount in `report.md` is one of them;
//! - `report.html` opens in headless Chromium (installed by `tests/setup/install-apt.sh chromium`;
//!   the test fails if it cannot be) without console messages, with the expected number of
//!   charts, and its screenshot shows the charts' colours;
//! - `report.md` is compared with the insta snapshot `snapshots/it__report__markdown_report.snap`
//!   after filtering the version and hashes; a change is reviewed with `cargo insta review`;
//! - the backtest on a lake where the answer is known: blobs planned cold 30 days before
//!   as-of and then pulled N times cost N retrievals, archived blobs pulled fail.
//!
//! See: issue 5.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use chrono::{Duration, NaiveDate};

use blobtier::cost::{self, Prices};
use blobtier::model::{Method, RestoreTier, StorageClass};
use blobtier::report::money;

use crate::ingest::{hex_of, s3_pull_line, KEY};
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run, tree_digest_excluding, Output};

const AS_OF: &str = "2026-11-26";
const GIB: u64 = 1 << 30;
const OLD: &str = "2025-06-01T00:00:00.000Z";

fn as_of() -> NaiveDate {
    NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap()
}

fn key_of(i: u32) -> String {
    let h = hex_of(i);
    format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2])
}

fn inv(i: u32, size: u64, lm: &str, class: &str) -> InvRow {
    (key_of(i), size, lm.to_string(), class.to_string())
}

/// Appends `n` pulls of digest `i` by `ip` on `day`.
fn pulls(text: &mut String, day: NaiveDate, i: u32, ip: &str, n: u32) {
    for k in 0..n {
        text.push_str(&s3_pull_line(
            &day.format("%d/%b/%Y").to_string(),
            &format!("{:02}:{:02}:{:02}", 8 + k / 60 % 12, k % 60, k % 60),
            ip,
            &hex_of(i),
            "containerd/1.7.13",
            1000,
        ));
    }
}

fn write_day(logs: &Path, day: NaiveDate, text: &str) {
    fs::create_dir_all(logs).unwrap();
    fs::write(
        logs.join(format!("{}-12-00-00-X", day.format("%Y-%m-%d"))),
        text,
    )
    .unwrap();
}

fn ingest(lake: &Path, logs: &Path, manifests: &[PathBuf]) {
    let mut cmd = blobtier();
    cmd.args(["ingest", "--max-bad-ratio", "0.5", "--lake"])
        .arg(lake)
        .arg("--logs")
        .arg(format!("s3-access:{}", logs.display()))
        .env("BLOBTIER_CLIENT_KEY", KEY);
    for m in manifests {
        cmd.arg("--inventory").arg(m);
    }
    run(&mut cmd).assert_success();
}

fn stage(cfg: &Path, lake: &Path, cmd: &str, as_of: &str, extra: &[&str]) -> Output {
    run(blobtier()
        .arg("--config")
        .arg(cfg)
        .args([cmd, "--as-of", as_of, "--lake"])
        .arg(lake)
        .args(extra))
}

/// The day with no logs in [`report_lake`].
const MISSING_BACK: i64 = 45;

/// A lake with every kind of decision: hot, warm, cool and cold blobs, an archived blob pulled
/// (restore), one not pulled, Intelligent-Tiering, small, young, a hot GLACIER_IR blob (reheat),
/// a digest only in the logs, one malformed log line and a day without logs. Runs `stats` and
/// `plan`; returns (lake, config).
fn report_lake(t: &Path) -> (PathBuf, PathBuf) {
    let logs = t.join("logs");
    for back in 0..120i64 {
        if back == MISSING_BACK {
            continue;
        }
        let day = as_of() - Duration::days(back);
        let mut text = String::new();
        // A CI runner pulling the same layer over and over: a low unique-pull ratio.
        pulls(&mut text, day, 0, "203.0.113.7", 12);
        // Laptops, a different one most days.
        for k in 0..4 {
            pulls(
                &mut text,
                day,
                1,
                &format!("198.51.100.{}", 1 + (back as u32 * 4 + k) % 200),
                1,
            );
        }
        for i in 2..5u32 {
            if back % 10 == i64::from(i) {
                pulls(&mut text, day, i, "192.0.2.10", 1);
            }
        }
        for i in 15..20u32 {
            if back == 40 + i64::from(i - 15) * 4 {
                pulls(&mut text, day, i, "192.0.2.11", 1);
            }
        }
        if back == 3 {
            pulls(&mut text, day, 22, "192.0.2.12", 2);
        }
        if back < 7 {
            pulls(&mut text, day, 29, "203.0.113.8", 25);
        }
        if back % 7 == 0 {
            pulls(&mut text, day, 40, "192.0.2.13", 1);
        }
        if back == 2 {
            text.push_str("this is not an access log line\n");
        }
        write_day(&logs, day, &text);
    }
    let young = "2026-11-16T00:00:00.000Z";
    let mut rows = vec![
        inv(0, 300 << 20, OLD, "STANDARD"),
        inv(1, 700 << 20, OLD, "STANDARD"),
    ];
    for i in 2..5u32 {
        rows.push(inv(i, u64::from(i) * GIB, OLD, "STANDARD"));
    }
    for i in 5..15u32 {
        rows.push(inv(i, u64::from(i - 4) * GIB, OLD, "STANDARD"));
    }
    for i in 15..20u32 {
        rows.push(inv(i, 3 * GIB, OLD, "STANDARD"));
    }
    rows.extend([
        inv(20, 6 * GIB, OLD, "STANDARD_IA"),
        inv(21, 2 * GIB, OLD, "STANDARD_IA"),
        inv(22, 4 * GIB, OLD, "GLACIER"),
        inv(23, 5 * GIB, OLD, "GLACIER"),
        inv(24, 7 * GIB, OLD, "INTELLIGENT_TIERING"),
        inv(25, 64 << 10, OLD, "STANDARD"),
        inv(26, 100 << 10, OLD, "STANDARD"),
        inv(27, 2 * GIB, young, "STANDARD"),
        inv(28, 2 * GIB, young, "STANDARD_IA"),
        inv(29, 2 * GIB, OLD, "GLACIER_IR"),
    ]);
    let manifest = write_inventory(&t.join("inv"), "registry-prod", AS_OF, &rows);
    let lake = t.join("lake");
    ingest(&lake, &logs, &[manifest]);
    let cfg = t.join("blobtier.toml");
    fs::write(&cfg, "").unwrap();
    stage(&cfg, &lake, "stats", AS_OF, &[]).assert_success();
    // The lake has a day without logs on purpose: plan despite it (the report shows that).
    stage(&cfg, &lake, "plan", AS_OF, &["--allow-gaps"]).assert_success();
    (lake, cfg)
}

fn report(cfg: &Path, lake: &Path, as_of: &str) -> (PathBuf, serde_json::Value) {
    let out = stage(cfg, lake, "report", as_of, &[]);
    out.assert_success();
    let printed: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{out}"));
    let dir = lake.join(format!("reports/as_of={as_of}"));
    assert_eq!(Path::new(printed["dir"].as_str().unwrap()), dir);
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("summary.json")).unwrap()).unwrap();
    (dir, summary)
}

// ---------------------------------------------------------------------------------------------
// Reading the lake's tables independently of the library (arrow only)

fn batches(path: &Path) -> Vec<RecordBatch> {
    let files: Vec<PathBuf> = if path.is_dir() {
        crate::ingest::walk(path)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect()
    } else {
        vec![path.to_owned()]
    };
    files
        .iter()
        .map(|f| crate::support::parquet::read(f))
        .collect()
}

/// A table as rows of column name → JSON value.
fn table(path: &Path) -> Vec<BTreeMap<String, serde_json::Value>> {
    let mut out = Vec::new();
    for b in batches(path) {
        let mut cols: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
        for (f, c) in b.schema().fields().iter().zip(b.columns()) {
            let vals: Vec<serde_json::Value> = match c.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    let c = arrow::compute::cast(c, &DataType::Utf8).unwrap();
                    let a = c.as_string::<i32>();
                    (0..a.len())
                        .map(|i| json_or_null((!a.is_null(i)).then(|| a.value(i))))
                        .collect()
                }
                DataType::Float64 => {
                    let a = c.as_primitive::<Float64Type>();
                    (0..a.len())
                        .map(|i| json_or_null((!a.is_null(i)).then(|| a.value(i))))
                        .collect()
                }
                DataType::Boolean => {
                    let a = c.as_boolean();
                    (0..a.len())
                        .map(|i| json_or_null((!a.is_null(i)).then(|| a.value(i))))
                        .collect()
                }
                DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => {
                    let c = arrow::compute::cast(c, &DataType::Int64).unwrap();
                    let a = c.as_primitive::<Int64Type>();
                    (0..a.len())
                        .map(|i| json_or_null((!a.is_null(i)).then(|| a.value(i))))
                        .collect()
                }
                _ => vec![serde_json::Value::Null; c.len()],
            };
            cols.push((f.name().clone(), vals));
        }
        for i in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|(n, v)| (n.clone(), v[i].clone()))
                    .collect(),
            );
        }
    }
    out
}

type Row = BTreeMap<String, serde_json::Value>;

fn json_or_null<T: Into<serde_json::Value>>(v: Option<T>) -> serde_json::Value {
    v.map_or(serde_json::Value::Null, Into::into)
}

fn f(r: &Row, k: &str) -> f64 {
    r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r:?}"))
}
fn i(r: &Row, k: &str) -> i64 {
    r[k].as_i64().unwrap_or_else(|| panic!("{k} in {r:?}"))
}
fn s<'a>(r: &'a Row, k: &str) -> &'a str {
    r[k].as_str().unwrap_or_else(|| panic!("{k} in {r:?}"))
}

#[track_caller]
fn close(got: &serde_json::Value, want: f64, what: &str) {
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    let tol = 1e-9 * want.abs().max(1e-3);
    assert!((g - want).abs() <= tol, "{what}: got {g}, want {want}");
}

// ---------------------------------------------------------------------------------------------

#[test]
fn every_summary_figure_is_recomputed_from_the_tables() {
    let t = tempfile::tempdir().unwrap();
    let (lake, cfg) = report_lake(t.path());
    let (dir, sm) = report(&cfg, &lake, AS_OF);
    let rows = table(&lake.join(format!("decisions/as_of={AS_OF}/part-0.parquet")));
    let stats = table(&lake.join(format!("digest_stats/as_of={AS_OF}")));
    let hot = table(&lake.join(format!("hot_set/as_of={AS_OF}/part-0.parquet")));
    let p = Prices::builtin();
    assert_eq!(rows.len(), 30, "every inventory blob has a decision");

    // Headline.
    let h = &sm["headline"];
    let actions: Vec<&Row> = rows.iter().filter(|r| s(r, "action") != "none").collect();
    let now: f64 = rows.iter().map(|r| f(r, "monthly_cost_now")).sum();
    let after: f64 = rows.iter().map(|r| f(r, "monthly_cost_after")).sum();
    let one: f64 = actions.iter().map(|r| f(r, "one_time_cost")).sum();
    let saving = now - after;
    assert_eq!(h["objects"], 30);
    assert_eq!(
        h["bytes"].as_i64().unwrap(),
        rows.iter().map(|r| i(r, "size")).sum::<i64>()
    );
    assert_eq!(h["actions"].as_u64().unwrap(), actions.len() as u64);
    assert_eq!(
        h["bytes_moved"].as_i64().unwrap(),
        actions.iter().map(|r| i(r, "size")).sum::<i64>()
    );
    close(&h["monthly_cost_now"], now, "monthly_cost_now");
    close(&h["monthly_cost_after"], after, "monthly_cost_after");
    close(&h["monthly_savings"], saving, "monthly_savings");
    close(&h["one_time"]["total"], one, "one_time");
    close(
        &h["net_savings_12m"],
        12.0 * saving - one,
        "net_savings_12m",
    );
    // The plan's own per-action figures add up to the same net savings.
    close(
        &h["net_savings_12m"],
        actions.iter().map(|r| f(r, "net_savings_12m")).sum(),
        "sum of net_savings_12m",
    );
    close(&h["net_savings_horizon"], 12.0 * saving - one, "horizon 12");
    assert!(saving > 0.0 && one > 0.0);
    close(&h["payback_days"], one / (saving / 30.0), "payback_days");
    let o = &h["one_time"];
    let parts: f64 = [
        "transition",
        "early_delete",
        "restore",
        "retrieval",
        "old_version",
        "tagging",
    ]
    .iter()
    .map(|k| o[*k].as_f64().unwrap())
    .sum();
    close(&o["unattributed"], 0.0, "unattributed");
    close(&serde_json::json!(parts), one, "one-time parts");
    // The restore of the pulled GLACIER blob is one of the parts.
    let restore = actions.iter().find(|r| s(r, "reason") == "restore:pulled");
    let restore = restore.expect("the pulled GLACIER blob is restored");
    assert!(o["restore"].as_f64().unwrap() > 0.0);
    assert!(o["restore"].as_f64().unwrap() <= f(restore, "one_time_cost"));
    // Copies out of STANDARD_IA pay its retrieval fee: 8 GiB at $0.01/GB.
    close(
        &o["retrieval"],
        8.0 * p.class(&StorageClass::StandardIa).unwrap().retrieval_gb
            + 2.0 * p.class(&StorageClass::GlacierIr).unwrap().retrieval_gb,
        "retrieval of STANDARD_IA and GLACIER_IR copies",
    );

    // Every decision kind is present.
    let reasons: BTreeMap<String, u64> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(s(r, "reason").to_string()).or_default() += 1;
        m
    });
    for want in [
        "moved:cold",
        "moved:cool",
        "moved:reheat",
        "restore:pulled",
        "kept:archived",
        "kept:intelligent_tiering",
        "kept:too_small",
        "kept:hot",
        "kept:warm",
    ] {
        assert!(
            reasons.contains_key(want),
            "{want} missing from {reasons:?}"
        );
    }
    let got: BTreeMap<String, u64> = sm["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_string(),
                r["objects"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, reasons);
    for r in sm["reasons"].as_array().unwrap() {
        let mine: Vec<&Row> = rows
            .iter()
            .filter(|x| s(x, "reason") == r["reason"].as_str().unwrap())
            .collect();
        assert_eq!(
            r["bytes"].as_i64().unwrap(),
            mine.iter().map(|x| i(x, "size")).sum::<i64>()
        );
        assert_eq!(
            r["kept"].as_bool().unwrap(),
            mine.iter().all(|x| s(x, "action") == "none")
        );
        close(
            &r["monthly_now"],
            mine.iter().map(|x| f(x, "monthly_cost_now")).sum(),
            "reason now",
        );
    }

    // By class and by tier.
    for c in sm["by_class"].as_array().unwrap() {
        let class = c["class"].as_str().unwrap();
        let from: Vec<&Row> = rows
            .iter()
            .filter(|r| s(r, "from_class") == class)
            .collect();
        let to: Vec<&Row> = rows.iter().filter(|r| s(r, "to_class") == class).collect();
        assert_eq!(c["objects_now"].as_u64().unwrap(), from.len() as u64);
        assert_eq!(c["objects_after"].as_u64().unwrap(), to.len() as u64);
        assert_eq!(
            c["bytes_now"].as_i64().unwrap(),
            from.iter().map(|r| i(r, "size")).sum::<i64>()
        );
        assert_eq!(
            c["bytes_after"].as_i64().unwrap(),
            to.iter().map(|r| i(r, "size")).sum::<i64>()
        );
        close(
            &c["monthly_now"],
            from.iter().map(|r| f(r, "monthly_cost_now")).sum(),
            class,
        );
        close(
            &c["monthly_after"],
            to.iter().map(|r| f(r, "monthly_cost_after")).sum(),
            class,
        );
    }
    let classes: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| [s(r, "from_class"), s(r, "to_class")])
        .collect();
    assert_eq!(sm["by_class"].as_array().unwrap().len(), classes.len());
    let tiers: BTreeSet<&str> = rows.iter().map(|r| s(r, "tier")).collect();
    assert_eq!(sm["by_tier"].as_array().unwrap().len(), tiers.len());
    for tr in sm["by_tier"].as_array().unwrap() {
        let mine: Vec<&Row> = rows
            .iter()
            .filter(|r| s(r, "tier") == tr["tier"].as_str().unwrap())
            .collect();
        assert_eq!(tr["objects"].as_u64().unwrap(), mine.len() as u64);
        assert_eq!(
            tr["actions"].as_u64().unwrap(),
            mine.iter().filter(|r| s(r, "action") != "none").count() as u64
        );
        close(
            &tr["monthly_after"],
            mine.iter().map(|r| f(r, "monthly_cost_after")).sum(),
            "tier after",
        );
    }

    // Alternatives and the cumulative curve.
    let a = &sm["alternatives"];
    close(&a["do_nothing"]["cost_12m"], 12.0 * now, "do nothing 12m");
    close(&a["plan"]["cost_12m"], 12.0 * after + one, "plan 12m");
    close(
        &a["plan"]["net_savings_12m"],
        12.0 * saving - one,
        "plan net",
    );
    close(&a["plan"]["break_even_month"], one / saving, "break-even");
    let age: HashMap<&str, i64> = stats
        .iter()
        .filter(|r| r["in_inventory"] == true)
        .map(|r| (s(r, "key"), i(r, "age_days")))
        .collect();
    let (mut it_one, mut it_objects, mut it_months) = (0.0, 0u64, [0.0f64; 24]);
    for r in &rows {
        let from: StorageClass = s(r, "from_class").parse().unwrap();
        let size = i(r, "size") as u64;
        let gets = f(r, "expected_pulls_30d");
        let eligible =
            matches!(from, StorageClass::Standard | StorageClass::StandardIa) && size >= 128 * 1024;
        if !eligible {
            for m in &mut it_months {
                *m += f(r, "monthly_cost_now");
            }
            continue;
        }
        it_objects += 1;
        let ot = cost::one_time_cost(
            &p,
            &cost::MoveInput {
                from,
                to: StorageClass::IntelligentTiering,
                size,
                days_in_current_class: age[s(r, "key")] as u32,
                versioned: false,
                noncurrent_retention_days: 0,
                method: Method::Lifecycle,
                restore_tier: RestoreTier::Bulk,
                restore_days: 1,
            },
        )
        .unwrap();
        it_one += ot.total - ot.parts.tagging;
        let steady = cost::intelligent_tiering_steady_monthly(&p, size, gets);
        for (m, v) in it_months.iter_mut().enumerate() {
            *v +=
                cost::intelligent_tiering_monthly(&p, size, Some(30 * m as u32), gets).max(steady);
        }
    }
    let it = &a["intelligent_tiering"];
    assert_eq!(a["it_objects"].as_u64().unwrap(), it_objects);
    close(&it["one_time"], it_one, "IT one-time");
    close(&it["monthly_first"], it_months[0], "IT month 1");
    close(&it["monthly_steady"], it_months[23], "IT steady");
    let it12: f64 = it_one + it_months[..12].iter().sum::<f64>();
    close(&it["cost_12m"], it12, "IT 12m");
    close(&it["net_savings_12m"], 12.0 * now - it12, "IT net");
    let cum = sm["cumulative"].as_array().unwrap();
    assert_eq!(cum.len(), 25);
    let mut it_cum = -it_one;
    for (m, c) in cum.iter().enumerate() {
        if m > 0 {
            it_cum += now - it_months[m - 1];
        }
        assert_eq!(c["month"], m);
        close(&c["plan"], m as f64 * saving - one, "cumulative plan");
        close(&c["intelligent_tiering"], it_cum, "cumulative IT");
    }

    // Top moves: the actions with the largest net savings, in order.
    let mut want: Vec<&Row> = actions.clone();
    want.sort_by(|a, b| f(b, "net_savings_12m").total_cmp(&f(a, "net_savings_12m")));
    let top = sm["top_moves"].as_array().unwrap();
    assert_eq!(top.len(), actions.len().min(15));
    for (t, w) in top.iter().zip(&want) {
        close(&t["net_savings_12m"], f(w, "net_savings_12m"), "top move");
    }

    // Pull patterns, from digest_stats.
    let inv: Vec<&Row> = stats.iter().filter(|r| r["in_inventory"] == true).collect();
    let buckets: [(Option<i64>, Option<i64>); 7] = [
        (Some(0), Some(6)),
        (Some(7), Some(29)),
        (Some(30), Some(89)),
        (Some(90), Some(179)),
        (Some(180), Some(364)),
        (Some(365), None),
        (None, None),
    ];
    for (b, (lo, hi)) in sm["days_since_last_pull"]
        .as_array()
        .unwrap()
        .iter()
        .zip(buckets)
    {
        let mine: Vec<&&Row> = inv
            .iter()
            .filter(|r| match (r["days_since_last_pull"].as_i64(), lo) {
                (None, None) => true,
                (Some(d), Some(lo)) => d >= lo && hi.is_none_or(|hi| d <= hi),
                _ => false,
            })
            .collect();
        assert_eq!(b["objects"].as_u64().unwrap(), mine.len() as u64, "{b}");
        assert_eq!(
            b["bytes"].as_i64().unwrap(),
            mine.iter().map(|r| i(r, "size")).sum::<i64>()
        );
    }
    let hs = &sm["hot_set"];
    assert_eq!(hs["digests"].as_u64().unwrap(), hot.len() as u64);
    assert_eq!(
        hs["bytes"].as_i64().unwrap(),
        hot.iter().map(|r| i(r, "size")).sum::<i64>()
    );
    close(
        &hs["pull_share_7d"],
        hot.last().map_or(0.0, |r| f(r, "cumulative_pull_share_7d")),
        "hot share",
    );
    assert_eq!(
        hs["pulls_7d"].as_i64().unwrap(),
        inv.iter().map(|r| i(r, "pulls_7d")).sum::<i64>()
    );
    let pulled: Vec<&Row> = stats.iter().filter(|r| i(r, "pulls_30d") > 0).collect();
    let pt = &sm["pull_through"];
    let repeat: i64 = pulled
        .iter()
        .map(|r| i(r, "pulls_30d") - i(r, "unique_clients_30d"))
        .sum();
    assert_eq!(
        pt["digests_pulled_30d"].as_u64().unwrap(),
        pulled.len() as u64
    );
    assert_eq!(pt["repeat_pulls_30d"].as_i64().unwrap(), repeat);
    assert!(repeat >= 30 * 11, "the CI runner re-pulls digest 0");
    assert_eq!(
        pt["repeat_bytes_30d"].as_i64().unwrap(),
        pulled
            .iter()
            .map(|r| (i(r, "pulls_30d") - i(r, "unique_clients_30d"))
                * r["size"].as_i64().unwrap_or(0))
            .sum::<i64>()
    );

    // Data quality: the missing day, the rejected line, the digest only in the logs.
    let q = &sm["data_quality"];
    let missing = (as_of() - Duration::days(MISSING_BACK)).to_string();
    assert_eq!(q["missing_log_days"], serde_json::json!([missing]));
    assert_eq!(q["window_days"], 90);
    assert_eq!(q["rejects"]["rejected_lines"], 1);
    assert_eq!(
        q["rejects"]["log_inputs"], 89,
        "inputs of the 90-day window"
    );
    assert_eq!(q["digests_not_in_inventory"], 1);
    assert_eq!(q["inventory_snapshot"], AS_OF);
    assert_eq!(q["inventory_age_days"], 0);
    let warnings = q["warnings"].as_array().unwrap();
    assert!(
        warnings[0].as_str().unwrap().contains(&missing),
        "the missing day comes first: {warnings:?}"
    );
    let html = fs::read_to_string(dir.join("report.html")).unwrap();
    let md = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(html.contains("class=\"alert\"") && html.contains(&missing));
    assert!(md.contains("[!WARNING]") && md.contains(&missing));

    // Every dollar amount in the Markdown is a figure of summary.json.
    let mut figures = BTreeSet::new();
    collect_money(&sm, &mut figures);
    let re = regex::Regex::new(r"-?\$[0-9,]+\.[0-9]+").unwrap();
    let amounts: Vec<&str> = re.find_iter(&md).map(|m| m.as_str()).collect();
    assert!(amounts.len() > 50, "{amounts:?}");
    for a in amounts {
        assert!(
            figures.contains(a),
            "`{a}` in report.md is not a figure of summary.json"
        );
    }
    for file in [
        "summary.json",
        "report.html",
        "report.md",
        "bytes_by_class.svg",
        "days_since_last_pull.svg",
        "cumulative_savings.svg",
        "hot_set.svg",
        "pulls_vs_ratio.svg",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
    }
}

fn collect_money(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Number(n) => {
            out.insert(money(n.as_f64().unwrap()));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_money(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_money(x, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium

fn chromium() -> PathBuf {
    crate::support::setup::install("install-apt.sh", "chromium")
        .map(PathBuf::from)
        .unwrap_or_else(|e| panic!("Chromium is required for this test: {e}"))
}

/// Runs headless Chromium on `page`; returns (DOM, console lines, screenshot path).
fn open(chromium: &Path, page: &Path, work: &Path) -> (String, Vec<String>, PathBuf) {
    let png = work.join("shot.png");
    let mut base = Command::new(chromium);
    base.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!(
        "--user-data-dir={}",
        work.join("profile").display()
    ));
    let url = format!("file://{}", page.display());
    let dom = Command::new(chromium)
        .args(base.get_args())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let shot = Command::new(chromium)
        .args(base.get_args())
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,4000")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let console = [&dom.stderr, &shot.stderr]
        .iter()
        .flat_map(|e| {
            String::from_utf8_lossy(e)
                .lines()
                .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    (
        String::from_utf8_lossy(&dom.stdout).into_owned(),
        console,
        png,
    )
}

/// Decodes an 8-bit RGB or RGBA PNG into (width, height, RGB pixels).
fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    use std::io::Read;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut pos, mut idat, mut dims) = (8, Vec::new(), (0, 0, 0));
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                let w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                let h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "bit depth");
                let channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
                assert_eq!(data[12], 0, "interlaced");
                dims = (w, h, channels);
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        pos += 12 + len;
    }
    let (w, h, ch) = dims;
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w * ch;
    assert_eq!(raw.len(), h * (stride + 1));
    let mut img = vec![0u8; h * stride];
    for y in 0..h {
        let filter = raw[y * (stride + 1)];
        for x in 0..stride {
            let v = raw[y * (stride + 1) + 1 + x];
            let a = if x >= ch { img[y * stride + x - ch] } else { 0 };
            let b = if y > 0 { img[(y - 1) * stride + x] } else { 0 };
            let c = if x >= ch && y > 0 {
                img[(y - 1) * stride + x - ch]
            } else {
                0
            };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("filter {other}"),
            };
            img[y * stride + x] = v.wrapping_add(pred);
        }
    }
    let px = img.chunks(ch).map(|p| [p[0], p[1], p[2]]).collect();
    (w, h, px)
}

#[test]
fn the_html_report_renders_in_headless_chromium_without_console_errors() {
    let chromium = chromium();
    let t = tempfile::tempdir().unwrap();
    // The console check must be able to fail: a page that breaks the report's own
    // Content-Security-Policy (a network image and an inline script) is reported.
    let bad = t.path().join("bad.html");
    fs::write(
        &bad,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'; style-src 'unsafe-inline'\"></head><body>\
         <img src=\"https://example.com/x.png\"><script>console.log(1)</script></body></html>",
    )
    .unwrap();
    let work = t.path().join("bad-run");
    fs::create_dir_all(&work).unwrap();
    let (_, console, _) = open(&chromium, &bad, &work);
    assert!(
        console.len() >= 2,
        "console messages are not detected: {console:?}"
    );

    let (lake, cfg) = report_lake(t.path());
    let (dir, _) = report(&cfg, &lake, AS_OF);
    let work = t.path().join("run");
    fs::create_dir_all(&work).unwrap();
    let (dom, console, png) = open(&chromium, &dir.join("report.html"), &work);
    // To look at the report and the screenshot: BLOBTIER_REPORT_ARTIFACTS=DIR keeps copies.
    if let Some(keep) = std::env::var_os("BLOBTIER_REPORT_ARTIFACTS") {
        let keep = PathBuf::from(keep);
        fs::create_dir_all(&keep).unwrap();
        for f in crate::ingest::walk(&dir).into_iter().chain([png.clone()]) {
            fs::copy(&f, keep.join(f.file_name().unwrap())).unwrap();
        }
    }
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert_eq!(dom.matches("<svg").count(), 5, "one inline SVG per chart");
    assert!(!dom.contains("<script") && !dom.contains("<link") && !dom.contains("<img"));
    assert!(dom.contains("Headline") && dom.contains("Data quality"));

    let (w, h, px) = decode_png(&fs::read(&png).unwrap());
    assert_eq!((w, h), (1280, 4000));
    let count = |c: [u8; 3]| px.iter().filter(|p| **p == c).count();
    let white = count([255, 255, 255]);
    assert!(white < px.len() * 97 / 100, "the page is (nearly) blank");
    // Solid fills and lines of the charts, in the series colours (see `report::charts`).
    let plan = count([0x1b, 0x9e, 0x77]);
    let now = count([0x75, 0x70, 0xb3]);
    let it = count([0xd9, 0x5f, 0x02]);
    assert!(
        plan > 2000 && now > 2000 && it > 200,
        "plan {plan}, now {now}, it {it}"
    );
}

// ---------------------------------------------------------------------------------------------
// Markdown snapshot

/// Replaces what changes without the report changing: the version and content hashes.
fn filter_volatile(md: &str) -> String {
    let version = regex::Regex::new(r"blobtier \d+\.\d+\.\d+[0-9A-Za-z.+-]*").unwrap();
    let hash = regex::Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let md = version.replace_all(md, "blobtier [version]");
    hash.replace_all(&md, "sha256:[hash]").into_owned()
}

#[test]
fn markdown_report_matches_the_snapshot() {
    let t = tempfile::tempdir().unwrap();
    let (lake, cfg) = report_lake(t.path());
    let (dir, _) = report(&cfg, &lake, AS_OF);
    let got = filter_volatile(&fs::read_to_string(dir.join("report.md")).unwrap());
    // insta snapshot in tests/it/snapshots/: a difference fails the test and leaves a
    // `.snap.new` to review with `cargo insta review`; the test never rewrites its expectation.
    insta::assert_snapshot!("markdown_report", got);
}

/// The report of `blobtier demo` on `sample-data/` as an insta snapshot, after filtering
/// volatile values (version, plan hash).
#[test]
fn sample_data_report_matches_the_snapshot() {
    let t = tempfile::tempdir().unwrap();
    let out = crate::support::cli::run(
        crate::support::cli::blobtier()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["demo", "--out"])
            .arg(t.path().join("demo")),
    );
    assert_eq!(out.code(), 0, "{out}");
    let md = t
        .path()
        .join("demo/lake/reports/as_of=2026-11-26/report.md");
    let got = filter_volatile(&fs::read_to_string(&md).unwrap());
    // insta snapshot in tests/it/snapshots/; review a change with `cargo insta review`, or accept
    // it with `INSTA_UPDATE=always cargo test --test it report::sample_data`.
    insta::assert_snapshot!("sample_data_report", got);
}

#[test]
fn report_without_a_plan_exits_2_naming_the_commands_to_run() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("blobtier.toml");
    fs::write(&cfg, "").unwrap();
    let out = stage(&cfg, &t.path().join("lake"), "report", AS_OF, &[]);
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr.contains(
            "no plan for 2026-11-26 in the lake: run `blobtier stats --as-of 2026-11-26`"
        ),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Backtest

/// Tiers with an archive rule for blobs of 4 GiB or more. The lake has no image graph, so
/// archiving must be allowed for blobs of unknown reach (see `docs/plan.md`).
const ARCHIVE_TIERS: &str = r#"
[plan]
archive_scope = "untagged_or_unknown"

[[plan.tiers]]
name = "hot"
when = "pulls_7d >= 20"
class = "STANDARD"

[[plan.tiers]]
name = "warm"
when = "pulls_30d > 0 OR age_days < 30"
class = "STANDARD"

[[plan.tiers]]
name = "archive"
when = "COALESCE(days_since_last_pull, 100000) >= 90 AND age_days >= 90 AND size >= 4294967296"
class = "DEEP_ARCHIVE"

[[plan.tiers]]
name = "cold"
when = "COALESCE(days_since_last_pull, 100000) >= 90 AND age_days >= 90"
class = "GLACIER_IR"
"#;

#[test]
fn backtest_charges_one_retrieval_per_pull_of_a_blob_planned_cold() {
    let t = tempfile::tempdir().unwrap();
    let horizon = 30i64;
    let day0 = as_of() - Duration::days(horizon);
    // After the decision day: digest 10 pulled 3 times, 11 five times, 20 (archived) twice.
    let later: [(u32, &[i64]); 3] = [(10, &[1, 5, 20]), (11, &[2, 2, 9, 15, 29]), (20, &[7, 30])];
    let logs = t.path().join("logs");
    for back in 0..(horizon + 120) {
        let day = as_of() - Duration::days(back);
        let mut text = String::new();
        pulls(&mut text, day, 0, "203.0.113.7", 3);
        for (i, days) in later {
            for d in days {
                if day == day0 + Duration::days(*d) {
                    pulls(&mut text, day, i, "192.0.2.20", 1);
                }
            }
        }
        write_day(&logs, day, &text);
    }
    let mut rows = vec![inv(0, 100 << 20, OLD, "STANDARD")];
    rows.extend((10..20).map(|i| inv(i, GIB, OLD, "STANDARD")));
    rows.extend((20..22).map(|i| inv(i, 8 * GIB, OLD, "STANDARD")));
    let inv_root = t.path().join("inv");
    let m0 = write_inventory(&inv_root, "registry-prod", &day0.to_string(), &rows);
    // A later snapshot with one more blob: the decision must not see it.
    rows.push(inv(30, GIB, OLD, "STANDARD"));
    let m1 = write_inventory(&inv_root, "registry-prod", AS_OF, &rows);
    let lake = t.path().join("lake");
    ingest(&lake, &logs, &[m0, m1]);
    let cfg = t.path().join("blobtier.toml");
    fs::write(&cfg, ARCHIVE_TIERS).unwrap();

    let before = tree_digest_excluding(&lake, &[Path::new("backtests")]);
    let out = stage(&cfg, &lake, "backtest", AS_OF, &["--horizon-days", "30"]);
    out.assert_success();
    let bt: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let file: serde_json::Value = serde_json::from_slice(
        &fs::read(lake.join(format!("backtests/as_of={AS_OF}/backtest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(bt, file);
    assert_eq!(
        tree_digest_excluding(&lake, &[Path::new("backtests")]),
        before,
        "the backtest changed the lake's own tables"
    );
    assert!(!lake.join("_scratch").exists());

    let p = Prices::builtin();
    let (std, gir, da) = (
        p.class(&StorageClass::Standard).unwrap(),
        p.class(&StorageClass::GlacierIr).unwrap(),
        p.class(&StorageClass::DeepArchive).unwrap(),
    );
    assert_eq!(bt["decision_day"], day0.to_string());
    assert_eq!(
        bt["decisions"]["blobs"], 13,
        "the later snapshot is not used"
    );
    assert_eq!(bt["decisions"]["actions"], 12);
    assert_eq!(bt["decisions"]["by_move"]["STANDARD -> GLACIER_IR"], 10);
    assert_eq!(bt["decisions"]["by_move"]["STANDARD -> DEEP_ARCHIVE"], 2);
    let r = &bt["replay"];
    assert_eq!(r["pulls"], 30 * 3 + 3 + 5 + 2);
    assert_eq!(r["pulls_on_moved"], 10);
    assert_eq!(r["blobs_moved_pulled"], 3);
    let g = &r["by_class"]["GLACIER_IR"];
    assert_eq!(
        (
            g["blobs_moved"].as_u64(),
            g["blobs_pulled"].as_u64(),
            g["pulls"].as_u64()
        ),
        (Some(10), Some(2), Some(8))
    );
    assert_eq!(g["bytes"].as_u64().unwrap(), 8 * GIB);
    // 8 pulls of 1 GiB: 8 GETs and 8 GiB of retrieval.
    let gir_cost = 8.0 * (gir.get_per_1000 / 1000.0 + gir.retrieval_gb);
    close(&g["access_cost"], gir_cost, "GLACIER_IR retrievals");
    // 2 pulls of an 8 GiB DEEP_ARCHIVE blob: both fail, each needs a bulk restore (per request
    // and per GB), a day of the restored copy at the STANDARD rate, and the GET.
    let bulk = da.restore.bulk.unwrap();
    let da_cost = 2.0
        * (da.get_per_1000 / 1000.0
            + bulk.per_1000 / 1000.0
            + 8.0 * bulk.per_gb
            + 8.0 * std.storage_gb_month / 30.0);
    assert_eq!(r["failed_pulls"], 2);
    assert_eq!(r["failed_pulls_already_archived"], 0);
    close(&r["restore_cost"], da_cost, "restores");
    close(
        &r["by_class"]["DEEP_ARCHIVE"]["access_cost"],
        da_cost,
        "DEEP_ARCHIVE",
    );
    close(&r["access_cost"], gir_cost + da_cost, "access cost");
    let extra = gir_cost + da_cost - 10.0 * std.get_per_1000 / 1000.0;
    close(&r["extra_access_cost"], extra, "extra access cost");
    close(&r["expected_pulls_on_moved"], 0.0, "expected pulls");

    // Predicted: a month of storage saved minus the copies; realised: less the extra pulls.
    let gb_kib = |k: f64| k * 1024.0 / GIB as f64;
    let da_month = (8.0 + gb_kib(32.0)) * da.storage_gb_month + gb_kib(8.0) * std.storage_gb_month;
    let one = 10.0 * gir.put_per_1000 / 1000.0 + 2.0 * da.put_per_1000 / 1000.0;
    let predicted = 10.0 * (std.storage_gb_month - gir.storage_gb_month)
        + 2.0 * (8.0 * std.storage_gb_month - da_month)
        - one;
    close(&bt["one_time_cost"], one, "one-time");
    close(&bt["predicted_savings"], predicted, "predicted");
    close(&bt["realised_savings"], predicted - extra, "realised");
    let misses = bt["top_misses"].as_array().unwrap();
    // Costliest first: 5 GiB of GLACIER_IR retrieval, then 3 GiB, then two bulk restores.
    let order: Vec<&str> = misses
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    let want: Vec<String> = [11, 10, 20]
        .iter()
        .map(|i| format!("sha256:{}", hex_of(*i)))
        .collect();
    assert_eq!(order, want);
    assert!(bt["coverage"]["replay_missing_days"]
        .as_array()
        .unwrap()
        .is_empty());

    // The report of as-of includes the backtest.
    stage(&cfg, &lake, "stats", AS_OF, &[]).assert_success();
    stage(&cfg, &lake, "plan", AS_OF, &[]).assert_success();
    let (dir, sm) = report(&cfg, &lake, AS_OF);
    assert_eq!(sm["backtest"], bt);
    let md = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("## Backtest: the policy replayed over 30 days"),
        "{md}"
    );
    assert!(md.contains(&money(bt["realised_savings"].as_f64().unwrap())));
}
