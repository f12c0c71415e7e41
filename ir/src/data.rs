//! The data a program trains on: one typed variant per source, every
//! argument bound and every path resolved by the compiler.

use std::path::{Path, PathBuf};

/// A data path as messages show it, the compiler's and the loaders'
/// alike: absolute, its longest existing prefix resolved by the system
/// (`..` and links), the rest as written with `..` taken lexically — the
/// file the system looked for, wherever the command ran.
pub fn shown_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    for prefix in path.ancestors() {
        if let Ok(mut out) = std::fs::canonicalize(prefix) {
            for c in path.components().skip(prefix.components().count()) {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    c => out.push(c),
                }
            }
            return out;
        }
    }
    path
}

#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// The paper's §7.1 mixture, generated from a seed.
    SyntheticMixture(Mixture),
    /// Stanford Sentiment Treebank sentences with word vectors.
    Sst(Sst),
    /// Sentences (one or several per record) with a class label, from
    /// JSON Lines or TSV files: SNLI, SICK, a user's own.
    Table(Table),
    /// Symbol sequences from a hidden Markov chain, labelled by a function
    /// of the hidden path, generated from a seed.
    HmmSequences(Hmm),
}

impl DataSource {
    /// The name a spec's `data` line uses.
    pub fn name(&self) -> &'static str {
        match self {
            DataSource::SyntheticMixture(_) => "synthetic_mixture",
            DataSource::Sst(_) => "sst",
            DataSource::Table(_) => "table",
            DataSource::HmmSequences(_) => "hmm_sequences",
        }
    }
}

/// `synthetic_mixture(…)`: z ~ Cat(1/K), x ~ N(m_z, σ²I), y = sign(w_zᵀx − b_z).
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    pub clusters: usize,
    pub features: usize,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    /// σ, the standard deviation of x around its cluster centre.
    pub noise: f64,
    pub seed: u64,
}

/// `hmm_sequences(…)`: sentences of symbols emitted by a hidden Markov
/// chain, `y` a thresholded sum of per-(state, symbol) weights along the
/// hidden path. The generator (`lsmc_runtime::data::hmm`) defines the
/// model exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Hmm {
    /// Hidden states of the chain (the gold tags `z_gold`).
    pub states: usize,
    /// Distinct symbols the states emit (the vocabulary, less padding).
    pub symbols: usize,
    /// Each sentence's length is uniform in `min_length..=max_length`.
    pub min_length: usize,
    pub max_length: usize,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    pub seed: u64,
    /// Only `random(dim)`: the symbols are not words, so no pretrained
    /// vectors name them.
    pub embeddings: Embeddings,
}

impl Hmm {
    /// The longest sentence a spec may ask for: sentences are generated in
    /// full for every split before training, and a chain latent's work
    /// grows with `N·K²`.
    pub const MAX_LENGTH: usize = 1000;
    /// The most states and symbols a chain may have (the checker's ranges
    /// too): the emission and label tables are `states × symbols`.
    pub const MAX_STATES: usize = 1000;
    pub const MAX_SYMBOLS: usize = 100_000;

    /// What makes the configuration unusable; the compiler reports these
    /// at check time and the generator refuses them.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.states < 2 {
            out.push(format!("{} states; a chain needs at least 2", self.states));
        }
        if self.symbols < 2 {
            out.push(format!(
                "{} symbols; the states need at least 2 to emit",
                self.symbols
            ));
        }
        if self.states > Hmm::MAX_STATES {
            out.push(format!(
                "{} states; at most {}",
                self.states,
                Hmm::MAX_STATES
            ));
        }
        if self.symbols > Hmm::MAX_SYMBOLS {
            out.push(format!(
                "{} symbols; at most {}",
                self.symbols,
                Hmm::MAX_SYMBOLS
            ));
        }
        if self.min_length == 0 {
            out.push("`min_length` is 0; every sentence needs a word".to_string());
        }
        if self.min_length > self.max_length {
            out.push(format!(
                "`min_length` ({}) is more than `max_length` ({})",
                self.min_length, self.max_length
            ));
        }
        if self.max_length > Hmm::MAX_LENGTH {
            out.push(format!(
                "`max_length` is {}; at most {} words a sentence",
                self.max_length,
                Hmm::MAX_LENGTH
            ));
        }
        for (name, n) in [
            ("train", self.train),
            ("valid", self.valid),
            ("test", self.test),
        ] {
            if n == 0 {
                out.push(format!("no `{name}` sentences"));
            }
        }
        if let Embeddings::Glove { .. } = self.embeddings {
            out.push(
                "the symbols are not words, so GloVe has no vectors for them; use `embeddings = random(dim = …)`"
                    .to_string(),
            );
        }
        out
    }
}

