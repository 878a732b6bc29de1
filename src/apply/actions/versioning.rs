//! Versioned buckets. A copy in place makes a new version and leaves the old one, billed in its
//! old class, as a noncurrent version. Once per run, before any action, apply asks S3 whether
//! each bucket it copies in is versioned (GetBucketVersioning) and says so in its summary, with
//! a warning when the plan's rows carry no version ids there (the plan then priced the copies
//! without their old versions, unless `plan.versioned` said otherwise). With
//! `--noncurrent-expiration` (or `apply.noncurrent_expiration`) it makes sure a versioned
//! bucket's lifecycle configuration holds a `NoncurrentVersionExpiration` rule
//! (`NoncurrentDays` = `plan.noncurrent_days`) per allowed prefix it copies under, by the same
//! read-merge-write as the lifecycle method's rules.
//!
//! Invariants: only asked for, and only in a bucket S3 (or, when S3 will not say, the plan's
//! version ids) shows versioned; every other rule is kept and blobtier's own rule is replaced
//! in place, never duplicated; the rule is scoped to the allowed prefix (bucket-wide only
//! when the whole bucket is allowed). Must not delete anything itself: S3 expires the old
//! versions by the rule.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{
    ExpirationStatus, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
};
use serde::Serialize;
use tracing::{error, info, warn};

use super::lifecycle::merge_into_bucket;
use super::{with_retries, Ctx};

/// The `NoncurrentVersionExpiration` rule for `prefix` (`None`: the whole bucket): id
/// [`crate::model::noncurrent_rule_id`], versions noncurrent for `days` days deleted by S3.
pub fn noncurrent_rule(prefix: Option<&str>, days: i32) -> Result<LifecycleRule, String> {
    let id = crate::model::noncurrent_rule_id(prefix);
    if id.len() > 255 {
        return Err(format!(
            "lifecycle rule id `{id}` is longer than S3's 255 characters"
        ));
    }
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(
            LifecycleRuleFilter::builder()
                .prefix(prefix.unwrap_or(""))
                .build(),
        )
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(days)
                .build(),
        )
        .build()
        .map_err(|e| e.to_string())
}

/// What a run needs to know of one bucket the plan copies in (from the plan and the
/// allow-list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyScope {
    /// The allowed prefixes copied under (`None`: the whole bucket is allowed), distinct.
    pub prefixes: Vec<Option<String>>,
    /// Some row names a real version (the plan was made from an all-versions inventory of a
    /// versioned bucket, and priced the copies' old versions).
    pub plan_version_ids: bool,
}

/// One bucket's versioning, as the run's summary reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketVersioning {
    /// `enabled`, `suspended` or `off` (GetBucketVersioning), or `unknown` (S3 would not say:
    /// the plan's version ids decide).
    pub status: String,
    /// The plan's rows in the bucket carry version ids.
    pub plan_version_ids: bool,
    /// With `--noncurrent-expiration`: `in_place`, or `failed:<code>`; absent when not asked
    /// or the bucket is not versioned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noncurrent_rule: Option<String>,
}

impl BucketVersioning {
    /// Whether copies leave noncurrent versions: S3 says versioning is (or was) on, or, when
    /// it will not say, the plan's rows carry version ids.
    pub fn versioned(&self) -> bool {
        match self.status.as_str() {
            "enabled" | "suspended" => true,
            "unknown" => self.plan_version_ids,
            _ => false,
        }
    }
}

