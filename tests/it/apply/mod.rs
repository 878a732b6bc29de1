//! `blobtier apply` against a real S3 protocol server (LocalStack over HTTP), mostly through the
//! fault-injecting proxy (`support::fault_proxy`): the real binary, the real SDK, real retries.
//! See: issue 6.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, ObjectCannedAcl, ServerSideEncryption, StorageClass, Tag,
    Transition, TransitionDefaultMinimumObjectSize, TransitionStorageClass,
    VersioningConfiguration,
};
use blobtier::plan::file::{self, PlanRow};
use sha2::{Digest as _, Sha256};

use crate::support::cli::{blobtier, run, Output};
use crate::support::fault_proxy::{Fault, FaultMix, FaultProxy};
use crate::support::localstack::{block_on, localstack};

/// A blob: digest and the distribution key it lives under.
fn blob(i: usize, salt: &str) -> (String, String) {
    let hex = hex::encode(Sha256::digest(format!("{salt}-{i}").as_bytes()));
    let key = format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]);
    (format!("sha256:{hex}"), key)
}

#[allow(clippy::too_many_arguments)]
fn row(
    bucket: &str,
    key: &str,
    digest: &str,
    etag: Option<&str>,
    size: usize,
    from: &str,
    to: &str,
    action: &str,
    method: &str,
) -> PlanRow {
    PlanRow {
        plan_id: String::new(),
        as_of: 20_400,
        bucket: bucket.into(),
        key: key.into(),
        version_id: None,
        etag: etag.map(str::to_owned),
        size: size as i64,
        digest: digest.into(),
        from_class: from.into(),
        to_class: to.into(),
        tier: "cold".into(),
        action: action.into(),
        method: method.into(),
        reason: "moved:cold".into(),
        expected_pulls_30d: 0.0,
        monthly_cost_now: 0.001,
        monthly_cost_after: 0.0004,
        one_time_cost: 0.00001,
        payback_days: Some(3.0),
        net_savings_12m: 0.01,
    }
}

/// Writes a plan with a correct `plan_id`; returns its path and id.
fn write_plan(dir: &Path, mut rows: Vec<PlanRow>) -> (PathBuf, String) {
    let id = file::plan_id(&rows);
    for r in &mut rows {
        r.plan_id = id.clone();
    }
    let p = dir.join("plan.parquet");
    file::write(&p, &rows).unwrap();
    (p, id)
}

fn journal_file(dir: &Path, plan_id: &str) -> PathBuf {
    dir.join(format!("{}.jsonl", plan_id.replace(':', "-")))
}

/// Journal lines that parse (a SIGKILL may cut the last one).
fn journal(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `done` lines per action index.
fn done_per_action(lines: &[serde_json::Value]) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for l in lines {
        if l["type"] == "action" && l["state"] == "done" {
            *m.entry(l["i"].as_u64().unwrap()).or_default() += 1;
        }
    }
    m
}

fn summary(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{out}"))
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn apply(dir: &Path, plan: &Path) -> Command {
    let mut c = blobtier();
    c.current_dir(dir).arg("apply").arg("--plan").arg(plan);
    c
}

/// Puts objects, 32 at a time; returns their ETags (unquoted) in order.
async fn put_all(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    objs: &[(String, Vec<u8>)],
) -> Vec<String> {
    let mut etags = vec![String::new(); objs.len()];
    for (chunk_no, chunk) in objs.chunks(32).enumerate() {
        let mut set = tokio::task::JoinSet::new();
        for (j, (key, body)) in chunk.iter().enumerate() {
            let (c, b, k, body) = (client.clone(), bucket.to_owned(), key.clone(), body.clone());
            set.spawn(async move {
                let o = c
                    .put_object()
                    .bucket(&b)
                    .key(&k)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {k}: {}", DisplayErrorContext(&e)));
                (
                    chunk_no * 32 + j,
                    o.e_tag().unwrap().trim_matches('"').to_owned(),
                )
            });
        }
        while let Some(r) = set.join_next().await {
            let (i, e) = r.unwrap();
            etags[i] = e;
        }
    }
    etags
}

/// Storage class of every key in the bucket (STANDARD when S3 lists none).
async fn classes(client: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    while let Some(p) = pages.next().await {
        for o in p.unwrap().contents() {
            out.insert(
                o.key().unwrap().to_owned(),
                o.storage_class()
                    .map_or("STANDARD".to_owned(), |c| c.as_str().to_owned()),
            );
        }
    }
    out
}

async fn head_class(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let h = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    h.storage_class()
        .map_or("STANDARD".to_owned(), |c| c.as_str().to_owned())
}

/// No S3 needed: a dry run prints counts, and every refusal exits 2 before touching anything.
#[test]
fn dry_run_summarises_and_refusals_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let (d0, k0) = blob(0, "dry");
    let (d1, k1) = blob(1, "dry");
    let (d2, k2) = blob(2, "dry");
    let mut rows = vec![
        row(
            "reg",
            &k0,
            &d0,
            Some("e0"),
            100,
            "STANDARD",
            "STANDARD_IA",
            "transition",
            "copy",
        ),
        row(
            "reg",
            &k1,
            &d1,
            Some("e1"),
            200,
            "STANDARD",
            "STANDARD_IA",
            "transition",
            "copy",
        ),
        row(
            "reg",
            &k2,
            &d2,
            Some("e2"),
            300,
            "STANDARD",
            "GLACIER_IR",
            "transition",
            "lifecycle",
        ),
        row(
            "reg",
            "x/none",
            &d2,
            Some("e2"),
            5,
            "STANDARD",
            "STANDARD",
            "none",
            "copy",
        ),
        row(
            "other",
            &format!("blobs/{k0}"),
            &d0,
            Some("e0"),
            400,
            "GLACIER",
            "STANDARD",
            "restore",
            "copy",
        ),
    ];
    let (plan, id) = write_plan(t.path(), rows.clone());

    let out = run(&mut apply(t.path(), &plan));
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["dry_run"], true);
    assert_eq!(s["plan_id"], id.as_str());
    assert_eq!(s["rows"], 5);
    assert_eq!(s["actions"], 4);
    assert_eq!(s["bytes"], 1000);
    assert_eq!(s["bytes_by_target_class"]["STANDARD_IA"], 300);
    assert_eq!(s["sample"].as_array().unwrap().len(), 4);
    let groups = s["groups"].as_array().unwrap();
    assert!(groups
        .iter()
        .any(|g| g["action"] == "copy" && g["count"] == 2 && g["bytes"] == 300));
    assert!(s["execute_refusal"]
        .as_str()
        .unwrap()
        .contains("allow-list"));

    // Outside the allow-list: refused, dry run or not.
    let out = run(apply(t.path(), &plan).args(["--allow-bucket", "reg"]));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("outside the allow-list"), "{out}");
    let out = run(apply(t.path(), &plan).args([
        "--allow-bucket",
        "reg",
        "--allow-bucket",
        "other/uploads/",
    ]));
    assert_eq!(out.code(), 2, "{out}");
    let out = run(apply(t.path(), &plan).args([
        "--allow-bucket",
        "reg",
        "--allow-bucket",
        "other/blobs/",
    ]));
    out.assert_success();
    // `apply.allow` in the config counts like `--allow-bucket`.
    let cfg = t.path().join("apply-allow.toml");
    std::fs::write(&cfg, "[apply]\nallow = [\"reg\", \"other/blobs/\"]\n").unwrap();
    run(apply(t.path(), &plan).arg("--config").arg(&cfg)).assert_success();
    std::fs::write(&cfg, "[apply]\nallow = [\"reg\"]\n").unwrap();
    let out = run(apply(t.path(), &plan).arg("--config").arg(&cfg));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("outside the allow-list"), "{out}");

    // --execute without an allow-list.
    let out = run(apply(t.path(), &plan).arg("--execute"));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("without an allow-list"), "{out}");

    // A plan modified after it was made.
    rows[1].to_class = "DEEP_ARCHIVE".into();
    for r in &mut rows {
        r.plan_id = id.clone();
    }
    file::write(&plan, &rows).unwrap();
    let out = run(apply(t.path(), &plan).args([
        "--execute",
        "--allow-bucket",
        "reg",
        "--allow-bucket",
        "other",
    ]));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("does not match its content"), "{out}");

    // Rows apply cannot execute.
    let bad = vec![row(
        "reg",
        &k0,
        &d0,
        None,
        1,
        "STANDARD",
        "EXPRESS_ONEZONE",
        "transition",
        "copy",
    )];
    let (plan, _) = write_plan(t.path(), bad);
    let out = run(&mut apply(t.path(), &plan));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("not a target class"), "{out}");
}

