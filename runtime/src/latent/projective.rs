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
//! exactly. Run on [`Dual`] numbers, the same two passes give the
//! directional derivative of `µ`: the marginals' VJP. With a single root,
//! the root's one child `r` heads a left complete span `1..r` and a right
//! complete span `r..n` of the chart.
//!
//! Chart over positions `0..=n` (`i < j`): `ir[i][j]` has the arc `i → j`,
//! `il[i][j]` the arc `j → i`; `cr[i][j]` is headed by `i` and complete to
//! the right, `cl[i][j]` is headed by `j` and complete to the left. Each
//! split sum reads one chart along a row and another down a column, so the
//! charts read by column are also kept transposed: every inner loop walks
//! contiguous memory. MAP alone lays its charts out by span width instead
//! (`Widths`), where one split of neighbouring spans is contiguous.

use super::logspace::{Dual, Num};

/// A dense `(n+1) × (n+1)` chart.
#[derive(Clone)]
struct Chart<D> {
    n1: usize,
    v: Vec<D>,
}

impl<D: Copy> Chart<D> {
    fn new(n1: usize, fill: D) -> Chart<D> {
        Chart {
            n1,
            v: vec![fill; n1 * n1],
        }
    }
    #[inline]
    fn at(&self, i: usize, j: usize) -> D {
        self.v[i * self.n1 + j]
    }
    #[inline]
    fn set(&mut self, i: usize, j: usize, x: D) {
        self.v[i * self.n1 + j] = x;
    }
    /// Row `i`, columns `a..b`.
    #[inline]
    fn row(&self, i: usize, a: usize, b: usize) -> &[D] {
        &self.v[i * self.n1 + a..i * self.n1 + b]
    }
    #[inline]
    fn row_mut(&mut self, i: usize, a: usize, b: usize) -> &mut [D] {
        &mut self.v[i * self.n1 + a..i * self.n1 + b]
    }
}

impl<D: Num> Chart<D> {
    #[inline]
    fn add(&mut self, i: usize, j: usize, x: D) {
        let c = &mut self.v[i * self.n1 + j];
        *c = c.add(x);
    }
}

const NEG: f64 = f64::NEG_INFINITY;

/// Generic over the score function so that a vector copy given a
/// concrete one (as [`map_flat`] gives) inlines it.
#[inline(always)]
fn score<D: Num, S: Fn(usize, usize) -> D + ?Sized>(s: &S, h: usize, m: usize) -> D {
    if m == 0 || h == m {
        D::NEG
    } else {
        s(h, m)
    }
}

/// [`inside_outside`] compiled for 256-bit vectors where the CPU has
/// them (chosen at run time: one binary serves every x86-64 machine).
fn inside_outside_fastest<D: Num>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    single_root: bool,
) -> (D, Vec<D>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the copy assumes.
        return unsafe { inside_outside_avx2::<D>(n, s, single_root) };
    }
    inside_outside::<D>(n, s, single_root)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn inside_outside_avx2<D: Num>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    single_root: bool,
) -> (D, Vec<D>) {
    inside_outside::<D>(n, s, single_root)
}

/// `log Σ_q exp(a_q + b_q)`, the inside pass's sum of sums, through a
/// scratch buffer. A function, not a closure, so it inlines into the
/// vector-compiled copy.
#[inline(always)]
fn lse_of_sums<D: Num>(buf: &mut [D], a: &[D], b: &[D]) -> D {
    let xs = &mut buf[..a.len()];
    for ((x, &p), &q) in xs.iter_mut().zip(a).zip(b) {
        *x = p.add(q);
    }
    D::lse(xs)
}

/// The index of the first largest of `xs` (NaN never wins).
pub(crate) fn argmax_of(xs: &[f64]) -> usize {
    let (mut best, mut arg) = (NEG, 0);
    for (q, &x) in xs.iter().enumerate() {
        if x > best {
            best = x;
            arg = q;
        }
    }
    arg
}

