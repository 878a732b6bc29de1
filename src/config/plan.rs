//! `[plan]` and `[hot_set]`: the tiering policy and the cost model's choices. Every
//! vocabulary key (`estimator`, `method`, `restore_tier`, `archive_scope`, a tier's `class`)
//! is parsed here, once, into its `crate::model` enum; a name it does not have is an error
//! naming the key. Validated by [`validate`], which only adds to the caller's errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;

use super::Errors;
use crate::cost::REGIONS;
use crate::model::units::parse_size;
use crate::model::{vocabulary, Estimator, Method, RestoreTier, StorageClass};

/// `[plan]`: the tiering policy and the cost model's choices.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// Months over which savings must exceed one-time costs. Default 12.
    pub horizon_months: Option<u32>,
    /// Longest acceptable payback in days. Default 180.
    pub max_payback_days: Option<f64>,
    /// Blobs younger than this stay (used by the default `warm` rule). Default 30.
    pub min_age_days: Option<u32>,
    /// Objects smaller than this never move. Default "128 KiB".
    pub min_size: Option<String>,
    /// Expected-pulls estimator: `rate_90d` (default), `rate_30d`, `max_7d_30d`.
    pub estimator: Option<String>,
    /// `copy` (default) or `lifecycle`.
    pub method: Option<String>,
    /// Buckets are versioned: a copy leaves the old version billed. Absent (the default):
    /// detected per bucket from the inventory's version ids (`plan::build::detect_versioning`).
    pub versioned: Option<bool>,
    /// Days a noncurrent version lives before a `NoncurrentVersionExpiration` rule deletes it
    /// (versioned buckets): what a copy's old version is priced for. 1 to 3650, default 30.
    pub noncurrent_days: Option<u32>,
    /// Restore tier for archived blobs clients ask for: `bulk` (default), `standard`, `expedited`.
    pub restore_tier: Option<String>,
    /// Also plan INTELLIGENT_TIERING objects. Default false (left alone).
    pub include_intelligent_tiering: Option<bool>,
    /// Only blobs whose key matches one of these globs (default: all).
    pub include_keys: Option<Vec<String>>,
    /// Never blobs whose key matches one of these globs.
    pub exclude_keys: Option<Vec<String>>,
    /// Only blobs referenced by one of these repositories (globs; needs layer links in the inventory).
    pub include_repos: Option<Vec<String>>,
    /// Never blobs referenced by one of these repositories (globs).
    pub exclude_repos: Option<Vec<String>>,
    /// A manifest pull counts as a use of every blob the manifest references (through
    /// indexes): `pulls_30d`/`pulls_90d` become at least `manifest_pulls_30d`/`_90d` and
    /// `days_since_last_pull` at most the days since the last manifest pull. Default true.
    pub count_manifest_pulls: Option<bool>,
    /// Which blobs may go to GLACIER or DEEP_ARCHIVE (classes the registry cannot serve
    /// without a restore): `untagged` (default; the image graph shows no current tag reaches
    /// the blob), `unreferenced` (no manifest references it at all: what `registry
    /// garbage-collect` would delete), or `untagged_or_unknown` (also blobs the lake has no
    /// image graph for; for lakes without `--registry-storage`, at your own risk). A blob the
    /// graph shows a current tag reaches never goes there, whatever this says.
    pub archive_scope: Option<String>,
    /// AWS region of the buckets, whose compiled-in price table the plan uses: one of
    /// `cost::REGIONS` (`us-east-1`, `us-west-2`, `eu-west-1`, `eu-central-1`,
    /// `ap-northeast-1`). Default `us-east-1`. `pricing` overrides it.
    pub region: Option<String>,
    /// A pricing TOML file instead of the compiled-in table of `region`.
    pub pricing: Option<PathBuf>,
    /// Per-bucket overrides: `[plan.buckets.<name>] method = "lifecycle"`, `versioned = true`.
    #[serde(default)]
    pub buckets: BTreeMap<String, RawBucket>,
    /// Ordered tier rules; replaces the defaults when given.
    pub tiers: Option<Vec<RawTier>>,
}