/// Issue 6's scale test: 2,000 copies through a proxy that injects 503 SlowDown, 500, connection
/// resets and stalls at more than 20% of requests. Every object ends in its class, no copy
/// reaches the server twice, and the retry metrics equal what the proxy injected.
#[test]
fn two_thousand_copies_through_faults_each_done_once() {
    const N: usize = 2000;
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-faults");
    let targets = [
        "STANDARD_IA",
        "GLACIER_IR",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
    ];
    let blobs: Vec<(String, String)> = (0..N).map(|i| blob(i, &bucket)).collect();
    let objs: Vec<(String, Vec<u8>)> = blobs
        .iter()
        .enumerate()
        .map(|(i, (_, k))| (k.clone(), format!("layer {i}").into_bytes()))
        .collect();
    let etags = block_on(async {
        ls.create_bucket(&bucket).await;
        put_all(&ls.client().await, &bucket, &objs).await
    });
    let rows: Vec<PlanRow> = (0..N)
        .map(|i| {
            let (d, k) = &blobs[i];
            row(
                &bucket,
                k,
                d,
                Some(&etags[i]),
                objs[i].1.len(),
                "STANDARD",
                targets[i % 4],
                "transition",
                "copy",
            )
        })
        .collect();
    let (plan, id) = write_plan(t.path(), rows);
    let proxy = FaultProxy::start(
        &ls.endpoint(),
        FaultMix {
            slowdown: 0.08,
            internal: 0.06,
            reset: 0.06,
            stall: 0.005,
            delay: 0.03,
        },
        0x5eed,
    );
    let metrics = t.path().join("apply.prom");
    let started = Instant::now();
    let out = run(apply(t.path(), &plan)
        .args([
            "--execute",
            "--allow-bucket",
            &bucket,
            "--concurrency",
            "16",
        ])
        .arg("--metrics-file")
        .arg(&metrics)
        .args([
            "--attempt-timeout",
            "5",
            "--backoff-init-ms",
            "20",
            "--backoff-max-ms",
            "1000",
        ])
        .envs(proxy.env(ls.env())));
    let elapsed = started.elapsed();
    out.assert_success();
    let s = summary(&out);
    assert_eq!(n(&s["results"]["copied"]), N as u64, "{s:#}");
    assert!(s["failures"].as_array().unwrap().is_empty());

    let now = block_on(async { classes(&ls.client().await, &bucket).await });
    for (i, (_, k)) in blobs.iter().enumerate() {
        assert_eq!(now[k], targets[i % 4], "{k}");
    }
    let c = proxy.counts();
    let copies = c.completed_per_path("CopyObject");
    assert_eq!(copies.len(), N);
    assert!(
        copies.values().all(|n| *n == 1),
        "a copy reached the server twice: {:?}",
        copies.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert_eq!(c.seen("DeleteObject") + c.seen("DeleteObjects"), 0);

    // Every injected fault was retried once, under its reason. The server's own failures (5xx
    // passed through, a connection it dropped) are counted by the proxy too; on a quiet machine
    // there are none.
    let seen: u64 = c.seen.values().sum();
    let injected: u64 = c.injected.values().sum();
    assert!(
        injected * 5 >= seen,
        "only {injected} faults in {seen} requests"
    );
    assert_eq!(
        n(&s["retries"]["throttle"]),
        c.injected(Fault::SlowDown),
        "{s:#}\n{c:?}"
    );
    assert_eq!(
        n(&s["retries"]["server_error"]),
        c.injected(Fault::Internal) + c.upstream_5xx(),
        "{c:?}"
    );
    assert_eq!(
        n(&s["retries"]["connection"]),
        c.injected(Fault::Reset) + c.upstream_failures,
        "{c:?}"
    );
    assert_eq!(
        n(&s["retries"]["timeout"]),
        c.injected(Fault::Stall),
        "{c:?}"
    );
    assert_eq!(n(&s["throttles"]), c.injected(Fault::SlowDown));
    for op in ["HeadObject", "GetObjectAcl", "CopyObject"] {
        assert_eq!(n(&s["requests"][op]), c.seen(op), "{op}");
    }

    // The journal: each action done exactly once, bracketed by start and end.
    let lines = journal(&journal_file(&t.path().join("journal"), &id));
    let done = done_per_action(&lines);
    assert_eq!(done.len(), N);
    assert!(done.values().all(|n| *n == 1));
    assert_eq!(lines.first().unwrap()["type"], "start");
    assert_eq!(lines.last().unwrap()["type"], "end");
    assert!(lines.iter().all(|l| l["v"] == 1));

    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(&format!(
            "blobtier_apply_actions_total{{action=\"copy\",result=\"copied\"}} {N}"
        )),
        "{prom}"
    );
    assert!(prom.contains(&format!(
        "blobtier_apply_retries_total{{reason=\"throttle\"}} {}",
        c.injected(Fault::SlowDown)
    )));
    assert!(prom.contains("blobtier_apply_duration_seconds_bucket"));
    eprintln!(
        "apply: {N} actions in {:.1} s; {seen} requests, {injected} faults injected {:?}; retries counted {}",
        elapsed.as_secs_f64(),
        c.injected,
        s["retries"]
    );

    // A rerun finds everything done in the journal and sends nothing.
    let before = proxy.counts().seen.values().sum::<u64>();
    let out = run(apply(t.path(), &plan)
        .args(["--execute", "--allow-bucket", &bucket])
        .envs(proxy.env(ls.env())));
    out.assert_success();
    let s = summary(&out);
    assert_eq!(n(&s["done_in_earlier_runs"]), N as u64);
    assert_eq!(proxy.counts().seen.values().sum::<u64>(), before);
}

