//! The invocation role: the IAM role in the function's account that Temporal's Worker Controller
//! assumes, with an external ID, to call the function. One model of what it must be, from which
//! `temporal-serverless role` writes the policies and `doctor` judges a role that exists.
//!
//! As Temporal's own CloudFormation templates for Serverless Workers define it:
//! - **trust policy**: `sts:AssumeRole` allowed to the Temporal principal under the condition
//!   `StringEquals sts:ExternalId = <external ID>`. For Temporal Cloud the principal is the
//!   Worker Controller's `wci-lambda-invoke` role in each of Temporal Cloud's five AWS accounts
//!   ([`TEMPORAL_CLOUD_PRINCIPALS`]); a self-hosted server assumes it with its own IAM identity.
//!   The server refuses a role that lets it in *without* the external ID (`create-version`:
//!   "IAM role trust policy does not enforce ExternalID condition"): the external ID is what stops
//!   another Temporal customer from pointing their version at your role (the confused deputy).
//! - **permission policy**: `lambda:InvokeFunction` (the server invokes with `InvocationType
//!   Event`) and `lambda:GetFunction` (it validates the function when the version is created) on
//!   the function version's ARN.

use crate::iam_policy::{Context, Decision, Policy, Request};
use serde_json::{Value, json};
use temporal_serverless::lambda_arn;

/// The principals Temporal Cloud's Worker Controller assumes invocation roles from: its
/// `wci-lambda-invoke` role in each of its AWS accounts (Temporal's CloudFormation template for
/// Temporal Cloud trusts exactly these).
pub const TEMPORAL_CLOUD_PRINCIPALS: [&str; 5] = [
    "arn:aws:iam::902542641901:role/wci-lambda-invoke",
    "arn:aws:iam::160190466495:role/wci-lambda-invoke",
    "arn:aws:iam::819232936619:role/wci-lambda-invoke",
    "arn:aws:iam::829909441867:role/wci-lambda-invoke",
    "arn:aws:iam::354116250941:role/wci-lambda-invoke",
];

/// What the server does with the function, each of which the role must allow.
pub const ACTIONS: [&str; 2] = ["lambda:InvokeFunction", "lambda:GetFunction"];

/// The name of the inline permission policy `role` writes.
pub const POLICY_NAME: &str = "temporal-invoke";

/// Who assumes the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// Temporal Cloud: [`TEMPORAL_CLOUD_PRINCIPALS`].
    TemporalCloud,
    /// A self-hosted Temporal Service: the IAM role or user ARNs it runs as (`aws sts
    /// get-caller-identity` in the server's environment).
    SelfHosted(Vec<String>),
}

impl Principals {
    /// `given` principals (`--temporal-principal`), or Temporal Cloud's when none is given.
    pub fn from_args(given: &[String]) -> Self {
        if given.is_empty() {
            Self::TemporalCloud
        } else {
            Self::SelfHosted(given.to_vec())
        }
    }

    /// The principal ARNs.
    pub fn arns(&self) -> Vec<String> {
        match self {
            Self::TemporalCloud => TEMPORAL_CLOUD_PRINCIPALS.map(str::to_owned).to_vec(),
            Self::SelfHosted(arns) => arns.clone(),
        }
    }

    /// Who they are, for a sentence.
    pub fn describe(&self) -> String {
        match self {
            Self::TemporalCloud => {
                "Temporal Cloud's Worker Controller (wci-lambda-invoke in its 5 accounts)"
                    .to_owned()
            }
            Self::SelfHosted(arns) => {
                format!("the Temporal Service's identity ({})", arns.join(", "))
            }
        }
    }
}

/// Checks an external ID against the rule of Temporal's templates: 5 to 45 characters of
/// `[a-zA-Z0-9_+=,.@-]`. It is not a secret (it is printed), but a guess must not be easy.
pub fn validate_external_id(external_id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if (5..=45).contains(&external_id.len()) && external_id.chars().all(allowed) {
        Ok(())
    } else {
        Err(format!(
            "external ID {external_id:?} must be 5 to 45 characters of letters, digits and \
             _+=,.@- (Temporal's rule); generate one, e.g. `openssl rand -hex 16`, and pass the \
             same value to create-version (--aws-lambda-assume-role-external-id)"
        ))
    }
}

/// The resource the permission policy names for a version ARN: that version, or with
/// `all_versions` every published version and alias of the function (`function:NAME:*`, which
/// does not cover the unqualified function, so `$LATEST` stays out), so that the next version a
/// deploy publishes needs no IAM change.
pub fn resource(version_arn: &str, all_versions: bool) -> String {
    if all_versions {
        format!("{}:*", lambda_arn::strip_qualifier(version_arn))
    } else {
        version_arn.to_owned()
    }
}

