//! The Arrow schemas of the lake's tables (`docs/schemas.md`), one function per table, named
//! after the table's directory: the on-disk contract every writer builds its batches against
//! and every reader (the queries' empty tables and DDL, the plan's history) is derived from.
//!
//! Invariants: a table's schema is written here and nowhere else; a column added after a
//! release is nullable (files written before it lack it and read as NULL). Only `plan::file`'s
//! `plan` and `decisions` schemas live with their format (they carry the plan's hash rules).
//! Must not: build batches, read or write files.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// A UTC timestamp column in microseconds.
fn timestamp(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        nullable,
    )
}

/// `pulls/date=…/part-*.parquet`.
pub fn pulls() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("digest", DataType::Utf8, false),
        Field::new("client", DataType::Utf8, true),
        Field::new("repo", DataType::Utf8, true),
        Field::new("ua_class", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("pulls", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        timestamp("first_at", false),
        timestamp("last_at", false),
        // Added after the first release: files written before it lack it (read as NULL).
        Field::new("requests", DataType::Int64, true),
    ]))
}

/// `failed_pulls/date=…/part-*.parquet`.
pub fn failed_pulls() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("digest", DataType::Utf8, false),
        Field::new("client", DataType::Utf8, true),
        Field::new("ua_class", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("status", DataType::Int64, false),
        Field::new("error_code", DataType::Utf8, true),
        Field::new("requests", DataType::Int64, false),
        timestamp("first_at", false),
        timestamp("last_at", false),
    ]))
}

/// `manifest_pulls/date=…/part-*.parquet`.
pub fn manifest_pulls() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("repo", DataType::Utf8, false),
        Field::new("reference", DataType::Utf8, false),
        Field::new("client", DataType::Utf8, true),
        Field::new("ua", DataType::Utf8, true),
        Field::new("ua_class", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("requests", DataType::Int64, false),
        timestamp("first_at", false),
        timestamp("last_at", false),
    ]))
}

/// `_rejects/date=…/part-*.parquet`.
pub fn rejects() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("input", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("reason_code", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new("raw_len", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
    ]))
}

/// `inventory/snapshot=…/part-*.parquet`.
pub fn inventory() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("version_id", DataType::Utf8, true),
        Field::new("is_latest", DataType::Boolean, false),
        Field::new("is_delete_marker", DataType::Boolean, false),
        Field::new("size", DataType::Int64, true),
        timestamp("last_modified", true),
        Field::new("etag", DataType::Utf8, true),
        Field::new("storage_class", DataType::Utf8, true),
        Field::new("intelligent_tiering_access_tier", DataType::Utf8, true),
        Field::new("digest", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("repo", DataType::Utf8, true),
        Field::new("encryption_status", DataType::Utf8, true),
        Field::new("is_multipart_uploaded", DataType::Boolean, true),
    ]))
}

/// `blob_refs/snapshot=D/part-*.parquet`.
pub fn blob_refs() -> SchemaRef {
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

/// `manifest_refs/snapshot=D/part-*.parquet`.
pub fn manifest_refs() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("manifest", DataType::Utf8, false),
        Field::new("digest", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
    ]))
}

/// `tags/snapshot=D/part-*.parquet`.
pub fn tags() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("repo", DataType::Utf8, false),
        Field::new("tag", DataType::Utf8, false),
        Field::new("manifest", DataType::Utf8, false),
        Field::new("link_fingerprint", DataType::Utf8, false),
    ]))
}

/// `manifests/part-*.parquet`: one row per descriptor (a manifest without any has one row
/// with NULL `ref_*`).
pub fn manifests() -> SchemaRef {
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

/// `class_history/as_of=DATE/part-0.parquet`.
pub fn class_history() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("version_id", DataType::Utf8, true),
        Field::new("storage_class", DataType::Utf8, false),
        Field::new("written", DataType::Date32, true),
        Field::new("entered", DataType::Date32, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("snapshot", DataType::Date32, false),
    ]))
}

/// `realized/as_of=DATE/part-0.parquet`.
pub fn realized() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let f = |n: &str| Field::new(n, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        Field::new("plan_as_of", DataType::Date32, false),
        s("plan_id", false),
        s("bucket", false),
        s("key", false),
        s("version_id", true),
        s("action", false),
        s("from_class", false),
        s("to_class", false),
        s("class_now", true),
        s("status", false),
        f("planned_before"),
        f("planned_after"),
        f("billed_now"),
    ]))
}
