//! `report.md`: the report for a pull request or a wiki. Charts are referenced as SVG files
//! written beside it; tables are GitHub-flavoured Markdown.
//!
//! Every text goes through `inline`, which keeps the document's inline markup (`code` spans
//! and **bold**, read by [`document::inline_markup`]) and escapes everything else, so a value
//! from the inputs (a storage class, a rule, a key) can neither open HTML, a link or emphasis,
//! nor close a code span or split a table row. Inside a code span CommonMark shows every character as it is; only the table
//! pipe needs its backslash there.

use super::charts::Chart;
use super::document::{self, Block, Inline};
use super::Summary;

/// Inline text for Markdown: the document's `code` spans and **bold** kept, every other
/// character that Markdown or HTML would read as markup escaped. `in_table` also escapes the
/// pipes inside code spans (GitHub splits table cells on them).
fn inline(s: &str, in_table: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for piece in document::inline_markup(s) {
        match piece {
            Inline::Code(_) => out.push('`'),
            Inline::Bold(_) => out.push_str("**"),
            Inline::Text { c: '\n' | '\r', .. } => out.push(' '),
            Inline::Text { c, in_code: true } => {
                if c == '|' && in_table {
                    out.push('\\');
                }
                out.push(c);
            }
            Inline::Text { c, in_code: false } => match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '\\' | '*' | '_' | '[' | ']' | '|' | '~' | '!' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            },
        }
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
