//! Encryption of server connections with rustls (pure Rust, ring; no OpenSSL), with
//! libpq's `sslmode` meanings on PostgreSQL and their equivalents on MySQL/MariaDB:
//!
//! | mode | PostgreSQL `sslmode` | MySQL `ssl-mode` | encrypted | certificate checked |
//! |---|---|---|---|---|
//! | disable | `disable` | `DISABLED` | no | — |
//! | prefer (default) | `allow`, `prefer` | `PREFERRED` | when the server offers it | no (chain against `sslrootcert` when given) |
//! | require | `require` | `REQUIRED` | yes | no (chain against `sslrootcert` when given, as libpq) |
//! | verify-ca | `verify-ca` | `VERIFY_CA` | yes | chain to the CA |
//! | verify-full | `verify-full` | `VERIFY_IDENTITY` | yes | chain and host name |
//!
//! The CA is `sslrootcert` / `ssl-ca` (a PEM file; absent or `system`: the Mozilla roots
//! of `webpki-roots`); a client certificate is `sslcert` + `sslkey` / `ssl-cert` +
//! `ssl-key` (PEM). MS SQL Server's `encrypt` and `trustServerCertificate` are read in
//! `mssql.rs`, with ODBC Driver 18's meanings (tiberius builds its own rustls config).
//!
//! Two crypto providers are linked (ring here and in the mysql crate, aws-lc-rs in
//! tiberius), so rustls cannot pick a process default by itself and a client that asks
//! for one (`ClientConfig::builder()`) would panic: [`install_default_provider`] makes ring
//! the default, and every connection opens through it.
//!
//! In: a parsed [`ServerUrl`]. Out: how to connect, and errors that say which setting is
//! wrong or which check failed (never the password: callers redact the URL).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

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

    /// Whether this mode needs an encrypted connection.
    pub fn needs_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// Makes ring rustls's process-wide default provider, unless one is already installed
