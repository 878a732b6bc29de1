//! Reads a night's `decisions/as_of=DATE/part-0.parquet` (every blob, moved or kept): what the
//! plan, and the report built from it, projected for each blob.

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};

/// One row of `decisions`.
#[derive(Debug, Clone)]
pub struct Decision {
    pub key: String,
    pub from_class: String,
    pub to_class: String,
    pub action: String,
    pub method: String,
    pub reason: String,
    pub monthly_cost_now: f64,
    pub monthly_cost_after: f64,
    pub one_time_cost: f64,
}

/// Every row of the decisions file at `path`.
pub fn read(path: &Path) -> Vec<Decision> {
    let file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("open `{}`: {e}", path.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()));
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.unwrap_or_else(|e| panic!("read `{}`: {e}", path.display()));
        let col = |name: &str, t: &DataType| {
            let c = b
                .column_by_name(name)
                .unwrap_or_else(|| panic!("`{}` has no column `{name}`", path.display()));
            arrow::compute::cast(c, t).expect("cast a decisions column")
        };
        let text = |name: &str| {
            let a = col(name, &DataType::Utf8);
            let a = a.as_string::<i32>();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        String::new()
                    } else {
                        a.value(i).to_owned()
                    }
                })
                .collect::<Vec<_>>()
        };
        let num = |name: &str| {
            let a = col(name, &DataType::Float64);
            let a = a.as_primitive::<Float64Type>();
            (0..a.len())
                .map(|i| if a.is_null(i) { 0.0 } else { a.value(i) })
                .collect::<Vec<_>>()
        };
        let (key, from, to, action, method, reason) = (
            text("key"),
            text("from_class"),
            text("to_class"),
            text("action"),
            text("method"),
            text("reason"),
        );
        let (now, after, once) = (
            num("monthly_cost_now"),
            num("monthly_cost_after"),
            num("one_time_cost"),
        );
        for i in 0..b.num_rows() {
            out.push(Decision {
                key: key[i].clone(),
                from_class: from[i].clone(),
                to_class: to[i].clone(),
                action: action[i].clone(),
                method: method[i].clone(),
                reason: reason[i].clone(),
                monthly_cost_now: now[i],
                monthly_cost_after: after[i],
                one_time_cost: once[i],
            });
        }
    }
    out
}
