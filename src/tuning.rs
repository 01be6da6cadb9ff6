//! Timeouts, retry delays and upload modes. The defaults fit real registries and engines;
//! `CARGO_CONTAINERIZE_*` variables change them, mostly for tests. Read once, at the edge.

use std::time::Duration;

/// See the module documentation; [`Tuning::from_env`] documents each variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// The first retry delay, doubling up to 5 s.
    pub retry_base: Duration,
    /// How long any answer may take: a registry's response to a request with a small body,
    /// the Docker engine's, a credential helper's. A third of it (at most 10 s) for connecting.
    pub timeout: Duration,
    /// An upload that makes no progress this long (or, once sent, gets no answer) is restarted.
    pub stall: Duration,
    /// Upload every blob in `PATCH` chunks, as registries that refuse a monolithic `PUT` need.
    pub force_chunked: bool,
    /// The size of those chunks.
    pub chunk_size: u64,
    /// How old a tag's state, read while cargo builds, may be and still serve the push
    /// (see `registry::ahead`).
    pub read_ahead: Duration,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            retry_base: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
            stall: Duration::from_secs(120),
            force_chunked: false,
            chunk_size: 16 << 20,
            read_ahead: Duration::from_secs(2),
        }
    }
}

/// A tuning variable that is not a number.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not {expected}")]
pub(crate) struct BadVariable {
    pub(crate) name: &'static str,
    pub(crate) value: String,
    pub(crate) expected: &'static str,
}

/// Every `CARGO_CONTAINERIZE_*` variable must be text: one that is not would otherwise be
/// taken as unset, silently.
pub(crate) fn check_unicode() -> Result<(), BadVariable> {
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_CONTAINERIZE_") && value.to_str().is_none() {
            return Err(BadVariable {
                name: KNOWN.iter().find(|k| **k == name).copied().unwrap_or("a CARGO_CONTAINERIZE_ variable"),
                // Never the value itself: it may be the password.
                value: "(bytes that are not UTF-8)".to_string(),
                expected: "valid UTF-8 text",
            });
        }
    }
    Ok(())
}

/// The variables the tool reads.
const KNOWN: &[&str] = &[
    "CARGO_CONTAINERIZE_RETRY_BASE_MS",
    "CARGO_CONTAINERIZE_TIMEOUT_SECS",
    "CARGO_CONTAINERIZE_STALL_SECS",
    "CARGO_CONTAINERIZE_CHUNK_SIZE",
    "CARGO_CONTAINERIZE_READ_AHEAD_MS",
    "CARGO_CONTAINERIZE_UPLOAD",
    "CARGO_CONTAINERIZE_USERNAME",
    "CARGO_CONTAINERIZE_PASSWORD",
    "CARGO_CONTAINERIZE_REGISTRY",
];

impl Tuning {
    /// The defaults, changed by `CARGO_CONTAINERIZE_RETRY_BASE_MS`, `CARGO_CONTAINERIZE_TIMEOUT_SECS`,
    /// `CARGO_CONTAINERIZE_STALL_SECS`, `CARGO_CONTAINERIZE_UPLOAD=chunked`,
    /// `CARGO_CONTAINERIZE_CHUNK_SIZE` (bytes) and `CARGO_CONTAINERIZE_READ_AHEAD_MS`.
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Tuning, BadVariable> {
        let mut t = Tuning::default();
        let number = |name: &'static str, expected: &'static str| -> Result<Option<u64>, BadVariable> {
            match env(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(value) => match value.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(BadVariable { name, value, expected }),
                },
            }
        };
        if let Some(ms) = number("CARGO_CONTAINERIZE_RETRY_BASE_MS", "a number of milliseconds above 0")? {
            t.retry_base = Duration::from_millis(ms.min(60_000));
        }
        if let Some(s) = number("CARGO_CONTAINERIZE_TIMEOUT_SECS", "a number of seconds above 0")? {
            t.timeout = Duration::from_secs(s.min(86_400));
        }
        if let Some(s) = number("CARGO_CONTAINERIZE_STALL_SECS", "a number of seconds above 0")? {
            t.stall = Duration::from_secs(s.min(86_400));
        }
        if let Some(n) = number("CARGO_CONTAINERIZE_CHUNK_SIZE", "a number of bytes above 0")? {
            t.chunk_size = n;
        }
        if let Some(ms) = number("CARGO_CONTAINERIZE_READ_AHEAD_MS", "a number of milliseconds above 0")? {
            t.read_ahead = Duration::from_millis(ms.min(3_600_000));
        }
        match env("CARGO_CONTAINERIZE_UPLOAD").as_deref() {
            None | Some("") | Some("monolithic") => {}
            Some("chunked") => t.force_chunked = true,
            Some(other) => {
                return Err(BadVariable {
                    name: "CARGO_CONTAINERIZE_UPLOAD",
                    value: other.to_string(),
                    expected: "\"chunked\" or \"monolithic\"",
                })
            }
        }
        Ok(t)
    }

    /// How long connecting may take.
    pub(crate) fn connect_timeout(&self) -> Duration {
        (self.timeout / 3).min(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_change_the_defaults_and_bad_ones_are_named() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(Tuning::from_env(&env(&[])).unwrap(), Tuning::default());
        let t = Tuning::from_env(&env(&[
            ("CARGO_CONTAINERIZE_TIMEOUT_SECS", "2"),
            ("CARGO_CONTAINERIZE_UPLOAD", "chunked"),
            ("CARGO_CONTAINERIZE_CHUNK_SIZE", "300000"),
            ("CARGO_CONTAINERIZE_READ_AHEAD_MS", "1"),
        ]))
        .unwrap();
        assert_eq!((t.timeout, t.force_chunked, t.chunk_size), (Duration::from_secs(2), true, 300_000));
        assert_eq!(t.read_ahead, Duration::from_millis(1));
        let err = Tuning::from_env(&env(&[("CARGO_CONTAINERIZE_STALL_SECS", "soon")])).unwrap_err().to_string();
        assert!(err.contains("CARGO_CONTAINERIZE_STALL_SECS=\"soon\"") && err.contains("seconds"), "{err}");
        assert!(Tuning::from_env(&env(&[("CARGO_CONTAINERIZE_UPLOAD", "fast")])).is_err());
    }
}
