//! Issue 17 case 11, log inputs: a compressed log is recognised by its first bytes, whatever
//! its name; a stream that starts like gzip but is not is an error naming the input (exit 2),
//! never read as text.
//!
//! See: issue 17.

use std::fs;
use std::io::Write as _;

use chrono::NaiveDate;

use super::*;

/// The same ten pulls as plain text, gzip named `.log` and zstd named `.txt`: the same counts.
#[test]
fn a_gzip_or_zstd_log_without_its_suffix_is_read_by_content() {
    let day = NaiveDate::from_ymd_opt(2026, 2, 6).unwrap();
    let text: String = (0..10).map(|i| s3_pull(day, "10.0.0.1", i)).collect();
    let shapes: [(&str, Vec<u8>); 3] = [
        ("plain.log", text.clone().into_bytes()),
        ("gzip.log", gzip(text.as_bytes())),
        (
            "zstd.txt",
            zstd::stream::encode_all(text.as_bytes(), 3).unwrap(),
        ),
    ];
    for (name, bytes) in shapes {
        let t = tempfile::tempdir().unwrap();
        let input = t.path().join(name);
        fs::write(&input, &bytes).unwrap();
        let lake = t.path().join("lake");
        let out = ingest_logs(&lake, &format!("s3-access:{}", input.display()));
        assert_eq!(out.code(), 0, "{name}\n{out}");
        let j = metrics(&out);
        assert_eq!(j["totals"]["lines"], 10, "{name}: {j}");
        assert_eq!(j["totals"]["pulls"], 10, "{name}: {j}");
        assert!(rejects(&lake).is_empty(), "{name}");
    }
}

/// gzip's magic bytes followed by garbage, named `.log`: exit 2 naming the input, lake
/// without any table.
#[test]
fn a_log_that_starts_like_gzip_but_is_not_is_an_error_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("broken.log");
    let mut f = fs::File::create(&input).unwrap();
    f.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).unwrap();
    f.write_all(b"not deflate at all\n").unwrap();
    drop(f);
    let lake = t.path().join("lake");
    let out = ingest_logs(&lake, &format!("s3-access:{}", input.display()));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("broken.log"), "{out}");
    assert!(ledger(&lake).is_empty());
    assert!(partitions(&lake, "pulls").is_empty());
    assert!(rejects(&lake).is_empty());
}
