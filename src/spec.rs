//! What the image holds and how it runs, resolved from the merged settings and the
//! package's metadata: the run config, the base layer's options and the included files.

use crate::base::BaseRef;
use crate::cli::Args;
use crate::image::base::{self, DEFAULT_USER};
use crate::image::config::{RunConfig, DEFAULT_PATH};
use crate::settings::{self, CaCertificates, Include, Origin, Settings};
use cargo_metadata::Package;
use std::collections::BTreeMap;
use std::path::Path;

/// Crates that load the system's root certificates at run time; with
/// `ca-certificates = "auto"`, depending on any of them adds the CA bundle.
pub(crate) const SYSTEM_ROOT_CRATES: &[&str] =
    &["rustls-native-certs", "openssl-probe", "native-tls", "rustls-platform-verifier", "openssl"];

/// The image's contents and settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct ImageSpec {
    pub(crate) run: RunConfig,
    pub(crate) base: base::Options,
    pub(crate) includes: Vec<Include>,
    pub(crate) ca_certificates: CaCertificates,
    /// The image the layers go on (`scratch` when none is named).
    pub(crate) parent: BaseRef,
    /// The tags a bare repository gets (`tags`).
    pub(crate) tags: Vec<String>,
    /// The dependency list embedded in the binary (`auditable`).
    pub(crate) auditable: bool,
    /// Which documents go where (`sbom`, `provenance`).
    pub(crate) documents: settings::Wanted,
    /// An init at [`INIT_PATH`] runs the binary (`init`).
    pub(crate) init: bool,
}

/// Where `init = true` puts the init, which the image's entrypoint then starts with.
pub(crate) const INIT_PATH: &str = "/init";

/// Merges workspace, package and command-line settings, in that order.
/// Warns, once per table, of a metadata table whose name is close to `containerize` but is
/// not it (`[package.metadata.containerise]`): nothing in it is read, silently otherwise.
fn misspelt_tables(metadata: &serde_json::Value, prefix: &str, manifest: &Path) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Some(keys) = metadata.as_object() else { return };
    for key in keys.keys().filter(|k| *k != "containerize") {
        let lower = key.to_ascii_lowercase();
        if lower != "containerize" && strsim::jaro_winkler(&lower, "containerize") < 0.9 {
            continue;
        }
        let table = format!("[{prefix}.{}] in {}", crate::redact::server_text(key, 60), manifest.display());
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        if !warned.contains(&table) {
            crate::shell::warn(format_args!(
                "{table} is not read: did you mean [{prefix}.containerize]? None of its settings apply"
            ));
            warned.push(table);
        }
    }
}

pub(crate) fn settings(
    workspace_meta: &serde_json::Value,
    workspace_manifest: &Path,
    package: &Package,
    args: &Args,
) -> Result<Settings, settings::Error> {
    let ws_dir = workspace_manifest.parent().unwrap_or(Path::new("."));
    let pkg_manifest = package.manifest_path.as_std_path();
    let pkg_dir = pkg_manifest.parent().unwrap_or(Path::new("."));
    misspelt_tables(workspace_meta, "workspace.metadata", workspace_manifest);
    misspelt_tables(&package.metadata, "package.metadata", pkg_manifest);
    let mut tables = Vec::new();
    if let Some(table) = workspace_meta.get("containerize") {
        let origin = Origin { table: "workspace.metadata.containerize", manifest: workspace_manifest.to_path_buf() };
        tables.push((settings::parse(table, &origin, ws_dir)?, origin, ws_dir, "the workspace root"));
    }
    if let Some(table) = package.metadata.get("containerize") {
        let origin = Origin { table: "package.metadata.containerize", manifest: pkg_manifest.to_path_buf() };
        tables.push((settings::parse(table, &origin, pkg_dir)?, origin, pkg_dir, "the package directory"));
    }
    let bad = |origin: &Origin, key: &str, reason: String| settings::Error::BadValue {
        key: key.into(),
        origin: origin.to_string(),
        reason,
    };
    // The `oci:` base that will be read, when Cargo.toml names it, stays inside the table's
    // directory, as an include's `from` does.
    if let (None, false, Some((s, origin, dir, where_))) =
        (&args.base, args.allow_base_outside, tables.iter().rev().find(|(s, ..)| s.base.is_some()))
    {
        let base = s.base.as_ref().expect("found by its base");
        settings::confine_base(base, dir, where_).map_err(|r| bad(origin, "base", r))?;
    }
    let user_origin = tables.iter().rev().find(|(s, ..)| s.user.is_some()).map(|(_, o, ..)| o.clone());
    let merged = tables.into_iter().fold(Settings::default(), |m, (s, ..)| m.merge(s));
    let merged = merged.merge(from_cli(args)?);
    // On scratch, the image's users are ours alone (root, nonroot); on a base, a name is
    // looked up in the base's /etc/passwd and /etc/group before the build (`on_base`).
    if let (Some(user), true) = (&merged.user, matches!(merged.base, None | Some(BaseRef::Scratch))) {
        if let Err(reason) = settings::user(user) {
            return Err(match (&args.user, user_origin) {
                (None, Some(origin)) => bad(&origin, "user", reason),
                _ => settings::Error::BadFlag { flag: "--user", value: user.clone(), reason },
            });
        }
    }
    Ok(merged)
}

