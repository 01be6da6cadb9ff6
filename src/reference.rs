//! Image references (`[host[:port]/]name[:tag][@digest]`), parsed and checked against the
//! distribution spec's grammar before anything is built.

use crate::digest::Digest;
use std::fmt;

/// The tag used when a reference names none.
pub(crate) const DEFAULT_TAG: &str = "latest";

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, when the reference names one.
    pub(crate) registry: Option<String>,
    /// The repository path, e.g. `library/hello` or `team/app`.
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<Digest>,
}

/// Why a reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid image reference {input:?}: {reason}")]
    Invalid { input: String, reason: String },
}

impl Reference {
    /// Parses a reference; `NAME`, `NAME:TAG`, `HOST/NAME:TAG` and `NAME@sha256:...` forms.
    pub fn parse(input: &str) -> Result<Reference, Error> {
        let fail = |reason: String| Error::Invalid { input: input.to_string(), reason };
        if input.is_empty() {
            return Err(fail("it is empty; expected NAME[:TAG], e.g. myimage:1.0".into()));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = Digest::parse(d)
                    .ok_or_else(|| fail(format!("{d:?} is not a digest; expected sha256:<64 lowercase hex>")))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A ':' after the last '/' starts the tag; one before it belongs to host:port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(fail)?;
        }
        let (registry, repository) = split_registry(name);
        if let Some(host) = registry {
            check_host(host).map_err(fail)?;
        }
        check_repository(repository).map_err(fail)?;
        if name.len() > 255 {
            return Err(fail(format!("the name is {} characters long; at most 255 are allowed", name.len())));
        }
        Ok(Reference {
            registry: registry.map(str::to_string),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The tag, or `latest`.
    pub(crate) fn tag_or_default(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// `[host/]repository` with no tag or digest.
    pub(crate) fn name(&self) -> String {
        match &self.registry {
            Some(host) => format!("{host}/{}", self.repository),
            None => self.repository.clone(),
        }
    }

    /// `[host/]repository:tag`, with `latest` filled in.
    pub(crate) fn with_default_tag(&self) -> String {
        format!("{}:{}", self.name(), self.tag_or_default())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits off the first component when it is a registry host, as Docker does: it contains
/// a `.` or a `:`, or is `localhost`.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("the tag after ':' is empty".into());
    }
    if tag.len() > 128 {
        return Err(format!("the tag is {} characters long; at most 128 are allowed", tag.len()));
    }
    let ok_first = tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    if !ok_first {
        return Err(format!("the tag {tag:?} must start with a letter, digit or '_'"));
    }
    if let Some(c) = tag.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!("the tag {tag:?} contains {c:?}; tags allow only letters, digits, '_', '.' and '-'"));
    }
    Ok(())
}

/// A repository: `/`-separated components of `[a-z0-9]+` joined by `.`, `_`, `__` or `-`s.
fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository name is empty".into());
    }
    for component in repository.split('/') {
        check_component(component).map_err(|why| format!("repository component {component:?} {why}"))?;
    }
    Ok(())
}

fn check_component(c: &str) -> Result<(), &'static str> {
    if c.is_empty() {
        return Err("is empty (doubled or trailing '/')");
    }
    if c.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Err("has uppercase letters; repository names must be lowercase");
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err("must start and end with a lowercase letter or digit");
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let valid = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !valid {
            return Err("has characters other than a-z, 0-9 and the separators '.', '_', '__' or '-'");
        }
    }
    Ok(())
}

/// A registry host: `host[:port]`, with a host of letters, digits, '-', '.', or `[ipv6]`;
/// a port of digits only.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    let (h, port) = if let Some(rest) = host.strip_prefix('[') {
        let end = rest.find(']').ok_or_else(|| format!("registry host {host:?} has an unclosed '['"))?;
        if rest[..end].parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry host {host:?} has no IPv6 address between '[' and ']'"));
        }
        let after = &rest[end + 1..];
        if !after.is_empty() && !after.starts_with(':') {
            return Err(format!("registry host {host:?} has {after:?} after ']'; expected :PORT"));
        }
        (&host[..end + 2], after.strip_prefix(':'))
    } else {
        match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
            return Err(format!("registry port {port:?} is not a number from 0 to 65535"));
        }
    }
    let ok =
        !h.is_empty() && (h.starts_with('[') || h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    if !ok {
        return Err(format!("registry host {h:?} is not a valid host name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn parses_the_usual_forms() {
        let r = parse("myimage:1.0");
        assert_eq!((r.registry.as_deref(), r.repository.as_str(), r.tag.as_deref()), (None, "myimage", Some("1.0")));
        let r = parse("127.0.0.1:5000/team/app");
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag_or_default(), "latest");
        let r = parse("localhost/app:v2");
        assert_eq!(r.registry.as_deref(), Some("localhost"));
        let r = parse("team/app");
        assert_eq!(r.registry, None);
        assert_eq!(r.repository, "team/app");
        let d = Digest::of(b"x");
        let r = parse(&format!("ghcr.io/o/a:t@{d}"));
        assert_eq!(r.digest, Some(d));
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(parse("x/a__b.c-d---e/f").repository, "x/a__b.c-d---e/f");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let err = |s: &str| Reference::parse(s).unwrap_err().to_string();
        assert!(err("MyImage:1").contains("uppercase"), "{}", err("MyImage:1"));
        assert!(err("my image").contains("other than a-z"));
        assert!(err("app:bad/tag").contains("port"));
        assert!(err(&format!("app:{}", "x".repeat(129))).contains("at most 128"));
        assert!(err("app:").contains("empty"));
        assert!(err("app:-x").contains("must start"));
        assert!(err("app:t!").contains("contains '!'"));
        assert!(err("-app").contains("must start and end"));
        assert!(err("a//b").contains("empty"));
        assert!(err("a___b").contains("separators"));
        assert!(err("host:99999/app").contains("port"));
        assert!(err("host:+80/app").contains("port"));
        assert!(err("[::1]junk/app").contains("after ']'"));
        assert!(err("[]:5000/app").contains("no IPv6 address"));
        assert!(err("[ x ]:1/app").contains("no IPv6 address"));
        assert_eq!(parse("[::1]:5000/app").registry.as_deref(), Some("[::1]:5000"));
        assert!(err("app@sha256:12").contains("not a digest"));
        assert!(err("").contains("empty"));
        assert!(Reference::parse(&format!("app:{}", "x".repeat(128))).is_ok());
    }
}
