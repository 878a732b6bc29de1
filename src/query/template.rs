//! Expansion of the portable query templates in `queries/`: the one expander. blobtier runs
//! the Polars expansion itself; Spark, DuckDB and Athena/Trino get theirs from `blobtier sql`.
//! - `-- @each window` … `-- @end`: the enclosed lines once per window, `{N}` → N;
//! - `${name}`: a parameter;
//! - `{{days_between(a, b)}}`: whole days from date `a` to date `b`, the one construct whose
//!   text differs between engines ([`Dialect`]).
//!
//! Full-line comments are dropped (they may mention `${…}` and `{{…}}` in prose). Nothing else
//! of the text changes, except that [`Dialect::Trino`] quotes identifiers with double quotes.
//! Pure: no I/O.

use std::collections::BTreeMap;

crate::model::vocabulary! {
    /// Target engine of an expansion (`blobtier sql --dialect`).
    pub enum Dialect ("SQL dialect") {
        /// Polars SQL (the Rust crate; what `stats` and `plan` run).
        Polars = "polars",
        /// Spark SQL (`spark/run_stats.py`).
        Spark = "spark",
        /// DuckDB.
        Duckdb = "duckdb",
        /// Athena (engine v3) and Trino.
        Trino = "trino",
    }
}

impl Dialect {
    /// `{{days_between(a, b)}}`: whole days from date `a` to date `b`.
    fn days_between(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Polars => {
                format!("(CAST(CAST({b} AS DATE) AS INTEGER) - CAST(CAST({a} AS DATE) AS INTEGER))")
            }
            Dialect::Spark => format!("datediff({b}, {a})"),
            Dialect::Duckdb => format!("datediff('day', {a}, {b})"),
            Dialect::Trino => format!("date_diff('day', {a}, {b})"),
        }
    }
}

/// Expansion failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${name}` without a value.
    #[error("unknown parameter `${{{0}}}`")]
    UnknownParam(String),
    /// `@each` without `@end`, or a bad macro.
    #[error("malformed template: {0}")]
    Malformed(String),
}

/// Expands `text` for `windows` with `params`.
pub fn expand(
    text: &str,
    windows: &[u32],
    params: &BTreeMap<String, String>,
    dialect: Dialect,
) -> Result<String, TemplateError> {
    let repeated = expand_blocks(text, windows)?;
    let with_params = replace_delimited(&repeated, "${", "}", |name| {
        params
            .get(name)
            .cloned()
            .ok_or_else(|| TemplateError::UnknownParam(name.into()))
    })?;
    let out = replace_delimited(&with_params, "{{", "}}", |call| {
        let call = call.trim();
        let args = call
            .strip_prefix("days_between(")
            .and_then(|a| a.strip_suffix(')'))
            .ok_or_else(|| TemplateError::Malformed(format!("unknown macro `{call}`")))?;
        let (a, b) = split_top_comma(args).ok_or_else(|| {
            TemplateError::Malformed(format!("`days_between` takes two arguments: `{call}`"))
        })?;
        Ok(dialect.days_between(a, b))
    })?;
    Ok(match dialect {
        // Trino/Athena quote identifiers with double quotes only; the queries use backticks
        // for identifiers and never double quotes.
        Dialect::Trino => out.replace('`', "\""),
        _ => out,
    })
}

/// Step 1: `@each` blocks repeated per window; full-line comments dropped.
fn expand_blocks(text: &str, windows: &[u32]) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len() * 2);
    let mut block: Option<Vec<&str>> = None;
    for line in text.lines() {
        let t = line.trim();
        if t == "-- @each window" {
            if block.is_some() {
                return Err(TemplateError::Malformed("nested `@each`".into()));
            }
            block = Some(Vec::new());
        } else if t == "-- @end" {
            let b = block
                .take()
                .ok_or_else(|| TemplateError::Malformed("`@end` without `@each`".into()))?;
            for n in windows {
                for l in &b {
                    out.push_str(&l.replace("{N}", &n.to_string()));
                    out.push('\n');
                }
            }
        } else if t.starts_with("--") {
            // Comments are dropped: they may mention `${…}` and `{{…}}` in prose.
        } else if let Some(b) = block.as_mut() {
            b.push(line);
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if block.is_some() {
        return Err(TemplateError::Malformed("`@each` without `@end`".into()));
    }
    Ok(out)
}

/// Replaces every `open` … `close` in `text` by `f` of what is between them.
fn replace_delimited(
    text: &str,
    open: &str,
    close: &str,
    mut f: impl FnMut(&str) -> Result<String, TemplateError>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        out.push_str(&rest[..at]);
        let inner = &rest[at + open.len()..];
        let end = inner
            .find(close)
            .ok_or_else(|| TemplateError::Malformed(format!("unterminated `{open}`")))?;
        out.push_str(&f(&inner[..end])?);
        rest = &inner[end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

fn split_top_comma(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => return Some((s[..i].trim(), s[i + 1..].trim())),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "SELECT\n  -- @each window\n  x_{N} AS y_{N}, '${from_{N}}',\n  -- @end\n  {{days_between(CAST(a AS DATE), f(b, c))}} AS `key`\n";

    fn params() -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("from_7".to_string(), "2026-01-01".to_string());
        p.insert("from_30".to_string(), "2025-12-09".to_string());
        p
    }

    #[test]
    fn expands_blocks_params_and_macros() {
        let p = params();
        let pol = expand(T, &[7, 30], &p, Dialect::Polars).unwrap();
        assert!(pol.contains("x_7 AS y_7, '2026-01-01',"));
        assert!(pol.contains("x_30 AS y_30, '2025-12-09',"));
        assert!(pol.contains(
            "(CAST(CAST(f(b, c) AS DATE) AS INTEGER) - CAST(CAST(CAST(a AS DATE) AS DATE) AS INTEGER))"
        ));
        assert_eq!(
            expand("${nope}", &[], &p, Dialect::Polars),
            Err(TemplateError::UnknownParam("nope".into()))
        );
        assert!(expand("-- @each window\n", &[], &p, Dialect::Polars).is_err());
        assert!(expand("-- @end\n", &[], &p, Dialect::Polars).is_err());
        assert!(expand("${from_7", &[], &p, Dialect::Polars).is_err());
        assert!(expand("{{days_between(a)}}", &[], &p, Dialect::Polars).is_err());
        assert!(expand("{{now()}}", &[], &p, Dialect::Polars).is_err());
    }

    /// The dialects differ only in `days_between` and, for Trino, in identifier quotes.
    #[test]
    fn dialects_differ_only_in_the_macro_and_quotes() {
        let p = params();
        let text = |d| expand(T, &[7, 30], &p, d).unwrap();
        let polars = text(Dialect::Polars);
        let macro_of = |d: Dialect| d.days_between("CAST(a AS DATE)", "f(b, c)");
        for d in Dialect::ALL {
            let same = polars.replace(&macro_of(Dialect::Polars), &macro_of(d));
            let same = match d {
                Dialect::Trino => same.replace('`', "\""),
                _ => same,
            };
            assert_eq!(text(d), same, "{d}");
            assert_eq!(d.as_str().parse::<Dialect>(), Ok(d));
        }
        assert!(text(Dialect::Spark).contains("datediff(f(b, c), CAST(a AS DATE)) AS `key`"));
        assert!(text(Dialect::Duckdb).contains("datediff('day', CAST(a AS DATE), f(b, c))"));
        assert!(
            text(Dialect::Trino).contains("date_diff('day', CAST(a AS DATE), f(b, c)) AS \"key\"")
        );
        assert!("mysql".parse::<Dialect>().is_err());
    }
}
