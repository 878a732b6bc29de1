//! The closed loop's view of the LocalStack bucket, and the two things S3 does that LocalStack
//! does not: running lifecycle rules, and ending restored copies when their days are over.
//!
//! - [`list`]: the bucket's real state (ListObjectsV2 for class, size and ETag; a HEAD of every
//!   archived object for `x-amz-restore`).
//! - [`lifecycle_rules`] and [`due_transitions`]: the lifecycle emulator. It reads the bucket's
//!   configuration as apply left it and the objects' tags, and moves an object when an enabled
//!   rule's filter (prefix, tags, size) matches it and the rule's `Days` have passed since its
//!   Last-Modified (rounded up to the next midnight UTC, as S3 does), along S3's transition
//!   waterfall, for objects of at least 128 KiB (the default floor since September 2024, on the
//!   scaled size) unless a rule's size filter says otherwise. Of several matching rules the one
//!   to the cheapest class wins. The move is an in-place CopyObject with the target class,
//!   metadata and tags copied (LocalStack keeps them); the loop keeps the object's simulated
//!   Last-Modified, since a real transition does not change it.
//! - [`expire_restore`]: LocalStack keeps a restored copy forever; when its days are over the
//!   emulator rewrites the archived object in place (same class, same metadata and tags), which
//!   leaves it archived and unreadable, as S3 would.
//!
//! These requests go straight to LocalStack, never through the recording proxy: they are S3's
//! own work, billed by the bill model as transitions, not as requests.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{MetadataDirective, RestoreRequest, StorageClass, Tier};
use aws_sdk_s3::Client;
use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::bill;
use super::scenario::Blob;

/// One object as the bucket shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obj {
    pub class: String,
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// `x-amz-restore` shows a finished restore (a readable restored copy).
    pub restored: bool,
}

fn fail(what: &str, e: impl std::error::Error) -> ! {
    panic!("{what}: {}", DisplayErrorContext(e))
}

/// Puts every blob in its initial class, 16 at a time.
pub async fn setup(c: &Client, bucket: &str, blobs: &[Blob]) {
    for chunk in blobs.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for b in chunk {
            let (c, bucket, key, body, class) = (
                c.clone(),
                bucket.to_owned(),
                b.key.clone(),
                b.body.clone(),
                b.initial_class,
            );
            set.spawn(async move {
                c.put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(body))
                    .content_type("application/octet-stream")
                    .storage_class(StorageClass::from(class))
                    .send()
                    .await
                    .unwrap_or_else(|e| fail(&format!("put `{key}`"), e));
            });
        }
        while let Some(r) = set.join_next().await {
            r.expect("put task");
        }
    }
}

/// The bucket's objects by key.
pub async fn list(c: &Client, bucket: &str) -> BTreeMap<String, Obj> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap_or_else(|e| fail("list objects", e));
        for o in page.contents() {
            out.insert(
                o.key().unwrap_or_default().to_owned(),
                Obj {
                    class: o
                        .storage_class()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "STANDARD".into()),
                    size: o.size().unwrap_or_default() as u64,
                    etag: o.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
                    restored: false,
                },
            );
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => break,
        }
    }
    for (key, o) in out.iter_mut() {
        if bill::is_archive(&o.class) {
            let h = c
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| fail(&format!("head `{key}`"), e));
            o.restored = h
                .restore()
                .is_some_and(|r| r.contains("ongoing-request=\"false\""));
        }
    }
    out
}

/// One enabled lifecycle rule, as far as the emulator needs it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub prefix: String,
    pub tags: Vec<(String, String)>,
    pub size_gt: Option<i64>,
    pub size_lt: Option<i64>,
    /// (days after Last-Modified, target class).
    pub transitions: Vec<(i64, String)>,
}

