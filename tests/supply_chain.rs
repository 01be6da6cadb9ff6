//! SBOMs and provenance, attached as OCI 1.1 referrers: against ferro-oci-server (the
//! referrers API), CNCF distribution (the referrers tag schema), the SPDX and CycloneDX
//! validators (PyPI, in the venv `.ci/setup` makes), on the `with-deps` fixture: registry
//! dependencies (itoa, fnv), a path proc-macro (shout) and a build dependency (autocfg).

mod common;

use common::fault_proxy::{FaultProxy, Faults};
use common::registry::{Ferro, Registry};
use common::{layout_blob, layout_index, tool, Project, Run};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const SPDX: &str = "application/spdx+json";
const CDX: &str = "application/vnd.cyclonedx+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The Python with the validators.
fn python() -> PathBuf {
    let venv = std::env::var_os("CARGO_CONTAINERIZE_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/cargo-containerize-tests/venv".into());
    let py = venv.join("bin/python");
    assert!(py.exists(), "{} is missing: run `bash .ci/setup`", py.display());
    py
}

/// The packages cargo compiled into the binary: everything but the proc-macro and the build
/// dependency.
fn compiled() -> BTreeSet<String> {
    ["fnv@1.0.7", "itoa@1.0.11", "with-deps@0.3.1"].iter().map(|s| s.to_string()).collect()
}

/// GET of a registry URL, as JSON.
fn get(url: &str, accept: &str) -> (Value, String) {
    let out = tool("curl", &["-sS", "-D", "-", "-H", &format!("Accept: {accept}"), url]).stdout;
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (serde_json::from_str(body).unwrap_or(Value::Null), head.to_string())
}

/// The documents a layout's `index.json` lists, by artifact type: (manifest, document).
fn layout_documents(dir: &Path) -> Vec<(String, Value, Vec<u8>)> {
    let index = layout_index(dir);
    let mut out = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let Some(kind) = entry["artifactType"].as_str() else { continue };
        let manifest: Value = serde_json::from_slice(&layout_blob(dir, entry["digest"].as_str().unwrap())).unwrap();
        let doc = layout_blob(dir, manifest["layers"][0]["digest"].as_str().unwrap());
        out.push((kind.to_string(), manifest, doc));
    }
    out
}

fn spdx_packages(doc: &[u8]) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(doc).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}@{}", p["name"].as_str().unwrap(), p["versionInfo"].as_str().unwrap()))
        .collect()
}

fn cdx_packages(doc: &[u8]) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(doc).unwrap();
    let root = &v["metadata"]["component"];
    std::iter::once(root)
        .chain(v["components"].as_array().unwrap())
        .map(|c| format!("{}@{}", c["name"].as_str().unwrap(), c["version"].as_str().unwrap()))
        .collect()
}

/// `pyspdxtools -i FILE`: true when valid.
fn spdx_valid(doc: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.spdx.json");
    std::fs::write(&file, doc).unwrap();
    let out = Command::new(python().with_file_name("pyspdxtools")).arg("-i").arg(&file).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// `JsonStrictValidator(SchemaVersion.V1_6)`, plus the check it lacks: every `dependsOn`
/// names a `bom-ref` of the document.
fn cdx_valid(doc: &[u8]) -> Result<(), String> {
    let script = "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\n\
                  e = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sys.stdin.read())\nprint(e or '')\nsys.exit(1 if e else 0)\n";
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), doc).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let v: Value = serde_json::from_slice(doc).unwrap();
    let mut refs: BTreeSet<&str> =
        v["components"].as_array().unwrap().iter().filter_map(|c| c["bom-ref"].as_str()).collect();
    refs.extend(v["metadata"]["component"]["bom-ref"].as_str());
    for d in v["dependencies"].as_array().unwrap() {
        for on in d["dependsOn"].as_array().unwrap() {
            if !refs.contains(on.as_str().unwrap()) {
                return Err(format!("dangling dependsOn {on}"));
            }
        }
    }
    Ok(())
}