/// SIGKILL the real binary mid-plan several times, then rerun until it exits 0: every object ends
/// in its class, each action is `done` once in the journal and each copy reached the server once.
#[test]
fn sigkill_mid_run_then_rerun_finishes_each_action_once() {
    const N: usize = 300;
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-crash");
    let blobs: Vec<(String, String)> = (0..N).map(|i| blob(i, &bucket)).collect();
    let objs: Vec<(String, Vec<u8>)> = blobs
        .iter()
        .map(|(d, k)| (k.clone(), d.clone().into_bytes()))
        .collect();
    let etags = block_on(async {
        ls.create_bucket(&bucket).await;
        put_all(&ls.client().await, &bucket, &objs).await
    });
    let rows: Vec<PlanRow> = (0..N)
        .map(|i| {
            let (d, k) = &blobs[i];
            row(
                &bucket,
                k,
                d,
                Some(&etags[i]),
                objs[i].1.len(),
                "STANDARD",
                "GLACIER_IR",
                "transition",
                "copy",
            )
        })
        .collect();
    let (plan, id) = write_plan(t.path(), rows);
    let jdir = t.path().join("j");
    let jfile = journal_file(&jdir, &id);
    // A few faults keep the retry paths in play while the process is killed.
    let proxy = FaultProxy::start(
        &ls.endpoint(),
        FaultMix {
            slowdown: 0.03,
            internal: 0.02,
            reset: 0.02,
            ..FaultMix::none()
        },
        7,
    );
    let cmd = || {
        let mut c = apply(t.path(), &plan);
        c.args([
            "--execute",
            "--allow-bucket",
            &bucket,
            "--concurrency",
            "8",
            "--max-rps",
            "120",
        ])
        .arg("--journal")
        .arg(&jdir)
        .args(["--backoff-init-ms", "20", "--backoff-max-ms", "500"])
        .envs(proxy.env(ls.env()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        c
    };
    for kill_at in [30u64, 110, 200] {
        let mut child = cmd().spawn().unwrap();
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
        let out = run(apply(t.path(), &plan)
            .args(["--execute", "--allow-bucket", &bucket, "--concurrency", "8"])
            .arg("--journal")
            .arg(&jdir)
            .args(["--backoff-init-ms", "20", "--backoff-max-ms", "500"])
            .envs(proxy.env(ls.env())));
        if out.code() == 0 {
            break summary(&out);
        }
        assert!(runs < 8, "apply does not converge\n{out}");
    };
    assert!(n(&s["done_in_earlier_runs"]) >= 200, "{s:#}");
    let now = block_on(async { classes(&ls.client().await, &bucket).await });
    assert!(blobs.iter().all(|(_, k)| now[k] == "GLACIER_IR"));
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

/// An object whose ETag differs from the plan's is skipped and left alone, whether the change
/// shows in the HEAD or only in the copy's `x-amz-copy-source-if-match` (412).
#[test]
fn changed_objects_are_skipped_and_untouched() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-changed");
    let blobs: Vec<(String, String)> = (0..3).map(|i| blob(i, &bucket)).collect();
    let objs: Vec<(String, Vec<u8>)> = blobs
        .iter()
        .map(|(_, k)| (k.clone(), b"new content".to_vec()))
        .collect();
    let etags = block_on(async {
        ls.create_bucket(&bucket).await;
        put_all(&ls.client().await, &bucket, &objs).await
    });
    let stale = "0123456789abcdef0123456789abcdef";
    let rows = vec![
        row(
            &bucket,
            &blobs[0].1,
            &blobs[0].0,
            Some(&etags[0]),
            11,
            "STANDARD",
            "STANDARD_IA",
            "transition",
            "copy",
        ),
        // The HEAD shows the change.
        row(
            &bucket,
            &blobs[1].1,
            &blobs[1].0,
            Some(stale),
            11,
            "STANDARD",
            "STANDARD_IA",
            "transition",
            "copy",
        ),
        // Only the copy's precondition sees it: the proxy shows the stale ETag in HEAD.
        row(
            &bucket,
            &blobs[2].1,
            &blobs[2].0,
            Some(stale),
            11,
            "STANDARD",
            "STANDARD_IA",
            "transition",
            "copy",
        ),
    ];
    let (plan, _) = write_plan(t.path(), rows);
    let proxy = FaultProxy::start(&ls.endpoint(), FaultMix::none(), 1);
    proxy.override_etag(&format!("/{bucket}/{}", blobs[2].1), stale);
    let out = run(apply(t.path(), &plan)
        .args(["--execute", "--allow-bucket", &bucket])
        .envs(proxy.env(ls.env())));
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["results"]["copied"], 1, "{s:#}");
    assert_eq!(s["results"]["skipped:changed"], 2, "{s:#}");
    let c = proxy.counts();
    assert_eq!(
        c.upstream_errors.get(&("CopyObject".to_owned(), 412)),
        Some(&1),
        "{c:?}"
    );
    let copies = c.completed_per_path("CopyObject");
    assert_eq!(copies.len(), 1);
    block_on(async {
        let cl = ls.client().await;
        assert_eq!(head_class(&cl, &bucket, &blobs[0].1).await, "STANDARD_IA");
        for (_, k) in &blobs[1..] {
            assert_eq!(head_class(&cl, &bucket, k).await, "STANDARD");
            let o = cl.get_object().bucket(&bucket).key(k).send().await.unwrap();
            assert_eq!(
                o.body.collect().await.unwrap().into_bytes().as_ref(),
                b"new content"
            );
        }
    });
    let lines = journal(&journal_file(
        &t.path().join("journal"),
        &file::read_verified(&plan).unwrap()[0].plan_id,
    ));
    let skipped: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["result"] == "skipped:changed")
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().any(|l| l["message"] == "etag"));
    assert!(skipped
        .iter()
        .any(|l| l["message"].as_str().unwrap().contains("precondition")));
}

