//! Turns the command line and the workspace into a `Plan`: which binary, which image
//! settings, which outputs. Every bad-input error is found here, before anything is built.

use crate::build::BuildSpec;
use crate::cli::Args;
use crate::image::config::rfc3339;
use crate::platform::Platform;
use crate::reference::{self, Reference};
use crate::settings::{self, Settings};
use crate::spec::{self, ImageSpec};
use crate::tuning::Tuning;
use crate::workspace::{self, Workspace};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub(crate) use crate::sink::SinkSpec;

/// One platform's build.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlatformBuild {
    pub(crate) platform: Platform,
    pub(crate) build: BuildSpec,
}

/// Everything to do, resolved and checked: one or more images, each of one binary. (A run
/// makes one image today; the workspace issue selects several.)
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// The images, in order; at least one.
    pub(crate) images: Vec<ImageTarget>,
    pub(crate) target_dir: PathBuf,
    /// The workspace root.
    pub(crate) workspace_root: PathBuf,
    /// Standard output carries data (`--tarball -`, `--metadata-file -`): the result lines
    /// go to stderr.
    pub(crate) stdout_taken: bool,
    /// With several images, `--tarball FILE`: one tar of every image (`sink::bundle`).
    pub(crate) bundle: Option<PathBuf>,
}

impl Plan {
    /// The registry hosts (`host[:port]`) the run pushes to, in order, each once.
    pub(crate) fn push_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        for image in &self.images {
            for host in image.push_hosts() {
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
        }
        hosts
    }

    /// Every destination of every image.
    pub(crate) fn sinks(&self) -> impl Iterator<Item = &SinkSpec> {
        self.images.iter().flat_map(|i| &i.sinks)
    }

    /// What `--dry-run` prints: each image's package, binary, platforms, base and
    /// destinations, named in full, with the kinds of the results file.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let images: Vec<serde_json::Value> = self
            .images
            .iter()
            .map(|i| {
                let mut destinations = Vec::new();
                for s in &i.sinks {
                    match s {
                        SinkSpec::Layout { dir, ref_names, default } => destinations.push(json!({
                            "kind": "layout", "reference": dir.display().to_string(), "names": ref_names,
                            "default": default,
                        })),
                        SinkSpec::Archive { path, tags, ref_names } => destinations.push(json!({
                            "kind": "tarball", "reference": path.display().to_string(), "names": ref_names,
                            "tags": tags.iter().map(Reference::with_default_tag).collect::<Vec<_>>(),
                        })),
                        SinkSpec::Daemon { tags } => destinations
                            .extend(tags.iter().map(|t| json!({"kind": "engine", "reference": t.with_default_tag()}))),
                        SinkSpec::Registry { references } => destinations.extend(
                            references.iter().map(|r| json!({"kind": "registry", "reference": r.with_default_tag()})),
                        ),
                    }
                }
                json!({
                    "package": i.package(),
                    "bin": i.bin(),
                    "platforms": i.builds.iter().map(|b| b.platform.to_string()).collect::<Vec<_>>(),
                    "targets": i.builds.iter().map(|b| b.build.target.clone()).collect::<Vec<_>>(),
                    "loadPlatform": i.load_platform.as_ref().map(ToString::to_string),
                    "base": i.image.parent.shown(),
                    "destinations": destinations,
                })
            })
            .collect();
        json!({"images": images})
    }
}

/// One image: a package's binary, built for each platform, with its settings resolved and
/// its destinations.
#[derive(Clone, Debug)]
pub(crate) struct ImageTarget {
    /// One build per platform, in order; at least one.
    pub(crate) builds: Vec<PlatformBuild>,
    /// With several platforms, the one loaded into Docker or written to `--tarball`.
    pub(crate) load_platform: Option<Platform>,
    /// The package's directory.
    pub(crate) package_dir: PathBuf,
    pub(crate) image: ImageSpec,
    pub(crate) sinks: Vec<SinkSpec>,
    /// The documents attached to pushes and layouts.
    pub(crate) documents: crate::settings::Wanted,
    /// Where the SBOMs are written as files too (`--sbom-output DIR`).
    pub(crate) sbom_output: Option<PathBuf>,
    /// In the run's bundle (several images and `--tarball`): its tags and its names there.
    pub(crate) bundled: Option<(Vec<Reference>, Vec<String>)>,
}

impl ImageTarget {
    /// Whether any destination holds referrers: a registry (`push`) or a layout.
    pub(crate) fn has_sink(&self, push: bool) -> bool {
        self.sinks.iter().any(|s| match s {
            SinkSpec::Registry { .. } => push,
            SinkSpec::Layout { .. } => !push,
            _ => false,
        })
    }

    /// Whether this run attaches SBOMs, and provenance, anywhere.
    pub(crate) fn wants_documents(&self) -> (bool, bool) {
        let d = &self.documents;
        let sbom = !d.sbom.is_empty()
            && (self.has_sink(true) || (d.sbom_layout && self.has_sink(false)) || self.sbom_output.is_some());
        let provenance = (d.provenance_push && self.has_sink(true)) || (d.provenance_layout && self.has_sink(false));
        (sbom, provenance)
    }

    /// The binary that goes into the image.
    pub(crate) fn bin(&self) -> &str {
        &self.builds[0].build.bin
    }

    /// The package whose binary it is.
    pub(crate) fn package(&self) -> &str {
        &self.builds[0].build.package
    }

    /// The registry hosts (`host[:port]`) this image goes to, in order, each once.
    pub(crate) fn push_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        for sink in &self.sinks {
            if let SinkSpec::Registry { references } = sink {
                for host in references.iter().filter_map(|r| r.registry.clone()) {
                    if !hosts.contains(&host) {
                        hosts.push(host);
                    }
                }
            }
        }
        hosts
    }
}

