//! The deployment manifest: the Worker Deployment name and build ID, embedded in the compiled
//! binary by `#[serverless_worker]` so that they can be read back from the artifact without
//! running it (`temporal-serverless inspect`), and so that the running function reads its own
//! identity from the very same bytes.
//!
//! Layout: [`MAGIC`] · format version (1 byte) · deployment length (1 byte) · deployment ·
//! build ID length (1 byte) · build ID · [`END`]. Lengths fit a byte because both values are at
//! most [`MAX_LEN`] bytes.
//!
//! Read back, the values are held to the rule they were compiled with
//! ([`temporal_serverless_names::problem`]): a file can say anything, and tools write these
//! values into commands and scripts.

pub use temporal_serverless_names::MAX_LEN;
use temporal_serverless_names::{Problem, problem};

/// Marks the start of a manifest inside a binary.
pub const MAGIC: [u8; 16] = *b"\0tsls-manifest\0\x01";
/// Marks the end of a manifest.
pub const END: [u8; 4] = *b"\0end";
const FORMAT_VERSION: u8 = 1;

/// A Worker Deployment Version as embedded in a binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Manifest<'a> {
    /// The Worker Deployment name (`deployment = ..`).
    pub deployment_name: &'a str,
    /// The build ID (`build_id = ..`).
    pub build_id: &'a str,
}

/// The size of the manifest for these values.
pub const fn manifest_len(deployment_name: &str, build_id: &str) -> usize {
    MAGIC.len() + 1 + 1 + deployment_name.len() + 1 + build_id.len() + END.len()
}

/// Encodes the manifest at compile time; `N` must be [`manifest_len`] of the same values.
pub const fn encode_manifest<const N: usize>(deployment_name: &str, build_id: &str) -> [u8; N] {
    assert!(
        N == manifest_len(deployment_name, build_id),
        "manifest length mismatch"
    );
    let mut out = [0u8; N];
    let mut at = copy_into(&mut out, 0, &MAGIC);
    out[at] = FORMAT_VERSION;
    at += 1;
    at = copy_field(&mut out, at, deployment_name.as_bytes());
    at = copy_field(&mut out, at, build_id.as_bytes());
    copy_into(&mut out, at, &END);
    out
}

const fn copy_field<const N: usize>(out: &mut [u8; N], at: usize, field: &[u8]) -> usize {
    assert!(
        field.len() <= MAX_LEN,
        "manifest field longer than 255 bytes"
    );
    out[at] = field.len() as u8;
    copy_into(out, at + 1, field)
}

const fn copy_into<const N: usize>(out: &mut [u8; N], at: usize, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        out[at + i] = bytes[i];
        i += 1;
    }
    at + bytes.len()
}

/// Why bytes are not a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The bytes do not start with [`MAGIC`], or stop before the manifest ends.
    #[error("not a temporal-serverless manifest (bad marker or truncated)")]
    Malformed,
    /// Written by a newer version of this crate.
    #[error(
        "manifest format {0} is newer than this tool understands (1); upgrade temporal-serverless"
    )]
    UnknownFormat(u8),
    /// A field is not UTF-8.
    #[error("manifest field is not UTF-8")]
    NotUtf8,
    /// A value breaks the rule `#[serverless_worker]` holds it to when it compiles
    /// ([`temporal_serverless_names::problem`]): the bytes were not written by the macro as they
    /// are.
    #[error(
        "the manifest's `{key}` {problem}: #[serverless_worker] refuses such a value when it \
         compiles, so this binary was altered or not built by it; rebuild the function with \
         #[serverless_worker] and use that artifact"
    )]
    Invalid {
        /// The `#[serverless_worker]` key: `deployment` or `build_id`.
        key: &'static str,
        /// What is wrong with its value.
        problem: Problem,
    },
}

