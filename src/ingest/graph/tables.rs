//! The graph's tables: their Arrow schemas (`docs/schemas.md`), the record batches a build
//! returns, and reading blobtier's own Parquet back (the manifest cache, the previous tags,
//! inventory files).
//!
//! Invariants: every `blob_refs` row has its three lists (possibly empty), each sorted and cut
//! at [`LIST_CAP`] while the counts stay exact; rows are sorted by digest (`blob_refs`) or
//! manifest (`manifest_refs`), so a rebuild from the same inputs writes the same bytes.
//!
//! Must not: write files (ingest does, through the lake) or decide what the graph contains.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;

use super::cache::Cached;
use super::closure::{Acc, Closure, Refs};
use super::keys::Tag;
use super::{GraphError, GraphMetrics, Result, LIST_CAP};
use crate::ingest::columns;
use crate::ingest::manifest::{Reference, Role};
use crate::io::IoContext;
use crate::model::{schema, Digest};
use crate::storage::StorageError;

pub(super) fn table_err(path: &Path) -> impl Fn(String) -> GraphError + '_ {
    move |reason| GraphError::BadTable {
        path: path.to_owned(),
        reason,
    }
}

/// Reads a Parquet file written by blobtier into record batches.
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let err = table_err(path);
    let f = fs::File::open(path)
        .at("failed to open", path)
        .map_err(StorageError::from)?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| err(e.to_string()))?
        .build()
        .map_err(|e| err(e.to_string()))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))
}

fn col<'b>(b: &'b RecordBatch, name: &str, path: &Path) -> Result<&'b ArrayRef> {
    b.column_by_name(name)
        .ok_or_else(|| table_err(path)(format!("missing column `{name}`")))
}

fn strings(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<String>>> {
    let c = col(b, name, path)?;
    let c = arrow::compute::cast(c, &DataType::Utf8).map_err(|e| table_err(path)(e.to_string()))?;
    let c = c.as_string::<i32>();
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i).to_owned()))
        .collect())
}

/// The string columns `names`, in that order.
pub(super) fn string_columns<const N: usize>(
    b: &RecordBatch,
    names: [&str; N],
    path: &Path,
) -> Result<[Vec<Option<String>>; N]> {
    let mut out = Vec::with_capacity(N);
    for name in names {
        out.push(strings(b, name, path)?);
    }
    Ok(out.try_into().expect("one column per name"))
}

pub(super) fn int64s(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<i64>>> {
    let c = col(b, name, path)?;
    let c =
        arrow::compute::cast(c, &DataType::Int64).map_err(|e| table_err(path)(e.to_string()))?;
    let c = c.as_primitive::<Int64Type>();
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i)))
        .collect())
}

