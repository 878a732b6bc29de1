//! `blobtier plan`: the tier-migration plan for one day.

use std::path::Path;

use crate::cli::PlanArgs;
use crate::lake::Lake;
use crate::{Error, Outcome};

/// Plans from the stats of `--as-of` and prints the plan summary.
pub fn plan(config: Option<&Path>, a: PlanArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config(config, Default::default())?;
    let lake = Lake::open(&a.lake).map_err(crate::plan::Error::from)?;
    let s = crate::plan::run_plan(&lake, a.as_of, &cfg, None)?;
    super::print_json(&s);
    Ok(Outcome::Success)
}
