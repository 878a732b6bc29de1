//! What the report says about its inputs and its own limits: the days since each blob's last
//! pull, data quality and its warnings, the assumptions and statements, unreferenced blobs, the
//! hot set and the registry's pull-through caches. Split from `summarize` (which assembles the
//! summary) so that neither grows past a few hundred lines.
//!
//! Must not: decide or price anything (the plan did); read files (the inputs are read).

use super::*;

/// The inventory's blobs by days since their last pull ([`AGE_BUCKETS`]).
pub(super) fn days_since_last_pull(inv: &[&StatRow]) -> Vec<AgeBucket> {
    let mut ages: Vec<AgeBucket> = AGE_BUCKETS
        .iter()
        .map(|(l, lo, hi)| AgeBucket {
            label: (*l).into(),
            min_days: *lo,
            max_days: *hi,
            ..Default::default()
        })
        .collect();
    for s in inv {
        let b = match s.days_since_last_pull {
            None => ages.len() - 1,
            Some(d) => ages
                .iter()
                .position(|b| {
                    b.min_days.is_some_and(|lo| d >= lo) && b.max_days.is_none_or(|hi| d <= hi)
                })
                .unwrap_or(0),
        };
        ages[b].objects += 1;
        ages[b].bytes += s.size.unwrap_or(0).max(0) as u64;
    }
    ages
}

/// The data-quality figures and the warnings a reader must see before trusting the numbers.
pub(super) fn data_quality(i: &Inputs<'_>, h: &Headline) -> DataQuality {
    let not_in_inv: Vec<&StatRow> = i.stats.iter().filter(|s| !s.in_inventory).collect();
    let mut dq = DataQuality {
        window_days: i.coverage.window_days,
        missing_log_days: i
            .coverage
            .missing_days
            .iter()
            .map(|d| d.to_string())
            .collect(),
        inventory_snapshot: i.coverage.inventory_snapshot.map(|d| d.to_string()),
        inventory_age_days: i.coverage.inventory_age_days,
        max_inventory_age_days: i.max_inventory_age_days,
        digests_not_in_inventory: not_in_inv.len() as u64,
        pulls_30d_not_in_inventory: not_in_inv.iter().map(|s| s.pulls_30d).sum(),
        rejects: i.rejects.clone(),
        held_down: i.plan_summary["held_down"].as_str().map(str::to_string),
        gaps_allowed: i.plan_summary["gaps_allowed"].as_str().map(str::to_string),
        warnings: Vec::new(),
    };
    dq.warnings = quality_warnings(&dq, h, i.backtest.as_ref());
    dq
}

pub(super) fn quality_warnings(
    dq: &DataQuality,
    h: &Headline,
    bt: Option<&Backtest>,
) -> Vec<String> {
    let mut w = Vec::new();
    if !dq.missing_log_days.is_empty() {
        w.push(format!(
            "{} day(s) of the last {} have no log input at all ({}). A day without logs looks \
             exactly like a day without pulls, so blobs pulled only on those days are planned as \
             unused and may be sent to cold storage. Ingest the missing logs and re-run `stats` \
             and `plan` before acting on this plan.",
            dq.missing_log_days.len(),
            dq.window_days,
            list_days(&dq.missing_log_days)
        ));
    }
    match dq.inventory_age_days {
        None => w.push("no inventory snapshot on or before as-of".into()),
        Some(a) if a > i64::from(dq.max_inventory_age_days) => w.push(format!(
            "the inventory snapshot is {a} days old (more than {}): blobs added since are \
             missing and classes may have changed",
            dq.max_inventory_age_days
        )),
        _ => {}
    }
    if dq.digests_not_in_inventory > 0 {
        w.push(format!(
            "{} digest(s) with {} pull(s) in 30 days are not in the inventory: a wrong \
             `registry_root`, or logs of another bucket",
            dq.digests_not_in_inventory, dq.pulls_30d_not_in_inventory
        ));
    }
    let r = &dq.rejects;
    if r.rejected_lines > 0 {
        let share = r.rejected_lines as f64 / r.lines_read.max(1) as f64;
        w.push(format!(
            "{} of {} log line(s) ({:.2}%) were rejected; rejected pulls are missing from the \
             statistics (see `_rejects/`)",
            r.rejected_lines,
            r.lines_read,
            share * 100.0
        ));
    }
    if let Some(why) = &dq.held_down {
        w.push(format!(
            "the plan held every move to a cheaper class back: {why}"
        ));
    }
    if let Some(why) = &dq.gaps_allowed {
        w.push(format!(
            "the plan moved blobs to cheaper classes despite missing data (`--allow-gaps`): {why}"
        ));
    }
    if h.one_time.unattributed > 0.0 {
        w.push(
            "some one-time costs could not be split into their parts with the current config \
             (it changed since the plan); they are listed as unattributed"
                .into(),
        );
    }
    if let Some(bt) = bt {
        if !bt.coverage.replay_missing_days.is_empty() {
            w.push(format!(
                "the backtest's replay window has {} day(s) without logs: its realised savings \
                 are overstated",
                bt.coverage.replay_missing_days.len()
            ));
        }
    }
    w
}

