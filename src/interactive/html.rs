//! Results as HTML for notebooks: a display's rows as a `<table>`, the summary as one,
//! text blocks as `<pre>`. Every cell is escaped.

use std::fmt::Write as _;

use crate::output::SummaryRow;
use crate::value::Value;

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape(s: &str) -> String {
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

/// A cell as text: NULL empty, numbers as written, text as is.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A table of `columns` and `rows`; `more` rows not shown are counted under it.
pub fn table(columns: &[String], rows: &[Vec<String>], more: u64) -> String {
    let mut s = String::from("<table class=\"kestrel-table\">\n<thead><tr>");
    for c in columns {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", escape(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    if rows.is_empty() {
        s.push_str("<p><em>(no rows)</em></p>\n");
    }
    if more > 0 {
        let _ = writeln!(s, "<p><em>… {more} more rows not shown</em></p>");
    }
    s
}

/// The summary of a cell's variables.
pub fn summary(rows: &[SummaryRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.variable.clone(),
                r.entity_type.clone(),
                r.entities.to_string(),
                r.records.to_string(),
            ]
        })
        .collect();
    let cols = ["VARIABLE", "TYPE", "#(ENTITIES)", "#(RECORDS)"].map(String::from);
    format!(
        "<p><strong>[SUMMARY]</strong></p>\n{}",
        table(&cols, &cells, 0)
    )
}

/// A block of text.
pub fn pre(text: &str) -> String {
    format!("<pre>{}</pre>\n", escape(text))
}
