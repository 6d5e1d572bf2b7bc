//! `cargo lambda deploy` → `temporal-serverless deploy`, one flow, against a real implementation
//! of AWS's Lambda and IAM APIs (`moto_server`): the real `cargo lambda` uploads the fixture
//! function and publishes a version, our deploy reads what it printed, checks with Lambda's
//! GetFunction that this version runs the artifact's zip, and creates the Worker Deployment
//! Version with the version's ARN; the real dev server then invokes that version on the local
//! Lambda service and a workflow completes. And what deploy refuses, each with its fix: an
//! alias, `$LATEST`, a version that runs other code, a binary without the zip that was
//! uploaded, no AWS credentials.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use temporal_serverless::redact::SENTINEL;
use temporal_serverless_tests::{
    cargo_lambda, cli_binary,
    cli_run::{CliOutput, CliRun},
    fixture_function,
    local_loop::LocalLoop,
    moto::{self, Moto},
};

const BUILD_ID: &str = env!("FIXTURE_BUILD_ID");

/// `arn:aws:lambda:us-east-1:123456789012:function:NAME` (moto's account).
fn function_arn(name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        moto::REGION,
        moto::ACCOUNT
    )
}

/// A directory of its own with a copy of the fixture as `bootstrap`, as `cargo lambda build`
/// leaves it in `target/lambda/NAME/`; `extra` appended to the binary makes other code (another
/// zip digest) with the same build ID. Removed when dropped.
struct BuildDir(PathBuf);

