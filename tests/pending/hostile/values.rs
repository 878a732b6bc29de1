//! Issue 17 cases 1 (timestamps outside 1970–9999), 9 (client addresses in the quarantine),
//! 11 (a NUL byte in place of a separator) and 13 (an undecodable key): values a parser cannot
//! use are quarantined and counted under a reason, never turned into a partition, a non-pull or
//! a stored address.

use std::fs;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;

const DAY: &str = "26/Nov/2026";

fn ingest_all(lake: &Path, specs: &[String]) -> serde_json::Value {
    let mut cmd = ingest_cmd(lake);
    cmd.args(["--max-bad-ratio", "1"]);
    for s in specs {
        cmd.arg("--logs").arg(s);
    }
    let out = run(&mut cmd);
    assert_eq!(out.code(), 0, "{out}");
    metrics(&out)
}

fn json_line(time: &str, addr: &str) -> String {
    format!(
        "{{\"http.request.method\":\"GET\",\"http.request.remoteaddr\":\"{addr}\",\"http.request.uri\":\"/v2/team/app/blobs/sha256:{}\",\"http.response.status\":200,\"http.response.written\":5,\"level\":\"info\",\"msg\":\"response completed\",\"time\":\"{time}\"}}\n",
        hex(3)
    )
}

/// Years 10000 and -1 (a 9999-12-31 or 0000-01-01 local time with a zone offset) and 1969 made
/// partitions `date=+10000-01-01`, `date=-0001-12-31`, `date=1969-12-31`; they are
/// `bad_timestamp` rejects now.
#[test]
fn timestamps_outside_1970_to_9999_are_rejected_not_partitioned() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let key = blob_key(&hex(1));
    let s3: String = [
        "31/Dec/9999:23:59:59 -2359",
        "01/Jan/0000:00:00:00 +0001",
        "31/Dec/1969:23:59:59 +0000",
        &format!("{DAY}:12:00:00 +0000"),
    ]
    .iter()
    .map(|time| s3_line_at(time, "10.0.0.1", &key))
    .collect();
    fs::write(logs.join("s3.log"), s3).unwrap();
    let json = format!(
        "{}{}{}",
        json_line("9999-12-31T23:59:59-23:59", "10.0.0.2:5000"),
        json_line("0000-01-01T00:00:00+00:01", "10.0.0.2:5000"),
        json_line("2026-11-26T12:00:00Z", "10.0.0.2:5000"),
    );
    fs::write(logs.join("registry.json"), json).unwrap();
    let lake = t.path().join("lake");
    let m = ingest_all(
        &lake,
        &[
            format!("s3-access:{}/s3.log", logs.display()),
            format!("registry-json:{}/registry.json", logs.display()),
        ],
    );
    assert_eq!(m["totals"]["pulls"], 2, "{m}");
    assert_eq!(m["totals"]["rejects"]["bad_timestamp"], 5, "{m}");
    assert_eq!(partitions(&lake, "pulls"), vec!["date=2026-11-26"]);
    for entry in ledger(&lake) {
        for i in entry["inputs"].as_array().unwrap() {
            let s = i.to_string();
            assert!(
                !s.contains("+10000") && !s.contains("-0001-") && !s.contains("1969-"),
                "{i}"
            );
        }
    }
}

/// A NUL byte where a space belongs shifted the S3 fields: the line was counted as `not_get`.
/// Any line holding a NUL byte is a `nul_byte` reject.
#[test]
fn a_nul_byte_in_place_of_a_separator_is_rejected() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let day = NaiveDate::parse_from_str("2026-11-26", "%Y-%m-%d").unwrap();
    let good = s3_pull(day, "10.0.0.1", 1);
    let mut text = good.clone().into_bytes();
    for from in [" REST.GET.OBJECT ", " 200 ", " QueryString "] {
        let bad = good.replacen(from, &from.replacen(' ', "\0", 1), 1);
        assert_ne!(bad, good);
        text.extend_from_slice(bad.as_bytes());
    }
    fs::write(logs.join("nul.log"), text).unwrap();
    let lake = t.path().join("lake");
    let m = ingest_all(&lake, &[format!("s3-access:{}", logs.display())]);
    assert_eq!(m["totals"]["lines"], 4, "{m}");
    assert_eq!(m["totals"]["pulls"], 1, "{m}");
    assert_eq!(m["totals"]["ignored"], serde_json::json!({}), "{m}");
    assert_eq!(m["totals"]["rejects"]["nul_byte"], 3, "{m}");
}

