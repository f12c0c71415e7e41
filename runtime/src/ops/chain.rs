//! The ops around a `sequence(K)` latent, in its tag-pair layout
//! `[B, N, K, K]` (`lsmc_ir::structures::TAG_PAIRS`): `chain_scores`
//! builds the scores from per-word emissions and learned transitions,
//! `tags` reads each word's tag weights back from the latent's value.
//! Word 0 has no previous tag: only its row `p = 0` is a part, so both ops
//! read and write only that row there.

use crate::real::Real;
use ndarray::{ArrayD, IxDyn};

/// `s[b, i, p, c] = e[b, i, c] + t[p, c]` (`i ≥ 1`), `s[b, 0, 0, c] =
/// e[b, 0, c] + start[c]`, zero in word 0's other rows.
pub fn chain_scores<T: Real>(e: &ArrayD<T>, t: &ArrayD<T>, start: &ArrayD<T>) -> ArrayD<T> {
    let (b, n, k) = (e.shape()[0], e.shape()[1], e.shape()[2]);
    let e = e.as_standard_layout();
    let (e, t, start) = (
        e.as_slice().expect("standard layout"),
        t.as_standard_layout(),
        start.as_standard_layout(),
    );
    let (t, start) = (
        t.as_slice().expect("standard layout"),
        start.as_slice().expect("standard layout"),
    );
    let mut out = vec![T::zero(); b * n * k * k];
    for (word, o) in out.chunks_exact_mut(k * k).enumerate() {
        let em = &e[word * k..(word + 1) * k];
        if word % n == 0 {
            for c in 0..k {
                o[c] = em[c] + start[c];
            }
            continue;
        }
        for (row, tr) in o.chunks_exact_mut(k).zip(t.chunks_exact(k)) {
            for c in 0..k {
                row[c] = em[c] + tr[c];
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[b, n, k, k]), out).expect("sizes agree")
}

/// The gradients of the emissions, the transitions and the start scores.
pub fn chain_scores_vjp<T: Real>(g: &ArrayD<T>) -> Vec<Option<ArrayD<T>>> {
    let (b, n, k) = (g.shape()[0], g.shape()[1], g.shape()[2]);
    let g = g.as_standard_layout();
    let g = g.as_slice().expect("standard layout");
    let mut de = vec![T::zero(); b * n * k];
    let mut dt = vec![T::zero(); k * k];
    let mut dstart = vec![T::zero(); k];
    for (word, gw) in g.chunks_exact(k * k).enumerate() {
        let d = &mut de[word * k..(word + 1) * k];
        if word % n == 0 {
            d.copy_from_slice(&gw[..k]);
            for (s, x) in dstart.iter_mut().zip(&gw[..k]) {
                *s += *x;
            }
            continue;
        }
        for (row, dtr) in gw.chunks_exact(k).zip(dt.chunks_exact_mut(k)) {
            for c in 0..k {
                d[c] += row[c];
                dtr[c] += row[c];
            }
        }
    }
    vec![
        Some(ArrayD::from_shape_vec(IxDyn(&[b, n, k]), de).expect("sizes agree")),
        Some(ArrayD::from_shape_vec(IxDyn(&[k, k]), dt).expect("sizes agree")),
        Some(ArrayD::from_shape_vec(IxDyn(&[k]), dstart).expect("sizes agree")),
    ]
}

/// Each word's tag weights: `Σ_p z[b, i, p, c]`, and `z[b, 0, 0, c]` for
/// word 0. On marginals these are the tag marginals; on a MAP path, its
/// one-hot tags.
pub fn tags<T: Real>(z: &ArrayD<T>) -> ArrayD<T> {
    let (b, n, k) = (z.shape()[0], z.shape()[1], z.shape()[2]);
    let z = z.as_standard_layout();
    let z = z.as_slice().expect("standard layout");
    let mut out = vec![T::zero(); b * n * k];
    for (word, zw) in z.chunks_exact(k * k).enumerate() {
        let o = &mut out[word * k..(word + 1) * k];
        let rows = if word % n == 0 { 1 } else { k };
        for row in zw.chunks_exact(k).take(rows) {
            for c in 0..k {
                o[c] += row[c];
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[b, n, k]), out).expect("sizes agree")
}

/// The gradient of [`tags`]: each word's `g` copied to every previous tag
/// (word 0: to its one row of parts).
pub fn tags_vjp<T: Real>(g: &ArrayD<T>) -> Vec<Option<ArrayD<T>>> {
    let (b, n, k) = (g.shape()[0], g.shape()[1], g.shape()[2]);
    let g = g.as_standard_layout();
    let g = g.as_slice().expect("standard layout");
    let mut dz = vec![T::zero(); b * n * k * k];
    for (word, d) in dz.chunks_exact_mut(k * k).enumerate() {
        let gw = &g[word * k..(word + 1) * k];
        let rows = if word % n == 0 { 1 } else { k };
        for row in d.chunks_exact_mut(k).take(rows) {
            row.copy_from_slice(gw);
        }
    }
    vec![Some(
        ArrayD::from_shape_vec(IxDyn(&[b, n, k, k]), dz).expect("sizes agree"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gradcheck::{check_inputs, random};
    use lsmc_ir::graph::Op;

    #[test]
    fn chain_scores_add_emissions_to_transitions_and_start_scores_to_the_first_word() {
        let e = random(&[2, 3, 2], 1);
        let t = random(&[2, 2], 2);
        let start = random(&[2], 3);
        let s = chain_scores(&e, &t, &start);
        for b in 0..2 {
            for c in 0..2 {
                assert_eq!(s[[b, 0, 0, c]], e[[b, 0, c]] + start[c]);
                assert_eq!(s[[b, 0, 1, c]], 0.0, "no part: word 0 has no previous tag");
                for i in 1..3 {
                    for p in 0..2 {
                        assert_eq!(s[[b, i, p, c]], e[[b, i, c]] + t[[p, c]]);
                    }
                }
            }
        }
    }

    #[test]
    fn chain_scores_gradients_match_finite_differences() {
        check_inputs(
            &Op::ChainScores,
            &[random(&[2, 4, 3], 1), random(&[3, 3], 2), random(&[3], 3)],
        );
    }

    #[test]
    fn tags_of_a_path_indicator_are_its_one_hot_tags() {
        // The path 1, 0, 1 over two tags.
        let mut z = ArrayD::<f64>::zeros(IxDyn(&[1, 3, 2, 2]));
        z[[0, 0, 0, 1]] = 1.0;
        z[[0, 1, 1, 0]] = 1.0;
        z[[0, 2, 0, 1]] = 1.0;
        let t = tags(&z);
        let got: Vec<f64> = t.iter().copied().collect();
        assert_eq!(got, [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn tags_ignore_word_zeros_rows_that_are_no_part() {
        let mut z = ArrayD::<f64>::zeros(IxDyn(&[1, 2, 2, 2]));
        z[[0, 0, 1, 0]] = 5.0;
        assert!(tags(&z).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn tags_gradients_match_finite_differences() {
        check_inputs(&Op::Tags, &[random(&[2, 3, 4, 4], 4)]);
    }
}
