//! The `kestrel` binary: see `kestrel --help` and README.md.

/// Compiling a hunt makes many small allocations (names, expressions, SQL text); mimalloc
/// serves them at about half the cost of the system allocator (see benches/compile.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kestrel::use_small_os_pages();
    kestrel::backend::tls::install_default_provider();
    kestrel::cli::main()
}
