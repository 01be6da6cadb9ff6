//! The static-binary check: a FROM-scratch image has no loader and no shared libraries.

use goblin::container::Ctx;
use goblin::elf::dynamic::{DT_NEEDED, DT_NULL};
use goblin::elf::program_header::{ProgramHeader, PT_DYNAMIC, PT_INTERP};
use goblin::elf::Elf;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Why a binary cannot run in an empty image.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not an ELF executable: {reason}", path.display())]
    NotElf { path: PathBuf, reason: String },
    #[error("{} is dynamically linked{}{}, so it cannot run in a FROM scratch image", path.display(),
        interpreter.as_ref().map(|i| format!(" (interpreter {i})")).unwrap_or_default(),
        if needed.is_empty() { String::new() } else { format!(" and needs {}", needed.join(", ")) })]
    NotStatic { path: PathBuf, interpreter: Option<String>, needed: Vec<String> },
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::NotStatic { .. } => Some(
                "build for a musl target (the default, --target x86_64-unknown-linux-musl), link \
                 statically with RUSTFLAGS=\"-C target-feature=+crt-static\", or build on a base image \
                 that has glibc (--base REGISTRY/REPO:TAG, or base = \"...\" in [package.metadata.containerize])"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Fails unless the ELF at `path` has no `PT_INTERP` and no `DT_NEEDED`; static-pie passes.
/// Reads only the headers and the dynamic segment; the whole file only to explain a failure.
pub(crate) fn check_static(path: &Path) -> Result<(), Error> {
    let read_err = |source| Error::Read { path: path.into(), source };
    let mut file = File::open(path).map_err(read_err)?;
    match looks_static(&mut file) {
        Ok(true) => Ok(()),
        // Dynamic, or headers we could not read quickly: let the full parser say which.
        Ok(false) | Err(_) => {
            let bytes = std::fs::read(path).map_err(read_err)?;
            check_static_bytes(path, &bytes)
        }
    }
}

/// True when the program headers have no `PT_INTERP` and the dynamic segment, if any,
/// has no `DT_NEEDED`.
fn looks_static(file: &mut File) -> std::io::Result<bool> {
    let bad = |e: goblin::error::Error| std::io::Error::other(e.to_string());
    let head = read_at(file, 0, 64)?;
    let header = Elf::parse_header(&head).map_err(bad)?;
    let ctx = Ctx::new(header.container().map_err(bad)?, header.endianness().map_err(bad)?);
    // Remote-made numbers: any overflow, or headers past the first MiB, go to the full parser.
    let table = u64::from(header.e_phnum).checked_mul(u64::from(header.e_phentsize));
    let ph_end = match table.and_then(|t| t.checked_add(header.e_phoff)) {
        Some(end) if end <= 1 << 20 => end as usize,
        _ => return Ok(false),
    };
    let phdr_bytes = read_at(file, 0, ph_end)?;
    let phdrs =
        ProgramHeader::parse(&phdr_bytes, header.e_phoff as usize, header.e_phnum as usize, ctx).map_err(bad)?;
    if phdrs.iter().any(|ph| ph.p_type == PT_INTERP) {
        return Ok(false);
    }
    let Some(dynamic) = phdrs.iter().find(|ph| ph.p_type == PT_DYNAMIC) else {
        return Ok(true);
    };
    if dynamic.p_filesz > 1 << 20 {
        return Ok(false);
    }
    let bytes = read_at(file, dynamic.p_offset, dynamic.p_filesz as usize)?;
    let big_endian = !ctx.is_little_endian();
    let wide = ctx.container.is_big();
    let entry = if wide { 16 } else { 8 };
    for chunk in bytes.chunks_exact(entry) {
        let tag = match (wide, big_endian) {
            (true, false) => u64::from_le_bytes(chunk[..8].try_into().expect("8 bytes")),
            (true, true) => u64::from_be_bytes(chunk[..8].try_into().expect("8 bytes")),
            (false, false) => u64::from(u32::from_le_bytes(chunk[..4].try_into().expect("4 bytes"))),
            (false, true) => u64::from(u32::from_be_bytes(chunk[..4].try_into().expect("4 bytes"))),
        };
        match tag {
            DT_NULL => break,
            DT_NEEDED => return Ok(false),
            _ => {}
        }
    }
    Ok(true)
}

fn read_at(file: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn check_static_bytes(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let elf = Elf::parse(bytes).map_err(|e| Error::NotElf { path: path.into(), reason: e.to_string() })?;
    let has_interp = elf.program_headers.iter().any(|ph| ph.p_type == PT_INTERP);
    let needed: Vec<String> = elf.libraries.iter().map(|s| s.to_string()).collect();
    if has_interp || !needed.is_empty() {
        let interpreter = elf.interpreter.map(str::to_string).or(has_interp.then(|| "?".to_string()));
        return Err(Error::NotStatic { path: path.into(), interpreter, needed });
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
    fn the_fast_path_agrees_with_the_full_parser() {
        let mut dynamic = File::open("/bin/ls").unwrap();
        assert!(!looks_static(&mut dynamic).unwrap());
        let exe = std::env::current_exe().unwrap();
        let full = check_static_bytes(&exe, &std::fs::read(&exe).unwrap()).is_ok();
        assert_eq!(looks_static(&mut File::open(&exe).unwrap()).unwrap(), full);
    }

    #[test]
    fn a_non_elf_file_is_refused() {
        let err = check_static_bytes(Path::new("x"), b"#!/bin/sh\n").unwrap_err();
        assert!(err.to_string().contains("not an ELF"));
    }
}
