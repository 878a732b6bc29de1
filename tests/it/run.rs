//! The nightly job through the real binary: identical re-runs, incremental days, the coverage
//! guard, and mutual exclusion of concurrent runs.
//! See: issue 8.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration as Days, NaiveDate};

use crate::ingest::{hex_of, s3_pull_line, walk, KEY};
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, kill_at, pause_at, run, Output};

pub const AS_OF: &str = "2026-11-26";

pub fn as_of() -> NaiveDate {
    NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap()
}

/// One log file per day for `days` days ending on as-of: digests 0..4 pulled every day, so
/// they stay; digests 4..20 are in the inventory and never pulled, so they go cold.
pub fn write_day(logs: &Path, day: NaiveDate) {
    let mut text = String::new();
    for i in 0..4u32 {
        text.push_str(&s3_pull_line(
            &day.format("%d/%b/%Y").to_string(),
            "12:00:00",
            &format!("203.0.113.{i}"),
            &hex_of(i),
            "containerd/1.7.13",
            10,
        ));
    }
    fs::write(
        logs.join(format!("{}-12-00-00-X", day.format("%Y-%m-%d"))),
        text,
    )
    .unwrap();
}

/// 95 days of logs under `t/logs` (all but `skip_day` days before as-of) and an inventory of
/// 20 blobs under `t/inv`, with the config `t/blobtier.toml` for the lake `t/lake`.
pub fn setup(t: &Path, skip_day: Option<i64>) -> PathBuf {
    inputs(t, skip_day);
    config(t, "blobtier", &t.join("lake").display().to_string(), "")
}

/// The inputs of [`setup`].
pub fn inputs(t: &Path, skip_day: Option<i64>) {
    let logs = t.join("logs");
    fs::create_dir_all(&logs).unwrap();
    for d in 0..95 {
        if Some(d) != skip_day {
            write_day(&logs, as_of() - Days::days(d));
        }
    }
    let rows: Vec<InvRow> = (0..20u32)
        .map(|i| {
            let h = hex_of(i);
            (
                format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2]),
                50 << 20,
                "2025-06-01T00:00:00.000Z".to_string(),
                "STANDARD".to_string(),
            )
        })
        .collect();
    write_inventory(&t.join("inv"), "registry-prod", AS_OF, &rows);
}

/// A config `t/<name>.toml` that runs on the inputs of [`inputs`] into `lake` (a directory or
/// an `s3://` URL), with `extra` lines in `[run]`.
pub fn config(t: &Path, name: &str, lake: &str, extra: &str) -> PathBuf {
    let cfg = t.join(format!("{name}.toml"));
    fs::write(
        &cfg,
        format!(
            "[run]\nlake = \"{lake}\"\nlogs = [\"s3-access:{}\"]\ninventory = \"{}\"\n{extra}",
            t.join("logs").display(),
            t.join("inv/dest/registry-prod/cfg").display()
        ),
    )
    .unwrap();
    cfg
}

fn nightly(cfg: &Path, extra: &[&str]) -> Output {
    run(nightly_cmd(cfg).args(extra))
}

/// `blobtier --config CFG run --as-of AS_OF` with the client key set.
pub fn nightly_cmd(cfg: &Path) -> Command {
    let mut cmd = blobtier();
    cmd.arg("--config")
        .arg(cfg)
        .args(["run", "--as-of", AS_OF])
        .env("BLOBTIER_CLIENT_KEY", KEY);
    cmd
}

/// What a run leaves in a lake directory, for comparing two lakes built from the same inputs:
/// every file of the derived tables and reports (path → content hash); per partition of the
/// ingested tables, the content hashes of its parts (part names carry run ids); every input
/// of the ledger (location and content hash, once per ingest that read it); and the outcome
/// of every run record. Temporary, hidden and lock files are left out.
pub fn outputs(lake: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let rel = |p: &Path| p.strip_prefix(lake).unwrap().display().to_string();
    let hash = |p: &Path| format!("{:x}", xxhash_rust::xxh3::xxh3_64(&fs::read(p).unwrap()));
    for table in ["digest_stats", "decisions", "plan", "hot_set", "reports"] {
        for p in walk(&lake.join(table)) {
            if !rel(&p).contains("/.") {
                out.insert(rel(&p), hash(&p));
            }
        }
    }
    for table in ["pulls", "manifest_pulls", "inventory", "_rejects"] {
        let mut parts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in walk(&lake.join(table)) {
            if !rel(&p).contains("/.") {
                let dir = rel(p.parent().unwrap());
                parts.entry(dir).or_default().push(hash(&p));
            }
        }
        for (dir, mut hashes) in parts {
            hashes.sort();
            out.insert(format!("{dir}/*"), hashes.join(","));
        }
    }
    let mut inputs = Vec::new();
    for p in walk(&lake.join("_ledger")) {
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        for i in v["inputs"].as_array().unwrap() {
            inputs.push(format!("{} {}", i["location"], i["content_hash"]));
        }
        for i in v["inventories"].as_array().unwrap() {
            inputs.push(format!("{} {}", i["location"], i["manifest_md5"]));
        }
    }
    inputs.sort();
    out.insert("_ledger inputs".into(), inputs.join("\n"));
    let mut outcomes = Vec::new();
    for p in walk(&lake.join("_runs")) {
        if !rel(&p).contains("/.") {
            let v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
            outcomes.push(v["outcome"].to_string());
        }
    }
    out.insert("_runs outcomes".into(), outcomes.join(","));
    out
}

