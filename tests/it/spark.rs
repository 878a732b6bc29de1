//! The Spark runner (`spark/run_stats.py`) against blobtier's own `stats`: both run the same
//! `queries/digest_stats.sql` over the same lake, and every row and column of the two
//! `digest_stats` outputs must agree (floats within 1e-12, everything else exactly), with the
//! same Parquet column types and the same `as_of=DATE/part-0.parquet` layout.
//!
//! PySpark comes from PyPI through `tests/setup/install-venv.sh pyspark` (a cached venv; the first
//! install takes about 2.5 min) and runs with `--master local[2]` on the machine's Java 17. If it
//! cannot be installed or started the tests fail; they never skip. The sample-data check runs
//! the script through `spark-submit`, as a user does; the others share one session
//! (`support::spark_session`: same script, same settings, one JVM for the test process).
//! See: issue 9.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::ingest::walk;
use crate::stats::{setup, write_inventory, InvRow};
use crate::support::cli::{blobtier, run, Output};

/// A spark-submit that has not finished after this long is killed and the test fails.
const SPARK_TIMEOUT: Duration = Duration::from_secs(15 * 60);

static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
/// One JVM at a time: each takes about 600 MB and both of the machine's cores while starting.
static SPARK: Mutex<()> = Mutex::new(());

/// The PySpark venv, installed on first use; panics (never skips) if that fails.
fn pyspark() -> &'static Path {
    VENV.get_or_init(|| crate::support::setup::venv("pyspark", "bin/spark-submit"))
        .as_ref()
        .unwrap_or_else(|e| panic!("PySpark is needed for the Spark parity tests: {e}"))
}

/// How a Spark script runs.
#[derive(Clone, Copy, Debug)]
pub enum Via {
    /// `spark-submit`, a JVM of its own, as a user runs it.
    Submit,
    /// In the test process's shared session (`support::spark_session`): the same script, the
    /// same settings, without starting Java again.
    Session,
}

/// `spark-submit --master local[2] spark/run_stats.py --lake LAKE --as-of DATE [--blobtier BIN]
/// ARGS...` (or the same in the shared session): the SQL comes from the binary under test
/// unless ARGS has `--sql`.
fn spark_stats(via: Via, lake: &Path, as_of: NaiveDate, args: &[&str], scratch: &Path) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut script_args: Vec<OsString> = vec!["--lake".into(), lake.into()];
    script_args.extend(["--as-of".into(), as_of.to_string().into()]);
    if !args.contains(&"--sql") {
        script_args.extend(["--blobtier", env!("CARGO_BIN_EXE_blobtier")].map(OsString::from));
    }
    script_args.extend(args.iter().map(OsString::from));
    spark_script(via, &root.join("spark/run_stats.py"), &script_args, scratch)
}

/// `SCRIPT ARGS...` run on Spark `via` spark-submit or the shared session, one at a time.
fn spark_script(via: Via, script: &Path, args: &[OsString], scratch: &Path) -> Output {
    match via {
        Via::Submit => spark_submit(script, args, scratch),
        Via::Session => {
            let venv = pyspark();
            let _one_at_a_time = SPARK.lock().unwrap_or_else(|e| e.into_inner());
            let started = Instant::now();
            let out = crate::support::spark_session::run(venv, script, args, SPARK_TIMEOUT);
            eprintln!(
                "spark session: {} finished with {} in {:.1} s",
                script.display(),
                out.status,
                started.elapsed().as_secs_f64()
            );
            if !out.status.success() {
                eprintln!("{script:?} {args:?}\n{out}");
            }
            out
        }
    }
}

