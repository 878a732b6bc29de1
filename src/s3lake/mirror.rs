//! The local side of an `s3://` lake: which files of the mirror directory belong to the lake,
//! their content hashes (xxh3-128, as the state records them), and where a lake's default
//! mirror lives.
//!
//! Invariants: a file's hash is the xxh3-128 of its whole content, as the state records it;
//! staging (`_tmp/`), the lock files, the state and hidden (`.`) entries are never lake files.
//!
//! Must not: talk to S3 (the transfers in `transfer.rs` do) or decide what to upload.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{LOCK_KEY, STATE_KEY};
use crate::io::{IoContext, IoError};

/// What identifies a mirror file's content without reading it: (size, mtime s, mtime ns, inode).
pub(super) type FileId = (u64, i64, i64, u64);

pub(super) fn file_id(m: &fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (m.len(), m.mtime(), m.mtime_nsec(), m.ino())
}

/// xxh3-128 of a file, 32 hex digits.
pub fn hash_file(path: &Path) -> Result<String, IoError> {
    let mut f = fs::File::open(path).at("failed to open", path)?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).at("failed to read", path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:032x}", h.digest128()))
}

/// xxh3-128 of bytes, 32 hex digits.
pub(super) fn hash_bytes(b: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(b))
}

/// Files of a mirror, relative path → path: everything but staging (`_tmp/`), lock files and
/// hidden (`.`) entries.
pub fn mirror_files(root: &Path) -> Result<BTreeMap<String, PathBuf>, IoError> {
    let not_lake = |top: bool, path: &Path| {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            tracing::warn!(path = %path.display(), "skipping a file whose name is not UTF-8");
            return true;
        };
        name.starts_with('.') || (top && matches!(name, "_tmp" | "_lock" | LOCK_KEY | STATE_KEY))
    };
    let files = crate::io::walk_files(root, true, &not_lake)?;
    Ok(files.into_iter().map(|f| (f.rel, f.path)).collect())
}

/// The default mirror of a lake: `$XDG_CACHE_HOME/blobtier/lake/<xxh3-64 of the URL>`, or
/// under `$HOME/.cache`.
pub fn default_mirror(url: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("blobtier").join("lake").join(format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(url.as_bytes())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_lists_lake_files_only() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for p in [
            "pulls/date=2026-11-26/part-a.parquet",
            "_ledger/a.json",
            "_runs/a.json",
            "reports/as_of=2026-11-26/report.html",
            "_tmp/x/pulls/date=2026-11-26/part-b.parquet",
            "_lock",
            "_run_lock",
            ".blobtier-mirror",
            "_runs/.a.json.tmp-12",
            "reports/.as_of=2026-11-26.old-3/report.html",
        ] {
            crate::io::ensure_parent(&r.join(p)).unwrap();
            fs::write(r.join(p), p).unwrap();
        }
        let files: Vec<String> = mirror_files(r).unwrap().into_keys().collect();
        assert_eq!(
            files,
            [
                "_ledger/a.json",
                "_runs/a.json",
                "pulls/date=2026-11-26/part-a.parquet",
                "reports/as_of=2026-11-26/report.html"
            ]
        );
    }

    #[test]
    fn file_and_memory_hashes_agree() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&p, &bytes).unwrap();
        assert_eq!(hash_file(&p).unwrap(), hash_bytes(&bytes));
        assert_eq!(hash_bytes(b"").len(), 32);
    }

    #[test]
    fn default_mirror_is_per_lake_under_the_cache_home() {
        let a = default_mirror("s3://b/lake").unwrap();
        let b = default_mirror("s3://b/other").unwrap();
        assert_ne!(a, b);
        assert!(
            a.to_string_lossy().contains("blobtier/lake/"),
            "{}",
            a.display()
        );
    }
}
