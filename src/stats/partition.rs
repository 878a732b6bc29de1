//! Digest-range partitioning of the stats query. Every aggregate of `digest_stats` is per
//! digest, so running the same query on disjoint digest ranges and concatenating the results
//! in range order gives exactly the result of one run — with memory bounded by one range.
//! The number of ranges grows with the size of the `pulls` table.

use std::path::Path;

/// Overrides the number of ranges (1, 16 or 256): for tests, and for tuning memory.
pub const ENV_RANGES: &str = "BLOBTIER_STATS_RANGES";

/// Bytes of `pulls` Parquet one range should cover (compressed on disk). About 6 M rows.
pub const BYTES_PER_RANGE: u64 = 64 << 20;

/// Digest ranges `[lo, hi)` as string bounds (`hi = None`: to the end). `k` must be 1, 16 or
/// 256 (ranges by the first one or two hex digits after `sha256:`).
pub fn ranges(k: usize) -> Vec<(Option<String>, Option<String>)> {
    let hex = |i: usize, width: usize| format!("sha256:{i:0width$x}");
    match k {
        0 | 1 => vec![(None, None)],
        16 | 256 => {
            let width = if k == 16 { 1 } else { 2 };
            (0..k)
                .map(|i| {
                    let lo = (i > 0).then(|| hex(i, width));
                    let hi = (i + 1 < k).then(|| hex(i + 1, width));
                    (lo, hi)
                })
                .collect()
        }
        other => panic!("unsupported number of ranges {other}"),
    }
}

/// How many ranges for a `pulls` table of `bytes`: 1, 16 or 256.
pub fn choose(bytes: u64) -> usize {
    match bytes / BYTES_PER_RANGE {
        0 => 1,
        1..=15 => 16,
        _ => 256,
    }
}

/// Total size of the Parquet files under `dir`.
pub fn parquet_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                parquet_bytes(&p)
            } else if p.extension().is_some_and(|x| x == "parquet") {
                e.metadata().map(|m| m.len()).unwrap_or(0)
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
        for k in [1, 16, 256] {
            let r = ranges(k);
            assert_eq!(r.len(), k);
            for d in [
                "sha256:0000",
                "sha256:0fff",
                "sha256:10aa",
                "sha256:a5",
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
            }
        }
        assert_eq!(choose(0), 1);
        assert_eq!(choose(200 << 20), 16);
        assert_eq!(choose(5 << 30), 256);
    }
}
