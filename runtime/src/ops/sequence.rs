//! Ops over padded sentences `x[B, N, D]` with true lengths `lengths[B]`:
//! one LSTM direction (`Lstm`), the arc scorer's pieces (`PrependRoot`,
//! `PairScore`), the tree-weighted head average (`Heads`) and attention
//! pooling (`AttentionPool`). Positions at or past a sentence's length
//! never influence anything: they read as zero and get zero gradient.

use crate::real::Real;
use ndarray::{s, Array2, ArrayD, ArrayView2, Axis, IxDyn};

fn len<T: Real>(lengths: &ArrayD<T>, b: usize) -> usize {
    lengths[[b]].f64() as usize
}

/// `Σ a_k b_k` with eight running sums, which the compiler keeps in one
/// vector register (a single running sum forces one add after another).
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .fold(T::zero(), |t, (&x, &y)| t + x * y);
    for (xa, xb) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += xa[l] * xb[l];
        }
    }
    acc.iter().fold(tail, |t, &x| t + x)
}

/// The LSTM gate activations in place over `[i | f | g | o]` pre-activations
/// (`hd` each): σ for i, f, o as `½ + ½·tanh(x/2)` and tanh for g, so that
/// all four go through one vectorised tanh.
fn activate_gates<T: Real>(gates: &mut [T], hd: usize) {
    let half = T::of(0.5);
    for (q, x) in gates.iter_mut().enumerate() {
        if q / hd != 2 {
            *x *= half;
        }
    }
    T::tanh_in_place(gates);
    for (q, x) in gates.iter_mut().enumerate() {
        if q / hd != 2 {
            *x = half + half * *x;
        }
    }
}

/// Sizes, weight matrices and lengths, as both LSTM passes read them.
struct LstmDims<'a, T> {
    bsz: usize,
    n: usize,
    e: usize,
    hd: usize,
    w_ih: ArrayView2<'a, T>,
    w_hh: ArrayView2<'a, T>,
    lens: Vec<usize>,
}

impl<'a, T: Real> LstmDims<'a, T> {
    fn of(
        x: &ArrayD<T>,
        lengths: &ArrayD<T>,
        w_ih: &'a ArrayD<T>,
        w_hh: &'a ArrayD<T>,
    ) -> LstmDims<'a, T> {
        let (bsz, n, e) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let hd = w_ih.shape()[1] / 4;
        LstmDims {
            bsz,
            n,
            e,
            hd,
            w_ih: w_ih
                .view()
                .into_shape_with_order((e, 4 * hd))
                .expect("[E, 4H]"),
            w_hh: w_hh
                .view()
                .into_shape_with_order((hd, 4 * hd))
                .expect("[H, 4H]"),
            lens: (0..bsz).map(|b| len(lengths, b)).collect(),
        }
    }
}

