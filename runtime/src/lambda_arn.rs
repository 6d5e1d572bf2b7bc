//! Lambda function ARNs, as the deployment guard and the `temporal-serverless` tools compare
//! them: a Worker Deployment Version should name a *qualified* ARN (an alias or a published
//! version), so that it keeps running the code built for it.
//!
//! Every AWS partition is understood, not only `aws`: a function in China (`aws-cn`), GovCloud
//! (`aws-us-gov`), the European Sovereign Cloud (`aws-eusc`) or an isolated region (`aws-iso`,
//! `aws-iso-b`, …) has an ARN `arn:<partition>:lambda:…`.

/// Whether `name` is an AWS partition: `aws`, `aws-cn`, `aws-us-gov`, `aws-eusc`, or one of the
/// isolated `aws-iso*` partitions.
pub fn is_partition(name: &str) -> bool {
    matches!(name, "aws" | "aws-cn" | "aws-us-gov" | "aws-eusc") || name.starts_with("aws-iso")
}

/// The partition a region belongs to, as its ARNs name it: `cn-north-1` → `aws-cn`,
/// `us-gov-west-1` → `aws-us-gov`, `us-isob-east-1` → `aws-iso-b`, `us-east-1` → `aws`.
pub fn partition_of_region(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 7] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("eusc-", "aws-eusc"),
        ("us-iso-", "aws-iso"),
        ("us-isob-", "aws-iso-b"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-isof-", "aws-iso-f"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

/// The parts of a full Lambda function ARN, `arn:<partition>:lambda:<region>:<account>:function:
/// <name>[:<qualifier>]`; `None` for anything else (a name, a partial ARN, another service's ARN).
fn function_arn_parts(arn: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [
            "arn",
            partition,
            "lambda",
            region,
            account,
            "function",
            name,
            ..,
        ] if parts.len() <= 8
            && is_partition(partition)
            && !region.is_empty()
            && !account.is_empty()
            && !name.is_empty() =>
        {
            Some(parts)
        }
        _ => None,
    }
}

/// Whether `text` is a full Lambda function ARN, qualified or not, in any partition.
pub fn is_function_arn(text: &str) -> bool {
    function_arn_parts(text).is_some()
}

/// `arn:<partition>:lambda:r:a:function:name:qualifier` → `arn:<partition>:lambda:r:a:function:name`;
/// `name:qualifier` → `name`; anything else unchanged.
pub fn strip_qualifier(name_or_arn: &str) -> &str {
    if let Some(parts) = function_arn_parts(name_or_arn) {
        return match parts.len() {
            8 => &name_or_arn[..name_or_arn.rfind(':').unwrap()],
            _ => name_or_arn,
        };
    }
    match name_or_arn.split_once(':') {
        Some((name, qualifier)) if name != "arn" && !qualifier.contains(':') => name,
        _ => name_or_arn,
    }
}

/// Whether `name_or_arn` carries a qualifier.
pub fn is_qualified(name_or_arn: &str) -> bool {
    strip_qualifier(name_or_arn) != name_or_arn
}

/// The function's name in a full ARN or a `name[:qualifier]`: `arn:aws-cn:lambda:r:a:function:
/// shop:live` → `shop`.
pub fn function_name(name_or_arn: &str) -> &str {
    match function_arn_parts(name_or_arn) {
        Some(parts) => parts[6],
        None => strip_qualifier(name_or_arn),
    }
}

/// Every Lambda function ARN in `text`, in any partition (e.g. a compute provider's JSON details,
/// whose field names are the server's business, or a failure message).
pub fn find_all(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .match_indices("arn:")
        .filter_map(|(start, _)| {
            text[start..]
                .split(|c: char| {
                    matches!(
                        c,
                        '"' | '\'' | '\\' | ',' | ';' | '(' | ')' | '[' | ']' | '{' | '}'
                    ) || c.is_whitespace()
                })
                .next()
                // A sentence may end right after the ARN.
                .map(|candidate| candidate.trim_end_matches('.'))
                .filter(|candidate| is_function_arn(candidate))
                .map(str::to_owned)
        })
        .collect();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTITIONS: [&str; 6] = [
        "aws",
        "aws-cn",
        "aws-us-gov",
        "aws-eusc",
        "aws-iso",
        "aws-iso-b",
    ];

    #[test]
    fn qualifiers_are_stripped_in_every_partition() {
        for partition in PARTITIONS {
            let arn = format!("arn:{partition}:lambda:cn-north-1:1:function:shop");
            assert_eq!(strip_qualifier(&format!("{arn}:live")), arn, "{partition}");
            assert_eq!(strip_qualifier(&arn), arn, "{partition}");
            assert!(is_qualified(&format!("{arn}:3")), "{partition}");
            assert!(!is_qualified(&arn), "{partition}");
            assert!(is_function_arn(&arn), "{partition}");
            assert_eq!(function_name(&format!("{arn}:live")), "shop", "{partition}");
            assert_eq!(function_name(&arn), "shop", "{partition}");
        }
        assert_eq!(strip_qualifier("shop:3"), "shop");
        assert_eq!(strip_qualifier("shop"), "shop");
        assert_eq!(function_name("shop:live"), "shop");
        assert_eq!(strip_qualifier("arnold:live"), "arnold");
        assert!(!is_qualified("shop"));
    }

    #[test]
    fn regions_map_to_their_partitions() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-central-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eusc-de-east-1", "aws-eusc"),
        ] {
            assert_eq!(partition_of_region(region), partition, "{region}");
            assert!(is_partition(partition_of_region(region)), "{region}");
        }
    }

    #[test]
    fn what_is_not_a_function_arn_is_left_alone() {
        for text in [
            "arn:azure:lambda:us-east-1:1:function:shop:live",
            "arn:aws:iam::1:role/shop",
            "arn:aws:lambda:us-east-1:1:layer:otel:3",
            "arn:aws:lambda:us-east-1:1:function:shop:live:extra",
        ] {
            assert!(!is_function_arn(text), "{text}");
            assert_eq!(strip_qualifier(text), text, "{text}");
            assert!(find_all(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn arns_are_found_in_any_text_and_any_partition() {
        let details =
            r#"{"function_arn":"arn:aws:lambda:us-east-1:1:function:shop:live","role":"x"}"#;
        assert_eq!(
            find_all(details),
            vec!["arn:aws:lambda:us-east-1:1:function:shop:live"]
        );
        for partition in PARTITIONS {
            let arn = format!("arn:{partition}:lambda:us-gov-west-1:123456789012:function:shop:7");
            let role = format!("arn:{partition}:iam::123456789012:role/invoker");
            let text = format!(
                r#"{{"role":"{role}","arn":"{arn}"}} and again: Function not found: {arn}."#
            );
            assert_eq!(find_all(&text), vec![arn.clone()], "{text}");
        }
        assert!(find_all("no arn here").is_empty());
    }
}
