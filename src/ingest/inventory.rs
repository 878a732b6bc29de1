//! S3 Inventory reports: `manifest.json` (+ `manifest.checksum`) and its CSV (gzip, zstd or
//! plain, recognised by content), Parquet or ORC (module `orc`) data files, verified (manifest
//! MD5, each data file's MD5), read into one snapshot of the `inventory` table with each key
//! classified by the registry storage layout.
//!
//! Invariants:
//! - a manifest only ever reads data files under its own destination (see `Scope`);
//! - a row is kept only when every value it carries parses and lies in range
//!   ([`Row::check`]); otherwise it is quarantined with a reason naming the field;
//! - one object (bucket, key, version id) is one row of a snapshot, however many times the
//!   report lists it, and the copies dropped are counted;
//! - a snapshot with rejected rows and none kept, or with a reject ratio over
//!   `--max-bad-ratio`, is refused (`read_new`): nothing of it is staged or put in the ledger,
//!   so a correct report of the same bucket and day is ingested the next time;
//! - memory does not grow with what a data file decompresses to: lines are read with a bound
//!   and rejects are capped per data file while they are read (module `lines`). The rows kept are held
//!   until the snapshot is sorted.
//!
//! Must not write anything: the caller stages and commits what `read_new` returns.

mod lines;
mod orc;
mod rows;

#[cfg(test)]
mod fuzz;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};

use crate::config::IngestConfig;
use crate::ingest::event::MAX_LINE;
use crate::ingest::tables::RejectRow;
use crate::ingest::{BadFile, IngestMetrics, InputSummary};
use crate::model::{schema, Layout};
use crate::progress::Progress;
use crate::storage::{Location, Storage, StorageError};

pub use crate::ingest::rejects::RAW_MAX;
pub use lines::truncated_raw;
pub use orc::read_orc;
pub use rows::{csv_row, CsvSchema, Fields, Row, RowReject};

use lines::{Line, Lines, Rejects};
use rows::{Builders, ParquetBatch};

