//! An AWS account in `moto_server` ([`crate::moto`]), set up through the AWS SDK for Rust as a
//! user's scripts would: functions and their published versions (Lambda), roles with trust and
//! permission policies (IAM, or a CloudFormation stack), and log lines in a function's log group
//! (CloudWatch Logs). `doctor` then reads the same account through its own SDK clients.
//!
//! The functions' code is a stand-in (a small zip whose `bootstrap` is a shell script): `doctor`
//! reads a version's configuration (architecture, timeout, state), never its code, and moto runs
//! no code (its Docker-free Lambda answers every invocation itself).

use crate::{
    moto::{ACCOUNT, Moto, REGION},
    raw_http::HttpServer,
};
use aws_sdk_lambda::{
    config::{BehaviorVersion, Credentials, Region},
    primitives::Blob,
    types::{Architecture, FunctionCode, Runtime},
};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use temporal_serverless_cli::aws::block_on;

/// The SDK clients, pointed at one `moto_server`.
pub struct AwsAccount<'a> {
    moto: &'a Moto,
    lambda: aws_sdk_lambda::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

/// What [`AwsAccount::function`] creates; `create` publishes version 1.
pub struct FunctionSetup<'a, 'b> {
    account: &'b AwsAccount<'a>,
    name: String,
    architecture: Architecture,
    timeout_seconds: i32,
}

