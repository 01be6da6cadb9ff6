//! Test images built through the library: the `hello` fixture's static binary in one layer,
//! optionally with a large incompressible second layer.

use cargo_containerize::api::Image;
use cargo_containerize::api::LayerCache;
use cargo_containerize::api::Platform;
use cargo_containerize::api::{rfc3339, RunConfig};
use cargo_containerize::api::{Compressor, Contents, Entry};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `hello` fixture built once per test process for x86_64 musl.
pub fn hello_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("push-fixture");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hello/Cargo.toml");
        let out = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--release", "--target", "x86_64-unknown-linux-musl", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "building fixtures/hello: {}", String::from_utf8_lossy(&out.stderr));
        target_dir.join("x86_64-unknown-linux-musl/release/hello")
    })
    .clone()
}

/// The hello binary as `/hello`, run by `Cmd ["/hello", label]` so each label gives another image.
pub fn hello_image(cache_dir: &Path, label: &str) -> Image {
    image_with(cache_dir, label, 0)
}

/// Like [`hello_image`], plus a layer of `big_bytes` pseudo-random (incompressible) bytes.
pub fn image_with(cache_dir: &Path, label: &str, big_bytes: usize) -> Image {
    let cache = LayerCache::new(cache_dir.join("layers"));
    let fast = Compressor { level: 1 };
    let bin = Entry::file("/hello", hello_binary(), 0o755).unwrap();
    let mut layers = vec![cache.layer(Contents::new(vec![bin]), fast, "COPY hello /hello".into()).unwrap()];
    if big_bytes > 0 {
        let path = cache_dir.join(format!("big-{label}.bin"));
        std::fs::write(&path, noise(big_bytes, label)).unwrap();
        let entry = Entry::file("/data.bin", path, 0o644).unwrap();
        layers.push(cache.layer(Contents::new(vec![entry]), fast, "COPY data.bin /data.bin".into()).unwrap());
    }
    let run = RunConfig { cmd: vec!["/hello".into(), label.into()], created: rfc3339(0), ..Default::default() };
    Image::assemble(Platform::linux("amd64", None), &run, layers)
}

/// Deterministic xorshift bytes seeded by `seed`.
pub fn noise(len: usize, seed: &str) -> Vec<u8> {
    let mut x: u64 = seed.bytes().fold(0x9E37_79B9_7F4A_7C15_u64, |a, b| a.rotate_left(5) ^ b as u64) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
