//! Linear-chain tag sequences (a linear-chain CRF): one of `K` tags per
//! word, over scores `s[B, N, K, K]` ([`lsmc_ir::structures::TAG_PAIRS`]).
//! `s[b][i][p][c]` scores tag `c` at word `i` after tag `p` at word
//! `i − 1`; word 0 has no previous tag, so only its row `p = 0` is a part
//! (the first tag's score) and its rows `p ≥ 1` are no part: zero in every
//! output. A path `y_0 … y_{n−1}` of a sentence of `n` words selects the
//! `n` parts `(0, 0, y_0)` and `(i, y_{i−1}, y_i)`, and scores their sum.
//! Positions at or past an item's length are padding, zero in every
//! output; a sentence of no words has one (empty) path, log Z = 0.
//!
//! Every sentence is computed in f64 whatever the element type, and the
//! batch is split across the context's workers.
//!
//! # One exponential per score, and stable at any spread
//!
//! The forward pass is the only place exponentials are taken: in log
//! space, `log α_i(c) = lse_p (log α_{i−1}(p) + s_i(p, c))`, each column
//! shifted by its own maximum, and the normalised terms of that sum are
//! kept, `w_i(p, c) = P(y_{i−1} = p | y_i = c)` under the prefix
//! distribution. Everything after it is multiplication and addition in
//! linear space over quantities in `[0, 1]` (but for the `K` exponentials
//! of the last word's tag distribution):
//!
//! * marginals by reverse-mode differentiation of the forward pass: with
//!   `q_i(c) = P(y_i = c)`, `µ_i(p, c) = w_i(p, c) q_i(c)` and
//!   `q_{i−1}(p) = Σ_c µ_i(p, c)` (given `y_i`, the prefix is independent
//!   of the suffix) — no backward log-space pass;
//! * the marginals' VJP, `∇² log Z · g`, by forward-mode differentiation
//!   of that computation along `g`: tangents of `log α` forwards, of `q`
//!   and `µ` backwards;
//! * exact samples by drawing the last tag from `q_{n−1}` and each earlier
//!   one from the column `w_i(·, y_i)`.
//!
//! A linear-space forward pass rescaled per position would save the
//! logarithms but underflows when prefixes and suffixes prefer different
//! tags by scores 1e4 apart (whole rows of `α` vanish and log Z is lost);
//! shifting each column by its own maximum keeps every term that matters
//! within f64's range, and a column with no finite term stays −∞ without
//! NaN.

use super::categorical::argmax_index;
use super::logspace::{self, Num};
use super::sparsemap;
use super::structure::{
    check_lengths, check_same_shape, Engine, Options, Saved, State, Statistics, StructureError,
};
use crate::context::Context;
use crate::real::Real;
use lsmc_ir::structures::{Descriptor, Ops, Spelling, TAG_PAIRS};
use ndarray::{ArrayD, IxDyn};
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// `sequence(K)`: tag sequences, every operation.
pub static SEQUENCE: Descriptor = Descriptor {
    name: "sequence",
    spelling: Spelling {
        callee: "sequence",
        variant: None,
        rooted: false,
        doc: "Tag sequences over a sentence (a linear-chain CRF): one of K tags per word, \
              scored per word and per pair of adjacent tags.",
        variant_doc: "",
    },
    scores: TAG_PAIRS,
    scores_hint: "`chain_scores(h, {K})` (emissions and learned transitions, [B, N, K, K])",
    ops: Ops {
        map: true,
        marginals: true,
        sparsemap: true,
        sample: true,
    },
    statistics: &["run_length", "tags_used"],
};

/// The sizes of a batch of scores: items, words per item, tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dims {
    batch: usize,
    words: usize,
    tags: usize,
}

impl Dims {
    /// Entries of one word's `K × K` block.
    fn word(self) -> usize {
        self.tags * self.tags
    }

    /// Entries of one item.
    fn item(self) -> usize {
        self.words * self.word()
    }
}

/// Checks that `shape` is `[B, N, K, K]` with `K ≥ 1`.
fn check_layout(shape: &[usize]) -> Result<Dims, StructureError> {
    if shape.len() != 4 || shape[2] != shape[3] || shape[2] == 0 {
        return Err(StructureError::Shape(format!(
            "sequence scores must have shape [B, N, K, K] with K ≥ 1 tags, got {shape:?}"
        )));
    }
    Ok(Dims {
        batch: shape[0],
        words: shape[1],
        tags: shape[2],
    })
}

/// Checks that `shape` is `[B, N, K, K]` and that there is one length
/// per item, each at most `N`.
pub fn check_shape(shape: &[usize], lengths: &[usize]) -> Result<(), StructureError> {
    let d = check_layout(shape)?;
    check_lengths(d.batch, lengths, d.words)
}

/// The entries of one item that are parts for a sentence of `n` words
/// (`n ≤ N`), as ranges of its row-major index: word 0's row `p = 0`,
/// then every block of words `1..n`.
fn part_ranges_of(d: Dims, n: usize) -> Vec<Range<usize>> {
    if n == 0 {
        return Vec::new();
    }
    [0..d.tags, d.word()..n * d.word()]
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect()
}

/// A flat, standard-layout copy (or view) of an array's elements.
fn flat<T: Real>(a: &ArrayD<T>) -> std::borrow::Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// One sentence's first `n` words of scores, row-major `[n, K, K]`.
#[derive(Clone, Copy)]
struct Sentence<'a, T> {
    s: &'a [T],
    n: usize,
    k: usize,
}

impl<'a, T: Real> Sentence<'a, T> {
    /// Item `b` of the flat scores, cut to its length.
    fn of(all: &'a [T], d: Dims, b: usize, n: usize) -> Sentence<'a, T> {
        let start = b * d.item();
        Sentence {
            s: &all[start..start + n * d.word()],
            n,
            k: d.tags,
        }
    }

    /// The scores of word `i` (`i ≥ 1`) from tag `p`: `s_i(p, ·)`.
    fn row(&self, i: usize, p: usize) -> &'a [T] {
        let start = (i * self.k + p) * self.k;
        &self.s[start..start + self.k]
    }
}

