//! Unlabeled binary constituency trees (bracketings) over a sentence,
//! scored per span: `s[B, N, N]` (layout [`SPANS`]), `s[b][i][j]` for
//! `i ≤ j` the score of the span of words `i..=j` (0-based, inclusive).
//! A tree of `n` words holds `2n − 1` spans — the `n` single words, the
//! whole sentence and the `n − 2` spans between — and scores their sum.
//! Entries below the diagonal and past an item's length are no part of
//! any tree, and are zero in every output.
//!
//! MAP is CKY (Viterbi over split points); the marginals and the
//! log-partition come from the inside pass in log space and its adjoint
//! (the outside pass in probability space: a span's adjoint *is* its
//! marginal, so it never overflows); the marginals' VJP is the
//! Hessian-vector product `∇² log Z · g`, from forward-mode tangents
//! carried through both passes. Each sentence is computed in f64 whatever
//! the element type, and the batch is split across the context's workers.
//!
//! Charts keep every inside score twice, row-major (`β[i][·]`) and
//! transposed (`β[·][j]`), so the split loop of span `i..=j`, which pairs
//! `β[i][k]` with `β[k+1][j]` for `k = i..j`, reads two contiguous slices.

use super::logspace::{self, exp, ln};
use super::sparsemap;
use super::structure::{
    check_lengths, check_same_shape, Engine, Options, Saved, State, Statistics, StructureError,
};
use crate::context::Context;
use crate::real::Real;
use lsmc_ir::structures::{Descriptor, Ops, Spelling, SPANS};
use ndarray::{ArrayD, Axis};
use rand_chacha::ChaCha8Rng;

/// `constituency_tree()`: binary bracketings, every operation.
pub static CONSTITUENCY: Descriptor = Descriptor {
    name: "constituency",
    spelling: Spelling {
        callee: "constituency_tree",
        variant: None,
        rooted: false,
        doc: "Unlabeled binary constituency trees over a sentence: each tree a set of \
              2n − 1 spans, scored per span (CKY); scores f32[B, N, N] as \
              scores[b][first word][last word].",
        variant_doc: "",
    },
    scores: SPANS,
    scores_hint:
        "`matmul(a, transpose(b))` of two [B, N, D] projections (one score per span i..=j)",
    ops: Ops {
        map: true,
        marginals: true,
        sparsemap: true,
        sample: true,
    },
    statistics: &["tree_depth", "right_branching"],
};

/// Checks that scores are `[B, N, N]`.
fn check_layout(shape: &[usize]) -> Result<(), StructureError> {
    if shape.len() != 3 || shape[1] != shape[2] {
        return Err(StructureError::Shape(format!(
            "constituency scores must have shape [B, N, N] (the score of words i..=j at [b, i, j]), got {shape:?}"
        )));
    }
    Ok(())
}

/// Checks that scores are `[B, N, N]` with one length, at most `N`, per item.
pub fn check_shape(shape: &[usize], lengths: &[usize]) -> Result<(), StructureError> {
    check_layout(shape)?;
    check_lengths(shape[0], lengths, shape[1])
}

/// The `n × n` block of one item (`np × np` row-major values), in f64,
/// with the entries below the diagonal zeroed.
fn block<T: Real>(item: &[T], np: usize, n: usize) -> Vec<f64> {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        let row = &item[i * np..i * np + n];
        for j in i..n {
            v[i * n + j] = row[j].f64();
        }
    }
    v
}

/// Writes per-item `n × n` blocks (upper triangles) into a zero `[B, N, N]`.
fn unblock<T: Real, V: AsRef<[f64]>>(
    shape: &[usize],
    lengths: &[usize],
    blocks: &[V],
) -> ArrayD<T> {
    let np = shape[1];
    let mut out = vec![T::zero(); shape.iter().product()];
    for (b, (v, &n)) in blocks.iter().zip(lengths).enumerate() {
        let v = v.as_ref();
        for i in 0..n {
            let dst = (b * np + i) * np;
            for j in i..n {
                out[dst + j] = T::of(v[i * n + j]);
            }
        }
    }
    ArrayD::from_shape_vec(ndarray::IxDyn(shape), out).expect("shape matches")
}

/// Runs `f(b, block_b, n_b)` for every item on the context's workers,
/// the longest first (see `tree.rs`'s `per_sentence`), collecting the
/// results in batch order.
fn per_sentence<T: Real, R: Send>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    f: impl Fn(usize, &[f64], usize) -> R + Sync,
) -> Vec<R> {
    let np = s.shape()[1];
    let flat = s.as_standard_layout();
    let flat = flat.as_slice().expect("standard layout");
    cx.map_costliest_first(lengths, |b| {
        let n = lengths[b];
        f(b, &block(&flat[b * np * np..(b + 1) * np * np], np, n), n)
    })
}

/// One value per span of a sentence of `n` words, kept twice: row-major
/// (`row[i·n + j]`) and transposed (`col[j·n + i]`).
struct Chart {
    n: usize,
    row: Vec<f64>,
    col: Vec<f64>,
}

impl Chart {
    fn new(n: usize) -> Chart {
        Chart {
            n,
            row: vec![0.0; n * n],
            col: vec![0.0; n * n],
        }
    }

    #[inline(always)]
    fn get(&self, i: usize, j: usize) -> f64 {
        self.row[i * self.n + j]
    }

    #[inline(always)]
    fn set(&mut self, i: usize, j: usize, v: f64) {
        self.row[i * self.n + j] = v;
        self.col[j * self.n + i] = v;
    }

    /// The left children of span `i..=j`, split by split: `[i][k]`, `k = i..j`.
    #[inline(always)]
    fn left(&self, i: usize, j: usize) -> &[f64] {
        &self.row[i * self.n + i..i * self.n + j]
    }

    /// The right children of span `i..=j`, split by split: `[k+1][j]`, `k = i..j`.
    #[inline(always)]
    fn right(&self, i: usize, j: usize) -> &[f64] {
        &self.col[j * self.n + i + 1..j * self.n + j + 1]
    }
}

