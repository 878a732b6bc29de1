//! `apply --batch-manifest DIR`: instead of acting, write what S3 Batch Operations needs to run
//! the plan on AWS's managed executor — one CSV manifest per bucket and target class
//! (`Bucket,Key[,VersionId]`, keys URL-encoded as the `S3BatchOperations_CSV_20180820` format
//! requires), a `create-job` input per manifest, and a README with the `aws s3control
//! create-job` calls.
//!
//! Only `copy` actions of objects up to 5 GiB (Batch Operations' copy limit) go into manifests.
//! Larger objects, `restore` actions (two-phase) and `lifecycle` actions (Batch Operations'
//! PutObjectTagging replaces the whole tag set, apply merges) stay for `apply --execute`; they
//! are counted in the summary and listed in `left-for-apply.csv`.
//!
//! What Batch Operations does not do that `apply` does (the README repeats it): no
//! `x-amz-copy-source-if-match` (an object replaced since the plan is copied anyway), no
//! re-check before acting, ACLs not re-applied, SSE-KMS keys not re-sent per object (the
//! job's settings or the bucket default apply).
//!
//! Writes files only; every file is written atomically.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use super::actions::{planned_version, Action, Op, MAX_PART};
use crate::io::{atomic_write, IoError};
use crate::plan::file::PlanRow;

/// One manifest written.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Manifest {
    /// Bucket.
    pub bucket: String,
    /// Target class.
    pub storage_class: String,
    /// Manifest file (relative to the directory).
    pub manifest: String,
    /// Job input file.
    pub job: String,
    /// Objects.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
}

/// What `--batch-manifest` wrote.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchSummary {
    /// The directory.
    pub dir: String,
    /// The plan id.
    pub plan_id: String,
    /// Manifests.
    pub manifests: Vec<Manifest>,
    /// Actions left for `apply --execute`, by reason.
    pub left_for_apply: BTreeMap<String, u64>,
}

