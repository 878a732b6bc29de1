//! Builds the plan: tier rules (SQL, [`super::policy`]) assign each blob a tier and a target
//! class; protections and the cost model ([`crate::cost`]) decide whether moving it pays off.
//! Pure apart from reading `digest_stats`; the writer is in [`super`].

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use rayon::prelude::*;

use crate::config::{ArchiveScope, PlanConfig};
use crate::cost::{self, Prices};
use crate::model::{Action, Method, RestoreTier, StorageClass};
use crate::plan::file::{PlanRow, RESTORE_DAYS};

/// One blob as the plan sees it (a row of `digest_stats` plus its tier).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Blob {
    /// Digest.
    pub digest: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version id.
    pub version_id: Option<String>,
    /// ETag.
    pub etag: Option<String>,
    /// Bytes.
    pub size: i64,
    /// Current class (`STANDARD` when the inventory has no class column; `Unknown` for a
    /// name blobtier does not know).
    pub storage_class: StorageClass,
    /// Days since last modification.
    pub age_days: i64,
    /// Days since the blob entered its current class, from the lake's `class_history`
    /// (`None`: no history for it; [`Blob::age_days`] is used, which transitions never
    /// change). Minimum durations and early deletion are counted from this.
    pub days_in_class: Option<i64>,
    /// Pulls in 7/30/90 days.
    pub pulls: [i64; 3],
    /// Days since the last pull (None = never in retained history).
    pub days_since_last_pull: Option<i64>,
    /// Scanner reads in 30 days (`scanner_pulls_30d`): left out of [`Blob::pulls`] (they do
    /// not make a blob "used"), but billed like any GET, retrieval fee included.
    pub scanner_pulls_30d: i64,
    /// Tier from the rules (None = no rule matched).
    pub tier: Option<String>,
    /// Target class from the rules.
    pub target_class: Option<StorageClass>,
    /// Repositories that reference the blob (from layer links), if known.
    pub repos: Vec<String>,
    /// Reachable from a current tag (`None`: the lake has no image graph for it).
    pub referenced_by_tag: Option<bool>,
    /// Repositories whose manifests reference the blob (`None`: no image graph).
    pub ref_repos: Option<i64>,
    /// Days since the last pull of a manifest that references the blob (`None`: none known).
    pub days_since_last_manifest_pull: Option<i64>,
    /// Reached by an image reference in use (`--pins`, [`crate::pins`]): kept, restored if
    /// archived.
    pub pinned: bool,
    /// Failed GETs of the blob in 30 days (`failed_pulls_30d`: 403 `InvalidObjectState` for
    /// an archived blob); 0 for stats written before they were kept.
    pub failed_pulls_30d: i64,
    /// The inventory shows the blob's bucket versioned ([`detect_versioning`]): a copy leaves
    /// the old version behind. `plan.versioned` (or the bucket's own setting) overrides it.
    pub bucket_versioned: bool,
}

impl Blob {
    /// Days in the current class: from the class history when the lake has one for the
    /// blob, else the days since it was last written.
    pub fn days_in_current_class(&self) -> i64 {
        self.days_in_class.unwrap_or(self.age_days)
    }

    /// Whether a copy of the blob leaves a noncurrent version behind: as the config forces it
    /// for the bucket, else as the inventory shows it (the bucket, or the blob's own version
    /// id: [`is_real_version`]).
    pub fn versioned(&self, cfg: &PlanConfig) -> bool {
        cfg.versioned_for(&self.bucket)
            .unwrap_or_else(|| self.bucket_versioned || is_real_version(self.version_id.as_deref()))
    }
}

/// Whether an inventory version id proves versioning is (or was) on: S3 gives objects real
/// ids only while versioning is enabled. Absent (current-version reports), empty (objects
/// written before versioning, in all-versions reports) and `null` prove nothing.
pub fn is_real_version(version_id: Option<&str>) -> bool {
    version_id.is_some_and(|v| !v.is_empty() && v != "null")
}

/// Per bucket of `stats` (`digest_stats`, inventory rows), whether the inventory shows it
/// versioned: some object carries a real version id ([`is_real_version`]). A bucket whose
/// inventory lists current versions only (no `VersionId` column) shows nothing: `apply`
/// asks S3 (GetBucketVersioning), and `plan.versioned` can say so.
pub fn detect_versioning(stats: LazyFrame) -> PolarsResult<BTreeMap<String, bool>> {
    let v = col("version_id").cast(DataType::String);
    let real = v.clone().is_not_null().and(
        v.clone()
            .neq(lit(""))
            .and(v.neq(lit("null")))
            .fill_null(lit(false)),
    );
    let df = stats
        .filter(col("in_inventory"))
        .group_by([col("bucket")])
        .agg([real.cast(DataType::UInt32).sum().alias("real")])
        .collect()?;
    let (bucket, real) = (df.column("bucket")?.str()?, df.column("real")?.u32()?);
    Ok(bucket
        .iter()
        .zip(real.iter())
        .filter_map(|(b, n)| Some((b?.to_owned(), n.unwrap_or(0) > 0)))
        .collect())
}

/// How a bucket's versioning was known: forced by the config or shown by the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersioningSource {
    /// `plan.versioned` or `[plan.buckets.<name>] versioned`.
    Config,
    /// Real version ids in the inventory ([`detect_versioning`]).
    Inventory,
}

/// The buckets of `detected` that the plan prices as versioned, and how that is known
/// (`plan.summary.json` `versioned_buckets`, which the report reads).
pub fn versioned_buckets(
    cfg: &PlanConfig,
    detected: &BTreeMap<String, bool>,
) -> BTreeMap<String, VersioningSource> {
    detected
        .iter()
        .filter_map(|(b, seen)| match cfg.versioned_for(b) {
            Some(true) => Some((b.clone(), VersioningSource::Config)),
            Some(false) => None,
            None => seen.then(|| (b.clone(), VersioningSource::Inventory)),
        })
        .collect()
}

/// Everything a decision needs besides the blob.
#[derive(Debug)]
pub struct Context<'a> {
    /// Prices.
    pub prices: &'a Prices,
    /// Plan config.
    pub cfg: &'a PlanConfig,
    /// As-of day (days since epoch).
    pub as_of: i32,
    /// When set, no blob moves to a cheaper class (coverage guard), and this is why.
    pub hold_down: Option<String>,
}

/// Reason code for a move the cost model refuses to price.
fn cost_error_reason(e: &cost::CostError) -> &'static str {
    match e {
        cost::CostError::RestoreTierUnavailable { .. } => "kept:restore_tier_unavailable",
        cost::CostError::UnsupportedTransition { .. } => "kept:unsupported_transition",
        _ => "kept:cost_error",
    }
}

/// `row`, kept where it is for `reason`.
fn keep(mut row: PlanRow, reason: impl Into<String>) -> PlanRow {
    row.reason = reason.into();
    row
}

/// `row` with the figures of the evaluated move.
fn with_figures(mut row: PlanRow, ev: &cost::MoveEval) -> PlanRow {
    row.monthly_cost_after = ev.monthly_after;
    row.one_time_cost = ev.one_time.total;
    row.payback_days = ev.payback_days;
    row.net_savings_12m = ev.net_savings(12);
    row
}