/// The assumptions behind the numbers, from the plan's config.
pub(super) fn assumptions(i: &Inputs<'_>) -> Assumptions {
    let cfg = i.cfg;
    Assumptions {
        estimator: i.plan_summary["estimator"]
            .as_str()
            .unwrap_or(cfg.estimator.as_str())
            .to_string(),
        horizon_months: cfg.horizon_months,
        max_payback_days: cfg.max_payback_days,
        restore_tier: cfg.restore_tier.to_string(),
        method: cfg.method.to_string(),
        min_size: cfg.min_size,
        bytes_per_gb: cost::BYTES_PER_GB,
        days_per_month: cost::DAYS_PER_MONTH,
        tiers: cfg
            .tiers
            .iter()
            .map(|t| Rule {
                name: t.name.clone(),
                when: t.when.clone(),
                class: t.class.to_string(),
            })
            .collect(),
        statements: statements(i, cfg),
    }
}

/// Sums the decisions of the blobs no manifest references (None when no stats row carries
/// `ref_repos`, i.e. the lake has no image graph for as-of).
pub(super) fn unreferenced(i: &Inputs<'_>) -> Option<Unreferenced> {
    if i.stats.iter().all(|s| s.ref_repos.is_none()) {
        return None;
    }
    let garbage: std::collections::HashSet<&str> = i
        .stats
        .iter()
        .filter(|s| s.in_inventory && s.ref_repos == Some(0))
        .map(|s| s.digest.as_str())
        .collect();
    let mut u = Unreferenced::default();
    let mut rows: Vec<&PlanRow> = i
        .rows
        .iter()
        .filter(|r| garbage.contains(r.digest.as_str()))
        .collect();
    for r in &rows {
        u.blobs += 1;
        u.bytes += r.size.max(0) as u64;
        u.monthly_cost_now += r.monthly_cost_now;
        u.monthly_cost_after += r.monthly_cost_after;
        u.planned_moves += u64::from(r.action != Action::Keep);
    }
    rows.sort_by(|a, b| {
        b.monthly_cost_now
            .total_cmp(&a.monthly_cost_now)
            .then(a.digest.cmp(&b.digest))
    });
    u.largest = rows
        .into_iter()
        .take(TOP_MOVES)
        .map(|r| UnreferencedBlob {
            digest: r.digest.clone(),
            size: r.size,
            storage_class: r.from_class.to_string(),
            monthly_cost_now: r.monthly_cost_now,
        })
        .collect();
    Some(u)
}

