//! The nightly loop closed: `blobtier run` and `blobtier apply --execute` night after night on
//! a LocalStack bucket whose clients drift, each night's inputs taken from what the previous
//! nights did to the bucket. Issue 15's acceptance, for both `plan.method` values.
//!
//! The bucket ([`scenario`]): 300 registry blobs. 100 hot and 48 rarely pulled ones stay in use;
//! 60 were pulled long ago and once more 20 to 29 days before the first night (they go cold
//! during the loop); 72 were never pulled (cold from the start), and 8 of those come back on day
//! 12 (pulled once a day from then on); 12 sit in GLACIER / DEEP_ARCHIVE, and clients try to
//! pull 3 of them twice a day from day 10 on (403 InvalidObjectState until they are readable).
//! 120 days of access logs come before the first night.
//!
//! Each night `d` of [`NIGHTS`] (as-of `d`):
//! 1. midnight: S3's own work, which LocalStack does not do, emulated ([`bucket`]): restored
//!    copies whose days are over end; lifecycle rules (as apply left them) move the objects
//!    whose tags, prefix, size and Days match; then the bucket is listed (class, size, ETag,
//!    restore status): that is the state clients and the bill see during day `d`;
//! 2. the clients' GETs of day `d`, answered from that state (200, 206, or 403 for an archived
//!    blob without a restored copy), are written as that day's S3 access log;
//! 3. an S3 Inventory report (manifest.json + CSV.gz) of that state is written;
//! 4. `blobtier run --as-of d` ingests both and plans; its `decisions` are what it projects;
//! 5. `blobtier apply --plan … --execute` runs the plan through a recording proxy
//!    ([`proxy`]), which also makes a restore take one night (LocalStack finishes restores at
//!    once; the proxy shows them in progress until the next night).
//!
//! Simulated time: the objects' Last-Modified in the inventory (and for lifecycle Days) is the
//! simulated one: the creation date for untouched objects, 23:30 of the night apply copied
//! them (from the proxy's CopyObject records); an emulated transition keeps it, as S3's does.
//!
//! Prices: every object stands for a blob [`bill::SCALE`] (256) times its size, so 16-512 KiB
//! objects are billed as 4-128 MiB layers. blobtier gets the same economics through
//! `plan.pricing`, a copy of `pricing/us-east-1.toml` with per-GB prices × 256 and byte
//! thresholds ÷ 256 (and `plan.min_size` = 128 KiB ÷ 256); the test's bill model
//! ([`bill`]) uses the unscaled prices written out by hand on the scaled sizes.
//!
//! Assertions (issue 15), over nights 0..NIGHTS and the days 1..=NIGHTS they act on:
//! - no object changes class more than twice, and none goes down → up → down within 30 days;
//! - every archived blob clients pulled is readable within 3 nights of the first failed pull;
//! - the realized bill (the bill model on the daily states and the requests blobtier made) is
//!   below the do-nothing bill (the same demand on the untouched bucket) and within 2 % of the
//!   bill the nightly decisions projected: for each day, each blob's `monthly_cost_after` / 30
//!   if the previous night's move landed (plus its `one_time_cost` on the day it lands), else
//!   its `monthly_cost_now` / 30.
//!
//! Every failed assertion is listed with its numbers, after a report of the whole loop (also
//! printed when all pass, see `--nocapture`).

mod bill;
mod bucket;
mod decisions;
mod proxy;
mod scenario;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration as Elapsed, Instant};

use chrono::{Duration, NaiveDate, NaiveDateTime};

use crate::support::cli::{blobtier, run};
use crate::support::{block_on, localstack};
use bucket::Obj;
use decisions::Decision;
use proxy::{Recorder, Request};
use scenario::{Blob, Group, Pull};

/// Nights of `run` + `apply`.
const NIGHTS: i64 = 32;
/// Secret for hashing client addresses.
const CLIENT_KEY: &str = "closed-loop-secret-0123456789abcdef";

/// A restore apply requested: the night and the days asked for.
#[derive(Debug, Clone)]
struct Restore {
    night: NaiveDate,
    days: i64,
}

