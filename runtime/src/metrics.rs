//! Evaluation metrics, as fractions in [0, 1]: per example (accuracy, a
//! categorical latent's V-measure) or per word of a sentence (a sequence
//! latent's V-measure and path match, padding never counted), and the
//! [`Tally`] that gathers one over the batches of a split.

use crate::latent::categorical::argmax_index;
use crate::real::Real;
use lsmc_ir::plan::MetricKind;
use ndarray::{ArrayD, Axis};

/// Rows whose highest score is the gold label.
fn hits<T: Real>(pred: &ArrayD<T>, gold: &ArrayD<T>) -> usize {
    pred.axis_iter(Axis(0))
        .zip(gold.iter())
        .filter(|(r, &g)| argmax_index(r.iter().copied()) == g.f64() as usize)
        .count()
}

/// Fraction of rows whose highest score is the gold label.
pub fn accuracy<T: Real>(pred: &ArrayD<T>, gold: &ArrayD<T>) -> f64 {
    let rows = pred.shape()[0];
    if rows == 0 {
        return 0.0;
    }
    hits(pred, gold) as f64 / rows as f64
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

/// Each real word's tag under a sequence latent's value `z[B, N, K, K]`
/// (the `TAG_PAIRS` layout): the highest of its tag weights
/// `Σ_p z[b, i, p, c]` (word 0: `z[b, 0, 0, c]`; `ops::chain::tags`), for
/// the first `lengths[b]` words of sentence `b`.
pub fn word_tags<T: Real>(z: &ArrayD<T>, lengths: &[usize]) -> Result<Vec<Vec<usize>>, String> {
    let shape = z.shape();
    if shape.len() != 4 || shape[2] != shape[3] {
        return Err(format!(
            "per-word tags need a sequence latent's value [B, N, K, K], not one of shape {shape:?}"
        ));
    }
    fits(shape, lengths, "the latent")?;
    let tags = crate::ops::chain::tags(z);
    Ok(lengths
        .iter()
        .zip(tags.axis_iter(Axis(0)))
        .map(|(&n, words)| {
            words
                .axis_iter(Axis(0))
                .take(n)
                .map(|w| argmax_index(w.iter().copied()))
                .collect()
        })
        .collect())
}

/// Each real word's gold label in `gold[B, N]`, for the first
/// `lengths[b]` words of sentence `b`.
pub fn word_labels<T: Real>(
    gold: &ArrayD<T>,
    lengths: &[usize],
) -> Result<Vec<Vec<usize>>, String> {
    let shape = gold.shape();
    if shape.len() != 2 {
        return Err(format!(
            "per-word gold labels are [B, N], not of shape {shape:?}"
        ));
    }
    fits(shape, lengths, "the gold labels")?;
    Ok(lengths
        .iter()
        .zip(gold.axis_iter(Axis(0)))
        .map(|(&n, words)| words.iter().take(n).map(|g| g.f64() as usize).collect())
        .collect())
}

/// `Err` unless there is one length per example and each fits the
/// padded word axis (axis 1) of `shape`.
fn fits(shape: &[usize], lengths: &[usize], what: &str) -> Result<(), String> {
    if lengths.len() != shape[0] {
        return Err(format!(
            "{} lengths for {} examples of {what}",
            lengths.len(),
            shape[0]
        ));
    }
    match lengths.iter().find(|&&n| n > shape[1]) {
        Some(n) => Err(format!(
            "a sentence of {n} words, but {what} has room for {}",
            shape[1]
        )),
        None => Ok(()),
    }
}

/// The one-to-one assignment of rows to columns with the largest total of
/// `counts` (rows: predicted tags, columns: gold classes): `out[r]` is the
/// column of row `r`, `None` for a row left over when there are more rows
/// than columns. Kuhn–Munkres (the Hungarian algorithm, in its
/// shortest-augmenting-path form with row and column potentials), O(n³)
/// on the matrix made square with zero columns or rows; among assignments
/// of equal total it returns one, the same for the same counts.
pub fn best_matching(counts: &[Vec<usize>]) -> Vec<Option<usize>> {
    let rows = counts.len();
    let cols = counts.iter().map(Vec::len).max().unwrap_or(0);
    let n = rows.max(cols);
    // Minimises the cost −count; padding rows and columns cost 0.
    let cost = |i: usize, j: usize| -> i64 {
        -(counts.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0) as i64)
    };
    // 1-based: column 0 is the virtual start of each augmenting path.
    let (mut u, mut v) = (vec![0i64; n + 1], vec![0i64; n + 1]);
    // owner[j]: the row matched to column j (0: none yet).
    let mut owner = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        owner[0] = i;
        let mut j0 = 0;
        let mut min_slack = vec![i64::MAX; n + 1];
        let mut used = vec![false; n + 1];
        // Grow a tree of tight edges from row i until it reaches a free column.
        loop {
            used[j0] = true;
            let i0 = owner[j0];
            let (mut delta, mut j1) = (i64::MAX, 0);
            for j in (1..=n).filter(|&j| !used[j]) {
                let slack = cost(i0 - 1, j - 1) - u[i0] - v[j];
                if slack < min_slack[j] {
                    min_slack[j] = slack;
                    way[j] = j0;
                }
                if min_slack[j] < delta {
                    delta = min_slack[j];
                    j1 = j;
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[owner[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_slack[j] -= delta;
                }
            }
            j0 = j1;
            if owner[j0] == 0 {
                break;
            }
        }
        // Flip the path's edges: every column on it takes its predecessor's row.
        while j0 != 0 {
            let j1 = way[j0];
            owner[j0] = owner[j1];
            j0 = j1;
        }
    }
    let mut out = vec![None; rows];
    for (j, &i) in owner.iter().enumerate().skip(1) {
        if (1..=rows).contains(&i) && j <= cols {
            out[i - 1] = Some(j - 1);
        }
    }
    out
}

/// Share of sentences whose whole predicted tag path is the gold path,
/// after renaming predicted tags by the one-to-one mapping to gold classes
/// that maximises word agreement over all the sentences ([`best_matching`]):
/// a latent's tag names are arbitrary. Each item is a sentence's
/// `(predicted, gold)` tags; a predicted tag the mapping leaves out
/// matches nothing. 0 for no sentences.
pub fn path_match(sentences: &[(Vec<usize>, Vec<usize>)]) -> f64 {
    if sentences.is_empty() {
        return 0.0;
    }
    let words = || sentences.iter().flat_map(|(p, g)| p.iter().zip(g));
    let rows = words().map(|(&p, _)| p + 1).max().unwrap_or(0);
    let cols = words().map(|(_, &g)| g + 1).max().unwrap_or(0);
    let mut counts = vec![vec![0usize; cols]; rows];
    for (&p, &g) in words() {
        counts[p][g] += 1;
    }
    let map = best_matching(&counts);
    let matched = sentences
        .iter()
        .filter(|(p, g)| p.len() == g.len() && p.iter().zip(g).all(|(&p, &g)| map[p] == Some(g)))
        .count();
    matched as f64 / sentences.len() as f64
}

/// One metric's counts over the batches of a split, turned into its value
/// once every batch is in (V-measure and path match need all the
/// predictions at once).
#[derive(Clone, Debug, PartialEq)]
pub enum Tally {
    /// Accuracy: examples whose highest logit is the gold class, of those seen.
    Hits { hits: usize, seen: usize },
    /// V-measure: each example's (or word's) cluster, and its gold class.
    Clusters { pred: Vec<usize>, gold: Vec<usize> },
    /// Path match: each sentence's predicted and gold tags.
    Paths(Vec<(Vec<usize>, Vec<usize>)>),
}

impl Tally {
    pub fn new(kind: MetricKind) -> Tally {
        match kind {
            MetricKind::Accuracy => Tally::Hits { hits: 0, seen: 0 },
            MetricKind::VMeasure => Tally::Clusters {
                pred: Vec::new(),
                gold: Vec::new(),
            },
            MetricKind::PathMatch => Tally::Paths(Vec::new()),
        }
    }

    /// Adds a batch: the metric's prediction and gold values, and for a
    /// metric over words each sentence's true length (`None`: one gold
    /// label per example).
    pub fn add<T: Real>(
        &mut self,
        pred: &ArrayD<T>,
        gold: &ArrayD<T>,
        lengths: Option<&[usize]>,
    ) -> Result<(), String> {
        let rows = pred.shape().first().copied().unwrap_or(0);
        if gold.shape().first().copied().unwrap_or(0) != rows {
            return Err(format!(
                "a metric's prediction has {rows} examples but its gold labels {:?}",
                gold.shape()
            ));
        }
        match (self, lengths) {
            (Tally::Hits { hits: h, seen }, _) => {
                *h += hits(pred, gold);
                *seen += rows;
            }
            (Tally::Clusters { pred: p, gold: g }, None) => {
                p.extend(clusters(pred));
                g.extend(gold.iter().map(|v| v.f64() as usize));
            }
            (Tally::Clusters { pred: p, gold: g }, Some(lengths)) => {
                p.extend(word_tags(pred, lengths)?.into_iter().flatten());
                g.extend(word_labels(gold, lengths)?.into_iter().flatten());
            }
            (Tally::Paths(paths), Some(lengths)) => {
                paths.extend(
                    word_tags(pred, lengths)?
                        .into_iter()
                        .zip(word_labels(gold, lengths)?),
                );
            }
            (Tally::Paths(_), None) => {
                return Err(
                    "`path_match` compares the tags of sentences and needs their lengths".into(),
                )
            }
        }
        Ok(())
    }

    /// The metric over everything added, in [0, 1].
    pub fn value(&self) -> f64 {
        match self {
            Tally::Hits { hits, seen } => *hits as f64 / (*seen).max(1) as f64,
            Tally::Clusters { pred, gold } => v_measure(pred, gold),
            Tally::Paths(paths) => path_match(paths),
        }
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

#[cfg(test)]
mod word_tests {
    use super::*;
    use ndarray::IxDyn;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Sentences of random lengths with random tags, as a one-hot path
    /// value `z[B, N, K, K]` and gold labels `[B, N]`; padding is filled
    /// with junk that would change any metric that counted it.
    struct Case {
        z: ArrayD<f64>,
        gold: ArrayD<f64>,
        lengths: Vec<usize>,
        tags: Vec<Vec<usize>>,
        labels: Vec<Vec<usize>>,
    }

    fn case(seed: u64, batch: usize, width: usize, k: usize, kg: usize) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let lengths: Vec<usize> = (0..batch).map(|_| rng.random_range(1..=width)).collect();
        let mut z = ArrayD::zeros(IxDyn(&[batch, width, k, k]));
        let mut gold = ArrayD::zeros(IxDyn(&[batch, width]));
        let (mut tags, mut labels) = (Vec::new(), Vec::new());
        for (b, &n) in lengths.iter().enumerate() {
            let t: Vec<usize> = (0..n).map(|_| rng.random_range(0..k)).collect();
            let l: Vec<usize> = (0..n).map(|_| rng.random_range(0..kg)).collect();
            for i in 0..width {
                if i < n {
                    let prev = if i == 0 { 0 } else { t[i - 1] };
                    z[[b, i, prev, t[i]]] = 1.0;
                    gold[[b, i]] = l[i] as f64;
                } else {
                    z[[b, i, 0, k - 1]] = 5.0;
                    gold[[b, i]] = (kg - 1) as f64;
                }
            }
            tags.push(t);
            labels.push(l);
        }
        Case {
            z,
            gold,
            lengths,
            tags,
            labels,
        }
    }

    fn permute_tags(z: &ArrayD<f64>, perm: &[usize]) -> ArrayD<f64> {
        let s = z.shape();
        let mut out = ArrayD::zeros(z.raw_dim());
        for b in 0..s[0] {
            for i in 0..s[1] {
                for p in 0..s[2] {
                    for c in 0..s[3] {
                        // Word 0's one row of parts stays row 0.
                        let row = if i == 0 { p } else { perm[p] };
                        out[[b, i, row, perm[c]]] = z[[b, i, p, c]];
                    }
                }
            }
        }
        out
    }

    #[test]
    fn word_tags_read_each_real_word_of_a_path_and_of_marginals() {
        let c = case(1, 6, 7, 4, 3);
        assert_eq!(word_tags(&c.z, &c.lengths).unwrap(), c.tags);
        assert_eq!(word_labels(&c.gold, &c.lengths).unwrap(), c.labels);
        // Marginals of a chain of 2 words over 2 tags: word 1's tag
        // marginals sum its column over previous tags (0.3 + 0.4 for tag 1).
        let mut m = ArrayD::<f64>::zeros(IxDyn(&[1, 2, 2, 2]));
        m[[0, 0, 0, 0]] = 0.6;
        m[[0, 0, 0, 1]] = 0.4;
        m[[0, 1, 0, 0]] = 0.3;
        m[[0, 1, 0, 1]] = 0.3;
        m[[0, 1, 1, 0]] = 0.0;
        m[[0, 1, 1, 1]] = 0.4;
        assert_eq!(word_tags(&m, &[2]).unwrap(), [vec![0, 1]]);
    }

    #[test]
    fn word_metrics_refuse_lengths_that_do_not_fit() {
        let c = case(2, 3, 4, 3, 3);
        assert!(word_tags(&c.z, &[1, 2])
            .unwrap_err()
            .contains("2 lengths for 3"));
        assert!(word_labels(&c.gold, &[1, 5, 2])
            .unwrap_err()
            .contains("room for 4"));
        let flat = ArrayD::<f64>::zeros(IxDyn(&[3, 4]));
        assert!(word_tags(&flat, &[1, 1, 1]).is_err());
        let mut t = Tally::new(MetricKind::PathMatch);
        assert!(t.add(&c.z, &c.gold, None).is_err());
    }

    #[test]
    fn word_v_measure_is_v_measure_of_the_real_words_and_ignores_padding() {
        let c = case(3, 20, 9, 4, 3);
        let mut t = Tally::new(MetricKind::VMeasure);
        // Two batches: the first 12 sentences, then the rest.
        for (lo, hi) in [(0, 12), (12, 20)] {
            let z = c.z.slice_axis(Axis(0), (lo..hi).into()).to_owned();
            let g = c.gold.slice_axis(Axis(0), (lo..hi).into()).to_owned();
            t.add(&z, &g, Some(&c.lengths[lo..hi])).unwrap();
        }
        let flat_tags: Vec<usize> = c.tags.concat();
        let flat_labels: Vec<usize> = c.labels.concat();
        assert_eq!(t.value(), v_measure(&flat_tags, &flat_labels));
        // Counting the padding too would give another number.
        let padded = vec![9; 20];
        let mut all = Tally::new(MetricKind::VMeasure);
        all.add(&c.z, &c.gold, Some(&padded)).unwrap();
        assert_ne!(all.value(), t.value());
    }

    /// The best total agreement over every one-to-one map, by trying every
    /// permutation of the square padded matrix.
    fn brute_force_best(counts: &[Vec<usize>], cols: usize) -> usize {
        let n = counts.len().max(cols);
        let mut perm: Vec<usize> = (0..n).collect();
        let mut best = 0;
        permutations(&mut perm, 0, &mut |p| {
            let total = (0..counts.len())
                .filter(|&r| p[r] < cols)
                .map(|r| counts[r][p[r]])
                .sum();
            best = best.max(total);
        });
        best
    }

    fn permutations(p: &mut Vec<usize>, at: usize, f: &mut dyn FnMut(&[usize])) {
        if at == p.len() {
            f(p);
            return;
        }
        for i in at..p.len() {
            p.swap(at, i);
            permutations(p, at + 1, f);
            p.swap(at, i);
        }
    }

    #[test]
    fn the_matching_is_one_to_one_and_as_good_as_the_best_permutation() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for _ in 0..300 {
            let rows = rng.random_range(1..=6);
            let cols = rng.random_range(1..=6);
            let counts: Vec<Vec<usize>> = (0..rows)
                .map(|_| (0..cols).map(|_| rng.random_range(0..12)).collect())
                .collect();
            let map = best_matching(&counts);
            assert_eq!(map.len(), rows);
            let used: Vec<usize> = map.iter().flatten().copied().collect();
            let mut distinct = used.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), used.len(), "one-to-one: {map:?}");
            assert!(used.iter().all(|&c| c < cols));
            assert_eq!(used.len(), rows.min(cols), "every row or column matched");
            let total: usize = (0..rows).filter_map(|r| map[r].map(|c| counts[r][c])).sum();
            assert_eq!(total, brute_force_best(&counts, cols), "{counts:?}");
        }
    }

    #[test]
    fn path_match_is_one_for_relabelled_gold_and_blind_to_tag_names() {
        let c = case(5, 30, 6, 4, 4);
        let perm = [2, 0, 3, 1];
        // The gold paths renamed are the predicted paths: a perfect match.
        let renamed: Vec<(Vec<usize>, Vec<usize>)> = c
            .labels
            .iter()
            .map(|l| (l.iter().map(|&g| perm[g]).collect(), l.clone()))
            .collect();
        assert_eq!(path_match(&renamed), 1.0);
        // Renaming the latent's tags changes nothing.
        let mut a = Tally::new(MetricKind::PathMatch);
        a.add(&c.z, &c.gold, Some(&c.lengths)).unwrap();
        let mut b = Tally::new(MetricKind::PathMatch);
        b.add(&permute_tags(&c.z, &perm), &c.gold, Some(&c.lengths))
            .unwrap();
        assert_eq!(
            word_tags(&permute_tags(&c.z, &perm), &c.lengths).unwrap()[0][0],
            perm[c.tags[0][0]]
        );
        assert_eq!(a.value(), b.value());
    }

    #[test]
    fn path_match_counts_whole_sentences_under_the_best_mapping() {
        // Tag 0 ↔ gold 1 and tag 1 ↔ gold 0 agree on 5 of 6 words; the
        // third sentence has one word wrong, so 2 of 3 paths match.
        let sentences = vec![
            (vec![0, 0, 1], vec![1, 1, 0]),
            (vec![1], vec![0]),
            (vec![0, 1], vec![1, 1]),
        ];
        assert!((path_match(&sentences) - 2.0 / 3.0).abs() < 1e-12);
        // More predicted tags than gold classes: the extra one matches nothing.
        let extra = vec![(vec![0, 1], vec![0, 0]), (vec![2], vec![1])];
        assert_eq!(
            best_matching(&[vec![1, 0], vec![1, 0], vec![0, 1]]).len(),
            3
        );
        assert!((path_match(&extra) - 0.5).abs() < 1e-12);
        assert_eq!(path_match(&[]), 0.0);
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
