//! Hand-written CUDA kernels for structured inference over batches of
//! projective dependency trees (`cuda/projective.cu`: Eisner MAP, inside
//! and outside in log space, the marginals' VJP on dual numbers), the
//! launch plans every backend follows ([`plan`]), and the same kernels
//! compiled for the CPU and run through a small emulation of CUDA's
//! execution model ([`emulated`], feature `emulate`), which the tests
//! compare with the CPU engine of `lsmc-runtime`. CUDA stays optional:
//! this crate builds and its tests pass on machines without a GPU.

/// The kernels' source, as NVRTC compiles it.
pub const PROJECTIVE_CU: &str = include_str!("../cuda/projective.cu");

#[cfg(feature = "emulate")]
pub mod emulated;
pub mod nvrtc;
pub mod plan;
