//! Helpers shared by the integration tests: fixtures in temp dirs, the real binary, Docker.
#![allow(dead_code)]

pub mod registry;
