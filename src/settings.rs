//! Image settings from `[package.metadata.containerize]` and
//! `[workspace.metadata.containerize]`: parsed with messages that name the key and the
//! expected type, and merged (workspace, then package, then command line).

use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) use crate::image::config::env_var;
pub(crate) use crate::image::include::Include;
use std::fmt;
use std::path::PathBuf;

/// Every key the tables accept, in the order the documentation lists them.
pub(crate) const KEYS: &[&str] = &[
    "args",
    "entrypoint",
    "env",
    "ports",
    "user",
    "workdir",
    "labels",
    "annotations",
    "include",
    "ca-certificates",
    "extra-ca-certificates",
    "tags",
    "repository",
    "platforms",
    "target",
    "base",
    "sbom",
    "provenance",
    "auditable",
    "init",
];

/// Whether to add a CA bundle at `/etc/ssl/certs/ca-certificates.crt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum CaCertificates {
    /// When the binary depends on a crate that loads the system's roots.
    #[default]
    Auto,
    Always,
    Never,
}

/// Where an include's `from` is looked up, and how far it may reach.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IncludeBase<'a> {
    /// The package directory (Cargo.toml) or the current directory (`--include`).
    pub(crate) dir: &'a std::path::Path,
    /// `from` may be absolute (only `--include`).
    pub(crate) absolute_ok: bool,
    /// `from` may resolve outside `dir` (`--allow-include-outside`).
    pub(crate) outside_ok: bool,
}

/// Settings from one source; `None` or empty means "not set here".
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Settings {
    pub(crate) args: Option<Vec<String>>,
    pub(crate) entrypoint: Option<bool>,
    pub(crate) env: BTreeMap<String, String>,
    /// Normalised as `PORT/PROTO`.
    pub(crate) ports: Option<Vec<String>>,
    pub(crate) user: Option<String>,
    pub(crate) workdir: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) include: Option<Vec<Include>>,
    pub(crate) ca_certificates: Option<CaCertificates>,
    /// Certificates added to the image's CA bundle, each file's in DER, read and checked
    /// as the settings are.
    pub(crate) extra_ca_certificates: Option<Vec<ExtraCa>>,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) repository: Option<String>,
    /// `os/arch[/variant]` strings, checked when the plan maps them to targets.
    pub(crate) platforms: Option<Vec<String>>,
    /// A Rust target triple (`x86_64-unknown-linux-gnu` needs a base with glibc).
    pub(crate) target: Option<String>,
    /// The image to build on: `scratch` (the default) or a base reference.
    pub(crate) base: Option<crate::base::BaseRef>,
    /// SBOM formats to attach (empty: none).
    pub(crate) sbom: Option<Vec<Format>>,
    /// Whether to attach provenance.
    pub(crate) provenance: Option<bool>,
    /// Whether to embed the dependency list in the binary.
    pub(crate) auditable: Option<bool>,
    /// Whether an init runs in front of the binary, as PID 1.
    pub(crate) init: Option<bool>,
}

/// Where a table came from, for messages.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) table: &'static str,
    pub(crate) manifest: PathBuf,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] in {}", self.table, self.manifest.display())
    }
}

