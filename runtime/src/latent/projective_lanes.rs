//! Inside-outside for a group of projective sentences at once, with the
//! sentence index innermost: every chart cell holds one value per
//! sentence ("lane"), so each step of the dynamic program is a loop over
//! lanes that the compiler vectorises, exponentials included. This is the
//! engine behind batched marginals and their VJP; [`super::projective`]
//! (one sentence, no lanes) is the readable reference it is tested
//! against, and the layout is the one the CUDA kernels use (a block per
//! span, a thread per sentence).
//!
//! Sentences of a group share one chart over `0..=N` (`N` the longest).
//! A span's chart entries depend only on the scores inside it, so a
//! shorter sentence's spans are exactly its own; its outside pass starts
//! at its own length and never reaches the spans past it. Padding scores
//! are zero (finite), so no NaN can arise there.
//!
//! With `TANGENT`, every cell also carries a tangent plane (forward-mode
//! derivative in a direction `ds`), and the marginals' tangent is
//! `∇² log Z · ds` — the marginals' VJP.
//!
//! The charts are kept in linear space, scaled so that values stay near 1
//! ([`run_linear`]): a split point then costs a multiply-add instead of an
//! exponential, which at n = 80 is most of the time. A group whose scores
//! spread too far for that range (every entry is range-checked) is
//! computed again in log space ([`run_log`]), so the answer is the same
//! to rounding either way. The MAP tree ([`map_heads`]) runs the Viterbi
//! charts over the same lanes.

use super::logspace::{exp, ln};
use super::projective::{argmax_of, backtrack, Spans};
use std::sync::Mutex;

const NEG: f64 = f64::NEG_INFINITY;

/// A chart of `(n+1)²` cells, each `planes × lanes` values.
struct Chart {
    n1: usize,
    stride: usize,
    v: Vec<f64>,
}

/// Chart buffers from earlier calls. Charts are megabytes; fresh ones
/// come from the kernel page by page (a fault per page, every call), so
/// they are recycled instead.
static POOL: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());
const POOL_MAX: usize = 64;

impl Chart {
    fn new(n1: usize, planes: usize, lanes: usize, fill: f64) -> Chart {
        let mut v = POOL
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        v.clear();
        v.resize(n1 * n1 * planes * lanes, fill);
        Chart {
            n1,
            stride: planes * lanes,
            v,
        }
    }
    #[inline(always)]
    fn off(&self, i: usize, j: usize) -> usize {
        (i * self.n1 + j) * self.stride
    }
    #[inline(always)]
    fn cell(&self, i: usize, j: usize) -> &[f64] {
        let o = self.off(i, j);
        &self.v[o..o + self.stride]
    }
    #[inline(always)]
    fn cell_mut(&mut self, i: usize, j: usize) -> &mut [f64] {
        let o = self.off(i, j);
        &mut self.v[o..o + self.stride]
    }
}

impl Drop for Chart {
    fn drop(&mut self) {
        if let Ok(mut p) = POOL.lock() {
            if p.len() < POOL_MAX {
                p.push(std::mem::take(&mut self.v));
            }
        }
    }
}

/// Scratch space for one group.
struct Scratch {
    max: Vec<f64>,
    sum: Vec<f64>,
    tan: Vec<f64>,
    g: Vec<f64>,
    tot: Vec<f64>,
}

/// `out = lse_q (a(q) + b(q))` over lanes, for the cell pairs `pairs`.
#[inline(always)]
fn lse_cells<const TANGENT: bool>(
    lanes: usize,
    pairs: &[(usize, usize)],
    a: &Chart,
    b: &Chart,
    sc: &mut Scratch,
    out: &mut [f64],
) {
    let (m, s, t) = (
        &mut sc.max[..lanes],
        &mut sc.sum[..lanes],
        &mut sc.tan[..lanes],
    );
    m.fill(NEG);
    for &(oa, ob) in pairs {
        let (av, bv) = (&a.v[oa..oa + lanes], &b.v[ob..ob + lanes]);
        for ((mm, &x), &y) in m.iter_mut().zip(av).zip(bv) {
            let v = x + y;
            *mm = if v > *mm { v } else { *mm };
        }
    }
    // An all-−∞ lane subtracts 0 instead of −∞: its terms stay exp(−∞) = 0.
    for mm in m.iter_mut() {
        if *mm == NEG {
            *mm = 0.0;
        }
    }
    s.fill(0.0);
    t.fill(0.0);
    for &(oa, ob) in pairs {
        let (av, bv) = (&a.v[oa..oa + lanes], &b.v[ob..ob + lanes]);
        if TANGENT {
            let (at, bt) = (
                &a.v[oa + lanes..oa + 2 * lanes],
                &b.v[ob + lanes..ob + 2 * lanes],
            );
            for l in 0..lanes {
                let e = exp(av[l] + bv[l] - m[l]);
                s[l] += e;
                t[l] += e * (at[l] + bt[l]);
            }
        } else {
            for (((ss, &mm), &x), &y) in s.iter_mut().zip(m.iter()).zip(av).zip(bv) {
                *ss += exp(x + y - mm);
            }
        }
    }
    // No lane branches: s = 0 (every term −∞) gives ln 0 = −∞ and m = 0.
    for l in 0..lanes {
        out[l] = m[l] + ln(s[l]);
        if TANGENT {
            out[lanes + l] = if s[l] == 0.0 { 0.0 } else { t[l] / s[l] };
        }
    }
}

/// `1 / total` per lane for linear-space [`spread`]; a zero total (no
/// tree through the span) has zero terms, so its factor is 0.
#[inline(always)]
fn reciprocals(lanes: usize, total: &[f64], inv: &mut [f64]) {
    for (f, &t) in inv[..lanes].iter_mut().zip(&total[..lanes]) {
        *f = if t == 0.0 { 0.0 } else { 1.0 / t };
    }
}

/// The total per lane for log-space [`spread`]; a −∞ total (no tree
/// through the span) subtracts 0: its terms are −∞ too, so their weights
/// stay exp(−∞) = 0.
#[inline(always)]
fn finite_totals(lanes: usize, total: &[f64], tot: &mut [f64]) {
    for (f, &t) in tot[..lanes].iter_mut().zip(&total[..lanes]) {
        *f = if t == NEG { 0.0 } else { t };
    }
}

