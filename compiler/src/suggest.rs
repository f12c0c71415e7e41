//! "Did you mean …?" for misspelled names.

/// The candidate closest to `word` by edit distance, if it is close enough
/// to be a plausible typo (and is not `word` itself).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    if word.is_empty() {
        return None;
    }
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| {
            *d <= limit
                || (word.len() >= 3 && c.len() > 3 && (c.starts_with(word) || word.starts_with(*c)))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_the_nearest_plausible_name() {
        assert_eq!(
            closest("lienar", ["linear", "bilinear", "tanh"]),
            Some("linear".into())
        );
        assert_eq!(closest("y_hta", ["y_hat", "y", "x"]), Some("y_hat".into()));
        assert_eq!(closest("banana", ["linear", "tanh"]), None);
    }
}
