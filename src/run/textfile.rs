//! The nightly job's metrics as a Prometheus textfile (`run --metrics-file FILE`), for
//! node-exporter's textfile collector (`--collector.textfile.directory`): one gauge per fact of
//! the last run, written in the Prometheus text format 0.0.4 with `prometheus-client`.
//!
//! The file is replaced atomically (a hidden sibling, then a rename), so the collector never
//! reads half of it. `blobtier_run_last_success_timestamp_seconds` survives runs that did not
//! succeed: it is read back from the previous file, so an alert on its age fires however the
//! later runs failed (exit 1 or 2). Every value is of the last run only; nothing accumulates.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{RunOutcome, RunRecord};
use crate::io::IoError;

type Value = Gauge<f64, AtomicU64>;
type Labelled = Family<Vec<(String, String)>, Value>;

const LAST_SUCCESS: &str = "blobtier_run_last_success_timestamp_seconds";

/// How the run ended, as the `outcome` label shows it.
fn outcome_label(outcome: Option<RunOutcome>) -> &'static str {
    match outcome {
        Some(RunOutcome::Success) => "success",
        Some(RunOutcome::HeldDown) => "held_down",
        Some(RunOutcome::ItemFailures) => "item_failures",
        None => "error",
    }
}

/// The value of `blobtier_run_last_success_timestamp_seconds` in a previous file, if any.
fn previous_success(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(LAST_SUCCESS)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: f64) {
    let g = Value::default();
    g.set(v);
    reg.register(name, help, g);
}

fn family(reg: &mut Registry, name: &str, help: &str, label: &str, values: &[(String, f64)]) {
    let f = Labelled::default();
    for (l, v) in values {
        f.get_or_create(&vec![(label.to_owned(), l.clone())])
            .set(*v);
    }
    reg.register(name, help, f);
}

/// The text of the file for a run that ended at `now` (seconds since the epoch) with
/// `record` (`None`: the run failed with an error before it could write one).
pub fn render(record: Option<&RunRecord>, now: f64, last_success: Option<f64>) -> String {
    let mut reg = Registry::default();
    let outcome = record.map(|r| r.outcome);
    gauge(
        &mut reg,
        "blobtier_run_last_run_timestamp_seconds",
        "When the last `blobtier run` ended (Unix time)",
        now,
    );
    let success = match outcome {
        Some(RunOutcome::Success) => Some(now),
        _ => last_success,
    };
    if let Some(s) = success {
        gauge(
            &mut reg,
            LAST_SUCCESS,
            "When a `blobtier run` last ended with exit 0 (Unix time)",
            s,
        );
    }
    let outcomes: Vec<(String, f64)> = ["success", "held_down", "item_failures", "error"]
        .iter()
        .map(|o| {
            (
                o.to_string(),
                f64::from(u8::from(*o == outcome_label(outcome))),
            )
        })
        .collect();
    family(
        &mut reg,
        "blobtier_run_outcome",
        "1 for how the last run ended: success (exit 0), held_down (coverage guard, exit 1), \
         item_failures (an input over the reject threshold, exit 1), error (exit 2)",
        "outcome",
        &outcomes,
    );
    let Some(r) = record else {
        return text(&reg);
    };
    let stages: Vec<(String, f64)> = r
        .timings
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
        .collect();
    family(
        &mut reg,
        "blobtier_run_stage_duration_seconds",
        "Wall time of each stage of the last run",
        "stage",
        &stages,
    );
    let t = &r.ingest.totals;
    gauge(
        &mut reg,
        "blobtier_ingest_lines",
        "Log lines the last run read",
        t.lines as f64,
    );
    gauge(
        &mut reg,
        "blobtier_ingest_pulls",
        "Blob pulls the last run found in its logs",
        t.pulls as f64,
    );
    gauge(
        &mut reg,
        "blobtier_ingest_failed_pulls",
        "Failed GETs of blobs the last run found in its logs (S3 403 InvalidObjectState for an \
         archived blob, other 4xx/5xx): clients that could not pull",
        t.failed_pulls as f64,
    );
    let rejects: Vec<(String, f64)> = t
        .rejects
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    family(
        &mut reg,
        "blobtier_ingest_rejected_lines",
        "Log lines the last run quarantined, per reason",
        "reason",
        &rejects,
    );
    gauge(
        &mut reg,
        "blobtier_ingest_inputs_over_threshold",
        "Inputs of the last run with more rejected lines than `--max-bad-ratio` allows",
        r.ingest.bad_files.len() as f64,
    );
    if let Some(c) = &r.coverage {
        gauge(
            &mut reg,
            "blobtier_coverage_missing_days",
            "Days of the longest stats window without any log line",
            c.missing_days.len() as f64,
        );
        if let Some(age) = c.inventory_age_days {
            gauge(
                &mut reg,
                "blobtier_inventory_age_days",
                "Age of the newest inventory snapshot at as-of, in days",
                age as f64,
            );
        }
    }
    let p = &r.plan.totals;
    family(
        &mut reg,
        "blobtier_plan_monthly_cost_dollars",
        "Monthly storage cost of the planned blobs now and once the plan is applied (USD)",
        "when",
        &[
            ("now".into(), p.monthly_cost_now),
            ("after".into(), p.monthly_cost_after),
        ],
    );
    gauge(
        &mut reg,
        "blobtier_plan_monthly_savings_dollars",
        "Monthly savings the last plan projects (USD)",
        p.monthly_cost_now - p.monthly_cost_after,
    );
    gauge(
        &mut reg,
        "blobtier_plan_actions",
        "Moves and restores in the last plan",
        p.actions as f64,
    );
    if let Some(real) = &r.plan.realized {
        gauge(
            &mut reg,
            "blobtier_realized_monthly_savings_dollars",
            "Monthly savings of the earlier plans' moves as the newest inventory bills them (USD)",
            real.realized_monthly_savings,
        );
        gauge(
            &mut reg,
            "blobtier_realized_planned_monthly_savings_dollars",
            "Monthly savings the earlier plans projected for the same moves (USD)",
            real.planned_monthly_savings,
        );
    }
    text(&reg)
}

fn text(reg: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, reg).expect("writing to a String cannot fail");
    out
}

/// Writes the textfile for a run to `path`, atomically.
pub fn write(path: &Path, record: Option<&RunRecord>) -> Result<(), IoError> {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let text = render(record, now, previous_success(path));
    crate::io::atomic_write(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_keeps_the_last_success_and_says_error() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("blobtier.prom");
        std::fs::write(
            &path,
            format!("# TYPE {LAST_SUCCESS} gauge\n{LAST_SUCCESS} 1764000000.5\n"),
        )
        .unwrap();
        write(&path, None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("{LAST_SUCCESS} 1764000000.5\n")),
            "{text}"
        );
        assert!(
            text.contains("blobtier_run_outcome{outcome=\"error\"} 1.0\n"),
            "{text}"
        );
        assert!(
            text.contains("blobtier_run_outcome{outcome=\"success\"} 0.0\n"),
            "{text}"
        );
        assert_eq!(previous_success(&path), Some(1_764_000_000.5));
        // No previous file: no last-success line at all (never succeeded).
        let fresh = render(None, 5.0, None);
        assert!(!fresh.contains(LAST_SUCCESS), "{fresh}");
        assert!(
            fresh.contains("blobtier_run_last_run_timestamp_seconds 5.0\n"),
            "{fresh}"
        );
    }
}
