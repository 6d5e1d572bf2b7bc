//! A Worker Deployment Version as the server names it: how it is written
//! (`<deployment>:<build ID>`), its Worker Controller Instance's workflow id, and the `temporal
//! worker deployment` commands that act on it. One home for these strings, because the runtime
//! (the deployment guard's fix), `temporal-serverless deploy` (the commands it runs) and
//! `temporal-serverless doctor` (the fixes it prints) must all agree with the server and with the
//! `temporal` CLI's flags.
//!
//! ```
//! use temporal_serverless_names::version::{DeploymentVersion, Subcommand, VersionCommand};
//!
//! let version = DeploymentVersion::new("shop", "2024-06-01.1");
//! assert_eq!(version.to_string(), "shop:2024-06-01.1");
//! assert_eq!(
//!     version.controller_workflow_id(),
//!     "temporal-sys-worker-controller-instance:shop:2024-06-01.1"
//! );
//! let set_current = VersionCommand::new(Subcommand::SetCurrentVersion, version).confirmed();
//! assert_eq!(
//!     set_current.to_string(),
//!     "temporal worker deployment set-current-version --deployment-name shop \
//!      --build-id 2024-06-01.1 --yes"
//! );
//! ```

use std::fmt;

/// One version of a Worker Deployment: the deployment's name and a build ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeploymentVersion<'a> {
    /// The Worker Deployment's name.
    pub deployment: &'a str,
    /// The build ID.
    pub build_id: &'a str,
}

impl<'a> DeploymentVersion<'a> {
    /// The version `build_id` of `deployment`.
    pub const fn new(deployment: &'a str, build_id: &'a str) -> Self {
        Self {
            deployment,
            build_id,
        }
    }

    /// The workflow id of the server's Worker Controller Instance for this version, the workflow
    /// that invokes the function: `temporal-sys-worker-controller-instance:<deployment>:<build ID>`.
    pub fn controller_workflow_id(&self) -> String {
        format!(
            "temporal-sys-worker-controller-instance:{}:{}",
            self.deployment, self.build_id
        )
    }
}

impl fmt::Display for DeploymentVersion<'_> {
    /// `<deployment>:<build ID>`, as the `temporal` CLI and the server's messages write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.deployment, self.build_id)
    }
}

/// The `temporal worker deployment` subcommands that act on one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subcommand {
    /// `create-version`: creates the version with a compute provider.
    CreateVersion,
    /// `update-version-compute-config`: gives an existing version (another) compute provider.
    UpdateComputeConfig,
    /// `describe-version`.
    DescribeVersion,
    /// `set-current-version`: routes new work to the version.
    SetCurrentVersion,
}

impl Subcommand {
    /// The subcommand as typed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CreateVersion => "create-version",
            Self::UpdateComputeConfig => "update-version-compute-config",
            Self::DescribeVersion => "describe-version",
            Self::SetCurrentVersion => "set-current-version",
        }
    }
}

/// The invocation role a compute config names, or that it names none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role<'a> {
    /// `--aws-lambda-assume-role-arn <arn> --aws-lambda-assume-role-external-id <external_id>`.
    Assumed { arn: &'a str, external_id: &'a str },
    /// `--aws-lambda-skip-role-and-external-id` (a server that needs no role: the dev server).
    Skipped,
}

/// A `temporal worker deployment` command on one version. Its words come in one fixed order,
/// whatever order the builder is called in: subcommand, `--namespace`, `--deployment-name`,
/// `--build-id`, the compute config (`--aws-lambda-function-arn`, then the role), `--yes`.
/// [`VersionCommand::words`] are the arguments to run it with; its `Display` is the command a
/// user is told to type (`temporal ` and the words).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionCommand<'a> {
    subcommand: Subcommand,
    version: DeploymentVersion<'a>,
    namespace: Option<&'a str>,
    function_arn: Option<&'a str>,
    role: Option<Role<'a>>,
    confirmed: bool,
}

impl<'a> VersionCommand<'a> {
    /// `subcommand` on `version`, with nothing else.
    pub const fn new(subcommand: Subcommand, version: DeploymentVersion<'a>) -> Self {
        Self {
            subcommand,
            version,
            namespace: None,
            function_arn: None,
            role: None,
            confirmed: false,
        }
    }

