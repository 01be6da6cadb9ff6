//! The layer of files copied in with `include`: directories walked in sorted order, modes
//! reduced to 0644 or 0755, owned by root, so only the files' contents matter.
//!
//! Nothing but what was asked for leaves the host: symlinks inside the tree are stored as
//! symlinks (never followed), and one that points outside the tree, or anywhere by an
//! absolute path, is refused; FIFOs, devices and sockets are refused, by name.

use super::layer::{Contents, Entry, EntryKind};
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// A file or directory copied into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Include {
    /// The source, symlinks resolved: inside the package (Cargo.toml) or the current
    /// directory (`--include`), unless `--allow-include-outside` was given.
    pub(crate) from: PathBuf,
    /// How the image's history names the source: relative to the package or the current
    /// directory, so no host path gets into the image.
    pub(crate) shown: String,
    /// An absolute path in the image, normalised (`/srv/www`), never `/`.
    pub(crate) to: String,
}

/// What a file is, in words.
pub(crate) fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_dir() {
        "a directory"
    } else {
        "a regular file"
    }
}

/// One thing found in an included tree.
enum Found {
    Dir(String),
    File(String, PathBuf, u32),
    Link(String, String),
}

/// Checks every include's tree without reading any file: what [`contents`] would refuse,
/// found before the build. `bin` is the binary's name: its path (`/bin`) is not an include's.
pub(crate) fn check(includes: &[Include], bin: &str) -> io::Result<()> {
    let mut claims = Claims::new(bin);
    for inc in includes {
        claims.parents(inc)?;
        walk(inc, &mut |found| claims.claim(&found, inc))?;
    }
    Ok(())
}

/// The entries for every include, with the parent directories of each destination. A parent
/// that a layer below already makes (`below`: a `workdir`, `/tmp`...) keeps that layer's
/// owner and mode: an include never takes a directory from the user the image runs as.
pub(crate) fn contents(includes: &[Include], bin: &str, below: &[&Entry]) -> io::Result<Contents> {
    let mut claims = Claims::new(bin);
    let mut entries = Vec::new();
    for inc in includes {
        for parent in claims.parents(inc)? {
            let mut dir = Entry::dir(&parent, 0o755);
            if let Some(made) = below.iter().find(|e| e.path == dir.path && matches!(e.kind, EntryKind::Dir)) {
                (dir.mode, dir.uid, dir.gid) = (made.mode, made.uid, made.gid);
            }
            entries.push(dir);
        }
        walk(inc, &mut |found| {
            claims.claim(&found, inc)?;
            entries.push(match found {
                Found::Dir(to) => Entry::dir(&to, 0o755),
                Found::File(to, from, mode) => Entry::file(&to, from, mode)?,
                Found::Link(to, target) => Entry::symlink(&to, &target),
            });
            Ok(())
        })?;
    }
    Ok(Contents::new(entries))
}

/// What each path of the image holds and which include put it there, so that two includes
/// that disagree (two files at one path, a file where a directory is) are refused instead of
/// one silently winning. Directories merge, as `COPY` merges them.
struct Claims {
    paths: std::collections::BTreeMap<String, (bool, String)>,
}

impl Claims {
    fn new(bin: &str) -> Claims {
        let mut paths = std::collections::BTreeMap::new();
        paths.insert(format!("/{bin}"), (false, format!("the binary {bin}")));
        Claims { paths }
    }

    /// Claims the directories above `inc.to`; returns them, outermost first.
    fn parents(&mut self, inc: &Include) -> io::Result<Vec<String>> {
        let parts: Vec<&str> = inc.to.split('/').filter(|p| !p.is_empty()).collect();
        let dirs: Vec<String> = (1..parts.len()).map(|i| format!("/{}", parts[..i].join("/"))).collect();
        for dir in &dirs {
            self.insert(dir, true, inc)?;
        }
        Ok(dirs)
    }

