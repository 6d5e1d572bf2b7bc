//! The rule's properties, over every combination of tables (secret values × encodings ×
//! surrounding texts, secret and ordinary names × values × assignment shapes) and over values
//! drawn at random from a fixed seed: no secret survives, in any of the ways a message carries
//! it, and the text around it survives exactly.

use super::{
    MASK, MIN_ANYWHERE_LEN, SENTINEL, is_secret_name,
    known_values::{KnownValues, MIN_BASE64_LEN},
    mask, secret_values_in_environment, text_with,
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};

/// Where a surrounding holds the secret.
const HOLE: &str = "<SECRET>";

/// Texts a secret is shown in: alone, in an error, in a query, quoted, ending a sentence, on a
/// line of its own, in a JSON log line, after a secret's name.
const SURROUNDINGS: &[&str] = &[
    HOLE,
    "server said: invalid credentials <SECRET> (code 16)",
    "value=<SECRET>&next=1",
    "[<SECRET>]",
    "\"<SECRET>\"",
    "it ends with <SECRET>.",
    "line one\n<SECRET>\nline three",
    "{\"level\":\"ERROR\",\"message\":\"refused <SECRET> here\"}",
    "'<SECRET>', then more",
    "password: <SECRET>",
];

/// Secret values: long ones (masked anywhere), one with every character an encoder escapes,
/// one outside the Basic Multilingual Plane (JSON writes a surrogate pair), short ones (masked
/// as whole tokens), and one of a single character.
const SECRETS: &[&str] = &[
    SENTINEL,
    "tsls_live_4f9a8b7c6d5e",
    "p\"ss\\wörd/+=&?#:@ 42%zz",
    "🔑-ünïcödé-key-9",
    "hunter2",
    "s3cr3t!",
    "x9Q",
    "é7",
    "Q",
];

/// Names whose values are secrets, in each spelling a setting, flag or header has.
const SECRET_NAMES: &[&str] = &[
    "api_key",
    "TEMPORAL_API_KEY",
    "apiKey",
    "x-api-key",
    "--tls-key-data",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "TEMPORAL_CODEC_AUTH",
    "authorization",
    "Proxy-Authorization",
    "DB_PASSWORD",
    "DB_PASSWORD_2",
    "APP_SECRETS",
    "CREDENTIALS",
    "GOOGLE_CREDENTIALS",
    "SSH_PASSPHRASE",
    "Cookie",
    "SESSION_COOKIE",
    "PRIVATE_KEY",
    "PRIVATEKEY",
    "private-key",
    "privateKey",
    "SERVICE_ACCOUNT_KEY_JSON",
    "TLS_KEY_PEM",
    "SECRET_KEY_BASE",
    "GITHUB_TOKEN_PROD",
];

/// Values a secret name is given in the name tests: none ends a bare value early (no white space
/// or `,;)]}"'`), so that masking by name alone must hide all of it.
const NAMED_VALUES: &[&str] = &[SENTINEL, "tsls_live_4f9a8b", "hunter2", "p@ss:w0rd", "x9Q"];

/// Names that mention a secret but name something else.
const NOT_SECRET_NAMES: &[&str] = &[
    "AUTH_MODE",
    "AUTH_TYPE",
    "AUTH_METHOD",
    "TOKEN_LIMIT",
    "TOKEN_TTL",
    "KEY_TYPE",
    "AWS_ACCESS_KEY_ID",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "PASSWORD_MIN_LENGTH",
    "SECRET_ARN",
    "KMS_KEY_ARN",
    "next_page_token",
    "MAX_TOKENS",
    "PUBLIC_KEY",
    "PRIMARY_KEY",
    "api-key.json",
    "client.key.pem",
    "keep_alive",
    "author",
    "TEMPORAL_ADDRESS",
    "namespace",
];

/// Ordinary values, some of them words that are also secrets' names.
const ORDINARY_VALUES: &[&str] = &[
    "password",
    "secret",
    "token",
    "basic",
    "10",
    "true",
    "us-east-1",
    "/etc/tls/client.key",
    "ns.tmprl.cloud:7233",
];