/// Accumulators per reduction, enough for 256-bit vectors of f64.
const LANES: usize = 4;

/// `xs ← l + r` and their maximum (−∞ when empty or all −∞; NaN never
/// wins), in chunks of [`LANES`] so the loop vectorises.
#[inline(always)]
fn sums_and_max(l: &[f64], r: &[f64], xs: &mut [f64]) -> f64 {
    let k = xs.len();
    let (l, r) = (&l[..k], &r[..k]);
    let whole = k - k % LANES;
    let mut mx = [f64::NEG_INFINITY; LANES];
    for q in (0..whole).step_by(LANES) {
        for lane in 0..LANES {
            let x = l[q + lane] + r[q + lane];
            xs[q + lane] = x;
            mx[lane] = if x > mx[lane] { x } else { mx[lane] };
        }
    }
    for q in whole..k {
        let x = l[q] + r[q];
        xs[q] = x;
        mx[0] = if x > mx[0] { x } else { mx[0] };
    }
    mx.into_iter()
        .fold(f64::NEG_INFINITY, |m, x| if x > m { x } else { m })
}

/// `xs ← exp(xs − m)`, returning their sum, in chunks of [`LANES`] so
/// the loop vectorises.
#[inline(always)]
fn exp_shifted_sum(xs: &mut [f64], m: f64) -> f64 {
    let mut chunks = xs.chunks_exact_mut(LANES);
    let mut acc = [0.0; LANES];
    for c in &mut chunks {
        for lane in 0..LANES {
            c[lane] = exp(c[lane] - m);
            acc[lane] += c[lane];
        }
    }
    for x in chunks.into_remainder() {
        *x = exp(*x - m);
        acc[0] += *x;
    }
    acc.iter().sum()
}

/// The inside pass of one sentence: `β[i][j]`, the log-sum of the scores
/// of every subtree over words `i..=j`, and with a direction `g` its
/// tangent `β̇[i][j]`. `s` and `g` are `n × n` row-major.
struct Inside {
    beta: Chart,
    /// Per span `i..=j` (row-major `n × n`), the log-sum over its splits of
    /// its children's inside scores: `β[i][j]` without the span's own
    /// score, kept apart because recovering it as `β − s` cancels when
    /// the span's score dwarfs its children's.
    splits: Vec<f64>,
    tangent: Option<Chart>,
}

impl Inside {
    fn new(n: usize, s: &[f64], g: Option<&[f64]>) -> Inside {
        let mut beta = Chart::new(n);
        let mut tangent = g.map(|_| Chart::new(n));
        for i in 0..n {
            beta.set(i, i, s[i * n + i]);
            if let (Some(t), Some(g)) = (tangent.as_mut(), g) {
                t.set(i, i, g[i * n + i]);
            }
        }
        let mut splits = vec![f64::NEG_INFINITY; n * n];
        let mut w = vec![0.0; n];
        for len in 2..=n {
            for i in 0..=n - len {
                let j = i + len - 1;
                let w = &mut w[..len - 1];
                let m = sums_and_max(beta.left(i, j), beta.right(i, j), w);
                if m == f64::NEG_INFINITY {
                    beta.set(i, j, m);
                    if let Some(t) = tangent.as_mut() {
                        t.set(i, j, 0.0);
                    }
                    continue;
                }
                let sum = exp_shifted_sum(w, m);
                splits[i * n + j] = m + ln(sum);
                beta.set(i, j, s[i * n + j] + splits[i * n + j]);
                if let (Some(t), Some(g)) = (tangent.as_mut(), g) {
                    // β̇ = ġ + Σ_k softmax_k (β̇[i][k] + β̇[k+1][j]).
                    let mut acc = [0.0; LANES];
                    let parts = w.iter().zip(t.left(i, j)).zip(t.right(i, j));
                    for (q, ((&e, &a), &b)) in parts.enumerate() {
                        acc[q % LANES] += e * (a + b);
                    }
                    let dot: f64 = acc.iter().sum();
                    t.set(i, j, g[i * n + j] + dot / sum);
                }
            }
        }
        Inside {
            beta,
            splits,
            tangent,
        }
    }

    fn log_z(&self) -> f64 {
        match self.beta.n {
            0 => 0.0,
            n => self.beta.get(0, n - 1),
        }
    }

    /// The log-sum over span `i..=j`'s splits of its children's inside
    /// scores (−∞ for a single word, which has none).
    #[inline(always)]
    fn splits_total(&self, i: usize, j: usize) -> f64 {
        self.splits[i * self.beta.n + j]
    }
}