/// Inventory errors (each names the file).
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Reading failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// `manifest.checksum` is missing.
    #[error("missing `manifest.checksum` next to `{0}`: the report may be incomplete")]
    MissingChecksum(String),
    /// `manifest.checksum` does not match.
    #[error("checksum mismatch for `{location}`: `manifest.checksum` says {expected}, content has {actual}")]
    ManifestChecksum {
        /// Manifest.
        location: String,
        /// From manifest.checksum.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// A data file's MD5 does not match the manifest.
    #[error("MD5 mismatch for inventory data file `{location}`: manifest says {expected}, content has {actual}")]
    DataChecksum {
        /// Data file.
        location: String,
        /// From the manifest.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// The manifest is not valid.
    #[error("failed to parse `{location}`: {reason}")]
    BadManifest {
        /// Manifest.
        location: String,
        /// Why.
        reason: String,
    },
    /// A data file cannot be found.
    #[error("inventory data file `{key}` listed in `{manifest}` was not found (looked under every parent directory of the manifest)")]
    DataFileNotFound {
        /// Key in the manifest.
        key: String,
        /// Manifest.
        manifest: String,
    },
    /// A data file key that would be read from outside the report's destination.
    #[error("inventory data file key `{key}` in `{manifest}` is outside the report's destination `{scope}`: data files are read only under it (absolute keys, `..` and links out of it are refused)")]
    KeyOutsideDestination {
        /// Key in the manifest.
        key: String,
        /// Manifest.
        manifest: String,
        /// The destination folder or `s3://` prefix.
        scope: String,
    },
    /// A data file that cannot be decoded at all (corrupt gzip, not Parquet, not ORC).
    #[error("failed to read inventory data file `{location}`: {reason}")]
    BadDataFile {
        /// Data file.
        location: String,
        /// Why.
        reason: String,
    },
    /// The rows of a snapshot's data files could not be combined into one sorted batch.
    #[error("failed to combine the data files of `{location}`")]
    Combine {
        /// Manifest.
        location: String,
        /// Why.
        #[source]
        source: ArrowError,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    source_bucket: String,
    destination_bucket: String,
    #[allow(dead_code)]
    version: Option<String>,
    creation_timestamp: serde_json::Value,
    file_format: String,
    file_schema: String,
    files: Vec<RawFile>,
}

#[derive(Debug, Deserialize)]
struct RawFile {
    key: String,
    size: Option<u64>,
    #[serde(rename = "MD5checksum")]
    md5: String,
}

/// A verified manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Where it was read.
    pub location: Location,
    /// MD5 hex of its bytes.
    pub md5: String,
    /// Source bucket.
    pub source_bucket: String,
    /// Snapshot time (ms since epoch).
    pub created_ms: i64,
    /// `CSV`, `Parquet` or `ORC`.
    pub format: String,
    /// CSV column names in order (empty for Parquet and ORC).
    pub csv_columns: Vec<String>,
    /// Data files: (location, key, expected md5, size).
    pub files: Vec<(Location, String, String, Option<u64>)>,
}

impl Manifest {
    /// Snapshot date `YYYY-MM-DD` (UTC) from `creationTimestamp`.
    pub fn snapshot_date(&self) -> String {
        crate::ingest::tables::day_string(self.created_ms.div_euclid(86_400_000) as i32)
    }
}

/// The last millisecond of 9999-12-31 (UTC), the latest `creationTimestamp` accepted.
const MAX_CREATED_MS: i64 = 253_402_300_799_999;

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn sibling(loc: &Location, name: &str) -> Location {
    match loc {
        Location::Local(p) => Location::Local(p.with_file_name(name)),
        Location::S3 { bucket, key } => {
            let dir = key
                .rsplit_once('/')
                .map(|(d, _)| format!("{d}/"))
                .unwrap_or_default();
            Location::S3 {
                bucket: bucket.clone(),
                key: format!("{dir}{name}"),
            }
        }
    }
}

/// A data file key as S3 writes them: relative, without `.` or `..` components.
fn key_is_relative(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('/')
        && !key.contains('\\')
        && key.split('/').all(|c| c != ".." && c != ".")
}

/// Where an inventory's data files may be: under the report's configuration folder, the parent
/// of its `YYYY-MM-DDTHH-MMZ/` folder (`destination-prefix/source-bucket/config-ID/`), in the
/// manifest's own bucket or directory. Nothing else is ever read for a manifest.
#[derive(Debug)]
enum Scope {
    /// A canonical local directory.
    Local(PathBuf),
    /// A bucket and key prefix (empty: the whole bucket).
    S3 { bucket: String, prefix: String },
}

impl Scope {
    fn of(manifest: &Location) -> Scope {
        match manifest {
            Location::Local(p) => {
                let dir = p.parent().map_or_else(|| p.clone(), Path::to_path_buf);
                let config = dir.parent().map_or(dir.clone(), Path::to_path_buf);
                Scope::Local(std::fs::canonicalize(&config).unwrap_or(config))
            }
            Location::S3 { bucket, key } => {
                let mut parts: Vec<&str> = key.split('/').collect();
                parts.truncate(parts.len().saturating_sub(2));
                let prefix = if parts.is_empty() {
                    String::new()
                } else {
                    format!("{}/", parts.join("/"))
                };
                Scope::S3 {
                    bucket: bucket.clone(),
                    prefix,
                }
            }
        }
    }

    /// Whether a path lies in the scope, by its components (before resolving links).
    fn contains(&self, p: &Path) -> bool {
        matches!(self, Scope::Local(dir) if p.starts_with(dir))
    }

    /// Whether a data file lies in the scope once links are resolved.
    fn contains_resolved(&self, loc: &Location) -> bool {
        match (self, loc) {
            (Scope::Local(dir), Location::Local(p)) => {
                p.starts_with(dir) && std::fs::canonicalize(p).map_or(true, |c| c.starts_with(dir))
            }
            (Scope::S3 { bucket, prefix }, Location::S3 { bucket: b, key }) => {
                b == bucket && key.starts_with(prefix.as_str())
            }
            _ => false,
        }
    }

    fn outside(&self, key: &str, manifest: &str) -> InventoryError {
        InventoryError::KeyOutsideDestination {
            key: key.to_owned(),
            manifest: manifest.to_owned(),
            scope: match self {
                Scope::Local(dir) => dir.display().to_string(),
                Scope::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            },
        }
    }
}

/// A `manifest.json` parsed and checked, before any data file is looked for.
#[derive(Debug)]
struct Parsed {
    raw: RawManifest,
    created_ms: i64,
    csv_columns: Vec<String>,
}

/// Parses `manifest.json` (`shown` names it in errors): its fields, a `creationTimestamp` of
/// 1970-01-01 .. 9999-12-31, a `fileFormat` of CSV, Parquet or ORC. Pure: no I/O.
fn parse_manifest(bytes: &[u8], shown: &str) -> Result<Parsed, InventoryError> {
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| InventoryError::BadManifest {
            location: shown.to_owned(),
            reason: e.to_string(),
        })?;
    let created_ms = match &raw.creation_timestamp {
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| InventoryError::BadManifest {
        location: shown.to_owned(),
        reason: "`creationTimestamp` is not epoch milliseconds".into(),
    })?;
    // A snapshot is dated 1970-01-01 .. 9999-12-31 (UTC): anything else is not an S3 Inventory
    // report, and would name a partition `snapshot=1969-12-31` or `snapshot=+10000-01-01`.
    if !(0..=MAX_CREATED_MS).contains(&created_ms) {
        return Err(InventoryError::BadManifest {
            location: shown.to_owned(),
            reason: format!(
                "`creationTimestamp` {created_ms} is outside 1970-01-01 .. 9999-12-31 (epoch milliseconds)"
            ),
        });
    }
    let csv_columns = match raw.file_format.as_str() {
        "CSV" => raw
            .file_schema
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
        "Parquet" | "ORC" => Vec::new(),
        other => {
            return Err(InventoryError::BadManifest {
                location: shown.to_owned(),
                reason: format!("unknown `fileFormat` `{other}` (expected CSV, Parquet or ORC)"),
            })
        }
    };
    Ok(Parsed {
        raw,
        created_ms,
        csv_columns,
    })
}

