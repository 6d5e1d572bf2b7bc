//! IAM policy documents, read and evaluated as far as `doctor` must to say whether a role does
//! what the invocation role needs: statements with `Effect`, `Action` / `NotAction`, `Resource` /
//! `NotResource`, `Principal` / `NotPrincipal` and the string conditions a trust policy uses
//! (`StringEquals`, `StringLike`, their negations and `IfExists` forms, `Null`). An explicit
//! `Deny` wins over any `Allow`; with no `Allow` the request is implicitly denied, as IAM decides.
//!
//! Not modelled, so never guessed: a condition on a key the request's context does not give (an
//! `aws:SourceIp`, a date), an operator outside the string family, permission boundaries, SCPs
//! and session policies. A statement hanging on one of those makes the decision
//! [`Decision::Depends`], naming the condition, rather than allowed or denied.

use serde_json::Value;
use std::collections::BTreeMap;

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    /// `Sid`, else `statement N` (1-based), for what a decision quotes.
    label: String,
    allow: bool,
    actions: Patterns,
    /// `None` in a trust policy, which names no resource.
    resources: Option<Patterns>,
    /// `None` in an identity policy, which names no principal.
    principals: Option<Principals>,
    conditions: Vec<Condition>,
}

/// `Action` or `NotAction` (likewise resources): patterns with `*` and `?`.
#[derive(Debug, Clone, PartialEq)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Principals {
    negated: bool,
    /// `"*"`, or the `AWS` entries (ARNs, account IDs, `*`); `Service`/`Federated` entries are
    /// kept with their kind so that they never match an AWS principal.
    entries: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    operator: String,
    /// Lower-cased: condition keys are case-insensitive.
    key: String,
    values: Vec<String>,
}

/// What a request carries that conditions may test: each key (lower-cased) present with its
/// value, or known to be absent (`None`). A key not in the map is unknown.
pub type Context = BTreeMap<String, Option<String>>;

/// One request to decide: `principal` for a trust policy, `resource` for an identity policy.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// e.g. `lambda:InvokeFunction`, `sts:AssumeRole`.
    pub action: &'a str,
    /// The resource's ARN.
    pub resource: Option<&'a str>,
    /// The calling principal's ARN.
    pub principal: Option<&'a str>,
    /// The condition keys the request is known to carry or lack.
    pub context: &'a Context,
}

/// IAM's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement applies and no `Deny` does (nor might).
    Allowed {
        /// The statements that allow it.
        by: Vec<String>,
    },
    /// A `Deny` statement applies.
    Denied {
        /// The statements that deny it.
        by: Vec<String>,
    },
    /// No statement allows it (IAM's implicit deny).
    NotAllowed,
    /// The answer hangs on conditions not modelled here (see the module's docs).
    Depends {
        /// Each such statement with its condition, e.g. `Allow1 (IpAddress aws:SourceIp)`.
        on: Vec<String>,
    },
}

impl Decision {
    /// Whether IAM certainly allows it.
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

impl Policy {
    /// A policy from its JSON text, or from the URL-encoded JSON that IAM's `GetRole` and
    /// `GetRolePolicy` return.
    pub fn parse_text(text: &str) -> Result<Self, String> {
        let document = serde_json::from_str::<Value>(text).or_else(|error| {
            percent_decode(text)
                .and_then(|decoded| serde_json::from_str::<Value>(&decoded).ok())
                .ok_or_else(|| format!("not a policy document: {error}"))
        })?;
        Self::parse(&document)
    }

