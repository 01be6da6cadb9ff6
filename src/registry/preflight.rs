//! The check, before the build, of every registry a run pushes to: it answers `GET /v2/`,
//! takes the credentials, and lets them push to each repository of the run.
//!
//! Basic-auth registries have no scopes, and token servers may grant less than was asked for
//! without saying so: so the check is the first step of a push itself. An upload is started
//! (`POST /v2/<name>/blobs/uploads/`) and cancelled (`DELETE` of its location). A registry
//! that refuses the cancel (405, 404, `UNSUPPORTED`) fails nothing: the upload session just
//! expires, and `-v` says so. A registry that is failing for the moment (5xx, 429, after the
//! retries) is not taken for a refusal: a warning says it was not checked, and the push
//! tries again after the build.
//!
//! The check uses the run's client and its one session per registry, so the token it gets
//! serves the push; every request is bounded by the run's timeouts and says what it waits
//! for, as every other request does.

use super::auth::push_scope;
use super::credentials::{self, Source};
use super::error::{is_retryable_status, login_hint, redact_url, Error};
use super::session::Session;
use super::upload::{start_upload, Started};
use super::{PushOptions, Target, MAX_CONCURRENT_UPLOADS};
use crate::reference::Reference;
use futures_util::{stream, StreamExt};
use reqwest::{Method, Url};
use std::sync::Arc;

/// What the check found of each repository, by registry and repository: the verdict is
/// drawn from it for the references of a run ([`Checked::verdict`]), so that a check
/// started early, for the repositories the same command line pushed to last time, serves
/// the run for those it still pushes to (see `crate::speculate`).
#[derive(Debug, Default)]
pub(crate) struct Checked(Vec<(String, String, Found)>);

/// One repository's answer.
#[derive(Clone, Debug)]
enum Found {
    /// An upload was started (and is being cancelled).
    Pushable,
    /// It could not be told (the registry failing for the moment): `name` is the registry
    /// or the repository, warned of once, and the push tries again after the build.
    Unchecked { name: String, why: String },
    /// Refused: the error, with its fix.
    Refused { registry: String, message: String },
}

impl Checked {
    /// Whether `reference`'s repository was checked.
    pub(crate) fn covers(&self, reference: &Reference, insecure: &[String]) -> bool {
        Target::from_reference(reference, insecure).is_ok_and(|t| self.find(&t).is_some())
    }

    fn find(&self, t: &Target) -> Option<&Found> {
        self.0.iter().find(|(r, repo, _)| *r == t.registry && *repo == t.repository).map(|(_, _, f)| f)
    }

    /// Adds what another check found.
    pub(crate) fn extend(&mut self, other: Checked) {
        self.0.extend(other.0);
    }

