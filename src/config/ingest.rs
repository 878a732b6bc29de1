//! `[ingest]`: how logs are read (client identity, reject ratio, registry root, user-agent
//! classes). Validated by [`validate`], which only adds to the caller's errors.

use serde::Deserialize;

use super::{Errors, Overrides};
use crate::model::units::parse_size;
use crate::model::{Layout, UaClass};

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
    /// The longest log line (or notification envelope) read, a size with a unit between
    /// `1 KiB` and `8 MiB`. Default `1 MiB`. A longer one is read through in bounded chunks
    /// and quarantined as one `too_long` reject, by its first 4 KiB.
    pub max_line_size: Option<String>,
    /// `[ingest.ua_classes]`: substring patterns per class, checked scanner → ci → human.
    #[serde(default)]
    pub ua_classes: RawUaClasses,
    /// Which logs count pulls: `auto` (every source, a pull seen by several counted once),
    /// `s3` (the storage's: `s3-access`, `cloudfront`) or `registry` (its logs and
    /// notifications). Default `auto`.
    pub pull_source: Option<String>,
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
    /// The longest log line or envelope read, in bytes (see [`RawIngest::max_line_size`]).
    pub max_line: usize,
    /// Which logs count pulls (`docs/ingest.md`, "One pull, several sources").
    pub pull_source: PullSource,
}

/// Default of `ingest.max_line_size`: 1 MiB.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;
/// The smallest `ingest.max_line_size` accepted: 1 KiB.
pub const MIN_MAX_LINE: usize = 1 << 10;
/// The largest `ingest.max_line_size` accepted: 8 MiB (the bound that keeps a log input's
/// memory under its budget: a few blocks of up to 4 MiB plus one line each are in flight).
pub const MAX_LINE_LIMIT: usize = 8 << 20;

/// Validates `[ingest]` with the overrides of the environment and the command line: the
/// reject ratio, the client identity, the registry root and the user-agent classes.
pub(super) fn validate(ing: RawIngest, ov: &Overrides, errors: &mut Errors) -> IngestConfig {
    let max_bad_ratio = ov.max_bad_ratio.or(ing.max_bad_ratio).unwrap_or(0.01);
    if !(0.0..=1.0).contains(&max_bad_ratio) || max_bad_ratio.is_nan() {
        errors.add(
            "ingest.max_bad_ratio",
            format!("expected a ratio between 0 and 1, got `{max_bad_ratio}`"),
        );
    }
    let key = ov.client_key.clone().or(ing.client_key);
    if let Some(k) = key.as_ref().filter(|k| k.len() < 16) {
        errors.add(
            "ingest.client_key",
            format!(
                "expected a secret of at least 16 bytes, got {} bytes",
                k.len()
            ),
        );
    }
    let client_identity = if ov.raw_clients || ing.raw_clients.unwrap_or(false) {
        Some(ClientIdentity::Raw)
    } else {
        key.map(|k| ClientIdentity::Keyed(k.into_bytes()))
    };
    let layout = match ing.registry_root {
        None => Layout { root: None },
        Some(r) => {
            let trimmed = r.trim_matches('/').to_string();
            if trimmed.contains("//") {
                errors.add(
                    "ingest.registry_root",
                    format!("expected a path without empty components, got `{r}`"),
                );
            }
            Layout {
                root: Some(trimmed),
            }
        }
    };
    let given = ing.ua_classes;
    let mut ua_classes = Vec::new();
    for (class, name, given, default) in [
        (
            UaClass::Scanner,
            "scanner",
            given.scanner,
            DEFAULT_SCANNER_UAS,
        ),
        (UaClass::Ci, "ci", given.ci, DEFAULT_CI_UAS),
        (UaClass::Human, "human", given.human, DEFAULT_HUMAN_UAS),
    ] {
        let pats: Vec<String> = match given {
            Some(v) => v.into_iter().map(|s| s.to_lowercase()).collect(),
            None => default.iter().map(|s| s.to_string()).collect(),
        };
        if pats.iter().any(|p| p.is_empty()) {
            errors.add(
                format!("ingest.ua_classes.{name}"),
                "expected non-empty patterns, got an empty string",
            );
        }
        ua_classes.push((class, pats));
    }
    let max_line = max_line(ing.max_line_size, errors);
    let pull_source = match ing.pull_source.as_deref() {
        None => PullSource::Auto,
        Some(s) => PullSource::parse(s).unwrap_or_else(|| {
            errors.add(
                "ingest.pull_source",
                format!(
                    "expected one of `{}`, got `{s}`",
                    PullSource::NAMES.join("`, `")
                ),
            );
            PullSource::Auto
        }),
    };
    IngestConfig {
        client_identity,
        max_bad_ratio,
        s3_include_auth_header: ing.s3_include_auth_header.unwrap_or(false),
        layout,
        ua_classes,
        max_line,
        pull_source,
    }
}

