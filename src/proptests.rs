//! Property tests for the parsers that read input we do not control: image references,
//! `WWW-Authenticate` challenges, token replies, the `containerize` table and its values,
//! and the ELF static check. Each must answer on any input, never panic; where a printed
//! form exists, printing and parsing again gives the same value.
//!
//! No regression files are written (`failure_persistence: None`): a failure prints its
//! minimal input, which belongs in a plain `#[test]` next to the parser.

use crate::digest::Digest;
use crate::elf;
use crate::reference::{self, check_tag, Reference};
use crate::registry::auth::{parse_challenges, parse_token_reply, Challenge};
use crate::settings::{self, CaCertificates, Include, Origin, Settings, KEYS};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `cases` runs, and no regression file written into the source tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Any string: arbitrary Unicode, control characters and NUL included.
fn any_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![any::<String>(), vec(any::<char>(), 0..32).prop_map(String::from_iter)]
}

/// Strings over `alphabet`, so that a parser's delimiters meet each other often.
fn text_over(alphabet: &str, max: usize) -> impl Strategy<Value = String> + Clone {
    let chars: Vec<char> = alphabet.chars().collect();
    vec(select(chars), 0..=max).prop_map(String::from_iter)
}

/// JSON trees whose object keys are often one of `keys`.
fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Not finite becomes null, as JSON has no such numbers.
        any::<f64>().prop_map(Value::from),
        any_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 6, move |inner| {
        let key = prop_oneof![select(keys).prop_map(String::from), any_text()];
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

// ---------------------------------------------------------------------------------------
// Image references

/// The characters references are made of, and the brackets of an IPv6 host.
const REFERENCE_ALPHABET: &str = "abczABCZ0189._:/@-[]";

/// A registry host: `localhost`, a dotted name, a name or dotted name with a port, `[::1]`.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        select(&["localhost", "127.0.0.1:5000", "ghcr.io", "[::1]:5000", "registry-1.docker.io"][..])
            .prop_map(String::from),
        ("[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z0-9]{1,6}){1,2}", option::of(any::<u16>()))
            .prop_map(|(h, port)| port.map_or(h.clone(), |p| format!("{h}:{p}"))),
        ("[a-z0-9]{1,8}", any::<u16>()).prop_map(|(h, p)| format!("{h}:{p}")),
    ]
}

/// One repository component: lowercase runs joined by `.`, `_`, `__` or dashes.
fn component() -> impl Strategy<Value = String> {
    let separator = select(&[".", "_", "__", "-", "--", "---"][..]);
    ("[a-z0-9]{1,6}", vec((separator, "[a-z0-9]{1,6}"), 0..3))
        .prop_map(|(first, rest)| rest.into_iter().fold(first, |name, (sep, run)| name + sep + &run))
}

/// A reference from the grammar: optional host, 1-3 components, optional tag and digest.
fn valid_reference() -> impl Strategy<Value = Reference> {
    (
        option::of(host()),
        vec(component(), 1..=3),
        option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"),
        option::of("[0-9a-f]{64}"),
    )
        // Without a host, a first component with a '.' is read as one, as Docker does.
        .prop_filter("a first component that looks like a host", |(host, path, _, _)| {
            host.is_some() || path.len() == 1 || !(path[0].contains('.') || path[0] == "localhost")
        })
        .prop_map(|(registry, path, tag, hex)| Reference {
            registry,
            repository: path.join("/"),
            tag,
            digest: hex.map(|hex| Digest::parse(&format!("sha256:{hex}")).expect("64 lowercase hex")),
        })
}

/// A valid reference with a few characters inserted, removed or replaced.
fn mutated_reference() -> impl Strategy<Value = String> {
    let edit = (any::<Index>(), 0..3u8, select(REFERENCE_ALPHABET.chars().collect::<Vec<_>>()));
    (valid_reference(), vec(edit, 1..4)).prop_map(|(r, edits)| {
        let mut chars: Vec<char> = r.to_string().chars().collect();
        for (at, op, c) in edits {
            match op {
                0 => chars.insert(at.index(chars.len() + 1), c),
                1 if !chars.is_empty() => {
                    chars.remove(at.index(chars.len()));
                }
                _ if !chars.is_empty() => {
                    let i = at.index(chars.len());
                    chars[i] = c;
                }
                _ => {}
            }
        }
        chars.into_iter().collect()
    })
}

/// What the tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` accepts, written independently.
fn tag_in_grammar(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    (1..=128).contains(&tag.len()) && tag.starts_with(word) && tag.chars().all(|c| word(c) || c == '.' || c == '-')
}

