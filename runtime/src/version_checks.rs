//! Judgements about a Worker Deployment Version, made from facts already read: the deployment
//! guard reads them over gRPC before a poll, `temporal-serverless doctor` through the `temporal`
//! CLI, and both judge here, so that the two cannot come to different conclusions about the same
//! facts. Pure: no server, no clock.

use crate::lambda_arn::{is_qualified, strip_qualifier};

/// How the function ARN a version's compute config names relates to a function's own ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArnMatch {
    /// The same ARN, qualifier and all: the server invokes exactly this code.
    Exact,
    /// The same function with another qualifier (or none): another alias or published version,
    /// so possibly other code.
    OtherQualifier,
    /// Another function.
    OtherFunction,
}

/// How `version_arn`, named by a version's compute config, relates to `function_arn`.
pub fn arn_match(version_arn: &str, function_arn: &str) -> ArnMatch {
    if version_arn == function_arn {
        ArnMatch::Exact
    } else if strip_qualifier(version_arn) == strip_qualifier(function_arn) {
        ArnMatch::OtherQualifier
    } else {
        ArnMatch::OtherFunction
    }
}

/// The first of `versions` (a version, e.g. its build ID, and the function ARNs its compute config
/// names) that names one of `arns`, with that ARN: the build the server invokes that code for.
/// When `arns` are a build's own and another build is found, the code there is invoked for two
/// builds, and one of them loops (the server invokes for it, the code polls as the other).
pub fn version_naming<'v, V>(
    versions: impl IntoIterator<Item = (V, &'v [String])>,
    arns: &[&str],
) -> Option<(V, &'v str)> {
    versions.into_iter().find_map(|(version, version_arns)| {
        version_arns
            .iter()
            .find(|arn| arns.contains(&arn.as_str()))
            .map(|arn| (version, arn.as_str()))
    })
}

/// What the deployment guard reads of a version that exists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VersionFacts {
    /// Whether its compute config has a scaling group (a compute provider).
    pub has_compute_provider: bool,
    /// The Lambda ARNs in its compute config.
    pub arns: Vec<String>,
}

/// Whether an invocation through `invoked_arn` is for another build than the one whose version
/// names `own_arns`: the server invokes exactly the ARN a version names, and the binary's own
/// version names others only.
pub(crate) fn is_invocation_loop(own_arns: &[String], invoked_arn: &str) -> bool {
    !own_arns.is_empty() && !own_arns.iter().any(|arn| arn == invoked_arn)
}

/// Whether the binary's own version is ready to be polled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Its Worker Controller Instance runs, or it has a compute provider.
    Ready,
    /// It does not exist: a poll would create it without a compute provider.
    Missing,
    /// It exists without a compute provider (created by a poll).
    NoComputeProvider,
}

/// The version's readiness from what was read of it (`None`: it does not exist) and whether its
/// Worker Controller Instance runs. The instance runs once the version has a compute provider —
/// and before the version itself can be described: its first invocation (registering the task
/// queues) is what creates the version record, by polling.
pub(crate) fn readiness(own: Option<&VersionFacts>, controller_running: bool) -> Readiness {
    match own {
        _ if controller_running => Readiness::Ready,
        None => Readiness::Missing,
        Some(facts) if !facts.has_compute_provider => Readiness::NoComputeProvider,
        Some(_) => Readiness::Ready,
    }
}

/// What is wrong, though it works, with an ARN the binary's own version names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ArnWarning {
    /// It is another function's.
    OtherFunction(String),
    /// It is this function's, unqualified: `$LATEST`, whose code changes with every update.
    Unqualified(String),
}

/// The warnings about the ARNs the binary's own version names, for an invocation through
/// `invoked_arn`.
pub(crate) fn arn_warnings(own_arns: &[String], invoked_arn: &str) -> Vec<ArnWarning> {
    own_arns
        .iter()
        .filter_map(|arn| match arn_match(arn, invoked_arn) {
            ArnMatch::OtherFunction => Some(ArnWarning::OtherFunction(arn.clone())),
            _ if !is_qualified(arn) => Some(ArnWarning::Unqualified(arn.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "arn:aws:lambda:us-east-1:1:function:shop:live";
    const V3: &str = "arn:aws:lambda:us-east-1:1:function:shop:3";
    const LATEST: &str = "arn:aws:lambda:us-east-1:1:function:shop";
    const OTHER: &str = "arn:aws:lambda:us-east-1:1:function:cart:live";

    fn arns(arns: &[&str]) -> Vec<String> {
        arns.iter().map(|arn| arn.to_string()).collect()
    }

    #[test]
    fn an_arn_matches_exactly_by_its_function_or_not_at_all() {
        assert_eq!(arn_match(LIVE, LIVE), ArnMatch::Exact);
        assert_eq!(arn_match(V3, LIVE), ArnMatch::OtherQualifier);
        assert_eq!(arn_match(LATEST, LIVE), ArnMatch::OtherQualifier);
        assert_eq!(arn_match(OTHER, LIVE), ArnMatch::OtherFunction);
    }

    #[test]
    fn the_first_version_naming_one_of_the_arns_is_found_with_that_arn() {
        let (b1, b2, b3) = (arns(&[OTHER]), arns(&[V3, LIVE]), arns(&[LIVE]));
        let versions = [("b1", &b1[..]), ("b2", &b2[..]), ("b3", &b3[..])];
        assert_eq!(version_naming(versions, &[LIVE]), Some(("b2", LIVE)));
        assert_eq!(version_naming(versions, &[LATEST, V3]), Some(("b2", V3)));
        assert_eq!(version_naming(versions, &[LATEST]), None);
        assert_eq!(version_naming(versions, &[]), None);
    }

    #[test]
    fn only_a_version_naming_other_arns_alone_means_an_invocation_loop() {
        assert!(is_invocation_loop(&arns(&[V3]), LIVE));
        assert!(!is_invocation_loop(&arns(&[V3, LIVE]), LIVE));
        // No ARN visible: nothing says the invocation is for another build.
        assert!(!is_invocation_loop(&[], LIVE));
    }

    #[test]
    fn a_running_controller_or_a_compute_provider_makes_the_version_ready() {
        let provided = VersionFacts {
            has_compute_provider: true,
            arns: arns(&[LIVE]),
        };
        let unprovided = VersionFacts::default();
        assert_eq!(readiness(None, true), Readiness::Ready);
        assert_eq!(readiness(Some(&unprovided), true), Readiness::Ready);
        assert_eq!(readiness(None, false), Readiness::Missing);
        assert_eq!(
            readiness(Some(&unprovided), false),
            Readiness::NoComputeProvider
        );
        assert_eq!(readiness(Some(&provided), false), Readiness::Ready);
    }

    #[test]
    fn another_function_or_an_unqualified_arn_is_warned_about() {
        assert_eq!(arn_warnings(&arns(&[LIVE, V3]), LIVE), []);
        assert_eq!(
            arn_warnings(&arns(&[LIVE, OTHER, LATEST]), LIVE),
            [
                ArnWarning::OtherFunction(OTHER.to_owned()),
                ArnWarning::Unqualified(LATEST.to_owned())
            ]
        );
        // Another function's unqualified ARN is another function first.
        let other_latest = "arn:aws:lambda:us-east-1:1:function:cart";
        assert_eq!(
            arn_warnings(&arns(&[other_latest]), LIVE),
            [ArnWarning::OtherFunction(other_latest.to_owned())]
        );
    }
}
