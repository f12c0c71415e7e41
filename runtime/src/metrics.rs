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

/// Each word's head (0 is the root) in a tree-shaped value `z[h, m]` of a
/// sentence of `len` words: the head of largest weight, so a one-hot tree
/// gives its own arcs back.
pub fn heads<T: Real>(z: ndarray::ArrayView2<T>, len: usize) -> Vec<usize> {
    (1..=len)
        .map(|m| {
            argmax_index((0..=len).map(|h| {
                if h == m {
                    T::of(f64::NEG_INFINITY)
                } else {
                    z[[h, m]]
                }
            }))
        })
        .collect()
}

/// The depth of every word (the root's children are at depth 1);
/// `None` if the heads do not form a tree under the root.
pub fn depths(heads: &[usize]) -> Option<Vec<usize>> {
    let n = heads.len();
    (1..=n)
        .map(|m| {
            // Walk up to the root; more than n steps means a cycle.
            let (mut at, mut d) = (m, 0);
            while at != 0 {
                at = *heads.get(at - 1)?;
                d += 1;
                if d > n || at > n {
                    return None;
                }
            }
            Some(d)
        })
        .collect()
}

/// Shapes of induced trees, accumulated over sentences: how deep they are,
/// how many are flat and how long their arcs are. A tree is flat when
/// every word hangs from the root or from one and the same word (with a
/// single root: the root's child heads all the others).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TreeStats {
    pub sentences: usize,
    depth_sum: f64,
    /// Flat trees among the sentences of two words or more.
    flat: usize,
    multiword: usize,
    arc_length_sum: f64,
    /// Arcs between two words (root arcs have no length).
    arcs: usize,
}

impl TreeStats {
    pub fn add(&mut self, heads: &[usize]) {
        self.sentences += 1;
        let depth = depths(heads).map_or(heads.len(), |d| d.into_iter().max().unwrap_or(0));
        self.depth_sum += depth as f64;
        if heads.len() >= 2 {
            self.multiword += 1;
            let mut hubs = heads.iter().filter(|&&h| h != 0);
            let first = hubs.next();
            if hubs.all(|h| Some(h) == first) {
                self.flat += 1;
            }
        }
        for (i, &h) in heads.iter().enumerate() {
            if h != 0 {
                self.arc_length_sum += (h as f64 - (i + 1) as f64).abs();
                self.arcs += 1;
            }
        }
    }

    /// Mean over sentences of the deepest word's depth.
    pub fn depth(&self) -> f64 {
        self.depth_sum / self.sentences.max(1) as f64
    }

    /// Share of flat trees among sentences of two words or more.
    pub fn flat_share(&self) -> f64 {
        self.flat as f64 / self.multiword.max(1) as f64
    }

    /// Mean distance |h − m| over arcs between words.
    pub fn arc_length(&self) -> f64 {
        self.arc_length_sum / self.arcs.max(1) as f64
    }
}

#[cfg(test)]
mod tree_tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn heads_are_read_from_the_largest_weight_into_each_word() {
        // Words 1..3: 2 is the root's child, 1 and 3 hang from 2.
        let mut z = Array2::<f64>::zeros((4, 4));
        z[[0, 2]] = 1.0;
        z[[2, 1]] = 0.7;
        z[[3, 1]] = 0.3;
        z[[2, 3]] = 1.0;
        assert_eq!(heads(z.view(), 3), [2, 0, 2]);
    }

    #[test]
    fn depth_flatness_and_arc_length_of_known_trees() {
        let mut s = TreeStats::default();
        // A chain 0 → 1 → 2 → 3 → 4: depth 4, not flat, arcs of length 1.
        s.add(&[0, 1, 2, 3]);
        assert_eq!(s.depth(), 4.0);
        assert_eq!(s.flat_share(), 0.0);
        assert_eq!(s.arc_length(), 1.0);
        // Every word under word 3, the root's child: flat, depth 2, arcs
        // 2, 1, 1, 2 long.
        s.add(&[3, 3, 0, 3, 3]);
        assert_eq!(s.depth(), 3.0);
        assert_eq!(s.flat_share(), 0.5);
        // Every word from the root (multi-root): flat, depth 1, no arcs.
        s.add(&[0, 0, 0]);
        assert_eq!(s.flat_share(), 2.0 / 3.0);
        assert_eq!(s.depth(), 7.0 / 3.0);
        assert_eq!(s.arc_length(), (3.0 + 6.0) / 7.0);
        // Two hubs: not flat. One word is never counted as flat or not.
        s.add(&[2, 0, 2, 3]);
        s.add(&[0]);
        assert_eq!(s.flat_share(), 2.0 / 4.0);
    }

    #[test]
    fn a_cycle_is_not_a_tree() {
        assert_eq!(depths(&[2, 1]), None);
        assert_eq!(depths(&[0, 1, 1]), Some(vec![1, 2, 2]));
    }
}
