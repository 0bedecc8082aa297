//! Nothing typed into a hunt executes as SQL, and hostile text compares as text.
//!
//! A table holds one row per hostile value (quotes, backslashes, `%`, `_`, `--`, `/* */`,
//! `;`, NUL, non-ASCII, a 100,000-character string, placeholders, …) and one NULL. Each
//! value is then hunted with `=`, `!=`, `IN`, `NOT IN`, `LIKE`, `MATCHES` (regex-escaped)
//! and a reference to a NEW variable holding it; the rows that come back must be exactly
//! the rows a comparison in Rust selects (the meaning DESIGN.md gives each operator).
//! Afterwards the table still holds every row and no other table exists. Hostile column
//! and table names are covered the same way, and for every dialect in `dialects/` every
//! identifier in emitted SQL is quoted.
//!
//! Backends: every case runs on SQLite. [`live_backends`] lists the connection URLs to
//! run on; another backend is one more URL there (its rows are loaded with
//! `kestrel ingest`, so the backend needs ingest support).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};
use kestrel::lower::LowerOptions;
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;
use kestrel::sql::{Dialect, LiteralMode};

/// The values hunted for. Index = the row's `process.pid`.
fn hostile_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "'",
        "''",
        "a'b",
        "\\",
        "\\\\",
        "\\'",
        "a\\'; DROP TABLE t; --",
        "\"",
        "a\"b",
        "\\\"",
        "`",
        "[x]",
        "]",
        "%",
        "_",
        "a%b",
        "a_b",
        "%%",
        "_%_",
        "axb",
        "a%",
        "A%B",
        "--",
        "-- comment",
        "/*",
        "*/",
        "/* x */ 1",
        ";",
        "; DROP TABLE t; --",
        "' OR '1'='1",
        "\" OR \"1\"=\"1",
        "1; SELECT 1",
        "?1",
        "?",
        "$1",
        "@P1",
        ":name",
        "NULL",
        "null",
        "",
        " ",
        "a b",
        "\n",
        "tab\there",
        "\r\n",
        "é",
        "É",
        "école",
        "ÉCOLE",
        "straße",
        "日本語",
        "😀",
        "\u{202e}evil",
        "\u{feff}bom",
        "e\u{301}",
        "C:\\Windows\\System32\\cmd.exe",
        "%\\system32\\%",
        "(?i)cmd",
        "[a-z]+",
        ".*",
        "$",
        "^",
        "Robert'); DROP TABLE Students;--",
        "a\0b",
        "\0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(100_000));
    v.push(format!("{}'{}", "y".repeat(50_000), "y".repeat(50_000)));
    v
}

/// A live backend: a connection URL a test can create tables on.
struct LiveBackend {
    name: &'static str,
    url: String,
    _dir: Option<TempDir>,
}

