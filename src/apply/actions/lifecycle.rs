//! The `lifecycle` action: tag the object `blobtier-tier=<tier>`; a bucket lifecycle rule
//! per tier moves it. The rules are made sure of once per bucket and run, by a
//! read-merge-write of the bucket's lifecycle configuration.
//!
//! A rule is bucket-wide only when the allow-list allows the whole bucket; when it allows
//! only prefixes, each rule is scoped to the prefix of the rows it serves (`Prefix` and the
//! tag, id `blobtier-tier-<tier>@<prefix>`), so nothing outside the allow-list can move by a
//! rule blobtier wrote.
//!
//! Invariants: the object's other tags are kept (at most [`MAX_TAGS`] in all, else the action
//! fails); every existing lifecycle rule and the minimum-object-size setting are kept, and a
//! concurrent writer makes the merge start over instead of being overwritten; only rules whose
//! id starts with [`RULE_PREFIX`] are ever replaced.

use std::collections::HashMap;
use std::ops::ControlFlow;

use aws_sdk_s3::types::{
    ExpirationStatus, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, Tag,
    Transition, TransitionStorageClass,
};
use tracing::warn;

use super::decide::{head_then_decide, planned_version};
use super::{done, failed, with_retries, Attempts, Ctx, Op, Step};
use crate::apply::s3::{CallError, LifecycleDoc};
use crate::plan::file::PlanRow;

/// The tag key of the lifecycle method.
pub const TAG_KEY: &str = "blobtier-tier";
/// S3's limit on tags per object.
pub const MAX_TAGS: usize = 10;
/// S3's limit on lifecycle rules per bucket.
pub const MAX_RULES: usize = 1000;
/// Lifecycle rule ids written by blobtier start with this.
pub const RULE_PREFIX: &str = "blobtier-tier-";

/// The tag set with `key=value` set (replacing an earlier value of `key`). Pure.
pub fn merge_tags(
    tags: &[(String, String)],
    key: &str,
    value: &str,
) -> Result<Vec<(String, String)>, usize> {
    let mut out: Vec<(String, String)> = tags.iter().filter(|(k, _)| k != key).cloned().collect();
    out.push((key.to_owned(), value.to_owned()));
    if out.len() > MAX_TAGS {
        return Err(out.len());
    }
    Ok(out)
}

/// One attempt of a `lifecycle` action: make sure of the bucket's rules (once per run), HEAD,
/// decide, then merge `blobtier-tier=<tier>` into the object's tags and read them back.
pub(super) async fn attempt(
    ctx: &Ctx,
    row: &PlanRow,
    st: &mut Attempts,
) -> Result<Step, CallError> {
    if let Err((code, message)) = ctx.lifecycle.ensure(ctx, &row.bucket).await {
        return Ok(failed("permanent", &code, message));
    }
    if let ControlFlow::Break(step) = head_then_decide(ctx, row, st, Op::Lifecycle).await? {
        return Ok(step);
    }
    let version = planned_version(row);
    let tags = ctx.s3.get_tags(&row.bucket, &row.key, version).await?;
    if tags.iter().any(|(k, v)| k == TAG_KEY && *v == row.tier) {
        return Ok(done(if st.tag_sent {
            "tagged"
        } else {
            "skipped:already_done"
        }));
    }
    let merged = match merge_tags(&tags, TAG_KEY, &row.tier) {
        Ok(m) => m,
        Err(n) => {
            return Ok(failed(
                "permanent",
                "too_many_tags",
                format!("adding `{TAG_KEY}` would give the object {n} tags (S3 allows {MAX_TAGS})"),
            ))
        }
    };
    st.tag_sent = true;
    ctx.s3
        .put_tags(&row.bucket, &row.key, version, &merged)
        .await?;
    let check = ctx.s3.get_tags(&row.bucket, &row.key, version).await?;
    if check.iter().any(|(k, v)| k == TAG_KEY && *v == row.tier) {
        Ok(done("tagged"))
    } else {
        Ok(failed(
            "permanent",
            "verify_mismatch",
            "the tag is missing after PutObjectTagging",
        ))
    }
}

