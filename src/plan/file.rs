//! The plan file: `plan.parquet` (only the actions) and the `decisions` table (every blob),
//! their Arrow schema, and `plan_id`, the content hash that `apply` checks before acting.
//!
//! `plan_id` = `sha256:` + hex SHA-256 over the plan rows in file order, each row's fields
//! (every column but `plan_id`) rendered canonically (see [`PlanRow::canonical`]) and
//! separated by `\x1f`, rows terminated by `\x1e`. Floats are rendered with `{:?}` (shortest
//! round-trip form), so the id survives a write/read cycle exactly.
//! This module is the only definition of the format, and the one place where a plan row's
//! storage classes, action and method are strings: [`PlanRow`] carries them typed
//! (`crate::model`), [`to_batch`] and [`PlanRow::canonical`] write their names, and
//! [`read_verified`] parses them (a class it does not know is kept as
//! `StorageClass::Unknown`, so the row and its id survive the round trip; an action or
//! method it does not know makes the file invalid). `apply` depends on this module and on
//! nothing else of `plan`.
//!
//! `restore_tier` and `restore_days` (the restore a `restore` row asks `apply` for, priced
//! by the plan) were added after the first plans were written: a file without these columns
//! is read with both `None` (apply then uses its `--restore-tier` / `--restore-days`), and
//! [`PlanRow::canonical`] renders them only when set, so the ids of plans without restore
//! rows, and of old files, are unchanged.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, Float64Array, Float64Builder, Int32Builder,
    Int64Builder, StringArray, StringBuilder,
};
use arrow::datatypes::{
    DataType, Date32Type, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef,
};
use arrow::record_batch::RecordBatch;
use sha2::{Digest as _, Sha256};

use crate::model::{Action, Method, RestoreTier, StorageClass};

/// One row of a plan (or of `decisions`, where `action` may be `none`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRow {
    /// Content hash of the whole plan (same in every row).
    pub plan_id: String,
    /// The stats day the plan was made for (days since 1970-01-01).
    pub as_of: i32,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version id (`None` in unversioned buckets).
    pub version_id: Option<String>,
    /// ETag at planning time (apply copies only if it still matches).
    pub etag: Option<String>,
    /// Bytes.
    pub size: i64,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Current storage class (as the inventory named it; possibly `Unknown`).
    pub from_class: StorageClass,
    /// Target storage class (`from_class` when the action is [`Action::Keep`]).
    pub to_class: StorageClass,
    /// Policy tier name (`hot`, `warm`, `cool`, `cold`, `archive`, `reheat`, …).
    pub tier: String,
    /// `transition`, `restore` or `none`.
    pub action: Action,
    /// `copy` or `lifecycle`.
    pub method: Method,
    /// Reason code (`moved:cool`, `kept:too_small`, …).
    pub reason: String,
    /// Expected pulls in the next 30 days (estimator).
    pub expected_pulls_30d: f64,
    /// USD/month in the current class.
    pub monthly_cost_now: f64,
    /// USD/month after the action.
    pub monthly_cost_after: f64,
    /// One-time USD cost of the action.
    pub one_time_cost: f64,
    /// Days until savings repay the one-time cost (`None` when they never do).
    pub payback_days: Option<f64>,
    /// Savings over 12 months minus the one-time cost (USD).
    pub net_savings_12m: f64,
    /// The restore tier a `restore` row asks for and was priced with (`None` on other rows,
    /// and in plans written before the column existed).
    pub restore_tier: Option<RestoreTier>,
    /// The `Days` a `restore` row asks for and was priced with (`None` as `restore_tier`).
    pub restore_days: Option<u32>,
}

/// Days the restored copy of a `restore` row is kept: what the plan prices and `apply`
/// asks for. It must outlive the gap between the restore request and the run that copies
/// the object back (a Bulk restore of DEEP_ARCHIVE takes up to 48 hours).
pub const RESTORE_DAYS: u32 = 3;

/// Plan column names, in file order (a contract; `docs/schemas.md`).
pub const COLUMNS: [&str; 22] = [
    "plan_id",
    "as_of",
    "bucket",
    "key",
    "version_id",
    "etag",
    "size",
    "digest",
    "from_class",
    "to_class",
    "tier",
    "action",
    "method",
    "reason",
    "expected_pulls_30d",
    "monthly_cost_now",
    "monthly_cost_after",
    "one_time_cost",
    "payback_days",
    "net_savings_12m",
    "restore_tier",
    "restore_days",
];

