//! `report.html`: one self-contained page. CSS and the SVG charts are inline; there are no
//! scripts, fonts, images or links to fetch (a Content-Security-Policy of `default-src 'none'`
//! makes the browser refuse any), so the file reads the same when mailed or attached.

use super::charts::Chart;
use super::document::{self, Block, Inline};
use super::Summary;

const CSS: &str = r#"
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #222; max-width: 1100px; margin: 2em auto; padding: 0 1.5em; line-height: 1.45; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f4f4f6; text-align: left; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.92em;
  background: #f4f4f6; padding: 0 0.2em; border-radius: 3px; }
.alert { border: 3px solid #c0392b; background: #fdecea; color: #611a15; padding: 0.8em 1.2em;
  margin: 1.2em 0; border-radius: 4px; }
.alert h2 { border: none; margin-top: 0.2em; color: #c0392b; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"#;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline text: `code` spans and **bold**, everything else escaped.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for piece in document::inline_markup(s) {
        match piece {
            Inline::Code(open) => out.push_str(if open { "<code>" } else { "</code>" }),
            Inline::Bold(open) => out.push_str(if open { "<strong>" } else { "</strong>" }),
            Inline::Text { c, .. } => out.push_str(&esc(&c.to_string())),
        }
    }
    out
}

/// The SVG document without an XML declaration, for inlining.
fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// Renders the report page.
pub fn render(s: &Summary, charts: &[Chart]) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\n",
    );
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!(
        "<title>blobtier cost report {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&s.as_of)
    ));
    for b in document::build(s, charts) {
        match b {
            Block::Title(t) => h.push_str(&format!("<h1>{}</h1>\n", inline(&t))),
            Block::Heading(t) => h.push_str(&format!("<h2>{}</h2>\n", inline(&t))),
            Block::Para(t) => h.push_str(&format!("<p>{}</p>\n", inline(&t))),
            Block::Alert { title, items } => {
                h.push_str(&format!(
                    "<div class=\"alert\" role=\"alert\">\n<h2>{}</h2>\n<ul>\n",
                    inline(&title)
                ));
                for i in items {
                    h.push_str(&format!("<li>{}</li>\n", inline(&i)));
                }
                h.push_str("</ul>\n</div>\n");
            }
            Block::List(items) => {
                h.push_str("<ul>\n");
                for i in items {
                    h.push_str(&format!("<li>{}</li>\n", inline(&i)));
                }
                h.push_str("</ul>\n");
            }
            Block::Table {
                head,
                rows,
                numeric,
            } => {
                let class = |j: usize| {
                    if numeric.get(j).copied().unwrap_or(false) {
                        " class=\"num\""
                    } else {
                        ""
                    }
                };
                h.push_str("<table>\n<thead><tr>");
                for (j, c) in head.iter().enumerate() {
                    h.push_str(&format!("<th{}>{}</th>", class(j), inline(c)));
                }
                h.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    h.push_str("<tr>");
                    for (j, c) in r.iter().enumerate() {
                        h.push_str(&format!("<td{}>{}</td>", class(j), inline(c)));
                    }
                    h.push_str("</tr>\n");
                }
                h.push_str("</tbody>\n</table>\n");
            }
            Block::Chart(i) => {
                let c = &charts[i];
                h.push_str(&format!(
                    "<figure>\n{}\n<figcaption><strong>{}.</strong> {}</figcaption>\n</figure>\n",
                    inline_svg(&c.svg),
                    esc(c.title),
                    inline(&c.alt)
                ));
            }
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_escapes_and_marks_code_and_bold() {
        assert_eq!(
            inline("a <b> & `x<y` **3**"),
            "a &lt;b&gt; &amp; <code>x&lt;y</code> <strong>3</strong>"
        );
        assert_eq!(inline("`a**b`"), "<code>a**b</code>");
        assert_eq!(inline("open `end"), "open <code>end</code>");
    }
}
