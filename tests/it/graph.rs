//! The graph columns of `stats` against an independent fold, on a registry storage directory
//! written by the test in the filesystem driver's layout (the real registry is in
//! `registry.rs`; this covers what a live registry cannot be made to do: manifest pulls on
//! window edges 30 and 90 days back, after as-of, by scanners, by tag and by digest of an
//! index's child, and a backfill before the graph snapshot).
//! See: issue 7.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use chrono::{Duration, NaiveDateTime};
use serde_json::Value;

use crate::ingest::walk;
use crate::registry::read_rows;
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run};
use crate::support::registry::sha256;

/// Writes `bytes` as a blob of the filesystem layout under `v2`; returns its digest.
fn put_blob(v2: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let hex = d.trim_start_matches("sha256:");
    let dir = v2.join(format!("blobs/sha256/{}/{hex}", &hex[..2]));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("data"), bytes).unwrap();
    d
}

fn link(v2: &Path, rel: &str, digest: &str) {
    let p = v2.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, digest).unwrap();
}

fn revision(v2: &Path, repo: &str, digest: &str) {
    let hex = digest.trim_start_matches("sha256:");
    link(
        v2,
        &format!("repositories/{repo}/_manifests/revisions/sha256/{hex}/link"),
        digest,
    );
}

fn image(v2: &Path, config: &str, layers: &[&str]) -> String {
    let desc = |d: &str, mt: &str| serde_json::json!({"mediaType": mt, "digest": d, "size": 1});
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": desc(config, "application/vnd.docker.container.image.v1+json"),
        "layers": layers.iter().map(|l| desc(l, "application/vnd.docker.image.rootfs.diff.tar.gzip")).collect::<Vec<_>>(),
    });
    put_blob(v2, m.to_string().as_bytes())
}

/// A registry JSON log line for a manifest GET.
fn manifest_get(ts: NaiveDateTime, repo: &str, reference: &str, ua: &str) -> String {
    format!(
        "{{\"go.version\":\"go1.19.8\",\"http.request.host\":\"r\",\"http.request.id\":\"x\",\"http.request.method\":\"GET\",\"http.request.remoteaddr\":\"192.0.2.7:4000\",\"http.request.uri\":\"/v2/{repo}/manifests/{reference}\",\"http.request.useragent\":\"{ua}\",\"http.response.contenttype\":\"application/vnd.docker.distribution.manifest.v2+json\",\"http.response.duration\":\"1ms\",\"http.response.status\":200,\"http.response.written\":500,\"level\":\"info\",\"msg\":\"response completed\",\"time\":\"{}\"}}\n",
        ts.format("%Y-%m-%dT%H:%M:%S%.9fZ")
    )
}

