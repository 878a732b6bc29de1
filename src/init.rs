//! `blobtier init` (a commented `blobtier.toml` for the common setups) and
//! `blobtier config check` (validate one and print the resolved settings).

use std::path::Path;

use crate::config::Config;

/// The setups `init` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Setup {
    /// CNCF distribution on S3 with S3 server access logging (redirects to presigned URLs).
    S3Access,
    /// The registry's own JSON logs (logrus `formatter: json`), e.g. shipped to files.
    RegistryJson,
    /// Registry notification envelopes collected by a webhook receiver (compact or
    /// pretty-printed, back to back).
    Notifications,
}

/// The config text for a setup.
pub fn template(setup: Setup) -> String {
    let logs = match setup {
        Setup::S3Access => "  \"s3-access:s3://my-registry-logs/access/\",   # S3 server access logs of the registry bucket",
        Setup::RegistryJson => "  \"registry-json:/var/log/registry/\",          # logrus JSON lines (gzip/zstd read by content)",
        Setup::Notifications => "  \"notifications:/var/lib/registry-events/\",   # {\"events\":[...]} envelopes, back to back",
    };
    format!(
        r#"# blobtier configuration (see README.md and docs/). Unknown keys are errors.
# Precedence: command-line flag > BLOBTIER_* environment > this file > default.

[run]
# The lake: a directory of Hive-partitioned Parquet, or the same layout under an S3 prefix
# ("s3://my-lake-bucket/blobtier/"), readable by Athena, Spark and DuckDB. With an s3:// lake,
# `run` takes a lock object `_run_lock` there (a second run exits 2 naming the holder), works
# on a local mirror, then uploads what changed, committing with the object `_lake_state.json`
# last (docs/nightly.md). It needs s3:ListBucket, GetObject, PutObject and DeleteObject on
# the prefix (deploy/iam-lake-s3.json).
lake = "/var/lib/blobtier/lake"
# lake_cache = "/var/cache/blobtier/lake"   # the local mirror of an s3:// lake
#                                           # (default ~/.cache/blobtier/lake/<hash of the URL>)
# lock_lease = "10m"   # s3:// lake: renewed every third of it; a lock whose lease ran out
#                      # (its run was killed on another host) is taken over
# Log sources, FORMAT:PATH; PATH is a file, directory, glob or s3://bucket/prefix.
logs = [
{logs}
]
# Where S3 Inventory reports of the registry bucket land (the folder holding
# <YYYY-MM-DDTHH-MMZ>/manifest.json); the newest on or before as-of is ingested.
inventory = "s3://my-inventory-bucket/my-registry-bucket/daily/"
windows = [7, 30, 90]
max_inventory_age_days = 3
# The registry's storage (the directory that holds docker/registry/v2/, local or
# s3://bucket/prefix): manifests are read from it to build the image graph (which blobs a
# current tag reaches), so that manifest pulls count and no tagged blob is ever archived.
# registry_storage = "s3://my-registry-bucket/"
# A Prometheus textfile for node-exporter's textfile collector (docs/nightly.md).
# metrics_file = "/var/lib/node_exporter/textfile/blobtier.prom"
# Images in use, whose blobs are kept (and restored if archived): repo@sha256:... lines or
# the JSON of `kubectl get pods -A -o json` (docs/pins.md); `--pins FILE` adds to these.
# pins = ["/var/lib/blobtier/pods.json"]

# Retention: at the end of each run, whole partitions dated before as-of minus N days are
# deleted (also `blobtier prune`). A table without a key is kept forever. The ledger
# (_ledger/) is never pruned: it keeps ingest from reading old log files again.
[run.retention]
pulls_days = 400              # pulls/ and manifest_pulls/; >= the longest window (and >= 90);
                              # keep >= the largest days_since_last_pull threshold of the tiers
inventory_days = 30           # inventory/ (the newest snapshot on or before as-of always stays)
graph_days = 30               # blob_refs/, manifest_refs/, tags/ (likewise)
digest_stats_days = 90
decisions_days = 90
plan_days = 90                # plan/ and hot_set/ (apply journals in _journal/ are kept)
reports_days = 365
backtests_days = 365
rejects_days = 90             # _rejects/, the quarantined malformed lines
runs_days = 365               # _runs/*.json run records

[ingest]
# Client addresses are stored as a keyed hash. Prefer the BLOBTIER_CLIENT_KEY environment
# variable to writing the secret here (>= 16 bytes; keep it the same for the life of the lake).
# client_key = "..."
max_bad_ratio = 0.01          # an input with more malformed lines makes the run exit 1
# registry_root = ""          # the S3 driver's rootdirectory; unset = any prefix before docker/registry/v2/
s3_include_auth_header = false  # true only if the registry streams blobs itself (redirect disabled)
# Which logs count pulls when both the storage's (s3-access, cloudfront) and the registry's own
# are ingested: "auto" counts each pull once across them, "s3" or "registry" uses one side only.
pull_source = "auto"

[s3]
path_style = false            # true (or BLOBTIER_S3_PATH_STYLE=1) for S3-compatible stores

[plan]
region = "us-east-1"          # price table: us-east-1 | us-west-2 | eu-west-1 | eu-central-1 | ap-northeast-1
horizon_months = 12           # savings must exceed one-time costs within this horizon
max_payback_days = 180
min_age_days = 30             # younger blobs stay warm
min_size = "128 KiB"          # smaller objects never move
estimator = "rate_90d"        # rate_90d | rate_30d | max_7d_30d
method = "copy"               # copy | lifecycle
# versioned = true            # force it; absent: detected per bucket (inventory version ids)
noncurrent_days = 30          # days a copy's old version stays billed (NoncurrentVersionExpiration)
restore_tier = "bulk"         # bulk | standard | expedited
include_intelligent_tiering = false
# exclude_keys = ["docker/registry/v2/blobs/sha256/ab/*"]
# exclude_repos = ["base/*"]  # needs _layers link keys in the inventory
count_manifest_pulls = true   # a manifest pull is a use of every blob it references
archive_scope = "untagged"    # untagged | unreferenced | untagged_or_unknown: who may go to GLACIER/DEEP_ARCHIVE
# Tier rules replace the defaults (hot, warm, cold, cool); first match wins:
# [[plan.tiers]]
# name = "hot"
# when = "pulls_7d >= 20"
# class = "STANDARD"

[hot_set]
max_bytes = "100 GiB"
"#
    )
}

