//! What `doctor` reads from AWS, through the AWS SDK with credentials from the standard chain
//! ([`crate::aws`]): the function version (GetFunction), the invocation role with its trust
//! policy and its inline and attached permission policies (IAM), IAM's own simulation of those
//! permissions on the function, and the function's recent `TemporalServerless.*` log events
//! (CloudWatch Logs). Reading only, into plain facts; every judgement is made in `aws_checks`. Without credentials nothing is read and each AWS check
//! says so.

use crate::{
    aws::{Aws, block_on, error_text},
    iam_policy::Policy,
    invocation_role::{self, SimulatedDecision},
};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use temporal_serverless::lambda_arn;

/// The text every runtime error type starts with; log lines carrying one are read.
pub const ERROR_TYPE_PREFIX: &str = "TemporalServerless.";
/// At most this many matching log events are read (one page of FilterLogEvents).
pub const MAX_LOG_EVENTS: i32 = 1000;

/// A failed AWS call: the service's error code (`ResourceNotFoundException`, `NoSuchEntity`,
/// `AccessDeniedException`, ...) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure {
    /// The error code, if the service gave one.
    pub code: Option<String>,
    /// What went wrong, with its causes.
    pub message: String,
}

impl AwsFailure {
    /// Whether the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|code| code.contains("NotFound") || code == "NoSuchEntity")
    }

    /// Whether the caller may not read it.
    pub fn is_access_denied(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|code| code.contains("AccessDenied") || code == "UnauthorizedOperation")
    }

    fn of<E>(error: &aws_sdk_lambda::error::SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = error.code().map(str::to_owned);
        let message = match error.message() {
            Some(message) => format!("{}: {message}", code.as_deref().unwrap_or("error")),
            None => error_text(error),
        };
        Self { code, message }
    }
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// A function version's configuration, as GetFunction describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFacts {
    /// `FunctionArn`: qualified by the version (or alias) asked for.
    pub arn: String,
    /// `Version`: the published version number, or `$LATEST`.
    pub version: String,
    /// `Architectures` (`x86_64` when Lambda lists none).
    pub architectures: Vec<String>,
    /// `Timeout`, seconds.
    pub timeout_seconds: Option<u64>,
    /// `State` (`Active`, `Pending`, `Failed`, ...).
    pub state: Option<String>,
}

impl FunctionFacts {
    /// From a GetFunction JSON answer (the local Lambda service's, unsigned).
    pub fn from_json(document: &Value) -> Self {
        let configuration = &document["Configuration"];
        let text = |field: &str| configuration[field].as_str().map(str::to_owned);
        Self {
            arn: text("FunctionArn").unwrap_or_default(),
            version: text("Version").unwrap_or_else(|| "$LATEST".to_owned()),
            architectures: configuration["Architectures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|name| name.as_str().map(str::to_owned))
                .collect(),
            timeout_seconds: configuration["Timeout"].as_u64(),
            state: text("State"),
        }
    }
}

/// The invocation role as IAM describes it.
#[derive(Debug, Clone)]
pub struct RoleFacts {
    /// Its ARN.
    pub arn: String,
    /// Its trust policy (`AssumeRolePolicyDocument`), parsed, or why it could not be.
    pub trust: Result<Policy, String>,
    /// Its permission policies by name (inline, then attached managed ones), parsed.
    pub policies: Vec<(String, Policy)>,
    /// Policies that could not be read or parsed, with why.
    pub unreadable: Vec<String>,
    /// IAM's policy simulator on the invocation role's actions on the function version, or why
    /// it did not answer (no `iam:SimulatePrincipalPolicy`, an API without the simulator);
    /// `None` if no function ARN is known.
    pub simulated: Option<Result<Vec<SimulatedDecision>, AwsFailure>>,
}

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The line.
    pub message: String,
}

/// The function's recent log events that name an error type, from its log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logs {
    /// `/aws/lambda/<function>`.
    pub group: String,
    /// How far back was read.
    pub since: Duration,
    /// The events, oldest first.
    pub events: Vec<LogEvent>,
    /// Whether more matched than were read.
    pub truncated: bool,
}

/// What was read from AWS.
#[derive(Debug, Clone)]
pub enum AwsEvidence {
    /// Nothing: no credentials (or no region); why.
    Unavailable(String),
    /// Read with credentials.
    Read(Box<AwsFacts>),
}

/// The answers of each AWS call.
#[derive(Debug, Clone)]
pub struct AwsFacts {
    /// GetFunction of the version's ARN; `None` if no ARN is known.
    pub function: Option<Result<FunctionFacts, AwsFailure>>,
    /// The invocation role; `None` if no role is known.
    pub role: Option<Result<RoleFacts, AwsFailure>>,
    /// The log events; `None` if no function is known.
    pub logs: Option<Result<Logs, AwsFailure>>,
}