/// The result for a group: log Z per lane, and `µ` (and its tangent) as
/// `[h][m][lane]` planes.
pub struct Out {
    pub log_z: Vec<f64>,
    pub mu: Vec<f64>,
    pub dmu: Vec<f64>,
}

/// Inside-outside for `lengths.len()` sentences, all within `n` words;
/// `s` and `ds` are `[h][m][lane]` over `(n+1)²` cells (`ds` only read
/// with `TANGENT`). Groups are padded to a lane count known at compile
/// time (4, 8 or 16), so every lane loop is a fixed number of vectors.
pub fn inside_outside<const TANGENT: bool>(
    n: usize,
    lengths: &[usize],
    s: &[f64],
    ds: &[f64],
    single_root: bool,
) -> Out {
    match lengths.len() {
        // One sentence (an exact projection's moment matching) alone:
        // padded to 4 lanes it did four times the work.
        1 => fastest::<TANGENT, 1>(n, lengths, s, ds, single_root),
        0..=4 => padded::<TANGENT, 4>(n, lengths, s, ds, single_root),
        5..=8 => padded::<TANGENT, 8>(n, lengths, s, ds, single_root),
        16 => fastest::<TANGENT, 16>(n, lengths, s, ds, single_root),
        9..=16 => padded::<TANGENT, 16>(n, lengths, s, ds, single_root),
        _ => fastest::<TANGENT, 0>(n, lengths, s, ds, single_root),
    }
}

/// Adds empty lanes (length 0, zero scores) up to `L`, runs, and drops them.
fn padded<const TANGENT: bool, const L: usize>(
    n: usize,
    lengths: &[usize],
    s: &[f64],
    ds: &[f64],
    single_root: bool,
) -> Out {
    let lanes = lengths.len();
    if lanes == L {
        return fastest::<TANGENT, L>(n, lengths, s, ds, single_root);
    }
    let cells = (n + 1) * (n + 1);
    let widen = |v: &[f64]| {
        let mut w = vec![0.0; cells * L];
        if !v.is_empty() {
            for c in 0..cells {
                w[c * L..c * L + lanes].copy_from_slice(&v[c * lanes..(c + 1) * lanes]);
            }
        }
        w
    };
    let mut ls = lengths.to_vec();
    ls.resize(L, 0);
    let out = fastest::<TANGENT, L>(n, &ls, &widen(s), &widen(ds), single_root);
    let narrow = |v: &[f64]| {
        if v.is_empty() {
            return Vec::new();
        }
        let mut w = vec![0.0; cells * lanes];
        for c in 0..cells {
            w[c * lanes..(c + 1) * lanes].copy_from_slice(&v[c * L..c * L + lanes]);
        }
        w
    };
    Out {
        log_z: out.log_z[..lanes].to_vec(),
        mu: narrow(&out.mu),
        dmu: narrow(&out.dmu),
    }
}

/// [`run`] compiled for 256-bit vectors where the CPU has them (chosen at
/// run time: one binary serves every x86-64 machine). `L = 0`: any count.
fn fastest<const TANGENT: bool, const L: usize>(
    n: usize,
    lengths: &[usize],
    s: &[f64],
    ds: &[f64],
    single_root: bool,
) -> Out {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the copy assumes.
        return unsafe { run_avx2::<TANGENT, L>(n, lengths, s, ds, single_root) };
    }
    run::<TANGENT, L>(n, lengths, s, ds, single_root)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<const TANGENT: bool, const L: usize>(
    n: usize,
    lengths: &[usize],
    s: &[f64],
    ds: &[f64],
    single_root: bool,
) -> Out {
    run::<TANGENT, L>(n, lengths, s, ds, single_root)
}

/// Linear space where every chart value fits ([`run_linear`]), log space
/// for the groups whose scores spread too far ([`run_log`]).
#[inline(always)]
fn run<const TANGENT: bool, const L: usize>(
    n: usize,
    lengths: &[usize],
    s: &[f64],
    ds: &[f64],
    single_root: bool,
) -> Out {
    run_linear::<TANGENT, L>(n, lengths, s, ds, single_root)
        .unwrap_or_else(|| run_log::<TANGENT, L>(n, lengths, s, ds, single_root))
}

/// Linear chart values must stay within `[2^-500, 2^500]`: then every
/// product of two of them is a normal `f64`, so no term of a sum is lost
/// to underflow or overflows, and every chart entry carries the same
/// relative error as its log-space counterpart (sums of positive terms).
const LINEAR_LO: f64 = 3.054_936_363_499_605e-151;
const LINEAR_HI: f64 = 3.273_390_607_896_142e150;

/// `out = Σ_q a(q) · b(q)` over lanes (linear space), and with `TANGENT`
/// the tangent of its logarithm, `Σ_q a·b·(a' + b') / Σ_q a·b`.
#[inline(always)]
fn sum_cells<const TANGENT: bool>(
    lanes: usize,
    pairs: &[(usize, usize)],
    a: &Chart,
    b: &Chart,
    sc: &mut Scratch,
    out: &mut [f64],
) {
    if lanes == 1 && !TANGENT {
        // One sentence (moment matching): four running sums in registers.
        // Through the lane loop, each term waited on the last one's store
        // to the scratch sum: a third of the one-lane inside pass.
        let (chunks, mut acc) = (pairs.chunks_exact(4), [0.0; 4]);
        let rest = chunks.remainder();
        for c in chunks {
            for p in 0..4 {
                acc[p] += a.v[c[p].0] * b.v[c[p].1];
            }
        }
        let tail: f64 = rest.iter().map(|&(oa, ob)| a.v[oa] * b.v[ob]).sum();
        out[0] = ((acc[0] + acc[2]) + (acc[1] + acc[3])) + tail;
        return;
    }
    let (s, t) = (&mut sc.sum[..lanes], &mut sc.tan[..lanes]);
    s.fill(0.0);
    t.fill(0.0);
    for &(oa, ob) in pairs {
        let (av, bv) = (&a.v[oa..oa + lanes], &b.v[ob..ob + lanes]);
        if TANGENT {
            let (at, bt) = (
                &a.v[oa + lanes..oa + 2 * lanes],
                &b.v[ob + lanes..ob + 2 * lanes],
            );
            for (((ss, tt), (&x, &y)), (&xt, &yt)) in s
                .iter_mut()
                .zip(t.iter_mut())
                .zip(av.iter().zip(bv))
                .zip(at.iter().zip(bt))
            {
                let e = x * y;
                *ss += e;
                *tt += e * (xt + yt);
            }
        } else {
            for ((ss, &x), &y) in s.iter_mut().zip(av).zip(bv) {
                *ss += x * y;
            }
        }
    }
    for l in 0..lanes {
        out[l] = s[l];
        if TANGENT {
            out[lanes + l] = if s[l] == 0.0 { 0.0 } else { t[l] / s[l] };
        }
    }
}