/// RFC 3986 unreserved characters and `/` stay as they are.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Writes the manifests, job inputs, README and `left-for-apply.csv`.
pub fn write(
    dir: &Path,
    plan: &Path,
    plan_id: &str,
    rows: &[PlanRow],
    acts: &[Action],
) -> Result<BatchSummary, IoError> {
    // (bucket, class, versioned) -> lines
    let mut groups: BTreeMap<(String, String, bool), (String, u64, u64)> = BTreeMap::new();
    let mut left: BTreeMap<String, u64> = BTreeMap::new();
    let mut left_csv = String::from("i,bucket,key,version_id,action,reason\n");
    for a in acts {
        let r = &rows[a.i];
        let reason = match a.op {
            Op::Copy if (r.size.max(0) as u64) > MAX_PART => Some("over_5_gib"),
            Op::Copy => None,
            Op::Restore => Some("restore_is_two_phase"),
            Op::Lifecycle => Some("batch_tagging_replaces_tags"),
        };
        if let Some(reason) = reason {
            *left.entry(reason.to_owned()).or_default() += 1;
            let _ = writeln!(
                left_csv,
                "{},{},{},{},{},{reason}",
                a.i,
                csv_field(&r.bucket),
                csv_field(&r.key),
                csv_field(r.version_id.as_deref().unwrap_or("")),
                a.op.as_str()
            );
            continue;
        }
        let v = planned_version(r);
        let g = groups
            .entry((r.bucket.clone(), r.to_class.to_string(), v.is_some()))
            .or_default();
        let _ = write!(
            g.0,
            "{},{}",
            csv_field(&r.bucket),
            csv_field(&utf8_percent_encode(&r.key, KEY).to_string())
        );
        if let Some(v) = v {
            let _ = write!(g.0, ",{}", csv_field(v));
        }
        g.0.push('\n');
        g.1 += 1;
        g.2 += r.size.max(0) as u64;
    }
    let short = plan_id.trim_start_matches("sha256:");
    let short = &short[..short.len().min(12)];
    let mut manifests = Vec::new();
    let mut readme = format!(
        "# S3 Batch Operations jobs for plan `{plan_id}`\n\n\
         Written by `blobtier apply --plan {} --batch-manifest {}`.\n\n\
         Each `*.csv` is a manifest in the `S3BatchOperations_CSV_20180820` format and each\n\
         `*.job.json` the matching `aws s3control create-job` input. Before creating a job:\n\n\
         1. upload the manifest to a bucket of yours and put its ETag and ARN into the job file\n\
            (`Manifest.Location`), and set `AccountId`, `RoleArn` and the report bucket;\n\
         2. read what Batch Operations does *not* do that `blobtier apply --execute` does:\n\
            - no `x-amz-copy-source-if-match`: an object replaced since the plan is copied anyway;\n\
            - no check of the object before acting;\n\
            - object ACLs are not re-applied; SSE-KMS keys come from the job or the bucket default;\n\
            - in versioned buckets every copy leaves the old version behind (as with apply);\n\
         3. jobs are created with `ConfirmationRequired: true`: confirm each in the console or with\n\
            `aws s3control update-job-status --requested-job-status Ready`.\n\n\
         Objects over 5 GiB, restores and lifecycle-method actions are left for\n\
         `blobtier apply --execute` (`left-for-apply.csv`).\n\n## Jobs\n\n",
        plan.display(),
        dir.display()
    );
    for ((bucket, class, versioned), (lines, objects, bytes)) in &groups {
        let base = format!(
            "copy-{}-{}{}",
            slug(bucket),
            slug(class),
            if *versioned { "-versions" } else { "" }
        );
        let manifest = format!("{base}.csv");
        let job = format!("{base}.job.json");
        atomic_write(&dir.join(&manifest), lines.as_bytes())?;
        let fields: Vec<&str> = if *versioned {
            vec!["Bucket", "Key", "VersionId"]
        } else {
            vec!["Bucket", "Key"]
        };
        let spec = serde_json::json!({
            "AccountId": "<ACCOUNT_ID>",
            "ConfirmationRequired": true,
            "Operation": {
                "S3PutObjectCopy": {
                    "TargetResource": format!("arn:aws:s3:::{bucket}"),
                    "StorageClass": class,
                    "MetadataDirective": "COPY"
                }
            },
            "Manifest": {
                "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": fields},
                "Location": {
                    "ObjectArn": format!("arn:aws:s3:::<MANIFEST_BUCKET>/blobtier/{short}/{manifest}"),
                    "ETag": "<MANIFEST_ETAG>"
                }
            },
            "Report": {
                "Bucket": "arn:aws:s3:::<REPORT_BUCKET>",
                "Format": "Report_CSV_20180820",
                "Enabled": true,
                "Prefix": format!("blobtier/{short}/reports"),
                "ReportScope": "AllTasks"
            },
            "Priority": 10,
            "RoleArn": "arn:aws:iam::<ACCOUNT_ID>:role/<BATCH_OPERATIONS_ROLE>",
            "ClientRequestToken": format!("blobtier-{short}-{base}"),
            "Description": format!("blobtier plan {short}: {objects} objects in {bucket} to {class}")
        });
        let text = serde_json::to_string_pretty(&spec).expect("job specs serialise");
        atomic_write(&dir.join(&job), text.as_bytes())?;
        let _ = writeln!(
            readme,
            "- `{manifest}`: {objects} objects ({bytes} bytes) in `{bucket}` to `{class}`\n  \
             `aws s3control create-job --cli-input-json file://{job}`"
        );
        manifests.push(Manifest {
            bucket: bucket.clone(),
            storage_class: class.clone(),
            manifest,
            job,
            objects: *objects,
            bytes: *bytes,
        });
    }
    if manifests.is_empty() {
        readme.push_str("(none: no action fits Batch Operations)\n");
    }
    atomic_write(&dir.join("left-for-apply.csv"), left_csv.as_bytes())?;
    atomic_write(&dir.join("README.md"), readme.as_bytes())?;
    Ok(BatchSummary {
        dir: PathBuf::from(dir).display().to_string(),
        plan_id: plan_id.to_owned(),
        manifests,
        left_for_apply: left,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, class: &str, size: i64, version: Option<&str>) -> PlanRow {
        PlanRow {
            bucket: "reg".into(),
            version_id: version.map(str::to_owned),
            size,
            to_class: class.into(),
            ..crate::plan::file::testing::row(key)
        }
    }

    #[test]
    fn manifests_per_class_with_encoded_keys_and_big_objects_left() {
        let d = tempfile::tempdir().unwrap();
        let rows = vec![
            row("a b/data", "GLACIER_IR", 10, None),
            row("c+d", "GLACIER_IR", 20, None),
            row("e", "STANDARD_IA", 30, Some("v1")),
            row("huge", "GLACIER_IR", 6 << 30, None),
        ];
        let acts: Vec<Action> = (0..4).map(|i| Action { i, op: Op::Copy }).collect();
        let s = write(
            d.path(),
            Path::new("plan.parquet"),
            "sha256:abcdef0123456789",
            &rows,
            &acts,
        )
        .unwrap();
        assert_eq!(s.manifests.len(), 2);
        assert_eq!(s.left_for_apply["over_5_gib"], 1);
        let m = std::fs::read_to_string(d.path().join("copy-reg-glacier-ir.csv")).unwrap();
        assert_eq!(m, "reg,a%20b/data\nreg,c%2Bd\n");
        let v =
            std::fs::read_to_string(d.path().join("copy-reg-standard-ia-versions.csv")).unwrap();
        assert_eq!(v, "reg,e,v1\n");
        let job: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.path().join("copy-reg-glacier-ir.job.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            job["Operation"]["S3PutObjectCopy"]["StorageClass"],
            "GLACIER_IR"
        );
        assert!(std::fs::read_to_string(d.path().join("README.md"))
            .unwrap()
            .contains("create-job"));
    }
}
