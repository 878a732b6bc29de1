//! ORC inventory reports (`fileFormat: "ORC"`), with data files written by a real ORC writer:
//! pyarrow's (the Apache ORC C++ library), installed by `tests/setup/install-venv.sh pyarrow`. The
//! rows read must equal the rows written, go through the same row checks and quarantine as
//! the CSV twin of the same report, and a corrupt ORC file must be a named error, never a
//! panic or a crash.
//! See: issue 16.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};
use serde_json::{json, Value};

use blobtier::ingest::inventory::read_orc;

use crate::ingest::walk;
use crate::registry::read_rows;
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run, Output};
use crate::support::pyarrow::run_python;

/// Writes the rows of a JSON file (`argv[1]`) as an ORC file (`argv[2]`) with the columns and
/// ORC types of an S3 Inventory report (`formats.md` §1.3), ZLIB-compressed as S3 writes them,
/// in stripes of about 1 KiB (at least `argv[3]` of them).
const WRITE_ORC: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.orc as orc
rows = json.load(open(sys.argv[1]))
schema = pa.schema([
    ("bucket", pa.string()), ("key", pa.string()), ("version_id", pa.string()),
    ("is_latest", pa.bool_()), ("is_delete_marker", pa.bool_()), ("size", pa.int64()),
    ("last_modified_date", pa.timestamp("ms")), ("e_tag", pa.string()),
    ("storage_class", pa.string()), ("is_multipart_uploaded", pa.bool_()),
])
cols = {f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}
table = pa.table(cols, schema=schema)
orc.write_table(table, sys.argv[2], compression="zlib", stripe_size=1024, batch_size=64)
back = orc.ORCFile(sys.argv[2])
assert back.nrows == len(rows), back.nrows
assert back.nstripes >= int(sys.argv[3]), (back.nstripes, sys.argv[3])
"#;

/// A blob key of the registry layout for `n`.
fn blob_key(n: u32) -> (String, String) {
    let hex = format!("{n:064x}");
    (
        format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]),
        format!("sha256:{hex}"),
    )
}

/// Milliseconds since the epoch of `2026-MM-DDT12:34:56.789Z`.
fn ms(month: u32, day: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(2026, month, day)
        .unwrap()
        .and_hms_milli_opt(12, 34, 56, 789)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// One inventory row as the Python script takes it.
fn row(bucket: &str, key: &str, size: Option<i64>, lm: Option<i64>, class: &str) -> Value {
    json!({
        "bucket": bucket, "key": key, "version_id": null, "is_latest": true,
        "is_delete_marker": false, "size": size, "last_modified_date": lm,
        "e_tag": "abc", "storage_class": class, "is_multipart_uploaded": false,
    })
}

/// A manifest of `fileFormat` ORC for the data file `data` of `bucket` on `date`, and its
/// checksum; returns the manifest's path.
fn orc_report(root: &Path, bucket: &str, date: &str, data: &[u8]) -> PathBuf {
    let dir = root.join(format!("dest/{bucket}/cfg"));
    let snap = dir.join(format!("{date}T01-00Z"));
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::create_dir_all(&snap).unwrap();
    let data_key = format!("{bucket}/cfg/data/{date}.orc");
    fs::write(root.join("dest").join(&data_key), data).unwrap();
    let created = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(1, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    // As S3 writes it: the ORC struct type as `fileSchema`, Jackson's pretty printing.
    let manifest = format!(
        "{{\n  \"sourceBucket\" : \"{bucket}\",\n  \"destinationBucket\" : \"arn:aws:s3:::dest\",\n  \"version\" : \"2016-11-30\",\n  \"creationTimestamp\" : \"{created}\",\n  \"fileFormat\" : \"ORC\",\n  \"fileSchema\" : \"struct<bucket:string,key:string,version_id:string,is_latest:boolean,is_delete_marker:boolean,size:bigint,last_modified_date:timestamp,e_tag:string,storage_class:string,is_multipart_uploaded:boolean>\",\n  \"files\" : [ {{\n    \"key\" : \"{data_key}\",\n    \"size\" : {},\n    \"MD5checksum\" : \"{}\"\n  }} ]\n}}\n",
        data.len(),
        hex::encode(Md5::digest(data))
    );
    let mp = snap.join("manifest.json");
    fs::write(&mp, &manifest).unwrap();
    fs::write(
        snap.join("manifest.checksum"),
        format!("{}\n", hex::encode(Md5::digest(manifest.as_bytes()))),
    )
    .unwrap();
    mp
}

fn ingest(lake: &Path, manifest: &Path) -> Output {
    run(blobtier()
        .args(["ingest", "--max-bad-ratio", "0.5", "--lake"])
        .arg(lake)
        .arg("--inventory")
        .arg(manifest))
}

/// The `inventory` rows of a lake by key.
fn inventory(lake: &Path) -> BTreeMap<String, BTreeMap<String, Value>> {
    let files = walk(&lake.join("inventory"));
    assert_eq!(files.len(), 1, "{files:?}");
    read_rows(&files[0])
        .into_iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r))
        .collect()
}

