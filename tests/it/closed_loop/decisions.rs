//! Reads a night's `decisions/as_of=DATE/part-0.parquet` (every blob, moved or kept): what the
//! plan, and the report built from it, projected for each blob.

use std::path::Path;

use crate::support::parquet;

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
    let b = parquet::read(path);
    let text = |name: &str| parquet::texts(&b, name);
    let num = |name: &str| parquet::f64s(&b, name);
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
    (0..b.num_rows())
        .map(|i| Decision {
            key: key[i].clone(),
            from_class: from[i].clone(),
            to_class: to[i].clone(),
            action: action[i].clone(),
            method: method[i].clone(),
            reason: reason[i].clone(),
            monthly_cost_now: now[i],
            monthly_cost_after: after[i],
            one_time_cost: once[i],
        })
        .collect()
}
