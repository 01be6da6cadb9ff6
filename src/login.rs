//! Credentials given on the command line (`--username` with `--password-stdin`) or in CI
//! variables (`CARGO_CONTAINERIZE_USERNAME` and `CARGO_CONTAINERIZE_PASSWORD`), and the one
//! registry host they are for, as `docker login` is per host:
//!
//! 1. `CARGO_CONTAINERIZE_REGISTRY=HOST[:PORT]`, when set;
//! 2. else the one registry host the run pushes to;
//! 3. else, with no push, the one registry host the run's bases come from;
//! 4. else, with several hosts, an error that asks which.
//!
//! Every other host gets its own credentials from the Docker or Podman configuration.
//!
//! Then, before anything is built, every push destination is checked (`check_pushes`): the
//! registry answers, takes its credentials and lets them push to each repository.

use crate::base::BaseRef;
use crate::error::Error;
use crate::plan::{Plan, SinkSpec};
use crate::reference::Reference;
use crate::registry::credentials::{same_host, Source};
use crate::registry::preflight::{self, Checked};
use crate::registry::{Credentials, PushOptions};
use std::io::Read;
use std::time::Duration;

/// Explicit credentials, before they are given a host.
pub(crate) struct Explicit {
    pub(crate) credentials: Credentials,
    /// Where they came from, for messages: `--username` or the CI variables.
    pub(crate) source: &'static str,
}

/// Reads `--password-stdin` (for `--username`), else the CI variables from `env`. Secrets
/// are registered for redaction at once.
pub(crate) fn explicit(
    username: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    timeout: Duration,
    quiet: bool,
) -> Result<Option<Explicit>, Error> {
    let found = if let Some(username) = username {
        let password = read_password(std::io::stdin(), timeout, quiet)?;
        let password = password.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            return Err(Error::EmptyPassword);
        }
        Some(Explicit { credentials: Credentials::basic(username, password), source: "--username" })
    } else {
        match (env(USERNAME), env(PASSWORD)) {
            (Some(u), Some(p)) => Some(Explicit { credentials: Credentials::basic(u, p), source: CI_SOURCE }),
            (Some(_), None) => return Err(Error::HalfCredentials { set: USERNAME, missing: PASSWORD }),
            (None, Some(_)) => return Err(Error::HalfCredentials { set: PASSWORD, missing: USERNAME }),
            (None, None) => None,
        }
    };
    if let Some(e) = &found {
        e.credentials.register_secrets();
    }
    Ok(found)
}

/// The most `--password-stdin` reads: any real password or token is far shorter.
const MAX_PASSWORD: usize = 64 << 10;

/// Reads the password from `input` to its end: at most [`MAX_PASSWORD`] bytes, within
/// `timeout`, saying what it waits for once the wait passes a few seconds.
fn read_password(input: impl Read + Send + 'static, timeout: Duration, quiet: bool) -> Result<String, Error> {
    let (tx, rx) = std::sync::mpsc::channel();
    // A reader that never ends its input keeps this thread; the run ends without it.
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let read = input.take(MAX_PASSWORD as u64 + 1).read_to_end(&mut bytes).map(|_| bytes);
        let _ = tx.send(read);
    });
    let _announce = (!quiet).then(|| {
        crate::wait::Announce::after(
            crate::wait::announce_after(timeout),
            "waiting for the password on standard input (--password-stdin reads it to its end)".into(),
        )
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(bytes)) if bytes.len() > MAX_PASSWORD => Err(Error::PasswordTooLong { max: MAX_PASSWORD }),
        Ok(Ok(bytes)) => String::from_utf8(bytes).map_err(|_| Error::Stdin {
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
        }),
        Ok(Err(source)) => Err(Error::Stdin { source }),
        Err(_) => Err(Error::StdinTimeout { secs: timeout.as_secs() }),
    }
}

const USERNAME: &str = "CARGO_CONTAINERIZE_USERNAME";
/// The CI variables, as a source of credentials.
const CI_SOURCE: &str = "CARGO_CONTAINERIZE_USERNAME and CARGO_CONTAINERIZE_PASSWORD";
const PASSWORD: &str = "CARGO_CONTAINERIZE_PASSWORD";

/// Removes the password variable from the process, once it has been read: from the
/// variables every child inherits, and from the environment block the process started with,
/// which `/proc/<pid>/environ` shows to any process of the same user (a build script, say).
pub(crate) fn forget_password_variable() {
    extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    let prefix = format!("{PASSWORD}=");
    // SAFETY: runs at start-up, before any thread that reads the environment exists; walks
    // the NULL-terminated `environ` array and overwrites, within each entry's own length,
    // only the value of the one variable, then lets unsetenv remove the entry.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let bytes = std::ffi::CStr::from_ptr(*entry).to_bytes();
            if bytes.starts_with(prefix.as_bytes()) {
                let value = (*entry).add(prefix.len());
                std::ptr::write_bytes(value, b'x', bytes.len() - prefix.len());
            }
            entry = entry.add(1);
        }
    }
    std::env::remove_var(PASSWORD);
}
pub(crate) const REGISTRY: &str = "CARGO_CONTAINERIZE_REGISTRY";

