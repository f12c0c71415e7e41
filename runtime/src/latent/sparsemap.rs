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

/// The solution: the active structures, their weights and `µ`; or, for
/// an answer certified inside the polytope ([`solve_exact`]), no
/// structures and the affine hull whose projection it is.
#[derive(Clone, Debug)]
pub struct Solution {
    pub structures: Vec<Sparse>,
    pub weights: Vec<f64>,
    pub mu: Vec<f64>,
    /// Active-set iterations used.
    pub iterations: usize,
    /// Whether the answer is certified the nearest point (duality gap, or
    /// moment matching for an interior one); false when a budget stopped
    /// the active set first.
    pub certified: bool,
    /// Set when `µ` is the projection onto the affine hull, certified to
    /// lie in the polytope's relative interior: the Jacobian is then the
    /// projection onto the hull's directions.
    pub interior: Option<std::sync::Arc<AffineHull>>,
    /// The Cholesky factor of the structures' Gram matrix, as the active
    /// set left it, for the VJP: refactoring hundreds of trees costs more
    /// than the forward solve did. `None`: the VJP factors them itself.
    pub factor: Option<std::sync::Arc<Cholesky>>,
}

/// `⟨a, b⟩` over the shorter of the two, in sixteen interleaved sums: a
/// single running sum is one long chain of dependent additions, which
/// the compiler may not reorder, and the Cholesky rows' products are
/// most of the active set's arithmetic. Sixteen sums are two AVX-512
/// registers (four AVX2 ones), enough independent chains to keep the
/// loads busy; written with intrinsics because the compiler vectorises
/// the portable form (below) in 128-bit halves only. Every copy adds the
/// same products in the same order, so every compiled copy of the active
/// set (see [`solve_active_set_within`]) gives the same bits.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let k = a.len().min(b.len());
    let (a, b) = (&a[..k], &b[..k]);
    #[cfg(target_arch = "x86_64")]
    match crate::vectors::vectors() {
        // SAFETY: the CPU has the features the copy is compiled for.
        crate::vectors::Vectors::Avx512Fma => return unsafe { lanes::dot_avx512(a, b) },
        // SAFETY: as above.
        crate::vectors::Vectors::Avx2Fma => return unsafe { lanes::dot_avx2(a, b) },
        crate::vectors::Vectors::Baseline => {}
    }
    dot_portable(a, b)
}

/// [`dot`] without vector instructions of its own (what the baseline copy
/// runs, and what the vector copies are tested against).
#[inline(always)]
fn dot_portable(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.chunks_exact(DOT_SUMS), b.chunks_exact(DOT_SUMS));
    let tail = dot_tail(ca.remainder(), cb.remainder());
    let mut acc = [0.0; DOT_SUMS];
    for (x, y) in ca.zip(cb) {
        for l in 0..DOT_SUMS {
            acc[l] += x[l] * y[l];
        }
    }
    dot_sum(acc, tail)
}

/// [`dot`] of `a` with each of `bs` (each at least as long as `a`) in
/// one pass over `a`: an exact projection's newcomers are
/// forward-substituted through the same rows of the factor, and one pass
/// loads each row once for all of them. Each product's sums are
/// [`dot`]'s, in its order, so the same bits.
#[inline(always)]
fn dots<const M: usize>(a: &[f64], bs: [&[f64]; M]) -> [f64; M] {
    let bs = bs.map(|b| &b[..a.len()]);
    #[cfg(target_arch = "x86_64")]
    match crate::vectors::vectors() {
        // SAFETY: the CPU has the features the copy is compiled for.
        crate::vectors::Vectors::Avx512Fma => return unsafe { lanes::dots_avx512(a, bs) },
        // SAFETY: as above.
        crate::vectors::Vectors::Avx2Fma => return unsafe { lanes::dots_avx2(a, bs) },
        crate::vectors::Vectors::Baseline => {}
    }
    bs.map(|b| dot_portable(a, b))
}

/// `out[j] ← ⟨a, bs[j]⟩` ([`dot`]'s bits), through [`dots`] four at a time.
#[inline(always)]
fn dots_into(a: &[f64], bs: &[Vec<f64>], out: &mut [f64]) {
    for (b, o) in bs.chunks(4).zip(out.chunks_mut(4)) {
        match b {
            [x] => o[0] = dot(a, x),
            [x, y] => o.copy_from_slice(&dots(a, [x, y])),
            [x, y, z] => o.copy_from_slice(&dots(a, [x, y, z])),
            [x, y, z, w] => o.copy_from_slice(&dots(a, [x, y, z, w])),
            _ => unreachable!("chunks of at most four"),
        }
    }
}

/// The interleaved sums of [`dot`].
const DOT_SUMS: usize = 16;

/// The products past the last whole group of [`DOT_SUMS`], in one sum.
#[inline(always)]
fn dot_tail(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// [`dot`]'s sums added up by halving, as a vector reduction does it.
#[inline(always)]
fn dot_sum(acc: [f64; DOT_SUMS], tail: f64) -> f64 {
    let o: [f64; 8] = std::array::from_fn(|l| acc[l] + acc[l + 8]);
    let h: [f64; 4] = std::array::from_fn(|l| o[l] + o[l + 4]);
    let q: [f64; 2] = std::array::from_fn(|l| h[l] + h[l + 2]);
    (q[0] + q[1]) + tail
}

/// [`dot`]'s sums in vector registers: sum `l` of the sixteen is lane
/// `l % w` of register `l / w` (`w` lanes per register), each a product
/// then a sum (never fused), as the portable loop does.
#[cfg(target_arch = "x86_64")]
mod lanes {
    use super::{dot_sum, dot_tail, DOT_SUMS};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_avx512(a: &[f64], b: &[f64]) -> f64 {
        let (ca, cb) = (a.chunks_exact(DOT_SUMS), b.chunks_exact(DOT_SUMS));
        let tail = dot_tail(ca.remainder(), cb.remainder());
        let (mut s0, mut s1) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        for (x, y) in ca.zip(cb) {
            // SAFETY: each chunk holds 16 values, two registers' worth.
            let (x0, x1, y0, y1) = unsafe {
                (
                    _mm512_loadu_pd(x.as_ptr()),
                    _mm512_loadu_pd(x.as_ptr().add(8)),
                    _mm512_loadu_pd(y.as_ptr()),
                    _mm512_loadu_pd(y.as_ptr().add(8)),
                )
            };
            s0 = _mm512_add_pd(s0, _mm512_mul_pd(x0, y0));
            s1 = _mm512_add_pd(s1, _mm512_mul_pd(x1, y1));
        }
        let mut acc = [0.0; DOT_SUMS];
        // SAFETY: `acc` holds 16 values.
        unsafe {
            _mm512_storeu_pd(acc.as_mut_ptr(), s0);
            _mm512_storeu_pd(acc.as_mut_ptr().add(8), s1);
        }
        dot_sum(acc, tail)
    }

    /// [`super::dots`] in AVX-512: `dot_avx512`'s sums per product.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dots_avx512<const M: usize>(a: &[f64], bs: [&[f64]; M]) -> [f64; M] {
        let whole = a.len() / DOT_SUMS * DOT_SUMS;
        let mut s = [[_mm512_setzero_pd(); 2]; M];
        for i in (0..whole).step_by(DOT_SUMS) {
            // SAFETY: `i + 16 ≤ whole ≤` every slice's length.
            let (x0, x1) = unsafe {
                (
                    _mm512_loadu_pd(a.as_ptr().add(i)),
                    _mm512_loadu_pd(a.as_ptr().add(i + 8)),
                )
            };
            for (s, b) in s.iter_mut().zip(&bs) {
                // SAFETY: as above.
                let (y0, y1) = unsafe {
                    (
                        _mm512_loadu_pd(b.as_ptr().add(i)),
                        _mm512_loadu_pd(b.as_ptr().add(i + 8)),
                    )
                };
                s[0] = _mm512_add_pd(s[0], _mm512_mul_pd(x0, y0));
                s[1] = _mm512_add_pd(s[1], _mm512_mul_pd(x1, y1));
            }
        }
        std::array::from_fn(|j| {
            let mut acc = [0.0; DOT_SUMS];
            // SAFETY: `acc` holds 16 values.
            unsafe {
                _mm512_storeu_pd(acc.as_mut_ptr(), s[j][0]);
                _mm512_storeu_pd(acc.as_mut_ptr().add(8), s[j][1]);
            }
            dot_sum(acc, dot_tail(&a[whole..], &bs[j][whole..]))
        })
    }

    /// [`super::dots`] in AVX2: `dot_avx2`'s sums per product.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dots_avx2<const M: usize>(a: &[f64], bs: [&[f64]; M]) -> [f64; M] {
        let whole = a.len() / DOT_SUMS * DOT_SUMS;
        let mut s = [[_mm256_setzero_pd(); 4]; M];
        for i in (0..whole).step_by(DOT_SUMS) {
            for r in 0..4 {
                // SAFETY: `i + 16 ≤ whole ≤` every slice's length.
                let x = unsafe { _mm256_loadu_pd(a.as_ptr().add(i + 4 * r)) };
                for (s, b) in s.iter_mut().zip(&bs) {
                    // SAFETY: as above.
                    let y = unsafe { _mm256_loadu_pd(b.as_ptr().add(i + 4 * r)) };
                    s[r] = _mm256_add_pd(s[r], _mm256_mul_pd(x, y));
                }
            }
        }
        std::array::from_fn(|j| {
            let mut acc = [0.0; DOT_SUMS];
            for (r, s) in s[j].iter().enumerate() {
                // SAFETY: `acc` holds 16 values.
                unsafe { _mm256_storeu_pd(acc.as_mut_ptr().add(4 * r), *s) };
            }
            dot_sum(acc, dot_tail(&a[whole..], &bs[j][whole..]))
        })
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn dot_avx2(a: &[f64], b: &[f64]) -> f64 {
        let (ca, cb) = (a.chunks_exact(DOT_SUMS), b.chunks_exact(DOT_SUMS));
        let tail = dot_tail(ca.remainder(), cb.remainder());
        let mut s = [_mm256_setzero_pd(); 4];
        for (x, y) in ca.zip(cb) {
            for (r, s) in s.iter_mut().enumerate() {
                // SAFETY: each chunk holds 16 values, four registers' worth.
                let (xr, yr) = unsafe {
                    (
                        _mm256_loadu_pd(x.as_ptr().add(4 * r)),
                        _mm256_loadu_pd(y.as_ptr().add(4 * r)),
                    )
                };
                *s = _mm256_add_pd(*s, _mm256_mul_pd(xr, yr));
            }
        }
        let mut acc = [0.0; DOT_SUMS];
        for (r, s) in s.iter().enumerate() {
            // SAFETY: `acc` holds 16 values.
            unsafe { _mm256_storeu_pd(acc.as_mut_ptr().add(4 * r), *s) };
        }
        dot_sum(acc, tail)
    }
}

/// What SparseMAP asks of a structure: a best structure under scores
/// `v`, as its nonzero parts in increasing order. A function returning
/// the dense structure is one; [`Parts`] wraps one that lists the parts
/// itself, with no dense copy to fill and scan (a tree is its `n` arcs in
/// `(n + 1)²` entries).
pub trait Oracle {
    fn best(&self, v: &[f64]) -> Sparse;
}

impl<F: Fn(&[f64]) -> Vec<f64> + ?Sized> Oracle for F {
    fn best(&self, v: &[f64]) -> Sparse {
        sparse(&self(v))
    }
}

