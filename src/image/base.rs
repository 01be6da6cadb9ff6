//! The small base layer every image gets: users, `/tmp`, and the CA bundle when wanted.
//! Deterministic, and apart from the binary's layer, so registries store it once.

use super::layer::{Contents, Entry};
use base64::Engine;

/// The uid and gid of the `nonroot` user, as in distroless images.
pub(crate) const NONROOT: u64 = 65532;

/// The user an image runs as unless told otherwise.
pub(crate) const DEFAULT_USER: &str = "65532:65532";

/// Where TLS libraries look for the system's roots on Linux.
pub(crate) const CA_BUNDLE_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnonroot:x:65532:\n";

/// What the base layer holds besides users and `/tmp`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// Mozilla's roots in the CA bundle.
    pub(crate) ca_bundle: bool,
    /// Certificates (DER) added to the CA bundle, which is written when there are some,
    /// with Mozilla's roots or not.
    pub(crate) extra_ca: Vec<Vec<u8>>,
    /// A working directory to create, owned by this uid:gid.
    pub(crate) workdir: Option<(String, u64, u64)>,
}

/// The base layer's entries, on scratch.
pub(crate) fn contents(opts: &Options) -> Contents {
    let entries = vec![
        Entry::dir("/etc", 0o755),
        Entry::bytes("/etc/passwd", PASSWD.as_bytes().to_vec(), 0o644),
        Entry::bytes("/etc/group", GROUP.as_bytes().to_vec(), 0o644),
        Entry::dir("/home", 0o755),
        Entry::dir("/home/nonroot", 0o700).owned_by(NONROOT, NONROOT),
        Entry::dir("/root", 0o700),
        Entry::dir("/tmp", 0o1777),
    ];
    with_extras(entries, opts)
}

/// What a base image gets of the base layer: never users or `/tmp` (a distro has its
/// own), only the CA bundle and the working directory when asked for. Directories on
/// the way are written as a base image would have them (0755, root).
pub(crate) fn extras(opts: &Options) -> Contents {
    with_extras(Vec::new(), opts)
}

fn with_extras(mut entries: Vec<Entry>, opts: &Options) -> Contents {
    if opts.ca_bundle || !opts.extra_ca.is_empty() {
        if !entries.iter().any(|e| e.path == "etc") {
            entries.push(Entry::dir("/etc", 0o755));
        }
        entries.push(Entry::dir("/etc/ssl", 0o755));
        entries.push(Entry::dir("/etc/ssl/certs", 0o755));
        let mut pem = if opts.ca_bundle { ca_bundle_pem() } else { String::new() };
        for der in &opts.extra_ca {
            pem.push_str(&pem_of(der));
        }
        entries.push(Entry::bytes(CA_BUNDLE_PATH, pem.into_bytes(), 0o644));
    }
    if let Some((dir, uid, gid)) = &opts.workdir {
        let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for i in 1..parts.len() {
            let parent = format!("/{}", parts[..i].join("/"));
            if !entries.iter().any(|e| e.path == parent.trim_start_matches('/')) {
                entries.push(Entry::dir(&parent, 0o755));
            }
        }
        let path = format!("/{}", parts.join("/"));
        if !parts.is_empty() && !entries.iter().any(|e| e.path == path.trim_start_matches('/')) {
            entries.push(Entry::dir(&path, 0o755).owned_by(*uid, *gid));
        }
    }
    Contents::new(entries)
}

/// Mozilla's roots from the `webpki-root-certs` crate, as a PEM bundle: the same bytes for
/// the same crate version, whatever the build host has.
pub(crate) fn ca_bundle_pem() -> String {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|cert| pem_of(cert.as_ref())).collect()
}

/// One certificate (DER) as a PEM block, 64 characters a line.
fn pem_of(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The certificates (DER) of a PEM file, which must hold at least one and nothing else
/// (a private key put there by mistake is refused, never copied into an image). Each must
/// decode, and be one DER `SEQUENCE` of the length it says, as an X.509 certificate is.
/// Text outside the blocks (comments, as `openssl x509 -text` writes) is left out.
pub(crate) fn pem_certificates(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "is not a PEM file (it is not text)".to_string())?;
    let mut found = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else { continue };
        if label != "CERTIFICATE" {
            return Err(format!(
                "holds a {label} block; give certificates only (-----BEGIN CERTIFICATE-----), never a key"
            ));
        }
        let end = format!("-----END {label}-----");
        let mut b64 = String::new();
        loop {
            match lines.next() {
                Some(l) if l == end => break,
                Some(l) => b64.push_str(l),
                None => return Err(format!("certificate {} has no {end} line", found.len() + 1)),
            }
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| format!("certificate {} is not valid base64: {e}", found.len() + 1))?;
        if !is_der_sequence(&der) {
            return Err(format!("certificate {} is not a DER-encoded X.509 certificate", found.len() + 1));
        }
        found.push(der);
    }
    if found.is_empty() {
        return Err("holds no certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)".into());
    }
    Ok(found)
}

