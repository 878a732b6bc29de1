//! S3 Inventory reports of `registry-prod` (all versions): two daily CSV snapshots (the last
//! day 01:00Z and seven days earlier) and the latest one again as Parquet.
//!
//! The object list is derived from the world: blob data (layers, configs, manifests), link
//! files, leftover and purged uploads, the garbage-collected blobs (delete marker + noncurrent
//! version), the moving `latest` tag links (noncurrent versions) and a few non-registry keys
//! that need URL encoding. Noncurrent versions expire 30 days after they became noncurrent.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use flate2::write::GzEncoder;
use flate2::Compression;
use md5::{Digest as _, Md5};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression as PqCompression;
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::fmtu::{self, inv_date, DAY, NS};
use crate::http::{blob_key, BUCKET, ROOT};
use crate::rng::{mix, unit, Rng};
use crate::traffic::upload_id;
use crate::world::PushStep;
use crate::Ctx;

const DEST_BUCKET: &str = "registry-prod-inventory";
const CSV_SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, EncryptionStatus, IntelligentTieringAccessTier";
const PARQUET_SCHEMA: &str = "message s3.inventory {  required binary bucket (STRING);  required binary key (STRING);  optional binary version_id (STRING);  optional boolean is_latest;  optional boolean is_delete_marker;  optional int64 size;  optional int64 last_modified_date (TIMESTAMP(MILLIS,true));  optional binary e_tag (STRING);  optional binary storage_class (STRING);  optional boolean is_multipart_uploaded;  optional binary encryption_status (STRING);  optional binary intelligent_tiering_access_tier (STRING);}";
const MULTIPART_COPY_CHUNK: u64 = 32 << 20;

#[derive(Clone, Debug)]
struct Ver {
    created: i64,
    dm: bool,
    size: u64,
    etag: String,
    multipart: bool,
    /// Version ID (`""` for the null version).
    vid: String,
}

#[derive(Debug)]
struct Obj {
    key: String,
    blob: Option<u32>,
    vers: Vec<Ver>,
}

/// One inventory row.
#[derive(Clone, Debug)]
struct Row {
    key: String,
    vid: String,
    latest: bool,
    dm: bool,
    size: u64,
    modified: i64,
    etag: String,
    class: &'static str,
    tier: &'static str,
    multipart: bool,
    blob: bool,
}

fn md5_hex(s: &[u8]) -> String {
    hex::encode(Md5::digest(s))
}

fn version_id(key: &str, i: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    let mut r = Rng::new(mix(xxh3_64_with_seed(key.as_bytes(), 7), i as u64));
    (0..32).map(|_| A[r.index(A.len())] as char).collect()
}

struct Objects {
    map: BTreeMap<String, usize>,
    objs: Vec<Obj>,
    versioning_on: i64,
}

impl Objects {
    fn put(
        &mut self,
        key: String,
        blob: Option<u32>,
        created: i64,
        size: u64,
        etag: String,
        multipart: bool,
    ) {
        self.add(
            key,
            blob,
            Ver {
                created,
                dm: false,
                size,
                etag,
                multipart,
                vid: String::new(),
            },
        );
    }

    fn delete(&mut self, key: String, at: i64) {
        self.add(
            key,
            None,
            Ver {
                created: at,
                dm: true,
                size: 0,
                etag: String::new(),
                multipart: false,
                vid: String::new(),
            },
        );
    }

    fn link(&mut self, key: String, digest_hex: &str, created: i64) {
        let content = format!("sha256:{digest_hex}");
        let etag = md5_hex(content.as_bytes());
        self.put(key, None, created, content.len() as u64, etag, false);
    }

    fn add(&mut self, key: String, blob: Option<u32>, mut v: Ver) {
        let idx = match self.map.get(&key) {
            Some(&i) => i,
            None => {
                self.objs.push(Obj {
                    key: key.clone(),
                    blob,
                    vers: Vec::new(),
                });
                self.map.insert(key, self.objs.len() - 1);
                self.objs.len() - 1
            }
        };
        let o = &mut self.objs[idx];
        if blob.is_some() {
            o.blob = blob;
        }
        if v.created >= self.versioning_on {
            v.vid = version_id(&o.key, o.vers.len());
        } else if o
            .vers
            .last()
            .is_some_and(|l| l.created < self.versioning_on)
        {
            // Overwritten before versioning was enabled: no history kept.
            o.vers.pop();
        }
        o.vers.push(v);
        o.vers.sort_by_key(|v| v.created);
    }
}

