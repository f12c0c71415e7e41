//! Numbers for log-space dynamic programs: plain `f64`, or `f64` carrying
//! a tangent ([`Dual`]) so the same inside-outside code gives the
//! directional derivative of the marginals — the Hessian-vector product of
//! the log-partition that the marginals' VJP needs (the Hessian is
//! symmetric, so the VJP with `g` is the JVP in direction `g`).
//!
//! The log-sum-exp here is NaN-safe: an all-`−∞` input gives `−∞` (not
//! `NaN` from `−∞ − −∞`), and its weights `exp(x − total)` are zero there.

/// A log-space value that also serves as a linear adjoint. `add` is both
/// the log-space product and the linear sum (both are `+`).
pub trait Num: Copy + Send + Sync + 'static {
    /// log 0.
    const NEG: Self;
    /// Linear 0 (an adjoint that contributes nothing).
    const ZERO: Self;
    /// Linear 1.
    const ONE: Self;
    fn v(self) -> f64;
    fn add(self, o: Self) -> Self;
    /// Linear product.
    fn mul(self, o: Self) -> Self;
    /// `log Σ exp(xs)`, NaN-safe.
    fn lse(xs: &[Self]) -> Self;
    /// `exp(x − total)`: the share of `x` in a log-sum-exp `total`; zero
    /// when either is `−∞`.
    fn weight(x: Self, total: Self) -> Self;
    fn is_zero(self) -> bool;
    /// Log-space division (`x − y`).
    fn sub(self, o: Self) -> Self;
    /// A constant (no tangent).
    fn of(v: f64) -> Self;
    /// `dst_y ← log(exp(dst_y) + exp(f + src_y))` for every `y`: the row
    /// update of a log-space elimination.
    #[inline(always)]
    fn lae_row(dst: &mut [Self], f: Self, src: &[Self]) {
        for (d, &x) in dst.iter_mut().zip(src) {
            *d = Self::lse(&[*d, f.add(x)]);
        }
    }
    /// The outside pass's inner loop: with `w_q = g · exp(a_q + b_q −
    /// total)`, adds `w_q` to both `ra_q` and `rb_q`.
    #[inline(always)]
    fn spread(g: Self, total: Self, a: &[Self], b: &[Self], ra: &mut [Self], rb: &mut [Self]) {
        for q in 0..a.len() {
            let w = g.mul(Self::weight(a[q].add(b[q]), total));
            ra[q] = ra[q].add(w);
            rb[q] = rb[q].add(w);
        }
    }
}

/// `exp(x)` for the dynamic programs: a branch-free polynomial (so loops
/// over slices vectorise), within a few ulp of `f64::exp` on
/// `[−708, 709]`, exactly 0 below (including −∞), +∞ above and NaN for NaN.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // 1.5 · 2^52: adding it rounds to an integer kept in the low mantissa bits.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let xc = x.clamp(-708.0, 709.0);
    let t = xc * LOG2E + MAGIC;
    let k = t - MAGIC;
    let r = xc - k * LN2_HI - k * LN2_LO;
    // Taylor series of e^r for |r| ≤ ln2/2 to degree 12 (error < 2e-16),
    // by Estrin's scheme: short dependency chains keep vector units busy.
    const C: [f64; 13] = [
        1.0,
        1.0,
        0.5,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
    ];
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let s0 = (C[0] + C[1] * r) + (C[2] + C[3] * r) * r2;
    let s1 = (C[4] + C[5] * r) + (C[6] + C[7] * r) * r2;
    let s2 = (C[8] + C[9] * r) + (C[10] + C[11] * r) * r2;
    let p = (s0 + s1 * r4) + (s2 + C[12] * r4) * r8;
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    let y = p * scale;
    if x < -708.0 {
        0.0
    } else if x > 709.0 {
        f64::INFINITY
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// Accumulators per reduction, enough for 256-bit vectors of f64.
const LANES: usize = 4;

/// The maximum of `xs` (−∞ for an empty or all-−∞ slice; NaN never wins).
#[inline]
fn max_of(xs: impl Iterator<Item = f64>) -> f64 {
    xs.fold(f64::NEG_INFINITY, |m, x| if x > m { x } else { m })
}

/// `ln(x)` for the dynamic programs: branch-free (so loops over slices
/// vectorise), within a few ulp of `f64::ln` for positive normal `x`;
/// `ln(0) = −∞`. Only called on sums of exponentials, which are ≥ 1 or 0.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    // x = 2^e · f with f ∈ [√½, √2): ln x = e ln 2 + 2 atanh((f − 1)/(f + 1)).
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = mantissa > std::f64::consts::SQRT_2;
    let f = if big { mantissa * 0.5 } else { mantissa };
    let e = (exponent + big as i64) as f64;
    let z = (f - 1.0) / (f + 1.0);
    let z2 = z * z;
    // 2 atanh(z) = 2 Σ z^(2k+1)/(2k+1), |z| ≤ 0.1716: to z^21 the error is < 1e-17.
    let z4 = z2 * z2;
    let z8 = z4 * z4;
    let a = (1.0 + z2 / 3.0) + (1.0 / 5.0 + z2 / 7.0) * z4;
    let b = (1.0 / 9.0 + z2 / 11.0) + (1.0 / 13.0 + z2 / 15.0) * z4;
    let c = (1.0 / 17.0 + z2 / 19.0) + z4 / 21.0;
    let series = a + (b + c * z8) * z8;
    let y = e * std::f64::consts::LN_2 + 2.0 * z * series;
    if x == 0.0 {
        f64::NEG_INFINITY
    } else if x.is_nan() || x < f64::MIN_POSITIVE || x == f64::INFINITY {
        x.ln()
    } else {
        y
    }
}

