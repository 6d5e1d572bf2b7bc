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

use crate::{
    iam_policy::{Context, Decision, Policy, Request, account_of},
    quoting,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
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

/// The length below which an external ID is called easy to guess: Temporal accepts 5, but a
/// short ID can be tried; 16 random characters cannot.
pub const STRONG_EXTERNAL_ID_LEN: usize = 16;

/// A fresh external ID: 32 random hexadecimal digits (a v4 UUID's 122 random bits), within
/// Temporal's rule.
pub fn generate_external_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Why `external_id` would be easy for another Temporal namespace to guess, if it would: shorter
/// than [`STRONG_EXTERNAL_ID_LEN`], containing the function's name (from `function_arn`) or a
/// word like `temporal`, made only of letters (words), or of very few distinct characters. It is
/// not a secret, but it is the one thing that keeps others' versions off the role.
pub fn external_id_weakness(external_id: &str, function_arn: Option<&str>) -> Option<String> {
    let lower = external_id.to_lowercase();
    let function = function_arn
        .map(lambda_arn::function_name)
        .map(str::to_lowercase)
        .filter(|name| name.len() >= 3);
    let distinct: BTreeSet<char> = lower.chars().collect();
    let reason = if external_id.chars().count() < STRONG_EXTERNAL_ID_LEN {
        format!("shorter than {STRONG_EXTERNAL_ID_LEN} characters")
    } else if let Some(function) = function.filter(|name| lower.contains(name.as_str())) {
        format!("it contains the function's name ({function})")
    } else if let Some(word) = GUESSABLE_WORDS.iter().find(|word| lower.contains(*word)) {
        format!("it contains the word {word:?}")
    } else if !external_id.chars().any(|c| c.is_ascii_digit()) {
        "it is made of letters only (words can be guessed)".to_owned()
    } else if distinct.len() < 8 {
        format!("it repeats {} distinct characters", distinct.len())
    } else {
        return None;
    };
    Some(format!(
        "external ID {external_id:?} is easy to guess: {reason}. It is not a secret, but it is \
         what keeps other Temporal namespaces from using your role: use a random one (run \
         `temporal-serverless role` without --external-id, or `openssl rand -hex 16`) in the \
         role's trust policy and the version's compute config"
    ))
}

/// Words an external ID chosen by hand tends to contain.
const GUESSABLE_WORDS: [&str; 8] = [
    "temporal", "external", "lambda", "secret", "password", "invoke", "worker", "example",
];

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
    // IAM's limit is 64 characters of ASCII; a name is cut at a character boundary all the same,
    // so that a name that is not ASCII is refused by IAM, not a panic here.
    let mut cut = name.len().min(64);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name.truncate(cut);
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
            "aws iam create-role --role-name {} --assume-role-policy-document {}",
            quoting::shell_word(role_name),
            quoting::single_quoted(&trust_policy(principals, external_id).to_string())
        ),
        put_permissions_command(role_name, resource),
    ]
}

/// The `aws` command that sets an existing role's trust policy to the right one.
pub fn update_trust_command(role_name: &str, principals: &Principals, external_id: &str) -> String {
    format!(
        "aws iam update-assume-role-policy --role-name {} --policy-document {}",
        quoting::shell_word(role_name),
        quoting::single_quoted(&trust_policy(principals, external_id).to_string())
    )
}