fn derived(lake: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    ["digest_stats", "decisions", "plan", "hot_set"]
        .iter()
        .flat_map(|t| walk(&lake.join(t)))
        .map(|p| {
            (
                p.strip_prefix(lake).unwrap().to_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn run_twice_gives_identical_outputs_and_a_new_day_is_the_only_input_read() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), None);
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["outcome"], "success");
    assert_eq!(rec["ingest"]["files_read"], 95);
    assert_eq!(rec["plan"]["totals"]["actions"], 16, "{}", rec["plan"]);
    let lake = t.path().join("lake");
    let first = derived(&lake);
    assert!(!first.is_empty());
    assert_eq!(walk(&lake.join("_runs")).len(), 1);

    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["ingest"]["files_read"], 0);
    assert_eq!(
        derived(&lake),
        first,
        "a re-run must give byte-identical outputs"
    );

    write_day(&t.path().join("logs"), as_of() + Days::days(1));
    let out = run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--as-of", "2026-11-27"])
        .env("BLOBTIER_CLIENT_KEY", KEY));
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["ingest"]["files_read"], 1);
}

#[test]
fn a_day_without_logs_holds_every_move_down_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), Some(40));
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("coverage guard") && out.stderr.contains("2026-10-17"),
        "{out}"
    );
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["outcome"], "held_down");
    assert_eq!(rec["plan"]["totals"]["actions"], 0);
    assert_eq!(rec["plan"]["totals"]["by_reason"]["kept:coverage_gap"], 16);
    // Stats were still written.
    assert_eq!(walk(&t.path().join("lake/digest_stats")).len(), 1);
    let out = nightly(&cfg, &["--allow-gaps"]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["plan"]["totals"]["actions"], 16);
}

#[test]
fn a_second_concurrent_run_exits_2_naming_the_holder() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), None);
    let mut child = pause_at(&mut nightly_cmd(&cfg), "ingest:staged", t.path());
    let out = nightly(&cfg, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr.contains("locked by another run")
            && out.stderr.contains(&format!("pid {}", child.id())),
        "{out}"
    );
    // The killed run left a stale lock and staged files; the next run takes over and completes.
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
}

