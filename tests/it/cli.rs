//! The binary as a shell pipeline sees it: a reader that goes away early (`blobtier … | head`)
//! must not turn into a panic.

use std::process::Stdio;

use crate::support::cli::blobtier;

/// `blobtier config check` prints its JSON to a pipe whose reader is already gone: no panic,
/// the usual exit code (0).
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("blobtier.toml");
    std::fs::write(&cfg, "").unwrap();
    let mut child = blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