/// Objects over the (lowered) multipart threshold go through CreateMultipartUpload,
/// UploadPartCopy and Complete with faults on the part calls; content, metadata and tags
/// survive, and no upload is left behind.
#[test]
fn multipart_copy_with_a_lowered_threshold() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-multipart");
    let size = 12 << 20;
    let blobs: Vec<(String, String)> = (0..3).map(|i| blob(i, &bucket)).collect();
    let bodies: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            if i == 2 {
                b"small".to_vec()
            } else {
                (0..size).map(|j| (j % 251) as u8 ^ i).collect()
            }
        })
        .collect();
    let etags = block_on(async {
        ls.create_bucket(&bucket).await;
        let c = ls.client().await;
        let mut etags = Vec::new();
        for ((_, k), body) in blobs.iter().zip(&bodies) {
            let o = c
                .put_object()
                .bucket(&bucket)
                .key(k)
                .body(ByteStream::from(body.clone()))
                .content_type("application/vnd.oci.image.layer.v1.tar+gzip")
                .metadata("origin", "test")
                .tagging("team=infra&keep=yes")
                .send()
                .await
                .unwrap();
            etags.push(o.e_tag().unwrap().trim_matches('"').to_owned());
        }
        etags
    });
    let rows: Vec<PlanRow> = (0..3)
        .map(|i| {
            row(
                &bucket,
                &blobs[i].1,
                &blobs[i].0,
                Some(&etags[i]),
                bodies[i].len(),
                "STANDARD",
                "GLACIER_IR",
                "transition",
                "copy",
            )
        })
        .collect();
    let (plan, _) = write_plan(t.path(), rows);
    let proxy = FaultProxy::start(
        &ls.endpoint(),
        FaultMix {
            slowdown: 0.2,
            internal: 0.15,
            ..FaultMix::none()
        },
        99,
    );
    proxy.fault_only(&[
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "CreateMultipartUpload",
    ]);
    let out = run(apply(t.path(), &plan)
        .args([
            "--execute",
            "--allow-bucket",
            &bucket,
            "--part-size",
            "5MiB",
        ])
        .args(["--backoff-init-ms", "10", "--backoff-max-ms", "200"])
        .env("BLOBTIER_TEST_MULTIPART_THRESHOLD", "5MiB")
        .envs(proxy.env(ls.env())));
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["results"]["copied"], 3, "{s:#}");
    let c = proxy.counts();
    let parts = c.completed_per_path("UploadPartCopy");
    assert_eq!(parts.len(), 2);
    assert!(parts.values().all(|n| *n == 3), "{parts:?}");
    assert_eq!(
        c.completed_per_path("CreateMultipartUpload")
            .values()
            .sum::<u64>(),
        2
    );
    assert_eq!(
        c.completed_per_path("CompleteMultipartUpload")
            .values()
            .sum::<u64>(),
        2
    );
    assert_eq!(c.completed_per_path("CopyObject").len(), 1);
    let injected: u64 = c.injected.values().sum();
    let retried: u64 = ["throttle", "server_error"]
        .iter()
        .map(|r| n(&s["retries"][r]))
        .sum();
    assert_eq!(retried, injected, "{c:?}");
    block_on(async {
        let cl = ls.client().await;
        for (i, (_, k)) in blobs.iter().enumerate() {
            let h = cl
                .head_object()
                .bucket(&bucket)
                .key(k)
                .send()
                .await
                .unwrap();
            assert_eq!(h.storage_class(), Some(&StorageClass::GlacierIr), "{k}");
            assert_eq!(
                h.content_type(),
                Some("application/vnd.oci.image.layer.v1.tar+gzip")
            );
            assert_eq!(
                h.metadata().unwrap().get("origin").map(String::as_str),
                Some("test")
            );
            if i < 2 {
                assert!(
                    h.e_tag().unwrap().trim_matches('"').ends_with("-3"),
                    "{:?}",
                    h.e_tag()
                );
            }
            let tags = cl
                .get_object_tagging()
                .bucket(&bucket)
                .key(k)
                .send()
                .await
                .unwrap();
            let tags: BTreeSet<(String, String)> = tags
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            assert_eq!(
                tags,
                [
                    ("keep".to_owned(), "yes".to_owned()),
                    ("team".to_owned(), "infra".to_owned())
                ]
                .into()
            );
            let o = cl.get_object().bucket(&bucket).key(k).send().await.unwrap();
            let got = o.body.collect().await.unwrap().into_bytes();
            assert!(
                got.as_ref() == bodies[i].as_slice(),
                "content of {k} changed"
            );
        }
        let ups = cl
            .list_multipart_uploads()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        assert!(
            ups.uploads().is_empty(),
            "uploads left: {:?}",
            ups.uploads()
        );
    });
}

