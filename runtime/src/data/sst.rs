//! The Stanford Sentiment Treebank in its PTB bracketed form, and word
//! vectors in GloVe's text format.
//!
//! A line is `(LABEL CHILD CHILD)` or `(LABEL word)`; the sentence is the
//! leaves in order and its label the root's. Tokens are split on the ASCII
//! space only: three training tokens contain a no-break space (`8 1\/2`).
//! Every error names the file, the line and, for a tree, the column.

use super::{Dataset, Split};
use crate::real::Real;
use lsmc_ir::data::{Sst, SstLabels};
use ndarray::{ArrayD, IxDyn};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::vectors::read_vectors;
pub use super::vectors::{read_glove, Vectors, Vocabulary, PAD, UNK};

/// A sentence: its tokens as written (PTB escapes kept) and its root label 0–4.
#[derive(Clone, Debug, PartialEq)]
pub struct Sentence {
    pub tokens: Vec<String>,
    pub label: u8,
}

/// What the five sentiment classes become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labels {
    /// 0–1 negative, 3–4 positive; neutral (2) sentences are dropped.
    Binary,
    /// The five classes as they are.
    Fine,
}

impl Labels {
    /// The class of a root label, or `None` when the sentence is dropped.
    pub fn class(self, label: u8) -> Option<usize> {
        match (self, label) {
            (Labels::Fine, l) => Some(l as usize),
            (Labels::Binary, 0 | 1) => Some(0),
            (Labels::Binary, 3 | 4) => Some(1),
            (Labels::Binary, _) => None,
        }
    }

    pub fn classes(self) -> usize {
        match self {
            Labels::Binary => 2,
            Labels::Fine => 5,
        }
    }

    /// What each class means, for people.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Labels::Binary => &["negative", "positive"],
            Labels::Fine => &[
                "very negative",
                "negative",
                "neutral",
                "positive",
                "very positive",
            ],
        }
    }

    /// The `labels` argument of an `sst(…)` data line.
    pub fn of(labels: SstLabels) -> Labels {
        match labels {
            SstLabels::Fine => Labels::Fine,
            SstLabels::Binary => Labels::Binary,
        }
    }
}

/// A plain-text token in the treebank's spelling: brackets become
/// `-LRB-`/`-RRB-`, `/` and `*` are escaped, as in the SST files, so that
/// text typed by a person finds the words the model was trained on.
pub fn ptb_escape(token: &str) -> String {
    match token {
        "(" => "-LRB-".into(),
        ")" => "-RRB-".into(),
        "{" => "-LCB-".into(),
        "}" => "-RCB-".into(),
        t => t.replace('/', "\\/").replace('*', "\\*"),
    }
}

/// Parses one bracketed tree; `Err((column, message))`, columns from 1.
pub fn parse_tree(line: &str) -> Result<Sentence, (usize, String)> {
    let mut p = Parser {
        text: line,
        pos: 0,
        tokens: Vec::new(),
    };
    p.skip_spaces();
    let label = p.tree()?;
    p.skip_spaces();
    if p.pos < line.len() {
        return Err((
            p.column(),
            "text after the end of the tree (an extra `)`?)".into(),
        ));
    }
    Ok(Sentence {
        tokens: p.tokens,
        label,
    })
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    tokens: Vec<String>,
}