proptest! {
    #![proptest_config(config(256))]

    /// A reference built from the grammar prints to a string that parses back to it.
    #[test]
    fn reference_round_trips_through_display(r in valid_reference()) {
        prop_assert_eq!(Reference::parse(&r.to_string()), Ok(r));
    }

    /// Any string is parsed or refused with the input named. One that parses prints back
    /// exactly as written (nothing is normalised) and re-parses to an equal value, with a
    /// tag the tag grammar accepts.
    #[test]
    fn reference_parse_answers_any_string(
        s in prop_oneof![any_text(), text_over(REFERENCE_ALPHABET, 40), mutated_reference()],
    ) {
        match Reference::parse(&s) {
            Ok(r) => {
                let printed = r.to_string();
                prop_assert_eq!(&printed, &s);
                prop_assert_eq!(Reference::parse(&printed), Ok(r.clone()));
                prop_assert!(r.tag.as_deref().is_none_or(tag_in_grammar), "tag of {:?}", r);
                prop_assert!(!r.repository.is_empty() && r.name().len() <= 255, "{:?}", r);
            }
            Err(reference::Error::Invalid { input, .. }) => prop_assert_eq!(input, s),
        }
    }

    /// `check_tag` accepts exactly the tag grammar, over any string and over long strings of
    /// the tag alphabet; and `app:TAG` parses exactly when the tag is accepted.
    #[test]
    fn check_tag_accepts_exactly_the_grammar(
        tag in prop_oneof![
            any_text(),
            text_over("aZ09_.-!:/@ é", 20),
            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
            "[A-Za-z0-9_.-]{120,140}",
        ],
    ) {
        let accepted = check_tag(&tag).is_ok();
        prop_assert_eq!(accepted, tag_in_grammar(&tag));
        if !tag.contains([':', '/', '@']) {
            let parsed = Reference::parse(&format!("app:{tag}"));
            prop_assert_eq!(parsed.is_ok(), accepted);
            if let Ok(r) = parsed {
                prop_assert_eq!(r.tag, Some(tag));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// WWW-Authenticate challenges

/// A parameter value as a server may write it.
#[derive(Clone, Debug)]
enum ParamValue {
    /// Any text, printed in quotes with `\` and `"` escaped by a backslash.
    Quoted(String),
    /// A token: no quotes, spaces or commas.
    Token(String),
}

impl ParamValue {
    fn value(&self) -> &str {
        match self {
            ParamValue::Quoted(v) | ParamValue::Token(v) => v,
        }
    }

    fn printed(&self) -> String {
        match self {
            ParamValue::Quoted(v) => format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
            ParamValue::Token(t) => t.clone(),
        }
    }
}

/// A scheme in any letter case and its parameters (keys in any case, maybe repeated).
fn challenge() -> impl Strategy<Value = (String, Vec<(String, ParamValue)>)> {
    let value = prop_oneof![
        prop_oneof![any_text(), text_over("ab ,=\"\\\t", 16)].prop_map(ParamValue::Quoted),
        "[A-Za-z0-9._~+/:=-]{1,16}".prop_map(ParamValue::Token),
    ];
    ("[Bb][Aa][Ss][Ii][Cc]|[Bb][Ee][Aa][Rr][Ee][Rr]", vec(("[a-zA-Z][a-zA-Z0-9_-]{0,8}", value), 0..5))
}

proptest! {
    #![proptest_config(config(256))]

    /// Challenges printed as `Scheme k="v",k2=token` and joined by `, ` parse back to the
    /// same list: lowercased schemes and keys, values exact (escapes undone), and the last
    /// value of a repeated key.
    #[test]
    fn challenges_round_trip(list in vec(challenge(), 1..4)) {
        let header = list
            .iter()
            .map(|(scheme, params)| {
                let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", v.printed())).collect();
                if params.is_empty() { scheme.clone() } else { format!("{scheme} {}", params.join(",")) }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let expected: Vec<Challenge> = list
            .iter()
            .map(|(scheme, params)| Challenge {
                scheme: scheme.to_ascii_lowercase(),
                params: params.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.value().to_string())).collect(),
            })
            .collect();
        prop_assert_eq!(parse_challenges(&header), expected, "header {:?}", header);
    }

    /// Any header value gives challenges whose schemes and keys are non-empty lowercase
    /// words without the separators ` `, `,` and `=`.
    #[test]
    fn challenges_answer_any_string(header in prop_oneof![any_text(), text_over("Bearer basic realm=\",\\ \t", 48)]) {
        for c in parse_challenges(&header) {
            for word in std::iter::once(&c.scheme).chain(c.params.keys()) {
                prop_assert!(!word.is_empty() && !word.contains([' ', ',', '=']), "{:?} in {:?}", word, header);
                prop_assert_eq!(word, &word.to_ascii_lowercase());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Token replies

const TOKEN_KEYS: &[&str] = &["token", "access_token", "expires_in"];

/// Where a reply's token comes from: a non-empty `token`, else a non-empty `access_token`.
fn token_in(reply: &Value) -> Option<&str> {
    let text = |key: &str| reply.get(key).and_then(Value::as_str).filter(|t| !t.is_empty());
    text("token").or_else(|| text("access_token"))
}

/// An `expires_in` as servers send it: any integer, any float, or a string of either.
fn expires_in() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..=200_000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Value::String(f.to_string())),
        any::<i64>().prop_map(|n| Value::String(format!(" {n} "))),
        any_text().prop_map(Value::String),
    ]
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A reply with a token, whose `expires_in` is `n`.
fn reply_with(token: &str, n: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"token": token, "expires_in": n})).expect("a Value serialises")
}

proptest! {
    #![proptest_config(config(256))]

    /// Any bytes, JSON-looking or not, are refused or give a non-empty token and a lifetime
    /// of at most a day.
    #[test]
    fn token_reply_answers_any_bytes(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..128),
            text_over("{}[]\":, 0123456789.eE+-tokenaces_ixp", 64).prop_map(String::into_bytes),
        ],
    ) {
        if let Ok((token, lifetime)) = parse_token_reply(&bytes) {
            prop_assert!(!token.is_empty());
            prop_assert!(lifetime <= DAY, "lifetime {:?}", lifetime);
        }
    }

    /// Any JSON value gives a token exactly when it is an object with a non-empty string
    /// `token` or `access_token` (in that order), with a lifetime of at most a day.
    #[test]
    fn token_reply_answers_any_json(reply in json_value(TOKEN_KEYS)) {
        let bytes = serde_json::to_vec(&reply).expect("a Value serialises");
        match (parse_token_reply(&bytes), token_in(&reply)) {
            (Ok((token, lifetime)), Some(expected)) => {
                prop_assert_eq!(token, expected);
                prop_assert!(lifetime <= DAY, "lifetime {:?}", lifetime);
            }
            (Err(_), None) => {}
            (got, expected) => prop_assert!(false, "{:?} for {} (expected token {:?})", got, reply, expected),
        }
    }

    /// `{"token": T, "expires_in": N}` gives T back and a lifetime of at most a day, for N
    /// any integer, float or string: a whole N up to a day is taken exactly, a larger one
    /// is clamped to a day, and a negative or zero one gives the 60 s default.
    #[test]
    fn token_reply_lifetime_is_at_most_a_day(
        token in any_text().prop_filter("a token is not empty", |t| !t.is_empty()),
        n in expires_in(),
    ) {
        let (got, lifetime) = parse_token_reply(&reply_with(&token, &n)).expect("a reply with a token");
        prop_assert_eq!(&got, &token);
        prop_assert!(lifetime <= DAY, "lifetime {:?} for expires_in {}", lifetime, n);
        match (n.as_u64(), n.as_i64()) {
            (Some(secs), _) if (1..=DAY.as_secs()).contains(&secs) => {
                prop_assert_eq!(lifetime, Duration::from_secs(secs))
            }
            (Some(secs), _) if secs > DAY.as_secs() => prop_assert_eq!(lifetime, DAY),
            (_, Some(secs)) if secs <= 0 => prop_assert_eq!(lifetime, Duration::from_secs(60)),
            _ => {}
        }
    }

    /// The lifetime of `{"token": T, "expires_in": N}` is never zero, for N any integer,
    /// float or string. Fails today: a positive N below a nanosecond, e.g. `1e-10` or
    /// `"1e-10"`, gives `Duration::ZERO`, so the token is fetched again for every request.
    #[test]
    fn token_reply_lifetime_is_never_zero(
        token in any_text().prop_filter("a token is not empty", |t| !t.is_empty()),
        n in expires_in(),
    ) {
        let (_, lifetime) = parse_token_reply(&reply_with(&token, &n)).expect("a reply with a token");
        prop_assert!(lifetime > Duration::ZERO, "lifetime {:?} for expires_in {}", lifetime, n);
    }
}

// ---------------------------------------------------------------------------------------
// The containerize table

fn origin(dir: &Path) -> Origin {
    Origin { table: "package.metadata.containerize", manifest: dir.join("Cargo.toml") }
}

/// A package directory with `static/index.html`, the canonical path the checks compare with.
fn package_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::create_dir(dir.path().join("static")).expect("mkdir static");
    std::fs::write(dir.path().join("static/index.html"), "<p>hi</p>").expect("write index.html");
    let canonical = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    (dir, canonical)
}

/// Values near what each key accepts: strings of the characters its checks look at,
/// ports, arrays of them, include tables, booleans and `"auto"`.
fn near_setting_value() -> impl Strategy<Value = Value> {
    let text = text_over("/.0123456789:tcpudsTCP aZ=\0rootn-", 14);
    let item = prop_oneof![text.clone().prop_map(Value::String), (0u64..70_000).prop_map(Value::from)];
    let include =
        (text_over("./staticx", 10), text_over("/.a", 8)).prop_map(|(from, to)| json!({"from": from, "to": to}));
    prop_oneof![
        text.clone().prop_map(Value::String),
        vec(item, 0..4).prop_map(Value::Array),
        vec(include, 0..3).prop_map(Value::Array),
        btree_map(text.clone(), text, 0..3).prop_map(|m| json!(m)),
        any::<bool>().prop_map(Value::Bool),
        Just(json!("auto")),
    ]
}

