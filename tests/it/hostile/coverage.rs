//! Issue 17 case 12: a command that exits 2 leaves the lake as it was.

use std::fs;

use super::*;
use crate::support::cli::tree_digest;

const AS_OF: &str = "2026-11-26";

fn as_of() -> NaiveDate {
    NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap()
}

/// An inventory of blob 0 (pulled) and blobs 1..=5 (cold, 50 MiB, old) dated as-of.
fn inventory(dest: &Path) -> PathBuf {
    let csv: String = (0..6)
        .map(|i| {
            csv_row(
                &blob_key(&hex(i)),
                "52428800",
                "2025-06-01T00:00:00.000Z",
                "STANDARD",
            )
        })
        .collect();
    csv_report(dest, AS_OF, &csv);
    dest.join(format!("{BUCKET}/cfg"))
}

/// `stats --windows 7` (or `7,7`) exited 2 after publishing `digest_stats/as_of=…`: every exit
/// 2 must leave the lake as it was.
#[test]
fn stats_with_windows_the_plan_cannot_use_exits_2_and_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (logs, dest, lake) = (
        t.path().join("logs"),
        t.path().join("dest"),
        t.path().join("lake"),
    );
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join("a.log"), s3_pull(as_of(), "203.0.113.1", 0)).unwrap();
    ingest_logs(&lake, &format!("s3-access:{}", logs.display())).assert_success();
    inventory(&dest);
    let manifest = files(&dest)
        .into_iter()
        .find(|p| p.ends_with("manifest.json"))
        .unwrap();
    ingest_inventory(&lake, &manifest, &[]).assert_success();
    let before = tree_digest(&lake);
    for windows in ["7", "7,7"] {
        let out = run(blobtier()
            .args(["stats", "--as-of", AS_OF, "--windows", windows, "--lake"])
            .arg(&lake));
        assert_eq!(out.code(), 2, "--windows {windows}: {out}");
        assert_eq!(
            tree_digest(&lake),
            before,
            "--windows {windows} exited 2 and changed the lake\n{out}"
        );
        assert!(out.stderr.contains("--windows"), "{out}");
    }
}
