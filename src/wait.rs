//! Bounded waits on things outside the tool (a child process, a socket), and the line that
//! says what the tool is waiting for once a wait passes a few seconds.

use std::io::Read;
use std::process::{Child, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// When to say what a wait is for: after 5 s, or half the time allowed if that is shorter.
pub(crate) fn announce_after(timeout: Duration) -> Duration {
    (timeout / 2).min(Duration::from_secs(5))
}

/// Tries `attempt` every 20 ms until it gives a value or `timeout` has passed (`Ok(None)`),
/// saying `waiting` on stderr once the wait passes a few seconds. For what cannot be waited
/// on otherwise: a lock held by another process, a FIFO's reader yet to come.
pub(crate) fn poll<T>(
    timeout: Duration,
    waiting: impl FnOnce() -> String,
    mut attempt: impl FnMut() -> std::io::Result<Option<T>>,
) -> std::io::Result<Option<T>> {
    let deadline = Instant::now() + timeout;
    let mut waiting = Some(waiting);
    let mut _announce = None;
    loop {
        if let Some(value) = attempt()? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        if let Some(message) = waiting.take() {
            _announce = Some(Announce::after(announce_after(timeout), message()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Prints its message on stderr once `after` has passed, unless dropped before.
pub(crate) struct Announce {
    done: Option<mpsc::Sender<()>>,
}

impl Announce {
    pub(crate) fn after(after: Duration, message: String) -> Announce {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                crate::shell::line(format_args!("{message} ({} s so far)", after.as_secs_f64().round()));
            }
        });
        Announce { done: Some(tx) }
    }
}

impl Drop for Announce {
    fn drop(&mut self) {
        // Wakes the thread: it ends without printing.
        drop(self.done.take());
    }
}

/// The most of a child's output (each of stdout and stderr) that is kept.
const MAX_OUTPUT: usize = 1 << 20;

/// How long, once the child has exited, its pipes are read on: what it wrote is in them
/// already, and a process it left behind holding them open must not hold the caller.
const AFTER_EXIT: Duration = Duration::from_millis(200);

/// Waits for `child` to exit and collects its output, for at most `timeout`; a child still
/// running then is killed, and `Ok(None)` returned. `waiting`, if given, is said on stderr
/// once the wait passes a few seconds.
pub(crate) fn output_within(
    mut child: Child,
    timeout: Duration,
    waiting: Option<String>,
) -> std::io::Result<Option<Output>> {
    let _announce = waiting.map(|message| Announce::after(announce_after(timeout), message));
    // Each pipe is read on a thread that hands over what it reads as it comes, then `None`;
    // past MAX_OUTPUT it reads on but keeps nothing, so a child cannot fill the memory.
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel::<Option<Vec<u8>>>();
        std::thread::spawn(move || {
            if let Some(mut p) = pipe {
                let mut buf = vec![0; 8192];
                let mut kept = 0;
                while let Ok(n @ 1..) = p.read(&mut buf) {
                    let take = n.min(MAX_OUTPUT.saturating_sub(kept));
                    kept += take;
                    if take > 0 && tx.send(Some(buf[..take].to_vec())).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(None);
        });
        rx
    };
    let stdout = read_all(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = read_all(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    // A thread waits for the child's exit without reaping it (WNOWAIT): until it is reaped
    // here, its id cannot be reused, so killing it by id on the deadline is safe.
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: a zeroed siginfo_t for waitid(2) to fill; P_PID with our child's id.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOWAIT;
        // SAFETY: as above; the pointer is to a live local.
        while unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } != 0 {
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break;
            }
        }
        let _ = tx.send(());
    });
    if rx.recv_timeout(timeout).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        return Ok(None);
    }
    let status = child.wait()?;
    let end = Instant::now() + AFTER_EXIT;
    let collect = |rx: mpsc::Receiver<Option<Vec<u8>>>| {
        let mut out = Vec::new();
        loop {
            match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
                Ok(Some(chunk)) => out.extend(chunk),
                // The pipe closed, or a process the child left holds it open: take what came.
                Ok(None) | Err(_) => return out,
            }
        }
    };
    let stdout = collect(stdout);
    let stderr = collect(stderr);
    Ok(Some(Output { status, stdout, stderr }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn a_child_that_never_exits_is_stopped_at_the_deadline() {
        let child = Command::new("sleep").arg("30").stdout(Stdio::piped()).spawn().unwrap();
        let started = Instant::now();
        assert!(output_within(child, Duration::from_millis(200), None).unwrap().is_none());
        assert!(started.elapsed() < Duration::from_secs(10));
        let child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn().unwrap();
        let out = output_within(child, Duration::from_secs(10), None).unwrap().unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }

    #[test]
    fn a_child_leaving_a_process_on_its_pipes_does_not_hold_the_caller() {
        let child = Command::new("sh")
            .args(["-c", "sleep 60 & echo done"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let out = output_within(child, Duration::from_secs(30), None).unwrap().unwrap();
        // Well under the timeout: only the short wait after the exit.
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert_eq!(out.stdout, b"done\n");
    }

    #[test]
    fn a_child_writing_without_end_is_kept_to_a_bound() {
        let child = Command::new("sh")
            .args(["-c", "yes | head -c 5000000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = output_within(child, Duration::from_secs(60), None).unwrap().expect("it exits");
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), MAX_OUTPUT);
    }
}