/// In a versioned bucket the planned version is copied (CopySource `?versionId=`), the old
/// version stays, and a key whose planned version is no longer current is skipped.
#[test]
fn versioned_bucket_copies_the_planned_version_and_deletes_nothing() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-versions");
    let (d0, k0) = blob(0, &bucket);
    let (d1, k1) = blob(1, &bucket);
    let (v0, e0, v1, e1) = block_on(async {
        ls.create_bucket(&bucket).await;
        let c = ls.client().await;
        c.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let put = |k: String, body: &'static [u8]| {
            let c = c.clone();
            let b = bucket.clone();
            async move {
                let o = c
                    .put_object()
                    .bucket(&b)
                    .key(&k)
                    .body(ByteStream::from_static(body))
                    .send()
                    .await
                    .unwrap();
                (
                    o.version_id().unwrap().to_owned(),
                    o.e_tag().unwrap().trim_matches('"').to_owned(),
                )
            }
        };
        let (v0, e0) = put(k0.clone(), b"version one").await;
        let (v1, e1) = put(k1.clone(), b"planned").await;
        (v0, e0, v1, e1)
    });
    let mut r0 = row(
        &bucket,
        &k0,
        &d0,
        Some(&e0),
        11,
        "STANDARD",
        "GLACIER_IR",
        "transition",
        "copy",
    );
    r0.version_id = Some(v0.clone());
    let mut r1 = row(
        &bucket,
        &k1,
        &d1,
        Some(&e1),
        7,
        "STANDARD",
        "GLACIER_IR",
        "transition",
        "copy",
    );
    r1.version_id = Some(v1.clone());
    let (plan, _) = write_plan(t.path(), vec![r0, r1]);
    // After planning, k1 gets a newer version: copying v1 over it would roll the key back.
    block_on(async {
        ls.put_object(&bucket, &k1, b"newer".to_vec()).await;
    });
    let proxy = FaultProxy::start(&ls.endpoint(), FaultMix::none(), 3);
    let out = run(apply(t.path(), &plan)
        .args(["--execute", "--allow-bucket", &bucket])
        .envs(proxy.env(ls.env())));
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["results"]["copied"], 1, "{s:#}");
    assert_eq!(s["results"]["skipped:changed"], 1, "{s:#}");
    let c = proxy.counts();
    assert_eq!(c.seen("DeleteObject") + c.seen("DeleteObjects"), 0);
    assert_eq!(c.copy_sources.len(), 1);
    assert!(
        c.copy_sources[0].ends_with(&format!("?versionId={v0}")),
        "{:?}",
        c.copy_sources
    );
    block_on(async {
        let cl = ls.client().await;
        let vs = cl
            .list_object_versions()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        // ListObjectVersions on LocalStack lists every version as STANDARD; HEAD tells.
        let mut of: BTreeMap<String, Vec<(String, bool, String)>> = BTreeMap::new();
        for v in vs.versions() {
            let (k, id) = (v.key().unwrap(), v.version_id().unwrap());
            let h = cl
                .head_object()
                .bucket(&bucket)
                .key(k)
                .version_id(id)
                .send()
                .await
                .unwrap();
            of.entry(k.to_owned()).or_default().push((
                id.to_owned(),
                v.is_latest().unwrap_or(false),
                h.storage_class()
                    .map_or("STANDARD".into(), |c| c.as_str().to_owned()),
            ));
        }
        let of = |k: &str| of.get(k).cloned().unwrap_or_default();
        let k0v = of(&k0);
        assert_eq!(k0v.len(), 2, "{k0v:?}");
        assert!(
            k0v.iter()
                .any(|(id, latest, class)| *id == v0 && !latest && class == "STANDARD"),
            "{k0v:?}"
        );
        assert!(
            k0v.iter()
                .any(|(id, latest, class)| *id != v0 && *latest && class == "GLACIER_IR"),
            "{k0v:?}"
        );
        let k1v = of(&k1);
        assert_eq!(k1v.len(), 2);
        assert!(k1v.iter().all(|(_, _, class)| class == "STANDARD"));
        assert!(vs.delete_markers().is_empty());
    });
}

/// Lifecycle method: tags merged into the object's own, the bucket's lifecycle gains blobtier's
/// rule and keeps every existing rule and the minimum-object-size setting; a rerun changes
/// nothing; an object that would exceed 10 tags fails (exit 1).
#[test]
fn lifecycle_method_keeps_existing_rules_and_tags() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-lifecycle");
    let blobs: Vec<(String, String)> = (0..3).map(|i| blob(i, &bucket)).collect();
    let (etags, before) = block_on(async {
        ls.create_bucket(&bucket).await;
        let c = ls.client().await;
        let mut etags = Vec::new();
        for (i, (_, k)) in blobs.iter().enumerate() {
            let tagging = match i {
                0 => "team=infra".to_owned(),
                1 => String::new(),
                _ => (0..10)
                    .map(|j| format!("t{j}=v"))
                    .collect::<Vec<_>>()
                    .join("&"),
            };
            let mut p = c
                .put_object()
                .bucket(&bucket)
                .key(k)
                .body(ByteStream::from_static(b"layer"));
            if !tagging.is_empty() {
                p = p.tagging(tagging);
            }
            etags.push(
                p.send()
                    .await
                    .unwrap()
                    .e_tag()
                    .unwrap()
                    .trim_matches('"')
                    .to_owned(),
            );
        }
        let existing = vec![
            LifecycleRule::builder()
                .id("expire-uploads")
                .status(ExpirationStatus::Enabled)
                .filter(
                    LifecycleRuleFilter::builder()
                        .prefix("docker/registry/v2/repositories/")
                        .build(),
                )
                .expiration(LifecycleExpiration::builder().days(30).build())
                .build()
                .unwrap(),
            LifecycleRule::builder()
                .id("old-logs")
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
                .transitions(
                    Transition::builder()
                        .days(90)
                        .storage_class(TransitionStorageClass::Glacier)
                        .build(),
                )
                .build()
                .unwrap(),
        ];
        c.put_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(existing))
                    .build()
                    .unwrap(),
            )
            .transition_default_minimum_object_size(
                TransitionDefaultMinimumObjectSize::VariesByStorageClass,
            )
            .send()
            .await
            .unwrap();
        let before = c
            .get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        (etags, before)
    });
    // LocalStack keeps the setting, so the test can see it survive.
    assert_eq!(
        before.transition_default_minimum_object_size(),
        Some(&TransitionDefaultMinimumObjectSize::VariesByStorageClass)
    );
    let rows: Vec<PlanRow> = (0..3)
        .map(|i| {
            row(
                &bucket,
                &blobs[i].1,
                &blobs[i].0,
                Some(&etags[i]),
                5,
                "STANDARD",
                "GLACIER_IR",
                "transition",
                "lifecycle",
            )
        })
        .collect();
    let (plan, _) = write_plan(t.path(), rows);
    let proxy = FaultProxy::start(&ls.endpoint(), FaultMix::none(), 5);
    let out = run(apply(t.path(), &plan)
        .args(["--execute", "--allow-bucket", &bucket])
        .envs(proxy.env(ls.env())));
    assert_eq!(out.code(), 1, "{out}");
    let s = summary(&out);
    assert_eq!(s["results"]["tagged"], 2, "{s:#}");
    assert_eq!(s["failures"][0]["error_code"], "too_many_tags");
    assert_eq!(s["failures"][0]["key"], blobs[2].1.as_str());
    assert!(out.stderr.contains("too_many_tags"), "{out}");

    let check = || {
        block_on(async {
            let c = ls.client().await;
            let after = c
                .get_bucket_lifecycle_configuration()
                .bucket(&bucket)
                .send()
                .await
                .unwrap();
            assert_eq!(
                after.transition_default_minimum_object_size(),
                before.transition_default_minimum_object_size()
            );
            let ids: Vec<&str> = after.rules().iter().map(|r| r.id().unwrap()).collect();
            assert_eq!(ids, ["expire-uploads", "old-logs", "blobtier-tier-cold"]);
            for old in before.rules() {
                assert!(after.rules().contains(old), "{old:?} changed");
            }
            let ours = &after.rules()[2];
            assert_eq!(
                ours.filter().unwrap().tag(),
                Some(
                    &Tag::builder()
                        .key("blobtier-tier")
                        .value("cold")
                        .build()
                        .unwrap()
                )
            );
            assert_eq!(
                ours.transitions()[0].storage_class(),
                Some(&TransitionStorageClass::GlacierIr)
            );
            let tags = |k: String| {
                let c = c.clone();
                let b = bucket.clone();
                async move {
                    let o = c
                        .get_object_tagging()
                        .bucket(&b)
                        .key(&k)
                        .send()
                        .await
                        .unwrap();
                    o.tag_set()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().to_owned()))
                        .collect::<BTreeSet<_>>()
                }
            };
            let t0 = tags(blobs[0].1.clone()).await;
            assert_eq!(
                t0,
                [
                    ("blobtier-tier".to_owned(), "cold".to_owned()),
                    ("team".to_owned(), "infra".to_owned())
                ]
                .into()
            );
            assert_eq!(tags(blobs[1].1.clone()).await.len(), 1);
            assert_eq!(tags(blobs[2].1.clone()).await.len(), 10);
        })
    };
    check();
    let puts = proxy.counts().seen("PutBucketLifecycleConfiguration");
    assert_eq!(puts, 1);

    // Rerun: the tagged objects are done; the rules are in place, so no lifecycle write.
    let out = run(apply(t.path(), &plan)
        .args(["--execute", "--allow-bucket", &bucket])
        .envs(proxy.env(ls.env())));
    assert_eq!(out.code(), 1, "{out}");
    let s = summary(&out);
    assert_eq!(s["done_in_earlier_runs"], 2, "{s:#}");
    assert_eq!(proxy.counts().seen("PutBucketLifecycleConfiguration"), 1);
    check();
}

