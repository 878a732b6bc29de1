//! Tier rules: ordered SQL boolean expressions over the `digest_stats` columns, evaluated by
//! the same engine as `queries/` (first match wins). Rules are checked when the config is
//! loaded: an expression that does not parse, references an unknown column or is not boolean
//! is rejected with the key and the list of columns.

use std::collections::BTreeMap;

use polars::prelude::*;
use polars::sql::SQLContext;

use crate::config::{ConfigError, TierRule};
use crate::stats::template::{expand, Dialect};

/// The `digest_stats` schema for `windows`, obtained by running the stats query on empty
/// tables (so it can never drift from the query).
pub fn stats_schema(windows: &[u32]) -> PolarsResult<DataFrame> {
    polars::error::set_warning_function(|_, _| {});
    let opts = crate::stats::StatsOptions {
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date"),
        windows: windows.to_vec(),
        include_scanners: false,
    };
    let sql = expand(
        crate::stats::DIGEST_STATS_SQL,
        windows,
        &crate::stats::params(&opts),
        Dialect::Polars,
    )
    .map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
    let mut ctx = SQLContext::new();
    for table in [
        "pulls",
        "manifest_pulls",
        "inventory",
        "blob_refs",
        "manifest_refs",
        "tags",
    ] {
        ctx.register(table, crate::stats::empty_table(table)?.lazy());
    }
    ctx.execute(&sql)?.collect()
}

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

/// Checks every rule against the stats schema; errors name `plan.tiers[i].when`.
pub fn validate_rules(rules: &[TierRule], windows: &[u32]) -> Result<(), Vec<ConfigError>> {
    let empty = stats_schema(windows).map_err(|e| {
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
        .map(|r| (r.name.clone(), r.class.clone()))
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
                class: t.class,
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
}
