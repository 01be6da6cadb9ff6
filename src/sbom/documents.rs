//! The documents attached to an image: SPDX 2.3 and CycloneDX 1.6 SBOMs of one platform's
//! binary, and SLSA v1 provenance of the whole image. Deterministic: the only time is the
//! image's `created`, and the SPDX namespace and CycloneDX serial number are derived from
//! the digest of the image they describe.

use super::inventory::{percent, Inventory, Origin, Package};
use super::license::{self, License};
use crate::digest::Digest;
use crate::image::config::canonical_json;
use serde_json::{json, Map, Value};

/// The tool, as documents name it.
pub(crate) const TOOL: &str = "cargo-containerize";
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The document describing what `buildType` means in our provenance.
pub(crate) const BUILD_TYPE: &str =
    "https://github.com/cargo-containerize/cargo-containerize/blob/main/docs/build-type-v1.md";

/// What the image holds besides the crates: its base, and the CA bundle we add.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extras {
    /// The base image: the name it was given by, and this platform's manifest digest.
    pub(crate) base: Option<(String, Digest)>,
    /// The version of the crate whose roots make the CA bundle, when the image has it.
    pub(crate) ca_bundle: Option<String>,
}

/// The version of `webpki-root-certs` this tool was built with, from its own lock file.
pub(crate) fn ca_bundle_version() -> String {
    let lock = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"));
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"webpki-root-certs\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return v.trim_end_matches('"').to_string();
            }
        }
    }
    "unknown".into()
}

/// An SPDX identifier made of what the spec allows.
fn spdx_id(i: usize, name: &str) -> String {
    let clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    format!("SPDXRef-Package-{i}-{clean}")
}

/// Each package's license, checked once for both documents: `None` where its `license`
/// field is missing or not an SPDX expression.
fn licenses(inv: &Inventory) -> Vec<Option<License>> {
    inv.packages.iter().map(|p| p.license.as_deref().and_then(license::parse)).collect()
}

/// The SPDX 2.3 `hasExtractedLicensingInfos` entry of each `LicenseRef-` the licenses use:
/// every one a document names must be declared (SPDX 2.3 clause 10: id, text, name).
fn extracted_licensing_infos(licenses: &[Option<License>], inv: &Inventory) -> Vec<Value> {
    let mut users: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (l, p) in licenses.iter().zip(&inv.packages) {
        for r in l.iter().flat_map(|l| &l.refs) {
            let names = users.entry(r.as_str()).or_default();
            if !names.contains(&p.name.as_str()) {
                names.push(&p.name);
            }
        }
    }
    users
        .into_iter()
        .map(|(id, names)| {
            json!({
                "licenseId": id,
                "name": id.trim_start_matches("LicenseRef-"),
                "extractedText": format!(
                    "{id}, as the license field of the Cargo.toml of {} names it; \
                     its text is not part of this document.",
                    names.join(", ")
                ),
            })
        })
        .collect()
}

/// A sha256 as documents take it: 64 hex digits, else none (a `Cargo.lock` can say anything).
fn sha256(sum: Option<&String>) -> Option<&str> {
    sum.map(String::as_str).filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A git source's location, `git+URL@COMMIT`, when validators take it as one: an
/// `http(s)`, `ssh` or `git` URL of a named host, with no user information and no spaces,
/// and a hexadecimal commit. Anything else is no location (`NOASSERTION`) and no VCS
/// reference; the source text still says what cargo said.
fn git_location(url: &str, commit: &str) -> Option<String> {
    let rest = ["https://", "http://", "ssh://", "git://"].iter().find_map(|s| url.strip_prefix(s))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.split_once(':').unwrap_or((authority, "80"));
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    let host_ok = labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && labels.iter().all(|l| !l.starts_with('-') && !l.ends_with('-') && !l.contains("--"))
        && (2..=5).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_alphabetic());
    let port_ok = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    let path_ok = path.bytes().all(|b| b.is_ascii_graphic() && !b"\"<>\\^`{|}#".contains(&b));
    let commit_ok = !commit.is_empty() && commit.len() <= 64 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    (host_ok && port_ok && path_ok && commit_ok).then(|| format!("git+{url}@{commit}"))
}

