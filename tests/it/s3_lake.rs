//! `run` with the lake on `s3://` against a real S3-compatible server (LocalStack over HTTP):
//! the same outputs as a local lake, nothing uploaded twice, the lock object (a second run
//! exits 2 naming the holder; a stale lock is taken over, by exactly one of several runs),
//! SIGKILL during sync and publish, and a run through a fault-injecting proxy (conditional puts
//! are read back after a reset, never sent blindly again). Also the conditional writes the
//! lock and the commit rely on, checked on the server itself.
//! See: issue 8.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use chrono::Utc;

use crate::ingest::walk;
use crate::ingest::{hex_of, s3_pull_line};
use crate::run::{assert_same_outputs, config, inputs, leftovers, nightly_cmd, outputs, AS_OF};
use crate::support::cli::{kill_at, pause_at, run, Output};
use crate::support::fault_proxy::{Fault, FaultMix, FaultProxy};
use crate::support::localstack::{block_on, localstack};

const STATE: &str = "_lake_state.json";
const LOCK: &str = "_run_lock";

/// A config for the inputs of [`inputs`] with the lake at `s3://<bucket>/<prefix>` and its
/// mirror in `t/<mirror>`.
fn s3_config(t: &Path, name: &str, bucket: &str, prefix: &str, mirror: &str) -> PathBuf {
    config(
        t,
        name,
        &format!("s3://{bucket}/{prefix}"),
        &format!("lake_cache = \"{}\"\n", t.join(mirror).display()),
    )
}

/// A temp dir holding [`inputs`], and a new bucket on LocalStack for the lake.
fn setup(stem: &str) -> (tempfile::TempDir, String) {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    inputs(t.path(), None);
    let bucket = ls.unique_bucket(stem);
    block_on(ls.create_bucket(&bucket));
    (t, bucket)
}

/// [`outputs`] of a run on a local lake `t/local` over the same inputs, and its run records'
/// outcomes.
fn local_run(t: &Path) -> (BTreeMap<String, String>, String) {
    let local = t.join("local");
    let out = run(&mut nightly_cmd(&config(
        t,
        "local",
        &local.display().to_string(),
        "",
    )));
    assert_eq!(out.code(), 0, "{out}");
    let mut want = outputs(&local);
    let runs = want.remove("_runs outcomes").unwrap();
    (want, runs)
}

fn s3_run(cfg: &Path) -> Command {
    let mut cmd = nightly_cmd(cfg);
    cmd.envs(localstack().env());
    cmd
}

fn record(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{out}"))
}

/// Every object under `prefix/`: relative path → ETag.
fn listing(bucket: &str, prefix: &str) -> BTreeMap<String, String> {
    block_on(async {
        let client = localstack().client().await;
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{prefix}/"))
            .into_paginator()
            .send();
        let mut out = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.unwrap_or_else(|e| panic!("list: {}", DisplayErrorContext(&e)));
            for o in page.contents() {
                let key = o.key().unwrap();
                out.insert(
                    key.strip_prefix(&format!("{prefix}/")).unwrap().to_owned(),
                    o.e_tag().unwrap().to_owned(),
                );
            }
        }
        out
    })
}

fn get(bucket: &str, key: &str) -> Option<Vec<u8>> {
    block_on(async {
        let client = localstack().client().await;
        match client.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => None,
            Err(e) => panic!("get `{key}`: {}", DisplayErrorContext(&e)),
        }
    })
}

fn put(bucket: &str, key: &str, body: Vec<u8>) {
    block_on(localstack().put_object(bucket, key, body));
}

/// Downloads the lake at `s3://bucket/prefix` into `dir` (everything but the state and the
/// lock), for [`outputs`].
fn download(bucket: &str, prefix: &str, dir: &Path) {
    for rel in listing(bucket, prefix).keys() {
        if rel == STATE || rel == LOCK {
            continue;
        }
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, get(bucket, &format!("{prefix}/{rel}")).unwrap()).unwrap();
    }
}

/// [`outputs`] of the lake at `s3://bucket/prefix`, without the run records' outcomes (how
/// many runs a crash test makes differs); returns those separately.
fn s3_outputs(bucket: &str, prefix: &str, scratch: &Path) -> (BTreeMap<String, String>, String) {
    let dir = scratch.join(format!("download-{}", prefix.replace('/', "-")));
    let _ = fs::remove_dir_all(&dir);
    download(bucket, prefix, &dir);
    let mut o = outputs(&dir);
    let runs = o.remove("_runs outcomes").unwrap();
    (o, runs)
}

