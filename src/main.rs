//! `cargo containerize`: the edge. Parses arguments, runs, and exits with the result.

fn main() {
    // Cargo runs this program as its rustc wrapper to embed the dependency list.
    if let Some(code) = cargo_containerize::wrapper_main() {
        std::process::exit(code);
    }
    std::process::exit(cargo_containerize::Command::from_env().run());
}
