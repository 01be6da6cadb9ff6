//! Dependencies visible inside the binary, as `cargo auditable` embeds them, so that syft,
//! Trivy, Grype and `cargo audit bin` find them in the image with nothing to install: a
//! `.dep-v0` section holding zlib-compressed JSON in the format of rust-secure-code's
//! `auditable-serde` (`{"packages":[{"name","version","source","dependencies","root"}]}`).
//!
//! As `cargo auditable` does, this tool makes cargo run it as its workspace rustc wrapper
//! (`RUSTC_WORKSPACE_WRAPPER`): when rustc is about to link the binary, the wrapper asks
//! `cargo metadata` for the dependencies reachable at run time from the binary's package
//! (for its target and features; build dependencies and proc-macros are not in the
//! binary), writes them into a small object file, and adds it to the link. Every other
//! rustc call passes through untouched, and a failure only leaves the section out.

use cargo_metadata::{CargoOpt, DependencyKind, MetadataCommand};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable that tells this program it runs as cargo's rustc wrapper, with what it
/// needs to know.
pub(crate) const ENV: &str = "CARGO_CONTAINERIZE_AUDITABLE";

/// The symbol the section is reached by, so that the linker keeps it.
const SYMBOL: &str = "AUDITABLE_VERSION_INFO";

/// What the wrapper is told, as JSON in [`ENV`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Request {
    /// The binary targets to embed the list into: one per image a build makes.
    pub(crate) bins: Vec<String>,
    /// The packages the build selects, and its feature flags: what it resolves, so the
    /// list is what this build links (see [`crate::resolved`]).
    pub(crate) packages: Vec<String>,
    pub(crate) features: Vec<String>,
    pub(crate) all_features: bool,
    pub(crate) no_default_features: bool,
    pub(crate) locked: bool,
    pub(crate) frozen: bool,
    pub(crate) offline: bool,
    /// cargo's `--config` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) config: Vec<String>,
}

/// The environment that makes cargo call this program as its workspace rustc wrapper, or
/// `None` when the user has a wrapper of their own (`cargo auditable`, sccache...): the
/// binary then gets theirs, and never two sections.
pub(crate) fn wrapper_env(request: &Request) -> Option<Vec<(String, String)>> {
    if std::env::var_os("RUSTC_WORKSPACE_WRAPPER").is_some_and(|w| !w.is_empty()) {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let json = serde_json::to_string(request).ok()?;
    let mut env = vec![(ENV.to_string(), json)];
    match on_path(&exe) {
        Ok(path) => {
            env.push(("RUSTC_WORKSPACE_WRAPPER".into(), WRAPPER_NAME.into()));
            env.push(("PATH".into(), path));
        }
        // Still embedded, but the binary then depends on where this tool is installed.
        Err(e) => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                crate::shell::warn(format_args!(
                    "the image's digest will depend on where this tool is installed: cannot link it into \
                     the cache as `{WRAPPER_NAME}` ({e}); set XDG_CACHE_HOME to a directory of your own that others \
                     cannot write"
                ))
            });
            env.push(("RUSTC_WORKSPACE_WRAPPER".into(), exe.to_string_lossy().into_owned()));
        }
    }
    Some(env)
}

/// The name cargo is given for the wrapper. Cargo hashes the wrapper's name, as given,
/// into every workspace member's `-C metadata`, and so into the binary: a full path would
/// make the image depend on where this tool is installed. A bare name, found on `PATH`,
/// is the same everywhere.
const WRAPPER_NAME: &str = "cargo-containerize";

