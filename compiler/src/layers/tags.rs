//! `tags(z)`: each word's tag weights under a sequence latent.

use super::{Layer, LayerCx, Shape};
use crate::builtins::shapes::{Args, ShapeError, ShapeErrorKind};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use crate::types::Tensor;
use lsmc_ir::graph::{NodeId, Op};
use lsmc_ir::structures::TAG_PAIRS;

const NAME: &str = "tags";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[req("z", ArgTy::Value, "a sequence latent f32[B, N, K, K]")],
    "Each word's tag weights `Σ_p z[b, i, p, c]`: the tag marginals of `marg`, the one-hot tags of `argmax`, SparseMAP's tag weights.",
);

pub struct Tags;

impl Layer for Tags {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let z = args.tensor("z");
        if !z.latent.is_some_and(|d| d.scores == TAG_PAIRS) {
            let what = match z.latent {
                Some(d) => format!("a {} latent", d.name),
                None => format!("{z}, not a latent"),
            };
            return Err(ShapeError {
                kind: ShapeErrorKind::NeedsSequence,
                arg: "z",
                message: format!("`{NAME}` needs a sequence latent"),
                label: format!("this is {what}"),
                help: Some("declare the latent as `latent z : sequence(K) = …`".into()),
            });
        }
        Ok(Shape::of(Tensor::f32(z.dims[..3].to_vec())))
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let z = cx.arg(args, "z")?;
        Some(cx.output(Op::Tags, vec![z]))
    }
}
