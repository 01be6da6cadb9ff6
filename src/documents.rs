//! `cargo containerize documents IMAGE`: the documents attached to an image (its SBOMs and
//! provenance, and any other referrer), listed on stdout or saved as files, read from a
//! registry (the referrers API, else the referrers tag schema) or from an OCI layout, with
//! no other tool to install.

use crate::digest::Digest;
use crate::image::referrer::{ARTIFACT_CYCLONEDX, ARTIFACT_IN_TOTO, ARTIFACT_SPDX};
use crate::reference::Reference;
use crate::registry::{self, pull, referrers, PushOptions, Target};
use clap::{ArgAction, Parser};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// List or save the documents attached to an image (SBOMs, provenance), from a registry or
/// an OCI layout.
#[derive(Parser, Debug, Clone)]
#[command(name = "cargo containerize documents", bin_name = "cargo containerize documents", version)]
#[command(after_help = "Examples:
  cargo containerize documents ghcr.io/acme/app:1.0          list them: TYPE PLATFORM NAME@DIGEST
  cargo containerize documents ghcr.io/acme/app:1.0 -o docs  save them: docs/spdx.json, docs/cdx.json...
  cargo containerize documents oci:target/containerize/app -o docs

Saved, each is TYPE.json (spdx, cdx, provenance), or PLATFORM.TYPE.json for the images of an
index (linux-arm64.spdx.json); stdout has one line per document, its file when saved.")]
pub struct DocumentsArgs {
    /// The image: REGISTRY/REPO[:TAG][@DIGEST], or oci:DIR[:TAG] for a layout
    #[arg(value_name = "IMAGE")]
    pub(crate) image: String,
    /// Save each document into DIR (made if missing)
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
    /// Allow plain HTTP to this registry host (loopback registries always are)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub(crate) insecure_registries: Vec<String>,
    /// Trust this PEM CA certificate for HTTPS, besides the system's store
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub(crate) ca_certs: Vec<PathBuf>,
    /// Registry user; the password is read from standard input (--password-stdin)
    #[arg(long, requires = "password_stdin", value_name = "USER")]
    pub(crate) username: Option<String>,
    /// Read the registry password from standard input (with --username)
    #[arg(long, requires = "username")]
    pub(crate) password_stdin: bool,
    /// Say nothing on stderr but errors
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Use verbose output
    #[arg(short, long, action = ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// Why the documents could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{image:?} is not an image reference: {reason}")]
    BadImage { image: String, reason: String },
    #[error(transparent)]
    Registry(#[from] Box<registry::Error>),
    #[error("cannot read the layout {}: {message}", dir.display())]
    Layout { dir: PathBuf, message: String },
    #[error("cannot save into {}: {source}", dir.display())]
    Output { dir: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Login(#[from] Box<crate::error::Error>),
}

impl Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::BadImage { .. } => Some("name it as REGISTRY/REPO[:TAG][@sha256:DIGEST] or oci:DIR[:TAG]".into()),
            // Its message says what to do.
            Error::Registry(_) => None,
            Error::Layout { .. } => None,
            Error::Output { .. } => Some("name a directory you can write to (it is made if missing)".into()),
            Error::Login(e) => e.hint(),
        }
    }
}

/// One document found: its artifact type, the platform of the image it describes (none for
/// the image itself, or an index), and its manifest.
struct Found {
    artifact_type: String,
    platform: Option<String>,
    manifest: Digest,
}

/// Where documents are read from.
enum From<'a> {
    Registry { client: &'a registry::client::Client, target: Target, opts: &'a PushOptions },
    Layout { dir: PathBuf },
}

/// Runs `cargo containerize documents`; the exit code.
pub(crate) fn run(args: &DocumentsArgs) -> i32 {
    crate::shell::set(args.quiet, args.verbose);
    match run_inner(args) {
        Ok(()) => 0,
        Err(e) => {
            crate::shell::error(crate::redact::redact(&e.to_string()), e.hint().as_deref());
            1
        }
    }
}