/// Writes `rows` as an ORC file of at least `stripes` stripes with pyarrow; returns its bytes.
fn write_orc(dir: &Path, rows: &[Value], stripes: u32) -> Vec<u8> {
    let (json_path, orc_path) = (dir.join("rows.json"), dir.join("rows.orc"));
    fs::write(&json_path, serde_json::to_vec(rows).unwrap()).unwrap();
    let stripes = stripes.to_string();
    run_python(WRITE_ORC, &[&json_path, &orc_path, Path::new(&stripes)]);
    fs::read(orc_path).unwrap()
}

#[test]
fn an_orc_report_reads_like_its_csv_twin_and_quarantines_the_same_rows() {
    let t = tempfile::tempdir().unwrap();
    let date = "2026-11-30";
    let classes = ["STANDARD", "STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE"];
    // Good rows: blobs over several months and classes (enough for several stripes and
    // batches), a layer link, an upload.
    let mut good: Vec<(String, i64, i64, &str)> = (1..=2400u32)
        .map(|n| {
            let (key, _) = blob_key(n);
            (
                key,
                i64::from(n) * 1_000_003,
                ms(1 + n % 11, 1 + n % 27),
                classes[n as usize % 4],
            )
        })
        .collect();
    let hex = format!("{:064x}", 7);
    good.push((
        format!("docker/registry/v2/repositories/team/app/_layers/sha256/{hex}/link"),
        71,
        ms(3, 3),
        "STANDARD",
    ));
    good.push((
        "docker/registry/v2/repositories/team/app/_uploads/u1/data".into(),
        5,
        ms(4, 4),
        "STANDARD",
    ));
    let mut rows: Vec<Value> = good
        .iter()
        .map(|(k, size, lm, class)| row("registry", k, Some(*size), Some(*lm), class))
        .collect();
    // Bad rows, each rejected for one field: (row number, reason).
    let bad = [
        (
            row(
                "elsewhere",
                &blob_key(9090).0,
                Some(1),
                Some(ms(1, 1)),
                "STANDARD",
            ),
            "bad_bucket",
        ),
        (
            row(
                "registry",
                &blob_key(9091).0,
                Some(-5),
                Some(ms(1, 1)),
                "STANDARD",
            ),
            "bad_size",
        ),
        (
            row("registry", "", Some(1), Some(ms(1, 1)), "STANDARD"),
            "bad_key",
        ),
        // 10000-01-01T00:00:00Z: past the last day a snapshot row may carry.
        (
            row(
                "registry",
                &blob_key(9092).0,
                Some(1),
                Some(253_402_300_800_000),
                "STANDARD",
            ),
            "bad_timestamp",
        ),
    ];
    let mut want_rejects: Vec<(i64, &str)> = Vec::new();
    for (i, (r, why)) in bad.into_iter().enumerate() {
        let at = 3 + i * 700; // spread over the stripes
        rows.insert(at, r);
        want_rejects.push((at as i64 + 1, why));
    }
    // Inserting shifts the later rows: the row numbers are the final positions.
    want_rejects.sort();
    let orc = write_orc(t.path(), &rows, 3);
    assert_eq!(&orc[..3], b"ORC", "pyarrow wrote an ORC file");

    let lake = t.path().join("lake");
    let out = ingest(
        &lake,
        &orc_report(&t.path().join("orc"), "registry", date, &orc),
    );
    out.assert_success();
    let got = inventory(&lake);
    assert_eq!(got.len(), good.len(), "{out}");
    for (key, size, lm, class) in &good {
        let r = &got[key];
        assert_eq!(r["size"], *size, "{key}");
        assert_eq!(r["last_modified"], *lm * 1000, "{key}: microseconds");
        assert_eq!(r["storage_class"], *class, "{key}");
        assert_eq!(r["bucket"], "registry");
    }
    assert_eq!(got[&blob_key(5).0]["digest"], blob_key(5).1);
    assert_eq!(got[&blob_key(5).0]["kind"], "blob");
    let rejects: Vec<(i64, String)> = walk(&lake.join("_rejects"))
        .iter()
        .flat_map(|f| read_rows(f))
        .map(|r| {
            assert_eq!(r["format"], "inventory-orc", "{r:?}");
            (
                r["line"].as_i64().unwrap(),
                r["reason_code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(i64, String)> = want_rejects
        .iter()
        .map(|(l, w)| (*l, w.to_string()))
        .collect();
    assert_eq!(rejects, want);

    // The CSV twin (the same good rows, written by the CSV test writer) gives the same table.
    let inv: Vec<InvRow> = good
        .iter()
        .map(|(k, size, lm, class)| {
            let at = chrono::DateTime::from_timestamp_millis(*lm).unwrap();
            (
                k.clone(),
                *size as u64,
                at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                class.to_string(),
            )
        })
        .collect();
    let csv_lake = t.path().join("csv-lake");
    let m = write_inventory(&t.path().join("csv"), "registry", date, &inv);
    ingest(&csv_lake, &m).assert_success();
    // The ORC report has two columns the CSV twin lacks: an all-versions report's null
    // version is `""` (as in CSV and Parquet), and the multipart flag.
    let mut got = got;
    for r in got.values_mut() {
        assert_eq!(r.remove("version_id"), Some(json!("")));
        assert_eq!(r.remove("is_multipart_uploaded"), Some(json!(false)));
    }
    let mut twin = inventory(&csv_lake);
    for r in twin.values_mut() {
        assert_eq!(r.remove("version_id"), Some(Value::Null));
        assert_eq!(r.remove("is_multipart_uploaded"), Some(Value::Null));
    }
    assert!(twin == got, "the CSV twin's inventory differs");
}

/// A real ORC file with every one of its bytes flipped in turn, and cut short: each one is
/// read (a flipped byte inside a value: its rows are checked as any others) or refused with a
/// reason, never a panic or an abort; through the binary, the structural cases are refused
/// with an error naming the data file, and nothing of them is staged.
#[test]
fn a_corrupt_orc_data_file_is_a_named_error() {
    let t = tempfile::tempdir().unwrap();
    let rows: Vec<Value> = (1..=40u32)
        .map(|n| {
            row(
                "registry",
                &blob_key(n).0,
                Some(i64::from(n)),
                Some(ms(5, 5)),
                "STANDARD",
            )
        })
        .collect();
    let orc = write_orc(t.path(), &rows, 1);
    let len = orc.len();
    let layout = blobtier::model::Layout::default();
    let read = |bytes: &[u8]| read_orc(bytes.to_vec(), "registry", &layout);
    assert_eq!(read(&orc).unwrap().rows, 40);
    let (mut refused, mut panics) = (0, Vec::new());
    for at in 0..len {
        let mut c = orc.clone();
        c[at] ^= 0xff;
        match read(&c) {
            Ok(f) => assert!(f.rows + f.rejects.total <= 40, "byte {at}: {} rows", f.rows),
            Err(why) if why.contains("the ORC reader failed on it") => panics.push((at, why)),
            Err(_) => refused += 1,
        }
    }
    for cut in 0..len {
        if read(&orc[..cut]).is_ok() {
            panic!("cut to {cut} of {len} bytes read as a whole file");
        }
    }
    eprintln!(
        "orc: {refused} of {len} one-byte corruptions refused, {} caught panics",
        panics.len()
    );
    assert!(refused > 0);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not-orc", b"PAR1 this is no ORC file at all".to_vec()),
        ("header-only", orc[..3].to_vec()),
        ("no-postscript-length", orc[..len - 1].to_vec()),
        ("cut-in-half", orc[..len / 2].to_vec()),
    ];
    for (what, bytes) in &cases {
        let dir = t.path().join(what);
        let lake = dir.join("lake");
        let out = ingest(&lake, &orc_report(&dir, "registry", "2026-11-30", bytes));
        assert_eq!(out.code(), 2, "{what}: {out}");
        assert!(
            out.stderr.contains("failed to read inventory data file")
                && out.stderr.contains("2026-11-30.orc")
                && !out.stderr.contains("panicked"),
            "{what}: {out}"
        );
        assert!(!lake.join("inventory").exists(), "{what}: nothing staged");
    }
}