/// `spark-submit --master local[2] SCRIPT ARGS...` with the JVM on 127.0.0.1, no UI, 4 shuffle
/// partitions, scratch space (and the working directory) under `scratch`, and the process time
/// zone far from UTC (scripts must compute UTC days regardless).
fn spark_submit(script: &Path, args: &[OsString], scratch: &Path) -> Output {
    let venv = pyspark();
    let _one_at_a_time = SPARK.lock().unwrap_or_else(|e| e.into_inner());
    fs::create_dir_all(scratch).unwrap();
    let python = venv.join("bin/python");
    let mut cmd = Command::new(venv.join("bin/spark-submit"));
    cmd.args(["--master", "local[2]"])
        .args(["--conf", "spark.ui.enabled=false"])
        .args(["--conf", "spark.sql.shuffle.partitions=4"])
        .args(["--conf", "spark.driver.bindAddress=127.0.0.1"])
        .args(["--conf", "spark.driver.host=127.0.0.1"])
        .arg(script)
        .args(args)
        // The pip-installed Spark, not one the developer's shell points at.
        .env_remove("SPARK_HOME")
        .env_remove("SPARK_CONF_DIR")
        .env_remove("PYSPARK_SUBMIT_ARGS")
        .env_remove("PYTHONPATH")
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("SPARK_LOCAL_DIRS", scratch)
        .env("PYSPARK_PYTHON", &python)
        .env("PYSPARK_DRIVER_PYTHON", &python)
        .env("TZ", "Pacific/Kiritimati") // UTC+14
        .current_dir(scratch);
    run_with_timeout(&mut cmd, scratch)
}

/// Runs `cmd` in its own process group with stdout and stderr in files under `dir`; kills the
/// group (spark-submit, the JVM and the Python driver) if it outlives [`SPARK_TIMEOUT`].
fn run_with_timeout(cmd: &mut Command, dir: &Path) -> Output {
    use std::os::unix::process::CommandExt;
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > SPARK_TIMEOUT {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {} s; its stderr:\n{}",
                SPARK_TIMEOUT.as_secs(),
                String::from_utf8_lossy(&fs::read(&err_path).unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = Output {
        status,
        stdout: String::from_utf8_lossy(&fs::read(&out_path).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&err_path).unwrap()).into_owned(),
    };
    let script = cmd
        .get_args()
        .find(|a| a.to_string_lossy().ends_with(".py"));
    eprintln!(
        "spark: {} finished with {} in {:.1} s",
        Path::new(script.unwrap_or_default()).display(),
        out.status,
        started.elapsed().as_secs_f64()
    );
    if !out.status.success() {
        eprintln!("{cmd:?}\n{out}");
    }
    out
}

/// One cell, typed as blobtier's schema allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Ts(i64),
}

/// A `digest_stats` partition as read back: the Parquet column types, the Arrow schema
/// (normalised) and the rows.
#[derive(Debug)]
pub struct Table {
    /// Per column: name, physical type, logical type, repetition.
    pub parquet_columns: Vec<String>,
    /// Per column: name and normalised Arrow type.
    pub arrow_columns: Vec<(String, DataType)>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn col(&self, name: &str) -> usize {
        self.arrow_columns
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no column `{name}`"))
    }
}

/// The Arrow type a column is compared as: string views and large strings as strings, and a
/// UTC timestamp's zone spelled `UTC` (Polars writes `UTC`; arrow-rs reads Spark's
/// `isAdjustedToUTC` columns as `+00:00`).
fn normalise(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::Timestamp(unit, Some(tz)) if matches!(tz.as_ref(), "UTC" | "+00:00" | "Z") => {
            DataType::Timestamp(*unit, Some("UTC".into()))
        }
        t => t.clone(),
    }
}

/// Reads `LAKE/digest_stats/as_of=DATE/`, which must hold exactly `part-0.parquet`.
pub fn read_partition(lake: &Path, as_of: NaiveDate) -> Table {
    let dir = lake.join(format!("digest_stats/as_of={as_of}"));
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read `{}`: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["part-0.parquet"], "files in `{}`", dir.display());
    read_table(&dir.join("part-0.parquet"))
}

pub fn read_table(path: &Path) -> Table {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open `{}`: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()));
    let parquet_columns = builder
        .parquet_schema()
        .columns()
        .iter()
        .map(|c| {
            format!(
                "{} {} {:?} {:?}",
                c.name(),
                c.physical_type(),
                c.logical_type_ref(),
                c.self_type().get_basic_info().repetition()
            )
        })
        .collect();
    let arrow_columns: Vec<(String, DataType)> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), normalise(f.data_type())))
        .collect();
    let mut rows = Vec::new();
    for batch in builder.build().unwrap() {
        let batch: RecordBatch = batch.unwrap();
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => {
                    arrow::compute::cast(c, &DataType::Utf8).unwrap()
                }
                _ => c.clone(),
            })
            .collect();
        for i in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| cell(c, i)).collect());
        }
    }
    Table {
        parquet_columns,
        arrow_columns,
        rows,
    }
}

