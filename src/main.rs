//! The `blobtier` binary: parses the command line, runs the library, maps the outcome to an
//! exit code (0 success, 1 item failures, 2 could not run).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = blobtier::cli::Cli::parse();
    blobtier::logging::init(cli.verbose, cli.quiet, cli.log_format);
    match blobtier::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            let e = anyhow::Error::from(e);
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  Caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
