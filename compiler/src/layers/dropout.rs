//! `dropout(x, p)`: inverted dropout, seeded, off at evaluation.

use super::{elementwise, Layer, LayerCx, Shape, X};
use crate::builtins::shapes::{Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "dropout";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[X, req("p", ArgTy::Float, "drop probability").fraction()],
    "Dropout (inverted scaling; seeded; off at evaluation).",
);

pub struct Dropout;

impl Layer for Dropout {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        elementwise::same_shape(args, NAME)
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let x = cx.arg(args, "x")?;
        let p = cx.need(args.float("p"))?;
        Some(cx.output(Op::Dropout(p), vec![x]))
    }
}
