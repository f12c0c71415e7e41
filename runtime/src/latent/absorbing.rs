//! The matrix-tree quantities of non-projective trees without a single
//! subtraction: the fallback for scores so far apart that the Laplacian
//! cannot be inverted accurately in f64 (see [`super::nonprojective`]).
//!
//! Read a tree backwards, as a walk: from word `x`, step to its head `y`
//! with probability `P(x → y) = A[y][x] / Σ_y' A[y'][x]`; the root 0 is
//! absorbing. Then
//!
//! - `Z = Π_x d_x · det(I − Q)` (`d_x` the column sums, `Q` the word-to-word
//!   part of `P`), and Gaussian elimination of `I − Q` in the manner of
//!   Grassmann, Taksar and Heyman computes each pivot as a sum of exit
//!   probabilities, never as `1 − (stay probability)`;
//! - cutting word `m` from its head leaves a forest rooted at `{0, m}`, and
//!   by Wilson's algorithm the head `h` of `m` lies in the root's part with
//!   the probability `p_m(h)` that the walk from `h` reaches 0 before `m`,
//!   so `µ[h][m] ∝ A[h][m] · p_m(h)` over `h` (with `p_m(0) = 1`). The
//!   absorption probabilities come from the same elimination and a
//!   back-substitution of sums of positive terms.
//!
//! Everything is in log space, so no weight under- or overflows whatever
//! the scores. A single root is the limit of root weights `t · A[0][·]`
//! with `t → 0` (the distribution then keeps only trees with the fewest
//! root arcs, one): `t = e^{−M}` with `M` beyond any score difference, which
//! log space represents exactly. Everything costs O(n³) log-sum-exps (a
//! constant factor over the Laplacian's LU); the tangent of every quantity follows with
//! [`Dual`](super::logspace::Dual) numbers.

use super::logspace::Num;

/// The walk's log transition matrix over positions `0..n1` (row = from),
/// with the states in the order `perm` (`perm[pos]` is the state).
#[inline(always)]
fn permuted<D: Num>(lp: &[D], n1: usize, perm: &[usize]) -> Vec<D> {
    let mut out = vec![D::NEG; n1 * n1];
    for (px, &x) in perm.iter().enumerate() {
        for (py, &y) in perm.iter().enumerate() {
            out[px * n1 + py] = lp[x * n1 + y];
        }
    }
    out
}

/// Eliminates the states at positions `n1 − 1` down to `first`, folding
/// their transitions into the rows of the states that remain (all but the
/// root, position 0, whose row is never read). Returns each eliminated
/// position's log pivot (indexed by position); its row stays as it was
/// when it was eliminated.
#[inline(always)]
fn eliminate<D: Num>(m: &mut [D], n1: usize, first: usize) -> Vec<D> {
    let mut den = vec![D::ZERO; n1];
    for k in (first..n1).rev() {
        // The pivot: the probability of leaving k for a state still there.
        let d = D::lse(&m[k * n1..k * n1 + k]);
        den[k] = d;
        let (above, rest) = m.split_at_mut(k * n1);
        let row_k = &rest[..k];
        for x in 1..k {
            let f = above[x * n1 + k].sub(d);
            D::lae_row(&mut above[x * n1..x * n1 + k], f, row_k);
        }
    }
    den
}

/// The walk's log transition matrix, the column log-sums `ld` and the
/// root shift `M` (0 with multiple roots).
struct Walk<D> {
    n1: usize,
    lw: Vec<D>,
    lp: Vec<D>,
    ld: Vec<D>,
    shift: f64,
}

