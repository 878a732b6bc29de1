//! `blobtier run`: the nightly job ([`crate::run`](mod@crate::run)) on the config's lake.

use std::path::Path;

use crate::cli::RunArgs;
use crate::run::{RunOptions, RunOutcome};
use crate::{Error, Outcome};

/// Runs the nightly job for `--as-of` (default yesterday) and prints the run record; exit 1
/// when the coverage guard held moves back or an input was over the reject threshold.
pub fn run(config: Option<&Path>, a: RunArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config_with_pins(config, a.pins)?;
    let opts = RunOptions {
        as_of: a.as_of.unwrap_or_else(super::yesterday),
        allow_gaps: a.allow_gaps,
    };
    let metrics_file = a.metrics_file.or_else(|| cfg.run.metrics_file.clone());
    let result = crate::run::run(&cfg, &opts);
    if let Some(path) = &metrics_file {
        // Written whatever happened, so that node-exporter sees a failed night too.
        if let Err(e) = crate::run::textfile::write(path, result.as_ref().ok()) {
            // The run's own error, if any, is the one to report.
            tracing::error!(error = %e, file = %path.display(), "could not write the metrics file");
            result?;
            return Err(crate::run::Error::from(e).into());
        }
    }
    let record = result?;
    super::print_json(&record);
    Ok(super::outcome(record.outcome != RunOutcome::Success))
}
