//! `blobtier.toml`: the pipeline's meaning (layout, client identity, thresholds, user-agent
//! classes). Parsed into [`RawConfig`] (serde, unknown keys rejected), then validated once by
//! the pure [`RawConfig::validate`], which collects every error and names its key.
//! Precedence: CLI flag > `BLOBTIER_*` environment > `blobtier.toml` > default.
//! This module reads the config file and the environment and nothing else.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::model::units::parse_size;
use crate::model::windows::{Windows, PLAN_WINDOWS};
use crate::model::{
    vocabulary, Estimator, Layout, Method, RestoreTier, StorageClass, UaClass, UnknownName,
};

/// Secret for the keyed client hash (HMAC-SHA256).
pub const ENV_CLIENT_KEY: &str = "BLOBTIER_CLIENT_KEY";
/// `1`/`true` switches S3 path-style addressing on (S3-compatible stores).
pub const ENV_S3_PATH_STYLE: &str = "BLOBTIER_S3_PATH_STYLE";

/// The config file as written by a person; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[ingest]` table.
    #[serde(default)]
    pub ingest: RawIngest,
    /// `[s3]` table.
    #[serde(default)]
    pub s3: RawS3,
    /// `[plan]` table.
    #[serde(default)]
    pub plan: RawPlan,
    /// `[hot_set]` table.
    #[serde(default)]
    pub hot_set: RawHotSet,
    /// `[run]` table: what the nightly job reads and where it writes.
    #[serde(default)]
    pub run: RawRun,
    /// `[apply]` table.
    #[serde(default)]
    pub apply: RawApply,
}

/// `[apply]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApply {
    /// Buckets (`bucket`) or prefixes (`bucket/prefix`) apply may change; `--allow-bucket` adds to it.
    pub allow: Option<Vec<String>>,
}

/// `[run]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    /// The lake: a directory, or `s3://bucket/prefix` (same layout; `run` works on a local
    /// mirror and publishes to it, see `docs/nightly.md`). Required by `run`.
    pub lake: Option<String>,
    /// Local mirror of an `s3://` lake. Default: `$XDG_CACHE_HOME/blobtier/lake/<hash of the
    /// URL>` (or `~/.cache/…`). Only with an `s3://` lake.
    pub lake_cache: Option<PathBuf>,
    /// Lease of the lock object of an `s3://` lake, a duration (`"10m"`, `"90s"`): renewed
    /// every third of it while the run lives; a lock whose lease has run out is taken over.
    /// At least 10 s. Default `"10m"`.
    pub lock_lease: Option<String>,
    /// Log sources, `FORMAT:PATH` as for `ingest --logs`.
    pub logs: Option<Vec<String>>,
    /// Where inventory reports land: a directory or `s3://bucket/prefix` holding
    /// `<YYYY-MM-DDTHH-MMZ>/manifest.json` folders; the newest on or before as-of is ingested.
    pub inventory: Option<String>,
    /// Windows for stats, in days: 1 to 3660, including 7, 30 and 90 (the plan reads
    /// those). Default [7, 30, 90].
    pub windows: Option<Vec<u32>>,
    /// Oldest acceptable inventory snapshot, in days before as-of. Default 3.
    pub max_inventory_age_days: Option<u32>,
    /// The registry's storage (`DIR` or `s3://bucket/prefix`, the directory that holds
    /// `docker/registry/v2/`): the image graph is rebuilt on every run. Default: none.
    pub registry_storage: Option<String>,
    /// `[run.retention]`: how long partitions are kept. Default: forever (nothing pruned).
    #[serde(default)]
    pub retention: RawRetention,
}

