//! `bilstm(x, hidden)`: a masked bidirectional LSTM, each direction with
//! PyTorch's gate layout and initialisation.

use super::{fan_in, with_last_dim, Layer, LayerCx, ParamShape, Shape, X};
use crate::builtins::shapes::{const_dim, expect_f32, with_last, Args, ShapeError, ShapeErrorKind};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "bilstm";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        X,
        req(
            "hidden",
            ArgTy::Int,
            "output size: both directions together, so each has hidden/2",
        )
        .positive(),
    ],
    "Masked bidirectional LSTM over variable-length sequences (PyTorch gate layout).",
);

/// The directions in the order their parameters and nodes are made, with
/// whether each reads a sentence from its last word.
const DIRECTIONS: [(&str, bool); 2] = [("bilstm.forward", false), ("bilstm.backward", true)];

pub struct BiLstm;

impl Layer for BiLstm {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let x = expect_f32(args, "x", NAME, Some(3), "a sequence f32[B, N, D]")?;
        let d = const_dim(&x, "x", NAME)?;
        let hidden = args.size("hidden")?;
        if hidden % 2 == 1 {
            return Err(ShapeError {
                kind: ShapeErrorKind::BadSize,
                arg: "hidden",
                message: format!("`{NAME}` hidden size {hidden} is odd"),
                label: "split between the two directions".into(),
                help: Some(format!("use an even size such as {}", hidden + 1)),
            });
        }
        let h = hidden / 2;
        // nn.LSTM draws every weight and bias from U(±1/√h).
        let params = DIRECTIONS
            .iter()
            .flat_map(|&(layer, _)| {
                [
                    ParamShape::new(layer, "w_ih", &[d, 4 * h], fan_in(h)),
                    ParamShape::new(layer, "w_hh", &[h, 4 * h], fan_in(h)),
                    ParamShape::new(layer, "b_ih", &[4 * h], fan_in(h)),
                    ParamShape::new(layer, "b_hh", &[4 * h], fan_in(h)),
                ]
            })
            .collect();
        Ok(Shape {
            ty: with_last(&x, hidden),
            params,
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let x = cx.arg(args, "x")?;
        let hidden = cx.need(args.size("hidden"))?;
        let lengths = cx.lengths_of(
            args.tensor("x")
                .dims
                .get(1)
                .copied()
                .unwrap_or(crate::types::N),
        );
        let half = with_last_dim(cx.dims(), hidden / 2);
        let mut parts = Vec::new();
        for (_, reverse) in DIRECTIONS {
            let w_ih = cx.param()?;
            let w_hh = cx.param()?;
            let b_ih = cx.param()?;
            let b_hh = cx.param()?;
            parts.push(cx.node(
                Op::Lstm { reverse },
                vec![x, lengths, w_ih, w_hh, b_ih, b_hh],
                half.clone(),
            ));
        }
        Some(cx.output(Op::Concat, parts))
    }
}
