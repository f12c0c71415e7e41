//! Matrix products: `MatMul`, `AddBias` (together, `linear`) and `Bilinear`.

use super::{as_matrix, from_matrix, Fwd};
use crate::real::Real;
use ndarray::{ArrayD, Axis, IxDyn};

/// `x[…, K] · w[K, N]`, or a batched product when `w` has batch axes too.
pub fn matmul<T: Real>(x: &ArrayD<T>, w: &ArrayD<T>) -> ArrayD<T> {
    if w.ndim() == 2 {
        let k = w.shape()[0];
        let rows = x.len() / k.max(1);
        let y = as_matrix(x, rows).dot(&as_matrix(w, k));
        let mut dims = x.shape().to_vec();
        *dims.last_mut().expect("rank ≥ 1") = w.shape()[1];
        from_matrix(y, &dims)
    } else {
        batched(x, w, false, false)
    }
}

/// Batched product over leading axes: `a[…, M, K] · b[…, K, P]`, with
/// either side transposed in its last two axes.
fn batched<T: Real>(a: &ArrayD<T>, b: &ArrayD<T>, ta: bool, tb: bool) -> ArrayD<T> {
    let r = a.ndim();
    let batch: usize = a.shape()[..r - 2].iter().product();
    let (am, ak) = (a.shape()[r - 2], a.shape()[r - 1]);
    let (bk, bp) = (b.shape()[r - 2], b.shape()[r - 1]);
    let (m, p) = (if ta { ak } else { am }, if tb { bk } else { bp });
    let a3 = a
        .view()
        .into_shape_with_order((batch, am, ak))
        .expect("contiguous");
    let b3 = b
        .view()
        .into_shape_with_order((batch, bk, bp))
        .expect("contiguous");
    let mut out = ndarray::Array3::<T>::zeros((batch, m, p));
    for i in 0..batch {
        let ai = a3.index_axis(Axis(0), i);
        let bi = b3.index_axis(Axis(0), i);
        let ai = if ta { ai.reversed_axes() } else { ai };
        let bi = if tb { bi.reversed_axes() } else { bi };
        out.index_axis_mut(Axis(0), i).assign(&ai.dot(&bi));
    }
    let mut dims = a.shape()[..r - 2].to_vec();
    dims.extend([m, p]);
    out.into_shape_with_order(IxDyn(&dims))
        .expect("sizes agree")
}

pub fn matmul_vjp<T: Real>(
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    g: &ArrayD<T>,
    needs: &[bool],
) -> Vec<Option<ArrayD<T>>> {
    if w.ndim() == 2 {
        let (k, n) = (w.shape()[0], w.shape()[1]);
        let rows = x.len() / k.max(1);
        let gm = as_matrix(g, rows);
        let dx = needs[0].then(|| from_matrix(gm.dot(&as_matrix(w, k).t()), x.shape()));
        let dw = needs[1].then(|| from_matrix(as_matrix(x, rows).t().dot(&gm), &[k, n]));
        vec![dx, dw]
    } else {
        vec![
            needs[0].then(|| batched(g, w, false, true)),
            needs[1].then(|| batched(x, g, true, false)),
        ]
    }
}

/// `x[…, N] + b[N]`.
pub fn add_bias<T: Real>(x: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    x + b
}

pub fn add_bias_vjp<T: Real>(x: &ArrayD<T>, g: &ArrayD<T>) -> Vec<Option<ArrayD<T>>> {
    let n = *x.shape().last().expect("rank ≥ 1");
    let db = as_matrix(g, g.len() / n.max(1))
        .sum_axis(Axis(0))
        .into_dyn();
    vec![Some(g.clone()), Some(db)]
}

