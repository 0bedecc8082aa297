//! Hunts at scale finish, in bounded memory, or stop with a clear diagnostic where a
//! limit is hit: 10,000 statements, a reference to 100,000 values, a 5,000-term OR chain,
//! nesting at and past the limit. Timings are not asserted here (CI machines vary): see
//! `cargo run --release --example scale` for them.

mod common;

use std::path::PathBuf;

use kestrel::config::Config;
use kestrel::lower::LowerOptions;
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;
use kestrel::syntax::MAX_NESTING;

struct Lake {
    dir: PathBuf,
    config: Config,
}

impl Lake {
    fn new(name: &str) -> Lake {
        let dir = common::fresh_dir("scale", name);
        let db = dir.join("lake.db");
        common::ingest_ecs_fixture(&db);
        let yaml = format!(
            "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n",
            db.display()
        );
        Lake {
            config: Config::from_yaml_str(&yaml, None).unwrap(),
            dir,
        }
    }

    fn run(&self, hunt: &str) -> Result<String, String> {
        let src = SourceFile::new("hunt.hf", hunt);
        let mut printer = Printer::new(Vec::new(), Format::Csv);
        let mut summary = Vec::new();
        run_hunt(
            &src,
            Some(&self.config),
            &mut printer,
            &mut summary,
            &RunOptions { summary: false },
        )
        .map_err(|d| d.render(&src))?;
        Ok(String::from_utf8(printer.into_inner()).unwrap())
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 10,000 statements as a long hunt has them: many variables, names re-assigned over and
/// over (each a new version), short chains of expressions, a display every 100 lines.
fn long_hunt() -> (String, usize) {
    let mut lines = Vec::new();
    let mut displays = 0;
    for i in 0..10_000 {
        let line = match i % 100 {
            0 => format!(
                "p{} = GET process FROM sqlite://events WHERE pid >= {}",
                i / 100,
                1000
            ),
            99 => {
                displays += 1;
                format!("DISP p{} ATTR pid SORT BY pid ASC LIMIT 1", i / 100)
            }
            k if k % 10 == 5 => format!("q = GET process FROM sqlite://events WHERE name = 'n{i}'"),
            k => format!("p{} = p{} WHERE pid != {}", i / 100, i / 100, 1025 + k),
        };
        lines.push(line);
    }
    (lines.join("\n") + "\n", displays)
}

#[test]
fn a_hunt_of_ten_thousand_statements_runs() {
    let (hunt, displays) = long_hunt();
    assert_eq!(hunt.lines().count(), 10_000);
    let lake = Lake::new("long");
    let out = lake.run(&hunt).unwrap_or_else(|e| panic!("{e}"));
    // The fixture's pids are 1026–1034. Line k of each block of 100 removes pid 1025 + k;
    // line 5 is a GET of another variable instead, so 1030 alone stays, in every block.
    let blocks: Vec<&str> = out.split("\n\n").filter(|b| !b.trim().is_empty()).collect();
    assert_eq!(blocks.len(), displays);
    for (n, b) in blocks.iter().enumerate() {
        assert_eq!(b.trim(), "pid\n1030", "display {n}");
    }
}

#[test]
fn a_chain_too_deep_for_sqlite_is_a_clear_error() {
    // One statement reading 2,000 variables, each made from the one before: SQLite refuses
    // subqueries nested that deep. The hunt gets an error at the statement, not a crash.
    let mut hunt = String::from("v = GET process FROM sqlite://events WHERE pid > 0\n");
    for i in 0..2_000 {
        hunt.push_str(&format!("v = v WHERE pid != {i}\n"));
    }
    hunt.push_str("DISP v ATTR pid\n");
    let lake = Lake::new("chain");
    let err = lake.run(&hunt).expect_err("too deep for SQLite");
    assert!(err.contains("nested too deep"), "{err}");
    assert!(err.contains("data source `events`"), "{err}");
    assert!(err.contains("hunt.hf:2002:1"), "{err}");
}

#[test]
fn a_reference_to_a_hundred_thousand_values_ships_them() {
    let lake = Lake::new("values");
    let csv = lake.dir.join("known.csv");
    let mut text = String::from("name\n");
    for i in 0..100_000 {
        text.push_str(&format!("proc-{i}.exe\n"));
    }
    // Two names that are in the fixture, at the start and the very end.
    text.insert_str(5, "bash\n");
    text.push_str("uname\n");
    std::fs::write(&csv, text).unwrap();
    let hunt = format!(
        "known = LOAD {} AS process\nhits = GET process FROM sqlite://events WHERE name IN known.name\nDISP hits ATTR name, pid SORT BY pid ASC\n\
         eq = GET process FROM sqlite://events WHERE name = known.name\nDISP eq ATTR pid SORT BY pid ASC\n\
         miss = GET process FROM sqlite://events WHERE name NOT IN known.name\nDISP miss ATTR name SORT BY pid ASC\n",
        csv.display()
    );
    let out = lake.run(&hunt).unwrap_or_else(|e| panic!("{e}"));
    let blocks: Vec<&str> = out.split("\n\n").collect();
    // The fixture: bash has pid 1026 (and is the parent of later processes), uname 1027.
    assert!(
        blocks[0].starts_with("name,pid\nbash,1026\nuname,1027"),
        "{out}"
    );
    assert_eq!(
        blocks[0].lines().count() - 1,
        blocks[1].lines().count() - 1,
        "IN and = with a reference select the same rows"
    );
    assert!(
        !blocks[2].contains("bash") && !blocks[2].contains("uname,"),
        "{out}"
    );
}

#[test]
fn a_five_thousand_term_or_chain_runs_on_sqlite() {
    // SQLite refuses expressions deeper than 1,000: a long chain is emitted balanced.
    let terms: Vec<String> = (0..5_000).map(|i| format!("name LIKE '%x{i}y%'")).collect();
    // A FIND that reads the records in hand lowers the chain again, for process creations.
    let hunt = format!(
        "v = GET process FROM sqlite://events WHERE {} OR name = 'uname'\nDISP v ATTR pid\n\
         p = FIND process CREATED v\nDISP p ATTR pid\n",
        terms.join(" OR ")
    );
    let out = Lake::new("or").run(&hunt).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, "pid\n1027\n\npid\n1026\n");
}

/// A pattern `depth` levels deep: NOTs and parentheses inside each other.
fn nested(depth: usize) -> String {
    let mut p = String::from("name = 'uname'");
    for i in 0..depth {
        p = if i % 2 == 0 {
            format!("NOT ({p})")
        } else {
            format!("NOT {p}")
        };
    }
    p
}

#[test]
fn nesting_at_the_limit_runs_and_past_it_is_a_diagnostic() {
    // Run on a test thread's own (small, 2 MiB) stack: the limit must hold there too.
    let lake = Lake::new("nesting");
    // NOT … (NOT …) counts one level per NOT and per parenthesis: stay at the limit.
    let mut depth = 0;
    while depth + 3 <= MAX_NESTING * 2 / 3 {
        depth += 2;
    }
    let at_limit = nested(depth);
    let hunt = format!(
        "v = GET process FROM sqlite://events WHERE {at_limit}\nDISP v ATTR pid\n\
         p = FIND process CREATED v\nDISP p ATTR pid\n"
    );
    let out = lake.run(&hunt).unwrap_or_else(|e| panic!("{e}"));
    // An even number of NOTs: the pattern means name = 'uname' (its parent: 1026).
    assert_eq!(depth % 2, 0);
    assert_eq!(out, "pid\n1027\n\npid\n1026\n");

    let parens = format!(
        "v = GET process FROM sqlite://events WHERE {}name = 'uname'{}\nDISP v ATTR pid\n",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    assert_eq!(lake.run(&parens).unwrap(), "pid\n1027\n");

    for (what, hunt) in [
        (
            "parentheses",
            format!(
                "v = GET process FROM sqlite://events WHERE {}name = 'x'{}\n",
                "(".repeat(MAX_NESTING + 1),
                ")".repeat(MAX_NESTING + 1)
            ),
        ),
        (
            "NOTs",
            format!(
                "v = GET process FROM sqlite://events WHERE {}name = 'x'\n",
                "NOT ".repeat(MAX_NESTING + 1)
            ),
        ),
        (
            "lists",
            format!(
                "v = GET process FROM sqlite://events WHERE name IN {}'x'{}\n",
                "(".repeat(100_000),
                ")".repeat(100_000)
            ),
        ),
        (
            "objects",
            format!(
                "v = NEW [ {}1{} ]\n",
                "{\"a\": ".repeat(MAX_NESTING + 1),
                "}".repeat(MAX_NESTING + 1)
            ),
        ),
    ] {
        let src = SourceFile::new("hunt.hf", hunt.as_str());
        let err = kestrel::compile_program(
            &src,
            LowerOptions {
                config: Some(&lake.config),
                catalog: None,
                now: common::FIXED_NOW,
            },
        )
        .expect_err(what);
        let text = err.render(&src);
        assert!(
            text.contains(&format!("nested more than {MAX_NESTING} levels deep")),
            "{what}: {text}"
        );
        assert!(text.contains("--> hunt.hf:1:"), "{what}: {text}");
    }
}
