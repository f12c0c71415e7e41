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

/// A tree as a `(n+1) × (n+1)` row-major arc indicator.
pub fn indicator(heads: &[usize]) -> Vec<f64> {
    let n1 = heads.len();
    let mut z = vec![0.0; n1 * n1];
    for (m, &h) in heads.iter().enumerate().skip(1) {
        z[h * n1 + m] = 1.0;
    }
    z
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
}