fn cell(c: &ArrayRef, i: usize) -> Cell {
    if c.is_null(i) {
        return Cell::Null;
    }
    match c.data_type() {
        DataType::Utf8 => Cell::Str(c.as_string::<i32>().value(i).to_owned()),
        DataType::Int64 => Cell::Int(c.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => Cell::Float(c.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => Cell::Bool(c.as_boolean().value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            Cell::Ts(c.as_primitive::<TimestampMicrosecondType>().value(i))
        }
        t => panic!("unexpected column type {t} in digest_stats"),
    }
}

fn same(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Asserts that Spark's table equals blobtier's: Parquet column types, Arrow schema, row count
/// and order, and every cell. Lists up to 20 differing cells.
fn assert_same(spark: &Table, blobtier: &Table) {
    assert_eq!(
        spark.parquet_columns, blobtier.parquet_columns,
        "Parquet column types differ (left: Spark, right: blobtier)"
    );
    assert_same_rows("Spark", spark, blobtier);
}

/// Asserts that `engine`'s table has blobtier's columns (names and Arrow types) and rows, in
/// the same order, cell for cell (floats within 1e-12). Lists up to 20 differing cells.
pub fn assert_same_rows(engine: &str, theirs: &Table, blobtier: &Table) {
    assert_eq!(
        theirs.arrow_columns, blobtier.arrow_columns,
        "column names or types differ (left: {engine}, right: blobtier)"
    );
    let digest = blobtier.col("digest");
    let their_digests: Vec<&Cell> = theirs.rows.iter().map(|r| &r[digest]).collect();
    let blobtier_digests: Vec<&Cell> = blobtier.rows.iter().map(|r| &r[digest]).collect();
    assert_eq!(
        their_digests, blobtier_digests,
        "rows differ in number, digests or order (left: {engine}, right: blobtier)"
    );
    let mut diffs = Vec::new();
    for (t, b) in theirs.rows.iter().zip(&blobtier.rows) {
        for (j, (name, _)) in blobtier.arrow_columns.iter().enumerate() {
            if !same(&t[j], &b[j]) {
                diffs.push(format!(
                    "{:?} {name}: {engine} {:?}, blobtier {:?}",
                    b[digest], t[j], b[j]
                ));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} cells differ, e.g.:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(20)].join("\n")
    );
}

/// Runs `blobtier stats` and then the Spark runner with the same arguments (and `runner_only`)
/// on `lake` (Spark replaces blobtier's partition, as a re-run does), and compares the two
/// outputs.
pub fn compare_runs(
    lake: &Path,
    as_of: NaiveDate,
    args: &[&str],
    runner_only: &[&str],
    scratch: &Path,
) -> Table {
    compare_runs_via(Via::Session, lake, as_of, args, runner_only, scratch)
}

/// [`compare_runs`] with the runner run `via` spark-submit or the shared session.
fn compare_runs_via(
    via: Via,
    lake: &Path,
    as_of: NaiveDate,
    args: &[&str],
    runner_only: &[&str],
    scratch: &Path,
) -> Table {
    let out = run(blobtier()
        .args(["stats", "--as-of", &as_of.to_string()])
        .args(args)
        .arg("--lake")
        .arg(lake));
    out.assert_success();
    let ours = read_partition(lake, as_of);
    let out = spark_stats(via, lake, as_of, &[args, runner_only].concat(), scratch);
    out.assert_success();
    assert!(
        out.stdout.contains(&format!(
            "digest_stats: {}/digest_stats/as_of={as_of}/part-0.parquet ({} rows",
            lake.display(),
            ours.rows.len()
        )),
        "{out}"
    );
    let theirs = read_partition(lake, as_of);
    assert_same(&theirs, &ours);
    // Nothing left behind: no staging directory, no lock.
    let tmp = walk(&lake.join("_tmp"));
    assert!(tmp.is_empty(), "left in `_tmp`: {tmp:?}");
    assert!(!lake.join("_lock").exists(), "the runner left `_lock`");
    ours
}

fn digest(i: u64) -> Cell {
    Cell::Str(format!("sha256:{:064x}", 0xdead_0000_u64 + i))
}

#[test]
fn spark_runner_matches_blobtier_stats_on_the_edge_case_lake() {
    let t = tempfile::tempdir().unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    // Window edges at 00:00:00 and 23:59:59, IPv6 clients, scanners, one digest under several
    // repositories, 3 digests only in the logs, 5 only in the inventory, pulls after as-of.
    let (lake, _, _) = setup(t.path(), as_of);
    let table = compare_runs(&lake, as_of, &[], &[], &t.path().join("spark"));

    // The comparison covered the edge cases, not just an empty table.
    let (d, inv, pulls90, ratio7) = (
        table.col("digest"),
        table.col("in_inventory"),
        table.col("pulls_90d"),
        table.col("unique_pull_ratio_7d"),
    );
    let row = |i| table.rows.iter().find(|r| r[d] == digest(i)).unwrap();
    assert_eq!(table.rows.len(), 43);
    assert_eq!(row(41)[inv], Cell::Bool(false), "log-only digest");
    assert_eq!(row(36)[pulls90], Cell::Int(0), "inventory-only digest");
    assert_eq!(row(36)[ratio7], Cell::Null);
    assert!(matches!(row(2)[ratio7], Cell::Float(_)), "edge digest");
}

#[test]
fn spark_runner_matches_a_backfill_with_more_windows_and_scanners() {
    let t = tempfile::tempdir().unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let (lake, _, inv) = setup(t.path(), as_of);
    // A backfill 20 days back: the snapshot of as_of is newer and must be passed over for the
    // older one, and the 20 days of later pulls ignored.
    let back = as_of - chrono::Duration::days(20);
    let older = t.path().join("older");
    let manifest = write_inventory(
        &older,
        "registry-prod",
        &(back - chrono::Duration::days(1)).to_string(),
        &inv[..30],
    );
    run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg("--inventory")
        .arg(&manifest))
    .assert_success();
    // Unsorted, with a duplicate: both normalise to 1,7,14,30,60,90,120.
    let args = ["--windows", "120,1,7,14,30,7,60,90", "--include-scanners"];
    let table = compare_runs(&lake, back, &args, &[], &t.path().join("spark"));
    table.col("pulls_1d");
    table.col("pulls_120d");
    // 30 blobs in the older snapshot plus the digests pulled but not in it.
    let inv_col = table.col("in_inventory");
    let in_inventory = table
        .rows
        .iter()
        .filter(|r| r[inv_col] == Cell::Bool(true))
        .count();
    assert_eq!(in_inventory, 30);
}

/// A lake with an inventory but no logs yet: the runner registers an empty `pulls` table of
/// blobtier's schema (there is no Parquet to infer one from).
#[test]
fn spark_runner_matches_blobtier_without_any_pulls() {
    let t = tempfile::tempdir().unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let rows: Vec<InvRow> = (0..3u64)
        .map(|i| {
            let h = format!("{:064x}", 0xdead_0000_u64 + i);
            (
                format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2]),
                100 + i,
                format!("2026-0{}-03T03:04:05.000Z", i + 1),
                "STANDARD".to_string(),
            )
        })
        .chain([(
            "docker/registry/v2/repositories/team1/api/_layers/sha256/00/link".to_string(),
            71,
            "2026-01-01T00:00:00.000Z".to_string(),
            "STANDARD".to_string(),
        )])
        .collect();
    let manifest = write_inventory(t.path(), "registry-prod", &as_of.to_string(), &rows);
    let lake = t.path().join("lake");
    run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg("--inventory")
        .arg(&manifest))
    .assert_success();
    assert!(!lake.join("pulls").exists() || walk(&lake.join("pulls")).is_empty());
    let table = compare_runs(&lake, as_of, &[], &[], &t.path().join("spark"));
    assert_eq!(table.rows.len(), 3);

    // Where the driver has no blobtier: the query expanded beforehand and given as a file.
    let expand = |as_of: NaiveDate, windows: &str| {
        let out = run(blobtier()
            .args(["sql", "--dialect", "spark", "--windows", windows, "--as-of"])
            .arg(as_of.to_string())
            .arg("digest_stats"));
        out.assert_success();
        let file = t
            .path()
            .join(format!("digest_stats-{as_of}-{windows}.spark.sql"));
        fs::write(&file, out.stdout).unwrap();
        file.to_str().unwrap().to_owned()
    };
    let file = expand(as_of, "7,30,90");
    let table = compare_runs(
        &lake,
        as_of,
        &[],
        &["--sql", &file],
        &t.path().join("spark-sql"),
    );
    assert_eq!(table.rows.len(), 3);

    // Options the plan cannot use, or a file expanded for other options: exit 2 before the lake
    // changes. See: issue 14.
    let before = crate::stats::lake_state(&lake);
    let yesterday = expand(as_of - chrono::Duration::days(1), "7,30,90");
    let wider = expand(as_of, "7,14,30,90");
    for (args, why) in [
        (vec!["--windows", "7"], "invalid `--windows`"),
        (vec!["--windows", "7,7"], "invalid `--windows`"),
        (
            vec!["--sql", &yesterday],
            "was expanded for other options: as_of=",
        ),
        (
            vec!["--sql", &wider],
            "was expanded for other options: windows=",
        ),
    ] {
        let out = spark_stats(
            Via::Session,
            &lake,
            as_of,
            &args,
            &t.path().join("spark-bad"),
        );
        assert_eq!(out.code(), 2, "{args:?}: {out}");
        assert!(out.stderr.contains(why), "{args:?}: {out}");
        assert!(
            crate::stats::lake_state(&lake) == before,
            "{args:?} changed the lake"
        );
    }
}