/// The cost model's view of moving `b` from its class to `to` by `method`, reading an
/// archived source with `restore_tier` ([`read_tier`]).
fn move_input(
    ctx: &Context<'_>,
    b: &Blob,
    to: StorageClass,
    method: Method,
    versioned: bool,
    restore_tier: RestoreTier,
) -> cost::MoveInput {
    cost::MoveInput {
        from: b.storage_class.clone(),
        to,
        size: b.size.max(0) as u64,
        days_in_current_class: b.days_in_current_class().max(0) as u32,
        versioned,
        noncurrent_retention_days: ctx.cfg.noncurrent_days,
        method,
        restore_tier,
        restore_days: RESTORE_DAYS,
    }
}

/// [`cost::evaluate`] with the scanners' reads of `b` billed on both sides
/// ([`cost::scanner`]): they are not pulls, but S3 charges them.
fn evaluate(
    ctx: &Context<'_>,
    b: &Blob,
    input: &cost::MoveInput,
    expected: f64,
) -> cost::Result<cost::MoveEval> {
    let ev = cost::evaluate(ctx.prices, input, expected, ctx.cfg.horizon_months)?;
    let scans = b.scanner_pulls_30d.max(0) as f64;
    if scans == 0.0 {
        return Ok(ev);
    }
    let now = cost::scanner::parts(ctx.prices, &input.from, input.size, scans)?;
    let after = cost::scanner::parts(ctx.prices, &input.to, input.size, scans)?;
    Ok(cost::scanner::with_reads(&ev, now, after))
}

/// The restore tier `b`'s class is read with: `plan.restore_tier`, or, when the class does
/// not offer it (DEEP_ARCHIVE has no `expedited`), the cheapest tier it does offer; the flag
/// says whether it fell back. `plan.restore_tier` for classes without prices (they are kept
/// unpriced anyway).
fn read_tier(ctx: &Context<'_>, b: &Blob) -> (RestoreTier, bool) {
    let wanted = ctx.cfg.restore_tier;
    cost::restore_tier_for(ctx.prices, &b.storage_class, wanted, b.size.max(0) as u64)
        .unwrap_or((wanted, false))
}

/// Decides one blob. Returns a decision row (`plan_id` empty; set by the caller).
pub fn decide(ctx: &Context<'_>, b: &Blob) -> PlanRow {
    let cfg = ctx.cfg;
    let (method, versioned) = (cfg.method_for(&b.bucket), b.versioned(cfg));
    let expected = cost::expected_pulls_30d(
        cfg.estimator,
        b.pulls[0] as f64,
        b.pulls[1] as f64,
        b.pulls[2] as f64,
    );
    let from = &b.storage_class;
    let size = b.size.max(0) as u64;
    let (read_tier, _) = read_tier(ctx, b);
    // What the blob costs where it is; 0 for a class the price table does not have (the row
    // is then kept: `kept:unknown_class`, `kept:unpriced_class`).
    let scans = b.scanner_pulls_30d.max(0) as f64;
    let now = cost::monthly_cost(ctx.prices, from, size, expected, read_tier)
        .and_then(|c| Ok(c.total + cost::scanner::monthly(ctx.prices, from, size, scans)?))
        .unwrap_or(0.0);
    let row = PlanRow {
        plan_id: String::new(),
        as_of: ctx.as_of,
        bucket: b.bucket.clone(),
        key: b.key.clone(),
        version_id: b.version_id.clone(),
        etag: b.etag.clone(),
        size: b.size,
        digest: b.digest.clone(),
        from_class: from.clone(),
        to_class: from.clone(),
        tier: b.tier.clone().unwrap_or_else(|| "none".into()),
        action: Action::Keep,
        method,
        reason: String::new(),
        expected_pulls_30d: expected,
        monthly_cost_now: now,
        monthly_cost_after: now,
        one_time_cost: 0.0,
        payback_days: None,
        net_savings_12m: 0.0,
        restore_tier: None,
        restore_days: None,
    };
    if let Some(reason) = held(cfg, b) {
        return keep(row, reason);
    }
    if from.needs_restore() {
        return restore(ctx, b, versioned, row);
    }
    if b.pinned {
        return keep(row, "kept:pinned");
    }
    // Tier rules name managed classes only (config validation); anything else is no rule.
    let to = match &b.target_class {
        Some(to) if to.is_managed() => to.clone(),
        _ => return keep(row, "kept:no_rule"),
    };
    if to == *from {
        let reason = format!("kept:{}", row.tier);
        return keep(row, reason);
    }
    if let Some(reason) = archive_guard(cfg, b, &to) {
        return keep(row, reason);
    }
    transition(ctx, b, to, method, versioned, row)
}

/// Why `b` stays whatever its rule says, before anything is priced: the protections, a class
/// blobtier does not price or move, INTELLIGENT_TIERING (unless planned), the size floor.
fn held(cfg: &PlanConfig, b: &Blob) -> Option<&'static str> {
    let key_ok = (cfg.include_keys.is_empty()
        || cfg.include_keys.iter().any(|g| g.matches(&b.key)))
        && !cfg.exclude_keys.iter().any(|g| g.matches(&b.key));
    let repo_ok = (cfg.include_repos.is_empty()
        || b.repos
            .iter()
            .any(|r| cfg.include_repos.iter().any(|g| g.matches(r))))
        && !b
            .repos
            .iter()
            .any(|r| cfg.exclude_repos.iter().any(|g| g.matches(r)));
    let from = &b.storage_class;
    if !key_ok || !repo_ok {
        Some("kept:protected")
    } else if from.is_unknown() {
        Some("kept:unknown_class")
    } else if !from.is_managed() {
        Some("kept:unpriced_class")
    } else if *from == StorageClass::IntelligentTiering && !cfg.include_intelligent_tiering {
        Some("kept:intelligent_tiering")
    } else if (b.size.max(0) as u64) < cfg.min_size
        // A blob a current tag reaches must be servable: a registry cannot serve GLACIER or
        // DEEP_ARCHIVE without a restore, so `docker pull` of that tag is broken until it
        // is back, however small the blob.
        && !((b.referenced_by_tag == Some(true) || b.pinned) && from.needs_restore())
    {
        Some("kept:too_small")
    } else {
        None
    }
}

/// An archived blob that a pin or a current tag needs or that clients asked for: restore,
/// then back to STANDARD. The others stay (`kept:archived`). The row carries the restore it was priced
/// with (tier and days), which `apply` requests; a tier the class does not offer falls back
/// to the cheapest one it does (reason suffix `:tier_fallback`).
fn restore(ctx: &Context<'_>, b: &Blob, versioned: bool, row: PlanRow) -> PlanRow {
    let tagged = b.referenced_by_tag == Some(true);
    // Clients failing to pull it (403 InvalidObjectState) come first: they are broken now.
    let failing = b.failed_pulls_30d > 0;
    if !(failing || b.pinned || tagged || b.pulls[1] > 0) {
        return keep(row, "kept:archived");
    }
    let (tier, fell_back) = read_tier(ctx, b);
    let input = move_input(
        ctx,
        b,
        StorageClass::Standard,
        Method::Copy,
        versioned,
        tier,
    );
    let ev = match evaluate(ctx, b, &input, row.expected_pulls_30d) {
        Ok(ev) => ev,
        Err(e) => return keep(row, cost_error_reason(&e)),
    };
    let mut row = with_figures(row, &ev);
    row.to_class = StorageClass::Standard;
    row.tier = "reheat".into();
    row.action = Action::Restore;
    row.method = Method::Copy;
    row.restore_tier = Some(tier);
    row.restore_days = Some(RESTORE_DAYS);
    let why = match (failing, b.pinned, tagged) {
        (true, _, _) => "restore:failed_pulls",
        (false, true, _) => "restore:pinned",
        (false, false, true) => "restore:tagged",
        (false, false, false) => "restore:pulled",
    };
    if fell_back {
        keep(row, format!("{why}:tier_fallback"))
    } else {
        keep(row, why)
    }
}