/// The `PATH` that makes [`WRAPPER_NAME`] this executable: a directory of the user-level
/// cache holding only a link named so to `exe` (one directory per install path, so two
/// installs never swap each other's link), put first on the current `PATH`. The cache
/// root must be this user's and not world-writable, and the link's directories private
/// (0700): nobody else may put a program where the build looks first.
fn on_path(exe: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::DirBuilderExt;
    if !exe.is_file() {
        return Err(std::io::Error::other(format!("{} is gone (replaced while running?)", exe.display())));
    }
    let key = crate::digest::Digest::of(exe.as_os_str().as_encoded_bytes());
    let root = crate::store::Store::user().root().to_path_buf();
    let dir = root.join("wrapper").join(&key.hex()[..16]);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    owned(&root, 0o002)?;
    owned(&root.join("wrapper"), 0o077)?;
    owned(&dir, 0o077)?;
    let link = dir.join(WRAPPER_NAME);
    if std::fs::read_link(&link).ok().as_deref() != Some(exe) {
        // Made aside and renamed over, so a concurrent run never sees the link missing.
        let aside = dir.join(format!(".{WRAPPER_NAME}.{}", std::process::id()));
        let _ = std::fs::remove_file(&aside);
        std::os::unix::fs::symlink(exe, &aside)?;
        std::fs::rename(&aside, &link)?;
    }
    let dir = dir.into_os_string().into_string().map_err(|_| std::io::Error::other("the cache path is not UTF-8"))?;
    if dir.contains(':') {
        return Err(std::io::Error::other("the cache path holds a `:`"));
    }
    match std::env::var("PATH") {
        Ok(path) if !path.is_empty() => Ok(format!("{dir}:{path}")),
        // What execvp searches when PATH is unset.
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(format!("{dir}:/usr/local/bin:/usr/bin:/bin")),
        Err(std::env::VarError::NotUnicode(_)) => Err(std::io::Error::other("PATH is not UTF-8")),
    }
}

/// Fails unless `dir` is a real directory of this user's with none of the `forbidden`
/// mode bits.
fn owned(dir: &Path, forbidden: u32) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & forbidden != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a directory of this user's that others cannot write",
            dir.display()
        )));
    }
    Ok(())
}

/// When cargo runs this program as its rustc wrapper (`cargo-containerize RUSTC ARGS...`
/// with [`ENV`] set), runs rustc, with the section added to the binary's link, and
/// returns its exit code; `None` otherwise.
pub fn wrapper_main() -> Option<i32> {
    let request: Request = serde_json::from_str(&std::env::var(ENV).ok()?).ok()?;
    let mut argv = std::env::args_os().skip(1);
    let rustc = argv.next()?;
    if rustc == "containerize" || rustc.to_string_lossy().starts_with('-') {
        return None;
    }
    let args: Vec<OsString> = argv.collect();
    let mut cmd = std::process::Command::new(&rustc);
    cmd.args(&args).env_remove(ENV);
    let parsed = RustcArgs::parse(&args);
    let ours = std::env::var_os("CARGO_PRIMARY_PACKAGE").is_some()
        && parsed.crate_types.iter().any(|t| t == "bin")
        && parsed.crate_name.as_ref().is_some_and(|name| request.bins.iter().any(|b| &b.replace('-', "_") == name));
    if ours {
        match link_args(&parsed, &request) {
            Ok(extra) => {
                cmd.args(extra);
            }
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: cargo-containerize: the dependency list (.dep-v0) is not embedded in {}: {e}",
                    parsed.crate_name.as_deref().unwrap_or_default()
                );
            }
        }
    }
    match cmd.status() {
        Ok(status) => Some(status.code().unwrap_or(1)),
        Err(e) => {
            let _ =
                writeln!(std::io::stderr(), "error: cargo-containerize: cannot run {}: {e}", rustc.to_string_lossy());
            Some(1)
        }
    }
}

/// The rustc arguments the wrapper looks at.
#[derive(Debug, Default, PartialEq)]
struct RustcArgs {
    crate_name: Option<String>,
    crate_types: Vec<String>,
    target: Option<String>,
    out_dir: Option<PathBuf>,
    features: Vec<String>,
    linker: Option<String>,
}