    fn claim(&mut self, found: &Found, inc: &Include) -> io::Result<()> {
        match found {
            Found::Dir(to) => self.insert(to, true, inc),
            Found::File(to, ..) | Found::Link(to, _) => self.insert(to, false, inc),
        }
    }

    fn insert(&mut self, path: &str, dir: bool, inc: &Include) -> io::Result<()> {
        let by = format!("include {} ({})", inc.shown, inc.to);
        match self.paths.get(path) {
            None => {
                self.paths.insert(path.to_string(), (dir, by));
                Ok(())
            }
            Some((true, _)) if dir => Ok(()),
            Some((was_dir, other)) => {
                let what = |d: bool| if d { "a directory" } else { "a file" };
                let other = if *other == by { "another entry of the same include".to_string() } else { other.clone() };
                Err(invalid(format!(
                    "{by} puts {} at {path} in the image, where {other} puts {}; give the includes different destinations (`to`) so that nothing is silently replaced",
                    what(dir),
                    what(*was_dir)
                )))
            }
        }
    }
}

/// Walks `inc.from` (already resolved and checked to be a file or a directory) in sorted
/// order, handing each entry to `visit` with its path in the image.
fn walk(inc: &Include, visit: &mut dyn FnMut(Found) -> io::Result<()>) -> io::Result<()> {
    let root = &inc.from;
    // `from` was resolved when it was checked: a symlink now is a tree swapped since.
    let meta = fs::symlink_metadata(root)?;
    if meta.file_type().is_symlink() {
        return Err(invalid(format!("{} was replaced by a symlink after it was checked", root.display())));
    }
    if !meta.is_dir() {
        return visit_file(root, &meta, inc.to.clone(), visit);
    }
    let mut pending = vec![(root.clone(), inc.to.clone())];
    while let Some((dir, to)) = pending.pop() {
        visit(Found::Dir(to.clone()))?;
        let mut children: Vec<_> = fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        children.sort_by_key(|c| c.file_name());
        let mut subdirs = Vec::new();
        for child in children {
            let path = child.path();
            let name = child.file_name();
            let name = name.to_str().ok_or_else(|| invalid(format!("{} is not UTF-8", path.display())))?;
            let child_to = format!("{to}/{name}");
            let meta = fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path)?;
                check_link(root, &path, &target)?;
                let target = target.to_str().ok_or_else(|| invalid(format!("{} is not UTF-8", path.display())))?;
                visit(Found::Link(child_to, target.to_string()))?;
            } else if meta.is_dir() {
                subdirs.push((path, child_to));
            } else {
                visit_file(&path, &meta, child_to, visit)?;
            }
        }
        // Depth first, in name order: the entries are sorted again by path anyway.
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

fn visit_file(
    path: &Path,
    meta: &fs::Metadata,
    to: String,
    visit: &mut dyn FnMut(Found) -> io::Result<()>,
) -> io::Result<()> {
    if !meta.is_file() {
        return Err(invalid(format!(
            "{} is {}; only regular files, directories and symlinks inside the tree can be included",
            path.display(),
            kind_of(meta)
        )));
    }
    if let Some(fs_name) = pseudo_filesystem(path) {
        return Err(invalid(format!(
            "{} is a file of {fs_name}, made by the kernel as it is read (its size says {} bytes whatever it \
             holds); copy it into the project and include the copy",
            path.display(),
            meta.len()
        )));
    }
    let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
    visit(Found::File(to, path.to_path_buf(), mode))
}

