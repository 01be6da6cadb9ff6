//! The static-binary check: a FROM-scratch image has no loader and no shared libraries.

use goblin::elf::{program_header::PT_INTERP, Elf};
use std::path::{Path, PathBuf};

/// Why a binary cannot run in an empty image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not an ELF executable: {reason}", path.display())]
    NotElf { path: PathBuf, reason: String },
    #[error("{} is dynamically linked{}{}, so it cannot run in a FROM scratch image", path.display(),
        interpreter.as_ref().map(|i| format!(" (interpreter {i})")).unwrap_or_default(),
        if needed.is_empty() { String::new() } else { format!(" and needs {}", needed.join(", ")) })]
    NotStatic {
        path: PathBuf,
        interpreter: Option<String>,
        needed: Vec<String>,
    },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NotStatic { .. } => Some(
                "build for a musl target (the default, --target x86_64-unknown-linux-musl), or link \
                 statically with RUSTFLAGS=\"-C target-feature=+crt-static\""
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Fails unless the ELF at `path` has no `PT_INTERP` and no `DT_NEEDED`; static-pie passes.
pub fn check_static(path: &Path) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    check_static_bytes(path, &bytes)
}

fn check_static_bytes(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let elf = Elf::parse(bytes).map_err(|e| Error::NotElf {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let has_interp = elf.program_headers.iter().any(|ph| ph.p_type == PT_INTERP);
    let needed: Vec<String> = elf.libraries.iter().map(|s| s.to_string()).collect();
    if has_interp || !needed.is_empty() {
        let interpreter = elf
            .interpreter
            .map(str::to_string)
            .or(has_interp.then(|| "?".to_string()));
        return Err(Error::NotStatic {
            path: path.into(),
            interpreter,
            needed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_host_binary_is_refused_with_its_libraries() {
        let err = check_static(Path::new("/bin/ls")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("dynamically linked"), "{msg}");
        assert!(msg.contains("libc.so.6"), "{msg}");
        assert!(msg.contains("ld-linux"), "{msg}");
        assert!(err.hint().unwrap().contains("musl"));
    }

    #[test]
    fn a_non_elf_file_is_refused() {
        let err = check_static_bytes(Path::new("x"), b"#!/bin/sh\n").unwrap_err();
        assert!(err.to_string().contains("not an ELF"));
    }
}
