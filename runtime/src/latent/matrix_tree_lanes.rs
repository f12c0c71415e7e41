//! The matrix-tree kernel of [`super::matrix_tree`] for [`LANES`]
//! sentences at once, with the sentence index innermost: every matrix
//! entry is a [`Pack`] of one value per sentence ("lane"), so every scalar
//! step of the weights, the LU, the inverse and the tangent's two matrix
//! products is one full-width vector operation. A 40 × 40 factorisation
//! alone is a few thousand short row updates, overhead-bound; with the
//! lanes innermost the same updates are eight times wider and as many.
//!
//! Each lane computes what [`super::matrix_tree`] computes for its
//! sentence, term by term in the same order, but with fused multiply-adds
//! (one rounding where the one-sentence kernel has two: the rounding-error
//! analysis behind the bound holds for either), with its own pivots and its
//! own rounding-error bound, so a lane's values (and whether it is
//! accurate) never depend on which sentences share its group (only the
//! sign of a zero can: an update whose multiplier is zero in all eight
//! lanes is skipped, one zero in some lanes is applied, and `x − 0·y`
//! can turn −0 into +0; in a lane that overflowed, `0·∞` makes a NaN,
//! but such a lane fails its checks and is computed by the walk):
//!
//! * a sentence shorter than the group's `n` is padded with an identity
//!   block in its Laplacian (no arcs into or out of the padding), which
//!   leaves its determinant and the inverse's leading block unchanged;
//!   padding rows are never chosen as pivots (their entries in real
//!   columns are zero) and only ever add exact zeros to real entries;
//! * partial pivoting is per lane: each lane's pivot row is found by
//!   comparisons across the lanes and only that lane's entries of the two
//!   rows are swapped, O(n²) per lane in all against O(n³) for the
//!   elimination;
//! * the inverse is `L̂⁻¹` first (lower triangular, the same zero pattern
//!   in every lane, so the zeros are skipped) and the lane's column
//!   permutation applied after (as the lane's swaps, which are few), which
//!   gives the same numbers as applying the row operations to `P` directly;
//! * the error bound of [`super::matrix_tree`] is computed per lane over
//!   its own rows, with its own `γ`.
//!
//! A lane that fails its bound (or meets a zero pivot) is reported as not
//! [`Group::accurate`]; the caller computes that sentence by the
//! subtraction-free walk instead.

use super::matrix_tree::{exp_nonpositive_fused, TOLERANCE};
use crate::vectors::widest_vectors;

/// Sentences per group: one 512-bit vector per entry; wider groups
/// spread a batch over fewer threads and lengthen the rows swept per step.
pub const LANES: usize = 8;

/// One value per lane, aligned to a cache line: one 512-bit register, and
/// loads that never straddle two lines (an unaligned buffer of packs
/// splits every one of them, which halves the kernels' throughput).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub struct Pack(pub [f64; LANES]);

impl std::ops::Deref for Pack {
    type Target = [f64; LANES];
    fn deref(&self) -> &[f64; LANES] {
        &self.0
    }
}

impl std::ops::DerefMut for Pack {
    fn deref_mut(&mut self) -> &mut [f64; LANES] {
        &mut self.0
    }
}

/// The values of `packs` lane by lane, as one slice.
fn flat_mut(packs: &mut [Pack]) -> &mut [f64] {
    // SAFETY: a `Pack` is exactly `LANES` f64s (`repr(C)`, no padding:
    // 64 bytes at 64-byte alignment), so the packs are `LANES · len`
    // contiguous f64s, borrowed mutably for as long as `packs`.
    unsafe { std::slice::from_raw_parts_mut(packs.as_mut_ptr().cast(), packs.len() * LANES) }
}

const ZERO: Pack = Pack([0.0; LANES]);

/// Buffers kept for reuse per thread, and the largest kept (in packs:
/// 16 MiB, n ≈ 500): a group's matrices are 100 KiB each at n = 40, and
/// fresh ones from the allocator come back from the kernel page by page,
/// zeroed, at every call (as much time as the factorisation itself).
const SPARE_BUFFERS: usize = 8;
const SPARE_PACKS: usize = 1 << 18;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Vec<Pack>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer this thread used before (its old values in it), if it has one.
fn spare() -> Vec<Pack> {
    SPARE.with_borrow_mut(Vec::pop).unwrap_or_default()
}

/// `len` copies of `fill`, in a buffer this thread used before if it has one.
pub fn buffer(len: usize, fill: Pack) -> Vec<Pack> {
    let mut v = spare();
    v.clear();
    v.resize(len, fill);
    v
}

/// `len` packs for a caller that writes every one before reading any: a
/// spare buffer's old values stay where they are (only growth is filled),
/// which spares a backward at n = 40 four clearing passes (2–3% of it).
fn buffer_to_overwrite(len: usize) -> Vec<Pack> {
    let mut v = spare();
    v.truncate(len);
    v.resize(len, ZERO);
    v
}

/// Keeps `v` for a later [`buffer`] on this thread (unless it is too large
/// to hold on to, or enough are kept).
pub fn recycle(v: Vec<Pack>) {
    if v.capacity() <= SPARE_PACKS {
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < SPARE_BUFFERS {
                spare.push(v);
            }
        });
    }
}
const NEG: f64 = f64::NEG_INFINITY;

