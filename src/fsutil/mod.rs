//! Files the tool writes, written so that nothing is lost and nothing is left behind:
//!
//! - a regular file is written beside its destination and renamed over it, so a failed run
//!   never leaves it half-written; a symlink is written through, to its target;
//! - a FIFO, a character device or standard output (`-`) is streamed into; other special
//!   files are refused;
//! - new files and directories follow the umask, as `cp` would (a replaced file keeps its mode);
//! - every temporary file is named `.cargo-containerize-*`, held under a `flock` while it is
//!   written, and registered for removal on SIGINT/SIGTERM ([`remove_live_temps`]); a killed
//!   run's leftovers are unlocked, and [`sweep`] removes them at the next run;
//! - symlinks on an output's path are followed only as the kernel's `protected_symlinks`
//!   would follow them, and the files read back must be regular files of bounded size.
//!
//! `temp`: temporary files and sweeping; `output`: where an output goes and how it is
//! written; `links`: resolving paths and the directories outputs go into; `lock`: taking
//! turns at a directory.

mod links;
mod lock;
mod output;
mod temp;

pub(crate) use links::{output_parent, resolve_links};
pub(crate) use lock::lock_dir;
pub(crate) use output::{check_output, is_stdout_path, write_output};
pub(crate) use temp::{remove_live_temps, sweep, write_file_atomic, TempDir, TempFile, TEMP_PREFIX};

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A path as it can be compared with another: absolute, with every symlink followed (see
/// [`resolve_links`]); when it cannot be resolved (`..` after a directory not made yet),
/// made absolute with `.` and `..` worked out by name.
pub(crate) fn comparable(path: &Path) -> PathBuf {
    resolve_links(path).map(|(p, _)| p).unwrap_or_else(|_| {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut out = PathBuf::from("/");
        for c in absolute.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::Normal(n) => out.push(n),
                _ => {}
            }
        }
        out
    })
}

/// The directory a path lives in (`.` for a bare file name).
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads a small file that must be a regular file of at most `max` bytes. It is opened
/// without blocking and checked once open, so a FIFO, a device or a link to one put there
/// is refused: it can neither hold the run nor fill the memory.
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a regular file of at most {max} bytes", path.display()),
        ));
    }
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Makes a FIFO at `path`, for tests of what the tool does with one.
#[cfg(test)]
pub(crate) fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL in a test path");
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

/// Makes sure `dir` is a real directory (created if missing), never a symlink: what is
/// written into it, or removed from it, stays in it.
pub(crate) fn real_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(dir),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a directory (a symlink, or a file); refusing to write through it", dir.display()),
        )),
    }
}