/// An [`Oracle`] that returns the best structure's parts itself,
/// increasing.
pub struct Parts<F>(pub F);

impl<F: Fn(&[f64]) -> Sparse> Oracle for Parts<F> {
    fn best(&self, v: &[f64]) -> Sparse {
        let z = (self.0)(v);
        debug_assert!(
            z.windows(2).all(|w| w[0].0 < w[1].0),
            "parts in increasing order"
        );
        z
    }
}

/// A dense structure's nonzero parts.
#[inline(always)]
pub fn sparse(z: &[f64]) -> Sparse {
    z.iter()
        .enumerate()
        .filter(|(_, &v)| v != 0.0)
        .map(|(i, &v)| (i, v))
        .collect()
}

/// `⟨z, v⟩` for a sparse `z` and a dense `v`, in four interleaved sums
/// (a single one chains every addition to the last: the Gram rows, one
/// product per active structure per iteration, waited on it).
#[inline(always)]
fn sdot(z: &Sparse, v: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let c = z.chunks_exact(4);
    let tail: f64 = c.remainder().iter().map(|&(i, x)| x * v[i]).sum();
    for q in c {
        for l in 0..4 {
            acc[l] += q[l].1 * v[q[l].0];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `⟨a, b⟩` of two sparse structures, by merging their index lists.
#[inline(always)]
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
#[derive(Clone, Debug)]
pub struct Cholesky {
    rows: Vec<Vec<f64>>,
}

impl Cholesky {
    /// Appends a structure with Gram row `g` (its products with the active
    /// ones) and squared norm `gzz`. A structure (numerically) in the span
    /// of the others gets a tiny ridge on its own diagonal, as the dense
    /// solve did, so the system stays solvable.
    #[inline(always)]
    fn push(&mut self, g: &[f64], gzz: f64) {
        self.push_row(self.forward(g), gzz);
    }

    /// Appends the row `l` (a structure's Gram row, forward-substituted)
    /// with its diagonal from the structure's squared norm `zz` and the
    /// ridge of [`Cholesky::push`]; returns the diagonal.
    #[inline(always)]
    fn push_row(&mut self, mut l: Vec<f64>, zz: f64) -> f64 {
        let d = (zz - dot(&l, &l)).max(1e-10 * zz.max(1.0)).sqrt();
        l.push(d);
        self.rows.push(l);
        d
    }

    /// Drops structure `j`: deletes its row, then Givens rotations on
    /// column pairs (c, c+1) restore the triangle. `LLᵀ` keeps the other
    /// structures' Gram matrix because the rotations are orthogonal.
    /// Solves `x = L⁻¹b` given (`b` losing its entry `j`) stay current in
    /// O(k) each instead of a fresh O(k²) forward substitution (an exact
    /// SST step measured 1–3% faster, near the noise): with `G` the
    /// rotations, `L₋ⱼx = b₋ⱼ` becomes
    /// `(L₋ⱼG)(Gᵀx) = b₋ⱼ`, and `L₋ⱼG` is the new factor beside a zero
    /// column, so the new solve is `Gᵀx` without its last entry — each
    /// rotation applied to `x` as to a row.
    #[inline(always)]
    fn remove_along(&mut self, j: usize, solves: &mut [&mut Vec<f64>]) {
        self.rows.remove(j);
        let rotate = |v: &mut [f64], c: usize, cos: f64, sin: f64| {
            let (x, y) = (v[c], v[c + 1]);
            v[c] = cos * x + sin * y;
            v[c + 1] = -sin * x + cos * y;
        };
        for c in j..self.rows.len() {
            let (a, b) = (self.rows[c][c], self.rows[c][c + 1]);
            let r = a.hypot(b);
            let (cos, sin) = if r == 0.0 { (1.0, 0.0) } else { (a / r, b / r) };
            for row in &mut self.rows[c..] {
                rotate(row, c, cos, sin);
            }
            self.rows[c].truncate(c + 1);
            for x in solves.iter_mut() {
                rotate(x, c, cos, sin);
            }
        }
        for x in solves.iter_mut() {
            x.pop();
        }
    }

    /// `L⁻¹ b` by forward substitution: one row product per entry.
    #[inline(always)]
    fn forward(&self, b: &[f64]) -> Vec<f64> {
        let mut x = Vec::with_capacity(b.len() + 1);
        for (i, row) in self.rows.iter().enumerate() {
            x.push((b[i] - dot(&row[..i], &x)) / row[i]);
        }
        x
    }

    /// `x ← L⁻ᵀ x` by back substitution, walking the rows of `L` (they
    /// are contiguous): each solved entry subtracts its row from the
    /// entries before it. Four rows at a time: their 4×4 diagonal block
    /// first, then one pass subtracts all four rows from the entries
    /// below it, so each entry is loaded and stored once per four rows
    /// instead of once per row (the pass was bound by those loads and
    /// stores). Every entry sees the same subtractions in the same order
    /// as row by row, so the same bits.
    #[inline(always)]
    fn back(&self, x: &mut [f64]) {
        let mut i = self.rows.len();
        while i >= 4 {
            let b = i - 4;
            let [r0, r1, r2, r3] = [0, 1, 2, 3].map(|d| &self.rows[b + d][..=b + d]);
            x[b + 3] /= r3[b + 3];
            let x3 = x[b + 3];
            x[b + 2] -= r3[b + 2] * x3;
            x[b + 2] /= r2[b + 2];
            let x2 = x[b + 2];
            x[b + 1] -= r3[b + 1] * x3;
            x[b + 1] -= r2[b + 1] * x2;
            x[b + 1] /= r1[b + 1];
            let x1 = x[b + 1];
            x[b] -= r3[b] * x3;
            x[b] -= r2[b] * x2;
            x[b] -= r1[b] * x1;
            x[b] /= r0[b];
            let x0 = x[b];
            let rows = r3[..b].iter().zip(&r2[..b]).zip(&r1[..b]).zip(&r0[..b]);
            for (a, (((l3, l2), l1), l0)) in x[..b].iter_mut().zip(rows) {
                *a = (((*a - l3 * x3) - l2 * x2) - l1 * x1) - l0 * x0;
            }
            i = b;
        }
        self.back_rows(x, i);
    }

    /// [`Cholesky::back`] over the first `rows` rows, a row at a time
    /// (the rows past them already subtracted from `x`).
    #[inline(always)]
    fn back_rows(&self, x: &mut [f64], rows: usize) {
        for i in (0..rows).rev() {
            let row = &self.rows[i];
            x[i] /= row[i];
            let xi = x[i];
            for (a, &l) in x[..i].iter_mut().zip(&row[..i]) {
                *a -= l * xi;
            }
        }
    }

    /// The KKT solution of `[G 1; 1ᵀ 0] [β; τ] = [r; c]` from `u = L⁻¹r`
    /// and `v = L⁻¹1`: `β = L⁻ᵀ(u − τv)`, with `τ = (⟨v, u⟩ − c)/⟨v, v⟩`
    /// so that `1ᵀβ = c` (`1ᵀG⁻¹r = ⟨v, u⟩`). One back substitution.
    #[inline(always)]
    fn kkt_from(&self, u: &[f64], v: &[f64], c: f64) -> Vec<f64> {
        let tau = (dot(v, u) - c) / dot(v, v);
        let mut beta: Vec<f64> = u.iter().zip(v).map(|(a, b)| a - tau * b).collect();
        self.back(&mut beta);
        beta
    }

    /// The KKT solution of `[G 1; 1ᵀ 0] [β; τ] = [r; c]`.
    fn kkt(&self, r: &[f64], c: f64) -> Vec<f64> {
        let ones = vec![1.0; r.len()];
        self.kkt_from(&self.forward(r), &self.forward(&ones), c)
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

/// The active set's linear algebra: the Gram factor and the structures'
/// forward-substituted scores `u = L⁻¹r` and `v = L⁻¹1`, so that each KKT
/// solve is a single back substitution. Appending a structure extends `u`
/// and `v` by one entry each, exactly as a fresh forward substitution
/// would; a removal rotates them with the factor
/// ([`Cholesky::remove_along`]), equal to a fresh solve up to rounding.
struct ActiveSystem {
    chol: Cholesky,
    u: Vec<f64>,
    v: Vec<f64>,
}

impl ActiveSystem {
    fn new() -> ActiveSystem {
        ActiveSystem {
            chol: Cholesky { rows: Vec::new() },
            u: Vec::new(),
            v: Vec::new(),
        }
    }

    /// Appends the structures `zs` (`gs`: their products with the active
    /// ones) and says which it kept. Their forward substitutions through
    /// the active rows run side by side, each row's products with all of
    /// them in one pass ([`dots`]); each then continues through the
    /// newcomers kept before it. After the first, a newcomer numerically
    /// in the span of the others is refused (kept, it would get
    /// [`Cholesky::push`]'s ridge and the solves would go wrong: 32 probes
    /// a round certified answers 0.18 off on SST). The first is
    /// Frank–Wolfe's vertex, outside the active structures' span in exact
    /// arithmetic, and is always kept, as one structure a solve always was.
    #[inline(always)]
    fn push_many(&mut self, zs: &[Sparse], gs: &[Vec<f64>], s: &[f64]) -> Vec<bool> {
        let k = self.chol.rows.len();
        let mut ls: Vec<Vec<f64>> = zs
            .iter()
            .map(|_| Vec::with_capacity(k + zs.len()))
            .collect();
        let mut products = vec![0.0; zs.len()];
        for (i, row) in self.chol.rows.iter().enumerate() {
            dots_into(&row[..i], &ls, &mut products);
            for ((l, g), p) in ls.iter_mut().zip(gs).zip(&products) {
                l.push((g[i] - p) / row[i]);
            }
        }
        let mut kept = vec![false; zs.len()];
        let mut kept_before: Vec<usize> = Vec::with_capacity(zs.len());
        for (j, mut l) in ls.into_iter().enumerate() {
            for (row, &q) in self.chol.rows[k..].iter().zip(&kept_before) {
                let at = l.len();
                l.push((sparse_dot(&zs[q], &zs[j]) - dot(&row[..at], &l)) / row[at]);
            }
            let zz = sparse_dot(&zs[j], &zs[j]);
            if j > 0 && zz - dot(&l, &l) <= 1e-9 * zz.max(1.0) {
                continue;
            }
            let at = self.u.len();
            let (us, vs) = (dot(&l[..at], &self.u), dot(&l[..at], &self.v));
            let d = self.chol.push_row(l, zz);
            self.u.push((sdot(&zs[j], s) - us) / d);
            self.v.push((1.0 - vs) / d);
            kept_before.push(j);
            kept[j] = true;
        }
        kept
    }

    /// Removes the rows `drop` (increasing), rotating `L⁻¹r` and `L⁻¹1`
    /// along with the factor.
    #[inline(always)]
    fn remove(&mut self, drop: &[usize]) {
        for &j in drop.iter().rev() {
            self.chol.remove_along(j, &mut [&mut self.u, &mut self.v]);
        }
    }

    /// The weights of the projection onto the active structures' affine hull.
    #[inline(always)]
    fn solve(&self) -> Vec<f64> {
        self.chol.kkt_from(&self.u, &self.v, 1.0)
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

/// The smallest `max_iter` that asks for the exact projection: below it
/// the active set stops after `max_iter` iterations (the paper's solver
/// stops at 10); from it up it runs until its duality gap certifies the
/// answer, within [`exact_budget`].
pub const EXACT_ITERATIONS: usize = 500;

/// Active-set iterations per part allowed to an exact projection: the
/// answer needs at most one structure per part plus one (Carathéodory),
/// each added by one iteration, and drops take the rest; four per part is
/// a safety net the tests come nowhere near, not a budget (a flat 500
/// stopped SST's sentences of 25 words and more short of the answer:
/// their faces hold more trees).
const EXACT_ITERATIONS_PER_PART: usize = 4;

/// The iterations the active set may take for `max_iter` over `parts`
/// parts: `max_iter` when it truncates, else enough to converge.
pub fn exact_budget(max_iter: usize, parts: usize) -> usize {
    if max_iter < EXACT_ITERATIONS {
        max_iter
    } else {
        max_iter.max(EXACT_ITERATIONS_PER_PART * (parts + 1))
    }
}

/// Projects `s` onto the convex hull of the structures that `map` returns
/// (`map(v)` is a highest-scoring structure under scores `v`).
pub fn solve_active_set(s: &[f64], map: &dyn Oracle) -> Solution {
    solve_active_set_within(s, map, EXACT_ITERATIONS)
}

/// [`solve_active_set`] stopped after `max_iter` active-set iterations
/// when `max_iter` is below [`EXACT_ITERATIONS`] (exact from it up).
/// The result is always a convex combination of structures (a point of the
/// polytope); short of convergence it is not the nearest one. A point deep
/// inside the polytope (marginals minus a small step, as SPIGOT-CE
/// projects) needs as many structures as dimensions, one per iteration:
/// a budget of 10 is what the paper's solver (AD3's active set, as
/// lp-sparsemap wraps it) uses by default.
pub fn solve_active_set_within(s: &[f64], map: &dyn Oracle, max_iter: usize) -> Solution {
    // Compiled for the widest vectors the CPU has: the Cholesky rows'
    // products and updates are most of the time (`dot` also picks its own
    // copy at run time; the Gram rows and µ run out of line, one copy for
    // all). The same operations in the same order in every copy, so the
    // same bits.
    crate::vectors::widest_vectors!(
        (s: &[f64], map: &dyn Oracle, max_iter: usize) -> Solution {
            active_set(s, map, max_iter)
        }
    )
}

/// Trees an exact projection adds per solve beyond the Frank–Wolfe
/// vertex at the current point: each the MAP at a line-searched
/// Frank–Wolfe step from the last, all appended before one solve. The
/// probes are good columns (on SST's window they raised the MAP calls by
/// 1–4% while the solves fell to a third); 3 was the fastest of 0, 1, 2,
/// 3, 4, 6, 8, 16 and 32 (issue 21, BENCHMARKS.md).
const FRANK_WOLFE_PROBES: usize = 3;

#[inline(always)]
fn active_set(s: &[f64], map: &dyn Oracle, max_iter: usize) -> Solution {
    const TOL: f64 = 1e-10;
    let exact = max_iter >= EXACT_ITERATIONS;
    // A truncated projection stays the paper's solver, one structure per
    // iteration (its `max_iter` means that).
    let probes = if exact { FRANK_WOLFE_PROBES } else { 0 };
    let max_iter = exact_budget(max_iter, s.len());
    let mut certified = false;
    let first = map.best(s);
    let mut system = ActiveSystem::new();
    system.push_many(std::slice::from_ref(&first), &[Vec::new()], s);
    let mut codes = Codes::for_len(s.len());
    codes.push(&first);
    let mut structures = vec![first];
    let mut weights = vec![1.0];
    let mut iterations = 0;
    // Scratch, reused across iterations: a dense copy of the newest
    // structure, µ (and the slot after it that coded structures' empty
    // columns fill), the residual s − µ and the probes' point.
    let mut dense = vec![0.0; s.len()];
    let mut mu = vec![0.0; s.len() + 1];
    let mut resid = vec![0.0; s.len()];
    let mut probe = vec![0.0; s.len()];
    // Structures appended since the last solve that gave every weight
    // its sign: the last `fresh` ones, of weight 0.
    let mut fresh = 0;
    // The Frank–Wolfe vertex of the last round: met again, the round's
    // probes all went (the point did not move), so it goes alone.
    let mut last_vertex: Option<Sparse> = None;
    let mut grams: Vec<Vec<f64>> = Vec::new();
    while iterations < max_iter {
        iterations += 1;
        let beta = system.solve();
        let k = weights.len();
        if beta.iter().all(|&b| b >= -TOL) {
            weights.clear();
            weights.extend(beta.iter().map(|&b| b.max(0.0)));
            fresh = 0;
            codes.combine_into(&mut mu, &structures, &weights);
            for ((d, a), b) in resid.iter_mut().zip(s).zip(&mu) {
                *d = a - b;
            }
            // Optimal iff no structure points further along s − µ than µ does.
            let z = map.best(&resid);
            let gap = sdot(&z, &resid) - dot(&mu[..s.len()], &resid);
            if gap <= TOL * (1.0 + dot(&resid, &resid).sqrt()) || structures.contains(&z) {
                certified = true;
                break;
            }
            let probes = if last_vertex.as_ref() == Some(&z) {
                0
            } else {
                probes
            };
            last_vertex = (probes > 0).then(|| z.clone());
            let mut newcomers = vec![z];
            probe.copy_from_slice(&mu[..s.len()]);
            for _ in 0..probes {
                // The exact line search of ½‖p − s‖² from p towards z.
                let z = newcomers.last().expect("the vertex");
                let along = sdot(z, &resid) - dot(&probe, &resid);
                let dist = sparse_dot(z, z) - 2.0 * sdot(z, &probe) + dot(&probe, &probe);
                if !(along > 0.0 && dist > 0.0) {
                    break;
                }
                let step = (along / dist).min(1.0);
                probe.iter_mut().for_each(|p| *p *= 1.0 - step);
                for &(i, x) in z {
                    probe[i] += step * x;
                }
                for ((d, a), b) in resid.iter_mut().zip(s).zip(&probe) {
                    *d = a - b;
                }
                let next = map.best(&resid);
                if structures.contains(&next) || newcomers.contains(&next) {
                    break;
                }
                newcomers.push(next);
            }
            // The newcomers' products with the active structures: by codes
            // where they fit, else read through a dense copy of each
            // (gathers, no index merging).
            grams.resize_with(newcomers.len(), Vec::new);
            for (z, g) in newcomers.iter().zip(&mut grams) {
                if !codes.gram_row(g, z) {
                    for &(i, x) in z {
                        dense[i] = x;
                    }
                    gram_row(g, &structures, &dense);
                    for &(i, _) in z {
                        dense[i] = 0.0;
                    }
                }
            }
            let kept = system.push_many(&newcomers, &grams[..newcomers.len()], s);
            // Each structure added counts as an iteration, as when they
            // came one per solve (the safety net is per structure).
            iterations += kept.iter().filter(|&&k| k).count() - 1;
            for (z, kept) in newcomers.into_iter().zip(kept) {
                if kept {
                    codes.push(&z);
                    structures.push(z);
                    weights.push(0.0);
                    fresh += 1;
                }
            }
        } else if let Some(j) = (k - fresh..k)
            .filter(|&i| beta[i] < -TOL)
            .min_by(|&a, &b| beta[a].total_cmp(&beta[b]))
        {
            // A newcomer (weight 0) the solve gives a negative weight would
            // stop the move below at once: drop the most negative alone
            // (all at once, the set could lose every newcomer and cycle).
            system.remove(&[j]);
            codes.remove(j);
            structures.remove(j);
            weights.remove(j);
            fresh -= 1;
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
            drop_light(&mut system, &mut codes, &mut structures, &mut weights, TOL);
            fresh = 0;
        }
    }
    // Final support: drop zero weights so the Jacobian sees only the face.
    drop_light(&mut system, &mut codes, &mut structures, &mut weights, 0.0);
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|a| *a /= total);
    codes.combine_into(&mut mu, &structures, &weights);
    mu.truncate(s.len());
    if exact && !certified {
        say_safety_net_reached(s.len(), max_iter);
    }
    Solution {
        structures,
        weights,
        mu,
        iterations,
        certified,
        interior: None,
        factor: Some(std::sync::Arc::new(system.chol)),
    }
}

/// An exact projection that its safety net stopped is a point of the
/// polytope, not the nearest one: said once per process on standard
/// error, never passed off in silence (no test has come near the net).
fn say_safety_net_reached(parts: usize, budget: usize) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        eprintln!(
            "warning: an exact projection (max_iter ≥ {EXACT_ITERATIONS}) over {parts} parts \
             stopped at its safety net of {budget} active-set iterations before its duality \
             gap certified it: that answer is a point of the polytope, not yet the nearest"
        )
    });
}

/// Drops the active structures of weight at most `floor`, with their
/// rows of the system.
#[inline(always)]
fn drop_light(
    system: &mut ActiveSystem,
    codes: &mut Codes,
    structures: &mut Vec<Sparse>,
    weights: &mut Vec<f64>,
    floor: f64,
) {
    let drop: Vec<usize> = (0..weights.len())
        .filter(|&i| weights[i] <= floor)
        .collect();
    system.remove(&drop);
    for &i in drop.iter().rev() {
        codes.remove(i);
        structures.remove(i);
        weights.remove(i);
    }
}

/// The active structures as column codes, while every one has at most
/// one part in each column of a square layout, of value 1 (trees in the
/// `(n+1)²` arc layout: one head per word, so a tree is its heads): a
/// structure's code in column `c` is the index of its part there (row ×
/// width + c). Two such structures share as many parts as columns with
/// equal codes, so a new structure's Gram row is a few vector compares
/// per active structure instead of a gather per part, and `µ` reads two
/// bytes per part instead of sixteen and adds its weight where the code
/// points (the two were a quarter of an exact SST projection's time).
/// An empty column's code points one past the parts, at a slot that
/// [`Codes::combine_into`] fills and nobody reads, so the sum needs no
/// test per column. Exact: the products are the same small integers, and
/// `µ` adds the same weights (times 1) to each entry in the same order,
/// so the same bits.
struct Codes {
    width: usize,
    /// Row after row of codes, one row per active structure; `None` once
    /// a structure did not fit (the active set then reads the parts).
    rows: Option<Vec<u16>>,
    /// One structure's codes, reused (two allocations per iteration
    /// showed in the late, small faces).
    scratch: Vec<u16>,
}

impl Codes {
    /// The widest square layout coded: its parts, the empty columns' slot
    /// and the queries' mark must be two-byte codes (255² + 2 ≤ 2¹⁶;
    /// trees of up to 254 words; wider ones are read through their parts).
    const MAX_WIDTH: usize = 255;

    fn for_len(len: usize) -> Codes {
        let width = (len as f64).sqrt().round() as usize;
        // No parts (a sentence of no words): nothing to code.
        let fits = width > 0 && width * width == len && width <= Codes::MAX_WIDTH;
        Codes {
            width,
            rows: fits.then(Vec::new),
            scratch: Vec::new(),
        }
    }

    /// A stored empty column's code: the slot one past the parts.
    fn empty(&self) -> u16 {
        debug_assert!(self.width <= Codes::MAX_WIDTH, "a two-byte slot and mark");
        (self.width * self.width) as u16
    }

    /// A query's empty column: a code no stored column holds, so that it
    /// matches nothing.
    fn empty_query(&self) -> u16 {
        self.empty() + 1
    }

    /// `z`'s codes into `out`, empty columns marked `empty`; false if it
    /// does not fit.
    #[inline(always)]
    fn of(&self, z: &Sparse, empty: u16, out: &mut Vec<u16>) -> bool {
        out.clear();
        out.resize(self.width, empty);
        for &(i, x) in z {
            let column = i % self.width;
            if x != 1.0 || out[column] != empty {
                return false;
            }
            out[column] = i as u16;
        }
        true
    }

    #[inline(always)]
    fn push(&mut self, z: &Sparse) {
        let Some(mut rows) = self.rows.take() else {
            return;
        };
        let mut code = std::mem::take(&mut self.scratch);
        if self.of(z, self.empty(), &mut code) {
            rows.extend_from_slice(&code);
            self.rows = Some(rows);
        }
        self.scratch = code;
    }

    #[inline(always)]
    fn remove(&mut self, i: usize) {
        if let Some(rows) = &mut self.rows {
            rows.drain(i * self.width..(i + 1) * self.width);
        }
    }

    /// `g ← (⟨y, z⟩)_y` over the active structures by their codes; false
    /// (and `g` untouched) where `z` or an active structure does not fit.
    #[inline(always)]
    fn gram_row(&mut self, g: &mut Vec<f64>, z: &Sparse) -> bool {
        if self.rows.is_none() {
            return false;
        }
        let mut query = std::mem::take(&mut self.scratch);
        let fits = self.of(z, self.empty_query(), &mut query);
        if let (true, Some(rows)) = (fits, &self.rows) {
            shared_columns(g, rows, &query);
        }
        self.scratch = query;
        fits
    }

    /// `µ ← Σ_i w_i z_i`, by codes where the structures fit. `mu` holds
    /// one slot past the parts (the empty columns'), left unspecified.
    #[inline(always)]
    fn combine_into(&self, mu: &mut [f64], structures: &[Sparse], weights: &[f64]) {
        match &self.rows {
            Some(rows) => combine_codes(
                &mut mu[..=self.width * self.width],
                rows,
                self.width,
                weights,
            ),
            None => combine_into(mu, structures, weights),
        }
    }
}

/// `g ← ` the number of columns where each row of `rows` (rows of
/// `query.len()` codes) equals `query`. Counted in two-byte sums (a row
/// is at most [`Codes::MAX_WIDTH`] columns) so that a vector register
/// compares and counts as many codes as it holds, in the widest vectors
/// the CPU has.
#[inline(never)]
fn shared_columns(g: &mut Vec<f64>, rows: &[u16], query: &[u16]) {
    // Loops, not closures: a closure is compiled without the copy's
    // vector features (and was called once per row).
    crate::vectors::widest_vectors!((g: &mut Vec<f64>, rows: &[u16], query: &[u16]) -> () {
        g.clear();
        for y in rows.chunks_exact(query.len()) {
            let mut shared = 0u16;
            for (a, b) in y.iter().zip(query) {
                shared += u16::from(a == b);
            }
            g.push(f64::from(shared));
        }
    })
}

/// [`combine_into`] over coded structures: `mu` is the parts and the
/// empty columns' slot after them.
#[inline(never)]
fn combine_codes(mu: &mut [f64], rows: &[u16], width: usize, weights: &[f64]) {
    mu.fill(0.0);
    for (y, &a) in rows.chunks_exact(width).zip(weights) {
        for &code in y {
            mu[usize::from(code)] += a;
        }
    }
}

/// `µ ← Σ_i w_i z_i`. Out of line, as [`gram_row`]: inlined into the
/// active set's body, both loops kept their pointers and bounds on the
/// stack (the body holds more live values than there are registers).
#[inline(never)]
fn combine_into(mu: &mut [f64], structures: &[Sparse], weights: &[f64]) {
    mu.fill(0.0);
    for (z, &a) in structures.iter().zip(weights) {
        for &(i, x) in z {
            mu[i] += a * x;
        }
    }
}

/// `g ← (⟨y, d⟩)_y` over the structures, `d` dense: a new structure's
/// Gram row (through a dense copy of it), or the structures' products
/// with a gradient.
#[inline(never)]
fn gram_row(g: &mut Vec<f64>, structures: &[Sparse], d: &[f64]) {
    g.clear();
    g.extend(structures.iter().map(|y| sdot(y, d)));
}

/// The affine hull of a polytope of structures whose only equalities are
/// "these parts sum to 1" (for trees: each word's heads, and the root's
/// arcs under a single root): `A = {µ : Eµ = 1}` over the parts, `E` the
/// groups' indicator rows. Every structure lies in it, so when the
/// projection of a point onto `A` lies in the polytope it is the
/// projection onto the polytope, with no structure enumerated.
#[derive(Debug)]
pub struct AffineHull {
    /// Every part some group holds, increasing.
    parts: Vec<usize>,
    groups: Vec<Vec<usize>>,
    /// A Cholesky factor of `EEᵀ` over the independent groups (a group
    /// implied by the others, as both groups of a one-word sentence, is
    /// left out: its equality holds already).
    factor: Vec<Vec<f64>>,
    independent: Vec<usize>,
}

impl AffineHull {
    pub fn new(groups: Vec<Vec<usize>>) -> AffineHull {
        let mut parts: Vec<usize> = groups.iter().flatten().copied().collect();
        parts.sort_unstable();
        parts.dedup();
        let overlap = |a: &[usize], b: &[usize]| a.iter().filter(|i| b.contains(i)).count() as f64;
        let mut hull = AffineHull {
            parts,
            groups,
            factor: Vec::new(),
            independent: Vec::new(),
        };
        for g in 0..hull.groups.len() {
            let row: Vec<f64> = hull
                .independent
                .iter()
                .map(|&h| overlap(&hull.groups[g], &hull.groups[h]))
                .collect();
            let mut l = Vec::with_capacity(row.len() + 1);
            for (i, lrow) in hull.factor.iter().enumerate() {
                let t: f64 = lrow[..i].iter().zip(&l).map(|(a, b)| a * b).sum();
                l.push((row[i] - t) / lrow[i]);
            }
            let d2 = hull.groups[g].len() as f64 - l.iter().map(|x| x * x).sum::<f64>();
            if d2 > 1e-9 * hull.groups[g].len() as f64 {
                l.push(d2.sqrt());
                hull.factor.push(l);
                hull.independent.push(g);
            }
        }
        hull
    }

    /// `v − Eᵀ(EEᵀ)⁻¹(Ev − c)` over the parts, zero elsewhere: the
    /// projection onto `{Eµ = c}` (`c = 1`: the hull; `c = 0`: its
    /// directions).
    fn project_onto(&self, v: &[f64], c: f64) -> Vec<f64> {
        let rhs: Vec<f64> = self
            .independent
            .iter()
            .map(|&g| self.groups[g].iter().map(|&i| v[i]).sum::<f64>() - c)
            .collect();
        let k = rhs.len();
        let mut y = vec![0.0; k];
        for i in 0..k {
            let t: f64 = self.factor[i][..i].iter().zip(&y).map(|(a, b)| a * b).sum();
            y[i] = (rhs[i] - t) / self.factor[i][i];
        }
        for i in (0..k).rev() {
            y[i] /= self.factor[i][i];
            let yi = y[i];
            for (a, &l) in y[..i].iter_mut().zip(&self.factor[i][..i]) {
                *a -= l * yi;
            }
        }
        let mut out = vec![0.0; v.len()];
        for &i in &self.parts {
            out[i] = v[i];
        }
        for (&g, &w) in self.independent.iter().zip(&y) {
            for &i in &self.groups[g] {
                out[i] -= w;
            }
        }
        out
    }

    /// The projection of `v` onto the hull.
    pub fn project(&self, v: &[f64]) -> Vec<f64> {
        self.project_onto(v, 1.0)
    }

    /// The projection of `v` onto the hull's directions: the Jacobian of
    /// the projection onto the polytope at a point of its relative
    /// interior (symmetric, so also its VJP).
    pub fn direction(&self, v: &[f64]) -> Vec<f64> {
        self.project_onto(v, 0.0)
    }
}

/// How close the Gibbs marginals found by moment matching must come to
/// the hull projection, per part, for it to count as a point of the
/// polytope: the answer is then within this of a point of the polytope
/// (the marginals), far inside what the active set's own stopping rule
/// guarantees (a duality gap of 1e-10 bounds the distance to the
/// projection by 1e-5). 1e-9 costs a quarter more marginals calls on SST.
pub const INTERIOR_TOL: f64 = 1e-8;

/// Marginals calls moment matching may make before the interior
/// certificate gives up and the active set decides.
const MATCHING_CALLS: usize = 100;

/// Marginals calls moment matching makes before each accepted step is
/// also tested by [`map_separates`]: SPIGOT-CE's points, inside, are
/// matched after about 15 calls, where the tests only slowed its exact
/// SST step (0.904 → 0.965 s for 20 steps when testing from the first
/// call, 0.911 s from the twentieth); SparseMAP's hopeless searches were
/// first proven by it after 28 calls on average.
const SEPARATION_AFTER: usize = 20;

/// Curvature pairs L-BFGS keeps.
const LBFGS_MEMORY: usize = 10;

/// Moment matching at one `θ`: the objective, its gradient and `µ`, over
/// the hull's parts.
type Fit = (f64, Vec<f64>, Vec<f64>);

/// Gibbs marginals and log-partition of scores `θ` (flat, like `s`).
pub type Marginals<'a> = &'a dyn Fn(&[f64]) -> (f64, Vec<f64>);

/// Whether `z` (positive on the hull's parts) is the marginal vector of a
/// Gibbs distribution over the structures, to [`INTERIOR_TOL`] per part:
/// minimises the convex `log Z(θ) − ⟨θ, z⟩`, whose gradient is `µ(θ) − z`
/// and whose minimiser exists exactly when `z` is in the polytope's
/// relative interior. L-BFGS from `θ = ln z` or one of `starts` (scores
/// shaped like `z`), whichever fits best, its first inverse Hessian
/// `diag(1/µ)` (the head-selection model's, where each group is an
/// independent choice), Armijo backtracking so that no step overshoots.
/// Returns the marginals calls made, or `None` without convergence — at
/// once when the objective goes below zero, which proves `z` outside the
/// polytope: for any distribution `p` over the structures with marginals
/// `z`, `log Z(θ) ≥ ⟨θ, z⟩ + H(p) ≥ ⟨θ, z⟩` (the variational form of
/// `log Z`). Sooner still, by the same bound with the entropy and the
/// log-sum's slack dropped: `max_y ⟨θ, y⟩ ≥ ⟨θ, z⟩` for every point `z`
/// of the polytope, so one `map` call at each accepted `θ` is a proof too
/// when its best structure scores below `⟨θ, z⟩` (the test is blind to
/// the scale of `θ`, where the first waits for it to grow; tested from
/// [`SEPARATION_AFTER`] calls on). SparseMAP of scores near zero
/// projects onto the hull just outside the tree polytope: over the 361
/// such projections of SST's first 20 training steps, refusing took 49
/// marginals calls on average without this test, 39 (and 6 MAP calls)
/// with it.
pub fn matches_gibbs_marginals(
    z: &[f64],
    hull: &AffineHull,
    marginals: Marginals,
    map: &dyn Oracle,
    starts: &[&[f64]],
) -> Option<usize> {
    let parts = &hull.parts;
    if !positive_on(parts, z) {
        return None;
    }
    let target: Vec<f64> = parts.iter().map(|&i| z[i]).collect();
    let mut full = vec![0.0; z.len()];
    let mut scores = vec![0.0; z.len()];
    let calls = std::cell::Cell::new(0);
    let outside = std::cell::Cell::new(false);
    // The objective, its gradient and µ over the parts at θ.
    let mut eval = |theta: &[f64]| -> Option<Fit> {
        calls.set(calls.get() + 1);
        for (&i, &t) in parts.iter().zip(theta) {
            full[i] = t;
        }
        let (log_z, mu) = marginals(&full);
        let mu: Vec<f64> = parts.iter().map(|&i| mu[i]).collect();
        if !log_z.is_finite() || mu.iter().any(|m| !(*m > 0.0 && m.is_finite())) {
            return None;
        }
        let fit = dot(theta, &target);
        let f = log_z - fit;
        // Below zero by more than the rounding of the difference.
        if f < -1e-12 * (1.0 + log_z.abs() + fit.abs()) {
            outside.set(true);
        }
        let g = mu.iter().zip(&target).map(|(m, x)| m - x).collect();
        Some((f, g, mu))
    };
    // Start from whichever of ln z and the given scores fits z best.
    let mut best: Option<(Vec<f64>, Fit)> = None;
    let candidates = std::iter::once(target.iter().map(|x| x.ln()).collect::<Vec<f64>>())
        .chain(starts.iter().map(|v| parts.iter().map(|&i| v[i]).collect()));
    for theta in candidates {
        if let Some(at) = eval(&theta) {
            let worst = |g: &[f64]| g.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            if best
                .as_ref()
                .is_none_or(|(_, b)| worst(&at.1) < worst(&b.1))
            {
                best = Some((theta, at));
            }
        }
    }
    if outside.get() {
        return None;
    }
    let (mut theta, (mut f, mut g, mut mu)) = best?;
    let mut pairs: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    // Half the head-selection Newton step at first: trees couple the
    // groups, so the full step overshoots (and backtracks) twice as often.
    let mut scale = 0.5;
    loop {
        if g.iter().all(|x| x.abs() <= INTERIOR_TOL) {
            return Some(calls.get());
        }
        if calls.get() >= MATCHING_CALLS {
            return None;
        }
        let d = lbfgs_direction(&g, &mu, scale, &pairs);
        let slope = dot(&g, &d);
        if slope.is_nan() || slope >= 0.0 {
            return None;
        }
        let mut step = 1.0;
        let (next, f2, g2, mu2) = loop {
            let next: Vec<f64> = theta.iter().zip(&d).map(|(t, d)| t + step * d).collect();
            let at = eval(&next);
            if outside.get() {
                return None;
            }
            if let Some((f2, g2, mu2)) = at {
                // Near the minimiser the decrease drowns in log Z's
                // rounding: a step that keeps f within it is taken too.
                if f2 <= f + 1e-4 * step * slope || f2 - f <= 1e-13 * (1.0 + f.abs()) {
                    break (next, f2, g2, mu2);
                }
            }
            if calls.get() >= MATCHING_CALLS {
                return None;
            }
            step *= 0.5;
        };
        let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g2.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 0.0 {
            // The first inverse Hessian diag(1/µ), scaled to the last pair.
            let yhy: f64 = y.iter().zip(&mu2).map(|(y, m)| y * y / m).sum();
            scale = sy / yhy;
            pairs.push_back((s, y, 1.0 / sy));
            if pairs.len() > LBFGS_MEMORY {
                pairs.pop_front();
            }
        }
        (theta, f, g, mu) = (next, f2, g2, mu2);
        // Each accepted step's scores, once the search has run long:
        // testing the backtracking ones too costs more MAP calls than it
        // saves marginals calls, and so does testing the early steps of
        // the searches that succeed.
        if calls.get() >= SEPARATION_AFTER
            && map_separates(&theta, &target, parts, map, &mut scores)
        {
            return None;
        }
    }
}

/// Whether `z` is positive and finite on every part: where moment
/// matching can search from (the interior of the polytope is positive).
fn positive_on(parts: &[usize], z: &[f64]) -> bool {
    parts.iter().all(|&i| z[i] > 0.0 && z[i].is_finite())
}

/// Whether scores `θ` (over `parts`) prove `z` (`target`, over the same
/// parts) outside the polytope: `max_y ⟨θ, y⟩ < ⟨θ, z⟩` beyond rounding,
/// which no point of the polytope allows. `scores` is scratch of the flat
/// layout, zero off the parts.
fn map_separates(
    theta: &[f64],
    target: &[f64],
    parts: &[usize],
    map: &dyn Oracle,
    scores: &mut [f64],
) -> bool {
    for (&i, &t) in parts.iter().zip(theta) {
        scores[i] = t;
    }
    let best_structure = map.best(scores);
    let (fit, best) = (dot(theta, target), sdot(&best_structure, scores));
    // Rounding grows with the terms' magnitudes, not the sums' (which may
    // cancel); `z` is positive on the parts.
    let magnitude = abs_dot(theta, target)
        + best_structure
            .iter()
            .map(|&(i, x)| (x * scores[i]).abs())
            .sum::<f64>();
    fit - best > 1e-12 * (1.0 + magnitude)
}

/// `Σ |aᵢ bᵢ|`, for rounding bounds.
fn abs_dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum()
}

/// `−H g` by the two-loop recursion over the kept pairs `(s, y, 1/sᵀy)`,
/// with `scale · diag(1/µ)` as the first inverse Hessian.
fn lbfgs_direction(
    g: &[f64],
    mu: &[f64],
    scale: f64,
    pairs: &std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)>,
) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(pairs.len());
    for (s, y, rho) in pairs.iter().rev() {
        let a = rho * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(q, y)| *q -= a * y);
        alphas.push(a);
    }
    q.iter_mut().zip(mu).for_each(|(q, m)| *q *= scale / m);
    for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
        let b = rho * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(q, s)| *q += (a - b) * s);
    }
    q.iter_mut().for_each(|q| *q = -*q);
    q
}