/// The settings the command line gives.
pub(crate) fn from_cli(args: &Args) -> Result<Settings, settings::Error> {
    let flag = |flag: &'static str, value: &str, reason: String| settings::Error::BadFlag {
        flag,
        value: value.to_string(),
        reason,
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let base = settings::IncludeBase { dir: &cwd, absolute_ok: true, outside_ok: args.allow_include_outside };
    let mut includes = Vec::new();
    for inc in &args.include {
        let (from, to) = inc.rsplit_once(':').ok_or_else(|| flag("--include", inc, "expected FROM:TO".into()))?;
        includes.push(settings::include(base, from, to).map_err(|r| flag("--include", inc, r))?);
    }
    let ports = args
        .expose
        .iter()
        .map(|p| settings::port(p).map_err(|r| flag("--expose", p, r)))
        .collect::<Result<Vec<_>, _>>()?;
    let user = args.user.as_deref().map(|u| settings::user_syntax(u).map_err(|r| flag("--user", u, r))).transpose()?;
    let workdir =
        args.workdir.as_deref().map(|d| settings::workdir(d).map_err(|r| flag("--workdir", d, r))).transpose()?;
    let env = settings::pairs("--env", &args.env)?;
    for (k, v) in &env {
        settings::env_var(k, v).map_err(|r| flag("--env", &format!("{k}={v}"), r))?;
    }
    if let Some(a) = args.args.iter().find(|a| a.contains('\0')) {
        return Err(flag("--", a, "an argument holds a NUL character, which no program can receive".into()));
    }
    Ok(Settings {
        args: (!args.args.is_empty()).then(|| args.args.clone()),
        entrypoint: args.entrypoint.then_some(true),
        env,
        ports: (!ports.is_empty()).then_some(ports),
        user,
        workdir,
        labels: settings::pairs("--label", &args.labels)?,
        annotations: settings::pairs("--annotation", &args.annotations)?,
        include: (!includes.is_empty()).then_some(includes),
        ca_certificates: None,
        extra_ca_certificates: None,
        tags: None,
        repository: None,
        platforms: (!args.platforms.is_empty()).then(|| args.platforms.clone()),
        target: args.target.clone(),
        base: args
            .base
            .as_deref()
            .map(|b| crate::base::BaseRef::parse(b, &cwd).map_err(|r| flag("--base", b, r)))
            .transpose()?,
        sbom: match (args.sbom, args.no_sbom) {
            (_, true) => Some(Vec::new()),
            (true, false) => Some(settings::Format::ALL.to_vec()),
            _ => None,
        },
        provenance: match (args.provenance, args.no_provenance) {
            (_, true) => Some(false),
            (true, false) => Some(true),
            _ => None,
        },
        auditable: args.no_auditable.then_some(false),
        init: args.init.then_some(true),
    })
}

