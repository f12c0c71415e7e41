//! `embed(ids, table, frozen = true)`: rows of an embedding table; a
//! trained table is a parameter that starts as a copy of the data's.

use super::{Layer, LayerCx, ParamShape, Shape};
use crate::builtins::shapes::{const_dim, expect_f32, mismatch, Args, ShapeError, ShapeErrorKind};
use crate::builtins::{b, opt, req, ArgTy, Builtin, Default, Kind};
use crate::model::TKind;
use crate::types::{Dim, Elem, Tensor};
use lsmc_ir::graph::{Init, NodeId, Op};

const NAME: &str = "embed";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[
        req("ids", ArgTy::Value, "token ids, index[B, N]"),
        req(
            "table",
            ArgTy::Value,
            "embedding table f32[V, E] provided by the data source",
        ),
        opt(
            "frozen",
            ArgTy::Bool,
            Default::Bool(true),
            "keep the table fixed during training",
        ),
    ],
    "Embedding lookup.",
);

pub struct Embed;

impl Layer for Embed {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let ids = args.tensor("ids");
        if ids.elem != Elem::Index || ids.rank() != 2 {
            return Err(mismatch(
                "ids",
                format!("`{NAME}` expects token ids index[B, N], found {ids}"),
                format!("this is {ids}"),
            ));
        }
        let table = expect_f32(args, "table", NAME, Some(2), "an embedding table f32[V, E]")?;
        let e = const_dim(&table, "table", NAME)?;
        let params = if args.bool("frozen")? {
            Vec::new()
        } else {
            // The runtime fills a trained table from the data before the
            // first step, so it must name a table the data provides.
            let Some(TKind::Value(source)) = args.expr("table").map(|t| &t.kind) else {
                return Err(ShapeError {
                    kind: ShapeErrorKind::Mismatch,
                    arg: "table",
                    message: format!(
                        "`{NAME}` trains a copy of a table the data provides, and this one is computed"
                    ),
                    label: format!("this is a computed {table}"),
                    help: Some(
                        "name the data's table (e.g. `embeddings`), or keep it `frozen = true`"
                            .into(),
                    ),
                });
            };
            vec![ParamShape {
                instance: 0,
                layer: NAME,
                role: "table",
                dims: table.dims.clone(),
                init: Init::FromInput(source.clone()),
            }]
        };
        Ok(Shape {
            ty: Tensor::f32(vec![ids.dims[0], ids.dims[1], Dim::Const(e)]),
            params,
        })
    }

    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let ids = cx.arg(args, "ids")?;
        let table = if cx.need(args.bool("frozen"))? {
            cx.arg(args, "table")?
        } else {
            cx.param()?
        };
        Some(cx.output(Op::Embedding, vec![ids, table]))
    }
}