/// The trust policy: `principals` may assume the role only with `external_id`.
pub fn trust_policy(principals: &Principals, external_id: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": principals.arns()},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
        }]
    })
}

/// The permission policy: [`ACTIONS`] on `resource`.
pub fn permission_policy(resource: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ACTIONS,
            "Resource": resource
        }]
    })
}

/// A default role name for a function: `temporal-invoke-<function>`, within IAM's 64 characters.
pub fn default_role_name(function_arn: &str) -> String {
    let mut name = format!(
        "temporal-invoke-{}",
        lambda_arn::function_name(function_arn)
    );
    name.truncate(64);
    name
}

/// CloudFormation resources for the role and its permission policy (also valid in a SAM
/// template's `Resources`), shaped as Temporal's own templates (`AWS::IAM::Role` +
/// `AWS::IAM::Policy`), with the role's ARN as an output. The policy documents are JSON, which
/// YAML reads as it is, so that what is deployed is byte for byte what [`trust_policy`] and
/// [`permission_policy`] produce.
pub fn cloudformation(
    role_name: &str,
    principals: &Principals,
    external_id: &str,
    resource: &str,
) -> String {
    format!(
        "Resources:\n\
         \x20 TemporalInvocationRole:\n\
         \x20   Type: AWS::IAM::Role\n\
         \x20   Properties:\n\
         \x20     RoleName: {role_name}\n\
         \x20     Description: Assumed by Temporal's Worker Controller to invoke the function for its Worker Deployment Version\n\
         \x20     MaxSessionDuration: 3600\n\
         \x20     AssumeRolePolicyDocument: {trust}\n\
         \x20 TemporalInvocationPolicy:\n\
         \x20   Type: AWS::IAM::Policy\n\
         \x20   Properties:\n\
         \x20     PolicyName: {POLICY_NAME}\n\
         \x20     Roles: [!Ref TemporalInvocationRole]\n\
         \x20     PolicyDocument: {permissions}\n\
         Outputs:\n\
         \x20 TemporalInvocationRoleArn:\n\
         \x20   Description: pass to create-version as --aws-lambda-assume-role-arn\n\
         \x20   Value: !GetAtt TemporalInvocationRole.Arn\n",
        trust = trust_policy(principals, external_id),
        permissions = permission_policy(resource),
    )
}

/// The `aws` commands that create the role, or put its policies right on an existing one.
pub fn aws_commands(
    role_name: &str,
    principals: &Principals,
    external_id: &str,
    resource: &str,
) -> Vec<String> {
    vec![
        format!(
            "aws iam create-role --role-name {role_name} --assume-role-policy-document '{}'",
            trust_policy(principals, external_id)
        ),
        put_permissions_command(role_name, resource),
    ]
}

/// The `aws` command that sets an existing role's trust policy to the right one.
pub fn update_trust_command(role_name: &str, principals: &Principals, external_id: &str) -> String {
    format!(
        "aws iam update-assume-role-policy --role-name {role_name} --policy-document '{}'",
        trust_policy(principals, external_id)
    )
}

/// The `aws` command that gives an existing role the permissions it needs on `resource`.
pub fn put_permissions_command(role_name: &str, resource: &str) -> String {
    format!(
        "aws iam put-role-policy --role-name {role_name} --policy-name {POLICY_NAME} --policy-document '{}'",
        permission_policy(resource)
    )
}

/// The role's name in its ARN (`arn:aws:iam::1:role/path/name` → `name`).
pub fn role_name(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or(role_arn)
}

/// How a role measures up against the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// As the model says: what was seen.
    Right(String),
    /// Not so: what is wrong.
    Wrong(String),
    /// Cannot be told for sure (a condition doctor does not model): why.
    Uncertain(String),
}

/// Judges a trust policy: every principal may assume the role with `external_id`, and none
/// without it.
pub fn judge_trust(trust: &Policy, principals: &Principals, external_id: &str) -> Judgement {
    let decide = |principal: &str, external_id: Option<&str>| {
        let context =
            Context::from([("sts:externalid".to_owned(), external_id.map(str::to_owned))]);
        trust.decide(&Request {
            action: "sts:AssumeRole",
            resource: None,
            principal: Some(principal),
            context: &context,
        })
    };
    let (mut refused, mut open, mut depends) = (Vec::new(), Vec::new(), Vec::new());
    for principal in principals.arns() {
        match decide(&principal, Some(external_id)) {
            Decision::Allowed { .. } => {}
            Decision::Depends { on } => depends.push(format!("{principal}: {}", on.join("; "))),
            Decision::Denied { .. } | Decision::NotAllowed => refused.push(principal.clone()),
        }
        if decide(&principal, None).allowed() {
            open.push(principal);
        }
    }
    let mut problems = Vec::new();
    if !refused.is_empty() {
        problems.push(format!(
            "{} may not assume it with external ID {external_id}",
            refused.join(", ")
        ));
    }
    if !open.is_empty() {
        problems.push(format!(
            "{} may assume it without the external ID (the server refuses such a role: the \
             external ID is what keeps other Temporal namespaces out)",
            open.join(", ")
        ));
    }
    if !problems.is_empty() {
        Judgement::Wrong(problems.join("; "))
    } else if !depends.is_empty() {
        Judgement::Uncertain(format!(
            "whether it may be assumed depends on conditions doctor does not evaluate: {}",
            depends.join(" | ")
        ))
    } else {
        Judgement::Right(format!(
            "{} may assume it only with external ID {external_id}",
            principals.describe()
        ))
    }
}