    /// A policy from its JSON document.
    pub fn parse(document: &Value) -> Result<Self, String> {
        let statements = match &document["Statement"] {
            Value::Array(statements) => statements.iter().collect(),
            statement @ Value::Object(_) => vec![statement],
            _ => return Err("the policy has no Statement".to_owned()),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(index, statement)| Statement::parse(index, statement))
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// The policy with its statements labelled by the policy's name too (`temporal-invoke:
    /// statement 1`), for decisions over several policies.
    pub fn named(mut self, name: &str) -> Self {
        for statement in &mut self.statements {
            statement.label = format!("{name}: {}", statement.label);
        }
        self
    }

    /// The principals the `Allow` statements for `action` name, as `(kind, entry)`: `("AWS",
    /// an ARN, an account or `*`)`, `("Service", …)`, `("Federated", …)`; a `NotPrincipal`
    /// statement is `("NotPrincipal", "*")`, since it names everyone but a few.
    pub fn allowed_principals(&self, action: &str) -> Vec<(String, String)> {
        let mut named = Vec::new();
        for statement in self.statements.iter().filter(|statement| statement.allow) {
            let acts = statement
                .actions
                .matches(|pattern| wildcard(&pattern.to_lowercase(), &action.to_lowercase()));
            match &statement.principals {
                Some(principals) if acts && principals.negated => {
                    named.push(("NotPrincipal".to_owned(), "*".to_owned()));
                }
                Some(principals) if acts => named.extend(principals.entries.iter().cloned()),
                _ => {}
            }
        }
        named
    }

    /// IAM's decision for `request`.
    pub fn decide(&self, request: &Request<'_>) -> Decision {
        Self::decide_all(std::slice::from_ref(self), request)
    }

    /// IAM's decision for `request` under several policies at once (a role's inline and
    /// attached policies): a `Deny` in any wins, an `Allow` in any suffices.
    pub fn decide_all(policies: &[Policy], request: &Request<'_>) -> Decision {
        let (mut allows, mut denies, mut depends) = (Vec::new(), Vec::new(), Vec::new());
        for statement in policies.iter().flat_map(|policy| &policy.statements) {
            if !statement.matches(request) {
                continue;
            }
            match statement.conditions_hold(request.context) {
                Some(true) if statement.allow => allows.push(statement.label.clone()),
                Some(true) => denies.push(statement.label.clone()),
                Some(false) => {}
                None => depends.push(format!(
                    "{} {} ({})",
                    if statement.allow { "Allow" } else { "Deny" },
                    statement.label,
                    statement.unknown_conditions(request.context).join(", ")
                )),
            }
        }
        if !denies.is_empty() {
            Decision::Denied { by: denies }
        } else if !depends.is_empty()
            && (allows.is_empty() || depends.iter().any(|on| on.starts_with("Deny")))
        {
            Decision::Depends { on: depends }
        } else if !allows.is_empty() {
            Decision::Allowed { by: allows }
        } else {
            Decision::NotAllowed
        }
    }
}

impl Statement {
    fn parse(index: usize, statement: &Value) -> Result<Self, String> {
        let label = statement["Sid"]
            .as_str()
            .filter(|sid| !sid.is_empty())
            .map_or_else(|| format!("statement {}", index + 1), str::to_owned);
        let allow = match statement["Effect"].as_str() {
            Some("Allow") => true,
            Some("Deny") => false,
            other => return Err(format!("{label}: Effect is {other:?}, not Allow or Deny")),
        };
        let actions = Patterns::parse(statement, "Action", "NotAction")
            .ok_or_else(|| format!("{label} has no Action or NotAction"))?;
        let resources = Patterns::parse(statement, "Resource", "NotResource");
        let principals = Principals::parse(statement);
        let mut conditions = Vec::new();
        if let Some(operators) = statement["Condition"].as_object() {
            for (operator, keys) in operators {
                for (key, values) in keys.as_object().into_iter().flatten() {
                    conditions.push(Condition {
                        operator: operator.clone(),
                        key: key.to_lowercase(),
                        values: strings(values),
                    });
                }
            }
        }
        Ok(Self {
            label,
            allow,
            actions,
            resources,
            principals,
            conditions,
        })
    }

    /// Whether the statement names the request's action, resource and principal (conditions
    /// aside).
    fn matches(&self, request: &Request<'_>) -> bool {
        let action = self
            .actions
            .matches(|pattern| wildcard(&pattern.to_lowercase(), &request.action.to_lowercase()));
        let resource = match (&self.resources, request.resource) {
            (Some(resources), Some(resource)) => {
                resources.matches(|pattern| wildcard(pattern, resource))
            }
            // A trust policy names no resource: the role itself is the resource.
            (None, _) => true,
            (Some(_), None) => false,
        };
        let principal = match (&self.principals, request.principal) {
            (Some(principals), Some(principal)) => principals.matches(principal),
            (None, _) => true,
            (Some(_), None) => false,
        };
        action && resource && principal
    }

    /// All conditions hold (`Some(true)`), one fails (`Some(false)`), or one cannot be told.
    fn conditions_hold(&self, context: &Context) -> Option<bool> {
        let mut unknown = false;
        for condition in &self.conditions {
            match condition.holds(context) {
                Some(false) => return Some(false),
                Some(true) => {}
                None => unknown = true,
            }
        }
        (!unknown).then_some(true)
    }