/// Asks S3 for the versioning of every bucket in `scopes` and, when `noncurrent_days` is given,
/// puts the `NoncurrentVersionExpiration` rules in place in the versioned ones.
pub async fn check(
    ctx: &Ctx,
    scopes: &BTreeMap<String, CopyScope>,
    noncurrent_days: Option<i32>,
) -> BTreeMap<String, BucketVersioning> {
    let mut out = BTreeMap::new();
    for (bucket, scope) in scopes {
        let status = match with_retries(ctx, || ctx.s3.get_versioning(bucket)).await {
            Ok(Some(s)) => s.to_ascii_lowercase(),
            Ok(None) => "off".to_owned(),
            Err(e) => {
                warn!(bucket, error = %e, "cannot read the bucket's versioning; going by the plan's version ids");
                "unknown".to_owned()
            }
        };
        let mut v = BucketVersioning {
            status,
            plan_version_ids: scope.plan_version_ids,
            noncurrent_rule: None,
        };
        if v.versioned() && !v.plan_version_ids {
            warn!(bucket, status = %v.status, "bucket is versioned but the plan names no versions: unless `plan.versioned` said so, its copies were priced without the old versions they leave");
        }
        if let (Some(days), true) = (noncurrent_days, v.versioned()) {
            v.noncurrent_rule = Some(match ensure_rules(ctx, bucket, scope, days).await {
                Ok(()) => {
                    info!(bucket, days, "noncurrent-version expiration in place");
                    "in_place".to_owned()
                }
                Err((code, message)) => {
                    error!(bucket, code = %code, message = %message, "noncurrent-version expiration rule not in place");
                    format!("failed:{code}")
                }
            });
        }
        out.insert(bucket.clone(), v);
    }
    out
}

async fn ensure_rules(
    ctx: &Ctx,
    bucket: &str,
    scope: &CopyScope,
    days: i32,
) -> Result<(), (String, String)> {
    // One bucket-wide rule covers every prefix.
    let prefixes: Vec<Option<&str>> = if scope.prefixes.iter().any(Option::is_none) {
        vec![None]
    } else {
        scope.prefixes.iter().map(Option::as_deref).collect()
    };
    let wanted = prefixes
        .into_iter()
        .map(|p| noncurrent_rule(p, days))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| ("invalid_rule".to_owned(), m))?;
    merge_into_bucket(ctx, bucket, &wanted).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::actions::lifecycle::tests::foreign_rule;
    use crate::apply::actions::merge_rules;

    /// The rule is scoped to the allowed prefix, bucket-wide only without one, and merging it
    /// a second time changes nothing (no duplicate). See: issue 15.
    #[test]
    fn the_noncurrent_rule_is_scoped_and_merged_once() {
        let r = noncurrent_rule(Some("docker/registry/v2/blobs/"), 30).unwrap();
        assert_eq!(
            r.id(),
            Some("blobtier-noncurrent@docker/registry/v2/blobs/")
        );
        assert_eq!(
            r.filter().unwrap().prefix(),
            Some("docker/registry/v2/blobs/")
        );
        assert_eq!(
            r.noncurrent_version_expiration().unwrap().noncurrent_days(),
            Some(30)
        );
        assert!(r.transitions().is_empty() && r.expiration().is_none());
        let wide = noncurrent_rule(None, 7).unwrap();
        assert_eq!(wide.id(), Some("blobtier-noncurrent"));
        assert_eq!(wide.filter().unwrap().prefix(), Some(""));
        let theirs = foreign_rule();
        let merged = merge_rules(std::slice::from_ref(&theirs), std::slice::from_ref(&r))
            .unwrap()
            .unwrap();
        assert_eq!(merged, vec![theirs, r.clone()]);
        assert_eq!(merge_rules(&merged, &[r]).unwrap(), None);
        assert!(noncurrent_rule(Some(&"p".repeat(300)), 30).is_err());
    }

    #[test]
    fn versioned_by_status_or_by_the_plan_when_s3_will_not_say() {
        let v = |status: &str, ids: bool| BucketVersioning {
            status: status.into(),
            plan_version_ids: ids,
            noncurrent_rule: None,
        };
        assert!(v("enabled", false).versioned() && v("suspended", false).versioned());
        assert!(!v("off", true).versioned());
        assert!(v("unknown", true).versioned() && !v("unknown", false).versioned());
    }
}