#[test]
fn the_sboms_list_exactly_what_cargo_compiled_and_pass_both_validators() {
    let p = Project::copy("with-deps");
    p.run(&["-o", "out", "--sbom", "--provenance"]).ok();
    let docs = layout_documents(&p.path().join("out"));
    let kinds: Vec<&str> = docs.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, [SPDX, CDX, IN_TOTO]);
    let (_, _, spdx) = &docs[0];
    let (_, _, cdx) = &docs[1];
    assert_eq!(spdx_packages(spdx), compiled(), "no proc-macro (shout), no build dependency (autocfg)");
    assert_eq!(cdx_packages(cdx), compiled());
    spdx_valid(spdx).unwrap();
    cdx_valid(cdx).unwrap();
    // Each validator rejects a broken copy, so it could have failed.
    let mut broken: Value = serde_json::from_slice(spdx).unwrap();
    broken["relationships"][1]["relatedSpdxElement"] = "SPDXRef-Package-99-nothing".into();
    assert!(spdx_valid(&serde_json::to_vec(&broken).unwrap()).is_err(), "a dangling relationship");
    let mut broken: Value = serde_json::from_slice(cdx).unwrap();
    broken["components"][0]["type"] = "bogus".into();
    assert!(cdx_valid(&serde_json::to_vec(&broken).unwrap()).is_err(), "a bad component type");
    // Each package carries its purl, checksum (from Cargo.lock), license and source.
    let v: Value = serde_json::from_slice(spdx).unwrap();
    let itoa = v["packages"].as_array().unwrap().iter().find(|p| p["name"] == "itoa").unwrap();
    assert_eq!(itoa["externalRefs"][0]["referenceLocator"], "pkg:cargo/itoa@1.0.11");
    let lock = std::fs::read_to_string(p.path().join("Cargo.lock")).unwrap();
    let sum = itoa["checksums"][0]["checksumValue"].as_str().unwrap();
    assert!(lock.contains(&format!("checksum = \"{sum}\"")));
    assert_eq!(itoa["licenseDeclared"], "MIT OR Apache-2.0");
    assert!(itoa["sourceInfo"].as_str().unwrap().starts_with("registry "));
    let relations: Vec<(&str, &str)> = v["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DEPENDS_ON")
        .map(|r| (r["spdxElementId"].as_str().unwrap(), r["relatedSpdxElement"].as_str().unwrap()))
        .collect();
    assert_eq!(relations.len(), 2, "with-deps depends on fnv and itoa: {relations:?}");
}

#[test]
fn documents_are_deterministic_and_leave_the_image_digest_alone() {
    let p = Project::copy("with-deps");
    let with = p.run(&["-o", "a", "--sbom", "--provenance"]).ok();
    let again = p.run(&["-o", "b", "--sbom", "--provenance"]).ok();
    let without = p.run(&["-o", "c", "--no-sbom", "--no-provenance"]).ok();
    let digest = |r: &Run| r.stdout.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(digest(&with), digest(&without), "the image's digest does not depend on its documents");
    assert_eq!(digest(&with), digest(&again));
    let (a, b) = (layout_documents(&p.path().join("a")), layout_documents(&p.path().join("b")));
    assert_eq!(a.len(), 3);
    for ((_, ma, da), (_, mb, db)) in a.iter().zip(&b) {
        assert_eq!(ma, mb);
        assert_eq!(da, db, "same sources, same bytes");
    }
    assert!(layout_documents(&p.path().join("c")).is_empty());
    // The SBOMs describe the image: their subject is its manifest.
    assert_eq!(a[0].1["subject"]["digest"].as_str().unwrap(), digest(&with));
}

#[test]
fn ferro_lists_the_referrers_and_filters_them_by_type() {
    let ferro = Ferro::start();
    let p = Project::copy("with-deps");
    let push = format!("{}/app:1", ferro.host());
    let run = p.run(&["--push", &push]).ok();
    let image = run.stdout.trim().rsplit('@').next().unwrap().to_string();
    for kind in [SPDX, CDX, IN_TOTO] {
        assert!(run.stderr.contains(&format!("    Attached {kind} {}/app@sha256:", ferro.host())), "{}", run.stderr);
    }
    let url = format!("http://{}/v2/app/referrers/{image}", ferro.host());
    let (list, _) = get(&url, "application/vnd.oci.image.index.v1+json");
    let kinds: BTreeSet<&str> =
        list["manifests"].as_array().unwrap().iter().map(|m| m["artifactType"].as_str().unwrap()).collect();
    assert_eq!(kinds, [SPDX, CDX, IN_TOTO].into_iter().collect());
    let (filtered, head) = get(&format!("{url}?artifactType={}", SPDX.replace('+', "%2B")), "application/json");
    assert_eq!(filtered["manifests"].as_array().unwrap().len(), 1);
    assert!(head.to_ascii_lowercase().contains("oci-filters-applied: artifacttype"), "{head}");
    // The registry said OCI-Subject, so no fallback tag was written.
    let tag = format!("sha256-{}", image.trim_start_matches("sha256:"));
    let out = tool(
        "curl",
        &["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{}/v2/app/manifests/{tag}", ferro.host())],
    );
    assert_eq!(out.stdout, "404");
}

