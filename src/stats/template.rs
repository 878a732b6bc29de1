//! Expansion of the portable query templates in `queries/` (the same rules are implemented
//! by `spark/run_stats.py`):
//! - `-- @each window` … `-- @end`: the enclosed lines once per window, `{N}` → N;
//! - `${name}`: a parameter;
//! - `{{days_between(a, b)}}`: whole days from date `a` to date `b`, the one construct whose
//!   text differs between engines ([`Dialect`]).

use std::collections::BTreeMap;

/// Target engine of an expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Polars SQL (the Rust crate).
    Polars,
    /// Spark SQL.
    Spark,
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
    // 1. @each blocks.
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
    // 2. parameters.
    let mut s = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("${") {
        s.push_str(&rest[..at]);
        let end = rest[at..]
            .find('}')
            .ok_or_else(|| TemplateError::Malformed("unterminated `${`".into()))?
            + at;
        let name = &rest[at + 2..end];
        let v = params
            .get(name)
            .ok_or_else(|| TemplateError::UnknownParam(name.into()))?;
        s.push_str(v);
        rest = &rest[end + 1..];
    }
    s.push_str(rest);
    // 3. dialect macros.
    let mut r = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(at) = rest.find("{{") {
        r.push_str(&rest[..at]);
        let end = rest[at..]
            .find("}}")
            .ok_or_else(|| TemplateError::Malformed("unterminated `{{`".into()))?
            + at;
        let call = rest[at + 2..end].trim();
        let args = call
            .strip_prefix("days_between(")
            .and_then(|a| a.strip_suffix(')'))
            .ok_or_else(|| TemplateError::Malformed(format!("unknown macro `{call}`")))?;
        let (a, b) = split_top_comma(args).ok_or_else(|| {
            TemplateError::Malformed(format!("`days_between` takes two arguments: `{call}`"))
        })?;
        r.push_str(&match dialect {
            Dialect::Polars => {
                format!("(CAST(CAST({b} AS DATE) AS INTEGER) - CAST(CAST({a} AS DATE) AS INTEGER))")
            }
            Dialect::Spark => format!("datediff({b}, {a})"),
        });
        rest = &rest[end + 2..];
    }
    r.push_str(rest);
    Ok(r)
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

    #[test]
    fn expands_blocks_params_and_macros() {
        let t = "SELECT\n  -- @each window\n  x_{N} AS y_{N}, '${from_{N}}',\n  -- @end\n  {{days_between(CAST(a AS DATE), f(b, c))}}\n";
        let mut p = BTreeMap::new();
        p.insert("from_7".to_string(), "2026-01-01".to_string());
        p.insert("from_30".to_string(), "2025-12-09".to_string());
        let pol = expand(t, &[7, 30], &p, Dialect::Polars).unwrap();
        assert!(pol.contains("x_7 AS y_7, '2026-01-01',"));
        assert!(pol.contains("x_30 AS y_30, '2025-12-09',"));
        assert!(pol.contains(
            "(CAST(CAST(f(b, c) AS DATE) AS INTEGER) - CAST(CAST(CAST(a AS DATE) AS DATE) AS INTEGER))"
        ));
        let sp = expand(t, &[7, 30], &p, Dialect::Spark).unwrap();
        assert!(sp.contains("datediff(f(b, c), CAST(a AS DATE))"));
        assert_eq!(
            expand("${nope}", &[], &p, Dialect::Polars),
            Err(TemplateError::UnknownParam("nope".into()))
        );
        assert!(expand("-- @each window\n", &[], &p, Dialect::Polars).is_err());
    }
}
