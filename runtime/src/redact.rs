//! What counts as a secret, and how it is masked, for every text this project prints: the
//! function's errors and log lines, its telemetry warnings, and the `temporal-serverless`
//! command's errors, `deploy --print` and `doctor` reports. One rule, so that an API key cannot
//! slip out of one path because another path's list was longer.
//!
//! Three ways a secret is recognised:
//!
//! - **by its name** (`names`, `assignments`): the value of an assignment (`api_key = ".."`,
//!   `api_key: ..`, `TEMPORAL_API_KEY=..`, `"apiKey":".."`, `Authorization: Basic ..`) or of a
//!   command-line flag (`--api-key ..`, `--tls-key-data=..`) whose name is a secret's
//!   ([`is_secret_name`]: its last word is a key, secret, token, password, passphrase,
//!   credential, cookie or auth, so `AUTH_MODE` is not). This catches a `temporal.toml` line
//!   quoted by a parse error, whatever the value is;
//! - **by its value** (`known_values`): secrets the process knows ([`remember`]: the loaded API
//!   key and TLS key, the values of secret-named environment variables and of secret flags, and
//!   what the other two rules find in the environment, such as the password in
//!   `TEMPORAL_ADDRESS`) are replaced wherever they appear, e.g. echoed in a server's error
//!   message, also JSON-escaped, percent-encoded or in base64; a value shorter than
//!   [`MIN_ANYWHERE_LEN`] only where it is a whole token;
//! - **by its shape** (`shapes`): PEM private-key blocks, the password of a URL
//!   (`scheme://user:password@host`), and credentials after `Basic` and `Bearer`.
//!
//! Everything recognised becomes [`MASK`], never a partial prefix.
//!
//! ```
//! use temporal_serverless::redact;
//! let excerpt = "3 | api_key = \"tsls-example-key";
//! assert_eq!(redact::text(excerpt), "3 | api_key = \"***");
//! let refused = "cannot connect to http://deploy:hunter2@10.0.0.7:7233";
//! assert_eq!(redact::text(refused), "cannot connect to http://deploy:***@10.0.0.7:7233");
//! ```

mod assignments;
mod known_values;
mod names;
mod shapes;

#[cfg(test)]
mod properties;

pub use names::is_secret_name;

use known_values::KnownValues;
use std::{ops::Range, sync::RwLock};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Known values at least this long are masked wherever they appear, even inside a longer word;
/// shorter ones only where they stand as a whole token (not joined to letters, digits or `_`),
/// in any of their encodings. Anywhere, a short value would mask parts of ordinary words and
/// numbers (a password `abc` would cut the middle out of `fabcd`), and no real API key or private
/// key is this short; as a whole token, the value shown is the secret.
pub const MIN_ANYWHERE_LEN: usize = 8;

/// A value the tests of this workspace pass as a secret and then look for in what is printed:
/// one spelling, so that a check for its distinctive part (`SENTINEL`) covers every test.
#[doc(hidden)]
pub const SENTINEL: &str = "SENTINEL-7f3a9c-SECRET";

/// The secrets this process knows.
static KNOWN: RwLock<KnownValues> = RwLock::new(KnownValues::new());

