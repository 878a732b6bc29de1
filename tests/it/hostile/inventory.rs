//! Issue 17 cases 4 and the `creationTimestamp` part of 11: a manifest whose snapshot time is not
//! a date of 1970–9999 is an error naming the field, never a panic or a partition such as
//! `snapshot=+10000-01-01`.

use super::*;

const DATE: &str = "2026-11-26";
const OLD: &str = "2025-06-01T00:00:00.000Z";
const MIB50: &str = "52428800";

fn good_rows(n: u32) -> String {
    (0..n)
        .map(|i| csv_row(&blob_key(&hex(i)), MIB50, OLD, "STANDARD"))
        .collect()
}

fn manifest_fields(pairs: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect()
}

/// `creationTimestamp` of `i64::MAX` milliseconds made ingest panic (exit 101).
#[test]
fn creation_timestamp_i64_max_is_an_error_naming_the_field_not_a_panic() {
    let t = tempfile::tempdir().unwrap();
    let manifest = write_report(
        &t.path().join("dest"),
        "2026-11-26T01-00Z",
        DATE,
        manifest_fields(&[("creationTimestamp", "9223372036854775807")]),
        &[DataFile::new("a.csv.gz", gzip(good_rows(2).as_bytes()))],
    );
    let lake = t.path().join("lake");
    let out = ingest_inventory(&lake, &manifest, &[]);
    assert_eq!(out.code(), 2, "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert!(out.stderr.contains("creationTimestamp"), "{out}");
    assert!(ledger(&lake).is_empty());
    assert!(partitions(&lake, "inventory").is_empty());
}

/// A snapshot before 1970 or after 9999 (`-1` ms gave `snapshot=1969-12-31`,
/// 253402300800000 ms `snapshot=+10000-01-01`) is an error naming `creationTimestamp`.
#[test]
fn creation_timestamp_outside_1970_to_9999_is_an_error_naming_the_field() {
    for ts in ["-1", "253402300800000", "-62167219200000"] {
        let t = tempfile::tempdir().unwrap();
        let manifest = write_report(
            &t.path().join("dest"),
            "2026-11-26T01-00Z",
            DATE,
            manifest_fields(&[("creationTimestamp", ts)]),
            &[DataFile::new("a.csv.gz", gzip(good_rows(2).as_bytes()))],
        );
        let lake = t.path().join("lake");
        let out = ingest_inventory(&lake, &manifest, &[]);
        assert_eq!(out.code(), 2, "creationTimestamp {ts}: {out}");
        assert!(
            out.stderr.contains("creationTimestamp") && out.stderr.contains(ts),
            "{ts}: {out}"
        );
        assert!(partitions(&lake, "inventory").is_empty(), "{ts}");
        assert!(ledger(&lake).is_empty(), "{ts}");
    }
}