/// Texts without a secret in them, with the words a careless rule would mask.
const ORDINARY_TEXTS: &[&str] = &[
    "the bearer token expired; enter your password again",
    "Basic auth is off, Bearer Token authentication is on",
    "WWW-Authenticate: Bearer realm=\"temporal\"",
    "workflow order-123 completed in 10 ms after 2 attempts",
    "QQ, Q9 and x9Qx are not x9Q_like: ax9Q",
    "{\"level\":\"INFO\",\"message\":\"poll ok\",\"mode\":\"password\"}",
    "connecting to https://ns.tmprl.cloud:7233 and http://localhost:4317/v1/traces",
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "cannot read /etc/tls/client.key: No such file",
];

/// How a message may write a value.
#[derive(Clone, Copy, Debug)]
enum Encoding {
    Plain,
    /// In a JSON string.
    Json,
    /// In a JSON string quoted in another JSON string.
    JsonTwice,
    /// In a JSON string with everything outside ASCII escaped (`\u00e9`, surrogate pairs).
    JsonAscii,
    /// Every byte but letters and digits percent-encoded, upper-case hex.
    Percent,
    /// The same, lower-case hex.
    PercentLower,
    /// Only what a URL must escape (RFC 3986 keeps `-._~`).
    PercentReserved,
    Base64,
    Base64NoPad,
    Base64UrlSafe,
    Base64UrlSafeNoPad,
    /// Inside a longer base64 text, after these bytes (each offset modulo 3) and before a
    /// newline: a `Basic` credential's `user:`, a JSON blob.
    Base64Inside(&'static str),
    /// The same in the URL-safe alphabet, unpadded.
    Base64UrlSafeInside(&'static str),
}

const ENCODINGS: &[Encoding] = &[
    Encoding::Plain,
    Encoding::Json,
    Encoding::JsonTwice,
    Encoding::JsonAscii,
    Encoding::Percent,
    Encoding::PercentLower,
    Encoding::PercentReserved,
    Encoding::Base64,
    Encoding::Base64NoPad,
    Encoding::Base64UrlSafe,
    Encoding::Base64UrlSafeNoPad,
    Encoding::Base64Inside(""),
    Encoding::Base64Inside("u"),
    Encoding::Base64Inside("us"),
    Encoding::Base64Inside("user:"),
    Encoding::Base64UrlSafeInside("{\"password\":\""),
    Encoding::Base64UrlSafeInside("k="),
];

impl Encoding {
    /// Whether the rule promises to find `value` written this way: base64 from
    /// `MIN_BASE64_LEN` bytes, and inside a longer base64 text only for a value masked anywhere.
    fn promised_for(self, value: &str) -> bool {
        match self {
            Self::Base64 | Self::Base64NoPad | Self::Base64UrlSafe | Self::Base64UrlSafeNoPad => {
                value.len() >= MIN_BASE64_LEN
            }
            Self::Base64Inside(_) | Self::Base64UrlSafeInside(_) => value.len() >= MIN_ANYWHERE_LEN,
            _ => true,
        }
    }

    fn encode(self, value: &str) -> String {
        match self {
            Self::Plain => value.to_owned(),
            Self::Json => json(value),
            Self::JsonTwice => json(&json(value)),
            Self::JsonAscii => value
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        json(&c.to_string())
                    } else {
                        c.encode_utf16(&mut [0; 2])
                            .iter()
                            .map(|unit| format!("\\u{unit:04x}"))
                            .collect()
                    }
                })
                .collect(),
            Self::Percent => percent(value, |byte| byte.is_ascii_alphanumeric(), false),
            Self::PercentLower => percent(value, |byte| byte.is_ascii_alphanumeric(), true),
            Self::PercentReserved => percent(
                value,
                |byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte),
                false,
            ),
            Self::Base64 => STANDARD.encode(value),
            Self::Base64NoPad => STANDARD_NO_PAD.encode(value),
            Self::Base64UrlSafe => URL_SAFE.encode(value),
            Self::Base64UrlSafeNoPad => URL_SAFE_NO_PAD.encode(value),
            Self::Base64Inside(before) => STANDARD.encode(format!("{before}{value}\n")),
            Self::Base64UrlSafeInside(before) => {
                URL_SAFE_NO_PAD.encode(format!("{before}{value}\n"))
            }
        }
    }
}