/// One LSTM direction with PyTorch's gate order (input, forget, cell,
/// output): `a = x_t·W_ih + b_ih + h_{t−1}·W_hh + b_hh`, `c_t = f⊙c_{t−1} + i⊙g`,
/// `h_t = o⊙tanh(c_t)`. `reverse` reads each sentence from its own last
/// word back to its first (not from the padding). Inputs
/// `x[B, N, E], lengths[B], w_ih[E, 4H], w_hh[H, 4H], b_ih[4H], b_hh[4H]`;
/// output `h[B, N, H]`, zero past each length. The auxiliary keeps the
/// activated gates and the cell, `[B, N, 5H]`, for the backward pass.
pub fn lstm<T: Real>(
    x: &ArrayD<T>,
    lengths: &ArrayD<T>,
    w_ih: &ArrayD<T>,
    w_hh: &ArrayD<T>,
    b_ih: &ArrayD<T>,
    b_hh: &ArrayD<T>,
    reverse: bool,
) -> (ArrayD<T>, ArrayD<T>) {
    let LstmDims {
        bsz,
        n,
        e,
        hd,
        w_ih,
        w_hh,
        lens,
    } = LstmDims::of(x, lengths, w_ih, w_hh);
    let mut out = ArrayD::zeros(IxDyn(&[bsz, n, hd]));
    let mut aux = ArrayD::zeros(IxDyn(&[bsz, n, 5 * hd]));
    // All input projections at once: one product instead of N.
    let xw = x
        .view()
        .into_shape_with_order((bsz * n, e))
        .expect("contiguous")
        .dot(&w_ih);
    let mut h = Array2::<T>::zeros((bsz, hd));
    let mut c = Array2::<T>::zeros((bsz, hd));
    let (mut gates, mut cell, mut tanh_cell) = (
        vec![T::zero(); 4 * hd],
        vec![T::zero(); hd],
        vec![T::zero(); hd],
    );
    for step in 0..n {
        let a_h = h.dot(&w_hh);
        for b in 0..bsz {
            if step >= lens[b] {
                continue;
            }
            let t = if reverse { lens[b] - 1 - step } else { step };
            let row = xw.row(b * n + t);
            for (q, x) in gates.iter_mut().enumerate() {
                *x = row[q] + b_ih[[q]] + a_h[[b, q]] + b_hh[[q]];
            }
            activate_gates(&mut gates, hd);
            for j in 0..hd {
                let (i, f, g) = (gates[j], gates[hd + j], gates[2 * hd + j]);
                cell[j] = f * c[[b, j]] + i * g;
                c[[b, j]] = cell[j];
            }
            tanh_cell.copy_from_slice(&cell);
            T::tanh_in_place(&mut tanh_cell);
            let mut au = aux.slice_mut(s![b, t, ..]);
            for j in 0..hd {
                let hn = gates[3 * hd + j] * tanh_cell[j];
                h[[b, j]] = hn;
                out[[b, t, j]] = hn;
                au[4 * hd + j] = cell[j];
            }
            for (q, &x) in gates.iter().enumerate() {
                au[q] = x;
            }
        }
    }
    (out, aux)
}

/// Backpropagation through time for [`lstm`]: gradients of
/// `x, w_ih, w_hh, b_ih, b_hh` (none for the lengths).
#[allow(clippy::too_many_arguments)]
pub fn lstm_vjp<T: Real>(
    x: &ArrayD<T>,
    lengths: &ArrayD<T>,
    w_ih: &ArrayD<T>,
    w_hh: &ArrayD<T>,
    out: &ArrayD<T>,
    aux: &ArrayD<T>,
    g: &ArrayD<T>,
    reverse: bool,
) -> Vec<Option<ArrayD<T>>> {
    let LstmDims {
        bsz,
        n,
        e,
        hd,
        w_ih,
        w_hh,
        lens,
    } = LstmDims::of(x, lengths, w_ih, w_hh);
    let h4 = 4 * hd;
    // Pre-activation gradients of every (sentence, position), then three
    // products: dx = dA·W_ihᵀ, dW_ih = xᵀ·dA, dW_hh = h_prevᵀ·dA.
    let mut da = Array2::<T>::zeros((bsz * n, h4));
    let mut h_prev = Array2::<T>::zeros((bsz * n, hd));
    let mut dh_next = Array2::<T>::zeros((bsz, hd));
    let mut dc_next = Array2::<T>::zeros((bsz, hd));
    let mut tanh_cell = vec![T::zero(); hd];
    for step in (0..n).rev() {
        let mut rows = Array2::<T>::zeros((bsz, h4));
        for b in 0..bsz {
            if step >= lens[b] {
                continue;
            }
            let t = if reverse { lens[b] - 1 - step } else { step };
            let prev = (step > 0).then(|| if reverse { t + 1 } else { t - 1 });
            let au = aux.slice(s![b, t, ..]);
            for (j, x) in tanh_cell.iter_mut().enumerate() {
                *x = au[4 * hd + j];
            }
            T::tanh_in_place(&mut tanh_cell);
            for j in 0..hd {
                let (i, f, gg, o) = (au[j], au[hd + j], au[2 * hd + j], au[3 * hd + j]);
                let c_prev = prev.map_or(T::zero(), |p| aux[[b, p, 4 * hd + j]]);
                let tc = tanh_cell[j];
                let dh = g[[b, t, j]] + dh_next[[b, j]];
                let d_o = dh * tc;
                let dc = dh * o * (T::one() - tc * tc) + dc_next[[b, j]];
                let di = dc * gg;
                let dg = dc * i;
                let df = dc * c_prev;
                dc_next[[b, j]] = dc * f;
                rows[[b, j]] = di * i * (T::one() - i);
                rows[[b, hd + j]] = df * f * (T::one() - f);
                rows[[b, 2 * hd + j]] = dg * (T::one() - gg * gg);
                rows[[b, 3 * hd + j]] = d_o * o * (T::one() - o);
                if let Some(p) = prev {
                    h_prev[[b * n + t, j]] = out[[b, p, j]];
                }
            }
            da.row_mut(b * n + t).assign(&rows.row(b));
        }
        // Rows of sentences shorter than `step` are zero: nothing flows
        // back into their padding.
        dh_next = rows.dot(&w_hh.t());
    }
    let xm: ArrayView2<T> = x
        .view()
        .into_shape_with_order((bsz * n, e))
        .expect("contiguous");
    let dx = da.dot(&w_ih.t()).into_shape_with_order(IxDyn(&[bsz, n, e]));
    let dw_ih = xm.t().dot(&da).into_dyn();
    let dw_hh = h_prev.t().dot(&da).into_dyn();
    let db = da.sum_axis(Axis(0)).into_dyn();
    vec![
        Some(dx.expect("same size")),
        None,
        Some(dw_ih),
        Some(dw_hh),
        Some(db.clone()),
        Some(db),
    ]
}