/// What to read.
pub struct AwsTarget<'a> {
    /// The function ARN the Worker Deployment Version names (or the user expects).
    pub function_arn: Option<&'a str>,
    /// The invocation role's ARN.
    pub role_arn: Option<&'a str>,
    /// How far back to read the logs.
    pub logs_since: Duration,
}

/// The log group Lambda writes a function's logs to by default.
pub fn log_group(function_arn: &str) -> String {
    format!("/aws/lambda/{}", lambda_arn::function_name(function_arn))
}

/// Reads everything `target` names; a call's failure is kept as its answer.
pub fn gather(target: &AwsTarget<'_>) -> AwsEvidence {
    // Calls go to the function's region, whatever the profile's default.
    let region = target
        .function_arn
        .filter(|arn| lambda_arn::is_function_arn(arn))
        .and_then(|arn| arn.split(':').nth(3));
    let aws = match Aws::load_blocking(region) {
        Ok(aws) => aws,
        Err(unavailable) => return AwsEvidence::Unavailable(unavailable.to_string()),
    };
    AwsEvidence::Read(Box::new(block_on(read(&aws, target))))
}

async fn read(aws: &Aws, target: &AwsTarget<'_>) -> AwsFacts {
    let function = match target.function_arn {
        Some(arn) => Some(function(aws, arn).await),
        None => None,
    };
    let role = match target.role_arn {
        Some(arn) => Some(role(aws, arn, target.function_arn).await),
        None => None,
    };
    let logs = match target.function_arn {
        Some(arn) => Some(logs(aws, arn, target.logs_since).await),
        None => None,
    };
    AwsFacts {
        function,
        role,
        logs,
    }
}

async fn function(aws: &Aws, arn: &str) -> Result<FunctionFacts, AwsFailure> {
    let answer = aws
        .lambda()
        .get_function()
        .function_name(arn)
        .send()
        .await
        .map_err(|error| AwsFailure::of(&error))?;
    let configuration = answer.configuration();
    Ok(FunctionFacts {
        arn: configuration
            .and_then(|configuration| configuration.function_arn())
            .unwrap_or(arn)
            .to_owned(),
        version: configuration
            .and_then(|configuration| configuration.version())
            .unwrap_or("$LATEST")
            .to_owned(),
        architectures: configuration
            .map(|configuration| configuration.architectures())
            .unwrap_or_default()
            .iter()
            .map(|architecture| architecture.as_str().to_owned())
            .collect(),
        timeout_seconds: configuration
            .and_then(|configuration| configuration.timeout())
            .and_then(|seconds| u64::try_from(seconds).ok()),
        state: configuration
            .and_then(|configuration| configuration.state())
            .map(|state| state.as_str().to_owned()),
    })
}

async fn role(aws: &Aws, arn: &str, function_arn: Option<&str>) -> Result<RoleFacts, AwsFailure> {
    let name = crate::invocation_role::role_name(arn);
    let answer = aws
        .iam()
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(|error| AwsFailure::of(&error))?;
    let role = answer.role();
    let trust = role
        .and_then(|role| role.assume_role_policy_document())
        .ok_or_else(|| "GetRole gave no trust policy".to_owned())
        .and_then(Policy::parse_text);
    let mut read = RolePolicies::default();
    read.inline(aws, name).await;
    read.attached(aws, name).await;
    let role_arn = role.map_or(arn, |role| role.arn()).to_owned();
    let simulated = match function_arn {
        Some(function_arn) => Some(simulate(aws, &role_arn, function_arn).await),
        None => None,
    };
    Ok(RoleFacts {
        arn: role_arn,
        trust,
        policies: read.policies,
        unreadable: read.unreadable,
        simulated,
    })
}

/// IAM's policy simulator on the role's permissions for the invocation role's actions on the
/// function version.
async fn simulate(
    aws: &Aws,
    role_arn: &str,
    function_arn: &str,
) -> Result<Vec<SimulatedDecision>, AwsFailure> {
    let answer = aws
        .iam()
        .simulate_principal_policy()
        .policy_source_arn(role_arn)
        .set_action_names(Some(invocation_role::ACTIONS.map(str::to_owned).to_vec()))
        .resource_arns(function_arn)
        .send()
        .await
        .map_err(|error| AwsFailure::of(&error))?;
    Ok(answer
        .evaluation_results()
        .iter()
        .map(|result| SimulatedDecision {
            action: result.eval_action_name().to_owned(),
            decision: result.eval_decision().as_str().to_owned(),
            matched: result
                .matched_statements()
                .iter()
                .filter_map(|statement| statement.source_policy_id().map(str::to_owned))
                .collect(),
        })
        .collect())
}

/// A role's permission policies, named, and those that could not be read, with why.
#[derive(Default)]
struct RolePolicies {
    policies: Vec<(String, Policy)>,
    unreadable: Vec<String>,
}

