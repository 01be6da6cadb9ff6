//! Publishes the image, assembled once (`crate::assemble`), to every sink (`crate::sink`),
//! and observes what each got: one stdout line per result, one results-file entry per
//! destination, each failure with its fix.

use crate::assemble::{self, compress_all, compress_with_head_start, layer_contents, usable_cache, HeadStart};
use crate::build::Built;
use crate::error::Error;
use crate::image::growing::Growth;
use crate::image::index::Index;
use crate::image::layer::{Compressor, Contents, Layer};
use crate::image::parent::Parent;
use crate::image::{Artifact, Image};
use crate::plan::{ImageTarget, Plan};
use crate::progress::Progress;
use crate::redact::redact;
use crate::registry::PushOptions;
use crate::results::{Place, Published, Results};
use crate::sbom::{Attachments, Documents};
use crate::sink::{self, Keeps, Outcome, Sink, SinkSpec};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The one observer of every sink: it turns each outcome into the stdout line and the
/// results-file entry, and reports each failure once, with its fix.
struct Observer<'a> {
    target: &'a ImageTarget,
    results: &'a Results,
    place: Place,
    /// Where the result lines wait, when images are published concurrently (see [`Output`]).
    hold: Option<&'a Mutex<Vec<String>>>,
    /// Standard output carries a tar (`--tarball -`): result lines go to stderr.
    results_to_stderr: bool,
    /// The base image (`NAME@DIGEST` of the first platform's), for the results file.
    base: Option<String>,
}

impl Observer<'_> {
    /// Records and prints one sink's outcomes: its result lines first, then each of its
    /// failures once. True when every name got the image.
    fn observe(&self, outcomes: Vec<Outcome>) -> bool {
        let (package, bin) = (self.target.package(), self.target.bin());
        let mut lines = Vec::new();
        let mut failures: Vec<Arc<sink::Error>> = Vec::new();
        for outcome in outcomes {
            match outcome.result {
                Ok(got) => {
                    match &got.engine {
                        Some(loaded) => self.results.engine(self.place, &outcome.reference, loaded, package, bin),
                        None => {
                            let published = Published {
                                artifact: &got.artifact,
                                referrers: &got.referrers,
                                package,
                                bin,
                                base: self.base.clone(),
                                types: got.types,
                            };
                            self.results.ok(self.place, outcome.kind, &outcome.reference, &got.full, &published);
                        }
                    }
                    lines.push(got.line);
                }
                Err(e) => {
                    self.results.failed(self.place, outcome.kind, &outcome.reference, &e.to_string());
                    if !failures.iter().any(|f| Arc::ptr_eq(f, &e)) {
                        failures.push(e);
                    }
                }
            }
        }
        let printed = self.print(&lines);
        for e in &failures {
            crate::shell::error(redact(&e.to_string()), e.hint().map(|h| redact(&h)).as_deref());
        }
        printed && failures.is_empty()
    }

    /// Prints result lines (or holds them, see [`Output`]); false if they cannot be written.
    fn print(&self, lines: &[String]) -> bool {
        match self.hold {
            Some(held) => {
                held.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(lines);
                true
            }
            None => print_results(lines, self.results_to_stderr),
        }
    }
}

/// Prints result lines on stdout (on stderr when stdout carries a tar); a result that
/// cannot be written (stdout closed, a full disk) is a failure.
pub(crate) fn print_results(lines: &[String], to_stderr: bool) -> bool {
    if lines.is_empty() {
        return true;
    }
    let mut out: Box<dyn Write> =
        if to_stderr { Box::new(std::io::stderr().lock()) } else { Box::new(std::io::stdout().lock()) };
    let written = lines.iter().try_for_each(|line| writeln!(out, "{line}")).and_then(|()| out.flush());
    if let Err(e) = written {
        let to = if to_stderr { "stderr" } else { "standard output" };
        crate::shell::error(format_args!("cannot write the result to {to}: {e}"), None);
        return false;
    }
    true
}

/// Where one image's results go: the run's results file (at the image's place in it), its
/// progress display, and, when several images are published at once, the buffer its
/// stdout lines wait in, to be printed in the plan's order.
pub(crate) struct Output<'a> {
    pub(crate) results: &'a Results,
    pub(crate) image: usize,
    pub(crate) hold: Option<&'a Mutex<Vec<String>>>,
    pub(crate) progress: &'a Progress,
}

