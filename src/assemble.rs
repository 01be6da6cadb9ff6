//! Assembling the image from the built binaries: the layers (base, includes, binary), each
//! from the layer cache or compressed anew, the binary's upload begun while it compresses.

use crate::build::Built;
use crate::digest::Digest;
use crate::fsutil;
use crate::image::cache::LayerCache;
use crate::image::growing::Growth;
use crate::image::layer::{Compressor, Contents, Entry, Layer};
use crate::image::parent::Parent;
use crate::plan::{ImageTarget, Plan, PlatformBuild};
use crate::progress::Progress;
use crate::sink::SinkSpec;
use crate::{image, registry, spec};

/// The layer cache of the plan's target directory.
pub(crate) fn cache(plan: &Plan) -> LayerCache {
    LayerCache::new(plan.target_dir.join("containerize").join("cache"))
}

/// The layer cache, or, when it cannot be written (a read-only mount, a file in its place),
/// a temporary one for this run, said on stderr: a cache is no reason to fail. The
/// temporary directory lives as long as the second value.
pub(crate) fn usable_cache(plan: &Plan) -> std::io::Result<(LayerCache, Option<fsutil::TempDir>)> {
    let cache = cache(plan);
    let probe = std::fs::create_dir_all(cache.dir()).and_then(|()| fsutil::TempFile::new_in(cache.dir()));
    match probe {
        Ok(_) => Ok((cache, None)),
        Err(e) => {
            crate::shell::note(format_args!(
                "the layer cache at {} cannot be written ({e}); this run uses a temporary one",
                cache.dir().display()
            ));
            let scratch = fsutil::TempDir::new_in(&std::env::temp_dir())?;
            Ok((LayerCache::new(scratch.path().join("cache")), Some(scratch)))
        }
    }
}

/// An upload of the binary's layer begun while it was compressed (see
/// [`compress_with_head_start`]); the first push waits for it, so that it finds the layer.
pub(crate) type HeadStart<'scope> =
    std::thread::ScopedJoinHandle<'scope, Result<Option<(Digest, u64)>, registry::Error>>;

/// Why our layers could not be listed.
pub(crate) enum LayersError {
    Io(std::io::Error),
    /// The base's files could not be read (to see whether it has a CA bundle).
    Base(crate::error::Error),
    /// An included file could not be read.
    Include(std::io::Error),
}

impl From<std::io::Error> for LayersError {
    fn from(e: std::io::Error) -> Self {
        LayersError::Io(e)
    }
}

/// Our layers, bottom up: on scratch the base layer (users, /tmp, CA bundle; on a base
/// image only the CA bundle if it lacks one, and the working directory), the included
/// files if any, and the binary. Each is cached on its own, so an unchanged base is
/// shared, also across platforms. `base_has_ca` tells whether a base image has a CA
/// bundle; it is asked only when one is wanted.
pub(crate) fn layer_contents(
    target: &ImageTarget,
    pb: &PlatformBuild,
    built: &Built,
    cache: &LayerCache,
    parent: Option<&Parent>,
    base_has_ca: impl Fn(&Parent) -> Result<bool, crate::error::Error>,
) -> Result<Vec<(Contents, String)>, LayersError> {
    let bin = &pb.build.bin;
    let mut base = target.image.base.clone();
    let extra_ca = !base.extra_ca.is_empty();
    // Extra certificates come with Mozilla's roots, unless `ca-certificates = false`.
    let mozilla_too = extra_ca && target.image.ca_certificates != crate::settings::CaCertificates::Never;
    base.ca_bundle = spec::wants_ca_bundle(target.image.ca_certificates, &built.crates) || mozilla_too;
    let mut layers = Vec::new();
    match parent {
        None => {
            let ca = base.ca_bundle || extra_ca;
            let what = if ca { "users, /tmp, CA certificates" } else { "users, /tmp" };
            layers.push((image::base::contents(&base), format!("cargo containerize: base ({what})")));
        }
        Some(p) => {
            // The bundle with extra certificates replaces a base's own.
            if base.ca_bundle && !extra_ca {
                base.ca_bundle = !base_has_ca(p).map_err(LayersError::Base)?;
            }
            let extras = image::base::extras(&base);
            if !extras.is_empty() {
                let what = if base.ca_bundle || extra_ca { "CA certificates" } else { "working directory" };
                layers.push((extras, format!("cargo containerize: {what}")));
            }
        }
    }
    if !target.image.includes.is_empty() {
        let listed: Vec<String> = target.image.includes.iter().map(|i| format!("{} {}", i.shown, i.to)).collect();
        let below: Vec<&image::layer::Entry> =
            layers.iter().flat_map(|(c, _): &(Contents, String)| c.entries()).collect();
        let contents = image::include::contents(&target.image.includes, bin, &below).map_err(LayersError::Include)?;
        layers.push((contents, format!("COPY {} # cargo containerize include", listed.join(", "))));
    }
    // The init has a layer of its own: the same for every binary of the target.
    if let Some(init) = &built.init {
        let (digest, size) = cache.file_digest(init)?;
        let path = spec::INIT_PATH.trim_start_matches('/');
        let entry = Entry::file_with_digest(path, init.clone(), 0o755, digest, size);
        layers.push((Contents::new(vec![entry]), format!("COPY init {} # cargo containerize init", spec::INIT_PATH)));
    }
    let (digest, size) = cache.file_digest(&built.executable)?;
    let entry = Entry::file_with_digest(bin, built.executable.clone(), 0o755, digest, size);
    layers.push((Contents::new(vec![entry]), format!("COPY {bin} /{bin} # cargo containerize")));
    Ok(layers)
}

/// Compressed layers from the cache, compressing those it lacks.
pub(crate) fn compress_all(cache: &LayerCache, layers: Vec<(Contents, String)>) -> std::io::Result<Vec<Layer>> {
    layers.into_iter().map(|(contents, created_by)| cache.layer(contents, Compressor::default(), created_by)).collect()
}

/// Compresses the layers; when the image goes to a registry and the binary's layer is new,
/// uploads that layer to the first registry while it is being compressed
/// (`registry::upload_growing_blocking`), and returns that upload still running: local
/// sinks do not wait for it. Any failure of the head start only costs time: the push
/// uploads what is missing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compress_with_head_start<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    target: &'env ImageTarget,
    cache: &LayerCache,
    layers: Vec<(Contents, String)>,
    opts: &'env registry::PushOptions,
    progress: &'env Progress,
    growth: &'env Growth,
    rx: tokio::sync::watch::Receiver<crate::image::growing::Written>,
) -> (std::io::Result<Vec<Layer>>, Option<HeadStart<'scope>>) {
    let first_push = target.sinks.iter().find_map(|s| match s {
        SinkSpec::Registry { references } => references.first(),
        _ => None,
    });
    let new_binary = layers.last().is_some_and(|(c, _)| !cache.has_layer(c, Compressor::default()));
    let (Some(reference), true) = (first_push, new_binary) else {
        return (compress_all(cache, layers), None);
    };
    let count = layers.len();
    let uploader = scope.spawn(move || registry::upload_growing_blocking(reference, opts, growth, rx, progress));
    let compressed: std::io::Result<Vec<Layer>> = layers
        .into_iter()
        .enumerate()
        .map(|(i, (c, created_by))| {
            let watch = (i + 1 == count).then_some(growth);
            cache.layer_growing(c, Compressor::default(), created_by, watch)
        })
        .collect();
    growth.end();
    (compressed, Some(uploader))
}
