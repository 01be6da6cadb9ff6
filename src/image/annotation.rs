//! The OCI annotation names the image model writes and reads.

/// An image's name in a layout's `index.json` (a tag, or a full reference).
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The name an image of an OCI archive gets in containerd (and so in a containerd-store
/// Docker engine, which reads no `manifest.json` when `index.json` is there): the full
/// name, `docker.io/library/NAME:TAG`.
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The base image a manifest was built on, by name.
pub(crate) const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// The base image a manifest was built on, by digest.
pub(crate) const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// When an artifact was made.
pub(crate) const CREATED: &str = "org.opencontainers.image.created";
