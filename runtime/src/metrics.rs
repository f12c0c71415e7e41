//! Evaluation metrics, as fractions in [0, 1].

use crate::latent::categorical::argmax_index;
use crate::real::Real;
use ndarray::{ArrayD, Axis};

/// Fraction of rows whose highest score is the gold label.
pub fn accuracy<T: Real>(pred: &ArrayD<T>, gold: &ArrayD<T>) -> f64 {
    let rows = pred.shape()[0];
    if rows == 0 {
        return 0.0;
    }
    let hits = pred
        .axis_iter(Axis(0))
        .zip(gold.iter())
        .filter(|(r, &g)| argmax_index(r.iter().copied()) == g.f64() as usize)
        .count();
    hits as f64 / rows as f64
}

/// The cluster of each row: its highest score.
pub fn clusters<T: Real>(pred: &ArrayD<T>) -> Vec<usize> {
    pred.axis_iter(Axis(0))
        .map(|r| argmax_index(r.iter().copied()))
        .collect()
}

/// V-measure (Rosenberg & Hirschberg, 2007): the harmonic mean of
/// homogeneity and completeness of `pred` clusters against `gold` classes,
/// with scikit-learn's conventions (natural logarithms; a single class or
/// a single cluster counts as perfectly homogeneous / complete).
pub fn v_measure(pred: &[usize], gold: &[usize]) -> f64 {
    let n = pred.len();
    if n == 0 {
        return 1.0;
    }
    let kp = pred.iter().max().map_or(0, |m| m + 1);
    let kg = gold.iter().max().map_or(0, |m| m + 1);
    let mut joint = vec![vec![0usize; kp]; kg];
    for (&p, &g) in pred.iter().zip(gold) {
        joint[g][p] += 1;
    }
    let nf = n as f64;
    let entropy = |counts: &mut dyn Iterator<Item = usize>| -> f64 {
        counts
            .filter(|&c| c > 0)
            .map(|c| {
                let p = c as f64 / nf;
                -p * p.ln()
            })
            .sum()
    };
    let gold_counts: Vec<usize> = joint.iter().map(|r| r.iter().sum()).collect();
    let pred_counts: Vec<usize> = (0..kp).map(|p| joint.iter().map(|r| r[p]).sum()).collect();
    let h_c = entropy(&mut gold_counts.iter().copied());
    let h_k = entropy(&mut pred_counts.iter().copied());
    // H(C|K) and H(K|C) from the contingency table.
    let mut h_c_k = 0.0;
    let mut h_k_c = 0.0;
    for (g, row) in joint.iter().enumerate() {
        for (p, &c) in row.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let nc = c as f64;
            h_c_k -= nc / nf * (nc / pred_counts[p] as f64).ln();
            h_k_c -= nc / nf * (nc / gold_counts[g] as f64).ln();
        }
    }
    let homogeneity = if h_c == 0.0 { 1.0 } else { 1.0 - h_c_k / h_c };
    let completeness = if h_k == 0.0 { 1.0 } else { 1.0 - h_k_c / h_k };
    if homogeneity + completeness == 0.0 {
        0.0
    } else {
        2.0 * homogeneity * completeness / (homogeneity + completeness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed with scikit-learn 1.x `v_measure_score`; the script
    /// that made them is `tests/fixtures/v_measure.py`, its output
    /// `tests/fixtures/v_measure.json`.
    #[test]
    fn v_measure_matches_scikit_learn() {
        let text = include_str!("../../tests/fixtures/v_measure.json");
        let cases: serde_json::Value = serde_json::from_str(text).expect("fixture parses");
        let cases = cases.as_array().expect("a list of cases");
        assert!(cases.len() >= 10);
        for case in cases {
            let to = |k: &str| -> Vec<usize> {
                case[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect()
            };
            let want = case["v_measure"].as_f64().unwrap();
            let got = v_measure(&to("pred"), &to("gold"));
            assert!((got - want).abs() < 1e-12, "{case}: got {got}");
        }
    }

    #[test]
    fn v_measure_ignores_label_permutations() {
        let gold = [0, 0, 1, 1, 2, 2];
        assert_eq!(v_measure(&[2, 2, 0, 0, 1, 1], &gold), 1.0);
        assert!(v_measure(&[0, 1, 0, 1, 0, 1], &gold) < 0.5);
    }

    #[test]
    fn accuracy_counts_argmax_hits() {
        let pred = ndarray::arr2(&[[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]).into_dyn();
        let gold = ndarray::arr1(&[1.0, 1.0, 1.0]).into_dyn();
        assert!((accuracy(&pred, &gold) - 2.0 / 3.0).abs() < 1e-12);
    }
}
