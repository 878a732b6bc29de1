//! Durable file output: every file a reader can see was written under a temporary name,
//! fsynced and renamed into place, so a crash never leaves half a file visible.
//! Parquet helpers write Arrow record batches with zstd compression; [`finish_batch`] turns a
//! table's column builders into the batch they write. [`walk_files`] lists the
//! files below a directory (the registry's storage, an `s3://` lake's mirror).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use arrow::array::{ArrayBuilder, ArrayRef};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowLeafColumn, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

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

/// What a hidden sibling of a path holds while it is published (see [`sibling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sibling {
    /// `.<name>.tmp-<pid>`: the new content, written but not yet renamed into place.
    Tmp,
    /// `.<name>.old-<pid>`: the old content, moved aside but not yet removed.
    Old,
}

impl Sibling {
    fn infix(self) -> &'static str {
        match self {
            Sibling::Tmp => ".tmp-",
            Sibling::Old => ".old-",
        }
    }
}

/// The hidden sibling of `path` that process `pid` uses while it publishes `path`:
/// `.<name>.tmp-<pid>` or `.<name>.old-<pid>`. Readers skip names that start with `.`, and
/// `lake::Lake::recover` removes the siblings of processes that are gone.
pub fn sibling(path: &Path, kind: Sibling, pid: u32) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{}{pid}", kind.infix()))
}

/// The pid of the process that left `name`, if it is a hidden sibling (see [`sibling`]).
pub fn sibling_owner(name: &str) -> Option<u32> {
    name.strip_prefix('.')
        .and_then(|n| {
            n.rsplit_once(Sibling::Tmp.infix())
                .or_else(|| n.rsplit_once(Sibling::Old.infix()))
        })
        .and_then(|(_, pid)| pid.parse().ok())
}

fn tmp_name(path: &Path) -> PathBuf {
    sibling(path, Sibling::Tmp, std::process::id())
}

/// fsyncs a directory so that renames inside it are durable. The empty path (the parent of
/// a relative file name such as `blobtier.toml`) is the current directory.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("failed to sync directory", dir)
}

/// [`sync_dir`] for each of `dirs`, several at a time: an fsync waits on the disk, not the
/// CPU, and the file system commits concurrent ones together (ingest publishes a directory per
/// day and table, and syncing 180 of them one after the other took most of a second). Returns
/// the first error in `dirs`' order after every sync has ended.
pub fn sync_dirs(dirs: &[PathBuf]) -> Result<(), IoError> {
    sync_each(dirs, sync_dir)
}

/// fsyncs each of `files`, several at a time, as [`sync_dirs`] does directories: a staging
/// area syncs its files together before it publishes them, where syncing each file as it was
/// written kept the writing threads waiting on the disk one file after the other.
pub fn sync_files(files: &[PathBuf]) -> Result<(), IoError> {
    sync_each(files, |f| {
        File::open(f)
            .and_then(|f| f.sync_all())
            .at("failed to sync", f)
    })
}

/// `sync` on each path, on [`SYNC_THREADS`] threads at once; the first error in `paths`' order
/// after every sync has ended.
fn sync_each(
    paths: &[PathBuf],
    sync: impl Fn(&Path) -> Result<(), IoError> + Sync,
) -> Result<(), IoError> {
    let per = paths.len().div_ceil(SYNC_THREADS).max(1);
    let sync = &sync;
    let results: Vec<Result<(), IoError>> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().try_for_each(|p| sync(p))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a sync does not panic"))
            .collect()
    });
    results.into_iter().collect()
}

/// Syncs waiting on the disk at the same time (see [`sync_dirs`]).
const SYNC_THREADS: usize = 8;

/// A file found by [`walk_files`].
#[derive(Debug)]
pub struct WalkedFile {
    /// Its path below the root, `/`-separated.
    pub rel: String,
    /// Its path.
    pub path: PathBuf,
    /// Its metadata (of the link target for a symlink).
    pub meta: fs::Metadata,
}

