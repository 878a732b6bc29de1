//! Runs that stop before the plan is done — SIGKILL, `--max-actions`, `--max-bytes` — and the
//! runs after them, which finish every action exactly once; per-object single flight; and
//! `--batch-manifest`, which writes files instead of acting.

use std::process::Command;
use std::time::Duration;

use super::{done_per_action, journal, journal_file, n, run_ok, Scene};
use crate::support::cli::run;
use crate::support::fault_proxy::{FaultMix, FaultProxy};

/// SIGKILL the real binary mid-plan several times, then rerun until it exits 0: every object ends
/// in its class, each action is `done` once in the journal and each copy reached the server once.
#[test]
fn sigkill_mid_run_then_rerun_finishes_each_action_once() {
    const N: usize = 300;
    let (sc, blobs) = Scene::with_blobs("apply-crash", N, |i| format!("layer {i}").into_bytes());
    let rows = blobs.iter().map(|b| b.copy().build()).collect();
    let (plan, id) = sc.plan(rows);
    let jdir = sc.path().join("j");
    let jfile = journal_file(&jdir, &id);
    // A few faults keep the retry paths in play while the process is killed.
    let proxy = FaultProxy::start(
        &sc.ls.endpoint(),
        FaultMix {
            slowdown: 0.03,
            internal: 0.02,
            reset: 0.02,
            ..FaultMix::none()
        },
        7,
    );
    let cmd = || -> Command {
        let mut c = sc.execute(&plan, Some(&proxy));
        c.args(["--concurrency", "8"])
            .arg("--journal")
            .arg(&jdir)
            .args(["--backoff-init-ms", "20", "--backoff-max-ms", "500"]);
        c
    };
    for kill_at in [30u64, 110, 200] {
        let mut child = cmd()
            .args(["--max-rps", "120"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        loop {
            std::thread::sleep(Duration::from_millis(10));
            let done: u64 = done_per_action(&journal(&jfile)).values().sum();
            if done >= kill_at {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                break;
            }
            if let Some(st) = child.try_wait().unwrap() {
                panic!("apply finished ({st}) before it could be killed at {kill_at} done");
            }
        }
    }
    let mut runs = 3;
    let s = loop {
        runs += 1;
        let out = run(&mut cmd());
        if out.code() == 0 {
            break super::summary(&out);
        }
        assert!(runs < 8, "apply does not converge\n{out}");
    };
    assert!(n(&s["done_in_earlier_runs"]) >= 200, "{s:#}");
    let now = sc.classes();
    assert!(blobs.iter().all(|b| now[&b.key] == "GLACIER_IR"));
    let copies = proxy.counts().completed_per_path("CopyObject");
    assert_eq!(copies.len(), N);
    assert!(
        copies.values().all(|n| *n == 1),
        "a copy reached the server twice"
    );
    let lines = journal(&jfile);
    let done = done_per_action(&lines);
    assert_eq!(done.len(), N);
    assert!(
        done.values().all(|n| *n == 1),
        "an action was done twice: {done:?}"
    );
    let starts = lines.iter().filter(|l| l["type"] == "start").count();
    assert_eq!(starts, runs);
    eprintln!(
        "crash test: {runs} runs, results of the last one {}",
        s["results"]
    );
}

/// `--max-actions` stops starting actions; the next run does the rest; `--batch-manifest` writes
/// files only.
#[test]
fn limits_leave_work_for_the_next_run_and_batch_manifest_writes_files() {
    let (sc, blobs) = Scene::with_blobs("apply-limits", 6, |_| vec![1u8; 100]);
    let rows = blobs
        .iter()
        .map(|b| b.copy().to("ONEZONE_IA").build())
        .collect();
    let (plan, _) = sc.plan(rows);

    let dir = sc.path().join("batch");
    let s = run_ok(sc.apply(&plan).arg("--batch-manifest").arg(&dir));
    assert_eq!(s["manifests"][0]["objects"], 6);
    let csv =
        std::fs::read_to_string(dir.join(s["manifests"][0]["manifest"].as_str().unwrap())).unwrap();
    assert_eq!(csv.lines().count(), 6);
    assert!(dir.join("README.md").is_file());

    let go = |extra: &[&str]| {
        run_ok(
            sc.execute(&plan, None)
                .args(["--concurrency", "1"])
                .args(extra),
        )
    };
    let s = go(&["--max-actions", "2"]);
    assert_eq!(s["results"]["copied"], 2);
    assert_eq!(s["not_started"], 4);
    assert_eq!(s["stopped_by"], "max_actions");
    let s = go(&["--max-bytes", "250"]);
    assert_eq!(s["results"]["copied"], 2, "{s:#}");
    assert_eq!(s["stopped_by"], "max_bytes");
    let s = go(&[]);
    assert_eq!(s["results"]["copied"], 2);
    assert_eq!(s["done_in_earlier_runs"], 4);
    assert!(sc.classes().values().all(|c| c == "ONEZONE_IA"));
}

/// Per-object single flight: two plan rows for one key never run at the same time; they run in
/// plan order (the journal shows the second start after the first is done).
#[test]
fn rows_for_the_same_key_run_one_after_the_other() {
    const KEYS: usize = 12;
    const SIZE: usize = 64;
    let (sc, blobs) = Scene::with_blobs("apply-single-flight", KEYS, |_| vec![9u8; SIZE]);
    // The second row of each key moves it on from where the first left it: run at the same
    // time, it would find the object still in STANDARD (`skipped:class_changed`).
    let rows = [("STANDARD", "STANDARD_IA"), ("STANDARD_IA", "GLACIER_IR")]
        .iter()
        .flat_map(|(from, to)| blobs.iter().map(|b| b.copy().from(from).to(to).build()))
        .collect();
    let (plan, id) = sc.plan(rows);
    let out = run(sc.execute(&plan, None).args(["--concurrency", "32", "-v"]));
    out.assert_success();
    let s = super::summary(&out);
    assert_eq!(n(&s["results"]["copied"]), 2 * KEYS as u64, "{s:#}");
    // Each row's bytes are counted once, in its target class.
    for class in ["STANDARD_IA", "GLACIER_IR"] {
        assert_eq!(
            n(&s["bytes_moved_by_class"][class]),
            (KEYS * SIZE) as u64,
            "{s:#}"
        );
    }
    // Progress without a terminal: one final line with the counts and bytes (2 × 12 × 64 =
    // 1,536 bytes), no bar.
    let done = format!(
        "apply finished: copied {}: {}/{} actions (100%)",
        2 * KEYS,
        2 * KEYS,
        2 * KEYS
    );
    assert!(out.stderr.contains(&done), "missing `{done}`:\n{out}");
    assert!(out.stderr.contains(", 1.5 KiB ("), "{out}");
    assert!(!out.stderr.contains('\x1b'), "escape codes:\n{out}");
    // The journal accounts its own time: every line it wrote, and a share of the actions'
    // time that is a fraction (its size is measured by `bench_apply_throughput`).
    let lines = sc.journal(&id);
    assert_eq!(s["journal_fsync"], "batched");
    assert_eq!(n(&s["journal_lines"]), lines.len() as u64);
    assert_eq!(s["journal_time"]["lines"], s["journal_lines"]);
    let jt = &s["journal_time"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    assert!(
        f(&jt["record_seconds"]) >= f(&jt["encode_seconds"]) && f(&jt["encode_seconds"]) > 0.0,
        "{jt}"
    );
    let overhead = f(&s["journal_overhead"]);
    assert!(overhead > 0.0 && overhead < 1.0, "{overhead}");
    let pos = |i: usize, state: &str| {
        lines
            .iter()
            .position(|l| l["i"] == i && l["state"] == state)
            .unwrap()
    };
    for k in 0..KEYS {
        assert!(
            pos(k + KEYS, "started") > pos(k, "done"),
            "key {k} ran concurrently"
        );
    }
    assert!(sc.classes().values().all(|c| c == "GLACIER_IR"));
}

/// A run SIGKILLed in the middle of a multipart copy leaves an upload S3 bills until someone
/// aborts it; the next run finds the action `started` in the journal, aborts that upload of
/// its own (of the planned key, begun before this run) and copies the object once.
/// See: issue 15.
#[test]
fn a_multipart_upload_left_by_a_killed_run_is_aborted_on_resume() {
    let sc = Scene::new("apply-orphan-upload");
    let body: Vec<u8> = (0..12 << 20).map(|j: usize| (j % 253) as u8).collect();
    let (blob, _) = sc.put(0, body.clone(), |p| p);
    let (plan, id) = sc.plan(vec![blob.copy().build()]);
    let jdir = sc.path().join("j");
    let proxy = FaultProxy::start(&sc.ls.endpoint(), FaultMix::none(), 1);
    let cmd = || -> Command {
        let mut c = sc.execute(&plan, Some(&proxy));
        c.arg("--journal")
            .arg(&jdir)
            .args(["--part-size", "5MiB"])
            .env("BLOBTIER_TEST_MULTIPART_THRESHOLD", "5MiB");
        c
    };
    let pid = std::sync::Arc::new(std::sync::Mutex::new(None::<u32>));
    let killer = pid.clone();
    // After the server copied the first part, before apply hears of it: SIGKILL.
    proxy.after("UploadPartCopy", 1, move || {
        let pid = killer.lock().unwrap().expect("apply is running");
        let st = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    });
    let mut child = cmd()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    *pid.lock().unwrap() = Some(child.id());
    let st = child.wait().unwrap();
    assert!(!st.success(), "apply was not killed: {st}");
    let uploads = || {
        sc.s3(async |c| {
            let req = c.list_multipart_uploads().bucket(&sc.bucket);
            req.send().await.unwrap().uploads().len()
        })
    };
    assert_eq!(uploads(), 1, "the killed run left no upload to find");
    assert_eq!(sc.head_class(&blob.key), "STANDARD");

    let s = run_ok(&mut cmd());
    assert_eq!(s["results"]["copied"], 1, "{s:#}");
    assert_eq!(uploads(), 0, "the killed run's upload is still there");
    assert_eq!(sc.head_class(&blob.key), "GLACIER_IR");
    assert!(sc.body(&blob.key) == body, "content changed");
    let c = proxy.counts();
    assert_eq!(c.seen("AbortMultipartUpload"), 1, "{c:?}");
    let lines = journal(&journal_file(&jdir, &id));
    assert_eq!(done_per_action(&lines).get(&0), Some(&1));
}