/// A group's factored matrix-tree quantities.
pub struct Group {
    n: usize,
    lens: [usize; LANES],
    single_root: bool,
    /// `A[h][m]` (`(n+1)²`), zero off the arcs and in the padding.
    a: Vec<Pack>,
    /// `V = L⁻¹` (`n²`, row-major), identity in the padding.
    v: Vec<Pack>,
    pub log_z: Pack,
    /// Whether the lane's rounding-error bounds are within [`TOLERANCE`].
    pub accurate: [bool; LANES],
}

#[cfg(test)]
impl Group {
    /// Every weight doubled: a state no factoring of these scores gives.
    pub fn double_weights(&mut self) {
        for p in &mut self.a {
            for x in p.iter_mut() {
                *x *= 2.0;
            }
        }
    }
}

/// Factors a group: `s` holds `(n+1)²` packs (row-major; NaN = no arc,
/// and NaN everywhere past a lane's length `lens[l] ≤ n`).
pub fn factor(n: usize, lens: [usize; LANES], s: &[Pack], single_root: bool) -> Group {
    widest_vectors!((n: usize, lens: [usize; LANES], s: &[Pack], single_root: bool) -> Group {
        factor_any(n, lens, s, single_root)
    })
}

#[inline(always)]
fn factor_any(n: usize, lens: [usize; LANES], s: &[Pack], single_root: bool) -> Group {
    let (a, shift) = shifted_weights(n, s, single_root);
    let mut lu = buffer_to_overwrite(n * n);
    laplacian(n, &a, single_root, &mut lu);
    pad_with_identity(n, &lens, &mut lu);
    let mut pivots: Vec<[usize; LANES]> = (0..n).map(|i| [i; LANES]).collect();
    let (log_det, pivots_ok) = factor_in_place(&mut lu, n, &mut pivots);
    let mut v = inverse(&lu, n);
    let (marginal_error, log_z_error) = error_bounds(&lu, &v, n, &lens);
    unpivot_columns(&mut v, n, &pivots);
    recycle(lu);
    let mut log_z = ZERO;
    let mut accurate = [false; LANES];
    for l in 0..LANES {
        log_z[l] = log_det[l] + shift[l];
        accurate[l] = pivots_ok[l]
            && log_z[l].is_finite()
            && marginal_error[l] <= TOLERANCE
            && log_z_error[l] <= TOLERANCE * log_z[l].abs().max(1.0);
    }
    Group {
        n,
        lens,
        single_root,
        a,
        v,
        log_z,
        accurate,
    }
}

/// The weights and shifts of [`super::matrix_tree`], lane by lane: each
/// word's incoming arcs shifted by their maximum, with a single root the
/// root arcs by theirs after that; returns `A` and each lane's shift.
#[inline(always)]
fn shifted_weights(n: usize, s: &[Pack], single_root: bool) -> (Vec<Pack>, Pack) {
    let n1 = n + 1;
    // The scores copied (no arc into the root or from a word to itself;
    // NaN none either) and each column's maximum, in one pass.
    let mut a = spare();
    a.clear();
    a.reserve(s.len());
    let mut col_shift = vec![Pack([NEG; LANES]); n1];
    for (h, row) in s.chunks_exact(n1).enumerate() {
        for (m, (p, c)) in row.iter().zip(col_shift.iter_mut()).enumerate() {
            let x = if m == 0 || m == h {
                Pack([NEG; LANES])
            } else {
                Pack(p.map(|x| if x.is_nan() { NEG } else { x }))
            };
            for l in 0..LANES {
                c[l] = c[l].max(x[l]);
            }
            a.push(x);
        }
    }
    for c in col_shift.iter_mut() {
        for x in c.iter_mut() {
            if !x.is_finite() {
                *x = 0.0;
            }
        }
    }
    let mut total = [-0.0; LANES];
    for c in &col_shift[1..] {
        for l in 0..LANES {
            total[l] += c[l];
        }
    }
    let mut r = [0.0; LANES];
    if single_root {
        let mut best = [NEG; LANES];
        for (x, c) in a[1..n1].iter().zip(&col_shift[1..]) {
            for l in 0..LANES {
                best[l] = best[l].max(x[l] - c[l]);
            }
        }
        for l in 0..LANES {
            r[l] = if best[l].is_finite() { best[l] } else { 0.0 };
            total[l] += r[l];
        }
    }
    // Shifted and exponentiated a row at a time, while it is in L1; the
    // root row by the root's shift first.
    for (h, row) in a.chunks_exact_mut(n1).enumerate() {
        if h == 0 && single_root {
            for x in row[1..].iter_mut() {
                for l in 0..LANES {
                    x[l] -= r[l];
                }
            }
        }
        for (x, c) in row.iter_mut().zip(&col_shift) {
            for l in 0..LANES {
                x[l] -= c[l];
            }
        }
        // One flat loop, which the compiler vectorises whole (eight
        // unrolled copies of the polynomial it leaves scalar).
        for x in flat_mut(row) {
            *x = exp_nonpositive_fused(*x);
        }
    }
    (a, Pack(total))
}

