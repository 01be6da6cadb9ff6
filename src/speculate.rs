//! Remembers which binary a command line chose last time, so its `cargo build` can start
//! while `cargo metadata` confirms the choice. A wrong guess costs time, never correctness:
//! the run only uses a build whose spec equals the resolved plan's.

use crate::build::BuildSpec;
use crate::cli::Args;
use crate::image::digest::Digest;
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
    let key = format!(
        "{}\n{:?}\n{:?}\n{:?}\n{}",
        cwd.display(),
        args.manifest_path,
        args.package,
        args.bin,
        std::env::var("CARGO_TARGET_DIR").unwrap_or_default()
    );
    Some(dir()?.join(Digest::of(key.as_bytes()).hex()))
}

/// The build spec chosen last time for this command line, if any: its package, binary,
/// target and the environment the plan gave it (a cross linker), with this command line's
/// cargo flags. Settings can change the target (`platforms`) and files the linker, so the
/// guess is checked against the plan before it is used.
pub(crate) fn recall(args: &Args) -> Option<BuildSpec> {
    let text = std::fs::read_to_string(path(args)?).ok()?;
    let mut lines = text.lines();
    let (package, bin, target) = (lines.next()?, lines.next()?, lines.next()?);
    let env =
        lines.map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect::<Option<Vec<_>>>()?;
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
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return;
    }
    let _ = crate::fsutil::write_file_atomic(&path, |w| w.write_all(text.as_bytes()));
}
