//! cargo-containerize: builds a Cargo binary for a musl target and wraps it in a
//! `FROM scratch` container image, written as an OCI layout, a docker-archive tar,
//! loaded into a Docker engine, or pushed to a registry.
//!
//! Every module is private to the crate; the binary needs only [`Args`] and [`run`], and
//! the integration tests and benchmarks drive the image model and the registry client
//! through [`api`].

pub(crate) mod assemble;
pub use auditable::wrapper_main;
pub(crate) mod auditable;
pub(crate) mod base;
pub(crate) mod build;
pub(crate) mod cli;
pub(crate) mod digest;
pub(crate) mod documents;
pub(crate) mod elf;
pub(crate) mod engine;
pub(crate) mod error;
pub(crate) mod fsutil;
pub(crate) mod image;
pub(crate) mod interrupt;
pub(crate) mod login;
pub(crate) mod plan;
pub(crate) mod platform;
pub(crate) mod progress;
#[cfg(test)]
mod proptests;
pub(crate) mod publish;
pub(crate) mod redact;
pub(crate) mod reference;
pub(crate) mod registry;
pub(crate) mod resolved;
pub(crate) mod results;
pub(crate) mod run;
pub(crate) mod sbom;
pub(crate) mod settings;
pub(crate) mod shell;
pub(crate) mod sink;
pub(crate) mod spec;
pub(crate) mod speculate;
pub(crate) mod store;
pub(crate) mod tuning;
pub(crate) mod wait;
pub(crate) mod workspace;

pub use cli::Args;
pub use run::run;
pub use run::Command;

/// What the integration tests and the benchmarks use directly: images assembled from
/// layers, and the registry client that pushes them.
pub mod api {
    pub use crate::image::cache::LayerCache;
    pub use crate::image::config::{rfc3339, RunConfig};
    pub use crate::image::layer::{Compressor, Contents, Entry};
    pub use crate::image::{Image, MediaTypes, MEDIA_TYPE_DOCKER_MANIFEST};
    pub use crate::platform::Platform;
    pub use crate::progress::{Event, Progress};
    pub use crate::reference::Reference;
    pub use crate::registry::{push_blocking, Credentials, Error, PushOptions};
    pub use crate::tuning::Tuning;

    /// The `name@version` of each package in a binary's `.dep-v0` section, when it has one.
    pub fn embedded_dependencies(binary: &[u8]) -> Option<Vec<String>> {
        let info = crate::auditable::read(binary)?;
        Some(info.packages.iter().map(|p| format!("{}@{}", p.name, p.version)).collect())
    }
}