fn build_objects(ctx: &Ctx) -> Objects {
    let w = &ctx.w;
    let mut ob = Objects {
        map: BTreeMap::new(),
        objs: Vec::new(),
        versioning_on: w.versioning_on,
    };
    let mut rng = Rng::stream(ctx.seed, "inventory-etags", 0);
    for (i, b) in w.blobs.iter().enumerate() {
        let hexd = b.hex();
        let etag_hex = hex::encode(rng.bytes::<16>());
        let (etag, mp) = if b.size > MULTIPART_COPY_CHUNK {
            (
                format!("{etag_hex}-{}", b.size.div_ceil(MULTIPART_COPY_CHUNK)),
                true,
            )
        } else {
            (etag_hex, false)
        };
        ob.put(blob_key(&hexd), Some(i as u32), b.created, b.size, etag, mp);
        if let Some(t) = b.gc {
            ob.delete(blob_key(&hexd), t);
        }
    }
    let mut linked: Vec<HashSet<u32>> = vec![HashSet::new(); w.repos.len()];
    for (ii, im) in w.images.iter().enumerate() {
        let repo = &w.repos[im.repo as usize].name;
        let rk = |rest: String| format!("{ROOT}/repositories/{repo}/{rest}");
        let mhex = w.blobs[im.manifest as usize].hex();
        for (si, &(b, step)) in im.steps.iter().enumerate() {
            if linked[im.repo as usize].insert(b) {
                let bh = w.blobs[b as usize].hex();
                ob.link(rk(format!("_layers/sha256/{bh}/link")), &bh, im.pushed);
            }
            if step == PushStep::New && im.pushed >= ctx.win.start {
                // Completed uploads are deleted by the registry; with versioning they leave
                // a noncurrent version and a delete marker.
                let u = fmtu::uuid_from(upload_id(ctx.seed, ii as u32, si));
                let size = w.blobs[b as usize].size;
                let started = format!("{}", im.pushed / NS);
                let data = rk(format!("_uploads/{u}/data"));
                let sa = rk(format!("_uploads/{u}/startedat"));
                ob.put(
                    data.clone(),
                    None,
                    im.pushed - 20 * NS,
                    size,
                    hex::encode(rng.bytes::<16>()),
                    false,
                );
                ob.put(
                    sa.clone(),
                    None,
                    im.pushed - 21 * NS,
                    started.len() as u64,
                    md5_hex(started.as_bytes()),
                    false,
                );
                ob.delete(data, im.pushed - NS);
                ob.delete(sa, im.pushed - NS);
            }
        }
        ob.link(
            rk(format!("_manifests/revisions/sha256/{mhex}/link")),
            &mhex,
            im.pushed,
        );
        ob.link(
            rk(format!("_manifests/tags/{}/current/link", im.tag)),
            &mhex,
            im.pushed,
        );
        ob.link(
            rk(format!(
                "_manifests/tags/{}/index/sha256/{mhex}/link",
                im.tag
            )),
            &mhex,
            im.pushed,
        );
        ob.link(
            rk("_manifests/tags/latest/current/link".into()),
            &mhex,
            im.pushed + 50_000_000,
        );
        ob.link(
            rk(format!("_manifests/tags/latest/index/sha256/{mhex}/link")),
            &mhex,
            im.pushed + 50_000_000,
        );
        if let Some(d) = im.deleted {
            ob.delete(rk(format!("_manifests/revisions/sha256/{mhex}/link")), d);
            ob.delete(rk(format!("_manifests/tags/{}/current/link", im.tag)), d);
            ob.delete(
                rk(format!(
                    "_manifests/tags/{}/index/sha256/{mhex}/link",
                    im.tag
                )),
                d,
            );
        }
    }
    for a in &w.aborted {
        let repo = &w.repos[a.repo as usize].name;
        let u = fmtu::uuid_from(a.up);
        let base = format!("{ROOT}/repositories/{repo}/_uploads/{u}");
        let mut started = String::new();
        fmtu::rfc3339_nano(&mut started, a.started, 0);
        let purge = a.started + 7 * DAY + 3 * 3600 * NS;
        let keys = [
            (
                format!("{base}/data"),
                a.size,
                hex::encode(rng.bytes::<16>()),
            ),
            (
                format!("{base}/startedat"),
                started.len() as u64,
                md5_hex(started.as_bytes()),
            ),
            (
                format!("{base}/hashstates/sha256/{}", a.size),
                96 + a.size % 64,
                hex::encode(rng.bytes::<16>()),
            ),
        ];
        for (k, size, etag) in keys {
            ob.put(k.clone(), None, a.started + 2 * NS, size, etag, false);
            ob.delete(k, purge);
        }
    }
    // Non-registry keys (URL encoding in CSV; raw in Parquet).
    let misc_t = ctx.win.end - 150 * DAY;
    let misc: [(&str, &[u8]); 5] = [
        ("backups/", b""),
        (
            "backups/registry-config 2026-06-01.yml",
            b"version: 0.1\nstorage:\n  s3:\n    bucket: registry-prod\n",
        ),
        (
            "reports/dt=2026-07-01/usage.csv",
            b"repo,pulls\nteam1/api,1204\n",
        ),
        ("scratch/caf\u{e9} notes.txt", b"migration notes\n"),
        ("tmp/a+b.json", b"{}\n"),
    ];
    for (i, (k, content)) in misc.iter().enumerate() {
        ob.put(
            (*k).to_string(),
            None,
            misc_t + i as i64 * 3 * DAY,
            content.len() as u64,
            md5_hex(content),
            false,
        );
    }
    ob
}