#[inline(always)]
fn walk<D: Num>(n: usize, s: &dyn Fn(usize, usize) -> D, single_root: bool) -> Walk<D> {
    let n1 = n + 1;
    let mut lw = vec![D::NEG; n1 * n1];
    let mut range = 0.0f64;
    for h in 0..n1 {
        for m in 1..n1 {
            if h != m {
                let v = s(h, m);
                lw[h * n1 + m] = v;
                if v.v().is_finite() {
                    range = range.max(v.v().abs());
                }
            }
        }
    }
    // Beyond any difference of tree scores (each at most 2·range per arc
    // changed) and the log of the number of trees.
    let shift = if single_root {
        4.0 * range * n1 as f64 + 2.0 * n1 as f64 * (n1 as f64).ln() + 1000.0
    } else {
        0.0
    };
    if single_root {
        // Row 0 holds the root arcs.
        for x in lw.iter_mut().take(n1).skip(1) {
            *x = x.sub(D::of(shift));
        }
    }
    let mut ld = vec![D::ZERO; n1];
    let mut col = Vec::with_capacity(n1);
    for (m, l) in ld.iter_mut().enumerate().skip(1) {
        col.clear();
        col.extend((0..n1).map(|h| lw[h * n1 + m]));
        *l = D::lse(&col);
    }
    let mut lp = vec![D::NEG; n1 * n1];
    for x in 1..n1 {
        for y in 0..n1 {
            if y != x {
                lp[x * n1 + y] = lw[y * n1 + x].sub(ld[x]);
            }
        }
    }
    Walk {
        n1,
        lw,
        lp,
        ld,
        shift,
    }
}

impl<D: Num> Walk<D> {
    #[inline(always)]
    fn log_z(&self) -> D {
        let n1 = self.n1;
        let perm: Vec<usize> = (0..n1).collect();
        let mut m = permuted(&self.lp, n1, &perm);
        let den = eliminate(&mut m, n1, 1);
        let mut total = D::of(self.shift);
        for (&l, &d) in self.ld.iter().zip(&den).skip(1) {
            total = total.add(l).add(d);
        }
        total
    }
}

/// One level of the divide and conquer over targets: the chain over
/// `states` (positions; 0 is the root) after eliminating the positions
/// from `first` on, their frozen rows and pivots.
struct Level<D> {
    states: Vec<usize>,
    first: usize,
    m: Vec<D>,
    den: Vec<D>,
}

/// `log p_m(h)` for every target `m` and state `h` — the walk from `h`
/// reaches 0 before `m` — handed to `emit(m, logp)`. Targets are split in
/// halves; for each half, the other half is eliminated (shared by all the
/// targets of the half) and the half recurses, so the eliminations cost
/// O(n³) in all instead of O(n³) per target. A target's probabilities are
/// then back-substituted through the eliminations on its path, innermost
/// first.
#[inline(always)]
fn absorptions<D: Num>(
    parent: &Level<D>,
    targets: &[usize],
    n_states: usize,
    path: &mut Vec<Level<D>>,
    emit: &mut dyn FnMut(usize, &[D]),
) {
    if targets.len() == 1 {
        let mut logp = vec![D::NEG; n_states];
        logp[0] = D::ZERO;
        let mut terms = Vec::with_capacity(n_states);
        for level in path.iter().rev() {
            let k1 = level.states.len();
            for p in level.first..k1 {
                let row = &level.m[p * k1..p * k1 + p];
                terms.clear();
                terms.extend(
                    row.iter()
                        .zip(&level.states[..p])
                        .map(|(&w, &y)| w.add(logp[y])),
                );
                logp[level.states[p]] = D::lse(&terms).sub(level.den[p]);
            }
        }
        emit(targets[0], &logp);
        return;
    }
    let (left, right) = targets.split_at(targets.len() / 2);
    for (keep, drop) in [(left, right), (right, left)] {
        // Positions: the root, the half kept, then the half eliminated.
        let mut states = vec![0];
        states.extend_from_slice(keep);
        states.extend_from_slice(drop);
        let k1 = states.len();
        let pos_in_parent: Vec<usize> = states
            .iter()
            .map(|st| {
                parent.states[..parent.first]
                    .iter()
                    .position(|x| x == st)
                    .expect("alive")
            })
            .collect();
        let pk1 = parent.states.len();
        let mut m = vec![D::NEG; k1 * k1];
        for (i, &pi) in pos_in_parent.iter().enumerate() {
            for (j, &pj) in pos_in_parent.iter().enumerate() {
                m[i * k1 + j] = parent.m[pi * pk1 + pj];
            }
        }
        let first = 1 + keep.len();
        let den = eliminate(&mut m, k1, first);
        path.push(Level {
            states,
            first,
            m,
            den,
        });
        let level = path.last().expect("just pushed");
        // The child's chain: the kept positions, now with the dropped half folded in.
        let child = Level {
            states: level.states[..first].to_vec(),
            first,
            m: (0..first)
                .flat_map(|i| level.m[i * k1..i * k1 + first].to_vec())
                .collect(),
            den: Vec::new(),
        };
        absorptions(&child, keep, n_states, path, emit);
        path.pop();
    }
}

