//! Versioned buckets: apply reads the bucket's versioning (GetBucketVersioning) and, when asked
//! (`--noncurrent-expiration` or `apply.noncurrent_expiration`), merges a
//! `NoncurrentVersionExpiration` rule scoped to the allowed prefix into the bucket's lifecycle
//! configuration, keeping every other rule, once. See: issue 15.

use aws_sdk_s3::types::{
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
};

use super::{run_ok, Scene};

const PREFIX: &str = "docker/registry/v2/blobs/";

/// Someone else's rule: expire uploads after 30 days.
fn their_rule() -> LifecycleRule {
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
        .unwrap()
}

/// `apply --execute` allowed only under the blobs prefix, with `extra` arguments.
fn execute(sc: &Scene, plan: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut c = sc.apply(plan);
    let allow = format!("{}/{}", sc.bucket, PREFIX.trim_end_matches('/'));
    c.args(["--execute", "--allow-bucket", &allow]).args(extra);
    c.envs(sc.ls.env());
    run_ok(&mut c)
}

#[test]
fn noncurrent_expiration_is_installed_in_versioned_buckets_when_asked_and_only_once() {
    let sc = Scene::new("apply-noncurrent");
    sc.enable_versioning();
    sc.put_lifecycle(vec![their_rule()]);
    // A plan made from a current-versions inventory: the rows name no version.
    let (blob, _) = sc.put(0, "layer", |p| p);
    let (plan, _) = sc.plan(vec![blob.copy().build()]);

    // Without the flag: versioning read and reported, the lifecycle left alone.
    let s = execute(&sc, &plan, &[]);
    assert_eq!(s["results"]["copied"], 1, "{s:#}");
    let v = &s["versioning"][&sc.bucket];
    assert_eq!(v["status"], "enabled", "{s:#}");
    assert_eq!(v["plan_version_ids"], false, "{s:#}");
    assert!(v.get("noncurrent_rule").is_none(), "{s:#}");
    assert_eq!(sc.lifecycle().rules(), [their_rule()]);

    // With the key in the config (9 days): the rule, scoped to the allowed prefix, is added
    // beside the existing one. The plan's actions are done: only the rule is new.
    std::fs::write(
        sc.path().join("blobtier.toml"),
        "[plan]\nnoncurrent_days = 9\n[apply]\nnoncurrent_expiration = true\n",
    )
    .unwrap();
    for run in 0..2 {
        let s = execute(&sc, &plan, &[]);
        assert_eq!(
            s["versioning"][&sc.bucket]["noncurrent_rule"], "in_place",
            "run {run}: {s:#}"
        );
        let rules = sc.lifecycle().rules().to_vec();
        assert_eq!(rules.len(), 2, "run {run}: {rules:?}");
        assert_eq!(rules[0], their_rule());
        let ours = &rules[1];
        assert_eq!(
            ours.id(),
            Some(format!("blobtier-noncurrent@{PREFIX}").as_str())
        );
        assert_eq!(ours.status(), &ExpirationStatus::Enabled);
        let prefix = ours.filter().and_then(|f| f.prefix());
        assert_eq!(prefix, Some(PREFIX), "{ours:?}");
        assert_eq!(
            ours.noncurrent_version_expiration()
                .and_then(|e| e.noncurrent_days()),
            Some(9)
        );
        assert!(ours.transitions().is_empty() && ours.expiration().is_none());
    }
    // The flag does the same and changes nothing more.
    std::fs::remove_file(sc.path().join("blobtier.toml")).unwrap();
    let s = execute(&sc, &plan, &["--noncurrent-expiration"]);
    assert_eq!(s["versioning"][&sc.bucket]["noncurrent_rule"], "in_place");
    let rules = sc.lifecycle().rules().to_vec();
    assert_eq!(rules.len(), 2, "{rules:?}");
    // Back to the default 30 days: replaced in place, not duplicated.
    assert_eq!(
        rules[1]
            .noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        Some(30)
    );
}

/// An unversioned bucket gets no rule, even when asked.
#[test]
fn unversioned_buckets_get_no_noncurrent_rule() {
    let sc = Scene::new("apply-unversioned");
    let (blob, _) = sc.put(0, "layer", |p| p);
    let (plan, _) = sc.plan(vec![blob.copy().build()]);
    let s = execute(&sc, &plan, &["--noncurrent-expiration"]);
    let v = &s["versioning"][&sc.bucket];
    assert_eq!(v["status"], "off", "{s:#}");
    assert!(v.get("noncurrent_rule").is_none(), "{s:#}");
    let none = sc.s3(async |c| {
        let req = c.get_bucket_lifecycle_configuration().bucket(&sc.bucket);
        req.send().await.is_err()
    });
    assert!(none, "no lifecycle configuration was written");
}