/// Reads and verifies a manifest; locates its data files.
pub fn load_manifest(storage: &Storage, spec: &str) -> Result<Manifest, InventoryError> {
    let location = if spec.starts_with("s3://") {
        let (bucket, key) = crate::storage::parse_s3_uri(spec)?;
        Location::S3 { bucket, key }
    } else {
        let p = Path::new(spec);
        let canon = std::fs::canonicalize(p).map_err(|source| {
            StorageError::Io(crate::io::IoError {
                op: "failed to open",
                path: p.to_owned(),
                source,
            })
        })?;
        Location::Local(canon)
    };
    let shown = location.to_string();
    let bytes = storage.read_all(&location)?;
    let actual = md5_hex(&bytes);
    let checksum_loc = sibling(&location, "manifest.checksum");
    let expected = match storage.read_all(&checksum_loc) {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_ascii_lowercase(),
        Err(_) => return Err(InventoryError::MissingChecksum(shown)),
    };
    if expected != actual {
        return Err(InventoryError::ManifestChecksum {
            location: shown,
            expected,
            actual,
        });
    }
    let Parsed {
        raw,
        created_ms,
        csv_columns,
    } = parse_manifest(&bytes, &shown)?;
    let format = raw.file_format.clone();
    let scope = Scope::of(&location);
    for f in &raw.files {
        if !key_is_relative(&f.key) {
            return Err(scope.outside(&f.key, &shown));
        }
    }
    let dest_bucket = raw
        .destination_bucket
        .strip_prefix("arn:aws:s3:::")
        .unwrap_or(&raw.destination_bucket);
    if let Location::S3 { bucket, .. } = &location {
        if bucket != dest_bucket {
            tracing::warn!(manifest = %shown, destination_bucket = dest_bucket, "the manifest's `destinationBucket` is not the bucket it was read from; reading its data files from the latter");
        }
    }
    let local_root: Option<PathBuf> = match &location {
        Location::Local(p) => match raw.files.first() {
            None => None,
            Some(f) => Some(
                p.ancestors()
                    .skip(1)
                    .find(|a| scope.contains(&a.join(&f.key)) && a.join(&f.key).is_file())
                    .map(Path::to_path_buf)
                    .ok_or_else(|| InventoryError::DataFileNotFound {
                        key: f.key.clone(),
                        manifest: shown.clone(),
                    })?,
            ),
        },
        Location::S3 { .. } => None,
    };
    let mut files = Vec::with_capacity(raw.files.len());
    for f in &raw.files {
        let loc = match (&local_root, &location) {
            (Some(root), _) => Location::Local(root.join(&f.key)),
            (None, Location::S3 { bucket, .. }) => Location::S3 {
                bucket: bucket.clone(),
                key: f.key.clone(),
            },
            (None, Location::Local(_)) => {
                return Err(InventoryError::DataFileNotFound {
                    key: f.key.clone(),
                    manifest: shown,
                })
            }
        };
        if !scope.contains_resolved(&loc) {
            return Err(scope.outside(&f.key, &shown));
        }
        if !storage.exists(&loc) {
            return Err(InventoryError::DataFileNotFound {
                key: f.key.clone(),
                manifest: shown,
            });
        }
        files.push((loc, f.key.clone(), f.md5.to_ascii_lowercase(), f.size));
    }
    Ok(Manifest {
        location,
        md5: actual,
        source_bucket: raw.source_bucket,
        created_ms,
        format,
        csv_columns,
        files,
    })
}
/// The inventory rows of `batches` as one batch sorted by digest, bucket, key, version id
/// (rows without a digest first), each object (bucket, key, version id) once: the first of its
/// rows in data-file and line order. Returns the batch and the number of rows dropped.
pub fn sort_dedup(batches: Vec<RecordBatch>) -> Result<(RecordBatch, u64), ArrowError> {
    use arrow::array::UInt64Array;
    use arrow::compute::{
        concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch, SortColumn,
    };
    let all = concat_batches(&schema::inventory(), &batches)?;
    drop(batches);
    let col = |name: &str| -> Result<ArrayRef, ArrowError> {
        Ok(Arc::clone(all.column(all.schema().index_of(name)?)))
    };
    let order: ArrayRef = Arc::new(UInt64Array::from_iter_values(0..all.num_rows() as u64));
    let mut cols = ["digest", "bucket", "key", "version_id"]
        .into_iter()
        .map(|n| {
            Ok(SortColumn {
                values: col(n)?,
                options: None,
            })
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    // Ties keep their input order, so that the first copy of an object is the one kept.
    cols.push(SortColumn {
        values: order,
        options: None,
    });
    let idx = lexsort_to_indices(&cols, None)?;
    let sorted = take_record_batch(&all, &idx)?;
    drop(all);
    let strings = |name: &str| -> Result<ArrayRef, ArrowError> {
        Ok(Arc::clone(sorted.column(sorted.schema().index_of(name)?)))
    };
    let (bucket, key, version) = (strings("bucket")?, strings("key")?, strings("version_id")?);
    let (bucket, key, version) = (
        bucket.as_string::<i32>(),
        key.as_string::<i32>(),
        version.as_string::<i32>(),
    );
    let same = |i: usize, j: usize| {
        bucket.value(i) == bucket.value(j)
            && key.value(i) == key.value(j)
            && version.is_null(i) == version.is_null(j)
            && (version.is_null(i) || version.value(i) == version.value(j))
    };
    let keep: BooleanArray = (0..sorted.num_rows())
        .map(|i| Some(i == 0 || !same(i - 1, i)))
        .collect();
    let dropped = keep.false_count() as u64;
    if dropped == 0 {
        return Ok((sorted, 0));
    }
    Ok((filter_record_batch(&sorted, &keep)?, dropped))
}

/// `format` of the `_rejects` rows of CSV data files.
const CSV_FORMAT: &str = "inventory-csv";
/// `format` of the `_rejects` rows of Parquet data files (`line` is the 1-based row number).
const PARQUET_FORMAT: &str = "inventory-parquet";

/// One data file read: its valid rows and its quarantined ones.
#[derive(Debug)]
pub struct DataFile {
    /// Valid rows.
    pub batch: RecordBatch,
    /// Quarantined rows (all counted, the first ones kept).
    pub rejects: Rejects,
    /// Valid rows read.
    pub rows: u64,
}

/// Reads one CSV data file (gzip, zstd or plain: recognised by content). Lines longer than
/// [`MAX_LINE`] are quarantined as `too_long` by their first [`RAW_MAX`] bytes; memory does not
/// grow with the decompressed size. An `Err` is a stream that cannot be decompressed.
pub fn read_csv(
    bytes: Vec<u8>,
    schema: &CsvSchema,
    source_bucket: &str,
    layout: &Layout,
) -> std::io::Result<DataFile> {
    let text = crate::storage::decompressing(Box::new(std::io::Cursor::new(bytes)))?;
    let mut lines = Lines::new(std::io::BufReader::with_capacity(1 << 16, text), MAX_LINE);
    let mut fields = Fields::default();
    let mut b = Builders::new();
    let mut rejects = Rejects::default();
    while let Some((line_no, line)) = lines.next_line()? {
        match line {
            Line::TooLong { prefix, len } => {
                rejects.push(CSV_FORMAT, line_no, RowReject::TooLong, prefix, len);
            }
            Line::Whole([]) => {}
            Line::Whole(l) => {
                match fields
                    .split(l)
                    .and_then(|()| csv_row(schema, &fields, source_bucket))
                {
                    Ok(r) => b.push(&r, layout),
                    Err(why) => rejects.push(CSV_FORMAT, line_no, why, l, l.len() as u64),
                }
            }
        }
    }
    let rows = b.n;
    Ok(DataFile {
        batch: b.finish(),
        rejects,
        rows,
    })
}

/// Reads one Parquet data file. An `Err` is a file that is not Parquet, one whose metadata
/// points outside it, or a column whose type cannot be read as the table's; a value that does not
/// fit rejects its row.
///
/// The Parquet reader is not written for hostile input: it asserts on some corrupt metadata
/// (found by `fuzz::parquet_mutated`). Column chunk ranges are checked before any is read, and a
/// panic left in the reader is caught and becomes an `Err` naming it, never an abort of ingest.
pub fn read_parquet(
    bytes: Vec<u8>,
    source_bucket: &str,
    layout: &Layout,
) -> Result<DataFile, String> {
    guarded("Parquet", || {
        read_parquet_unguarded(bytes, source_bucket, layout)
    })
}

/// Runs a third-party file reader, turning a panic left in it into an `Err` that names the
/// reader and the panic's message (the default hook still prints it to stderr).
fn guarded(
    reader: &str,
    read: impl FnOnce() -> Result<DataFile, String>,
) -> Result<DataFile, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("the {reader} reader failed on it: {what}"))
    })
}

