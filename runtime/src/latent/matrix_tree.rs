//! The matrix-tree theorem for one sentence in dense f64, fast, with a
//! bound on its own rounding error that says when to trust it: the
//! kernel behind [`super::nonprojective`]'s marginals and their tangent.
//!
//! Scores `s[h][m]` (`(n+1)²`, row-major, NaN = no arc) are shifted so
//! every weight `A[h][m] = exp(s − shift) ≤ 1` (see
//! [`super::nonprojective`]); the `n × n` Laplacian `L` is factored once,
//! `PL = L̂Û` (partial pivoting, in place on a flat row-major buffer,
//! every inner loop a contiguous row update the compiler vectorises), and
//! its inverse `V = L⁻¹ = Û⁻¹L̂⁻¹P` formed by row operations. The
//! marginals read `V` row by row: `µ[h][m] = A[h][m] · (V[m][m] − V[m][h])`
//! (indices of words shifted by one; the single-root Laplacian's first row
//! holds the root arcs, see [`coefficient`]). Their tangent is
//! `dµ = dA ⊙ G(V) + A ⊙ G(dV)` with `dV = −V · dL · V`, two matrix
//! products, no further solves.
//!
//! The error bound it relies on (Higham, *Accuracy and Stability of
//! Numerical Algorithms*, 2nd ed., Thm 9.4 and §14.3): each column `v̂_j`
//! of the computed inverse solves `(L + ΔL_j) v̂_j = e_j` exactly with
//! `|ΔL_j| ≤ γ_{3n} Pᵀ|L̂||Û|`, and the rounding of the weights (4 ulps)
//! and diagonal sums themselves perturbs `L` by at most `γ_{n+4} |L| ≤
//! γ_{n+4} Pᵀ|L̂||Û|`. To first order, with `γ = γ_{4n+4}`,
//!
//! ```text
//! |V̂ − V| ≤ γ |V̂| Pᵀ|L̂||Û| |V̂|        (first order, entrywise),
//! max_j |V̂ − V|_{ij} ≤ γ (|V̂| Pᵀ w)_i   with w = |L̂||Û| r, r_k = max_j |V̂_kj|,
//! |µ̂[h][m] − µ[h][m]| ≤ 2 γ (|V̂| Pᵀ w)_{m−1} + O(u)      (A ≤ 1),
//! |log det L̂Û − log det L| ≤ Σ_ij |V|_ji |ΔL|_ij ≤ γ Σ_i w_i,
//! ```
//!
//! all computed in O(n²) from the factors. A sentence is accepted only if
//! both bounds are below [`TOLERANCE`]; otherwise the caller falls back to
//! the subtraction-free walk of [`super::absorbing`], exact whatever the
//! conditioning. Weights that underflow to zero are perturbations of at
//! most 1e-308 in `L`, far inside the same bound. The bound is a worst
//! case (`γ = ku/(1 − ku)`, `k = 4n + 4`, every rounding error aligned): for
//! standard normal scores it is about 5e-12 at n = 40 where the true
//! error is about 1e-15; scores three times larger begin to fail it, and
//! the walk takes them.

/// The largest rounding error accepted on a marginal (and on log Z,
/// relative to its size past 1). The promise made to callers is 1e-10;
/// the two-fold margin covers the rounding of the final product and the
/// weights' own rounding seen as a change of the scores (a relative
/// change `δ` of every weight moves a marginal by at most `2nδ`, 4e-14 at
/// n = 40 with `δ` of 4 ulps).
pub const TOLERANCE: f64 = 5e-11;

const NEG: f64 = f64::NEG_INFINITY;

/// One sentence's factored matrix-tree quantities.
pub struct Factored {
    pub n: usize,
    pub single_root: bool,
    /// `A[h][m]` (`(n+1)²`), zero off the arcs.
    pub a: Vec<f64>,
    /// `V = L⁻¹` (`n²`, row-major).
    pub v: Vec<f64>,
    pub log_z: f64,
    /// Bound on the rounding error of any marginal.
    pub marginal_error: f64,
    /// Bound on the rounding error of log Z.
    pub log_z_error: f64,
}

