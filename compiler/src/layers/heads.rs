//! `heads(z, h)`: each word's expected head representation under a tree
//! latent.

use super::{plus_one, Layer, LayerCx, Shape};
use crate::builtins::shapes::{expect_f32, mismatch, Args, ShapeError, ShapeErrorKind};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use lsmc_ir::graph::{NodeId, Op};
use lsmc_ir::structures::ARCS;

const NAME: &str = "heads";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        req("z", ArgTy::Value, "a tree latent f32[B, N+1, N+1]"),
        req("h", ArgTy::Value, "word representations f32[B, N, D]"),
    ],
    "Each word's expected head representation `Σ_j µ[j→i] h_j` (the root contributes zeros).",
);

pub struct Heads;

impl Layer for Heads {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let z = args.tensor("z");
        if !z.latent.is_some_and(|d| d.scores == ARCS) {
            let what = match z.latent {
                Some(d) => format!("a {} latent", d.name),
                None => format!("{z}, not a latent"),
            };
            return Err(ShapeError {
                kind: ShapeErrorKind::NeedsTree,
                arg: "z",
                message: format!("`{NAME}` needs a dependency-tree latent"),
                label: format!("this is {what}"),
                help: Some(
                    "declare the latent as `latent z : dependency_tree(projective) = …`".into(),
                ),
            });
        }
        let h = expect_f32(
            args,
            "h",
            NAME,
            Some(3),
            "word representations f32[B, N, D]",
        )?;
        let n1 = plus_one(h.dims[1]);
        if z.dims != vec![h.dims[0], n1, n1] {
            return Err(mismatch(
                "h",
                format!("`{NAME}` got a tree over {z} but words {h}"),
                format!("this is {h}"),
            ));
        }
        Ok(Shape::of(h))
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let z = cx.arg(args, "z")?;
        let h = cx.arg(args, "h")?;
        Some(cx.output(Op::Heads, vec![z, h]))
    }
}
