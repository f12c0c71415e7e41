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

/// The same source compiled ahead by NVRTC (`kernels/make-ptx.sh`), so that
/// a machine with only the NVIDIA driver runs the kernels; the tests check
/// that it is what the source compiles to.
pub const PROJECTIVE_PTX: &str = include_str!("../ptx/projective.ptx");

pub mod cuda;
#[cfg(feature = "emulate")]
pub mod emulated;
pub mod nvrtc;
pub mod plan;

/// A dual number as the kernels lay it out: value, tangent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dual<T> {
    pub v: T,
    pub t: T,
}

/// Log-partition per sentence, the marginals `[batch, n1, n1]` and, with
/// a direction `ds`, their derivative in that direction (the VJP).
#[derive(Clone, Debug)]
pub struct Marginals<T> {
    pub log_z: Vec<T>,
    pub mu: Vec<T>,
    pub dmu: Vec<T>,
}
