//! One pull, counted once, against the real registry: Debian's `docker-registry` (distribution
//! 2.8) with its S3 driver on LocalStack (redirects to presigned URLs on, as by default) and
//! `skopeo`. Clients pull an image through the registry; its JSON log (the 307s) and its
//! notifications (a `pull` event per GET) are ingested together, and `stats` counts each pull
//! of each blob once: the number of times the test pulled it, not twice that.
//! See: issue 16.

use std::fs;

use crate::spark::{read_partition, Cell};
use crate::stats::{write_inventory, InvRow};
use crate::support::cli::{blobtier, run};
use crate::support::localstack::{block_on, localstack};
use crate::support::registry::{
    notification_gets, skopeo, ClientProxy, Layer, OciLayout, Registry, OCI_MANIFEST,
};

const MIB: usize = 1 << 20;

#[test]
fn a_pull_through_a_redirecting_registry_counts_once_from_its_log_and_notifications() {
    let ls = localstack();
    let t = tempfile::tempdir().unwrap();
    let bucket = ls.unique_bucket("recon");
    let reg = Registry::on_localstack(&t.path().join("registry"), ls, &bucket, "json");
    let home = t.path().join("home");
    let (base, app) = (Layer::random(161, MIB), Layer::random(162, MIB));
    let layout = OciLayout::new(&t.path().join("oci/app"));
    let image = layout.image("amd64", &[&base, &app]);
    layout.set_latest(OCI_MANIFEST, &image.manifest, image.bytes.len());
    let dest = format!("docker://{}/team/app:v1", reg.host());
    skopeo(
        &home,
        &[
            "copy",
            "--dest-tls-verify=false",
            &layout.reference(),
            &dest,
        ],
    );
    // Client .2 pulls twice, client .3 once, each through its own source address.
    fs::create_dir_all(t.path().join("pulled")).unwrap();
    let mut n = 0;
    for client in [2u8, 2, 3] {
        let c = ClientProxy::start(&format!("127.0.0.{client}"), reg.port);
        n += 1;
        let to = format!("dir:{}", t.path().join(format!("pulled/{n}")).display());
        let src = format!("docker://{}/team/app:v1", c.host());
        skopeo(&home, &["copy", "--src-tls-verify=false", &src, &to]);
    }
    reg.wait_for_notifications();

    // Both sources saw every blob GET: the log as a redirect, the notifications as an event.
    let log = fs::read_to_string(&reg.log).unwrap();
    let notes = fs::read(&reg.webhook.file).unwrap();
    let layers = [&base.digest, &app.digest];
    for d in layers {
        let redirects = log
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["http.response.status"] == 307
                    && v["http.request.method"] == "GET"
                    && v["http.request.uri"]
                        .as_str()
                        .is_some_and(|u| u.ends_with(d.as_str()))
            })
            .count();
        assert_eq!(redirects, 3, "{d}: 307s in the registry's log");
    }
    assert!(notification_gets(&notes) >= 6, "GET pull events");

    // An inventory of the bucket, listed with the SDK.
    let today = chrono::Utc::now().date_naive();
    let objects = block_on(ls.list_sizes(&bucket, ""));
    let rows: Vec<InvRow> = objects
        .iter()
        .map(|(k, size)| {
            let lm = format!("{today}T00:00:01.000Z");
            (k.clone(), *size as u64, lm, "STANDARD".into())
        })
        .collect();
    let inv = write_inventory(&t.path().join("inv"), &bucket, &today.to_string(), &rows);

    let lake = t.path().join("lake");
    let out = run(blobtier()
        .args(["ingest", "--raw-clients", "--lake"])
        .arg(&lake)
        .arg("--logs")
        .arg(format!("registry-json:{}", reg.log.display()))
        .arg("--logs")
        .arg(format!("notifications:{}", reg.webhook.file.display()))
        .arg("--inventory")
        .arg(&inv));
    out.assert_success();
    run(blobtier()
        .args(["stats", "--as-of", &today.to_string(), "--lake"])
        .arg(&lake))
    .assert_success();
    let stats = read_partition(&lake, today);
    for d in layers {
        let row = stats
            .rows
            .iter()
            .find(|r| r[stats.col("digest")] == Cell::Str(d.clone()))
            .unwrap_or_else(|| panic!("{d} not in digest_stats"));
        assert_eq!(row[stats.col("pulls_7d")], Cell::Int(3), "{d}: pulls");
        assert_eq!(
            row[stats.col("unique_clients_7d")],
            Cell::Int(2),
            "{d}: clients"
        );
    }
}
