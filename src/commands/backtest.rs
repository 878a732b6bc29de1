//! `blobtier backtest`: replays real pulls against the plan the policy would have made.

use std::path::Path;

use crate::backtest::{run_backtest, BacktestOptions};
use crate::cli::BacktestArgs;
use crate::{Error, Outcome};

/// Runs the backtest ending `--as-of` and prints its result.
pub fn backtest(config: Option<&Path>, a: BacktestArgs) -> Result<Outcome, Error> {
    let opts = BacktestOptions {
        as_of: a.as_of,
        horizon_days: a.horizon_days,
    };
    super::on_lake(config, &a.lake, |lake, cfg| run_backtest(lake, &opts, cfg))
}