/// Adds `secret` to the values masked wherever they appear, in every later call of [`text`]
/// and so in every log line, error and report of this process. A multi-line value (a PEM key)
/// is also remembered line by line, since an excerpt may quote one of its lines, and the
/// credential of a `Bearer ..` value also alone. A value without a letter or digit, or one
/// that is a switch (`true`, `none`), is no secret and ignored.
pub fn remember(secret: &str) {
    KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .extend([secret]);
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

/// Remembers the secrets among `variables`: the values of the secret-named ones (e.g.
/// `TEMPORAL_API_KEY`, `TEMPORAL_TLS_CLIENT_KEY_DATA`, `TEMPORAL_CODEC_AUTH`, Lambda's
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`), and in the others only the parts that are
/// secrets by shape or inner name (the password in `TEMPORAL_ADDRESS=http://deploy:..@host`,
/// the credential in `OTEL_EXPORTER_OTLP_HEADERS=authorization=Basic ..`). The value of any
/// other variable never becomes a secret: `AUTH_MODE=password` must not mask the word
/// "password" everywhere.
pub fn remember_environment(variables: impl IntoIterator<Item = (String, String)>) {
    let secrets = secret_values_in_environment(variables);
    KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .extend(secrets.iter().map(String::as_str));
}

/// The secrets among `variables`, as [`remember_environment`] remembers them.
fn secret_values_in_environment(
    variables: impl IntoIterator<Item = (String, String)>,
) -> Vec<String> {
    let mut secrets = Vec::new();
    for (name, value) in variables {
        if is_secret_name(&name) {
            secrets.push(value);
        } else {
            secrets.extend(secret_values_in_text(&value));
        }
    }
    secrets
}

/// `text` with every secret masked: PEM private keys, the values this process remembers, URL
/// passwords, `Basic` and `Bearer` credentials, and the values of secret-named assignments.
pub fn text(text: &str) -> String {
    let known = KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    mask(text, &known)
}

/// [`text`] with `known` as the values to mask instead of the process's.
pub fn text_with(text: &str, known: &[impl AsRef<str>]) -> String {
    mask(text, &KnownValues::of(known.iter().map(AsRef::as_ref)))
}

/// An address to show (an OpenTelemetry collector's, say): its password and the value of every
/// query parameter masked, then whatever [`text`] masks. An endpoint's query may carry a
/// credential under any name (`?sig=..`, `?code=..`), and what a reader needs from the address
/// is its scheme, host, port and path.
///
/// ```
/// use temporal_serverless::redact;
/// assert_eq!(
///     redact::url("https://otel:pw@collector.example.com:4317/v1?tenant=a&sig=xyz"),
///     "https://otel:***@collector.example.com:4317/v1?tenant=***&sig=***",
/// );
/// ```
pub fn url(url: &str) -> String {
    let mut ranges = shapes::userinfo_password_ranges(url);
    if let Some(query_start) = url.find('?') {
        let query_end = url[query_start..]
            .find('#')
            .map_or(url.len(), |end| query_start + end);
        let mut parameter_start = query_start + 1;
        for parameter in url[query_start + 1..query_end].split('&') {
            if let Some(equals) = parameter.find('=') {
                let value = parameter_start + equals + 1..parameter_start + parameter.len();
                if !value.is_empty() && &url[value.clone()] != MASK {
                    ranges.push(value);
                }
            }
            parameter_start += parameter.len() + 1;
        }
    }
    let masked = mask_ranges(url, merged(ranges).into_iter().map(|range| (range, MASK)));
    text(&masked)
}

/// `text` with every secret masked, `known` being the values known: PEM keys first (a key's
/// lines are known values too, and the block goes whole), then known values (so that a value
/// is masked whole even where a name or shape would mask a part of it), then shapes, then
/// names.
fn mask(text: &str, known: &KnownValues) -> String {
    let masked = shapes::mask_private_keys(text);
    let by_value = known.ranges(&masked).into_iter().map(|range| (range, MASK));
    let masked = mask_ranges(&masked, by_value);
    let by_shape = shapes::credential_ranges(&masked)
        .into_iter()
        .map(|range| (range, MASK));
    let masked = mask_ranges(&masked, by_shape);
    mask_ranges(&masked, assignments::assigned_value_ranges(&masked))
}

/// A command line's words with secrets masked: the word after a secret flag (`--api-key K`),
/// the value of `--secret-flag=V` and of `secret_name=V` words (`--grpc-meta
/// authorization=..`, `--env TEMPORAL_API_KEY=..`), and whatever [`text`] masks.
pub fn args(words: &[impl AsRef<str>]) -> Vec<String> {
    let secrets = secret_values_in_args(words);
    let secrets = KnownValues::of(secrets.iter().map(String::as_str));
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
                mask(&text(word), &secrets)
            };
            after_secret_flag = is_secret_flag(word);
            masked
        })
        .collect()
}

/// The secret values on a command line (see [`args`]; also a URL's password in any word), for
/// [`remember`] or [`text_with`]: a server or tool that echoes one back in an error is then
/// masked too.
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
        } else {
            values.extend(secret_values_in_text(word));
        }
        after_secret_flag = is_secret_flag(word);
    }
    values
}

/// A flag whose value is the next word: `--api-key`, not `--api-key=K`.
fn is_secret_flag(word: &str) -> bool {
    word.starts_with('-') && !word.contains('=') && is_secret_name(word)
}

