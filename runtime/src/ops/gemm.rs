//! Products of a tall row-major `f32` matrix with a narrow one: `X·W` and
//! `Xᵀ·G` for `X[M, K]` with many rows and `W[K, N]`, `G[M, N]` with few
//! columns (a linear layer onto a handful of categories, the bilinear
//! decoder). A general GEMM copies all of `X` into packed panels for each
//! product, which for so few columns costs as much as the arithmetic;
//! these read `X` in place and keep the narrow side, padded to whole
//! vectors, in registers. AVX2 with FMA only: elsewhere, and for `f64`,
//! callers keep the general GEMM.

use crate::real::Real;
use std::any::TypeId;

/// `f32` values per 256-bit vector.
const LANES: usize = 8;
/// Rows of `X` whose contributions to `Xᵀ·G` are summed in registers
/// before they reach memory: a tile that stays in L2.
const TILE: usize = 64;

/// Widest `N` the kernels take (four vectors); wider products go to the
/// general GEMM, which then amortises its packing.
pub const MAX_N: usize = 4 * LANES;

/// Whether [`xw`] and [`xtg`] take a product with `n` columns of `T`
/// when products run on `threads` threads. They run on one, so with more
/// the general (threaded) GEMM is kept.
pub fn applies<T: Real>(n: usize, threads: usize) -> bool {
    fits::<T>(n) && threads <= 1
}

/// What the kernels themselves need: `f32`, the CPU features, `n` columns.
fn fits<T: Real>(n: usize) -> bool {
    n > 0 && n <= MAX_N && TypeId::of::<T>() == TypeId::of::<f32>() && has_avx2_fma()
}

/// Whether this CPU has AVX2 and FMA (std caches the detection).
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn as_f32<T: Real>(a: &[T]) -> &[f32] {
    assert_eq!(TypeId::of::<T>(), TypeId::of::<f32>());
    // SAFETY: T is f32 (checked above), so the slice is reinterpreted as itself.
    unsafe { std::slice::from_raw_parts(a.as_ptr().cast::<f32>(), a.len()) }
}

fn from_f32<T: Real>(v: Vec<f32>) -> Vec<T> {
    assert_eq!(TypeId::of::<T>(), TypeId::of::<f32>());
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: T is f32 (checked above): same layout, same allocation.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<T>(), v.len(), v.capacity()) }
}

/// `X[M, K] · W[K, N]`, row-major; only where [`applies`] holds.
pub fn xw<T: Real>(x: &[T], m: usize, k: usize, w: &[T], n: usize) -> Vec<T> {
    assert!(fits::<T>(n) && x.len() == m * k && w.len() == k * n);
    let (x, w) = (as_f32(x), as_f32(w));
    let mut out = vec![0f32; m * n];
    #[cfg(target_arch = "x86_64")]
    if k > 0 {
        // SAFETY: `fits` checked that the CPU has AVX2 and FMA.
        unsafe {
            match n.div_ceil(LANES) {
                1 => avx::xw::<1, 8>(x, k, w, n, &mut out),
                2 => avx::xw::<2, 4>(x, k, w, n, &mut out),
                3 => avx::xw::<3, 3>(x, k, w, n, &mut out),
                _ => avx::xw::<4, 2>(x, k, w, n, &mut out),
            }
        }
    }
    from_f32(out)
}

/// `X[M, K]ᵀ · G[M, N]`, row-major: a `[K, N]` result; only where
/// [`applies`] holds.
pub fn xtg<T: Real>(x: &[T], m: usize, k: usize, g: &[T], n: usize) -> Vec<T> {
    assert!(fits::<T>(n) && x.len() == m * k && g.len() == m * n);
    let (x, g) = (as_f32(x), as_f32(g));
    let mut out = vec![0f32; k * n];
    #[cfg(target_arch = "x86_64")]
    if k > 0 && m > 0 {
        // SAFETY: `fits` checked that the CPU has AVX2 and FMA.
        unsafe {
            match n.div_ceil(LANES) {
                1 => avx::xtg::<1, 8>(x, k, g, n, &mut out),
                2 => avx::xtg::<2, 4>(x, k, g, n, &mut out),
                3 => avx::xtg::<3, 3>(x, k, g, n, &mut out),
                _ => avx::xtg::<4, 2>(x, k, g, n, &mut out),
            }
        }
    }
    from_f32(out)
}

/// Rows of `a[·, n]` padded with zeros to `c` whole vectors.
fn padded(a: &[f32], n: usize, c: usize) -> Vec<f32> {
    let mut p = vec![0f32; a.len() / n * c * LANES];
    for (d, s) in p.chunks_exact_mut(c * LANES).zip(a.chunks_exact(n)) {
        d[..n].copy_from_slice(s);
    }
    p
}

