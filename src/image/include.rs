//! The layer of files copied in with `include`: directories walked in sorted order, modes
//! reduced to 0644 or 0755, owned by root, so only the files' contents matter.

use super::layer::{Contents, Entry};
use crate::settings::Include;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The entries for every include, with the parent directories of each destination.
pub(crate) fn contents(includes: &[Include]) -> io::Result<Contents> {
    let mut entries = Vec::new();
    for inc in includes {
        let to = inc.to.trim_end_matches('/');
        let parts: Vec<&str> = to.split('/').filter(|p| !p.is_empty()).collect();
        for i in 1..parts.len() {
            entries.push(Entry::dir(&format!("/{}", parts[..i].join("/")), 0o755));
        }
        add(&inc.from, to, &mut entries)?;
    }
    Ok(Contents::new(entries))
}

fn add(from: &Path, to: &str, entries: &mut Vec<Entry>) -> io::Result<()> {
    let meta = fs::metadata(from)?;
    if meta.is_dir() {
        entries.push(Entry::dir(to, 0o755));
        let mut children: Vec<_> = fs::read_dir(from)?.collect::<Result<_, _>>()?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let name = child.file_name();
            let name = name.to_str().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{} is not UTF-8", child.path().display()))
            })?;
            add(&child.path(), &format!("{to}/{name}"), entries)?;
        }
    } else {
        let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
        entries.push(Entry::file(to, from.to_path_buf(), mode)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_in_order_with_normalised_modes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("static");
        fs::create_dir_all(src.join("b")).unwrap();
        fs::write(src.join("z.txt"), "z").unwrap();
        fs::write(src.join("b/run.sh"), "#!/bin/sh").unwrap();
        fs::set_permissions(src.join("b/run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
        let c = contents(&[Include { from: src, to: "/srv/www".into() }]).unwrap();
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
}
