//! The typed vocabulary end to end: every unknown or garbage name of a storage class, move
//! method, restore tier or estimator given in the config is refused by `config check` with an
//! error naming the key; a storage class the inventory names that blobtier does not know (or
//! does not price) is planned `kept:unknown_class` (`kept:unpriced_class`), never priced or
//! moved as if it were STANDARD.
//! See: issue 14.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::ingest::walk;
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run, Output};
use crate::support::parquet;

const AS_OF: &str = "2026-11-26";
const OLD: &str = "2025-06-01T00:00:00.000Z";

/// The seven classes a tier rule may name, as the error lists them.
const MANAGED: &str = "`STANDARD`, `INTELLIGENT_TIERING`, `STANDARD_IA`, `ONEZONE_IA`, \
                       `GLACIER_IR`, `GLACIER`, `DEEP_ARCHIVE`";

fn config_check(dir: &Path, toml: &str) -> Output {
    let cfg = dir.join("blobtier.toml");
    fs::write(&cfg, toml).unwrap();
    run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"]))
}

#[test]
fn config_refuses_every_unknown_name_naming_the_key() {
    let t = tempfile::tempdir().unwrap();
    let tier = |class: &str| {
        format!("[[plan.tiers]]\nname = \"cold\"\nwhen = \"age_days > 90\"\nclass = \"{class}\"\n")
    };
    let cases: Vec<(String, &str, String)> = [
        ("estimator", "ewma"),
        ("estimator", "RATE_90D"),
        ("estimator", ""),
        ("method", "move"),
        ("method", "Copy"),
        ("restore_tier", "fast"),
        ("restore_tier", "Bulk"),
        ("archive_scope", "everything"),
    ]
    .into_iter()
    .map(|(key, value)| {
        let expected = match key {
            "estimator" => "`rate_90d`, `rate_30d`, `max_7d_30d`",
            "method" => "`copy`, `lifecycle`",
            "restore_tier" => "`expedited`, `standard`, `bulk`",
            _ => "`untagged`, `unreferenced`, `untagged_or_unknown`",
        };
        (
            format!("[plan]\n{key} = \"{value}\"\n"),
            value,
            format!("invalid `plan.{key}`: expected one of {expected}, got `{value}`"),
        )
    })
    .chain(["rsync", "LIFECYCLE"].map(|value| {
        (
            format!("[plan.buckets.registry-prod]\nmethod = \"{value}\"\n"),
            value,
            format!(
                "invalid `plan.buckets.registry-prod.method`: expected one of `copy`, \
                 `lifecycle`, got `{value}`"
            ),
        )
    }))
    // Not a class, the wrong spelling of one, and S3 classes blobtier does not price.
    .chain(
        [
            "GLACIER_DEEP",
            "glacier_ir",
            "",
            "REDUCED_REDUNDANCY",
            "EXPRESS_ONEZONE",
            "OUTPOSTS",
        ]
        .map(|value| {
            (
                tier(value),
                value,
                format!("invalid `plan.tiers[0].class`: expected one of {MANAGED}, got `{value}`"),
            )
        }),
    )
    .collect();
    for (toml, value, error) in &cases {
        let out = config_check(t.path(), toml);
        assert_eq!(out.code(), 2, "`{value}` was accepted:\n{toml}\n{out}");
        assert!(out.stderr.contains(error.as_str()), "want `{error}`\n{out}");
    }
    // The same keys with names they have pass.
    let good = format!(
        "[plan]\nestimator = \"max_7d_30d\"\nmethod = \"lifecycle\"\nrestore_tier = \"expedited\"\n\
         archive_scope = \"unreferenced\"\n[plan.buckets.registry-prod]\nmethod = \"copy\"\n{}",
        tier("GLACIER_IR")
    );
    config_check(t.path(), &good).assert_success();
}

fn key_of(i: u32) -> String {
    let h = format!("{i:064x}");
    format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2])
}

/// `key` → (from_class, to_class, action, reason, monthly_cost_now) of the `decisions` table.
fn decisions(lake: &Path) -> BTreeMap<String, (String, String, String, String, f64)> {
    let file = walk(&lake.join("decisions"))
        .pop()
        .expect("a decisions file");
    let b = parquet::read(&file);
    let text = |n: &str| parquet::texts(&b, n);
    let (key, from, to, action, reason) = (
        text("key"),
        text("from_class"),
        text("to_class"),
        text("action"),
        text("reason"),
    );
    let now = parquet::f64s(&b, "monthly_cost_now");
    (0..b.num_rows())
        .map(|i| {
            let row = (
                from[i].clone(),
                to[i].clone(),
                action[i].clone(),
                reason[i].clone(),
                now[i],
            );
            (key[i].clone(), row)
        })
        .collect()
}

#[test]
fn inventory_classes_blobtier_does_not_know_are_kept_and_not_priced() {
    let t = tempfile::tempdir().unwrap();
    // Old, large, never pulled: the default `cold` rule sends every one to GLACIER_IR, and
    // the STANDARD one goes.
    let classes = [
        ("STANDARD", "priced"),
        ("GLACIER_DEEP", "kept:unknown_class"),
        ("Standard Infrequent", "kept:unknown_class"),
        ("REDUCED_REDUNDANCY", "kept:unpriced_class"),
        ("OUTPOSTS", "kept:unpriced_class"),
        ("EXPRESS_ONEZONE", "kept:unpriced_class"),
    ];
    let rows: Vec<InvRow> = (0u32..)
        .zip(classes)
        .map(|(i, (class, _))| (key_of(i), 4 << 30, OLD.to_string(), class.to_string()))
        .collect();
    let manifest = write_inventory(&t.path().join("inv"), "registry-prod", AS_OF, &rows);
    let lake = t.path().join("lake");
    run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg("--inventory")
        .arg(&manifest))
    .assert_success();
    let cfg = t.path().join("blobtier.toml");
    fs::write(&cfg, "").unwrap();
    // An inventory without logs: plan despite the coverage guard.
    for stage in [&["stats"][..], &["plan", "--allow-gaps"][..]] {
        run(blobtier()
            .arg("--config")
            .arg(&cfg)
            .args([stage[0], "--as-of", AS_OF, "--lake"])
            .arg(&lake)
            .args(&stage[1..]))
        .assert_success();
    }
    let d = decisions(&lake);
    assert_eq!(d.len(), classes.len(), "{d:#?}");
    for (i, (class, reason)) in (0u32..).zip(classes) {
        let (from, to, action, got, now) = &d[&key_of(i)];
        // The name is kept as the inventory wrote it.
        assert_eq!(from, class);
        if reason == "priced" {
            assert!(*now > 0.0, "{class}: {d:#?}");
            let moved = (to.as_str(), action.as_str(), got.as_str());
            assert_eq!(moved, ("GLACIER_IR", "transition", "moved:cold"), "{class}");
        } else {
            assert_eq!(
                (to.as_str(), action.as_str(), got.as_str(), *now),
                (class, "none", reason, 0.0),
                "{class}"
            );
        }
    }
    let plan = walk(&lake.join("plan"))
        .into_iter()
        .find(|p| p.ends_with("plan.summary.json"))
        .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&fs::read(plan).unwrap()).unwrap();
    let by_reason = &summary["totals"]["by_reason"];
    assert_eq!(by_reason["kept:unknown_class"], 2, "{summary}");
    assert_eq!(by_reason["kept:unpriced_class"], 3, "{summary}");
}
