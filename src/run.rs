//! The whole job: plan, build, assemble once, publish to every sink.

use crate::build::{self, Built, Running};
use crate::cli::Args;
use crate::elf;
use crate::error::Error;
use crate::image;
use crate::image::cache::LayerCache;
use crate::image::layer::{Compressor, Contents, Entry, Layer};
use crate::image::{Image, Unpacked};
use crate::plan::{self, Plan, SinkSpec};
use crate::progress::Progress;
use crate::registry;
use crate::sink;
use crate::spec;
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
    for push in &pushes {
        if let plan::RefArg::Full(reference) = push {
            registry::Target::from_reference(reference, &args.insecure_registries)?;
        }
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
    let built = running.finish()?;
    elf::check_static(&built.executable)?;
    Ok(assemble_and_publish(&plan, &built, args)?)
}

/// The image's layers, bottom up: the base (users, /tmp, CA bundle), the included files if
/// any, and the binary. Each is cached on its own, so an unchanged base is shared.
fn layer_contents(plan: &Plan, built: &Built, cache: &LayerCache) -> std::io::Result<Vec<(Contents, String)>> {
    let bin = &plan.build.bin;
    let mut base = plan.image.base.clone();
    base.ca_bundle = spec::wants_ca_bundle(plan.image.ca_certificates, &built.crates);
    let what = if base.ca_bundle { "users, /tmp, CA certificates" } else { "users, /tmp" };
    let mut layers = vec![(image::base::contents(&base), format!("cargo containerize: base ({what})"))];
    if !plan.image.includes.is_empty() {
        let listed: Vec<String> =
            plan.image.includes.iter().map(|i| format!("{} {}", i.from.display(), i.to)).collect();
        let contents = image::include::contents(&plan.image.includes)?;
        layers.push((contents, format!("COPY {} # cargo containerize include", listed.join(", "))));
    }
    let (digest, size) = cache.file_digest(&built.executable)?;
    let entry = Entry::file_with_digest(bin, built.executable.clone(), 0o755, digest, size);
    layers.push((Contents::new(vec![entry]), format!("COPY {bin} /{bin} # cargo containerize")));
    Ok(layers)
}

/// Assembles the image once and publishes it to every sink, printing one stdout line per
/// result. A Docker engine gets the uncompressed image, loaded while the layers compress
/// for the other sinks; a run with only `--tag` never compresses. True when all succeeded.
fn assemble_and_publish(plan: &Plan, built: &Built, args: &Args) -> Result<bool, Error> {
    let assemble_err = |source| Error::Assemble { binary: built.executable.clone(), source };
    let cache = LayerCache::new(plan.target_dir.join("containerize").join("cache"));
    let layers = layer_contents(plan, built, &cache).map_err(assemble_err)?;
    let compressor = Compressor::default();
    let compress = |layers: Vec<(Contents, String)>| -> std::io::Result<Vec<Layer>> {
        layers.into_iter().map(|(contents, created_by)| cache.layer(contents, compressor, created_by)).collect()
    };
    let daemon_tags = plan.sinks.iter().find_map(|s| match s {
        SinkSpec::Daemon { tags } => Some(tags),
        _ => None,
    });
    let others: Vec<&SinkSpec> = plan.sinks.iter().filter(|s| !matches!(s, SinkSpec::Daemon { .. })).collect();
    let mut all_ok = true;
    let Some(tags) = daemon_tags else {
        let spinner = progress_spinner(args.quiet, &format!("compressing the layers of {}", plan.build.bin));
        let layers = compress(layers).map_err(assemble_err)?;
        spinner.map(|s| s.finish_and_clear());
        let image = Image::assemble(plan.platform.clone(), &plan.image.run, layers);
        for spec in others {
            all_ok &= publish(spec, &image, plan, args);
        }
        return Ok(all_ok);
    };
    let diffs = layers
        .iter()
        .map(|(contents, created_by)| cache.diff(contents.clone(), compressor, created_by.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(assemble_err)?;
    let unpacked = Unpacked::assemble(plan.platform.clone(), &plan.image.run, diffs);
    std::thread::scope(|scope| {
        let compressing = (!others.is_empty())
            .then(|| scope.spawn(|| compress(layers).map(|layers| Image::from_unpacked(&unpacked, layers))));
        let loaded = sink::daemon::load(&unpacked, tags)
            .map(|()| tags.iter().map(|t| format!("{} {}", t.with_default_tag(), unpacked.id())).collect())
            .map_err(|e| Error::Sink(e.into()));
        all_ok &= print_result(loaded);
        if let Some(handle) = compressing {
            let image = handle.join().expect("compression does not panic").map_err(assemble_err)?;
            for spec in others {
                all_ok &= publish(spec, &image, plan, args);
            }
        }
        Ok(all_ok)
    })
}

fn progress_spinner(quiet: bool, message: &str) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
}

/// Publishes to one sink other than the engine; true when it succeeded.
fn publish(spec: &SinkSpec, image: &Image, plan: &Plan, args: &Args) -> bool {
    let result = match spec {
        SinkSpec::Registry { references } => push(image, references, args),
        local => sink::publish_local(local, image).map_err(Error::from),
    };
    let ok = print_result(result);
    if let (true, SinkSpec::Layout { dir, ref_names, default: true }) = (ok, spec) {
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
    ok
}

/// Prints a sink's result lines on stdout, or its error on stderr; true on success.
fn print_result(result: Result<Vec<String>, Error>) -> bool {
    match result {
        Ok(lines) => {
            let mut out = std::io::stdout().lock();
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
            true
        }
        Err(e) => {
            report(&e);
            false
        }
    }
}

/// Pushes to every reference; one line per reference, `REGISTRY/REPO@sha256:...`.
fn push(image: &Image, references: &[crate::reference::Reference], args: &Args) -> Result<Vec<String>, Error> {
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
    std::io::stdin().read_to_string(&mut password).map_err(|source| Error::Stdin { source })?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    Ok(Some(registry::Credentials::basic(username.clone(), password)))
}