/// Publishes to every sink. True when all succeeded.
///
/// The image (or the index of one image per platform) is assembled once. The sinks that
/// take uncompressed layers (a Docker engine) get it before compression, loaded while the
/// layers compress for the others, and a run with only those never compresses. With
/// several platforms, the engine and `--tarball` get the load platform's image.
pub(crate) fn assemble_and_publish(
    plan: &Plan,
    target: &ImageTarget,
    built: &[Built],
    push: &PushOptions,
    parents: Option<&[Parent]>,
    docs: &Documents,
    out: &Output,
) -> Result<(bool, Artifact), Error> {
    let parent_of = |i: usize| parents.map(|p| &p[i]);
    // Local sinks need the base's layers themselves; a registry may not (it mounts them,
    // or has them), so a push fetches only what it must.
    let local = target.bundled.is_some() || target.sinks.iter().any(|s| !matches!(s, SinkSpec::Registry { .. }));
    if let (Some(parents), true) = (parents, local) {
        let blobs: Vec<&crate::image::blob::Blob> = parents.iter().flat_map(Parent::blobs).collect();
        crate::base::fetch::missing(&blobs, push)?;
    }
    let results_to_stderr = plan.stdout_taken;
    let base = parents.and_then(|p| p.first()).map(|p| format!("{}@{}", p.name, p.digest));
    let (progress, memo) = (out.progress, assemble::cache(plan).files());
    let place = Place { of_run: false, image: out.image };
    let run = Run {
        cx: sink::Context { push, progress, memo: &memo },
        observer: Observer { target, results: out.results, place, hold: out.hold, results_to_stderr, base },
    };
    let run = &run;
    let (cache, _scratch) =
        usable_cache(plan).map_err(|source| Error::Assemble { binary: built[0].executable.clone(), source })?;
    cache.sweep();
    let mut layer_lists = Vec::new();
    for (i, (pb, b)) in target.builds.iter().zip(built).enumerate() {
        let assemble_err = |source| Error::Assemble { binary: b.executable.clone(), source };
        let base_has_ca = |p: &Parent| -> Result<bool, Error> {
            // A base whose files cannot be read gets the bundle: one too many is harmless.
            let files = crate::base::fit::files_of(p, push)?;
            Ok(files.is_some_and(|f| f.has_file(crate::image::base::CA_BUNDLE_PATH)))
        };
        layer_lists.push(layer_contents(target, pb, b, &cache, parent_of(i), base_has_ca).map_err(|e| match e {
            assemble::LayersError::Io(e) => assemble_err(e),
            assemble::LayersError::Base(e) => e,
            assemble::LayersError::Include(e) => crate::plan::Error::Include { message: e.to_string() }.into(),
        })?);
    }
    let bundle_added: Vec<bool> =
        layer_lists.iter().map(|l| l.iter().any(|(c, _)| c.has(crate::image::base::CA_BUNDLE_PATH))).collect();
    // Mozilla's roots are in every bundle added, unless `ca-certificates = false` left only
    // the extra certificates there.
    let never = target.image.ca_certificates == crate::settings::CaCertificates::Never;
    let ca_added: Vec<bool> = bundle_added.iter().map(|added| *added && !never).collect();
    if bundle_added.contains(&true) {
        let (bin, path) = (target.bin(), crate::image::base::CA_BUNDLE_PATH);
        let extra = target.image.base.extra_ca.len();
        let extra = format!("{extra} certificate{} of extra-ca-certificates", if extra == 1 { "" } else { "s" });
        match (never, target.image.base.extra_ca.is_empty()) {
            (true, _) => crate::shell::note(format_args!(
                "{bin}: the image's CA bundle ({path}) holds the {extra} only (ca-certificates = false leaves \
                 Mozilla's roots out)"
            )),
            (false, true) => {
                let why = crate::spec::ca_bundle_reason(target.image.ca_certificates, &built[0].crates);
                crate::shell::note(format_args!("{bin}: the image gets the CA certificates ({path}), as {why}"))
            }
            (false, false) => crate::shell::note(format_args!(
                "{bin}: the image gets the CA certificates ({path}): Mozilla's roots, and the {extra}"
            )),
        }
    }
    let assemble_err = |source| Error::Assemble { binary: built[0].executable.clone(), source };
    let attach =
        |artifact: &Artifact| docs.attachments(plan, target, artifact, parents, &ca_added).map_err(assemble_err);
    // The sinks that take our layers uncompressed (a Docker engine) get the image at once,
    // while the others' layers compress; a run with only those never compresses. Otherwise
    // the layers are compressed as they are listed, and one image's new binary layer is
    // uploaded to the first registry meanwhile (the head start).
    let sinks: Vec<(&SinkSpec, Box<dyn Sink>)> =
        target.sinks.iter().map(|spec| (spec, sink::open(spec, target.load_platform.as_ref()))).collect();
    let (early, late): (Vec<_>, Vec<_>) = sinks.iter().partition(|(_, sink)| sink.takes_uncompressed());
    let lazy = !early.is_empty();
    let several = target.builds.len() > 1;
    let (growth, rx) = Growth::new();
    let mut rx = Some(rx);
    std::thread::scope(|scope| {
        let mut head_start = None;
        let what = if several { format!("{} platforms", target.builds.len()) } else { target.bin().to_string() };
        let spinner = if lazy { None } else { progress.spinner(format!("compressing the layers of {what}")) };
        let mut images = Vec::new();
        for (i, (pb, layers)) in target.builds.iter().zip(layer_lists).enumerate() {
            let layers = match (lazy, several, rx.take()) {
                (true, _, _) => diffs(&cache, layers),
                (false, false, Some(rx)) => {
                    let (layers, started) =
                        compress_with_head_start(scope, target, &cache, layers, push, progress, &growth, rx);
                    head_start = started;
                    layers
                }
                (false, _, _) => compress_all(&cache, layers),
            };
            images.push(Image::assemble_on(
                pb.platform.clone(),
                &target.image.run,
                layers.map_err(assemble_err)?,
                parent_of(i),
            ));
        }
        drop(spinner);
        for (i, image) in images.iter().enumerate() {
            let name = match several {
                true => format!("{} ({})", target.bin(), image.platform),
                false => target.bin().to_string(),
            };
            crate::shell::status("Assembled", format_args!("{name}: {}", summary(image, parent_of(i))));
        }
        let artifact = match images.len() {
            1 => Artifact::Image(images.pop().expect("one image")),
            _ => Artifact::Index(Index::assemble(images)),
        };
        let artifact = &artifact;
        let mut all_ok = true;
        std::thread::scope(|inner| {
            let compressing = (lazy && !late.is_empty()).then(|| inner.spawn(|| artifact.manifest().map(drop)));
            for (spec, sink) in &early {
                all_ok &= publish(spec, sink.as_ref(), artifact, &Attachments::default(), run);
            }
            compressing.map_or(Ok(()), |h| h.join().expect("compression does not panic")).map_err(assemble_err)
        })?;
        let attachments = match !late.is_empty() || target.sbom_output.is_some() {
            true => attach(artifact)?,
            false => Attachments::default(),
        };
        if let Some(dir) = &target.sbom_output {
            let written = crate::sbom::write_files(dir, target.bin(), artifact, &attachments)
                .map_err(|source| Error::SbomOutput { path: dir.clone(), source })?;
            let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
            crate::shell::status("Wrote", format_args!("the SBOMs of {}: {}", target.bin(), names.join(", ")));
        }
        if !late.is_empty() {
            all_ok &= publish_all(&late, artifact, &attachments, run, head_start);
        }
        Ok((all_ok, artifact.clone()))
    })
}

