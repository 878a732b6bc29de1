//! Arrow columns built from an iterator of row values, one value per row.
//!
//! The batches ingest writes (pulls, manifest requests, rejects, the graph's tables) each
//! turn a sorted list of rows into typed columns; these helpers are that one step, so a batch
//! is its list of "column = this field of every row" and nothing else.
//!
//! Invariants: a column has exactly one entry per item of its iterator, in order; `None`
//! becomes NULL; timestamps are µs in UTC, as in every blobtier schema.
//!
//! Must not: sort, filter or otherwise decide which rows a batch holds (callers do).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};

/// A UTF-8 column of optional values.
pub(crate) fn utf8<S: AsRef<str>>(vals: impl IntoIterator<Item = Option<S>>) -> ArrayRef {
    Arc::new(vals.into_iter().collect::<StringArray>())
}

/// A UTF-8 column without NULLs.
pub(crate) fn utf8_values<S: AsRef<str>>(vals: impl IntoIterator<Item = S>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(vals))
}

/// An Int64 column of optional values.
pub(crate) fn int64(vals: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(vals.into_iter().collect::<Int64Array>())
}

/// An Int64 column without NULLs.
pub(crate) fn int64_values(vals: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(vals))
}

/// A UTC µs timestamp column without NULLs.
pub(crate) fn timestamp_utc_values(vals: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(vals).with_timezone("UTC"))
}
