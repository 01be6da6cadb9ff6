//! Publishes the image, assembled once (`crate::assemble`), to every sink, printing one
//! stdout line per result and each failure with its fix.

use crate::assemble::{self, compress_all, compress_with_head_start, layer_contents, usable_cache, HeadStart};
use crate::build::Built;
use crate::error::Error;
use crate::fsutil;
use crate::image::growing::Growth;
use crate::image::index::Index;
use crate::image::layer::{Compressor, Contents, Layer};
use crate::image::parent::Parent;
use crate::image::referrer::Referrer;
use crate::image::{Artifact, Image};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::redact::redact;
use crate::reference::Reference;
use crate::registry::{self, PushOptions};
use crate::results::{Published, Results};
use crate::sbom::{Attachments, Documents};
use crate::sink;
use crate::sink::SinkSpec;
use std::io::{IsTerminal, Write};

/// What every sink shares: the run's push options (which also say how quiet to be, and
/// bound every wait), one progress display, and where result lines go.
struct Ctx<'a> {
    push: &'a PushOptions,
    progress: Progress,
    /// Standard output carries a tar (`--tarball -`): result lines go to stderr.
    results_to_stderr: bool,
    /// What the layer cache knows of file digests, so layouts check their blobs for free.
    memo: crate::image::cache::FileDigests,
    /// The results file's entries.
    results: &'a Results,
    /// The base image (`NAME@DIGEST` of the first platform's), for the results file.
    base: Option<String>,
}

impl<'a> Ctx<'a> {
    fn new(plan: &Plan, push: &'a PushOptions, results: &'a Results, parents: Option<&[Parent]>) -> Ctx<'a> {
        let results_to_stderr =
            plan.sinks.iter().any(|s| matches!(s, SinkSpec::Archive { path, .. } if fsutil::is_stdout_path(path)));
        let memo = assemble::cache(plan).files();
        let base = parents.and_then(|p| p.first()).map(|p| format!("{}@{}", p.name, p.digest));
        Ctx { push, progress: Progress::new(push.quiet), results_to_stderr, memo, results, base }
    }

    /// What the results file says of `artifact` with `referrers`.
    fn published<'b>(&'b self, plan: &'b Plan, artifact: &'b Artifact, referrers: &'b [Referrer]) -> Published<'b> {
        Published {
            artifact,
            referrers,
            package: &plan.builds[0].build.package,
            bin: plan.bin(),
            base: self.base.clone(),
        }
    }
}

