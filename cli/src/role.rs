//! `role`: the invocation role for a function version as code — its trust policy, its
//! permission policy, a CloudFormation / SAM resource and the `aws` commands — from
//! [`crate::invocation_role`], the model `doctor` checks a deployed role against.
//!
//! What it prints is run (`aws` commands, `deploy`) and parsed (YAML, JSON), so every value is
//! first held to the rule AWS has for it — a function ARN, an IAM role name, an IAM principal,
//! an external ID — none of which allows a quote, a space, `;`, `$(` or `#`; and the values are
//! then quoted as [`crate::quoting`] says where the output's syntax needs it.

use crate::{
    deploy::target::{Qualifier, qualifier},
    invocation_role::{self, Principals},
    quoting,
};
use clap::Args;
use serde_json::json;
use std::process::ExitCode;
use temporal_serverless::lambda_arn;

#[derive(Args)]
pub struct RoleArgs {
    /// The function version the server invokes: `arn:aws:lambda:REGION:ACCOUNT:function:NAME:N`.
    #[arg(long)]
    pub function_arn: String,
    /// The external ID the server passes (5–45 of `[A-Za-z0-9_+=,.@-]`); without it, a random
    /// one is generated and printed. Give create-version the same value. Not a secret (it is
    /// printed), but it must be unguessable: it is what keeps other Temporal namespaces from
    /// using the role.
    #[arg(long)]
    pub external_id: Option<String>,
    /// The role's name, 1–64 of `[A-Za-z0-9+=,.@_-]` (IAM's rule; default
    /// `temporal-invoke-<function>`).
    #[arg(long)]
    pub role_name: Option<String>,
    /// The IAM identity a self-hosted Temporal Service runs as (repeatable); default: Temporal
    /// Cloud's Worker Controller principals.
    #[arg(long = "temporal-principal")]
    pub temporal_principals: Vec<String>,
    /// Allow every published version and alias of the function (`function:NAME:*`), so that the
    /// versions later deploys publish need no IAM change; default: this version only.
    #[arg(long)]
    pub all_versions: bool,
    /// Print `{"role_name", "role_arn", "trust_policy", "permission_policy", "cloudformation"}`.
    #[arg(long, conflicts_with = "cloudformation")]
    pub json: bool,
    /// Print only the CloudFormation / SAM template (for `aws cloudformation deploy`).
    #[arg(long)]
    pub cloudformation: bool,
}