/// A bad key or value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("unknown key `{key}` in {origin}; valid keys: {}", KEYS.join(", "))]
    UnknownKey { key: String, origin: String },
    #[error("`{key}` in {origin} must be {expected}, not {got}")]
    WrongType { key: String, origin: String, expected: &'static str, got: String },
    #[error("`{key}` in {origin}: {reason}")]
    BadValue { key: String, origin: String, reason: String },
    /// An entry of a table of strings (`env`, `labels`, `annotations`) that is not one.
    #[error("`{}.{}` in {} must be a string, not {}", .0.key, .0.entry, .0.origin, .0.got)]
    EntryNotString(Box<NotString>),
    #[error("{flag} {value:?}: {reason}")]
    BadFlag { flag: &'static str, value: String, reason: String },
    /// A user (ours, or the base's own `User` when a workdir needs its ids) that the base's
    /// /etc/passwd or /etc/group does not have, or whose ids cannot be read there.
    #[error("{whose} {user:?} cannot be used on the base image {base}: {reason}")]
    UserOnBase { whose: &'static str, user: String, base: String, reason: String },
}

/// The valid key closest to `key`, when one is close enough to be what was meant (as clap
/// suggests a flag: Jaro similarity above 0.7).
fn closest_key(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|k| (strsim::jaro(key, k), *k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        Some(match self {
            Error::UnknownKey { key, .. } => match closest_key(key) {
                Some(near) => format!("did you mean `{near}`? Fix the spelling, or remove the key"),
                None => "fix the spelling, or remove the key; the README documents each".into(),
            },
            Error::WrongType { key, expected, .. } => format!("write it as {}", example(key, expected)),
            Error::BadValue { key, .. } => format!("for example: {}", example(key, "")),
            Error::EntryNotString(e) => {
                let (key, entry) = (&e.key, toml_key(&e.entry));
                match &e.quoted {
                    Some(text) => format!("quote it: {key} = {{ {entry} = {text:?} }}"),
                    None => format!("write it as {key} = {{ {entry} = \"...\" }}"),
                }
            }
            Error::BadFlag { flag, .. } => format!("for example: {}", flag_example(flag)),
            Error::UserOnBase { .. } => "set `user` (or --user) to a user the base has, or to numeric ids such as \
                \"65532:65532\" (Kubernetes' runAsNonRoot accepts only a numeric user)"
                .into(),
        })
    }
}

fn example(key: &str, fallback: &str) -> String {
    match key {
        "args" => "args = [\"--port\", \"8080\"]".into(),
        "entrypoint" => "entrypoint = true".into(),
        "env" => "env = { RUST_LOG = \"info\" }".into(),
        "ports" => "ports = [8080, \"53/udp\"]".into(),
        "user" => "user = \"65532:65532\" (or \"root\")".into(),
        "workdir" => "workdir = \"/data\"".into(),
        "labels" => "labels = { \"com.example.team\" = \"infra\" }".into(),
        "annotations" => "annotations = { \"com.example.build\" = \"ci\" }".into(),
        "include" => "include = [{ from = \"static\", to = \"/srv/static\" }]".into(),
        "ca-certificates" => "ca-certificates = \"auto\" (or true, false)".into(),
        "extra-ca-certificates" => "extra-ca-certificates = [\"certs/corp.pem\"]".into(),
        "tags" => "tags = [\"1.0\", \"latest\"]".into(),
        "repository" => "repository = \"ghcr.io/OWNER/APP\"".into(),
        "platforms" => "platforms = [\"linux/amd64\", \"linux/arm64\"]".into(),
        "target" => "target = \"x86_64-unknown-linux-gnu\"".into(),
        "base" => "base = \"ghcr.io/OWNER/BASE:TAG\" (or \"oci:DIR:TAG\", \"docker:NAME:TAG\", \"scratch\")".into(),
        "sbom" => "sbom = true (or false, or [\"spdx\", \"cyclonedx\"])".into(),
        "provenance" => "provenance = true".into(),
        "auditable" => "auditable = false".into(),
        "init" => "init = true".into(),
        _ => fallback.into(),
    }
}

fn flag_example(flag: &str) -> &'static str {
    match flag {
        "--env" => "--env RUST_LOG=info",
        "--base" => "--base 127.0.0.1:5000/base/cc:12, --base oci:./base-layout:cc or --base docker:debian:12",
        "--label" => "--label com.example.team=infra",
        "--annotation" => "--annotation com.example.build=ci",
        "--expose" => "--expose 8080 or --expose 53/udp",
        "--include" => "--include static:/srv/static",
        "--user" => "--user 65532:65532 or --user root",
        "--workdir" => "--workdir /data",
        _ => "see --help",
    }
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "a table".into(),
    }
}

