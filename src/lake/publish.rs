//! Replacing one directory as a whole: how `stats` (`digest_stats/as_of=D/`), `plan`
//! (`decisions/`, `plan/`, `hot_set/` of D) and `report` (`reports/as_of=D/` or `--out`)
//! publish what they wrote. Ingest, which commits several tables and a ledger entry at once,
//! uses [`super::Staging`] instead.
//!
//! [`replace_dir`] is the one way to do it: the new directory is built (and fsynced) elsewhere
//! on the same file system; the old one is renamed aside, the new one renamed into place, the
//! parent directory fsynced, and the old one removed. A reader never sees half a directory.
//! Between the two renames the target is missing: a process killed there leaves the new
//! directory and the old one in temporaries that the next [`Lake::recover`] removes, and the
//! stage is recomputed by the next run (`docs/nightly.md`, crash points `stats:publishing`,
//! `report:publishing`).
//!
//! Where the new directory is built, and the old one put aside (both cleared by
//! [`Lake::recover`]):
//! - [`DirStaging`]: inside the lake, under `_tmp/<run_id>/`, the old partition at
//!   `_tmp/<run_id>/old-<path with / as _>`; for partitions of lake tables;
//! - [`write_dir`]: beside the target, `.<name>.tmp-<pid>` and `.<name>.old-<pid>`
//!   ([`crate::io::sibling`]); for a directory that need not be in a lake (`report --out`).
//!   `recover` sweeps these once process `<pid>` is gone.
//!
//! Must not: touch anything but the target, its staged directory and its aside path; remove
//! a staging directory before every replace of the run is done.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{stage_run_id, Lake, LakeError};
use crate::io::{sibling, sync_dir, IoContext, IoError, Sibling};

/// Replaces the directory `target` by `staged` (on the same file system): `target`, if it
/// exists, is renamed to `aside`, then `staged` to `target`, then the parent is fsynced and
/// `aside` removed. `target`'s parent directories are created. With `point`, the process
/// pauses at that crash point ([`crate::crashpoint`]) between the two renames.
pub fn replace_dir(
    staged: &Path,
    target: &Path,
    aside: &Path,
    point: Option<&str>,
) -> Result<(), IoError> {
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).at("failed to create", parent)?;
    if target.exists() {
        fs::rename(target, aside).at("failed to replace", target)?;
    }
    if let Some(point) = point {
        crate::crashpoint::pause(point);
    }
    fs::rename(staged, target).at("failed to publish", target)?;
    sync_dir(parent)?;
    if aside.exists() {
        fs::remove_dir_all(aside).at("failed to remove", aside)?;
    }
    Ok(())
}

/// Writes `files` (name, bytes) into the directory `dir`, replacing it as a whole: they are
/// written and fsynced into the sibling `.<name>.tmp-<pid>`, which then replaces `dir`
/// ([`replace_dir`], the old directory aside at `.<name>.old-<pid>`, pausing at `point`).
pub fn write_dir(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    point: Option<&str>,
) -> Result<(), IoError> {
    let pid = std::process::id();
    let tmp = sibling(dir, Sibling::Tmp, pid);
    let old = sibling(dir, Sibling::Old, pid);
    for p in [&tmp, &old] {
        if p.exists() {
            fs::remove_dir_all(p).at("failed to remove", p)?;
        }
    }
    fs::create_dir_all(&tmp).at("failed to create", &tmp)?;
    for (n, bytes) in files {
        let p = tmp.join(n);
        let mut f = fs::File::create(&p).at("failed to create", &p)?;
        f.write_all(bytes).at("failed to write", &p)?;
        f.sync_all().at("failed to sync", &p)?;
    }
    sync_dir(&tmp)?;
    replace_dir(&tmp, dir, &old, point)
}

