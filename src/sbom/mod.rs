//! Supply-chain documents attached to images as OCI 1.1 referrers: SBOMs (SPDX 2.3,
//! CycloneDX 1.6) of exactly what cargo compiled into each platform's binary, and SLSA v1
//! provenance of the image. Which documents go where is decided here, once.

pub(crate) mod documents;
pub(crate) mod inventory;
pub(crate) mod license;

use crate::image::parent::Parent;
use crate::image::referrer::{Referrer, ARTIFACT_CYCLONEDX, ARTIFACT_IN_TOTO, ARTIFACT_SPDX};
use crate::image::Artifact;
use crate::plan::ImageTarget;
use documents::{Extras, Parameters};
use inventory::Inventory;

pub(crate) use crate::settings::{Format, Wanted};

/// The documents about one run's artifact.
#[derive(Clone, Debug, Default)]
pub(crate) struct Attachments {
    pub(crate) sboms: Vec<Referrer>,
    pub(crate) provenance: Option<Referrer>,
}

impl Attachments {
    /// What a registry (`push`) or a layout gets.
    pub(crate) fn for_destination(&self, wanted: &Wanted, push: bool) -> Vec<Referrer> {
        let (sbom, prov) = match push {
            true => (true, wanted.provenance_push),
            false => (wanted.sbom_layout, wanted.provenance_layout),
        };
        let sboms = self.sboms.iter().filter(|_| sbom).cloned();
        sboms.chain(self.provenance.iter().filter(|_| prov).cloned()).collect()
    }
}

/// What the run gathered for its documents, after the build.
#[derive(Default)]
pub(crate) struct Documents {
    pub(crate) sbom: bool,
    pub(crate) provenance: bool,
    /// One per platform, in the plan's order (empty without SBOMs).
    pub(crate) inventories: Vec<Inventory>,
    pub(crate) git: Option<(Option<String>, String)>,
    pub(crate) lock_digest: Option<String>,
}

impl Documents {
    /// Gathers what the plan's documents need: the inventories of the binaries built (one
    /// `cargo metadata` per platform) for SBOMs, the git remote and `Cargo.lock` for
    /// provenance.
    pub(crate) fn gather(
        plan: &crate::plan::Plan,
        target: &ImageTarget,
        built: &[crate::build::Built],
        timeout: std::time::Duration,
    ) -> Result<Documents, inventory::Error> {
        let (sbom, provenance) = target.wants_documents();
        let mut docs = Documents { sbom, provenance, ..Documents::default() };
        if sbom {
            let cache = plan.target_dir.join("containerize").join("inventory");
            for (pb, b) in target.builds.iter().zip(built) {
                docs.inventories.push(inventory::load_cached(&pb.build, &b.packages, &plan.workspace_root, &cache)?);
            }
        }
        if provenance {
            let verbose = target.builds.first().is_some_and(|b| b.build.verbose > 0);
            docs.git = git(&target.package_dir, revision(target), timeout, verbose);
            docs.lock_digest = std::fs::read(plan.workspace_root.join("Cargo.lock"))
                .ok()
                .map(|b| crate::digest::Digest::of(&b).to_string());
        }
        Ok(docs)
    }

    /// The documents about `artifact`, the image of `target`, for its destinations to pick
    /// from.
    pub(crate) fn attachments(
        &self,
        plan: &crate::plan::Plan,
        target: &ImageTarget,
        artifact: &Artifact,
        parents: Option<&[Parent]>,
        ca_added: &[bool],
    ) -> std::io::Result<Attachments> {
        if !self.sbom && !self.provenance {
            return Ok(Attachments::default());
        }
        let wanted = Wanted {
            sbom: if self.sbom { target.documents.sbom.clone() } else { Vec::new() },
            ..target.documents.clone()
        };
        let extras: Vec<Extras> = (0..artifact.images().len())
            .map(|i| extras(parents.map(|p| &p[i]), ca_added.get(i).copied().unwrap_or(false)))
            .collect();
        let facts = Facts {
            inventories: &self.inventories,
            extras,
            created: &target.image.run.created,
            revision: revision(target),
            parameters: Parameters {
                external: external_parameters(target),
                git: self.git.clone(),
                lock_digest: self.lock_digest.clone(),
                base: parents.and_then(|p| p.first()).map(|p| (p.name.clone(), p.digest.clone())),
                base_registry: parents.and_then(|p| p.first()).and_then(|p| p.registry_digest.clone()),
            },
            name: subject_name(target),
            target_dir: plan.target_dir.clone(),
        };
        attachments(artifact, &wanted, &facts, self.provenance)
    }
}

