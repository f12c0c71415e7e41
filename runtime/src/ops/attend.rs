//! `Attend`: masked soft attention of one sequence over another, the
//! "attend" step of the decomposable attention model (Parikh et al. 2016):
//! `out[b, i] = Σ_{j < len_b} softmax_j(scores[b, i, ·])_j · values[b, j]`
//! with inputs `scores[B, N, M], values[B, M, D], lengths[B]` (the true
//! lengths of `values`' `M` axis). Positions `j ≥ len_b` get no weight, so
//! they never influence the output and receive zero gradient.

use crate::real::Real;
use ndarray::{s, Array3, ArrayD, ArrayView1, ArrayView2, ArrayViewMut1, Axis};

/// The valid prefix of `values`' axis for example `b`, clamped to `m`.
fn valid<T: Real>(lengths: &ArrayD<T>, b: usize, m: usize) -> usize {
    (lengths[[b]].f64().max(0.0) as usize).min(m)
}

/// Softmax over the first `l` entries of a row of scores, into `p` (whose
/// other entries stay zero). Stable: the maximum is subtracted first.
fn masked_softmax_row<T: Real>(scores: ArrayView1<T>, l: usize, mut p: ArrayViewMut1<T>) {
    let row = scores.slice(s![..l]);
    let max = row.fold(T::neg_infinity(), |m, &v| if v > m { v } else { m });
    let mut z = T::zero();
    for (o, &v) in p.slice_mut(s![..l]).iter_mut().zip(row.iter()) {
        *o = (v - max).exp();
        z += *o;
    }
    p.slice_mut(s![..l]).mapv_inplace(|v| v / z);
}

/// The output `[B, N, D]` and the attention weights `[B, N, M]`, kept for
/// the backward pass. An example whose length is 0 attends to nothing: its
/// rows (and weights) are zero rather than NaN.
pub fn attend<T: Real>(
    scores: &ArrayD<T>,
    values: &ArrayD<T>,
    lengths: &ArrayD<T>,
) -> (ArrayD<T>, ArrayD<T>) {
    let (b, n, m) = (scores.shape()[0], scores.shape()[1], scores.shape()[2]);
    let d = values.shape()[2];
    let mut out = Array3::zeros((b, n, d));
    let mut weights = Array3::zeros((b, n, m));
    for e in 0..b {
        let l = valid(lengths, e, m);
        if l == 0 {
            continue;
        }
        let mut p = weights.index_axis_mut(Axis(0), e);
        for (row, w) in as_2d(scores.index_axis(Axis(0), e))
            .outer_iter()
            .zip(p.outer_iter_mut())
        {
            masked_softmax_row(row, l, w);
        }
        let v = as_2d(values.index_axis(Axis(0), e));
        out.index_axis_mut(Axis(0), e)
            .assign(&weights.index_axis(Axis(0), e).dot(&v));
    }
    (out.into_dyn(), weights.into_dyn())
}

fn as_2d<T: Real>(a: ndarray::ArrayViewD<'_, T>) -> ArrayView2<'_, T> {
    a.into_dimensionality()
        .expect("a rank-3 tensor's slice is 2-D")
}

/// Gradients of `scores` and `values` (none for the lengths), from the
/// weights `p` the forward pass kept: `dv = pᵀ g`, `dp = g vᵀ`, and through
/// each row's softmax `ds = p ⊙ (dp − ⟨p, dp⟩)` (the softmax VJP), which is
/// zero wherever `p` is (the padding).
pub fn attend_vjp<T: Real>(
    values: &ArrayD<T>,
    weights: &ArrayD<T>,
    g: &ArrayD<T>,
) -> Vec<Option<ArrayD<T>>> {
    let mut dp = ArrayD::zeros(weights.raw_dim());
    let mut dv = ArrayD::zeros(values.raw_dim());
    for e in 0..weights.shape()[0] {
        let p = as_2d(weights.index_axis(Axis(0), e));
        let v = as_2d(values.index_axis(Axis(0), e));
        let ge = as_2d(g.index_axis(Axis(0), e));
        dv.index_axis_mut(Axis(0), e)
            .assign(&p.t().dot(&ge).into_dyn());
        dp.index_axis_mut(Axis(0), e)
            .assign(&ge.dot(&v.t()).into_dyn());
    }
    let ds = super::softmax::softmax_vjp(weights, &dp);
    vec![Some(ds), Some(dv), None]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gradcheck::{check_inputs, random};
    use lsmc_ir::graph::Op;
    use ndarray::arr1;

    fn lengths() -> ArrayD<f64> {
        arr1(&[3.0, 1.0, 4.0]).into_dyn()
    }

    #[test]
    fn attend_matches_a_direct_computation() {
        let (s, v, l) = (random(&[3, 2, 4], 1), random(&[3, 4, 5], 2), lengths());
        let (out, _) = attend(&s, &v, &l);
        for e in 0..3 {
            let len = l[[e]] as usize;
            for i in 0..2 {
                let z: f64 = (0..len).map(|j| s[[e, i, j]].exp()).sum();
                for k in 0..5 {
                    let want: f64 = (0..len)
                        .map(|j| s[[e, i, j]].exp() / z * v[[e, j, k]])
                        .sum();
                    assert!((out[[e, i, k]] - want).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn attend_vjp_matches_finite_differences() {
        check_inputs(
            &Op::Attend,
            &[random(&[3, 2, 4], 1), random(&[3, 4, 5], 2), lengths()],
        );
    }

    #[test]
    fn attend_ignores_padding_and_sends_it_no_gradient() {
        let (s, v, l) = (random(&[3, 2, 4], 3), random(&[3, 4, 2], 4), lengths());
        let (out, p) = attend(&s, &v, &l);
        let (mut s2, mut v2) = (s.clone(), v.clone());
        s2[[1, 0, 2]] = 1e6;
        v2[[1, 3, 1]] = -1e6;
        assert_eq!(out, attend(&s2, &v2, &l).0);
        let grads = attend_vjp(&v, &p, &random(&[3, 2, 2], 5));
        let (ds, dv) = (grads[0].as_ref().unwrap(), grads[1].as_ref().unwrap());
        assert!(ds.slice(s![1, .., 1..]).iter().all(|&x| x == 0.0));
        assert!(dv.slice(s![1, 1.., ..]).iter().all(|&x| x == 0.0));
        assert!(dv.slice(s![0, 3, ..]).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn an_empty_sequence_attends_to_nothing_without_nan() {
        let (s, v) = (random(&[1, 2, 3], 6), random(&[1, 3, 2], 7));
        let (out, p) = attend(&s, &v, &arr1(&[0.0]).into_dyn());
        assert!(out.iter().chain(p.iter()).all(|&x| x == 0.0));
    }
}
