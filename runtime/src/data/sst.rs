//! The Stanford Sentiment Treebank in its PTB bracketed form, and word
//! vectors in GloVe's text format.
//!
//! A line is `(LABEL CHILD CHILD)` or `(LABEL word)`; the sentence is the
//! leaves in order and its label the root's. Tokens are split on the ASCII
//! space only: three training tokens contain a no-break space (`8 1\/2`).
//! Every error names the file, the line and, for a tree, the column.

use super::{Dataset, Split};
use crate::real::Real;
use lsmc_ir::data::{Embeddings, Sst, SstLabels};
use ndarray::{ArrayD, IxDyn};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

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
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_matches(' ').is_empty() {
            continue;
        }
        let s = parse_tree(line)
            .map_err(|(col, m)| format!("{}:{}:{col}: {m}", path.display(), i + 1))?;
        if let Some(c) = labels.class(s.label) {
            out.push((s, c));
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no sentences", path.display()));
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

/// Word vectors: `dim` floats per word, row-major.
#[derive(Clone, Debug)]
pub struct Vectors {
    pub dim: usize,
    pub index: HashMap<String, usize>,
    pub data: Vec<f32>,
}

impl Vectors {
    pub fn get(&self, word: &str) -> Option<&[f32]> {
        let i = *self.index.get(word)?;
        Some(&self.data[i * self.dim..(i + 1) * self.dim])
    }

    /// The vector of the first form of `token` present.
    pub fn find(&self, token: &str) -> Option<&[f32]> {
        lookup_forms(token).iter().find_map(|f| self.get(f))
    }
}

/// Reads GloVe's text format (`word v1 … v_dim` per line), plain or gzip
/// (told apart by the gzip magic bytes, not the file name).
pub fn read_glove(path: &Path, dim: usize) -> Result<Vectors, String> {
    let name = path.display();
    let raw = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: corrupt gzip data ({e})"))?;
        out
    } else {
        raw
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        format!("{name}:{line}: not UTF-8 text")
    })?;
    let mut index = HashMap::new();
    let mut data = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(' ');
        let word = fields.next().unwrap_or_default();
        let before = data.len();
        for f in fields.by_ref() {
            let v: f32 = f.parse().map_err(|_| {
                format!(
                    "{name}:{}: `{f}` is not a number (in the vector of `{word}`)",
                    i + 1
                )
            })?;
            data.push(v);
        }
        let got = data.len() - before;
        if got != dim {
            return Err(format!(
                "{name}:{}: the vector of `{word}` has {got} values, but dim = {dim}{}",
                i + 1,
                if i == 0 {
                    String::new()
                } else {
                    " (as the lines before it)".into()
                }
            ));
        }
        if index.insert(word.to_string(), index.len()).is_some() {
            // A repeated word keeps its first vector, as GloVe's own tools do.
            data.truncate(before);
        }
    }
    if index.is_empty() {
        return Err(format!("{name}: no word vectors"));
    }
    Ok(Vectors { dim, index, data })
}

/// Index 0 pads; index 1 stands for words with no vector outside training.
pub const PAD: usize = 0;
pub const UNK: usize = 1;

/// The vocabulary and its vectors (`[V, dim]`, row-major).
pub struct Vocabulary {
    pub words: Vec<String>,
    pub index: HashMap<String, usize>,
    pub table: Vec<f32>,
    pub dim: usize,
    /// Words whose vector is pretrained, and those drawn at random.
    pub pretrained: usize,
    pub random: usize,
}

fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A vector for a word without a pretrained one: N(0, σ²) drawn from a
/// generator seeded by the word itself, so it is the same in every run and
/// whatever the order the words are met in.
fn random_vector(word: &str, dim: usize, sigma: f64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(fnv(word));
    (0..dim)
        .map(|_| (rng.sample::<f64, _>(rand_distr::StandardNormal) * sigma) as f32)
        .collect()
}

impl Vocabulary {
    /// Every training token, and every other token with a pretrained
    /// vector (its vector is known without looking at any label). Training
    /// tokens without one get a seeded random vector with the pretrained
    /// vectors' spread (σ = 1 with no pretrained vectors at all).
    pub fn build(
        train: &[(Sentence, usize)],
        others: &[&[(Sentence, usize)]],
        vectors: Option<&Vectors>,
        dim: usize,
    ) -> Vocabulary {
        let sigma = vectors.map_or(1.0, |v| {
            let n = v.data.len().max(1) as f64;
            let mean = v.data.iter().map(|&x| x as f64).sum::<f64>() / n;
            (v.data
                .iter()
                .map(|&x| (x as f64 - mean).powi(2))
                .sum::<f64>()
                / n)
                .sqrt()
        });
        let mut voc = Vocabulary {
            words: vec!["<pad>".into(), "<unk>".into()],
            index: HashMap::new(),
            table: vec![0.0; dim],
            dim,
            pretrained: 0,
            random: 0,
        };
        voc.table.extend(random_vector("<unk>", dim, sigma));
        let add = |voc: &mut Vocabulary, word: &str, training: bool| {
            if voc.index.contains_key(word) {
                return;
            }
            let found = vectors.and_then(|v| v.find(word));
            let vector = match (found, training) {
                (Some(v), _) => {
                    voc.pretrained += 1;
                    v.to_vec()
                }
                (None, true) => {
                    voc.random += 1;
                    random_vector(word, dim, sigma)
                }
                (None, false) => return,
            };
            voc.index.insert(word.to_string(), voc.words.len());
            voc.words.push(word.to_string());
            voc.table.extend(vector);
        };
        for (s, _) in train {
            for t in &s.tokens {
                add(&mut voc, t, true);
            }
        }
        for split in others {
            for (s, _) in split.iter() {
                for t in &s.tokens {
                    add(&mut voc, t, false);
                }
            }
        }
        voc
    }

    pub fn id(&self, token: &str) -> usize {
        self.index.get(token).copied().unwrap_or(UNK)
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
        lengths: Some(sentences.iter().map(|(s, _)| s.tokens.len()).collect()),
        padded: vec!["tokens".into()],
        len: n,
    }
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
    let vectors = match &source.embeddings {
        Embeddings::Glove { path, dim } => Some(read_glove(path, *dim)?),
        Embeddings::Random { .. } => None,
    };
    let voc = Vocabulary::build(&train, &[&valid, &test], vectors.as_ref(), dim);
    let table = ArrayD::from_shape_vec(
        IxDyn(&[voc.words.len(), dim]),
        voc.table.iter().map(|&v| T::of(v as f64)).collect(),
    )
    .map_err(|e| format!("embedding table: {e}"))?;
    let table = Arc::new(table);
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
