//! `--pins` and `[run] pins`: the image references in use (the JSON of `kubectl get pods -A
//! -o json`, and plain `repo@sha256:…` lines) resolved through the image graph of a registry
//! storage directory written by the test in the filesystem driver's layout: every blob they
//! reach is `kept:pinned`, or `restore:pinned` when archived; a pin the lake does not know is
//! counted and warned about. Checked against closures written out by hand, and against the
//! same plan made without pins (where those blobs move).
//! See: issue 16.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

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

fn revision(v2: &Path, repo: &str, digest: &str) {
    let hex = digest.trim_start_matches("sha256:");
    let p = v2.join(format!(
        "repositories/{repo}/_manifests/revisions/sha256/{hex}/link"
    ));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, digest).unwrap();
}

/// An OCI image manifest of `config` and `layers`.
fn image(v2: &Path, config: &str, layers: &[&str]) -> String {
    let desc = |d: &str, mt: &str| json!({"mediaType": mt, "digest": d, "size": 1});
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc(config, "application/vnd.oci.image.config.v1+json"),
        "layers": layers.iter().map(|l| desc(l, "application/vnd.oci.image.layer.v1.tar+gzip")).collect::<Vec<_>>(),
    });
    put_blob(v2, m.to_string().as_bytes())
}

/// The registry of the tests, its digests, and the closure of each manifest by hand.
struct Registry {
    storage: PathBuf,
    /// name → digest.
    d: BTreeMap<&'static str, String>,
}

impl Registry {
    /// `team/app`: image A (config cA, layers lA1 and lA2); `team/multi`: index X over images B
    /// (cB, lB) and C (cC, lC); `team/batch`: image E (cE, the layer lS it shares with D);
    /// `team/old`: image D (cD, lS, lD). No tags: every image is pulled by digest.
    fn new(root: &Path) -> Registry {
        let storage = root.join("storage");
        let v2 = storage.join("docker/registry/v2");
        let mut d: BTreeMap<&'static str, String> = BTreeMap::new();
        for name in [
            "cA", "lA1", "lA2", "cB", "lB", "cC", "lC", "cE", "lS", "cD", "lD",
        ] {
            d.insert(name, put_blob(&v2, format!("blob {name}").as_bytes()));
        }
        let a = image(&v2, &d["cA"], &[&d["lA1"], &d["lA2"]]);
        let b = image(&v2, &d["cB"], &[&d["lB"]]);
        let c = image(&v2, &d["cC"], &[&d["lC"]]);
        let e = image(&v2, &d["cE"], &[&d["lS"]]);
        let dd = image(&v2, &d["cD"], &[&d["lS"], &d["lD"]]);
        let x = put_blob(
            &v2,
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": b, "size": 1, "platform": {"architecture": "amd64", "os": "linux"}},
                    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": c, "size": 1, "platform": {"architecture": "arm64", "os": "linux"}},
                ],
            })
            .to_string()
            .as_bytes(),
        );
        for (repo, m) in [
            ("team/app", &a),
            ("team/multi", &x),
            ("team/multi", &b),
            ("team/multi", &c),
            ("team/batch", &e),
            ("team/old", &dd),
        ] {
            revision(&v2, repo, m);
        }
        d.extend([("A", a), ("B", b), ("C", c), ("X", x), ("E", e), ("D", dd)]);
        Registry { storage, d }
    }

    /// What `names` reach, by hand.
    fn closure(&self, names: &[&str]) -> BTreeSet<String> {
        let by_hand: BTreeMap<&str, &[&str]> = [
            ("A", &["A", "cA", "lA1", "lA2"][..]),
            ("X", &["X", "B", "cB", "lB", "C", "cC", "lC"][..]),
            ("E", &["E", "cE", "lS"][..]),
        ]
        .into_iter()
        .collect();
        names
            .iter()
            .flat_map(|n| by_hand[n].iter())
            .map(|n| self.d[n].clone())
            .collect()
    }

    /// Ingests an inventory of every blob (each 1 GiB, written in 2025, in STANDARD but for
    /// lA2 and lD in DEEP_ARCHIVE) and the graph, then stats; returns the lake and as-of.
    fn lake(&self, root: &Path) -> (PathBuf, String) {
        let archived: BTreeSet<&str> = [self.d["lA2"].as_str(), self.d["lD"].as_str()].into();
        let mut inv: Vec<InvRow> = Vec::new();
        for f in walk(&self.storage) {
            let key = f
                .strip_prefix(&self.storage)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let class = key
                .strip_suffix("/data")
                .and_then(|k| k.rsplit('/').next())
                .filter(|hex| archived.contains(format!("sha256:{hex}").as_str()))
                .map_or("STANDARD", |_| "DEEP_ARCHIVE");
            inv.push((
                key,
                1 << 30,
                "2025-01-01T00:00:00.000Z".into(),
                class.into(),
            ));
        }
        let as_of = chrono::Utc::now().date_naive().to_string();
        let manifest = write_inventory(root, "registry", &as_of, &inv);
        let lake = root.join("lake");
        run(blobtier()
            .args(["ingest", "--lake"])
            .arg(&lake)
            .arg("--inventory")
            .arg(&manifest)
            .arg("--registry-storage")
            .arg(&self.storage))
        .assert_success();
        run(blobtier()
            .args(["stats", "--as-of", &as_of, "--lake"])
            .arg(&lake))
        .assert_success();
        (lake, as_of)
    }
}

