//! "Did you mean" suggestions for misspelled keys and values.

/// The candidate closest to `input` by edit distance, if it is close enough to be a likely typo
/// (at most a third of the input's length, and at least one edit allowed).
pub fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let input = input.to_ascii_lowercase().replace('-', "_");
    let allowed = (input.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|candidate| (edit_distance(&input, candidate), *candidate))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_and_rejects_strangers() {
        let values = ["pinned", "auto_upgrade"];
        assert_eq!(closest("pined", &values), Some("pinned"));
        assert_eq!(closest("autoupgrade", &values), Some("auto_upgrade"));
        assert_eq!(closest("AutoUpgrade", &values), Some("auto_upgrade"));
        assert_eq!(closest("auto-upgrade", &values), Some("auto_upgrade"));
        assert_eq!(closest("sticky", &values), None);
    }
}
