//! Non-projective dependency trees (arc-factored spanning arborescences
//! rooted at position 0) for one sentence, in the layout of
//! [`super::projective`]: `s[h][m]`, `h ∈ 0..=n`, `m ∈ 1..=n`.
//!
//! MAP is Chu-Liu-Edmonds. With a single root, every root arc is first
//! lowered by a constant larger than the score range of any two trees, so
//! the best arborescence has exactly one root arc and is the best among
//! those — exact, and no extra search over root children.
//!
//! The log-partition is the matrix-tree theorem (Koo et al., 2007): with
//! `A[h][m] = exp(s[h][m])`, `Z = det L` for the in-degree Laplacian over
//! the words (multi-root), or for the same Laplacian built without root
//! arcs whose first row is replaced by the root arcs (single root). The
//! marginals are `µ = A ⊙ ∂ log det L / ∂A`, with `∂ log det L / ∂L =
//! L⁻ᵀ`. Everything is in f64 with an LU factorisation (partial pivoting)
//! giving `log |det|` as a sum of logs ([`super::matrix_tree`]). Scores are
//! shifted first so no exponential overflows: each word's incoming arcs by
//! their maximum (every tree has one head per word), and with a single
//! root the root arcs by theirs (every tree has one root arc); log Z gets
//! the shifts back. The factorisation bounds its own rounding error from
//! its factors; a sentence whose bound exceeds 1e-11 on a marginal or on
//! log Z is computed instead by the subtraction-free walk of
//! [`super::absorbing`], exact whatever the conditioning.
//!
//! Sampling is sequential conditioning on the marginals: word 1's head is
//! drawn from `µ[·][1]`, then the distribution is conditioned on it (every
//! other arc into word 1 removed) and word 2's head drawn from the
//! conditioned marginals, and so on; the product of the conditionals is
//! the tree's probability, so the sample is exact. It costs `n` marginal
//! computations, O(n⁴) in all, whatever the scores. Wilson's random walk
//! is exact and cheaper on flat scores, but its expected running time
//! grows like `e^Δ` with the score spread `Δ`: a two-word cycle with high
//! scores and weak root arcs keeps the walk circling for about `e^Δ`
//! steps, and the scores lsmc accepts reach `Δ = 1e4` and beyond — a
//! sampler that may not return is no sampler. Conditioning keeps
//! everything on the marginals' guarantees (the subtraction-free fallback
//! of [`super::absorbing`] included) and never loops.

use super::absorbing;
use super::logspace::Dual;
use super::matrix_tree::{self, Factored};

const NEG: f64 = f64::NEG_INFINITY;

fn valid(x: f64) -> f64 {
    if x.is_nan() {
        NEG
    } else {
        x
    }
}

/// MAP tree: `heads[m]` for `m ∈ 1..=n` (`heads[0]` unused).
pub fn map(n: usize, s: &dyn Fn(usize, usize) -> f64, single_root: bool) -> Vec<usize> {
    let n1 = n + 1;
    let mut w = vec![NEG; n1 * n1];
    let mut range = 0.0f64;
    for m in 1..n1 {
        let mut best = 0.0f64;
        for h in (0..n1).filter(|&h| h != m) {
            let x = valid(s(h, m));
            w[h * n1 + m] = x;
            if x.is_finite() {
                best = best.max(x.abs());
            }
        }
        range += best;
    }
    if single_root {
        let penalty = 2.0 * range + 1.0;
        for x in w[1..n1].iter_mut() {
            *x -= penalty;
        }
    }
    let mut heads = chu_liu_edmonds(w, n1);
    heads[0] = 0;
    heads
}

/// One cycle contracted by [`chu_liu_edmonds`], kept to expand it again.
struct Contraction {
    /// The cycle's node that stood for the whole cycle.
    rep: usize,
    /// The cycle's nodes with their heads inside it.
    cycle: Vec<(usize, usize)>,
    /// For each node `u` outside the cycle: the cycle node an arc from `u`
    /// into the contracted node really enters (sorted by `u`).
    enter: Vec<(u32, u32)>,
    /// For each node `x` outside the cycle: the cycle node an arc from the
    /// contracted node to `x` really leaves.
    leave: Vec<(u32, u32)>,
}

