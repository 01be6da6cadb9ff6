//! The fit check: will the binary start on this base? On scratch it must be static. On a
//! base, a dynamic binary needs its interpreter (`PT_INTERP`), every `DT_NEEDED` library
//! (and theirs), found through symlinks in the usual library directories, and every
//! symbol version it requires (`GLIBC_2.34`...) defined by the library that provides it.
//!
//! The base's filesystem is learnt from its layers once: one pass over each layer's tar
//! reads the headers, and parses only the shared libraries (the ELF facts we need are
//! kept; the bytes are not). The facts are stored per layer digest, so a later run reads
//! no layer at all.

use crate::image::layer::{MEDIA_TYPE_DOCKER_GZIP, MEDIA_TYPE_GZIP, MEDIA_TYPE_TAR};
use crate::image::parent::Parent;
use crate::store::Store;
use goblin::elf::Elf;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest library parsed; larger files are recorded as present but not parsed.
const MAX_LIBRARY: u64 = 64 << 20;

/// The files whose text the pass keeps: the users and groups a `user` may name.
const ACCOUNT_FILES: [&str; 2] = ["etc/passwd", "etc/group"];

/// The largest /etc/passwd or /etc/group kept; a larger one is recorded as present only.
const MAX_ACCOUNTS: u64 = 4 << 20;

/// Where the facts of each layer are remembered, by layer digest. The name changes with
/// what a memo holds, so a memo written before a fact was collected is never trusted.
const MEMO_DIR: &str = "files-of-v2";

/// Why a binary does not fit its base.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{} cannot start on the base image {base}:\n{}", binary.display(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Misfit { binary: PathBuf, base: String, problems: Vec<String>, fixes: Vec<String> },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot check the base image's files: {0}")]
    Layers(String),
    /// The base's layers could not be fetched.
    #[error(transparent)]
    Base(Box<super::Error>),
    /// A binary for scratch that is not static.
    #[error(transparent)]
    NotStatic(#[from] crate::elf::Error),
}

impl From<super::Error> for Error {
    fn from(e: super::Error) -> Error {
        Error::Base(Box::new(e))
    }
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Misfit { fixes, .. } => Some(fixes.join("; or ")),
            Error::Base(e) => e.hint(),
            Error::NotStatic(e) => e.hint(),
            Error::Read { .. } | Error::Layers(_) => None,
        }
    }
}

/// What a dynamic binary or library needs, and what a library defines.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct ElfFacts {
    pub(crate) interpreter: Option<String>,
    pub(crate) needed: Vec<String>,
    /// Symbol versions required, by the library file that must define them.
    pub(crate) versions_needed: BTreeMap<String, BTreeSet<String>>,
    /// Symbol versions this file defines.
    pub(crate) versions_defined: BTreeSet<String>,
    /// For glibc's libc, its release (`2.31`), which names no symbol version of its own
    /// when it added no symbol.
    #[serde(default)]
    pub(crate) glibc_release: Option<String>,
}

impl ElfFacts {
    fn parse(bytes: &[u8]) -> Option<ElfFacts> {
        let elf = Elf::parse(bytes).ok()?;
        let name = |i: usize| elf.dynstrtab.get_at(i).map(str::to_string);
        let mut facts = ElfFacts {
            interpreter: elf.interpreter.map(str::to_string),
            needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
            ..ElfFacts::default()
        };
        if let Some(verneed) = &elf.verneed {
            for need in verneed.iter() {
                let Some(file) = name(need.vn_file) else { continue };
                let set = facts.versions_needed.entry(file).or_default();
                set.extend(need.iter().filter_map(|aux| name(aux.vna_name)));
            }
        }
        if let Some(verdef) = &elf.verdef {
            for def in verdef.iter() {
                facts.versions_defined.extend(def.iter().take(1).filter_map(|aux| name(aux.vda_name)));
            }
        }
        if facts.versions_defined.iter().any(|v| v.starts_with("GLIBC_")) {
            facts.glibc_release = glibc_release(bytes);
        }
        Some(facts)
    }