fn source_text(p: &Package) -> String {
    match &p.origin {
        Origin::Registry { index, .. } => format!("registry {index}"),
        Origin::Git { url, commit } => format!("git {url} {commit}"),
        Origin::Path { relative } => format!("path {relative}"),
    }
}

/// The base image's purl: `pkg:oci/NAME@sha256%3A...?repository_url=...`.
fn oci_purl(name: &str, digest: &Digest) -> String {
    let without_tag = name.split('@').next().unwrap_or(name);
    let (repo, _) = match without_tag.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (without_tag, None),
    };
    let last = repo.rsplit('/').next().unwrap_or(repo);
    format!("pkg:oci/{last}@sha256%3A{}?repository_url={}", digest.hex(), repo.replace(':', "%3A"))
}

/// What one platform's SBOM is made of: the inventory of its binary, what else its image
/// holds, the image's digest and time, and the git commit.
pub(crate) struct Sbom<'a> {
    pub(crate) inv: &'a Inventory,
    pub(crate) extras: &'a Extras,
    pub(crate) subject: &'a Digest,
    pub(crate) created: &'a str,
    pub(crate) revision: Option<&'a str>,
}

impl Sbom<'_> {
    /// SPDX 2.3 JSON.
    pub(crate) fn spdx(&self) -> Vec<u8> {
        spdx(self.inv, self.extras, self.subject, self.created, self.revision)
    }

    /// CycloneDX 1.6 JSON.
    pub(crate) fn cyclonedx(&self) -> Vec<u8> {
        cyclonedx(self.inv, self.extras, self.subject, self.created, self.revision)
    }
}

