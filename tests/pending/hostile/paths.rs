//! Issue 17 cases 3, 9 (`/proc/self/environ`) and 10: ingest reads its inputs and nothing else.
//! An inventory's data files are resolved inside the inventory's own destination only; an input
//! inside the lake is an error, not a silent skip; a pseudo-file is never stored.

use std::fs;

use super::*;
use crate::support::cli::tree_digest;

const DATE: &str = "2026-11-26";
const SECRET: &str = "TOPSECRET-0xDEADBEEF,not-for-the-lake\nsecond secret line\n";

/// A lake with one ingest done, and its digest.
fn lake_with_one_ingest(t: &Path) -> (PathBuf, std::collections::BTreeMap<PathBuf, u64>) {
    let logs = t.join("first");
    fs::create_dir_all(&logs).unwrap();
    let day = NaiveDate::parse_from_str(DATE, "%Y-%m-%d").unwrap();
    fs::write(logs.join("a.log"), s3_pull(day, "10.0.0.1", 1)).unwrap();
    let lake = t.join("lake");
    ingest_logs(&lake, &format!("s3-access:{}", logs.display())).assert_success();
    let before = tree_digest(&lake);
    (lake, before)
}

fn assert_no_secret(lake: &Path) {
    for (file, s) in lake_strings(lake) {
        assert!(
            !s.contains("TOPSECRET") && !s.contains(&md5_hex(SECRET.as_bytes())),
            "`{}` holds the secret: {s:?}",
            file.display()
        );
    }
}

/// `files[].key` absolute, with `../`, or reaching a symlink out of the destination: an error
/// naming the key; the file is not read (its lines used to land in `_rejects.raw`).
#[test]
fn manifest_keys_outside_the_destination_are_an_error_naming_the_key() {
    let t = tempfile::tempdir().unwrap();
    let secret = t.path().join("secret.txt");
    fs::write(&secret, SECRET).unwrap();
    let dest = t.path().join("dest");
    fs::create_dir_all(dest.join(format!("{BUCKET}/cfg/data"))).unwrap();
    let link = format!("{BUCKET}/cfg/data/link.csv");
    std::os::unix::fs::symlink(&secret, dest.join(&link)).unwrap();
    let keys = [
        secret.display().to_string(),
        "../secret.txt".to_string(),
        format!("{BUCKET}/cfg/../../../secret.txt"),
        link,
    ];
    for (i, key) in keys.into_iter().enumerate() {
        let (lake, before) = lake_with_one_ingest(&t.path().join(format!("case{i}")));
        let manifest = write_report(
            &dest,
            "2026-11-26T01-00Z",
            DATE,
            Default::default(),
            &[DataFile {
                key: key.clone(),
                bytes: None,
                md5: Some(md5_hex(SECRET.as_bytes())),
            }],
        );
        let out = ingest_inventory(&lake, &manifest, &["--max-bad-ratio", "1"]);
        assert_eq!(out.code(), 2, "key `{key}`: {out}");
        assert!(
            out.stderr.contains(&format!("`{key}`")),
            "the error names the key `{key}`:\n{out}"
        );
        assert_eq!(tree_digest(&lake), before, "key `{key}`: the lake changed");
        assert_no_secret(&lake);
    }
}

/// A wrong MD5 for a key outside the destination must not print the MD5 of what it points at.
#[test]
fn a_wrong_md5_for_an_outside_key_does_not_reveal_the_file() {
    let t = tempfile::tempdir().unwrap();
    let secret = t.path().join("secret.txt");
    fs::write(&secret, SECRET).unwrap();
    let (lake, before) = lake_with_one_ingest(t.path());
    let key = secret.display().to_string();
    let manifest = write_report(
        &t.path().join("dest"),
        "2026-11-26T01-00Z",
        DATE,
        Default::default(),
        &[DataFile {
            key: key.clone(),
            bytes: None,
            md5: Some("00000000000000000000000000000000".into()),
        }],
    );
    let out = ingest_inventory(&lake, &manifest, &[]);
    assert_eq!(out.code(), 2, "{out}");
    assert!(
        !out.stderr.contains(&md5_hex(SECRET.as_bytes())),
        "the MD5 of a file outside the destination was printed:\n{out}"
    );
    assert!(out.stderr.contains(&format!("`{key}`")), "{out}");
    assert_eq!(tree_digest(&lake), before);
}