/// Reads one `containerize` table. `base` is the directory `include.from` is relative to.
pub(crate) fn parse(table: &Value, origin: &Origin, base: &std::path::Path) -> Result<Settings, Error> {
    let origin_s = origin.to_string();
    let wrong = |key: &str, expected: &'static str, v: &Value| Error::WrongType {
        key: key.into(),
        origin: origin_s.clone(),
        expected,
        got: type_name(v),
    };
    let bad = |key: &str, reason: String| Error::BadValue { key: key.into(), origin: origin_s.clone(), reason };
    // A table of strings with an entry that is not one is named by that entry.
    let strings_of = |key: &str, v: &Value| -> Result<BTreeMap<String, String>, Error> {
        if let Some((entry, got, quoted)) = not_a_string(v) {
            let origin = origin_s.clone();
            return Err(Error::EntryNotString(Box::new(NotString { key: key.into(), entry, origin, got, quoted })));
        }
        string_table(v).ok_or_else(|| wrong(key, "a table of strings", v))
    };
    let Value::Object(map) = table else {
        return Err(wrong("containerize", "a table", table));
    };
    let mut s = Settings::default();
    for (key, v) in map {
        match key.as_str() {
            "args" => {
                let args = strings(v).ok_or_else(|| wrong(key, "an array of strings", v))?;
                if args.iter().any(|a| a.contains('\0')) {
                    return Err(bad(key, "an argument holds a NUL character, which no program can receive".into()));
                }
                s.args = Some(args);
            }
            "entrypoint" => s.entrypoint = Some(v.as_bool().ok_or_else(|| wrong(key, "true or false", v))?),
            "env" => {
                s.env = strings_of(key, v)?;
                for (k, value) in &s.env {
                    env_var(k, value).map_err(|reason| bad(key, reason))?;
                }
            }
            "labels" | "annotations" => {
                let table = strings_of(key, v)?;
                for (k, value) in &table {
                    metadata_pair(k, value).map_err(|reason| bad(key, reason))?;
                }
                if key == "labels" {
                    s.labels = table;
                } else {
                    s.annotations = table;
                }
            }
            "ports" => {
                let items = v.as_array().ok_or_else(|| wrong(key, "an array of ports (8080 or \"53/udp\")", v))?;
                let mut ports = Vec::new();
                for item in items {
                    let text = match item {
                        Value::Number(n) => n.to_string(),
                        Value::String(s) => s.clone(),
                        other => return Err(wrong(key, "an array of ports (8080 or \"53/udp\")", other)),
                    };
                    ports.push(port(&text).map_err(|reason| bad(key, reason))?);
                }
                s.ports = Some(ports);
            }
            "user" => {
                let text = v.as_str().ok_or_else(|| wrong(key, "a string such as \"65532:65532\"", v))?;
                s.user = Some(user_syntax(text).map_err(|reason| bad(key, reason))?);
            }
            "workdir" => {
                let text = v.as_str().ok_or_else(|| wrong(key, "an absolute path string", v))?;
                s.workdir = Some(workdir(text).map_err(|reason| bad(key, reason))?);
            }
            "include" => {
                let expected = "an array of { from = \"PATH\", to = \"/PATH\" } tables";
                let items = v.as_array().ok_or_else(|| wrong(key, expected, v))?;
                let mut includes = Vec::new();
                for item in items {
                    let from = item.get("from").and_then(Value::as_str);
                    let to = item.get("to").and_then(Value::as_str);
                    let extra = item.as_object().is_some_and(|o| o.keys().any(|k| k != "from" && k != "to"));
                    let (Some(from), Some(to), false) = (from, to, extra) else {
                        return Err(wrong(key, expected, item));
                    };
                    let base = IncludeBase { dir: base, absolute_ok: false, outside_ok: false };
                    includes.push(include(base, from, to).map_err(|reason| bad(key, reason))?);
                }
                s.include = Some(includes);
            }
            "ca-certificates" => {
                s.ca_certificates = Some(match v {
                    Value::Bool(true) => CaCertificates::Always,
                    Value::Bool(false) => CaCertificates::Never,
                    Value::String(a) if a == "auto" => CaCertificates::Auto,
                    other => return Err(wrong(key, "\"auto\", true or false", other)),
                })
            }
            "extra-ca-certificates" => {
                let paths = strings(v).ok_or_else(|| wrong(key, "an array of paths of PEM files", v))?;
                let mut extra = Vec::new();
                for path in &paths {
                    extra.push(extra_ca(base, path).map_err(|reason| bad(key, reason))?);
                }
                s.extra_ca_certificates = Some(extra);
            }
            "tags" => {
                let tags = strings(v).ok_or_else(|| wrong(key, "an array of strings", v))?;
                for tag in &tags {
                    crate::reference::check_tag(tag).map_err(|reason| bad(key, format!("{tag:?}: {reason}")))?;
                }
                s.tags = Some(tags);
            }
            "repository" => {
                let text = v.as_str().ok_or_else(|| wrong(key, "a string such as \"ghcr.io/OWNER/APP\"", v))?;
                let r = crate::reference::Reference::parse(text).map_err(|e| bad(key, e.to_string()))?;
                if r.tag.is_some() || r.digest.is_some() {
                    return Err(bad(key, format!("{text:?} has a tag or digest; put tags in `tags`")));
                }
                s.repository = Some(text.to_string());
            }
            "platforms" => {
                let list = strings(v).ok_or_else(|| wrong(key, "an array of strings such as \"linux/arm64\"", v))?;
                for p in &list {
                    crate::platform::Platform::parse(p).map_err(|e| bad(key, e.to_string()))?;
                }
                s.platforms = Some(list);
            }
            "target" => {
                let text = v.as_str().ok_or_else(|| wrong(key, "a string such as \"x86_64-unknown-linux-gnu\"", v))?;
                if crate::platform::Platform::of_target(text).is_none() {
                    return Err(bad(key, format!("{text:?} is not a Linux target triple this tool knows")));
                }
                s.target = Some(text.to_string());
            }
            "base" => {
                let text = v.as_str().ok_or_else(|| wrong(key, "a string such as \"ghcr.io/OWNER/BASE:TAG\"", v))?;
                s.base = Some(crate::base::BaseRef::parse(text, base).map_err(|e| bad(key, e))?);
            }
            "sbom" => {
                s.sbom = Some(match v {
                    Value::Bool(true) => Format::ALL.to_vec(),
                    Value::Bool(false) => Vec::new(),
                    Value::Array(_) => {
                        let names =
                            strings(v).ok_or_else(|| wrong(key, "true, false or an array of format names", v))?;
                        let mut formats = Vec::new();
                        for n in &names {
                            let f = Format::parse(n).map_err(|e| bad(key, e))?;
                            if !formats.contains(&f) {
                                formats.push(f);
                            }
                        }
                        formats
                    }
                    other => {
                        return Err(wrong(key, "true, false or an array such as [\"spdx\", \"cyclonedx\"]", other))
                    }
                });
            }
            "provenance" => {
                s.provenance = Some(v.as_bool().ok_or_else(|| wrong(key, "true or false", v))?);
            }
            "auditable" => {
                s.auditable = Some(v.as_bool().ok_or_else(|| wrong(key, "true or false", v))?);
            }
            "init" => {
                s.init = Some(v.as_bool().ok_or_else(|| wrong(key, "true or false", v))?);
            }
            other => return Err(Error::UnknownKey { key: other.to_string(), origin: origin_s.clone() }),
        }
    }
    Ok(s)
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|x| x.as_str().map(str::to_string)).collect()
}

