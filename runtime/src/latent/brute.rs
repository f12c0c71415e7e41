//! Brute force over every dependency tree of a short sentence: the
//! independent reference the tree algorithms are tested against (and a
//! readable definition of what they compute).

/// Every head assignment of `n` words that is a tree rooted at 0 —
/// projective if asked, with exactly one root child if `single_root`.
pub fn trees(n: usize, projective: bool, single_root: bool) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut heads = vec![0; n + 1];
    fn rec(
        m: usize,
        n: usize,
        heads: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
        want: (bool, bool),
    ) {
        if m > n {
            if is_tree(heads, want.0, want.1) {
                out.push(heads.clone());
            }
            return;
        }
        for h in 0..=n {
            if h != m {
                heads[m] = h;
                rec(m + 1, n, heads, out, want);
            }
        }
    }
    rec(1, n, &mut heads, &mut out, (projective, single_root));
    out
}

/// Whether `heads` (with `heads[0]` unused) is such a tree.
pub fn is_tree(heads: &[usize], projective: bool, single_root: bool) -> bool {
    let n = heads.len() - 1;
    // Every word reaches the root without a cycle.
    for m in 1..=n {
        let (mut x, mut steps) = (m, 0);
        while x != 0 {
            x = heads[x];
            steps += 1;
            if steps > n {
                return false;
            }
        }
    }
    if single_root && (1..=n).filter(|&m| heads[m] == 0).count() != 1 {
        return false;
    }
    if projective {
        // No crossing arcs (the root sits at position 0).
        for a in 1..=n {
            for b in 1..=n {
                let (l1, r1) = (heads[a].min(a), heads[a].max(a));
                let (l2, r2) = (heads[b].min(b), heads[b].max(b));
                if l1 < l2 && l2 < r1 && r1 < r2 {
                    return false;
                }
            }
        }
    }
    true
}

/// The score of a tree.
pub fn score(s: &dyn Fn(usize, usize) -> f64, heads: &[usize]) -> f64 {
    heads
        .iter()
        .enumerate()
        .skip(1)
        .map(|(m, &h)| s(h, m))
        .sum()
}

/// Exact quantities over an enumerated set of trees.
pub struct Exact {
    /// The best tree score.
    pub best: f64,
    pub log_z: f64,
    /// `µ[h][m]`, `(n+1) × (n+1)` row-major.
    pub marginals: Vec<f64>,
}

impl Exact {
    pub fn of(trees: &[Vec<usize>], n: usize, s: &dyn Fn(usize, usize) -> f64) -> Exact {
        let scores: Vec<f64> = trees.iter().map(|t| score(s, t)).collect();
        let best = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let log_z = best + scores.iter().map(|x| (x - best).exp()).sum::<f64>().ln();
        let mut marginals = vec![0.0; (n + 1) * (n + 1)];
        for (t, sc) in trees.iter().zip(&scores) {
            let p = (sc - log_z).exp();
            for m in 1..=n {
                marginals[t[m] * (n + 1) + m] += p;
            }
        }
        Exact {
            best,
            log_z,
            marginals,
        }
    }
}

/// Uniform scores in `[−scale, scale]` for an `(n+1)²` row-major layout.
pub fn random_scores(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..(n + 1) * (n + 1))
        .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * scale)
        .collect()
}

/// A sentence's scores, as the algorithms take them.
pub type Scores<'a> = &'a dyn Fn(usize, usize) -> f64;

/// Checks log Z and the marginals of `compute`, and the tree of `map`,
/// against enumeration for every `n` in `ns`, both root kinds and a few
/// random score draws of the given scale: log Z within 1e-9 (relative to
/// its size when that exceeds 1), marginals within 1e-9, MAP a valid tree
/// with the best score. Returns how many cases `count` said yes to.
#[allow(clippy::type_complexity)]
pub fn assert_matches_enumeration(
    projective: bool,
    ns: std::ops::RangeInclusive<usize>,
    scale: f64,
    compute: &dyn Fn(usize, Scores, bool) -> (f64, Vec<f64>),
    map: Option<&dyn Fn(usize, Scores, bool) -> Vec<usize>>,
    count: &dyn Fn(usize, Scores, bool) -> bool,
) -> usize {
    let mut counted = 0;
    for n in ns {
        for single in [true, false] {
            let trees = trees(n, projective, single);
            for seed in 0..3 {
                let sc = random_scores(n, seed * 31 + n as u64, scale);
                let s = |h: usize, m: usize| sc[h * (n + 1) + m];
                let want = Exact::of(&trees, n, &s);
                let (lz, mu) = compute(n, &s, single);
                let tol = 1e-9 * want.log_z.abs().max(1.0);
                assert!(
                    (lz - want.log_z).abs() < tol,
                    "n={n} single={single}: log Z {lz} vs {}",
                    want.log_z
                );
                for (a, b) in mu.iter().zip(&want.marginals) {
                    assert!(
                        (a - b).abs() < 1e-9,
                        "n={n} single={single}: marginal {a} vs {b}"
                    );
                }
                if let Some(map) = map {
                    let got = map(n, &s, single);
                    assert!(
                        trees.contains(&got),
                        "n={n} single={single}: {got:?} is not a valid tree"
                    );
                    assert!(
                        (score(&s, &got) - want.best).abs() < 1e-9,
                        "n={n} single={single}"
                    );
                }
                if count(n, &s, single) {
                    counted += 1;
                }
            }
        }
    }
    counted
}