/// The kernels, with `C` vectors of columns and `R` rows of `X` (or of
/// the result) per register block: `R·C` accumulators, `C` operands and a
/// broadcast fit the sixteen registers.
#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{padded, LANES, TILE};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn xw<const C: usize, const R: usize>(
        x: &[f32],
        k: usize,
        w: &[f32],
        n: usize,
        out: &mut [f32],
    ) {
        let wp = padded(w, n, C);
        let mut xs = x.chunks_exact(R * k);
        let mut os = out.chunks_exact_mut(R * n);
        for (xb, ob) in (&mut xs).zip(&mut os) {
            xw_block::<C, R>(xb, k, &wp, n, ob);
        }
        for (xb, ob) in xs
            .remainder()
            .chunks_exact(k)
            .zip(os.into_remainder().chunks_exact_mut(n))
        {
            xw_block::<C, 1>(xb, k, &wp, n, ob);
        }
    }

    /// `R` rows of `X·W`, each summed over `k` in order.
    #[inline(always)]
    unsafe fn xw_block<const C: usize, const R: usize>(
        xb: &[f32],
        k: usize,
        wp: &[f32],
        n: usize,
        ob: &mut [f32],
    ) {
        debug_assert!(xb.len() == R * k && wp.len() == k * C * LANES && ob.len() == R * n);
        let (x, w) = (xb.as_ptr(), wp.as_ptr());
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        for kk in 0..k {
            let mut wv = [_mm256_setzero_ps(); C];
            for (c, v) in wv.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(w.add((kk * C + c) * LANES));
            }
            for (r, a) in acc.iter_mut().enumerate() {
                let xv = _mm256_broadcast_ss(&*x.add(r * k + kk));
                for (a, &v) in a.iter_mut().zip(&wv) {
                    *a = _mm256_fmadd_ps(xv, v, *a);
                }
            }
        }
        for (a, orow) in acc.iter().zip(ob.chunks_exact_mut(n)) {
            let mut tmp = [0f32; 4 * LANES];
            for (c, v) in a.iter().enumerate() {
                _mm256_storeu_ps(tmp.as_mut_ptr().add(c * LANES), *v);
            }
            orow.copy_from_slice(&tmp[..n]);
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn xtg<const C: usize, const KB: usize>(
        x: &[f32],
        k: usize,
        g: &[f32],
        n: usize,
        out: &mut [f32],
    ) {
        let gp = padded(g, n, C);
        for (xt, gt) in x.chunks(TILE * k).zip(gp.chunks(TILE * C * LANES)) {
            let mut k0 = 0;
            while k0 + KB <= k {
                xtg_block::<C, KB>(xt, k, k0, gt, n, out);
                k0 += KB;
            }
            while k0 < k {
                xtg_block::<C, 1>(xt, k, k0, gt, n, out);
                k0 += 1;
            }
        }
    }

    /// Rows `k0 .. k0 + KB` of `Xᵀ·G` over one tile of rows of `X`, summed
    /// in row order and then added to `out`.
    #[inline(always)]
    unsafe fn xtg_block<const C: usize, const KB: usize>(
        xt: &[f32],
        k: usize,
        k0: usize,
        gt: &[f32],
        n: usize,
        out: &mut [f32],
    ) {
        let rows = xt.len() / k;
        debug_assert!(gt.len() == rows * C * LANES && k0 + KB <= k);
        let (x, g) = (xt.as_ptr(), gt.as_ptr());
        let mut acc = [[_mm256_setzero_ps(); C]; KB];
        for i in 0..rows {
            let mut gv = [_mm256_setzero_ps(); C];
            for (c, v) in gv.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(g.add((i * C + c) * LANES));
            }
            for (r, a) in acc.iter_mut().enumerate() {
                let xv = _mm256_broadcast_ss(&*x.add(i * k + k0 + r));
                for (a, &v) in a.iter_mut().zip(&gv) {
                    *a = _mm256_fmadd_ps(xv, v, *a);
                }
            }
        }
        for (a, orow) in acc
            .iter()
            .zip(out[k0 * n..(k0 + KB) * n].chunks_exact_mut(n))
        {
            let mut tmp = [0f32; 4 * LANES];
            for (c, v) in a.iter().enumerate() {
                _mm256_storeu_ps(tmp.as_mut_ptr().add(c * LANES), *v);
            }
            for (o, &t) in orow.iter_mut().zip(&tmp) {
                *o += t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gradcheck::random;
    use ndarray::Array2;

    fn matrix(m: usize, n: usize, seed: u64) -> Array2<f32> {
        random(&[m, n], seed)
            .mapv(|v| v as f32)
            .into_shape_with_order((m, n))
            .expect("2-D")
    }

    fn close(a: &[f32], b: &Array2<f32>) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b.iter()) {
            assert!((x - y).abs() < 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn narrow_products_equal_the_general_gemm() {
        if !has_avx2_fma() {
            return;
        }
        // Every vector count, row counts off the register blocks and the
        // tile, and a `K` that leaves a remainder after the blocks.
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 3, 8),
            (9, 5, 10),
            (300, 13, 20),
            (517, 11, 25),
            (6, 7, 32),
        ] {
            let (x, w, g) = (matrix(m, k, 1), matrix(k, n, 2), matrix(m, n, 3));
            let (xs, ws, gs) = (
                x.as_slice().expect("standard"),
                w.as_slice().expect("standard"),
                g.as_slice().expect("standard"),
            );
            close(&xw(xs, m, k, ws, n), &x.dot(&w));
            close(&xtg(xs, m, k, gs, n), &x.t().dot(&g));
        }
    }
}