fn class_of(ctx: &Ctx, blob: u32, t: i64, last_access: i64) -> (&'static str, &'static str) {
    let b = &ctx.w.blobs[blob as usize];
    let u = unit(mix(ctx.seed ^ 0xC1A5, u64::from(blob)));
    let age = (t - b.created) / DAY;
    if u < 0.06 && age > 200 {
        ("GLACIER_IR", "")
    } else if u < 0.20 && age > 120 {
        ("STANDARD_IA", "")
    } else if (0.20..0.32).contains(&u) && age > 30 {
        let idle = (t - last_access.max(b.created)) / DAY;
        let tier = if b.size < 128 * 1024 || idle < 30 {
            "FREQUENT"
        } else if idle < 90 {
            "INFREQUENT"
        } else {
            "ARCHIVE_INSTANT_ACCESS"
        };
        ("INTELLIGENT_TIERING", tier)
    } else {
        ("STANDARD", "")
    }
}

fn rows_at(ctx: &Ctx, ob: &Objects, t: i64, last_pull: &[i64]) -> Vec<Row> {
    let mut rows = Vec::new();
    for o in &ob.objs {
        let vs: Vec<&Ver> = o.vers.iter().filter(|v| v.created <= t).collect();
        for (i, v) in vs.iter().enumerate() {
            let latest = i + 1 == vs.len();
            if !latest && vs[i + 1].created <= t - 30 * DAY {
                continue; // noncurrent version expired by lifecycle
            }
            let (class, tier) = match (v.dm, o.blob) {
                (true, _) => ("", ""),
                (false, Some(b)) => class_of(ctx, b, t, last_pull[b as usize]),
                (false, None) => ("STANDARD", ""),
            };
            rows.push(Row {
                key: o.key.clone(),
                vid: v.vid.clone(),
                latest,
                dm: v.dm,
                size: v.size,
                modified: v.created - v.created.rem_euclid(NS),
                etag: v.etag.clone(),
                class,
                tier,
                multipart: v.multipart,
                blob: o.blob.is_some(),
            });
        }
    }
    rows
}

fn csv_row(out: &mut String, r: &Row) {
    use std::fmt::Write as _;
    let b = |x: bool| if x { "true" } else { "false" };
    let _ = write!(
        out,
        "\"{BUCKET}\",\"{}\",\"{}\",\"{}\",\"{}\",",
        fmtu::url_encode_key(&r.key),
        r.vid,
        b(r.latest),
        b(r.dm)
    );
    if r.dm {
        let _ = writeln!(
            out,
            "\"\",\"{}\",\"\",\"\",\"\",\"\",\"\"",
            inv_date(r.modified)
        );
    } else {
        let _ = writeln!(
            out,
            "\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"SSE-S3\",\"{}\"",
            r.size,
            inv_date(r.modified),
            r.etag,
            r.class,
            b(r.multipart),
            r.tier
        );
    }
}

fn write_file(root: &Path, rel: &str, bytes: &[u8]) -> io::Result<()> {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(p, bytes)
}

