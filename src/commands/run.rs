//! `blobtier run`: the nightly job ([`crate::run`](mod@crate::run)) on the config's lake.

use std::path::Path;

use crate::cli::RunArgs;
use crate::run::{RunOptions, RunOutcome};
use crate::{Error, Outcome};

/// Runs the nightly job for `--as-of` (default yesterday) and prints the run record; exit 1
/// when the coverage guard held moves back or an input was over the reject threshold.
pub fn run(config: Option<&Path>, a: RunArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config(config, Default::default())?;
    let opts = RunOptions {
        as_of: a.as_of.unwrap_or_else(super::yesterday),
        allow_gaps: a.allow_gaps,
    };
    let record = crate::run::run(&cfg, &opts)?;
    super::print_json(&record);
    Ok(super::outcome(record.outcome != RunOutcome::Success))
}
