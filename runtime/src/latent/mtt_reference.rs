//! An independent high-precision reference for the non-projective
//! marginals and log Z, and the tests that hold [`super::nonprojective`]
//! to 1e-10 against it at score scales 1, 10 and 100.
//!
//! The reference builds the Laplacian as a list of `(arc, row, column,
//! sign)` contributions, inverts it by Gauss-Jordan elimination in
//! fixed-point arithmetic with 1,536 fractional bits (big integers), and
//! reads each marginal as `A · Σ sign · L⁻¹[column][row]` over the
//! entries its arc touches (`∂ log det L / ∂L_ij = L⁻¹_ji`). Each
//! operation errs by at most 2⁻¹⁵³⁶, so the marginals are exact far below
//! f64 for any Laplacian f64 can even represent; the weights are f64
//! `exp`s of the scores less each word's best incoming score (exact up to
//! a relative 1.1e-16, which moves a marginal by at most `2n · 1.1e-16`).
//! It shares nothing with the code under test but that shift.

#![cfg(test)]

use super::{brute, nonprojective};
use num_bigint::BigInt;
use num_traits::{ToPrimitive, Zero};
use rand::{Rng, SeedableRng};

/// Fractional bits of the fixed-point numbers.
const P: u64 = 1536;

/// `x · 2^P`, rounded toward −∞ in its last place.
#[derive(Clone, Debug)]
struct Fx(BigInt);

impl Fx {
    fn zero() -> Fx {
        Fx(BigInt::zero())
    }

    fn one() -> Fx {
        Fx(BigInt::from(1) << P)
    }

    /// An f64, exactly (to within 2⁻ᴾ).
    fn of(x: f64) -> Fx {
        if x == 0.0 {
            return Fx::zero();
        }
        assert!(x.is_finite());
        let bits = x.abs().to_bits();
        let (exp, frac) = ((bits >> 52) as i64, bits & ((1 << 52) - 1));
        let (mant, e) = if exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1 << 52), exp - 1075)
        };
        let m = BigInt::from(mant);
        let shift = e + P as i64;
        let v = if shift >= 0 {
            m << shift as u64
        } else {
            m >> (-shift) as u64
        };
        Fx(if x < 0.0 { -v } else { v })
    }

    fn add(&self, o: &Fx) -> Fx {
        Fx(&self.0 + &o.0)
    }

    fn sub(&self, o: &Fx) -> Fx {
        Fx(&self.0 - &o.0)
    }

    fn mul(&self, o: &Fx) -> Fx {
        Fx((&self.0 * &o.0) >> P)
    }

    fn div(&self, o: &Fx) -> Fx {
        Fx((&self.0 << P) / &o.0)
    }

    fn abs_gt(&self, o: &Fx) -> bool {
        self.0.magnitude() > o.0.magnitude()
    }

    /// The 64 leading bits and the power of two they stand at.
    fn top(&self) -> (f64, i64) {
        let bits = self.0.bits() as i64;
        let shift = (bits - 64).max(0);
        let top = (self.0.magnitude() >> shift as u64)
            .to_u64()
            .expect("64 bits") as f64;
        (top, shift - P as i64)
    }

    fn to_f64(&self) -> f64 {
        if self.0.is_zero() {
            return 0.0;
        }
        let (top, e) = self.top();
        // Two steps, so that 2^e alone never under- or overflows.
        let half = (e / 2) as i32;
        let v = top * 2f64.powi(half) * 2f64.powi(e as i32 - half);
        if self.0.sign() == num_bigint::Sign::Minus {
            -v
        } else {
            v
        }
    }

    /// `ln |x|`.
    fn ln_abs(&self) -> f64 {
        let (top, e) = self.top();
        top.ln() + e as f64 * std::f64::consts::LN_2
    }
}

/// One arc's part in one Laplacian entry.
struct Entry {
    arc: (usize, usize),
    row: usize,
    col: usize,
    sign: f64,
}

/// The entries of the `n × n` Laplacian (word `m` at index `m − 1`): each
/// arc adds its weight to its dependant's diagonal and subtracts it at
/// (head, dependant); with a single root, row 0 holds the root arcs
/// instead (Koo et al., 2007).
fn laplacian_entries(n: usize, single_root: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    for m in 1..=n {
        for h in (0..=n).filter(|&h| h != m) {
            let arc = (h, m);
            let (c, sign) = (m - 1, 1.0);
            if single_root {
                if h == 0 {
                    out.push(Entry {
                        arc,
                        row: 0,
                        col: c,
                        sign,
                    });
                    continue;
                }
                if c != 0 {
                    out.push(Entry {
                        arc,
                        row: c,
                        col: c,
                        sign,
                    });
                }
                if h - 1 != 0 {
                    out.push(Entry {
                        arc,
                        row: h - 1,
                        col: c,
                        sign: -1.0,
                    });
                }
            } else {
                out.push(Entry {
                    arc,
                    row: c,
                    col: c,
                    sign,
                });
                if h != 0 {
                    out.push(Entry {
                        arc,
                        row: h - 1,
                        col: c,
                        sign: -1.0,
                    });
                }
            }
        }
    }
    out
}