/// `h[B, N, D]`, `root[D]` → `[B, N+1, D]` with the root first: the
/// representation of head 0 in the arc scorer.
pub fn prepend_root<T: Real>(h: &ArrayD<T>, root: &ArrayD<T>) -> ArrayD<T> {
    let (b, n, d) = (h.shape()[0], h.shape()[1], h.shape()[2]);
    let mut out = ArrayD::zeros(IxDyn(&[b, n + 1, d]));
    for i in 0..b {
        out.slice_mut(s![i, 0, ..]).assign(&root.view());
        out.slice_mut(s![i, 1.., ..])
            .assign(&h.slice(s![i, .., ..]));
    }
    out
}

pub fn prepend_root_vjp<T: Real>(g: &ArrayD<T>) -> Vec<Option<ArrayD<T>>> {
    let dh = g.slice(s![.., 1.., ..]).to_owned().into_dyn();
    let dr = g.slice(s![.., 0, ..]).sum_axis(Axis(0)).into_dyn();
    vec![Some(dh), Some(dr)]
}

/// Eq. 23 after the rewrite `Wᵀ[h_i; h_j] = W₁ᵀh_i + W₂ᵀh_j`: with the
/// per-word projections `p = h·W₁`, `q = h·W₂` (`[B, M, K]`) computed once,
/// `s[b, i, j] = Σ_k v_k tanh(p[b, i, k] + q[b, j, k] + c_k)`: O(M²K) instead
/// of O(M²DK). Inputs `p, q, c[K], v[K]`; the auxiliary keeps the tanh
/// values `[B, M, M, K]`.
pub fn pair_score<T: Real>(
    p: &ArrayD<T>,
    q: &ArrayD<T>,
    c: &ArrayD<T>,
    v: &ArrayD<T>,
) -> (ArrayD<T>, ArrayD<T>) {
    let (b, m, k) = (p.shape()[0], p.shape()[1], p.shape()[2]);
    let mut out = ArrayD::zeros(IxDyn(&[b, m, m]));
    let mut th = vec![T::zero(); b * m * m * k];
    let (ps, qs) = (
        p.as_slice().expect("contiguous"),
        q.as_slice().expect("contiguous"),
    );
    let (cs, vs) = (
        c.as_slice().expect("contiguous"),
        v.as_slice().expect("contiguous"),
    );
    let os = out.as_slice_mut().expect("contiguous");
    for bi in 0..b {
        for i in 0..m {
            let pr = &ps[(bi * m + i) * k..][..k];
            // One head's row of pre-activations, then one vectorised tanh
            // over all of it.
            let row = &mut th[(bi * m + i) * m * k..][..m * k];
            for (j, tr) in row.chunks_exact_mut(k).enumerate() {
                let qr = &qs[(bi * m + j) * k..][..k];
                for kk in 0..k {
                    tr[kk] = pr[kk] + qr[kk] + cs[kk];
                }
            }
            T::tanh_in_place(row);
            for (j, tr) in row.chunks_exact(k).enumerate() {
                os[(bi * m + i) * m + j] = dot(tr, vs);
            }
        }
    }
    (
        out,
        ArrayD::from_shape_vec(IxDyn(&[b, m, m, k]), th).expect("sized above"),
    )
}

