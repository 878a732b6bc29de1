//! Test support for apply's unit tests: one plan row with every field filled, which a test
//! changes with struct-update syntax (`PlanRow { to_class: …, ..row("k") }`). Test builds only.

use crate::plan::file::PlanRow;

/// A `transition` by `copy` of `b/<key>`, STANDARD -> STANDARD_IA (tier `cool`), 10 bytes,
/// planned with the ETag `"e1"`, unversioned.
pub(crate) fn row(key: &str) -> PlanRow {
    PlanRow {
        plan_id: String::new(),
        as_of: 20_000,
        bucket: "b".into(),
        key: key.into(),
        version_id: None,
        etag: Some("\"e1\"".into()),
        size: 10,
        digest: "sha256:00".into(),
        from_class: "STANDARD".into(),
        to_class: "STANDARD_IA".into(),
        tier: "cool".into(),
        action: crate::model::Action::Transition,
        method: crate::model::Method::Copy,
        reason: "moved:cool".into(),
        expected_pulls_30d: 0.0,
        monthly_cost_now: 0.0,
        monthly_cost_after: 0.0,
        one_time_cost: 0.0,
        payback_days: None,
        net_savings_12m: 0.0,
    }
}