fn string_table(v: &Value) -> Option<BTreeMap<String, String>> {
    v.as_object()?.iter().map(|(k, x)| Some((k.clone(), x.as_str()?.to_string()))).collect()
}

/// An entry of a table of strings that is not one: the table's key, the entry's name, the
/// settings it is in, what it is, and its text when quoting it would do.
#[derive(Debug)]
pub(crate) struct NotString {
    key: String,
    entry: String,
    origin: String,
    got: String,
    quoted: Option<String>,
}

/// The first entry of the table `v` that is not a string: its name, what it is, and its
/// text when quoting it would do (a number or a boolean).
fn not_a_string(v: &Value) -> Option<(String, String, Option<String>)> {
    let (entry, x) = v.as_object()?.iter().find(|(_, x)| !x.is_string())?;
    let quoted = match x {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    Some((entry.clone(), type_name(x), quoted))
}

/// `name` as a TOML key: bare when it can be, else quoted.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// `8080` or `53/udp` → `8080/tcp`, `53/udp`.
pub(crate) fn port(text: &str) -> Result<String, String> {
    let (num, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let num = num.trim();
    let digits = !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit());
    let n: u16 =
        num.parse().ok().filter(|_| digits).ok_or_else(|| format!("{text:?} is not a port number from 1 to 65535"))?;
    if n == 0 {
        return Err("port 0 cannot be exposed".into());
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("{text:?} has protocol {proto:?}; expected tcp, udp or sctp"));
    }
    Ok(format!("{n}/{proto}"))
}

/// A user the image's `/etc/passwd` knows, or numeric ids.
pub(crate) fn user(text: &str) -> Result<String, String> {
    let numeric =
        |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && part.parse::<u32>().is_ok();
    let known = |part: &str, names: &[&str]| names.contains(&part) || numeric(part);
    let (u, g) = text.split_once(':').unwrap_or((text, ""));
    if !known(u, &["root", "nonroot"]) || (!g.is_empty() && !known(g, &["root", "nonroot"])) {
        return Err(format!(
            "{text:?} is neither numeric (UID[:GID]) nor a user of the image (root, nonroot); the default is \"65532:65532\""
        ));
    }
    Ok(text.to_string())
}

/// A user as the image config spells it, `USER[:GROUP]`, each part numeric or a name
/// (letters, digits, `_`, `-`, `.`, not starting with `-`, at most 32 bytes, as `useradd`
/// takes, and `$` at the end as Samba machine accounts have). Whether a name exists is
/// asked later: of our own users on scratch ([`user`]), of the base's /etc/passwd and
/// /etc/group on a base.
pub(crate) fn user_syntax(text: &str) -> Result<String, String> {
    let name_ok = |part: &str| {
        let body = part.strip_suffix('$').unwrap_or(part);
        !body.is_empty()
            && part.len() <= 32
            && !body.starts_with('-')
            && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            && (!body.bytes().all(|b| b.is_ascii_digit()) || part.parse::<u32>().is_ok())
    };
    let (u, g) = text.split_once(':').unwrap_or((text, ""));
    if !name_ok(u) || (!g.is_empty() && !name_ok(g)) {
        return Err(format!(
            "{text:?} is neither numeric (UID[:GID]) nor a user name (letters, digits, `_`, `-`, `.`); the default is \"65532:65532\""
        ));
    }
    Ok(text.to_string())
}