/// The committed state lists exactly the objects under the prefix (no leftovers of a killed
/// run), each with its current ETag, and no lock is left. Returns the state.
fn assert_committed_and_unlocked(bucket: &str, prefix: &str) -> serde_json::Value {
    let listed = listing(bucket, prefix);
    let state: serde_json::Value = serde_json::from_slice(
        &get(bucket, &format!("{prefix}/{STATE}")).expect("a committed state"),
    )
    .unwrap();
    let committed: BTreeMap<String, String> = state["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["path"].as_str().unwrap().to_owned(),
                o["etag"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut objects = listed.clone();
    objects.remove(STATE);
    assert!(!objects.contains_key(LOCK), "the lock was left behind");
    assert_eq!(objects, committed, "objects under `{prefix}/` vs the state");
    state
}

#[test]
fn run_with_an_s3_lake_equals_a_local_run_and_a_rerun_uploads_no_data() {
    let ls = localstack();
    let (t, bucket) = setup("lake");
    let (want, want_runs) = local_run(t.path());
    let cfg = s3_config(t.path(), "s3", &bucket, "lake", "mirror");
    let out = run(&mut s3_run(&cfg));
    assert_eq!(out.code(), 0, "{out}");
    let rec = record(&out);
    assert_eq!(rec["outcome"], "success");
    assert_eq!(rec["ingest"]["files_read"], 95);
    assert_eq!(
        rec["report"],
        format!("s3://{bucket}/lake/reports/as_of={AS_OF}")
    );
    assert_committed_and_unlocked(&bucket, "lake");
    let (got, runs) = s3_outputs(&bucket, "lake", t.path());
    assert_same_outputs(&got, &want, "an s3:// lake vs a local lake");
    assert_eq!(runs, want_runs);
    // What a reader gets: the report is served as HTML.
    let head = block_on(async {
        ls.client()
            .await
            .head_object()
            .bucket(&bucket)
            .key(format!("lake/reports/as_of={AS_OF}/report.html"))
            .send()
            .await
            .unwrap()
    });
    assert_eq!(head.content_type(), Some("text/html; charset=utf-8"));

    // No new input: the same data objects, not even rewritten; one more run record.
    let before = listing(&bucket, "lake");
    let out = run(&mut s3_run(&cfg));
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(record(&out)["ingest"]["files_read"], 0);
    assert_committed_and_unlocked(&bucket, "lake");
    let after = listing(&bucket, "lake");
    let data = |l: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        l.iter()
            .filter(|(k, _)| !k.starts_with("_runs/") && *k != STATE)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(data(&after), data(&before));
    let runs = |l: &BTreeMap<String, String>| l.keys().filter(|k| k.starts_with("_runs/")).count();
    assert_eq!((runs(&before), runs(&after)), (1, 2));

    // A new, empty mirror (another host, or a lost cache) downloads the lake, and its ledger
    // keeps the inputs from being read twice.
    let fresh = s3_config(t.path(), "s3-fresh", &bucket, "lake", "mirror-fresh");
    let out = run(&mut s3_run(&fresh));
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(record(&out)["ingest"]["files_read"], 0);
    assert_eq!(data(&listing(&bucket, "lake")), data(&before));
    let mut mirrored = outputs(&t.path().join("mirror-fresh"));
    mirrored.remove("_runs outcomes");
    assert_same_outputs(&mirrored, &want, "a fresh mirror");
}

/// A lock object as another host would write it.
fn foreign_lock(expires_in: chrono::Duration) -> Vec<u8> {
    let now = Utc::now();
    serde_json::to_vec(&serde_json::json!({
        "v": 1,
        "host": "build-7",
        "boot_id": "4a1c0f3e-0000-4000-8000-000000000007",
        "pid_ns": "pid:[4026531836]",
        "pid": 4242,
        "pid_start": 1234,
        "run_id": "20261127T033000000000Z-4242",
        "acquired_at": (now - chrono::Duration::minutes(30)).to_rfc3339(),
        "expires_at": (now + expires_in).to_rfc3339(),
        "lease_secs": 600,
    }))
    .unwrap()
}

#[test]
fn a_run_while_the_lake_is_locked_exits_2_naming_the_holder_and_a_killed_holder_is_taken_over() {
    let (t, bucket) = setup("locked");
    let cfg = s3_config(t.path(), "s3", &bucket, "lake", "mirror");
    let second_cfg = s3_config(t.path(), "s3-second", &bucket, "lake", "mirror-second");

    let mut first = pause_at(&mut s3_run(&cfg), "run:record", t.path());
    let out = run(&mut s3_run(&second_cfg));
    let pid = first.id();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "lake `s3://{bucket}/lake` is locked by another run"
        )) && out.stderr.contains(&format!("pid {pid}")),
        "{out}"
    );
    // The second run neither wrote to the lake nor touched the lock.
    let listed = listing(&bucket, "lake");
    assert_eq!(listed.keys().collect::<Vec<_>>(), [LOCK], "{listed:?}");

    // The holder was killed on this machine: the next run takes its lock over at once.
    let out = run(&mut s3_run(&second_cfg));
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("taking over a stale lake lock"),
        "{out}"
    );
    assert_committed_and_unlocked(&bucket, "lake");
}

