//! Where an output path leads (a regular file, a FIFO or device, standard output), and
//! writing it there: atomically for a file, by streaming otherwise, with bounded waits on
//! whoever reads.

use super::temp::write_through;
use super::{output_parent, resolve_links, sweep, TempFile};
use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where an output path leads.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Standard output: `-`, or a path that is this process's standard output.
    Stdout,
    /// A FIFO or character device, written into as it is.
    Stream(PathBuf),
    /// A regular file (or none yet) at this path, symlinks resolved.
    Regular(PathBuf),
}

/// Why an output path cannot be written.
fn refuse(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is {what}; an output must be a file path, a FIFO, a character device or - (standard output)",
            path.display()
        ),
    )
}

/// Classifies `path`, following symlinks to their final target.
pub(crate) fn destination(path: &Path) -> io::Result<Destination> {
    if is_stdout_path(path) {
        return Ok(Destination::Stdout);
    }
    // `new/`, `new/.` and `..` name directories even when nothing is there yet.
    let last = path.as_os_str().as_bytes().rsplit(|b| *b == b'/').next().unwrap_or_default();
    if matches!(last, b"" | b"." | b"..") {
        return Err(refuse(path, "a directory name, not a file name (add one, e.g. image.tar)"));
    }
    let (resolved, _) = resolve_links(path)?;
    let meta = match fs::metadata(&resolved) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Destination::Regular(resolved)),
        Err(e) => return Err(e),
    };
    let ty = meta.file_type();
    if ty.is_file() {
        Ok(Destination::Regular(resolved))
    } else if ty.is_fifo() || ty.is_char_device() {
        Ok(Destination::Stream(resolved))
    } else if ty.is_dir() {
        Err(refuse(path, "a directory"))
    } else if ty.is_block_device() {
        Err(refuse(path, "a block device"))
    } else if ty.is_socket() {
        Err(refuse(path, "a socket"))
    } else {
        Err(refuse(path, "a special file"))
    }
}

/// Whether an output can go to `path`, as far as can be told without writing.
/// A regular file's directory must take a new file (tried, with a temporary file); a
/// character device or standard output must not be a terminal.
pub(crate) fn check_output(path: &Path) -> io::Result<()> {
    match destination(path)? {
        Destination::Stdout if io::stdout().is_terminal() => Err(terminal(path)),
        Destination::Stdout => Ok(()),
        Destination::Stream(target) if fs::metadata(&target)?.file_type().is_char_device() => {
            let device = fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&target)?;
            if device.is_terminal() {
                return Err(terminal(path));
            }
            Ok(())
        }
        Destination::Stream(_) => Ok(()),
        Destination::Regular(target) => output_parent(path, &target, false).map(drop),
    }
}

/// Whether `path` names standard output: `-`, or the file standard output is.
pub(crate) fn is_stdout_path(path: &Path) -> bool {
    path == Path::new("-") || is_stdout(path)
}

/// Whether `path` is the file this process's standard output is.
fn is_stdout(path: &Path) -> bool {
    match (fs::metadata(path), fs::metadata("/proc/self/fd/1")) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Writes an output (`--tarball`) through `fill`: atomically for a regular file (through a
/// symlink to its target, keeping an existing file's mode), by streaming into a FIFO, a
/// character device or standard output. Waits at most the tuning's timeout for a FIFO's
/// reader to come, and its stall time for a reader that stopped reading.
pub(crate) fn write_output(
    path: &Path,
    tuning: &crate::tuning::Tuning,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    match destination(path)? {
        Destination::Stdout => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                return Err(terminal(path));
            }
            // Straight to the descriptor: no buffer of std's may block behind the poll.
            let _lock = stdout.lock();
            let file = File::from(std::os::fd::AsFd::as_fd(&stdout).try_clone_to_owned()?);
            let mut out = io::BufWriter::with_capacity(1 << 16, Polled::new(file, path, tuning.stall));
            fill(&mut out)?;
            out.flush()
        }
        Destination::Stream(target) => {
            let file = open_stream(&target, tuning.timeout)?;
            if file.is_terminal() {
                return Err(terminal(path));
            }
            let mut out = io::BufWriter::with_capacity(1 << 16, Polled::new(file, path, tuning.stall));
            fill(&mut out)?;
            out.flush()
        }
        Destination::Regular(target) => {
            let keep_mode = fs::metadata(&target).ok().map(|m| m.permissions());
            let parent = output_parent(path, &target, true)?;
            sweep(&parent);
            let mut tmp = TempFile::new_in(&parent)?;
            if let Some(mode) = keep_mode {
                tmp.file().set_permissions(mode)?;
            }
            write_through(tmp.file_mut(), fill)?;
            tmp.file().sync_all()?;
            tmp.persist(&target)
        }
    }
}

/// A writer into a pipe, FIFO or socket that waits for room at most `stall` (saying so
/// after a few seconds): a reader that stopped reading fails the write instead of holding
/// the run. Other files (a character device, a regular file behind standard output) are
/// written as they are.
struct Polled {
    file: File,
    kind: Kind,
    stall: Duration,
    what: String,
    announced: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Pipe,
    Socket,
}

impl Polled {
    fn new(file: File, path: &Path, stall: Duration) -> Polled {
        let kind = match file.metadata().map(|m| m.file_type()) {
            Ok(t) if t.is_fifo() => Kind::Pipe,
            Ok(t) if t.is_socket() => Kind::Socket,
            _ => Kind::Plain,
        };
        Polled { file, kind, stall, what: path.display().to_string(), announced: false }
    }

