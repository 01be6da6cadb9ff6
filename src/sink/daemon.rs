//! The local Docker engine as a destination: an image it has already (its ID is the config
//! digest, which names the layers too) only gets the tags, as go-containerregistry's daemon
//! writer does; otherwise its docker-archive is streamed into the engine's image load, our
//! layers uncompressed (the engine would only decompress them again).

use super::{archive, Context, Delivered, Error, Outcome, Sink};
use crate::engine;
use crate::image::referrer::Referrer;
use crate::image::{Artifact, Image};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::tuning::Tuning;

/// The engine, under `tags`; with several platforms, it takes the load platform's image.
pub(crate) struct EngineSink {
    pub(crate) tags: Vec<Reference>,
    pub(crate) load_platform: Option<Platform>,
}

impl Sink for EngineSink {
    fn takes_uncompressed(&self) -> bool {
        true
    }

    fn refuses_zstd(&self) -> Option<(String, &'static str)> {
        let tag = self.tags.first().map(|t| t.to_string()).unwrap_or_default();
        Some((format!("--tag {tag} (the Docker engine)"), "Docker 20.10 loads gzip or plain tar layers only"))
    }

    fn publish(&self, artifact: &Artifact, _: &[Referrer], cx: &Context) -> Vec<Outcome> {
        let image = super::load_image(artifact, self.load_platform.as_ref());
        if let Artifact::Index(_) = artifact {
            crate::shell::note(format_args!(
                "the Docker engine gets the {} image only: a Docker 20.10 engine cannot load an index (choose with \
                 --load-platform)",
                image.platform
            ));
        }
        let names = self.tags.iter().map(Reference::with_default_tag);
        match load(image, &self.tags, &cx.push.tuning, cx.push.quiet) {
            Ok(()) => names
                .map(|name| Outcome {
                    kind: "engine",
                    result: Ok(Delivered {
                        line: format!("{name} {}", image.id()),
                        full: format!("{name}@{}", image.id()),
                        artifact: Artifact::Image(image.clone()),
                        referrers: Vec::new(),
                        engine_id: Some(image.id().clone()),
                        types: crate::image::MediaTypes::Oci,
                    }),
                    reference: name,
                })
                .collect(),
            Err(e) => Outcome::failed("engine", names, Error::Daemon(e)),
        }
    }
}

/// Puts `image` into the engine under `tags`.
pub(crate) fn load(image: &Image, tags: &[Reference], tuning: &Tuning, quiet: bool) -> Result<(), engine::Error> {
    if engine::has_image(image.id(), tuning)? {
        return tags.iter().try_for_each(|t| engine::tag(image.id(), t, tuning));
    }
    engine::load(|w| archive::write_unpacked(w, image, tags).map(drop), tuning, quiet)
}
