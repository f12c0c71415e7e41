//! The gradient checker: every op's VJP against central finite
//! differences in f64. For a random cotangent `r`, the VJP must equal
//! ∇ₓ ⟨r, f(x)⟩ elementwise, with relative error below 1e-6 (absolute
//! below 1e-8 for gradients smaller than 1e-2).

use super::{forward, vjp, Env};
use lsmc_ir::graph::Op;
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn random(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.random::<f64>() * 2.0 - 1.0)
}

/// Random inputs of these shapes; inputs listed in `discrete` as
/// `(index, bound)` hold whole numbers in `0..bound` (labels, ids).
pub fn check_op(op: &Op, shapes: &[&[usize]], discrete: &[(usize, usize)]) {
    let inputs: Vec<ArrayD<f64>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| match discrete.iter().find(|(j, _)| *j == i) {
            Some(&(_, bound)) => {
                let mut rng = ChaCha8Rng::seed_from_u64(100 + i as u64);
                ArrayD::from_shape_simple_fn(IxDyn(s), || rng.random_range(0..bound) as f64)
            }
            None => random(s, 10 + i as u64),
        })
        .collect();
    check_inputs(op, &inputs);
}

fn run(op: &Op, inputs: &[ArrayD<f64>]) -> (ArrayD<f64>, Option<ArrayD<f64>>) {
    // A fresh generator with one seed per call: stochastic ops (dropout)
    // draw the same mask in every evaluation.
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut env = Env {
        train: true,
        rng: &mut rng,
        threads: 1,
    };
    let refs: Vec<&ArrayD<f64>> = inputs.iter().collect();
    let f = forward(op, &refs, &[], &mut env);
    match f.aux {
        Some(super::Aux::Array(a)) => (f.out, Some(a)),
        _ => (f.out, None),
    }
}

pub fn check_inputs(op: &Op, inputs: &[ArrayD<f64>]) {
    let (out, aux) = run(op, inputs);
    let r = random(out.shape(), 777);
    let refs: Vec<&ArrayD<f64>> = inputs.iter().collect();
    let grads = vjp(op, &refs, &out, aux.as_ref(), &r, 1);
    let objective = |xs: &[ArrayD<f64>]| -> f64 { (&run(op, xs).0 * &r).sum() };
    let h = 1e-5;
    let mut checked = 0;
    for (i, g) in grads.iter().enumerate() {
        let Some(g) = g else { continue };
        assert_eq!(
            g.shape(),
            inputs[i].shape(),
            "{op:?}: gradient {i} has the wrong shape"
        );
        for j in 0..inputs[i].len() {
            let mut plus = inputs.to_vec();
            let mut minus = inputs.to_vec();
            plus[i].as_slice_mut().expect("contiguous")[j] += h;
            minus[i].as_slice_mut().expect("contiguous")[j] -= h;
            let numeric = (objective(&plus) - objective(&minus)) / (2.0 * h);
            let analytic = g.as_slice().expect("contiguous")[j];
            let scale = analytic.abs().max(numeric.abs()).max(1e-2);
            let err = (analytic - numeric).abs() / scale;
            assert!(
                err < 1e-6,
                "{op:?}: d/dx{i}[{j}] analytic {analytic} vs numeric {numeric} (relative error {err:e})"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "{op:?}: no gradient was checked");
}
