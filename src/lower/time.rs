//! Time in lowering: rendering bounds in a data source's `timestamp_format`.
//!
//! In: an instant (microseconds since the Unix epoch, UTC). Out: the literal a data
//! source's timestamp column is compared with. Parsing and formatting live in the leaf
//! module [`crate::time`], re-exported here.

use crate::ir::Literal;

pub use crate::time::{format_strftime, now_micros, parse_iso, Micros};

/// The literal a timestamp column in `format` is compared with: a number for epoch
/// formats (`%s`), text otherwise.
pub fn bound_literal(t: Micros, format: &str) -> Result<Literal, String> {
    if format == "%s" {
        return Ok(Literal::Int(t.div_euclid(1_000_000)));
    }
    format_strftime(t, format).map(Literal::Str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_formats_bind_numbers_and_others_text() {
        let t = parse_iso("2021-05-06T07:08:09.012345Z").unwrap();
        assert_eq!(bound_literal(t, "%s").unwrap(), Literal::Int(1_620_284_889));
        assert_eq!(
            bound_literal(t, "%Y-%m-%d").unwrap(),
            Literal::Str("2021-05-06".into())
        );
        assert!(bound_literal(t, "%Q").is_err());
    }
}