/// The charts of one sentence: inside scores (log space) or, with max as
/// the sum, Viterbi scores.
struct Inside<D> {
    cr: Chart<D>,
    crt: Chart<D>,
    cl: Chart<D>,
    clt: Chart<D>,
    ir: Chart<D>,
    ilt: Chart<D>,
    /// The two complete halves under each incomplete span, summed (before
    /// its arc score): kept so the outside pass need not recompute it.
    inner: Chart<D>,
}

/// The inside pass: every span's `sum` (log-sum-exp, or max) over its
/// subtrees.
#[inline(always)]
fn inside<D: Num, F: Fn(&mut [D], &[D], &[D]) -> D + Copy>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    sums: F,
) -> Inside<D> {
    let n1 = n + 1;
    let mut cr = Chart::new(n1, D::NEG);
    let mut crt = Chart::new(n1, D::NEG);
    let mut cl = Chart::new(n1, D::NEG);
    let mut clt = Chart::new(n1, D::NEG);
    let mut ir = Chart::new(n1, D::NEG);
    let mut ilt = Chart::new(n1, D::NEG);
    let mut inner = Chart::new(n1, D::NEG);
    let zero_log = D::ZERO;
    for i in 0..n1 {
        cr.set(i, i, zero_log);
        crt.set(i, i, zero_log);
        cl.set(i, i, zero_log);
        clt.set(i, i, zero_log);
    }
    let mut buf = vec![D::NEG; n1];
    for k in 1..n1 {
        for i in 0..n1 - k {
            let j = i + k;
            let v = sums(&mut buf, cr.row(i, i, j), clt.row(j, i + 1, j + 1));
            inner.set(i, j, v);
            ir.set(i, j, v.add(score(s, i, j)));
            ilt.set(
                j,
                i,
                if i == 0 {
                    D::NEG
                } else {
                    v.add(score(s, j, i))
                },
            );
            let v = sums(&mut buf, ir.row(i, i + 1, j + 1), crt.row(j, i + 1, j + 1));
            cr.set(i, j, v);
            crt.set(j, i, v);
            let v = sums(&mut buf, cl.row(i, i, j), ilt.row(j, i, j));
            cl.set(i, j, v);
            clt.set(j, i, v);
        }
    }
    Inside {
        cr,
        crt,
        cl,
        clt,
        ir,
        ilt,
        inner,
    }
}

/// [`inside`] compiled for 256-bit vectors where the CPU has them.
fn inside_fastest<D: Num, F: Fn(&mut [D], &[D], &[D]) -> D + Copy>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    sums: F,
) -> Inside<D> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the copy assumes.
        return unsafe { inside_avx2(n, s, sums) };
    }
    inside(n, s, sums)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn inside_avx2<D: Num, F: Fn(&mut [D], &[D], &[D]) -> D + Copy>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    sums: F,
) -> Inside<D> {
    inside(n, s, sums)
}

/// Filled charts as [`backtrack`] reads them: the value of span `(i, j)`,
/// `i < j`, of each kind (complete right/left, incomplete right/left).
pub(crate) trait Spans {
    fn cr(&self, i: usize, j: usize) -> f64;
    fn cl(&self, i: usize, j: usize) -> f64;
    fn ir(&self, i: usize, j: usize) -> f64;
    fn il(&self, i: usize, j: usize) -> f64;
}

impl Spans for Inside<f64> {
    fn cr(&self, i: usize, j: usize) -> f64 {
        self.cr.at(i, j)
    }
    fn cl(&self, i: usize, j: usize) -> f64 {
        self.cl.at(i, j)
    }
    fn ir(&self, i: usize, j: usize) -> f64 {
        self.ir.at(i, j)
    }
    fn il(&self, i: usize, j: usize) -> f64 {
        self.ilt.at(j, i)
    }
}