/// The Laplacian of `a` into `l` (see [`super::matrix_tree`]); linear in
/// `a`, so it also maps `dA` to `dL`.
#[inline(always)]
fn laplacian(n: usize, a: &[Pack], single_root: bool, l: &mut [Pack]) {
    let n1 = n + 1;
    let first = usize::from(single_root);
    // Every entry is written: row h − 1 of `l` is row h of `a` negated
    // (the diagonal and, with a single root, the first row replaced
    // below). Each column is summed over its heads in the order of the
    // one-sentence kernel (`Iterator::sum` starts from −0), in the same
    // pass along `a`'s rows.
    let mut d = vec![Pack([-0.0; LANES]); n1];
    for h in 0..n1 {
        let row = &a[h * n1..h * n1 + n1];
        if h >= first {
            for r in other_words(h, n1) {
                for (d, x) in d[r.clone()].iter_mut().zip(&row[r]) {
                    for l in 0..LANES {
                        d[l] += x[l];
                    }
                }
            }
        }
        if h > 0 {
            let dst = &mut l[(h - 1) * n..h * n];
            for (d, x) in dst.iter_mut().zip(&row[1..]) {
                *d = Pack(x.map(|x| -x));
            }
        }
    }
    for m in 1..n1 {
        l[(m - 1) * n + m - 1] = d[m];
    }
    if single_root {
        l[..n].copy_from_slice(&a[1..n1]);
    }
}

/// The words `m ∈ 1..n1` but `h`, in order, as two ranges (plain loops
/// over them: a chained iterator costs more than the loops' bodies).
#[inline(always)]
fn other_words(h: usize, n1: usize) -> [std::ops::Range<usize>; 2] {
    [1..h.max(1), (h + 1).max(1)..n1]
}

/// Ones on the diagonal past each lane's length, where the Laplacian is
/// all zeros (no arcs there): the padding becomes an identity block.
#[inline(always)]
fn pad_with_identity(n: usize, lens: &[usize; LANES], lu: &mut [Pack]) {
    for (l, &len) in lens.iter().enumerate() {
        for i in len..n {
            lu[i * n + i][l] = 1.0;
        }
    }
}

/// `acc ± f ⊙ x` lane by lane, each lane in one rounding (a fused
/// multiply-add: one instruction per pack where the CPU has them).
#[inline(always)]
fn multiply_add<const SUBTRACT: bool>(acc: Pack, f: &Pack, x: &Pack) -> Pack {
    let mut out = acc;
    for l in 0..LANES {
        let f = if SUBTRACT { -f[l] } else { f[l] };
        out[l] = f.mul_add(x[l], acc[l]);
    }
    out
}

/// `y −= f ⊙ x`, lane by lane: the one inner loop of the elimination.
/// Each pack is loaded whole into a local before the store, so the
/// compiler need not prove `x` and `y` apart to use full-width vectors
/// (it does not, for rows split off one buffer).
#[inline(always)]
fn axpy_neg(y: &mut [Pack], f: &Pack, x: &[Pack]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = multiply_add::<true>(*y, f, x);
    }
}

/// Column tiles of [`sweep`]: wide enough that the running sums of one
/// tile fill the vector registers' pipelines (a fused multiply-add's
/// latency over its throughput), narrower ones for the remainder.
const TILE: usize = 8;

/// `row[j] ∓= Σ_k coef[k] ⊙ m[k][j]` for `j ∈ cols` (`m` row-major with
/// `n` packs a row), each entry's terms taken in the order of `ks`: the
/// row operations of the inverse, a tile of columns at a time so its
/// running sums stay in registers while `m`'s rows stream past (one load
/// per multiply-add instead of three). Every entry sees the same
/// operations in the same order as row by row. `coef[k] = 0` in every
/// lane skips `k`, as the row operations do.
#[inline(always)]
fn sweep<const SUBTRACT: bool>(
    row: &mut [Pack],
    coef: &[Pack],
    ks: std::ops::Range<usize>,
    m: &[Pack],
    n: usize,
    cols: std::ops::Range<usize>,
) {
    let mut j = cols.start;
    while j + TILE <= cols.end {
        sweep_tile::<TILE, SUBTRACT>(row, coef, ks.clone(), m, n, j);
        j += TILE;
    }
    if j + TILE / 2 <= cols.end {
        sweep_tile::<{ TILE / 2 }, SUBTRACT>(row, coef, ks.clone(), m, n, j);
        j += TILE / 2;
    }
    while j < cols.end {
        sweep_tile::<1, SUBTRACT>(row, coef, ks.clone(), m, n, j);
        j += 1;
    }
}

#[inline(always)]
fn sweep_tile<const W: usize, const SUBTRACT: bool>(
    row: &mut [Pack],
    coef: &[Pack],
    ks: std::ops::Range<usize>,
    m: &[Pack],
    n: usize,
    j: usize,
) {
    let mut acc: [Pack; W] = row[j..j + W].try_into().expect("W packs");
    // Rows and coefficients zipped, so that the loop checks no bounds.
    let rows = m[ks.start * n..ks.end * n].chunks_exact(n);
    for (f, mrow) in coef[ks].iter().zip(rows) {
        if *f == ZERO {
            continue;
        }
        let y: &[Pack; W] = mrow[j..j + W].try_into().expect("W packs");
        for w in 0..W {
            acc[w] = multiply_add::<SUBTRACT>(acc[w], f, &y[w]);
        }
    }
    row[j..j + W].copy_from_slice(&acc);
}

