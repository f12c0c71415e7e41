//! `sum_pool(x)` and `mean_pool(x)`: masked reductions over the sequence
//! axis.

use super::{Layer, LayerCx, Shape, X};
use crate::builtins::shapes::{const_dim, expect_f32, Args, ShapeError};
use crate::builtins::{b, Builtin, Kind};
use crate::types::Tensor;
use lsmc_ir::graph::{NodeId, Op};

pub struct MaskedPool {
    signature: Builtin,
    op: Op,
}

pub static SUM_POOL: MaskedPool = MaskedPool {
    signature: b(
        "sum_pool",
        Kind::Layer,
        &[X],
        "Masked sum over the sequence axis.",
    ),
    op: Op::SumPool,
};

pub static MEAN_POOL: MaskedPool = MaskedPool {
    signature: b(
        "mean_pool",
        Kind::Layer,
        &[X],
        "Masked mean over the sequence axis.",
    ),
    op: Op::MeanPool,
};

impl Layer for MaskedPool {
    fn signature(&self) -> &Builtin {
        &self.signature
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        Ok(Shape::of(pooled(args, self.signature.name)?.0))
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
        Some(cx.output(self.op.clone(), vec![x, lengths]))
    }
}

/// The type of a sequence `x` pooled over its words, and its feature size.
pub(super) fn pooled(args: &Args, layer: &str) -> Result<(Tensor, u64), ShapeError> {
    let x = expect_f32(args, "x", layer, Some(3), "a sequence f32[B, N, D]")?;
    let d = const_dim(&x, "x", layer)?;
    Ok((Tensor::f32(vec![x.dims[0], x.dims[2]]), d))
}