    /// Whether the binary runs without a loader or libraries.
    pub(crate) fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }
}

/// glibc's banner says `... release version 2.31.`: the release.
fn glibc_release(bytes: &[u8]) -> Option<String> {
    const MARK: &[u8] = b"release version ";
    let at = bytes.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let version: String =
        bytes[at..].iter().take(16).take_while(|b| b.is_ascii_digit() || **b == b'.').map(|b| *b as char).collect();
    let version = version.trim_end_matches('.').to_string();
    (!version.is_empty()).then_some(version)
}

/// The facts of the binary at `path`.
pub(crate) fn binary_facts(path: &Path) -> Result<ElfFacts, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read { path: path.into(), source })?;
    ElfFacts::parse(&bytes)
        .ok_or_else(|| Error::Read { path: path.into(), source: io::Error::other("not an ELF file") })
}

/// One path of a layer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
enum Node {
    Dir,
    /// A regular file; a shared library's facts when it is one.
    File(Option<ElfFacts>),
    /// A regular file kept as text: /etc/passwd and /etc/group.
    Text(String),
    Symlink(String),
    /// A hard link to another path of the image.
    Link(String),
    /// Deletes the path below (a `.wh.` whiteout).
    Whiteout,
    /// Hides everything under this directory from the layers below (`.wh..wh..opq`).
    Opaque,
}

/// The files of one layer, by normalised path (no leading `/`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct LayerFiles {
    nodes: BTreeMap<String, Node>,
}

/// Whether a path is one where shared libraries are looked for, so worth parsing.
fn in_library_dir(path: &str) -> bool {
    ["lib/", "lib64/", "lib32/", "usr/lib/", "usr/lib64/", "usr/lib32/", "usr/local/lib/"]
        .iter()
        .any(|d| path.starts_with(d))
}

fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl LayerFiles {
    /// Reads a layer's tar once: headers, and the shared libraries' ELF facts.
    fn read(tar: impl Read) -> io::Result<LayerFiles> {
        let mut files = LayerFiles::default();
        let mut archive = tar::Archive::new(tar);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = entry.path()?.to_string_lossy().to_string();
            let path = normalise(&raw);
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if name == ".wh..wh..opq" {
                files.nodes.insert(dir.to_string(), Node::Opaque);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let target = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
                files.nodes.insert(target, Node::Whiteout);
                continue;
            }
            let link = || entry.link_name().ok().flatten().map(|l| l.to_string_lossy().to_string()).unwrap_or_default();
            let node = match entry.header().entry_type() {
                tar::EntryType::Directory => Node::Dir,
                tar::EntryType::Symlink => Node::Symlink(link()),
                tar::EntryType::Link => Node::Link(normalise(&link())),
                tar::EntryType::Regular | tar::EntryType::Continuous
                    if ACCOUNT_FILES.contains(&path.as_str()) && entry.size() <= MAX_ACCOUNTS =>
                {
                    let mut bytes = Vec::new();
                    (&mut entry).take(MAX_ACCOUNTS).read_to_end(&mut bytes)?;
                    Node::Text(String::from_utf8_lossy(&bytes).into_owned())
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = entry.size();
                    let facts = if in_library_dir(&path) && name.contains(".so") && size <= MAX_LIBRARY {
                        let mut bytes = Vec::with_capacity(size as usize);
                        (&mut entry).take(size).read_to_end(&mut bytes)?;
                        ElfFacts::parse(&bytes)
                    } else {
                        None
                    };
                    Node::File(facts)
                }
                _ => Node::File(None),
            };
            files.nodes.insert(path, node);
        }
        Ok(files)
    }
}

/// The base's filesystem: every layer applied in order.
#[derive(Debug, Default)]
pub(crate) struct BaseFiles {
    nodes: BTreeMap<String, Node>,
}