impl<'a> Manifest<'a> {
    /// Parses a manifest that starts at the first byte of `bytes`; trailing bytes are ignored.
    /// Its values must pass the rule they were compiled with
    /// ([`temporal_serverless_names::problem`]), or it is [`ManifestError::Invalid`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ManifestError> {
        let rest = bytes.strip_prefix(&MAGIC).ok_or(ManifestError::Malformed)?;
        let (&format, rest) = rest.split_first().ok_or(ManifestError::Malformed)?;
        if format != FORMAT_VERSION {
            return Err(ManifestError::UnknownFormat(format));
        }
        let (deployment_name, rest) = take_field(rest)?;
        let (build_id, rest) = take_field(rest)?;
        if !rest.starts_with(&END) {
            return Err(ManifestError::Malformed);
        }
        check_value("deployment", deployment_name)?;
        check_value("build_id", build_id)?;
        Ok(Self {
            deployment_name,
            build_id,
        })
    }

    /// Every manifest in a binary, in order of appearance, without repeats; or the first whose
    /// values break the naming rule ([`ManifestError::Invalid`]), which a tool must refuse
    /// rather than read past. Bytes that only look like the start of a manifest (the marker
    /// itself, in the code that reads it) are skipped.
    ///
    /// A binary built with `#[serverless_worker]` holds exactly one; tools should treat zero or
    /// several distinct ones as an error.
    pub fn find_all(binary: &'a [u8]) -> Result<Vec<Self>, ManifestError> {
        let mut found = Vec::new();
        let mut offset = 0;
        while let Some(position) = find(&binary[offset..], &MAGIC) {
            let start = offset + position;
            match Self::parse(&binary[start..]) {
                Ok(manifest) if !found.contains(&manifest) => found.push(manifest),
                Err(invalid @ ManifestError::Invalid { .. }) => return Err(invalid),
                // A repeat, or bytes that only look like the start of a manifest.
                Ok(_)
                | Err(
                    ManifestError::Malformed
                    | ManifestError::UnknownFormat(_)
                    | ManifestError::NotUtf8,
                ) => {}
            }
            offset = start + 1;
        }
        Ok(found)
    }
}

/// `Ok` if `value`, read for `key`, passes the rule of [`temporal_serverless_names::problem`].
fn check_value(key: &'static str, value: &str) -> Result<(), ManifestError> {
    match problem(value) {
        None => Ok(()),
        Some(found) => Err(ManifestError::Invalid {
            key,
            problem: found,
        }),
    }
}

fn take_field(bytes: &[u8]) -> Result<(&str, &[u8]), ManifestError> {
    let (&len, rest) = bytes.split_first().ok_or(ManifestError::Malformed)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(ManifestError::Malformed);
    }
    let (field, rest) = rest.split_at(len);
    let text = std::str::from_utf8(field).map_err(|_| ManifestError::NotUtf8)?;
    Ok((text, rest))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Which `#[serverless_worker]` key a compile-time check is about.
#[derive(Clone, Copy)]
pub enum Key {
    /// `deployment = ..`
    Deployment,
    /// `build_id = ..`
    BuildId,
    /// `task_queue = ..`
    TaskQueue,
}

macro_rules! messages {
    ($key:literal) => {
        [
            concat!("#[serverless_worker]: `", $key, "` is empty; set the variable that `env!` reads to a non-empty value when building"),
            concat!("#[serverless_worker]: `", $key, "` is longer than 255 bytes, the limit Temporal allows"),
            concat!("#[serverless_worker]: `", $key, "` contains whitespace or a control character; Temporal compares it byte for byte, so set the variable `env!` reads without them"),
        ]
    };
}

