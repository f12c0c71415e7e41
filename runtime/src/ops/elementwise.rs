//! Elementwise ops: arithmetic between tensors of one shape, arithmetic
//! with a constant (`Affine`), and the activations. Their forwards and
//! VJPs are one-liners in [`super::forward`] and [`super::vjp`]; the helpers
//! and the gradient checks live here.

use crate::real::Real;
use ndarray::{ArrayD, Zip};

pub fn affine<T: Real>(x: &ArrayD<T>, scale: f64, shift: f64) -> ArrayD<T> {
    let (a, b) = (T::of(scale), T::of(shift));
    x.mapv(|v| a * v + b)
}

/// `tanh` elementwise, through the vectorised slice kernel.
pub fn tanh<T: Real>(x: &ArrayD<T>) -> ArrayD<T> {
    let mut out = x.as_standard_layout().into_owned();
    T::tanh_in_place(out.as_slice_mut().expect("standard layout"));
    out
}

/// The logistic function, computed without overflow for large |x|.
pub fn sigmoid<T: Real>(v: T) -> T {
    if v >= T::zero() {
        T::one() / (T::one() + (-v).exp())
    } else {
        let e = v.exp();
        e / (T::one() + e)
    }
}

/// `f(a, b)` elementwise over two arrays of one shape.
pub fn zip<T: Real>(a: &ArrayD<T>, b: &ArrayD<T>, f: impl Fn(T, T) -> T) -> ArrayD<T> {
    let mut out = a.clone();
    Zip::from(&mut out).and(b).for_each(|o, &bv| *o = f(*o, bv));
    out
}

pub fn div_vjp<T: Real>(a: &ArrayD<T>, b: &ArrayD<T>, g: &ArrayD<T>) -> Vec<Option<ArrayD<T>>> {
    let da = g / b;
    let mut db = g.clone();
    Zip::from(&mut db)
        .and(a)
        .and(b)
        .for_each(|d, &av, &bv| *d = -*d * av / (bv * bv));
    vec![Some(da), Some(db)]
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::{check_inputs, check_op, random};
    use lsmc_ir::graph::Op;

    #[test]
    fn arithmetic_vjps_match_finite_differences() {
        for op in [Op::Add, Op::Sub, Op::Mul] {
            check_op(&op, &[&[3, 4], &[3, 4]], &[]);
        }
        let a = random(&[3, 4], 1);
        let b = random(&[3, 4], 2).mapv(|v| v.abs() + 0.5);
        check_inputs(&Op::Div, &[a, b]);
        check_op(
            &Op::Affine {
                scale: -2.5,
                shift: 0.3,
            },
            &[&[5]],
            &[],
        );
        check_op(&Op::Neg, &[&[2, 3]], &[]);
        check_inputs(&Op::Recip, &[random(&[6], 3).mapv(|v| v.abs() + 0.5)]);
    }

    #[test]
    fn activation_vjps_match_finite_differences() {
        for op in [Op::Tanh, Op::Sigmoid, Op::Exp] {
            check_op(&op, &[&[4, 5]], &[]);
        }
        check_inputs(&Op::Log, &[random(&[4, 5], 4).mapv(|v| v.abs() + 0.1)]);
        // Keep ReLU's inputs away from its kink, where it has no derivative.
        check_inputs(
            &Op::Relu,
            &[random(&[4, 5], 5).mapv(|v| if v.abs() < 0.1 { v + 0.3 } else { v })],
        );
    }

    #[test]
    fn sigmoid_is_finite_for_extreme_inputs() {
        assert_eq!(super::sigmoid(1e4f32), 1.0);
        assert_eq!(super::sigmoid(-1e4f32), 0.0);
    }
}