/// The working directory: an absolute path without `.` or `..`, normalised.
pub(crate) fn workdir(text: &str) -> Result<String, String> {
    image_path(text).map_err(|why| format!("{text:?} {why}"))
}

/// An absolute path in the image: starts with `/`, has no `.` or `..` component and no NUL;
/// doubled and trailing slashes are dropped. `/` itself is allowed (it names the root).
fn image_path(text: &str) -> Result<String, &'static str> {
    if !text.starts_with('/') {
        return Err("is not an absolute path");
    }
    if text.contains('\0') {
        return Err("holds a NUL character");
    }
    let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err("has a `.` or `..` component; write the path without them");
    }
    Ok(format!("/{}", parts.join("/")))
}

/// A label or annotation: a key that is not empty, and no NUL anywhere.
pub(crate) fn metadata_pair(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(format!("a key is empty (value {value:?})"));
    }
    if key.contains('\0') || value.contains('\0') {
        return Err(format!("{key:?} holds a NUL character"));
    }
    Ok(())
}

/// Checks an include: `from` exists under `base` (symlinks resolved) and is a regular file
/// or a directory; `to` is an absolute path in the image below `/`.
/// One file of `extra-ca-certificates`: its path as written, and its certificates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ExtraCa {
    pub(crate) shown: String,
    pub(crate) certificates: Vec<Vec<u8>>,
}

/// Reads the PEM file `path` (relative to `dir`, the package's directory, and inside it)
/// and checks that it holds certificates, and only certificates.
fn extra_ca(dir: &std::path::Path, path: &str) -> Result<ExtraCa, String> {
    let rel = std::path::Path::new(path);
    if rel.is_absolute() || path.contains('\0') {
        return Err(format!("{path:?} must be a path relative to the package directory ({})", dir.display()));
    }
    let full = dir.join(rel);
    let resolved = std::fs::canonicalize(&full).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{} does not exist", full.display()),
        _ => format!("{}: {e}", full.display()),
    })?;
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !resolved.starts_with(&root) {
        return Err(format!(
            "{path:?} resolves to {}, outside the package directory ({}); copy the file into the package",
            resolved.display(),
            root.display()
        ));
    }
    let text = crate::fsutil::read_regular(&resolved, 1 << 20).map_err(|e| format!("{}: {e}", full.display()))?;
    let certificates =
        crate::image::base::pem_certificates(&text).map_err(|why| format!("{}: {why}", full.display()))?;
    Ok(ExtraCa { shown: path.to_string(), certificates })
}

pub(crate) fn include(base: IncludeBase, from: &str, to: &str) -> Result<Include, String> {
    use std::path::Path;
    if from.contains('\0') {
        return Err("`from` holds a NUL character".into());
    }
    let rel = Path::new(from);
    let where_ = if base.absolute_ok { "the current directory" } else { "the package directory" };
    if rel.is_absolute() && !base.absolute_ok {
        return Err(format!(
            "`from` {from:?} is an absolute path; it must be relative to {where_} ({})",
            base.dir.display()
        ));
    }
    let path = base.dir.join(rel);
    let resolved = std::fs::canonicalize(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{} does not exist", path.display()),
        _ => format!("{}: {e}", path.display()),
    })?;
    let dir = std::fs::canonicalize(base.dir).unwrap_or_else(|_| base.dir.to_path_buf());
    let inside = resolved.strip_prefix(&dir).ok().map(Path::to_path_buf);
    if inside.is_none() && !base.outside_ok {
        return Err(format!(
            "`from` {from:?} resolves to {}, outside {where_} ({}); {}",
            resolved.display(),
            dir.display(),
            if base.absolute_ok {
                "pass --allow-include-outside to copy files from anywhere"
            } else {
                "include only files of the package, or copy them into it first"
            }
        ));
    }
    let meta = std::fs::metadata(&resolved).map_err(|e| format!("{}: {e}", resolved.display()))?;
    if !(meta.is_file() || meta.is_dir()) {
        return Err(format!(
            "{} is {}; only regular files and directories can be included",
            path.display(),
            crate::image::include::kind_of(&meta)
        ));
    }
    let to = image_path(to).map_err(|why| format!("the destination {to:?} {why}"))?;
    if to == "/" {
        return Err("the destination \"/\" is the image's root; name a directory below it, e.g. \"/srv\"".into());
    }
    let shown = match inside {
        Some(p) if p.as_os_str().is_empty() => ".".to_string(),
        Some(p) => p.display().to_string(),
        // Outside, by request: only the last component, so no host path is recorded.
        None => resolved.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "/".into()),
    };
    Ok(Include { from: resolved, shown, to })
}