/// log Z and the marginals of `s` (`(n+1)²`, row-major), in fixed point.
fn reference(n: usize, s: &[f64], single_root: bool) -> (f64, Vec<f64>) {
    let n1 = n + 1;
    let shift: Vec<f64> = (0..n1)
        .map(|m| {
            (0..n1)
                .filter(|&h| h != m && m > 0)
                .map(|h| s[h * n1 + m])
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let weight = |h: usize, m: usize| Fx::of((s[h * n1 + m] - shift[m]).exp());
    let entries = laplacian_entries(n, single_root);
    // [L | I], reduced to [I | L⁻¹] with partial pivoting.
    let w = 2 * n;
    let mut g = vec![Fx::zero(); n * w];
    for e in &entries {
        let x = weight(e.arc.0, e.arc.1);
        let cell = &mut g[e.row * w + e.col];
        *cell = if e.sign > 0.0 {
            cell.add(&x)
        } else {
            cell.sub(&x)
        };
    }
    for i in 0..n {
        g[i * w + n + i] = Fx::one();
    }
    let mut log_det = 0.0;
    for k in 0..n {
        let p = (k..n)
            .reduce(|p, i| {
                if g[i * w + k].abs_gt(&g[p * w + k]) {
                    i
                } else {
                    p
                }
            })
            .expect("k < n");
        for c in 0..w {
            g.swap(k * w + c, p * w + c);
        }
        let pivot = g[k * w + k].clone();
        assert!(!pivot.0.is_zero(), "singular Laplacian");
        log_det += pivot.ln_abs();
        for c in 0..w {
            g[k * w + c] = g[k * w + c].div(&pivot);
        }
        for i in (0..n).filter(|&i| i != k) {
            let f = g[i * w + k].clone();
            if f.0.is_zero() {
                continue;
            }
            for c in 0..w {
                let d = f.mul(&g[k * w + c]);
                g[i * w + c] = g[i * w + c].sub(&d);
            }
        }
    }
    let inv = |i: usize, j: usize| &g[i * w + n + j];
    let mut mu = vec![Fx::zero(); n1 * n1];
    for e in &entries {
        // ∂ log det / ∂A = Σ sign · L⁻¹[col][row] over the arc's entries.
        let d = inv(e.col, e.row);
        let i = e.arc.0 * n1 + e.arc.1;
        mu[i] = if e.sign > 0.0 {
            mu[i].add(d)
        } else {
            mu[i].sub(d)
        };
    }
    for h in 0..n1 {
        for m in (1..n1).filter(|&m| m != h) {
            mu[h * n1 + m] = mu[h * n1 + m].mul(&weight(h, m));
        }
    }
    // Self-check: each word's head marginals sum to 1 far below f64.
    for m in 1..n1 {
        let total = (0..n1).fold(Fx::zero(), |t, h| t.add(&mu[h * n1 + m]));
        let off = total.sub(&Fx::one()).to_f64().abs();
        assert!(
            off < 1e-100,
            "reference lost its precision: word {m} sums to 1 + {off:e}"
        );
    }
    let log_z = log_det + shift[1..].iter().sum::<f64>();
    (log_z, mu.iter().map(Fx::to_f64).collect())
}

/// Standard normal scores times `scale` (`(n+1)²`, row-major).
fn normal_scores(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..(n + 1) * (n + 1))
        .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) * scale)
        .collect()
}

/// Asserts `got` within 1e-10 of `want`: every marginal absolutely, log Z
/// relative to its size past 1. Returns the largest marginal error.
fn assert_close(what: &str, got: &(f64, Vec<f64>), want: &(f64, Vec<f64>)) -> f64 {
    let lz_tol = 1e-10 * want.0.abs().max(1.0);
    assert!(
        (got.0 - want.0).abs() <= lz_tol,
        "{what}: log Z {} vs {}",
        got.0,
        want.0
    );
    let mut worst = 0.0f64;
    for (i, (a, b)) in got.1.iter().zip(&want.1).enumerate() {
        let err = (a - b).abs();
        assert!(err <= 1e-10, "{what}: marginal {i}: {a} vs {b}");
        worst = worst.max(err);
    }
    worst
}

#[test]
fn the_reference_agrees_with_enumeration() {
    for n in 1..=5 {
        for single in [true, false] {
            let trees = brute::trees(n, false, single);
            for scale in [1.0, 10.0, 100.0] {
                let sc = normal_scores(n, 40 + n as u64, scale);
                let exact = brute::Exact::of(&trees, n, &|h, m| sc[h * (n + 1) + m]);
                let want = (exact.log_z, exact.marginals);
                let what = format!("reference n={n} single={single} scale={scale}");
                assert_close(&what, &reference(n, &sc, single), &want);
            }
        }
    }
}