/// Maximum spanning arborescence rooted at node 0 of the dense graph
/// `w[h * n1 + m]` (`−∞` = no arc): the head of every node but the root.
///
/// Chu-Liu-Edmonds, contracting in place: a cycle's first node stands for
/// the cycle, its incoming arcs become the best ways into the cycle
/// (score less the cycle arc they break, plus the cycle) and its outgoing
/// arcs the best ways out; the cycle's other nodes leave the graph. Each
/// contraction touches only the cycle's rows and columns, so the whole
/// costs O(n²) time and memory — a recursion over contracted copies holds
/// O(n³) (80 GB at 1,000 words' worth of copies at 10,000).
fn chu_liu_edmonds(mut w: Vec<f64>, n1: usize) -> Vec<usize> {
    let mut active = vec![true; n1];
    // Each node's best incoming arc among the active nodes (first on ties;
    // with no usable arc at all, the root, so the answer stays a tree).
    let best_head = |w: &[f64], active: &[bool], m: usize| {
        let mut best = NEG;
        let mut head = 0;
        for h in (0..n1).filter(|&h| h != m && active[h]) {
            if w[h * n1 + m] > best {
                best = w[h * n1 + m];
                head = h;
            }
        }
        head
    };
    let mut head: Vec<usize> = (0..n1)
        .map(|m| if m == 0 { 0 } else { best_head(&w, &active, m) })
        .collect();
    let mut contractions = Vec::new();
    while let Some(cycle) = find_cycle(&head, &active) {
        let rep = cycle[0];
        let cycle_score: f64 = cycle.iter().map(|&v| w[head[v] * n1 + v]).sum();
        let mut in_cycle = vec![false; n1];
        for &v in &cycle {
            in_cycle[v] = true;
        }
        let outside: Vec<usize> = (0..n1).filter(|&u| active[u] && !in_cycle[u]).collect();
        let mut enter = Vec::with_capacity(outside.len());
        let mut leave = Vec::with_capacity(outside.len());
        for &u in &outside {
            // Entering the cycle at v breaks v's cycle arc.
            let (mut into, mut at) = (NEG, rep);
            let (mut out, mut from) = (NEG, rep);
            for &v in &cycle {
                let x = w[u * n1 + v] - w[head[v] * n1 + v] + cycle_score;
                if x > into {
                    (into, at) = (x, v);
                }
                if w[v * n1 + u] > out {
                    (out, from) = (w[v * n1 + u], v);
                }
            }
            w[u * n1 + rep] = into;
            w[rep * n1 + u] = out;
            enter.push((u as u32, at as u32));
            leave.push((u as u32, from as u32));
        }
        contractions.push(Contraction {
            rep,
            cycle: cycle.iter().map(|&v| (v, head[v])).collect(),
            enter,
            leave,
        });
        for &v in &cycle[1..] {
            active[v] = false;
        }
        // Only the contracted node's arcs changed: a node whose best head was
        // in the cycle now has it in `rep` (the best of the cycle's arcs).
        head[rep] = best_head(&w, &active, rep);
        for &x in &outside {
            if in_cycle[head[x]] {
                head[x] = rep;
            }
        }
    }
    // Expand the cycles, last contracted first, so every id read is the
    // node it stood for at that stage.
    for c in contractions.iter().rev() {
        let u = head[c.rep];
        for &(x, from) in &c.leave {
            if head[x as usize] == c.rep {
                head[x as usize] = from as usize;
            }
        }
        let at = c
            .enter
            .binary_search_by_key(&(u as u32), |&(v, _)| v)
            .map_or(c.rep, |i| c.enter[i].1 as usize);
        for &(v, h) in &c.cycle {
            head[v] = h;
        }
        // The arc into the cycle replaces the cycle arc of the node it enters.
        head[at] = u;
    }
    head
}

/// A cycle among the `active` nodes' `head`s (the root, 0, has no head),
/// if any.
fn find_cycle(head: &[usize], active: &[bool]) -> Option<Vec<usize>> {
    let n1 = head.len();
    let mut state: Vec<u8> = active.iter().map(|&a| if a { 0 } else { 2 }).collect(); // 0 new, 1 on the current path, 2 done
    state[0] = 2;
    for start in 1..n1 {
        let mut path = Vec::new();
        let mut v = start;
        while state[v] == 0 {
            state[v] = 1;
            path.push(v);
            v = head[v];
        }
        if state[v] == 1 {
            let from = path.iter().position(|&x| x == v).expect("v is on the path");
            return Some(path[from..].to_vec());
        }
        for x in path {
            state[x] = 2;
        }
    }
    None
}

/// The sentence's matrix-tree computation cannot be trusted to
/// [`matrix_tree::TOLERANCE`]: the Laplacian is too badly conditioned for
/// f64. This happens when scores are so far apart that the best-head
/// graph has cycles that cost many nats to break; the inverse then loses
/// digits in proportion. Reported rather than returned as wrong numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct IllConditioned {
    /// The bound on the rounding error of a marginal or of log Z (`∞`
    /// when the Laplacian was singular in f64).
    pub bound: f64,
}

impl std::fmt::Display for IllConditioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the matrix-tree Laplacian is too ill-conditioned for f64 (rounding could move a marginal or log Z by up to {:.1e}); the arc scores are too far apart — scale them down",
            self.bound
        )
    }
}

