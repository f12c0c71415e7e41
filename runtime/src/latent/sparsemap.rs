//! SparseMAP (Niculae et al., 2018): the Euclidean projection of scores
//! onto the marginal polytope, `µ = argmin_{µ ∈ conv Z} ½‖µ − s‖²`, solved
//! by the active-set method over structures, with the structure's MAP as
//! the only oracle. The answer is `µ = Σ_i α_i z_i` over a small active
//! set; its Jacobian is read off that set, so the backward pass is exact.
//!
//! Structures and scores are flat vectors (for trees, the `(n+1)²`
//! row-major arc layout; entries outside every structure stay zero).

/// A structure as its nonzero parts `(index, value)`, indices increasing:
/// a tree has n arcs among (n+1)² entries, so products with it cost O(n).
pub type Sparse = Vec<(usize, f64)>;

/// The solution: the active structures, their weights and `µ`.
#[derive(Clone, Debug)]
pub struct Solution {
    pub structures: Vec<Sparse>,
    pub weights: Vec<f64>,
    pub mu: Vec<f64>,
    /// Active-set iterations used.
    pub iterations: usize,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sparse(z: &[f64]) -> Sparse {
    z.iter()
        .enumerate()
        .filter(|(_, &v)| v != 0.0)
        .map(|(i, &v)| (i, v))
        .collect()
}

/// `⟨z, v⟩` for a sparse `z` and a dense `v`.
fn sdot(z: &Sparse, v: &[f64]) -> f64 {
    z.iter().map(|&(i, x)| x * v[i]).sum()
}

/// `⟨a, b⟩` of two sparse structures, by merging their index lists.
fn sparse_dot(a: &Sparse, b: &Sparse) -> f64 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// A Cholesky factor `L` (rows of a lower-triangular matrix) of the active
/// structures' Gram matrix `G = LLᵀ`, updated as structures come and go:
/// O(k²) per change and per solve instead of refactoring the KKT system
/// (O(k³)) at every active-set iteration.
struct Cholesky {
    rows: Vec<Vec<f64>>,
}

impl Cholesky {
    /// Appends a structure with Gram row `g` (its products with the active
    /// ones) and squared norm `gzz`. A structure (numerically) in the span
    /// of the others gets a tiny ridge on its own diagonal, as the dense
    /// solve did, so the system stays solvable.
    fn push(&mut self, g: &[f64], gzz: f64) {
        let mut l = Vec::with_capacity(g.len() + 1);
        for (i, row) in self.rows.iter().enumerate() {
            let t: f64 = row[..i].iter().zip(&l).map(|(a, b)| a * b).sum();
            l.push((g[i] - t) / row[i]);
        }
        let d2 = gzz - l.iter().map(|x| x * x).sum::<f64>();
        l.push(d2.max(1e-10 * gzz.max(1.0)).sqrt());
        self.rows.push(l);
    }

    /// Drops structure `j`: deletes its row, then Givens rotations on
    /// column pairs (c, c+1) restore the triangle. `LLᵀ` keeps the other
    /// structures' Gram matrix because the rotations are orthogonal.
    fn remove(&mut self, j: usize) {
        self.rows.remove(j);
        for c in j..self.rows.len() {
            let (a, b) = (self.rows[c][c], self.rows[c][c + 1]);
            let r = a.hypot(b);
            let (cos, sin) = if r == 0.0 { (1.0, 0.0) } else { (a / r, b / r) };
            for row in &mut self.rows[c..] {
                let (x, y) = (row[c], row[c + 1]);
                row[c] = cos * x + sin * y;
                row[c + 1] = -sin * x + cos * y;
            }
            self.rows[c].truncate(c + 1);
        }
    }

    /// `G⁻¹ r` and `G⁻¹ 1` together, by forward and back substitution;
    /// both passes walk the rows of `L`, which are contiguous (the back
    /// substitution with `Lᵀ` subtracts each solved entry's row).
    fn solve_pair(&self, r: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let k = self.rows.len();
        let (mut x, mut y) = (vec![0.0; k], vec![0.0; k]);
        for (i, row) in self.rows.iter().enumerate() {
            let (mut tx, mut ty) = (0.0, 0.0);
            for ((&l, &a), &b) in row[..i].iter().zip(&x).zip(&y) {
                tx += l * a;
                ty += l * b;
            }
            x[i] = (r[i] - tx) / row[i];
            y[i] = (1.0 - ty) / row[i];
        }
        for i in (0..k).rev() {
            let row = &self.rows[i];
            x[i] /= row[i];
            y[i] /= row[i];
            let (xi, yi) = (x[i], y[i]);
            for ((&l, a), b) in row[..i].iter().zip(&mut x[..i]).zip(&mut y[..i]) {
                *a -= l * xi;
                *b -= l * yi;
            }
        }
        (x, y)
    }

