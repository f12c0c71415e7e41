//! `mlp(x, hidden, activation, out)`: two `linear` layers around an
//! activation.

use super::{linear, with_last_dim, Layer, LayerCx, Shape, OUT, X};
use crate::builtins::shapes::{const_dim, expect_f32, with_last, Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "mlp";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        X,
        req("hidden", ArgTy::Int, "hidden size").positive(),
        req(
            "activation",
            ArgTy::Symbol(&["relu", "tanh", "sigmoid"]),
            "hidden activation",
        ),
        OUT,
    ],
    "Two-layer perceptron: `linear(act(linear(x, hidden)), out)`.",
);

pub struct Mlp;

impl Layer for Mlp {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let x = expect_f32(args, "x", NAME, None, "an f32 tensor")?;
        let d = const_dim(&x, "x", NAME)?;
        let (h, out) = (args.size("hidden")?, args.size("out")?);
        let mut params = linear::params(d, h, true, 0);
        params.extend(linear::params(h, out, true, 1));
        Ok(Shape {
            ty: with_last(&x, out),
            params,
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let x = cx.arg(args, "x")?;
        let hidden = cx.need(args.size("hidden"))?;
        let dims = cx.dims().to_vec();
        let hdims = with_last_dim(&dims, hidden);
        let h = linear::affine(cx, x, true, hdims.clone())?;
        let act = match cx.need(args.symbol("activation"))? {
            "tanh" => Op::Tanh,
            "sigmoid" => Op::Sigmoid,
            "relu" => Op::Relu,
            other => return cx.internal(format!("`{NAME}` has no activation `{other}`")),
        };
        let a = cx.node(act, vec![h], hdims);
        linear::affine(cx, a, true, dims)
    }
}