#[test]
fn distribution_gets_the_tag_schema_merged_without_duplicates_or_losses() {
    let reg = Registry::plain();
    let p = Project::copy("with-deps");
    let push = format!("{}/app:1", reg.host());
    let run = p.run(&["--push", &push]).ok();
    let image = run.stdout.trim().rsplit('@').next().unwrap().to_string();
    let tag_url = format!("http://{}/v2/app/manifests/sha256-{}", reg.host(), image.trim_start_matches("sha256:"));
    let index_type = "application/vnd.oci.image.index.v1+json";
    let entries = |v: &Value| -> Vec<String> {
        v["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap().to_string()).collect()
    };
    let (first, _) = get(&tag_url, index_type);
    assert_eq!(entries(&first).len(), 3, "{first}");
    // Another tool's entry for the same image lands in the index meanwhile (distribution
    // takes only manifests it holds: the image's own stands in for another tool's).
    let mut foreign = first.clone();
    let raw = tool(
        "curl",
        &[
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &format!("http://{}/v2/app/manifests/{image}", reg.host()),
        ],
    )
    .stdout;
    let other = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": image, "size": raw.len(), "artifactType": "application/vnd.example.sig"});
    foreign["manifests"] = Value::Array(vec![other.clone()]);
    tool(
        "curl",
        &[
            "-sf",
            "-X",
            "PUT",
            "-H",
            &format!("Content-Type: {index_type}"),
            "--data-binary",
            &foreign.to_string(),
            &tag_url,
        ],
    );
    p.run(&["--push", &push]).ok();
    let (second, _) = get(&tag_url, index_type);
    let mut want = entries(&first);
    want.insert(0, other["digest"].as_str().unwrap().to_string());
    assert_eq!(entries(&second), want, "the other tool's entry kept, ours once each");
    p.run(&["--push", &push]).ok();
    let (third, _) = get(&tag_url, index_type);
    assert_eq!(entries(&third), want, "a re-push adds nothing");
    // A second image in the same repository has its own list; the first keeps its own.
    let p2 = Project::copy("with-deps");
    p2.run(&["--push", &format!("{}/app:2", reg.host()), "--label", "second=yes"]).ok();
    let (kept, _) = get(&tag_url, index_type);
    assert_eq!(entries(&kept), want);
}

#[test]
fn a_registry_that_refuses_artifacts_is_a_warning_not_a_failed_push() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(reg.port, Faults { refuse_manifests_by_digest: true, ..Faults::default() });
    let p = Project::copy("with-deps");
    let run = p.run(&["--push", &format!("{}/app:1", proxy.host())]).ok();
    assert!(run.stdout.starts_with(&format!("{}/app:1@sha256:", proxy.host())), "{}", run.stdout);
    for kind in [SPDX, CDX, IN_TOTO] {
        assert!(
            run.stderr.contains(&format!("warning: {}/app did not take the referrer {kind}", proxy.host())),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn provenance_names_the_sources_the_builder_and_never_a_secret() {
    let p = Project::copy("with-deps");
    let git = |args: &[&str]| tool("git", &[&["-C", p.path().to_str().unwrap()], args].concat());
    git(&["init", "-q"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "fixture"]);
    git(&["remote", "add", "origin", "https://ci-user:s3cret-token@git.example.invalid/acme/app.git"]);
    let commit = git(&["rev-parse", "HEAD"]).stdout.trim().to_string();
    let gh = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/app"),
        ("GITHUB_WORKFLOW_REF", "acme/app/.github/workflows/release.yml@refs/tags/v1"),
        ("GITHUB_RUN_ID", "4242"),
    ];
    let run = Run::of(p.cmd().envs(gh).args(["-o", "out", "--sbom", "--provenance"])).ok();
    assert!(!run.stderr.contains("s3cret"));
    let docs = layout_documents(&p.path().join("out"));
    let (_, manifest, doc) = docs.iter().find(|(k, _, _)| k == IN_TOTO).unwrap();
    let text = String::from_utf8(doc.clone()).unwrap();
    assert!(!text.contains("s3cret") && !text.contains("ci-user"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(v["predicateType"], "https://slsa.dev/provenance/v1");
    let image = manifest["subject"]["digest"].as_str().unwrap();
    assert_eq!(v["subject"][0]["digest"]["sha256"], image.trim_start_matches("sha256:"));
    let def = &v["predicate"]["buildDefinition"];
    assert!(def["buildType"].as_str().unwrap().ends_with("docs/build-type-v1.md"));
    assert_eq!(def["externalParameters"]["package"], "with-deps");
    assert_eq!(def["externalParameters"]["targets"][0], "x86_64-unknown-linux-musl");
    assert!(def["internalParameters"]["rustc"].as_str().unwrap().starts_with("rustc "));
    let deps = def["resolvedDependencies"].as_array().unwrap();
    assert_eq!(deps[0]["uri"], "git+https://git.example.invalid/acme/app.git");
    assert_eq!(deps[0]["digest"]["gitCommit"], commit);
    let lock = std::fs::read(p.path().join("Cargo.lock")).unwrap();
    use sha2::Digest as _;
    assert_eq!(deps[1]["digest"]["sha256"], format!("{:x}", sha2::Sha256::digest(&lock)));
    let run_details = &v["predicate"]["runDetails"];
    assert_eq!(run_details["builder"]["id"], "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1");
    assert_eq!(run_details["metadata"]["invocationId"], "https://github.com/acme/app/actions/runs/4242");
}

#[test]
fn an_unknown_sbom_format_is_refused_before_the_build() {
    let p = Project::copy("with-deps");
    let manifest = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("[workspace]", "[package.metadata.containerize]\nsbom = [\"spdx\", \"swid\"]\n\n[workspace]"),
    )
    .unwrap();
    let run = p.run(&["-o", "out"]).failed();
    assert!(run.stderr.contains("unknown SBOM format \"swid\"; expected \"spdx\" or \"cyclonedx\""), "{}", run.stderr);
    assert!(!p.path().join("target").exists(), "nothing was built");
}

/// `syft scan SOURCE -o json`: each package as `name@version purl`.
fn syft(source: &str) -> (BTreeSet<String>, String) {
    let out = Command::new(python().with_file_name("syft"))
        .args(["scan", source, "-o", "json"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .unwrap();
    assert!(out.status.success(), "syft {source}: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = v["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}@{} {}",
                a["name"].as_str().unwrap(),
                a["version"].as_str().unwrap(),
                a["purl"].as_str().unwrap()
            )
        })
        .collect();
    (found, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn syft_finds_every_crate_in_the_binary_and_none_of_the_build_only_ones() {
    let p = Project::copy("with-deps");
    let (tar, dir) = (p.path().join("img.tar"), p.path().join("single"));
    // The default outputs, as every reader gets them (issue 22): the layout lists the image
    // alone (syft's oci-dir: reads layouts of one entry only), and so does the tarball.
    p.run(&["--tarball", tar.to_str().unwrap(), "-o", dir.to_str().unwrap()]).ok();
    assert_eq!(common::layout_index(&dir)["manifests"].as_array().unwrap().len(), 1, "the image alone");
    let expected: BTreeSet<String> = compiled().iter().map(|c| format!("{c} pkg:cargo/{}", c)).collect();
    assert_eq!(syft(&format!("oci-archive:{}", tar.display())).0, expected);
    assert_eq!(syft(&format!("oci-dir:{}", dir.display())).0, expected);
    let tag = common::layout_ref_names(&dir)[0].clone();
    tool("skopeo", &["inspect", &format!("oci:{}:{tag}", dir.display())]);
    assert!(common::umoci_runc(&dir, &tag).contains("answer=42"), "umoci and runc read it");
    let bare = p.path().join("bare.tar");
    p.run(&["--tarball", bare.to_str().unwrap(), "--no-auditable"]).ok();
    assert!(syft(&format!("oci-archive:{}", bare.display())).0.is_empty(), "without the section, nothing is seen");
}

#[test]
fn the_embedded_list_the_sboms_and_cargo_agree() {
    let p = Project::copy("with-deps");
    p.run(&["-o", "out", "--sbom"]).ok();
    let binary = std::fs::read(p.path().join("target/x86_64-unknown-linux-musl/release/with-deps")).unwrap();
    let embedded: BTreeSet<String> =
        cargo_containerize::api::embedded_dependencies(&binary).unwrap().into_iter().collect();
    assert_eq!(embedded, compiled());
    let docs = layout_documents(&p.path().join("out"));
    assert_eq!(spdx_packages(&docs[0].2), embedded);
    assert_eq!(cdx_packages(&docs[1].2), embedded);
    // Built again elsewhere, the binary (section included) is the same.
    let q = Project::copy("with-deps");
    q.run(&["-o", "out"]).ok();
    let again = std::fs::read(q.path().join("target/x86_64-unknown-linux-musl/release/with-deps")).unwrap();
    assert!(binary == again, "the section does not depend on the build directory");
    // A wrapper of the user's own (cargo auditable, say) is left alone: no second section.
    let r = Project::copy("with-deps");
    let wrapper = r.path().join("wrap.sh");
    std::fs::write(&wrapper, "#!/bin/sh\nexec \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    Run::of(r.cmd().env("RUSTC_WORKSPACE_WRAPPER", &wrapper).args(["-o", "out"])).ok();
    let theirs = std::fs::read(r.path().join("target/x86_64-unknown-linux-musl/release/with-deps")).unwrap();
    assert!(cargo_containerize::api::embedded_dependencies(&theirs).is_none());
}

#[test]
fn the_list_is_embedded_for_cross_targets_and_with_zig() {
    let p = Project::copy("with-deps");
    let arm = p.path().join("target/aarch64-unknown-linux-musl/release/with-deps");
    p.run(&["-o", "lld", "--sbom", "--platform", "linux/amd64,linux/arm64"]).ok();
    let read = |path: &Path| -> BTreeSet<String> {
        cargo_containerize::api::embedded_dependencies(&std::fs::read(path).unwrap()).unwrap().into_iter().collect()
    };
    assert_eq!(read(&arm), compiled(), "linked by rust-lld");
    // One SBOM per format and platform, each about its platform's manifest.
    let index: Value = serde_json::from_slice(&layout_blob(
        &p.path().join("lld"),
        &common::layout_index_digest(&p.path().join("lld")),
    ))
    .unwrap();
    let platforms: BTreeSet<&str> =
        index["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
    let docs = layout_documents(&p.path().join("lld"));
    let subjects: BTreeSet<&str> = docs.iter().map(|(_, m, _)| m["subject"]["digest"].as_str().unwrap()).collect();
    assert_eq!(docs.len(), 4, "SPDX and CycloneDX for each of two platforms");
    assert_eq!(subjects, platforms);
    p.run(&["-o", "zig", "--sbom", "--target", "aarch64-unknown-linux-musl", "--zig"]).ok();
    assert_eq!(read(&arm), compiled(), "linked by zig cc");
    let out = tool("qemu-aarch64-static", &[arm.to_str().unwrap()]).stdout;
    assert!(out.contains(common::HELLO_MARKER), "the binary still runs: {out}");
}

/// With two platforms, each document pushed says which platform it describes.
#[test]
fn each_attached_line_of_a_two_platform_push_names_its_platform() {
    let reg = Registry::plain();
    let p = Project::copy("with-deps");
    let push = format!("{}/two:1", reg.host());
    let run = p.run(&["--push", &push, "--platform", "linux/amd64,linux/arm64", "--no-provenance"]).ok();
    for kind in [SPDX, CDX] {
        for platform in ["linux/amd64", "linux/arm64"] {
            let line = format!("    Attached {kind} ({platform}) {}/two@sha256:", reg.host());
            assert_eq!(run.stderr.matches(&line).count(), 1, "{line:?} in {}", run.stderr);
        }
    }
}

#[test]
fn a_re_push_finds_the_documents_there_and_sends_none_again() {
    use common::fault_proxy::Kind;
    let (reg, ferro) = (Registry::plain(), Ferro::start());
    let p = Project::copy("with-deps");
    for upstream in [reg.port, ferro.port] {
        let proxy = FaultProxy::start(upstream, Faults::default());
        let push = format!("{}/app:1", proxy.host());
        p.run(&["--push", &push]).ok();
        let first = proxy.seen();
        let count = |seen: &[common::fault_proxy::Seen], kind| seen.iter().filter(|s| s.kind == kind).count();
        assert!(count(&first, Kind::ManifestPut) >= 4, "the image and three documents: {first:?}");
        // A new image: the tag is asked about, and the subject's listing read (on
        // distribution, the tag schema's index, read again to add to it and once more to
        // check it); its documents are not asked about one by one, as it lists none.
        let reads = if upstream == reg.port { 4 } else { 1 };
        assert_eq!(count(&first, Kind::ManifestGet), reads, "{first:?}");
        let run = p.run(&["-v", "--push", &push]).ok();
        let again = &proxy.seen()[first.len()..];
        assert_eq!(count(again, Kind::UploadStart), 0, "{again:?}");
        assert_eq!(count(again, Kind::ManifestPut), 0, "the tag names the image already: {again:?}");
        assert_eq!(count(again, Kind::BlobHead), 0, "{again:?}");
        // One question about the tag; the documents are found in their subject's listing
        // (on distribution, the tag schema's index; with the API, no manifest request), not
        // asked about one by one.
        let listing = if upstream == reg.port { 1 } else { 0 };
        assert_eq!(count(again, Kind::ManifestGet), 1 + listing, "{again:?}");
        // Nothing new is announced; `-v` says each is there already.
        assert_eq!(run.stderr.matches("    Attached ").count(), 0, "{}", run.stderr);
        assert_eq!(run.stderr.matches(": already attached").count(), 3, "{}", run.stderr);
        // Documents that are not there yet are attached to the image the tag names, their
        // blobs sent with them (a registry refuses a manifest whose blobs it lacks).
        let other = format!("{}/other:1", proxy.host());
        p.run(&["--push", &other, "--no-sbom"]).ok();
        let before = proxy.seen().len();
        let run = p.run(&["--push", &other]).ok();
        let third = &proxy.seen()[before..];
        assert_eq!(run.stderr.matches("    Attached ").count(), 2, "the two SBOMs: {}", run.stderr);
        assert!(!run.stderr.contains(&format!("Attached {IN_TOTO}")), "{}", run.stderr);
        assert_eq!(
            count(third, Kind::BlobHead),
            3,
            "the SBOMs' blobs and their empty config, not the image's: {third:?}"
        );
        // The two SBOMs, and on distribution (no referrers API) the tag schema's index; not
        // the image.
        let puts = if upstream == reg.port { 3 } else { 2 };
        assert_eq!(count(third, Kind::ManifestPut), puts, "{third:?}");
    }
}

#[test]
fn provenance_alone_or_one_sbom_format_is_what_gets_attached() {
    let ferro = Ferro::start();
    let p = Project::copy("with-deps");
    let run = p.run(&["--push", &format!("{}/app:1", ferro.host()), "--no-sbom"]).ok();
    assert_eq!(run.stderr.matches("    Attached ").count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("    Attached {IN_TOTO} ")), "{}", run.stderr);
    let manifest = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            "[workspace]",
            "[package.metadata.containerize]\nsbom = [\"cyclonedx\"]\nprovenance = false\n\n[workspace]",
        ),
    )
    .unwrap();
    let run = p.run(&["--push", &format!("{}/app:2", ferro.host())]).ok();
    assert_eq!(run.stderr.matches("    Attached ").count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("    Attached {CDX} ")), "{}", run.stderr);
}

#[test]
fn the_sbom_follows_a_change_of_a_local_manifest() {
    let p = Project::copy("with-deps");
    p.run(&["-o", "a", "--sbom"]).ok();
    let license = |out: &str| -> String {
        let docs = layout_documents(&p.path().join(out));
        let v: Value = serde_json::from_slice(&docs[0].2).unwrap();
        let root = v["packages"].as_array().unwrap().iter().find(|p| p["name"] == "with-deps").unwrap().clone();
        root["licenseDeclared"].as_str().unwrap().to_string()
    };
    assert_eq!(license("a"), "MIT OR Apache-2.0");
    let manifest = p.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("license = \"MIT OR Apache-2.0\"", "license = \"Apache-2.0\"")).unwrap();
    p.run(&["-o", "b", "--sbom"]).ok();
    assert_eq!(license("b"), "Apache-2.0", "the inventory kept from the first run is not reused");
}

#[test]
fn an_index_that_keeps_losing_our_entries_is_tried_five_times_then_said() {
    use common::fault_proxy::Kind;
    let reg = Registry::plain();
    let proxy = FaultProxy::start(reg.port, Faults { lose_tag_schema_writes: true, ..Faults::default() });
    let p = Project::copy("with-deps");
    let run = p.run(&["--push", &format!("{}/app:1", proxy.host())]).ok();
    assert!(run.stderr.contains("did not take the referrer index sha256-"), "{}", run.stderr);
    assert!(run.stderr.contains("kept losing our entries"), "{}", run.stderr);
    let writes = proxy.seen().iter().filter(|s| s.kind == Kind::ManifestPut && s.injected).count();
    assert_eq!(writes, 5, "bounded: {:?}", proxy.seen());
    assert!(run.stdout.starts_with(&format!("{}/app:1@sha256:", proxy.host())), "the image was pushed: {}", run.stdout);
}

/// Cargo unifies features across the packages one invocation builds: under `--workspace`,
/// beta's `common/fast-format` puts itoa into alpha too, and alpha's binary says so. The
/// embedded list and both SBOMs of each image describe what that run compiled into it:
/// alpha never lists beta's own fnv, and lists itoa only when it was built beside beta.
#[test]
fn each_binary_of_a_workspace_run_lists_what_that_run_compiled_into_it() {
    let p = Project::copy("services");
    let release = p.path().join("target/x86_64-unknown-linux-musl/release");
    let listed = |dir: &str, bin: &str| {
        let binary = std::fs::read(release.join(bin)).unwrap();
        let embedded: BTreeSet<String> =
            cargo_containerize::api::embedded_dependencies(&binary).unwrap().into_iter().collect();
        let docs = layout_documents(&p.path().join(dir));
        assert_eq!(spdx_packages(&docs[0].2), embedded, "{bin} in {dir}");
        assert_eq!(cdx_packages(&docs[1].2), embedded, "{bin} in {dir}");
        let said = tool(release.join(bin).to_str().unwrap(), &[]).stdout;
        (embedded, said)
    };
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
    p.run(&["-q", "--workspace", "-o", "all", "--sbom"]).ok();
    let (alpha, said) = listed("all/alpha", "alpha");
    assert_eq!(said.trim(), "alpha 1 with itoa", "built beside beta, alpha's common has beta's feature");
    assert_eq!(alpha, set(&["alpha@0.1.0", "common@0.1.0", "itoa@1.0.11"]));
    let (beta, _) = listed("all/beta", "beta");
    assert_eq!(beta, set(&["beta@0.1.0", "common@0.1.0", "fnv@1.0.7", "itoa@1.0.11"]));
    // Alone, alpha links no itoa, and neither its list nor its SBOMs (from `cargo metadata`
    // of the whole workspace, beta's features included) claims it.
    p.run(&["-q", "-p", "alpha", "-o", "alone", "--sbom"]).ok();
    let (alpha, said) = listed("alone", "alpha");
    assert_eq!(said.trim(), "alpha 1 with std");
    assert_eq!(alpha, set(&["alpha@0.1.0", "common@0.1.0"]));
    // The workspace's resolution is kept between runs; beta dropping the feature is a new one.
    p.run(&["-q", "--workspace", "-o", "again", "--sbom"]).ok();
    assert_eq!(listed("again/alpha", "alpha").0, set(&["alpha@0.1.0", "common@0.1.0", "itoa@1.0.11"]));
    let manifest = p.path().join("beta/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace(", features = [\"fast-format\"]", "")).unwrap();
    p.run(&["-q", "--workspace", "-o", "dropped", "--sbom"]).ok();
    let (alpha, said) = listed("dropped/alpha", "alpha");
    assert_eq!(said.trim(), "alpha 1 with std");
    assert_eq!(alpha, set(&["alpha@0.1.0", "common@0.1.0"]));
    assert_eq!(listed("dropped/beta", "beta").0, set(&["beta@0.1.0", "common@0.1.0", "fnv@1.0.7"]));
}

/// Issue 23: `--sbom-output DIR` writes the very documents attached, as files, also for a
/// run whose only destination keeps none (an engine); it refuses what cannot be a directory
/// before the build, and replaces a link rather than write through it.
#[test]
fn sbom_output_writes_the_documents_attached_as_files() {
    let p = Project::copy("with-deps");
    let run = p.run(&["-o", "lay", "--sbom", "--sbom-output", "sboms"]).ok();
    assert!(
        run.stderr.contains("Wrote the SBOMs of with-deps: sboms/with-deps.spdx.json, sboms/with-deps.cdx.json"),
        "{}",
        run.stderr
    );
    let docs = layout_documents(&p.path().join("lay"));
    for (kind, file) in [(SPDX, "with-deps.spdx.json"), (CDX, "with-deps.cdx.json")] {
        let written = std::fs::read(p.path().join("sboms").join(file)).unwrap();
        let attached = docs.iter().find(|(k, _, _)| k == kind).map(|(_, _, doc)| doc).unwrap();
        assert_eq!(&written, attached, "{file}: the bytes attached");
    }
    assert_eq!(spdx_packages(&std::fs::read(p.path().join("sboms/with-deps.spdx.json")).unwrap()), compiled());

    // An engine keeps no documents: the files are still written, and a link where one goes
    // is replaced, its target untouched.
    let name = common::unique_name("sbom-out");
    let _cleanup = common::DockerImages(vec![format!("{name}:1")]);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::fs::create_dir(p.path().join("engine")).unwrap();
    std::os::unix::fs::symlink(&victim, p.path().join("engine/with-deps.spdx.json")).unwrap();
    p.run(&["-q", "-t", &format!("{name}:1"), "--sbom-output", "engine", "--sbom", "--no-provenance"]).ok();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    let spdx = std::fs::read(p.path().join("engine/with-deps.spdx.json")).unwrap();
    assert_eq!(spdx_packages(&spdx), compiled());
    assert!(p.path().join("engine/with-deps.cdx.json").is_file());

    // What cannot be a directory is refused before the build.
    let q = Project::copy("with-deps");
    std::fs::write(q.path().join("file"), "").unwrap();
    let run = q.run(&["-o", "lay", "--sbom-output", "file"]).failed();
    assert!(
        run.stderr.contains("cannot write SBOMs into --sbom-output file: it exists and is not a directory"),
        "{}",
        run.stderr
    );
    let run = q.run(&["-o", "lay", "--sbom-output", "sboms", "--no-sbom"]).failed();
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    assert!(!q.path().join("target").exists(), "nothing was built");
}

/// Issue 23: `cargo containerize documents IMAGE` lists the documents attached to an image,
/// and saves them, with no other tool: from a registry with the referrers API
/// (ferro-oci-server), one without (distribution: the tag schema), and a layout; the files
/// are the bytes attached.
#[test]
fn the_documents_subcommand_lists_and_saves_what_was_attached() {
    let (reg, ferro) = (Registry::plain(), Ferro::start());
    let p = Project::copy("with-deps");
    let documents = |args: &[&str]| Run::of(p.cmd().arg("documents").args(args));
    let run = p.run(&["-o", "lay", "--sbom", "--provenance"]).ok();
    let digest = run.stdout.split_whitespace().nth(1).unwrap().to_string();
    let attached = layout_documents(&p.path().join("lay"));
    let doc = |kind: &str| attached.iter().find(|(k, _, _)| k == kind).map(|(_, _, d)| d.clone()).unwrap();
    for host in [reg.host(), ferro.host()] {
        let image = format!("{host}/app:1");
        p.run(&["-q", "--push", &image]).ok();
        let listed = documents(&[&image]);
        assert!(listed.status.success(), "{}", listed.stderr);
        let lines: Vec<&str> = listed.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{}", listed.stdout);
        for kind in [SPDX, CDX, IN_TOTO] {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("{kind} - {host}/app@sha256:"))),
                "{kind}: {}",
                listed.stdout
            );
        }
        let out = format!("docs-{}", host.replace([':', '.'], "-"));
        let saved = documents(&[&image, "-o", &out]);
        assert!(saved.status.success(), "{}", saved.stderr);
        let dir = p.path().join(&out);
        assert_eq!(saved.stdout.lines().count(), 3, "{}", saved.stdout);
        assert_eq!(std::fs::read(dir.join("spdx.json")).unwrap(), doc(SPDX), "{host}: the SPDX attached");
        assert_eq!(std::fs::read(dir.join("cdx.json")).unwrap(), doc(CDX), "{host}: the CycloneDX attached");
        let statement: Value = serde_json::from_slice(&std::fs::read(dir.join("provenance.json")).unwrap()).unwrap();
        assert_eq!(statement["subject"][0]["digest"]["sha256"], digest.trim_start_matches("sha256:"), "{host}");
    }
    // From the layout, the same files.
    let saved = documents(&["oci:lay", "-o", "from-layout"]);
    assert!(saved.status.success(), "{}", saved.stderr);
    assert_eq!(std::fs::read(p.path().join("from-layout/spdx.json")).unwrap(), doc(SPDX));
    assert_eq!(std::fs::read(p.path().join("from-layout/provenance.json")).unwrap(), doc(IN_TOTO));

    // An image with none says so, and succeeds; a name that is not there fails, named.
    let bare = format!("{}/bare:1", reg.host());
    p.run(&["-q", "--push", &bare, "--no-sbom", "--no-provenance"]).ok();
    let none = documents(&[&bare]);
    assert!(none.status.success() && none.stdout.is_empty(), "{}", none.stderr);
    assert!(none.stderr.contains("has no document attached"), "{}", none.stderr);
    let missing = documents(&[&format!("{}/nope:1", reg.host())]);
    assert!(!missing.status.success());
    assert!(missing.stderr.contains("404"), "{}", missing.stderr);
    let layout = documents(&["oci:nowhere"]);
    assert!(layout.stderr.contains("cannot read the layout nowhere"), "{}", layout.stderr);
}

