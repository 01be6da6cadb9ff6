//! Attaching referrers (SBOMs, provenance) to a pushed image: each artifact manifest is
//! `PUT` by digest; a registry that answers `OCI-Subject` lists it through the referrers
//! API. One that does not gets the referrers tag schema: an index under the tag
//! `sha256-<hex of subject>`, read, merged without duplicates, written, and read again so
//! that a concurrent writer's entries and ours both survive.

use super::error::Error;
use super::session::Session;
use super::{auth, pull, upload};
use crate::digest::Digest;
use crate::image::blob::Blob;
use crate::image::config::canonical_json;
use crate::image::index::MEDIA_TYPE_OCI_INDEX;
use crate::image::referrer::{fallback_tag, Referrer};
use serde_json::{json, Value};

/// How many times the tag-schema index is written before giving up on a writer that keeps
/// replacing it.
const TAG_SCHEMA_ATTEMPTS: u32 = 5;

/// What attaching gave: each referrer's digest, or why the registry would not take it.
pub(crate) struct Attached {
    pub(crate) pushed: Vec<(String, Digest)>,
    /// Referrers the registry refused, as a warning: an old registry that does not know
    /// artifact manifests is no reason to fail a push.
    pub(crate) skipped: Vec<String>,
}

/// What became of one referrer.
enum Outcome {
    /// Already in the repository; whether listed for its subject.
    Present(bool),
    /// Pushed; whether the registry indexed it (`OCI-Subject`).
    Pushed(Digest, bool),
    /// Refused for what it is, with the registry's reason.
    Refused(String),
}

/// Whether a registry's answer refuses a manifest for its content or media type.
fn refused(e: &Error) -> bool {
    e.has_code("MANIFEST_INVALID") || e.has_code("UNSUPPORTED") || matches!(e.status(), Some(400 | 415))
}

/// Where a referrer stands in a repository before a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Its manifest is not there (or nothing could be learnt).
    Missing,
    /// Its manifest is there, but no listing names it yet.
    Stored,
    /// Listed for its subject, by the referrers API or in the tag schema's index: readers
    /// find it. A listed manifest is there: the API lists stored manifests only, and the
    /// tag schema's index keeps those it names from garbage collection.
    Listed,
}

impl Standing {
    /// Whether its manifest (and so its blobs) is in the repository already.
    pub(crate) fn there(self) -> bool {
        self != Standing::Missing
    }
}

/// Where each of `referrers` stands in `repo`. The listings of their subjects are read
/// first (one request each, two where the registry has no referrers API). A document its
/// subject's listing does not name is missing: the referrers API lists every stored
/// manifest, and in the tag schema a manifest is stored just before its index names it,
/// so one left unlisted by an interrupted push is only sent again. Only documents whose
/// listing could not be read are asked for by digest, all at once. A re-push whose
/// documents are all listed, and a new image, ask nothing more.
///
/// `known` is a listing read already (while cargo built, see `super::ahead`): its subject's
/// is not read again.
pub(crate) async fn standing(
    s: &Session,
    repo: &str,
    referrers: &[Referrer],
    known: Option<&(Digest, Vec<String>)>,
) -> Vec<Standing> {
    let mut subjects: Vec<&Digest> = referrers.iter().map(|r| &r.subject).collect();
    subjects.sort();
    subjects.dedup();
    subjects.retain(|subject| known.is_none_or(|(d, _)| d != *subject));
    let listings = futures_util::future::join_all(subjects.iter().map(|subject| listing(s, repo, subject))).await;
    let mut listings: std::collections::HashMap<&Digest, Option<Vec<String>>> =
        subjects.into_iter().zip(listings.into_iter().map(Result::ok)).collect();
    if let Some((subject, names)) = known {
        listings.insert(subject, Some(names.clone()));
    }
    let listed = |r: &Referrer| listings.get(&r.subject).and_then(Option::as_ref);
    let asked = futures_util::future::join_all(
        referrers.iter().filter(|r| listed(r).is_none()).map(|r| manifest_exists(s, repo, &r.manifest.digest)),
    )
    .await;
    let mut asked = asked.into_iter();
    referrers
        .iter()
        .map(|r| match listed(r) {
            Some(names) if names.iter().any(|d| d == r.manifest.digest.as_str()) => Standing::Listed,
            Some(_) => Standing::Missing,
            None => match asked.next() {
                Some(Ok(true)) => Standing::Stored,
                _ => Standing::Missing,
            },
        })
        .collect()
}