/// `[run.retention]`: per table, the age in days (relative to as-of) past which whole
/// partitions are deleted at the end of `run` (and by `blobtier prune`). An absent key keeps
/// that table forever. A partition dated D is deleted when D < as-of − N days.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    /// `pulls/` and `manifest_pulls/` (`date=`), the raw pulls. At least the longest stats
    /// window (and at least 90: digest_stats always has 30- and 90-day columns).
    pub pulls_days: Option<u32>,
    /// `inventory/` (`snapshot=`); the newest snapshot on or before as-of is always kept.
    pub inventory_days: Option<u32>,
    /// The image graph, `blob_refs/`, `manifest_refs/`, `tags/` (`snapshot=`); the newest
    /// snapshot on or before as-of is always kept.
    pub graph_days: Option<u32>,
    /// `digest_stats/` (`as_of=`).
    pub digest_stats_days: Option<u32>,
    /// `decisions/` (`as_of=`).
    pub decisions_days: Option<u32>,
    /// `plan/` and `hot_set/` (`as_of=`).
    pub plan_days: Option<u32>,
    /// `reports/` (`as_of=`).
    pub reports_days: Option<u32>,
    /// `backtests/` (`as_of=`).
    pub backtests_days: Option<u32>,
    /// `_rejects/` (`date=` of the ingest run), the quarantine of malformed lines.
    pub rejects_days: Option<u32>,
    /// `_runs/<run id>.json`, dated by the run id (when the run started, UTC).
    pub runs_days: Option<u32>,
}

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
    /// Buckets are versioned: a copy leaves the old version billed. Default false.
    pub versioned: Option<bool>,
    /// Days a noncurrent version lives before lifecycle expires it (versioned buckets). Default 30.
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
    /// A pricing TOML file instead of the built-in us-east-1 table.
    pub pricing: Option<PathBuf>,
    /// Per-bucket overrides: `[plan.buckets.<name>] method = "lifecycle"`, `versioned = true`.
    #[serde(default)]
    pub buckets: std::collections::BTreeMap<String, RawBucket>,
    /// Ordered tier rules; replaces the defaults when given.
    pub tiers: Option<Vec<RawTier>>,
}

/// `[plan.buckets.<name>]`.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawBucket {
    /// `copy` or `lifecycle`.
    pub method: Option<String>,
    /// Bucket versioning.
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

/// `[ingest]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIngest {
    /// Secret for the client hash (prefer the `BLOBTIER_CLIENT_KEY` environment variable).
    pub client_key: Option<String>,
    /// Store client addresses as logged instead of hashing them. Default false.
    pub raw_clients: Option<bool>,
    /// Reject ratio above which a file makes the run exit 1. Default 0.01.
    pub max_bad_ratio: Option<f64>,
    /// s3-access: count `AuthHeader` blob GETs as pulls (redirect disabled). Default false.
    pub s3_include_auth_header: Option<bool>,
    /// The registry storage driver's `rootdirectory`; absent = accept any prefix.
    pub registry_root: Option<String>,
    /// `[ingest.ua_classes]`: substring patterns per class, checked scanner → ci → human.
    #[serde(default)]
    pub ua_classes: RawUaClasses,
}

/// `[ingest.ua_classes]`: case-insensitive substrings; an absent list keeps the default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUaClasses {
    /// Scanner user agents.
    pub scanner: Option<Vec<String>>,
    /// CI and orchestrator user agents.
    pub ci: Option<Vec<String>>,
    /// Interactive user agents.
    pub human: Option<Vec<String>>,
}

/// `[s3]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawS3 {
    /// Path-style addressing for S3-compatible stores. Default false.
    pub path_style: Option<bool>,
}

/// Default scanner patterns (checked first).
pub const DEFAULT_SCANNER_UAS: &[&str] = &[
    "trivy",
    "grype",
    "clair",
    "amazon inspector",
    "amazoninspector",
    "aws-inspector",
    "inspector2",
    "prisma",
    "twistlock",
];
/// Default CI / orchestrator patterns.
pub const DEFAULT_CI_UAS: &[&str] = &[
    "buildkit",
    "kaniko",
    "containerd",
    "cri-o",
    "skopeo",
    "crane",
    "go-containerregistry",
    "github-actions",
    "gitlab-runner",
];
/// Default interactive patterns.
pub const DEFAULT_HUMAN_UAS: &[&str] = &["docker/", "docker-client", "podman", "libpod"];

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Ingest settings.
    pub ingest: IngestConfig,
    /// Plan settings.
    pub plan: PlanConfig,
    /// Path-style addressing for S3.
    pub s3_path_style: bool,
    /// Nightly-job settings.
    pub run: RunConfig,
    /// `apply.allow`.
    pub apply_allow: Vec<String>,
}

/// Where a lake is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// A local directory.
    Local(PathBuf),
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key prefix: empty, or ending with `/`.
        prefix: String,
    },
}

impl LakeLocation {
    /// Parses `run.lake`: `s3://bucket[/prefix]` or a path.
    pub fn parse(s: &str) -> Result<LakeLocation, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_matches('/');
            if bucket.is_empty() || prefix.contains("//") {
                return Err(format!(
                    "expected `s3://bucket/prefix` or a directory, got `{s}`"
                ));
            }
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            Ok(LakeLocation::S3 {
                bucket: bucket.to_owned(),
                prefix,
            })
        } else if s.is_empty() || s.contains("://") || s.starts_with("s3:") {
            Err(format!(
                "expected `s3://bucket/prefix` or a directory, got `{s}`"
            ))
        } else {
            Ok(LakeLocation::Local(PathBuf::from(s)))
        }
    }
}