fn run_inner(args: &DocumentsArgs) -> Result<(), Error> {
    if let Some(dir) = &args.output {
        crate::sbom::check_output_dir(dir).map_err(|source| Error::Output { dir: dir.clone(), source })?;
    }
    if let Some(rest) = args.image.strip_prefix("oci:") {
        let (dir, tag) = match rest.rsplit_once(':') {
            Some((d, t)) if !d.is_empty() && crate::reference::check_tag(t).is_ok() => (d, Some(t)),
            _ => (rest, None),
        };
        let dir = PathBuf::from(dir);
        let layout = |message: String| Error::Layout { dir: dir.clone(), message };
        let found = in_layout(&dir, tag).map_err(layout)?;
        let from = From::Layout { dir: dir.clone() };
        return report(&from, &found, &args.image, &format!("oci:{}", dir.display()), args.output.as_deref());
    }
    let bad = |reason: String| Error::BadImage { image: args.image.clone(), reason };
    let reference = Reference::parse(&args.image).map_err(|e| bad(e.to_string()))?;
    let env = crate::registry::credentials::process_env;
    let tuning = crate::tuning::Tuning::from_env(&env).map_err(|e| Box::new(crate::error::Error::from(e)))?;
    let explicit =
        crate::login::explicit(args.username.as_deref(), &env, tuning.timeout, args.quiet).map_err(Box::new)?;
    crate::login::forget_password_variable();
    let target = Target::from_reference(&reference, &args.insecure_registries).map_err(Box::new)?;
    // Explicit credentials are for CARGO_CONTAINERIZE_REGISTRY, else for this image's host.
    let host = env(crate::login::REGISTRY).unwrap_or_else(|| target.registry.clone());
    let given = explicit.as_ref().map(|e| e.described(&host));
    let opts = PushOptions {
        insecure_registries: args.insecure_registries.clone(),
        ca_certs: args.ca_certs.clone(),
        credentials: explicit.map(|e| vec![(host, e.credentials)]).unwrap_or_default(),
        given,
        verbose: args.verbose > 0,
        quiet: args.quiet,
        tuning,
        shared: Default::default(),
    };
    let client = opts.client().map_err(Box::new)?;
    // A digest named wins over the tag beside it.
    let wanted = reference.digest.clone().map(|d| d.to_string()).unwrap_or_else(|| target.tag.clone());
    let found = client.block_on(in_registry(client, &target, &opts, &wanted)).map_err(Box::new)?;
    let name = format!("{}/{}", target.registry, target.repository);
    let from = From::Registry { client, target, opts: &opts };
    report(&from, &found, &args.image, &name, args.output.as_deref())
}

/// The documents of the image `wanted` names in the registry.
async fn in_registry(
    client: &registry::client::Client,
    target: &Target,
    opts: &PushOptions,
    wanted: &str,
) -> Result<Vec<Found>, registry::Error> {
    let session = client.session(&target.registry, &target.bases, opts).await?;
    let repo = &target.repository;
    let top = pull::get_manifest(&session, repo, wanted).await?;
    let mut found = Vec::new();
    for (subject, platform) in subjects(&top.digest, &top.bytes) {
        for entry in referrers::listed(&session, repo, &subject).await? {
            found.extend(document(&entry, platform.clone()));
        }
    }
    Ok(found)
}

/// The images a document may describe: the top manifest, then, for an index, each of its
/// images with its platform.
fn subjects(top: &Digest, bytes: &[u8]) -> Vec<(Digest, Option<String>)> {
    let mut out = vec![(top.clone(), None)];
    let doc: Value = serde_json::from_slice(bytes).unwrap_or_default();
    for entry in doc["manifests"].as_array().into_iter().flatten() {
        let Some(digest) = entry["digest"].as_str().and_then(Digest::parse) else { continue };
        let p = &entry["platform"];
        let platform = match (p["os"].as_str(), p["architecture"].as_str()) {
            (Some(os), Some(arch)) => match p["variant"].as_str() {
                Some(v) => format!("{os}/{arch}/{v}"),
                None => format!("{os}/{arch}"),
            },
            _ => continue,
        };
        out.push((digest, Some(platform)));
    }
    out
}

/// A listed referrer as a document, when it names its type and a valid digest.
fn document(entry: &Value, platform: Option<String>) -> Option<Found> {
    let artifact_type = entry["artifactType"].as_str()?.to_string();
    let manifest = entry["digest"].as_str().and_then(Digest::parse)?;
    Some(Found { artifact_type, platform, manifest })
}