/// Everything one day and the night after it left behind.
#[derive(Debug)]
struct Day {
    day: NaiveDate,
    /// The bucket during the day (after the midnight's lifecycle run).
    state: BTreeMap<String, Obj>,
    /// Lifecycle transitions at the midnight starting the day: (key, from, to).
    transitions: Vec<(String, String, String)>,
    /// Clients' GETs of the day.
    pulls: Vec<Pull>,
    /// The night's decisions (empty after the last night).
    decisions: Vec<Decision>,
    /// The requests apply made that night.
    requests: Vec<Request>,
    /// apply's exit code and JSON summary (None: the plan had no action).
    apply: Option<(i32, serde_json::Value)>,
}

#[derive(Debug, Default)]
struct Timing {
    setup: Elapsed,
    emulator: Elapsed,
    run: Elapsed,
    apply: Elapsed,
    total: Elapsed,
}

#[test]
fn copy_method_loop_converges_restores_pulled_blobs_and_saves_what_it_projects() {
    closed_loop("copy");
}

#[test]
fn lifecycle_method_loop_converges_restores_pulled_blobs_and_saves_what_it_projects() {
    closed_loop("lifecycle");
}

fn closed_loop(method: &str) {
    let started = Instant::now();
    let mut timing = Timing::default();
    let ls = localstack();
    let t = tempfile::tempdir().expect("tempdir");
    let bucket_name = ls.unique_bucket(&format!("loop-{method}"));
    let blobs = scenario::blobs();
    let index: HashMap<String, usize> = blobs.iter().map(|b| (b.key.clone(), b.i)).collect();
    block_on(async {
        ls.create_bucket(&bucket_name).await;
        bucket::setup(&ls.client().await, &bucket_name, &blobs).await;
    });
    let logs = t.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    for d in -scenario::HISTORY_DAYS..0 {
        let day = scenario::start() + Duration::days(d);
        let pulls =
            scenario::pulls_of_day(&blobs, day, |i| !bill::is_archive(blobs[i].initial_class));
        scenario::write_log(&logs, &bucket_name, &blobs, day, &pulls);
    }
    let pricing = t.path().join("pricing-scaled.toml");
    std::fs::write(&pricing, bill::scaled_price_table()).expect("write price table");
    let lake = t.path().join("lake");
    let inv = t.path().join("inv");
    let cfg = t.path().join("blobtier.toml");
    let inv_cfg = inv.join(format!("dest/{bucket_name}/cfg"));
    std::fs::write(
        &cfg,
        format!(
            "[run]\nlake = \"{}\"\nlogs = [\"s3-access:{}\"]\ninventory = \"{}\"\n\n\
             [plan]\nmethod = \"{method}\"\nmin_size = \"{}\"\npricing = \"{}\"\n",
            lake.display(),
            logs.display(),
            inv_cfg.display(),
            128 * 1024 / bill::SCALE,
            pricing.display(),
        ),
    )
    .expect("write config");
    timing.setup = started.elapsed();

    let metrics = t.path().join("blobtier.prom");
    let mut realized_nights: Vec<(NaiveDate, serde_json::Value)> = Vec::new();
    let proxy = Recorder::start(&ls.endpoint());
    let mut last_modified: HashMap<String, NaiveDateTime> =
        blobs.iter().map(|b| (b.key.clone(), b.created)).collect();
    let mut restores: HashMap<String, Restore> = HashMap::new();
    let mut tags = TagCache::default();
    let mut days: Vec<Day> = Vec::new();
    for n in 0..=NIGHTS {
        let day = scenario::start() + Duration::days(n);
        let tm = Instant::now();
        let (state, transitions) = block_on(async {
            let c = ls.client().await;
            midnight(
                &c,
                &bucket_name,
                day,
                &last_modified,
                &mut restores,
                &mut tags,
            )
            .await
        });
        timing.emulator += tm.elapsed();
        assert_eq!(
            state.len(),
            blobs.len(),
            "day {day}: objects appeared or went away"
        );
        for (key, o) in &state {
            assert_eq!(
                o.restored,
                restores.contains_key(key),
                "day {day}: `{key}` restored in the bucket ({}) but the loop's restore record says {:?}",
                o.restored,
                restores.get(key)
            );
        }
        let readable = |i: usize| {
            let o = &state[&blobs[i].key];
            !bill::is_archive(&o.class) || o.restored
        };
        let pulls = scenario::pulls_of_day(&blobs, day, readable);
        if n == NIGHTS {
            days.push(Day {
                day,
                state,
                transitions,
                pulls,
                decisions: Vec::new(),
                requests: Vec::new(),
                apply: None,
            });
            break;
        }
        scenario::write_log(&logs, &bucket_name, &blobs, day, &pulls);
        let rows: Vec<scenario::InvRow> = state
            .iter()
            .map(|(key, o)| scenario::InvRow {
                key: key.clone(),
                size: o.size,
                last_modified: last_modified[key],
                etag: o.etag.clone(),
                class: o.class.clone(),
            })
            .collect();
        scenario::write_inventory(&inv, &bucket_name, day, &rows);

        let as_of = day.format("%Y-%m-%d").to_string();
        let tr = Instant::now();
        let out = run(blobtier()
            .arg("--config")
            .arg(&cfg)
            .args(["run", "--as-of", &as_of, "--metrics-file"])
            .arg(&metrics)
            .env("BLOBTIER_CLIENT_KEY", CLIENT_KEY));
        timing.run += tr.elapsed();
        assert_eq!(
            out.code(),
            0,
            "night {n} ({as_of}): `blobtier run` failed\n{out}"
        );
        let decisions =
            decisions::read(&lake.join(format!("decisions/as_of={as_of}/part-0.parquet")));
        // Planned vs realized: in the plan's summary and, as a gauge, in the metrics file.
        let summary: serde_json::Value = serde_json::from_slice(
            &std::fs::read(lake.join(format!("plan/as_of={as_of}/plan.summary.json")))
                .expect("read plan.summary.json"),
        )
        .expect("plan.summary.json is JSON");
        if n > 0 {
            let real = summary["realized"].clone();
            let saved = real["realized_monthly_savings"]
                .as_f64()
                .unwrap_or_else(|| panic!("night {n}: no realized savings in {summary}"));
            let prom = std::fs::read_to_string(&metrics).expect("read the metrics file");
            let gauge: f64 = prom
                .lines()
                .find_map(|l| l.strip_prefix("blobtier_realized_monthly_savings_dollars "))
                .unwrap_or_else(|| panic!("night {n}: no realized gauge in\n{prom}"))
                .parse()
                .expect("a number");
            assert!(
                (gauge - saved).abs() <= 1e-9 * saved.abs().max(1.0),
                "night {n}: gauge {gauge} != plan.summary.json {saved}"
            );
            realized_nights.push((day, real));
        }
        assert_eq!(decisions.len(), blobs.len(), "night {n}: decisions");

        let actions = decisions.iter().filter(|d| d.action != "none").count();
        let apply = (actions > 0).then(|| {
            let ta = Instant::now();
            let plan = lake.join(format!("plan/as_of={as_of}/plan.parquet"));
            let out = run(blobtier()
                .arg("apply")
                .arg("--plan")
                .arg(&plan)
                .args(["--execute", "--allow-bucket", &bucket_name])
                .envs(proxy.env(ls.env())));
            timing.apply += ta.elapsed();
            assert_ne!(out.code(), 2, "night {n}: apply could not run\n{out}");
            let summary = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("night {n}: apply's stdout is not JSON ({e})\n{out}"));
            (out.code(), summary)
        });
        let requests = proxy.take();
        proxy.end_night();
        if let Some(r) = requests.iter().find(|r| r.bucket != bucket_name) {
            panic!("night {n}: apply sent a request outside the allowed bucket: {r:?}");
        }
        let copied_at = day.and_hms_opt(23, 30, 0).expect("valid time");
        for r in &requests {
            let ok = (200..300).contains(&r.status);
            if matches!(
                r.op,
                "PutObjectTagging"
                    | "DeleteObjectTagging"
                    | "CopyObject"
                    | "PutObject"
                    | "CompleteMultipartUpload"
            ) {
                tags.stale.insert(r.key.clone());
            }
            match r.op {
                "CopyObject" | "CompleteMultipartUpload" | "PutObject" if ok => {
                    last_modified.insert(r.key.clone(), copied_at);
                }
                "RestoreObject" if ok => {
                    restores.insert(
                        r.key.clone(),
                        Restore {
                            night: day,
                            days: i64::from(r.restore_days.unwrap_or(1)),
                        },
                    );
                }
                _ => {}
            }
        }
        days.push(Day {
            day,
            state,
            transitions,
            pulls,
            decisions,
            requests,
            apply,
        });
    }
    timing.total = started.elapsed();

    let mut verdict = analyse(method, &blobs, &index, &days, &timing);
    for (day, real) in realized_nights
        .iter()
        .step_by(8)
        .chain(realized_nights.last())
    {
        let _ = writeln!(
            verdict.report,
            "  planned vs realized on {day}: {} actions {}, planned ${:.6}/month, realized ${:.6}/month",
            real["actions"], real["by_status"], real["planned_monthly_savings"].as_f64().unwrap_or(f64::NAN),
            real["realized_monthly_savings"].as_f64().unwrap_or(f64::NAN)
        );
    }
    eprintln!("{}", verdict.report);
    assert!(
        verdict.failures.is_empty(),
        "closed loop, plan.method = \"{method}\": {} assertion(s) failed:\n  - {}\n\n{}",
        verdict.failures.len(),
        verdict.failures.join("\n  - "),
        verdict.report
    );
}