/// The outside pass's inner loop. For every pair `q`, the share of the
/// span's total that goes through it, `u = weight(a(q), b(q), f)` (`f` a
/// per-lane factor of the total: `exp(a + b − total)` in log space,
/// `a·b / total` in linear space), and `w = g ⊗ u` added to both `ra(q)`
/// and `rb(q)`, the adjoints of the two halves; with `TANGENT`, their
/// tangents too (`total` then holds the total's tangent plane after its
/// values).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn spread<const TANGENT: bool>(
    lanes: usize,
    g: &[f64],
    total: &[f64],
    factor: &[f64],
    pairs: &[(usize, usize)],
    a: &Chart,
    b: &Chart,
    ra: &mut Chart,
    rb: &mut Chart,
    w: &mut [f64],
    weight: impl Fn(f64, f64, f64) -> f64,
) {
    let inv = factor;
    let width = if TANGENT { 2 * lanes } else { lanes };
    for &(oa, ob) in pairs {
        let (av, bv) = (&a.v[oa..oa + width], &b.v[ob..ob + width]);
        let (rav, rbv) = (&mut ra.v[oa..oa + width], &mut rb.v[ob..ob + width]);
        if TANGENT {
            let (av, at) = av.split_at(lanes);
            let (bv, bt) = bv.split_at(lanes);
            let (gv, gt) = g.split_at(lanes);
            let tt = &total[lanes..2 * lanes];
            let (rav, rat) = rav.split_at_mut(lanes);
            let (rbv, rbt) = rbv.split_at_mut(lanes);
            // Weights first, then the four accumulations: loops the
            // compiler can prove in bounds, so they vectorise.
            let (u, ut) = w.split_at_mut(lanes);
            for ((((u, ut), (&x, &y)), (&xt, &yt)), ((&gv, &gt), (&iv, &tt))) in u
                .iter_mut()
                .zip(ut.iter_mut())
                .zip(av.iter().zip(bv))
                .zip(at.iter().zip(bt))
                .zip(gv.iter().zip(gt).zip(inv.iter().zip(tt)))
            {
                let e = weight(x, y, iv);
                *u = gv * e;
                *ut = e * (gt + gv * (xt + yt - tt));
            }
            for (r, &x) in rav.iter_mut().zip(u.iter()) {
                *r += x;
            }
            for (r, &x) in rbv.iter_mut().zip(u.iter()) {
                *r += x;
            }
            for (r, &x) in rat.iter_mut().zip(ut.iter()) {
                *r += x;
            }
            for (r, &x) in rbt.iter_mut().zip(ut.iter()) {
                *r += x;
            }
        } else {
            let u = &mut w[..lanes];
            for ((u, (&x, &y)), (&gv, &iv)) in u
                .iter_mut()
                .zip(av.iter().zip(bv))
                .zip(g.iter().zip(inv.iter()))
            {
                *u = gv * weight(x, y, iv);
            }
            for (r, &x) in rav.iter_mut().zip(u.iter()) {
                *r += x;
            }
            for (r, &x) in rbv.iter_mut().zip(u.iter()) {
                *r += x;
            }
        }
    }
}