impl std::fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeLocation::Local(p) => write!(f, "{}", p.display()),
            LakeLocation::S3 { bucket, prefix } => {
                write!(f, "s3://{bucket}/{}", prefix.trim_end_matches('/'))
            }
        }
    }
}

/// Default lease of an `s3://` lake's lock.
pub const DEFAULT_LOCK_LEASE: std::time::Duration = std::time::Duration::from_secs(600);
/// Shortest accepted lease.
pub const MIN_LOCK_LEASE: std::time::Duration = std::time::Duration::from_secs(10);

/// Validated `[run]`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Lake (required by `run`).
    pub lake: Option<LakeLocation>,
    /// Local mirror of an `s3://` lake, if set.
    pub lake_cache: Option<PathBuf>,
    /// Lease of an `s3://` lake's lock.
    pub lock_lease: std::time::Duration,
    /// Log sources.
    pub logs: Vec<(crate::model::LogFormat, String)>,
    /// Inventory location.
    pub inventory: Option<String>,
    /// Stats windows.
    pub windows: Vec<u32>,
    /// Maximum inventory age.
    pub max_inventory_age_days: u32,
    /// The registry's storage for the image graph.
    pub registry_storage: Option<String>,
    /// Retention ages (validated: pulls kept at least [`RunConfig::longest_window`]).
    pub retention: RawRetention,
}

impl RunConfig {
    /// The longest window the stats read pulls for: the longest of `run.windows`, and at
    /// least 90 (digest_stats always computes 30- and 90-day columns).
    pub fn longest_window(&self) -> u32 {
        self.windows.iter().copied().chain([90]).max().unwrap_or(90)
    }
}

impl RawRetention {
    /// Each key with its value, in config order.
    pub fn entries(&self) -> [(&'static str, Option<u32>); 10] {
        [
            ("pulls_days", self.pulls_days),
            ("inventory_days", self.inventory_days),
            ("graph_days", self.graph_days),
            ("digest_stats_days", self.digest_stats_days),
            ("decisions_days", self.decisions_days),
            ("plan_days", self.plan_days),
            ("reports_days", self.reports_days),
            ("backtests_days", self.backtests_days),
            ("rejects_days", self.rejects_days),
            ("runs_days", self.runs_days),
        ]
    }

    /// Whether any table has an age.
    pub fn is_empty(&self) -> bool {
        self.entries().iter().all(|(_, v)| v.is_none())
    }
}

/// Largest accepted retention age (100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_600;

/// How client addresses are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientIdentity {
    /// HMAC-SHA256 with this secret.
    Keyed(Vec<u8>),
    /// The normalised address as logged.
    Raw,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientIdentity::Keyed(_) => f.write_str("Keyed(<secret>)"),
            ClientIdentity::Raw => f.write_str("Raw"),
        }
    }
}

/// Validated `[ingest]`.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Client identity, or `None` when neither a key nor raw mode was configured (ingest of
    /// logs then refuses to run).
    pub client_identity: Option<ClientIdentity>,
    /// Per-file reject ratio threshold.
    pub max_bad_ratio: f64,
    /// See [`RawIngest::s3_include_auth_header`].
    pub s3_include_auth_header: bool,
    /// Storage layout.
    pub layout: Layout,
    /// Ordered (class, lower-case patterns).
    pub ua_classes: Vec<(UaClass, Vec<String>)>,
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
    /// Default versioning.
    pub versioned: bool,
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
    /// Pricing file (None = built-in).
    pub pricing: Option<PathBuf>,
    /// Per-bucket (method, versioned).
    pub buckets: std::collections::BTreeMap<String, (Method, bool)>,
    /// Enabled tier rules in order.
    pub tiers: Vec<TierRule>,
    /// Hot-set byte cap.
    pub hot_set_max_bytes: u64,
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

/// One config error; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{key}`: {reason}")]
pub struct ConfigError {
    /// The dotted key.
    pub key: String,
    /// What is wrong and what is accepted.
    pub reason: String,
}

