//! The image graph against a real registry: Debian's `docker-registry` (CNCF distribution
//! 2.8) and `skopeo`, no hand-made stand-ins for their outputs.
//!
//! The scenario ([`run_scenario`]) builds small OCI images in the test (random 1 MiB gzip
//! layers, one base layer shared by three repositories, a two-platform index), pushes them with
//! skopeo, moves a tag (the old image stays, untagged), deletes an image by tag, then pulls:
//! whole images from several clients (distinct `127.0.0.N` source addresses), only manifests
//! (`skopeo inspect --raw`, a client whose layers are cached), one platform of the index, and
//! the untagged image's manifest by digest. blobtier then ingests the registry's real JSON log,
//! its access log and its notifications (each into its own lake), its storage and an S3
//! Inventory of that storage, and runs stats and plan. Pull counts, manifest-pull propagation
//! (through the index), `referenced_by_tag`, `ref_repos` and the archive protections must match
//! what the test did, and the unreferenced blobs must be exactly what the registry's own
//! `garbage-collect --dry-run` would delete.
//! See: issue 7.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use chrono::NaiveDate;
use serde_json::Value;

use crate::ingest::walk;
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run};
use crate::support::fault_proxy::{FaultMix, FaultProxy};
use crate::support::localstack::{block_on, localstack};
use crate::support::registry::{
    skopeo, tools, ClientProxy, Layer, OciLayout, Registry, RegistryStorage, OCI_INDEX,
    OCI_MANIFEST,
};

const MIB: usize = 1 << 20;

/// A table read back from Parquet: one JSON object per row (list columns left out).
pub fn read_rows(path: &Path) -> Vec<BTreeMap<String, Value>> {
    let b = crate::support::parquet::read(path);
    let schema = b.schema();
    let mut rows = Vec::new();
    for i in 0..b.num_rows() {
        let mut row = BTreeMap::new();
        for (field, c) in schema.fields().iter().zip(b.columns()) {
            let v = if c.is_null(i) {
                Value::Null
            } else {
                match c.data_type() {
                    DataType::Utf8 => Value::from(c.as_string::<i32>().value(i)),
                    DataType::LargeUtf8 => Value::from(c.as_string::<i64>().value(i)),
                    DataType::Utf8View => Value::from(c.as_string_view().value(i)),
                    DataType::Int64 => Value::from(c.as_primitive::<Int64Type>().value(i)),
                    DataType::Boolean => Value::from(c.as_boolean().value(i)),
                    DataType::Float64 => {
                        Value::from(c.as_primitive::<arrow::datatypes::Float64Type>().value(i))
                    }
                    DataType::Timestamp(TimeUnit::Microsecond, _) => Value::from(
                        c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                            .value(i),
                    ),
                    _ => continue,
                }
            };
            row.insert(field.name().clone(), v);
        }
        rows.push(row);
    }
    rows
}

/// Rows of `table` in a lake partition directory, keyed by `key`.
fn by_key(dir: &Path, key: &str) -> BTreeMap<String, BTreeMap<String, Value>> {
    let files = walk(dir);
    assert_eq!(
        files.len(),
        1,
        "one part file in `{}`: {files:?}",
        dir.display()
    );
    read_rows(&files[0])
        .into_iter()
        .map(|r| (r[key].as_str().unwrap().to_owned(), r))
        .collect()
}

/// What the scenario did, per blob, and the names the assertions use.
#[derive(Debug, Default)]
pub struct Expected {
    /// digest → name (`B`, `A1`, `cfg:api-v1`, `m:api-v1`, …).
    pub names: BTreeMap<String, String>,
    /// name → digest.
    pub digests: BTreeMap<String, String>,
    /// name → blob GETs.
    pub pulls: BTreeMap<String, i64>,
    /// name → distinct clients of those GETs.
    pub clients: BTreeMap<String, i64>,
    /// name → manifest requests reaching it (through indexes).
    pub manifest_pulls: BTreeMap<String, i64>,
    /// name → reachable from a current tag.
    pub tagged: BTreeMap<String, bool>,
    /// name → repositories whose manifests reference it.
    pub ref_repos: BTreeMap<String, i64>,
    /// (repo, tag) → manifest name.
    pub tags: BTreeMap<(String, String), String>,
}

