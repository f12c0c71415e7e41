//! Data sources: each split as named tensors with examples on the first
//! axis, and batching over them.

pub mod hmm;
pub mod sst;
pub mod synthetic;
pub mod table;
pub mod vectors;

use crate::exec::Batch;
use crate::real::Real;
use lsmc_ir::data::DataSource;
use lsmc_ir::plan::Split as Part;
use lsmc_ir::types::{lengths_input, TEXT_LENGTHS};
use ndarray::{ArrayD, Axis, IxDyn};
use std::collections::HashMap;
use std::sync::Arc;

/// Texts padded along one symbolic length (`N` for a sentence, `M` for
/// the second text of a pair): each example's true length, and the inputs
/// padded along their second axis to the longest.
#[derive(Clone, Debug)]
pub struct Sequences {
    pub symbol: &'static str,
    pub lengths: Vec<usize>,
    pub padded: Vec<String>,
}

/// One split: named tensors that share their first axis, tables every
/// example uses (word vectors), and for texts their lengths.
#[derive(Clone, Debug)]
pub struct Split<T> {
    pub inputs: HashMap<String, Arc<ArrayD<T>>>,
    /// Passed whole to every batch, never sliced by example.
    pub shared: HashMap<String, Arc<ArrayD<T>>>,
    /// One entry per text of an example; empty for fixed-size examples.
    pub sequences: Vec<Sequences>,
    pub len: usize,
}

impl<T: Real> Split<T> {
    /// Fixed-size examples: every input sliced by example, nothing padded.
    pub fn new(inputs: HashMap<String, Arc<ArrayD<T>>>, len: usize) -> Split<T> {
        Split {
            inputs,
            shared: HashMap::new(),
            sequences: Vec::new(),
            len,
        }
    }

    /// Each text's longest length among the examples at `idx`.
    pub fn longest(&self, idx: &[usize]) -> Vec<(&'static str, usize)> {
        self.sequences
            .iter()
            .map(|q| {
                let n = idx.iter().map(|&i| q.lengths[i]).max().unwrap_or(0);
                (q.symbol, n)
            })
            .collect()
    }

    /// The examples at `idx`, in that order; padded inputs are cut to the
    /// longest of these examples.
    pub fn batch(&self, idx: &[usize]) -> Batch<T> {
        let seq_lens = self.longest(idx);
        let cut = |k: &str| {
            self.sequences
                .iter()
                .zip(&seq_lens)
                .find(|(q, _)| q.padded.iter().any(|p| p == k))
                .map(|(_, &(_, n))| n)
        };
        let mut inputs: HashMap<String, Arc<ArrayD<T>>> = self
            .inputs
            .iter()
            .map(|(k, v)| {
                // Cut the padding before gathering: one copy of the rows.
                let rows = match cut(k) {
                    Some(n) => v
                        .slice_axis(Axis(1), ndarray::Slice::from(..n))
                        .select(Axis(0), idx),
                    None => v.select(Axis(0), idx),
                };
                (k.clone(), Arc::new(rows))
            })
            .collect();
        for (k, v) in &self.shared {
            inputs.insert(k.clone(), Arc::clone(v));
        }
        Batch {
            inputs,
            size: idx.len(),
            seq_lens,
        }
    }

    pub fn all(&self) -> Batch<T> {
        let mut inputs = self.inputs.clone();
        for (k, v) in &self.shared {
            inputs.insert(k.clone(), Arc::clone(v));
        }
        Batch {
            inputs,
            size: self.len,
            seq_lens: self.longest(&(0..self.len).collect::<Vec<_>>()),
        }
    }

    /// An example's size for sorting by length: its texts' words together.
    fn words(&self, i: usize) -> usize {
        self.sequences.iter().map(|q| q.lengths[i]).sum()
    }

    /// How evaluation walks the split: fixed-size examples in one batch;
    /// texts by length, a few hundred at a time, so that no batch pads
    /// short sentences to the longest of the split.
    pub fn evaluation_batches(&self) -> Vec<Vec<usize>> {
        if self.sequences.is_empty() {
            return vec![(0..self.len).collect()];
        }
        let mut idx: Vec<usize> = (0..self.len).collect();
        idx.sort_by_key(|&i| self.words(i));
        idx.chunks(256).map(<[usize]>::to_vec).collect()
    }

    /// Reorders a shuffled epoch so that each batch holds examples of
    /// similar length: within pools of 20 batches (still random between
    /// pools) the examples are sorted by length. No-op for fixed-size data.
    pub fn bucket(&self, order: &mut [u32], batch: usize) {
        if self.sequences.is_empty() {
            return;
        }
        for pool in order.chunks_mut(batch.max(1) * 20) {
            pool.sort_by_key(|&i| self.words(i as usize));
        }
    }
}

#[derive(Clone, Debug)]
pub struct Dataset<T> {
    pub train: Split<T>,
    pub valid: Split<T>,
    pub test: Split<T>,
}

impl<T: Real> Dataset<T> {
    pub fn split(&self, part: Part) -> &Split<T> {
        match part {
            Part::Train => &self.train,
            Part::Valid => &self.valid,
            Part::Test => &self.test,
        }
    }
}

/// A data file's path as errors show it ([`lsmc_ir::data::shown_path`]):
/// paths reach the loaders relative to the working directory
/// (`models/sst/../../data/sst/train.txt`); the message names the file
/// looked for, wherever the command ran.
pub fn shown(path: &std::path::Path) -> String {
    lsmc_ir::data::shown_path(path).display().to_string()
}

/// Loads (or generates) the data a program's `data` line names.
pub fn load<T: Real>(source: &DataSource) -> Result<Dataset<T>, String> {
    match source {
        DataSource::SyntheticMixture(config) => Ok(synthetic::generate(config)),
        DataSource::Sst(sst) => sst::load(sst),
        DataSource::Table(t) => table::load(t)
            .map(|d| table_dataset(&d))
            .map_err(|e| e.to_string()),
        DataSource::HmmSequences(c) => hmm::generate(c),
    }
}

/// A table's splits as the model's inputs ([`table_split`]).
fn table_dataset<T: Real>(d: &table::TableData<T>) -> Dataset<T> {
    let split = |s| table_split(s, &d.embeddings);
    Dataset {
        train: split(&d.train),
        valid: split(&d.valid),
        test: split(&d.test),
    }
}

/// One encoded table split as the model's inputs: each text's token ids
/// under its name with its lengths (`lengths` for the first text's `N`,
/// `lengths_M` for the second's `M`, …), the classes as `y`, the word
/// vectors as `embeddings`.
pub fn table_split<T: Real>(s: &table::TableSplit<T>, embeddings: &Arc<ArrayD<T>>) -> Split<T> {
    let mut inputs = HashMap::from([("y".to_string(), Arc::clone(&s.labels))]);
    let mut sequences = Vec::new();
    for (text, symbol) in s.texts.iter().zip(TEXT_LENGTHS) {
        let lengths = text.lengths.iter().map(|&n| T::of(n as f64)).collect();
        let lengths =
            ArrayD::from_shape_vec(IxDyn(&[s.len]), lengths).expect("one length per example");
        inputs.insert(lengths_input(symbol), Arc::new(lengths));
        inputs.insert(text.name.clone(), Arc::clone(&text.tokens));
        sequences.push(Sequences {
            symbol,
            lengths: text.lengths.clone(),
            padded: vec![text.name.clone()],
        });
    }
    Split {
        inputs,
        shared: HashMap::from([("embeddings".to_string(), Arc::clone(embeddings))]),
        sequences,
        len: s.len,
    }
}