/// The documents of the image `tag` names in the layout at `dir` (with no tag, its one
/// image): the entries of `index.json` with an artifact type whose subject is that image
/// or one of its platforms' images.
fn in_layout(dir: &Path, tag: Option<&str>) -> Result<Vec<Found>, String> {
    let read_json = |path: &Path| -> Result<Value, String> {
        let bytes = crate::fsutil::read_regular(path, pull::MAX_MANIFEST as u64)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", path.display()))
    };
    let blob = |d: &Digest| layout_blob(dir, d, pull::MAX_MANIFEST as u64);
    let index = read_json(&dir.join("index.json"))
        .map_err(|e| format!("{e}; name a directory that holds an OCI layout (oci-layout, index.json, blobs/)"))?;
    let entries: Vec<&Value> = index["manifests"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let name = |e: &Value| e["annotations"]["org.opencontainers.image.ref.name"].as_str().map(str::to_string);
    let images: Vec<&&Value> = entries.iter().filter(|e| e.get("artifactType").is_none()).collect();
    // One image under several names is one image.
    let mut distinct: Vec<&&Value> = images.clone();
    distinct.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    distinct.dedup_by(|a, b| a["digest"] == b["digest"]);
    let image = match tag {
        Some(t) => images.iter().find(|e| name(e).as_deref() == Some(t)).ok_or_else(|| {
            let names: Vec<String> = images.iter().filter_map(|e| name(e)).collect();
            format!("no image is named {t:?} in it; it has: {}", crate::progress::some_of(&names, 20))
        })?,
        None => match distinct.as_slice() {
            [one] => one,
            [] => return Err("it holds no image".into()),
            many => {
                let names: Vec<String> = images.iter().filter_map(|e| name(e)).collect();
                return Err(format!(
                    "it holds {} images; name one as oci:DIR:TAG (its tags: {})",
                    many.len(),
                    crate::progress::some_of(&names, 20)
                ));
            }
        },
    };
    let top = image["digest"].as_str().and_then(Digest::parse).ok_or("the image's entry has no valid digest")?;
    let subjects = subjects(&top, &blob(&top)?);
    let mut found = Vec::new();
    for entry in entries.iter().filter(|e| e.get("artifactType").is_some()) {
        let Some(manifest) = entry["digest"].as_str().and_then(Digest::parse) else { continue };
        let doc: Value = serde_json::from_slice(&blob(&manifest)?).unwrap_or_default();
        let Some(subject) = doc["subject"]["digest"].as_str().and_then(Digest::parse) else { continue };
        if let Some((_, platform)) = subjects.iter().find(|(d, _)| *d == subject) {
            found.extend(document(entry, platform.clone()));
        }
    }
    Ok(found)
}

/// The blob `d` of the layout at `dir` (a regular file of at most `max` bytes), checked
/// against its digest.
fn layout_blob(dir: &Path, d: &Digest, max: u64) -> Result<Vec<u8>, String> {
    let path = dir.join("blobs").join("sha256").join(d.hex());
    let bytes = crate::fsutil::read_regular(&path, max).map_err(|e| format!("{}: {e}", path.display()))?;
    match Digest::of(&bytes) == *d {
        true => Ok(bytes),
        false => Err(format!("blob {d} does not match its digest")),
    }
}

/// Prints one stdout line per document (`TYPE PLATFORM NAME@DIGEST`, `-` for no platform,
/// NAME the repository or layout), or saves each into `output` and prints its path.
fn report(from: &From, found: &[Found], image: &str, name: &str, output: Option<&Path>) -> Result<(), Error> {
    if found.is_empty() {
        crate::shell::warn(format_args!("{image} has no document attached"));
    }
    if found.len() > MAX_DOCUMENTS {
        crate::shell::warn(format_args!(
            "{image} lists {} documents: the first {MAX_DOCUMENTS} are taken",
            found.len()
        ));
    }
    let mut taken: Vec<String> = Vec::new();
    for doc in found.iter().take(MAX_DOCUMENTS) {
        let line = match output {
            None => format!("{} {} {name}@{}", doc.artifact_type, doc.platform.as_deref().unwrap_or("-"), doc.manifest),
            Some(dir) => {
                let mut file = file_name(doc);
                if taken.contains(&file) {
                    file = format!("{}.{}", &doc.manifest.hex()[..12], file);
                }
                taken.push(file.clone());
                let path = dir.join(&file);
                save(from, doc, &path).map_err(|e| match e {
                    Saving::Io(source) => Error::Output { dir: dir.to_path_buf(), source },
                    Saving::Registry(e) => Error::Registry(Box::new(e)),
                    Saving::Layout(message) => Error::Layout { dir: dir.to_path_buf(), message },
                })?;
                path.display().to_string()
            }
        };
        println!("{line}");
    }
    Ok(())
}

/// `spdx.json`, `cdx.json`, `provenance.json` (another type: its name, made safe), after
/// `PLATFORM.` for a platform's image. What a registry sent is kept to letters, digits,
/// `-` and `_`: no name it sends reaches outside the directory.
fn file_name(doc: &Found) -> String {
    let safe = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(100).collect()
    };
    let kind = match doc.artifact_type.as_str() {
        ARTIFACT_SPDX => "spdx".to_string(),
        ARTIFACT_CYCLONEDX => "cdx".to_string(),
        ARTIFACT_IN_TOTO => "provenance".to_string(),
        other => safe(other),
    };
    match &doc.platform {
        Some(p) => format!("{}.{kind}.json", safe(&p.replace('/', "-"))),
        None => format!("{kind}.json"),
    }
}