/// Columns of [`COLUMNS`] that plan files written before them lack (read as `None`).
pub const OPTIONAL_COLUMNS: &[&str] = &["restore_tier", "restore_days"];

/// The `decisions` column of the days in the current class the plan priced with.
pub const DAYS_IN_CLASS: &str = "days_in_class";

/// Columns of plan files whose values do not repeat (one row per object): written without
/// a dictionary.
pub const UNIQUE_COLUMNS: &[&str] = &["key", "etag", "digest"];

/// Arrow schema of plan files.
pub fn schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let f = |n: &str, null: bool| Field::new(n, DataType::Float64, null);
    Arc::new(Schema::new(vec![
        s("plan_id", false),
        Field::new("as_of", DataType::Date32, false),
        s("bucket", false),
        s("key", false),
        s("version_id", true),
        s("etag", true),
        Field::new("size", DataType::Int64, false),
        s("digest", false),
        s("from_class", false),
        s("to_class", false),
        s("tier", false),
        s("action", false),
        s("method", false),
        s("reason", false),
        f("expected_pulls_30d", false),
        f("monthly_cost_now", false),
        f("monthly_cost_after", false),
        f("one_time_cost", false),
        f("payback_days", true),
        f("net_savings_12m", false),
        s("restore_tier", true),
        Field::new("restore_days", DataType::Int32, true),
    ]))
}

/// Arrow schema of the `decisions` table: the plan columns, then
/// `intelligent_tiering_monthly_cost`, what the blob would cost a month in
/// INTELLIGENT_TIERING as it stands now ([`crate::plan::build::intelligent_tiering_cost`]),
/// beside `monthly_cost_now` and `monthly_cost_after`, and `days_in_class`, the days in its
/// current class the plan counted minimum durations and early deletion from (class history,
/// else days since written), which the report splits one-time costs with. Neither is part of
/// `plan_id`; `decisions` tables written before `days_in_class` existed lack it.
pub fn decisions_schema() -> SchemaRef {
    let mut fields: Vec<Field> = schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(
        "intelligent_tiering_monthly_cost",
        DataType::Float64,
        false,
    ));
    fields.push(Field::new(DAYS_IN_CLASS, DataType::Int32, true));
    Arc::new(Schema::new(fields))
}

impl PlanRow {
    /// Canonical text of every field but `plan_id`, `\x1f`-separated.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    /// Appends [`PlanRow::canonical`] to `out`.
    fn write_canonical(&self, out: &mut String) {
        use std::fmt::Write as _;
        const NONE: &str = "\u{0}";
        const SEP: char = '\u{1f}';
        let _ = write!(out, "{}{SEP}", self.as_of);
        for v in [&self.bucket, &self.key] {
            out.push_str(v);
            out.push(SEP);
        }
        for v in [&self.version_id, &self.etag] {
            out.push_str(v.as_deref().unwrap_or(NONE));
            out.push(SEP);
        }
        let _ = write!(out, "{}{SEP}", self.size);
        for v in [
            self.digest.as_str(),
            self.from_class.as_str(),
            self.to_class.as_str(),
            self.tier.as_str(),
            self.action.as_str(),
            self.method.as_str(),
            self.reason.as_str(),
        ] {
            out.push_str(v);
            out.push(SEP);
        }
        for v in [
            self.expected_pulls_30d,
            self.monthly_cost_now,
            self.monthly_cost_after,
            self.one_time_cost,
        ] {
            let _ = write!(out, "{v:?}{SEP}");
        }
        match self.payback_days {
            Some(v) => {
                let _ = write!(out, "{v:?}{SEP}");
            }
            None => {
                out.push_str(NONE);
                out.push(SEP);
            }
        }
        let _ = write!(out, "{:?}", self.net_savings_12m);
        // Only when set: rows without them (and old files) keep their canonical text.
        if self.restore_tier.is_some() || self.restore_days.is_some() {
            out.push(SEP);
            out.push_str(self.restore_tier.map_or(NONE, RestoreTier::as_str));
            out.push(SEP);
            match self.restore_days {
                Some(d) => {
                    let _ = write!(out, "{d}");
                }
                None => out.push_str(NONE),
            }
        }
    }
}

/// The content hash of `rows` (their `plan_id` fields are ignored).
pub fn plan_id(rows: &[PlanRow]) -> String {
    let mut h = PlanHasher::default();
    for r in rows {
        h.add(r);
    }
    h.finish()
}