    /// With `--namespace <namespace>` (otherwise the CLI's connection settings name it).
    pub const fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// With `--aws-lambda-function-arn <arn>`: the function the server invokes.
    pub const fn function_arn(mut self, arn: &'a str) -> Self {
        self.function_arn = Some(arn);
        self
    }

    /// With the invocation role the server assumes and the external ID it passes.
    pub const fn role(mut self, arn: &'a str, external_id: &'a str) -> Self {
        self.role = Some(Role::Assumed { arn, external_id });
        self
    }

    /// With `--aws-lambda-skip-role-and-external-id`: no invocation role.
    pub const fn without_role(mut self) -> Self {
        self.role = Some(Role::Skipped);
        self
    }

    /// With `--yes`: no confirmation prompt.
    pub const fn confirmed(mut self) -> Self {
        self.confirmed = true;
        self
    }

    /// The arguments of the `temporal` CLI, without the program: `worker deployment …`.
    pub fn words(&self) -> Vec<&'a str> {
        let mut words = vec!["worker", "deployment", self.subcommand.as_str()];
        if let Some(namespace) = self.namespace {
            words.extend(["--namespace", namespace]);
        }
        words.extend([
            "--deployment-name",
            self.version.deployment,
            "--build-id",
            self.version.build_id,
        ]);
        if let Some(arn) = self.function_arn {
            words.extend(["--aws-lambda-function-arn", arn]);
        }
        match self.role {
            Some(Role::Assumed { arn, external_id }) => words.extend([
                "--aws-lambda-assume-role-arn",
                arn,
                "--aws-lambda-assume-role-external-id",
                external_id,
            ]),
            Some(Role::Skipped) => words.push("--aws-lambda-skip-role-and-external-id"),
            None => {}
        }
        if self.confirmed {
            words.push("--yes");
        }
        words
    }
}

impl fmt::Display for VersionCommand<'_> {
    /// `temporal worker deployment …`, the words separated by one space each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "temporal {}", self.words().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: DeploymentVersion<'static> = DeploymentVersion::new("shop", "b7");

    #[test]
    fn a_version_is_written_deployment_colon_build_id() {
        assert_eq!(VERSION.to_string(), "shop:b7");
        assert_eq!(
            VERSION.controller_workflow_id(),
            "temporal-sys-worker-controller-instance:shop:b7"
        );
    }

    #[test]
    fn the_words_come_in_one_order_whatever_order_they_were_given_in() {
        let arn = "arn:aws:lambda:us-east-1:1:function:shop:3";
        let created = VersionCommand::new(Subcommand::CreateVersion, VERSION)
            .role("arn:aws:iam::1:role/invoke", "x-1")
            .function_arn(arn)
            .namespace("ns");
        assert_eq!(
            created.words(),
            [
                "worker",
                "deployment",
                "create-version",
                "--namespace",
                "ns",
                "--deployment-name",
                "shop",
                "--build-id",
                "b7",
                "--aws-lambda-function-arn",
                arn,
                "--aws-lambda-assume-role-arn",
                "arn:aws:iam::1:role/invoke",
                "--aws-lambda-assume-role-external-id",
                "x-1"
            ]
        );
        assert_eq!(
            created.to_string(),
            format!(
                "temporal worker deployment create-version --namespace ns --deployment-name shop \
                 --build-id b7 --aws-lambda-function-arn {arn} --aws-lambda-assume-role-arn \
                 arn:aws:iam::1:role/invoke --aws-lambda-assume-role-external-id x-1"
            )
        );
    }

    #[test]
    fn each_subcommand_is_spelled_as_the_cli_spells_it() {
        let render = |subcommand| VersionCommand::new(subcommand, VERSION).to_string();
        assert_eq!(
            render(Subcommand::UpdateComputeConfig),
            "temporal worker deployment update-version-compute-config --deployment-name shop --build-id b7"
        );
        assert_eq!(
            render(Subcommand::DescribeVersion),
            "temporal worker deployment describe-version --deployment-name shop --build-id b7"
        );
        assert_eq!(
            VersionCommand::new(Subcommand::CreateVersion, VERSION)
                .function_arn("F")
                .without_role()
                .to_string(),
            "temporal worker deployment create-version --deployment-name shop --build-id b7 \
             --aws-lambda-function-arn F --aws-lambda-skip-role-and-external-id"
        );
    }
}
