//! Property tests of the structured inference engine on random batches
//! with padding: every item of a batch equals the same item computed
//! alone, padding never takes part (garbage there changes nothing and
//! outputs are zero there), MAP is a valid tree, and each word's head
//! marginals sum to one.

use crate::cx;
use lsmc_runtime::latent::categorical::CATEGORICAL;
use lsmc_runtime::latent::structure::Structure;
use lsmc_runtime::latent::tree::{NONPROJECTIVE, PROJECTIVE};
use lsmc_runtime::latent::{brute, nonprojective, projective};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

/// A padded batch: lengths, the padded size `N`, and scores whose padding
/// holds large garbage.
fn batch() -> impl Strategy<Value = (Vec<usize>, usize, Vec<f64>)> {
    (prop::collection::vec(1usize..=6, 1..=4), 0usize..=2).prop_flat_map(|(lengths, extra)| {
        let n = lengths.iter().copied().max().unwrap_or(1) + extra;
        let cells = lengths.len() * (n + 1) * (n + 1);
        (
            Just(lengths),
            Just(n),
            prop::collection::vec(-3.0f64..3.0, cells),
        )
    })
}

fn padded(lengths: &[usize], n: usize, values: &[f64]) -> ArrayD<f64> {
    let n1 = n + 1;
    let mut s = ArrayD::from_shape_vec(IxDyn(&[lengths.len(), n1, n1]), values.to_vec()).unwrap();
    for (b, &len) in lengths.iter().enumerate() {
        for h in 0..n1 {
            for m in 0..n1 {
                if h > len || m > len {
                    s[[b, h, m]] = 1e3 * (1.0 + (h * 7 + m) as f64);
                }
            }
        }
    }
    s
}

