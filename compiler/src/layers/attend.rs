//! `attend(scores, values)`: each row of `scores` softmax-normalised over
//! the true length of `values`' sequence, and the values averaged with
//! those weights — the "attend" step of the decomposable attention model
//! (Parikh et al. 2016): `β = attend(e, b)`, `α = attend(transpose(e), a)`.

use super::{Layer, LayerCx, Shape};
use crate::builtins::shapes::{expect_f32, mismatch, Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use crate::types::Tensor;
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "attend";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        req("scores", ArgTy::Value, "f32[B, N, M]: row i scores the M values"),
        req("values", ArgTy::Value, "f32[B, M, D]: the sequence attended to"),
    ],
    "Masked soft attention: `out_i = Σ_j softmax_j(scores_ij) values_j` over the true length of `values`.",
);

pub struct Attend;

impl Layer for Attend {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let s = expect_f32(args, "scores", NAME, Some(3), "scores f32[B, N, M]")?;
        let v = expect_f32(args, "values", NAME, Some(3), "a sequence f32[B, M, D]")?;
        if v.dims[0] != s.dims[0] || v.dims[1] != s.dims[2] {
            return Err(mismatch(
                "values",
                format!(
                    "`{NAME}` needs one value per scored position: the scores are {s}, so the values must be [{}, {}, D], found {v}",
                    s.dims[0], s.dims[2]
                ),
                format!("this is {v}"),
            ));
        }
        Ok(Shape::of(Tensor::f32(vec![
            s.dims[0], s.dims[1], v.dims[2],
        ])))
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let scores = cx.arg(args, "scores")?;
        let values = cx.arg(args, "values")?;
        // The mask is the padding of the values' sequence (`lengths_M` for
        // a second text), checked equal to the scores' last axis above.
        let lengths = cx.lengths_of(args.tensor("values").dims[1]);
        Some(cx.output(Op::Attend, vec![scores, values, lengths]))
    }
}
