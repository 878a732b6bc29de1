//! pyarrow from PyPI, for tests that need a real writer of a format blobtier reads (ORC):
//! `tests/setup/install-venv.sh pyarrow` puts the pinned wheel into a cached venv on first use
//! (about 30 s and 45 MB once; idempotent after). A failed install fails the test; it never
//! skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The venv's Python with pyarrow, installed on first use; panics (never skips) if that fails.
pub fn python() -> PathBuf {
    let venv = VENV
        .get_or_init(|| crate::support::setup::venv("pyarrow", "bin/python"))
        .as_ref()
        .unwrap_or_else(|e| panic!("pyarrow is needed to write the test's ORC file: {e}"));
    venv.join("bin/python")
}

/// Runs `script` with the venv's Python (arguments `args`); panics with its stderr if it fails.
pub fn run_python(script: &str, args: &[&Path]) {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "python failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
