//! Fuzz targets (proptest, run by the normal `cargo test`) for everything an inventory report
//! feeds ingest: `manifest.json`, CSV data files and Parquet data files, each on arbitrary
//! bytes and on valid inputs with bytes flipped, inserted and deleted.
//!
//! Each target asserts that nothing panics and that every outcome is `Ok` or a named error,
//! every row kept or quarantined with a reason code of [`RowReject::ALL`]. Case counts are set so
//! that each target runs for at most about 60 s in a debug build on a loaded 2-core machine
//! (measured: 1–12 s each on an idle one, at most 30 s with a load average of 8). A failure found here is kept as a named
//! regression test in `super::tests`.

use std::io::Write as _;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use proptest::prelude::*;

use super::*;

/// One edit of a byte string: flip a byte, insert one, delete one (positions wrap).
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to the formats are drawn more often than the others.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            b',', b'"', b'\n', b'\r', 0, b'%', b'-', b'{', b'}', b':'
        ]),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match *e {
            Edit::Flip(i, b) if n > 0 => bytes[i % n] = b,
            Edit::Insert(i, b) => bytes.insert(i % (n + 1), b),
            Edit::Delete(i) if n > 0 => {
                bytes.remove(i % n);
            }
            _ => {}
        }
    }
    bytes
}

const BUCKET: &str = "registry-prod";

/// A string drawn mostly from what inventories hold, sometimes anything.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9/._=%-]{0,40}",
        "-?[0-9]{1,20}",
        "(19|20|99|00)[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{3})?(Z|[+-][01][0-9]:00)",
        prop::sample::select(vec![
            "true", "false", "TRUE", "", "STANDARD", "GLACIER", BUCKET, "abc", "null",
        ])
        .prop_map(String::from),
        any::<String>(),
    ]
}

// ---------------------------------------------------------------- manifest.json

/// A manifest as S3 writes one, with arbitrary values in its fields.
fn manifest_json() -> impl Strategy<Value = Vec<u8>> {
    let created = prop_oneof![
        any::<i64>().prop_map(|v| serde_json::json!(v.to_string())),
        any::<i64>().prop_map(|v| serde_json::json!(v)),
        (0i64..=MAX_CREATED_MS).prop_map(|v| serde_json::json!(v.to_string())),
        any::<f64>().prop_map(|v| serde_json::json!(v)),
        text().prop_map(|v| serde_json::json!(v)),
    ];
    let format = prop_oneof![
        prop::sample::select(vec!["CSV", "Parquet", "ORC"]).prop_map(String::from),
        text(),
    ];
    let files = prop::collection::vec((text(), text()), 0..4);
    (created, format, text(), files).prop_map(|(created, format, schema, files)| {
        let files: Vec<serde_json::Value> = files
            .into_iter()
            .map(|(key, md5)| serde_json::json!({"key": key, "size": 1, "MD5checksum": md5}))
            .collect();
        serde_json::to_vec_pretty(&serde_json::json!({
            "sourceBucket": BUCKET,
            "destinationBucket": "arn:aws:s3:::dest",
            "version": "2016-11-30",
            "creationTimestamp": created,
            "fileFormat": format,
            "fileSchema": schema,
            "files": files,
        }))
        .expect("a JSON value serialises")
    })
}

/// `parse_manifest` on `bytes`: `Ok` with a snapshot date of 1970..9999 and a known format, or
/// an error naming the manifest.
fn check_manifest(bytes: &[u8]) {
    match parse_manifest(bytes, "m.json") {
        Ok(p) => {
            assert!((0..=MAX_CREATED_MS).contains(&p.created_ms));
            assert!(["CSV", "Parquet", "ORC"].contains(&p.raw.file_format.as_str()));
            for f in &p.raw.files {
                let _ = key_is_relative(&f.key);
            }
        }
        Err(e @ InventoryError::BadManifest { .. }) => {
            assert!(e.to_string().contains("m.json"), "{e}");
        }
        Err(e) => panic!("unexpected error kind: {e:?}"),
    }
}

proptest! {
    // 2,000 cases each: 1–3 s in a debug build on an idle 2-core machine, well under 60 s on a
    // loaded one.
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn manifest_json_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_manifest(&bytes);
    }

    #[test]
    fn manifest_json_mutated(m in manifest_json(), edits in prop::collection::vec(edit(), 0..6)) {
        check_manifest(&apply(m, &edits));
    }
}

// ---------------------------------------------------------------- CSV data files

fn schema() -> CsvSchema {
    CsvSchema::new(
        &[
            "Bucket",
            "Key",
            "VersionId",
            "IsLatest",
            "Size",
            "LastModifiedDate",
            "ETag",
            "StorageClass",
        ]
        .map(String::from),
    )
}