/// The manifest digests listed as referrers of `subject` (see [`listed`]).
pub(crate) async fn listing(s: &Session, repo: &str, subject: &Digest) -> Result<Vec<String>, Error> {
    let entries = listed(s, repo, subject).await?;
    Ok(entries.iter().filter_map(|d| d["digest"].as_str().map(str::to_string)).collect())
}

/// The descriptors listed as referrers of `subject`: by the referrers API (its first
/// page), else in the tag schema's index. Whether the registry has the API is learnt once
/// per session: the images of a run ask it once between them.
pub(crate) async fn listed(s: &Session, repo: &str, subject: &Digest) -> Result<Vec<Value>, Error> {
    let mut first = None;
    let api = *s
        .referrers_api
        .get_or_try_init(|| async {
            match by_api(s, repo, subject).await {
                Ok(listed) => {
                    first = Some(listed);
                    Ok(true)
                }
                Err(e) if no_api(&e) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await?;
    match (first, api) {
        (Some(listed), _) => Ok(listed),
        (None, true) => by_api(s, repo, subject).await,
        (None, false) => match current(s, repo, &fallback_tag(subject)).await? {
            Found::Index(index) => Ok(entries(&index)),
            Found::Other(_) => Ok(Vec::new()),
        },
    }
}

/// `GET /v2/<repo>/referrers/<subject>`: the descriptors of its first page.
async fn by_api(s: &Session, repo: &str, subject: &Digest) -> Result<Vec<Value>, Error> {
    let url = s.url(&format!("/v2/{repo}/referrers/{subject}"));
    let scopes = [auth::pull_scope(repo)];
    let ok = [reqwest::StatusCode::OK];
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static(MEDIA_TYPE_OCI_INDEX));
    let resp = s.request(reqwest::Method::GET, &url, &scopes, headers, super::transport::Body::Empty, &ok).await?;
    let bytes = s.transport.body(&s.registry, &reqwest::Method::GET, url.as_str(), resp, pull::MAX_MANIFEST).await?;
    Ok(serde_json::from_slice::<Value>(&bytes).map(|v| entries(&v)).unwrap_or_default())
}

/// An index's entries that are objects.
fn entries(index: &Value) -> Vec<Value> {
    index["manifests"].as_array().map(|a| a.iter().filter(|d| d.is_object()).cloned().collect()).unwrap_or_default()
}

/// Whether an answer to `GET /v2/<repo>/referrers/<subject>` says the API is not there:
/// 404 (distribution 2.8), 400 or 405.
fn no_api(e: &Error) -> bool {
    e.status().is_some_and(|c| (400..500).contains(&c) && c != 401 && c != 429)
}

/// Pushes the manifests of `referrers` into `repo`, after the image they describe (their
/// blobs went with the image's).
/// `standing` says where each of `referrers` stands in `repo` already (see [`standing`]).
pub(crate) async fn attach<'a>(
    s: &Session,
    repo: &str,
    referrers: &'a [Referrer],
    standing: &[Standing],
) -> Result<Attached, Error> {
    let scopes = [auth::push_scope(repo)];
    let mut attached = Attached { pushed: Vec::new(), skipped: Vec::new() };
    // Subjects whose referrers the registry did not index itself.
    let mut unindexed: Vec<&Referrer> = Vec::new();
    // Referrers already there but listed nowhere yet: listed where the registry lists them,
    // or in the tag schema.
    let mut present: Vec<&Referrer> = Vec::new();
    // Each referrer on its own, all at once; their outcomes in order.
    let scopes = &scopes;
    let one = |(r, standing): (&'a Referrer, Standing)| async move {
        if standing.there() {
            return Ok(Outcome::Present(standing == Standing::Listed));
        }
        let digest = r.manifest.digest.as_str();
        match upload::put_manifest_answered(s, repo, scopes, digest, &r.manifest).await {
            Ok((d, subject)) => Ok(Outcome::Pushed(d, subject.is_some())),
            Err(e) if refused(&e) => {
                let why = crate::redact::redact(e.to_string().lines().next().unwrap_or_default());
                Ok(Outcome::Refused(why))
            }
            Err(e) => Err(e),
        }
    };
    let outcomes = futures_util::future::join_all(referrers.iter().zip(standing.iter().copied()).map(one)).await;
    for (r, outcome) in referrers.iter().zip(outcomes) {
        match outcome? {
            Outcome::Present(listed) => {
                attached.pushed.push((r.artifact_type.clone(), r.manifest.digest.clone()));
                if !listed {
                    present.push(r);
                }
            }
            Outcome::Pushed(d, indexed) => {
                attached.pushed.push((r.artifact_type.clone(), d));
                if !indexed {
                    unindexed.push(r);
                }
            }
            Outcome::Refused(why) => attached.skipped.push(format!("{} ({why})", r.artifact_type)),
        }
    }
    let mut known: Vec<&Digest> = present.iter().map(|r| &r.subject).collect();
    known.sort();
    known.dedup();
    for subject in known {
        if !listed_by_api(s, repo, subject).await? {
            unindexed.extend(present.iter().copied().filter(|r| &r.subject == subject));
        }
    }
    let mut subjects: Vec<&Digest> = unindexed.iter().map(|r| &r.subject).collect();
    subjects.sort();
    subjects.dedup();
    for subject in subjects {
        let ours: Vec<&Referrer> = unindexed.iter().copied().filter(|r| &r.subject == subject).collect();
        // The image and its documents are in: an index that will not keep our entries is
        // said, not a failed push.
        if let Err(e) = tag_schema(s, repo, subject, &ours).await {
            let why = crate::redact::redact(e.to_string().lines().next().unwrap_or_default());
            attached.skipped.push(format!("index sha256-{} ({why})", &subject.hex()[..12]));
            // Pushed but listed nowhere: no reader finds them.
            attached.pushed.retain(|(_, d)| !ours.iter().any(|r| &r.manifest.digest == d));
        }
    }
    Ok(attached)
}

/// `HEAD /v2/<repo>/manifests/<digest>`: whether the manifest is there already.
async fn manifest_exists(s: &Session, repo: &str, digest: &Digest) -> Result<bool, Error> {
    let url = s.url(&format!("/v2/{repo}/manifests/{digest}"));
    let mut headers = reqwest::header::HeaderMap::new();
    let accept = crate::image::MEDIA_TYPE_OCI_MANIFEST;
    headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static(accept));
    let ok = [reqwest::StatusCode::OK, reqwest::StatusCode::NOT_FOUND];
    let scopes = [auth::push_scope(repo)];
    let resp = s.request(reqwest::Method::HEAD, &url, &scopes, headers, super::transport::Body::Empty, &ok).await?;
    Ok(resp.status() == reqwest::StatusCode::OK)
}