/// Whether a pivot keeps the determinant's running product of mantissas
/// (in `[1, 2)`) normal and finite: no zero, subnormal, huge or
/// non-finite pivots (such a lane is refused, and the walk takes it).
#[inline(always)]
fn usable_pivot(p: f64) -> bool {
    let a = p.abs();
    (f64::MIN_POSITIVE..=2f64.powi(1000)).contains(&a)
}

/// Columns per panel of [`factor_in_place`]: its rows of `U` (20 KiB at
/// n = 40) stay in L1 while the trailing rows stream past once per panel.
const PANEL: usize = 8;

/// [`factor_panels`] with panels of [`PANEL`] columns.
#[inline(always)]
fn factor_in_place(
    lu: &mut [Pack],
    n: usize,
    pivots: &mut [[usize; LANES]],
) -> (Pack, [bool; LANES]) {
    factor_panels(lu, n, pivots, PANEL)
}

/// `PL = L̂Û` in place per lane (multipliers below the diagonal, `Û` on
/// and above), the row each lane swapped row `k` with recorded in
/// `pivots[k]`. Returns each
/// lane's `log |det L|` and whether every pivot it met was usable; a lane
/// with an unusable pivot continues with pivot 1 (its numbers are
/// discarded) so that no infinity is made.
///
/// A panel as wide as the matrix is the plain row-by-row elimination
/// (every update made at its step; the tests' reference): narrower
/// panels give every entry the same updates in the same order, so the
/// same values (a zero may differ in sign: a multiplier that is zero in
/// all lanes of a pack skips its update, and per-lane row swaps regroup
/// the lanes of a pack between the two orders).
#[inline(always)]
fn factor_panels(
    lu: &mut [Pack],
    n: usize,
    pivots: &mut [[usize; LANES]],
    panel: usize,
) -> (Pack, [bool; LANES]) {
    let mut ok = [true; LANES];
    // |det| as a mantissa in [1, 2) times 2^exponent: one logarithm per
    // lane at the end instead of one per pivot.
    let mut mantissa = [1.0; LANES];
    let mut exponent = [0i64; LANES];
    // The coefficients of one row's deferred updates.
    let mut coef = vec![ZERO; n];
    let mut k0 = 0;
    while k0 < n {
        let kb = (k0 + panel.max(1)).min(n);
        for k in k0..kb {
            let mut best = lu[k * n + k].map(f64::abs);
            let mut arg = [k; LANES];
            for i in k + 1..n {
                let x = &lu[i * n + k];
                for l in 0..LANES {
                    if x[l].abs() > best[l] {
                        best[l] = x[l].abs();
                        arg[l] = i;
                    }
                }
            }
            for (l, &p) in arg.iter().enumerate() {
                if p != k {
                    for c in 0..n {
                        let t = lu[k * n + c][l];
                        lu[k * n + c][l] = lu[p * n + c][l];
                        lu[p * n + c][l] = t;
                    }
                    pivots[k][l] = p;
                }
            }
            let pivot = &mut lu[k * n + k];
            for l in 0..LANES {
                if !usable_pivot(pivot[l]) {
                    ok[l] = false;
                    pivot[l] = 1.0;
                }
                mantissa[l] *= pivot[l].abs();
                let bits = mantissa[l].to_bits();
                exponent[l] += ((bits >> 52) & 0x7ff) as i64 - 1023;
                mantissa[l] = f64::from_bits((bits & !(0x7ff << 52)) | (1023 << 52));
            }
            let pivot = *pivot;
            // The panel's columns now, the rest of the rows at its end.
            let (above, below) = lu.split_at_mut((k + 1) * n);
            let row_k = &above[k * n + k + 1..k * n + kb];
            for row in below.chunks_exact_mut(n) {
                let mut f = ZERO;
                for l in 0..LANES {
                    f[l] = row[k][l] / pivot[l];
                }
                row[k] = f;
                if f != ZERO {
                    axpy_neg(&mut row[k + 1..kb], &f, row_k);
                }
            }
        }
        // The panel's rows of U right of the panel, then the trailing
        // rows: each entry takes the panel's updates in the order the
        // row-by-row elimination gave them, a tile of columns at a time
        // while the panel's rows stay in L1 (row by row, every step
        // streamed the whole trailing matrix from L2).
        if kb < n {
            for i in k0 + 1..n {
                let ks = k0..i.min(kb);
                let (above, rest) = lu.split_at_mut(i * n);
                let row = &mut rest[..n];
                coef[ks.clone()].copy_from_slice(&row[ks.clone()]);
                sweep::<true>(row, &coef, ks, above, n, kb..n);
            }
        }
        k0 = kb;
    }
    let mut log_det = ZERO;
    for l in 0..LANES {
        log_det[l] = mantissa[l].ln() + exponent[l] as f64 * std::f64::consts::LN_2;
    }
    (log_det, ok)
}

