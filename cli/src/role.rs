//! `role`: the invocation role for a function version as code — its trust policy, its
//! permission policy, a CloudFormation / SAM resource and the `aws` commands — from
//! [`crate::invocation_role`], the model `doctor` checks a deployed role against.

use crate::{
    deploy::target::{Qualifier, qualifier},
    invocation_role::{self, Principals},
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
    /// The external ID the server passes (5–45 of `[A-Za-z0-9_+=,.@-]`; `openssl rand -hex 16`).
    /// Give create-version the same value. Not a secret: it is printed.
    #[arg(long)]
    pub external_id: String,
    /// The role's name (default `temporal-invoke-<function>`).
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

/// What `role` prints, or why it refuses.
pub fn render(args: &RoleArgs) -> Result<String, String> {
    check_function_arn(&args.function_arn, args.all_versions)?;
    invocation_role::validate_external_id(&args.external_id)?;
    check_principals(&args.temporal_principals)?;
    let role = PrintedRole::of(args);
    if args.cloudformation {
        return Ok(role.cloudformation);
    }
    if args.json {
        return Ok(role.json());
    }
    Ok(role.text(args))
}

/// Refuses an ARN that is not a function's, or (without `--all-versions`) not a published
/// version's.
fn check_function_arn(arn: &str, all_versions: bool) -> Result<(), String> {
    let function = lambda_arn::strip_qualifier(arn);
    if !lambda_arn::is_function_arn(function) {
        return Err(format!(
            "--function-arn {arn} is not a Lambda function ARN \
             (arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION)"
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

/// Refuses a `--temporal-principal` that is not an IAM role or user ARN.
fn check_principals(principals: &[String]) -> Result<(), String> {
    for principal in principals {
        if !principal.starts_with("arn:") || !principal.contains(":iam::") {
            return Err(format!(
                "--temporal-principal {principal} is not an IAM role or user ARN: give the ARN \
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
    role_name: String,
    role_arn: String,
    resource: String,
    trust: serde_json::Value,
    permissions: serde_json::Value,
    cloudformation: String,
}

impl PrintedRole {
    fn of(args: &RoleArgs) -> Self {
        let arn = args.function_arn.as_str();
        let principals = Principals::from_args(&args.temporal_principals);
        let role_name = args
            .role_name
            .clone()
            .unwrap_or_else(|| invocation_role::default_role_name(arn));
        let parts: Vec<&str> = arn.split(':').collect();
        let role_arn = format!("arn:{}:iam::{}:role/{role_name}", parts[1], parts[4]);
        let resource = invocation_role::resource(arn, args.all_versions);
        let trust = invocation_role::trust_policy(&principals, &args.external_id);
        let permissions = invocation_role::permission_policy(&resource);
        let cloudformation =
            invocation_role::cloudformation(&role_name, &principals, &args.external_id, &resource);
        Self {
            principals,
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
        let arn = &args.function_arn;
        let commands = invocation_role::aws_commands(
            &self.role_name,
            &self.principals,
            &args.external_id,
            resource,
        );
        format!(
            "Invocation role {role_arn} for {resource}\n\
             assumed by {} with external ID {}.\n\n\
             # Trust policy (AssumeRolePolicyDocument)\n{}\n\n\
             # Permission policy ({}: {})\n{}\n\n\
             # CloudFormation / SAM (a template of its own, or these Resources in yours; deploy with \
             --capabilities CAPABILITY_NAMED_IAM)\n{cloudformation}\n\
             # Or with the aws CLI\n{}\n\n\
             # Then bind the Worker Deployment Version to the function through it\n\
             temporal-serverless deploy --artifact bootstrap --function-arn {arn} --role-arn {role_arn} \
             --external-id {} -- <connection>\n",
            self.principals.describe(),
            args.external_id,
            serde_json::to_string_pretty(&self.trust).unwrap(),
            invocation_role::POLICY_NAME,
            invocation_role::ACTIONS.join(", "),
            serde_json::to_string_pretty(&self.permissions).unwrap(),
            commands.join("\n"),
            args.external_id,
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
            external_id: "shop-7f3a9c".to_owned(),
            role_name: None,
            temporal_principals: Vec::new(),
            all_versions: false,
            json: false,
            cloudformation: false,
        }
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
        weak.external_id = "abc".to_owned();
        assert!(render(&weak).unwrap_err().contains("openssl rand -hex 16"));
        // With --all-versions the unqualified function is fine: `function:NAME:*` is granted.
        let mut all = args("arn:aws:lambda:eu-west-1:123456789012:function:shop");
        all.all_versions = true;
        assert!(render(&all).unwrap().contains("function:shop:*"));
    }
}
