//! Reading a Parquet file the binary wrote back into a test: one reader ([`read`]) and typed
//! columns by name ([`texts`], [`i64s`], [`f64s`], [`optional_f64s`]), so a test names the
//! columns it checks instead of driving `ParquetRecordBatchReaderBuilder` itself.
//!
//! Every function panics, naming the file or the column, on what a test must not see: a file
//! that does not open, a missing column, a column of another type, a null where the column
//! has none. Text columns are cast to UTF-8 (dictionary or view encoded ones included).

use std::path::Path;

use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use arrow::array::{Array, AsArray, RecordBatch, RecordBatchReader};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

/// Every row of the Parquet file at `path`, as one batch.
pub fn read(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader
        .map(|b| b.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

fn column<'b>(b: &'b RecordBatch, name: &str) -> &'b dyn Array {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column `{name}`"))
        .as_ref()
}

/// Column `name` as text, one value a row.
pub fn texts(b: &RecordBatch, name: &str) -> Vec<String> {
    let c = arrow::compute::cast(column(b, name), &DataType::Utf8).unwrap();
    let c = c.as_string::<i32>();
    (0..c.len())
        .map(|i| {
            assert!(!c.is_null(i), "null in `{name}`, row {i}");
            c.value(i).to_owned()
        })
        .collect()
}

/// Int64 column `name`, one value a row.
pub fn i64s(b: &RecordBatch, name: &str) -> Vec<i64> {
    let c = column(b, name).as_primitive::<Int64Type>();
    assert_eq!(c.null_count(), 0, "nulls in `{name}`");
    c.values().to_vec()
}

/// Float64 column `name`, one value a row.
pub fn f64s(b: &RecordBatch, name: &str) -> Vec<f64> {
    let c = column(b, name).as_primitive::<Float64Type>();
    assert_eq!(c.null_count(), 0, "nulls in `{name}`");
    c.values().to_vec()
}

/// Float64 column `name`, `None` for a null.
pub fn optional_f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    column(b, name)
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}