impl RolePolicies {
    /// Reads the role's inline policies.
    async fn inline(&mut self, aws: &Aws, role_name: &str) {
        let iam = aws.iam();
        let listed = match iam.list_role_policies().role_name(role_name).send().await {
            Ok(listed) => listed,
            Err(error) => {
                self.unreadable
                    .push(format!("inline policies: {}", AwsFailure::of(&error)));
                return;
            }
        };
        for policy_name in listed.policy_names() {
            match iam
                .get_role_policy()
                .role_name(role_name)
                .policy_name(policy_name)
                .send()
                .await
            {
                Ok(policy) => match Policy::parse_text(policy.policy_document()) {
                    Ok(document) => self.policies.push((policy_name.clone(), document)),
                    Err(error) => self.unreadable.push(format!("{policy_name}: {error}")),
                },
                Err(error) => self
                    .unreadable
                    .push(format!("{policy_name}: {}", AwsFailure::of(&error))),
            }
        }
    }

    /// Reads the managed policies attached to the role, labelled by name.
    async fn attached(&mut self, aws: &Aws, role_name: &str) {
        let listed = match aws
            .iam()
            .list_attached_role_policies()
            .role_name(role_name)
            .send()
            .await
        {
            Ok(listed) => listed,
            Err(error) => {
                self.unreadable
                    .push(format!("attached policies: {}", AwsFailure::of(&error)));
                return;
            }
        };
        for attached in listed.attached_policies() {
            let Some(policy_arn) = attached.policy_arn() else {
                continue;
            };
            let label = attached.policy_name().unwrap_or(policy_arn).to_owned();
            match managed_policy(aws, policy_arn).await {
                Ok(document) => self.policies.push((label, document)),
                Err(error) => self.unreadable.push(format!("{label}: {error}")),
            }
        }
    }
}

/// The default version of a managed policy, parsed.
async fn managed_policy(aws: &Aws, policy_arn: &str) -> Result<Policy, String> {
    let iam = aws.iam();
    let policy = iam
        .get_policy()
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(|error| AwsFailure::of(&error).to_string())?;
    let version = policy
        .policy()
        .and_then(|policy| policy.default_version_id())
        .ok_or("GetPolicy gave no default version")?;
    let document = iam
        .get_policy_version()
        .policy_arn(policy_arn)
        .version_id(version)
        .send()
        .await
        .map_err(|error| AwsFailure::of(&error).to_string())?;
    document
        .policy_version()
        .and_then(|version| version.document())
        .ok_or_else(|| "GetPolicyVersion gave no document".to_owned())
        .and_then(Policy::parse_text)
}

async fn logs(aws: &Aws, function_arn: &str, since: Duration) -> Result<Logs, AwsFailure> {
    let group = log_group(function_arn);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let answer = aws
        .logs()
        .filter_log_events()
        .log_group_name(&group)
        .start_time(now_ms - since.as_millis() as i64)
        // A quoted term: the log lines that contain it, however the line is formatted.
        .filter_pattern(format!("\"{ERROR_TYPE_PREFIX}\""))
        .limit(MAX_LOG_EVENTS)
        .send()
        .await
        .map_err(|error| AwsFailure::of(&error))?;
    let mut events: Vec<LogEvent> = answer
        .events()
        .iter()
        .map(|event| LogEvent {
            timestamp_ms: event.timestamp().unwrap_or_default(),
            message: event.message().unwrap_or_default().to_owned(),
        })
        .collect();
    events.sort_by_key(|event| event.timestamp_ms);
    Ok(Logs {
        group,
        since,
        events,
        truncated: answer.next_token().is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_get_function_answer_is_read_as_lambda_writes_it() {
        let facts = FunctionFacts::from_json(&json!({"Configuration": {
            "FunctionName": "shop", "FunctionArn": "arn:aws:lambda:us-east-1:1:function:shop:3",
            "Version": "3", "Timeout": 30, "State": "Active", "Architectures": ["arm64"]}}));
        assert_eq!(
            facts,
            FunctionFacts {
                arn: "arn:aws:lambda:us-east-1:1:function:shop:3".to_owned(),
                version: "3".to_owned(),
                architectures: vec!["arm64".to_owned()],
                timeout_seconds: Some(30),
                state: Some("Active".to_owned()),
            }
        );
        // The local Lambda service's answer has no version or architectures.
        let local = FunctionFacts::from_json(&json!({"Configuration": {"Timeout": 7}}));
        assert_eq!(local.version, "$LATEST");
        assert!(local.architectures.is_empty());
    }

    #[test]
    fn failures_are_classified_by_their_code() {
        let failure = |code: &str| AwsFailure {
            code: Some(code.to_owned()),
            message: String::new(),
        };
        assert!(failure("ResourceNotFoundException").is_not_found());
        assert!(failure("NoSuchEntity").is_not_found());
        assert!(!failure("AccessDeniedException").is_not_found());
        assert!(failure("AccessDeniedException").is_access_denied());
        assert!(failure("AccessDenied").is_access_denied());
        assert_eq!(
            log_group("arn:aws:lambda:us-east-1:1:function:shop:3"),
            "/aws/lambda/shop"
        );
    }
}