/// Publishes to every sink. True when all succeeded.
///
/// The image (or the index of one image per platform) is assembled once. The sinks that
/// take uncompressed layers (a Docker engine) get it before compression, loaded while the
/// layers compress for the others, and a run with only those never compresses. With
/// several platforms, the engine and `--tarball` get the load platform's image.
pub(crate) fn assemble_and_publish(
    plan: &Plan,
    built: &[Built],
    push: &PushOptions,
    parents: Option<&[Parent]>,
    docs: &Documents,
    results: &Results,
) -> Result<bool, Error> {
    let parent_of = |i: usize| parents.map(|p| &p[i]);
    // Local sinks need the base's layers themselves; a registry may not (it mounts them,
    // or has them), so a push fetches only what it must.
    let local = plan.sinks.iter().any(|s| !matches!(s, SinkSpec::Registry { .. }));
    if let (Some(parents), true) = (parents, local) {
        let blobs: Vec<&crate::image::blob::Blob> = parents.iter().flat_map(Parent::blobs).collect();
        crate::base::fetch::missing(&blobs, push)?;
    }
    let ctx = Ctx::new(plan, push, results, parents);
    let ctx = &ctx;
    let (cache, _scratch) =
        usable_cache(plan).map_err(|source| Error::Assemble { binary: built[0].executable.clone(), source })?;
    cache.sweep();
    let mut layer_lists = Vec::new();
    for (i, (pb, b)) in plan.builds.iter().zip(built).enumerate() {
        let assemble_err = |source| Error::Assemble { binary: b.executable.clone(), source };
        let base_has_ca = |p: &Parent| -> Result<bool, Error> {
            // A base whose files cannot be read gets the bundle: one too many is harmless.
            let files = crate::base::fit::files_of(p, push)?;
            Ok(files.is_some_and(|f| f.has_file(crate::image::base::CA_BUNDLE_PATH)))
        };
        layer_lists.push(layer_contents(plan, pb, b, &cache, parent_of(i), base_has_ca).map_err(|e| match e {
            assemble::LayersError::Io(e) => assemble_err(e),
            assemble::LayersError::Base(e) => e,
            assemble::LayersError::Include(e) => crate::plan::Error::Include { message: e.to_string() }.into(),
        })?);
    }
    let ca_added: Vec<bool> =
        layer_lists.iter().map(|l| l.iter().any(|(c, _)| c.has(crate::image::base::CA_BUNDLE_PATH))).collect();
    let assemble_err = |source| Error::Assemble { binary: built[0].executable.clone(), source };
    let attach = |artifact: &Artifact| docs.attachments(plan, artifact, parents, &ca_added).map_err(assemble_err);
    // The sinks that take our layers uncompressed (a Docker engine) get the image at once,
    // while the others' layers compress; a run with only those never compresses. Otherwise
    // the layers are compressed as they are listed, and one image's new binary layer is
    // uploaded to the first registry meanwhile (the head start).
    let (early, late): (Vec<&SinkSpec>, Vec<&SinkSpec>) = plan.sinks.iter().partition(|s| s.takes_uncompressed());
    let lazy = !early.is_empty();
    let several = plan.builds.len() > 1;
    let (growth, rx) = Growth::new();
    let mut rx = Some(rx);
    std::thread::scope(|scope| {
        let mut head_start = None;
        let what = if several { format!("{} platforms", plan.builds.len()) } else { plan.bin().to_string() };
        let spinner = if lazy { None } else { spinner(push.quiet, &format!("compressing the layers of {what}")) };
        let mut images = Vec::new();
        for (i, (pb, layers)) in plan.builds.iter().zip(layer_lists).enumerate() {
            let layers = match (lazy, several, rx.take()) {
                (true, _, _) => diffs(&cache, layers),
                (false, false, Some(rx)) => {
                    let (layers, started) =
                        compress_with_head_start(scope, plan, &cache, layers, ctx.push, &ctx.progress, &growth, rx);
                    head_start = started;
                    layers
                }
                (false, _, _) => compress_all(&cache, layers),
            };
            images.push(Image::assemble_on(
                pb.platform.clone(),
                &plan.image.run,
                layers.map_err(assemble_err)?,
                parent_of(i),
            ));
        }
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        let artifact = match images.len() {
            1 => Artifact::Image(images.pop().expect("one image")),
            _ => Artifact::Index(Index::assemble(images)),
        };
        let artifact = &artifact;
        let mut all_ok = true;
        std::thread::scope(|inner| {
            let compressing = (lazy && !late.is_empty()).then(|| inner.spawn(|| artifact.manifest().map(drop)));
            for spec in &early {
                all_ok &= publish(spec, plan, artifact, &Attachments::default(), ctx);
            }
            compressing.map_or(Ok(()), |h| h.join().expect("compression does not panic")).map_err(assemble_err)
        })?;
        if !late.is_empty() {
            all_ok &= publish_all(plan, &late, artifact, &attach(artifact)?, ctx, head_start);
        }
        Ok(all_ok)
    })
}

/// Our layers, uncompressed: their diff_ids from the cache (hashing a tar it lacks), each
/// compressed when a sink first needs it.
fn diffs(cache: &crate::image::cache::LayerCache, layers: Vec<(Contents, String)>) -> std::io::Result<Vec<Layer>> {
    layers.into_iter().map(|(contents, created_by)| cache.diff(contents, Compressor::default(), created_by)).collect()
}