/// Bad input, found before building.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Reference(#[from] reference::Error),
    #[error(transparent)]
    Workspace(#[from] workspace::Error),
    #[error("package `{name}` is not a member of this workspace; members: {}", members.join(", "))]
    UnknownPackage { name: String, members: Vec<String> },
    #[error("no binary target named `{bin}`{}", if candidates.is_empty() { String::new() } else { format!("; binaries: {}", candidates.join(", ")) })]
    UnknownBin { bin: String, candidates: Vec<String> },
    #[error("more than one binary could go into the image:\n{}", candidates.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"))]
    AmbiguousBinary { candidates: Vec<String> },
    #[error("{} has no binary target, so there is nothing to put into an image", packages.join(", "))]
    NoBinary { packages: Vec<String> },
    #[error("SOURCE_DATE_EPOCH should be the number of seconds since 1970-01-01 00:00:00 UTC, from 0 to {MAX_EPOCH} (the end of year 9999), got {value:?}")]
    BadEpoch { value: String },
    #[error("`{what}` did not answer within {seconds} s")]
    GitTimeout { what: String, seconds: u64 },
    #[error("--name names the image in a tarball or a layout, and this run writes neither")]
    NameWithoutFile,
    #[error("--config {given} {problem}")]
    CargoConfig { given: String, problem: String },
    #[error("--config {given} sets rustflags, which cargo would not use here: this tool gives cargo CARGO_ENCODED_RUSTFLAGS (your configured flags, plus the remapping that keeps host paths out of the binary), and cargo prefers it to configured rustflags")]
    CargoConfigRustflags { given: String },
    #[error("conflicting usage of --profile={profile} and --release: --release means the release profile")]
    ReleaseAndProfile { profile: String },
    #[error("--sbom-output was given, but the settings of package `{package}` turn SBOMs off (sbom = false or [])")]
    SbomsOff { package: String },
    #[error("an included file cannot be copied: {message}")]
    Include { message: String },
    #[error("the workspace of {} has no packages, so there is nothing to put into an image", manifest.display())]
    EmptyWorkspace { manifest: PathBuf },
    #[error("{flag} {input:?} names a digest; {}", if *flag == "--push" { "a push destination names a repository and a tag, and the digest is known only once the image is built" } else { "Docker names images NAME[:TAG]" })]
    DigestDestination { flag: &'static str, input: String },
    #[error("cannot push to {reference:?}{}: it names no registry host", from.map(|f| format!(" (from {f})")).unwrap_or_default())]
    NoRegistryHost { reference: String, repository: String, from: Option<&'static str> },
    #[error("the target {target} is not a Linux target, so it cannot run in a container")]
    NotLinux { target: String },
    #[error(transparent)]
    Settings(#[from] settings::Error),
    #[error("{flag} names no repository, and `repository` is not set")]
    NoRepository { flag: &'static str },
    #[error(transparent)]
    Platform(#[from] crate::platform::Unsupported),
    #[error("the binaries `{bin}` of {} would get one image name", packages.join(" and "))]
    SameImageName { bin: String, packages: Vec<String> },
    #[error("the binary `{bin}` cannot name an image: an image name's components are lowercase letters, digits and the separators '.', '_' or '-'")]
    BinNotARepository { bin: String },
    #[error("{what} is not supported with several images yet")]
    NotWithSeveral { what: &'static str },
    #[error("the images of {} would both be {name}", images.join(" and "))]
    OneName { name: String, images: Vec<String> },
    #[error("{ENV_REPOSITORY}={value:?} is not a registry prefix: {reason}")]
    BadRepositoryVariable { value: String, reason: String },
    #[error("the image for {wanted} would be loaded into Docker or the tarball, but it is not among the platforms built ({})", built.join(", "))]
    LoadPlatform { wanted: String, built: Vec<String> },
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Workspace(e) => e.hint(),
            Error::SameImageName { .. } => Some(
                "leave one out (--exclude PACKAGE, or --bin for the one you want), or rename one ([[bin]] name = \
                 \"...\" in its Cargo.toml)"
                    .into(),
            ),
            Error::BinNotARepository { bin } => Some(format!(
                "rename it ([[bin]] name = \"{}\" in its Cargo.toml), or leave it out (--exclude, --bin)",
                bin.to_lowercase()
            )),
            Error::NotWithSeveral { .. } => Some(
                "write the tarball of every image to a file (--tarball FILE), or one image's to standard output \
                 (-p PACKAGE --bin NAME --tarball -)"
                    .into(),
            ),
            Error::OneName { .. } => Some(
                "give each its own name: a `repository` in each package's [package.metadata.containerize], or \
                 a prefix (--push REGISTRY/PREFIX, or `repository` in [workspace.metadata.containerize]) that \
                 each image's binary name follows"
                    .into(),
            ),
            Error::BadRepositoryVariable { .. } => Some(format!(
                "set {ENV_REPOSITORY} to REGISTRY/PREFIX, e.g. 127.0.0.1:5000/acme or ghcr.io/OWNER: each image goes \
                 to REGISTRY/PREFIX/<bin>"
            )),
            Error::AmbiguousBinary { .. } => Some("choose one with the flags shown".into()),
            Error::UnknownPackage { .. } | Error::UnknownBin { .. } => Some("pass one of the names listed".into()),
            Error::NoBinary { .. } => {
                Some("add a src/main.rs or a [[bin]] target, or choose another package with -p".into())
            }
            Error::BadEpoch { .. } => {
                Some("unset it, or set it as in `SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)`".into())
            }
            Error::SbomsOff { .. } => {
                Some("pass --sbom to make them anyway, or leave --sbom-output out".into())
            }
            Error::NameWithoutFile => Some(
                "add --tarball FILE (docker load -i FILE then lists the name) or --output DIR; to load the image \
                 into the engine, use --tag NAME"
                    .into(),
            ),
            Error::CargoConfig { .. } => {
                Some("give a `KEY=VALUE` in TOML (`--config 'build.jobs=2'`) or the path of a TOML file".into())
            }
            Error::CargoConfigRustflags { .. } => Some(
                "set them in RUSTFLAGS (or CARGO_ENCODED_RUSTFLAGS), or in .cargo/config.toml: the tool reads both and \
                 passes them on"
                    .into(),
            ),
            Error::ReleaseAndProfile { profile } => {
                Some(format!("remove one of them: --release (the default here) or --profile {profile}"))
            }
            Error::GitTimeout { .. } => Some(
                "check that `git status` works in the package's directory: a damaged .git can make git wait for ever"
                    .into(),
            ),
            Error::Include { .. } => Some(
                "remove that file from the included tree, or include only the files you want, one by one".into(),
            ),
            Error::EmptyWorkspace { .. } => Some(
                "add a package with a binary (`cargo new --bin NAME` inside the workspace), or pass --manifest-path \
                 with the Cargo.toml of a package"
                    .into(),
            ),
            Error::DigestDestination { flag, input } => {
                let name = input.split('@').next().unwrap_or(input);
                Some(format!("drop the digest: {flag} {name}; the digest is printed once the image is pushed"))
            }
            Error::NoRegistryHost { repository, from: Some(ENV_REPOSITORY), .. } => Some(format!(
                "write the registry host first in {ENV_REPOSITORY}, e.g. 127.0.0.1:5000/{repository} or ghcr.io/OWNER"
            )),
            Error::NoRegistryHost { repository, from: Some(_), .. } => Some(format!(
                "write the registry host first in `repository`, e.g. repository = \"127.0.0.1:5000/{repository}\" or \"ghcr.io/OWNER/{repository}\""
            )),
            Error::NoRegistryHost { repository, .. } => Some(format!(
                "write the registry host first, e.g. --push 127.0.0.1:5000/{repository}:1.0 or --push ghcr.io/OWNER/{repository}:1.0"
            )),
            Error::NotLinux { .. } => Some("use a musl target, e.g. --target x86_64-unknown-linux-musl".into()),
            Error::Settings(e) => e.hint(),
            Error::Platform(_) => {
                Some("pass --platform with platforms from that list, e.g. linux/amd64,linux/arm64".into())
            }
            Error::LoadPlatform { .. } => {
                Some("choose one with --load-platform, e.g. --load-platform linux/arm64".into())
            }
            Error::NoRepository { flag } => Some(format!(
                "give {flag} a full reference such as 127.0.0.1:5000/app:1.0, set `repository = \"REGISTRY/REPO\"` \
                 in [package.metadata.containerize] (or a prefix in [workspace.metadata.containerize]), or set \
                 {ENV_REPOSITORY}=REGISTRY/PREFIX for --push"
            )),
            Error::Reference(_) => Some(
                "a reference is NAME[:TAG]: lowercase name components of a-z, 0-9 and . _ -, \
                 and a tag of up to 128 letters, digits, _ . -; e.g. myimage:1.0"
                    .into(),
            ),
        }
    }
}

/// A `--tag` or `--push` value before the settings fill it in.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RefArg {
    /// A full reference.
    Full(Reference),
    /// `:TAG`, or nothing at all (`--push` alone): the `repository` setting supplies the name.
    TagOnly(Option<String>),
}

/// Parses every `--tag` and `--push` value. Runs first, so bad names fail before any work:
/// errors quote the value as typed, a digest is no destination, and a push names its
/// registry host.
pub(crate) fn references(args: &Args) -> Result<References, Error> {
    // `--release` is what the default profile is already; with another one, cargo refuses it.
    if args.release && args.profile != "release" {
        return Err(Error::ReleaseAndProfile { profile: args.profile.clone() });
    }
    cargo_config(&args.config)?;
    let parse = |flag: &'static str, t: &String| -> Result<RefArg, Error> {
        if t.is_empty() {
            return Ok(RefArg::TagOnly(None));
        }
        if let Some(tag) = t.strip_prefix(':') {
            reference::check_tag(tag).map_err(|reason| reference::Error::Invalid { input: t.clone(), reason })?;
            return Ok(RefArg::TagOnly(Some(tag.to_string())));
        }
        let r = Reference::parse(t)?;
        if r.digest.is_some() {
            return Err(Error::DigestDestination { flag, input: t.clone() });
        }
        if flag == "--push" && r.registry.is_none() {
            return Err(Error::NoRegistryHost { reference: t.clone(), repository: r.repository.clone(), from: None });
        }
        Ok(RefArg::Full(r))
    };
    let tags = args.tags.iter().map(|t| parse("--tag", t)).collect::<Result<Vec<_>, _>>()?;
    let pushes = args.push.iter().map(|t| parse("--push", t)).collect::<Result<Vec<_>, _>>()?;
    let names = args.names.iter().map(|t| parse("--name", t)).collect::<Result<Vec<_>, _>>()?;
    if !names.is_empty() && args.tarball.is_none() && args.output.is_none() {
        return Err(Error::NameWithoutFile);
    }
    Ok(References { tags, pushes, names })
}

/// The command line's references, parsed: `--tag` (loaded into the engine), `--push`, and
/// `--name` (names in the tarball and layout only).
pub(crate) struct References {
    pub(crate) tags: Vec<RefArg>,
    pub(crate) pushes: Vec<RefArg>,
    pub(crate) names: Vec<RefArg>,
}

/// What the command line selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Selection<'a> {
    /// One binary, named as today: `-p` and `--bin` at most once each, or neither.
    One { package: Option<&'a str>, bin: Option<&'a str> },
    /// One image per binary, each named from a prefix: `--workspace` (or `--all`),
    /// `--exclude`, `-p` or `--bin` more than once, or `--bins`. The naming follows from
    /// these flags, never from how many binaries the workspace has.
    Many,
}

/// What the command line selects (see [`Selection`]).
pub(crate) fn selection(args: &Args) -> Selection<'_> {
    let ws = &args.workspace;
    let many = ws.workspace || ws.all || !ws.exclude.is_empty() || ws.package.len() > 1 || args.bin.len() > 1;
    if many || args.bins {
        return Selection::Many;
    }
    Selection::One { package: ws.package.first().map(String::as_str), bin: args.bin.first().map(String::as_str) }
}

