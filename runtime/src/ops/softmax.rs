//! Softmax, log-softmax and cross-entropy over the last axis, computed
//! stably (the row maximum is subtracted first). Categorical marginals and
//! sparsemax use the row helpers here too.

use super::as_matrix;
use crate::real::Real;
use ndarray::{ArrayD, ArrayView1, ArrayViewMut1};

fn last(a: &ArrayD<impl Clone>) -> usize {
    *a.shape().last().expect("rank ≥ 1")
}

/// What a row is shifted by before exponentiating: its maximum, or zero
/// for a row with no finite maximum (all −∞), so no NaN is made.
fn shift<T: Real>(x: ArrayView1<T>) -> T {
    let m = x.fold(T::neg_infinity(), |m, &v| if v > m { v } else { m });
    if m.is_finite() {
        m
    } else {
        T::zero()
    }
}

/// Softmax of one row into `out`.
pub fn softmax_row<T: Real>(x: ArrayView1<T>, mut out: ArrayViewMut1<T>) {
    let m = shift(x);
    let mut z = T::zero();
    for (o, &v) in out.iter_mut().zip(x.iter()) {
        *o = (v - m).exp();
        z += *o;
    }
    for o in out.iter_mut() {
        *o /= z;
    }
}

pub fn softmax<T: Real>(x: &ArrayD<T>) -> ArrayD<T> {
    let mut out = ArrayD::zeros(x.raw_dim());
    let n = last(x);
    let rows = x.len() / n.max(1);
    {
        let xm = as_matrix(x, rows);
        let mut om = out
            .view_mut()
            .into_shape_with_order((rows, n))
            .expect("fresh array");
        for (xr, or) in xm.outer_iter().zip(om.outer_iter_mut()) {
            softmax_row(xr, or);
        }
    }
    out
}

/// `y ⊙ (g − ⟨g, y⟩)` row by row, where `y` is the softmax output.
pub fn softmax_vjp<T: Real>(y: &ArrayD<T>, g: &ArrayD<T>) -> ArrayD<T> {
    let n = last(y);
    let rows = y.len() / n.max(1);
    let (ym, gm) = (as_matrix(y, rows), as_matrix(g, rows));
    let mut out = ndarray::Array2::zeros((rows, n));
    for ((yr, gr), mut or) in ym
        .outer_iter()
        .zip(gm.outer_iter())
        .zip(out.outer_iter_mut())
    {
        let dot: T = yr.iter().zip(gr.iter()).map(|(&a, &b)| a * b).sum();
        for ((o, &yv), &gv) in or.iter_mut().zip(yr.iter()).zip(gr.iter()) {
            *o = yv * (gv - dot);
        }
    }
    super::from_matrix(out, y.shape())
}

pub fn log_softmax<T: Real>(x: &ArrayD<T>) -> ArrayD<T> {
    let n = last(x);
    let rows = x.len() / n.max(1);
    let xm = as_matrix(x, rows);
    let mut out = ndarray::Array2::zeros((rows, n));
    for (xr, mut or) in xm.outer_iter().zip(out.outer_iter_mut()) {
        let m = shift(xr);
        let lse = m + xr.iter().map(|&v| (v - m).exp()).sum::<T>().ln();
        for (o, &v) in or.iter_mut().zip(xr.iter()) {
            *o = v - lse;
        }
    }
    super::from_matrix(out, x.shape())
}

/// `g − softmax(x) Σ g`, with `softmax(x) = exp(y)`.
pub fn log_softmax_vjp<T: Real>(y: &ArrayD<T>, g: &ArrayD<T>) -> ArrayD<T> {
    let n = last(y);
    let rows = y.len() / n.max(1);
    let (ym, gm) = (as_matrix(y, rows), as_matrix(g, rows));
    let mut out = ndarray::Array2::zeros((rows, n));
    for ((yr, gr), mut or) in ym
        .outer_iter()
        .zip(gm.outer_iter())
        .zip(out.outer_iter_mut())
    {
        let s: T = gr.sum();
        for ((o, &yv), &gv) in or.iter_mut().zip(yr.iter()).zip(gr.iter()) {
            *o = gv - yv.exp() * s;
        }
    }
    super::from_matrix(out, y.shape())
}

/// Per-example `−log softmax(logits)[label]`.
pub fn cross_entropy_rows<T: Real>(logits: &ArrayD<T>, labels: &ArrayD<T>) -> Vec<T> {
    let ls = log_softmax(logits);
    let m = super::rows(&ls);
    labels
        .iter()
        .enumerate()
        .map(|(b, &l)| -m[[b, l.f64() as usize]])
        .collect()
}

/// Mean cross-entropy over the batch: a scalar (rank-0 array).
pub fn cross_entropy<T: Real>(logits: &ArrayD<T>, labels: &ArrayD<T>) -> ArrayD<T> {
    let rows = cross_entropy_rows(logits, labels);
    let n = T::of(rows.len().max(1) as f64);
    ndarray::arr0(rows.into_iter().sum::<T>() / n).into_dyn()
}

/// `(softmax(logits) − onehot(label)) · g / B`.
pub fn cross_entropy_vjp<T: Real>(
    logits: &ArrayD<T>,
    labels: &ArrayD<T>,
    g: &ArrayD<T>,
) -> ArrayD<T> {
    let mut p = softmax(logits);
    let b = logits.shape()[0];
    let scale = g.iter().next().copied().unwrap_or(T::one()) / T::of(b.max(1) as f64);
    {
        let n = last(logits);
        let mut pm = p
            .view_mut()
            .into_shape_with_order((b, n))
            .expect("fresh array");
        for (i, &l) in labels.iter().enumerate() {
            pm[[i, l.f64() as usize]] -= T::one();
        }
    }
    p.mapv_inplace(|v| v * scale);
    p
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::{check_op, random};
    use lsmc_ir::graph::Op;

    #[test]
    fn softmax_and_log_softmax_vjps_match_finite_differences() {
        check_op(&Op::Softmax, &[&[3, 5]], &[]);
        check_op(&Op::LogSoftmax, &[&[2, 3, 4]], &[]);
    }

    #[test]
    fn cross_entropy_vjp_matches_finite_differences() {
        check_op(&Op::CrossEntropy, &[&[6, 3], &[6]], &[(1, 3)]);
    }

    #[test]
    fn cross_entropy_of_uniform_logits_is_log_classes() {
        let logits = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[4, 5]));
        let labels = ndarray::arr1(&[0.0, 1.0, 4.0, 2.0]).into_dyn();
        let l = super::cross_entropy(&logits, &labels);
        assert!((l[[]] - 5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn softmax_survives_huge_scores() {
        let x = random(&[2, 4], 9).mapv(|v| v * 1e4);
        let y = super::softmax(&x);
        assert!(y.iter().all(|v| v.is_finite()));
        let ls = super::log_softmax(&x);
        assert!(ls.iter().all(|v| v.is_finite()));
    }
}
