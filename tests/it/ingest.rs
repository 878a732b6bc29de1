//! Ingest through the real binary: idempotence, incremental reads, changed inputs, bad input,
//! crash safety (SIGKILL), and exact counts on the real sample lines.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::cli::{blobtier, run, tree_digest, tree_digest_excluding, Output};

pub const KEY: &str = "integration-test-secret-0123456789";

/// An S3 server access log line for a presigned client GET of a registry blob.
pub fn s3_pull_line(day: &str, time: &str, ip: &str, hex: &str, ua: &str, bytes: u64) -> String {
    // day as "06/Feb/2026"
    format!(
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be registry-prod [{day}:{time} +0000] {ip} \
arn:aws:iam::123456789012:user/registry 3E57427F3EXAMPLE REST.GET.OBJECT docker/registry/v2/blobs/sha256/{two}/{hex}/data \
\"GET /docker/registry/v2/blobs/sha256/{two}/{hex}/data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=1200 HTTP/1.1\" \
200 - {bytes} {bytes} 70 10 \"-\" \"{ua}\" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= \
SigV4 ECDHE-RSA-AES128-GCM-SHA256 QueryString registry-prod.s3.us-east-1.amazonaws.com TLSv1.2 - -\n",
        two = &hex[..2]
    )
}

pub fn hex_of(i: u32) -> String {
    format!("{:064x}", 0xabc0_0000_u64 + i as u64)
}

fn ingest(lake: &Path, logs: &[&str]) -> Output {
    let mut cmd = blobtier();
    cmd.arg("ingest")
        .arg("--lake")
        .arg(lake)
        .env("BLOBTIER_CLIENT_KEY", KEY);
    for l in logs {
        cmd.arg("--logs").arg(l);
    }
    run(&mut cmd)
}

fn metrics(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{out}"))
}

fn write_logs(dir: &Path, name: &str, n: u32, day: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&s3_pull_line(
            day,
            "10:00:00",
            &format!("10.0.0.{}", i % 7),
            &hex_of(i % 5),
            "containerd/1.7.13",
            1000,
        ));
    }
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn rerun_changes_nothing_and_only_a_new_file_is_read() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    write_logs(&logs, "a.log", 10, "06/Feb/2026");
    write_logs(&logs, "b.log", 20, "07/Feb/2026");
    let lake = t.path().join("lake");
    let spec = format!("s3-access:{}", logs.display());
    let m = metrics(ingest(&lake, &[&spec]).assert_success());
    assert_eq!(m["files_read"], 2);
    assert_eq!(m["totals"]["pulls"], 30);
    let before = tree_digest(&lake);

    // Re-run, and an overlapping glob: nothing is read, nothing changes.
    let glob = format!("s3-access:{}/*.log", logs.display());
    let m = metrics(ingest(&lake, &[&spec, &glob]).assert_success());
    assert_eq!(m["files_read"], 0);
    assert_eq!(m["files_skipped"], 2);
    assert_eq!(
        tree_digest(&lake),
        before,
        "a re-run must not change the lake"
    );

    // A late file for an older day: only it is read, and it lands in that day's partition.
    write_logs(&logs, "c.log", 3, "06/Feb/2026");
    let m = metrics(ingest(&lake, &[&spec, &glob]).assert_success());
    assert_eq!(m["files_read"], 1);
    assert_eq!(m["files_skipped"], 2);
    assert_eq!(m["totals"]["pulls"], 3);
    let outputs: Vec<String> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        outputs
            .iter()
            .any(|o| o.starts_with("pulls/date=2026-02-06/")),
        "{outputs:?}"
    );

    // A copy of an ingested file under another name is not counted twice.
    fs::copy(logs.join("a.log"), logs.join("a-copy.log")).unwrap();
    let m = metrics(ingest(&lake, &[&spec]).assert_success());
    assert_eq!(m["files_read"], 0);
    assert!(m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["status"] == "skipped:duplicate_content"));
}

#[test]
fn changed_content_is_an_error_naming_the_file() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    let a = write_logs(&logs, "a.log", 10, "06/Feb/2026");
    let lake = t.path().join("lake");
    let spec = format!("s3-access:{}", logs.display());
    ingest(&lake, &[&spec]).assert_success();
    let before = tree_digest(&lake);
    let mut text = fs::read_to_string(&a).unwrap();
    text.push_str(&s3_pull_line(
        "06/Feb/2026",
        "11:00:00",
        "10.9.9.9",
        &hex_of(1),
        "docker/24.0.7",
        5,
    ));
    fs::write(&a, text).unwrap();
    let out = ingest(&lake, &[&spec]);
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr.contains("a.log") && out.stderr.contains("changed since it was ingested"),
        "{out}"
    );
    assert_eq!(tree_digest(&lake), before);
}

#[test]
fn corrupt_gzip_and_unknown_format_exit_2_and_leave_the_lake_unchanged() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    write_logs(&logs, "a.log", 10, "06/Feb/2026");
    let lake = t.path().join("lake");
    ingest(&lake, &[&format!("s3-access:{}", logs.display())]).assert_success();
    let before = tree_digest(&lake);

    let bad = t.path().join("bad");
    write_logs(&bad, "ok.log", 5, "08/Feb/2026");
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend_from_slice(b"this is not a deflate stream at all");
    fs::write(bad.join("broken.log.gz"), gz).unwrap();
    let out = ingest(&lake, &[&format!("s3-access:{}", bad.display())]);
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("broken.log.gz"), "{out}");
    assert_eq!(tree_digest(&lake), before);

    let out = ingest(&lake, &[&format!("apache:{}", bad.display())]);
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("unknown log format `apache`"), "{out}");
}

