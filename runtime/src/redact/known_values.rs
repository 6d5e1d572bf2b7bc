//! Masking by value: the secrets the process knows, found wherever they appear, also written as
//! a message may carry them: JSON-escaped (a JSON log line quoting an error that quotes the
//! value), percent-encoded (a URL, a form body), or in base64 (a `Basic` credential, a config
//! blob), standard or URL-safe, padded or not.
//!
//! Escapes are undone on the text rather than applied to the values: encoders differ in what
//! they escape (`-` or not, `%2f` or `%2F`, `\u00e9` or `é`), and undoing every escape covers
//! them all. Base64 cannot be undone without knowing where it starts, so each value's base64 is
//! looked for instead, at each of the three offsets a value can have inside a longer encoded
//! text (`user:password` in a `Basic` credential).
//!
//! A value shorter than [`MIN_ANYWHERE_LEN`] is masked only where it stands as a whole token:
//! anywhere, a short value would hide parts of ordinary words and numbers (a password `abc`
//! would mask the middle of `fabcd`), and a short value inside a longer word is not the secret
//! being shown.

use super::{MIN_ANYWHERE_LEN, merged, shapes};
use aho_corasick::AhoCorasick;
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD},
};
use std::{borrow::Cow, ops::Range};

/// Values that are a setting's switch or its absence, not a secret, even under a secret's name
/// (`TEMPORAL_CODEC_AUTH=none`, `"auth": true`): masking them would hide these words, and JSON's
/// `true` and `null`, in every line.
const NOT_SECRETS: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "none", "null", "nil", "enabled", "disabled", "0",
    "1",
];

/// Values shorter than this (in bytes) have no base64 form looked for: one or two bytes encode to
/// two or three characters, as likely an ordinary token (`MQ`, `YQ`) as an encoded secret.
pub(super) const MIN_BASE64_LEN: usize = 3;

/// How many layers of escaping are undone: a JSON string quoted inside a JSON log line is two.
const ESCAPE_LAYERS: usize = 2;

/// The secret values known, and one searcher for all their forms.
pub(super) struct KnownValues {
    values: Vec<String>,
    /// What each of the searcher's patterns is, by pattern index.
    forms: Vec<Form>,
    searcher: Option<AhoCorasick>,
}

/// How a pattern writes a known value.
#[derive(Clone, Copy)]
struct Form {
    encoding: Encoding,
    /// Whether it counts only as a whole token (a value shorter than [`MIN_ANYWHERE_LEN`]).
    whole_token: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// As it is, or with escapes that the search undoes.
    Plain,
    Base64,
    Base64UrlSafe,
}

impl KnownValues {
    /// None known.
    pub(super) const fn new() -> Self {
        Self {
            values: Vec::new(),
            forms: Vec::new(),
            searcher: None,
        }
    }