    fn unknown_conditions(&self, context: &Context) -> Vec<String> {
        self.conditions
            .iter()
            .filter(|condition| condition.holds(context).is_none())
            .map(|condition| format!("{} {}", condition.operator, condition.key))
            .collect()
    }
}

impl Patterns {
    fn parse(statement: &Value, positive: &str, negative: &str) -> Option<Self> {
        let (negated, value) = match (statement.get(positive), statement.get(negative)) {
            (Some(value), _) => (false, value),
            (None, Some(value)) => (true, value),
            (None, None) => return None,
        };
        Some(Self {
            negated,
            patterns: strings(value),
        })
    }

    fn matches(&self, matches: impl Fn(&str) -> bool) -> bool {
        self.patterns.iter().any(|pattern| matches(pattern)) != self.negated
    }
}

impl Principals {
    fn parse(statement: &Value) -> Option<Self> {
        let (negated, value) = match (statement.get("Principal"), statement.get("NotPrincipal")) {
            (Some(value), _) => (false, value),
            (None, Some(value)) => (true, value),
            (None, None) => return None,
        };
        let entries = match value {
            Value::String(any) => vec![("AWS".to_owned(), any.clone())],
            Value::Object(kinds) => kinds
                .iter()
                .flat_map(|(kind, entries)| {
                    strings(entries)
                        .into_iter()
                        .map(move |entry| (kind.clone(), entry))
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Self { negated, entries })
    }

    /// Whether `principal` (an IAM role or user ARN) is named: by its ARN, by `*`, or by its
    /// account (`123456789012` or `arn:aws:iam::123456789012:root`, which trusts the whole
    /// account and leaves the rest to that account's own policies).
    fn matches(&self, principal: &str) -> bool {
        let account = account_of(principal);
        let named = self.entries.iter().any(|(kind, entry)| {
            kind == "AWS"
                && (entry == "*"
                    || entry == principal
                    || account.is_some_and(|account| {
                        entry == account || *entry == format!("arn:aws:iam::{account}:root")
                    }))
        });
        named != self.negated
    }
}

impl Condition {
    /// Whether the condition holds in `context`; `None` if it cannot be told.
    fn holds(&self, context: &Context) -> Option<bool> {
        let mut operator = self.operator.as_str();
        let (for_any, for_all) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            operator = rest;
            (true, false)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            operator = rest;
            (false, true)
        } else {
            (false, false)
        };
        let if_exists = operator.ends_with("IfExists");
        let operator = operator.trim_end_matches("IfExists");
        let value = context.get(&self.key)?;
        if operator == "Null" {
            let wants_absent = self.values.iter().any(|value| value == "true");
            return Some(value.is_none() == wants_absent);
        }
        let Some(value) = value else {
            // An absent key: `...IfExists` and `ForAllValues:` hold, negated string operators
            // hold (nothing equals what is not there), the others fail.
            return Some(if_exists || for_all || operator.starts_with("StringNot") && !for_any);
        };
        let equal = |expected: &str| expected == value;
        let equal_ignoring_case = |expected: &str| expected.eq_ignore_ascii_case(value);
        let like = |expected: &str| wildcard(expected, value);
        let any = |test: &dyn Fn(&str) -> bool| self.values.iter().any(|expected| test(expected));
        Some(match operator {
            "StringEquals" => any(&equal),
            "StringNotEquals" => !any(&equal),
            "StringEqualsIgnoreCase" => any(&equal_ignoring_case),
            "StringNotEqualsIgnoreCase" => !any(&equal_ignoring_case),
            "StringLike" => any(&like),
            "StringNotLike" => !any(&like),
            _ => return None,
        })
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The account of an IAM or STS ARN (`arn:aws:iam::123456789012:role/x`).
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|account| !account.is_empty())
}

/// A string or a list of strings, as policy fields are written.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// `%XX` sequences decoded (`+` is not a space in IAM's encoding); `None` if not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(byte) = text
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            decoded.push(byte);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:shop:3";
    const TEMPORAL: &str = "arn:aws:iam::902542641901:role/wci-lambda-invoke";

    fn policy(document: Value) -> Policy {
        Policy::parse(&document).unwrap()
    }

    fn invoke(policy: &Policy, action: &str, resource: &str) -> Decision {
        policy.decide(&Request {
            action,
            resource: Some(resource),
            principal: None,
            context: &Context::new(),
        })
    }

