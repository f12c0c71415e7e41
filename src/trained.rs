//! A trained run read back, for `lsmc eval` and `lsmc predict`: the run's
//! own `spec.lsm` (its `--set` flags are written into it), checked as if it
//! stood where the trained spec stood so that relative data and `use`
//! paths resolve as they did, and the parameters saved by training.

use crate::spec::{self, Loaded};
use crate::{Color, EXIT_DIAGNOSTICS, EXIT_USAGE};
use lsmc_compiler::Origin;
use lsmc_experiment::runs::{self, RunInfo};
pub use lsmc_experiment::trained::At;
use lsmc_experiment::trained::{origin, params_file};
use lsmc_runtime::latent::registry::catalog;
use lsmc_runtime::real::Real;
use lsmc_runtime::train;
use ndarray::ArrayD;
use std::path::Path;

pub struct Trained<T> {
    pub info: RunInfo,
    pub loaded: Loaded,
    pub params: Vec<ArrayD<T>>,
    /// The training step the parameters were saved at.
    pub step: u64,
}

/// The run's description and its spec, checked and lowered; the element
/// type is the run's (`run.json`'s precision).
pub fn load_spec(dir: &Path, color: Color) -> Result<(RunInfo, Loaded), u8> {
    let info = runs::read_info(dir).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })?;
    let spec_path = dir.join("spec.lsm");
    let text = std::fs::read_to_string(&spec_path).map_err(|e| {
        eprintln!(
            "error: cannot read `{}`: {}",
            spec_path.display(),
            crate::io_reason(&e)
        );
        EXIT_USAGE
    })?;
    let name = spec_path.display().to_string();
    let root = spec::run_data_root(info.data_root.as_deref());
    let report = lsmc_compiler::check_text_with(
        &name,
        &text,
        Origin::File(origin(dir, &info)),
        &[],
        catalog(),
        root.as_ref(),
    );
    let loaded = spec::from_report(report, &name, color)?;
    Ok((info, loaded))
}

/// [`load_spec`] and the parameters saved `at`.
pub fn load<T: Real>(dir: &Path, at: At, color: Color) -> Result<Trained<T>, u8> {
    let (info, loaded) = load_spec(dir, color)?;
    let file = params_file(dir, at).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })?;
    let (params, step) = train::saved_params::<T>(&loaded.program.graph, &file).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_DIAGNOSTICS
    })?;
    Ok(Trained {
        info,
        loaded,
        params,
        step,
    })
}