/// `[plan.buckets.<name>]`.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawBucket {
    /// `copy` or `lifecycle`.
    pub method: Option<String>,
    /// Bucket versioning (absent: `plan.versioned`, else detected).
    pub versioned: Option<bool>,
}

/// `[[plan.tiers]]`: first matching rule wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    /// Name (`hot`, `warm`, `cool`, `cold`, `archive`, …).
    pub name: String,
    /// SQL boolean expression over the `digest_stats` columns.
    pub when: String,
    /// Target storage class.
    pub class: String,
    /// Default true.
    pub enabled: Option<bool>,
}

/// `[hot_set]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHotSet {
    /// Cap on the hot set's bytes. Default "100 GiB".
    pub max_bytes: Option<String>,
}

/// A validated tier rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRule {
    /// Name.
    pub name: String,
    /// SQL boolean expression (validated against the stats columns by the plan stage).
    pub when: String,
    /// Target storage class (one of `StorageClass::MANAGED`).
    pub class: StorageClass,
}

/// Validated `[plan]` and `[hot_set]`.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// Savings horizon.
    pub horizon_months: u32,
    /// Longest payback.
    pub max_payback_days: f64,
    /// Minimum age (default warm rule).
    pub min_age_days: u32,
    /// Objects below this size stay.
    pub min_size: u64,
    /// Expected-pulls estimator.
    pub estimator: Estimator,
    /// Default method.
    pub method: Method,
    /// Versioning forced by the config (`None`: detected per bucket from the inventory).
    pub versioned: Option<bool>,
    /// Noncurrent-version lifetime in days.
    pub noncurrent_days: u32,
    /// Restore tier for archived blobs clients ask for.
    pub restore_tier: RestoreTier,
    /// Plan INTELLIGENT_TIERING objects too.
    pub include_intelligent_tiering: bool,
    /// Key include globs (empty = all).
    pub include_keys: Vec<glob::Pattern>,
    /// Key exclude globs.
    pub exclude_keys: Vec<glob::Pattern>,
    /// Repository include globs (empty = all).
    pub include_repos: Vec<glob::Pattern>,
    /// Repository exclude globs.
    pub exclude_repos: Vec<glob::Pattern>,
    /// A manifest pull counts as a use of every blob it references.
    pub count_manifest_pulls: bool,
    /// Which blobs may go to a class that needs a restore.
    pub archive_scope: ArchiveScope,
    /// Region of the compiled-in price table (one of `cost::REGIONS`).
    pub region: String,
    /// Pricing file (None = the compiled-in table of `region`).
    pub pricing: Option<PathBuf>,
    /// Per-bucket (method, versioning forced by the config; `None`: detected).
    pub buckets: BTreeMap<String, (Method, Option<bool>)>,
    /// Enabled tier rules in order.
    pub tiers: Vec<TierRule>,
    /// Hot-set byte cap.
    pub hot_set_max_bytes: u64,
}

/// `plan.noncurrent_days` when absent.
pub const DEFAULT_NONCURRENT_DAYS: u32 = 30;
/// Largest `plan.noncurrent_days`.
pub const MAX_NONCURRENT_DAYS: u32 = 3650;

impl PlanConfig {
    /// Versioning of `bucket` as the config forces it (`[plan.buckets.<name>] versioned`,
    /// else `plan.versioned`); `None`: detect it.
    pub fn versioned_for(&self, bucket: &str) -> Option<bool> {
        self.buckets.get(bucket).map_or(self.versioned, |(_, v)| *v)
    }

    /// The method for `bucket` (`[plan.buckets.<name>] method`, else `plan.method`).
    pub fn method_for(&self, bucket: &str) -> Method {
        self.buckets.get(bucket).map_or(self.method, |(m, _)| *m)
    }
}

vocabulary! {
    /// Which blobs may go to GLACIER or DEEP_ARCHIVE (`plan.archive_scope`).
    pub enum ArchiveScope ("archive scope") {
        /// Blobs no current tag reaches (they may still be pullable by digest).
        Untagged = "untagged",
        /// Blobs no manifest references (what garbage collection would delete).
        Unreferenced = "unreferenced",
        /// Blobs no current tag reaches, or whose reach is unknown (no image graph).
        UntaggedOrUnknown = "untagged_or_unknown",
    }
}