/// The registry host the explicit credentials are for in the run of `plan`: see
/// [`scope`], with the hosts it pushes to and the hosts its bases come from.
pub(crate) fn scope_for(
    explicit: Option<&Explicit>,
    plan: &Plan,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Credentials)>, Error> {
    let bases: Vec<String> = plan
        .images
        .iter()
        .filter_map(|image| match &image.image.parent {
            BaseRef::Registry(r) => r.registry.clone(),
            _ => None,
        })
        .collect();
    scope(explicit, &plan.push_hosts(), &bases, env)
}

/// The registry host the explicit credentials are for, given the hosts the run pushes to
/// and, when it pushes nowhere, the hosts its bases come from (see the module
/// documentation). No credentials, or no registry: none.
pub(crate) fn scope(
    explicit: Option<&Explicit>,
    push_hosts: &[String],
    base_hosts: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Credentials)>, Error> {
    let Some(explicit) = explicit else { return Ok(Vec::new()) };
    if let Some(host) = env(REGISTRY) {
        crate::reference::check_host(&host).map_err(|reason| Error::BadRegistryVariable { reason })?;
        return Ok(vec![(host, explicit.credentials.clone())]);
    }
    let pulls_only = push_hosts.is_empty();
    let mut hosts: Vec<&String> = Vec::new();
    for h in if pulls_only { base_hosts } else { push_hosts } {
        if !hosts.iter().any(|k| same_host(k, h)) {
            hosts.push(h);
        }
    }
    match hosts.as_slice() {
        [] => Ok(Vec::new()),
        [one] => Ok(vec![((*one).clone(), explicit.credentials.clone())]),
        many => Err(Error::CredentialsHost {
            from: explicit.source,
            hosts: many.iter().map(|h| h.to_string()).collect(),
            bases: pulls_only,
        }),
    }
}

impl Explicit {
    /// Where they came from and how to give the right ones, for a registry's refusal.
    pub(crate) fn described(&self, registry: &str) -> Source {
        let renew = if self.source == "--username" {
            format!("on --password-stdin (or leave out --username, and log in with `docker login {registry}`)")
        } else {
            format!("in {} (or unset both, and log in with `docker login {registry}`)", self.source)
        };
        let from = if self.source == "--username" { "--username and --password-stdin" } else { self.source };
        Source { from: from.to_string(), renew }
    }
}

/// Checks, before anything is built, every registry the run of `plan` pushes to: it answers,
/// takes the credentials `push` has for it, and lets them push to each repository (see
/// `crate::registry::preflight`). The error names the registry, where the credentials came
/// from (never the secret), and the fix. Checked, each destination tag is read while cargo
/// builds (`crate::registry::ahead`).
pub(crate) fn check_pushes(
    args: &crate::cli::Args,
    plan: &Plan,
    push: &PushOptions,
    early: Option<Checked>,
) -> Result<(), Error> {
    let references: Vec<Reference> = plan
        .sinks()
        .filter_map(|sink| match sink {
            SinkSpec::Registry { references } => Some(references),
            _ => None,
        })
        .flatten()
        .cloned()
        .collect();
    if references.is_empty() {
        return Ok(());
    }
    crate::speculate::remember_pushes(args, &references);
    let insecure = &push.insecure_registries;
    let registry = |e| Error::Registry(Box::new(e));
    // What the early check found serves the repositories the plan still pushes to; the
    // others are checked now.
    let mut checked = early.unwrap_or_default();
    let rest: Vec<Reference> = references.iter().filter(|r| !checked.covers(r, insecure)).cloned().collect();
    if !rest.is_empty() {
        checked.extend(preflight::check_all(&rest, push, push.given.as_ref()).map_err(registry)?);
    }
    checked.verdict(&references, insecure).map_err(registry)?;
    crate::registry::ahead::start(&references, push);
    Ok(())
}

/// The push check of the repositories this command line pushed to last time, started
/// before `cargo metadata` (see `crate::speculate`), with the credentials the run would
/// give them: every `--push` names its registry, so those are the run's push hosts. Its
/// findings serve the run only if the plan's credentials are these ([`EarlyCheck::finish`]).
///
/// A run that ends before its plan (a broken manifest) does not wait for it: it says
/// nothing, and a silent registry must not hold up that error; an upload it started and
/// could not cancel expires on the registry.
pub(crate) struct EarlyCheck {
    credentials: Vec<(String, Credentials)>,
    shared: crate::registry::client::Shared,
    handle: std::thread::JoinHandle<Option<Checked>>,
}