/// Whether `der` is exactly one DER `SEQUENCE`: its tag, then a length that covers the rest.
fn is_der_sequence(der: &[u8]) -> bool {
    let (Some(&0x30), Some(&first)) = (der.first(), der.get(1)) else { return false };
    let (len, header) = match first {
        n if n < 0x80 => (n as usize, 2),
        n @ 0x81..=0x84 => {
            let count = (n & 0x7f) as usize;
            let Some(bytes) = der.get(2..2 + count) else { return false };
            (bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), 2 + count)
        }
        _ => return false,
    };
    der.len() == header + len
}

/// The numeric uid and gid for a `user` setting: names of the base layer's users map to
/// their ids; a missing group is the user's.
pub(crate) fn numeric_ids(user: &str) -> (u64, u64) {
    let id = |s: &str| match s {
        "root" => Some(0),
        "nonroot" => Some(NONROOT),
        n => n.parse().ok(),
    };
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let uid = id(u).unwrap_or(0);
    let gid = if g.is_empty() { uid } else { id(g).unwrap_or(uid) };
    (uid, gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_holds_many_roots() {
        let pem = ca_bundle_pem();
        assert!(pem.matches("BEGIN CERTIFICATE").count() > 100);
    }

    #[test]
    fn tmp_is_sticky_and_home_belongs_to_nonroot() {
        let c = contents(&Options::default());
        let find = |p: &str| c.entries().iter().find(|e| e.path == p).unwrap().clone();
        assert_eq!(find("tmp").mode, 0o1777);
        assert_eq!((find("home/nonroot").uid, find("home/nonroot").gid), (NONROOT, NONROOT));
        assert!(!c.entries().iter().any(|e| e.path.starts_with("etc/ssl")));
        let with_ca = contents(&Options {
            ca_bundle: true,
            workdir: Some(("/srv/data".into(), 1000, 1000)),
            ..Default::default()
        });
        assert!(with_ca.entries().iter().any(|e| e.path == "etc/ssl/certs/ca-certificates.crt"));
        let data = with_ca.entries().iter().find(|e| e.path == "srv/data").unwrap();
        assert_eq!((data.uid, data.gid), (1000, 1000));
        assert!(with_ca.entries().iter().any(|e| e.path == "srv"));
    }

    fn held(entry: &Entry) -> Vec<u8> {
        match &entry.kind {
            super::super::layer::EntryKind::File { data: super::super::layer::FileData::Bytes(b), .. } => b.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pem_files_give_their_certificates_and_nothing_else() {
        let roots: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().take(2).map(|c| c.as_ref()).collect();
        let pem = format!("# a comment, as openssl writes\n{}\n{}", pem_of(roots[0]), pem_of(roots[1]));
        assert_eq!(pem_certificates(pem.as_bytes()).unwrap(), roots);
        // The bundle written is Mozilla's, then the extra ones, re-encoded the same way.
        let opts = Options { ca_bundle: true, extra_ca: vec![roots[1].to_vec()], ..Default::default() };
        let c = contents(&opts);
        let bundle = &c.entries().iter().find(|e| e.path == "etc/ssl/certs/ca-certificates.crt").unwrap();
        let text = String::from_utf8(held(bundle)).unwrap();
        assert!(text.starts_with(&ca_bundle_pem()) && text.ends_with(&pem_of(roots[1])));
        let only = contents(&Options { extra_ca: vec![roots[0].to_vec()], ..Default::default() });
        let only = only.entries().iter().find(|e| e.path == "etc/ssl/certs/ca-certificates.crt").unwrap();
        assert_eq!(held(only), pem_of(roots[0]).as_bytes());
        let refused = |text: &str| pem_certificates(text.as_bytes()).unwrap_err();
        assert!(refused("").contains("holds no certificate"));
        assert!(refused("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").contains("never a key"));
        assert!(refused("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").contains("not valid base64"));
        assert!(refused("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").contains("not a DER"));
        assert!(refused("-----BEGIN CERTIFICATE-----\nMAA=\n").contains("no -----END CERTIFICATE----- line"));
        // A truncated certificate: its DER length says more than there is.
        let cut = pem_of(&roots[0][..roots[0].len() - 1]);
        assert!(refused(&cut).contains("certificate 1 is not a DER-encoded X.509 certificate"));
        assert!(pem_certificates(&[0xff, 0xfe]).unwrap_err().contains("not text"));
    }

    #[test]
    fn user_names_map_to_ids() {
        assert_eq!(numeric_ids("65532:65532"), (65532, 65532));
        assert_eq!(numeric_ids("root"), (0, 0));
        assert_eq!(numeric_ids("nonroot"), (65532, 65532));
        assert_eq!(numeric_ids("1000"), (1000, 1000));
        assert_eq!(numeric_ids("1000:0"), (1000, 0));
    }
}
