//! The whole job: plan, build, assemble once, publish to every sink.

use crate::build::{self, Running};
use crate::cli::Args;
use crate::elf;
use crate::error::Error;
use crate::image::cache::LayerCache;
use crate::image::layer::{Compressor, Contents, Entry};
use crate::image::Image;
use crate::plan::{self, Plan, SinkSpec};
use crate::progress::Progress;
use crate::registry;
use crate::sink;
use crate::speculate;
use crate::workspace::{LoadOptions, Workspace};
use std::io::{IsTerminal, Read, Write};

/// Runs the command; returns the process exit code. Results go to stdout, the rest to stderr.
pub fn run(args: &Args) -> i32 {
    match run_inner(args) {
        Ok(all_ok) => i32::from(!all_ok),
        Err(e) => {
            report(&e);
            1
        }
    }
}

/// Prints an error and its fix on stderr.
pub fn report(e: &Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    if let Some(hint) = e.hint() {
        let _ = writeln!(err, "  help: {hint}");
    }
}

fn run_inner(args: &Args) -> Result<bool, Error> {
    // Bad names fail before anything is built, and so does a missing engine.
    let (tags, pushes) = plan::references(args)?;
    for reference in &pushes {
        registry::Target::from_reference(reference, &args.insecure_registries)?;
    }
    if !tags.is_empty() {
        sink::daemon::ping().map_err(sink::Error::from)?;
    }
    build::ensure_target(&args.target, args.quiet)?;
    // Start last time's build for this command line while cargo metadata runs.
    let guess = speculate::recall(args).and_then(|spec| Running::spawn(&spec).ok());
    let ws = Workspace::load(&LoadOptions {
        manifest_path: args.manifest_path.clone(),
        locked: args.locked,
        frozen: args.frozen,
        offline: args.offline,
    })
    .map_err(plan::Error::from)?;
    let plan = plan::resolve(args, &ws)?;
    speculate::remember(args, &plan.build);
    let running = match guess {
        Some(guess) if guess.spec() == &plan.build => guess,
        Some(wrong) => {
            wrong.discard();
            Running::spawn(&plan.build)?
        }
        None => Running::spawn(&plan.build)?,
    };
    if args.verbose > 0 {
        eprintln!("running {:?}", build::cargo_command(&plan.build));
    }
    running.show_output();
    let binary = running.finish()?;
    elf::check_static(&binary)?;
    let image = assemble(&plan, &binary, args.quiet)?;
    Ok(publish(&plan, &image, args))
}

/// Builds the image once: the binary's layer (cached by content) and the config.
fn assemble(plan: &Plan, binary: &std::path::Path, quiet: bool) -> Result<Image, Error> {
    let bin = &plan.build.bin;
    let assemble_err = |source| Error::Assemble {
        binary: binary.to_path_buf(),
        source,
    };
    let entry = Entry::file(bin, binary.to_path_buf(), 0o755).map_err(assemble_err)?;
    let cache = LayerCache::new(plan.target_dir.join("containerize").join("cache"));
    let spinner = progress_spinner(quiet, &format!("assembling the image of {bin}"));
    let layer = cache
        .layer(
            Contents::new(vec![entry]),
            Compressor::default(),
            format!("COPY {bin} /{bin} # cargo containerize"),
        )
        .map_err(assemble_err)?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    Ok(Image::assemble(
        plan.platform.clone(),
        &plan.run,
        vec![layer],
    ))
}

fn progress_spinner(quiet: bool, message: &str) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
}

/// Publishes to every sink; prints one stdout line per result. True when all succeeded.
fn publish(plan: &Plan, image: &Image, args: &Args) -> bool {
    let mut all_ok = true;
    let mut out = std::io::stdout().lock();
    for spec in &plan.sinks {
        let result: Result<Vec<String>, Error> = match spec {
            SinkSpec::Registry { references } => push(image, references, args),
            local => sink::publish_local(local, image).map_err(Error::from),
        };
        match result {
            Ok(lines) => {
                for line in lines {
                    let _ = writeln!(out, "{line}");
                }
                let _ = out.flush();
                if let SinkSpec::Layout {
                    dir,
                    ref_names,
                    default: true,
                } = spec
                {
                    if !args.quiet {
                        let d = dir.display();
                        let r = &ref_names[0];
                        eprintln!(
                            "wrote an OCI image layout to {d} (no --tag, --tarball, --push or --output given)\n  \
                             load it: skopeo copy oci:{d}:{r} docker-daemon:{}:{r}, or rerun with --tag NAME\n  \
                             push it: cargo containerize --push REGISTRY/REPO",
                            plan.build.bin
                        );
                    }
                }
            }
            Err(e) => {
                report(&e);
                all_ok = false;
            }
        }
    }
    all_ok
}

/// Pushes to every reference; one line per reference, `REGISTRY/REPO@sha256:...`.
fn push(
    image: &Image,
    references: &[crate::reference::Reference],
    args: &Args,
) -> Result<Vec<String>, Error> {
    let opts = registry::PushOptions {
        insecure_registries: args.insecure_registries.clone(),
        ca_certs: args.ca_certs.clone(),
        credentials: cli_credentials(args)?,
        verbose: args.verbose > 0,
    };
    let progress = Progress::new(args.quiet);
    let results = registry::push_blocking(image, references, &opts, &progress);
    let mut lines = Vec::new();
    let mut first_error = None;
    for (reference, result) in references.iter().zip(results) {
        match result {
            Ok(digest) => lines.push(format!("{}@{digest}", reference.name())),
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(e) => report(&Error::Registry(e)),
        }
    }
    // Successful references are still reported before the failure.
    if let Some(e) = first_error {
        let mut out = std::io::stdout().lock();
        for line in &lines {
            let _ = writeln!(out, "{line}");
        }
        return Err(Error::Registry(e));
    }
    Ok(lines)
}

/// `--username` with `--password-stdin`: the secret is read from standard input.
fn cli_credentials(args: &Args) -> Result<Option<registry::Credentials>, Error> {
    let Some(username) = &args.username else {
        return Ok(None);
    };
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|source| Error::Stdin { source })?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    Ok(Some(registry::Credentials::basic(
        username.clone(),
        password,
    )))
}