/// The highest-scoring path (Viterbi), first tags winning ties; NaN
/// scores never win.
fn viterbi<T: Real>(x: Sentence<'_, T>) -> Vec<usize> {
    let (n, k) = (x.n, x.k);
    if n == 0 {
        return Vec::new();
    }
    let mut best: Vec<f64> = x.row(0, 0).iter().map(|v| v.f64()).collect();
    let mut next = vec![0.0; k];
    let mut back = vec![0usize; n * k];
    for i in 1..n {
        next.fill(f64::NEG_INFINITY);
        let from = &mut back[i * k..(i + 1) * k];
        for (p, &d) in best.iter().enumerate() {
            for ((v, f), x) in next.iter_mut().zip(from.iter_mut()).zip(x.row(i, p)) {
                let cand = d + x.f64();
                if cand > *v {
                    *v = cand;
                    *f = p;
                }
            }
        }
        std::mem::swap(&mut best, &mut next);
    }
    let mut tags = vec![argmax_index(best.iter().copied()); n];
    for i in (1..n).rev() {
        tags[i - 1] = back[i * k + tags[i]];
    }
    tags
}

/// The parts a path selects, as an indicator over the first `n` words'
/// row-major `[n, K, K]` block.
fn indicator(tags: &[usize], k: usize) -> Vec<f64> {
    let mut z = vec![0.0; tags.len() * k * k];
    let mut prev = 0;
    for (i, &c) in tags.iter().enumerate() {
        z[(i * k + prev) * k + c] = 1.0;
        prev = c;
    }
    z
}

/// Subtracts the row's finite maximum from it and returns it (0 for a row
/// without a finite value, left as it is).
fn shift_to_max(row: &mut [f64]) -> f64 {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return 0.0;
    }
    row.iter_mut().for_each(|a| *a -= m);
    m
}

/// The forward pass of one sentence (see the module's documentation).
struct Forward {
    n: usize,
    k: usize,
    /// `log α_i(c)`, row-major `[n, K]`: the log-sum of the scores of the
    /// prefixes that end with tag `c` at word `i`, less the sum of the
    /// rows' maxima up to word `i`. Every path takes one part per word, so
    /// this per-word shift is exact, and it keeps a word whose scores carry
    /// a huge offset from swamping the O(1) differences after it.
    log_alpha: Vec<f64>,
    /// `log Z` of the shifted rows: `log Z` less the sum of the shifts.
    log_z_shifted: f64,
    /// `w_i(p, c) = exp(log α_{i−1}(p) + s_i(p, c) − log α_i(c))`,
    /// row-major `[n, K, K]`; word 0's block is zero.
    w: Vec<f64>,
    log_z: f64,
}

impl Forward {
    fn run<T: Real>(x: Sentence<'_, T>) -> Forward {
        let (n, k) = (x.n, x.k);
        let kk = k * k;
        let mut log_alpha = vec![0.0; n * k];
        let mut w = vec![0.0; n * kk];
        if n == 0 {
            return Forward {
                n,
                k,
                log_alpha,
                log_z_shifted: 0.0,
                w,
                log_z: 0.0,
            };
        }
        for (a, v) in log_alpha.iter_mut().zip(x.row(0, 0)) {
            *a = v.f64();
        }
        let mut offset = shift_to_max(&mut log_alpha[..k]);
        let (mut shift, mut total) = (vec![0.0; k], vec![0.0; k]);
        for i in 1..n {
            let (before, after) = log_alpha.split_at_mut(i * k);
            let (prev, cur) = (&before[(i - 1) * k..], &mut after[..k]);
            let wi = &mut w[i * kk..(i + 1) * kk];
            // log α_{i−1}(p) + s_i(p, c), and each column's maximum.
            shift.fill(f64::NEG_INFINITY);
            for (p, (&a, wrow)) in prev.iter().zip(wi.chunks_exact_mut(k)).enumerate() {
                for ((wv, m), v) in wrow.iter_mut().zip(shift.iter_mut()).zip(x.row(i, p)) {
                    let t = a + v.f64();
                    *wv = t;
                    *m = if t > *m { t } else { *m };
                }
            }
            // A column without a finite term: its terms are exp(−∞) = 0.
            shift
                .iter_mut()
                .filter(|m| **m == f64::NEG_INFINITY)
                .for_each(|m| *m = 0.0);
            total.fill(0.0);
            for wrow in wi.chunks_exact_mut(k) {
                for ((wv, m), t) in wrow.iter_mut().zip(&shift).zip(total.iter_mut()) {
                    let e = logspace::exp(*wv - m);
                    *wv = e;
                    *t += e;
                }
            }
            for ((a, m), t) in cur.iter_mut().zip(&shift).zip(total.iter_mut()) {
                *a = m + logspace::ln(*t);
                *t = if *t > 0.0 { 1.0 / *t } else { 0.0 };
            }
            offset += shift_to_max(cur);
            for wrow in wi.chunks_exact_mut(k) {
                wrow.iter_mut().zip(&total).for_each(|(wv, inv)| *wv *= inv);
            }
        }
        let log_z_shifted = f64::lse(&log_alpha[(n - 1) * k..]);
        Forward {
            n,
            k,
            log_alpha,
            log_z_shifted,
            w,
            log_z: offset + log_z_shifted,
        }
    }

    /// `q_{n−1}(c) = P(y_{n−1} = c)`.
    fn last_tag(&self) -> Vec<f64> {
        self.log_alpha[(self.n - 1) * self.k..]
            .iter()
            .map(|&a| f64::weight(a, self.log_z_shifted))
            .collect()
    }

    /// The pairwise marginals, row-major `[n, K, K]` (word 0's rows
    /// `p ≥ 1` zero), by the reverse pass `µ_i(p, c) = w_i(p, c) q_i(c)`.
    fn marginals(self) -> Vec<f64> {
        let (n, k) = (self.n, self.k);
        if n == 0 {
            return Vec::new();
        }
        let mut q = self.last_tag();
        let mut prev = vec![0.0; k];
        let mut mu = self.w;
        for i in (1..n).rev() {
            let block = &mut mu[i * k * k..(i + 1) * k * k];
            for (row, qp) in block.chunks_exact_mut(k).zip(prev.iter_mut()) {
                let mut sum = 0.0;
                for (m, &qc) in row.iter_mut().zip(&q) {
                    *m *= qc;
                    sum += *m;
                }
                *qp = sum;
            }
            std::mem::swap(&mut q, &mut prev);
        }
        mu[..k].copy_from_slice(&q);
        mu
    }

