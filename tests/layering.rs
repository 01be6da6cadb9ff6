//! The crate's modules in layers that only look down (issue 20): utilities (L0), the image
//! model (L1), clients of registries, engines and the store (L2), sources and sinks (L3),
//! the application (L4). This test reads every `crate::NAME` path of `src/` outside
//! comments and test code, and fails on a link that runs upward or closes a cycle between
//! top-level modules, unless it is in [`ALLOWED`]: the links that still do, which may only
//! shrink (a listed link that no longer exists fails too, so that it is removed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module's layer. A module missing here fails the test: place it.
const LAYERS: &[(&str, u8)] = &[
    ("digest", 0),
    ("platform", 0),
    ("reference", 0),
    ("fsutil", 0),
    ("redact", 0),
    ("tuning", 0),
    ("wait", 0),
    ("elf", 0),
    ("interrupt", 0),
    ("progress", 0),
    ("shell", 0),
    ("image", 1),
    ("registry", 2),
    ("engine", 2),
    ("store", 2),
    ("base", 3),
    ("sink", 3),
    ("cli", 4),
    ("settings", 4),
    ("spec", 4),
    ("plan", 4),
    ("workspace", 4),
    ("resolved", 4),
    ("build", 4),
    ("speculate", 4),
    ("auditable", 4),
    ("login", 4),
    ("assemble", 4),
    ("sbom", 4),
    ("documents", 4),
    ("results", 4),
    ("publish", 4),
    ("run", 4),
    ("error", 4),
];

/// The links (from, to) that still run upward, or close a cycle within a layer: none. Add
/// none; fix the link instead.
const ALLOWED: &[(&str, &str)] = &[];

/// `text` without comments, string literals and `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if let Some(raw) = rest.strip_prefix("r#\"") {
            i += 3 + raw.find("\"#").map_or(raw.len(), |e| e + 2);
        } else if rest.starts_with('"') {
            // A string: up to the next quote that is not escaped.
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            i += (j + 1).min(rest.len());
        } else if rest.starts_with("'\"'") {
            i += 3;
        } else if let Some(item) = rest.strip_prefix("#[cfg(test)]") {
            i += skip_item(item) + "#[cfg(test)]".len();
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The length of the item that starts `text`: up to its `;`, or its braces' end.
fn skip_item(text: &str) -> usize {
    let (mut depth, mut opened) = (0usize, false);
    for (i, c) in text.char_indices() {
        match c {
            ';' if !opened => return i + 1,
            '{' => {
                depth += 1;
                opened = true;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// The top-level modules `code` names through `crate::`, also inside `crate::{a, b::c}`.
fn referenced(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.trim().split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("").to_string();
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            found.extend(inner.split(',').map(ident).filter(|s| !s.is_empty()));
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

/// Every link between top-level modules: (from, to) -> a file where it is.
fn links() -> BTreeMap<(String, String), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.clone()];
    let mut links = BTreeMap::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        // The crate root and the binary wire modules together; the property tests are test code.
        if matches!(top.as_str(), "lib" | "main" | "proptests") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&path).unwrap());
        // Names at the crate root that are not modules (the `say!` macro, re-exports) are
        // the root's, not a link.
        for to in referenced(&code).into_iter().filter(|m| is_module(&src, m)) {
            if to != top {
                links.entry((top.clone(), to)).or_insert_with(|| rel.display().to_string());
            }
        }
    }
    links
}

fn is_module(src: &Path, name: &str) -> bool {
    src.join(format!("{name}.rs")).is_file() || src.join(name).join("mod.rs").is_file()
}

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("the module `{module}` has no layer: add it to LAYERS in tests/layering.rs"))
}

/// Whether `to` reaches `from` through `edges`: the link `from -> to` closes a cycle.
fn reaches(edges: &BTreeSet<(String, String)>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut pending = vec![to.to_string()];
    while let Some(m) = pending.pop() {
        if m == from {
            return true;
        }
        if seen.insert(m.clone()) {
            pending.extend(edges.iter().filter(|(a, _)| *a == m).map(|(_, b)| b.clone()));
        }
    }
    false
}

#[test]
fn modules_only_look_down() {
    let links = links();
    let allowed: BTreeSet<(String, String)> = ALLOWED.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let all_sideways: BTreeSet<(String, String)> =
        links.keys().filter(|(a, b)| layer(a) == layer(b)).cloned().collect();
    let against =
        |(a, b): &(String, String)| layer(b) > layer(a) || (layer(a) == layer(b) && reaches(&all_sideways, a, b));
    let stale: Vec<_> = allowed.iter().filter(|l| !links.contains_key(*l) || !against(l)).collect();
    assert!(
        stale.is_empty(),
        "these links are gone, or no longer run against the layering: remove them from ALLOWED in \
         tests/layering.rs: {stale:?}"
    );
    // A cycle runs upward somewhere, or stays within one layer: what is left once the
    // allowed links are set aside must only look down, or sideways without a cycle.
    let sideways: BTreeSet<(String, String)> = links
        .keys()
        .filter(|(a, b)| layer(a) == layer(b) && !allowed.contains(&(a.clone(), b.clone())))
        .cloned()
        .collect();
    let mut wrong = Vec::new();
    for ((from, to), file) in &links {
        if allowed.contains(&(from.clone(), to.clone())) {
            continue;
        }
        if layer(to) > layer(from) {
            wrong.push(format!("(\"{from}\", \"{to}\"), // upward: L{} -> L{}, in src/{file}", layer(from), layer(to)));
        } else if layer(to) == layer(from) && reaches(&sideways, from, to) {
            wrong.push(format!("(\"{from}\", \"{to}\"), // in a cycle within L{}, in src/{file}", layer(from)));
        }
    }
    assert!(wrong.is_empty(), "links against the layering (fix them; do not list them):\n{}", wrong.join("\n"));
    println!("{} links between top-level modules, {} still allowed against the layering", links.len(), allowed.len());
}

#[test]
fn the_reader_sees_through_comments_strings_and_test_code() {
    let code = code_of(
        "use crate::a;\n// crate::b\n/* crate::c */ let s = \"crate::d\";\n#[cfg(test)]\nmod tests { use crate::e; }\n\
         use crate::{f, g::h};\n#[cfg(test)] fn x() { crate::i(); }\nfn y() -> crate::j::K { mycrate::l() }",
    );
    let found: Vec<String> = referenced(&code).into_iter().collect();
    assert_eq!(found, ["a", "f", "g", "j"]);
}
