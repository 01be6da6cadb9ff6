//! What went into the binary, from cargo's own data: the packages compiled for the target
//! (cargo's build report), described by `cargo metadata` (version, source, license,
//! dependencies) and `Cargo.lock` (checksums). Build scripts and proc-macros run on the
//! build host and are not in the binary, so they are left out, as `cargo auditable` and
//! syft leave them out.

use crate::build::BuildSpec;
use cargo_metadata::{CargoOpt, MetadataCommand};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where a package came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Origin {
    /// The default registry (crates.io), or another one by its index URL.
    Registry { default: bool, index: String },
    /// A git repository at a commit.
    Git { url: String, commit: String },
    /// A local path, relative to the workspace root.
    Path { relative: String },
}

/// One package in the binary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) origin: Origin,
    /// The sha256 `Cargo.lock` records for a registry package.
    pub(crate) checksum: Option<String>,
    /// The SPDX license expression of its manifest.
    pub(crate) license: Option<String>,
    /// Indexes into [`Inventory::packages`] of what it depends on, in the binary.
    pub(crate) dependencies: Vec<usize>,
}

impl Package {
    /// `pkg:cargo/NAME@VERSION`, with the registry's index for a registry other than the
    /// default one; name and version percent-encoded (a version's `+` is `%2B`).
    pub(crate) fn purl(&self) -> String {
        let base = format!("pkg:cargo/{}@{}", percent(&self.name).replace('/', "%2F"), percent(&self.version));
        match &self.origin {
            Origin::Registry { default: false, index } => format!("{base}?repository_url={}", percent(index)),
            Origin::Git { url, commit } => format!("{base}?vcs_url={}", percent(&format!("git+{url}@{commit}"))),
            _ => base,
        }
    }
}

/// `s` percent-encoded but for the unreserved characters of RFC 3986 and `/`.
pub(crate) fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The packages of one binary, sorted (name, version, origin); `root` is the binary's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Inventory {
    pub(crate) packages: Vec<Package>,
    pub(crate) root: usize,
}

/// Why the inventory could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot list what went into the binary (`cargo metadata`): {0}")]
pub(crate) struct Error(pub(crate) String);

/// The inventory of the binary built by `spec`, from the package IDs cargo reported
/// compiling for the target (`compiled`), in the workspace at `workspace_root`; kept in
/// `cache_dir` under a key of everything it is made from (the compiled set, the target and
/// features, `Cargo.lock`, and the manifests of the local packages), so an unchanged
/// binary costs no `cargo metadata`.
pub(crate) fn load_cached(
    spec: &BuildSpec,
    compiled: &BTreeSet<String>,
    workspace_root: &Path,
    cache_dir: &Path,
) -> Result<Inventory, Error> {
    let key = cache_key(spec, compiled, workspace_root);
    let path = cache_dir.join(format!("{}.json", key.hex()));
    if let Some(inv) = crate::fsutil::read_regular(&path, 16 << 20).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        return Ok(inv);
    }
    let inv = load(spec, compiled, workspace_root)?;
    if let Ok(bytes) = serde_json::to_vec(&inv) {
        let _ = crate::fsutil::write_file_atomic(&path, |w| w.write_all(&bytes));
    }
    Ok(inv)
}

/// What an inventory depends on, hashed: a local package's manifest can change its
/// license or dependencies without changing `Cargo.lock`.
fn cache_key(spec: &BuildSpec, compiled: &BTreeSet<String>, workspace_root: &Path) -> crate::digest::Digest {
    let mut text = format!(
        "inventory v1\n{}\n{}\n{:?} {} {}\n",
        spec.target, spec.package, spec.features, spec.all_features, spec.no_default_features
    );
    text.push_str(&crate::resolved::inputs(compiled, workspace_root));
    crate::digest::Digest::of(text.as_bytes())
}

