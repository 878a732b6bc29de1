//! Without `--execute`: the dry-run summary, and every refusal (exit 2) before S3 is touched.

use super::{apply, blob, run_ok};
use crate::support::cli::run;
use crate::support::plan_row::{write_plan, write_with_id, PlanRowBuilder as Row};

/// No S3 needed: a dry run prints counts, and every refusal exits 2 before touching anything.
#[test]
fn dry_run_summarises_and_refusals_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let (d0, k0) = blob(0, "dry");
    let (d1, k1) = blob(1, "dry");
    let (d2, k2) = blob(2, "dry");
    let copy = |key: &str, digest: &str, etag: &str, size: usize| {
        Row::copy("reg", key)
            .digest(digest)
            .etag(etag)
            .size(size)
            .to("STANDARD_IA")
    };
    let rows = vec![
        copy(&k0, &d0, "e0", 100).build(),
        copy(&k1, &d1, "e1", 200).build(),
        Row::lifecycle("reg", &k2)
            .digest(&d2)
            .etag("e2")
            .size(300)
            .build(),
        Row::keep("reg", "x/none")
            .digest(&d2)
            .etag("e2")
            .size(5)
            .build(),
        Row::restore("other", &format!("blobs/{k0}"))
            .digest(&d0)
            .etag("e0")
            .size(400)
            .build(),
    ];
    let (plan, id) = write_plan(t.path(), rows.clone());

    let s = run_ok(&mut apply(t.path(), &plan));
    assert_eq!(s["dry_run"], true);
    assert_eq!(s["plan_id"], id.as_str());
    assert_eq!(s["rows"], 5);
    assert_eq!(s["actions"], 4);
    assert_eq!(s["bytes"], 1000);
    assert_eq!(s["bytes_by_target_class"]["STANDARD_IA"], 300);
    assert_eq!(s["sample"].as_array().unwrap().len(), 4);
    let groups = s["groups"].as_array().unwrap();
    assert!(groups
        .iter()
        .any(|g| g["action"] == "copy" && g["count"] == 2 && g["bytes"] == 300));
    assert!(s["execute_refusal"]
        .as_str()
        .unwrap()
        .contains("allow-list"));

    // Outside the allow-list: refused, dry run or not.
    let refused = |args: &[&str], why: &str| {
        let out = run(apply(t.path(), &plan).args(args));
        assert_eq!(out.code(), 2, "{out}");
        assert!(out.stderr.contains(why), "{out}");
    };
    let outside = "outside the allow-list";
    refused(&["--allow-bucket", "reg"], outside);
    refused(
        &["--allow-bucket", "reg", "--allow-bucket", "other/uploads/"],
        outside,
    );
    run_ok(apply(t.path(), &plan).args([
        "--allow-bucket",
        "reg",
        "--allow-bucket",
        "other/blobs/",
    ]));
    // `apply.allow` in the config counts like `--allow-bucket`.
    let cfg = t.path().join("apply-allow.toml");
    std::fs::write(&cfg, "[apply]\nallow = [\"reg\", \"other/blobs/\"]\n").unwrap();
    run_ok(apply(t.path(), &plan).arg("--config").arg(&cfg));
    std::fs::write(&cfg, "[apply]\nallow = [\"reg\"]\n").unwrap();
    refused(&["--config", cfg.to_str().unwrap()], outside);

    // --execute without an allow-list.
    refused(&["--execute"], "without an allow-list");

    // A plan modified after it was made.
    let mut tampered = rows;
    tampered[1] = Row::edit(tampered[1].clone()).to("DEEP_ARCHIVE").build();
    write_with_id(&plan, tampered, &id);
    refused(
        &[
            "--execute",
            "--allow-bucket",
            "reg",
            "--allow-bucket",
            "other",
        ],
        "does not match its content",
    );

    // Rows apply cannot execute.
    let bad = vec![Row::copy("reg", &k0)
        .digest(&d0)
        .to("EXPRESS_ONEZONE")
        .build()];
    let (plan, _) = write_plan(t.path(), bad);
    let out = run(&mut apply(t.path(), &plan));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("not a target class"), "{out}");
}
