//! Issue 17 case 2: memory must not grow with the input. Each bomb is a small gzip (a log, or an
//! inventory CSV data file) that decompresses to about a gibibyte; ingest of it must stay under
//! 512 MiB of RSS, count every line or row, store at most 100,000 quarantined ones per input
//! (per data file), and store no more than 4 KiB of any one (with its full length recorded in
//! `raw_len`).
//!
//! See: issue 17.

use std::fs;

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

/// A 1 MB gzip of 1 GiB of zero bytes without a newline: one endless line.
#[test]
fn a_gibibyte_line_without_newline_is_one_too_long_reject_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let bomb = gzip_repeat(b"", &vec![0u8; MIB], 1024, b"");
    assert!(bomb.len() < 2 * MIB, "{} bytes", bomb.len());
    fs::write(logs.join("zeros.log.gz"), &bomb).unwrap();
    let lake = t.path().join("lake");
    let spec = format!("s3-access:{}", logs.display());
    let m = ingest_measured(&lake, &["--logs", &spec]);
    m.assert_bounded("1 GiB line of zeros");
    assert_eq!(
        m.out.code(),
        1,
        "one line, rejected: over the ratio\n{}",
        m.out
    );
    let j = metrics(&m.out);
    assert_eq!(j["totals"]["lines"], 1, "{j}");
    assert_eq!(j["totals"]["rejects"]["too_long"], 1, "{j}");
    assert_eq!(j["totals"]["rejects_stored"], 1, "{j}");
    let r = rejects_of(&lake, "zeros.log.gz");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["reason_code"], "too_long");
    assert_eq!(r[0]["line"], 1);
    assert!(r[0]["raw"].as_str().unwrap().len() <= RAW_MAX);
    assert_eq!(r[0]["raw_len"], GIB, "{:?}", r[0]);
}

/// 1 GiB of malformed lines (a few MB gzipped): every line is counted, the first 100,000 are
/// stored, and the rest never reach memory.
#[test]
fn a_gibibyte_of_reject_lines_stores_the_first_100000_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let mut line = vec![b'A'; 1023];
    line.push(b'\n');
    let unit = line.repeat(1024);
    assert_eq!(unit.len(), MIB);
    fs::write(
        logs.join("garbage.log.gz"),
        gzip_repeat(b"", &unit, 1024, b""),
    )
    .unwrap();
    let lake = t.path().join("lake");
    let spec = format!("s3-access:{}", logs.display());
    let m = ingest_measured(&lake, &["--logs", &spec]);
    m.assert_bounded("1 GiB of reject lines");
    assert_eq!(m.out.code(), 1, "{}", m.out);
    let j = metrics(&m.out);
    let lines = 1024 * 1024;
    assert_eq!(j["totals"]["lines"], lines, "{j}");
    assert_eq!(j["totals"]["rejects"]["too_few_fields"], lines, "{j}");
    assert_eq!(j["totals"]["rejects_stored"], STORED, "{j}");
    let r = rejects_of(&lake, "garbage.log.gz");
    assert_eq!(r.len() as u64, STORED);
    // The first lines of the input, in order, whatever the thread scheduling.
    for (i, row) in r.iter().enumerate() {
        assert_eq!(row["line"], i as u64 + 1);
        assert_eq!(row["raw_len"], 1023);
    }
}

/// `notifications` with an envelope that never ends (no line starting with `{` after it): the
/// envelope is cut at the limit and quarantined by its prefix, not buffered whole.
#[test]
fn an_endless_notification_envelope_is_one_too_long_reject_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("events");
    fs::create_dir_all(&logs).unwrap();
    let event =
        b"   {\"action\": \"push\", \"target\": {\"mediaType\": \"application/octet-stream\"}},\n";
    let unit = event.repeat(MIB / event.len());
    let head = b"{\"events\": [\n";
    fs::write(
        logs.join("events.json.gz"),
        gzip_repeat(head, &unit, 1024 * MIB / unit.len() + 1, b""),
    )
    .unwrap();
    let total = head.len() as u64 + (1024 * MIB / unit.len() + 1) as u64 * unit.len() as u64;
    assert!(total > GIB);
    let lake = t.path().join("lake");
    let spec = format!("notifications:{}", logs.display());
    let m = ingest_measured(&lake, &["--logs", &spec]);
    m.assert_bounded("endless notification envelope");
    assert_eq!(m.out.code(), 1, "{}", m.out);
    let j = metrics(&m.out);
    assert_eq!(j["totals"]["lines"], 1, "{j}");
    assert_eq!(j["totals"]["rejects"]["too_long"], 1, "{j}");
    let r = rejects_of(&lake, "events.json.gz");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["line"], 1);
    assert!(r[0]["raw"]
        .as_str()
        .unwrap()
        .starts_with("{\"events\": [\n   {\"action\""));
    assert!(r[0]["raw"].as_str().unwrap().len() <= RAW_MAX);
    // The record ends before the newline that ends the file, as a line does.
    assert_eq!(r[0]["raw_len"], total - 1);
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
