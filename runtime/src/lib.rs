//! The lsmc runtime: executes the computation graph that `lsmc-compiler`
//! lowers a checked spec to — forward, reverse-mode backward (with the
//! latent node's backward running the surrogate program), optimisers, data
//! and the training loop — on the CPU with ndarray.

pub mod checkpoint;
pub mod context;
pub mod data;
pub mod device;
pub mod exec;
pub mod latent;
pub mod memory;
pub mod metrics;
pub mod ops;
pub mod optim;
pub mod real;
pub mod records;
pub mod run_lock;
pub mod schedule;
pub mod tensorboard;
pub mod text_limit;
pub mod train;
pub(crate) mod vectors;

pub use context::Context;
pub use real::Real;
