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
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::cache::Cached;
use super::closure::{Closure, Refs};
use super::keys::Tag;
use super::{GraphError, GraphMetrics, Result, LIST_CAP};
use crate::ingest::columns;
use crate::ingest::manifest::{Reference, Role};
use crate::io::IoContext;
use crate::model::Digest;
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

/// Schema of `blob_refs/snapshot=D/part-*.parquet`.
pub fn blob_refs_schema() -> SchemaRef {
    let list = |n: &str| {
        Field::new(
            n,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("digest", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, true),
        Field::new("media_type", DataType::Utf8, true),
        Field::new("in_storage", DataType::Boolean, false),
        Field::new("size", DataType::Int64, true),
        Field::new("ref_manifests", DataType::Int64, false),
        Field::new("ref_repos", DataType::Int64, false),
        Field::new("ref_tags", DataType::Int64, false),
        Field::new("referenced_by_tag", DataType::Boolean, false),
        list("manifests"),
        list("repos"),
        list("tags"),
    ]))
}

/// Schema of `manifest_refs/snapshot=D/part-*.parquet`.
pub fn manifest_refs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("manifest", DataType::Utf8, false),
        Field::new("digest", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
    ]))
}

/// Schema of `tags/snapshot=D/part-*.parquet`.
pub fn tags_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("repo", DataType::Utf8, false),
        Field::new("tag", DataType::Utf8, false),
        Field::new("manifest", DataType::Utf8, false),
        Field::new("link_fingerprint", DataType::Utf8, false),
    ]))
}

/// Schema of `manifests/part-*.parquet`: one row per descriptor (a manifest without any has
/// one row with NULL `ref_*`).
pub fn manifests_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("digest", DataType::Utf8, false),
        Field::new("media_type", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("ref_digest", DataType::Utf8, true),
        Field::new("ref_role", DataType::Utf8, true),
        Field::new("ref_media_type", DataType::Utf8, true),
        Field::new("ref_size", DataType::Int64, true),
        Field::new("ref_platform", DataType::Utf8, true),
    ]))
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
    RecordBatch::try_new(manifests_schema(), cols).expect("columns match the manifests schema")
}

/// `blob_refs` rows, one per blob by digest; counts blobs in `m`.
pub(super) fn blob_refs_batch(
    refs: &Refs,
    media: &HashMap<Digest, String>,
    m: &mut GraphMetrics,
) -> RecordBatch {
    let (acc, names) = (&refs.acc, &refs.names);
    let mut digests: Vec<&Digest> = acc.keys().collect();
    digests.sort();
    let list = || ListBuilder::new(StringBuilder::new());
    let (mut c_d, mut c_role, mut c_mt, mut c_in, mut c_size) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        BooleanBuilder::new(),
        Int64Builder::new(),
    );
    let (mut c_nm, mut c_nr, mut c_nt, mut c_tagged) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        BooleanBuilder::new(),
    );
    let (mut l_m, mut l_r, mut l_t) = (list(), list(), list());
    let sorted_names = |set: &HashSet<u32>| -> Vec<&str> {
        let mut v: Vec<&str> = set.iter().map(|&i| names[i as usize].as_str()).collect();
        v.sort_unstable();
        v.truncate(LIST_CAP);
        v
    };
    for d in digests {
        let a = &acc[d];
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
        c_d.append_value(d.to_string());
        c_role.append_option(a.role.map(Role::as_str));
        c_mt.append_option(media.get(d).map(String::as_str));
        c_in.append_value(a.in_storage);
        c_size.append_option(a.size);
        c_nm.append_value(a.manifests.len() as i64);
        c_nr.append_value(a.repos.len() as i64);
        c_nt.append_value(a.tags.len() as i64);
        c_tagged.append_value(!a.tags.is_empty());
        for (builder, set) in [
            (&mut l_m, &a.manifests),
            (&mut l_r, &a.repos),
            (&mut l_t, &a.tags),
        ] {
            for s in sorted_names(set) {
                builder.values().append_value(s);
            }
            builder.append(true);
        }
    }
    RecordBatch::try_new(
        blob_refs_schema(),
        vec![
            Arc::new(c_d.finish()),
            Arc::new(c_role.finish()),
            Arc::new(c_mt.finish()),
            Arc::new(c_in.finish()),
            Arc::new(c_size.finish()),
            Arc::new(c_nm.finish()),
            Arc::new(c_nr.finish()),
            Arc::new(c_nt.finish()),
            Arc::new(c_tagged.finish()),
            Arc::new(nonnull_list(l_m.finish())),
            Arc::new(nonnull_list(l_r.finish())),
            Arc::new(nonnull_list(l_t.finish())),
        ],
    )
    .expect("columns match the blob_refs schema")
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
    RecordBatch::try_new(manifest_refs_schema(), cols)
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
    RecordBatch::try_new(tags_schema(), cols).expect("columns match the tags schema")
}

/// A list array whose field is declared non-nullable at the top level (every row has a list,
/// possibly empty), matching [`blob_refs_schema`].
fn nonnull_list(a: arrow::array::ListArray) -> arrow::array::ListArray {
    let (field, offsets, values, _) = a.into_parts();
    arrow::array::ListArray::new(field, offsets, values, None)
}