/// `L⁻¹ = Û⁻¹ L̂⁻¹ P` from the factors: `L̂⁻¹` by forward substitution,
/// then back substitution, then each lane's column permutation. Columns
/// are independent in both substitutions, so they run a tile of
/// [`TILE`] columns at a time, all rows: the tile (20 KiB at n = 40) stays
/// in L1 while its rows are read back, where row by row every row read
/// all of `V` (100 KiB) again from L2.
#[inline(always)]
fn inverse(lu: &[Pack], n: usize) -> Vec<Pack> {
    let mut v = buffer(n * n, ZERO);
    for i in 0..n {
        v[i * n + i] = Pack([1.0; LANES]);
    }
    let inverse_pivots: Vec<Pack> = (0..n)
        .map(|i| Pack(lu[i * n + i].map(|p| 1.0 / p)))
        .collect();
    for j0 in (0..n).step_by(TILE) {
        let cols = j0..(j0 + TILE).min(n);
        forward_substitute(&mut v, lu, n, cols.clone());
        back_substitute(&mut v, lu, &inverse_pivots, n, cols);
    }
    v
}

/// Columns `cols` of `L̂⁻¹` (`v` holding the identity there). `L̂⁻¹` is
/// lower triangular: below the tile's diagonal block the whole tile is
/// swept, over rows `k ≥ cols.start`; inside the block column by column,
/// over rows `k ≥ j`, leaving the entries on and past the diagonal.
#[inline(always)]
fn forward_substitute(v: &mut [Pack], lu: &[Pack], n: usize, cols: std::ops::Range<usize>) {
    let j0 = cols.start;
    for i in j0 + 1..n {
        let (done, rest) = v.split_at_mut(i * n);
        let row = &mut rest[..n];
        let coef = &lu[i * n..i * n + n];
        if i >= j0 + TILE {
            sweep_tile::<TILE, true>(row, coef, j0..i, done, n, j0);
        } else {
            for j in j0..i {
                sweep_tile::<1, true>(row, coef, j..i, done, n, j);
            }
        }
    }
}

/// Columns `cols` of `Û⁻¹ L̂⁻¹` from those of `L̂⁻¹` in `v`, last row first.
#[inline(always)]
fn back_substitute(
    v: &mut [Pack],
    lu: &[Pack],
    inverse_pivots: &[Pack],
    n: usize,
    cols: std::ops::Range<usize>,
) {
    for i in (0..n).rev() {
        let (head, done) = v.split_at_mut((i + 1) * n);
        let row = &mut head[i * n..];
        // Rows past i of `done` start at row i + 1 of V: the coefficients
        // shifted to match.
        let coef = &lu[i * n + i + 1..i * n + n];
        sweep::<true>(row, coef, 0..n - i - 1, done, n, cols.clone());
        let d = &inverse_pivots[i];
        for x in &mut row[cols.clone()] {
            for l in 0..LANES {
                x[l] *= d[l];
            }
        }
    }
}

/// `V = W P` from `W = Û⁻¹ L̂⁻¹`: `P` is the product of the row swaps
/// of the elimination, `P = P_{n−1} ⋯ P_0`, so `W P` swaps `W`'s columns
/// `k` and `pivots[k]` for `k` from last to first, per lane. Only the
/// lanes' actual swaps cost anything (a diagonally dominant column is
/// its own pivot).
#[inline(always)]
fn unpivot_columns(v: &mut [Pack], n: usize, pivots: &[[usize; LANES]]) {
    for (k, p) in pivots.iter().enumerate().rev() {
        for (l, &p) in p.iter().enumerate() {
            if p != k {
                for row in v.chunks_exact_mut(n) {
                    let t = row[k][l];
                    row[k][l] = row[p][l];
                    row[p][l] = t;
                }
            }
        }
    }
}

/// The bounds of [`super::matrix_tree`]'s module doc per lane, over the
/// lane's own rows: (marginals, log Z). `v` is `W = V Pᵀ` (before
/// [`unpivot_columns`]): `(|V| Pᵀ w)_i = (|W| w)_i` and `V`'s row maxima
/// are `W`'s, so the bound needs no permutation.
#[inline(always)]
fn error_bounds(lu: &[Pack], v: &[Pack], n: usize, lens: &[usize; LANES]) -> (Pack, Pack) {
    let u = f64::EPSILON / 2.0;
    let mut gamma = ZERO;
    for l in 0..LANES {
        let k = (4 * lens[l] + 4) as f64 * u;
        gamma[l] = k / (1.0 - k);
    }
    // r_k = max_j |V̂_kj|.
    let r: Vec<Pack> = v
        .chunks_exact(n)
        .map(|row| {
            let mut m = ZERO;
            for x in row {
                for l in 0..LANES {
                    m[l] = m[l].max(x[l].abs());
                }
            }
            m
        })
        .collect();
    // w = |L̂| |Û| r.
    let mut ur = vec![ZERO; n];
    for i in 0..n {
        for j in i..n {
            for l in 0..LANES {
                ur[i][l] += lu[i * n + j][l].abs() * r[j][l];
            }
        }
    }
    let mut w = ur.clone();
    for i in 0..n {
        for k in 0..i {
            for l in 0..LANES {
                w[i][l] += lu[i * n + k][l].abs() * ur[k][l];
            }
        }
    }
    let mut e = ZERO;
    let mut w_sum = ZERO;
    for (i, row) in v.chunks_exact(n).enumerate() {
        let mut ei = ZERO;
        for (x, y) in row.iter().zip(&w) {
            for l in 0..LANES {
                ei[l] += x[l].abs() * y[l];
            }
        }
        for l in 0..LANES {
            if i < lens[l] {
                e[l] = e[l].max(ei[l]);
                w_sum[l] += w[i][l];
            }
        }
    }
    let mut marginal = ZERO;
    let mut log_z = ZERO;
    for l in 0..LANES {
        marginal[l] = 2.0 * gamma[l] * e[l];
        log_z[l] = gamma[l] * w_sum[l];
    }
    (marginal, log_z)
}