/// Every backend the suite runs on. SQLite always; a server backend is one more entry
/// here (e.g. from an environment variable holding its URL), once `kestrel ingest` and
/// the runner support it.
fn live_backends(test: &str) -> Vec<LiveBackend> {
    let dir = TempDir::new(test);
    let db = dir.0.join("lake.db");
    // `kestrel ingest` creates the file; the runner opens an existing one.
    vec![LiveBackend {
        name: "sqlite",
        url: format!("sqlite:///{}", db.display()),
        _dir: Some(dir),
    }]
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("kestrel-sqlsafety-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads JSON-lines `rows` into `table` on the backend, through `kestrel ingest`.
fn load(b: &LiveBackend, table: &str, rows: &[serde_json::Value]) {
    let dir = std::env::temp_dir().join(format!(
        "kestrel-sqlsafety-rows-{table}-{}.jsonl",
        std::process::id()
    ));
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&dir, text).expect("write rows");
    ingest(&IngestOptions {
        files: vec![dir.clone()],
        into: b.url.clone(),
        table: table.into(),
        format: None,
        replace: true,
        append: false,
        progress: false,
    })
    .unwrap_or_else(|e| panic!("{}: ingest {table}: {e}", b.name));
    let _ = std::fs::remove_file(&dir);
}

fn config(b: &LiveBackend, tables: &[(&str, &str)]) -> Config {
    let mut yaml = format!(
        "connections:\n  lake:\n    url: {}\n    table_creation_permission: true\ndatasources:\n",
        serde_json::to_string(&b.url).unwrap()
    );
    for (ds, table) in tables {
        yaml.push_str(&format!(
            "  {ds}:\n    connection: lake\n    table: {}\n    timestamp: \"@timestamp\"\n",
            serde_json::to_string(table).unwrap()
        ));
    }
    Config::from_yaml_str(&yaml, None).expect("config")
}

/// Runs a hunt; each DISP's rows as JSON arrays (Format::Json prints one line per DISP).
fn run(config: &Config, hunt: &str) -> Result<Vec<Vec<serde_json::Value>>, String> {
    let src = SourceFile::new("hunt.hf", hunt);
    let mut printer = Printer::new(Vec::new(), Format::Json);
    let mut summary = Vec::new();
    run_hunt(
        &src,
        Some(config),
        &mut printer,
        &mut summary,
        &RunOptions { summary: false },
    )
    .map_err(|d| d.render(&src))?;
    let out = String::from_utf8(printer.into_inner()).expect("UTF-8 output");
    Ok(out
        .lines()
        .map(|l| {
            serde_json::from_str::<Vec<serde_json::Value>>(l)
                .unwrap_or_else(|e| panic!("not a JSON array ({e}): {l}"))
        })
        .collect())
}

/// A Kestrel string literal holding exactly `s` (escapes for quotes, backslashes and
/// control characters; everything else as is).
fn lit(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// LIKE as DESIGN.md defines it: `%` any run, `_` one character, ASCII letters match
/// either case, every other character (backslash included) itself.
fn like(text: &str, pattern: &str) -> bool {
    // The usual wildcard match: on a mismatch, let the last `%` take one more character.
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < t.len() {
        if j < p.len() && (p[j] == '_' || (p[j] != '%' && p[j] == t[i])) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j..].iter().all(|c| *c == '%')
}

fn pids(rows: &[serde_json::Value]) -> BTreeSet<i64> {
    rows.iter()
        .map(|r| {
            r.get("pid")
                .and_then(|p| p.as_i64())
                .unwrap_or_else(|| panic!("row without an integer pid: {r}"))
        })
        .collect()
}

fn value_rows(values: &[String]) -> Vec<serde_json::Value> {
    let mut rows: Vec<serde_json::Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::json!({
                "@timestamp": "2024-07-08T00:00:01.000000Z",
                "process": {"name": v, "pid": i as i64, "entity_id": format!("p-{i}")},
            })
        })
        .collect();
    // A NULL name: never equal, unequal, like or unlike anything.
    rows.push(serde_json::json!({
        "@timestamp": "2024-07-08T00:00:01.000000Z",
        "process": {"name": null, "pid": 9999, "entity_id": "p-null"},
    }));
    rows
}

/// Table names that still exist besides the ones the test made.
fn sqlite_tables(url: &str) -> Vec<String> {
    let path = url.trim_start_matches("sqlite:///");
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut st = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    names
}

