//! The lake's tables as the queries see them: where each input of `digest_stats` is found for
//! an as-of day (the latest inventory and image-graph snapshots on or before it), how it is
//! scanned and registered, and its schema when the lake does not have it yet.
//!
//! Invariants: the schemas are the lake's Arrow schemas ([`crate::model::schema`]) (plus the Hive column `date` of the
//! date-partitioned tables), never written a second time: [`empty_table`] (Polars) and [`ddl`]
//! (Spark, DuckDB, Trino) are derived from them. Nothing after as-of is registered. Reads only.

use std::fs;
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType as ArrowType, SchemaRef, TimeUnit as ArrowUnit};
use chrono::NaiveDate;
use polars::prelude::*;
use polars::sql::SQLContext;

use super::partition;
use super::template::Dialect;
use crate::lake::{newest_part, Lake, LakeError};

/// The tables `queries/digest_stats.sql` reads, in registration order.
pub const STATS_INPUTS: [&str; 7] = [
    "pulls",
    "failed_pulls",
    "manifest_pulls",
    "inventory",
    "blob_refs",
    "manifest_refs",
    "tags",
];

/// The image-graph tables (one snapshot, written together by one ingest run).
pub const GRAPH_TABLES: [&str; 3] = ["blob_refs", "manifest_refs", "tags"];

/// The Hive partition column of the date-partitioned tables (`pulls/date=…/`), read as a string.
const HIVE_DATE: &str = "date";

/// The Arrow schema of the lake table `table` as a query sees it: ingest's schema, plus the
/// Hive column `date` (a string) for `pulls`, `failed_pulls` and `manifest_pulls`.
pub fn arrow_schema(table: &str) -> Option<SchemaRef> {
    use crate::model::schema;
    let (schema, hive) = match table {
        "pulls" => (schema::pulls(), true),
        "failed_pulls" => (schema::failed_pulls(), true),
        "manifest_pulls" => (schema::manifest_pulls(), true),
        "inventory" => (schema::inventory(), false),
        "blob_refs" => (schema::blob_refs(), false),
        "manifest_refs" => (schema::manifest_refs(), false),
        "tags" => (schema::tags(), false),
        _ => return None,
    };
    if !hive {
        return Some(schema);
    }
    let mut fields: Vec<arrow::datatypes::FieldRef> = schema.fields().iter().cloned().collect();
    fields.push(std::sync::Arc::new(arrow::datatypes::Field::new(
        HIVE_DATE,
        ArrowType::Utf8,
        false,
    )));
    Some(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)))
}

fn unknown_table(table: &str) -> PolarsError {
    PolarsError::ComputeError(format!("no such lake table `{table}`").into())
}

fn unsupported(t: &ArrowType) -> PolarsError {
    PolarsError::ComputeError(format!("no query type for the Arrow type {t}").into())
}

/// The Polars type of an Arrow type of the lake's schemas.
fn polars_type(t: &ArrowType) -> PolarsResult<DataType> {
    Ok(match t {
        ArrowType::Utf8 => DataType::String,
        ArrowType::Int64 => DataType::Int64,
        ArrowType::Boolean => DataType::Boolean,
        ArrowType::Timestamp(ArrowUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        }
        ArrowType::List(item) => DataType::List(Box::new(polars_type(item.data_type())?)),
        t => return Err(unsupported(t)),
    })
}

/// The type name of an Arrow type in `dialect`'s DDL.
fn sql_type(t: &ArrowType, dialect: Dialect) -> PolarsResult<String> {
    use Dialect::{Duckdb, Polars, Spark, Trino};
    Ok(match (t, dialect) {
        (ArrowType::Utf8, Spark) => "STRING".into(),
        (ArrowType::Utf8, Duckdb) => "VARCHAR".into(),
        (ArrowType::Utf8, Trino) => "varchar".into(),
        (ArrowType::Int64, Trino) => "bigint".into(),
        (ArrowType::Int64, _) => "BIGINT".into(),
        (ArrowType::Boolean, Trino) => "boolean".into(),
        (ArrowType::Boolean, _) => "BOOLEAN".into(),
        (ArrowType::Timestamp(ArrowUnit::Microsecond, Some(_)), Spark) => "TIMESTAMP".into(),
        (ArrowType::Timestamp(ArrowUnit::Microsecond, Some(_)), Duckdb) => "TIMESTAMPTZ".into(),
        (ArrowType::Timestamp(ArrowUnit::Microsecond, Some(_)), Trino) => {
            "timestamp(6) with time zone".into()
        }
        (ArrowType::List(item), Spark) => format!("ARRAY<{}>", sql_type(item.data_type(), Spark)?),
        (ArrowType::List(item), Duckdb) => format!("{}[]", sql_type(item.data_type(), Duckdb)?),
        (ArrowType::List(item), Trino) => format!("array({})", sql_type(item.data_type(), Trino)?),
        (_, Polars) => {
            return Err(PolarsError::ComputeError(
                "Polars has no DDL: blobtier registers empty tables itself".into(),
            ))
        }
        (t, _) => return Err(unsupported(t)),
    })
}