/// Jackson-style pretty JSON of an inventory manifest (`"key" : value`).
fn manifest_json(
    created: i64,
    format: &str,
    schema: &str,
    files: &[(String, u64, String)],
) -> String {
    let mut s = String::new();
    s.push_str("{\n");
    s.push_str(&format!("  \"sourceBucket\" : \"{BUCKET}\",\n"));
    s.push_str(&format!(
        "  \"destinationBucket\" : \"arn:aws:s3:::{DEST_BUCKET}\",\n"
    ));
    s.push_str("  \"version\" : \"2016-11-30\",\n");
    s.push_str(&format!(
        "  \"creationTimestamp\" : \"{}\",\n",
        created / 1_000_000
    ));
    s.push_str(&format!("  \"fileFormat\" : \"{format}\",\n"));
    s.push_str(&format!("  \"fileSchema\" : \"{schema}\",\n"));
    s.push_str("  \"files\" : [ ");
    for (i, (key, size, md5)) in files.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!(
            "{{\n    \"key\" : \"{key}\",\n    \"size\" : {size},\n    \"MD5checksum\" : \"{md5}\"\n  }}"
        ));
    }
    s.push_str(" ]\n}");
    s
}

fn folder(t: i64) -> String {
    let tm = fmtu::tm(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}Z",
        tm.y, tm.mo, tm.d, tm.h, tm.mi
    )
}

fn write_manifest(
    root: &Path,
    config: &str,
    t: i64,
    format: &str,
    schema: &str,
    files: &[(String, u64, String)],
) -> io::Result<()> {
    let m = manifest_json(t, format, schema, files);
    let dir = format!("inventory/{DEST_BUCKET}/{BUCKET}/{config}/{}", folder(t));
    write_file(root, &format!("{dir}/manifest.json"), m.as_bytes())?;
    write_file(
        root,
        &format!("{dir}/manifest.checksum"),
        format!("{}\n", md5_hex(m.as_bytes())).as_bytes(),
    )
}

fn stats(rows: &[Row]) -> Value {
    let mut classes: BTreeMap<&str, u64> = BTreeMap::new();
    let mut tiers: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.blob && r.latest && !r.dm) {
        *classes.entry(r.class).or_default() += 1;
        if !r.tier.is_empty() {
            *tiers.entry(r.tier).or_default() += 1;
        }
    }
    json!({
        "rows": rows.len(),
        "blob_rows": rows.iter().filter(|r| r.blob).count(),
        "current_blob_objects": rows.iter().filter(|r| r.blob && r.latest && !r.dm).count(),
        "current_blob_bytes": rows.iter().filter(|r| r.blob && r.latest && !r.dm).map(|r| r.size).sum::<u64>(),
        "delete_markers": rows.iter().filter(|r| r.dm).count(),
        "noncurrent_versions": rows.iter().filter(|r| !r.latest).count(),
        "current_blob_storage_classes": classes,
        "current_blob_intelligent_tiering_tiers": tiers,
    })
}

/// Blobs of the latest snapshot: current (latest version not a delete marker) and listed at
/// all (any version, delete markers included).
pub(crate) struct InLatest {
    pub(crate) current: HashSet<u32>,
    pub(crate) listed: HashSet<u32>,
}