impl Num for f64 {
    const NEG: f64 = f64::NEG_INFINITY;
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    #[inline(always)]
    fn v(self) -> f64 {
        self
    }
    #[inline(always)]
    fn add(self, o: f64) -> f64 {
        self + o
    }
    #[inline(always)]
    fn mul(self, o: f64) -> f64 {
        self * o
    }
    #[inline(always)]
    fn lse(xs: &[f64]) -> f64 {
        // Four partial maxima and sums: an in-order floating-point
        // reduction would keep the loop from vectorising.
        let chunks = xs.chunks_exact(LANES);
        let rest = chunks.remainder();
        let mut mx = [f64::NEG_INFINITY; LANES];
        for c in chunks.clone() {
            for l in 0..LANES {
                mx[l] = if c[l] > mx[l] { c[l] } else { mx[l] };
            }
        }
        let m = max_of(mx.iter().chain(rest).copied());
        if m == f64::NEG_INFINITY {
            return m;
        }
        let mut acc = [0.0; LANES];
        for c in chunks {
            for l in 0..LANES {
                acc[l] += exp(c[l] - m);
            }
        }
        let tail: f64 = rest.iter().map(|&x| exp(x - m)).sum();
        m + (acc.iter().sum::<f64>() + tail).ln()
    }
    #[inline(always)]
    fn weight(x: f64, total: f64) -> f64 {
        if x == f64::NEG_INFINITY || total == f64::NEG_INFINITY {
            0.0
        } else {
            exp(x - total)
        }
    }
    #[inline(always)]
    fn sub(self, o: f64) -> f64 {
        self - o
    }
    #[inline(always)]
    fn of(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn lae_row(dst: &mut [f64], f: f64, src: &[f64]) {
        // max + ln(1 + exp(−|a − b|)), branch-free; −∞ on both sides stays −∞.
        for (d, &x) in dst.iter_mut().zip(src) {
            let b = f + x;
            let hi = if b > *d { b } else { *d };
            let lo = if b > *d { *d } else { b };
            let r = hi + ln(1.0 + exp(lo - hi));
            *d = if hi == f64::NEG_INFINITY { hi } else { r };
        }
    }
    #[inline(always)]
    fn spread(g: f64, total: f64, a: &[f64], b: &[f64], ra: &mut [f64], rb: &mut [f64]) {
        if total == f64::NEG_INFINITY {
            return;
        }
        // −∞ terms give exp(−∞) = 0 exactly: no branch needed.
        for (((&x, &y), u), v) in a.iter().zip(b).zip(ra.iter_mut()).zip(rb.iter_mut()) {
            let w = g * exp(x + y - total);
            *u += w;
            *v += w;
        }
    }
    #[inline(always)]
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

/// A value and its tangent (forward-mode derivative).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual {
    pub v: f64,
    pub t: f64,
}

impl Num for Dual {
    const NEG: Dual = Dual {
        v: f64::NEG_INFINITY,
        t: 0.0,
    };
    const ZERO: Dual = Dual { v: 0.0, t: 0.0 };
    const ONE: Dual = Dual { v: 1.0, t: 0.0 };
    #[inline(always)]
    fn v(self) -> f64 {
        self.v
    }
    #[inline(always)]
    fn add(self, o: Dual) -> Dual {
        Dual {
            v: self.v + o.v,
            t: self.t + o.t,
        }
    }
    #[inline(always)]
    fn mul(self, o: Dual) -> Dual {
        Dual {
            v: self.v * o.v,
            t: self.t * o.v + self.v * o.t,
        }
    }
    #[inline(always)]
    fn lse(xs: &[Dual]) -> Dual {
        let m = max_of(xs.iter().map(|x| x.v));
        if m == f64::NEG_INFINITY {
            return Dual::NEG;
        }
        // d lse = Σ softmax(x)_q dx_q.
        let (mut s, mut t) = (0.0, 0.0);
        for x in xs {
            let e = exp(x.v - m);
            s += e;
            t += e * x.t;
        }
        Dual {
            v: m + s.ln(),
            t: t / s,
        }
    }
    #[inline(always)]
    fn weight(x: Dual, total: Dual) -> Dual {
        if x.v == f64::NEG_INFINITY || total.v == f64::NEG_INFINITY {
            return Dual::ZERO;
        }
        let w = exp(x.v - total.v);
        Dual {
            v: w,
            t: w * (x.t - total.t),
        }
    }
    #[inline(always)]
    fn is_zero(self) -> bool {
        self.v == 0.0 && self.t == 0.0
    }
    #[inline(always)]
    fn sub(self, o: Dual) -> Dual {
        Dual {
            v: self.v - o.v,
            t: self.t - o.t,
        }
    }
    #[inline(always)]
    fn of(v: f64) -> Dual {
        Dual { v, t: 0.0 }
    }
}

/// The index of a weight drawn in proportion to `weights` (non-negative,
/// summing to `total`) with one uniform from `rng`: the first whose running
/// sum passes `u · total`, or the last positive one when rounding leaves
/// the draw beyond the sum; `None` when no weight is positive. Every
/// exact sampler draws its choices through this one place.
pub fn draw(
    weights: impl IntoIterator<Item = f64>,
    total: f64,
    rng: &mut impl rand::Rng,
) -> Option<usize> {
    let u = rng.random::<f64>() * total;
    let (mut acc, mut last) = (0.0, None);
    for (j, w) in weights.into_iter().enumerate() {
        if w > 0.0 {
            last = Some(j);
        }
        acc += w;
        if u < acc {
            return last;
        }
    }
    last
}

/// The VJP of `lse(xs)`: `g · softmax(xs)`, zero where the total is −∞.
pub fn lse_vjp(xs: &[f64], g: f64) -> Vec<f64> {
    let total = f64::lse(xs);
    xs.iter().map(|&x| g * f64::weight(x, total)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lse_of_nothing_but_minus_infinity_is_minus_infinity_not_nan() {
        let xs = [f64::NEG_INFINITY; 3];
        assert_eq!(f64::lse(&xs), f64::NEG_INFINITY);
        assert_eq!(lse_vjp(&xs, 1.0), vec![0.0; 3]);
        let d = [Dual::NEG; 2];
        assert_eq!(Dual::lse(&d), Dual::NEG);
    }

    #[test]
    fn fast_exp_is_within_a_few_ulp_of_the_standard_one() {
        let mut worst = 0.0f64;
        let mut x = -708.0;
        while x < 709.0 {
            let (a, b) = (exp(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 1e-15, "relative error {worst}");
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1e4), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(1e4), f64::INFINITY);
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn fast_ln_is_within_a_few_ulp_of_the_standard_one() {
        let mut worst = 0.0f64;
        let mut x = 1e-300;
        while x < 1e300 {
            for f in [1.0, 1.1, 1.3, 1.41, 1.42, 1.7, 1.99] {
                let v = x * f;
                let (a, b) = (ln(v), v.ln());
                worst = worst.max((a - b).abs() / b.abs().max(1.0));
            }
            x *= 3.7;
        }
        assert!(worst < 1e-15, "error {worst}");
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(f64::NAN).is_nan());
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
    }

    #[test]
    fn lse_survives_huge_scores() {
        let xs = [1e4, -1e4, 1e4 - 1.0];
        let l = f64::lse(&xs);
        assert!((l - (1e4 + (1.0 + (-1f64).exp()).ln())).abs() < 1e-9);
        let w = lse_vjp(&xs, 1.0);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn dual_lse_tangent_is_the_finite_difference() {
        let xs = [0.3, -1.2, 2.0, 0.7];
        let dir = [0.5, -0.1, 0.25, 1.0];
        let d: Vec<Dual> = xs.iter().zip(&dir).map(|(&v, &t)| Dual { v, t }).collect();
        let e = 1e-6;
        let at = |h: f64| {
            let p: Vec<f64> = xs.iter().zip(&dir).map(|(x, d)| x + h * d).collect();
            f64::lse(&p)
        };
        let fd = (at(e) - at(-e)) / (2.0 * e);
        assert!((Dual::lse(&d).t - fd).abs() < 1e-9);
        let w = Dual::weight(d[0], Dual::lse(&d));
        let fdw =
            ((xs[0] + e * dir[0] - at(e)).exp() - (xs[0] - e * dir[0] - at(-e)).exp()) / (2.0 * e);
        assert!((w.t - fdw).abs() < 1e-9);
    }
}
