//! Units shared by config, the CLI, progress lines and the report: sizes with a unit
//! (`128 KiB`, `5 GB`) read and written, and counts with thousands separators.
//!
//! Invariant: one parser for every size blobtier reads (config keys and command-line flags
//! alike), so `5 GB` means the same everywhere, and one formatter for every size and count it
//! shows people (progress lines and the report alike). This module does no I/O.

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

/// Bytes in binary units, one decimal above a KiB: `512 B`, `3.1 MiB`, `1.5 GiB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A whole number with thousands separators: `1,234,567`, `-1,000`.
pub fn format_count(n: i128) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
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

    #[test]
    fn sizes_and_counts_for_people() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(5 << 30), "5.0 GiB");
        assert_eq!(format_bytes(u64::MAX), "16384.0 PiB");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_count(-1_000), "-1,000");
    }
}
