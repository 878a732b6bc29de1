//! Units shared by config and the CLI: sizes with a unit (`128 KiB`, `5 GB`).
//!
//! Invariant: one parser for every size blobtier reads (config keys and command-line flags
//! alike), so `5 GB` means the same everywhere. This module does no I/O.

/// Parses a size with a unit: `128 KiB`, `5GiB`, `100 GB` (= GiB here: GB is 2^30 in S3
/// billing), `1.5KiB`, `42` (bytes). Units are `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB` and `T`/`TB`/`TiB`, in any case; `None` for anything else or a negative size.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    (n >= 0.0 && n.is_finite()).then(|| (n * mult as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("128 KiB"), Some(128 << 10));
        assert_eq!(parse_size("5GiB"), Some(5 << 30));
        assert_eq!(parse_size("5 GB"), Some(5 << 30));
        assert_eq!(parse_size(" 1.5KiB "), Some(1536));
        assert_eq!(parse_size("12MiB"), Some(12 << 20));
        assert_eq!(parse_size("2 tb"), Some(2 << 40));
        for bad in ["x", "5 PB", "", "KiB", "-1 KiB", "1.2.3"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
