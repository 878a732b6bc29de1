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

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, ListArray, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};

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

/// A Boolean column without NULLs.
pub(crate) fn bool_values(vals: impl IntoIterator<Item = bool>) -> ArrayRef {
    Arc::new(BooleanArray::from(vals.into_iter().collect::<Vec<bool>>()))
}

/// A column of lists of UTF-8 values without NULL lists (every row has a list, possibly
/// empty); the items' field is Arrow's default (`item`, nullable).
pub(crate) fn utf8_lists<S: AsRef<str>, L: IntoIterator<Item = S>>(
    lists: impl IntoIterator<Item = L>,
) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for list in lists {
        for s in list {
            b.values().append_value(s);
        }
        b.append(true);
    }
    let (field, offsets, values, _) = b.finish().into_parts();
    Arc::new(ListArray::new(field, offsets, values, None))
}
