//! Assembles the image once from the built binaries and publishes it to every sink,
//! printing one stdout line per result.

use crate::build::Built;
use crate::error::Error;
use crate::image::cache::LayerCache;
use crate::image::growing::Growth;
use crate::image::index::Index;
use crate::image::layer::{Compressor, Contents, Entry, Layer};
use crate::image::{self, Artifact, Image, Unpacked};
use crate::plan::{Plan, PlatformBuild, SinkSpec};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::{registry, sink, spec};
use std::io::{IsTerminal, Read, Write};

/// What the command line says about pushing.
pub(crate) struct PushSettings<'a> {
    pub(crate) insecure_registries: &'a [String],
    pub(crate) ca_certs: &'a [std::path::PathBuf],
    /// From `--username` with `--password-stdin`, read before the build (see [`cli_credentials`]).
    pub(crate) credentials: Option<registry::Credentials>,
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
}

/// What every sink shares: the command line's push settings, the registry options (read
/// once: the password may come from standard input), and one progress display.
struct Ctx<'a> {
    push: &'a PushSettings<'a>,
    opts: Option<registry::PushOptions>,
    progress: Progress,
}

impl<'a> Ctx<'a> {
    fn new(plan: &Plan, push: &'a PushSettings<'a>) -> Ctx<'a> {
        let pushes = plan.sinks.iter().any(|s| matches!(s, SinkSpec::Registry { .. }));
        let opts = if pushes {
            Some(registry::PushOptions {
                insecure_registries: push.insecure_registries.to_vec(),
                ca_certs: push.ca_certs.to_vec(),
                credentials: push.credentials.clone(),
                verbose: push.verbose,
            })
        } else {
            None
        };
        Ctx { push, opts, progress: Progress::new(push.quiet) }
    }
}

