//! What counts as a secret, and how it is masked, for every text this project prints: the
//! function's errors and log lines, and the `temporal-serverless` command's errors, `deploy
//! --print` and `doctor` reports. One rule, so that an API key cannot slip out of one path
//! because another path's list was longer.
//!
//! Three ways a secret is recognised:
//!
//! - **by its name**: the value of an assignment (`api_key = ".."`, `api_key: ..`,
//!   `TEMPORAL_API_KEY=..`, `"apiKey":".."`) or of a command-line flag (`--api-key ..`,
//!   `--tls-key-data=..`) whose name is a secret's ([`is_secret_name`]). This catches a
//!   `temporal.toml` line quoted by a parse error, whatever the value is;
//! - **by its value**: secrets the process knows ([`remember`]: the loaded API key and TLS key,
//!   secret-named environment variables, the values of secret flags) are replaced wherever they
//!   appear, e.g. echoed in a server's error message;
//! - **by its shape**: PEM private-key blocks and `Bearer` tokens.
//!
//! Everything recognised becomes [`MASK`], never a partial prefix.
//!
//! ```
//! use temporal_serverless::redact;
//! let excerpt = "3 | api_key = \"tsls-example-key";
//! assert_eq!(redact::text(excerpt), "3 | api_key = \"***");
//! ```

use std::{ops::Range, sync::RwLock};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Known values shorter than this are not replaced by value: they would mask ordinary words and
/// numbers all over a log (a `TOKEN_LIMIT=10` variable would hide every `10`), and no real API
/// key or private key is this short. Such values are still masked where their name shows.
pub const MIN_KNOWN_LEN: usize = 8;

/// A value the tests of this workspace pass as a secret and then look for in what is printed:
/// one spelling, so that a check for its distinctive part (`SENTINEL`) covers every test.
#[doc(hidden)]
pub const SENTINEL: &str = "SENTINEL-7f3a9c-SECRET";

/// Name components that make a name a secret's.
const SECRET_WORDS: &[&str] = &[
    "key",
    "apikey",
    "privatekey",
    "clientkey",
    "tlskey",
    "keydata",
    "accesskey",
    "secretkey",
    "secret",
    "token",
    "password",
    "passwd",
    "auth",
    "authorization",
];

/// Last components that make a secret-looking name something else: where a secret is kept
/// (`client_key_path`, `--tls-key-path`, `client.key.pem`: a path reveals nothing without the
/// file, and errors must be able to name the file they could not read) or what describes it
/// (`AWS_ACCESS_KEY_ID`, which AWS treats as public, `key_type`, `token_count`).
const NOT_SECRET_LAST_WORDS: &[&str] = &[
    "path", "file", "dir", "id", "name", "type", "count", "len", "length", "size", "toml", "pem",
    "crt", "json", "yaml", "yml", "txt",
];

/// The secrets this process knows, longest first (so a value containing another is masked
/// whole).
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether `name` (a TOML key, an environment variable, a flag, a header, a log field) names a
/// secret: one of its components (split at `_`, `-`, `.`, and lower-to-upper case changes) is a
/// key, secret, token, password or auth(orization), and its last component does not say it is
/// a path, an ID or a size instead.
///
/// ```
/// use temporal_serverless::redact::is_secret_name;
/// for secret in ["api_key", "TEMPORAL_API_KEY", "--tls-key-data", "apiKey", "codec.auth",
///                "authorization", "AWS_SESSION_TOKEN", "password"] {
///     assert!(is_secret_name(secret), "{secret}");
/// }
/// for not_secret in ["address", "namespace", "--tls-key-path", "client_key_path",
///                    "AWS_ACCESS_KEY_ID", "server_name", "keep_alive", "author"] {
///     assert!(!is_secret_name(not_secret), "{not_secret}");
/// }
/// ```
pub fn is_secret_name(name: &str) -> bool {
    let words = name_words(name);
    let Some(last) = words.last() else {
        return false;
    };
    !NOT_SECRET_LAST_WORDS.contains(&last.as_str())
        && words
            .iter()
            .any(|word| SECRET_WORDS.contains(&word.as_str()))
}

