//! Golden test of `plan` on `sample-data/`: the moves to GLACIER_IR and STANDARD_IA are
//! recomputed here from `digest_stats` with the price table's numbers written out by hand.
//! See: issue 4.
//!
//! Prices (pricing/us-east-1.toml, us-east-1, 2026-08-18), GB = 2^30 bytes:
//! STANDARD 0.023 $/GB-month, GET 0.0004 $/1000; STANDARD_IA 0.0125 $/GB-month, 128 KiB
//! minimum, retrieval 0.01 $/GB, GET 0.001 $/1000, PUT/COPY 0.01 $/1000; GLACIER_IR
//! 0.004 $/GB-month, 128 KiB minimum, retrieval 0.03 $/GB, GET 0.01 $/1000, PUT/COPY 0.02 $/1000.
//!
//! The sample bucket is versioned (its all-versions inventory carries real version ids), so
//! every copy in place also leaves the old STANDARD version billed for `plan.noncurrent_days`
//! (30): a one-time 30 × 0.023·S / 30 = 0.023·S on top of the COPY (issue 15).
//!
//! Default rules: `cold` = no pull for ≥ 90 days and age ≥ 90 → GLACIER_IR; `cool` = no pull
//! for ≥ 30 days → STANDARD_IA (first match wins, after `hot` and `warm`). A STANDARD blob of
//! size S GiB with no pull in 90 days (expected pulls 0, estimator `rate_90d` = pulls_90d / 3)
//! moving to GLACIER_IR saves (0.023 − 0.004)·S $/month for a one-time COPY of $0.00002 plus
//! the old version, 0.023·S: it pays back within 180 days iff (0.00002 + 0.023·S) /
//! (0.019·S / 30) ≤ 180; its 12-month net saving is 12·0.019·S − 0.00002 − 0.023·S.
//! A STANDARD blob moving to STANDARD_IA with e = pulls_90d / 3 expected pulls a month:
//! now 0.023·S + e·0.0000004; after 0.0125·S + e·(0.01·S + 0.000001); one-time $0.00001 +
//! 0.023·S.
//! Scanner reads (`scanner_pulls_30d` = c a month) are no pulls (they change no tier) but are
//! billed like GETs on both sides: + c·0.0000004 now; + c·(0.00001 + 0.03·S) after in
//! GLACIER_IR, + c·(0.000001 + 0.01·S) in STANDARD_IA (issue 15), so a blob scanned often
//! enough stays (`kept:payback`).

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Float64Type};

use crate::ingest::walk;
use crate::support::cli::{blobtier, run};
use crate::support::parquet;

type Cols = BTreeMap<String, Vec<Option<String>>>;

fn read(
    file: &Path,
    str_cols: &[&str],
    num_cols: &[&str],
) -> (Cols, BTreeMap<String, Vec<Option<f64>>>) {
    let b = parquet::read(file);
    let column =
        |c: &str, t: &DataType| arrow::compute::cast(b.column_by_name(c).unwrap(), t).unwrap();
    let s = str_cols.iter().map(|c| {
        let a = column(c, &DataType::Utf8);
        let a = a.as_string::<i32>();
        (
            c.to_string(),
            a.iter().map(|v| v.map(str::to_owned)).collect(),
        )
    });
    let n = num_cols.iter().map(|c| {
        let a = column(c, &DataType::Float64);
        (
            c.to_string(),
            a.as_primitive::<Float64Type>().iter().collect(),
        )
    });
    (s.collect(), n.collect())
}

