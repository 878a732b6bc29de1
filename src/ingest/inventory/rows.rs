//! Inventory data rows: one CSV line or one Parquet row → a validated [`Row`], or the reason
//! ([`RowReject`]) naming the field that is wrong.
//!
//! CSV: S3 writes one record per line (keys are URL-encoded, so no value holds a newline); a
//! line is split by RFC 4180 quoting into exactly the columns `fileSchema` names, no more, no
//! fewer. Parquet: each column is cast to the type the `inventory` table stores, and a value the
//! cast cannot represent rejects its row instead of becoming NULL.
//!
//! Invariants: every row kept belongs to the manifest's source bucket, has a non-empty key, a
//! size that is absent or ≥ 0 and a last-modified time in 1970-01-01 .. 9999-12-31 (UTC); a
//! value that does not parse is never stored as NULL or `""`. Pure: no I/O; never panics on
//! any input.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::model::Layout;

/// Why an inventory row was quarantined: the `reason_code` of its `_rejects` row. A small
/// fixed set; the value-level codes name the field that is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowReject {
    /// Fewer fields than `fileSchema` names.
    TooFewFields,
    /// More fields than `fileSchema` names.
    TooManyFields,
    /// An unterminated quote, a quote inside an unquoted field, or text after a closing quote.
    BadQuoting,
    /// A field that is not UTF-8 (other than `Key` and `Bucket`, which have their own codes).
    BadUtf8,
    /// A line longer than [`crate::ingest::event::MAX_LINE`]: quarantined by its prefix.
    TooLong,
    /// `Bucket` missing, or not the manifest's `sourceBucket`.
    BadBucket,
    /// `Key` missing, empty, or not decodable to UTF-8.
    BadKey,
    /// `Size` not a whole number, or negative.
    BadSize,
    /// `LastModifiedDate` not a timestamp, or outside 1970-01-01 .. 9999-12-31 (UTC).
    BadTimestamp,
    /// `IsLatest`, `IsDeleteMarker` or `IsMultipartUploaded` not `true` / `false`.
    BadFlag,
}

impl RowReject {
    /// Every code.
    pub const ALL: [RowReject; 10] = [
        RowReject::TooFewFields,
        RowReject::TooManyFields,
        RowReject::BadQuoting,
        RowReject::BadUtf8,
        RowReject::TooLong,
        RowReject::BadBucket,
        RowReject::BadKey,
        RowReject::BadSize,
        RowReject::BadTimestamp,
        RowReject::BadFlag,
    ];

    /// The value stored in the `reason_code` column.
    pub fn code(self) -> &'static str {
        match self {
            RowReject::TooFewFields => "too_few_fields",
            RowReject::TooManyFields => "too_many_fields",
            RowReject::BadQuoting => "bad_quoting",
            RowReject::BadUtf8 => "bad_utf8",
            RowReject::TooLong => "too_long",
            RowReject::BadBucket => "bad_bucket",
            RowReject::BadKey => "bad_key",
            RowReject::BadSize => "bad_size",
            RowReject::BadTimestamp => "bad_timestamp",
            RowReject::BadFlag => "bad_flag",
        }
    }
}

/// The last microsecond of 9999-12-31 (UTC), the latest `LastModifiedDate` accepted.
const MAX_TS_US: i64 = 253_402_300_799_999_999;

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

impl Row {
    /// The range checks every kept row passes, whatever its format.
    pub fn check(&self, source_bucket: &str) -> Result<(), RowReject> {
        if self.bucket != source_bucket {
            return Err(RowReject::BadBucket);
        }
        if self.key.is_empty() {
            return Err(RowReject::BadKey);
        }
        if self.size.is_some_and(|s| s < 0) {
            return Err(RowReject::BadSize);
        }
        if self
            .last_modified
            .is_some_and(|t| !(0..=MAX_TS_US).contains(&t))
        {
            return Err(RowReject::BadTimestamp);
        }
        Ok(())
    }
}

/// A CSV column that `fileSchema` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Bucket,
    Key,
    VersionId,
    IsLatest,
    IsDeleteMarker,
    Size,
    LastModifiedDate,
    ETag,
    StorageClass,
    IntelligentTieringAccessTier,
    EncryptionStatus,
    IsMultipartUploaded,
    /// A column the `inventory` table does not keep (checked for UTF-8 only).
    Other,
}

