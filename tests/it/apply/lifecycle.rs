//! The lifecycle method: tag the object, and make sure once per run that the bucket's lifecycle
//! configuration holds blobtier's rule, by a read-merge-write that keeps everything else.

use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, Tag, Transition, TransitionDefaultMinimumObjectSize,
    TransitionStorageClass,
};

use super::{put_lifecycle, run_ok, summary, Scene};
use crate::support::cli::run;
use crate::support::fault_proxy::{FaultMix, FaultProxy};

/// A rule that expires objects under `prefix` after 30 days (someone else's rule).
fn expiry_rule(id: &str, prefix: &str) -> LifecycleRule {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .expiration(LifecycleExpiration::builder().days(30).build())
        .build()
        .unwrap()
}

/// Lifecycle method: tags merged into the object's own, the bucket's lifecycle gains blobtier's
/// rule and keeps every existing rule and the minimum-object-size setting; a rerun changes
/// nothing; an object that would exceed 10 tags fails (exit 1).
#[test]
fn lifecycle_method_keeps_existing_rules_and_tags() {
    let sc = Scene::new("apply-lifecycle");
    let blobs: Vec<_> = (0..3)
        .map(|i| {
            let tagging = match i {
                0 => "team=infra".to_owned(),
                1 => String::new(),
                _ => (0..10)
                    .map(|j| format!("t{j}=v"))
                    .collect::<Vec<_>>()
                    .join("&"),
            };
            let shape = |p: PutObjectFluentBuilder| {
                if tagging.is_empty() {
                    p
                } else {
                    p.tagging(tagging)
                }
            };
            sc.put(i, "layer", shape).0
        })
        .collect();
    let existing = vec![
        expiry_rule("expire-uploads", "docker/registry/v2/repositories/"),
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
    sc.s3(async |c| {
        let config = BucketLifecycleConfiguration::builder()
            .set_rules(Some(existing))
            .build()
            .unwrap();
        let req = c.put_bucket_lifecycle_configuration().bucket(&sc.bucket);
        req.lifecycle_configuration(config)
            .transition_default_minimum_object_size(
                TransitionDefaultMinimumObjectSize::VariesByStorageClass,
            )
            .send()
            .await
            .unwrap()
    });
    let before = sc.lifecycle();
    // LocalStack keeps the setting, so the test can see it survive.
    assert_eq!(
        before.transition_default_minimum_object_size(),
        Some(&TransitionDefaultMinimumObjectSize::VariesByStorageClass)
    );
    let (plan, _) = sc.plan(blobs.iter().map(|b| b.lifecycle().build()).collect());
    let proxy = FaultProxy::start(&sc.ls.endpoint(), FaultMix::none(), 5);
    let out = run(&mut sc.execute(&plan, Some(&proxy)));
    assert_eq!(out.code(), 1, "{out}");
    let s = summary(&out);
    assert_eq!(s["results"]["tagged"], 2, "{s:#}");
    assert_eq!(s["failures"][0]["error_code"], "too_many_tags");
    assert_eq!(s["failures"][0]["key"], blobs[2].key.as_str());
    assert!(out.stderr.contains("too_many_tags"), "{out}");

    let check = || {
        let after = sc.lifecycle();
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
        assert_eq!(
            sc.tags(&blobs[0].key),
            [
                ("blobtier-tier".to_owned(), "cold".to_owned()),
                ("team".to_owned(), "infra".to_owned())
            ]
            .into()
        );
        assert_eq!(sc.tags(&blobs[1].key).len(), 1);
        assert_eq!(sc.tags(&blobs[2].key).len(), 10);
    };
    check();
    let puts = proxy.counts().seen("PutBucketLifecycleConfiguration");
    assert_eq!(puts, 1);

    // Rerun: the tagged objects are done; the rules are in place, so no lifecycle write.
    let out = run(&mut sc.execute(&plan, Some(&proxy)));
    assert_eq!(out.code(), 1, "{out}");
    let s = summary(&out);
    assert_eq!(s["done_in_earlier_runs"], 2, "{s:#}");
    assert_eq!(proxy.counts().seen("PutBucketLifecycleConfiguration"), 1);
    check();
}

/// The lifecycle read-merge-write notices a concurrent writer: another client adds a rule right
/// after apply's first read; apply reads again before writing, sees the change, starts over, and
/// the other writer's rule survives next to the existing ones and blobtier's.
#[test]
fn lifecycle_merge_detects_a_concurrent_writer() {
    let sc = Scene::new("apply-lc-race");
    sc.put_lifecycle(vec![expiry_rule("existing", "tmp/")]);
    let (blob, _) = sc.put(0, "x", |p| p);
    let (plan, _) = sc.plan(vec![blob.lifecycle().to("DEEP_ARCHIVE").build()]);
    let proxy = FaultProxy::start(&sc.ls.endpoint(), FaultMix::none(), 13);
    let (ls, bucket) = (sc.ls, sc.bucket.clone());
    proxy.after("GetBucketLifecycleConfiguration", 1, move || {
        let rules = vec![
            expiry_rule("existing", "tmp/"),
            expiry_rule("someone-else", "cache/"),
        ];
        put_lifecycle(ls, &bucket, rules);
    });
    let s = run_ok(&mut sc.execute(&plan, Some(&proxy)));
    assert_eq!(s["results"]["tagged"], 1);
    let c = proxy.counts();
    // read, read again (changed: start over), read, read again, write, read back.
    assert_eq!(c.seen("GetBucketLifecycleConfiguration"), 5, "{c:?}");
    assert_eq!(c.seen("PutBucketLifecycleConfiguration"), 1);
    let ids: Vec<String> = sc
        .lifecycle()
        .rules()
        .iter()
        .map(|r| r.id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["existing", "someone-else", "blobtier-tier-cold"]);
}

/// With only a prefix allowed, the lifecycle rule blobtier writes is limited to that prefix
/// (and its tag), never bucket-wide; and a prefix allows keys on `/` boundaries only, so
/// `…/v2/blob` does not allow `…/v2/blobs/…`. See: issue 15.
#[test]
fn lifecycle_rules_are_scoped_to_the_allowed_prefix() {
    let (sc, blobs) = Scene::with_blobs("apply-lc-scope", 2, |i| format!("b{i}").into_bytes());
    let (plan, _) = sc.plan(blobs.iter().map(|b| b.lifecycle().build()).collect());
    let execute_under = |prefix: &str| {
        let mut c = sc.apply(&plan);
        c.args(["--execute", "--allow-bucket"])
            .arg(format!("{}/{prefix}", sc.bucket))
            .envs(sc.ls.env());
        run(&mut c)
    };
    let out = execute_under("docker/registry/v2/blob");
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("outside the allow-list"), "{out}");

    let out = execute_under("docker/registry/v2/blobs");
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(summary(&out)["results"]["tagged"], 2);
    let rules = sc.lifecycle();
    let ids: Vec<&str> = rules.rules().iter().map(|r| r.id().unwrap()).collect();
    assert_eq!(ids, ["blobtier-tier-cold@docker/registry/v2/blobs/"]);
    let f = rules.rules()[0].filter().unwrap();
    assert!(f.tag().is_none(), "a bucket-wide tag filter: {f:?}");
    let and = f.and().expect("a prefix and tag filter");
    assert_eq!(and.prefix(), Some("docker/registry/v2/blobs/"));
    assert_eq!(and.tags()[0].value(), "cold");
}