impl Expected {
    fn name(&mut self, name: &str, digest: &str) {
        if let Some(old) = self.names.insert(digest.to_owned(), name.to_owned()) {
            assert_eq!(old, name, "two names for {digest}");
        }
        self.digests.insert(name.to_owned(), digest.to_owned());
    }

    fn image(&mut self, key: &str, im: &crate::support::registry::Image) {
        self.name(&format!("m:{key}"), &im.manifest);
        self.name(&format!("cfg:{key}"), &im.config);
    }
}

/// Pushes, retags, deletes and pulls on `reg` (HOME for skopeo in `dir/home`); returns what a
/// correct ingest → stats must find.
pub fn run_scenario(reg: &Registry, dir: &Path) -> Expected {
    let home = dir.join("home");
    let mut x = Expected::default();
    let layers: BTreeMap<&str, Layer> = [
        ("B", 1u64),
        ("A1", 2),
        ("O1", 3),
        ("W1", 4),
        ("T1", 5),
        ("AMD", 6),
        ("ARM", 7),
    ]
    .into_iter()
    .map(|(n, seed)| (n, Layer::random(seed, MIB)))
    .collect();
    for (n, l) in &layers {
        x.name(n, &l.digest);
    }
    let l = |n: &str| &layers[n];
    let layout = |name: &str| OciLayout::new(&dir.join("oci").join(name));

    let api_old = layout("api-old");
    let im_old = api_old.image("amd64", &[l("B"), l("O1")]);
    api_old.set_latest(OCI_MANIFEST, &im_old.manifest, im_old.bytes.len());
    x.image("api-old", &im_old);
    let api_v1 = layout("api-v1");
    let im_v1 = api_v1.image("amd64", &[l("B"), l("A1")]);
    api_v1.set_latest(OCI_MANIFEST, &im_v1.manifest, im_v1.bytes.len());
    x.image("api-v1", &im_v1);
    let web = layout("web-v1");
    let im_web = web.image("amd64", &[l("B"), l("W1")]);
    web.set_latest(OCI_MANIFEST, &im_web.manifest, im_web.bytes.len());
    x.image("web-v1", &im_web);
    let tmp = layout("web-tmp");
    let im_tmp = tmp.image("amd64", &[l("T1"), l("B")]);
    tmp.set_latest(OCI_MANIFEST, &im_tmp.manifest, im_tmp.bytes.len());
    x.image("web-tmp", &im_tmp);
    let multi = layout("multi");
    let im_amd = multi.image("amd64", &[l("B"), l("AMD")]);
    let im_arm = multi.image("arm64", &[l("B"), l("ARM")]);
    let (index, index_bytes) = multi.index(&[("amd64", &im_amd), ("arm64", &im_arm)]);
    multi.set_latest(OCI_INDEX, &index, index_bytes.len());
    x.image("amd", &im_amd);
    x.image("arm", &im_arm);
    x.name("m:index", &index);

    // Pushes (from 127.0.0.1): a tag that later moves, an image deleted again, an index.
    let push = |layout: &OciLayout, dest: &str, all: bool| {
        let dest = format!("docker://{}/{dest}", reg.host());
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        if all {
            args.push("--all");
        }
        let src = layout.reference();
        args.push(&src);
        args.push(&dest);
        skopeo(&home, &args);
    };
    push(&api_old, "team/api:stable", false);
    push(&api_v1, "team/api:v1", false);
    push(&api_v1, "team/api:stable", false); // `stable` moves on; the old image is untagged
    push(&web, "team/web:v1", false);
    push(&tmp, "team/web:tmp", false);
    // Distribution 2.8 cannot delete a tag alone: skopeo deletes the manifest the tag points to
    // (its revision link and every tag on it go; its blobs stay until garbage collection).
    skopeo(
        &home,
        &[
            "delete",
            "--tls-verify=false",
            &format!("docker://{}/team/web:tmp", reg.host()),
        ],
    );
    push(&multi, "base/multi:v1", true);
    for (repo, tag, m) in [
        ("team/api", "stable", "m:api-v1"),
        ("team/api", "v1", "m:api-v1"),
        ("team/web", "v1", "m:web-v1"),
        ("base/multi", "v1", "m:index"),
    ] {
        x.tags.insert((repo.into(), tag.into()), m.into());
    }

    // Pulls, each client through its own source address.
    let pull_dir = dir.join("pulled");
    fs::create_dir_all(&pull_dir).unwrap();
    let copy = |client: u8, reference: &str, arch: Option<&str>| {
        let c = ClientProxy::start(&format!("127.0.0.{client}"), reg.port);
        let dest = pull_dir.join(format!("{client}"));
        let src = format!("docker://{}/{reference}", c.host());
        let to = format!("dir:{}", dest.display());
        let mut args: Vec<&str> = Vec::new();
        if let Some(a) = arch {
            args.extend(["--override-arch", a]);
        }
        args.extend(["copy", "--src-tls-verify=false", &src, &to]);
        skopeo(&home, &args);
    };
    let inspect = |client: u8, reference: &str| {
        let c = ClientProxy::start(&format!("127.0.0.{client}"), reg.port);
        skopeo(
            &home,
            &[
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{}/{reference}", c.host()),
            ],
        )
    };
    for client in [11, 12, 13] {
        copy(client, "team/api:v1", None);
    }
    copy(14, "team/api:stable", None);
    // Clients that have every layer cached fetch the manifest only.
    for client in [21, 22] {
        let raw = inspect(client, "team/web:v1");
        assert!(raw.contains(&l("W1").digest), "{raw}");
    }
    copy(31, "base/multi:v1", Some("arm64"));
    inspect(41, &format!("team/api@{}", im_old.manifest));

    // Blob GETs and their clients.
    for (name, n, clients) in [
        ("B", 5, 5),
        ("A1", 4, 4),
        ("cfg:api-v1", 4, 4),
        ("ARM", 1, 1),
        ("cfg:arm", 1, 1),
    ] {
        x.pulls.insert(name.into(), n);
        x.clients.insert(name.into(), clients);
    }
    // Manifest requests reaching each blob: api:v1 ×3, api:stable ×1, web:v1 ×2, the index ×1
    // (reaching both platforms), its arm64 manifest by digest ×1, the untagged api image by
    // digest ×1.
    let reach: [(&str, i64, &[&str]); 7] = [
        ("api-v1", 4, &["m:api-v1", "cfg:api-v1", "A1", "B"]),
        ("web-v1", 2, &["m:web-v1", "cfg:web-v1", "W1", "B"]),
        (
            "index",
            1,
            &[
                "m:index", "m:amd", "cfg:amd", "AMD", "m:arm", "cfg:arm", "ARM", "B",
            ],
        ),
        ("arm", 1, &["m:arm", "cfg:arm", "ARM", "B"]),
        ("api-old", 1, &["m:api-old", "cfg:api-old", "O1", "B"]),
        ("web-tmp", 0, &["m:web-tmp", "cfg:web-tmp", "T1"]),
        ("none", 0, &[]),
    ];
    for name in x.digests.keys().cloned().collect::<Vec<_>>() {
        let n: i64 = reach
            .iter()
            .filter(|(_, _, names)| names.contains(&name.as_str()))
            .map(|(_, n, _)| n)
            .sum();
        x.manifest_pulls.insert(name.clone(), n);
        let untagged = [
            "m:api-old",
            "cfg:api-old",
            "O1",
            "m:web-tmp",
            "cfg:web-tmp",
            "T1",
        ]
        .contains(&name.as_str());
        x.tagged.insert(name.clone(), !untagged);
        let repos = match name.as_str() {
            "B" => 3,
            n if n.ends_with("web-tmp") || n == "T1" => 0,
            _ => 1,
        };
        x.ref_repos.insert(name, repos);
    }
    x
}

