//! What the HEAD before an attempt says to do, and the prologue every action shares: HEAD the
//! current object, then [`decide`].
//!
//! Invariants: the decision is made on the current object (HEAD without a version id), so a
//! repeated attempt sees what an earlier one did; "already in the target class" wins over
//! every other finding (a multipart copy changes the ETag); a planned version that is no longer
//! the current one is never copied. [`decide`] is pure; [`head_then_decide`] only reads.

use std::ops::ControlFlow;

use super::{done, Attempts, Ctx, Op, Step};
use crate::apply::s3::{unquote, CallError, Head, Sse};
use crate::plan::file::PlanRow;

/// The version a row names, if any (`null`/empty mean an unversioned object).
pub fn planned_version(row: &PlanRow) -> Option<&str> {
    row.version_id
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "null")
}

/// What the HEAD before an attempt says to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Already in the target class.
    AlreadyDone,
    /// Changed since the plan (the reason: `gone`, `etag`, `not_current`).
    Changed(&'static str),
    /// Same object, but no longer in the plan's `from_class` (moved by a lifecycle rule or by
    /// someone else since planning): the plan's costs no longer hold, so nothing is done.
    ClassChanged,
    /// SSE-C: apply holds no customer keys.
    SseC,
    /// Go ahead.
    Proceed,
}

/// Decides from the current object (HEAD without a version id). Pure.
pub fn decide(row: &PlanRow, head: Option<&Head>) -> Decision {
    let Some(h) = head else {
        return Decision::Changed("gone");
    };
    if let Some(v) = planned_version(row) {
        if h.version_id.as_deref() != Some(v) {
            // A newer version is current: ours from an earlier attempt (then it is in the
            // target class) or someone else's.
            return if h.class == row.to_class.as_str() {
                Decision::AlreadyDone
            } else {
                Decision::Changed("not_current")
            };
        }
    }
    if h.class == row.to_class.as_str() {
        return Decision::AlreadyDone;
    }
    if let (Some(p), Some(e)) = (row.etag.as_deref(), h.etag.as_deref()) {
        if unquote(p) != e {
            return Decision::Changed("etag");
        }
    }
    if h.class != row.from_class.as_str() {
        return Decision::ClassChanged;
    }
    if h.sse == Sse::Customer {
        return Decision::SseC;
    }
    Decision::Proceed
}

/// The start of every attempt of every action: HEAD the current object and [`decide`].
/// `Continue(head)`: go on with the object as it is now. `Break(step)`: the attempt ends with
/// `step` — already in the target class (`copied`/`restored` when this action's own copy got
/// there, else `skipped:already_done`), changed since the plan (`skipped:changed`), or an
/// SSE-C object (`skipped:sse_c`; a lifecycle action goes on, since tagging needs no key).
pub(super) async fn head_then_decide(
    ctx: &Ctx,
    row: &PlanRow,
    st: &Attempts,
    op: Op,
) -> Result<ControlFlow<Step, Head>, CallError> {
    let head = ctx.s3.head(&row.bucket, &row.key, None).await?;
    let step = match decide(row, head.as_ref()) {
        Decision::AlreadyDone => {
            let ours = match op {
                Op::Copy => Some("copied"),
                Op::Restore => Some("restored"),
                Op::Lifecycle => None,
            };
            done(match ours {
                Some(result) if st.copy_sent => result,
                _ => "skipped:already_done",
            })
        }
        Decision::Changed(why) => Step::Done {
            result: "skipped:changed",
            detail: Some(why.into()),
        },
        Decision::ClassChanged => Step::Done {
            result: "skipped:class_changed",
            detail: Some(format!(
                "in {} now, planned from {}",
                head.as_ref().map_or("?", |h| h.class.as_str()),
                row.from_class
            )),
        },
        // Tagging needs no key: lifecycle transitions SSE-C objects like any other.
        Decision::SseC if op != Op::Lifecycle => Step::Done {
            result: "skipped:sse_c",
            detail: Some("SSE-C object: apply holds no customer keys".into()),
        },
        Decision::SseC | Decision::Proceed => {
            return Ok(ControlFlow::Continue(
                head.expect("decide goes on only with a head"),
            ))
        }
    };
    Ok(ControlFlow::Break(step))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::s3::SystemMeta;
    use crate::plan::file::testing::row;

    fn head(class: &str, etag: &str, version: Option<&str>) -> Head {
        Head {
            class: class.into(),
            etag: Some(etag.into()),
            size: 10,
            version_id: version.map(str::to_owned),
            restore: None,
            archive_status: None,
            sse: Sse::None,
            meta: SystemMeta::default(),
            website_redirect: None,
            lock: Default::default(),
        }
    }

    #[test]
    fn decisions() {
        let plain = row("k");
        let v1 = PlanRow {
            version_id: Some("v1".into()),
            ..row("k")
        };
        // `null` is an unversioned object.
        let null = PlanRow {
            version_id: Some("null".into()),
            ..row("k")
        };
        let sse_c = Head {
            sse: Sse::Customer,
            ..head("STANDARD", "e1", None)
        };
        let h = |class: &str, etag: &str, version: Option<&str>| Some(head(class, etag, version));
        use Decision::{AlreadyDone, Changed, ClassChanged, Proceed, SseC};
        let cases = [
            ("gone", &plain, None, Changed("gone")),
            ("unchanged", &plain, h("STANDARD", "e1", None), Proceed),
            (
                "in class",
                &plain,
                h("STANDARD_IA", "e1", None),
                AlreadyDone,
            ),
            // Already in the class wins over a changed ETag (a multipart source changes its
            // ETag when copied).
            (
                "in class, etag",
                &plain,
                h("STANDARD_IA", "zz", None),
                AlreadyDone,
            ),
            ("etag", &plain, h("STANDARD", "e2", None), Changed("etag")),
            // Moved since planning (a lifecycle rule, someone else): the plan priced a move
            // from STANDARD, not from GLACIER_IR.
            ("class", &plain, h("GLACIER_IR", "e1", None), ClassChanged),
            ("sse-c", &plain, Some(sse_c), SseC),
            // Versioned: the planned version must be the current one.
            ("current", &v1, h("STANDARD", "e1", Some("v1")), Proceed),
            (
                "newer",
                &v1,
                h("STANDARD", "e1", Some("v2")),
                Changed("not_current"),
            ),
            (
                "newer, in class",
                &v1,
                h("STANDARD_IA", "e1", Some("v2")),
                AlreadyDone,
            ),
            ("null", &null, h("STANDARD", "e1", Some("null")), Proceed),
            (
                "null, unversioned",
                &null,
                h("STANDARD", "e1", None),
                Proceed,
            ),
        ];
        for (case, r, h, want) in cases {
            assert_eq!(decide(r, h.as_ref()), want, "{case}");
        }
    }
}
