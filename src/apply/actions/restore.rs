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
use super::{line, Action, Attempts, Ctx, Op, Step, Tuning};
use crate::apply::classify::Class;
use crate::apply::journal::Prior;
use crate::apply::s3::{CallError, RestoreState};
use crate::model::RestoreTier;
use crate::plan::file::PlanRow;

/// The restore a row asks for, (tier, `Days`): the row's `restore_tier` and `restore_days`
/// (what the plan priced), else — plans written before those columns — `--restore-tier` and
/// `--restore-days` (`tuning`).
pub fn restore_request(row: &PlanRow, tuning: &Tuning) -> (Tier, i32) {
    let tier = match row.restore_tier {
        Some(RestoreTier::Bulk) => Tier::Bulk,
        Some(RestoreTier::Standard) => Tier::Standard,
        Some(RestoreTier::Expedited) => Tier::Expedited,
        None => tuning.restore_tier.clone(),
    };
    let days = row.restore_days.map_or(tuning.restore_days, |d| {
        i32::try_from(d).unwrap_or(i32::MAX)
    });
    (tier, days)
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
            let (tier, days) = restore_request(row, &ctx.tuning);
            let days = (head.class != "INTELLIGENT_TIERING").then_some(days);
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
    use crate::apply::retry::BackoffConfig;
    use crate::plan::file::testing::row;

    fn tuning() -> Tuning {
        Tuning {
            multipart_threshold: 5 << 30,
            part_size: 512 << 20,
            retry_budget: std::time::Duration::from_secs(60),
            backoff: BackoffConfig {
                init: std::time::Duration::from_millis(1),
                max: std::time::Duration::from_millis(1),
                base: 3.0,
            },
            restore_days: 7,
            restore_tier: Tier::Bulk,
        }
    }

    /// A restore row as the plan writes it (tier `reheat`, reason `restore:pulled`) is
    /// restored with the tier and days it carries, not `--restore-tier` / `--restore-days`.
    /// See: issue 15.
    #[test]
    fn restore_request_comes_from_the_row() {
        let planned = PlanRow {
            tier: "reheat".into(),
            reason: "restore:pulled".into(),
            restore_tier: Some(RestoreTier::Standard),
            restore_days: Some(3),
            ..row("k")
        };
        assert_eq!(restore_request(&planned, &tuning()), (Tier::Standard, 3));
        let expedited = PlanRow {
            restore_tier: Some(RestoreTier::Expedited),
            ..planned.clone()
        };
        assert_eq!(restore_request(&expedited, &tuning()).0, Tier::Expedited);
        // A plan written before the columns: the flags.
        let old = PlanRow {
            restore_tier: None,
            restore_days: None,
            ..planned
        };
        assert_eq!(restore_request(&old, &tuning()), (Tier::Bulk, 7));
    }
}
