//! Issue 17 case 8: every value the report prints is escaped for its renderer. `report.html`
//! already escaped them; `report.md` put them in code spans as they were, so a value closing
//! the span injected raw HTML, table cells and links.

use std::fs;

use super::*;

const AS_OF: &str = "2026-11-26";

/// Storage classes read from the inventory, the only free text that reaches the report from
/// the inputs: HTML, a backtick that closes a code span, a table pipe, emphasis and a link.
const HOSTILE: [&str; 3] = [
    "STANDARD`<script>alert(1)</script>`",
    "X|<img src=x onerror=alert(2)>|Y",
    "**bold** [click](javascript:alert(3)) _u_ \\` ``",
];

fn report_lake(t: &Path) -> PathBuf {
    let (logs, dest, lake) = (t.join("logs"), t.join("dest"), t.join("lake"));
    fs::create_dir_all(&logs).unwrap();
    let as_of = NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap();
    let text: String = (0..95)
        .map(|d| s3_pull(as_of - chrono::Duration::days(d), "203.0.113.9", 0))
        .collect();
    fs::write(logs.join("2026-11-26-00-00-00-A"), text).unwrap();
    let mut csv = String::new();
    for i in 0..3 {
        csv.push_str(&csv_row(
            &blob_key(&hex(i)),
            "52428800",
            "2025-06-01T00:00:00.000Z",
            "STANDARD",
        ));
    }
    for (i, class) in HOSTILE.iter().enumerate() {
        csv.push_str(&csv_row(
            &blob_key(&hex(10 + i as u32)),
            "52428800",
            "2025-06-01T00:00:00.000Z",
            &class.replace('"', "\"\""),
        ));
    }
    csv_report(&dest, AS_OF, &csv);
    let cfg = run_config(t, &lake, &logs, &dest.join(format!("{BUCKET}/cfg")), "");
    let out = nightly(&cfg, AS_OF, &[]);
    assert_eq!(out.code(), 0, "{out}");
    lake.join(format!("reports/as_of={AS_OF}"))
}

/// The text of `md` outside code spans (backslash escapes honoured): CommonMark shows a code
/// span's content as it is, so markup can only act outside them.
fn outside_code(md: &str) -> String {
    let mut out = String::new();
    let (mut code, mut escaped) = (false, false);
    for c in md.chars() {
        if escaped {
            escaped = false;
            if !code {
                out.push(' ');
            }
            continue;
        }
        match c {
            '\\' if !code => escaped = true,
            '`' => code = !code,
            '\n' => {
                // A code span never runs over a line in this report.
                code = false;
                out.push(c);
            }
            c if !code => out.push(c),
            _ => {}
        }
    }
    out
}

/// Cells of a Markdown table row split on unescaped pipes.
fn cells(line: &str) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    n
}

#[test]
fn hostile_values_are_escaped_in_both_renderers() {
    let t = tempfile::tempdir().unwrap();
    let dir = report_lake(t.path());
    let md = fs::read_to_string(dir.join("report.md")).unwrap();
    // The values are shown (escaped), not dropped.
    for marker in ["alert(1)", "alert(2)", "alert(3)"] {
        assert!(md.contains(marker), "`{marker}` is not in report.md:\n{md}");
    }
    // Outside code spans no markup survives: no tag, no link, no emphasis from a value.
    let lower = outside_code(&md).to_ascii_lowercase();
    for raw in ["<script", "<img", "](javascript:", "<", "**bold**", "_u_"] {
        assert!(
            !lower.contains(raw),
            "report.md holds raw `{raw}`:\n{}",
            md.lines()
                .filter(|l| l.to_ascii_lowercase().contains(raw))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // Tables keep their shape: every row has as many cells as its header.
    let mut header: Option<usize> = None;
    for line in md.lines() {
        if line.starts_with('|') {
            let n = cells(line);
            match header {
                None => header = Some(n),
                Some(h) => assert_eq!(n, h, "a value split a table row: {line}"),
            }
        } else {
            header = None;
        }
    }
    let html = fs::read_to_string(dir.join("report.html")).unwrap();
    for raw in ["<script>alert", "<img src=x", "href=\"javascript:"] {
        assert!(!html.contains(raw), "report.html holds raw `{raw}`");
    }
    assert!(html.contains("alert(1)"));
}
