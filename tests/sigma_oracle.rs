//! Sigma rules against the reference implementation: for every rule in
//! `../shared/data/sigma/rules` (part of SigmaHQ's Windows rules, Detection Rule License
//! 1.1), pySigma 2 with its SQLite backend and `WHERE SIGMA 'rule.yml'` must select the
//! same events from one table built from the rules' own values (see
//! `tests/sigma_support/oracle.py`, which builds the table and runs pySigma's SQL).
//!
//! The huntflow `kestrel sigma convert` prints for each rule is run on its own too (its
//! `EVENTS '…' AND …` condition, OCSF attribute names, no `SIGMA` term) and must select the
//! same events.
//!
//! Prints (and writes to `target/tmp/sigma-oracle/report.txt`) how many rules agree,
//! differ, and are refused by either side and why. Fails on any difference.
//!
//! Needs the virtualenv `.ci/run` creates (`KESTREL_TEST_PYTHON`, default `.venv/bin/python`)
//! and the shared rules beside the repository (`KESTREL_SIGMA_RULES` overrides).

mod sigma_support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sigma_support::{
    manifest, oracle_with, rules_dir, run_converted_ids, run_hunt_ids, sample, Lake,
};

#[test]
fn kestrel_and_pysigma_select_the_same_events() {
    let agree = compare("sigma-oracle", &rules_dir());
    assert!(agree > 900, "too few rules compared");
}

/// kestrel's own test rules (`tests/sigma_support/rules`): the constructs the shared rules
/// lack, where pySigma has them.
#[test]
fn kestrels_own_rules_agree_with_pysigma_too() {
    let agree = compare(
        "sigma-oracle-own",
        &manifest().join("tests/sigma_support/rules"),
    );
    assert!(agree >= 2, "too few rules compared");
}

/// Tables holding only the rules' own fields (no Channel or EventID, so no event classes
/// or channels to tell apart): the field map's attributes fall back to the Sigma names'
/// columns, and a service's rule reads every row.
#[test]
fn tables_of_bare_sigma_fields_agree_too() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sigma-bare-rules");
    let _ = std::fs::remove_dir_all(&dir);
    sample(&dir);
    let agree = compare_with("sigma-oracle-bare", &dir, true);
    assert!(agree > 80, "too few rules compared");
}

/// Runs the oracle over `rules` and every rule it can run through kestrel; returns how
/// many agree, failing on any difference.
fn compare(name: &str, rules: &std::path::Path) -> usize {
    compare_with(name, rules, false)
}

/// `bare`: tables of the rules' own fields only. Elsewhere the huntflow `kestrel sigma
/// convert` prints for each rule also runs, on its own, and must select the same events
/// (it names OCSF attributes, which a bare table may not supply: there only `WHERE SIGMA`
/// falls back to the Sigma fields' own columns).
fn compare_with(name: &str, rules: &std::path::Path, bare: bool) -> usize {
    let converted = !bare;
    let out = oracle_with(name, rules, bare);
    let lake = Lake::sqlite(&out.join("lake.db"), &out.cases);
    let mut agree = 0;
    let mut matched_some = 0;
    let mut differ: Vec<String> = Vec::new();
    let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // The huntflows `kestrel sigma convert` prints, run on their own.
    let mut converted_agree = 0;
    let mut converted_differ: Vec<String> = Vec::new();
    let mut converted_refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in &out.cases {
        let Some(expected) = &case.matched else {
            // What kestrel itself makes of a rule the oracle cannot check.
            let kestrel = match kestrel::sigma::convert(
                &out.rules_dir.join(&case.rule),
                &kestrel::sigma::ConvertOptions::default(),
            ) {
                Ok(_) => "kestrel converts it".to_string(),
                Err(e) => format!("kestrel refuses: {}", e.construct),
            };
            let why = format!("{}; {kestrel}", case.refused.clone().unwrap_or_default());
            refused.entry(why).or_default().push(case.rule.clone());
            continue;
        };
        if converted {
            match run_converted_ids(&lake.config, &out.rules_dir, case) {
                Ok(got) if &got == expected => converted_agree += 1,
                Ok(got) => {
                    converted_differ.push(format!(
                    "{}: converted {} events, pySigma {}; only converted {:?}, only pySigma {:?}",
                    case.rule,
                    got.len(),
                    expected.len(),
                    got.iter().filter(|g| !expected.contains(g)).take(5).collect::<Vec<_>>(),
                    expected.iter().filter(|e| !got.contains(e)).take(5).collect::<Vec<_>>(),
                ))
                }
                Err(why) => converted_refused
                    .entry(why)
                    .or_default()
                    .push(case.rule.clone()),
            }
        }
        match run_hunt_ids(&lake.config, &out.rules_dir, case) {
            Ok(got) => {
                if &got == expected {
                    agree += 1;
                    if !got.is_empty() {
                        matched_some += 1;
                    }
                } else {
                    let only_k: Vec<_> = got
                        .iter()
                        .filter(|g| !expected.contains(g))
                        .take(5)
                        .collect();
                    let only_p: Vec<_> = expected
                        .iter()
                        .filter(|e| !got.contains(e))
                        .take(5)
                        .collect();
                    differ.push(format!(
                        "{}: kestrel {} events, pySigma {}; only kestrel {:?}, only pySigma {:?}",
                        case.rule,
                        got.len(),
                        expected.len(),
                        only_k,
                        only_p
                    ));
                }
            }
            Err(why) => refused.entry(why).or_default().push(case.rule.clone()),
        }
    }
    let total_refused: usize = refused.values().map(Vec::len).sum();
    let mut report = format!(
        "Sigma oracle: {} rules; {agree} agree ({matched_some} of them match some events), {} differ, {total_refused} refused\n",
        out.cases.len(),
        differ.len()
    );
    if converted {
        let n: usize = converted_refused.values().map(Vec::len).sum();
        let _ = writeln!(
            report,
            "Converted huntflows run on their own: {converted_agree} agree, {} differ, {n} refused",
            converted_differ.len()
        );
        for d in &converted_differ {
            let _ = writeln!(report, "CONVERTED DIFFER {d}");
        }
        for (why, rules) in &converted_refused {
            let _ = writeln!(
                report,
                "CONVERTED REFUSED {} × {why} (e.g. {})",
                rules.len(),
                rules[0]
            );
        }
    }
    for d in &differ {
        let _ = writeln!(report, "DIFFER {d}");
    }
    for (why, rules) in &refused {
        let _ = writeln!(
            report,
            "REFUSED {} × {why} (e.g. {})",
            rules.len(),
            rules[0]
        );
    }
    std::fs::write(out.dir.join("report.txt"), &report).expect("write the report");
    println!("{report}");
    assert!(
        differ.is_empty(),
        "{} rules select other events than pySigma:\n{report}",
        differ.len()
    );
    assert!(
        converted_differ.is_empty(),
        "{} converted huntflows select other events than WHERE SIGMA and pySigma:\n{report}",
        converted_differ.len()
    );
    agree
}
