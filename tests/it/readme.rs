//! The README's first command block, as a newcomer runs it from the repository root.
//!
//! The block is `cargo run -- demo` then `cargo test`. The test reads it from `README.md`,
//! checks it is exactly those two commands (and that `.ci/run` runs the second), and runs the
//! first one word for word with `cargo` from the repository root, inheriting the environment (so
//! `CARGO_TARGET_DIR` too): cargo finds the binary (`default-run`), `demo` finds `sample-data/`
//! from the repository root, writes `./blobtier-demo/` and prints where its outputs are and the
//! headline numbers. The demo uses the debug build the test command needs anyway (a clean
//! release build takes about 24 minutes on 2 cores, `docs/benchmarks.md`).
//! See: issue 8, issue 18.

use std::path::Path;
use std::process::{Command, Stdio};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The commands of the first fenced block after the README's title, comments removed.
fn first_block(readme: &str) -> Vec<String> {
    let mut lines = readme.lines();
    assert!(
        lines.next().is_some_and(|l| l.starts_with("# ")),
        "README.md does not start with its title"
    );
    let mut block = Vec::new();
    let mut inside = false;
    for l in lines {
        if l.starts_with("```") {
            if inside {
                return block;
            }
            inside = true;
            continue;
        }
        if inside {
            let cmd = l.split_once(" #").map_or(l, |(c, _)| c).trim();
            if !cmd.is_empty() {
                block.push(cmd.to_owned());
            }
        }
    }
    panic!("README.md has no complete fenced block");
}

#[test]
fn first_block_parses_as_expected() {
    assert_eq!(
        first_block("# t\n\ntext\n\n```sh\na  # one\n\nb\n```\n```\nc\n```\n"),
        ["a", "b"]
    );
}

#[test]
fn readme_first_command_runs_from_the_repository_root() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = first_block(&readme);
    assert_eq!(
        block,
        ["cargo run -- demo", "cargo test"],
        "the README's first block changed: update this test (and CI) with it"
    );
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test --locked"),
        ".ci/run does not run the README's test command"
    );

    let words: Vec<&str> = block[0].split_whitespace().collect();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out_dir = repo().join("blobtier-demo");
    let mut cmd = Command::new(&cargo);
    cmd.args(&words[1..])
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    // The environment of the shell that ran `cargo test`, without what cargo adds for a test
    // process: some build scripts (ring's) ask to be rerun when `CARGO_PKG_NAME` & co. change,
    // and cargo compares those with its own environment, so a nested `cargo run` that still
    // had them would rebuild ring and everything above it (about 7 minutes here).
    for (name, _) in std::env::vars_os() {
        let added_by_cargo = name.to_str().is_some_and(|n| {
            (n.starts_with("CARGO_") && n != "CARGO_HOME" && n != "CARGO_TARGET_DIR")
                || n == "CARGO"
                || n == "RUST_RECURSION_COUNT"
                || n == "LD_LIBRARY_PATH"
        });
        if added_by_cargo {
            cmd.env_remove(&name);
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run `{}`: {e}", words.join(" ")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`{}` failed: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        words.join(" "),
        out.status
    );
    // Where the outputs are, and the headline numbers.
    let lake = Path::new("blobtier-demo").join("lake");
    for want in [
        format!("lake at {}", lake.display()),
        "monthly cost now $".to_owned(),
        "net 12-month savings $".to_owned(),
        format!("report: {}", lake.join("reports").display()),
    ] {
        assert!(stdout.contains(&want), "missing `{want}` in:\n{stdout}");
    }
    assert!(out_dir.join("lake/plan").is_dir());
    assert!(std::fs::read_dir(out_dir.join("lake/reports"))
        .unwrap()
        .flatten()
        .any(|d| d.path().join("report.html").is_file()));
}

/// The README's `blobtier init` then `blobtier config check`, as a newcomer types them: in an
/// empty directory, with the default (relative) output path `blobtier.toml`, whose parent is
/// the empty path. `init` used to write the file and then exit 2 with ``failed to sync
/// directory ` ` ``.
// See: issue 18.
#[test]
fn init_in_an_empty_directory_with_a_relative_path_then_config_check() {
    use crate::support::cli::{blobtier, run};
    let t = tempfile::tempdir().unwrap();
    run(blobtier().arg("init").current_dir(t.path())).assert_success();
    let written = std::fs::read_to_string(t.path().join("blobtier.toml")).unwrap();
    assert!(written.contains("[run]"), "{written}");
    run(blobtier()
        .args(["init", "--setup", "registry-json", "--out", "other.toml"])
        .current_dir(t.path()))
    .assert_success();
    assert!(t.path().join("other.toml").is_file());
    let check = run(blobtier().args(["config", "check"]).current_dir(t.path()));
    check.assert_success();
    let resolved: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    assert!(resolved["run"].is_object(), "{}", check.stdout);
    // Never overwritten.
    let again = run(blobtier().arg("init").current_dir(t.path()));
    assert_eq!(again.code(), 2, "{again}");
}
