//! What a user sees on a terminal: the tool runs under a pseudo-terminal (`script`), and
//! what the terminal received is read raw (colour codes, cargo's progress bar) and as the
//! screen it leaves (vt100), as a user would see it once the run is over.

mod common;

use common::registry::Registry;
use common::Project;
use std::process::{Command, Stdio};

const COLUMNS: u16 = 120;
const ROWS: u16 = 200;

/// The bytes a terminal of [`COLUMNS`] x [`ROWS`] received from `cargo containerize ARGS`
/// run in `p` with `env`, and the screen they leave.
fn on_terminal(p: &Project, args: &[&str], env: &[(&str, &str)]) -> (Vec<u8>, String) {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect();
    let line = format!("stty cols {COLUMNS} rows {ROWS}; exec '{}' containerize {}", common::bin(), quoted.join(" "));
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]).current_dir(p.path()).stdin(Stdio::null());
    common::isolate(&mut c, p.path());
    // The tool decides from the terminal, not from what the test runner was given.
    c.env_remove("CARGO_TERM_COLOR").env_remove("NO_COLOR").env_remove("CARGO_TERM_PROGRESS_WHEN");
    c.envs(env.iter().copied());
    let out = c.output().expect("script (bsdutils) runs");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let size = |n: u16| std::num::NonZeroU16::new(n).expect("a size");
    let mut screen = vt100::Parser::new(size(ROWS), size(COLUMNS), 0);
    screen.process(&out.stdout);
    let text = screen.screen().contents();
    (out.stdout, text)
}

/// Cargo's own output comes through as `cargo build` draws it: coloured `Compiling` lines
/// and its progress bar (the build script pauses long enough for cargo to draw it); the
/// spinner is gone from the screen once the run is over, and a summary ends it.
#[test]
fn cargo_output_keeps_its_colours_and_progress_bar_and_the_run_ends_with_a_summary() {
    let p = Project::copy("slow-build");
    let layout = p.path().join("layout");
    let (raw, screen) = on_terminal(&p, &["--output", layout.to_str().unwrap()], &[("CC_PAUSE_MS", "1500")]);
    let raw = String::from_utf8_lossy(&raw);
    // Cargo's green, bold `Compiling`, as it writes it to a terminal.
    assert!(raw.contains("\x1b[1m\x1b[92m   Compiling\x1b[0m slow-build v0.1.0"), "{raw:?}");
    // Its progress bar, redrawn in place.
    assert!(raw.contains("\x1b[1m\x1b[96m    Building\x1b[0m ["), "{raw:?}");
    assert!(screen.contains("Compiling slow-build v0.1.0"), "{screen}");
    assert!(!screen.contains("Building ["), "the progress bar is cleared: {screen}");
    assert!(!screen.contains("compressing the layers"), "the spinner is cleared: {screen}");
    // `--color auto` is the default: cargo's colours still come through.
    let (raw, _) = on_terminal(&p, &["--color", "auto", "--output", layout.to_str().unwrap()], &[]);
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("\x1b[1m\x1b[92m    Finished\x1b[0m"), "{raw:?}");
    let summary = format!("Wrote {} digest: sha256:", layout.display());
    let summary = screen.lines().find(|l| l.trim_start().starts_with(&summary)).unwrap_or_default();
    assert!(summary.contains(" size: "), "{screen}");
}

/// Images published at once each have their spinner and upload bars, and none is left on
/// the screen; the summary names each destination with its digest.
#[test]
fn a_workspace_push_leaves_no_spinner_and_ends_with_a_summary() {
    let reg = Registry::plain();
    let p = Project::copy("two-bins");
    let prefix = format!("{}/tty:1", reg.host());
    let (_, screen) = on_terminal(&p, &["--workspace", "--push", &prefix], &[]);
    assert!(!screen.contains("compressing the layers"), "no spinner is left: {screen}");
    assert!(!screen.contains("B/s"), "no upload bar is left: {screen}");
    for bin in ["alpha", "beta"] {
        let pushed = format!("Pushed {}/tty/{bin}:1 digest: sha256:", reg.host());
        assert_eq!(screen.matches(&pushed).count(), 1, "{screen}");
    }
}
