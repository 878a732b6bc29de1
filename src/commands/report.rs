//! `blobtier report`: the dry-run cost report of one day's plan.

use std::path::Path;

use crate::cli::ReportArgs;
use crate::report::{run_report, ReportOptions};
use crate::{Error, Outcome};

/// Writes the report of `--as-of` and prints what was written.
pub fn report(config: Option<&Path>, a: ReportArgs) -> Result<Outcome, Error> {
    let opts = ReportOptions {
        as_of: a.as_of,
        out: a.out,
    };
    super::on_lake(config, &a.lake, |lake, cfg| run_report(lake, &opts, cfg))
}