/// Keys inside the destination still resolve (the nearest ancestor of the manifest holding
/// them), also when the report's folders are not the `data/` layout.
#[test]
fn keys_inside_the_destination_still_resolve() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("dest");
    let csv = csv_row(
        &blob_key(&hex(1)),
        "10",
        "2025-06-01T00:00:00.000Z",
        "STANDARD",
    );
    // The AWS documentation's older layout: data under the snapshot folder's `files/`.
    let manifest = write_report(
        &dest,
        "2026-11-26T01-00Z",
        DATE,
        Default::default(),
        &[DataFile {
            key: format!("{BUCKET}/cfg/2026-11-26T01-00Z/files/a.csv.gz"),
            bytes: Some(gzip(csv.as_bytes())),
            md5: None,
        }],
    );
    let out = ingest_inventory(&t.path().join("lake"), &manifest, &[]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(metrics(&out)["inventory_rows"], 1);
}

/// An input inside the lake is an error (it used to be dropped silently: exit 0, `inputs: []`).
/// A directory that merely contains the lake still skips the lake, as documented.
#[test]
fn an_input_inside_the_lake_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let (lake, _) = lake_with_one_ingest(t.path());
    let day = NaiveDate::parse_from_str(DATE, "%Y-%m-%d").unwrap();
    let inside = lake.join("incoming");
    fs::create_dir_all(&inside).unwrap();
    fs::write(inside.join("b.log"), s3_pull(day, "10.0.0.2", 2)).unwrap();
    let before = tree_digest(&lake);
    for spec in [
        format!("s3-access:{}", inside.display()),
        format!("s3-access:{}/b.log", inside.display()),
        format!("s3-access:{}/*.log", inside.display()),
        format!("s3-access:{}", lake.join("_ledger").display()),
    ] {
        let out = ingest_logs(&lake, &spec);
        assert_eq!(out.code(), 2, "{spec}: {out}");
        assert!(out.stderr.contains("inside the lake"), "{spec}: {out}");
        assert_eq!(tree_digest(&lake), before, "{spec}");
    }
    // The parent of the lake: the lake is skipped, the other file is read.
    fs::create_dir_all(t.path().join("more")).unwrap();
    fs::write(t.path().join("more/c.log"), s3_pull(day, "10.0.0.3", 3)).unwrap();
    let out = ingest_logs(&lake, &format!("s3-access:{}", t.path().display()));
    assert_eq!(out.code(), 0, "{out}");
    let m = metrics(&out);
    assert_eq!(m["files_read"], 1, "{m}");
    assert_eq!(m["files_skipped"], 1, "{m}");
}

/// `--logs FORMAT:/proc/self/environ` stored the process environment (client key included) in
/// `_rejects.raw`. A pseudo-file is refused with an error naming it; nothing of it is stored.
#[test]
fn proc_self_environ_is_refused_and_never_stored() {
    let t = tempfile::tempdir().unwrap();
    let (lake, before) = lake_with_one_ingest(t.path());
    for format in [
        "s3-access",
        "registry-json",
        "registry-combined",
        "notifications",
    ] {
        let out = run(ingest_cmd(&lake)
            .args(["--logs", &format!("{format}:/proc/self/environ")])
            .env("HOSTILE_ENV_MARKER", "TOPSECRET-environment-marker"));
        assert_eq!(out.code(), 2, "{format}: {out}");
        assert!(out.stderr.contains("/proc/"), "{format}: {out}");
        assert_eq!(tree_digest(&lake), before, "{format}");
        for (file, s) in lake_strings(&lake) {
            assert!(
                !s.contains(KEY) && !s.contains("TOPSECRET"),
                "{format}: `{}` holds the environment",
                file.display()
            );
        }
    }
}