    /// The tangent of `log α` along the direction `g` (the sentence's
    /// block of it): `α̇_i(c) = Σ_p w_i(p, c) (α̇_{i−1}(p) + g_i(p, c))`.
    fn tangent<T: Real>(&self, g: Sentence<'_, T>) -> Vec<f64> {
        let (n, k) = (self.n, self.k);
        let mut da = vec![0.0; n * k];
        if n == 0 {
            return da;
        }
        for (a, v) in da.iter_mut().zip(g.row(0, 0)) {
            *a = v.f64();
        }
        for i in 1..n {
            let (before, after) = da.split_at_mut(i * k);
            let (prev, cur) = (&before[(i - 1) * k..], &mut after[..k]);
            let wi = &self.w[i * k * k..(i + 1) * k * k];
            for (p, (&a, wrow)) in prev.iter().zip(wi.chunks_exact(k)).enumerate() {
                for ((d, &wv), gv) in cur.iter_mut().zip(wrow).zip(g.row(i, p)) {
                    *d += wv * (a + gv.f64());
                }
            }
        }
        da
    }

    /// The directional derivative of the marginals along `g`, which is
    /// `∇² log Z · g`: the reverse pass of [`Forward::marginals`]
    /// differentiated in forward mode, with `ẇ_i(p, c) = w_i(p, c)
    /// (α̇_{i−1}(p) + g_i(p, c) − α̇_i(c))` and, at the last word,
    /// `q̇(c) = q(c) (α̇_{n−1}(c) − Σ_c' q(c') α̇_{n−1}(c'))`.
    fn marginals_jvp<T: Real>(&self, g: Sentence<'_, T>) -> Vec<f64> {
        let (n, k) = (self.n, self.k);
        let mut out = vec![0.0; n * k * k];
        if n == 0 {
            return out;
        }
        let da = self.tangent(g);
        let mut q = self.last_tag();
        let last = &da[(n - 1) * k..];
        let dz: f64 = q.iter().zip(last).map(|(a, b)| a * b).sum();
        let mut dq: Vec<f64> = q.iter().zip(last).map(|(a, d)| a * (d - dz)).collect();
        let (mut q_prev, mut dq_prev) = (vec![0.0; k], vec![0.0; k]);
        for i in (1..n).rev() {
            let wi = &self.w[i * k * k..(i + 1) * k * k];
            let oi = &mut out[i * k * k..(i + 1) * k * k];
            let (prev, cur) = (&da[(i - 1) * k..i * k], &da[i * k..(i + 1) * k]);
            let rows = wi.chunks_exact(k).zip(oi.chunks_exact_mut(k)).zip(prev);
            for (p, ((wrow, orow), &ap)) in rows.enumerate() {
                let (mut sq, mut sdq) = (0.0, 0.0);
                let cols = wrow.iter().zip(orow.iter_mut()).zip(g.row(i, p));
                for ((((&wv, o), gv), (&qc, &dqc)), &ac) in cols.zip(q.iter().zip(&dq)).zip(cur) {
                    let mu = wv * qc;
                    let d = mu * (ap + gv.f64() - ac) + wv * dqc;
                    *o = d;
                    sq += mu;
                    sdq += d;
                }
                q_prev[p] = sq;
                dq_prev[p] = sdq;
            }
            std::mem::swap(&mut q, &mut q_prev);
            std::mem::swap(&mut dq, &mut dq_prev);
        }
        out[..k].copy_from_slice(&dq);
        out
    }

    /// An exact sample: the last tag from `q_{n−1}`, each earlier one
    /// from `w_i(·, y_i)`.
    fn sample(&self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let (n, k) = (self.n, self.k);
        if n == 0 {
            return Vec::new();
        }
        let mut tags = vec![0; n];
        tags[n - 1] = logspace::draw(self.last_tag(), 1.0, rng).unwrap_or(0);
        for i in (1..n).rev() {
            let c = tags[i];
            let column = (0..k).map(|p| self.w[(i * k + p) * k + c]);
            tags[i - 1] = logspace::draw(column, 1.0, rng).unwrap_or(0);
        }
        tags
    }
}

/// Runs `f(sentence)` for every item on the context's workers, the
/// longest first (see `tree.rs`'s `per_sentence`), collecting the
/// results in batch order.
fn per_sentence<T: Real, R: Send>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    f: impl Fn(usize, Sentence<'_, T>) -> R + Sync,
) -> Result<Vec<R>, StructureError> {
    check_shape(s.shape(), lengths)?;
    let d = check_layout(s.shape())?;
    let all = flat(s);
    let all = all.as_ref();
    Ok(cx.map_costliest_first(&lengths[..d.batch], |b| {
        f(b, Sentence::of(all, d, b, lengths[b]))
    }))
}

/// Writes per-sentence `[n, K, K]` blocks into a zero-padded batch.
fn unblock<T: Real, V: AsRef<[f64]>>(shape: &[usize], blocks: &[V]) -> ArrayD<T> {
    let per: usize = shape[1..].iter().product();
    let mut out = vec![T::zero(); shape.iter().product()];
    for (b, v) in blocks.iter().enumerate() {
        let dst = &mut out[b * per..];
        for (o, &x) in dst.iter_mut().zip(v.as_ref()) {
            *o = T::of(x);
        }
    }
    ArrayD::from_shape_vec(IxDyn(shape), out).expect("the scores' shape")
}

/// A sentence's parts in f64, the non-parts of word 0 zeroed: the
/// vector SparseMAP projects.
fn parts_block<T: Real>(x: Sentence<'_, T>) -> Vec<f64> {
    let mut v: Vec<f64> = x.s.iter().map(|v| v.f64()).collect();
    if x.n > 0 {
        v[x.k..x.k * x.k].fill(0.0);
    }
    v
}

