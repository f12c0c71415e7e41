//! SparseMAP (Niculae et al., 2018): the Euclidean projection of scores
//! onto the marginal polytope, `µ = argmin_{µ ∈ conv Z} ½‖µ − s‖²`, solved
//! by the active-set method over structures, with the structure's MAP as
//! the only oracle. The answer is `µ = Σ_i α_i z_i` over a small active
//! set; its Jacobian is read off that set, so the backward pass is exact.
//!
//! Structures and scores are flat vectors (for trees, the `(n+1)²`
//! row-major arc layout; entries outside every structure stay zero).

/// The solution: the active structures, their weights and `µ`.
#[derive(Clone, Debug)]
pub struct Solution {
    pub structures: Vec<Vec<f64>>,
    pub weights: Vec<f64>,
    pub mu: Vec<f64>,
    /// Active-set iterations used.
    pub iterations: usize,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn gram_of(structures: &[Vec<f64>]) -> Vec<Vec<f64>> {
    structures
        .iter()
        .map(|a| structures.iter().map(|b| dot(a, b)).collect())
        .collect()
}

/// Keeps the entries (and Gram rows and columns) where `keep` holds.
fn retain_active(structures: &mut Vec<Vec<f64>>, gram: &mut Vec<Vec<f64>>, keep: &[bool]) {
    let mut i = 0;
    structures.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    let mut i = 0;
    gram.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    for row in gram.iter_mut() {
        let mut j = 0;
        row.retain(|_| {
            j += 1;
            keep[j - 1]
        });
    }
}

/// Solves `[M 1; 1ᵀ 0] [x; τ] = [r; c]` for the Gram matrix `M` of the
/// structures (Gaussian elimination with partial pivoting; a singular
/// system, from affinely dependent structures, gets a tiny ridge).
/// `gram[i][j] = ⟨z_i, z_j⟩`, kept up to date as the active set changes
/// rather than recomputed: each product is over all the parts.
fn kkt(gram: &[Vec<f64>], r: &[f64], c: f64) -> (Vec<f64>, f64) {
    let k = gram.len();
    let d = k + 1;
    // One flat buffer for the augmented matrix [A | b], reused across ridges.
    let mut a = vec![0.0; d * (d + 1)];
    for ridge in [0.0, 1e-10, 1e-7] {
        let w = d + 1;
        for i in 0..k {
            for j in 0..k {
                a[i * w + j] = gram[i][j] + if i == j { ridge } else { 0.0 };
            }
            a[i * w + k] = 1.0;
            a[k * w + i] = 1.0;
            a[i * w + d] = r[i];
        }
        a[k * w + k] = 0.0;
        a[k * w + d] = c;
        if let Some(x) = solve(&mut a, d) {
            return (x[..k].to_vec(), x[k]);
        }
    }
    // Unreachable for 0/1 structures: the last ridge makes M positive definite.
    (vec![1.0 / k as f64; k], 0.0)
}

/// Solves the `d × d` system of the row-major augmented matrix `a = [A | b]`
/// in place: elimination below the pivot with partial pivoting, then back
/// substitution. `None` when a pivot vanishes (a singular system).
fn solve(a: &mut [f64], d: usize) -> Option<Vec<f64>> {
    let w = d + 1;
    for col in 0..d {
        let p = (col..d).max_by(|&i, &j| a[i * w + col].abs().total_cmp(&a[j * w + col].abs()))?;
        if a[p * w + col].abs() < 1e-12 {
            return None;
        }
        if p != col {
            for j in col..w {
                a.swap(p * w + j, col * w + j);
            }
        }
        let (upper, lower) = a.split_at_mut((col + 1) * w);
        let pivot = &upper[col * w..];
        for row in lower.chunks_exact_mut(w) {
            let f = row[col] / pivot[col];
            if f != 0.0 {
                for (x, &y) in row[col..].iter_mut().zip(&pivot[col..]) {
                    *x -= f * y;
                }
            }
        }
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let row = &a[i * w..(i + 1) * w];
        let tail: f64 = (i + 1..d).map(|j| row[j] * x[j]).sum();
        x[i] = (row[d] - tail) / row[i];
    }
    Some(x)
}

/// Projects `s` onto the convex hull of the structures that `map` returns
/// (`map(v)` is a highest-scoring structure under scores `v`).
pub fn solve_active_set(s: &[f64], map: &dyn Fn(&[f64]) -> Vec<f64>) -> Solution {
    const TOL: f64 = 1e-10;
    const MAX_ITER: usize = 500;
    let mut structures = vec![map(s)];
    let mut gram = gram_of(&structures);
    let mut weights = vec![1.0];
    let mut iterations = 0;
    let mu_of = |zs: &[Vec<f64>], w: &[f64]| {
        let mut mu = vec![0.0; s.len()];
        for (z, &a) in zs.iter().zip(w) {
            for (m, &x) in mu.iter_mut().zip(z) {
                *m += a * x;
            }
        }
        mu
    };
    while iterations < MAX_ITER {
        iterations += 1;
        let r: Vec<f64> = structures.iter().map(|z| dot(z, s)).collect();
        let (beta, _) = kkt(&gram, &r, 1.0);
        if beta.iter().all(|&b| b >= -TOL) {
            weights = beta.iter().map(|&b| b.max(0.0)).collect();
            let mu = mu_of(&structures, &weights);
            let resid: Vec<f64> = s.iter().zip(&mu).map(|(a, b)| a - b).collect();
            // Optimal iff no structure points further along s − µ than µ does.
            let z = map(&resid);
            let gap = dot(&z, &resid) - dot(&mu, &resid);
            if gap <= TOL * (1.0 + dot(&resid, &resid).sqrt()) || structures.contains(&z) {
                break;
            }
            let row: Vec<f64> = structures.iter().map(|y| dot(y, &z)).collect();
            for (g, &v) in gram.iter_mut().zip(&row) {
                g.push(v);
            }
            let mut row = row;
            row.push(dot(&z, &z));
            gram.push(row);
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
            let keep: Vec<bool> = weights.iter().map(|&a| a > TOL).collect();
            retain_active(&mut structures, &mut gram, &keep);
            weights.retain(|&a| a > TOL);
        }
    }
    // Final support: drop zero weights so the Jacobian sees only the face.
    let keep: Vec<bool> = weights.iter().map(|&a| a > 0.0).collect();
    retain_active(&mut structures, &mut gram, &keep);
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
        let r: Vec<f64> = self.structures.iter().map(|z| dot(z, g)).collect();
        let (beta, _) = kkt(&gram_of(&self.structures), &r, 0.0);
        let mut out = vec![0.0; g.len()];
        for (z, &b) in self.structures.iter().zip(&beta) {
            for (o, &x) in out.iter_mut().zip(z) {
                *o += b * x;
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
                        assert!(trees.iter().any(|t| &brute::indicator(t) == z));
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
