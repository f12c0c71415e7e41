//! The kernels' tests as one binary: the host emulation against the CPU
//! engine, NVRTC against the committed PTX, and the GPU when there is one.

mod common;
mod emulated;
mod gpu;
mod nvrtc;