/// What the image needs of its base, settled before the build for each platform's base:
/// the base's `Env` entries that are left out are named in a warning; a user name of ours
/// must be in the base's /etc/passwd (a group name in its /etc/group), and is kept as a
/// name in the config, as Docker does; a `workdir` made for the image is owned by the user
/// the image runs as (ours, else the base's `User`), found in the same files. The base's
/// files are read only when a name or a workdir asks for them.
pub(crate) fn on_base(
    image: &mut ImageSpec,
    parents: Option<&[crate::image::parent::Parent]>,
    push: &crate::registry::PushOptions,
) -> Result<(), OnBaseError> {
    let Some(parents) = parents else { return Ok(()) };
    let mut warned = std::collections::BTreeSet::new();
    let mut ids = None;
    for p in parents {
        let (_, dropped) = crate::image::config::base_env(&p.config);
        if !dropped.is_empty() && warned.insert(dropped.clone()) {
            let shown: Vec<String> = dropped.iter().take(5).map(|e| e.chars().take(60).collect()).collect();
            let more = if dropped.len() > 5 { format!(" and {} more", dropped.len() - 5) } else { String::new() };
            crate::shell::warn(format_args!(
                "the base image {} sets environment entries with no `=`, an empty name or a NUL, which no \
                 program can read by name; they are left out: {}{more}",
                p.name,
                shown.join(", ")
            ));
        }
        if p.config.pointer("/config/OnBuild").is_some_and(|v| !v.is_null()) {
            crate::shell::detail(
                "the base image's OnBuild triggers are cleared, as Docker clears them in a child image",
            );
        }
        let ours = !image.run.user_is_default;
        let user = crate::image::config::effective_user(&p.config, &image.run);
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let (u, g) = user.split_once(':').unwrap_or((&user, ""));
        let names = !numeric(u) || !(g.is_empty() || numeric(g));
        let wants_ids = image.base.workdir.is_some();
        let failed = |reason: String| settings::Error::UserOnBase {
            whose: if ours { "the user" } else { "the base's own User" },
            user: user.clone(),
            base: p.name.clone(),
            reason,
        };
        if !(ours && names) && !(wants_ids && !(numeric(u) && numeric(g))) {
            if wants_ids {
                ids = Some(base::numeric_ids(&user));
            }
            continue;
        }
        match crate::base::fit::files_of(p, push)? {
            Some(files) => {
                let found = files.accounts().ids(&user).map_err(|reason| plan_error(failed(reason)))?;
                if wants_ids {
                    if ids.is_some_and(|known| known != found) {
                        let reason = "its platforms give it different ids; use numeric ids".to_string();
                        return Err(plan_error(failed(reason)));
                    }
                    ids = Some(found);
                }
            }
            None if wants_ids => {
                let reason = format!(
                    "its layers are not gzip or plain tar, so the owner of the workdir {} cannot be found in its \
                     /etc/passwd",
                    image.base.workdir.as_ref().map(|w| w.0.as_str()).unwrap_or_default()
                );
                return Err(plan_error(failed(reason)));
            }
            None => {
                crate::shell::note(format_args!(
                    "the layers of {} are not gzip or plain tar, so whether it has the user {user:?} is not checked",
                    p.name
                ));
            }
        }
    }
    if let (Some((uid, gid)), Some(workdir)) = (ids, image.base.workdir.as_mut()) {
        (workdir.1, workdir.2) = (uid, gid);
    }
    Ok(())
}

/// Why the image does not fit its base: a user the base lacks, or base files that could
/// not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OnBaseError {
    #[error(transparent)]
    Settings(#[from] settings::Error),
    #[error(transparent)]
    Fit(#[from] crate::base::fit::Error),
}

fn plan_error(e: settings::Error) -> OnBaseError {
    OnBaseError::Settings(e)
}

/// Facts about the build that end up in labels.
pub(crate) struct Provenance<'a> {
    pub(crate) package: &'a Package,
    pub(crate) bin: &'a str,
    pub(crate) created: String,
    pub(crate) revision: Option<String>,
    /// The repository's URL when `Cargo.toml` names none (inside GitHub Actions).
    pub(crate) source: Option<String>,
}

/// What GitHub Actions says of the build, from `env`, when `GITHUB_ACTIONS=true`: the
/// repository's URL (`GITHUB_SERVER_URL/GITHUB_REPOSITORY`) and the commit (`GITHUB_SHA`),
/// each only when it is well formed.
pub(crate) fn github_facts(env: &dyn Fn(&str) -> Option<String>) -> (Option<String>, Option<String>) {
    if env("GITHUB_ACTIONS").as_deref() != Some("true") {
        return (None, None);
    }
    let server = env("GITHUB_SERVER_URL").filter(|s| s.starts_with("https://") && !s.contains(char::is_whitespace));
    let repo = env("GITHUB_REPOSITORY")
        .filter(|r| r.split('/').count() == 2 && r.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)));
    let source = server.zip(repo).map(|(s, r)| format!("{}/{r}", s.trim_end_matches('/')));
    let sha = env("GITHUB_SHA").filter(|s| matches!(s.len(), 40 | 64) && s.chars().all(|c| c.is_ascii_hexdigit()));
    (source, sha)
}

