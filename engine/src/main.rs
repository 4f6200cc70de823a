//! The `sam` binary: a thin entry point over [`sam_engine::cli`].

fn main() -> std::process::ExitCode {
    sam_engine::cli::main()
}