/// `run`'s answer for `key`, asked once in this process: a second caller with the same key
/// waits for the first one's answer.
fn once_per_run(
    key: String,
    run: impl FnOnce() -> Result<cargo_metadata::Metadata, Error>,
) -> Result<std::sync::Arc<cargo_metadata::Metadata>, Error> {
    type Answer = std::sync::Arc<std::sync::OnceLock<Result<std::sync::Arc<cargo_metadata::Metadata>, String>>>;
    static ASKED: std::sync::Mutex<Vec<(String, Answer)>> = std::sync::Mutex::new(Vec::new());
    let answer = {
        let mut asked = ASKED.lock().unwrap_or_else(|e| e.into_inner());
        match asked.iter().find(|(k, _)| *k == key) {
            Some((_, answer)) => answer.clone(),
            None => {
                let answer = Answer::default();
                asked.push((key, answer.clone()));
                answer
            }
        }
    };
    answer.get_or_init(|| run().map(std::sync::Arc::new).map_err(|e| e.0)).clone().map_err(Error)
}

fn load(spec: &BuildSpec, compiled: &BTreeSet<String>, workspace_root: &Path) -> Result<Inventory, Error> {
    let mut cmd = MetadataCommand::new();
    if let Some(path) = &spec.manifest_path {
        cmd.manifest_path(path);
    }
    if spec.all_features {
        cmd.features(CargoOpt::AllFeatures);
    }
    if spec.no_default_features {
        cmd.features(CargoOpt::NoDefaultFeatures);
    }
    if !spec.features.is_empty() {
        cmd.features(CargoOpt::SomeFeatures(spec.features.clone()));
    }
    let mut other = vec!["--filter-platform".to_string(), spec.target.clone()];
    for (on, flag) in [(spec.locked, "--locked"), (spec.frozen, "--frozen"), (spec.offline, "--offline")] {
        if on {
            other.push(flag.to_string());
        }
    }
    for value in &spec.config {
        other.extend(["--config".to_string(), value.clone()]);
    }
    cmd.other_options(other);
    let env = crate::build::cargo_env(spec);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    // The images of one build ask the same (only the binaries they embed the list into
    // differ): one `cargo metadata` answers them all.
    let key = format!(
        "{:?} {} {} {:?} {} {} {} {} {:?}",
        spec.manifest_path,
        spec.all_features,
        spec.no_default_features,
        spec.features,
        spec.target,
        spec.locked,
        spec.frozen,
        spec.offline,
        env.iter().filter(|(k, _)| k != crate::auditable::ENV).collect::<Vec<_>>()
    );
    let metadata = once_per_run(key, || {
        cmd.exec().map_err(|e| Error(e.to_string().lines().next().unwrap_or_default().to_string()))
    })?;
    let lock_path = metadata.workspace_root.as_std_path().join("Cargo.lock");
    let checksums = std::fs::read(&lock_path).ok().as_deref().map(checksums).unwrap_or_default();
    let root_dir = workspace_root;
    let mut packages: Vec<(String, Package)> = metadata
        .packages
        .iter()
        .filter(|p| compiled.contains(&p.id.repr))
        .map(|p| {
            let origin = match &p.source {
                Some(src) if src.repr.starts_with("git+") => {
                    let rest = &src.repr["git+".len()..];
                    let (url, commit) = rest.rsplit_once('#').unwrap_or((rest, ""));
                    let url = url.split('?').next().unwrap_or(url).to_string();
                    Origin::Git { url, commit: commit.to_string() }
                }
                Some(src) => {
                    let index = src.repr.split_once('+').map_or(src.repr.as_str(), |(_, u)| u).to_string();
                    Origin::Registry { default: src.is_crates_io(), index }
                }
                None => {
                    let dir = p.manifest_path.parent().map(|d| d.as_std_path().to_path_buf()).unwrap_or_default();
                    let relative = dir.strip_prefix(root_dir).map(|r| r.display().to_string()).unwrap_or_default();
                    Origin::Path { relative: if relative.is_empty() { ".".into() } else { relative } }
                }
            };
            let checksum = matches!(origin, Origin::Registry { .. })
                .then(|| checksums.get(&(p.name.to_string(), p.version.to_string())).cloned())
                .flatten();
            let license = p.license.as_deref().map(|l| l.replace('/', " OR "));
            let package = Package {
                name: p.name.to_string(),
                version: p.version.to_string(),
                origin,
                checksum,
                license,
                dependencies: Vec::new(),
            };
            (p.id.repr.clone(), package)
        })
        .collect();
    packages.sort_by(|a, b| (&a.1.name, &a.1.version, &a.1.origin).cmp(&(&b.1.name, &b.1.version, &b.1.origin)));
    let index: BTreeMap<&str, usize> = packages.iter().enumerate().map(|(i, (id, _))| (id.as_str(), i)).collect();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); packages.len()];
    if let Some(resolve) = &metadata.resolve {
        for node in &resolve.nodes {
            let Some(&from) = index.get(node.id.repr.as_str()) else { continue };
            let mut list: Vec<usize> =
                node.deps.iter().filter_map(|d| index.get(d.pkg.repr.as_str()).copied()).collect();
            list.sort_unstable();
            list.dedup();
            deps[from] = list;
        }
    }
    let root_name = &spec.package;
    let root = packages
        .iter()
        .position(|(_, p)| &p.name == root_name && matches!(p.origin, Origin::Path { .. }))
        .ok_or_else(|| Error(format!("cargo reported no package {root_name} among those compiled")))?;
    let packages = packages
        .into_iter()
        .zip(deps)
        .map(|((_, mut p), d)| {
            p.dependencies = d;
            p
        })
        .collect();
    Ok(Inventory { packages, root })
}

