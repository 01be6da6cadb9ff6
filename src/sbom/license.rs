//! A package's `license` field, checked once as an SPDX 2.3 license expression (Annex D),
//! so that the SPDX and the CycloneDX document say the same: the expression in its
//! canonical spelling, or nothing (`NOASSERTION`) when it is not one.
//!
//! Identifiers come from the SPDX license list (the `spdx` crate's copy), matched without
//! regard to case and written as the list spells them. `+` is taken only where the list has
//! the `-or-later` id it means (`GPL-2.0+` is written `GPL-2.0-or-later`): validators refuse
//! it elsewhere. `LicenseRef-` names are
//! kept and listed, for the SPDX document's `hasExtractedLicensingInfos`; a `DocumentRef-`
//! needs an external document we cannot name, so it makes the expression unusable.

/// A valid license expression: its canonical spelling, and the `LicenseRef-` ids it uses
/// (sorted, without repeats).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct License {
    pub(crate) expression: String,
    pub(crate) refs: Vec<String>,
}

/// Longer fields, or deeper parentheses, are not expressions anyone wrote by hand.
const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;

/// `raw` as a license expression, or `None` when it is not a valid one.
pub(crate) fn parse(raw: &str) -> Option<License> {
    if raw.len() > MAX_LEN {
        return None;
    }
    let tokens = tokens(raw)?;
    let mut parser = Parser { tokens, at: 0, refs: Vec::new() };
    let expr = parser.or(0)?;
    if parser.at != parser.tokens.len() {
        return None;
    }
    let mut refs = parser.refs;
    refs.sort();
    refs.dedup();
    Some(License { expression: print(&expr, false), refs })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Open,
    Close,
    And,
    Or,
    With,
    Word(&'a str),
}

/// Words, operators and parentheses; `None` on a character no expression holds.
fn tokens(raw: &str) -> Option<Vec<Token<'_>>> {
    let mut out = Vec::new();
    let mut rest = raw;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let Some(c) = rest.chars().next() else { break };
        match c {
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            _ => {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || "-.+:".contains(c))).unwrap_or(rest.len());
                if end == 0 {
                    return None;
                }
                let word = &rest[..end];
                out.push(match word {
                    w if w.eq_ignore_ascii_case("AND") => Token::And,
                    w if w.eq_ignore_ascii_case("OR") => Token::Or,
                    w if w.eq_ignore_ascii_case("WITH") => Token::With,
                    w => Token::Word(w),
                });
                rest = &rest[end..];
                continue;
            }
        }
        rest = &rest[1..];
    }
    Some(out)
}

#[derive(Debug)]
enum Expr {
    /// A license (canonical spelling), with its exception.
    License(String, Option<&'static str>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
    refs: Vec<String>,
}

impl Parser<'_> {
    fn next_is(&mut self, t: Token<'_>) -> bool {
        let yes = self.tokens.get(self.at) == Some(&t);
        self.at += usize::from(yes);
        yes
    }

    fn or(&mut self, depth: usize) -> Option<Expr> {
        let mut terms = vec![self.and(depth)?];
        while self.next_is(Token::Or) {
            terms.push(self.and(depth)?);
        }
        Some(if terms.len() == 1 { terms.remove(0) } else { Expr::Or(terms) })
    }

    fn and(&mut self, depth: usize) -> Option<Expr> {
        let mut terms = vec![self.with(depth)?];
        while self.next_is(Token::And) {
            terms.push(self.with(depth)?);
        }
        Some(if terms.len() == 1 { terms.remove(0) } else { Expr::And(terms) })
    }

    fn with(&mut self, depth: usize) -> Option<Expr> {
        if self.next_is(Token::Open) {
            if depth >= MAX_DEPTH {
                return None;
            }
            let inner = self.or(depth + 1)?;
            return self.next_is(Token::Close).then_some(inner);
        }
        let Some(Token::Word(word)) = self.tokens.get(self.at).copied() else { return None };
        self.at += 1;
        let license = self.license(word)?;
        let exception = if self.next_is(Token::With) {
            let Some(Token::Word(word)) = self.tokens.get(self.at).copied() else { return None };
            self.at += 1;
            Some(exception(word)?)
        } else {
            None
        };
        Some(Expr::License(license, exception))
    }