impl Factored {
    /// Whether the marginals' error bound is within [`TOLERANCE`], and
    /// log Z's within it relative to log Z's size (when that exceeds 1).
    pub fn accurate(&self) -> bool {
        self.marginal_error <= TOLERANCE
            && self.log_z_error <= TOLERANCE * self.log_z.abs().max(1.0)
    }
}

/// Factors one sentence (`s`: `(n+1)²`, row-major, `n ≥ 1`); `None` if the
/// Laplacian is singular in f64 (no tree has a finite score, or none
/// that f64 can tell apart from zero).
pub fn factor(n: usize, s: &[f64], single_root: bool) -> Option<Factored> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the copy assumes.
        return unsafe { factor_avx2(n, s, single_root) };
    }
    factor_any(n, s, single_root)
}

/// [`factor_any`] compiled for 256-bit vectors (chosen at run time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn factor_avx2(n: usize, s: &[f64], single_root: bool) -> Option<Factored> {
    factor_any(n, s, single_root)
}

#[inline(always)]
fn factor_any(n: usize, s: &[f64], single_root: bool) -> Option<Factored> {
    let (a, shift) = shifted_weights(n, s, single_root);
    let mut lu = vec![0.0; n * n];
    laplacian(n, &a, single_root, &mut lu);
    let mut perm: Vec<usize> = (0..n).collect();
    let log_det = factor_in_place(&mut lu, n, &mut perm)?;
    let v = inverse(&lu, n, &perm);
    let (marginal_error, log_z_error) = error_bounds(&lu, &v, n, &perm);
    Some(Factored {
        n,
        single_root,
        a,
        v,
        log_z: log_det + shift,
        marginal_error,
        log_z_error,
    })
}

/// The first-order bounds of the module doc on the rounding error of a
/// marginal and of log Z, from the packed factors and the inverse; `∞`
/// if anything overflowed.
#[inline(always)]
fn error_bounds(lu: &[f64], v: &[f64], n: usize, perm: &[usize]) -> (f64, f64) {
    let u = f64::EPSILON / 2.0;
    // 3n for the solves, n + 4 for the weights (a few ulps each) and
    // their diagonal sums.
    let k = (4 * n + 4) as f64 * u;
    let gamma = k / (1.0 - k);
    // r_k = max_j |V̂_kj|.
    let r: Vec<f64> = v
        .chunks_exact(n)
        .map(|row| row.iter().fold(0.0f64, |acc, x| acc.max(x.abs())))
        .collect();
    // w = |L̂| |Û| r.
    let ur: Vec<f64> = (0..n)
        .map(|i| (i..n).map(|j| lu[i * n + j].abs() * r[j]).sum())
        .collect();
    let w: Vec<f64> = (0..n)
        .map(|i| ur[i] + (0..i).map(|k| lu[i * n + k].abs() * ur[k]).sum::<f64>())
        .collect();
    // Back to the Laplacian's row order: row i of PL is row perm[i] of L.
    let mut y = vec![0.0; n];
    for (i, &p) in perm.iter().enumerate() {
        y[p] = w[i];
    }
    // e_i = (|V̂| Pᵀ w)_i bounds row i of V̂ − V over γ.
    let e = v
        .chunks_exact(n)
        .map(|row| row.iter().zip(&y).map(|(x, y)| x.abs() * y).sum::<f64>())
        .fold(0.0f64, f64::max);
    let finite = |x: f64| if x.is_finite() { x } else { f64::INFINITY };
    (
        finite(2.0 * gamma * e),
        finite(gamma * w.iter().sum::<f64>()),
    )
}