/// Log-partition, span marginals `µ[i][j]` (`n × n`, row-major) and, with
/// a direction `g`, their tangent `∇² log Z · g` — the marginals' VJP with
/// upstream `g`, as the Hessian is symmetric.
///
/// The marginals are the adjoints of the inside scores (a span's score
/// enters `log Z` only through its own `β`), pushed from each span to its
/// children with the softmax weight of each split, longest spans first.
pub fn inside_outside(n: usize, s: &[f64], g: Option<&[f64]>) -> (f64, Vec<f64>, Option<Vec<f64>>) {
    let inside = Inside::new(n, s, g);
    let mut mu = vec![0.0; n * n];
    let mut dmu = g.map(|_| vec![0.0; n * n]);
    if n == 0 {
        return (0.0, mu, dmu);
    }
    // Adjoints gathered per span: as a left child (row-major, from parents
    // sharing its first word) and as a right child (transposed, from
    // parents sharing its last word), so both updates are contiguous.
    let (mut as_left, mut as_right) = (vec![0.0; n * n], vec![0.0; n * n]);
    let (mut d_left, mut d_right) = match g {
        Some(_) => (vec![0.0; n * n], vec![0.0; n * n]),
        None => (vec![], vec![]),
    };
    // The whole sentence is in every tree.
    as_left[n - 1] = 1.0;
    for len in (1..=n).rev() {
        for i in 0..=n - len {
            let j = i + len - 1;
            let m = as_left[i * n + j] + as_right[j * n + i];
            mu[i * n + j] = m;
            let total = inside.splits_total(i, j);
            let (lo, ro) = (i * n + i..i * n + j, j * n + i + 1..j * n + j + 1);
            let (l, r) = (inside.beta.left(i, j), inside.beta.right(i, j));
            match (&inside.tangent, g, dmu.as_mut()) {
                (Some(t), Some(g), Some(dmu)) => {
                    let dm = d_left[i * n + j] + d_right[j * n + i];
                    dmu[i * n + j] = dm;
                    if len == 1 || (m == 0.0 && dm == 0.0) || total == f64::NEG_INFINITY {
                        continue;
                    }
                    // ẇ_k = w_k (ẋ_k − Σ_k' w_k' ẋ_k'), the sum being β̇ − ġ.
                    let mean = t.get(i, j) - g[i * n + j];
                    let (tl, tr) = (t.left(i, j), t.right(i, j));
                    let (al, ar) = (&mut as_left[lo.clone()], &mut as_right[ro.clone()]);
                    let (dl, dr) = (&mut d_left[lo], &mut d_right[ro]);
                    for q in 0..len - 1 {
                        let w = exp(l[q] + r[q] - total);
                        al[q] += m * w;
                        ar[q] += m * w;
                        let c = w * (dm + m * (tl[q] + tr[q] - mean));
                        dl[q] += c;
                        dr[q] += c;
                    }
                }
                _ => {
                    if len == 1 || m == 0.0 || total == f64::NEG_INFINITY {
                        continue;
                    }
                    let (al, ar) = (&mut as_left[lo], &mut as_right[ro]);
                    for q in 0..len - 1 {
                        let w = m * exp(l[q] + r[q] - total);
                        al[q] += w;
                        ar[q] += w;
                    }
                }
            }
        }
    }
    (inside.log_z(), mu, dmu)
}

/// CKY: the highest-scoring bracketing of `n` words under `s` (`n × n`,
/// row-major), as its split points in preorder (see [`spans`]). Ties go
/// to the earliest split; NaN scores never win.
pub fn cky(n: usize, s: &[f64]) -> Vec<usize> {
    let mut best = Chart::new(n);
    let mut split = vec![0usize; n * n];
    for i in 0..n {
        best.set(i, i, s[i * n + i]);
    }
    for len in 2..=n {
        for i in 0..=n - len {
            let j = i + len - 1;
            let (mut v, mut at) = (f64::NEG_INFINITY, 0);
            for (q, (&a, &b)) in best.left(i, j).iter().zip(best.right(i, j)).enumerate() {
                if a + b > v {
                    v = a + b;
                    at = q;
                }
            }
            best.set(i, j, s[i * n + j] + v);
            split[i * n + j] = i + at;
        }
    }
    preorder(n, |i, j| split[i * n + j])
}

/// The split points of a bracketing in preorder, choosing the split of
/// each internal span `i..=j` (the last word of its left child) with
/// `choose(i, j)`, which must return some `k` in `i..j`.
fn preorder(n: usize, mut choose: impl FnMut(usize, usize) -> usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n.saturating_sub(1));
    let mut todo = if n > 0 { vec![(0, n - 1)] } else { vec![] };
    while let Some((i, j)) = todo.pop() {
        if i < j {
            let k = choose(i, j);
            out.push(k);
            todo.push((k + 1, j));
            todo.push((i, k));
        }
    }
    out
}

/// One exact sample from the Gibbs distribution over bracketings of `n`
/// words: the inside pass, then each span's split drawn top-down with
/// probability proportional to its children's inside scores. Returns the
/// split points in preorder; draws one number per internal span.
pub fn sample(n: usize, s: &[f64], rng: &mut ChaCha8Rng) -> Vec<usize> {
    let inside = Inside::new(n, s, None);
    preorder(n, |i, j| {
        let total = inside.splits_total(i, j);
        let (l, r) = (inside.beta.left(i, j), inside.beta.right(i, j));
        let weights = l.iter().zip(r).map(|(a, b)| exp(a + b - total));
        i + logspace::draw(weights, 1.0, rng).unwrap_or(0)
    })
}

/// A span `i..=j` of a bracketing, with its depth (the whole sentence's
/// is 0) and its split point `k` if it is internal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub i: usize,
    pub j: usize,
    pub depth: usize,
    pub split: Option<usize>,
}

/// The `2n − 1` spans of the bracketing of `n` words whose split points in
/// preorder are `splits` (the encoding of [`Engine::decode`]): the whole
/// sentence `0..=n−1` splits at `splits[0]` into `0..=k` and `k+1..=n−1`,
/// then come the left child's splits, then the right child's. `None` when
/// `splits` is no such list (a split outside its span, too few or too many).
pub fn spans(n: usize, splits: &[usize]) -> Option<Vec<Span>> {
    let mut out = Vec::with_capacity((2 * n).saturating_sub(1));
    let mut next = splits.iter();
    let mut todo = if n > 0 { vec![(0, n - 1, 0)] } else { vec![] };
    while let Some((i, j, depth)) = todo.pop() {
        let split = if i < j {
            let &k = next.next()?;
            if !(i..j).contains(&k) {
                return None;
            }
            todo.push((k + 1, j, depth + 1));
            todo.push((i, k, depth + 1));
            Some(k)
        } else {
            None
        };
        out.push(Span { i, j, depth, split });
    }
    next.next().is_none().then_some(out)
}

/// The `n × n` span indicator (row-major) of a valid bracketing.
fn indicator(n: usize, splits: &[usize]) -> Vec<f64> {
    let mut z = vec![0.0; n * n];
    for sp in spans(n, splits).expect("a bracketing from CKY or the sampler") {
        z[sp.i * n + sp.j] = 1.0;
    }
    z
}