/// An object whose keys are mostly among `KEYS`, with arbitrary or near-valid values.
fn settings_table() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![6 => select(KEYS).prop_map(String::from), 1 => any_text()];
    let value = prop_oneof![json_value(KEYS), near_setting_value()];
    btree_map(key, value, 0..5).prop_map(|m| m.into_iter().collect())
}

/// Checks what a table that parsed was read to: every key known, every field set exactly
/// when its key is present and holding the value given, normalised values in normal form.
fn check_parsed(table: &Map<String, Value>, s: &Settings, base: &Path) -> Result<(), TestCaseError> {
    let strings = |key: &str| {
        table.get(key).map(|v| v.as_array().expect("an array").iter().map(|x| x.as_str().unwrap().to_string()))
    };
    let string_table = |key: &str| -> BTreeMap<String, String> {
        table.get(key).map_or_else(BTreeMap::new, |v| {
            v.as_object().expect("a table").iter().map(|(k, x)| (k.clone(), x.as_str().unwrap().to_string())).collect()
        })
    };
    let text = |key: &str| table.get(key).map(|v| v.as_str().expect("a string").to_string());
    prop_assert!(table.keys().all(|k| KEYS.contains(&k.as_str())), "an unknown key was accepted");
    prop_assert_eq!(&s.args, &strings("args").map(Iterator::collect));
    prop_assert_eq!(s.entrypoint, table.get("entrypoint").map(|v| v.as_bool().expect("a boolean")));
    prop_assert_eq!(&s.env, &string_table("env"));
    for (k, v) in &s.env {
        prop_assert_eq!(settings::env_var(k, v), Ok(()));
    }
    prop_assert_eq!(&s.labels, &string_table("labels"));
    prop_assert_eq!(&s.annotations, &string_table("annotations"));
    for (k, v) in s.labels.iter().chain(&s.annotations) {
        prop_assert_eq!(settings::metadata_pair(k, v), Ok(()));
    }
    prop_assert_eq!(s.ports.as_ref().map(Vec::len), table.get("ports").map(|v| v.as_array().unwrap().len()));
    for p in s.ports.iter().flatten() {
        prop_assert_eq!(settings::port(p), Ok(p.clone()), "a port is not in normal form");
    }
    prop_assert_eq!(&s.user, &text("user"));
    match (&s.workdir, text("workdir")) {
        (Some(w), Some(given)) => {
            prop_assert_eq!(settings::workdir(&given), Ok(w.clone()));
            prop_assert_eq!(settings::workdir(w), Ok(w.clone()), "the workdir is not in normal form");
        }
        (None, None) => {}
        (w, given) => prop_assert!(false, "workdir {:?} from {:?}", w, given),
    }
    prop_assert_eq!(s.include.as_ref().map(Vec::len), table.get("include").map(|v| v.as_array().unwrap().len()));
    for inc in s.include.iter().flatten() {
        prop_assert!(inc.from.starts_with(base), "{:?} is outside {:?}", inc.from, base);
        prop_assert!(inc.to != "/" && settings::workdir(&inc.to) == Ok(inc.to.clone()), "destination {:?}", inc.to);
    }
    let ca = table.get("ca-certificates").map(|v| match v {
        Value::Bool(true) => Some(CaCertificates::Always),
        Value::Bool(false) => Some(CaCertificates::Never),
        Value::String(a) if a == "auto" => Some(CaCertificates::Auto),
        _ => None,
    });
    prop_assert_eq!(s.ca_certificates.map(Some), ca);
    prop_assert_eq!(&s.tags, &strings("tags").map(Iterator::collect));
    prop_assert!(s.tags.iter().flatten().all(|t| tag_in_grammar(t)));
    prop_assert_eq!(&s.repository, &text("repository"));
    if let Some(r) = &s.repository {
        let r = Reference::parse(r).expect("the repository parses");
        prop_assert!(r.tag.is_none() && r.digest.is_none());
    }
    prop_assert_eq!(&s.platforms, &strings("platforms").map(Iterator::collect));
    Ok(())
}

/// An absolute image path spelled with doubled and trailing slashes, and its normal form.
fn image_path(min_parts: usize) -> impl Strategy<Value = (String, String)> {
    (vec(("[A-Za-z0-9_ -][A-Za-z0-9_. -]{0,7}", 1..3usize), min_parts..4), 0..3usize).prop_map(|(parts, trailing)| {
        let mut text: String = parts.iter().map(|(part, slashes)| "/".repeat(*slashes) + part).collect();
        text.push_str(&"/".repeat(trailing));
        if text.is_empty() {
            text.push('/');
        }
        let normal = format!("/{}", parts.into_iter().map(|(part, _)| part).collect::<Vec<_>>().join("/"));
        (text, normal)
    })
}

/// A port as a number, a string, or `N/proto` in any case with spaces around N; and the
/// `N/proto` it means.
fn port_spelling() -> impl Strategy<Value = (Value, String)> {
    (1..=u16::MAX, 0..4u8, select(&["tcp", "udp", "sctp", "TCP", "Udp", "sCtP"][..])).prop_map(|(n, how, proto)| {
        let lower = proto.to_ascii_lowercase();
        match how {
            0 => (json!(n), format!("{n}/tcp")),
            1 => (json!(n.to_string()), format!("{n}/tcp")),
            2 => (json!(format!("{n}/{proto}")), format!("{n}/{lower}")),
            _ => (json!(format!(" {n} /{proto}")), format!("{n}/{lower}")),
        }
    })
}

/// `root`, `nonroot`, or numeric ids, each part either.
fn valid_user() -> impl Strategy<Value = String> {
    let part =
        prop_oneof![select(&["root", "nonroot"][..]).prop_map(String::from), any::<u32>().prop_map(|n| n.to_string())];
    (part.clone(), option::of(part)).prop_map(|(u, g)| g.map_or(u.clone(), |g| format!("{u}:{g}")))
}

fn without_nul() -> impl Strategy<Value = String> {
    any_text().prop_map(|s| s.replace('\0', ""))
}

/// A label or annotation key: any text but empty, without NUL.
fn metadata_key() -> impl Strategy<Value = String> {
    without_nul().prop_filter("a key is not empty", |k| !k.is_empty())
}

