//! The integration tests of the workspace, as one binary: every file is a
//! module, so the suite links once instead of once per file (most of a
//! clean `cargo test`'s time went to compiling and linking test binaries).
//! Run one file's tests with `cargo test --test it lsm_files::`.

mod cli;
mod graph_gradients;
mod infer;
mod inspect;
mod inspect_trees;
mod lsm_files;
mod mutations;
mod predict;
mod sst_data;
mod structures;
mod sweep;
mod train;
mod tree_latent;