/// The weights `A[h][m] = exp(s[h][m] − shift)` and the total shift that
/// log Z gets back: each word's incoming arcs are shifted by their maximum
/// (every tree has one head per word), and with a single root the root
/// arcs by theirs after that (every tree has one root arc). Every weight
/// is then at most 1 and each word has one of weight 1.
#[inline(always)]
fn shifted_weights(n: usize, s: &[f64], single_root: bool) -> (Vec<f64>, f64) {
    let n1 = n + 1;
    // The scores of the arcs, −∞ elsewhere and for NaN (no arc).
    let mut a: Vec<f64> = s
        .iter()
        .map(|&x| if x.is_nan() { NEG } else { x })
        .collect();
    for (h, row) in a.chunks_exact_mut(n1).enumerate() {
        row[0] = NEG;
        if h > 0 {
            row[h] = NEG;
        }
    }
    // Column maxima row by row, so the loop runs along memory.
    let mut col_shift = vec![NEG; n1];
    for row in a.chunks_exact(n1) {
        for (c, &x) in col_shift.iter_mut().zip(row) {
            *c = c.max(x);
        }
    }
    for c in col_shift.iter_mut() {
        if !c.is_finite() {
            *c = 0.0;
        }
    }
    let mut total: f64 = col_shift[1..].iter().sum();
    if single_root {
        let r = (1..n1).map(|m| a[m] - col_shift[m]).fold(NEG, f64::max);
        let root_shift = if r.is_finite() { r } else { 0.0 };
        total += root_shift;
        for x in a[1..n1].iter_mut() {
            *x -= root_shift;
        }
    }
    for row in a.chunks_exact_mut(n1) {
        for (x, &c) in row.iter_mut().zip(&col_shift) {
            *x = exp_nonpositive(*x - c);
        }
    }
    (a, total)
}

/// `e^x` for `x ≤ 0` (`−∞` included) within a few units in the last
/// place, in branch-free arithmetic the compiler vectorises (libm's `exp`
/// is a call per weight, a third of the kernel's time at n = 40): `x =
/// k·ln 2 + r` with `|r| ≤ ln 2 / 2`, the degree-13 Taylor polynomial of
/// `e^r` (truncation below 5e-18), and `2^k` as two powers of two built
/// from their exponent bits, so that results down to the subnormals need
/// no special case.
#[inline(always)]
pub(super) fn exp_nonpositive(x: f64) -> f64 {
    exp_nonpositive_in::<false>(x)
}

/// [`exp_nonpositive`] with the polynomial's steps as fused multiply-adds:
/// half the operations where FMA is an instruction (a library call
/// elsewhere), and as accurate.
#[inline(always)]
pub(super) fn exp_nonpositive_fused(x: f64) -> f64 {
    exp_nonpositive_in::<true>(x)
}

#[inline(always)]
fn exp_nonpositive_in<const FUSED: bool>(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding and subtracting 1.5·2⁵² rounds to the nearest integer.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    // Past −1400 the result is 0 all the same, and each half of k stays
    // within the normal exponents.
    let x = x.max(-1400.0);
    let t = x * std::f64::consts::LOG2_E + ROUND;
    let k = t - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    for d in [
        479_001_600.0,
        39_916_800.0,
        3_628_800.0,
        362_880.0,
        40_320.0,
        5_040.0,
        720.0,
        120.0,
        24.0,
        6.0,
        2.0,
        1.0,
        1.0,
    ] {
        p = if FUSED {
            p.mul_add(r, 1.0 / d)
        } else {
            p * r + 1.0 / d
        };
    }
    let k = (t.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let k1 = k / 2;
    let scale = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    p * scale(k1) * scale(k - k1)
}

/// The Laplacian of `a` into `l` (`n × n`, word `m` at index `m − 1`):
/// `L[m][m] = Σ_h A[h][m]`, `L[h][m] = −A[h][m]`; with a single root the
/// root arcs are left out of the diagonal and replace the first row
/// (Koo et al., 2007). Linear in `a`, so it also maps `dA` to `dL`.
#[inline(always)]
fn laplacian(n: usize, a: &[f64], single_root: bool, l: &mut [f64]) {
    let n1 = n + 1;
    l.fill(0.0);
    let first = usize::from(single_root);
    for h in 1..n1 {
        let (src, dst) = (&a[h * n1 + 1..h * n1 + n1], &mut l[(h - 1) * n..h * n]);
        for (d, &x) in dst.iter_mut().zip(src) {
            *d = -x;
        }
    }
    for m in 1..n1 {
        let d: f64 = (first..n1).filter(|&h| h != m).map(|h| a[h * n1 + m]).sum();
        l[(m - 1) * n + m - 1] = d;
    }
    if single_root {
        l[..n].copy_from_slice(&a[1..n1]);
    }
}

/// `y += f · x`, the one inner loop of everything here.
#[inline(always)]
fn axpy(y: &mut [f64], f: f64, x: &[f64]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += f * x;
    }
}