/// A valid table with a random subset of the keys, and the settings it must parse to.
/// `base` is the canonical package directory of [`package_dir`].
fn valid_settings(base: PathBuf) -> impl Strategy<Value = (Map<String, Value>, Settings)> {
    let include_from = select(
        &[("static", "static"), ("./static/", "static"), ("static//index.html", "static/index.html"), (".", ".")][..],
    );
    let first = (
        option::of(vec(without_nul(), 0..3)),
        option::of(any::<bool>()),
        option::of(btree_map("[A-Za-z_][A-Za-z0-9_.]{0,8}", without_nul(), 0..3)),
        option::of(vec(port_spelling(), 0..3)),
        option::of(valid_user()),
        option::of(image_path(0)),
        option::of(btree_map(metadata_key(), without_nul(), 0..3)),
    );
    let second = (
        option::of(btree_map(metadata_key(), without_nul(), 0..3)),
        option::of(vec((include_from, image_path(1)), 0..3)),
        option::of(0..3u8),
        option::of(vec("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", 0..3)),
        option::of(valid_reference().prop_map(|r| Reference { tag: None, digest: None, ..r }.to_string())),
        option::of(vec(
            select(&["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386", "LINUX/X86_64", " linux/arm "][..]),
            0..3,
        )),
    );
    (first, second).prop_map(move |(first, second)| {
        let (args, entrypoint, env, ports, user, workdir, labels) = first;
        let (annotations, include, ca, tags, repository, platforms) = second;
        let mut table = Map::new();
        let mut set = |key: &str, v: Value| table.insert(key.to_string(), v);
        let s = Settings {
            args: args.inspect(|a| _ = set("args", json!(a))),
            entrypoint: entrypoint.inspect(|e| _ = set("entrypoint", json!(e))),
            env: env.inspect(|e| _ = set("env", json!(e))).unwrap_or_default(),
            ports: ports.map(|p| {
                set("ports", p.iter().map(|(v, _)| v.clone()).collect());
                p.into_iter().map(|(_, normal)| normal).collect()
            }),
            user: user.inspect(|u| _ = set("user", json!(u))),
            workdir: workdir.map(|(text, normal)| {
                set("workdir", json!(text));
                normal
            }),
            labels: labels.inspect(|l| _ = set("labels", json!(l))).unwrap_or_default(),
            annotations: annotations.inspect(|a| _ = set("annotations", json!(a))).unwrap_or_default(),
            include: include.map(|list| {
                set("include", list.iter().map(|((from, _), (to, _))| json!({"from": from, "to": to})).collect());
                list.into_iter()
                    .map(|((_, shown), (_, to))| Include {
                        from: if shown == "." { base.clone() } else { base.join(shown) },
                        shown: shown.to_string(),
                        to,
                    })
                    .collect()
            }),
            ca_certificates: ca.map(|which| {
                let (v, ca) = [
                    (json!(true), CaCertificates::Always),
                    (json!(false), CaCertificates::Never),
                    (json!("auto"), CaCertificates::Auto),
                ][usize::from(which)]
                .clone();
                set("ca-certificates", v);
                ca
            }),
            // Files to read: tested in `image::base` and tests/settings.rs.
            extra_ca_certificates: None,
            init: None,
            tags: tags.inspect(|t| _ = set("tags", json!(t))),
            repository: repository.inspect(|r| _ = set("repository", json!(r))),
            platforms: platforms.map(|p| {
                set("platforms", json!(p));
                p.into_iter().map(String::from).collect()
            }),
            target: None,
            base: None,
            sbom: None,
            provenance: None,
            auditable: None,
        };
        (table, s)
    })
}

/// Any JSON value is read or refused; one that is not a table is refused as such.
#[test]
fn settings_parse_answers_any_json() {
    let (dir, base) = package_dir();
    proptest!(config(256), |(table in json_value(KEYS))| {
        let got = settings::parse(&table, &origin(dir.path()), dir.path());
        match (&table, got) {
            (Value::Object(map), Ok(s)) => check_parsed(map, &s, &base)?,
            (Value::Object(_), Err(_)) => {}
            (_, Err(settings::Error::WrongType { key, .. })) => prop_assert_eq!(key, "containerize"),
            (_, got) => prop_assert!(false, "{:?} for a table that is not one", got),
        }
    });
}

/// A table with keys from `KEYS` (and a few unknown ones) and arbitrary or near-valid
/// values is read or refused; what is read holds exactly what the table gave.
#[test]
fn settings_parse_answers_tables_of_known_keys() {
    let (dir, base) = package_dir();
    proptest!(config(256), |(table in settings_table())| {
        if let Ok(s) = settings::parse(&Value::Object(table.clone()), &origin(dir.path()), dir.path()) {
            check_parsed(&table, &s, &base)?;
        }
    });
}

/// A valid table of any subset of the keys parses to the settings it spells, normalised:
/// ports as `N/proto`, paths without doubled or trailing slashes, includes resolved.
#[test]
fn settings_parse_reads_valid_tables() {
    let (dir, base) = package_dir();
    proptest!(config(256), |((table, expected) in valid_settings(base.clone()))| {
        match settings::parse(&Value::Object(table.clone()), &origin(dir.path()), dir.path()) {
            Ok(s) => prop_assert_eq!(s, expected),
            Err(e) => prop_assert!(false, "{} for {}", e, Value::Object(table)),
        }
    });
}

proptest! {
    #![proptest_config(config(256))]

    /// Any string is refused or read as `N/proto` (N from 1 to 65535 without sign or leading
    /// zeros, proto tcp, udp or sctp), a form that reads back unchanged.
    #[test]
    fn port_answers_any_string(text in prop_oneof![any_text(), text_over("0123456789/ tcpudsTCP+-", 12)]) {
        if let Ok(p) = settings::port(&text) {
            let (n, proto) = p.split_once('/').expect("N/proto");
            prop_assert!(n.parse::<u16>().is_ok_and(|num| num > 0 && num.to_string() == n), "{:?}", p);
            prop_assert!(["tcp", "udp", "sctp"].contains(&proto), "{:?}", p);
            prop_assert_eq!(settings::port(&p), Ok(p.clone()));
        }
    }

    /// Every spelling of a valid port reads as its `N/proto` form.
    #[test]
    fn port_reads_valid_spellings((spelled, normal) in port_spelling()) {
        let text = match spelled {
            Value::String(s) => s,
            n => n.to_string(),
        };
        prop_assert_eq!(settings::port(&text), Ok(normal));
    }

    /// A user is accepted as given exactly when each part of `UID[:GID]` is a number or a
    /// user the image knows.
    #[test]
    fn user_accepts_ids_and_known_names(
        text in prop_oneof![any_text(), text_over("0129:rootn -", 14), valid_user()],
    ) {
        let known = |part: &str| part == "root" || part == "nonroot" || part.parse::<u32>().is_ok();
        let (u, g) = text.split_once(':').unwrap_or((&text, ""));
        let valid = known(u) && (g.is_empty() || known(g));
        match settings::user(&text) {
            Ok(u) => {
                prop_assert!(valid, "{:?} accepted", text);
                prop_assert_eq!(u, text);
            }
            Err(_) => prop_assert!(!valid, "{:?} refused", text),
        }
    }

    /// A workdir is accepted exactly when absolute, without NUL and without `.` or `..`
    /// components; the result is its normal form (same components, single slashes), which
    /// is accepted unchanged.
    #[test]
    fn workdir_normalises_absolute_paths(
        text in prop_oneof![any_text(), text_over("/.a\0", 12), image_path(0).prop_map(|(text, _)| text)],
    ) {
        let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
        let valid = text.starts_with('/') && !text.contains('\0') && !parts.iter().any(|p| *p == "." || *p == "..");
        match settings::workdir(&text) {
            Ok(w) => {
                prop_assert!(valid, "{:?} accepted", text);
                prop_assert_eq!(&w, &format!("/{}", parts.join("/")));
                prop_assert_eq!(settings::workdir(&w), Ok(w.clone()));
            }
            Err(_) => prop_assert!(!valid, "{:?} refused", text),
        }
    }

    /// An environment variable is accepted exactly when its name is not empty and holds no
    /// `=`, and neither name nor value holds NUL.
    #[test]
    fn env_var_accepts_exactly_valid_variables(
        name in prop_oneof![any_text(), text_over("A=\0_", 4)],
        value in prop_oneof![any_text(), text_over("a=\0", 4)],
    ) {
        let valid = !name.is_empty() && !name.contains(['=', '\0']) && !value.contains('\0');
        prop_assert_eq!(settings::env_var(&name, &value).is_ok(), valid);
    }
}

