//! Sets of arcs no projective tree holds two of, and the heaviest such set
//! under a weight per arc: a cheap proof that a point lies outside the
//! projective trees' polytope. Every tree holds at most one arc of such a
//! set, so every point of the polytope sums to at most 1 over it; a point
//! that sums to more is outside.
//!
//! What it is for: an exact projection first projects the scores onto the
//! polytope's affine hull and, when that point is positive, asks moment
//! matching whether it is inside — tens of marginals calls, and for
//! SparseMAP's scores early in training the answer was always "outside"
//! (SST's first 20 steps: 361 of 364 positive hull points, at a cost near
//! the active set's own). The hull point of scores near zero gives every
//! arc about 1/n, and a set of about n mutually exclusive arcs then sums
//! past 1 (1.007–1.10, median 1.03, over 120 of those points): one O(n³)
//! pass proves what moment matching found after 39 marginals calls on
//! average.
//!
//! The family searched (exact over it, not over every exclusive set):
//! arcs `(a, b)` (`a < b` their positions, the root at 0) all meeting a
//! point `p` (`a ≤ p ≤ b`), ordered by left then right end, each step
//! either crossing the one before (`a < a'` and `b < b'`; both cover `p`,
//! so they cross unless they only touch at `p`, where both must then have
//! `p` as their modifier), or sharing an end that is both arcs' modifier
//! (a word has one head), or both leaving the root under a single root.
//! An interval may contribute both its arcs (`a → b` and `b → a`, a
//! two-cycle) when it neither shares an end with its neighbours in the
//! order. Tested against enumeration: every pair of the set found is held
//! by no tree.

/// How an interval `(a, b)` takes part: the arc `a → b` (modifier `b`),
/// `b → a` (modifier `a`), or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Right,
    Left,
    Both,
}

const KINDS: [Kind; 3] = [Kind::Right, Kind::Left, Kind::Both];

/// The weight of the heaviest set of the family, with its arcs
/// `(head, modifier)`. `z` is the `(n+1)²` row-major arc layout
/// (`z[h·(n+1) + m]` for `h → m`); `single_root`: at most one arc leaves
/// the root, so root arcs exclude one another too.
pub fn heaviest(n: usize, z: &[f64], single_root: bool) -> (f64, Vec<(usize, usize)>) {
    debug_assert_eq!(z.len(), (n + 1) * (n + 1));
    let mut best = (0.0, Vec::new());
    for p in 0..=n {
        let (weight, arcs) = heaviest_through(n, z, single_root, p);
        if weight > best.0 {
            best = (weight, arcs);
        }
    }
    best
}

/// Whether `z` sums to more than 1 over a set of the family, beyond what
/// rounding could do: a proof that `z` is not a point of the polytope.
pub fn prove_outside(n: usize, z: &[f64], single_root: bool) -> bool {
    let (weight, _) = heaviest(n, z, single_root);
    // The sum of at most n² terms of at most 1 each: rounding stays far
    // below 1e-9, and the points this proves outside on SST overshoot by
    // 7e-3 or more.
    weight > 1.0 + 1e-9
}

