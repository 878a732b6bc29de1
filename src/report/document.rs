//! The report's content as a small document model (headings, paragraphs, tables, charts),
//! built once from the [`Summary`] and rendered to HTML ([`super::html`]) and Markdown
//! ([`super::markdown`]), so the two always say the same thing. Text may hold `code` spans in
//! backticks and **bold**, read once by [`inline_markup`]; renderers escape everything else.

use super::charts::Chart;
use super::format::size;
use super::{bytes, count, days, money, percent, Summary};

/// One block of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// The document title.
    Title(String),
    /// A section heading.
    Heading(String),
    /// A paragraph.
    Para(String),
    /// Something the reader must see first.
    Alert {
        /// Heading of the alert.
        title: String,
        /// One line per problem.
        items: Vec<String>,
    },
    /// A table; `numeric` columns are right-aligned.
    Table {
        /// Column headings.
        head: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<String>>,
        /// Per column: right-align.
        numeric: Vec<bool>,
    },
    /// The chart with this index in the chart list.
    Chart(usize),
    /// A bulleted list.
    List(Vec<String>),
}

/// One piece of a text's inline markup, as [`inline_markup`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inline {
    /// A code span opens (`true`) or closes.
    Code(bool),
    /// Bold opens (`true`) or closes.
    Bold(bool),
    /// A character of text, `in_code` inside a code span.
    Text {
        /// The character.
        c: char,
        /// Inside a code span.
        in_code: bool,
    },
}

/// Reads the document's inline markup, for the renderers: a backtick opens or closes a code
/// span, `**` outside one opens or closes bold, every other character is text. Spans still
/// open at the end are closed (the code span first).
pub fn inline_markup(s: &str) -> Vec<Inline> {
    let mut out = Vec::with_capacity(s.len());
    let (mut code, mut bold) = (false, false);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            code = !code;
            out.push(Inline::Code(code));
        } else if !code && rest.starts_with("**") {
            bold = !bold;
            out.push(Inline::Bold(bold));
            rest = &rest[2..];
            continue;
        } else {
            out.push(Inline::Text { c, in_code: code });
        }
        rest = &rest[c.len_utf8()..];
    }
    if code {
        out.push(Inline::Code(false));
    }
    if bold {
        out.push(Inline::Bold(false));
    }
    out
}

fn table(head: &[&str], numeric: &[bool], rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        head: head.iter().map(|h| h.to_string()).collect(),
        rows,
        numeric: numeric.to_vec(),
    }
}

fn n(x: u64) -> String {
    count(i128::from(x))
}

