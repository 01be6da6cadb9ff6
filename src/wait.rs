//! Bounded waits on things outside the tool (a child process, a socket), and the line that
//! says what the tool is waiting for once a wait passes a few seconds.

use std::io::Read;
use std::process::{Child, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Prints its message on stderr once `after` has passed, unless dropped before.
pub(crate) struct Announce {
    done: Option<mpsc::Sender<()>>,
}

impl Announce {
    pub(crate) fn after(after: Duration, message: String) -> Announce {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                crate::say!("{message} ({} s so far)", after.as_secs_f64().round());
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

/// Waits for `child` to exit and collects its output, for at most `timeout`; a child still
/// running then is killed, and `Ok(None)` returned. Output is collected until the pipes
/// close or the deadline passes, whichever comes first: a child that exits but leaves a
/// process of its own holding the pipes open does not hold the caller.
pub(crate) fn output_within(mut child: Child, timeout: Duration) -> std::io::Result<Option<Output>> {
    // Each pipe is read on a thread that hands over what it reads as it comes, then `None`.
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel::<Option<Vec<u8>>>();
        std::thread::spawn(move || {
            if let Some(mut p) = pipe {
                let mut buf = vec![0; 8192];
                while let Ok(n @ 1..) = p.read(&mut buf) {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
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
    let deadline = Instant::now() + timeout;
    // The child is waited for on a thread, so its exit is seen at once; on the deadline it
    // is killed by id (not reaped until that thread's wait returns, so the id is still its).
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(timeout) {
        Ok(status) => status?,
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill(2) on the id of a child that has not been reaped.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            let _ = rx.recv();
            return Ok(None);
        }
    };
    let end = deadline.max(Instant::now() + Duration::from_millis(100));
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
        assert!(output_within(child, Duration::from_millis(200)).unwrap().is_none());
        assert!(started.elapsed() < Duration::from_secs(10));
        let child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn().unwrap();
        let out = output_within(child, Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }

    #[test]
    fn a_child_leaving_a_process_on_its_pipes_does_not_hold_the_caller() {
        let child = Command::new("sh")
            .args(["-c", "sleep 30 & echo done"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let out = output_within(child, Duration::from_millis(500)).unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(out.stdout, b"done\n");
    }
}
