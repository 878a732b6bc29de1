//! tracing setup: `blobtier=warn` by default (quiet for cron), `-v` info, `-vv` debug,
//! `-q` errors only; `RUST_LOG` overrides; JSON lines with `--log-format json`; no colour
//! when `NO_COLOR` is set or stderr is not a terminal. Also picks how progress is shown
//! ([`crate::progress`]): bars on a terminal with text logs, log lines otherwise.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormatArg;

/// Installs the global subscriber (logs go to stderr).
pub fn init(verbose: u8, quiet: bool, format: LogFormatArg) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("blobtier={level}")));
    let terminal = std::io::stderr().is_terminal();
    let ansi = terminal && std::env::var_os("NO_COLOR").is_none();
    crate::progress::init(crate::progress::choose(
        quiet,
        matches!(format, LogFormatArg::Text),
        terminal,
        std::env::var("TERM").ok().as_deref(),
    ));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::progress::LogWriter)
        .with_target(false);
    let _ = match format {
        LogFormatArg::Text => b.with_ansi(ansi).try_init(),
        LogFormatArg::Json => b.json().try_init(),
    };
}
