//! What one `cargo build` resolved for its target: the graph of normal dependencies, with
//! the features of exactly the packages it builds, as `cargo tree -e normal` prints it.
//!
//! Cargo unifies features across the packages one invocation builds, so a binary built
//! beside others can link dependencies (optional ones a sibling enables) that it would not
//! link on its own; and `cargo metadata` resolves the whole workspace, dev-dependencies
//! included, so its graph can hold edges no build made. The dependency list embedded in a
//! binary and its SBOM take from this graph the packages one binary reaches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

/// A package of the graph: its name and version, which is what `cargo tree` prints.
pub(crate) type Key = (String, String);

/// The `cargo tree` invocation that matches a build.
#[derive(Clone, Debug)]
pub(crate) struct Query<'a> {
    /// The cargo to run.
    pub(crate) cargo: &'a std::ffi::OsStr,
    /// The directory cargo runs in (it finds the workspace from there).
    pub(crate) dir: Option<&'a Path>,
    pub(crate) manifest_path: Option<&'a Path>,
    /// The packages the build selects (`--package`), every one of them.
    pub(crate) packages: &'a [String],
    pub(crate) target: &'a str,
    pub(crate) features: &'a [String],
    pub(crate) all_features: bool,
    pub(crate) no_default_features: bool,
    pub(crate) locked: bool,
    pub(crate) frozen: bool,
    pub(crate) offline: bool,
    /// cargo's `--config` values.
    pub(crate) config: &'a [String],
    /// The environment the build had (rustflags set cfgs that select dependencies).
    pub(crate) env: &'a [(String, String)],
    /// How long cargo may take (it can wait for a lock another cargo holds): past it, cargo
    /// is stopped and the query fails; it is said on stderr what is waited for once the wait
    /// passes a few seconds. `None` inside a build, where cargo shows what it waits for.
    pub(crate) within: Option<std::time::Duration>,
}

/// The resolved graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Graph {
    edges: BTreeMap<Key, BTreeSet<Key>>,
    proc_macros: BTreeSet<Key>,
}

impl Graph {
    /// Runs `cargo tree` for `query`.
    pub(crate) fn of(query: &Query) -> Result<Graph, String> {
        Ok(Graph::parse(&Graph::tree(query)?))
    }