#[test]
fn too_many_malformed_lines_exit_1_naming_file_and_reasons_and_are_quarantined() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    let a = write_logs(&logs, "a.log", 50, "06/Feb/2026");
    let mut text = fs::read_to_string(&a).unwrap();
    text.push_str("79a5 registry-prod [06/Feb/2026:10:00:00 +0000] 10.0.0.1 truncated\n");
    text.push_str("79a5 registry-prod [99/Feb/2026:10:00:00 +0000] 10.0.0.1 - 3E57 REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 1 1 1 1 \"-\" \"ua\" -\n");
    fs::write(&a, text).unwrap();
    let lake = t.path().join("lake");
    let out = ingest(&lake, &[&format!("s3-access:{}", logs.display())]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("a.log") && out.stderr.contains("too many malformed lines"),
        "{out}"
    );
    let m = metrics(&out);
    assert_eq!(m["totals"]["pulls"], 50);
    assert_eq!(m["totals"]["rejects"]["too_few_fields"], 1);
    assert_eq!(m["totals"]["rejects"]["bad_timestamp"], 1);
    assert_eq!(m["totals"]["rejects_stored"], 2);
    // The quarantine holds both lines with their line numbers.
    let rejects: Vec<_> = walk(&lake.join("_rejects"));
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    // With a looser threshold the same input is fine (and, being already ingested, skipped).
    let mut cmd = blobtier();
    cmd.args(["ingest", "--max-bad-ratio", "0.5", "--lake"])
        .arg(&lake)
        .env("BLOBTIER_CLIENT_KEY", KEY);
    cmd.arg("--logs")
        .arg(format!("s3-access:{}", logs.display()));
    run(&mut cmd).assert_success();
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn without_a_client_key_ingest_refuses_unless_raw_clients() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    write_logs(&logs, "a.log", 3, "06/Feb/2026");
    let lake = t.path().join("lake");
    let spec = format!("s3-access:{}", logs.display());
    let out = run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .args(["--logs", &spec]));
    assert_eq!(out.code(), 2);
    assert!(
        out.stderr.contains("BLOBTIER_CLIENT_KEY") && out.stderr.contains("--raw-clients"),
        "{out}"
    );
    assert!(
        walk(&lake).is_empty(),
        "nothing may be written: {:?}",
        walk(&lake)
    );
    let out = run(blobtier()
        .args(["ingest", "--raw-clients", "--lake"])
        .arg(&lake)
        .args(["--logs", &spec]));
    out.assert_success();
}

fn big_input(dir: &Path, files: u32, lines: u32) {
    for f in 0..files {
        let mut text = String::with_capacity(lines as usize * 600);
        for i in 0..lines {
            let day = 1 + (i % 28);
            text.push_str(&s3_pull_line(
                &format!("{day:02}/Feb/2026"),
                "12:34:56",
                &format!("10.{}.{}.{}", f, i % 200, i % 13),
                &hex_of(i % 997),
                "containerd/1.7.13",
                100,
            ));
        }
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(format!("f{f}.log")), text).unwrap();
    }
}

#[test]
fn sigkill_mid_run_leaves_the_lake_as_before_and_the_next_run_completes() {
    let t = tempfile::tempdir().unwrap();
    let first = t.path().join("first");
    write_logs(&first, "a.log", 10, "06/Feb/2026");
    let logs = t.path().join("logs");
    big_input(&logs, 4, 60_000);
    let lake = t.path().join("lake");
    ingest(&lake, &[&format!("s3-access:{}", first.display())]).assert_success();
    let before = tree_digest(&lake);
    let spec = format!("s3-access:{}", logs.display());

    // Kill (a) at points spread over the run and (b) with every output staged, just before
    // the commit. Each time the visible lake must be exactly as before.
    let delays = [30u64, 150, 400, 900];
    let mut committed = false;
    for (i, &ms) in [(99, &0)].into_iter().chain(delays.iter().enumerate()) {
        let mut cmd = blobtier();
        cmd.args(["ingest", "--lake"])
            .arg(&lake)
            .args(["--logs", &spec])
            .env("BLOBTIER_CLIENT_KEY", KEY);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        if i == 99 {
            cmd.env("BLOBTIER_TEST_PAUSE_BEFORE_COMMIT", "1");
        }
        let mut child = cmd.spawn().unwrap();
        if i == 99 {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let staged = walk(&lake.join("_tmp"))
                    .iter()
                    .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                    .count();
                if staged > 0 && child.try_wait().unwrap().is_none() {
                    std::thread::sleep(Duration::from_millis(300));
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the run never staged its outputs"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        } else {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        if finished {
            // Too late: the run had already committed; later delays would be too.
            assert_ne!(i, 99, "the paused run must not finish");
            committed = true;
            break;
        }
        assert_eq!(
            tree_digest_excluding(&lake, &[Path::new("_tmp"), Path::new("_lock")]),
            before,
            "visible lake changed after SIGKILL at {ms} ms"
        );
    }
    // The next run recovers (rolls back staging, takes over the stale lock) and ingests all.
    let m = metrics(ingest(&lake, &[&spec]).assert_success());
    if committed {
        assert_eq!(m["files_read"], 0);
    } else {
        assert_eq!(m["files_read"], 4);
        assert_eq!(m["totals"]["pulls"], 240_000);
    }
    assert!(walk(&lake.join("_tmp")).is_empty());
    assert!(!lake.join("_lock").exists());
}