#[test]
fn a_live_lock_of_another_host_is_respected_and_an_expired_one_is_taken_over() {
    let (t, bucket) = setup("stale");
    let cfg = s3_config(t.path(), "s3", &bucket, "lake", "mirror");
    let lock = format!("lake/{LOCK}");

    put(&bucket, &lock, foreign_lock(chrono::Duration::hours(1)));
    let out = run(&mut s3_run(&cfg));
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr.contains(
            "locked by another run (host build-7, pid 4242, run 20261127T033000000000Z-4242)"
        ),
        "{out}"
    );

    put(&bucket, &lock, foreign_lock(-chrono::Duration::seconds(1)));
    let out = run(&mut s3_run(&cfg));
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("taking over a stale lake lock") && out.stderr.contains("build-7"),
        "{out}"
    );
    assert_committed_and_unlocked(&bucket, "lake");
}

#[test]
fn of_three_runs_taking_over_one_expired_lock_exactly_one_wins() {
    let (t, bucket) = setup("race");
    put(
        &bucket,
        &format!("lake/{LOCK}"),
        foreign_lock(-chrono::Duration::seconds(1)),
    );
    // Line the three runs up just before each sends its takeover (all have read the same
    // expired lock), then let them go at once.
    let mut runs = Vec::new();
    for i in 0..3 {
        let cfg = s3_config(
            t.path(),
            &format!("s3-{i}"),
            &bucket,
            "lake",
            &format!("mirror-{i}"),
        );
        let marker = t.path().join(format!("paused-{i}"));
        let stderr = t.path().join(format!("stderr-{i}"));
        let child = s3_run(&cfg)
            .env("BLOBTIER_TEST_PAUSE_AT", "lock:takeover")
            .env("BLOBTIER_TEST_PAUSE_MARKER", &marker)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        runs.push((child, marker, stderr));
    }
    let log = |p: &Path| fs::read_to_string(p).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(300);
    for (child, marker, stderr) in &mut runs {
        while !marker.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("exited ({status}) before the takeover:\n{}", log(stderr));
            }
            assert!(Instant::now() < deadline, "never reached the takeover");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for (_, marker, _) in &runs {
        fs::write(
            marker.with_file_name(format!(
                "{}.continue",
                marker.file_name().unwrap().to_str().unwrap()
            )),
            "",
        )
        .unwrap();
    }
    let mut codes = Vec::new();
    for (child, _, stderr) in &mut runs {
        let status = child.wait().unwrap();
        codes.push((status.code(), log(stderr)));
    }
    let winners = codes.iter().filter(|(c, _)| *c == Some(0)).count();
    assert_eq!(
        winners, 1,
        "exactly one run may take the lock over: {codes:#?}"
    );
    for (code, log) in &codes {
        assert!(
            *code == Some(0) || (*code == Some(2) && log.contains("locked by another run")),
            "{code:?}: {log}"
        );
    }
    assert_committed_and_unlocked(&bucket, "lake");
}

/// Lets a run paused by [`pause_at`] go on (see `src/crashpoint.rs`).
fn resume(scratch: &Path, point: &str) {
    let marker = scratch.join(format!("paused-{}", point.replace(':', "-")));
    let mut go = marker.into_os_string();
    go.push(".continue");
    fs::write(go, "").unwrap();
}