/// `Cargo.lock`'s checksums by (name, version).
fn checksums(lock: &[u8]) -> BTreeMap<(String, String), String> {
    let Ok(text) = std::str::from_utf8(lock) else { return BTreeMap::new() };
    let Ok(doc) = text.parse::<toml::Table>() else { return BTreeMap::new() };
    let mut out = BTreeMap::new();
    for p in doc.get("package").and_then(|p| p.as_array()).into_iter().flatten() {
        let get = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
        if let (Some(n), Some(v), Some(c)) = (get("name"), get("version"), get("checksum")) {
            out.insert((n, v), c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_name_the_registry_or_repository_when_it_is_not_the_default() {
        let p = |origin| Package {
            name: "itoa".into(),
            version: "1.0.0".into(),
            origin,
            checksum: None,
            license: None,
            dependencies: vec![],
        };
        assert_eq!(p(Origin::Registry { default: true, index: "x".into() }).purl(), "pkg:cargo/itoa@1.0.0");
        let other = p(Origin::Registry { default: false, index: "https://reg.example/index".into() }).purl();
        assert_eq!(other, "pkg:cargo/itoa@1.0.0?repository_url=https%3A//reg.example/index");
        assert_eq!(p(Origin::Path { relative: ".".into() }).purl(), "pkg:cargo/itoa@1.0.0");
        let odd =
            Package { name: "a/b c".into(), version: "1.0.0+build".into(), ..p(Origin::Path { relative: ".".into() }) };
        assert_eq!(odd.purl(), "pkg:cargo/a%2Fb%20c@1.0.0%2Bbuild");
    }

    #[test]
    fn lock_checksums_are_read_by_name_and_version() {
        let lock = b"version = 4\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+x\"\nchecksum = \"abc\"\n\n[[package]]\nname = \"b\"\nversion = \"0.1.0\"\n";
        let c = checksums(lock);
        assert_eq!(c.get(&("a".into(), "1.0.0".into())).map(String::as_str), Some("abc"));
        assert_eq!(c.len(), 1);
    }
}
