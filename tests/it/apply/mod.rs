//! `blobtier apply` against a real S3 protocol server (LocalStack over HTTP), mostly through the
//! fault-injecting proxy (`support::fault_proxy`): the real binary, the real SDK, real retries.
//! See: issue 6.
//!
//! One file per theme: `dry_run` (no S3), `copy`, `lifecycle`, `restore`, `faults` (the
//! 2,000-action fault test), `resume` (SIGKILL and rerun, limits, single flight) and `metrics`
//! (the journal-cost benchmark). This file holds what they share: [`Scene`] (a bucket, its blobs
//! and a directory for plans and journals), the commands, and readers of the summary and the
//! journal. Plan rows come from [`PlanRowBuilder`].

mod copy;
mod dry_run;
mod faults;
mod lifecycle;
mod lock;
mod metrics;
mod restore;
mod resume;
mod versioning;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLifecycleConfiguration, LifecycleRule};
use blobtier::plan::file::PlanRow;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use crate::support::cli::{blobtier, run, Output};
use crate::support::fault_proxy::FaultProxy;
use crate::support::localstack::{block_on, localstack, LocalStack};
use crate::support::plan_row::{write_plan, PlanRowBuilder};

/// A blob's digest and the distribution key it lives under (`salt` keeps tests apart).
fn blob(i: usize, salt: &str) -> (String, String) {
    let hex = hex::encode(Sha256::digest(format!("{salt}-{i}").as_bytes()));
    let key = format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]);
    (format!("sha256:{hex}"), key)
}

/// A blob a test put into its bucket: what a plan row names.
#[derive(Debug, Clone)]
struct Blob {
    bucket: String,
    digest: String,
    key: String,
    /// Unquoted.
    etag: String,
    size: usize,
}

impl Blob {
    /// A copy action of this blob (bucket, key, digest, ETag and size filled in).
    fn copy(&self) -> PlanRowBuilder {
        self.fill(PlanRowBuilder::copy(&self.bucket, &self.key))
    }

    /// A lifecycle action of this blob.
    fn lifecycle(&self) -> PlanRowBuilder {
        self.fill(PlanRowBuilder::lifecycle(&self.bucket, &self.key))
    }

    /// A restore action of this blob.
    fn restore(&self) -> PlanRowBuilder {
        self.fill(PlanRowBuilder::restore(&self.bucket, &self.key))
    }

    fn fill(&self, b: PlanRowBuilder) -> PlanRowBuilder {
        b.digest(&self.digest).etag(&self.etag).size(self.size)
    }
}

/// One test's bucket on LocalStack and a temporary directory for its plans, journals and
/// metrics.
struct Scene {
    ls: &'static LocalStack,
    dir: TempDir,
    bucket: String,
}

impl Scene {
    /// A new, empty bucket named `stem-<unique>`.
    fn new(stem: &str) -> Scene {
        let ls = localstack();
        let bucket = ls.unique_bucket(stem);
        block_on(ls.create_bucket(&bucket));
        Scene {
            ls,
            dir: tempfile::tempdir().unwrap(),
            bucket,
        }
    }

    /// A new bucket holding `n` blobs with the bodies `body(i)`.
    fn with_blobs(stem: &str, n: usize, body: impl Fn(usize) -> Vec<u8>) -> (Scene, Vec<Blob>) {
        let s = Scene::new(stem);
        let objs: Vec<(String, Vec<u8>)> = (0..n).map(|i| (s.key(i).1, body(i))).collect();
        let etags = block_on(async { put_all(&s.ls.client().await, &s.bucket, &objs).await });
        let blobs = objs
            .iter()
            .zip(etags)
            .enumerate()
            .map(|(i, ((_, body), etag))| s.blob(i, &etag, body.len()))
            .collect();
        (s, blobs)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Digest and key of the `i`th blob of this bucket.
    fn key(&self, i: usize) -> (String, String) {
        blob(i, &self.bucket)
    }

    /// The `i`th blob of this bucket, put by the test with `etag` (unquoted) and `size`.
    fn blob(&self, i: usize, etag: &str, size: usize) -> Blob {
        let (digest, key) = self.key(i);
        Blob {
            bucket: self.bucket.clone(),
            digest,
            key,
            etag: etag.to_owned(),
            size,
        }
    }

    /// Writes `rows` as `plan.parquet` in the scene's directory; returns its path and id.
    fn plan(&self, rows: Vec<PlanRow>) -> (PathBuf, String) {
        write_plan(self.path(), rows)
    }

    /// `apply --plan PLAN` in the scene's directory (a dry run).
    fn apply(&self, plan: &Path) -> Command {
        apply(self.path(), plan)
    }

    /// `apply --plan PLAN --execute --allow-bucket BUCKET` against LocalStack, through `proxy`
    /// when given.
    fn execute(&self, plan: &Path, proxy: Option<&FaultProxy>) -> Command {
        let mut c = self.apply(plan);
        c.args(["--execute", "--allow-bucket", &self.bucket]);
        c.envs(match proxy {
            Some(p) => p.env(self.ls.env()),
            None => self.ls.env(),
        });
        c
    }

    /// The journal of plan `plan_id` in the default journal directory.
    fn journal(&self, plan_id: &str) -> Vec<serde_json::Value> {
        journal(&journal_file(&self.path().join("journal"), plan_id))
    }

    /// Runs `f` with a LocalStack client (not through any proxy), on a runtime of its own.
    fn s3<T>(&self, f: impl AsyncFnOnce(aws_sdk_s3::Client) -> T) -> T {
        block_on(async { f(self.ls.client().await).await })
    }

    /// Puts the `i`th blob of this bucket with `body`; `shape` adds to the request (storage
    /// class, tags, ACL, encryption, …). Returns the blob and S3's answer.
    fn put(
        &self,
        i: usize,
        body: impl Into<Vec<u8>>,
        shape: impl FnOnce(PutObjectFluentBuilder) -> PutObjectFluentBuilder,
    ) -> (Blob, PutObjectOutput) {
        let body = body.into();
        let size = body.len();
        let key = self.key(i).1;
        let out = self.s3(async |c| {
            let req = c
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .body(ByteStream::from(body));
            shape(req)
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key}: {}", DisplayErrorContext(&e)))
        });
        // A put answered without an ETag gives the row an empty one.
        let etag = out.e_tag().unwrap_or("").trim_matches('"').to_owned();
        (self.blob(i, &etag, size), out)
    }