impl EarlyCheck {
    /// Starts it, if this command line pushed somewhere last time.
    pub(crate) fn start(
        args: &crate::cli::Args,
        refs: &crate::plan::References,
        explicit: Option<&Explicit>,
        env: &dyn Fn(&str) -> Option<String>,
        tuning: &crate::tuning::Tuning,
    ) -> Option<EarlyCheck> {
        use crate::plan::RefArg;
        if args.dry_run || refs.pushes.is_empty() {
            return None;
        }
        let hosts = refs
            .pushes
            .iter()
            .map(|r| match r {
                RefArg::Full(r) => r.registry.clone(),
                RefArg::TagOnly(_) => None,
            })
            .collect::<Option<Vec<String>>>()?;
        let references = crate::speculate::recall_pushes(args, &hosts);
        if references.is_empty() {
            return None;
        }
        let credentials = scope(explicit, &hosts, &[], env).ok()?;
        let opts = PushOptions {
            insecure_registries: args.insecure_registries.clone(),
            ca_certs: args.ca_certs.clone(),
            credentials: credentials.clone(),
            given: explicit.zip(credentials.first()).map(|(e, (host, _))| e.described(host)),
            verbose: args.verbose > 0,
            quiet: args.quiet,
            tuning: tuning.clone(),
            shared: Default::default(),
        };
        let shared = opts.shared.clone();
        let handle = std::thread::Builder::new()
            .name("early-check".into())
            .spawn(move || preflight::check_all(&references, &opts, opts.given.as_ref()).ok())
            .ok()?;
        Some(EarlyCheck { credentials, shared, handle })
    }

    /// Waits for it. With the run's `credentials` the same as its own, its findings and its
    /// client (its sessions, their tokens) are the run's; else they are dropped.
    pub(crate) fn finish(
        self,
        credentials: &[(String, Credentials)],
    ) -> (crate::registry::client::Shared, Option<Checked>) {
        let found = self.handle.join().ok().flatten();
        match self.credentials.as_slice() == credentials {
            true => (self.shared, found),
            false => (Default::default(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    fn given() -> Option<Explicit> {
        Some(Explicit { credentials: Credentials::basic("ci", "pw-xyz"), source: "--username" })
    }

    #[test]
    fn ci_variables_are_read_and_half_of_them_is_an_error() {
        let e =
            explicit(None, &env(&[(USERNAME, "ci"), (PASSWORD, "pw")]), Duration::from_secs(1), true).unwrap().unwrap();
        assert_eq!(e.credentials, Credentials::basic("ci", "pw"));
        let err = explicit(None, &env(&[(USERNAME, "ci")]), Duration::from_secs(1), true).err().unwrap().to_string();
        assert!(err.contains("CARGO_CONTAINERIZE_PASSWORD"), "{err}");
        assert!(explicit(None, &env(&[]), Duration::from_secs(1), true).unwrap().is_none());
    }

    #[test]
    fn credentials_go_to_the_one_host_pushed_to_or_the_named_one() {
        let given = given();
        let given = given.as_ref();
        let one = scope(given, &["r.io".into(), "r.io".into()], &[], &env(&[])).unwrap();
        assert_eq!(one, vec![("r.io".to_string(), Credentials::basic("ci", "pw-xyz"))]);
        let named = scope(given, &["a.io".into(), "b.io".into()], &[], &env(&[(REGISTRY, "b.io")])).unwrap();
        assert_eq!(named[0].0, "b.io");
        let err = scope(given, &["a.io".into()], &[], &env(&[(REGISTRY, "https://b.io")])).err().unwrap().to_string();
        assert!(err.contains("CARGO_CONTAINERIZE_REGISTRY") && err.contains("host"), "{err}");
        assert!(scope(given, &[], &[], &env(&[])).unwrap().is_empty());
        let err = scope(given, &["a.io".into(), "b.io:5000".into()], &[], &env(&[])).err().unwrap();
        let text = format!("{err} {}", err.hint().unwrap());
        assert!(text.contains("a.io") && text.contains("b.io:5000") && text.contains(REGISTRY), "{text}");
        assert!(text.contains("pushes to"), "{text}");
    }

    #[test]
    fn with_no_push_the_credentials_go_to_the_one_host_of_the_bases() {
        let given = given();
        let given = given.as_ref();
        let base = scope(given, &[], &["b.io".into(), "b.io".into()], &env(&[])).unwrap();
        assert_eq!(base, vec![("b.io".to_string(), Credentials::basic("ci", "pw-xyz"))]);
        // A push wins: the base's registry uses its own credentials then.
        let push = scope(given, &["p.io".into()], &["b.io".into()], &env(&[])).unwrap();
        assert_eq!(push[0].0, "p.io");
        let err = scope(given, &[], &["a.io".into(), "b.io".into()], &env(&[])).err().unwrap();
        let text = format!("{err} {}", err.hint().unwrap());
        assert!(text.contains("a.io") && text.contains("bases") && text.contains(REGISTRY), "{text}");
    }

    #[test]
    fn a_refusal_names_where_the_credentials_came_from_and_how_to_give_others() {
        let flag = given().unwrap().described("r.io");
        assert_eq!(flag.from, "--username and --password-stdin");
        assert!(flag.renew.contains("--password-stdin") && flag.renew.contains("docker login r.io"), "{flag:?}");
        let ci = Explicit { credentials: Credentials::basic("ci", "pw-xyz"), source: CI_SOURCE }.described("r.io");
        assert_eq!(ci.from, CI_SOURCE);
        assert!(ci.renew.contains(CI_SOURCE) && ci.renew.contains("docker login r.io"), "{ci:?}");
    }
}