impl BaseFiles {
    fn apply(&mut self, layer: LayerFiles) {
        for (path, node) in layer.nodes {
            match node {
                Node::Whiteout => {
                    let prefix = format!("{path}/");
                    self.nodes.retain(|p, _| p != &path && !p.starts_with(&prefix));
                }
                Node::Opaque => {
                    let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
                    self.nodes.retain(|p, _| !p.starts_with(&prefix) || p == &path);
                    self.nodes.insert(path, Node::Dir);
                }
                node => {
                    self.nodes.insert(path, node);
                }
            }
        }
    }

    /// The path a name leads to once every symlink on the way is followed (absolute ones
    /// from the image's root), when it exists; at most 40 links, as the kernel allows.
    fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> =
            normalise(path).split('/').filter(|p| !p.is_empty()).map(str::to_string).rev().collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                done.pop();
                continue;
            }
            done.push(part);
            let here = done.join("/");
            match self.nodes.get(&here) {
                Some(Node::Symlink(target)) => {
                    hops += 1;
                    if hops > 40 {
                        return None;
                    }
                    done.pop();
                    if target.starts_with('/') {
                        done.clear();
                    }
                    pending.extend(target.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).rev());
                }
                Some(Node::Link(target)) if pending.is_empty() => return self.resolve(target).filter(|_| hops < 40),
                Some(_) => {}
                // A directory need not have its own entry when files under it exist.
                None if pending.is_empty() => return None,
                None => {}
            }
        }
        Some(done.join("/"))
    }

    /// The regular file at `path`, links followed.
    fn file(&self, path: &str) -> Option<(String, Option<&ElfFacts>)> {
        let real = self.resolve(path)?;
        match self.nodes.get(&real)? {
            Node::File(facts) => Some((real, facts.as_ref())),
            Node::Text(_) => Some((real, None)),
            _ => None,
        }
    }

    /// The users and groups of the image: its /etc/passwd and /etc/group as the layers
    /// leave them (links followed); none when a file is missing.
    pub(crate) fn accounts(&self) -> Accounts {
        let text = |path: &str| match self.resolve(path).and_then(|real| self.nodes.get(&real)) {
            Some(Node::Text(t)) => t.as_str(),
            _ => "",
        };
        Accounts::parse(text("etc/passwd"), text("etc/group"))
    }

    /// Whether the image has a regular file at `path`.
    pub(crate) fn has_file(&self, path: &str) -> bool {
        self.file(path).is_some()
    }
}

/// The users and groups of an image, from its /etc/passwd and /etc/group.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Accounts {
    /// uid and primary gid by user name; the first line of a name wins, as in getpwnam.
    users: BTreeMap<String, (u64, u64)>,
    /// gid by group name; the first line wins.
    groups: BTreeMap<String, u64>,
}

impl Accounts {
    /// Reads `name:password:uid:gid:...` and `name:password:gid:members` lines; blank,
    /// comment, NIS (`+`/`-`) and malformed lines are skipped.
    pub(crate) fn parse(passwd: &str, group: &str) -> Accounts {
        let mut accounts = Accounts::default();
        let fields = |line: &str| -> Option<Vec<String>> {
            let line = line.trim_end_matches('\r');
            let skip = line.trim().is_empty() || line.starts_with(['#', '+', '-']);
            (!skip).then(|| line.split(':').map(str::to_string).collect())
        };
        let id = |s: &str| s.parse::<u32>().ok().map(u64::from);
        for f in passwd.lines().filter_map(fields) {
            if let (Some(name), Some(uid), Some(gid)) =
                (f.first(), f.get(2).and_then(|u| id(u)), f.get(3).and_then(|g| id(g)))
            {
                if !name.is_empty() {
                    accounts.users.entry(name.clone()).or_insert((uid, gid));
                }
            }
        }
        for f in group.lines().filter_map(fields) {
            if let (Some(name), Some(gid)) = (f.first(), f.get(2).and_then(|g| id(g))) {
                if !name.is_empty() {
                    accounts.groups.entry(name.clone()).or_insert(gid);
                }
            }
        }
        accounts
    }

