//! The commands layer: one file per subcommand (uv's `commands/`). Each turns the parsed
//! command line and the validated config into calls of the library, and prints the result.
//!
//! Invariants: this is the only layer that writes data to stdout (`print_json`, `outln!`;
//! logs go to stderr through `tracing`), the only one that reads clap structs, and the only
//! one that maps a stage's result to an exit [`crate::Outcome`]. Nothing in the
//! library depends on it. A command holds no logic a stage needs: what is not argument
//! mapping or printing belongs in the stage.
#![allow(clippy::print_stdout)]

/// Writes a line to stdout (the data channel). A closed pipe (`blobtier … | head`) is not an
/// error worth a panic: the rest of the output is dropped.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod apply;
mod backtest;
mod config_check;
mod demo;
mod ingest;
mod init;
mod plan;
mod prune;
mod report;
mod run;
mod sql;
mod stats;

pub use apply::apply;
pub use backtest::backtest;
pub use config_check::config_check;
pub use demo::demo;
pub use ingest::ingest;
pub use init::init;
pub use plan::plan;
pub use prune::prune;
pub use report::report;
pub use run::run;
pub use sql::sql;
pub use stats::stats;

use std::path::{Path, PathBuf};

use crate::config::{self, Config, LoadError, Overrides};
use crate::lake::Lake;
use crate::{Error, Outcome};

/// Loads the config: `--config FILE`, else `./blobtier.toml` if present, else the defaults;
/// `BLOBTIER_*` variables and `ov` (CLI values) override it.
fn load_config(path: Option<&Path>, ov: Overrides) -> Result<Config, LoadError> {
    let default = Path::new("blobtier.toml");
    let path = path.or_else(|| default.is_file().then_some(default));
    config::load(path, ov)
}

/// [`load_config`] with the `--pins` files of `plan` and `run` (added to `run.pins`) as the
/// only CLI override.
fn load_config_with_pins(path: Option<&Path>, pins: Vec<PathBuf>) -> Result<Config, LoadError> {
    load_config(
        path,
        Overrides {
            pins,
            ..Default::default()
        },
    )
}

/// What `report` and `backtest` share: load the config (no CLI overrides), open the lake at
/// `lake`, run the stage on them and print its result; success unless the stage fails.
fn on_lake<T, E>(
    config: Option<&Path>,
    lake: &Path,
    stage: impl FnOnce(&Lake, &Config) -> Result<T, E>,
) -> Result<Outcome, Error>
where
    T: serde::Serialize,
    Error: From<E>,
{
    let cfg = load_config(config, Default::default())?;
    let lake = Lake::open(lake)?;
    print_json(&stage(&lake, &cfg)?);
    Ok(Outcome::Success)
}

/// Prints a JSON value to stdout (the data channel).
fn print_json<T: serde::Serialize>(v: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).expect("metrics serialise")
    );
}

/// Exit 1 when some items failed, else 0.
fn outcome(item_failures: bool) -> Outcome {
    if item_failures {
        Outcome::ItemFailures
    } else {
        Outcome::Success
    }
}

/// Yesterday (UTC): the default as-of of `run`, `prune` and `sql`.
fn yesterday() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Duration::days(1)
}
