//! The local Docker engine as a destination. What an image ID is depends on the engine's
//! image store (`engine::store`, asked once per run):
//!
//! - the classic store: the ID is the config digest, which names the layers too. An image
//!   the engine has already only gets the tags, as go-containerregistry's daemon writer
//!   does; otherwise its docker-archive is streamed into the engine's image load, our
//!   layers uncompressed (the engine would only decompress them again).
//! - the containerd store: the ID is the digest of the manifest the engine keeps. For a
//!   docker-archive the engine makes a manifest of its own, whose digest we cannot know
//!   (it even depends on which blobs the engine holds already); so the engine gets an OCI
//!   archive of our own manifest, gzip layers and all, named per tag through
//!   `io.containerd.image.name`, and the ID is our manifest's digest, known before the load:
//!   an image the engine has already is found by it, and only gets the tags. The names are
//!   checked after the load.

use super::{archive, Context, Delivered, Error, Outcome, Sink};
use crate::digest::Digest;
use crate::engine::{self, ImageStore};
use crate::image::config::canonical_json;
use crate::image::referrer::Referrer;
use crate::image::{Artifact, Image};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::tuning::Tuning;
use serde_json::json;
use std::io::{self, Write};

use crate::image::annotation::CONTAINERD_NAME;

/// The engine, under `tags`; with several platforms, it takes the load platform's image.
pub(crate) struct EngineSink {
    pub(crate) tags: Vec<Reference>,
    pub(crate) load_platform: Option<Platform>,
}

impl Sink for EngineSink {
    /// The classic store takes our layers uncompressed; the containerd store gets our
    /// manifest, so the gzip layers it names. (The store is known here: the engine was
    /// asked before the build, see `engine::ping`.)
    fn takes_uncompressed(&self) -> bool {
        engine::known_store() != Some(ImageStore::Containerd)
    }

    /// The containerd store unpacks zstd layers (containerd 1.7 does); the classic store
    /// does not. (The store is known here: the engine was asked before the build.)
    fn refuses_zstd(&self) -> Option<(String, &'static str)> {
        if engine::known_store() == Some(ImageStore::Containerd) {
            return None;
        }
        let tag = self.tags.first().map(|t| t.to_string()).unwrap_or_default();
        Some((
            format!("--tag {tag} (the Docker engine)"),
            "the classic image store of a Docker engine loads gzip or plain tar layers only (an engine with the \
             containerd image store takes zstd)",
        ))
    }

    fn publish(&self, artifact: &Artifact, _: &[Referrer], cx: &Context) -> Vec<Outcome> {
        let image = super::load_image(artifact, self.load_platform.as_ref());
        let (tuning, quiet) = (&cx.push.tuning, cx.push.quiet);
        let names = self.tags.iter().map(Reference::with_default_tag);
        // The containerd store holds an index as it is, every platform; the classic store
        // holds images only, so it gets the load platform's.
        let whole =
            matches!(artifact, Artifact::Index(_)) && engine::store(tuning, quiet).ok() == Some(ImageStore::Containerd);
        if let (Artifact::Index(_), false) = (artifact, whole) {
            crate::shell::note(format_args!(
                "the Docker engine gets the {} image only: its classic image store holds no index (choose with \
                 --load-platform; an engine with the containerd image store gets every platform)",
                image.platform
            ));
        }
        let loaded = match whole {
            true => load_index(artifact, image, &self.tags, tuning, quiet),
            false => load(image, &self.tags, tuning, quiet),
        };
        let held = if whole { artifact.clone() } else { Artifact::Image(image.clone()) };
        match loaded {
            Ok(loaded) => {
                let id = loaded.id.clone();
                names
                    .map(|name| Outcome {
                        kind: "engine",
                        result: Ok(Delivered {
                            line: format!("{name} {id}"),
                            full: format!("{name}@{id}"),
                            artifact: held.clone(),
                            referrers: Vec::new(),
                            engine: Some(loaded.clone()),
                            types: crate::image::MediaTypes::Oci,
                        }),
                        reference: name,
                    })
                    .collect()
            }
            Err(e) => Outcome::failed("engine", names, Error::Daemon(e)),
        }
    }
}

/// An image the engine holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// The ID the engine shows (`docker images`, `docker inspect -f {{.Id}}`).
    pub(crate) id: Digest,
    /// The image's config digest.
    pub(crate) config: Digest,
    /// The manifest the engine keeps, when it is ours (the containerd store); the classic
    /// store keeps none.
    pub(crate) manifest: Option<Digest>,
}