impl BuildDir {
    fn new(label: &str, extra: &[u8]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tsls-deploy-{}-{label}-{}",
            std::process::id(),
            temporal_serverless_tests::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut binary = std::fs::read(fixture_function!()).unwrap();
        binary.extend_from_slice(extra);
        let bootstrap = dir.join("bootstrap");
        std::fs::write(&bootstrap, binary).unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&bootstrap, executable).unwrap();
        Self(dir)
    }

    fn bootstrap(&self) -> PathBuf {
        self.0.join("bootstrap")
    }

    fn zip(&self) -> PathBuf {
        self.0.join("bootstrap.zip")
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `cargo lambda deploy fixture --output-format json > BUILD/deploy.json` of `build`'s
/// bootstrap to moto: the JSON it printed, the file, and how long it took.
fn cargo_lambda_deploy(
    moto: &Moto,
    build: &BuildDir,
    role: &str,
    args: &[&str],
) -> (serde_json::Value, PathBuf, Duration) {
    let started = Instant::now();
    let mut all_args = vec!["--role", role, "--timeout", "30"];
    all_args.extend(args);
    let (printed, json) =
        cargo_lambda::deploy("fixture", &build.bootstrap(), &all_args, &moto.aws_env())
            .unwrap_or_else(|error| panic!("{error}\n--- moto:\n{}", moto.output()));
    let took = started.elapsed();
    let file = build.0.join("deploy.json");
    std::fs::write(&file, printed).unwrap();
    (json, file, took)
}

/// `temporal-serverless deploy ARGS --print` with `envs` (no Temporal server needed: nothing
/// is run on it); fails the test if the AWS secret key shows.
fn deploy_print(args: &[&str], envs: &[(&str, String)]) -> CliOutput {
    CliRun::new(&cli_binary!(), "deploy")
        .args(args)
        .arg("--print")
        .temporal_cli()
        .connection(["--address", "127.0.0.1:7233"])
        .envs(envs)
        .run()
        .showing_no_secret()
}

#[test]
fn cargo_lambda_deploy_then_deploy_binds_the_published_version_and_a_workflow_completes() {
    let started = Instant::now();
    let moto = Moto::start();
    let role = moto.create_lambda_role("fixture-role");
    let build = BuildDir::new("loop", b"");

    // The user's view: `cargo lambda deploy --output-format json > deploy.json`.
    let (printed, deploy_json, took) = cargo_lambda_deploy(&moto, &build, &role, &[]);
    println!("cargo lambda deploy: {took:.1?}\n{printed:#}");
    // Created with Publish: true: the function's unqualified ARN and version 1.
    assert_eq!(
        printed["function_arn"],
        function_arn("fixture"),
        "{printed:#}"
    );
    assert_eq!(printed["version"], "1", "{printed:#}");
    assert!(
        build.zip().is_file(),
        "cargo lambda leaves the zip it uploaded"
    );
    let version_arn = format!("{}:1", function_arn("fixture"));

    // The local loop, with the local Lambda service hosting the same binary under moto's account,
    // so that the server invokes exactly the ARN Lambda gave the version.
    let lambda = LocalLoop::builder(&cli_binary!(), "fixture", &build.bootstrap())
        .timeout_seconds(15)
        .concurrency(2)
        .task_queue("deploy-q")
        .account(moto::ACCOUNT)
        .no_event_retries()
        .start();
    let deployed = lambda
        .deploy_with(|deploy| {
            deploy
                .artifact(&build.bootstrap())
                .arg("--from-cargo-lambda")
                .arg(&deploy_json)
                .arg("--set-current")
                .envs(&moto.aws_env())
        })
        .unwrap_or_else(|error| panic!("deploy failed: {error}\n--- moto:\n{}", moto.output()));
    println!("{deployed}");
    assert!(!deployed.contains(SENTINEL), "{deployed}");
    // Checked against the zip beside the binary, which is what cargo lambda uploaded.
    assert!(
        deployed.contains(&format!(
            "deploy: {version_arn} runs {} (CodeSha256 ",
            build.zip().display()
        )),
        "{deployed}"
    );
    assert!(
        deployed.contains(&format!(
            "deployment=fixture build_id={BUILD_ID} function={version_arn}"
        )),
        "{deployed}"
    );
    assert!(
        deployed.contains("task queues route new work to fixture:"),
        "{deployed}"
    );
    lambda.server.run_workflow(
        "deploy-q",
        "Greet",
        "deployed",
        "\"cargo lambda\"",
        Duration::from_secs(60),
    );
    // The server invoked exactly that version: its tasks were taken by workers of invocations
    // of it, `<request id>@<invoked ARN>` (describe-version does not show the ARN).
    let identities = lambda.server.task_identities("deployed");
    assert!(
        !identities.is_empty()
            && identities
                .iter()
                .all(|identity| identity.ends_with(&format!("@{version_arn}"))),
        "{identities:?}"
    );
    println!(
        "cargo lambda deploy → deploy → workflow completed: {:.1?} in all",
        started.elapsed()
    );
}

#[test]
fn deploy_refuses_what_would_not_run_the_artifacts_build() {
    let moto = Moto::start();
    let env = moto.aws_env();
    let role = moto.create_lambda_role("fixture-role");
    let first = BuildDir::new("first", b"");
    let (version_1, _, _) = cargo_lambda_deploy(&moto, &first, &role, &[]);
    assert_eq!(version_1["version"], "1", "{version_1:#}");
    // Other code (the same build ID, one byte more), deployed with an alias.
    let second = BuildDir::new("second", b"\0");
    let (version_2, version_2_json, took) =
        cargo_lambda_deploy(&moto, &second, &role, &["--alias", "live"]);
    println!("cargo lambda deploy --alias live: {took:.1?}\n{version_2:#}");
    // Updated: cargo lambda prints the version's own ARN, and the alias.
    assert_eq!(
        version_2["function_arn"],
        format!("{}:2", function_arn("fixture")),
        "{version_2:#}"
    );
    assert_eq!(version_2["alias"], "live", "{version_2:#}");
    let artifact = |build: &BuildDir| build.bootstrap().to_str().unwrap().to_owned();
    // `deploy --print` of `artifact` for what cargo lambda printed when it made version 2.
    let as_version_2 = |artifact: &str| {
        deploy_print(
            &[
                "--artifact",
                artifact,
                "--from-cargo-lambda",
                version_2_json.to_str().unwrap(),
            ],
            &env,
        )
    };
    // `deploy --print` of the first build for version `version` of `fixture`, named so.
    let first_as_version = |version: &str| {
        deploy_print(
            &[
                "--artifact",
                first.zip().to_str().unwrap(),
                "--function",
                "fixture",
                "--function-version",
                version,
            ],
            &env,
        )
    };

    // With --alias, the version is bound, not the alias, and a note says so.
    let CliOutput {
        success,
        stdout,
        stderr,
    } = as_version_2(&artifact(&second));
    assert!(success, "{stdout}{stderr}");
    assert!(
        stderr.contains("note: alias live is not used: the version is bound to version 2"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "--aws-lambda-function-arn {}:2 ",
            function_arn("fixture")
        )),
        "{stdout}"
    );

    // The alias ARN itself, and $LATEST, are refused before any call.
    for (qualifier, says) in [
        (":live", "names an alias: aliases move, versions don't"),
        ("", "is unqualified or $LATEST"),
        (":$LATEST", "is unqualified or $LATEST"),
    ] {
        let arn = format!("{}{qualifier}", function_arn("fixture"));
        let CliOutput {
            success,
            stdout,
            stderr,
        } = deploy_print(
            &["--artifact", &artifact(&second), "--function-arn", &arn],
            &env,
        );
        assert!(!success, "{arn}: {stdout}");
        assert!(stderr.contains(says), "{arn}: {stderr}");
        assert!(
            stderr.contains(&format!("--function-arn {}:N", function_arn("fixture"))),
            "{stderr}"
        );
    }

    // Version 2 runs the second zip, not the first: the first build's artifact is refused.
    let CliOutput {
        success, stderr, ..
    } = as_version_2(first.zip().to_str().unwrap());
    assert!(!success);
    assert!(
        stderr.contains(&format!(
            "{}:2 runs other code than {}",
            function_arn("fixture"),
            first.zip().display()
        )),
        "{stderr}"
    );

    // By name and version: the ARN comes from GetFunction; version 1 runs the first zip.
    let CliOutput {
        success,
        stdout,
        stderr,
    } = first_as_version("1");
    assert!(success, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "--aws-lambda-function-arn {}:1 ",
            function_arn("fixture")
        )),
        "{stdout}"
    );
    let CliOutput {
        success, stderr, ..
    } = first_as_version("9");
    assert!(!success);
    assert!(
        stderr.contains("Lambda has no version 9 of fixture"),
        "{stderr}"
    );

    // A binary without the zip that was uploaded cannot be checked.
    let bare = BuildDir::new("bare", b"");
    let CliOutput {
        success, stderr, ..
    } = deploy_print(
        &[
            "--artifact",
            &artifact(&bare),
            "--function-arn",
            &format!("{}:1", function_arn("fixture")),
        ],
        &env,
    );
    assert!(!success);
    assert!(stderr.contains("no bootstrap.zip beside it"), "{stderr}");

    // No AWS credentials anywhere in the chain: said so, with what to configure, at once.
    let no_credentials: Vec<(&str, String)> = env
        .iter()
        .filter(|(name, _)| !name.starts_with("AWS_ACCESS_KEY") && !name.starts_with("AWS_SECRET"))
        .cloned()
        .collect();
    let asked = Instant::now();
    let output = CliRun::new(&cli_binary!(), "deploy")
        .args(["--artifact", &artifact(&first)])
        .args(["--function-arn", &format!("{}:1", function_arn("fixture"))])
        .arg("--print")
        .without_aws_credentials()
        .envs(&no_credentials)
        .run();
    let stderr = output.stderr;
    assert!(!output.success);
    assert!(
        stderr.contains("no AWS credentials") && stderr.contains("--skip-code-check"),
        "{stderr}"
    );
    println!("no credentials: refused after {:.1?}", asked.elapsed());
}
