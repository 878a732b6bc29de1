//! `blobtier backtest`: replays real pulls against the plan the policy would have made.

use std::path::Path;

use crate::backtest::BacktestOptions;
use crate::cli::BacktestArgs;
use crate::lake::Lake;
use crate::{Error, Outcome};

/// Runs the backtest ending `--as-of` and prints its result.
pub fn backtest(config: Option<&Path>, a: BacktestArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config(config, Default::default())?;
    let lake = Lake::open(&a.lake)?;
    let opts = BacktestOptions {
        as_of: a.as_of,
        horizon_days: a.horizon_days,
    };
    let bt = crate::backtest::run_backtest(&lake, &opts, &cfg)?;
    super::print_json(&bt);
    Ok(Outcome::Success)
}
