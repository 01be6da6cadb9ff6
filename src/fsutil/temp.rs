//! Temporary files and directories: named `.cargo-containerize-*`, locked while held,
//! registered for removal on an interrupt, and swept at the next run when a killed run left
//! them.

use super::parent_of;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
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

pub(super) fn write_through(file: &mut File, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 20, file);
    fill(&mut w)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

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
