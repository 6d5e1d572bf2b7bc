//! Secrets recognised by their shape, whatever their name and value: PEM private-key blocks, the
//! password in a URL (`scheme://user:password@host`, as a connection error quotes the address it
//! could not reach), and the credential after an HTTP authentication scheme (`Basic dXNl..`,
//! `Bearer eyJ..`).

use super::{MASK, merged, skip_blanks};
use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
use std::ops::Range;

/// HTTP authentication schemes whose credential is one token after them (RFC 9110 `token68`).
const AUTH_SCHEMES: &[&str] = &["basic", "bearer", "token", "negotiate", "ntlm", "dpop"];

/// A `Bearer` credential at least this long is one even if it is all letters: no English word
/// that follows "bearer" in a sentence is.
const MIN_LETTERS_ONLY_TOKEN_LEN: usize = 20;

/// Whether `word` is an HTTP authentication scheme (any case).
pub(super) fn is_auth_scheme(word: &str) -> bool {
    AUTH_SCHEMES
        .iter()
        .any(|scheme| scheme.eq_ignore_ascii_case(word))
}

/// For a value such as `Bearer eyJ..` (an `authorization` header's): the credential after its
/// scheme, a secret of its own wherever it appears without the scheme.
pub(super) fn credential_of(value: &str) -> Option<&str> {
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (is_auth_scheme(scheme) && !credential.is_empty() && !credential.contains(char::is_whitespace))
        .then_some(credential)
}

/// The end of the `token68` credential that starts at `start`: letters, digits, `-._~+/`, then
/// `=` padding.
pub(super) fn token68_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = start;
    while bytes
        .get(end)
        .is_some_and(|byte| byte.is_ascii_alphanumeric() || b"-._~+/".contains(byte))
    {
        end += 1;
    }
    while bytes.get(end) == Some(&b'=') {
        end += 1;
    }
    end
}

/// The secrets in `text` found by their shape (URL passwords and authentication credentials;
/// PEM keys are masked whole by [`mask_private_keys`] first), sorted and not overlapping.
pub(super) fn credential_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = userinfo_password_ranges(text);
    ranges.extend(scheme_credential_ranges(text));
    merged(ranges)
}

/// The password of each URL that has one, `scheme://user:password@host`. The user stays: it
/// says which account was refused, and a user name is not a secret.
pub(super) fn userinfo_password_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let authority_start = from + found + "://".len();
        from = authority_start;
        let authority_end = text[authority_start..]
            .find(|c: char| c.is_whitespace() || "/?#\"'<>`\\".contains(c))
            .map_or(text.len(), |end| authority_start + end);
        let authority = &text[authority_start..authority_end];
        // The last `@`, as URL parsers split: a password with an unescaped `@` is common.
        let Some(at) = authority.rfind('@') else {
            continue;
        };
        let Some(colon) = authority[..at].find(':') else {
            continue;
        };
        let password = authority_start + colon + 1..authority_start + at;
        if !password.is_empty() && &text[password.clone()] != MASK {
            ranges.push(password);
        }
    }
    ranges
}

/// The credential after `Basic ` or `Bearer ` (any case) where it reads as one, whatever name
/// it is under, if any: for `Basic`, base64 that decodes to text `user:password`; for `Bearer`, a
/// token that is not an ordinary word, so that "the bearer token expired" and `Bearer realm="api"`
/// stay readable (under an `Authorization` name the credential is masked whatever it reads as).
fn scheme_credential_ranges(text: &str) -> Vec<Range<usize>> {
    let lowered = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    for scheme in ["basic ", "bearer "] {
        let mut from = 0;
        while let Some(found) = lowered[from..].find(scheme) {
            let scheme_start = from + found;
            let start = skip_blanks(bytes, scheme_start + scheme.len());
            from = start;
            // `xbasic `: not the scheme.
            if scheme_start > 0 && bytes[scheme_start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let credential = if scheme == "basic " {
                let end = text[start..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
                    .map_or(text.len(), |end| start + end);
                // Text with a `:`: an English word after "basic" rarely decodes to text at all.
                let decodes_to_user_and_password = STANDARD_NO_PAD
                    .decode(text[start..end].trim_end_matches('='))
                    .is_ok_and(|decoded| {
                        std::str::from_utf8(&decoded).is_ok_and(|decoded| {
                            decoded.contains(':') && !decoded.contains(char::is_control)
                        })
                    });
                decodes_to_user_and_password.then_some(start..end)
            } else {
                let end = token68_end(text, start);
                let token = text[start..end].trim_end_matches('.');
                // `realm="api"`: a parameter, not a token.
                let parameter = token.ends_with('=') && bytes.get(end) == Some(&b'"');
                (!parameter && reads_as_token(token)).then_some(start..start + token.len())
            };
            if let Some(range) = credential
                && !range.is_empty()
                && &text[range.clone()] != MASK
            {
                ranges.push(range);
            }
        }
    }
    ranges
}

/// Whether a word after `Bearer` is a token rather than English: it has a digit, a symbol or a
/// capital after its first letter, or is longer than words are.
fn reads_as_token(word: &str) -> bool {
    let inner_capital = word.bytes().skip(1).any(|byte| byte.is_ascii_uppercase());
    let not_only_letters = word.bytes().any(|byte| !byte.is_ascii_alphabetic());
    !word.is_empty()
        && (word.len() >= MIN_LETTERS_ONLY_TOKEN_LEN || inner_capital || not_only_letters)
}

/// `-----BEGIN … PRIVATE KEY-----` through its `-----END … PRIVATE KEY-----` (or the end of the
/// text, for a truncated one) replaced by [`MASK`].
pub(super) fn mask_private_keys(text: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let label_start = start + BEGIN.len();
        let Some(label_len) = rest[label_start..].find("-----") else {
            break;
        };
        let after_label = label_start + label_len + "-----".len();
        if !rest[label_start..label_start + label_len].contains("PRIVATE KEY") {
            masked.push_str(&rest[..after_label]);
            rest = &rest[after_label..];
            continue;
        }
        masked.push_str(&rest[..start]);
        masked.push_str(MASK);
        rest = match rest[after_label..].find("-----END ") {
            Some(end) => {
                let end_label = after_label + end + "-----END ".len();
                match rest[end_label..].find("-----") {
                    Some(close) => &rest[end_label + close + "-----".len()..],
                    None => "",
                }
            }
            None => "",
        };
    }
    masked.push_str(rest);
    masked
}
