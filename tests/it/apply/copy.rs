//! The copy method: CopyObject in place (multipart above the threshold), conditional on the
//! plan's ETag and version, keeping what S3 would otherwise drop (ACL, encryption, metadata,
//! tags).

use std::collections::BTreeMap;

use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};

use super::{class_name, n, run_ok, unquote, Scene};
use crate::support::fault_proxy::{FaultMix, FaultProxy};

/// An object whose ETag differs from the plan's is skipped and left alone, whether the change
/// shows in the HEAD or only in the copy's `x-amz-copy-source-if-match` (412).
#[test]
fn changed_objects_are_skipped_and_untouched() {
    let (sc, blobs) = Scene::with_blobs("apply-changed", 3, |_| b"new content".to_vec());
    let stale = "0123456789abcdef0123456789abcdef";
    let rows = vec![
        blobs[0].copy().to("STANDARD_IA").build(),
        // The HEAD shows the change.
        blobs[1].copy().to("STANDARD_IA").etag(stale).build(),
        // Only the copy's precondition sees it: the proxy shows the stale ETag in HEAD.
        blobs[2].copy().to("STANDARD_IA").etag(stale).build(),
    ];
    let (plan, id) = sc.plan(rows);
    let proxy = FaultProxy::start(&sc.ls.endpoint(), FaultMix::none(), 1);
    proxy.override_etag(&format!("/{}/{}", sc.bucket, blobs[2].key), stale);
    let s = run_ok(&mut sc.execute(&plan, Some(&proxy)));
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
    assert_eq!(sc.head_class(&blobs[0].key), "STANDARD_IA");
    for b in &blobs[1..] {
        assert_eq!(sc.head_class(&b.key), "STANDARD");
        assert_eq!(sc.body(&b.key), b"new content");
    }
    let lines = sc.journal(&id);
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
    let sc = Scene::new("apply-multipart");
    let size = 12 << 20;
    let bodies: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            if i == 2 {
                b"small".to_vec()
            } else {
                (0..size).map(|j| (j % 251) as u8 ^ i).collect()
            }
        })
        .collect();
    let blobs: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let shape = |p: PutObjectFluentBuilder| {
                p.content_type("application/vnd.oci.image.layer.v1.tar+gzip")
                    .metadata("origin", "test")
                    .tagging("team=infra&keep=yes")
            };
            sc.put(i, body.clone(), shape).0
        })
        .collect();
    let (plan, _) = sc.plan(blobs.iter().map(|b| b.copy().build()).collect());
    let proxy = FaultProxy::start(
        &sc.ls.endpoint(),
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
    let s = run_ok(
        sc.execute(&plan, Some(&proxy))
            .args(["--part-size", "5MiB"])
            .args(["--backoff-init-ms", "10", "--backoff-max-ms", "200"])
            .env("BLOBTIER_TEST_MULTIPART_THRESHOLD", "5MiB"),
    );
    assert_eq!(s["results"]["copied"], 3, "{s:#}");
    let c = proxy.counts();
    let parts = c.completed_per_path("UploadPartCopy");
    assert_eq!(parts.len(), 2);
    assert!(parts.values().all(|n| *n == 3), "{parts:?}");
    for op in ["CreateMultipartUpload", "CompleteMultipartUpload"] {
        assert_eq!(c.completed_per_path(op).values().sum::<u64>(), 2, "{op}");
    }
    assert_eq!(c.completed_per_path("CopyObject").len(), 1);
    let injected: u64 = c.injected.values().sum();
    let retried: u64 = ["throttle", "server_error"]
        .iter()
        .map(|r| n(&s["retries"][r]))
        .sum();
    assert_eq!(retried, injected, "{c:?}");
    for (i, b) in blobs.iter().enumerate() {
        let k = &b.key;
        let h = sc.head(k);
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
            assert!(unquote(h.e_tag()).ends_with("-3"), "{:?}", h.e_tag());
        }
        assert_eq!(
            sc.tags(k),
            [
                ("keep".to_owned(), "yes".to_owned()),
                ("team".to_owned(), "infra".to_owned())
            ]
            .into()
        );
        assert!(sc.body(k) == bodies[i], "content of {k} changed");
    }
    let ups = sc.s3(async |c| {
        let req = c.list_multipart_uploads().bucket(&sc.bucket);
        req.send().await.unwrap()
    });
    assert!(
        ups.uploads().is_empty(),
        "uploads left: {:?}",
        ups.uploads()
    );
}

