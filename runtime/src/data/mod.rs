//! Data sources: each split as named tensors with examples on the first
//! axis, and batching over them.

pub mod synthetic;

use crate::exec::Batch;
use crate::real::Real;
use lsmc_compiler::model::Model;
use ndarray::{ArrayD, Axis};
use std::collections::HashMap;
use std::sync::Arc;

/// One split: named tensors that share their first axis.
#[derive(Clone, Debug)]
pub struct Split<T> {
    pub inputs: HashMap<String, Arc<ArrayD<T>>>,
    pub len: usize,
}

impl<T: Real> Split<T> {
    /// The examples at `idx`, in that order.
    pub fn batch(&self, idx: &[usize]) -> Batch<T> {
        let inputs = self
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), Arc::new(v.select(Axis(0), idx))))
            .collect();
        Batch {
            inputs,
            size: idx.len(),
            seq_len: 0,
        }
    }

    pub fn all(&self) -> Batch<T> {
        Batch {
            inputs: self.inputs.clone(),
            size: self.len,
            seq_len: 0,
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
    pub fn split(&self, name: &str) -> &Split<T> {
        match name {
            "train" => &self.train,
            "valid" => &self.valid,
            _ => &self.test,
        }
    }
}

/// Loads (or generates) the data a model's `data` line names.
pub fn load<T: Real>(model: &Model) -> Result<Dataset<T>, String> {
    match model.data_source.as_str() {
        "synthetic_mixture" => Ok(synthetic::generate(&synthetic::Config::from_args(
            &model.data_args,
        ))),
        other => Err(format!(
            "the `{other}` data source has no reader in this runtime yet; synthetic specs run today"
        )),
    }
}
