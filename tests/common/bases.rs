//! Base images made here from Debian packages (`.ci/debs` downloads them): each package
//! is unpacked with `dpkg-deb -x` and becomes one gzip layer of an OCI layout written by
//! this helper (not by the tool under test), then `skopeo copy --all` puts it into a
//! registry or a Docker engine.

use super::tool;
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

/// Where `.ci/debs` put the packages.
pub fn debs() -> PathBuf {
    let dir = std::env::var_os("CARGO_CONTAINERIZE_TEST_DEBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/cargo-containerize-tests/debs".into());
    assert!(
        dir.join("bookworm-amd64/.done").exists(),
        "{} lacks the Debian packages: run `bash .ci/debs`",
        dir.display()
    );
    dir
}

/// The `.deb` of `package` in `suite_arch` (e.g. `bookworm-amd64`).
pub fn deb(suite_arch: &str, package: &str) -> PathBuf {
    let dir = debs().join(suite_arch);
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{package}_")))
        .unwrap_or_else(|| panic!("no {package} in {}", dir.display()))
}

/// One layer: the packages unpacked together, plus symlinks `(path, target)`.
pub struct LayerSpec {
    pub debs: Vec<PathBuf>,
    pub links: Vec<(&'static str, &'static str)>,
    /// Files `(path, content)` added after the packages.
    pub files: Vec<(&'static str, &'static [u8])>,
}

/// One platform's image of a base.
pub struct ImageSpec {
    pub architecture: &'static str,
    pub layers: Vec<LayerSpec>,
    /// The image config's `config` object.
    pub config: Value,
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn put(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = sha(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
    (digest, bytes.len())
}

/// The tar (symlinks kept as links) and its gzip, of a directory.
fn layer_of(root: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", root).unwrap();
    let tar = b.into_inner().unwrap();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    (tar, gz.finish().unwrap())
}

/// Writes an OCI layout at `layout` naming the base `tag`: one image, or an index of one
/// image per platform when there are several. Returns the top manifest's digest.
pub fn write_layout(layout: &Path, tag: &str, images: &[ImageSpec]) -> String {
    write_layout_with(layout, tag, images, Blobs::Gzip)
}

/// How [`write_layout_with`] writes every layer: honest gzip or zstd, or one of the lies
/// a broken base tells about its layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Blobs {
    Gzip,
    /// `tar+zstd`, compressed by the `zstd` program.
    Zstd,
    /// Gzip, but the config's diff_id is not the tar's digest.
    WrongDiffId,
    /// The plain tar, labelled `tar+gzip`.
    TarLabelledGzip,
}

/// The blob and media type of a layer whose tar is `tar`, written as `blobs` says.
fn encode(tar: &[u8], gz: Vec<u8>, blobs: Blobs) -> (Vec<u8>, &'static str) {
    match blobs {
        Blobs::Gzip | Blobs::WrongDiffId => (gz, "application/vnd.oci.image.layer.v1.tar+gzip"),
        Blobs::TarLabelledGzip => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar+gzip"),
        Blobs::Zstd => {
            let mut child = std::process::Command::new("zstd")
                .args(["-q", "-c", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("zstd (.ci/setup installs it)");
            let mut stdin = child.stdin.take().unwrap();
            let input = tar.to_vec();
            let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input).unwrap());
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap();
            assert!(out.status.success() && out.stdout.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]));
            (out.stdout, "application/vnd.oci.image.layer.v1.tar+zstd")
        }
    }
}

/// [`write_layout`], each layer's blob written as `blobs` says.
pub fn write_layout_with(layout: &Path, tag: &str, images: &[ImageSpec], blobs: Blobs) -> String {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut manifests = Vec::new();
    for image in images {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        let mut history = Vec::new();
        for spec in &image.layers {
            let root = tempfile::tempdir().unwrap();
            for deb in &spec.debs {
                tool("dpkg-deb", &["-x", deb.to_str().unwrap(), root.path().to_str().unwrap()]);
            }
            for (path, content) in &spec.files {
                let at = root.path().join(path.trim_start_matches('/'));
                std::fs::create_dir_all(at.parent().unwrap()).unwrap();
                std::fs::write(at, content).unwrap();
            }
            for (path, target) in &spec.links {
                let at = root.path().join(path.trim_start_matches('/'));
                std::fs::create_dir_all(at.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(target, at).unwrap();
            }
            let (tar, gz) = layer_of(root.path());
            let diff_id = if blobs == Blobs::WrongDiffId { sha(&[&tar[..], b"lie"].concat()) } else { sha(&tar) };
            diff_ids.push(diff_id);
            let (blob, media_type) = encode(&tar, gz, blobs);
            let (digest, size) = put(layout, &blob);
            layers.push(json!({"mediaType": media_type, "digest": digest, "size": size}));
            let names: Vec<String> =
                spec.debs.iter().map(|d| d.file_name().unwrap().to_string_lossy().to_string()).collect();
            history.push(
                json!({"created": "2025-05-20T00:00:00Z", "created_by": format!("dpkg-deb -x {}", names.join(" "))}),
            );
        }
        let config = json!({
            "architecture": image.architecture, "os": "linux", "created": "2025-05-20T00:00:00Z",
            "config": image.config, "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history,
        });
        let (config_digest, config_size) = put(layout, config.to_string().as_bytes());
        let manifest = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": layers,
        });
        let (digest, size) = put(layout, manifest.to_string().as_bytes());
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
            "platform": {"architecture": image.architecture, "os": "linux"},
        }));
    }
    let top = if manifests.len() == 1 {
        manifests.pop().unwrap()
    } else {
        let index =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let (digest, size) = put(layout, index.to_string().as_bytes());
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size})
    };
    let mut entry = top.clone();
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    top["digest"].as_str().unwrap().to_string()
}