impl RustcArgs {
    fn parse(args: &[OsString]) -> RustcArgs {
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let mut out = RustcArgs::default();
        let mut i = 0;
        while i < args.len() {
            let (flag, value) = match args[i].split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (args[i].clone(), None),
            };
            // The value: after `=`, or the next argument.
            let mut next = || match &value {
                Some(v) => Some(v.clone()),
                None => {
                    i += 1;
                    args.get(i).cloned()
                }
            };
            match flag.as_str() {
                "--crate-name" => out.crate_name = next(),
                "--crate-type" => out
                    .crate_types
                    .extend(next().into_iter().flat_map(|t| t.split(',').map(str::to_string).collect::<Vec<_>>())),
                "--target" => out.target = next(),
                "--out-dir" => out.out_dir = next().map(PathBuf::from),
                "--cfg" => {
                    if let Some(f) =
                        next().and_then(|c| c.strip_prefix("feature=").map(|f| f.trim_matches('"').to_string()))
                    {
                        out.features.push(f);
                    }
                }
                "-C" => {
                    if let Some(l) = next().and_then(|c| c.strip_prefix("linker=").map(str::to_string)) {
                        out.linker = Some(l);
                    }
                }
                f if f.starts_with("-Clinker=") => out.linker = Some(f["-Clinker=".len()..].to_string()),
                _ => {}
            }
            i += 1;
        }
        out
    }

    /// A linker called directly (`rust-lld`, `ld.lld`), not through a C compiler driver.
    fn bare_linker(&self) -> bool {
        self.linker.as_deref().is_some_and(|l| {
            let name = Path::new(l).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.contains("lld") || name == "ld" || name.ends_with("-ld")
        })
    }
}

/// Writes the object file holding the section next to rustc's outputs, and returns the
/// arguments that link it and keep it.
fn link_args(args: &RustcArgs, request: &Request) -> Result<Vec<String>, String> {
    let target = args.target.clone().ok_or("rustc was given no --target")?;
    let out_dir = args.out_dir.clone().ok_or("rustc was given no --out-dir")?;
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").ok_or("cargo set no CARGO_MANIFEST_DIR")?;
    let info = version_info_cached(Path::new(&manifest_dir), &target, request, &out_dir)?;
    let json = serde_json::to_vec(&info).map_err(|e| e.to_string())?;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(7));
    z.write_all(&json).map_err(|e| e.to_string())?;
    let compressed = z.finish().map_err(|e| e.to_string())?;
    let object = object_file(&target, &compressed).ok_or_else(|| format!("the target {target} is not supported"))?;
    let path = out_dir.join(format!("{}_dep_v0.o", args.crate_name.as_deref().unwrap_or("bin")));
    std::fs::write(&path, object).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let mut extra = vec![format!("-Clink-arg={}", path.display())];
    if args.bare_linker() {
        extra.extend(["-Clink-arg=-u".to_string(), format!("-Clink-arg={SYMBOL}")]);
    } else {
        extra.push(format!("-Clink-arg=-Wl,-u,{SYMBOL}"));
    }
    Ok(extra)
}

/// One package of the list, as `auditable-serde` writes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) dependencies: Vec<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) root: bool,
}

/// The whole list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct VersionInfo {
    pub(crate) packages: Vec<Package>,
}

/// The format's name for the default registry: its host name.
fn default_registry_name() -> String {
    ["crates", "io"].join(".")
}