/// `kubectl get pods -A -o json` of a cluster running A (containerd: `imageID` is
/// `repo@digest`), with an init container that ran the index X through dockershim
/// (`docker-pullable://`, started by tag), and a pod stuck in `ImagePullBackOff` on a digest
/// the registry never had (empty `imageID`; the digest is in its spec).
fn kubectl_pods(a: &str, x: &str, missing: &str) -> String {
    let pods = json!({
        "apiVersion": "v1",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "creationTimestamp": "2026-11-30T08:12:44Z",
                    "generateName": "app-7c9f8d6b5-",
                    "labels": {"app": "app", "pod-template-hash": "7c9f8d6b5"},
                    "name": "app-7c9f8d6b5-x2x7q",
                    "namespace": "prod",
                    "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": "ReplicaSet", "name": "app-7c9f8d6b5", "uid": "0b6f1c2e-3d4a-4f5b-9c8d-7e6f5a4b3c2d"}],
                    "resourceVersion": "48213",
                    "uid": "5d8e1f0a-2b3c-4d5e-8f9a-0b1c2d3e4f5a"
                },
                "spec": {
                    "containers": [{
                        "image": format!("registry.example.com:5000/team/app@{a}"),
                        "imagePullPolicy": "IfNotPresent",
                        "name": "app",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "initContainers": [{
                        "image": "registry.example.com:5000/team/multi:1.4",
                        "imagePullPolicy": "IfNotPresent",
                        "name": "migrate",
                        "resources": {}
                    }],
                    "nodeName": "node-3",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler"
                },
                "status": {
                    "conditions": [{"lastProbeTime": null, "lastTransitionTime": "2026-11-30T08:12:50Z", "status": "True", "type": "Ready"}],
                    "containerStatuses": [{
                        "containerID": "containerd://9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
                        "image": format!("registry.example.com:5000/team/app@{a}"),
                        "imageID": format!("registry.example.com:5000/team/app@{a}"),
                        "lastState": {},
                        "name": "app",
                        "ready": true,
                        "restartCount": 0,
                        "started": true,
                        "state": {"running": {"startedAt": "2026-11-30T08:12:49Z"}}
                    }],
                    "hostIP": "10.0.3.12",
                    "initContainerStatuses": [{
                        "containerID": "docker://1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988",
                        "image": "registry.example.com:5000/team/multi:1.4",
                        "imageID": format!("docker-pullable://registry.example.com:5000/team/multi@{x}"),
                        "lastState": {},
                        "name": "migrate",
                        "ready": true,
                        "restartCount": 0,
                        "state": {"terminated": {"containerID": "docker://1f2e3d4c5b6a7988", "exitCode": 0, "finishedAt": "2026-11-30T08:12:48Z", "reason": "Completed", "startedAt": "2026-11-30T08:12:46Z"}}
                    }],
                    "phase": "Running",
                    "podIP": "10.244.3.17",
                    "qosClass": "BestEffort",
                    "startTime": "2026-11-30T08:12:44Z"
                }
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "gone-5f6d7c8b9-abcde", "namespace": "staging", "uid": "7f8e9d0c-1b2a-4c3d-9e8f-a0b1c2d3e4f5"},
                "spec": {
                    "containers": [{"image": format!("registry.example.com:5000/team/gone@{missing}"), "name": "gone"}],
                    "nodeName": "node-1"
                },
                "status": {
                    "containerStatuses": [{
                        "image": format!("registry.example.com:5000/team/gone@{missing}"),
                        "imageID": "",
                        "lastState": {},
                        "name": "gone",
                        "ready": false,
                        "restartCount": 0,
                        "started": false,
                        "state": {"waiting": {"message": "Back-off pulling image", "reason": "ImagePullBackOff"}}
                    }],
                    "phase": "Pending"
                }
            }
        ],
        "kind": "List",
        "metadata": {"resourceVersion": ""}
    });
    // kubectl indents with four spaces.
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&pods, &mut ser).unwrap();
    String::from_utf8(out).unwrap() + "\n"
}