/// Inside-outside in linear space, `None` when some chart value of some
/// sentence leaves `[LINEAR_LO, LINEAR_HI]` (the caller then runs
/// [`run_log`]).
///
/// Every chart entry is stored relative to the best incoming score of
/// each word it has attached: with `best(m) = max_h s(h, m)` and `F(j) =
/// Σ_{m ≤ j} best(m)`, a right-complete span `(i, j)` is scaled by
/// `exp(F(j) − F(i))` (words `i+1..=j` have their heads inside), a
/// left-complete one by `exp(F(j−1) − F(i−1))`, an incomplete one by
/// whichever half it closes. The scalings telescope through every
/// recurrence, so the dynamic program is sums of products of
/// `w(h, m) = exp(s(h, m) − best(m)) ≤ 1` — n² exponentials in all
/// instead of one per split point — and each entry is at most the number
/// of structures it sums (about 6.75ⁿ, 1e66 at n = 80). Entries shrink
/// by the scores' spread times the span length, which is what the range
/// test catches: score scales of a few units stay linear at n = 80, scale
/// 100 goes to log space.
#[inline(always)]
fn run_linear<const TANGENT: bool, const L: usize>(
    n: usize,
    lengths: &[usize],
    s: &[f64],
    ds: &[f64],
    single_root: bool,
) -> Option<Out> {
    let lanes = if L == 0 { lengths.len() } else { L };
    let n1 = n + 1;
    let planes = if TANGENT { 2 } else { 1 };
    let stride = planes * lanes;
    // Each word's best incoming score, per lane; 0 past the sentence.
    let mut best = vec![0.0; n1 * lanes];
    for (l, &len) in lengths.iter().enumerate() {
        for m in 1..=len {
            let b = (0..=len)
                .filter(|&h| h != m)
                .map(|h| s[(h * n1 + m) * lanes + l])
                .fold(NEG, f64::max);
            if !b.is_finite() {
                return None;
            }
            best[m * lanes + l] = b;
        }
    }
    // Arc weights; arcs past a sentence weigh 0, so every span that
    // reaches past it is 0 too (and never overflows).
    let mut w = Chart::new(n1, planes, lanes, 0.0);
    for h in 0..n1 {
        for m in 1..n1 {
            if h == m {
                continue;
            }
            let c = h * n1 + m;
            for (l, &len) in lengths.iter().enumerate() {
                if h <= len && m <= len {
                    w.v[c * stride + l] = exp(s[c * lanes + l] - best[m * lanes + l]);
                    if TANGENT {
                        w.v[c * stride + lanes + l] = ds[c * lanes + l];
                    }
                }
            }
        }
    }
    // Each recurrence walks a row of its first chart and a column of its
    // second; the second charts are also kept transposed (`…t`, entry
    // `(j, i)` holding span `(i, j)`) so both walks are contiguous. Left
    // incomplete spans are only ever second: they live transposed alone.
    let mut cr = Chart::new(n1, planes, lanes, 0.0);
    let mut crt = Chart::new(n1, planes, lanes, 0.0);
    let mut cl = Chart::new(n1, planes, lanes, 0.0);
    let mut clt = Chart::new(n1, planes, lanes, 0.0);
    let mut ir = Chart::new(n1, planes, lanes, 0.0);
    let mut ilt = Chart::new(n1, planes, lanes, 0.0);
    let mut inner = Chart::new(n1, planes, lanes, 0.0);
    for chart in [&mut cr, &mut crt, &mut cl, &mut clt] {
        for i in 0..n1 {
            chart.cell_mut(i, i)[..lanes].fill(1.0);
        }
    }
    let mut scratch = Scratch {
        max: vec![0.0; lanes],
        sum: vec![0.0; lanes],
        tan: vec![0.0; lanes],
        g: vec![0.0; stride],
        tot: vec![0.0; stride],
    };
    let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(n1);
    let mut cell = vec![0.0; stride];
    let fits = |x: f64| (LINEAR_LO..=LINEAR_HI).contains(&x);
    for k in 1..n1 {
        for i in 0..n1 - k {
            let j = i + k;
            pairs.clear();
            pairs.extend((i..j).map(|q| (cr.off(i, q), clt.off(j, q + 1))));
            sum_cells::<TANGENT>(lanes, &pairs, &cr, &clt, &mut scratch, &mut cell);
            inner.cell_mut(i, j).copy_from_slice(&cell);
            let (arc_r, arc_l) = (w.cell(i, j), w.cell(j, i));
            {
                let out = ir.cell_mut(i, j);
                for l in 0..lanes {
                    out[l] = cell[l] * arc_r[l];
                    if TANGENT {
                        out[lanes + l] = cell[lanes + l] + arc_r[lanes + l];
                    }
                }
            }
            if i > 0 {
                let out = ilt.cell_mut(j, i);
                for l in 0..lanes {
                    out[l] = cell[l] * arc_l[l];
                    if TANGENT {
                        out[lanes + l] = cell[lanes + l] + arc_l[lanes + l];
                    }
                }
            }
            pairs.clear();
            pairs.extend((i + 1..=j).map(|q| (ir.off(i, q), crt.off(j, q))));
            sum_cells::<TANGENT>(lanes, &pairs, &ir, &crt, &mut scratch, &mut cell);
            cr.cell_mut(i, j).copy_from_slice(&cell);
            crt.cell_mut(j, i).copy_from_slice(&cell);
            pairs.clear();
            pairs.extend((i..j).map(|q| (cl.off(i, q), ilt.off(j, q))));
            sum_cells::<TANGENT>(lanes, &pairs, &cl, &ilt, &mut scratch, &mut cell);
            cl.cell_mut(i, j).copy_from_slice(&cell);
            clt.cell_mut(j, i).copy_from_slice(&cell);
            // Every entry of a sentence's own spans must fit (NaN does not).
            // With a single root, the spans from position 0 are never used.
            if i == 0 && single_root {
                continue;
            }
            for (l, &len) in lengths.iter().enumerate() {
                if j > len {
                    continue;
                }
                let core = [inner.cell(i, j)[l], ir.cell(i, j)[l], cr.cell(i, j)[l]];
                let left = [ilt.cell(j, i)[l], cl.cell(i, j)[l]];
                if !core.into_iter().all(fits) || (i > 0 && !left.into_iter().all(fits)) {
                    return None;
                }
            }
        }
    }
    // The outside pass: adjoints of every chart, in reverse. A chart read
    // both ways collects its adjoint in both layouts; a span's adjoint is
    // the sum of the two, complete before the span is reached.
    let mut air = Chart::new(n1, planes, lanes, 0.0);
    let mut ailt = Chart::new(n1, planes, lanes, 0.0);
    let mut acr = Chart::new(n1, planes, lanes, 0.0);
    let mut acrt = Chart::new(n1, planes, lanes, 0.0);
    let mut acl = Chart::new(n1, planes, lanes, 0.0);
    let mut aclt = Chart::new(n1, planes, lanes, 0.0);
    let mut mu = Chart::new(n1, planes, lanes, 0.0);
    let mut log_z = vec![0.0; lanes];
    for (l, &len) in lengths.iter().enumerate() {
        if len == 0 {
            continue;
        }
        let scaled: f64 = (1..=len).map(|m| best[m * lanes + l]).sum();
        let t = |c: &Chart, i: usize, j: usize| {
            if TANGENT {
                c.cell(i, j)[lanes + l]
            } else {
                0.0
            }
        };
        if single_root {
            // The root's one child r, in log space (n terms): its arc may
            // weigh too little for the linear range.
            let xs: Vec<(f64, f64)> = (1..=len)
                .map(|r| {
                    (
                        s[r * lanes + l] - best[r * lanes + l]
                            + ln(cl.cell(1, r)[l])
                            + ln(cr.cell(r, len)[l]),
                        t(&w, 0, r) + t(&cl, 1, r) + t(&cr, r, len),
                    )
                })
                .collect();
            let m = xs.iter().map(|x| x.0).fold(NEG, f64::max);
            let total: f64 = xs.iter().map(|x| exp(x.0 - m)).sum();
            let lz = m + total.ln();
            let lz_t: f64 = xs.iter().map(|x| exp(x.0 - lz) * x.1).sum();
            log_z[l] = lz + scaled;
            for (r, &(x, xt)) in (1..=len).zip(&xs) {
                let wr = exp(x - lz);
                let wt = wr * (xt - lz_t);
                for (chart, (i, j)) in [(&mut mu, (0, r)), (&mut acl, (1, r)), (&mut acr, (r, len))]
                {
                    let c = chart.cell_mut(i, j);
                    c[l] += wr;
                    if TANGENT {
                        c[lanes + l] += wt;
                    }
                }
            }
        } else {
            log_z[l] = ln(cr.cell(0, len)[l]) + scaled;
            acr.cell_mut(0, len)[l] = 1.0;
        }
    }
    let g = &mut scratch.g;
    let inv = &mut scratch.max;
    let wbuf = &mut scratch.tot;
    let both = |g: &mut [f64], a: &Chart, at: &Chart, i: usize, j: usize| {
        for ((x, &u), &v) in g.iter_mut().zip(a.cell(i, j)).zip(at.cell(j, i)) {
            *x = u + v;
        }
    };
    for k in (1..n1).rev() {
        for i in (0..n1 - k).rev() {
            let j = i + k;
            both(g, &acl, &aclt, i, j);
            if g.iter().any(|&x| x != 0.0) {
                pairs.clear();
                pairs.extend((i..j).map(|q| (cl.off(i, q), ilt.off(j, q))));
                reciprocals(lanes, cl.cell(i, j), inv);
                spread::<TANGENT>(
                    lanes,
                    g,
                    cl.cell(i, j),
                    inv,
                    &pairs,
                    &cl,
                    &ilt,
                    &mut acl,
                    &mut ailt,
                    wbuf,
                    |x, y, f| x * y * f,
                );
            }
            both(g, &acr, &acrt, i, j);
            if g.iter().any(|&x| x != 0.0) {
                pairs.clear();
                pairs.extend((i + 1..=j).map(|q| (ir.off(i, q), crt.off(j, q))));
                reciprocals(lanes, cr.cell(i, j), inv);
                spread::<TANGENT>(
                    lanes,
                    g,
                    cr.cell(i, j),
                    inv,
                    &pairs,
                    &ir,
                    &crt,
                    &mut air,
                    &mut acrt,
                    wbuf,
                    |x, y, f| x * y * f,
                );
            }
            for (x, &a) in mu.cell_mut(i, j).iter_mut().zip(air.cell(i, j)) {
                *x += a;
            }
            for (x, &a) in mu.cell_mut(j, i).iter_mut().zip(ailt.cell(j, i)) {
                *x += a;
            }
            both(g, &air, &ailt, i, j);
            if g.iter().any(|&x| x != 0.0) {
                pairs.clear();
                pairs.extend((i..j).map(|q| (cr.off(i, q), clt.off(j, q + 1))));
                reciprocals(lanes, inner.cell(i, j), inv);
                spread::<TANGENT>(
                    lanes,
                    g,
                    inner.cell(i, j),
                    inv,
                    &pairs,
                    &cr,
                    &clt,
                    &mut acr,
                    &mut aclt,
                    wbuf,
                    |x, y, f| x * y * f,
                );
            }
        }
    }
    Some(split_planes::<TANGENT>(n1, lanes, &mu, log_z))
}