/// The packages reachable at run time from the package in `manifest_dir`, for `target`,
/// in the build `request` describes: normal dependencies, not through build dependencies or
/// proc-macros. `cargo metadata` (every feature on, so that it holds whatever the build
/// resolved) tells each package's source; `cargo tree` of the build tells which edges it
/// made.
/// [`version_info`], remembered in the target directory (`containerize/auditable`, beside
/// `deps/`'s `TARGET/PROFILE/deps` three levels up, when cargo's `CACHEDIR.TAG` is there):
/// the list depends on the manifests and `Cargo.lock`, not on the sources, so a link after
/// an edit of the sources asks cargo nothing. An entry keeps the digest of each file it was
/// made from (`Cargo.lock`, every local package's manifest), and is used only while they
/// all match.
fn version_info_cached(
    manifest_dir: &Path,
    target: &str,
    request: &Request,
    out_dir: &Path,
) -> Result<VersionInfo, String> {
    let dir = out_dir
        .ancestors()
        .nth(3)
        .filter(|t| t.join("CACHEDIR.TAG").is_file())
        .map(|t| t.join("containerize/auditable"));
    let Some(dir) = dir else { return version_info(manifest_dir, target, request).map(|(info, _)| info) };
    let key = serde_json::json!({"manifest_dir": manifest_dir, "target": target, "request": request});
    let path = dir.join(format!("{}.json", crate::digest::Digest::of(key.to_string().as_bytes()).hex()));
    let unchanged = |files: &BTreeMap<PathBuf, String>| {
        files.iter().all(|(f, d)| std::fs::read(f).is_ok_and(|b| crate::digest::Digest::of(&b).as_str() == d))
    };
    if let Some(entry) =
        crate::fsutil::read_regular(&path, 16 << 20).ok().and_then(|b| serde_json::from_slice::<Remembered>(&b).ok())
    {
        if unchanged(&entry.files) {
            return Ok(entry.info);
        }
    }
    let (info, inputs) = version_info(manifest_dir, target, request)?;
    let files = inputs
        .into_iter()
        .filter_map(|f| std::fs::read(&f).ok().map(|b| (f, crate::digest::Digest::of(&b).to_string())))
        .collect();
    let entry = Remembered { files, info: info.clone() };
    // A cache entry that cannot be written is only a miss next time.
    let _ =
        crate::fsutil::write_file_atomic(&path, |w| serde_json::to_writer(w, &entry).map_err(std::io::Error::other));
    Ok(info)
}

/// A remembered list, with the digest of each file it was made from.
#[derive(Serialize, Deserialize)]
struct Remembered {
    files: BTreeMap<PathBuf, String>,
    info: VersionInfo,
}

