//! Exact counts and stats on the real sample lines kept in `tests/fixtures/samples/` (written
//! by others; see tests/fixtures/README.md) and on our own written lines of the same shapes.
//! Most real lines are not blob pulls: their expected pull count is zero.
//! See: issues 2 and 3.

use std::fs;
use std::path::Path;

use crate::ingest::{walk, KEY};
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run};
use crate::support::parquet;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn ingest(lake: &Path, logs: &str) -> serde_json::Value {
    let out = run(blobtier()
        .args(["ingest", "--max-bad-ratio", "1", "--lake"])
        .arg(lake)
        .args(["--logs", logs])
        .env("BLOBTIER_CLIENT_KEY", KEY));
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn real_s3_access_samples_have_no_blob_pulls_and_no_rejects() {
    let t = tempfile::tempdir().unwrap();
    let m = ingest(
        &t.path().join("lake"),
        &format!("s3-access:{FIX}/samples/s3-access-logs"),
    );
    // aws-docs-examples.log (7 lines) + logstash-patterns-core-spec.log (3 lines).
    assert_eq!(m["totals"]["lines"], 10, "{m}");
    assert_eq!(m["totals"]["pulls"], 0);
    assert_eq!(m["totals"]["manifest_requests"], 0);
    assert_eq!(m["totals"]["rejects"], serde_json::json!({}));
    assert!(walk(&t.path().join("lake/pulls")).is_empty());
}

/// The captured notification bodies are pretty-printed HTTP requests; the `notifications`
/// format takes one envelope per line, so the test strips the headers and compacts the JSON.
#[test]
fn real_notification_samples_count_manifest_pulls_only() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("events");
    fs::create_dir_all(&dir).unwrap();
    let mut lines = String::new();
    for f in walk(Path::new(&format!("{FIX}/samples/registry-notifications"))) {
        let text = fs::read_to_string(&f).unwrap();
        let body = match text.find("\n\n").or_else(|| text.find("\r\n\r\n")) {
            Some(i) if text.starts_with("POST") => &text[i..],
            _ => &text[..],
        };
        let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        lines.push_str(&v.to_string());
        lines.push('\n');
    }
    fs::write(dir.join("events.jsonl"), lines).unwrap();
    let m = ingest(
        &t.path().join("lake"),
        &format!("notifications:{}", dir.display()),
    );
    // distribution-docs-pull-manifest-2016.json and imagespy-b-pull-manifest.http are manifest
    // pulls; imagespy-a (push manifest) and imagespy-c (push blob) are not pulls at all.
    assert_eq!(m["totals"]["lines"], 4, "{m}");
    assert_eq!(m["totals"]["pulls"], 0);
    assert_eq!(m["totals"]["manifest_requests"], 2);
    assert_eq!(m["totals"]["ignored"]["no_pull_events"], 2);
}

const D87: &str = "sha256:87a8d9a5d6e2c3d1f0f27b8c4a0a9e6a5f2b3c1d0e9f8a7b6c5d4e3f2a1b0e38";
const D07: &str = "sha256:07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548";
const D3E: &str = "sha256:3ecd1c3829ce622c9e59853f48ec741441cd5c35ece50996c78eace0513e771d";
const NEVER: &str = "sha256:74f634b1bc1bd74535d5209589734efbd44a25f4e2dc96d78784576a3eb5b335";

fn key(d: &str) -> String {
    let h = &d[7..];
    format!("docker/registry/v2/blobs/sha256/{}/{h}/data", &h[..2])
}

/// Expected stats for tests/fixtures/written/registry-combined.log, computed by hand:
/// - 87a8…: GET 200 by 172.17.0.1 (skopeo → ci), 198.51.100.7 (no UA → other) and
///   198.51.100.8 (other), 300290 bytes each, repository team1/app;
/// - 07a1…: GET 307 by 10.0.0.5 (docker → human), a redirect: 0 bytes;
/// - 3ecd…: GET 200 by 192.0.2.10 at 18:39:10 +0100 (= 17:39:10 UTC; containerd → ci;
///   nginx line with extra fields) and 206 by 2001:db8::17 (containerd), 3402451 + 1048576 bytes;
/// - HEAD, 401, 404, uploads, the manifest GET, the JSON line and the TLS probe are not pulls;
/// - 74f6… is in the inventory and never pulled.
#[test]
fn stats_of_the_written_combined_lines_match_the_hand_computed_table() {
    let t = tempfile::tempdir().unwrap();
    let lake = t.path().join("lake");
    let m = ingest(
        &lake,
        &format!("registry-combined:{FIX}/written/registry-combined.log"),
    );
    assert_eq!(m["totals"]["pulls"], 6, "{m}");
    assert_eq!(m["totals"]["manifest_requests"], 2, "{m}");
    let rows: Vec<InvRow> = [D87, D07, D3E, NEVER]
        .iter()
        .map(|d| {
            (
                key(d),
                300290,
                "2026-01-01T00:00:00.000Z".to_string(),
                "STANDARD".to_string(),
            )
        })
        .collect();
    let manifest = write_inventory(t.path(), "registry-prod", "2026-11-27", &rows);
    run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg("--inventory")
        .arg(&manifest))
    .assert_success();
    run(blobtier()
        .args(["stats", "--as-of", "2026-11-27", "--lake"])
        .arg(&lake))
    .assert_success();
    let file = walk(&lake.join("digest_stats")).pop().unwrap();
    let v = read_rows(&file);
    //            digest  pulls_7d unique_7d bytes_30d repos_90d ci_share_30d
    let want: [Expected; 4] = [
        (D07, 1, 1, 0, 1, Some(0.0)),
        (D3E, 2, 2, 3402451 + 1048576, 1, Some(1.0)),
        (NEVER, 0, 0, 0, 0, None),
        (D87, 3, 3, 3 * 300290, 1, Some(1.0 / 3.0)),
    ];
    assert_eq!(v.len(), 4, "{v:?}");
    for ((d, p, u, b, r, ci), row) in want.iter().zip(&v) {
        assert_eq!(row.0, *d);
        assert_eq!((row.1, row.2, row.3, row.4), (*p, *u, *b, *r), "{d}");
        match (row.5, ci) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{d}: {a} vs {b}"),
            (a, b) => assert_eq!(a, *b, "{d}"),
        }
    }
}

type Row = (String, i64, i64, i64, i64, Option<f64>);
/// digest, pulls_7d, unique_clients_7d, bytes_served_30d, repos_90d, ci_share_30d.
type Expected = (&'static str, i64, i64, i64, i64, Option<f64>);

fn read_rows(file: &Path) -> Vec<Row> {
    let b = parquet::read(file);
    let i = |n: &str| parquet::i64s(&b, n);
    let (p7, u7, served, repos) = (
        i("pulls_7d"),
        i("unique_clients_7d"),
        i("bytes_served_30d"),
        i("repos_90d"),
    );
    let ci = parquet::optional_f64s(&b, "ci_share_30d");
    let mut out: Vec<Row> = parquet::texts(&b, "digest")
        .into_iter()
        .enumerate()
        .map(|(r, digest)| (digest, p7[r], u7[r], served[r], repos[r], ci[r]))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
