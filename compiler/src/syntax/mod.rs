//! Text → spanned AST. A lexical pre-pass ([`lexcheck`]) reports delimiter,
//! string and number mistakes precisely; the pest grammar
//! (`grammar/lsm.pest`) does the rest.

pub mod ast;
pub mod lexcheck;
mod parse;

pub use parse::{parse_module, parse_set_flag, parse_set_latent, SetLatent};

/// What went wrong while reading a file. Wording lives in [`ParseError::details`].
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    /// A `{` with no matching `}` (at the end of file, or before the next item).
    UnterminatedBlock { next_item: Option<String> },
    /// A `(` or `[` never closed.
    UnclosedDelimiter { open: char },
    /// A closing delimiter of the wrong kind, e.g. `(` closed by `}`.
    MismatchedDelimiter { open: char, close: char },
    /// A closing delimiter with nothing open.
    UnmatchedDelimiter { close: char },
    /// A string literal that reaches the end of its line.
    UnterminatedString,
    /// A malformed number such as `1e`, `1.` or `10k`.
    BadNumber { text: String },
    /// A character that has no meaning in the language.
    InvalidCharacter { ch: char },
    /// `=` expected (after a parameter or value name).
    MissingEquals { after: String },
    /// A top-level word that starts no known item.
    ExpectedItem {
        found: String,
        suggestion: Option<String>,
    },
    /// A reserved word used as a name.
    ReservedWord { word: String },
    /// An expression nested deeper than [`lexcheck::MAX_NESTING`] levels.
    TooDeep,
    /// Anything else: the grammar expected one of `expected` here.
    Unexpected {
        expected: Vec<String>,
        found: String,
    },
}

pub struct Details {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

fn closer(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

impl ParseError {
    pub fn details(&self) -> Details {
        use ParseError::*;
        let (code, message, label, help): (&str, String, String, Option<String>) = match self {
            UnterminatedBlock { next_item: Some(word) } => (
                "lsm::parse::unterminated_block",
                "this block is not closed".into(),
                "this `{` has no matching `}`".into(),
                Some(format!("add `}}` before `{word}` starts the next item")),
            ),
            UnterminatedBlock { next_item: None } => (
                "lsm::parse::unterminated_block",
                "this block is not closed".into(),
                "this `{` has no matching `}`".into(),
                Some("add `}` at the end of the block".into()),
            ),
            UnclosedDelimiter { open } => (
                "lsm::parse::unclosed_delimiter",
                format!("`{open}` is never closed"),
                format!("this `{open}` has no matching `{}`", closer(*open)),
                Some(format!("add `{}`", closer(*open))),
            ),
            MismatchedDelimiter { open, close } => (
                "lsm::parse::mismatched_delimiter",
                format!("`{close}` does not close `{open}`"),
                format!("expected `{}` here", closer(*open)),
                None,
            ),
            UnmatchedDelimiter { close } => (
                "lsm::parse::unmatched_delimiter",
                format!("unexpected `{close}`"),
                "nothing is open here".into(),
                Some("remove it, or add the opening delimiter it was meant to close".into()),
            ),
            UnterminatedString => (
                "lsm::parse::unterminated_string",
                "unterminated string".into(),
                "this string has no closing `\"`".into(),
                Some("strings end on the line they start; add `\"`".into()),
            ),
            BadNumber { text } => (
                "lsm::parse::bad_number",
                format!("`{text}` is not a number"),
                "malformed number".into(),
                Some("numbers look like `10`, `0.5` or `1e-4`".into()),
            ),
            InvalidCharacter { ch } => (
                "lsm::parse::invalid_character",
                format!("unexpected character `{}`", ch.escape_debug()),
                "not part of the language".into(),
                Some("names use ASCII letters, digits and `_`; comments start with `//`".into()),
            ),
            MissingEquals { after } => (
                "lsm::parse::missing_equals",
                format!("expected `=` after `{after}`"),
                "expected `=` after this".into(),
                None,
            ),
            ExpectedItem { found, suggestion } => (
                "lsm::parse::expected_item",
                format!("expected an item, found {found}"),
                "not the start of an item".into(),
                Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "a spec is made of `model`, `param`, `data`, `encoder`, `latent`, \
                             `decoder`, `loss`, `train`, `surrogate` and `use` items"
                        .into(),
                }),
            ),
            ReservedWord { word } => (
                "lsm::parse::reserved_word",
                format!("`{word}` is a reserved word"),
                "cannot be used as a name".into(),
                Some("`via`, `repeat`, `return`, `true` and `false` are reserved; choose another name".into()),
            ),
            TooDeep => (
                "lsm::parse::too_deep",
                format!(
                    "this expression nests more than {} levels",
                    lexcheck::MAX_NESTING
                ),
                "the limit is reached here".into(),
                Some(
                    "brackets, calls, blocks and operators count one level each; \
                     name parts of the expression with `=` lines"
                        .into(),
                ),
            ),
            Unexpected { expected, found } => (
                "lsm::parse::unexpected",
                format!("expected {}, found {found}", join_or(expected)),
                format!("expected {}", join_or(expected)),
                None,
            ),
        };
        Details {
            code,
            message,
            label,
            help,
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
pub fn join_or(items: &[String]) -> String {
    match items {
        [] => "something else".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}
