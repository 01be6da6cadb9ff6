//! The results file (`--metadata-file FILE`, the name buildx uses): JSON describing every
//! destination of the run, failed ones included, for a CI pipeline to read. Written
//! atomically once the run ends, whatever happened. The schema is in the README; its
//! `version` changes when a field changes meaning.

use crate::image::referrer::Referrer;
use crate::image::Artifact;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Mutex;

/// The schema's version.
pub(crate) const VERSION: u32 = 1;

/// The destinations' entries, as they are published, each under its place in the file:
/// the images' own destinations in the plan's order of images (they are published
/// concurrently), then the run's (the bundle), each image's in the order of its sinks.
#[derive(Default)]
pub(crate) struct Results {
    entries: Mutex<Vec<(Place, Value)>>,
}

/// Where an entry goes in the file: the run's destinations after the images' own, then by
/// image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Place {
    pub(crate) of_run: bool,
    pub(crate) image: usize,
}

/// What the file says of the image a destination got.
pub(crate) struct Published<'a> {
    pub(crate) artifact: &'a Artifact,
    pub(crate) referrers: &'a [Referrer],
    pub(crate) package: &'a str,
    pub(crate) bin: &'a str,
    pub(crate) base: Option<String>,
    /// The media types of the manifests the destination serves (Docker's after a
    /// registry refused OCI types): the digests are theirs.
    pub(crate) types: crate::image::MediaTypes,
}

impl Published<'_> {
    /// The fields every successful entry has: digests, platforms, size, provenance.
    fn fields(&self) -> std::io::Result<Value> {
        let images = self.artifact.images();
        let mut platforms = Vec::new();
        let mut size = 0;
        for i in images {
            let manifest = i.manifest_as(self.types)?;
            let digest = manifest.digest.to_string();
            platforms.push(
                json!({"platform": i.platform.to_string(), "digest": digest, "config": i.config.digest.to_string()}),
            );
            size += i.blobs()?.iter().map(|b| b.size).sum::<u64>() + manifest.size;
        }
        let mut v = json!({
            "digest": self.artifact.manifest_as(self.types)?.digest.to_string(),
            "config": images.first().map(|i| i.config.digest.to_string()),
            "platforms": platforms,
            "size": size,
            "package": self.package,
            "bin": self.bin,
            "referrers": self.referrers.iter().map(|r| json!({"artifactType": r.artifact_type, "digest": r.manifest.digest.to_string()})).collect::<Vec<_>>(),
        });
        if let Some(base) = &self.base {
            v["base"] = json!(base);
        }
        Ok(v)
    }
}

impl Results {
    /// Records a destination that got the image: `kind` (registry, layout, tarball,
    /// engine), the reference as given and in full.
    pub(crate) fn ok(&self, place: Place, kind: &str, reference: &str, full: &str, published: &Published) {
        let mut v = match published.fields() {
            Ok(v) => v,
            Err(e) => return self.failed(place, kind, reference, &format!("the image could not be described: {e}")),
        };
        v["kind"] = json!(kind);
        v["reference"] = json!(reference);
        v["fullReference"] = json!(full);
        self.push(place, v);
    }

    /// Records an image loaded into (or tagged in) the engine under the image ID `id`:
    /// `imageId` is that ID (what `docker images` shows), `config` the config digest (the
    /// ID on the classic store), `digest` the manifest the engine keeps when it is ours (the
    /// containerd store; the classic store keeps none).
    pub(crate) fn engine(
        &self,
        place: Place,
        tag: &str,
        loaded: &crate::sink::daemon::Loaded,
        package: &str,
        bin: &str,
    ) {
        let id = &loaded.id;
        self.push(
            place,
            json!({
                "kind": "engine", "reference": tag, "fullReference": format!("{tag}@{id}"),
                "digest": loaded.manifest.as_ref().map(ToString::to_string), "config": loaded.config.to_string(),
                "imageId": id.to_string(), "package": package, "bin": bin,
            }),
        );
    }

    /// Records a destination that failed, with its error (secrets removed).
    pub(crate) fn failed(&self, place: Place, kind: &str, reference: &str, error: &str) {
        self.push(place, json!({"kind": kind, "reference": reference, "error": crate::redact::redact(error)}));
    }

    fn push(&self, place: Place, v: Value) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).push((place, v));
    }

    /// The run's closing summary, as `docker push` ends with `digest: … size: …`: a verb
    /// and a line for each destination that got its image, in the file's order.
    pub(crate) fn summary(&self) -> Vec<(&'static str, String)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone();
        entries.sort_by_key(|(place, _)| *place);
        entries
            .iter()
            .filter(|(_, v)| v.get("error").is_none())
            .filter_map(|(_, v)| {
                let verb = match v["kind"].as_str()? {
                    "registry" => "Pushed",
                    "engine" => "Loaded",
                    _ => "Wrote",
                };
                let mut line = v["reference"].as_str()?.to_string();
                match (v["digest"].as_str(), v["imageId"].as_str()) {
                    (Some(digest), _) => line.push_str(&format!(" digest: {digest}")),
                    (None, Some(id)) => line.push_str(&format!(" image: {id}")),
                    (None, None) => {}
                }
                if let Some(size) = v["size"].as_u64() {
                    line.push_str(&format!(" size: {}", crate::progress::human(size)));
                }
                Some((verb, line))
            })
            .collect()
    }

    /// Writes the file at `path`, atomically: every entry, and the run's own error when it
    /// stopped before or during publishing.
    pub(crate) fn write(
        &self,
        path: &Path,
        error: Option<&str>,
        tuning: &crate::tuning::Tuning,
    ) -> std::io::Result<()> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone();
        entries.sort_by_key(|(place, _)| *place);
        let entries: Vec<Value> = entries.into_iter().map(|(_, v)| v).collect();
        let mut doc = json!({"version": VERSION, "destinations": entries});
        if let Some(e) = error {
            doc["error"] = json!(crate::redact::redact(e));
        }
        let mut bytes = serde_json::to_vec_pretty(&doc)?;
        bytes.push(b'\n');
        // As `--tarball` is written: beside the file and renamed over it, or streamed into a
        // FIFO or standard output.
        crate::fsutil::write_output(path, tuning, |w| w.write_all(&bytes))
    }
}
