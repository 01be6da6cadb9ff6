//! Platforms (`linux/amd64`, `linux/arm/v7`) and their Rust musl targets.

use std::fmt;

/// An OCI platform: os, architecture and optional variant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn linux(architecture: &str, variant: Option<&str>) -> Platform {
        Platform { os: "linux".into(), architecture: architecture.into(), variant: variant.map(str::to_string) }
    }

    /// The platform a Rust target triple builds for, when it is a Linux target we know.
    pub fn of_target(triple: &str) -> Option<Platform> {
        let mut parts = triple.split('-');
        let arch = parts.next()?;
        if !triple.contains("-linux-") {
            return None;
        }
        let (architecture, variant) = match arch {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "armv7" => ("arm", Some("v7")),
            "arm" => ("arm", Some("v6")),
            "i686" | "i586" => ("386", None),
            "riscv64gc" | "riscv64" => ("riscv64", None),
            "powerpc64le" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "loongarch64" => ("loong64", None),
            _ => return None,
        };
        Some(Platform::linux(architecture, variant))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn musl_targets_map_to_docker_platforms() {
        let p = |t| Platform::of_target(t).map(|p| p.to_string());
        assert_eq!(p("x86_64-unknown-linux-musl").as_deref(), Some("linux/amd64"));
        assert_eq!(p("aarch64-unknown-linux-musl").as_deref(), Some("linux/arm64"));
        assert_eq!(p("armv7-unknown-linux-musleabihf").as_deref(), Some("linux/arm/v7"));
        assert_eq!(p("i686-unknown-linux-musl").as_deref(), Some("linux/386"));
        assert_eq!(p("x86_64-pc-windows-msvc"), None);
    }
}