    /// The verdict for `references`: each repository it could not check is warned of (a
    /// registry once), and the first refusal, in their order, is the error. A reference
    /// not checked is no error: it was never asked about.
    pub(crate) fn verdict(&self, references: &[Reference], insecure: &[String]) -> Result<(), Error> {
        let mut warned: Vec<&str> = Vec::new();
        for reference in references {
            let target = Target::from_reference(reference, insecure)?;
            match self.find(&target) {
                Some(Found::Refused { registry, message }) => return Err(preflight(registry, message.clone())),
                Some(Found::Unchecked { name, why }) if !warned.contains(&name.as_str()) => {
                    warned.push(name);
                    unchecked(name, why);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Checks every registry and repository of `references`, the registries at once, and says
/// nothing: what it found is for [`Checked::verdict`]. The error is only for a reference
/// that names no registry, or a client that cannot be made.
pub(crate) fn check_all(
    references: &[Reference],
    opts: &PushOptions,
    given: Option<&Source>,
) -> Result<Checked, Error> {
    // Each registry once, with its repositories in order, each once.
    let mut registries: Vec<(Target, Vec<String>)> = Vec::new();
    for reference in references {
        let target = Target::from_reference(reference, &opts.insecure_registries)?;
        match registries.iter_mut().find(|(t, _)| t.registry == target.registry) {
            Some((_, repos)) if repos.contains(&target.repository) => {}
            Some((_, repos)) => repos.push(target.repository),
            None => {
                let repos = vec![target.repository.clone()];
                registries.push((target, repos));
            }
        }
    }
    if registries.is_empty() {
        return Ok(Checked::default());
    }
    let client = opts.client()?;
    let checks = registries.iter().map(|(target, repos)| check_registry(client, target, repos, opts, given));
    let found = client.block_on(futures_util::future::join_all(checks));
    let mut checked = Checked::default();
    for ((target, repos), found) in registries.iter().zip(found) {
        for (repo, found) in repos.iter().zip(found) {
            checked.0.push((target.registry.clone(), repo.clone(), found));
        }
    }
    Ok(checked)
}

/// What each of `repos` (of one registry) was found to be, in order.
async fn check_registry(
    client: &super::client::Client,
    target: &Target,
    repos: &[String],
    opts: &PushOptions,
    given: Option<&Source>,
) -> Vec<Found> {
    let registry = &target.registry;
    let session = match client.session(registry, &target.bases, opts).await {
        Ok(session) => session,
        Err(e) if unsettled(&e) => {
            let found = Found::Unchecked { name: registry.clone(), why: first_line(&e) };
            return vec![found; repos.len()];
        }
        Err(e) => {
            let message = format!("cannot push to {registry} (checked before the build): {e}");
            return vec![Found::Refused { registry: registry.clone(), message }; repos.len()];
        }
    };
    // One token for every repository, which the push then uses.
    let scopes: Vec<String> = repos.iter().map(|r| push_scope(r)).collect();
    session.want_scopes(&scopes).await;
    let results: Vec<Result<(), Error>> = stream::iter(repos)
        .map(|repo| check_repository(client, &session, repo))
        .buffered(MAX_CONCURRENT_UPLOADS)
        .collect()
        .await;
    let mut found = Vec::new();
    for (repo, result) in repos.iter().zip(results) {
        found.push(match result {
            Ok(()) => Found::Pushable,
            Err(e) if unsettled(&e) => Found::Unchecked { name: format!("{registry}/{repo}"), why: first_line(&e) },
            Err(e) => match refused(&session, repo, e, opts, given).await {
                Error::Preflight { registry, message } => Found::Refused { registry, message },
                other => Found::Refused { registry: registry.clone(), message: other.to_string() },
            },
        });
    }
    found
}

/// Starts an upload to `repo`, and cancels it while the run goes on: its answer settles
/// nothing.
async fn check_repository(client: &super::client::Client, s: &Arc<Session>, repo: &str) -> Result<(), Error> {
    let scopes = [push_scope(repo)];
    let Started::Upload(location) = start_upload(s, repo, &scopes, None).await? else {
        // Only a mount completes at once, and none was asked for.
        return Ok(());
    };
    let (s, repo) = (s.clone(), repo.to_string());
    client.later(async move { cancel(&s, &repo, &[push_scope(&repo)], &location).await });
    Ok(())
}

/// `DELETE` of the upload's location, sent once. A registry may refuse it: the upload
/// session then expires on its own, and `-v` says so.
async fn cancel(s: &Session, repo: &str, scopes: &[String], location: &Url) {
    let name = format!("{}/{repo}", s.registry);
    let why = match s.once(Method::DELETE, location, scopes).await {
        Ok(resp) if resp.status().is_success() => {
            crate::shell::detail(format_args!(
                "{name}: may be pushed to (an upload was started and cancelled before the build)"
            ));
            return;
        }
        Ok(resp) => format!("it answered {}", resp.status().as_u16()),
        Err(e) => first_line(&e),
    };
    crate::shell::detail(format_args!(
        "{name}: may be pushed to; the upload started to check it was not cancelled ({why}): the \
         registry drops it when it expires ({})",
        redact_url(location.as_str())
    ));
}

/// Whether a failure says nothing of the credentials or the rights: the registry is failing
/// for the moment (5xx, 408, 429, after the retries).
fn unsettled(e: &Error) -> bool {
    e.status().is_some_and(is_retryable_status)
}

fn unchecked(name: &str, why: &str) {
    crate::shell::warn(format_args!(
        "could not check the push to {name} before the build: {why}; building anyway, and the push tries again \
         after it"
    ));
}

/// The error for a repository whose upload could not be started.
async fn refused(s: &Session, repo: &str, e: Error, opts: &PushOptions, given: Option<&Source>) -> Error {
    let registry = &s.registry;
    let head = format!("cannot push to {registry}/{repo} (checked before the build)");
    match refusal(s, repo, &e, opts, given, Rights::Push).await {
        Some(why) => preflight(registry, format!("{head}: {why}")),
        None => preflight(registry, format!("{head}: {e}")),
    }
}

/// What a refusal is about.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rights {
    Pull,
    Push,
}

/// What to say of a registry's 401 or 403 to `repo`, as `what happened: its answer\n  help:
/// the fix`: whose credentials were refused (where they came from and the user, never the
/// secret), or that there were none and where they were looked for; the fix fits what was
/// given, and never suggests it again. `None` for any other error.
pub(crate) async fn refusal(
    s: &Session,
    repo: &str,
    e: &Error,
    opts: &PushOptions,
    given: Option<&Source>,
    rights: Rights,
) -> Option<String> {
    let registry = &s.registry;
    let status = e.status();
    if !matches!(status, Some(401 | 403)) {
        return None;
    }
    let detail = first_line(e);
    // The registry's own answer, rather than its token service's.
    let from_registry = matches!(e, Error::Status { request, .. } if request.url.contains(&format!("/v2/{repo}/")));
    // The session has looked them up already: this does not wait.
    let found = match super::credentials_source(registry, opts, given) {
        Ok(found) => found,
        Err(lookup) => return Some(lookup.to_string()),
    };
    let scheme = s.scheme().await;
    let Some((credentials, source)) = found else {
        if scheme.is_none() {
            // It asked for no credentials: its refusal is its own.
            return Some(e.to_string());
        }
        let places: Vec<String> =
            credentials::places(&credentials::process_env).iter().map(|p| p.display().to_string()).collect();
        let looked = if places.is_empty() { String::new() } else { format!(" (looked in {})", places.join(", ")) };
        return Some(format!(
            "{registry} wants credentials, and this run has none for it{looked}: {detail}\n  help: {}",
            login_hint(registry)
        ));
    };
    let from = format!("{}{}", source.from, user(&credentials));
    let bearer = scheme.as_deref() == Some("bearer");
    let (verb, rights) = match rights {
        Rights::Push => ("push", "push (write)"),
        Rights::Pull => ("pull", "pull (read)"),
    };
    Some(if from_registry && (bearer || status == Some(403)) {
        // The credentials were taken (a token was issued for them), but not for this.
        format!(
            "the credentials from {from} may not {verb} there: {detail}\n  help: they need {rights} rights to \
             {repo} on {registry}, which this account or token lacks: check its permissions, or give credentials \
             that may {verb} {}",
            source.renew
        )
    } else {
        format!(
            "{registry} refused the credentials from {from}: {detail}\n  help: check them (a wrong password, or \
             a token that expired or was revoked), and give the right ones {}",
            source.renew
        )
    })
}

/// ` (user "NAME")`, or nothing for a token with no user.
fn user(c: &credentials::Credentials) -> String {
    match c.username() {
        "" => String::new(),
        name => format!(" (user {:?})", crate::redact::server_text(name, 100)),
    }
}

fn preflight(registry: &str, message: String) -> Error {
    Error::Preflight { registry: registry.to_string(), message }
}

/// The first line of an error, secrets removed.
fn first_line(e: &Error) -> String {
    crate::redact::redact(e.to_string().lines().next().unwrap_or_default())
}