/// The runner's empty tables (for a lake without logs, manifest requests or image graph) are
/// blobtier's schemas, as `blobtier sql --dialect spark --schema` prints them. Reads the
/// script's `EMPTY_DDL` with Python's parser; needs no Spark. See: issue 14.
#[test]
fn spark_runner_empty_tables_are_blobtiers_schemas() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("spark/run_stats.py");
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import ast, json, sys\n\
             tree = ast.parse(open(sys.argv[1]).read())\n\
             [ddl] = [ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)\n\
                      and [t.id for t in n.targets if isinstance(t, ast.Name)] == ['EMPTY_DDL']]\n\
             print(json.dumps(ddl))",
        )
        .arg(&script)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ddl: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    let tables: Vec<&str> = ddl.keys().map(String::as_str).collect();
    assert_eq!(
        tables,
        [
            "blob_refs",
            "failed_pulls",
            "manifest_pulls",
            "manifest_refs",
            "pulls",
            "tags"
        ]
    );
    for (table, theirs) in &ddl {
        let out = run(blobtier().args(["sql", "--dialect", "spark", "--schema", table]));
        out.assert_success();
        assert_eq!(theirs, out.stdout.trim_end(), "EMPTY_DDL[{table:?}]");
    }
}

/// The demo's lake (`blobtier demo` on `sample-data/`, written to a temp directory). The sample
/// data is part of the repository: without it the test fails.
#[test]
fn spark_runner_matches_blobtier_on_the_sample_data_lake() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("sample-data");
    assert!(
        sample.join("logs").is_dir() && sample.join("expected.json").is_file(),
        "`{}` (logs/ and expected.json) is part of the repository and is missing; \
         `cargo run --release --example gen-sample -- --size small --out sample-data` writes it \
         (docs/sample-data.md)",
        sample.display()
    );
    let t = tempfile::tempdir().unwrap();
    let demo = t.path().join("demo");
    run(blobtier()
        .arg("demo")
        .arg("--sample-data")
        .arg(&sample)
        .arg("--out")
        .arg(&demo))
    .assert_success();
    let expected: serde_json::Value =
        serde_json::from_slice(&fs::read(sample.join("expected.json")).unwrap()).unwrap();
    let end = NaiveDate::parse_from_str(expected["end_date"].as_str().unwrap(), "%Y-%m-%d")
        .expect("end_date in expected.json");
    // Through spark-submit itself, as a user runs the script (the other checks share a session).
    let table = compare_runs_via(
        Via::Submit,
        &demo.join("lake"),
        end,
        &[],
        &[],
        &t.path().join("spark"),
    );
    assert!(!table.rows.is_empty());
}