    /// `secrets`, known (see [`Self::extend`]).
    pub(super) fn of<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut known = Self::new();
        known.extend(secrets);
        known
    }

    /// Adds `secrets`: each trimmed, each line of a multi-line one (an error may quote one line
    /// of a PEM key), and the credential of a `Bearer ..` or `Basic ..` value; not a value
    /// without a letter or digit, nor a switch such as `true` or `none`.
    pub(super) fn extend<'a>(&mut self, secrets: impl IntoIterator<Item = &'a str>) {
        let known_before = self.values.len();
        for secret in secrets {
            for candidate in std::iter::once(secret).chain(secret.lines()) {
                let candidate = candidate.trim();
                for value in std::iter::once(candidate).chain(shapes::credential_of(candidate)) {
                    if is_secret_value(value) && !self.values.iter().any(|known| known == value) {
                        self.values.push(value.to_owned());
                    }
                }
            }
        }
        if self.values.len() != known_before {
            self.rebuild_searcher();
        }
    }

    /// Where in `text` a known value appears, in any of its forms: sorted, not overlapping.
    pub(super) fn ranges(&self, text: &str) -> Vec<Range<usize>> {
        let Some(searcher) = &self.searcher else {
            return Vec::new();
        };
        let mut ranges = Vec::new();
        let mut view = View::of(text);
        for layer in 0..=ESCAPE_LAYERS {
            // Overlapping: a short value that is no whole token where it matches must not hide
            // a longer one that starts inside it.
            for found in searcher.find_overlapping_iter(&*view.bytes) {
                let form = self.forms[found.pattern().as_usize()];
                if let Some(range) = accepted(&view.bytes, found.range(), form) {
                    ranges.push(view.source(range));
                }
            }
            if layer == ESCAPE_LAYERS {
                break;
            }
            let Some(unescaped) = view.unescaped() else {
                break;
            };
            view = unescaped;
        }
        merged(ranges)
    }

    /// One searcher for every form of every value: its plain form, and from
    /// [`MIN_BASE64_LEN`] bytes its base64 in both alphabets, at the three offsets for a value
    /// masked anywhere and whole for one masked as a whole token.
    fn rebuild_searcher(&mut self) {
        let mut patterns = Vec::new();
        let mut forms = Vec::new();
        for value in &self.values {
            let whole_token = value.len() < MIN_ANYWHERE_LEN;
            patterns.push(value.clone());
            forms.push(Form {
                encoding: Encoding::Plain,
                whole_token,
            });
            if value.len() < MIN_BASE64_LEN {
                continue;
            }
            for encoding in [Encoding::Base64, Encoding::Base64UrlSafe] {
                let offsets = if whole_token { 0..1 } else { 0..3 };
                for offset in offsets {
                    let encoded = base64_form(value.as_bytes(), offset, encoding, whole_token);
                    if !encoded.is_empty() {
                        patterns.push(encoded);
                        forms.push(Form {
                            encoding,
                            whole_token,
                        });
                    }
                }
            }
        }
        // Building fails only past a size no set of secrets reaches; masking by name and shape
        // still works then.
        self.searcher = AhoCorasick::new(patterns).ok();
        self.forms = forms;
    }
}

/// Whether `value` can be a secret: it has a letter or a digit, and is not a switch.
fn is_secret_value(value: &str) -> bool {
    value.chars().any(char::is_alphanumeric)
        && !NOT_SECRETS
            .iter()
            .any(|not_secret| not_secret.eq_ignore_ascii_case(value))
}

/// `value`'s base64 in `encoding` as it appears `offset` bytes (0 to 2) into a longer encoded
/// text, without the characters that also encode the bytes around it; or, for a whole token,
/// all of it but the padding.
fn base64_form(value: &[u8], offset: usize, encoding: Encoding, whole_token: bool) -> String {
    let mut shifted = vec![0; offset];
    shifted.extend_from_slice(value);
    let encoded = match encoding {
        Encoding::Base64UrlSafe => URL_SAFE_NO_PAD.encode(&shifted),
        Encoding::Base64 | Encoding::Plain => STANDARD_NO_PAD.encode(&shifted),
    };
    if whole_token {
        return encoded;
    }
    // Each character holds 6 bits: after 1 byte before the value, the first 2 characters also
    // hold that byte's bits, after 2 bytes the first 3; and unless the value ends a group of 3
    // bytes, the last character also holds bits of the byte after it.
    let first = [0, 2, 3][offset];
    let end = if shifted.len().is_multiple_of(3) {
        encoded.len()
    } else {
        encoded.len() - 1
    };
    encoded.get(first..end).unwrap_or_default().to_owned()
}

/// The range to mask for a match of `form` at `found` in `bytes`, if it is one: a value that
/// counts only as a whole token only where it is one, and a base64 form widened to all of the
/// encoded text around it and its padding (a secret's bits make all of that text the secret's).
fn accepted(bytes: &[u8], found: Range<usize>, form: Form) -> Option<Range<usize>> {
    let in_token = |byte: u8| match form.encoding {
        // Bytes of non-ASCII characters are letters too: `é` joins a word.
        Encoding::Plain => byte.is_ascii_alphanumeric() || byte == b'_' || !byte.is_ascii(),
        Encoding::Base64 => byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/',
        Encoding::Base64UrlSafe => byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_',
    };
    // A value that starts or ends with a symbol (`p@ss!`) is a whole token at that end.
    let joined_before =
        found.start > 0 && in_token(bytes[found.start]) && in_token(bytes[found.start - 1]);
    let joined_after =
        found.end < bytes.len() && in_token(bytes[found.end - 1]) && in_token(bytes[found.end]);
    if form.whole_token && (joined_before || joined_after) {
        return None;
    }
    if form.encoding == Encoding::Plain {
        return Some(found);
    }
    let mut start = found.start;
    while start > 0 && in_token(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = found.end;
    while end < bytes.len() && in_token(bytes[end]) {
        end += 1;
    }
    while bytes.get(end) == Some(&b'=') {
        end += 1;
    }
    Some(start..end)
}

/// A text as bytes, with a layer of escapes undone or not, and where each byte came from.
struct View<'t> {
    bytes: Cow<'t, [u8]>,
    /// The range of the original text each byte came from; `None` for the text itself.
    origins: Option<Vec<Range<usize>>>,
}