/// A lake of the scenario on a filesystem registry: its JSON log, an inventory of its storage
/// (W1 in DEEP_ARCHIVE) and the image graph, all as of today. Returns the lake, today and the
/// scenario's expectations.
pub fn scenario_lake(dir: &Path) -> (PathBuf, NaiveDate, Expected) {
    let storage = dir.join("storage");
    let reg = Registry::start(
        &dir.join("registry"),
        RegistryStorage::Filesystem(storage.clone()),
    );
    let x = run_scenario(&reg, dir);
    let today = chrono::Utc::now().date_naive();
    let inv = inventory_of(&storage, &dir.join("inv"), today, &[&x.digests["W1"]]);
    let lake = dir.join("lake");
    ingest(
        &lake,
        &[
            "--logs",
            &format!("registry-json:{}", reg.log.display()),
            "--registry-storage",
            storage.to_str().unwrap(),
            "--inventory",
        ],
        &[&inv],
    );
    (lake, today, x)
}

/// The registry's storage as an S3 Inventory CSV report (one row per file under `root`,
/// `docker/registry/v2/…` keys), with `archived` blobs in DEEP_ARCHIVE.
fn inventory_of(storage: &Path, out: &Path, date: NaiveDate, archived: &[&str]) -> PathBuf {
    let mut rows: Vec<InvRow> = Vec::new();
    for f in walk(storage) {
        let key = f
            .strip_prefix(storage)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let size = fs::metadata(&f).unwrap().len();
        let class = if archived
            .iter()
            .any(|d| key.contains(d.trim_start_matches("sha256:")))
        {
            "DEEP_ARCHIVE"
        } else {
            "STANDARD"
        };
        rows.push((
            key,
            size,
            format!("{date}T00:00:01.000Z"),
            class.to_string(),
        ));
    }
    write_inventory(out, "registry", &date.to_string(), &rows)
}

