//! A lexical pass that runs before the grammar: it finds the mistakes a
//! PEG parser reports badly (an unclosed `{` is only noticed at the end of
//! the file, a malformed number as "unexpected character") and reports them
//! where they are, with the opening delimiter labelled.

use super::ParseError;
use crate::span::{FileId, Span};

/// Words that begin a top-level item; used to notice a block that runs
/// into the next item because its `}` is missing.
const ITEM_KEYWORDS: &[&str] = &[
    "model",
    "param",
    "data",
    "encoder",
    "latent",
    "decoder",
    "loss",
    "train",
    "surrogate",
    "use",
];

struct Open {
    ch: char,
    span: Span,
    line_indent: usize,
    /// Operators met since this bracket opened (or since its last `,`,
    /// `;`, `=`, or for a block its last line): each nests the syntax tree
    /// of the expression one level deeper.
    operators: usize,
}

/// How deeply an expression may nest: brackets, blocks, calls and
/// operators together. Every pass over the syntax tree (the grammar,
/// checking, lowering, even dropping it) recurses once per level, so the
/// bound is what keeps a generated or corrupt spec from overflowing the
/// stack; real specs nest a handful of levels.
pub const MAX_NESTING: usize = 100;

/// The syntax-tree depth the brackets and operators seen so far reach:
/// a bound that is never below the real depth.
fn nesting(stack: &[Open], top: usize) -> usize {
    stack.len() + top + stack.iter().map(|o| o.operators).sum::<usize>()
}

pub fn scan(text: &str, file: FileId) -> Vec<(ParseError, Span, Option<Span>)> {
    scan_from(text, file, 0)
}

/// Scans `text[from..]`, reporting spans in `text`'s coordinates.
pub fn scan_from(text: &str, file: FileId, from: usize) -> Vec<(ParseError, Span, Option<Span>)> {
    let mut errors = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut bracket_error = false;
    // Operators at the top level, outside any bracket (a `--set` value).
    let mut top_operators = 0;
    let bytes = text.as_bytes();
    let mut i = from;
    let span = |a: usize, b: usize| Span::new(file, a, b);
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        let clen = c.len_utf8();
        match c {
            '\n' => {
                // A line ends a statement in a block or at the top level.
                match stack.last_mut() {
                    Some(open) if open.ch == '{' => open.operators = 0,
                    None => top_operators = 0,
                    Some(_) => {}
                }
                i += clen;
            }
            ' ' | '\t' | '\r' => i += clen,
            '/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < text.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            '"' => {
                let start = i;
                i += 1;
                let mut closed = false;
                while i < text.len() {
                    match bytes[i] {
                        b'"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        b'\n' => break,
                        b'\\' => i += 2,
                        _ => i += 1,
                    }
                }
                i = i.min(text.len());
                // Step back onto a char boundary if an escape jumped into a
                // multi-byte character.
                while !text.is_char_boundary(i) {
                    i += 1;
                }
                if !closed {
                    errors.push((ParseError::UnterminatedString, span(start, i), None));
                }
            }
            '0'..='9' => {
                let start = i;
                let end = number_end(text, i);
                let good = valid_number(&text[start..end]);
                if !good {
                    errors.push((
                        ParseError::BadNumber {
                            text: text[start..end].to_string(),
                        },
                        span(start, end),
                        None,
                    ));
                }
                i = end;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < text.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                if !bracket_error && ITEM_KEYWORDS.contains(&word) && starts_item(text, start, i) {
                    let indent = indent_of(text, start);
                    if let Some(open) = stack
                        .iter()
                        .rev()
                        .find(|o| o.ch == '{' && o.line_indent >= indent)
                    {
                        errors.push((
                            ParseError::UnterminatedBlock {
                                next_item: Some(word.to_string()),
                            },
                            open.span,
                            Some(span(start, i)),
                        ));
                        bracket_error = true;
                    }
                }
            }
            '(' | '[' | '{' => {
                stack.push(Open {
                    ch: c,
                    span: span(i, i + 1),
                    line_indent: indent_of(text, i),
                    operators: 0,
                });
                if nesting(&stack, top_operators) > MAX_NESTING {
                    errors.push((ParseError::TooDeep, span(i, i + 1), None));
                    return errors;
                }
                i += 1;
            }
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match stack.pop() {
                    Some(open) if open.ch == want => {}
                    Some(open) => {
                        if !bracket_error {
                            errors.push((
                                ParseError::MismatchedDelimiter {
                                    open: open.ch,
                                    close: c,
                                },
                                span(i, i + 1),
                                Some(open.span),
                            ));
                            bracket_error = true;
                        }
                    }
                    None => {
                        if !bracket_error {
                            errors.push((
                                ParseError::UnmatchedDelimiter { close: c },
                                span(i, i + 1),
                                None,
                            ));
                            bracket_error = true;
                        }
                    }
                }
                i += 1;
            }
            '=' | ',' | ';' => {
                match stack.last_mut() {
                    Some(open) => open.operators = 0,
                    None => top_operators = 0,
                }
                i += 1;
            }
            '+' | '-' | '*' | '/' => {
                match stack.last_mut() {
                    Some(open) => open.operators += 1,
                    None => top_operators += 1,
                }
                if nesting(&stack, top_operators) > MAX_NESTING {
                    errors.push((ParseError::TooDeep, span(i, i + 1), None));
                    return errors;
                }
                i += 1;
            }
            ':' => i += 1,
            other => {
                errors.push((
                    ParseError::InvalidCharacter { ch: other },
                    span(i, i + clen),
                    None,
                ));
                i += clen;
            }
        }
    }
    if !bracket_error {
        if let Some(open) = stack.pop() {
            let err = if open.ch == '{' {
                ParseError::UnterminatedBlock { next_item: None }
            } else {
                ParseError::UnclosedDelimiter { open: open.ch }
            };
            errors.push((err, open.span, Some(span(text.len(), text.len()))));
        }
    }
    errors
}