/// Removes, below `dir` (but not in `skip`), the hidden siblings that a killed process
/// leaves ([`crate::io::sibling`]: written and not yet renamed into place, or moved aside and
/// not yet removed), if their process is gone. Returns how many it removed. Best effort: what
/// it cannot remove stays hidden from readers.
pub(super) fn sweep_leftovers(dir: &Path, skip: &Path) -> usize {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let path = e.path();
        if path == skip {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        match crate::io::sibling_owner(&name) {
            Some(pid) if !Path::new(&format!("/proc/{pid}")).exists() => {
                let removed = if is_dir {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                if removed.is_ok() {
                    n += 1;
                }
            }
            Some(_) => {}
            None if is_dir => n += sweep_leftovers(&path, skip),
            None => {}
        }
    }
    n
}

/// Directories built under `_tmp/<run_id>/` of a lake, each of which then replaces one
/// partition of a table ([`DirStaging::replace`]). A run killed before [`DirStaging::finish`]
/// leaves only that staging directory, which the next [`Lake::recover`] removes.
#[derive(Debug)]
pub struct DirStaging {
    root: PathBuf,
    dir: PathBuf,
}

impl Lake {
    /// Starts staging directories for one run of `stage`, in `_tmp/<stage>-<time>-<pid>/`
    /// ([`super::stage_run_id`]). Call with the lock held.
    pub fn stage_dirs(&self, stage: &str) -> Result<DirStaging, LakeError> {
        let dir = self.root().join("_tmp").join(stage_run_id(stage));
        fs::create_dir_all(&dir).at("failed to create", &dir)?;
        Ok(DirStaging {
            root: self.root().to_owned(),
            dir,
        })
    }
}

impl DirStaging {
    /// The staging directory, `_tmp/<run_id>/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `name` inside the staging directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replaces the lake's directory `rel` (e.g. `digest_stats/as_of=2026-11-26`) by `staged`
    /// (built inside [`DirStaging::dir`]), the old one aside in the staging directory meanwhile
    /// ([`replace_dir`], pausing at `point`). Returns the published path.
    pub fn replace(
        &self,
        staged: &Path,
        rel: &str,
        point: Option<&str>,
    ) -> Result<PathBuf, LakeError> {
        let target = self.root.join(rel);
        let aside = self.dir.join(format!("old-{}", rel.replace('/', "_")));
        replace_dir(staged, &target, &aside, point)?;
        Ok(target)
    }

    /// Removes the staging directory: call once every replace is done.
    pub fn finish(self) -> Result<(), LakeError> {
        fs::remove_dir_all(&self.dir).at("failed to clean up", &self.dir)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::testing::{lake, put, tree};

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// A pid that no process has (above the largest `pid_max`).
    const DEAD: u32 = 4_194_304 + 7;

    #[test]
    fn a_partition_is_published_where_there_was_none() {
        let (t, lake) = lake();
        let _g = lake.lock().unwrap();
        let s = lake.stage_dirs("stats").unwrap();
        let name = s.dir().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("stats-"), "{name}");
        put(&s.path("new"), &[("part-0.parquet", "new")]);
        let rel = "digest_stats/as_of=2026-11-26";
        let published = s.replace(&s.path("new"), rel, None).unwrap();
        assert_eq!(published, t.path().join(rel));
        assert_eq!(tree(&published), pairs(&[("part-0.parquet", "new")]));
        // Only the (now empty) staging directory is left, and `finish` removes it.
        assert_eq!(tree(s.dir()), vec![]);
        s.finish().unwrap();
        assert_eq!(fs::read_dir(t.path().join("_tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_partition_is_replaced_as_a_whole() {
        let t = tempfile::tempdir().unwrap();
        let rel = "decisions/as_of=2026-11-26";
        put(
            t.path(),
            &[
                (&format!("{rel}/part-0.parquet"), "old"),
                (&format!("{rel}/part-stale.parquet"), "stale"),
                ("decisions/as_of=2026-11-25/part-0.parquet", "other day"),
            ],
        );
        let lake = Lake::open(t.path()).unwrap();
        let _g = lake.lock().unwrap();
        let s = lake.stage_dirs("plan").unwrap();
        put(&s.path("decisions"), &[("part-0.parquet", "new")]);
        s.replace(&s.path("decisions"), rel, None).unwrap();
        s.finish().unwrap();
        assert_eq!(
            tree(&t.path().join("decisions")),
            pairs(&[
                ("as_of=2026-11-25/part-0.parquet", "other day"),
                ("as_of=2026-11-26/part-0.parquet", "new"),
            ])
        );
        assert_eq!(tree(&t.path().join("_tmp")), vec![]);
    }

    #[test]
    fn write_dir_replaces_a_directory_outside_a_lake_and_leaves_no_sibling() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out/as_of=2026-11-26");
        let files = |text: &str| vec![("report.md".to_string(), text.as_bytes().to_vec())];
        write_dir(&out, &files("first"), None).unwrap();
        put(&out, &[("stale.svg", "x")]);
        write_dir(&out, &files("second"), None).unwrap();
        assert_eq!(tree(&out), pairs(&[("report.md", "second")]));
        let names: Vec<String> = fs::read_dir(t.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["as_of=2026-11-26"]);
    }

    /// What a process killed between the two renames leaves, in both kinds of staging.
    #[test]
    fn what_a_killed_publisher_left_is_removed_by_recover() {
        let (t, lake) = lake();
        let root = t.path();
        // Stats killed at `stats:publishing`: the old partition aside, the new one staged.
        let stats_tmp = "_tmp/stats-20261127T031500000000Z-4194311";
        put(
            root,
            &[
                (&format!("{stats_tmp}/new/part-0.parquet"), "new"),
                (
                    &format!("{stats_tmp}/old-digest_stats_as_of=2026-11-26/part-0.parquet"),
                    "old",
                ),
            ],
        );
        // Report killed at `report:publishing` by a process that is gone, and one that runs.
        let report = root.join("reports/as_of=2026-11-26");
        let me = std::process::id();
        for (kind, pid) in [
            (Sibling::Tmp, DEAD),
            (Sibling::Old, DEAD),
            (Sibling::Tmp, me),
        ] {
            put(&sibling(&report, kind, pid), &[("report.md", "x")]);
        }
        put(root, &[("reports/as_of=2026-11-25/report.md", "kept")]);
        let g = lake.lock().unwrap();
        assert_eq!(lake.recover(&g).unwrap(), 1);
        assert_eq!(tree(&root.join("_tmp")), vec![]);
        assert_eq!(
            tree(&root.join("reports")),
            pairs(&[
                (&format!(".as_of=2026-11-26.tmp-{me}/report.md"), "x"),
                ("as_of=2026-11-25/report.md", "kept"),
            ])
        );
        assert!(!root.join("digest_stats").exists());
    }

    #[test]
    fn temporaries_of_dead_processes_are_swept_and_live_ones_kept() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let me = std::process::id();
        let files = [
            format!("_runs/.r1.json.tmp-{DEAD}"),
            format!("reports/.as_of=2026-11-26.tmp-{DEAD}/report.html"),
            format!("reports/.as_of=2026-11-26.old-{DEAD}/report.html"),
            format!("_runs/.r2.json.tmp-{me}"),
            format!("_tmp/r3/.x.tmp-{DEAD}"),
            "pulls/date=2026-11-26/part-a.parquet".to_string(),
            ".blobtier-mirror".to_string(),
        ];
        let listed: Vec<(&str, &str)> = files.iter().map(|f| (f.as_str(), "x")).collect();
        put(root, &listed);
        assert_eq!(sweep_leftovers(root, &root.join("_tmp")), 3);
        let left: Vec<bool> = files.iter().map(|f| root.join(f).exists()).collect();
        assert_eq!(left, [false, false, false, true, true, true, true]);
    }
}