/// Failure to load a config.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("failed to read config `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or unknown key.
    #[error("failed to parse config `{path}`: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (names the key and line).
        message: String,
    },
    /// Validation errors, every one of them.
    #[error("invalid config `{path}`:\n  {}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Invalid {
        /// The file (or `<defaults>`).
        path: PathBuf,
        /// The errors.
        errors: Vec<ConfigError>,
    },
}

/// Values from the environment and flags that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `BLOBTIER_CLIENT_KEY`.
    pub client_key: Option<String>,
    /// `--raw-clients`.
    pub raw_clients: bool,
    /// `--max-bad-ratio`.
    pub max_bad_ratio: Option<f64>,
    /// `BLOBTIER_S3_PATH_STYLE`.
    pub s3_path_style: Option<bool>,
}

impl Overrides {
    /// Reads the `BLOBTIER_*` environment variables.
    pub fn from_env() -> Result<Overrides, ConfigError> {
        let client_key = std::env::var(ENV_CLIENT_KEY).ok().filter(|s| !s.is_empty());
        let s3_path_style = match std::env::var(ENV_S3_PATH_STYLE) {
            Ok(v) => Some(parse_bool(&v).ok_or_else(|| ConfigError {
                key: ENV_S3_PATH_STYLE.into(),
                reason: format!("expected 1, 0, true or false, got `{v}`"),
            })?),
            Err(_) => None,
        };
        Ok(Overrides {
            client_key,
            s3_path_style,
            ..Default::default()
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

impl RawConfig {
    /// Parses TOML text.
    pub fn from_toml(path: &Path, text: &str) -> Result<RawConfig, LoadError> {
        toml::from_str(text).map_err(|e| LoadError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Validates and applies overrides. Pure: no IO.
    pub fn validate(self, ov: &Overrides) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let ing = self.ingest;
        let max_bad_ratio = ov.max_bad_ratio.or(ing.max_bad_ratio).unwrap_or(0.01);
        if !(0.0..=1.0).contains(&max_bad_ratio) || max_bad_ratio.is_nan() {
            errors.push(ConfigError {
                key: "ingest.max_bad_ratio".into(),
                reason: format!("expected a ratio between 0 and 1, got `{max_bad_ratio}`"),
            });
        }
        let key = ov.client_key.clone().or(ing.client_key);
        if let Some(k) = &key {
            if k.len() < 16 {
                errors.push(ConfigError {
                    key: "ingest.client_key".into(),
                    reason: format!(
                        "expected a secret of at least 16 bytes, got {} bytes",
                        k.len()
                    ),
                });
            }
        }
        let raw = ov.raw_clients || ing.raw_clients.unwrap_or(false);
        let client_identity = if raw {
            Some(ClientIdentity::Raw)
        } else {
            key.map(|k| ClientIdentity::Keyed(k.into_bytes()))
        };
        let layout = match ing.registry_root {
            None => Layout { root: None },
            Some(r) => {
                let trimmed = r.trim_matches('/').to_string();
                if trimmed.contains("//") {
                    errors.push(ConfigError {
                        key: "ingest.registry_root".into(),
                        reason: format!("expected a path without empty components, got `{r}`"),
                    });
                }
                Layout {
                    root: Some(trimmed),
                }
            }
        };
        let mut ua_classes = Vec::new();
        for (class, name, given, default) in [
            (
                UaClass::Scanner,
                "scanner",
                ing.ua_classes.scanner,
                DEFAULT_SCANNER_UAS,
            ),
            (UaClass::Ci, "ci", ing.ua_classes.ci, DEFAULT_CI_UAS),
            (
                UaClass::Human,
                "human",
                ing.ua_classes.human,
                DEFAULT_HUMAN_UAS,
            ),
        ] {
            let pats: Vec<String> = match given {
                Some(v) => v.into_iter().map(|s| s.to_lowercase()).collect(),
                None => default.iter().map(|s| s.to_string()).collect(),
            };
            if pats.iter().any(|p| p.is_empty()) {
                errors.push(ConfigError {
                    key: format!("ingest.ua_classes.{name}"),
                    reason: "expected non-empty patterns, got an empty string".into(),
                });
            }
            ua_classes.push((class, pats));
        }
        let s3_path_style = ov.s3_path_style.or(self.s3.path_style).unwrap_or(false);
        let plan = validate_plan(self.plan, self.hot_set, &mut errors);
        let mut logs = Vec::new();
        for (i, l) in self.run.logs.unwrap_or_default().into_iter().enumerate() {
            match l
                .split_once(':')
                .map(|(f, p)| (f.parse::<crate::model::LogFormat>(), p))
            {
                Some((Ok(f), p)) if !p.is_empty() => logs.push((f, p.to_string())),
                Some((Err(e), _)) => errors.push(ConfigError {
                    key: format!("run.logs[{i}]"),
                    reason: e,
                }),
                _ => errors.push(ConfigError {
                    key: format!("run.logs[{i}]"),
                    reason: format!("expected FORMAT:PATH, got `{l}`"),
                }),
            }
        }
        let windows = self.run.windows.unwrap_or_else(|| PLAN_WINDOWS.to_vec());
        if let Err(e) = Windows::new(&windows) {
            errors.push(ConfigError {
                key: "run.windows".into(),
                reason: e.to_string(),
            });
        }
        let lake = match self.run.lake.as_deref().map(LakeLocation::parse) {
            None => None,
            Some(Ok(l)) => Some(l),
            Some(Err(reason)) => {
                errors.push(ConfigError {
                    key: "run.lake".into(),
                    reason,
                });
                None
            }
        };
        if self.run.lake_cache.is_some() && !matches!(lake, Some(LakeLocation::S3 { .. })) {
            errors.push(ConfigError {
                key: "run.lake_cache".into(),
                reason: "only used with an `s3://` lake; remove it or set `run.lake = \"s3://…\"`"
                    .into(),
            });
        }
        let lock_lease = match self.run.lock_lease.as_deref() {
            None => DEFAULT_LOCK_LEASE,
            Some(s) => match humantime::parse_duration(s) {
                Ok(d) if d >= MIN_LOCK_LEASE => d,
                Ok(_) => {
                    errors.push(ConfigError {
                        key: "run.lock_lease".into(),
                        reason: format!("expected at least 10s, got `{s}`"),
                    });
                    DEFAULT_LOCK_LEASE
                }
                Err(e) => {
                    errors.push(ConfigError {
                        key: "run.lock_lease".into(),
                        reason: format!(
                            "expected a duration such as `10m` or `90s`, got `{s}` ({e})"
                        ),
                    });
                    DEFAULT_LOCK_LEASE
                }
            },
        };
        let mut run = RunConfig {
            lake,
            lake_cache: self.run.lake_cache,
            lock_lease,
            logs,
            inventory: self.run.inventory,
            windows,
            max_inventory_age_days: self.run.max_inventory_age_days.unwrap_or(3),
            registry_storage: self.run.registry_storage,
            retention: RawRetention::default(),
        };
        let retention = self.run.retention;
        for (key, v) in retention.entries() {
            if let Some(v) = v.filter(|v| *v > MAX_RETENTION_DAYS) {
                errors.push(ConfigError {
                    key: format!("run.retention.{key}"),
                    reason: format!("expected at most {MAX_RETENTION_DAYS} days, got `{v}`"),
                });
            }
        }
        if let Some(p) = retention.pulls_days {
            let longest = run.longest_window();
            if p < longest {
                errors.push(ConfigError {
                    key: "run.retention.pulls_days".into(),
                    reason: format!(
                        "expected at least the longest stats window, {longest} days (`run.windows`, and 90: digest_stats always has 90-day columns), got `{p}`"
                    ),
                });
            }
        }
        run.retention = retention;
        let apply_allow = self.apply.allow.unwrap_or_default();
        for (i, a) in apply_allow.iter().enumerate() {
            if a.is_empty() || a.starts_with('/') || a.starts_with("s3://") {
                errors.push(ConfigError {
                    key: format!("apply.allow[{i}]"),
                    reason: format!("expected `bucket` or `bucket/prefix`, got `{a}`"),
                });
            }
        }
        if errors.is_empty() {
            Ok(Config {
                apply_allow,
                run,
                plan,
                ingest: IngestConfig {
                    client_identity,
                    max_bad_ratio,
                    s3_include_auth_header: ing.s3_include_auth_header.unwrap_or(false),
                    layout,
                    ua_classes,
                },
                s3_path_style,
            })
        } else {
            Err(errors)
        }
    }
}

/// The vocabulary value named by `v`, or `default` when the key is absent. A name the
/// vocabulary does not have is an error naming `key` (and `default` stands in so that
/// validation goes on to collect the other errors; the config is refused).
fn parse_key<T: FromStr<Err = UnknownName>>(
    key: &str,
    v: Option<&str>,
    default: T,
    errors: &mut Vec<ConfigError>,
) -> T {
    match v.map(str::parse) {
        None => default,
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            errors.push(ConfigError {
                key: key.into(),
                reason: e.to_string(),
            });
            default
        }
    }
}

fn globs(key: &str, v: Option<Vec<String>>, errors: &mut Vec<ConfigError>) -> Vec<glob::Pattern> {
    let mut out = Vec::new();
    for p in v.unwrap_or_default() {
        match glob::Pattern::new(&p) {
            Ok(g) => out.push(g),
            Err(e) => errors.push(ConfigError {
                key: key.into(),
                reason: format!("invalid glob `{p}`: {e}"),
            }),
        }
    }
    out
}

fn validate_plan(p: RawPlan, h: RawHotSet, errors: &mut Vec<ConfigError>) -> PlanConfig {
    let size = |key: &str, v: Option<String>, default: u64, errors: &mut Vec<ConfigError>| -> u64 {
        match v {
            None => default,
            Some(s) => parse_size(&s).unwrap_or_else(|| {
                errors.push(ConfigError {
                    key: key.into(),
                    reason: format!("expected a size such as `128 KiB`, got `{s}`"),
                });
                default
            }),
        }
    };
    let horizon_months = p.horizon_months.unwrap_or(12);
    if horizon_months == 0 || horizon_months > 120 {
        errors.push(ConfigError {
            key: "plan.horizon_months".into(),
            reason: format!("expected 1 to 120, got `{horizon_months}`"),
        });
    }
    let max_payback_days = p.max_payback_days.unwrap_or(180.0);
    if max_payback_days.is_nan() || max_payback_days < 0.0 {
        errors.push(ConfigError {
            key: "plan.max_payback_days".into(),
            reason: format!("expected >= 0, got `{max_payback_days}`"),
        });
    }
    let min_age_days = p.min_age_days.unwrap_or(30);
    let estimator = parse_key(
        "plan.estimator",
        p.estimator.as_deref(),
        Estimator::Rate90d,
        errors,
    );
    let restore_tier = parse_key(
        "plan.restore_tier",
        p.restore_tier.as_deref(),
        RestoreTier::Bulk,
        errors,
    );
    let method = parse_key("plan.method", p.method.as_deref(), Method::Copy, errors);
    let archive_scope = parse_key(
        "plan.archive_scope",
        p.archive_scope.as_deref(),
        ArchiveScope::Untagged,
        errors,
    );
    let versioned = p.versioned.unwrap_or(false);
    let mut buckets = std::collections::BTreeMap::new();
    for (name, b) in p.buckets {
        let key = format!("plan.buckets.{name}.method");
        let m = parse_key(&key, b.method.as_deref(), method, errors);
        buckets.insert(name, (m, b.versioned.unwrap_or(versioned)));
    }
    let raw_tiers = p.tiers.unwrap_or_else(|| default_tiers(min_age_days));
    let mut tiers = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (i, t) in raw_tiers.into_iter().enumerate() {
        let key = format!("plan.tiers[{i}]");
        let class = StorageClass::parse_managed(&t.class).unwrap_or_else(|e| {
            errors.push(ConfigError {
                key: format!("{key}.class"),
                reason: e.to_string(),
            });
            StorageClass::Unknown(t.class.clone())
        });
        if t.name.is_empty()
            || !t
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            errors.push(ConfigError {
                key: format!("{key}.name"),
                reason: format!("expected letters, digits, `_` or `-`, got `{}`", t.name),
            });
        }
        if !names.insert(t.name.clone()) {
            errors.push(ConfigError {
                key: format!("{key}.name"),
                reason: format!("duplicate tier name `{}`", t.name),
            });
        }
        if t.when.trim().is_empty() {
            errors.push(ConfigError {
                key: format!("{key}.when"),
                reason: "expected a SQL boolean expression, got an empty string".into(),
            });
        }
        if t.enabled.unwrap_or(true) {
            tiers.push(TierRule {
                name: t.name,
                when: t.when,
                class,
            });
        }
    }
    PlanConfig {
        horizon_months,
        max_payback_days,
        min_age_days,
        min_size: size("plan.min_size", p.min_size, 128 * 1024, errors),
        estimator,
        method,
        versioned,
        noncurrent_days: p.noncurrent_days.unwrap_or(30),
        restore_tier,
        include_intelligent_tiering: p.include_intelligent_tiering.unwrap_or(false),
        include_keys: globs("plan.include_keys", p.include_keys, errors),
        exclude_keys: globs("plan.exclude_keys", p.exclude_keys, errors),
        include_repos: globs("plan.include_repos", p.include_repos, errors),
        exclude_repos: globs("plan.exclude_repos", p.exclude_repos, errors),
        count_manifest_pulls: p.count_manifest_pulls.unwrap_or(true),
        archive_scope,
        pricing: p.pricing,
        buckets,
        tiers,
        hot_set_max_bytes: size("hot_set.max_bytes", h.max_bytes, 100 << 30, errors),
    }
}

/// Loads `path` (or defaults when `None`), applies environment and CLI overrides, validates.
pub fn load(path: Option<&Path>, cli: Overrides) -> Result<Config, LoadError> {
    let (raw, shown) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| LoadError::Read {
                path: p.to_owned(),
                source,
            })?;
            (RawConfig::from_toml(p, &text)?, p.to_owned())
        }
        None => (RawConfig::default(), PathBuf::from("<defaults>")),
    };
    let env = Overrides::from_env().map_err(|e| LoadError::Invalid {
        path: shown.clone(),
        errors: vec![e],
    })?;
    let merged = Overrides {
        client_key: env.client_key,
        raw_clients: cli.raw_clients,
        max_bad_ratio: cli.max_bad_ratio,
        s3_path_style: env.s3_path_style,
    };
    raw.validate(&merged).map_err(|errors| LoadError::Invalid {
        path: shown,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = RawConfig::from_toml(Path::new("b.toml"), "[ingest]\nmax_bad_ratoi = 0.1\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("max_bad_ratoi"), "{msg}");
    }

    #[test]
    fn every_error_names_its_key() {
        let raw = RawConfig::from_toml(
            Path::new("b.toml"),
            "[ingest]\nmax_bad_ratio = 3.0\nclient_key = \"short\"\n[ingest.ua_classes]\nci = [\"\"]\n",
        )
        .unwrap();
        let errs = raw.validate(&Overrides::default()).unwrap_err();
        let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ingest.max_bad_ratio",
                "ingest.client_key",
                "ingest.ua_classes.ci"
            ]
        );
    }

