//! Whether a published Lambda version runs the artifact whose build ID the Worker Deployment
//! Version gets.
//!
//! Lambda reports, for each version, the SHA-256 of the deployment package it was created from
//! (GetFunction's `CodeSha256`, base64): the zip, not the binary in it. A local zip with that
//! digest *is* the version's code, so the build ID read from the `bootstrap` inside it is the
//! one the server's invocations will run. That is why the check compares zips: `cargo lambda
//! deploy` uploads `bootstrap.zip`, which it writes beside the binary it zipped
//! (`target/lambda/NAME/bootstrap.zip`, or beside `--binary-path`), or the zip of `cargo lambda
//! build --output-format zip` as it is. A zip cannot be rebuilt byte for byte from the binary
//! (timestamps, compression), so a binary without its zip cannot be checked this way.
//! (Downloading the version's code from GetFunction's `Code.Location`, a presigned S3 URL, would
//! check a bare binary too, on AWS only; not done: the zip is at hand in every cargo lambda
//! flow.)
//!
//! The gathering (GetFunction) is [`deployed_version`]; the decision, pure, is [`check`].

use crate::aws::{Aws, error_text};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What Lambda says about one published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedVersion {
    /// Its ARN, qualified by the version.
    pub arn: String,
    /// Its version number.
    pub version: String,
    /// SHA-256 of its deployment package, base64 (`CodeSha256`).
    pub code_sha256: String,
}

/// The deployment package to compare for `artifact`: the artifact itself when it is a zip,
/// else the `bootstrap.zip` cargo lambda leaves beside the binary, if there is one.
pub fn package_of(artifact: &Path, artifact_is_zip: bool) -> Option<PathBuf> {
    if artifact_is_zip {
        return Some(artifact.to_path_buf());
    }
    let beside = artifact.with_file_name("bootstrap.zip");
    beside.is_file().then_some(beside)
}

/// `CodeSha256` of `bytes`: SHA-256, base64 (standard alphabet, padded), as Lambda reports it.
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// The verdict on a version's code.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The version runs `package`, byte for byte.
    Runs { package: PathBuf },
    /// The version runs another package than `package`.
    RunsOther {
        package: PathBuf,
        local_sha256: String,
    },
    /// There is no zip to compare with.
    NoPackage,
}

/// Compares the version's `CodeSha256` with the local package's (`None`: no package).
pub fn check(deployed: &DeployedVersion, package: Option<(&Path, &str)>) -> Verdict {
    match package {
        None => Verdict::NoPackage,
        Some((package, local_sha256)) if local_sha256 == deployed.code_sha256 => Verdict::Runs {
            package: package.to_path_buf(),
        },
        Some((package, local_sha256)) => Verdict::RunsOther {
            package: package.to_path_buf(),
            local_sha256: local_sha256.to_owned(),
        },
    }
}

impl Verdict {
    /// `Ok(package)` when the version runs it; otherwise the refusal, with the fix.
    pub fn into_result(
        self,
        deployed: &DeployedVersion,
        artifact: &Path,
    ) -> Result<PathBuf, String> {
        match self {
            Verdict::Runs { package } => Ok(package),
            Verdict::RunsOther {
                package,
                local_sha256,
            } => Err(format!(
                "{} runs other code than {}: Lambda's CodeSha256 is {}, the zip's is \
                 {local_sha256}. The Worker Deployment Version would get the build ID of code \
                 that version does not run (the runtime refuses such invocations, and the server \
                 invokes again: an invocation loop). Deploy this build (`cargo lambda deploy \
                 --output-format json > deploy.json`) and pass the version it publishes \
                 (`--from-cargo-lambda deploy.json`), or pass the artifact version {} was \
                 deployed from",
                deployed.arn,
                package.display(),
                deployed.code_sha256,
                deployed.version,
            )),
            Verdict::NoPackage => Err(format!(
                "cannot check that {} runs {}: Lambda reports the SHA-256 of the uploaded zip, and \
                 {} is a binary with no bootstrap.zip beside it. Pass the zip that was deployed \
                 (`cargo lambda deploy` writes bootstrap.zip beside the binary it uploads; `cargo \
                 lambda build --output-format zip` makes one), or --skip-code-check if you have \
                 checked it otherwise",
                deployed.arn,
                artifact.display(),
                artifact.display(),
            )),
        }
    }
}