/// Checks, before the build, that `--sbom-output DIR` can be a directory: what is there
/// is one (a link to one counts), or nothing is (it is made then, with its parents).
pub(crate) fn check_output_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    if crate::fsutil::is_stdout_path(dir) {
        return Err(Error::new(ErrorKind::InvalidInput, "it takes a directory, not standard output"));
    }
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::new(ErrorKind::AlreadyExists, "it exists and is not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes the SBOMs of `attachments` into `dir` as `BIN.spdx.json` and `BIN.cdx.json`
/// (`BIN.OS-ARCH[-VARIANT].*` for the images of several platforms), each through a
/// temporary file renamed into place: a link there is replaced, never followed. The bytes
/// are those attached. Returns the paths written.
pub(crate) fn write_files(
    dir: &std::path::Path,
    bin: &str,
    artifact: &Artifact,
    attachments: &Attachments,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let several = artifact.images().len() > 1;
    let mut written = Vec::new();
    for r in &attachments.sboms {
        let ext = if r.artifact_type == ARTIFACT_SPDX { "spdx.json" } else { "cdx.json" };
        let platform = artifact
            .images()
            .iter()
            .find(|i| i.digest().is_ok_and(|d| d == &r.subject))
            .filter(|_| several)
            .map(|i| format!(".{}", i.platform.to_string().replace('/', "-")))
            .unwrap_or_default();
        let path = dir.join(format!("{bin}{platform}.{ext}"));
        let bytes = r.document.bytes().unwrap_or_default();
        crate::fsutil::write_file_atomic(&path, |w| w.write_all(bytes))?;
        written.push(path);
    }
    Ok(written)
}

/// The git commit the image's `revision` label records.
fn revision(target: &ImageTarget) -> Option<&str> {
    target.image.run.labels.get("org.opencontainers.image.revision").map(String::as_str)
}

/// The provenance subject's name: the first push's repository, else the binary.
fn subject_name(target: &ImageTarget) -> String {
    target
        .sinks
        .iter()
        .find_map(|s| match s {
            crate::sink::SinkSpec::Registry { references } => references.first().map(|r| r.name()),
            _ => None,
        })
        .unwrap_or_else(|| target.bin().to_string())
}

/// What selects and configures the image: SLSA's `externalParameters`.
fn external_parameters(target: &ImageTarget) -> serde_json::Value {
    let b = &target.builds[0].build;
    let run = &target.image.run;
    serde_json::json!({
        "package": b.package,
        "bin": b.bin,
        "features": b.features,
        "allFeatures": b.all_features,
        "noDefaultFeatures": b.no_default_features,
        "profile": b.profile,
        "targets": target.builds.iter().map(|p| p.build.target.clone()).collect::<Vec<_>>(),
        "platforms": target.builds.iter().map(|p| p.platform.to_string()).collect::<Vec<_>>(),
        "image": {
            "base": target.image.parent.shown(),
            "entrypoint": run.entrypoint,
            "cmd": run.cmd,
            "env": run.env,
            "user": run.user,
            "workdir": run.workdir,
            "exposedPorts": run.exposed_ports,
            "labels": run.labels,
            "annotations": run.annotations,
        },
    })
}

/// Everything the documents are made from, per platform (same order as the artifact's
/// images) and for the run.
pub(crate) struct Facts<'a> {
    pub(crate) inventories: &'a [Inventory],
    pub(crate) extras: Vec<Extras>,
    pub(crate) created: &'a str,
    pub(crate) revision: Option<&'a str>,
    pub(crate) parameters: Parameters,
    /// The provenance subject's name (the first destination, or the binary).
    pub(crate) name: String,
    /// Where cargo keeps what rustc told it.
    pub(crate) target_dir: std::path::PathBuf,
}

/// Makes the documents `wanted` for `artifact`: one SBOM per format and platform, about
/// that platform's manifest; provenance about the top manifest (the index, when several).
pub(crate) fn attachments(
    artifact: &Artifact,
    wanted: &Wanted,
    facts: &Facts,
    need_provenance: bool,
) -> std::io::Result<Attachments> {
    let mut out = Attachments::default();
    let images = if wanted.sbom.is_empty() { &[][..] } else { artifact.images() };
    for (i, image) in images.iter().enumerate() {
        let sbom = documents::Sbom {
            inv: &facts.inventories[i],
            extras: &facts.extras[i],
            subject: image.digest()?,
            created: facts.created,
            revision: facts.revision,
        };
        for format in &wanted.sbom {
            let (kind, doc) = match format {
                Format::Spdx => (ARTIFACT_SPDX, sbom.spdx()),
                Format::CycloneDx => (ARTIFACT_CYCLONEDX, sbom.cyclonedx()),
            };
            out.sboms.push(Referrer::new(kind, doc, image.manifest()?, facts.created));
        }
    }
    if need_provenance {
        let (rustc, host) = rustc_version(&facts.target_dir);
        let env = |k: &str| std::env::var(k).ok();
        let doc = documents::provenance(&facts.name, artifact.digest()?, &facts.parameters, &rustc, &host, &env);
        out.provenance = Some(Referrer::new(ARTIFACT_IN_TOTO, doc, artifact.manifest()?, facts.created));
    }
    Ok(out)
}