    fn assume(policy: &Policy, principal: &str, external_id: Option<&str>) -> Decision {
        let context =
            Context::from([("sts:externalid".to_owned(), external_id.map(str::to_owned))]);
        policy.decide(&Request {
            action: "sts:AssumeRole",
            resource: None,
            principal: Some(principal),
            context: &context,
        })
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(wildcard("lambda:*", "lambda:InvokeFunction"));
        assert!(wildcard("lambda:Get*", "lambda:GetFunction"));
        assert!(wildcard("lambda:?etFunction", "lambda:GetFunction"));
        assert!(!wildcard("lambda:Get*", "lambda:InvokeFunction"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a*b*c", "a-b-b-c"));
        assert!(!wildcard("a*b*c", "a-b-b-d"));
        // `function:shop:*` covers versions and aliases, not the unqualified function.
        let versions = "arn:aws:lambda:us-east-1:123456789012:function:shop:*";
        assert!(wildcard(versions, ARN));
        assert!(!wildcard(
            versions,
            "arn:aws:lambda:us-east-1:123456789012:function:shop"
        ));
        // Nor another function that shares the prefix.
        assert!(!wildcard(
            versions,
            "arn:aws:lambda:us-east-1:123456789012:function:shopping"
        ));
    }

    #[test]
    fn actions_and_resources_decide_an_identity_policy() {
        let granted = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["lambda:InvokeFunction", "lambda:GetFunction"],
             "Resource": ARN}]}));
        assert!(invoke(&granted, "lambda:InvokeFunction", ARN).allowed());
        // Actions are case-insensitive, ARNs are not.
        assert!(invoke(&granted, "Lambda:invokefunction", ARN).allowed());
        assert_eq!(
            invoke(
                &granted,
                "lambda:InvokeFunction",
                &ARN.replace("shop", "Shop")
            ),
            Decision::NotAllowed
        );
        // Another version is another resource.
        assert_eq!(
            invoke(&granted, "lambda:InvokeFunction", &ARN.replace(":3", ":4")),
            Decision::NotAllowed
        );
        assert_eq!(
            invoke(&granted, "lambda:DeleteFunction", ARN),
            Decision::NotAllowed
        );
        // A single statement object (not a list), wildcard action and resource.
        let broad = policy(json!({"Statement": {"Sid": "All", "Effect": "Allow",
            "Action": "lambda:*", "Resource": "*"}}));
        assert_eq!(
            invoke(&broad, "lambda:GetFunction", ARN),
            Decision::Allowed {
                by: vec!["All".to_owned()]
            }
        );
    }

    #[test]
    fn an_explicit_deny_wins_and_not_action_not_resource_invert() {
        let allow = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}));
        let deny = policy(json!({"Statement": [
            {"Sid": "NoInvoke", "Effect": "Deny", "Action": "lambda:Invoke*", "Resource": "*"}]}));
        let both = [allow.clone(), deny];
        let context = Context::new();
        let request = |action| Request {
            action,
            resource: Some(ARN),
            principal: None,
            context: &context,
        };
        assert_eq!(
            Policy::decide_all(&both, &request("lambda:InvokeFunction")),
            Decision::Denied {
                by: vec!["NoInvoke".to_owned()]
            }
        );
        assert!(Policy::decide_all(&both, &request("lambda:GetFunction")).allowed());
        let not_action = policy(json!({"Statement": [
            {"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"}]}));
        assert!(invoke(&not_action, "lambda:InvokeFunction", ARN).allowed());
        assert!(!invoke(&not_action, "lambda:DeleteFunction", ARN).allowed());
        let not_resource = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "lambda:*",
             "NotResource": "arn:aws:lambda:*:*:function:admin*"}]}));
        assert!(invoke(&not_resource, "lambda:InvokeFunction", ARN).allowed());
        assert!(
            !invoke(
                &not_resource,
                "lambda:InvokeFunction",
                "arn:aws:lambda:us-east-1:1:function:admin-x"
            )
            .allowed()
        );
    }

    #[test]
    fn a_condition_doctor_cannot_see_makes_the_decision_depend_on_it() {
        let conditional = policy(json!({"Statement": [
            {"Sid": "FromOffice", "Effect": "Allow", "Action": "lambda:InvokeFunction",
             "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}));
        assert_eq!(
            invoke(&conditional, "lambda:InvokeFunction", ARN),
            Decision::Depends {
                on: vec!["Allow FromOffice (IpAddress aws:sourceip)".to_owned()]
            }
        );
        // A plain Allow beside it settles it; a conditional Deny does not let it pass.
        let plain = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]}));
        assert!(
            Policy::decide_all(
                &[conditional.clone(), plain.clone()],
                &Request {
                    action: "lambda:InvokeFunction",
                    resource: Some(ARN),
                    principal: None,
                    context: &Context::new()
                }
            )
            .allowed()
        );
        let maybe_denied = policy(json!({"Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}]}));
        assert!(matches!(
            Policy::decide_all(
                &[plain, maybe_denied],
                &Request {
                    action: "lambda:InvokeFunction",
                    resource: Some(ARN),
                    principal: None,
                    context: &Context::new()
                }
            ),
            Decision::Depends { .. }
        ));
    }

    #[test]
    fn a_trust_policy_is_decided_by_principal_and_external_id() {
        let trust = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [TEMPORAL]}, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"sts:ExternalId": "shop-7f3a"}}}]}));
        assert!(assume(&trust, TEMPORAL, Some("shop-7f3a")).allowed());
        assert_eq!(
            assume(&trust, TEMPORAL, Some("other")),
            Decision::NotAllowed
        );
        assert_eq!(assume(&trust, TEMPORAL, None), Decision::NotAllowed);
        assert_eq!(
            assume(
                &trust,
                "arn:aws:iam::160190466495:role/wci-lambda-invoke",
                Some("shop-7f3a")
            ),
            Decision::NotAllowed
        );
        // Condition keys are case-insensitive; a one-element list is the same value.
        let lower = policy(json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": TEMPORAL}, "Action": "sts:*",
             "Condition": {"StringEquals": {"STS:EXTERNALID": ["shop-7f3a"]}}}]}));
        assert!(assume(&lower, TEMPORAL, Some("shop-7f3a")).allowed());
        // Without a condition, any caller of that principal may assume it, external ID or not.
        let open = policy(json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "902542641901"}, "Action": "sts:AssumeRole"}]}));
        assert!(assume(&open, TEMPORAL, None).allowed());
        // The account as root, `*`, and a service principal that is not an AWS principal.
        let root = policy(json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::902542641901:root"}, "Action": "sts:AssumeRole"}]}));
        assert!(assume(&root, TEMPORAL, None).allowed());
        let anyone = policy(json!({"Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "sts:AssumeRole",
            "Condition": {"StringLike": {"sts:ExternalId": "shop-*"}}}]}));
        assert!(assume(&anyone, TEMPORAL, Some("shop-7f3a")).allowed());
        assert!(!assume(&anyone, TEMPORAL, None).allowed());
        let lambda = policy(json!({"Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}));
        assert_eq!(assume(&lambda, TEMPORAL, None), Decision::NotAllowed);
    }

    #[test]
    fn absent_keys_follow_iams_rules_for_each_operator() {
        let with = |operator: &str, values: Value| {
            policy(
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": TEMPORAL},
                "Action": "sts:AssumeRole",
                "Condition": {operator: {"sts:ExternalId": values}}}]}),
            )
        };
        // IfExists: an absent key passes, a present one is tested.
        let if_exists = with("StringEqualsIfExists", json!("x-1234"));
        assert!(assume(&if_exists, TEMPORAL, None).allowed());
        assert!(!assume(&if_exists, TEMPORAL, Some("y")).allowed());
        // A negated operator holds for an absent key.
        let not_equals = with("StringNotEquals", json!("x-1234"));
        assert!(assume(&not_equals, TEMPORAL, None).allowed());
        assert!(!assume(&not_equals, TEMPORAL, Some("x-1234")).allowed());
        // Null: "false" requires the key.
        let required = with("Null", json!("false"));
        assert!(assume(&required, TEMPORAL, Some("anything")).allowed());
        assert!(!assume(&required, TEMPORAL, None).allowed());
        let ignore_case = with("StringEqualsIgnoreCase", json!("X-1234"));
        assert!(assume(&ignore_case, TEMPORAL, Some("x-1234")).allowed());
    }

    #[test]
    fn documents_come_as_json_or_as_iams_url_encoded_json() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::902542641901:role/wci-lambda-invoke"},"Action":"sts:AssumeRole"}]}"#;
        let encoded: String = text
            .bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (byte as char).to_string()
                }
                _ => format!("%{byte:02X}"),
            })
            .collect();
        assert_eq!(
            Policy::parse_text(text).unwrap(),
            Policy::parse_text(&encoded).unwrap()
        );
        assert!(
            Policy::parse_text("{}")
                .unwrap_err()
                .contains("no Statement")
        );
        assert!(
            Policy::parse_text(r#"{"Statement":[{"Effect":"Maybe","Action":"*"}]}"#)
                .unwrap_err()
                .contains("not Allow or Deny")
        );
        assert!(Policy::parse_text("%7B").is_err());
    }
}