/// MAP paths as part indicators.
pub fn map<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
) -> Result<ArrayD<T>, StructureError> {
    let blocks = per_sentence(cx, s, lengths, |_, x| indicator(&viterbi(x), x.k))?;
    Ok(unblock(s.shape(), &blocks))
}

/// The MAP path of every item as one tag per word.
pub fn map_tags<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
) -> Result<Vec<Vec<usize>>, StructureError> {
    per_sentence(cx, s, lengths, |_, x| viterbi(x))
}

/// Log-partition per item and the pairwise marginals
/// `µ[b][i][p][c] = P(y_{i−1} = p, y_i = c)` (`µ[b][0][0][c] = P(y_0 = c)`).
pub fn marginals<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
    let res = per_sentence(cx, s, lengths, |_, x| {
        let f = Forward::run(x);
        (f.log_z, f.marginals())
    })?;
    let (log_z, blocks): (Vec<f64>, Vec<Vec<f64>>) = res.into_iter().unzip();
    Ok((log_z, unblock(s.shape(), &blocks)))
}

/// The VJP of the marginals with upstream `g`: `∇² log Z · g`, exact
/// (the Hessian is symmetric, so it is the marginals' JVP along `g`).
pub fn marginals_vjp<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    g: &ArrayD<T>,
) -> Result<ArrayD<T>, StructureError> {
    check_same_shape(g.shape(), s.shape())?;
    let d = check_layout(s.shape())?;
    let gs = flat(g);
    let gs = gs.as_ref();
    let blocks = per_sentence(cx, s, lengths, |b, x| {
        Forward::run(x).marginals_jvp(Sentence::of(gs, d, b, x.n))
    })?;
    Ok(unblock(s.shape(), &blocks))
}

/// One exact sample per item from the Gibbs distribution, as part
/// indicators, drawn in batch order from `rng`.
pub fn sample<T: Real>(
    s: &ArrayD<T>,
    lengths: &[usize],
    rng: &mut ChaCha8Rng,
) -> Result<ArrayD<T>, StructureError> {
    check_shape(s.shape(), lengths)?;
    let d = check_layout(s.shape())?;
    let all = flat(s);
    let blocks: Vec<Vec<f64>> = lengths
        .iter()
        .enumerate()
        .map(|(b, &n)| {
            let tags = Forward::run(Sentence::of(&all, d, b, n)).sample(rng);
            indicator(&tags, d.tags)
        })
        .collect();
    Ok(unblock(s.shape(), &blocks))
}

/// SparseMAP per item by the active-set method with Viterbi as the
/// oracle, and each item's solution (its active set) for the VJP.
pub fn sparsemap_solved<T: Real>(
    cx: &Context,
    s: &ArrayD<T>,
    lengths: &[usize],
    max_iter: usize,
) -> Result<(ArrayD<T>, Vec<sparsemap::Solution>), StructureError> {
    let sols = per_sentence(cx, s, lengths, |_, x| {
        let oracle = |v: &[f64]| {
            let at = Sentence {
                s: v,
                n: x.n,
                k: x.k,
            };
            indicator(&viterbi(at), x.k)
        };
        sparsemap::solve_active_set_within(&parts_block(x), &oracle, max_iter)
    })?;
    let blocks: Vec<&[f64]> = sols.iter().map(|x| x.mu.as_slice()).collect();
    Ok((unblock(s.shape(), &blocks), sols))
}

/// The VJP of SparseMAP over given solutions, one per item.
pub fn sparsemap_vjp_over<T: Real>(
    sols: &[sparsemap::Solution],
    shape: &[usize],
    lengths: &[usize],
    g: &ArrayD<T>,
) -> Result<ArrayD<T>, StructureError> {
    check_shape(shape, lengths)?;
    check_same_shape(g.shape(), shape)?;
    let d = check_layout(shape)?;
    if sols.len() != lengths.len() {
        return Err(StructureError::Shape(format!(
            "{} SparseMAP solutions for a batch of {}",
            sols.len(),
            lengths.len()
        )));
    }
    let gs = flat(g);
    let blocks: Vec<Vec<f64>> = sols
        .iter()
        .zip(lengths)
        .enumerate()
        .map(|(b, (sol, &n))| {
            let gb: Vec<f64> = Sentence::of(&gs, d, b, n)
                .s
                .iter()
                .map(|v| v.f64())
                .collect();
            if sol.mu.len() != gb.len() {
                return Err(StructureError::Shape(format!(
                    "item {b}'s SparseMAP solution has {} entries for {} words of {} tags",
                    sol.mu.len(),
                    n,
                    d.tags
                )));
            }
            Ok(sol.vjp(&gb))
        })
        .collect::<Result<_, _>>()?;
    Ok(unblock(shape, &blocks))
}

/// Per word, the weight of each tag in a value `z` of the scores' layout
/// (marginals, SparseMAP, an indicator): `t[b][i][c] = Σ_p z[b][i][p][c]`
/// over the parts, shape `[B, N, K]`, padding zero. For marginals these
/// are the tag marginals `P(y_i = c)`.
pub fn tag_weights<T: Real>(z: &ArrayD<T>, lengths: &[usize]) -> Result<ArrayD<T>, StructureError> {
    check_shape(z.shape(), lengths)?;
    // The op `tags(z)` computes the sums; padding words are no part here.
    let mut out = crate::ops::chain::tags(z);
    for (mut item, &n) in out.outer_iter_mut().zip(lengths) {
        item.slice_axis_mut(ndarray::Axis(0), ndarray::Slice::from(n..))
            .fill(T::zero());
    }
    Ok(out)
}

/// The sequence engine.
pub struct Sequence;