#[test]
fn graph_columns_match_a_fold_over_manifest_pulls() {
    let t = tempfile::tempdir().unwrap();
    let storage = t.path().join("storage");
    let v2 = storage.join("docker/registry/v2");
    let blob = |name: &str| put_blob(&v2, format!("blob {name}").as_bytes());
    let (l1, l2, l3, l4, l9) = (blob("l1"), blob("l2"), blob("l3"), blob("l4"), blob("l9"));
    let (c1, c2, c3) = (blob("c1"), blob("c2"), blob("c3"));
    // a: image i1 tagged v1; i3 untagged. b: an index x (tagged latest) over i2 and i1.
    let i1 = image(&v2, &c1, &[&l1, &l2]);
    let i2 = image(&v2, &c2, &[&l2, &l3]);
    let i3 = image(&v2, &c3, &[&l4]);
    let x = put_blob(
        &v2,
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [
                {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": i2, "size": 1, "platform": {"architecture": "arm64", "os": "linux"}},
                {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": i1, "size": 1, "platform": {"architecture": "amd64", "os": "linux"}},
            ],
        })
        .to_string()
        .as_bytes(),
    );
    for (repo, d) in [("a", &i1), ("a", &i3), ("b", &x), ("b", &i1), ("b", &i2)] {
        revision(&v2, repo, d);
    }
    link(&v2, "repositories/a/_manifests/tags/v1/current/link", &i1);
    link(
        &v2,
        "repositories/b/_manifests/tags/latest/current/link",
        &x,
    );
    // Closures by hand (what each manifest reaches).
    let closure: BTreeMap<&str, Vec<&str>> = [
        (i1.as_str(), vec![&*i1, &*c1, &*l1, &*l2]),
        (i2.as_str(), vec![&*i2, &*c2, &*l2, &*l3]),
        (i3.as_str(), vec![&*i3, &*c3, &*l4]),
        (
            x.as_str(),
            vec![&*x, &*i1, &*c1, &*l1, &*l2, &*i2, &*c2, &*l3],
        ),
    ]
    .into_iter()
    .collect();
    let tags: BTreeMap<(&str, &str), &str> =
        [(("a", "v1"), i1.as_str()), (("b", "latest"), x.as_str())]
            .into_iter()
            .collect();

    // Manifest pulls: (days before as-of, time, repo, reference, user agent).
    let as_of = chrono::Utc::now().date_naive();
    let events: Vec<(i64, &str, &str, &str, &str)> = vec![
        (0, "23:59:59", "a", "v1", "containerd/1.7"),
        (29, "00:00:00", "a", "v1", "containerd/1.7"),
        (30, "23:59:59", "a", "v1", "containerd/1.7"), // 90d only
        (89, "00:00:00", "b", "latest", "docker/24.0"),
        (90, "23:59:59", "b", "latest", "docker/24.0"), // outside every window
        (3, "12:00:00", "b", &i2, "containerd/1.7"),    // a child of the index, by digest
        (5, "12:00:00", "a", &i3, "containerd/1.7"),    // an untagged image, by digest
        (2, "12:00:00", "a", "v1", "Trivy/0.48.3"),     // a scanner
        (-1, "00:00:00", "a", "v1", "containerd/1.7"),  // after as-of
        (1, "08:00:00", "a", "nosuchtag", "containerd/1.7"),
    ];
    let ts = |days: i64, time: &str| {
        NaiveDateTime::parse_from_str(
            &format!("{} {time}", as_of - Duration::days(days)),
            "%Y-%m-%d %H:%M:%S",
        )
        .unwrap()
    };
    let log: String = events
        .iter()
        .map(|(d, time, repo, r, ua)| manifest_get(ts(*d, time), repo, r, ua))
        .collect();
    fs::write(t.path().join("registry.log"), log).unwrap();
    let mut inv: Vec<InvRow> = Vec::new();
    for f in walk(&storage) {
        let key = f
            .strip_prefix(&storage)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        inv.push((
            key,
            1000,
            "2026-01-01T00:00:00.000Z".into(),
            "STANDARD".into(),
        ));
    }
    let manifest = write_inventory(t.path(), "registry", &as_of.to_string(), &inv);
    let lake = t.path().join("lake");
    let out = run(blobtier()
        .args(["ingest", "--raw-clients", "--lake"])
        .arg(&lake)
        .arg("--logs")
        .arg(format!(
            "registry-json:{}",
            t.path().join("registry.log").display()
        ))
        .arg("--inventory")
        .arg(&manifest)
        .arg("--registry-storage")
        .arg(&storage));
    out.assert_success();

    // The fold: each event resolves (tag through the tags, else the digest) to a manifest, and
    // counts for every blob that manifest reaches.
    let fold = |include_scanners: bool| -> BTreeMap<String, (i64, i64, Option<i64>)> {
        let mut out: BTreeMap<String, (i64, i64, Option<i64>)> = BTreeMap::new();
        for (d, time, repo, r, ua) in &events {
            if *d < 0 || (!include_scanners && ua.starts_with("Trivy")) {
                continue;
            }
            let m = tags.get(&(*repo, *r)).copied().unwrap_or(*r);
            for b in closure.get(m).into_iter().flatten() {
                let e = out.entry(b.to_string()).or_default();
                e.0 += i64::from(*d < 30);
                e.1 += i64::from(*d < 90);
                let at = ts(*d, time).and_utc().timestamp_micros();
                e.2 = Some(e.2.map_or(at, |x: i64| x.max(at)));
            }
        }
        out
    };
    let tagged: BTreeSet<&str> = tags
        .values()
        .flat_map(|m| closure[m].iter().copied())
        .collect();
    let repos = |b: &str| -> i64 {
        let mut r = BTreeSet::new();
        for (repo, m) in [("a", &i1), ("a", &i3), ("b", &x), ("b", &i1), ("b", &i2)] {
            if closure[m.as_str()].contains(&b) {
                r.insert(repo);
            }
        }
        r.len() as i64
    };
    for (args, include) in [(&[][..], false), (&["--include-scanners"][..], true)] {
        run(blobtier()
            .args(["stats", "--as-of", &as_of.to_string()])
            .args(args)
            .arg("--lake")
            .arg(&lake))
        .assert_success();
        let want = fold(include);
        let files = walk(&lake.join(format!("digest_stats/as_of={as_of}")));
        let rows = read_rows(&files[0]);
        assert_eq!(rows.len(), 12, "every blob of the inventory");
        for r in &rows {
            let d = r["digest"].as_str().unwrap();
            let (m30, m90, last) = want.get(d).copied().unwrap_or_default();
            let got = (
                r["manifest_pulls_30d"].clone(),
                r["manifest_pulls_90d"].clone(),
                r["last_manifest_pull_at"].clone(),
                r["referenced_by_tag"].clone(),
                r["ref_repos"].clone(),
            );
            let expected = (
                Value::from(m30),
                Value::from(m90),
                last.map_or(Value::Null, Value::from),
                Value::from(tagged.contains(d)),
                Value::from(repos(d)),
            );
            assert_eq!(got, expected, "{d} (scanners included: {include})");
        }
        // Spot checks of the fold itself: l2 is reached by i1, i2 and the index.
        let l2_30 = want[&l2].0;
        assert_eq!(l2_30, if include { 4 } else { 3 });
        assert!(!want.contains_key(&l9) && !tagged.contains(l9.as_str()));
        assert_eq!(repos(&l9), 0);
    }

    // A backfill before the graph snapshot (dated today) has no graph: unknown, not "false".
    let back = as_of - Duration::days(1);
    let older = t.path().join("older");
    let m = write_inventory(&older, "registry", &back.to_string(), &inv);
    run(blobtier()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg("--inventory")
        .arg(&m))
    .assert_success();
    let out = run(blobtier()
        .args(["stats", "--as-of", &back.to_string(), "--lake"])
        .arg(&lake));
    out.assert_success();
    assert!(
        out.stdout.contains("no image graph on or before as-of"),
        "{out}"
    );
    let files = walk(&lake.join(format!("digest_stats/as_of={back}")));
    for r in read_rows(&files[0]) {
        assert_eq!(r["referenced_by_tag"], Value::Null, "{r:?}");
        assert_eq!(r["ref_repos"], Value::Null, "{r:?}");
        assert_eq!(r["manifest_pulls_90d"], 0, "{r:?}");
    }
}