/// Fails compilation (when called in a `const`) if a value given through `env!` is not a valid
/// deployment name, build ID or task queue (see [`temporal_serverless_names::problem`]: empty,
/// longer than [`MAX_LEN`] bytes, or containing whitespace or control characters). Literal
/// values get the same check, with better spans, in the macro.
pub const fn check_compile_time_value(value: &str, key: Key) {
    let messages = match key {
        Key::Deployment => messages!("deployment"),
        Key::BuildId => messages!("build_id"),
        Key::TaskQueue => messages!("task_queue"),
    };
    // A `const` panic's message cannot be formatted, so each problem has its fixed text.
    match problem(value) {
        None => {}
        Some(Problem::Empty) => panic!("{}", messages[0]),
        Some(Problem::TooLong { .. }) => panic!("{}", messages[1]),
        Some(Problem::Forbidden(_)) => panic!("{}", messages[2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = "shop";
    const BUILD_ID: &str = "2024.06-ü";
    static ENCODED: [u8; manifest_len(DEPLOYMENT, BUILD_ID)] =
        encode_manifest(DEPLOYMENT, BUILD_ID);

    #[test]
    fn round_trips_and_is_found_inside_other_bytes() {
        let manifest = Manifest::parse(&ENCODED).unwrap();
        assert_eq!(manifest.deployment_name, "shop");
        assert_eq!(manifest.build_id, "2024.06-ü");

        let mut binary = b"junk\0tsls-manifest\0\x01 not a manifest".to_vec();
        binary.extend_from_slice(&ENCODED);
        binary.extend_from_slice(b"trailer");
        binary.extend_from_slice(&ENCODED);
        assert_eq!(Manifest::find_all(&binary), Ok(vec![manifest]));
    }

    /// The manifest `#[serverless_worker]` would embed for these values, were they allowed
    /// (`encode_manifest` checks lengths only: the macro checks the rule before).
    macro_rules! encoded {
        ($deployment:expr, $build_id:expr) => {{
            const BYTES: [u8; manifest_len($deployment, $build_id)] =
                encode_manifest($deployment, $build_id);
            BYTES
        }};
    }

    #[test]
    fn refuses_values_the_naming_rule_refuses_and_says_so() {
        assert_eq!(
            Manifest::parse(&encoded!("shop", "two words")),
            Err(ManifestError::Invalid {
                key: "build_id",
                problem: Problem::Forbidden(' ')
            })
        );
        assert_eq!(
            Manifest::parse(&encoded!("", "b7")),
            Err(ManifestError::Invalid {
                key: "deployment",
                problem: Problem::Empty
            })
        );
        let newline = Manifest::parse(&encoded!("shop", "b7\nid")).unwrap_err();
        let message = newline.to_string();
        assert!(
            message.starts_with(
                "the manifest's `build_id` must not contain whitespace or control characters, \
                 found '\\n'"
            ) && message.contains("rebuild the function"),
            "{message}"
        );
        // The rule is the naming rule, no stricter: what only a shell would read (`;`, `$(…)`,
        // quotes) is left to whoever writes the value into a command to quote.
        let shell_words = encoded!("shop$(id)", "1';id;`id`#");
        assert_eq!(
            Manifest::parse(&shell_words).map(|manifest| manifest.build_id),
            Ok("1';id;`id`#")
        );
    }

    #[test]
    fn a_binary_with_a_manifest_that_breaks_the_rule_is_refused_whole() {
        let mut binary = ENCODED.to_vec();
        binary.extend_from_slice(b"junk");
        binary.extend_from_slice(&encoded!("shop", "tab\there"));
        assert_eq!(
            Manifest::find_all(&binary),
            Err(ManifestError::Invalid {
                key: "build_id",
                problem: Problem::Forbidden('\t')
            })
        );
    }

    #[test]
    fn rejects_truncated_and_future_manifests() {
        assert_eq!(
            Manifest::parse(&ENCODED[..ENCODED.len() - 1]),
            Err(ManifestError::Malformed)
        );
        let mut future = ENCODED;
        future[MAGIC.len()] = 2;
        assert_eq!(
            Manifest::parse(&future),
            Err(ManifestError::UnknownFormat(2))
        );
    }

    /// Which values are valid is `temporal_serverless_names`' to test; here, that each problem
    /// fails the `const` with the message for its key.
    #[test]
    fn each_problem_panics_with_its_message() {
        check_compile_time_value("build-1.2.3+ü", Key::BuildId);
        let long = "x".repeat(MAX_LEN + 1);
        for (value, key, expected) in [
            ("", Key::Deployment, "`deployment` is empty"),
            (
                long.as_str(),
                Key::BuildId,
                "`build_id` is longer than 255 bytes",
            ),
            (
                "two words",
                Key::TaskQueue,
                "`task_queue` contains whitespace",
            ),
        ] {
            let payload = std::panic::catch_unwind(|| check_compile_time_value(value, key))
                .expect_err(expected);
            let message = payload.downcast_ref::<String>().unwrap();
            assert!(message.contains(expected), "{message}");
        }
    }
}
