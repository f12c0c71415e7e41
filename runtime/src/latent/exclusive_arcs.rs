//! Sets of arcs no projective tree holds two of, and the heaviest such set
//! under a weight per arc: a cheap proof that a point lies outside the
//! projective trees' polytope. Every tree holds at most one arc of such a
//! set, so every point of the polytope sums to at most 1 over it; a point
//! that sums to more is outside.
//!
//! What it is for: an exact projection first projects the scores onto the
//! polytope's affine hull and, when that point is positive, asks moment
//! matching whether it is inside — tens of marginals calls, and for
//! SparseMAP's scores early in training it refused every such point of
//! five words or more (SST's first 20 steps: 361 of 364 positive hull
//! points, the 3 it certified of at most four words; each refusal cost
//! about as much as the active set's solve). The hull point of scores near zero gives every
//! arc about 1/n, and a set of about n mutually exclusive arcs then sums
//! past 1 (1.007–1.10, median 1.03, over 120 of those points): one O(n³)
//! pass proves what moment matching found after 39 marginals calls on
//! average.
//!
//! The family searched (exact over it, not over every exclusive set):
//! arcs `(a, b)` (`a < b` their positions, the root at 0) all meeting a
//! word's position `p` (`a ≤ p ≤ b`) or all spanning the gap after a
//! position `g` (`a ≤ g < b`), ordered by left then right end, each step
//! either crossing the one before (`a < a'` and `b < b'`: both cover the
//! point, so they cross, unless they only touch at `p`, where both must
//! then have `p` as their modifier), or sharing an end that is both arcs'
//! modifier (a word has one head), or both leaving the root under a
//! single root. An interval may contribute both its arcs (`a → b` and
//! `b → a`, a two-cycle) when it shares no end with its neighbours in the
//! order. Tested against enumeration (every pair of a set found is held
//! by no tree) and against members whose weight is easy to read (one
//! arc, two crossing arcs, a word's heads, the root's arcs): the search
//! finds at least as much.

/// How an interval `(a, b)` takes part: the arc `a → b` (modifier `b`),
/// `b → a` (modifier `a`), or both. Also the index of the cell's kind in
/// [`Table`]'s links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Right,
    Left,
    Both,
}

/// What every arc of a set meets: a word's position (an arc may end
/// there, as that word's arc: sets holding a word's heads), or the gap
/// after position `g` (every arc spans it: crossing arcs that a common
/// word would not serve, e.g. `(a, b)` and `(b − 1, d)` where the word
/// `b − 1` would need both arcs to have it as modifier).
#[derive(Clone, Copy, Debug)]
enum Meet {
    Word(usize),
    Gap(usize),
}

/// Every point the family is searched through, for `n` words.
fn meets(n: usize) -> impl Iterator<Item = Meet> {
    (0..=n).map(Meet::Word).chain((0..n).map(Meet::Gap))
}

/// The weight of the heaviest set of the family, with its arcs
/// `(head, modifier)`. `z` is the `(n+1)²` row-major arc layout
/// (`z[h·(n+1) + m]` for `h → m`); `single_root`: exactly one arc leaves
/// the root, so root arcs exclude one another too.
pub fn heaviest(n: usize, z: &[f64], single_root: bool) -> (f64, Vec<(usize, usize)>) {
    debug_assert_eq!(z.len(), (n + 1) * (n + 1));
    let mut table = Table::<true>::new(n);
    let mut best = (0.0, Vec::new());
    for meet in meets(n) {
        let (weight, last) = table.through(z, single_root, meet);
        if weight > best.0 {
            best = (weight, table.arcs(last));
        }
    }
    best
}

/// Whether `z` sums to more than 1 over a set of the family, beyond what
/// rounding could do: a proof that `z` is not a point of the polytope.
/// The same search as [`heaviest`] without keeping what reads the set
/// back: 2.6 µs a point at n = 10, 18 µs at 20, 161 µs at 40, words and
/// gaps (a scratch loop on the 2-core VM of BENCHMARKS.md; one marginals
/// call of a sentence takes 9 / 38 µs at n = 10 / 20, and a refusal by
/// moment matching took 39 of them on average).
pub fn prove_outside(n: usize, z: &[f64], single_root: bool) -> bool {
    debug_assert_eq!(z.len(), (n + 1) * (n + 1));
    let mut table = Table::<false>::new(n);
    let weight = meets(n)
        .map(|meet| table.through(z, single_root, meet).0)
        .fold(0.0, f64::max);
    // The sum of at most n² terms of at most 1 each: rounding stays far
    // below 1e-9, and the points this proves outside on SST overshoot by
    // 7e-3 or more.
    weight > 1.0 + 1e-9
}