/// A sentence's `(n+1)²` row-major scores from a score function.
fn dense(n: usize, s: &dyn Fn(usize, usize) -> f64) -> Vec<f64> {
    let n1 = n + 1;
    let mut v = vec![NEG; n1 * n1];
    for h in 0..n1 {
        for m in (1..n1).filter(|&m| m != h) {
            v[h * n1 + m] = s(h, m);
        }
    }
    v
}

/// The factored Laplacian of `s` (`(n+1)²`, row-major, `n ≥ 1`), if its
/// rounding error is within [`matrix_tree::TOLERANCE`]. Marginals that
/// fail to sum to one per word beyond what that bound allows would mean
/// the bound's first-order assumption broke: refused as well.
fn mtt(n: usize, s: &[f64], single_root: bool) -> Result<(Factored, Vec<f64>), IllConditioned> {
    let Some(t) = matrix_tree::factor(n, s, single_root) else {
        // No tree has a finite score (or the matrix is numerically singular).
        return Err(IllConditioned {
            bound: f64::INFINITY,
        });
    };
    let bound = t.marginal_error.max(t.log_z_error);
    if !t.accurate() || !t.log_z.is_finite() {
        return Err(IllConditioned { bound });
    }
    let mu = t.marginals();
    let n1 = n + 1;
    let allowed = 2.0 * n1 as f64 * matrix_tree::TOLERANCE;
    for m in 1..n1 {
        let total: f64 = (0..n1).map(|h| mu[h * n1 + m]).sum();
        if total.is_nan() || (total - 1.0).abs() > allowed {
            return Err(IllConditioned { bound });
        }
    }
    Ok((t, mu))
}

/// log Z and the arc marginals `µ[h][m]` (`(n+1) × (n+1)`, row-major):
/// the matrix-tree theorem, or, where f64 cannot invert its Laplacian
/// accurately, the subtraction-free computation of [`super::absorbing`].
pub fn marginals(n: usize, s: &dyn Fn(usize, usize) -> f64, single_root: bool) -> (f64, Vec<f64>) {
    marginals_of(n, &dense(n, s), single_root)
}

/// [`marginals`] of scores given as an `(n+1)²` row-major block.
pub fn marginals_of(n: usize, s: &[f64], single_root: bool) -> (f64, Vec<f64>) {
    if n == 0 {
        return (0.0, vec![0.0]);
    }
    match mtt(n, s, single_root) {
        Ok((t, mu)) => (t.log_z, mu),
        Err(_) => marginals_by_walk(n, s, single_root),
    }
}

/// [`marginals`] by the matrix-tree theorem alone, reporting an
/// ill-conditioned Laplacian instead of falling back (for tests and
/// diagnostics).
pub fn marginals_by_laplacian(
    n: usize,
    s: &dyn Fn(usize, usize) -> f64,
    single_root: bool,
) -> Result<(f64, Vec<f64>), IllConditioned> {
    if n == 0 {
        return Ok((0.0, vec![0.0]));
    }
    mtt(n, &dense(n, s), single_root).map(|(t, mu)| (t.log_z, mu))
}

/// Why [`sample`] drew no tree: the scores admit none (some word cannot
/// be reached from the root by arcs of finite score, or with a single
/// root no one root child reaches every word), an arc scores `+∞`, or the
/// conditional marginals came out non-finite. Reported rather than guessed.
#[derive(Clone, Debug, PartialEq)]
pub struct NoTree {
    /// Why, in words, naming the word concerned where there is one.
    pub reason: String,
}

impl std::fmt::Display for NoTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no tree can be sampled: {}", self.reason)
    }
}

fn no_tree(reason: String) -> NoTree {
    NoTree { reason }
}

/// The nodes reachable from `from` over the arcs `s[h][m] > −∞` (`s` is
/// `n1 × n1`, row-major). No arc enters the root, so from a word this
/// is what that word reaches through words alone.
fn reachable(s: &[f64], n1: usize, from: usize) -> Vec<bool> {
    let mut seen = vec![false; n1];
    seen[from] = true;
    let mut stack = vec![from];
    while let Some(h) = stack.pop() {
        for m in 1..n1 {
            if !seen[m] && s[h * n1 + m] > NEG {
                seen[m] = true;
                stack.push(m);
            }
        }
    }
    seen
}

/// The tree distribution conditioned on the heads of words `1..next`
/// (drawn in that order): their other incoming arcs are removed, and with
/// a single root, once a word took the root, every other root arc.
struct Conditioned {
    n: usize,
    single_root: bool,
    /// Scores `s[h][m]`, `−∞` where conditioning removed the arc.
    s: Vec<f64>,
    heads: Vec<usize>,
    /// The word whose head is drawn next.
    next: usize,
}