/// Volume tiers and unverified prices, when the plan has any (nothing otherwise).
fn pricing_notes(s: &Summary, d: &mut Vec<Block>) {
    for v in &s.pricing.volume_tiers {
        d.push(Block::Para(format!(
            "Volume tiers, {}: {} GB before the plan, {} GB after; each move is priced at the \
             marginal rate ${}/GB-month, the class totals with the tiered rates ({}/month \
             before, {}/month after).",
            v.class,
            count(v.gb_now.round() as i128),
            count(v.gb_after.round() as i128),
            v.marginal_rate,
            money(v.storage_now),
            money(v.storage_after),
        )));
    }
    if !s.pricing.unverified.is_empty() {
        d.push(Block::Para(format!(
            "The {} price table has no source for {}: those values are assumptions \
             (see docs/plan.md).",
            s.pricing.region,
            s.pricing
                .unverified
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
}

fn short(digest: &str) -> String {
    // Docker's 12-digit short form, plus the last 4 digits to tell similar digests apart.
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if hex.len() <= 16 || !hex.is_ascii() {
        return format!("`{hex}`");
    }
    format!("`{}…{}`", &hex[..12], &hex[hex.len() - 4..])
}

/// Builds the document. Charts are referred to by their index in `charts`.
pub fn build(s: &Summary, charts: &[Chart]) -> Vec<Block> {
    let mut d = vec![
        Block::Title("Registry blob tiering: dry-run cost report".into()),
        Block::Para(format!(
            "Plan for {}, `{}`. Prices: {} list prices published {}. Made by {}; nothing has \
             been changed in S3.",
            s.as_of, s.plan_id, s.pricing.region, s.pricing.as_of, s.generated_by
        )),
    ];
    pricing_notes(s, &mut d);
    super::sources::alert(&s.sources, &mut d);
    if !s.data_quality.warnings.is_empty() {
        d.push(Block::Alert {
            title: "Data quality: read this before trusting the numbers".into(),
            items: s.data_quality.warnings.clone(),
        });
    }

    headline_section(s, &mut d);
    class_and_tier_section(s, charts, &mut d);
    alternatives_section(s, charts, &mut d);
    top_moves_section(s, &mut d);
    reasons_section(s, &mut d);
    versioning_section(s, &mut d);
    pull_patterns_section(s, charts, &mut d);
    super::sources::section(&s.sources, &mut d);
    data_quality_section(s, &mut d);
    assumptions_section(s, &mut d);
    d
}

/// The chart block of the chart written to `file`, if there is one.
fn chart(charts: &[Chart], file: &str) -> Option<Block> {
    charts.iter().position(|c| c.file == file).map(Block::Chart)
}

/// The headline figures and the one-time costs.
fn headline_section(s: &Summary, d: &mut Vec<Block>) {
    let h = &s.headline;
    d.push(Block::Heading("Headline".into()));
    let mut rows = vec![
        vec!["Monthly cost now".into(), money(h.monthly_cost_now)],
        vec![
            "Monthly cost after the plan".into(),
            money(h.monthly_cost_after),
        ],
        vec!["Monthly savings".into(), money(h.monthly_savings)],
        vec![
            "One-time costs (transitions, early deletion, restores, …)".into(),
            money(h.one_time.total),
        ],
        vec![
            "Net savings over 12 months (after one-time costs)".into(),
            money(h.net_savings_12m),
        ],
    ];
    if h.horizon_months != 12 {
        rows.push(vec![
            format!("Net savings over the {}-month horizon", h.horizon_months),
            money(h.net_savings_horizon),
        ]);
    }
    rows.push(vec!["Payback period".into(), days(h.payback_days)]);
    rows.push(vec![
        "Blobs moved".into(),
        format!(
            "{} of {} ({} of {})",
            n(h.actions),
            n(h.objects),
            bytes(h.bytes_moved),
            bytes(h.bytes)
        ),
    ]);
    d.push(table(&["Figure", "Value"], &[false, true], rows));
    let o = &h.one_time;
    let k = &o.parts;
    let mut parts = vec![
        ("Transition requests (lifecycle or COPY)", k.transition),
        ("Early deletion (minimum storage duration)", k.early_delete),
        ("Restores of archived blobs", k.restore),
        ("Retrieval fees on copied bytes", k.retrieval),
        ("Noncurrent versions left by copies", k.old_version),
        ("Tagging (lifecycle method)", k.tagging),
    ];
    if o.unattributed > 0.0 {
        parts.push(("Not attributable with the current config", o.unattributed));
    }
    parts.push(("Total one-time costs", o.total));
    d.push(table(
        &["One-time cost", "USD"],
        &[false, true],
        parts
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), money(v)])
            .collect(),
    ));
}

/// Bytes and monthly cost by storage class and by tier rule.
fn class_and_tier_section(s: &Summary, charts: &[Chart], d: &mut Vec<Block>) {
    d.push(Block::Heading("By storage class".into()));
    d.push(table(
        &[
            "Class",
            "Blobs now",
            "Bytes now",
            "USD/month now",
            "Blobs after",
            "Bytes after",
            "USD/month after",
        ],
        &[false, true, true, true, true, true, true],
        s.by_class
            .iter()
            .map(|c| {
                vec![
                    format!("`{}`", c.class),
                    n(c.objects_now),
                    bytes(c.bytes_now),
                    money(c.monthly_now),
                    n(c.objects_after),
                    bytes(c.bytes_after),
                    money(c.monthly_after),
                ]
            })
            .collect(),
    ));
    d.extend(chart(charts, "bytes_by_class.svg"));
    d.push(Block::Heading("By tier".into()));
    d.push(table(
        &[
            "Tier",
            "Blobs",
            "Bytes",
            "Moves",
            "Bytes moved",
            "USD/month now",
            "USD/month after",
        ],
        &[false, true, true, true, true, true, true],
        s.by_tier
            .iter()
            .map(|t| {
                vec![
                    format!("`{}`", t.tier),
                    n(t.objects),
                    bytes(t.bytes),
                    n(t.actions),
                    bytes(t.bytes_moved),
                    money(t.monthly_now),
                    money(t.monthly_after),
                ]
            })
            .collect(),
    ));
}

/// The plan against Intelligent-Tiering and lifecycle-only alternatives.
fn alternatives_section(s: &Summary, charts: &[Chart], d: &mut Vec<Block>) {
    let h = &s.headline;
    let a = &s.alternatives;
    d.push(Block::Heading(
        "Versus doing nothing and versus Intelligent-Tiering".into(),
    ));
    d.push(Block::Para(format!(
        "The same {} blobs three ways. Intelligent-Tiering would move {} blobs ({}) with one \
         bucket-wide lifecycle rule; its monitoring fee for all monitored blobs is {}/month and \
         is included.",
        n(h.objects),
        n(a.it_objects),
        bytes(a.it_bytes),
        money(a.it_monitoring_monthly)
    )));
    let be = |m: Option<f64>| m.map_or_else(|| "-".into(), |m| days(Some(m * 30.0)));
    d.push(table(
        &[
            "Option",
            "One-time",
            "First month",
            "Monthly once settled",
            "Cost of 12 months",
            "Net savings over 12 months",
            "Break-even",
        ],
        &[false, true, true, true, true, true, true],
        [
            ("Do nothing", &a.do_nothing),
            ("The plan", &a.plan),
            (
                "Intelligent-Tiering for the same blobs",
                &a.intelligent_tiering,
            ),
        ]
        .into_iter()
        .map(|(name, sc)| {
            vec![
                name.to_string(),
                money(sc.one_time),
                money(sc.monthly_first),
                money(sc.monthly_steady),
                money(sc.cost_12m),
                money(sc.net_savings_12m),
                be(sc.break_even_month),
            ]
        })
        .collect(),
    ));
    d.extend(chart(charts, "cumulative_savings.svg"));
}

/// The moves that save most.
fn top_moves_section(s: &Summary, d: &mut Vec<Block>) {
    d.push(Block::Heading("Top moves by savings".into()));
    if s.top_moves.is_empty() {
        d.push(Block::Para("The plan moves nothing.".into()));
    } else {
        d.push(table(
            &[
                "#",
                "Digest",
                "Size",
                "Move",
                "USD/month now",
                "USD/month after",
                "One-time",
                "Payback",
                "Net 12 months",
            ],
            &[true, false, true, false, true, true, true, true, true],
            s.top_moves
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    vec![
                        (i + 1).to_string(),
                        short(&m.digest),
                        size(m.size),
                        format!("`{}` → `{}`", m.from_class, m.to_class),
                        money(m.monthly_now),
                        money(m.monthly_after),
                        money(m.one_time),
                        days(m.payback_days),
                        money(m.net_savings_12m),
                    ]
                })
                .collect(),
        ));
    }
}