/// `out += w ⊙ G(v)` over the arcs (`(n+1)²`), `G` the coefficients of
/// [`super::matrix_tree::coefficient`]. The `(h, m)` entry of `L⁻ᵀ` is
/// `v`'s `(m, h)`: the rows of words run [`COEFFICIENT_ROWS`] at a time,
/// so that `v` is read along its rows too (down its columns, every pack
/// read is a line of its own, n + 1 packs apart).
#[inline(always)]
fn weighted_coefficients(n: usize, w: &[Pack], v: &[Pack], single_root: bool, out: &mut [Pack]) {
    let n1 = n + 1;
    // The (m, m) entry of L⁻ᵀ (none for the single root's first word, whose
    // row of L holds root arcs).
    let diag: Vec<Pack> = (0..n1)
        .map(|m| {
            if m == 0 || (single_root && m == 1) {
                ZERO
            } else {
                v[(m - 1) * n + m - 1]
            }
        })
        .collect();
    // The root row's coefficient is V[m][0] alone with a single root
    // (whose first word's row follows the diagonal alone), else the
    // diagonal alone.
    for m in 1..n1 {
        let g = if single_root { v[(m - 1) * n] } else { diag[m] };
        out[m] = multiply_add::<false>(out[m], &w[m], &g);
    }
    let first = if single_root { 2 } else { 1 };
    if single_root && n1 > 1 {
        for m in 2..n1 {
            out[n1 + m] = multiply_add::<false>(out[n1 + m], &w[n1 + m], &diag[m]);
        }
    }
    let mut h0 = first;
    while h0 < n1 {
        let h1 = (h0 + COEFFICIENT_ROWS).min(n1);
        for (m, d) in diag.iter().enumerate().skip(1) {
            let vrow = &v[(m - 1) * n + h0 - 1..(m - 1) * n + h1 - 1];
            for (h, c) in (h0..h1).zip(vrow) {
                if h == m {
                    continue;
                }
                let mut g = ZERO;
                for l in 0..LANES {
                    g[l] = d[l] - c[l];
                }
                let i = h * n1 + m;
                out[i] = multiply_add::<false>(out[i], &w[i], &g);
            }
        }
        h0 = h1;
    }
}

/// Rows of `out` per pass of [`weighted_coefficients`]: as many output
/// rows as stay in L1 while `v`'s rows stream past.
const COEFFICIENT_ROWS: usize = 8;

/// Rows and columns of a [`product`] tile: its 16 running sums and the
/// 4 + 4 packs read per step fit the 32 registers of AVX-512, one load
/// per two multiply-adds.
const PRODUCT_TILE: usize = 4;

/// `x · y` (or `−x · y`) of two `n × n` row-major matrices of packs into
/// `out`, a tile of rows by a tile of columns at a time, each entry summed
/// over `k` in order.
#[inline(always)]
fn product<const NEGATE: bool>(x: &[Pack], y: &[Pack], n: usize, out: &mut [Pack]) {
    const T: usize = PRODUCT_TILE;
    let mut i = 0;
    while i + T <= n {
        product_rows::<T, NEGATE>(x, y, n, out, i);
        i += T;
    }
    while i < n {
        product_rows::<1, NEGATE>(x, y, n, out, i);
        i += 1;
    }
}

/// Rows `i..i + R` of [`product`].
#[inline(always)]
fn product_rows<const R: usize, const NEGATE: bool>(
    x: &[Pack],
    y: &[Pack],
    n: usize,
    out: &mut [Pack],
    i: usize,
) {
    const T: usize = PRODUCT_TILE;
    let mut j = 0;
    while j + T <= n {
        product_tile::<R, T, NEGATE>(x, y, n, out, i, j);
        j += T;
    }
    while j < n {
        product_tile::<R, 1, NEGATE>(x, y, n, out, i, j);
        j += 1;
    }
}

#[inline(always)]
fn product_tile<const R: usize, const C: usize, const NEGATE: bool>(
    x: &[Pack],
    y: &[Pack],
    n: usize,
    out: &mut [Pack],
    i: usize,
    j: usize,
) {
    let mut acc = [[ZERO; C]; R];
    // Rows sliced once, so that the loop over k checks no bounds.
    let xr: [&[Pack]; R] = std::array::from_fn(|r| &x[(i + r) * n..(i + r + 1) * n]);
    for (k, yrow) in y.chunks_exact(n).enumerate() {
        let yk: &[Pack; C] = yrow[j..j + C].try_into().expect("C packs");
        for (acc, xr) in acc.iter_mut().zip(&xr) {
            let f = xr[k];
            for (a, y) in acc.iter_mut().zip(yk) {
                *a = multiply_add::<NEGATE>(*a, &f, y);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        out[(i + r) * n + j..(i + r) * n + j + C].copy_from_slice(acc);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.a));
        recycle(std::mem::take(&mut self.v));
    }
}

