//! Client address normalisation: the same client must map to the same value whatever the
//! log format wrote (with or without a port, bracketed or bare IPv6, upper or lower case,
//! an `X-Forwarded-For` list).
//!
//! The driver calls [`normalize_addr`] once per distinct raw value, so this may allocate.
//! It never fails: a value that is not an IP address is kept (lower-cased) as a hostname.

use std::net::{IpAddr, SocketAddr};

/// The client of a request as logged, without its port: `1.2.3.4:5678` → `1.2.3.4`,
/// `[2001:db8::1]:443` → `2001:db8::1`, `2001:DB8:0:0::1` → `2001:db8::1` (canonical
/// text form), `::ffff:1.2.3.4` → `1.2.3.4` (an IPv4 client seen through a dual-stack
/// socket is the same client), `a, b` (X-Forwarded-For) → `a`, `Host:80` → `host`.
/// `None` for `-` or an empty value.
pub fn normalize_addr(raw: &str) -> Option<String> {
    let first = raw.split(',').next().unwrap_or("").trim();
    if first.is_empty() || first == "-" {
        return None;
    }
    if let Ok(ip) = first.parse::<IpAddr>() {
        return Some(ip.to_canonical().to_string());
    }
    if let Ok(sa) = first.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical().to_string());
    }
    // `[v6]` without a port, or `[v6%zone]:port` that std does not parse.
    if let Some(inner) = first.strip_prefix('[') {
        let inner = inner.split(']').next().unwrap_or("");
        if let Ok(ip) = inner.parse::<IpAddr>() {
            return Some(ip.to_canonical().to_string());
        }
        return Some(inner.to_ascii_lowercase()).filter(|s| !s.is_empty());
    }
    // `host:port` (one colon and a numeric port): a hostname with its port.
    if let Some((host, port)) = first.rsplit_once(':') {
        if !host.contains(':') && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            if host.is_empty() {
                return None;
            }
            return Some(host.to_ascii_lowercase());
        }
    }
    Some(first.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_addresses() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1.2.3.4:5678", Some("1.2.3.4")),
            ("1.2.3.4", Some("1.2.3.4")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("[2001:DB8::1]", Some("2001:db8::1")),
            ("2001:DB8:0:0::1", Some("2001:db8::1")),
            (
                "2001:0db8:0000:0000:0000:0000:0000:0001",
                Some("2001:db8::1"),
            ),
            ("::ffff:192.0.2.7", Some("192.0.2.7")),
            ("[::ffff:192.0.2.7]:4000", Some("192.0.2.7")),
            ("-", None),
            ("", None),
            ("   ", None),
            ("203.0.113.9, 10.0.0.1", Some("203.0.113.9")),
            ("203.0.113.9:1234,10.0.0.1", Some("203.0.113.9")),
            (" 2001:db8::2 , 10.0.0.1", Some("2001:db8::2")),
            ("Registry.Example.COM", Some("registry.example.com")),
            ("xtal.local:5000", Some("xtal.local")),
            ("0ee76ffa", Some("0ee76ffa")),
            (":5000", None),
            ("[fe80::1%eth0]:80", Some("fe80::1%eth0")),
            ("unknown", Some("unknown")),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_addr(raw).as_deref(), *want, "input `{raw}`");
        }
    }

    #[test]
    fn same_client_same_value() {
        let forms = [
            "192.168.64.11:42961",
            "192.168.64.11",
            "[::ffff:192.168.64.11]:1",
        ];
        let got: Vec<_> = forms.iter().map(|f| normalize_addr(f)).collect();
        assert!(got.iter().all(|g| g.as_deref() == Some("192.168.64.11")));
    }
}