fn partitions(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn dates(prefix: &str, from: i64, to: i64) -> Vec<String> {
    // Days as-of − from ..= as-of − to, oldest first.
    (to..=from)
        .rev()
        .map(|d| format!("{prefix}={}", as_of() - Days::days(d)))
        .collect()
}

/// `pruned.tables.TABLE.pruned` of a run record, or `tables.TABLE.pruned` of `prune`'s output.
fn pruned(rec: &serde_json::Value, table: &str) -> Vec<String> {
    let report = rec.get("pruned").unwrap_or(rec);
    report["tables"][table]["pruned"]
        .as_array()
        .unwrap_or_else(|| panic!("no `pruned.tables.{table}` in {rec:#}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Retention: at the end of `run`, whole partitions dated before as-of − age go, and only
/// those; `blobtier prune` does the same on demand (a dry run lists exactly what it then
/// deletes). The ledger stays, so the source still listing the old log files does not make a
/// re-run read them again and the pruned days do not come back; a late file for a pruned day
/// is ingested and pruned again by the same run.
/// See: issue 8.
#[test]
fn retention_prunes_whole_old_partitions_and_ingest_stays_incremental() {
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), None);
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "[run.retention]\npulls_days = 90\ndigest_stats_days = 30\ndecisions_days = 30\n\
         plan_days = 30\nreports_days = 30\nrejects_days = 30\nruns_days = 30\n",
    );
    fs::write(&cfg, text).unwrap();
    let lake = t.path().join("lake");

    // Logs for as-of − 94 ..= as-of: the four days before as-of − 90 go.
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["ingest"]["files_read"], 95);
    assert_eq!(rec["plan"]["totals"]["actions"], 16);
    assert_eq!(pruned(&rec, "pulls"), dates("date", 94, 91));
    assert_eq!(
        rec["pruned"]["tables"]["pulls"]["oldest_kept"],
        (as_of() - Days::days(90)).to_string()
    );
    assert_eq!(
        rec["pruned"]["tables"]["pulls"]["key"],
        "run.retention.pulls_days"
    );
    assert_eq!(rec["pruned"]["tables"]["pulls"]["files"], 4);
    assert_eq!(pruned(&rec, "manifest_pulls"), Vec::<String>::new());
    assert_eq!(rec["pruned"]["partitions"], 4);
    // Tables without an age are not looked at.
    assert!(
        rec["pruned"]["tables"].get("inventory").is_none(),
        "{rec:#}"
    );
    assert_eq!(partitions(&lake.join("pulls")), dates("date", 90, 0));
    // The record on disk says the same.
    let runs = walk(&lake.join("_runs"));
    assert_eq!(runs.len(), 1);
    let on_disk: serde_json::Value = serde_json::from_slice(&fs::read(&runs[0]).unwrap()).unwrap();
    assert_eq!(on_disk["pruned"], rec["pruned"]);
    let plan_before = fs::read(lake.join(format!("plan/as_of={AS_OF}/plan.parquet"))).unwrap();

    // Old partitions of the other tables (as an older nightly would have left them), one
    // dated after as-of (a backfill must never delete newer data) and one that is no date.
    let old = (as_of() - Days::days(31)).to_string();
    let kept_edge = (as_of() - Days::days(30)).to_string();
    let mut planted = Vec::new();
    for table in ["digest_stats", "decisions", "plan", "hot_set", "reports"] {
        for (d, goes) in [
            (&old, true),
            (&kept_edge, false),
            (&"2026-12-24".to_string(), false),
        ] {
            let p = lake.join(format!("{table}/as_of={d}/part-x.parquet"));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"12345678").unwrap();
            if goes {
                planted.push((table, format!("as_of={d}")));
            }
        }
    }
    fs::create_dir_all(lake.join("digest_stats/as_of=latest")).unwrap();
    fs::create_dir_all(lake.join(format!("_rejects/date={old}"))).unwrap();
    fs::write(
        lake.join(format!("_rejects/date={old}/part-x.parquet")),
        b"1",
    )
    .unwrap();
    let old_run = format!(
        "{}T033000000000Z-7.json",
        (as_of() - Days::days(31)).format("%Y%m%d")
    );
    fs::write(lake.join("_runs").join(&old_run), b"{}").unwrap();

    let prune = |extra: &[&str]| {
        let out = run(blobtier()
            .arg("--config")
            .arg(&cfg)
            .args(["prune", "--as-of", AS_OF])
            .args(extra));
        assert_eq!(out.code(), 0, "{out}");
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()
    };
    let dry = prune(&["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    for (table, name) in &planted {
        assert_eq!(pruned(&dry, table), std::slice::from_ref(name), "{table}");
        assert!(
            lake.join(table).join(name).exists(),
            "the dry run deleted {table}/{name}"
        );
    }
    assert_eq!(pruned(&dry, "_rejects"), [format!("date={old}")]);
    assert_eq!(pruned(&dry, "_runs"), std::slice::from_ref(&old_run));
    assert_eq!(pruned(&dry, "pulls"), Vec::<String>::new());
    assert_eq!(dry["partitions"], 7);
    assert_eq!(dry["files"], 7);
    assert_eq!(dry["bytes"], 5 * 8 + 1 + 2);
    let done = prune(&["--lake", lake.to_str().unwrap()]);
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["tables"], dry["tables"]);
    for (table, name) in &planted {
        assert!(
            !lake.join(table).join(name).exists(),
            "{table}/{name} is still there"
        );
        assert!(lake.join(table).join(format!("as_of={kept_edge}")).exists());
        assert!(lake.join(table).join("as_of=2026-12-24").exists());
    }
    assert!(lake.join("digest_stats/as_of=latest").exists());
    assert!(!lake.join("_runs").join(&old_run).exists());
    assert!(lake
        .join(format!("plan/as_of={AS_OF}/plan.parquet"))
        .exists());
    assert_eq!(partitions(&lake.join("_tmp")), Vec::<String>::new());

    // The source still lists all 95 files: none is read again, no pruned day comes back, and
    // the plan is the same.
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["ingest"]["files_read"], 0);
    // 95 log files and the inventory manifest.
    assert_eq!(rec["ingest"]["files_skipped"], 96);
    assert_eq!(rec["pruned"]["partitions"], 0, "{:#}", rec["pruned"]);
    assert_eq!(partitions(&lake.join("pulls")), dates("date", 90, 0));
    assert_eq!(
        fs::read(lake.join(format!("plan/as_of={AS_OF}/plan.parquet"))).unwrap(),
        plan_before
    );
    assert_eq!(walk(&lake.join("_ledger")).len(), 1);

    // A late file for a pruned day: read (it is new), then its partition is pruned again.
    let late = as_of() - Days::days(93);
    fs::write(
        t.path().join("logs").join(format!("{late}-23-00-00-LATE")),
        s3_pull_line(
            &late.format("%d/%b/%Y").to_string(),
            "23:00:00",
            "198.51.100.7",
            &hex_of(1),
            "containerd/1.7.13",
            10,
        ),
    )
    .unwrap();
    let out = nightly(&cfg, &[]);
    assert_eq!(out.code(), 0, "{out}");
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rec["ingest"]["files_read"], 1);
    assert_eq!(pruned(&rec, "pulls"), [format!("date={late}")]);
    assert_eq!(partitions(&lake.join("pulls")), dates("date", 90, 0));
    assert_eq!(walk(&lake.join("_ledger")).len(), 2);
}