impl Conditioned {
    fn new(
        n: usize,
        s: &dyn Fn(usize, usize) -> f64,
        single_root: bool,
    ) -> Result<Conditioned, NoTree> {
        let n1 = n + 1;
        let mut c = vec![NEG; n1 * n1];
        for h in 0..n1 {
            for m in (1..n1).filter(|&m| m != h) {
                let x = valid(s(h, m));
                if x == f64::INFINITY {
                    return Err(no_tree(format!("the arc {h} → {m} scores +∞")));
                }
                c[h * n1 + m] = x;
            }
        }
        let c = Conditioned {
            n,
            single_root,
            s: c,
            heads: vec![0; n1],
            next: 1,
        };
        c.check_some_tree()?;
        Ok(c)
    }

    /// Checks that some tree has a finite score, so that every head drawn
    /// with a positive probability leaves a distribution with trees in it,
    /// and any later failure can only be numerical.
    fn check_some_tree(&self) -> Result<(), NoTree> {
        let n1 = self.n + 1;
        for m in 1..n1 {
            if (0..n1).all(|h| self.s[h * n1 + m] == NEG) {
                return Err(no_tree(format!("word {m}: every arc into it is −∞ or NaN")));
            }
        }
        let from_root = reachable(&self.s, n1, 0);
        if let Some(m) = (1..n1).find(|&m| !from_root[m]) {
            return Err(no_tree(format!(
                "word {m}: no chain of arcs with finite scores leads to it from the root"
            )));
        }
        // One root child must reach every other word through words.
        let spans = |r: usize| self.s[r] > NEG && reachable(&self.s, n1, r)[1..].iter().all(|&x| x);
        if self.single_root && self.n > 0 && !(1..n1).any(spans) {
            return Err(no_tree(
                "with a single root, no word whose root arc has a finite score reaches every other word by arcs with finite scores".into(),
            ));
        }
        Ok(())
    }

    /// Whether `h → m` would close a cycle with the heads drawn so far:
    /// the drawn heads from `h` lead back to `m`.
    fn closes_cycle(&self, h: usize, m: usize) -> bool {
        let mut x = h;
        while x != 0 && x < self.next {
            x = self.heads[x];
        }
        x == m
    }

    /// The heads word `next` may take given the draws so far: an arc
    /// conditioning left (with a single root, no root arc once one was
    /// drawn) that closes no cycle. Their marginals alone are read, so the
    /// rounding residue in the marginal of a head no tree allows can never
    /// be drawn: every sample is a tree.
    fn candidates(&self) -> Vec<usize> {
        let (n1, m) = (self.n + 1, self.next);
        (0..n1)
            .filter(|&h| h != m && self.s[h * n1 + m] > NEG && !self.closes_cycle(h, m))
            .collect()
    }

    /// Each candidate head of word `next` with its probability given the
    /// heads drawn so far (unnormalised only by rounding).
    fn next_head(&self) -> Result<Vec<(usize, f64)>, NoTree> {
        let (n1, m) = (self.n + 1, self.next);
        let candidates = self.candidates();
        match candidates.as_slice() {
            [] => Err(no_tree(format!(
                "word {m}: every arc into it is −∞ or NaN, or closes a cycle with the heads drawn before it"
            ))),
            // Conditioning already decided it: no marginals needed.
            [h] => Ok(vec![(*h, 1.0)]),
            _ => {
                let (_, mu) = marginals(self.n, &|h, x| self.s[h * n1 + x], self.single_root);
                let weights: Vec<(usize, f64)> = candidates
                    .iter()
                    .map(|&h| (h, mu[h * n1 + m]))
                    .collect();
                if weights.iter().any(|(_, p)| !p.is_finite()) {
                    return Err(no_tree(format!(
                        "word {m}: its head marginals given the heads drawn before it are not finite"
                    )));
                }
                // Rounding may leave an impossible head slightly negative.
                Ok(weights.into_iter().map(|(h, p)| (h, p.max(0.0))).collect())
            }
        }
    }

    /// Conditions on `h` being the head of word `next`.
    fn fix(&mut self, h: usize) {
        let (n1, m) = (self.n + 1, self.next);
        for g in (0..n1).filter(|&g| g != h) {
            self.s[g * n1 + m] = NEG;
        }
        if h == 0 && self.single_root {
            for x in (1..n1).filter(|&x| x != m) {
                self.s[x] = NEG;
            }
        }
        self.heads[m] = h;
        self.next += 1;
    }
}

/// The index of a weight drawn in proportion to `weights` (non-negative,
/// with a positive finite sum), by one uniform from `rng`.
fn draw(weights: &[(usize, f64)], rng: &mut impl rand::Rng) -> Option<usize> {
    let total: f64 = weights.iter().map(|w| w.1).sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    super::logspace::draw(weights.iter().map(|w| w.1), total, rng)
}

