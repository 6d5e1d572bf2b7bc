//! Which Lambda ARN a Worker Deployment Version is bound to, from what the user has in hand: the
//! JSON `cargo lambda deploy --output-format json` prints, a function and a published version,
//! or an ARN. Only a published version's ARN is accepted: a version's code never changes, so
//! the build ID the Worker Deployment Version is created with stays the build ID the server's
//! invocations run. `$LATEST` and aliases move to new code (the next `cargo lambda deploy`,
//! `update-alias`), and the server then invokes code of another build ID for this version: the
//! runtime's guard refuses it, and the server invokes again — an invocation loop.
//!
//! Pure: no AWS call. The refusals name the fix.

use serde::Deserialize;
use temporal_serverless::lambda_arn::{is_function_arn, strip_qualifier};

/// A published version of a function: what a Worker Deployment Version may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionVersion {
    /// The function, unqualified: a full ARN, or a name when only a name was given (the version
    /// ARN then comes from Lambda's GetFunction).
    pub function: String,
    /// The version number, as Lambda spells it (`"3"`).
    pub version: String,
    /// A note for the user about what was given and not used (the alias of a `cargo lambda
    /// deploy --alias`).
    pub note: Option<String>,
}

impl FunctionVersion {
    /// `arn:…:function:NAME:VERSION`, when [`FunctionVersion::function`] is a full ARN.
    pub fn arn(&self) -> Option<String> {
        is_function_arn(&self.function).then(|| format!("{}:{}", self.function, self.version))
    }

    /// The region of the function's ARN, where its Lambda API calls must go.
    pub fn region(&self) -> Option<&str> {
        is_function_arn(&self.function)
            .then(|| self.function.split(':').nth(3))
            .flatten()
    }
}

/// What `cargo lambda deploy --output-format json` prints (cargo-lambda 1.9): `function_arn`
/// is unqualified when the function was created and qualified by the new version when it was
/// updated; `version` is the version it published; `alias` the alias it moved to it, if any.
#[derive(Debug, Deserialize)]
struct CargoLambdaDeploy {
    function_arn: String,
    version: String,
    #[serde(default)]
    alias: Option<String>,
}

/// How cargo lambda (1.9) starts a progress line when its output is not a terminal.
const PROGRESS_STARTED: &str = "▹▹▹▹▹ ";
/// How it starts a progress line that ends a step.
const PROGRESS_FINISHED: &str = "▪▪▪▪▪ ";

/// What a qualifier (the part after the function name) designates.
#[derive(Debug, PartialEq, Eq)]
pub enum Qualifier<'a> {
    /// No qualifier: `$LATEST`, implicitly.
    None,
    /// `$LATEST`.
    Latest,
    /// A published version (digits: an alias name may not be all digits).
    Version(&'a str),
    /// An alias.
    Alias(&'a str),
}

/// The qualifier of a function name or ARN.
pub fn qualifier(name_or_arn: &str) -> Qualifier<'_> {
    let unqualified = strip_qualifier(name_or_arn);
    if unqualified.len() == name_or_arn.len() {
        return Qualifier::None;
    }
    classify(&name_or_arn[unqualified.len() + 1..])
}

/// What `qualifier` designates.
fn classify(qualifier: &str) -> Qualifier<'_> {
    if qualifier == "$LATEST" {
        Qualifier::Latest
    } else if !qualifier.is_empty() && qualifier.bytes().all(|byte| byte.is_ascii_digit()) {
        Qualifier::Version(qualifier)
    } else {
        Qualifier::Alias(qualifier)
    }
}