fn tree(projective: bool, single: bool) -> Structure {
    let kind = if projective {
        &PROJECTIVE
    } else {
        &NONPROJECTIVE
    };
    Structure::new(kind, single)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batched_trees_equal_each_sentence_alone((lengths, n, values) in batch(), proj in any::<bool>(), single in any::<bool>()) {
        let s = padded(&lengths, n, &values);
        let st = tree(proj, single);
        let z = st.map(cx(), &s, Some(&lengths)).unwrap();
        let (log_z, mu) = st.marginals(cx(), &s, Some(&lengths)).unwrap();
        let sm = st.sparsemap(cx(), &s, Some(&lengths)).unwrap();
        for (b, &len) in lengths.iter().enumerate() {
            let f = |h: usize, m: usize| s[[b, h, m]];
            let (lz1, mu1) = if proj {
                projective::marginals(len, &f, single)
            } else {
                nonprojective::marginals(len, &f, single)
            };
            prop_assert!((log_z[b] - lz1).abs() < 1e-9);
            let heads: Vec<usize> = (0..=len)
                .map(|m| if m == 0 { 0 } else { (0..=len).find(|&h| z[[b, h, m]] == 1.0).unwrap_or(usize::MAX) })
                .collect();
            prop_assert!(brute::is_tree(&heads, proj, single), "{heads:?}");
            let best = if proj { projective::map(len, &f, single) } else { nonprojective::map(len, &f, single) };
            prop_assert!((brute::score(&f, &heads) - brute::score(&f, &best)).abs() < 1e-9);
            for h in 0..=n {
                for m in 0..=n {
                    let inside = h <= len && m <= len && m >= 1 && h != m;
                    if !inside {
                        prop_assert_eq!(z[[b, h, m]], 0.0);
                        prop_assert_eq!(mu[[b, h, m]], 0.0);
                        prop_assert_eq!(sm[[b, h, m]], 0.0);
                    } else {
                        prop_assert!((mu[[b, h, m]] - mu1[h * (len + 1) + m]).abs() < 1e-9);
                    }
                }
            }
            for m in 1..=len {
                let total: f64 = (0..=len).map(|h| mu[[b, h, m]]).sum();
                prop_assert!((total - 1.0).abs() < 1e-9);
                let total: f64 = (0..=len).map(|h| sm[[b, h, m]]).sum();
                prop_assert!((total - 1.0).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn categorical_lengths_mask_the_padding(rows in prop::collection::vec((1usize..=5, prop::collection::vec(-3.0f64..3.0, 5)), 1..=4)) {
        let lengths: Vec<usize> = rows.iter().map(|r| r.0).collect();
        let mut s = ArrayD::zeros(IxDyn(&[rows.len(), 5]));
        for (b, (len, v)) in rows.iter().enumerate() {
            for k in 0..5 {
                s[[b, k]] = if k < *len { v[k] } else { 1e4 };
            }
        }
        let st = Structure::new(&CATEGORICAL, true);
        let z = st.map(cx(), &s, Some(&lengths)).unwrap();
        let (log_z, p) = st.marginals(cx(), &s, Some(&lengths)).unwrap();
        let sm = st.sparsemap(cx(), &s, Some(&lengths)).unwrap();
        for (b, &len) in lengths.iter().enumerate() {
            let row: Vec<f64> = (0..len).map(|k| s[[b, k]]).collect();
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lz = m + row.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
            prop_assert!((log_z[b] - lz).abs() < 1e-12);
            for k in 0..5 {
                if k >= len {
                    prop_assert_eq!(z[[b, k]], 0.0);
                    prop_assert_eq!(p[[b, k]], 0.0);
                    prop_assert_eq!(sm[[b, k]], 0.0);
                } else {
                    prop_assert!((p[[b, k]] - (s[[b, k]] - lz).exp()).abs() < 1e-12);
                }
            }
            prop_assert!(((0..len).map(|k| sm[[b, k]]).sum::<f64>() - 1.0).abs() < 1e-12);
            prop_assert_eq!((0..len).map(|k| z[[b, k]]).sum::<f64>(), 1.0);
        }
    }
}

#[test]
fn lengths_that_do_not_fit_are_errors_not_panics() {
    let s = ArrayD::<f64>::zeros(IxDyn(&[2, 4, 4]));
    let st = tree(true, true);
    assert!(st
        .marginals(cx(), &s, Some(&[3, 4]))
        .unwrap_err()
        .to_string()
        .contains("room for 3 words"));
    assert!(st
        .map(cx(), &s, Some(&[3]))
        .unwrap_err()
        .to_string()
        .contains("1 lengths for a batch of 2"));
    let bad = ArrayD::<f64>::zeros(IxDyn(&[2, 4, 3]));
    assert!(st.map(cx(), &bad, None).is_err());
}

#[test]
fn f32_marginals_and_their_vjp_of_long_sentences_with_huge_scores_are_finite_and_normalised() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    let n = 200;
    for (scale, normal) in [(100.0f32, true), (1e4, false)] {
        let s = ArrayD::from_shape_simple_fn(IxDyn(&[2, n + 1, n + 1]), || {
            if normal {
                rng.sample::<f32, _>(rand_distr::StandardNormal) * scale
            } else {
                (rng.random::<f32>() * 2.0 - 1.0) * scale
            }
        });
        for (proj, single) in [(true, true), (true, false), (false, true), (false, false)] {
            let st = tree(proj, single);
            let (log_z, mu) = st.marginals(cx(), &s, Some(&[n, n - 37])).unwrap();
            assert!(log_z.iter().all(|x| x.is_finite()));
            assert!(mu.iter().all(|x| x.is_finite()));
            for (b, len) in [n, n - 37].into_iter().enumerate() {
                for m in 1..=len {
                    let total: f32 = (0..=len).map(|h| mu[[b, h, m]]).sum();
                    assert!((total - 1.0).abs() < 1e-5, "word {m}: {total}");
                }
            }
            let g = s.mapv(|x| x / scale);
            let v = st.marginals_vjp(cx(), &s, Some(&[n, n - 37]), &g).unwrap();
            assert!(v.iter().all(|x| x.is_finite()));
        }
    }
}