/// Whether the registry has the referrers API (`GET /v2/<repo>/referrers/<subject>`
/// answers 200): it then lists what points at the subject by itself.
async fn listed_by_api(s: &Session, repo: &str, subject: &Digest) -> Result<bool, Error> {
    if s.referrers_api.get() == Some(&false) {
        return Ok(false);
    }
    let url = s.url(&format!("/v2/{repo}/referrers/{subject}"));
    let scopes = [auth::pull_scope(repo)];
    let ok = [reqwest::StatusCode::OK];
    match s.request(reqwest::Method::GET, &url, &scopes, Default::default(), super::transport::Body::Empty, &ok).await {
        Ok(_) => Ok(true),
        Err(e) if no_api(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The referrers tag schema: merges `ours` into the index under `sha256-<hex>`. A tag that
/// holds something else than an index is not written over: it is said what it holds.
async fn tag_schema(s: &Session, repo: &str, subject: &Digest, ours: &[&Referrer]) -> Result<(), Error> {
    let tag = fallback_tag(subject);
    let scopes = [auth::push_scope(repo)];
    let url = s.url(&format!("/v2/{repo}/manifests/{tag}"));
    let bad = |message: String| Error::Protocol {
        registry: s.registry.clone(),
        request: super::transport::request(&reqwest::Method::PUT, url.as_str()),
        message,
    };
    let not_an_index = |what: String| {
        bad(format!(
            "the referrers tag {tag} holds {what}, not an index of referrers, so it was not written over; delete that \
             tag, or push to a registry with the referrers API"
        ))
    };
    for _ in 0..TAG_SCHEMA_ATTEMPTS {
        let existing = match current(s, repo, &tag).await? {
            Found::Index(index) => index,
            Found::Other(what) => return Err(not_an_index(what)),
        };
        let Some(merged) = merged(existing, ours) else { return Ok(()) };
        let index = Blob::from_bytes(MEDIA_TYPE_OCI_INDEX, canonical_json(&merged));
        upload::put_manifest(s, repo, &scopes, &tag, &index).await?;
        // Read again: a concurrent writer may have replaced it between our read and write.
        match current(s, repo, &tag).await? {
            Found::Index(now) if merged_entries_present(&now, ours) => return Ok(()),
            Found::Index(_) => {}
            Found::Other(what) => return Err(not_an_index(format!("{what} after our write"))),
        }
    }
    Err(bad(format!("the referrers index kept losing our entries to another writer ({TAG_SCHEMA_ATTEMPTS} tries)")))
}

/// What a referrers tag holds.
enum Found {
    /// An index (an empty one when there is none yet).
    Index(Value),
    /// Something else, described.
    Other(String),
}

/// The index under `tag`, or an empty one when there is none yet.
async fn current(s: &Session, repo: &str, tag: &str) -> Result<Found, Error> {
    let bytes = match pull::get_manifest(s, repo, tag).await {
        Ok(m) => m.bytes,
        Err(e) if e.status() == Some(404) => return Ok(Found::Index(empty())),
        Err(e) => return Err(e),
    };
    // An image index (a manifest list, or entries for platforms) is somebody's image.
    let of_images = |v: &Value| {
        v.get("mediaType").and_then(Value::as_str).is_some_and(|t| t != MEDIA_TYPE_OCI_INDEX)
            || v["manifests"].as_array().is_some_and(|m| m.iter().any(|e| e.get("platform").is_some()))
    };
    Ok(match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v.get("manifests").is_some_and(Value::is_array) && !of_images(&v) => Found::Index(v),
        Ok(v) if v.get("manifests").is_some_and(Value::is_array) => {
            Found::Other("an index of images (its entries name platforms, or it is a Docker manifest list)".into())
        }
        Ok(v) => Found::Other(match v.get("mediaType").and_then(Value::as_str) {
            Some(kind) => format!("a manifest of type {}", crate::redact::server_text(kind, 100)),
            None => "JSON that is not an index".into(),
        }),
        Err(_) => Found::Other(format!("{} bytes that are not JSON", bytes.len())),
    })
}

fn empty() -> Value {
    json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": []})
}

fn digests(index: &Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["digest"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn merged_entries_present(index: &Value, ours: &[&Referrer]) -> bool {
    let have = digests(index);
    ours.iter().all(|r| have.iter().any(|d| d == r.manifest.digest.as_str()))
}

/// `existing` with every one of `ours` it lacks appended, each once; `None` when it has
/// them all already (nothing to write).
fn merged(mut existing: Value, ours: &[&Referrer]) -> Option<Value> {
    if merged_entries_present(&existing, ours) {
        return None;
    }
    let have = digests(&existing);
    let list = existing["manifests"].as_array_mut().expect("checked to be an array");
    let mut seen: Vec<String> = have;
    for r in ours {
        let d = r.manifest.digest.to_string();
        if !seen.contains(&d) {
            list.push(r.descriptor());
            seen.push(d);
        }
    }
    existing["schemaVersion"] = json!(2);
    existing["mediaType"] = json!(MEDIA_TYPE_OCI_INDEX);
    Some(existing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::referrer::ARTIFACT_SPDX;

    #[test]
    fn merging_keeps_other_entries_and_adds_ours_once() {
        let subject = Blob::from_bytes(crate::image::MEDIA_TYPE_OCI_MANIFEST, b"{}".to_vec());
        let a = Referrer::new(ARTIFACT_SPDX, b"a".to_vec(), &subject, "t");
        let b = Referrer::new(ARTIFACT_SPDX, b"b".to_vec(), &subject, "t");
        let other = json!({"mediaType": "x", "digest": format!("sha256:{}", "1".repeat(64)), "size": 1});
        let existing = json!({"schemaVersion": 2, "manifests": [other.clone(), a.descriptor()]});
        let out = merged(existing, &[&a, &b]).unwrap();
        assert_eq!(out["manifests"].as_array().unwrap().len(), 3);
        assert_eq!(out["manifests"][0], other);
        assert!(merged(out, &[&a, &b]).is_none(), "nothing to write the second time");
    }
}
