//! `matmul(a, b)`: a batched matrix product.

use super::{Layer, LayerCx, Shape};
use crate::builtins::shapes::{mismatch, Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use crate::types::Tensor;
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "matmul";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        req("a", ArgTy::Value, "f32[…, M, K]"),
        req("b", ArgTy::Value, "f32[…, K, P]"),
    ],
    "Batched matrix product.",
);

pub struct MatMul;

impl Layer for MatMul {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let a = args.tensor("a");
        let b = args.tensor("b");
        if a.rank() < 2
            || a.rank() != b.rank()
            || a.dims[..a.rank() - 2] != b.dims[..b.rank() - 2]
            || a.dims[a.rank() - 1] != b.dims[b.rank() - 2]
        {
            return Err(mismatch(
                "b",
                format!("`{NAME}` cannot multiply {a} by {b}"),
                format!("this is {b}"),
            ));
        }
        let mut dims = a.dims[..a.rank() - 1].to_vec();
        dims.push(b.dims[b.rank() - 1]);
        Ok(Shape::of(Tensor::f32(dims)))
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let a = cx.arg(args, "a")?;
        let b = cx.arg(args, "b")?;
        Some(cx.output(Op::MatMul, vec![a, b]))
    }
}
