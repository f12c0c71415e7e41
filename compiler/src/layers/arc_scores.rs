//! `arc_scores(h, hidden)`: Eq. 23's arc scores in the tree layout, with a
//! learned root word.

use super::{fan_in, plus_one, Layer, LayerCx, ParamShape, Shape};
use crate::builtins::shapes::{const_dim, expect_f32, Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use crate::types::{Dim, Tensor};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "arc_scores";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        req("h", ArgTy::Value, "word representations f32[B, N, D]"),
        req("hidden", ArgTy::Int, "size of the scoring MLP").positive(),
    ],
    "Arc scores `s[h→m] = vᵀ tanh(W₁ᵀh_h + W₂ᵀh_m + b)` (Eq. 23) in the tree layout f32[B, N+1, N+1], with a learned root vector.",
);

pub struct ArcScores;

impl Layer for ArcScores {
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
        let k = args.size("hidden")?;
        // The root representation first (`PrependRoot` needs it), then the
        // scoring MLP as nn.Linear(2D, K) and nn.Linear(K, 1) split W into
        // its head and modifier halves.
        let params = vec![
            ParamShape::new(NAME, "root", &[d], fan_in(d)),
            ParamShape::new(NAME, "w_head", &[d, k], fan_in(2 * d)),
            ParamShape::new(NAME, "w_mod", &[d, k], fan_in(2 * d)),
            ParamShape::new(NAME, "bias", &[k], fan_in(2 * d)),
            ParamShape::new(NAME, "v", &[k], fan_in(k)),
        ];
        Ok(Shape {
            ty: Tensor::f32(vec![h.dims[0], plus_one(h.dims[1]), plus_one(h.dims[1])]),
            params,
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        // Eq. 23, vᵀ tanh(Wᵀ[h_i; h_j] + c), rewritten as
        // vᵀ tanh(W₁ᵀh_i + W₂ᵀh_j + c): the two projections are per word,
        // O(N·D·K), and only the tanh and the v-contraction are per pair,
        // O(N²·K), instead of O(N²·D·K).
        let words = args.tensor("h").dims.clone();
        let k = cx.need(args.size("hidden"))?;
        let h = cx.arg(args, "h")?;
        let (batch, n1, d) = (words[0], plus_one(words[1]), words[2]);
        let root = cx.param()?;
        let hr = cx.node(Op::PrependRoot, vec![h, root], vec![batch, n1, d]);
        let w1 = cx.param()?;
        let w2 = cx.param()?;
        let c = cx.param()?;
        let v = cx.param()?;
        let proj = vec![batch, n1, Dim::Const(k)];
        let p = cx.node(Op::MatMul, vec![hr, w1], proj.clone());
        let q = cx.node(Op::MatMul, vec![hr, w2], proj);
        Some(cx.output(Op::PairScore, vec![p, q, c, v]))
    }
}
