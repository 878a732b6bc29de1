//! The installers of `tests/setup/`, run from the tests: `install-venv.sh KIND` (pinned Python
//! packages in a cached venv: LocalStack, PySpark, DuckDB, pyarrow) and `install-apt.sh KIND`
//! (Debian packages: the registry and skopeo, Chromium). Each is idempotent and fast once done;
//! a failed install fails the test that needs it, never skips it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Runs `tests/setup/<script> <kind>` and returns the last line it printed on stdout (what it
/// installed). Its progress goes to the test's stderr (a first install takes minutes). An
/// `Err` names the command and what went wrong.
pub fn install(script: &str, kind: &str) -> Result<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/setup")
        .join(script);
    let command = format!("bash {} {kind}", path.display());
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&path)
        .arg(kind)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run `{command}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{command}` failed with {}; its messages are on stderr above",
            out.status
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim().to_owned();
    if last.is_empty() {
        return Err(format!("`{command}` printed nothing on stdout"));
    }
    eprintln!(
        "setup: `{script} {kind}` ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(last)
}

/// The venv `install-venv.sh kind` made, checked to hold `needs` (e.g. `bin/python`).
pub fn venv(kind: &str, needs: &str) -> Result<PathBuf, String> {
    let venv = PathBuf::from(install("install-venv.sh", kind)?);
    if !venv.join(needs).exists() {
        return Err(format!(
            "`install-venv.sh {kind}` printed `{}`, which has no `{needs}`",
            venv.display()
        ));
    }
    Ok(venv)
}