/// GetFunction of `function` (name or unqualified ARN) at `version`.
pub fn deployed_version(
    aws: &Aws,
    function: &str,
    version: &str,
) -> Result<DeployedVersion, String> {
    let answer = crate::aws::block_on(
        aws.lambda()
            .get_function()
            .function_name(function)
            .qualifier(version)
            .send(),
    );
    let output = answer.map_err(|error| {
        let not_found = error
            .as_service_error()
            .is_some_and(|error| error.is_resource_not_found_exception());
        if not_found {
            format!(
                "Lambda has no version {version} of {function} (region {}): publish one (`cargo \
                 lambda deploy` does) and pass its number",
                aws.region()
            )
        } else {
            format!(
                "GetFunction of {function} version {version} failed: {}",
                error_text(&error)
            )
        }
    })?;
    let configuration = output
        .configuration
        .ok_or_else(|| format!("GetFunction of {function} version {version}: no Configuration"))?;
    let deployed = DeployedVersion {
        arn: configuration.function_arn.unwrap_or_default(),
        version: configuration.version.unwrap_or_default(),
        code_sha256: configuration.code_sha256.unwrap_or_default(),
    };
    if deployed.version != version || !deployed.arn.ends_with(&format!(":{version}")) {
        return Err(format!(
            "GetFunction of {function} version {version} answered version {} ({}): not the \
             version asked for",
            deployed.version, deployed.arn
        ));
    }
    Ok(deployed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed(code_sha256: &str) -> DeployedVersion {
        DeployedVersion {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:shop:4".to_owned(),
            version: "4".to_owned(),
            code_sha256: code_sha256.to_owned(),
        }
    }

    #[test]
    fn the_digest_is_lambdas_code_sha256() {
        // `printf abc | sha256sum | xxd -r -p | base64`
        assert_eq!(
            code_sha256(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn the_same_zip_passes() {
        let zip = Path::new("target/lambda/shop/bootstrap.zip");
        let sha = code_sha256(b"zip bytes");
        assert_eq!(
            check(&deployed(&sha), Some((zip, &sha))).into_result(&deployed(&sha), zip),
            Ok(zip.to_path_buf())
        );
    }

    #[test]
    fn another_zip_is_refused_with_both_digests_and_the_fix() {
        let zip = Path::new("target/lambda/shop/bootstrap.zip");
        let ours = code_sha256(b"new build");
        let theirs = code_sha256(b"old build");
        let refusal = check(&deployed(&theirs), Some((zip, &ours)))
            .into_result(&deployed(&theirs), zip)
            .unwrap_err();
        assert!(
            refusal.starts_with(
                "arn:aws:lambda:us-east-1:123456789012:function:shop:4 runs other code than \
                 target/lambda/shop/bootstrap.zip"
            ),
            "{refusal}"
        );
        assert!(
            refusal.contains(&ours) && refusal.contains(&theirs),
            "{refusal}"
        );
        assert!(
            refusal.contains("--from-cargo-lambda deploy.json"),
            "{refusal}"
        );
        assert!(refusal.contains("invocation loop"), "{refusal}");
    }

    #[test]
    fn a_binary_without_its_zip_cannot_be_checked_and_says_what_to_pass() {
        let binary = Path::new("/tmp/build/bootstrap");
        let refusal = check(&deployed("x"), None)
            .into_result(&deployed("x"), binary)
            .unwrap_err();
        assert!(refusal.contains("no bootstrap.zip beside it"), "{refusal}");
        assert!(refusal.contains("--skip-code-check"), "{refusal}");
    }

    #[test]
    fn the_package_is_the_zip_or_the_one_beside_the_binary() {
        let dir = std::env::temp_dir().join(format!("tsls-package-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("bootstrap");
        let zip = dir.join("bootstrap.zip");
        std::fs::write(&binary, b"binary").unwrap();
        let _ = std::fs::remove_file(&zip);
        assert_eq!(package_of(&binary, false), None);
        std::fs::write(&zip, b"zip").unwrap();
        assert_eq!(package_of(&binary, false), Some(zip.clone()));
        assert_eq!(package_of(&zip, true), Some(zip.clone()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