/// S3's work at the midnight starting `day`: end restored copies whose days are over, run the
/// lifecycle rules. Returns the bucket as it is afterwards and the transitions made.
async fn midnight(
    c: &aws_sdk_s3::Client,
    bucket_name: &str,
    day: NaiveDate,
    last_modified: &HashMap<String, NaiveDateTime>,
    restores: &mut HashMap<String, Restore>,
    tags: &mut TagCache,
) -> (BTreeMap<String, Obj>, Vec<(String, String, String)>) {
    let state = bucket::list(c, bucket_name).await;
    let mut changed = false;
    let mut keys: Vec<String> = restores.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let o = &state[&key];
        let r = &restores[&key];
        if !bill::is_archive(&o.class) {
            // Copied out of the archive: the restored copy went with the old object.
            restores.remove(&key);
        } else if day >= r.night + Duration::days(1 + r.days) {
            bucket::expire_restore(c, bucket_name, &key, &o.class).await;
            restores.remove(&key);
            changed = true;
        }
    }
    let rules = bucket::lifecycle_rules(c, bucket_name).await;
    let mut transitions = Vec::new();
    if !rules.is_empty() {
        if rules.iter().any(|r| !r.tags.is_empty()) {
            let keys: Vec<String> = match tags.known {
                None => state.keys().cloned().collect(),
                Some(_) => tags.stale.drain().collect(),
            };
            let fetched = bucket::tags(c, bucket_name, keys.into_iter()).await;
            tags.known.get_or_insert_with(HashMap::new).extend(fetched);
        }
        let known = tags.known.clone().unwrap_or_default();
        for (key, to) in bucket::due_transitions(&rules, &state, &known, last_modified, day) {
            let from = state[&key].class.clone();
            bucket::transition(c, bucket_name, &key, &from, &to).await;
            transitions.push((key, from, to));
            changed = true;
        }
    }
    let state = if changed {
        bucket::list(c, bucket_name).await
    } else {
        state
    };
    (state, transitions)
}

