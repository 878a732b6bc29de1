//! `apply` without `--execute`: what a run would do — actions and bytes by action and classes,
//! bytes by target class, the first actions, and how many an earlier run already finished
//! (from the journal). Reads the journal; writes nothing and touches no S3.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::actions::Action;
use super::journal::{self, Prior};
use super::{Error, Options, Result};
use crate::plan::file::PlanRow;

/// One group of the dry-run summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    /// `copy`, `lifecycle`, `restore`.
    pub action: String,
    /// From.
    pub from_class: String,
    /// To.
    pub to_class: String,
    /// Actions.
    pub count: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A row of the dry-run sample.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SampleRow {
    /// Row index.
    pub i: usize,
    /// Action.
    pub action: String,
    /// `s3://bucket/key`.
    pub object: String,
    /// Version.
    pub version_id: Option<String>,
    /// Bytes.
    pub size: i64,
    /// From.
    pub from_class: String,
    /// To.
    pub to_class: String,
    /// Plan reason.
    pub reason: String,
}

/// What `apply` without `--execute` prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DryRun {
    /// Always true.
    pub dry_run: bool,
    /// The plan.
    pub plan: String,
    /// Its id.
    pub plan_id: String,
    /// Rows in the plan.
    pub rows: usize,
    /// Rows with an action.
    pub actions: usize,
    /// Their bytes.
    pub bytes: u64,
    /// By action and classes.
    pub groups: Vec<Group>,
    /// Bytes by target class.
    pub bytes_by_target_class: BTreeMap<String, u64>,
    /// The first actions.
    pub sample: Vec<SampleRow>,
    /// The journal file a run would use.
    pub journal: String,
    /// Actions an earlier run finished (from the journal).
    pub already_done: usize,
    /// The allow-list.
    pub allow: Vec<String>,
    /// Why `--execute` would refuse, if it would.
    pub execute_refusal: Option<String>,
}

/// The summary of what `apply` would do with `acts` (and what earlier runs already did).
pub(super) fn dry_run(
    opts: &Options,
    plan_id: &str,
    rows: &[PlanRow],
    acts: &[Action],
    jpath: &Path,
) -> Result<DryRun> {
    let mut groups: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
    let mut bytes = 0u64;
    for a in acts {
        let r = &rows[a.i];
        let size = r.size.max(0) as u64;
        let g = groups
            .entry((
                a.op.as_str().into(),
                r.from_class.to_string(),
                r.to_class.to_string(),
            ))
            .or_default();
        g.0 += 1;
        g.1 += size;
        *by_class.entry(r.to_class.to_string()).or_default() += size;
        bytes += size;
    }
    let history = journal::load(jpath)?;
    let already_done = acts
        .iter()
        .filter(|a| matches!(history.actions.get(&a.i), Some(Prior::Done(_))))
        .count();
    Ok(DryRun {
        dry_run: true,
        plan: opts.plan.display().to_string(),
        plan_id: plan_id.to_owned(),
        rows: rows.len(),
        actions: acts.len(),
        bytes,
        groups: groups
            .into_iter()
            .map(|((action, from_class, to_class), (count, bytes))| Group {
                action,
                from_class,
                to_class,
                count,
                bytes,
            })
            .collect(),
        bytes_by_target_class: by_class,
        sample: acts
            .iter()
            .take(10)
            .map(|a| {
                let r = &rows[a.i];
                SampleRow {
                    i: a.i,
                    action: a.op.as_str().into(),
                    object: format!("s3://{}/{}", r.bucket, r.key),
                    version_id: r.version_id.clone(),
                    size: r.size,
                    from_class: r.from_class.to_string(),
                    to_class: r.to_class.to_string(),
                    reason: r.reason.clone(),
                }
            })
            .collect(),
        journal: jpath.display().to_string(),
        already_done,
        allow: opts.allow.clone(),
        execute_refusal: opts
            .allow
            .is_empty()
            .then(|| Error::NoAllowList.to_string()),
    })
}