fn spdx(inv: &Inventory, extras: &Extras, subject: &Digest, created: &str, revision: Option<&str>) -> Vec<u8> {
    let root = &inv.packages[inv.root];
    let licenses = licenses(inv);
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    for (i, p) in inv.packages.iter().enumerate() {
        let mut pkg = json!({
            "SPDXID": spdx_id(i, &p.name),
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": match &p.origin {
                Origin::Git { url, commit } => git_location(url, commit),
                _ => None,
            }.unwrap_or_else(|| "NOASSERTION".into()),
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": licenses[i].as_ref().map_or("NOASSERTION", |l| l.expression.as_str()),
            "copyrightText": "NOASSERTION",
            "sourceInfo": source_text(p),
            "primaryPackagePurpose": if i == inv.root { "APPLICATION" } else { "LIBRARY" },
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl()}],
        });
        if let Some(sum) = sha256(p.checksum.as_ref()) {
            pkg["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": sum}]);
        }
        if let (true, Some(rev)) = (i == inv.root, revision) {
            pkg["sourceInfo"] = json!(format!("{} at git commit {rev}", source_text(p)));
        }
        packages.push(pkg);
        for d in distinct(&p.dependencies) {
            relationships.push(json!({
                "spdxElementId": spdx_id(i, &p.name),
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": spdx_id(d, &inv.packages[d].name),
            }));
        }
    }
    let root_id = spdx_id(inv.root, &root.name);
    relationships.insert(
        0,
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": root_id}),
    );
    if let Some((name, digest)) = &extras.base {
        packages.push(json!({
            "SPDXID": "SPDXRef-BaseImage",
            "name": name,
            "versionInfo": digest.to_string(),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "CONTAINER",
            "checksums": [{"algorithm": "SHA256", "checksumValue": digest.hex()}],
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": oci_purl(name, digest)}],
        }));
        relationships.push(json!({"spdxElementId": root_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-BaseImage"}));
    }
    if let Some(version) = &extras.ca_bundle {
        packages.push(json!({
            "SPDXID": "SPDXRef-CABundle",
            "name": "webpki-root-certs",
            "versionInfo": version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "sourceInfo": "Mozilla's root certificates, as /etc/ssl/certs/ca-certificates.crt",
            "primaryPackagePurpose": "FILE",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": format!("pkg:cargo/webpki-root-certs@{version}")}],
        }));
        relationships.push(json!({"spdxElementId": root_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-CABundle"}));
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{}", root.name, root.version),
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/{TOOL}/{}-{}-{}",
            percent(&root.name),
            percent(&root.version),
            subject.hex()
        ),
        "creationInfo": {"created": created, "creators": [format!("Tool: {TOOL}-{VERSION}")]},
        "packages": packages,
        "relationships": relationships,
    });
    let extracted = extracted_licensing_infos(&licenses, inv);
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = Value::Array(extracted);
    }
    canonical_json(&doc)
}

/// `list` without repeats, in its order.
fn distinct(list: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(list.len());
    for &d in list {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// A UUID (version 5 layout) derived from `digest`.
fn uuid_of(digest: &Digest) -> String {
    let h = digest.hex();
    let variant = ["8", "9", "a", "b"][usize::from_str_radix(&h[16..17], 16).unwrap_or(0) % 4];
    format!("{}-{}-5{}-{}{}-{}", &h[0..8], &h[8..12], &h[13..16], variant, &h[17..20], &h[20..32])
}

fn cyclonedx(inv: &Inventory, extras: &Extras, subject: &Digest, created: &str, revision: Option<&str>) -> Vec<u8> {
    // bom-refs: the purl, made unique where two packages share one.
    let mut refs: Vec<String> = Vec::new();
    for p in &inv.packages {
        let mut r = p.purl();
        let mut n = 2;
        while refs.contains(&r) {
            r = format!("{}#{n}", p.purl());
            n += 1;
        }
        refs.push(r);
    }
    let licenses = licenses(inv);
    let component = |i: usize, p: &Package, kind: &str| {
        let mut c = json!({"type": kind, "bom-ref": refs[i], "name": p.name, "version": p.version, "purl": p.purl()});
        if let Some(sum) = sha256(p.checksum.as_ref()) {
            c["hashes"] = json!([{"alg": "SHA-256", "content": sum}]);
        }
        if let Some(l) = &licenses[i] {
            c["licenses"] = json!([{"expression": l.expression}]);
        }
        let mut props = vec![json!({"name": "cargo-containerize:source", "value": source_text(p)})];
        if let Origin::Git { url, commit } = &p.origin {
            if git_location(url, commit).is_some() {
                c["externalReferences"] = json!([{"type": "vcs", "url": url}]);
            }
        }
        if let (true, Some(rev)) = (i == inv.root, revision) {
            props.push(json!({"name": "cargo-containerize:git-revision", "value": rev}));
        }
        c["properties"] = Value::Array(props);
        c
    };
    let mut components: Vec<Value> = Vec::new();
    let mut dependencies: Vec<Value> = Vec::new();
    for (i, p) in inv.packages.iter().enumerate() {
        if i != inv.root {
            components.push(component(i, p, "library"));
        }
        let mut on: Vec<String> = distinct(&p.dependencies).into_iter().map(|d| refs[d].clone()).collect();
        if i == inv.root {
            if let Some((name, digest)) = &extras.base {
                components.push(json!({"type": "container", "bom-ref": "base-image", "name": name, "version": digest.to_string(), "purl": oci_purl(name, digest)}));
                on.push("base-image".into());
            }
            if let Some(version) = &extras.ca_bundle {
                components.push(
                    json!({"type": "data", "bom-ref": "ca-bundle", "name": "webpki-root-certs", "version": version,
                    "description": "Mozilla's root certificates, as /etc/ssl/certs/ca-certificates.crt"}),
                );
                on.push("ca-bundle".into());
            }
        }
        dependencies.push(json!({"ref": refs[i], "dependsOn": on}));
    }
    let mut doc = Map::new();
    doc.insert("bomFormat".into(), json!("CycloneDX"));
    doc.insert("specVersion".into(), json!("1.6"));
    doc.insert("serialNumber".into(), json!(format!("urn:uuid:{}", uuid_of(subject))));
    doc.insert("version".into(), json!(1));
    doc.insert(
        "metadata".into(),
        json!({
            "timestamp": created,
            "tools": {"components": [{"type": "application", "name": TOOL, "version": VERSION}]},
            "component": component(inv.root, &inv.packages[inv.root], "application"),
        }),
    );
    doc.insert("components".into(), Value::Array(components));
    doc.insert("dependencies".into(), Value::Array(dependencies));
    canonical_json(&Value::Object(doc))
}

/// What selects and configures the image, for provenance.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parameters {
    pub(crate) external: Value,
    pub(crate) git: Option<(Option<String>, String)>,
    pub(crate) lock_digest: Option<String>,
    pub(crate) base: Option<(String, Digest)>,
    /// An engine base's name and digest in its registry (`NAME@sha256:…`), when known.
    pub(crate) base_registry: Option<String>,
}

/// Who built it: the tool, or inside GitHub Actions the workflow run, as GitHub's own
/// provenance says it; from the environment `env`.
fn builder(env: &dyn Fn(&str) -> Option<String>) -> (String, Option<String>) {
    let gh = env("GITHUB_ACTIONS").is_some_and(|v| v == "true");
    if let (true, Some(server), Some(repo), Some(workflow)) =
        (gh, env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY"), env("GITHUB_WORKFLOW_REF"))
    {
        let run = env("GITHUB_RUN_ID").map(|id| format!("{server}/{repo}/actions/runs/{id}"));
        return (format!("{server}/{workflow}"), run);
    }
    (format!("https://github.com/cargo-containerize/cargo-containerize@v{VERSION}"), None)
}

/// An in-toto Statement v1 with SLSA v1 provenance of the image `subject` named `name`.
pub(crate) fn provenance(
    name: &str,
    subject: &Digest,
    params: &Parameters,
    rustc: &str,
    host: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<u8> {
    let mut resolved = Vec::new();
    if let Some((remote, commit)) = &params.git {
        let uri = remote.as_ref().map_or_else(|| "git".to_string(), |r| format!("git+{r}"));
        resolved.push(json!({"uri": uri, "digest": {"gitCommit": commit}}));
    }
    if let Some(lock) = &params.lock_digest {
        let hex = lock.trim_start_matches("sha256:");
        resolved.push(json!({"uri": "Cargo.lock", "digest": {"sha256": hex}}));
    }
    if let Some((base, digest)) = &params.base {
        resolved.push(json!({"uri": base, "digest": {"sha256": digest.hex()}}));
    }
    // The same base, as its registry knows it (an engine's image that was pulled).
    if let Some((name, digest)) = params.base_registry.as_deref().and_then(|r| r.rsplit_once("@sha256:")) {
        resolved.push(json!({"uri": name, "digest": {"sha256": digest}}));
    }
    let (builder_id, invocation) = builder(env);
    let mut metadata = json!({});
    if let Some(run) = invocation {
        metadata["invocationId"] = json!(run);
    }
    canonical_json(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": subject.hex()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": params.external,
                "internalParameters": {"tool": {"name": TOOL, "version": VERSION}, "rustc": rustc, "host": host},
                "resolvedDependencies": resolved,
            },
            "runDetails": {"builder": {"id": builder_id}, "metadata": metadata},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        let p = |name: &str, origin, deps: Vec<usize>| Package {
            name: name.into(),
            version: "1.0.0".into(),
            origin,
            checksum: Some("ab".repeat(32)),
            license: Some("MIT OR Apache-2.0".into()),
            dependencies: deps,
        };
        Inventory {
            packages: vec![
                p("app", Origin::Path { relative: ".".into() }, vec![1]),
                p("itoa", Origin::Registry { default: true, index: "x".into() }, vec![]),
            ],
            root: 0,
        }
    }

    #[test]
    fn documents_are_deterministic_and_named_from_the_subject() {
        let d = Digest::of(b"image");
        let extras = Extras { base: Some(("reg/base:1".into(), Digest::of(b"b"))), ca_bundle: Some("1.0".into()) };
        let a = spdx(&inventory(), &extras, &d, "2024-01-01T00:00:00Z", Some("abc"));
        assert_eq!(a, spdx(&inventory(), &extras, &d, "2024-01-01T00:00:00Z", Some("abc")));
        let v: Value = serde_json::from_slice(&a).unwrap();
        assert!(v["documentNamespace"].as_str().unwrap().ends_with(d.hex()));
        assert_eq!(v["packages"].as_array().unwrap().len(), 4);
        let c: Value = serde_json::from_slice(&cyclonedx(&inventory(), &extras, &d, "t", None)).unwrap();
        let serial = c["serialNumber"].as_str().unwrap();
        assert!(serial.starts_with(&format!("urn:uuid:{}-", &d.hex()[..8])), "{serial}");
        assert_eq!(c["dependencies"][0]["dependsOn"], json!(["pkg:cargo/itoa@1.0.0", "base-image", "ca-bundle"]));
    }

    #[test]
    fn the_builder_is_the_workflow_inside_github_actions() {
        let gh = |k: &str| {
            Some(
                match k {
                    "GITHUB_ACTIONS" => "true",
                    "GITHUB_SERVER_URL" => "https://github.com",
                    "GITHUB_REPOSITORY" => "o/r",
                    "GITHUB_WORKFLOW_REF" => "o/r/.github/workflows/ci.yml@refs/heads/main",
                    "GITHUB_RUN_ID" => "42",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let (id, run) = builder(&gh);
        assert_eq!(id, "https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main");
        assert_eq!(run.as_deref(), Some("https://github.com/o/r/actions/runs/42"));
        assert!(builder(&|_| None).0.contains(TOOL));
    }

    /// Both documents of `inv`, parsed.
    fn both(inv: &Inventory) -> (Value, Value) {
        let (d, extras) = (Digest::of(b"image"), Extras::default());
        let spdx: Value = serde_json::from_slice(&spdx(inv, &extras, &d, "2024-01-01T00:00:00Z", None)).unwrap();
        let cdx: Value = serde_json::from_slice(&cyclonedx(inv, &extras, &d, "2024-01-01T00:00:00Z", None)).unwrap();
        (spdx, cdx)
    }

    #[test]
    fn one_license_check_for_both_documents() {
        let mut inv = inventory();
        inv.packages[1].license = Some("MIT\" OR <evil>\nAND".into());
        let (spdx, cdx) = both(&inv);
        assert_eq!(spdx["packages"][1]["licenseDeclared"], "NOASSERTION");
        assert_eq!(cdx["components"][0].get("licenses"), None, "{cdx}");
        assert!(!String::from_utf8(serde_json::to_vec(&cdx).unwrap()).unwrap().contains("evil"));
        inv.packages[1].license = Some("mit or apache-2.0".into());
        let (spdx, cdx) = both(&inv);
        assert_eq!(spdx["packages"][1]["licenseDeclared"], "MIT OR Apache-2.0");
        assert_eq!(cdx["components"][0]["licenses"], json!([{"expression": "MIT OR Apache-2.0"}]));
    }

    #[test]
    fn every_license_ref_is_declared_once() {
        let mut inv = inventory();
        inv.packages[0].license = Some("LicenseRef-Proprietary".into());
        inv.packages[1].license = Some("MIT OR LicenseRef-Proprietary AND LicenseRef-Other".into());
        let (spdx, cdx) = both(&inv);
        assert_eq!(
            spdx["hasExtractedLicensingInfos"],
            json!([
                {"licenseId": "LicenseRef-Other", "name": "Other",
                 "extractedText": "LicenseRef-Other, as the license field of the Cargo.toml of itoa names it; its text is not part of this document."},
                {"licenseId": "LicenseRef-Proprietary", "name": "Proprietary",
                 "extractedText": "LicenseRef-Proprietary, as the license field of the Cargo.toml of app, itoa names it; its text is not part of this document."},
            ])
        );
        assert_eq!(cdx["metadata"]["component"]["licenses"], json!([{"expression": "LicenseRef-Proprietary"}]));
        inv.packages[0].license = None;
        inv.packages[1].license = None;
        assert_eq!(both(&inv).0.get("hasExtractedLicensingInfos"), None);
    }

    #[test]
    fn only_well_formed_sources_and_checksums_are_written() {
        assert_eq!(
            git_location("https://github.com/o/r", "0123abcd").as_deref(),
            Some("git+https://github.com/o/r@0123abcd")
        );
        assert_eq!(
            git_location("ssh://git.example.org:2222/o/r.git", "ab").as_deref(),
            Some("git+ssh://git.example.org:2222/o/r.git@ab")
        );
        for (url, commit) in [
            ("https://github.com/o/r", ""),
            ("https://github.com/o/r", "main"),
            ("https://user@github.com/o/r", "ab"),
            ("https://localhost/o/r", "ab"),
            ("file:///tmp/r", "ab"),
            ("https://github.com/o r", "ab"),
            ("https://github.com/o/r\n", "ab"),
            ("https://github.com/o/r#frag", "ab"),
            ("https://-x.com/r", "ab"),
        ] {
            assert_eq!(git_location(url, commit), None, "{url} {commit}");
        }
        assert_eq!(sha256(Some(&"ab".repeat(32))), Some("ab".repeat(32).as_str()));
        assert_eq!(sha256(Some(&"zz".repeat(32))), None);
        assert_eq!(sha256(Some(&"ab".into())), None);
    }
}