fn lock_body(bucket: &str) -> serde_json::Value {
    serde_json::from_slice(&get(bucket, &format!("lake/{LOCK}")).expect("a lock object")).unwrap()
}

#[test]
fn the_lease_is_renewed_while_the_run_lives() {
    let (t, bucket) = setup("lease");
    let cfg = config(
        t.path(),
        "s3",
        &format!("s3://{bucket}/lake"),
        &format!(
            "lake_cache = \"{}\"\nlock_lease = \"10s\"\n",
            t.path().join("mirror").display()
        ),
    );
    let mut child = pause_at(&mut s3_run(&cfg), "run:record", t.path());
    let first = lock_body(&bucket);
    assert_eq!(first["pid"], child.id());
    assert_eq!(first["lease_secs"], 10);
    // Renewed every third of the lease while the run is busy (here: paused).
    let deadline = Instant::now() + Duration::from_secs(120);
    let renewed = loop {
        let now = lock_body(&bucket);
        if now["expires_at"] != first["expires_at"] {
            break now;
        }
        assert!(Instant::now() < deadline, "the lease was never renewed");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(renewed["run_id"], first["run_id"]);
    assert_eq!(renewed["acquired_at"], first["acquired_at"]);
    assert!(
        renewed["expires_at"].as_str().unwrap() > first["expires_at"].as_str().unwrap(),
        "{first} then {renewed}"
    );
    resume(t.path(), "run:record");
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        fs::read_to_string(t.path().join("stderr-run-record")).unwrap()
    );
    assert_committed_and_unlocked(&bucket, "lake");
}

#[test]
fn a_run_whose_lock_was_taken_over_does_not_commit() {
    let (t, bucket) = setup("lost");
    let cfg = s3_config(t.path(), "s3", &bucket, "lake", "mirror");
    let mut child = pause_at(&mut s3_run(&cfg), "publish:data", t.path());
    // Another host took the lock over (as it may once this run's lease has run out).
    let theirs = foreign_lock(chrono::Duration::hours(1));
    put(&bucket, &format!("lake/{LOCK}"), theirs.clone());
    resume(t.path(), "publish:data");
    let status = child.wait().unwrap();
    let stderr = fs::read_to_string(t.path().join("stderr-publish-data")).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("lost the lock of lake `s3://{bucket}/lake`"))
            && stderr.contains("build-7")
            && stderr.contains("nothing was committed"),
        "{stderr}"
    );
    // No state, and the other host's lock is left alone.
    assert!(get(&bucket, &format!("lake/{STATE}")).is_none());
    assert_eq!(get(&bucket, &format!("lake/{LOCK}")).unwrap(), theirs);
}

#[test]
fn commands_that_work_on_directories_refuse_an_s3_lake() {
    let t = tempfile::tempdir().unwrap();
    let out = run(crate::support::cli::blobtier().current_dir(t.path()).args([
        "stats",
        "--lake",
        "s3://bucket/lake",
        "--as-of",
        AS_OF,
    ]));
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr
            .contains("`s3://bucket/lake` is an S3 lake: only `blobtier run` works on one"),
        "{out}"
    );
    assert_eq!(
        fs::read_dir(t.path()).unwrap().count(),
        0,
        "nothing may be created"
    );
}

/// Pulls on as-of of blobs that were cold: a late file that changes as-of's stats and plan.
fn write_late_file(t: &Path) {
    let mut text = String::new();
    for i in 4..10u32 {
        text.push_str(&s3_pull_line(
            "26/Nov/2026",
            "23:30:00",
            "198.51.100.9",
            &hex_of(i),
            "containerd/1.7.13",
            10,
        ));
    }
    fs::write(t.join("logs/2026-11-26-23-30-00-LATE"), text).unwrap();
}