/// The exact projection (SparseMAP) of `s`: first the projection onto the
/// affine hull, accepted when it is positive and moment matching
/// certifies it inside the polytope (an answer deep inside needs as many
/// structures as dimensions, which the active set adds one per
/// iteration: O(n⁶) for trees); otherwise the active set, with at most
/// `max_iter` iterations. `outside` is the structure's cheap proof that a
/// point of the hull is not in the polytope (a valid inequality it
/// violates, e.g. [`super::exclusive_arcs`] for projective trees; `|_|
/// false` where there is none): a positive hull point it refuses skips
/// moment matching, whose refusals cost tens of marginals calls. Where
/// moment matching would have refused, the answer is the same to the
/// bit; a point outside by less than moment matching's tolerance (1e-8
/// per part), which it might have accepted, now gets the active set's
/// exact projection instead.
pub fn solve_exact(
    s: &[f64],
    map: &dyn Oracle,
    hull: &std::sync::Arc<AffineHull>,
    marginals: Marginals,
    outside: &dyn Fn(&[f64]) -> bool,
    starts: &[&[f64]],
    max_iter: usize,
) -> Solution {
    if !hull.parts.is_empty() {
        let z = hull.project(s);
        // Moment matching refuses a point that is not positive at once;
        // the proof is asked only of those it would search from.
        if positive_on(&hull.parts, &z)
            && !outside(&z)
            && matches_gibbs_marginals(&z, hull, marginals, map, starts).is_some()
        {
            return Solution {
                structures: Vec::new(),
                weights: Vec::new(),
                mu: z,
                iterations: 0,
                certified: true,
                interior: Some(std::sync::Arc::clone(hull)),
                factor: None,
            };
        }
    }
    solve_active_set_within(s, map, max_iter)
}

