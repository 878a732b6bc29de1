//! ORC inventory data files (`fileFormat: "ORC"`, ORC + ZLIB as S3 Inventory writes them):
//! read with `orc-rust` into Arrow record batches, whose rows go through the same checks as a
//! Parquet data file's ([`super::rows::ParquetBatch`]: the column names are the same,
//! `formats.md` §1.3) and the same quarantine, with `format` `inventory-orc` and `line` the
//! 1-based row number.
//!
//! `orc-rust` is built on an older arrow than blobtier (`arrow59` in `Cargo.toml`): each batch
//! crosses over as Arrow IPC bytes (one batch at a time, a copy of that batch), so nothing
//! else in the crate sees the second arrow.
//!
//! Invariants: a data file that is not ORC, or whose stripes do not decode, is an `Err` naming
//! why, never a panic (a panic left in the reader is caught, as for Parquet) nor an abort:
//! orc-rust builds its schema by recursing through the footer's type ids unchecked (a type
//! naming itself overflowed the stack, found by the corruption test in `tests/it/orc.rs`), so
//! the type tree is checked first ([`check_footer`]); memory holds one batch of
//! [`BATCH_ROWS`] rows decoded at a time besides the rows kept.
//!
//! Must not: name `arrow59` outside this file.

use std::io::Read as _;

use arrow::record_batch::RecordBatch;
use orc_rust::proto::{CompressionKind, Footer, PostScript};
use prost::Message as _;

use super::DataFile;
use crate::model::Layout;

/// `format` of the `_rejects` rows of ORC data files (`line` is the 1-based row number).
const ORC_FORMAT: &str = "inventory-orc";
/// Rows decoded at a time.
pub const BATCH_ROWS: usize = 16_384;
/// Largest footer read, decompressed (a footer lists stripes and columns: kilobytes to a few
/// megabytes).
const MAX_FOOTER: usize = 64 << 20;
/// Deepest type nesting accepted (an inventory's is 1: a struct of primitive columns).
const MAX_TYPE_DEPTH: u32 = 64;

/// Reads one ORC data file. An `Err` is a file that is not ORC or does not decode, or a
/// column whose type cannot be read as the table's; a value that does not fit rejects its row.
pub fn read_orc(bytes: Vec<u8>, source_bucket: &str, layout: &Layout) -> Result<DataFile, String> {
    super::guarded("ORC", || read_orc_unguarded(bytes, source_bucket, layout))
}

fn read_orc_unguarded(
    bytes: Vec<u8>,
    source_bucket: &str,
    layout: &Layout,
) -> Result<DataFile, String> {
    check_footer(&bytes)?;
    let reader = orc_rust::ArrowReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| format!("not an ORC file: {e}"))?
        // Microseconds, as the `inventory` table: nanoseconds overflow after 2262, and a row
        // of a later date must be rejected by the row checks, not fail the file.
        .with_timestamp_precision(orc_rust::TimestampPrecision::Microsecond)
        .with_batch_size(BATCH_ROWS)
        .build();
    let batches = reader.map(|batch| ours(&batch.map_err(|e| e.to_string())?));
    super::check_batches(batches, ORC_FORMAT, source_bucket, layout)
}

/// Reads the postscript and footer of an ORC file (`formats.md` §1.1; the ORC specification's
/// file tail) and checks its type tree: every child id is a later type of the footer and the
/// child of one type only, nested at most [`MAX_TYPE_DEPTH`] deep. ORC numbers types in
/// pre-order, so every file its writers write passes; what fails would send orc-rust's
/// recursion round a cycle or down an exponential walk.
fn check_footer(bytes: &[u8]) -> Result<(), String> {
    let n = bytes.len();
    let ps_len = usize::from(*bytes.last().ok_or("not an ORC file: empty")?);
    let ps_at = n
        .checked_sub(1 + ps_len)
        .ok_or("not an ORC file: shorter than its postscript")?;
    let ps = PostScript::decode(&bytes[ps_at..n - 1])
        .map_err(|e| format!("not an ORC file: postscript: {e}"))?;
    let footer_len = ps
        .footer_length
        .and_then(|l| usize::try_from(l).ok())
        .ok_or("not an ORC file: no footer length")?;
    let footer_at = ps_at
        .checked_sub(footer_len)
        .ok_or("not an ORC file: footer longer than the file")?;
    let footer = decompress(&bytes[footer_at..ps_at], ps.compression())?;
    let footer = Footer::decode(footer.as_slice()).map_err(|e| format!("ORC footer: {e}"))?;
    check_types(&footer.types)
}