/// The (package, binary) pairs a several-image selection names, in workspace order: the
/// packages of `--workspace` (all members), `-p` or else the default members, less those of
/// `--exclude`; of each, the binaries `--bin` names, or all (`--bins`, or no `--bin`). A
/// member with no binary is skipped, and said so, unless `-p` named it. Two binaries of one
/// name would get one image name, and are refused.
pub(crate) fn select_many(all: &[Candidate], args: &Args) -> Result<Vec<(String, String)>, Error> {
    let ws = &args.workspace;
    let unknown = |name: &str| Error::UnknownPackage {
        name: name.into(),
        members: all.iter().map(|c| c.package.clone()).collect(),
    };
    for name in &ws.package {
        if !all.iter().any(|c| &c.package == name) {
            return Err(unknown(name));
        }
    }
    for name in ws.exclude.iter().filter(|n| !all.iter().any(|c| &c.package == *n)) {
        crate::shell::warn(format_args!("--exclude {name}: no member of this workspace is named so"));
    }
    let named = |c: &Candidate| ws.package.contains(&c.package);
    let packages: Vec<&Candidate> = all
        .iter()
        .filter(|c| {
            if ws.workspace || ws.all {
                true
            } else if ws.package.is_empty() {
                c.default_member
            } else {
                named(c)
            }
        })
        .filter(|c| !ws.exclude.contains(&c.package))
        .collect();
    let mut picks: Vec<(String, String)> = Vec::new();
    if !args.bin.is_empty() && !args.bins {
        for bin in &args.bin {
            let hits: Vec<&&Candidate> = packages.iter().filter(|c| c.bins.contains(bin)).collect();
            match hits.as_slice() {
                [one] => picks.push((one.package.clone(), bin.clone())),
                [] => {
                    return Err(Error::UnknownBin {
                        bin: bin.clone(),
                        candidates: packages
                            .iter()
                            .flat_map(|c| c.bins.iter().map(move |b| format!("-p {} --bin {b}", c.package)))
                            .collect(),
                    })
                }
                many => {
                    return Err(Error::SameImageName {
                        bin: bin.clone(),
                        packages: many.iter().map(|c| c.package.clone()).collect(),
                    })
                }
            }
        }
    } else {
        for c in &packages {
            if c.bins.is_empty() {
                if named(c) {
                    return Err(Error::NoBinary { packages: vec![format!("package `{}`", c.package)] });
                }
                crate::shell::note(format_args!("package `{}` has no binary target: no image of it", c.package));
            }
            picks.extend(c.bins.iter().map(|b| (c.package.clone(), b.clone())));
        }
    }
    if picks.is_empty() {
        return Err(Error::NoBinary {
            packages: packages.iter().map(|c| format!("package `{}`", c.package)).collect(),
        });
    }
    for (i, (package, bin)) in picks.iter().enumerate() {
        if let Some((other, _)) = picks[i + 1..].iter().find(|(_, b)| b == bin) {
            return Err(Error::SameImageName { bin: bin.clone(), packages: vec![package.clone(), other.clone()] });
        }
    }
    Ok(picks)
}

