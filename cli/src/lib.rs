//! The `temporal-serverless` command's subcommands, as a library so that the project's test
//! harness drives functions through the very same Runtime API implementation the local Lambda
//! service uses.

pub mod deploy;
pub mod doctor;
pub mod inspect;
pub mod lambda_zip;
pub mod local_lambda;
pub mod new_project;
pub mod temporal_cli;