/// What a user wants to know of an image just assembled, on one line, as Jib names its
/// entrypoint and docker its size: `616 kB, 1 layer, user 65532:65532, cmd /app, ports
/// 8080/tcp, base scratch`. The size is our layers' (their tars); on a base, its layers
/// are counted apart, with their compressed size.
fn summary(image: &Image, parent: Option<&Parent>) -> String {
    let held = parent.map_or(0, |p| p.layers.len());
    let ours = &image.layers[held.min(image.layers.len())..];
    let size: u64 = ours.iter().filter_map(Layer::tar_size).sum();
    let layers = |n: usize| if n == 1 { "1 layer".to_string() } else { format!("{n} layers") };
    let mut parts = vec![match parent {
        None => format!("{}, {}", crate::progress::human(size), layers(ours.len())),
        Some(p) => {
            let base: u64 = p.layers.iter().filter_map(|l| l.held_size()).sum();
            format!(
                "{} in {} on the base's {} ({} compressed)",
                crate::progress::human(size),
                layers(ours.len()),
                p.layers.len(),
                crate::progress::human(base)
            )
        }
    }];
    let config: serde_json::Value =
        serde_json::from_slice(image.config.bytes().unwrap_or_default()).unwrap_or_default();
    let run = &config["config"];
    let user = run["User"].as_str().filter(|u| !u.is_empty()).unwrap_or("root");
    parts.push(format!("user {user}"));
    let words = |key: &str| -> Option<String> {
        let list: Vec<&str> = run[key].as_array()?.iter().filter_map(serde_json::Value::as_str).collect();
        (!list.is_empty()).then(|| list.join(" "))
    };
    if let Some(entrypoint) = words("Entrypoint") {
        parts.push(format!("entrypoint {entrypoint}"));
    }
    if let Some(cmd) = words("Cmd") {
        parts.push(format!("cmd {cmd}"));
    }
    if let Some(ports) = run["ExposedPorts"].as_object().filter(|p| !p.is_empty()) {
        parts.push(format!("ports {}", ports.keys().cloned().collect::<Vec<_>>().join(" ")));
    }
    parts.push(format!("base {}", parent.map_or("scratch", |p| p.name.as_str())));
    parts.join(", ")
}