/// [`plan_id`] computed incrementally, for plans written chunk by chunk.
#[derive(Default)]
pub struct PlanHasher(Sha256, String);

impl PlanHasher {
    /// Adds the next row of the plan.
    pub fn add(&mut self, row: &PlanRow) {
        self.1.clear();
        row.write_canonical(&mut self.1);
        self.0.update(self.1.as_bytes());
        self.0.update(b"\x1e");
    }

    /// The id of the rows added so far.
    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

/// Rows as one record batch.
pub fn to_batch<'a>(rows: impl IntoIterator<Item = &'a PlanRow>) -> RecordBatch {
    use rayon::prelude::*;
    let rows: Vec<&PlanRow> = rows.into_iter().collect();
    let rows = &rows;
    // Column by column (in parallel), each builder sized up front.
    let text = |get: fn(&PlanRow) -> Option<&str>| -> ArrayRef {
        let bytes = rows.iter().map(|r| get(r).map_or(0, str::len)).sum();
        let mut b = StringBuilder::with_capacity(rows.len(), bytes);
        for r in rows {
            b.append_option(get(r));
        }
        Arc::new(b.finish())
    };
    let float = |get: fn(&PlanRow) -> Option<f64>| -> ArrayRef {
        let mut b = Float64Builder::with_capacity(rows.len());
        for r in rows {
            b.append_option(get(r));
        }
        Arc::new(b.finish())
    };
    let cols: Vec<ArrayRef> = (0..COLUMNS.len())
        .into_par_iter()
        .map(|c| match c {
            0 => text(|r| Some(&r.plan_id)),
            1 => {
                let mut b = Date32Builder::with_capacity(rows.len());
                rows.iter().for_each(|r| b.append_value(r.as_of));
                Arc::new(b.finish()) as ArrayRef
            }
            2 => text(|r| Some(&r.bucket)),
            3 => text(|r| Some(&r.key)),
            4 => text(|r| r.version_id.as_deref()),
            5 => text(|r| r.etag.as_deref()),
            6 => {
                let mut b = Int64Builder::with_capacity(rows.len());
                rows.iter().for_each(|r| b.append_value(r.size));
                Arc::new(b.finish()) as ArrayRef
            }
            7 => text(|r| Some(&r.digest)),
            8 => text(|r| Some(r.from_class.as_str())),
            9 => text(|r| Some(r.to_class.as_str())),
            10 => text(|r| Some(&r.tier)),
            11 => text(|r| Some(r.action.as_str())),
            12 => text(|r| Some(r.method.as_str())),
            13 => text(|r| Some(&r.reason)),
            14 => float(|r| Some(r.expected_pulls_30d)),
            15 => float(|r| Some(r.monthly_cost_now)),
            16 => float(|r| Some(r.monthly_cost_after)),
            17 => float(|r| Some(r.one_time_cost)),
            18 => float(|r| r.payback_days),
            19 => float(|r| Some(r.net_savings_12m)),
            20 => text(|r| r.restore_tier.map(RestoreTier::as_str)),
            _ => {
                let mut b = Int32Builder::with_capacity(rows.len());
                for r in rows {
                    b.append_option(r.restore_days.map(|d| i32::try_from(d).unwrap_or(i32::MAX)));
                }
                Arc::new(b.finish()) as ArrayRef
            }
        })
        .collect();
    RecordBatch::try_new(schema(), cols).expect("columns match the plan schema")
}

/// Plan-file errors.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// IO.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// Writing.
    #[error(transparent)]
    Write(#[from] crate::io::WriteError),
    /// Not a plan file.
    #[error("`{}` is not a blobtier plan: {reason}", path.display())]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// plan_id does not match the content.
    #[error("`{}`: plan_id {stored} does not match its content ({computed}); the plan was modified after it was made", path.display())]
    IdMismatch {
        /// The file.
        path: std::path::PathBuf,
        /// In the file.
        stored: String,
        /// Computed.
        computed: String,
    },
}

/// Writes rows (not atomically; callers stage and rename).
pub fn write(path: &Path, rows: &[PlanRow]) -> Result<(), PlanFileError> {
    crate::io::write_parquet(path, schema(), &[to_batch(rows)])?;
    Ok(())
}

/// Reads a plan file or a `decisions` table into rows, without checking `plan_id`
/// (`decisions` carries the id of its actions, not of all its rows): the one reader of the
/// format. A plan file is read with [`read_verified`].
pub fn read(path: &Path) -> Result<Vec<PlanRow>, PlanFileError> {
    use crate::io::IoContext;
    let invalid = |reason: String| PlanFileError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).at("failed to open", path)?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| invalid(e.to_string()))?
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    let mut rows = Vec::new();
    for b in reader {
        let b = b.map_err(|e| invalid(e.to_string()))?;
        read_batch(&b, &mut rows).map_err(invalid)?;
    }
    Ok(rows)
}

