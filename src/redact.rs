//! Known secrets (passwords, their Basic forms, tokens), and their removal from any text
//! shown to the user: error messages that quote a server, progress lines, traces.
//! Secrets are registered when they are read or received, before anything can print them.

use std::sync::Mutex;

/// Shorter secrets are not searched for: they would match ordinary words, and a server
/// echoing them gives nothing away that guessing would not.
const MIN_LEN: usize = 4;

const REDACTED: &str = "<redacted>";

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers `secret`, the forms it takes in a URL (percent-encoded in a path, in a query,
/// as a form value), and its base64 forms (standard and URL-safe, padded or not), so that
/// [`redact`] removes it from any text.
pub(crate) fn register(secret: &str) {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    if secret.len() < MIN_LEN {
        return;
    }
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        remember(&engine.encode(secret));
    }
    let mut url = reqwest::Url::parse("http://x/").expect("static URL");
    url.set_path(secret);
    let path = url.path().trim_start_matches('/').to_string();
    url.set_query(Some(secret));
    let query = url.query().unwrap_or_default().to_string();
    url.set_query(None);
    url.query_pairs_mut().append_pair("k", secret);
    let form = url.query().unwrap_or_default().trim_start_matches("k=").to_string();
    let full: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    for form in [secret.to_string(), path, query, form, full] {
        remember(&form);
    }
}

fn remember(secret: &str) {
    if secret.len() < MIN_LEN {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Text a server sent, made safe to print: control characters (escape sequences that could
/// retitle a terminal, erase or forge lines) shown escaped, and at most `max` characters.
pub(crate) fn server_text(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` with every registered secret replaced by `<redacted>`.
pub(crate) fn redact(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_escaped_and_bounded() {
        assert_eq!(server_text("ok\u{1b}]0;pwned\u{7}\nforged", 100), "ok\\u{1b}]0;pwned\\u{7}\\nforged");
        assert_eq!(server_text("abcdef", 3), "abc…");
    }

    #[test]
    fn url_forms_of_a_secret_are_removed_too() {
        register("Secret Pass<1>&x=y");
        let shown = redact("PUT http://r/v2/x/blobs/uploads/Secret%20Pass%3C1%3E&x=y?a=Secret+Pass%3C1%3E%26x%3Dy");
        assert_eq!(shown, "PUT http://r/v2/x/blobs/uploads/<redacted>?a=<redacted>");
    }

    #[test]
    fn base64_forms_of_a_secret_are_removed_too() {
        register("pw>>?~s3cret");
        for shown in ["cHc+Pj9+czNjcmV0", "cHc-Pj9-czNjcmV0"] {
            assert_eq!(redact(&format!("bad credentials: {shown}")), "bad credentials: <redacted>", "{shown}");
        }
    }

    #[test]
    fn registered_secrets_are_removed_longest_first() {
        register("pa55-word-xyz");
        register("pa55");
        register("abc");
        let shown = redact("server says: bad password pa55-word-xyz (pa55) abc");
        assert_eq!(shown, "server says: bad password <redacted> (<redacted>) abc");
    }
}
