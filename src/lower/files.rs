//! LOAD and SAVE: variables from and to files outside any data source.
//!
//! `v = LOAD path [AS type]` reads the file while compiling (its columns are the variable's
//! attributes) and becomes inline rows, like NEW: a statement reading only such variables
//! runs on the in-memory SQLite database, and one that also reads a data source carries
//! the rows along as bound values. Without AS, a `type` column naming one entity type
//! gives the type. `SAVE v TO path` is an output: the variable's records, written by the
//! runner (see `run.rs`).

use crate::diag::{Code, Diagnostic};
use crate::io::{self, FileError};
use crate::ir::{Expr, Literal, OutputKind, Plan};
use crate::source::Span;
use crate::syntax::ast::Ident;

use super::{Lowerer, NewRelation};

impl Lowerer<'_> {
    pub(super) fn load(
        &mut self,
        path: &Ident,
        entity: Option<&Ident>,
    ) -> Result<NewRelation, Diagnostic> {
        let table = io::load(&path.name).map_err(|e| file_error(e, path.span, "LOAD"))?;
        let type_col = table.columns.iter().position(|c| c == "type");
        let entity = match (entity, type_col) {
            (Some(e), _) => self.entity_name(e)?,
            (None, Some(i)) => {
                let mut names: Vec<String> = Vec::new();
                for row in &table.rows {
                    if let Some(Literal::Str(t)) = row.get(i) {
                        if !names.contains(t) {
                            names.push(t.clone());
                        }
                    }
                }
                match names.as_slice() {
                    [one] => self.entity_name(&Ident {
                        name: one.clone(),
                        span: path.span,
                    })?,
                    _ => {
                        return Err(Diagnostic::error(
                            Code::UnknownEntity,
                            format!(
                                "the `type` column of `{}` does not name one entity type",
                                path.name
                            ),
                        )
                        .at(path.span)
                        .help("say which: `LOAD <path> AS process`"))
                    }
                }
            }
            (None, None) => {
                return Err(
                    Diagnostic::error(Code::UnknownEntity, "LOAD needs an entity type")
                        .at(path.span)
                        .help("write `LOAD <path> AS process`, or give the file a `type` column"),
                )
            }
        };
        let keep: Vec<usize> = (0..table.columns.len())
            .filter(|i| Some(*i) != type_col)
            .collect();
        let mut columns: Vec<String> = Vec::new();
        for i in &keep {
            let c = self.model.canonical_attr(&entity, &table.columns[*i]);
            if columns.contains(&c) {
                return Err(Diagnostic::error(
                    Code::BadValue,
                    format!("`{}` has two columns for the attribute `{c}`", path.name),
                )
                .at(path.span));
            }
            columns.push(c);
        }
        if columns.is_empty() {
            return Err(Diagnostic::error(
                Code::BadValue,
                format!("`{}` has no columns with attributes", path.name),
            )
            .at(path.span)
            .help("LOAD reads a header row (CSV) or objects with keys (JSON)"));
        }
        let rows = table
            .rows
            .into_iter()
            .map(|row| {
                keep.iter()
                    .map(|i| row.get(*i).cloned().unwrap_or(Literal::Null))
                    .collect()
            })
            .collect();
        Ok(self.values_relation(entity, columns, rows, "load"))
    }

    /// `SAVE v TO path`: an output writing the variable's records.
    pub(super) fn save(&mut self, var: &Ident, path: &Ident, span: Span) -> Result<(), Diagnostic> {
        let rel = self.var(var)?;
        if !io::is_parquet(&path.name) && !io::is_lake_table(&path.name) {
            io::save_format(&path.name).map_err(|e| file_error(e, path.span, "SAVE"))?;
        }
        let columns = self.rel(rel).columns.clone();
        let plan = match &columns {
            Some(cols) => {
                Plan::Rel(rel).project(cols.iter().map(|c| (c.clone(), Expr::col(c))).collect())
            }
            None => Plan::Rel(rel),
        };
        self.output(
            OutputKind::Save {
                path: path.name.clone(),
            },
            rel,
            plan,
            columns,
            span,
        );
        Ok(())
    }
}

fn file_error(e: FileError, span: Span, what: &str) -> Diagnostic {
    let d = Diagnostic::error(Code::BadValue, e.to_string()).at(span);
    match e {
        FileError::UnknownLayout(_) | FileError::Parquet(_) => d.help(format!(
            "{what} works with .csv, .json, .jsonl and .parquet files"
        )),
        FileError::Read(_) => d.label("cannot read this file"),
    }
}
