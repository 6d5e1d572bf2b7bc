//! The `temporal-serverless` command's subcommands, as a library so that the project's test
//! harness drives functions through the very same Runtime API implementation the local Lambda
//! service uses.

pub mod deploy;
pub mod inspect;
pub mod local_lambda;
