//! Encryption of server connections: libpq's `sslmode` meanings, and what each server's
//! URL says about it.
//!
//! In: a parsed [`ServerUrl`]. Out: how to connect (`PgTls`), and errors that say which
//! setting is wrong. `disable`, `allow` and `prefer` connect in plain text here;
//! `require`, `verify-ca` and `verify-full` need TLS.

use super::url::ServerUrl;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" | "verify_ca" => SslMode::VerifyCa,
            "verify-full" | "verify_full" | "verify-identity" | "verify_identity" => {
                SslMode::VerifyFull
            }
            other => {
                return Err(format!(
                "`{other}` is not an sslmode: disable, allow, prefer, require, verify-ca or verify-full"
            ))
            }
        })
    }
}

/// How a PostgreSQL session is encrypted.
#[derive(Debug, Clone)]
pub(crate) struct PgTls {
    pub mode: SslMode,
}

impl PgTls {
    pub fn from_url(u: &ServerUrl) -> Result<PgTls, String> {
        let mode = match u.param("sslmode") {
            Some(m) => SslMode::parse(m)?,
            None => SslMode::Prefer,
        };
        if matches!(
            mode,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        ) {
            return Err(format!(
                "sslmode={}: this build of kestrel cannot encrypt connections",
                u.param("sslmode").unwrap_or_default()
            ));
        }
        Ok(PgTls { mode })
    }

    pub fn connect(&self, config: &postgres::Config) -> Result<postgres::Client, postgres::Error> {
        config.connect(postgres::NoTls)
    }
}

/// A failed login, in the server's words.
pub(crate) fn explain_pg(e: &postgres::Error, _u: &ServerUrl) -> String {
    super::postgres::error_text(e)
}