/// `run.retention.pulls_days` shorter than the longest window is refused at load, naming the key.
#[test]
fn retention_shorter_than_the_longest_window_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("blobtier.toml");
    fs::write(
        &cfg,
        "[run]\nwindows = [7, 30, 120]\n[run.retention]\npulls_days = 100\n",
    )
    .unwrap();
    let out = run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"]));
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        out.stderr.contains("invalid `run.retention.pulls_days`: expected at least the longest stats window, 120 days")
            && out.stderr.contains("got `100`"),
        "{out}"
    );
}

/// Temporary files and directories (`.<name>.tmp-<pid>`, `.<name>.old-<pid>`) under `dir`.
pub fn leftovers(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            p.strip_prefix(dir).unwrap().iter().any(|c| {
                let c = c.to_string_lossy();
                c.starts_with('.') && (c.contains(".tmp-") || c.contains(".old-"))
            })
        })
        .collect()
}

/// Panics, naming only the entries that differ, unless two [`outputs`] are equal.
#[track_caller]
pub fn assert_same_outputs(
    got: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
    what: &str,
) {
    let keys: std::collections::BTreeSet<&String> = got.keys().chain(want.keys()).collect();
    let diff: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| format!("{k}:\n  got:  {:?}\n  want: {:?}", got.get(k), want.get(k)))
        .collect();
    assert!(
        diff.is_empty(),
        "{what}: outputs differ\n{}",
        diff.join("\n")
    );
}

/// Every crash point of a run on a local lake, in the order a run reaches them.
const LOCAL_POINTS: [&str; 6] = [
    "ingest:staged",
    "ingest:publishing",
    "stats:publishing",
    "plan:publishing",
    "report:publishing",
    "run:record",
];

#[test]
fn sigkill_at_every_stage_then_a_rerun_equals_an_uninterrupted_run() {
    let t = tempfile::tempdir().unwrap();
    inputs(t.path(), None);
    let reference = t.path().join("reference");
    let cfg = config(t.path(), "reference", &reference.display().to_string(), "");
    let out = run(&mut nightly_cmd(&cfg));
    assert_eq!(out.code(), 0, "{out}");
    let want = outputs(&reference);
    assert!(
        want.keys().any(|k| k.starts_with("digest_stats/")),
        "{want:?}"
    );
    assert!(want.keys().any(|k| k.starts_with("reports/")), "{want:?}");

    for point in LOCAL_POINTS {
        let name = point.replace(':', "-");
        let lake = t.path().join(&name);
        let cfg = config(t.path(), &name, &lake.display().to_string(), "");
        kill_at(&mut nightly_cmd(&cfg), point, t.path());
        let out = run(&mut nightly_cmd(&cfg));
        assert_eq!(out.code(), 0, "rerun after SIGKILL at `{point}`\n{out}");
        assert_same_outputs(
            &outputs(&lake),
            &want,
            &format!("after SIGKILL at `{point}`"),
        );
        let tmp = walk(&lake.join("_tmp"));
        assert!(tmp.is_empty(), "after SIGKILL at `{point}`: {tmp:?}");
        let left = leftovers(&lake);
        assert!(left.is_empty(), "after SIGKILL at `{point}`: {left:?}");
    }
}