/// Checks that an `oci:` base named in a table of Cargo.toml stays inside `dir` (the
/// package's directory, or the workspace root for the workspace's table), symlinks
/// resolved, as an include's `from` does: never absolute, never climbing out. Not asked
/// with `--allow-base-outside`, nor of `--base` on the command line.
pub(crate) fn confine_base(base: &crate::base::BaseRef, dir: &std::path::Path, where_: &str) -> Result<(), String> {
    use std::path::Component;
    let crate::base::BaseRef::Layout { dir: layout, shown, .. } = base else { return Ok(()) };
    let fix = "put the layout inside it, name it on the command line (--base), or pass --allow-base-outside";
    let written = shown.trim_start_matches("oci:");
    // A relative directory was joined to `dir`: one that does not start with it was absolute.
    if !layout.starts_with(dir) {
        return Err(format!(
            "the `oci:` directory {} is an absolute path; it must be relative to {where_} ({}): {fix}",
            layout.display(),
            dir.display()
        ));
    }
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    // Symlinks resolved as far as the path exists (the kernel's way, `..` included); the
    // rest, which does not exist yet, read by hand.
    let (exists, rest) = layout
        .ancestors()
        .find_map(|a| Some((std::fs::canonicalize(a).ok()?, layout.strip_prefix(a).ok()?)))
        .unwrap_or_else(|| (root.clone(), layout.strip_prefix(dir).unwrap_or(layout)));
    let mut resolved = exists;
    for c in rest.components() {
        match c {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            c => resolved.push(c),
        }
    }
    if !resolved.starts_with(&root) {
        return Err(format!(
            "the `oci:` directory {written:?} resolves to {}, outside {where_} ({}): {fix}",
            resolved.display(),
            root.display()
        ));
    }
    Ok(())
}

/// `K=V` flags into a table; a NUL anywhere is refused.
pub(crate) fn pairs(flag: &'static str, values: &[String]) -> Result<BTreeMap<String, String>, Error> {
    values
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some(_) if kv.contains('\0') => {
                Err(Error::BadFlag { flag, value: kv.clone(), reason: "holds a NUL character".into() })
            }
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::BadFlag { flag, value: kv.clone(), reason: "expected KEY=VALUE".into() }),
        })
        .collect()
}

impl Settings {
    /// `self` overridden by `over`: scalars and lists are replaced, tables merged by key.
    pub(crate) fn merge(mut self, over: Settings) -> Settings {
        macro_rules! replace {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        replace!(
            args,
            entrypoint,
            ports,
            user,
            workdir,
            include,
            ca_certificates,
            extra_ca_certificates,
            tags,
            repository,
            platforms,
            target,
            base,
            sbom,
            provenance,
            auditable,
            init
        );
        self.env.extend(over.env);
        self.labels.extend(over.labels);
        self.annotations.extend(over.annotations);
        self
    }
}

/// An SBOM format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Format {
    Spdx,
    CycloneDx,
}

impl Format {
    pub(crate) const ALL: [Format; 2] = [Format::Spdx, Format::CycloneDx];

    /// Parses a format's name as the `sbom` key writes it.
    pub(crate) fn parse(name: &str) -> Result<Format, String> {
        match name.to_ascii_lowercase().as_str() {
            "spdx" | "spdx-json" => Ok(Format::Spdx),
            "cyclonedx" | "cyclonedx-json" | "cdx" => Ok(Format::CycloneDx),
            _ => Err(format!("unknown SBOM format {name:?}; expected \"spdx\" or \"cyclonedx\"")),
        }
    }
}

/// Which documents each kind of destination gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// The SBOM formats (empty for none): for pushes; for layouts too only when asked for
    /// explicitly (`sbom_layout`).
    pub(crate) sbom: Vec<Format>,
    pub(crate) sbom_layout: bool,
    /// Provenance for pushes; for layouts too only when asked for explicitly.
    pub(crate) provenance_push: bool,
    pub(crate) provenance_layout: bool,
}

impl Default for Wanted {
    /// What a run with no `sbom` or `provenance` setting gets.
    fn default() -> Wanted {
        Wanted::from_settings(None, None)
    }
}

