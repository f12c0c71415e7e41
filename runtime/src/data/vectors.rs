//! Word vectors in GloVe's text format, and the vocabulary a data set's
//! tokens get: ids, and a table of their vectors with seeded random ones
//! for training words that have none. Shared by the SST and table readers.

use crate::real::Real;
use lsmc_ir::data::Embeddings;
use ndarray::{Array2, ArrayD};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

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

    /// The vector of the first of `forms` present.
    pub fn first_of(&self, forms: &[String]) -> Option<&[f32]> {
        forms.iter().find_map(|f| self.get(f))
    }
}

/// Reads GloVe's text format (`word v1 … v_dim` per line), plain or gzip
/// (told apart by the gzip magic bytes, not the file name).
pub fn read_glove(path: &Path, dim: usize) -> Result<Vectors, String> {
    let name = super::shown(path);
    let raw =
        std::fs::read(path).map_err(|e| format!("{name}: {}", crate::records::io_reason(&e)))?;
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
        // A repeated word keeps its first vector, as GloVe's own tools do:
        // the index it has stays, the new vector is dropped.
        let next = index.len();
        match index.entry(word.to_string()) {
            std::collections::hash_map::Entry::Occupied(_) => data.truncate(before),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(next);
            }
        }
    }
    if index.is_empty() {
        return Err(format!("{name}: no word vectors"));
    }
    Ok(Vectors { dim, index, data })
}

/// The pretrained vectors `embeddings` names; `None` for random ones.
pub fn read_vectors(embeddings: &Embeddings) -> Result<Option<Vectors>, String> {
    match embeddings {
        Embeddings::Glove { path, dim } => read_glove(path, *dim).map(Some),
        Embeddings::Random { .. } => Ok(None),
    }
}

/// Index 0 pads; index 1 stands for words with no vector outside training.
pub const PAD: usize = 0;
pub const UNK: usize = 1;

/// The vocabulary and its vectors (`[V, dim]`, row-major).
#[derive(Clone, Debug)]
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
    /// vectors' spread (σ = 1 with no pretrained vectors at all). Ids follow
    /// first occurrence: the training tokens in order, then the others.
    /// `forms` lists the spellings under which a token is looked up in
    /// `vectors`, in order of preference.
    pub fn build<'a>(
        train: impl IntoIterator<Item = &'a str>,
        others: impl IntoIterator<Item = &'a str>,
        vectors: Option<&Vectors>,
        dim: usize,
        forms: impl Fn(&str) -> Vec<String>,
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
            let found = vectors.and_then(|v| v.first_of(&forms(word)));
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
        for t in train {
            add(&mut voc, t, true);
        }
        for t in others {
            add(&mut voc, t, false);
        }
        voc
    }

    pub fn id(&self, token: &str) -> usize {
        self.index.get(token).copied().unwrap_or(UNK)
    }
}

impl Vocabulary {
    /// The vectors as the `[V, dim]` embedding table a model reads.
    pub fn embedding_table<T: Real>(&self) -> ArrayD<T> {
        let dim = self.dim;
        Array2::from_shape_fn((self.words.len(), dim), |(i, j)| {
            T::of(self.table[i * dim + j] as f64)
        })
        .into_dyn()
    }
}