pub fn run(args: &RoleArgs) -> ExitCode {
    for warning in warnings(args) {
        eprintln!("warning: {warning}");
    }
    match render(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What `role` says on stderr beside what it prints: an external ID that is easy to guess.
pub fn warnings(args: &RoleArgs) -> Vec<String> {
    args.external_id
        .as_deref()
        .and_then(|id| invocation_role::external_id_weakness(id, Some(&args.function_arn)))
        .into_iter()
        .collect()
}

/// What `role` prints, or why it refuses.
pub fn render(args: &RoleArgs) -> Result<String, String> {
    check_function_arn(&args.function_arn, args.all_versions)?;
    let external_id = match &args.external_id {
        Some(given) => {
            invocation_role::validate_external_id(given)?;
            ExternalId::Given(given.clone())
        }
        None => ExternalId::Generated(invocation_role::generate_external_id()),
    };
    check_principals(&args.temporal_principals)?;
    if let Some(role_name) = &args.role_name {
        check_role_name(role_name)?;
    }
    let role = PrintedRole::of(args, external_id);
    if args.cloudformation {
        return Ok(match &role.external_id {
            // The template alone must still say what create-version is to be given.
            ExternalId::Generated(id) => format!(
                "# External ID (generated, random): {id}; give create-version the same value \
                 (--aws-lambda-assume-role-external-id)\n{}",
                role.cloudformation
            ),
            ExternalId::Given(_) => role.cloudformation,
        });
    }
    if args.json {
        return Ok(role.json());
    }
    Ok(role.text(args))
}

/// Refuses an ARN that is not a function's, holds a character no Lambda ARN holds, or (without
/// `--all-versions`) is not a published version's.
fn check_function_arn(arn: &str, all_versions: bool) -> Result<(), String> {
    let function = lambda_arn::strip_qualifier(arn);
    if !lambda_arn::is_function_arn(function) {
        return Err(format!(
            "--function-arn {arn} is not a Lambda function ARN \
             (arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION)"
        ));
    }
    if !only_lambda_arn_characters(arn) {
        return Err(format!(
            "--function-arn {arn:?} holds characters no Lambda function ARN holds (only ASCII \
             letters and digits, `-`, `_`, `:`, and `$` in `$LATEST`): pass the ARN as `cargo \
             lambda deploy` or `aws lambda publish-version` prints it"
        ));
    }
    match qualifier(arn) {
        Qualifier::Version(_) => Ok(()),
        _ if all_versions => Ok(()),
        Qualifier::Alias(alias) => Err(format!(
            "{arn} names alias {alias}: the server invokes the published version the Worker \
             Deployment Version names, and an alias moves; pass that version's ARN \
             ({function}:N), or --all-versions to allow every version of the function"
        )),
        Qualifier::None | Qualifier::Latest => Err(format!(
            "{arn} is not a published version ($LATEST changes with every deploy): pass the \
             version's ARN ({function}:N, as cargo lambda deploy prints it), or \
             --all-versions to allow every version of the function"
        )),
    }
}

/// Whether every character of `arn` is one a Lambda function ARN may hold: partitions, regions,
/// account IDs, function names and qualifiers are ASCII letters, digits, `-` and `_`, between
/// `:`; the one exception is the `$` of `$LATEST`. (This also keeps the default role name, cut
/// at IAM's 64 bytes, ASCII.)
fn only_lambda_arn_characters(arn: &str) -> bool {
    arn.strip_suffix(":$LATEST")
        .unwrap_or(arn)
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
}

/// Refuses a `--role-name` IAM would refuse: 1 to 64 of ASCII letters, digits and `+=,.@_-`.
fn check_role_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if (1..=64).contains(&name.len()) && name.chars().all(allowed) {
        Ok(())
    } else {
        Err(format!(
            "--role-name {name:?} is not an IAM role name: IAM allows 1 to 64 of ASCII letters, \
             digits and +=,.@_- ; pass one such as temporal-invoke-shop, or leave --role-name \
             out for temporal-invoke-<function>"
        ))
    }
}

/// Refuses a `--temporal-principal` that is not an IAM role or user ARN, or holds a character
/// none holds (IAM's names and paths are ASCII letters, digits and `+=,.@_-`, between `:` and
/// `/`).
fn check_principals(principals: &[String]) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-:/".contains(c);
    for principal in principals {
        if !principal.starts_with("arn:")
            || !principal.contains(":iam::")
            || !principal.chars().all(allowed)
        {
            return Err(format!(
                "--temporal-principal {principal:?} is not an IAM role or user ARN: give the ARN \
                 the Temporal Service runs as (`aws sts get-caller-identity` where it runs, with \
                 an assumed-role ARN written as arn:aws:iam::ACCOUNT:role/NAME)"
            ));
        }
    }
    Ok(())
}

/// The role for valid arguments: its name and ARN, what it may invoke, and its documents.
struct PrintedRole {
    principals: Principals,
    external_id: ExternalId,
    role_name: String,
    role_arn: String,
    resource: String,
    trust: serde_json::Value,
    permissions: serde_json::Value,
    cloudformation: String,
}

/// The external ID the role is printed with.
enum ExternalId {
    /// `--external-id`.
    Given(String),
    /// None was given: a random one.
    Generated(String),
}

impl ExternalId {
    fn value(&self) -> &str {
        match self {
            Self::Given(id) | Self::Generated(id) => id,
        }
    }
}