/// A cell `(a, b)` and the kind it takes part as, the step before it in
/// the best set ending there (`None`: it starts the set).
type Link = Option<(usize, usize, Kind)>;

/// The search's tables, sized for the longest point and reused for each.
/// `TRACE`: keep the links that [`Table::arcs`] reads the set back by
/// (without them the search is about five times faster).
struct Table<const TRACE: bool> {
    n1: usize,
    /// Best set ending at or before `(a, b)` in both coordinates, offset
    /// by one (row or column 0 is the empty set).
    before: Vec<f64>,
    /// The best `Right` set ending in column `c` at an earlier row.
    right_in_column: Vec<f64>,
    /// When reading the set back: the link into each prefix maximum, each
    /// column maximum, and the step before each cell and kind.
    before_link: Vec<Link>,
    right_link: Vec<Link>,
    from: Vec<Link>,
}

impl<const TRACE: bool> Table<TRACE> {
    fn new(n: usize) -> Self {
        let (cells, side) = ((n + 1) * (n + 1), n + 2);
        let links = |len: usize| if TRACE { vec![None; len] } else { Vec::new() };
        Table {
            n1: n + 1,
            before: vec![0.0; side * side],
            right_in_column: vec![f64::NEG_INFINITY; side],
            before_link: links(side * side),
            right_link: links(side),
            from: links(cells * 3),
        }
    }

    /// The heaviest set among those whose arcs all meet `meet`, and its
    /// last cell: a longest path over the cells `(a, b)` that meet it, in
    /// order of `a` then `b`, through the prefix maxima (crossing steps:
    /// any kind at a smaller `a` and `b`) and three running maxima
    /// (shared left ends: `Left` kinds, or root arcs under a single root;
    /// shared right ends: `Right` kinds). O(n²) per point.
    fn through(&mut self, z: &[f64], single_root: bool, meet: Meet) -> (f64, Link) {
        // Rows a ≤ the point; columns from its first right end on; the
        // one position an arc may only touch (then as its modifier).
        let (rows, first_b, touch) = match meet {
            Meet::Word(p) => (p + 1, p, Some(p)),
            Meet::Gap(g) => (g + 1, g + 1, None),
        };
        let n1 = self.n1;
        let cols = n1 - first_b;
        let width = cols + 1;
        self.before[..(rows + 1) * width].fill(0.0);
        self.right_in_column[..cols].fill(f64::NEG_INFINITY);
        if TRACE {
            self.before_link[..(rows + 1) * width].fill(None);
            self.right_link[..cols].fill(None);
        }
        let mut top: (f64, Link) = (0.0, None);
        for a in 0..rows {
            // The best `Left` set (or root `Right` set) ending in this row.
            let (mut left_in_row, mut left_link) = (f64::NEG_INFINITY, None);
            let (mut root_in_row, mut root_link) = (f64::NEG_INFINITY, None);
            for b in first_b.max(a + 1)..n1 {
                let c = b - first_b;
                // The empty set, or a crossing step from a smaller a and b.
                let crossing = self.before[a * width + c];
                let crossing_link = if TRACE {
                    self.before_link[a * width + c]
                } else {
                    None
                };
                let mut cell: (f64, Link) = (f64::NEG_INFINITY, None);
                let mut offer =
                    |kind: Kind, w: f64, mut base: (f64, Link), others: &[(f64, Link)]| {
                        for &o in others {
                            if o.0 > base.0 {
                                base = o;
                            }
                        }
                        let v = w + base.0;
                        if TRACE {
                            self.from[(a * n1 + b) * 3 + kind as usize] = base.1;
                        }
                        if v > cell.0 {
                            cell = (v, Some((a, b, kind)));
                        }
                        v
                    };
                // An arc that only touches p is in the set as p's modifier.
                let right = (touch != Some(a)).then(|| {
                    let root = if a == 0 && single_root {
                        root_in_row
                    } else {
                        f64::NEG_INFINITY
                    };
                    let others = [
                        (
                            self.right_in_column[c],
                            if TRACE { self.right_link[c] } else { None },
                        ),
                        (root, root_link),
                    ];
                    offer(
                        Kind::Right,
                        z[a * n1 + b],
                        (crossing, crossing_link),
                        &others,
                    )
                });
                let left = (a != 0 && touch != Some(b)).then(|| {
                    offer(
                        Kind::Left,
                        z[b * n1 + a],
                        (crossing, crossing_link),
                        &[(left_in_row, left_link)],
                    )
                });
                if a != 0 && touch != Some(a) && touch != Some(b) {
                    offer(
                        Kind::Both,
                        z[a * n1 + b] + z[b * n1 + a],
                        (crossing, crossing_link),
                        &[],
                    );
                }
                // Running maxima, after every kind of this cell was offered
                // the earlier ones (a cell's kinds exclude one another).
                if let Some(v) = left {
                    if v > left_in_row {
                        (left_in_row, left_link) = (v, Some((a, b, Kind::Left)));
                    }
                }
                if let Some(v) = right {
                    if v > self.right_in_column[c] {
                        self.right_in_column[c] = v;
                        if TRACE {
                            self.right_link[c] = Some((a, b, Kind::Right));
                        }
                    }
                    if a == 0 && v > root_in_row {
                        (root_in_row, root_link) = (v, Some((a, b, Kind::Right)));
                    }
                }
                let (up, back, here) = (
                    (a * width) + c + 1,
                    (a + 1) * width + c,
                    (a + 1) * width + c + 1,
                );
                let mut best = (
                    self.before[up],
                    if TRACE { self.before_link[up] } else { None },
                );
                if self.before[back] > best.0 {
                    best = (
                        self.before[back],
                        if TRACE { self.before_link[back] } else { None },
                    );
                }
                if cell.0 > best.0 {
                    best = cell;
                }
                self.before[here] = best.0;
                if TRACE {
                    self.before_link[here] = best.1;
                }
                if cell.0 > top.0 {
                    top = cell;
                }
            }
        }
        top
    }