/// A lake with an image graph and manifest pulls, from a real registry (tests/it/registry.rs):
/// the graph columns (`manifest_pulls_*` through tags and indexes, `last_manifest_pull_at`,
/// `referenced_by_tag`, `ref_repos`) agree too. See: issue 7.
#[test]
fn spark_runner_matches_blobtier_on_a_real_registry_lake() {
    let t = tempfile::tempdir().unwrap();
    let (lake, today, x) = crate::registry::scenario_lake(t.path());
    let table = compare_runs(&lake, today, &[], &[], &t.path().join("spark"));
    assert_eq!(table.rows.len(), x.digests.len());
    let (d, tagged, mp) = (
        table.col("digest"),
        table.col("referenced_by_tag"),
        table.col("manifest_pulls_30d"),
    );
    let row = |name: &str| {
        let digest = Cell::Str(x.digests[name].clone());
        table.rows.iter().find(|r| r[d] == digest).unwrap()
    };
    assert_eq!(row("O1")[tagged], Cell::Bool(false));
    assert_eq!(row("B")[tagged], Cell::Bool(true));
    assert_eq!(row("B")[mp], Cell::Int(9));
    assert_eq!(
        row("AMD")[mp],
        Cell::Int(1),
        "reached through the index only"
    );

    // The plan's view of these stats (manifest pulls counted as uses), on Spark and in
    // blobtier, over the same partition, three days later (so that the days since the last
    // pulls are not all 0). See: issue 14.
    let stats = lake.join(format!("digest_stats/as_of={today}/part-0.parquet"));
    let later = today + chrono::Duration::days(3);
    let ours = plan_view_by_blobtier(&stats, later, &t.path().join("view.parquet"));
    let scratch = t.path().join("spark-view");
    fs::create_dir_all(&scratch).unwrap();
    let sql = scratch.join("plan_view.spark.sql");
    let out = run(blobtier().args([
        "sql",
        "--dialect",
        "spark",
        "--as-of",
        &later.to_string(),
        "plan_view",
    ]));
    out.assert_success();
    fs::write(&sql, out.stdout).unwrap();
    let script = scratch.join("plan_view.py");
    fs::write(&script, SPARK_PLAN_VIEW).unwrap();
    let view = scratch.join("view");
    spark_script(
        Via::Session,
        &script,
        &[stats.into(), sql.into(), view.clone().into()],
        &scratch,
    )
    .assert_success();
    let parts: Vec<PathBuf> = walk(&view)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    let theirs = sorted(read_table(&parts[0]));
    assert_same_rows("Spark", &theirs, &ours);
    assert_manifest_pulls_raise(&table, &ours);
}