    /// Waits until there is room, or `timeout` passed (false).
    fn wait_for_room(&self, timeout: Duration) -> io::Result<bool> {
        use std::os::fd::AsRawFd;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut pfd = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd, for a descriptor `file` owns.
            match unsafe { libc::poll(&mut pfd, 1, ms) } {
                // A signal interrupted the wait: wait on for what is left of it.
                n if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
                n if n < 0 => return Err(io::Error::last_os_error()),
                0 => return Ok(false),
                _ => return Ok(true),
            }
        }
    }

    /// Waits for room within the stall time, saying so once after a few seconds.
    fn room(&mut self) -> io::Result<()> {
        let announce = crate::wait::announce_after(self.stall);
        if self.wait_for_room(announce)? {
            return Ok(());
        }
        if !self.announced {
            self.announced = true;
            crate::shell::line(format_args!("waiting for the process reading {} to take more", self.what));
        }
        if self.wait_for_room(self.stall - announce)? {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the process reading {} took nothing for {} s", self.what, self.stall.as_secs()),
        ))
    }
}

impl Write for Polled {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        if buf.is_empty() {
            return Ok(0);
        }
        match self.kind {
            Kind::Plain => self.file.write(buf),
            Kind::Pipe => {
                self.room()?;
                // With room reported, a write of at most PIPE_BUF bytes does not block.
                self.file.write(&buf[..buf.len().min(libc::PIPE_BUF)])
            }
            Kind::Socket => loop {
                // SAFETY: send(2) on a descriptor `file` owns, from a live buffer of that length.
                let n = unsafe {
                    libc::send(
                        self.file.as_raw_fd(),
                        buf.as_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
                if n >= 0 {
                    return Ok(n as usize);
                }
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => self.room()?,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(e),
                }
            },
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn terminal(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a terminal, and a tar would garble it; redirect it to a file (e.g. `> app.tar`)",
            path.display()
        ),
    )
}

/// Opens a FIFO or character device for writing, without creating or truncating it. A FIFO
/// with no reader yet is retried until `timeout`, saying what it waits for.
fn open_stream(path: &Path, timeout: Duration) -> io::Result<File> {
    let waiting = || format!("waiting for a process to read from the FIFO {}", path.display());
    let opened = crate::wait::poll(timeout, waiting, || {
        match fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path) {
            Ok(file) => blocking(&file).map(|()| Some(file)),
            // ENXIO: a FIFO nobody reads from yet (for a device, there is no device behind it).
            Err(e)
                if e.raw_os_error() == Some(libc::ENXIO)
                    && fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    })?;
    opened.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "nothing read from the FIFO {} within {} s; start the process that reads it first",
                path.display(),
                timeout.as_secs()
            ),
        )
    })
}

/// Clears `O_NONBLOCK`, so writes wait for the reader instead of failing.
fn blocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this File owns, with flags read from the same descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn umask_mode(mode: u32) -> u32 {
        let probe = tempfile::tempdir().unwrap();
        let p = probe.path().join("probe");
        fs::OpenOptions::new().write(true).create(true).mode(mode).open(&p).unwrap();
        fs::metadata(&p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn failed_fill_keeps_the_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tar");
        write_output(&path, &crate::tuning::Tuning::default(), |w| w.write_all(b"good")).unwrap();
        let err = write_output(&path, &crate::tuning::Tuning::default(), |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"good");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn new_files_follow_the_umask_and_replaced_ones_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.tar");
        write_output(&path, &crate::tuning::Tuning::default(), |w| w.write_all(b"x")).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, umask_mode(0o666));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_output(&path, &crate::tuning::Tuning::default(), |w| w.write_all(b"y")).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn symlinks_are_written_through_and_special_files_classified() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.tar");
        let link = dir.path().join("link.tar");
        std::os::unix::fs::symlink("real.tar", &link).unwrap();
        write_output(&link, &crate::tuning::Tuning::default(), |w| w.write_all(b"through")).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"through");
        assert_eq!(destination(Path::new("/dev/null")).unwrap(), Destination::Stream("/dev/null".into()));
        assert_eq!(destination(Path::new("-")).unwrap(), Destination::Stdout);
        let err = destination(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        write_output(Path::new("/dev/null"), &crate::tuning::Tuning::default(), |w| w.write_all(b"gone")).unwrap();
        assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    }

    #[test]
    fn a_fifo_without_a_reader_times_out_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        crate::fsutil::mkfifo(&fifo);
        let tuning = crate::tuning::Tuning { timeout: Duration::from_millis(100), ..Default::default() };
        let err = write_output(&fifo, &tuning, |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("nothing read from the FIFO"), "{err}");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_fifo_reader_that_stops_reading_fails_the_write_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        crate::fsutil::mkfifo(&fifo);
        // A reader that opens the FIFO and never reads.
        let _reader = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
        let tuning = crate::tuning::Tuning { stall: Duration::from_millis(300), ..Default::default() };
        let started = std::time::Instant::now();
        let err = write_output(&fifo, &tuning, |w| w.write_all(&vec![0; 1 << 20])).unwrap_err();
        assert!(err.to_string().contains("took nothing for"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn directory_names_and_dot_dot_past_a_missing_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["new/", "new/.", "new/.."] {
            let err = check_output(&dir.path().join(name)).unwrap_err().to_string();
            assert!(err.contains("a directory name, not a file name"), "{name}: {err}");
        }
        // `nope/../x` would be `x` if `..` were taken textually; the kernel finds no `nope`.
        let err = check_output(&dir.path().join("nope/../x.tar")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("which does not exist"), "{err}");
        fs::create_dir(dir.path().join("real")).unwrap();
        check_output(&dir.path().join("real/../x.tar")).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "a check wrote something");
    }
}
