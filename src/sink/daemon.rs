//! The local Docker engine as a destination: an image it has already (its ID is the config
//! digest, which names the layers too) only gets the tags, as go-containerregistry's daemon
//! writer does; otherwise its docker-archive is streamed into the engine's image load, our
//! layers uncompressed (the engine would only decompress them again).

use super::archive;
use crate::engine::{self, Error};
use crate::image::Image;
use crate::reference::Reference;
use crate::tuning::Tuning;

/// Puts `image` into the engine under `tags`.
pub(crate) fn load(image: &Image, tags: &[Reference], tuning: &Tuning, quiet: bool) -> Result<(), Error> {
    if engine::has_image(image.id(), tuning)? {
        return tags.iter().try_for_each(|t| engine::tag(image.id(), t, tuning));
    }
    engine::load(|w| archive::write_unpacked(w, image, tags).map(drop), tuning, quiet)
}
