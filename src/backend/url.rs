//! Server connection URLs as the original's SQLAlchemy config writes them:
//! `postgresql[+driver]://user:password@host:port/database?k=v`, `mysql[+driver]://…`,
//! `mssql[+driver]://…`. The `+driver` part names a Python driver and is ignored.
//!
//! In: the URL text. Out: its parts, user and password percent-decoded. Errors never
//! contain the password (callers redact the URL they show).

/// The parts of a server URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// The scheme without `+driver`, lower-case (`postgresql`, `mysql`, `mssql`).
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub database: Option<String>,
    /// Query parameters, decoded, in order.
    pub params: Vec<(String, String)>,
}

impl std::fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerUrl")
            .field("scheme", &self.scheme)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .finish()
    }
}

impl ServerUrl {
    pub fn parse(url: &str) -> Result<ServerUrl, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "expected scheme://user@host/database".to_string())?;
        let scheme = scheme
            .split('+')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (main, query) = match rest.split_once('?') {
            Some((m, q)) => (m, Some(q)),
            None => (rest, None),
        };
        let (authority, database) = match main.split_once('/') {
            Some((a, d)) => (a, (!d.is_empty()).then(|| decode(d)).transpose()?),
            None => (main, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((name, pw)) => (Some(decode(name)?), Some(decode(pw)?)),
                None => (Some(decode(u)?), None),
            },
            None => (None, None),
        };
        let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            // [::1]:5432
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| "unclosed [ in the host".to_string())?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("`{p}` is not a port number"))?,
            ),
            None => None,
        };
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            decode(&host)?
        };
        let mut params = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((decode(k)?, decode(v)?));
        }
        Ok(ServerUrl {
            scheme,
            user,
            password,
            host,
            port,
            database,
            params,
        })
    }

    /// A query parameter, by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-decoding (`%40` is `@`); `+` stays `+`.
fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a bad %-escape in the URL".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL decodes to invalid UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_forms_parse() {
        let u =
            ServerUrl::parse("postgresql+psycopg2://hunter:p%40ss@db.example:6543/lake").unwrap();
        assert_eq!(u.scheme, "postgresql");
        assert_eq!(u.user.as_deref(), Some("hunter"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.host, "db.example");
        assert_eq!(u.port, Some(6543));
        assert_eq!(u.database.as_deref(), Some("lake"));

        let u =
            ServerUrl::parse("mssql+pyodbc://sa:S3cr3t!@sql1/hunts?driver=ODBC+Driver+18").unwrap();
        assert_eq!(u.scheme, "mssql");
        assert_eq!(u.password.as_deref(), Some("S3cr3t!"));
        assert_eq!(u.port, None);
        assert_eq!(u.param("DRIVER"), Some("ODBC+Driver+18"));

        let u = ServerUrl::parse("mysql://root@127.0.0.1/test").unwrap();
        assert_eq!((u.user.as_deref(), u.password), (Some("root"), None));

        let u = ServerUrl::parse("mysql+pymysql://[::1]:3307").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.database),
            ("::1", Some(3307), None)
        );
    }

    #[test]
    fn bad_urls_are_errors_without_the_password() {
        for url in [
            "postgresql://u:pw@h:notaport/db",
            "mysql//x",
            "mssql://u:%zz@h/d",
        ] {
            let e = ServerUrl::parse(url).unwrap_err();
            assert!(!e.contains("pw"), "{e}");
        }
        assert!(
            !format!("{:?}", ServerUrl::parse("mysql://u:topsecret@h/d").unwrap())
                .contains("topsecret")
        );
    }
}