/// [`heaviest`] among the sets whose arcs all meet position `p`: a
/// longest path over the cells `(a, b)`, `a ≤ p ≤ b`, taken in order of
/// `a` then `b`, as a table of the best set ending at each cell and kind
/// plus three running maxima (crossing steps: any kind at a smaller `a`
/// and `b`; shared left ends: `Left` kinds, or root arcs; shared right
/// ends: `Right` kinds). O(n²) per point.
fn heaviest_through(
    n: usize,
    z: &[f64],
    single_root: bool,
    p: usize,
) -> (f64, Vec<(usize, usize)>) {
    let (n1, rows, cols) = (n + 1, p + 1, n + 1 - p);
    let weight = |a: usize, b: usize, k: Kind| -> Option<f64> {
        // An arc that only touches p is in the set as p's modifier.
        let allowed = match k {
            Kind::Right => a != p,
            Kind::Left => a != 0 && b != p,
            Kind::Both => a != 0 && a != p && b != p,
        };
        allowed.then(|| match k {
            Kind::Right => z[a * n1 + b],
            Kind::Left => z[b * n1 + a],
            Kind::Both => z[a * n1 + b] + z[b * n1 + a],
        })
    };
    // Best set ending at cell (a, b) with kind k; and the best ending
    // anywhere at or before (a, b) in both coordinates (offset by one:
    // row or column 0 is "no cell", the empty set).
    let at = |a: usize, b: usize, k: usize| (a * cols + (b - p)) * 3 + k;
    let mut value = vec![f64::NEG_INFINITY; rows * cols * 3];
    let mut before = vec![0.0f64; (rows + 1) * (cols + 1)];
    let prefix = |a1: usize, c1: usize| a1 * (cols + 1) + c1;
    // The best `Right` set ending in column b at an earlier row.
    let mut right_in_column = vec![f64::NEG_INFINITY; cols];
    // Where each cell's best set came from, to read the set back.
    let mut from: Vec<Option<(usize, usize, usize)>> = vec![None; rows * cols * 3];
    let mut best_before: Vec<Option<(usize, usize, usize)>> = vec![None; (rows + 1) * (cols + 1)];
    let mut right_from: Vec<Option<(usize, usize, usize)>> = vec![None; cols];
    let mut top = (0.0, None);
    for a in 0..rows {
        // The best `Left` set (or root `Right` set) ending in this row.
        let (mut left_in_row, mut left_from) = (f64::NEG_INFINITY, None);
        let (mut root_in_row, mut root_from) = (f64::NEG_INFINITY, None);
        for b in p.max(a + 1)..n1 {
            let c = b - p;
            let mut cell_best = (f64::NEG_INFINITY, None);
            for (ki, &k) in KINDS.iter().enumerate() {
                let Some(w) = weight(a, b, k) else { continue };
                // The empty set, or a crossing step from a smaller a and b.
                let mut base = (before[prefix(a, c)], best_before[prefix(a, c)]);
                let mut offer = |v: f64, f: Option<(usize, usize, usize)>| {
                    if v > base.0 {
                        base = (v, f);
                    }
                };
                match k {
                    Kind::Left => offer(left_in_row, left_from),
                    Kind::Right => {
                        offer(right_in_column[c], right_from[c]);
                        if a == 0 && single_root {
                            offer(root_in_row, root_from);
                        }
                    }
                    Kind::Both => {}
                }
                let v = w + base.0;
                value[at(a, b, ki)] = v;
                from[at(a, b, ki)] = base.1;
                if v > cell_best.0 {
                    cell_best = (v, Some((a, b, ki)));
                }
                if v > top.0 {
                    top = (v, Some((a, b, ki)));
                }
            }
            // Running maxima, after every kind of this cell was offered
            // the earlier ones (a cell's kinds exclude one another).
            for (ki, &k) in KINDS.iter().enumerate() {
                let v = value[at(a, b, ki)];
                match k {
                    Kind::Left if v > left_in_row => {
                        (left_in_row, left_from) = (v, Some((a, b, ki)))
                    }
                    Kind::Right => {
                        if v > right_in_column[c] {
                            (right_in_column[c], right_from[c]) = (v, Some((a, b, ki)));
                        }
                        if a == 0 && v > root_in_row {
                            (root_in_row, root_from) = (v, Some((a, b, ki)));
                        }
                    }
                    _ => {}
                }
            }
            let (up, left) = (prefix(a, c + 1), prefix(a + 1, c));
            let mut here = (before[up], best_before[up]);
            if before[left] > here.0 {
                here = (before[left], best_before[left]);
            }
            if cell_best.0 > here.0 {
                here = (cell_best.0, cell_best.1);
            }
            before[prefix(a + 1, c + 1)] = here.0;
            best_before[prefix(a + 1, c + 1)] = here.1;
        }
    }
    let mut arcs = Vec::new();
    let mut cursor = top.1;
    while let Some((a, b, ki)) = cursor {
        match KINDS[ki] {
            Kind::Right => arcs.push((a, b)),
            Kind::Left => arcs.push((b, a)),
            Kind::Both => arcs.extend([(a, b), (b, a)]),
        }
        cursor = from[at(a, b, ki)];
    }
    (top.0, arcs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latent::brute;
    use rand::{Rng, SeedableRng};

    /// Whether some tree holds both arcs (by enumeration).
    fn held_together(
        trees: &[Vec<usize>],
        (h1, m1): (usize, usize),
        (h2, m2): (usize, usize),
    ) -> bool {
        trees.iter().any(|t| t[m1] == h1 && t[m2] == h2)
    }

    #[test]
    fn no_tree_holds_two_arcs_of_the_heaviest_set() {
        // Random positive weights, so that the set found varies; every
        // pair it holds is checked against every projective tree.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
        for n in 1..=6 {
            for single_root in [true, false] {
                let trees = brute::trees(n, true, single_root);
                for _ in 0..200 {
                    let z: Vec<f64> = (0..(n + 1) * (n + 1))
                        .map(|_| rng.random::<f64>().powi(4))
                        .collect();
                    let (weight, arcs) = heaviest(n, &z, single_root);
                    let sum: f64 = arcs.iter().map(|&(h, m)| z[h * (n + 1) + m]).sum();
                    assert!(
                        (sum - weight).abs() < 1e-12,
                        "n={n}: {arcs:?} sums to {sum}, said {weight}"
                    );
                    for (i, &e) in arcs.iter().enumerate() {
                        assert!(e.0 != e.1 && e.1 != 0, "n={n}: not an arc {e:?}");
                        for &f in &arcs[i + 1..] {
                            assert!(e != f, "n={n}: {e:?} twice");
                            assert!(
                                !held_together(&trees, e, f),
                                "n={n} single={single_root}: {e:?} and {f:?} in one tree"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn no_point_of_the_polytope_is_proven_outside() {
        // Trees and mixtures of them sum to at most 1 over every set.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(32);
        for n in 1..=7 {
            for single_root in [true, false] {
                let trees = brute::trees(n, true, single_root);
                for t in &trees {
                    assert!(!prove_outside(n, &brute::indicator(t), single_root));
                }
                for _ in 0..30 {
                    let mut mix = vec![0.0; (n + 1) * (n + 1)];
                    let weights: Vec<f64> = (0..trees.len())
                        .map(|_| rng.random::<f64>().powi(8))
                        .collect();
                    let total: f64 = weights.iter().sum();
                    for (t, w) in trees.iter().zip(&weights) {
                        for (x, y) in mix.iter_mut().zip(brute::indicator(t)) {
                            *x += w / total * y;
                        }
                    }
                    let (weight, _) = heaviest(n, &mix, single_root);
                    assert!(weight <= 1.0 + 1e-12, "n={n}: a mixture sums to {weight}");
                }
            }
        }
    }

    #[test]
    fn a_tree_with_crossing_arcs_is_proven_outside() {
        // 0 → 2, 2 → 3, 3 → 1: the arc 3 → 1 crosses 0 → 2.
        let n = 3;
        let mut z = vec![0.0; 16];
        for (h, m) in [(0, 2), (2, 3), (3, 1)] {
            z[h * 4 + m] = 1.0;
        }
        let (weight, arcs) = heaviest(n, &z, true);
        assert_eq!(weight, 2.0);
        assert!(arcs.contains(&(0, 2)) && arcs.contains(&(3, 1)));
        assert!(prove_outside(n, &z, true));
    }
}