/// Two images that would get one name (a package's `repository` shared by its binaries,
/// say) are refused, naming both.
fn one_name_each(images: &[ImageTarget]) -> Result<(), Error> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for image in images {
        let who = format!("{}'s `{}`", image.package(), image.bin());
        for s in &image.sinks {
            let names: Vec<String> = match s {
                SinkSpec::Daemon { tags } => tags.iter().map(Reference::with_default_tag).collect(),
                SinkSpec::Registry { references } => references.iter().map(Reference::with_default_tag).collect(),
                SinkSpec::Archive { tags, .. } => tags.iter().map(Reference::with_default_tag).collect(),
                SinkSpec::Layout { .. } => Vec::new(),
            };
            for name in names {
                if let Some((_, other)) = seen.iter().find(|(n, w)| n == &name && w != &who) {
                    return Err(Error::OneName { name, images: vec![other.clone(), who] });
                }
                seen.push((name, who.clone()));
            }
        }
    }
    Ok(())
}

/// Each image's reference when several are built: `PREFIX/<bin>` for every `--tag` and
/// `--push` prefix, its tag kept.
fn under_prefix(refs: &[Reference], bin: &str) -> Result<Vec<Reference>, Error> {
    refs.iter()
        .map(|r| {
            let named = Reference { repository: format!("{}/{bin}", r.repository), ..r.clone() };
            // A binary whose name is no repository component cannot name an image.
            Reference::parse(&named.to_string()).map_err(|_| Error::BinNotARepository { bin: bin.to_string() })?;
            Ok(named)
        })
        .collect()
}

/// The variable that gives a name-less `--push` its prefix, as `KO_DOCKER_REPO` does ko's.
pub(crate) const ENV_REPOSITORY: &str = "CARGO_CONTAINERIZE_REPOSITORY";

/// Where a name-less `--tag` or `--push` (`:TAG`, or none) takes its repository, in this
/// order: for a push, [`ENV_REPOSITORY`], a prefix (`PREFIX/<bin>`); the package's own
/// `repository`, its image's full name; the workspace's `repository`, a prefix when the run
/// makes several images (`PREFIX/<bin>`) and the full name when it makes one. Returns the
/// name and where it came from.
fn bare_repository(
    flag: &'static str,
    bin: &str,
    several: bool,
    (package, workspace, env): (Option<&str>, Option<&str>, Option<&str>),
) -> Result<(String, &'static str), Error> {
    match (env.filter(|_| flag == "--push"), package, workspace) {
        (Some(prefix), _, _) => {
            let bad = |reason: String| Error::BadRepositoryVariable { value: prefix.to_string(), reason };
            let trimmed = prefix.trim_end_matches('/');
            let r = Reference::parse(trimmed).map_err(|e| bad(e.to_string()))?;
            if r.registry.is_none() {
                return Err(bad("it names no registry host".into()));
            }
            if r.tag.is_some() || r.digest.is_some() {
                return Err(bad(
                    "a prefix has no tag or digest: each image's tag comes from --push :TAG or `tags`".into()
                ));
            }
            Ok((format!("{trimmed}/{bin}"), ENV_REPOSITORY))
        }
        (None, Some(full), _) => Ok((full.to_string(), "the `repository` setting")),
        (None, None, Some(prefix)) if several => {
            Ok((format!("{prefix}/{bin}"), "the workspace's `repository` setting, a prefix with several images"))
        }
        (None, None, Some(full)) => Ok((full.to_string(), "the `repository` setting")),
        (None, None, None) => Err(Error::NoRepository { flag }),
    }
}