enum Saving {
    Io(std::io::Error),
    Registry(registry::Error),
    Layout(String),
}

/// The most documents one image's are taken: a registry may list any number.
const MAX_DOCUMENTS: usize = 256;

/// The most a saved document may be.
const MAX_DOCUMENT: u64 = 256 << 20;

/// Saves the document's one layer at `path`, through a temporary file beside it, its digest
/// checked.
fn save(from: &From, doc: &Found, path: &Path) -> Result<(), Saving> {
    let dir = crate::fsutil::parent_of(path);
    std::fs::create_dir_all(&dir).map_err(Saving::Io)?;
    let mut tmp = crate::fsutil::TempFile::new_in(&dir).map_err(Saving::Io)?;
    let layer = |manifest: &[u8]| -> Option<(Digest, u64)> {
        let m: Value = serde_json::from_slice(manifest).ok()?;
        let layer = &m["layers"][0];
        Some((layer["digest"].as_str().and_then(Digest::parse)?, layer["size"].as_u64()?))
    };
    match from {
        From::Registry { client, target, opts } => client
            .block_on(async {
                let session = client.session(&target.registry, &target.bases, opts).await?;
                let m = pull::get_manifest(&session, &target.repository, doc.manifest.as_str()).await?;
                let Some((digest, size)) = layer(&m.bytes).filter(|(_, size)| *size <= MAX_DOCUMENT) else {
                    return Ok(Err(format!(
                        "document {} names no layer of at most {MAX_DOCUMENT} bytes",
                        doc.manifest
                    )));
                };
                pull::get_blob(&session, &target.repository, &digest, Some(size), tmp.file_mut()).await.map(Ok)
            })
            .map_err(Saving::Registry)?
            .map_err(Saving::Layout)?,
        From::Layout { dir } => {
            let read = |d: &Digest, max: u64| layout_blob(dir, d, max);
            let manifest = read(&doc.manifest, pull::MAX_MANIFEST as u64).map_err(Saving::Layout)?;
            let (digest, _) =
                layer(&manifest).ok_or_else(|| Saving::Layout(format!("document {} names no layer", doc.manifest)))?;
            let bytes = read(&digest, MAX_DOCUMENT).map_err(Saving::Layout)?;
            std::io::Write::write_all(tmp.file_mut(), &bytes).map_err(Saving::Io)?;
        }
    }
    tmp.persist(path).map_err(Saving::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(artifact_type: &str, platform: Option<&str>) -> Found {
        let manifest = Digest::of(b"m");
        Found { artifact_type: artifact_type.into(), platform: platform.map(str::to_string), manifest }
    }

    #[test]
    fn file_names_are_the_types_and_nothing_a_registry_sends_leaves_the_directory() {
        assert_eq!(file_name(&found(ARTIFACT_SPDX, None)), "spdx.json");
        assert_eq!(file_name(&found(ARTIFACT_CYCLONEDX, Some("linux/arm64/v8"))), "linux-arm64-v8.cdx.json");
        assert_eq!(file_name(&found(ARTIFACT_IN_TOTO, None)), "provenance.json");
        assert_eq!(file_name(&found("application/vnd.dev.cosign+json", None)), "application_vnd_dev_cosign_json.json");
        for hostile in ["../../etc/passwd", "..", "a\0b", "x/../../y"] {
            let name = file_name(&found(hostile, Some(hostile)));
            assert!(!name.contains('/') && !name.contains("..") && !name.contains('\0'), "{name}");
        }
    }

    #[test]
    fn an_index_gives_its_images_with_their_platforms_and_skips_the_rest() {
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let index = serde_json::json!({"manifests": [
            {"digest": a.to_string(), "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": b.to_string(), "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"digest": "sha256:nothex", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": Digest::of(b"c").to_string()},
        ]});
        let top = Digest::of(b"top");
        let got = subjects(&top, index.to_string().as_bytes());
        assert_eq!(got, [(top, None), (a, Some("linux/amd64".into())), (b, Some("linux/arm/v7".into()))]);
    }
}
