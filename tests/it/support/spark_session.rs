//! One PySpark session (one JVM) for the Spark parity checks: `spark_session.py` runs each
//! script as `spark-submit SCRIPT ARGS` would, in a driver started once per test process.
//! Starting Java and Spark took most of each check's time on two cores; the scripts, the
//! queries and the files they read and write are the same. `tests/it/spark.rs` still runs one
//! check through `spark-submit` itself.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use crate::support::cli::Output;

/// The running driver.
struct Session {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
    log: PathBuf,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

impl Session {
    /// Starts the driver with the environment `spark-submit` gets in the tests, and waits
    /// until its session is up.
    fn start(venv: &Path, timeout: Duration) -> Session {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spark-session");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("driver.log");
        let python = venv.join("bin/python");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/spark_session.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(&log)
            // The venv's Spark, not one the developer's shell points at.
            .env_remove("SPARK_HOME")
            .env_remove("SPARK_CONF_DIR")
            .env_remove("PYSPARK_SUBMIT_ARGS")
            .env_remove("PYTHONPATH")
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .env("SPARK_LOCAL_DIRS", &dir)
            .env("PYSPARK_PYTHON", &python)
            .env("PYSPARK_DRIVER_PYTHON", &python)
            .env("TZ", "Pacific/Kiritimati") // UTC+14: scripts must compute UTC days regardless
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", script.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut session = Session {
            child,
            stdin,
            answers,
            log,
        };
        let ready = session.answer(timeout, "starting");
        assert!(
            ready.contains("\"ready\""),
            "unexpected first line: {ready}"
        );
        session
    }

    /// The next answer line; kills the driver and panics (with its log) when none comes
    /// within `timeout`.
    fn answer(&mut self, timeout: Duration, what: &str) -> String {
        match self.answers.recv_timeout(timeout) {
            Ok(line) => line,
            Err(e) => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", self.child.id())])
                    .status();
                let _ = self.child.wait();
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: String = log
                    .lines()
                    .rev()
                    .take(60)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                panic!(
                    "the Spark session gave no answer ({e:?}) {what}; the end of its log:\n{tail}"
                );
            }
        }
    }
}

/// Runs `script ARGS` in the shared session (started on first use), one script at a time;
/// the caller holds the lock that keeps JVMs one at a time.
pub fn run(venv: &Path, script: &Path, args: &[OsString], timeout: Duration) -> Output {
    let mut guard = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    // A driver that died (or was killed after a timeout) is started again.
    if let Some(s) = guard.as_mut() {
        if !matches!(s.child.try_wait(), Ok(None)) {
            *guard = None;
        }
    }
    let session = guard.get_or_insert_with(|| Session::start(venv, timeout));
    let request = serde_json::json!({
        "script": script,
        "args": args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
    });
    let what = format!("running {} {args:?}", script.display());
    if let Err(e) = writeln!(session.stdin, "{request}") {
        *guard = None;
        panic!("could not send a request to the Spark session: {e}");
    }
    let line = session.answer(timeout, &what);
    let answer: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the Spark session answered {line:?}: {e}"));
    let code = answer["code"].as_i64().expect("an exit code") as i32;
    Output {
        status: ExitStatus::from_raw(code << 8),
        stdout: answer["stdout"].as_str().unwrap_or_default().to_owned(),
        stderr: answer["stderr"].as_str().unwrap_or_default().to_owned(),
    }
}
