//! A function project made by `temporal-serverless new`, outside the workspace as a user's is,
//! built offline: its dependencies resolve to the versions the workspace's `Cargo.lock` pins,
//! which are already downloaded, and it builds in the workspace's target directory so that only
//! what its own feature set needs is compiled (once; later runs find it there).

use crate::cargo_lambda::{as_from_the_shell, cargo, run_build};
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};
use temporal_serverless_cli::new_project::build_id_variable;

/// A generated project in a directory of its own, removed when dropped.
pub struct NewProject {
    /// The package (and binary) name.
    pub name: String,
    /// The project's root.
    pub dir: PathBuf,
    parent: PathBuf,
    target_dir: PathBuf,
}

impl NewProject {
    /// `cli new NAME --dir <temp>/NAME --runtime-path <workspace>/runtime`; panics with what it
    /// printed unless it succeeds. `target_dir` is where it will be built.
    pub fn create(cli: &Path, name: &str, target_dir: &Path) -> Self {
        let parent = std::env::temp_dir().join(format!("tsls-new-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        let dir = parent.join(name);
        let output = Command::new(cli)
            .args(["new", name, "--dir"])
            .arg(&dir)
            .arg("--runtime-path")
            .arg(crate::workspace_root().join("runtime"))
            .output()
            .expect("the CLI runs");
        assert!(
            output.status.success(),
            "temporal-serverless new failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // Offline, the versions resolved are the workspace's (all downloaded), not whichever
        // the local registry cache happens to hold newest; cargo drops what the project does
        // not use.
        std::fs::copy(
            crate::workspace_root().join("Cargo.lock"),
            dir.join("Cargo.lock"),
        )
        .unwrap();
        Self {
            name: name.to_owned(),
            dir,
            parent,
            target_dir: target_dir.to_owned(),
        }
    }

    /// `cargo build --offline` in the project with `envs` set (a build ID variable, say), as a
    /// user runs it from a shell; how long it took.
    pub fn build(&self, envs: &[(&str, &str)]) -> Duration {
        let mut command = Command::new(cargo());
        as_from_the_shell(&mut command)
            // The function's build ID variable is the caller's to set, not the shell's.
            .env_remove(build_id_variable(&self.name))
            .args(["build", "--offline"])
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .envs(envs.iter().copied())
            .current_dir(&self.dir);
        run_build(
            &mut command,
            &format!("cargo build of {}", self.dir.display()),
        )
    }

    /// The binary `cargo build` made.
    pub fn binary(&self) -> PathBuf {
        self.target_dir.join("debug").join(&self.name)
    }
}

impl Drop for NewProject {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.parent);
    }
}