pub fn pair_score_vjp<T: Real>(
    p: &ArrayD<T>,
    v: &ArrayD<T>,
    th: &ArrayD<T>,
    g: &ArrayD<T>,
) -> Vec<Option<ArrayD<T>>> {
    let (b, m, k) = (p.shape()[0], p.shape()[1], p.shape()[2]);
    let mut dp = vec![T::zero(); b * m * k];
    let mut dq = vec![T::zero(); b * m * k];
    let mut dc = vec![T::zero(); k];
    let mut dv = vec![T::zero(); k];
    let (ts, gs, vs) = (
        th.as_slice().expect("contiguous"),
        g.as_slice().expect("contiguous"),
        v.as_slice().expect("contiguous"),
    );
    let mut pre = vec![T::zero(); k];
    for bi in 0..b {
        for i in 0..m {
            for j in 0..m {
                let gv = gs[(bi * m + i) * m + j];
                if gv == T::zero() {
                    continue;
                }
                let tr = &ts[((bi * m + i) * m + j) * k..][..k];
                for kk in 0..k {
                    dv[kk] += gv * tr[kk];
                    pre[kk] = gv * vs[kk] * (T::one() - tr[kk] * tr[kk]);
                }
                let pi = &mut dp[(bi * m + i) * k..][..k];
                for kk in 0..k {
                    pi[kk] += pre[kk];
                }
                let qj = &mut dq[(bi * m + j) * k..][..k];
                for kk in 0..k {
                    qj[kk] += pre[kk];
                    dc[kk] += pre[kk];
                }
            }
        }
    }
    let arr = |v: Vec<T>, shape: &[usize]| ArrayD::from_shape_vec(IxDyn(shape), v).expect("sized");
    vec![
        Some(arr(dp, &[b, m, k])),
        Some(arr(dq, &[b, m, k])),
        Some(arr(dc, &[k])),
        Some(arr(dv, &[k])),
    ]
}

/// The paper's `h̄_i = Σ_j µ[j→i] h_j` over word heads j (a word attached
/// to the root gets nothing from it): `z[B, N+1, N+1]` (head, modifier;
/// index 0 the root), `h[B, N, D]` → `[B, N, D]`, i.e. `Z[1:, 1:]ᵀ·h` per
/// sentence.
pub fn heads<T: Real>(z: &ArrayD<T>, h: &ArrayD<T>) -> ArrayD<T> {
    let (b, n, d) = (h.shape()[0], h.shape()[1], h.shape()[2]);
    let mut out = ArrayD::zeros(IxDyn(&[b, n, d]));
    for i in 0..b {
        let zi = z.slice(s![i, 1.., 1..]);
        let hi = h.slice(s![i, .., ..]);
        out.slice_mut(s![i, .., ..]).assign(&zi.t().dot(&hi));
    }
    out
}

pub fn heads_vjp<T: Real>(z: &ArrayD<T>, h: &ArrayD<T>, g: &ArrayD<T>) -> Vec<Option<ArrayD<T>>> {
    let b = h.shape()[0];
    let mut dz = ArrayD::zeros(z.raw_dim());
    let mut dh = ArrayD::zeros(h.raw_dim());
    for i in 0..b {
        let zi = z.slice(s![i, 1.., 1..]);
        let hi = h.slice(s![i, .., ..]);
        let gi = g.slice(s![i, .., ..]);
        dz.slice_mut(s![i, 1.., 1..]).assign(&hi.dot(&gi.t()));
        dh.slice_mut(s![i, .., ..]).assign(&zi.dot(&gi));
    }
    vec![Some(dz), Some(dh)]
}

