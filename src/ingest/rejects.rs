//! The quarantine (`_rejects`): what a malformed line or inventory row leaves behind, capped
//! while it arrives and spooled to disk, so that memory does not grow with the number of bad
//! lines nor with their length.
//!
//! - [`RejectRow`]: one quarantined record; `raw` holds at most [`RAW_MAX`] bytes of it and
//!   `raw_len` its full length in bytes.
//! - [`InputRejects`]: the rows of one input (or one inventory data file). Every row is counted;
//!   the first [`MAX_STORED`] are written to an unnamed spool file in the lake's `_tmp/`
//!   directory as they come, never held in memory.
//! - [`Quarantine`]: the inputs kept by one run; [`Quarantine::write`] streams them, by input
//!   location then in the order they were pushed, into the run's `_rejects` Parquet file.
//!
//! Invariants: no row holds more than [`RAW_MAX`] bytes of `raw`; no input stores more than
//! [`MAX_STORED`] rows; the number of rows counted is exact. This module must not decide what
//! is a reject (the readers do) nor redact anything (the log reader redacts client addresses
//! before it builds a row).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use arrow::array::ArrayRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::columns;
use crate::io::{ParquetStream, WriteError};
use crate::model::schema;

/// Rows per input whose text is stored in `_rejects` (all are counted).
pub const MAX_STORED: u64 = 100_000;
/// The most bytes of a record stored in `raw`; `raw_len` keeps the record's full length.
pub const RAW_MAX: usize = 4096;
/// Rows per record batch when the spools are written to Parquet.
const BATCH_ROWS: usize = 4096;

/// Quarantine errors: the spool could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum RejectsError {
    /// Creating, writing or reading a spool file.
    #[error("failed to spool quarantined rows in `{dir}`")]
    Spool {
        /// The spool directory.
        dir: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Writing the `_rejects` Parquet file.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A quarantined record, as a reader finds it. Its `raw` may be longer than [`RAW_MAX`]:
/// [`InputRejects::push`] cuts it and records its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectRow {
    /// Input format (`s3-access`, …, `inventory-csv`).
    pub format: &'static str,
    /// 1-based line number in the decompressed input (for an envelope or a CSV record, the
    /// line it starts on).
    pub line: u64,
    /// Reason code ([`crate::ingest::event::Reject::code`]).
    pub reason: &'static str,
    /// The record (lossy UTF-8), or its first bytes.
    pub raw: String,
    /// The record's full length in bytes (`raw` may hold only its beginning).
    pub raw_len: u64,
}

impl RejectRow {
    /// A row for `raw` (the whole record or a prefix of it), decoded as lossy UTF-8 from at
    /// most its first [`RAW_MAX`] bytes (the rest would not be stored).
    pub fn new(format: &'static str, line: u64, reason: &'static str, raw: &[u8]) -> RejectRow {
        RejectRow {
            format,
            line,
            reason,
            raw: String::from_utf8_lossy(&raw[..raw.len().min(RAW_MAX)]).into_owned(),
            raw_len: raw.len() as u64,
        }
    }
}