/// The name of the pseudo filesystem `path` is on (procfs, sysfs...), whose files are made
/// as they are read and whose sizes say nothing of their content; `None` for a filesystem
/// that stores files.
fn pseudo_filesystem(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs(2) reads a NUL-terminated path and fills the zeroed struct it is given.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // The magic numbers of linux/magic.h.
    // `f_type` is signed on some platforms: compare its 32 bits.
    #[allow(clippy::unnecessary_cast)]
    match (st.f_type as i64) & 0xffff_ffff {
        0x9fa0 => Some("/proc (procfs)"),
        0x6265_6572 => Some("/sys (sysfs)"),
        0x6462_6720 => Some("debugfs"),
        0x7472_6163 => Some("tracefs"),
        0x0027_e0eb | 0x6367_7270 => Some("cgroupfs"),
        0x6265_6570 => Some("configfs"),
        0xcafe_4a11 => Some("bpffs"),
        0xde5e_81e4 => Some("efivarfs"),
        0x7363_6673 => Some("securityfs"),
        0x6e73_6673 => Some("nsfs"),
        _ => None,
    }
}

/// A symlink may point only inside the included tree, by a relative path. Where it leads
/// is worked out as the kernel would: through the tree's own links (so `a -> .` then
/// `b -> a/..` is seen to leave it), and, for a target that exists, by its real path.
fn check_link(root: &Path, link: &Path, target: &Path) -> io::Result<()> {
    let refuse = |why: &str| {
        invalid(format!(
            "{} is a symlink to {}, {why}; only links that stay inside the included tree ({}) are copied",
            link.display(),
            target.display(),
            root.display()
        ))
    };
    if target.is_absolute() {
        return Err(refuse("an absolute path"));
    }
    if let Ok(real) = std::fs::canonicalize(link) {
        return if real.starts_with(root) { Ok(()) } else { Err(refuse("outside the included tree")) };
    }
    // A dangling link: walk its target from the link's directory, refusing a `..` that
    // follows a component that is itself a link (its real parent is elsewhere).
    let rel_dir = link.parent().and_then(|d| d.strip_prefix(root).ok()).unwrap_or(Path::new(""));
    let mut depth: Vec<&std::ffi::OsStr> = rel_dir.iter().collect();
    let mut through_link = false;
    for c in target.components() {
        match c {
            Component::Normal(n) => {
                depth.push(n);
                let here: PathBuf = depth.iter().collect();
                through_link |= fs::symlink_metadata(root.join(here)).is_ok_and(|m| m.file_type().is_symlink());
            }
            Component::CurDir => {}
            Component::ParentDir if through_link => return Err(refuse("outside the included tree")),
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return Err(refuse("outside the included tree"));
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(refuse("an absolute path")),
        }
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn include(from: PathBuf, to: &str) -> Include {
        Include { from, shown: "x".into(), to: to.into() }
    }

    #[test]
    fn directories_are_walked_in_order_with_normalised_modes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("static");
        fs::create_dir_all(src.join("b")).unwrap();
        fs::write(src.join("z.txt"), "z").unwrap();
        fs::write(src.join("b/run.sh"), "#!/bin/sh").unwrap();
        fs::set_permissions(src.join("b/run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
        let c = contents(&[include(src, "/srv/www")], "app", &[]).unwrap();
        let got: Vec<(String, u32)> = c.entries().iter().map(|e| (e.path.clone(), e.mode)).collect();
        assert_eq!(
            got,
            vec![
                ("srv".to_string(), 0o755),
                ("srv/www".to_string(), 0o755),
                ("srv/www/b".to_string(), 0o755),
                ("srv/www/b/run.sh".to_string(), 0o755),
                ("srv/www/z.txt".to_string(), 0o644),
            ]
        );
    }

    #[test]
    fn links_inside_the_tree_are_kept_as_links_and_escaping_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("static");
        fs::create_dir_all(src.join("v1")).unwrap();
        fs::write(src.join("v1/app.js"), "x").unwrap();
        symlink("v1", src.join("current")).unwrap();
        symlink("../app.js", src.join("v1/up")).unwrap();
        let c = contents(&[include(src.clone(), "/srv")], "app", &[]).unwrap();
        let link = c.entries().iter().find(|e| e.path == "srv/current").unwrap();
        assert!(matches!(&link.kind, crate::image::layer::EntryKind::Symlink { target } if target == "v1"));
        // `v1/up` -> `../app.js` resolves to `app.js` at the root: inside, so kept.
        assert!(c.entries().iter().any(|e| e.path == "srv/v1/up"));

        symlink("/etc/shadow", src.join("shadow")).unwrap();
        let err = contents(&[include(src.clone(), "/srv")], "app", &[]).unwrap_err().to_string();
        assert!(err.contains("shadow") && err.contains("an absolute path"), "{err}");
        fs::remove_file(src.join("shadow")).unwrap();
        symlink("../../outside", src.join("v1/esc")).unwrap();
        let err = check(&[include(src.clone(), "/srv")], "app").unwrap_err().to_string();
        assert!(err.contains("outside the included tree"), "{err}");
        fs::remove_file(src.join("v1/esc")).unwrap();

        // Through the tree's own links: `here -> .` is the root, `up -> here/..` its parent.
        symlink(".", src.join("here")).unwrap();
        symlink("here/..", src.join("up")).unwrap();
        let err = check(&[include(src.clone(), "/srv")], "app").unwrap_err().to_string();
        assert!(err.contains("up is a symlink") && err.contains("outside the included tree"), "{err}");
        fs::remove_file(src.join("up")).unwrap();
        symlink("here/../missing", src.join("dangling")).unwrap();
        let err = check(&[include(src, "/srv")], "app").unwrap_err().to_string();
        assert!(err.contains("dangling is a symlink") && err.contains("outside the included tree"), "{err}");
    }

    #[test]
    fn includes_that_disagree_are_refused_and_directories_merge() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(a.join("conf")).unwrap();
        fs::create_dir_all(b.join("conf")).unwrap();
        fs::write(a.join("conf/one"), "1").unwrap();
        fs::write(b.join("conf/two"), "2").unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "f").unwrap();
        let named =
            |from: &Path, shown: &str, to: &str| Include { from: from.into(), shown: shown.into(), to: to.into() };
        // Two trees into one directory merge.
        let c = contents(&[named(&a, "a", "/etc/app"), named(&b, "b", "/etc/app")], "app", &[]).unwrap();
        let paths: Vec<&str> = c.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["etc", "etc/app", "etc/app/conf", "etc/app/conf/one", "etc/app/conf/two"]);
        // The same file twice: refused, naming both.
        let err = check(&[named(&a, "a", "/etc/app"), named(&a, "a2", "/etc/app")], "app").unwrap_err().to_string();
        assert!(
            err.contains("include a2 (/etc/app) puts a file at /etc/app/conf/one")
                && err.contains("include a (/etc/app)"),
            "{err}"
        );
        // A file where another include has a directory, either way round.
        let err =
            check(&[named(&a, "a", "/etc/app"), named(&file, "file", "/etc/app/conf")], "app").unwrap_err().to_string();
        assert!(err.contains("puts a file at /etc/app/conf") && err.contains("puts a directory"), "{err}");
        let err = check(&[named(&file, "file", "/etc"), named(&a, "a", "/etc/app")], "app").unwrap_err().to_string();
        assert!(err.contains("puts a directory at /etc") && err.contains("include file (/etc) puts a file"), "{err}");
        // The binary's own path, or a directory there.
        let err = contents(&[named(&file, "file", "/app")], "app", &[]).unwrap_err().to_string();
        assert!(err.contains("at /app in the image, where the binary app puts a file"), "{err}");
        let err = check(&[named(&file, "file", "/app/data")], "app").unwrap_err().to_string();
        assert!(err.contains("puts a directory at /app"), "{err}");
        assert!(check(&[named(&file, "file", "/app.conf")], "app").is_ok());
    }

    #[test]
    fn special_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("tree");
        fs::create_dir_all(&src).unwrap();
        crate::fsutil::mkfifo(&src.join("pipe"));
        let err = check(&[include(src, "/srv")], "app").unwrap_err().to_string();
        assert!(err.contains("pipe is a FIFO"), "{err}");
    }
}
