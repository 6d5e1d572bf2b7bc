//! Lambda function ARNs, as the deployment guard and the `temporal-serverless` tools compare
//! them: a Worker Deployment Version should name a *qualified* ARN (an alias or a published
//! version), so that it keeps running the code built for it.

/// `arn:aws:lambda:r:a:function:name:qualifier` → `arn:aws:lambda:r:a:function:name`;
/// `name:qualifier` → `name`; anything else unchanged.
pub fn strip_qualifier(name_or_arn: &str) -> &str {
    let parts: Vec<&str> = name_or_arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", _, _qualifier] => {
            &name_or_arn[..name_or_arn.rfind(':').unwrap()]
        }
        [_name, _qualifier] => parts[0],
        _ => name_or_arn,
    }
}

/// Whether `name_or_arn` carries a qualifier.
pub fn is_qualified(name_or_arn: &str) -> bool {
    strip_qualifier(name_or_arn) != name_or_arn
}

/// Every `arn:aws:lambda:…` in `text` (e.g. a compute provider's JSON details, whose field names
/// are the server's business).
pub fn find_all(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .match_indices("arn:aws:lambda:")
        .filter_map(|(start, _)| {
            text[start..]
                .split(|c: char| c == '"' || c == '\\' || c == ',' || c.is_whitespace())
                .next()
                .map(str::to_owned)
        })
        .collect();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_are_stripped() {
        let arn = "arn:aws:lambda:us-east-1:1:function:shop";
        assert_eq!(strip_qualifier(&format!("{arn}:live")), arn);
        assert_eq!(strip_qualifier(arn), arn);
        assert_eq!(strip_qualifier("shop:3"), "shop");
        assert_eq!(strip_qualifier("shop"), "shop");
        assert!(is_qualified(&format!("{arn}:3")));
        assert!(!is_qualified(arn));
    }

    #[test]
    fn arns_are_found_in_any_text() {
        let details =
            r#"{"function_arn":"arn:aws:lambda:us-east-1:1:function:shop:live","role":"x"}"#;
        assert_eq!(
            find_all(details),
            vec!["arn:aws:lambda:us-east-1:1:function:shop:live"]
        );
        assert!(find_all("no arn here").is_empty());
    }
}