/// A restore still in progress (`ongoing-request="true"`, shown by the proxy for the first
/// HEADs) is left for the next run: not re-requested, not failed. Once it has finished, the
/// object is copied back to STANDARD.
#[test]
fn restore_in_progress_is_left_for_the_next_run() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-restore");
    let (d, k) = blob(0, &bucket);
    let etag = block_on(async {
        ls.create_bucket(&bucket).await;
        let c = ls.client().await;
        let o = c
            .put_object()
            .bucket(&bucket)
            .key(&k)
            .body(ByteStream::from_static(b"archived layer"))
            .storage_class(StorageClass::Glacier)
            .send()
            .await
            .unwrap();
        o.e_tag().unwrap().trim_matches('"').to_owned()
    });
    let mut r = row(
        &bucket,
        &k,
        &d,
        Some(&etag),
        14,
        "GLACIER",
        "STANDARD",
        "restore",
        "copy",
    );
    r.tier = "reheat".into();
    r.reason = "restore:bulk".into();
    let (plan, id) = write_plan(t.path(), vec![r]);
    let proxy = FaultProxy::start(&ls.endpoint(), FaultMix::none(), 11);
    proxy.restore_ongoing_for(2);
    let go = || {
        run(apply(t.path(), &plan)
            .args(["--execute", "--allow-bucket", &bucket])
            .envs(proxy.env(ls.env())))
    };
    for round in 1..=2 {
        let out = go();
        out.assert_success();
        let s = summary(&out);
        assert_eq!(s["pending"], 1, "round {round}: {s:#}");
        assert!(s["failures"].as_array().unwrap().is_empty());
        assert_eq!(proxy.counts().seen("RestoreObject"), 1, "round {round}");
        assert_eq!(proxy.counts().seen("CopyObject"), 0);
    }
    let out = go();
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["results"]["restored"], 1, "{s:#}");
    assert_eq!(s["pending"], 0);
    let c = proxy.counts();
    assert_eq!(c.seen("RestoreObject"), 1);
    assert_eq!(c.restore_rewrites, 2);
    assert_eq!(c.completed_per_path("CopyObject").len(), 1);
    assert_eq!(
        block_on(async { head_class(&ls.client().await, &bucket, &k).await }),
        "STANDARD"
    );
    let lines = journal(&journal_file(&t.path().join("journal"), &id));
    let states: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "action" && l["state"] != "started")
        .map(|l| l["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["restore_requested", "pending", "pending", "done"]);
}

/// A copy keeps what S3 would otherwise drop or change: a non-default ACL (re-sent as grants) and
/// SSE-S3 encryption. SSE-C objects are skipped with a reason.
#[test]
fn copy_keeps_acl_and_encryption_and_skips_sse_c() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-acl");
    let blobs: Vec<(String, String)> = (0..3).map(|i| blob(i, &bucket)).collect();
    let key = [7u8; 32];
    let key_b64 = base64_encode(&key);
    let key_md5 = base64_encode(&md5_digest(&key));
    let etags = block_on(async {
        ls.create_bucket(&bucket).await;
        let c = ls.client().await;
        let e0 = c
            .put_object()
            .bucket(&bucket)
            .key(&blobs[0].1)
            .body(ByteStream::from_static(b"public layer"))
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await
            .unwrap();
        let e1 = c
            .put_object()
            .bucket(&bucket)
            .key(&blobs[1].1)
            .body(ByteStream::from_static(b"encrypted layer"))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .unwrap();
        let e2 = c
            .put_object()
            .bucket(&bucket)
            .key(&blobs[2].1)
            .body(ByteStream::from_static(b"customer key layer"))
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key_b64)
            .sse_customer_key_md5(&key_md5)
            .send()
            .await
            .unwrap();
        [e0, e1, e2].map(|o| o.e_tag().unwrap_or("").trim_matches('"').to_owned())
    });
    let rows: Vec<PlanRow> = (0..3)
        .map(|i| {
            row(
                &bucket,
                &blobs[i].1,
                &blobs[i].0,
                Some(&etags[i]),
                12,
                "STANDARD",
                "STANDARD_IA",
                "transition",
                "copy",
            )
        })
        .collect();
    let (plan, _) = write_plan(t.path(), rows);
    let out = run(apply(t.path(), &plan)
        .args(["--execute", "--allow-bucket", &bucket])
        .envs(ls.env()));
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["results"]["copied"], 2, "{s:#}");
    assert_eq!(s["results"]["skipped:sse_c"], 1, "{s:#}");
    block_on(async {
        let c = ls.client().await;
        let acl = c
            .get_object_acl()
            .bucket(&bucket)
            .key(&blobs[0].1)
            .send()
            .await
            .unwrap();
        assert!(
            acl.grants()
                .iter()
                .any(|g| g.grantee().and_then(|x| x.uri())
                    == Some("http://acs.amazonaws.com/groups/global/AllUsers")
                    && g.permission().map(|p| p.as_str()) == Some("READ")),
            "{:?}",
            acl.grants()
        );
        assert_eq!(head_class(&c, &bucket, &blobs[0].1).await, "STANDARD_IA");
        let h = c
            .head_object()
            .bucket(&bucket)
            .key(&blobs[1].1)
            .send()
            .await
            .unwrap();
        assert_eq!(
            h.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        assert_eq!(h.storage_class(), Some(&StorageClass::StandardIa));
    });
}