#[test]
fn sigkill_during_sync_and_publish_then_a_rerun_equals_an_uninterrupted_run() {
    let (dir, bucket) = setup("crash");
    let t = dir.path();
    let reference = t.join("reference");
    let ref_cfg = config(t, "reference", &reference.display().to_string(), "");
    // Each scenario: a lake prefix, and where its second run is killed (the first run of
    // `first` is killed too, before the lake ever had a state).
    let scenarios = ["first", "sync", "data", "committed"];
    let cfg = |s: &str| s3_config(t, s, &bucket, s, &format!("mirror-{s}"));

    // Run 1, on the inputs so far.
    assert_eq!(run(&mut nightly_cmd(&ref_cfg)).code(), 0);
    for s in scenarios {
        if s == "first" {
            kill_at(&mut s3_run(&cfg(s)), "publish:data", t);
            // Data objects without a commit: blobtier readers see no lake yet, and the
            // ledger entries and run record, which name data files, come after the data.
            assert!(get(&bucket, &format!("{s}/{STATE}")).is_none());
            let keys = listing(&bucket, s);
            assert!(keys.keys().any(|k| k.starts_with("pulls/")), "{keys:?}");
            assert!(
                !keys
                    .keys()
                    .any(|k| k.starts_with("_ledger/") || k.starts_with("_runs/")),
                "{keys:?}"
            );
        }
        let out = run(&mut s3_run(&cfg(s)));
        assert_eq!(out.code(), 0, "{s}: {out}");
        assert_committed_and_unlocked(&bucket, s);
    }

    // Run 2 after a late file: it adds ingest parts and replaces as-of's derived files.
    write_late_file(t);
    assert_eq!(run(&mut nightly_cmd(&ref_cfg)).code(), 0);
    let mut want = outputs(&reference);
    want.remove("_runs outcomes");
    for s in scenarios {
        let before = get(&bucket, &format!("{s}/{STATE}")).unwrap();
        match s {
            "sync" => {
                // A host with an empty mirror, killed while downloading the lake.
                let other = s3_config(t, "sync-other", &bucket, s, "mirror-sync-other");
                kill_at(&mut s3_run(&other), "sync:downloading", t);
                let out = run(&mut s3_run(&other));
                assert_eq!(out.code(), 0, "{s}: {out}");
            }
            "data" => {
                let ledger = |l: &BTreeMap<String, String>| {
                    l.keys()
                        .filter(|k| k.starts_with("_ledger/"))
                        .cloned()
                        .collect::<Vec<_>>()
                };
                let ledger_before = ledger(&listing(&bucket, s));
                kill_at(&mut s3_run(&cfg(s)), "publish:data", t);
                // Killed before its commit: the committed state is as it was, and no ledger
                // entry names the uploaded parts.
                assert_eq!(get(&bucket, &format!("{s}/{STATE}")).unwrap(), before);
                assert_eq!(ledger(&listing(&bucket, s)), ledger_before);
                // Another host runs next: it removes the uploads of the killed run (and takes
                // the content of the objects it replaced), then ingests the late file itself.
                let other = s3_config(t, "data-other", &bucket, s, "mirror-data-other");
                let out = run(&mut s3_run(&other));
                assert_eq!(out.code(), 0, "{s}: {out}");
                assert!(
                    out.stderr.contains("removed objects of an interrupted run")
                        && out
                            .stderr
                            .contains("an interrupted run replaced this object"),
                    "{out}"
                );
                assert_eq!(record(&out)["ingest"]["files_read"], 1);
                // Then the killed host: its mirror still holds what it ingested and never
                // committed; it must drop that, not upload it a second time.
                let out = run(&mut s3_run(&cfg(s)));
                assert_eq!(out.code(), 0, "{s}: {out}");
                assert_eq!(record(&out)["ingest"]["files_read"], 0);
            }
            "committed" => {
                kill_at(&mut s3_run(&cfg(s)), "publish:committed", t);
                assert_ne!(get(&bucket, &format!("{s}/{STATE}")).unwrap(), before);
                let out = run(&mut s3_run(&cfg(s)));
                assert_eq!(out.code(), 0, "{s}: {out}");
                assert_eq!(record(&out)["ingest"]["files_read"], 0);
            }
            _ => {
                let out = run(&mut s3_run(&cfg(s)));
                assert_eq!(out.code(), 0, "{s}: {out}");
            }
        }
        assert_committed_and_unlocked(&bucket, s);
        for mirror in walk(t).into_iter().filter_map(|p| {
            let m = p.parent()?.to_owned();
            (p.file_name()? == ".blobtier-mirror").then_some(m)
        }) {
            let left = leftovers(&mirror);
            assert!(left.is_empty(), "{s}: {left:?}");
        }
        let (got, runs) = s3_outputs(&bucket, s, t);
        assert_same_outputs(&got, &want, &format!("scenario `{s}`"));
        assert!(runs.split(',').all(|o| o == "\"success\""), "{s}: {runs}");
    }
}