/// Checks that the marginals `compute(s).1` are the gradient of its log
/// partition `compute(s).0`, arc by arc, by central differences in f64.
pub fn assert_marginals_are_the_gradient_of_log_z(
    n: usize,
    sc: &[f64],
    compute: &dyn Fn(Scores) -> (f64, Vec<f64>),
) {
    let idx = |h: usize, m: usize| h * (n + 1) + m;
    let (_, mu) = compute(&|h, m| sc[idx(h, m)]);
    let e = 1e-6;
    for h in 0..=n {
        for m in (1..=n).filter(|&m| m != h) {
            let at = |t: f64| {
                let mut v = sc.to_vec();
                v[idx(h, m)] += t;
                compute(&|a, b| v[idx(a, b)]).0
            };
            let fd = (at(e) - at(-e)) / (2.0 * e);
            let got = mu[idx(h, m)];
            assert!((fd - got).abs() < 1e-7, "{h}->{m}: {got} vs {fd}");
        }
    }
}

/// Checks a marginals JVP (`jvp(s, ds)`: the marginals' derivative in
/// direction `ds`) against central differences (step `e`) of `marginals`
/// along `dir` from `sc`, entry by entry within `tol`.
pub fn assert_jvp_is_the_finite_difference(
    n: usize,
    sc: &[f64],
    dir: &[f64],
    jvp: &dyn Fn(Scores, Scores) -> Vec<f64>,
    marginals: &dyn Fn(Scores) -> Vec<f64>,
    e: f64,
    tol: f64,
) {
    let idx = |h: usize, m: usize| h * (n + 1) + m;
    let dmu = jvp(&|h, m| sc[idx(h, m)], &|h, m| dir[idx(h, m)]);
    let at = |t: f64| marginals(&|h, m| sc[idx(h, m)] + t * dir[idx(h, m)]);
    let (p, q) = (at(e), at(-e));
    for (i, d) in dmu.iter().enumerate() {
        let fd = (p[i] - q[i]) / (2.0 * e);
        assert!((fd - d).abs() < tol, "entry {i}: {d} vs {fd}");
    }
}

/// A tree as a `(n+1) × (n+1)` row-major arc indicator.
pub fn indicator(heads: &[usize]) -> Vec<f64> {
    let n1 = heads.len();
    let mut z = vec![0.0; n1 * n1];
    for (m, &h) in heads.iter().enumerate().skip(1) {
        z[h * n1 + m] = 1.0;
    }
    z
}

/// [`indicator`]'s nonzero entries, `(h(n+1) + m, 1)` for each arc
/// `h → m`, increasing (SparseMAP's parts), without the dense copy: by
/// head, then by word, a counting sort over the heads.
pub fn arcs(heads: &[usize]) -> Vec<(usize, f64)> {
    let n1 = heads.len();
    let mut first = vec![0usize; n1 + 1];
    for &h in heads.iter().skip(1) {
        first[h + 1] += 1;
    }
    for h in 1..first.len() {
        first[h] += first[h - 1];
    }
    let mut parts = vec![(0, 1.0); n1.saturating_sub(1)];
    for (m, &h) in heads.iter().enumerate().skip(1) {
        parts[first[h]] = (h * n1 + m, 1.0);
        first[h] += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_counts_are_the_known_sequences() {
        let count = |p, s| (1..=6).map(|n| trees(n, p, s).len()).collect::<Vec<_>>();
        assert_eq!(count(true, true), [1, 2, 7, 30, 143, 728]);
        assert_eq!(count(true, false), [1, 3, 12, 55, 273, 1428]);
        // Labelled rooted trees: n^(n−1) with one root child, (n+1)^(n−1) without.
        assert_eq!(count(false, true), [1, 2, 9, 64, 625, 7776]);
        assert_eq!(count(false, false), [1, 3, 16, 125, 1296, 16807]);
    }

    #[test]
    fn arcs_are_the_indicators_nonzero_entries_in_order() {
        for n in 0..=5 {
            for heads in trees(n, false, false) {
                let dense: Vec<(usize, f64)> = indicator(&heads)
                    .into_iter()
                    .enumerate()
                    .filter(|&(_, x)| x != 0.0)
                    .collect();
                assert_eq!(arcs(&heads), dense, "heads {heads:?}");
            }
        }
    }
}