    /// What `cargo tree` prints for `query`.
    fn tree(query: &Query) -> Result<String, String> {
        let mut cmd = Command::new(query.cargo);
        cmd.args(["tree", "--edges", "normal", "--prefix", "depth", "--format", "{p}", "--color", "never"]);
        cmd.args(["--target", query.target]);
        if let Some(dir) = query.dir {
            cmd.current_dir(dir);
        }
        if let Some(path) = query.manifest_path {
            cmd.arg("--manifest-path").arg(path);
        }
        for package in query.packages {
            cmd.args(["--package", package]);
        }
        for value in query.config {
            cmd.args(["--config", value]);
        }
        if !query.features.is_empty() {
            cmd.args(["--features", &query.features.join(",")]);
        }
        for (on, flag) in [
            (query.all_features, "--all-features"),
            (query.no_default_features, "--no-default-features"),
            (query.locked, "--locked"),
            (query.frozen, "--frozen"),
            (query.offline, "--offline"),
        ] {
            if on {
                cmd.arg(flag);
            }
        }
        cmd.envs(query.env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run cargo tree: {e}"))?;
        let out = match query.within {
            Some(timeout) => {
                let waiting =
                    format!("waiting for `cargo tree` (what the build of {} resolved)", query.packages.join(", "));
                crate::wait::output_within(child, timeout, Some(waiting))
                    .map_err(|e| format!("cargo tree: {e}"))?
                    .ok_or_else(|| format!("cargo tree did not finish within {} s", timeout.as_secs()))?
            }
            None => child.wait_with_output().map_err(|e| format!("cargo tree: {e}"))?,
        };
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            let why = why.lines().find(|l| l.starts_with("error")).unwrap_or(why.trim());
            return Err(format!("cargo tree failed ({}): {}", out.status, crate::redact::redact(why)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// As [`Graph::of`], kept in `cache_dir` under a key of the query and of what the
    /// resolution depends on besides (`inputs`, see [`inputs`]), so that an unchanged
    /// workspace costs no `cargo tree`.
    pub(crate) fn of_cached(query: &Query, inputs: &str, cache_dir: &Path) -> Result<Graph, String> {
        let mut text = format!(
            "resolved v1\n{:?} {:?} {} {:?} {} {}\n{:?}\n{inputs}",
            query.manifest_path,
            query.packages,
            query.target,
            query.features,
            query.all_features,
            query.no_default_features,
            query.env
        );
        text.push('\n');
        let path = cache_dir.join(format!("{}.txt", crate::digest::Digest::of(text.as_bytes()).hex()));
        if let Ok(kept) = crate::fsutil::read_regular(&path, 16 << 20) {
            return Ok(Graph::parse(&String::from_utf8_lossy(&kept)));
        }
        let printed = Graph::tree(query)?;
        let _ = crate::fsutil::write_file_atomic(&path, |w| w.write_all(printed.as_bytes()));
        Ok(Graph::parse(&printed))
    }

    /// Reads `cargo tree --prefix depth --format {p}`: one package a line, after its depth;
    /// a package's dependencies follow it one level deeper. A package met again is marked
    /// `(*)` and its dependencies are not repeated: they are the same everywhere.
    fn parse(text: &str) -> Graph {
        let mut graph = Graph::default();
        let mut stack: Vec<Key> = Vec::new();
        for line in text.lines() {
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            let Ok(depth) = line[..digits].parse::<usize>() else { continue };
            let mut words = line[digits..].split_whitespace();
            let (Some(name), Some(version)) = (words.next(), words.next()) else { continue };
            let key: Key = (name.to_string(), version.trim_start_matches('v').to_string());
            if line.contains(" (proc-macro)") {
                graph.proc_macros.insert(key.clone());
            }
            stack.truncate(depth);
            if let Some(parent) = stack.last() {
                graph.edges.entry(parent.clone()).or_default().insert(key.clone());
            }
            graph.edges.entry(key.clone()).or_default();
            stack.push(key);
        }
        graph
    }

    /// The packages whose code `root` links: `root` and what it reaches, not through
    /// proc-macros (they run in the compiler, and their dependencies on the host).
    pub(crate) fn reachable(&self, root: &Key) -> BTreeSet<Key> {
        let mut seen = BTreeSet::from([root.clone()]);
        let mut queue = vec![root.clone()];
        while let Some(key) = queue.pop() {
            for next in self.edges.get(&key).into_iter().flatten() {
                if !self.proc_macros.contains(next) && seen.insert(next.clone()) {
                    queue.push(next.clone());
                }
            }
        }
        seen
    }

    /// Whether the build's graph has the edge `from` → `to`.
    pub(crate) fn has_edge(&self, from: &Key, to: &Key) -> bool {
        self.edges.get(from).is_some_and(|s| s.contains(to))
    }
}

/// What a resolution depends on besides the command line: `Cargo.lock`, and the manifest
/// of each local package among `packages` (package IDs), which can change features and
/// dependencies without changing the lock file. As text, for a cache key.
pub(crate) fn inputs(packages: &BTreeSet<String>, workspace_root: &Path) -> String {
    let mut text = String::new();
    for id in packages {
        text.push_str(id);
        text.push('\n');
        if let Some(dir) = id.strip_prefix("path+file://").and_then(|rest| rest.split('#').next()) {
            let manifest = std::fs::read(Path::new(dir).join("Cargo.toml")).unwrap_or_default();
            text.push_str(crate::digest::Digest::of(&manifest).as_str());
            text.push('\n');
        }
    }
    let lock = std::fs::read(workspace_root.join("Cargo.lock")).unwrap_or_default();
    text.push_str(crate::digest::Digest::of(&lock).as_str());
    text
}

/// The name and version in a cargo package ID: `KIND+URL#NAME@VERSION`, or
/// `KIND+URL#VERSION` when the name is the URL's last segment (cargo 1.77 and later), or
/// `NAME VERSION (SOURCE)` (before).
pub(crate) fn key_of_id(id: &str) -> Option<Key> {
    if let Some((url, fragment)) = id.rsplit_once('#') {
        if let Some((name, version)) = fragment.split_once('@') {
            return Some((name.to_string(), version.to_string()));
        }
        let path = url.split('?').next()?.trim_end_matches('/');
        let name = path.rsplit('/').next().filter(|n| !n.is_empty())?;
        return Some((name.to_string(), fragment.to_string()));
    }
    let mut words = id.split_whitespace();
    Some((words.next()?.to_string(), words.next()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_give_their_name_and_version() {
        for (id, name, version) in [
            ("registry+https://github.com/rust-lang/crates.io-index#itoa@1.0.11", "itoa", "1.0.11"),
            ("sparse+https://index.example/#serde_json@1.0.1", "serde_json", "1.0.1"),
            ("path+file:///w/alpha#0.1.0", "alpha", "0.1.0"),
            ("path+file:///w/dir#beta@0.2.0", "beta", "0.2.0"),
            ("git+https://example.com/x/y?branch=main#y@0.3.0", "y", "0.3.0"),
            ("itoa 1.0.11 (registry+https://github.com/rust-lang/crates.io-index)", "itoa", "1.0.11"),
        ] {
            assert_eq!(key_of_id(id), Some(k(name, version)), "{id}");
        }
    }

    fn k(name: &str, version: &str) -> Key {
        (name.into(), version.into())
    }

    #[test]
    fn the_tree_gives_each_root_what_it_reaches() {
        let text = "\
0alpha v0.1.0 (/w/alpha)
1common v0.1.0 (/w/common)
2itoa v1.0.11
2fnv v1.0.7
1derive v0.1.0 (proc-macro) (/w/derive)
2syn v2.0.1

0beta v0.2.0 (/w/beta)
1common v0.1.0 (/w/common) (*)
1ryu v1.0.0
";
        let g = Graph::parse(text);
        assert_eq!(
            g.reachable(&k("alpha", "0.1.0")),
            BTreeSet::from([k("alpha", "0.1.0"), k("common", "0.1.0"), k("itoa", "1.0.11"), k("fnv", "1.0.7")])
        );
        // A package printed before keeps its dependencies from there.
        assert_eq!(
            g.reachable(&k("beta", "0.2.0")),
            BTreeSet::from([
                k("beta", "0.2.0"),
                k("common", "0.1.0"),
                k("itoa", "1.0.11"),
                k("fnv", "1.0.7"),
                k("ryu", "1.0.0")
            ])
        );
        assert!(g.has_edge(&k("common", "0.1.0"), &k("fnv", "1.0.7")));
        assert!(!g.has_edge(&k("alpha", "0.1.0"), &k("fnv", "1.0.7")));
        assert_eq!(g.reachable(&k("gone", "1.0.0")), BTreeSet::from([k("gone", "1.0.0")]));
    }
}
