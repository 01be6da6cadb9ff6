//! Supply-chain documents attached to images as OCI 1.1 referrers: SBOMs (SPDX 2.3,
//! CycloneDX 1.6) of exactly what cargo compiled into each platform's binary, and SLSA v1
//! provenance of the image. Which documents go where is decided here, once.

pub(crate) mod documents;
pub(crate) mod inventory;
pub(crate) mod license;

use crate::image::parent::Parent;
use crate::image::referrer::{Referrer, ARTIFACT_CYCLONEDX, ARTIFACT_IN_TOTO, ARTIFACT_SPDX};
use crate::image::Artifact;
use documents::{Extras, Parameters};
use inventory::Inventory;

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
    /// The SBOM formats, for every destination that can hold referrers (registries and
    /// layouts); empty for none.
    pub(crate) sbom: Vec<Format>,
    /// Provenance for pushes; for layouts too only when asked for explicitly.
    pub(crate) provenance_push: bool,
    pub(crate) provenance_layout: bool,
}

impl Wanted {
    /// From the `sbom` and `provenance` settings (`None`: the defaults).
    pub(crate) fn from_settings(sbom: Option<&[Format]>, provenance: Option<bool>) -> Wanted {
        let sbom = sbom.map_or_else(|| Format::ALL.to_vec(), <[Format]>::to_vec);
        Wanted { sbom, provenance_push: provenance.unwrap_or(true), provenance_layout: provenance.unwrap_or(false) }
    }
}

/// The documents about one run's artifact.
#[derive(Clone, Debug, Default)]
pub(crate) struct Attachments {
    pub(crate) sboms: Vec<Referrer>,
    pub(crate) provenance: Option<Referrer>,
}

impl Attachments {
    /// What a registry (`push`) or a layout gets.
    pub(crate) fn for_destination(&self, wanted: &Wanted, push: bool) -> Vec<Referrer> {
        let prov = if push { wanted.provenance_push } else { wanted.provenance_layout };
        self.sboms.iter().cloned().chain(self.provenance.iter().filter(|_| prov).cloned()).collect()
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
        built: &[crate::build::Built],
        timeout: std::time::Duration,
    ) -> Result<Documents, inventory::Error> {
        let (sbom, provenance) = plan.wants_documents();
        let mut docs = Documents { sbom, provenance, ..Documents::default() };
        if sbom {
            let cache = plan.target_dir.join("containerize").join("inventory");
            for (pb, b) in plan.builds.iter().zip(built) {
                docs.inventories.push(inventory::load_cached(&pb.build, &b.packages, &plan.workspace_root, &cache)?);
            }
        }
        if provenance {
            docs.git = git(&plan.package_dir, revision(plan), timeout);
            docs.lock_digest = std::fs::read(plan.workspace_root.join("Cargo.lock"))
                .ok()
                .map(|b| crate::image::digest::Digest::of(&b).to_string());
        }
        Ok(docs)
    }

    /// The documents about `artifact`, for the plan's destinations to pick from.
    pub(crate) fn attachments(
        &self,
        plan: &crate::plan::Plan,
        artifact: &Artifact,
        parents: Option<&[Parent]>,
        ca_added: &[bool],
    ) -> Attachments {
        if !self.sbom && !self.provenance {
            return Attachments::default();
        }
        let wanted =
            Wanted { sbom: if self.sbom { plan.documents.sbom.clone() } else { Vec::new() }, ..plan.documents.clone() };
        let extras: Vec<Extras> = (0..artifact.images().len())
            .map(|i| extras(parents.map(|p| &p[i]), ca_added.get(i).copied().unwrap_or(false)))
            .collect();
        let facts = Facts {
            inventories: &self.inventories,
            extras,
            created: &plan.image.run.created,
            revision: revision(plan),
            parameters: Parameters {
                external: external_parameters(plan),
                git: self.git.clone(),
                lock_digest: self.lock_digest.clone(),
                base: parents.and_then(|p| p.first()).map(|p| (p.name.clone(), p.digest.clone())),
            },
            name: subject_name(plan),
            target_dir: plan.target_dir.clone(),
        };
        attachments(artifact, &wanted, &facts, self.provenance)
    }
}

/// The git commit the image's `revision` label records.
fn revision(plan: &crate::plan::Plan) -> Option<&str> {
    plan.image.run.labels.get("org.opencontainers.image.revision").map(String::as_str)
}

/// The provenance subject's name: the first push's repository, else the binary.
fn subject_name(plan: &crate::plan::Plan) -> String {
    plan.sinks
        .iter()
        .find_map(|s| match s {
            crate::plan::SinkSpec::Registry { references } => references.first().map(|r| r.name()),
            _ => None,
        })
        .unwrap_or_else(|| plan.bin().to_string())
}

/// What selects and configures the image: SLSA's `externalParameters`.
fn external_parameters(plan: &crate::plan::Plan) -> serde_json::Value {
    let b = &plan.builds[0].build;
    let run = &plan.image.run;
    serde_json::json!({
        "package": b.package,
        "bin": b.bin,
        "features": b.features,
        "allFeatures": b.all_features,
        "noDefaultFeatures": b.no_default_features,
        "profile": b.profile,
        "targets": plan.builds.iter().map(|p| p.build.target.clone()).collect::<Vec<_>>(),
        "platforms": plan.builds.iter().map(|p| p.platform.to_string()).collect::<Vec<_>>(),
        "image": {
            "base": plan.image.settings.base.as_ref().map(crate::base::BaseRef::shown).unwrap_or_else(|| "scratch".into()),
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
pub(crate) fn attachments(artifact: &Artifact, wanted: &Wanted, facts: &Facts, need_provenance: bool) -> Attachments {
    let mut out = Attachments::default();
    let images = if wanted.sbom.is_empty() { &[][..] } else { artifact.images() };
    for (i, image) in images.iter().enumerate() {
        let sbom = documents::Sbom {
            inv: &facts.inventories[i],
            extras: &facts.extras[i],
            subject: image.digest(),
            created: facts.created,
            revision: facts.revision,
        };
        for format in &wanted.sbom {
            let (kind, doc) = match format {
                Format::Spdx => (ARTIFACT_SPDX, sbom.spdx()),
                Format::CycloneDx => (ARTIFACT_CYCLONEDX, sbom.cyclonedx()),
            };
            out.sboms.push(Referrer::new(kind, doc, &image.manifest, facts.created));
        }
    }
    if need_provenance {
        let (rustc, host) = rustc_version(&facts.target_dir);
        let env = |k: &str| std::env::var(k).ok();
        let doc = documents::provenance(&facts.name, artifact.digest(), &facts.parameters, &rustc, &host, &env);
        out.provenance = Some(Referrer::new(ARTIFACT_IN_TOTO, doc, artifact.manifest(), facts.created));
    }
    out
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

/// The git remote (user information removed; a local path is not shown) and commit of
/// `dir`, when it is in git; git gets `timeout` to answer.
pub(crate) fn git(
    dir: &std::path::Path,
    revision: Option<&str>,
    timeout: std::time::Duration,
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
        .filter(|r| !r.is_empty() && !r.starts_with('/') && !r.starts_with("file:") && !r.starts_with('.'))
        .map(|r| crate::registry::error::redact_url(&r));
    Some((remote, commit))
}