/// The `aws` command that gives an existing role the permissions it needs on `resource`.
pub fn put_permissions_command(role_name: &str, resource: &str) -> String {
    format!(
        "aws iam put-role-policy --role-name {} --policy-name {POLICY_NAME} --policy-document {}",
        quoting::shell_word(role_name),
        quoting::single_quoted(&permission_policy(resource).to_string())
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

/// Judges a trust policy as an attacker would try it: every expected principal may assume the
/// role with `external_id`; nobody else may, with it or without; and the expected principals may
/// not with another external ID or none. The external ID exists because other Temporal
/// namespaces assume roles through the same Worker Controller principals (the confused deputy):
/// a wildcard principal, an account-wide one, `NotPrincipal`, or a condition that accepts other
/// IDs (`StringLike *`, `Null false`, a negation) each let one of them in.
pub fn judge_trust(trust: &Policy, principals: &Principals, external_id: &str) -> Judgement {
    let expected = principals.arns();
    let decide = |principal: &str, external_id: Option<&str>| {
        let mut context =
            Context::from([("sts:externalid".to_owned(), external_id.map(str::to_owned))]);
        context.insert("aws:principalarn".to_owned(), Some(principal.to_owned()));
        if let Some(account) = account_of(principal) {
            context.insert("aws:principalaccount".to_owned(), Some(account.to_owned()));
        }
        trust.decide(&Request {
            action: "sts:AssumeRole",
            resource: None,
            principal: Some(principal),
            context: &context,
        })
    };
    let mut problems = Vec::new();
    let mut depends = Vec::new();

    let mut refused = Vec::new();
    for principal in &expected {
        match decide(principal, Some(external_id)) {
            Decision::Allowed { .. } => {}
            Decision::Depends { on } => depends.push(format!("{principal}: {}", on.join("; "))),
            Decision::Denied { .. } | Decision::NotAllowed => refused.push(principal.clone()),
        }
    }
    if !refused.is_empty() {
        problems.push(format!(
            "{} may not assume it with external ID {external_id}",
            refused.join(", ")
        ));
    }

    let mut probe = |who: &[String], ids: &[Option<&str>]| {
        let mut allowed = Vec::new();
        for principal in who {
            for id in ids {
                match decide(principal, *id) {
                    Decision::Allowed { .. } => {
                        allowed.push((principal.clone(), id.map(str::to_owned)));
                        break;
                    }
                    Decision::Depends { on } => {
                        depends.push(format!("{principal}: {}", on.join("; ")))
                    }
                    Decision::Denied { .. } | Decision::NotAllowed => {}
                }
            }
        }
        allowed
    };
    let other_id = format!("{external_id}-other");
    let without: Vec<String> = probe(&expected, &[None])
        .into_iter()
        .map(|(principal, _)| principal)
        .collect();
    if !without.is_empty() {
        problems.push(format!(
            "{} may assume it without the external ID (the server refuses such a role: the \
             external ID is what keeps other Temporal namespaces out)",
            without.join(", ")
        ));
    }
    let with_other: Vec<String> = probe(
        &expected,
        &[Some(other_id.as_str()), Some(OTHER_NAMESPACES_ID)],
    )
    .into_iter()
    .map(|(principal, id)| format!("{principal} (e.g. with {})", id.unwrap_or_default()))
    .collect();
    if !with_other.is_empty() {
        problems.push(format!(
            "{} may assume it with another external ID: the condition must be StringEquals \
             sts:ExternalId = {external_id}, not a pattern, a negation or Null, or another \
             Temporal namespace can use the role",
            with_other.join(", ")
        ));
    }
    let strangers: Vec<String> = probe(
        &strangers(trust, &expected),
        &[Some(external_id), Some(other_id.as_str()), None],
    )
    .into_iter()
    .map(|(principal, id)| match id {
        Some(id) if id == external_id => format!("{principal} (with the external ID)"),
        Some(id) => format!("{principal} (with external ID {id})"),
        None => format!("{principal} (without an external ID)"),
    })
    .collect();
    if !strangers.is_empty() {
        problems.push(format!(
            "principals other than {} may assume it: {} — the trust policy must name exactly \
             those principals, no wildcard, account or NotPrincipal",
            principals.describe(),
            strangers.join(", ")
        ));
    }
    let other_kinds: Vec<String> = trust
        .allowed_principals("sts:AssumeRole")
        .into_iter()
        .filter(|(kind, _)| kind != "AWS" && kind != "NotPrincipal")
        .map(|(kind, entry)| format!("{kind} {entry}"))
        .collect();
    if !other_kinds.is_empty() {
        problems.push(format!(
            "it also trusts {}: the invocation role is for Temporal alone (give anything else a \
             role of its own)",
            other_kinds.join(", ")
        ));
    }

    if !problems.is_empty() {
        Judgement::Wrong(problems.join("; "))
    } else if !depends.is_empty() {
        depends.dedup();
        Judgement::Uncertain(format!(
            "whether it may be assumed depends on conditions doctor does not evaluate: {}",
            depends.join(" | ")
        ))
    } else {
        Judgement::Right(format!(
            "{} may assume it only with external ID {external_id}, and nobody else may",
            principals.describe()
        ))
    }
}

/// An external ID another Temporal namespace might use, for probing.
const OTHER_NAMESPACES_ID: &str = "another-namespaces-external-id";

/// Principals that must not get in, to probe `trust` with: identities in an account none of
/// `expected` is in, another identity in each expected principal's account (unless the whole
/// account is expected), and every principal `trust` names beyond `expected`.
fn strangers(trust: &Policy, expected: &[String]) -> Vec<String> {
    let whole_account = |account: &str| {
        expected
            .iter()
            .any(|arn| arn == account || *arn == format!("arn:aws:iam::{account}:root"))
    };
    let accounts: BTreeSet<&str> = expected.iter().filter_map(|arn| account_of(arn)).collect();
    let outside = ["210987654321", "123123123123", "456456456456"]
        .into_iter()
        .find(|account| !accounts.contains(account) && !whole_account(account))
        .unwrap_or("210987654321");
    let mut strangers = vec![
        format!("arn:aws:iam::{outside}:role/someone-else"),
        format!("arn:aws:iam::{outside}:user/someone-else"),
    ];
    for account in accounts
        .into_iter()
        .filter(|account| !whole_account(account))
    {
        strangers.push(format!("arn:aws:iam::{account}:role/someone-else"));
    }
    for (kind, entry) in trust.allowed_principals("sts:AssumeRole") {
        if kind != "AWS" || entry == "*" || expected.contains(&entry) {
            continue;
        }
        let account = account_of(&entry).unwrap_or(&entry);
        let stranger = if entry.contains(":role/") || entry.contains(":user/") {
            entry.clone()
        } else if whole_account(account) {
            continue;
        } else {
            format!("arn:aws:iam::{account}:role/someone-else")
        };
        if !strangers.contains(&stranger) {
            strangers.push(stranger);
        }
    }
    strangers
}

/// IAM's policy simulator's decision for one action on the function version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedDecision {
    /// e.g. `lambda:InvokeFunction`.
    pub action: String,
    /// IAM's `EvalDecision`: `allowed`, `explicitDeny` or `implicitDeny`.
    pub decision: String,
    /// The policies whose statements decided it.
    pub matched: Vec<String>,
}

/// Judges the role's permissions from IAM's own simulation (`SimulatePrincipalPolicy`), which
/// sees what doctor's evaluator cannot: permission boundaries, every condition operator, SCPs.
pub fn judge_simulated(decisions: &[SimulatedDecision], function_arn: &str) -> Judgement {
    let mut wrong = Vec::new();
    let mut granted = Vec::new();
    for action in ACTIONS {
        match decisions.iter().find(|decision| decision.action == action) {
            Some(decision) if decision.decision == "allowed" => granted.push(format!(
                "{action} ({})",
                if decision.matched.is_empty() {
                    "allowed".to_owned()
                } else {
                    decision.matched.join(", ")
                }
            )),
            Some(decision) if decision.matched.is_empty() => {
                wrong.push(format!("{action} ({})", decision.decision))
            }
            Some(decision) => wrong.push(format!(
                "{action} ({} by {})",
                decision.decision,
                decision.matched.join(", ")
            )),
            None => wrong.push(format!("{action} (not in the simulator's answer)")),
        }
    }
    if wrong.is_empty() {
        Judgement::Right(format!("on {function_arn}: {}", granted.join(", ")))
    } else {
        Judgement::Wrong(format!("on {function_arn}: {}", wrong.join(", ")))
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

    /// Trust policies that let Temporal in with the external ID, and not without it, yet let
    /// someone else in: each is wrong, with what lets them in.
    #[test]
    fn a_trust_policy_open_to_others_is_wrong() {
        let condition = json!({"StringEquals": {"sts:ExternalId": EXTERNAL_ID}});
        let hostile = [
            (
                "any principal, with the external ID condition",
                json!([{"Effect": "Allow", "Principal": {"AWS": "*"},
                    "Action": "sts:AssumeRole", "Condition": condition}]),
                "principals other than",
            ),
            (
                "a bare \"*\" principal",
                json!([{"Effect": "Allow", "Principal": "*",
                    "Action": "sts:AssumeRole", "Condition": condition}]),
                "principals other than",
            ),
            (
                "any external ID, by pattern",
                json!([{"Effect": "Allow", "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringLike": {"sts:ExternalId": "*"}}}]),
                "another external ID",
            ),
            (
                "any external ID, as long as one is given",
                json!([{"Effect": "Allow", "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS},
                    "Action": "sts:AssumeRole",
                    "Condition": {"Null": {"sts:ExternalId": "false"}}}]),
                "another external ID",
            ),
            (
                "every external ID but one",
                json!([{"Effect": "Allow", "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringNotEquals": {"sts:ExternalId": "nobody-uses-this"}}}]),
                "another external ID",
            ),
            (
                "a second statement for another account",
                json!([{"Effect": "Allow", "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS},
                    "Action": "sts:AssumeRole", "Condition": condition},
                    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                    "Action": "sts:AssumeRole", "Condition": condition}]),
                "arn:aws:iam::444455556666:role/someone-else",
            ),
            (
                "another named role beside Temporal's",
                json!([{"Effect": "Allow", "Principal": {"AWS":
                    [TEMPORAL_CLOUD_PRINCIPALS[0], TEMPORAL_CLOUD_PRINCIPALS[1],
                     TEMPORAL_CLOUD_PRINCIPALS[2], TEMPORAL_CLOUD_PRINCIPALS[3],
                     TEMPORAL_CLOUD_PRINCIPALS[4], "arn:aws:iam::444455556666:role/ci"]},
                    "Action": "sts:AssumeRole", "Condition": condition}]),
                "arn:aws:iam::444455556666:role/ci",
            ),
            (
                "Temporal's accounts as a whole",
                json!([{"Effect": "Allow", "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS
                    .map(|arn| format!("arn:aws:iam::{}:root", account_of(arn).unwrap()))},
                    "Action": "sts:AssumeRole", "Condition": condition}]),
                "arn:aws:iam::902542641901:role/someone-else",
            ),
            (
                "everyone but a few",
                json!([{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:role/x"},
                    "Action": "sts:AssumeRole", "Condition": condition}]),
                "principals other than",
            ),
            (
                "a service beside Temporal",
                json!([{"Effect": "Allow", "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS},
                    "Action": "sts:AssumeRole", "Condition": condition},
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]),
                "also trusts Service ec2.amazonaws.com",
            ),
            (
                "every sts action for anyone",
                json!([{"Effect": "Allow", "Principal": {"AWS": TEMPORAL_CLOUD_PRINCIPALS},
                    "Action": "sts:AssumeRole", "Condition": condition},
                    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:*",
                    "Condition": {"StringLike": {"sts:ExternalId": "?*"}}}]),
                "principals other than",
            ),
        ];
        for (what, statements, says) in hostile {
            let trust = parse(json!({"Version": "2012-10-17", "Statement": statements}));
            let judged = judge_trust(&trust, &Principals::TemporalCloud, EXTERNAL_ID);
            assert!(
                matches!(&judged, Judgement::Wrong(saw) if saw.contains(says)),
                "{what}: {judged:?}"
            );
        }
        // What narrows it back to Temporal's principals makes it right again: a Deny for
        // everyone else, and a condition on the principal's ARN.
        let narrowed = parse(json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID,
                 "aws:PrincipalArn": TEMPORAL_CLOUD_PRINCIPALS}}}]}));
        let judged = judge_trust(&narrowed, &Principals::TemporalCloud, EXTERNAL_ID);
        assert!(matches!(judged, Judgement::Right(_)), "{judged:?}");
        // A self-hosted server trusted as its whole account: other identities of that account
        // are what the user asked for.
        let account = Principals::SelfHosted(vec!["arn:aws:iam::111122223333:root".to_owned()]);
        let trust = parse(trust_policy(&account, EXTERNAL_ID));
        let judged = judge_trust(&trust, &account, EXTERNAL_ID);
        assert!(matches!(judged, Judgement::Right(_)), "{judged:?}");
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
    fn generated_external_ids_are_strong_and_hand_made_ones_are_judged() {
        let generated = generate_external_id();
        assert!(validate_external_id(&generated).is_ok(), "{generated}");
        assert_eq!(external_id_weakness(&generated, Some(VERSION)), None);
        assert_ne!(generated, generate_external_id());
        for (id, says) in [
            ("shop-7f3a9c", "shorter than 16"),
            ("shop-2024-prod-7f3a9c", "function's name (shop)"),
            ("temporal-cloud-9x8y7z", "the word \"temporal\""),
            ("correct-horse-battery", "letters only"),
            ("1212121212121212", "2 distinct characters"),
        ] {
            let weakness = external_id_weakness(id, Some(VERSION));
            assert!(
                weakness.as_deref().is_some_and(|text| text.contains(says)
                    && text.contains("temporal-serverless role` without --external-id")),
                "{id}: {weakness:?}"
            );
        }
        assert_eq!(
            external_id_weakness("b41f-9c2e-77d0-a8e3", Some(VERSION)),
            None
        );
    }

    #[test]
    fn the_simulators_decisions_are_judged_per_action() {
        let decision = |action: &str, decision: &str, matched: &[&str]| SimulatedDecision {
            action: action.to_owned(),
            decision: decision.to_owned(),
            matched: matched.iter().map(|name| name.to_string()).collect(),
        };
        let right = judge_simulated(
            &[
                decision("lambda:InvokeFunction", "allowed", &["temporal-invoke"]),
                decision("lambda:GetFunction", "allowed", &["temporal-invoke"]),
            ],
            VERSION,
        );
        assert!(
            matches!(&right, Judgement::Right(saw) if saw.contains("lambda:GetFunction (temporal-invoke)")),
            "{right:?}"
        );
        let wrong = judge_simulated(
            &[
                decision("lambda:InvokeFunction", "allowed", &["temporal-invoke"]),
                decision("lambda:GetFunction", "explicitDeny", &["boundary"]),
            ],
            VERSION,
        );
        assert!(
            matches!(&wrong, Judgement::Wrong(saw) if saw.contains("lambda:GetFunction (explicitDeny by boundary)")),
            "{wrong:?}"
        );
        assert!(matches!(
            judge_simulated(&[], VERSION),
            Judgement::Wrong(saw) if saw.contains("not in the simulator's answer")
        ));
    }

    #[test]
    fn names_and_external_ids() {
        assert_eq!(default_role_name(VERSION), "temporal-invoke-shop");
        assert_eq!(
            default_role_name(&format!("{}:1", "x".repeat(80))).len(),
            64
        );
        // Cut at a character boundary, never inside one.
        let wide = default_role_name(&format!("arn:aws:lambda:r:1:function:{}:1", "é".repeat(40)));
        assert!(
            wide.len() <= 64 && wide.starts_with("temporal-invoke-é"),
            "{wide}"
        );
        // What the commands print is read back by a shell as it was given.
        let command = update_trust_command("it's;$(id)", &Principals::TemporalCloud, EXTERNAL_ID);
        assert!(
            command.starts_with("aws iam update-assume-role-policy --role-name 'it'\\''s;$(id)' --policy-document '{"),
            "{command}"
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