/// `sst(path, labels, embeddings)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sst {
    /// The directory of `train.txt`, `dev.txt` and `test.txt`.
    pub path: PathBuf,
    pub labels: SstLabels,
    pub embeddings: Embeddings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SstLabels {
    /// Neutral sentences dropped; negative and positive.
    Binary,
    /// All five classes.
    Fine,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Embeddings {
    /// A GloVe text file, plain or gzip.
    Glove { path: PathBuf, dim: usize },
    /// Seeded random vectors.
    Random { dim: usize },
}

impl Embeddings {
    pub fn dim(&self) -> usize {
        match self {
            Embeddings::Glove { dim, .. } | Embeddings::Random { dim } => *dim,
        }
    }
}

/// Sentences (one or several per record, e.g. a premise and a hypothesis)
/// with a class label, read from JSON Lines or tab-separated files: SNLI,
/// SICK, or any user file of the same kind. The runtime reader
/// (`lsmc_runtime::data::table`) states the tokenisation and the split
/// rules exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub format: TableFormat,
    /// Which files hold which split.
    pub split: SplitRule,
    /// The texts of a record, in the order the model's inputs take them.
    pub texts: Vec<TextField>,
    pub label: LabelField,
    pub tokenize: Tokenize,
    pub embeddings: Embeddings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// One JSON object a line; fields are its keys.
    Jsonl,
    /// Tab-separated, a header line naming the columns, no quoting.
    Tsv,
}

/// A text input: `name` for the model, read from `column` (a JSON key or a
/// TSV header name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextField {
    pub name: String,
    pub column: String,
}

/// The class label of a record.
///
/// Every value here is matched case-insensitively (both sides lowercased),
/// so one list of names serves SNLI's `entailment` and SICK's `ENTAILMENT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelField {
    pub column: String,
    /// The classes in order: class `k` is `names[k]`.
    pub names: Vec<String>,
    /// Labels whose records are dropped, e.g. SNLI's `-` (no annotator
    /// majority); any other label outside `names` is an error.
    pub skip: Vec<String>,
}