/// Reads a plan file ([`read`]) and verifies that every row carries the same `plan_id` and
/// that it matches the content.
pub fn read_verified(path: &Path) -> Result<Vec<PlanRow>, PlanFileError> {
    let rows = read(path)?;
    let computed = plan_id(&rows);
    let stored: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.plan_id.as_str()).collect();
    match stored.len() {
        0 => {}
        1 => {
            let s = stored.iter().next().expect("one element");
            if *s != computed {
                return Err(PlanFileError::IdMismatch {
                    path: path.to_owned(),
                    stored: s.to_string(),
                    computed,
                });
            }
        }
        _ => {
            return Err(PlanFileError::Invalid {
                path: path.to_owned(),
                reason: "rows carry different `plan_id` values".into(),
            })
        }
    }
    Ok(rows)
}

/// One column of a batch, with its name for errors.
struct Col<'a, A> {
    name: &'a str,
    a: A,
}

impl<'a> Col<'a, StringArray> {
    /// The column `name` as strings (`Utf8`, or `Utf8View` / `LargeUtf8` cast to it).
    fn text(b: &RecordBatch, name: &'a str) -> Result<Self, String> {
        let c = column(b, name)?;
        let c = match c.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => {
                arrow::compute::cast(c, &DataType::Utf8).map_err(|e| e.to_string())?
            }
            _ => c.clone(),
        };
        let a = c
            .as_string_opt::<i32>()
            .ok_or_else(|| format!("column `{name}` is not a string"))?;
        Ok(Col { name, a: a.clone() })
    }

    fn opt(&self, i: usize) -> Option<&str> {
        (!self.a.is_null(i)).then(|| self.a.value(i))
    }

    fn req(&self, i: usize) -> Result<&str, String> {
        self.opt(i)
            .ok_or_else(|| format!("null in `{}`", self.name))
    }

    /// A vocabulary value: a name it does not have makes the file invalid.
    fn parse<T: std::str::FromStr<Err = crate::model::UnknownName>>(
        &self,
        i: usize,
    ) -> Result<T, String> {
        self.req(i)?
            .parse()
            .map_err(|e| format!("invalid `{}`: {e}", self.name))
    }
}

impl<'a> Col<'a, Float64Array> {
    /// The column `name` as float64.
    fn float(b: &RecordBatch, name: &'a str) -> Result<Self, String> {
        let a = column(b, name)?
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| format!("column `{name}` is not float64"))?;
        Ok(Col { name, a: a.clone() })
    }

    fn opt(&self, i: usize) -> Option<f64> {
        (!self.a.is_null(i)).then(|| self.a.value(i))
    }

    fn req(&self, i: usize) -> Result<f64, String> {
        self.opt(i)
            .ok_or_else(|| format!("null in `{}`", self.name))
    }
}

fn column<'b>(b: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef, String> {
    b.column_by_name(name)
        .ok_or_else(|| format!("missing column `{name}`"))
}

