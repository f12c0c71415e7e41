//! `one_hot(labels)`: class labels as one-hot rows (the gold-cluster
//! baseline).

use super::{Layer, LayerCx, Shape};
use crate::builtins::shapes::{mismatch, Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use crate::types::{Dim, Elem, Tensor};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "one_hot";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[req("labels", ArgTy::Value, "class labels class(K)[B]")],
    "One-hot encoding f32[B, K] of class labels (the gold-cluster baseline).",
);

pub struct OneHot;

impl Layer for OneHot {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let l = args.tensor("labels");
        match l.elem {
            Elem::Class(k) if l.rank() == 1 => {
                Ok(Shape::of(Tensor::f32(vec![l.dims[0], Dim::Const(k)])))
            }
            _ => Err(mismatch(
                "labels",
                format!("`{NAME}` expects class labels class(K)[B], found {l}"),
                format!("this is {l}"),
            )),
        }
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let Elem::Class(k) = args.tensor("labels").elem else {
            return cx.internal(format!("`{NAME}` of something other than class labels"));
        };
        let l = cx.arg(args, "labels")?;
        Some(cx.output(Op::OneHot(k as usize), vec![l]))
    }
}