impl PrintedRole {
    fn of(args: &RoleArgs, external_id: ExternalId) -> Self {
        let arn = args.function_arn.as_str();
        let principals = Principals::from_args(&args.temporal_principals);
        let role_name = args
            .role_name
            .clone()
            .unwrap_or_else(|| invocation_role::default_role_name(arn));
        let parts: Vec<&str> = arn.split(':').collect();
        let role_arn = format!("arn:{}:iam::{}:role/{role_name}", parts[1], parts[4]);
        let resource = invocation_role::resource(arn, args.all_versions);
        let trust = invocation_role::trust_policy(&principals, external_id.value());
        let permissions = invocation_role::permission_policy(&resource);
        // The template takes the name as it is given, and a valid IAM name can be one YAML reads
        // as something else (`null`, `yes`, `007`, `=`) or not at all (`@ops`): quoted, it is the
        // string IAM is given. (The policies are JSON, which YAML reads as it is.)
        let cloudformation = invocation_role::cloudformation(
            &quoting::yaml_scalar(&role_name),
            &principals,
            external_id.value(),
            &resource,
        );
        Self {
            principals,
            external_id,
            role_name,
            role_arn,
            resource,
            trust,
            permissions,
            cloudformation,
        }
    }

    /// `--json`.
    fn json(&self) -> String {
        let document = json!({
            "external_id": self.external_id.value(),
            "external_id_generated": matches!(self.external_id, ExternalId::Generated(_)),
            "role_name": self.role_name,
            "role_arn": self.role_arn,
            "trust_policy": self.trust,
            "permission_policy": self.permissions,
            "cloudformation": self.cloudformation,
        });
        format!("{}\n", serde_json::to_string_pretty(&document).unwrap())
    }