/// `s` cut to at most [`RAW_MAX`] bytes at a character boundary (lossy decoding or redaction
/// may have made it longer than the bytes it came from).
pub fn truncate_raw(mut s: String) -> String {
    if s.len() > RAW_MAX {
        let mut end = RAW_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A row as spooled (one JSON object per line).
#[derive(Serialize, Deserialize)]
struct Spooled<'a> {
    #[serde(borrow)]
    f: Cow<'a, str>,
    l: u64,
    #[serde(borrow)]
    r: Cow<'a, str>,
    #[serde(borrow)]
    raw: Cow<'a, str>,
    n: u64,
}

/// The quarantined rows of one input: every row counted, the first [`MAX_STORED`] spooled to an
/// unnamed file (created at the first stored row, removed by the OS when dropped).
#[derive(Debug)]
pub struct InputRejects {
    dir: PathBuf,
    spool: Option<BufWriter<File>>,
    counted: u64,
    stored: u64,
}

impl InputRejects {
    /// No rows yet; a spool file, when needed, is made in `dir` (created if missing).
    pub fn new(dir: &Path) -> InputRejects {
        InputRejects {
            dir: dir.to_owned(),
            spool: None,
            counted: 0,
            stored: 0,
        }
    }

    /// How many more rows would be stored (0 once [`MAX_STORED`] are).
    pub fn room(&self) -> u64 {
        MAX_STORED - self.stored
    }

    /// Counts `row` and stores it (`raw` cut to [`RAW_MAX`] bytes, with its `raw_len`) if
    /// there is [`room`](Self::room).
    pub fn push(&mut self, row: RejectRow) -> Result<(), RejectsError> {
        let raw_len = row.raw_len;
        self.store(row, raw_len)
    }

    /// Counts `row`, whose `raw` holds the first bytes of a record of `raw_len` bytes, and
    /// stores it (`raw` cut to [`RAW_MAX`] bytes) if there is [`room`](Self::room).
    pub fn push_prefix(&mut self, row: RejectRow, raw_len: u64) -> Result<(), RejectsError> {
        self.store(row, raw_len)
    }

    fn store(&mut self, row: RejectRow, raw_len: u64) -> Result<(), RejectsError> {
        self.counted += 1;
        if self.stored >= MAX_STORED {
            return Ok(());
        }
        let raw = truncate_raw(row.raw);
        let line = serde_json::to_string(&Spooled {
            f: Cow::Borrowed(row.format),
            l: row.line,
            r: Cow::Borrowed(row.reason),
            raw: Cow::Borrowed(&raw),
            n: raw_len,
        })
        .expect("a spooled row serialises");
        let spool = match &mut self.spool {
            Some(s) => s,
            None => {
                std::fs::create_dir_all(&self.dir).map_err(|e| self.err(e))?;
                let f = tempfile::tempfile_in(&self.dir).map_err(|e| self.err(e))?;
                self.spool.insert(BufWriter::with_capacity(1 << 16, f))
            }
        };
        let res = spool
            .write_all(line.as_bytes())
            .and_then(|()| spool.write_all(b"\n"));
        res.map_err(|e| self.err(e))?;
        self.stored += 1;
        Ok(())
    }

    /// Counts `n` rows that were not built (they would not be stored: no [`room`](Self::room)).
    pub fn count_unstored(&mut self, n: u64) {
        self.counted += n;
    }

    /// Rows counted (stored or not).
    pub fn counted(&self) -> u64 {
        self.counted
    }

    /// Rows stored.
    pub fn stored(&self) -> u64 {
        self.stored
    }

    fn err(&self, source: io::Error) -> RejectsError {
        RejectsError::Spool {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Calls `f` with every stored row, in the order pushed.
    fn for_each_row(
        self,
        mut f: impl FnMut(Spooled<'_>) -> Result<(), RejectsError>,
    ) -> Result<(), RejectsError> {
        let dir = self.dir;
        let err = |source| RejectsError::Spool {
            dir: dir.clone(),
            source,
        };
        let Some(spool) = self.spool else {
            return Ok(());
        };
        let mut file = spool.into_inner().map_err(|e| err(e.into_error()))?;
        file.rewind().map_err(err)?;
        let mut lines = BufReader::with_capacity(1 << 16, file);
        let mut buf = String::new();
        loop {
            buf.clear();
            if lines.read_line(&mut buf).map_err(err)? == 0 {
                return Ok(());
            }
            let row: Spooled<'_> =
                serde_json::from_str(&buf).map_err(|e| err(io::Error::other(e)))?;
            f(row)?;
        }
    }
}

/// The quarantined rows of the inputs one run keeps, by input location.
#[derive(Debug)]
pub struct Quarantine {
    dir: PathBuf,
    inputs: BTreeMap<String, Vec<InputRejects>>,
}

impl Quarantine {
    /// An empty quarantine spooling in `dir` (the lake's `_tmp/`).
    pub fn new(dir: PathBuf) -> Quarantine {
        Quarantine {
            dir,
            inputs: BTreeMap::new(),
        }
    }

    /// A new, empty set of rows for one input (kept only if passed to [`Quarantine::keep`]).
    pub fn input(&self) -> InputRejects {
        InputRejects::new(&self.dir)
    }

    /// Keeps the stored rows of the input at `location` (nothing if it stored none).
    pub fn keep(&mut self, location: &str, rows: InputRejects) {
        if rows.stored > 0 {
            self.inputs
                .entry(location.to_owned())
                .or_default()
                .push(rows);
        }
    }

    /// Whether no row is kept.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Writes every kept row to the Parquet file `path` ([`schema::rejects`]), by input location
    /// then in the order pushed, a few thousand rows at a time. Returns the rows written.
    pub fn write(self, path: &Path, run_id: &str) -> Result<u64, RejectsError> {
        let mut out = ParquetStream::create(path, schema::rejects())?;
        let mut batch = Batch::default();
        for (location, inputs) in self.inputs {
            for rows in inputs {
                rows.for_each_row(|r| {
                    batch.push(&location, r);
                    if batch.len() >= BATCH_ROWS {
                        out.write(&batch.take(run_id))?;
                    }
                    Ok(())
                })?;
            }
        }
        if batch.len() > 0 {
            out.write(&batch.take(run_id))?;
        }
        Ok(out.finish()?)
    }
}

/// Columns of the rows not written yet.
#[derive(Default)]
struct Batch {
    input: Vec<String>,
    format: Vec<String>,
    line: Vec<i64>,
    reason: Vec<String>,
    raw: Vec<String>,
    raw_len: Vec<i64>,
}

impl Batch {
    fn push(&mut self, input: &str, r: Spooled<'_>) {
        self.input.push(input.to_owned());
        self.format.push(r.f.into_owned());
        self.line.push(r.l as i64);
        self.reason.push(r.r.into_owned());
        self.raw.push(r.raw.into_owned());
        self.raw_len.push(r.n as i64);
    }

    fn len(&self) -> usize {
        self.line.len()
    }

    fn take(&mut self, run_id: &str) -> RecordBatch {
        let b = std::mem::take(self);
        let n = b.line.len();
        let cols: Vec<ArrayRef> = vec![
            columns::utf8_values(b.input),
            columns::utf8_values(b.format),
            columns::int64_values(b.line),
            columns::utf8_values(b.reason),
            columns::utf8_values(b.raw),
            columns::int64_values(b.raw_len),
            columns::utf8_values(std::iter::repeat_n(run_id, n)),
        ];
        RecordBatch::try_new(schema::rejects(), cols).expect("columns match the rejects schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spooled form of one row: (raw, raw_len).
    fn spooled(row: RejectRow, raw_len: Option<u64>) -> (String, u64) {
        let t = tempfile::tempdir().unwrap();
        let mut r = InputRejects::new(t.path());
        match raw_len {
            Some(n) => r.push_prefix(row, n).unwrap(),
            None => r.push(row).unwrap(),
        }
        let mut out = None;
        r.for_each_row(|s| {
            out = Some((s.raw.into_owned(), s.n));
            Ok(())
        })
        .unwrap();
        out.unwrap()
    }

    #[test]
    fn raw_is_cut_at_a_char_boundary_and_keeps_its_length() {
        let long = "é".repeat(RAW_MAX); // 2 bytes each
        let row = |raw: &str| RejectRow {
            format: "inventory-csv",
            line: 1,
            reason: "too_long",
            raw_len: raw.len() as u64,
            raw: raw.to_owned(),
        };
        let (raw, n) = spooled(row(&long), None);
        assert_eq!(raw.len(), RAW_MAX);
        assert!(raw.chars().all(|c| c == 'é'));
        assert_eq!(n, 2 * RAW_MAX as u64);
        let cut = truncate_raw(format!("x{long}"));
        assert_eq!(cut.len(), RAW_MAX - 1, "not inside a character");
        // A cut in the middle of a character decodes to U+FFFD (3 bytes): still within RAW_MAX.
        let odd = RejectRow::new("s3-access", 1, "too_long", &long.as_bytes()[1..]);
        let (raw, n) = spooled(odd, Some(1 << 30));
        assert!(raw.len() <= RAW_MAX, "{}", raw.len());
        assert_eq!(n, 1 << 30);
        let (raw, n) = spooled(RejectRow::new("s3-access", 1, "bad_json", b"{x"), None);
        assert_eq!((raw.as_str(), n), ("{x", 2));
    }

    #[test]
    fn the_cap_applies_while_pushing_and_the_count_stays_exact() {
        let t = tempfile::tempdir().unwrap();
        let mut q = Quarantine::new(t.path().join("_tmp"));
        let mut a = q.input();
        for i in 0..MAX_STORED + 5 {
            a.push(RejectRow::new("s3-access", i + 1, "bad_json", b"x"))
                .unwrap();
        }
        a.count_unstored(10);
        assert_eq!(
            (a.counted(), a.stored(), a.room()),
            (MAX_STORED + 15, MAX_STORED, 0)
        );
        let mut b = q.input();
        b.push(RejectRow::new(
            "inventory-csv",
            2,
            "too_few_fields",
            b"\"b\",\"k\"",
        ))
        .unwrap();
        let dropped = q.input();
        q.keep("z.log", a);
        q.keep("a.csv", b);
        q.keep("empty.log", dropped);
        // Unnamed spool files: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(t.path().join("_tmp")).unwrap().count(), 0);
        let path = t.path().join("r.parquet");
        assert_eq!(q.write(&path, "run-1").unwrap(), MAX_STORED + 1);
        let f = File::open(&path).unwrap();
        let rows: Vec<RecordBatch> =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect();
        use arrow::array::AsArray;
        use arrow::datatypes::Int64Type;
        let inputs: Vec<String> = rows
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        let lines: Vec<i64> = rows
            .iter()
            .flat_map(|b| b.column(2).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(inputs[0], "a.csv");
        assert!(inputs[1..].iter().all(|i| i == "z.log"));
        assert_eq!(lines[0], 2);
        let expect: Vec<i64> = (1..=MAX_STORED as i64).collect();
        assert_eq!(lines[1..], expect[..]);
        assert_eq!(rows[0].schema(), schema::rejects());
    }
}
