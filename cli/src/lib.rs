//! The `temporal-serverless` command's subcommands, as a library so that the project's test
//! harness drives functions through the very same Runtime API implementation the local Lambda
//! service uses.

pub mod architecture;
pub mod aws;
pub mod deploy;
pub mod doctor;
pub mod iam_policy;
pub mod inspect;
pub mod invocation_role;
pub mod lambda_zip;
pub mod local_lambda;
pub mod new_project;
pub mod quoting;
pub mod role;
pub mod temporal_cli;