/// The default tier rules (first match wins).
pub fn default_tiers(min_age_days: u32) -> Vec<RawTier> {
    let t = |name: &str, when: String, class: &str, enabled: bool| RawTier {
        name: name.into(),
        when,
        class: class.into(),
        enabled: Some(enabled),
    };
    vec![
        t("hot", "pulls_7d >= 20".into(), "STANDARD", true),
        t(
            "warm",
            format!("pulls_30d > 0 OR age_days < {min_age_days}"),
            "STANDARD",
            true,
        ),
        t(
            "cold",
            "COALESCE(days_since_last_pull, 100000) >= 90 AND age_days >= 90".into(),
            "GLACIER_IR",
            true,
        ),
        t(
            "cool",
            "COALESCE(days_since_last_pull, 100000) >= 30".into(),
            "STANDARD_IA",
            true,
        ),
        // A registry cannot serve GLACIER/DEEP_ARCHIVE blobs without a restore. The plan keeps
        // every blob a current tag reaches out of them (`plan.archive_scope`), whatever the
        // rule says; still off by default: an untagged image can be pulled by digest.
        t(
            "archive",
            "COALESCE(days_since_last_pull, 100000) >= 180 AND age_days >= 180 AND referenced_by_tag = FALSE".into(),
            "DEEP_ARCHIVE",
            false,
        ),
    ]
}

/// Validates `[plan]` and `[hot_set]`.
pub(super) fn validate(p: RawPlan, h: RawHotSet, errors: &mut Errors) -> PlanConfig {
    let horizon_months = p.horizon_months.unwrap_or(12);
    if horizon_months == 0 || horizon_months > 120 {
        errors.add(
            "plan.horizon_months",
            format!("expected 1 to 120, got `{horizon_months}`"),
        );
    }
    let max_payback_days = p.max_payback_days.unwrap_or(180.0);
    if max_payback_days.is_nan() || max_payback_days < 0.0 {
        errors.add(
            "plan.max_payback_days",
            format!("expected >= 0, got `{max_payback_days}`"),
        );
    }
    let min_age_days = p.min_age_days.unwrap_or(30);
    let estimator = errors.name("plan.estimator", p.estimator, Estimator::Rate90d);
    let restore_tier = errors.name("plan.restore_tier", p.restore_tier, RestoreTier::Bulk);
    let method = errors.name("plan.method", p.method, Method::Copy);
    let archive_scope = errors.name(
        "plan.archive_scope",
        p.archive_scope,
        ArchiveScope::Untagged,
    );
    let versioned = p.versioned;
    let region = p.region.unwrap_or_else(|| REGIONS[0].to_string());
    if !REGIONS.contains(&region.as_str()) {
        errors.add(
            "plan.region",
            format!("expected one of `{}`, got `{region}`", REGIONS.join("`, `")),
        );
    }
    let mut buckets = BTreeMap::new();
    for (name, b) in p.buckets {
        let m = errors.name(&format!("plan.buckets.{name}.method"), b.method, method);
        buckets.insert(name, (m, b.versioned.or(versioned)));
    }
    let noncurrent_days = p.noncurrent_days.unwrap_or(DEFAULT_NONCURRENT_DAYS);
    if !(1..=MAX_NONCURRENT_DAYS).contains(&noncurrent_days) {
        // S3 refuses `NoncurrentDays` < 1 in a rule; ten years is beyond any horizon.
        errors.add(
            "plan.noncurrent_days",
            format!("expected 1 to {MAX_NONCURRENT_DAYS}, got `{noncurrent_days}`"),
        );
    }
    let raw_tiers = p.tiers.unwrap_or_else(|| default_tiers(min_age_days));
    PlanConfig {
        horizon_months,
        max_payback_days,
        min_age_days,
        tiers: validate_tiers(raw_tiers, errors),
        min_size: size("plan.min_size", p.min_size, 128 * 1024, errors),
        estimator,
        method,
        versioned,
        noncurrent_days,
        restore_tier,
        include_intelligent_tiering: p.include_intelligent_tiering.unwrap_or(false),
        include_keys: globs("plan.include_keys", p.include_keys, errors),
        exclude_keys: globs("plan.exclude_keys", p.exclude_keys, errors),
        include_repos: globs("plan.include_repos", p.include_repos, errors),
        exclude_repos: globs("plan.exclude_repos", p.exclude_repos, errors),
        count_manifest_pulls: p.count_manifest_pulls.unwrap_or(true),
        archive_scope,
        region,
        pricing: p.pricing,
        buckets,
        hot_set_max_bytes: size("hot_set.max_bytes", h.max_bytes, 100 << 30, errors),
    }
}

