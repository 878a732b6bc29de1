//! The analyst queries of `docs/analyst.md` (`docs/analyst/*.sql`) run with DuckDB over a lake
//! built from `sample-data/` by `blobtier demo`, and their results are compared with values
//! computed without them: the sample generator's ground truth (`expected.json`,
//! `expected-pulls.csv.gz`), the `digest_stats` table read with arrow, and the plan's own
//! summary. The docs must show every query file verbatim.
//!
//! DuckDB comes from PyPI through `tests/setup/install-venv.sh duckdb` (a cached venv; the first
//! install takes about 20 s). If it cannot be installed the test fails; it never skips.
//! See: issue 8.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;

use crate::support::cli::{blobtier, run};
use crate::support::parquet;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The DuckDB venv, installed on first use; panics (never skips) if that fails.
pub fn duckdb_python() -> PathBuf {
    let venv = VENV
        .get_or_init(|| crate::support::setup::venv("duckdb", "bin/python"))
        .as_ref()
        .unwrap_or_else(|e| panic!("DuckDB is needed for the analyst-query test: {e}"));
    venv.join("bin/python")
}

/// Runs `docs/analyst/duckdb_views.sql` then each query, from the lake directory, and returns
/// per query file name its column names and rows (dates as ISO strings).
fn duckdb(lake: &Path, queries: &[PathBuf]) -> serde_json::Value {
    const RUNNER: &str = r#"
import datetime, decimal, json, os, sys
import duckdb
lake, views, *queries = sys.argv[1:]
os.chdir(lake)
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(open(views).read())
def plain(v):
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v
out = {}
for q in queries:
    rel = con.sql(open(q).read())
    out[os.path.basename(q)] = {
        "columns": rel.columns,
        "rows": [[plain(v) for v in row] for row in rel.fetchall()],
    }
print(json.dumps(out))
"#;
    let out = Command::new(duckdb_python())
        .arg("-c")
        .arg(RUNNER)
        .arg(lake)
        .arg(repo().join("docs/analyst/duckdb_views.sql"))
        .args(queries)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "DuckDB failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rows(results: &serde_json::Value, file: &str, columns: &[&str]) -> Vec<Vec<serde_json::Value>> {
    let r = &results[file];
    assert_eq!(r["columns"], serde_json::json!(columns), "{file} columns");
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_array().unwrap().clone())
        .collect()
}

