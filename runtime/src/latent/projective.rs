//! Projective dependency trees (first-order, arc-factored) for one sentence.
//!
//! Layout, used everywhere in lsmc: `s[h][m]` for `h ∈ 0..=n` (0 is the
//! root) and `m ∈ 1..=n`; entries with `m = 0` or `h = m` are ignored. A
//! tree is a head per word, `heads[m]` for `m ∈ 1..=n` (`heads[0]` unused).
//! `single_root` trees attach exactly one word to the root.
//!
//! MAP is Eisner's algorithm. The log-partition is the same chart in the
//! log semiring (inside), and the marginals are its hand-written adjoint
//! (the outside pass, run in reverse over the chart), so `µ = ∂ log Z / ∂s`
//! exactly. With a single root, the root's one child `r` heads a left
//! complete span `1..r` and a right complete span `r..n` of the root-free
//! chart.
//!
//! Chart over positions `0..=n` (`i < j`): `ir[i][j]` has the arc `i → j`,
//! `il[i][j]` the arc `j → i`; `cr[i][j]` is headed by `i` and complete to
//! the right, `cl[i][j]` is headed by `j` and complete to the left.

/// A dense `(n+1) × (n+1)` chart.
#[derive(Clone)]
struct Chart {
    n1: usize,
    v: Vec<f64>,
}

impl Chart {
    fn new(n1: usize, fill: f64) -> Chart {
        Chart {
            n1,
            v: vec![fill; n1 * n1],
        }
    }
    #[inline]
    fn at(&self, i: usize, j: usize) -> f64 {
        self.v[i * self.n1 + j]
    }
    #[inline]
    fn set(&mut self, i: usize, j: usize, x: f64) {
        self.v[i * self.n1 + j] = x;
    }
    #[inline]
    fn add(&mut self, i: usize, j: usize, x: f64) {
        self.v[i * self.n1 + j] += x;
    }
}

const NEG: f64 = f64::NEG_INFINITY;

/// A semiring "sum": max (Viterbi) or log-sum-exp (inside).
trait Sum {
    fn plus(acc: &mut Acc, x: f64, arg: usize);
}

#[derive(Clone, Copy)]
struct Acc {
    /// Running max (both semirings) and its argument.
    max: f64,
    arg: usize,
    /// Σ exp(x − max) for log-sum-exp.
    sum: f64,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            max: NEG,
            arg: 0,
            sum: 0.0,
        }
    }
    fn lse(&self) -> f64 {
        if self.max == NEG {
            NEG
        } else {
            self.max + self.sum.ln()
        }
    }
}

struct Max;
struct LogSum;

impl Sum for Max {
    fn plus(acc: &mut Acc, x: f64, arg: usize) {
        if x > acc.max {
            acc.max = x;
            acc.arg = arg;
        }
    }
}

impl Sum for LogSum {
    fn plus(acc: &mut Acc, x: f64, _arg: usize) {
        if x == NEG {
            return;
        }
        if x > acc.max {
            acc.sum = acc.sum * (acc.max - x).exp() + 1.0;
            acc.max = x;
        } else {
            acc.sum += (x - acc.max).exp();
        }
    }
}

/// The filled chart and, for MAP, the split points.
struct Filled {
    ir: Chart,
    il: Chart,
    cr: Chart,
    cl: Chart,
    /// The two complete halves under each incomplete span, summed (before
    /// its arc score): kept so the outside pass need not recompute it.
    inner: Chart,
    split: [Vec<usize>; 4],
}

fn score(s: &dyn Fn(usize, usize) -> f64, h: usize, m: usize) -> f64 {
    if m == 0 || h == m {
        NEG
    } else {
        s(h, m)
    }
}

