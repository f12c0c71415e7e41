//! The data a program trains on: one typed variant per source, every
//! argument bound and every path resolved by the compiler.

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// The paper's §7.1 mixture, generated from a seed.
    SyntheticMixture(Mixture),
    /// Stanford Sentiment Treebank sentences with word vectors.
    Sst(Sst),
}

impl DataSource {
    /// The name a spec's `data` line uses.
    pub fn name(&self) -> &'static str {
        match self {
            DataSource::SyntheticMixture(_) => "synthetic_mixture",
            DataSource::Sst(_) => "sst",
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
