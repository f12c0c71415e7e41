//! Data sources: each split as named tensors with examples on the first
//! axis, and batching over them.

pub mod sst;
pub mod synthetic;
pub mod table;
pub mod vectors;

use crate::exec::Batch;
use crate::real::Real;
use lsmc_ir::data::DataSource;
use lsmc_ir::plan::Split as Part;
use ndarray::{ArrayD, Axis};
use std::collections::HashMap;
use std::sync::Arc;

/// One split: named tensors that share their first axis, tables every
/// example uses (word vectors), and for sentences their lengths.
#[derive(Clone, Debug)]
pub struct Split<T> {
    pub inputs: HashMap<String, Arc<ArrayD<T>>>,
    /// Passed whole to every batch, never sliced by example.
    pub shared: HashMap<String, Arc<ArrayD<T>>>,
    /// Words per example, for inputs padded along their second axis (named
    /// in `padded`); `None` for fixed-size examples.
    pub lengths: Option<Vec<usize>>,
    pub padded: Vec<String>,
    pub len: usize,
}

impl<T: Real> Split<T> {
    /// Fixed-size examples: every input sliced by example, nothing padded.
    pub fn new(inputs: HashMap<String, Arc<ArrayD<T>>>, len: usize) -> Split<T> {
        Split {
            inputs,
            shared: HashMap::new(),
            lengths: None,
            padded: Vec::new(),
            len,
        }
    }

    /// The examples at `idx`, in that order; padded inputs are cut to the
    /// longest of these examples.
    pub fn batch(&self, idx: &[usize]) -> Batch<T> {
        let seq_len = self
            .lengths
            .as_ref()
            .map_or(0, |l| idx.iter().map(|&i| l[i]).max().unwrap_or(0));
        let mut inputs: HashMap<String, Arc<ArrayD<T>>> = self
            .inputs
            .iter()
            .map(|(k, v)| {
                // Cut the padding before gathering: one copy of the rows.
                let rows = if self.padded.contains(k) {
                    v.slice_axis(Axis(1), ndarray::Slice::from(..seq_len))
                        .select(Axis(0), idx)
                } else {
                    v.select(Axis(0), idx)
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
            seq_len,
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
            seq_len: self
                .lengths
                .as_ref()
                .map_or(0, |l| l.iter().copied().max().unwrap_or(0)),
        }
    }

    /// How evaluation walks the split: fixed-size examples in one batch;
    /// sentences by length, a few hundred at a time, so that no batch pads
    /// short sentences to the longest of the split.
    pub fn evaluation_batches(&self) -> Vec<Vec<usize>> {
        match &self.lengths {
            None => vec![(0..self.len).collect()],
            Some(l) => {
                let mut idx: Vec<usize> = (0..self.len).collect();
                idx.sort_by_key(|&i| l[i]);
                idx.chunks(256).map(<[usize]>::to_vec).collect()
            }
        }
    }

    /// Reorders a shuffled epoch so that each batch holds sentences of
    /// similar length: within pools of 20 batches (still random between
    /// pools) the examples are sorted by length. No-op for fixed-size data.
    pub fn bucket(&self, order: &mut [u32], batch: usize) {
        if let Some(l) = &self.lengths {
            for pool in order.chunks_mut(batch.max(1) * 20) {
                pool.sort_by_key(|&i| l[i as usize]);
            }
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

/// Loads (or generates) the data a program's `data` line names.
pub fn load<T: Real>(source: &DataSource) -> Result<Dataset<T>, String> {
    match source {
        DataSource::SyntheticMixture(config) => Ok(synthetic::generate(config)),
        DataSource::Sst(sst) => sst::load(sst),
    }
}
