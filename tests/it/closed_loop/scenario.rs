//! The closed loop's bucket and its clients: 300 registry blobs in groups whose popularity
//! drifts, the pulls of every day (pre-history included), and the files a real deployment would
//! hand to `blobtier run`: S3 server access logs and S3 Inventory reports (CSV, `formats.md`).
//!
//! Pure apart from writing those files: which pulls happen depends only on the blob and the day;
//! whether a pull succeeds is the caller's (`readable`), so the same demand drives the
//! blobtier-run bucket and the do-nothing counterfactual.
//!
//! Sizes: every object stands for one [`super::bill::SCALE`] times its size (see the module doc
//! of `closed_loop`), so the real objects stay small (16 KiB to 512 KiB) while the bill is that
//! of 4 MiB to 128 MiB blobs.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// First as-of day of the loop (night 0).
pub fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 1).expect("valid date")
}

/// Days of access logs written before night 0 (the longest stats window is 90 days).
pub const HISTORY_DAYS: i64 = 120;

/// How the clients of a group use its blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// Pulled 2 to 8 times every day: stays in STANDARD.
    Hot,
    /// Pulled once a week: stays in STANDARD.
    Rare,
    /// Pulled daily long ago, once more 20 to 29 days before night 0, then never: goes cold
    /// during the loop (`cool`, 30 days without a pull).
    Cooling,
    /// Never pulled (`cold` from night 0 on).
    Cold,
    /// Never pulled until day 12, then once a day: a cold group that comes back.
    Comeback,
    /// In GLACIER / DEEP_ARCHIVE, never pulled.
    Archived,
    /// In GLACIER / DEEP_ARCHIVE, clients try to pull it twice a day from day 10 on.
    ArchivedPulled,
}

/// Day (relative to night 0) from which [`Group::Comeback`] blobs are pulled again.
pub const COMEBACK_DAY: i64 = 12;
/// Day (relative to night 0) from which clients try to pull [`Group::ArchivedPulled`] blobs.
pub const ARCHIVED_PULL_DAY: i64 = 10;

/// One object of the bucket.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Index (0..300).
    pub i: usize,
    /// Key in the registry layout.
    pub key: String,
    /// Real size in bytes.
    pub size: u64,
    /// Content (its sha256 is the digest in the key).
    pub body: Vec<u8>,
    /// Group.
    pub group: Group,
    /// Class at the start.
    pub initial_class: &'static str,
    /// Simulated creation time (Last-Modified at the start).
    pub created: NaiveDateTime,
}

/// The 300 blobs: 100 hot, 48 rare, 60 cooling, 8 comeback, 72 cold, 12 archived (6 GLACIER
/// of which 2 pulled, 6 DEEP_ARCHIVE of which 1 pulled).
pub fn blobs() -> Vec<Blob> {
    (0..300usize)
        .map(|i| {
            let (group, initial_class) = match i {
                0..=99 => (Group::Hot, "STANDARD"),
                100..=147 => (Group::Rare, "STANDARD"),
                148..=207 => (Group::Cooling, "STANDARD"),
                208..=215 => (Group::Comeback, "STANDARD"),
                216..=287 => (Group::Cold, "STANDARD"),
                288 | 289 => (Group::ArchivedPulled, "GLACIER"),
                290..=293 => (Group::Archived, "GLACIER"),
                294 => (Group::ArchivedPulled, "DEEP_ARCHIVE"),
                _ => (Group::Archived, "DEEP_ARCHIVE"),
            };
            let kib = match group {
                Group::Hot => 128 + (i as u64 * 37) % 384,
                Group::Comeback => 16 + (i as u64 * 13) % 16,
                _ => 64 + (i as u64 * 29) % 128,
            };
            let size = kib * 1024 - (i as u64 % 7) * 13;
            let body = bytes(i as u64, size as usize);
            let hex = hex::encode(Sha256::digest(&body));
            let created = start().and_hms_opt(10, 0, 0).expect("valid time")
                - Duration::days(400 - (i as i64 % 50));
            Blob {
                i,
                key: format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]),
                size,
                body,
                group,
                initial_class,
                created,
            }
        })
        .collect()
}

/// Deterministic pseudo-random content.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Pulls of `b` on `day` (clients do not change their mind when a pull fails: a failed pull is
/// retried the next day).
pub fn pulls(b: &Blob, day: NaiveDate) -> u32 {
    let d = (day - start()).num_days();
    let i = b.i as i64;
    match b.group {
        Group::Hot => 2 + (b.i % 7) as u32,
        Group::Rare => u32::from((d + i).rem_euclid(7) == 0),
        Group::Cooling if d < -95 => 2,
        Group::Cooling => u32::from(d == -(20 + i % 10)),
        Group::Comeback => u32::from(d >= COMEBACK_DAY),
        Group::ArchivedPulled if d >= ARCHIVED_PULL_DAY => 2,
        Group::Cold | Group::Archived | Group::ArchivedPulled => 0,
    }
}

/// One client GET as the bucket answered it.
#[derive(Debug, Clone)]
pub struct Pull {
    /// Blob index.
    pub i: usize,
    /// Time.
    pub at: NaiveDateTime,
    /// 200, 206 (range) or 403 (InvalidObjectState: archived, not restored).
    pub status: u16,
    /// Bytes sent (0 for a 403).
    pub bytes: u64,
}

