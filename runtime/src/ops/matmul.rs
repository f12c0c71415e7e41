//! Matrix products: `MatMul`, `AddBias` (together, `linear`) and `Bilinear`.

use super::{as_matrix, from_matrix, gemm, Fwd};
use crate::real::Real;
use ndarray::{Array2, ArrayD, ArrayView2, Axis, IxDyn};

/// `a · b`, through the narrow kernels when `b` has few columns and
/// products run on one of `threads`.
fn dot<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, threads: usize) -> Array2<T> {
    let ((m, k), n) = (a.dim(), b.ncols());
    if m > 0 && k > 0 && gemm::applies::<T>(n, threads) {
        if let (Some(x), Some(w)) = (a.as_slice(), b.as_slice()) {
            return Array2::from_shape_vec((m, n), gemm::xw(x, m, k, w, n)).expect("m × n");
        }
    }
    a.dot(&b)
}

/// `aᵀ · b`, as [`dot`].
fn t_dot<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, threads: usize) -> Array2<T> {
    let ((m, k), n) = (a.dim(), b.ncols());
    if m > 0 && k > 0 && gemm::applies::<T>(n, threads) {
        if let (Some(x), Some(g)) = (a.as_slice(), b.as_slice()) {
            return Array2::from_shape_vec((k, n), gemm::xtg(x, m, k, g, n)).expect("k × n");
        }
    }
    a.t().dot(&b)
}

/// `x[…, K] · w[K, N]`, or a batched product when `w` has batch axes too.
pub fn matmul<T: Real>(x: &ArrayD<T>, w: &ArrayD<T>, threads: usize) -> ArrayD<T> {
    if w.ndim() == 2 {
        let k = w.shape()[0];
        let rows = x.len() / k.max(1);
        let y = dot(as_matrix(x, rows).view(), as_matrix(w, k).view(), threads);
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
    threads: usize,
) -> Vec<Option<ArrayD<T>>> {
    if w.ndim() == 2 {
        let (k, n) = (w.shape()[0], w.shape()[1]);
        let rows = x.len() / k.max(1);
        let gm = as_matrix(g, rows);
        let dx = needs[0].then(|| from_matrix(gm.dot(&as_matrix(w, k).t()), x.shape()));
        let dw = needs[1].then(|| {
            from_matrix(
                t_dot(as_matrix(x, rows).view(), gm.view(), threads),
                &[k, n],
            )
        });
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
pub fn bilinear<T: Real>(a: &ArrayD<T>, x: &ArrayD<T>, w: &ArrayD<T>, threads: usize) -> Fwd<T> {
    let bsz = a.shape()[0];
    let d = w.shape()[0];
    let t = dot(as_matrix(x, bsz).view(), as_matrix(w, d).view(), threads).into_dyn(); // [B, K·O]
    Fwd::with_array(bilinear_contract(a, &t, w.shape()[2]), t)
}

/// The second half of [`bilinear`]: `y[b, o] = Σ_k a[b, k] t[b, k·O + o]`
/// from the kept product `t = x · w`, which does not depend on `a` (so a
/// re-run at another `a` reuses it).
pub fn bilinear_contract<T: Real>(a: &ArrayD<T>, t: &ArrayD<T>, o: usize) -> ArrayD<T> {
    let (bsz, k) = (a.shape()[0], a.shape()[1]);
    let (am, tm) = (as_matrix(a, bsz), as_matrix(t, bsz));
    let (am, tm) = (
        am.as_slice().expect("standard layout"),
        tm.as_slice().expect("standard layout"),
    );
    let mut y = vec![T::zero(); bsz * o];
    if k > 0 && o > 0 {
        for ((yr, ar), tr) in y
            .chunks_exact_mut(o)
            .zip(am.chunks_exact(k))
            .zip(tm.chunks_exact(k * o))
        {
            for (&av, tk) in ar.iter().zip(tr.chunks_exact(o)) {
                if av == T::zero() {
                    continue;
                }
                for (yv, &tv) in yr.iter_mut().zip(tk) {
                    *yv += av * tv;
                }
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[bsz, o]), y).expect("B × O")
}

pub fn bilinear_vjp<T: Real>(
    a: &ArrayD<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    t: &ArrayD<T>,
    g: &ArrayD<T>,
    needs: &[bool],
    threads: usize,
) -> Vec<Option<ArrayD<T>>> {
    let (bsz, k) = (a.shape()[0], a.shape()[1]);
    let (d, o) = (w.shape()[0], w.shape()[2]);
    let (am, tm, gm) = (as_matrix(a, bsz), as_matrix(t, bsz), as_matrix(g, bsz));
    let (am, tm, gm) = (
        am.as_slice().expect("standard layout"),
        tm.as_slice().expect("standard layout"),
        gm.as_slice().expect("standard layout"),
    );
    let empty = k == 0 || o == 0;
    // `da[b, k] = ⟨t[b, k, ·], g[b, ·]⟩`
    let da = needs[0].then(|| {
        let mut da = vec![T::zero(); bsz * k];
        if !empty {
            for ((dar, tr), gr) in da
                .chunks_exact_mut(k)
                .zip(tm.chunks_exact(k * o))
                .zip(gm.chunks_exact(o))
            {
                for (dv, tk) in dar.iter_mut().zip(tr.chunks_exact(o)) {
                    let mut s = T::zero();
                    for (&tv, &gv) in tk.iter().zip(gr) {
                        s += tv * gv;
                    }
                    *dv = s;
                }
            }
        }
        ArrayD::from_shape_vec(IxDyn(&[bsz, k]), da).expect("B × K")
    });
    // `dt[b, k, o] = a[b, k] g[b, o]`, the gradient of the product, only
    // when `x` or `w` needs one.
    let dt = (needs[1] || needs[2]).then(|| {
        let mut dt = vec![T::zero(); bsz * k * o];
        if !empty {
            for ((dtr, ar), gr) in dt
                .chunks_exact_mut(k * o)
                .zip(am.chunks_exact(k))
                .zip(gm.chunks_exact(o))
            {
                for (dtk, &av) in dtr.chunks_exact_mut(o).zip(ar) {
                    for (dv, &gv) in dtk.iter_mut().zip(gr) {
                        *dv = av * gv;
                    }
                }
            }
        }
        Array2::from_shape_vec((bsz, k * o), dt).expect("B × K·O")
    });
    let dw = dt.as_ref().filter(|_| needs[2]).map(|dt| {
        from_matrix(
            t_dot(as_matrix(x, bsz).view(), dt.view(), threads),
            &[d, k, o],
        )
    });
    let dx = dt
        .as_ref()
        .filter(|_| needs[1])
        .map(|dt| from_matrix(dt.dot(&as_matrix(w, d).t()), x.shape()));
    vec![da, dx, dw]
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::check_op;
    use lsmc_ir::graph::Op;

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
        let y = super::bilinear(&a, &x, &w, 1).out;
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