/// Writes the run's bundle (several images, `--tarball FILE`) once every image is
/// assembled, and observes each image's outcome as the other sinks' are; true when written.
pub(crate) fn publish_bundle(
    plan: &Plan,
    images: &[(&ImageTarget, Artifact)],
    push: &PushOptions,
    results: &Results,
    progress: &Progress,
) -> bool {
    let Some(path) = &plan.bundle else { return true };
    let members: Vec<sink::bundle::Member> = images
        .iter()
        .filter_map(|(target, artifact)| {
            let (tags, ref_names) = target.bundled.clone()?;
            Some(sink::bundle::Member { artifact, tags, ref_names, load_platform: target.load_platform.clone() })
        })
        .collect();
    let memo = assemble::cache(plan).files();
    let cx = sink::Context { push, progress, memo: &memo };
    let outcomes = sink::bundle::Bundle { path: path.clone() }.publish(&members, &cx);
    let mut all_ok = true;
    for (image, ((target, _), outcome)) in images.iter().zip(outcomes).enumerate() {
        let place = Place { of_run: true, image };
        let observer =
            Observer { target, results, place, hold: None, results_to_stderr: plan.stdout_taken, base: None };
        all_ok &= observer.observe(vec![outcome]);
    }
    all_ok
}

/// Our layers, uncompressed: their diff_ids from the cache (hashing a tar it lacks), each
/// compressed when a sink first needs it.
fn diffs(cache: &crate::image::cache::LayerCache, layers: Vec<(Contents, String)>) -> std::io::Result<Vec<Layer>> {
    layers.into_iter().map(|(contents, created_by)| cache.diff(contents, Compressor::default(), created_by)).collect()
}

/// Publishes `artifact` to `sinks` in the plan's order (local sinks come first, so none
/// waits for a registry); the first push waits for the head-start upload, if any.
fn publish_all(
    sinks: &[&(&SinkSpec, Box<dyn Sink>)],
    artifact: &Artifact,
    attachments: &Attachments,
    run: &Run,
    mut head_start: Option<HeadStart>,
) -> bool {
    let mut all_ok = true;
    for (spec, sink) in sinks {
        let head_start = match spec {
            SinkSpec::Registry { .. } => head_start.take(),
            _ => None,
        };
        if let Some(handle) = head_start {
            let outcome = handle.join().unwrap_or(Ok(None));
            if let (Err(e), true) = (outcome, run.cx.push.verbose) {
                let e = redact(&e.to_string());
                crate::shell::note(format_args!(
                    "the upload during compression did not finish ({e}); the push uploads the layer"
                ));
            }
        }
        all_ok &= publish(spec, sink.as_ref(), artifact, attachments, run);
    }
    all_ok
}

/// What publishing shares: the sinks' context and the observer.
struct Run<'a> {
    cx: sink::Context<'a>,
    observer: Observer<'a>,
}

/// Publishes to one sink, with the documents it keeps; true when it succeeded.
fn publish(spec: &SinkSpec, sink: &dyn Sink, artifact: &Artifact, attachments: &Attachments, run: &Run) -> bool {
    let target = run.observer.target;
    let referrers = match sink.keeps() {
        Keeps::Nothing => Vec::new(),
        Keeps::Local => attachments.for_destination(&target.documents, false),
        Keeps::Pushed => attachments.for_destination(&target.documents, true),
    };
    let ok = run.observer.observe(sink.publish(artifact, &referrers, &run.cx));
    if let (true, SinkSpec::Layout { dir, ref_names, default: true }) = (ok, spec) {
        let d = dir.display();
        let r = &ref_names[0];
        crate::shell::note(format_args!(
            "wrote an OCI image layout to {d} (no --tag, --tarball, --push or --output given)\n  \
             load it: skopeo copy oci:{d}:{r} docker-daemon:{}:{r}, or rerun with --tag NAME\n  \
             push it: cargo containerize --push REGISTRY/REPO",
            target.bin()
        ));
    }
    ok
}

/// Prints an error and its fix on stderr, with every known secret redacted: messages may
/// quote a server.
pub(crate) fn report(e: &Error) {
    crate::shell::error(redact(&e.to_string()), e.hint().map(|h| redact(&h)).as_deref());
}
