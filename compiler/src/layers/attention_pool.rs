//! `attention_pool(x)`: `Σ_i softmax_i(vᵀ x_i) x_i` over each sentence's
//! words.

use super::{fan_in, pool, Layer, LayerCx, ParamShape, Shape, X};
use crate::builtins::shapes::{Args, ShapeError};
use crate::builtins::{b, Builtin, Kind};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "attention_pool";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[X],
    "Masked attention pooling over the sequence: `Σ_i softmax_i(vᵀ x_i) x_i`.",
);

pub struct AttentionPool;

impl Layer for AttentionPool {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let (ty, d) = pool::pooled(args, NAME)?;
        Ok(Shape {
            ty,
            params: vec![ParamShape::new(NAME, "weight", &[d], fan_in(d))],
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let x = cx.arg(args, "x")?;
        let lengths = cx.lengths_of(
            args.tensor("x")
                .dims
                .get(1)
                .copied()
                .unwrap_or(crate::types::N),
        );
        let w = cx.param()?;
        Some(cx.output(Op::AttentionPool, vec![x, lengths, w]))
    }
}