    /// The uid and gid a process started as `USER[:GROUP]` gets, as runc finds them: a
    /// name is looked up in /etc/passwd (its primary group unless a group is given), a
    /// number is taken as is (with its /etc/passwd entry's group when it has one, else 0);
    /// a group name is looked up in /etc/group. A name that is not there is an error
    /// naming what is.
    pub(crate) fn ids(&self, user: &str) -> Result<(u64, u64), String> {
        let number =
            |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u32>().ok().map(u64::from)).flatten();
        let (u, g) = user.split_once(':').unwrap_or((user, ""));
        let (uid, primary) = match number(u) {
            Some(uid) => (uid, self.users.values().find(|(id, _)| *id == uid).map_or(0, |(_, gid)| *gid)),
            None => *self.users.get(u).ok_or_else(|| {
                format!("{u:?} is not a user of the base image: its /etc/passwd has {}", listed(self.users.keys()))
            })?,
        };
        let gid = match (g, number(g)) {
            ("", _) => primary,
            (_, Some(gid)) => gid,
            (name, None) => *self.groups.get(name).ok_or_else(|| {
                format!("{name:?} is not a group of the base image: its /etc/group has {}", listed(self.groups.keys()))
            })?,
        };
        Ok((uid, gid))
    }
}

/// Names for a message: at most 12, then how many more.
fn listed<'a>(names: impl ExactSizeIterator<Item = &'a String>) -> String {
    let total = names.len();
    if total == 0 {
        return "no entries (or there is no such file)".into();
    }
    let shown: Vec<&str> = names.take(12).map(String::as_str).collect();
    match total - shown.len() {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// The multiarch directory name of a platform's architecture (Debian's layout).
fn multiarch(architecture: &str) -> &'static str {
    match architecture {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "386" => "i386-linux-gnu",
        "ppc64le" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        _ => "",
    }
}

/// Whether the check can read a layer of this kind.
fn readable(blob: &crate::image::blob::Blob) -> bool {
    matches!(blob.media_type.as_str(), MEDIA_TYPE_GZIP | MEDIA_TYPE_DOCKER_GZIP | MEDIA_TYPE_TAR)
}

/// Reads (or recalls) the base's files; `None` when a layer is of a kind the check cannot
/// read (zstd). Its layers must be in the store.
pub(crate) fn base_files(parent: &Parent, store: &Store) -> Result<Option<BaseFiles>, Error> {
    let mut files = BaseFiles::default();
    for blob in parent.blobs() {
        if !readable(blob) {
            return Ok(None);
        }
        let memo = store.root().join(MEMO_DIR).join(format!("{}.json", blob.digest.hex()));
        let known = crate::fsutil::read_regular(&memo, 64 << 20).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let layer_files = match known {
            Some(f) => f,
            None => {
                let f = read_layer(blob).map_err(|e| Error::Layers(format!("layer {}: {e}", blob.digest)))?;
                if let Ok(bytes) = serde_json::to_vec(&f) {
                    let _ = std::fs::create_dir_all(memo.parent().expect("has a parent"));
                    let _ = crate::fsutil::write_file_atomic(&memo, |w| w.write_all(&bytes));
                }
                f
            }
        };
        files.apply(layer_files);
    }
    Ok(Some(files))
}

fn read_layer(blob: &crate::image::blob::Blob) -> io::Result<LayerFiles> {
    let reader = io::BufReader::with_capacity(1 << 20, blob.open()?);
    match blob.media_type.as_str() {
        MEDIA_TYPE_GZIP | MEDIA_TYPE_DOCKER_GZIP => {
            LayerFiles::read(crate::store::verify::Capped::new(flate2::read::MultiGzDecoder::new(reader)))
        }
        MEDIA_TYPE_TAR => LayerFiles::read(reader),
        other => Err(io::Error::other(format!("layers of type {other} cannot be read for the check"))),
    }
}

/// Checks that `binary` (with `facts`) can start on the base whose files are `files`.
pub(crate) fn check(binary: &Path, facts: &ElfFacts, parent: &Parent, files: &BaseFiles) -> Result<(), Error> {
    let mut problems = Vec::new();
    let mut fixes = BTreeSet::new();
    if let Some(interp) = &facts.interpreter {
        if !files.has_file(interp) {
            problems.push(format!("its interpreter {interp} is not in the base"));
            fixes.insert("a base with glibc (such as gcr.io/distroless/cc-debian12)".to_string());
        }
    }
    let ma = multiarch(&parent.platform.architecture);
    let dirs: Vec<String> = [
        format!("lib/{ma}"),
        format!("usr/lib/{ma}"),
        "lib64".into(),
        "usr/lib64".into(),
        "lib".into(),
        "usr/lib".into(),
        "usr/local/lib".into(),
    ]
    .into_iter()
    .filter(|d| !d.ends_with('/'))
    .collect();
    let find = |name: &str| -> Option<(String, Option<&ElfFacts>)> {
        if name.contains('/') {
            return files.file(name);
        }
        dirs.iter().find_map(|d| files.file(&format!("{d}/{name}")))
    };
    // Every library, and the ones they need, once.
    let mut found: BTreeMap<String, Option<&ElfFacts>> = BTreeMap::new();
    let mut queue: Vec<String> = facts.needed.clone();
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        match find(&name) {
            Some((_, lib)) => {
                if let Some(lib) = lib {
                    queue.extend(lib.needed.iter().cloned());
                }
                found.insert(name, lib);
            }
            None => {
                problems.push(format!("it needs {name}, which the base does not have"));
                fixes.insert(library_fix(&name));
            }
        }
    }
    for (file, versions) in &facts.versions_needed {
        let Some(Some(lib)) = found.get(file) else { continue };
        let missing: Vec<&String> = versions.iter().filter(|v| !lib.versions_defined.contains(*v)).collect();
        if missing.is_empty() {
            continue;
        }
        let newest = newest_glibc(&lib.versions_defined);
        let has = match (&lib.glibc_release, &newest) {
            (Some(release), Some(v)) => {
                format!(" (the base's {file} is glibc {release}, whose newest symbol version is {v})")
            }
            (None, Some(v)) => format!(" (the base's {file} provides up to {v})"),
            _ => String::new(),
        };
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        problems.push(format!("it needs symbol version {} from {file}{has}", names.join(", ")));
        if names.iter().any(|n| n.starts_with("GLIBC_")) {
            let wanted = newest_glibc(&missing.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
            fixes.insert(format!("a base with a newer glibc ({wanted} or later, e.g. Debian 12's 2.36)"));
            fixes.insert("build against an older glibc (cargo zigbuild --target x86_64-unknown-linux-gnu.2.31)".into());
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    fixes.insert(
        "the static musl target (--target x86_64-unknown-linux-musl), which needs nothing from the base".into(),
    );
    Err(Error::Misfit {
        binary: binary.into(),
        base: parent.name.clone(),
        problems,
        fixes: fixes.into_iter().collect(),
    })
}

/// What to do about a missing library.
fn library_fix(name: &str) -> String {
    match name {
        n if n.starts_with("libgcc_s.so") => {
            "a base that has libgcc_s.so.1 (Debian's libgcc-s1, as in gcr.io/distroless/cc-debian12)".into()
        }
        n if n.starts_with("libssl.so") || n.starts_with("libcrypto.so") => {
            "a base with OpenSSL (Debian's libssl3), or the rustls features of your TLS crates".into()
        }
        n if n.starts_with("libc.so") || n.starts_with("libm.so") || n.starts_with("ld-linux") => {
            "a base with glibc (Debian's libc6, as in gcr.io/distroless/base-debian12)".into()
        }
        n => format!("a base that has {n}"),
    }
}

/// The newest `GLIBC_x.y[.z]` among `versions`.
fn newest_glibc(versions: &BTreeSet<String>) -> Option<String> {
    let key = |v: &str| -> Option<Vec<u32>> { v.strip_prefix("GLIBC_")?.split('.').map(|p| p.parse().ok()).collect() };
    versions.iter().filter_map(|v| key(v).map(|k| (k, v.clone()))).max().map(|(_, v)| v)
}

/// The binary's fit on each kind of base: static on scratch; on a base, the check above,
/// after fetching the layers into the store (only for a dynamic binary).
pub(crate) fn check_binary(
    binary: &Path,
    parent: Option<&Parent>,
    opts: &crate::registry::PushOptions,
) -> Result<(), Error> {
    let Some(parent) = parent else {
        return crate::elf::check_static(binary).map_err(Into::into);
    };
    let facts = binary_facts(binary)?;
    if facts.is_static() {
        return Ok(());
    }
    match files_of(parent, opts)? {
        Some(files) => check(binary, &facts, parent, &files),
        None => {
            crate::shell::note(format_args!(
                "the layers of {} are not gzip or plain tar, so whether {} finds its libraries there is not checked",
                parent.name,
                binary.display()
            ));
            Ok(())
        }
    }
}

/// The base's files, its layers fetched first when the store lacks them; `None` when they
/// cannot be read (see [`base_files`]).
pub(crate) fn files_of(parent: &Parent, opts: &crate::registry::PushOptions) -> Result<Option<BaseFiles>, Error> {
    if !parent.blobs().all(readable) {
        return Ok(None);
    }
    let store = Store::user();
    let known = parent.blobs().all(|b| store.root().join(MEMO_DIR).join(format!("{}.json", b.digest.hex())).is_file());
    if !known {
        let blobs: Vec<&crate::image::blob::Blob> = parent.blobs().collect();
        super::fetch::missing(&blobs, opts)?;
    }
    base_files(parent, &store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Node)]) -> LayerFiles {
        LayerFiles { nodes: entries.iter().map(|(p, n)| (p.to_string(), n.clone())).collect() }
    }

    #[test]
    fn symlinks_resolve_through_directories_and_absolute_targets() {
        let mut fs = BaseFiles::default();
        fs.apply(layer(&[
            ("usr/lib/x86_64-linux-gnu/libc.so.6", Node::File(None)),
            ("lib", Node::Symlink("usr/lib".into())),
            ("lib64/ld-linux-x86-64.so.2", Node::Symlink("/lib/x86_64-linux-gnu/ld.so".into())),
            ("usr/lib/x86_64-linux-gnu/ld.so", Node::File(None)),
            ("loop", Node::Symlink("loop".into())),
        ]));
        assert!(fs.has_file("lib/x86_64-linux-gnu/libc.so.6"));
        assert!(fs.has_file("/lib64/ld-linux-x86-64.so.2"));
        assert!(!fs.has_file("loop"));
        assert!(!fs.has_file("lib/x86_64-linux-gnu/libm.so.6"));
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_layers() {
        let mut fs = BaseFiles::default();
        fs.apply(layer(&[("etc/a", Node::File(None)), ("etc/b", Node::File(None)), ("opt/x/y", Node::File(None))]));
        fs.apply(layer(&[("etc/a", Node::Whiteout), ("opt/x", Node::Opaque)]));
        assert!(!fs.has_file("etc/a"));
        assert!(fs.has_file("etc/b"));
        assert!(!fs.has_file("opt/x/y"));
    }

    #[test]
    fn passwd_and_group_give_ids_as_runc_finds_them() {
        let passwd = "# comment\nroot:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
                      +nis\nbroken:x:notanumber:1\nshort:x\nwww-data:x:99:99:second line loses::\r\napp:x:1001:1002::/:\r\n";
        let group = "root:x:0:\nwww-data:x:33:\nstaff:x:50:alice,bob\nbad:x:\n";
        let a = Accounts::parse(passwd, group);
        assert_eq!(a.ids("www-data"), Ok((33, 33)));
        assert_eq!(a.ids("www-data:staff"), Ok((33, 50)));
        assert_eq!(a.ids("app"), Ok((1001, 1002)), "a CRLF line reads");
        assert_eq!(a.ids("33"), Ok((33, 33)), "a known uid takes its primary group");
        assert_eq!(a.ids("4242"), Ok((4242, 0)), "an unknown uid runs with group 0");
        assert_eq!(a.ids("4242:7"), Ok((4242, 7)));
        assert_eq!(a.ids("root:www-data"), Ok((0, 33)));
        let err = a.ids("nobody").unwrap_err();
        assert!(err.contains("\"nobody\" is not a user") && err.contains("root, www-data"), "{err}");
        assert!(!err.contains("broken") && !err.contains("short") && !err.contains("nis"), "{err}");
        let err = a.ids("www-data:wheel").unwrap_err();
        assert!(err.contains("\"wheel\" is not a group") && err.contains("root, staff, www-data"), "{err}");
        assert!(Accounts::parse("", "").ids("root").unwrap_err().contains("no entries"));
        let many: String = (0..40).map(|i| format!("u{i:02}:x:{i}:{i}::/:\n")).collect();
        let err = Accounts::parse(&many, "").ids("x").unwrap_err();
        assert!(err.contains("u11 and 28 more") && !err.contains("u12"), "{err}");
    }

    #[test]
    fn accounts_come_from_the_top_layer_that_has_them() {
        let text = |t: &str| Node::Text(t.to_string());
        let mut fs = BaseFiles::default();
        fs.apply(layer(&[("etc/passwd", text("root:x:0:0::/:\n")), ("etc/group", text("root:x:0:\n"))]));
        assert!(fs.accounts().ids("www-data").is_err());
        fs.apply(layer(&[("etc/passwd", text("root:x:0:0::/:\nwww-data:x:33:33::/:\n"))]));
        assert_eq!(fs.accounts().ids("www-data"), Ok((33, 33)));
        assert!(fs.has_file("etc/passwd"));
        fs.apply(layer(&[("etc/passwd", Node::Whiteout)]));
        assert!(fs.accounts().ids("www-data").is_err());
        fs.apply(layer(&[
            ("etc/passwd", Node::Symlink("../usr/share/passwd".into())),
            ("usr/share/passwd", text("me:x:7:8::/:\n")),
        ]));
        assert_eq!(fs.accounts().ids("me"), Ok((7, 8)));
    }

    #[test]
    fn a_layer_pass_keeps_the_account_files_as_text() {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, body) in [
            ("./etc/passwd", &b"www-data:x:33:33::/:\n"[..]),
            ("etc/group", b"www-data:x:33:\n"),
            ("etc/shadow", b"secret"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, path, body).unwrap();
        }
        let files = LayerFiles::read(&tar.into_inner().unwrap()[..]).unwrap();
        assert_eq!(files.nodes["etc/passwd"], Node::Text("www-data:x:33:33::/:\n".into()));
        assert_eq!(files.nodes["etc/shadow"], Node::File(None), "no other file's bytes are kept");
        let mut fs = BaseFiles::default();
        fs.apply(files);
        assert_eq!(fs.accounts().ids("www-data"), Ok((33, 33)));
    }

    #[test]
    fn a_layer_past_the_cap_fails_saying_so() {
        let mut capped = crate::store::verify::Capped::with_limit(io::repeat(0), 10);
        let mut buf = [0; 64];
        assert_eq!(capped.read(&mut buf).unwrap(), 10);
        assert!(capped.read(&mut buf).unwrap_err().to_string().contains("expands to more than"));
    }

    #[test]
    fn the_newest_glibc_version_is_numeric() {
        let v: BTreeSet<String> =
            ["GLIBC_2.2.5", "GLIBC_2.31", "GLIBC_2.4", "GLIBC_PRIVATE"].iter().map(|s| s.to_string()).collect();
        assert_eq!(newest_glibc(&v).as_deref(), Some("GLIBC_2.31"));
    }

    #[test]
    fn host_binaries_yield_their_needs_and_libc_its_versions() {
        let ls = binary_facts(Path::new("/bin/ls")).unwrap();
        assert!(ls.needed.contains(&"libc.so.6".to_string()));
        assert!(ls.versions_needed["libc.so.6"].iter().any(|v| v.starts_with("GLIBC_2.")));
        let libc = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        let facts = ElfFacts::parse(&libc).unwrap();
        assert!(facts.versions_defined.contains("GLIBC_2.34"));
        assert_eq!(facts.glibc_release.as_deref(), Some("2.36"));
    }
}
