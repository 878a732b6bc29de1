//! `report.md`: the report for a pull request or a wiki. Charts are referenced as SVG files
//! written beside it; tables are GitHub-flavoured Markdown.

use super::charts::Chart;
use super::document::{self, Block};
use super::Summary;

/// A table cell: pipes escaped, no line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Renders `report.md`.
pub fn render(s: &Summary, charts: &[Chart]) -> String {
    let mut m = String::new();
    for b in document::build(s, charts) {
        match b {
            Block::Title(t) => m.push_str(&format!("# {t}\n\n")),
            Block::Heading(t) => m.push_str(&format!("## {t}\n\n")),
            Block::Para(t) => m.push_str(&format!("{t}\n\n")),
            Block::Alert { title, items } => {
                m.push_str(&format!("> [!WARNING]\n> **{title}**\n>\n"));
                for i in items {
                    m.push_str(&format!("> - {i}\n"));
                }
                m.push('\n');
            }
            Block::List(items) => {
                for i in items {
                    m.push_str(&format!("- {i}\n"));
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
                            .map(|c| cell(c))
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