/// Every column chunk of `meta` lies inside a file of `len` bytes.
fn check_chunk_ranges(
    meta: &parquet::file::metadata::ParquetMetaData,
    len: u64,
) -> Result<(), String> {
    for (g, rg) in meta.row_groups().iter().enumerate() {
        for (c, col) in rg.columns().iter().enumerate() {
            let start = col
                .dictionary_page_offset()
                .unwrap_or_else(|| col.data_page_offset());
            let size = col.compressed_size();
            let inside = u64::try_from(start)
                .ok()
                .zip(u64::try_from(size).ok())
                .and_then(|(s, n)| s.checked_add(n))
                .is_some_and(|end| end <= len);
            if !inside {
                return Err(format!(
                    "row group {g} column {c}: chunk at offset {start} of {size} bytes is outside the file ({len} bytes)"
                ));
            }
        }
    }
    Ok(())
}

fn read_parquet_unguarded(
    bytes: Vec<u8>,
    source_bucket: &str,
    layout: &Layout,
) -> Result<DataFile, String> {
    let len = bytes.len() as u64;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .map_err(|e| e.to_string())?;
    check_chunk_ranges(builder.metadata(), len)?;
    let reader = builder
        .with_batch_size(65_536)
        .build()
        .map_err(|e| e.to_string())?;
    let batches = reader.map(|batch| batch.map_err(|e| e.to_string()));
    check_batches(batches, PARQUET_FORMAT, source_bucket, layout)
}