    /// The KKT solution of `[G 1; 1ᵀ 0] [β; τ] = [r; c]`:
    /// `β = G⁻¹r − τ G⁻¹1` with `τ` such that `1ᵀβ = c`.
    fn kkt(&self, r: &[f64], c: f64) -> Vec<f64> {
        let (x, y) = self.solve_pair(r);
        let tau = (x.iter().sum::<f64>() - c) / y.iter().sum::<f64>();
        x.iter().zip(&y).map(|(a, b)| a - tau * b).collect()
    }

    fn of(structures: &[Sparse]) -> Cholesky {
        let mut chol = Cholesky { rows: Vec::new() };
        for (i, z) in structures.iter().enumerate() {
            let g: Vec<f64> = structures[..i].iter().map(|y| sparse_dot(y, z)).collect();
            chol.push(&g, sparse_dot(z, z));
        }
        chol
    }
}

/// The per-item solutions a SparseMAP forward left in `at`'s state (as the
/// engines that solve with [`solve_active_set_within`] save them), for
/// its VJP to read instead of solving again.
pub fn saved_solutions<'a, T>(
    at: Option<super::structure::Saved<'a, T>>,
) -> Option<&'a [Solution]> {
    at.and_then(|a| a.state)
        .and_then(|st| st.downcast_ref::<Vec<Solution>>())
        .map(Vec::as_slice)
}

/// The iteration budget of an exact projection: far more than the
/// active-set method needs from a vertex or for SparseMAP of scores.
pub const EXACT_ITERATIONS: usize = 500;

/// Projects `s` onto the convex hull of the structures that `map` returns
/// (`map(v)` is a highest-scoring structure under scores `v`).
pub fn solve_active_set(s: &[f64], map: &dyn Fn(&[f64]) -> Vec<f64>) -> Solution {
    solve_active_set_within(s, map, EXACT_ITERATIONS)
}

/// [`solve_active_set`] stopped after `max_iter` active-set iterations.
/// The result is always a convex combination of structures (a point of the
/// polytope); short of convergence it is not the nearest one. A point deep
/// inside the polytope (marginals minus a small step, as SPIGOT-CE
/// projects) needs as many structures as dimensions, one per iteration:
/// a budget of 10 is what the paper's solver (AD3's active set, as
/// lp-sparsemap wraps it) uses by default.
pub fn solve_active_set_within(
    s: &[f64],
    map: &dyn Fn(&[f64]) -> Vec<f64>,
    max_iter: usize,
) -> Solution {
    const TOL: f64 = 1e-10;
    let first = sparse(&map(s));
    let mut chol = Cholesky { rows: Vec::new() };
    chol.push(&[], sparse_dot(&first, &first));
    // ⟨z_i, s⟩ of each active structure, kept with it.
    let mut r = vec![sdot(&first, s)];
    let mut structures = vec![first];
    let mut weights = vec![1.0];
    let mut iterations = 0;
    let mut dense = vec![0.0; s.len()];
    let mu_of = |zs: &[Sparse], w: &[f64]| {
        let mut mu = vec![0.0; s.len()];
        for (z, &a) in zs.iter().zip(w) {
            for &(i, x) in z {
                mu[i] += a * x;
            }
        }
        mu
    };
    while iterations < max_iter {
        iterations += 1;
        let beta = chol.kkt(&r, 1.0);
        if beta.iter().all(|&b| b >= -TOL) {
            weights = beta.iter().map(|&b| b.max(0.0)).collect();
            let mu = mu_of(&structures, &weights);
            let resid: Vec<f64> = s.iter().zip(&mu).map(|(a, b)| a - b).collect();
            // Optimal iff no structure points further along s − µ than µ does.
            let z = sparse(&map(&resid));
            let gap = sdot(&z, &resid) - dot(&mu, &resid);
            if gap <= TOL * (1.0 + dot(&resid, &resid).sqrt()) || structures.contains(&z) {
                break;
            }
            // The new structure's products with the active ones, read
            // through a dense copy of it (gathers, no index merging).
            for &(i, x) in &z {
                dense[i] = x;
            }
            let g: Vec<f64> = structures.iter().map(|y| sdot(y, &dense)).collect();
            for &(i, _) in &z {
                dense[i] = 0.0;
            }
            chol.push(&g, sparse_dot(&z, &z));
            r.push(sdot(&z, s));
            structures.push(z);
            weights.push(0.0);
        } else {
            // Move towards β until the first weight reaches zero; drop it.
            let mut t = 1.0;
            let mut blocking = 0;
            for (i, (&a, &b)) in weights.iter().zip(&beta).enumerate() {
                if b < a && b < 0.0 {
                    let ti = a / (a - b);
                    if ti < t {
                        t = ti;
                        blocking = i;
                    }
                }
            }
            for (a, &b) in weights.iter_mut().zip(&beta) {
                *a += t * (b - *a);
            }
            weights[blocking] = 0.0;
            for i in (0..weights.len()).rev() {
                if weights[i] <= TOL {
                    chol.remove(i);
                    r.remove(i);
                    structures.remove(i);
                    weights.remove(i);
                }
            }
        }
    }
    // Final support: drop zero weights so the Jacobian sees only the face.
    let mut i = 0;
    structures.retain(|_| {
        i += 1;
        weights[i - 1] > 0.0
    });
    weights.retain(|&a| a > 0.0);
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|a| *a /= total);
    let mu = mu_of(&structures, &weights);
    Solution {
        structures,
        weights,
        mu,
        iterations,
    }
}

