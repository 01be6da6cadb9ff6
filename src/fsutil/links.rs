//! Paths of outputs: resolved as the kernel would, with its `protected_symlinks` rule
//! applied whatever the kernel's setting, and the directories outputs go into.

use super::{parent_of, TempFile};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
            // As the kernel: `..` after a component that does not exist leads nowhere.
            if missing {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} goes back (`..`) out of {}, which does not exist", path.display(), resolved.display()),
                ));
            }
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