impl Group {
    /// The arc marginals `µ[h][m]` (`(n+1)²` packs).
    pub fn marginals(&self) -> Vec<Pack> {
        let group = self;
        widest_vectors!((group: &Group) -> Vec<Pack> {
            let n1 = group.n + 1;
            let mut mu = buffer(n1 * n1, ZERO);
            weighted_coefficients(group.n, &group.a, &group.v, group.single_root, &mut mu);
            mu
        })
    }

    /// Whether each lane's marginals into every word sum to one within
    /// what the bound allows (else the bound's first-order assumption
    /// broke, and the lane is not to be trusted either).
    pub fn sums_to_one(&self, mu: &[Pack]) -> [bool; LANES] {
        let n1 = self.n + 1;
        let mut ok = [true; LANES];
        for m in 1..n1 {
            let mut total = [-0.0; LANES];
            for h in 0..n1 {
                for l in 0..LANES {
                    total[l] += mu[h * n1 + m][l];
                }
            }
            for l in 0..LANES {
                let allowed = 2.0 * (self.lens[l] + 1) as f64 * TOLERANCE;
                if m <= self.lens[l] && (total[l].is_nan() || (total[l] - 1.0).abs() > allowed) {
                    ok[l] = false;
                }
            }
        }
        ok
    }

    /// The marginals' derivative in direction `ds` (`(n+1)²` packs):
    /// `∇² log Z · ds`, also their VJP with upstream `ds`.
    pub fn tangent(&self, ds: &[Pack]) -> Vec<Pack> {
        let group = self;
        widest_vectors!((group: &Group, ds: &[Pack]) -> Vec<Pack> {
            group.tangent_any(ds)
        })
    }

    #[inline(always)]
    fn tangent_any(&self, ds: &[Pack]) -> Vec<Pack> {
        let (n, n1) = (self.n, self.n + 1);
        // `da` is taken uncleared: every entry is written below.
        debug_assert_eq!((self.a.len(), ds.len()), (n1 * n1, n1 * n1));
        let mut da = buffer_to_overwrite(n1 * n1);
        for (d, (a, g)) in da.iter_mut().zip(self.a.iter().zip(ds)) {
            for l in 0..LANES {
                // Off the arcs A is zero, and ds may be anything there.
                d[l] = if a[l] != 0.0 { a[l] * g[l] } else { 0.0 };
            }
        }
        let mut dl = buffer_to_overwrite(n * n);
        laplacian(n, &da, self.single_root, &mut dl);
        // dV = −V · dL · V.
        let mut t = buffer_to_overwrite(n * n);
        product::<false>(&dl, &self.v, n, &mut t);
        let mut dv = dl;
        product::<true>(&self.v, &t, n, &mut dv);
        recycle(t);
        let mut dmu = buffer(n1 * n1, ZERO);
        weighted_coefficients(n, &da, &self.v, self.single_root, &mut dmu);
        weighted_coefficients(n, &self.a, &dv, self.single_root, &mut dmu);
        recycle(da);
        recycle(dv);
        dmu
    }
}