/// One lifecycle rule a run needs in a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedRule {
    /// The tier (the tag value).
    pub tier: String,
    /// The target class.
    pub class: String,
    /// The allowed prefix (ending in `/`) the rule is limited to; `None`: the whole bucket
    /// is allowed.
    pub prefix: Option<String>,
}

/// The lifecycle rule that moves objects tagged `blobtier-tier=<tier>` to `class`: under
/// `prefix` only when one is given (id `blobtier-tier-<tier>@<prefix>`), else bucket-wide
/// (id `blobtier-tier-<tier>`).
pub fn rule_for(tier: &str, class: &str, prefix: Option<&str>) -> Result<LifecycleRule, String> {
    let tag = Tag::builder()
        .key(TAG_KEY)
        .value(tier)
        .build()
        .map_err(|e| e.to_string())?;
    let (id, filter) = match prefix {
        None => (
            format!("{RULE_PREFIX}{tier}"),
            LifecycleRuleFilter::builder().tag(tag).build(),
        ),
        Some(p) => (
            format!("{RULE_PREFIX}{tier}@{p}"),
            LifecycleRuleFilter::builder()
                .and(
                    LifecycleRuleAndOperator::builder()
                        .prefix(p)
                        .tags(tag)
                        .build(),
                )
                .build(),
        ),
    };
    if id.len() > 255 {
        return Err(format!(
            "lifecycle rule id `{id}` is longer than S3's 255 characters"
        ));
    }
    // The IA classes need 30 days in STANDARD first (counted from Last-Modified, not from
    // tagging, so older objects move at the next lifecycle run); the others can go at once.
    let days = match class {
        "STANDARD_IA" | "ONEZONE_IA" => 30,
        _ => 0,
    };
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(filter)
        .transitions(
            Transition::builder()
                .days(days)
                .storage_class(TransitionStorageClass::from(class))
                .build(),
        )
        .build()
        .map_err(|e| e.to_string())
}

/// Why a lifecycle merge cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    /// The result would exceed S3's 1,000 rules.
    TooManyRules(usize),
}