impl<'a> Parser<'a> {
    fn column(&self) -> usize {
        self.text[..self.pos].chars().count() + 1
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// `(LABEL child…)`; returns the label.
    fn tree(&mut self) -> Result<u8, (usize, String)> {
        if self.peek() != Some(b'(') {
            return Err((self.column(), "expected `(` to open a tree".into()));
        }
        self.pos += 1;
        let start = self.pos;
        let label_text = self.word();
        let label = match label_text.parse::<u8>() {
            Ok(l) if l <= 4 => l,
            _ => {
                let col = self.text[..start].chars().count() + 1;
                return Err((
                    col,
                    if label_text.is_empty() {
                        "a tree without a label".to_string()
                    } else {
                        format!("label `{label_text}` is not a sentiment class 0–4")
                    },
                ));
            }
        };
        let mut children = 0;
        loop {
            self.skip_spaces();
            match self.peek() {
                None => {
                    return Err((
                        self.column(),
                        "unbalanced tree: the line ends before every `(` is closed".into(),
                    ))
                }
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                Some(b'(') => {
                    self.tree()?;
                }
                Some(_) => {
                    let w = self.word();
                    self.tokens.push(w.to_string());
                }
            }
            children += 1;
        }
        if children == 0 {
            return Err((self.column() - 1, "an empty tree `( LABEL )`".into()));
        }
        Ok(label)
    }

    /// Up to the next ASCII space or parenthesis.
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'(' || c == b')' {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }
}

/// Reads one split file, keeping the sentences `labels` keeps.
pub fn read_split(path: &Path, labels: Labels) -> Result<Vec<(Sentence, usize)>, String> {
    let name = super::shown(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{name}: {}", crate::records::io_reason(&e)))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_matches(' ').is_empty() {
            continue;
        }
        let s = parse_tree(line).map_err(|(col, m)| format!("{name}:{}:{col}: {m}", i + 1))?;
        if let Some(c) = labels.class(s.label) {
            out.push((s, c));
        }
    }
    if out.is_empty() {
        return Err(format!("{name}: no sentences"));
    }
    Ok(out)
}

/// A treebank token as plain text: the PTB escapes undone.
pub fn ptb_unescape(token: &str) -> String {
    match token {
        "-LRB-" => "(".to_string(),
        "-RRB-" => ")".to_string(),
        "-LCB-" => "{".to_string(),
        "-RCB-" => "}".to_string(),
        t => t.replace("\\/", "/").replace("\\*", "*"),
    }
}

/// The forms under which a token is looked up in a word-vector file, in
/// order: as written, lowercased, and lowercased with PTB escapes undone.
pub fn lookup_forms(token: &str) -> Vec<String> {
    let unescaped = ptb_unescape(token);
    let mut forms: Vec<String> = Vec::new();
    for f in [
        token.to_string(),
        token.to_lowercase(),
        unescaped.clone(),
        unescaped.to_lowercase(),
    ] {
        if !forms.contains(&f) {
            forms.push(f);
        }
    }
    forms
}

impl Vectors {
    /// The vector of the first form of a treebank token present
    /// ([`lookup_forms`]).
    pub fn find(&self, token: &str) -> Option<&[f32]> {
        self.first_of(&lookup_forms(token))
    }
}

/// Sentences as padded token ids, lengths and labels (the classes given
/// beside them).
pub fn encode<T: Real>(
    sentences: &[(Sentence, usize)],
    voc: &Vocabulary,
    table: &Arc<ArrayD<T>>,
) -> Split<T> {
    let n = sentences.len();
    let width = sentences
        .iter()
        .map(|(s, _)| s.tokens.len())
        .max()
        .unwrap_or(0);
    let mut tokens = ArrayD::<T>::zeros(IxDyn(&[n, width]));
    let mut lengths = ArrayD::<T>::zeros(IxDyn(&[n]));
    let mut y = ArrayD::<T>::zeros(IxDyn(&[n]));
    for (i, (s, c)) in sentences.iter().enumerate() {
        for (j, t) in s.tokens.iter().enumerate() {
            tokens[[i, j]] = T::of(voc.id(t) as f64);
        }
        lengths[[i]] = T::of(s.tokens.len() as f64);
        y[[i]] = T::of(*c as f64);
    }
    let inputs = HashMap::from([
        ("tokens".to_string(), Arc::new(tokens)),
        ("lengths".to_string(), Arc::new(lengths)),
        ("y".to_string(), Arc::new(y)),
    ]);
    Split {
        inputs,
        shared: HashMap::from([("embeddings".to_string(), Arc::clone(table))]),
        sequences: vec![super::Sequences {
            symbol: "N",
            lengths: sentences.iter().map(|(s, _)| s.tokens.len()).collect(),
            padded: vec!["tokens".into()],
        }],
        len: n,
    }
}