/// A tree read top-down from filled charts: at each span, `choose` picks
/// one of its splits from their scores (the sub-chart values summed), the
/// same candidates the chart summed over. Argmax over Viterbi charts gives
/// the MAP tree; a draw over inside charts, an exact sample.
pub(crate) fn backtrack(
    n: usize,
    s: &dyn Fn(usize, usize) -> f64,
    single_root: bool,
    c: &impl Spans,
    mut choose: impl FnMut(&[f64]) -> usize,
) -> Vec<usize> {
    let mut heads = vec![0; n + 1];
    if n == 0 {
        return heads;
    }
    let mut xs = Vec::with_capacity(n + 1);
    // Spans to expand: 0 = ir, 1 = il, 2 = cr, 3 = cl.
    let mut stack: Vec<(u8, usize, usize)> = Vec::new();
    if single_root {
        xs.extend((1..=n).map(|r| score(s, 0, r) + c.cl(1, r) + c.cr(r, n)));
        let r = 1 + choose(&xs);
        heads[r] = 0;
        stack.push((3, 1, r));
        stack.push((2, r, n));
    } else {
        stack.push((2, 0, n));
    }
    while let Some((kind, i, j)) = stack.pop() {
        if i == j {
            continue;
        }
        xs.clear();
        match kind {
            0 | 1 => {
                if kind == 0 {
                    heads[j] = i;
                } else {
                    heads[i] = j;
                }
                xs.extend((i..j).map(|q| c.cr(i, q) + c.cl(q + 1, j)));
                let q = i + choose(&xs);
                stack.push((2, i, q));
                stack.push((3, q + 1, j));
            }
            2 => {
                xs.extend((i + 1..=j).map(|q| c.ir(i, q) + c.cr(q, j)));
                let q = i + 1 + choose(&xs);
                stack.push((0, i, q));
                stack.push((2, q, j));
            }
            _ => {
                xs.extend((i..j).map(|q| c.cl(i, q) + c.il(q, j)));
                let q = i + choose(&xs);
                stack.push((3, i, q));
                stack.push((1, q, j));
            }
        }
    }
    heads
}

/// MAP tree (Eisner): `heads[m]` for `m ∈ 1..=n`. Ties go to the first
/// split; NaN scores never win.
pub fn map(n: usize, s: &dyn Fn(usize, usize) -> f64, single_root: bool) -> Vec<usize> {
    with_charts(|c| {
        viterbi_by_width_fastest(n, &s, c);
        backtrack(n, s, single_root, c, argmax_of)
    })
}

/// [`map`] of the scores laid out flat, arc `h → m` at `v[h * (n + 1) +
/// m]` (the layout of one sentence's block): the charts read them
/// directly instead of through a call per arc (the oracle of an exact
/// SparseMAP projection, hundreds of calls per sentence, spent a tenth
/// of its time in those calls). Same trees as [`map`].
pub fn map_flat(n: usize, v: &[f64], single_root: bool) -> Vec<usize> {
    let n1 = n + 1;
    assert_eq!(v.len(), n1 * n1, "a block of (n + 1)² scores");
    let s = |h: usize, m: usize| v[h * n1 + m];
    with_charts(|c| {
        viterbi_by_width_fastest(n, &s, c);
        backtrack(n, &s, single_root, c, argmax_of)
    })
}

/// Runs `f` on this thread's MAP charts. An exact projection asks for
/// hundreds of MAP trees of one sentence in a row; allocating and
/// filling four fresh charts each time was an eighth of the chart pass.
fn with_charts<T>(f: impl FnOnce(&mut Widths) -> T) -> T {
    thread_local! {
        static CHARTS: std::cell::RefCell<Widths> = const { std::cell::RefCell::new(Widths::EMPTY) };
    }
    // Charts of a very long sentence (8 MiB each from ~1,000 words) are
    // given back rather than held for the thread's life.
    const KEPT_ENTRIES: usize = 1 << 20;
    CHARTS.with(|charts| match charts.try_borrow_mut() {
        Ok(mut c) => {
            let out = f(&mut c);
            if c.cr.len() > KEPT_ENTRIES {
                *c = Widths::EMPTY;
            }
            out
        }
        // A score function that itself asks for a MAP tree (none in lsmc
        // does) finds the thread's charts in use: its call gets its own.
        Err(_) => {
            let mut own = Widths::EMPTY;
            f(&mut own)
        }
    })
}

