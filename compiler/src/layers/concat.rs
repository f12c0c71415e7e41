//! `concat(a, b, …)`: inputs joined along the last axis.

use super::{Layer, LayerCx, Shape};
use crate::builtins::shapes::{const_dim, mismatch, with_last, Args, ShapeError};
use crate::builtins::{req, ArgTy, Builtin, Kind};
use crate::types::Elem;
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "concat";

static SIGNATURE: Builtin = Builtin {
    name: NAME,
    kind: Kind::Layer,
    params: &[
        req("a", ArgTy::Value, "first input"),
        req("b", ArgTy::Value, "further inputs"),
    ],
    variadic: true,
    doc: "Concatenate along the last axis.",
};

pub struct Concat;

impl Layer for Concat {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let parts = args
            .tensors("a")
            .into_iter()
            .chain(args.tensors("b"))
            .collect::<Vec<_>>();
        let first = parts[0];
        let mut total = 0;
        for (i, t) in parts.iter().enumerate() {
            let arg = if i == 0 { "a" } else { "b" };
            if t.elem != Elem::F32
                || t.rank() != first.rank()
                || t.dims[..t.rank().saturating_sub(1)]
                    != first.dims[..first.rank().saturating_sub(1)]
            {
                return Err(mismatch(arg, format!("`{NAME}` joins the last axis, so the other axes must agree: {first} and {t}"), format!("this is {t}")));
            }
            total += const_dim(t, arg, NAME)?;
        }
        Ok(Shape::of(with_last(first, total)))
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let mut parts = Vec::new();
        for p in args.exprs("a").into_iter().chain(args.exprs("b")) {
            parts.push(cx.expr(p)?);
        }
        Some(cx.output(Op::Concat, parts))
    }
}