/// Every file below `root`, depth first in directory order, following symlinks. `skip(top,
/// path)` leaves an entry (and with a directory, everything below it) out; `top` says whether
/// it sits directly in `root`. A directory that does not exist is empty when `missing_ok`,
/// else an error.
pub fn walk_files(
    root: &Path,
    missing_ok: bool,
    skip: &dyn Fn(bool, &Path) -> bool,
) -> Result<Vec<WalkedFile>, IoError> {
    fn walk(
        root: &Path,
        dir: &Path,
        missing_ok: bool,
        skip: &dyn Fn(bool, &Path) -> bool,
        out: &mut Vec<WalkedFile>,
    ) -> Result<(), IoError> {
        let rd = match fs::read_dir(dir) {
            Err(e) if missing_ok && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            rd => rd.at("failed to list", dir)?,
        };
        for e in rd {
            let path = e.at("failed to list", dir)?.path();
            if skip(dir == root, &path) {
                continue;
            }
            let meta = fs::metadata(&path).at("failed to stat", &path)?;
            if meta.is_dir() {
                walk(root, &path, missing_ok, skip, out)?;
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("walked below the root")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(WalkedFile { rel, path, meta });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, missing_ok, skip, &mut out)?;
    Ok(out)
}

/// Rows per Parquet row group in everything blobtier writes. Small on purpose: tables are
/// written sorted by digest, and digest-range readers (`query::partition`) skip every row
/// group whose digest statistics miss their range, so a range reads little more than itself.
pub const ROW_GROUP_ROWS: usize = 16_384;

/// A batch of `schema` whose columns are `builders` finished, in order (each builder is left
/// empty). Errs as [`RecordBatch::try_new`] does when the columns do not match the schema.
pub fn finish_batch(
    schema: SchemaRef,
    builders: &mut [&mut dyn ArrayBuilder],
) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
    RecordBatch::try_new(schema, cols)
}

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
///
/// Row groups are cut at every [`ROW_GROUP_ROWS`] rows whatever the sizes of the batches
/// written, so the same rows give the same file however they were batched. The columns of a
/// row group are encoded and compressed in parallel (rayon), which is where writing spends
/// its time.
pub struct ParquetStream {
    path: PathBuf,
    schema: SchemaRef,
    writer: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    pending: std::collections::VecDeque<RecordBatch>,
    pending_rows: usize,
    row_groups: usize,
    rows: u64,
}

/// zstd level of every Parquet file blobtier writes (also `stats`, through Polars).
pub const ZSTD_LEVEL: i32 = 1;

/// The compression of every Parquet file blobtier writes.
fn compression() -> Compression {
    Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid zstd level"))
}

impl ParquetStream {
    /// Creates (truncates) `path` and its parent directories.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self, WriteError> {
        Self::create_unique(path, schema, &[])
    }

    /// [`ParquetStream::create`], with dictionary encoding off for `unique` columns: columns
    /// whose values (almost) never repeat, such as object keys in a table with one row per
    /// object, gain nothing from a dictionary but its cost.
    pub fn create_unique(
        path: &Path,
        schema: SchemaRef,
        unique: &[&str],
    ) -> Result<Self, WriteError> {
        ensure_parent(path)?;
        let file = File::create(path).at("failed to create", path)?;
        let mut props = WriterProperties::builder()
            .set_compression(compression())
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("blobtier {}", env!("CARGO_PKG_VERSION")));
        for c in unique {
            props = props
                .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(*c), false);
        }
        let props = props.build();
        let (writer, factory) = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(pq_err(path))?;
        Ok(Self {
            path: path.to_owned(),
            schema,
            writer,
            factory,
            pending: Default::default(),
            pending_rows: 0,
            row_groups: 0,
            rows: 0,
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        // Same columns in the same order, by type (names and nullability are the file's).
        let types = |s: &arrow::datatypes::Schema| -> Vec<arrow::datatypes::DataType> {
            s.fields().iter().map(|f| f.data_type().clone()).collect()
        };
        if types(&batch.schema()) != types(&self.schema) {
            return Err(WriteError::Arrow {
                path: self.path.clone(),
                source: arrow::error::ArrowError::SchemaError(format!(
                    "batch columns {:?} do not match the file's {:?}",
                    batch.schema().fields(),
                    self.schema.fields()
                )),
            });
        }
        self.rows += batch.num_rows() as u64;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.pending_rows += batch.num_rows();
        self.pending.push_back(batch.clone());
        while self.pending_rows >= ROW_GROUP_ROWS {
            let parts = self.take(ROW_GROUP_ROWS);
            self.encode_group(&parts)?;
        }
        Ok(())
    }

    /// The first `n` pending rows, as slices of the pending batches.
    fn take(&mut self, n: usize) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let mut need = n;
        while need > 0 {
            let b = self.pending.pop_front().expect("enough rows are pending");
            if b.num_rows() <= need {
                need -= b.num_rows();
                out.push(b);
            } else {
                out.push(b.slice(0, need));
                self.pending.push_front(b.slice(need, b.num_rows() - need));
                need = 0;
            }
        }
        self.pending_rows -= n;
        out
    }

    /// Encodes one row group made of `parts` (column by column, in parallel) and appends it.
    fn encode_group(&mut self, parts: &[RecordBatch]) -> Result<(), WriteError> {
        use rayon::prelude::*;
        let writers = self
            .factory
            .create_column_writers(self.row_groups)
            .map_err(pq_err(&self.path))?;
        // Leaves of every part, per leaf column (one per field for flat schemas).
        let mut leaves: Vec<Vec<ArrowLeafColumn>> =
            (0..writers.len()).map(|_| Vec::new()).collect();
        for part in parts {
            let mut at = 0;
            for (field, column) in self.schema.fields().iter().zip(part.columns()) {
                for leaf in compute_leaves(field, column).map_err(pq_err(&self.path))? {
                    leaves[at].push(leaf);
                    at += 1;
                }
            }
        }
        let chunks = writers
            .into_par_iter()
            .zip(leaves)
            .map(|(mut w, leaves)| {
                for leaf in &leaves {
                    w.write(leaf)?;
                }
                w.close()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(pq_err(&self.path))?;
        let err = pq_err(&self.path);
        let mut rg = self.writer.next_row_group().map_err(&err)?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut rg).map_err(&err)?;
        }
        rg.close().map_err(&err)?;
        self.row_groups += 1;
        Ok(())
    }

    /// Closes the file, syncs it and returns the number of rows written.
    pub fn finish(self) -> Result<u64, WriteError> {
        let path = self.path.clone();
        let (file, rows) = self.close()?;
        file.sync_all().at("failed to sync", &path)?;
        Ok(rows)
    }

    /// Closes the file without syncing it and returns the number of rows written: for files
    /// staged by [`crate::lake::Staging`], whose commit syncs every staged file at once
    /// ([`sync_files`]) before anything is published.
    pub fn finish_unsynced(self) -> Result<u64, WriteError> {
        Ok(self.close()?.1)
    }

    /// Writes the rows still pending and the footer.
    fn close(mut self) -> Result<(File, u64), WriteError> {
        if self.pending_rows > 0 {
            let parts = self.take(self.pending_rows);
            self.encode_group(&parts)?;
        }
        let file = self.writer.into_inner().map_err(pq_err(&self.path))?;
        Ok((file, self.rows))
    }
}