/// (idempotent, cheap: every connection calls it before it opens).
pub fn install_default_provider() {
    if CryptoProvider::get_default().is_none() {
        // Another thread may win the race; either way a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// What a URL says about encryption, whatever the server.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub mode: SslMode,
    /// The CA file (None: the Mozilla roots).
    pub root_cert: Option<PathBuf>,
    /// Whether the URL named a CA (libpq then checks the chain under `require` too).
    pub root_named: bool,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Settings {
    fn new(
        mode: SslMode,
        root: Option<&str>,
        cert: Option<&str>,
        key: Option<&str>,
    ) -> Result<Settings, String> {
        let root_cert = root.filter(|r| *r != "system").map(PathBuf::from);
        if cert.is_some() != key.is_some() {
            return Err("a client certificate needs both its certificate and its key".into());
        }
        Ok(Settings {
            mode,
            root_named: root_cert.is_some(),
            root_cert,
            client_cert: cert.map(PathBuf::from),
            client_key: key.map(PathBuf::from),
        })
    }

    /// libpq's parameters.
    pub fn from_pg_url(u: &ServerUrl) -> Result<Settings, String> {
        let mode = match u.param("sslmode") {
            Some(m) => SslMode::parse(m)?,
            None => SslMode::Prefer,
        };
        Settings::new(
            mode,
            u.param("sslrootcert"),
            u.param("sslcert"),
            u.param("sslkey"),
        )
    }

    /// MySQL's parameters.
    pub fn from_mysql_url(u: &ServerUrl) -> Result<Settings, String> {
        Settings::new(
            SslMode::from_mysql_url(u)?,
            u.param("ssl-ca"),
            u.param("ssl-cert"),
            u.param("ssl-key"),
        )
    }

    /// How the server's certificate is checked.
    fn check(&self) -> Check {
        match self.mode {
            SslMode::VerifyFull => Check::Full,
            SslMode::VerifyCa => Check::Chain,
            // libpq: with a root certificate named, `require` behaves as `verify-ca`.
            _ if self.root_named => Check::Chain,
            _ => Check::Nothing,
        }
    }

    /// The rustls configuration these settings ask for.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let roots = || -> Result<Arc<RootCertStore>, String> {
            let mut store = RootCertStore::empty();
            match &self.root_cert {
                Some(path) => {
                    let certs = CertificateDer::pem_file_iter(path)
                        .map_err(|e| format!("the CA file {}: {e}", path.display()))?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("the CA file {}: {e}", path.display()))?;
                    let (added, _) = store.add_parsable_certificates(certs);
                    if added == 0 {
                        return Err(format!(
                            "the CA file {} holds no certificate",
                            path.display()
                        ));
                    }
                }
                None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            Ok(Arc::new(store))
        };
        let verifier: Arc<dyn ServerCertVerifier> = match self.check() {
            Check::Nothing => Arc::new(Unchecked(provider.clone())),
            Check::Chain | Check::Full => {
                let inner = WebPkiServerVerifier::builder_with_provider(roots()?, provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
                if self.check() == Check::Full {
                    inner
                } else {
                    Arc::new(ChainOnly(inner))
                }
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| format!("the client certificate {}: {e}", cert.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("the client certificate {}: {e}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("the client key {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("the client certificate: {e}"))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    Full,
}

/// `prefer` and `require` without a CA: encrypted, the certificate not checked (the
/// handshake's signatures still are).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to the CA; the host name is not compared.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// How a PostgreSQL session is encrypted.
#[derive(Clone)]
pub(crate) struct PgTls {
    settings: Settings,
    config: Option<Arc<ClientConfig>>,
}

impl PgTls {
    pub fn from_url(u: &ServerUrl) -> Result<PgTls, String> {
        let settings = Settings::from_pg_url(u)?;
        let config = match settings.mode {
            SslMode::Disable => None,
            _ => Some(Arc::new(settings.client_config()?)),
        };
        Ok(PgTls { settings, config })
    }

    pub fn connect(&self, config: &postgres::Config) -> Result<postgres::Client, postgres::Error> {
        let mut config = config.clone();
        match &self.config {
            None => {
                config.ssl_mode(postgres::config::SslMode::Disable);
                config.connect(postgres::NoTls)
            }
            Some(tls) => {
                config.ssl_mode(if self.settings.mode.needs_tls() {
                    postgres::config::SslMode::Require
                } else {
                    postgres::config::SslMode::Prefer
                });
                config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(
                    (**tls).clone(),
                ))
            }
        }
    }
}

impl PgTls {
    /// Sends a cancel request for `token`'s statement, encrypted as the session is.
    pub fn cancel(&self, token: &postgres::CancelToken) {
        let _ = match &self.config {
            None => token.cancel_query(postgres::NoTls),
            Some(tls) => token.cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new(
                (**tls).clone(),
            )),
        };
    }
}

/// A failed login, in the server's words, or which TLS check failed and why.
pub(crate) fn explain_pg(e: &postgres::Error, u: &ServerUrl) -> String {
    let text = super::postgres::error_text(e);
    let mut full = text.clone();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        full.push_str(": ");
        full.push_str(&s.to_string());
        source = s.source();
    }
    explain_tls(&full, &u.host).unwrap_or(full)
}

/// Plain words for the TLS failures a user can fix.
pub(crate) fn explain_tls(text: &str, host: &str) -> Option<String> {
    if text.contains("NotValidForName") || text.contains("not valid for name") {
        Some(format!(
            "TLS: the server's certificate is not for host `{host}` (verify-full compares the host name of the URL with the certificate's; {text})"
        ))
    } else if text.contains("UnknownIssuer") || text.contains("BadSignature") {
        Some(format!(
            "TLS: the server's certificate is not signed by a trusted CA (the CA file of sslrootcert / ssl-ca, or the Mozilla roots when none is named; {text})"
        ))
    } else if text.contains("server does not support TLS") || text.contains("TlsNotSupported") {
        Some(format!(
            "TLS: the server does not offer encryption, and the connection requires it ({text})"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> Result<Settings, String> {
        Settings::from_pg_url(&ServerUrl::parse(url).unwrap())
    }

    #[test]
    fn modes_and_what_they_check() {
        let s = pg("postgresql://h/d").unwrap();
        assert_eq!((s.mode, s.check()), (SslMode::Prefer, Check::Nothing));
        let s = pg("postgresql://h/d?sslmode=require").unwrap();
        assert_eq!(s.check(), Check::Nothing);
        let s = pg("postgresql://h/d?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(s.check(), Check::Chain);
        let s = pg("postgresql://h/d?sslmode=verify-ca").unwrap();
        assert_eq!((s.check(), s.root_cert), (Check::Chain, None));
        let s = pg("postgresql://h/d?sslmode=verify-full&sslrootcert=system").unwrap();
        assert_eq!((s.check(), s.root_named), (Check::Full, false));
        assert!(pg("postgresql://h/d?sslmode=often").is_err());
        assert!(pg("postgresql://h/d?sslcert=/c.pem").is_err());
        let my = |url: &str| Settings::from_mysql_url(&ServerUrl::parse(url).unwrap()).unwrap();
        assert_eq!(
            my("mysql://h/d?ssl-mode=VERIFY_IDENTITY").mode,
            SslMode::VerifyFull
        );
        assert_eq!(my("mysql://h/d?ssl_mode=disabled").mode, SslMode::Disable);
        assert_eq!(my("mysql://h/d").mode, SslMode::Prefer);
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let e = pg("postgresql://h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .unwrap()
            .client_config()
            .unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        // The Mozilla roots when none is named.
        assert!(pg("postgresql://h/d?sslmode=verify-full")
            .unwrap()
            .client_config()
            .is_ok());
    }
}
