fn main() {
    // Generates the parser for src/syntax/grammar.lalrpop into OUT_DIR/syntax/grammar.rs.
    lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        .process()
        .unwrap_or_else(|e| panic!("lalrpop failed: {e}"));
}
