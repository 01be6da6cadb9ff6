//! Taking turns at a directory: an exclusive `flock` on its descriptor.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::Duration;

/// An exclusive lock on a directory (`flock` on its descriptor), released on drop.
pub(crate) struct DirLock(#[allow(dead_code)] File);

/// Locks `dir` against other runs writing into it, waiting at most `timeout`.
pub(crate) fn lock_dir(dir: &Path, timeout: Duration) -> io::Result<DirLock> {
    let handle = File::open(dir)?;
    let waiting = || format!("waiting for another run that is writing into {}", dir.display());
    let locked = crate::wait::poll(timeout, waiting, || match handle.try_lock() {
        Ok(()) => Ok(Some(())),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(e),
    })?;
    match locked {
        Some(()) => Ok(DirLock(handle)),
        None => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("another process kept {} locked for {} s", dir.display(), timeout.as_secs()),
        )),
    }
}