/// Appends the rows of one record batch of a plan file to `rows`.
fn read_batch(b: &RecordBatch, rows: &mut Vec<PlanRow>) -> Result<(), String> {
    for c in COLUMNS.iter().filter(|c| !OPTIONAL_COLUMNS.contains(c)) {
        column(b, c)?;
    }
    let text = |n| Col::text(b, n);
    let float = |n| Col::float(b, n);
    let (plan_id, bucket, key, version_id, etag, digest) = (
        text("plan_id")?,
        text("bucket")?,
        text("key")?,
        text("version_id")?,
        text("etag")?,
        text("digest")?,
    );
    let (from_class, to_class, tier, action, method, reason) = (
        text("from_class")?,
        text("to_class")?,
        text("tier")?,
        text("action")?,
        text("method")?,
        text("reason")?,
    );
    let (expected, now, after, one_time, payback, net) = (
        float("expected_pulls_30d")?,
        float("monthly_cost_now")?,
        float("monthly_cost_after")?,
        float("one_time_cost")?,
        float("payback_days")?,
        float("net_savings_12m")?,
    );
    let as_of = column(b, "as_of")?
        .as_primitive_opt::<Date32Type>()
        .ok_or("column `as_of` is not a date")?;
    let size = column(b, "size")?
        .as_primitive_opt::<Int64Type>()
        .ok_or("column `size` is not int64")?;
    // Absent from plans written before they existed: read as `None`.
    let restore_tier = match b.column_by_name("restore_tier") {
        Some(_) => Some(text("restore_tier")?),
        None => None,
    };
    let restore_days = match b.column_by_name("restore_days") {
        Some(c) => Some(
            c.as_primitive_opt::<Int32Type>()
                .ok_or("column `restore_days` is not int32")?,
        ),
        None => None,
    };
    let owned = |s: Option<&str>| s.map(str::to_owned);
    let first = rows.len();
    for i in 0..b.num_rows() {
        let row = |i| -> Result<PlanRow, String> {
            Ok(PlanRow {
                plan_id: plan_id.req(i)?.to_owned(),
                as_of: as_of.value(i),
                bucket: bucket.req(i)?.to_owned(),
                key: key.req(i)?.to_owned(),
                version_id: owned(version_id.opt(i)),
                etag: owned(etag.opt(i)),
                size: size.value(i),
                digest: digest.req(i)?.to_owned(),
                from_class: StorageClass::from(from_class.req(i)?),
                to_class: StorageClass::from(to_class.req(i)?),
                tier: tier.req(i)?.to_owned(),
                action: action.parse(i)?,
                method: method.parse(i)?,
                reason: reason.req(i)?.to_owned(),
                expected_pulls_30d: expected.req(i)?,
                monthly_cost_now: now.req(i)?,
                monthly_cost_after: after.req(i)?,
                one_time_cost: one_time.req(i)?,
                payback_days: payback.opt(i),
                net_savings_12m: net.req(i)?,
                restore_tier: match &restore_tier {
                    Some(c) if c.opt(i).is_some() => Some(c.parse(i)?),
                    _ => None,
                },
                restore_days: match restore_days {
                    Some(c) if !c.is_null(i) => Some(
                        u32::try_from(c.value(i))
                            .map_err(|_| format!("invalid `restore_days`: `{}`", c.value(i)))?,
                    ),
                    _ => None,
                },
            })
        };
        rows.push(row(i).map_err(|e| format!("row {}: {e}", first + i))?);
    }
    Ok(())
}

/// Test support for every module that reads or acts on plan rows (apply's actions, the
/// report): one row with every field filled, which a test changes with struct-update syntax
/// (`PlanRow { to_class: …, ..row("k") }`). Test builds only.
#[cfg(test)]
pub(crate) mod testing {
    use super::PlanRow;
    use crate::model::{Action, Method};

