//! The benchmark lake generator (benches/lakegen): deterministic, well-formed, and with
//! the attack chains it promises.

#[path = "../benches/lakegen/mod.rs"]
#[allow(dead_code)]
mod lakegen;

use serde_json::{Map, Value};

fn events(n: u64, seed: u64) -> (Vec<Map<String, Value>>, u64) {
    let mut out = Vec::new();
    let chains = lakegen::generate(n, seed, |e| out.push(e));
    (out, chains)
}

#[test]
fn the_same_seed_gives_the_same_events() {
    let (a, _) = events(5_000, 7);
    let (b, _) = events(5_000, 7);
    let (c, _) = events(5_000, 8);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 5_000);
}

#[test]
fn timestamps_are_iso_and_every_key_is_a_known_column() {
    assert_eq!(lakegen::iso(0), "1970-01-01T00:00:00.000000Z");
    assert_eq!(
        lakegen::iso(951_782_400_000_001),
        "2000-02-29T00:00:00.000001Z"
    );
    let (evs, _) = events(3_000, 1);
    for e in &evs {
        for k in e.keys() {
            assert!(lakegen::COLUMNS.contains(&k.as_str()), "unknown column {k}");
        }
        let ts = e["@timestamp"].as_str().expect("timestamp");
        assert!(ts.starts_with("2024-03-") && ts.ends_with('Z'), "{ts}");
        assert_eq!(ts.len(), "2024-03-01T00:00:00.000000Z".len());
    }
}

#[test]
fn every_planted_chain_is_an_office_powershell_lsass_story() {
    let (evs, chains) = events(200_000, 7);
    assert_eq!(chains, 2);
    let starts = |name: &str, parent: &str| {
        evs.iter()
            .filter(|e| {
                e["event.category"] == "process"
                    && e["process.name"] == name
                    && e["process.parent.name"] == parent
            })
            .count() as u64
    };
    // The only powershell started by cmd with -enc, and rundll32 started by powershell.
    let encoded = evs
        .iter()
        .filter(|e| {
            e["event.category"] == "process"
                && e["process.name"] == "powershell.exe"
                && e.get("process.command_line")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.contains("-enc"))
        })
        .count() as u64;
    assert_eq!(encoded, chains);
    assert_eq!(starts("rundll32.exe", "powershell.exe"), chains);
    let dumps = evs
        .iter()
        .filter(|e| {
            e.get("file.name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.starts_with("lsass") && n.ends_with(".dmp"))
        })
        .count() as u64;
    assert_eq!(dumps, chains);
}
