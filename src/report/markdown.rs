//! `report.md`: the report for a pull request or a wiki. Charts are referenced as SVG files
//! written beside it; tables are GitHub-flavoured Markdown.
//!
//! Every text goes through `inline`, which reads the document's inline markup (`code` spans
//! and **bold**) and escapes everything else, so a value from the inputs (a storage class, a
//! rule, a key) can neither open HTML, a link or emphasis, nor close a code span or split a
//! table row. Inside a code span CommonMark shows every character as it is; only the table
//! pipe needs its backslash there.

use super::charts::Chart;
use super::document::{self, Block};
use super::Summary;

/// Inline text for Markdown: the document's `code` spans and **bold** kept, every other
/// character that Markdown or HTML would read as markup escaped. `in_table` also escapes the
/// pipes inside code spans (GitHub splits table cells on them).
fn inline(s: &str, in_table: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut code, mut bold) = (false, false);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            out.push('`');
            code = !code;
        } else if !code && rest.starts_with("**") {
            out.push_str("**");
            bold = !bold;
            rest = &rest[2..];
            continue;
        } else if c == '\n' || c == '\r' {
            out.push(' ');
        } else if code {
            if c == '|' && in_table {
                out.push('\\');
            }
            out.push(c);
        } else {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '\\' | '*' | '_' | '[' | ']' | '|' | '~' | '!' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    if code {
        out.push('`');
    }
    if bold {
        out.push_str("**");
    }
    out
}

/// Renders `report.md`.
pub fn render(s: &Summary, charts: &[Chart]) -> String {
    let mut m = String::new();
    for b in document::build(s, charts) {
        match b {
            Block::Title(t) => m.push_str(&format!("# {}\n\n", inline(&t, false))),
            Block::Heading(t) => m.push_str(&format!("## {}\n\n", inline(&t, false))),
            Block::Para(t) => m.push_str(&format!("{}\n\n", inline(&t, false))),
            Block::Alert { title, items } => {
                m.push_str(&format!(
                    "> [!WARNING]\n> **{}**\n>\n",
                    inline(&title, false)
                ));
                for i in items {
                    m.push_str(&format!("> - {}\n", inline(&i, false)));
                }
                m.push('\n');
            }
            Block::List(items) => {
                for i in items {
                    m.push_str(&format!("- {}\n", inline(&i, false)));
                }
                m.push('\n');
            }
            Block::Table {
                head,
                rows,
                numeric,
            } => {
                let line = |cells: &[String]| {
                    format!(
                        "| {} |\n",
                        cells
                            .iter()
                            .map(|c| inline(c, true))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    )
                };
                m.push_str(&line(&head));
                let sep: Vec<String> = (0..head.len())
                    .map(|j| {
                        if numeric.get(j).copied().unwrap_or(false) {
                            "---:".to_string()
                        } else {
                            "---".to_string()
                        }
                    })
                    .collect();
                m.push_str(&format!("|{}|\n", sep.join("|")));
                for r in rows {
                    m.push_str(&line(&r));
                }
                m.push('\n');
            }
            Block::Chart(i) => {
                let c = &charts[i];
                m.push_str(&format!(
                    "![{}]({})\n\n*{}*\n\n",
                    c.title,
                    c.file,
                    c.alt.replace('*', "\\*")
                ));
            }
        }
    }
    m
}