// ---------------------------------------------------------------------------------------
// The ELF static check

const ELF_MAGIC: &[u8] = b"\x7fELF";
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
/// Where the tiny ELFs are loaded.
const BASE: u64 = 0x40_0000;
const INTERPRETER: &str = "/lib/ld-musl-x86_64.so.1";

/// Writes `bytes` to `path` and runs the check on that file.
fn check_file(path: &Path, bytes: &[u8]) -> Result<(), elf::Error> {
    std::fs::write(path, bytes).expect("write the temp file");
    elf::check_static(path)
}

/// The check's answer without the path: static, dynamic with what, not ELF, unreadable.
fn verdict(result: &Result<(), elf::Error>) -> String {
    match result {
        Ok(()) => "static".into(),
        Err(elf::Error::NotStatic { interpreter, needed, .. }) => format!("dynamic {interpreter:?} {needed:?}"),
        Err(elf::Error::NotElf { reason, .. }) => format!("not ELF: {reason}"),
        Err(elf::Error::Read { source, .. }) => format!("unreadable: {source}"),
    }
}

/// How much is asked of the check on a damaged ELF.
#[derive(Clone, Copy, Debug)]
enum Judge {
    /// An answer, Ok or Err: no panic.
    Answers,
    /// goblin's full parser's answer, which the check falls back to: where goblin parses
    /// the file, the check calls it static exactly when goblin finds no `PT_INTERP` and no
    /// `DT_NEEDED` library, whether the check's fast path answered or not.
    AgreesWithGoblin,
}

impl Judge {
    /// Checks `bytes` in a file of their own.
    fn check(self, path: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
        let result = check_file(path, bytes);
        if let (Judge::AgreesWithGoblin, Ok(parsed)) = (self, goblin::elf::Elf::parse(bytes)) {
            let dynamic =
                parsed.program_headers.iter().any(|ph| ph.p_type == PT_INTERP) || !parsed.libraries.is_empty();
            let agrees = match &result {
                Ok(()) => !dynamic,
                Err(elf::Error::NotStatic { .. }) => dynamic,
                Err(_) => false,
            };
            prop_assert!(agrees, "the check says {} where goblin finds {:?}", verdict(&result), parsed.libraries);
        }
        Ok(())
    }
}

/// Appends the low `width` bytes of `value` in the file's byte order.
fn put(out: &mut Vec<u8>, value: u64, width: usize, big: bool) {
    let mut field = value.to_le_bytes()[..width].to_vec();
    if big {
        field.reverse();
    }
    out.extend_from_slice(&field);
}

/// The fields of an ELF file header after `e_ident` that the parsers read.
#[derive(Clone, Debug)]
struct FileHeader {
    e_type: u16,
    e_phoff: u64,
    e_shoff: u64,
    e_phentsize: u16,
    e_phnum: u16,
    e_shentsize: u16,
    e_shnum: u16,
    e_shstrndx: u16,
}

/// A program header.
#[derive(Clone, Debug)]
struct Segment {
    p_type: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Appends a file header for a 32-bit (`wide` false) or 64-bit ELF in either byte order.
fn write_header(out: &mut Vec<u8>, wide: bool, big: bool, h: &FileHeader) {
    let word = if wide { 8 } else { 4 };
    out.extend_from_slice(ELF_MAGIC);
    out.extend_from_slice(&[if wide { 2 } else { 1 }, if big { 2 } else { 1 }, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    put(out, h.e_type.into(), 2, big);
    put(out, if wide { 62 } else { 3 }, 2, big); // e_machine: x86-64, i386
    put(out, 1, 4, big); // e_version
    put(out, BASE, word, big); // e_entry
    put(out, h.e_phoff, word, big);
    put(out, h.e_shoff, word, big);
    put(out, 0, 4, big); // e_flags
    put(out, if wide { 64 } else { 52 }, 2, big); // e_ehsize
    for field in [h.e_phentsize, h.e_phnum, h.e_shentsize, h.e_shnum, h.e_shstrndx] {
        put(out, field.into(), 2, big);
    }
}

/// Appends a program header (the 32- and 64-bit layouts order the fields differently).
fn write_segment(out: &mut Vec<u8>, wide: bool, big: bool, s: &Segment) {
    let flags = if s.p_type == PT_LOAD { 5 } else { 4 };
    put(out, s.p_type.into(), 4, big);
    if wide {
        put(out, flags, 4, big);
    }
    let word = if wide { 8 } else { 4 };
    for field in [s.offset, s.vaddr, s.vaddr, s.filesz, s.filesz] {
        put(out, field, word, big);
    }
    if !wide {
        put(out, flags, 4, big);
    }
    put(out, if s.p_type == PT_LOAD { 0x1000 } else { 8 }, word, big);
}

/// How a tiny ELF is linked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Linking {
    /// No `PT_DYNAMIC`, no `PT_INTERP`.
    Static,
    /// A `PT_DYNAMIC` without `DT_NEEDED`, no `PT_INTERP`.
    StaticPie,
    /// A `PT_INTERP`, and `DT_NEEDED libc.so`.
    Dynamic,
    /// `DT_NEEDED libc.so` but no `PT_INTERP`, as in a shared library.
    NeedsWithoutInterpreter,
}

impl Linking {
    /// The check's verdict on a tiny ELF linked this way.
    fn verdict(self) -> String {
        match self {
            Linking::Static | Linking::StaticPie => "static".into(),
            Linking::Dynamic => format!("dynamic {:?} {:?}", Some(INTERPRETER), ["libc.so"]),
            Linking::NeedsWithoutInterpreter => format!("dynamic {:?} {:?}", None::<&str>, ["libc.so"]),
        }
    }
}

/// A small well-formed ELF, 32- or 64-bit, in either byte order: one `PT_LOAD` over the
/// whole file; unless static, a `PT_DYNAMIC` with `DT_STRTAB`, `DT_STRSZ` and maybe
/// `DT_NEEDED libc.so`; when dynamic, a `PT_INTERP`.
fn tiny_elf(linking: Linking, wide: bool, big: bool) -> Vec<u8> {
    let (ehsize, phentsize, word) = if wide { (64u64, 56u64, 8usize) } else { (52, 32, 4) };
    let has_dynamic = linking != Linking::Static;
    let has_interp = linking == Linking::Dynamic;
    let phnum = 1 + u64::from(has_dynamic) + u64::from(has_interp);
    let interpreter = if has_interp { format!("{INTERPRETER}\0") } else { String::new() };
    let strtab = b"\0libc.so\0";
    let interp_at = ehsize + phnum * phentsize;
    let strtab_at = interp_at + interpreter.len() as u64;
    let dynamic_at = (strtab_at + strtab.len() as u64).next_multiple_of(8);
    let mut entries = vec![(DT_STRTAB, BASE + strtab_at), (DT_STRSZ, strtab.len() as u64), (DT_NULL, 0)];
    if matches!(linking, Linking::Dynamic | Linking::NeedsWithoutInterpreter) {
        entries.insert(0, (DT_NEEDED, 1));
    }
    let dynamic_len = if has_dynamic { (entries.len() * 2 * word) as u64 } else { 0 };
    let len = dynamic_at + dynamic_len;

    let mut out = Vec::new();
    let header = FileHeader {
        e_type: if linking == Linking::Static { 2 } else { 3 },
        e_phoff: ehsize,
        e_shoff: 0,
        e_phentsize: phentsize as u16,
        e_phnum: phnum as u16,
        e_shentsize: if wide { 64 } else { 40 },
        e_shnum: 0,
        e_shstrndx: 0,
    };
    write_header(&mut out, wide, big, &header);
    let mut segments = vec![Segment { p_type: PT_LOAD, offset: 0, vaddr: BASE, filesz: len }];
    if has_dynamic {
        segments.push(Segment {
            p_type: PT_DYNAMIC,
            offset: dynamic_at,
            vaddr: BASE + dynamic_at,
            filesz: dynamic_len,
        });
    }
    if has_interp {
        let filesz = interpreter.len() as u64;
        segments.push(Segment { p_type: PT_INTERP, offset: interp_at, vaddr: BASE + interp_at, filesz });
    }
    for s in &segments {
        write_segment(&mut out, wide, big, s);
    }
    out.extend_from_slice(interpreter.as_bytes());
    out.extend_from_slice(strtab);
    out.resize(dynamic_at as usize, 0);
    if has_dynamic {
        for (tag, value) in entries {
            put(&mut out, tag, word, big);
            put(&mut out, value, word, big);
        }
    }
    assert_eq!(out.len() as u64, len);
    out
}

/// Offsets and sizes at the edges: zero, small, just below 4 GiB and 2^64, 1 MiB.
fn edgy_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..128u64,
        any::<u64>(),
        (u64::MAX - 128)..=u64::MAX,
        (u64::from(u32::MAX) - 128)..=u64::from(u32::MAX),
        Just(1 << 20),
        Just((1 << 20) + 1),
    ]
}