/// Wraps a Parquet error with the file it concerns.
fn pq_err(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> WriteError + '_ {
    move |source| WriteError::Parquet {
        path: path.to_owned(),
        source,
    }
}

/// Copies the Parquet file `src` to `dst` with one more column in front: `schema` is the
/// schema of `dst`, `src` was written by [`ParquetStream`] with `schema` minus its first field
/// (a string, and the same `unique` columns), and that column holds `value` in every row. The other columns' encoded bytes
/// are copied as they are, not decoded and encoded again. Returns the number of rows.
///
/// This is how a file can carry a content hash of itself in a column (`plan_id`): the rows
/// are written once, hashed on the way, and the hash is spliced in.
pub fn splice_constant_column(
    src: &Path,
    dst: &Path,
    schema: SchemaRef,
    value: &str,
    unique: &[&str],
) -> Result<u64, WriteError> {
    use parquet::column::writer::ColumnCloseResult;
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
    let input = File::open(src).at("failed to open", src)?;
    let meta = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .parse_and_finish(&input)
        .map_err(pq_err(src))?;
    let mut out = ParquetStream::create_unique(dst, schema.clone(), unique)?;
    let page_index = meta.page_index();
    for (rg_idx, rg) in meta.row_groups().iter().enumerate() {
        let n = rg.num_rows() as usize;
        let mut first = out
            .factory
            .create_column_writers(rg_idx)
            .map_err(pq_err(dst))?
            .into_iter()
            .next()
            .expect("the schema has a first column");
        let values: arrow::array::ArrayRef = std::sync::Arc::new(
            arrow::array::StringArray::from_iter_values(std::iter::repeat_n(value, n)),
        );
        for leaf in compute_leaves(schema.field(0), &values).map_err(pq_err(dst))? {
            first.write(&leaf).map_err(pq_err(dst))?;
        }
        let first = first.close().map_err(pq_err(dst))?;
        let dst_err = pq_err(dst);
        let mut rg_out = out.writer.next_row_group().map_err(&dst_err)?;
        first.append_to_row_group(&mut rg_out).map_err(&dst_err)?;
        for (col_idx, column) in rg.columns().iter().enumerate() {
            let close = ColumnCloseResult {
                bytes_written: column.compressed_size() as u64,
                rows_written: n as u64,
                metadata: column.clone(),
                bloom_filter: None,
                column_index: page_index
                    .and_then(|pi| pi.column_index(rg_idx, col_idx))
                    .cloned(),
                offset_index: page_index
                    .and_then(|pi| pi.offset_index(rg_idx, col_idx))
                    .cloned(),
            };
            rg_out.append_column(&input, close).map_err(&dst_err)?;
        }
        rg_out.close().map_err(&dst_err)?;
        out.row_groups += 1;
        out.rows += n as u64;
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    fn rows(n: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let key = StringArray::from_iter_values((0..n).map(|i| format!("k{i:08}")));
        let num = Int64Array::from_iter((0..n).map(|i| (i % 7 != 0).then_some(i as i64)));
        RecordBatch::try_new(schema, vec![Arc::new(key), Arc::new(num)]).unwrap()
    }

    #[test]
    fn finish_batch_takes_the_builders_in_order_and_checks_the_schema() {
        use arrow::array::{Int64Builder, StringBuilder};
        let (mut key, mut num) = (StringBuilder::new(), Int64Builder::new());
        for i in 0..3 {
            key.append_value(format!("k{i:08}"));
            num.append_option((i % 7 != 0).then_some(i as i64));
        }
        let want = rows(3);
        let got = finish_batch(want.schema(), &mut [&mut key, &mut num]).unwrap();
        assert_eq!(got, want);
        assert_eq!((key.len(), num.len()), (0, 0), "builders are left empty");
        // Columns in the wrong order do not match the schema.
        let (mut key, mut num) = (StringBuilder::new(), Int64Builder::new());
        assert!(finish_batch(want.schema(), &mut [&mut num, &mut key]).is_err());
    }

    fn read(path: &Path) -> (Vec<RecordBatch>, Vec<i64>) {
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
        let groups = b
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        (b.build().unwrap().map(Result::unwrap).collect(), groups)
    }

    #[test]
    fn the_same_rows_give_the_same_bytes_however_they_are_batched() {
        let dir = tempfile::tempdir().unwrap();
        let all = rows(40_000);
        let write = |name: &str, cuts: &[usize]| {
            let path = dir.path().join(name);
            let mut w = ParquetStream::create(&path, all.schema()).unwrap();
            let mut at = 0;
            for &c in cuts.iter().chain([&all.num_rows()]) {
                w.write(&all.slice(at, c - at)).unwrap();
                at = c;
            }
            assert_eq!(w.finish().unwrap(), 40_000);
            path
        };
        let one = write("one.parquet", &[]);
        let many = write("many.parquet", &[1, 1, 5_000, 16_384, 16_385, 39_999]);
        assert_eq!(fs::read(&one).unwrap(), fs::read(&many).unwrap());
        let (batches, groups) = read(&one);
        assert_eq!(groups, [16_384, 16_384, 7_232]);
        let back = arrow::compute::concat_batches(&all.schema(), &batches).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn a_batch_of_another_schema_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let all = rows(10);
        let mut w = ParquetStream::create(&path, all.schema()).unwrap();
        let err = w.write(&all.project(&[0]).unwrap()).unwrap_err();
        assert!(matches!(err, WriteError::Arrow { .. }), "{err:?}");
        assert!(err.to_string().contains("t.parquet"), "{err}");
    }

    #[test]
    fn splicing_a_constant_column_keeps_every_other_value() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("staged.parquet");
        let all = rows(20_000);
        let mut w = ParquetStream::create_unique(&staged, all.schema(), &["key"]).unwrap();
        w.write(&all).unwrap();
        w.finish().unwrap();
        let mut fields = vec![Field::new("id", DataType::Utf8, false)];
        fields.extend(all.schema().fields().iter().map(|f| f.as_ref().clone()));
        let schema = Arc::new(Schema::new(fields));
        let out = dir.path().join("out.parquet");
        let n =
            splice_constant_column(&staged, &out, schema.clone(), "sha256:abc", &["key"]).unwrap();
        assert_eq!(n, 20_000);
        let (batches, groups) = read(&out);
        assert_eq!(groups, [16_384, 3_616]);
        let back = arrow::compute::concat_batches(&schema, &batches).unwrap();
        assert_eq!(back.schema(), schema);
        let id = back.column(0).as_string::<i32>();
        assert_eq!(id.len(), 20_000);
        assert!(id.iter().all(|v| v == Some("sha256:abc")));
        assert_eq!(back.project(&[1, 2]).unwrap(), all);
        // Readers that skip pages by the (copied, shifted) page index see the same rows.
        use parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection, RowSelector};
        use parquet::file::metadata::PageIndexPolicy;
        let f = File::open(&out).unwrap();
        let opts = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let b = ParquetRecordBatchReaderBuilder::try_new_with_options(f, opts).unwrap();
        let pick = RowSelection::from(vec![RowSelector::skip(17_000), RowSelector::select(10)]);
        let got: Vec<RecordBatch> = b
            .with_row_selection(pick)
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let got = arrow::compute::concat_batches(&schema, &got).unwrap();
        assert_eq!(got.project(&[1, 2]).unwrap(), all.slice(17_000, 10));
    }
}

