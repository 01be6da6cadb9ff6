//! A registry as a destination: the artifact under each reference, through
//! `crate::registry` (one session per registry for the whole run), with the documents
//! attached as referrers.

use super::{Context, Delivered, Error, Keeps, Outcome, Sink};
use crate::image::layer::Layer;
use crate::image::referrer::Referrer;
use crate::image::{Artifact, MediaTypes};
use crate::reference::Reference;

/// A push to every one of `references`.
pub(crate) struct RegistrySink {
    pub(crate) references: Vec<Reference>,
}

impl Sink for RegistrySink {
    fn keeps(&self) -> Keeps {
        Keeps::Pushed
    }

    fn publish(&self, artifact: &Artifact, referrers: &[Referrer], cx: &Context) -> Vec<Outcome> {
        let names = || self.references.iter().map(Reference::with_default_tag);
        // A registry can take a base's blob only by upload when the base comes from another
        // registry: such blobs are fetched into the store first.
        let elsewhere = |host: &str| self.references.iter().any(|r| r.registry.as_deref() != Some(host));
        let foreign: Vec<&crate::image::blob::Blob> = artifact
            .images()
            .iter()
            .flat_map(|i| i.layers.iter().filter_map(Layer::held_blob))
            .filter(|b| b.held_at().is_some_and(|(_, origin)| origin.is_some_and(|o| elsewhere(&o.registry))))
            .collect();
        if let Err(e) = crate::base::fetch::missing(&foreign, cx.push) {
            return Outcome::failed("registry", names(), Error::Base(Box::new(e)));
        }
        let pushed =
            crate::registry::push_artifact_blocking(artifact, &self.references, referrers, cx.push, cx.progress);
        names()
            .zip(pushed)
            .map(|(given, result)| {
                let result = match result {
                    // A pullable reference that keeps its tag.
                    Ok(pushed) => Ok(Delivered {
                        line: format!("{given}@{}", pushed.digest),
                        full: format!("{given}@{}", pushed.digest),
                        artifact: artifact.clone(),
                        // Documents that did not attach are not listed.
                        referrers: referrers
                            .iter()
                            .filter(|r| pushed.documents.contains(&r.manifest.digest))
                            .cloned()
                            .collect(),
                        engine: None,
                        // The registry serves the Docker form when it refused OCI types.
                        types: match artifact.digest() {
                            Ok(oci) if oci != &pushed.digest => MediaTypes::Docker,
                            _ => MediaTypes::Oci,
                        },
                    }),
                    Err(e) => Err(std::sync::Arc::new(Error::Registry(Box::new(e)))),
                };
                Outcome { kind: "registry", reference: given, result }
            })
            .collect()
    }
}
