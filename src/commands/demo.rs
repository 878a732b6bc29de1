//! `blobtier demo`: the pipeline on `sample-data/` ([`crate::demo`]), and a few lines of what
//! it found.

use crate::cli::DemoArgs;
use crate::{Error, Outcome};

/// Runs the demo and prints its summary; exit 1 when an input was over the reject threshold.
pub fn demo(a: DemoArgs) -> Result<Outcome, Error> {
    let d = crate::demo::run_demo(&a.sample_data, &a.out)?;
    let (m, s, p) = (&d.outputs.ingest, &d.outputs.stats, &d.outputs.plan);
    let t = &p.totals;
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    outln!(
        "blobtier demo: sample data of {} days ending {}, lake at {}",
        d.days,
        d.as_of,
        d.lake.display()
    );
    outln!(
        "  ingested {} log files: {} pulls, {} rejected lines; {} inventory rows; {} digests in digest_stats",
        m.files_read,
        m.totals.pulls,
        m.totals.rejected(),
        m.inventory_rows,
        s.counts.rows
    );
    outln!(
        "  monthly cost now ${:.2} -> after the plan ${:.2}: {} of {} blobs move ({:.1} GiB), one-time ${:.2}, net 12-month savings ${:.2}",
        t.monthly_cost_now,
        t.monthly_cost_after,
        t.actions,
        t.blobs,
        gib(t.bytes_moved),
        t.one_time_cost,
        t.net_savings_12m
    );
    outln!(
        "  hot set: {} digests, {:.1} GiB, {:.0}% of 7-day pulls",
        p.hot_set.digests,
        gib(p.hot_set.bytes),
        p.hot_set.pull_share_7d * 100.0
    );
    outln!("  plan: {}", d.plan_path.display());
    outln!(
        "  report: {}",
        d.outputs.report.dir.join("report.html").display()
    );
    Ok(super::outcome(!m.bad_files.is_empty()))
}
