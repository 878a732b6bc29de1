//! Digest-range partitioning, shared by `stats` (the `digest_stats` query) and `plan` (its
//! chunks). Every aggregate of `digest_stats` is per digest, so running the same query on
//! disjoint digest ranges and concatenating the results in range order gives exactly the result
//! of one run — with memory bounded by one range.
//!
//! Registry digests are sha256 hex, uniform over the digest space, so equal slices of the hex
//! space hold about equal numbers of rows. The number of ranges follows the number of `pulls` plus
//! inventory rows (read from the Parquet footers): about [`ROWS_PER_RANGE`] rows per range. `ingest`
//! writes each day's pulls sorted by digest in small row groups, so a range reads only the
//! row groups whose digest statistics overlap it. Reads Parquet footers only; writes nothing.

use std::fs::File;
use std::path::Path;

/// Overrides the number of ranges (1 ..= [`MAX_RANGES`]): for tests, and for tuning memory.
pub const ENV_RANGES: &str = "BLOBTIER_STATS_RANGES";

/// `pulls` rows per range. The streaming group-by holds roughly 650 bytes per distinct
/// (digest, client) pair of a range; measured on 50 M rows (docs/benchmarks.md), ranges of
/// about 1 M rows were both the fastest and under 1.3 GiB peak.
pub const ROWS_PER_RANGE: u64 = 1_000_000;

/// Ranges are cut on 3 hex digits of the digest: at most 4,096 of them.
pub const MAX_RANGES: usize = 4096;

/// `k` digest ranges `[lo, hi)` as string bounds (`lo = None`: from the start, `hi = None`:
/// to the end), cut at 3-hex-digit prefixes after `sha256:`. `k` is clamped to
/// `1 ..= MAX_RANGES`.
pub fn ranges(k: usize) -> Vec<(Option<String>, Option<String>)> {
    let k = k.clamp(1, MAX_RANGES);
    let cut = |i: usize| format!("sha256:{:03x}", i * MAX_RANGES / k);
    (0..k)
        .map(|i| {
            let lo = (i > 0).then(|| cut(i));
            let hi = (i + 1 < k).then(|| cut(i + 1));
            (lo, hi)
        })
        .collect()
}

/// `lf` restricted to the digests of the range `[lo, hi)` (a Polars filter on `digest`, which
/// the Parquet scan pushes down to row-group statistics).
pub fn filter_range(
    lf: polars::prelude::LazyFrame,
    lo: &Option<String>,
    hi: &Option<String>,
) -> polars::prelude::LazyFrame {
    use polars::prelude::{col, lit, Expr};
    let lower = lo.as_ref().map(|l| col("digest").gt_eq(lit(l.clone())));
    let upper = hi.as_ref().map(|h| col("digest").lt(lit(h.clone())));
    let e: Option<Expr> = match (lower, upper) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (a, b) => a.or(b),
    };
    match e {
        Some(e) => lf.filter(e),
        None => lf,
    }
}

/// How many ranges for a `pulls` table of `rows` rows.
pub fn choose(rows: u64) -> usize {
    choose_per(rows, ROWS_PER_RANGE)
}

/// Ranges of about `per_range` rows each for `rows` rows (1 ..= [`MAX_RANGES`]).
pub fn choose_per(rows: u64, per_range: u64) -> usize {
    (rows.div_ceil(per_range.max(1)) as usize).clamp(1, MAX_RANGES)
}

/// The count set by the environment variable `var` (1 ..= [`MAX_RANGES`], for tests and
/// tuning), else `default()`.
pub fn count_from_env(var: &str, default: impl FnOnce() -> usize) -> usize {
    match std::env::var(var)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(k) if (1..=MAX_RANGES).contains(&k) => k,
        _ => default(),
    }
}

/// Rows of the Parquet files under `dir`, from their footers (files that cannot be read
/// count as 0 rows here: the query itself reports them).
pub fn parquet_rows(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                parquet_rows(&p)
            } else if p.extension().is_some_and(|x| x == "parquet") {
                File::open(&p)
                    .ok()
                    .and_then(|f| parquet::file::reader::SerializedFileReader::new(f).ok())
                    .map(|r| {
                        use parquet::file::reader::FileReader;
                        r.metadata().file_metadata().num_rows().max(0) as u64
                    })
                    .unwrap_or(0)
            } else {
                0
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_digest_once_in_order() {
        for k in [1, 2, 3, 16, 17, 250, 256, 1000, 4096] {
            let r = ranges(k);
            assert_eq!(r.len(), k);
            assert_eq!(r[0].0, None);
            assert_eq!(r[k - 1].1, None);
            for d in [
                "sha256:0000",
                "sha256:0fff",
                "sha256:10aa",
                "sha256:a5",
                "sha256:7ff",
                "sha256:800",
                "sha256:ff01",
                "sha256:ffff",
            ] {
                let hits = r
                    .iter()
                    .filter(|(lo, hi)| {
                        lo.as_deref().is_none_or(|l| d >= l) && hi.as_deref().is_none_or(|h| d < h)
                    })
                    .count();
                assert_eq!(hits, 1, "{d} with {k} ranges");
            }
            for w in r.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert!(w[0].0 < w[0].1 || w[0].0.is_none());
            }
        }
        assert_eq!(ranges(0).len(), 1);
        assert_eq!(ranges(100_000).len(), MAX_RANGES);
        // Equal slices of the hex space.
        assert_eq!(ranges(2)[0].1.as_deref(), Some("sha256:800"));
        assert_eq!(ranges(16)[1].0.as_deref(), Some("sha256:100"));
    }

    #[test]
    fn the_number_of_ranges_follows_the_rows() {
        assert_eq!(choose(0), 1);
        assert_eq!(choose(ROWS_PER_RANGE), 1);
        assert_eq!(choose(ROWS_PER_RANGE + 1), 2);
        assert_eq!(choose(50_000_000), 50);
        assert_eq!(choose(500_000_000), 500);
        assert_eq!(choose(u64::MAX / 2), MAX_RANGES);
        assert_eq!(choose_per(10_000_000, 500_000), 20);
        assert_eq!(choose_per(1, 500_000), 1);
        assert_eq!(choose_per(7, 0), 7);
    }
}