fn fill<S: Sum>(n: usize, s: &dyn Fn(usize, usize) -> f64, acc_value: fn(&Acc) -> f64) -> Filled {
    let n1 = n + 1;
    let mut f = Filled {
        ir: Chart::new(n1, NEG),
        il: Chart::new(n1, NEG),
        cr: Chart::new(n1, NEG),
        cl: Chart::new(n1, NEG),
        inner: Chart::new(n1, NEG),
        split: [
            vec![0; n1 * n1],
            vec![0; n1 * n1],
            vec![0; n1 * n1],
            vec![0; n1 * n1],
        ],
    };
    for i in 0..n1 {
        f.cr.set(i, i, 0.0);
        f.cl.set(i, i, 0.0);
    }
    for k in 1..n1 {
        for i in 0..n1 - k {
            let j = i + k;
            // Incomplete spans: two complete halves and one arc.
            let mut a = Acc::new();
            for q in i..j {
                S::plus(&mut a, f.cr.at(i, q) + f.cl.at(q + 1, j), q);
            }
            let inner = acc_value(&a);
            f.inner.set(i, j, inner);
            f.ir.set(i, j, inner + score(s, i, j));
            f.il.set(i, j, if i == 0 { NEG } else { inner + score(s, j, i) });
            f.split[0][i * n1 + j] = a.arg;
            f.split[1][i * n1 + j] = a.arg;
            // Complete spans.
            let mut r = Acc::new();
            for q in i + 1..=j {
                S::plus(&mut r, f.ir.at(i, q) + f.cr.at(q, j), q);
            }
            f.cr.set(i, j, acc_value(&r));
            f.split[2][i * n1 + j] = r.arg;
            let mut l = Acc::new();
            for q in i..j {
                S::plus(&mut l, f.cl.at(i, q) + f.il.at(q, j), q);
            }
            f.cl.set(i, j, acc_value(&l));
            f.split[3][i * n1 + j] = l.arg;
        }
    }
    f
}

/// The score of a tree.
pub fn tree_score(s: &dyn Fn(usize, usize) -> f64, heads: &[usize]) -> f64 {
    heads
        .iter()
        .enumerate()
        .skip(1)
        .map(|(m, &h)| s(h, m))
        .sum()
}

/// MAP tree (Eisner): `heads[m]` for `m ∈ 1..=n`.
pub fn map(n: usize, s: &dyn Fn(usize, usize) -> f64, single_root: bool) -> Vec<usize> {
    let mut heads = vec![0; n + 1];
    if n == 0 {
        return heads;
    }
    let f = fill::<Max>(n, s, |a| a.max);
    let n1 = n + 1;
    let mut stack: Vec<(u8, usize, usize)> = Vec::new();
    if single_root {
        let mut best = Acc::new();
        for r in 1..=n {
            Max::plus(&mut best, score(s, 0, r) + f.cl.at(1, r) + f.cr.at(r, n), r);
        }
        let r = best.arg.max(1);
        heads[r] = 0;
        stack.push((3, 1, r));
        stack.push((2, r, n));
    } else {
        stack.push((2, 0, n));
    }
    // Back-pointers: 0 = ir, 1 = il, 2 = cr, 3 = cl.
    while let Some((kind, i, j)) = stack.pop() {
        if i == j {
            continue;
        }
        let q = f.split[kind as usize][i * n1 + j];
        match kind {
            0 | 1 => {
                if kind == 0 {
                    heads[j] = i;
                } else {
                    heads[i] = j;
                }
                stack.push((2, i, q));
                stack.push((3, q + 1, j));
            }
            2 => {
                stack.push((0, i, q));
                stack.push((2, q, j));
            }
            _ => {
                stack.push((3, i, q));
                stack.push((1, q, j));
            }
        }
    }
    heads
}

