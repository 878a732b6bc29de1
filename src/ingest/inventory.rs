//! S3 Inventory reports: `manifest.json` (+ `manifest.checksum`) and its CSV (gzip) or
//! Parquet data files, verified (manifest MD5, each data file's MD5) and mapped to the
//! `inventory` table with each key classified by the registry storage layout.
//! ORC reports are refused with a clear error (no ORC reader is linked).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use md5::{Digest as _, Md5};
use serde::Deserialize;

use crate::ingest::event::Reject;
use crate::ingest::tables::RejectRow;
use crate::model::Layout;
use crate::storage::{Location, Storage, StorageError};

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
    /// ORC.
    #[error(
        "`{0}`: ORC inventory reports are not supported; configure the inventory as CSV or Parquet"
    )]
    OrcUnsupported(String),
    /// A data file that cannot be decoded at all (corrupt gzip, not Parquet).
    #[error("failed to read inventory data file `{location}`: {reason}")]
    BadDataFile {
        /// Data file.
        location: String,
        /// Why.
        reason: String,
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
    /// `CSV` or `Parquet`.
    pub format: String,
    /// CSV column names in order (empty for Parquet).
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
    let raw: RawManifest =
        serde_json::from_slice(&bytes).map_err(|e| InventoryError::BadManifest {
            location: shown.clone(),
            reason: e.to_string(),
        })?;
    let created_ms = match &raw.creation_timestamp {
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| InventoryError::BadManifest {
        location: shown.clone(),
        reason: "`creationTimestamp` is not epoch milliseconds".into(),
    })?;
    // A snapshot is dated 1970-01-01 .. 9999-12-31 (UTC): anything else is not an S3 Inventory
    // report, and would name a partition `snapshot=1969-12-31` or `snapshot=+10000-01-01`.
    if !(0..=MAX_CREATED_MS).contains(&created_ms) {
        return Err(InventoryError::BadManifest {
            location: shown,
            reason: format!(
                "`creationTimestamp` {created_ms} is outside 1970-01-01 .. 9999-12-31 (epoch milliseconds)"
            ),
        });
    }
    let format = raw.file_format.clone();
    let csv_columns = match format.as_str() {
        "CSV" => raw
            .file_schema
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
        "Parquet" => Vec::new(),
        "ORC" => return Err(InventoryError::OrcUnsupported(shown)),
        other => {
            return Err(InventoryError::BadManifest {
                location: shown,
                reason: format!("unknown `fileFormat` `{other}` (expected CSV, Parquet or ORC)"),
            })
        }
    };
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
/// (rows without a digest first).
pub fn sort_by_digest(batches: &[RecordBatch]) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::compute::{concat_batches, lexsort_to_indices, take_record_batch, SortColumn};
    let all = concat_batches(&inventory_schema(), batches)?;
    let key = |name: &str| -> Result<SortColumn, arrow::error::ArrowError> {
        let i = all.schema().index_of(name)?;
        Ok(SortColumn {
            values: Arc::clone(all.column(i)),
            options: None,
        })
    };
    let cols = ["digest", "bucket", "key", "version_id"]
        .into_iter()
        .map(key)
        .collect::<Result<Vec<_>, _>>()?;
    let idx = lexsort_to_indices(&cols, None)?;
    take_record_batch(&all, &idx)
}

/// Schema of `inventory/snapshot=…/part-*.parquet`.
pub fn inventory_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("version_id", DataType::Utf8, true),
        Field::new("is_latest", DataType::Boolean, false),
        Field::new("is_delete_marker", DataType::Boolean, false),
        Field::new("size", DataType::Int64, true),
        Field::new(
            "last_modified",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("etag", DataType::Utf8, true),
        Field::new("storage_class", DataType::Utf8, true),
        Field::new("intelligent_tiering_access_tier", DataType::Utf8, true),
        Field::new("digest", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("repo", DataType::Utf8, true),
        Field::new("encryption_status", DataType::Utf8, true),
        Field::new("is_multipart_uploaded", DataType::Boolean, true),
    ]))
}

/// One inventory row before layout mapping.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Row {
    /// Bucket.
    pub bucket: String,
    /// Key (decoded).
    pub key: String,
    /// Version id (`None` in current-version reports; `""` for null versions).
    pub version_id: Option<String>,
    /// Latest version (true in current-version reports).
    pub is_latest: bool,
    /// Delete marker.
    pub is_delete_marker: bool,
    /// Bytes.
    pub size: Option<i64>,
    /// µs since epoch.
    pub last_modified: Option<i64>,
    /// ETag.
    pub etag: Option<String>,
    /// Storage class.
    pub storage_class: Option<String>,
    /// Intelligent-Tiering access tier.
    pub it_tier: Option<String>,
    /// Encryption status.
    pub encryption: Option<String>,
    /// Multipart upload.
    pub multipart: Option<bool>,
}

