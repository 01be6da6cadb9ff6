//! The same sources give the same digests, wherever and whenever they are built.

mod common;

use common::{Project, Run};

fn build_layout(p: &Project, epoch: Option<&str>) -> (String, serde_json::Value) {
    let mut cmd = p.cmd();
    cmd.args(["-q", "-o", "out"]);
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    let run = Run::of(&mut cmd).ok();
    (run.digest(), common::layout_config(&p.path().join("out")))
}

#[test]
fn two_copies_built_apart_give_the_same_manifest_digest() {
    let a = Project::copy("hello");
    let b = Project::copy("hello");
    // Different paths, and different file times, as two checkouts would have.
    let old = std::fs::File::options().write(true).open(b.path().join("src/main.rs")).unwrap();
    old.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000)).unwrap();
    let (da, _) = build_layout(&a, None);
    let (db, _) = build_layout(&b, None);
    assert_eq!(da, db);
    // And again, from a clean target directory.
    std::fs::remove_dir_all(a.path().join("target")).unwrap();
    std::fs::remove_dir_all(a.path().join("out")).unwrap();
    let (again, _) = build_layout(&a, None);
    assert_eq!(da, again);
    let blob_a = std::fs::read_dir(a.path().join("out/blobs/sha256")).unwrap().count();
    assert_eq!(blob_a, 4, "config, base layer, binary layer, manifest: a default layout holds no documents");
}

#[test]
fn source_date_epoch_sets_created() {
    let p = Project::copy("hello");
    let (d1, config) = build_layout(&p, Some("1700000000"));
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["history"][0]["created"], "2023-11-14T22:13:20Z");
    let (d2, config) = build_layout(&p, None);
    assert_eq!(config["created"], "1970-01-01T00:00:00Z", "outside git the fallback is the epoch");
    assert_ne!(d1, d2);
}

#[test]
fn created_follows_the_last_commit_of_the_package() {
    let p = Project::copy("hello");
    let git = |args: &[&str]| {
        Run::of(
            std::process::Command::new("git")
                .args(args)
                .current_dir(p.path())
                .env("GIT_AUTHOR_DATE", "2024-02-03T04:05:06Z")
                .env("GIT_COMMITTER_DATE", "2024-02-03T04:05:06Z")
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com"),
        )
        .ok()
    };
    git(&["init", "-q"]);
    git(&["add", "Cargo.toml", "Cargo.lock", "src"]);
    git(&["commit", "-q", "-m", "fixture"]);
    let (_, config) = build_layout(&p, None);
    assert_eq!(config["created"], "2024-02-03T04:05:06Z");
}

/// `fixture` copied, and built to a layout by the tool copied to `tool_dir`, with `envs`.
fn build_with(
    tool_dir: &std::path::Path,
    fixture: &str,
    envs: &[(&str, &std::path::Path)],
    extra: &[&str],
    prepare: fn(&std::path::Path),
) -> (String, Vec<u8>) {
    std::fs::create_dir_all(tool_dir).unwrap();
    let tool = tool_dir.join("cargo-containerize");
    if !tool.exists() {
        std::fs::copy(common::bin(), &tool).unwrap();
    }
    let p = Project::copy(fixture);
    prepare(p.path());
    let mut cmd = std::process::Command::new(&tool);
    cmd.arg("containerize").current_dir(p.path()).stdin(std::process::Stdio::null());
    common::isolate(&mut cmd, p.path());
    cmd.env("SOURCE_DATE_EPOCH", "0").args(["-q", "-o", "out"]).args(extra);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let run = Run::of(&mut cmd).ok();
    if extra.iter().any(|a| a.starts_with("--platform")) {
        return (run.digest(), Vec::new());
    }
    // The `.dep-v0` data is in: the wrapper ran.
    let layer = common::layout_manifest(&p.path().join("out"))["layers"].as_array().unwrap().last().unwrap().clone();
    let blob = common::layout_blob(&p.path().join("out"), layer["digest"].as_str().unwrap());
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
    let binary = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.header().entry_type().is_file())
        .map(|mut e| {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            bytes
        })
        .unwrap();
    assert!(contains(&binary, b".dep-v0"), "no .dep-v0 section: the wrapper did not run");
    (run.digest(), binary)
}