/// Runs `plan` with `args`; returns the reasons by digest (one row per blob here), the plan
/// summary and stderr.
fn plan(lake: &Path, as_of: &str, args: &[&str]) -> (BTreeMap<String, String>, Value, String) {
    let out = run(blobtier()
        .args(["plan", "--allow-gaps", "--as-of", as_of, "--lake"])
        .arg(lake)
        .args(args));
    out.assert_success();
    let files = walk(&lake.join(format!("decisions/as_of={as_of}")));
    let reasons = read_rows(&files[0])
        .into_iter()
        .map(|r| {
            (
                r["digest"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (
        reasons,
        serde_json::from_str(&out.stdout).unwrap(),
        out.stderr,
    )
}

#[test]
fn pinned_images_keep_and_restore_every_blob_they_reach() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::new(t.path());
    let (lake, as_of) = reg.lake(t.path());
    let missing = format!("sha256:{}", "ee".repeat(32));
    let pods = t.path().join("pods.json");
    fs::write(&pods, kubectl_pods(&reg.d["A"], &reg.d["X"], &missing)).unwrap();
    let lines = t.path().join("pins.txt");
    fs::write(
        &lines,
        format!(
            "# batch jobs, pinned by digest\n\n  registry.example.com:5000/team/batch@{}  # nightly\n",
            reg.d["E"]
        ),
    )
    .unwrap();

    // Without pins the old, unpulled STANDARD blobs go to GLACIER_IR and the archived ones stay.
    let (before, summary, _) = plan(&lake, &as_of, &[]);
    assert_eq!(before.len(), reg.d.len(), "one decision per blob");
    assert!(summary.get("pins").is_none(), "{summary}");
    let archived = [&reg.d["lA2"], &reg.d["lD"]];
    for (d, reason) in &before {
        let want = if archived.contains(&d) {
            "kept:archived"
        } else {
            "moved:cold"
        };
        assert_eq!(reason, want, "{d} without pins");
    }

    // With both files: what A, X (through the init container's `docker-pullable://` imageID)
    // and E reach is kept or restored; D's own blobs are planned as before.
    let (after, summary, stderr) = plan(
        &lake,
        &as_of,
        &[
            "--pins",
            pods.to_str().unwrap(),
            "--pins",
            lines.to_str().unwrap(),
        ],
    );
    let pinned = reg.closure(&["A", "X", "E"]);
    assert_eq!(pinned.len(), 14);
    for (d, reason) in &after {
        let want = match (pinned.contains(d), archived.contains(&d)) {
            (true, true) => "restore:pinned",
            (true, false) => "kept:pinned",
            (false, _) => before[d].as_str(),
        };
        assert_eq!(reason, want, "{d}");
    }
    assert_eq!(after[&reg.d["lD"]], "kept:archived");
    assert_eq!(after[&reg.d["cD"]], "moved:cold");
    let plan_rows = read_rows(&lake.join(format!("plan/as_of={as_of}/plan.parquet")));
    let restored: Vec<&str> = plan_rows
        .iter()
        .filter(|r| r["action"] == "restore")
        .map(|r| r["digest"].as_str().unwrap())
        .collect();
    assert_eq!(restored, [reg.d["lA2"].as_str()]);

    // The summary counts what was read and resolved, and names the pin the lake lacks.
    let p = &summary["pins"];
    assert_eq!(p["files"].as_array().unwrap().len(), 2, "{p}");
    assert_eq!(p["digests"], 4, "A, X, E and the missing one: {p}");
    assert_eq!(p["resolved"], 3, "{p}");
    assert_eq!(p["unknown"], 1, "{p}");
    assert_eq!(p["blobs"], 14, "{p}");
    assert!(
        p["unknown_sample"][0].as_str().unwrap().contains(&missing),
        "{p}"
    );
    assert!(
        stderr.contains("not in the lake's image graph") && stderr.contains(&missing),
        "{stderr}"
    );
}

#[test]
fn config_pins_are_validated_and_read_and_a_bad_line_names_file_and_line() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::new(t.path());
    let (lake, as_of) = reg.lake(t.path());

    // `[run] pins`: an empty entry is refused by the config's validation, naming the key.
    let cfg = t.path().join("blobtier.toml");
    fs::write(&cfg, "[run]\npins = [\"\"]\n").unwrap();
    let out = run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["plan", "--allow-gaps", "--as-of", &as_of, "--lake"])
        .arg(&lake));
    assert_eq!(out.code(), 2, "{out}");
    assert!(out.stderr.contains("invalid `run.pins[0]`"), "{out}");

    // A valid `[run] pins` file is read by `plan` as `--pins` would be.
    let lines = t.path().join("pins.txt");
    fs::write(&lines, format!("team/app@{}\n", reg.d["A"])).unwrap();
    fs::write(&cfg, format!("[run]\npins = [\"{}\"]\n", lines.display())).unwrap();
    let out = run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["plan", "--allow-gaps", "--as-of", &as_of, "--lake"])
        .arg(&lake));
    out.assert_success();
    let s: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(s["pins"]["blobs"], 4, "{s}");
    assert_eq!(s["totals"]["by_reason"]["kept:pinned"], 3, "{s}");
    assert_eq!(s["totals"]["by_reason"]["restore:pinned"], 1, "{s}");

    // A tag is not a pin: the error names the file, the line and why.
    let bad = t.path().join("bad.txt");
    fs::write(
        &bad,
        format!("# ok\nteam/app@{}\nteam/app:latest\n", reg.d["A"]),
    )
    .unwrap();
    let out = run(blobtier()
        .args(["plan", "--allow-gaps", "--as-of", &as_of, "--lake"])
        .arg(&lake)
        .arg("--pins")
        .arg(&bad));
    assert_eq!(out.code(), 2, "{out}");
    let shown = format!("{}:3", bad.display());
    assert!(
        out.stderr.contains(&shown) && out.stderr.contains("no digest"),
        "{out}"
    );
}
