//! Issue 6's scale test: many copies through a proxy that injects faults into a large share of
//! the requests.

use std::time::Instant;

use super::{done_per_action, n, run_ok, Scene};
use crate::support::fault_proxy::{Fault, FaultMix, FaultProxy};

/// 2,000 copies through a proxy that injects 503 SlowDown, 500, connection resets and stalls at
/// more than 20% of requests. Every object ends in its class, no copy reaches the server twice,
/// and the retry metrics equal what the proxy injected.
#[test]
fn two_thousand_copies_through_faults_each_done_once() {
    const N: usize = 2000;
    let targets = [
        "STANDARD_IA",
        "GLACIER_IR",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
    ];
    let (sc, blobs) = Scene::with_blobs("apply-faults", N, |i| format!("layer {i}").into_bytes());
    let rows = blobs
        .iter()
        .enumerate()
        .map(|(i, b)| b.copy().to(targets[i % 4]).build())
        .collect();
    let (plan, id) = sc.plan(rows);
    let proxy = FaultProxy::start(
        &sc.ls.endpoint(),
        FaultMix {
            slowdown: 0.08,
            internal: 0.06,
            reset: 0.06,
            stall: 0.005,
            delay: 0.03,
        },
        0x5eed,
    );
    let metrics = sc.path().join("apply.prom");
    let started = Instant::now();
    let s = run_ok(
        sc.execute(&plan, Some(&proxy))
            .args(["--concurrency", "16"])
            .arg("--metrics-file")
            .arg(&metrics)
            .args([
                "--attempt-timeout",
                "5",
                "--backoff-init-ms",
                "20",
                "--backoff-max-ms",
                "1000",
            ]),
    );
    let elapsed = started.elapsed();
    assert_eq!(n(&s["results"]["copied"]), N as u64, "{s:#}");
    assert!(s["failures"].as_array().unwrap().is_empty());

    let now = sc.classes();
    for (i, b) in blobs.iter().enumerate() {
        assert_eq!(now[&b.key], targets[i % 4], "{}", b.key);
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
    // there are none. Nor are there answers the client gave up on before the proxy sent them
    // (its attempt timed out while a loaded server was slow): those it counted as timeouts.
    let seen: u64 = c.seen.values().sum();
    let injected: u64 = c.injected.values().sum();
    assert!(
        injected * 5 >= seen,
        "only {injected} faults in {seen} requests"
    );
    let gave_up: u64 = c.gave_up.values().sum();
    for (reason, want) in [
        (
            "throttle",
            c.injected(Fault::SlowDown) - c.gave_up("slowdown"),
        ),
        (
            "server_error",
            c.injected(Fault::Internal) + c.upstream_5xx()
                - c.gave_up("internal")
                - c.gave_up("upstream_5xx"),
        ),
        (
            "connection",
            c.injected(Fault::Reset) + c.upstream_failures - c.gave_up("reset"),
        ),
        ("timeout", c.injected(Fault::Stall) + gave_up),
    ] {
        assert_eq!(n(&s["retries"][reason]), want, "{reason}: {s:#}\n{c:?}");
    }
    assert_eq!(
        n(&s["throttles"]),
        c.injected(Fault::SlowDown) - c.gave_up("slowdown")
    );
    for op in ["HeadObject", "GetObjectAcl", "CopyObject"] {
        assert_eq!(n(&s["requests"][op]), c.seen(op), "{op}");
    }

    // The journal: each action done exactly once, bracketed by start and end.
    let lines = sc.journal(&id);
    let done = done_per_action(&lines);
    assert_eq!(done.len(), N);
    assert!(done.values().all(|n| *n == 1));
    assert_eq!(lines.first().unwrap()["type"], "start");
    assert_eq!(lines.last().unwrap()["type"], "end");
    assert!(lines.iter().all(|l| l["v"] == 1));

    let prom = std::fs::read_to_string(&metrics).unwrap();
    for want in [
        format!("blobtier_apply_actions_total{{action=\"copy\",result=\"copied\"}} {N}"),
        format!(
            "blobtier_apply_retries_total{{reason=\"throttle\"}} {}",
            c.injected(Fault::SlowDown)
        ),
        "blobtier_apply_duration_seconds_bucket".to_owned(),
    ] {
        assert!(prom.contains(&want), "missing `{want}` in\n{prom}");
    }
    eprintln!(
        "apply: {N} actions in {:.1} s; {seen} requests, {injected} faults injected {:?}; retries counted {}",
        elapsed.as_secs_f64(),
        c.injected,
        s["retries"]
    );

    // A rerun finds everything done in the journal and sends nothing.
    let before = proxy.counts().seen.values().sum::<u64>();
    let s = run_ok(&mut sc.execute(&plan, Some(&proxy)));
    assert_eq!(n(&s["done_in_earlier_runs"]), N as u64);
    assert_eq!(proxy.counts().seen.values().sum::<u64>(), before);
}