/// `blobtier run` with `[run] registry_storage`: the graph it builds carries the run's as-of
/// (yesterday), so the stats of that day use it.
#[test]
fn run_builds_the_graph_its_stats_use() {
    let t = tempfile::tempdir().unwrap();
    let storage = t.path().join("storage");
    let v2 = storage.join("docker/registry/v2");
    let (layer, config) = (put_blob(&v2, b"a layer"), put_blob(&v2, b"a config"));
    let unused = put_blob(&v2, b"left behind");
    let m = image(&v2, &config, &[&layer]);
    revision(&v2, "team/app", &m);
    link(
        &v2,
        "repositories/team/app/_manifests/tags/v1/current/link",
        &m,
    );
    let as_of = chrono::Utc::now().date_naive() - Duration::days(1);
    let logs = t.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    fs::write(
        logs.join("registry.log"),
        manifest_get(
            as_of.and_hms_opt(10, 0, 0).unwrap(),
            "team/app",
            "v1",
            "containerd/1.7",
        ),
    )
    .unwrap();
    let mut inv: Vec<InvRow> = Vec::new();
    for f in walk(&storage) {
        let key = f
            .strip_prefix(&storage)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        inv.push((
            key,
            1000,
            "2026-01-01T00:00:00.000Z".into(),
            "STANDARD".into(),
        ));
    }
    let inv_root = t.path().join("inv");
    write_inventory(&inv_root, "registry", &as_of.to_string(), &inv);
    let lake = t.path().join("lake");
    let cfg = t.path().join("blobtier.toml");
    fs::write(
        &cfg,
        format!(
            "[run]\nlake = \"{}\"\nlogs = [\"registry-json:{}\"]\ninventory = \"{}\"\nregistry_storage = \"{}\"\n\n[ingest]\nclient_key = \"a-test-key-of-at-least-16-bytes\"\n",
            lake.display(),
            logs.display(),
            inv_root.join("dest/registry/cfg").display(),
            storage.display()
        ),
    )
    .unwrap();
    let out = run(blobtier().arg("--config").arg(&cfg).args([
        "run",
        "--allow-gaps",
        "--as-of",
        &as_of.to_string(),
    ]));
    assert!(out.code() == 0 || out.code() == 1, "{out}");
    assert!(
        lake.join(format!("blob_refs/snapshot={as_of}")).is_dir(),
        "{out}"
    );
    let files = walk(&lake.join(format!("digest_stats/as_of={as_of}")));
    let rows: BTreeMap<String, BTreeMap<String, Value>> = read_rows(&files[0])
        .into_iter()
        .map(|r| (r["digest"].as_str().unwrap().to_owned(), r))
        .collect();
    for d in [&layer, &config, &m] {
        assert_eq!(rows[d.as_str()]["referenced_by_tag"], true, "{d}");
        assert_eq!(rows[d.as_str()]["manifest_pulls_30d"], 1, "{d}");
    }
    assert_eq!(rows[&unused]["referenced_by_tag"], false);
    assert_eq!(rows[&unused]["ref_repos"], 0);
}