/// `name` split into lower-case words at non-alphanumerics and camelCase boundaries.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c.to_ascii_lowercase());
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// Adds `secret` to the values masked wherever they appear, in every later call of [`text`]
/// and so in every log line, error and report of this process. A multi-line value (a PEM key)
/// is also remembered line by line, since an excerpt may quote one of its lines. Values and
/// lines shorter than [`MIN_KNOWN_LEN`] are ignored.
pub fn remember(secret: &str) {
    let candidates = std::iter::once(secret.trim()).chain(secret.lines().map(str::trim));
    let mut known = KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for candidate in candidates {
        if candidate.len() >= MIN_KNOWN_LEN && !known.iter().any(|value| value == candidate) {
            known.push(candidate.to_owned());
        }
    }
    known.sort_by_key(|value| std::cmp::Reverse(value.len()));
}

/// [`remember_environment`] of this process's environment (variables that are not UTF-8 read
/// lossily rather than panicking).
pub fn remember_process_environment() {
    remember_environment(std::env::vars_os().map(|(name, value)| {
        (
            name.to_string_lossy().into_owned(),
            value.to_string_lossy().into_owned(),
        )
    }));
}

/// Remembers the values of the secret-named variables among `variables` (e.g.
/// `TEMPORAL_API_KEY`, `TEMPORAL_TLS_CLIENT_KEY_DATA`, `TEMPORAL_CODEC_AUTH`, Lambda's
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`).
pub fn remember_environment(variables: impl IntoIterator<Item = (String, String)>) {
    for (name, value) in variables {
        if is_secret_name(&name) {
            remember(&value);
        }
    }
}

/// `text` with every secret masked: PEM private keys, the values this process remembers,
/// `Bearer` tokens, and the values of secret-named assignments.
pub fn text(text: &str) -> String {
    let known = KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    text_with(text, &known)
}

/// [`text`] with `known` as the values to mask instead of the process's.
pub fn text_with(text: &str, known: &[impl AsRef<str>]) -> String {
    let mut masked = mask_private_keys(text);
    for value in known.iter().map(AsRef::as_ref) {
        if value.len() >= MIN_KNOWN_LEN {
            masked = masked.replace(value, MASK);
        }
    }
    let bearer_tokens = bearer_token_ranges(&masked)
        .into_iter()
        .map(|range| (range, MASK));
    let masked = mask_ranges(&masked, bearer_tokens);
    mask_ranges(&masked, assigned_value_ranges(&masked))
}

/// A command line's words with secrets masked: the word after a secret flag (`--api-key K`),
/// the value of `--secret-flag=V` and of `secret_name=V` words (`--grpc-meta
/// authorization=..`, `--env TEMPORAL_API_KEY=..`), and whatever [`text`] masks.
pub fn args(words: &[impl AsRef<str>]) -> Vec<String> {
    let secrets = secret_values_in_args(words);
    let mut after_secret_flag = false;
    words
        .iter()
        .map(AsRef::as_ref)
        .map(|word| {
            let masked = if after_secret_flag && !word.starts_with("--") {
                MASK.to_owned()
            } else if let Some((name, _)) = word.split_once('=')
                && is_secret_name(name)
            {
                format!("{name}={MASK}")
            } else {
                text_with(&text(word), &secrets)
            };
            after_secret_flag = is_secret_flag(word);
            masked
        })
        .collect()
}

/// The secret values on a command line (see [`args`]), for [`remember`] or [`text_with`]: a
/// server or tool that echoes one back in an error is then masked too.
pub fn secret_values_in_args(words: &[impl AsRef<str>]) -> Vec<String> {
    let mut values = Vec::new();
    let mut after_secret_flag = false;
    for word in words.iter().map(AsRef::as_ref) {
        if after_secret_flag && !word.starts_with("--") {
            values.push(word.to_owned());
        } else if let Some((name, value)) = word.split_once('=')
            && is_secret_name(name)
        {
            values.push(value.to_owned());
        }
        after_secret_flag = is_secret_flag(word);
    }
    values
}