/// The rows of a Parquet or ORC data file's record batches, checked field by field in file
/// order: good rows into the table, the others quarantined under `format` with their 1-based
/// row number. An `Err` batch, or a column of the wrong type, fails the file.
fn check_batches(
    batches: impl Iterator<Item = Result<RecordBatch, String>>,
    format: &'static str,
    source_bucket: &str,
    layout: &Layout,
) -> Result<DataFile, String> {
    let mut b = Builders::new();
    let mut rejects = Rejects::default();
    let mut row_no = 0u64;
    for batch in batches {
        let batch = batch?;
        let cols = ParquetBatch::new(&batch)?;
        for i in 0..batch.num_rows() {
            row_no += 1;
            match cols.row(i, source_bucket) {
                Ok(r) => b.push(&r, layout),
                Err(why) => {
                    let raw = rows::parquet_raw(&batch, i);
                    rejects.push(format, row_no, why, raw.as_bytes(), raw.len() as u64);
                }
            }
        }
    }
    let rows = b.n;
    Ok(DataFile {
        batch: b.finish(),
        rejects,
        rows,
    })
}

/// Reads and verifies one data file (`m.files[idx]`).
pub fn read_data_file(
    storage: &Storage,
    m: &Manifest,
    idx: usize,
    layout: &Layout,
) -> Result<DataFile, InventoryError> {
    let (loc, _key, expected, _size) = &m.files[idx];
    let bytes = storage.read_all(loc)?;
    let actual = md5_hex(&bytes);
    if &actual != expected {
        return Err(InventoryError::DataChecksum {
            location: loc.to_string(),
            expected: expected.clone(),
            actual,
        });
    }
    let bad = |reason: String| InventoryError::BadDataFile {
        location: loc.to_string(),
        reason,
    };
    match m.format.as_str() {
        "CSV" => read_csv(
            bytes,
            &CsvSchema::new(&m.csv_columns),
            &m.source_bucket,
            layout,
        )
        .map_err(|e| bad(e.to_string())),
        "ORC" => orc::read_orc(bytes, &m.source_bucket, layout).map_err(bad),
        _ => read_parquet(bytes, &m.source_bucket, layout).map_err(bad),
    }
}

/// What one data file of a snapshot gave (its ledger record).
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    /// Key in the manifest.
    pub key: String,
    /// MD5 from the manifest (verified).
    pub md5: String,
    /// Valid rows read (before duplicates are dropped).
    pub rows: u64,
    /// Rows quarantined.
    pub rejects: u64,
    /// Rows quarantined whose text was stored in `_rejects` (the first 100,000).
    pub rejects_stored: u64,
    /// Rows quarantined, by reason code.
    pub reject_reasons: BTreeMap<&'static str, u64>,
}

/// The first row quarantined in a snapshot, to name in its refusal.
#[derive(Debug, Clone)]
struct FirstReject {
    file: String,
    line: u64,
    reason: &'static str,
}

/// One inventory snapshot, every data file read.
#[derive(Debug)]
pub struct Snapshot {
    /// `source-bucket@snapshot-date`.
    pub key: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its rows, each object once, sorted by [`sort_dedup`].
    pub batch: RecordBatch,
    /// Stored quarantined rows by data file location.
    pub rejects: Vec<(String, Vec<RejectRow>)>,
    /// Per data file.
    pub files: Vec<FileRecord>,
    /// Valid rows read, copies included.
    pub rows_read: u64,
    /// Rows kept (in `batch`).
    pub rows: u64,
    /// Blob rows kept.
    pub blobs: u64,
    /// Copies of an object dropped (same bucket, key and version id).
    pub duplicates: u64,
    /// Rows quarantined.
    pub rejected: u64,
    /// Rows quarantined, by reason code.
    pub reject_reasons: BTreeMap<&'static str, u64>,
    first_reject: Option<FirstReject>,
}

impl Snapshot {
    /// Rejected rows over every row read.
    pub fn reject_ratio(&self) -> f64 {
        let seen = self.rows_read + self.rejected;
        if seen == 0 {
            0.0
        } else {
            self.rejected as f64 / seen as f64
        }
    }