/// `Σ_i α_i x_i` with `α = softmax_i(x_i·w)` over each sentence's words:
/// inputs `x[B, N, D], lengths[B], w[D]` → `[B, D]`. The auxiliary keeps α.
pub fn attention_pool<T: Real>(
    x: &ArrayD<T>,
    lengths: &ArrayD<T>,
    w: &ArrayD<T>,
) -> (ArrayD<T>, ArrayD<T>) {
    let (b, n, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let mut out = ArrayD::zeros(IxDyn(&[b, d]));
    let mut alpha = ArrayD::zeros(IxDyn(&[b, n]));
    for i in 0..b {
        let l = len(lengths, i).min(n);
        if l == 0 {
            continue;
        }
        let xi = x.slice(s![i, ..l, ..]);
        let e = xi.dot(&w.view().into_shape_with_order(d).expect("[D]"));
        let mx = e.iter().copied().fold(T::neg_infinity(), T::max);
        let ex = e.mapv(|v| (v - mx).exp());
        let z = ex.sum();
        for t in 0..l {
            alpha[[i, t]] = ex[t] / z;
        }
        let a = alpha.slice(s![i, ..l]);
        out.slice_mut(s![i, ..]).assign(&a.dot(&xi));
    }
    (out, alpha)
}

pub fn attention_pool_vjp<T: Real>(
    x: &ArrayD<T>,
    lengths: &ArrayD<T>,
    w: &ArrayD<T>,
    alpha: &ArrayD<T>,
    g: &ArrayD<T>,
) -> Vec<Option<ArrayD<T>>> {
    let (b, d) = (x.shape()[0], x.shape()[2]);
    let n = x.shape()[1];
    let w1 = w.view().into_shape_with_order(d).expect("[D]");
    let mut dx = ArrayD::zeros(x.raw_dim());
    let mut dw = ndarray::Array1::<T>::zeros(d);
    for i in 0..b {
        let l = len(lengths, i).min(n);
        if l == 0 {
            continue;
        }
        let xi = x.slice(s![i, ..l, ..]);
        let gi = g.slice(s![i, ..]);
        let a = alpha.slice(s![i, ..l]);
        // dL/dα_t = g·x_t; through the softmax, de_t = α_t (g·x_t − Σ α g·x).
        let gx = xi.dot(&gi);
        let mean = a.dot(&gx);
        for t in 0..l {
            let de = a[t] * (gx[t] - mean);
            let mut row = dx.slice_mut(s![i, t, ..]);
            row.scaled_add(a[t], &gi);
            row.scaled_add(de, &w1);
            dw.scaled_add(de, &xi.row(t));
        }
    }
    vec![Some(dx), None, Some(dw.into_dyn())]
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
    fn lstm_vjp_matches_finite_differences_in_both_directions() {
        for reverse in [false, true] {
            let inputs = vec![
                random(&[3, 4, 2], 1),
                lengths(),
                random(&[2, 12], 2),
                random(&[3, 12], 3),
                random(&[12], 4),
                random(&[12], 5),
            ];
            check_inputs(&Op::Lstm { reverse }, &inputs);
        }
    }

    #[test]
    fn lstm_matches_a_hand_unrolled_cell_and_ignores_padding() {
        // One sentence of two words, H = 1: the recurrence written out.
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 3, 1]), vec![0.5, -1.0, 99.0]).unwrap();
        let w_ih = arr1(&[0.1, 0.2, 0.3, 0.4])
            .into_dyn()
            .into_shape_with_order(IxDyn(&[1, 4]))
            .unwrap();
        let w_hh = arr1(&[-0.3, 0.5, 0.7, -0.2])
            .into_dyn()
            .into_shape_with_order(IxDyn(&[1, 4]))
            .unwrap();
        let b_ih = arr1(&[0.01, 0.02, 0.03, 0.04]).into_dyn();
        let b_hh = arr1(&[0.05, -0.06, 0.07, -0.08]).into_dyn();
        let len = arr1(&[2.0]).into_dyn();
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let cell = |xv: f64, h: f64, c: f64| {
            let pre = |q: usize| xv * w_ih[[0, q]] + b_ih[[q]] + h * w_hh[[0, q]] + b_hh[[q]];
            let (i, f, g, o) = (sig(pre(0)), sig(pre(1)), pre(2).tanh(), sig(pre(3)));
            let c = f * c + i * g;
            (o * c.tanh(), c)
        };
        let (h1, c1) = cell(0.5, 0.0, 0.0);
        let (h2, _) = cell(-1.0, h1, c1);
        let (out, _) = lstm(&x, &len, &w_ih, &w_hh, &b_ih, &b_hh, false);
        assert!((out[[0, 0, 0]] - h1).abs() < 1e-15 && (out[[0, 1, 0]] - h2).abs() < 1e-15);
        assert_eq!(out[[0, 2, 0]], 0.0, "padding stays zero");
        // Backwards, the second word is read first.
        let (r2, rc2) = cell(-1.0, 0.0, 0.0);
        let (r1, _) = cell(0.5, r2, rc2);
        let (out, _) = lstm(&x, &len, &w_ih, &w_hh, &b_ih, &b_hh, true);
        assert!((out[[0, 1, 0]] - r2).abs() < 1e-15 && (out[[0, 0, 0]] - r1).abs() < 1e-15);
    }

    #[test]
    fn arc_scorer_pieces_match_finite_differences() {
        check_inputs(&Op::PrependRoot, &[random(&[2, 3, 4], 1), random(&[4], 2)]);
        check_inputs(
            &Op::PairScore,
            &[
                random(&[2, 4, 3], 1),
                random(&[2, 4, 3], 2),
                random(&[3], 3),
                random(&[3], 4),
            ],
        );
    }

    #[test]
    fn pair_score_is_equation_23_on_concatenated_words() {
        // vᵀ tanh(Wᵀ[h_i; h_j] + c) with W = [W₁; W₂], computed directly.
        let (m, d, k) = (3, 2, 4);
        let h = random(&[1, m, d], 1);
        let w = random(&[2 * d, k], 2);
        let (c, v) = (random(&[k], 3), random(&[k], 4));
        fn two(a: ndarray::ArrayViewD<'_, f64>) -> ndarray::ArrayView2<'_, f64> {
            a.into_dimensionality().unwrap()
        }
        let w1 = two(w.slice(s![..d, ..]).into_dyn());
        let w2 = two(w.slice(s![d.., ..]).into_dyn());
        let hm = two(h.slice(s![0, .., ..]).into_dyn());
        let p = hm.dot(&w1).insert_axis(Axis(0)).into_dyn();
        let q = hm.dot(&w2).insert_axis(Axis(0)).into_dyn();
        let (s_, _) = pair_score(&p, &q, &c, &v);
        for i in 0..m {
            for j in 0..m {
                let mut want = 0.0;
                for kk in 0..k {
                    let mut pre = c[[kk]];
                    for dd in 0..d {
                        pre += w[[dd, kk]] * h[[0, i, dd]] + w[[d + dd, kk]] * h[[0, j, dd]];
                    }
                    want += v[[kk]] * pre.tanh();
                }
                assert!((s_[[0, i, j]] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn heads_and_attention_pool_match_finite_differences() {
        check_inputs(&Op::Heads, &[random(&[2, 4, 4], 1), random(&[2, 3, 5], 2)]);
        check_inputs(
            &Op::AttentionPool,
            &[random(&[3, 4, 2], 1), lengths(), random(&[2], 3)],
        );
    }

    #[test]
    fn heads_average_the_head_words_of_each_word() {
        // Words 1 ← 2 (word 2 heads word 1), word 2 attached to the root.
        let mut z = ArrayD::<f64>::zeros(IxDyn(&[1, 3, 3]));
        z[[0, 2, 1]] = 1.0;
        z[[0, 0, 2]] = 1.0;
        let h = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let out = heads(&z, &h);
        assert_eq!(out.as_slice().unwrap(), &[3.0, 4.0, 0.0, 0.0]);
    }

    #[test]
    fn attention_pool_ignores_padding() {
        let mut x = random(&[1, 3, 2], 5);
        let l = arr1(&[2.0]).into_dyn();
        let w = random(&[2], 6);
        let (a, _) = attention_pool(&x, &l, &w);
        x[[0, 2, 0]] = 1e6;
        let (b, _) = attention_pool(&x, &l, &w);
        assert_eq!(a, b);
    }
}