#[inline(always)]
fn run_log<const TANGENT: bool, const L: usize>(
    n: usize,
    lengths: &[usize],
    s: &[f64],
    ds: &[f64],
    single_root: bool,
) -> Out {
    // A constant lane count lets every lane loop unroll into whole vectors.
    let lanes = if L == 0 { lengths.len() } else { L };
    let n1 = n + 1;
    let planes = if TANGENT { 2 } else { 1 };
    let stride = planes * lanes;
    // Scores with their tangents, cell by cell.
    let mut sc = Chart::new(n1, planes, lanes, 0.0);
    for c in 0..n1 * n1 {
        sc.v[c * stride..c * stride + lanes].copy_from_slice(&s[c * lanes..(c + 1) * lanes]);
        if TANGENT {
            sc.v[c * stride + lanes..(c + 1) * stride]
                .copy_from_slice(&ds[c * lanes..(c + 1) * lanes]);
        }
    }
    let mut cr = Chart::new(n1, planes, lanes, NEG);
    let mut cl = Chart::new(n1, planes, lanes, NEG);
    let mut ir = Chart::new(n1, planes, lanes, NEG);
    let mut il = Chart::new(n1, planes, lanes, NEG);
    let mut inner = Chart::new(n1, planes, lanes, NEG);
    for chart in [&mut cr, &mut cl] {
        for i in 0..n1 {
            chart.cell_mut(i, i).fill(0.0);
        }
    }
    if TANGENT {
        for chart in [&mut ir, &mut il, &mut inner] {
            for c in 0..n1 * n1 {
                chart.v[c * stride + lanes..(c + 1) * stride].fill(0.0);
            }
        }
    }
    let mut scratch = Scratch {
        max: vec![0.0; lanes],
        sum: vec![0.0; lanes],
        tan: vec![0.0; lanes],
        g: vec![0.0; stride],
        tot: vec![0.0; stride],
    };
    let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(n1);
    let mut cell = vec![0.0; stride];
    for k in 1..n1 {
        for i in 0..n1 - k {
            let j = i + k;
            pairs.clear();
            pairs.extend((i..j).map(|q| (cr.off(i, q), cl.off(q + 1, j))));
            lse_cells::<TANGENT>(lanes, &pairs, &cr, &cl, &mut scratch, &mut cell);
            inner.cell_mut(i, j).copy_from_slice(&cell);
            let (arc_r, arc_l) = (sc.cell(i, j), sc.cell(j, i));
            for (x, (&v, &a)) in ir.cell_mut(i, j).iter_mut().zip(cell.iter().zip(arc_r)) {
                *x = v + a;
            }
            if i > 0 {
                for (x, (&v, &a)) in il.cell_mut(i, j).iter_mut().zip(cell.iter().zip(arc_l)) {
                    *x = v + a;
                }
            }
            pairs.clear();
            pairs.extend((i + 1..=j).map(|q| (ir.off(i, q), cr.off(q, j))));
            lse_cells::<TANGENT>(lanes, &pairs, &ir, &cr, &mut scratch, &mut cell);
            cr.cell_mut(i, j).copy_from_slice(&cell);
            pairs.clear();
            pairs.extend((i..j).map(|q| (cl.off(i, q), il.off(q, j))));
            lse_cells::<TANGENT>(lanes, &pairs, &cl, &il, &mut scratch, &mut cell);
            cl.cell_mut(i, j).copy_from_slice(&cell);
        }
    }
    // The outside pass: adjoints of every chart, in reverse.
    let mut air = Chart::new(n1, planes, lanes, 0.0);
    let mut ail = Chart::new(n1, planes, lanes, 0.0);
    let mut acr = Chart::new(n1, planes, lanes, 0.0);
    let mut acl = Chart::new(n1, planes, lanes, 0.0);
    let mut mu = Chart::new(n1, planes, lanes, 0.0);
    let mut log_z = vec![0.0; lanes];
    for (l, &len) in lengths.iter().enumerate() {
        if len == 0 {
            continue;
        }
        let t = |c: &Chart, i: usize, j: usize| {
            if TANGENT {
                c.cell(i, j)[lanes + l]
            } else {
                0.0
            }
        };
        if single_root {
            // The root's one child r: a left half 1..r and a right half r..len.
            let xs: Vec<(f64, f64)> = (1..=len)
                .map(|r| {
                    (
                        sc.cell(0, r)[l] + cl.cell(1, r)[l] + cr.cell(r, len)[l],
                        t(&sc, 0, r) + t(&cl, 1, r) + t(&cr, r, len),
                    )
                })
                .collect();
            let m = xs.iter().map(|x| x.0).fold(NEG, f64::max);
            let m = if m == NEG { 0.0 } else { m };
            let total: f64 = xs.iter().map(|x| exp(x.0 - m)).sum();
            let lz = m + total.ln();
            let lz_t: f64 = xs.iter().map(|x| exp(x.0 - lz) * x.1).sum();
            log_z[l] = lz;
            for (r, &(x, xt)) in (1..=len).zip(&xs) {
                let w = exp(x - lz);
                let wt = w * (xt - lz_t);
                for (chart, (i, j)) in [(&mut mu, (0, r)), (&mut acl, (1, r)), (&mut acr, (r, len))]
                {
                    let c = chart.cell_mut(i, j);
                    c[l] += w;
                    if TANGENT {
                        c[lanes + l] += wt;
                    }
                }
            }
        } else {
            log_z[l] = cr.cell(0, len)[l];
            acr.cell_mut(0, len)[l] = 1.0;
        }
    }
    let g = &mut scratch.g;
    let tot = &mut scratch.max;
    let wbuf = &mut scratch.tot;
    for k in (1..n1).rev() {
        for i in (0..n1 - k).rev() {
            let j = i + k;
            // Complete spans first: in the forward pass they were computed last.
            g.copy_from_slice(acl.cell(i, j));
            if g.iter().any(|&x| x != 0.0) {
                pairs.clear();
                pairs.extend((i..j).map(|q| (cl.off(i, q), il.off(q, j))));
                finite_totals(lanes, cl.cell(i, j), tot);
                spread::<TANGENT>(
                    lanes,
                    g,
                    cl.cell(i, j),
                    tot,
                    &pairs,
                    &cl,
                    &il,
                    &mut acl,
                    &mut ail,
                    wbuf,
                    |x, y, t| exp(x + y - t),
                );
            }
            g.copy_from_slice(acr.cell(i, j));
            if g.iter().any(|&x| x != 0.0) {
                pairs.clear();
                pairs.extend((i + 1..=j).map(|q| (ir.off(i, q), cr.off(q, j))));
                finite_totals(lanes, cr.cell(i, j), tot);
                spread::<TANGENT>(
                    lanes,
                    g,
                    cr.cell(i, j),
                    tot,
                    &pairs,
                    &ir,
                    &cr,
                    &mut air,
                    &mut acr,
                    wbuf,
                    |x, y, t| exp(x + y - t),
                );
            }
            // Incomplete spans: the arc gets the span's whole adjoint.
            for (x, &a) in mu.cell_mut(i, j).iter_mut().zip(air.cell(i, j)) {
                *x += a;
            }
            for (x, &a) in mu.cell_mut(j, i).iter_mut().zip(ail.cell(i, j)) {
                *x += a;
            }
            for ((x, &a), &b) in g.iter_mut().zip(air.cell(i, j)).zip(ail.cell(i, j)) {
                *x = a + b;
            }
            if g.iter().any(|&x| x != 0.0) {
                pairs.clear();
                pairs.extend((i..j).map(|q| (cr.off(i, q), cl.off(q + 1, j))));
                finite_totals(lanes, inner.cell(i, j), tot);
                spread::<TANGENT>(
                    lanes,
                    g,
                    inner.cell(i, j),
                    tot,
                    &pairs,
                    &cr,
                    &cl,
                    &mut acr,
                    &mut acl,
                    wbuf,
                    |x, y, t| exp(x + y - t),
                );
            }
        }
    }
    split_planes::<TANGENT>(n1, lanes, &mu, log_z)
}