/// Brute force: every bracketing of `n` words, as split points in
/// preorder — for each split of the whole sentence, every bracketing of
/// the left part followed by every one of the right part.
pub fn bracketings(n: usize) -> Vec<Vec<usize>> {
    fn of(i: usize, j: usize) -> Vec<Vec<usize>> {
        if i >= j {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for k in i..j {
            for l in of(i, k) {
                for r in of(k + 1, j) {
                    out.push([vec![k], l.clone(), r].concat());
                }
            }
        }
        out
    }
    match n {
        0 => vec![vec![]],
        n => of(0, n - 1),
    }
}

/// Statistics of induced bracketings (decoded as split points in
/// preorder, see [`spans`]).
#[derive(Clone, Debug, Default)]
pub struct BracketStats {
    sentences: usize,
    depth_sum: f64,
    /// Sentences of two words or more, which have internal spans.
    branching: usize,
    right_sum: f64,
}

impl BracketStats {
    /// Mean over sentences of the tree's depth: the most spans above any
    /// word (a single word's tree has depth 0, and so has an empty
    /// sentence's, which decodes alike).
    pub fn depth(&self) -> f64 {
        self.depth_sum / self.sentences.max(1) as f64
    }

    /// Mean over sentences of two words or more of the share of internal
    /// spans whose left child is a single word (1 for the purely
    /// right-branching tree).
    pub fn right_branching(&self) -> f64 {
        self.right_sum / self.branching.max(1) as f64
    }
}

impl Statistics for BracketStats {
    /// An item that is no bracketing (not from [`Engine::decode`]) is
    /// left out.
    fn add(&mut self, splits: &[usize]) {
        let n = splits.len() + 1;
        let Some(spans) = spans(n, splits) else {
            return;
        };
        self.sentences += 1;
        self.depth_sum += spans.iter().map(|s| s.depth).max().unwrap_or(0) as f64;
        if n >= 2 {
            self.branching += 1;
            let right = spans.iter().filter(|s| s.split == Some(s.i)).count();
            self.right_sum += right as f64 / (n - 1) as f64;
        }
    }

    fn report(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("tree_depth", self.depth()),
            ("right_branching", self.right_branching()),
        ]
    }
}

/// The spans of a sentence of `n` words in one item of `[N, N]` scores,
/// as ranges of the item's row-major index: row `i < n` from `i` to `n − 1`.
pub fn span_ranges(np: usize, n: usize) -> Vec<std::ops::Range<usize>> {
    (0..n.min(np))
        .map(|i| i * np + i..i * np + n.min(np))
        .collect()
}

/// The constituency engine: binary bracketings of each item's words.
pub struct ConstituencyTrees;

impl ConstituencyTrees {
    fn sparsemap_solutions<T: Real>(
        cx: &Context,
        s: &ArrayD<T>,
        lengths: &[usize],
        max_iter: usize,
    ) -> Vec<sparsemap::Solution> {
        per_sentence(cx, s, lengths, |_, v, n| {
            if n == 0 {
                // The one empty bracketing: nothing to project.
                return sparsemap::Solution {
                    structures: vec![vec![]],
                    weights: vec![1.0],
                    mu: vec![],
                    iterations: 0,
                    certified: true,
                    interior: None,
                    factor: None,
                };
            }
            sparsemap::solve_active_set_within(v, &|x: &[f64]| indicator(n, &cky(n, x)), max_iter)
        })
    }

    /// The VJP of SparseMAP over given solutions, one per item.
    fn sparsemap_vjp_over<T: Real>(
        sols: &[sparsemap::Solution],
        shape: &[usize],
        lengths: &[usize],
        g: &ArrayD<T>,
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(shape, lengths)?;
        check_same_shape(g.shape(), shape)?;
        if sols.len() != lengths.len() {
            return Err(StructureError::Shape(format!(
                "{} SparseMAP solutions for a batch of {}",
                sols.len(),
                lengths.len()
            )));
        }
        let np = shape[1];
        let flat = g.as_standard_layout();
        let flat = flat.as_slice().expect("standard layout");
        let blocks: Vec<Vec<f64>> = sols
            .iter()
            .zip(lengths)
            .enumerate()
            .map(|(b, (sol, &n))| sol.vjp(&block(&flat[b * np * np..(b + 1) * np * np], np, n)))
            .collect();
        Ok(unblock(shape, lengths, &blocks))
    }
}