/// The bucket's enabled lifecycle rules (none without a configuration).
pub async fn lifecycle_rules(c: &Client, bucket: &str) -> Vec<Rule> {
    let cfg = match c
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(cfg) => cfg,
        Err(e)
            if e.as_service_error().and_then(|s| {
                use aws_sdk_s3::error::ProvideErrorMetadata;
                s.code()
            }) == Some("NoSuchLifecycleConfiguration") =>
        {
            return Vec::new()
        }
        Err(e) => fail("get lifecycle configuration", e),
    };
    let mut rules = Vec::new();
    for r in cfg.rules() {
        if r.status().as_str() != "Enabled" {
            continue;
        }
        #[allow(deprecated)]
        let mut rule = Rule {
            id: r.id().unwrap_or_default().to_owned(),
            prefix: r.prefix().unwrap_or_default().to_owned(),
            tags: Vec::new(),
            size_gt: None,
            size_lt: None,
            transitions: Vec::new(),
        };
        if let Some(f) = r.filter() {
            if let Some(p) = f.prefix() {
                rule.prefix = p.to_owned();
            }
            if let Some(t) = f.tag() {
                rule.tags.push((t.key().to_owned(), t.value().to_owned()));
            }
            rule.size_gt = f.object_size_greater_than();
            rule.size_lt = f.object_size_less_than();
            if let Some(a) = f.and() {
                if let Some(p) = a.prefix() {
                    rule.prefix = p.to_owned();
                }
                for t in a.tags() {
                    rule.tags.push((t.key().to_owned(), t.value().to_owned()));
                }
                rule.size_gt = rule.size_gt.or(a.object_size_greater_than());
                rule.size_lt = rule.size_lt.or(a.object_size_less_than());
            }
        }
        for t in r.transitions() {
            let class = t
                .storage_class()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let days = match (t.days(), t.date()) {
                (Some(d), _) => i64::from(d),
                (None, Some(_)) => panic!("rule `{}`: date transitions are not emulated", rule.id),
                (None, None) => 0,
            };
            rule.transitions.push((days, class));
        }
        assert!(
            r.noncurrent_version_transitions().is_empty() && r.expiration().is_none(),
            "rule `{}`: only current-version transitions are emulated",
            rule.id
        );
        rules.push(rule);
    }
    rules
}

/// Tags of every object, 32 requests at a time.
pub async fn tags(
    c: &Client,
    bucket: &str,
    keys: impl Iterator<Item = String>,
) -> HashMap<String, Vec<(String, String)>> {
    let keys: Vec<String> = keys.collect();
    let mut out = HashMap::new();
    for chunk in keys.chunks(32) {
        let mut set = tokio::task::JoinSet::new();
        for key in chunk {
            let (c, bucket, key) = (c.clone(), bucket.to_owned(), key.clone());
            set.spawn(async move {
                let t = c
                    .get_object_tagging()
                    .bucket(&bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap_or_else(|e| fail(&format!("get tags of `{key}`"), e));
                let tags: Vec<(String, String)> = t
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect();
                (key, tags)
            });
        }
        while let Some(r) = set.join_next().await {
            let (k, t) = r.expect("tag task");
            out.insert(k, t);
        }
    }
    out
}

/// S3's transition waterfall: whether lifecycle can move an object from `from` to `to`.
pub fn waterfall(from: &str, to: &str) -> bool {
    match (from, to) {
        (a, b) if a == b => false,
        (_, "STANDARD") | ("DEEP_ARCHIVE", _) => false,
        (_, "DEEP_ARCHIVE") => true,
        ("STANDARD", _) => true,
        ("STANDARD_IA", t) => t != "STANDARD_IA",
        ("INTELLIGENT_TIERING", t) => t != "STANDARD_IA",
        ("ONEZONE_IA", t) => t == "GLACIER",
        ("GLACIER_IR", t) => t == "GLACIER",
        _ => false,
    }
}

/// The next midnight at or after `t`.
fn ceil_midnight(t: NaiveDateTime) -> NaiveDateTime {
    let m = t.date().and_hms_opt(0, 0, 0).expect("midnight");
    if m == t {
        m
    } else {
        m + Duration::days(1)
    }
}

/// The transitions S3's lifecycle run at midnight starting `day` performs: (key, target).
pub fn due_transitions(
    rules: &[Rule],
    objects: &BTreeMap<String, Obj>,
    tags: &HashMap<String, Vec<(String, String)>>,
    last_modified: &HashMap<String, NaiveDateTime>,
    day: NaiveDate,
) -> Vec<(String, String)> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight");
    let mut out = Vec::new();
    for (key, o) in objects {
        let lm = last_modified[key];
        let mut best: Option<String> = None;
        for r in rules {
            let size = o.size as i64;
            let tag_ok = r
                .tags
                .iter()
                .all(|t| tags.get(key).is_some_and(|ts| ts.contains(t)));
            let size_filter = r.size_gt.is_some() || r.size_lt.is_some();
            let size_ok = r.size_gt.is_none_or(|g| size > g) && r.size_lt.is_none_or(|l| size < l);
            if !key.starts_with(&r.prefix) || !tag_ok || !size_ok {
                continue;
            }
            if !size_filter && !bill::lifecycle_size_ok(o.size) {
                continue;
            }
            for (days, class) in &r.transitions {
                if ceil_midnight(lm + Duration::days(*days)) > midnight
                    || !waterfall(&o.class, class)
                {
                    continue;
                }
                if best
                    .as_deref()
                    .is_none_or(|b| bill::price(class).storage < bill::price(b).storage)
                {
                    best = Some(class.clone());
                }
            }
        }
        if let Some(class) = best {
            out.push((key.clone(), class));
        }
    }
    out
}

