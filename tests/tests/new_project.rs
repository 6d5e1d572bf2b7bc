//! `temporal-serverless new`: the project it makes builds as it is (offline, against this
//! checkout's runtime), takes its build ID from the environment at build time, and
//! `temporal-serverless inspect` and the function's own dry run report its deployment, build ID,
//! task queue and pinned workflow.

use std::{path::Path, process::Command};
use temporal_serverless_cli::new_project::build_id_variable;
use temporal_serverless_tests::{
    cli_binary, cli_run::CliRun, fixture_function, new_project::NewProject,
};

const NAME: &str = "payments-fn";

/// The workspace's target directory: where this test's own binaries are.
fn target_dir() -> &'static Path {
    fixture_function!().parent().and_then(Path::parent).unwrap()
}

/// What `inspect BINARY` printed; fails the test unless it succeeded.
fn inspect(binary: &Path) -> String {
    CliRun::new(&cli_binary!(), "inspect")
        .arg(binary)
        .run()
        .expect_success()
}

#[test]
fn a_new_project_builds_and_carries_its_deployment_and_the_build_id_from_the_environment() {
    let cli = cli_binary!();
    let project = NewProject::create(&cli, NAME, target_dir());

    // Without the variable: the fallback, so that a first `cargo build` works.
    let first = project.build(&[]);
    assert_eq!(
        inspect(&project.binary()),
        format!("deployment={NAME} build_id=0.1.0-dev")
    );

    // A pipeline's build ID: the build script runs again and the binary carries it.
    let variable = build_id_variable(NAME);
    let again = project.build(&[(&variable, "2024-06-01.1")]);
    assert_eq!(
        inspect(&project.binary()),
        format!("deployment={NAME} build_id=2024-06-01.1")
    );

    // The function's own view, as on Lambda, with no Lambda variable: its dry run.
    let output = Command::new(project.binary())
        .env_clear()
        .env(temporal_serverless::DRY_RUN_VARIABLE, "1")
        .current_dir(&project.dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            format!("deployment={NAME} build_id=2024-06-01.1 task_queue={NAME}").as_str(),
            "workflow Greeting versioning=PINNED",
        ],
        "{stdout}"
    );
    println!(
        "new project built in {:.1} s (offline, shared target directory), rebuilt with a build ID in {:.1} s",
        first.as_secs_f64(),
        again.as_secs_f64()
    );
}

#[test]
fn new_refuses_a_directory_that_is_not_empty_and_a_name_that_is_no_package() {
    let dir = std::env::temp_dir().join(format!("tsls-new-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    let run = |args: &[&str]| {
        let output = CliRun::new(&cli_binary!(), "new").args(args).run();
        (output.success, output.stderr)
    };
    let (ok, stderr) = run(&[NAME, "--dir", dir.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("already exists and is not empty"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "mine"
    );
    assert!(!dir.join("Cargo.toml").exists());

    let (ok, stderr) = run(&["my fn", "--dir", dir.join("x").to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("Cargo package name"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
