//! `linear(x, out)`: `x W + b` over the last axis, as `nn.Linear`.

use super::{fan_in, Layer, LayerCx, ParamShape, Shape, OUT, X};
use crate::builtins::shapes::{const_dim, expect_f32, with_last, Args, ShapeError};
use crate::builtins::{b, opt, ArgTy, Builtin, Default, Kind};
use crate::types::Dim;
use lsmc_ir::graph::{NodeId, Op};

pub(super) const NAME: &str = "linear";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        X,
        OUT,
        opt(
            "bias",
            ArgTy::Bool,
            Default::Bool(true),
            "add a learned bias",
        ),
    ],
    "Affine map of the last axis: `x W + b`.",
);

pub struct Linear;

impl Layer for Linear {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let x = expect_f32(args, "x", NAME, None, "an f32 tensor")?;
        let d = const_dim(&x, "x", NAME)?;
        let out = args.size("out")?;
        Ok(Shape {
            ty: with_last(&x, out),
            params: params(d, out, args.bool("bias")?, 0),
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let x = cx.arg(args, "x")?;
        let bias = cx.need(args.bool("bias"))?;
        let dims = cx.dims().to_vec();
        affine(cx, x, bias, dims)
    }
}

/// The weight `[d_in, out]` and bias `[out]` of the call's `instance`th
/// layer, both drawn from U(±1/√d_in) as `nn.Linear` does.
pub(super) fn params(d_in: u64, out: u64, bias: bool, instance: usize) -> Vec<ParamShape> {
    let mut params = vec![ParamShape::new(NAME, "weight", &[d_in, out], fan_in(d_in))];
    if bias {
        params.push(ParamShape::new(NAME, "bias", &[out], fan_in(d_in)));
    }
    params
        .into_iter()
        .map(|p| p.of_instance(instance))
        .collect()
}

/// `x W (+ b)` with the next parameters, as [`params`] declares them.
pub(super) fn affine(
    cx: &mut LayerCx<'_>,
    x: NodeId,
    bias: bool,
    dims: Vec<Dim>,
) -> Option<NodeId> {
    let w = cx.param()?;
    let y = cx.node(Op::MatMul, vec![x, w], dims.clone());
    if !bias {
        return Some(y);
    }
    let b = cx.param()?;
    Some(cx.node(Op::AddBias, vec![y, b], dims))
}
