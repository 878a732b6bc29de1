//! DuckDB runs blobtier's queries as `blobtier sql --dialect duckdb` expands them: the
//! `digest_stats` query through `bench/duckdb_stats.py` (the benchmarks' runner, which registers
//! empty tables from `blobtier sql --schema`), and the plan's view (`queries/plan_view.sql`)
//! over a `digest_stats` partition. Every row and column must equal blobtier's (floats within
//! 1e-12). `spark.rs` does the same for Spark: together they test the one expander's output for
//! every engine it serves.
//!
//! DuckDB comes from the analyst test's venv (`tests/setup/install-venv.sh duckdb`); without it the
//! tests fail, they never skip. See: issue 14.

use std::path::Path;
use std::process::{Command, Stdio};

use chrono::NaiveDate;

use crate::analyst::duckdb_python;
use crate::spark::{
    assert_manifest_pulls_raise, assert_same_rows, plan_view_by_blobtier, read_partition,
    read_table, sorted,
};
use crate::spark::{Cell, Table};
use crate::stats::setup;
use crate::support::cli::{blobtier, run};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `python -c SCRIPT ARGS...` with DuckDB, `BLOBTIER` set to the binary under test;
/// panics with its stderr if it fails.
fn duckdb(script: &[&std::ffi::OsStr]) {
    let out = Command::new(duckdb_python())
        .args(script)
        .env("BLOBTIER", env!("CARGO_BIN_EXE_blobtier"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "DuckDB failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `blobtier stats` and `bench/duckdb_stats.py` with the same options on `lake`; asserts the
/// two tables are equal and returns blobtier's.
fn compare_stats(lake: &Path, as_of: NaiveDate, windows: &str, scanners: bool) -> Table {
    let scanner_arg: &[&str] = if scanners {
        &["--include-scanners"]
    } else {
        &[]
    };
    run(blobtier()
        .args(["stats", "--as-of", &as_of.to_string(), "--windows", windows])
        .args(scanner_arg)
        .arg("--lake")
        .arg(lake))
    .assert_success();
    let ours = read_partition(lake, as_of);
    let out = lake.with_extension(format!("duckdb-{windows}.parquet"));
    let (as_of, script) = (as_of.to_string(), repo().join("bench/duckdb_stats.py"));
    let mut args = vec![
        script.as_os_str(),
        lake.as_os_str(),
        as_of.as_ref(),
        out.as_os_str(),
        windows.as_ref(),
    ];
    args.extend(scanner_arg.iter().map(std::ffi::OsStr::new));
    duckdb(&args);
    assert_same_rows("DuckDB", &read_table(&out), &ours);
    ours
}

/// The plan's view of the `digest_stats` file `stats` by DuckDB, sorted.
fn duckdb_plan_view(stats: &Path, as_of: NaiveDate, out: &Path) -> Table {
    const SCRIPT: &str = r#"
import os, subprocess, sys
import duckdb
stats, as_of, out = sys.argv[1:4]
sql = subprocess.run([os.environ["BLOBTIER"], "sql", "--dialect", "duckdb", "--as-of", as_of,
                      "plan_view"], check=True, capture_output=True, text=True).stdout
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET TimeZone = 'UTC'")
con.execute(f"CREATE VIEW digest_stats AS SELECT * FROM read_parquet('{stats}')")
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
"#;
    let as_of = as_of.to_string();
    duckdb(&[
        "-c".as_ref(),
        SCRIPT.as_ref(),
        stats.as_os_str(),
        as_of.as_ref(),
        out.as_os_str(),
    ]);
    sorted(read_table(out))
}

#[test]
fn duckdb_matches_blobtier_stats_on_the_edge_case_lake() {
    let t = tempfile::tempdir().unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let (lake, _, _) = setup(t.path(), as_of);
    let table = compare_stats(&lake, as_of, "7,30,90", false);
    assert_eq!(table.rows.len(), 43);
    let table = compare_stats(&lake, as_of, "1,7,14,30,60,90,120", true);
    let (inv, pulls1) = (table.col("in_inventory"), table.col("pulls_1d"));
    assert!(table.rows.iter().any(|r| r[inv] == Cell::Bool(false)));
    assert!(table
        .rows
        .iter()
        .any(|r| matches!(r[pulls1], Cell::Int(n) if n > 0)));
}

/// A lake with an image graph and manifest pulls: the graph columns agree, and so does the
/// plan's view of the stats, where manifest pulls raise the pull counts.
#[test]
fn duckdb_matches_blobtier_stats_and_plan_view_on_a_real_registry_lake() {
    let t = tempfile::tempdir().unwrap();
    let (lake, today, x) = crate::registry::scenario_lake(t.path());
    let table = compare_stats(&lake, today, "7,30,90", false);
    assert_eq!(table.rows.len(), x.digests.len());
    // Viewed three days later, so that the days since the last (manifest) pull are not all 0.
    let stats = lake.join(format!("digest_stats/as_of={today}/part-0.parquet"));
    let later = today + chrono::Duration::days(3);
    let ours = plan_view_by_blobtier(&stats, later, &t.path().join("view.parquet"));
    let theirs = duckdb_plan_view(&stats, later, &t.path().join("duckdb-view.parquet"));
    assert_same_rows("DuckDB", &theirs, &ours);
    assert_manifest_pulls_raise(&table, &ours);
}
