//! Remembers which binary a command line chose last time, so its `cargo build` can start
//! while `cargo metadata` confirms the choice; and which repositories it pushed to, so
//! that they are checked (`registry::preflight`) meanwhile too. A wrong guess costs time,
//! never correctness: the run only uses a build whose spec equals the resolved plan's, and
//! only the checks of repositories the plan pushes to.

use crate::build::BuildSpec;
use crate::cli::Args;
use crate::digest::Digest;
use std::path::PathBuf;

/// Where guesses live: `$XDG_CACHE_HOME/cargo-containerize/selection`, or under `~/.cache`.
fn dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("cargo-containerize").join("selection"))
}

/// The file for this command line: keyed on the directory and every flag that selects.
fn path(args: &Args) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    // Only a one-binary selection has a guess: several images are several builds.
    let crate::plan::Selection::One { package, bin } = crate::plan::selection(args) else { return None };
    let key = format!(
        "{}\n{:?}\n{:?}\n{:?}\n{}\n{:?}\n{:?}",
        cwd.display(),
        args.manifest.manifest_path,
        package,
        bin,
        std::env::var("CARGO_TARGET_DIR").unwrap_or_default(),
        args.target_dir,
        args.config,
    );
    Some(dir()?.join(Digest::of(key.as_bytes()).hex()))
}

/// The build spec chosen last time for this command line, if any: its package, binary,
/// target and the environment the plan gave it (a cross linker), with this command line's
/// cargo flags. Settings can change the target (`platforms`) and files the linker, so the
/// guess is checked against the plan before it is used.
///
/// The file may come from a shared CI cache: only what the plan itself would produce is
/// believed (package and binary names, a Linux target, a `rust-lld` cross linker), so it
/// cannot make the guess run anything else.
pub(crate) fn recall(args: &Args) -> Option<BuildSpec> {
    recall_from(&path(args)?, args)
}

fn recall_from(file: &std::path::Path, args: &Args) -> Option<BuildSpec> {
    let text = String::from_utf8(crate::fsutil::read_regular(file, 64 << 10).ok()?).ok()?;
    let mut lines = text.lines();
    let (package, bin, target) = (lines.next()?, lines.next()?, lines.next()?);
    let name = |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name(package) || !name(bin) || !name(target) || crate::platform::Platform::of_target(target).is_none() {
        return None;
    }
    let linker = crate::build::linker_variable(target);
    let env = lines
        .map(|l| match l.split_once('=') {
            Some((k, "rust-lld")) if k == linker => Some((k.to_string(), "rust-lld".to_string())),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let mut spec = crate::plan::build_spec(args, package.to_string(), bin.to_string());
    spec.target = target.to_string();
    spec.env = env;
    Some(spec)
}

/// Records the chosen package, binary, target and build environment; failures only lose
/// the head start.
pub(crate) fn remember(args: &Args, spec: &BuildSpec) {
    let Some(path) = path(args) else { return };
    let mut text = format!("{}\n{}\n{}\n", spec.package, spec.bin, spec.target);
    for (k, v) in &spec.env {
        text.push_str(&format!("{k}={v}\n"));
    }
    if crate::fsutil::read_regular(&path, 64 << 10).is_ok_and(|old| old == text.as_bytes()) {
        return;
    }
    let _ = crate::fsutil::write_file_atomic(&path, |w| w.write_all(text.as_bytes()));
}

/// The file of pushes for this command line: keyed on the directory and the flags that
/// name the destinations and select the binaries.
fn pushes_path(args: &Args) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let ws = &args.workspace;
    let key = format!(
        "pushes\n{}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        cwd.display(),
        args.manifest.manifest_path,
        args.push,
        ws.package,
        ws.exclude,
        (ws.workspace, ws.all, args.bins),
        args.bin,
    );
    Some(dir()?.join(Digest::of(key.as_bytes()).hex()))
}

/// The repositories this command line pushed to last time (a reference each), to be
/// checked while `cargo metadata` runs. Only a reference to a registry that `hosts` names
/// is believed: the command line's own `--push` hosts, so that the file (which may come
/// from a shared CI cache) can never send a request, or credentials, anywhere else.
pub(crate) fn recall_pushes(args: &Args, hosts: &[String]) -> Vec<crate::reference::Reference> {
    pushes_path(args).map_or_else(Vec::new, |file| recall_pushes_from(&file, hosts))
}

/// At most this many references are believed.
const MAX_PUSHES: usize = 256;

fn recall_pushes_from(file: &std::path::Path, hosts: &[String]) -> Vec<crate::reference::Reference> {
    let Ok(text) = crate::fsutil::read_regular(file, 64 << 10) else { return Vec::new() };
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .take(MAX_PUSHES)
        .filter_map(|line| crate::reference::Reference::parse(line).ok())
        .filter(|r| r.digest.is_none() && r.registry.as_ref().is_some_and(|h| hosts.contains(h)))
        .collect()
}

/// Records the references this command line pushes to; failures only lose the head start.
pub(crate) fn remember_pushes(args: &Args, references: &[crate::reference::Reference]) {
    let Some(path) = pushes_path(args) else { return };
    let text: String = references.iter().map(|r| format!("{r}\n")).collect();
    if crate::fsutil::read_regular(&path, 64 << 10).is_ok_and(|old| old == text.as_bytes()) {
        return;
    }
    let _ = crate::fsutil::write_file_atomic(&path, |w| w.write_all(text.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tampered_selection_file_is_not_believed() {
        let cache = tempfile::tempdir().unwrap();
        let args = Args::default();
        let file = cache.path().join("selection");
        let write = |text: &str| std::fs::write(&file, text).unwrap();
        let recall = |args: &Args| recall_from(&file, args);
        write("app\napp\naarch64-unknown-linux-musl\nCARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld\n");
        let spec = recall(&args).unwrap();
        assert_eq!(spec.env, [("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER".into(), "rust-lld".into())]);
        for bad in [
            "app\napp\nx86_64-unknown-linux-musl\nRUSTC_WRAPPER=/tmp/evil.sh\n",
            "app\napp\nx86_64-unknown-linux-musl\nCARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=/tmp/evil\n",
            "app\n--config=x\nx86_64-unknown-linux-musl\n",
            "app\napp\nx86_64-pc-windows-msvc\n",
        ] {
            write(bad);
            assert!(recall(&args).is_none(), "{bad}");
        }
    }

    #[test]
    fn only_pushes_to_the_command_lines_own_hosts_are_recalled() {
        let cache = tempfile::tempdir().unwrap();
        let file = cache.path().join("pushes");
        std::fs::write(
            &file,
            "127.0.0.1:5000/acme/api:1\nevil.example/acme/api:1\n127.0.0.1:5000/acme/worker@sha256:\
             0000000000000000000000000000000000000000000000000000000000000000\nacme/noregistry:1\nnot a \
             reference\n127.0.0.1:5000/acme/worker:latest\n",
        )
        .unwrap();
        let recalled = recall_pushes_from(&file, &["127.0.0.1:5000".to_string()]);
        let names: Vec<String> = recalled.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["127.0.0.1:5000/acme/api:1", "127.0.0.1:5000/acme/worker:latest"]);
        assert!(recall_pushes_from(&file, &[]).is_empty());
        assert!(recall_pushes_from(&cache.path().join("missing"), &["127.0.0.1:5000".to_string()]).is_empty());
    }
}