/// The footer's type tree (see [`check_footer`]).
fn check_types(types: &[orc_rust::proto::Type]) -> Result<(), String> {
    if types.is_empty() {
        return Err("ORC footer: no types".into());
    }
    let mut has_parent = vec![false; types.len()];
    let mut depth = vec![0u32; types.len()];
    for (i, t) in types.iter().enumerate() {
        for &child in &t.subtypes {
            let c = child as usize;
            if c <= i || c >= types.len() {
                return Err(format!(
                    "ORC footer: type {i} names child type {child}, which is not a later one of the {} types",
                    types.len()
                ));
            }
            if std::mem::replace(&mut has_parent[c], true) {
                return Err(format!("ORC footer: type {c} is the child of two types"));
            }
            depth[c] = depth[i] + 1;
            if depth[c] > MAX_TYPE_DEPTH {
                return Err(format!(
                    "ORC footer: types nested deeper than {MAX_TYPE_DEPTH}"
                ));
            }
        }
    }
    Ok(())
}

/// An ORC compressed stream (the footer): chunks of a 3-byte header (length × 2, plus 1 when
/// stored uncompressed) and their bytes, at most [`MAX_FOOTER`] bytes once decompressed.
fn decompress(raw: &[u8], kind: CompressionKind) -> Result<Vec<u8>, String> {
    let too_big = || format!("ORC footer: larger than {MAX_FOOTER} bytes decompressed");
    if kind == CompressionKind::None {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let [a, b, c, ..] = *rest else {
            return Err("ORC footer: truncated chunk header".into());
        };
        let header = u32::from(a) | (u32::from(b) << 8) | (u32::from(c) << 16);
        let len = (header >> 1) as usize;
        let chunk = rest
            .get(3..3 + len)
            .ok_or("ORC footer: chunk longer than the footer")?;
        rest = &rest[3 + len..];
        let room = (MAX_FOOTER + 1).saturating_sub(out.len()) as u64;
        let bad = |e: &dyn std::fmt::Display| format!("ORC footer: {}: {e}", kind.as_str_name());
        if header & 1 == 1 {
            out.extend_from_slice(chunk);
        } else {
            match kind {
                CompressionKind::Zlib => flate2::read::DeflateDecoder::new(chunk)
                    .take(room)
                    .read_to_end(&mut out)
                    .map(drop)
                    .map_err(|e| bad(&e))?,
                CompressionKind::Zstd => zstd::stream::read::Decoder::new(chunk)
                    .map_err(|e| bad(&e))?
                    .take(room)
                    .read_to_end(&mut out)
                    .map(drop)
                    .map_err(|e| bad(&e))?,
                CompressionKind::Snappy => {
                    let n = snap::raw::decompress_len(chunk).map_err(|e| bad(&e))?;
                    if n as u64 >= room {
                        return Err(too_big());
                    }
                    out.extend(snap::raw::Decoder::new().decompress_vec(chunk).map_err(|e| bad(&e))?);
                }
                other => {
                    return Err(format!(
                        "ORC compression `{}` is not read (S3 Inventory writes ZLIB; NONE, ZLIB, SNAPPY and ZSTD are read)",
                        other.as_str_name()
                    ))
                }
            }
        }
        if out.len() > MAX_FOOTER {
            return Err(too_big());
        }
    }
    Ok(out)
}

/// `batch` of orc-rust's arrow as a batch of ours, through the Arrow IPC stream format.
fn ours(batch: &arrow59::record_batch::RecordBatch) -> Result<RecordBatch, String> {
    let why = |e: &dyn std::fmt::Display| format!("could not pass a decoded batch on: {e}");
    let mut buf = Vec::new();
    {
        let mut w = arrow59::ipc::writer::StreamWriter::try_new(&mut buf, &batch.schema())
            .map_err(|e| why(&e))?;
        w.write(batch).map_err(|e| why(&e))?;
        w.finish().map_err(|e| why(&e))?;
    }
    let mut r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(buf), None)
        .map_err(|e| why(&e))?;
    r.next()
        .ok_or_else(|| why(&"no batch in the stream"))?
        .map_err(|e| why(&e))
}