/// A flag whose value is the next word: `--api-key`, not `--api-key=K`.
fn is_secret_flag(word: &str) -> bool {
    word.starts_with('-') && !word.contains('=') && is_secret_name(word)
}

/// The values of the secret-named keys in a configuration file's text (`temporal.toml`), each
/// whole and, for a multi-line string, line by line. For a file that failed to parse: its
/// secrets were never loaded, yet the parser's error quotes one of its lines.
pub fn secret_values_in_config(config: &str) -> Vec<String> {
    let mut values = Vec::new();
    for (range, _) in assigned_value_ranges(config) {
        let value = &config[range];
        values.push(value.trim().to_owned());
        values.extend(value.lines().map(|line| {
            line.trim()
                .trim_end_matches('\\')
                .trim_matches(['"', '\''])
                .to_owned()
        }));
    }
    values.retain(|value| !value.is_empty());
    values.dedup();
    values
}

/// `text` with each range replaced by its mask.
fn mask_ranges(
    text: &str,
    ranges: impl IntoIterator<Item = (Range<usize>, &'static str)>,
) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut copied = 0;
    for (range, mask) in ranges {
        masked.push_str(&text[copied..range.start]);
        masked.push_str(mask);
        copied = range.end;
    }
    masked.push_str(&text[copied..]);
    masked
}

/// `-----BEGIN … PRIVATE KEY-----` through its `-----END … PRIVATE KEY-----` (or the end of the
/// text, for a truncated one) replaced by [`MASK`].
fn mask_private_keys(text: &str) -> String {
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

/// The tokens after `Bearer ` (any case).
fn bearer_token_ranges(text: &str) -> Vec<Range<usize>> {
    const BEARER: &str = "bearer ";
    let lowered = text.to_ascii_lowercase();
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(found) = lowered[from..].find(BEARER) {
        let start = from + found + BEARER.len();
        let len = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(c)))
            .unwrap_or(text.len() - start);
        if len > 0 && &text[start..start + len] != MASK {
            ranges.push(start..start + len);
        }
        from = start + len;
    }
    ranges
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// The values assigned to secret names: `name = value`, `name: value`, `name=value`, with the
/// name optionally quoted (`"api_key": ..`) and the value quoted, triple-quoted (TOML), quoted
/// with escaped quotes (inside a JSON string), an array or table (to the end of the line), or
/// bare. A quoted value ends at its closing quote or at the end of the line (an unterminated
/// string is what a TOML error quotes); a bare one at white space or punctuation.
///
/// Each with its mask: [`MASK`], or for a bare value of a quoted name (`"auth":true`) [`MASK`]
/// quoted as the name is, since a bare `***` would leave JSON that no longer parses.
fn assigned_value_ranges(text: &str) -> Vec<(Range<usize>, &'static str)> {
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
        // After a `/`, a name is a file's (`/etc/tls/client.key: no such file`).
        let in_path = name_start > 0 && bytes[name_start - 1] == b'/';
        if in_path || !is_secret_name(&text[name_start..at]) {
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
        if let Some(range) = value_range(text, value_start) {
            at = range.end;
            let bare = range.start == value_start && !text[value_start..].starts_with(['[', '{']);
            let mask = if bare { quoted_mask } else { MASK };
            if &text[range.clone()] != MASK {
                ranges.push((range, mask));
            }
        }
    }
    ranges
}

fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

