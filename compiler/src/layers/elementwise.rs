//! Elementwise functions and the softmaxes over the last axis: one graph op
//! each, the input's shape kept.

use super::{Layer, LayerCx, Shape, X};
use crate::builtins::shapes::{expect_f32, Args, ShapeError};
use crate::builtins::{b, Builtin, Kind};
use crate::types::Tensor;
use lsmc_ir::graph::{NodeId, Op};

pub struct Elementwise {
    signature: Builtin,
    op: Op,
}

const fn elementwise(name: &'static str, op: Op, doc: &'static str) -> Elementwise {
    Elementwise {
        signature: b(name, Kind::Layer, &[X], doc),
        op,
    }
}

pub static TANH: Elementwise = elementwise("tanh", Op::Tanh, "Elementwise tanh.");
pub static RELU: Elementwise = elementwise("relu", Op::Relu, "Elementwise max(0, x).");
pub static SIGMOID: Elementwise =
    elementwise("sigmoid", Op::Sigmoid, "Elementwise logistic function.");
pub static EXP: Elementwise = elementwise("exp", Op::Exp, "Elementwise exponential.");
pub static LOG: Elementwise = elementwise("log", Op::Log, "Elementwise natural logarithm.");
pub static SOFTMAX: Elementwise =
    elementwise("softmax", Op::Softmax, "Softmax over the last axis.");
pub static LOG_SOFTMAX: Elementwise = elementwise(
    "log_softmax",
    Op::LogSoftmax,
    "Log-softmax over the last axis.",
);

impl Layer for Elementwise {
    fn signature(&self) -> &Builtin {
        &self.signature
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        same_shape(args, self.signature.name)
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let x = cx.arg(args, "x")?;
        Some(cx.output(self.op.clone(), vec![x]))
    }
}

/// `x`'s shape, as a plain f32 tensor: the result of a function of a
/// latent is no longer the latent.
pub(super) fn same_shape(args: &Args, layer: &str) -> Result<Shape, ShapeError> {
    let x = expect_f32(args, "x", layer, None, "an f32 tensor")?;
    Ok(Shape::of(Tensor::f32(x.dims)))
}