/// Every pull of `day`, answered by `readable(i)`: 200, every fourth one a 206 of a quarter of
/// the blob, or 403 when the blob cannot be read.
pub fn pulls_of_day(blobs: &[Blob], day: NaiveDate, readable: impl Fn(usize) -> bool) -> Vec<Pull> {
    let mut out = Vec::new();
    for b in blobs {
        for k in 0..pulls(b, day) {
            let at = day.and_hms_opt(6, 0, 0).expect("valid time")
                + Duration::seconds((b.i as i64 * 97 + i64::from(k) * 3_607) % 60_000);
            let (status, bytes) = if !readable(b.i) {
                (403, 0)
            } else if (b.i + k as usize) % 4 == 3 {
                (206, b.size / 4)
            } else {
                (200, b.size)
            };
            out.push(Pull {
                i: b.i,
                at,
                status,
                bytes,
            });
        }
    }
    out.sort_by_key(|p| (p.at, p.i));
    out
}

const USER_AGENTS: [&str; 3] = [
    "containerd/1.7.13",
    "docker/27.0.3 go/go1.21.11 git-commit/662f78c kernel/6.1.0 os/linux arch/amd64",
    "cri-o/1.29.2 go/go1.21.7 os/linux arch/amd64",
];

/// One S3 server access log line (27 fields) for a presigned GET of a blob.
pub fn log_line(bucket: &str, b: &Blob, p: &Pull, n: usize) -> String {
    let time = p.at.format("%d/%b/%Y:%H:%M:%S");
    let ip = format!("198.51.100.{}", (b.i * 7 + n) % 250 + 1);
    let ua = USER_AGENTS[(b.i + n) % USER_AGENTS.len()];
    let (error, sent) = match p.status {
        403 => ("InvalidObjectState", "243".to_owned()),
        _ => ("-", p.bytes.to_string()),
    };
    format!(
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be {bucket} [{time} +0000] {ip} \
arn:aws:sts::123456789012:assumed-role/registry/r {rid:016X} REST.GET.OBJECT {key} \
\"GET /{bucket}/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=1200 HTTP/1.1\" {status} {error} {sent} {size} 41 12 \"-\" \"{ua}\" - \
s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 \
QueryString {bucket}.s3.us-east-1.amazonaws.com TLSv1.2 - - us-east-1\n",
        rid = (b.i as u64) << 32 | n as u64,
        key = b.key,
        status = p.status,
        size = b.size,
    )
}

/// Writes the access log object of `day` (S3's key format) under `dir`.
pub fn write_log(dir: &Path, bucket: &str, blobs: &[Blob], day: NaiveDate, pulls: &[Pull]) {
    let mut text = String::new();
    for (n, p) in pulls.iter().enumerate() {
        text.push_str(&log_line(bucket, &blobs[p.i], p, n));
    }
    let name = format!(
        "{}-23-59-59-{:016X}",
        day.format("%Y-%m-%d"),
        (day - start()).num_days().rem_euclid(1 << 20)
    );
    std::fs::write(dir.join(name), text).expect("write an access log file");
}

/// One inventory row: key, size, Last-Modified, ETag (unquoted), storage class.
#[derive(Debug, Clone)]
pub struct InvRow {
    pub key: String,
    pub size: u64,
    pub last_modified: NaiveDateTime,
    pub etag: String,
    pub class: String,
}

/// Writes an S3 Inventory CSV report dated `day` (manifest.json, manifest.checksum and one gzip
/// data file) under `root/dest/<bucket>/cfg/` and returns that configuration directory.
pub fn write_inventory(root: &Path, bucket: &str, day: NaiveDate, rows: &[InvRow]) -> PathBuf {
    let cfg = root.join(format!("dest/{bucket}/cfg"));
    let snap = cfg.join(format!("{}T01-00Z", day.format("%Y-%m-%d")));
    std::fs::create_dir_all(cfg.join("data")).expect("create inventory data dir");
    std::fs::create_dir_all(&snap).expect("create inventory snapshot dir");
    let mut csv = String::new();
    for r in rows {
        let _ = writeln!(
            csv,
            "\"{bucket}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"false\"",
            r.key,
            r.size,
            r.last_modified.format("%Y-%m-%dT%H:%M:%S.000Z"),
            r.etag,
            r.class
        );
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).expect("gzip");
    let data = gz.finish().expect("gzip");
    let data_key = format!(
        "{bucket}/cfg/data/{:08x}-{}.csv.gz",
        (day - start()).num_days().rem_euclid(1 << 20),
        day.format("%Y%m%d")
    );
    std::fs::write(root.join("dest").join(&data_key), &data).expect("write inventory data");
    let ms = day
        .and_hms_opt(1, 0, 0)
        .expect("valid time")
        .and_utc()
        .timestamp_millis();
    let manifest = format!(
        "{{\n  \"sourceBucket\" : \"{bucket}\",\n  \"destinationBucket\" : \"arn:aws:s3:::dest\",\n  \
\"version\" : \"2016-11-30\",\n  \"creationTimestamp\" : \"{ms}\",\n  \"fileFormat\" : \"CSV\",\n  \
\"fileSchema\" : \"Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded\",\n  \
\"files\" : [ {{\n    \"key\" : \"{data_key}\",\n    \"size\" : {},\n    \"MD5checksum\" : \"{}\"\n  }} ]\n}}\n",
        data.len(),
        hex::encode(Md5::digest(&data))
    );
    std::fs::write(snap.join("manifest.json"), &manifest).expect("write manifest");
    std::fs::write(
        snap.join("manifest.checksum"),
        format!("{}\n", hex::encode(Md5::digest(manifest.as_bytes()))),
    )
    .expect("write manifest checksum");
    cfg
}