struct Builders {
    bucket: StringBuilder,
    key: StringBuilder,
    version: StringBuilder,
    latest: BooleanBuilder,
    dm: BooleanBuilder,
    size: Int64Builder,
    lm: TimestampMicrosecondBuilder,
    etag: StringBuilder,
    class: StringBuilder,
    tier: StringBuilder,
    digest: StringBuilder,
    kind: StringBuilder,
    repo: StringBuilder,
    enc: StringBuilder,
    mpu: BooleanBuilder,
    n: usize,
}

impl Builders {
    fn new() -> Builders {
        Builders {
            bucket: StringBuilder::new(),
            key: StringBuilder::new(),
            version: StringBuilder::new(),
            latest: BooleanBuilder::new(),
            dm: BooleanBuilder::new(),
            size: Int64Builder::new(),
            lm: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            etag: StringBuilder::new(),
            class: StringBuilder::new(),
            tier: StringBuilder::new(),
            digest: StringBuilder::new(),
            kind: StringBuilder::new(),
            repo: StringBuilder::new(),
            enc: StringBuilder::new(),
            mpu: BooleanBuilder::new(),
            n: 0,
        }
    }

    fn push(&mut self, r: &Row, layout: &Layout) {
        let (kind, digest, repo) = layout.classify(&r.key);
        self.bucket.append_value(&r.bucket);
        self.key.append_value(&r.key);
        self.version.append_option(r.version_id.as_deref());
        self.latest.append_value(r.is_latest);
        self.dm.append_value(r.is_delete_marker);
        self.size.append_option(r.size);
        self.lm.append_option(r.last_modified);
        self.etag.append_option(r.etag.as_deref());
        self.class.append_option(r.storage_class.as_deref());
        self.tier.append_option(r.it_tier.as_deref());
        self.digest.append_option(digest.map(|d| d.to_string()));
        self.kind.append_value(kind.as_str());
        self.repo.append_option(repo);
        self.enc.append_option(r.encryption.as_deref());
        self.mpu.append_option(r.multipart);
        self.n += 1;
    }

    fn finish(mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.bucket.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.version.finish()),
            Arc::new(self.latest.finish()),
            Arc::new(self.dm.finish()),
            Arc::new(self.size.finish()),
            Arc::new(self.lm.finish()),
            Arc::new(self.etag.finish()),
            Arc::new(self.class.finish()),
            Arc::new(self.tier.finish()),
            Arc::new(self.digest.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.repo.finish()),
            Arc::new(self.enc.finish()),
            Arc::new(self.mpu.finish()),
        ];
        RecordBatch::try_new(inventory_schema(), cols).expect("columns match the inventory schema")
    }
}

/// One data file read: a batch of rows plus quarantined rows.
#[derive(Debug)]
pub struct DataFile {
    /// Rows.
    pub batch: RecordBatch,
    /// Bad rows.
    pub rejects: Vec<RejectRow>,
    /// Rows read (good ones).
    pub rows: u64,
    /// Blob rows.
    pub blobs: u64,
}