impl<T: Real> Engine<T> for Sequence {
    fn descriptor(&self) -> &'static Descriptor {
        &SEQUENCE
    }

    fn sizes(
        &self,
        shape: &[usize],
        lengths: Option<&[usize]>,
    ) -> Result<Vec<usize>, StructureError> {
        let d = check_layout(shape)?;
        let ls = lengths
            .map(<[usize]>::to_vec)
            .unwrap_or_else(|| vec![d.words; d.batch]);
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
        map(cx, s, ls)
    }

    fn marginals(
        &self,
        cx: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
    ) -> Result<(Vec<f64>, ArrayD<T>), StructureError> {
        marginals(cx, s, ls)
    }

    /// The forward pass is most of the work and the marginals alone do
    /// not give it back, so `at` goes unused.
    fn marginals_vjp(
        &self,
        cx: &Context,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        g: &ArrayD<T>,
        _at: Option<Saved<'_, T>>,
    ) -> Result<ArrayD<T>, StructureError> {
        marginals_vjp(cx, s, ls, g)
    }

    fn sample(
        &self,
        _: Options,
        s: &ArrayD<T>,
        ls: &[usize],
        rng: &mut ChaCha8Rng,
    ) -> Result<ArrayD<T>, StructureError> {
        sample(s, ls, rng)
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
        let (mu, sols) = sparsemap_solved(cx, s, ls, max_iter)?;
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
            Some(sols) => sparsemap_vjp_over(sols, s.shape(), ls, g),
            None => {
                let (_, sols) = sparsemap_solved(cx, s, ls, max_iter)?;
                sparsemap_vjp_over(&sols, s.shape(), ls, g)
            }
        }
    }

    /// One part per word.
    fn parts_per_structure(&self, _: Options, size: usize) -> usize {
        size
    }

    /// Padding words and word 0's rows `p ≥ 1`. A gradient that is not
    /// `[B, N, K, K]` is left as it is (the ops refuse such shapes).
    fn keep_parts(&self, g: &mut ArrayD<T>, lengths: Option<&[usize]>) {
        let Ok(d) = check_layout(g.shape()) else {
            return;
        };
        if g.as_slice().is_none() {
            *g = g.as_standard_layout().into_owned();
        }
        let Some(all) = g.as_slice_mut() else {
            return;
        };
        for (b, item) in all.chunks_exact_mut(d.item().max(1)).enumerate() {
            let n = lengths
                .and_then(|l| l.get(b).copied())
                .unwrap_or(d.words)
                .min(d.words);
            let mut kept = 0;
            for r in part_ranges_of(d, n) {
                item[kept..r.start].fill(T::zero());
                kept = r.end;
            }
            item[kept..].fill(T::zero());
        }
    }

    fn part_ranges(&self, shape: &[usize], size: usize) -> Vec<Range<usize>> {
        let mut full = vec![1];
        full.extend_from_slice(shape);
        match check_layout(&full) {
            Ok(d) => part_ranges_of(d, size.min(d.words)),
            Err(_) => Vec::new(),
        }
    }

    /// Each word's tag: the largest of its tag weights ([`tag_weights`]),
    /// which picks the path of an indicator and the heaviest tag of a
    /// relaxation.
    fn decode(&self, z: &ArrayD<T>, ls: &[usize]) -> Option<Vec<Vec<usize>>> {
        let t = tag_weights(z, ls).ok()?;
        let k = t.shape()[2];
        let words = t.shape()[1];
        let all = t.as_slice()?;
        Some(
            ls.iter()
                .enumerate()
                .map(|(b, &n)| {
                    (0..n)
                        .map(|i| {
                            let start = (b * words + i) * k;
                            argmax_index(all[start..start + k].iter().copied())
                        })
                        .collect()
                })
                .collect(),
        )
    }

    fn statistics(&self) -> Option<Box<dyn Statistics>> {
        Some(Box::<TagStats>::default())
    }

    fn reference_sizes(&self) -> std::ops::RangeInclusive<usize> {
        1..=4
    }

    /// Every path of `size` words over `size` tags (the generic tests'
    /// `K = N = size`).
    fn enumerate(&self, _: Options, size: usize) -> Vec<Vec<f64>> {
        all_paths(size, size)
            .iter()
            .map(|tags| indicator(tags, size))
            .collect()
    }
}

/// Every path of `n` words over `k` tags, the first tag varying slowest.
fn all_paths(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for _ in 0..n {
        out = out
            .into_iter()
            .flat_map(|p| {
                (0..k).map(move |c| {
                    let mut q = p.clone();
                    q.push(c);
                    q
                })
            })
            .collect();
    }
    out
}

/// The statistics of induced tag sequences, over sentences of at least
/// one word (an empty one has no runs and no tags).
#[derive(Clone, Debug, Default)]
pub struct TagStats {
    sentences: usize,
    run_length_sum: f64,
    tags_used_sum: f64,
}

impl TagStats {
    /// Mean over sentences of the mean length of their maximal runs of
    /// one tag: 1 when adjacent words never share a tag, n when the
    /// whole sentence has one.
    pub fn run_length(&self) -> f64 {
        self.run_length_sum / self.sentences.max(1) as f64
    }

    /// Mean over sentences of the number of distinct tags they use.
    pub fn tags_used(&self) -> f64 {
        self.tags_used_sum / self.sentences.max(1) as f64
    }
}

impl Statistics for TagStats {
    fn add(&mut self, tags: &[usize]) {
        if tags.is_empty() {
            return;
        }
        self.sentences += 1;
        let runs = 1 + tags.windows(2).filter(|w| w[0] != w[1]).count();
        self.run_length_sum += tags.len() as f64 / runs as f64;
        let mut distinct = tags.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        self.tags_used_sum += distinct.len() as f64;
    }

