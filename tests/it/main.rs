//! The integration tests of the workspace, as one binary: every file is a
//! module, so the suite links once instead of once per file (most of a
//! clean `cargo test`'s time went to compiling and linking test binaries).
//! Run one file's tests with `cargo test --test it lsm_files::`.

mod cli;
mod faults;
mod graph_gradients;
mod infer;
mod inspect;
mod inspect_trees;
mod limits;
mod lsm_files;
mod mutations;
mod pair_data;
mod paths;
mod predict;
mod predict_chains;
mod predict_pairs;
mod several_latents;
mod shared_layers;
mod slurm;
mod sst_data;
mod structure_ops_docs;
mod structures;
mod surrogate_diagnostics;
mod sweep;
mod train;
mod training_controls;
mod tree_latent;
mod writers;

/// The context the library-level tests run with: the CPU, every core (as
/// the command line without `--threads`), one pool shared by the suite.
pub fn cx() -> &'static lsmc_runtime::Context {
    static CX: std::sync::OnceLock<lsmc_runtime::Context> = std::sync::OnceLock::new();
    CX.get_or_init(lsmc_runtime::Context::default)
}
