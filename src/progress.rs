//! Progress events for long steps (blob uploads), drawn on stderr: indicatif bars on a
//! terminal, otherwise one line per finished blob. Results never go through here.

use crate::digest::Digest;
use crate::shell::status_line;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// What happened to one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An upload began (or restarted from zero).
    Started { digest: Digest, size: u64 },
    /// `bytes` more bytes went out.
    Advanced { digest: Digest, bytes: u64 },
    /// The registry already had the blob.
    Skipped { digest: Digest, size: u64 },
    /// The blob was mounted from another repository of the same registry.
    Mounted { digest: Digest, size: u64, from: String },
    /// The upload finished; `early` when it went while the layer was being compressed.
    Uploaded { digest: Digest, size: u64, early: bool },
    /// A failed try that will be retried from the existence check.
    Retrying { digest: Digest, reason: String },
}

enum Draw {
    Quiet,
    Lines,
    Bars { multi: MultiProgress, bars: Mutex<HashMap<Digest, ProgressBar>> },
}

/// Receives events from sinks and draws them; can also record them (for tests and summaries).
pub struct Progress {
    draw: Draw,
    recorded: Mutex<Vec<Event>>,
}

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise; nothing when `quiet`.
    pub(crate) fn new(quiet: bool) -> Progress {
        let draw = if quiet {
            Draw::Quiet
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            crate::shell::print_above(Some(multi.clone()));
            Draw::Bars { multi, bars: Default::default() }
        } else {
            Draw::Lines
        };
        Progress { draw, recorded: Mutex::new(Vec::new()) }
    }

    /// Draws nothing; only records.
    pub fn hidden() -> Progress {
        Progress { draw: Draw::Quiet, recorded: Mutex::new(Vec::new()) }
    }

    /// A spinner saying `message` on a terminal, drawn with the upload bars (so that the
    /// spinners of images published at once do not write over each other), and gone from
    /// the screen once dropped, whatever ended its step.
    pub(crate) fn spinner(&self, message: String) -> Option<Spinner> {
        let Draw::Bars { multi, .. } = &self.draw else { return None };
        let bar = multi.add(ProgressBar::new_spinner().with_message(message));
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Some(Spinner { bar, multi: multi.clone() })
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.recorded.lock().unwrap().clone()
    }

    pub(crate) fn emit(&self, event: Event) {
        match &self.draw {
            Draw::Quiet => {}
            Draw::Lines => {
                if let Some(line) = line(&event) {
                    crate::shell::line(crate::redact::redact(&line));
                }
            }
            Draw::Bars { multi, bars } => draw_bar(multi, bars, &event),
        }
        if !matches!(event, Event::Advanced { .. }) {
            self.recorded.lock().unwrap().push(event);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if matches!(self.draw, Draw::Bars { .. }) {
            crate::shell::print_above(None);
        }
    }
}

/// A spinner of [`Progress::spinner`]: cleared and removed when dropped.
pub(crate) struct Spinner {
    bar: ProgressBar,
    multi: MultiProgress,
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        self.multi.remove(&self.bar);
    }
}

fn draw_bar(multi: &MultiProgress, bars: &Mutex<HashMap<Digest, ProgressBar>>, event: &Event) {
    let mut bars = bars.lock().unwrap();
    match event {
        Event::Started { digest, size } => {
            let bar = bars.entry(digest.clone()).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new(*size));
                let style = ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(short(digest));
                bar
            });
            bar.set_position(0);
        }
        Event::Advanced { digest, bytes } => {
            if let Some(bar) = bars.get(digest) {
                bar.inc(*bytes);
            }
        }
        Event::Retrying { .. } => {}
        done => {
            if let Some(bar) = bars.remove(digest_of(done)) {
                bar.finish_and_clear();
            }
            if let Some(line) = line(done) {
                let _ = multi.println(crate::redact::redact(&line));
            }
        }
    }
}

fn digest_of(event: &Event) -> &Digest {
    match event {
        Event::Started { digest, .. }
        | Event::Advanced { digest, .. }
        | Event::Skipped { digest, .. }
        | Event::Mounted { digest, .. }
        | Event::Uploaded { digest, .. }
        | Event::Retrying { digest, .. } => digest,
    }
}

/// The one line shown for a finished blob (or a retry), if any.
pub(crate) fn line(event: &Event) -> Option<String> {
    Some(match event {
        Event::Uploaded { digest, size, early: false } => {
            status_line("Uploaded", format_args!("{} {}", short(digest), human(*size)))
        }
        Event::Uploaded { digest, size, early: true } => {
            status_line("Uploaded", format_args!("{} {} (while compressing)", short(digest), human(*size)))
        }
        Event::Skipped { digest, size } => {
            status_line("Skipped", format_args!("{} {} (already in registry)", short(digest), human(*size)))
        }
        Event::Mounted { digest, size, from } => {
            status_line("Mounted", format_args!("{} {} from {from}", short(digest), human(*size)))
        }
        Event::Retrying { digest, reason } => status_line("Retrying", format_args!("{}: {reason}", short(digest))),
        Event::Started { .. } | Event::Advanced { .. } => return None,
    })
}

/// `sha256:` plus the first 12 hex digits and an ellipsis.
pub(crate) fn short(digest: &Digest) -> String {
    format!("sha256:{}…", &digest.hex()[..12])
}

/// Decimal units, as registries and Docker show sizes.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A list for a message, of names that may come from a hostile source: at most `max` of
/// them, each cut to 80 characters and escaped, then how many more there are.
pub(crate) fn some_of<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(max)
        .map(|item| {
            let item = item.as_ref();
            let mut cut: String = item.chars().take(80).flat_map(char::escape_debug).collect();
            if item.chars().nth(80).is_some() {
                cut.push('…');
            }
            cut
        })
        .collect();
    match items.len().saturating_sub(max) {
        0 => shown.join(", "),
        more => format!("{}, and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_in_messages_are_bounded() {
        let many: Vec<String> = (0..10_000).map(|i| format!("linux/arch{i}")).collect();
        let text = some_of(&many, 10);
        assert!(text.starts_with("linux/arch0, linux/arch1,"), "{text}");
        assert!(text.ends_with("linux/arch9, and 9990 more"), "{text}");
        assert_eq!(some_of(&["a", "b"], 10), "a, b");
        let long = some_of(&["x".repeat(100_000), "evil\nline".into()], 10);
        assert!(long.len() < 200 && !long.contains('\n'), "{long}");
    }

    #[test]
    fn lines_name_the_blob_and_size() {
        let d = Digest::of(b"x");
        let up = line(&Event::Uploaded { digest: d.clone(), size: 1_234_567, early: false }).unwrap();
        assert!(up.contains("Uploaded sha256:") && up.ends_with("1.2 MB"), "{up}");
        let sk = line(&Event::Skipped { digest: d.clone(), size: 10 }).unwrap();
        assert!(sk.contains("already in registry"), "{sk}");
        let m = line(&Event::Mounted { digest: d.clone(), size: 10, from: "other/repo".into() }).unwrap();
        assert!(m.ends_with("from other/repo"), "{m}");
        assert_eq!(line(&Event::Advanced { digest: d, bytes: 1 }), None);
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1500), "1.5 kB");
    }

    #[test]
    fn records_events_but_not_advances() {
        let p = Progress::hidden();
        let d = Digest::of(b"y");
        p.emit(Event::Started { digest: d.clone(), size: 3 });
        p.emit(Event::Advanced { digest: d.clone(), bytes: 3 });
        p.emit(Event::Uploaded { digest: d.clone(), size: 3, early: false });
        assert_eq!(p.events().len(), 2);
    }
}