pub(super) fn statements(i: &Inputs<'_>, cfg: &PlanConfig) -> Vec<String> {
    let est = i.plan_summary["estimator"]
        .as_str()
        .unwrap_or(cfg.estimator.as_str())
        .to_string();
    vec![
        format!(
            "Expected pulls per month come from the `{est}` estimator over the stats windows; \
             a blob whose pattern changes after as-of is priced on its past."
        ),
        format!(
            "A move is planned only if it saves more than it costs within {} months and pays \
             back within {} days; blobs pulled in the last 7 days never move to a cheaper class.",
            cfg.horizon_months, cfg.max_payback_days
        ),
        format!(
            "Prices: {} list prices as of {}, first volume tier of each class (above 50 TB per \
             class costs are overstated by up to ~10%); 1 GB = 2^30 bytes; a month is 30 days.",
            i.prices.region(),
            i.prices.as_of()
        ),
        "One-time costs are paid in month 0; savings accrue evenly from month 1.".into(),
        "Intelligent-Tiering alternative: one bucket-wide lifecycle rule moves every STANDARD \
         and STANDARD_IA blob of at least 128 KiB; the monitoring fee is included; each blob \
         starts in Frequent Access and steps down while not pulled (the 90-day ramp-up); the \
         opt-in archive tiers are not used."
            .into(),
        "Days in the current class are taken from `last_modified` (the inventory does not \
         record class changes), which can overstate early-deletion charges after a lifecycle \
         transition."
            .into(),
        "Not modelled: data transfer out (a pull costs the same egress in every class), request \
         rate limits, restore waiting times, Object Lock, and volume tiers beyond the first."
            .into(),
    ]
}

pub(super) fn hot_set(i: &Inputs<'_>, inv: &[&StatRow]) -> HotSet {
    let hs = &i.plan_summary["hot_set"];
    let total: i64 = inv.iter().map(|s| s.pulls_7d).sum();
    let mut pulled: Vec<&&StatRow> = inv.iter().filter(|s| s.pulls_7d > 0).collect();
    pulled.sort_by(|a, b| b.pulls_7d.cmp(&a.pulls_7d).then(a.digest.cmp(&b.digest)));
    let mut seen = BTreeSet::new();
    let mut full = Vec::new();
    let (mut bytes, mut served) = (0u64, 0i64);
    for s in pulled {
        if !seen.insert(s.digest.as_str()) {
            continue;
        }
        bytes += s.size.unwrap_or(0).max(0) as u64;
        served += s.pulls_7d;
        full.push(CurvePoint {
            digests: seen.len() as u64,
            bytes,
            share: if total > 0 {
                served as f64 / total as f64
            } else {
                0.0
            },
        });
    }
    HotSet {
        digests: hs["digests"].as_u64().unwrap_or(0),
        bytes: hs["bytes"].as_u64().unwrap_or(0),
        max_bytes: hs["max_bytes"].as_u64().unwrap_or(i.cfg.hot_set_max_bytes),
        pull_share_7d: hs["pull_share_7d"].as_f64().unwrap_or(0.0),
        pulls_7d: total,
        curve: thin(full, 200),
    }
}

/// At most `n` points of `v`, evenly spaced, always keeping the last.
pub(super) fn thin<T>(v: Vec<T>, n: usize) -> Vec<T> {
    if v.len() <= n {
        return v;
    }
    let len = v.len();
    let keep: BTreeSet<usize> = (0..n).map(|k| k * (len - 1) / (n - 1)).collect();
    v.into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, x)| x)
        .collect()
}

pub(super) fn pull_through(stats: &[StatRow]) -> PullThrough {
    let mut pt = PullThrough::default();
    let mut pulled: Vec<&StatRow> = stats.iter().filter(|s| s.pulls_30d > 0).collect();
    for s in &pulled {
        let uniq = s.unique_clients_30d.unwrap_or(s.pulls_30d).min(s.pulls_30d);
        pt.digests_pulled_30d += 1;
        pt.pulls_30d += s.pulls_30d;
        pt.unique_clients_30d += uniq;
        pt.repeat_pulls_30d += s.pulls_30d - uniq;
        pt.repeat_bytes_30d += ((s.pulls_30d - uniq) * s.size.unwrap_or(0).max(0)) as u64;
    }
    pulled.sort_by(|a, b| b.pulls_30d.cmp(&a.pulls_30d).then(a.digest.cmp(&b.digest)));
    pt.points = pulled
        .into_iter()
        .filter_map(|s| {
            Some(PullPoint {
                pulls_30d: s.pulls_30d,
                ratio: s.unique_pull_ratio_30d?,
            })
        })
        .take(1000)
        .collect();
    pt
}