/// Eisner's Viterbi charts laid out by span width: entry `k * stride + i`
/// is span `(i, i + k)` (`il` has the arc `i + k → i`). A block of
/// [`LANES`] neighbouring spans of one width reads every split's two
/// halves as two runs of consecutive entries, so [`viterbi_by_width`]
/// keeps the block's maxima in vector registers and walks the splits.
/// [`inside`]'s layout walks one span's splits in lanes instead, and a
/// sentence's spans have few (about ten at 25 words), so its loops were
/// mostly set-up: 7.7 µs a MAP call at n = 25 against 5.75 µs this way
/// (20.9 against 15.4 µs at n = 40; the 2-core VM of BENCHMARKS.md, issue
/// 21, timed in a scratch loop). The rows are padded so that a block
/// may read past a width's last span; lanes past it are computed and
/// thrown away.
struct Widths {
    stride: usize,
    cr: Vec<f64>,
    cl: Vec<f64>,
    ir: Vec<f64>,
    il: Vec<f64>,
}

/// Spans computed together: one AVX-512 register, two AVX2 ones (eight
/// was faster than four at every length from 10 to 40 words).
const LANES: usize = 8;

impl Widths {
    /// No charts yet: [`viterbi_by_width`] sizes them.
    const EMPTY: Widths = Widths {
        stride: 0,
        cr: Vec::new(),
        cl: Vec::new(),
        ir: Vec::new(),
        il: Vec::new(),
    };
}

impl Spans for Widths {
    fn cr(&self, i: usize, j: usize) -> f64 {
        self.cr[(j - i) * self.stride + i]
    }
    fn cl(&self, i: usize, j: usize) -> f64 {
        self.cl[(j - i) * self.stride + i]
    }
    fn ir(&self, i: usize, j: usize) -> f64 {
        self.ir[(j - i) * self.stride + i]
    }
    fn il(&self, i: usize, j: usize) -> f64 {
        self.il[(j - i) * self.stride + i]
    }
}

/// For each lane `l`, the largest of `a[x + l] + b[y + l]` over the
/// splits `t < splits`, at `x = x0 + t · stride` (one width up) and
/// `y = y0 − t · (stride − 1)` (one width down, one span right). NaN never
/// wins: a NaN sum compares false, so a maximum never holds NaN.
#[inline(always)]
fn max_of_split_sums(
    a: &[f64],
    b: &[f64],
    (x0, y0): (usize, usize),
    stride: usize,
    splits: usize,
) -> [f64; LANES] {
    let sum = |t: usize| -> [f64; LANES] {
        let (x, y) = (x0 + t * stride, y0 - t * (stride - 1));
        let (p, q) = (&a[x..x + LANES], &b[y..y + LANES]);
        std::array::from_fn(|l| p[l] + q[l])
    };
    let max = |m: &mut [f64; LANES], v: [f64; LANES]| {
        for l in 0..LANES {
            m[l] = if v[l] > m[l] { v[l] } else { m[l] };
        }
    };
    // Even and odd splits in two maxima, so that each max waits on the
    // one two splits back, not the last (its latency is four cycles).
    let (mut even, mut odd) = ([NEG; LANES], [NEG; LANES]);
    for t in (0..splits - splits % 2).step_by(2) {
        max(&mut even, sum(t));
        max(&mut odd, sum(t + 1));
    }
    if splits % 2 == 1 {
        max(&mut even, sum(splits - 1));
    }
    max(&mut even, odd);
    even
}