/// Resolves the image spec from merged settings.
pub(crate) fn resolve(settings: Settings, prov: &Provenance) -> ImageSpec {
    let bin_path = format!("/{}", prov.bin);
    let args = settings.args.clone().unwrap_or_default();
    let (mut entrypoint, cmd) = if settings.entrypoint.unwrap_or(false) {
        (vec![bin_path], args)
    } else {
        (Vec::new(), std::iter::once(bin_path).chain(args).collect())
    };
    // As `ENTRYPOINT ["/tini", "--"]`: the init runs what the rest of the command line says.
    let init = settings.init.unwrap_or(false);
    if init {
        entrypoint.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let mut env = Vec::new();
    let path_is_default = !settings.env.contains_key("PATH");
    if path_is_default {
        env.push(DEFAULT_PATH.to_string());
    }
    env.extend(settings.env.iter().map(|(k, v)| format!("{k}={v}")));
    let user = settings.user.clone().unwrap_or_else(|| DEFAULT_USER.to_string());
    let mut labels = oci_labels(prov);
    labels.extend(settings.labels.clone());
    let run = RunConfig {
        entrypoint,
        cmd,
        env,
        user: Some(user.clone()),
        workdir: settings.workdir.clone(),
        exposed_ports: settings.ports.clone().unwrap_or_default(),
        labels,
        annotations: settings.annotations.clone(),
        created: prov.created.clone(),
        path_is_default,
        user_is_default: settings.user.is_none(),
    };
    let (uid, gid) = base::numeric_ids(&user);
    let extra_ca = settings.extra_ca_certificates.iter().flatten().flat_map(|f| f.certificates.clone()).collect();
    let base = base::Options { ca_bundle: false, extra_ca, workdir: settings.workdir.clone().map(|w| (w, uid, gid)) };
    ImageSpec {
        run,
        base,
        includes: settings.include.clone().unwrap_or_default(),
        ca_certificates: settings.ca_certificates.unwrap_or_default(),
        parent: settings.base.clone().unwrap_or(BaseRef::Scratch),
        tags: settings.tags.clone().unwrap_or_default(),
        auditable: settings.auditable.unwrap_or(true),
        init,
        documents: settings::Wanted::from_settings(settings.sbom.as_deref(), settings.provenance),
    }
}

/// The `org.opencontainers.image.*` labels Cargo.toml can answer.
fn oci_labels(prov: &Provenance) -> BTreeMap<String, String> {
    let p = prov.package;
    let mut labels = BTreeMap::new();
    // A NUL cannot travel in a label: such a value from Cargo.toml is left out.
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty() && !v.contains('\0')) {
            labels.insert(format!("org.opencontainers.image.{key}"), v);
        }
    };
    put("title", Some(prov.bin.to_string()));
    put("version", Some(p.version.to_string()));
    put("description", p.description.clone());
    put("licenses", p.license.clone());
    put("source", p.repository.clone().or(prov.source.clone()));
    put("url", p.homepage.clone());
    put("authors", (!p.authors.is_empty()).then(|| p.authors.join(", ")));
    put("revision", prov.revision.clone());
    put("created", Some(prov.created.clone()));
    labels
}

/// Why the image gets the CA bundle, for the note that says so: the setting, or the crate
/// built for the target that reads the system's roots.
pub(crate) fn ca_bundle_reason(mode: CaCertificates, built_crates: &std::collections::BTreeSet<String>) -> String {
    match SYSTEM_ROOT_CRATES.iter().find(|c| built_crates.contains(&c.replace('-', "_"))) {
        Some(c) if mode == CaCertificates::Auto => format!(
            "it links {c}, which reads the system's root certificates (ca-certificates = false leaves them out)"
        ),
        _ => "ca-certificates = true asks for them".to_string(),
    }
}

/// Whether the image gets the CA bundle, given the crates built for the target
/// (library names, with `_` for `-`).
pub(crate) fn wants_ca_bundle(mode: CaCertificates, built_crates: &std::collections::BTreeSet<String>) -> bool {
    match mode {
        CaCertificates::Always => true,
        CaCertificates::Never => false,
        CaCertificates::Auto => SYSTEM_ROOT_CRATES.iter().any(|c| built_crates.contains(&c.replace('-', "_"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_actions_facts_are_taken_only_inside_actions_and_well_formed() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let inside = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/app"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ]);
        assert_eq!(github_facts(&inside), (Some("https://github.com/acme/app".into()), Some(sha.into())));
        let outside = env(&[("GITHUB_SERVER_URL", "https://github.com"), ("GITHUB_REPOSITORY", "acme/app")]);
        assert_eq!(github_facts(&outside), (None, None));
        let odd = env(&[("GITHUB_ACTIONS", "true"), ("GITHUB_SERVER_URL", "http://x y"), ("GITHUB_SHA", "nope")]);
        assert_eq!(github_facts(&odd), (None, None));
    }

    #[test]
    fn auto_adds_the_bundle_only_for_crates_that_load_system_roots() {
        let built = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        assert!(wants_ca_bundle(CaCertificates::Auto, &built(&["rustls_native_certs", "libc"])));
        assert!(wants_ca_bundle(CaCertificates::Auto, &built(&["openssl_probe"])));
        assert!(!wants_ca_bundle(CaCertificates::Auto, &built(&["webpki_roots", "rustls"])));
        assert!(wants_ca_bundle(CaCertificates::Always, &built(&[])));
        assert!(!wants_ca_bundle(CaCertificates::Never, &built(&["native_tls"])));
    }
}
