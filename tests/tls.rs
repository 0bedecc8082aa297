//! TLS on the server clients, live: private PostgreSQL and MariaDB servers that accept
//! only encrypted connections, started by `.ci/tls-servers.sh` (idempotent; the shared
//! servers are left alone) with a CA and a server certificate for `localhost` that it
//! makes. `verify-full` connects; a wrong CA or a wrong host name fails with an error that
//! says which check failed, names the server and never shows the password.

use std::path::PathBuf;
use std::sync::Once;

use kestrel::backend::{self, Collect, OpenOptions};
use kestrel::config::Config;
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;
use kestrel::sql::SqlStatement;
use kestrel::value::Value;

fn tls_dir() -> PathBuf {
    std::env::var_os("KESTREL_TLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/kestrel-tls"))
}

/// Starts the private servers once per test binary.
fn servers() -> PathBuf {
    static START: Once = Once::new();
    START.call_once(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/tls-servers.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{} failed (it needs root, PostgreSQL and MariaDB installed): {}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    tls_dir()
}

fn scalar(url: &str, sql: &str) -> Result<Value, String> {
    let mut b = backend::open(url, &OpenOptions::default()).map_err(|e| e.to_string())?;
    let mut c = Collect::default();
    b.query(
        &SqlStatement {
            sql: sql.into(),
            params: vec![],
        },
        &mut c,
    )
    .map_err(|e| e.to_string())?;
    Ok(c.rows[0][0].clone())
}

/// (server, URL without TLS parameters for `host`, SQL that says whether the session is
/// encrypted, how the CA and mode are written).
fn servers_under_test(host: &str) -> Vec<(&'static str, String, &'static str, [&'static str; 4])> {
    vec![
        (
            "postgres",
            format!("postgresql://postgres:s3cr3t@{host}:54329/postgres"),
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ["sslmode", "sslrootcert", "verify-full", "verify-ca"],
        ),
        (
            "mariadb",
            format!("mysql://root:s3cr3t@{host}:33069/test"),
            "SELECT VARIABLE_VALUE <> '' FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'",
            ["ssl-mode", "ssl-ca", "VERIFY_IDENTITY", "VERIFY_CA"],
        ),
    ]
}

#[test]
fn verify_full_connects_encrypted_to_the_right_host_with_the_right_ca() {
    let dir = servers();
    let ca = dir.join("ca.pem");
    for (name, base, encrypted, [mode, root, full, ca_only]) in servers_under_test("localhost") {
        let url = format!("{base}?{mode}={full}&{root}={}", ca.display());
        let got = scalar(&url, encrypted).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            matches!(got, Value::Bool(true) | Value::Int(1)),
            "{name}: {got:?}"
        );
        // verify-ca checks the chain only: the IP address is not in the certificate.
        let by_ip = base.replace("localhost", "127.0.0.1");
        let url = format!("{by_ip}?{mode}={ca_only}&{root}={}", ca.display());
        scalar(&url, encrypted).unwrap_or_else(|e| panic!("{name} verify-ca by IP: {e}"));
        // The default (prefer / PREFERRED) encrypts too when the server offers it.
        let got = scalar(&by_ip, encrypted).unwrap_or_else(|e| panic!("{name} default: {e}"));
        assert!(
            matches!(got, Value::Bool(true) | Value::Int(1)),
            "{name}: {got:?}"
        );
    }
}

#[test]
fn a_wrong_ca_or_host_name_or_no_encryption_fails_clearly() {
    let dir = servers();
    let (ca, other) = (dir.join("ca.pem"), dir.join("other-ca.pem"));
    for host in ["localhost", "127.0.0.1"] {
        for (name, base, encrypted, [mode, root, full, _]) in servers_under_test(host) {
            let cases = if host == "localhost" {
                vec![(
                    format!("{base}?{mode}={full}&{root}={}", other.display()),
                    "not signed by a trusted CA",
                )]
            } else {
                vec![
                    (
                        format!("{base}?{mode}={full}&{root}={}", ca.display()),
                        "not for host `127.0.0.1`",
                    ),
                    (
                        format!(
                            "{base}?{mode}={}",
                            if name == "postgres" {
                                "disable"
                            } else {
                                "DISABLED"
                            }
                        ),
                        "",
                    ),
                ]
            };
            for (url, want) in cases {
                let err = scalar(&url, encrypted).expect_err(&format!("{name}: {url} connected"));
                assert!(err.contains(want), "{name} {url}: {err}");
                assert!(err.contains(&format!(":***@{host}:")), "{name}: {err}");
                assert!(!err.contains("s3cr3t"), "{name}: {err}");
            }
        }
    }
}

#[test]
fn a_tls_failure_in_a_hunt_names_the_data_source() {
    let dir = servers();
    let yaml = format!(
        "connections:\n  vault:\n    url: 'postgresql://postgres:s3cr3t@127.0.0.1:54329/postgres?sslmode=verify-full&sslrootcert={}'\n\
         datasources:\n  edr:\n    connection: vault\n    table: events\n",
        dir.join("ca.pem").display()
    );
    let config = Config::from_yaml_str(&yaml, None).unwrap();
    let src = SourceFile::new(
        "hunt.hf",
        "p = GET process FROM x://edr WHERE pid = 1\nDISP p\n",
    );
    let err = run_hunt(
        &src,
        Some(&config),
        &mut Printer::new(Vec::new(), Format::Csv),
        &mut Vec::new(),
        &RunOptions { summary: false },
    )
    .map(|_| ())
    .map_err(|d| d.render(&src))
    .expect_err("the certificate is not for 127.0.0.1");
    assert!(err.contains("data source `edr`"), "{err}");
    assert!(err.contains("not for host `127.0.0.1`"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

/// Ctrl-C on a TLS-only server: the cancel request travels encrypted too, so the sleeping
/// statement ends at once (else the command would sit out the minute and be killed at 30 s
/// with another status).
#[cfg(unix)]
#[test]
fn ctrl_c_cancels_a_statement_on_a_tls_only_postgres() {
    use std::time::{Duration, Instant};
    let dir = servers();
    let url = format!(
        "postgresql://postgres@localhost:54329/postgres?sslmode=verify-full&sslrootcert={}",
        dir.join("ca.pem").display()
    );
    let view = format!("kestrel_tls_slow_{}", std::process::id());
    let mut admin = backend::open(
        &url,
        &OpenOptions {
            allow_write: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut ddl = |sql: String| {
        admin
            .query(
                &SqlStatement {
                    sql,
                    params: vec![],
                },
                &mut Collect::default(),
            )
            .unwrap()
    };
    ddl(format!("DROP VIEW IF EXISTS \"{view}\""));
    ddl(format!(
        "CREATE VIEW \"{view}\" AS SELECT 'x'::text AS \"process.name\", s AS \"process.pid\" \
         FROM generate_series(1, 3) s, pg_sleep(60) z"
    ));
    let work = std::env::temp_dir().join(format!("kestrel-tls-{view}"));
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("kestrel.yaml");
    std::fs::write(
        &config,
        format!("connections:\n  db:\n    url: '{url}'\ndatasources:\n  slow:\n    connection: db\n    table: {view}\n"),
    )
    .unwrap();
    let hunt = work.join("hunt.hf");
    std::fs::write(
        &hunt,
        "p = GET process FROM x://slow WHERE name = 'x'\nDISP p ATTR pid\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["run", "--no-summary", "--config"])
        .arg(&config)
        .arg(&hunt)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sends SIGINT to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    ddl(format!("DROP VIEW IF EXISTS \"{view}\""));
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
}

/// A TLS listener standing in for SQL Server under `encrypt=strict` (TDS 8.0: TLS before
/// the first TDS packet), with the test CA's certificate for `localhost`: it reports
/// whether each handshake completed, then hangs up (no TDS follows, so every login fails
/// afterwards; what matters is whether the client accepted the certificate).
fn fake_strict_sql_server(
    dir: &std::path::Path,
) -> (u16, std::sync::mpsc::Receiver<Result<(), String>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut tcp) = stream else { return };
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut shaken = Ok(());
            while conn.is_handshaking() {
                if let Err(e) = conn.complete_io(&mut tcp) {
                    shaken = Err(e.to_string());
                    break;
                }
            }
            if tx.send(shaken).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// SQL Server's URL parameters reach tiberius's rustls client (which links aws-lc-rs
/// beside our ring: without a process default provider a client built with
/// `ClientConfig::builder()` panics), checked against a TLS listener: the test CA in
/// `ServerCertificate` is accepted for `localhost`, and for `127.0.0.1` only with
/// `hostNameInCertificate=localhost`; the system roots, another CA or another name are
/// refused, and `trustServerCertificate` does not loosen `strict`. No SQL Server runs
/// here, so every login ends in an error after the handshake.
#[test]
fn sql_server_strict_encryption_checks_the_certificate_as_the_url_says() {
    let dir = servers();
    let (port, handshakes) = fake_strict_sql_server(&dir);
    let (ca, other) = (dir.join("ca.pem"), dir.join("other-ca.pem"));
    let cases = [
        (
            "localhost",
            format!("ServerCertificate={}", ca.display()),
            true,
        ),
        (
            "localhost",
            format!("ServerCertificate={}", other.display()),
            false,
        ),
        ("localhost", String::new(), false),
        (
            "localhost",
            "trustServerCertificate=true".to_string(),
            false,
        ),
        (
            "127.0.0.1",
            format!("ServerCertificate={}", ca.display()),
            false,
        ),
        (
            "127.0.0.1",
            format!(
                "ServerCertificate={}&hostNameInCertificate=localhost",
                ca.display()
            ),
            true,
        ),
        (
            "localhost",
            format!(
                "ServerCertificate={}&hostNameInCertificate=sql.example",
                ca.display()
            ),
            false,
        ),
    ];
    for (host, params, accepted) in cases {
        let url = format!("mssql://sa:s3cr3t@{host}:{port}/test?encrypt=strict&{params}");
        let err = match backend::open(&url, &OpenOptions::default()) {
            Ok(_) => panic!("{url}: logged in to a listener that speaks no TDS"),
            Err(e) => e.to_string(),
        };
        assert!(!err.contains("s3cr3t"), "{err}");
        let shaken = handshakes
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{url}: the listener saw no connection ({e}); {err}"));
        assert_eq!(shaken.is_ok(), accepted, "{url}: {shaken:?}; client: {err}");
        if !accepted {
            assert!(err.to_lowercase().contains("certificate"), "{url}: {err}");
        }
    }
}
