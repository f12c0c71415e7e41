//! The element types the runtime computes in: `f32` for training, `f64`
//! for gradient checks and reference computations.

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::Float;
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

pub trait Real:
    LinalgScalar
    + Float
    + ScalarOperand
    + Debug
    + Display
    + Send
    + Sync
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + 'static
{
    /// Bytes in checkpoints and the name in messages.
    const NAME: &'static str;
    fn of(v: f64) -> Self;
    fn f64(self) -> f64;
    fn to_le_bytes_vec(self) -> Vec<u8>;
    fn from_le_slice(b: &[u8]) -> Self;
    /// `tanh` of every element, in place: vectorised for `f32`
    /// ([`crate::ops::fastmath`]), libm's for `f64`.
    fn tanh_in_place(xs: &mut [Self]);
}

impl Real for f32 {
    const NAME: &'static str = "f32";
    fn of(v: f64) -> f32 {
        v as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
    fn to_le_bytes_vec(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn from_le_slice(b: &[u8]) -> f32 {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn tanh_in_place(xs: &mut [f32]) {
        crate::ops::fastmath::tanh_in_place(xs);
    }
}

impl Real for f64 {
    const NAME: &'static str = "f64";
    fn of(v: f64) -> f64 {
        v
    }
    fn f64(self) -> f64 {
        self
    }
    fn to_le_bytes_vec(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn from_le_slice(b: &[u8]) -> f64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        f64::from_le_bytes(a)
    }
    fn tanh_in_place(xs: &mut [f64]) {
        xs.iter_mut().for_each(|x| *x = x.tanh());
    }
}
