//! Ingest gives the same output whatever the number of threads: the same partitions, the same
//! rows in the same order (pulls, manifest requests, quarantined lines, the stored share of the
//! rejects when there are more than are kept), and the same ledger counts, per-day line counts
//! and content hashes. Only the run id (in file names and the `run_id` column) differs. The
//! inputs are many small files of four formats (read several at a time), a large gzip log and a
//! large plain log (each cut into blocks parsed in parallel), and a copy of the plain log.
//!
//! Named `ingest_threads` (not `threads`): the test harness starts tests in name order, and one
//! of the suite's longest tests started among the last kept one core busy alone at the end.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::hostile::{files, ledger, parquet_rows, Row};
use crate::ingest::{hex_of, s3_pull_line, KEY};
use crate::support::cli::{blobtier, run};

/// A gzip log of `lines` S3 lines, nine in ten malformed (a broken timestamp), so that the
/// rejects outnumber what ingest stores (100,000) and the blocks are parsed on every thread.
fn big_log(path: &Path, lines: u32) {
    let mut gz =
        flate2::write::GzEncoder::new(fs::File::create(path).unwrap(), flate2::Compression::fast());
    for i in 0..lines {
        let line = s3_pull_line(
            &format!("{:02}/Nov/2026", 1 + i % 26),
            "10:00:00",
            &format!("10.0.{}.{}", i % 13, i % 251),
            &hex_of(i % 997),
            "containerd/1.7.13",
            1000 + u64::from(i % 9),
        );
        let line = if i % 10 != 0 {
            line.replace(":10:00:00 +0000]", ":1x:00:00 +0000]")
        } else {
            line
        };
        gz.write_all(line.as_bytes()).unwrap();
    }
    gz.finish().unwrap();
}

/// A plain (uncompressed) log of `lines` S3 lines, several blocks long so that it is cut in
/// chunks at line boundaries: pulls over 26 days (some taken by the parser's fast path, some by
/// the exact one: a double space, an archived-object 403), HEADs, and one line in seven with a
/// broken timestamp.
fn plain_log(path: &Path, lines: u32) {
    let mut f = std::io::BufWriter::new(fs::File::create(path).unwrap());
    for i in 0..lines {
        let line = s3_pull_line(
            &format!("{:02}/Nov/2026", 1 + i % 26),
            &format!("{:02}:{:02}:00", i % 24, i % 60),
            &format!("10.1.{}.{}", i % 7, i % 241),
            &hex_of(i % 1499),
            ["containerd/1.7.13", "Trivy/0.48.3", "docker/24.0.7"][i as usize % 3],
            1000 + u64::from(i % 11),
        );
        let line = match i % 7 {
            0 => line.replace(" +0000]", " +0x00]"),
            1 => line.replace("REST.GET.OBJECT", "REST.HEAD.OBJECT"),
            2 => line.replace(" 200 - ", " 403 InvalidObjectState "),
            3 => line.replace(" REST.GET", "  REST.GET"),
            _ => line,
        };
        f.write_all(line.as_bytes()).unwrap();
    }
    f.flush().unwrap();
}

/// Every table's rows, per partition, without the run id.
fn tables(lake: &Path) -> Vec<(String, Vec<Row>)> {
    let mut out = Vec::new();
    for table in ["pulls", "manifest_pulls", "_rejects"] {
        for f in files(&lake.join(table)) {
            let partition = f.parent().unwrap().strip_prefix(lake).unwrap();
            let mut rows = parquet_rows(&f);
            for r in &mut rows {
                r.remove("run_id");
            }
            out.push((partition.display().to_string(), rows));
        }
    }
    out
}

#[test]
fn ingest_output_is_the_same_at_1_and_4_threads() {
    let t = tempfile::tempdir().unwrap();
    let big = t.path().join("big");
    fs::create_dir_all(&big).unwrap();
    big_log(&big.join("2026-11-26-00-00-00-BIG.gz"), 120_000);
    let plain = big.join("2026-11-27-00-00-00-PLAIN");
    plain_log(&plain, 40_000);
    assert!(
        fs::metadata(&plain).unwrap().len() > 3 * (4 << 20),
        "the plain log is several blocks long"
    );
    // The same content again under another name: skipped as a duplicate, whichever input is
    // read first.
    fs::copy(&plain, big.join("2026-11-27-00-00-01-COPY")).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/logs");
    let mut runs = Vec::new();
    for threads in ["1", "4"] {
        let lake = t.path().join(format!("lake-{threads}"));
        let mut cmd = blobtier();
        cmd.args(["ingest", "--max-bad-ratio", "1", "--lake"])
            .arg(&lake)
            .env("BLOBTIER_CLIENT_KEY", KEY)
            .env("RAYON_NUM_THREADS", threads);
        for fmt in [
            "s3-access",
            "registry-json",
            "registry-combined",
            "notifications",
        ] {
            cmd.arg("--logs")
                .arg(format!("{fmt}:{}", sample.join(fmt).display()));
        }
        cmd.arg("--logs")
            .arg(format!("s3-access:{}", big.display()));
        run(&mut cmd).assert_success();
        let inputs: Vec<serde_json::Value> = ledger(&lake)
            .iter()
            .flat_map(|l| l["inputs"].as_array().unwrap().clone())
            .collect();
        runs.push((tables(&lake), inputs));
    }
    let (one, four) = (&runs[0], &runs[1]);
    let rejects: usize = one
        .0
        .iter()
        .filter(|(p, _)| p.starts_with("_rejects"))
        .map(|(_, rows)| rows.len())
        .sum();
    assert!(
        rejects > 100_000,
        "the big log has more rejects than ingest stores: {rejects}"
    );
    assert_eq!(one.0.len(), four.0.len(), "partitions differ");
    for ((p1, r1), (p4, r4)) in one.0.iter().zip(&four.0) {
        assert_eq!(p1, p4);
        assert_eq!(r1.len(), r4.len(), "{p1}: row counts differ");
        if let Some(i) = (0..r1.len()).find(|&i| r1[i] != r4[i]) {
            panic!("{p1}: row {i} differs:\n1: {:?}\n4: {:?}", r1[i], r4[i]);
        }
    }
    let inputs = files(&sample).len() + 2;
    assert_eq!(
        one.1.len(),
        inputs,
        "one ledger input per file (the copy skipped)"
    );
    assert_eq!(one.1, four.1, "ledger inputs differ");
}