#[test]
fn sample_data_plan_moves_exactly_the_hand_computed_blobs() {
    let t = tempfile::tempdir().unwrap();
    let out = run(blobtier()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--out"])
        .arg(t.path().join("demo")));
    assert_eq!(out.code(), 0, "{out}");
    let lake = t.path().join("demo/lake");
    let stats = walk(&lake.join("digest_stats")).pop().unwrap();
    let (s, n) = read(
        &stats,
        &["digest", "storage_class"],
        &[
            "size",
            "age_days",
            "days_since_last_pull",
            "pulls_7d",
            "pulls_30d",
            "pulls_90d",
            "scanner_pulls_30d",
        ],
    );
    let gib = (1u64 << 30) as f64;
    let mut want_cold = BTreeMap::new();
    let mut want_cool = BTreeMap::new();
    // Cold blobs that would move were it not for their scanners' reads.
    let mut held_by_scanners = 0;
    for i in 0..s["digest"].len() {
        let (Some(d), Some(class), Some(size)) =
            (&s["digest"][i], &s["storage_class"][i], n["size"][i])
        else {
            continue;
        };
        if class != "STANDARD" || size < 131072.0 || n["pulls_7d"][i].unwrap_or(0.0) >= 20.0 {
            continue;
        }
        let since = n["days_since_last_pull"][i].unwrap_or(100000.0);
        let age = n["age_days"][i].unwrap_or(0.0);
        let (p30, p90) = (
            n["pulls_30d"][i].unwrap_or(0.0),
            n["pulls_90d"][i].unwrap_or(0.0),
        );
        if p30 > 0.0 || age < 30.0 {
            continue; // warm
        }
        let sz = size / gib;
        let c = n["scanner_pulls_30d"][i].unwrap_or(0.0);
        if since >= 90.0 && age >= 90.0 {
            // cold: no pulls in 90 days, so no access costs but the scanners'.
            let now = 0.023 * sz + c * 0.0000004;
            let after = 0.004 * sz + c * (0.00001 + 0.03 * sz);
            let saving = now - after;
            let once = 0.00002 + 0.023 * sz;
            if saving > 0.0 && once / (saving / 30.0) <= 180.0 && 12.0 * saving - once > 0.0 {
                want_cold.insert(d.clone(), 12.0 * saving - once);
            } else if once / (0.019 * sz / 30.0) <= 180.0 {
                held_by_scanners += 1;
            }
        } else if since >= 30.0 {
            let e = p90 / 3.0;
            let now = 0.023 * sz + (e + c) * 0.0000004;
            let after = 0.0125 * sz + (e + c) * (0.01 * sz + 0.000001);
            let saving = now - after;
            let once = 0.00001 + 0.023 * sz;
            if saving > 0.0 && once / (saving / 30.0) <= 180.0 && 12.0 * saving - once > 0.0 {
                want_cool.insert(d.clone(), 12.0 * saving - once);
            }
        }
    }
    let decisions = walk(&lake.join("decisions")).pop().unwrap();
    let (ds, dn) = read(
        &decisions,
        &["digest", "reason", "from_class"],
        &["net_savings_12m"],
    );
    let (mut got_cold, mut got_cool) = (BTreeMap::new(), BTreeMap::new());
    for i in 0..ds["digest"].len() {
        if ds["from_class"][i].as_deref() != Some("STANDARD") {
            continue;
        }
        let d = ds["digest"][i].clone().unwrap();
        let v = dn["net_savings_12m"][i].unwrap();
        match ds["reason"][i].as_deref() {
            Some("moved:cold") => {
                got_cold.insert(d, v);
            }
            Some("moved:cool") => {
                got_cool.insert(d, v);
            }
            _ => {}
        }
    }
    assert!(
        !want_cold.is_empty() && !want_cool.is_empty(),
        "the sample must exercise both tiers"
    );
    assert!(
        held_by_scanners > 0,
        "the sample must have cold blobs that scanners' reads keep in STANDARD"
    );
    assert_eq!(
        got_cold.keys().collect::<Vec<_>>(),
        want_cold.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        got_cool.keys().collect::<Vec<_>>(),
        want_cool.keys().collect::<Vec<_>>()
    );
    for (d, w) in want_cold.iter().chain(want_cool.iter()) {
        let g = got_cold.get(d).or_else(|| got_cool.get(d)).unwrap();
        assert!(
            (g - w).abs() < 1e-9,
            "{d}: net 12-month saving {g} vs hand-computed {w}"
        );
    }
    // `intelligent_tiering_monthly_cost`, by hand for every blob no manifest pull touches
    // (manifest pulls raise the pull columns the plan sees): the access tier by days since
    // the last pull (or since written), Frequent 0.023, Infrequent (30+) 0.0125, Archive
    // Instant (90+) 0.004 per GB-month, monitoring 0.0025/1000 from 128 KiB, GETs
    // 0.0004/1000 at the expected 30-day pulls (a third of the 90-day pulls).
    let (ms, mn) = read(&stats, &["digest"], &["manifest_pulls_90d"]);
    let mut want_it = BTreeMap::new();
    for i in 0..ms["digest"].len() {
        let (Some(d), Some(size)) = (&ms["digest"][i], n["size"][i]) else {
            continue;
        };
        if mn["manifest_pulls_90d"][i].unwrap_or(0.0) > 0.0 {
            continue;
        }
        let days = n["days_since_last_pull"][i].or(n["age_days"][i]).unwrap();
        let rate = match days {
            _ if size < 131072.0 => 0.023,
            d if d < 30.0 => 0.023,
            d if d < 90.0 => 0.0125,
            _ => 0.004,
        };
        let fee = if size >= 131072.0 { 0.0000025 } else { 0.0 };
        let gets = n["pulls_90d"][i].unwrap_or(0.0) / 3.0;
        want_it.insert(d.clone(), size / gib * rate + fee + gets * 0.0000004);
    }
    let (ids, idn) = read(
        &decisions,
        &["digest"],
        &["intelligent_tiering_monthly_cost"],
    );
    let mut checked = 0;
    for i in 0..ids["digest"].len() {
        let d = ids["digest"][i].as_ref().unwrap();
        if let Some(w) = want_it.get(d) {
            let g = idn["intelligent_tiering_monthly_cost"][i].unwrap();
            assert!(
                (g - w).abs() < 1e-12,
                "{d}: IT cost {g} vs hand-computed {w}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= want_it.len() && checked > 10,
        "checked {checked} IT costs"
    );
    eprintln!(
        "golden: {} cold moves, {} cool moves, net 12-month savings ${:.4}",
        want_cold.len(),
        want_cool.len(),
        want_cold.values().chain(want_cool.values()).sum::<f64>()
    );

    // Planning chunk by chunk (digest ranges, as for large lakes) writes the same bytes.
    let as_of = stats
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("as_of="))
        .unwrap()
        .to_string();
    let files = |lake: &std::path::Path| {
        [
            format!("plan/as_of={as_of}/plan.parquet"),
            format!("plan/as_of={as_of}/plan.summary.json"),
            format!("decisions/as_of={as_of}/part-0.parquet"),
            format!("hot_set/as_of={as_of}/part-0.parquet"),
        ]
        .map(|rel| std::fs::read(lake.join(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}")))
    };
    let mut outputs = Vec::new();
    for chunks in ["1", "7"] {
        let out = run(blobtier()
            .args(["plan", "--as-of", &as_of, "--lake"])
            .arg(&lake)
            .env("BLOBTIER_PLAN_CHUNKS", chunks));
        assert_eq!(out.code(), 0, "{out}");
        outputs.push(files(&lake));
    }
    assert!(outputs[0] == outputs[1], "plans in 1 and 7 chunks differ");
}
