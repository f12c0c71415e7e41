//! Ops that draw random numbers: `Dropout` and `Gumbel` noise. Both are
//! off at evaluation, and draw from the executor's seeded generator so a
//! run is reproducible (and a resumed run bit-identical).

use super::{Env, Fwd};
use crate::real::Real;
use ndarray::{ArrayD, IxDyn};
use rand::Rng;

/// Inverted dropout: keeps each value with probability `1 − p` and scales
/// it by `1 / (1 − p)`. The scaled mask is kept for the VJP.
pub fn dropout<T: Real>(x: &ArrayD<T>, p: f64, env: &mut Env) -> Fwd<T> {
    if !env.train || p == 0.0 {
        return Fwd::plain(x.clone());
    }
    let scale = T::of(1.0 / (1.0 - p));
    let mask = ArrayD::from_shape_simple_fn(x.raw_dim(), || {
        if env.rng.random::<f64>() < p {
            T::zero()
        } else {
            scale
        }
    });
    Fwd::with_array(x * &mask, mask)
}

pub fn dropout_vjp<T: Real>(mask: Option<&ArrayD<T>>, g: &ArrayD<T>) -> ArrayD<T> {
    match mask {
        Some(m) => g * m,
        None => g.clone(),
    }
}

/// Standard Gumbel noise `−log(−log u)`, `u ~ U(0, 1)`; zeros at evaluation.
pub fn gumbel<T: Real>(shape: &[usize], env: &mut Env) -> ArrayD<T> {
    if !env.train {
        return ArrayD::zeros(IxDyn(shape));
    }
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        // Open interval: u = 0 or 1 would give an infinite value.
        let u: f64 = env.rng.random::<f64>().clamp(1e-12, 1.0 - 1e-12);
        T::of(-(-u.ln()).ln())
    })
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::check_op;
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn dropout_vjp_matches_finite_differences_for_a_fixed_mask() {
        check_op(&lsmc_ir::graph::Op::Dropout(0.3), &[&[4, 6]], &[]);
    }

    #[test]
    fn dropout_keeps_the_expected_fraction_and_is_identity_at_evaluation() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x = ArrayD::<f64>::ones(IxDyn(&[100, 100]));
        let mut env = Env {
            train: true,
            rng: &mut rng,
            threads: 1,
        };
        let y = dropout(&x, 0.25, &mut env).out;
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / 1e4;
        assert!((kept - 0.75).abs() < 0.02, "kept {kept}");
        assert!(
            (y.sum() / 1e4 - 1.0).abs() < 0.03,
            "inverted scaling keeps the mean"
        );
        env.train = false;
        assert_eq!(dropout(&x, 0.25, &mut env).out, x);
    }

    #[test]
    fn gumbel_noise_has_the_gumbel_mean() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mut env = Env {
            train: true,
            rng: &mut rng,
            threads: 1,
        };
        let g: ArrayD<f64> = gumbel(&[200, 100], &mut env);
        let mean = g.sum() / g.len() as f64;
        // E[Gumbel(0, 1)] is the Euler–Mascheroni constant.
        assert!((mean - 0.5772).abs() < 0.02, "mean {mean}");
    }
}