#[test]
fn marginals_are_within_1e_10_of_enumeration_at_scales_1_10_and_100() {
    for n in 1..=6 {
        for single in [true, false] {
            let trees = brute::trees(n, false, single);
            for (seed, scale) in [(1, 1.0), (2, 10.0), (3, 100.0)] {
                let sc = normal_scores(n, seed * 97 + n as u64, scale);
                let s = |h: usize, m: usize| sc[h * (n + 1) + m];
                let exact = brute::Exact::of(&trees, n, &s);
                let what = format!("n={n} single={single} scale={scale}");
                let got = nonprojective::marginals(n, &s, single);
                assert_close(&what, &got, &(exact.log_z, exact.marginals));
            }
        }
    }
}

#[test]
fn marginals_are_within_1e_10_of_the_exact_reference_at_n_20_and_40() {
    // Both paths are held to it: scale 1 stays on the Laplacian, scale 100
    // falls back to the walk.
    let (mut laplacian, mut walk) = (0, 0);
    for n in [20, 40] {
        for single in [true, false] {
            for (seed, scale) in [(5, 1.0), (6, 10.0), (7, 100.0)] {
                let sc = normal_scores(n, seed * 1000 + n as u64, scale);
                let s = |h: usize, m: usize| sc[h * (n + 1) + m];
                let what = format!("n={n} single={single} scale={scale}");
                let got = nonprojective::marginals(n, &s, single);
                assert_close(&what, &got, &reference(n, &sc, single));
                match nonprojective::marginals_by_laplacian(n, &s, single) {
                    Ok(by_laplacian) => {
                        assert_eq!(by_laplacian, got, "{what}");
                        laplacian += 1;
                    }
                    Err(_) => walk += 1,
                }
            }
        }
    }
    assert!(
        laplacian >= 4 && walk >= 4,
        "{laplacian} by the Laplacian, {walk} by the walk"
    );
}

#[test]
fn the_fast_tangent_matches_finite_differences_at_n_40() {
    let n = 40;
    for single in [true, false] {
        let sc = normal_scores(n, 11, 1.0);
        let dir = normal_scores(n, 12, 1.0);
        assert!(
            nonprojective::marginals_by_laplacian(n, &|h, m| sc[h * (n + 1) + m], single).is_ok()
        );
        brute::assert_jvp_is_the_finite_difference(
            n,
            &sc,
            &dir,
            &|s, ds| nonprojective::marginals_jvp(n, s, ds, single).1,
            &|s| nonprojective::marginals(n, s, single).1,
            1e-5,
            1e-7,
        );
    }
}

#[test]
fn batched_marginals_and_vjp_are_within_1e_10_of_the_reference_and_the_one_sentence_kernel() {
    use super::tree::Tree;
    use crate::context::Context;
    // Mixed lengths share lane groups (padding), and scale 100 sends some
    // lanes to the walk while their neighbours stay on the Laplacian.
    let lengths = [40usize, 20, 7, 40, 1, 20, 33, 0, 12, 40, 20];
    let np = 41;
    let cx = Context::cpu(2);
    for single in [true, false] {
        for (seed, scale) in [(21, 1.0), (22, 10.0), (23, 100.0)] {
            let mut s = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[lengths.len(), np, np]));
            let mut g = s.clone();
            let mut blocks = Vec::new();
            for (b, &n) in lengths.iter().enumerate() {
                let sc = normal_scores(n, seed * 100 + b as u64, scale);
                let dir = normal_scores(n, seed * 100 + 50 + b as u64, 1.0);
                for h in 0..=n {
                    for m in 0..=n {
                        s[[b, h, m]] = sc[h * (n + 1) + m];
                        g[[b, h, m]] = dir[h * (n + 1) + m];
                    }
                }
                blocks.push((sc, dir));
            }
            let tree = Tree {
                projective: false,
                single_root: single,
            };
            let (log_z, mu) = tree.marginals(&cx, &s, &lengths).unwrap();
            let dmu = tree.marginals_vjp(&cx, &s, &lengths, &g).unwrap();
            for (b, (&n, (sc, dir))) in lengths.iter().zip(&blocks).enumerate() {
                let n1 = n + 1;
                let what = format!("item {b}, n={n} single={single} scale={scale}");
                let got_mu: Vec<f64> = (0..n1 * n1).map(|i| mu[[b, i / n1, i % n1]]).collect();
                let got_dmu: Vec<f64> = (0..n1 * n1).map(|i| dmu[[b, i / n1, i % n1]]).collect();
                if n > 0 {
                    assert_close(&what, &(log_z[b], got_mu), &reference(n, sc, single));
                }
                let (_, want) = nonprojective::marginals_jvp_of(n, sc, dir, single);
                for (i, (x, y)) in got_dmu.iter().zip(&want).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-10 * y.abs().max(1.0),
                        "{what}: tangent {i}: {x} vs {y}"
                    );
                }
            }
        }
    }
}