/// Issue 19 §1: cargo hashes the rustc wrapper's name into the binary, so the tool's install
/// path once changed the image. Two installs, two project paths, two homes: one digest.
#[test]
fn the_tool_installed_at_two_paths_builds_one_digest() {
    let installs = tempfile::tempdir().unwrap();
    let a = build_with(&installs.path().join("x"), "hello", &[], &[], |_| {}).0;
    let b = build_with(&installs.path().join("yy/zz"), "hello", &[], &[], |_| {}).0;
    assert_eq!(a, b, "the image depends on where the tool is installed");
    // A -gnu build on a base (dynamically linked, another target).
    let layout = tempfile::tempdir().unwrap();
    common::bases::write_layout(layout.path(), "12", &common::bases::cc(false));
    let base = format!("oci:{}:12", layout.path().display());
    let gnu = ["--target", "x86_64-unknown-linux-gnu", "--base", &base];
    let a = build_with(&installs.path().join("x"), "hello", &[], &gnu, |_| {}).0;
    let b = build_with(&installs.path().join("yy/zz"), "hello", &[], &gnu, |_| {}).0;
    assert_eq!(a, b, "the -gnu image depends on where the tool is installed");
    // And a two-platform index.
    let both = ["--platform", "linux/amd64,linux/arm64"];
    let a = build_with(&installs.path().join("x"), "hello", &[], &both, |_| {}).0;
    let b = build_with(&installs.path().join("yy/zz"), "hello", &[], &both, |_| {}).0;
    assert_eq!(a, b, "the index depends on where the tool is installed");
}

/// Issue 19 §1: registry dependencies are compiled from under `$CARGO_HOME`, and a panic
/// site in one carries its source path into the binary: two homes with the same crates
/// (offline) give one digest, and neither home is in the binary. `with-deps` has registry,
/// path, build-only and proc-macro dependencies; base64 (which this tool depends on too,
/// so it is in the machine's cargo home) has panic sites.
#[test]
fn two_cargo_homes_build_one_digest() {
    let fixture = common::fixtures().join("with-deps");
    // The crates in the machine's cargo home first (the network is allowed for this).
    Run::of(
        std::process::Command::new("cargo")
            .args(["fetch", "--locked", "--manifest-path"])
            .arg(fixture.join("Cargo.toml")),
    )
    .ok();
    let homes = tempfile::tempdir().unwrap();
    let (home_a, home_b) = (homes.path().join("a/cargo"), homes.path().join("bb/cc/cargo"));
    for home in [&home_a, &home_b] {
        seed_cargo_home(home, &["itoa-1.0.11", "fnv-1.0.7", "autocfg-1.4.0", "base64-0.22.1"]);
    }
    let installs = tempfile::tempdir().unwrap();
    let tool = installs.path().join("bin");
    let (a, binary_a) = build_with(&tool, "with-deps", &[("CARGO_HOME", &home_a)], &["--offline"], with_base64);
    let (b, _) = build_with(&tool, "with-deps", &[("CARGO_HOME", &home_b)], &["--offline"], with_base64);
    assert!(contains(&binary_a, b"/cargo/registry/src/"), "base64's panic sites are in the binary, remapped");
    assert!(!contains(&binary_a, home_a.to_str().unwrap().as_bytes()), "CARGO_HOME is in the binary");
    assert_eq!(a, b, "the image depends on CARGO_HOME");
}

