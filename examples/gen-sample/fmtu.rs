//! Formatting helpers: civil time from nanoseconds, the timestamp shapes of each format, Go
//! duration strings, JSON string escaping, base64, URL encoding and UUIDs.
//!
//! Hand-rolled instead of `chrono` formatting because they run once per output line (up to
//! hundreds of millions of times at benchmark sizes).

use std::fmt::Write as _;

/// Nanoseconds per second.
pub(crate) const NS: i64 = 1_000_000_000;
/// Nanoseconds per day.
pub(crate) const DAY: i64 = 86_400 * NS;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date from days since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tm {
    pub(crate) y: i64,
    pub(crate) mo: u32,
    pub(crate) d: u32,
    pub(crate) h: u32,
    pub(crate) mi: u32,
    pub(crate) s: u32,
    pub(crate) ns: u32,
}

/// Breaks nanoseconds since the epoch into UTC civil time.
pub(crate) fn tm(ns: i64) -> Tm {
    let days = ns.div_euclid(DAY);
    let rem = ns.rem_euclid(DAY);
    let (y, mo, d) = civil_from_days(days);
    let secs = rem / NS;
    Tm {
        y,
        mo,
        d,
        h: (secs / 3600) as u32,
        mi: (secs / 60 % 60) as u32,
        s: (secs % 60) as u32,
        ns: (rem % NS) as u32,
    }
}

/// `2026-11-25`
pub(crate) fn ymd(ns: i64) -> String {
    let t = tm(ns);
    format!("{:04}-{:02}-{:02}", t.y, t.mo, t.d)
}

/// `[27/Nov/2026:17:38:09 +0000]` without the brackets (S3 and Apache logs).
pub(crate) fn clf(out: &mut String, ns: i64) {
    let t = tm(ns);
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        t.d,
        MONTHS[(t.mo - 1) as usize],
        t.y,
        t.h,
        t.mi,
        t.s
    );
}

/// Go's `time.RFC3339Nano`: trailing zeros of the fraction trimmed (no fraction at all when it
/// is zero), `Z` for UTC or `±hh:mm` for `offset_min` minutes east of UTC.
pub(crate) fn rfc3339_nano(out: &mut String, ns: i64, offset_min: i32) {
    let t = tm(ns + i64::from(offset_min) * 60 * NS);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.y, t.mo, t.d, t.h, t.mi, t.s
    );
    if t.ns != 0 {
        let mut frac = format!("{:09}", t.ns);
        while frac.ends_with('0') {
            frac.pop();
        }
        out.push('.');
        out.push_str(&frac);
    }
    if offset_min == 0 {
        out.push('Z');
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        let a = offset_min.unsigned_abs();
        let _ = write!(out, "{sign}{:02}:{:02}", a / 60, a % 60);
    }
}

/// `2026-11-25T14:03:59.000Z` (S3 Inventory dates: second resolution, millisecond field).
pub(crate) fn inv_date(ns: i64) -> String {
    let t = tm(ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        t.y, t.mo, t.d, t.h, t.mi, t.s
    )
}

/// `20261125T140359Z` (SigV4 `X-Amz-Date`).
pub(crate) fn amz_date(out: &mut String, ns: i64) {
    let t = tm(ns);
    let _ = write!(
        out,
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.y, t.mo, t.d, t.h, t.mi, t.s
    );
}

/// `20261125` (SigV4 credential scope date).
pub(crate) fn amz_day(out: &mut String, ns: i64) {
    let t = tm(ns);
    let _ = write!(out, "{:04}{:02}{:02}", t.y, t.mo, t.d);
}

/// Go's `time.Duration.String()` for a positive duration.
pub(crate) fn go_duration(out: &mut String, ns: u64) {
    fn frac(out: &mut String, v: u64, unit: u64) {
        let whole = v / unit;
        let rem = v % unit;
        let _ = write!(out, "{whole}");
        if rem != 0 {
            let width = unit.ilog10() as usize;
            let mut f = format!("{rem:0width$}");
            while f.ends_with('0') {
                f.pop();
            }
            out.push('.');
            out.push_str(&f);
        }
    }
    if ns < 1_000 {
        let _ = write!(out, "{ns}ns");
    } else if ns < 1_000_000 {
        frac(out, ns, 1_000);
        out.push_str("µs");
    } else if ns < 1_000_000_000 {
        frac(out, ns, 1_000_000);
        out.push_str("ms");
    } else {
        let secs = ns / 1_000_000_000;
        let sub = ns % 1_000_000_000;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if h > 0 || m > 0 {
            let _ = write!(out, "{m}m");
        }
        frac(out, s * 1_000_000_000 + sub, 1_000_000_000);
        out.push('s');
    }
}

/// Appends `s` as a JSON string body (without the surrounding quotes). Like Go's encoder with
/// HTML escaping off: `"` and `\` and control characters are escaped, nothing else.
pub(crate) fn json_esc(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64_with(bytes: &[u8], table: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    base64_with(bytes, B64)
}

/// URL-safe base64 with padding (Go's `base64.URLEncoding`, used in upload `_state`).
pub(crate) fn base64url(bytes: &[u8]) -> String {
    base64_with(bytes, B64URL)
}

/// Percent-encodes an S3 key the way the inventory CSV shows it: unreserved characters and `/`
/// stay, everything else (UTF-8 bytes) becomes `%XX`. Spaces become `%20`, never `+`.
pub(crate) fn url_encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Percent-encodes a query value (`/` and `:` encoded too), as Go's `url.QueryEscape` does
/// for the characters that occur here.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A version-4 UUID string from 16 random bytes.
pub(crate) fn uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A UUID from a 64-bit seed (expanded with splitmix).
pub(crate) fn uuid_from(seed: u64) -> String {
    let mut x = seed;
    let a = crate::rng::splitmix64(&mut x).to_le_bytes();
    let b = crate::rng::splitmix64(&mut x).to_le_bytes();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a);
    bytes[8..].copy_from_slice(&b);
    uuid(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for d in [-1, 0, 59, 20_000, 20_783, 21_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(
            civil_from_days(days_from_civil(2026, 11, 26)),
            (2026, 11, 26)
        );
    }

    #[test]
    fn go_durations() {
        let f = |ns| {
            let mut s = String::new();
            go_duration(&mut s, ns);
            s
        };
        assert_eq!(f(1_125_600), "1.1256ms");
        assert_eq!(f(7_421_900), "7.4219ms");
        assert_eq!(f(111_900_179_248), "1m51.900179248s");
        assert_eq!(f(850), "850ns");
        assert_eq!(f(12_300), "12.3µs");
        assert_eq!(f(2_000_000_000), "2s");
    }

    #[test]
    fn rfc3339_trims_zeros() {
        let ns = days_from_civil(2019, 6, 6) * DAY + (10 * 3600 + 26 * 60 + 4) * NS + 582_510_800;
        let mut s = String::new();
        rfc3339_nano(&mut s, ns, 0);
        assert_eq!(s, "2019-06-06T10:26:04.5825108Z");
        s.clear();
        rfc3339_nano(&mut s, ns - 582_510_800, -480);
        assert_eq!(s, "2019-06-06T02:26:04-08:00");
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn key_encoding() {
        assert_eq!(url_encode_key("a b/dt=1/café"), "a%20b/dt%3D1/caf%C3%A9");
    }
}