/// CSV text of rows made of inventory-like values, quoted as S3 quotes them.
fn csv_text() -> impl Strategy<Value = Vec<u8>> {
    let row = (
        prop_oneof![4 => Just(BUCKET.to_owned()), 1 => text()],
        text(),
        text(),
        text(),
        text(),
        text(),
        text(),
        text(),
    );
    prop::collection::vec(row, 0..12).prop_map(|rows| {
        let mut out = String::new();
        for r in rows {
            let fields = [r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7];
            let quoted: Vec<String> = fields
                .iter()
                .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
                .collect();
            out.push_str(&quoted.join(","));
            out.push('\n');
        }
        out.into_bytes()
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// The checks every data file read passes: each stored reject has a known code, a line number,
/// a bounded `raw` and a `raw_len` at least as long; each kept row passes [`Row::check`]'s
/// ranges.
fn check_data_file(df: &DataFile) {
    let codes: Vec<&str> = RowReject::ALL.iter().map(|r| r.code()).collect();
    for r in &df.rejects.stored {
        assert!(codes.contains(&r.reason), "{}", r.reason);
        assert!(r.line >= 1);
        assert!(r.raw.len() <= RAW_MAX);
        assert!(r.raw_len >= r.raw.len() as u64 || r.raw.contains('\u{FFFD}'));
    }
    assert_eq!(df.rejects.total, df.rejects.by_reason.values().sum::<u64>());
    assert_eq!(df.rows, df.batch.num_rows() as u64);
    let b = &df.batch;
    let bucket = b.column(0).as_string::<i32>();
    let key = b.column(1).as_string::<i32>();
    let size = b.column(5).as_primitive::<arrow::datatypes::Int64Type>();
    let lm = b
        .column(6)
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    for i in 0..b.num_rows() {
        assert_eq!(bucket.value(i), BUCKET);
        assert!(!key.value(i).is_empty());
        assert!(size.is_null(i) || size.value(i) >= 0);
        assert!(lm.is_null(i) || (0..=253_402_300_799_999_999).contains(&lm.value(i)));
    }
}

/// Reads `bytes` as a CSV data file: `Ok` (every non-empty line a row or a reject, when the
/// bytes are plain text) or an I/O error from a compressed stream that does not decode.
fn check_csv(bytes: Vec<u8>) {
    let compressed = crate::storage::detect(&bytes) != crate::storage::Compression::None;
    let lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && *l != b"\r")
        .count() as u64;
    match read_csv(bytes, &schema(), BUCKET, &Layout::default()) {
        Ok(df) => {
            check_data_file(&df);
            if !compressed {
                assert_eq!(df.rows + df.rejects.total, lines);
            }
        }
        Err(e) => assert!(compressed, "plain text failed: {e}"),
    }
}

proptest! {
    // 1,000 cases each: up to ~11 s (`csv_mutated`, gzip half the time) in a debug build on an
    // idle 2-core machine, under 60 s on a loaded one.
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn csv_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_csv(bytes);
    }

    #[test]
    fn csv_mutated(text in csv_text(), edits in prop::collection::vec(edit(), 0..8), gz in any::<bool>()) {
        let bytes = apply(text, &edits);
        check_csv(if gz { gzip(&bytes) } else { bytes });
    }
}

// ---------------------------------------------------------------- Parquet data files

/// A Parquet data file of rows with arbitrary values: `size` as text or as a number, NULL
/// keys, timestamps of any i64 milliseconds.
fn parquet_file() -> impl Strategy<Value = (Vec<u8>, usize)> {
    let row = (
        prop::option::of(prop_oneof![4 => Just(BUCKET.to_owned()), 1 => text()]),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<i64>()),
        prop::option::of(text()),
    );
    (prop::collection::vec(row, 0..20), any::<bool>()).prop_map(|(rows, size_as_text)| {
        let n = rows.len();
        let size: (DataType, ArrayRef) = if size_as_text {
            (
                DataType::Utf8,
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2.clone()))),
            )
        } else {
            (
                DataType::Int64,
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.3))),
            )
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("bucket", DataType::Utf8, true),
            Field::new("key", DataType::Utf8, true),
            Field::new("size", size.0, true),
            Field::new(
                "last_modified_date",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("storage_class", DataType::Utf8, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0.clone()))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1.clone()))),
            size.1,
            Arc::new(
                TimestampMillisecondArray::from_iter(rows.iter().map(|r| r.4)).with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.5.clone()))),
        ];
        let batch = RecordBatch::try_new(schema, cols).expect("columns match");
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)
            .expect("writing to memory");
        w.write(&batch).expect("writing to memory");
        w.close().expect("writing to memory");
        (buf, n)
    })
}

proptest! {
    // 1,000 cases each (a Parquet file is written and read per case): up to ~12 s in a debug
    // build on an idle 2-core machine, under 60 s on a loaded one. 10,000 cases of
    // `parquet_mutated` found two panics of the Parquet reader (see
    // `every_one_byte_corruption_of_a_parquet_data_file_is_an_error_not_a_panic`), none since.
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn parquet_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(df) = read_parquet(bytes, BUCKET, &Layout::default()) {
            check_data_file(&df);
        }
    }

    #[test]
    fn parquet_rows_are_all_kept_or_rejected((bytes, n) in parquet_file()) {
        let df = read_parquet(bytes, BUCKET, &Layout::default()).expect("a valid Parquet file");
        check_data_file(&df);
        prop_assert_eq!(df.rows + df.rejects.total, n as u64);
    }

    #[test]
    fn parquet_mutated((bytes, _) in parquet_file(), edits in prop::collection::vec(edit(), 1..4)) {
        if let Ok(df) = read_parquet(apply(bytes, &edits), BUCKET, &Layout::default()) {
            check_data_file(&df);
        }
    }
}