/// `init` errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refusing to overwrite.
    #[error("`{0}` already exists; remove it or pass another `--out`")]
    Exists(String),
    /// IO.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
}

/// Writes the template to `out` (refusing to overwrite).
pub fn init(setup: Setup, out: &Path) -> Result<(), Error> {
    if out.exists() {
        return Err(Error::Exists(out.display().to_string()));
    }
    crate::io::atomic_write(out, template(setup).as_bytes())?;
    Ok(())
}

/// The resolved settings, for `config check` (secrets redacted).
pub fn resolved(cfg: &Config) -> serde_json::Value {
    let p = &cfg.plan;
    serde_json::json!({
        "run": {
            "lake": cfg.run.lake.as_ref().map(|l| l.to_string()),
            "lake_cache": cfg.run.lake_cache,
            "lock_lease": humantime::format_duration(cfg.run.lock_lease).to_string(),
            "logs": cfg.run.logs.iter().map(|(f, p)| format!("{}:{p}", f.as_str())).collect::<Vec<_>>(),
            "inventory": cfg.run.inventory,
            "windows": cfg.run.windows,
            "max_inventory_age_days": cfg.run.max_inventory_age_days,
            "registry_storage": cfg.run.registry_storage,
            "pins": cfg.run.pins,
            "retention": cfg.run.retention.entries().iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect::<std::collections::BTreeMap<_, _>>(),
        },
        "ingest": {
            "client_identity": match &cfg.ingest.client_identity {
                None => "unset (ingest of logs will refuse to run)",
                Some(crate::config::ClientIdentity::Raw) => "raw addresses",
                Some(crate::config::ClientIdentity::Keyed(_)) => "keyed hash (secret set)",
            },
            "max_bad_ratio": cfg.ingest.max_bad_ratio,
            "s3_include_auth_header": cfg.ingest.s3_include_auth_header,
            "registry_root": cfg.ingest.layout.root,
            "ua_classes": cfg.ingest.ua_classes.iter().map(|(c, v)| (c.as_str(), v.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        },
        "s3": { "path_style": cfg.s3_path_style },
        "plan": {
            "horizon_months": p.horizon_months,
            "max_payback_days": p.max_payback_days,
            "min_age_days": p.min_age_days,
            "min_size_bytes": p.min_size,
            "estimator": p.estimator,
            "method": p.method.as_str(),
            "versioned": p.versioned,
            "noncurrent_days": p.noncurrent_days,
            "restore_tier": p.restore_tier,
            "include_intelligent_tiering": p.include_intelligent_tiering,
            "count_manifest_pulls": p.count_manifest_pulls,
            "archive_scope": p.archive_scope.as_str(),
            "tiers": p.tiers.iter().map(|t| serde_json::json!({"name": t.name, "when": t.when, "class": t.class})).collect::<Vec<_>>(),
            "region": p.region,
            "pricing": p.pricing.as_ref().map(|x| x.display().to_string()).unwrap_or_else(|| format!("built-in {}", p.region)),
            "hot_set_max_bytes": p.hot_set_max_bytes,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_a_valid_config() {
        for s in [Setup::S3Access, Setup::RegistryJson, Setup::Notifications] {
            let raw =
                crate::config::RawConfig::from_toml(Path::new("t.toml"), &template(s)).unwrap();
            let cfg = raw.validate(&Default::default()).unwrap();
            assert_eq!(cfg.run.logs.len(), 1);
            assert_eq!(cfg.run.retention.pulls_days, Some(400));
            assert!(cfg.run.retention.entries().iter().all(|(_, v)| v.is_some()));
            crate::plan::policy::validate_rules(&cfg.plan.tiers, &cfg.run.windows).unwrap();
        }
    }

    /// The template's comments list every name each vocabulary key takes, in its order.
    #[test]
    fn the_template_lists_every_name_of_each_vocabulary() {
        use crate::config::ArchiveScope;
        use crate::model::{Estimator, Method, RestoreTier};
        let t = template(Setup::S3Access);
        let listed = |key: &str| -> Vec<String> {
            let line = t
                .lines()
                .find(|l| l.starts_with(&format!("{key} = ")))
                .unwrap_or_else(|| panic!("no `{key}` line"));
            let comment = line.split('#').nth(1).expect("a comment");
            let names = comment.split(':').next().expect("names");
            names.split('|').map(|n| n.trim().to_string()).collect()
        };
        let mut tiers = RestoreTier::ALL.map(RestoreTier::as_str).to_vec();
        tiers.reverse();
        assert_eq!(listed("estimator"), Estimator::ALL.map(Estimator::as_str));
        assert_eq!(listed("method"), Method::ALL.map(Method::as_str));
        assert_eq!(listed("restore_tier"), tiers);
        assert_eq!(
            listed("archive_scope"),
            ArchiveScope::ALL.map(ArchiveScope::as_str)
        );
    }
}