impl Wanted {
    /// From the `sbom` and `provenance` settings (`None`: the defaults). A layout holds the
    /// documents only when they are asked for: with its image alone, every reader opens it
    /// (syft's `oci-dir:` and others take a layout of one manifest only).
    pub(crate) fn from_settings(sbom: Option<&[Format]>, provenance: Option<bool>) -> Wanted {
        let sbom_layout = sbom.is_some_and(|s| !s.is_empty());
        let sbom = sbom.map_or_else(|| Format::ALL.to_vec(), <[Format]>::to_vec);
        Wanted {
            sbom,
            sbom_layout,
            provenance_push: provenance.unwrap_or(true),
            provenance_layout: provenance.unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin() -> Origin {
        Origin { table: "package.metadata.containerize", manifest: "app/Cargo.toml".into() }
    }

    fn parse_ok(v: Value) -> Settings {
        parse(&v, &origin(), std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn parse_err(v: Value) -> String {
        parse(&v, &origin(), std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err().to_string()
    }

    #[test]
    fn every_key_parses() {
        let s = parse_ok(json!({
            "args": ["--port", "8080"], "entrypoint": true, "env": {"A": "1"}, "ports": [8080, "53/udp"],
            "user": "root", "workdir": "/data", "labels": {"l": "v"}, "annotations": {"a": "b"},
            "include": [{"from": "fixtures", "to": "/srv"}], "ca-certificates": false, "tags": ["1.0"],
            "repository": "127.0.0.1:5000/app",
        }));
        assert_eq!(s.ports, Some(vec!["8080/tcp".to_string(), "53/udp".to_string()]));
        assert_eq!(s.ca_certificates, Some(CaCertificates::Never));
        assert_eq!(s.include.unwrap()[0].to, "/srv");
        assert_eq!(s.entrypoint, Some(true));
    }

    #[test]
    fn an_unknown_key_is_named_with_the_valid_ones() {
        let err = parse_err(json!({"argz": []}));
        assert!(err.contains("unknown key `argz`"), "{err}");
        assert!(err.contains("[package.metadata.containerize] in app/Cargo.toml"), "{err}");
        assert!(err.contains("args, entrypoint, env, ports, user, workdir"), "{err}");
    }

    #[test]
    fn an_unknown_key_near_a_valid_one_is_suggested() {
        let hint = |key: &str| Error::UnknownKey { key: key.into(), origin: String::new() }.hint().unwrap();
        assert!(hint("port").contains("did you mean `ports`?"), "{}", hint("port"));
        assert!(hint("workingdir").contains("did you mean `workdir`?"), "{}", hint("workingdir"));
        assert!(hint("repo").contains("did you mean `repository`?"), "{}", hint("repo"));
        // Nothing near: no guess.
        assert!(!hint("zzzzzz").contains("did you mean"), "{}", hint("zzzzzz"));
    }

    #[test]
    fn a_wrong_type_names_the_key_and_the_expected_type() {
        let err = parse_err(json!({"ports": "8080"}));
        assert!(
            err.contains("`ports`") && err.contains("must be an array of ports") && err.contains("the string \"8080\""),
            "{err}"
        );
        let err = parse_err(json!({"env": "A=1"}));
        assert!(err.contains("`env`") && err.contains("a table of strings"), "{err}");
        // An entry that is no string is named, with the quoting that fixes it.
        let hint = |v: Value| parse(&v, &origin(), std::path::Path::new(".")).unwrap_err().hint().unwrap();
        let err = parse_err(json!({"env": {"RUST_LOG": "info", "PORT": 8080}}));
        assert!(err.contains("`env.PORT`") && err.contains("must be a string, not the number 8080"), "{err}");
        assert_eq!(hint(json!({"env": {"PORT": 8080}})), "quote it: env = { PORT = \"8080\" }");
        assert_eq!(hint(json!({"labels": {"a.b": true}})), "quote it: labels = { \"a.b\" = \"true\" }");
        let err = parse_err(json!({"annotations": {"x": [1]}}));
        assert!(err.contains("`annotations.x`") && err.contains("not an array"), "{err}");
        assert_eq!(hint(json!({"annotations": {"x": [1]}})), "write it as annotations = { x = \"...\" }");
        let err = parse_err(json!({"entrypoint": "yes"}));
        assert!(err.contains("true or false"), "{err}");
    }

    #[test]
    fn bad_values_say_why() {
        assert!(parse_err(json!({"ports": [70000]})).contains("not a port number"));
        assert!(parse_err(json!({"ports": ["53/xyz"]})).contains("expected tcp, udp or sctp"));
        assert!(parse_err(json!({"user": "al ice"})).contains("neither numeric"));
        assert!(parse_err(json!({"user": "-x"})).contains("neither numeric"));
        assert!(parse_err(json!({"user": "99999999999"})).contains("neither numeric"));
        // A name is looked up later: in our users on scratch, in the base's on a base.
        assert_eq!(parse_ok(json!({"user": "www-data:staff"})).user.as_deref(), Some("www-data:staff"));
        assert!(parse_err(json!({"user": "+5:+6"})).contains("neither numeric"));
        assert!(parse_err(json!({"ports": ["+80"]})).contains("not a port number"));
        assert!(parse_err(json!({"workdir": "data"})).contains("not an absolute path"));
        assert!(parse_err(json!({"include": [{"from": "nope", "to": "/x"}]})).contains("does not exist"));
        assert!(parse_err(json!({"include": [{"from": "src", "to": "x"}]})).contains("absolute path"));
    }

    #[test]
    fn values_that_would_be_accepted_wrong_are_refused_before_the_build() {
        assert!(parse_err(json!({"env": {"A=B": "c"}})).contains("holds `=`"));
        assert!(parse_err(json!({"env": {"": "c"}})).contains("empty name"));
        assert!(parse_err(json!({"env": {"A": "x\u{0}y"}})).contains("NUL"));
        assert!(parse_err(json!({"args": ["a\u{0}"]})).contains("NUL"));
        assert!(parse_err(json!({"labels": {"": "x"}})).contains("key is empty"));
        assert!(parse_err(json!({"annotations": {"n\u{0}": "v"}})).contains("NUL"));
        assert!(parse_err(json!({"workdir": "/../x"})).contains("`..`"));
        assert!(parse_err(json!({"workdir": "/a/./b"})).contains("`.`"));
        assert!(parse_err(json!({"include": [{"from": "src", "to": "/"}]})).contains("root"));
        assert!(parse_err(json!({"include": [{"from": "src", "to": "//"}]})).contains("root"));
        assert!(parse_err(json!({"include": [{"from": "src", "to": "/a\u{0}"}]})).contains("NUL"));
        assert!(parse_err(json!({"include": [{"from": "src", "to": "/a/../b"}]})).contains("`..`"));
        assert!(parse_err(json!({"tags": [""]})).contains("empty"));
        assert_eq!(parse_ok(json!({"workdir": "/data//x/"})).workdir.as_deref(), Some("/data/x"));
    }

    #[test]
    fn include_sources_stay_inside_the_package() {
        let err = parse_err(json!({"include": [{"from": "/etc/hostname", "to": "/x"}]}));
        assert!(err.contains("absolute path") && err.contains("relative to the package"), "{err}");
        let err = parse_err(json!({"include": [{"from": "../../../../../../../../etc/hostname", "to": "/x"}]}));
        assert!(err.contains("outside the package directory"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", pkg.join("host")).unwrap();
        let base = IncludeBase { dir: &pkg, absolute_ok: false, outside_ok: false };
        assert!(include(base, "host", "/x").unwrap_err().contains("outside the package directory"));
        std::fs::write(pkg.join("ok.txt"), "x").unwrap();
        let inc = include(base, "./ok.txt", "/srv//ok.txt").unwrap();
        assert_eq!((inc.shown.as_str(), inc.to.as_str()), ("ok.txt", "/srv/ok.txt"));
        let cli = IncludeBase { dir: &pkg, absolute_ok: true, outside_ok: false };
        assert!(include(cli, "/etc/hostname", "/x").unwrap_err().contains("--allow-include-outside"));
        let anywhere = IncludeBase { dir: &pkg, absolute_ok: true, outside_ok: true };
        assert_eq!(include(anywhere, "/etc/hostname", "/x").unwrap().shown, "hostname");
        assert!(include(anywhere, "/dev/zero", "/x").unwrap_err().contains("character device"));
    }

    #[test]
    fn oci_bases_in_cargo_toml_stay_inside_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(pkg.join("bases/cc")).unwrap();
        std::os::unix::fs::symlink(dir.path(), pkg.join("up")).unwrap();
        let check = |text: &str| {
            let base = crate::base::BaseRef::parse(text, &pkg).unwrap();
            confine_base(&base, &pkg, "the package directory")
        };
        assert_eq!(check("oci:bases/cc:1"), Ok(()));
        assert_eq!(check("oci:./bases/../bases/cc"), Ok(()));
        assert_eq!(check("oci:not-yet-there"), Ok(()));
        assert_eq!(check("ghcr.io/acme/cc:12"), Ok(()));
        let err = check("oci:/srv/layouts/cc:1").unwrap_err();
        assert!(err.contains("absolute path") && err.contains("--allow-base-outside"), "{err}");
        for outside in ["oci:../../x:1", "oci:bases/../../x", "oci:up/pkg/../elsewhere"] {
            let err = check(outside).unwrap_err();
            assert!(err.contains("outside the package directory") && err.contains("--base"), "{outside}: {err}");
        }
    }

    #[test]
    fn package_overrides_workspace_and_tables_merge_by_key() {
        let ws = Settings {
            user: Some("root".into()),
            env: [("A".into(), "1".into()), ("B".into(), "1".into())].into(),
            ..Default::default()
        };
        let pkg = Settings { env: [("B".into(), "2".into())].into(), ..Default::default() };
        let merged = ws.merge(pkg);
        assert_eq!(merged.user.as_deref(), Some("root"));
        assert_eq!(merged.env, [("A".to_string(), "1".to_string()), ("B".to_string(), "2".to_string())].into());
    }
}
