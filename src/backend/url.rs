//! Server connection URLs as the original's SQLAlchemy config writes them:
//! `postgresql[+driver]://user:password@host:port/database?k=v`, `mysql[+driver]://…`,
//! `mssql[+driver]://…`. The `+driver` part names a Python driver and is ignored.
//!
//! In: the URL text, read by the `url` crate (WHATWG parsing: `[::1]` hosts, the last `@`
//! ending the user part). Out: its parts, percent-decoded (`+` stays `+`, as libpq reads
//! it), and the query parameters in order. Each backend names the parameters its
//! ecosystem knows ([`ServerUrl::unknown_params`]); any other is a warning, not silence.
//! Errors never contain the password (callers redact the URL they show).

use percent_encoding::percent_decode_str;

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
            .field(
                "params",
                &self.params.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ServerUrl {
    pub fn parse(text: &str) -> Result<ServerUrl, String> {
        let (scheme, _) = text
            .split_once("://")
            .ok_or_else(|| "expected scheme://user@host/database".to_string())?;
        let base = scheme
            .split('+')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let u = url::Url::parse(text).map_err(|e| match e {
            url::ParseError::InvalidPort => {
                let port = text
                    .split_once("://")
                    .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
                    .and_then(|auth| auth.rsplit('@').next())
                    .and_then(|host| host.rsplit_once(':'))
                    .map(|(_, p)| p.to_string())
                    .unwrap_or_default();
                if port.chars().all(|c| c.is_ascii_alphanumeric()) && !port.is_empty() {
                    format!("`{port}` is not a port number")
                } else {
                    "the port is not a number".to_string()
                }
            }
            other => format!("not a URL: {other}"),
        })?;
        let user = (!u.username().is_empty())
            .then(|| decode(u.username()))
            .transpose()?;
        let password = u.password().map(decode).transpose()?;
        let host = match u.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Domain(d)) => decode(d)?,
            None => String::new(),
        };
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            host
        };
        let path = u.path().trim_start_matches('/');
        let database = (!path.is_empty()).then(|| decode(path)).transpose()?;
        let mut params = Vec::new();
        for pair in u.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((decode(k)?, decode(v)?));
        }
        Ok(ServerUrl {
            scheme: base,
            user,
            password,
            host,
            port: u.port(),
            database,
            params,
        })
    }

    /// A query parameter, by case-insensitive name (`-` and `_` alike: MySQL's
    /// `ssl-mode` is pymysql's `ssl_mode`); the last one wins, as in libpq.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| same_name(k, name))
            .map(|(_, v)| v.as_str())
    }

    /// The parameters whose names are in neither list, in order: `used` are honoured,
    /// `accepted` belong to a driver or to SQLAlchemy and mean nothing here.
    pub fn unknown_params(&self, used: &[&str], accepted: &[&str]) -> Vec<String> {
        self.params
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !used.iter().chain(accepted).any(|n| same_name(k, n)))
            .cloned()
            .collect()
    }

    /// A yes/no parameter (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, String> {
        match self.param(name) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(Some(true)),
                "false" | "no" | "off" | "0" => Ok(Some(false)),
                _ => Err(format!("`{name}={v}`: expected true or false")),
            },
        }
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let norm = |c: u8| {
                if c == b'-' {
                    b'_'
                } else {
                    c.to_ascii_lowercase()
                }
            };
            norm(x) == norm(y)
        })
}

/// Prints one warning per parameter `names` holds (none when empty), naming the
/// connection by its redacted URL; once per process for each URL and parameter (a
/// session, or `ingest` and the indexing after it, may open one URL more than once).
pub(crate) fn warn_unknown(url: &str, names: &[String]) {
    static WARNED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    for name in names {
        let key = (url.to_string(), name.clone());
        if let Ok(mut warned) = WARNED.lock() {
            if warned.contains(&key) {
                continue;
            }
            warned.push(key);
        }
        eprintln!(
            "warning: {}: parameter `{name}` is not known here and is ignored",
            crate::config::redact_url(url)
        );
    }
}

/// Percent-decoding (`%40` is `@`); `+` stays `+`.
fn decode(s: &str) -> Result<String, String> {
    if let Some(i) = s.find('%') {
        let bad = s[i..].split('%').skip(1).any(|chunk| {
            chunk.len() < 2 || !chunk.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit)
        });
        if bad {
            return Err("a bad %-escape in the URL".to_string());
        }
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "the URL decodes to invalid UTF-8".to_string())
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

        // An unescaped `@` in the password: the host follows the last one.
        let u = ServerUrl::parse("postgresql://u:p@ss@h/db").unwrap();
        assert_eq!(
            (u.password.as_deref(), u.host.as_str()),
            (Some("p@ss"), "h")
        );
    }

    #[test]
    fn query_parameters_decode_and_are_found_by_either_spelling() {
        let u = ServerUrl::parse(
            "postgresql://root@127.0.0.1:5432/test?options=-csearch_path%3Dseeds&sslmode=verify-full&x=1&ssl_ca=a",
        )
        .unwrap();
        assert_eq!(u.param("options"), Some("-csearch_path=seeds"));
        assert_eq!(u.param("SSLMODE"), Some("verify-full"));
        assert_eq!(u.param("ssl-ca"), Some("a"));
        assert_eq!(
            u.unknown_params(&["options", "sslmode", "ssl-ca"], &["driver"]),
            ["x"]
        );
        let u = ServerUrl::parse("mssql://h/d?encrypt=yes&trustServerCertificate=False").unwrap();
        assert_eq!(u.flag("encrypt"), Ok(Some(true)));
        assert_eq!(u.flag("trustservercertificate"), Ok(Some(false)));
        assert_eq!(u.flag("absent"), Ok(None));
        assert!(ServerUrl::parse("mssql://h/d?encrypt=maybe")
            .unwrap()
            .flag("encrypt")
            .is_err());
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
        assert_eq!(
            ServerUrl::parse("postgresql://u@h:notaport/db").unwrap_err(),
            "`notaport` is not a port number"
        );
        assert!(
            !format!("{:?}", ServerUrl::parse("mysql://u:topsecret@h/d").unwrap())
                .contains("topsecret")
        );
    }
}
