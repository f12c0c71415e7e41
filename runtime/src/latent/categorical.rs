//! The categorical structure: one of K categories per example, scores
//! `s[B, K]`. MAP is a one-hot argmax, marginals are the softmax, SparseMAP
//! is sparsemax (the Euclidean projection onto the simplex), and sampling
//! draws from the softmax distribution.

use super::structure::{Engine, Options, Saved, State, StructureError};
use crate::context::Context;
use crate::ops::{as_matrix, from_matrix, softmax};
use crate::real::Real;
use lsmc_ir::structures::{Descriptor, Ops, Spelling, CATEGORIES};
use ndarray::{ArrayD, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One-hot of each row's maximum (the first one on ties).
pub fn argmax<T: Real>(s: &ArrayD<T>) -> ArrayD<T> {
    let k = s.shape()[1];
    let m = as_matrix(s, s.shape()[0]);
    let mut out = ndarray::Array2::zeros((s.shape()[0], k));
    for (r, mut o) in m.outer_iter().zip(out.outer_iter_mut()) {
        o[argmax_index(r.iter().copied())] = T::one();
    }
    from_matrix(out, s.shape())
}

/// Index of the maximum; NaN never wins.
pub fn argmax_index<T: Real>(values: impl Iterator<Item = T>) -> usize {
    let mut best = 0;
    let mut best_v = T::neg_infinity();
    for (i, v) in values.enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best
}

pub fn marginals<T: Real>(s: &ArrayD<T>) -> ArrayD<T> {
    softmax::softmax(s)
}

pub fn marginals_vjp<T: Real>(s: &ArrayD<T>, g: &ArrayD<T>) -> ArrayD<T> {
    softmax::softmax_vjp(&softmax::softmax(s), g)
}

/// Sparsemax of each row (Martins & Astudillo, 2016): the Euclidean
/// projection onto the simplex, `max(s − τ, 0)` with τ chosen so the row
/// sums to one.
pub fn sparsemax<T: Real>(s: &ArrayD<T>) -> ArrayD<T> {
    let (b, k) = (s.shape()[0], s.shape()[1]);
    let m = as_matrix(s, b);
    let mut out = ndarray::Array2::zeros((b, k));
    let mut sorted = vec![T::zero(); k];
    for (r, mut o) in m.outer_iter().zip(out.outer_iter_mut()) {
        for (d, &v) in sorted.iter_mut().zip(r.iter()) {
            *d = v;
        }
        sorted.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
        let mut cumsum = T::zero();
        let mut tau = T::zero();
        for (j, &v) in sorted.iter().enumerate() {
            cumsum += v;
            let t = (cumsum - T::one()) / T::of((j + 1) as f64);
            if v > t {
                tau = t;
            }
        }
        for (x, &v) in o.iter_mut().zip(r.iter()) {
            *x = if v > tau { v - tau } else { T::zero() };
        }
    }
    from_matrix(out, s.shape())
}

/// On the support S of sparsemax(s): `g − mean_S(g)`; zero elsewhere.
pub fn sparsemax_vjp<T: Real>(s: &ArrayD<T>, g: &ArrayD<T>) -> ArrayD<T> {
    sparsemax_vjp_at(&sparsemax(s), g)
}

/// [`sparsemax_vjp`] from the forward value `p = sparsemax(s)` (whose
/// support is all the VJP needs), when it is at hand.
pub fn sparsemax_vjp_at<T: Real>(p: &ArrayD<T>, g: &ArrayD<T>) -> ArrayD<T> {
    let (b, k) = (p.shape()[0], p.shape()[1]);
    let (pm, gm) = (as_matrix(p, b), as_matrix(g, b));
    let (pm, gm) = (
        pm.as_slice().expect("standard layout"),
        gm.as_slice().expect("standard layout"),
    );
    let mut out = vec![T::zero(); b * k];
    if k > 0 {
        for ((pr, gr), o) in pm
            .chunks_exact(k)
            .zip(gm.chunks_exact(k))
            .zip(out.chunks_exact_mut(k))
        {
            let (mut sum, mut n) = (T::zero(), 0usize);
            for (&pv, &gv) in pr.iter().zip(gr) {
                if pv > T::zero() {
                    sum += gv;
                    n += 1;
                }
            }
            let mean = sum / T::of(n.max(1) as f64);
            for ((x, &pv), &gv) in o.iter_mut().zip(pr).zip(gr) {
                *x = if pv > T::zero() { gv - mean } else { T::zero() };
            }
        }
    }
    ArrayD::from_shape_vec(p.raw_dim(), out).expect("shape of p")
}

/// A one-hot sample from softmax(s) per row.
pub fn sample<T: Real>(s: &ArrayD<T>, rng: &mut ChaCha8Rng) -> ArrayD<T> {
    let p = softmax::softmax(s);
    let b = s.shape()[0];
    let pm = as_matrix(&p, b);
    let mut out = ndarray::Array2::zeros((b, s.shape()[1]));
    for (r, mut o) in pm.outer_iter().zip(out.outer_iter_mut()) {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut chosen = r.len() - 1;
        for (i, &v) in r.iter().enumerate() {
            acc += v.f64();
            if u < acc {
                chosen = i;
                break;
            }
        }
        o[chosen] = T::one();
    }
    from_matrix(out, s.shape())
}

/// `categorical(K)`: one of `K` categories, every operation.
pub static CATEGORICAL: Descriptor = Descriptor {
    name: "categorical",
    spelling: Spelling {
        callee: "categorical",
        variant: None,
        rooted: false,
        doc: "One of K categories; scores f32[B, K].",
        variant_doc: "",
    },
    scores: CATEGORIES,
    scores_hint: "produce {K} scores per example, e.g. `s = linear(x, {K})`",
    ops: Ops {
        map: true,
        marginals: true,
        sparsemap: true,
        sample: true,
    },
    statistics: &[],
};

/// The categorical engine: items of `K` categories, scores `s[B, K]`;
/// padding categories are masked to −∞ before each operation.
pub struct Categorical;

impl<T: Real> Engine<T> for Categorical {
    fn descriptor(&self) -> &'static Descriptor {
        &CATEGORICAL
    }

    fn sizes(
        &self,
        shape: &[usize],
        lengths: Option<&[usize]>,
    ) -> Result<Vec<usize>, StructureError> {
        if shape.len() != 2 || shape[1] == 0 {
            return Err(StructureError::Shape(format!(
                "categorical scores must have shape [B, K], got {shape:?}"
            )));
        }
        let full = shape[1];
        let ls = lengths
            .map(<[usize]>::to_vec)
            .unwrap_or_else(|| vec![full; shape[0]]);
        if ls.len() != shape[0] {
            return Err(StructureError::Shape(format!(
                "{} lengths for a batch of {}",
                ls.len(),
                shape[0]
            )));
        }
        if let Some((b, &k)) = ls.iter().enumerate().find(|(_, &k)| k == 0 || k > full) {
            return Err(StructureError::Shape(format!(
                "item {b} has {k} categories but must have between 1 and {full}"
            )));
        }
        Ok(ls)
    }

    fn map(
        &self,
        _: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<ArrayD<T>, StructureError> {
        Ok(masked(s, ls, argmax))
    }

    fn marginals(
        &self,
        _: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
        let p = masked(s, ls, marginals);
        let log_z = s
            .axis_iter(Axis(0))
            .zip(ls)
            .map(|(row, &k)| {
                let xs: Vec<f64> = row.iter().take(k).map(|x| x.f64()).collect();
                <f64 as super::logspace::Num>::lse(&xs)
            })
            .collect();
        Ok((log_z, p))
    }

    fn marginals_only(
        &self,
        _: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<ArrayD<T>, StructureError> {
        Ok(masked(s, ls, marginals))
    }

    /// The forward value is the softmax: its VJP needs nothing else.
    fn marginals_vjp(
        &self,
        _: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError> {
        Ok(match at {
            Some(at) => softmax::softmax_vjp(at.value, g),
            None => softmax::softmax_vjp(&masked(s, ls, marginals), g),
        })
    }

    fn sample(
        &self,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        rng: &mut ChaCha8Rng,
    ) -> Result<ArrayD<T>, StructureError> {
        Ok(masked(s, ls, |x| sample(x, rng)))
    }

    /// Sparsemax, exact in closed form: nothing to keep.
    fn sparsemap(
        &self,
        _: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        _max_iter: usize,
        _warm: Option<&ArrayD<T>>,
    ) -> Result<(ArrayD<T>, Option<State>), StructureError> {
        Ok((masked(s, ls, sparsemax), None))
    }

    /// Sparsemax's support, all its VJP needs, is that of the forward value.
    fn sparsemap_vjp(
        &self,
        _: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        _max_iter: usize,
        at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError> {
        Ok(match at {
            Some(at) => sparsemax_vjp_at(at.value, g),
            None => sparsemax_vjp(&mask(s, ls), g),
        })
    }

    fn parts_per_structure(&self, _: Options, _: usize) -> usize {
        1
    }

    /// Categories past an item's count are no part of it.
    fn keep_parts(&self, g: &mut ArrayD<T>, lengths: Option<&[usize]>) {
        let Some(ls) = lengths else { return };
        for (mut row, &k) in g.axis_iter_mut(Axis(0)).zip(ls) {
            row.iter_mut().skip(k).for_each(|v| *v = T::zero());
        }
    }

    fn part_ranges(&self, _shape: &[usize], size: usize) -> Vec<std::ops::Range<usize>> {
        std::iter::once(0..size).collect()
    }

    fn reference_sizes(&self) -> std::ops::RangeInclusive<usize> {
        1..=6
    }

    fn enumerate(&self, _: Options, size: usize) -> Vec<Vec<f64>> {
        (0..size)
            .map(|k| (0..size).map(|j| f64::from(u8::from(j == k))).collect())
            .collect()
    }
}

/// Categorical scores with the padding categories at −∞.
fn mask<T: Real>(s: &ArrayD<T>, lengths: &[usize]) -> ArrayD<T> {
    let mut m = s.clone();
    for (mut row, &k) in m.axis_iter_mut(Axis(0)).zip(lengths) {
        row.iter_mut().skip(k).for_each(|x| *x = T::neg_infinity());
    }
    m
}

/// `f` on masked categorical scores, zero on the padding.
fn masked<T: Real>(
    s: &ArrayD<T>,
    lengths: &[usize],
    mut f: impl FnMut(&ArrayD<T>) -> ArrayD<T>,
) -> ArrayD<T> {
    if lengths.iter().all(|&k| k == s.shape()[1]) {
        return f(s);
    }
    let mut out = f(&mask(s, lengths));
    for (mut row, &k) in out.axis_iter_mut(Axis(0)).zip(lengths) {
        row.iter_mut().skip(k).for_each(|x| *x = T::zero());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gradcheck::random;
    use ndarray::{arr2, Array2};

    #[test]
    fn sparsemax_is_the_euclidean_projection_onto_the_simplex() {
        // Against brute force: the projection onto the simplex minimises
        // ‖p − s‖² over a fine grid of the 2-simplex for K = 3.
        for seed in 0..20 {
            let s = random(&[1, 3], seed).mapv(|v| v * 2.0);
            let p = sparsemax(&s);
            assert!((p.sum() - 1.0).abs() < 1e-12 && p.iter().all(|&v| v >= 0.0));
            let dist = |q: [f64; 3]| (0..3).map(|i| (q[i] - s[[0, i]]).powi(2)).sum::<f64>();
            let got = dist([p[[0, 0]], p[[0, 1]], p[[0, 2]]]);
            let n = 400;
            for i in 0..=n {
                for j in 0..=(n - i) {
                    let q = [
                        i as f64 / n as f64,
                        j as f64 / n as f64,
                        (n - i - j) as f64 / n as f64,
                    ];
                    assert!(
                        got <= dist(q) + 1e-12,
                        "seed {seed}: {q:?} is closer than {p}"
                    );
                }
            }
        }
    }

    #[test]
    fn sparsemax_limits_are_argmax_and_uniform() {
        let s = arr2(&[[3.0, 0.0, -1.0]]).into_dyn();
        assert_eq!(
            sparsemax(&s),
            argmax(&s),
            "large gaps give the one-hot argmax"
        );
        let flat = Array2::<f64>::zeros((1, 4)).into_dyn();
        assert!(sparsemax(&flat).iter().all(|&v| (v - 0.25).abs() < 1e-12));
    }

    type Map = fn(&ArrayD<f64>) -> ArrayD<f64>;
    type Vjp = fn(&ArrayD<f64>, &ArrayD<f64>) -> ArrayD<f64>;

    #[test]
    fn marginal_and_sparsemax_vjps_match_finite_differences() {
        let check = |f: Map, vjp: Vjp| {
            let s = random(&[4, 5], 3).mapv(|v| v * 0.7);
            let g = random(&[4, 5], 4);
            let an = vjp(&s, &g);
            for j in 0..s.len() {
                let h = 1e-6;
                let (mut p, mut m) = (s.clone(), s.clone());
                p.as_slice_mut().unwrap()[j] += h;
                m.as_slice_mut().unwrap()[j] -= h;
                let num = ((&f(&p) * &g).sum() - (&f(&m) * &g).sum()) / (2.0 * h);
                let a = an.as_slice().unwrap()[j];
                assert!(
                    (a - num).abs() / a.abs().max(num.abs()).max(1e-2) < 1e-6,
                    "{a} vs {num}"
                );
            }
        };
        check(marginals, marginals_vjp);
        check(sparsemax, sparsemax_vjp);
    }

    #[test]
    fn samples_follow_the_softmax_distribution() {
        use rand::SeedableRng;
        let s = arr2(&[[0.0f64, 1.0, 2.0]]).into_dyn();
        let big = ndarray::Array::from_shape_fn((20000, 3), |(_, j)| s[[0, j]]).into_dyn();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let z = sample(&big, &mut rng);
        let freq = z.sum_axis(ndarray::Axis(0)).mapv(|c| c / 20000.0);
        let p = marginals(&s);
        for j in 0..3 {
            assert!((freq[j] - p[[0, j]]).abs() < 0.01, "{freq} vs {p}");
        }
    }
}