fn int(v: &serde_json::Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// `in_inventory AND pulls_30d = 0` per storage class: (blobs, bytes), from `digest_stats`.
fn unpulled_from_digest_stats(lake: &Path) -> BTreeMap<String, (i64, i64)> {
    let mut out = BTreeMap::new();
    for f in crate::ingest::walk(&lake.join("digest_stats")) {
        let b = parquet::read(&f);
        let col = |n: &str| b.column_by_name(n).unwrap_or_else(|| panic!("no `{n}`"));
        let inv = col("in_inventory").as_boolean();
        let pulls = col("pulls_30d").as_primitive::<Int64Type>();
        let size = col("size").as_primitive::<Int64Type>();
        let class =
            arrow::compute::cast(col("storage_class"), &arrow::datatypes::DataType::Utf8).unwrap();
        let class = class.as_string::<i32>();
        for i in 0..b.num_rows() {
            if inv.value(i) && (pulls.is_null(i) || pulls.value(i) == 0) {
                let e = out.entry(class.value(i).to_owned()).or_insert((0, 0));
                e.0 += 1;
                e.1 += size.value(i);
            }
        }
    }
    out
}

#[test]
fn analyst_queries_in_the_docs_give_independently_computed_results() {
    let t = tempfile::tempdir().unwrap();
    let out = run(blobtier()
        .current_dir(t.path())
        .args(["demo", "--out", "demo", "--sample-data"])
        .arg(repo().join("sample-data")));
    out.assert_success();
    let lake = t.path().join("demo/lake");

    // Every query file is in the docs verbatim, and every one is checked below.
    let doc = fs::read_to_string(repo().join("docs/analyst.md")).unwrap();
    let mut files: Vec<PathBuf> = fs::read_dir(repo().join("docs/analyst"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        assert!(
            doc.contains(text.trim_end()),
            "docs/analyst.md does not show `{}` as it is",
            f.display()
        );
    }
    let queries: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| !f.ends_with("duckdb_views.sql"))
        .collect();
    let names: Vec<String> = queries
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "plan_moves.sql",
            "pulls_per_day.sql",
            "top_pulled_blobs.sql",
            "unpulled_bytes_by_class.sql"
        ],
        "a new query in docs/analyst/ needs its check here"
    );
    let res = duckdb(&lake, &queries);

    // Pulls per day and scanner pulls: the generator's ground truth.
    let expected: serde_json::Value =
        serde_json::from_slice(&fs::read(repo().join("sample-data/expected.json")).unwrap())
            .unwrap();
    let want: BTreeMap<String, i64> = expected["pulls_per_day"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(d, n)| (d.clone(), n.as_i64().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let got = rows(
        &res,
        "pulls_per_day.sql",
        &["day", "pulls", "scanner_pulls"],
    );
    let per_day: BTreeMap<String, i64> = got
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), int(&r[1])))
        .collect();
    assert_eq!(per_day, want);
    assert_eq!(
        got.iter().map(|r| int(&r[2])).sum::<i64>(),
        int(&expected["scanner_pulls"])
    );

    // Top pulled blobs: the generator's per-digest-day pulls, summed per digest.
    let mut csv = String::new();
    flate2::read::GzDecoder::new(
        fs::File::open(repo().join("sample-data/expected-pulls.csv.gz")).unwrap(),
    )
    .read_to_string(&mut csv)
    .unwrap();
    let mut per_digest: BTreeMap<String, i64> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        *per_digest.entry(f[1].to_owned()).or_default() += f[2].parse::<i64>().unwrap();
    }
    let mut top: Vec<(String, i64)> = per_digest.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(10);
    let got: Vec<(String, i64)> = rows(&res, "top_pulled_blobs.sql", &["digest", "pulls"])
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), int(&r[1])))
        .collect();
    assert_eq!(got, top);

    // Unpulled bytes by class: digest_stats (the pipeline's own stats query) says the same.
    let got: BTreeMap<String, (i64, i64)> = rows(
        &res,
        "unpulled_bytes_by_class.sql",
        &["storage_class", "blobs", "bytes"],
    )
    .iter()
    .map(|r| (r[0].as_str().unwrap().to_owned(), (int(&r[1]), int(&r[2]))))
    .collect();
    let want = unpulled_from_digest_stats(&lake);
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // Plan moves: the plan's summary (by_move counts, bytes moved, savings).
    let as_of = expected["window"]["last_day"].as_str().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(
        &fs::read(lake.join(format!("plan/as_of={as_of}/plan.summary.json"))).unwrap(),
    )
    .unwrap();
    let got = rows(
        &res,
        "plan_moves.sql",
        &[
            "from_class",
            "to_class",
            "blobs",
            "bytes",
            "net_savings_12m",
        ],
    );
    let by_move: BTreeMap<String, i64> = got
        .iter()
        .map(|r| {
            (
                format!("{} -> {}", r[0].as_str().unwrap(), r[1].as_str().unwrap()),
                int(&r[2]),
            )
        })
        .collect();
    let want: BTreeMap<String, i64> = summary["totals"]["by_move"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
        .collect();
    assert_eq!(by_move, want);
    assert_eq!(
        got.iter().map(|r| int(&r[3])).sum::<i64>(),
        int(&summary["totals"]["bytes_moved"])
    );
    let savings: f64 = got.iter().map(|r| r[4].as_f64().unwrap()).sum();
    let want = summary["totals"]["net_savings_12m"].as_f64().unwrap();
    assert!(
        (savings - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{savings} vs {want}"
    );
}