impl Solution {
    /// The VJP (and JVP — the Jacobian is symmetric) with `g`:
    /// `Z (M⁻¹ − M⁻¹11ᵀM⁻¹ / 1ᵀM⁻¹1) Zᵀ g` over the active set, i.e. the
    /// change of `µ` when `s` moves by `g` and the active face stays.
    pub fn vjp(&self, g: &[f64]) -> Vec<f64> {
        let r: Vec<f64> = self.structures.iter().map(|z| sdot(z, g)).collect();
        let beta = Cholesky::of(&self.structures).kkt(&r, 0.0);
        let mut out = vec![0.0; g.len()];
        for (z, &b) in self.structures.iter().zip(&beta) {
            for &(i, x) in z {
                out[i] += b * x;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{brute, nonprojective, projective};
    use super::*;
    use rand::{Rng, SeedableRng};

    fn one_hot_argmax(v: &[f64]) -> Vec<f64> {
        let i = super::super::categorical::argmax_index(v.iter().copied());
        let mut z = vec![0.0; v.len()];
        z[i] = 1.0;
        z
    }

    fn sparsemax(v: &[f64]) -> Vec<f64> {
        let a = ndarray::Array2::from_shape_vec((1, v.len()), v.to_vec())
            .unwrap()
            .into_dyn();
        super::super::categorical::sparsemax(&a)
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn the_cholesky_factor_follows_structures_added_and_removed() {
        // Five 0/1 vectors, independent; drop the middle one, then the first.
        let zs: Vec<Sparse> = (0..5)
            .map(|i| {
                let dense: Vec<f64> = (0..8)
                    .map(|j| f64::from(u8::from((i * 3 + j * 5) % 7 < 3 || j == i)))
                    .collect();
                sparse(&dense)
            })
            .collect();
        let mut chol = Cholesky::of(&zs);
        let mut kept: Vec<usize> = (0..5).collect();
        for drop in [2, 0] {
            chol.remove(drop);
            kept.remove(drop);
            let k = kept.len();
            for a in 0..k {
                assert_eq!(chol.rows[a].len(), a + 1, "lower-triangular");
                for b in 0..k {
                    let llt: f64 = (0..=a.min(b))
                        .map(|c| chol.rows[a][c] * chol.rows[b][c])
                        .sum();
                    let want = sparse_dot(&zs[kept[a]], &zs[kept[b]]);
                    assert!((llt - want).abs() < 1e-12, "{a},{b}: {llt} vs {want}");
                }
            }
        }
        // And it solves: G x = b and G y = 1.
        let b = vec![1.0, -2.0, 0.5];
        let (x, y) = chol.solve_pair(&b);
        for (a, &want) in b.iter().enumerate() {
            let g = |c: usize| sparse_dot(&zs[kept[a]], &zs[kept[c]]);
            let got: f64 = (0..3).map(|c| g(c) * x[c]).sum();
            assert!((got - want).abs() < 1e-10);
            let one: f64 = (0..3).map(|c| g(c) * y[c]).sum();
            assert!((one - 1.0).abs() < 1e-10);
        }
    }

    #[test]
    fn with_one_hot_structures_it_is_sparsemax() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for k in [1usize, 2, 5, 12] {
            for _ in 0..20 {
                let s: Vec<f64> = (0..k).map(|_| rng.random::<f64>() * 3.0 - 1.5).collect();
                let sol = solve_active_set(&s, &one_hot_argmax);
                for (a, b) in sol.mu.iter().zip(sparsemax(&s)) {
                    assert!((a - b).abs() < 1e-9, "{:?} vs sparsemax", sol.mu);
                }
            }
        }
    }

    fn tree_oracle(n: usize, projective: bool, single: bool) -> impl Fn(&[f64]) -> Vec<f64> {
        move |v: &[f64]| {
            let s = |h: usize, m: usize| v[h * (n + 1) + m];
            let heads = if projective {
                projective::map(n, &s, single)
            } else {
                nonprojective::map(n, &s, single)
            };
            brute::indicator(&heads)
        }
    }

    fn masked(n: usize, v: Vec<f64>) -> Vec<f64> {
        let n1 = n + 1;
        v.into_iter()
            .enumerate()
            .map(|(i, x)| {
                if i % n1 == 0 || i / n1 == i % n1 {
                    0.0
                } else {
                    x
                }
            })
            .collect()
    }

    #[test]
    fn tree_sparsemap_satisfies_the_projection_optimality_conditions_over_every_tree() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for n in 1..=5 {
            for (proj, single) in [(true, true), (true, false), (false, true), (false, false)] {
                let trees = brute::trees(n, proj, single);
                for _ in 0..3 {
                    let s = masked(
                        n,
                        (0..(n + 1) * (n + 1))
                            .map(|_| rng.random::<f64>() * 2.0 - 1.0)
                            .collect(),
                    );
                    let sol = solve_active_set(&s, &tree_oracle(n, proj, single));
                    // A convex combination of valid trees.
                    assert!((sol.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                    assert!(sol.weights.iter().all(|&w| w > 0.0));
                    for z in &sol.structures {
                        assert!(trees.iter().any(|t| &sparse(&brute::indicator(t)) == z));
                    }
                    // ⟨s − µ, z − µ⟩ ≤ 0 for every tree z: µ is the projection.
                    let resid: Vec<f64> = s.iter().zip(&sol.mu).map(|(a, b)| a - b).collect();
                    let at_mu = dot(&resid, &sol.mu);
                    for t in &trees {
                        let v = dot(&resid, &brute::indicator(t)) - at_mu;
                        assert!(v < 1e-9, "n={n} proj={proj} single={single}: {v}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_capped_projection_stays_in_the_polytope_and_reaches_the_exact_one_with_budget() {
        // Marginals of small random scores: deep inside the polytope, the
        // case SPIGOT-CE projects, where each iteration adds one tree.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 4;
        let trees = brute::trees(n, true, true);
        for _ in 0..5 {
            let scores: Vec<f64> = (0..(n + 1) * (n + 1))
                .map(|_| rng.random::<f64>() * 0.2 - 0.1)
                .collect();
            let marg = projective::marginals(n, &|h, m| scores[h * (n + 1) + m], true).1;
            let s = masked(n, marg);
            let oracle = tree_oracle(n, true, true);
            let exact = solve_active_set(&s, &oracle);
            let first = solve_active_set_within(&s, &oracle, 1);
            assert_eq!(first.mu, oracle(&s), "one iteration stops at MAP(s)");
            let mut last = f64::INFINITY;
            for budget in [1, 2, 3, 5, 10, 20, EXACT_ITERATIONS] {
                let sol = solve_active_set_within(&s, &oracle, budget);
                assert!(sol.iterations <= budget);
                assert!((sol.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                assert!(sol.weights.iter().all(|&w| w > 0.0));
                for z in &sol.structures {
                    assert!(trees.iter().any(|t| &sparse(&brute::indicator(t)) == z));
                }
                let dist: f64 = s.iter().zip(&sol.mu).map(|(a, b)| (a - b).powi(2)).sum();
                assert!(dist <= last + 1e-12, "budget {budget}: {dist} after {last}");
                last = dist;
            }
            assert!(
                exact.iterations > 10,
                "needed {} iterations",
                exact.iterations
            );
            let at_budget = solve_active_set_within(&s, &oracle, EXACT_ITERATIONS);
            assert_eq!(at_budget.mu, exact.mu);
            assert!(
                last < 1e-18,
                "an interior point projects onto itself: {last}"
            );
        }
    }

    /// An independent solver: accelerated projected gradient on the
    /// weights of every enumerated tree.
    fn projection_by_enumeration(s: &[f64], trees: &[Vec<f64>]) -> Vec<f64> {
        let k = trees.len();
        let mut a = vec![1.0 / k as f64; k];
        let mut y = a.clone();
        let lipschitz = trees.iter().map(|z| dot(z, z)).sum::<f64>();
        let mut t = 1.0f64;
        for _ in 0..20000 {
            let mut mu = vec![0.0; s.len()];
            for (z, &w) in trees.iter().zip(&y) {
                for (m, &x) in mu.iter_mut().zip(z) {
                    *m += w * x;
                }
            }
            let resid: Vec<f64> = mu.iter().zip(s).map(|(m, x)| m - x).collect();
            let step: Vec<f64> = trees
                .iter()
                .zip(&y)
                .map(|(z, &w)| w - dot(z, &resid) / lipschitz)
                .collect();
            let next = sparsemax(&step);
            let t2 = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            y = next
                .iter()
                .zip(&a)
                .map(|(n, o)| n + (t - 1.0) / t2 * (n - o))
                .collect();
            a = next;
            t = t2;
        }
        let mut mu = vec![0.0; s.len()];
        for (z, &w) in trees.iter().zip(&a) {
            for (m, &x) in mu.iter_mut().zip(z) {
                *m += w * x;
            }
        }
        mu
    }

    #[test]
    fn tree_sparsemap_equals_a_long_projected_gradient_run_over_all_trees() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in 2..=4 {
            for (proj, single) in [(true, true), (false, false)] {
                let trees: Vec<Vec<f64>> = brute::trees(n, proj, single)
                    .iter()
                    .map(|t| brute::indicator(t))
                    .collect();
                let s = masked(
                    n,
                    (0..(n + 1) * (n + 1))
                        .map(|_| rng.random::<f64>() * 2.0 - 1.0)
                        .collect(),
                );
                let sol = solve_active_set(&s, &tree_oracle(n, proj, single));
                let want = projection_by_enumeration(&s, &trees);
                for (a, b) in sol.mu.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-6, "n={n}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn large_scores_give_the_map_tree() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let n = 6;
        for (proj, single) in [(true, true), (false, false)] {
            let s = masked(
                n,
                (0..(n + 1) * (n + 1))
                    .map(|_| rng.random::<f64>() * 2.0 - 1.0)
                    .collect(),
            );
            let oracle = tree_oracle(n, proj, single);
            let big: Vec<f64> = s.iter().map(|x| x * 1e4).collect();
            let sol = solve_active_set(&big, &oracle);
            assert_eq!(sol.structures.len(), 1);
            assert_eq!(sol.mu, oracle(&s));
        }
    }

    #[test]
    fn vjp_matches_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let n = 4;
        let oracle = tree_oracle(n, true, false);
        let mut checked = 0;
        for _ in 0..20 {
            let s = masked(
                n,
                (0..(n + 1) * (n + 1))
                    .map(|_| rng.random::<f64>() * 1.0 - 0.5)
                    .collect(),
            );
            let g = masked(
                n,
                (0..(n + 1) * (n + 1))
                    .map(|_| rng.random::<f64>() - 0.5)
                    .collect(),
            );
            let sol = solve_active_set(&s, &oracle);
            let e = 1e-7;
            let at = |t: f64| {
                let v: Vec<f64> = s.iter().zip(&g).map(|(a, b)| a + t * b).collect();
                solve_active_set(&v, &oracle)
            };
            let (p, q) = (at(e), at(-e));
            // Finite differences hold only where the active face is stable.
            if p.structures.len() != sol.structures.len()
                || q.structures.len() != sol.structures.len()
            {
                continue;
            }
            let jv = sol.vjp(&g);
            for (i, &j) in jv.iter().enumerate() {
                let fd = (p.mu[i] - q.mu[i]) / (2.0 * e);
                assert!((fd - j).abs() < 1e-5, "entry {i}: {j} vs {fd}");
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} points had a stable face");
    }
}