/// The plan's `view` of `stats` raised some blob's `pulls_30d` to its manifest pulls (the
/// comparison of views covered the case, not only the pass-through).
pub fn assert_manifest_pulls_raise(stats: &Table, view: &Table) {
    let raw: BTreeMap<String, Cell> = stats
        .rows
        .iter()
        .map(|r| {
            (
                format!("{:?}", r[stats.col("digest")]),
                r[stats.col("pulls_30d")].clone(),
            )
        })
        .collect();
    let (d, p30) = (view.col("digest"), view.col("pulls_30d"));
    let raised = view.rows.iter().filter(|r| {
        matches!((&raw[&format!("{:?}", r[d])], &r[p30]), (Cell::Int(a), Cell::Int(b)) if b > a)
    });
    assert!(
        raised.count() > 0,
        "no blob whose manifest pulls raised its pulls_30d"
    );
}

/// Runs an expanded `plan_view` (argv[2]) over a `digest_stats` file (argv[1]) and writes one
/// Parquet file under argv[3], with the runner's session settings.
const SPARK_PLAN_VIEW: &str = r#"
import sys
from pyspark.sql import SparkSession
stats, sql, out = sys.argv[1:4]
spark = SparkSession.builder.appName("blobtier-plan-view").getOrCreate()
spark.conf.set("spark.sql.session.timeZone", "UTC")
spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
spark.conf.set("spark.sql.ansi.enabled", "true")
spark.read.parquet(stats).createOrReplaceTempView("digest_stats")
spark.sql(open(sql).read()).coalesce(1).write.parquet(out)
spark.stop()
"#;

/// `table` with its rows sorted by digest, bucket and key (a view has no order of its own).
pub fn sorted(mut table: Table) -> Table {
    let keys = [table.col("digest"), table.col("bucket"), table.col("key")];
    table
        .rows
        .sort_by_key(|r| keys.map(|k| format!("{:?}", r[k])));
    table
}

/// blobtier's plan view ([`blobtier::query::plan_view`], manifest pulls counted) of the
/// `digest_stats` file `stats`, written to `out` and read back, sorted.
pub fn plan_view_by_blobtier(stats: &Path, as_of: NaiveDate, out: &Path) -> Table {
    use polars::prelude::*;
    let lf = blobtier::query::tables::scan_file(stats).unwrap();
    let mut df = blobtier::query::plan_view(lf, as_of, true)
        .unwrap()
        .collect()
        .unwrap();
    ParquetWriter::new(fs::File::create(out).unwrap())
        .finish(&mut df)
        .unwrap();
    sorted(read_table(out))
}
