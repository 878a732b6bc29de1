//! Durable file output: every file a reader can see was written under a temporary name,
//! fsynced and renamed into place, so a crash never leaves half a file visible.
//! Parquet helpers write Arrow record batches with zstd compression.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// An IO error with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{op} `{}`", path.display())]
pub struct IoError {
    /// What was being done (`failed to write`, …).
    pub op: &'static str,
    /// The path.
    pub path: PathBuf,
    /// Cause.
    #[source]
    pub source: io::Error,
}

/// Attaches a path and an operation to an `io::Result`.
pub trait IoContext<T> {
    /// Wraps the error.
    fn at(self, op: &'static str, path: &Path) -> Result<T, IoError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T, IoError> {
        self.map_err(|source| IoError {
            op,
            path: path.to_owned(),
            source,
        })
    }
}

/// Parquet write failure.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// File system.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Encoder.
    #[error("failed to encode Parquet `{}`", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Preparing the rows (concatenating, sorting).
    #[error("failed to prepare the rows of `{}`", path.display())]
    Arrow {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: arrow::error::ArrowError,
    },
}

/// Creates `path`'s parent directories.
pub fn ensure_parent(path: &Path) -> Result<(), IoError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).at("failed to create directory", parent)?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: `<path>.tmp-<pid>` → fsync → rename → fsync dir.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    ensure_parent(path)?;
    let tmp = tmp_name(path);
    {
        let mut f = File::create(&tmp).at("failed to create", &tmp)?;
        f.write_all(bytes).at("failed to write", &tmp)?;
        f.sync_all().at("failed to sync", &tmp)?;
    }
    fs::rename(&tmp, path).at("failed to rename into place", path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn tmp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// fsyncs a directory so that renames inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("failed to sync directory", dir)
}

/// Rows per Parquet row group in everything blobtier writes. Small on purpose: tables are
/// written sorted by digest, and digest-range readers (`stats::partition`) skip every row
/// group whose digest statistics miss their range, so a range reads little more than itself.
pub const ROW_GROUP_ROWS: usize = 16_384;

/// Writes record batches to a zstd-compressed Parquet file at `path` (not atomically: callers
/// write into a staging area and publish with renames).
pub fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<u64, WriteError> {
    let mut w = ParquetStream::create(path, schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()
}

/// A Parquet file written batch by batch (zstd, [`ROW_GROUP_ROWS`]-row groups), synced on
/// [`ParquetStream::finish`]. Not atomic: callers write into a staging area.
pub struct ParquetStream {
    path: PathBuf,
    writer: ArrowWriter<File>,
    rows: u64,
}

impl ParquetStream {
    /// Creates (truncates) `path` and its parent directories.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self, WriteError> {
        Self::create_with(
            path,
            schema,
            Compression::ZSTD(ZstdLevel::try_new(3).expect("3 is a valid zstd level")),
        )
    }

    /// [`ParquetStream::create`] with another compression (e.g. none, for scratch files that
    /// are read back once).
    pub fn create_with(
        path: &Path,
        schema: SchemaRef,
        compression: Compression,
    ) -> Result<Self, WriteError> {
        ensure_parent(path)?;
        let file = File::create(path).at("failed to create", path)?;
        let props = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("blobtier {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|source| {
            WriteError::Parquet {
                path: path.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            rows: 0,
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .map_err(|source| WriteError::Parquet {
                path: self.path.clone(),
                source,
            })
    }

    /// Closes the file, syncs it and returns the number of rows written.
    pub fn finish(self) -> Result<u64, WriteError> {
        let file = self
            .writer
            .into_inner()
            .map_err(|source| WriteError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        file.sync_all().at("failed to sync", &self.path)?;
        Ok(self.rows)
    }
}
