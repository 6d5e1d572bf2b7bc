//! The functions the service hosts, parsed from the command line.

use super::LambdaArgs;
use std::{path::PathBuf, time::Duration};
use temporal_serverless::lambda_arn::{partition_of_region, strip_qualifier};

/// One hosted function.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// Function name.
    pub name: String,
    /// Unqualified ARN.
    pub arn: String,
    /// The executable started for each instance.
    pub command: PathBuf,
    /// Lambda's `Timeout`.
    pub timeout: Duration,
    /// Lambda's `MemorySize`, in MB.
    pub memory_mb: u32,
    /// Most instances at once.
    pub concurrency: usize,
    /// Region, for ARNs and the environment.
    pub region: String,
    /// Extra environment for every instance.
    pub env: Vec<(String, String)>,
    /// Delays before the retries of a failed `Event` invocation (one retry per entry).
    pub event_retry_delays: Vec<Duration>,
    /// How long an instance may sit idle and still be reused (warm).
    pub keep_warm: Duration,
    /// Whether idle instances are frozen (SIGSTOP) until their next event, as Lambda does.
    pub freeze: bool,
}

impl FunctionConfig {
    /// Whether `name_or_arn` (a name, a partial or full ARN, with or without a qualifier)
    /// designates this function.
    pub fn matches(&self, name_or_arn: &str) -> bool {
        let unqualified = strip_qualifier(name_or_arn);
        unqualified == self.name || unqualified == self.arn
    }

    /// The ARN Lambda hands the function as `Lambda-Runtime-Invoked-Function-Arn` for an invoke
    /// through `name_or_arn` (which [`FunctionConfig::matches`]): this function's ARN with the
    /// qualifier the caller used, in the name (`shop:live`, `arn:…:function:shop:3`) or as the
    /// `Qualifier` parameter, and unqualified without one.
    pub fn invoked_arn(&self, name_or_arn: &str, qualifier_parameter: Option<&str>) -> String {
        let unqualified = strip_qualifier(name_or_arn);
        let qualifier = if unqualified != name_or_arn {
            Some(&name_or_arn[unqualified.len() + 1..])
        } else {
            qualifier_parameter.filter(|qualifier| !qualifier.is_empty())
        };
        match qualifier {
            Some(qualifier) => format!("{}:{qualifier}", self.arn),
            None => self.arn.clone(),
        }
    }
}

/// Parses every `--function` with the shared settings.
pub fn parse_all(args: &LambdaArgs) -> Result<Vec<FunctionConfig>, String> {
    let env = args
        .env
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| format!("--env {pair}: expected KEY=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let event_retry_delays = args
        .event_retry_delays
        .iter()
        .filter(|delay| !delay.is_empty())
        .map(|delay| {
            delay
                .parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    format!("--event-retry-delays: {delay:?} is not a number of seconds")
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    args.functions
        .iter()
        .map(|spec| {
            let (name, command) = spec
                .split_once('=')
                .ok_or_else(|| format!("--function {spec}: expected NAME=COMMAND"))?;
            let command = PathBuf::from(command);
            if !command.is_file() {
                return Err(format!(
                    "--function {spec}: {} does not exist; build it first",
                    command.display()
                ));
            }
            Ok(FunctionConfig {
                name: name.to_owned(),
                arn: format!(
                    "arn:{}:lambda:{}:{}:function:{name}",
                    partition_of_region(&args.region),
                    args.region,
                    args.account
                ),
                command: command.canonicalize().map_err(|error| error.to_string())?,
                timeout: std::time::Duration::from_secs(args.timeout),
                memory_mb: args.memory,
                concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
                region: args.region.clone(),
                env: env.clone(),
                event_retry_delays: event_retry_delays.clone(),
                keep_warm: Duration::from_secs(args.keep_warm),
                freeze: !args.no_freeze,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_found_by_name_or_arn_with_any_qualifier_in_any_partition() {
        // Every partition's ARNs, as `--region` makes them.
        for arn in [
            "arn:aws:lambda:us-east-1:000000000000:function:shop",
            "arn:aws-cn:lambda:cn-north-1:000000000000:function:shop",
            "arn:aws-us-gov:lambda:us-gov-west-1:000000000000:function:shop",
        ] {
            let function = FunctionConfig {
                name: "shop".to_owned(),
                arn: arn.to_owned(),
                command: PathBuf::from("bootstrap"),
                timeout: Duration::from_secs(30),
                memory_mb: 128,
                concurrency: 1,
                region: arn.split(':').nth(3).unwrap().to_owned(),
                env: Vec::new(),
                event_retry_delays: Vec::new(),
                keep_warm: Duration::from_secs(600),
                freeze: true,
            };
            for designation in ["shop", "shop:3", arn, &format!("{arn}:live")] {
                assert!(function.matches(designation), "{designation}");
            }
            assert!(!function.matches("other"));
            assert_eq!(
                function.invoked_arn("shop:live", None),
                format!("{arn}:live")
            );
            assert_eq!(
                function.invoked_arn(&format!("{arn}:3"), None),
                format!("{arn}:3")
            );
            assert_eq!(
                function.invoked_arn("shop", Some("live")),
                format!("{arn}:live")
            );
            assert_eq!(function.invoked_arn("shop", None), arn);
            assert_eq!(function.invoked_arn(arn, Some("")), arn);
        }
    }
}
