//! `bilinear(a, b, out)`: `ŷ_o = aᵀ W_o b + c_o`, as `nn.Bilinear`.

use super::{fan_in, Layer, LayerCx, ParamShape, Shape, OUT};
use crate::builtins::shapes::{const_dim, expect_f32, mismatch, Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use crate::types::{Dim, Tensor};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "bilinear";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        req("a", ArgTy::Value, "left input, f32[B, K]"),
        req("b", ArgTy::Value, "right input, f32[B, D]"),
        OUT,
    ],
    "Bilinear map `ŷ_o = aᵀ W_o b + c_o` (the synthetic decoder `zᵀ W x + b`).",
);

pub struct Bilinear;

impl Layer for Bilinear {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let a = expect_f32(args, "a", NAME, Some(2), "f32[B, K]")?;
        let b = expect_f32(args, "b", NAME, Some(2), "f32[B, D]")?;
        if a.dims[0] != b.dims[0] {
            return Err(mismatch(
                "b",
                format!("`{NAME}` inputs disagree on the batch axis: {a} and {b}"),
                format!("this is {b}"),
            ));
        }
        let (k, d) = (const_dim(&a, "a", NAME)?, const_dim(&b, "b", NAME)?);
        let out = args.size("out")?;
        // nn.Bilinear bounds both weight and bias by 1/√in1_features.
        Ok(Shape {
            ty: Tensor::f32(vec![a.dims[0], Dim::Const(out)]),
            params: vec![
                ParamShape::new(NAME, "weight", &[d, k, out], fan_in(k)),
                ParamShape::new(NAME, "bias", &[out], fan_in(k)),
            ],
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let a = cx.arg(args, "a")?;
        let x = cx.arg(args, "b")?;
        let dims = cx.dims().to_vec();
        let w = cx.param()?;
        let y = cx.node(Op::Bilinear, vec![a, x, w], dims.clone());
        let c = cx.param()?;
        Some(cx.node(Op::AddBias, vec![y, c], dims))
    }
}
