//! The `kestrel` binary: see `kestrel --help` and README.md.

fn main() -> std::process::ExitCode {
    kestrel::cli::main()
}
