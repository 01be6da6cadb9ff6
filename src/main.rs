//! `cargo containerize`: the edge. Parses arguments, runs, and exits with the result.

fn main() {
    let args = cargo_containerize::cli::Args::from_env();
    std::process::exit(cargo_containerize::run::run(&args));
}
