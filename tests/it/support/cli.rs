//! Running the built `blobtier` binary and comparing directory trees (ripgrep `tests/util.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// A `blobtier` command with a predictable environment: no `RUST_LOG`, `NO_COLOR=1`, and no
/// inherited `BLOBTIER_*` or `AWS_*` variables (add S3 settings with `.envs(localstack().env())`).
pub fn blobtier() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blobtier"));
    for (name, _) in std::env::vars_os() {
        let inherited = name.to_str().is_some_and(|n| {
            n == "RUST_LOG" || n.starts_with("BLOBTIER_") || n.starts_with("AWS_")
        });
        if inherited {
            cmd.env_remove(&name);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// What a finished command did, with its output decoded as (lossy) UTF-8.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code; panics if the process was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("process was killed: {}\n{self}", self.status))
    }

    /// Panics, showing stdout and stderr, unless the command exited with 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "command failed\n{self}");
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.status, self.stdout, self.stderr
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Runs `cmd` to completion with stdin closed and captures its output. If it does not exit
/// with 0, prints the command and its output (shown by the test harness when the test fails).
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let out = Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if !out.status.success() {
        eprintln!("{cmd:?}\n{out}");
    }
    out
}

/// Relative path → xxh3-64 of the contents, for every file under `dir` (a symlink hashes its
/// target path). Compare two digests to assert that a directory (the lake) did not change.
pub fn tree_digest(dir: &Path) -> BTreeMap<PathBuf, u64> {
    tree_digest_excluding(dir, &[])
}

/// [`tree_digest`] without the entries under any of `exclude` (paths relative to `dir`, matched
/// by whole components, so `out` excludes `out/a` but not `output`).
pub fn tree_digest_excluding(dir: &Path, exclude: &[&Path]) -> BTreeMap<PathBuf, u64> {
    let mut digest = BTreeMap::new();
    digest_into(dir, dir, exclude, &mut digest);
    digest
}

fn digest_into(root: &Path, dir: &Path, exclude: &[&Path], out: &mut BTreeMap<PathBuf, u64>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read `{}`: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("read directory entry").path();
        let rel = path
            .strip_prefix(root)
            .expect("path is under root")
            .to_owned();
        if exclude.iter().any(|x| rel.starts_with(x)) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path)
            .unwrap_or_else(|e| panic!("stat `{}`: {e}", path.display()));
        if meta.is_dir() {
            digest_into(root, &path, exclude, out);
            continue;
        }
        let bytes = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)
                .unwrap_or_else(|e| panic!("read link `{}`: {e}", path.display()));
            target.into_os_string().into_encoded_bytes()
        } else {
            std::fs::read(&path).unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()))
        };
        out.insert(rel, xxhash_rust::xxh3::xxh3_64(&bytes));
    }
}

/// Starts `cmd` with the crash point `point` armed (`BLOBTIER_TEST_PAUSE_AT`, see
/// `src/crashpoint.rs`), waits until the process is paused there, then kills it with SIGKILL
/// and reaps it. Its stderr goes to `<scratch>/stderr-<point>`. Panics if the process exits
/// before it gets there, or does not get there within a few minutes.
pub fn kill_at(cmd: &mut Command, point: &str, scratch: &Path) {
    let mut child = pause_at(cmd, point, scratch);
    child.kill().expect("SIGKILL the paused run");
    child.wait().expect("reap the killed run");
}

/// Like [`kill_at`], but returns the paused process (it goes on by itself after two minutes).
pub fn pause_at(cmd: &mut Command, point: &str, scratch: &Path) -> std::process::Child {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let name = point.replace(':', "-");
    let marker = scratch.join(format!("paused-{name}"));
    let stderr_path = scratch.join(format!("stderr-{name}"));
    let _ = std::fs::remove_file(&marker);
    let stderr = std::fs::File::create(&stderr_path)
        .unwrap_or_else(|e| panic!("create `{}`: {e}", stderr_path.display()));
    cmd.env("BLOBTIER_TEST_PAUSE_AT", point)
        .env("BLOBTIER_TEST_PAUSE_MARKER", &marker)
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let log = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !marker.exists() {
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!(
                "exited ({status}) before reaching `{point}`; stderr:\n{}",
                log()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("did not reach `{point}` in time; stderr:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), point);
    child
}
