//! `moto_server` (PyPI `moto`, installed by `scripts/setup`): a real implementation of AWS's
//! APIs — Lambda's control plane (CreateFunction, UpdateFunctionCode, PublishVersion,
//! GetFunction, aliases), IAM, CloudWatch Logs — on 127.0.0.1, without Docker. `cargo lambda
//! deploy`, `temporal-serverless deploy` and `doctor` reach it through the standard endpoint
//! variables ([`Moto::aws_env`]), as they would reach AWS.

use crate::{
    child_process::{ServerProcess, ServerStart},
    free_port, installed_tool,
    raw_http::{self, HttpServer},
};
use std::{path::PathBuf, process::Command, time::Duration};

/// How long `moto_server` may take to answer once started (it imports Flask and moto: about
/// 2 s on an idle machine, more under a parallel build).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times a server that exits at start (its port taken meanwhile) is started again.
const START_ATTEMPTS: usize = 3;
/// How long one request may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The account moto puts in every ARN (its default, `MOTO_ACCOUNT_ID`).
pub const ACCOUNT: &str = "123456789012";
/// The region the tests use.
pub const REGION: &str = "us-east-1";

/// The `moto_server` program: `MOTO_SERVER` if set, else the one `scripts/setup` installs.
pub fn moto_server() -> PathBuf {
    installed_tool("MOTO_SERVER", "moto_server")
}

/// A running `moto_server` with empty state, stopped (by PID) when dropped.
pub struct Moto {
    process: ServerProcess,
    /// `127.0.0.1:<port>`.
    pub address: String,
    log_path: PathBuf,
}

impl Moto {
    /// Starts `moto_server` on a free loopback port and waits until it answers its own API.
    pub fn start() -> Self {
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let address = format!("127.0.0.1:{port}");
            let log_path =
                std::env::temp_dir().join(format!("tsls-moto-{}-{port}.log", std::process::id()));
            let log = std::fs::File::create(&log_path).expect("the moto log file opens");
            let started = ServerProcess::start(
                Command::new(moto_server())
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdout(log.try_clone().unwrap())
                    .stderr(log),
                ServerStart {
                    what: "moto_server",
                    address: &address,
                    answer_timeout: START_TIMEOUT,
                    stop_grace: Duration::ZERO,
                },
                |address| {
                    raw_http::exchange(address, "GET", "/moto-api/", &[], "", RESPONSE_TIMEOUT)
                        .is_some_and(|(status, _, _)| status == 200)
                },
                || std::fs::read_to_string(&log_path).unwrap_or_default(),
            );
            match started {
                Ok(process) => {
                    return Self {
                        process,
                        address,
                        log_path,
                    };
                }
                Err(_) => {
                    let _ = std::fs::remove_file(&log_path);
                }
            }
        }
        panic!("moto_server exited at start {START_ATTEMPTS} times");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The environment that points an AWS SDK (ours, `cargo lambda`'s) at this server for
    /// Lambda, IAM and CloudWatch Logs, with dummy credentials, a region, and no credential
    /// source of the machine's (profile files, instance metadata) in the way. The secret key is
    /// the redaction sentinel (moto checks no signature), so that a test finding it in output
    /// has caught a shown secret.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        let endpoint = self.endpoint();
        vec![
            ("AWS_ENDPOINT_URL_LAMBDA", endpoint.clone()),
            ("AWS_ENDPOINT_URL_IAM", endpoint.clone()),
            ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", endpoint.clone()),
            ("AWS_ENDPOINT_URL_STS", endpoint),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY",
                temporal_serverless::redact::SENTINEL.to_owned(),
            ),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ]
    }

    /// IAM CreateRole through moto's query API (moto accepts any signature): a role Lambda may
    /// assume, which CreateFunction needs. Returns its ARN.
    pub fn create_lambda_role(&self, name: &str) -> String {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let (status, _, response) = self.query(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", trust),
            ],
        );
        assert_eq!(status, 200, "CreateRole {name}: {response}");
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// A request to one of moto's query-protocol services (IAM, CloudFormation, ...), `params`
    /// form-encoded: (status, lower-cased head, body).
    pub fn query(&self, service: &str, params: &[(&str, &str)]) -> (u16, String, String) {
        let body: Vec<String> = params
            .iter()
            .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
            .collect();
        self.request(
            "POST",
            "/",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &authorization(service)),
            ],
            &body.join("&"),
        )
    }

    /// What `moto_server` has printed (one line per request).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl HttpServer for Moto {
    const NAME: &'static str = "moto_server";
    const RESPONSE_TIMEOUT: Duration = RESPONSE_TIMEOUT;

    fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.process.stop();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// An `Authorization` header for `service`: moto checks no signature, but finds the service a
/// request is for (all share one port) in its credential scope.
fn authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

/// `text` percent-encoded for a form body (RFC 3986 unreserved characters kept).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