/// Merges `wanted` (blobtier's rules) into `existing`: every existing rule is kept in place,
/// a blobtier rule with the same id is replaced when it differs, new ones are appended.
/// `None` when nothing changes. Pure.
pub fn merge_rules(
    existing: &[LifecycleRule],
    wanted: &[LifecycleRule],
) -> Result<Option<Vec<LifecycleRule>>, MergeError> {
    let mut out = existing.to_vec();
    let mut changed = false;
    for w in wanted {
        match out.iter_mut().find(|r| r.id.is_some() && r.id == w.id) {
            Some(r) if r == w => {}
            Some(r) => {
                *r = w.clone();
                changed = true;
            }
            None => {
                out.push(w.clone());
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    if out.len() > MAX_RULES {
        return Err(MergeError::TooManyRules(out.len()));
    }
    Ok(Some(out))
}

/// Whether the configuration read back holds what was written: the same rule ids (servers may
/// normalise a rule's form) and blobtier's rules with their transitions.
fn holds(after: &LifecycleDoc, written: &[LifecycleRule], wanted: &[LifecycleRule]) -> bool {
    let ids = |rs: &[LifecycleRule]| {
        let mut v: Vec<String> = rs
            .iter()
            .map(|r| r.id.clone().unwrap_or_default())
            .collect();
        v.sort();
        v
    };
    ids(&after.rules) == ids(written)
        && wanted.iter().all(|w| {
            after.rules.iter().any(|r| {
                r.id == w.id
                    && r.status == w.status
                    && r.transitions == w.transitions
                    && r.noncurrent_version_expiration == w.noncurrent_version_expiration
                    && r.filter.as_ref().and_then(|f| f.prefix.clone())
                        == w.filter.as_ref().and_then(|f| f.prefix.clone())
                    && r.filter.as_ref().and_then(|f| f.tag.clone())
                        == w.filter.as_ref().and_then(|f| f.tag.clone())
                    && scope(r) == scope(w)
            })
        })
}

/// The prefix and tags of a rule's `And` filter (empty for other filters).
fn scope(r: &LifecycleRule) -> (Option<String>, Vec<Tag>) {
    r.filter
        .as_ref()
        .and_then(|f| f.and.as_ref())
        .map(|a| (a.prefix.clone(), a.tags.clone().unwrap_or_default()))
        .unwrap_or_default()
}

/// `Err((code, message))` when a bucket's rules could not be put in place.
pub(super) type RulesResult = Result<(), (String, String)>;

/// Per-bucket lifecycle rules: made sure of once per run, before the bucket's first object is
/// tagged.
pub struct LifecycleRules {
    /// The rules wanted per bucket (from the plan and the allow-list).
    wanted: HashMap<String, Vec<WantedRule>>,
    done: tokio::sync::Mutex<HashMap<String, RulesResult>>,
}

impl LifecycleRules {
    /// From the plan's lifecycle rows: bucket -> rules.
    pub fn new(wanted: HashMap<String, Vec<WantedRule>>) -> Self {
        LifecycleRules {
            wanted,
            done: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn ensure(&self, ctx: &Ctx, bucket: &str) -> RulesResult {
        let mut g = self.done.lock().await;
        if let Some(r) = g.get(bucket) {
            return r.clone();
        }
        let pairs = self.wanted.get(bucket).cloned().unwrap_or_default();
        let r = ensure_rules(ctx, bucket, &pairs).await;
        if let Err((code, message)) = &r {
            tracing::error!(bucket, code = %code, message = %message, "lifecycle rules not in place; the bucket's lifecycle actions fail");
        }
        g.insert(bucket.to_owned(), r.clone());
        r
    }
}

/// Read-merge-write of a bucket's lifecycle configuration, keeping every existing rule and the
/// `x-amz-transition-default-minimum-object-size` setting. PUT replaces the whole document and
/// has no precondition, so: read, merge, read again (a difference means a concurrent writer:
/// start over), write, read back and check.
async fn ensure_rules(
    ctx: &Ctx,
    bucket: &str,
    pairs: &[WantedRule],
) -> Result<(), (String, String)> {
    let wanted = pairs
        .iter()
        .map(|w| rule_for(&w.tier, &w.class, w.prefix.as_deref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| ("invalid_rule".to_owned(), m))?;
    merge_into_bucket(ctx, bucket, &wanted).await
}

/// Read-merge-write of `wanted` (blobtier's rules) into a bucket's lifecycle configuration,
/// keeping every other rule and the minimum-size setting ([`merge_rules`]; see
/// `ensure_rules`).
pub(super) async fn merge_into_bucket(
    ctx: &Ctx,
    bucket: &str,
    wanted: &[LifecycleRule],
) -> RulesResult {
    let err = |e: CallError| (e.code(), e.to_string());
    for round in 1..=5 {
        let first = with_retries(ctx, || ctx.s3.get_lifecycle(bucket))
            .await
            .map_err(err)?;
        let merged = match merge_rules(&first.rules, wanted) {
            Ok(None) => return Ok(()),
            Ok(Some(m)) => m,
            Err(MergeError::TooManyRules(n)) => {
                return Err((
                    "too_many_lifecycle_rules".into(),
                    format!(
                        "bucket `{bucket}` would need {n} lifecycle rules (S3 allows {MAX_RULES})"
                    ),
                ))
            }
        };
        let again = with_retries(ctx, || ctx.s3.get_lifecycle(bucket))
            .await
            .map_err(err)?;
        if again != first {
            warn!(
                bucket,
                round, "lifecycle configuration changed while merging; starting over"
            );
            continue;
        }
        let doc = LifecycleDoc {
            rules: merged.clone(),
            min_size: first.min_size.clone(),
        };
        with_retries(ctx, || ctx.s3.put_lifecycle(bucket, &doc))
            .await
            .map_err(err)?;
        let after = with_retries(ctx, || ctx.s3.get_lifecycle(bucket))
            .await
            .map_err(err)?;
        let size_kept = first.min_size.is_none() || after.min_size == first.min_size;
        if holds(&after, &merged, wanted) && size_kept {
            tracing::info!(bucket, rules = merged.len(), "lifecycle rules in place");
            return Ok(());
        }
        warn!(
            bucket,
            round,
            "lifecycle configuration read back differs (a concurrent writer?); starting over"
        );
    }
    Err((
        "lifecycle_conflict".into(),
        format!("bucket `{bucket}`: the lifecycle configuration kept changing under us"),
    ))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A rule of the bucket's owner (not ours) that every merge must keep as it is.
    pub(in crate::apply::actions) fn foreign_rule() -> LifecycleRule {
        LifecycleRule::builder()
            .id("expire-uploads")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("uploads/").build())
            .build()
            .unwrap()
    }

    #[test]
    fn tag_merge() {
        let t = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            merge_tags(&[t("a", "1")], TAG_KEY, "cold").unwrap(),
            vec![t("a", "1"), t(TAG_KEY, "cold")]
        );
        assert_eq!(
            merge_tags(&[t(TAG_KEY, "cool"), t("a", "1")], TAG_KEY, "cold").unwrap(),
            vec![t("a", "1"), t(TAG_KEY, "cold")]
        );
        let nine: Vec<_> = (0..9).map(|i| t(&format!("k{i}"), "v")).collect();
        assert_eq!(merge_tags(&nine, TAG_KEY, "x").unwrap().len(), 10);
        let ten: Vec<_> = (0..10).map(|i| t(&format!("k{i}"), "v")).collect();
        assert_eq!(merge_tags(&ten, TAG_KEY, "x"), Err(11));
    }

    #[test]
    fn rule_merge_keeps_existing_rules() {
        let theirs = foreign_rule();
        let cold = rule_for("cold", "GLACIER_IR", None).unwrap();
        let merged = merge_rules(std::slice::from_ref(&theirs), std::slice::from_ref(&cold))
            .unwrap()
            .unwrap();
        assert_eq!(merged, vec![theirs.clone(), cold.clone()]);
        // Nothing to do the second time.
        assert_eq!(
            merge_rules(&merged, std::slice::from_ref(&cold)).unwrap(),
            None
        );
        // Our rule with another class is replaced in place.
        let cold2 = rule_for("cold", "DEEP_ARCHIVE", None).unwrap();
        let m2 = merge_rules(&merged, std::slice::from_ref(&cold2))
            .unwrap()
            .unwrap();
        assert_eq!(m2, vec![theirs.clone(), cold2]);
        // 1,000 rules at most.
        let many: Vec<_> = (0..MAX_RULES)
            .map(|i| {
                LifecycleRule::builder()
                    .id(format!("r{i}"))
                    .status(ExpirationStatus::Enabled)
                    .build()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            merge_rules(&many, &[cold]),
            Err(MergeError::TooManyRules(MAX_RULES + 1))
        );
        let ia = rule_for("cool", "STANDARD_IA", None).unwrap();
        assert_eq!(ia.transitions()[0].days(), Some(30));
    }

    /// With only a prefix allowed, the rule is limited to it (and the tag), under an id of
    /// its own. See: issue 15.
    #[test]
    fn rules_are_scoped_to_the_allowed_prefix() {
        let wide = rule_for("cold", "GLACIER_IR", None).unwrap();
        assert!(wide.filter().unwrap().and().is_none());
        let r = rule_for("cold", "GLACIER_IR", Some("docker/registry/")).unwrap();
        assert_eq!(r.id(), Some("blobtier-tier-cold@docker/registry/"));
        let f = r.filter().unwrap();
        assert!(f.tag().is_none() && f.prefix().is_none());
        let and = f.and().unwrap();
        assert_eq!(and.prefix(), Some("docker/registry/"));
        assert_eq!(and.tags()[0].key(), TAG_KEY);
        assert_eq!(and.tags()[0].value(), "cold");
        let long = "p".repeat(300);
        assert!(rule_for("cold", "GLACIER_IR", Some(&long)).is_err());
    }
}