/// Only blobs the image graph shows no current tag reaches go to a class that needs a
/// restore (`plan.archive_scope`).
fn archive_guard(cfg: &PlanConfig, b: &Blob, to: &StorageClass) -> Option<&'static str> {
    if !to.needs_restore() {
        return None;
    }
    match (b.referenced_by_tag, b.ref_repos) {
        (Some(true), _) => Some("kept:tagged"),
        (None, _) if cfg.archive_scope != ArchiveScope::UntaggedOrUnknown => {
            Some("kept:graph_unknown")
        }
        (Some(false), refs)
            if cfg.archive_scope == ArchiveScope::Unreferenced && refs != Some(0) =>
        {
            Some("kept:referenced")
        }
        _ => None,
    }
}

/// The safety nets under any rule, for a move to a cheaper class of a blob whose current
/// class keeps it `min_days`.
fn safety_net(ctx: &Context<'_>, b: &Blob, min_days: u32) -> Option<&'static str> {
    if ctx.hold_down.is_some() {
        // Missing logs look like "no pulls": never send blobs down on incomplete data.
        Some("kept:coverage_gap")
    } else if b.pulls[0] > 0 {
        // Nothing pulled in the last 7 days moves down.
        Some("kept:recent")
    } else if ctx.cfg.count_manifest_pulls && b.days_since_last_manifest_pull.is_some_and(|d| d < 7)
    {
        // The same net for images pulled by clients that had the blob cached.
        Some("kept:recent_manifest_pull")
    } else if (b.days_in_current_class() as f64) < f64::from(min_days) {
        // Wait rather than pay early deletion.
        Some("kept:min_duration")
    } else {
        None
    }
}

/// Moves `b` to `to` if that pays off within the horizon and the payback limit.
fn transition(
    ctx: &Context<'_>,
    b: &Blob,
    to: StorageClass,
    method: Method,
    versioned: bool,
    row: PlanRow,
) -> PlanRow {
    let cfg = ctx.cfg;
    let (from, size) = (&b.storage_class, b.size.max(0) as u64);
    // A move into INTELLIGENT_TIERING is a move down too: automatic tiering takes the blob to
    // cheaper tiers on its own, with their retrieval behaviour, so it gets the same checks.
    let priced = cost::moves_down(ctx.prices, from, &to, size)
        .map(|down| down || to == StorageClass::IntelligentTiering)
        .and_then(|down| Ok((down, cost::min_days(ctx.prices, from)?)));
    let (down, min_days) = match priced {
        Ok(x) => x,
        Err(e) => return keep(row, cost_error_reason(&e)),
    };
    if let Some(reason) = down.then(|| safety_net(ctx, b, min_days)).flatten() {
        return keep(row, reason);
    }
    // Lifecycle rules only move objects to colder classes; moving up takes a copy.
    let method = if down { method } else { Method::Copy };
    let input = move_input(ctx, b, to.clone(), method, versioned, read_tier(ctx, b).0);
    let ev = match evaluate(ctx, b, &input, row.expected_pulls_30d) {
        Ok(ev) => ev,
        Err(e) => return keep(row, cost_error_reason(&e)),
    };
    let pays = ev.net_savings(cfg.horizon_months) > 0.0 && ev.net_savings(12) > 0.0;
    let quick = ev.payback_days.is_some_and(|d| d <= cfg.max_payback_days);
    let mut row = row;
    row.method = method;
    if !pays || !quick {
        // Kept rows describe what happens (nothing): no after-cost change, no one-time cost.
        return keep(row, "kept:payback");
    }
    let mut row = with_figures(row, &ev);
    row.to_class = to;
    row.action = Action::Transition;
    row.reason = if down {
        format!("moved:{}", row.tier)
    } else {
        "moved:reheat".into()
    };
    row
}

/// The class an inventory names: S3's spelling, ASCII case ignored (inventories written by
/// other tools); a name blobtier does not know is kept as `Unknown`.
pub(crate) fn inventory_class(name: &str) -> StorageClass {
    match StorageClass::from(name) {
        StorageClass::Unknown(_) => StorageClass::KNOWN
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name))
            .unwrap_or_else(|| StorageClass::Unknown(name.to_owned())),
        known => known,
    }
}

/// Reads `digest_stats` with the tier rules applied, into blobs (inventory rows only).
pub fn load_blobs(
    stats: LazyFrame,
    rules_sql: &str,
    repos: &HashMap<String, Vec<String>>,
) -> PolarsResult<Vec<Blob>> {
    let mut ctx = polars::sql::SQLContext::new();
    ctx.register("digest_stats", stats.filter(col("in_inventory")));
    let mut df = ctx.execute(rules_sql)?.collect()?;
    // One chunk per column: `get(r)` below is then a plain index.
    df.rechunk_mut_par();
    let s = |n: &str| -> PolarsResult<StringChunked> {
        Ok(df.column(n)?.cast(&DataType::String)?.str()?.clone())
    };
    let i = |n: &str| -> PolarsResult<Int64Chunked> {
        Ok(df.column(n)?.cast(&DataType::Int64)?.i64()?.clone())
    };
    let (digest, bucket, key, version, etag, class, tier, target) = (
        s("digest")?,
        s("bucket")?,
        s("key")?,
        s("version_id")?,
        s("etag")?,
        s("storage_class")?,
        s("tier")?,
        s("target_class")?,
    );
    let (size, age, p7, p30, p90, since) = (
        i("size")?,
        i("age_days")?,
        i("pulls_7d")?,
        i("pulls_30d")?,
        i("pulls_90d")?,
        i("days_since_last_pull")?,
    );
    // Image-graph columns: absent from stats written before the graph existed.
    let opt_i = |n: &str| -> PolarsResult<Option<Int64Chunked>> {
        match df.column(n) {
            Ok(c) => Ok(Some(c.cast(&DataType::Int64)?.i64()?.clone())),
            Err(_) => Ok(None),
        }
    };
    let tagged = match df.column("referenced_by_tag") {
        Ok(c) => Some(c.cast(&DataType::Boolean)?.bool()?.clone()),
        Err(_) => None,
    };
    let (ref_repos, since_manifest) =
        (opt_i("ref_repos")?, opt_i("days_since_last_manifest_pull")?);
    let scanner = opt_i("scanner_pulls_30d")?;
    let failed = opt_i("failed_pulls_30d")?;
    let out = (0..df.height())
        .into_par_iter()
        .map(|r| {
            let d = digest.get(r).unwrap_or_default().to_string();
            Blob {
                referenced_by_tag: tagged.as_ref().and_then(|c| c.get(r)),
                ref_repos: ref_repos.as_ref().and_then(|c| c.get(r)),
                days_since_last_manifest_pull: since_manifest.as_ref().and_then(|c| c.get(r)),
                failed_pulls_30d: failed.as_ref().and_then(|c| c.get(r)).unwrap_or(0),
                repos: repos.get(&d).cloned().unwrap_or_default(),
                digest: d,
                bucket: bucket.get(r).unwrap_or_default().to_string(),
                key: key.get(r).unwrap_or_default().to_string(),
                version_id: version.get(r).map(str::to_string),
                etag: etag.get(r).map(str::to_string),
                size: size.get(r).unwrap_or(0),
                storage_class: class.get(r).map_or(StorageClass::Standard, inventory_class),
                age_days: age.get(r).unwrap_or(0),
                days_in_class: None,
                pulls: [
                    p7.get(r).unwrap_or(0),
                    p30.get(r).unwrap_or(0),
                    p90.get(r).unwrap_or(0),
                ],
                days_since_last_pull: since.get(r),
                scanner_pulls_30d: scanner.as_ref().and_then(|c| c.get(r)).unwrap_or(0),
                tier: tier.get(r).map(str::to_string),
                target_class: target.get(r).map(StorageClass::from),
                pinned: false,
                bucket_versioned: false,
            }
        })
        .collect();
    Ok(out)
}

