//! The lake: a directory of Hive-partitioned Parquet tables plus `_ledger/` (what was
//! ingested) and `_tmp/` (staging). Readers (DuckDB, Spark, Athena, polars) ignore paths that
//! start with `_` or `.`.
//!
//! Commit protocol of [`Staging`] (ingest's outputs; one writer at a time, guarded by `_lock`):
//! 1. a run writes every output into `_tmp/<run_id>/`, each as one file named after its final
//!    relative path with `/` written `%2F` (and `%` as `%25`): no directory tree is made in
//!    the staging directory, nor removed from it (a directory made and removed per partition
//!    was up to half a second of an ingest's serial tail, one journaled `rmdir` after another);
//! 2. it writes `_tmp/<run_id>/PUBLISH` (the list of relative paths, fsynced);
//! 3. it renames each file into place, the ledger entry `_ledger/<run_id>.json` last: the
//!    ledger entry is the commit point;
//! 4. it removes `_tmp/<run_id>`.
//!
//! [`Lake::recover`] runs first in every writing command: a staging directory whose ledger
//! entry exists was committed (only cleanup remains); one without it is rolled back, which
//! removes any of its files already renamed into place. A run killed at any point thus leaves
//! the lake as it was before the run (any partial publish is undone before the next reader
//! that goes through blobtier, and part files carry the run id so nothing else is touched).
//!
//! The lake also holds the other publishing tools of the stages, so there is one of each:
//! - [`replace_dir`], [`DirStaging`] and [`write_dir`] ([`publish`]): replace one directory
//!   (a partition of `digest_stats`, `decisions`, `plan`, `hot_set`, or a report) as a whole;
//! - [`run_id`] and [`stage_run_id`] ([`ids`]): the run ids of every stage;
//! - [`Lake::partitions`], [`Lake::latest_partition`], [`Lake::latest_part`] ([`partition`]):
//!   find a table's partitions by day.
//!
//! Must not: know any table's schema or any stage's logic.

pub mod ids;
pub mod partition;
pub mod publish;

pub use ids::{run_id, stage_run_id};
pub use partition::{newest_part, partition_day};
pub use publish::{replace_dir, write_dir, DirStaging};

use std::fs;
use std::path::{Path, PathBuf};

use crate::io::{
    atomic_write, ensure_parent, hostname, try_lock_file, FileLock, IoContext, IoError, TryLock,
};