/// `docker-registry garbage-collect --dry-run [extra]`: the blobs it would delete.
fn gc_candidates(reg: &Registry, extra: &[&str]) -> BTreeSet<String> {
    let (bin, _) = tools();
    let out = Command::new(bin)
        .args(["garbage-collect", "--dry-run"])
        .args(extra)
        .arg(reg.dir.join("config.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("blob eligible for deletion: "))
        .map(str::to_owned)
        .collect()
}

fn ingest(lake: &Path, args: &[&str], extra: &[&Path]) -> Value {
    let mut cmd = blobtier();
    cmd.args(["ingest", "--raw-clients", "--lake"])
        .arg(lake)
        .args(args);
    for p in extra {
        cmd.arg(p);
    }
    let out = run(&mut cmd);
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap()
}

fn plan_with(
    lake: &Path,
    as_of: NaiveDate,
    dir: &Path,
    extra: &str,
) -> BTreeMap<String, BTreeMap<String, Value>> {
    let cfg = dir.join(format!(
        "plan-{}.toml",
        xxhash_rust::xxh3::xxh3_64(extra.as_bytes())
    ));
    fs::write(
        &cfg,
        format!(
            "[plan]\nmin_size = \"1\"\n{extra}\n[[plan.tiers]]\nname = \"archive\"\nwhen = \"TRUE\"\nclass = \"DEEP_ARCHIVE\"\n"
        ),
    )
    .unwrap();
    run(blobtier()
        .arg("--config")
        .arg(&cfg)
        .args(["plan", "--as-of", &as_of.to_string(), "--lake"])
        .arg(lake)
        // The lake holds an image graph and an inventory, not 90 days of logs: plan despite
        // the coverage guard.
        .arg("--allow-gaps"))
    .assert_success();
    by_key(&lake.join(format!("decisions/as_of={as_of}")), "digest")
}

impl Expected {
    /// The scenario's name of a digest.
    pub fn name_of(&self, d: &str) -> String {
        self.names
            .get(d)
            .cloned()
            .unwrap_or_else(|| format!("unknown {d}"))
    }
}

/// The graph snapshot's tags resolve to the digests the test computed (so skopeo pushed the
/// images unchanged).
fn check_tags(lake: &Path, today: NaiveDate, x: &Expected) {
    let files = walk(&lake.join(format!("tags/snapshot={today}")));
    assert_eq!(files.len(), 1, "{files:?}");
    let tags: BTreeMap<(String, String), String> = read_rows(&files[0])
        .into_iter()
        .map(|r| {
            (
                (
                    r["repo"].as_str().unwrap().to_owned(),
                    r["tag"].as_str().unwrap().to_owned(),
                ),
                x.name_of(r["manifest"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(tags, x.tags);
}

/// Graph metrics of a full build of the scenario's storage.
fn check_graph_metrics(g: &Value, x: &Expected) {
    assert_eq!(g["repositories"], 3, "{g}");
    // team/api: old and v1; team/web: v1 (tmp was deleted); base/multi: index, two children.
    assert_eq!(g["revisions"], 6, "{g}");
    assert_eq!(g["tags"], 4, "{g}");
    assert_eq!(g["manifests"], 6, "{g}");
    assert_eq!(
        g["manifest_kinds"],
        serde_json::json!({"image": 5, "index": 1}),
        "{g}"
    );
    assert_eq!(g["blobs_in_storage"], x.digests.len(), "{g}");
    assert_eq!(
        g["blobs_tagged"],
        x.tagged.values().filter(|t| **t).count(),
        "{g}"
    );
    assert_eq!(g["blobs_unreferenced"], 3, "{g}");
    assert_eq!(g["blobs_missing"], 0, "{g}");
}

/// `blob_refs`: roles, and the unreferenced blobs are the deleted image's.
fn check_blob_refs(lake: &Path, today: NaiveDate, x: &Expected) -> BTreeSet<String> {
    let refs = by_key(&lake.join(format!("blob_refs/snapshot={today}")), "digest");
    let unreferenced: BTreeSet<String> = refs
        .iter()
        .filter(|(_, r)| r["ref_repos"] == 0 && r["in_storage"] == true)
        .map(|(d, _)| d.clone())
        .collect();
    assert_eq!(
        unreferenced
            .iter()
            .map(|d| x.name_of(d))
            .collect::<BTreeSet<_>>(),
        ["T1", "cfg:web-tmp", "m:web-tmp"].map(String::from).into()
    );
    let role = |n: &str| refs[&x.digests[n]]["role"].clone();
    assert_eq!(role("cfg:api-v1"), "config");
    assert_eq!(role("m:arm"), "manifest");
    assert_eq!(role("m:index"), "manifest");
    assert_eq!(role("B"), "layer");
    assert_eq!(role("T1"), Value::Null);
    assert_eq!(refs[&x.digests["B"]]["ref_manifests"], 6);
    assert_eq!(
        refs[&x.digests["ARM"]]["ref_manifests"], 2,
        "its manifest and the index"
    );
    assert_eq!(refs[&x.digests["O1"]]["ref_tags"], 0);
    assert_eq!(
        refs[&x.digests["A1"]]["ref_tags"], 2,
        "team/api:v1 and :stable"
    );
    unreferenced
}

/// `digest_stats` of `lake` against what the scenario did.
fn check_stats(format: &str, lake: &Path, today: NaiveDate, x: &Expected) {
    run(blobtier()
        .args(["stats", "--as-of", &today.to_string(), "--lake"])
        .arg(lake))
    .assert_success();
    let stats = by_key(&lake.join(format!("digest_stats/as_of={today}")), "digest");
    let mut diffs = Vec::new();
    for (d, r) in &stats {
        let n = x.name_of(d);
        let want = [
            (
                "pulls_30d",
                Value::from(x.pulls.get(&n).copied().unwrap_or(0)),
            ),
            (
                "unique_clients_30d",
                Value::from(x.clients.get(&n).copied().unwrap_or(0)),
            ),
            ("manifest_pulls_30d", Value::from(x.manifest_pulls[&n])),
            ("manifest_pulls_90d", Value::from(x.manifest_pulls[&n])),
            ("referenced_by_tag", Value::from(x.tagged[&n])),
            ("ref_repos", Value::from(x.ref_repos[&n])),
            ("in_inventory", Value::from(true)),
        ];
        for (col, w) in want {
            if r[col] != w {
                diffs.push(format!("{format} {n} {col}: got {}, want {w}", r[col]));
            }
        }
        if r["last_manifest_pull_at"].is_null() != (x.manifest_pulls[&n] == 0) {
            diffs.push(format!(
                "{format} {n} last_manifest_pull_at: {}",
                r["last_manifest_pull_at"]
            ));
        }
    }
    assert_eq!(stats.len(), x.digests.len(), "{format}: one row per blob");
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Plans: tagged blobs never go to DEEP_ARCHIVE (W1, already there, is restored); the untagged
/// image's manifest was pulled today; the deleted image's layer is garbage.
fn check_plans(lake: &Path, today: NaiveDate, dir: &Path, x: &Expected) {
    let expect = |overrides: &[(&str, &str)]| -> BTreeMap<String, String> {
        x.digests
            .keys()
            .map(|n| {
                let r = if let Some((_, r)) = overrides.iter().find(|(o, _)| o == n) {
                    r.to_string()
                } else if n == "W1" {
                    "restore:tagged".into()
                } else if x.tagged[n] {
                    "kept:tagged".into()
                } else {
                    unreachable!("{n} needs an expected reason")
                };
                (n.clone(), r)
            })
            .collect()
    };
    let garbage = [
        ("T1", "moved:archive"),
        ("cfg:web-tmp", "kept:payback"),
        ("m:web-tmp", "kept:payback"),
    ];
    let cases: [(&str, [(&str, &str); 3]); 3] = [
        (
            "",
            [
                ("O1", "kept:recent_manifest_pull"),
                // A few hundred bytes cost more in DEEP_ARCHIVE (40 KiB overhead per object):
                // not a move down, so no safety net applies; the cost model keeps them.
                ("cfg:api-old", "kept:payback"),
                ("m:api-old", "kept:payback"),
            ],
        ),
        (
            "archive_scope = \"unreferenced\"",
            [
                ("O1", "kept:referenced"),
                ("cfg:api-old", "kept:referenced"),
                ("m:api-old", "kept:referenced"),
            ],
        ),
        (
            "count_manifest_pulls = false",
            [
                ("O1", "moved:archive"),
                ("cfg:api-old", "kept:payback"),
                ("m:api-old", "kept:payback"),
            ],
        ),
    ];
    for (extra, overrides) in cases {
        let all: Vec<(&str, &str)> = overrides.into_iter().chain(garbage).collect();
        let decisions = plan_with(lake, today, dir, extra);
        let got: BTreeMap<String, String> = decisions
            .iter()
            .map(|(d, r)| (x.name_of(d), r["reason"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(got, expect(&all), "plan with `{extra}`");
        let restore = &decisions[&x.digests["W1"]];
        assert_eq!(
            (&restore["action"], &restore["to_class"]),
            (&Value::from("restore"), &Value::from("STANDARD"))
        );
    }
}

/// The report lists the unreferenced blobs with their cost, recomputed here from the tables.
fn check_report(lake: &Path, today: NaiveDate, x: &Expected) {
    let out = run(blobtier()
        .args(["report", "--as-of", &today.to_string(), "--lake"])
        .arg(lake));
    out.assert_success();
    let dir = lake.join(format!("reports/as_of={today}"));
    let sm: Value = serde_json::from_slice(&fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let u = &sm["unreferenced"];
    let decisions = by_key(&lake.join(format!("decisions/as_of={today}")), "digest");
    let garbage: Vec<&BTreeMap<String, Value>> = ["T1", "cfg:web-tmp", "m:web-tmp"]
        .iter()
        .map(|n| &decisions[&x.digests[*n]])
        .collect();
    assert_eq!(u["blobs"], 3, "{u}");
    assert_eq!(
        u["bytes"].as_i64().unwrap(),
        garbage
            .iter()
            .map(|r| r["size"].as_i64().unwrap())
            .sum::<i64>()
    );
    let sum = |k: &str| -> f64 { garbage.iter().map(|r| r[k].as_f64().unwrap()).sum() };
    for k in ["monthly_cost_now", "monthly_cost_after"] {
        assert!((u[k].as_f64().unwrap() - sum(k)).abs() < 1e-12, "{k}: {u}");
    }
    assert_eq!(u["planned_moves"], 1, "T1 goes to DEEP_ARCHIVE: {u}");
    assert_eq!(u["largest"][0]["digest"], x.digests["T1"].as_str());
    let md = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Unreferenced blobs"), "{md}");
    assert!(md.contains("`registry garbage-collect` would delete them"));
}

#[test]
fn image_graph_from_a_real_registry_matches_what_the_test_did() {
    let t = tempfile::tempdir().unwrap();
    let storage = t.path().join("storage");
    let reg = Registry::start(
        &t.path().join("registry"),
        RegistryStorage::Filesystem(storage.clone()),
    );
    let x = run_scenario(&reg, t.path());
    reg.wait_for_notifications();
    let today = chrono::Utc::now().date_naive();

    // The registry's outputs, as it wrote them: both log streams in one file, notification
    // envelopes pretty-printed back to back.
    let log = fs::read_to_string(&reg.log).unwrap();
    assert!(log.lines().any(|l| l.starts_with('{')));
    assert!(log.lines().any(|l| l.starts_with("127.0.0.11 - - [")));
    let notes = fs::read_to_string(&reg.webhook.file).unwrap();
    assert!(
        notes.starts_with("{\n   \"events\": ["),
        "pretty-printed envelopes: {}",
        &notes[..80.min(notes.len())]
    );
    let inv = inventory_of(&storage, &t.path().join("inv"), today, &[&x.digests["W1"]]);

    // Lake 1: the JSON log and the inventory, then the registry's storage.
    let lake = t.path().join("lake");
    let m = ingest(
        &lake,
        &[
            "--logs",
            &format!("registry-json:{}", reg.log.display()),
            "--inventory",
        ],
        &[&inv],
    );
    assert_eq!(m["totals"]["rejects"], serde_json::json!({}), "{m}");
    let storage_arg = storage.to_str().unwrap();
    let m = ingest(&lake, &["--registry-storage", storage_arg], &[]);
    let g = &m["graph"];
    assert_eq!(g["keys_from"], "walk");
    assert_eq!(g["manifests_fetched"], 6, "{g}");
    check_graph_metrics(g, &x);
    check_tags(&lake, today, &x);
    let unreferenced = check_blob_refs(&lake, today, &x);
    // The registry's own garbage collector would delete exactly the unreferenced blobs.
    assert_eq!(unreferenced, gc_candidates(&reg, &[]));
    // Distribution 2.8's `--delete-untagged` also deletes the platform manifests of the tagged
    // index (and so the blobs only they reference): blobtier counts them as tagged, which is
    // what a pull of `base/multi:v1` needs.
    let untagged_gc: BTreeSet<String> = gc_candidates(&reg, &["--delete-untagged"])
        .iter()
        .map(|d| x.name_of(d))
        .collect();
    let broken: BTreeSet<&str> = untagged_gc
        .iter()
        .filter(|n| x.tagged[n.as_str()])
        .map(String::as_str)
        .collect();
    let platforms: BTreeSet<&str> = ["m:amd", "m:arm", "cfg:amd", "cfg:arm", "AMD", "ARM"].into();
    assert!(
        !broken.is_empty() && broken.is_subset(&platforms),
        "tagged blobs `--delete-untagged` would delete: {broken:?} (all: {untagged_gc:?})"
    );
    eprintln!("registry: garbage-collect --delete-untagged would delete {untagged_gc:?}");

    // A second run reads no manifest and no tag link: nothing changed.
    let again = ingest(&lake, &["--registry-storage", storage_arg], &[]);
    let g = &again["graph"];
    assert_eq!(g["manifests_fetched"], 0, "{g}");
    assert_eq!(g["manifests_cached"], 6, "{g}");
    assert_eq!(g["tag_links_read"], 0, "{g}");
    assert_eq!(g["tag_links_reused"], 4, "{g}");
    assert_eq!(g["read_requests"], 0, "{g}");
    assert_eq!(
        walk(&lake.join(format!("blob_refs/snapshot={today}"))).len(),
        1,
        "the later run of the day supersedes the earlier snapshot"
    );
    check_stats("registry-json", &lake, today, &x);
    check_plans(&lake, today, t.path(), &x);
    check_report(&lake, today, &x);

    // Lakes 2 and 3: the same requests from the access log and from the notifications.
    for (format, input) in [
        ("registry-combined", reg.log.clone()),
        ("notifications", reg.webhook.file.clone()),
    ] {
        let l = t.path().join(format!("lake-{format}"));
        let m = ingest(
            &l,
            &[
                "--logs",
                &format!("{format}:{}", input.display()),
                "--registry-storage",
                storage_arg,
                "--inventory",
            ],
            &[&inv],
        );
        assert_eq!(
            m["totals"]["rejects"],
            serde_json::json!({}),
            "{format}: {m}"
        );
        check_stats(format, &l, today, &x);
    }
}

/// The same scenario with the registry's S3 driver on LocalStack (redirects to presigned URLs
/// on, as by default) and its default text log formatter (what Harbor's registry writes too),
/// ingested as `registry-text`: the graph's keys come from an S3 Inventory of the bucket
/// ingested in the same run, then from a listing through a proxy that fails reads with
/// 503/500/resets; the result is the same and every injected fault is one counted retry.
#[test]
fn image_graph_from_a_registry_on_s3_with_read_faults() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("registry");
    let reg = Registry::on_localstack(&t.path().join("registry"), ls, &bucket, "text");
    let x = run_scenario(&reg, t.path());
    reg.wait_for_notifications();
    let today = chrono::Utc::now().date_naive();
    // Blob GETs were answered with redirects to presigned URLs.
    let log = fs::read_to_string(&reg.log).unwrap();
    assert!(
        log.contains(" http.response.status=307 "),
        "no redirects in the log"
    );
    assert!(
        !log.lines().any(|l| l.starts_with('{')),
        "the text formatter wrote JSON lines"
    );

    // An inventory of the bucket, listed with the SDK.
    let objects = block_on(ls.list_sizes(&bucket, ""));
    assert!(objects
        .iter()
        .all(|(k, _)| k.starts_with("reg/docker/registry/v2/")));
    let w1 = x.digests["W1"].trim_start_matches("sha256:").to_owned();
    let rows: Vec<InvRow> = objects
        .iter()
        .map(|(k, size)| {
            let class = if k.contains(&w1) {
                "DEEP_ARCHIVE"
            } else {
                "STANDARD"
            };
            (
                k.clone(),
                *size as u64,
                format!("{today}T00:00:01.000Z"),
                class.into(),
            )
        })
        .collect();
    let inv = write_inventory(&t.path().join("inv"), &bucket, &today.to_string(), &rows);

    let spec = format!("s3://{bucket}/reg");
    let lake = t.path().join("lake");
    let m = ingest_env(
        &lake,
        &[
            "--logs",
            &format!("registry-text:{}", reg.log.display()),
            "--registry-storage",
            &spec,
            "--inventory",
            inv.to_str().unwrap(),
        ],
        &ls.env(),
    );
    let g = &m["graph"];
    assert_eq!(g["keys_from"], "inventory", "{g}");
    assert_eq!(g["snapshot"], today.to_string(), "{g}");
    assert_eq!(g["manifests_fetched"], 6, "{g}");
    // Four tag links and six manifests, each read once.
    assert_eq!(g["read_requests"], 10, "{g}");
    check_graph_metrics(g, &x);
    check_tags(&lake, today, &x);
    check_blob_refs(&lake, today, &x);
    assert_eq!(m["totals"]["rejects"], serde_json::json!({}), "{m}");
    check_stats("registry-text (S3 driver)", &lake, today, &x);
    check_plans(&lake, today, t.path(), &x);
    // The next night: the same inventory is in the lake; nothing is read again.
    let again = ingest_env(&lake, &["--registry-storage", &spec], &ls.env());
    assert_eq!(again["graph"]["keys_from"], "inventory");
    assert_eq!(again["graph"]["read_requests"], 0, "{again}");

    // No inventory: a listing; reads through a fault-injecting proxy.
    let proxy = FaultProxy::start(
        &ls.endpoint(),
        FaultMix {
            slowdown: 0.15,
            internal: 0.05,
            reset: 0.05,
            ..FaultMix::none()
        },
        7,
    );
    proxy.fault_only(&["GetObject"]);
    let faulty = t.path().join("lake-faulty");
    let m = ingest_env(
        &faulty,
        &["--registry-storage", &spec],
        &proxy.env(ls.env()),
    );
    let g = &m["graph"];
    assert_eq!(g["keys_from"], "listing", "{g}");
    check_graph_metrics(g, &x);
    // The proxy draws faults from a seeded sequence in request order: whatever the order
    // of the concurrent reads, the first ten requests meet the same faults.
    let injected: u64 = proxy.counts().injected.values().sum();
    eprintln!(
        "registry: {injected} read faults injected ({:?})",
        proxy.counts().injected
    );
    assert!(
        injected > 0,
        "the seed injects faults among the first reads"
    );
    assert_eq!(g["read_retries"], injected, "{g}");
    assert_eq!(g["read_requests"], 10 + injected, "{g}");
    assert_eq!(
        by_key(
            &faulty.join(format!("blob_refs/snapshot={today}")),
            "digest"
        ),
        by_key(&lake.join(format!("blob_refs/snapshot={today}")), "digest"),
    );
}

fn ingest_env(lake: &Path, args: &[&str], env: &[(String, String)]) -> Value {
    let out = run(blobtier()
        .args(["ingest", "--raw-clients", "--lake"])
        .arg(lake)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v))));
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap()
}
