//! Hand-written CUDA kernels for structured inference (batched Eisner,
//! inside-outside) and the registry that loads them through cudarc.
//!
//! Empty until the CUDA backend lands (issue 8). CUDA stays optional: this
//! crate must build and its tests must pass on machines without a GPU.
