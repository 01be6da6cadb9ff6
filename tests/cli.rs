//! The command line through the real binary: selection, bad input, the output contract.

mod common;

use common::{Project, Run, HELLO_MARKER};
use std::process::Command;

#[test]
fn help_lists_the_cargo_flags_and_examples() {
    let run = Run::of(Command::new(common::bin()).args(["containerize", "--help"])).ok();
    for flag in [
        "--manifest-path",
        "--package",
        "--bin",
        "--features",
        "--all-features",
        "--no-default-features",
        "--profile",
        "--target",
        "--locked",
        "--frozen",
        "--offline",
        "--quiet",
        "--verbose",
        "--output",
        "--tarball",
        "--tag",
        "--push",
        "Examples:",
    ] {
        assert!(run.stdout.contains(flag), "--help lacks {flag}:\n{}", run.stdout);
    }
    // What it says of itself is true: it takes bases and talks to engines.
    let first = run.stdout.lines().next().unwrap();
    assert!(first.contains("FROM scratch or on --base") && !first.contains("FROM-scratch image"), "{first}");
    assert!(!env!("CARGO_PKG_DESCRIPTION").contains("no Docker daemon"), env!("CARGO_PKG_DESCRIPTION"));
}

#[test]
fn works_with_and_without_the_subcommand_word() {
    let p = Project::copy("hello");
    let out = p.path().join("layout");
    let a = p.run(&["-q", "-o", out.to_str().unwrap()]).ok();
    let mut cmd = Command::new(common::bin());
    cmd.current_dir(p.path()).args(["-q", "-o", out.to_str().unwrap()]);
    common::isolate(&mut cmd, p.path());
    let direct = Run::of(&mut cmd).ok();
    assert_eq!(a.digest(), direct.digest());
}