/// Judges a role's permission policies (inline and attached, by name): each of [`ACTIONS`] is
/// allowed on `function_arn`.
pub fn judge_permissions(policies: &[(String, Policy)], function_arn: &str) -> Judgement {
    let documents: Vec<Policy> = policies
        .iter()
        .map(|(name, policy)| policy.clone().named(name))
        .collect();
    let context = Context::new();
    let (mut missing, mut depends, mut granted) = (Vec::new(), Vec::new(), Vec::new());
    for action in ACTIONS {
        match Policy::decide_all(
            &documents,
            &Request {
                action,
                resource: Some(function_arn),
                principal: None,
                context: &context,
            },
        ) {
            Decision::Allowed { by } => granted.push(format!("{action} ({})", by.join(", "))),
            Decision::Denied { by } => {
                missing.push(format!("{action} (denied by {})", by.join(", ")))
            }
            Decision::NotAllowed => missing.push(format!("{action} (not allowed)")),
            Decision::Depends { on } => {
                depends.push(format!("{action} (depends on {})", on.join("; ")))
            }
        }
    }
    let names: Vec<&str> = policies.iter().map(|(name, _)| name.as_str()).collect();
    if !missing.is_empty() {
        Judgement::Wrong(format!(
            "on {function_arn}: {} — policies read: {}",
            missing.join(", "),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ))
    } else if !depends.is_empty() {
        Judgement::Uncertain(format!("on {function_arn}: {}", depends.join(", ")))
    } else {
        Judgement::Right(format!("on {function_arn}: {}", granted.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: &str = "arn:aws:lambda:us-east-1:123456789012:function:shop:3";
    const EXTERNAL_ID: &str = "shop-7f3a9c";

    fn parse(document: Value) -> Policy {
        Policy::parse(&document).unwrap()
    }

    #[test]
    fn the_policies_it_writes_are_the_ones_it_judges_right() {
        for principals in [
            Principals::TemporalCloud,
            Principals::SelfHosted(vec![
                "arn:aws:iam::111122223333:role/temporal-server".to_owned(),
            ]),
        ] {
            let trust = parse(trust_policy(&principals, EXTERNAL_ID));
            assert!(
                matches!(
                    judge_trust(&trust, &principals, EXTERNAL_ID),
                    Judgement::Right(_)
                ),
                "{principals:?}"
            );
            // Another external ID is wrong.
            assert!(matches!(
                judge_trust(&trust, &principals, "other-id-1"),
                Judgement::Wrong(saw) if saw.contains("may not assume it with external ID other-id-1")
            ));
        }
        for all_versions in [false, true] {
            let policy = parse(permission_policy(&resource(VERSION, all_versions)));
            let judged = judge_permissions(&[(POLICY_NAME.to_owned(), policy)], VERSION);
            assert!(
                matches!(&judged, Judgement::Right(saw)
                if saw.contains("lambda:InvokeFunction (temporal-invoke: statement 1)")
                    && saw.contains("lambda:GetFunction")),
                "{judged:?}"
            );
        }
    }

    #[test]
    fn the_trust_policy_is_temporals_template() {
        let trust = trust_policy(&Principals::TemporalCloud, EXTERNAL_ID);
        let statement = &trust["Statement"][0];
        assert_eq!(statement["Action"], "sts:AssumeRole");
        assert_eq!(statement["Principal"]["AWS"].as_array().unwrap().len(), 5);
        assert_eq!(
            statement["Principal"]["AWS"][0],
            "arn:aws:iam::902542641901:role/wci-lambda-invoke"
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["sts:ExternalId"],
            EXTERNAL_ID
        );
        let permissions = permission_policy(VERSION);
        assert_eq!(
            permissions["Statement"][0]["Action"],
            json!(["lambda:InvokeFunction", "lambda:GetFunction"])
        );
        assert_eq!(permissions["Statement"][0]["Resource"], VERSION);
        assert_eq!(
            resource(VERSION, true),
            "arn:aws:lambda:us-east-1:123456789012:function:shop:*"
        );
    }

    #[test]
    fn a_trust_policy_missing_a_principal_or_the_condition_is_wrong() {
        // Only one of Temporal Cloud's five accounts.
        let one = parse(trust_policy(
            &Principals::SelfHosted(vec![TEMPORAL_CLOUD_PRINCIPALS[0].to_owned()]),
            EXTERNAL_ID,
        ));
        let judged = judge_trust(&one, &Principals::TemporalCloud, EXTERNAL_ID);
        assert!(
            matches!(&judged, Judgement::Wrong(saw) if saw.contains("160190466495") && !saw.contains("902542641901")),
            "{judged:?}"
        );
        // No external ID condition: open to anyone who can name the role.
        let open = parse(json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS}, "Action": "sts:AssumeRole"}]}));
        let judged = judge_trust(&open, &Principals::TemporalCloud, EXTERNAL_ID);
        assert!(
            matches!(&judged, Judgement::Wrong(saw) if saw.contains("without the external ID")),
            "{judged:?}"
        );
        // The Lambda execution role's trust policy, given by mistake.
        let execution = parse(json!({"Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}));
        assert!(matches!(
            judge_trust(&execution, &Principals::TemporalCloud, EXTERNAL_ID),
            Judgement::Wrong(_)
        ));
        // Trust that depends on a condition doctor cannot see is uncertain, not right.
        let conditional = parse(json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID},
                          "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}));
        assert!(matches!(
            judge_trust(&conditional, &Principals::TemporalCloud, EXTERNAL_ID),
            Judgement::Uncertain(_)
        ));
    }

    #[test]
    fn permissions_are_judged_per_action_on_the_version() {
        let invoke_only = parse(json!({"Statement": [{"Effect": "Allow",
            "Action": "lambda:InvokeFunction", "Resource": VERSION}]}));
        let judged = judge_permissions(&[("invoke".to_owned(), invoke_only)], VERSION);
        assert!(
            matches!(&judged, Judgement::Wrong(saw)
                if saw.contains("lambda:GetFunction (not allowed)") && saw.contains("policies read: invoke")),
            "{judged:?}"
        );
        // The previous version's ARN does not cover this one.
        let old = parse(permission_policy(&VERSION.replace(":3", ":2")));
        assert!(matches!(
            judge_permissions(&[("old".to_owned(), old)], VERSION),
            Judgement::Wrong(_)
        ));
        // A broad managed policy beside a Deny.
        let broad = parse(
            json!({"Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}),
        );
        let deny = parse(json!({"Statement": [{"Sid": "NoGet", "Effect": "Deny",
            "Action": "lambda:Get*", "Resource": "*"}]}));
        let judged = judge_permissions(
            &[
                ("AWSLambda_FullAccess".to_owned(), broad),
                ("guard".to_owned(), deny),
            ],
            VERSION,
        );
        assert!(
            matches!(&judged, Judgement::Wrong(saw) if saw.contains("lambda:GetFunction (denied by guard: NoGet)")),
            "{judged:?}"
        );
        assert!(
            matches!(judge_permissions(&[], VERSION), Judgement::Wrong(saw) if saw.contains("policies read: none"))
        );
    }

    #[test]
    fn the_cloudformation_snippet_embeds_exactly_the_model() {
        let snippet = cloudformation(
            "temporal-invoke-shop",
            &Principals::TemporalCloud,
            EXTERNAL_ID,
            VERSION,
        );
        let document = |key: &str| -> Value {
            let line = snippet
                .lines()
                .find_map(|line| line.trim_start().strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {snippet}"));
            serde_json::from_str(line).unwrap()
        };
        assert_eq!(
            document("AssumeRolePolicyDocument: "),
            trust_policy(&Principals::TemporalCloud, EXTERNAL_ID)
        );
        assert_eq!(document("PolicyDocument: "), permission_policy(VERSION));
        assert!(snippet.contains("Type: AWS::IAM::Role"));
        assert!(snippet.contains("Type: AWS::IAM::Policy"));
        assert!(snippet.contains("Roles: [!Ref TemporalInvocationRole]"));
        assert!(snippet.contains("!GetAtt TemporalInvocationRole.Arn"));
    }

    #[test]
    fn names_and_external_ids() {
        assert_eq!(default_role_name(VERSION), "temporal-invoke-shop");
        assert_eq!(
            default_role_name(&format!("{}:1", "x".repeat(80))).len(),
            64
        );
        assert_eq!(
            role_name("arn:aws:iam::1:role/team/temporal-invoke-shop"),
            "temporal-invoke-shop"
        );
        assert!(validate_external_id(EXTERNAL_ID).is_ok());
        assert!(validate_external_id("abcd").is_err());
        assert!(validate_external_id(&"a".repeat(46)).is_err());
        let error = validate_external_id("has space").unwrap_err();
        assert!(error.contains("openssl rand -hex 16"), "{error}");
    }
}
