//! Converted Sigma rules give the same answers on PostgreSQL and MariaDB/MySQL as on
//! SQLite (where `tests/sigma_oracle.rs` checks them against pySigma).
//!
//! A sample of the shared SigmaHQ rules (every 12th, plus kestrel's own test rules) goes
//! through the oracle (`tests/sigma_support/oracle.py`) to build each rule's table; the
//! tables are copied to each server as `i20_<table>` and `WHERE SIGMA` must select the
//! events pySigma selects on SQLite, and so must the huntflow `kestrel sigma convert` prints
//! for each rule, run on its own. The servers are those of README's Set up
//! (`KESTREL_TEST_PG_URL`, `KESTREL_TEST_MYSQL_URL`); unreachable, the test fails.

mod common;
mod sigma_support;

use std::path::Path;

use kestrel::backend::{self, Backend, Collect, OpenOptions};
use kestrel::ir::Literal;
use kestrel::sql::SqlStatement;

use sigma_support::{oracle, run_converted_ids, run_hunt_ids, sample, Case, Lake};

fn open(url: &str) -> Box<dyn Backend> {
    backend::open(
        url,
        &OpenOptions {
            allow_write: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("the test server at {url} must be reachable: {e}"))
}

fn exec(b: &mut dyn Backend, sql: &str, params: Vec<Literal>) {
    b.query(
        &SqlStatement {
            sql: sql.into(),
            params,
        },
        &mut Collect::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", &sql[..sql.len().min(200)]));
}

/// Copies each case's SQLite table to the server as `i20_<table>`.
fn copy_tables(db: &Path, cases: &[Case], b: &mut dyn Backend, url: &str) {
    let pg = b.dialect() == "postgres";
    let q = |c: &str| {
        if pg {
            format!("\"{}\"", c.replace('"', "\"\""))
        } else {
            format!("`{}`", c.replace('`', "``"))
        }
    };
    let lite = rusqlite::Connection::open(db).unwrap();
    for case in cases {
        let Some(table) = &case.table else { continue };
        let target = format!("i20_{table}");
        exec(b, &format!("DROP TABLE IF EXISTS {}", q(&target)), vec![]);
        let cols: Vec<(String, String)> = lite
            .prepare(&format!("PRAGMA table_info(\"{table}\")"))
            .unwrap()
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let decl: Vec<String> = cols
            .iter()
            .map(|(c, t)| {
                format!(
                    "{} {}",
                    q(c),
                    if t == "INTEGER" { "BIGINT" } else { "TEXT" }
                )
            })
            .collect();
        exec(
            b,
            &format!("CREATE TABLE {} ({})", q(&target), decl.join(", ")),
            vec![],
        );
        let mut stmt = lite.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let rows: Vec<Vec<Literal>> = stmt
            .query_map([], |r| {
                Ok((0..cols.len())
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Null => Literal::Null,
                        rusqlite::types::ValueRef::Integer(n) => Literal::Int(n),
                        rusqlite::types::ValueRef::Real(f) => Literal::Float(f),
                        rusqlite::types::ValueRef::Text(t) => {
                            Literal::Str(String::from_utf8_lossy(t).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(_) => Literal::Null,
                    })
                    .collect())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // PostgreSQL text cannot hold NUL: such rows stay out on both servers alike, and
        // the expected answer is filtered the same way below.
        for chunk in rows.chunks(50) {
            let mut n = 0;
            let mut params = Vec::new();
            let mut tuples = Vec::new();
            for row in chunk {
                let mut ph = Vec::new();
                for v in row {
                    n += 1;
                    ph.push(if pg { format!("${n}") } else { "?".into() });
                    params.push(v.clone());
                }
                tuples.push(format!("({})", ph.join(", ")));
            }
            exec(
                b,
                &format!("INSERT INTO {} VALUES {}", q(&target), tuples.join(", ")),
                params,
            );
        }
        let _ = url;
    }
}

fn drop_tables(b: &mut dyn Backend, cases: &[Case]) {
    let pg = b.dialect() == "postgres";
    for t in cases.iter().filter_map(|c| c.table.as_deref()) {
        let name = if pg {
            format!("\"i20_{t}\"")
        } else {
            format!("`i20_{t}`")
        };
        exec(b, &format!("DROP TABLE IF EXISTS {name}"), vec![]);
    }
}

fn same_answers_on(url: &str, name: &str) {
    let dir = common::fresh_dir("sigma-backends", name);
    sample(&dir);
    let out = oracle(&format!("sigma-backends-{name}"), &dir);
    let mut b = open(url);
    copy_tables(&out.dir.join("lake.db"), &out.cases, b.as_mut(), url);
    let lake = Lake::with_url(url, &out.cases, "i20_");
    let mut compared = 0;
    let mut converted = 0;
    let mut differ = Vec::new();
    for case in &out.cases {
        let Some(expected) = &case.matched else {
            continue;
        };
        match run_converted_ids(&lake.config, &dir, case) {
            Ok(got) if &got == expected => converted += 1,
            Ok(got) => differ.push(format!(
                "{}: converted on {name} {} events, pySigma on SQLite {}",
                case.rule,
                got.len(),
                expected.len()
            )),
            Err(why) if why.starts_with("kestrel: ") => {}
            Err(why) => differ.push(format!("{}: converted: {why}", case.rule)),
        }
        match run_hunt_ids(&lake.config, &dir, case) {
            Ok(got) if &got == expected => compared += 1,
            Ok(got) => differ.push(format!(
                "{}: {name} {} events, pySigma on SQLite {}",
                case.rule,
                got.len(),
                expected.len()
            )),
            // A rule kestrel refuses is refused alike on every backend.
            Err(why) if why.starts_with("kestrel: ") => {}
            Err(why) => differ.push(format!("{}: {why}", case.rule)),
        }
    }
    drop_tables(b.as_mut(), &out.cases);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{name}: {compared} rules (WHERE SIGMA) and {converted} converted huntflows give \
         pySigma's answer, {} differ",
        differ.len()
    );
    assert!(differ.is_empty(), "{name}:\n{}", differ.join("\n"));
    assert!(compared > 60, "{name}: only {compared} rules compared");
    assert!(
        converted > 60,
        "{name}: only {converted} converted huntflows compared"
    );
}

#[test]
fn converted_rules_agree_on_postgres() {
    same_answers_on(&common::pg_url(), "postgres");
}

#[test]
fn converted_rules_agree_on_mariadb() {
    same_answers_on(&common::my_url(), "mariadb");
}
