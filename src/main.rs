//! The `blobtier` binary: parses the command line, sets up logging, runs the library, maps the
//! outcome to an exit code (0 success, 1 item failures, 2 could not run).

use std::process::ExitCode;

use blobtier::cli::{Cli, LogFormatArg};
use blobtier::logging::{self, LogFormat};
use clap::Parser;

// The one place that prints the final error to stderr (uv's `error:` / `Caused by:` lines).
#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = match cli.log_format {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
    };
    logging::init(cli.verbose, cli.quiet, format);
    match blobtier::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            let e = anyhow::Error::from(e);
            eprintln!("error: {e}");
            let mut last = e.to_string();
            for cause in e.chain().skip(1) {
                // Some libraries wrap an error in a context that renders the same text.
                let text = cause.to_string();
                if text != last {
                    eprintln!("  Caused by: {text}");
                }
                last = text;
            }
            ExitCode::from(2)
        }
    }
}