/// The list, and the files it was made from: `Cargo.lock` and every local package's
/// manifest.
fn version_info(manifest_dir: &Path, target: &str, request: &Request) -> Result<(VersionInfo, Vec<PathBuf>), String> {
    // The edges this build made: `cargo metadata` resolves the whole workspace, with
    // dev-dependencies, so its graph can hold edges of features this build did not enable.
    // Asked while `cargo metadata` runs: the link waits for both.
    let packages = match request.packages.is_empty() {
        true => std::env::var("CARGO_PKG_NAME").map(|p| vec![p]).map_err(|_| "cargo set no CARGO_PKG_NAME")?,
        false => request.packages.clone(),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let query = crate::resolved::Query {
        cargo: &cargo,
        dir: Some(manifest_dir),
        manifest_path: None,
        packages: &packages,
        target,
        features: &request.features,
        all_features: request.all_features,
        no_default_features: request.no_default_features,
        locked: request.locked,
        frozen: request.frozen,
        offline: request.offline,
        config: &request.config,
        env: &[],
        within: None,
    };
    let (built, metadata) = std::thread::scope(|scope| {
        let built = scope.spawn(|| crate::resolved::Graph::of(&query));
        let mut cmd = MetadataCommand::new();
        cmd.cargo_path(&cargo);
        cmd.current_dir(manifest_dir);
        cmd.features(CargoOpt::AllFeatures);
        let mut other = vec!["--filter-platform".to_string(), target.to_string()];
        for (on, flag) in [(request.locked, "--locked"), (request.frozen, "--frozen"), (request.offline, "--offline")] {
            if on {
                other.push(flag.into());
            }
        }
        for value in &request.config {
            other.extend(["--config".to_string(), value.clone()]);
        }
        cmd.other_options(other);
        let metadata = cmd.exec();
        (built.join().unwrap_or_else(|_| Err("cargo tree: the thread panicked".into())), metadata)
    });
    let metadata =
        metadata.map_err(|e| format!("cargo metadata: {}", e.to_string().lines().next().unwrap_or_default()))?;
    let built = built?;
    let manifest = manifest_dir.join("Cargo.toml");
    let root = metadata
        .packages
        .iter()
        .find(|p| p.manifest_path.as_std_path() == manifest)
        .ok_or("cargo metadata does not list the package")?;
    let resolve = metadata.resolve.as_ref().ok_or("cargo metadata gave no dependency graph")?;
    let nodes: BTreeMap<&str, &cargo_metadata::Node> = resolve.nodes.iter().map(|n| (n.id.repr.as_str(), n)).collect();
    let by_id: BTreeMap<&str, &cargo_metadata::Package> =
        metadata.packages.iter().map(|p| (p.id.repr.as_str(), p)).collect();
    let proc_macro = |id: &str| by_id.get(id).is_some_and(|p| p.targets.iter().any(|t| t.is_proc_macro()));
    let key = |id: &str| by_id.get(id).map(|p| (p.name.to_string(), p.version.to_string()));
    let made = |from: &str, to: &str| key(from).zip(key(to)).is_some_and(|(from, to)| built.has_edge(&from, &to));
    let mut reached: BTreeSet<&str> = BTreeSet::from([root.id.repr.as_str()]);
    let mut queue = vec![root.id.repr.as_str()];
    while let Some(id) = queue.pop() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            let runtime = dep.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal);
            let child = dep.pkg.repr.as_str();
            if runtime && !proc_macro(child) && made(id, child) && reached.insert(child) {
                queue.push(child);
            }
        }
    }
    let mut ids: Vec<&str> = reached.into_iter().collect();
    ids.sort_by_key(|id| (by_id[id].name.to_string(), by_id[id].version.to_string(), id.to_string()));
    let index: BTreeMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let packages = ids
        .iter()
        .map(|id| {
            let p = by_id[id];
            let source = match &p.source {
                None => "local".to_string(),
                Some(s) if s.is_crates_io() => default_registry_name(),
                Some(s) => s.repr.split('+').next().unwrap_or("other").to_string(),
            };
            let mut dependencies: Vec<usize> = nodes
                .get(id)
                .map(|n| {
                    n.deps
                        .iter()
                        .filter(|d| made(id, d.pkg.repr.as_str()))
                        .filter_map(|d| index.get(d.pkg.repr.as_str()).copied())
                        .collect()
                })
                .unwrap_or_default();
            dependencies.sort_unstable();
            dependencies.dedup();
            Package {
                name: p.name.to_string(),
                version: p.version.to_string(),
                source,
                dependencies,
                root: *id == root.id.repr.as_str(),
            }
        })
        .collect();
    let mut inputs: Vec<PathBuf> = metadata
        .packages
        .iter()
        .filter(|p| p.source.is_none())
        .map(|p| p.manifest_path.as_std_path().to_path_buf())
        .collect();
    inputs.push(metadata.workspace_root.as_std_path().join("Cargo.lock"));
    Ok((VersionInfo { packages }, inputs))
}

