//! Ctrl-C and SIGTERM: stop the cargo builds this run started (each runs in a process group
//! of its own), remove every temporary file and directory, and exit as the signal would
//! (130 or 143). What SIGKILL leaves behind, the next run sweeps (`crate::fsutil::sweep`).

use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, Once};

/// Process groups of the cargo builds running now.
static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// The signal being handled, 0 before one comes. Set before any build is stopped, so a
/// build that fails because it was stopped is known for what it is.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Held by the handler from the signal to the exit: the main thread waits on it rather than
/// exit first (with a build's failure code) while temporary files are being removed.
static HANDLING: Mutex<()> = Mutex::new(());

/// What to do on a signal before the process ends (write the results file), given the
/// signal's name.
type OnSignal = Box<dyn Fn(&str) + Send>;

static ON_SIGNAL: Mutex<Option<OnSignal>> = Mutex::new(None);

/// Sets what the handler does, once the builds are stopped, before it ends the process.
pub(crate) fn on_signal(hook: OnSignal) {
    *ON_SIGNAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
}

/// Installs the handler, once per process. Without it (it could not be installed) the
/// signals keep their default action, and the next run sweeps what is left.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _handling = HANDLING.lock().unwrap_or_else(|e| e.into_inner());
                SIGNAL.store(signal, Ordering::SeqCst);
                for group in GROUPS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    kill_group(*group);
                }
                if let Some(hook) = ON_SIGNAL.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    hook(if signal == SIGINT { "SIGINT" } else { "SIGTERM" });
                }
                crate::fsutil::remove_live_temps();
                crate::shell::line(format_args!("interrupted; temporary files removed"));
                std::process::exit(128 + signal);
            }
        });
    });
}

/// After a signal: waits for the handler to clean up and end the process, and returns the
/// code to exit with should it not (128 + the signal). `None` when no signal came.
pub(crate) fn exit_code_if_interrupted() -> Option<i32> {
    let signal = SIGNAL.load(Ordering::SeqCst);
    if signal == 0 {
        return None;
    }
    drop(HANDLING.lock());
    Some(128 + signal)
}

/// Records a running build's process group, so an interrupt stops it.
pub(crate) fn add_group(group: u32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(group);
}

/// Forgets a process group once its leader has been waited for.
pub(crate) fn remove_group(group: u32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|g| *g != group);
}

/// Sends SIGTERM to every process of a group whose leader has not been waited for yet (so
/// its id cannot have been reused).
pub(crate) fn kill_group(group: u32) {
    let Ok(pgid) = i32::try_from(group) else { return };
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
}