#[cfg(test)]
mod tests {
    use super::super::matrix_tree;
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A group of sentences of assorted lengths (padding in all but one
    /// lane) with standard normal scores and directions, each lane also as
    /// its own `(len+1)²` blocks.
    struct Case {
        n: usize,
        lens: [usize; LANES],
        s: Vec<Pack>,
        ds: Vec<Pack>,
        alone: Vec<(Vec<f64>, Vec<f64>)>,
    }

    /// Lengths that fill a group unevenly: one panel of the LU and part
    /// of a second.
    const SHORT: [usize; LANES] = [13, 1, 7, 13, 12, 2, 9, 5];
    /// Longer ones, whose LU has panels in the middle (n > 2·PANEL).
    const LONG: [usize; LANES] = [41, 17, 40, 3, 33, 41, 9, 24];

    fn case(seed: u64, lens: [usize; LANES]) -> Case {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n = lens.into_iter().max().unwrap_or(0);
        let n1 = n + 1;
        let mut s = vec![Pack([f64::NAN; LANES]); n1 * n1];
        let mut ds = vec![ZERO; n1 * n1];
        let mut alone = Vec::new();
        for (l, &len) in lens.iter().enumerate() {
            let k1 = len + 1;
            let mut block = (vec![f64::NAN; k1 * k1], vec![0.0; k1 * k1]);
            for h in 0..k1 {
                for m in (1..k1).filter(|&m| m != h) {
                    let x: f64 = rng.sample(rand_distr::StandardNormal);
                    let d: f64 = rng.sample(rand_distr::StandardNormal);
                    (s[h * n1 + m][l], ds[h * n1 + m][l]) = (x, d);
                    (block.0[h * k1 + m], block.1[h * k1 + m]) = (x, d);
                }
            }
            alone.push(block);
        }
        Case {
            n,
            lens,
            s,
            ds,
            alone,
        }
    }

    #[test]
    fn every_instruction_set_agrees_with_the_one_sentence_kernel_within_1e_12() {
        let mut checked = 0;
        crate::vectors::for_each_supported(|v| {
            for (seed, single_root, lens) in [
                (1, true, SHORT),
                (2, false, SHORT),
                (3, true, LONG),
                (4, false, LONG),
            ] {
                let c = case(seed, lens);
                let group = factor(c.n, c.lens, &c.s, single_root);
                let (mu, dmu) = (group.marginals(), group.tangent(&c.ds));
                let n1 = c.n + 1;
                for (l, (s, ds)) in c.alone.iter().enumerate() {
                    let len = c.lens[l];
                    let one = matrix_tree::factor(len, s, single_root).expect("regular");
                    assert!(one.accurate() && group.accurate[l], "{v:?} lane {l}");
                    assert!((one.log_z - group.log_z[l]).abs() <= 1e-12 * one.log_z.abs().max(1.0));
                    let (want_mu, want_dmu) = (one.marginals(), one.tangent(ds));
                    let k1 = len + 1;
                    for h in 0..k1 {
                        for m in 1..k1 {
                            let (i, j) = (h * k1 + m, h * n1 + m);
                            let what = format!("{v:?} single={single_root} lane {l} {h}->{m}");
                            assert!((mu[j][l] - want_mu[i]).abs() <= 1e-12, "{what}");
                            assert!((dmu[j][l] - want_dmu[i]).abs() <= 1e-12, "{what}");
                        }
                    }
                }
                checked += 1;
            }
        });
        assert!(checked >= 4, "no copy ran");
    }

    /// Buffers whose every entry is written before it is read come back
    /// from the spares uncleared ([`buffer_to_overwrite`]): with every
    /// spare full of NaN, a group's log-partition, marginals and tangent
    /// keep the bits they have with fresh, zeroed buffers.
    #[test]
    fn stale_values_in_reused_buffers_change_no_result() {
        let bits = |packs: &[Pack]| -> Vec<u64> {
            packs.iter().flat_map(|p| p.map(f64::to_bits)).collect()
        };
        let run = |stale: bool, single_root: bool| {
            SPARE.with_borrow_mut(Vec::clear);
            if stale {
                for _ in 0..SPARE_BUFFERS {
                    recycle(vec![Pack([f64::NAN; LANES]); 64 * 64]);
                }
            }
            let c = case(5, LONG);
            let group = factor(c.n, c.lens, &c.s, single_root);
            let out = (
                bits(&[group.log_z]),
                bits(&group.marginals()),
                bits(&group.tangent(&c.ds)),
            );
            SPARE.with_borrow_mut(Vec::clear);
            out
        };
        let mut checked = 0;
        crate::vectors::for_each_supported(|v| {
            for single_root in [true, false] {
                let (fresh, stale) = (run(false, single_root), run(true, single_root));
                let what = format!("{v:?} single={single_root}");
                assert_eq!(fresh.0, stale.0, "log-partition, {what}");
                assert_eq!(fresh.1, stale.1, "marginals, {what}");
                assert_eq!(fresh.2, stale.2, "tangent, {what}");
                checked += 1;
            }
        });
        assert!(checked >= 2, "no copy ran");
    }

    /// The padded Laplacian of `lens` lanes, standard normal scores with
    /// about a third of the arcs absent (−∞: weight 0, so whole packs of
    /// multipliers are zero and skipped).
    fn laplacian_of(seed: u64, n: usize, lens: [usize; LANES], single_root: bool) -> Vec<Pack> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n1 = n + 1;
        let mut s = vec![Pack([f64::NAN; LANES]); n1 * n1];
        for (l, &len) in lens.iter().enumerate() {
            for h in 0..=len {
                for m in (1..=len).filter(|&m| m != h) {
                    s[h * n1 + m][l] = if rng.random_bool(0.3) {
                        f64::NEG_INFINITY
                    } else {
                        rng.sample(rand_distr::StandardNormal)
                    };
                }
            }
        }
        let (a, _) = shifted_weights(n, &s, single_root);
        let mut lu = buffer(n * n, ZERO);
        laplacian(n, &a, single_root, &mut lu);
        pad_with_identity(n, &lens, &mut lu);
        lu
    }

    #[test]
    fn panels_of_eight_give_the_values_of_the_row_by_row_elimination() {
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        let mut seed = 0;
        for n in [1, 7, 8, 9, 16, 17, 24, 41] {
            let lens = [n, n, n - 1, n / 2, 1, n, 2 * n / 3, n / 3 + 1];
            for single_root in [true, false] {
                for _ in 0..3 {
                    seed += 1;
                    let what = format!("n={n} single={single_root} seed={seed}");
                    let lu = laplacian_of(seed, n, lens, single_root);
                    let start: Vec<[usize; LANES]> = (0..n).map(|i| [i; LANES]).collect();
                    let (mut rows, mut rows_pivots) = (lu.clone(), start.clone());
                    let (mut panels, mut panels_pivots) = (lu, start);
                    let want = factor_panels(&mut rows, n, &mut rows_pivots, n);
                    let got = factor_in_place(&mut panels, n, &mut panels_pivots);
                    assert_eq!(got.1, want.1, "{what}: usable pivots");
                    assert_eq!(panels_pivots, rows_pivots, "{what}: pivots");
                    for l in 0..LANES {
                        assert!(same(got.0[l], want.0[l]), "{what}: log det lane {l}");
                    }
                    for (i, (x, y)) in panels.iter().zip(&rows).enumerate() {
                        for l in 0..LANES {
                            assert!(same(x[l], y[l]), "{what}: entry {i} lane {l}");
                        }
                    }
                }
            }
        }
    }
}
