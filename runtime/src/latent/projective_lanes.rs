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

use super::logspace::{exp, ln};
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

/// For every pair `q`: `w = g ⊗ exp(a(q) + b(q) − total)`, added to both
/// `ra(q)` and `rb(q)` (the adjoints of the two halves).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn spread<const TANGENT: bool>(
    lanes: usize,
    g: &[f64],
    total: &[f64],
    pairs: &[(usize, usize)],
    a: &Chart,
    b: &Chart,
    ra: &mut Chart,
    rb: &mut Chart,
    tot: &mut [f64],
) {
    // A −∞ total (no tree through the span) subtracts 0: its terms are
    // −∞ too, so their weights stay exp(−∞) = 0.
    for l in 0..lanes {
        tot[l] = if total[l] == NEG { 0.0 } else { total[l] };
        if TANGENT {
            tot[lanes + l] = if total[l] == NEG {
                0.0
            } else {
                total[lanes + l]
            };
        }
    }
    let width = if TANGENT { 2 * lanes } else { lanes };
    for &(oa, ob) in pairs {
        let (av, bv) = (&a.v[oa..oa + width], &b.v[ob..ob + width]);
        let (rav, rbv) = (&mut ra.v[oa..oa + width], &mut rb.v[ob..ob + width]);
        if TANGENT {
            let (av, at) = av.split_at(lanes);
            let (bv, bt) = bv.split_at(lanes);
            let (gv, gt) = g.split_at(lanes);
            let (tv, tt) = tot.split_at(lanes);
            let (rav, rat) = rav.split_at_mut(lanes);
            let (rbv, rbt) = rbv.split_at_mut(lanes);
            for l in 0..lanes {
                let w = exp(av[l] + bv[l] - tv[l]);
                let wv = gv[l] * w;
                let wt = w * (gt[l] + gv[l] * (at[l] + bt[l] - tt[l]));
                rav[l] += wv;
                rbv[l] += wv;
                rat[l] += wt;
                rbt[l] += wt;
            }
        } else {
            for l in 0..lanes {
                let wv = g[l] * exp(av[l] + bv[l] - tot[l]);
                rav[l] += wv;
                rbv[l] += wv;
            }
        }
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

#[inline(always)]
fn run<const TANGENT: bool, const L: usize>(
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
    let tot = &mut scratch.tot;
    for k in (1..n1).rev() {
        for i in (0..n1 - k).rev() {
            let j = i + k;
            // Complete spans first: in the forward pass they were computed last.
            g.copy_from_slice(acl.cell(i, j));
            if g.iter().any(|&x| x != 0.0) {
                pairs.clear();
                pairs.extend((i..j).map(|q| (cl.off(i, q), il.off(q, j))));
                spread::<TANGENT>(
                    lanes,
                    g,
                    cl.cell(i, j),
                    &pairs,
                    &cl,
                    &il,
                    &mut acl,
                    &mut ail,
                    tot,
                );
            }
            g.copy_from_slice(acr.cell(i, j));
            if g.iter().any(|&x| x != 0.0) {
                pairs.clear();
                pairs.extend((i + 1..=j).map(|q| (ir.off(i, q), cr.off(q, j))));
                spread::<TANGENT>(
                    lanes,
                    g,
                    cr.cell(i, j),
                    &pairs,
                    &ir,
                    &cr,
                    &mut air,
                    &mut acr,
                    tot,
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
                spread::<TANGENT>(
                    lanes,
                    g,
                    inner.cell(i, j),
                    &pairs,
                    &cr,
                    &cl,
                    &mut acr,
                    &mut acl,
                    tot,
                );
            }
        }
    }
    // Split the planes; position 0 (the root) has no head.
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
}
