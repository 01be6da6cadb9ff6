//! cargo-containerize: builds a Cargo binary for a musl target and wraps it in a
//! `FROM scratch` container image, written as an OCI layout, a docker-archive tar,
//! loaded into a Docker engine, or pushed to a registry.

pub mod image;
pub mod reference;
pub mod progress;
pub mod registry;