/// Publishes `artifact` to `sinks` in the plan's order (local sinks come first, so none
/// waits for a registry); the first push waits for the head-start upload, if any.
fn publish_all(
    plan: &Plan,
    sinks: &[&SinkSpec],
    artifact: &Artifact,
    attachments: &Attachments,
    ctx: &Ctx,
    mut head_start: Option<HeadStart>,
) -> bool {
    let mut all_ok = true;
    for spec in sinks {
        if let (SinkSpec::Registry { .. }, Some(handle)) = (spec, head_start.take()) {
            let outcome = handle.join().unwrap_or(Ok(None));
            if let (Err(e), true) = (outcome, ctx.push.verbose) {
                let e = redact(&e.to_string());
                crate::shell::note(format_args!(
                    "the upload during compression did not finish ({e}); the push uploads the layer"
                ));
            }
        }
        all_ok &= publish(spec, plan, artifact, attachments, ctx);
    }
    all_ok
}

/// The image that a Docker engine or a tarball gets.
fn load_image<'a>(plan: &Plan, artifact: &'a Artifact) -> &'a Image {
    match (artifact, &plan.load_platform) {
        (Artifact::Index(index), Some(platform)) => index.image_for(platform).expect("the plan checked it was built"),
        _ => &artifact.images()[0],
    }
}

/// Publishes to one sink, with the documents it holds; true when it succeeded.
fn publish(spec: &SinkSpec, plan: &Plan, artifact: &Artifact, attachments: &Attachments, ctx: &Ctx) -> bool {
    let push = ctx.push;
    let image = load_image(plan, artifact);
    if let (Artifact::Index(_), SinkSpec::Daemon { .. } | SinkSpec::Archive { .. }) = (artifact, spec) {
        crate::shell::note(format_args!(
            "{} gets the {} image only: a Docker 20.10 engine cannot load an index (choose with --load-platform)",
            if matches!(spec, SinkSpec::Daemon { .. }) { "the Docker engine" } else { "the tarball" },
            image.platform
        ));
    }
    let result = match spec {
        SinkSpec::Registry { references } => {
            push_to(plan, artifact, references, &attachments.for_destination(&plan.documents, true), ctx)
        }
        SinkSpec::Daemon { tags } => load(plan, image, tags, ctx),
        SinkSpec::Layout { dir, ref_names, default } => {
            let to_layout = attachments.for_destination(&plan.documents, false);
            let written = sink::write_layout(dir, artifact, &to_layout, ref_names, *default, &ctx.memo);
            let shown = dir.display().to_string();
            match &written {
                Ok(digest) => {
                    let full = format!("oci:{shown}:{}@{digest}", ref_names[0]);
                    ctx.results.ok("layout", &shown, &full, &ctx.published(plan, artifact, &to_layout));
                }
                Err(e) => ctx.results.failed("layout", &shown, &e.to_string()),
            }
            written.map(|digest| vec![format!("{shown} {digest}")]).map_err(Error::from)
        }
        SinkSpec::Archive { path, tags, ref_names } => {
            let written = sink::write_archive(path, image, tags, ref_names, &push.tuning);
            let shown = path.display().to_string();
            match &written {
                Ok(digest) => {
                    let full = format!("oci-archive:{shown}@{digest}");
                    let one = Artifact::Image(image.clone());
                    ctx.results.ok("tarball", &shown, &full, &ctx.published(plan, &one, &[]));
                }
                Err(e) => ctx.results.failed("tarball", &shown, &e.to_string()),
            }
            written.map(|digest| vec![format!("{shown} {digest}")]).map_err(Error::from)
        }
    };
    let ok = print_result(result, ctx);
    if let (true, SinkSpec::Layout { dir, ref_names, default: true }) = (ok, spec) {
        let d = dir.display();
        let r = &ref_names[0];
        crate::shell::note(format_args!(
            "wrote an OCI image layout to {d} (no --tag, --tarball, --push or --output given)\n  \
             load it: skopeo copy oci:{d}:{r} docker-daemon:{}:{r}, or rerun with --tag NAME\n  \
             push it: cargo containerize --push REGISTRY/REPO",
            plan.bin()
        ));
    }
    ok
}

