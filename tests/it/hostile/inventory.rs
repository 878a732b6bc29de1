//! Issue 17 cases 4, 5, 6, 7 and the inventory part of 11: a manifest or data file that is wrong
//! is an error naming what is wrong, or rows quarantined by a reason that names the field; an
//! inventory that is mostly wrong is not committed; nothing is counted twice.

use std::fs;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::*;
use crate::support::cli::tree_digest;

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

/// The right report of the same bucket and day, in another folder, ingested after a bad one.
fn good_report(dest: &Path) -> PathBuf {
    write_report(
        dest,
        "2026-11-26T02-00Z",
        DATE,
        Default::default(),
        &[DataFile::new("good.csv.gz", gzip(good_rows(3).as_bytes()))],
    )
}

/// Asserts that `manifest` is refused (exit 1, nothing committed), then that the right report of
/// the same day is ingested rather than skipped as `snapshot_already_ingested`.
fn refused_then_the_right_one_ingests(t: &Path, manifest: &Path, extra: &[&str], what: &str) {
    let lake = t.join("lake");
    let out = ingest_inventory(&lake, manifest, extra);
    assert_eq!(out.code(), 1, "{what}: {out}");
    assert!(
        out.stderr.contains(&manifest.display().to_string()),
        "{what}: the error names the manifest\n{out}"
    );
    assert!(
        ledger(&lake).is_empty(),
        "{what}: ledger {:?}",
        ledger(&lake)
    );
    assert!(partitions(&lake, "inventory").is_empty(), "{what}");
    let right = good_report(&t.join("dest"));
    let out = ingest_inventory(&lake, &right, &[]);
    assert_eq!(out.code(), 0, "{what}: {out}");
    let m = metrics(&out);
    assert_eq!(m["inputs"][0]["status"], "ingested", "{what}: {m}");
    assert_eq!(m["inventory_rows"], 3, "{what}: {m}");
}

/// A report whose `fileSchema` does not describe its rows (more, fewer or reordered columns),
/// or whose rows are garbage, is rejected whole: before, it was committed with exit 0 even with
/// `--max-bad-ratio 0`, and its snapshot then made the right report of the day be skipped.
#[test]
fn a_fully_rejected_inventory_is_not_committed_and_the_right_one_ingests_next() {
    let rows = good_rows(4);
    let variants: [(&str, &str, String); 4] = [
        (
            "more columns",
            "Bucket, Key, VersionId, IsLatest, Size, LastModifiedDate, ETag, StorageClass",
            rows.clone(),
        ),
        ("fewer columns", "Bucket, Key, Size", rows.clone()),
        (
            "reordered columns",
            "Key, Bucket, Size, LastModifiedDate, ETag, StorageClass",
            rows.clone(),
        ),
        (
            "garbage rows",
            CSV_SCHEMA,
            "this is not,an inventory\n\x01\x02\x03\nPK\x03\x04 zip?\n\"unterminated\n".into(),
        ),
    ];
    for (what, schema, csv) in variants {
        for extra in [&[][..], &["--max-bad-ratio", "0"][..]] {
            let t = tempfile::tempdir().unwrap();
            let manifest = write_report(
                &t.path().join("dest"),
                "2026-11-26T01-00Z",
                DATE,
                manifest_fields(&[("fileSchema", schema)]),
                &[DataFile::new("bad.csv.gz", gzip(csv.as_bytes()))],
            );
            refused_then_the_right_one_ingests(t.path(), &manifest, extra, what);
        }
    }
}