impl<T: Real> Engine<T> for ConstituencyTrees {
    fn descriptor(&self) -> &'static Descriptor {
        &CONSTITUENCY
    }

    fn sizes(
        &self,
        shape: &[usize],
        lengths: Option<&[usize]>,
    ) -> Result<Vec<usize>, StructureError> {
        check_layout(shape)?;
        let ls = lengths
            .map(<[usize]>::to_vec)
            .unwrap_or_else(|| vec![shape[1]; shape[0]]);
        check_shape(shape, &ls)?;
        Ok(ls)
    }

    fn map(
        &self,
        cx: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(s.shape(), ls)?;
        let blocks = per_sentence(cx, s, ls, |_, v, n| indicator(n, &cky(n, v)));
        Ok(unblock(s.shape(), ls, &blocks))
    }

    fn marginals(
        &self,
        cx: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
        check_shape(s.shape(), ls)?;
        let res = per_sentence(cx, s, ls, |_, v, n| {
            let (log_z, mu, _) = inside_outside(n, v, None);
            (log_z, mu)
        });
        let (log_z, blocks): (Vec<f64>, Vec<Vec<f64>>) = res.into_iter().unzip();
        Ok((log_z, unblock(s.shape(), ls, &blocks)))
    }

    /// Recomputes the inside pass: the forward's marginals alone do not
    /// give the split weights the Hessian needs.
    fn marginals_vjp(
        &self,
        cx: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        _at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(s.shape(), ls)?;
        check_same_shape(g.shape(), s.shape())?;
        let np = s.shape()[1];
        let gf = g.as_standard_layout();
        let gf = gf.as_slice().expect("standard layout");
        let blocks = per_sentence(cx, s, ls, |b, v, n| {
            let d = block(&gf[b * np * np..(b + 1) * np * np], np, n);
            inside_outside(n, v, Some(&d))
                .2
                .expect("a direction was given")
        });
        Ok(unblock(s.shape(), ls, &blocks))
    }

    fn sample(
        &self,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        rng: &mut ChaCha8Rng,
    ) -> Result<ArrayD<T>, StructureError> {
        check_shape(s.shape(), ls)?;
        let np = s.shape()[1];
        let flat = s.as_standard_layout();
        let flat = flat.as_slice().expect("standard layout");
        let blocks: Vec<Vec<f64>> = ls
            .iter()
            .enumerate()
            .map(|(b, &n)| {
                let v = block(&flat[b * np * np..(b + 1) * np * np], np, n);
                indicator(n, &sample(n, &v, rng))
            })
            .collect();
        Ok(unblock(s.shape(), ls, &blocks))
    }

    /// Keeps every item's active set for the VJP.
    fn sparsemap(
        &self,
        cx: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        max_iter: usize,
        _warm: Option<&ArrayD<T>>,
    ) -> Result<(ArrayD<T>, Option<State>), StructureError> {
        check_shape(s.shape(), ls)?;
        let sols = Self::sparsemap_solutions(cx, s, ls, max_iter);
        let blocks: Vec<&[f64]> = sols.iter().map(|x| x.mu.as_slice()).collect();
        let mu = unblock(s.shape(), ls, &blocks);
        Ok((mu, Some(std::sync::Arc::new(sols))))
    }

    fn sparsemap_vjp(
        &self,
        cx: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        max_iter: usize,
        at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError> {
        match sparsemap::saved_solutions(at) {
            Some(sols) => Self::sparsemap_vjp_over(sols, s.shape(), ls, g),
            None => {
                check_shape(s.shape(), ls)?;
                let sols = Self::sparsemap_solutions(cx, s, ls, max_iter);
                Self::sparsemap_vjp_over(&sols, s.shape(), ls, g)
            }
        }
    }

    /// The `n` words, the `n − 2` spans between and the whole sentence.
    fn parts_per_structure(&self, _: Options, size: usize) -> usize {
        (2 * size).saturating_sub(1)
    }

    /// Entries below the diagonal and spans touching padding.
    fn keep_parts(&self, g: &mut ArrayD<T>, lengths: Option<&[usize]>) {
        if check_layout(g.shape()).is_err() {
            return;
        }
        let np = g.shape()[1];
        for (b, item) in g.axis_iter_mut(Axis(0)).enumerate() {
            let len = lengths.and_then(|l| l.get(b).copied()).unwrap_or(np);
            let mut item = item.into_dimensionality::<ndarray::Ix2>().expect("[N, N]");
            for (i, mut row) in item.rows_mut().into_iter().enumerate() {
                for (j, x) in row.iter_mut().enumerate() {
                    if i > j || j >= len {
                        *x = T::zero();
                    }
                }
            }
        }
    }

    fn part_ranges(&self, shape: &[usize], size: usize) -> Vec<std::ops::Range<usize>> {
        span_ranges(shape[1], size)
    }

    /// Each item's CKY bracketing under the weights `z`, as the split
    /// point of every internal span in preorder (see [`spans`]): `n − 1`
    /// numbers, span `i..=j` splitting into `i..=k` and `k+1..=j`.
    fn decode(&self, z: &ArrayD<T>, ls: &[usize]) -> Option<Vec<Vec<usize>>> {
        check_shape(z.shape(), ls).ok()?;
        let np = z.shape()[1];
        let flat = z.as_standard_layout();
        let flat = flat.as_slice()?;
        Some(
            ls.iter()
                .enumerate()
                .map(|(b, &n)| cky(n, &block(&flat[b * np * np..(b + 1) * np * np], np, n)))
                .collect(),
        )
    }

    fn statistics(&self) -> Option<Box<dyn Statistics>> {
        Some(Box::<BracketStats>::default())
    }

    fn reference_sizes(&self) -> std::ops::RangeInclusive<usize> {
        1..=5
    }

    fn enumerate(&self, _: Options, size: usize) -> Vec<Vec<f64>> {
        bracketings(size)
            .iter()
            .map(|t| indicator(size, t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latent::structure::Structure;
    use ndarray::IxDyn;
    use rand::Rng;
    use rand::SeedableRng;

    const O: Options = Options { single_root: false };

    fn engine() -> &'static dyn Engine<f64> {
        &ConstituencyTrees
    }

    #[test]
    fn a_span_whose_score_dwarfs_its_childrens_leaves_their_marginals_exact() {
        // The whole sentence is in every tree: its score moves log Z and
        // nothing else, however large (within the structure's range).
        let n = 3;
        let plain = vec![-1000.0, 0.0, 0.0, 0.0, -1000.0, 0.0, 0.0, 0.0, -1000.0];
        let (lz, want, _) = inside_outside(n, &plain, None);
        for whole in [-1e290, -3e15, 1e16] {
            let mut s = plain.clone();
            s[n - 1] = whole;
            let (log_z, mu, _) = inside_outside(n, &s, None);
            for (a, b) in mu.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "whole span {whole}: {mu:?}");
            }
            assert!((log_z - (lz + whole)).abs() <= 1e-12 * whole.abs());
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let splits: std::collections::BTreeSet<Vec<usize>> =
                (0..200).map(|_| sample(n, &s, &mut rng)).collect();
            assert_eq!(splits.len(), 2, "both trees are equally likely");
        }
    }

    fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64) -> ArrayD<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        ArrayD::from_shape_simple_fn(IxDyn(shape), || lo + (hi - lo) * rng.random::<f64>())
    }

    /// Every bracketing of `n` words, found without CKY or the preorder
    /// encoding: the sets of spans holding every word and the whole
    /// sentence whose spans are pairwise nested or disjoint (a laminar
    /// family) and number `2n − 1` — which makes every internal span
    /// binary.
    fn laminar_bracketings(n: usize) -> Vec<Vec<(usize, usize)>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut fixed: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
        if n > 1 {
            fixed.push((0, n - 1));
        }
        let optional: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .filter(|&(i, j)| j - i + 1 < n)
            .collect();
        let compatible = |(a, b): (usize, usize), (c, d): (usize, usize)| {
            b < c || d < a || (a <= c && d <= b) || (c <= a && b <= d)
        };
        let mut out = Vec::new();
        for mask in 0u64..1 << optional.len() {
            if mask.count_ones() as usize + fixed.len() != 2 * n - 1 {
                continue;
            }
            let chosen: Vec<(usize, usize)> = (0..optional.len())
                .filter(|q| mask >> q & 1 == 1)
                .map(|q| optional[q])
                .collect();
            let laminar = chosen
                .iter()
                .enumerate()
                .all(|(x, &a)| chosen[x + 1..].iter().all(|&b| compatible(a, b)));
            if laminar {
                out.push([fixed.clone(), chosen].concat());
            }
        }
        out
    }

    /// Exact log Z, marginals (`n × n`) and the best tree's score and
    /// spans of item `b` of `s`, by enumeration.
    struct Exact {
        log_z: f64,
        mu: Vec<f64>,
        best: f64,
        trees: Vec<Vec<(usize, usize)>>,
        probs: Vec<f64>,
    }

    fn exact(s: &ArrayD<f64>, b: usize, n: usize) -> Exact {
        let trees = laminar_bracketings(n);
        let totals: Vec<f64> = trees
            .iter()
            .map(|t| t.iter().map(|&(i, j)| s[[b, i, j]]).sum())
            .collect();
        let best = totals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_z = best + totals.iter().map(|t| (t - best).exp()).sum::<f64>().ln();
        let probs: Vec<f64> = totals.iter().map(|t| (t - log_z).exp()).collect();
        let mut mu = vec![0.0; n * n];
        for (t, p) in trees.iter().zip(&probs) {
            for &(i, j) in t {
                mu[i * n + j] += p;
            }
        }
        Exact {
            log_z: if n == 0 { 0.0 } else { log_z },
            mu,
            best,
            trees,
            probs,
        }
    }

    /// The spans an `[N, N]` indicator of item `b` selects, sorted.
    fn selected(z: &ArrayD<f64>, b: usize) -> Vec<(usize, usize)> {
        let np = z.shape()[1];
        let mut out: Vec<(usize, usize)> = (0..np)
            .flat_map(|i| (0..np).map(move |j| (i, j)))
            .filter(|&(i, j)| z[[b, i, j]] != 0.0)
            .collect();
        out.sort();
        out
    }

    fn sorted(mut t: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
        t.sort();
        t
    }

    #[test]
    fn the_laminar_brute_force_counts_catalan_numbers_of_trees() {
        let counts: Vec<usize> = (0..=7).map(|n| laminar_bracketings(n).len()).collect();
        assert_eq!(counts, [1, 1, 1, 2, 5, 14, 42, 132]);
        for n in 0..=6 {
            assert_eq!(
                bracketings(n).len(),
                laminar_bracketings(n).len(),
                "n = {n}"
            );
        }
    }

    #[test]
    fn ragged_batches_match_brute_force_over_every_bracketing() {
        let lengths = [6usize, 3, 1, 0];
        let np = 6;
        let shape = [lengths.len(), np, np];
        // Scores below the diagonal and in the padding are garbage that
        // must be ignored.
        let s = uniform(&shape, -2.0, 2.0, 3);
        let g = uniform(&shape, -1.0, 1.0, 4);
        let cx = Context::default();
        let e = engine();
        let z = e.map(&cx, O, &s, &lengths).unwrap();
        let (log_z, mu) = e.marginals(&cx, O, &s, &lengths).unwrap();
        let vjp = e.marginals_vjp(&cx, O, &s, &lengths, &g, None).unwrap();
        let (sm, _) = e.sparsemap(&cx, O, &s, &lengths, 500, None).unwrap();
        for (b, &n) in lengths.iter().enumerate() {
            let ex = exact(&s, b, n);
            assert!(
                (log_z[b] - ex.log_z).abs() < 1e-9,
                "item {b}: log Z {} vs {}",
                log_z[b],
                ex.log_z
            );
            let map_score: f64 = selected(&z, b).iter().map(|&(i, j)| s[[b, i, j]]).sum();
            if n > 0 {
                assert!((map_score - ex.best).abs() < 1e-9, "item {b}: MAP not best");
            }
            let tree = selected(&z, b);
            assert!(
                ex.trees.iter().any(|t| sorted(t.clone()) == tree),
                "item {b}: MAP {tree:?}"
            );
            for i in 0..np {
                for j in 0..np {
                    let part = i <= j && j < n;
                    let want = if part { ex.mu[i * n + j] } else { 0.0 };
                    let got = mu[[b, i, j]];
                    assert!(
                        (got - want).abs() < 1e-9,
                        "item {b} span {i}..={j}: {got} vs {want}"
                    );
                    if !part {
                        for (what, a) in [("vjp", &vjp), ("sparsemap", &sm), ("map", &z)] {
                            assert_eq!(a[[b, i, j]], 0.0, "item {b}: {what} at padding {i},{j}");
                        }
                    }
                }
            }
        }
        // The VJP, entry by entry, against central differences of the
        // marginals.
        let eps = 1e-5;
        for (b, &n) in lengths.iter().enumerate() {
            for i in 0..n {
                for j in i..n {
                    let moved = |h: f64| {
                        let mut x = s.clone();
                        x[[b, i, j]] += h;
                        e.marginals(&cx, O, &x, &lengths).unwrap().1
                    };
                    let diff = &moved(eps) - &moved(-eps);
                    let fd =
                        diff.iter().zip(g.iter()).map(|(d, g)| d * g).sum::<f64>() / (2.0 * eps);
                    let an = vjp[[b, i, j]];
                    assert!(
                        (an - fd).abs() < 1e-7 * an.abs().max(1.0),
                        "item {b} span {i}..={j}: VJP {an} vs {fd}"
                    );
                }
            }
        }
    }

    #[test]
    fn marginals_are_the_gradient_of_log_z_and_the_vjp_its_hessian_beyond_brute_force() {
        // n = 13: too many trees to enumerate, so against central
        // differences of log Z and of the marginals along a direction d.
        let n = 13;
        let shape = [2, n, n];
        let s = uniform(&shape, -3.0, 3.0, 8);
        let d = uniform(&shape, -1.0, 1.0, 9);
        let g = uniform(&shape, -1.0, 1.0, 10);
        let ls = [n, n - 4];
        let cx = Context::default();
        let e = engine();
        let at = |t: f64| &s + &d.mapv(|x| x * t);
        let (_, mu) = e.marginals(&cx, O, &s, &ls).unwrap();
        let vjp = e.marginals_vjp(&cx, O, &s, &ls, &g, None).unwrap();
        let eps = 1e-5;
        let (lp, mp) = e.marginals(&cx, O, &at(eps), &ls).unwrap();
        let (lm, mm) = e.marginals(&cx, O, &at(-eps), &ls).unwrap();
        let dot = |a: &ArrayD<f64>, b: &ArrayD<f64>| {
            a.iter().zip(b.iter()).map(|(x, y)| x * y).sum::<f64>()
        };
        let fd = (lp.iter().sum::<f64>() - lm.iter().sum::<f64>()) / (2.0 * eps);
        assert!(
            (dot(&mu, &d) - fd).abs() < 1e-7 * fd.abs().max(1.0),
            "∇ log Z"
        );
        let fd = dot(&g, &(&mp - &mm)) / (2.0 * eps);
        let an = dot(&vjp, &d);
        assert!(
            (an - fd).abs() < 1e-7 * an.abs().max(1.0),
            "VJP {an} vs {fd}"
        );
        for (b, &n) in ls.iter().enumerate() {
            let total: f64 = mu.index_axis(Axis(0), b).sum();
            assert!(
                (total - (2 * n - 1) as f64).abs() < 1e-9,
                "item {b} sums {total}"
            );
        }
    }

    #[test]
    fn samples_follow_the_gibbs_distribution_over_bracketings() {
        let (n, draws) = (4, 20000);
        let one = uniform(&[1, n, n], -1.0, 1.0, 21);
        let s = ArrayD::from_shape_fn(IxDyn(&[draws, n, n]), |ix| one[[0, ix[1], ix[2]]]);
        let ex = exact(&one, 0, n);
        assert_eq!(ex.trees.len(), 5);
        let trees: Vec<Vec<(usize, usize)>> = ex.trees.iter().cloned().map(sorted).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(22);
        let z = engine().sample(O, &s, &vec![n; draws], &mut rng).unwrap();
        let mut counts = vec![0usize; trees.len()];
        for b in 0..draws {
            let t = selected(&z, b);
            let k = trees
                .iter()
                .position(|x| *x == t)
                .expect("a sample is a tree");
            counts[k] += 1;
        }
        for (k, (&c, &p)) in counts.iter().zip(&ex.probs).enumerate() {
            let freq = c as f64 / draws as f64;
            let sd = (p * (1.0 - p) / draws as f64).sqrt();
            assert!(
                (freq - p).abs() < 4.5 * sd,
                "tree {k}: frequency {freq} vs probability {p}"
            );
        }
    }

    #[test]
    fn extreme_scores_through_structure_give_the_map_tree_and_finite_marginals() {
        let cx = Context::default();
        let st = Structure::new(&CONSTITUENCY, false);
        let n = 5;
        let k = (2 * n - 1) as f64;
        for (offset, spread) in [
            (1e300, 1e4),
            (-1e300, 1e4),
            (1e12, 1e4),
            (0.0, 1e4),
            (-1e300, 1.0),
        ] {
            let case = format!("offset {offset:e} spread {spread:e}");
            let s = uniform(&[2, n, n], -spread, spread, 31).mapv(|x| x + offset);
            // The same scores without the offset, as f64 holds them.
            let r = s.mapv(|x| x - offset);
            let z = st.map(&cx, &s, None).unwrap();
            let (log_z, mu) = st.marginals(&cx, &s, None).unwrap();
            let vjp = st
                .marginals_vjp(&cx, &s, None, &uniform(&[2, n, n], -1.0, 1.0, 32))
                .unwrap();
            let sample = st
                .sample(&s, None, &mut ChaCha8Rng::seed_from_u64(33))
                .unwrap();
            for b in 0..2 {
                let ex = exact(&r, b, n);
                let tree = selected(&z, b);
                assert!(
                    ex.trees.iter().any(|t| sorted(t.clone()) == tree),
                    "{case}: MAP {tree:?}"
                );
                let score: f64 = tree.iter().map(|&(i, j)| r[[b, i, j]]).sum();
                assert!(
                    (score - ex.best).abs() <= 1e-9 * spread,
                    "{case}: MAP not best"
                );
                assert!(log_z[b].is_finite(), "{case}: log Z {}", log_z[b]);
                let m = mu.index_axis(Axis(0), b);
                assert!(m.iter().all(|x| x.is_finite()), "{case}: {m}");
                assert!(
                    (m.sum() - k).abs() < 1e-6 * k,
                    "{case}: marginals sum {}",
                    m.sum()
                );
                for i in 0..n {
                    for j in i..n {
                        let (got, want) = (mu[[b, i, j]], ex.mu[i * n + j]);
                        assert!(
                            (got - want).abs() < 1e-6,
                            "{case}: {i}..={j} {got} vs {want}"
                        );
                    }
                }
                assert!(vjp.iter().all(|x| x.is_finite()), "{case}: VJP");
                let drawn = selected(&sample, b);
                assert!(
                    ex.trees.iter().any(|t| sorted(t.clone()) == drawn),
                    "{case}: sample"
                );
            }
        }
    }

    #[test]
    fn bad_shapes_and_lengths_are_shape_errors() {
        let cx = Context::default();
        let e = engine();
        let shape_err = |r: Result<(), StructureError>, what: &str| {
            assert!(matches!(r, Err(StructureError::Shape(_))), "{what}: {r:?}");
        };
        for shape in [vec![2, 3], vec![2, 3, 4], vec![2, 3, 3, 3], vec![]] {
            let s = ArrayD::<f64>::zeros(IxDyn(&shape));
            shape_err(e.sizes(&shape, None).map(drop), "sizes");
            shape_err(e.map(&cx, O, &s, &[3, 3]).map(drop), "map");
            shape_err(e.marginals(&cx, O, &s, &[3, 3]).map(drop), "marginals");
            let st = Structure::new(&CONSTITUENCY, false);
            shape_err(st.marginals(&cx, &s, None).map(drop), "structure marginals");
            assert_eq!(e.decode(&s, &[3, 3]), None);
        }
        let s = ArrayD::<f64>::zeros(IxDyn(&[2, 3, 3]));
        shape_err(
            e.sizes(&[2, 3, 3], Some(&[3, 4])).map(drop),
            "a length past N",
        );
        shape_err(e.sizes(&[2, 3, 3], Some(&[3])).map(drop), "too few lengths");
        shape_err(
            e.sample(O, &s, &[1, 4], &mut ChaCha8Rng::seed_from_u64(0))
                .map(drop),
            "sample",
        );
        let g = ArrayD::<f64>::zeros(IxDyn(&[2, 4, 4]));
        shape_err(
            e.marginals_vjp(&cx, O, &s, &[3, 3], &g, None).map(drop),
            "vjp gradient",
        );
        let (value, state) = e.sparsemap(&cx, O, &s, &[3, 3], 50, None).unwrap();
        let at = Saved {
            value: &value,
            state: state.as_ref(),
        };
        shape_err(
            e.sparsemap_vjp(&cx, O, &s, &[3, 3], &g, 50, Some(at))
                .map(drop),
            "saved sparsemap vjp gradient",
        );
        shape_err(
            e.sparsemap_vjp(&cx, O, &s, &[3, 3], &g, 50, None).map(drop),
            "sparsemap vjp gradient",
        );
    }

    #[test]
    fn empty_sentences_have_one_empty_tree() {
        let cx = Context::default();
        let e = engine();
        let s = uniform(&[2, 3, 3], -1.0, 1.0, 41);
        let ls = [0, 0];
        let (log_z, mu) = e.marginals(&cx, O, &s, &ls).unwrap();
        assert_eq!(log_z, [0.0, 0.0]);
        assert!(mu.iter().all(|&x| x == 0.0));
        assert!(e.map(&cx, O, &s, &ls).unwrap().iter().all(|&x| x == 0.0));
        assert!(e
            .sparsemap(&cx, O, &s, &ls, 50, None)
            .unwrap()
            .0
            .iter()
            .all(|&x| x == 0.0));
        assert_eq!(e.decode(&s, &ls), Some(vec![vec![], vec![]]));
        assert_eq!(e.parts_per_structure(O, 0), 0);
        // No words at all: [B, 0, 0].
        let none = ArrayD::<f64>::zeros(IxDyn(&[2, 0, 0]));
        assert_eq!(e.sizes(none.shape(), None).unwrap(), [0, 0]);
        assert_eq!(e.marginals(&cx, O, &none, &ls).unwrap().0, [0.0, 0.0]);
    }

    #[test]
    fn decode_reads_back_each_bracketing_as_its_preorder_splits() {
        let n = 5;
        let all = bracketings(n);
        let z: Vec<f64> = all.iter().flat_map(|t| indicator(n, t)).collect();
        let z = ArrayD::from_shape_vec(IxDyn(&[all.len(), n, n]), z).unwrap();
        assert_eq!(engine().decode(&z, &vec![n; all.len()]), Some(all.clone()));
        // The spans the splits name are the tree's, found independently.
        let laminar: Vec<Vec<(usize, usize)>> =
            laminar_bracketings(n).into_iter().map(sorted).collect();
        for t in &all {
            let spans: Vec<(usize, usize)> =
                spans(n, t).unwrap().iter().map(|s| (s.i, s.j)).collect();
            assert!(laminar.contains(&sorted(spans)), "{t:?}");
        }
    }

    #[test]
    fn statistics_give_depth_and_the_share_of_one_word_left_children() {
        let mut stats = BracketStats::default();
        // 0 (1 (2 3)): purely right-branching, depth 3.
        stats.add(&[0, 1, 2]);
        assert_eq!(
            stats.report(),
            [("tree_depth", 3.0), ("right_branching", 1.0)]
        );
        // (0 1) (2 3): depth 2; the two pairs' left children are words,
        // the whole sentence's is not.
        stats.add(&[1, 0, 2]);
        // ((0 1) 2) 3: depth 3; only the pair has a one-word left child.
        stats.add(&[2, 1, 0]);
        // One word: depth 0, no internal span to count.
        stats.add(&[]);
        // No bracketing: left out.
        stats.add(&[5]);
        stats.add(&[0, 0]);
        assert_eq!(stats.depth(), (3.0 + 2.0 + 3.0 + 0.0) / 4.0);
        assert!((stats.right_branching() - (1.0 + 2.0 / 3.0 + 1.0 / 3.0) / 3.0).abs() < 1e-15);
    }

    #[test]
    fn every_operation_gives_the_same_bits_with_one_thread_and_four() {
        let lengths: Vec<usize> = (0..11).map(|b| (b * 5) % 9).collect();
        let shape = [lengths.len(), 8, 8];
        let (s, g) = (
            uniform(&shape, -2.0, 2.0, 51),
            uniform(&shape, -1.0, 1.0, 52),
        );
        let e = engine();
        let run = |cx: &Context| {
            let (log_z, mu) = e.marginals(cx, O, &s, &lengths).unwrap();
            (
                log_z.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                [
                    mu,
                    e.marginals_vjp(cx, O, &s, &lengths, &g, None).unwrap(),
                    e.map(cx, O, &s, &lengths).unwrap(),
                    e.sparsemap(cx, O, &s, &lengths, 50, None).unwrap().0,
                ],
            )
        };
        let (a, b) = (run(&Context::cpu(1)), run(&Context::cpu(4)));
        assert_eq!(a.0, b.0);
        for (x, y) in a.1.iter().zip(&b.1) {
            assert!(x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}