impl<'a> AwsAccount<'a> {
    /// Clients for `moto`, which is switched to its Docker-free Lambda first (every invocation
    /// succeeds without running code, so the dev server's validation invocation of a version
    /// passes); call before creating any function.
    pub fn new(moto: &'a Moto) -> Self {
        let (status, _, body) = moto.request(
            "POST",
            "/moto-api/config",
            &[("content-type", "application/json")],
            r#"{"lambda": {"use_docker": false}}"#,
        );
        assert_eq!(status, 201, "moto config: {body}");
        let credentials = Credentials::new("testing", "testing", None, None, "moto");
        let endpoint = moto.endpoint();
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(&endpoint)
                .http_client(temporal_serverless_cli::aws::https_client())
                .credentials_provider(credentials.clone())
                .build(),
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
                .region(aws_sdk_iam::config::Region::new(REGION))
                .endpoint_url(&endpoint)
                .http_client(temporal_serverless_cli::aws::https_client())
                .credentials_provider(credentials.clone())
                .build(),
        );
        let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::Config::builder()
                .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
                .region(aws_sdk_cloudwatchlogs::config::Region::new(REGION))
                .endpoint_url(&endpoint)
                .http_client(temporal_serverless_cli::aws::https_client())
                .credentials_provider(credentials)
                .build(),
        );
        Self {
            moto,
            lambda,
            iam,
            logs,
        }
    }

    /// A function `name` to create: x86_64, 30 s timeout unless changed.
    pub fn function<'b>(&'b self, name: &str) -> FunctionSetup<'a, 'b> {
        FunctionSetup {
            account: self,
            name: name.to_owned(),
            architecture: Architecture::X8664,
            timeout_seconds: 30,
        }
    }

    /// Publishes a new version of `name` with `timeout_seconds` (its configuration is changed
    /// first, as a deploy of a new build would): the version's ARN. (A function's architecture
    /// is set when it is created: moto ignores it in UpdateFunctionCode.)
    pub fn publish(&self, name: &str, timeout_seconds: i32) -> String {
        block_on(async {
            self.lambda
                .update_function_configuration()
                .function_name(name)
                .timeout(timeout_seconds)
                .send()
                .await
                .unwrap_or_else(|error| panic!("UpdateFunctionConfiguration {name}: {error:?}"));
            let published = self
                .lambda
                .update_function_code()
                .function_name(name)
                .zip_file(Blob::new(stand_in_zip()))
                .publish(true)
                .send()
                .await
                .unwrap_or_else(|error| panic!("UpdateFunctionCode {name}: {error:?}"));
            version_arn(name, published.version())
        })
    }

    /// Alias `alias` of function `name`, pointing at `version`: the alias's ARN.
    pub fn alias(&self, name: &str, alias: &str, version: &str) -> String {
        block_on(
            self.lambda
                .create_alias()
                .function_name(name)
                .name(alias)
                .function_version(version)
                .send(),
        )
        .unwrap_or_else(|error| panic!("CreateAlias {alias}: {error:?}"))
        .alias_arn()
        .expect("an alias ARN")
        .to_owned()
    }

    /// Deletes function `name` with its versions.
    pub fn delete_function(&self, name: &str) {
        block_on(self.lambda.delete_function().function_name(name).send())
            .unwrap_or_else(|error| panic!("DeleteFunction {name}: {error:?}"));
    }

    /// An IAM role with `trust` and, inline, each of `policies` (name, document): its ARN.
    pub fn role(&self, name: &str, trust: &Value, policies: &[(&str, &Value)]) -> String {
        block_on(async {
            let role = self
                .iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust.to_string())
                .send()
                .await
                .unwrap_or_else(|error| panic!("CreateRole {name}: {error:?}"));
            for (policy, document) in policies {
                self.iam
                    .put_role_policy()
                    .role_name(name)
                    .policy_name(*policy)
                    .policy_document(document.to_string())
                    .send()
                    .await
                    .unwrap_or_else(|error| panic!("PutRolePolicy {policy}: {error:?}"));
            }
            role.role().map(|role| role.arn().to_owned()).unwrap()
        })
    }

    /// Replaces role `name`'s trust policy.
    pub fn set_trust(&self, name: &str, trust: &Value) {
        block_on(
            self.iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(trust.to_string())
                .send(),
        )
        .unwrap_or_else(|error| panic!("UpdateAssumeRolePolicy {name}: {error:?}"));
    }

    /// Creates CloudFormation stack `name` from `template` (`CAPABILITY_NAMED_IAM`) and returns
    /// its outputs; panics unless it reaches `CREATE_COMPLETE` (moto creates synchronously). No
    /// SDK for CloudFormation is built for the one stack a test creates: moto's query API.
    pub fn stack(&self, name: &str, template: &str) -> Vec<(String, String)> {
        let (status, _, body) = self.moto.query(
            "cloudformation",
            &[
                ("Action", "CreateStack"),
                ("Version", "2010-05-15"),
                ("StackName", name),
                ("TemplateBody", template),
                ("Capabilities.member.1", "CAPABILITY_NAMED_IAM"),
            ],
        );
        assert_eq!(status, 200, "CreateStack {name}: {body}");
        let (status, _, body) = self.moto.query(
            "cloudformation",
            &[
                ("Action", "DescribeStacks"),
                ("Version", "2010-05-15"),
                ("StackName", name),
            ],
        );
        assert_eq!(status, 200, "DescribeStacks {name}: {body}");
        assert!(
            body.contains("<StackStatus>CREATE_COMPLETE</StackStatus>"),
            "stack {name} not created: {body}"
        );
        // <Outputs><member><OutputKey>K</OutputKey><OutputValue>V</OutputValue>...
        body.split("<OutputKey>")
            .skip(1)
            .filter_map(|member| {
                let (key, rest) = member.split_once("</OutputKey>")?;
                let value = rest
                    .split_once("<OutputValue>")?
                    .1
                    .split_once("</OutputValue>")?
                    .0;
                Some((key.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// Writes `lines` to function `name`'s log group (created if needed), a minute ago.
    pub fn log(&self, name: &str, lines: &[&str]) {
        let group = format!("/aws/lambda/{name}");
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        block_on(async {
            let _ = self
                .logs
                .create_log_group()
                .log_group_name(&group)
                .send()
                .await;
            let stream = format!("2026/01/01/[$LATEST]{now_ms}");
            self.logs
                .create_log_stream()
                .log_group_name(&group)
                .log_stream_name(&stream)
                .send()
                .await
                .unwrap_or_else(|error| panic!("CreateLogStream: {error:?}"));
            let mut put = self
                .logs
                .put_log_events()
                .log_group_name(&group)
                .log_stream_name(&stream);
            for (index, line) in lines.iter().enumerate() {
                put = put.log_events(
                    aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                        .timestamp(now_ms - 60_000 + index as i64)
                        .message(*line)
                        .build()
                        .unwrap(),
                );
            }
            put.send()
                .await
                .unwrap_or_else(|error| panic!("PutLogEvents: {error:?}"));
        });
    }
}

impl FunctionSetup<'_, '_> {
    /// Its architecture.
    pub fn architecture(mut self, architecture: Architecture) -> Self {
        self.architecture = architecture;
        self
    }

    /// Its timeout.
    pub fn timeout(mut self, seconds: i32) -> Self {
        self.timeout_seconds = seconds;
        self
    }

    /// Creates it with an execution role of its own and publishes version 1: that version's ARN.
    pub fn create(self) -> String {
        let role = self
            .account
            .moto
            .create_lambda_role(&format!("{}-execution", self.name));
        block_on(
            self.account
                .lambda
                .create_function()
                .function_name(&self.name)
                .runtime(Runtime::Providedal2023)
                .handler("bootstrap")
                .role(role)
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(stand_in_zip()))
                        .build(),
                )
                .architectures(self.architecture)
                .timeout(self.timeout_seconds)
                .publish(true)
                .send(),
        )
        .map(|created| version_arn(&self.name, created.version()))
        .unwrap_or_else(|error| panic!("CreateFunction {}: {error:?}", self.name))
    }
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION`.
fn version_arn(name: &str, version: Option<&str>) -> String {
    format!(
        "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{}",
        version.expect("a published version")
    )
}

/// A zip holding one stored file, `bootstrap` (see the module's docs).
fn stand_in_zip() -> Vec<u8> {
    const NAME: &[u8] = b"bootstrap";
    const CODE: &[u8] = b"#!/bin/sh\necho stand-in\n";
    let crc = crc32(CODE).to_le_bytes();
    let size = (CODE.len() as u32).to_le_bytes();
    let name_len = (NAME.len() as u16).to_le_bytes();
    let mut zip = Vec::new();
    // Local file header: version 20, no flags, stored, no time, CRC, sizes, name.
    zip.extend([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    zip.extend(crc);
    zip.extend(size);
    zip.extend(size);
    zip.extend(name_len);
    zip.extend([0, 0]);
    zip.extend(NAME);
    zip.extend(CODE);
    let central = zip.len() as u32;
    // Central directory entry: made by Unix (3), executable (0755 << 16).
    zip.extend([0x50, 0x4b, 0x01, 0x02, 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    zip.extend(crc);
    zip.extend(size);
    zip.extend(size);
    zip.extend(name_len);
    zip.extend([0, 0, 0, 0, 0, 0, 0, 0]);
    zip.extend((0o100755u32 << 16).to_le_bytes());
    zip.extend([0, 0, 0, 0]);
    zip.extend(NAME);
    let central_len = zip.len() as u32 - central;
    // End of central directory: one entry.
    zip.extend([0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0]);
    zip.extend(central_len.to_le_bytes());
    zip.extend(central.to_le_bytes());
    zip.extend([0, 0]);
    zip
}

/// CRC-32 (IEEE), bit by bit: the stand-in is a few bytes.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stand_in_is_a_zip_our_reader_takes() {
        let zip = super::stand_in_zip();
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
        let bootstrap = temporal_serverless_cli::lambda_zip::bootstrap(&zip).unwrap();
        assert!(bootstrap.starts_with(b"#!/bin/sh"));
    }
}
