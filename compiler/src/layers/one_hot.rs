//! `one_hot(labels)`: class labels as one-hot rows — per example (the
//! gold-cluster baseline) or per word (the gold-path baseline of a
//! sequence latent).

use super::{Layer, LayerCx, Shape};
use crate::builtins::shapes::{mismatch, Args, ShapeError};
use crate::builtins::{b, req, ArgTy, Builtin, Kind};
use crate::types::{Dim, Elem, Tensor};
use lsmc_ir::graph::{NodeId, Op};

const NAME: &str = "one_hot";

static SIGNATURE: Builtin = b(
    NAME,
    Kind::Layer,
    &[req(
        "labels",
        ArgTy::Value,
        "class labels class(K)[B], or one per word class(K)[B, N]",
    )],
    "One-hot encoding f32[B, K] of class labels (the gold-cluster baseline); of per-word labels, f32[B, N, K] with zero rows at padding.",
);

pub struct OneHot;

impl Layer for OneHot {
    fn signature(&self) -> &Builtin {
        &SIGNATURE
    }

    fn shape(&self, args: &Args) -> Result<Shape, ShapeError> {
        let l = args.tensor("labels");
        match l.elem {
            Elem::Class(k) if (1..=2).contains(&l.rank()) => {
                let mut dims = l.dims.clone();
                dims.push(Dim::Const(k));
                Ok(Shape::of(Tensor::f32(dims)))
            }
            _ => Err(mismatch(
                "labels",
                format!(
                    "`{NAME}` expects class labels class(K)[B] or per-word labels class(K)[B, N], found {l}"
                ),
                format!("this is {l}"),
            )),
        }
    }

    /// Per-word labels take their sentences' lengths too, so padding
    /// words get zero rows.
    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId> {
        let labels = args.tensor("labels");
        let Elem::Class(k) = labels.elem else {
            return cx.internal(format!("`{NAME}` of something other than class labels"));
        };
        let words = labels.dims.get(1).copied();
        let l = cx.arg(args, "labels")?;
        let inputs = match words {
            Some(dim) => vec![l, cx.lengths_of(dim)],
            None => vec![l],
        };
        Some(cx.output(Op::OneHot(k as usize), inputs))
    }
}

#[cfg(test)]
mod tests {
    use crate::{check_text, Origin};
    use lsmc_ir::graph::Op;
    use lsmc_runtime::latent::registry::catalog;

    /// A spec over `hmm_sequences` whose decoder computes `v`.
    fn spec(v: &str) -> String {
        format!(
            "data hmm_sequences(states = 4, embeddings = random(dim = 3))\n\
             decoder {{\n  v = {v}\n  y_hat = linear(sum_pool(embed(tokens, embeddings)), 2)\n}}\n\
             loss cross_entropy(y_hat, y)\n\
             train {{ optimizer adam()  batch 2  steps 1 }}\n"
        )
    }

    fn shape_of_v(text: &str) -> Result<String, Vec<String>> {
        let report = check_text("one_hot.lsm", text, Origin::CommandLine, &[], catalog());
        if report.has_errors() {
            return Err(report
                .diagnostics
                .iter()
                .map(|d| d.message.clone())
                .collect());
        }
        let summary = report.summary.expect("a summary");
        let v = summary
            .blocks
            .iter()
            .flat_map(|b| &b.values)
            .find(|v| v.name == "v")
            .expect("`v`");
        Ok(v.shape.clone())
    }

    #[test]
    fn per_word_labels_give_a_row_per_word() {
        assert_eq!(
            shape_of_v(&spec("one_hot(z_gold)")).unwrap(),
            "f32[B, N, 4]"
        );
        assert_eq!(shape_of_v(&spec("one_hot(y)")).unwrap(), "f32[B, 2]");
    }

    #[test]
    fn anything_but_class_labels_is_a_shape_mismatch() {
        let e = shape_of_v(&spec("one_hot(embed(tokens, embeddings))")).unwrap_err();
        assert_eq!(
            e,
            ["`one_hot` expects class labels class(K)[B] or per-word labels class(K)[B, N], found f32[B, N, 3]"]
        );
    }

    #[test]
    fn per_word_labels_are_lowered_with_their_sentence_lengths() {
        let report = check_text(
            "one_hot.lsm",
            &spec("one_hot(z_gold) + one_hot(z_gold)"),
            Origin::CommandLine,
            &[],
            catalog(),
        );
        let program = crate::lower::lower(report.model.as_ref().expect("a model")).expect("lowers");
        let g = &program.graph;
        let one_hots: Vec<_> = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::OneHot(4)))
            .collect();
        assert_eq!(one_hots.len(), 2);
        for n in one_hots {
            let names: Vec<_> = n
                .inputs
                .iter()
                .map(|&i| match &g.nodes[i].op {
                    Op::Input(name) => name.as_str(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(names, ["z_gold", "lengths"]);
        }
    }
}