/// Publishes to every sink. True when all succeeded.
///
/// One platform: a Docker engine gets the uncompressed image, loaded while the layers
/// compress for the other sinks, and a run with only `--tag` never compresses. Several:
/// every image is compressed, listed in an index, and the engine and `--tarball` get the
/// load platform's image.
pub(crate) fn assemble_and_publish(plan: &Plan, built: &[Built], push: &PushSettings) -> Result<bool, Error> {
    let ctx = Ctx::new(plan, push);
    let ctx = &ctx;
    let cache = LayerCache::new(plan.target_dir.join("containerize").join("cache"));
    let mut layer_lists = Vec::new();
    for (pb, b) in plan.builds.iter().zip(built) {
        let assemble_err = |source| Error::Assemble { binary: b.executable.clone(), source };
        layer_lists.push(layer_contents(plan, pb, b, &cache).map_err(assemble_err)?);
    }
    let compress = |layers| compress_all(&cache, layers);
    let assemble_err = |source| Error::Assemble { binary: built[0].executable.clone(), source };
    if plan.builds.len() > 1 {
        let spinner = spinner(push.quiet, &format!("compressing the layers of {} platforms", plan.builds.len()));
        let mut images = Vec::new();
        for (pb, layers) in plan.builds.iter().zip(layer_lists) {
            images.push(Image::assemble(pb.platform.clone(), &plan.image.run, compress(layers).map_err(assemble_err)?));
        }
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        let artifact = Artifact::Index(Index::assemble(images));
        return Ok(publish_all(plan, &artifact, ctx));
    }
    let layers = layer_lists.pop().expect("one platform");
    let daemon_tags = plan.sinks.iter().find_map(|s| match s {
        SinkSpec::Daemon { tags } => Some(tags),
        _ => None,
    });
    let others: Vec<&SinkSpec> = plan.sinks.iter().filter(|s| !matches!(s, SinkSpec::Daemon { .. })).collect();
    let Some(tags) = daemon_tags else {
        let spinner = spinner(push.quiet, &format!("compressing the layers of {}", plan.bin()));
        let layers = compress_with_head_start(plan, &cache, layers, ctx).map_err(assemble_err)?;
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        let artifact = Artifact::Image(Image::assemble(plan.builds[0].platform.clone(), &plan.image.run, layers));
        return Ok(publish_all(plan, &artifact, ctx));
    };
    let diffs = layers
        .iter()
        .map(|(contents, created_by)| cache.diff(contents.clone(), Compressor::default(), created_by.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(assemble_err)?;
    let unpacked = Unpacked::assemble(plan.builds[0].platform.clone(), &plan.image.run, diffs);
    std::thread::scope(|scope| {
        let compressing = (!others.is_empty())
            .then(|| scope.spawn(|| compress(layers).map(|layers| Image::from_unpacked(&unpacked, layers))));
        let mut all_ok = print_result(load(&unpacked, tags));
        if let Some(handle) = compressing {
            let artifact = Artifact::Image(handle.join().expect("compression does not panic").map_err(assemble_err)?);
            for spec in others {
                all_ok &= publish(spec, plan, &artifact, ctx);
            }
        }
        Ok(all_ok)
    })
}

/// The image's layers, bottom up: the base (users, /tmp, CA bundle), the included files if
/// any, and the binary. Each is cached on its own, so an unchanged base is shared, also
/// across platforms.
fn layer_contents(
    plan: &Plan,
    pb: &PlatformBuild,
    built: &Built,
    cache: &LayerCache,
) -> std::io::Result<Vec<(Contents, String)>> {
    let bin = &pb.build.bin;
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

/// Publishes `artifact` to every sink in the plan's order.
fn publish_all(plan: &Plan, artifact: &Artifact, ctx: &Ctx) -> bool {
    let mut all_ok = true;
    for spec in &plan.sinks {
        all_ok &= publish(spec, plan, artifact, ctx);
    }
    all_ok
}

/// Compressed layers from the cache, compressing those it lacks.
fn compress_all(cache: &LayerCache, layers: Vec<(Contents, String)>) -> std::io::Result<Vec<Layer>> {
    layers.into_iter().map(|(contents, created_by)| cache.layer(contents, Compressor::default(), created_by)).collect()
}

/// Compresses the layers; when the image goes to a registry and the binary's layer is new,
/// uploads that layer to the first registry while it is being compressed
/// (`registry::upload_growing_blocking`). The push then finds it there. Any failure of the
/// head start only costs time: the push uploads what is missing.
fn compress_with_head_start(
    plan: &Plan,
    cache: &LayerCache,
    layers: Vec<(Contents, String)>,
    ctx: &Ctx,
) -> std::io::Result<Vec<Layer>> {
    let first_push = plan.sinks.iter().find_map(|s| match s {
        SinkSpec::Registry { references } => references.first(),
        _ => None,
    });
    let new_binary = layers.last().is_some_and(|(c, _)| !cache.has_layer(c, Compressor::default()));
    let (Some(reference), Some(opts), true) = (first_push, &ctx.opts, new_binary) else {
        return compress_all(cache, layers);
    };
    let (growth, rx) = Growth::new();
    let count = layers.len();
    std::thread::scope(|scope| {
        let uploader = scope.spawn(|| registry::upload_growing_blocking(reference, opts, &growth, rx, &ctx.progress));
        let compressed: std::io::Result<Vec<Layer>> = layers
            .into_iter()
            .enumerate()
            .map(|(i, (c, created_by))| {
                let watch = (i + 1 == count).then_some(&growth);
                cache.layer_growing(c, Compressor::default(), created_by, watch)
            })
            .collect();
        growth.end();
        if let Ok(Err(e)) = uploader.join() {
            if ctx.push.verbose {
                eprintln!("note: the upload during compression did not finish ({e}); the push uploads the layer");
            }
        }
        compressed
    })
}

/// The image that a Docker engine or a tarball gets.
fn load_image<'a>(plan: &Plan, artifact: &'a Artifact) -> &'a Image {
    match (artifact, &plan.load_platform) {
        (Artifact::Index(index), Some(platform)) => index.image_for(platform).expect("the plan checked it was built"),
        _ => &artifact.images()[0],
    }
}

/// Publishes to one sink; true when it succeeded.
fn publish(spec: &SinkSpec, plan: &Plan, artifact: &Artifact, ctx: &Ctx) -> bool {
    let push = ctx.push;
    let image = load_image(plan, artifact);
    if let (Artifact::Index(_), SinkSpec::Daemon { .. } | SinkSpec::Archive { .. }) = (artifact, spec) {
        if !push.quiet {
            eprintln!(
                "note: {} gets the {} image only: a Docker 20.10 engine cannot load an index (choose with --load-platform)",
                if matches!(spec, SinkSpec::Daemon { .. }) { "the Docker engine" } else { "the tarball" },
                image.platform
            );
        }
    }
    let result = match spec {
        SinkSpec::Registry { references } => push_to(artifact, references, ctx),
        SinkSpec::Daemon { tags } => load(&image.unpacked(), tags),
        local => sink::publish_local(local, artifact, image).map_err(Error::from),
    };
    let ok = print_result(result);
    if let (true, SinkSpec::Layout { dir, ref_names, default: true }) = (ok, spec) {
        if !push.quiet {
            let d = dir.display();
            let r = &ref_names[0];
            eprintln!(
                "wrote an OCI image layout to {d} (no --tag, --tarball, --push or --output given)\n  \
                 load it: skopeo copy oci:{d}:{r} docker-daemon:{}:{r}, or rerun with --tag NAME\n  \
                 push it: cargo containerize --push REGISTRY/REPO",
                plan.bin()
            );
        }
    }
    ok
}

/// Loads into the engine; one `NAME:TAG sha256:<image ID>` line per tag.
fn load(unpacked: &Unpacked, tags: &[Reference]) -> Result<Vec<String>, Error> {
    sink::daemon::load(unpacked, tags).map_err(|e| Error::Sink(e.into()))?;
    Ok(tags.iter().map(|t| format!("{} {}", t.with_default_tag(), unpacked.id())).collect())
}

/// Pushes to every reference; one line per reference, `REGISTRY/REPO@sha256:...`.
fn push_to(artifact: &Artifact, references: &[Reference], ctx: &Ctx) -> Result<Vec<String>, Error> {
    let opts = ctx.opts.as_ref().expect("options are made when the plan pushes");
    let results = registry::push_artifact_blocking(artifact, references, opts, &ctx.progress);
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
        print_result(Ok(lines));
        return Err(Error::Registry(e));
    }
    Ok(lines)
}

/// `--username` with `--password-stdin`: the secret is read from standard input.
pub(crate) fn cli_credentials(username: Option<&str>) -> Result<Option<registry::Credentials>, Error> {
    let Some(username) = username else { return Ok(None) };
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).map_err(|source| Error::Stdin { source })?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    Ok(Some(registry::Credentials::basic(username, password)))
}

fn spinner(quiet: bool, message: &str) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
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

/// Prints an error and its fix on stderr.
pub(crate) fn report(e: &Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    if let Some(hint) = e.hint() {
        let _ = writeln!(err, "  help: {hint}");
    }
}