/// Every token of a split, in order.
fn tokens(split: &[(Sentence, usize)]) -> impl Iterator<Item = &str> {
    split
        .iter()
        .flat_map(|(s, _)| s.tokens.iter().map(String::as_str))
}

/// The `sst(path, labels, embeddings)` data source: `train.txt`, `dev.txt`
/// and `test.txt` under `path`.
pub fn load<T: Real>(source: &Sst) -> Result<Dataset<T>, String> {
    load_with_vocabulary(source).map(|(d, _)| d)
}

/// [`load`], with the vocabulary it built: new sentences are encoded with
/// it ([`encode`]) to run a trained model on them.
pub fn load_with_vocabulary<T: Real>(source: &Sst) -> Result<(Dataset<T>, Vocabulary), String> {
    let dir = &source.path;
    let labels = Labels::of(source.labels);
    let read = |f: &str| read_split(&dir.join(f), labels);
    let (train, valid, test) = (read("train.txt")?, read("dev.txt")?, read("test.txt")?);
    let dim = source.embeddings.dim();
    let vectors = read_vectors(&source.embeddings)?;
    let voc = Vocabulary::build(
        tokens(&train),
        tokens(&valid).chain(tokens(&test)),
        vectors.as_ref(),
        dim,
        lookup_forms,
    );
    let table = Arc::new(voc.embedding_table());
    let data = Dataset {
        train: encode(&train, &voc, &table),
        valid: encode(&valid, &voc, &table),
        test: encode(&test, &voc, &table),
    };
    Ok((data, voc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_gives_its_leaves_in_order_and_its_root_label() {
        let s = parse_tree("(1 (1 No) (2 (3 surprises) (2 .)))").unwrap();
        assert_eq!(s.tokens, ["No", "surprises", "."]);
        assert_eq!(s.label, 1);
        // Only the ASCII space separates: a no-break space stays in the token.
        let s = parse_tree("(2 (2 8\u{a0}1\\/2) (2 -LRB-))").unwrap();
        assert_eq!(s.tokens, ["8\u{a0}1\\/2", "-LRB-"]);
    }

    #[test]
    fn malformed_trees_are_located_by_column() {
        let cases = [
            ("(1 (1 No) (2 .)", 16, "unbalanced"),
            ("(1 (1 No)) (2 .))", 12, "text after the end"),
            ("(7 (1 No))", 2, "label `7`"),
            ("(1 (x No))", 5, "label `x`"),
            ("1 No", 1, "expected `(`"),
            ("(3 )", 4, "empty tree"),
        ];
        for (line, col, what) in cases {
            let (c, m) = parse_tree(line).expect_err(line);
            assert!(m.contains(what), "{line}: {m}");
            assert_eq!(c, col, "{line}: {m}");
        }
    }

    #[test]
    fn binary_labels_drop_neutral_sentences() {
        let b = Labels::Binary;
        let got: Vec<_> = (0..5).map(|l| b.class(l)).collect();
        assert_eq!(got, [Some(0), Some(0), None, Some(1), Some(1)]);
        assert_eq!(Labels::Fine.class(2), Some(2));
    }

    #[test]
    fn typed_text_takes_the_treebank_spelling() {
        let got: Vec<String> = ["(", "great", ")", "1/2", "*", "-"]
            .iter()
            .map(|t| ptb_escape(t))
            .collect();
        assert_eq!(got, ["-LRB-", "great", "-RRB-", "1\\/2", "\\*", "-"]);
    }

    #[test]
    fn lookup_tries_the_token_then_lowercase_then_unescaped() {
        assert_eq!(lookup_forms("-LRB-"), ["-LRB-", "-lrb-", "("]);
        assert_eq!(lookup_forms("1\\/2"), ["1\\/2", "1/2"]);
        assert_eq!(lookup_forms("The"), ["The", "the"]);
    }
}