/// What `b` would cost a month in INTELLIGENT_TIERING as it stands now: storage at the
/// access tier its days since the last access put it in (Frequent below 30 days, Infrequent
/// from 30, Archive Instant from 90), the monitoring fee from 128 KiB, and its expected GETs
/// (`expected_pulls_30d`). A blob not pulled in the retained history counts from the day it
/// was written. The `decisions` column `intelligent_tiering_monthly_cost`.
pub fn intelligent_tiering_cost(ctx: &Context<'_>, b: &Blob, expected_pulls_30d: f64) -> f64 {
    let days = b.days_since_last_pull.unwrap_or(b.age_days).max(0) as u32;
    let size = b.size.max(0) as u64;
    cost::intelligent_tiering_monthly(ctx.prices, size, Some(days), expected_pulls_30d)
}

/// Decides every blob (in parallel) and returns the rows sorted by digest, bucket, key,
/// version (the order of `digest_stats`, so that chunks by digest range concatenate into
/// one sorted plan), each with [`intelligent_tiering_cost`] and the days in its current class
/// it was priced with ([`Blob::days_in_current_class`], the `decisions` column
/// `days_in_class`).
pub fn decide_all(ctx: &Context<'_>, blobs: &[Blob]) -> Vec<(PlanRow, f64, i32)> {
    let mut rows: Vec<(PlanRow, f64, i32)> = blobs
        .par_iter()
        .map(|b| {
            let r = decide(ctx, b);
            let it = intelligent_tiering_cost(ctx, b, r.expected_pulls_30d);
            let days = i32::try_from(b.days_in_current_class().max(0)).unwrap_or(i32::MAX);
            (r, it, days)
        })
        .collect();
    rows.sort_by(|(a, ..), (b, ..)| {
        (&a.digest, &a.bucket, &a.key, &a.version_id).cmp(&(
            &b.digest,
            &b.bucket,
            &b.key,
            &b.version_id,
        ))
    });
    rows
}

/// Totals for `plan.summary.json`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Totals {
    /// Blobs considered.
    pub blobs: u64,
    /// Bytes considered.
    pub bytes: u64,
    /// Actions.
    pub actions: u64,
    /// Bytes moved.
    pub bytes_moved: u64,
    /// USD/month of all blobs now.
    pub monthly_cost_now: f64,
    /// USD/month after the plan.
    pub monthly_cost_after: f64,
    /// One-time USD.
    pub one_time_cost: f64,
    /// Net savings over 12 months (USD).
    pub net_savings_12m: f64,
    /// Decisions per reason.
    pub by_reason: BTreeMap<String, u64>,
    /// Actions per (from → to).
    pub by_move: BTreeMap<String, u64>,
}

/// Sums decisions.
pub fn totals(rows: &[PlanRow]) -> Totals {
    let mut t = Totals::default();
    t.add(rows);
    t
}