/// A blob GET whose key has bytes that are not UTF-8 before the registry's root was counted as
/// `not_blob`, a silent non-pull; it is a `bad_utf8` reject.
#[test]
fn an_undecodable_key_is_a_counted_reject_not_a_non_pull() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let key = blob_key(&hex(1));
    let line = s3_line_at(&format!("{DAY}:12:00:00 +0000"), "10.0.0.1", &key);
    let mut bytes = Vec::new();
    let at = line.find(" docker/registry").unwrap() + 1;
    bytes.extend_from_slice(&line.as_bytes()[..at]);
    bytes.extend_from_slice(b"r\xff\xfeot/");
    bytes.extend_from_slice(&line.as_bytes()[at..]);
    fs::write(logs.join("bad-key.log"), bytes).unwrap();
    let lake = t.path().join("lake");
    let m = ingest_all(&lake, &[format!("s3-access:{}", logs.display())]);
    assert_eq!(m["totals"]["pulls"], 0, "{m}");
    assert_eq!(m["totals"]["ignored"], serde_json::json!({}), "{m}");
    assert_eq!(m["totals"]["rejects"]["bad_utf8"], 1, "{m}");
}

fn hashed(addr: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(addr.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// With hashing on, a quarantined line's client address is replaced by its hash (the same as in
/// the tables); before, `_rejects.raw` held every rejected client's address as logged.
#[test]
fn client_addresses_are_hashed_in_the_quarantine() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let key = blob_key(&hex(1));
    // S3: a bad timestamp (IPv4) and a bad status (IPv6).
    let s3 = format!(
        "{}{}",
        s3_line_at("32/Nov/2026:12:00:00 +0000", "198.51.100.77", &key),
        s3_line_at(&format!("{DAY}:12:00:00 +0000"), "2001:db8::77", &key)
            .replace(" 200 - ", " 2x0 - "),
    );
    fs::write(logs.join("s3.log"), s3).unwrap();
    let combined = format!(
        "198.51.100.78 - - [32/Nov/2026:12:00:00 +0000] \"GET /v2/team/app/blobs/sha256:{} HTTP/1.1\" 200 5 \"\" \"containerd/1.7\"\n",
        hex(2)
    );
    fs::write(logs.join("access.log"), combined).unwrap();
    fs::write(
        logs.join("registry.json"),
        json_line("2026-11-32T12:00:00Z", "198.51.100.79:5000"),
    )
    .unwrap();
    let event = format!(
        "{{\"events\":[{{\"action\":\"pull\",\"timestamp\":\"yesterday\",\"target\":{{\"mediaType\":\"application/octet-stream\",\"digest\":\"sha256:{}\",\"repository\":\"team/app\"}},\"request\":{{\"addr\":\"198.51.100.80:443\",\"method\":\"GET\",\"useragent\":\"containerd/1.7\"}}}}]}}\n",
        hex(4)
    );
    fs::write(logs.join("events.jsonl"), event).unwrap();
    let lake = t.path().join("lake");
    let d = logs.display();
    let m = ingest_all(
        &lake,
        &[
            format!("s3-access:{d}/s3.log"),
            format!("registry-combined:{d}/access.log"),
            format!("registry-json:{d}/registry.json"),
            format!("notifications:{d}/events.jsonl"),
        ],
    );
    assert_eq!(m["totals"]["rejects_stored"], 5, "{m}");
    let raws: Vec<String> = rejects(&lake)
        .iter()
        .map(|r| r["raw"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(raws.len(), 5);
    let all = raws.join("\n");
    for addr in [
        "198.51.100.77",
        "2001:db8::77",
        "198.51.100.78",
        "198.51.100.79",
        "198.51.100.80",
    ] {
        assert!(!all.contains(addr), "`{addr}` stored as logged:\n{all}");
        assert!(
            all.contains(&hashed(addr)),
            "`{addr}` not replaced by its hash:\n{all}"
        );
    }
}
