//! The projective-tree ops of [`super::tree::Tree`] on the GPU selected by
//! [`crate::device`]: the same layout (`[B, N+1, N+1]` scores, lengths),
//! the same results as the CPU engine (tested on a GPU by
//! `kernels/tests/it/gpu.rs`). f64 graphs run the f64 kernels; f32 graphs
//! the f32 ones, except marginals of scores too far apart for f32 (see
//! [`F32_REACH`]), which run in f64.

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

/// The largest `(n + 1) × spread` of one sentence's arc scores at which
/// the f32 marginal kernels stay within about 2e-5 of the exact marginals.
/// Their log-space sums grow with it and f32 keeps 7 digits: the host
/// emulation measured errors of 3e-5 at 1.8e3, 2e-3 at 1.8e5 and
/// infinite marginals at 1.8e16 (`kernels/tests/it/emulated.rs`). Past it
/// the f64 kernels run; MAP (Eisner) finds the exact trees in f32 at any
/// finite spread, so it stays in f32.
pub const F32_REACH: f64 = 1e3;

/// The largest `(n + 1) × spread` over the sentences of `s` (row-major
/// `[B, n1, n1]` scores, `lengths` words each): the spread of each one's
/// arcs ([`super::tree::arc_ranges`]), ignoring scores that are not finite
/// (an impossible arc is no spread).
pub fn reach<T: Real>(s: &[T], n1: usize, lengths: &[usize]) -> f64 {
    let mut worst = 0.0f64;
    for (item, &n) in s.chunks_exact(n1 * n1).zip(lengths) {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for r in super::tree::arc_ranges(n1, n) {
            for x in item[r].iter().map(|x| x.f64()).filter(|x| x.is_finite()) {
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        if hi >= lo {
            worst = worst.max((n as f64 + 1.0) * (hi - lo));
        }
    }
    worst
}

/// Whether `s` runs the f32 marginal kernels.
fn f32_marginals<T: Real>(s: &ArrayD<T>, lengths: &[usize]) -> bool {
    if !is_f32::<T>() {
        return false;
    }
    let flat = s.as_standard_layout();
    reach(
        flat.as_slice().expect("standard layout"),
        s.shape()[1],
        lengths,
    ) <= F32_REACH
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
    if f32_marginals(s, lengths) {
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
    if f32_marginals(s, lengths) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reach_of_a_batch_is_its_widest_sentence_spread_times_its_size() {
        // Two sentences of 2 and 1 words in [2, 3, 3]; padding and the
        // root's column, the diagonal and infinities do not count.
        let mut s = ArrayD::<f32>::from_elem(IxDyn(&[2, 3, 3]), 1e30);
        for (h, m, x) in [
            (0, 1, 0.0),
            (0, 2, -4.0),
            (1, 2, -1.0),
            (2, 1, f32::NEG_INFINITY),
        ] {
            s[[0, h, m]] = x;
        }
        s[[1, 0, 1]] = -7.0;
        let of = |s: &ArrayD<f32>| reach(s.as_slice().unwrap(), 3, &[2, 1]);
        assert_eq!(of(&s), 3.0 * 4.0);
        assert!(f32_marginals(&s, &[2, 1]));
        s[[0, 1, 2]] = -400.0;
        assert_eq!(of(&s), 1200.0);
        assert!(!f32_marginals(&s, &[2, 1]), "past the reach: f64 kernels");
        assert!(!f32_marginals(&s.mapv(f64::from), &[2, 1]));
    }
}
