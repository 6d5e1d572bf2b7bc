//! `temporal-serverless inspect` on deployment packages: the `bootstrap.zip` cargo lambda uploads
//! carries the same build ID as its `bootstrap`, and a package it cannot read is refused with the
//! reason, never misread. The real `cargo lambda build --output-format zip`, for arm64 and x86_64,
//! is `scripts/package-check` (minutes of release builds); here the fixture function, stripped as
//! a release build is, is packaged the same way, and the other layouts and the failures use a
//! smaller artifact: 4 MB of that binary with a manifest (what inspect reads) at its end.

use std::{
    path::{Path, PathBuf},
    process::Command,
};
use temporal_serverless_tests::{
    cli_binary, cli_run::CliRun, fixture_function, lambda_package::LambdaZip,
};

/// A directory of this test's own with a `temporal.toml` and the fixture function stripped as
/// `bootstrap` (half the bytes to zip and unzip; `examples/tests/inspect.rs` shows that `strip`
/// keeps the manifest), removed when dropped.
struct Scratch(PathBuf);

const SMALL_DEPLOYMENT: &str = "small";
const SMALL_BUILD_ID: &str = "layouts-1";

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tsls-lambda-package-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("temporal.toml"),
            "[profile.default]\naddress = \"localhost:7233\"\n",
        )
        .unwrap();
        let status = Command::new("strip")
            .arg("-o")
            .arg(dir.join("bootstrap"))
            .arg(fixture_function!())
            .status()
            .expect("strip runs (scripts/setup installs binutils)");
        assert!(status.success());
        Self(dir)
    }

    /// `small`: the first 4 MB of the stripped fixture and a manifest of its own; its path.
    fn small_artifact(&self) -> PathBuf {
        use temporal_serverless::manifest::{encode_manifest, manifest_len};
        const LEN: usize = manifest_len(SMALL_DEPLOYMENT, SMALL_BUILD_ID);
        let mut bytes = std::fs::read(self.path("bootstrap")).unwrap();
        bytes.truncate(4 << 20);
        bytes.extend(encode_manifest::<LEN>(SMALL_DEPLOYMENT, SMALL_BUILD_ID));
        let path = self.path("small");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `temporal.toml`, then `bootstrap` (the stripped fixture), deflated.
    fn like_cargo_lambda(&self) -> LambdaZip {
        LambdaZip::like_cargo_lambda(&self.path("bootstrap"), &self.path("temporal.toml"))
    }

    /// The same with the small artifact as `bootstrap`.
    fn small_like_cargo_lambda(&self) -> LambdaZip {
        LambdaZip::like_cargo_lambda(&self.small_artifact(), &self.path("temporal.toml"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `inspect ARTIFACT`.
fn inspect(artifact: &Path) -> CliRun {
    CliRun::new(&cli_binary!(), "inspect").arg(artifact)
}

/// What `inspect ARTIFACT` printed; fails the test unless it succeeded.
fn inspected(artifact: &Path) -> String {
    inspect(artifact).run().expect_success()
}

/// What `inspect ARTIFACT` said on stderr when it refused it; fails the test if it did not.
fn refused(artifact: &Path) -> String {
    let output = inspect(artifact).run();
    assert!(!output.success, "{}", output.stdout);
    output.stderr
}

/// What `inspect --json ARTIFACT` printed; fails the test unless it succeeded.
fn inspected_json(artifact: &Path) -> String {
    inspect(artifact).arg("--json").run().expect_success()
}

#[test]
fn inspect_reads_the_build_id_from_the_zip_as_cargo_lambda_packs_it() {
    let scratch = Scratch::new("cargo-lambda");
    let zip = scratch.path("bootstrap.zip");
    scratch.like_cargo_lambda().write(&zip);

    let from_binary = inspected(fixture_function!());
    assert!(
        from_binary.starts_with("deployment=fixture build_id="),
        "{from_binary}"
    );
    assert_eq!(inspected(&zip), from_binary);
    assert_eq!(inspected_json(&zip), inspected_json(fixture_function!()));
}

#[test]
fn other_zip_writers_layouts_are_read_too() {
    let scratch = Scratch::new("layouts");
    let expected = format!("deployment={SMALL_DEPLOYMENT} build_id={SMALL_BUILD_ID}");
    assert_eq!(inspected(&scratch.small_artifact()), expected);
    for (name, package) in [
        ("stored", scratch.small_like_cargo_lambda().stored()),
        ("streamed", scratch.small_like_cargo_lambda().streamed()),
        (
            "commented",
            scratch
                .small_like_cargo_lambda()
                .comment("built by CI run 42"),
        ),
        (
            "bootstrap first",
            LambdaZip::new()
                .file("bootstrap", &scratch.small_artifact())
                .file("temporal.toml", &scratch.path("temporal.toml")),
        ),
    ] {
        let zip = scratch.path(&format!("{name}.zip"));
        package.write(&zip);
        assert_eq!(inspected(&zip), expected, "{name}");
    }
}

#[test]
fn a_zip_without_a_bootstrap_at_its_root_names_what_it_holds() {
    let scratch = Scratch::new("no-bootstrap");
    let zip = scratch.path("function.zip");
    LambdaZip::new()
        .file("temporal.toml", &scratch.path("temporal.toml"))
        .file("hello/bootstrap", &scratch.small_artifact())
        .write(&zip);
    let stderr = refused(&zip);
    assert!(
        stderr.contains("no `bootstrap` at its root")
            && stderr.contains("temporal.toml, hello/bootstrap")
            && stderr.contains("cargo lambda build --output-format zip"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_zip_is_refused_not_misread() {
    let scratch = Scratch::new("corrupt");
    let zip = scratch.path("bootstrap.zip");
    scratch.small_like_cargo_lambda().write(&zip);
    let mut bytes = std::fs::read(&zip).unwrap();
    // A byte in the middle of the deflated bootstrap (the bulk of the archive).
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&zip, &bytes).unwrap();
    let stderr = refused(&zip);
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Cut short: the end of the archive (its directory) is gone.
    std::fs::write(&zip, &bytes[..middle]).unwrap();
    let stderr = refused(&zip);
    assert!(stderr.contains("not a readable zip archive"), "{stderr}");
}

#[test]
fn a_zip_of_something_else_carries_no_manifest() {
    let scratch = Scratch::new("not-a-function");
    let zip = scratch.path("bootstrap.zip");
    LambdaZip::new()
        .file("bootstrap", Path::new("/bin/true"))
        .write(&zip);
    let stderr = refused(&zip);
    assert!(
        stderr.contains("carries no deployment manifest"),
        "{stderr}"
    );
}