/// `rustc -vV`'s release line and host triple: from cargo's record of what it asked rustc
/// (`.rustc_info.json` in the target directory) when it has one, else from rustc itself.
fn rustc_version(target_dir: &std::path::Path) -> (String, String) {
    let recorded = crate::fsutil::read_regular(&target_dir.join(".rustc_info.json"), 1 << 20)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v["outputs"].as_object()?.values().find_map(|o| {
                let out = o["stdout"].as_str()?;
                let host = out.lines().find_map(|l| l.strip_prefix("host: "))?;
                let release = out.lines().next().filter(|l| l.starts_with("rustc "))?;
                Some((release.to_string(), host.to_string()))
            })
        });
    recorded.unwrap_or_else(rustc_asked)
}

/// `rustc -vV`: the release line and the host triple ("unknown" when rustc cannot say).
fn rustc_asked() -> (String, String) {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .arg("-vV")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let text = out.ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let text = text.unwrap_or_default();
    let release = text.lines().next().unwrap_or("unknown").to_string();
    let host = text.lines().find_map(|l| l.strip_prefix("host: ")).unwrap_or("unknown").to_string();
    (release, host)
}

/// The extras of one platform's image: its base, and the CA bundle when it holds ours.
pub(crate) fn extras(parent: Option<&Parent>, ca_bundle: bool) -> Extras {
    Extras {
        base: parent.map(|p| (p.name.clone(), p.digest.clone())),
        ca_bundle: ca_bundle.then(documents::ca_bundle_version),
    }
}

/// The git remote (see [`public_remote`]) and commit of `dir`, when it is in git; git gets
/// `timeout` to answer.
pub(crate) fn git(
    dir: &std::path::Path,
    revision: Option<&str>,
    timeout: std::time::Duration,
    verbose: bool,
) -> Option<(Option<String>, String)> {
    let commit = revision?.to_string();
    let child = std::process::Command::new("git")
        .args(["remote", "get-url", "origin"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok();
    let remote = child
        .and_then(|c| crate::wait::output_within(c, timeout, None).ok().flatten())
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|r| !r.is_empty());
    let public = remote.as_deref().and_then(public_remote);
    if verbose && remote.is_some() && public.is_none() {
        crate::shell::line(
            "the provenance names no git remote: origin's URL is a local path, or not a plain URL of a host and \
             a path (it may hold credentials), so it is left out",
        );
    }
    Some((remote.and(public), commit))
}

/// A git remote as the provenance may show it: `scheme://host[:port]/path` of a URL (its
/// user, password, query and fragment dropped), or `ssh://host/path` of an scp-like
/// `[git@]host:path` whose every part is plainly a host name and a path. Anything else
/// (a local path, an scp-like form with another user, or characters that make git read it
/// otherwise: `alice:SECRET@host:repo` is host `alice`, path `SECRET@host:repo`) gives
/// `None`: a secret is never guessed around.
pub(crate) fn public_remote(remote: &str) -> Option<String> {
    let path_chars = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b'~'))
    };
    let host_chars =
        |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if let Some((scheme, _)) = remote.split_once("://") {
        if !matches!(scheme, "https" | "http" | "ssh" | "git" | "git+ssh") {
            return None;
        }
        let url = reqwest::Url::parse(remote).ok()?;
        let host = url.host_str()?;
        let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok();
        if !ip && !host_chars(host) {
            return None;
        }
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let path = url.path();
        return path_chars(path).then(|| format!("{scheme}://{host}{port}{path}"));
    }
    // scp-like: `[user@]host:path`, as git reads it when a `:` comes before any `/`.
    let (authority, path) = remote.split_once(':')?;
    if authority.contains('/') {
        return None;
    }
    let host = match authority.split_once('@') {
        Some(("git", host)) => host,
        Some(_) => return None,
        None => authority,
    };
    (host_chars(host) && path_chars(path)).then(|| format!("ssh://{host}/{}", path.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::public_remote;

    #[test]
    fn a_remote_is_recorded_only_when_it_plainly_holds_no_secret() {
        let cases = [
            ("https://github.com/acme/app.git", Some("https://github.com/acme/app.git")),
            ("https://ci:s3cret@git.example/acme/app.git", Some("https://git.example/acme/app.git")),
            ("https://git.example/acme/app.git#SECRET", Some("https://git.example/acme/app.git")),
            ("https://git.example/acme/app.git?access_token=SECRET", Some("https://git.example/acme/app.git")),
            ("ssh://git@git.example:2222/acme/app.git", Some("ssh://git.example:2222/acme/app.git")),
            ("git@github.com:acme/app.git", Some("ssh://github.com/acme/app.git")),
            ("git.example:/srv/app.git", Some("ssh://git.example/srv/app.git")),
            ("alice:SECRET@host:org/repo.git", None),
            ("alice@host:org/repo.git", None),
            ("host:org/repo.git#SECRET", None),
            ("https://git.example/acme/SECRET@x:y", None),
            ("/srv/git/app.git", None),
            ("../app", None),
            ("file:///srv/app.git", None),
            ("ext::sh -c evil", None),
        ];
        for (remote, want) in cases {
            assert_eq!(public_remote(remote).as_deref(), want, "{remote}");
        }
    }
}
