//! Tier rules: ordered SQL boolean expressions over the `digest_stats` columns, evaluated by
//! the same engine as `queries/` (first match wins). Rules are checked when the config is
//! loaded: an expression that does not parse, references an unknown column or is not boolean
//! is rejected with the key and the list of columns. The schema comes from the query layer
//! ([`crate::query::stats_schema`]), for windows the plan can use.

use std::collections::BTreeMap;

use polars::prelude::*;
use polars::sql::SQLContext;

use crate::config::{ConfigError, TierRule};
use crate::model::windows::Windows;

/// The query that adds `tier` and `target_class` to `digest_stats`.
pub fn tier_sql(rules: &[TierRule]) -> String {
    let mut tier = String::from("CASE");
    let mut class = String::from("CASE");
    for r in rules {
        tier.push_str(&format!("\n    WHEN ({}) THEN '{}'", r.when, r.name));
        class.push_str(&format!("\n    WHEN ({}) THEN '{}'", r.when, r.class));
    }
    if rules.is_empty() {
        tier.push_str(" WHEN FALSE THEN ''");
        class.push_str(" WHEN FALSE THEN ''");
    }
    format!(
        "SELECT *,\n  {tier}\n  END AS tier,\n  {class}\n  END AS target_class\nFROM digest_stats"
    )
}

/// Checks every rule against the `digest_stats` schema of `windows` (the stats the rules will
/// read: `run.windows`); errors name `plan.tiers[i].when`, or `run.windows` when the plan cannot
/// use those windows at all.
pub fn validate_rules(rules: &[TierRule], windows: &[u32]) -> Result<(), Vec<ConfigError>> {
    let windows = Windows::new(windows).map_err(|e| {
        vec![ConfigError {
            key: "run.windows".into(),
            reason: e.to_string(),
        }]
    })?;
    let empty = crate::query::stats_schema(&windows).map_err(|e| {
        vec![ConfigError {
            key: "plan.tiers".into(),
            reason: format!("internal: cannot build the stats schema: {e}"),
        }]
    })?;
    let columns: Vec<String> = empty
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let mut errors = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let mut ctx = SQLContext::new();
        ctx.register("digest_stats", empty.clone().lazy());
        let res = ctx
            .execute(&format!("SELECT ({}) AS ok FROM digest_stats", r.when))
            .and_then(|lf| lf.collect());
        let problem = match res {
            Err(e) => Some(e.to_string()),
            Ok(df) => match df.column("ok").map(|c| c.dtype().clone()) {
                Ok(DataType::Boolean) => None,
                Ok(t) => Some(format!("expected a boolean expression, got type {t}")),
                Err(e) => Some(e.to_string()),
            },
        };
        if let Some(p) = problem {
            let p = p.lines().next().unwrap_or_default().to_string();
            errors.push(ConfigError {
                key: format!("plan.tiers[{i}].when"),
                reason: format!(
                    "`{}` is not valid: {p}; available columns: {}",
                    r.when,
                    columns.join(", ")
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Tier name → target class, for reports.
pub fn classes(rules: &[TierRule]) -> BTreeMap<String, String> {
    rules
        .iter()
        .map(|r| (r.name.clone(), r.class.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(when: &str) -> TierRule {
        TierRule {
            name: "x".into(),
            when: when.into(),
            class: "STANDARD".into(),
        }
    }

    #[test]
    fn default_rules_validate() {
        let rules: Vec<TierRule> = crate::config::default_tiers(30)
            .into_iter()
            .map(|t| TierRule {
                name: t.name,
                when: t.when,
                class: t.class.parse().unwrap(),
            })
            .collect();
        validate_rules(&rules, &[7, 30, 90]).unwrap();
    }

    #[test]
    fn bad_rules_name_the_key_and_list_columns() {
        let errs = validate_rules(
            &[
                rule("pulls_7d > 1"),
                rule("pulz_7d > 1"),
                rule("pulls_7d +"),
                rule("pulls_7d + 1"),
            ],
            &[7, 30, 90],
        )
        .unwrap_err();
        let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "plan.tiers[1].when",
                "plan.tiers[2].when",
                "plan.tiers[3].when"
            ]
        );
        assert!(
            errs[0].reason.contains("available columns: digest, bucket"),
            "{}",
            errs[0].reason
        );
        assert!(
            errs[2].reason.contains("expected a boolean"),
            "{}",
            errs[2].reason
        );
    }

    /// The windows decide which columns a rule may use, and a list the plan cannot read is
    /// refused under its own key. See: issue 14.
    #[test]
    fn rules_are_checked_against_the_windows_given() {
        let fortnight = [rule("pulls_14d > 1")];
        validate_rules(&fortnight, &[7, 14, 30, 90]).unwrap();
        validate_rules(&fortnight, &[90, 30, 14, 7, 14]).unwrap();
        let errs = validate_rules(&fortnight, &[7, 30, 90]).unwrap_err();
        assert_eq!(errs[0].key, "plan.tiers[0].when");
        for unusable in [&[7, 14][..], &[], &[0, 7, 30, 90]] {
            let errs = validate_rules(&fortnight, unusable).unwrap_err();
            let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, ["run.windows"], "{unusable:?}");
        }
    }
}