/// log Z and the arc marginals `µ[h][m]` (`(n+1)²`, row-major).
pub fn marginals<D: Num>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    single_root: bool,
) -> (D, Vec<D>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the copy assumes.
        return unsafe { marginals_avx2(n, s, single_root) };
    }
    marginals_any(n, s, single_root)
}

/// [`marginals_any`] compiled for 256-bit vectors (chosen at run time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn marginals_avx2<D: Num>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    single_root: bool,
) -> (D, Vec<D>) {
    marginals_any(n, s, single_root)
}

#[inline(always)]
fn marginals_any<D: Num>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    single_root: bool,
) -> (D, Vec<D>) {
    let n1 = n + 1;
    let mut mu = vec![D::ZERO; n1 * n1];
    if n == 0 {
        return (D::ZERO, mu);
    }
    let w = walk(n, s, single_root);
    let mut col = vec![D::NEG; n1];
    let top = Level {
        states: (0..n1).collect(),
        first: n1,
        m: w.lp.clone(),
        den: Vec::new(),
    };
    let words: Vec<usize> = (1..n1).collect();
    let mut path = Vec::new();
    absorptions(&top, &words, n1, &mut path, &mut |m, lp| {
        for h in 0..n1 {
            col[h] = if h == m {
                D::NEG
            } else {
                w.lw[h * n1 + m].add(lp[h])
            };
        }
        let total = D::lse(&col);
        for h in 0..n1 {
            mu[h * n1 + m] = D::weight(col[h], total);
        }
    });
    (w.log_z(), mu)
}

#[cfg(test)]
mod tests {
    use super::super::brute;
    use super::super::logspace::Dual;
    use super::*;

    use brute::random_scores;

    #[test]
    fn log_partition_and_marginals_match_brute_force() {
        brute::assert_matches_enumeration(
            false,
            1..=6,
            3.0,
            &|n, s, single| marginals::<f64>(n, s, single),
            None,
            &|_, _, _| false,
        );
    }

    #[test]
    fn extreme_scores_match_brute_force_where_the_laplacian_fails() {
        // Scores ±1e3: tree probabilities span thousands of nats.
        let laplacian_failed = brute::assert_matches_enumeration(
            false,
            3..=6,
            1e3,
            &|n, s, single| marginals::<f64>(n, s, single),
            None,
            &|n, s, single| {
                super::super::nonprojective::marginals_by_laplacian(n, s, single).is_err()
            },
        );
        assert!(laplacian_failed > 0, "no case needed the fallback");
    }

    #[test]
    fn tangents_are_the_finite_differences() {
        let n = 5;
        let sc = random_scores(n, 3, 2.0);
        let dir = random_scores(n, 4, 1.0);
        let idx = |h: usize, m: usize| h * (n + 1) + m;
        for single in [true, false] {
            let dual = |h: usize, m: usize| Dual {
                v: sc[idx(h, m)],
                t: dir[idx(h, m)],
            };
            let (lz, mu) = marginals::<Dual>(n, &dual, single);
            let e = 1e-6;
            let at =
                |t: f64| marginals::<f64>(n, &|h, m| sc[idx(h, m)] + t * dir[idx(h, m)], single);
            let (p, q) = (at(e), at(-e));
            assert!(((p.0 - q.0) / (2.0 * e) - lz.t).abs() < 1e-7);
            for (i, d) in mu.iter().enumerate() {
                let fd = (p.1[i] - q.1[i]) / (2.0 * e);
                assert!((fd - d.t).abs() < 1e-6, "entry {i}: {} vs {fd}", d.t);
            }
        }
    }
}
