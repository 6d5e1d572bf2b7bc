//! AWS SDK clients for the CLI's AWS calls (`deploy`'s code check, `doctor`'s AWS checks), built
//! from the standard chain as the `aws` CLI and `cargo lambda` build theirs: credentials
//! (environment, profile, SSO, web identity, container, instance metadata), region
//! (`AWS_REGION`, profile) and endpoints (`AWS_ENDPOINT_URL`, or per service
//! `AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, which
//! point the calls at a local implementation such as `moto_server`).
//!
//! No credentials is an outcome of its own ([`AwsUnavailable::NoCredentials`]), not an SDK
//! error at the first call: a check that needs AWS says it was not run and what would run it.
//! Nothing here prints a credential: errors name the chain's sources, never their values.

use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use aws_sdk_lambda::config::ProvideCredentials;
use std::{future::Future, time::Duration};

/// How long one AWS call may take, retries included: a CLI waits for a person, and a test must
/// end; the SDK's default is no limit.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take (an endpoint that does not answer fails fast).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no AWS call can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsUnavailable {
    /// The standard chain found no credentials. `reason` is the chain's own account of what it
    /// tried (no secret in it).
    NoCredentials { reason: String },
    /// Neither the caller (e.g. from an ARN) nor the chain (`AWS_REGION`, the profile) gives a
    /// region.
    NoRegion,
}

impl std::fmt::Display for AwsUnavailable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoCredentials { reason } => write!(
                formatter,
                "no AWS credentials (the standard chain: {reason}): configure them as for the \
                 `aws` CLI (`aws configure`, `aws sso login`, AWS_PROFILE, or AWS_ACCESS_KEY_ID \
                 and AWS_SECRET_ACCESS_KEY)"
            ),
            Self::NoRegion => formatter
                .write_str("no AWS region: set AWS_REGION (or `region` in your AWS profile)"),
        }
    }
}

/// The loaded configuration; clients for each service the CLI calls.
#[derive(Clone, Debug)]
pub struct Aws {
    config: SdkConfig,
}

impl Aws {
    /// Loads the standard chain and checks that it yields credentials. `region`, when given
    /// (the region of the function's ARN, say), wins over the chain's: the call must go where
    /// the resource is.
    pub async fn load(region: Option<&str>) -> Result<Self, AwsUnavailable> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(OPERATION_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            );
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_owned()));
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(AwsUnavailable::NoRegion);
        }
        let Some(provider) = config.credentials_provider() else {
            return Err(AwsUnavailable::NoCredentials {
                reason: "no credentials provider configured".to_owned(),
            });
        };
        // Resolved once here (the SDK caches them), so that "none" is known before any call.
        if let Err(error) = provider.provide_credentials().await {
            return Err(AwsUnavailable::NoCredentials {
                reason: error.to_string(),
            });
        }
        Ok(Self { config })
    }

    /// [`Aws::load`] for code that is not async: on a runtime of its own.
    pub fn load_blocking(region: Option<&str>) -> Result<Self, AwsUnavailable> {
        block_on(Self::load(region))
    }

    /// The region calls go to.
    pub fn region(&self) -> &str {
        self.config.region().map_or("", |region| region.as_ref())
    }

    /// The Lambda control plane (`AWS_ENDPOINT_URL_LAMBDA` honoured).
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    /// IAM (`AWS_ENDPOINT_URL_IAM` honoured).
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }

    /// CloudWatch Logs (`AWS_ENDPOINT_URL_CLOUDWATCH_LOGS` honoured).
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }
}

/// The HTTPS client every AWS SDK client of the CLI uses: rustls on ring, the crypto backend the
/// Temporal client already builds (the SDK's default would add aws-lc-rs).
pub fn https_client() -> aws_sdk_lambda::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Runs `future` to completion on a current-thread runtime of its own, for the CLI's
/// synchronous commands. Not from inside a runtime (tokio forbids nesting).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
        .block_on(future)
}

/// An SDK error as one line with its causes (the SDK's `Display` alone says only "service
/// error"), e.g. `ResourceNotFoundException: Function not found: arn:…`.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcomes_say_what_to_do() {
        let none = AwsUnavailable::NoCredentials {
            reason: "the credential provider was not enabled".to_owned(),
        }
        .to_string();
        assert!(
            none.starts_with("no AWS credentials (the standard chain: "),
            "{none}"
        );
        assert!(none.contains("aws configure") && none.contains("AWS_PROFILE"));
        assert!(AwsUnavailable::NoRegion.to_string().contains("AWS_REGION"));
    }
}
