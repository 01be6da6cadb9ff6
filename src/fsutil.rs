//! Files the tool writes, written so that nothing is lost and nothing is left behind:
//!
//! - a regular file is written beside its destination and renamed over it, so a failed run
//!   never leaves it half-written; a symlink is written through, to its target;
//! - a FIFO, a character device or standard output (`-`) is streamed into; other special
//!   files are refused;
//! - new files and directories follow the umask, as `cp` would (a replaced file keeps its mode);
//! - every temporary file is named `.cargo-containerize-*`, held under a `flock` while it is
//!   written, and registered for removal on SIGINT/SIGTERM ([`remove_live_temps`]); a killed
//!   run's leftovers are unlocked, and [`sweep`] removes them at the next run.

use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The prefix of every temporary file or directory the tool creates.
pub(crate) const TEMP_PREFIX: &str = ".cargo-containerize-";

/// A leftover younger than this is never swept: it may have been created a moment ago by
/// another run that has not locked it yet.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(2);

/// Temporary paths alive in this process, removed if the process is interrupted.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register(path: &Path) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(path.to_path_buf());
}

fn unregister(path: &Path) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != path);
}

/// Removes every temporary file and directory of this process; for the signal handler.
pub(crate) fn remove_live_temps() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for path in live {
        let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
    }
}

/// The directory a path lives in (`.` for a bare file name).
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file, locked while this process holds it; removed on drop unless persisted.
pub(crate) struct TempFile {
    inner: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl TempFile {
    /// A new empty file in the directory `dir`, mode 0666 less the umask.
    pub(crate) fn new_in(dir: &Path) -> io::Result<TempFile> {
        let inner = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)?;
        inner.as_file().lock()?;
        let path = inner.path().to_path_buf();
        register(&path);
        Ok(TempFile { inner: Some(inner), path })
    }

    pub(crate) fn file(&self) -> &File {
        self.inner.as_ref().expect("held until persisted").as_file()
    }

    pub(crate) fn file_mut(&mut self) -> &mut File {
        self.inner.as_mut().expect("held until persisted").as_file_mut()
    }

    /// Another handle on the same file.
    pub(crate) fn reopen(&self) -> io::Result<File> {
        self.inner.as_ref().expect("held until persisted").reopen()
    }

    /// Renames the file to `dest`, replacing what is there.
    pub(crate) fn persist(mut self, dest: &Path) -> io::Result<()> {
        let inner = self.inner.take().expect("held until persisted");
        let result = inner.persist(dest).map(drop).map_err(|e| e.error);
        unregister(&self.path);
        result
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // The NamedTempFile, if still here, removes the file.
        drop(self.inner.take());
        unregister(&self.path);
    }
}

/// A temporary directory, locked while this process holds it; removed on drop unless renamed.
pub(crate) struct TempDir {
    inner: Option<tempfile::TempDir>,
    path: PathBuf,
    _lock: File,
}

impl TempDir {
    /// A new empty directory in the directory `dir`, mode 0777 less the umask.
    pub(crate) fn new_in(dir: &Path) -> io::Result<TempDir> {
        let inner = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(fs::Permissions::from_mode(0o777))
            .tempdir_in(dir)?;
        let lock = File::open(inner.path())?;
        lock.lock()?;
        let path = inner.path().to_path_buf();
        register(&path);
        Ok(TempDir { inner: Some(inner), path, _lock: lock })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the directory to `dest`, which must not exist or be an empty directory.
    pub(crate) fn rename_to(mut self, dest: &Path) -> io::Result<()> {
        fs::rename(&self.path, dest)?;
        // Renamed away: nothing is left to remove.
        let _ = self.inner.take().expect("held until renamed").keep();
        unregister(&self.path);
        Ok(())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        drop(self.inner.take());
        unregister(&self.path);
    }
}

/// Removes what killed runs left in `dir`: `.cargo-containerize-*` entries no process holds
/// a lock on. Best effort; never fails.
pub(crate) fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        let young = meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()) < Some(SWEEP_MIN_AGE);
        if young || !(meta.is_file() || meta.is_dir()) {
            continue;
        }
        let Ok(handle) = File::open(&path) else { continue };
        if handle.try_lock().is_err() {
            continue; // A live run holds it.
        }
        let _ = if meta.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
    }
}

/// Writes an internal file (cache metadata, memos) through `fill`, into a temporary file
/// beside `path` (its directory created if missing), then renames it. Not synced: a cache
/// entry lost in a crash is only a miss.
pub(crate) fn write_file_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let parent = parent_of(path);
    fs::create_dir_all(&parent)?;
    let mut tmp = TempFile::new_in(&parent)?;
    write_through(tmp.file_mut(), fill)?;
    tmp.persist(path)
}

fn write_through(file: &mut File, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 20, file);
    fill(&mut w)?;
    w.flush()
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

