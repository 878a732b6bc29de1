//! Issue 17 case 2, inventory shapes: memory must not grow with the inventory. Each bomb is a
//! small data file that decompresses to about a gibibyte; ingest of it must stay under 512 MiB
//! of RSS, count every row, store at most 100,000 quarantined rows per data file, and store no
//! more than 4 KiB of any one row (with the row's full length recorded in `raw_len`).

use super::*;

const MIB: usize = 1 << 20;
/// What every bomb decompresses to (at least).
const GIB: u64 = 1 << 30;
/// Quarantined lines stored per input.
const STORED: u64 = 100_000;
/// The longest `raw` stored.
const RAW_MAX: usize = 4096;

fn ingest_measured(lake: &Path, args: &[&str]) -> Measured {
    let mut cmd = ingest_cmd(lake);
    cmd.args(args);
    run_measured(&mut cmd, RSS_LIMIT_KIB)
}

/// The reject rows of `input` (a path suffix), in line order.
fn rejects_of(lake: &Path, input: &str) -> Vec<Row> {
    let mut v: Vec<Row> = rejects(lake)
        .into_iter()
        .filter(|r| r["input"].as_str().is_some_and(|i| i.ends_with(input)))
        .collect();
    v.sort_by_key(|r| r["line"].as_i64());
    v
}

/// An inventory CSV data file of one good row and 10 M malformed rows (gzip, a few MB): every
/// row counted, 100,000 stored like log rejects.
#[test]
fn ten_million_inventory_rejects_are_counted_and_capped_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("dest");
    let good = csv_row(
        &blob_key(&hex(1)),
        "1000",
        "2025-06-01T00:00:00.000Z",
        "STANDARD",
    );
    let unit = format!("\"{BUCKET}\",\"x\"\n").repeat(100_000);
    let rows = 10_000_000u64;
    let data = gzip_repeat(good.as_bytes(), unit.as_bytes(), 100, b"");
    let manifest = write_report(
        &dest,
        "2026-11-26T01-00Z",
        "2026-11-26",
        Default::default(),
        &[DataFile::new("bomb.csv.gz", data)],
    );
    let lake = t.path().join("lake");
    let m = ingest_measured(
        &lake,
        &[
            "--max-bad-ratio",
            "1",
            "--inventory",
            manifest.to_str().unwrap(),
        ],
    );
    m.assert_bounded("10 M inventory rejects");
    assert_eq!(m.out.code(), 0, "{}", m.out);
    let j = metrics(&m.out);
    assert_eq!(j["inventory_rows"], 1, "{j}");
    let l = ledger(&lake);
    assert_eq!(l.len(), 1);
    let file = &l[0]["inventories"][0]["files"][0];
    assert_eq!(file["rows"], 1, "{file}");
    assert_eq!(file["rejects"], rows, "{file}");
    assert_eq!(file["rejects_stored"], STORED, "{file}");
    let r = rejects_of(&lake, "bomb.csv.gz");
    assert_eq!(r.len() as u64, STORED);
    assert_eq!(r[0]["line"], 2);
    assert_eq!(r.last().unwrap()["line"], STORED + 1);
    assert!(r.iter().all(|r| r["reason_code"] == "too_few_fields"));
}

/// An inventory CSV data file whose second row holds a 1 GiB key: quarantined by its prefix,
/// never read whole.
#[test]
fn a_gibibyte_inventory_value_is_a_too_long_reject_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("dest");
    let good = csv_row(
        &blob_key(&hex(1)),
        "1000",
        "2025-06-01T00:00:00.000Z",
        "STANDARD",
    );
    let head = format!("{good}\"{BUCKET}\",\"");
    let tail = "\",\"1\",\"2025-06-01T00:00:00.000Z\",\"e\",\"STANDARD\"\n";
    let data = gzip_repeat(head.as_bytes(), &vec![b'k'; MIB], 1024, tail.as_bytes());
    let manifest = write_report(
        &dest,
        "2026-11-26T01-00Z",
        "2026-11-26",
        Default::default(),
        &[DataFile::new("huge.csv.gz", data)],
    );
    let lake = t.path().join("lake");
    let m = ingest_measured(
        &lake,
        &[
            "--max-bad-ratio",
            "1",
            "--inventory",
            manifest.to_str().unwrap(),
        ],
    );
    m.assert_bounded("1 GiB inventory value");
    assert_eq!(m.out.code(), 0, "{}", m.out);
    let r = rejects_of(&lake, "huge.csv.gz");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["reason_code"], "too_long");
    assert_eq!(r[0]["line"], 2);
    assert!(r[0]["raw"].as_str().unwrap().len() <= RAW_MAX);
    let line_len = (head.len() - good.len()) as u64 + GIB + tail.len() as u64 - 1;
    assert_eq!(r[0]["raw_len"], line_len);
    let inv = parquet_rows(&lake.join("inventory"));
    assert_eq!(inv.len(), 1);
}
