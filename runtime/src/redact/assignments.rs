//! Masking by name: the values assigned to secret names in a text, whatever the values are, as a
//! `temporal.toml` parse error quotes its line or a log line prints a field.

use super::{MASK, names, shapes, skip_blanks};
use std::ops::Range;

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// The values assigned to secret names: `name = value`, `name: value`, `name=value`, with the
/// name optionally quoted (`"api_key": ..`) and the value quoted, triple-quoted (TOML), quoted
/// with escaped quotes (inside a JSON string), an array or table (to the end of the line), or
/// bare. A quoted value ends at its closing quote or at the end of the line (an unterminated
/// string is what a TOML error quotes); a bare one at white space, punctuation or `&`, but for a
/// cookie list (`Cookie: a=1; b=2`) and for an authentication scheme's credential under an
/// `Authorization` name (`Authorization: Basic dXNl..`: the credential is masked, the scheme
/// stays readable).
///
/// Each with its mask: [`MASK`], or for a bare value of a quoted name (`"auth":true`) [`MASK`]
/// quoted as the name is, since a bare `***` would leave JSON that no longer parses.
pub(super) fn assigned_value_ranges(text: &str) -> Vec<(Range<usize>, &'static str)> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if !is_name_byte(bytes[at]) {
            at += 1;
            continue;
        }
        let name_start = at;
        while at < bytes.len() && is_name_byte(bytes[at]) {
            at += 1;
        }
        let name = &text[name_start..at];
        // After a `/`, a name is a file's (`/etc/tls/client.key: no such file`).
        let in_path = name_start > 0 && bytes[name_start - 1] == b'/';
        if in_path || !names::is_secret_name(name) {
            continue;
        }
        let mut cursor = at;
        let quoted_mask = if text[cursor..].starts_with("\\\"") {
            cursor += 2;
            "\\\"***\\\""
        } else {
            let mask = match bytes.get(cursor) {
                Some(b'"') => "\"***\"",
                Some(b'\'') => "'***'",
                Some(b'`') => "`***`",
                _ => MASK,
            };
            cursor += usize::from(mask != MASK);
            mask
        };
        cursor = skip_blanks(bytes, cursor);
        let Some(&separator) = bytes.get(cursor).filter(|byte| matches!(byte, b'=' | b':')) else {
            continue;
        };
        // `==` compares and `::` names a path: neither assigns.
        if bytes.get(cursor + 1) == Some(&separator) {
            continue;
        }
        let value_start = skip_blanks(bytes, cursor + 1);
        let Some(mut range) = value_range(text, value_start) else {
            continue;
        };
        let bare = range.start == value_start && !text[value_start..].starts_with(['[', '{']);
        let mut mask = if bare { quoted_mask } else { MASK };
        if bare && names::is_authorization_name(name) {
            if let Some(credential) = credential_after_scheme(text, range.clone()) {
                range = credential;
                mask = MASK;
            }
        } else if bare && names::is_cookie_name(name) {
            range.end = cookie_list_end(text, range.start);
        }
        at = range.end;
        if &text[range.clone()] != MASK {
            ranges.push((range, mask));
        }
    }
    ranges
}

/// For a bare value that is an HTTP authentication scheme (`Basic`, `Bearer`): the credential
/// after it, if there is one (already [`MASK`] when the shape rule saw it first).
fn credential_after_scheme(text: &str, scheme: Range<usize>) -> Option<Range<usize>> {
    if !shapes::is_auth_scheme(&text[scheme.clone()]) {
        return None;
    }
    let start = skip_blanks(text.as_bytes(), scheme.end);
    let end = if text[start..].starts_with(MASK) {
        start + MASK.len()
    } else {
        shapes::token68_end(text, start)
    };
    (start > scheme.end && end > start).then_some(start..end)
}

/// The end of the cookie list that starts at `start`: its pairs are joined by `; `.
fn cookie_list_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = start;
    while let Some(&byte) = bytes.get(end) {
        let continues = match byte {
            b'"' | b'\'' | b'\\' | b'\n' | b'\r' => false,
            b' ' | b'\t' => end > start && bytes[end - 1] == b';',
            _ => true,
        };
        if !continues {
            break;
        }
        end += 1;
    }
    end
}

/// Where the line that holds `from` ends.
fn line_end(text: &str, from: usize) -> usize {
    text[from..].find('\n').map_or(text.len(), |end| from + end)
}

/// The value starting at `start` (without its quotes), if there is one.
fn value_range(text: &str, start: usize) -> Option<Range<usize>> {
    let rest = &text[start..];
    let range = if let Some(delimiter) = ["\"\"\"", "'''"]
        .into_iter()
        .find(|delimiter| rest.starts_with(delimiter))
    {
        let content = start + 3;
        content
            ..text[content..]
                .find(delimiter)
                .map_or(text.len(), |end| content + end)
    } else if rest.starts_with("\\\"") {
        let content = start + 2;
        let end = line_end(text, content);
        content..text[content..end].find('"').map_or(end, |close| {
            // The escaped closing quote's backslash belongs to the quote.
            let close = content + close;
            if text[..close].ends_with('\\') {
                close - 1
            } else {
                close
            }
        })
    } else if rest.starts_with(['[', '{']) {
        // An array or table where a string belongs: all of it, to the end of the line.
        start..line_end(text, start)
    } else if let Some(quote) = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))
    {
        let content = start + 1;
        let end = line_end(text, content);
        content
            ..text[content..end]
                .find(quote)
                .map_or(end, |close| content + close)
    } else {
        // `&` too: the next parameter of a query (`?api_key=..&tenant=..`).
        start
            ..rest
                .find(|c: char| c.is_whitespace() || ",;)]}\"'&".contains(c))
                .map_or(text.len(), |end| start + end)
    };
    (!range.is_empty()).then_some(range)
}