    /// A license id (`+` on a GNU one), or a `LicenseRef-`, as written in documents.
    fn license(&mut self, word: &str) -> Option<String> {
        if let Some(name) = word.strip_prefix("LicenseRef-") {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                return None;
            }
            self.refs.push(word.to_string());
            return Some(word.to_string());
        }
        let (name, plus) = match word.strip_suffix('+') {
            Some(name) => (name, true),
            None => (word, false),
        };
        let id = spdx::identifiers::LICENSES.iter().find(|l| l.name.eq_ignore_ascii_case(name))?;
        // Not licenses: the list's NOASSERTION and NONE; the deprecated `…-with-…-exception`
        // ids, which validators read as exceptions (`GPL-2.0 WITH …` says it instead).
        if matches!(id.name, "NOASSERTION" | "NONE") || id.name.contains("-with-") {
            return None;
        }
        if plus {
            // Validators take `+` only where the list has the `-or-later` id it means.
            return spdx::license_id(&format!("{}-or-later", id.name)).map(|l| l.name.to_string());
        }
        Some(id.name.to_string())
    }
}

fn exception(word: &str) -> Option<&'static str> {
    spdx::identifiers::EXCEPTIONS.iter().find(|e| e.name.eq_ignore_ascii_case(word)).map(|e| e.name)
}

/// The canonical spelling: upper-case operators, parentheses only where `AND` holds an `OR`.
fn print(expr: &Expr, inside_and: bool) -> String {
    match expr {
        Expr::License(l, None) => l.clone(),
        Expr::License(l, Some(e)) => format!("{l} WITH {e}"),
        Expr::And(terms) => terms.iter().map(|t| print(t, true)).collect::<Vec<_>>().join(" AND "),
        Expr::Or(terms) => {
            let s = terms.iter().map(|t| print(t, false)).collect::<Vec<_>>().join(" OR ");
            if inside_and {
                format!("({s})")
            } else {
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str) -> Option<String> {
        parse(raw).map(|l| l.expression)
    }

    #[test]
    fn valid_expressions_are_written_canonically() {
        assert_eq!(canonical("MIT OR Apache-2.0").as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(canonical("mit or apache-2.0").as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(canonical("((MIT))").as_deref(), Some("MIT"));
        assert_eq!(
            canonical("(MIT OR Apache-2.0)AND Unicode-3.0").as_deref(),
            Some("(MIT OR Apache-2.0) AND Unicode-3.0")
        );
        assert_eq!(
            canonical("MIT OR (Apache-2.0 AND BSD-3-Clause)").as_deref(),
            Some("MIT OR Apache-2.0 AND BSD-3-Clause")
        );
        assert_eq!(canonical("Apache-2.0 with llvm-exception").as_deref(), Some("Apache-2.0 WITH LLVM-exception"));
        assert_eq!(canonical("GPL-2.0+").as_deref(), Some("GPL-2.0-or-later"));
        assert_eq!(canonical("lgpl-2.1+").as_deref(), Some("LGPL-2.1-or-later"));
        assert_eq!(canonical("GPL-2.0").as_deref(), Some("GPL-2.0"), "deprecated, yet what crates say");
    }

    #[test]
    fn license_refs_are_kept_and_listed() {
        let l = parse("LicenseRef-Proprietary OR MIT AND LicenseRef-B.2 OR LicenseRef-Proprietary").unwrap();
        assert_eq!(l.expression, "LicenseRef-Proprietary OR MIT AND LicenseRef-B.2 OR LicenseRef-Proprietary");
        assert_eq!(l.refs, ["LicenseRef-B.2", "LicenseRef-Proprietary"]);
    }

    #[test]
    fn anything_else_is_not_an_expression() {
        for raw in [
            "",
            "  ",
            "MIT\" OR <evil>\nAND",
            "MIT OR",
            "OR MIT",
            "MIT AND (Apache-2.0",
            "MIT)",
            "MIT Apache-2.0",
            "see LICENSE",
            "Foo-1.0",
            "MPL-2.0+",
            "GPL-2.0-only+",
            "GPL-2.0++",
            "LicenseRef-",
            "LicenseRef-a_b",
            "LicenseRef-X+",
            "DocumentRef-d:LicenseRef-x",
            "MIT WITH Apache-2.0",
            "MIT WITH",
            "Apache-2.0 WITH AdditionRef-x",
            "NOASSERTION",
            "MIT OR NONE",
            "GPL-2.0-with-classpath-exception",
        ] {
            assert_eq!(parse(raw), None, "{raw:?}");
        }
        let deep = format!("{}MIT{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(&deep), None);
        let long = vec!["MIT"; MAX_LEN].join(" OR ");
        assert_eq!(parse(&long), None);
    }
}