/// An exclusive `flock` on a file, held while alive. Dropping it removes the file while the
/// lock is still held, then releases the lock: a process that opened the old file and locks
/// it afterwards sees that the path no longer names its file and starts over.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    _file: File,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// What [`try_lock_file`] found.
#[derive(Debug)]
pub enum TryLock {
    /// The lock is ours; `previous` is what the file held before (a holder that died without
    /// removing it), empty when it was new.
    Taken {
        /// The lock.
        lock: FileLock,
        /// The file's former content.
        previous: String,
    },
    /// Another process holds it (its file names it).
    Held,
}

/// How often a lock is tried when the file it locked was replaced meanwhile.
const LOCK_ATTEMPTS: usize = 16;

/// Takes an exclusive `flock` on `path` (created if needed) without waiting, and writes
/// `holder` into it. The kernel releases the lock when its holder dies, however it dies, so a
/// lock left by a killed process is free at once and two takers cannot both win; the content
/// only serves to name the holder.
pub fn try_lock_file(path: &Path, holder: &str) -> Result<TryLock, IoError> {
    use std::os::unix::fs::MetadataExt;
    for _ in 0..LOCK_ATTEMPTS {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at("failed to open lock file", path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(TryLock::Held),
            Err(fs::TryLockError::Error(e)) => return Err(e).at("failed to lock", path),
        }
        // The previous holder may have removed the file between our open and our lock: then
        // we locked an unlinked file, and must lock the one the path names now.
        let ours = file.metadata().at("failed to stat", path)?;
        match fs::metadata(path) {
            Ok(m) if m.dev() == ours.dev() && m.ino() == ours.ino() => {}
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).at("failed to stat", path),
        }
        let previous = fs::read_to_string(path).unwrap_or_default();
        file.set_len(0).at("failed to truncate", path)?;
        writeln!(file, "{holder}").at("failed to write", path)?;
        file.sync_all().at("failed to sync", path)?;
        return Ok(TryLock::Taken {
            lock: FileLock {
                path: path.to_owned(),
                _file: file,
            },
            previous,
        });
    }
    Ok(TryLock::Held)
}

/// This machine's host name (empty when it cannot be read), to name a lock's holder.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}