/// `value` as the inside of a JSON string.
fn json(value: &str) -> String {
    let quoted = serde_json::to_string(value).expect("a string is JSON");
    quoted[1..quoted.len() - 1].to_owned()
}

/// `value` with every byte that `keep` refuses percent-encoded.
fn percent(value: &str, keep: impl Fn(u8) -> bool, lower_case: bool) -> String {
    value
        .bytes()
        .map(|byte| {
            if keep(byte) {
                char::from(byte).to_string()
            } else if lower_case {
                format!("%{byte:02x}")
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// Asserts that `value`, known, is masked in every encoding the rule promises and in every
/// surrounding, exactly: the surrounding with [`MASK`] where the value was, and masking again
/// changes nothing.
fn assert_masked_everywhere(value: &str, context: &str) {
    let known = KnownValues::of([value]);
    for &encoding in ENCODINGS {
        if !encoding.promised_for(value) {
            continue;
        }
        let encoded = encoding.encode(value);
        for surrounding in SURROUNDINGS {
            let shown = surrounding.replace(HOLE, &encoded);
            let masked = mask(&shown, &known);
            assert_eq!(
                masked,
                surrounding.replace(HOLE, MASK),
                "{context}: {value:?} written {encoding:?} as {encoded:?}"
            );
            assert_eq!(
                mask(&masked, &known),
                masked,
                "{context}: masking {value:?} again changed it"
            );
        }
    }
}

#[test]
fn a_known_value_is_masked_in_every_encoding_and_surrounding_and_nothing_else_is() {
    for value in SECRETS {
        assert!(
            !SURROUNDINGS.iter().any(|text| text.contains(value)),
            "{value:?} is part of a surrounding: the table is wrong"
        );
        assert_masked_everywhere(value, "table");
    }
}

#[test]
fn random_values_are_masked_in_every_encoding_and_surrounding() {
    // A fixed seed: a failure repeats, and names its value.
    const SEED: u64 = 0x5EC2_E7ED;
    const ALPHABET: &[char] = &[
        'a', 'b', 'k', 'x', 'Y', 'Z', '0', '1', '7', '9', '-', '_', '.', '~', '!', '@', '#', '$',
        '%', '^', '&', '(', ')', '+', '=', '/', ':', ';', ',', '?', '\'', '"', '\\', ' ', 'é', 'ü',
        'ß', '🔑',
    ];
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut checked = 0;
    while checked < 150 {
        let len = rng.usize(1..=24);
        let value: String = (0..len)
            .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
            .collect();
        if !comparable(&value) {
            continue;
        }
        assert_masked_everywhere(&value, &format!("seed {SEED:#x}"));
        checked += 1;
    }
}

/// Whether a random `value` is one whose masked text can be compared exactly with its
/// surrounding's: it has a digit and a letter (so it is no switch such as `no`), no white space
/// at its ends (known values are trimmed), nothing that is itself an escape (`%41`, `\n`: undoing
/// it would change the value), and it is no part of a surrounding's own text.
fn comparable(value: &str) -> bool {
    let bytes = value.as_bytes();
    let escape_inside = bytes
        .windows(2)
        .any(|pair| pair[0] == b'\\' && b"\"\\/'bfnrtu".contains(&pair[1]))
        || bytes.windows(3).any(|triple| {
            triple[0] == b'%' && triple[1].is_ascii_hexdigit() && triple[2].is_ascii_hexdigit()
        });
    value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(char::is_alphabetic)
        && value.trim() == value
        && !value.ends_with(['\\', '%'])
        && !escape_inside
        && !SURROUNDINGS.iter().any(|text| text.contains(value))
}

#[test]
fn a_secret_names_value_is_masked_by_its_name_and_known_by_its_value() {
    for name in SECRET_NAMES {
        assert!(is_secret_name(name), "{name}");
        for value in NAMED_VALUES {
            for assignment in [
                format!("{name}={value}"),
                format!("{name}: {value}"),
                format!("{name} = \"{value}\""),
                format!("\"{name}\":\"{value}\""),
                format!("export {name}='{value}' && run"),
            ] {
                let masked = text_with(&assignment, &[] as &[&str]);
                assert!(!masked.contains(value), "{assignment:?} became {masked:?}");
                assert!(masked.contains(name), "{assignment:?} became {masked:?}");
            }
            let secrets = secret_values_in_environment([(name.to_string(), value.to_string())]);
            let known = KnownValues::of(secrets.iter().map(String::as_str));
            for surrounding in SURROUNDINGS {
                let shown = surrounding.replace(HOLE, value);
                assert_eq!(
                    mask(&shown, &known),
                    surrounding.replace(HOLE, MASK),
                    "{name}={value}"
                );
            }
        }
    }
}

#[test]
fn a_name_about_a_secret_never_makes_its_value_one() {
    for name in NOT_SECRET_NAMES {
        assert!(!is_secret_name(name), "{name}");
        for value in ORDINARY_VALUES {
            let secrets = secret_values_in_environment([(name.to_string(), value.to_string())]);
            assert!(secrets.is_empty(), "{name}={value} gave {secrets:?}");
            let line = format!("{name}={value}; the {value} stays");
            assert_eq!(text_with(&line, &secrets), line);
        }
    }
}

#[test]
fn ordinary_text_survives_every_known_value() {
    for text in ORDINARY_TEXTS {
        assert_eq!(text_with(text, SECRETS), *text);
        for secret in SECRETS {
            assert_eq!(text_with(text, &[secret]), *text, "known {secret:?}");
        }
    }
}

#[test]
fn a_url_password_is_masked_in_any_url_and_surrounding() {
    let urls = [
        ("http", "deploy", "127.0.0.1:7233"),
        ("https", "", "ns.tmprl.cloud:7233/"),
        ("postgres", "ci-bot", "db.internal:5432/app?sslmode=require"),
        ("grpc", "u", "[::1]:4317"),
    ];
    for password in SECRETS {
        // As a URL must carry it.
        let encoded = Encoding::PercentReserved.encode(password);
        for (scheme, user, host) in urls {
            let url = format!("{scheme}://{user}:{encoded}@{host}");
            let masked_url = format!("{scheme}://{user}:{MASK}@{host}");
            // After a secret's name the whole value goes, which is the name rule's to test.
            for surrounding in SURROUNDINGS
                .iter()
                .filter(|text| !text.contains("password"))
            {
                assert_eq!(
                    text_with(&surrounding.replace(HOLE, &url), &[] as &[&str]),
                    surrounding.replace(HOLE, &masked_url),
                );
            }
            // Remembered from an address that is no secret, for messages that quote it alone.
            let secrets =
                secret_values_in_environment([("TEMPORAL_ADDRESS".to_owned(), url.clone())]);
            assert_eq!(secrets, [encoded.as_str()], "{url}");
        }
    }
}

#[test]
fn an_authorization_credential_is_masked_whatever_it_is() {
    for password in SECRETS {
        for user in ["deploy", "u"] {
            for engine in [STANDARD, STANDARD_NO_PAD] {
                let credential = engine.encode(format!("{user}:{password}"));
                for (shown, masked) in [
                    (
                        format!("Authorization: Basic {credential}"),
                        "Authorization: Basic ***",
                    ),
                    (
                        format!("sent Basic {credential} upstream"),
                        "sent Basic *** upstream",
                    ),
                ] {
                    assert_eq!(text_with(&shown, &[] as &[&str]), masked, "{password:?}");
                }
            }
        }
    }
    for token in [
        SENTINEL,
        "tsls_live_4f9a8b7c6d5e",
        "hunter2",
        "x9Q",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_",
    ] {
        for (shown, masked) in [
            (
                format!("Authorization: Bearer {token}"),
                "Authorization: Bearer ***",
            ),
            (
                format!("\"authorization\":\"Bearer {token}\""),
                "\"authorization\":\"***\"",
            ),
            (
                format!("sent Bearer {token} upstream"),
                "sent Bearer *** upstream",
            ),
        ] {
            assert_eq!(text_with(&shown, &[] as &[&str]), masked, "{token}");
        }
    }
}
