//! JOIN: `j = JOIN a, b [BY attr_a, attr_b]` — the records of `a` whose `attr_a` equals
//! some record's `attr_b` in `b`, with `a`'s attributes and those of `b`'s that `a` lacks.
//! Without BY the two share `a`'s identity attributes.
//!
//! The right side is renamed so the two sides' column names are disjoint and the join
//! needs no table qualifiers:
//!
//! ```text
//! j = JOIN procs, users BY user.name, name
//! Project name, pid, user.name, uid
//!   Join on user.name = __join_1
//!     Rel procs
//!     Distinct
//!       Project __join_1 := name, uid
//!         Rel users
//! ```

use crate::diag::{Code, Diagnostic};
use crate::ir::{Expr, Plan};
use crate::syntax::ast::{AttrPath, Ident};

use super::{Lowerer, NewRelation};

impl Lowerer<'_> {
    pub(super) fn join(
        &mut self,
        left: &Ident,
        right: &Ident,
        by: Option<&(AttrPath, AttrPath)>,
    ) -> Result<NewRelation, Diagnostic> {
        let l = self.var(left)?;
        let r = self.var(right)?;
        let lrel = self.rel(l).clone();
        let rrel = self.rel(r).clone();
        let known = |v: &Ident, cols: &Option<Vec<String>>| {
            cols.clone().ok_or_else(|| {
                Diagnostic::error(
                    Code::NotAvailable,
                    format!("the attributes of `{}` are not known before it runs", v.name),
                )
                .at(v.span)
                .help("JOIN needs the columns of both variables: run the hunt (or pass --config) so the data source's columns are read, or JOIN variables made with ATTR")
            })
        };
        let lcols = known(left, &lrel.columns)?;
        let rcols = known(right, &rrel.columns)?;
        let pairs: Vec<(String, Expr)> = match by {
            Some((la, ra)) => {
                let le = self.var_attr(l, la)?;
                let re = self.var_attr(r, ra)?;
                let Expr::Col(lc) = le else {
                    return Err(Diagnostic::error(
                        Code::BadValue,
                        format!(
                            "`{}` is computed, not an attribute of `{}`",
                            la.path, left.name
                        ),
                    )
                    .at(la.span)
                    .help("join by an attribute the variable holds"));
                };
                vec![(lc, re)]
            }
            None => {
                let ids = lrel.identity.clone();
                if ids.is_empty() || !ids.iter().all(|c| rcols.contains(c)) {
                    return Err(Diagnostic::error(
                        Code::BadValue,
                        format!(
                            "`{}` and `{}` share no identifying attributes to join by",
                            left.name, right.name
                        ),
                    )
                    .at(right.span)
                    .help(format!(
                        "name them: `JOIN {}, {} BY <attribute of {}>, <attribute of {}>`",
                        left.name, right.name, left.name, right.name
                    )));
                }
                ids.into_iter().map(|c| (c.clone(), Expr::col(c))).collect()
            }
        };
        let extra: Vec<String> = rcols
            .iter()
            .filter(|c| !lcols.contains(c))
            .cloned()
            .collect();
        let mut right_cols: Vec<(String, Expr)> = Vec::new();
        let mut on = Vec::new();
        for (i, (lc, re)) in pairs.into_iter().enumerate() {
            let mut key = format!("__join_{}", i + 1);
            while lcols.contains(&key) || extra.contains(&key) {
                key.insert(0, '_');
            }
            right_cols.push((key.clone(), re));
            on.push((lc, key));
        }
        right_cols.extend(extra.iter().map(|c| (c.clone(), Expr::col(c))));
        let right_plan = Plan::Distinct {
            input: Box::new(Plan::Rel(r).project(right_cols)),
        };
        let columns: Vec<String> = lcols.iter().chain(extra.iter()).cloned().collect();
        let plan = Plan::Join {
            left: Box::new(Plan::Rel(l)),
            right: Box::new(right_plan),
            on,
        }
        .project(columns.iter().map(|c| (c.clone(), Expr::col(c))).collect());
        Ok(NewRelation {
            entity: lrel.entity.clone(),
            kind: lrel.kind,
            plan,
            columns: Some(columns),
            source: lrel.source,
            command: "join",
            depends_on: vec![lrel.var.clone(), rrel.var.clone()],
        })
    }
}