/// The project made to use base64 too.
fn with_base64(dir: &std::path::Path) {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest.replace("[dependencies]", "[dependencies]\nbase64 = \"=0.22.1\""))
        .unwrap();
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    let main = main.replace(
        "fn main() {",
        "fn main() {\n    use base64::Engine as _;\n    \
         println!(\"{}\", base64::engine::general_purpose::STANDARD.encode(std::env::args().count().to_string()));",
    );
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A cargo home holding the machine's registry configuration and index, and only the
/// `.crate` files named (as `name-version`).
fn seed_cargo_home(home: &std::path::Path, crates: &[&str]) {
    let real = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    std::fs::create_dir_all(home).unwrap();
    for config in ["config.toml", "config"] {
        if real.join(config).is_file() {
            std::fs::copy(real.join(config), home.join(config)).unwrap();
        }
    }
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        Run::of(std::process::Command::new("cp").arg("-a").arg(from).arg(to)).ok();
    };
    std::fs::create_dir_all(home.join("registry")).unwrap();
    copy(&real.join("registry/index"), &home.join("registry/index"));
    for source in std::fs::read_dir(real.join("registry/cache")).unwrap() {
        let source = source.unwrap().path();
        let into = home.join("registry/cache").join(source.file_name().unwrap());
        std::fs::create_dir_all(&into).unwrap();
        for name in crates {
            let file = source.join(format!("{name}.crate"));
            if file.is_file() {
                std::fs::copy(&file, into.join(file.file_name().unwrap())).unwrap();
            }
        }
    }
}

/// The remap is added to the rustflags cargo would pick, never instead of them: a
/// project's `build.rustflags` (as a string) and `target.<triple>.rustflags` (as an array)
/// still reach rustc.
#[test]
fn the_users_rustflags_are_kept() {
    let installs = tempfile::tempdir().unwrap();
    type Prepare = fn(&std::path::Path);
    let cases: [(Prepare, &str); 2] =
        [(with_build_rustflags, "cfg from build.rustflags"), (with_target_rustflags, "cfg from target.rustflags")];
    for (prepare, printed) in cases {
        let (_, binary) = build_with(&installs.path().join("bin"), "hello", &[], &[], prepare);
        let exe = installs.path().join("hello");
        std::fs::write(&exe, &binary).unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = Run::of(&mut std::process::Command::new(&exe)).ok().stdout;
        assert!(out.contains(printed), "{out}");
    }
}

/// The project printing which of its cfgs are set.
fn printing_cfgs(dir: &std::path::Path, config: &str) {
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    std::fs::write(dir.join(".cargo/config.toml"), config).unwrap();
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    let main = main.replace(
        "fn main() {",
        "fn main() {\n    if cfg!(from_build) { println!(\"cfg from build.rustflags\"); }\n    \
         if cfg!(from_target) { println!(\"cfg from target.rustflags\"); }",
    );
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
}

fn with_build_rustflags(dir: &std::path::Path) {
    printing_cfgs(dir, "build.rustflags = \"--cfg from_build\"\n");
}

fn with_target_rustflags(dir: &std::path::Path) {
    printing_cfgs(dir, "[target.x86_64-unknown-linux-musl]\nrustflags = [\"--cfg\", \"from_target\"]\n");
}

/// Code a build script generates into `OUT_DIR` (under the target directory, inside the
/// project) is compiled from an absolute path, and its panic sites carry it: two project
/// paths still give one digest, and neither path is in the binary.
#[test]
fn generated_code_at_two_project_paths_builds_one_digest() {
    let installs = tempfile::tempdir().unwrap();
    let (a, binary) = build_with(&installs.path().join("bin"), "hello", &[], &[], with_generated_code);
    let (b, _) = build_with(&installs.path().join("bin"), "hello", &[], &[], with_generated_code);
    assert!(contains(&binary, b"/build/target/"), "the generated code's panic site is in the binary, remapped");
    assert!(!contains(&binary, b"/cc-test-"), "the project's path is in the binary");
    assert_eq!(a, b, "the image depends on the project's path");
}

/// The project made to compile code its build script writes, with a panic site.
fn with_generated_code(dir: &std::path::Path) {
    std::fs::write(
        dir.join("build.rs"),
        "fn main() {\n    let out = std::env::var(\"OUT_DIR\").unwrap();\n    \
         std::fs::write(format!(\"{out}/generated.rs\"), \"pub fn pick(v: &[u8], i: usize) -> u8 { \
         v[i] }\").unwrap();\n}\n",
    )
    .unwrap();
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    let main = format!(
        "include!(concat!(env!(\"OUT_DIR\"), \"/generated.rs\"));\n{}",
        main.replace("fn main() {", "fn main() {\n    println!(\"{}\", pick(b\"xyz\", std::env::args().count()));",)
    );
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
}
