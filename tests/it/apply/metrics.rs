//! What the journal costs: a benchmark of actions/s and the journal's share of the time by
//! concurrency and journal fsync mode, read from the metrics of each run's summary. (The
//! metrics themselves are checked by `faults`, and the journal's accounting by `resume`.)

use std::collections::BTreeMap;

use super::{n, run_ok, Scene};

/// Not a test: actions/s at concurrency 1, 8, 32 and 64 for each journal fsync mode
/// (`batched`, the default; `every` line; `off`), each run 3 times (median), on LocalStack
/// without faults. LocalStack's run-to-run noise is larger than the journal's cost, so the
/// journal's share is taken from its own accounting in each run's summary
/// (`journal_overhead`: time actions spent inside the journal / total action time;
/// `journal_busy_share`: the journal's own work / wall time), not from differences of
/// throughput. Prints a Markdown table (`docs/benchmarks.md`); asserts only that every action
/// was done. `BLOBTIER_BENCH_ACTIONS` (default 300) actions per run.
/// `cargo test --test it -- --ignored --nocapture apply::metrics::bench_apply_throughput`
#[test]
#[ignore = "benchmark; run by hand"]
fn bench_apply_throughput() {
    const REPS: usize = 3;
    let count: usize = std::env::var("BLOBTIER_BENCH_ACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let concurrencies = [1usize, 8, 32, 64];
    let modes = ["batched", "every", "off"];
    // Per run: actions/s, journal overhead, journal busy share, fsyncs.
    type Run = (f64, f64, f64, u64);
    let mut runs: BTreeMap<(usize, &str), Vec<Run>> = BTreeMap::new();
    // Modes interleaved within each repetition, so that drift of the machine or of LocalStack
    // does not favour one mode.
    for rep in 0..REPS {
        for concurrency in concurrencies {
            for mode in modes {
                let (sc, blobs) = Scene::with_blobs("apply-bench", count, |_| vec![0u8; 1024]);
                let rows = blobs
                    .iter()
                    .map(|b| b.copy().to("STANDARD_IA").build())
                    .collect();
                let (plan, _) = sc.plan(rows);
                let s = run_ok(sc.execute(&plan, None).args([
                    "--concurrency",
                    &concurrency.to_string(),
                    "--journal-fsync",
                    mode,
                ]));
                assert_eq!(n(&s["results"]["copied"]), count as u64);
                let secs = s["duration_seconds"].as_f64().unwrap();
                let r = (
                    count as f64 / secs,
                    s["journal_overhead"].as_f64().unwrap(),
                    s["journal_busy_share"].as_f64().unwrap(),
                    n(&s["journal_fsyncs"]),
                );
                eprintln!(
                    "rep {rep} concurrency {concurrency:>2} {mode:<7} {:>6.1} actions/s  overhead {:.4}%  busy {:.3}%  {} fsyncs",
                    r.0,
                    r.1 * 100.0,
                    r.2 * 100.0,
                    r.3
                );
                runs.entry((concurrency, mode)).or_default().push(r);
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut table = vec![
        format!("{count} copy actions per run, median of {REPS} runs"),
        String::new(),
        "| concurrency | journal fsync | actions/s | journal overhead (share of action time) | journal busy (share of wall time) | fsyncs |".into(),
        "|---|---|---|---|---|---|".into(),
    ];
    for concurrency in concurrencies {
        for mode in modes {
            let v = &runs[&(concurrency, mode)];
            table.push(format!(
                "| {concurrency} | {mode} | {:.1} | {:.3} % | {:.3} % | {:.0} |",
                median(v.iter().map(|r| r.0).collect()),
                median(v.iter().map(|r| r.1 * 100.0).collect()),
                median(v.iter().map(|r| r.2 * 100.0).collect()),
                median(v.iter().map(|r| r.3 as f64).collect()),
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
}