impl Col {
    fn of(name: &str) -> Col {
        match name {
            "Bucket" => Col::Bucket,
            "Key" => Col::Key,
            "VersionId" => Col::VersionId,
            "IsLatest" => Col::IsLatest,
            "IsDeleteMarker" => Col::IsDeleteMarker,
            "Size" => Col::Size,
            "LastModifiedDate" => Col::LastModifiedDate,
            "ETag" => Col::ETag,
            "StorageClass" => Col::StorageClass,
            "IntelligentTieringAccessTier" => Col::IntelligentTieringAccessTier,
            "EncryptionStatus" => Col::EncryptionStatus,
            "IsMultipartUploaded" => Col::IsMultipartUploaded,
            _ => Col::Other,
        }
    }
}

/// The columns of a CSV report, from `fileSchema`.
#[derive(Debug, Clone)]
pub struct CsvSchema {
    cols: Vec<Col>,
    versioned: bool,
}

impl CsvSchema {
    /// From the column names of `fileSchema`, in order.
    pub fn new(names: &[String]) -> CsvSchema {
        let cols: Vec<Col> = names.iter().map(|n| Col::of(n)).collect();
        let versioned = cols.contains(&Col::VersionId);
        CsvSchema { cols, versioned }
    }
}

/// The fields of one CSV line, unquoted, in one reused buffer (no allocation per row once
/// warm).
#[derive(Debug, Default)]
pub struct Fields {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Fields {
    /// Splits `line` (without its newline) by RFC 4180 rules: `,` separates fields, a field
    /// that starts with `"` is quoted and `""` inside it is one `"`.
    pub fn split(&mut self, line: &[u8]) -> Result<(), RowReject> {
        self.buf.clear();
        self.ends.clear();
        let mut i = 0;
        loop {
            let rest = line.get(i..).unwrap_or_default();
            if rest.first() == Some(&b'"') {
                i += 1;
                loop {
                    let rest = line.get(i..).unwrap_or_default();
                    let Some(q) = memchr::memchr(b'"', rest) else {
                        return Err(RowReject::BadQuoting);
                    };
                    self.buf.extend_from_slice(&rest[..q]);
                    i += q + 1;
                    if line.get(i) == Some(&b'"') {
                        self.buf.push(b'"');
                        i += 1;
                    } else {
                        break;
                    }
                }
                self.ends.push(self.buf.len());
                match line.get(i) {
                    None => return Ok(()),
                    Some(b',') => i += 1,
                    Some(_) => return Err(RowReject::BadQuoting),
                }
            } else {
                let end = memchr::memchr(b',', rest);
                let field = &rest[..end.unwrap_or(rest.len())];
                if memchr::memchr(b'"', field).is_some() {
                    return Err(RowReject::BadQuoting);
                }
                self.buf.extend_from_slice(field);
                self.ends.push(self.buf.len());
                match end {
                    None => return Ok(()),
                    Some(e) => i += e + 1,
                }
            }
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i` (empty past the end).
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(self.buf.len())
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.buf.get(start..end).unwrap_or_default()
    }
}

fn parse_bool(s: &str) -> Result<Option<bool>, RowReject> {
    if s.is_empty() {
        Ok(None)
    } else if s.eq_ignore_ascii_case("true") {
        Ok(Some(true))
    } else if s.eq_ignore_ascii_case("false") {
        Ok(Some(false))
    } else {
        Err(RowReject::BadFlag)
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The row of one CSV line's fields (columns named by `fileSchema`), checked against the
/// manifest's `source_bucket`.
pub fn csv_row(schema: &CsvSchema, f: &Fields, source_bucket: &str) -> Result<Row, RowReject> {
    match f.len().cmp(&schema.cols.len()) {
        std::cmp::Ordering::Less => return Err(RowReject::TooFewFields),
        std::cmp::Ordering::Greater => return Err(RowReject::TooManyFields),
        std::cmp::Ordering::Equal => {}
    }
    let mut r = Row {
        is_latest: true,
        version_id: schema.versioned.then(String::new),
        ..Default::default()
    };
    for (i, col) in schema.cols.iter().enumerate() {
        let raw = f.get(i);
        let text = |code: RowReject| std::str::from_utf8(raw).map_err(|_| code);
        match col {
            Col::Bucket => r.bucket = text(RowReject::BadBucket)?.to_string(),
            Col::Key => {
                r.key = percent_encoding::percent_decode(raw)
                    .decode_utf8()
                    .map_err(|_| RowReject::BadKey)?
                    .into_owned();
            }
            Col::Size => {
                let v = text(RowReject::BadSize)?;
                r.size = if v.is_empty() {
                    None
                } else {
                    Some(v.parse().map_err(|_| RowReject::BadSize)?)
                };
            }
            Col::LastModifiedDate => {
                let v = text(RowReject::BadTimestamp)?;
                r.last_modified = if v.is_empty() {
                    None
                } else {
                    Some(
                        chrono::DateTime::parse_from_rfc3339(v)
                            .map_err(|_| RowReject::BadTimestamp)?
                            .timestamp_micros(),
                    )
                };
            }
            Col::IsLatest => {
                r.is_latest = parse_bool(text(RowReject::BadFlag)?)?.unwrap_or(true);
            }
            Col::IsDeleteMarker => {
                r.is_delete_marker = parse_bool(text(RowReject::BadFlag)?)?.unwrap_or(false);
            }
            Col::IsMultipartUploaded => r.multipart = parse_bool(text(RowReject::BadFlag)?)?,
            other => {
                let v = text(RowReject::BadUtf8)?;
                match other {
                    Col::VersionId => r.version_id = Some(v.to_string()),
                    Col::ETag => r.etag = non_empty(v),
                    Col::StorageClass => r.storage_class = non_empty(v),
                    Col::IntelligentTieringAccessTier => r.it_tier = non_empty(v),
                    Col::EncryptionStatus => r.encryption = non_empty(v),
                    _ => {}
                }
            }
        }
    }
    r.check(source_bucket)?;
    Ok(r)
}

/// One column of a Parquet batch: as written, and cast to the type the table stores. A value
/// present as written but NULL once cast is one the cast could not represent.
struct Cast {
    orig: ArrayRef,
    cast: ArrayRef,
}

impl Cast {
    fn of(batch: &RecordBatch, name: &str, to: &DataType) -> Result<Option<Cast>, String> {
        let Some(orig) = batch.column_by_name(name) else {
            return Ok(None);
        };
        let cast = arrow::compute::cast(orig, to).map_err(|e| format!("column `{name}`: {e}"))?;
        Ok(Some(Cast {
            orig: Arc::clone(orig),
            cast,
        }))
    }

    /// `Ok(None)` for NULL, `Err` for a value the cast lost.
    fn valid(&self, i: usize) -> Result<bool, ()> {
        match (self.orig.is_null(i), self.cast.is_null(i)) {
            (true, _) => Ok(false),
            (false, false) => Ok(true),
            (false, true) => Err(()),
        }
    }

    fn string(&self, i: usize, code: RowReject) -> Result<Option<String>, RowReject> {
        Ok(self
            .valid(i)
            .map_err(|()| code)?
            .then(|| self.cast.as_string::<i32>().value(i).to_string()))
    }

    fn boolean(&self, i: usize) -> Result<Option<bool>, RowReject> {
        Ok(self
            .valid(i)
            .map_err(|()| RowReject::BadFlag)?
            .then(|| self.cast.as_boolean().value(i)))
    }

    fn int64(&self, i: usize, code: RowReject) -> Result<Option<i64>, RowReject> {
        Ok(self
            .valid(i)
            .map_err(|()| code)?
            .then(|| self.cast.as_primitive::<Int64Type>().value(i)))
    }
}

/// The columns of one Parquet record batch, cast once per batch.
pub struct ParquetBatch {
    bucket: Option<Cast>,
    key: Option<Cast>,
    version: Option<Cast>,
    etag: Option<Cast>,
    class: Option<Cast>,
    tier: Option<Cast>,
    enc: Option<Cast>,
    latest: Option<Cast>,
    dm: Option<Cast>,
    mpu: Option<Cast>,
    size: Option<Cast>,
    lm: Option<Cast>,
}

impl ParquetBatch {
    /// Casts the columns of `batch` (an error names a column whose type cannot be cast at all).
    pub fn new(batch: &RecordBatch) -> Result<ParquetBatch, String> {
        let s = |n: &str| Cast::of(batch, n, &DataType::Utf8);
        let b = |n: &str| Cast::of(batch, n, &DataType::Boolean);
        let lm = match batch.column_by_name("last_modified_date") {
            None => None,
            Some(c) => {
                let us = DataType::Timestamp(TimeUnit::Microsecond, None);
                let cast = arrow::compute::cast(c, &us)
                    .or_else(|_| {
                        // A column that cannot be read as a timestamp directly: milliseconds.
                        let ms = arrow::compute::cast(
                            c,
                            &DataType::Timestamp(TimeUnit::Millisecond, None),
                        )?;
                        arrow::compute::cast(&ms, &us)
                    })
                    .and_then(|t| arrow::compute::cast(&t, &DataType::Int64))
                    .map_err(|e| format!("column `last_modified_date`: {e}"))?;
                Some(Cast {
                    orig: Arc::clone(c),
                    cast,
                })
            }
        };
        Ok(ParquetBatch {
            bucket: s("bucket")?,
            key: s("key")?,
            version: s("version_id")?,
            etag: s("e_tag")?,
            class: s("storage_class")?,
            tier: s("intelligent_tiering_access_tier")?,
            enc: s("encryption_status")?,
            latest: b("is_latest")?,
            dm: b("is_delete_marker")?,
            mpu: b("is_multipart_uploaded")?,
            size: Cast::of(batch, "size", &DataType::Int64)?,
            lm,
        })
    }

    /// Row `i`, checked against the manifest's `source_bucket`.
    pub fn row(&self, i: usize, source_bucket: &str) -> Result<Row, RowReject> {
        let string = |c: &Option<Cast>, code| match c {
            None => Ok(None),
            Some(c) => c.string(i, code),
        };
        let boolean = |c: &Option<Cast>| match c {
            None => Ok(None),
            Some(c) => c.boolean(i),
        };
        let int64 = |c: &Option<Cast>, code| match c {
            None => Ok(None),
            Some(c) => c.int64(i, code),
        };
        let r = Row {
            bucket: string(&self.bucket, RowReject::BadBucket)?.ok_or(RowReject::BadBucket)?,
            key: string(&self.key, RowReject::BadKey)?.ok_or(RowReject::BadKey)?,
            version_id: match &self.version {
                None => None,
                Some(c) => Some(c.string(i, RowReject::BadUtf8)?.unwrap_or_default()),
            },
            is_latest: boolean(&self.latest)?.unwrap_or(true),
            is_delete_marker: boolean(&self.dm)?.unwrap_or(false),
            size: int64(&self.size, RowReject::BadSize)?,
            last_modified: int64(&self.lm, RowReject::BadTimestamp)?,
            etag: string(&self.etag, RowReject::BadUtf8)?,
            storage_class: string(&self.class, RowReject::BadUtf8)?,
            it_tier: string(&self.tier, RowReject::BadUtf8)?,
            encryption: string(&self.enc, RowReject::BadUtf8)?,
            multipart: boolean(&self.mpu)?,
        };
        r.check(source_bucket)?;
        Ok(r)
    }
}

/// Row `i` of `batch` as text for `_rejects.raw`: its values as written, `,`-separated.
pub fn parquet_raw(batch: &RecordBatch, i: usize) -> String {
    batch
        .columns()
        .iter()
        .map(|c| arrow::util::display::array_value_to_string(c, i).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",")
}

/// Column builders of the `inventory` table.
pub struct Builders {
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
    /// Rows pushed.
    pub n: u64,
}

impl Builders {
    /// Empty builders.
    pub fn new() -> Builders {
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

    /// Appends one row, its key classified by `layout`.
    pub fn push(&mut self, r: &Row, layout: &Layout) {
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

    /// The rows as a batch of [`crate::model::schema::inventory`].
    pub fn finish(mut self) -> RecordBatch {
        crate::io::finish_batch(
            crate::model::schema::inventory(),
            &mut [
                &mut self.bucket,
                &mut self.key,
                &mut self.version,
                &mut self.latest,
                &mut self.dm,
                &mut self.size,
                &mut self.lm,
                &mut self.etag,
                &mut self.class,
                &mut self.tier,
                &mut self.digest,
                &mut self.kind,
                &mut self.repo,
                &mut self.enc,
                &mut self.mpu,
            ],
        )
        .expect("columns match the inventory schema")
    }
}

impl Default for Builders {
    fn default() -> Self {
        Builders::new()
    }
}