    fn report(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("run_length", self.run_length()),
            ("tags_used", self.tags_used()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latent::structure::Structure;
    use rand::Rng;
    use rand::SeedableRng;

    /// Uniform scores in `[−scale, scale]`.
    fn random(shape: &[usize], scale: f64, seed: u64) -> ArrayD<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        ArrayD::from_shape_simple_fn(IxDyn(shape), || (rng.random::<f64>() * 2.0 - 1.0) * scale)
    }

    /// The score of a path over item `b`, summed part by part.
    fn path_score(s: &ArrayD<f64>, b: usize, tags: &[usize]) -> f64 {
        let mut prev = 0;
        let mut total = 0.0;
        for (i, &c) in tags.iter().enumerate() {
            total += s[[b, i, prev, c]];
            prev = c;
        }
        total
    }

    /// Item `b` of length `n` by enumeration of every path: log Z, the
    /// pairwise marginals `[N, K, K]` and the best path.
    fn brute(s: &ArrayD<f64>, b: usize, n: usize) -> (f64, ArrayD<f64>, Vec<usize>) {
        let (words, k) = (s.shape()[1], s.shape()[2]);
        let paths = all_paths(n, k);
        let scores: Vec<f64> = paths.iter().map(|t| path_score(s, b, t)).collect();
        let best = argmax_index(scores.iter().copied());
        let top = scores[best];
        let log_z = top + scores.iter().map(|x| (x - top).exp()).sum::<f64>().ln();
        let mut mu = ArrayD::zeros(IxDyn(&[words, k, k]));
        for (tags, x) in paths.iter().zip(&scores) {
            let p = (x - log_z).exp();
            let mut prev = 0;
            for (i, &c) in tags.iter().enumerate() {
                mu[[i, prev, c]] += p;
                prev = c;
            }
        }
        (log_z, mu, paths[best].clone())
    }

    fn item(a: &ArrayD<f64>, b: usize) -> ArrayD<f64> {
        a.index_axis(ndarray::Axis(0), b).to_owned()
    }

    fn max_gap(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
        a.iter()
            .zip(b)
            .fold(0.0, |m, (x, y)| f64::max(m, (x - y).abs()))
    }

    const RAGGED: [usize; 3] = [5, 2, 0];
    const RAGGED_SHAPE: [usize; 4] = [3, 5, 3, 3];

    #[test]
    fn ragged_batches_with_k_unlike_n_match_brute_force_over_every_path() {
        let cx = Context::default();
        for seed in 0..4 {
            let s = random(&RAGGED_SHAPE, 2.0, seed);
            let z = map(&cx, &s, &RAGGED).unwrap();
            let (log_z, mu) = marginals(&cx, &s, &RAGGED).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let y = sample(&s, &RAGGED, &mut rng).unwrap();
            let (sm, _) = sparsemap_solved(&cx, &s, &RAGGED, 500).unwrap();
            for (b, &n) in RAGGED.iter().enumerate() {
                let (lz, want, best) = brute(&s, b, n);
                assert!(
                    (log_z[b] - lz).abs() < 1e-9 * lz.abs().max(1.0),
                    "seed {seed} item {b}"
                );
                assert!(max_gap(&item(&mu, b), &want) < 1e-9, "seed {seed} item {b}");
                let path = |tags: &[usize]| {
                    let mut v = indicator(tags, 3);
                    v.resize(5 * 9, 0.0);
                    ArrayD::from_shape_vec(IxDyn(&[5, 3, 3]), v).unwrap()
                };
                assert_eq!(item(&z, b), path(&best), "seed {seed} item {b}");
                let drawn = all_paths(n, 3).into_iter().map(|t| path(&t));
                assert!(
                    drawn.clone().any(|p| p == item(&y, b)),
                    "a sample is a path"
                );
                // SparseMAP: mass on the parts only, one per word.
                let smb = item(&sm, b);
                assert!((smb.sum() - n as f64).abs() < 1e-9);
                let d = check_layout(&RAGGED_SHAPE).unwrap();
                let parts = part_ranges_of(d, n);
                let off_parts = smb
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| !parts.iter().any(|r| r.contains(j)))
                    .fold(0.0, |m, (_, x)| f64::max(m, x.abs()));
                assert_eq!(off_parts, 0.0, "SparseMAP leaves no mass off the parts");
            }
            assert_eq!(log_z[2], 0.0, "an empty sentence has one path");
        }
    }

    #[test]
    fn the_marginals_vjp_on_a_ragged_batch_matches_finite_differences_entry_by_entry() {
        let cx = Context::default();
        let s = random(&RAGGED_SHAPE, 1.5, 3);
        let g = random(&RAGGED_SHAPE, 1.0, 4);
        let vjp = marginals_vjp(&cx, &s, &RAGGED, &g).unwrap();
        let h = 1e-5;
        let objective = |x: &ArrayD<f64>| {
            let mu = marginals(&cx, x, &RAGGED).unwrap().1;
            mu.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
        };
        for j in 0..s.len() {
            let (mut up, mut down) = (s.clone(), s.clone());
            up.as_slice_mut().unwrap()[j] += h;
            down.as_slice_mut().unwrap()[j] -= h;
            let fd = (objective(&up) - objective(&down)) / (2.0 * h);
            let an = vjp.as_slice().unwrap()[j];
            assert!(
                (an - fd).abs() <= 1e-7 * an.abs().max(fd.abs()).max(1e-2),
                "entry {j}: {an} vs {fd}"
            );
        }
        // Non-parts and padding get nothing.
        let mut kept = vjp.clone();
        Engine::<f64>::keep_parts(&Sequence, &mut kept, Some(&RAGGED));
        assert_eq!(kept, vjp);
    }

    #[test]
    fn samples_follow_the_gibbs_distribution_path_by_path() {
        let one = random(&[1, 3, 2, 2], 1.0, 8);
        let draws = 20000;
        let s = ArrayD::from_shape_fn(IxDyn(&[draws, 3, 2, 2]), |ix| one[[0, ix[1], ix[2], ix[3]]]);
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let y = sample(&s, &vec![3; draws], &mut rng).unwrap();
        let (log_z, _, _) = brute(&one, 0, 3);
        for tags in all_paths(3, 2) {
            let want = indicator(&tags, 2);
            let hits = y
                .outer_iter()
                .filter(|z| z.iter().copied().eq(want.iter().copied()))
                .count();
            let p = (path_score(&one, 0, &tags) - log_z).exp();
            let sd = (p * (1.0 - p) / draws as f64).sqrt();
            let freq = hits as f64 / draws as f64;
            assert!((freq - p).abs() < 4.5 * sd, "{tags:?}: {freq} vs {p}");
        }
    }