/// How many blobs each reason code decided.
fn reasons_section(s: &Summary, d: &mut Vec<Block>) {
    d.push(Block::Heading("Decisions by reason".into()));
    d.push(Block::Para(
        "Every blob gets one reason code (see `docs/plan.md`); `kept:*` blobs stay where they \
         are."
            .into(),
    ));
    d.push(table(
        &[
            "Reason",
            "Blobs",
            "Bytes",
            "USD/month now",
            "USD/month after",
        ],
        &[false, true, true, true, true],
        s.reasons
            .iter()
            .map(|r| {
                vec![
                    format!("`{}`", r.reason),
                    n(r.objects),
                    bytes(r.bytes),
                    money(r.monthly_now),
                    money(r.monthly_after),
                ]
            })
            .collect(),
    ));
}

/// Days since the last pull, the hot set and pull-through.
fn pull_patterns_section(s: &Summary, charts: &[Chart], d: &mut Vec<Block>) {
    d.push(Block::Heading("Pull patterns".into()));
    d.push(table(
        &["Days since the last pull", "Blobs", "Bytes"],
        &[false, true, true],
        s.days_since_last_pull
            .iter()
            .map(|b| vec![b.label.clone(), n(b.objects), bytes(b.bytes)])
            .collect(),
    ));
    d.extend(chart(charts, "days_since_last_pull.svg"));
    let hs = &s.hot_set;
    d.push(Block::Para(format!(
        "Hot set: the {} most-pulled blobs ({}, cap {}) received {} of the {} pulls of the \
         last 7 days: the hit ratio a pull-through cache or CDN holding them would have had.",
        n(hs.digests),
        bytes(hs.bytes),
        bytes(hs.max_bytes),
        percent(hs.pull_share_7d),
        count(i128::from(hs.pulls_7d))
    )));
    d.extend(chart(charts, "hot_set.svg"));
    let pt = &s.pull_through;
    d.push(Block::Para(format!(
        "{} digests were pulled {} times in 30 days, by {} distinct client–digest pairs: {} \
         pulls ({}) were repeats by a client that had already pulled the blob. A pull-through \
         cache next to those clients (often CI runners) would serve them and save their egress.",
        n(pt.digests_pulled_30d),
        count(i128::from(pt.pulls_30d)),
        count(i128::from(pt.unique_clients_30d)),
        count(i128::from(pt.repeat_pulls_30d)),
        bytes(pt.repeat_bytes_30d)
    )));
    d.extend(chart(charts, "pulls_vs_ratio.svg"));

    if let Some(u) = &s.unreferenced {
        unreferenced_section(d, u);
    }

    if let Some(r) = &s.realized {
        super::realized::section(d, r);
    }

    if let Some(bt) = &s.backtest {
        backtest_section(d, bt);
    }
}