/// Puts `image` into the engine under `tags`, as its image store wants it; says what the
/// engine holds.
pub(crate) fn load(image: &Image, tags: &[Reference], tuning: &Tuning, quiet: bool) -> Result<Loaded, engine::Error> {
    match engine::store(tuning, quiet)? {
        ImageStore::Classic => {
            let id = image.id();
            if !tag_if_there(id, tags, tuning)? {
                engine::load(|w| archive::write_unpacked(w, image, tags).map(drop), tuning, quiet)?;
            }
            Ok(Loaded { id: id.clone(), config: id.clone(), manifest: None })
        }
        ImageStore::Containerd => load_containerd(image, tags, tuning, quiet),
    }
}

/// Gives the engine's image `id` the `tags`, if the engine has it; false when it has not,
/// for the caller to load it. An image removed between the look and the tags (another
/// client's `docker rmi` or prune) is not there either; any other failure to tag is one.
fn tag_if_there(id: &Digest, tags: &[Reference], tuning: &Tuning) -> Result<bool, engine::Error> {
    if !engine::has_image(id, tuning)? {
        return Ok(false);
    }
    match tags.iter().try_for_each(|t| engine::tag(id, t, tuning)) {
        Ok(()) => Ok(true),
        Err(_) if !engine::has_image(id, tuning)? => Ok(false),
        Err(e) => Err(e),
    }
}

/// The containerd store: our manifest's digest is the ID. An image the engine has is only
/// tagged; otherwise the OCI archive is loaded. Either way each tag is then checked to name
/// that ID: the engine reports a load as a success even when it could not give a name.
fn load_containerd(image: &Image, tags: &[Reference], tuning: &Tuning, quiet: bool) -> Result<Loaded, engine::Error> {
    let endpoint = || engine::address().unwrap_or_default();
    let manifest = image.manifest().map_err(|source| engine::Error::Unsent { endpoint: endpoint(), source })?;
    let id = manifest.digest.clone();
    if !tag_if_there(&id, tags, tuning)? {
        engine::load(|w| write_oci(w, image, tags).map(drop), tuning, quiet)?;
    }
    check_names(&id, tags, tuning)?;
    Ok(Loaded { id: id.clone(), config: image.config.digest.clone(), manifest: Some(id) })
}

/// The containerd store and several platforms: the whole index, whose digest is the ID
/// (`docker run --platform` then picks each platform's image). An index the engine has is
/// only tagged; otherwise an OCI archive of every platform is loaded (with the
/// docker-archive files of `load`'s image, so that any engine could load it).
fn load_index(
    artifact: &Artifact,
    load: &Image,
    tags: &[Reference],
    tuning: &Tuning,
    quiet: bool,
) -> Result<Loaded, engine::Error> {
    let endpoint = || engine::address().unwrap_or_default();
    let top = artifact.manifest().map_err(|source| engine::Error::Unsent { endpoint: endpoint(), source })?;
    let id = top.digest.clone();
    if !tag_if_there(&id, tags, tuning)? {
        let index = index_json(top, None, tags);
        engine::load(
            |w| super::index_archive::write_with_index(w, artifact, load, tags, &index).map(drop),
            tuning,
            quiet,
        )?;
    }
    check_names(&id, tags, tuning)?;
    Ok(Loaded { id: id.clone(), config: load.config.digest.clone(), manifest: Some(id) })
}

/// After a load or the tags: each tag names `id`. The engine reports a load as a success
/// even when it could not give a name.
fn check_names(id: &Digest, tags: &[Reference], tuning: &Tuning) -> Result<(), engine::Error> {
    let endpoint = || engine::address().unwrap_or_default();
    for tag in tags {
        let name = tag.with_default_tag();
        let found = engine::image_id(&name, tuning)?;
        if found.as_ref() != Some(id) {
            let now = found.map_or("no image of that name".to_string(), |other| format!("image {other}"));
            return Err(engine::Error::Unexpected {
                endpoint: endpoint(),
                message: format!(
                    "was sent the image {id} under the name {name} ({}), but {name} is {now} there",
                    engine::full_name(tag)
                ),
            });
        }
    }
    Ok(())
}