/// The recurrences of [`inside`] with max as the sum, a width at a time.
/// Each span's value is the largest of the same sums, taken in another
/// order, so it has [`inside`]'s bits and the trees read back are the
/// same (tested). The order could only show in the sign of a zero tied
/// with its negation, and no entry is ever −0: the complete spans start
/// at +0, every complete span's splits include one with an empty half,
/// and a sum is −0 only when both its terms are.
#[inline(always)]
fn viterbi_by_width<S: Fn(usize, usize) -> f64>(n: usize, s: &S, c: &mut Widths) {
    let n1 = n + 1;
    let stride = n1 + LANES;
    c.stride = stride;
    // Whatever an earlier sentence left is kept: every span a kept lane
    // reads is written first (each width reads narrower ones), and what
    // lies past a width's last span only feeds lanes thrown away.
    for chart in [&mut c.cr, &mut c.cl, &mut c.ir, &mut c.il] {
        chart.resize(n1 * stride, NEG);
    }
    c.cr[..n1].fill(0.0);
    c.cl[..n1].fill(0.0);
    for k in 1..n1 {
        let (spans, row) = (n1 - k, k * stride);
        // Spans (i, i + k) for i in i0..i0 + LANES, those below `spans` kept.
        let blocks = || {
            (0..spans)
                .step_by(LANES)
                .map(|i0| (i0, LANES.min(spans - i0)))
        };
        // The two complete halves, (i, i + t) and (i + t + 1, j), t < k.
        for (i0, kept) in blocks() {
            let halves = (i0, (k - 1) * stride + i0 + 1);
            let v = max_of_split_sums(&c.cr, &c.cl, halves, stride, k);
            for (l, &v) in v.iter().enumerate().take(kept) {
                let (i, j) = (i0 + l, i0 + l + k);
                c.ir[row + i] = v + score(s, i, j);
                c.il[row + i] = if i == 0 { NEG } else { v + score(s, j, i) };
            }
        }
        // Right complete: incomplete (i, i + t), complete (i + t, j), 1 ≤ t ≤ k.
        for (i0, kept) in blocks() {
            let halves = (stride + i0, (k - 1) * stride + i0 + 1);
            let v = max_of_split_sums(&c.ir, &c.cr, halves, stride, k);
            keep(&mut c.cr[row + i0..], &v, kept);
        }
        // Left complete: complete (i, i + t), incomplete (i + t, j), t < k.
        for (i0, kept) in blocks() {
            let halves = (i0, k * stride + i0);
            let v = max_of_split_sums(&c.cl, &c.il, halves, stride, k);
            keep(&mut c.cl[row + i0..], &v, kept);
        }
    }
}

/// Stores a block's first `kept` lanes at the start of `to`: a whole
/// block as one fixed-size copy (a copy of a length known only at run
/// time was a call to `memmove` per block).
#[inline(always)]
fn keep(to: &mut [f64], v: &[f64; LANES], kept: usize) {
    if kept == LANES {
        to[..LANES].copy_from_slice(v);
    } else {
        to[..kept].copy_from_slice(&v[..kept]);
    }
}

/// [`viterbi_by_width`] compiled for the widest vectors the CPU has.
fn viterbi_by_width_fastest<S: Fn(usize, usize) -> f64>(n: usize, s: &S, c: &mut Widths) {
    crate::vectors::widest_vectors!(<S: Fn(usize, usize) -> f64> (n: usize, s: &S, c: &mut Widths) -> () {
        viterbi_by_width(n, s, c)
    })
}

/// An exact sample from the tree distribution `p(t) ∝ exp(score(t))`:
/// the inside chart, then top-down, each span's split drawn in proportion
/// to the weight of the subtrees through it.
pub fn sample(
    n: usize,
    s: &dyn Fn(usize, usize) -> f64,
    single_root: bool,
    rng: &mut impl rand::Rng,
) -> Vec<usize> {
    let c = inside_fastest(n, s, lse_of_sums);
    backtrack(n, s, single_root, &c, |xs| {
        let total = f64::lse(xs);
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (q, &x) in xs.iter().enumerate() {
            acc += f64::weight(x, total);
            if u < acc {
                return q;
            }
        }
        // Rounding left u above the last partial sum: the last possible one.
        xs.iter().rposition(|&x| x > f64::NEG_INFINITY).unwrap_or(0)
    })
}

