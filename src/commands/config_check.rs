//! `blobtier config check`: validates the config, tier rules included, and prints the
//! resolved settings.

use std::path::Path;

use crate::config::LoadError;
use crate::{Error, Outcome};

/// Loads and validates the config (`--config`, else `./blobtier.toml`) and prints it resolved,
/// secrets redacted.
pub fn config_check(config: Option<&Path>) -> Result<Outcome, Error> {
    let cfg = super::load_config(config, Default::default())?;
    if let Err(errors) = crate::plan::policy::validate_rules(&cfg.plan.tiers, &cfg.run.windows) {
        return Err(LoadError::Invalid {
            path: config.map_or_else(|| "blobtier.toml".into(), Path::to_path_buf),
            errors,
        }
        .into());
    }
    super::print_json(&crate::init::resolved(&cfg));
    Ok(Outcome::Success)
}