    /// Whether the snapshot must not be committed: rows were rejected and none kept, or the
    /// reject ratio is over `max_bad_ratio`. (A report without any row, of an empty bucket, is
    /// accepted.)
    pub fn refused(&self, max_bad_ratio: f64) -> bool {
        self.rejected > 0 && (self.rows_read == 0 || self.reject_ratio() > max_bad_ratio)
    }

    /// The three most frequent reject reasons, most frequent first.
    pub fn top_reasons(&self) -> Vec<(String, u64)> {
        let mut top: Vec<(String, u64)> = self
            .reject_reasons
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(3);
        top
    }

    /// The snapshot's ledger record.
    pub fn ledger_record(&self) -> serde_json::Value {
        let m = &self.manifest;
        serde_json::json!({
            "kind": "inventory",
            "location": m.location.to_string(),
            "manifest_md5": m.md5,
            "source_bucket": m.source_bucket,
            "snapshot": m.snapshot_date(),
            "created_ms": m.created_ms,
            "file_format": m.format,
            "files": self.files,
            "rows": self.rows,
            "blobs": self.blobs,
            "duplicates": self.duplicates,
            "rejects": self.rejected,
            "reject_reasons": self.reject_reasons,
        })
    }
}

/// Reads every data file of manifest `m` into one snapshot.
pub fn read_snapshot(
    storage: &Storage,
    key: String,
    manifest: Manifest,
    layout: &Layout,
    progress: &Progress,
) -> Result<Snapshot, InventoryError> {
    let mut batches = Vec::with_capacity(manifest.files.len());
    let mut files = Vec::with_capacity(manifest.files.len());
    let mut rejects = Vec::new();
    let mut reject_reasons: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut rows_read, mut rejected) = (0, 0);
    let mut first_reject = None;
    progress.inc_total(manifest.files.len() as u64);
    for (i, (location, file_key, md5, _)) in manifest.files.iter().enumerate() {
        let df = read_data_file(storage, &manifest, i, layout)?;
        progress.inc(1);
        let loc = location.to_string();
        tracing::debug!(file = %loc, rows = df.rows, rejects = df.rejects.total, "read inventory data file");
        rows_read += df.rows;
        rejected += df.rejects.total;
        for (reason, n) in &df.rejects.by_reason {
            *reject_reasons.entry(reason).or_default() += n;
        }
        if let (None, Some(r)) = (&first_reject, df.rejects.stored.first()) {
            first_reject = Some(FirstReject {
                file: loc.clone(),
                line: r.line,
                reason: r.reason,
            });
        }
        files.push(FileRecord {
            key: file_key.clone(),
            md5: md5.clone(),
            rows: df.rows,
            rejects: df.rejects.total,
            rejects_stored: df.rejects.stored.len() as u64,
            reject_reasons: df.rejects.by_reason,
        });
        if !df.rejects.stored.is_empty() {
            rejects.push((loc, df.rejects.stored));
        }
        batches.push(df.batch);
    }
    let (batch, duplicates) = sort_dedup(batches).map_err(|source| InventoryError::Combine {
        location: manifest.location.to_string(),
        source,
    })?;
    let blobs = batch
        .column_by_name("digest")
        .map_or(0, |d| (d.len() - d.null_count()) as u64);
    Ok(Snapshot {
        key,
        rows: batch.num_rows() as u64,
        manifest,
        batch,
        rejects,
        files,
        rows_read,
        blobs,
        duplicates,
        rejected,
        reject_reasons,
        first_reject,
    })
}

