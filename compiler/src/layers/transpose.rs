//! `transpose(x)`: the last two axes of a rank-3 tensor swapped, so that
//! `matmul(fa, transpose(fb))` scores every word of one text against every
//! word of another.

use super::{Layer, LayerCx, Shape, X};
use crate::builtins::shapes::{expect_f32, Args, ShapeError};
use crate::builtins::{b, Builtin, Kind};
use crate::types::Tensor;
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "transpose";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[X],
    "Swaps the last two axes: `f32[B, N, M]` → `f32[B, M, N]`.",
);

pub struct Transpose;

impl Layer for Transpose {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        // Rank 3 only: the batch axis stays first, as every op expects.
        let x = expect_f32(args, "x", NAME, Some(3), "a batch of matrices f32[B, N, M]")?;
        Ok(Shape::of(Tensor::f32(vec![
            x.dims[0], x.dims[2], x.dims[1],
        ])))
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let x = cx.arg(args, "x")?;
        Some(cx.output(Op::Transpose, vec![x]))
    }
}