/// Counts and entry sizes: small, the real sizes of headers, or anything.
fn edgy_u16() -> impl Strategy<Value = u16> {
    prop_oneof![0..8u16, select(&[32u16, 40, 52, 56, 64][..]), any::<u16>(), Just(u16::MAX)]
}

/// A file header with edge values, program headers of the kinds the check looks at, and
/// random bytes after them.
fn elf_with_edgy_header() -> impl Strategy<Value = Vec<u8>> {
    let header = (
        edgy_u16(),
        prop_oneof![edgy_u64(), Just(52), Just(64)],
        edgy_u64(),
        edgy_u16(),
        edgy_u16(),
        edgy_u16(),
        edgy_u16(),
        edgy_u16(),
    )
        .prop_map(|(e_type, e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx)| {
            FileHeader { e_type, e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx }
        });
    let p_type = prop_oneof![select(&[PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_PHDR][..]), any::<u32>()];
    let segment = (p_type, edgy_u64(), edgy_u64(), edgy_u64()).prop_map(|(p_type, offset, vaddr, filesz)| Segment {
        p_type,
        offset,
        vaddr,
        filesz,
    });
    (any::<bool>(), any::<bool>(), header, vec(segment, 0..4), vec(any::<u8>(), 0..256)).prop_map(
        |(wide, big, header, segments, tail)| {
            let mut out = Vec::new();
            write_header(&mut out, wide, big, &header);
            for s in &segments {
                write_segment(&mut out, wide, big, s);
            }
            out.extend_from_slice(&tail);
            out
        },
    )
}

/// Any bytes, and the ELF magic followed by any bytes, give Ok or Err, as goblin's parser
/// would; without the magic, the answer is "not ELF".
#[test]
fn elf_check_answers_any_bytes() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("bin");
    let bytes =
        prop_oneof![vec(any::<u8>(), 0..512), vec(any::<u8>(), 0..512).prop_map(|tail| [ELF_MAGIC, &tail].concat()),];
    proptest!(config(256), |(bytes in bytes)| {
        if !bytes.starts_with(ELF_MAGIC) {
            let result = check_file(&path, &bytes);
            prop_assert!(matches!(result, Err(elf::Error::NotElf { .. })), "{}", verdict(&result));
        }
        Judge::AgreesWithGoblin.check(&path, &bytes)?;
    });
}

/// goblin's full parser, which the check falls back to, answers on ELF headers of both
/// classes and byte orders with edge offsets and counts, and program headers with edge
/// offsets and sizes.
#[test]
fn goblin_answers_edgy_headers() {
    proptest!(config(256), |(bytes in elf_with_edgy_header())| {
        let _ = goblin::elf::Elf::parse(&bytes);
    });
}

/// The check answers on the same edgy headers, as goblin's parser would. Fails today:
/// the fast path adds `e_phoff + e_phnum * e_phentsize` unchecked, so an ELF64 header with
/// `e_phoff` near 2^64 panics with "attempt to add with overflow" (src/elf.rs:59).
#[test]
fn elf_check_answers_edgy_headers() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("bin");
    proptest!(config(256), |(bytes in elf_with_edgy_header())| {
        Judge::AgreesWithGoblin.check(&path, &bytes)?;
    });
}

/// The smallest input of `elf_check_answers_edgy_headers`: a 64-byte ELF64 header alone,
/// `e_phoff` = 2^64 - 1 and one program header of one byte. Fails today as above.
#[test]
fn elf_check_answers_a_program_header_offset_at_the_top() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let header = FileHeader {
        e_type: 2,
        e_phoff: u64::MAX,
        e_shoff: 0,
        e_phentsize: 1,
        e_phnum: 1,
        e_shentsize: 0,
        e_shnum: 0,
        e_shstrndx: 0,
    };
    let mut bytes = Vec::new();
    write_header(&mut bytes, true, false, &header);
    let result = check_file(&dir.path().join("bin"), &bytes);
    assert!(matches!(result, Err(elf::Error::NotElf { .. })), "{}", verdict(&result));
}

/// Runs `cases` cases of tiny ELFs linked as `kinds` (32/64-bit, either byte order):
/// undamaged, each is judged as linked; with a few bytes flipped or the file cut short,
/// the check answers as `judge` asks.
fn damaged_tiny_elves(judge: Judge, kinds: &'static [Linking], cases: u32) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("bin");
    let flips = vec((any::<Index>(), 1..=255u8), 0..6);
    let cut = option::weighted(0.2, any::<Index>());
    proptest!(config(cases), |(linking in select(kinds), wide: bool, big: bool, flips in flips, cut in cut)| {
        let mut bytes = tiny_elf(linking, wide, big);
        prop_assert_eq!(verdict(&check_file(&path, &bytes)), linking.verdict());
        let len = bytes.len();
        for (at, mask) in &flips {
            bytes[at.index(len)] ^= mask;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(len));
        }
        judge.check(&path, &bytes)?;
    });
}

/// Small static, static-pie and dynamic ELFs are judged right; damaged, they give Ok or Err.
#[test]
fn elf_check_answers_damaged_tiny_elves() {
    damaged_tiny_elves(Judge::Answers, &[Linking::Static, Linking::StaticPie, Linking::Dynamic], 256);
}

