//! `cargo containerize`: the edge. Parses arguments, runs, and exits with the result.

fn main() {
    let args = cargo_containerize::Args::from_env();
    std::process::exit(cargo_containerize::run(&args));
}
