//! `blobtier plan`: the tier-migration plan for one day.

use std::path::Path;

use crate::cli::PlanArgs;
use crate::lake::Lake;
use crate::{Error, Outcome};

/// Plans from the stats of `--as-of` behind the coverage guard (as `run` does; `--allow-gaps`
/// overrides it) and prints the plan summary. Moves held back by the guard exit 1, as `run`.
pub fn plan(config: Option<&Path>, a: PlanArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config_with_pins(config, a.pins)?;
    let lake = Lake::open(&a.lake)?;
    let (_, hold) = crate::pipeline::coverage_guard(&lake, a.as_of, &cfg, a.allow_gaps)
        .map_err(crate::plan::Error::from)?;
    let s = crate::plan::run_plan(&lake, a.as_of, &cfg, hold)?;
    super::print_json(&s);
    Ok(if s.held_down.is_some() {
        Outcome::ItemFailures
    } else {
        Outcome::Success
    })
}
