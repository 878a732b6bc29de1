//! Formatting shared by the renderers ([`super::document`], [`super::charts`]): money, sizes,
//! counts, days and shares, for people. Pure; no arithmetic beyond rounding for display.

/// USD with thousands separators and cents; amounts under a cent keep four decimals.
pub fn money(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        // Two significant digits: $0.0031, $0.000020.
        let decimals = ((-x.abs().log10()).ceil() as usize + 1).min(8);
        let s = format!("{:.*}", decimals, x.abs());
        return format!("{}${s}", if x < 0.0 { "-" } else { "" });
    }
    let cents = (x.abs() * 100.0).round() as i128;
    let (whole, frac) = (cents / 100, cents % 100);
    let sign = if x < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}${}.{frac:02}", count(whole))
}

/// Bytes in binary units (`1.5 GiB`) and counts with thousands separators, as everywhere
/// blobtier shows them to people.
pub use crate::model::units::{format_bytes as bytes, format_count as count};

/// A blob's size as the tables store it (signed `Int64`) in binary units; a negative size,
/// which no listing reports, shows as `0 B`.
pub fn size(x: i64) -> String {
    bytes(x.max(0) as u64)
}

/// Days, or `never` / `immediately`.
pub fn days(d: Option<f64>) -> String {
    match d {
        None => "never".into(),
        Some(d) if d < 1.0 => "under a day".into(),
        Some(d) => format!("{} days", count(d.round() as i128)),
    }
}

/// A share as a percentage.
pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Up to ten days, comma-separated, then how many more.
pub fn list_days(days: &[String]) -> String {
    let shown: Vec<&str> = days.iter().take(10).map(String::as_str).collect();
    if days.len() > 10 {
        format!("{} and {} more", shown.join(", "), days.len() - 10)
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_sizes_format_for_people() {
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(money(1234567.891), "$1,234,567.89");
        assert_eq!(money(-12.5), "-$12.50");
        assert_eq!(money(0.00123), "$0.0012");
        assert_eq!(money(-0.004), "-$0.0040");
        assert_eq!(money(0.00002), "$0.000020");
        assert_eq!(money(0.0099), "$0.0099");
        assert_eq!(money(999.995), "$1,000.00");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(1536 << 40), "1.5 PiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(size(-1), "0 B");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(days(None), "never");
        assert_eq!(days(Some(12.4)), "12 days");
        assert_eq!(percent(0.1234), "12.3%");
    }

    #[test]
    fn long_day_lists_are_cut_after_ten() {
        let d: Vec<String> = (1..=12).map(|i| format!("2026-11-{i:02}")).collect();
        assert_eq!(list_days(&d[..2]), "2026-11-01, 2026-11-02");
        assert!(
            list_days(&d).ends_with("2026-11-10 and 2 more"),
            "{}",
            list_days(&d)
        );
    }
}
