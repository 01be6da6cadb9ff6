//! cargo-containerize's init: PID 1 for `init = true`, in front of the image's binary.
//!
//! A program running as PID 1 gets no default action for `SIGTERM` or `SIGINT`, so one that
//! does not handle them is not stopped by them, and nothing reaps the orphans it leaves.
//! This init runs the binary as its child, passes it every signal it can catch, reaps
//! every child that exits, and exits as the binary did (its code, or 128 + its signal).
//! Only the C library that std links is used, so it builds for every target std does.
//! Usage: `init -- PROGRAM [ARGS...]`.

use std::os::unix::process::{CommandExt, ExitStatusExt};

/// Large enough for the `sigset_t` of glibc and musl (128 bytes) on every platform.
#[repr(C)]
struct SigSet([u64; 16]);

extern "C" {
    fn sigfillset(set: *mut SigSet) -> i32;
    fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    fn sigwait(set: *const SigSet, sig: *mut i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIG_BLOCK: i32 = 0;
const SIG_SETMASK: i32 = 2;
const WNOHANG: i32 = 1;
const SIGCHLD: i32 = 17;
// Never passed on: they stop this process itself, or cannot be caught.
const SIGKILL: i32 = 9;
const SIGSTOP: i32 = 19;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let first = args.next();
    let program = match first {
        Some(a) if a == "--" => args.next(),
        other => other,
    };
    let Some(program) = program else {
        eprintln!("init: usage: init -- PROGRAM [ARGS...]");
        std::process::exit(2);
    };
    let mut all = SigSet([0; 16]);
    let mut old = SigSet([0; 16]);
    // SAFETY: both sets are valid, owned and large enough for the C library's sigset_t.
    unsafe {
        sigfillset(&mut all);
        sigprocmask(SIG_BLOCK, &all, &mut old);
    }
    let mut command = std::process::Command::new(&program);
    command.args(args);
    // SAFETY: sigprocmask is async-signal-safe; `old` is the mask this process started with.
    let old_mask = old.0;
    unsafe {
        command.pre_exec(move || {
            let set = SigSet(old_mask);
            sigprocmask(SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("init: cannot run {}: {e}", program.to_string_lossy());
            std::process::exit(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    let pid = child.id() as i32;
    loop {
        let mut sig = 0;
        // SAFETY: `all` is a valid, filled set, and `sig` a valid out-parameter.
        if unsafe { sigwait(&all, &mut sig) } != 0 {
            continue;
        }
        if sig != SIGCHLD {
            if sig != SIGKILL && sig != SIGSTOP {
                // SAFETY: kill(2) with a pid of our own child.
                unsafe { kill(pid, sig) };
            }
            continue;
        }
        // Reap every child that exited: ours, and orphans handed to PID 1.
        loop {
            let mut status = 0;
            // SAFETY: waitpid(2) with a valid out-parameter.
            let reaped = unsafe { waitpid(-1, &mut status, WNOHANG) };
            if reaped <= 0 {
                break;
            }
            if reaped == pid {
                let status = std::process::ExitStatus::from_raw(status);
                let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                std::process::exit(code);
            }
        }
    }
}