    /// Every vocabulary key: a name it does not have is an error naming the key and the
    /// accepted values, never a default. See: issue 14.
    #[test]
    fn every_vocabulary_key_refuses_unknown_names() {
        let toml = r#"
[plan]
estimator = "ewma"
method = "move"
restore_tier = "Bulk"
archive_scope = "all"
[plan.buckets.reg]
method = "rsync"
[[plan.tiers]]
name = "a"
when = "TRUE"
class = "GLACIER_DEEP"
[[plan.tiers]]
name = "b"
when = "TRUE"
class = "EXPRESS_ONEZONE"
[[plan.tiers]]
name = "c"
when = "TRUE"
class = "standard"
"#;
        let errs = RawConfig::from_toml(Path::new("b.toml"), toml)
            .unwrap()
            .validate(&Overrides::default())
            .unwrap_err();
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

    #[test]
    fn vocabulary_keys_are_parsed_once_into_their_enums() {
        let toml = r#"
[plan]
estimator = "max_7d_30d"
method = "lifecycle"
restore_tier = "expedited"
archive_scope = "unreferenced"
[plan.buckets.reg]
method = "copy"
[[plan.tiers]]
name = "cold"
when = "TRUE"
class = "GLACIER_IR"
"#;
        let p = RawConfig::from_toml(Path::new("b.toml"), toml)
            .unwrap()
            .validate(&Overrides::default())
            .unwrap()
            .plan;
        assert_eq!(p.estimator, Estimator::Max7d30d);
        assert_eq!(p.method, Method::Lifecycle);
        assert_eq!(p.restore_tier, RestoreTier::Expedited);
        assert_eq!(p.archive_scope, ArchiveScope::Unreferenced);
        assert_eq!(p.buckets["reg"], (Method::Copy, false));
        assert_eq!(p.tiers[0].class, StorageClass::GlacierIr);
        // The defaults.
        let p = RawConfig::default()
            .validate(&Overrides::default())
            .unwrap()
            .plan;
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

    #[test]
    fn retention_is_validated_with_key_names() {
        let load = |text: &str| {
            RawConfig::from_toml(Path::new("b.toml"), text)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    r.validate(&Overrides::default()).map_err(|e| {
                        e.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                })
        };
        let c = load("[run.retention]\npulls_days = 400\nplan_days = 0\n").unwrap();
        assert_eq!(c.run.retention.pulls_days, Some(400));
        assert_eq!(c.run.retention.plan_days, Some(0));
        assert_eq!(c.run.retention.reports_days, None);
        assert!(RawRetention::default().is_empty());
        // Shorter than the longest window: 90 by default, 120 when configured.
        let e = load("[run.retention]\npulls_days = 60\n").unwrap_err();
        assert!(
            e.starts_with("invalid `run.retention.pulls_days`: expected at least the longest stats window, 90 days"),
            "{e}"
        );
        assert!(e.ends_with("got `60`"), "{e}");
        let e = load("[run]\nwindows = [7, 30, 90, 120]\n[run.retention]\npulls_days = 100\n")
            .unwrap_err();
        assert!(e.contains("120 days"), "{e}");
        load("[run]\nwindows = [7, 30, 90, 120]\n[run.retention]\npulls_days = 120\n").unwrap();
        // Windows the plan cannot read (it needs 7, 30 and 90 days). See: issue 14.
        let e = load("[run]\nwindows = [7, 120]\n").unwrap_err();
        assert!(
            e.starts_with("invalid `run.windows`: expected a list that includes 7, 30 and 90"),
            "{e}"
        );
        let e = load("[run.retention]\nreports_days = 99999\n").unwrap_err();
        assert!(
            e.starts_with("invalid `run.retention.reports_days`: expected at most 36600 days"),
            "{e}"
        );
        let e = load("[run.retention]\npull_days = 400\n").unwrap_err();
        assert!(e.contains("pull_days"), "{e}");
        let e = load("[run.retention]\npulls_days = -1\n").unwrap_err();
        assert!(e.contains("pulls_days"), "{e}");
    }

    #[test]
    fn precedence_cli_over_env_over_file() {
        let raw = RawConfig::from_toml(
            Path::new("b.toml"),
            "[ingest]\nclient_key = \"file-secret-0123456789\"\nmax_bad_ratio = 0.2\n",
        )
        .unwrap();
        let ov = Overrides {
            client_key: Some("env-secret-0123456789".into()),
            max_bad_ratio: Some(0.5),
            ..Default::default()
        };
        let c = raw.validate(&ov).unwrap();
        assert_eq!(c.ingest.max_bad_ratio, 0.5);
        assert_eq!(
            c.ingest.client_identity,
            Some(ClientIdentity::Keyed(b"env-secret-0123456789".to_vec()))
        );
        let c = RawConfig::default()
            .validate(&Overrides::default())
            .unwrap();
        assert_eq!(c.ingest.client_identity, None);
        assert_eq!(c.ingest.max_bad_ratio, 0.01);
    }

    #[test]
    fn lake_is_a_directory_or_an_s3_prefix() {
        let parse = LakeLocation::parse;
        assert_eq!(
            parse("/var/lib/blobtier/lake").unwrap(),
            LakeLocation::Local("/var/lib/blobtier/lake".into())
        );
        for (uri, prefix) in [
            ("s3://b", ""),
            ("s3://b/", ""),
            ("s3://b/lake", "lake/"),
            ("s3://b/a/lake/", "a/lake/"),
        ] {
            let l = parse(uri).unwrap();
            assert_eq!(
                l,
                LakeLocation::S3 {
                    bucket: "b".into(),
                    prefix: prefix.into()
                },
                "{uri}"
            );
            assert_eq!(parse(&l.to_string()).unwrap(), l);
        }
        for bad in ["", "s3://", "s3:///p", "s3://b/a//c", "gs://b/p", "s3:/b/p"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lake_cache_and_lease_are_checked_with_their_keys() {
        let check = |toml: &str| {
            RawConfig::from_toml(Path::new("b.toml"), toml)
                .unwrap()
                .validate(&Overrides::default())
        };
        let c = check("[run]\nlake = \"s3://b/p\"\nlock_lease = \"90s\"\n").unwrap();
        assert_eq!(c.run.lock_lease, std::time::Duration::from_secs(90));
        let c = check("[run]\nlake = \"s3://b/p\"\n").unwrap();
        assert_eq!(c.run.lock_lease, DEFAULT_LOCK_LEASE);
        let errs =
            check("[run]\nlake = \"/l\"\nlake_cache = \"/c\"\nlock_lease = \"2s\"\n").unwrap_err();
        let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["run.lake_cache", "run.lock_lease"]);
        let errs = check("[run]\nlake = \"s3:///p\"\nlock_lease = \"soon\"\n").unwrap_err();
        let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["run.lake", "run.lock_lease"]);
        assert!(errs[1].reason.contains("`soon`"), "{}", errs[1].reason);
    }
}
