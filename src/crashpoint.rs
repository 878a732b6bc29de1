//! Named crash points: places where the crash tests stop a writing command so they can kill it
//! (SIGKILL) in a known state, instead of guessing with timers.
//!
//! With `BLOBTIER_TEST_PAUSE_AT=<name>` set, the process reaching [`pause`] with that name
//! writes the name to the file named by `BLOBTIER_TEST_PAUSE_MARKER` (if set; written whole,
//! so a test polling for it never reads half a name), logs a warning and waits for up to
//! [`MAX_PAUSE`]: the test kills it meanwhile, or lets it go on by creating the file
//! `<marker>.continue` (to line several processes up at one point). Without the variable,
//! [`pause`] costs one environment lookup. A point never changes what the command writes.
//!
//! The points, in the order a run reaches them (`docs/nightly.md` lists what each leaves):
//!
//! | name | where |
//! |---|---|
//! | `lock:takeover` | (`s3://` lake) a stale lock read, the conditional put that takes it over not yet sent |
//! | `sync:downloading` | (`s3://` lake) the first object downloaded into the local mirror |
//! | `ingest:staged` | every ingest output staged under `_tmp/`, nothing published |
//! | `ingest:publishing` | the first staged file renamed into place, the ledger entry not yet |
//! | `stats:publishing` | the old `digest_stats` partition moved aside, the new one not yet in place |
//! | `plan:publishing` | `decisions` replaced, `plan` and `hot_set` not yet |
//! | `report:publishing` | the old report moved aside, the new one not yet in place |
//! | `run:record` | every stage done, the run record `_runs/<id>.json` not yet written |
//! | `publish:data` | (`s3://` lake) data objects uploaded, ledger entries, run record and state not |
//! | `publish:committed` | (`s3://` lake) the new state committed, replaced objects not yet deleted, lock held |
//!
//! `BLOBTIER_TEST_PAUSE_BEFORE_COMMIT=1` is the older name of `ingest:staged`.

use std::time::Duration;

/// Which point to pause at.
pub const ENV_PAUSE_AT: &str = "BLOBTIER_TEST_PAUSE_AT";
/// File to write the point's name to once paused.
pub const ENV_PAUSE_MARKER: &str = "BLOBTIER_TEST_PAUSE_MARKER";
/// Older switch for `ingest:staged`.
pub const ENV_PAUSE_BEFORE_COMMIT: &str = "BLOBTIER_TEST_PAUSE_BEFORE_COMMIT";

/// How long a paused process waits before it goes on by itself (so a test that dies before
/// killing it does not leave it behind for long).
pub const MAX_PAUSE: Duration = Duration::from_secs(120);

/// Pauses here if the environment asks for the point `name` (see the module docs).
pub fn pause(name: &str) {
    let wanted = std::env::var(ENV_PAUSE_AT).ok();
    let legacy = name == "ingest:staged" && std::env::var_os(ENV_PAUSE_BEFORE_COMMIT).is_some();
    if wanted.as_deref() != Some(name) && !legacy {
        return;
    }
    let mut go_on = None;
    if let Some(marker) = std::env::var_os(ENV_PAUSE_MARKER) {
        let mut go = marker.clone();
        go.push(".continue");
        go_on = Some(std::path::PathBuf::from(go));
        let marker = std::path::PathBuf::from(marker);
        if let Err(e) = crate::io::atomic_write(&marker, name.as_bytes()) {
            tracing::error!(error = %e, "could not write the crash-point marker");
        }
    }
    tracing::warn!(
        point = name,
        pid = std::process::id(),
        "paused at a crash point"
    );
    let until = std::time::Instant::now() + MAX_PAUSE;
    while std::time::Instant::now() < until && !go_on.as_ref().is_some_and(|p| p.exists()) {
        std::thread::sleep(Duration::from_millis(10));
    }
}
