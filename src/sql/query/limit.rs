//! Row limits as the dialect writes them: `LIMIT/OFFSET`, `TOP`, `OFFSET … FETCH`.

use sqlparser::ast::{self as sa, SetExpr};

use super::super::builders as b;
use super::super::dialect::{Dialect, LimitStyle};

/// LIMIT/OFFSET as the dialect writes it.
pub(super) fn limit(d: &Dialect, q: &mut sa::Query, limit: Option<u64>, offset: u64) {
    match d.limit_style {
        LimitStyle::LimitOffset => {
            let n = match limit {
                Some(n) => Some(b::number(n)),
                None => d.unbounded_limit.as_ref().map(b::number),
            };
            q.limit_clause = Some(b::limit_offset(n, (offset > 0).then(|| b::number(offset))));
        }
        LimitStyle::TopOrOffsetFetch => {
            if offset == 0 {
                if let (Some(n), SetExpr::Select(select)) = (limit, q.body.as_mut()) {
                    select.top = Some(b::top(n));
                    return;
                }
            }
            // OFFSET needs an ORDER BY in T-SQL; without one, the first column's order
            // will do (an ordinal is allowed under DISTINCT, `(SELECT NULL)` is not).
            if q.order_by.is_none() {
                q.order_by = Some(b::order_by_plain(vec![b::number(1)]));
            }
            let (clause, fetch) = b::offset_fetch(offset, limit);
            q.limit_clause = Some(clause);
            q.fetch = fetch;
        }
    }
}