impl Solution {
    /// The VJP (and JVP — the Jacobian is symmetric) with `g`:
    /// `Z (M⁻¹ − M⁻¹11ᵀM⁻¹ / 1ᵀM⁻¹1) Zᵀ g` over the active set, i.e. the
    /// change of `µ` when `s` moves by `g` and the active face stays.
    pub fn vjp(&self, g: &[f64]) -> Vec<f64> {
        if let Some(hull) = &self.interior {
            return hull.direction(g);
        }
        let mut r = Vec::with_capacity(self.structures.len());
        gram_row(&mut r, &self.structures, g);
        let beta = match &self.factor {
            Some(chol) => chol.kkt(&r, 0.0),
            None => Cholesky::of(&self.structures).kkt(&r, 0.0),
        };
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
    use super::super::{brute, exclusive_arcs, nonprojective, projective};
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
    fn back_substitution_by_four_rows_has_the_row_by_row_bits() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        for k in (0..=40).chain([63, 64, 65, 130]) {
            let rows: Vec<Vec<f64>> = (0..k)
                .map(|i| {
                    let mut row: Vec<f64> = (0..i).map(|_| rng.random_range(-2.0..2.0)).collect();
                    // Diagonals far from 1, some tiny, so that the
                    // divisions round.
                    row.push(if i % 7 == 3 {
                        1e-9
                    } else {
                        rng.random_range(0.1..3.0)
                    });
                    row
                })
                .collect();
            let chol = Cholesky { rows };
            let x: Vec<f64> = (0..k).map(|_| rng.random_range(-1e3..1e3)).collect();
            let (mut by_four, mut by_row) = (x.clone(), x);
            chol.back(&mut by_four);
            chol.back_rows(&mut by_row, k);
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&by_four), bits(&by_row), "k = {k}");
        }
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
        // A right-hand side per structure, solved along with the drops.
        let mut rhs = vec![0.3, -1.0, 2.0, 0.25, -0.5];
        let mut solved = chol.forward(&rhs);
        for drop in [2, 0] {
            chol.remove_along(drop, &mut [&mut solved]);
            kept.remove(drop);
            rhs.remove(drop);
            for (a, b) in solved.iter().zip(chol.forward(&rhs)) {
                assert!((a - b).abs() < 1e-12, "rotated {a} vs solved afresh {b}");
            }
            assert_eq!(solved.len(), kept.len());
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
        // And it solves: G x = b, and the KKT system G β − τ1 = b, 1ᵀβ = c.
        let b = vec![1.0, -2.0, 0.5];
        let mut x = chol.forward(&b);
        chol.back(&mut x);
        let beta = chol.kkt(&b, 0.7);
        assert!((beta.iter().sum::<f64>() - 0.7).abs() < 1e-12);
        let gram = |a: usize, c: usize| sparse_dot(&zs[kept[a]], &zs[kept[c]]);
        let tau = (0..3).map(|c| gram(0, c) * beta[c]).sum::<f64>() - b[0];
        for (a, &want) in b.iter().enumerate() {
            let got: f64 = (0..3).map(|c| gram(a, c) * x[c]).sum();
            assert!((got - want).abs() < 1e-10);
            let kkt: f64 = (0..3).map(|c| gram(a, c) * beta[c]).sum::<f64>() - tau;
            assert!((kkt - want).abs() < 1e-10);
        }
    }

    #[test]
    fn the_active_system_solves_as_a_fresh_factor_after_pushes_and_removals() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        let zs: Vec<Sparse> = (0..9)
            .map(|_| {
                let dense: Vec<f64> = (0..12)
                    .map(|_| f64::from(u8::from(rng.random::<f64>() < 0.4)))
                    .collect();
                sparse(&dense)
            })
            .filter(|z| !z.is_empty())
            .collect();
        let s: Vec<f64> = (0..12).map(|_| rng.random::<f64>() - 0.5).collect();
        let mut system = ActiveSystem::new();
        let mut kept: Vec<usize> = Vec::new();
        let check = |system: &ActiveSystem, kept: &[usize]| {
            let active: Vec<Sparse> = kept.iter().map(|&i| zs[i].clone()).collect();
            let r: Vec<f64> = active.iter().map(|z| sdot(z, &s)).collect();
            let want = Cholesky::of(&active).kkt(&r, 1.0);
            assert_eq!(system.solve().len(), want.len());
            for (a, b) in system.solve().iter().zip(&want) {
                assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
        };
        let push = |system: &mut ActiveSystem, kept: &mut Vec<usize>, new: &[usize]| {
            let newcomers: Vec<Sparse> = new.iter().map(|&i| zs[i].clone()).collect();
            let grams: Vec<Vec<f64>> = newcomers
                .iter()
                .map(|z| kept.iter().map(|&j| sparse_dot(&zs[j], z)).collect())
                .collect();
            let took = system.push_many(&newcomers, &grams, &s);
            kept.extend(new.iter().zip(&took).filter(|(_, &t)| t).map(|(&i, _)| i));
            took
        };
        assert_eq!(zs.len(), 9, "the seed's structures");
        // One, two and three at a time, with removals in between.
        for (round, new) in [&[0][..], &[1, 2], &[3, 4, 5], &[6], &[7, 8]]
            .iter()
            .enumerate()
        {
            assert!(push(&mut system, &mut kept, new).iter().all(|&t| t));
            check(&system, &kept);
            if round % 2 == 1 {
                system.remove(&[1]);
                kept.remove(1);
                check(&system, &kept);
            }
            if round == 3 {
                // Several at once, the first and the last among them.
                let last = kept.len() - 1;
                system.remove(&[0, 2, last]);
                for j in [last, 2, 0] {
                    kept.remove(j);
                }
                check(&system, &kept);
            }
        }
        // A newcomer after the first that an active structure (or an
        // earlier newcomer) repeats is in their span: refused.
        let (active, gone) = (
            kept[0],
            (0..9).find(|i| !kept.contains(i)).expect("one removed"),
        );
        let took = push(&mut system, &mut kept, &[gone, active, gone]);
        assert_eq!(took, [true, false, false]);
        check(&system, &kept);
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

    /// Uniform arc scores in `[−scale, scale]` over `n` words, masked.
    fn near_zero(seed: u64, n: usize, scale: f64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let v = (0..(n + 1) * (n + 1))
            .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * scale)
            .collect();
        masked(n, v)
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
            assert!(exact.certified && !first.certified);
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

    #[test]
    fn an_exact_projection_with_probes_lands_on_the_one_tree_per_solve_answer() {
        // Beyond enumeration (n up to 14, faces of up to ~150 trees): the
        // exact projection (probes on) against the active set one
        // structure per solve (a budget just under the exact one).
        // Distinct structures, both certified, the same µ.
        for (case, n) in (6..=14).enumerate() {
            for (proj, single) in [(true, false), (true, true), (false, false)] {
                let s = near_zero(900 + case as u64, n, 0.3);
                let map = tree_oracle(n, proj, single);
                let probed = solve_active_set(&s, &map);
                let one_by_one = solve_active_set_within(&s, &map, EXACT_ITERATIONS - 1);
                assert!(probed.certified && one_by_one.certified, "n {n}");
                let mut seen = probed.structures.clone();
                seen.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
                seen.dedup();
                assert_eq!(seen.len(), probed.structures.len(), "n {n}: a tree twice");
                for (a, b) in probed.mu.iter().zip(&one_by_one.mu) {
                    assert!((a - b).abs() < 1e-8, "n {n} proj {proj}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn an_exact_projection_onto_a_face_of_more_than_500_trees_is_certified() {
        // Scores near zero over 30 words: the answer lies on a face of
        // hundreds of trees (SST early in training); 500 iterations once
        // stopped such sentences short of it.
        let n = 30;
        let s = near_zero(25, n, 0.01);
        let oracle = tree_oracle(n, true, true);
        let sol = solve_active_set_within(&s, &oracle, EXACT_ITERATIONS);
        assert!(
            sol.iterations > EXACT_ITERATIONS,
            "{} iterations",
            sol.iterations
        );
        assert!(sol.iterations < exact_budget(EXACT_ITERATIONS, s.len()));
        assert!(sol.certified);
        // The certificate, recomputed here: no tree reaches further along
        // s − µ than µ itself.
        let resid: Vec<f64> = s.iter().zip(&sol.mu).map(|(a, b)| a - b).collect();
        let best = oracle(&resid);
        let gap = dot(&best, &resid) - dot(&sol.mu, &resid);
        assert!(gap <= 1e-9, "duality gap {gap}");
        assert!((sol.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let truncated = solve_active_set_within(&s, &oracle, EXACT_ITERATIONS - 1);
        assert_eq!(truncated.iterations, EXACT_ITERATIONS - 1);
        assert!(!truncated.certified, "a truncated answer is not certified");
    }

    #[test]
    fn every_vector_compiled_active_set_gives_the_baseline_copys_bits() {
        let n = 14;
        let s = near_zero(26, n, 0.1);
        let oracle = tree_oracle(n, true, true);
        // `dot` picks its vector copy at run time too: the baseline is
        // the first copy, with every kernel narrowed to it.
        let mut baseline = None;
        crate::vectors::for_each_supported(|_| {
            baseline.get_or_insert_with(|| active_set(&s, &oracle, EXACT_ITERATIONS));
        });
        let baseline = baseline.expect("the baseline copy runs everywhere");
        assert!(baseline.structures.len() > 20, "a face of many trees");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut copies = Vec::new();
        crate::vectors::for_each_supported(|copy| {
            let sol = solve_active_set_within(&s, &oracle, EXACT_ITERATIONS);
            assert_eq!(sol.iterations, baseline.iterations, "{copy:?}");
            assert_eq!(sol.structures, baseline.structures, "{copy:?}");
            assert_eq!(bits(&sol.weights), bits(&baseline.weights), "{copy:?}");
            assert_eq!(bits(&sol.mu), bits(&baseline.mu), "{copy:?}");
            copies.push(copy);
        });
        #[cfg(target_arch = "x86_64")]
        assert!(
            copies.len() > 1,
            "no vector copy ran on this x86-64 CPU: {copies:?}"
        );
    }

    #[test]
    fn every_copy_of_dot_gives_the_same_bits_at_every_length() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
        // Empty, shorter than one group of sums, whole groups, and tails.
        for k in 0..=70 {
            let a: Vec<f64> = (0..k).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
            let b: Vec<f64> = (0..k + 3)
                .map(|_| rng.random::<f64>() * 2.0 - 1.0)
                .collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let portable = dot_portable(&a, &b[..k]);
            assert!(
                (portable - exact).abs() <= 1e-14 * (1.0 + k as f64),
                "k={k}"
            );
            // Each vector copy called directly, where the CPU has it.
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    let d = unsafe { lanes::dot_avx512(&a, &b[..k]) };
                    assert_eq!(d.to_bits(), portable.to_bits(), "k={k} AVX-512");
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    let d = unsafe { lanes::dot_avx2(&a, &b[..k]) };
                    assert_eq!(d.to_bits(), portable.to_bits(), "k={k} AVX2");
                }
            }
            // And `dot` itself under every narrowing: the shorter of the
            // two (`b`'s last three are not read), either way round.
            crate::vectors::for_each_supported(|copy| {
                assert_eq!(dot(&a, &b).to_bits(), portable.to_bits(), "k={k} {copy:?}");
                assert_eq!(dot(&b, &a).to_bits(), portable.to_bits(), "k={k} {copy:?}");
            });
        }
    }

    #[test]
    fn several_products_in_one_pass_have_each_products_bits() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(33);
        for k in 0..=70 {
            let mut draw = |len: usize| -> Vec<f64> {
                (0..len).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect()
            };
            let a = draw(k);
            // Longer than `a`, as the newcomers' rows may be: the rest
            // is not read.
            let bs: Vec<Vec<f64>> = (0..7).map(|j| draw(k + j % 3)).collect();
            let each: Vec<u64> = bs
                .iter()
                .map(|b| dot_portable(&a, &b[..k]).to_bits())
                .collect();
            crate::vectors::for_each_supported(|copy| {
                for m in 1..=bs.len() {
                    let mut out = vec![f64::NAN; m];
                    dots_into(&a, &bs[..m], &mut out);
                    let got: Vec<u64> = out.iter().map(|x| x.to_bits()).collect();
                    assert_eq!(got, each[..m], "k={k} m={m} {copy:?}");
                }
            });
            #[cfg(target_arch = "x86_64")]
            {
                let three = [&bs[0][..], &bs[1][..], &bs[2][..]];
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    let d = unsafe { lanes::dots_avx512(&a, three.map(|b| &b[..k])) };
                    assert_eq!(d.map(f64::to_bits), each[..3], "k={k} AVX-512");
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    let d = unsafe { lanes::dots_avx2(&a, three.map(|b| &b[..k])) };
                    assert_eq!(d.map(f64::to_bits), each[..3], "k={k} AVX2");
                }
            }
        }
    }

    #[test]
    fn the_gram_row_is_each_structures_product_with_the_dense_one() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(32);
        let len = 50;
        let structure = |rng: &mut rand_chacha::ChaCha8Rng, ones: bool| -> Sparse {
            let mut z = Sparse::new();
            for i in 0..len {
                if rng.random::<f64>() < 0.3 {
                    z.push((i, if ones { 1.0 } else { rng.random::<f64>() - 0.5 }));
                }
            }
            z
        };
        for ones in [true, false] {
            let structures: Vec<Sparse> = (0..9).map(|_| structure(&mut rng, ones)).collect();
            let z = structure(&mut rng, ones);
            let mut dense = vec![0.0; len];
            z.iter().for_each(|&(i, x)| dense[i] = x);
            let mut g = vec![7.0];
            gram_row(&mut g, &structures, &dense);
            assert_eq!(g.len(), structures.len());
            for (y, &got) in structures.iter().zip(&g) {
                let want = sparse_dot(y, &z);
                if ones {
                    // Counts of shared parts: exact in any order.
                    assert_eq!(got, want);
                } else {
                    assert!((got - want).abs() < 1e-14, "{got} vs {want}");
                }
            }
        }
    }

    /// Over 3 words (single-root projective hull): 0.9 of the crossing,
    /// non-projective tree 0→2, 2→3, 3→1 and 0.1 of the hull's centre,
    /// with that tree's indicator.
    fn mostly_crossing(hull: &AffineHull) -> (Vec<f64>, Vec<f64>) {
        let centre = hull.project(&[0.0; 16]);
        let crossing = brute::indicator(&[0, 3, 0, 2]);
        let point = crossing
            .iter()
            .zip(&centre)
            .map(|(a, c)| 0.9 * a + 0.1 * c)
            .collect();
        (point, crossing)
    }

    /// Moment matching of `z` over single-root projective trees of `n`
    /// words, counting the MAP calls its separation test makes.
    fn matching_with_map_calls(n: usize, z: &[f64]) -> (Option<usize>, usize) {
        let hull = tree_hull(n, true, true);
        let marginals = tree_marginals(n, true, true);
        let oracle = tree_oracle(n, true, true);
        let maps = std::cell::Cell::new(0);
        let counted = |v: &[f64]| {
            maps.set(maps.get() + 1);
            oracle(v)
        };
        let got = matches_gibbs_marginals(z, &hull, &marginals, &counted, &[]);
        (got, maps.get())
    }

    #[test]
    fn long_searches_ask_the_separation_test_which_never_refuses_a_point_inside() {
        // Gibbs marginals (inside) near the boundary, whose matching takes
        // more than `SEPARATION_AFTER` marginals calls: each accepted step
        // after that asks a MAP call, and each answers "not separated".
        let mut long = 0;
        for (n, seed, scale) in [
            (4, 0, 4.0),
            (4, 1, 4.0),
            (4, 3, 4.0),
            (6, 0, 2.0),
            (6, 1, 2.0),
        ] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let theta: Vec<f64> = (0..(n + 1) * (n + 1))
                .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * scale)
                .collect();
            let (_, z) = tree_marginals(n, true, true)(&theta);
            let (got, maps) = matching_with_map_calls(n, &z);
            if let Some(calls) = got {
                if calls > SEPARATION_AFTER {
                    assert!(maps > 0, "n={n} seed={seed}: {calls} calls, no MAP call");
                    long += 1;
                }
            } else {
                panic!("n={n} seed={seed}: a point inside was not certified");
            }
        }
        assert!(long >= 3, "only {long} searches ran past the threshold");
        // SparseMAP's near-zero scores: the hull projection lies just
        // outside, and the MAP calls take part in refusing it.
        // (Uniform near-zero scores are mostly refused sooner, by log Z.)
        let n = 14;
        let z = tree_hull(n, true, true).project(&near_zero(44, n, 0.03));
        assert!(tree_hull(n, true, true).parts.iter().all(|&i| z[i] > 0.0));
        let (got, maps) = matching_with_map_calls(n, &z);
        assert_eq!(got, None);
        assert!(maps > 0, "refused before the separation test was asked");
    }

    #[test]
    fn a_map_call_proves_a_point_outside_and_never_one_inside() {
        let n = 3;
        let hull = tree_hull(n, true, true);
        let oracle = tree_oracle(n, true, true);
        let parts = hull.parts.clone();
        let on_parts = |v: &[f64]| parts.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let mut scratch = vec![0.0; 16];
        // The crossing tree's own indicator scores the point mostly made
        // of it above every projective tree.
        let (outside, crossing) = mostly_crossing(&hull);
        let theta = on_parts(&crossing);
        assert!(map_separates(
            &theta,
            &on_parts(&outside),
            &parts,
            &oracle,
            &mut scratch
        ));
        // A point of the polytope (a mixture of projective trees) is never
        // separated, whatever the scores.
        let trees = tree_indicators(n, true, true);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(33);
        for _ in 0..200 {
            let w: Vec<f64> = trees.iter().map(|_| rng.random::<f64>()).collect();
            let total: f64 = w.iter().sum();
            let inside: Vec<f64> = (0..16)
                .map(|i| trees.iter().zip(&w).map(|(t, a)| t[i] * a / total).sum())
                .collect();
            let theta: Vec<f64> = parts
                .iter()
                .map(|_| rng.random::<f64>() * 20.0 - 10.0)
                .collect();
            assert!(!map_separates(
                &theta,
                &on_parts(&inside),
                &parts,
                &oracle,
                &mut scratch
            ));
            // Nor is a single tree, where the bound is tight.
            let t = &trees[rng.random_range(0..trees.len())];
            assert!(!map_separates(
                &theta,
                &on_parts(t),
                &parts,
                &oracle,
                &mut scratch
            ));
        }
    }

    /// Every tree over `n` words as a `(n+1)²` arc indicator.
    fn tree_indicators(n: usize, projective: bool, single: bool) -> Vec<Vec<f64>> {
        brute::trees(n, projective, single)
            .iter()
            .map(|t| brute::indicator(t))
            .collect()
    }

    /// `mu` is the projection of `y` onto the trees' polytope, as
    /// enumerating every tree finds it, to 1e-6.
    fn assert_projection_over_every_tree(
        n: usize,
        proj: bool,
        single: bool,
        y: &[f64],
        mu: &[f64],
    ) {
        let want = projection_by_enumeration(y, &tree_indicators(n, proj, single));
        for (a, b) in mu.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "n={n}: {a} vs {b}");
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
                let trees = tree_indicators(n, proj, single);
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

    #[test]
    fn the_vjp_over_the_saved_factor_equals_refactoring_the_active_set() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(22);
        for n in [1, 3, 6] {
            let oracle = tree_oracle(n, true, true);
            let s = random_scores(n, 0.1, &mut rng);
            let g = random_scores(n, 1.0, &mut rng);
            let sol = solve_active_set(&s, &oracle);
            assert!(sol.factor.is_some());
            let refactored = Solution {
                factor: None,
                ..sol.clone()
            };
            for (a, b) in sol.vjp(&g).iter().zip(refactored.vjp(&g)) {
                assert!((a - b).abs() < 1e-9, "n={n}: {a} vs {b}");
            }
        }
    }

    fn tree_hull(n: usize, proj: bool, single: bool) -> std::sync::Arc<AffineHull> {
        let tree = super::super::tree::Tree {
            projective: proj,
            single_root: single,
        };
        std::sync::Arc::new(tree.affine_hull(n))
    }

    fn tree_marginals(n: usize, proj: bool, single: bool) -> impl Fn(&[f64]) -> (f64, Vec<f64>) {
        move |v: &[f64]| {
            let s = |h: usize, m: usize| v[h * (n + 1) + m];
            if proj {
                projective::marginals(n, &s, single)
            } else {
                nonprojective::marginals(n, &s, single)
            }
        }
    }

    /// The Gram rows of `queries` against `active` and `active`'s µ under
    /// `weights`, by `codes` and by the parts: the same bits.
    fn assert_codes_have_the_parts_bits<'a>(
        codes: &mut Codes,
        active: &[Sparse],
        queries: impl IntoIterator<Item = &'a Sparse>,
        weights: &[f64],
        what: &str,
    ) {
        let len = codes.width * codes.width;
        let mut dense = vec![0.0; len];
        for z in queries {
            let (mut by_codes, mut by_parts) = (Vec::new(), Vec::new());
            assert!(codes.gram_row(&mut by_codes, z), "{what}: did not fit");
            for &(i, x) in z {
                dense[i] = x;
            }
            gram_row(&mut by_parts, active, &dense);
            dense.fill(0.0);
            assert_eq!(by_codes, by_parts, "{what}");
        }
        // µ by codes takes the empty columns' slot after the parts.
        let (mut a, mut b) = (vec![7.0; len + 1], vec![-7.0; len]);
        codes.combine_into(&mut a, active, weights);
        combine_into(&mut b, active, weights);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a[..len]), bits(&b), "{what}");
    }

    #[test]
    fn coded_gram_rows_and_mu_have_the_parts_bits() {
        // Trees (one head per word) are coded; their Gram rows and µ by
        // codes must be the products and sums read through the parts.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
        for n in 2..=7 {
            let trees: Vec<Sparse> = brute::trees(n, n % 2 == 0, n % 3 == 0)
                .iter()
                .map(|t| brute::arcs(t))
                .collect();
            let mut codes = Codes::for_len((n + 1) * (n + 1));
            let active: Vec<Sparse> = (0..trees.len().min(40))
                .map(|_| trees[rng.random_range(0..trees.len())].clone())
                .collect();
            for z in &active {
                codes.push(z);
            }
            assert!(codes.rows.is_some(), "n={n}: trees did not fit");
            let weights: Vec<f64> = active.iter().map(|_| rng.random::<f64>()).collect();
            assert_codes_have_the_parts_bits(
                &mut codes,
                &active,
                &trees,
                &weights,
                &format!("n={n}"),
            );
            // Removing rows keeps the rest in step with the parts.
            let (mut kept, mut kept_weights) = (active.clone(), weights.clone());
            for i in [active.len() - 1, active.len() / 2, 0] {
                codes.remove(i);
                kept.remove(i);
                kept_weights.remove(i);
            }
            let what = format!("n={n} after removals");
            assert_codes_have_the_parts_bits(&mut codes, &kept, &trees[..1], &kept_weights, &what);
        }
    }

    #[test]
    fn codes_at_the_widest_layout_have_the_parts_bits() {
        // Width 255: the last parts' codes sit next to the empty columns'
        // slot (255²) and the queries' mark (255² + 1); a code that
        // wrapped or a mark equal to the slot would change these rows.
        let width = Codes::MAX_WIDTH;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(43);
        let structure = |rng: &mut rand_chacha::ChaCha8Rng| -> Sparse {
            let mut parts = Vec::new();
            for c in 0..width {
                if rng.random_range(0..5) > 0 {
                    // Rows near the bottom often, so the largest codes occur.
                    let row = if rng.random() {
                        width - 1
                    } else {
                        rng.random_range(0..width)
                    };
                    parts.push((row * width + c, 1.0));
                }
            }
            parts.sort_unstable_by_key(|&(i, _)| i);
            parts
        };
        let active: Vec<Sparse> = (0..12).map(|_| structure(&mut rng)).collect();
        let mut codes = Codes::for_len(width * width);
        for z in &active {
            codes.push(z);
        }
        assert!(codes.rows.is_some());
        let queries = [structure(&mut rng), Vec::new()];
        let weights: Vec<f64> = active.iter().map(|_| rng.random::<f64>()).collect();
        let what = "width 255";
        assert_codes_have_the_parts_bits(
            &mut codes,
            &active,
            active.iter().chain(&queries),
            &weights,
            what,
        );
    }

    #[test]
    fn structures_that_are_not_one_unit_part_per_column_are_not_coded() {
        let n1 = 4;
        let tree: Sparse = vec![(1, 1.0), (6, 1.0), (11, 1.0)];
        // Two parts in one column; a part of value 2; a layout that is not square.
        for odd in [vec![(1, 1.0), (5, 1.0)], vec![(1, 2.0), (6, 1.0)]] {
            let mut codes = Codes::for_len(n1 * n1);
            codes.push(&tree);
            assert!(!codes.gram_row(&mut Vec::new(), &odd));
            codes.push(&odd);
            assert!(codes.rows.is_none());
            assert!(!codes.gram_row(&mut Vec::new(), &tree));
        }
        assert!(Codes::for_len(15).rows.is_none());
        assert!(Codes::for_len(0).rows.is_none());
        // Two-byte codes reach layouts of width 255, not 256.
        assert!(Codes::for_len(255 * 255).rows.is_some());
        assert!(Codes::for_len(256 * 256).rows.is_none());
        // And the active set answers such structures through their parts:
        // the solution matches enumeration's (the counts-valued layout of
        // `sequence`'s tests covers whole models).
        let s = [0.3, -0.2, 0.5, 0.1];
        let atoms = [
            vec![1.0, 1.0, 0.0, 0.0],
            vec![0.0, 2.0, 0.0, 1.0],
            vec![0.0, 0.0, 1.0, 1.0],
        ];
        let oracle = |v: &[f64]| {
            atoms
                .iter()
                .max_by(|a, b| dot(a, v).total_cmp(&dot(b, v)))
                .expect("atoms")
                .clone()
        };
        let sol = solve_active_set(&s, &oracle);
        let want = projection_by_enumeration(&s, &atoms);
        for (a, b) in sol.mu.iter().zip(&want) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    /// The trees' proof that a hull point is outside (projective ones:
    /// exclusive arcs; none for non-projective ones), as tree.rs gives it.
    fn tree_outside(n: usize, proj: bool, single: bool) -> impl Fn(&[f64]) -> bool {
        move |z: &[f64]| proj && exclusive_arcs::prove_outside(n, z, single)
    }

    /// The rank of a set of vectors, by Gaussian elimination.
    fn rank(mut rows: Vec<Vec<f64>>) -> usize {
        let mut r = 0;
        let cols = rows.first().map_or(0, Vec::len);
        for c in 0..cols {
            let Some(p) =
                (r..rows.len()).max_by(|&a, &b| rows[a][c].abs().total_cmp(&rows[b][c].abs()))
            else {
                break;
            };
            if rows[p][c].abs() < 1e-9 {
                continue;
            }
            rows.swap(r, p);
            for i in 0..rows.len() {
                if i != r {
                    let f = rows[i][c] / rows[r][c];
                    let pivot = rows[r].clone();
                    rows[i]
                        .iter_mut()
                        .zip(&pivot)
                        .for_each(|(x, y)| *x -= f * y);
                }
            }
            r += 1;
        }
        r
    }

    #[test]
    fn the_tree_hull_is_the_affine_span_of_every_tree() {
        for n in 1..=5 {
            for (proj, single) in [(true, true), (true, false), (false, true), (false, false)] {
                let trees = tree_indicators(n, proj, single);
                let hull = tree_hull(n, proj, single);
                // Every tree is its own projection: it satisfies the groups.
                for z in &trees {
                    for (a, b) in hull.project(z).iter().zip(z) {
                        assert!((a - b).abs() < 1e-12);
                    }
                }
                // The tree differences span the whole direction space:
                // as many dimensions as parts less independent groups.
                let diffs: Vec<Vec<f64>> = trees[1..]
                    .iter()
                    .map(|z| z.iter().zip(&trees[0]).map(|(a, b)| a - b).collect())
                    .collect();
                let dims = hull.parts.len() - hull.independent.len();
                assert_eq!(rank(diffs), dims, "n={n} proj={proj} single={single}");
            }
        }
    }

    fn random_scores(n: usize, spread: f64, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f64> {
        masked(
            n,
            (0..(n + 1) * (n + 1))
                .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * spread)
                .collect(),
        )
    }

    #[test]
    fn a_point_inside_is_certified_and_is_the_projection_over_every_tree() {
        // Marginals minus a small step, as SPIGOT-CE projects.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for n in 2..=4 {
            for (proj, single) in [(true, true), (true, false), (false, false)] {
                let scores = random_scores(n, 0.5, &mut rng);
                let (_, marg) = tree_marginals(n, proj, single)(&scores);
                let step = random_scores(n, 1e-3, &mut rng);
                let y: Vec<f64> = marg.iter().zip(&step).map(|(a, b)| a - b).collect();
                let hull = tree_hull(n, proj, single);
                let sol = solve_exact(
                    &y,
                    &tree_oracle(n, proj, single),
                    &hull,
                    &tree_marginals(n, proj, single),
                    &tree_outside(n, proj, single),
                    &[&scores],
                    EXACT_ITERATIONS,
                );
                assert!(
                    sol.interior.is_some() && sol.certified,
                    "n={n}: not certified"
                );
                assert_projection_over_every_tree(n, proj, single, &y, &sol.mu);
                // And the active set, run to convergence, agrees closely.
                let by_active_set =
                    solve_active_set_within(&y, &tree_oracle(n, proj, single), 10_000);
                for (a, b) in sol.mu.iter().zip(&by_active_set.mu) {
                    assert!((a - b).abs() < 1e-8, "n={n}: {a} vs active set {b}");
                }
            }
        }
    }

    #[test]
    fn a_positive_point_of_the_hull_outside_the_polytope_is_refused() {
        // Mostly a non-projective tree (arcs 0→2, 2→3, 3→1: 3→1 crosses
        // 0→2), a little of the centre: every arc positive, inside the
        // hull, outside the projective trees' polytope.
        let n = 3;
        let hull = tree_hull(n, true, true);
        let (z, _) = mostly_crossing(&hull);
        assert!(hull.parts.iter().all(|&i| z[i] > 0.0));
        assert_refused_and_projected_over_every_tree(n, &z, &[]);
    }

    /// Moment matching refuses the hull projection of `y` (single-root
    /// projective trees over `n` words), and the exact projection falls
    /// back to the active set, which agrees with enumerating every tree.
    fn assert_refused_and_projected_over_every_tree(n: usize, y: &[f64], starts: &[&[f64]]) {
        let hull = tree_hull(n, true, true);
        let marginals = tree_marginals(n, true, true);
        let z = hull.project(y);
        let oracle = tree_oracle(n, true, true);
        assert_eq!(
            matches_gibbs_marginals(&z, &hull, &marginals, &oracle, starts),
            None
        );
        let sol = solve_exact(
            y,
            &oracle,
            &hull,
            &marginals,
            &tree_outside(n, true, true),
            starts,
            EXACT_ITERATIONS,
        );
        assert!(sol.interior.is_none());
        assert_projection_over_every_tree(n, true, true, y, &sol.mu);
    }

    #[test]
    fn log_z_bounds_every_scores_fit_to_a_point_of_the_polytope() {
        // What ends moment matching early: log Z(θ) ≥ ⟨θ, µ⟩ for every θ
        // and every µ in the polytope (marginals, single trees, mixtures),
        // even for scores far from those that give µ.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(24);
        for n in 1..=5 {
            for (proj, single) in [(true, true), (true, false), (false, true)] {
                let trees = brute::trees(n, proj, single);
                let marginals = tree_marginals(n, proj, single);
                for spread in [0.1, 3.0, 30.0] {
                    let a = &trees[rng.random_range(0..trees.len())];
                    let b = &trees[rng.random_range(0..trees.len())];
                    let mix: Vec<f64> = brute::indicator(a)
                        .iter()
                        .zip(brute::indicator(b))
                        .map(|(x, y)| 0.3 * x + 0.7 * y)
                        .collect();
                    let gibbs = marginals(&random_scores(n, spread, &mut rng)).1;
                    for mu in [brute::indicator(a), mix, gibbs] {
                        let theta = random_scores(n, spread, &mut rng);
                        let (log_z, _) = marginals(&theta);
                        let fit = dot(&theta, &mu);
                        assert!(log_z - fit >= -1e-9 * (1.0 + fit.abs()), "{log_z} < {fit}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_hull_point_just_outside_is_refused_and_the_active_set_projects_it() {
        // Scores near zero, as early in training: their hull projection
        // (every arc about 1/n) lies just outside the projective polytope.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(25);
        let n = 5;
        let s = random_scores(n, 0.05, &mut rng);
        assert_refused_and_projected_over_every_tree(n, &s, &[&s]);
    }

    #[test]
    fn hull_points_proven_outside_skip_moment_matching_and_keep_the_answer() {
        // Scores near zero, as early in training: wherever their hull
        // projection is positive (what moment matching would search
        // from), exclusive arcs prove it outside, moment matching agrees
        // (an independent refusal), and the exact projection then makes no
        // marginals call and gives the bits it gave without the proof
        // (and, at five words, enumeration's projection).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(26);
        let mut proven = 0;
        for n in 5..=9 {
            let (hull, oracle) = (tree_hull(n, true, true), tree_oracle(n, true, true));
            for _ in 0..6 {
                let s = random_scores(n, 0.02, &mut rng);
                let z = hull.project(&s);
                if !hull.parts.iter().all(|&i| z[i] > 0.0) {
                    continue;
                }
                assert!(exclusive_arcs::prove_outside(n, &z, true), "n={n}");
                let marginals = tree_marginals(n, true, true);
                assert_eq!(
                    matches_gibbs_marginals(&z, &hull, &marginals, &oracle, &[&s]),
                    None
                );
                let calls = std::cell::Cell::new(0);
                let counted = |v: &[f64]| {
                    calls.set(calls.get() + 1);
                    marginals(v)
                };
                let outside = tree_outside(n, true, true);
                let with = solve_exact(
                    &s,
                    &oracle,
                    &hull,
                    &counted,
                    &outside,
                    &[&s],
                    EXACT_ITERATIONS,
                );
                assert_eq!(calls.get(), 0, "n={n}: moment matching ran");
                let without = solve_exact(
                    &s,
                    &oracle,
                    &hull,
                    &counted,
                    &|_| false,
                    &[&s],
                    EXACT_ITERATIONS,
                );
                assert!(calls.get() > 0);
                assert!(with.certified && with.interior.is_none());
                assert_eq!(with.mu, without.mu, "n={n}");
                if n <= 5 {
                    assert_projection_over_every_tree(n, true, true, &s, &with.mu);
                }
                proven += 1;
            }
        }
        assert!(proven >= 20, "only {proven} positive hull points");
    }

    #[test]
    fn large_scores_skip_the_certificate_and_give_the_map_tree() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let n = 6;
        for (proj, single) in [(true, true), (false, false)] {
            let s: Vec<f64> = random_scores(n, 1.0, &mut rng)
                .iter()
                .map(|x| x * 1e4)
                .collect();
            let oracle = tree_oracle(n, proj, single);
            let sol = solve_exact(
                &s,
                &oracle,
                &tree_hull(n, proj, single),
                &tree_marginals(n, proj, single),
                &tree_outside(n, proj, single),
                &[&s],
                EXACT_ITERATIONS,
            );
            assert!(sol.interior.is_none());
            assert_eq!(sol.mu, oracle(&s));
        }
    }

    #[test]
    fn the_interior_vjp_matches_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        let n = 5;
        let (proj, single) = (true, true);
        let scores = random_scores(n, 0.3, &mut rng);
        let marg = tree_marginals(n, proj, single)(&scores).1;
        let hull = tree_hull(n, proj, single);
        let solve = |y: &[f64]| {
            solve_exact(
                y,
                &tree_oracle(n, proj, single),
                &hull,
                &tree_marginals(n, proj, single),
                &tree_outside(n, proj, single),
                &[&scores],
                EXACT_ITERATIONS,
            )
        };
        let sol = solve(&marg);
        assert!(sol.interior.is_some());
        let g = random_scores(n, 1.0, &mut rng);
        let jv = sol.vjp(&g);
        let e = 1e-6;
        let at = |t: f64| {
            let y: Vec<f64> = marg.iter().zip(&g).map(|(a, b)| a + t * b).collect();
            solve(&y)
        };
        let (p, q) = (at(e), at(-e));
        assert!(p.interior.is_some() && q.interior.is_some());
        for (i, &j) in jv.iter().enumerate() {
            let fd = (p.mu[i] - q.mu[i]) / (2.0 * e);
            assert!((fd - j).abs() < 1e-7, "entry {i}: {j} vs {fd}");
        }
        // The active set's Jacobian over a full-dimensional face is the same.
        let by_active_set = solve_active_set_within(&marg, &tree_oracle(n, proj, single), 10_000);
        for (a, b) in jv.iter().zip(by_active_set.vjp(&g)) {
            assert!((a - b).abs() < 1e-6, "{a} vs active set {b}");
        }
    }
}
