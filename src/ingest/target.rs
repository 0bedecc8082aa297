//! Where ingest writes: a database URL in, a [`Target`] out.
//!
//! `sqlite:///rel/lake.db` is `rel/lake.db`, `sqlite:////var/hunt/lake.db` is
//! `/var/hunt/lake.db` (SQLAlchemy's convention, which kestrel's config shares). An
//! in-memory database is refused: it would vanish when kestrel exits. A password in a
//! URL never appears in an error.

use std::path::PathBuf;

use super::IngestError;

/// A database ingest can write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL server URL (`postgresql://…`).
    Postgres(String),
    /// A MySQL or MariaDB server URL (`mysql://…`).
    Mysql(String),
    /// A directory of Parquet files (`datafusion:///abs/dir`, see `lake.rs`).
    Lake(PathBuf),
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, IngestError> {
        let bad = |reason: &str| IngestError::BadUrl {
            url: redact(url),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad("expected scheme://…, e.g. sqlite:///lake.db"));
        };
        let base = scheme
            .split('+')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match base.as_str() {
            "sqlite" => {}
            "datafusion" => {
                if !rest.starts_with('/') || rest.len() < 2 {
                    return Err(bad(
                        "a Parquet lake is a directory: datafusion:///absolute/directory",
                    ));
                }
                if rest.contains('?') {
                    return Err(bad("URL parameters (?…) are not supported"));
                }
                return Ok(Target::Lake(PathBuf::from(rest)));
            }
            "postgresql" | "postgres" | "mysql" | "mariadb" => {
                crate::backend::url::ServerUrl::parse(url).map_err(|m| bad(&m))?;
                return Ok(if base.starts_with("postgres") {
                    Target::Postgres(url.to_string())
                } else {
                    Target::Mysql(url.to_string())
                });
            }
            "mssql" => {
                return Err(bad(
                    "ingest writes to sqlite://, postgresql:// and mysql:// databases, not MS SQL Server",
                ))
            }
            _ => {
                return Err(bad(
                    "unknown database scheme; ingest writes to sqlite:///file.db, postgresql://…, mysql://… or datafusion:///directory",
                ))
            }
        }
        let Some(path) = rest.strip_prefix('/') else {
            if rest.is_empty() || rest == ":memory:" {
                return Err(bad(
                    "an in-memory database would vanish when kestrel exits; name a file",
                ));
            }
            return Err(bad(
                "a sqlite URL has no host: sqlite:///relative.db or sqlite:////absolute.db",
            ));
        };
        if path.is_empty() {
            return Err(bad(
                "no database file named: sqlite:///relative.db or sqlite:////absolute.db",
            ));
        }
        if path == ":memory:" {
            return Err(bad(
                "an in-memory database would vanish when kestrel exits; name a file",
            ));
        }
        if path.contains('?') {
            return Err(bad("URL parameters (?…) are not supported"));
        }
        Ok(Target::Sqlite(PathBuf::from(path)))
    }

    /// Refuses a table name the target cannot have, before any file is read (a usage
    /// error): an empty name or one with a NUL anywhere; on a server a schema or database
    /// and a name (`seeds.events`, see [`Target::split_table`]) that fit its identifiers
    /// (PostgreSQL: 63 bytes; MySQL: 48 characters, leaving room for the temporary name a
    /// new table is built under); in a lake a plain name, as it is a directory.
    pub fn check_table(&self, table: &str) -> Result<(), IngestError> {
        let usage = |m: String| Err(IngestError::Usage(m));
        if table.is_empty() {
            return usage("the table name is empty".into());
        }
        if table.contains('\0') {
            return usage(format!("{table:?} cannot be a table name (it holds a NUL)"));
        }
        match self {
            Target::Sqlite(_) => Ok(()),
            Target::Postgres(_) => {
                let (_, name) = Target::split_table(table, "schema")?;
                if name.len() > 63 {
                    return usage(format!(
                        "table name `{name}` is longer than PostgreSQL allows (63 bytes)"
                    ));
                }
                Ok(())
            }
            Target::Mysql(_) => {
                let (_, name) = Target::split_table(table, "database")?;
                if name.chars().count() > 48 {
                    return usage(format!(
                        "table name `{name}` is too long for MySQL (at most 48 characters here)"
                    ));
                }
                Ok(())
            }
            Target::Lake(_) => {
                if table.starts_with('.') || table.contains(['/', '\\', '.', '"', '`', '[', ']']) {
                    return usage(format!(
                        "{table:?} cannot be a table of a Parquet lake: use a plain name (letters, digits, `_`, `-`)"
                    ));
                }
                Ok(())
            }
        }
    }

    /// `table` as `(schema or database, name)`: `seeds.events`, or `"my.schema".events`
    /// (see [`crate::sql::table_name`]), as a hunt's configuration names it; `what` says
    /// what the first part is called, for the message.
    pub(crate) fn split_table(
        table: &str,
        what: &str,
    ) -> Result<(Option<String>, String), IngestError> {
        crate::sql::table_name::schema_and_table(table, what).map_err(IngestError::Usage)
    }

    /// Whether the target treats identifiers differing only in ASCII case as one
    /// (SQLite does, even quoted), so ingest must make them one column.
    pub fn folds_identifier_case(&self) -> bool {
        match self {
            // MySQL column names ignore case too. PostgreSQL's quoted names do not, but
            // folding there as well gives every backend the same columns, so one hunt
            // and one mapping read the same data everywhere.
            Target::Sqlite(_) | Target::Mysql(_) | Target::Postgres(_) | Target::Lake(_) => true,
        }
    }
}

/// The URL with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_follow_sqlalchemy() {
        assert_eq!(
            Target::parse("sqlite:///lake.db").unwrap(),
            Target::Sqlite("lake.db".into())
        );
        assert_eq!(
            Target::parse("sqlite:///a/b.db").unwrap(),
            Target::Sqlite("a/b.db".into())
        );
        assert_eq!(
            Target::parse("sqlite:////var/x.db").unwrap(),
            Target::Sqlite("/var/x.db".into())
        );
        assert_eq!(
            Target::parse("SQLite:///x.db").unwrap(),
            Target::Sqlite("x.db".into())
        );
    }

    #[test]
    fn useless_or_unsupported_urls_are_refused() {
        for url in [
            "sqlite://:memory:",
            "sqlite://",
            "sqlite:///",
            "sqlite:///:memory:",
            "sqlite://host/x.db",
            "lake.db",
            "sqlite:///x.db?mode=ro",
            "mssql://u@h/db",
            "postgresql://u@h:port/db",
            "ftp://x/y",
        ] {
            assert!(
                matches!(Target::parse(url), Err(IngestError::BadUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn passwords_never_show() {
        let e = Target::parse("mssql://hunter:s3cret@db:5432/lake")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(e.contains("mssql://hunter:***@db:5432/lake"), "{e}");
        assert_eq!(redact("mysql://u@h/x"), "mysql://u@h/x");
    }
}