/// Which records form the train, valid and test splits.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitRule {
    /// One file; `column` holds, per record, one of the three values
    /// (SICK: `SemEval_set` = `TRAIN`, `TRIAL`, `TEST`). Matched
    /// case-insensitively.
    Column {
        file: PathBuf,
        column: String,
        train: String,
        valid: String,
        test: String,
    },
    /// One file per split.
    Files {
        train: PathBuf,
        valid: PathBuf,
        test: PathBuf,
    },
    /// Train and valid from one file, valid a seeded `fraction` of its
    /// records (SNLI here: 10% of dev.jsonl); test from its own file.
    Holdout {
        file: PathBuf,
        fraction: f64,
        seed: u64,
        test: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tokenize {
    /// Lowercase before splitting (GloVe 6B's vocabulary is lowercase).
    pub lowercase: bool,
}

impl Table {
    /// What makes the configuration unusable whatever the files hold; the
    /// compiler reports these at check time and the reader refuses them.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.texts.is_empty() {
            out.push("no text field: a table needs at least one".to_string());
        }
        if let Some(name) = first_repeat(self.texts.iter().map(|t| t.name.clone())) {
            out.push(format!("two text fields are named `{name}`"));
        }
        let label = &self.label;
        if label.names.is_empty() {
            out.push("no label names: a table needs the classes, in order".to_string());
        }
        if let Some(name) = first_repeat(label.names.iter().map(|n| n.to_lowercase())) {
            out.push(format!(
                "the label `{name}` is named twice (names are matched case-insensitively)"
            ));
        }
        for s in &label.skip {
            if label
                .names
                .iter()
                .any(|n| n.to_lowercase() == s.to_lowercase())
            {
                out.push(format!("the label `{s}` is both a class and skipped"));
            }
        }
        match &self.split {
            SplitRule::Column {
                train, valid, test, ..
            } => {
                if let Some(v) = first_repeat([train, valid, test].map(|v| v.to_lowercase())) {
                    out.push(format!("the split value `{v}` names two splits"));
                }
            }
            SplitRule::Holdout { fraction, .. } => {
                if !(*fraction > 0.0 && *fraction < 1.0) {
                    out.push(format!(
                        "the held-out fraction is {fraction}; it must lie strictly between 0 and 1"
                    ));
                }
            }
            SplitRule::Files { .. } => {}
        }
        out
    }
}

/// The first value met a second time.
fn first_repeat(values: impl IntoIterator<Item = String>) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    values.into_iter().find(|v| !seen.insert(v.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str) -> TextField {
        TextField {
            name: name.into(),
            column: name.into(),
        }
    }

    fn hmm() -> Hmm {
        Hmm {
            states: 5,
            symbols: 30,
            min_length: 5,
            max_length: 15,
            train: 10,
            valid: 2,
            test: 2,
            seed: 1,
            embeddings: Embeddings::Random { dim: 4 },
        }
    }

    #[test]
    fn an_hmm_source_that_cannot_work_says_every_reason() {
        assert!(hmm().problems().is_empty());
        let bad = Hmm {
            states: 1,
            min_length: 16,
            test: 0,
            embeddings: Embeddings::Glove {
                path: "g.txt".into(),
                dim: 4,
            },
            ..hmm()
        };
        assert_eq!(
            bad.problems(),
            [
                "1 states; a chain needs at least 2",
                "`min_length` (16) is more than `max_length` (15)",
                "no `test` sentences",
                "the symbols are not words, so GloVe has no vectors for them; use `embeddings = random(dim = …)`",
            ]
        );
        let long = Hmm {
            symbols: 1,
            min_length: 0,
            max_length: Hmm::MAX_LENGTH + 1,
            ..hmm()
        };
        assert_eq!(long.problems().len(), 3, "{:?}", long.problems());
    }

    #[test]
    fn a_table_that_cannot_work_says_every_reason() {
        let table = Table {
            format: TableFormat::Tsv,
            split: SplitRule::Column {
                file: "data.tsv".into(),
                column: "set".into(),
                train: "TRAIN".into(),
                valid: "train".into(),
                test: "TEST".into(),
            },
            texts: vec![field("a"), field("a")],
            label: LabelField {
                column: "y".into(),
                names: vec!["yes".into(), "no".into()],
                skip: vec!["NO".into()],
            },
            tokenize: Tokenize { lowercase: true },
            embeddings: Embeddings::Random { dim: 2 },
        };
        assert_eq!(
            table.problems(),
            [
                "two text fields are named `a`",
                "the label `NO` is both a class and skipped",
                "the split value `train` names two splits",
            ]
        );
        let fine = Table {
            texts: vec![field("a")],
            label: LabelField {
                skip: vec![],
                ..table.label.clone()
            },
            split: SplitRule::Holdout {
                file: "dev.jsonl".into(),
                fraction: 0.1,
                seed: 1,
                test: "test.jsonl".into(),
            },
            ..table
        };
        assert!(fine.problems().is_empty());
    }
}