/// Over the threshold but not fully rejected: one bad row in 201 is refused with
/// `--max-bad-ratio 0` and accepted with the default 0.01.
#[test]
fn an_inventory_over_the_reject_threshold_is_not_committed() {
    let t = tempfile::tempdir().unwrap();
    let mut csv = good_rows(200);
    csv.push_str("\"registry-prod\",\"only two fields\"\n");
    let manifest = write_report(
        &t.path().join("dest"),
        "2026-11-26T01-00Z",
        DATE,
        Default::default(),
        &[DataFile::new("a.csv.gz", gzip(csv.as_bytes()))],
    );
    let lake = t.path().join("lake");
    let out = ingest_inventory(&lake, &manifest, &["--max-bad-ratio", "0"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("too_few_fields"), "{out}");
    assert!(ledger(&lake).is_empty());
    assert!(partitions(&lake, "inventory").is_empty());
    let out = ingest_inventory(&lake, &manifest, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let m = metrics(&out);
    assert_eq!(m["inventory_rows"], 200, "{m}");
    assert_eq!(rejects(&lake).len(), 1);
}

/// Duplicate rows (same bucket, key and version, in one data file or in two) are kept once and
/// counted; before, each gave its own action in `plan.parquet`, doubling bytes and costs.
#[test]
fn duplicate_inventory_rows_are_kept_once_and_counted() {
    let t = tempfile::tempdir().unwrap();
    let (logs, dest, lake) = (
        t.path().join("logs"),
        t.path().join("dest"),
        t.path().join("lake"),
    );
    hot_logs(&logs, 0);
    let a = format!(
        "{}{}",
        good_rows(5),
        csv_row(&blob_key(&hex(1)), MIB50, OLD, "STANDARD")
    );
    let b = csv_row(&blob_key(&hex(2)), MIB50, OLD, "STANDARD");
    write_report(
        &dest,
        &format!("{DATE}T01-00Z"),
        DATE,
        Default::default(),
        &[
            DataFile::new("a.csv.gz", gzip(a.as_bytes())),
            DataFile::new("b.csv.gz", gzip(b.as_bytes())),
        ],
    );
    let cfg = run_config(
        t.path(),
        &lake,
        &logs,
        &dest.join(format!("{BUCKET}/cfg")),
        "",
    );
    let out = nightly(&cfg, DATE, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let rec = metrics(&out);
    assert_eq!(rec["ingest"]["inventory_rows"], 5, "{}", rec["ingest"]);
    assert_eq!(
        rec["ingest"]["inventory_duplicates"], 2,
        "{}",
        rec["ingest"]
    );
    let inv = parquet_rows(&lake.join("inventory"));
    assert_eq!(inv.len(), 5);
    let plan = parquet_rows(&lake.join(format!("plan/as_of={DATE}/plan.parquet")));
    let mut keys: Vec<&str> = plan.iter().map(|r| r["key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "one action per object: {keys:?}");
    assert_eq!(n, 4, "blobs 1..=4 are cold: {keys:?}");
}

/// One log file pulling blob `hot` every day of the 95 days up to as-of, so that coverage is
/// complete and only `hot` is pulled.
fn hot_logs(logs: &Path, hot: u32) {
    fs::create_dir_all(logs).unwrap();
    let as_of = NaiveDate::parse_from_str(DATE, "%Y-%m-%d").unwrap();
    let text: String = (0..95)
        .map(|d| s3_pull(as_of - chrono::Duration::days(d), "203.0.113.9", hot))
        .collect();
    fs::write(logs.join("2026-11-26-00-00-00-A"), text).unwrap();
}

/// A storage class blobtier does not know is kept as it is (`kept:unknown_class`), never priced
/// as STANDARD and moved.
#[test]
fn an_unknown_storage_class_is_kept_not_priced_as_standard() {
    let t = tempfile::tempdir().unwrap();
    let (logs, dest, lake) = (
        t.path().join("logs"),
        t.path().join("dest"),
        t.path().join("lake"),
    );
    hot_logs(&logs, 0);
    let mut csv = good_rows(3);
    csv.push_str(&csv_row(&blob_key(&hex(7)), MIB50, OLD, "FANCY_NEW_CLASS"));
    csv.push_str(&csv_row(&blob_key(&hex(8)), MIB50, OLD, "GLACIER IR"));
    write_report(
        &dest,
        &format!("{DATE}T01-00Z"),
        DATE,
        Default::default(),
        &[DataFile::new("a.csv.gz", gzip(csv.as_bytes()))],
    );
    let cfg = run_config(
        t.path(),
        &lake,
        &logs,
        &dest.join(format!("{BUCKET}/cfg")),
        "",
    );
    let out = nightly(&cfg, DATE, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let decisions = parquet_rows(&lake.join(format!("decisions/as_of={DATE}")));
    for i in [7, 8] {
        let key = blob_key(&hex(i));
        let d = decisions
            .iter()
            .find(|r| r["key"] == key.as_str())
            .unwrap_or_else(|| panic!("no decision for {key}"));
        assert_eq!(d["reason"], "kept:unknown_class", "{d:?}");
        assert_eq!(d["action"], "none", "{d:?}");
    }
    let plan = parquet_rows(&lake.join(format!("plan/as_of={DATE}/plan.parquet")));
    let mut moved: Vec<&str> = plan.iter().map(|r| r["key"].as_str().unwrap()).collect();
    moved.sort_unstable();
    assert_eq!(
        moved,
        vec![blob_key(&hex(1)).as_str(), blob_key(&hex(2)).as_str()],
        "only the known cold blobs move"
    );
}

/// Out-of-range CSV values are quarantined by a reason naming the field: a negative or
/// non-numeric `Size` (`bad_size`), a `LastModifiedDate` before 1970 (`bad_timestamp`).
#[test]
fn out_of_range_csv_values_are_rejected_by_field() {
    let t = tempfile::tempdir().unwrap();
    let mut csv = good_rows(2);
    csv.push_str(&csv_row(&blob_key(&hex(10)), "-5", OLD, "STANDARD"));
    csv.push_str(&csv_row(&blob_key(&hex(11)), "abc", OLD, "STANDARD"));
    csv.push_str(&csv_row(
        &blob_key(&hex(12)),
        "1",
        "0000-01-01T00:00:00.000Z",
        "STANDARD",
    ));
    csv.push_str(&csv_row(
        &blob_key(&hex(13)),
        "1",
        "1969-12-31T23:59:59.000Z",
        "STANDARD",
    ));
    csv.push_str(&format!(
        "\"{BUCKET}\",\"\",\"1\",\"{OLD}\",\"e\",\"STANDARD\"\n"
    ));
    let manifest = write_report(
        &t.path().join("dest"),
        "2026-11-26T01-00Z",
        DATE,
        Default::default(),
        &[DataFile::new("a.csv.gz", gzip(csv.as_bytes()))],
    );
    let lake = t.path().join("lake");
    let out = ingest_inventory(&lake, &manifest, &["--max-bad-ratio", "1"]);
    assert_eq!(out.code(), 0, "{out}");
    let inv = parquet_rows(&lake.join("inventory"));
    assert_eq!(inv.len(), 2, "{inv:?}");
    assert!(inv.iter().all(|r| r["size"].as_i64().unwrap() >= 0));
    let mut reasons: Vec<(i64, String)> = rejects(&lake)
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["reason_code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    reasons.sort();
    let want: Vec<(i64, String)> = [
        (3, "bad_size"),
        (4, "bad_size"),
        (5, "bad_timestamp"),
        (6, "bad_timestamp"),
        (7, "bad_key"),
    ]
    .iter()
    .map(|(l, r)| (*l, (*r).to_owned()))
    .collect();
    assert_eq!(reasons, want);
}

fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    buf
}

/// Parquet rows: a `size` of `'abc'` became NULL and a NULL key became `""`; both are
/// quarantined by the field's name instead.
#[test]
fn parquet_rows_with_a_bad_size_or_a_null_key_are_rejected_by_field() {
    let t = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, true),
        Field::new("size", DataType::Utf8, true),
        Field::new(
            "last_modified_date",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("storage_class", DataType::Utf8, true),
    ]));
    let keys: Vec<Option<String>> = vec![
        Some(blob_key(&hex(1))),
        Some(blob_key(&hex(2))),
        None,
        Some(blob_key(&hex(4))),
    ];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![BUCKET; 4])),
        Arc::new(StringArray::from(keys)),
        Arc::new(StringArray::from(vec![
            Some("100"),
            Some("abc"),
            Some("5"),
            Some("7"),
        ])),
        Arc::new(
            TimestampMillisecondArray::from(vec![Some(1_748_736_000_000); 4]).with_timezone("UTC"),
        ),
        Arc::new(StringArray::from(vec![Some("STANDARD"); 4])),
    ];
    let batch = RecordBatch::try_new(schema, cols).unwrap();
    let manifest = write_report(
        &t.path().join("dest"),
        "2026-11-26T01-00Z",
        DATE,
        manifest_fields(&[
            ("fileFormat", "Parquet"),
            (
                "fileSchema",
                "message s3.inventory { required binary bucket (STRING); optional binary key (STRING); optional binary size (STRING); optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); optional binary storage_class (STRING);}",
            ),
        ]),
        &[DataFile::new("a.parquet", parquet_bytes(&batch))],
    );
    let lake = t.path().join("lake");
    let out = ingest_inventory(&lake, &manifest, &["--max-bad-ratio", "1"]);
    assert_eq!(out.code(), 0, "{out}");
    let inv = parquet_rows(&lake.join("inventory"));
    let mut got: Vec<(String, serde_json::Value)> = inv
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r["size"].clone()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            (blob_key(&hex(1)), serde_json::json!(100)),
            (blob_key(&hex(4)), serde_json::json!(7)),
        ]
    );
    let mut reasons: Vec<String> = rejects(&lake)
        .iter()
        .map(|r| r["reason_code"].as_str().unwrap().to_owned())
        .collect();
    reasons.sort();
    assert_eq!(reasons, vec!["bad_key", "bad_size"]);
}

/// Compression is recognised by content: a gzip data file without `.gz` and a plain one with
/// `.gz` are both read as what they are.
#[test]
fn inventory_compression_is_detected_by_content_not_by_name() {
    let t = tempfile::tempdir().unwrap();
    let manifest = write_report(
        &t.path().join("dest"),
        "2026-11-26T01-00Z",
        DATE,
        Default::default(),
        &[
            DataFile::new("gzip-without-suffix.csv", gzip(good_rows(2).as_bytes())),
            DataFile::new(
                "plain-with-suffix.csv.gz",
                csv_row(&blob_key(&hex(5)), MIB50, OLD, "STANDARD").into_bytes(),
            ),
        ],
    );
    let lake = t.path().join("lake");
    let before = tree_digest(t.path().join("dest").as_path());
    let out = ingest_inventory(&lake, &manifest, &["--max-bad-ratio", "0"]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(metrics(&out)["inventory_rows"], 3);
    assert!(rejects(&lake).is_empty());
    assert_eq!(tree_digest(t.path().join("dest").as_path()), before);
}