/// Missing log days, rejects and other data-quality figures.
fn data_quality_section(s: &Summary, d: &mut Vec<Block>) {
    let q = &s.data_quality;
    d.push(Block::Heading("Data quality".into()));
    let missing = if q.missing_log_days.is_empty() {
        "none".to_string()
    } else {
        format!(
            "**{}**: {}",
            q.missing_log_days.len(),
            super::format::list_days(&q.missing_log_days)
        )
    };
    let reasons = if q.rejects.rejected_by_reason.is_empty() {
        "-".to_string()
    } else {
        q.rejects
            .rejected_by_reason
            .iter()
            .map(|(k, v)| format!("`{k}` {}", n(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    d.push(table(
        &["Check", "Value"],
        &[false, false],
        vec![
            vec![
                format!("Days without any log input in the last {}", q.window_days),
                missing,
            ],
            vec![
                "Inventory snapshot (age at as-of)".into(),
                match (&q.inventory_snapshot, q.inventory_age_days) {
                    (Some(snap), Some(age)) => format!("{snap} ({age} days)"),
                    _ => "none".into(),
                },
            ],
            vec![
                "Digests pulled but missing from the inventory (their 30-day pulls)".into(),
                format!(
                    "{} ({})",
                    n(q.digests_not_in_inventory),
                    count(i128::from(q.pulls_30d_not_in_inventory))
                ),
            ],
            vec![
                "Log lines read / rejected".into(),
                format!(
                    "{} / {} in {} input(s)",
                    n(q.rejects.lines_read),
                    n(q.rejects.rejected_lines),
                    n(q.rejects.log_inputs)
                ),
            ],
            vec!["Rejected lines by reason".into(), reasons],
            vec![
                "Inventory rows read / rejected".into(),
                format!(
                    "{} / {}",
                    n(q.rejects.inventory_rows),
                    n(q.rejects.inventory_rejected_rows)
                ),
            ],
            vec![
                "Moves held back by the coverage guard".into(),
                match (&q.held_down, &q.gaps_allowed) {
                    (Some(why), _) => why.clone(),
                    (None, Some(why)) => format!("no: overridden with `--allow-gaps` ({why})"),
                    (None, None) => "no".into(),
                },
            ],
        ],
    ));
}

/// The assumptions the numbers rest on.
fn assumptions_section(s: &Summary, d: &mut Vec<Block>) {
    let asm = &s.assumptions;
    d.push(Block::Heading("Assumptions".into()));
    d.push(Block::List(asm.statements.clone()));
    d.push(Block::Para(format!(
        "Estimator `{}`; horizon {} months; longest payback {} days; restore tier `{}`; move \
         method `{}`; blobs under {} never move. Tier rules, first match wins:",
        asm.estimator,
        asm.horizon_months,
        asm.max_payback_days,
        asm.restore_tier,
        asm.method,
        bytes(asm.min_size)
    )));
    d.push(table(
        &["Tier", "When", "Class"],
        &[false, false, false],
        asm.tiers
            .iter()
            .map(|t| {
                vec![
                    format!("`{}`", t.name),
                    format!("`{}`", t.when),
                    format!("`{}`", t.class),
                ]
            })
            .collect(),
    ));
}

/// The versioned buckets the plan copies in: what their old versions cost, and the
/// `NoncurrentVersionExpiration` rule that ends it (absent when there is none).
fn versioning_section(s: &Summary, d: &mut Vec<Block>) {
    if s.versioning.is_empty() {
        return;
    }
    d.push(Block::Heading("Versioned buckets".into()));
    d.push(Block::Para(
        "In a versioned bucket a copy in place makes a new version; the old one stays, billed \
         in its old class, until something deletes it. The plan prices each copy's old version \
         for `plan.noncurrent_days` (in the one-time costs). Lifecycle transitions change the \
         current version in place and leave none. blobtier never deletes versions: a \
         `NoncurrentVersionExpiration` rule does."
            .into(),
    ));
    d.push(table(
        &[
            "Bucket",
            "Versioning known from",
            "Copies",
            "Bytes",
            "Old versions for",
            "Their cost",
        ],
        &[false, false, true, true, true, true],
        s.versioning
            .iter()
            .map(|v| {
                vec![
                    v.bucket.clone(),
                    v.source.clone(),
                    n(v.copies),
                    bytes(v.bytes),
                    format!("{} days", v.noncurrent_days),
                    money(v.old_version_cost),
                ]
            })
            .collect(),
    ));
    d.push(Block::List(
        s.versioning
            .iter()
            .map(|v| {
                format!(
                    "`{}`: add the rule `{}` to the bucket's lifecycle configuration, keeping its \
                     other rules (a PUT replaces them all: read them with `aws s3api \
                     get-bucket-lifecycle-configuration --bucket {}`, add this one to `Rules`, \
                     save as `lifecycle.json`, then `{}`), or let `blobtier apply --execute \
                     --noncurrent-expiration` merge it in.",
                    v.bucket, v.rule, v.bucket, v.cli
                )
            })
            .collect(),
    ));
}

fn unreferenced_section(d: &mut Vec<Block>, u: &super::Unreferenced) {
    d.push(Block::Heading("Unreferenced blobs".into()));
    d.push(Block::Para(format!(
        "{} blobs ({}) are referenced by no manifest of any repository: `registry \
         garbage-collect` would delete them. They cost {} a month now, {} after the plan ({} of \
         them move). blobtier reports them and never deletes anything; run the registry's \
         garbage collection (registry in read-only mode) to reclaim them.",
        n(u.blobs),
        bytes(u.bytes),
        money(u.monthly_cost_now),
        money(u.monthly_cost_after),
        n(u.planned_moves)
    )));
    if !u.largest.is_empty() {
        d.push(table(
            &["Blob", "Size", "Class", "Monthly cost now"],
            &[false, true, false, true],
            u.largest
                .iter()
                .map(|b| {
                    vec![
                        short(&b.digest),
                        size(b.size),
                        b.storage_class.clone(),
                        money(b.monthly_cost_now),
                    ]
                })
                .collect(),
        ));
    }
}

fn backtest_section(d: &mut Vec<Block>, bt: &super::backtest::Backtest) {
    d.push(Block::Heading(format!(
        "Backtest: the policy replayed over {} days",
        bt.horizon_days
    )));
    d.push(Block::Para(format!(
        "The plan was made as of {} using only data up to that day, then the {} days of real \
         pulls up to {} were replayed against it (plan `{}`).",
        bt.decision_day, bt.horizon_days, bt.as_of, bt.plan_id
    )));
    let r = &bt.replay;
    let mut rows = vec![
        vec![
            "Moves decided".into(),
            format!(
                "{} of {} blobs ({})",
                n(bt.decisions.actions),
                n(bt.decisions.blobs),
                bytes(bt.decisions.bytes_moved)
            ),
        ],
        vec!["Pulls in the replay window".into(), n(r.pulls)],
        vec![
            "Pulls that hit blobs moved to a cheaper class".into(),
            format!(
                "{} on {} blob(s) (the estimator expected {:.1})",
                n(r.pulls_on_moved),
                n(r.blobs_moved_pulled),
                r.expected_pulls_on_moved
            ),
        ],
    ];
    for (class, c) in &r.by_class {
        rows.push(vec![
            format!("… in `{class}`"),
            format!(
                "{} pull(s) on {} of {} moved blob(s), {} retrieved, {} in requests and retrieval",
                n(c.pulls),
                n(c.blobs_pulled),
                n(c.blobs_moved),
                bytes(c.bytes),
                money(c.access_cost)
            ),
        ]);
    }
    rows.extend([
        vec![
            "Pulls that would have failed (archived, restore needed)".into(),
            format!(
                "{} (plus {} on blobs already archived before the plan)",
                n(r.failed_pulls),
                n(r.failed_pulls_already_archived)
            ),
        ],
        vec!["Restore cost of those pulls".into(), money(r.restore_cost)],
        vec![
            "Requests and retrieval of pulls on moved blobs, beyond what they cost in their old class"
                .into(),
            money(r.extra_access_cost),
        ],
        vec!["One-time costs of the moves".into(), money(bt.one_time_cost)],
        vec![
            format!("Predicted net savings over {} days", bt.horizon_days),
            money(bt.predicted_savings),
        ],
        vec![
            format!("Realised net savings over {} days", bt.horizon_days),
            money(bt.realised_savings),
        ],
    ]);
    d.push(table(&["Figure", "Value"], &[false, true], rows));
    if !bt.top_misses.is_empty() {
        d.push(table(
            &[
                "Digest",
                "Size",
                "Moved to",
                "Pulls after the move",
                "Extra cost",
            ],
            &[false, true, false, true, true],
            bt.top_misses
                .iter()
                .map(|m| {
                    vec![
                        short(&m.digest),
                        size(m.size),
                        format!("`{}`", m.to_class),
                        n(m.pulls),
                        money(m.extra_cost),
                    ]
                })
                .collect(),
        ));
    }
    if !bt.warnings.is_empty() {
        d.push(Block::List(bt.warnings.clone()));
    }
}