fn parse_bool(s: &str) -> Result<Option<bool>, Reject> {
    if s.is_empty() {
        return Ok(None);
    }
    if s.eq_ignore_ascii_case("true") {
        Ok(Some(true))
    } else if s.eq_ignore_ascii_case("false") {
        Ok(Some(false))
    } else {
        Err(Reject::BadNumber)
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Parses one CSV inventory record (columns named by `fileSchema`).
pub fn csv_row(cols: &[String], rec: &csv::ByteRecord, versioned: bool) -> Result<Row, Reject> {
    if rec.len() < cols.len() {
        return Err(Reject::TooFewFields);
    }
    let mut r = Row {
        is_latest: true,
        ..Default::default()
    };
    if versioned {
        r.version_id = Some(String::new());
    }
    for (name, raw) in cols.iter().zip(rec.iter()) {
        let v = std::str::from_utf8(raw).map_err(|_| Reject::BadUtf8)?;
        match name.as_str() {
            "Bucket" => r.bucket = v.to_string(),
            "Key" => {
                r.key = percent_encoding::percent_decode_str(v)
                    .decode_utf8()
                    .map_err(|_| Reject::BadUtf8)?
                    .into_owned();
            }
            "VersionId" => r.version_id = Some(v.to_string()),
            "IsLatest" => r.is_latest = parse_bool(v)?.unwrap_or(true),
            "IsDeleteMarker" => r.is_delete_marker = parse_bool(v)?.unwrap_or(false),
            "Size" => {
                r.size = if v.is_empty() {
                    None
                } else {
                    Some(v.parse().map_err(|_| Reject::BadNumber)?)
                }
            }
            "LastModifiedDate" => {
                r.last_modified = if v.is_empty() {
                    None
                } else {
                    Some(
                        chrono::DateTime::parse_from_rfc3339(v)
                            .map_err(|_| Reject::BadTimestamp)?
                            .timestamp_micros(),
                    )
                }
            }
            "ETag" => r.etag = non_empty(v),
            "StorageClass" => r.storage_class = non_empty(v),
            "IntelligentTieringAccessTier" => r.it_tier = non_empty(v),
            "EncryptionStatus" => r.encryption = non_empty(v),
            "IsMultipartUploaded" => r.multipart = parse_bool(v)?,
            _ => {}
        }
    }
    if r.bucket.is_empty() || r.key.is_empty() {
        return Err(Reject::TooFewFields);
    }
    Ok(r)
}

/// Reads one CSV (gzip or plain) data file.
pub fn read_csv(bytes: &[u8], cols: &[String], layout: &Layout) -> std::io::Result<DataFile> {
    let text = crate::storage::decompressing(Box::new(std::io::Cursor::new(bytes.to_vec())))?;
    let versioned = cols.iter().any(|c| c == "VersionId");
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut b = Builders::new();
    let mut rejects = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let mut line = 0u64;
    let mut blobs = 0;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                line = rec.position().map_or(line + 1, |p| p.line());
                match csv_row(cols, &rec, versioned) {
                    Ok(r) => {
                        blobs += u64::from(layout.blob_digest(&r.key).is_some());
                        b.push(&r, layout);
                    }
                    Err(reason) => rejects.push(RejectRow {
                        format: "inventory-csv",
                        line,
                        reason: reason.code(),
                        raw: rec
                            .iter()
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                            .collect::<Vec<_>>()
                            .join(","),
                    }),
                }
            }
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(std::io::Error::other(e.to_string()));
                }
                line += 1;
                rejects.push(RejectRow {
                    format: "inventory-csv",
                    line,
                    reason: Reject::BadQuoting.code(),
                    raw: e.to_string(),
                });
            }
        }
    }
    let rows = b.n as u64;
    Ok(DataFile {
        batch: b.finish(),
        rejects,
        rows,
        blobs,
    })
}

fn str_col(batch: &RecordBatch, name: &str) -> Result<Option<ArrayRef>, String> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(c) => arrow::compute::cast(c, &DataType::Utf8)
            .map(Some)
            .map_err(|e| format!("column `{name}`: {e}")),
    }
}

