//! The tool's voice on stderr, in cargo's manner: status lines with a right-aligned verb
//! (`  Downloading 2 base layers`), `warning:`, `note:`, `error:` and `help:` lines, in
//! cargo's colours on a terminal. One verbosity for the whole run (`-q` keeps errors and
//! warnings only; `-v` adds the detail lines), and one colour choice: `--color`, else
//! `CARGO_TERM_COLOR` (`always`, `never`, `auto`), else none when `NO_COLOR` is set, else
//! colour when stderr is a terminal. A closed stderr is no reason to stop: what cannot be written is dropped.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU8, Ordering};

/// 0: quiet; 1: normal; 2 and up: verbose (`-v` and more).
static VERBOSITY: AtomicU8 = AtomicU8::new(1);

/// Sets the run's verbosity, once its flags are read.
pub(crate) fn set(quiet: bool, verbose: u8) {
    let level = if quiet { 0 } else { verbose.saturating_add(1) };
    VERBOSITY.store(level, Ordering::Relaxed);
}

fn level() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// Whether `-q` was given.
pub(crate) fn quiet() -> bool {
    level() == 0
}

/// Whether `-v` was given.
pub(crate) fn verbose() -> bool {
    level() >= 2
}

/// The run's colour choice, once made.
static CHOICE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Takes `--color WHEN` (`always`, `never`, `auto`) as the choice, before anything is
/// written; `None` or `auto` leaves it to the environment.
pub(crate) fn set_colour(when: Option<&str>) {
    match when {
        Some("always") => drop(CHOICE.set(true)),
        Some("never") => drop(CHOICE.set(false)),
        _ => {}
    }
}

/// Whether what goes to stderr is coloured (and so cargo's output too).
pub(crate) fn colour_enabled() -> bool {
    colour()
}

/// The width of the terminal on stderr, if it is one.
pub(crate) fn terminal_width() -> Option<u16> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, owned `size`.
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col)
}

/// Whether to colour what goes to stderr.
fn colour() -> bool {
    *CHOICE.get_or_init(|| {
        match std::env::var("CARGO_TERM_COLOR").unwrap_or_default().to_ascii_lowercase().as_str() {
            "always" => return true,
            "never" => return false,
            _ => {}
        }
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
    })
}

/// `text` in bold and the ANSI colour `code` when colouring.
fn paint(code: &str, text: &str) -> String {
    painted(code, text, colour())
}

fn painted(code: &str, text: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[1;{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A status line as cargo writes one: the verb right-aligned in 12 columns, bold green.
pub(crate) fn status_line(verb: &str, message: impl Display) -> String {
    styled_status(verb, message, colour())
}

fn styled_status(verb: &str, message: impl Display, colour: bool) -> String {
    format!("{} {message}", painted("32", &format!("{verb:>12}"), colour))
}

/// The progress bars on screen, if any: lines are printed above them, so that neither
/// garbles the other.
static BARS: std::sync::Mutex<Option<indicatif::MultiProgress>> = std::sync::Mutex::new(None);

/// Prints every line above `bars` while they are drawn (until `None`).
pub(crate) fn print_above(bars: Option<indicatif::MultiProgress>) {
    *BARS.lock().unwrap_or_else(|e| e.into_inner()) = bars;
}

fn write_line(line: &str) {
    let bars = BARS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if bars.is_some_and(|bars| bars.println(line).is_ok()) {
        return;
    }
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A status line, unless quiet.
pub(crate) fn status(verb: &str, message: impl Display) {
    if !quiet() {
        write_line(&status_line(verb, message));
    }
}

/// `warning: ...`, whatever the verbosity.
pub(crate) fn warn(message: impl Display) {
    write_line(&format!("{}: {message}", paint("33", "warning")));
}

/// `note: ...`, unless quiet.
pub(crate) fn note(message: impl Display) {
    if !quiet() {
        write_line(&format!("{}: {message}", paint("36", "note")));
    }
}

/// A detail line, with `-v` only.
pub(crate) fn detail(message: impl Display) {
    if verbose() {
        write_line(&message.to_string());
    }
}

/// A plain line, whatever the verbosity: what a wait is for, a trace the caller asked for.
pub(crate) fn line(message: impl Display) {
    write_line(&message.to_string());
}

/// `error: ...`, and its `help: ...` when there is one.
pub(crate) fn error(message: impl Display, help: Option<&str>) {
    write_line(&format!("{}: {message}", paint("31", "error")));
    if let Some(help) = help {
        write_line(&format!("  {}: {help}", paint("36", "help")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_verbs_are_right_aligned_as_cargo_aligns_them() {
        assert_eq!(styled_status("Downloading", "2 base layers", false), " Downloading 2 base layers");
        assert_eq!(styled_status("Attached", "x", false), "    Attached x");
        assert_eq!(styled_status("Attached", "x", true), "\x1b[1;32m    Attached\x1b[0m x");
    }
}