/// Writes an OCI archive of `image` for a containerd-store engine: `oci-layout`, an
/// `index.json` that lists our manifest once per tag, each named by its full name
/// (`io.containerd.image.name`, the only name that engine reads from an OCI archive; see
/// `engine::full_name`) and its tag (`org.opencontainers.image.ref.name`), as `docker save`
/// names them; the config, the layers as a registry gets them (ours gzip) and the manifest
/// under `blobs/sha256/`; and the docker-archive's `manifest.json` and `repositories`, so
/// any engine can load it.
fn write_oci<W: Write>(w: W, image: &Image, tags: &[Reference]) -> io::Result<W> {
    archive::write_with_index(w, image, tags, &index_json(image.manifest()?, Some(&image.platform), tags))
}

/// The `index.json` of an OCI archive for a containerd-store engine: `top` (an image's
/// manifest, with its `platform`, or an index) once per tag, named as containerd names it.
fn index_json(top: &crate::image::blob::Blob, platform: Option<&Platform>, tags: &[Reference]) -> Vec<u8> {
    let entries: Vec<_> = tags
        .iter()
        .map(|tag| {
            let mut entry = json!({
                "mediaType": top.media_type,
                "digest": top.digest.to_string(),
                "size": top.size,
                "annotations": {
                    CONTAINERD_NAME: engine::full_name(tag),
                    crate::image::annotation::REF_NAME: tag.tag_or_default(),
                },
            });
            if let Some(p) = platform {
                entry["platform"] = crate::image::index::platform_json(p);
            }
            entry
        })
        .collect();
    canonical_json(&json!({
        "schemaVersion": 2,
        "mediaType": crate::image::index::MEDIA_TYPE_OCI_INDEX,
        "manifests": entries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::cache::LayerCache;
    use crate::image::config::RunConfig;
    use crate::image::layer::{Compressor, Contents, Entry};
    use std::collections::BTreeMap;

    fn image(dir: &std::path::Path) -> Image {
        let cache = LayerCache::new(dir.to_path_buf());
        let contents = Contents::new(vec![Entry::bytes("/app", b"app".to_vec(), 0o755)]);
        let layer = cache.diff(contents, Compressor::default(), "COPY".into()).unwrap();
        Image::assemble(Platform::linux("amd64", None), &RunConfig::default(), vec![layer])
    }

    #[test]
    fn the_oci_archive_names_our_manifest_once_per_tag_by_its_full_name() {
        let dir = tempfile::tempdir().unwrap();
        let image = image(dir.path());
        let tags = [Reference::parse("app:1").unwrap(), Reference::parse("localhost:5000/team/app").unwrap()];
        let tar = write_oci(Vec::new(), &image, &tags).unwrap();
        let mut files = BTreeMap::new();
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            files.insert(path, bytes);
        }
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
        let manifest = image.manifest().unwrap();
        let entries = index["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        for (entry, (full, tag)) in
            entries.iter().zip([("docker.io/library/app:1", "1"), ("localhost:5000/team/app:latest", "latest")])
        {
            assert_eq!(entry["digest"], manifest.digest.to_string());
            assert_eq!(entry["mediaType"], crate::image::MEDIA_TYPE_OCI_MANIFEST);
            assert_eq!(entry["platform"], json!({"architecture": "amd64", "os": "linux"}));
            assert_eq!(entry["annotations"], json!({CONTAINERD_NAME: full, "org.opencontainers.image.ref.name": tag}));
        }
        // Every blob the manifest names is there, as hashed: the layers gzip, as a registry gets them.
        let m: serde_json::Value = serde_json::from_slice(manifest.bytes().unwrap()).unwrap();
        assert_eq!(m["layers"][0]["mediaType"], crate::image::layer::MEDIA_TYPE_GZIP);
        let blob = |d: &serde_json::Value| &files[&format!("blobs/sha256/{}", &d.as_str().unwrap()[7..])];
        for d in [&m["config"]["digest"], &m["layers"][0]["digest"], &json!(manifest.digest.to_string())] {
            assert_eq!(Digest::of(blob(d)).to_string(), d.as_str().unwrap());
        }
        assert_eq!(&files["oci-layout"][..], super::super::layout::OCI_LAYOUT);
        // And it is a docker-archive too.
        let docker: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(docker[0]["RepoTags"], json!(["app:1", "localhost:5000/team/app:latest"]));
        assert_eq!(
            docker[0]["Layers"][0],
            format!("blobs/sha256/{}", &m["layers"][0]["digest"].as_str().unwrap()[7..])
        );
    }
}