impl Totals {
    /// Adds `rows` to the totals.
    pub fn add(&mut self, rows: &[PlanRow]) {
        use std::fmt::Write as _;
        fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
            match map.get_mut(key) {
                Some(n) => *n += 1,
                None => {
                    map.insert(key.to_string(), 1);
                }
            }
        }
        let t = self;
        let mut key = String::new();
        for r in rows {
            t.blobs += 1;
            t.bytes += r.size.max(0) as u64;
            t.monthly_cost_now += r.monthly_cost_now;
            t.monthly_cost_after += r.monthly_cost_after;
            bump(&mut t.by_reason, &r.reason);
            if r.action != Action::Keep {
                t.actions += 1;
                t.bytes_moved += r.size.max(0) as u64;
                t.one_time_cost += r.one_time_cost;
                t.net_savings_12m += r.net_savings_12m;
                key.clear();
                let _ = write!(key, "{} -> {}", r.from_class, r.to_class);
                bump(&mut t.by_move, &key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The context of the unit tests: as of day 20,000, no coverage hold-down.
    pub(super) fn context<'a>(prices: &'a Prices, cfg: &'a PlanConfig) -> Context<'a> {
        Context {
            prices,
            cfg,
            as_of: 20_000,
            hold_down: None,
        }
    }

    /// The default `[plan]` settings.
    pub(super) fn cfg() -> PlanConfig {
        crate::config::RawConfig::default()
            .validate(&Default::default())
            .unwrap()
            .plan
    }

    /// Every managed class, one S3 class blobtier does not price and one it does not know.
    fn classes() -> Vec<StorageClass> {
        let mut all = StorageClass::MANAGED.to_vec();
        all.extend([StorageClass::ReducedRedundancy, "GLACIER_DEEP".into()]);
        all
    }

    fn blob_strategy() -> impl Strategy<Value = Blob> {
        (
            0u64..(8u64 << 30),
            0usize..classes().len(),
            0i64..2000,
            (0i64..50, 0i64..200, 0i64..600),
            proptest::option::of(0i64..400),
            0usize..5,
            (
                proptest::option::of(any::<bool>()),
                proptest::option::of(0i64..3),
                proptest::option::of(0i64..60),
            ),
        )
            .prop_map(
                |(size, class, age, (p7, p30, p90), since, rule, (tagged, refs, msince))| {
                    let tiers = [
                        ("hot", "STANDARD"),
                        ("warm", "STANDARD"),
                        ("cold", "GLACIER_IR"),
                        ("cool", "STANDARD_IA"),
                        ("archive", "DEEP_ARCHIVE"),
                    ];
                    let (tier, target) = tiers[rule];
                    Blob {
                        digest: format!("sha256:{:064x}", size),
                        bucket: "b".into(),
                        key: format!("docker/registry/v2/blobs/sha256/00/{size:064x}/data"),
                        size: size as i64,
                        storage_class: classes()[class].clone(),
                        age_days: age,
                        pulls: [p7, p7 + p30, p7 + p30 + p90],
                        days_since_last_pull: since,
                        tier: Some(tier.into()),
                        target_class: Some(target.into()),
                        referenced_by_tag: tagged,
                        ref_repos: refs,
                        days_since_last_manifest_pull: msince,
                        ..Default::default()
                    }
                },
            )
    }

    fn rank(c: &StorageClass) -> u8 {
        use StorageClass::*;
        match c {
            Standard | IntelligentTiering => 0,
            StandardIa | OnezoneIa => 1,
            GlacierIr => 2,
            _ => 3,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn plan_invariants(b in blob_strategy()) {
            let prices = Prices::builtin();
            let cfg = cfg();
            let ctx = context(&prices, &cfg);
            let r = decide(&ctx, &b);
            if r.action == Action::Transition {
                // Every move pays off within the horizon and the payback limit.
                prop_assert!(r.net_savings_12m > 0.0, "{r:?}");
                prop_assert!(r.payback_days.is_some_and(|d| d <= cfg.max_payback_days), "{r:?}");
                // Small objects never move.
                prop_assert!(b.size as u64 >= 128 * 1024, "{r:?}");
                // Nothing pulled in the last 7 days moves down.
                if rank(&r.to_class) > rank(&r.from_class) {
                    prop_assert_eq!(b.pulls[0], 0, "{:?}", r);
                }
                prop_assert!(r.to_class != r.from_class);
            } else if r.action == Action::Keep {
                prop_assert_eq!(&r.to_class, &r.from_class);
                prop_assert_eq!(r.one_time_cost, 0.0);
            }
            // A blob a current tag reaches, or of unknown reach, never lands in a class that
            // needs a restore; a tagged one already there is restored.
            if b.referenced_by_tag != Some(false) && r.action != Action::Keep {
                prop_assert!(rank(&r.to_class) < 3, "{r:?}");
            }
            if b.referenced_by_tag == Some(true)
                && b.storage_class.needs_restore()
                && r.reason != "kept:protected"
            {
                prop_assert_eq!(r.action.as_str(), "restore", "{:?}", r);
            }
            // A manifest pulled in the last 7 days keeps its blobs from moving down.
            if b.days_since_last_manifest_pull.is_some_and(|d| d < 7) && r.action == Action::Transition {
                prop_assert!(rank(&r.to_class) <= rank(&r.from_class), "{r:?}");
            }
            // INTELLIGENT_TIERING objects are left alone by default.
            if b.storage_class == StorageClass::IntelligentTiering {
                prop_assert_eq!(r.action.as_str(), "none");
            }
            // A class blobtier does not price is never priced or moved.
            if !b.storage_class.is_managed() {
                let why = if b.storage_class.is_unknown() {
                    "kept:unknown_class"
                } else {
                    "kept:unpriced_class"
                };
                prop_assert_eq!(r.action, Action::Keep);
                prop_assert_eq!(r.reason.as_str(), why);
                prop_assert_eq!(r.monthly_cost_now, 0.0);
                prop_assert_eq!(&r.from_class, &b.storage_class);
            }
            // Deterministic.
            prop_assert_eq!(decide(&ctx, &b), r);
        }
    }

    /// A GiB in `class`, written 400 days ago and never pulled, that the tier rules put in
    /// `tier` with the target class `target`: the blob the unit tests vary.
    pub(super) fn gib(class: &str, tier: &str, target: &str) -> Blob {
        Blob {
            digest: "sha256:aa".into(),
            bucket: "b".into(),
            key: "k".into(),
            size: 1 << 30,
            storage_class: class.into(),
            age_days: 400,
            tier: Some(tier.into()),
            target_class: Some(target.into()),
            ..Default::default()
        }
    }

    /// A class the inventory names that blobtier does not price, or does not know, stays
    /// where it is whatever the rules say, with its name unchanged. See: issue 14.
    #[test]
    fn unknown_and_unpriced_classes_are_kept() {
        let prices = Prices::builtin();
        let cfg = cfg();
        let ctx = context(&prices, &cfg);
        let cold = gib("STANDARD", "cold", "GLACIER_IR");
        for (name, reason) in [
            ("GLACIER_DEEP", "kept:unknown_class"),
            ("", "kept:unknown_class"),
            ("REDUCED_REDUNDANCY", "kept:unpriced_class"),
            ("OUTPOSTS", "kept:unpriced_class"),
            ("EXPRESS_ONEZONE", "kept:unpriced_class"),
        ] {
            let b = Blob {
                storage_class: inventory_class(name),
                ..cold.clone()
            };
            let r = decide(&ctx, &b);
            assert_eq!(
                (r.action, r.reason.as_str()),
                (Action::Keep, reason),
                "{name}"
            );
            assert_eq!(r.from_class.as_str(), name);
            assert_eq!(r.to_class, r.from_class);
            assert_eq!((r.monthly_cost_now, r.one_time_cost), (0.0, 0.0));
        }
        // The same blob in STANDARD moves.
        assert_eq!(decide(&ctx, &cold).reason, "moved:cold");
    }

    #[test]
    fn inventory_classes_ignore_case_and_keep_unknown_names() {
        assert_eq!(inventory_class("STANDARD_IA"), StorageClass::StandardIa);
        assert_eq!(inventory_class("glacier_ir"), StorageClass::GlacierIr);
        assert_eq!(
            inventory_class("Reduced_Redundancy"),
            StorageClass::ReducedRedundancy
        );
        assert_eq!(
            inventory_class("GLACIER_DEEP"),
            StorageClass::Unknown("GLACIER_DEEP".into())
        );
    }

    /// The image-graph protections, one blob at a time. See: issue 7.
    #[test]
    fn graph_protections_and_their_reasons() {
        let prices = Prices::builtin();
        let mut cfg = cfg();
        let untagged = Blob {
            referenced_by_tag: Some(false),
            ref_repos: Some(1),
            ..gib("STANDARD", "archive", "DEEP_ARCHIVE")
        };
        let decide_with = |cfg: &PlanConfig, b: &Blob| {
            let r = decide(&context(&prices, cfg), b);
            (r.action.to_string(), r.to_class.to_string(), r.reason)
        };
        let moved = (
            "transition".to_string(),
            "DEEP_ARCHIVE".to_string(),
            "moved:archive".to_string(),
        );
        assert_eq!(decide_with(&cfg, &untagged), moved);
        let reason = |cfg: &PlanConfig, b: Blob| decide_with(cfg, &b).2;
        let tagged = Blob {
            referenced_by_tag: Some(true),
            ..untagged.clone()
        };
        assert_eq!(reason(&cfg, tagged.clone()), "kept:tagged");
        let unknown = Blob {
            referenced_by_tag: None,
            ref_repos: None,
            ..untagged.clone()
        };
        assert_eq!(reason(&cfg, unknown.clone()), "kept:graph_unknown");
        cfg.archive_scope = ArchiveScope::UntaggedOrUnknown;
        assert_eq!(decide_with(&cfg, &unknown), moved);
        assert_eq!(reason(&cfg, tagged.clone()), "kept:tagged");
        cfg.archive_scope = ArchiveScope::Untagged;
        // A GLACIER_IR target is instant: tags do not matter.
        let ir = Blob {
            target_class: Some("GLACIER_IR".into()),
            tier: Some("cold".into()),
            ..tagged.clone()
        };
        assert_eq!(reason(&cfg, ir), "moved:cold");
        // Image pulled by a client with the blob cached three days ago.
        let manifest_pulled = Blob {
            days_since_last_manifest_pull: Some(3),
            ..untagged.clone()
        };
        assert_eq!(
            reason(&cfg, manifest_pulled.clone()),
            "kept:recent_manifest_pull"
        );
        cfg.count_manifest_pulls = false;
        assert_eq!(decide_with(&cfg, &manifest_pulled), moved);
        cfg.count_manifest_pulls = true;
        // Only garbage: referenced by an untagged manifest is not enough.
        cfg.archive_scope = ArchiveScope::Unreferenced;
        assert_eq!(reason(&cfg, untagged.clone()), "kept:referenced");
        let garbage = Blob {
            ref_repos: Some(0),
            ..untagged.clone()
        };
        assert_eq!(decide_with(&cfg, &garbage), moved);
        cfg.archive_scope = ArchiveScope::Untagged;
        // Already in DEEP_ARCHIVE and a current tag needs it (even a small one): restore.
        for size in [1 << 30, 1024] {
            let archived = Blob {
                storage_class: "DEEP_ARCHIVE".into(),
                size,
                ..tagged.clone()
            };
            assert_eq!(
                decide_with(&cfg, &archived),
                (
                    "restore".to_string(),
                    "STANDARD".to_string(),
                    "restore:tagged".to_string()
                )
            );
        }
        let archived_untagged = Blob {
            storage_class: "DEEP_ARCHIVE".into(),
            ..untagged
        };
        assert_eq!(reason(&cfg, archived_untagged), "kept:archived");
    }

    /// The `decisions` column `intelligent_tiering_monthly_cost`, by hand from
    /// pricing/us-east-1.toml: Frequent 0.023, Infrequent (30+ days) 0.0125, Archive Instant
    /// (90+ days) 0.004 per GB-month; monitoring 0.0025 per 1000 objects from 128 KiB; GET
    /// 0.0004 per 1000.
    #[test]
    fn intelligent_tiering_cost_by_days_since_the_last_access() {
        let prices = Prices::builtin();
        let cfg = cfg();
        let ctx = context(&prices, &cfg);
        let gib = Blob {
            size: 1 << 30,
            age_days: 400,
            ..Default::default()
        };
        let it = |b: &Blob, gets: f64| intelligent_tiering_cost(&ctx, b, gets);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} != {b}");
        // Pulled 40 days ago, 3 pulls a month expected: Infrequent + monitoring + 3 GETs.
        let b = Blob {
            days_since_last_pull: Some(40),
            ..gib.clone()
        };
        close(it(&b, 3.0), 0.0125 + 0.0000025 + 0.0000012);
        // Pulled yesterday: Frequent.
        let b = Blob {
            days_since_last_pull: Some(1),
            ..gib.clone()
        };
        close(it(&b, 0.0), 0.023 + 0.0000025);
        // Never pulled, written 400 days ago: Archive Instant.
        close(it(&gib, 0.0), 0.004 + 0.0000025);
        // Never pulled, written 10 days ago: Frequent.
        let young = Blob {
            age_days: 10,
            ..gib.clone()
        };
        close(it(&young, 0.0), 0.023 + 0.0000025);
        // 100 KiB: not monitored, no fee, always Frequent.
        let small = Blob {
            size: 100 * 1024,
            ..gib
        };
        close(it(&small, 0.0), 100.0 / 1024.0 / 1024.0 * 0.023);
    }

    #[test]
    fn an_old_unpulled_gib_in_standard_moves_to_glacier_ir_and_pays_off() {
        let prices = Prices::builtin();
        let cfg = cfg();
        let ctx = context(&prices, &cfg);
        let b = gib("STANDARD", "cold", "GLACIER_IR");
        let r = decide(&ctx, &b);
        assert_eq!(
            (r.action.as_str(), r.to_class.as_str(), r.reason.as_str()),
            ("transition", "GLACIER_IR", "moved:cold")
        );
        // 1 GiB: STANDARD 0.023/month, GLACIER_IR 0.004/month, no pulls.
        assert!((r.monthly_cost_now - 0.023).abs() < 1e-9, "{r:?}");
        assert!((r.monthly_cost_after - 0.004).abs() < 1e-9, "{r:?}");
        // One COPY request at the GLACIER_IR PUT price: 0.02 / 1000.
        assert!((r.one_time_cost - 0.00002).abs() < 1e-12, "{r:?}");
        assert!(
            (r.net_savings_12m - (0.019 * 12.0 - 0.00002)).abs() < 1e-9,
            "{r:?}"
        );
        // Pulled yesterday: it stays.
        let hot = Blob {
            pulls: [3, 3, 3],
            days_since_last_pull: Some(1),
            ..b.clone()
        };
        assert_eq!(decide(&ctx, &hot).reason, "kept:recent");
        let tiny = Blob {
            size: 100 * 1024,
            ..b.clone()
        };
        assert_eq!(decide(&ctx, &tiny).reason, "kept:too_small");
        let young = Blob {
            storage_class: "STANDARD_IA".into(),
            age_days: 10,
            ..b
        };
        assert_eq!(decide(&ctx, &young).reason, "kept:min_duration");
    }
}

#[cfg(test)]
mod class_history_tests {
    use super::tests::{cfg, context, gib};
    use super::*;

    /// A GiB written 400 days ago that `class` holds since `days_in_class` days, never pulled,
    /// that the rules send to `target`.
    fn moved_yesterday(class: &str, target: &str, tier: &str) -> Blob {
        Blob {
            days_in_class: Some(1),
            referenced_by_tag: Some(false),
            ref_repos: Some(0),
            ..gib(class, tier, target)
        }
    }

    /// An object our own transition moved into STANDARD_IA yesterday (Last-Modified 400 days
    /// ago, which transitions keep) waits out STANDARD_IA's 30 days before it moves on: the
    /// class history, not `last_modified`, says how long it has been there. See: issue 15.
    #[test]
    fn an_object_moved_yesterday_is_kept_for_its_minimum_duration() {
        let prices = Prices::builtin();
        let cfg = cfg();
        let ctx = context(&prices, &cfg);
        let b = moved_yesterday("STANDARD_IA", "GLACIER_IR", "cold");
        assert_eq!(decide(&ctx, &b).reason, "kept:min_duration");
        // Without a history the age is all there is.
        let unknown = Blob {
            days_in_class: None,
            ..b.clone()
        };
        assert_eq!(decide(&ctx, &unknown).reason, "moved:cold");
        // Thirty days in: it goes.
        let settled = Blob {
            days_in_class: Some(30),
            ..b
        };
        assert_eq!(decide(&ctx, &settled).reason, "moved:cold");
    }

    /// Leaving GLACIER_IR a day after entering it pays 89 days of GLACIER_IR storage: the
    /// reheat is priced with the days from the class history. See: issue 15.
    #[test]
    fn early_deletion_is_priced_from_the_day_the_class_was_entered() {
        let prices = Prices::builtin();
        let cfg = cfg();
        let ctx = context(&prices, &cfg);
        let b = Blob {
            pulls: [20, 20, 20],
            days_since_last_pull: Some(0),
            ..moved_yesterday("GLACIER_IR", "STANDARD", "hot")
        };
        let r = decide(&ctx, &b);
        let storage = cost::monthly_storage(&prices, &StorageClass::GlacierIr, 1 << 30).unwrap();
        let early = 89.0 * storage / 30.0;
        let copy = prices.standard().put_per_1000 / 1000.0;
        let retrieval = prices.class(&StorageClass::GlacierIr).unwrap().retrieval_gb;
        if r.action == Action::Keep {
            // The move does not pay once early deletion is counted; priced as it would be.
            assert_eq!(r.reason, "kept:payback", "{r:?}");
        } else {
            assert!(
                (r.one_time_cost - (early + copy + retrieval)).abs() < 1e-9,
                "{} != {}",
                r.one_time_cost,
                early + copy + retrieval
            );
        }
        let input = move_input(
            &ctx,
            &b,
            StorageClass::Standard,
            Method::Copy,
            false,
            RestoreTier::Bulk,
        );
        assert_eq!(input.days_in_current_class, 1);
    }
}

#[cfg(test)]
mod scanner_tests {
    use super::tests::{cfg, context, gib};
    use super::*;

    /// A vulnerability scanner reads a GiB every day; no client pulls it. The scanner does not
    /// make it "used" (the rules still send it to GLACIER_IR), but its 30 reads a month are
    /// billed there at GLACIER_IR's GET and retrieval prices, which eat the saving: it stays,
    /// and what it costs now includes the scanner's GETs. See: issue 15.
    #[test]
    fn scanner_reads_are_priced_as_the_retrievals_they_are() {
        let prices = Prices::builtin();
        let cfg = cfg();
        let ctx = context(&prices, &cfg);
        let b = Blob {
            scanner_pulls_30d: 30,
            ..gib("STANDARD", "cold", "GLACIER_IR")
        };
        let r = decide(&ctx, &b);
        assert_eq!(r.expected_pulls_30d, 0.0, "scanners are not pulls");
        assert_eq!(r.reason, "kept:payback", "{r:?}");
        let standard = prices.standard();
        let now = standard.storage_gb_month + 30.0 * standard.get_per_1000 / 1000.0;
        assert!((r.monthly_cost_now - now).abs() < 1e-12, "{r:?}");
        // Read once a month, a move to STANDARD_IA still pays (0.0125 + 0.01 retrieval <
        // 0.023); its cost after includes that read.
        let monthly = Blob {
            scanner_pulls_30d: 1,
            tier: Some("cool".into()),
            target_class: Some(StorageClass::StandardIa),
            ..b
        };
        let r = decide(&ctx, &monthly);
        assert_eq!(r.reason, "moved:cool", "{r:?}");
        let ia = prices.class(&StorageClass::StandardIa).unwrap();
        let after = ia.storage_gb_month + ia.get_per_1000 / 1000.0 + ia.retrieval_gb;
        assert!((r.monthly_cost_after - after).abs() < 1e-12, "{r:?}");
    }
}

#[cfg(test)]
mod intelligent_tiering_tests {
    use super::tests::{cfg, context, gib};
    use super::*;

    /// A move into INTELLIGENT_TIERING hands the blob to automatic tiering, which takes it
    /// to cheaper tiers on its own: it passes the same checks as any move down (pulled in
    /// the last 7 days, minimum duration of the class it leaves). See: issue 15.
    #[test]
    fn moves_into_intelligent_tiering_are_guarded_like_moves_down() {
        let prices = Prices::builtin();
        let cfg = cfg();
        let ctx = context(&prices, &cfg);
        let b = Blob {
            pulls: [3, 3, 3],
            days_since_last_pull: Some(1),
            ..gib("STANDARD", "auto", "INTELLIGENT_TIERING")
        };
        assert_eq!(decide(&ctx, &b).reason, "kept:recent");
        let young_ia = Blob {
            storage_class: StorageClass::StandardIa,
            pulls: [0, 0, 0],
            days_since_last_pull: None,
            days_in_class: Some(3),
            ..b.clone()
        };
        assert_eq!(decide(&ctx, &young_ia).reason, "kept:min_duration");
        let held = Context {
            hold_down: Some("gap".into()),
            ..ctx
        };
        let idle = Blob {
            pulls: [0, 0, 0],
            days_since_last_pull: None,
            ..b
        };
        assert_eq!(decide(&held, &idle).reason, "kept:coverage_gap");
    }
}

#[cfg(test)]
mod restore_tests {
    use super::tests::{context, gib};
    use super::*;
    use crate::model::RestoreTier;

    /// The default `[plan]` settings with `restore_tier = tier`.
    fn cfg(tier: RestoreTier) -> PlanConfig {
        PlanConfig {
            restore_tier: tier,
            ..super::tests::cfg()
        }
    }

    /// A GiB in `class`, written 400 days ago, that clients pulled twice this month.
    fn pulled_archived(class: &str) -> Blob {
        Blob {
            pulls: [0, 2, 2],
            ..gib(class, "archive", class)
        }
    }

    /// The restore of a plan row is priced for the days `apply` keeps the restored copy
    /// (3 days at the STANDARD rate), with the tier the row asks for. See: issue 15.
    #[test]
    fn restore_rows_are_priced_for_the_days_apply_requests() {
        let prices = Prices::builtin();
        let cfg = cfg(RestoreTier::Standard);
        let ctx = context(&prices, &cfg);
        let r = decide(&ctx, &pulled_archived("GLACIER"));
        assert_eq!(
            (r.action, r.reason.as_str()),
            (Action::Restore, "restore:pulled")
        );
        let glacier = prices.class(&StorageClass::Glacier).unwrap();
        let tier = glacier.restore_price(RestoreTier::Standard).unwrap();
        let standard = prices.standard();
        let expected = standard.put_per_1000 / 1000.0
            + tier.per_1000 / 1000.0
            + tier.per_gb
            + standard.storage_gb_month * 3.0 / 30.0;
        assert!(
            (r.one_time_cost - expected).abs() < 1e-12,
            "{} != {expected}",
            r.one_time_cost
        );
    }

    /// `plan.restore_tier = "expedited"` restores DEEP_ARCHIVE blobs (which offer no
    /// Expedited tier) with the cheapest tier the class offers, says so in the reason, and
    /// prices what they cost now. See: issue 15.
    #[test]
    fn expedited_falls_back_to_the_cheapest_tier_deep_archive_offers() {
        let prices = Prices::builtin();
        let cfg = cfg(RestoreTier::Expedited);
        let ctx = context(&prices, &cfg);
        let deep = StorageClass::DeepArchive;
        let tagged = Blob {
            referenced_by_tag: Some(true),
            pulls: [0, 0, 0],
            ..pulled_archived("DEEP_ARCHIVE")
        };
        let r = decide(&ctx, &tagged);
        assert_eq!(
            (r.action, r.reason.as_str()),
            (Action::Restore, "restore:tagged:tier_fallback")
        );
        let storage = cost::monthly_storage(&prices, &deep, 1 << 30).unwrap();
        assert!(storage > 0.0);
        assert!((r.monthly_cost_now - storage).abs() < 1e-12, "{r:?}");
        let bulk = prices
            .class(&deep)
            .unwrap()
            .restore_price(RestoreTier::Bulk)
            .unwrap();
        let standard = prices.standard();
        let expected = standard.put_per_1000 / 1000.0
            + bulk.per_1000 / 1000.0
            + bulk.per_gb
            + standard.storage_gb_month * 3.0 / 30.0;
        assert!((r.one_time_cost - expected).abs() < 1e-12, "{r:?}");
        // Kept archived blobs are priced too (with the tier they would be restored with).
        let idle = Blob {
            pulls: [0, 0, 0],
            ..pulled_archived("DEEP_ARCHIVE")
        };
        let k = decide(&ctx, &idle);
        assert_eq!(k.reason, "kept:archived");
        assert!((k.monthly_cost_now - storage).abs() < 1e-12, "{k:?}");
        // GLACIER offers Expedited: no fallback.
        let g = decide(&ctx, &pulled_archived("GLACIER"));
        assert_eq!(g.reason, "restore:pulled");
    }

    /// A pinned blob (`--pins`) stays where it is whatever its rule says, and an archived one
    /// is restored even unpulled and small, the pin named first. See: issue 16.
    #[test]
    fn pinned_blobs_are_kept_and_restored() {
        let prices = Prices::builtin();
        let cfg = cfg(RestoreTier::Expedited);
        let ctx = context(&prices, &cfg);
        let reason = |b: Blob| decide(&ctx, &b).reason;
        let cold = Blob {
            storage_class: StorageClass::Standard,
            pulls: [0, 0, 0],
            tier: Some("cold".into()),
            target_class: Some(StorageClass::GlacierIr),
            ..pulled_archived("STANDARD")
        };
        assert_eq!(reason(cold.clone()), "moved:cold");
        let pinned = Blob {
            pinned: true,
            ..cold
        };
        assert_eq!(reason(pinned), "kept:pinned");
        let archived = Blob {
            pinned: true,
            pulls: [0, 0, 0],
            referenced_by_tag: Some(true),
            size: 1024,
            ..pulled_archived("DEEP_ARCHIVE")
        };
        assert_eq!(reason(archived.clone()), "restore:pinned:tier_fallback");
        assert_eq!(
            reason(Blob {
                storage_class: StorageClass::Glacier,
                ..archived
            }),
            "restore:pinned"
        );
    }
}

#[cfg(test)]
mod versioning_tests {
    use super::tests::{cfg, context, gib};
    use super::*;

    /// A GiB in STANDARD, written 400 days ago, never pulled, that no current tag reaches,
    /// with a real version id (an all-versions inventory of a versioned bucket), that the
    /// rules send to `target`.
    fn versioned_gib(tier: &str, target: &str) -> Blob {
        Blob {
            version_id: Some("3HL4kqtJvjVBH40Nrjfkd".into()),
            referenced_by_tag: Some(false),
            ref_repos: Some(0),
            ..gib("STANDARD", tier, target)
        }
    }

    /// In a versioned bucket a copy leaves the old version billed in STANDARD for
    /// `plan.noncurrent_days`: the plan prices it without being told the bucket is
    /// versioned (the inventory's version id says so). See: issue 15.
    #[test]
    fn a_copy_in_a_versioned_bucket_is_priced_with_its_noncurrent_copy() {
        let prices = Prices::builtin();
        let cfg = cfg();
        let ctx = context(&prices, &cfg);
        let b = versioned_gib("cool", "STANDARD_IA");
        let r = decide(&ctx, &b);
        assert_eq!(r.reason, "moved:cool", "{r:?}");
        let standard = cost::monthly_storage(&prices, &StorageClass::Standard, 1 << 30).unwrap();
        let put = prices
            .class(&StorageClass::StandardIa)
            .unwrap()
            .put_per_1000
            / 1000.0;
        let old_version = f64::from(cfg.noncurrent_days) * standard / 30.0;
        assert!(
            (r.one_time_cost - (put + old_version)).abs() < 1e-12,
            "{} != {}",
            r.one_time_cost,
            put + old_version
        );
        // The config can say otherwise: then only the COPY request.
        let mut unversioned = super::tests::cfg();
        unversioned.versioned = Some(false);
        let r = decide(&context(&prices, &unversioned), &b);
        assert!((r.one_time_cost - put).abs() < 1e-15, "{r:?}");
        // A bucket the inventory shows versioned prices the blob's null version the same.
        let null_version = Blob {
            version_id: Some(String::new()),
            bucket_versioned: true,
            ..b
        };
        let r = decide(&ctx, &null_version);
        assert!(
            (r.one_time_cost - (put + old_version)).abs() < 1e-12,
            "{r:?}"
        );
    }

    /// STANDARD → GLACIER_IR saves 0.019 a GiB-month: unversioned it pays back in days; with
    /// the old version billed 180 more days in STANDARD (0.138) it takes 218 days, beyond
    /// `max_payback_days` (180): kept. A lifecycle transition acts on the current version in
    /// place and leaves no old version: it moves. See: issue 15.
    #[test]
    fn a_move_that_only_paid_off_without_the_noncurrent_copy_is_kept() {
        let prices = Prices::builtin();
        let mut cfg = cfg();
        cfg.noncurrent_days = 180;
        let ctx = context(&prices, &cfg);
        let b = versioned_gib("cold", "GLACIER_IR");
        let unversioned = Blob {
            version_id: None,
            ..b.clone()
        };
        assert_eq!(decide(&ctx, &unversioned).reason, "moved:cold");
        let r = decide(&ctx, &b);
        assert_eq!(
            (r.action, r.reason.as_str()),
            (Action::Keep, "kept:payback")
        );
        assert_eq!(r.one_time_cost, 0.0);
        cfg.method = Method::Lifecycle;
        let ctx = context(&prices, &cfg);
        let r = decide(&ctx, &b);
        assert_eq!(r.reason, "moved:cold", "{r:?}");
        let transition = prices
            .class(&StorageClass::GlacierIr)
            .unwrap()
            .transition_per_1000
            .unwrap()
            / 1000.0;
        assert!(r.one_time_cost < transition + 0.0001, "{r:?}");
    }

    /// Detection from the inventory rows: a real version id on any object of a bucket; empty
    /// (null-version objects), `null` and absent ids prove nothing. The config overrides.
    #[test]
    fn versioning_is_detected_per_bucket_from_the_inventory() {
        let df = df!(
            "bucket" => ["a", "a", "a", "b", "b", "c"],
            "version_id" => [None, Some(""), Some("null"), Some(""), Some("3HL4k"), Some("x")],
            "in_inventory" => [true, true, true, true, true, false],
        )
        .unwrap();
        let detected = detect_versioning(df.lazy()).unwrap();
        assert_eq!(
            detected,
            BTreeMap::from([("a".to_string(), false), ("b".to_string(), true)])
        );
        let mut cfg = cfg();
        assert_eq!(
            versioned_buckets(&cfg, &detected),
            BTreeMap::from([("b".to_string(), VersioningSource::Inventory)])
        );
        cfg.buckets.insert("a".into(), (Method::Copy, Some(true)));
        cfg.buckets.insert("b".into(), (Method::Copy, Some(false)));
        assert_eq!(
            versioned_buckets(&cfg, &detected),
            BTreeMap::from([("a".to_string(), VersioningSource::Config)])
        );
        assert!(is_real_version(Some("3HL4k")));
        assert!(!is_real_version(Some("null")) && !is_real_version(None));
    }
}