/// Splits µ's chart into the value and tangent planes of [`Out`];
/// position 0 (the root) has no head.
fn split_planes<const TANGENT: bool>(n1: usize, lanes: usize, mu: &Chart, log_z: Vec<f64>) -> Out {
    let stride = mu.stride;
    let mut out_mu = vec![0.0; n1 * n1 * lanes];
    let mut out_dmu = if TANGENT {
        vec![0.0; n1 * n1 * lanes]
    } else {
        Vec::new()
    };
    for h in 0..n1 {
        for m in 1..n1 {
            if h == m {
                continue;
            }
            let c = h * n1 + m;
            out_mu[c * lanes..(c + 1) * lanes]
                .copy_from_slice(&mu.v[c * stride..c * stride + lanes]);
            if TANGENT {
                out_dmu[c * lanes..(c + 1) * lanes]
                    .copy_from_slice(&mu.v[c * stride + lanes..(c + 1) * stride]);
            }
        }
    }
    Out {
        log_z,
        mu: out_mu,
        dmu: out_dmu,
    }
}

/// `out = max_q a(q) + b(q)` over lanes, for `count` consecutive cells
/// of `a` from `oa` and of `b` from `ob` (a row of one chart against a
/// row of a transposed one); NaN never wins, as in
/// [`projective::map`](super::projective::map).
#[inline(always)]
fn max_cells(lanes: usize, a: &[f64], b: &[f64], count: usize, out: &mut [f64]) {
    let out = &mut out[..lanes];
    out.fill(NEG);
    let a = a[..count * lanes].chunks_exact(lanes);
    let b = b[..count * lanes].chunks_exact(lanes);
    for (av, bv) in a.zip(b) {
        for ((m, &x), &y) in out.iter_mut().zip(av).zip(bv) {
            let v = x + y;
            *m = if v > *m { v } else { *m };
        }
    }
}

/// Viterbi charts for a group, one lane per sentence.
struct Viterbi {
    cr: Chart,
    cl: Chart,
    ir: Chart,
    ilt: Chart,
}

/// One lane of [`Viterbi`], as the shared backtrack reads it.
struct Lane<'a> {
    c: &'a Viterbi,
    l: usize,
}

impl Spans for Lane<'_> {
    fn cr(&self, i: usize, j: usize) -> f64 {
        self.c.cr.cell(i, j)[self.l]
    }
    fn cl(&self, i: usize, j: usize) -> f64 {
        self.c.cl.cell(i, j)[self.l]
    }
    fn ir(&self, i: usize, j: usize) -> f64 {
        self.c.ir.cell(i, j)[self.l]
    }
    fn il(&self, i: usize, j: usize) -> f64 {
        self.c.ilt.cell(j, i)[self.l]
    }
}

