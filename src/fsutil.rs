//! Atomic outputs: write beside the destination, then rename, so a failed run never
//! leaves a half-written file or directory where a good one was.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The directory a path lives in (`.` for a bare file name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes a file through `fill`, into a temporary file beside `path`, then renames it.
pub(crate) fn write_file_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let parent = parent_of(path);
    fs::create_dir_all(&parent)?;
    let mut tmp = tempfile::Builder::new().prefix(".cargo-containerize-").tempfile_in(&parent)?;
    {
        let mut w = io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Builds a directory through `fill` in a staging directory beside `dir`, then swaps it in.
/// An existing `dir` is replaced only when `replaceable` says so.
pub(crate) fn write_dir_atomic(
    dir: &Path,
    replaceable: impl Fn(&Path) -> bool,
    fill: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    if dir.exists() && !replaceable(dir) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not an OCI image layout; refusing to replace it", dir.display()),
        ));
    }
    let parent = parent_of(dir);
    fs::create_dir_all(&parent)?;
    let staging = tempfile::Builder::new().prefix(".cargo-containerize-").tempdir_in(&parent)?;
    fill(staging.path())?;
    if dir.exists() {
        let old = tempfile::Builder::new().prefix(".cargo-containerize-old-").tempdir_in(&parent)?;
        let old_path = old.path().join("old");
        fs::rename(dir, &old_path)?;
        if let Err(e) = fs::rename(staging.path(), dir) {
            let _ = fs::rename(&old_path, dir);
            return Err(e);
        }
        drop(old);
    } else {
        fs::rename(staging.path(), dir)?;
    }
    // The staging path was renamed away; nothing is left to clean up.
    let _ = staging.keep();
    Ok(())
}

/// Places `src` at `dst` by hard link (free for cached layers), or by copy across devices.
pub(crate) fn link_or_copy(src: &Path, dst: &Path) -> io::Result<()> {
    if fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    fs::copy(src, dst).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_keeps_the_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tar");
        write_file_atomic(&path, |w| w.write_all(b"good")).unwrap();
        let err = write_file_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"good");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_dir_fill_keeps_the_old_dir() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("layout");
        write_dir_atomic(&out, |_| true, |d| fs::write(d.join("a"), "1")).unwrap();
        let err = write_dir_atomic(
            &out,
            |_| true,
            |d| {
                fs::write(d.join("a"), "2")?;
                Err(io::Error::other("boom"))
            },
        );
        assert!(err.is_err());
        assert_eq!(fs::read_to_string(out.join("a")).unwrap(), "1");
        write_dir_atomic(&out, |_| true, |d| fs::write(d.join("b"), "3")).unwrap();
        assert!(!out.join("a").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_to_replace_what_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_dir_atomic(dir.path(), |_| false, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("refusing"));
    }
}