    /// The arcs of the set ending at `last`, read back through the links
    /// that [`Table::through`] kept for the last point it searched.
    fn arcs(&self, last: Link) -> Vec<(usize, usize)> {
        let n1 = self.n1;
        let mut arcs = Vec::new();
        let mut cursor = last;
        while let Some((a, b, kind)) = cursor {
            match kind {
                Kind::Right => arcs.push((a, b)),
                Kind::Left => arcs.push((b, a)),
                Kind::Both => arcs.extend([(a, b), (b, a)]),
            }
            cursor = self.from[(a * n1 + b) * 3 + kind as usize];
        }
        arcs
    }
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
    fn the_heaviest_set_outweighs_the_familys_simple_members() {
        // Members whose weight is easy to read: one arc, two crossing
        // arcs, every head of one word, and every root arc under a single
        // root. The search must find at least as much, and so must the
        // proof once z is scaled to put that much just past 1.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(33);
        for n in 1..=9 {
            let n1 = n + 1;
            for single_root in [true, false] {
                for _ in 0..30 {
                    let z: Vec<f64> = (0..n1 * n1)
                        .map(|i| {
                            let (h, m) = (i / n1, i % n1);
                            if m == 0 || h == m {
                                0.0
                            } else {
                                rng.random::<f64>().powi(3)
                            }
                        })
                        .collect();
                    let arc = |h: usize, m: usize| z[h * n1 + m];
                    let mut floor = 0.0f64;
                    for m in 1..n1 {
                        floor = floor.max((0..n1).filter(|&h| h != m).map(|h| arc(h, m)).sum());
                        for h in (0..n1).filter(|&h| h != m) {
                            floor = floor.max(arc(h, m));
                        }
                    }
                    if single_root {
                        floor = floor.max((1..n1).map(|m| arc(0, m)).sum());
                    }
                    for (a, b, c, d) in (0..n1).flat_map(|a| {
                        (a + 1..n1).flat_map(move |c| {
                            (c + 1..n1).flat_map(move |b| (b + 1..n1).map(move |d| (a, b, c, d)))
                        })
                    }) {
                        // a < c < b < d: (a, b) and (c, d) cross, either way round.
                        let first = [(a, b), (b, a)]
                            .into_iter()
                            .filter(|&(h, _)| a != 0 || h == 0);
                        for (h1, m1) in first {
                            for (h2, m2) in [(c, d), (d, c)] {
                                floor = floor.max(arc(h1, m1) + arc(h2, m2));
                            }
                        }
                    }
                    let (weight, _) = heaviest(n, &z, single_root);
                    assert!(weight >= floor - 1e-12, "n={n}: {weight} < {floor}");
                    let scaled: Vec<f64> = z.iter().map(|x| x * (1.0 + 1e-6) / floor).collect();
                    assert!(
                        prove_outside(n, &scaled, single_root),
                        "n={n} single={single_root}"
                    );
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