/// `[[plan.tiers]]`: names unique and tag-safe, a `when`, a managed class; the enabled
/// rules, in order.
fn validate_tiers(raw: Vec<RawTier>, errors: &mut Errors) -> Vec<TierRule> {
    let mut tiers = Vec::new();
    let mut names = BTreeSet::new();
    for (i, t) in raw.into_iter().enumerate() {
        let key = format!("plan.tiers[{i}]");
        let class = StorageClass::parse_managed(&t.class).unwrap_or_else(|e| {
            errors.add(format!("{key}.class"), e.to_string());
            // Never used: the config is refused.
            StorageClass::Unknown(t.class.clone())
        });
        let tag_safe = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if t.name.is_empty() || !t.name.chars().all(tag_safe) {
            errors.add(
                format!("{key}.name"),
                format!("expected letters, digits, `_` or `-`, got `{}`", t.name),
            );
        }
        if !names.insert(t.name.clone()) {
            errors.add(
                format!("{key}.name"),
                format!("duplicate tier name `{}`", t.name),
            );
        }
        if t.when.trim().is_empty() {
            errors.add(
                format!("{key}.when"),
                "expected a SQL boolean expression, got an empty string",
            );
        }
        if t.enabled.unwrap_or(true) {
            tiers.push(TierRule {
                name: t.name,
                when: t.when,
                class,
            });
        }
    }
    tiers
}

/// A size with a unit (`model::units::parse_size`), `default` when absent.
fn size(key: &str, v: Option<String>, default: u64, errors: &mut Errors) -> u64 {
    let Some(s) = v else {
        return default;
    };
    parse_size(&s).unwrap_or_else(|| {
        errors.add(key, format!("expected a size such as `128 KiB`, got `{s}`"));
        default
    })
}

