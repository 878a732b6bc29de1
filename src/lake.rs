//! The lake: a directory of Hive-partitioned Parquet tables plus `_ledger/` (what was
//! ingested) and `_tmp/` (staging). Readers (DuckDB, Spark, Athena, polars) ignore paths that
//! start with `_` or `.`.
//!
//! Commit protocol (one writer at a time, guarded by `_lock`):
//! 1. a run writes every output under `_tmp/<run_id>/<final relative path>`;
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

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::io::{atomic_write, ensure_parent, sync_dir, IoContext, IoError};

/// Lake errors.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// File system.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Another process holds the lock.
    #[error("lake `{}` is locked by another run ({holder}); remove `{}` if that process is gone", lake.display(), lock.display())]
    Locked {
        /// The lake.
        lake: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The holder's description.
        holder: String,
    },
    /// A ledger file does not parse.
    #[error("corrupt ledger entry `{}`: {reason}", path.display())]
    CorruptLedger {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A lake directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

/// Held while a run writes; removed on drop.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Lake {
    /// Opens (creating if needed) a lake at `root`.
    pub fn open(root: &Path) -> Result<Lake, LakeError> {
        fs::create_dir_all(root).at("failed to create lake directory", root)?;
        Ok(Lake {
            root: root.to_owned(),
        })
    }

    /// The lake directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the writer lock (`_lock`, holding the pid). A lock whose process is gone is
    /// taken over.
    pub fn lock(&self) -> Result<LockGuard, LakeError> {
        self.lock_named("_lock")
    }

    /// Takes the lock file `name` in the lake (e.g. `_run_lock`, held by `run` for a whole
    /// nightly job while each stage takes `_lock`).
    pub fn lock_named(&self, name: &str) -> Result<LockGuard, LakeError> {
        let path = self.root.join(name);
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
                    writeln!(f, "{} {}", std::process::id(), host.trim())
                        .at("failed to write", &path)?;
                    f.sync_all().at("failed to sync", &path)?;
                    return Ok(LockGuard { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    let pid: Option<u32> = holder
                        .split_whitespace()
                        .next()
                        .and_then(|p| p.parse().ok());
                    match pid {
                        Some(pid) if pid_alive(pid) => {
                            return Err(LakeError::Locked {
                                lake: self.root.clone(),
                                lock: path,
                                holder: format!("pid {}", holder.trim()),
                            })
                        }
                        _ => {
                            tracing::warn!(lock = %path.display(), holder = holder.trim(), "taking over a stale lock");
                            fs::remove_file(&path).at("failed to remove stale lock", &path)?;
                        }
                    }
                }
                Err(e) => {
                    return Err(IoError {
                        op: "failed to create lock",
                        path,
                        source: e,
                    }
                    .into())
                }
            }
        }
        Err(LakeError::Locked {
            lake: self.root.clone(),
            lock: path,
            holder: "unknown".into(),
        })
    }

    /// Rolls back or finishes any interrupted run (see the module docs). Call with the lock held.
    pub fn recover(&self, _lock: &LockGuard) -> Result<usize, LakeError> {
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
        self.dir.join(rel)
    }

    /// Where the file whose final path is `rel` is (or will be) staged, without adding it to
    /// the files to publish (to read back a staged output).
    pub fn staged_path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Publishes every staged file, then the ledger entry (the commit point).
    pub fn commit(self, ledger: &serde_json::Value) -> Result<(), LakeError> {
        let ledger_rel = format!("_ledger/{}.json", self.run_id);
        let mut list = self.files.join("\n");
        list.push('\n');
        list.push_str(&ledger_rel);
        list.push('\n');
        atomic_write(&self.dir.join("PUBLISH"), list.as_bytes())?;
        let ledger_tmp = self.dir.join(&ledger_rel);
        let bytes = serde_json::to_vec_pretty(ledger).expect("ledger JSON serialises");
        atomic_write(&ledger_tmp, &bytes)?;
        let mut dirs = std::collections::BTreeSet::new();
        for rel in self.files.iter().chain(std::iter::once(&ledger_rel)) {
            let from = self.dir.join(rel);
            let to = self.lake.root.join(rel);
            ensure_parent(&to)?;
            fs::rename(&from, &to).at("failed to publish", &to)?;
            if let Some(p) = to.parent() {
                dirs.insert(p.to_owned());
            }
        }
        for d in dirs {
            sync_dir(&d)?;
        }
        fs::remove_dir_all(&self.dir).at("failed to remove staging directory", &self.dir)?;
        Ok(())
    }
}
