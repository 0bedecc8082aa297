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

impl SslMode {
    /// MySQL's `ssl-mode` (`DISABLED`, `PREFERRED`, `REQUIRED`, `VERIFY_CA`,
    /// `VERIFY_IDENTITY`), or libpq's names for the same; absent: `PREFERRED`.
    pub fn from_mysql_url(u: &ServerUrl) -> Result<SslMode, String> {
        match u.param("ssl-mode") {
            None => Ok(SslMode::Prefer),
            Some(m) => match m.to_ascii_lowercase().replace('_', "-").as_str() {
                "disabled" => Ok(SslMode::Disable),
                "preferred" => Ok(SslMode::Prefer),
                "required" => Ok(SslMode::Require),
                "verify-ca" => Ok(SslMode::VerifyCa),
                "verify-identity" => Ok(SslMode::VerifyFull),
                other => SslMode::parse(other).map_err(|_| {
                    format!("`ssl-mode={m}`: expected DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY")
                }),
            },
        }
    }

    /// SQL Server's `encrypt` (`false`/`no`/`optional`, `true`/`yes`/`mandatory`,
    /// `strict`) with `trustServerCertificate`; absent: not encrypted.
    pub fn from_mssql_url(u: &ServerUrl) -> Result<SslMode, String> {
        let trust = u.flag("trustServerCertificate")?.unwrap_or(false);
        let encrypt = match u.param("encrypt") {
            None => return Ok(SslMode::Disable),
            Some(e) => e.to_ascii_lowercase(),
        };
        Ok(match encrypt.as_str() {
            "false" | "no" | "optional" | "0" => SslMode::Disable,
            "true" | "yes" | "mandatory" | "1" | "strict" if trust => SslMode::Require,
            "true" | "yes" | "mandatory" | "1" | "strict" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "`encrypt={other}`: expected true, false, mandatory, optional or strict"
                ))
            }
        })
    }

    /// Whether this mode needs an encrypted connection.
    pub fn needs_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// The error for a mode this build cannot serve.
pub(crate) fn unavailable(setting: &str) -> String {
    format!("{setting}: this build of kestrel cannot encrypt connections")
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
        if mode.needs_tls() {
            return Err(unavailable(&format!(
                "sslmode={}",
                u.param("sslmode").unwrap_or_default()
            )));
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