/// The list embedded in a binary depends on the manifests and `Cargo.lock`, not on the
/// sources: it is remembered in the target directory, so a link after an edit of the
/// sources asks cargo nothing more; a changed manifest makes it anew. (Shown by a planted
/// entry: it is used while the files match, and dropped once one changes.)
#[test]
fn the_embedded_list_is_remembered_until_a_manifest_changes() {
    let p = Project::copy("with-deps");
    let binary = p.path().join("target/x86_64-unknown-linux-musl/release/with-deps");
    let listed = || -> BTreeSet<String> {
        cargo_containerize::api::embedded_dependencies(&std::fs::read(&binary).unwrap()).unwrap().into_iter().collect()
    };
    p.run(&["-q", "-o", "a"]).ok();
    assert_eq!(listed(), compiled());
    let cache = p.path().join("target/containerize/auditable");
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mut entry: Value = serde_json::from_slice(&std::fs::read(&entries[0]).unwrap()).unwrap();
    let files: Vec<&str> = entry["files"].as_object().unwrap().keys().map(String::as_str).collect();
    assert!(
        files.iter().any(|f| f.ends_with("Cargo.lock")) && files.iter().any(|f| f.ends_with("shout/Cargo.toml")),
        "{files:?}"
    );
    entry["info"]["packages"].as_array_mut().unwrap().push(serde_json::json!(
        {"name": "planted", "version": "9.9.9", "source": "local", "dependencies": []}
    ));
    std::fs::write(&entries[0], serde_json::to_vec(&entry).unwrap()).unwrap();
    let main = p.path().join("src/main.rs");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, source.replace("answer=", "answer: ")).unwrap();
    p.run(&["-q", "-o", "b"]).ok();
    assert!(listed().contains("planted@9.9.9"), "an edit of the sources used the remembered list");
    let manifest = p.path().join("shout/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}\n# changed\n")).unwrap();
    std::fs::write(&main, source).unwrap();
    p.run(&["-q", "-o", "c"]).ok();
    assert_eq!(listed(), compiled(), "a changed manifest makes the list anew");
}
