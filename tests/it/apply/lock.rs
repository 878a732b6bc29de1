//! One `apply --execute` per plan at a time, across processes: a second one exits 2 naming
//! the holder and touches nothing. See: issue 15.

use std::sync::{Arc, Mutex, OnceLock};

use super::Scene;
use crate::support::cli::{run, Output};
use crate::support::fault_proxy::{FaultMix, FaultProxy};

/// Two `apply --execute` of one plan started together: the second starts while the first is
/// waiting for the answer to its first HEAD (the proxy holds that answer back until the
/// second has exited). The second exits 2 naming the first's pid and sends nothing; the
/// first copies every object exactly once (per-path counts at the proxy).
#[test]
fn two_applies_of_one_plan_one_exits_2_and_every_object_is_copied_once() {
    let (sc, blobs) = Scene::with_blobs("apply-lock", 6, |i| format!("layer {i}").into_bytes());
    let (plan, _) = sc.plan(blobs.iter().map(|b| b.copy().build()).collect());
    let proxy = Arc::new(FaultProxy::start(&sc.ls.endpoint(), FaultMix::none(), 3));
    let second: Arc<Mutex<Option<Output>>> = Arc::default();
    let first_pid: Arc<OnceLock<u32>> = Arc::default();
    let mut cmd2 = sc.execute(&plan, Some(&proxy));
    {
        let second = second.clone();
        proxy.after("HeadObject", 1, move || {
            *second.lock().unwrap() = Some(run(&mut cmd2));
        });
    }
    let mut cmd1 = sc.execute(&plan, Some(&proxy));
    cmd1.args(["--concurrency", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd1.spawn().unwrap();
    first_pid.set(child.id()).unwrap();
    let first = child.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = second.lock().unwrap().take().expect("the second apply ran");
    assert_eq!(second.code(), 2, "{second}");
    let pid = first_pid.get().unwrap();
    assert!(
        second.stderr.contains("already applying") && second.stderr.contains(&format!("pid {pid}")),
        "the second apply must name the holder\n{second}"
    );
    let copies = proxy.counts().completed_per_path("CopyObject");
    assert_eq!(copies.len(), blobs.len(), "{copies:?}");
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");
    let s: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(s["results"]["copied"], 6, "{s:#}");
}
