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
    let deadline = std::time::Instant::now() + timeout;
    let mut announce = None;
    loop {
        match handle.try_lock() {
            Ok(()) => return Ok(DirLock(handle)),
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                announce.get_or_insert_with(|| {
                    crate::wait::Announce::after(
                        (timeout / 2).min(Duration::from_secs(5)),
                        format!("waiting for another run that is writing into {}", dir.display()),
                    )
                });
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("another process kept {} locked for {} s", dir.display(), timeout.as_secs()),
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}
