//! `blobtier sql`: a query of `queries/` as blobtier expands it for an engine, or a lake
//! table's columns, on stdout. What other engines run (the Spark runner, the DuckDB benchmark,
//! analysts on Athena/Trino) comes from here, so there is one expander.

use crate::cli::{SqlArgs, SqlDialectArg};
use crate::model::windows::Windows;
use crate::query::template::Dialect;
use crate::query::{self, Params, Query};
use crate::{Error, Outcome};

/// Prints the expansion of the query `a.name` (or, with `--schema`, the columns of the table).
pub fn sql(a: SqlArgs) -> Result<Outcome, Error> {
    let dialect = match a.dialect {
        SqlDialectArg::Polars => Dialect::Polars,
        SqlDialectArg::Spark => Dialect::Spark,
        SqlDialectArg::Duckdb => Dialect::Duckdb,
        SqlDialectArg::Trino => Dialect::Trino,
    };
    let text = if a.schema {
        query::schema_ddl(&a.name, dialect)? + "\n"
    } else {
        let windows = Windows::new(&a.query.windows).map_err(crate::stats::Error::BadWindows)?;
        let params = Params {
            include_scanners: a.query.include_scanners,
            count_manifest_pulls: a.count_manifest_pulls,
            pull_source: query::PullSource::parse(&a.query.pull_source).unwrap_or_default(),
            ..Params::new(a.as_of.unwrap_or_else(super::yesterday), windows)
        };
        Query::by_name(&a.name)?.render(&params, dialect)?
    };
    use std::io::Write as _;
    // A closed pipe (`blobtier sql … | head`) is not an error: the rest is dropped.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(Outcome::Success)
}