pub(super) fn bools(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<bool>>> {
    let c = col(b, name, path)?;
    let c = c
        .as_boolean_opt()
        .ok_or_else(|| table_err(path)(format!("column `{name}` is not boolean")))?;
    Ok((0..c.len())
        .map(|i| (!c.is_null(i)).then(|| c.value(i)))
        .collect())
}

pub(super) fn manifests_batch(rows: &BTreeMap<Digest, Cached>) -> RecordBatch {
    // One row per descriptor; a manifest without any has one row with no reference.
    let rows: Vec<(&Digest, &Cached, Option<&Reference>)> = rows
        .iter()
        .flat_map(|(digest, m)| {
            let refs: Vec<Option<&Reference>> = if m.refs.is_empty() {
                vec![None]
            } else {
                m.refs.iter().map(Some).collect()
            };
            refs.into_iter().map(move |r| (digest, m, r))
        })
        .collect();
    let cols: Vec<ArrayRef> = vec![
        columns::utf8_values(rows.iter().map(|(d, _, _)| d.to_string())),
        columns::utf8(rows.iter().map(|(_, m, _)| m.media_type.as_deref())),
        columns::utf8_values(rows.iter().map(|(_, m, _)| m.kind.as_str())),
        columns::int64_values(rows.iter().map(|(_, m, _)| m.size)),
        columns::utf8(rows.iter().map(|(_, _, r)| r.map(|r| r.digest.to_string()))),
        columns::utf8(rows.iter().map(|(_, _, r)| r.map(|r| r.role.as_str()))),
        columns::utf8(
            rows.iter()
                .map(|(_, _, r)| r.and_then(|r| r.media_type.as_deref())),
        ),
        columns::int64(rows.iter().map(|(_, _, r)| r.and_then(|r| r.size))),
        columns::utf8(
            rows.iter()
                .map(|(_, _, r)| r.and_then(|r| r.platform.as_deref())),
        ),
    ];
    RecordBatch::try_new(schema::manifests(), cols).expect("columns match the manifests schema")
}

/// `blob_refs` rows, one per blob by digest; counts blobs in `m`.
pub(super) fn blob_refs_batch(
    refs: &Refs,
    media: &HashMap<Digest, String>,
    m: &mut GraphMetrics,
) -> RecordBatch {
    let (acc, names) = (&refs.acc, &refs.names);
    let mut rows: Vec<(&Digest, &Acc)> = acc.iter().collect();
    rows.sort_by_key(|(d, _)| *d);
    for (_, a) in &rows {
        count_blob(m, a);
    }
    let sorted_names = |set: &HashSet<u32>| -> Vec<&str> {
        let mut v: Vec<&str> = set.iter().map(|&i| names[i as usize].as_str()).collect();
        v.sort_unstable();
        v.truncate(LIST_CAP);
        v
    };
    let count = |set: fn(&Acc) -> &HashSet<u32>| {
        columns::int64_values(rows.iter().map(|(_, a)| set(a).len() as i64))
    };
    let list = |set: fn(&Acc) -> &HashSet<u32>| {
        columns::utf8_lists(rows.iter().map(|(_, a)| sorted_names(set(a))))
    };
    let cols: Vec<ArrayRef> = vec![
        columns::utf8_values(rows.iter().map(|(d, _)| d.to_string())),
        columns::utf8(rows.iter().map(|(_, a)| a.role.map(Role::as_str))),
        columns::utf8(rows.iter().map(|(d, _)| media.get(*d))),
        columns::bool_values(rows.iter().map(|(_, a)| a.in_storage)),
        columns::int64(rows.iter().map(|(_, a)| a.size)),
        count(|a| &a.manifests),
        count(|a| &a.repos),
        count(|a| &a.tags),
        columns::bool_values(rows.iter().map(|(_, a)| !a.tags.is_empty())),
        list(|a| &a.manifests),
        list(|a| &a.repos),
        list(|a| &a.tags),
    ];
    RecordBatch::try_new(schema::blob_refs(), cols).expect("columns match the blob_refs schema")
}

/// Counts one blob of `blob_refs` in `m`: stored or missing, referenced, tagged, and the
/// stored blobs no manifest references.
fn count_blob(m: &mut GraphMetrics, a: &Acc) {
    m.blobs += 1;
    if a.in_storage {
        m.blobs_in_storage += 1;
        if a.repos.is_empty() {
            m.blobs_unreferenced += 1;
            m.bytes_unreferenced += a.size.unwrap_or(0).max(0) as u64;
        }
    } else {
        m.blobs_missing += 1;
    }
    if !a.repos.is_empty() {
        m.blobs_referenced += 1;
    }
    if !a.tags.is_empty() {
        m.blobs_tagged += 1;
    }
}

/// `manifest_refs` rows: each manifest's closure.
pub(super) fn manifest_refs_batch(
    known: &BTreeSet<Digest>,
    closures: &HashMap<Digest, Closure>,
) -> RecordBatch {
    let rows: Vec<(&Digest, &Digest, &Role)> = known
        .iter()
        .flat_map(|d| closures[d].iter().map(move |(b, role)| (d, b, role)))
        .collect();
    let cols: Vec<ArrayRef> = vec![
        columns::utf8_values(rows.iter().map(|(m, _, _)| m.to_string())),
        columns::utf8_values(rows.iter().map(|(_, b, _)| b.to_string())),
        columns::utf8_values(rows.iter().map(|(_, _, role)| role.as_str())),
    ];
    RecordBatch::try_new(schema::manifest_refs(), cols)
        .expect("columns match the manifest_refs schema")
}

/// `tags` rows.
pub(super) fn tags_batch(tags: &[Tag]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        columns::utf8_values(tags.iter().map(|(repo, _, _, _)| repo)),
        columns::utf8_values(tags.iter().map(|(_, tag, _, _)| tag)),
        columns::utf8_values(tags.iter().map(|(_, _, d, _)| d.to_string())),
        columns::utf8_values(tags.iter().map(|(_, _, _, fp)| fp)),
    ];
    RecordBatch::try_new(schema::tags(), cols).expect("columns match the tags schema")
}