/// In a versioned bucket the planned version is copied (CopySource `?versionId=`), the old
/// version stays, and a key whose planned version is no longer current is skipped.
#[test]
fn versioned_bucket_copies_the_planned_version_and_deletes_nothing() {
    let sc = Scene::new("apply-versions");
    sc.enable_versioning();
    let (blobs, versions): (Vec<_>, Vec<_>) = ["version one", "planned"]
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let (b, out) = sc.put(i, body, |p| p);
            (b, out.version_id().unwrap().to_owned())
        })
        .unzip();
    let (k0, k1, v0) = (&blobs[0].key, &blobs[1].key, &versions[0]);
    let rows = blobs
        .iter()
        .zip(&versions)
        .map(|(b, v)| b.copy().version(v).build())
        .collect();
    let (plan, _) = sc.plan(rows);
    // After planning, k1 gets a newer version: copying v1 over it would roll the key back.
    sc.put(1, "newer", |p| p);
    let proxy = FaultProxy::start(&sc.ls.endpoint(), FaultMix::none(), 3);
    let s = run_ok(&mut sc.execute(&plan, Some(&proxy)));
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
    let vs = sc.s3(async |c| {
        let req = c.list_object_versions().bucket(&sc.bucket);
        req.send().await.unwrap()
    });
    // ListObjectVersions on LocalStack lists every version as STANDARD; HEAD tells.
    let mut of: BTreeMap<String, Vec<(String, bool, String)>> = BTreeMap::new();
    for v in vs.versions() {
        let (k, id) = (v.key().unwrap(), v.version_id().unwrap());
        let h = sc.s3(async |c| {
            let req = c.head_object().bucket(&sc.bucket).key(k).version_id(id);
            req.send().await.unwrap()
        });
        of.entry(k.to_owned()).or_default().push((
            id.to_owned(),
            v.is_latest().unwrap_or(false),
            class_name(h.storage_class()),
        ));
    }
    let of = |k: &str| of.get(k).cloned().unwrap_or_default();
    let k0v = of(k0);
    assert_eq!(k0v.len(), 2, "{k0v:?}");
    assert!(
        k0v.iter()
            .any(|(id, latest, class)| id == v0 && !latest && class == "STANDARD"),
        "{k0v:?}"
    );
    assert!(
        k0v.iter()
            .any(|(id, latest, class)| id != v0 && *latest && class == "GLACIER_IR"),
        "{k0v:?}"
    );
    let k1v = of(k1);
    assert_eq!(k1v.len(), 2);
    assert!(k1v.iter().all(|(_, _, class)| class == "STANDARD"));
    assert!(vs.delete_markers().is_empty());
}

/// A copy keeps what S3 would otherwise drop or change: a non-default ACL (re-sent as grants) and
/// SSE-S3 encryption. SSE-C objects are skipped with a reason.
#[test]
fn copy_keeps_acl_and_encryption_and_skips_sse_c() {
    let sc = Scene::new("apply-acl");
    let key = [7u8; 32];
    let key_b64 = base64_encode(&key);
    let key_md5 = base64_encode(&md5_digest(&key));
    let blobs = [
        sc.put(0, "public layer", |p| p.acl(ObjectCannedAcl::PublicRead)),
        sc.put(1, "encrypted layer", |p| {
            p.server_side_encryption(ServerSideEncryption::Aes256)
        }),
        sc.put(2, "customer key layer", |p| {
            p.sse_customer_algorithm("AES256")
                .sse_customer_key(&key_b64)
                .sse_customer_key_md5(&key_md5)
        }),
    ]
    .map(|(b, _)| b);
    let (plan, _) = sc.plan(
        blobs
            .iter()
            .map(|b| b.copy().to("STANDARD_IA").build())
            .collect(),
    );
    let s = run_ok(&mut sc.execute(&plan, None));
    assert_eq!(s["results"]["copied"], 2, "{s:#}");
    assert_eq!(s["results"]["skipped:sse_c"], 1, "{s:#}");
    assert_eq!(sc.head_class(&blobs[0].key), "STANDARD_IA");
    let acl = sc.s3(async |c| {
        let req = c.get_object_acl().bucket(&sc.bucket).key(&blobs[0].key);
        req.send().await.unwrap()
    });
    assert!(
        acl.grants()
            .iter()
            .any(|g| g.grantee().and_then(|x| x.uri())
                == Some("http://acs.amazonaws.com/groups/global/AllUsers")
                && g.permission().map(|p| p.as_str()) == Some("READ")),
        "{:?}",
        acl.grants()
    );
    let h = sc.head(&blobs[1].key);
    assert_eq!(
        h.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(h.storage_class(), Some(&StorageClass::StandardIa));
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

/// A copy drops blobtier's own lifecycle tag (`blobtier-tier`) and keeps every other tag: a
/// blob blobtier moved down with a lifecycle rule and then brought back up (reheat, restore)
/// must not be sent down again by that same tag-filtered rule (issue 15).
#[test]
fn a_copy_drops_the_blobtier_lifecycle_tag_and_keeps_the_others() {
    let sc = Scene::new("apply-untag");
    let (tagged, _) = sc.put(0, "reheated layer", |p| {
        p.storage_class(StorageClass::GlacierIr)
            .tagging("blobtier-tier=cold&team=ml")
    });
    let (plain, _) = sc.put(1, "plain layer", |p| p.tagging("team=web"));
    let rows = vec![
        tagged.copy().from("GLACIER_IR").to("STANDARD").build(),
        plain.copy().to("STANDARD_IA").build(),
    ];
    let (plan, _) = sc.plan(rows);
    let s = run_ok(&mut sc.execute(&plan, None));
    assert_eq!(s["results"]["copied"], 2, "{s:#}");
    assert_eq!(sc.head_class(&tagged.key), "STANDARD");
    assert_eq!(
        sc.tags(&tagged.key),
        [("team".to_owned(), "ml".to_owned())].into()
    );
    assert_eq!(sc.head_class(&plain.key), "STANDARD_IA");
    assert_eq!(
        sc.tags(&plain.key),
        [("team".to_owned(), "web".to_owned())].into()
    );
}