/// Reads each new inventory snapshot (`bucket@date`, manifest) and keeps those that may be
/// committed. A refused one (see [`Snapshot::refused`]) is logged as an error naming its
/// manifest and its first rejected row (file, line, reason), listed in `metrics.bad_files` (the
/// run exits 1) and with the status `refused:too_many_rejects`; nothing of it is returned, so
/// nothing of it is staged or recorded in the ledger.
pub(crate) fn read_new(
    kept: Vec<(String, Manifest)>,
    storage: &Storage,
    cfg: &IngestConfig,
    progress: &Progress,
    metrics: &mut IngestMetrics,
) -> Result<Vec<Snapshot>, InventoryError> {
    let mut out = Vec::with_capacity(kept.len());
    for (key, m) in kept {
        let snap = read_snapshot(storage, key, m, &cfg.layout, progress)?;
        let location = snap.manifest.location.to_string();
        if snap.refused(cfg.max_bad_ratio) {
            let first = snap.first_reject.clone();
            let (file, line, reason) = first
                .as_ref()
                .map_or(("", 0, ""), |f| (f.file.as_str(), f.line, f.reason));
            tracing::error!(
                manifest = %location,
                rows = snap.rows_read,
                rejected = snap.rejected,
                ratio = snap.reject_ratio(),
                max_bad_ratio = cfg.max_bad_ratio,
                "inventory not ingested: {} of {} rows rejected (first: `{file}` line {line}: {reason}); nothing of it was committed",
                snap.rejected,
                snap.rows_read + snap.rejected,
            );
            metrics.bad_files.push(BadFile {
                location: location.clone(),
                ratio: snap.reject_ratio(),
                top_reasons: snap.top_reasons(),
            });
            metrics.inputs.push(InputSummary {
                location,
                format: "inventory".into(),
                status: "refused:too_many_rejects".into(),
                counts: None,
            });
            continue;
        }
        if snap.duplicates > 0 {
            tracing::warn!(manifest = %location, duplicates = snap.duplicates, "inventory rows listed more than once; each object kept once");
        }
        out.push(snap);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Fields {
        let mut f = Fields::default();
        f.split(line.as_bytes()).unwrap();
        f
    }

    fn dandi() -> CsvSchema {
        let cols: Vec<String> = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, IsMultipartUploaded"
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        CsvSchema::new(&cols)
    }

    #[test]
    fn real_dandi_rows() {
        // Rows from tests/fixtures/samples/s3-inventory/dandiarchive-inventory-rows.csv (MIT).
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/samples/s3-inventory/dandiarchive-inventory-rows.csv"
        ))
        .unwrap();
        let mut lines = text.lines();
        let mut next = || csv_row(&dandi(), &fields(lines.next().unwrap()), "dandiarchive");
        let r = next().unwrap();
        assert_eq!(r.bucket, "dandiarchive");
        assert_eq!(r.size, Some(1511723));
        assert_eq!(r.etag.as_deref(), Some("627c47efe292876b91978324485cd2ec"));
        assert!(r.is_latest && !r.is_delete_marker);
        let dm = next().unwrap();
        assert!(dm.is_delete_marker && !dm.is_latest);
        assert_eq!(dm.size, None);
        let enc = next().unwrap();
        assert!(enc.key.contains("dt=2024-05-07-01-00"), "{}", enc.key);
    }

    #[test]
    fn bad_rows_are_rejected_by_the_field_that_is_wrong() {
        let row = |v: [&str; 9]| format!("\"{}\"", v.join("\",\""));
        let good = [
            "b",
            "k",
            "v",
            "true",
            "false",
            "1",
            "2022-12-12T13:20:39.000Z",
            "e",
            "false",
        ];
        let check = |i: usize, value: &str| {
            let mut v = good;
            v[i] = value;
            csv_row(&dandi(), &fields(&row(v)), "b")
        };
        assert!(check(0, "b").is_ok());
        let cases: [(usize, &str, RowReject); 11] = [
            (0, "other-bucket", RowReject::BadBucket),
            (1, "", RowReject::BadKey),
            (1, "%FF%FE", RowReject::BadKey),
            (3, "maybe", RowReject::BadFlag),
            (4, "1", RowReject::BadFlag),
            (5, "-5", RowReject::BadSize),
            (5, "abc", RowReject::BadSize),
            (5, "1.5", RowReject::BadSize),
            (6, "yesterday", RowReject::BadTimestamp),
            (6, "1969-12-31T23:59:59.000Z", RowReject::BadTimestamp),
            (6, "0000-01-01T00:00:00.000Z", RowReject::BadTimestamp),
        ];
        for (i, value, want) in cases {
            assert_eq!(check(i, value), Err(want), "field {i} = {value:?}");
        }
        assert_eq!(
            csv_row(&dandi(), &fields("\"b\",\"k\""), "b"),
            Err(RowReject::TooFewFields)
        );
        let mut ten = good.to_vec();
        ten.push("extra");
        assert_eq!(
            csv_row(
                &dandi(),
                &fields(&format!("\"{}\"", ten.join("\",\""))),
                "b"
            ),
            Err(RowReject::TooManyFields)
        );
        for code in RowReject::ALL {
            assert!(!code.code().is_empty());
        }
    }

    #[test]
    fn csv_fields_follow_rfc_4180_quoting() {
        let split = |line: &str| -> Result<Vec<String>, RowReject> {
            let mut f = Fields::default();
            f.split(line.as_bytes())?;
            Ok((0..f.len())
                .map(|i| String::from_utf8_lossy(f.get(i)).into_owned())
                .collect())
        };
        assert_eq!(split("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split("\"a,b\",\"say \"\"hi\"\"\",").unwrap(),
            ["a,b", "say \"hi\"", ""]
        );
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split("\"\"").unwrap(), [""]);
        assert_eq!(split("\"unterminated"), Err(RowReject::BadQuoting));
        assert_eq!(split("\"a\"b,c"), Err(RowReject::BadQuoting));
        assert_eq!(split("a\"b,c"), Err(RowReject::BadQuoting));
    }

    fn standard() -> CsvSchema {
        CsvSchema::new(
            &[
                "Bucket",
                "Key",
                "Size",
                "LastModifiedDate",
                "ETag",
                "StorageClass",
            ]
            .map(String::from),
        )
    }

    fn csv_line(key: &str, size: &str) -> String {
        format!("\"b\",\"{key}\",\"{size}\",\"2025-06-01T00:00:00.000Z\",\"e\",\"STANDARD\"\n")
    }

    #[test]
    fn a_csv_data_file_keeps_valid_rows_and_quarantines_the_rest_by_line() {
        let mut text = csv_line("a", "1");
        text.push('\n');
        text.push_str(&csv_line("b", "-1"));
        text.push_str("\"b\",\"c\"\r\n");
        text.push_str(&csv_line("d", "4").replace('\n', "\r\n"));
        let df = read_csv(text.into_bytes(), &standard(), "b", &Layout::default()).unwrap();
        assert_eq!(df.rows, 2);
        let got: Vec<(u64, &str, &str, u64)> = df
            .rejects
            .stored
            .iter()
            .map(|r| (r.line, r.reason, r.raw.as_str(), r.raw_len))
            .collect();
        let bad = csv_line("b", "-1");
        let bad = bad.trim_end();
        assert_eq!(
            got,
            vec![
                (3, "bad_size", bad, bad.len() as u64),
                (4, "too_few_fields", "\"b\",\"c\"", 7),
            ]
        );
        assert_eq!(df.rejects.total, 2);
    }

    #[test]
    fn a_line_over_the_limit_is_one_too_long_reject_by_its_prefix() {
        let mut text = csv_line("a", "1");
        let long = "x".repeat(MAX_LINE + 10);
        text.push_str(&long);
        text.push('\n');
        text.push_str(&csv_line("c", "3"));
        let df = read_csv(text.into_bytes(), &standard(), "b", &Layout::default()).unwrap();
        assert_eq!(df.rows, 2);
        let r = &df.rejects.stored[0];
        assert_eq!(
            (r.line, r.reason, r.raw_len),
            (2, "too_long", long.len() as u64)
        );
        assert_eq!(r.raw.len(), RAW_MAX);
    }

    fn batch_of(keys: &[(&str, Option<&str>, i64)]) -> RecordBatch {
        let mut b = Builders::new();
        for (key, version, size) in keys {
            b.push(
                &Row {
                    bucket: "b".into(),
                    key: (*key).into(),
                    version_id: version.map(String::from),
                    size: Some(*size),
                    ..Default::default()
                },
                &Layout::default(),
            );
        }
        b.finish()
    }

    #[test]
    fn duplicate_objects_are_kept_once_the_first_copy() {
        let a = batch_of(&[("k1", None, 1), ("k2", None, 2), ("k1", None, 10)]);
        let b = batch_of(&[("k2", None, 20), ("k3", None, 3), ("k3", Some("v"), 4)]);
        let (sorted, dropped) = sort_dedup(vec![a, b]).unwrap();
        assert_eq!(dropped, 2);
        let keys = sorted
            .column_by_name("key")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let sizes = sorted
            .column_by_name("size")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>()
            .clone();
        let got: Vec<(&str, i64)> = (0..sorted.num_rows())
            .map(|i| (keys.value(i), sizes.value(i)))
            .collect();
        assert_eq!(got, vec![("k1", 1), ("k2", 2), ("k3", 3), ("k3", 4)]);
        let (_, none) = sort_dedup(vec![batch_of(&[])]).unwrap();
        assert_eq!(none, 0);
    }

    /// A small Parquet data file of three rows, as the fuzz targets write them.
    fn small_parquet() -> Vec<u8> {
        use arrow::array::{Int64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("bucket", DataType::Utf8, true),
            Field::new("key", DataType::Utf8, true),
            Field::new("size", DataType::Int64, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("b"), Some("b"), None])),
            Arc::new(StringArray::from(vec![Some("k1"), None, Some("k3")])),
            Arc::new(Int64Array::from(vec![Some(1), Some(-2), None])),
        ];
        let batch = RecordBatch::try_new(schema, cols).unwrap();
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        buf
    }

    /// Found by `fuzz::parquet_mutated`: one corrupt byte in a Parquet data file made the
    /// Parquet reader panic (`column start and length should not be negative` on a negative
    /// chunk offset in the footer, `offset + len out of bounds` in arrow-buffer on a corrupt
    /// page), aborting ingest with exit 101. Every one-byte corruption of a small data file is now
    /// read or refused with an error naming why.
    #[test]
    fn every_one_byte_corruption_of_a_parquet_data_file_is_an_error_not_a_panic() {
        let good = small_parquet();
        let df = read_parquet(good.clone(), "b", &Layout::default()).unwrap();
        assert_eq!((df.rows, df.rejects.total), (1, 2));
        let (mut read, mut refused) = (0, 0);
        for i in 0..good.len() {
            for byte in [0x00, 0x25, 0x7f, 0xff, good[i] ^ 0x01] {
                let mut bad = good.clone();
                bad[i] = byte;
                match read_parquet(bad, "b", &Layout::default()) {
                    Ok(_) => read += 1,
                    Err(e) => {
                        assert!(!e.is_empty());
                        refused += 1;
                    }
                }
            }
        }
        assert!(read > 0 && refused > 0, "{read} read, {refused} refused");
    }
}