/// log Z and the arc marginals `µ[h][m]` (an `(n+1) × (n+1)` row-major
/// matrix, zero where there is no arc).
pub fn marginals(n: usize, s: &dyn Fn(usize, usize) -> f64, single_root: bool) -> (f64, Vec<f64>) {
    let n1 = n + 1;
    let mut mu = vec![0.0; n1 * n1];
    if n == 0 {
        return (0.0, mu);
    }
    let f = fill::<LogSum>(n, s, Acc::lse);
    // Adjoints of the chart entries (the outside pass, as reverse mode).
    let mut air = Chart::new(n1, 0.0);
    let mut ail = Chart::new(n1, 0.0);
    let mut acr = Chart::new(n1, 0.0);
    let mut acl = Chart::new(n1, 0.0);
    let log_z;
    if single_root {
        let mut a = Acc::new();
        for r in 1..=n {
            LogSum::plus(&mut a, score(s, 0, r) + f.cl.at(1, r) + f.cr.at(r, n), r);
        }
        log_z = a.lse();
        for (r, mu_r) in mu.iter_mut().enumerate().take(n + 1).skip(1) {
            let w = (score(s, 0, r) + f.cl.at(1, r) + f.cr.at(r, n) - log_z).exp();
            if w > 0.0 {
                *mu_r += w;
                acl.add(1, r, w);
                acr.add(r, n, w);
            }
        }
    } else {
        log_z = f.cr.at(0, n);
        acr.set(0, n, 1.0);
    }
    let weight = |x: f64, total: f64| {
        if x == NEG || total == NEG {
            0.0
        } else {
            (x - total).exp()
        }
    };
    for k in (1..n1).rev() {
        for i in (0..n1 - k).rev() {
            let j = i + k;
            // Complete spans first: in the forward pass they were computed last.
            let g = acl.at(i, j);
            if g != 0.0 {
                let total = f.cl.at(i, j);
                for q in i..j {
                    let w = g * weight(f.cl.at(i, q) + f.il.at(q, j), total);
                    if w != 0.0 {
                        acl.add(i, q, w);
                        ail.add(q, j, w);
                    }
                }
            }
            let g = acr.at(i, j);
            if g != 0.0 {
                let total = f.cr.at(i, j);
                for q in i + 1..=j {
                    let w = g * weight(f.ir.at(i, q) + f.cr.at(q, j), total);
                    if w != 0.0 {
                        air.add(i, q, w);
                        acr.add(q, j, w);
                    }
                }
            }
            // Incomplete spans: the arc gets the span's whole adjoint.
            let (gr, gl) = (air.at(i, j), ail.at(i, j));
            if gr != 0.0 {
                mu[i * n1 + j] += gr;
            }
            if gl != 0.0 {
                mu[j * n1 + i] += gl;
            }
            let g = gr + gl;
            if g != 0.0 {
                let total = f.inner.at(i, j);
                for q in i..j {
                    let w = g * weight(f.cr.at(i, q) + f.cl.at(q + 1, j), total);
                    if w != 0.0 {
                        acr.add(i, q, w);
                        acl.add(q + 1, j, w);
                    }
                }
            }
        }
    }
    (log_z, mu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every head assignment of `n` words that is a projective tree
    /// (with one root child if `single_root`).
    fn all_trees(n: usize, single_root: bool) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        let mut heads = vec![0; n + 1];
        fn rec(
            m: usize,
            n: usize,
            heads: &mut Vec<usize>,
            out: &mut Vec<Vec<usize>>,
            single: bool,
        ) {
            if m > n {
                if is_projective_tree(heads, single) {
                    out.push(heads.clone());
                }
                return;
            }
            for h in 0..=n {
                if h != m {
                    heads[m] = h;
                    rec(m + 1, n, heads, out, single);
                }
            }
        }
        rec(1, n, &mut heads, &mut out, single_root);
        out
    }

    fn is_projective_tree(heads: &[usize], single: bool) -> bool {
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
        if single && (1..=n).filter(|&m| heads[m] == 0).count() != 1 {
            return false;
        }
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
        true
    }

    #[test]
    fn tree_counts_are_the_known_sequences() {
        let single: Vec<usize> = (1..=6).map(|n| all_trees(n, true).len()).collect();
        let multi: Vec<usize> = (1..=6).map(|n| all_trees(n, false).len()).collect();
        assert_eq!(single, [1, 2, 7, 30, 143, 728]);
        assert_eq!(multi, [1, 3, 12, 55, 273, 1428]);
    }

    fn random_scores(n: usize, seed: u64, scale: f64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..(n + 1) * (n + 1))
            .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * scale)
            .collect()
    }

    #[test]
    fn map_log_partition_and_marginals_match_brute_force() {
        for n in 1..=6 {
            for single in [true, false] {
                let trees = all_trees(n, single);
                for seed in 0..4 {
                    let sc = random_scores(n, seed * 31 + n as u64, 2.0);
                    let s = |h: usize, m: usize| sc[h * (n + 1) + m];
                    let scores: Vec<f64> = trees.iter().map(|t| tree_score(&s, t)).collect();
                    let best = scores.iter().cloned().fold(NEG, f64::max);
                    let got = map(n, &s, single);
                    assert!(
                        trees.contains(&got),
                        "n={n} single={single}: {got:?} is not a valid tree"
                    );
                    assert!(
                        (tree_score(&s, &got) - best).abs() < 1e-9,
                        "n={n} single={single}"
                    );
                    let m = scores.iter().cloned().fold(NEG, f64::max);
                    let log_z = m + scores.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
                    let (lz, mu) = marginals(n, &s, single);
                    assert!(
                        (lz - log_z).abs() < 1e-9,
                        "n={n} single={single}: {lz} vs {log_z}"
                    );
                    let mut want = vec![0.0; (n + 1) * (n + 1)];
                    for (t, sc) in trees.iter().zip(&scores) {
                        let p = (sc - log_z).exp();
                        for mm in 1..=n {
                            want[t[mm] * (n + 1) + mm] += p;
                        }
                    }
                    for (a, b) in mu.iter().zip(&want) {
                        assert!(
                            (a - b).abs() < 1e-9,
                            "n={n} single={single}: marginal {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn marginals_are_the_gradient_of_the_log_partition() {
        let n = 5;
        let sc = random_scores(n, 7, 1.5);
        for single in [true, false] {
            let (_, mu) = marginals(n, &|h, m| sc[h * (n + 1) + m], single);
            for h in 0..=n {
                for m in 1..=n {
                    if h == m {
                        continue;
                    }
                    let e = 1e-6;
                    let idx = h * (n + 1) + m;
                    let (mut p, mut q) = (sc.clone(), sc.clone());
                    p[idx] += e;
                    q[idx] -= e;
                    let fd = (marginals(n, &|a, b| p[a * (n + 1) + b], single).0
                        - marginals(n, &|a, b| q[a * (n + 1) + b], single).0)
                        / (2.0 * e);
                    assert!((fd - mu[idx]).abs() < 1e-7, "{h}->{m}: {} vs {fd}", mu[idx]);
                }
            }
        }
    }

    #[test]
    fn each_word_has_one_head_in_expectation_even_for_long_sentences_and_huge_scores() {
        let n = 200;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let sc: Vec<f64> = (0..(n + 1) * (n + 1))
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) * 100.0)
            .collect();
        for single in [true, false] {
            let (lz, mu) = marginals(n, &|h, m| sc[h * (n + 1) + m], single);
            assert!(lz.is_finite());
            for m in 1..=n {
                let total: f64 = (0..=n).map(|h| mu[h * (n + 1) + m]).sum();
                assert!((total - 1.0).abs() < 1e-9, "word {m}: {total}");
            }
            if single {
                let root: f64 = (1..=n).map(|m| mu[m]).sum();
                assert!((root - 1.0).abs() < 1e-9);
            }
            let heads = map(n, &|h, m| sc[h * (n + 1) + m], single);
            assert!(heads[1..].iter().all(|&h| h <= n));
        }
    }
}
