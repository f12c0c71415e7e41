//! Splitting a text into tokens: words, English clitics and punctuation,
//! the way GloVe's and the Penn Treebank's tokens are cut. The rule is
//! stated in full in the docs of [`super`]; `bench/nli_data.py` holds the
//! same rule in Python.

/// The tokens of `text`, lowercased first when `lowercase` is set.
///
/// `A man's "hat" isn't red.` → `a man 's " hat " is n't red .`
pub fn tokenize(text: &str, lowercase: bool) -> Vec<String> {
    let text = if lowercase {
        text.to_lowercase()
    } else {
        text.to_string()
    };
    let chars: Vec<char> = text.chars().collect();
    let mut tokens: Vec<String> = Vec::new();
    // Where the last token ended, in chars: a clitic splits `n't` off only
    // from a token it touches.
    let mut last_end = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let end = if c.is_alphanumeric() {
            alphanumeric_run(&chars, i)
        } else if c == '\'' && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric()) {
            alphanumeric_run(&chars, i + 1)
        } else {
            i + 1
        };
        let token: String = chars[i..end].iter().collect();
        if last_end == Some(i) && is_t_clitic(&token) {
            attach_n_to_clitic(&mut tokens, token);
        } else {
            tokens.push(token);
        }
        last_end = Some(end);
        i = end;
    }
    tokens
}

/// The end of the run of alphanumeric chars that starts at `start`.
fn alphanumeric_run(chars: &[char], start: usize) -> usize {
    chars[start..]
        .iter()
        .position(|c| !c.is_alphanumeric())
        .map_or(chars.len(), |n| start + n)
}

/// `'t` in any case: the clitic of `n't`.
fn is_t_clitic(token: &str) -> bool {
    token == "'t" || token == "'T"
}

/// Appends the clitic `'t` to the tokens; when the token before it ends in
/// `n` or `N`, that letter moves onto the clitic (`don` `'t` → `do` `n't`),
/// and a token that was only that letter is replaced by the clitic.
fn attach_n_to_clitic(tokens: &mut Vec<String>, clitic: String) {
    match tokens.last_mut() {
        Some(prev) if prev.ends_with(['n', 'N']) => {
            // `n` and `N` are one byte: the split falls on a char boundary.
            let n = prev.split_off(prev.len() - 1);
            if prev.is_empty() {
                *prev = n + &clitic;
            } else {
                tokens.push(n + &clitic);
            }
        }
        _ => tokens.push(clitic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> String {
        tokenize(text, true).join(" ")
    }

    #[test]
    fn the_documented_example() {
        assert_eq!(
            tok("A man's \"hat\" isn't red."),
            "a man 's \" hat \" is n't red ."
        );
    }

    #[test]
    fn n_t_moves_its_n_off_the_word_it_touches() {
        assert_eq!(tok("don't can't won't"), "do n't ca n't wo n't");
        // Only when touching: a space keeps the `n` where it is.
        assert_eq!(tok("man 't"), "man 't");
        // A token that was only the `n` becomes `n't` whole.
        assert_eq!(tok("n't"), "n't");
        // `'t` after a word without a final n stays as it is.
        assert_eq!(tok("wasn't it'tis"), "was n't it 'tis");
        assert_eq!(tok("it't"), "it 't");
    }

    #[test]
    fn case_is_kept_without_lowercasing_and_n_t_is_case_blind() {
        assert_eq!(tokenize("DON'T Stop", false), ["DO", "N'T", "Stop"]);
        assert_eq!(tokenize("Don't", false), ["Do", "n't"]);
    }

    #[test]
    fn clitics_and_lone_apostrophes() {
        assert_eq!(tok("they're we'll I'd 90's"), "they 're we 'll i 'd 90 's");
        // No alphanumeric after it: a lone apostrophe.
        assert_eq!(tok("dogs' 'tis ' x"), "dogs ' 'tis ' x");
        // One clitic per apostrophe; a second starts a new token.
        assert_eq!(tok("rock'n'roll"), "rock 'n 'roll");
    }

    #[test]
    fn punctuation_is_one_token_a_char_and_words_are_maximal_runs() {
        assert_eq!(tok("t-shirt, 3.5kg!?"), "t - shirt , 3 . 5kg ! ?");
        assert_eq!(tok("  \t\u{a0}"), "");
        assert_eq!(tok("Über-Straße café"), "über - straße café");
        // The typographic apostrophe is punctuation, not a clitic's.
        assert_eq!(tok("man\u{2019}s"), "man \u{2019} s");
    }
}