/// The directory an output at `target` (`path` resolved) goes into. Missing directories are
/// made (with `create`; else the nearest existing one must take new entries) for the path
/// as given, never through a symlink: behind a link, the directory must exist. The same
/// rule for the check before the build and for the write.
pub(crate) fn output_parent(path: &Path, target: &Path, create: bool) -> io::Result<PathBuf> {
    let parent = parent_of(target);
    if parent.is_dir() {
        if !create {
            TempFile::new_in(&parent)?;
        }
        return Ok(parent);
    }
    if resolve_links(path)?.1 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} leads through a symlink to {}, whose directory does not exist; refusing to create directories through a link",
                path.display(),
                target.display()
            ),
        ));
    }
    if create {
        fs::create_dir_all(&parent)?;
    } else {
        let mut ancestor = parent.clone();
        while !ancestor.exists() {
            ancestor = parent_of(&ancestor);
        }
        TempFile::new_in(&ancestor)?;
    }
    Ok(parent)
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

/// `path` resolved as the kernel would resolve it, every symlink followed (the last one
/// even to a missing target: what follows a missing component is taken as written), made
/// absolute; and whether any symlink was followed. As the kernel's `protected_symlinks`
/// does, a link in a sticky world-writable directory (such as /tmp) is followed only when
/// this process or that directory's owner owns it: otherwise another user could point a root
/// run's output at any file or directory.
pub(crate) fn resolve_links(path: &Path) -> io::Result<(PathBuf, bool)> {
    use std::path::Component;
    let mut resolved = if path.is_absolute() { PathBuf::from("/") } else { std::env::current_dir()? };
    let mut pending: Vec<std::ffi::OsString> = Vec::new();
    let push = |pending: &mut Vec<std::ffi::OsString>, p: &Path| {
        for c in p.components().rev() {
            match c {
                Component::Normal(n) => pending.push(n.to_os_string()),
                Component::ParentDir => pending.push("..".into()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
    };
    push(&mut pending, path);
    let (mut links, mut missing) = (0, false);
    while let Some(c) = pending.pop() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let next = resolved.join(&c);
        match fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() && !missing => {
                links += 1;
                if links > 40 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{} leads through more than 40 symlinks", path.display()),
                    ));
                }
                check_link_owner(&next, &m)?;
                let target = fs::read_link(&next)?;
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                push(&mut pending, &target);
            }
            Ok(_) => resolved = next,
            Err(_) => {
                missing = true;
                resolved = next;
            }
        }
    }
    Ok((resolved, links > 0))
}

fn check_link_owner(link: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let dir = fs::metadata(parent_of(link))?;
    let sticky_and_world_writable = dir.mode() & 0o1002 == 0o1002;
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if sticky_and_world_writable && meta.uid() != me && meta.uid() != dir.uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is a symlink owned by another user (uid {}) in a sticky world-writable directory; refusing to \
                 follow it, as the kernel's protected_symlinks does",
                link.display(),
                meta.uid()
            ),
        ));
    }
    Ok(())
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
        let announce = (self.stall / 2).min(Duration::from_secs(5));
        if self.wait_for_room(announce)? {
            return Ok(());
        }
        if !self.announced {
            self.announced = true;
            crate::say!("waiting for the process reading {} to take more", self.what);
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
    let deadline = std::time::Instant::now() + timeout;
    let mut announce = None;
    loop {
        match fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path) {
            Ok(file) => {
                blocking(&file)?;
                return Ok(file);
            }
            // ENXIO: a FIFO nobody reads from yet (for a device, there is no device behind it).
            Err(e)
                if e.raw_os_error() == Some(libc::ENXIO)
                    && fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) =>
            {
                if std::time::Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "nothing read from the FIFO {} within {} s; start its reader (e.g. `docker load < {0}`) first",
                            path.display(),
                            timeout.as_secs()
                        ),
                    ));
                }
                announce.get_or_insert_with(|| {
                    crate::wait::Announce::after(
                        (timeout / 2).min(Duration::from_secs(5)),
                        format!("waiting for a process to read from the FIFO {}", path.display()),
                    )
                });
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let tuning = crate::tuning::Tuning { timeout: Duration::from_millis(100), ..Default::default() };
        let err = write_output(&fifo, &tuning, |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("nothing read from the FIFO"), "{err}");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_fifo_reader_that_stops_reading_fails_the_write_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A reader that opens the FIFO and never reads.
        let _reader = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
        let tuning = crate::tuning::Tuning { stall: Duration::from_millis(300), ..Default::default() };
        let started = std::time::Instant::now();
        let err = write_output(&fifo, &tuning, |w| w.write_all(&vec![0; 1 << 20])).unwrap_err();
        assert!(err.to_string().contains("took nothing for"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn sweep_removes_unlocked_leftovers_only() {
        let dir = tempfile::tempdir().unwrap();
        let live = TempFile::new_in(dir.path()).unwrap();
        let stale = dir.path().join(format!("{TEMP_PREFIX}stale"));
        let other = dir.path().join("keep.txt");
        fs::write(&stale, "x").unwrap();
        fs::write(&other, "x").unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        for p in [&stale, &live.path] {
            File::options().write(true).open(p).unwrap().set_modified(old).unwrap();
        }
        sweep(dir.path());
        assert!(!stale.exists());
        assert!(live.path.exists() && other.exists());
    }
}