/// Lake errors.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// File system.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Another process holds the lock.
    #[error("lake `{}` is locked by another run ({holder}) holding `{}`; it is released when that process exits", lake.display(), lock.display())]
    Locked {
        /// The lake.
        lake: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The holder's description.
        holder: String,
    },
    /// A command that works on directories was given an `s3://` lake.
    #[error(
        "`{0}` is an S3 lake: only `blobtier run` works on one (set `run.lake` in the config)"
    )]
    NotADirectory(String),
    /// A ledger file does not parse.
    #[error("corrupt ledger entry `{}`: {reason}", path.display())]
    CorruptLedger {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The holder named in a lock file (`pid <pid> <host>`). The holder writes it just after
/// taking the lock, so an empty file is read again for a moment.
fn read_holder(path: &Path) -> String {
    for _ in 0..50 {
        let text = fs::read_to_string(path).unwrap_or_default();
        if !text.trim().is_empty() {
            return format!("pid {}", text.trim());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    "holder unknown".into()
}

/// Removes the directories above `path` that are empty, up to (not including) `root`.
pub fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// A lake directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

/// Held while a run writes: an exclusive `flock` on the lock file, which holds the holder's
/// pid and host. Dropping it removes the file, then releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    _lock: FileLock,
}

impl Lake {
    /// Opens (creating if needed) a lake at `root`.
    pub fn open(root: &Path) -> Result<Lake, LakeError> {
        if let Some(uri) = root.to_str().filter(|s| s.starts_with("s3:/")) {
            return Err(LakeError::NotADirectory(uri.to_owned()));
        }
        fs::create_dir_all(root).at("failed to create lake directory", root)?;
        Ok(Lake {
            root: root.to_owned(),
        })
    }

    /// The lake directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the writer lock (`_lock`).
    pub fn lock(&self) -> Result<LockGuard, LakeError> {
        self.lock_named("_lock")
    }

    /// Takes the lock file `name` in the lake (e.g. `_run_lock`, held by `run` for a whole
    /// nightly job while each stage takes `_lock`).
    ///
    /// The lock is an exclusive `flock` on the file, so the kernel releases it when its holder
    /// dies, however it dies: a lock left by a killed run is free at once, and two runs that
    /// find it at the same moment cannot both take it (a takeover by "is the pid alive?" can
    /// let both win, or wrongly see a reused pid as alive). The file's content, `<pid>
    /// <host>`, only serves to name the holder.
    pub fn lock_named(&self, name: &str) -> Result<LockGuard, LakeError> {
        let path = self.root.join(name);
        let holder = format!("{} {}", std::process::id(), hostname());
        match try_lock_file(&path, &holder)? {
            TryLock::Taken { lock, previous } => {
                if !previous.trim().is_empty() {
                    tracing::warn!(lock = %path.display(), holder = previous.trim(), "taking over the lock of a run that did not finish");
                }
                Ok(LockGuard { _lock: lock })
            }
            TryLock::Held => Err(LakeError::Locked {
                lake: self.root.clone(),
                holder: read_holder(&path),
                lock: path,
            }),
        }
    }

    /// Rolls back or finishes any interrupted run (see the module docs). Call with the lock held.
    pub fn recover(&self, _lock: &LockGuard) -> Result<usize, LakeError> {
        let swept = publish::sweep_leftovers(&self.root, &self.root.join("_tmp"));
        if swept > 0 {
            tracing::warn!(entries = swept, lake = %self.root.display(), "removed temporary files of killed processes");
        }
        let tmp = self.root.join("_tmp");
        let Ok(entries) = fs::read_dir(&tmp) else {
            return Ok(0);
        };
        let mut n = 0;
        for e in entries {
            let e = e.at("failed to list", &tmp)?;
            let run_id = e.file_name().to_string_lossy().into_owned();
            let staging = e.path();
            let committed = self.ledger_path(&run_id).exists();
            if !committed {
                let publish = staging.join("PUBLISH");
                if let Ok(list) = fs::read_to_string(&publish) {
                    for rel in list.lines().filter(|l| !l.is_empty()) {
                        let p = self.root.join(rel);
                        if p.exists() {
                            fs::remove_file(&p).at("failed to roll back", &p)?;
                            // An empty `date=` directory would read as a day with logs.
                            remove_empty_parents(&self.root, &p);
                        }
                    }
                }
                if run_id.starts_with("prune-") {
                    // Partitions a prune had already moved out of the lake: finish deleting.
                    tracing::warn!(run_id, "finished an interrupted prune");
                } else {
                    tracing::warn!(run_id, "rolled back an interrupted run");
                }
            }
            fs::remove_dir_all(&staging).at("failed to remove staging directory", &staging)?;
            n += 1;
        }
        Ok(n)
    }

    /// The ledger entry path of a run.
    pub fn ledger_path(&self, run_id: &str) -> PathBuf {
        self.root.join("_ledger").join(format!("{run_id}.json"))
    }

    /// Starts a staged write for `run_id`.
    pub fn stage(&self, run_id: &str) -> Result<Staging, LakeError> {
        let dir = self.root.join("_tmp").join(run_id);
        fs::create_dir_all(&dir).at("failed to create staging directory", &dir)?;
        Ok(Staging {
            lake: self.clone(),
            dir,
            run_id: run_id.to_owned(),
            files: Vec::new(),
        })
    }

    /// Every committed ledger entry, parsed as JSON, oldest first.
    pub fn ledger_entries(&self) -> Result<Vec<(PathBuf, serde_json::Value)>, LakeError> {
        let dir = self.root.join("_ledger");
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        for e in rd {
            let p = e.at("failed to list", &dir)?.path();
            if p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                paths.push(p);
            }
        }
        paths.sort();
        let mut out = Vec::with_capacity(paths.len());
        for p in paths {
            let text = fs::read_to_string(&p).at("failed to read", &p)?;
            let v = serde_json::from_str(&text).map_err(|e| LakeError::CorruptLedger {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            out.push((p, v));
        }
        Ok(out)
    }
}

/// The name of the staged file of the lake path `rel`: one name per path (`%` and `/`
/// escaped), with no directory.
fn staged_name(rel: &str) -> String {
    rel.replace('%', "%25").replace('/', "%2F")
}

/// Files written by one run, not yet visible.
#[derive(Debug)]
pub struct Staging {
    lake: Lake,
    dir: PathBuf,
    run_id: String,
    files: Vec<String>,
}

impl Staging {
    /// Where to write the file whose final path is `rel` (relative to the lake root).
    pub fn path_for(&mut self, rel: &str) -> PathBuf {
        self.files.push(rel.to_owned());
        self.staged_path(rel)
    }

    /// Where the file whose final path is `rel` is (or will be) staged, without adding it to
    /// the files to publish (to read back a staged output): directly in the staging directory
    /// (see the module doc).
    pub fn staged_path(&self, rel: &str) -> PathBuf {
        self.dir.join(staged_name(rel))
    }

    /// Publishes every staged file, then the ledger entry (the commit point). The staged files
    /// are synced first, together ([`crate::io::sync_files`]; writers may leave that to this).
    pub fn commit(self, ledger: &serde_json::Value) -> Result<(), LakeError> {
        let staged: Vec<PathBuf> = self.files.iter().map(|rel| self.staged_path(rel)).collect();
        crate::io::sync_files(&staged)?;
        let ledger_rel = format!("_ledger/{}.json", self.run_id);
        let mut list = self.files.join("\n");
        list.push('\n');
        list.push_str(&ledger_rel);
        list.push('\n');
        atomic_write(&self.dir.join("PUBLISH"), list.as_bytes())?;
        let ledger_tmp = self.staged_path(&ledger_rel);
        let bytes = serde_json::to_vec_pretty(ledger).expect("ledger JSON serialises");
        atomic_write(&ledger_tmp, &bytes)?;
        let mut dirs = std::collections::BTreeSet::new();
        for (i, rel) in self
            .files
            .iter()
            .chain(std::iter::once(&ledger_rel))
            .enumerate()
        {
            let from = self.staged_path(rel);
            let to = self.lake.root.join(rel);
            ensure_parent(&to)?;
            fs::rename(&from, &to).at("failed to publish", &to)?;
            if let Some(p) = to.parent() {
                dirs.insert(p.to_owned());
            }
            if i == 0 {
                crate::crashpoint::pause("ingest:publishing");
            }
        }
        crate::io::sync_dirs(&dirs.into_iter().collect::<Vec<_>>())?;
        fs::remove_dir_all(&self.dir).at("failed to remove staging directory", &self.dir)?;
        Ok(())
    }
}

/// Files for the tests of the lake's modules.
#[cfg(test)]
mod testing {
    use std::fs;
    use std::path::Path;

    /// A new lake in a temporary directory (removed when the guard drops).
    pub(super) fn lake() -> (tempfile::TempDir, super::Lake) {
        let t = tempfile::tempdir().unwrap();
        let lake = super::Lake::open(t.path()).unwrap();
        (t, lake)
    }

    /// Writes each `(path relative to root, text)`, creating directories.
    pub(super) fn put(root: &Path, files: &[(&str, &str)]) {
        for (rel, text) in files {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().expect("below root")).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    /// Every file below `dir` as `(relative path, text)`, sorted; none if `dir` is missing.
    pub(super) fn tree(dir: &Path) -> Vec<(String, String)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let rel = p.strip_prefix(root).unwrap().display().to_string();
                    out.push((rel, fs::read_to_string(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        if dir.exists() {
            walk(dir, dir, &mut out);
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_names_its_holder_and_a_released_one_is_free() {
        let (t, lake) = testing::lake();
        let held = lake.lock_named("_run_lock").unwrap();
        // flock conflicts between two open files, even in one process.
        let err = lake.lock_named("_run_lock").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("locked by another run")
                && msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        assert!(!t.path().join("_run_lock").exists());
        let again = lake.lock_named("_run_lock").unwrap();
        drop(again);
    }

    #[test]
    fn a_lock_file_left_behind_is_taken_over() {
        let t = tempfile::tempdir().unwrap();
        // What a killed holder leaves: the file, with nobody holding the flock.
        fs::write(t.path().join("_lock"), "4194304 gone-host\n").unwrap();
        let lake = Lake::open(t.path()).unwrap();
        let g = lake.lock().unwrap();
        let text = fs::read_to_string(t.path().join("_lock")).unwrap();
        assert!(
            text.starts_with(&format!("{} ", std::process::id())),
            "{text}"
        );
        drop(g);
    }

    /// Staged files lie directly in the staging directory, one name per lake path (no
    /// directory to make and remove per partition), and the commit puts each at its path.
    #[test]
    fn staged_files_are_flat_and_published_at_their_paths() {
        let (t, lake) = testing::lake();
        let root = t.path();
        let mut staging = lake.stage("r1").unwrap();
        let rels = [
            "pulls/date=2026-11-26/part-r1.parquet",
            "pulls/date=2026-11-26%2Fpart-r1.parquet",
            "_rejects/r1%.jsonl",
        ];
        let mut staged = std::collections::BTreeSet::new();
        for (i, rel) in rels.iter().enumerate() {
            let p = staging.path_for(rel);
            assert_eq!(p, staging.staged_path(rel));
            assert_eq!(p.parent(), Some(root.join("_tmp/r1").as_path()), "{rel}");
            fs::write(&p, i.to_string()).unwrap();
            staged.insert(p);
        }
        assert_eq!(
            staged.len(),
            rels.len(),
            "two lake paths share a staged name"
        );
        staging
            .commit(&serde_json::json!({"run_id": "r1"}))
            .unwrap();
        let mut want: Vec<(String, String)> = rels
            .iter()
            .enumerate()
            .map(|(i, rel)| (rel.to_string(), i.to_string()))
            .collect();
        let got = testing::tree(root);
        assert!(got.iter().any(|(p, _)| p == "_ledger/r1.json"), "{got:?}");
        want.push(("_ledger/r1.json".into(), String::new()));
        let got: Vec<(String, String)> = got
            .into_iter()
            .map(|(p, text)| {
                if p == "_ledger/r1.json" {
                    (p, String::new())
                } else {
                    (p, text)
                }
            })
            .filter(|(p, _)| p != "_lock")
            .collect();
        want.sort();
        assert_eq!(got, want);
        assert!(!root.join("_tmp/r1").exists());
    }

    #[test]
    fn rolling_back_removes_directories_it_emptied() {
        let (t, lake) = testing::lake();
        let root = t.path();
        let rel = "pulls/date=2026-11-26/part-r1.parquet";
        let publish = format!("{rel}\n_ledger/r1.json\n");
        testing::put(
            root,
            &[
                ("pulls/date=2026-11-25/part-r0.parquet", "x"),
                ("_tmp/r1/PUBLISH", &publish),
                (rel, "y"),
            ],
        );
        let g = lake.lock().unwrap();
        assert_eq!(lake.recover(&g).unwrap(), 1);
        assert!(!root.join("pulls/date=2026-11-26").exists());
        assert!(root.join("pulls/date=2026-11-25/part-r0.parquet").exists());
        assert!(!root.join("_tmp/r1").exists());
    }
}
