//! What a Worker Deployment name, build ID or task queue fixed at compile time may be; and, in
//! [`version`], how a Worker Deployment Version, its Worker Controller Instance and the commands
//! on it are written.
//!
//! The one home of those rules. `#[serverless_worker]` (in `temporal-serverless-macros`) applies it
//! to literal values, so the error points at the user's literal; `temporal-serverless` applies it
//! in a `const` to values only the compiler knows (`env!`). The server compares a build ID byte
//! for byte with the Worker Deployment Version it invokes the function for, so a value that
//! would not survive being typed into a command (whitespace, control characters) is refused
//! rather than trimmed.
//!
//! ```
//! use temporal_serverless_names::{Problem, problem};
//!
//! assert_eq!(problem("2024-06-01.1"), None);
//! assert_eq!(problem("build 7"), Some(Problem::Forbidden(' ')));
//! // Usable in a `const`, where the runtime checks `env!` values:
//! const _: () = assert!(problem(env!("CARGO_PKG_VERSION")).is_none());
//! ```

#![warn(missing_docs)]

pub mod version;

use std::fmt;

/// The longest deployment name, build ID or task queue accepted, in bytes (the Temporal
/// server's limit; the binary's manifest stores each length in one byte because of it).
pub const MAX_LEN: usize = 255;

/// Why a value is not a valid deployment name, build ID or task queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The value is empty.
    Empty,
    /// The value is longer than [`MAX_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The value contains whitespace or a control character: the first one found.
    Forbidden(char),
}

impl fmt::Display for Problem {
    /// Reads after the name of the value: "`build_id` must not be empty".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { len } => write!(f, "is {len} bytes long, the limit is {MAX_LEN}"),
            Self::Forbidden(found) => write!(
                f,
                "must not contain whitespace or control characters, found {found:?}"
            ),
        }
    }
}

/// What is wrong with `value` as a deployment name, build ID or task queue, if anything: empty,
/// longer than [`MAX_LEN`] bytes, or containing a character that is whitespace
/// (`char::is_whitespace`) or a control character (`char::is_control`).
pub const fn problem(value: &str) -> Option<Problem> {
    if value.is_empty() {
        return Some(Problem::Empty);
    }
    if value.len() > MAX_LEN {
        return Some(Problem::TooLong { len: value.len() });
    }
    let bytes = value.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let (found, width) = decode_utf8(bytes, at);
        if found.is_whitespace() || is_control(found) {
            return Some(Problem::Forbidden(found));
        }
        at += width;
    }
    None
}

/// `char::is_control`, which is not a `const fn`: the Unicode category Cc is these two ranges.
const fn is_control(c: char) -> bool {
    matches!(c as u32, 0x00..=0x1f | 0x7f..=0x9f)
}

/// The character starting at byte `at` of valid UTF-8 (a `&str`'s bytes), and its width; the
/// `const` form of `str::chars`.
const fn decode_utf8(bytes: &[u8], at: usize) -> (char, usize) {
    let first = bytes[at] as u32;
    let (width, mut code_point) = match bytes[at] {
        0x00..=0x7f => (1, first),
        0xc0..=0xdf => (2, first & 0x1f),
        0xe0..=0xef => (3, first & 0x0f),
        _ => (4, first & 0x07),
    };
    let mut i = 1;
    while i < width {
        code_point = (code_point << 6) | (bytes[at + i] as u32 & 0x3f);
        i += 1;
    }
    match char::from_u32(code_point) {
        Some(c) => (c, width),
        None => panic!("a &str holds valid UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_temporal_accepts() {
        for good in ["shop", "2024-06-01.1", "build-1.2.3+ü", "v1:eu/ß", "日本"] {
            assert_eq!(problem(good), None, "{good:?}");
        }
        assert_eq!(problem(&"x".repeat(MAX_LEN)), None);
    }

    #[test]
    fn refuses_empty_and_too_long_values_in_bytes() {
        assert_eq!(problem(""), Some(Problem::Empty));
        assert_eq!(
            problem(&"x".repeat(MAX_LEN + 1)),
            Some(Problem::TooLong { len: 256 })
        );
        // 128 two-byte characters: 256 bytes, though only 128 characters.
        assert_eq!(
            problem(&"ü".repeat(128)),
            Some(Problem::TooLong { len: 256 })
        );
    }

    #[test]
    fn names_the_first_forbidden_character() {
        assert_eq!(problem("two words"), Some(Problem::Forbidden(' ')));
        assert_eq!(problem("tab\there"), Some(Problem::Forbidden('\t')));
        assert_eq!(problem("nbsp\u{a0}x"), Some(Problem::Forbidden('\u{a0}')));
        assert_eq!(problem("bell\u{7}"), Some(Problem::Forbidden('\u{7}')));
        assert_eq!(problem("a\u{9f}b c"), Some(Problem::Forbidden('\u{9f}')));
        assert_eq!(problem("trailing\n"), Some(Problem::Forbidden('\n')));
    }

    /// The `const` decoding and control ranges agree with `str::chars`, `char::is_whitespace`
    /// and `char::is_control` on every character.
    #[test]
    fn agrees_with_std_on_every_character() {
        let mut buffer = [0; 4];
        for c in char::MIN..=char::MAX {
            let value = c.encode_utf8(&mut buffer);
            let expected = (c.is_whitespace() || c.is_control()).then_some(Problem::Forbidden(c));
            assert_eq!(problem(value), expected, "{c:?}");
            let prefixed = format!("ok{c}");
            assert_eq!(problem(&prefixed), expected, "{prefixed:?}");
        }
    }

    #[test]
    fn messages_read_after_the_key() {
        assert_eq!(Problem::Empty.to_string(), "must not be empty");
        assert_eq!(
            Problem::TooLong { len: 300 }.to_string(),
            "is 300 bytes long, the limit is 255"
        );
        assert_eq!(
            Problem::Forbidden(' ').to_string(),
            "must not contain whitespace or control characters, found ' '"
        );
    }
}
