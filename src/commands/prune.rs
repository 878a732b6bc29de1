//! `blobtier prune`: deletes the partitions older than the `[run.retention]` ages.

use std::path::{Path, PathBuf};

use crate::cli::PruneArgs;
use crate::config::{Config, LakeLocation};
use crate::lake::Lake;
use crate::{Error, Outcome};

/// Prunes the lake (`--lake`, else `run.lake`) as of `--as-of` (default yesterday) and prints
/// what was (or with `--dry-run` would be) deleted.
pub fn prune(config: Option<&Path>, a: PruneArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config(config, Default::default())?;
    let dir = lake_dir(a.lake, &cfg)?;
    if cfg.run.retention.is_empty() {
        return Err(Error::Setting {
            key: "run.retention",
            reason: "sets no age (e.g. `pulls_days = 400`), so there is nothing to prune".into(),
        });
    }
    let as_of = a.as_of.unwrap_or_else(super::yesterday);
    let lake = Lake::open(&dir)?;
    let r = crate::retention::prune(&lake, &cfg.run.retention, as_of, a.dry_run)?;
    super::print_json(&r);
    Ok(Outcome::Success)
}

/// `--lake`, else a local `run.lake`; an `s3://` lake is pruned by `run` itself.
fn lake_dir(arg: Option<PathBuf>, cfg: &Config) -> Result<PathBuf, Error> {
    match (arg, &cfg.run.lake) {
        (Some(d), _) => Ok(d),
        (None, Some(LakeLocation::Local(d))) => Ok(d.clone()),
        (None, Some(LakeLocation::S3 { .. })) => Err(Error::Setting {
            key: "run.lake",
            reason: "`blobtier prune` works on a local lake; an `s3://` lake is pruned by `blobtier run` (`[run.retention]`)".into(),
        }),
        (None, None) => Err(Error::Setting {
            key: "run.lake",
            reason: "`blobtier prune` needs `--lake DIR` or `run.lake`".into(),
        }),
    }
}
