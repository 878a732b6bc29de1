//! `blobtier.toml`: the pipeline's meaning (layout, client identity, thresholds, user-agent
//! classes). Parsed into [`RawConfig`] (serde, unknown keys rejected), then validated once by
//! the pure [`RawConfig::validate`], which collects every error and names its key.
//! Precedence: CLI flag > `BLOBTIER_*` environment > `blobtier.toml` > default.
//! This module reads the config file and the environment and nothing else.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{Layout, UaClass};

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
    /// Path-style addressing for S3.
    pub s3_path_style: bool,
}

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
        if errors.is_empty() {
            Ok(Config {
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