/// An exact sample from `p(tree) ∝ exp(Σ arc scores)` over the
/// arborescences rooted at 0 (with exactly one root child if
/// `single_root`): `heads[m]` for `m ∈ 1..=n` (`heads[0]` unused). Each
/// word's head is drawn from the marginals of the distribution
/// conditioned on the heads drawn before it (see the module doc), so the
/// cost is `n` marginal computations, never a random number of steps. NaN
/// scores are no arcs, as everywhere here.
pub fn sample(
    n: usize,
    s: &dyn Fn(usize, usize) -> f64,
    single_root: bool,
    rng: &mut impl rand::Rng,
) -> Result<Vec<usize>, NoTree> {
    let mut c = Conditioned::new(n, s, single_root)?;
    for m in 1..=n {
        let weights = c.next_head()?;
        let i = draw(&weights, rng).ok_or_else(|| {
            no_tree(format!(
                "word {m}: no head has a positive probability given the heads drawn before it"
            ))
        })?;
        c.fix(weights[i].0);
    }
    Ok(c.heads)
}

/// The marginals and their derivative in direction `ds` (`∇² log Z · ds`,
/// also the marginals' VJP with upstream `ds`):
/// `dµ = dA ⊙ G + A ⊙ dG` with `dA = A ⊙ ds`, `G` the coefficients of
/// [`matrix_tree::coefficient`] on `V = L⁻¹`, and `dV = −V · dL · V`.
pub fn marginals_jvp(
    n: usize,
    s: &dyn Fn(usize, usize) -> f64,
    ds: &dyn Fn(usize, usize) -> f64,
    single_root: bool,
) -> (Vec<f64>, Vec<f64>) {
    let n1 = n + 1;
    let mut d = vec![0.0; n1 * n1];
    for h in 0..n1 {
        for m in (1..n1).filter(|&m| m != h) {
            d[h * n1 + m] = ds(h, m);
        }
    }
    marginals_jvp_of(n, &dense(n, s), &d, single_root)
}

/// [`marginals_jvp`] of scores and direction given as `(n+1)²` row-major
/// blocks.
pub fn marginals_jvp_of(
    n: usize,
    s: &[f64],
    ds: &[f64],
    single_root: bool,
) -> (Vec<f64>, Vec<f64>) {
    if n == 0 {
        return (vec![0.0], vec![0.0]);
    }
    match mtt(n, s, single_root) {
        Ok((t, mu)) => {
            let dmu = t.tangent(ds);
            (mu, dmu)
        }
        Err(_) => jvp_by_walk(n, s, ds, single_root),
    }
}

/// log Z and the marginals of `s` (`(n+1)²`, row-major) by the
/// subtraction-free walk of [`super::absorbing`] alone: what a sentence
/// whose Laplacian f64 cannot invert accurately gets.
pub fn marginals_by_walk(n: usize, s: &[f64], single_root: bool) -> (f64, Vec<f64>) {
    absorbing::marginals::<f64>(n, &|h, m| s[h * (n + 1) + m], single_root)
}