/// The value starting at `start` (without its quotes), if there is one.
fn value_range(text: &str, start: usize) -> Option<Range<usize>> {
    let rest = &text[start..];
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |end| from + end);
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
        let end = line_end(content);
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
        start..line_end(start)
    } else if let Some(quote) = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))
    {
        let content = start + 1;
        let end = line_end(content);
        content
            ..text[content..end]
                .find(quote)
                .map_or(end, |close| content + close)
    } else {
        start
            ..rest
                .find(|c: char| c.is_whitespace() || ",;)]}\"'".contains(c))
                .map_or(text.len(), |end| start + end)
    };
    (!range.is_empty()).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Masked by name and shape only, whatever this process remembers.
    fn by_name_and_shape(text: &str) -> String {
        text_with(text, &[] as &[&str])
    }

    fn assert_masked(masked: &str) {
        assert!(!masked.contains(SENTINEL), "sentinel left in: {masked}");
        assert!(
            !masked.contains("SENTINEL"),
            "part of the sentinel left in: {masked}"
        );
        assert!(masked.contains(MASK), "nothing masked: {masked}");
    }

    #[test]
    fn a_toml_parse_errors_excerpt_keeps_its_line_and_loses_the_key() {
        // As envconfig's TOML errors quote the offending line.
        let error = format!(
            "TOML parse error at line 3, column 11\n  |\n3 | api_key = \"{SENTINEL}\n  |           ^\ninvalid basic string\n"
        );
        let masked = by_name_and_shape(&error);
        assert_masked(&masked);
        assert!(masked.contains("line 3, column 11"), "{masked}");
        assert!(masked.contains("3 | api_key = \"***\n"), "{masked}");
        assert!(masked.contains("invalid basic string"), "{masked}");
    }

    #[test]
    fn every_assignment_shape_of_a_secret_name_is_masked() {
        for line in [
            format!("api_key = \"{SENTINEL}\""),
            format!("api_key='{SENTINEL}'"),
            format!("apiKey: {SENTINEL}"),
            format!("TEMPORAL_API_KEY={SENTINEL}"),
            format!("\"api_key\":\"{SENTINEL}\""),
            format!("error=\"bad config: api_key = \\\"{SENTINEL}\\\" here\""),
            format!("tls = {{ client_key_data = \"{SENTINEL}\", server_name = \"x\" }}"),
            format!("auth = \"Bearer {SENTINEL}\""),
            format!("password: {SENTINEL}, user: me"),
            format!("api_key = [\"{SENTINEL}\", 1]"),
            // A JSON log line holding a multi-line message.
            format!("{{\"message\":\"line\\napi_key = \\\"{SENTINEL}\\\"\"}}"),
            format!("client_key_data = \"\"\"\n{SENTINEL}\n\"\"\""),
        ] {
            assert_masked(&by_name_and_shape(&line));
        }
        // What is not a secret stays readable.
        for plain in [
            "address = \"ns.tmprl.cloud:7233\" client_key_path = \"/etc/key.pem\"",
            "cannot load /tmp/api-key.toml: Configuration loading error",
            "cannot read /etc/tls/client.key: No such file",
            "PWD=/work/main",
        ] {
            assert_eq!(by_name_and_shape(plain), plain);
        }
        let json = format!("{{\"api_key\":\"{SENTINEL}\",\"namespace\":\"ns\"}}");
        assert_eq!(
            by_name_and_shape(&json),
            "{\"api_key\":\"***\",\"namespace\":\"ns\"}"
        );
    }

    #[test]
    fn a_bare_value_of_a_quoted_name_is_masked_as_a_string() {
        let json = "{\"auth\":true,\"api_key\": 12345,\"namespace\":\"ns\"}";
        let masked = by_name_and_shape(json);
        assert_eq!(
            masked,
            "{\"auth\":\"***\",\"api_key\": \"***\",\"namespace\":\"ns\"}"
        );
        assert!(serde_json::from_str::<serde_json::Value>(&masked).is_ok());
        assert_eq!(by_name_and_shape(&masked), masked);
        // Inside a JSON string, quoted as the name is.
        assert_eq!(
            by_name_and_shape("{\"message\":\"got {\\\"auth\\\":true}\"}"),
            "{\"message\":\"got {\\\"auth\\\":\\\"***\\\"}\"}"
        );
        // Unquoted names keep a bare mask.
        assert_eq!(by_name_and_shape("auth=true"), "auth=***");
    }

    #[test]
    fn known_values_are_masked_wherever_they_appear() {
        let echoed = format!("server said: invalid credentials {SENTINEL} (code 16)");
        let masked = text_with(&echoed, &[SENTINEL]);
        assert_eq!(masked, "server said: invalid credentials *** (code 16)");
        // Too short to mask by value: it would hide ordinary text.
        assert_eq!(text_with("port 10", &["10"]), "port 10");
    }

    #[test]
    fn remembered_values_reach_every_later_text() {
        let remembered = "SENTINEL-remembered-4d1e";
        remember(&format!("  {remembered}\n"));
        assert_eq!(text(&format!("got {remembered}!")), "got ***!");
        remember_environment([
            (
                "MY_SERVICE_TOKEN".to_owned(),
                "SENTINEL-env-9a0b".to_owned(),
            ),
            (
                "MY_SERVICE_URL".to_owned(),
                "https://example.com/x".to_owned(),
            ),
        ]);
        assert_eq!(text("use SENTINEL-env-9a0b"), "use ***");
        assert!(text("https://example.com/x").contains("example.com"));
    }

    #[test]
    fn pem_private_keys_are_masked_whole_and_certificates_kept() {
        let key = format!(
            "key: -----BEGIN PRIVATE KEY-----\nMIIE{SENTINEL}\n-----END PRIVATE KEY----- done"
        );
        let masked = by_name_and_shape(&key);
        assert_eq!(masked, "key: *** done");
        let escaped = format!(
            "\"-----BEGIN RSA PRIVATE KEY-----\\nMIIE{SENTINEL}\\n-----END RSA PRIVATE KEY-----\""
        );
        assert_eq!(by_name_and_shape(&escaped), "\"***\"");
        let truncated = format!("-----BEGIN EC PRIVATE KEY-----\nMIIE{SENTINEL}");
        assert_eq!(by_name_and_shape(&truncated), MASK);
        let certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(by_name_and_shape(certificate), certificate);
    }

    #[test]
    fn command_lines_lose_secret_flag_values_only() {
        let words = [
            "--address",
            "ns.tmprl.cloud:7233",
            "--api-key",
            SENTINEL,
            &format!("--tls-key-data={SENTINEL}"),
            "--tls-key-path",
            "/etc/key.pem",
            "--codec-auth",
            SENTINEL,
            "--grpc-meta",
            &format!("authorization=Bearer {SENTINEL}"),
            "--namespace",
            "ns",
        ];
        let masked = args(&words);
        assert_eq!(
            masked,
            [
                "--address",
                "ns.tmprl.cloud:7233",
                "--api-key",
                "***",
                "--tls-key-data=***",
                "--tls-key-path",
                "/etc/key.pem",
                "--codec-auth",
                "***",
                "--grpc-meta",
                "authorization=***",
                "--namespace",
                "ns",
            ]
        );
        let values = secret_values_in_args(&words);
        assert_eq!(values.len(), 4, "{values:?}");
        assert!(values.iter().all(|value| value.contains(SENTINEL)));
    }

    #[test]
    fn config_text_yields_its_secret_values_line_by_line() {
        let config = format!(
            "[profile.default]\naddress = \"x:7233\"\napi_key = \"{SENTINEL}\"\n[profile.default.tls]\nclient_key_data = \"\"\"\n-----BEGIN PRIVATE KEY-----\nMIIEline{SENTINEL}\n\"\"\"\n"
        );
        let values = secret_values_in_config(&config);
        assert!(values.contains(&SENTINEL.to_owned()), "{values:?}");
        assert!(
            values.contains(&format!("MIIEline{SENTINEL}")),
            "{values:?}"
        );
        assert!(!values.iter().any(|value| value.contains("x:7233")));
        // A later parse error quoting only the key's middle line is then masked by value.
        let excerpt = format!("7 | MIIEline{SENTINEL}\n  | ^");
        assert_masked(&text_with(&excerpt, &values));
    }

    #[test]
    fn masking_is_idempotent() {
        let once = text_with(&format!("api_key = \"{SENTINEL}\""), &[SENTINEL]);
        assert_eq!(text_with(&once, &[SENTINEL]), once);
        assert_eq!(args(&args(&["--api-key", SENTINEL])), ["--api-key", MASK]);
    }
}
