//! Run ids: the one way every stage names a run (ingest's part files and ledger entries, the
//! nightly run record, the staging directories of `stats`, `plan`, `prune` and `backtest`).
//!
//! Invariants: an id is `<UTC time to the microsecond>-<pid>`, optionally behind a stage name
//! (`plan-20261127T031500123456Z-4242`); ids of one kind sort by start time (the ledger is read
//! oldest first by name), and the pid keeps two processes started in the same microsecond
//! apart. An id is safe in a file name. Must not: read or write anything.

/// A new run id, `<UTC time to the microsecond>-<pid>` (e.g. `20261127T031500123456Z-4242`).
pub fn run_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%6fZ"),
        std::process::id()
    )
}

/// A new run id for one run of `stage`: `<stage>-<run id>` (e.g. `stats-…`, `prune-…`).
/// [`super::Lake::recover`] tells a prune's staging directory by its `prune-` prefix.
pub fn stage_run_id(stage: &str) -> String {
    format!("{stage}-{}", run_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_the_time_and_the_process_and_sort_by_time() {
        let a = run_id();
        let (time, pid) = a.rsplit_once('-').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        assert!(
            chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%S%6fZ").is_ok(),
            "{a}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = stage_run_id("plan");
        assert!(b.strip_prefix("plan-").unwrap() > a.as_str(), "{a} {b}");
    }
}