/// Inside then outside over numbers `D`: log Z and `µ[h][m]` (an
/// `(n+1) × (n+1)` row-major matrix, zero where there is no arc).
#[inline(always)]
fn inside_outside<D: Num>(
    n: usize,
    s: &dyn Fn(usize, usize) -> D,
    single_root: bool,
) -> (D, Vec<D>) {
    let n1 = n + 1;
    let mut mu = vec![D::ZERO; n1 * n1];
    if n == 0 {
        return (D::ZERO, mu);
    }
    let Inside {
        cr,
        crt,
        cl,
        clt,
        ir,
        ilt,
        inner,
    } = inside(n, s, lse_of_sums);
    // Adjoints of the chart entries (the outside pass, as reverse mode).
    // A chart written both along rows and down columns gets two
    // accumulators, one per layout; its adjoint is their sum.
    let mut air = Chart::new(n1, D::ZERO);
    let mut ailt = Chart::new(n1, D::ZERO);
    let mut acr = Chart::new(n1, D::ZERO);
    let mut acrt = Chart::new(n1, D::ZERO);
    let mut acl = Chart::new(n1, D::ZERO);
    let mut aclt = Chart::new(n1, D::ZERO);
    let log_z = if single_root {
        let roots: Vec<D> = (1..=n)
            .map(|r| score(s, 0, r).add(cl.at(1, r)).add(cr.at(r, n)))
            .collect();
        let log_z = D::lse(&roots);
        for (r, &x) in (1..=n).zip(&roots) {
            let w = D::weight(x, log_z);
            if !w.is_zero() {
                mu[r] = mu[r].add(w);
                acl.add(1, r, w);
                acr.add(r, n, w);
            }
        }
        log_z
    } else {
        acr.set(0, n, D::ONE);
        cr.at(0, n)
    };
    for k in (1..n1).rev() {
        for i in (0..n1 - k).rev() {
            let j = i + k;
            // Complete spans first: in the forward pass they were computed last.
            let g = acl.at(i, j).add(aclt.at(j, i));
            if !g.is_zero() {
                D::spread(
                    g,
                    cl.at(i, j),
                    cl.row(i, i, j),
                    ilt.row(j, i, j),
                    acl.row_mut(i, i, j),
                    ailt.row_mut(j, i, j),
                );
            }
            let g = acr.at(i, j).add(acrt.at(j, i));
            if !g.is_zero() {
                D::spread(
                    g,
                    cr.at(i, j),
                    ir.row(i, i + 1, j + 1),
                    crt.row(j, i + 1, j + 1),
                    air.row_mut(i, i + 1, j + 1),
                    acrt.row_mut(j, i + 1, j + 1),
                );
            }
            // Incomplete spans: the arc gets the span's whole adjoint.
            let (gr, gl) = (air.at(i, j), ailt.at(j, i));
            mu[i * n1 + j] = mu[i * n1 + j].add(gr);
            mu[j * n1 + i] = mu[j * n1 + i].add(gl);
            let g = gr.add(gl);
            if !g.is_zero() {
                D::spread(
                    g,
                    inner.at(i, j),
                    cr.row(i, i, j),
                    clt.row(j, i + 1, j + 1),
                    acr.row_mut(i, i, j),
                    aclt.row_mut(j, i + 1, j + 1),
                );
            }
        }
    }
    // Position 0 is the root: it has no head.
    for h in 0..n1 {
        mu[h * n1] = D::ZERO;
    }
    (log_z, mu)
}

/// log Z and the arc marginals `µ[h][m]` (an `(n+1) × (n+1)` row-major
/// matrix, zero where there is no arc).
pub fn marginals(n: usize, s: &dyn Fn(usize, usize) -> f64, single_root: bool) -> (f64, Vec<f64>) {
    inside_outside_fastest::<f64>(n, s, single_root)
}