fn globs(key: &str, v: Option<Vec<String>>, errors: &mut Errors) -> Vec<glob::Pattern> {
    let mut out = Vec::new();
    for p in v.unwrap_or_default() {
        match glob::Pattern::new(&p) {
            Ok(g) => out.push(g),
            Err(e) => errors.add(key, format!("invalid glob `{p}`: {e}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_toml;

    /// `[plan]` with the vocabulary keys set to `(estimator, method, restore_tier,
    /// archive_scope, bucket method)`, and one tier rule per class.
    fn plan_toml(names: [&str; 5], classes: &[&str]) -> String {
        let [estimator, method, restore_tier, archive_scope, bucket] = names;
        let mut toml = format!(
            "[plan]\nestimator = '{estimator}'\nmethod = '{method}'\n\
             restore_tier = '{restore_tier}'\narchive_scope = '{archive_scope}'\n\
             [plan.buckets.reg]\nmethod = '{bucket}'\n"
        );
        for (i, class) in classes.iter().enumerate() {
            toml += &format!("[[plan.tiers]]\nname = 't{i}'\nwhen = 'TRUE'\nclass = '{class}'\n");
        }
        toml
    }

    /// Every vocabulary key: a name it does not have is an error naming the key and the
    /// accepted values, never a default. See: issue 14.
    #[test]
    fn every_vocabulary_key_refuses_unknown_names() {
        let toml = plan_toml(
            ["ewma", "move", "Bulk", "all", "rsync"],
            &["GLACIER_DEEP", "EXPRESS_ONEZONE", "standard"],
        );
        let errs = validate_toml(&toml).unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let classes = "`STANDARD`, `INTELLIGENT_TIERING`, `STANDARD_IA`, `ONEZONE_IA`, \
                       `GLACIER_IR`, `GLACIER`, `DEEP_ARCHIVE`";
        assert_eq!(
            shown,
            [
                "invalid `plan.estimator`: expected one of `rate_90d`, `rate_30d`, `max_7d_30d`, got `ewma`".to_string(),
                "invalid `plan.restore_tier`: expected one of `expedited`, `standard`, `bulk`, got `Bulk`".into(),
                "invalid `plan.method`: expected one of `copy`, `lifecycle`, got `move`".into(),
                "invalid `plan.archive_scope`: expected one of `untagged`, `unreferenced`, `untagged_or_unknown`, got `all`".into(),
                "invalid `plan.buckets.reg.method`: expected one of `copy`, `lifecycle`, got `rsync`".into(),
                format!("invalid `plan.tiers[0].class`: expected one of {classes}, got `GLACIER_DEEP`"),
                format!("invalid `plan.tiers[1].class`: expected one of {classes}, got `EXPRESS_ONEZONE`"),
                format!("invalid `plan.tiers[2].class`: expected one of {classes}, got `standard`"),
            ]
        );
    }

    /// `plan.noncurrent_days` is what the rule's `NoncurrentDays` will say: S3 needs at
    /// least 1; the error names the key. Versioning absent is detected, a bucket's own
    /// setting wins. See: issue 15.
    #[test]
    fn noncurrent_days_are_validated_and_versioning_may_be_forced() {
        for bad in [0, 3651] {
            let errs = validate_toml(&format!("[plan]\nnoncurrent_days = {bad}\n")).unwrap_err();
            let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
            assert_eq!(
                shown,
                [format!(
                    "invalid `plan.noncurrent_days`: expected 1 to 3650, got `{bad}`"
                )]
            );
        }
        let p = validate_toml("").unwrap().plan;
        assert_eq!((p.noncurrent_days, p.versioned), (30, None));
        assert_eq!(p.versioned_for("any"), None);
        let p = validate_toml(
            "[plan]\nversioned = true\nnoncurrent_days = 7\n\
             [plan.buckets.a]\nversioned = false\n[plan.buckets.b]\nmethod = 'copy'\n",
        )
        .unwrap()
        .plan;
        assert_eq!(p.noncurrent_days, 7);
        assert_eq!(
            (
                p.versioned_for("a"),
                p.versioned_for("b"),
                p.versioned_for("c")
            ),
            (Some(false), Some(true), Some(true))
        );
    }

    /// `plan.region`: one of the regions with a compiled-in price table. See: issue 15.
    #[test]
    fn region_is_validated() {
        let errs = validate_toml("[plan]\nregion = 'mars-1'\n").unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "invalid `plan.region`: expected one of `us-east-1`, `us-west-2`, `eu-west-1`, \
              `eu-central-1`, `ap-northeast-1`, got `mars-1`"
            ]
        );
        assert_eq!(validate_toml("").unwrap().plan.region, "us-east-1");
        let p = validate_toml("[plan]\nregion = 'eu-central-1'\n")
            .unwrap()
            .plan;
        assert_eq!(p.region, "eu-central-1");
    }

    #[test]
    fn vocabulary_keys_are_parsed_once_into_their_enums() {
        let toml = plan_toml(
            [
                "max_7d_30d",
                "lifecycle",
                "expedited",
                "unreferenced",
                "copy",
            ],
            &["GLACIER_IR"],
        );
        let p = validate_toml(&toml).unwrap().plan;
        assert_eq!(p.estimator, Estimator::Max7d30d);
        assert_eq!(p.method, Method::Lifecycle);
        assert_eq!(p.restore_tier, RestoreTier::Expedited);
        assert_eq!(p.archive_scope, ArchiveScope::Unreferenced);
        assert_eq!(p.buckets["reg"], (Method::Copy, None));
        assert_eq!(p.tiers[0].class, StorageClass::GlacierIr);
        // The defaults.
        let p = validate_toml("").unwrap().plan;
        assert_eq!(
            (p.estimator, p.method, p.restore_tier, p.archive_scope),
            (
                Estimator::Rate90d,
                Method::Copy,
                RestoreTier::Bulk,
                ArchiveScope::Untagged
            )
        );
    }
}
