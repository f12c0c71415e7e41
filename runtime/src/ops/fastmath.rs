//! `tanh` over a slice of `f32`, vectorised. libm's `tanhf` is a scalar
//! call per element and was half of an SST training step (the arc scorer
//! takes B·(N+1)²·K of them, the LSTM gates 5 per unit and word). Here the
//! loop body is branch-free arithmetic that the compiler turns into SIMD:
//! `tanh|x| = (1 − t) / (1 + t)` with `t = e^{−2|x|}`, `e^y` by the usual
//! range reduction `y = n·ln2 + r`, `|r| ≤ ln2/2`, a degree-7 Taylor
//! polynomial for `e^r` (truncation below 5e-9) and `2^n` built from its
//! exponent bits. Absolute error stays under 2.5e-7 (pinned by the test
//! against f64 `tanh` below), a few units in the last place of f32 near
//! ±1 and far below anything training can see. `f64` keeps libm's `tanh`:
//! gradient checks and reference computations run in f64.

/// Replaces every element of `xs` by its hyperbolic tangent.
pub fn tanh_in_place(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::gemm::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, the features the copy assumes.
        return unsafe { tanh_avx2(xs) };
    }
    tanh_body(xs);
}

/// [`tanh_body`] compiled for 256-bit vectors (8 lanes instead of 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tanh_avx2(xs: &mut [f32]) {
    tanh_body(xs);
}

#[inline(always)]
fn tanh_body(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = tanh_one(*x);
    }
}

#[inline(always)]
fn tanh_one(x: f32) -> f32 {
    // Past 9, tanh is 1 in f32 (1 − tanh 9 ≈ 3e-8); clamping keeps 2^n
    // a normal number.
    let a = x.abs().min(9.0);
    let t = exp_nonpositive(-2.0 * a);
    let r = ((1.0 - t) / (1.0 + t)).copysign(x);
    // `min` would turn NaN into 9: keep NaN visible to the finiteness checks.
    if x.is_nan() {
        x
    } else {
        r
    }
}

/// `e^y` for `y` in [−18, 0].
#[inline(always)]
fn exp_nonpositive(y: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part with few mantissa bits (exact in n·LN2_HI) and
    // the rest, so that r = y − n·ln2 loses nothing.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer with
    // plain adds (no SSE4.1 `round` needed).
    const ROUND: f32 = 12_582_912.0;
    let n = (y * LOG2E + ROUND) - ROUND;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // n ∈ [−26, 0]: 2^n is the normal float with biased exponent n + 127.
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * two_n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: f32) -> f64 {
        f64::from(x).tanh()
    }

    #[test]
    fn tanh_is_within_a_few_ulp_of_the_f64_tanh_everywhere() {
        // Every 1/4096 from −12 to 12, plus tiny and huge magnitudes.
        let mut xs: Vec<f32> = (-12 * 4096..=12 * 4096)
            .map(|i| i as f32 / 4096.0)
            .collect();
        xs.extend([1e-30, -1e-30, 1e-7, -3e-5, 20.0, -20.0, 1e30, -1e30]);
        let mut ys = xs.clone();
        tanh_in_place(&mut ys);
        let mut worst = 0.0f64;
        for (&x, &y) in xs.iter().zip(&ys) {
            let err = (f64::from(y) - reference(x)).abs();
            worst = worst.max(err);
            assert!(err < 2.5e-7, "tanh({x}) = {y}, want {}", reference(x));
            assert!(y.abs() <= 1.0, "tanh({x}) = {y} leaves [−1, 1]");
        }
        // The same code without the AVX2 copy (the fallback other CPUs run).
        let mut plain = xs.clone();
        tanh_body(&mut plain);
        for (&a, &b) in plain.iter().zip(&ys) {
            assert!((a - b).abs() <= 1.2e-7, "vector and scalar copies disagree");
        }
        assert!(worst > 0.0, "compared against something");
    }

    #[test]
    fn tanh_is_odd_exact_at_zero_and_saturates() {
        let mut ys = [0.0, -0.0, 0.3, -0.3, 50.0, -50.0, f32::INFINITY];
        tanh_in_place(&mut ys);
        assert_eq!(ys[0], 0.0);
        assert!(ys[1] == 0.0 && ys[1].is_sign_negative());
        assert_eq!(ys[2], -ys[3]);
        assert_eq!((ys[4], ys[5], ys[6]), (1.0, -1.0, 1.0));
    }

    #[test]
    fn tanh_keeps_nan_visible() {
        let mut ys = [f32::NAN, 1.0];
        tanh_in_place(&mut ys);
        assert!(ys[0].is_nan());
        assert!((ys[1] - 0.761_594_2).abs() < 1e-7);
    }
}
