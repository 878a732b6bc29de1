//! `[run]` and `[run.retention]`: what the nightly job reads, where the lake is, and how long
//! its partitions are kept. Validated by [`validate`], which only adds to the caller's errors.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Errors;
use crate::model::windows::{Windows, PLAN_WINDOWS};
use crate::model::LogFormat;

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
    /// A Prometheus textfile the run writes its metrics to (for node-exporter's textfile
    /// collector; `docs/nightly.md`). Default: none. `run --metrics-file` overrides it.
    pub metrics_file: Option<PathBuf>,
    /// Pins files: image references in use whose blobs the plan keeps, and restores if
    /// archived (`docs/pins.md`): plain `repo@sha256:…` lines or the JSON of `kubectl get pods
    /// -A -o json`, read by `run` and `plan` (`-` is standard input). `--pins` adds to them.
    /// Default: none.
    pub pins: Option<Vec<String>>,
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
pub const DEFAULT_LOCK_LEASE: Duration = Duration::from_secs(600);
/// Shortest accepted lease.
pub const MIN_LOCK_LEASE: Duration = Duration::from_secs(10);

/// Validated `[run]`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Lake (required by `run`).
    pub lake: Option<LakeLocation>,
    /// Local mirror of an `s3://` lake, if set.
    pub lake_cache: Option<PathBuf>,
    /// Lease of an `s3://` lake's lock.
    pub lock_lease: Duration,
    /// Log sources.
    pub logs: Vec<(LogFormat, String)>,
    /// Inventory location.
    pub inventory: Option<String>,
    /// Stats windows.
    pub windows: Vec<u32>,
    /// Maximum inventory age.
    pub max_inventory_age_days: u32,
    /// The registry's storage for the image graph.
    pub registry_storage: Option<String>,
    /// The Prometheus textfile, if set.
    pub metrics_file: Option<PathBuf>,
    /// Pins files (`run.pins`, then `--pins`).
    pub pins: Vec<PathBuf>,
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

/// Validates `[run]`: log sources, windows, the lake and its mirror, the lock lease, the pins
/// files (`run.pins`, then `cli_pins` from `--pins`) and the retention ages.
pub(super) fn validate(r: RawRun, cli_pins: &[PathBuf], errors: &mut Errors) -> RunConfig {
    let mut logs = Vec::new();
    for (i, l) in r.logs.unwrap_or_default().into_iter().enumerate() {
        match l.split_once(':').map(|(f, p)| (f.parse::<LogFormat>(), p)) {
            Some((Ok(f), p)) if !p.is_empty() => logs.push((f, p.to_string())),
            Some((Err(e), _)) => errors.add(format!("run.logs[{i}]"), e),
            _ => errors.add(
                format!("run.logs[{i}]"),
                format!("expected FORMAT:PATH, got `{l}`"),
            ),
        }
    }
    let windows = r.windows.unwrap_or_else(|| PLAN_WINDOWS.to_vec());
    if let Err(e) = Windows::new(&windows) {
        errors.add("run.windows", e.to_string());
    }
    let lake = match r.lake.as_deref().map(LakeLocation::parse) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(reason)) => {
            errors.add("run.lake", reason);
            None
        }
    };
    if r.lake_cache.is_some() && !matches!(lake, Some(LakeLocation::S3 { .. })) {
        errors.add(
            "run.lake_cache",
            "only used with an `s3://` lake; remove it or set `run.lake = \"s3://…\"`",
        );
    }
    let lock_lease = lock_lease(r.lock_lease.as_deref(), errors);
    let mut pins: Vec<PathBuf> = Vec::new();
    let from_file = r.pins.unwrap_or_default().into_iter().map(PathBuf::from);
    let keyed = from_file
        .enumerate()
        .map(|(i, p)| (format!("run.pins[{i}]"), p))
        .chain(cli_pins.iter().map(|p| ("--pins".to_owned(), p.clone())));
    for (key, p) in keyed {
        let s = p.to_string_lossy();
        if s.trim().is_empty() {
            errors.add(
                key,
                "expected a file (or `-`, standard input), got an empty path",
            );
        } else if s.starts_with("s3://") {
            errors.add(
                key,
                format!("expected a local file (or `-`, standard input), got `{s}`: pins files are not read from S3"),
            );
        } else if !pins.contains(&p) {
            pins.push(p);
        }
    }
    let mut run = RunConfig {
        lake,
        lake_cache: r.lake_cache,
        lock_lease,
        logs,
        inventory: r.inventory,
        windows,
        max_inventory_age_days: r.max_inventory_age_days.unwrap_or(3),
        registry_storage: r.registry_storage,
        metrics_file: r.metrics_file,
        pins,
        retention: RawRetention::default(),
    };
    validate_retention(&r.retention, run.longest_window(), errors);
    run.retention = r.retention;
    run
}

/// `run.lock_lease`: a duration of at least [`MIN_LOCK_LEASE`] ([`DEFAULT_LOCK_LEASE`] when
/// absent).
fn lock_lease(v: Option<&str>, errors: &mut Errors) -> Duration {
    let Some(s) = v else {
        return DEFAULT_LOCK_LEASE;
    };
    match humantime::parse_duration(s) {
        Ok(d) if d >= MIN_LOCK_LEASE => d,
        Ok(_) => {
            errors.add(
                "run.lock_lease",
                format!("expected at least 10s, got `{s}`"),
            );
            DEFAULT_LOCK_LEASE
        }
        Err(e) => {
            errors.add(
                "run.lock_lease",
                format!("expected a duration such as `10m` or `90s`, got `{s}` ({e})"),
            );
            DEFAULT_LOCK_LEASE
        }
    }
}

/// `[run.retention]`: at most [`MAX_RETENTION_DAYS`] each, and pulls kept at least the
/// `longest` stats window.
fn validate_retention(retention: &RawRetention, longest: u32, errors: &mut Errors) {
    for (key, v) in retention.entries() {
        if let Some(v) = v.filter(|v| *v > MAX_RETENTION_DAYS) {
            errors.add(
                format!("run.retention.{key}"),
                format!("expected at most {MAX_RETENTION_DAYS} days, got `{v}`"),
            );
        }
    }
    if let Some(p) = retention.pulls_days.filter(|p| *p < longest) {
        errors.add(
            "run.retention.pulls_days",
            format!(
                "expected at least the longest stats window, {longest} days (`run.windows`, and 90: digest_stats always has 90-day columns), got `{p}`"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate_toml, Overrides, RawConfig};
    use std::path::Path;

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
        let check = validate_toml;
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
