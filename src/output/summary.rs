//! The summary block that ends a batch run: per new variable its entity type, number of
//! entities and number of records, in the original Kestrel's layout:
//!
//! ```text
//!
//! [SUMMARY] block executed in 1 seconds
//! VARIABLE    TYPE  #(ENTITIES)  #(RECORDS)
//! proclist process            4           4
//! browsers process            2           2
//! ```
//!
//! Columns are right-aligned like the `table` format; the count columns are preceded by
//! two spaces, as pandas prints numeric columns. The original's per-type "related records
//! cached" columns do not exist here: nothing is cached outside the database.

use std::io::{self, Write};
use std::time::Duration;

/// One line of the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The variable's name.
    pub variable: String,
    /// Its entity (or event) type, e.g. `process`.
    pub entity_type: String,
    /// Distinct entities it holds.
    pub entities: u64,
    /// Records (events) it was built from.
    pub records: u64,
}

const HEADERS: [&str; 4] = ["VARIABLE", "TYPE", "#(ENTITIES)", "#(RECORDS)"];

/// Writes the summary block, starting with a blank line. With no variables only the
/// `[SUMMARY]` line is written.
pub fn write_summary<W: Write>(
    out: &mut W,
    rows: &[SummaryRow],
    elapsed: Duration,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "[SUMMARY] block executed in {} seconds",
        seconds(elapsed)
    )?;
    if rows.is_empty() {
        return out.flush();
    }

    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.variable.clone(),
                r.entity_type.clone(),
                r.entities.to_string(),
                r.records.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }

    let line = |out: &mut W, c: [&str; 4]| {
        let [w0, w1, w2, w3] = widths;
        writeln!(
            out,
            "{:>w0$} {:>w1$}  {:>w2$}  {:>w3$}",
            c[0], c[1], c[2], c[3]
        )
    };
    line(out, HEADERS)?;
    for [v, t, e, r] in &cells {
        line(out, [v.as_str(), t.as_str(), e.as_str(), r.as_str()])?;
    }
    out.flush()
}

/// Whole seconds, rounded, as the original prints; milliseconds under one second so that
/// a fast block does not claim to take 0 seconds.
fn seconds(elapsed: Duration) -> String {
    if elapsed < Duration::from_secs(1) {
        format!("{:.3}", elapsed.as_secs_f64())
    } else {
        format!("{}", elapsed.as_secs_f64().round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(variable: &str, entity_type: &str, entities: u64, records: u64) -> SummaryRow {
        SummaryRow {
            variable: variable.into(),
            entity_type: entity_type.into(),
            entities,
            records,
        }
    }

    fn summary(rows: &[SummaryRow], elapsed: Duration) -> String {
        let mut out = Vec::new();
        write_summary(&mut out, rows, elapsed).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn matches_the_original_layout() {
        let rows = [
            row("proclist", "process", 4, 4),
            row("browsers", "process", 2, 2),
        ];
        assert_eq!(
            summary(&rows, Duration::from_millis(1200)),
            "\n[SUMMARY] block executed in 1 seconds\n\
             VARIABLE    TYPE  #(ENTITIES)  #(RECORDS)\n\
             proclist process            4           4\n\
             browsers process            2           2\n"
        );
    }

    #[test]
    fn widens_columns_for_long_values() {
        let rows = [
            row("c2_proc", "process", 1330, 1330),
            row("c2_traffic", "network-traffic", 184, 24736),
        ];
        assert_eq!(
            summary(&rows, Duration::from_secs(42)),
            "\n[SUMMARY] block executed in 42 seconds\n\
             \x20 VARIABLE            TYPE  #(ENTITIES)  #(RECORDS)\n\
             \x20  c2_proc         process         1330        1330\n\
             c2_traffic network-traffic          184       24736\n"
        );
    }

    #[test]
    fn sub_second_blocks_show_milliseconds() {
        assert_eq!(seconds(Duration::from_millis(12)), "0.012");
        assert_eq!(seconds(Duration::from_millis(1500)), "2");
        assert_eq!(
            summary(&[], Duration::from_millis(3)),
            "\n[SUMMARY] block executed in 0.003 seconds\n"
        );
    }
}