    /// HEAD of the current version of `key`.
    fn head(&self, key: &str) -> HeadObjectOutput {
        self.s3(async |c| {
            let req = c.head_object().bucket(&self.bucket).key(key);
            req.send().await.unwrap()
        })
    }

    /// The content of `key`.
    fn body(&self, key: &str) -> Vec<u8> {
        self.s3(async |c| {
            let o = c.get_object().bucket(&self.bucket).key(key).send();
            let o = o.await.unwrap();
            o.body.collect().await.unwrap().into_bytes().to_vec()
        })
    }

    /// The tag set of `key`.
    fn tags(&self, key: &str) -> BTreeSet<(String, String)> {
        let o = self.s3(async |c| {
            let req = c.get_object_tagging().bucket(&self.bucket).key(key);
            req.send().await.unwrap()
        });
        o.tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    }

    /// The bucket's lifecycle configuration.
    fn lifecycle(&self) -> GetBucketLifecycleConfigurationOutput {
        self.s3(async |c| {
            let req = c.get_bucket_lifecycle_configuration().bucket(&self.bucket);
            req.send().await.unwrap()
        })
    }

    /// Turns versioning on for the bucket.
    fn enable_versioning(&self) {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        self.s3(async |c| {
            let versioning = VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build();
            let req = c.put_bucket_versioning().bucket(&self.bucket);
            req.versioning_configuration(versioning)
                .send()
                .await
                .unwrap()
        });
    }

    /// Replaces the bucket's lifecycle rules.
    fn put_lifecycle(&self, rules: Vec<LifecycleRule>) {
        put_lifecycle(self.ls, &self.bucket, rules);
    }

    /// Storage class of every key in the bucket (STANDARD when S3 lists none).
    fn classes(&self) -> BTreeMap<String, String> {
        self.s3(async |c| {
            let mut out = BTreeMap::new();
            let mut pages = c
                .list_objects_v2()
                .bucket(&self.bucket)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                for o in p.unwrap().contents() {
                    let class = o.storage_class().map(|c| c.as_str().to_owned());
                    out.insert(
                        o.key().unwrap().to_owned(),
                        class.unwrap_or_else(|| "STANDARD".to_owned()),
                    );
                }
            }
            out
        })
    }

    /// Storage class of `key` (HEAD).
    fn head_class(&self, key: &str) -> String {
        class_name(self.head(key).storage_class())
    }
}

/// Replaces the lifecycle rules of `bucket` (usable from a proxy hook, which holds no scene).
fn put_lifecycle(ls: &LocalStack, bucket: &str, rules: Vec<LifecycleRule>) {
    let config = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .unwrap();
    block_on(async {
        let req = ls.client().await.put_bucket_lifecycle_configuration();
        let req = req.bucket(bucket).lifecycle_configuration(config);
        req.send().await.unwrap();
    });
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

/// The JSON summary on stdout.
fn summary(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{out}"))
}

/// Runs `cmd`, asserts exit 0 and returns the summary.
fn run_ok(cmd: &mut Command) -> serde_json::Value {
    let out = run(cmd);
    out.assert_success();
    summary(&out)
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
                (chunk_no * 32 + j, unquote(o.e_tag()))
            });
        }
        while let Some(r) = set.join_next().await {
            let (i, e) = r.unwrap();
            etags[i] = e;
        }
    }
    etags
}

/// An ETag as S3 returns it, without its quotes.
fn unquote(etag: Option<&str>) -> String {
    etag.unwrap().trim_matches('"').to_owned()
}

/// A storage class as S3 reports it (STANDARD when it reports none).
fn class_name(c: Option<&aws_sdk_s3::types::StorageClass>) -> String {
    c.map_or("STANDARD".to_owned(), |c| c.as_str().to_owned())
}