/// The version `--function-arn` names; refused unless it is a published version.
pub fn from_arn(arn: &str) -> Result<FunctionVersion, String> {
    let function = strip_qualifier(arn);
    if !is_function_arn(function) {
        return Err(format!(
            "--function-arn {arn} is not a Lambda function ARN \
             (arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION); with a function name, pass \
             --function NAME --function-version N"
        ));
    }
    match qualifier(arn) {
        Qualifier::Version(version) => Ok(FunctionVersion {
            function: function.to_owned(),
            version: version.to_owned(),
            note: None,
        }),
        Qualifier::None | Qualifier::Latest => Err(moving_code(arn, "$LATEST", function)),
        Qualifier::Alias(alias) => Err(moving_code(arn, &format!("alias {alias}"), function)),
    }
}

/// The version `--function NAME_OR_ARN --function-version N` names; refused unless `N` is a
/// published version (and the function, if qualified, names the same one).
pub fn from_function_and_version(function: &str, version: &str) -> Result<FunctionVersion, String> {
    let unqualified = strip_qualifier(function);
    match classify(version) {
        Qualifier::Version(_) => {}
        Qualifier::Latest | Qualifier::None => {
            return Err(moving_code(
                &format!("{unqualified}:{version}"),
                "$LATEST",
                unqualified,
            ));
        }
        Qualifier::Alias(alias) => {
            return Err(moving_code(
                &format!("{unqualified}:{version}"),
                &format!("alias {alias}"),
                unqualified,
            ));
        }
    }
    match qualifier(function) {
        Qualifier::None => {}
        Qualifier::Version(given) if given == version => {}
        _ => {
            return Err(format!(
                "--function {function} is qualified and --function-version is {version}: pass the \
                 function unqualified ({unqualified})"
            ));
        }
    }
    Ok(FunctionVersion {
        function: unqualified.to_owned(),
        version: version.to_owned(),
        note: None,
    })
}

/// The version a `cargo lambda deploy --output-format json` published, from its output.
/// The alias it may also have moved is not used (it moves again at the next deploy), and the
/// note says so.
pub fn from_cargo_lambda(printed: &str) -> Result<FunctionVersion, String> {
    // Its output redirected to a file (not a terminal), cargo lambda writes its progress as
    // lines before the JSON: `▹▹▹▹▹ loading binary data`, `▪▪▪▪▪ …`.
    let json: Vec<&str> = printed
        .lines()
        .skip_while(|line| {
            line.starts_with(PROGRESS_STARTED) || line.starts_with(PROGRESS_FINISHED)
        })
        .collect();
    let json = json.join("\n");
    let deployed: CargoLambdaDeploy = serde_json::from_str(&json).map_err(|error| {
        format!(
            "not the output of `cargo lambda deploy --output-format json` ({error}); expected \
             {{\"function_arn\": \"arn:aws:lambda:…\", \"version\": \"N\", …}}"
        )
    })?;
    let function = strip_qualifier(&deployed.function_arn);
    if !is_function_arn(function) {
        return Err(format!(
            "cargo lambda's function_arn {} is not a Lambda function ARN",
            deployed.function_arn
        ));
    }
    // Updated, cargo lambda reports the published version's own ARN; anything else there is
    // not the version it reports.
    match qualifier(&deployed.function_arn) {
        Qualifier::None => {}
        Qualifier::Version(version) if version == deployed.version => {}
        _ => {
            return Err(format!(
                "cargo lambda's function_arn {} does not name its version {}",
                deployed.function_arn, deployed.version
            ));
        }
    }
    let mut version = from_function_and_version(function, &deployed.version)?;
    version.note = deployed.alias.map(|alias| {
        format!(
            "alias {alias} is not used: the version is bound to version {} ({function}:{}), \
             which keeps this code when the alias moves",
            deployed.version, deployed.version
        )
    });
    Ok(version)
}