/// The objects' tags, read once and then again only for objects a request of apply may have
/// retagged (the emulator's own copies keep tags).
#[derive(Debug, Default)]
struct TagCache {
    known: Option<HashMap<String, Vec<(String, String)>>>,
    stale: std::collections::HashSet<String>,
}

/// A class change of one object: the first day in the new class, from, to, and what did it.
#[derive(Debug, Clone)]
struct Change {
    day: NaiveDate,
    from: String,
    to: String,
    by: &'static str,
}

struct Verdict {
    report: String,
    failures: Vec<String>,
}

fn ok(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Bills, class histories and the assertions of the module doc.
fn analyse(
    method: &str,
    blobs: &[Blob],
    index: &HashMap<String, usize>,
    days: &[Day],
    timing: &Timing,
) -> Verdict {
    let mut failures = Vec::new();
    let mut report = String::new();
    let first = days[0].day;
    let last = days[days.len() - 1].day;
    let size = |key: &str| blobs[index[key]].size;

    // Class changes, in order, with the bill's one-time parts (requests, transitions, early
    // deletion). `class` and `entered` follow the objects through every event; after each
    // night and midnight they must equal what the bucket showed.
    let mut realized = bill::Bill::default();
    let mut class: HashMap<String, String> = blobs
        .iter()
        .map(|b| (b.key.clone(), b.initial_class.to_owned()))
        .collect();
    let mut entered: HashMap<String, NaiveDate> = blobs
        .iter()
        .map(|b| (b.key.clone(), b.created.date()))
        .collect();
    let mut changes: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    let mut early = (0usize, 0.0f64);
    for (n, d) in days.iter().enumerate() {
        for (key, from, to) in &d.transitions {
            assert_eq!(
                &class[key], from,
                "{key}: class bookkeeping before a transition"
            );
            let ed = bill::early_delete(from, size(key), (d.day - entered[key]).num_days());
            if ed > 0.0 {
                early.0 += 1;
                early.1 += ed;
            }
            realized.add("early deletion", ed);
            realized.add("lifecycle transitions", bill::transition(to));
            changes.entry(key.clone()).or_default().push(Change {
                day: d.day,
                from: from.clone(),
                to: to.clone(),
                by: "lifecycle",
            });
            class.insert(key.clone(), to.clone());
            entered.insert(key.clone(), d.day);
        }
        for (key, o) in &d.state {
            assert_eq!(
                class[key], o.class,
                "{key} on {}: the loop's bookkeeping differs from the bucket",
                d.day
            );
        }
        let next = d.day + Duration::days(1);
        for r in &d.requests {
            if r.status >= 500 {
                continue;
            }
            let cur = if r.key.is_empty() {
                "STANDARD".to_owned()
            } else {
                class[&r.key].clone()
            };
            match r.op {
                "HeadObject" | "GetObject" | "GetObjectAcl" | "GetObjectTagging" => {
                    realized.add("apply requests: GET/HEAD", bill::get(&cur));
                }
                "PutObjectTagging" => realized.add("apply requests: tagging", bill::put(&cur)),
                "DeleteObjectTagging" => {}
                "CopyObject" => {
                    let to = r.storage_class.clone().unwrap_or_else(|| "STANDARD".into());
                    realized.add("apply requests: COPY", bill::put(&to));
                    if ok(r.status) {
                        let key = &r.key;
                        realized.add("retrieval (copy source)", bill::retrieval(&cur, size(key)));
                        let ed =
                            bill::early_delete(&cur, size(key), (next - entered[key]).num_days());
                        if ed > 0.0 {
                            early.0 += 1;
                            early.1 += ed;
                        }
                        realized.add("early deletion", ed);
                        if to != cur {
                            changes.entry(key.clone()).or_default().push(Change {
                                day: next,
                                from: cur.clone(),
                                to: to.clone(),
                                by: "apply copy",
                            });
                        }
                        class.insert(key.clone(), to);
                        entered.insert(key.clone(), next);
                    }
                }
                "RestoreObject" if ok(r.status) => realized.add(
                    "restores",
                    bill::restore(&cur, r.restore_tier.as_deref(), size(&r.key)),
                ),
                "RestoreObject" => realized.add("apply requests: other", bill::put(&cur)),
                "ListObjects" | "ListMultipartUploads" => {
                    realized.add("apply requests: other", bill::put("STANDARD"))
                }
                "GetBucketLifecycleConfiguration" | "GetBucketVersioning" | "HeadBucket" => {
                    realized.add("apply requests: other", bill::get("STANDARD"))
                }
                "PutBucketLifecycleConfiguration" => {
                    realized.add("apply requests: other", bill::put("STANDARD"))
                }
                other => panic!("night {n}: the bill model cannot price `{other}`"),
            }
        }
    }

    // Daily parts over the period (days 1..=NIGHTS): storage and the clients' GETs, for the
    // loop, for doing nothing, and as the decisions of the night before projected.
    let mut nothing = bill::Bill::default();
    let mut projected = 0.0;
    let mut projected_once = 0.0;
    let mut hot_outside = 0usize;
    for n in 1..days.len() {
        let d = &days[n];
        for (key, o) in &d.state {
            realized.add(
                &format!("storage {}", o.class),
                bill::storage_month(&o.class, o.size) / bill::DAYS_PER_MONTH,
            );
            if o.restored {
                realized.add("storage: restored copies", bill::restored_copy_day(o.size));
            }
            let b = &blobs[index[key]];
            nothing.add(
                &format!("storage {}", b.initial_class),
                bill::storage_month(b.initial_class, b.size) / bill::DAYS_PER_MONTH,
            );
            if b.group == Group::Hot && o.class != "STANDARD" {
                hot_outside += 1;
            }
        }
        for p in &d.pulls {
            let b = &blobs[p.i];
            let o = &d.state[&b.key];
            realized.add("client GETs", bill::get(&o.class));
            if ok(p.status) && !bill::is_archive(&o.class) {
                realized.add(
                    "retrieval (client GETs)",
                    bill::retrieval(&o.class, p.bytes),
                );
            }
        }
        let untouched =
            scenario::pulls_of_day(blobs, d.day, |i| !bill::is_archive(blobs[i].initial_class));
        for p in &untouched {
            let b = &blobs[p.i];
            nothing.add("client GETs", bill::get(b.initial_class));
            if ok(p.status) {
                nothing.add(
                    "retrieval (client GETs)",
                    bill::retrieval(b.initial_class, p.bytes),
                );
            }
        }
        let before = &days[n - 1];
        for row in &before.decisions {
            let now = &d.state[&row.key].class;
            let landed = row.action != "none" && *now == row.to_class;
            if landed {
                projected += row.monthly_cost_after / bill::DAYS_PER_MONTH;
                if before.state[&row.key].class != *now {
                    projected_once += row.one_time_cost;
                }
            } else {
                projected += row.monthly_cost_now / bill::DAYS_PER_MONTH;
            }
        }
    }
    let projected = projected + projected_once;
    let (r, z) = (realized.total(), nothing.total());

    let _ = writeln!(
        report,
        "closed loop, plan.method = \"{method}\": {} nights ({first} .. {}), {} blobs, prices × {}",
        days.len() - 1,
        days[days.len() - 2].day,
        blobs.len(),
        bill::SCALE
    );
    let _ = writeln!(
        report,
        "  bills over {} .. {last}: do nothing ${z:.6}, realized ${r:.6} ({:.3}× doing nothing), \
         projected by the decisions ${projected:.6} (of which one-time ${projected_once:.6}); \
         realized − projected = {:+.2} %",
        first + Duration::days(1),
        r / z,
        (r - projected) / projected * 100.0
    );
    let _ = write!(report, "  realized bill:\n{}", realized.show());
    let _ = write!(report, "  do-nothing bill:\n{}", nothing.show());
    let _ = writeln!(
        report,
        "  early deletions: {} (${:.6}); hot blobs outside STANDARD: {hot_outside} object-days",
        early.0, early.1
    );

    // Class changes.
    let mut hist: BTreeMap<usize, usize> = BTreeMap::new();
    for b in blobs {
        *hist
            .entry(changes.get(&b.key).map_or(0, Vec::len))
            .or_default() += 1;
    }
    let _ = writeln!(
        report,
        "  class changes per object (changes: objects): {hist:?}"
    );
    let by_group = |g: Group| {
        blobs
            .iter()
            .filter(|b| b.group == g)
            .map(|b| changes.get(&b.key).map_or(0, Vec::len))
            .max()
            .unwrap_or(0)
    };
    let _ = writeln!(
        report,
        "  most changes by group: hot {}, rare {}, cooling {}, cold {}, comeback {}, archived {}, archived+pulled {}",
        by_group(Group::Hot),
        by_group(Group::Rare),
        by_group(Group::Cooling),
        by_group(Group::Cold),
        by_group(Group::Comeback),
        by_group(Group::Archived),
        by_group(Group::ArchivedPulled)
    );
    let show = |key: &str, cs: &[Change]| {
        let path: Vec<String> = cs
            .iter()
            .map(|c| format!("{} {}→{} ({})", c.day.format("%m-%d"), c.from, c.to, c.by))
            .collect();
        format!(
            "blob {} ({:?}): {}",
            index[key],
            blobs[index[key]].group,
            path.join(", ")
        )
    };
    let too_many: Vec<(&String, &Vec<Change>)> =
        changes.iter().filter(|(_, cs)| cs.len() > 2).collect();
    if !too_many.is_empty() {
        let worst = too_many.iter().map(|(_, cs)| cs.len()).max().unwrap_or(0);
        failures.push(format!(
            "{} objects changed class more than twice (at most {worst} times); e.g. {}",
            too_many.len(),
            show(too_many[0].0, too_many[0].1)
        ));
    }
    let mut yoyo = Vec::new();
    for (key, cs) in &changes {
        let dir: Vec<(NaiveDate, bool)> = cs
            .iter()
            .map(|c| (c.day, bill::is_down(&c.from, &c.to)))
            .collect();
        let found = dir.iter().enumerate().any(|(a, (d1, down1))| {
            *down1
                && dir[a + 1..].iter().enumerate().any(|(b, (_, down2))| {
                    !down2
                        && dir[a + 1 + b + 1..]
                            .iter()
                            .any(|(d3, down3)| *down3 && (*d3 - *d1).num_days() <= 30)
                })
        });
        if found {
            yoyo.push(key);
        }
    }
    if !yoyo.is_empty() {
        failures.push(format!(
            "{} objects went down → up → down within 30 days; e.g. {}",
            yoyo.len(),
            show(yoyo[0], &changes[yoyo[0]])
        ));
    }

    // Archived blobs clients pulled.
    for b in blobs.iter().filter(|b| b.group == Group::ArchivedPulled) {
        let failed_first = days
            .iter()
            .find(|d| d.pulls.iter().any(|p| p.i == b.i && p.status == 403))
            .map(|d| d.day);
        let Some(f) = failed_first else { continue };
        let readable = days
            .iter()
            .find(|d| {
                d.day > f && {
                    let o = &d.state[&b.key];
                    !bill::is_archive(&o.class) || o.restored
                }
            })
            .map(|d| d.day);
        let failed = days
            .iter()
            .flat_map(|d| &d.pulls)
            .filter(|p| p.i == b.i && p.status == 403)
            .count();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for d in days {
            if let Some(row) = d.decisions.iter().find(|r| r.key == b.key) {
                *reasons.entry(row.reason.as_str()).or_default() += 1;
            }
        }
        let _ = writeln!(
            report,
            "  archived blob {} ({}): first failed pull {f}, readable from {}, {failed} failed pulls; decisions {reasons:?}",
            b.i,
            b.initial_class,
            readable.map_or("never".to_owned(), |r| r.to_string())
        );
        match readable {
            Some(r) if (r - f).num_days() <= 3 => {}
            Some(r) => failures.push(format!(
                "archived blob {} ({}) pulled from {f} became readable only on {r} ({} nights)",
                b.i,
                b.initial_class,
                (r - f).num_days()
            )),
            None => failures.push(format!(
                "archived blob {} ({}) pulled from {f} ({failed} failed pulls) was never readable by {last}; decisions: {reasons:?}",
                b.i, b.initial_class
            )),
        }
    }

    // apply.
    let mut exit: BTreeMap<i32, usize> = BTreeMap::new();
    let mut results: BTreeMap<String, u64> = BTreeMap::new();
    for d in days {
        if let Some((code, s)) = &d.apply {
            *exit.entry(*code).or_default() += 1;
            if let Some(m) = s["results"].as_object() {
                for (k, v) in m {
                    *results.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                }
            }
        }
    }
    let mut moves: BTreeMap<String, usize> = BTreeMap::new();
    for d in days {
        for row in d.decisions.iter().filter(|r| r.action != "none") {
            *moves
                .entry(format!(
                    "{} {}→{} ({})",
                    row.reason, row.from_class, row.to_class, row.method
                ))
                .or_default() += 1;
        }
    }
    let _ = writeln!(report, "  planned actions over all nights: {moves:?}");
    let _ = writeln!(report, "  apply exit codes: {exit:?}; results: {results:?}");
    let _ = writeln!(
        report,
        "  time: {:.1} s (setup {:.1} s, {} × run {:.1} s, apply {:.1} s, emulator + listing {:.1} s)",
        timing.total.as_secs_f64(),
        timing.setup.as_secs_f64(),
        days.len() - 1,
        timing.run.as_secs_f64(),
        timing.apply.as_secs_f64(),
        timing.emulator.as_secs_f64()
    );

    if r >= z {
        failures.push(format!(
            "the realized bill ${r:.6} is not below doing nothing ${z:.6} ({:.3}×)",
            r / z
        ));
    }
    let off = (r - projected).abs() / projected;
    if off > 0.02 {
        failures.push(format!(
            "the realized bill ${r:.6} is {:.2} % off the projected ${projected:.6} (allowed 2 %)",
            off * 100.0
        ));
    }
    Verdict { report, failures }
}