/// Every call of a run through a proxy that answers 503 `SlowDown` or 500, or resets the
/// connection after the server acted. Idempotent calls are retried; a conditional put whose
/// answer was lost is read back and found, not sent again: each object is written exactly
/// once, no put meets a failed condition, and the lake equals a clean run's.
#[test]
fn a_run_through_s3_faults_writes_each_object_once_and_equals_a_clean_run() {
    let ls = localstack();
    let (t, bucket) = setup("faults");
    let (want, want_runs) = local_run(t.path());
    let proxy = FaultProxy::start(
        &ls.endpoint(),
        FaultMix {
            slowdown: 0.04,
            internal: 0.02,
            reset: 0.06,
            ..FaultMix::none()
        },
        11,
    );
    let cfg = s3_config(t.path(), "s3", &bucket, "lake", "mirror");
    let out = run(nightly_cmd(&cfg).envs(proxy.env(ls.env())));
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(record(&out)["outcome"], "success");
    let c = proxy.counts();
    eprintln!("s3 lake: faults injected {:?}", c.injected_by_op);
    let injected = |f: Fault| {
        c.injected_by_op
            .get(&("PutObject".to_owned(), f))
            .copied()
            .unwrap_or(0)
    };
    assert!(injected(Fault::Reset) > 0, "{:?}", c.injected_by_op);
    // Data, ledger, run record, state and lock: each put landed once.
    let puts = c.completed_per_path("PutObject");
    assert!(puts.len() > 90, "{puts:?}");
    assert!(puts.values().all(|n| *n == 1), "{puts:?}");
    assert_eq!(c.upstream_errors.get(&("PutObject".to_owned(), 412)), None);
    // Sent again only after a 503 or 500 (which the server never saw); after a reset, read
    // back instead.
    assert_eq!(
        c.seen("PutObject"),
        puts.len() as u64 + injected(Fault::SlowDown) + injected(Fault::Internal)
    );
    assert_committed_and_unlocked(&bucket, "lake");
    let (got, runs) = s3_outputs(&bucket, "lake", t.path());
    assert_same_outputs(&got, &want, "an s3:// lake through faults vs a local lake");
    assert_eq!(runs, want_runs);
}

fn status<E: std::error::Error + 'static>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> u16 {
    match e {
        SdkError::ServiceError(se) => se.raw().status().as_u16(),
        _ => panic!("{}", DisplayErrorContext(e)),
    }
}

/// The conditional writes the lock and the commit rely on, on the pinned LocalStack (4.4.0).
#[test]
fn the_server_honours_conditional_puts() {
    let ls = localstack();
    let bucket = ls.unique_bucket("conditional");
    block_on(async {
        ls.create_bucket(&bucket).await;
        let c = ls.client().await;
        let put = |body: &'static str| {
            c.put_object()
                .bucket(&bucket)
                .key("k")
                .body(ByteStream::from_static(body.as_bytes()))
        };
        // If-None-Match: * creates, once.
        let first = put("a").if_none_match("*").send().await.unwrap();
        let e = put("b").if_none_match("*").send().await.unwrap_err();
        assert_eq!(status(&e), 412);
        // If-Match replaces only the version it names.
        let etag = first.e_tag().unwrap().to_owned();
        let second = put("c").if_match(&etag).send().await.unwrap();
        let e = put("d").if_match(&etag).send().await.unwrap_err();
        assert_eq!(status(&e), 412);
        // If-Match on a key that does not exist: 404 NoSuchKey.
        let e = c
            .put_object()
            .bucket(&bucket)
            .key("absent")
            .if_match(&etag)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&e), 404);
        // The ETag of a put is the one a listing shows (the state records put ETags).
        let listed = c.list_objects_v2().bucket(&bucket).send().await.unwrap();
        assert_eq!(listed.contents()[0].e_tag(), second.e_tag());
        // GetObject with If-Match: 412 once the object changed.
        let e = c
            .get_object()
            .bucket(&bucket)
            .key("k")
            .if_match(&etag)
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&e), 412);
        // DeleteObject with If-Match is *ignored* on an unversioned bucket: a wrong ETag
        // still deletes. blobtier does not rely on conditional deletes.
        c.delete_object()
            .bucket(&bucket)
            .key("k")
            .if_match("\"00000000000000000000000000000000\"")
            .send()
            .await
            .unwrap();
        let listed = c.list_objects_v2().bucket(&bucket).send().await.unwrap();
        assert!(listed.contents().is_empty());
    });
}