/// Writes both snapshots and the Parquet copy; returns the expected-values section.
/// `last_pull[k][blob]` = last pull at or before snapshot `k` (or `i64::MIN`).
pub(crate) fn write(
    ctx: &Arc<Ctx>,
    snaps: [i64; 2],
    last_pull: &[Vec<i64>; 2],
) -> io::Result<(Value, InLatest)> {
    let ob = build_objects(ctx);
    let root = &ctx.out;
    let mut out = Vec::new();
    let mut in_latest = InLatest {
        current: HashSet::new(),
        listed: HashSet::new(),
    };
    for (k, &t) in snaps.iter().enumerate() {
        let mut rows = rows_at(ctx, &ob, t, &last_pull[k]);
        if k == 0 {
            for o in &ob.objs {
                if let Some(b) = o.blob {
                    if let Some(v) = o.vers.iter().rfind(|v| v.created <= t) {
                        in_latest.listed.insert(b);
                        if !v.dm {
                            in_latest.current.insert(b);
                        }
                    }
                }
            }
        }
        let mut rng = Rng::stream(ctx.seed, "inventory-files", k as u64);
        rng.shuffle(&mut rows);
        let n = ctx.p.inv_files.max(1);
        let per = rows.len().div_ceil(n);
        let mut files = Vec::new();
        let mut csv_keys = Vec::new();
        for chunk in rows.chunks(per.max(1)) {
            let mut text = String::new();
            for r in chunk {
                csv_row(&mut text, r);
            }
            let mut gz = GzEncoder::new(Vec::new(), Compression::new(ctx.p.gz_level));
            gz.write_all(text.as_bytes())?;
            let bytes = gz.finish()?;
            let key = format!("{BUCKET}/daily-csv/data/{}.csv.gz", fmtu::uuid(rng.bytes()));
            write_file(root, &format!("inventory/{DEST_BUCKET}/{key}"), &bytes)?;
            files.push((key.clone(), bytes.len() as u64, md5_hex(&bytes)));
            csv_keys.push(key);
        }
        write_manifest(root, "daily-csv", t, "CSV", CSV_SCHEMA, &files)?;
        let tm = fmtu::tm(t);
        let symlink: String = csv_keys
            .iter()
            .map(|k| format!("s3://{DEST_BUCKET}/{k}\n"))
            .collect();
        write_file(
            root,
            &format!(
                "inventory/{DEST_BUCKET}/{BUCKET}/daily-csv/hive/dt={:04}-{:02}-{:02}-{:02}-{:02}/symlink.txt",
                tm.y, tm.mo, tm.d, tm.h, tm.mi
            ),
            symlink.as_bytes(),
        )?;
        let mut s = stats(&rows);
        s["snapshot"] = json!(folder(t));
        s["format"] = json!("CSV");
        s["data_files"] = json!(files.len());
        s["manifest"] = json!(format!(
            "inventory/{DEST_BUCKET}/{BUCKET}/daily-csv/{}/manifest.json",
            folder(t)
        ));
        out.push(s);

        if k == 0 {
            rng.shuffle(&mut rows);
            let n = ctx.p.parquet_files.max(1);
            let per = rows.len().div_ceil(n).max(1);
            let mut files = Vec::new();
            for chunk in rows.chunks(per) {
                let bytes = parquet_bytes(chunk).map_err(io::Error::other)?;
                let key = format!(
                    "{BUCKET}/daily-parquet/data/{}.parquet",
                    fmtu::uuid(rng.bytes())
                );
                write_file(root, &format!("inventory/{DEST_BUCKET}/{key}"), &bytes)?;
                files.push((key, bytes.len() as u64, md5_hex(&bytes)));
            }
            write_manifest(root, "daily-parquet", t, "Parquet", PARQUET_SCHEMA, &files)?;
            let mut s = stats(&rows);
            s["snapshot"] = json!(folder(t));
            s["format"] = json!("Parquet");
            s["data_files"] = json!(files.len());
            s["manifest"] = json!(format!(
                "inventory/{DEST_BUCKET}/{BUCKET}/daily-parquet/{}/manifest.json",
                folder(t)
            ));
            out.push(s);
        }
    }
    Ok((Value::Array(out), in_latest))
}

fn parquet_bytes(rows: &[Row]) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let opt_str = |f: &dyn Fn(&Row) -> &str| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| {
                    let s = f(r);
                    if s.is_empty() {
                        None
                    } else {
                        Some(s.to_string())
                    }
                })
                .collect::<Vec<_>>(),
        ))
    };
    let live = |r: &Row| !r.dm;
    let schema = Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("version_id", DataType::Utf8, true),
        Field::new("is_latest", DataType::Boolean, true),
        Field::new("is_delete_marker", DataType::Boolean, true),
        Field::new("size", DataType::Int64, true),
        Field::new(
            "last_modified_date",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("e_tag", DataType::Utf8, true),
        Field::new("storage_class", DataType::Utf8, true),
        Field::new("is_multipart_uploaded", DataType::Boolean, true),
        Field::new("encryption_status", DataType::Utf8, true),
        Field::new("intelligent_tiering_access_tier", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![BUCKET; rows.len()])),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        )),
        opt_str(&|r| r.vid.as_str()),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| Some(r.latest)).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| Some(r.dm)).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| live(r).then_some(r.size as i64))
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampMillisecondArray::from(
                rows.iter()
                    .map(|r| Some(r.modified / 1_000_000))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        opt_str(&|r| r.etag.as_str()),
        opt_str(&|r| r.class),
        Arc::new(BooleanArray::from(
            rows.iter()
                .map(|r| live(r).then_some(r.multipart))
                .collect::<Vec<_>>(),
        )),
        opt_str(&|r| if r.dm { "" } else { "SSE-S3" }),
        opt_str(&|r| r.tier),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    let props = WriterProperties::builder()
        .set_compression(PqCompression::SNAPPY)
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props))?;
    w.write(&batch)?;
    w.close()?;
    Ok(buf)
}
