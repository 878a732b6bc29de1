//! Plan rows for tests: a builder that fills every [`PlanRow`] field a test does not care about,
//! and [`write_plan`], which stamps rows with their content hash and writes `plan.parquet`.
//!
//! Tests name what matters to them (`PlanRowBuilder::copy(bucket, key).etag(e).to("GLACIER_IR")`)
//! and never write out a whole `PlanRow`: when a field's type changes, only this file follows.
//! Class, action and method names are the plan file's spellings (`STANDARD_IA`, `transition`,
//! `copy`).

use std::path::{Path, PathBuf};

use blobtier::plan::file::{self, PlanRow};
use sha2::{Digest as _, Sha256};

/// Builds one plan row. Defaults: `as_of` 20,400 (days since 1970), unversioned, no ETag, 1 byte,
/// digest `sha256:` + SHA-256 of the key, tier `cold`, reason `moved:cold`, small positive
/// costs; the constructor sets action, method and classes.
#[derive(Debug, Clone)]
pub struct PlanRowBuilder {
    row: PlanRow,
}

impl PlanRowBuilder {
    fn new(bucket: &str, key: &str, action: &str, method: &str, from: &str, to: &str) -> Self {
        PlanRowBuilder {
            row: PlanRow {
                plan_id: String::new(),
                as_of: 20_400,
                bucket: bucket.into(),
                key: key.into(),
                version_id: None,
                etag: None,
                size: 1,
                digest: format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes()))),
                from_class: from.into(),
                to_class: to.into(),
                tier: "cold".into(),
                action: action.parse().expect("an action name"),
                method: method.parse().expect("a method name"),
                reason: "moved:cold".into(),
                expected_pulls_30d: 0.0,
                monthly_cost_now: 0.001,
                monthly_cost_after: 0.0004,
                one_time_cost: 0.00001,
                payback_days: Some(3.0),
                net_savings_12m: 0.01,
                restore_tier: None,
                restore_days: None,
            },
        }
    }

    /// A `transition` by CopyObject in place, STANDARD -> GLACIER_IR.
    pub fn copy(bucket: &str, key: &str) -> Self {
        Self::new(bucket, key, "transition", "copy", "STANDARD", "GLACIER_IR")
    }

    /// A `transition` by tag and bucket lifecycle rule, STANDARD -> GLACIER_IR.
    pub fn lifecycle(bucket: &str, key: &str) -> Self {
        Self::new(
            bucket,
            key,
            "transition",
            "lifecycle",
            "STANDARD",
            "GLACIER_IR",
        )
    }

    /// A `restore` (then a copy back), GLACIER -> STANDARD, tier `reheat`, reason
    /// `restore:bulk`.
    pub fn restore(bucket: &str, key: &str) -> Self {
        Self::new(bucket, key, "restore", "copy", "GLACIER", "STANDARD")
            .tier("reheat")
            .reason("restore:bulk")
    }

    /// A row without an action (`none`: the blob stays in STANDARD).
    pub fn keep(bucket: &str, key: &str) -> Self {
        Self::new(bucket, key, "none", "copy", "STANDARD", "STANDARD").reason("kept:hot")
    }

    /// Starts from an existing row, to change some of its fields.
    pub fn edit(row: PlanRow) -> Self {
        PlanRowBuilder { row }
    }

    /// The blob's digest (`sha256:<hex>`).
    pub fn digest(mut self, digest: &str) -> Self {
        self.row.digest = digest.into();
        self
    }

    /// The ETag at planning time (apply copies only while it still matches).
    pub fn etag(mut self, etag: &str) -> Self {
        self.row.etag = Some(etag.into());
        self
    }

    /// The planned version.
    pub fn version(mut self, version_id: &str) -> Self {
        self.row.version_id = Some(version_id.into());
        self
    }

    /// Bytes.
    pub fn size(mut self, bytes: usize) -> Self {
        self.row.size = i64::try_from(bytes).expect("test sizes fit i64");
        self
    }

    /// The class the object is in.
    pub fn from(mut self, class: &str) -> Self {
        self.row.from_class = class.into();
        self
    }

    /// The class the action moves it to.
    pub fn to(mut self, class: &str) -> Self {
        self.row.to_class = class.into();
        self
    }

    /// The policy tier (the lifecycle tag value; a restore tier when it names one).
    pub fn tier(mut self, tier: &str) -> Self {
        self.row.tier = tier.into();
        self
    }

    /// The reason code.
    pub fn reason(mut self, reason: &str) -> Self {
        self.row.reason = reason.into();
        self
    }

    /// The row.
    pub fn build(self) -> PlanRow {
        self.row
    }
}

/// Stamps `rows` with their content hash (`plan_id`) and writes them to `dir/plan.parquet`;
/// returns the path and the id.
pub fn write_plan(dir: &Path, rows: Vec<PlanRow>) -> (PathBuf, String) {
    let id = file::plan_id(&rows);
    let p = dir.join("plan.parquet");
    write_with_id(&p, rows, &id);
    (p, id)
}

/// Writes `rows` to `path` stamped with `plan_id`, whether or not it is their content hash
/// (a plan modified after it was made).
pub fn write_with_id(path: &Path, mut rows: Vec<PlanRow>, plan_id: &str) {
    for r in &mut rows {
        r.plan_id = plan_id.into();
    }
    file::write(path, &rows).unwrap();
}
