//! `chain_scores(h, tags)`: a linear-chain CRF's scores for a `sequence`
//! latent — per-word emissions `linear(h, K)` plus learned transition and
//! start scores — in the tag-pair layout.

use super::linear::affine;
use super::{fan_in, Layer, LayerCx, ParamShape, Shape};
use crate::builtins::shapes::{const_dim, expect_f32, Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use crate::types::{Dim, Tensor};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "chain_scores";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        req("h", ArgTy::Value, "word representations f32[B, N, D]"),
        req("tags", ArgTy::Int, "the sequence latent's number of tags K").positive(),
    ],
    "Linear-chain scores `s[b, i, p, c] = e[b, i, c] + T[p, c]` in the sequence layout f32[B, N, K, K], with emissions `e = linear(h, K)`, learned transitions `T[K, K]` and, for the first word, learned start scores instead of transitions.",
);

pub struct ChainScores;

impl Layer for ChainScores {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let h = expect_f32(
            args,
            "h",
            NAME,
            Some(3),
            "word representations f32[B, N, D]",
        )?;
        let d = const_dim(&h, "h", NAME)?;
        let k = args.size("tags")?;
        // As nn.Linear(D, K) for the emissions; the transitions and start
        // scores are drawn like a layer reading K inputs.
        let params = vec![
            ParamShape::new(NAME, "weight", &[d, k], fan_in(d)),
            ParamShape::new(NAME, "bias", &[k], fan_in(d)),
            ParamShape::new(NAME, "transitions", &[k, k], fan_in(k)),
            ParamShape::new(NAME, "start", &[k], fan_in(k)),
        ];
        Ok(Shape {
            ty: Tensor::f32(vec![h.dims[0], h.dims[1], Dim::Const(k), Dim::Const(k)]),
            params,
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let words = args.tensor("h").dims.clone();
        let k = cx.need(args.size("tags"))?;
        let h = cx.arg(args, "h")?;
        let emissions = affine(cx, h, true, vec![words[0], words[1], Dim::Const(k)])?;
        let transitions = cx.param()?;
        let start = cx.param()?;
        Some(cx.output(Op::ChainScores, vec![emissions, transitions, start]))
    }
}
