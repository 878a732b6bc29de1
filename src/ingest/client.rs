//! Client address normalisation: the same client must map to the same value whatever the
//! log format wrote (with or without a port, bracketed or bare IPv6, upper or lower case,
//! an `X-Forwarded-For` list).
//!
//! The driver calls [`normalize_addr`] once per distinct raw value, so this may allocate.
//! It never fails: a value that is not an IP address is kept (lower-cased) as a hostname.
//! [`redact_addresses`] replaces the IP addresses of a quarantined line by their stored form,
//! so that `_rejects.raw` holds no client address the tables would have hashed.

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

/// `text` with every IPv4 or IPv6 address in it (with or without a port) replaced by
/// `render(normalized address)`: a quarantined line keeps its shape without the client's
/// address. Candidates are runs of hex digits, `.` and `:` that parse as an address, so
/// timestamps, versions and digests are left alone.
pub fn redact_addresses(text: &str, render: &dyn Fn(&str) -> String) -> String {
    let is_addr_char = |c: char| c.is_ascii_hexdigit() || c == '.' || c == ':';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_addr_char) {
        out.push_str(&rest[..start]);
        let run_len = rest[start..]
            .find(|c: char| !is_addr_char(c))
            .unwrap_or(rest.len() - start);
        let run = &rest[start..start + run_len];
        out.push_str(&redact_run(run, render));
        rest = &rest[start + run_len..];
    }
    out.push_str(rest);
    out
}

/// One candidate run: an address, `v4:port`, or text left as it is.
fn redact_run(run: &str, render: &dyn Fn(&str) -> String) -> String {
    let trimmed = run.trim_end_matches(['.', ':']);
    let tail = &run[trimmed.len()..];
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return format!("{}{tail}", render(&ip.to_canonical().to_string()));
    }
    if let Some((host, port)) = trimmed.split_once(':') {
        if !port.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
                return format!("{}:{port}{tail}", render(&ip.to_string()));
            }
        }
    }
    run.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_replaced_and_other_runs_kept() {
        let render = |a: &str| format!("<{a}>");
        assert_eq!(
            redact_addresses(
                "o b [26/Nov/2026:12:00:00 +0000] 198.51.100.7 - 3E57 sha256:07a1 1.7.13 x",
                &render
            ),
            "o b [26/Nov/2026:12:00:00 +0000] <198.51.100.7> - 3E57 sha256:07a1 1.7.13 x"
        );
        assert_eq!(
            redact_addresses(
                "\"addr\":\"198.51.100.8:5000\", [2001:DB8::1]:443 ::ffff:1.2.3.4.",
                &render
            ),
            "\"addr\":\"<198.51.100.8>:5000\", [<2001:db8::1>]:443 <1.2.3.4>."
        );
        assert_eq!(redact_addresses("ü 10:00:00 é", &render), "ü 10:00:00 é");
    }

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
