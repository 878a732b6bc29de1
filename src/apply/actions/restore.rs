//! The `restore` action: RestoreObject for an archived object, then — once the restore has
//! finished, in this run or a later one — a copy back to the target class ([`copy_to`]).
//!
//! Invariants: a restore is requested at most once per run and never again while one is
//! running (`ongoing-request`); a restore still running is `pending`, not a failure; the copy
//! back has the same guarantees as a `copy` action.

use std::ops::ControlFlow;

use aws_sdk_s3::types::Tier;
use tracing::{debug, warn};

use super::copy::copy_to;
use super::decide::{head_then_decide, planned_version};
use super::{line, Action, Attempts, Ctx, Op, Step};
use crate::apply::classify::Class;
use crate::apply::journal::Prior;
use crate::apply::s3::{CallError, RestoreState};
use crate::plan::file::PlanRow;

/// The restore tier a row asks for: the `tier` column or the reason's last `:` part when it
/// names one (`bulk`, `standard`, `expedited`), else `default`.
pub fn restore_tier(row: &PlanRow, default: &Tier) -> Tier {
    let named = |s: &str| match s.to_ascii_lowercase().as_str() {
        "bulk" => Some(Tier::Bulk),
        "standard" => Some(Tier::Standard),
        "expedited" => Some(Tier::Expedited),
        _ => None,
    };
    named(&row.tier)
        .or_else(|| row.reason.rsplit(':').next().and_then(named))
        .unwrap_or_else(|| default.clone())
}

/// One attempt of a `restore` action: HEAD, decide; an object that is not (or no longer)
/// archived, or whose restore has finished, is copied to the target class; otherwise a
/// RestoreObject is sent once and the action is left `pending` for a later run.
pub(super) async fn attempt(
    ctx: &Ctx,
    a: Action,
    row: &PlanRow,
    st: &mut Attempts,
    prior: Option<&Prior>,
) -> Result<Step, CallError> {
    let head = match head_then_decide(ctx, row, st, Op::Restore).await? {
        ControlFlow::Continue(head) => head,
        ControlFlow::Break(step) => return Ok(step),
    };
    if !head.archived() {
        return copy_to(ctx, row, st, &head, row.to_class.as_str(), "restored").await;
    }
    match head.restore {
        Some(RestoreState::Done) => {
            copy_to(ctx, row, st, &head, row.to_class.as_str(), "restored").await
        }
        Some(RestoreState::Ongoing) => {
            debug!(
                requested_earlier = matches!(prior, Some(Prior::RestoreRequested)),
                "restore still running"
            );
            Ok(Step::Pending)
        }
        None => {
            if st.restore_sent {
                // Requested by this run, yet no restore shows: leave it for the next run.
                return Ok(Step::Pending);
            }
            let version = planned_version(row);
            let days = (head.class != "INTELLIGENT_TIERING").then_some(ctx.tuning.restore_days);
            let tier = restore_tier(row, &ctx.tuning.restore_tier);
            st.restore_sent = true;
            let r = ctx
                .s3
                .restore(&row.bucket, &row.key, version, days, &tier)
                .await;
            match r {
                Ok(()) => {}
                Err(e) if e.class == Class::AlreadyDone => {}
                Err(e) if e.code() == "GlacierExpeditedRetrievalNotAvailable" => {
                    warn!("expedited retrieval not available; requesting a Standard restore");
                    match ctx
                        .s3
                        .restore(&row.bucket, &row.key, version, days, &Tier::Standard)
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if e.class == Class::AlreadyDone => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
            ctx.note(ctx.journal.action(&line(a, row, "restore_requested", st.n)));
            // Some restores finish at once (and every restore on the test servers does).
            match ctx.s3.head(&row.bucket, &row.key, None).await? {
                Some(h) if h.restore == Some(RestoreState::Done) => {
                    copy_to(ctx, row, st, &h, row.to_class.as_str(), "restored").await
                }
                _ => Ok(Step::Pending),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::file::testing::row;

    #[test]
    fn restore_tier_from_row() {
        let mut r = row("k");
        assert_eq!(restore_tier(&r, &Tier::Bulk), Tier::Bulk);
        r.tier = "Standard".into();
        assert_eq!(restore_tier(&r, &Tier::Bulk), Tier::Standard);
        r.tier = "reheat".into();
        r.reason = "restore:expedited".into();
        assert_eq!(restore_tier(&r, &Tier::Bulk), Tier::Expedited);
    }
}