/// An empty table of the lake's schema for `table` (one the stats query reads): for a lake
/// without logs, without manifest requests or without an image graph, and for the schema
/// checks of tier rules.
pub fn empty_table(table: &str) -> PolarsResult<DataFrame> {
    let schema = arrow_schema(table).ok_or_else(|| unknown_table(table))?;
    let cols = schema
        .fields()
        .iter()
        .map(|f| {
            Ok(Column::new_empty(
                f.name().into(),
                &polars_type(f.data_type())?,
            ))
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new_infer_height(cols)
}

/// The column list of `table` for a `CREATE TABLE` in `dialect` (`digest STRING, …` for
/// Spark): what the Spark runner and the DuckDB benchmark register for a table the lake lacks.
pub fn ddl(table: &str, dialect: Dialect) -> PolarsResult<String> {
    let schema = arrow_schema(table).ok_or_else(|| unknown_table(table))?;
    let quote = match dialect {
        Dialect::Spark => '`',
        _ => '"',
    };
    let cols = schema
        .fields()
        .iter()
        .map(|f| {
            Ok(format!(
                "{quote}{}{quote} {}",
                f.name(),
                sql_type(f.data_type(), dialect)?
            ))
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    Ok(cols.join(", "))
}

/// The latest `inventory/snapshot=DATE` partition on or before `as_of`: its date and directory.
pub fn latest_snapshot(
    lake: &Lake,
    as_of: NaiveDate,
) -> Result<Option<(String, PathBuf)>, LakeError> {
    let latest = lake.latest_partition("inventory", "snapshot", Some(as_of))?;
    Ok(latest.map(|(d, p)| (d.to_string(), p)))
}

/// The image-graph tables of the latest snapshot on or before `as_of`: the date and the
/// newest part file of `blob_refs`, `manifest_refs` and `tags` (all written by one run; a table
/// without a part file of that very snapshot means no graph).
pub fn graph_snapshot(lake: &Lake, as_of: NaiveDate) -> Option<(String, [PathBuf; 3])> {
    let (date, blob_refs) = lake.latest_part(GRAPH_TABLES[0], Some(as_of))?;
    let newest =
        |table: &str| newest_part(&lake.root().join(table).join(format!("snapshot={date}")));
    let (manifest_refs, tags) = (newest(GRAPH_TABLES[1])?, newest(GRAPH_TABLES[2])?);
    Some((date.to_string(), [blob_refs, manifest_refs, tags]))
}

/// Every Parquet file under `path` (with `hive`: `key=value` directories become columns, their
/// values strings).
pub fn scan_dir(path: &Path, hive: bool) -> PolarsResult<LazyFrame> {
    let mut args = ScanArgsParquet::default();
    if hive {
        args.hive_options = HiveOptions::new_enabled();
        args.hive_options.try_parse_dates = false;
    }
    let glob = format!("{}/**/*.parquet", path.display());
    LazyFrame::scan_parquet(PlRefPath::new(glob.as_str()), args)
}

/// Every part file of the date-partitioned lake table `table` under `path`, read with ingest's
/// schema: a column added after some files were written (`pulls.requests`) reads as NULL in
/// them.
pub fn scan_table_dir(path: &Path, table: &str) -> PolarsResult<LazyFrame> {
    use crate::model::schema;
    let file_schema = match table {
        "pulls" => schema::pulls(),
        "failed_pulls" => schema::failed_pulls(),
        "manifest_pulls" => schema::manifest_pulls(),
        _ => return Err(unknown_table(table)),
    };
    let mut schema = Schema::with_capacity(file_schema.fields().len());
    for f in file_schema.fields() {
        schema.insert(f.name().as_str().into(), polars_type(f.data_type())?);
    }
    let mut args = ScanArgsParquet {
        hive_options: HiveOptions::new_enabled(),
        schema: Some(std::sync::Arc::new(schema)),
        allow_missing_columns: true,
        ..Default::default()
    };
    args.hive_options.try_parse_dates = false;
    let glob = format!("{}/**/*.parquet", path.display());
    LazyFrame::scan_parquet(PlRefPath::new(glob.as_str()), args)
}

/// One Parquet file.
pub fn scan_file(path: &Path) -> PolarsResult<LazyFrame> {
    LazyFrame::scan_parquet(
        PlRefPath::new(path.display().to_string().as_str()),
        ScanArgsParquet::default(),
    )
}

/// Whether any Parquet file lies under `dir`.
pub fn has_parquet(dir: &Path) -> bool {
    let Ok(rd) = fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_parquet(&p)
        } else {
            p.extension().is_some_and(|x| x == "parquet")
        }
    })
}

/// One input table of the stats query, resolved.
struct Input {
    name: &'static str,
    frame: LazyFrame,
    /// Keyed by digest: restricted to a digest range when the query runs per range.
    by_digest: bool,
}

/// The inputs of `digest_stats` for one as-of day, resolved once (the lazy scans are cheap to
/// clone into each digest range's context).
pub struct StatsInputs {
    /// The inventory snapshot used (its date).
    pub snapshot: String,
    /// The inventory snapshot's directory.
    pub snapshot_dir: PathBuf,
    /// The image-graph snapshot used, if the lake has one on or before as-of.
    pub graph_snapshot: Option<String>,
    inputs: Vec<Input>,
}

impl StatsInputs {
    /// Resolves the tables for `as_of`; `None` when the lake has no inventory snapshot on or
    /// before it. Tables the lake lacks are registered empty ([`empty_table`]).
    pub fn resolve(lake: &Lake, as_of: NaiveDate) -> Result<Option<StatsInputs>, super::Error> {
        let q = super::DIGEST_STATS.file;
        let perr = |source| super::Error::Polars { query: q, source };
        let Some((snapshot, snapshot_dir)) = latest_snapshot(lake, as_of)? else {
            return Ok(None);
        };
        let graph = graph_snapshot(lake, as_of);
        let mut inputs = Vec::with_capacity(STATS_INPUTS.len());
        for name in STATS_INPUTS {
            let frame = match (name, &graph) {
                ("pulls" | "failed_pulls" | "manifest_pulls", _) => {
                    let dir = lake.root().join(name);
                    if has_parquet(&dir) {
                        scan_table_dir(&dir, name)
                    } else {
                        empty_table(name).map(DataFrame::lazy)
                    }
                }
                ("inventory", _) => scan_dir(&snapshot_dir, false),
                (_, Some((_, files))) => {
                    let i = GRAPH_TABLES.iter().position(|t| *t == name);
                    scan_file(&files[i.expect("the rest are graph tables")])
                }
                (_, None) => empty_table(name).map(DataFrame::lazy),
            }
            .map_err(perr)?;
            // `manifest_pulls` and `tags` are keyed by repository and reference or tag, not by
            // digest, so a digest range never filters them.
            let by_digest = !matches!(name, "manifest_pulls" | "tags");
            inputs.push(Input {
                name,
                frame,
                by_digest,
            });
        }
        Ok(Some(StatsInputs {
            snapshot,
            snapshot_dir,
            graph_snapshot: graph.map(|(d, _)| d),
            inputs,
        }))
    }

    /// A context with every input registered, the digest-keyed ones restricted to the range
    /// `[lo, hi)` ([`partition::filter_range`]).
    pub fn context(&self, lo: &Option<String>, hi: &Option<String>) -> SQLContext {
        let ctx = SQLContext::new();
        for input in &self.inputs {
            let frame = input.frame.clone();
            let frame = if input.by_digest {
                partition::filter_range(frame, lo, hi)
            } else {
                frame
            };
            ctx.register(input.name, frame);
        }
        ctx
    }
}

/// A context with every input of the stats query registered empty (for schema checks).
pub fn empty_context() -> PolarsResult<SQLContext> {
    let ctx = SQLContext::new();
    for table in STATS_INPUTS {
        ctx.register(table, empty_table(table)?.lazy());
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The empty tables are ingest's schemas (plus `date`), column for column.
    #[test]
    fn empty_tables_follow_ingests_schemas() {
        for table in STATS_INPUTS {
            let arrow = arrow_schema(table).unwrap();
            let df = empty_table(table).unwrap();
            let names: Vec<&str> = df.get_column_names().iter().map(|c| c.as_str()).collect();
            let want: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(names, want, "{table}");
            assert_eq!(df.height(), 0);
        }
        let pulls = empty_table("pulls").unwrap();
        let ts = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        assert_eq!(pulls.column("last_at").unwrap().dtype(), &ts);
        assert_eq!(pulls.column("date").unwrap().dtype(), &DataType::String);
        assert_eq!(pulls.column("pulls").unwrap().dtype(), &DataType::Int64);
        let refs = empty_table("blob_refs").unwrap();
        assert_eq!(
            refs.column("repos").unwrap().dtype(),
            &DataType::List(Box::new(DataType::String))
        );
        assert!(empty_table("nope").is_err());
    }

    #[test]
    fn ddl_per_dialect() {
        assert_eq!(
            ddl("manifest_refs", Dialect::Spark).unwrap(),
            "`manifest` STRING, `digest` STRING, `role` STRING"
        );
        let pulls = ddl("pulls", Dialect::Spark).unwrap();
        assert!(
            pulls.starts_with("`digest` STRING, `client` STRING,"),
            "{pulls}"
        );
        assert!(
            pulls.ends_with("`last_at` TIMESTAMP, `requests` BIGINT, `date` STRING"),
            "{pulls}"
        );
        let refs = ddl("blob_refs", Dialect::Duckdb).unwrap();
        assert!(refs.contains("\"in_storage\" BOOLEAN"), "{refs}");
        assert!(refs.ends_with("\"tags\" VARCHAR[]"), "{refs}");
        let refs = ddl("blob_refs", Dialect::Spark).unwrap();
        assert!(refs.ends_with("`tags` ARRAY<STRING>"), "{refs}");
        let inv = ddl("inventory", Dialect::Trino).unwrap();
        assert!(
            inv.contains("\"last_modified\" timestamp(6) with time zone"),
            "{inv}"
        );
        assert!(ddl("pulls", Dialect::Polars).is_err());
        assert!(ddl("nope", Dialect::Spark).is_err());
    }
}
