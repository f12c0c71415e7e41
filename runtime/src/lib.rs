//! The lsmc runtime executes the computation graph that `lsmc-compiler`
//! lowers a checked spec to: forward, reverse-mode backward, optimisers and
//! the training loop, on the CPU (ndarray) with structured ops dispatched to
//! `lsmc-kernels` when a GPU is present.
//!
//! It is deliberately empty until the graph IR lands (issue 3): the crate
//! exists now so that the workspace layout — compiler → runtime → kernels —
//! is fixed before code is written against it.