#[test]
fn hostile_values_compare_as_text_on_every_backend() {
    let values = hostile_values();
    for b in live_backends("values") {
        let table = "sqlsafety_values";
        load(&b, table, &value_rows(&values));
        let cfg = config(&b, &[("t", table)]);
        let all: BTreeSet<i64> = (0..values.len() as i64).collect();
        let mut failures = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let l = lit(v);
            let re = lit(&format!("^{}$", regex::escape(v)));
            let hunt = format!(
                "eq = GET process FROM sqlite://t WHERE name = {l}\n\
                 ne = GET process FROM sqlite://t WHERE name != {l}\n\
                 inl = GET process FROM sqlite://t WHERE name IN ({l}, 'zz-not-there')\n\
                 nin = GET process FROM sqlite://t WHERE name NOT IN ({l})\n\
                 lk = GET process FROM sqlite://t WHERE name LIKE {l}\n\
                 re = GET process FROM sqlite://t WHERE name MATCHES {re}\n\
                 vals = NEW process [{l}]\n\
                 rf = GET process FROM sqlite://t WHERE name = vals.name\n\
                 DISP eq ATTR pid\nDISP ne ATTR pid\nDISP inl ATTR pid\nDISP nin ATTR pid\n\
                 DISP lk ATTR pid\nDISP re ATTR pid\nDISP rf ATTR pid\n"
            );
            let equal: BTreeSet<i64> = values
                .iter()
                .enumerate()
                .filter(|(_, w)| *w == v)
                .map(|(j, _)| j as i64)
                .collect();
            let unequal: BTreeSet<i64> = all.difference(&equal).copied().collect();
            let liked: BTreeSet<i64> = values
                .iter()
                .enumerate()
                .filter(|(_, w)| like(w, v))
                .map(|(j, _)| j as i64)
                .collect();
            let expected = [
                ("=", &equal),
                ("!=", &unequal),
                ("IN", &equal),
                ("NOT IN", &unequal),
                ("LIKE", &liked),
                ("MATCHES", &equal),
                ("= ref", &equal),
            ];
            match run(&cfg, &hunt) {
                Ok(displays) => {
                    assert_eq!(displays.len(), expected.len(), "{}: value #{i}", b.name);
                    for ((op, want), rows) in expected.iter().zip(&displays) {
                        let got = pids(rows);
                        if got != **want {
                            failures.push(format!(
                                "{}: name {op} {:?} (#{i}): got {:?}, want {:?}",
                                b.name,
                                shorten(v),
                                got,
                                want
                            ));
                        }
                    }
                }
                Err(e) => failures.push(format!("{}: value #{i} {:?}: {e}", b.name, shorten(v))),
            }
        }
        // Nothing was dropped, deleted or created.
        let rows = run(
            &cfg,
            "a = GET process FROM sqlite://t WHERE pid >= 0\nDISP a ATTR pid\n",
        )
        .expect("count rows");
        assert_eq!(rows[0].len(), values.len() + 1, "{}: rows lost", b.name);
        if b.name == "sqlite" {
            assert_eq!(sqlite_tables(&b.url), vec![table.to_string()]);
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!(
            "{}… ({} chars)",
            s.chars().take(20).collect::<String>(),
            s.chars().count()
        )
    } else {
        s.to_string()
    }
}

/// Native columns whose names are SQL keywords or hold characters SQL gives meaning to,
/// in a table whose own name does: hunted by name where the language can spell it, and
/// shown by `DISP` (all attributes) where it cannot.
#[test]
fn hostile_column_and_table_names_are_quoted_on_every_backend() {
    let typed = [
        "select",
        "order",
        "union",
        "drop",
        "table",
        "x-drop-table",
        "x_ünï",
        "$x",
        "@x",
        "x_日本",
    ];
    let untyped = [
        "we\"ird", "a'b", "a;b", "a--b", "a/*b*/", "[br]", "`bt`", "a\\\"b", "a\\", "a b", "%_",
    ];
    for b in live_backends("columns") {
        let table = "sqlsafety \"odd\"; DROP TABLE x; --";
        let mut row = serde_json::Map::new();
        row.insert("@timestamp".into(), "2024-07-08T00:00:01.000000Z".into());
        row.insert("process.pid".into(), 7.into());
        row.insert("process.name".into(), "cmd.exe".into());
        for (i, c) in typed.iter().chain(untyped.iter()).enumerate() {
            row.insert(c.to_string(), format!("v{i}").into());
        }
        let mut other = row.clone();
        other.insert("process.pid".into(), 8.into());
        for (_, v) in other
            .iter_mut()
            .filter(|(k, _)| typed.contains(&k.as_str()))
        {
            *v = "other".into();
        }
        load(
            &b,
            table,
            &[
                serde_json::Value::Object(row),
                serde_json::Value::Object(other),
            ],
        );
        let cfg = config(&b, &[("t", table)]);
        for (i, c) in typed.iter().enumerate() {
            // A native column the mapping does not know filters; it is not an attribute
            // of the result (GET returns the entity's mapped attributes).
            let hunt = format!(
                "a = GET process FROM sqlite://t WHERE {c} = 'v{i}'\nDISP a ATTR pid, name\n"
            );
            let out = run(&cfg, &hunt).unwrap_or_else(|e| panic!("{}: column {c}: {e}", b.name));
            assert_eq!(
                out[0],
                vec![serde_json::json!({"pid": 7, "name": "cmd.exe"})],
                "{}: column {c}",
                b.name
            );
        }
        // NEW with hostile keys: each key is a column of the VALUES it travels in.
        let keys: Vec<String> = untyped
            .iter()
            .map(|k| format!("{}: {}", serde_json::to_string(k).unwrap(), lit(k)))
            .collect();
        let hunt = format!(
            "n = NEW [ {{\"type\": \"process\", \"name\": \"x\", {}}} ]\nDISP n\n",
            keys.join(", ")
        );
        let out = run(&cfg, &hunt).unwrap_or_else(|e| panic!("{}: NEW: {e}", b.name));
        let row = out[0][0].as_object().expect("one row");
        for k in untyped {
            assert_eq!(
                row.get(k),
                Some(&serde_json::json!(k)),
                "{}: key {k:?}",
                b.name
            );
        }
        if b.name == "sqlite" {
            assert_eq!(sqlite_tables(&b.url), vec![table.to_string()]);
        }
    }
}