fn base64_encode(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn md5_digest(b: &[u8]) -> Vec<u8> {
    use md5::Digest as _;
    md5::Md5::digest(b).to_vec()
}

/// `--max-actions` stops starting actions; the next run does the rest; `--batch-manifest` writes
/// files only.
#[test]
fn limits_leave_work_for_the_next_run_and_batch_manifest_writes_files() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-limits");
    let blobs: Vec<(String, String)> = (0..6).map(|i| blob(i, &bucket)).collect();
    let objs: Vec<(String, Vec<u8>)> = blobs
        .iter()
        .map(|(_, k)| (k.clone(), vec![1u8; 100]))
        .collect();
    let etags = block_on(async {
        ls.create_bucket(&bucket).await;
        put_all(&ls.client().await, &bucket, &objs).await
    });
    let rows: Vec<PlanRow> = (0..6)
        .map(|i| {
            row(
                &bucket,
                &blobs[i].1,
                &blobs[i].0,
                Some(&etags[i]),
                100,
                "STANDARD",
                "ONEZONE_IA",
                "transition",
                "copy",
            )
        })
        .collect();
    let (plan, _) = write_plan(t.path(), rows);

    let dir = t.path().join("batch");
    let out = run(apply(t.path(), &plan).arg("--batch-manifest").arg(&dir));
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["manifests"][0]["objects"], 6);
    let csv =
        std::fs::read_to_string(dir.join(s["manifests"][0]["manifest"].as_str().unwrap())).unwrap();
    assert_eq!(csv.lines().count(), 6);
    assert!(dir.join("README.md").is_file());

    let go = |extra: &[&str]| {
        run(apply(t.path(), &plan)
            .args(["--execute", "--allow-bucket", &bucket, "--concurrency", "1"])
            .args(extra)
            .envs(ls.env()))
    };
    let out = go(&["--max-actions", "2"]);
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["results"]["copied"], 2);
    assert_eq!(s["not_started"], 4);
    assert_eq!(s["stopped_by"], "max_actions");
    let out = go(&["--max-bytes", "250"]);
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["results"]["copied"], 2, "{s:#}");
    assert_eq!(s["stopped_by"], "max_bytes");
    let out = go(&[]);
    out.assert_success();
    let s = summary(&out);
    assert_eq!(s["results"]["copied"], 2);
    assert_eq!(s["done_in_earlier_runs"], 4);
    let now = block_on(async { classes(&ls.client().await, &bucket).await });
    assert!(now.values().all(|c| c == "ONEZONE_IA"));
}

