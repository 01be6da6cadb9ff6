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
    pub(crate) ca_bundle: bool,
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
    if opts.ca_bundle {
        if !entries.iter().any(|e| e.path == "etc") {
            entries.push(Entry::dir("/etc", 0o755));
        }
        entries.push(Entry::dir("/etc/ssl", 0o755));
        entries.push(Entry::dir("/etc/ssl/certs", 0o755));
        entries.push(Entry::bytes(CA_BUNDLE_PATH, ca_bundle_pem().into_bytes(), 0o644));
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
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
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
        let with_ca = contents(&Options { ca_bundle: true, workdir: Some(("/srv/data".into(), 1000, 1000)) });
        assert!(with_ca.entries().iter().any(|e| e.path == "etc/ssl/certs/ca-certificates.crt"));
        let data = with_ca.entries().iter().find(|e| e.path == "srv/data").unwrap();
        assert_eq!((data.uid, data.gid), (1000, 1000));
        assert!(with_ca.entries().iter().any(|e| e.path == "srv"));
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