/// Fills in references: a name-less one takes `repository` (its name and where it came
/// from, or `None` when there is none); a tag-less one takes each of `tags` (else `latest`).
fn expand(
    refs: Vec<RefArg>,
    repository: &dyn Fn() -> Result<(String, &'static str), Error>,
    s: &Settings,
    flag: &'static str,
) -> Result<Vec<Reference>, Error> {
    let mut out: Vec<Reference> = Vec::new();
    for r in refs {
        let (base, tag) = match r {
            RefArg::Full(r) => (r.clone(), r.tag.clone()),
            RefArg::TagOnly(tag) => {
                let (repo, from) = repository()?;
                let r = Reference::parse(&repo)?;
                if flag == "--push" && r.registry.is_none() {
                    return Err(Error::NoRegistryHost {
                        reference: repo.to_string(),
                        repository: r.repository.clone(),
                        from: Some(from),
                    });
                }
                (r, tag)
            }
        };
        let tags: Vec<Option<String>> = match (tag, &base.digest, &s.tags) {
            (Some(t), _, _) => vec![Some(t)],
            (None, Some(_), _) => vec![None],
            (None, None, Some(list)) if !list.is_empty() => list.iter().cloned().map(Some).collect(),
            (None, None, _) => vec![None],
        };
        for tag in tags {
            let r = Reference { tag, ..base.clone() };
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Resolves the plan from the command line (its `--tag` and `--push` references parsed
/// already, by [`references`]) and the workspace: one image, or one per selected binary.
pub(crate) fn resolve(args: &Args, refs: References, ws: &Workspace, tuning: &Tuning) -> Result<Plan, Error> {
    let candidates = candidates(ws);
    if candidates.is_empty() {
        return Err(Error::EmptyWorkspace { manifest: ws.metadata.workspace_root.as_std_path().join("Cargo.toml") });
    }
    let (picks, several) = match selection(args) {
        Selection::One { package, bin } => (vec![select_binary(&candidates, package, bin)?], false),
        Selection::Many => (select_many(&candidates, args)?, true),
    };
    if several && args.tarball.as_deref().is_some_and(crate::fsutil::is_stdout_path) {
        return Err(Error::NotWithSeveral { what: "--tarball - (standard output)" });
    }
    let target_dir = ws.target_directory().to_path_buf();
    // Git is asked about every package at once, before the images are planned.
    let members = ws.members();
    let dir_of = |package: &str| {
        let pkg = members.iter().find(|p| p.name.as_str() == package).expect("selected from members");
        pkg.manifest_path.parent().expect("a manifest has a directory").as_std_path()
    };
    let mut dirs: Vec<&Path> = picks.iter().map(|(package, _)| dir_of(package)).collect();
    dirs.sort();
    dirs.dedup();
    let git = git_facts(&dirs, tuning, args.quiet)?;
    // Each image planned on a thread of its own.
    let images = std::thread::scope(|scope| {
        let (refs, git) = (&refs, &git);
        let planning: Vec<_> = picks
            .into_iter()
            .map(|(package, bin)| scope.spawn(move || image_target(args, refs, ws, package, bin, several, git)))
            .collect();
        planning.into_iter().map(|h| h.join().expect("planning an image does not panic")).collect::<Vec<_>>()
    })
    .into_iter()
    .collect::<Result<Vec<_>, Error>>()?;
    one_name_each(&images)?;
    let workspace_root = ws.metadata.workspace_root.as_std_path().to_path_buf();
    let stdout_taken = args.metadata_file.as_deref().is_some_and(crate::fsutil::is_stdout_path)
        || images
            .iter()
            .flat_map(|i| &i.sinks)
            .any(|s| matches!(s, SinkSpec::Archive { path, .. } if crate::fsutil::is_stdout_path(path)));
    let bundle = if several { args.tarball.clone() } else { None };
    Ok(Plan { images, target_dir, workspace_root, stdout_taken, bundle })
}

/// The image of `package`'s `bin`: its settings (the workspace's table, the package's, the
/// command line), references, platforms, builds and destinations. With `several`, each
/// `--tag` and `--push` is a prefix the image goes under (`PREFIX/<bin>`), and `--output
/// DIR` holds its layout at `DIR/<bin>`.
fn image_target(
    args: &Args,
    refs: &References,
    ws: &Workspace,
    package: String,
    bin: String,
    several: bool,
    git: &HashMap<PathBuf, GitFacts>,
) -> Result<ImageTarget, Error> {
    let pkg = ws.members().into_iter().find(|p| p.name.as_str() == package).expect("selected from members");
    let package_dir = pkg.manifest_path.parent().expect("a manifest has a directory").as_std_path().to_path_buf();
    let target_dir = ws.target_directory().to_path_buf();
    let ws_manifest = ws.metadata.workspace_root.as_std_path().join("Cargo.toml");
    let settings = spec::settings(&ws.metadata.workspace_metadata, &ws_manifest, pkg, args)?;
    let key = |v: &serde_json::Value| v.get("containerize")?.get("repository")?.as_str().map(str::to_string);
    let (own, shared) = (key(&pkg.metadata), key(&ws.metadata.workspace_metadata));
    let env = std::env::var(ENV_REPOSITORY).ok().filter(|v| !v.is_empty());
    let sources = (own.as_deref(), shared.as_deref(), env.as_deref());
    // Named in full on the command line, a destination is a prefix with several images; a
    // name-less one takes `bare_repository`. In the command line's order, each name once.
    let names = |refs: &[RefArg], flag: &'static str| -> Result<Vec<Reference>, Error> {
        let mut out: Vec<Reference> = Vec::new();
        for r in refs {
            let one = match r {
                RefArg::Full(_) if several => under_prefix(
                    &expand(vec![r.clone()], &|| Err(Error::NoRepository { flag }), &settings, flag)?,
                    &bin,
                )?,
                RefArg::Full(_) => expand(vec![r.clone()], &|| Err(Error::NoRepository { flag }), &settings, flag)?,
                RefArg::TagOnly(_) => {
                    expand(vec![r.clone()], &|| bare_repository(flag, &bin, several, sources), &settings, flag)?
                }
            };
            for r in one {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    };
    let tags = names(&refs.tags, "--tag")?;
    let pushes = names(&refs.pushes, "--push")?;
    // Names in the files (tarball, layout), after the engine's tags.
    let mut named = tags.clone();
    named.extend(names(&refs.names, "--name")?.into_iter().filter(|n| !tags.contains(n)));
    let output = if several { args.output.as_ref().map(|dir| dir.join(&bin)) } else { args.output.clone() };
    let (created, revision) = git.get(&package_dir).cloned().expect("git was asked about every package");
    // Inside GitHub Actions, what Cargo.toml and git cannot say, the workflow can.
    let (source, sha) = spec::github_facts(&|k| std::env::var(k).ok());
    let revision = revision.or(sha);
    let provenance = spec::Provenance { package: pkg, bin: &bin, created: rfc3339(created), revision, source };
    let platforms = platforms(args, &settings)?;
    crate::image::include::check(settings.include.as_deref().unwrap_or_default(), &bin)
        .map_err(|e| Error::Include { message: e.to_string() })?;
    let image = spec::resolve(settings, &provenance);
    if image.init {
        let taken = |to: &str| to == spec::INIT_PATH || to.starts_with(&format!("{}/", spec::INIT_PATH));
        let clash = match image.includes.iter().find(|i| taken(&i.to)) {
            Some(i) => Some(format!("the include {} goes to {}", i.shown, i.to)),
            None => (bin == "init").then(|| "the binary is named `init`, so it goes to /init".to_string()),
        };
        if let Some(clash) = clash {
            return Err(Error::Include {
                message: format!("{clash}, where init = true puts the init; move it, or leave init out"),
            });
        }
    }
    // With several images the tarball is the run's bundle, where each is named `<bin>:NAME`
    // and tagged as its engine tags or pushes are (else `<bin>:NAME`).
    let bundled = (several && args.tarball.is_some()).then(|| {
        let names: Vec<String> =
            ref_names(&named, &pushes, &image.tags).into_iter().map(|n| format!("{bin}:{n}")).collect();
        let tags = match (named.is_empty(), pushes.is_empty()) {
            (false, _) => named.clone(),
            (true, false) => pushes.clone(),
            (true, true) => names.iter().filter_map(|n| Reference::parse(n).ok()).collect(),
        };
        (tags, names)
    });
    let tarball = if several { None } else { args.tarball.as_deref() };
    // With no destination at all, the tool's own layout; the run's bundle is a destination.
    let default_layout = bundled.is_none().then(|| target_dir.join("containerize").join(&bin));
    let sinks = sinks(output.as_deref(), tarball, (tags, named), pushes, &image.tags, default_layout);
    let config_dirs = [package_dir.as_path(), ws.metadata.workspace_root.as_std_path()];
    let builds: Vec<PlatformBuild> = platforms
        .into_iter()
        .map(|(platform, target)| {
            let mut build = build_spec(args, package.clone(), bin.clone());
            build.env = crate::build::cross_linker_env(&target, args.zig, &config_dirs);
            build.auditable = image.auditable;
            build.target = target;
            PlatformBuild { platform, build }
        })
        .collect();
    let load_platform = load_platform(args, &builds, &sinks)?;
    let documents = image.documents.clone();
    if args.sbom_output.is_some() && documents.sbom.is_empty() {
        return Err(Error::SbomsOff { package });
    }
    let sbom_output = args.sbom_output.clone();
    Ok(ImageTarget { builds, load_platform, package_dir, image, sinks, documents, sbom_output, bundled })
}

/// The platforms to build, each with its target: `--target` (or the default) alone, unless
/// `--platform` or the `platforms` setting lists several.
fn platforms(args: &Args, settings: &Settings) -> Result<Vec<(Platform, String)>, Error> {
    match (&args.target, &settings.platforms) {
        (None, Some(list)) if !list.is_empty() => {
            let mut out: Vec<(Platform, String)> = Vec::new();
            for name in list {
                let platform = Platform::parse(name)?;
                let target = platform.musl_target().expect("every parsed platform has a target").to_string();
                if !out.iter().any(|(p, _)| p == &platform) {
                    out.push((platform, target));
                }
            }
            Ok(out)
        }
        _ => {
            let target = args.target.clone().or(settings.target.clone()).unwrap_or_else(|| args.target().to_string());
            let platform = Platform::of_target(&target).ok_or_else(|| Error::NotLinux { target: target.clone() })?;
            Ok(vec![(platform, target)])
        }
    }
}

/// With several platforms, the one a Docker engine or a `--tarball` gets (Docker 20.10
/// cannot load an index): `--load-platform`, else this machine's.
fn load_platform(args: &Args, builds: &[PlatformBuild], sinks: &[SinkSpec]) -> Result<Option<Platform>, Error> {
    let loads = sinks.iter().any(|s| matches!(s, SinkSpec::Daemon { .. } | SinkSpec::Archive { .. }));
    if builds.len() < 2 || !loads {
        return Ok(None);
    }
    let wanted = match &args.load_platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    if !builds.iter().any(|b| b.platform == wanted) {
        return Err(Error::LoadPlatform {
            wanted: wanted.to_string(),
            built: builds.iter().map(|b| b.platform.to_string()).collect(),
        });
    }
    Ok(Some(wanted))
}

/// The `cargo build` of `package`'s `bin` with the command line's cargo flags.
pub(crate) fn build_spec(args: &Args, package: String, bin: String) -> BuildSpec {
    BuildSpec {
        manifest_path: args.manifest.manifest_path.clone(),
        package,
        bin,
        features: args.features.features.clone(),
        all_features: args.features.all_features,
        no_default_features: args.features.no_default_features,
        profile: args.profile.clone(),
        target: args.target().to_string(),
        locked: args.locked,
        frozen: args.frozen,
        offline: args.offline,
        quiet: args.quiet,
        verbose: args.verbose,
        env: Vec::new(),
        zig: args.zig,
        auditable: !args.no_auditable,
        batch: Vec::new(),
        jobs: args.jobs.clone(),
        keep_going: args.keep_going,
        timings: args.timings,
        // `auto` is what cargo does unasked; and on a terminal the tool asks for colour.
        color: args.color.clone().filter(|c| c != "auto"),
        target_dir: target_dir(args),
        // Checked by `references` before anything runs.
        config: cargo_config(&args.config).unwrap_or_default(),
    }
}

/// `--target-dir`, absolute: the wrapper and cargo's helpers run in other directories.
pub(crate) fn target_dir(args: &Args) -> Option<PathBuf> {
    args.target_dir.as_ref().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
}

/// The `--config` values as cargo gets them: as cargo does, a value naming a file that
/// exists is that file (made absolute, for the cargo calls made from other directories),
/// anything else a `KEY=VALUE` in TOML. One that sets rustflags is refused: this tool
/// passes cargo `CARGO_ENCODED_RUSTFLAGS` (the configured flags, plus the remapping that
/// keeps host paths out of the binary), which cargo prefers over configured ones, so the
/// value would be dropped without a word.
pub(crate) fn cargo_config(values: &[String]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for value in values {
        let path = std::path::Path::new(value);
        let (text, given) = match !value.is_empty() && path.exists() {
            true => {
                // A FIFO or a device is refused, never waited on.
                let unreadable = |e: std::io::Error| Error::CargoConfig {
                    given: value.clone(),
                    problem: format!("cannot be read: {e}"),
                };
                let bytes = crate::fsutil::read_regular(path, 1 << 20).map_err(unreadable)?;
                let text =
                    String::from_utf8(bytes).map_err(|_| unreadable(std::io::Error::other("it is not UTF-8 text")))?;
                (text, std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string())
            }
            false => (value.clone(), value.clone()),
        };
        let table: toml::Table = toml::from_str(&text).map_err(|e| Error::CargoConfig {
            given: value.clone(),
            problem: format!("is neither a file nor a TOML `KEY=VALUE`: {}", e.message()),
        })?;
        let in_build = table.get("build").and_then(|b| b.get("rustflags")).is_some();
        let in_target = table
            .get("target")
            .and_then(|t| t.as_table())
            .is_some_and(|t| t.values().any(|v| v.get("rustflags").is_some()));
        if in_build || in_target {
            return Err(Error::CargoConfigRustflags { given: value.clone() });
        }
        out.push(given);
    }
    Ok(out)
}

/// The names a layout gives the image: each tag used, else the configured tags, else
/// `latest`; each once.
fn ref_names(tags: &[Reference], pushes: &[Reference], configured_tags: &[String]) -> Vec<String> {
    let mut names: Vec<String> = tags.iter().chain(pushes).map(|r| r.tag_or_default().to_string()).collect();
    if names.is_empty() {
        names = configured_tags.to_vec();
    }
    if names.is_empty() {
        names.push(reference::DEFAULT_TAG.to_string());
    }
    let mut ref_names: Vec<String> = Vec::new();
    for name in names {
        if !ref_names.contains(&name) {
            ref_names.push(name);
        }
    }
    ref_names
}

fn sinks(
    output: Option<&std::path::Path>,
    tarball: Option<&std::path::Path>,
    (tags, named): (Vec<Reference>, Vec<Reference>),
    pushes: Vec<Reference>,
    configured_tags: &[String],
    default_layout: Option<PathBuf>,
) -> Vec<SinkSpec> {
    let ref_names = ref_names(&named, &pushes, configured_tags);
    let mut sinks = Vec::new();
    if let Some(dir) = output {
        sinks.push(SinkSpec::Layout { dir: dir.to_path_buf(), ref_names: ref_names.clone(), default: false });
    }
    if let Some(path) = tarball {
        let mut archive_tags = named.clone();
        if archive_tags.is_empty() {
            archive_tags = pushes.clone();
        }
        sinks.push(SinkSpec::Archive { path: path.to_path_buf(), tags: archive_tags, ref_names: ref_names.clone() });
    }
    if !tags.is_empty() {
        sinks.push(SinkSpec::Daemon { tags });
    }
    if !pushes.is_empty() {
        sinks.push(SinkSpec::Registry { references: pushes });
    }
    if let (true, Some(dir)) = (sinks.is_empty(), default_layout) {
        sinks.push(SinkSpec::Layout { dir, ref_names, default: true });
    }
    sinks
}

/// A package and its binaries, as the selection sees them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) package: String,
    pub(crate) bins: Vec<String>,
    pub(crate) default_run: Option<String>,
    pub(crate) default_member: bool,
}

fn candidates(ws: &Workspace) -> Vec<Candidate> {
    let defaults: Vec<_> = ws.default_packages().iter().map(|p| p.id.clone()).collect();
    ws.members()
        .into_iter()
        .map(|p| Candidate {
            package: p.name.to_string(),
            bins: workspace::bin_names(p).into_iter().map(str::to_string).collect(),
            default_run: p.default_run.clone(),
            default_member: defaults.contains(&p.id),
        })
        .collect()
}

/// Picks (package, bin): `--bin` if given; else the package's only binary or its
/// `default-run`; in a workspace the only binary among the default members.
pub(crate) fn select_binary(
    all: &[Candidate],
    package: Option<&str>,
    bin: Option<&str>,
) -> Result<(String, String), Error> {
    let scope: Vec<&Candidate> = match package {
        Some(name) => {
            let found = all.iter().find(|c| c.package == name).ok_or_else(|| Error::UnknownPackage {
                name: name.into(),
                members: all.iter().map(|c| c.package.clone()).collect(),
            })?;
            vec![found]
        }
        None => all.iter().filter(|c| c.default_member).collect(),
    };
    let flags = |c: &Candidate, b: &str| format!("-p {} --bin {b}", c.package);
    if let Some(bin) = bin {
        // Like cargo, --bin looks in the selected packages; without -p, in the whole workspace.
        let search: Vec<&Candidate> = if package.is_some() { scope.clone() } else { all.iter().collect() };
        let hits: Vec<&Candidate> = search.iter().copied().filter(|c| c.bins.iter().any(|b| b == bin)).collect();
        return match hits.as_slice() {
            [one] => Ok((one.package.clone(), bin.to_string())),
            [] => Err(Error::UnknownBin {
                bin: bin.into(),
                candidates: search.iter().flat_map(|c| c.bins.iter().map(move |b| flags(c, b))).collect(),
            }),
            many => Err(Error::AmbiguousBinary { candidates: many.iter().map(|c| flags(c, bin)).collect() }),
        };
    }
    let mut picks: Vec<(String, String)> = Vec::new();
    let mut all_flags = Vec::new();
    for c in &scope {
        match (c.bins.as_slice(), &c.default_run) {
            ([], _) => {}
            ([only], _) => picks.push((c.package.clone(), only.clone())),
            (_, Some(run)) if c.bins.contains(run) => picks.push((c.package.clone(), run.clone())),
            (bins, _) => picks.extend(bins.iter().map(|b| (c.package.clone(), b.clone()))),
        }
        all_flags.extend(c.bins.iter().map(|b| flags(c, b)));
    }
    match picks.len() {
        1 => Ok(picks.remove(0)),
        0 => Err(Error::NoBinary { packages: scope.iter().map(|c| format!("package `{}`", c.package)).collect() }),
        _ => Err(Error::AmbiguousBinary { candidates: all_flags }),
    }
}

/// The last second an RFC 3339 time with a four-digit year can name: 9999-12-31T23:59:59Z.
pub(crate) const MAX_EPOCH: i64 = 253_402_300_799;

/// What git says of a package directory: the image's creation time, and the commit for
/// the `revision` label.
type GitFacts = (i64, Option<String>);

/// The git facts of each of `dirs`, asked all at once. `created` is `SOURCE_DATE_EPOCH`,
/// else the last commit touching the package, else the epoch (1970-01-01T00:00:00Z), so it
/// never depends on the clock. Git is asked only inside a repository (a `.git` above the
/// directory, or `GIT_DIR`), and `HEAD` once per repository, not once per package. Git gets
/// the tuning's timeout: one that does not answer is an error (falling back to another
/// time would change the image silently), named, with the fix.
fn git_facts(dirs: &[&Path], tuning: &Tuning, quiet: bool) -> Result<HashMap<PathBuf, GitFacts>, Error> {
    let spawn = |dir: &Path, args: &'static [&'static str]| {
        let child = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok();
        (dir.to_path_buf(), args, child)
    };
    let answer =
        |(dir, args, child): (PathBuf, &[&str], Option<std::process::Child>)| -> Result<Option<String>, Error> {
            let Some(child) = child else { return Ok(None) };
            let what = format!("git {}", args.join(" "));
            let waiting = (!quiet).then(|| format!("waiting for `{what}` in {}", dir.display()));
            let out = crate::wait::output_within(child, tuning.timeout, waiting)
                .ok()
                .flatten()
                .ok_or(Error::GitTimeout { what, seconds: tuning.timeout.as_secs() })?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Ok(Some(text).filter(|s| out.status.success() && !s.is_empty()))
        };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => match value.trim().parse::<i64>() {
            Ok(secs) if (0..=MAX_EPOCH).contains(&secs) => Some(secs),
            _ => return Err(Error::BadEpoch { value }),
        },
        Err(_) => None,
    };
    // With GIT_DIR set, git does not look for `.git`: each directory asks for itself.
    let told = std::env::var_os("GIT_DIR").is_some();
    let repository = |dir: &Path| -> Option<PathBuf> {
        if told {
            return Some(dir.to_path_buf());
        }
        dir.ancestors().find(|d| d.join(".git").symlink_metadata().is_ok()).map(Path::to_path_buf)
    };
    let of: Vec<(&Path, Option<PathBuf>)> = dirs.iter().map(|d| (*d, repository(d))).collect();
    let mut repos: Vec<&PathBuf> = of.iter().filter_map(|(_, r)| r.as_ref()).collect();
    repos.sort();
    repos.dedup();
    // Every question at once; each answer waited for within the timeout.
    let logs: Vec<_> = of
        .iter()
        .map(|(dir, repo)| {
            (epoch.is_none() && repo.is_some()).then(|| spawn(dir, &["log", "-1", "--format=%ct", "--", "."]))
        })
        .collect();
    let heads: Vec<_> = repos.iter().map(|r| spawn(r, &["rev-parse", "HEAD"])).collect();
    let mut revisions: HashMap<&PathBuf, Option<String>> = HashMap::new();
    for (repo, head) in repos.iter().zip(heads) {
        revisions.insert(repo, answer(head)?);
    }
    let mut out = HashMap::new();
    for ((dir, repo), log) in of.iter().zip(logs) {
        // A commit time outside what an image can carry is clamped, never trusted as is.
        let created = match epoch {
            Some(secs) => secs,
            None => log
                .map(answer)
                .transpose()?
                .flatten()
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0)
                .clamp(0, MAX_EPOCH),
        };
        let revision = repo.as_ref().and_then(|r| revisions.get(r).cloned().flatten());
        out.insert(dir.to_path_buf(), (created, revision));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn config_files_are_read_with_care_and_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        crate::fsutil::mkfifo(&fifo);
        let fifo = fifo.display().to_string();
        // A FIFO is refused at once, never waited on.
        let e = cargo_config(std::slice::from_ref(&fifo)).unwrap_err().to_string();
        assert!(e.contains("cannot be read") && e.contains("not a regular file"), "{e}");
        let flags = dir.path().join("flags.toml");
        std::fs::write(&flags, "[target.x86_64-unknown-linux-musl]\nrustflags = [\"-Cdebuginfo=1\"]\n").unwrap();
        let e = cargo_config(&[flags.display().to_string()]).unwrap_err().to_string();
        assert!(e.contains("sets rustflags"), "{e}");
        let ok = dir.path().join("ok.toml");
        std::fs::write(&ok, "[build]\njobs = 2\n").unwrap();
        let given = vec![ok.display().to_string(), "term.verbose=false".to_string()];
        assert_eq!(cargo_config(&given).unwrap(), given);
    }

    fn c(package: &str, bins: &[&str], default_run: Option<&str>, default_member: bool) -> Candidate {
        Candidate {
            package: package.into(),
            bins: bins.iter().map(|s| s.to_string()).collect(),
            default_run: default_run.map(str::to_string),
            default_member,
        }
    }

    fn pick(all: &[Candidate], p: Option<&str>, b: Option<&str>) -> Result<(String, String), String> {
        select_binary(all, p, b).map_err(|e| e.to_string())
    }

    #[test]
    fn single_binary_is_chosen() {
        let all = [c("app", &["app"], None, true)];
        assert_eq!(pick(&all, None, None), Ok(("app".into(), "app".into())));
    }

    #[test]
    fn default_run_breaks_a_tie() {
        let all = [c("app", &["a", "b"], Some("b"), true)];
        assert_eq!(pick(&all, None, None), Ok(("app".into(), "b".into())));
    }

    #[test]
    fn ambiguity_lists_every_candidate_as_flags() {
        let all = [c("alpha", &["alpha"], None, true), c("beta", &["beta", "tool"], None, true)];
        let err = pick(&all, None, None).unwrap_err();
        for flags in ["-p alpha --bin alpha", "-p beta --bin beta", "-p beta --bin tool"] {
            assert!(err.contains(flags), "{err}");
        }
    }

    #[test]
    fn workspace_uses_the_only_binary_among_default_members() {
        let all = [c("lib", &[], None, true), c("srv", &["srv"], None, true), c("other", &["x"], None, false)];
        assert_eq!(pick(&all, None, None), Ok(("srv".into(), "srv".into())));
    }

    #[test]
    fn bin_and_package_flags_select_and_unknown_names_fail() {
        let all = [c("alpha", &["alpha"], None, true), c("beta", &["beta"], None, true)];
        assert_eq!(pick(&all, Some("beta"), None), Ok(("beta".into(), "beta".into())));
        assert_eq!(pick(&all, None, Some("alpha")), Ok(("alpha".into(), "alpha".into())));
        let err = pick(&all, Some("gamma"), None).unwrap_err();
        assert!(err.contains("`gamma`") && err.contains("alpha, beta"), "{err}");
        let err = pick(&all, None, Some("nope")).unwrap_err();
        assert!(err.contains("`nope`") && err.contains("-p beta --bin beta"), "{err}");
    }

    #[test]
    fn the_selection_flags_say_one_image_or_several() {
        let parse = |argv: &[&str]| {
            let args = Args::try_parse_from(["cargo-containerize"].iter().chain(argv)).unwrap();
            selection(&args) == Selection::Many
        };
        assert!(!parse(&[]));
        assert!(!parse(&["-p", "srv"]));
        assert!(!parse(&["-p", "srv", "--bin", "api"]));
        for argv in [
            &["--workspace"][..],
            &["--all"],
            &["--exclude", "b"],
            &["-p", "a", "-p", "b"],
            &["--bin", "a", "--bin", "b"],
            &["-p", "a", "--bins"],
        ] {
            assert!(parse(argv), "{argv:?}");
        }
    }

    #[test]
    fn a_name_less_destination_takes_the_variable_the_package_then_the_workspace() {
        let name = |flag, several, sources| bare_repository(flag, "api", several, sources).map(|(n, _)| n);
        let all = (Some("r/pkg"), Some("r/ws"), Some("reg:5000/env/"));
        assert_eq!(name("--push", true, all).unwrap(), "reg:5000/env/api");
        for bad in ["env-without-host", "reg:5000/env:1", "Reg:5000/UPPER"] {
            let e = name("--push", true, (None, None, Some(bad))).unwrap_err();
            assert!(matches!(&e, Error::BadRepositoryVariable { value, .. } if value == bad), "{bad}: {e}");
        }
        assert_eq!(name("--tag", true, all).unwrap(), "r/pkg", "the variable is for pushes");
        assert_eq!(name("--push", true, (Some("r/pkg"), Some("r/ws"), None)).unwrap(), "r/pkg");
        assert_eq!(name("--push", true, (None, Some("r/ws"), None)).unwrap(), "r/ws/api");
        assert_eq!(name("--push", false, (None, Some("r/ws"), None)).unwrap(), "r/ws");
        assert!(matches!(name("--push", true, (None, None, None)), Err(Error::NoRepository { flag: "--push" })));
    }

    #[test]
    fn a_binary_whose_name_is_no_image_name_is_refused_with_the_name_to_use() {
        let prefix = [Reference::parse("127.0.0.1:5000/acme:1").unwrap()];
        let named = under_prefix(&prefix, "api-v2").unwrap();
        assert_eq!(named[0].to_string(), "127.0.0.1:5000/acme/api-v2:1");
        let e = under_prefix(&prefix, "ApiServer").unwrap_err();
        assert!(matches!(&e, Error::BinNotARepository { bin } if bin == "ApiServer"), "{e}");
        assert!(e.hint().unwrap().contains("\"apiserver\""), "{:?}", e.hint());
    }

    #[test]
    fn several_images_are_the_selected_binaries_each_named_once() {
        let all = [
            c("alpha", &["alpha", "alpha-admin"], None, true),
            c("beta", &["beta"], None, true),
            c("lib", &[], None, true),
            c("extra", &["extra"], None, false),
        ];
        let pick = |argv: &[&str]| {
            let args = Args::try_parse_from(["cargo-containerize"].iter().chain(argv)).unwrap();
            select_many(&all, &args).map_err(|e| e.to_string())
        };
        let pairs = |v: &[(&str, &str)]| -> Result<Vec<(String, String)>, String> {
            Ok(v.iter().map(|(p, b)| (p.to_string(), b.to_string())).collect())
        };
        let everything = [("alpha", "alpha"), ("alpha", "alpha-admin"), ("beta", "beta"), ("extra", "extra")];
        assert_eq!(pick(&["--workspace"]), pairs(&everything));
        assert_eq!(pick(&["--workspace", "--exclude", "alpha"]), pairs(&[("beta", "beta"), ("extra", "extra")]));
        // The default members, not `extra`.
        assert_eq!(pick(&["--bins"]), pairs(&everything[..3]));
        assert_eq!(pick(&["-p", "beta", "-p", "extra"]), pairs(&[("beta", "beta"), ("extra", "extra")]));
        assert_eq!(
            pick(&["--bin", "alpha-admin", "--bin", "beta"]),
            pairs(&[("alpha", "alpha-admin"), ("beta", "beta")])
        );
        // A package named with -p must have a binary; one found by --workspace is skipped.
        assert!(pick(&["-p", "lib", "-p", "beta"]).unwrap_err().contains("`lib` has no binary"));
        assert!(pick(&["-p", "nope", "-p", "beta"]).unwrap_err().contains("`nope` is not a member"));
        assert!(pick(&["--bin", "gamma", "--bin", "beta"]).unwrap_err().contains("no binary target named `gamma`"));
        // Two binaries of one name would be one image name.
        let twins = [c("a", &["srv"], None, true), c("b", &["srv"], None, true)];
        let args = Args::try_parse_from(["cargo-containerize", "--workspace"]).unwrap();
        let err = select_many(&twins, &args).unwrap_err().to_string();
        assert!(err.contains("`srv`") && err.contains("a and b"), "{err}");
    }

    #[test]
    fn the_cargo_flags_reach_cargo_build_as_before() {
        let args = Args::parse_from([
            "cargo-containerize",
            "--manifest-path",
            "w/Cargo.toml",
            "-p",
            "srv",
            "-F",
            "a b",
            "-F",
            "c",
            "--all-features",
            "--no-default-features",
        ]);
        let spec = build_spec(&args, "srv".into(), "api".into());
        let cmd = crate::build::cargo_command(&spec);
        let argv: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            argv,
            [
                "build",
                "--message-format=json-render-diagnostics",
                "--manifest-path",
                "w/Cargo.toml",
                "--package",
                "srv",
                "--bin",
                "api",
                "--profile",
                "release",
                "--target",
                "x86_64-unknown-linux-musl",
                "--features",
                "a b,c",
                "--all-features",
                "--no-default-features",
            ]
        );
    }

    #[test]
    fn no_binary_says_so() {
        let all = [c("lib-only", &[], None, true)];
        let err = pick(&all, None, None).unwrap_err();
        assert!(err.contains("`lib-only` has no binary target"), "{err}");
    }
}
