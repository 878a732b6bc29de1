//! `blobtier stats`: per-digest pull statistics for one day, and a summary on stdout.

use crate::cli::StatsArgs;
use crate::lake::Lake;
use crate::stats::{render_table, StatsOptions, StatsResult};
use crate::{Error, Outcome};

/// Computes `digest_stats` for `--as-of` and prints its summary. Windows the plan cannot use
/// are refused before the lake directory is even created.
pub fn stats(a: StatsArgs) -> Result<Outcome, Error> {
    let opts = StatsOptions {
        as_of: a.as_of,
        windows: a.query.windows,
        include_scanners: a.query.include_scanners,
        pull_source: crate::query::PullSource::parse(&a.query.pull_source).unwrap_or_default(),
    };
    opts.checked_windows()?;
    let lake = Lake::open(&a.lake)?;
    let s = crate::stats::run_stats(&lake, &opts)?;
    print_summary(&s);
    Ok(Outcome::Success)
}

/// Prints the stats summary on stdout.
fn print_summary(s: &StatsResult) {
    let c = s.counts;
    let n = c.rows;
    let absent = n - c.in_inventory;
    let pulled90 = c.pulled_90d;
    outln!(
        "digest_stats: {} ({} rows, inventory snapshot {})",
        s.path.display(),
        n,
        s.snapshot
    );
    outln!("pulled in 90 days: {pulled90}; never pulled in 90 days: {}; absent from inventory: {absent}", n - pulled90);
    match &s.graph_snapshot {
        Some(g) => {
            let (tagged, unreferenced) = (c.referenced_by_tag, c.unreferenced);
            outln!("image graph snapshot {g}: reachable from a tag: {tagged}; referenced by no manifest: {unreferenced}");
        }
        None => outln!(
            "no image graph on or before as-of: referenced_by_tag is unknown (ingest with --registry-storage)"
        ),
    }
    outln!("\nby storage class:\n{}", render_table(&s.by_class));
    outln!("top digests by pulls_30d:\n{}", render_table(&s.top));
}
