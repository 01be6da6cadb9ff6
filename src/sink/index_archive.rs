//! The multi-platform tarball: one tar that is a docker-archive of the load platform's
//! image (`manifest.json`, what `docker load` on Docker 20.10 reads) and an OCI image
//! layout of the whole index (`index.json`, what `skopeo copy --all oci-archive:FILE` and
//! every OCI reader read). With one platform, `--tarball` is the plain [`super::archive`].

use super::archive::{append, append_blob, append_dir, append_docker_files, blob_path, Loadable};
use super::layout::OCI_LAYOUT;
use super::{Context, Delivered, Error, Outcome, Sink};
use crate::fsutil;
use crate::image::referrer::Referrer;
use crate::image::{Artifact, Image};
use crate::platform::Platform;
use crate::reference::Reference;
use std::io::{self, Write};
use std::path::PathBuf;

/// `--tarball` with several platforms.
pub(crate) struct IndexArchiveSink {
    pub(crate) path: PathBuf,
    /// The tags `docker load` gives the load platform's image.
    pub(crate) tags: Vec<Reference>,
    /// The names of the index in the OCI part.
    pub(crate) ref_names: Vec<String>,
    pub(crate) load_platform: Platform,
}

impl Sink for IndexArchiveSink {
    fn check(&self) -> Result<(), Error> {
        super::check_paths(None, Some(&self.path))
    }

    fn refuses_zstd(&self) -> Option<(String, &'static str)> {
        Some((
            format!("--tarball {}", self.path.display()),
            "a docker-archive tarball carries gzip or plain tar layers only (Docker 20.10 cannot load zstd)",
        ))
    }

    fn publish(&self, artifact: &Artifact, _: &[Referrer], cx: &Context) -> Vec<Outcome> {
        let load = super::load_image(artifact, Some(&self.load_platform));
        let shown = self.path.display().to_string();
        crate::shell::note(format_args!(
            "the tarball holds every platform as an OCI layout (skopeo copy --all oci-archive:{shown} ...); \
             `docker load` takes its {} image (choose with --load-platform)",
            load.platform
        ));
        let written = fsutil::write_output(&self.path, &cx.push.tuning, |w| {
            write(w, artifact, load, &self.tags, &self.ref_names).map(drop)
        })
        .and_then(|()| artifact.digest().cloned());
        let result = match written {
            Ok(digest) => Ok(Delivered {
                line: format!("{shown} {digest}"),
                full: format!("oci-archive:{shown}@{digest}"),
                artifact: artifact.clone(),
                referrers: Vec::new(),
                engine: None,
                types: crate::image::MediaTypes::Oci,
            }),
            Err(source) => Err(std::sync::Arc::new(Error::Archive { path: self.path.clone(), source })),
        };
        vec![Outcome { kind: "tarball", reference: shown, result }]
    }
}

/// Writes the tar: `oci-layout`, `index.json` naming the index `ref_names`, every blob of
/// every platform once (each hashed on the way in), then the docker-archive files for
/// `load` carrying `tags`.
fn write<W: Write>(w: W, artifact: &Artifact, load: &Image, tags: &[Reference], ref_names: &[String]) -> io::Result<W> {
    write_with_index(w, artifact, load, tags, &super::archive::tarball_index(artifact, tags, ref_names)?)
}

/// As [`write`], with `index` as `index.json` (a containerd-store engine's names its
/// entries its own way: see `super::daemon`).
pub(super) fn write_with_index<W: Write>(
    w: W,
    artifact: &Artifact,
    load: &Image,
    tags: &[Reference],
    index: &[u8],
) -> io::Result<W> {
    let mut tar = tar::Builder::new(w);
    append(&mut tar, "oci-layout", OCI_LAYOUT.len() as u64, OCI_LAYOUT)?;
    append(&mut tar, "index.json", index.len() as u64, index)?;
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    for blob in artifact.all_blobs()? {
        append_blob(&mut tar, blob)?;
    }
    let layer_paths =
        load.layers.iter().map(|l| Ok(blob_path(l.blob()?.digest.hex()))).collect::<io::Result<Vec<_>>>()?;
    let top = load.layers.last().map(|l| &l.diff_id);
    append_docker_files(&mut tar, &[Loadable { config: &load.config, top, tags, layer_paths }])?;
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::cache::LayerCache;
    use crate::image::config::RunConfig;
    use crate::image::index::Index;
    use crate::image::layer::{Compressor, Contents, Entry};
    use serde_json::Value;
    use std::io::Read;

    #[test]
    fn the_tar_is_a_layout_of_the_index_and_a_docker_archive_of_the_load_image() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().to_path_buf());
        let image = |arch: &str| {
            let contents = Contents::new(vec![Entry::bytes("/app", arch.as_bytes().to_vec(), 0o755)]);
            let layer = cache.layer(contents, Compressor::default(), "COPY".into()).unwrap();
            Image::assemble(Platform::linux(arch, None), &RunConfig::default(), vec![layer])
        };
        let artifact = Artifact::Index(Index::assemble(vec![image("amd64"), image("arm64")]));
        let load = &artifact.images()[1];
        let tag = Reference::parse("app:1").unwrap();
        let tar = write(Vec::new(), &artifact, load, &[tag], &["1".into()]).unwrap();
        let mut files = std::collections::BTreeMap::new();
        let mut names = Vec::new();
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            names.push(path.clone());
            files.insert(path, bytes);
        }
        // The OCI part names the index, and holds every blob of both platforms.
        let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
        assert_eq!(index["manifests"][0]["digest"], artifact.digest().unwrap().to_string());
        for blob in artifact.all_blobs().unwrap() {
            assert!(files.contains_key(&blob_path(blob.digest.hex())), "{} is missing", blob.digest);
        }
        // The docker-archive part is the load platform's image, under its tag.
        let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(manifest[0]["Config"], blob_path(load.config.digest.hex()));
        assert_eq!(manifest[0]["RepoTags"][0], "app:1");
        let layer = blob_path(load.layers[0].blob().unwrap().digest.hex());
        assert_eq!(manifest[0]["Layers"][0], layer);
        // Each blob is in the tar once.
        let blobs = names.iter().filter(|p| p.starts_with("blobs/sha256/") && p.len() > 13).count();
        assert_eq!(blobs, artifact.all_blobs().unwrap().len());
    }
}