    /// A `transition` by `copy` of `b/<key>`, STANDARD -> STANDARD_IA (tier `cool`), 10 bytes,
    /// planned with the ETag `"e1"`, unversioned, every cost figure zero.
    pub(crate) fn row(key: &str) -> PlanRow {
        PlanRow {
            plan_id: String::new(),
            as_of: 20_000,
            bucket: "b".into(),
            key: key.into(),
            version_id: None,
            etag: Some("\"e1\"".into()),
            size: 10,
            digest: "sha256:00".into(),
            from_class: "STANDARD".into(),
            to_class: "STANDARD_IA".into(),
            tier: "cool".into(),
            action: Action::Transition,
            method: Method::Copy,
            reason: "moved:cool".into(),
            expected_pulls_30d: 0.0,
            monthly_cost_now: 0.0,
            monthly_cost_after: 0.0,
            one_time_cost: 0.0,
            payback_days: None,
            net_savings_12m: 0.0,
            restore_tier: None,
            restore_days: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(key: &str) -> PlanRow {
        PlanRow {
            plan_id: String::new(),
            as_of: 20_000,
            bucket: "registry-prod".into(),
            key: key.into(),
            version_id: None,
            etag: Some("abc".into()),
            size: 1 << 20,
            digest: format!("sha256:{:064x}", 7),
            from_class: StorageClass::Standard,
            to_class: StorageClass::StandardIa,
            tier: "cool".into(),
            action: Action::Transition,
            method: Method::Copy,
            reason: "moved:cool".into(),
            expected_pulls_30d: 0.1,
            monthly_cost_now: 0.023 / 1024.0,
            monthly_cost_after: 0.0125 / 1024.0,
            one_time_cost: 0.00001,
            payback_days: Some(12.5),
            net_savings_12m: 0.0001,
            restore_tier: None,
            restore_days: None,
        }
    }

    #[test]
    fn round_trip_keeps_the_id_and_tampering_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = vec![row("a"), row("b")];
        let id = plan_id(&rows);
        for r in &mut rows {
            r.plan_id = id.clone();
        }
        let p = dir.path().join("plan.parquet");
        write(&p, &rows).unwrap();
        assert_eq!(read_verified(&p).unwrap(), rows);
        let mut bad = rows.clone();
        bad[1].to_class = StorageClass::Glacier;
        write(&p, &bad).unwrap();
        assert!(matches!(
            read_verified(&p),
            Err(PlanFileError::IdMismatch { .. })
        ));
    }

    /// A class name blobtier does not know survives the round trip byte for byte (the id
    /// with it); an action or method it does not know makes the file invalid.
    #[test]
    fn unknown_classes_round_trip_and_unknown_actions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plan.parquet");
        let mut rows = vec![row("a")];
        rows[0].from_class = StorageClass::from("GLACIER_DEEP");
        rows[0].to_class = StorageClass::from("glacier_ir");
        let id = plan_id(&rows);
        rows[0].plan_id = id.clone();
        write(&p, &rows).unwrap();
        let back = read_verified(&p).unwrap();
        assert_eq!(back, rows);
        assert_eq!(back[0].from_class.as_str(), "GLACIER_DEEP");
        assert_eq!(plan_id(&back), id);

        for (column, value) in [("action", "delete"), ("method", "rsync")] {
            let batch = to_batch(&rows);
            let i = COLUMNS.iter().position(|c| *c == column).unwrap();
            let mut cols = batch.columns().to_vec();
            cols[i] = Arc::new(StringArray::from(vec![value]));
            let batch = RecordBatch::try_new(schema(), cols).unwrap();
            crate::io::write_parquet(&p, schema(), &[batch]).unwrap();
            let err = read_verified(&p).unwrap_err();
            assert!(matches!(err, PlanFileError::Invalid { .. }), "{err}");
            let msg = err.to_string();
            assert!(
                msg.ends_with(&format!(
                    "row 0: invalid `{column}`: expected one of {}, got `{value}`",
                    if column == "action" {
                        "`none`, `transition`, `restore`"
                    } else {
                        "`copy`, `lifecycle`"
                    }
                )),
                "{msg}"
            );
        }
    }

    /// Restore rows carry their tier and days through a write/read cycle and into the id;
    /// a plan file written before those columns is still read (both `None`) and its id
    /// still verifies. See: issue 15.
    #[test]
    fn restore_fields_round_trip_and_old_files_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plan.parquet");
        let plain = vec![row("a")];
        let id_plain = plan_id(&plain);
        let mut rows = vec![
            row("a"),
            PlanRow {
                from_class: StorageClass::DeepArchive,
                to_class: StorageClass::Standard,
                tier: "reheat".into(),
                action: Action::Restore,
                reason: "restore:tagged:tier_fallback".into(),
                restore_tier: Some(RestoreTier::Bulk),
                restore_days: Some(RESTORE_DAYS),
                ..row("b")
            },
        ];
        let id = plan_id(&rows);
        let other_tier = {
            let mut r = rows.clone();
            r[1].restore_tier = Some(RestoreTier::Standard);
            plan_id(&r)
        };
        assert_ne!(id, other_tier, "the tier is part of the id");
        for r in &mut rows {
            r.plan_id = id.clone();
        }
        write(&p, &rows).unwrap();
        assert_eq!(read_verified(&p).unwrap(), rows);

        // An old file: the first 20 columns only.
        let old = |rows: &[PlanRow]| {
            let batch = to_batch(rows);
            let keep: Vec<usize> = (0..COLUMNS.len() - OPTIONAL_COLUMNS.len()).collect();
            let batch = batch.project(&keep).unwrap();
            crate::io::write_parquet(&p, batch.schema(), &[batch]).unwrap();
        };
        let mut plain = plain;
        plain[0].plan_id = id_plain.clone();
        old(&plain);
        let back = read_verified(&p).unwrap();
        assert_eq!(back, plain);
        assert_eq!(plan_id(&back), id_plain);
        // An old restore row: read without tier and days (apply's flags then decide).
        let mut old_restore = rows.clone();
        old_restore[1].restore_tier = None;
        old_restore[1].restore_days = None;
        let old_id = plan_id(&old_restore);
        for r in &mut old_restore {
            r.plan_id = old_id.clone();
        }
        old(&old_restore);
        assert_eq!(read_verified(&p).unwrap(), old_restore);
    }
}
