//! The report's "Planned vs realized" section: what the earlier plans' moves were planned to
//! cost a month and what the moved objects cost now, per target class, and how many of them
//! landed, from `plan.summary.json`'s `realized` ([`crate::plan::realized`], which computes
//! every figure; this file only picks them up and lays them out).
//!
//! Must not: compute figures (the plan did), or show anything when there was no earlier plan.

use super::document::Block;
use super::format::{count, money};

/// The section's figures: the plan's own summary.
pub type Realized = crate::plan::realized::RealizedSummary;

/// The `realized` part of `plan.summary.json`, if the plan had earlier plans to compare.
pub fn from_plan_summary(plan_summary: &serde_json::Value) -> Option<Realized> {
    serde_json::from_value(plan_summary.get("realized")?.clone()).ok()
}

/// The section's blocks.
pub fn section(d: &mut Vec<Block>, r: &Realized) {
    d.push(Block::Heading("Planned vs realized".into()));
    let statuses: Vec<String> = r
        .by_status
        .iter()
        .map(|(s, n)| format!("{} {}", count(i128::from(*n)), s.replace('_', " ")))
        .collect();
    d.push(Block::Para(format!(
        "The newest action of {} earlier plan(s) on each of {} object(s), against the newest \
         inventory: {}. Planned monthly savings {}; realized (what the objects cost now, in the \
         class the inventory shows, at today's pulls) {}.",
        count(i128::from(r.plans)),
        count(i128::from(r.actions)),
        statuses.join(", "),
        money(r.planned_monthly_savings),
        money(r.realized_monthly_savings),
    )));
    d.push(Block::Table {
        head: [
            "Target class",
            "Objects",
            "Landed",
            "Monthly before",
            "Planned after",
            "Billed now",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .by_class
            .iter()
            .map(|(class, c)| {
                vec![
                    class.clone(),
                    count(i128::from(c.objects)),
                    count(i128::from(c.landed)),
                    money(c.planned_before),
                    money(c.planned_after),
                    money(c.billed_now),
                ]
            })
            .collect(),
        numeric: vec![false, true, true, true, true, true],
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_shows_the_plans_figures() {
        let v = serde_json::json!({
            "realized": {
                "plans": 2,
                "actions": 3,
                "by_status": {"landed": 2, "pending": 1},
                "by_class": {"GLACIER_IR": {
                    "objects": 3, "landed": 2, "planned_before": 0.069,
                    "planned_after": 0.012, "billed_now": 0.031
                }},
                "planned_monthly_savings": 0.057,
                "realized_monthly_savings": 0.038
            }
        });
        let r = from_plan_summary(&v).unwrap();
        assert_eq!(r.by_class["GLACIER_IR"].landed, 2);
        let mut d = Vec::new();
        section(&mut d, &r);
        let text = format!("{d:?}");
        assert!(text.contains("Planned vs realized"), "{text}");
        assert!(text.contains("2 landed, 1 pending"), "{text}");
        assert!(text.contains(&money(0.038)), "{text}");
        assert!(text.contains(&money(0.031)), "{text}");
        assert!(from_plan_summary(&serde_json::json!({})).is_none());
    }
}
