//! Build steps: the parser, and the built-in YAML files as JSON.
//!
//! - `src/syntax/grammar.lalrpop` → `OUT_DIR/syntax/grammar.rs` (lalrpop).
//! - `mappings/*.yaml` and `dialects/*.yaml` that ship inside the binary →
//!   `OUT_DIR/builtin/<dir>/<name>.json`: parsed (and checked) here once, so that a run
//!   reads them with serde_json instead of parsing YAML, which cost every `kestrel`
//!   process about 3 ms. A file that does not parse fails the build, naming it.
//! - The binaries' relative relocations packed (`-z pack-relative-relocs`) where the
//!   linker and the C library support it: see [`pack_relative_relocs`].
//! - `cfg(kestrel_mssql)` when `KESTREL_TEST_MSSQL_URL` names an MS SQL Server: the tests
//!   that need one run then, and are listed as ignored (with the reason) otherwise.

use std::path::Path;

const BUILTIN: &[&str] = &[
    "mappings/entities.yaml",
    "mappings/relations.yaml",
    "mappings/ecs.yaml",
    "mappings/ocsf.yaml",
    "mappings/winevent.yaml",
    "mappings/classification.yaml",
    "dialects/sqlite.yaml",
    "dialects/postgres.yaml",
    "dialects/mssql.yaml",
    "dialects/mysql.yaml",
    "dialects/datafusion.yaml",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/syntax/grammar.lalrpop");
    println!("cargo:rerun-if-env-changed=KESTREL_TEST_MSSQL_URL");
    println!("cargo::rustc-check-cfg=cfg(kestrel_mssql)");
    if std::env::var_os("KESTREL_TEST_MSSQL_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=kestrel_mssql");
    }
    lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        .process()
        .unwrap_or_else(|e| panic!("lalrpop failed: {e}"));
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    for file in BUILTIN {
        println!("cargo:rerun-if-changed={file}");
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Merge keys (`<<: *anchor`) applied, as at run time for a user's file.
        let mut value: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        value
            .apply_merge()
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let json = serde_json::to_string(&value).unwrap_or_else(|e| panic!("{file}: {e}"));
        let target = Path::new(&out)
            .join("builtin")
            .join(Path::new(file).with_extension("json"));
        std::fs::create_dir_all(target.parent().expect("a directory"))
            .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        std::fs::write(&target, json).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
    }
    pack_relative_relocs(Path::new(&out));
}

/// Links the binaries (`kestrel`, `kestrel-ballista`) with their relative relocations
/// packed (`DT_RELR`): the loader applies some 260,000 of them at every start (every
/// pointer in a table of the position-independent binary), and as `RELA` entries they
/// take 6 MB of the file, all read, so resident, in every process (the `ballista`
/// build; a fifth of its peak memory printing a million rows). Packed, they take a few
/// kilobytes. Only where a probe links and runs with the option (GNU ld 2.38 or lld 15,
/// glibc 2.36; not when cross-compiling): elsewhere the binary is linked as before.
fn pack_relative_relocs(out: &Path) {
    const FLAG: &str = "-Wl,-z,pack-relative-relocs";
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("TARGET") != var("HOST")
    {
        return;
    }
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
    let dir = out.join("relr-probe");
    let (source, exe) = (dir.join("probe.c"), dir.join("probe"));
    let probe = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&source, "int main(void) { return 0; }\n"))
        .ok()
        .and_then(|()| {
            std::process::Command::new(&linker)
                .arg(&source)
                .arg("-o")
                .arg(&exe)
                .args([FLAG, "-Wl,--fatal-warnings"])
                .stderr(std::process::Stdio::null())
                .status()
                .ok()
        })
        .filter(|status| status.success())
        .and_then(|_| std::process::Command::new(&exe).status().ok())
        .is_some_and(|status| status.success());
    if probe {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
}