    /// The documents with their headings, the `aws` commands, and the `deploy` that uses the role.
    fn text(&self, args: &RoleArgs) -> String {
        let Self {
            role_arn,
            resource,
            cloudformation,
            ..
        } = self;
        // The `aws` commands write the role name as it is and the policies in single quotes:
        // safe because every value in them was held to its AWS rule (no quote, space or `$`).
        let commands = invocation_role::aws_commands(
            &self.role_name,
            &self.principals,
            self.external_id.value(),
            resource,
        );
        let deploy = quoting::shell_command(&[
            "temporal-serverless",
            "deploy",
            "--artifact",
            "bootstrap",
            "--function-arn",
            args.function_arn.as_str(),
            "--role-arn",
            role_arn.as_str(),
            "--external-id",
            self.external_id.value(),
        ]);
        format!(
            "Invocation role {role_arn} for {resource}\n\
             assumed by {} with external ID {}{}.\n\n\
             # Trust policy (AssumeRolePolicyDocument)\n{}\n\n\
             # Permission policy ({}: {})\n{}\n\n\
             # CloudFormation / SAM (a template of its own, or these Resources in yours; deploy with \
             --capabilities CAPABILITY_NAMED_IAM)\n{cloudformation}\n\
             # Or with the aws CLI\n{}\n\n\
             # Then bind the Worker Deployment Version to the function through it\n\
             {deploy} -- <connection>\n",
            self.principals.describe(),
            self.external_id.value(),
            match self.external_id {
                ExternalId::Generated(_) => {
                    " (generated, random: give create-version the same value, \
                     --aws-lambda-assume-role-external-id)"
                }
                ExternalId::Given(_) => "",
            },
            serde_json::to_string_pretty(&self.trust).unwrap(),
            invocation_role::POLICY_NAME,
            invocation_role::ACTIONS.join(", "),
            serde_json::to_string_pretty(&self.permissions).unwrap(),
            commands.join("\n"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam_policy::Policy;
    use invocation_role::Judgement;

    const VERSION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:shop:3";

    fn args(function_arn: &str) -> RoleArgs {
        RoleArgs {
            function_arn: function_arn.to_owned(),
            external_id: Some("shop-7f3a9c".to_owned()),
            role_name: None,
            temporal_principals: Vec::new(),
            all_versions: false,
            json: false,
            cloudformation: false,
        }
    }

    #[test]
    fn without_an_external_id_a_random_one_is_generated_printed_and_used() {
        let mut generated = args(VERSION);
        generated.external_id = None;
        generated.json = true;
        let printed: serde_json::Value =
            serde_json::from_str(&render(&generated).unwrap()).unwrap();
        let id = printed["external_id"].as_str().unwrap().to_owned();
        assert_eq!(printed["external_id_generated"], true);
        assert_eq!(
            invocation_role::external_id_weakness(&id, Some(VERSION)),
            None
        );
        let trust = Policy::parse(&printed["trust_policy"]).unwrap();
        assert!(matches!(
            invocation_role::judge_trust(&trust, &Principals::TemporalCloud, &id),
            Judgement::Right(_)
        ));
        let again: serde_json::Value = serde_json::from_str(&render(&generated).unwrap()).unwrap();
        assert_ne!(
            again["external_id"], printed["external_id"],
            "random each time"
        );
        generated.json = false;
        let text = render(&generated).unwrap();
        assert!(text.contains("(generated, random"), "{text}");
        generated.cloudformation = true;
        let template = render(&generated).unwrap();
        assert!(
            template.starts_with("# External ID (generated, random): "),
            "{template}"
        );
        assert!(warnings(&generated).is_empty());
    }

    #[test]
    fn a_guessable_external_id_is_warned_about() {
        let weak = args(VERSION);
        let warned = warnings(&weak);
        assert!(
            warned.len() == 1 && warned[0].contains("shorter than 16 characters"),
            "{warned:?}"
        );
        let mut strong = args(VERSION);
        strong.external_id = Some("9d41c7e2b08f4a6e93b5".to_owned());
        assert!(warnings(&strong).is_empty());
    }

    #[test]
    fn prints_what_doctor_judges_right() {
        let mut json_args = args(VERSION);
        json_args.json = true;
        let printed: serde_json::Value =
            serde_json::from_str(&render(&json_args).unwrap()).unwrap();
        assert_eq!(
            printed["role_arn"],
            "arn:aws:iam::123456789012:role/temporal-invoke-shop"
        );
        let trust = Policy::parse(&printed["trust_policy"]).unwrap();
        assert!(matches!(
            invocation_role::judge_trust(&trust, &Principals::TemporalCloud, "shop-7f3a9c"),
            Judgement::Right(_)
        ));
        let permissions = Policy::parse(&printed["permission_policy"]).unwrap();
        assert!(matches!(
            invocation_role::judge_permissions(&[("p".to_owned(), permissions)], VERSION),
            Judgement::Right(_)
        ));
        let text = render(&args(VERSION)).unwrap();
        for part in [
            "# Trust policy",
            "wci-lambda-invoke",
            "\"sts:ExternalId\": \"shop-7f3a9c\"",
            "Type: AWS::IAM::Role",
            "aws iam create-role --role-name temporal-invoke-shop",
            "aws iam put-role-policy --role-name temporal-invoke-shop --policy-name temporal-invoke",
            "--role-arn arn:aws:iam::123456789012:role/temporal-invoke-shop --external-id shop-7f3a9c",
        ] {
            assert!(text.contains(part), "{part} missing from:\n{text}");
        }
    }

    #[test]
    fn self_hosted_principals_and_all_versions() {
        let mut self_hosted = args(VERSION);
        self_hosted.temporal_principals =
            vec!["arn:aws:iam::111122223333:role/temporal".to_owned()];
        self_hosted.all_versions = true;
        self_hosted.cloudformation = true;
        let template = render(&self_hosted).unwrap();
        assert!(template.starts_with("Resources:\n"), "{template}");
        assert!(template.contains("arn:aws:iam::111122223333:role/temporal"));
        assert!(!template.contains("wci-lambda-invoke"));
        assert!(template.contains("function:shop:*"));
        self_hosted.temporal_principals = vec!["temporal".to_owned()];
        assert!(
            render(&self_hosted)
                .unwrap_err()
                .contains("get-caller-identity")
        );
    }

    #[test]
    fn refuses_values_no_aws_name_holds_before_writing_them_into_commands_and_yaml() {
        let too_long = "r".repeat(65);
        for role_name in ["x;id", "x'$(id)'", "two words", "", "ü", too_long.as_str()] {
            let mut named = args(VERSION);
            named.role_name = Some(role_name.to_owned());
            let refusal = render(&named).unwrap_err();
            assert!(
                refusal.contains("is not an IAM role name")
                    && refusal.contains("temporal-invoke-shop"),
                "{role_name}: {refusal}"
            );
        }
        let mut principal = args(VERSION);
        principal.temporal_principals = vec!["arn:aws:iam::1:role/x';id;'".to_owned()];
        assert!(
            render(&principal)
                .unwrap_err()
                .contains("is not an IAM role or user ARN")
        );
        for arn in [
            "arn:aws:lambda:eu-west-1:123456789012:function:shop$(id):3",
            "arn:aws:lambda:eu-west-1:123456789012:function:shop';id;':3",
            "arn:aws:lambda:eu-west-1:123456789012:function:shop#x:3",
            "arn:aws:lambda:eu-west-1:123456789012:function:$HOME:3",
        ] {
            let refusal = render(&args(arn)).unwrap_err();
            assert!(
                refusal.contains("holds characters no Lambda function ARN holds"),
                "{arn}: {refusal}"
            );
        }
        // `$LATEST` is still understood, and refused for what it is.
        let latest = render(&args(
            "arn:aws:lambda:eu-west-1:123456789012:function:shop:$LATEST",
        ))
        .unwrap_err();
        assert!(latest.contains("not a published version"), "{latest}");
    }

    #[test]
    fn a_non_ascii_function_name_is_refused_not_cut_inside_a_character() {
        // `temporal-invoke-x` and 30 two-byte characters: the default name's 64th byte falls
        // inside one.
        let arn = format!(
            "arn:aws:lambda:eu-west-1:123456789012:function:x{}:3",
            "ü".repeat(30)
        );
        let refusal = render(&args(&arn)).unwrap_err();
        assert!(refusal.contains("ASCII"), "{refusal}");
        // The longest name Lambda allows makes a default role name cut at IAM's 64 characters.
        let longest = format!(
            "arn:aws:lambda:eu-west-1:123456789012:function:{}:3",
            "f".repeat(64)
        );
        let mut json_args = args(&longest);
        json_args.json = true;
        let printed: serde_json::Value =
            serde_json::from_str(&render(&json_args).unwrap()).unwrap();
        assert_eq!(printed["role_name"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn the_role_name_is_a_quoted_yaml_scalar_in_the_template() {
        let mut named = args(VERSION);
        named.role_name = Some("@ops".to_owned());
        named.cloudformation = true;
        let template = render(&named).unwrap();
        assert!(
            template.contains("\n      RoleName: \"@ops\"\n"),
            "{template}"
        );
    }

    #[test]
    fn refuses_what_is_not_a_published_version_and_a_weak_external_id() {
        let alias = render(&args(
            "arn:aws:lambda:eu-west-1:123456789012:function:shop:live",
        ))
        .unwrap_err();
        assert!(
            alias.contains("alias live") && alias.contains("--all-versions"),
            "{alias}"
        );
        let latest =
            render(&args("arn:aws:lambda:eu-west-1:123456789012:function:shop")).unwrap_err();
        assert!(latest.contains("not a published version"), "{latest}");
        assert!(
            render(&args("shop:3"))
                .unwrap_err()
                .contains("not a Lambda function ARN")
        );
        let mut weak = args(VERSION);
        weak.external_id = Some("abc".to_owned());
        assert!(render(&weak).unwrap_err().contains("openssl rand -hex 16"));
        // With --all-versions the unqualified function is fine: `function:NAME:*` is granted.
        let mut all = args("arn:aws:lambda:eu-west-1:123456789012:function:shop");
        all.all_versions = true;
        assert!(render(&all).unwrap().contains("function:shop:*"));
    }
}