#[test]
fn invalid_tags_fail_before_anything_is_built() {
    let p = Project::copy("hello");
    let long = format!("app:{}", "x".repeat(129));
    for (tag, why) in [
        ("MyImage:1", "uppercase"),
        ("my image", "other than a-z"),
        (long.as_str(), "at most 128"),
        ("app:t!", "contains '!'"),
    ] {
        let run = p.run(&["--tag", tag]).failed();
        assert!(run.stderr.contains(why), "{tag}: {}", run.stderr);
        assert!(run.stderr.contains("help:"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    assert!(!p.path().join("target").exists(), "nothing may be built for a bad tag");
}

#[test]
fn a_missing_manifest_is_a_clear_error() {
    let p = Project::copy("hello");
    let run = p.run(&["--manifest-path", "nope/Cargo.toml"]).failed();
    assert!(run.stderr.contains("no Cargo.toml at nope/Cargo.toml"), "{}", run.stderr);
    assert!(run.stderr.contains("--manifest-path"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn ambiguous_workspace_lists_every_binary_as_flags() {
    let p = Project::copy("two-bins");
    let run = p.run(&[]).failed();
    assert!(run.stderr.contains("-p alpha --bin alpha"), "{}", run.stderr);
    assert!(run.stderr.contains("-p beta --bin beta"), "{}", run.stderr);
    assert!(!p.path().join("target").exists(), "nothing may be built when the choice is ambiguous");
}

#[test]
fn package_and_bin_flags_choose_in_a_workspace() {
    let p = Project::copy("two-bins");
    let dir = p.path().join("out");
    p.run(&["-q", "-p", "beta", "-o", dir.to_str().unwrap()]).ok();
    let config = common::layout_config(&dir);
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/beta"]));
    let run = p.run(&["--bin", "gamma"]).failed();
    assert!(
        run.stderr.contains("no binary target named `gamma`") && run.stderr.contains("-p alpha --bin alpha"),
        "{}",
        run.stderr
    );
    let run = p.run(&["-p", "delta"]).failed();
    assert!(
        run.stderr.contains("package `delta` is not a member") && run.stderr.contains("alpha, beta"),
        "{}",
        run.stderr
    );
}

#[test]
fn run_from_a_members_directory_it_picks_that_member_as_cargo_does() {
    // A workspace whose root is a package: from m/, `cargo build` builds m, not the root.
    let p = Project::copy("root-ws");
    let out = p.path().join("out");
    let mut cmd = p.cmd();
    cmd.current_dir(p.path().join("m")).args(["-q", "-o", out.to_str().unwrap()]);
    Run::of(&mut cmd).ok();
    assert_eq!(common::layout_config(&out)["config"]["Cmd"], serde_json::json!(["/m"]));
    // From the root, the root package.
    let out = p.path().join("out-root");
    p.run(&["-q", "-o", out.to_str().unwrap()]).ok();
    assert_eq!(common::layout_config(&out)["config"]["Cmd"], serde_json::json!(["/root"]));
    // A virtual workspace: from alpha/, alpha, where the root is ambiguous.
    let p = Project::copy("two-bins");
    let out = p.path().join("out");
    let mut cmd = p.cmd();
    cmd.current_dir(p.path().join("alpha")).args(["-q", "-o", out.to_str().unwrap()]);
    Run::of(&mut cmd).ok();
    assert_eq!(common::layout_config(&out)["config"]["Cmd"], serde_json::json!(["/alpha"]));
}

#[test]
fn the_workspace_gives_an_image_per_binary_each_under_the_prefix() {
    let p = Project::copy("two-bins");
    let run = p.run(&["-q", "--workspace", "-o", "out"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    for (i, bin) in ["alpha", "beta"].iter().enumerate() {
        let dir = p.path().join("out").join(bin);
        assert_eq!(common::layout_config(&dir)["config"]["Cmd"], serde_json::json!([format!("/{bin}")]));
        assert!(lines[i].starts_with(&format!("out/{bin} sha256:")), "{}", run.stdout);
    }
    // The plan says so, and names each image under the prefix.
    let run = p.run(&["--dry-run", "--workspace", "--push", "127.0.0.1:5000/acme:1", "-t", "acme:1"]).ok();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<String> = plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| {
            i["destinations"].as_array().unwrap().iter().map(|d| d["reference"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(names, ["acme/alpha:1", "127.0.0.1:5000/acme/alpha:1", "acme/beta:1", "127.0.0.1:5000/acme/beta:1"]);
}

#[test]
fn several_images_refuse_before_the_build_what_cannot_name_them() {
    let p = Project::copy("two-bins");
    for (argv, what) in [
        (&["--workspace", "--tarball", "-"][..], "--tarball - (standard output) is not supported with several images"),
        (&["-p", "alpha", "-p", "beta", "--push"], "--push names no repository"),
        (&["--bins", "-t", ":1"], "--tag names no repository"),
        (&["--workspace", "--exclude", "alpha", "--exclude", "beta"], "has no binary target"),
    ] {
        let run = p.run(argv).failed();
        assert!(run.stderr.contains(what), "{argv:?}: {}", run.stderr);
        assert!(run.stderr.contains("help:"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    assert!(!p.path().join("target").exists(), "nothing may be built for a refused selection");
}

#[test]
fn a_library_only_crate_says_it_has_no_binary() {
    let p = Project::copy("lib-only");
    let run = p.run(&[]).failed();
    assert!(run.stderr.contains("package `lib-only` has no binary target"), "{}", run.stderr);
    assert!(run.stderr.contains("help:"));
}

#[test]
fn a_compile_error_exits_non_zero_with_cargo_diagnostics() {
    let p = Project::copy("hello");
    std::fs::write(p.path().join("src/main.rs"), "fn main() { let x: u32 = \"nope\"; }\n").unwrap();
    let run = p.run(&["-o", "out"]).failed();
    assert!(run.stderr.contains("mismatched types"), "{}", run.stderr);
    assert!(run.stderr.contains("cargo build failed"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(!p.path().join("out").exists());
}

#[test]
fn an_unwritable_output_path_is_a_clear_error() {
    let p = Project::copy("hello");
    std::fs::write(p.path().join("file"), "x").unwrap();
    let run = p.run(&["-q", "-o", "file/layout"]).failed();
    assert!(run.stderr.contains("cannot write the OCI layout to file/layout"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_the_build() {
    let p = Project::copy("hello");
    std::fs::write(p.path().join("file"), "x").unwrap();
    let run = p.run(&["-q", "-o", "good", "--tarball", "file/bad.tar"]).failed();
    assert!(run.stderr.contains("cannot write the image tar to file/bad.tar"), "{}", run.stderr);
    assert!(run.stdout.is_empty() && !p.path().join("target").exists(), "{}", run.stdout);
}

#[test]
fn exit_is_non_zero_when_one_sink_fails_and_others_still_report() {
    let p = Project::copy("hello");
    // A device that refuses every write (ENOSPC), as /dev/full does: found only by writing.
    let full = p.path().join("full");
    common::tool("mknod", &[full.to_str().unwrap(), "c", "1", "7"]);
    let run = p.run(&["-q", "-o", "good", "--tarball", "full"]).failed();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert!(lines[0].starts_with("good sha256:"), "{}", run.stdout);
    assert!(run.stderr.contains("cannot write the image tar to full"), "{}", run.stderr);
}

#[test]
fn existing_directories_that_are_not_layouts_are_never_replaced() {
    let p = Project::copy("hello");
    std::fs::create_dir(p.path().join("mine")).unwrap();
    std::fs::write(p.path().join("mine/notes.txt"), "keep me").unwrap();
    let run = p.run(&["-q", "-o", "mine"]).failed();
    assert!(run.stderr.contains("not an OCI image layout"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(p.path().join("mine/notes.txt")).unwrap(), "keep me");
}

#[test]
fn a_failed_build_leaves_the_previous_layout_intact() {
    let p = Project::copy("hello");
    let first = p.run(&["-q", "-o", "out"]).ok();
    let before = std::fs::read(p.path().join("out/index.json")).unwrap();
    std::fs::write(p.path().join("src/main.rs"), "fn main() { broken }\n").unwrap();
    p.run(&["-q", "-o", "out"]).failed();
    assert_eq!(std::fs::read(p.path().join("out/index.json")).unwrap(), before);
    assert!(std::fs::read_to_string(p.path().join("out/index.json")).unwrap().contains(&first.digest()));
}

#[test]
fn no_sink_writes_a_layout_under_the_target_dir_and_says_how_to_use_it() {
    let p = Project::copy("hello");
    let run = p.run(&[]).ok();
    let dir = p.path().join("target/containerize/hello");
    assert!(dir.join("index.json").is_file());
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(run.stdout.starts_with(&dir.display().to_string()), "{}", run.stdout);
    assert!(run.stderr.contains("skopeo copy oci:") && run.stderr.contains("--push"), "{}", run.stderr);
    let out = common::umoci_runc(&dir, "latest");
    assert!(out.contains(HELLO_MARKER), "{out}");
}

#[test]
fn a_bad_source_date_epoch_names_the_variable_and_the_form() {
    let p = Project::copy("hello");
    let run = Run::of(p.cmd().env("SOURCE_DATE_EPOCH", "yesterday")).failed();
    assert!(run.stderr.contains("SOURCE_DATE_EPOCH should be the number of seconds"), "{}", run.stderr);
}

/// The tool's own lines follow cargo's colour choice: `CARGO_TERM_COLOR=always` colours
/// `error:` and `help:` as cargo does, `never` (and a pipe, by default) leaves them plain.
#[test]
fn errors_follow_cargos_colour_choice() {
    let p = Project::copy("hello");
    let coloured =
        Run::of(p.cmd().env("CARGO_TERM_COLOR", "always").args(["--target", "x86_64-pc-windows-gnu"])).failed();
    assert!(coloured.stderr.contains("\x1b[1;31merror\x1b[0m: the target"), "{:?}", coloured.stderr);
    assert!(coloured.stderr.contains("\x1b[1;36mhelp\x1b[0m: use a musl target"), "{:?}", coloured.stderr);
    for choice in ["never", "auto"] {
        let plain =
            Run::of(p.cmd().env("CARGO_TERM_COLOR", choice).args(["--target", "x86_64-pc-windows-gnu"])).failed();
        assert!(plain.stderr.contains("error: the target") && !plain.stderr.contains('\x1b'), "{:?}", plain.stderr);
    }
}

#[test]
fn a_non_linux_target_is_refused() {
    let p = Project::copy("hello");
    let run = p.run(&["--target", "x86_64-pc-windows-gnu"]).failed();
    assert!(run.stderr.contains("not a Linux target") && run.stderr.contains("musl"), "{}", run.stderr);
}

#[test]
fn a_missing_target_without_rustup_gives_the_command() {
    // The real cargo of the toolchain, called without rustup on PATH.
    let sysroot = common::tool("rustc", &["--print", "sysroot"]).stdout.trim().to_string();
    let target = "riscv64gc-unknown-linux-musl";
    assert!(!std::path::Path::new(&sysroot).join("lib/rustlib").join(target).exists(), "test needs {target} absent");
    let p = Project::copy("hello");
    let run = Run::of(
        p.cmd()
            .env("CARGO", format!("{sysroot}/bin/cargo"))
            .env("PATH", "/usr/bin:/bin")
            .env_remove("RUSTC")
            .args(["--target", target]),
    )
    .failed();
    assert!(run.stderr.contains(&format!("rustup target add {target}")), "{}", run.stderr);
}

#[test]
fn a_dynamically_linked_binary_is_refused_naming_its_libraries() {
    let p = Project::copy("hello");
    let host = common::tool("rustc", &["-vV"]).stdout;
    let host = host.lines().find_map(|l| l.strip_prefix("host: ")).unwrap().to_string();
    let run = p.run(&["--target", &host]).failed();
    assert!(run.stderr.contains("dynamically linked") && run.stderr.contains("libc.so"), "{}", run.stderr);
    assert!(run.stderr.contains("musl"), "{}", run.stderr);
}

#[test]
fn a_c_dependency_without_a_musl_c_compiler_names_the_crate_and_the_fix() {
    let p = Project::copy("c-dep");
    let run = Run::of(p.cmd().env("CC_x86_64_unknown_linux_musl", "/nonexistent/musl-gcc").args(["-q", "-o", "out"]))
        .failed();
    assert!(run.stderr.contains("the crate c-dep v0.1.0"), "{}", run.stderr);
    assert!(run.stderr.contains("apt-get install musl-tools"), "{}", run.stderr);
    assert!(run.stderr.contains("CC_x86_64_unknown_linux_musl"), "{}", run.stderr);
}

#[test]
fn a_c_dependency_builds_with_musl_gcc_and_runs() {
    let p = Project::copy("c-dep");
    p.run(&["-q", "-o", "out"]).ok();
    let out = common::umoci_runc(&p.path().join("out"), "latest");
    assert!(out.contains("answer=42"), "{out}");
}

#[test]
fn a_stale_guess_from_the_last_run_never_changes_the_result() {
    // The first run remembers `hello`; then the binary is renamed, so the next run's
    // head-start build is the wrong one and must be discarded.
    let p = Project::copy("hello");
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| Run::of(p.cmd().env("XDG_CACHE_HOME", cache.path()).args(args));
    run(&["-q", "-o", "a"]).ok();
    assert_eq!(common::layout_config(&p.path().join("a"))["config"]["Cmd"], serde_json::json!(["/hello"]));
    let manifest = std::fs::read_to_string(p.manifest()).unwrap();
    std::fs::write(
        p.manifest(),
        manifest.replace("[dependencies]", "[[bin]]\nname = \"renamed\"\npath = \"src/main.rs\"\n\n[dependencies]"),
    )
    .unwrap();
    let second = run(&["-o", "b"]).ok();
    assert_eq!(common::layout_config(&p.path().join("b"))["config"]["Cmd"], serde_json::json!(["/renamed"]));
    // The discarded guess (`--bin hello`, gone now) failed; none of its output may show.
    assert!(!second.stderr.contains("no bin target named"), "{}", second.stderr);
    let out = common::umoci_runc(&p.path().join("b"), "latest");
    assert!(out.contains(HELLO_MARKER), "{out}");
}

#[test]
fn an_empty_password_on_stdin_fails_before_building() {
    let p = Project::copy("hello");
    let run = Run::of(p.cmd().args(["--username", "u", "--password-stdin", "--push", "127.0.0.1:1/x:1"])).failed();
    assert!(
        run.stderr.contains("standard input was empty") && run.stderr.contains("--password-stdin"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("target").exists(), "nothing may be built");
}

#[test]
fn dry_run_prints_the_plan_and_builds_nothing() {
    let p = Project::copy("hello");
    // No engine at all: a dry run asks none.
    let run = Run::of(p.cmd().env("DOCKER_HOST", "unix:///nonexistent/docker.sock").args([
        "--dry-run",
        "-t",
        "app:1",
        "--push",
        "127.0.0.1:5000/team/app",
        "-o",
        "out",
        "--tarball",
        "app.tar",
        "--platform",
        "linux/amd64,linux/arm64",
    ]))
    .ok();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is the plan as JSON");
    let image = &plan["images"][0];
    assert_eq!(plan["images"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(image["package"], "hello");
    assert_eq!(image["bin"], "hello");
    assert_eq!(image["platforms"], serde_json::json!(["linux/amd64", "linux/arm64"]));
    assert_eq!(image["base"], "scratch");
    let destinations: Vec<(String, String)> = image["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_string(), d["reference"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("layout", p.path().join("out").display().to_string()),
        ("tarball", p.path().join("app.tar").display().to_string()),
        ("engine", "app:1".to_string()),
        ("registry", "127.0.0.1:5000/team/app:latest".to_string()),
    ];
    for (kind, reference) in expected {
        assert!(
            destinations.iter().any(|(k, r)| k == kind && (r == &reference || reference.ends_with(r.as_str()))),
            "{kind} {reference} in {destinations:?}"
        );
    }
    // Nothing was built or written.
    for absent in ["target", "out", "app.tar"] {
        assert!(!p.path().join(absent).exists(), "{absent} exists after a dry run");
    }
    // One image on scratch, no destination given: the tool's own layout.
    let run = p.run(&["--dry-run"]).ok();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["images"][0]["destinations"][0]["kind"], "layout", "{plan}");
    assert_eq!(plan["images"][0]["destinations"][0]["default"], true, "{plan}");
    assert!(!p.path().join("target").exists());
}

/// Where a name-less `--push` takes its name: CARGO_CONTAINERIZE_REPOSITORY (a prefix), then
/// the package's own `repository` (its full name), then the workspace's (a prefix with
/// several images, the full name with one).
#[test]
fn a_name_less_push_takes_its_name_from_the_variable_the_package_or_the_workspace() {
    let p = Project::copy("two-bins");
    let root = p.path().join("Cargo.toml");
    let manifest = std::fs::read_to_string(&root).unwrap();
    std::fs::write(
        &root,
        format!("{manifest}\n[workspace.metadata.containerize]\nrepository = \"127.0.0.1:5000/acme\"\n"),
    )
    .unwrap();
    let names = |run: common::Run| -> Vec<String> {
        let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stderr);
        plan["images"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| {
                i["destinations"].as_array().unwrap().iter().map(|d| d["reference"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let plan = |argv: &[&str], env: Option<&str>| {
        let mut cmd = p.cmd();
        cmd.env_remove("CARGO_CONTAINERIZE_REPOSITORY").args(["--dry-run"]).args(argv);
        if let Some(v) = env {
            cmd.env("CARGO_CONTAINERIZE_REPOSITORY", v);
        }
        Run::of(&mut cmd)
    };
    // The workspace's value: a prefix with several images, the full name with one.
    assert_eq!(
        names(plan(&["--workspace", "--push", ":1"], None).ok()),
        ["127.0.0.1:5000/acme/alpha:1", "127.0.0.1:5000/acme/beta:1"]
    );
    assert_eq!(names(plan(&["-p", "alpha", "--push"], None).ok()), ["127.0.0.1:5000/acme:latest"]);
    // The variable wins, as the environment wins over Cargo.toml; a prefix, always.
    assert_eq!(
        names(plan(&["--workspace", "--push"], Some("127.0.0.1:5001/ci")).ok()),
        ["127.0.0.1:5001/ci/alpha:latest", "127.0.0.1:5001/ci/beta:latest"]
    );
    let run = plan(&["--workspace", "--push"], Some("Not A Prefix")).failed();
    assert!(run.stderr.contains("CARGO_CONTAINERIZE_REPOSITORY=\"Not A Prefix\""), "{}", run.stderr);
    // A package's own value names its image in full.
    let alpha = p.path().join("alpha/Cargo.toml");
    let own = std::fs::read_to_string(&alpha).unwrap();
    std::fs::write(&alpha, format!("{own}\n[package.metadata.containerize]\nrepository = \"127.0.0.1:5000/team/a\"\n"))
        .unwrap();
    assert_eq!(
        names(plan(&["--workspace", "--push", ":2"], None).ok()),
        ["127.0.0.1:5000/team/a:2", "127.0.0.1:5000/acme/beta:2"]
    );
    // Two images that would get one name are refused before the build, naming both.
    std::fs::write(p.path().join("beta/Cargo.toml"), std::fs::read_to_string(&alpha).unwrap().replace("alpha", "beta"))
        .unwrap();
    let run = plan(&["--workspace", "--push", ":2"], None).failed();
    assert!(
        run.stderr.contains("alpha's `alpha` and beta's `beta` would both be 127.0.0.1:5000/team/a:2"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("target").exists());
}

/// Issue 12: the cargo flags cargo users type out of habit are taken as cargo takes them:
/// `--release` (what the default profile is already), `-j`, `--keep-going` and `--timings`
/// go to `cargo build`; `--release` with another profile is refused, as cargo refuses it,
/// before anything is built.
#[test]
fn cargo_habit_flags_are_taken_as_cargo_takes_them() {
    let p = Project::copy("hello");
    let shim = common::CargoShim::new(&p);
    let flags = ["-q", "--release", "-j", "1", "--keep-going", "--timings", "-o", "out"];
    let run = Run::of(p.cmd().env("CARGO", &shim.path).args(flags));
    assert!(run.status.success(), "{}", run.stderr);
    let build = shim.args().lines().find(|l| l.starts_with("build ")).map(str::to_string).unwrap_or_default();
    for wanted in ["--profile release", "--jobs 1", "--keep-going", "--timings"] {
        assert!(build.contains(wanted), "{wanted:?} in {build}");
    }
    assert!(p.path().join("target/cargo-timings/cargo-timing.html").is_file(), "cargo wrote its timings");
    let refused = p.run(&["--release", "--profile", "dev", "-o", "dev"]).failed();
    assert!(refused.stderr.contains("conflicting usage of --profile=dev and --release"), "{}", refused.stderr);
    assert!(!p.path().join("target/x86_64-unknown-linux-musl/debug").exists(), "nothing was built");
}

/// Issue 12: `--target-dir` and `--config` mean what they mean to cargo, for every cargo
/// call of the run: the build goes to the directory given (and the tool's caches with it),
/// and a `--config` value reaches `cargo metadata` and `cargo build`, a file's path made
/// absolute. A `--config` that sets rustflags, which cargo would drop here, and one that
/// is neither a file nor TOML, are refused before anything runs.
#[test]
fn target_dir_and_config_go_to_every_cargo_call() {
    let p = Project::copy("hello");
    let shim = common::CargoShim::new(&p);
    let default = p.run(&["-q", "-o", "default"]).ok().stdout;
    std::fs::remove_dir_all(p.path().join("target")).unwrap();
    std::fs::write(p.path().join("extra.toml"), "[term]\nverbose = false\n").unwrap();
    let flags = ["-q", "--target-dir", "elsewhere", "--config", "build.jobs=1", "--config", "extra.toml", "-o", "out"];
    let run = Run::of(p.cmd().env("CARGO", &shim.path).args(flags));
    assert!(run.status.success(), "{}", run.stderr);
    let args = shim.args();
    let extra = p.path().join("extra.toml");
    for command in ["metadata ", "build "] {
        let line = args.lines().find(|l| l.starts_with(command)).unwrap_or_default();
        assert!(line.contains("--config build.jobs=1"), "{line}");
        assert!(line.contains(&format!("--config {}", extra.display())), "{line}");
    }
    let build = args.lines().find(|l| l.starts_with("build ")).unwrap_or_default();
    assert!(build.contains(&format!("--target-dir {}", p.path().join("elsewhere").display())), "{build}");
    assert!(p.path().join("elsewhere/x86_64-unknown-linux-musl/release/hello").is_file());
    assert!(p.path().join("elsewhere/containerize").is_dir(), "the caches follow the target directory");
    assert!(!p.path().join("target").exists(), "nothing went to ./target");
    // The same image: neither setting changes the binary.
    let digest = |out: &str| out.split_whitespace().last().unwrap_or_default().to_string();
    assert_eq!(digest(&run.stdout), digest(&default), "{}", run.stdout);
    for (value, says) in [
        ("build.rustflags=['-Cdebuginfo=1']", "sets rustflags, which cargo would not use here"),
        ("target.x86_64-unknown-linux-musl.rustflags=['-Cdebuginfo=1']", "sets rustflags"),
        ("not toml at all", "is neither a file nor a TOML `KEY=VALUE`"),
    ] {
        let refused = p.run(&["--config", value, "--target-dir", "refused", "-o", "no"]).failed();
        assert!(refused.stderr.contains(says), "{value}: {}", refused.stderr);
        assert!(refused.stderr.contains("help: "), "{}", refused.stderr);
        assert!(!p.path().join("refused").exists(), "nothing was built");
    }
}

/// Issue 12: an unknown flag gets the nearest known flag as its only tip (`--tga` is
/// `--tag` with two letters swapped), never clap's `-- --tga`, which would put the typo into
/// the image's command line; one near nothing gets no tip.
#[test]
fn a_misspelt_flag_gets_the_nearest_flag_as_its_only_tip() {
    let p = Project::copy("hello");
    for (typed, tip) in
        [("--tga", Some("--tag")), ("--pussh", Some("--push")), ("--relase", Some("--release")), ("--zzzzzz", None)]
    {
        let run = Run::of(p.cmd().args([typed, "x:1"]));
        assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("unexpected argument '{typed}' found")), "{}", run.stderr);
        assert!(!run.stderr.contains("as a value, use"), "{}", run.stderr);
        match tip {
            Some(flag) => {
                assert!(run.stderr.contains(&format!("a similar argument exists: '{flag}'")), "{}", run.stderr)
            }
            None => assert!(!run.stderr.contains("similar"), "{}", run.stderr),
        }
    }
    assert!(!p.path().join("target").exists());
}

/// Issue 12: `--color` chooses as cargo's does, for this tool's lines and for cargo's (it
/// goes to `cargo build`): `always` colours a stderr that is no terminal, and `never` beats
/// `CARGO_TERM_COLOR=always`.
#[test]
fn color_is_chosen_as_cargo_chooses_it() {
    let p = Project::copy("hello");
    let shim = common::CargoShim::new(&p);
    let run = Run::of(p.cmd().env("CARGO", &shim.path).args(["--color", "always", "-o", "out"]));
    assert!(run.status.success(), "{}", run.stderr);
    let assembled = run.stderr.lines().find(|l| l.contains("Assembled")).unwrap_or_default();
    assert!(assembled.contains("\u{1b}["), "our status line is coloured: {:?}", run.stderr);
    let compiling = run.stderr.lines().find(|l| l.contains("Compiling")).unwrap_or_default();
    assert!(compiling.contains("\u{1b}["), "cargo's too: {:?}", run.stderr);
    assert!(shim.args().lines().any(|l| l.starts_with("build ") && l.contains("--color always")), "{}", shim.args());
    let run = Run::of(p.cmd().env("CARGO_TERM_COLOR", "always").args(["--color", "never", "-o", "out2"]));
    assert!(run.status.success(), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}
