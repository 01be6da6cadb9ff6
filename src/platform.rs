//! Platforms (`linux/amd64`, `linux/arm/v7`) and their Rust musl targets.

use std::fmt;

/// An OCI platform: os, architecture and optional variant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub(crate) os: String,
    pub(crate) architecture: String,
    pub(crate) variant: Option<String>,
}

impl Platform {
    pub fn linux(architecture: &str, variant: Option<&str>) -> Platform {
        Platform { os: "linux".into(), architecture: architecture.into(), variant: variant.map(str::to_string) }
    }

    /// The platform a Rust target triple builds for, when it is a Linux target we know.
    pub(crate) fn of_target(triple: &str) -> Option<Platform> {
        if !is_triple(triple) {
            return None;
        }
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

/// Whether `text` is made of what target triples are made of (a glibc version suffix, as
/// in `x86_64-unknown-linux-gnu.2.31`, included), and nothing else.
pub(crate) fn is_triple(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The platforms we build, with their Rust musl targets.
pub(crate) const SUPPORTED: &[(&str, &str)] = &[
    ("linux/amd64", "x86_64-unknown-linux-musl"),
    ("linux/arm64", "aarch64-unknown-linux-musl"),
    ("linux/arm/v7", "armv7-unknown-linux-musleabihf"),
    ("linux/arm/v6", "arm-unknown-linux-musleabihf"),
    ("linux/386", "i686-unknown-linux-musl"),
    ("linux/riscv64", "riscv64gc-unknown-linux-musl"),
    ("linux/ppc64le", "powerpc64le-unknown-linux-musl"),
    ("linux/s390x", "s390x-unknown-linux-musl"),
];

/// A platform string we cannot build for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unsupported platform {input:?}; supported: {}", SUPPORTED.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", "))]
pub(crate) struct Unsupported {
    pub(crate) input: String,
}

impl Platform {
    /// Parses `os/arch[/variant]` (`linux/arm64/v8` is `linux/arm64`).
    pub(crate) fn parse(input: &str) -> Result<Platform, Unsupported> {
        let normalized = input.trim().to_ascii_lowercase();
        let normalized = match normalized.as_str() {
            "linux/arm64/v8" | "linux/aarch64" => "linux/arm64".to_string(),
            "linux/x86_64" | "linux/amd64/v1" => "linux/amd64".to_string(),
            "linux/arm" => "linux/arm/v7".to_string(),
            other => other.to_string(),
        };
        let known = SUPPORTED.iter().any(|(p, _)| *p == normalized);
        let mut parts = normalized.split('/');
        match (known, parts.next(), parts.next()) {
            (true, Some(os), Some(arch)) => {
                Ok(Platform { os: os.into(), architecture: arch.into(), variant: parts.next().map(str::to_string) })
            }
            _ => Err(Unsupported { input: input.to_string() }),
        }
    }

    /// The Rust musl target that builds for this platform.
    pub(crate) fn musl_target(&self) -> Option<&'static str> {
        let name = self.to_string();
        SUPPORTED.iter().find(|(p, _)| *p == name).map(|(_, t)| *t)
    }

    /// The platform of the machine we run on.
    pub(crate) fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "riscv64" => "riscv64",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            other => other,
        };
        Platform::linux(arch, (arch == "arm").then_some("v7"))
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
        assert_eq!(p("x86_64-unknown-linux-gnu.2.31").as_deref(), Some("linux/amd64"));
        for hostile in
            ["x86_64-unknown-linux-musl\nfoo", "x86_64-unknown-linux-musl ", "x86_64-unknown-linux-m\u{e9}", ""]
        {
            assert_eq!(p(hostile), None, "{hostile:?}");
        }
    }

    #[test]
    fn platform_strings_map_to_musl_targets_and_back() {
        for (name, target) in SUPPORTED {
            let platform = Platform::parse(name).unwrap();
            assert_eq!(platform.musl_target(), Some(*target));
            assert_eq!(Platform::of_target(target).unwrap(), platform, "{name}");
        }
        assert_eq!(Platform::parse("linux/arm64/v8").unwrap().to_string(), "linux/arm64");
        let err = Platform::parse("windows/amd64").unwrap_err().to_string();
        assert!(err.contains("unsupported platform \"windows/amd64\"") && err.contains("linux/arm64"), "{err}");
    }
}