/// End of a number-like run starting at `i`: digits, letters, `_` and `.`,
/// plus a sign directly after an exponent marker (`1e-4`).
fn number_end(text: &str, mut i: usize) -> usize {
    let b = text.as_bytes();
    while i < b.len() {
        let c = b[i];
        let word = c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
        let exponent_sign =
            (c == b'+' || c == b'-') && i > 0 && (b[i - 1] == b'e' || b[i - 1] == b'E');
        if !(word || exponent_sign) {
            break;
        }
        i += 1;
    }
    i
}

/// `digits ("." digits)? ([eE] [+-]? digits)?`
fn valid_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map(|p| p + 1).unwrap_or(0)
}

fn indent_of(text: &str, pos: usize) -> usize {
    let ls = line_start(text, pos);
    text[ls..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .count()
}

/// The word at `start..end` is the first on its line and is followed by
/// something other than `=` or `(`: it reads as the start of a new item.
fn starts_item(text: &str, start: usize, end: usize) -> bool {
    let ls = line_start(text, start);
    if !text[ls..start].trim().is_empty() {
        return false;
    }
    let rest = text[end..].trim_start_matches([' ', '\t']);
    !(rest.starts_with('=') || rest.starts_with('(') || rest.starts_with('\n') || rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_exponents_are_valid() {
        for s in ["1", "10", "1.5", "1e-4", "2E+3", "0.001"] {
            assert!(valid_number(s), "{s}");
        }
        for s in ["1e", "1.", "1.2.3", "1e-", "10k", "3_000"] {
            assert!(!valid_number(s), "{s}");
        }
    }

    #[test]
    fn a_missing_brace_is_reported_at_the_block_that_runs_into_the_next_item() {
        let text = "encoder {\n  s = linear(x, 3)\n\nlatent z : categorical(3) = argmax(s)\n";
        let errs = scan(text, FileId(0));
        assert_eq!(errs.len(), 1);
        assert!(matches!(errs[0].0, ParseError::UnterminatedBlock { .. }));
        assert_eq!(errs[0].1.start, 8);
    }
}
