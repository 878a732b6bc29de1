//! A log given in the wrong format (issue 16 item 6): an error naming the file and the format
//! that fits, the lake unchanged — and since the ledger's key holds the format, the same file
//! read next in the right format is read, not skipped as already ingested.

use std::fs;
use std::path::Path;

use crate::ingest::KEY;
use crate::support::cli::{blobtier, run, tree_digest, Output};

fn ingest(lake: &Path, spec: &str) -> Output {
    run(blobtier()
        .args(["ingest", "--lake"])
        .arg(lake)
        .args(["--logs", spec])
        .env("BLOBTIER_CLIENT_KEY", KEY))
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/written/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn a_log_in_the_wrong_format_is_an_error_and_the_right_one_reads_it_next() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let file = logs.join("access.log");
    // The access lines only (the fixture also holds a JSON line, which registry-json reads).
    let access: String = fs::read_to_string(fixture("registry-combined.log"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('{'))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&file, access).unwrap();
    let lake = t.path().join("lake");
    // Something in the lake first, so that "unchanged" means something.
    let other = t.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::copy(fixture("s3-access.log"), other.join("s3.log")).unwrap();
    ingest(&lake, &format!("s3-access:{}", other.display())).assert_success();
    let before = tree_digest(&lake);

    let out = ingest(&lake, &format!("registry-json:{}", file.display()));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("access.log"), "{out}");
    assert!(out.stderr.contains("is a `registry-json` line"), "{out}");
    assert!(out.stderr.contains("`registry-combined`"), "{out}");
    assert_eq!(tree_digest(&lake), before, "an exit 2 changed the lake");

    let out = ingest(&lake, &format!("registry-combined:{}", file.display()));
    out.assert_success();
    let m: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(m["files_read"], 1, "{m}");
    assert!(m["totals"]["pulls"].as_u64().unwrap() > 0, "{m}");

    // Prose is no log of any format: an error too, naming no other format.
    let prose = logs.join("notes.txt");
    fs::write(&prose, "Dear registry,\nplease keep my layers.\n").unwrap();
    let out = ingest(&lake, &format!("registry-json:{}", prose.display()));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("nor of any other format"), "{out}");
}

/// One stream read in two formats (the registry's JSON lines and its access lines share a
/// file): the second format is not skipped as "already ingested" or "identical content".
#[test]
fn one_file_read_in_two_formats_is_read_twice() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let file = logs.join("registry.log");
    fs::copy(fixture("registry-json.log"), &file).unwrap();
    let lake = t.path().join("lake");
    for format in ["registry-json", "registry-combined"] {
        let out = ingest(&lake, &format!("{format}:{}", file.display()));
        out.assert_success();
        let m: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(m["files_read"], 1, "{format}: {m}");
    }
}
