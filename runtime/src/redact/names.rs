//! What a secret's name is. A name says what its value is in its last word, as an English
//! compound noun does: `AUTH_MODE` is a mode, `TOKEN_LIMIT` a limit, `CLIENT_KEY_PATH` a path,
//! `AWS_ACCESS_KEY_ID` an ID, and only `API_KEY`, `DB_PASSWORD` or `TEMPORAL_CODEC_AUTH` a
//! secret. Looking at any word instead made the value of every `AUTH_*` setting a secret, and
//! `AUTH_MODE=password` then masked the word "password" in every line. The words that may
//! follow the head say how the secret is written or which of several it is (`TLS_KEY_DATA`,
//! `SERVICE_ACCOUNT_KEY_JSON`, `DB_PASSWORD_2`, `GITHUB_TOKEN_PROD`), not what it is.

/// Words that, as a name's head, make it a secret's.
const SECRET_HEADS: &[&str] = &[
    "key",
    "keys",
    "apikey",
    "apikeys",
    "privatekey",
    "clientkey",
    "tlskey",
    "keydata",
    "accesskey",
    "secretkey",
    "secret",
    "secrets",
    "token",
    "tokens",
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "passcode",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "creds",
    "cookie",
    "cookies",
];

/// Words after the head that say how the secret is written or which of several it is.
const QUALIFIERS: &[&str] = &[
    // How it is written: `TLS_KEY_DATA`, `KEY_JSON`, `CLIENT_KEY_PEM`, `AUTH_HEADER`, and
    // Rails' `SECRET_KEY_BASE`.
    "data",
    "value",
    "json",
    "b64",
    "base64",
    "hex",
    "pem",
    "raw",
    "str",
    "string",
    "text",
    "bytes",
    "content",
    "contents",
    "material",
    "header",
    "base",
    // Which of several: `DB_PASSWORD_PROD`, `API_KEY_OLD`.
    "prod",
    "production",
    "dev",
    "development",
    "staging",
    "stage",
    "test",
    "qa",
    "live",
    "sandbox",
    "primary",
    "secondary",
    "old",
    "new",
    "current",
    "previous",
    "prev",
    "next",
    "backup",
];

/// Words before a `key` or `token` head that make it something other than a credential: a
/// database's or a cache's key, a public key, a page token (`next_page_token`), a search
/// attribute's key, a number of tokens (`MAX_TOKENS`). Masking their values would hide ordinary
/// identifiers and numbers in every log line.
const NOT_CREDENTIAL_KINDS: &[&str] = &[
    "max",
    "min",
    "num",
    "total",
    "input",
    "output",
    "primary",
    "foreign",
    "partition",
    "sort",
    "cache",
    "idempotency",
    "routing",
    "dedup",
    "deduplication",
    "attribute",
    "lookup",
    "object",
    "hash",
    "shard",
    "search",
    "public",
    "page",
    "continuation",
    "cancellation",
];

/// Extensions that make a dotted name a file's (`api-key.json`, `client.key.pem`): an error must
/// be able to name the file it could not read, and a file's name reveals nothing without it.
/// Only after a `.`: `SERVICE_ACCOUNT_KEY_JSON` is a variable holding the JSON itself.
const FILE_EXTENSIONS: &[&str] = &[
    "json", "yaml", "yml", "toml", "txt", "pem", "crt", "cer", "der", "p12", "pfx", "env", "ini",
    "conf", "cfg",
];

/// Whether `name` (a TOML key, an environment variable, a flag, a header, a log field) names a
/// secret: its head (its last word, after the words that say how a secret is written or which
/// one it is, and after numbers) is a key, secret, token, password, passphrase, credential,
/// cookie or auth(orization), and it is not a file's name.
///
/// ```
/// use temporal_serverless::redact::is_secret_name;
/// for secret in ["api_key", "TEMPORAL_API_KEY", "--tls-key-data", "apiKey", "codec.auth",
///                "authorization", "AWS_SESSION_TOKEN", "password", "APP_SECRETS",
///                "CREDENTIALS", "SSH_PASSPHRASE", "Cookie", "PRIVATEKEY", "private-key",
///                "SERVICE_ACCOUNT_KEY_JSON", "DB_PASSWORD_2"] {
///     assert!(is_secret_name(secret), "{secret}");
/// }
/// for not_secret in ["address", "namespace", "--tls-key-path", "client_key_path",
///                    "AWS_ACCESS_KEY_ID", "server_name", "keep_alive", "author", "AUTH_MODE",
///                    "TOKEN_LIMIT", "api-key.json", "next_page_token", "PUBLIC_KEY"] {
///     assert!(!is_secret_name(not_secret), "{not_secret}");
/// }
/// ```
pub fn is_secret_name(name: &str) -> bool {
    let Some((head, before)) = head_word(name) else {
        return false;
    };
    // `password2`, `key1`: one word, numbered.
    let head = head.trim_end_matches(|c: char| c.is_ascii_digit());
    let names_a_credential = !matches!(head, "key" | "keys" | "token" | "tokens")
        || before.is_none_or(|kind| !NOT_CREDENTIAL_KINDS.contains(&kind.as_str()));
    SECRET_HEADS.contains(&head) && names_a_credential
}

/// Whether `name` is an `Authorization` header's or an `auth` setting's, whose value may be an
/// HTTP authentication scheme and its credential (`Basic dXNl..`).
pub(super) fn is_authorization_name(name: &str) -> bool {
    is_secret_name(name)
        && head_word(name)
            .is_some_and(|(head, _)| matches!(head.as_str(), "auth" | "authorization"))
}

/// Whether `name` is a cookie header's (`Cookie`, `Set-Cookie`), whose value is a list
/// (`a=1; b=2`).
pub(super) fn is_cookie_name(name: &str) -> bool {
    head_word(name).is_some_and(|(head, _)| matches!(head.as_str(), "cookie" | "cookies"))
}

/// The word that says what `name` names and the word before it; `None` for a file's name or a
/// name without words.
fn head_word(name: &str) -> Option<(String, Option<String>)> {
    if let Some((_, extension)) = name.rsplit_once('.')
        && FILE_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
    {
        return None;
    }
    let mut words = name_words(name);
    while words.last().is_some_and(|word| {
        QUALIFIERS.contains(&word.as_str()) || word.bytes().all(|byte| byte.is_ascii_digit())
    }) {
        words.pop();
    }
    let head = words.pop()?;
    Some((head, words.pop()))
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