/// `PL = L̂Û` in place (multipliers below the diagonal, `Û` on and
/// above), row swaps recorded in `perm`; returns `log |det L|`, or `None`
/// on a zero or non-finite pivot.
#[inline(always)]
fn factor_in_place(l: &mut [f64], n: usize, perm: &mut [usize]) -> Option<f64> {
    let mut log_det = 0.0;
    for k in 0..n {
        let mut p = k;
        for i in k + 1..n {
            if l[i * n + k].abs() > l[p * n + k].abs() {
                p = i;
            }
        }
        let pivot = l[p * n + k];
        if pivot == 0.0 || !pivot.is_finite() {
            return None;
        }
        if p != k {
            let (top, bottom) = l.split_at_mut(p * n);
            top[k * n..k * n + n].swap_with_slice(&mut bottom[..n]);
            perm.swap(p, k);
        }
        log_det += pivot.abs().ln();
        let (above, below) = l.split_at_mut((k + 1) * n);
        let row_k = &above[k * n + k + 1..k * n + n];
        for row in below.chunks_exact_mut(n) {
            let f = row[k] / pivot;
            row[k] = f;
            if f != 0.0 {
                axpy(&mut row[k + 1..], -f, row_k);
            }
        }
    }
    Some(log_det)
}

/// `L⁻¹ = Û⁻¹ L̂⁻¹ P` from the factors, by row operations: forward
/// substitution on the rows of `P`, then back substitution.
#[inline(always)]
fn inverse(lu: &[f64], n: usize, perm: &[usize]) -> Vec<f64> {
    let mut v = vec![0.0; n * n];
    for (i, &p) in perm.iter().enumerate() {
        v[i * n + p] = 1.0;
    }
    for i in 1..n {
        let (done, rest) = v.split_at_mut(i * n);
        let row = &mut rest[..n];
        for k in 0..i {
            let f = lu[i * n + k];
            if f != 0.0 {
                axpy(row, -f, &done[k * n..k * n + n]);
            }
        }
    }
    for i in (0..n).rev() {
        let (head, done) = v.split_at_mut((i + 1) * n);
        let row = &mut head[i * n..];
        for k in i + 1..n {
            let f = lu[i * n + k];
            if f != 0.0 {
                axpy(row, -f, &done[(k - i - 1) * n..(k - i) * n]);
            }
        }
        let d = 1.0 / lu[i * n + i];
        for x in row.iter_mut() {
            *x *= d;
        }
    }
    v
}

/// `∂ log det L / ∂A[h][m]` read from `V = L⁻¹` (row `m − 1` only): the
/// `(m, m)` and `(h, m)` entries of `L⁻ᵀ`, zero off the arcs.
#[inline(always)]
pub fn coefficient(v: &[f64], n: usize, h: usize, m: usize, single_root: bool) -> f64 {
    if h == m || m == 0 {
        return 0.0;
    }
    let row = &v[(m - 1) * n..m * n];
    if single_root {
        if h == 0 {
            return row[0];
        }
        let diag = if m != 1 { row[m - 1] } else { 0.0 };
        let off = if h != 1 { row[h - 1] } else { 0.0 };
        diag - off
    } else if h == 0 {
        row[m - 1]
    } else {
        row[m - 1] - row[h - 1]
    }
}