/// [`marginals_jvp_of`] by the subtraction-free walk alone, in dual
/// numbers.
pub fn jvp_by_walk(n: usize, s: &[f64], ds: &[f64], single_root: bool) -> (Vec<f64>, Vec<f64>) {
    let n1 = n + 1;
    let dual = |h: usize, m: usize| Dual {
        v: s[h * n1 + m],
        t: ds[h * n1 + m],
    };
    let (_, mu) = absorbing::marginals::<Dual>(n, &dual, single_root);
    (
        mu.iter().map(|d| d.v).collect(),
        mu.iter().map(|d| d.t).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::brute;
    use super::*;
    use rand::{Rng, SeedableRng};

    use brute::random_scores;

    #[test]
    fn map_log_partition_and_marginals_match_brute_force() {
        brute::assert_matches_enumeration(
            false,
            1..=6,
            2.0,
            &|n, s, single| marginals_by_laplacian(n, s, single).unwrap(),
            Some(&|n, s, single| map(n, s, single)),
            &|_, _, _| false,
        );
    }

    #[test]
    fn map_through_nested_cycles_matches_brute_force() {
        // Word-to-word arcs far above root arcs, so the greedy heads form
        // cycles, and contracted cycles form cycles again; integer scores
        // give ties too. Compared by score: ties may pick either tree.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut contracted = 0;
        for n in 3..=6 {
            for single in [true, false] {
                let trees = brute::trees(n, false, single);
                for _ in 0..60 {
                    let sc: Vec<f64> = (0..(n + 1) * (n + 1))
                        .map(|i| {
                            let x = f64::from(rng.random_range(0..6u8));
                            if i < n + 1 {
                                x - 8.0
                            } else {
                                x
                            }
                        })
                        .collect();
                    let s = |h: usize, m: usize| sc[h * (n + 1) + m];
                    let greedy: Vec<usize> = (0..=n)
                        .map(|m| {
                            (0..=n)
                                .filter(|&h| h != m && m > 0)
                                .max_by(|&a, &b| s(a, m).total_cmp(&s(b, m)))
                                .unwrap_or(0)
                        })
                        .collect();
                    contracted += usize::from(find_cycle(&greedy, &vec![true; n + 1]).is_some());
                    let got = map(n, &s, single);
                    assert!(
                        trees.contains(&got),
                        "n={n} single={single}: {got:?} is not a tree"
                    );
                    let best = trees
                        .iter()
                        .map(|t| brute::score(&s, t))
                        .fold(f64::NEG_INFINITY, f64::max);
                    assert_eq!(
                        brute::score(&s, &got),
                        best,
                        "n={n} single={single}: {sc:?}"
                    );
                }
            }
        }
        assert!(
            contracted > 300,
            "only {contracted} cases had a cycle to contract"
        );
    }

    #[test]
    fn map_of_a_long_sentence_contracts_cycles_of_cycles_in_quadratic_memory() {
        // 2,048 words in a hierarchy: a word prefers its sibling, a pair the
        // neighbouring pair, and so on, so the greedy heads are 1,024
        // two-cycles and contracting them makes cycles of cycles, 2,047
        // contractions in all (the old recursion held a copy of the graph
        // per contraction: terabytes here). Every word attaches once within
        // its pair, each pair once to its neighbour, …: the best tree scores
        // −Σ_L L · n / 2^L besides its root arc.
        let n = 2048usize;
        let level =
            |h: usize, m: usize| f64::from(usize::BITS - ((h - 1) ^ (m - 1)).leading_zeros());
        let s = |h: usize, m: usize| if h == 0 { -100.0 } else { -level(h, m) };
        let heads = map(n, &s, true);
        assert!(find_cycle(&heads, &vec![true; n + 1]).is_none());
        assert_eq!(heads[1..].iter().filter(|&&h| h == 0).count(), 1);
        let best: f64 = (1..=11).map(|l| f64::from(l) * (n >> l) as f64).sum();
        assert_eq!(brute::score(&s, &heads), -100.0 - best);
    }

    /// The probability that [`sample`] draws `heads`: the product of the
    /// conditionals it draws each head from.
    fn sampler_probability(
        n: usize,
        s: &dyn Fn(usize, usize) -> f64,
        single: bool,
        heads: &[usize],
    ) -> f64 {
        let mut c = Conditioned::new(n, s, single).unwrap();
        let mut p = 1.0;
        for &h in &heads[1..] {
            let w = c.next_head().unwrap();
            let total: f64 = w.iter().map(|x| x.1).sum();
            match w.iter().find(|x| x.0 == h) {
                Some(x) => p *= x.1 / total,
                None => return 0.0,
            }
            c.fix(h);
        }
        p
    }

    #[test]
    fn the_sampler_draws_every_tree_with_its_exact_probability() {
        // No statistics: the product of the conditionals the sampler draws
        // from, tree by tree, against enumeration.
        for n in 1..=4 {
            for single in [true, false] {
                let trees = brute::trees(n, false, single);
                for (seed, scale) in [(1, 2.0), (2, 2.0), (3, 30.0)] {
                    let sc = random_scores(n, seed * 17 + n as u64, scale);
                    let s = |h: usize, m: usize| sc[h * (n + 1) + m];
                    let exact = brute::Exact::of(&trees, n, &s);
                    let mut total = 0.0;
                    for t in &trees {
                        let want = (brute::score(&s, t) - exact.log_z).exp();
                        let got = sampler_probability(n, &s, single, t);
                        assert!(
                            (got - want).abs() <= 1e-9 + 1e-7 * want,
                            "n={n} single={single} scale={scale} {t:?}: {got} vs {want}"
                        );
                        total += got;
                    }
                    assert!((total - 1.0).abs() < 1e-9, "n={n}: sums to {total}");
                }
            }
        }
    }

    #[test]
    fn peaked_scores_with_a_tempting_two_cycle_sample_the_map_tree_at_once() {
        // Words 1 and 2 prefer each other by at least 5e3 over any other
        // head, and root arcs are the weakest: Wilson's walk from word 1
        // would circle 1 ⇄ 2 for about e^5000 steps. The best tree beats
        // the second by ≥ 50 nats (checked by enumeration), so every
        // sample is the MAP tree.
        let n = 5;
        let mut sc = random_scores(n, 9, 2.5e3);
        let idx = |h: usize, m: usize| h * (n + 1) + m;
        for v in sc.iter_mut() {
            *v -= 7.5e3; // in [−1e4, −5e3]
        }
        for m in 1..=n {
            sc[idx(0, m)] = -1e4 + 100.0 * m as f64;
        }
        sc[idx(1, 2)] = 0.0;
        sc[idx(2, 1)] = -1.0;
        for single in [true, false] {
            let s = |h: usize, m: usize| sc[idx(h, m)];
            let mut totals: Vec<f64> = brute::trees(n, false, single)
                .iter()
                .map(|t| brute::score(&s, t))
                .collect();
            totals.sort_by(|a, b| b.total_cmp(a));
            assert!(totals[0] - totals[1] >= 50.0, "{:?}", &totals[..2]);
            let best = map(n, &s, single);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
            for _ in 0..200 {
                assert_eq!(sample(n, &s, single, &mut rng).unwrap(), best);
            }
        }
    }

    #[test]
    fn a_long_sentence_with_scores_spread_over_1e4_samples_near_map_trees() {
        // Two-cycles planted along the sentence, uniform scores in
        // [−1e4, 0] elsewhere. A tree `d` nats below the best has
        // probability at most #trees · e^{−d}: below e^{−26} for d = 100.
        let n = 24;
        let idx = |h: usize, m: usize| h * (n + 1) + m;
        let mut sc = random_scores(n, 21, 5e3);
        for v in sc.iter_mut() {
            *v -= 5e3;
        }
        for w in (1..n).step_by(2) {
            sc[idx(w, w + 1)] = 0.0;
            sc[idx(w + 1, w)] = 0.0;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        for single in [true, false] {
            let s = |h: usize, m: usize| sc[idx(h, m)];
            let best = brute::score(&s, &map(n, &s, single));
            for _ in 0..3 {
                let heads = sample(n, &s, single, &mut rng).unwrap();
                assert!(brute::is_tree(&heads, false, single), "{heads:?}");
                let got = brute::score(&s, &heads);
                assert!(got >= best - 100.0, "single={single}: {got} vs {best}");
            }
        }
    }

    #[test]
    fn single_root_samples_have_exactly_one_root_child_even_when_root_arcs_dominate() {
        let n = 6;
        let mut sc = random_scores(n, 12, 2.0);
        for v in sc.iter_mut().take(n + 1) {
            *v += 4.0; // root arcs
        }
        let s = |h: usize, m: usize| sc[h * (n + 1) + m];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut multi_rooted = 0;
        for _ in 0..300 {
            let one = sample(n, &s, true, &mut rng).unwrap();
            assert!(brute::is_tree(&one, false, true), "{one:?}");
            let any = sample(n, &s, false, &mut rng).unwrap();
            assert!(brute::is_tree(&any, false, false), "{any:?}");
            multi_rooted += usize::from(any[1..].iter().filter(|&&h| h == 0).count() > 1);
        }
        // The same scores without the constraint do root several words.
        assert!(multi_rooted > 250, "{multi_rooted} of 300");
    }

    #[test]
    fn no_words_sample_the_empty_tree_and_one_word_attaches_to_the_root() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for single in [true, false] {
            assert_eq!(sample(0, &|_, _| 0.0, single, &mut rng).unwrap(), [0]);
            assert_eq!(sample(1, &|_, _| -3.0, single, &mut rng).unwrap(), [0, 0]);
        }
    }

    #[test]
    fn scores_that_admit_no_tree_are_an_error_saying_why() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let no_head_for_2 = |_: usize, m: usize| if m == 2 { NEG } else { 0.0 };
        let nan_into_3 = |_: usize, m: usize| if m == 3 { f64::NAN } else { 0.0 };
        let infinite = |h: usize, m: usize| if (h, m) == (1, 3) { f64::INFINITY } else { 0.0 };
        let no_root = |h: usize, _: usize| if h == 0 { NEG } else { 0.0 };
        // Words 1 ⇄ 2 and 3 ⇄ 4, each pair cut off from the other: a forest
        // of two root children, never a tree with one.
        let two_islands = |h: usize, m: usize| {
            let island = |x: usize| x.div_ceil(2);
            if h == 0 || island(h) == island(m) {
                0.0
            } else {
                NEG
            }
        };
        for single in [true, false] {
            for (s, why) in [
                (
                    &no_head_for_2 as &dyn Fn(usize, usize) -> f64,
                    "word 2: every arc",
                ),
                (&nan_into_3, "word 3: every arc"),
                (&infinite, "1 → 3 scores +∞"),
                (&no_root, "word 1: no chain"),
            ] {
                let err = sample(4, s, single, &mut rng).unwrap_err().to_string();
                assert!(err.starts_with("no tree can be sampled: "), "{err}");
                assert!(err.contains(why), "{err}");
            }
        }
        let err = sample(4, &two_islands, true, &mut rng).unwrap_err();
        assert!(err.to_string().contains("single root"), "{err}");
        let heads = sample(4, &two_islands, false, &mut rng).unwrap();
        assert!(brute::is_tree(&heads, false, false), "{heads:?}");
    }

    #[test]
    fn marginals_are_the_gradient_of_the_log_partition() {
        let n = 5;
        let sc = random_scores(n, 7, 1.5);
        for single in [true, false] {
            brute::assert_marginals_are_the_gradient_of_log_z(n, &sc, &|s| {
                marginals_by_laplacian(n, s, single).unwrap()
            });
            brute::assert_marginals_are_the_gradient_of_log_z(n, &sc, &|s| {
                absorbing::marginals::<f64>(n, s, single)
            });
        }
    }

    #[test]
    fn marginals_jvp_is_the_finite_difference_of_the_marginals() {
        let n = 6;
        let (sc, dir) = (random_scores(n, 3, 1.5), random_scores(n, 4, 1.0));
        for single in [true, false] {
            brute::assert_jvp_is_the_finite_difference(
                n,
                &sc,
                &dir,
                &|s, ds| marginals_jvp(n, s, ds, single).1,
                &|s| marginals(n, s, single).1,
                1e-6,
                1e-7,
            );
        }
    }

    #[test]
    fn long_sentences_with_trained_scale_scores_are_accurate() {
        // At this scale the Laplacian's error bound exceeds 1e-11 and the
        // walk takes over: either way the marginals are distributions.
        let n = 200;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let sc: Vec<f64> = (0..(n + 1) * (n + 1))
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) * 10.0)
            .collect();
        for single in [true, false] {
            let (lz, mu) = marginals(n, &|h, m| sc[h * (n + 1) + m], single);
            assert!(lz.is_finite());
            for m in 1..=n {
                let total: f64 = (0..=n).map(|h| mu[h * (n + 1) + m]).sum();
                assert!((total - 1.0).abs() < 1e-7, "word {m}: {total}");
            }
            let heads = map(n, &|h, m| sc[h * (n + 1) + m], single);
            assert!(find_cycle(&heads, &vec![true; n + 1]).is_none());
            if single {
                assert_eq!(heads[1..].iter().filter(|&&h| h == 0).count(), 1);
            }
        }
    }

    #[test]
    fn scores_too_far_apart_for_the_laplacian_fall_back_to_the_subtraction_free_walk() {
        let n = 200;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let normal: Vec<f64> = (0..(n + 1) * (n + 1))
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) * 100.0)
            .collect();
        let uniform = random_scores(n, 6, 1e4);
        let mut fell_back = 0;
        for (sc, single) in [
            (&normal, true),
            (&normal, false),
            (&uniform, true),
            (&uniform, false),
        ] {
            let f = |h: usize, m: usize| sc[h * (n + 1) + m];
            if let Err(e) = marginals_by_laplacian(n, &f, single) {
                assert!(e.to_string().contains("ill-conditioned"));
                fell_back += 1;
            }
            let (lz, mu) = marginals(n, &f, single);
            assert!(lz.is_finite());
            assert!(mu.iter().all(|x| x.is_finite() && *x >= -1e-9));
            for m in 1..=n {
                let total: f64 = (0..=n).map(|h| mu[h * (n + 1) + m]).sum();
                assert!((total - 1.0).abs() < 1e-8, "word {m}: {total}");
            }
            if single {
                let root: f64 = (1..=n).map(|m| mu[m]).sum();
                assert!((root - 1.0).abs() < 1e-8);
            }
            // MAP has no such limit.
            let heads = map(n, &f, single);
            assert!(brute::is_tree(&heads, false, single));
            // Scores this far apart: log Z is the best tree's score.
            assert!(
                (lz - brute::score(&f, &heads)).abs() < 1e-6 * lz.abs().max(1.0) || sc == &normal
            );
        }
        assert!(
            fell_back >= 2,
            "the Laplacian coped with {} of 4 cases",
            4 - fell_back
        );
    }

    #[test]
    fn the_vjp_falls_back_too_and_matches_finite_differences() {
        let n = 20;
        let idx = |h: usize, m: usize| h * (n + 1) + m;
        let mut checked = 0;
        for seed in 0..40 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(100 + seed);
            let sc: Vec<f64> = (0..(n + 1) * (n + 1))
                .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) * 25.0)
                .collect();
            let single = seed % 2 == 0;
            if marginals_by_laplacian(n, &|h, m| sc[idx(h, m)], single).is_ok() {
                continue;
            }
            let dir = random_scores(n, 200 + seed, 1.0);
            brute::assert_jvp_is_the_finite_difference(
                n,
                &sc,
                &dir,
                &|s, ds| marginals_jvp(n, s, ds, single).1,
                &|s| marginals(n, s, single).1,
                1e-5,
                1e-6,
            );
            checked += 1;
            if checked == 3 {
                break;
            }
        }
        assert!(checked >= 1, "no seed made the Laplacian ill-conditioned");
    }
}
