//! The projective-tree ops of [`super::tree::Tree`] on the GPU selected by
//! [`crate::device`]: the same layout (`[B, N+1, N+1]` scores, lengths),
//! the same results as the CPU engine (tested on a GPU by
//! `kernels/tests/it/gpu.rs`). f32 graphs run the f32 kernels, f64 the
//! f64 ones.

use super::structure::StructureError;
use crate::real::Real;
use lsmc_kernels::cuda::{CudaError, Gpu};
use ndarray::{ArrayD, IxDyn};

fn device(e: CudaError) -> StructureError {
    StructureError::Device(e.to_string())
}

fn lengths_i32(lengths: &[usize]) -> Vec<i32> {
    lengths.iter().map(|&n| n as i32).collect()
}

fn array<T: Real, U: Copy + Into<f64>>(shape: &[usize], v: Vec<U>) -> ArrayD<T> {
    let v: Vec<T> = v.into_iter().map(|x| T::of(x.into())).collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("the kernels return the scores' shape")
}

fn is_f32<T: Real>() -> bool {
    T::NAME == "f32"
}

fn as_f32<T: Real>(a: &ArrayD<T>) -> Vec<f32> {
    a.iter().map(|x| x.f64() as f32).collect()
}

fn as_f64<T: Real>(a: &ArrayD<T>) -> Vec<f64> {
    a.iter().map(|x| x.f64()).collect()
}

pub fn map<T: Real>(
    gpu: &Gpu,
    s: &ArrayD<T>,
    lengths: &[usize],
    single_root: bool,
) -> Result<ArrayD<T>, StructureError> {
    let (n1, ls) = (s.shape()[1], lengths_i32(lengths));
    if is_f32::<T>() {
        let (_, z) = gpu.map(&as_f32(s), &ls, n1, single_root).map_err(device)?;
        Ok(array(s.shape(), z))
    } else {
        let (_, z) = gpu.map(&as_f64(s), &ls, n1, single_root).map_err(device)?;
        Ok(array(s.shape(), z))
    }
}

pub fn marginals<T: Real>(
    gpu: &Gpu,
    s: &ArrayD<T>,
    lengths: &[usize],
    single_root: bool,
) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
    let (n1, ls) = (s.shape()[1], lengths_i32(lengths));
    if is_f32::<T>() {
        let m = gpu
            .marginals(&as_f32(s), &ls, n1, single_root)
            .map_err(device)?;
        let log_z = m.log_z.iter().map(|&x| f64::from(x)).collect();
        Ok((log_z, array(s.shape(), m.mu)))
    } else {
        let m = gpu
            .marginals(&as_f64(s), &ls, n1, single_root)
            .map_err(device)?;
        Ok((m.log_z, array(s.shape(), m.mu)))
    }
}

pub fn marginals_vjp<T: Real>(
    gpu: &Gpu,
    s: &ArrayD<T>,
    lengths: &[usize],
    g: &ArrayD<T>,
    single_root: bool,
) -> Result<ArrayD<T>, StructureError> {
    let (n1, ls) = (s.shape()[1], lengths_i32(lengths));
    if is_f32::<T>() {
        let m = gpu
            .marginals_jvp(&as_f32(s), &as_f32(g), &ls, n1, single_root)
            .map_err(device)?;
        Ok(array(s.shape(), m.dmu))
    } else {
        let m = gpu
            .marginals_jvp(&as_f64(s), &as_f64(g), &ls, n1, single_root)
            .map_err(device)?;
        Ok(array(s.shape(), m.dmu))
    }
}