/// `w ⊙ G(v)` over the arcs (`(n+1)²`, row-major).
#[inline(always)]
fn weighted_coefficients(n: usize, w: &[f64], v: &[f64], single_root: bool, out: &mut [f64]) {
    let n1 = n + 1;
    for h in 0..n1 {
        for m in 1..n1 {
            if h != m {
                out[h * n1 + m] += w[h * n1 + m] * coefficient(v, n, h, m, single_root);
            }
        }
    }
}

impl Factored {
    /// The arc marginals `µ[h][m]` (`(n+1)²`, row-major).
    pub fn marginals(&self) -> Vec<f64> {
        let n1 = self.n + 1;
        let mut mu = vec![0.0; n1 * n1];
        weighted_coefficients(self.n, &self.a, &self.v, self.single_root, &mut mu);
        mu
    }

    /// The marginals' derivative in direction `ds` (`(n+1)²`, row-major):
    /// `∇² log Z · ds`, which is also their VJP with upstream `ds`.
    pub fn tangent(&self, ds: &[f64]) -> Vec<f64> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the only feature the copy assumes.
            return unsafe { self.tangent_avx2(ds) };
        }
        self.tangent_any(ds)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn tangent_avx2(&self, ds: &[f64]) -> Vec<f64> {
        self.tangent_any(ds)
    }

    #[inline(always)]
    fn tangent_any(&self, ds: &[f64]) -> Vec<f64> {
        let (n, n1) = (self.n, self.n + 1);
        let mut da = vec![0.0; n1 * n1];
        for (d, (&a, &g)) in da.iter_mut().zip(self.a.iter().zip(ds)) {
            // Off the arcs A is zero, and ds may be anything there.
            if a != 0.0 {
                *d = a * g;
            }
        }
        let mut dl = vec![0.0; n * n];
        laplacian(n, &da, self.single_root, &mut dl);
        // dV = −V · dL · V.
        let t = product(&dl, &self.v, n);
        let mut dv = product(&self.v, &t, n);
        for x in dv.iter_mut() {
            *x = -*x;
        }
        let mut dmu = vec![0.0; n1 * n1];
        weighted_coefficients(n, &da, &self.v, self.single_root, &mut dmu);
        weighted_coefficients(n, &self.a, &dv, self.single_root, &mut dmu);
        dmu
    }
}

/// `x · y` of two `n × n` row-major matrices, row by row.
#[inline(always)]
fn product(x: &[f64], y: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for (row, xr) in out.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        for (k, &f) in xr.iter().enumerate() {
            if f != 0.0 {
                axpy(row, f, &y[k * n..k * n + n]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vectorised_exp_fused_or_not_is_within_4_ulps_of_libm_down_to_underflow() {
        for exp_nonpositive in [exp_nonpositive, exp_nonpositive_fused] {
            exp_is_within_4_ulps_of_libm_down_to_underflow(exp_nonpositive);
        }
    }

    fn exp_is_within_4_ulps_of_libm_down_to_underflow(exp_nonpositive: fn(f64) -> f64) {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -745.0 * f64::from(i) / 200_000.0;
            let (got, want) = (exp_nonpositive(x), x.exp());
            if want > f64::MIN_POSITIVE {
                worst = worst.max(((got - want) / want).abs());
            } else {
                // Subnormal results: an absolute error far below any weight.
                assert!((got - want).abs() <= 4.0 * 5e-324, "{x}: {got} vs {want}");
            }
        }
        assert!(
            worst <= 4.0 * f64::EPSILON / 2.0,
            "relative error {worst:e}"
        );
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-746.0), 0.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
    }
}