/// The SQL `compile` prints (literals inline) means what the executed SQL (literals
/// bound) means: run both on SQLite and compare, for every hostile value.
#[test]
fn previewed_sql_with_hostile_literals_selects_the_same_rows() {
    let values = hostile_values();
    let b = live_backends("preview").remove(0);
    let table = "sqlsafety_preview";
    load(&b, table, &value_rows(&values));
    // The backend's connection: its LIKE is the language's (see src/backend/like.rs).
    let backend = kestrel::backend::sqlite::SqliteBackend::open_url(&b.url, false).expect("open");
    let conn = backend.connection();
    let cfg = config(&b, &[("t", table)]);
    let d = Dialect::builtin("sqlite").unwrap();
    let mut failures = Vec::new();
    for v in &values {
        // SQL text cannot hold NUL: a preview shows it, but SQLite stops reading there.
        if v.contains('\0') {
            continue;
        }
        let l = lit(v);
        let hunt = format!(
            "a = GET process FROM sqlite://t WHERE name = {l} OR name LIKE {l} OR name IN ({l})\nDISP a ATTR pid\n"
        );
        let src = SourceFile::new("hunt.hf", hunt.as_str());
        let program = kestrel::compile_program(
            &src,
            LowerOptions {
                config: Some(&cfg),
                catalog: None,
                now: common::FIXED_NOW,
            },
        )
        .unwrap_or_else(|e| panic!("{}", e.render(&src)));
        let run_sql = |mode: LiteralMode| -> Result<BTreeSet<i64>, String> {
            let out = kestrel::output_sql(&program, &d, mode).map_err(|e| e.render(&src))?;
            let st = &out[0].statements[0];
            let mut stmt = conn
                .prepare(&st.sql)
                .map_err(|e| format!("{e}\n{}", st.sql))?;
            let params: Vec<rusqlite::types::Value> = st
                .params
                .iter()
                .map(|p| match p {
                    kestrel::ir::Literal::Str(s) => rusqlite::types::Value::Text(s.clone()),
                    kestrel::ir::Literal::Int(i) => rusqlite::types::Value::Integer(*i),
                    other => panic!("unexpected parameter {other:?}"),
                })
                .collect();
            let rows = stmt
                .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, i64>(0))
                .map_err(|e| e.to_string())?
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(|e| e.to_string())?;
            Ok(rows)
        };
        match (run_sql(LiteralMode::Bind), run_sql(LiteralMode::Inline)) {
            (Ok(a), Ok(b)) if a == b => {}
            (a, b) => failures.push(format!("{:?}: bound {a:?}, inline {b:?}", shorten(v))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every identifier in emitted SQL is quoted, in every dialect: the names in the hunt and
/// the mapping appear only inside the dialect's identifier quotes.
#[test]
fn identifiers_are_quoted_in_every_dialect() {
    let hunt = "procs = GET process FROM sqlite://events WHERE name = 'cmd.exe' AND x_select = 1\n\
                kids = FIND process CREATED BY procs\n\
                g = GROUP kids BY name WITH COUNT(pid) AS n\n\
                DISP g ATTR name, n SORT BY n\n\
                DISP procs ATTR name, pid SORT BY pid LIMIT 5\n";
    let src = SourceFile::new("hunt.hf", hunt);
    let program = kestrel::compile_program(&src, LowerOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(&src)));
    for name in Dialect::names() {
        let d = Dialect::builtin(name).unwrap();
        let (open, close) = match d.identifier_quote_style {
            kestrel::sql::dialect::QuoteStyle::Double => ('"', '"'),
            kestrel::sql::dialect::QuoteStyle::Backtick => ('`', '`'),
            kestrel::sql::dialect::QuoteStyle::Bracket => ('[', ']'),
        };
        for o in kestrel::output_sql(&program, &d, LiteralMode::Bind).unwrap() {
            for st in &o.statements {
                let bare = strip_quoted(&st.sql, open, close);
                for word in [
                    "process.name",
                    "x_select",
                    "events",
                    "procs",
                    "kids",
                    "cmd.exe",
                ] {
                    assert!(
                        !bare.contains(word),
                        "{name}: `{word}` outside quotes in\n{}",
                        st.sql
                    );
                }
            }
        }
    }
}

/// `sql` with quoted identifiers and string literals removed.
fn strip_quoted(sql: &str, open: char, close: char) -> String {
    let mut out = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let end = if c == open {
            close
        } else if c == '\'' {
            '\''
        } else {
            out.push(c);
            continue;
        };
        while let Some(d) = chars.next() {
            if d == end {
                if chars.peek() == Some(&end) {
                    chars.next();
                } else {
                    break;
                }
            }
        }
        out.push('_');
    }
    out
}

/// Quoting a name in each identifier style: the closing quote doubled, everything else
/// (backslashes, doubled quotes already in the name, line breaks) kept as it is, so the
/// database reads back exactly the name. Covers styles no shipped dialect uses yet.
#[test]
fn identifier_quoting_round_trips_in_every_style() {
    let base = Dialect::builtin("sqlite").unwrap();
    let names = [
        "plain",
        "we\"ird",
        "a\"\"b",
        "a\\\"b",
        "a\\",
        "]",
        "a]]b",
        "`bt`",
        "x\ny",
        "\u{FDD0}\u{FDD1}",
    ];
    for (style, open, close) in [
        (kestrel::sql::dialect::QuoteStyle::Double, '"', '"'),
        (kestrel::sql::dialect::QuoteStyle::Backtick, '`', '`'),
        (kestrel::sql::dialect::QuoteStyle::Bracket, '[', ']'),
    ] {
        let mut d = base.clone();
        d.identifier_quote_style = style;
        for name in names {
            let printed = kestrel::sql::builders::restore_line_breaks(
                kestrel::sql::builders::ident(&d, name).to_string(),
            );
            let inner = &printed[open.len_utf8()..printed.len() - close.len_utf8()];
            assert!(
                printed.starts_with(open) && printed.ends_with(close),
                "{printed}"
            );
            assert_eq!(
                inner.replace(&format!("{close}{close}"), &close.to_string()),
                name,
                "{style:?}: {printed}"
            );
            // No lone closing quote inside: the name cannot end early.
            assert!(
                !inner
                    .replace(&format!("{close}{close}"), "")
                    .contains(close),
                "{style:?}: {printed}"
            );
        }
    }
    // Literals (preview only) likewise.
    for s in ["'", "a''b", "\\'", "x\ny", "\u{FDD0}"] {
        let e = kestrel::sql::builders::string(s);
        let printed = kestrel::sql::builders::restore_line_breaks(e.to_string());
        assert_eq!(
            printed[1..printed.len() - 1].replace("''", "'"),
            s,
            "{printed}"
        );
    }
}