/// The marginals and their derivative in direction `ds`,
/// `dµ = ∇² log Z · ds` — which is also the VJP of the marginals with
/// upstream gradient `ds`, the Hessian being symmetric.
pub fn marginals_jvp(
    n: usize,
    s: &dyn Fn(usize, usize) -> f64,
    ds: &dyn Fn(usize, usize) -> f64,
    single_root: bool,
) -> (Vec<f64>, Vec<f64>) {
    let dual = |h: usize, m: usize| Dual {
        v: s(h, m),
        t: ds(h, m),
    };
    let (_, mu) = inside_outside_fastest::<Dual>(n, &dual, single_root);
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

    /// `max_q (a_q + b_q)` (−∞ if none; NaN never wins): Viterbi's sum of
    /// sums as [`map`] took it before [`viterbi_by_width`], one span's
    /// splits at a time through [`inside`]: the reference the new layout's
    /// charts and trees are compared with.
    #[inline(always)]
    fn max_of_sums(_: &mut [f64], a: &[f64], b: &[f64]) -> f64 {
        debug_assert_eq!(a.len(), b.len(), "a span's halves pair up");
        let b = &b[..a.len()];
        let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
        let rest = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .map(|(x, y)| x + y);
        let mut m = [NEG; 4];
        for (x, y) in ca.zip(cb) {
            for l in 0..4 {
                let v = x[l] + y[l];
                m[l] = if v > m[l] { v } else { m[l] };
            }
        }
        m.into_iter()
            .chain(rest)
            .fold(NEG, |a, x| if x > a { x } else { a })
    }

    #[test]
    fn a_score_function_that_asks_for_a_map_tree_gets_charts_of_its_own() {
        let n = 9;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
        let v: Vec<f64> = (0..(n + 1) * (n + 1))
            .map(|_| rng.random::<f64>())
            .collect();
        let plain = map_flat(n, &v, false);
        // Each score asks for the MAP tree of another sentence first,
        // while the outer call holds this thread's charts.
        let inner = map_flat(5, &v[..36], true);
        let nested = map(
            n,
            &|h, m| {
                assert_eq!(map_flat(5, &v[..36], true), inner);
                v[h * (n + 1) + m]
            },
            false,
        );
        assert_eq!(nested, plain);
    }

    #[test]
    fn by_width_viterbi_has_the_row_wise_charts_and_trees() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(40);
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            NEG,
            f64::INFINITY,
            f64::NAN,
            1e308,
            5e-324,
        ];
        // A third of the sentences from zeros of both signs, −∞, NaN and
        // −1 only, so that the best splits often tie.
        let ties = [0.0, -0.0, NEG, f64::NAN, -1.0];
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        crate::vectors::for_each_supported(|vectors| {
            // One set of charts for every case, as a thread's MAP calls
            // share them: what a longer sentence (or NaN) left behind
            // must not show.
            let mut widths = Widths {
                stride: 0,
                cr: vec![f64::NAN; 80 * 90],
                cl: vec![f64::NAN; 80 * 90],
                ir: vec![f64::NAN; 80 * 90],
                il: vec![f64::NAN; 80 * 90],
            };
            for case in 0..600 {
                // Every length up to 41 (blocks of 8 spans that end inside a
                // width, past it, or on it), and a few long ones.
                let n = if case < 420 { case % 42 } else { 60 + case % 7 };
                let n1 = n + 1;
                let kind = (case / 42) % 3;
                let sc: Vec<f64> = (0..n1 * n1)
                    .map(|_| match kind {
                        0 => ties[rng.random_range(0..ties.len())],
                        1 if rng.random_bool(0.3) => special[rng.random_range(0..special.len())],
                        _ => (rng.random::<f64>() * 4.0 - 2.0).round() / 2.0,
                    })
                    .collect();
                let s = |h: usize, m: usize| sc[h * n1 + m];
                let rows = inside(n, &s, max_of_sums);
                viterbi_by_width_fastest(n, &s, &mut widths);
                for i in 0..n1 {
                    for j in i..n1 {
                        for (a, b, what) in [
                            (rows.cr(i, j), widths.cr(i, j), "cr"),
                            (rows.cl(i, j), widths.cl(i, j), "cl"),
                        ] {
                            assert!(same(a, b), "{vectors:?} n {n} {what}({i}, {j}): {a} vs {b}");
                        }
                        if i < j {
                            for (a, b, what) in [
                                (rows.ir(i, j), widths.ir(i, j), "ir"),
                                (rows.il(i, j), widths.il(i, j), "il"),
                            ] {
                                assert!(
                                    same(a, b),
                                    "{vectors:?} n {n} {what}({i}, {j}): {a} vs {b}"
                                );
                            }
                        }
                    }
                }
                for single in [false, true] {
                    let by_rows = backtrack(n, &s, single, &rows, argmax_of);
                    assert_eq!(
                        map(n, &s, single),
                        by_rows,
                        "{vectors:?} n {n} single root {single}: {sc:?}"
                    );
                    assert_eq!(
                        map_flat(n, &sc, single),
                        by_rows,
                        "{vectors:?} n {n} flat, single root {single}"
                    );
                }
            }
        });
    }

    use brute::random_scores;

    #[test]
    fn map_log_partition_and_marginals_match_brute_force() {
        brute::assert_matches_enumeration(
            true,
            1..=6,
            2.0,
            &|n, s, single| marginals(n, s, single),
            Some(&|n, s, single| map(n, s, single)),
            &|_, _, _| false,
        );
    }

    #[test]
    fn marginals_are_the_gradient_of_the_log_partition() {
        let n = 5;
        let sc = random_scores(n, 7, 1.5);
        for single in [true, false] {
            brute::assert_marginals_are_the_gradient_of_log_z(n, &sc, &|s| marginals(n, s, single));
        }
    }

    #[test]
    fn marginals_jvp_is_the_finite_difference_of_the_marginals() {
        let n = 5;
        let (sc, dir) = (random_scores(n, 9, 1.5), random_scores(n, 10, 1.0));
        for single in [true, false] {
            brute::assert_jvp_is_the_finite_difference(
                n,
                &sc,
                &dir,
                &|s, ds| {
                    let (mu, dmu) = marginals_jvp(n, s, ds, single);
                    // The values are the marginals themselves.
                    let (_, mu0) = marginals(n, s, single);
                    assert!(mu.iter().zip(&mu0).all(|(a, b)| (a - b).abs() < 1e-12));
                    dmu
                },
                &|s| marginals(n, s, single).1,
                1e-6,
                1e-7,
            );
        }
    }

    #[test]
    fn each_word_has_one_head_in_expectation_even_for_long_sentences_and_huge_scores() {
        let n = 200;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let normal: Vec<f64> = (0..(n + 1) * (n + 1))
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) * 100.0)
            .collect();
        let uniform = random_scores(n, 6, 1e4);
        for (sc, single) in [
            (&normal, true),
            (&normal, false),
            (&uniform, true),
            (&uniform, false),
        ] {
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

    #[test]
    fn samples_follow_the_tree_distribution() {
        let n = 3;
        let sc = random_scores(n, 12, 1.5);
        let f = |h: usize, m: usize| sc[h * (n + 1) + m];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for single in [true, false] {
            let trees = brute::trees(n, true, single);
            let want = brute::Exact::of(&trees, n, &f);
            let draws = 40_000;
            let mut counts = vec![0usize; trees.len()];
            for _ in 0..draws {
                let t = sample(n, &f, single, &mut rng);
                let k = trees.iter().position(|x| *x == t).expect("a valid tree");
                counts[k] += 1;
            }
            for (t, &c) in trees.iter().zip(&counts) {
                let p = (brute::score(&f, t) - want.log_z).exp();
                let freq = c as f64 / draws as f64;
                // Five standard errors of a binomial frequency.
                let se = (p * (1.0 - p) / draws as f64).sqrt();
                assert!((freq - p).abs() < 5.0 * se + 1e-4, "{t:?}: {freq} vs {p}");
            }
        }
    }
}