/// `y[b, o] = Σ_k a[b, k] Σ_d x[b, d] w[d, k, o]`: first `t = x · w` as a
/// `[B, K·O]` product (one GEMM), then a small contraction with `a`. `t` is
/// kept for the backward pass.
pub fn bilinear<T: Real>(a: &ArrayD<T>, x: &ArrayD<T>, w: &ArrayD<T>) -> Fwd<T> {
    let (bsz, k) = (a.shape()[0], a.shape()[1]);
    let (d, o) = (w.shape()[0], w.shape()[2]);
    let t = as_matrix(x, bsz).dot(&as_matrix(w, d)); // [B, K·O]
    let mut y = ndarray::Array2::<T>::zeros((bsz, o));
    for ((mut yr, ar), tr) in y
        .outer_iter_mut()
        .zip(as_matrix(a, bsz).outer_iter())
        .zip(t.outer_iter())
    {
        for kk in 0..k {
            let av = ar[kk];
            if av == T::zero() {
                continue;
            }
            for oo in 0..o {
                yr[oo] += av * tr[kk * o + oo];
            }
        }
    }
    Fwd {
        out: y.into_dyn(),
        aux: Some(t.into_dyn()),
    }
}

pub fn bilinear_vjp<T: Real>(
    a: &ArrayD<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    t: &ArrayD<T>,
    g: &ArrayD<T>,
    needs: &[bool],
) -> Vec<Option<ArrayD<T>>> {
    let (bsz, k) = (a.shape()[0], a.shape()[1]);
    let (d, o) = (w.shape()[0], w.shape()[2]);
    let (am, tm, gm) = (as_matrix(a, bsz), as_matrix(t, bsz), as_matrix(g, bsz));
    let mut da = ndarray::Array2::<T>::zeros((bsz, k));
    let mut dt = ndarray::Array2::<T>::zeros((bsz, k * o));
    for ((((ar, tr), gr), mut dar), mut dtr) in am
        .outer_iter()
        .zip(tm.outer_iter())
        .zip(gm.outer_iter())
        .zip(da.outer_iter_mut())
        .zip(dt.outer_iter_mut())
    {
        let (tr, gr) = (
            tr.as_slice().expect("contiguous row"),
            gr.as_slice().expect("contiguous row"),
        );
        let dtr = dtr.as_slice_mut().expect("contiguous row");
        for kk in 0..k {
            let mut s = T::zero();
            for oo in 0..o {
                s += tr[kk * o + oo] * gr[oo];
                dtr[kk * o + oo] = ar[kk] * gr[oo];
            }
            dar[kk] = s;
        }
    }
    let dw = needs[2].then(|| from_matrix(as_matrix(x, bsz).t().dot(&dt), &[d, k, o]));
    let dx = needs[1].then(|| from_matrix(dt.dot(&as_matrix(w, d).t()), x.shape()));
    vec![needs[0].then(|| da.into_dyn()), dx, dw]
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::check_op;
    use lsmc_compiler::ir::Op;

    #[test]
    fn matmul_vjp_matches_finite_differences() {
        check_op(&Op::MatMul, &[&[3, 4], &[4, 2]], &[]);
        check_op(&Op::MatMul, &[&[2, 3, 4], &[4, 5]], &[]);
        check_op(&Op::MatMul, &[&[2, 3, 4], &[2, 4, 5]], &[]);
    }

    #[test]
    fn add_bias_vjp_matches_finite_differences() {
        check_op(&Op::AddBias, &[&[3, 4], &[4]], &[]);
        check_op(&Op::AddBias, &[&[2, 3, 4], &[4]], &[]);
    }

    #[test]
    fn bilinear_vjp_matches_finite_differences() {
        check_op(&Op::Bilinear, &[&[4, 3], &[4, 5], &[5, 3, 2]], &[]);
    }

    #[test]
    fn bilinear_equals_its_definition() {
        use ndarray::{Array, IxDyn};
        let a = Array::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f64 * 0.1 - 0.2);
        let x = Array::from_shape_fn(IxDyn(&[2, 4]), |i| (i[0] + 2 * i[1]) as f64 * 0.3 - 0.5);
        let w = Array::from_shape_fn(IxDyn(&[4, 3, 2]), |i| {
            ((i[0] * 7 + i[1] * 3 + i[2]) % 5) as f64 - 2.0
        });
        let y = super::bilinear(&a, &x, &w).out;
        for b in 0..2 {
            for o in 0..2 {
                let mut want = 0.0;
                for k in 0..3 {
                    for d in 0..4 {
                        want += a[[b, k]] * w[[d, k, o]] * x[[b, d]];
                    }
                }
                assert!((y[[b, o]] - want).abs() < 1e-12);
            }
        }
    }
}