    #[test]
    fn extreme_scores_through_the_structure_give_the_map_path_and_finite_marginals() {
        let cx = Context::default();
        let st = Structure::new(&SEQUENCE, false);
        // A spread of 1e4, then the same with an offset of 1e300 that
        // drowns it (every path ties: uniform marginals).
        let s = random(&RAGGED_SHAPE, 1e4, 9);
        let z = st.map(&cx, &s, Some(&RAGGED)).unwrap();
        let (log_z, mu) = st.marginals(&cx, &s, Some(&RAGGED)).unwrap();
        let dmu = st.marginals_vjp(&cx, &s, Some(&RAGGED), &random(&RAGGED_SHAPE, 1.0, 2));
        assert!(dmu.unwrap().iter().all(|x| x.is_finite()));
        for (b, &n) in RAGGED.iter().enumerate() {
            let (lz, want, best) = brute(&s, b, n);
            assert!((log_z[b] - lz).abs() < 1e-9 * lz.abs().max(1.0));
            assert!(max_gap(&item(&mu, b), &want) < 1e-9);
            let mut v = indicator(&best, 3);
            v.resize(45, 0.0);
            assert_eq!(item(&z, b).as_slice().unwrap(), &v[..]);
        }
        let flat = s.mapv(|_| 1e300);
        let (log_z, mu) = st.marginals(&cx, &flat, Some(&RAGGED)).unwrap();
        assert!(log_z.iter().all(|x| x.is_finite()));
        let tags = tag_weights(&mu, &RAGGED).unwrap();
        for (b, &n) in RAGGED.iter().enumerate() {
            for i in 0..5 {
                for c in 0..3 {
                    let want: f64 = if i < n { 1.0 / 3.0 } else { 0.0 };
                    assert!((tags[[b, i, c]] - want).abs() < 1e-12);
                }
            }
        }
        let z = st.map(&cx, &flat, Some(&RAGGED)).unwrap();
        assert_eq!(z.sum(), 7.0, "one part per word");
        // An offset of 1e300 over a spread of 1e290: the MAP path takes
        // all the mass.
        let far = random(&RAGGED_SHAPE, 1e290, 10).mapv(|x| x + 1e300);
        let z = st.map(&cx, &far, Some(&RAGGED)).unwrap();
        let mu = st.marginals(&cx, &far, Some(&RAGGED)).unwrap().1;
        for (b, &n) in RAGGED.iter().enumerate() {
            let (_, _, best) = brute(&far, b, n);
            let mut v = indicator(&best, 3);
            v.resize(45, 0.0);
            assert_eq!(item(&z, b).as_slice().unwrap(), &v[..]);
            assert!(item(&mu, b)
                .iter()
                .zip(&v)
                .all(|(a, w)| (a - w).abs() < 1e-12));
        }
    }

