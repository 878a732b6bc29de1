//! tracing setup: `blobtier=warn` by default (quiet for cron), `-v` info, `-vv` debug,
//! `-q` errors only; `RUST_LOG` overrides; JSON lines with `--log-format json`; no colour
//! when `NO_COLOR` is set or stderr is not a terminal. Also picks how progress is shown
//! ([`crate::progress`]): bars on a terminal with text logs, log lines otherwise.
//!
//! Takes plain values, not the command line: the binary maps its flags to [`LogFormat`].

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON lines (for log shippers).
    Json,
}

/// Installs the global subscriber (logs go to stderr): `verbose` is the count of `-v`,
/// `quiet` means errors only.
pub fn init(verbose: u8, quiet: bool, format: LogFormat) {
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
        format == LogFormat::Text,
        terminal,
        std::env::var("TERM").ok().as_deref(),
    ));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::progress::LogWriter)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => b.with_ansi(ansi).try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}