impl<'t> View<'t> {
    fn of(text: &'t str) -> Self {
        Self {
            bytes: Cow::Borrowed(text.as_bytes()),
            origins: None,
        }
    }

    /// Where in the original text the byte at `at` came from.
    fn origin(&self, at: usize) -> Range<usize> {
        match &self.origins {
            Some(origins) => origins[at].clone(),
            None => at..at + 1,
        }
    }

    /// Where in the original text the (non-empty) `range` of this view came from.
    fn source(&self, range: Range<usize>) -> Range<usize> {
        self.origin(range.start).start..self.origin(range.end - 1).end
    }

    /// This view with one layer of JSON string escapes (`\"`, `\n`, `\u00e9`) and
    /// percent-encoding (`%40`) undone; `None` if it has none.
    fn unescaped(&self) -> Option<View<'static>> {
        if !self.bytes.iter().any(|byte| matches!(byte, b'%' | b'\\')) {
            return None;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len());
        let mut origins = Vec::with_capacity(self.bytes.len());
        let mut undone_any = false;
        let mut at = 0;
        while at < self.bytes.len() {
            let (unescaped, len) = match unescape(&self.bytes[at..]) {
                Some(undone) => {
                    undone_any = true;
                    undone
                }
                None => (Unescaped::Byte(self.bytes[at]), 1),
            };
            let origin = self.origin(at).start..self.origin(at + len - 1).end;
            let mut utf8 = [0; 4];
            let utf8_len = match unescaped {
                Unescaped::Byte(byte) => {
                    utf8[0] = byte;
                    1
                }
                Unescaped::Char(c) => c.encode_utf8(&mut utf8).len(),
            };
            for &byte in &utf8[..utf8_len] {
                bytes.push(byte);
                origins.push(origin.clone());
            }
            at += len;
        }
        undone_any.then_some(View {
            bytes: Cow::Owned(bytes),
            origins: Some(origins),
        })
    }
}

/// What an escape stands for.
enum Unescaped {
    Byte(u8),
    Char(char),
}

/// The escape `rest` starts with, undone, and its length.
fn unescape(rest: &[u8]) -> Option<(Unescaped, usize)> {
    match rest {
        [b'%', high, low, ..] => {
            let byte = (hex_digit(*high)? << 4) | hex_digit(*low)?;
            Some((Unescaped::Byte(byte), 3))
        }
        [b'\\', b'u', ..] => unescape_unicode(rest),
        [b'\\', escaped, ..] => {
            let byte = match *escaped {
                b'"' | b'\\' | b'/' | b'\'' => *escaped,
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                _ => return None,
            };
            Some((Unescaped::Byte(byte), 2))
        }
        _ => None,
    }
}

/// `\u00e9`, or the surrogate pair `\ud83d\udd11` for a character outside the Basic
/// Multilingual Plane, as JSON writes a character when it escapes everything outside ASCII.
fn unescape_unicode(rest: &[u8]) -> Option<(Unescaped, usize)> {
    let unit = |at: usize| -> Option<u32> {
        rest.get(at..at + 4)?.iter().try_fold(0, |value, &byte| {
            Some((value << 4) | u32::from(hex_digit(byte)?))
        })
    };
    let first = unit(2)?;
    if !(0xD800..0xDC00).contains(&first) {
        return Some((Unescaped::Char(char::from_u32(first)?), 6));
    }
    if rest.get(6..8) != Some(b"\\u".as_slice()) {
        return None;
    }
    let second = unit(8)?;
    if !(0xDC00..0xE000).contains(&second) {
        return None;
    }
    let c = char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))?;
    Some((Unescaped::Char(c), 12))
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}