    #[test]
    fn a_word_whose_scores_carry_a_huge_offset_leaves_the_other_words_exact() {
        // Every path takes one part per word: an offset on word 0's scores
        // changes log Z by the offset and nothing else.
        let cx = Context::default();
        let plain = ArrayD::from_shape_vec(
            IxDyn(&[1, 2, 2, 2]),
            vec![0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0],
        )
        .unwrap();
        let (lz, want) = marginals(&cx, &plain, &[2]).unwrap();
        for offset in [-1e290, -1e15, 1e15] {
            let mut s = plain.clone();
            s[[0, 0, 0, 0]] += offset;
            s[[0, 0, 0, 1]] += offset;
            let (log_z, mu) = marginals(&cx, &s, &[2]).unwrap();
            assert!(max_gap(&mu, &want) < 1e-12, "offset {offset}: {mu:?}");
            assert!(
                (log_z[0] - (lz[0] + offset)).abs() <= 1e-12 * offset.abs(),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn prefixes_and_suffixes_preferring_different_tags_by_1e4_lose_nothing() {
        // Word 1 favours tag 0 by 1e4 and word 2 favours leaving tag 1
        // by 1e4: every path pays 1e4 somewhere, and α and β of word 1
        // peak at different tags — what a per-position rescaled linear
        // forward pass underflows on.
        let mut s = ArrayD::zeros(IxDyn(&[1, 3, 2, 2]));
        s[[0, 0, 0, 1]] = -1e4;
        for p in 0..2 {
            s[[0, 1, p, 1]] = -1e4;
            s[[0, 2, 0, p]] = -1e4;
        }
        let cx = Context::default();
        let (log_z, mu) = marginals(&cx, &s, &[3]).unwrap();
        let (lz, want, _) = brute(&s, 0, 3);
        assert!(
            (log_z[0] - lz).abs() < 1e-9 * lz.abs(),
            "{} vs {lz}",
            log_z[0]
        );
        assert!(max_gap(&item(&mu, 0), &want) < 1e-9, "{mu}");
        let dmu = marginals_vjp(&cx, &s, &[3], &random(&[1, 3, 2, 2], 1.0, 1)).unwrap();
        assert!(dmu.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn bad_shapes_and_lengths_are_shape_errors() {
        let cx = Context::default();
        let e: &dyn Engine<f64> = &Sequence;
        let shape_error =
            |r: Result<Vec<usize>, StructureError>| matches!(r, Err(StructureError::Shape(_)));
        assert!(
            shape_error(e.sizes(&[2, 3, 2, 3], None)),
            "unequal tag axes"
        );
        assert!(shape_error(e.sizes(&[2, 3, 3], None)), "rank 3");
        assert!(shape_error(e.sizes(&[2, 3, 0, 0], None)), "no tags");
        assert!(
            shape_error(e.sizes(&[2, 3, 2, 2], Some(&[4, 1]))),
            "longer than N"
        );
        assert!(
            shape_error(e.sizes(&[2, 3, 2, 2], Some(&[1]))),
            "lengths for one"
        );
        let s = random(&[2, 3, 2, 2], 1.0, 1);
        let st = Structure::new(&SEQUENCE, false);
        let err = st.marginals(&cx, &s, Some(&[2, 4])).unwrap_err();
        assert!(err.to_string().contains("item 1 has length 4"), "{err}");
        let bad = random(&[2, 3, 2, 3], 1.0, 1);
        assert!(matches!(
            st.map(&cx, &bad, None),
            Err(StructureError::Shape(_))
        ));
        let g = random(&[2, 3, 3, 3], 1.0, 1);
        let r = marginals_vjp(&cx, &s, &[3, 3], &g);
        assert!(matches!(r, Err(StructureError::Shape(_))));
        let (_, sols) = sparsemap_solved(&cx, &s, &[3, 3], 50).unwrap();
        let r = sparsemap_vjp_over(&sols[..1], s.shape(), &[3, 3], &s);
        assert!(matches!(r, Err(StructureError::Shape(_))));
        let r = sparsemap_vjp_over(&sols, s.shape(), &[3, 2], &s);
        assert!(
            matches!(r, Err(StructureError::Shape(_))),
            "solutions of other lengths"
        );
    }

    #[test]
    fn sentences_of_no_words_have_one_empty_path() {
        let cx = Context::default();
        let s = random(&[2, 0, 3, 3], 1.0, 1);
        let (log_z, mu) = marginals(&cx, &s, &[0, 0]).unwrap();
        assert_eq!((log_z, mu.shape()), (vec![0.0, 0.0], &[2, 0, 3, 3][..]));
        assert_eq!(map(&cx, &s, &[0, 0]).unwrap().len(), 0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(sample(&s, &[0, 0], &mut rng).unwrap().len(), 0);
        let (sm, sols) = sparsemap_solved(&cx, &s, &[0, 0], 50).unwrap();
        assert_eq!(sm.len(), 0);
        assert_eq!(
            sparsemap_vjp_over(&sols, s.shape(), &[0, 0], &s)
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn tag_weights_of_marginals_are_each_words_tag_marginals_and_decode_picks_the_heaviest() {
        let cx = Context::default();
        let s = random(&RAGGED_SHAPE, 2.0, 5);
        let mu = marginals(&cx, &s, &RAGGED).unwrap().1;
        let t = tag_weights(&mu, &RAGGED).unwrap();
        assert_eq!(t.shape(), &[3, 5, 3]);
        for (b, &n) in RAGGED.iter().enumerate() {
            let paths = all_paths(n, 3);
            let (log_z, _, _) = brute(&s, b, n);
            for i in 0..5 {
                for c in 0..3 {
                    let want: f64 = paths
                        .iter()
                        .filter(|p| i < n && p[i] == c)
                        .map(|p| (path_score(&s, b, p) - log_z).exp())
                        .sum();
                    assert!(
                        (t[[b, i, c]] - want).abs() < 1e-9,
                        "item {b} word {i} tag {c}"
                    );
                }
            }
        }
        let e: &dyn Engine<f64> = &Sequence;
        let z = map(&cx, &s, &RAGGED).unwrap();
        let tags = e.decode(&z, &RAGGED).unwrap();
        assert_eq!(tags, map_tags(&cx, &s, &RAGGED).unwrap());
        assert_eq!(tags.iter().map(Vec::len).collect::<Vec<_>>(), RAGGED);
        // A relaxation: each word's heaviest tag.
        let heaviest = e.decode(&mu, &RAGGED).unwrap();
        for (b, words) in heaviest.iter().enumerate() {
            for (i, &c) in words.iter().enumerate() {
                assert!((0..3).all(|o| t[[b, i, o]] <= t[[b, i, c]]));
            }
        }
    }

    #[test]
    fn tag_statistics_average_run_lengths_and_distinct_tags_over_sentences() {
        let mut stats = TagStats::default();
        stats.add(&[0, 0, 1, 1, 1, 2]); // runs 2, 3, 1: mean 2; 3 tags
        stats.add(&[4]); // one run of 1; 1 tag
        stats.add(&[]); // no words: not counted
        stats.add(&[1, 0, 1, 0]); // four runs of 1; 2 tags
        assert_eq!(stats.run_length(), (2.0 + 1.0 + 1.0) / 3.0);
        assert_eq!(stats.tags_used(), (3.0 + 1.0 + 2.0) / 3.0);
        assert_eq!(
            stats.report(),
            vec![("run_length", 4.0 / 3.0), ("tags_used", 2.0)]
        );
        assert_eq!(TagStats::default().report()[0].1, 0.0);
    }

    #[test]
    fn every_op_gives_the_same_bits_with_one_thread_and_four() {
        let lengths: Vec<usize> = (0..23).map(|b| (b * 5) % 8).collect();
        let shape = [lengths.len(), 7, 4, 4];
        let (s, g) = (random(&shape, 2.0, 1), random(&shape, 1.0, 2));
        let run = |cx: &Context| {
            let (log_z, mu) = marginals(cx, &s, &lengths).unwrap();
            (
                log_z.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                mu,
                marginals_vjp(cx, &s, &lengths, &g).unwrap(),
                map(cx, &s, &lengths).unwrap(),
                sparsemap_solved(cx, &s, &lengths, 50).unwrap().0,
            )
        };
        let (a, b) = (run(&Context::cpu(1)), run(&Context::cpu(4)));
        assert_eq!(a.0, b.0);
        for (x, y) in [(&a.1, &b.1), (&a.2, &b.2), (&a.3, &b.3), (&a.4, &b.4)] {
            assert!(x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[test]
    fn f32_scores_give_the_f64_answers_to_f32_precision() {
        let cx = Context::default();
        let s = random(&RAGGED_SHAPE, 2.0, 6);
        let g = random(&RAGGED_SHAPE, 1.0, 7);
        let (s32, g32) = (s.mapv(|x| x as f32), g.mapv(|x| x as f32));
        let (s, g) = (s32.mapv(f64::from), g32.mapv(f64::from));
        let (lz, mu) = marginals(&cx, &s, &RAGGED).unwrap();
        let (lz32, mu32) = marginals(&cx, &s32, &RAGGED).unwrap();
        assert_eq!(lz, lz32, "log Z is computed in f64 either way");
        assert!(max_gap(&mu, &mu32.mapv(f64::from)) < 1e-6);
        let d = marginals_vjp(&cx, &s, &RAGGED, &g).unwrap();
        let d32 = marginals_vjp(&cx, &s32, &RAGGED, &g32).unwrap();
        assert!(max_gap(&d, &d32.mapv(f64::from)) < 1e-6);
        assert_eq!(
            map(&cx, &s, &RAGGED).unwrap(),
            map(&cx, &s32, &RAGGED).unwrap().mapv(f64::from)
        );
    }
}