/// Not a test: actions/s at concurrency 1, 8, 32 and 64 for each journal fsync mode
/// (`batched`, the default; `every` line; `off`), each run 3 times (median), on LocalStack
/// without faults. LocalStack's run-to-run noise is larger than the journal's cost, so the
/// journal's share is taken from its own accounting in each run's summary
/// (`journal_overhead`: time actions spent inside the journal / total action time;
/// `journal_busy_share`: the journal's own work / wall time), not from differences of
/// throughput. Prints a Markdown table (`docs/benchmarks.md`); asserts only that every action
/// was done. `BLOBTIER_BENCH_ACTIONS` (default 300) actions per run.
/// `cargo test --test it -- --ignored --nocapture apply::bench_apply_throughput`
#[test]
#[ignore = "benchmark; run by hand"]
fn bench_apply_throughput() {
    const REPS: usize = 3;
    let count: usize = std::env::var("BLOBTIER_BENCH_ACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let concurrencies = [1usize, 8, 32, 64];
    let modes = ["batched", "every", "off"];
    // Per run: actions/s, journal overhead, journal busy share, fsyncs.
    type Run = (f64, f64, f64, u64);
    let mut runs: BTreeMap<(usize, &str), Vec<Run>> = BTreeMap::new();
    // Modes interleaved within each repetition, so that drift of the machine or of LocalStack
    // does not favour one mode.
    for rep in 0..REPS {
        for concurrency in concurrencies {
            for mode in modes {
                let bucket = ls.unique_bucket("apply-bench");
                let blobs: Vec<(String, String)> = (0..count).map(|i| blob(i, &bucket)).collect();
                let objs: Vec<(String, Vec<u8>)> = blobs
                    .iter()
                    .map(|(_, k)| (k.clone(), vec![0u8; 1024]))
                    .collect();
                let etags = block_on(async {
                    ls.create_bucket(&bucket).await;
                    put_all(&ls.client().await, &bucket, &objs).await
                });
                let rows: Vec<PlanRow> = (0..count)
                    .map(|i| {
                        row(
                            &bucket,
                            &blobs[i].1,
                            &blobs[i].0,
                            Some(&etags[i]),
                            1024,
                            "STANDARD",
                            "STANDARD_IA",
                            "transition",
                            "copy",
                        )
                    })
                    .collect();
                let dir = t.path().join(&bucket);
                std::fs::create_dir_all(&dir).unwrap();
                let (plan, _) = write_plan(&dir, rows);
                let out = run(apply(&dir, &plan)
                    .args([
                        "--execute",
                        "--allow-bucket",
                        &bucket,
                        "--concurrency",
                        &concurrency.to_string(),
                        "--journal-fsync",
                        mode,
                    ])
                    .envs(ls.env()));
                out.assert_success();
                let s = summary(&out);
                assert_eq!(n(&s["results"]["copied"]), count as u64);
                let secs = s["duration_seconds"].as_f64().unwrap();
                let r = (
                    count as f64 / secs,
                    s["journal_overhead"].as_f64().unwrap(),
                    s["journal_busy_share"].as_f64().unwrap(),
                    n(&s["journal_fsyncs"]),
                );
                eprintln!(
                    "rep {rep} concurrency {concurrency:>2} {mode:<7} {:>6.1} actions/s  overhead {:.4}%  busy {:.3}%  {} fsyncs",
                    r.0,
                    r.1 * 100.0,
                    r.2 * 100.0,
                    r.3
                );
                runs.entry((concurrency, mode)).or_default().push(r);
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut table = vec![
        format!("{count} copy actions per run, median of {REPS} runs"),
        String::new(),
        "| concurrency | journal fsync | actions/s | journal overhead (share of action time) | journal busy (share of wall time) | fsyncs |".into(),
        "|---|---|---|---|---|---|".into(),
    ];
    for concurrency in concurrencies {
        for mode in modes {
            let v = &runs[&(concurrency, mode)];
            table.push(format!(
                "| {concurrency} | {mode} | {:.1} | {:.3} % | {:.3} % | {:.0} |",
                median(v.iter().map(|r| r.0).collect()),
                median(v.iter().map(|r| r.1 * 100.0).collect()),
                median(v.iter().map(|r| r.2 * 100.0).collect()),
                median(v.iter().map(|r| r.3 as f64).collect()),
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
}

/// Per-object single flight: two plan rows for one key never run at the same time; they run in
/// plan order (the journal shows the second start after the first is done).
#[test]
fn rows_for_the_same_key_run_one_after_the_other() {
    const KEYS: usize = 12;
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-single-flight");
    let blobs: Vec<(String, String)> = (0..KEYS).map(|i| blob(i, &bucket)).collect();
    let objs: Vec<(String, Vec<u8>)> = blobs
        .iter()
        .map(|(_, k)| (k.clone(), vec![9u8; 64]))
        .collect();
    let etags = block_on(async {
        ls.create_bucket(&bucket).await;
        put_all(&ls.client().await, &bucket, &objs).await
    });
    let mut rows = Vec::new();
    for (to, _) in [("STANDARD_IA", 0), ("GLACIER_IR", 1)] {
        for i in 0..KEYS {
            rows.push(row(
                &bucket,
                &blobs[i].1,
                &blobs[i].0,
                Some(&etags[i]),
                64,
                "STANDARD",
                to,
                "transition",
                "copy",
            ));
        }
    }
    let (plan, id) = write_plan(t.path(), rows);
    let out = run(apply(t.path(), &plan)
        .args([
            "--execute",
            "--allow-bucket",
            &bucket,
            "--concurrency",
            "32",
            "-v",
        ])
        .envs(ls.env()));
    out.assert_success();
    let s = summary(&out);
    assert_eq!(n(&s["results"]["copied"]), 2 * KEYS as u64, "{s:#}");
    // Progress without a terminal: one final line with the counts and bytes, no bar.
    let done = format!(
        "apply finished: copied {}: {}/{} actions (100%)",
        2 * KEYS,
        2 * KEYS,
        2 * KEYS
    );
    assert!(out.stderr.contains(&done), "missing `{done}`:\n{out}");
    assert_eq!(2 * KEYS * 64, 1536);
    assert!(out.stderr.contains(", 1.5 KiB ("), "{out}");
    assert!(!out.stderr.contains('\x1b'), "escape codes:\n{out}");
    // The journal accounts its own time: every line it wrote, and a share of the actions'
    // time that is a fraction (its size is measured by `bench_apply_throughput`).
    let lines = journal(&journal_file(&t.path().join("journal"), &id));
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
    let now = block_on(async { classes(&ls.client().await, &bucket).await });
    assert!(now.values().all(|c| c == "GLACIER_IR"));
}

/// The lifecycle read-merge-write notices a concurrent writer: another client adds a rule right
/// after apply's first read; apply reads again before writing, sees the change, starts over, and
/// the other writer's rule survives next to the existing ones and blobtier's.
#[test]
fn lifecycle_merge_detects_a_concurrent_writer() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("apply-lc-race");
    let (d, k) = blob(0, &bucket);
    let rule = |id: &str, prefix: &str| {
        LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
            .expiration(LifecycleExpiration::builder().days(30).build())
            .build()
            .unwrap()
    };
    let put_rules = |rules: Vec<LifecycleRule>| {
        let bucket = bucket.clone();
        async move {
            ls.client()
                .await
                .put_bucket_lifecycle_configuration()
                .bucket(&bucket)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
    };
    let etag = block_on(async {
        ls.create_bucket(&bucket).await;
        put_rules(vec![rule("existing", "tmp/")]).await;
        let c = ls.client().await;
        let o = c
            .put_object()
            .bucket(&bucket)
            .key(&k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        o.e_tag().unwrap().trim_matches('"').to_owned()
    });
    let r = row(
        &bucket,
        &k,
        &d,
        Some(&etag),
        1,
        "STANDARD",
        "DEEP_ARCHIVE",
        "transition",
        "lifecycle",
    );
    let (plan, _) = write_plan(t.path(), vec![r]);
    let proxy = FaultProxy::start(&ls.endpoint(), FaultMix::none(), 13);
    {
        let bucket = bucket.clone();
        proxy.after("GetBucketLifecycleConfiguration", 1, move || {
            block_on(async {
                let c = ls.client().await;
                c.put_bucket_lifecycle_configuration()
                    .bucket(&bucket)
                    .lifecycle_configuration(
                        BucketLifecycleConfiguration::builder()
                            .set_rules(Some(vec![
                                rule("existing", "tmp/"),
                                rule("someone-else", "cache/"),
                            ]))
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                    .unwrap();
            })
        });
    }
    let out = run(apply(t.path(), &plan)
        .args(["--execute", "--allow-bucket", &bucket])
        .envs(proxy.env(ls.env())));
    out.assert_success();
    assert_eq!(summary(&out)["results"]["tagged"], 1);
    let c = proxy.counts();
    // read, read again (changed: start over), read, read again, write, read back.
    assert_eq!(c.seen("GetBucketLifecycleConfiguration"), 5, "{c:?}");
    assert_eq!(c.seen("PutBucketLifecycleConfiguration"), 1);
    let ids: Vec<String> = block_on(async {
        let c = ls.client().await;
        let o = c
            .get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        o.rules()
            .iter()
            .map(|r| r.id().unwrap().to_owned())
            .collect()
    });
    assert_eq!(ids, ["existing", "someone-else", "blobtier-tier-cold"]);
}
