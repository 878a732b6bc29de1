//! `blobtier.toml`: the pipeline's meaning (layout, client identity, thresholds, user-agent
//! classes, the tiering policy, the nightly job). Parsed into [`RawConfig`] (serde, unknown
//! keys rejected), then validated once by the pure [`RawConfig::validate`], which collects
//! every error and names its key. Names of a vocabulary (estimator, move method, restore
//! tier, storage class, …) become their `crate::model` enums there and nowhere else; a name
//! a vocabulary does not have is an error, never a default.
//! Precedence: CLI flag > `BLOBTIER_*` environment > `blobtier.toml` > default.
//! One file per part of the config, each with its raw and validated types and its
//! `validate`: `ingest.rs` (`[ingest]`), `plan.rs` (`[plan]`, `[hot_set]`), `run.rs`
//! (`[run]`, `[run.retention]`); this file has the whole, the errors, the overrides and the
//! loader, and re-exports the parts' types (one path each: `crate::config::PlanConfig`).
//! This module reads the config file and the environment and nothing else.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::model::UnknownName;

mod ingest;
mod plan;
mod run;

pub use ingest::{
    ClientIdentity, IngestConfig, PullSource, RawIngest, RawUaClasses, DEFAULT_CI_UAS,
    DEFAULT_HUMAN_UAS, DEFAULT_MAX_LINE, DEFAULT_SCANNER_UAS, MAX_LINE_LIMIT, MIN_MAX_LINE,
};
pub use plan::{
    default_tiers, ArchiveScope, PlanConfig, RawBucket, RawHotSet, RawPlan, RawTier, TierRule,
};
pub use run::{
    LakeLocation, RawRetention, RawRun, RunConfig, DEFAULT_LOCK_LEASE, MAX_RETENTION_DAYS,
    MIN_LOCK_LEASE,
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
    /// Add a `NoncurrentVersionExpiration` rule (`plan.noncurrent_days`) in versioned
    /// buckets apply copies in, as `--noncurrent-expiration` does. Default false.
    pub noncurrent_expiration: Option<bool>,
}

/// `[s3]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawS3 {
    /// Path-style addressing for S3-compatible stores. Default false.
    pub path_style: Option<bool>,
}

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
    /// `apply.noncurrent_expiration`.
    pub apply_noncurrent_expiration: bool,
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
    /// `--pins` (added to `run.pins`).
    pub pins: Vec<PathBuf>,
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

/// The errors of one validation, in the order of the keys.
#[derive(Debug, Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    /// `key` is invalid: `reason` says what is expected and what was found.
    fn add(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigError {
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// The vocabulary value named by `v`, or `default` when the key is absent. A name the
    /// vocabulary does not have is an error naming `key` (and `default` stands in so that
    /// validation goes on to collect the other errors; the config is refused).
    fn name<T: FromStr<Err = UnknownName>>(
        &mut self,
        key: &str,
        v: Option<String>,
        default: T,
    ) -> T {
        match v.as_deref().map(str::parse) {
            None => default,
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                self.add(key, e.to_string());
                default
            }
        }
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

    /// Validates and applies overrides. Pure: no IO. Every error is collected, in the order
    /// of the keys.
    pub fn validate(self, ov: &Overrides) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Errors::default();
        let ingest = ingest::validate(self.ingest, ov, &mut errors);
        let s3_path_style = ov.s3_path_style.or(self.s3.path_style).unwrap_or(false);
        let plan = plan::validate(self.plan, self.hot_set, &mut errors);
        let run = run::validate(self.run, &ov.pins, &mut errors);
        let apply_allow = self.apply.allow.unwrap_or_default();
        for (i, a) in apply_allow.iter().enumerate() {
            if a.is_empty() || a.starts_with('/') || a.starts_with("s3://") {
                errors.add(
                    format!("apply.allow[{i}]"),
                    format!("expected `bucket` or `bucket/prefix`, got `{a}`"),
                );
            }
        }
        if errors.0.is_empty() {
            Ok(Config {
                apply_noncurrent_expiration: self.apply.noncurrent_expiration.unwrap_or(false),
                apply_allow,
                run,
                plan,
                ingest,
                s3_path_style,
            })
        } else {
            Err(errors.0)
        }
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
        pins: cli.pins,
    };
    raw.validate(&merged).map_err(|errors| LoadError::Invalid {
        path: shown,
        errors,
    })
}

/// Validates config text without overrides: the tests of every part.
#[cfg(test)]
fn validate_toml(text: &str) -> Result<Config, Vec<ConfigError>> {
    RawConfig::from_toml(Path::new("b.toml"), text)
        .expect("valid TOML")
        .validate(&Overrides::default())
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
}