/// The values of the secret-named keys in a configuration file's text (`temporal.toml`), and
/// the passwords of its URLs, each whole and, for a multi-line string, line by line. For a file
/// that failed to parse: its secrets were never loaded, yet the parser's error quotes one of its
/// lines.
pub fn secret_values_in_config(config: &str) -> Vec<String> {
    let by_name = assignments::assigned_value_ranges(config)
        .into_iter()
        .map(|(range, _)| range);
    let mut values = Vec::new();
    for range in by_name.chain(shapes::credential_ranges(config)) {
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

/// The parts of `text` that are secrets by shape or by the name they are assigned to: what
/// [`text`] masks in it without knowing any value.
fn secret_values_in_text(text: &str) -> Vec<String> {
    let by_name = assignments::assigned_value_ranges(text)
        .into_iter()
        .map(|(range, _)| range);
    shapes::credential_ranges(text)
        .into_iter()
        .chain(by_name)
        .map(|range| text[range].to_owned())
        .collect()
}

/// `text` with each range replaced by its mask. The ranges are sorted; one that overlaps the
/// one before or cuts a character is widened rather than trusted, since a panic here would
/// lose the log line or error it was masking.
fn mask_ranges(
    text: &str,
    ranges: impl IntoIterator<Item = (Range<usize>, &'static str)>,
) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut copied = 0;
    for (range, mask) in ranges {
        if range.end <= copied {
            continue;
        }
        let mut start = range.start.clamp(copied, text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = range.end.min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        masked.push_str(&text[copied..start]);
        masked.push_str(mask);
        copied = end;
    }
    masked.push_str(&text[copied..]);
    masked
}

/// `ranges` sorted, with the ones that overlap or touch joined.
fn merged(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|range| (range.start, range.end));
    let mut joined: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        if let Some(last) = joined.last_mut()
            && range.start <= last.end
        {
            last.end = last.end.max(range.end);
            continue;
        }
        joined.push(range);
    }
    joined
}

fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine as _, engine::general_purpose::STANDARD};

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
        // A short value only as a whole token, not inside other numbers or words.
        assert_eq!(
            text_with("port 10, not 107 nor a10", &["10"]),
            "port ***, not 107 nor a10"
        );
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

    #[test]
    fn a_url_password_is_masked_and_its_user_and_host_kept() {
        // What an unreachable server's error quotes, from TEMPORAL_ADDRESS.
        let refused = format!(
            "failed to connect to http://deploy:{SENTINEL}@127.0.0.1:1: connection refused"
        );
        assert_eq!(
            by_name_and_shape(&refused),
            "failed to connect to http://deploy:***@127.0.0.1:1: connection refused"
        );
        for (url, masked) in [
            ("https://u:p%40ss%3Aw0rd@host/db", "https://u:***@host/db"),
            // An unescaped `@` in the password: URL parsers split at the last one.
            (
                "postgres://u:p@ss@db.internal:5432/x",
                "postgres://u:***@db.internal:5432/x",
            ),
            ("redis://:hunter2@cache:6379", "redis://:***@cache:6379"),
            (
                "{\"endpoint\":\"http://a:b3c@h:1\"}",
                "{\"endpoint\":\"http://a:***@h:1\"}",
            ),
        ] {
            assert_eq!(by_name_and_shape(url), masked);
        }
        for plain in [
            "ssh://git@github.com/x",
            "http://127.0.0.1:7233",
            "see http://host:1, user: bob@example.com",
        ] {
            assert_eq!(by_name_and_shape(plain), plain);
        }
        // Remembered from a variable that is no secret, so that a message quoting the password
        // without its URL is masked too.
        let secrets = secret_values_in_environment([(
            "TEMPORAL_ADDRESS".to_owned(),
            format!("http://deploy:{SENTINEL}@host:7233"),
        )]);
        assert_eq!(secrets, [SENTINEL]);
        assert_masked(&text_with(&format!("auth failed for {SENTINEL}"), &secrets));
    }

    #[test]
    fn authorization_credentials_are_masked_after_their_scheme() {
        let basic = STANDARD.encode(format!("deploy:{SENTINEL}"));
        for (line, masked) in [
            (
                format!("Authorization: Basic {basic}"),
                "Authorization: Basic ***",
            ),
            (
                format!("Proxy-Authorization: basic {basic}\r\nHost: x"),
                "Proxy-Authorization: basic ***\r\nHost: x",
            ),
            (
                format!("authorization=Bearer {SENTINEL}"),
                "authorization=Bearer ***",
            ),
            // Under an authorization name, whatever the credential reads as.
            (
                "Authorization: Bearer letmein".to_owned(),
                "Authorization: Bearer ***",
            ),
            // Without a name: by shape.
            (
                format!("sent Basic {basic} upstream"),
                "sent Basic *** upstream",
            ),
            (format!("header Bearer {SENTINEL}."), "header Bearer ***."),
        ] {
            assert_eq!(by_name_and_shape(&line), masked);
            assert_eq!(by_name_and_shape(masked), masked);
        }
        for plain in [
            "the bearer token expired",
            "Bearer Token authentication",
            "WWW-Authenticate: Bearer realm=\"temporal\"",
            "Basic auth is off",
        ] {
            assert_eq!(by_name_and_shape(plain), plain);
        }
        // A remembered header value makes its credential a known value of its own.
        assert_eq!(
            text_with("token abc123xyz refused", &["Bearer abc123xyz"]),
            "token *** refused"
        );
    }

    #[test]
    fn secrets_credentials_passphrases_cookies_and_key_files_are_secret_names() {
        for line in [
            format!("APP_SECRETS={SENTINEL}"),
            format!("CREDENTIALS: {SENTINEL}"),
            format!("ssh_passphrase = \"{SENTINEL}\""),
            format!("PRIVATEKEY={SENTINEL}"),
            format!("private-key: {SENTINEL}"),
            format!("\"privateKey\":\"{SENTINEL}\""),
            format!("SERVICE_ACCOUNT_KEY_JSON='{SENTINEL}'"),
            format!("DB_PASSWORD_2={SENTINEL}"),
        ] {
            assert_masked(&by_name_and_shape(&line));
        }
        // All of a cookie list, not only its first pair.
        assert_eq!(
            by_name_and_shape(&format!("Cookie: theme=dark; session={SENTINEL} sent")),
            "Cookie: *** sent"
        );
    }

    #[test]
    fn short_known_values_are_masked_as_whole_tokens_only() {
        let known = ["x9Q"];
        assert_eq!(
            text_with("got x9Q, \"x9Q\" (x9Q) x9Q.", &known),
            "got ***, \"***\" (***) ***."
        );
        let joined = "ax9Q x9Qb x9Q_1 éx9Q 0x9Q";
        assert_eq!(text_with(joined, &known), joined);
        // Written in base64, percent-encoded or JSON-escaped, still as a whole token.
        let base64 = STANDARD.encode("x9Q");
        assert_eq!(
            text_with(&format!("k={base64}&x=%78%39%51 \\u0078\\u0039Q"), &known),
            "k=***&x=*** ***"
        );
        // Switches and values without a letter or digit are no secrets.
        assert_eq!(
            text_with(
                "{\"ok\":true,\"mode\":null} -- done",
                &["true", "null", "--"]
            ),
            "{\"ok\":true,\"mode\":null} -- done"
        );
    }

    #[test]
    fn known_values_are_masked_escaped_percent_encoded_and_in_base64() {
        let secret = format!("{SENTINEL}/\"é+");
        let json = serde_json::to_string(&secret).unwrap();
        let json_in_json = serde_json::to_string(&format!("error: {json}")).unwrap();
        let percent: String = secret
            .bytes()
            .map(|byte| match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(byte).to_string(),
                _ => format!("%{byte:02x}"),
            })
            .collect();
        let basic = STANDARD.encode(format!("deploy:{secret}"));
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret);
        for shown in [json, json_in_json, percent, basic, url_safe] {
            let masked = text_with(&format!("echo {shown} end"), &[&secret]);
            assert_masked(&masked);
            assert!(
                masked.starts_with("echo ") && masked.ends_with(" end"),
                "{masked}"
            );
        }
    }

    #[test]
    fn settings_about_a_secret_are_no_secrets_and_their_values_stay_readable() {
        let environment = [
            ("AUTH_MODE", "password"),
            ("AUTH_TYPE", "basic"),
            ("TOKEN_LIMIT", "10"),
            ("TEMPORAL_TLS_CLIENT_KEY_PATH", "/etc/tls/client.key"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE123"),
            ("NEXT_PAGE_TOKEN", "CiQ4ZjQ"),
            ("TEMPORAL_CODEC_AUTH", "none"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let secrets = secret_values_in_environment(environment.clone());
        let line = "enter your password, basic auth, limit 10, key /etc/tls/client.key, \
                    id AKIAEXAMPLE123, page CiQ4ZjQ, none left";
        assert_eq!(text_with(line, &secrets), line);
        for (name, value) in environment.iter().take(6) {
            let assignment = format!("{name}={value}");
            assert_eq!(by_name_and_shape(&assignment), assignment);
        }
    }

    #[test]
    fn an_address_loses_its_password_and_query_values() {
        assert_eq!(
            url(&format!(
                "https://otel:{SENTINEL}@collector.example.com:4317/v1?tenant=a&sig={SENTINEL}#x"
            )),
            "https://otel:***@collector.example.com:4317/v1?tenant=***&sig=***#x"
        );
        assert_eq!(url("http://localhost:4317"), "http://localhost:4317");
    }
}
