//! Ingest from `s3://` on a real S3-compatible server (LocalStack over HTTP): logs under a
//! prefix (plain, gzip and zstd objects) and an inventory report whose manifest and data
//! files live in the destination bucket. The result must equal a local ingest of the same
//! files, and a re-run must read nothing.
//! See: issue 2.

use std::fs;
use std::io::Write;

use crate::ingest::{hex_of, s3_pull_line, KEY};
use crate::stats::{write_inventory_to, InvRow};
use crate::support::cli::{blobtier, run};
use crate::support::localstack::{block_on, localstack};

#[test]
fn ingest_logs_and_inventory_from_s3_equals_local_ingest() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let mut plain = String::new();
    for i in 0..40u32 {
        plain.push_str(&s3_pull_line(
            "20/Nov/2026",
            "08:00:00",
            &format!("198.51.100.{}", i % 9),
            &hex_of(i % 6),
            "containerd/1.7.13",
            10,
        ));
    }
    fs::write(logs.join("2026-11-20-08-00-00-A"), &plain).unwrap();
    let mut day2 = String::new();
    for i in 0..25u32 {
        day2.push_str(&s3_pull_line(
            "21/Nov/2026",
            "23:59:59",
            "2001:db8::7",
            &hex_of(i % 3),
            "Trivy/0.48.3",
            10,
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(day2.as_bytes()).unwrap();
    fs::write(logs.join("2026-11-22-01-00-00-B"), gz.finish().unwrap()).unwrap();
    fs::write(
        logs.join("2026-11-22-02-00-00-C"),
        zstd::encode_all(plain.replace("08:00:00", "09:00:00").as_bytes(), 3).unwrap(),
    )
    .unwrap();

    let dest = ls.unique_bucket("inventory");
    let log_bucket = ls.unique_bucket("access-logs");
    let rows: Vec<InvRow> = (0..8u32)
        .map(|i| {
            let h = hex_of(i);
            (
                format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2]),
                1000 + i as u64,
                "2026-01-02T03:04:05.000Z".to_string(),
                "STANDARD".to_string(),
            )
        })
        .collect();
    let manifest = write_inventory_to(t.path(), &dest, "registry-prod", "2026-11-22", &rows);
    let manifest_key = manifest
        .strip_prefix(t.path().join(&dest))
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    block_on(async {
        ls.create_bucket(&log_bucket).await;
        ls.create_bucket(&dest).await;
        ls.upload_dir(&log_bucket, "registry-prod/", &logs).await;
        ls.upload_dir(&dest, "", &t.path().join(&dest)).await;
    });

    let s3_lake = t.path().join("s3-lake");
    let ingest_s3 = || {
        run(blobtier()
            .args(["ingest", "--lake"])
            .arg(&s3_lake)
            .args([
                "--logs",
                &format!("s3-access:s3://{log_bucket}/registry-prod/"),
            ])
            .args(["--inventory", &format!("s3://{dest}/{manifest_key}")])
            .env("BLOBTIER_CLIENT_KEY", KEY)
            .envs(ls.env()))
    };
    let out = ingest_s3();
    out.assert_success();
    let m: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(m["files_read"], 3, "{out}");
    assert_eq!(m["totals"]["pulls"], 105);
    assert_eq!(m["inventory_rows"], 8);
    assert_eq!(m["inventory_blobs"], 8);

    let local_lake = t.path().join("local-lake");
    let out_local = run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&local_lake)
        .args(["--logs", &format!("s3-access:{}", logs.display())])
        .arg("--inventory")
        .arg(&manifest)
        .env("BLOBTIER_CLIENT_KEY", KEY));
    out_local.assert_success();
    let ml: serde_json::Value = serde_json::from_str(&out_local.stdout).unwrap();
    assert_eq!(ml["totals"], m["totals"]);

    let stats = |lake: &std::path::Path| {
        let o = run(blobtier()
            .args(["stats", "--as-of", "2026-11-22", "--lake"])
            .arg(lake));
        o.assert_success();
        o.stdout.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(stats(&s3_lake), stats(&local_lake));

    // A re-run lists the same objects (same ETags) and reads none of them.
    let again: serde_json::Value = serde_json::from_str(&ingest_s3().stdout).unwrap();
    assert_eq!(again["files_read"], 0);
    assert_eq!(again["files_skipped"], 4);
}