/// Small ELFs of every kind, including one needing a library without an interpreter, are
/// judged right; damaged, as goblin's parser would judge them. Fails today: the fast path
/// reads `DT_*` tags in the wrong byte order for 64-bit little-endian and 32-bit big-endian
/// files (`ctx.is_big()` is "64-bit", not "big-endian"), so it never sees `DT_NEEDED`
/// there, and a file with no `PT_INTERP` (or one whose `PT_INTERP` is damaged) but
/// `DT_NEEDED libc.so` is called static.
#[test]
fn elf_check_agrees_with_goblin_on_damaged_tiny_elves() {
    let kinds = &[Linking::Static, Linking::StaticPie, Linking::Dynamic, Linking::NeedsWithoutInterpreter];
    damaged_tiny_elves(Judge::AgreesWithGoblin, kinds, 256);
}

/// The smallest input of `elf_check_agrees_with_goblin_on_damaged_tiny_elves`: a tiny ELF
/// needing `libc.so` with no `PT_INTERP`, in each class and byte order, is dynamic. Fails
/// today for 64-bit little-endian (x86-64, aarch64) and 32-bit big-endian.
#[test]
fn elf_check_refuses_a_needed_library_without_an_interpreter() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("bin");
    let wrong: Vec<String> = [(true, false), (true, true), (false, false), (false, true)]
        .into_iter()
        .filter_map(|(wide, big)| {
            let got = verdict(&check_file(&path, &tiny_elf(Linking::NeedsWithoutInterpreter, wide, big)));
            (got != Linking::NeedsWithoutInterpreter.verdict()).then(|| {
                format!("{}-bit {}-endian: {got}", if wide { 64 } else { 32 }, if big { "big" } else { "little" })
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The loadable part of an ELF: the file cut after its last segment, with the section
/// headers dropped, as a stripped binary may be. Still a real ELF, and a small one.
fn loadable_part(exe: &[u8]) -> Vec<u8> {
    let parsed = goblin::elf::Elf::parse(exe).expect("the test binary parses");
    let end = parsed.program_headers.iter().map(|ph| ph.p_offset + ph.p_filesz).max().expect("segments");
    let mut bytes = exe[..usize::try_from(end).expect("in memory")].to_vec();
    let big = !parsed.little_endian;
    // e_shoff, then e_shnum and e_shstrndx (e_shentsize before them is kept).
    let (shoff_at, word, shnum_at) = if parsed.is_64 { (0x28, 8, 0x3c) } else { (0x20, 4, 0x30) };
    let mut zero = Vec::new();
    put(&mut zero, 0, word, big);
    bytes[shoff_at..shoff_at + word].copy_from_slice(&zero);
    bytes[shnum_at..shnum_at + 4].fill(0);
    bytes
}

/// Flips the bytes at `flips` in `file` (a copy of `original`) and puts them back when
/// dropped, even if the case panicked.
struct Flipped<'a> {
    file: &'a std::fs::File,
    original: &'a [u8],
    positions: Vec<usize>,
}

impl<'a> Flipped<'a> {
    fn new(file: &'a std::fs::File, original: &'a [u8], flips: &[(usize, u8)]) -> Flipped<'a> {
        for &(at, mask) in flips {
            file.write_at(&[original[at] ^ mask], at as u64).expect("flip a byte");
        }
        Flipped { file, original, positions: flips.iter().map(|&(at, _)| at).collect() }
    }
}

impl Drop for Flipped<'_> {
    fn drop(&mut self) {
        for &at in &self.positions {
            self.file.write_at(&self.original[at..=at], at as u64).expect("restore a byte");
        }
    }
}

/// Runs `cases` cases on a copy of `original` in `path`, each with up to 5 bytes flipped,
/// mostly in the first 4 KiB (file and program headers) and the last 64 KiB (section
/// headers, when there are some). Undamaged, the copy is judged `expected`; damaged, the
/// check answers as `judge` asks.
fn check_flipped_copies(judge: Judge, path: &Path, original: &[u8], expected: &str, cases: u32) {
    std::fs::write(path, original).expect("copy the ELF");
    let file = std::fs::OpenOptions::new().write(true).open(path).expect("open the copy");
    let len = original.len();
    let position = prop_oneof![0..len.min(4096), len.saturating_sub(1 << 16)..len, 0..len];
    proptest!(config(cases), |(flips in vec((position, 1..=255u8), 0..6))| {
        let flipped = Flipped::new(&file, original, &flips);
        match judge {
            _ if flips.is_empty() => prop_assert_eq!(verdict(&elf::check_static(path)), expected),
            Judge::Answers => drop(elf::check_static(path)),
            Judge::AgreesWithGoblin => {
                let mut bytes = original.to_vec();
                for &(at, mask) in &flips {
                    bytes[at] ^= mask;
                }
                judge.check(path, &bytes)?;
            }
        }
        drop(flipped);
    });
}

/// Runs `full` cases on the test binary (a real ELF, over 100 MB in a debug build) and
/// `loadable` on its loadable part, with bytes flipped; undamaged, both are judged as the
/// binary itself is.
fn damaged_real_binary(judge: Judge, full: u32, loadable: u32) {
    let exe = std::env::current_exe().expect("the test binary");
    let original = std::fs::read(&exe).expect("read the test binary");
    let expected = verdict(&elf::check_static(&exe));
    let dir = tempfile::tempdir().expect("a temp dir");
    check_flipped_copies(judge, &dir.path().join("exe"), &original, &expected, full);
    check_flipped_copies(judge, &dir.path().join("loadable"), &loadable_part(&original), &expected, loadable);
}

/// The test binary with bytes flipped gives Ok or Err: 2 cases on the whole binary (a
/// quarter second each), 32 on its loadable part.
#[test]
fn elf_check_answers_a_damaged_real_binary() {
    damaged_real_binary(Judge::Answers, 2, 32);
}

/// The test binary with bytes flipped is judged as goblin's parser would judge it. Fails
/// now and then today, for the byte-order mistake above: flipping a byte of the
/// `PT_INTERP` type (at 0x78 in a 64-bit file) makes the check call it static.
#[test]
fn elf_check_agrees_with_goblin_on_a_damaged_real_binary() {
    damaged_real_binary(Judge::AgreesWithGoblin, 4, 64);
}

// ---- SBOMs --------------------------------------------------------------------------------

/// SBOMs of arbitrary inventories (package names, versions, licenses valid or not, with
/// `LicenseRef-`s and `WITH` exceptions, sources, checksums) pass both validators of the
/// venv `.ci/setup` makes: pyspdxtools, and cyclonedx-python-lib's strict 1.6 validator with
/// a check for dangling references. A case is a batch, checked in one Python process.
mod sbom {
    use super::{any_text, config, text_over};
    use crate::digest::Digest;
    use crate::sbom::documents::{Extras, Sbom};
    use crate::sbom::inventory::{Inventory, Origin, Package};
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;
    use proptest::sample::select;
    use serde_json::{json, Value};
    use std::io::Write;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    /// Identifiers both the SPDX list and the validators know, deprecated ones included.
    const IDS: &[&str] = &[
        "MIT",
        "Apache-2.0",
        "BSD-3-Clause",
        "BSD-2-Clause",
        "ISC",
        "Zlib",
        "Unlicense",
        "MPL-2.0",
        "CC0-1.0",
        "0BSD",
        "BSL-1.0",
        "Unicode-3.0",
        "Unicode-DFS-2016",
        "GPL-2.0",
        "GPL-3.0-only",
        "LGPL-2.1-or-later",
        "AGPL-3.0-only",
        "MIT-0",
        "WTFPL",
        "OpenSSL",
        "gpl-3.0",
        "mit",
        "apache-2.0",
    ];
    const PLUS: &[&str] = &["GPL-2.0+", "LGPL-2.1+", "GPL-3.0+", "AGPL-3.0+", "LGPL-3.0+"];
    const EXCEPTIONS: &[&str] = &["LLVM-exception", "Classpath-exception-2.0", "GCC-exception-3.1", "llvm-exception"];

    fn license_ref() -> impl Strategy<Value = String> {
        "LicenseRef-[A-Za-z0-9.-]{1,12}"
    }

    fn simple() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => select(IDS).prop_map(str::to_string),
            1 => select(PLUS).prop_map(str::to_string),
            2 => license_ref(),
            1 => (prop_oneof![select(IDS).prop_map(str::to_string), license_ref()], select(EXCEPTIONS))
                .prop_map(|(l, e)| format!("{l} WITH {e}")),
        ]
    }

    /// Valid expressions, in any spelling of their operators.
    fn expression() -> impl Strategy<Value = String> {
        simple().prop_recursive(3, 12, 3, |inner| {
            (inner.clone(), select(&["AND", "OR", "and", "or"][..]), inner, any::<bool>()).prop_map(
                |(a, op, b, paren)| {
                    if paren {
                        format!("({a}) {op} ({b})")
                    } else {
                        format!("{a} {op} {b}")
                    }
                },
            )
        })
    }

    fn license() -> impl Strategy<Value = Option<String>> {
        option::of(prop_oneof![
            4 => expression(),
            // Near misses: unknown ids, `+` where it is not taken, DocumentRefs, quotes.
            2 => text_over("MITAND OR()+-WITHLicenseRef-Docum:\"<>\n\t.", 32),
            1 => any_text(),
            1 => Just("MIT\" OR <evil>\nAND".to_string()),
        ])
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![3 => "[a-z][a-z0-9_-]{0,15}", 1 => any_text()]
    }

    fn version() -> impl Strategy<Value = String> {
        prop_oneof![3 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,6})?(\\+[a-z0-9.]{1,6})?", 1 => any_text()]
    }

    fn origin() -> impl Strategy<Value = Origin> {
        let url = prop_oneof![
            "https://github\\.com/[a-z]{1,8}/[a-z.-]{1,8}",
            "(https|ssh|git|file)://[a-z@:.]{0,12}/[ -~]{0,16}",
            any_text()
        ];
        let commit = prop_oneof!["[0-9a-f]{40}", any_text()];
        prop_oneof![
            (any::<bool>(), prop_oneof!["https://[a-z.]{1,12}/index", any_text()])
                .prop_map(|(default, index)| Origin::Registry { default, index }),
            (url, commit).prop_map(|(url, commit)| Origin::Git { url, commit }),
            prop_oneof![Just(".".to_string()), any_text()].prop_map(|relative| Origin::Path { relative }),
        ]
    }

    fn package() -> impl Strategy<Value = Package> {
        (name(), version(), origin(), option::of(prop_oneof!["[0-9a-f]{64}", any_text()]), license()).prop_map(
            |(name, version, origin, checksum, license)| Package {
                name,
                version,
                origin,
                checksum,
                license,
                dependencies: Vec::new(),
            },
        )
    }

    /// Inventories as `inventory::load` makes them, but for the sorting: indexes in range.
    fn inventory() -> impl Strategy<Value = Inventory> {
        vec(package(), 1..6).prop_flat_map(|packages| {
            let n = packages.len();
            (Just(packages), vec(vec(0..n, 0..4), n), 0..n).prop_map(|(mut packages, deps, root)| {
                for (p, d) in packages.iter_mut().zip(deps) {
                    p.dependencies = d;
                }
                Inventory { packages, root }
            })
        })
    }

    fn extras() -> impl Strategy<Value = Extras> {
        (any::<bool>(), any::<bool>()).prop_map(|(base, ca)| Extras {
            base: base.then(|| ("registry.example/base:1".to_string(), Digest::of(b"base"))),
            ca_bundle: ca.then(|| "1.0.3".to_string()),
        })
    }

    /// The venv's verdicts on `batch` (format, document): "" for valid.
    fn validate(batch: &[(&str, Vec<u8>)]) -> Vec<String> {
        let venv = std::env::var_os("CARGO_CONTAINERIZE_TEST_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/opt/cargo-containerize-tests/venv".into());
        let python = venv.join("bin/python");
        assert!(python.exists(), "{} is missing: run `bash .ci/setup`", python.display());
        let input: Vec<Value> = batch
            .iter()
            .map(|(format, doc)| json!({"format": format, "document": String::from_utf8_lossy(doc)}))
            .collect();
        let mut child = Command::new(python)
            .args(["-c", include_str!("sbom/validate.py")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the validators");
        child.stdin.take().unwrap().write_all(&serde_json::to_vec(&input).unwrap()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "the validators failed: {out:?}");
        serde_json::from_slice(&out.stdout).expect("the validators' verdicts")
    }

    #[test]
    fn sboms_of_any_inventory_pass_both_validators() {
        let subject = Digest::of(b"image");
        proptest!(ProptestConfig { max_shrink_iters: 16, ..config(2) }, |(batch in vec((inventory(), extras()), 48))| {
            let mut docs = Vec::new();
            for (inv, extras) in &batch {
                let sbom = Sbom { inv, extras, subject: &subject, created: "2024-01-01T00:00:00Z", revision: Some("abc") };
                docs.push(("spdx", sbom.spdx()));
                docs.push(("cyclonedx", sbom.cyclonedx()));
            }
            // The valid expressions reach the documents, LicenseRefs and exceptions too.
            let text = |d: &Vec<u8>| String::from_utf8_lossy(d).into_owned();
            prop_assert!(docs.iter().any(|(_, d)| text(d).contains("hasExtractedLicensingInfos")));
            prop_assert!(docs.iter().any(|(f, d)| *f == "cyclonedx" && text(d).contains(" WITH ")));
            // Each validator could have failed: a LicenseRef with no declaration, and a
            // dangling dependency, are refused.
            let mut undeclared: Value = serde_json::from_slice(&docs[0].1).unwrap();
            undeclared["packages"][0]["licenseDeclared"] = "LicenseRef-Undeclared".into();
            docs.push(("spdx", serde_json::to_vec(&undeclared).unwrap()));
            let mut dangling: Value = serde_json::from_slice(&docs[1].1).unwrap();
            dangling["dependencies"][0]["dependsOn"] = json!(["pkg:cargo/nothing@0"]);
            docs.push(("cyclonedx", serde_json::to_vec(&dangling).unwrap()));
            let verdicts = validate(&docs);
            prop_assert_eq!(verdicts.len(), docs.len());
            prop_assert!(verdicts[docs.len() - 2].contains("Unrecognized license reference"), "{}", verdicts[docs.len() - 2]);
            prop_assert!(verdicts[docs.len() - 1].contains("dangling"), "{}", verdicts[docs.len() - 1]);
            for (i, verdict) in verdicts[..docs.len() - 2].iter().enumerate() {
                let (inv, _) = &batch[i / 2];
                prop_assert!(
                    verdict.is_empty(),
                    "{} document refused: {}\n{}\nof {:?}",
                    docs[i].0,
                    verdict,
                    String::from_utf8_lossy(&docs[i].1),
                    inv
                );
            }
        });
    }
}
