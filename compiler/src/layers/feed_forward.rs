//! `feed_forward(x, hidden, dropout, layers)`: the feed-forward blocks F,
//! G and H of the decomposable attention model (Parikh et al. 2016), as
//! the SPIGOT paper's code builds them (`nli/models.py`, `encode` and
//! `compare`): `layers` times `linear(hidden) → dropout → relu`. Dropout
//! follows each linear map, as there; it commutes with the ReLU (its
//! scaling is non-negative), and none precedes the first linear map.

use super::{linear, with_last_dim, Layer, LayerCx, Shape, X};
use crate::builtins::shapes::{const_dim, expect_f32, with_last, Args, ShapeError};
use crate::builtins::{b, opt, req, ArgTy, Builtin, Default, Kind};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "feed_forward";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        X,
        req("hidden", ArgTy::Int, "the width of every layer").positive(),
        opt(
            "dropout",
            ArgTy::Float,
            Default::Float(0.2),
            "drop probability after each linear map",
        )
        .fraction(),
        opt(
            "layers",
            ArgTy::Int,
            Default::Int(2),
            "how many `linear → dropout → relu` layers",
        )
        .positive(),
    ],
    "Parikh et al.'s feed-forward block: `layers` × (`linear(hidden)` → dropout → relu).",
);

pub struct FeedForward;

impl Layer for FeedForward {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let x = expect_f32(args, "x", NAME, None, "an f32 tensor")?;
        let d = const_dim(&x, "x", NAME)?;
        let (hidden, layers) = (args.size("hidden")?, args.size("layers")? as usize);
        let params = (0..layers)
            .flat_map(|k| linear::params(if k == 0 { d } else { hidden }, hidden, true, k))
            .collect();
        Ok(Shape {
            ty: with_last(&x, hidden),
            params,
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let mut h = cx.arg(args, "x")?;
        let hidden = cx.need(args.size("hidden"))?;
        let p = cx.need(args.float("dropout"))?;
        let layers = cx.need(args.size("layers"))?;
        let dims = with_last_dim(cx.dims(), hidden);
        for _ in 0..layers {
            h = linear::affine(cx, h, true, dims.clone())?;
            if p > 0.0 {
                h = cx.node(Op::Dropout(p), vec![h], dims.clone());
            }
            h = cx.node(Op::Relu, vec![h], dims.clone());
        }
        Some(h)
    }
}