/// The PATH every base sets.
pub const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// libc6 (+ libgcc-s1 unless `without_libgcc`) from Debian 12: runs a `-gnu` binary.
pub fn cc(without_libgcc: bool) -> Vec<ImageSpec> {
    let mut layers = vec![LayerSpec { debs: vec![deb("bookworm-amd64", "libc6")], links: vec![], files: vec![] }];
    if !without_libgcc {
        layers.push(LayerSpec { debs: vec![deb("bookworm-amd64", "libgcc-s1")], links: vec![], files: vec![] });
    }
    vec![ImageSpec { architecture: "amd64", layers, config: json!({"Env": [PATH]}) }]
}

/// libc6 from Debian 11 (glibc 2.31) with Debian 12's libgcc-s1.
pub fn old_glibc() -> Vec<ImageSpec> {
    let layers = vec![
        LayerSpec { debs: vec![deb("bullseye-amd64", "libc6")], links: vec![], files: vec![] },
        LayerSpec { debs: vec![deb("bookworm-amd64", "libgcc-s1")], links: vec![], files: vec![] },
    ];
    vec![ImageSpec { architecture: "amd64", layers, config: json!({"Env": [PATH]}) }]
}

/// A shell to debug with: busybox-static with `/bin/sh`, for each of `architectures`,
/// with a config whose every field the inheritance test checks.
pub fn debug(architectures: &[&'static str]) -> Vec<ImageSpec> {
    architectures
        .iter()
        .map(|arch| ImageSpec {
            architecture: arch,
            layers: vec![LayerSpec {
                debs: vec![deb(&format!("bookworm-{arch}"), "busybox-static")],
                links: vec![("/bin/sh", "busybox")],
                files: vec![],
            }],
            config: json!({
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin:/base/bin", "BASE_VAR=from-base", "SHARED=base"],
                "User": "1000:1000",
                "WorkingDir": "/srv",
                "Labels": {"base.label": "kept", "shared.label": "base"},
                "ExposedPorts": {"9000/tcp": {}},
                "Entrypoint": ["/bin/sh", "-c"],
                "Cmd": ["echo from the base"],
                "StopSignal": "SIGINT",
            }),
        })
        .collect()
}

/// Copies the layout's `tag` into `dest` (a skopeo destination such as
/// `docker://127.0.0.1:5000/base/cc:12`), every platform.
pub fn copy(layout: &Path, tag: &str, dest: &str, extra: &[&str]) {
    let src = format!("oci:{}:{tag}", layout.display());
    let mut args = vec!["copy", "--all", "--dest-tls-verify=false"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&src, dest]);
    tool("skopeo", &args);
}

/// A base of one small layer (a marker file, no package) with the image config's `config`
/// object `config`: for what a base's config alone does.
pub fn tiny(config: Value) -> Vec<ImageSpec> {
    let layers = vec![LayerSpec { debs: vec![], links: vec![], files: vec![("/etc/base-marker", b"tiny base\n")] }];
    vec![ImageSpec { architecture: "amd64", layers, config }]
}

/// The /etc/passwd of [`with_users`]' top layer.
pub const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
app:x:1001:1001::/home/app:/bin/sh\n";

/// A Debian base with users: busybox-static (a shell, `id`, `stat`) and an /etc/passwd
/// and /etc/group with root only, then a layer that replaces them with [`PASSWD`] (root,
/// www-data 33, app 1001) and groups root, www-data (33) and staff (50): a name must be
/// read from the top layer that has the file.
pub fn with_users(config: Value) -> Vec<ImageSpec> {
    let layers = vec![
        LayerSpec {
            debs: vec![deb("bookworm-amd64", "busybox-static")],
            links: vec![("/bin/sh", "busybox")],
            files: vec![("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"), ("/etc/group", b"root:x:0:\n")],
        },
        LayerSpec {
            debs: vec![],
            links: vec![],
            files: vec![("/etc/passwd", PASSWD), ("/etc/group", b"root:x:0:\nwww-data:x:33:\nstaff:x:50:\n")],
        },
    ];
    vec![ImageSpec { architecture: "amd64", layers, config }]
}
