//! The restore action: RestoreObject, then — once the restore has finished, possibly in a later
//! run — a copy back to the target class.

use aws_sdk_s3::types::StorageClass;

use super::{run_ok, Scene};
use crate::support::fault_proxy::{FaultMix, FaultProxy};

/// A restore still in progress (`ongoing-request="true"`, shown by the proxy for the first
/// HEADs) is left for the next run: not re-requested, not failed. Once it has finished, the
/// object is copied back to STANDARD.
#[test]
fn restore_in_progress_is_left_for_the_next_run() {
    let sc = Scene::new("apply-restore");
    let (blob, _) = sc.put(0, "archived layer", |p| {
        p.storage_class(StorageClass::Glacier)
    });
    let (plan, id) = sc.plan(vec![blob.restore().build()]);
    let proxy = FaultProxy::start(&sc.ls.endpoint(), FaultMix::none(), 11);
    proxy.restore_ongoing_for(2);
    for round in 1..=2 {
        let s = run_ok(&mut sc.execute(&plan, Some(&proxy)));
        assert_eq!(s["pending"], 1, "round {round}: {s:#}");
        assert!(s["failures"].as_array().unwrap().is_empty());
        assert_eq!(proxy.counts().seen("RestoreObject"), 1, "round {round}");
        assert_eq!(proxy.counts().seen("CopyObject"), 0);
    }
    let s = run_ok(&mut sc.execute(&plan, Some(&proxy)));
    assert_eq!(s["results"]["restored"], 1, "{s:#}");
    assert_eq!(s["pending"], 0);
    let c = proxy.counts();
    assert_eq!(c.seen("RestoreObject"), 1);
    assert_eq!(c.restore_rewrites, 2);
    assert_eq!(c.completed_per_path("CopyObject").len(), 1);
    assert_eq!(sc.head_class(&blob.key), "STANDARD");
    let states: Vec<String> = sc
        .journal(&id)
        .iter()
        .filter(|l| l["type"] == "action" && l["state"] != "started")
        .map(|l| l["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["restore_requested", "pending", "pending", "done"]);
}