/// Moves `key` to `class` in place, as a lifecycle transition would (metadata and tags kept).
pub async fn transition(c: &Client, bucket: &str, key: &str, from: &str, class: &str) {
    if bill::is_archive(from) {
        // GLACIER -> DEEP_ARCHIVE: LocalStack copies an archived source only once restored.
        c.restore_object()
            .bucket(bucket)
            .key(key)
            .restore_request(
                RestoreRequest::builder()
                    .days(1)
                    .glacier_job_parameters(
                        aws_sdk_s3::types::GlacierJobParameters::builder()
                            .tier(Tier::Bulk)
                            .build()
                            .expect("tier set"),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("emulator restore of `{key}`"), e));
    }
    c.copy_object()
        .bucket(bucket)
        .key(key)
        .copy_source(format!("{bucket}/{key}"))
        .storage_class(StorageClass::from(class))
        .metadata_directive(MetadataDirective::Copy)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("emulated transition of `{key}` to {class}"), e));
}

/// Ends the restored copy of archived `key`: rewrites it in place in its own class.
pub async fn expire_restore(c: &Client, bucket: &str, key: &str, class: &str) {
    let h = c
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("head `{key}`"), e));
    c.copy_object()
        .bucket(bucket)
        .key(key)
        .copy_source(format!("{bucket}/{key}"))
        .storage_class(StorageClass::from(class))
        .metadata_directive(MetadataDirective::Replace)
        .set_metadata(h.metadata().cloned())
        .set_content_type(h.content_type().map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("end the restored copy of `{key}`"), e));
}

#[test]
fn waterfall_follows_s3() {
    assert!(waterfall("STANDARD", "GLACIER_IR"));
    assert!(waterfall("STANDARD_IA", "GLACIER_IR"));
    assert!(!waterfall("GLACIER_IR", "STANDARD_IA"));
    assert!(!waterfall("GLACIER_IR", "STANDARD"));
    assert!(!waterfall("GLACIER_IR", "GLACIER_IR"));
    assert!(waterfall("GLACIER", "DEEP_ARCHIVE"));
    assert!(!waterfall("DEEP_ARCHIVE", "GLACIER"));
}

#[test]
fn lifecycle_days_round_up_to_midnight() {
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let lm = d("2026-09-05").and_hms_opt(23, 30, 0).unwrap();
    let objects: BTreeMap<String, Obj> = [(
        "k".to_owned(),
        Obj {
            class: "STANDARD".into(),
            size: 4096,
            etag: String::new(),
            restored: false,
        },
    )]
    .into();
    let rule = Rule {
        id: "r".into(),
        prefix: String::new(),
        tags: vec![("t".into(), "v".into())],
        size_gt: None,
        size_lt: None,
        transitions: vec![(0, "GLACIER_IR".into())],
    };
    let tags: HashMap<String, Vec<(String, String)>> =
        [("k".to_owned(), vec![("t".to_owned(), "v".to_owned())])].into();
    let lms: HashMap<String, NaiveDateTime> = [("k".to_owned(), lm)].into();
    let due = |day| due_transitions(std::slice::from_ref(&rule), &objects, &tags, &lms, d(day));
    assert!(due("2026-09-05").is_empty());
    assert_eq!(due("2026-09-06"), vec![("k".into(), "GLACIER_IR".into())]);
    let untagged = HashMap::new();
    assert!(due_transitions(
        std::slice::from_ref(&rule),
        &objects,
        &untagged,
        &lms,
        d("2026-09-06")
    )
    .is_empty());
}
