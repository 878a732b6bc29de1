//! The apply lock: one `apply --execute` per journal (that is, per plan and journal
//! directory) at a time, across processes and hosts sharing the directory's file system.
//!
//! The lock is an exclusive `flock` on `<journal>.lock`, so the kernel releases it when its
//! holder dies, however it dies (a SIGKILLed apply leaves no stale lock to take over). The
//! file's content — pid, host and start time — only serves to name the holder in the error
//! a second apply exits with. The lock itself is [`crate::io::try_lock_file`], the lake's
//! writer lock too.
//!
//! Invariants: the lock is taken before the journal is read and before any S3 call, and held
//! until the run's last journal line is written; dropping the guard removes the file while
//! still holding the lock, and a taker that locked a file which was removed meanwhile starts
//! over on the new one.

use std::fs;
use std::path::{Path, PathBuf};

use crate::io::{hostname, try_lock_file, FileLock, IoContext, IoError, TryLock};

/// Lock errors.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("another `blobtier apply` is already applying this plan with journal `{}` ({holder}); it holds `{}` until it exits", journal.display(), lock.display())]
    Held {
        /// The journal.
        journal: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// `pid <pid> on <host> since <time>`, as the holder wrote it.
        holder: String,
    },
    /// File system.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// The lock, held while alive.
#[derive(Debug)]
pub struct ApplyLock {
    _lock: FileLock,
}

/// The lock file of `journal`.
pub fn lock_path(journal: &Path) -> PathBuf {
    let mut p = journal.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the lock of `journal`, or fails at once with [`LockError::Held`] naming the holder.
pub fn acquire(journal: &Path) -> Result<ApplyLock, LockError> {
    let path = lock_path(journal);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).at("failed to create journal directory", dir)?;
    }
    let held = |path: &Path| LockError::Held {
        journal: journal.to_owned(),
        lock: path.to_owned(),
        holder: fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "holder unknown".into()),
    };
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let holder = format!("pid {} on {} since {since}", std::process::id(), hostname());
    match try_lock_file(&path, &holder)? {
        TryLock::Taken { lock, .. } => Ok(ApplyLock { _lock: lock }),
        TryLock::Held => Err(held(&path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_holder_until_the_first_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let j = d.path().join("journal/sha256:ab.jsonl");
        let first = acquire(&j).unwrap();
        let err = acquire(&j).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {} on ", std::process::id())) && msg.contains(" since "),
            "{msg}"
        );
        drop(first);
        assert!(!lock_path(&j).exists());
        let again = acquire(&j).unwrap();
        drop(again);
    }
}
