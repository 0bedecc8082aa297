//! Writes the benchmark lake (a deterministic, realistic ECS event set with planted
//! attack chains; see `benches/lakegen/mod.rs`) as gzip JSON lines for `kestrel ingest`:
//!
//! ```sh
//! cargo run --release --example genlake -- --events 1000000 --out target/lake-1m.jsonl.gz
//! target/release/kestrel ingest target/lake-1m.jsonl.gz --into sqlite:///target/lake.db --table events
//! ```

#[path = "../benches/lakegen/mod.rs"]
#[allow(dead_code)]
mod lakegen;

use std::io::Write;

fn main() {
    let mut events: u64 = 100_000;
    let mut seed: u64 = 7;
    let mut out = String::from("lake.jsonl.gz");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--events" => events = value().replace('_', "").parse().unwrap_or(events),
            "--seed" => seed = value().parse().unwrap_or(seed),
            "--out" => out = value(),
            _ => {
                eprintln!("usage: genlake [--events N] [--seed S] [--out FILE.jsonl.gz]");
                std::process::exit(2);
            }
        }
    }
    let file = match std::fs::File::create(&out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot create {out}: {e}");
            std::process::exit(1);
        }
    };
    let mut w = std::io::BufWriter::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let mut failed = None;
    let chains = lakegen::generate(events, seed, |ev| {
        if failed.is_none() {
            let line = serde_json::Value::Object(ev).to_string();
            if let Err(e) = writeln!(w, "{line}") {
                failed = Some(e);
            }
        }
    });
    let done = w
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|gz| gz.finish().map(|_| ()));
    if let Some(e) = failed.or(done.err()) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
    eprintln!("wrote {events} events ({chains} planted attack chains) to {out}");
}
