//! Progress output (`src/progress.rs`) through the real binary: without a terminal (cron, pipes,
//! this harness) stderr gets no bar and no escape code, only INFO lines with `-v`; on a
//! terminal (a pseudo-terminal made by util-linux `script`) the bars are drawn, and `--quiet`
//! turns them off.
//! See: issues 6 and 8.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::cli::{blobtier, run};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data")
}

fn log_files() -> usize {
    fs::read_dir(sample().join("logs/s3-access"))
        .unwrap()
        .count()
}

#[test]
fn without_a_terminal_progress_is_log_lines_and_no_escape_codes() {
    let t = tempfile::tempdir().unwrap();
    let out = run(blobtier()
        .current_dir(t.path())
        .args(["-v", "demo", "--out", "demo", "--sample-data"])
        .arg(sample()));
    out.assert_success();
    assert!(
        !out.stderr.contains('\x1b') && !out.stderr.contains('\r'),
        "escape codes on a non-terminal stderr:\n{out}"
    );
    let want = format!("ingest finished: {} read, 0 skipped,", log_files());
    for line in [
        want.as_str(),
        "stats finished: ",
        "plan finished: ",
        "report finished: written to ",
    ] {
        assert_eq!(
            out.stderr.matches(line).count(),
            1,
            "expected one `{line}` line:\n{out}"
        );
    }
    // Without -v (cron): nothing about progress at all.
    let out = run(blobtier()
        .current_dir(t.path())
        .args(["demo", "--out", "demo", "--sample-data"])
        .arg(sample()));
    out.assert_success();
    assert!(!out.stderr.contains("finished"), "{out}");
    assert!(!out.stderr.contains('\x1b'), "{out}");
}

/// Runs `blobtier ARGS` on a pseudo-terminal and returns everything it wrote there.
fn on_a_terminal(dir: &Path, args: &str) -> String {
    let typescript = dir.join("typescript");
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_blobtier"));
    let out = Command::new("script")
        .current_dir(dir)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .args(["--quiet", "--return", "--command", &cmd])
        .arg(&typescript)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux `script` runs (Debian's bsdutils, an essential package)");
    let text = fs::read_to_string(&typescript).unwrap();
    assert!(out.status.success(), "{cmd} failed on a terminal:\n{text}");
    text
}

#[test]
fn on_a_terminal_bars_are_drawn_unless_quiet() {
    let t = tempfile::tempdir().unwrap();
    let sample = sample();
    let args = format!("demo --out demo --sample-data {}", sample.display());
    let text = on_a_terminal(t.path(), &args);
    // indicatif clears and redraws its line with `ESC [2K`; each finished stage leaves a line.
    assert!(text.contains("\x1b[2K"), "no bar drawn:\n{text}");
    let want = format!("   ingest {} read, 0 skipped,", log_files());
    for line in [
        want.as_str(),
        "    stats ",
        "     plan ",
        "   report written to ",
    ] {
        assert!(text.contains(line), "missing `{line}`:\n{text}");
    }
    let quiet = on_a_terminal(t.path(), &format!("--quiet {args}"));
    assert!(!quiet.contains('\x1b'), "--quiet drew something:\n{quiet}");
    assert!(quiet.contains("blobtier demo: sample data"), "{quiet}");
}