/// The refusal of an ARN whose code can change under the version: what it designates, why that
/// breaks, and the fix.
fn moving_code(given: &str, moves: &str, function: &str) -> String {
    let why = if moves == "$LATEST" {
        "is unqualified or $LATEST: the next deploy of new code"
    } else {
        "names an alias: aliases move, versions don't; the alias's next update"
    };
    format!(
        "{given} {why} would run under this Worker Deployment Version's build ID, the runtime \
         refuses it, and the server invokes it again (an invocation loop). Bind the version to a \
         published version instead: `--from-cargo-lambda deploy.json` with what `cargo lambda \
         deploy --output-format json` printed (it publishes a version), or \
         `--function-arn {function}:N` with the number of the version that runs this build \
         (`aws lambda publish-version --function-name {name}` publishes one; `aws lambda \
         get-alias` shows the version an alias points at)",
        name = temporal_serverless::lambda_arn::function_name(function),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:shop";

    #[test]
    fn qualifiers_are_told_apart() {
        assert_eq!(qualifier(FUNCTION), Qualifier::None);
        assert_eq!(qualifier(&format!("{FUNCTION}:7")), Qualifier::Version("7"));
        assert_eq!(qualifier(&format!("{FUNCTION}:$LATEST")), Qualifier::Latest);
        assert_eq!(
            qualifier(&format!("{FUNCTION}:live")),
            Qualifier::Alias("live")
        );
        assert_eq!(qualifier(&format!("{FUNCTION}:v1")), Qualifier::Alias("v1"));
        assert_eq!(qualifier("shop:12"), Qualifier::Version("12"));
        assert_eq!(qualifier("shop"), Qualifier::None);
    }

    #[test]
    fn a_version_arn_is_accepted_as_it_is() {
        let version = from_arn(&format!("{FUNCTION}:7")).unwrap();
        assert_eq!(version.function, FUNCTION);
        assert_eq!(version.version, "7");
        assert_eq!(version.arn().unwrap(), format!("{FUNCTION}:7"));
        assert_eq!(version.region(), Some("eu-west-1"));
        let china = from_arn("arn:aws-cn:lambda:cn-north-1:123456789012:function:shop:2").unwrap();
        assert_eq!(china.region(), Some("cn-north-1"));
    }

    #[test]
    fn an_unqualified_or_latest_arn_is_refused_with_the_fix() {
        for arn in [FUNCTION.to_owned(), format!("{FUNCTION}:$LATEST")] {
            let refusal = from_arn(&arn).unwrap_err();
            assert!(refusal.starts_with(&format!("{arn} is unqualified or $LATEST")));
            assert!(refusal.contains("invocation loop"), "{refusal}");
            assert!(refusal.contains("--from-cargo-lambda"), "{refusal}");
            assert!(
                refusal.contains(&format!("--function-arn {FUNCTION}:N")),
                "{refusal}"
            );
            assert!(
                refusal.contains("aws lambda publish-version --function-name shop"),
                "{refusal}"
            );
        }
    }

    #[test]
    fn an_alias_arn_is_refused_and_the_fix_is_its_version() {
        let refusal = from_arn(&format!("{FUNCTION}:live")).unwrap_err();
        assert!(
            refusal.contains("names an alias: aliases move, versions don't"),
            "{refusal}"
        );
        assert!(refusal.contains(&format!("--function-arn {FUNCTION}:N")));
        assert!(refusal.contains("get-alias"), "{refusal}");
        // The same through --function-version.
        let refusal = from_function_and_version(FUNCTION, "live").unwrap_err();
        assert!(refusal.contains("aliases move"), "{refusal}");
        let refusal = from_function_and_version("shop", "$LATEST").unwrap_err();
        assert!(refusal.starts_with("shop:$LATEST is unqualified or $LATEST"));
    }

    #[test]
    fn something_that_is_no_function_arn_is_refused() {
        let refusal = from_arn("arn:aws:iam::123456789012:role/shop").unwrap_err();
        assert!(
            refusal.contains("is not a Lambda function ARN"),
            "{refusal}"
        );
        assert!(refusal.contains("--function NAME --function-version N"));
    }

    #[test]
    fn a_function_name_and_version_are_taken_as_given() {
        let version = from_function_and_version("shop", "3").unwrap();
        assert_eq!(
            (version.function.as_str(), version.version.as_str()),
            ("shop", "3")
        );
        // No ARN yet: GetFunction will tell it.
        assert_eq!(version.arn(), None);
        assert_eq!(version.region(), None);
        // Qualified with the same version: fine; another: refused.
        assert!(from_function_and_version(&format!("{FUNCTION}:3"), "3").is_ok());
        let refusal = from_function_and_version(&format!("{FUNCTION}:live"), "3").unwrap_err();
        assert!(refusal.contains(&format!("pass the function unqualified ({FUNCTION})")));
    }

    #[test]
    fn cargo_lambda_output_of_a_created_function_gives_its_first_version() {
        // As cargo-lambda 1.9.2 prints it after CreateFunction (Publish: true).
        let created = r#"{
          "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:shop",
          "function_url": null,
          "binary_modified_at": "now",
          "version": "1",
          "alias": null
        }"#;
        let version = from_cargo_lambda(created).unwrap();
        assert_eq!(
            version.arn().unwrap(),
            "arn:aws:lambda:us-east-1:123456789012:function:shop:1"
        );
        assert_eq!(version.note, None);
    }

    #[test]
    fn cargo_lambda_progress_lines_before_the_json_are_skipped() {
        // `cargo lambda deploy --output-format json > deploy.json`, exactly as 1.9.2 writes it.
        let redirected = "▹▹▹▹▹ loading binary data\n▹▹▹▹▹ deploying function\n{\n  \
            \"function_arn\": \"arn:aws:lambda:us-east-1:123456789012:function:shop:4\",\n  \
            \"function_url\": null,\n  \"binary_modified_at\": \"32 minutes ago\",\n  \
            \"version\": \"4\",\n  \"alias\": null\n}\n";
        let version = from_cargo_lambda(redirected).unwrap();
        assert_eq!(
            version.arn().unwrap(),
            "arn:aws:lambda:us-east-1:123456789012:function:shop:4"
        );
        // Anything else before the JSON is not skipped.
        let refusal = from_cargo_lambda("Deploying…\n{}").unwrap_err();
        assert!(refusal.contains("not the output of"), "{refusal}");
    }

    #[test]
    fn cargo_lambda_output_with_an_alias_gives_the_version_not_the_alias() {
        // After UpdateFunctionCode (Publish: true) and UpdateAlias: the ARN is the version's.
        let updated = r#"{"function_arn": "arn:aws:lambda:us-east-1:123456789012:function:shop:2",
            "function_url": null, "binary_modified_at": "now", "version": "2", "alias": "live"}"#;
        let version = from_cargo_lambda(updated).unwrap();
        assert_eq!(
            version.arn().unwrap(),
            "arn:aws:lambda:us-east-1:123456789012:function:shop:2"
        );
        let note = version.note.unwrap();
        assert!(note.starts_with("alias live is not used"), "{note}");
        assert!(note.contains("function:shop:2"), "{note}");
    }

    #[test]
    fn cargo_lambda_output_that_does_not_add_up_is_refused() {
        let mismatched = r#"{"function_arn": "arn:aws:lambda:us-east-1:123456789012:function:shop:3", "version": "2"}"#;
        assert!(
            from_cargo_lambda(mismatched)
                .unwrap_err()
                .contains("does not name its version 2")
        );
        let latest = r#"{"function_arn": "arn:aws:lambda:us-east-1:123456789012:function:shop", "version": "$LATEST"}"#;
        assert!(from_cargo_lambda(latest).unwrap_err().contains("$LATEST"));
        // Its text output (without --output-format json) is not JSON.
        let text = "✅ function deployed successfully 🎉\n🔍 arn: arn:aws:lambda:us-east-1:1:function:shop";
        let refusal = from_cargo_lambda(text).unwrap_err();
        assert!(refusal.contains("--output-format json"), "{refusal}");
    }
}
