//! `blobtier report`: the dry-run cost report of one day's plan.

use std::path::Path;

use crate::cli::ReportArgs;
use crate::lake::Lake;
use crate::report::ReportOptions;
use crate::{Error, Outcome};

/// Writes the report of `--as-of` and prints what was written.
pub fn report(config: Option<&Path>, a: ReportArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config(config, Default::default())?;
    let lake = Lake::open(&a.lake)?;
    let opts = ReportOptions {
        as_of: a.as_of,
        out: a.out,
    };
    let out = crate::report::run_report(&lake, &opts, &cfg)?;
    super::print_json(&out);
    Ok(Outcome::Success)
}