/// `ingest.max_line_size` in bytes: between [`MIN_MAX_LINE`] and [`MAX_LINE_LIMIT`],
/// [`DEFAULT_MAX_LINE`] when absent.
fn max_line(v: Option<String>, errors: &mut Errors) -> usize {
    let Some(s) = v else {
        return DEFAULT_MAX_LINE;
    };
    match parse_size(&s).and_then(|n| usize::try_from(n).ok()) {
        Some(n) if (MIN_MAX_LINE..=MAX_LINE_LIMIT).contains(&n) => n,
        _ => {
            errors.add(
                "ingest.max_line_size",
                format!("expected a size between `1 KiB` and `8 MiB` such as `1 MiB`, got `{s}`"),
            );
            DEFAULT_MAX_LINE
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::validate_toml;

    #[test]
    fn every_error_names_its_key() {
        let errs = validate_toml(
            "[ingest]\nmax_bad_ratio = 3.0\nclient_key = \"short\"\nmax_line_size = \"9 MiB\"\n[ingest.ua_classes]\nci = [\"\"]\n",
        )
        .unwrap_err();
        let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ingest.max_bad_ratio",
                "ingest.client_key",
                "ingest.ua_classes.ci",
                "ingest.max_line_size"
            ]
        );
    }

    #[test]
    fn pull_source_defaults_to_auto_and_names_its_key() {
        use super::PullSource;
        let ok = |toml: &str| validate_toml(toml).unwrap().ingest.pull_source;
        assert_eq!(ok(""), PullSource::Auto);
        assert_eq!(ok("[ingest]\npull_source = \"s3\"\n"), PullSource::S3);
        assert_eq!(
            ok("[ingest]\npull_source = \"registry\"\n"),
            PullSource::Registry
        );
        let errs = validate_toml("[ingest]\npull_source = \"cdn\"\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].key, "ingest.pull_source");
        let msg = errs[0].to_string();
        assert!(
            msg.contains("`cdn`") && msg.contains("`auto`, `s3`, `registry`"),
            "{msg}"
        );
    }

    #[test]
    fn max_line_size_has_a_default_and_bounds() {
        let ok = |toml: &str| validate_toml(toml).unwrap().ingest.max_line;
        assert_eq!(ok(""), super::DEFAULT_MAX_LINE);
        assert_eq!(ok("[ingest]\nmax_line_size = \"64 KiB\"\n"), 64 << 10);
        assert_eq!(ok("[ingest]\nmax_line_size = \"8MiB\"\n"), 8 << 20);
        for bad in ["1000", "9 MiB", "lots", "-1 KiB"] {
            let errs =
                validate_toml(&format!("[ingest]\nmax_line_size = \"{bad}\"\n")).unwrap_err();
            assert_eq!(errs.len(), 1, "{bad}: {errs:?}");
            assert_eq!(errs[0].key, "ingest.max_line_size");
            assert!(errs[0].to_string().contains(bad), "{}", errs[0]);
        }
    }
}

/// Which logs count a blob's pulls (`[ingest] pull_source`, `docs/ingest.md`, the `${pull_source}` of `queries/digest_stats.sql`): both sides of
/// a redirect, reconciled so that a pull seen by several sources counts once (`auto`), or one
/// side only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullSource {
    /// Every source: the registry's logs and notifications, and the storage's (S3, CDN) logs,
    /// one pull counted once.
    #[default]
    Auto,
    /// The storage's logs only (`s3-access`, `cloudfront`).
    S3,
    /// The registry's own logs and notifications only.
    Registry,
}

impl PullSource {
    /// The accepted values, as written in the config.
    pub const NAMES: [&'static str; 3] = ["auto", "s3", "registry"];

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            PullSource::Auto => "auto",
            PullSource::S3 => "s3",
            PullSource::Registry => "registry",
        }
    }

    /// From the config value; `None` for anything else.
    pub fn parse(s: &str) -> Option<PullSource> {
        match s {
            "auto" => Some(PullSource::Auto),
            "s3" => Some(PullSource::S3),
            "registry" => Some(PullSource::Registry),
            _ => None,
        }
    }
}

impl std::fmt::Display for PullSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