/// MAP trees (Eisner) for `lengths.len()` sentences at once, `s` as in
/// [`inside_outside`]: `heads[l][m]` for `m ∈ 1..=len`. The same charts
/// (the same sums and maxima, so the same values) as
/// [`projective::map`](super::projective::map) computes per sentence,
/// read back by the same backtrack: the same trees, ties included.
pub fn map_heads(n: usize, lengths: &[usize], s: &[f64], single_root: bool) -> Vec<Vec<usize>> {
    let c = match lengths.len() {
        16 => viterbi_fastest::<16>(n, lengths.len(), s),
        8 => viterbi_fastest::<8>(n, lengths.len(), s),
        _ => viterbi_fastest::<0>(n, lengths.len(), s),
    };
    let n1 = n + 1;
    let lanes = lengths.len();
    lengths
        .iter()
        .enumerate()
        .map(|(l, &len)| {
            let score = |h: usize, m: usize| s[(h * n1 + m) * lanes + l];
            backtrack(len, &score, single_root, &Lane { c: &c, l }, argmax_of)
        })
        .collect()
}

fn viterbi_fastest<const L: usize>(n: usize, lanes: usize, s: &[f64]) -> Viterbi {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the copy assumes.
        return unsafe { viterbi_avx2::<L>(n, lanes, s) };
    }
    viterbi::<L>(n, lanes, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn viterbi_avx2<const L: usize>(n: usize, lanes: usize, s: &[f64]) -> Viterbi {
    viterbi::<L>(n, lanes, s)
}

/// The Viterbi pass, second charts transposed as in [`run_linear`].
/// Arcs into position 0 and self-arcs are `−∞`, as in the per-sentence
/// charts; a sentence's own spans never read past its length.
#[inline(always)]
fn viterbi<const L: usize>(n: usize, lanes: usize, s: &[f64]) -> Viterbi {
    let lanes = if L == 0 { lanes } else { L };
    let n1 = n + 1;
    let mut cr = Chart::new(n1, 1, lanes, NEG);
    let mut crt = Chart::new(n1, 1, lanes, NEG);
    let mut cl = Chart::new(n1, 1, lanes, NEG);
    let mut clt = Chart::new(n1, 1, lanes, NEG);
    let mut ir = Chart::new(n1, 1, lanes, NEG);
    let mut ilt = Chart::new(n1, 1, lanes, NEG);
    for chart in [&mut cr, &mut crt, &mut cl, &mut clt] {
        for i in 0..n1 {
            chart.cell_mut(i, i).fill(0.0);
        }
    }
    let mut cell = vec![0.0; lanes];
    for k in 1..n1 {
        for i in 0..n1 - k {
            let j = i + k;
            let k = j - i;
            let (a, b) = (&cr.v[cr.off(i, i)..], &clt.v[clt.off(j, i + 1)..]);
            max_cells(lanes, a, b, k, &mut cell);
            let arc_r = &s[(i * n1 + j) * lanes..(i * n1 + j + 1) * lanes];
            for ((x, &v), &a) in ir.cell_mut(i, j).iter_mut().zip(&cell).zip(arc_r) {
                *x = v + a;
            }
            if i > 0 {
                let arc_l = &s[(j * n1 + i) * lanes..(j * n1 + i + 1) * lanes];
                for ((x, &v), &a) in ilt.cell_mut(j, i).iter_mut().zip(&cell).zip(arc_l) {
                    *x = v + a;
                }
            }
            let (a, b) = (&ir.v[ir.off(i, i + 1)..], &crt.v[crt.off(j, i + 1)..]);
            max_cells(lanes, a, b, k, &mut cell);
            cr.cell_mut(i, j).copy_from_slice(&cell);
            crt.cell_mut(j, i).copy_from_slice(&cell);
            let (a, b) = (&cl.v[cl.off(i, i)..], &ilt.v[ilt.off(j, i)..]);
            max_cells(lanes, a, b, k, &mut cell);
            cl.cell_mut(i, j).copy_from_slice(&cell);
            clt.cell_mut(j, i).copy_from_slice(&cell);
        }
    }
    Viterbi { cr, cl, ir, ilt }
}

#[cfg(test)]
mod tests {
    use super::super::projective;
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Lanes of different lengths against each sentence computed alone.
    #[test]
    fn every_lane_equals_its_sentence_computed_alone() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        let lengths = [6usize, 1, 4, 6, 3];
        let n = 6;
        let n1 = n + 1;
        let lanes = lengths.len();
        let scale = 3.0;
        let mut s = vec![0.0; n1 * n1 * lanes];
        let mut ds = vec![0.0; n1 * n1 * lanes];
        for (l, &len) in lengths.iter().enumerate() {
            for h in 0..=len {
                for m in 1..=len {
                    s[(h * n1 + m) * lanes + l] = (rng.random::<f64>() * 2.0 - 1.0) * scale;
                    ds[(h * n1 + m) * lanes + l] = rng.random::<f64>() * 2.0 - 1.0;
                }
            }
        }
        for single in [true, false] {
            let out = inside_outside::<true>(n, &lengths, &s, &ds, single);
            let plain = inside_outside::<false>(n, &lengths, &s, &ds, single);
            for (l, &len) in lengths.iter().enumerate() {
                let at = |v: &[f64], h: usize, m: usize| v[(h * n1 + m) * lanes + l];
                let (lz, mu) = projective::marginals(len, &|h, m| at(&s, h, m), single);
                let (_, dmu) = projective::marginals_jvp(
                    len,
                    &|h, m| at(&s, h, m),
                    &|h, m| at(&ds, h, m),
                    single,
                );
                assert!((out.log_z[l] - lz).abs() < 1e-10, "lane {l}");
                assert!((plain.log_z[l] - lz).abs() < 1e-10, "lane {l}");
                for h in 0..n1 {
                    for m in 0..n1 {
                        let inside = h <= len && m <= len;
                        let idx = h * (len + 1) + m;
                        let (w, dw) = if inside {
                            (mu[idx], dmu[idx])
                        } else {
                            (0.0, 0.0)
                        };
                        assert!((at(&out.mu, h, m) - w).abs() < 1e-10, "lane {l} {h}->{m}");
                        assert!((at(&plain.mu, h, m) - w).abs() < 1e-10, "lane {l} {h}->{m}");
                        assert!(
                            (at(&out.dmu, h, m) - dw).abs() < 1e-9,
                            "lane {l} {h}->{m}: tangent"
                        );
                    }
                }
            }
        }
    }

    /// A group of one sentence runs unpadded (its own lane count), and
    /// gives what the sentence gives alone, tangent included.
    #[test]
    fn a_group_of_one_sentence_equals_the_sentence_alone() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for n in [1usize, 2, 7, 23] {
            let n1 = n + 1;
            let mut s = vec![0.0; n1 * n1];
            let mut ds = vec![0.0; n1 * n1];
            for h in 0..n1 {
                for m in 1..n1 {
                    if h != m {
                        s[h * n1 + m] = (rng.random::<f64>() * 2.0 - 1.0) * 5.0;
                        ds[h * n1 + m] = rng.random::<f64>() * 2.0 - 1.0;
                    }
                }
            }
            for single in [true, false] {
                let out = inside_outside::<true>(n, &[n], &s, &ds, single);
                let plain = inside_outside::<false>(n, &[n], &s, &[], single);
                let at = |v: &[f64], h: usize, m: usize| v[h * n1 + m];
                let (lz, mu) = projective::marginals(n, &|h, m| at(&s, h, m), single);
                let (_, dmu) = projective::marginals_jvp(
                    n,
                    &|h, m| at(&s, h, m),
                    &|h, m| at(&ds, h, m),
                    single,
                );
                assert!((out.log_z[0] - lz).abs() < 1e-10, "n {n}");
                assert!((plain.log_z[0] - lz).abs() < 1e-10, "n {n}: no tangent");
                for c in 0..n1 * n1 {
                    assert!((out.mu[c] - mu[c]).abs() < 1e-10, "n {n} cell {c}");
                    let what = format!("n {n} cell {c}: no tangent");
                    assert!((plain.mu[c] - mu[c]).abs() < 1e-10, "{what}");
                    assert!(
                        (out.dmu[c] - dmu[c]).abs() < 1e-9,
                        "n {n} cell {c}: tangent"
                    );
                }
            }
        }
    }

    /// Random scores for sentences of the given lengths in a group chart
    /// over `n` words, `[h][m][lane]`.
    fn lane_scores(
        rng: &mut impl Rng,
        n: usize,
        lengths: &[usize],
        draw: &mut dyn FnMut(&mut dyn rand::RngCore) -> f64,
    ) -> Vec<f64> {
        let (n1, lanes) = (n + 1, lengths.len());
        let mut s = vec![0.0; n1 * n1 * lanes];
        for (l, &len) in lengths.iter().enumerate() {
            for h in 0..=len {
                for m in 1..=len {
                    if h != m {
                        s[(h * n1 + m) * lanes + l] = draw(rng);
                    }
                }
            }
        }
        s
    }

    /// The batched MAP is the per-sentence Eisner tree, ties included
    /// (small integer scores tie everywhere; the first split wins in both).
    #[test]
    fn batched_map_is_the_per_sentence_tree_ties_included() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for lengths in [
            vec![9usize, 1, 0, 5, 9, 3, 7, 2],
            vec![6; 16],
            vec![4, 11, 2],
        ] {
            let n = *lengths.iter().max().unwrap();
            let n1 = n + 1;
            let lanes = lengths.len();
            for ties in [true, false] {
                let s = lane_scores(&mut rng, n, &lengths, &mut |r| {
                    if ties {
                        (r.next_u32() % 3) as f64
                    } else {
                        r.random::<f64>() * 6.0 - 3.0
                    }
                });
                for single in [true, false] {
                    let heads = map_heads(n, &lengths, &s, single);
                    for (l, &len) in lengths.iter().enumerate() {
                        let alone =
                            projective::map(len, &|h, m| s[(h * n1 + m) * lanes + l], single);
                        assert_eq!(heads[l], alone, "lane {l}, ties {ties}, single {single}");
                    }
                }
            }
        }
    }

    /// Linear space and log space agree where both apply, and scores too
    /// spread for the linear range go to log space and still agree with
    /// each sentence computed alone.
    #[test]
    fn linear_space_agrees_with_log_space_and_falls_back_beyond_its_range() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let lengths = [12usize, 3, 12, 7, 0, 10];
        let n = 12;
        let n1 = n + 1;
        let lanes = lengths.len();
        for (scale, linear) in [(0.5, true), (8.0, true), (400.0, false)] {
            let mut uniform = |r: &mut dyn rand::RngCore| (r.random::<f64>() * 2.0 - 1.0) * scale;
            let s = lane_scores(&mut rng, n, &lengths, &mut uniform);
            let ds = lane_scores(&mut rng, n, &lengths, &mut |r| r.random::<f64>() - 0.5);
            for single in [true, false] {
                let lin = run_linear::<true, 0>(n, &lengths, &s, &ds, single);
                assert_eq!(lin.is_some(), linear, "scale {scale}: linear range");
                let log = run_log::<true, 0>(n, &lengths, &s, &ds, single);
                let out = inside_outside::<true>(n, &lengths, &s, &ds, single);
                if let Some(lin) = &lin {
                    for (a, b) in lin.log_z.iter().zip(&log.log_z) {
                        assert!(
                            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                            "log Z {a} vs {b}"
                        );
                    }
                    for (a, b) in lin.mu.iter().zip(&log.mu) {
                        assert!((a - b).abs() <= 1e-12, "µ {a} vs {b}");
                    }
                    for (a, b) in lin.dmu.iter().zip(&log.dmu) {
                        assert!((a - b).abs() <= 1e-11, "tangent {a} vs {b}");
                    }
                }
                for (l, &len) in lengths.iter().enumerate() {
                    let at = |v: &[f64], h: usize, m: usize| v[(h * n1 + m) * lanes + l];
                    let (lz, mu) = projective::marginals(len, &|h, m| at(&s, h, m), single);
                    assert!((out.log_z[l] - lz).abs() <= 1e-10 * lz.abs().max(1.0));
                    for h in 0..=len {
                        for m in 1..=len {
                            let w = mu[h * (len + 1) + m];
                            assert!(
                                (at(&out.mu, h, m) - w).abs() < 1e-10,
                                "scale {scale} lane {l} {h}->{m}"
                            );
                        }
                    }
                }
            }
        }
    }
}