/// Reads one Parquet data file.
pub fn read_parquet(bytes: Vec<u8>, layout: &Layout) -> Result<DataFile, String> {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .map_err(|e| e.to_string())?;
    let reader = builder
        .with_batch_size(65_536)
        .build()
        .map_err(|e| e.to_string())?;
    let mut b = Builders::new();
    let mut blobs = 0;
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let s = |n: &str| str_col(&batch, n);
        let (bucket, key) = (
            s("bucket")?.ok_or("missing column `bucket`")?,
            s("key")?.ok_or("missing column `key`")?,
        );
        let (version, etag, class, tier, enc) = (
            s("version_id")?,
            s("e_tag")?,
            s("storage_class")?,
            s("intelligent_tiering_access_tier")?,
            s("encryption_status")?,
        );
        let boolean = |n: &str| -> Result<Option<ArrayRef>, String> {
            match batch.column_by_name(n) {
                None => Ok(None),
                Some(c) => arrow::compute::cast(c, &DataType::Boolean)
                    .map(Some)
                    .map_err(|e| format!("column `{n}`: {e}")),
            }
        };
        let (latest, dm, mpu) = (
            boolean("is_latest")?,
            boolean("is_delete_marker")?,
            boolean("is_multipart_uploaded")?,
        );
        let size = match batch.column_by_name("size") {
            None => None,
            Some(c) => Some(
                arrow::compute::cast(c, &DataType::Int64)
                    .map_err(|e| format!("column `size`: {e}"))?,
            ),
        };
        let lm = match batch.column_by_name("last_modified_date") {
            None => None,
            Some(c) => {
                let us = arrow::compute::cast(c, &DataType::Timestamp(TimeUnit::Microsecond, None))
                    .or_else(|_| {
                        // A plain int64 column holds milliseconds.
                        let ms = arrow::compute::cast(
                            c,
                            &DataType::Timestamp(TimeUnit::Millisecond, None),
                        )?;
                        arrow::compute::cast(&ms, &DataType::Timestamp(TimeUnit::Microsecond, None))
                    })
                    .map_err(|e| format!("column `last_modified_date`: {e}"))?;
                Some(arrow::compute::cast(&us, &DataType::Int64).map_err(|e| e.to_string())?)
            }
        };
        let get_s = |a: &Option<ArrayRef>, i: usize| -> Option<String> {
            a.as_ref().and_then(|a| {
                let a = a.as_string::<i32>();
                (!a.is_null(i)).then(|| a.value(i).to_string())
            })
        };
        let get_b = |a: &Option<ArrayRef>, i: usize| -> Option<bool> {
            a.as_ref().and_then(|a| {
                let a = a.as_boolean();
                (!a.is_null(i)).then(|| a.value(i))
            })
        };
        let get_i = |a: &Option<ArrayRef>, i: usize| -> Option<i64> {
            a.as_ref().and_then(|a| {
                let a = a.as_primitive::<Int64Type>();
                (!a.is_null(i)).then(|| a.value(i))
            })
        };
        let (bucket, key) = (Some(bucket), Some(key));
        for i in 0..batch.num_rows() {
            let r = Row {
                bucket: get_s(&bucket, i).unwrap_or_default(),
                key: get_s(&key, i).unwrap_or_default(),
                version_id: get_s(&version, i).or_else(|| version.as_ref().map(|_| String::new())),
                is_latest: get_b(&latest, i).unwrap_or(true),
                is_delete_marker: get_b(&dm, i).unwrap_or(false),
                size: get_i(&size, i),
                last_modified: get_i(&lm, i),
                etag: get_s(&etag, i),
                storage_class: get_s(&class, i),
                it_tier: get_s(&tier, i),
                encryption: get_s(&enc, i),
                multipart: get_b(&mpu, i),
            };
            blobs += u64::from(layout.blob_digest(&r.key).is_some());
            b.push(&r, layout);
        }
    }
    let rows = b.n as u64;
    Ok(DataFile {
        batch: b.finish(),
        rejects: Vec::new(),
        rows,
        blobs,
    })
}

/// Reads and verifies one data file.
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
        "CSV" => read_csv(&bytes, &m.csv_columns, layout).map_err(|e| bad(e.to_string())),
        _ => read_parquet(bytes, layout).map_err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> csv::ByteRecord {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let mut rec = csv::ByteRecord::new();
        r.read_byte_record(&mut rec).unwrap();
        rec
    }

    fn dandi_cols() -> Vec<String> {
        "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, IsMultipartUploaded"
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
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
        let r = csv_row(&dandi_cols(), &rec(lines.next().unwrap()), true).unwrap();
        assert_eq!(r.bucket, "dandiarchive");
        assert_eq!(r.size, Some(1511723));
        assert_eq!(r.etag.as_deref(), Some("627c47efe292876b91978324485cd2ec"));
        assert!(r.is_latest && !r.is_delete_marker);
        let dm = csv_row(&dandi_cols(), &rec(lines.next().unwrap()), true).unwrap();
        assert!(dm.is_delete_marker && !dm.is_latest);
        assert_eq!(dm.size, None);
        let enc = csv_row(&dandi_cols(), &rec(lines.next().unwrap()), true).unwrap();
        assert!(enc.key.contains("dt=2024-05-07-01-00"), "{}", enc.key);
    }

    #[test]
    fn bad_rows_are_rejected_with_codes() {
        let cols = dandi_cols();
        assert_eq!(
            csv_row(&cols, &rec("\"b\",\"k\""), true),
            Err(Reject::TooFewFields)
        );
        assert_eq!(
            csv_row(&cols, &rec("\"b\",\"k\",\"v\",\"maybe\",\"false\",\"1\",\"2022-12-12T13:20:39.000Z\",\"e\",\"false\""), true),
            Err(Reject::BadNumber)
        );
        assert_eq!(
            csv_row(
                &cols,
                &rec("\"b\",\"k\",\"v\",\"true\",\"false\",\"1\",\"yesterday\",\"e\",\"false\""),
                true
            ),
            Err(Reject::BadTimestamp)
        );
    }
}