/// An ELF relocatable object holding `contents` in a `.dep-v0` section, with a symbol on
/// it, for the target's architecture; `None` for architectures this does not know.
fn object_file(target: &str, contents: &[u8]) -> Option<Vec<u8>> {
    use object::write::{Object, StandardSegment, Symbol, SymbolSection};
    use object::{
        elf, Architecture, BinaryFormat, Endianness, SectionFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
    };
    let arch = target.split('-').next()?;
    let (architecture, endian, e_flags) = match arch {
        "x86_64" => (Architecture::X86_64, Endianness::Little, 0),
        "aarch64" => (Architecture::Aarch64, Endianness::Little, 0),
        "i686" | "i586" => (Architecture::I386, Endianness::Little, 0),
        "armv7" | "arm" => {
            let float = if target.ends_with("hf") { elf::EF_ARM_ABI_FLOAT_HARD } else { elf::EF_ARM_ABI_FLOAT_SOFT };
            (Architecture::Arm, Endianness::Little, elf::EF_ARM_EABI_VER5 | float)
        }
        "riscv64gc" | "riscv64" => {
            (Architecture::Riscv64, Endianness::Little, elf::EF_RISCV_RVC | elf::EF_RISCV_FLOAT_ABI_DOUBLE)
        }
        "powerpc64le" => (Architecture::PowerPc64, Endianness::Little, 2),
        "s390x" => (Architecture::S390x, Endianness::Big, 0),
        "loongarch64" => {
            (Architecture::LoongArch64, Endianness::Little, elf::EF_LARCH_OBJABI_V1 | elf::EF_LARCH_ABI_DOUBLE_FLOAT)
        }
        _ => return None,
    };
    let mut file = Object::new(BinaryFormat::Elf, architecture, endian);
    file.flags = object::FileFlags::Elf { os_abi: elf::ELFOSABI_NONE, abi_version: 0, e_flags };
    let section = file.add_section(
        file.segment_name(StandardSegment::Data).to_vec(),
        b".dep-v0".to_vec(),
        SectionKind::ReadOnlyData,
    );
    file.section_mut(section).flags = SectionFlags::Elf { sh_flags: 0 };
    let offset = file.append_section_data(section, contents, 1);
    file.add_symbol(Symbol {
        name: SYMBOL.as_bytes().to_vec(),
        value: offset,
        size: contents.len() as u64,
        kind: SymbolKind::Data,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    });
    file.write().ok()
}

/// The list a binary carries, when it has one: for tests and checks.
pub(crate) fn read(binary: &[u8]) -> Option<VersionInfo> {
    let elf = goblin::elf::Elf::parse(binary).ok()?;
    let section = elf.section_headers.iter().find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".dep-v0"))?;
    let start = usize::try_from(section.sh_offset).ok()?;
    let bytes = binary.get(start..start.checked_add(usize::try_from(section.sh_size).ok()?)?)?;
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(flate2::read::ZlibDecoder::new(bytes), 16 << 20), &mut json)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn rustc_arguments_are_read_in_both_spellings() {
        let a = RustcArgs::parse(&os(&[
            "--crate-name",
            "with_deps",
            "--edition=2021",
            "--crate-type",
            "bin",
            "--cfg",
            "feature=\"fast\"",
            "--out-dir",
            "/t/deps",
            "--target=x86_64-unknown-linux-musl",
            "-C",
            "linker=rust-lld",
        ]));
        assert_eq!(a.crate_name.as_deref(), Some("with_deps"));
        assert_eq!(a.crate_types, ["bin"]);
        assert_eq!(a.features, ["fast"]);
        assert_eq!(a.target.as_deref(), Some("x86_64-unknown-linux-musl"));
        assert_eq!(a.out_dir, Some(PathBuf::from("/t/deps")));
        assert!(a.bare_linker());
        assert!(!RustcArgs::parse(&os(&["-Clinker=/usr/bin/cc"])).bare_linker());
    }

    #[test]
    fn the_object_file_holds_the_section_and_its_symbol() {
        let obj = object_file("x86_64-unknown-linux-musl", b"payload").unwrap();
        let elf = goblin::elf::Elf::parse(&obj).unwrap();
        let sec = elf.section_headers.iter().find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".dep-v0")).unwrap();
        assert_eq!(&obj[sec.sh_offset as usize..][..7], b"payload");
        assert!(elf.syms.iter().any(|s| elf.strtab.get_at(s.st_name) == Some(SYMBOL)));
        assert_eq!(obj, object_file("x86_64-unknown-linux-musl", b"payload").unwrap(), "deterministic");
        assert!(object_file("wasm32-unknown-unknown", b"x").is_none());
    }
}