/// Loads into the engine; one `NAME:TAG sha256:<image ID>` line per tag.
fn load(plan: &Plan, image: &Image, tags: &[Reference], ctx: &Ctx) -> Result<Vec<String>, Error> {
    let loaded = sink::daemon::load(image, tags, &ctx.push.tuning, ctx.push.quiet);
    for t in tags {
        let name = t.with_default_tag();
        match &loaded {
            Ok(()) => ctx.results.engine(&name, image.id(), &plan.builds[0].build.package, plan.bin()),
            Err(e) => ctx.results.failed("engine", &name, &e.to_string()),
        }
    }
    loaded.map_err(|e| Error::Sink(e.into()))?;
    Ok(tags.iter().map(|t| format!("{} {}", t.with_default_tag(), image.id())).collect())
}

/// Pushes to every reference; one line per reference, `REGISTRY/REPO@sha256:...`.
fn push_to(
    plan: &Plan,
    artifact: &Artifact,
    references: &[Reference],
    referrers: &[Referrer],
    ctx: &Ctx,
) -> Result<Vec<String>, Error> {
    // A registry can take a base's blob only by upload when the base comes from another
    // registry: such blobs are fetched into the store first.
    let elsewhere = |host: &str| references.iter().any(|r| r.registry.as_deref() != Some(host));
    let foreign: Vec<&crate::image::blob::Blob> = artifact
        .images()
        .iter()
        .flat_map(|i| i.layers.iter().filter_map(Layer::held_blob))
        .filter(|b| b.held_at().is_some_and(|(_, origin)| origin.is_some_and(|o| elsewhere(&o.registry))))
        .collect();
    if let Err(e) = crate::base::fetch::missing(&foreign, ctx.push) {
        for reference in references {
            ctx.results.failed("registry", &reference.with_default_tag(), &e.to_string());
        }
        return Err(e.into());
    }
    let results = registry::push_artifact_blocking(artifact, references, referrers, ctx.push, &ctx.progress);
    let mut lines = Vec::new();
    let mut first_error = None;
    for (reference, result) in references.iter().zip(results) {
        let given = reference.with_default_tag();
        match &result {
            Ok(pushed) => {
                let full = format!("{given}@{}", pushed.digest);
                // Documents that did not attach are not listed.
                let listed = if pushed.documents { referrers } else { &[] };
                ctx.results.ok("registry", &given, &full, &ctx.published(plan, artifact, listed));
            }
            Err(e) => ctx.results.failed("registry", &given, &e.to_string()),
        }
        match result {
            Ok(pushed) => lines.push(format!("{}@{}", reference.name(), pushed.digest)),
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(e) => report(&Error::Registry(Box::new(e))),
        }
    }
    // Successful references are still reported before the failure.
    if let Some(e) = first_error {
        print_result(Ok(lines), ctx);
        return Err(Error::Registry(Box::new(e)));
    }
    Ok(lines)
}

fn spinner(quiet: bool, message: &str) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
}

/// Prints a sink's result lines on stdout (on stderr when stdout carries a tar), or its
/// error on stderr; true on success.
fn print_result(result: Result<Vec<String>, Error>, ctx: &Ctx) -> bool {
    match result {
        Ok(lines) => {
            let mut out: Box<dyn Write> = if ctx.results_to_stderr {
                Box::new(std::io::stderr().lock())
            } else {
                Box::new(std::io::stdout().lock())
            };
            // A result that cannot be written (stdout closed, a full disk) is a failure.
            let written = lines.iter().try_for_each(|line| writeln!(out, "{line}")).and_then(|()| out.flush());
            if let Err(e) = written {
                crate::shell::error(
                    format_args!(
                        "cannot write the result to {}: {e}",
                        if ctx.results_to_stderr { "stderr" } else { "standard output" }
                    ),
                    None,
                );
                return false;
            }
            true
        }
        Err(e) => {
            report(&e);
            false
        }
    }
}

/// Prints an error and its fix on stderr, with every known secret redacted: messages may
/// quote a server.
pub(crate) fn report(e: &Error) {
    crate::shell::error(redact(&e.to_string()), e.hint().map(|h| redact(&h)).as_deref());
}
