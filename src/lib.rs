//! cargo-containerize: builds a Cargo binary for a musl target and wraps it in a
//! `FROM scratch` container image, written as an OCI layout, a docker-archive tar,
//! loaded into a Docker engine, or pushed to a registry.

pub mod build;
pub mod cli;
pub mod elf;
pub mod error;
pub mod fsutil;
pub mod image;
pub mod plan;
pub mod progress;
pub mod publish;
pub mod reference;
pub mod registry;
pub mod run;
pub mod settings;
pub mod sink;
pub mod spec;
pub mod speculate;
pub mod workspace;
