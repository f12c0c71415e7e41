//! Lowering: the checked model → the program the runtime executes.
//!
//! Layers expand into primitive ops with their parameters (`linear` is a
//! matmul and a bias add, `mlp` two of those around an activation);
//! arithmetic with constants becomes `Affine`; the latent line becomes the
//! scores' nodes followed by one latent node carrying its surrogate as a
//! typed program ([`surrogate`]); the data line and the training block
//! become typed values ([`plan`]).

mod plan;
mod surrogate;

use crate::builtins::shapes::{ArgError, Args};
use crate::diag::Diagnostic;
use crate::model::{Forward, Model, Stmt, TExpr, TKind};
use crate::span::Span;
use crate::syntax::ast::BinOp;
use crate::types::{Dim, Elem};
use lsmc_ir::graph::*;
use lsmc_ir::Program;
use std::collections::HashMap;

/// Lowers a checked model. Fails only for what the runtime cannot execute
/// yet, or (a bug) for what the checker should have refused, with a
/// diagnostic on each.
pub fn lower(model: &Model) -> Result<Program, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let graph = lower_graph(model);
    let data = plan::data(model);
    let train = plan::train(model);
    let graph = graph.map_err(|d| diags.extend(d)).ok();
    let data = data.map_err(|d| diags.push(d)).ok();
    let train = train.map_err(|d| diags.push(d)).ok();
    match (graph, data, train) {
        (Some(graph), Some(data), Some(train)) if diags.is_empty() => Ok(Program {
            name: model.name.clone(),
            graph,
            data,
            train,
        }),
        _ => Err(diags),
    }
}

/// A diagnostic for what a checked model cannot contain.
fn internal(message: String, span: Span) -> Diagnostic {
    Diagnostic::error(
        "lsm::lower::internal",
        message,
        span,
        "the checker accepted this",
    )
    .with_help(Some(
        "this is a bug in lsmc: please report it with the spec".to_string(),
    ))
}

/// The graph alone.
pub fn lower_graph(model: &Model) -> Result<Graph, Vec<Diagnostic>> {
    let mut l = Lowerer::default();
    for s in &model.encoder {
        l.stmt(s, "encoder");
    }
    if let Some(lat) = &model.latent {
        l.section = Section::Latent;
        l.layer_index = 0;
        l.prefix = format!("latent.{}", lat.name);
        let via = match &lat.surrogate {
            Some(call) => match surrogate::lower(call) {
                Ok(s) => Some(s),
                Err(d) => {
                    l.diags.push(d);
                    None
                }
            },
            None => None,
        };
        let mapping = match (lat.forward, via) {
            (Forward::Argmax, Some(via)) => Some(Mapping::Argmax { via }),
            (Forward::Sample, Some(via)) => Some(Mapping::Sample { via }),
            (Forward::Marg, via) => Some(Mapping::Marg { via }),
            (Forward::SparseMap, via) => Some(Mapping::SparseMap {
                max_iter: lat.max_iter,
                via,
            }),
            (f @ (Forward::Argmax | Forward::Sample), None) => {
                if lat.surrogate.is_none() {
                    l.diags.push(internal(
                        format!(
                            "`{}` has a zero gradient almost everywhere and needs `via SURROGATE`",
                            f.name()
                        ),
                        lat.forward_span,
                    ));
                }
                None
            }
        };
        if let (Some(scores), Some(mapping)) = (l.expr(&lat.scores), mapping) {
            let op = LatentOp {
                name: lat.name.clone(),
                structure: lat.structure,
                k: lat.k as usize,
                single_root: lat.single_root,
                mapping,
            };
            let dims = lat.scores.ty.dims.clone();
            // Trees are over each sentence's own words: padding never joins one.
            let mut inputs = vec![scores];
            if lat.structure.is_tree() {
                inputs.push(l.input("lengths", vec![Dim::Sym("B", 0)], lat.forward_span));
            }
            let id = l.node(Op::Latent(op), inputs, dims, lat.forward_span);
            l.g.nodes[id].name = Some(lat.name.clone());
            l.named.insert(lat.name.clone(), id);
            l.g.values.push((lat.name.clone(), id));
            l.g.latent = Some(id);
        }
    }
    l.section = Section::Decoder;
    for s in &model.decoder {
        l.stmt(s, "decoder");
    }
    l.section = Section::Loss;
    l.prefix = "loss".into();
    match model.loss.as_ref().map(|e| l.expr(e)) {
        Some(Some(loss)) => l.g.loss = loss,
        Some(None) => {}
        None => l.diags.push(internal(
            "the spec has no loss".into(),
            Span::new(lsmc_ir::span::FileId(0), 0, 0),
        )),
    }
    if !l.diags.is_empty() {
        return Err(l.diags);
    }
    // The lowering's own contract: what it makes, the runtime accepts.
    if let Err(e) = l.g.validate() {
        let span = match &e {
            lsmc_ir::GraphError::NotTopological { node, .. }
            | lsmc_ir::GraphError::Arity { node, .. }
            | lsmc_ir::GraphError::NoSuchParam { node, .. }
            | lsmc_ir::GraphError::Attribute { node, .. }
            | lsmc_ir::GraphError::Surrogate { node, .. } => l.g.nodes[*node].span,
            _ => Span::new(lsmc_ir::span::FileId(0), 0, 0),
        };
        return Err(vec![internal(e.to_string(), span)]);
    }
    Ok(l.g)
}

#[derive(Default)]
struct Lowerer {
    g: Graph,
    named: HashMap<String, NodeId>,
    diags: Vec<Diagnostic>,
    section: Section,
    /// `block.value`, naming the parameters of the statement being lowered.
    prefix: String,
    layer_index: usize,
}

fn feature(dims: &[Dim]) -> usize {
    match dims.last() {
        Some(Dim::Const(n)) => *n as usize,
        _ => 0,
    }
}

impl Lowerer {
    fn node(&mut self, op: Op, inputs: Vec<NodeId>, dims: Vec<Dim>, span: Span) -> NodeId {
        let section = if matches!(op, Op::Input(_)) {
            Section::Data
        } else {
            self.section
        };
        self.g.nodes.push(Node {
            op,
            inputs,
            dims,
            name: None,
            section,
            span,
        });
        self.g.nodes.len() - 1
    }

    fn param(
        &mut self,
        layer: &str,
        role: &str,
        shape: Vec<usize>,
        init: Init,
        span: Span,
    ) -> NodeId {
        let name = if self.layer_index > 1 {
            format!("{}.{layer}#{}.{role}", self.prefix, self.layer_index)
        } else {
            format!("{}.{layer}.{role}", self.prefix)
        };
        self.g.params.push(Param {
            name,
            shape: shape.clone(),
            init,
            section: self.section,
        });
        let dims = shape.iter().map(|&d| Dim::Const(d as u64)).collect();
        self.node(Op::Param(self.g.params.len() - 1), vec![], dims, span)
    }

    fn stmt(&mut self, s: &Stmt, block: &str) {
        self.prefix = format!("{block}.{}", s.name);
        self.layer_index = 0;
        if let Some(id) = self.expr(&s.value) {
            // A statement that only renames a value gets its own node name.
            if self.g.nodes[id].name.is_none() {
                self.g.nodes[id].name = Some(s.name.clone());
            }
            self.named.insert(s.name.clone(), id);
            self.g.values.push((s.name.clone(), id));
        }
    }

    /// A data-provided value, created on first use.
    fn input(&mut self, name: &str, dims: Vec<Dim>, span: Span) -> NodeId {
        if let Some(&id) = self.named.get(name) {
            return id;
        }
        let id = self.node(Op::Input(name.to_string()), vec![], dims, span);
        self.g.nodes[id].name = Some(name.to_string());
        self.named.insert(name.to_string(), id);
        self.g.values.push((name.to_string(), id));
        id
    }

    fn expr(&mut self, e: &TExpr) -> Option<NodeId> {
        let dims = e.ty.dims.clone();
        match &e.kind {
            TKind::Value(name) => match self.named.get(name) {
                Some(&id) => Some(id),
                None => Some(self.input(name, dims, e.span)),
            },
            TKind::Scalar(_) => unreachable!("scalars are folded into Affine by the parent"),
            TKind::Neg(inner) => {
                let x = self.expr(inner)?;
                Some(self.node(Op::Neg, vec![x], dims, e.span))
            }
            TKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, dims, e.span),
            TKind::Call { name, args } => self.call(name, args, dims, e.span),
        }
    }

    fn binary(
        &mut self,
        op: BinOp,
        lhs: &TExpr,
        rhs: &TExpr,
        dims: Vec<Dim>,
        span: Span,
    ) -> Option<NodeId> {
        let scalar = |t: &TExpr| match t.kind {
            TKind::Scalar(v) => Some(v),
            _ => None,
        };
        match (scalar(lhs), scalar(rhs)) {
            (None, Some(c)) => {
                let x = self.expr(lhs)?;
                let (scale, shift) = match op {
                    BinOp::Add => (1.0, c),
                    BinOp::Sub => (1.0, -c),
                    BinOp::Mul => (c, 0.0),
                    BinOp::Div => (1.0 / c, 0.0),
                };
                Some(self.node(Op::Affine { scale, shift }, vec![x], dims, span))
            }
            (Some(c), None) => {
                let x = self.expr(rhs)?;
                match op {
                    BinOp::Add => Some(self.node(
                        Op::Affine {
                            scale: 1.0,
                            shift: c,
                        },
                        vec![x],
                        dims,
                        span,
                    )),
                    BinOp::Sub => Some(self.node(
                        Op::Affine {
                            scale: -1.0,
                            shift: c,
                        },
                        vec![x],
                        dims,
                        span,
                    )),
                    BinOp::Mul => Some(self.node(
                        Op::Affine {
                            scale: c,
                            shift: 0.0,
                        },
                        vec![x],
                        dims,
                        span,
                    )),
                    BinOp::Div => {
                        let r = self.node(Op::Recip, vec![x], dims.clone(), span);
                        Some(self.node(
                            Op::Affine {
                                scale: c,
                                shift: 0.0,
                            },
                            vec![r],
                            dims,
                            span,
                        ))
                    }
                }
            }
            _ => {
                let a = self.expr(lhs)?;
                let b = self.expr(rhs)?;
                let op = match op {
                    BinOp::Add => Op::Add,
                    BinOp::Sub => Op::Sub,
                    BinOp::Mul => Op::Mul,
                    BinOp::Div => Op::Div,
                };
                Some(self.node(op, vec![a, b], dims, span))
            }
        }
    }

    fn arg(&mut self, args: &Args, name: &str) -> Option<NodeId> {
        let e = args.expr(name)?.clone();
        self.expr(&e)
    }

    /// `x W + b` with PyTorch's `nn.Linear` initialisation.
    fn linear(
        &mut self,
        x: NodeId,
        d_in: usize,
        out: usize,
        bias: bool,
        dims: Vec<Dim>,
        span: Span,
    ) -> NodeId {
        self.layer_index += 1;
        let bound = 1.0 / (d_in.max(1) as f64).sqrt();
        let w = self.param(
            "linear",
            "weight",
            vec![d_in, out],
            Init::Uniform(bound),
            span,
        );
        let y = self.node(Op::MatMul, vec![x, w], dims.clone(), span);
        if !bias {
            return y;
        }
        let b = self.param("linear", "bias", vec![out], Init::Uniform(bound), span);
        self.node(Op::AddBias, vec![y, b], dims, span)
    }

    /// A bound argument; a missing one is the checker's bug, reported.
    fn need<T>(&mut self, r: Result<T, ArgError>, span: Span) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let _ = self.internal(e.to_string(), span);
                None
            }
        }
    }

    /// Something a checked model cannot contain.
    fn internal(&mut self, message: String, span: Span) -> Option<NodeId> {
        self.diags.push(internal(message, span));
        None
    }

    fn unsupported(&mut self, name: &str, span: Span) -> Option<NodeId> {
        self.diags.push(
            Diagnostic::error(
                "lsm::lower::unsupported",
                format!("`{name}` cannot run yet"),
                span,
                "no runtime implementation",
            )
            .with_help(Some(format!(
                "`lsmc check` accepts `{name}`, but the runtime gains it with the SST experiment; \
                 synthetic specs run today"
            ))),
        );
        None
    }

    fn call(&mut self, name: &str, args: &Args, dims: Vec<Dim>, span: Span) -> Option<NodeId> {
        let simple = match name {
            "tanh" => Some(Op::Tanh),
            "relu" => Some(Op::Relu),
            "sigmoid" => Some(Op::Sigmoid),
            "exp" => Some(Op::Exp),
            "log" => Some(Op::Log),
            "softmax" => Some(Op::Softmax),
            "log_softmax" => Some(Op::LogSoftmax),
            _ => None,
        };
        if let Some(op) = simple {
            let x = self.arg(args, "x")?;
            return Some(self.node(op, vec![x], dims, span));
        }
        match name {
            "linear" => {
                let xe = args.expr("x")?;
                let d_in = feature(&xe.ty.dims);
                let x = self.arg(args, "x")?;
                let out = self.need(args.size("out"), span)? as usize;
                let bias = self.need(args.bool("bias"), span)?;
                Some(self.linear(x, d_in, out, bias, dims, span))
            }
            "mlp" => {
                let xe = args.expr("x")?;
                let d_in = feature(&xe.ty.dims);
                let x = self.arg(args, "x")?;
                let hidden = self.need(args.size("hidden"), span)? as usize;
                let mut hdims = dims.clone();
                if let Some(l) = hdims.last_mut() {
                    *l = Dim::Const(hidden as u64);
                }
                let h = self.linear(x, d_in, hidden, true, hdims.clone(), span);
                let act = match self.need(args.symbol("activation"), span)? {
                    "tanh" => Op::Tanh,
                    "sigmoid" => Op::Sigmoid,
                    "relu" => Op::Relu,
                    other => {
                        return self.internal(format!("`mlp` has no activation `{other}`"), span)
                    }
                };
                let a = self.node(act, vec![h], hdims, span);
                let out = self.need(args.size("out"), span)? as usize;
                Some(self.linear(a, hidden, out, true, dims, span))
            }
            "bilinear" => {
                let (ae, be) = (args.expr("a")?, args.expr("b")?);
                let (k, d) = (feature(&ae.ty.dims), feature(&be.ty.dims));
                let out = self.need(args.size("out"), span)? as usize;
                let a = self.arg(args, "a")?;
                let x = self.arg(args, "b")?;
                self.layer_index += 1;
                // nn.Bilinear bounds both weight and bias by 1/sqrt(in1_features).
                let bound = 1.0 / (k.max(1) as f64).sqrt();
                let w = self.param(
                    "bilinear",
                    "weight",
                    vec![d, k, out],
                    Init::Uniform(bound),
                    span,
                );
                let y = self.node(Op::Bilinear, vec![a, x, w], dims.clone(), span);
                let b = self.param("bilinear", "bias", vec![out], Init::Uniform(bound), span);
                Some(self.node(Op::AddBias, vec![y, b], dims, span))
            }
            "matmul" => {
                let a = self.arg(args, "a")?;
                let b = self.arg(args, "b")?;
                Some(self.node(Op::MatMul, vec![a, b], dims, span))
            }
            "concat" => {
                let parts: Vec<TExpr> = args
                    .exprs("a")
                    .into_iter()
                    .chain(args.exprs("b"))
                    .cloned()
                    .collect();
                let mut ids = Vec::new();
                for p in &parts {
                    ids.push(self.expr(p)?);
                }
                Some(self.node(Op::Concat, ids, dims, span))
            }
            "sum_pool" | "mean_pool" => {
                let x = self.arg(args, "x")?;
                let lengths = self.input("lengths", vec![Dim::Sym("B", 0)], span);
                let op = if name == "sum_pool" {
                    Op::SumPool
                } else {
                    Op::MeanPool
                };
                Some(self.node(op, vec![x, lengths], dims, span))
            }
            "embed" => {
                let ids = self.arg(args, "ids")?;
                let te = args.expr("table")?.clone();
                let table = if self.need(args.bool("frozen"), span)? {
                    self.expr(&te)?
                } else {
                    // A trained table starts as a copy of a data-provided one.
                    let TKind::Value(source) = &te.kind else {
                        return self.internal(
                            "a trained embedding table must be a value the data provides".into(),
                            te.span,
                        );
                    };
                    let source = source.clone();
                    let shape = te
                        .ty
                        .dims
                        .iter()
                        .map(|d| {
                            if let Dim::Const(c) = d {
                                *c as usize
                            } else {
                                0
                            }
                        })
                        .collect();
                    self.layer_index += 1;
                    self.param("embed", "table", shape, Init::FromInput(source), span)
                };
                Some(self.node(Op::Embedding, vec![ids, table], dims, span))
            }
            "dropout" => {
                let x = self.arg(args, "x")?;
                let p = self.need(args.float("p"), span)?;
                Some(self.node(Op::Dropout(p), vec![x], dims, span))
            }
            "one_hot" => {
                let le = args.expr("labels")?;
                let k = match le.ty.elem {
                    Elem::Class(k) => k as usize,
                    _ => 0,
                };
                let l = self.arg(args, "labels")?;
                Some(self.node(Op::OneHot(k), vec![l], dims, span))
            }
            "gumbel" => Some(self.node(Op::Gumbel, vec![], dims, span)),
            "cross_entropy" => {
                let logits = self.arg(args, "logits")?;
                let labels = self.arg(args, "labels")?;
                Some(self.node(Op::CrossEntropy, vec![logits, labels], dims, span))
            }
            "bilstm" => {
                let xe = args.expr("x")?;
                let e = feature(&xe.ty.dims);
                let x = self.arg(args, "x")?;
                let hd = self.need(args.size("hidden"), span)? as usize / 2;
                let lengths = self.input("lengths", vec![Dim::Sym("B", 0)], span);
                self.layer_index += 1;
                // nn.LSTM draws every weight and bias from U(−1/√H, 1/√H).
                let bound = 1.0 / (hd.max(1) as f64).sqrt();
                let mut half = dims.clone();
                if let Some(l) = half.last_mut() {
                    *l = Dim::Const(hd as u64);
                }
                let mut parts = Vec::new();
                for (dir, reverse) in [("forward", false), ("backward", true)] {
                    let layer = format!("bilstm.{dir}");
                    let mut p = |role: &str, shape: Vec<usize>| {
                        self.param(&layer, role, shape, Init::Uniform(bound), span)
                    };
                    let w_ih = p("w_ih", vec![e, 4 * hd]);
                    let w_hh = p("w_hh", vec![hd, 4 * hd]);
                    let b_ih = p("b_ih", vec![4 * hd]);
                    let b_hh = p("b_hh", vec![4 * hd]);
                    parts.push(self.node(
                        Op::Lstm { reverse },
                        vec![x, lengths, w_ih, w_hh, b_ih, b_hh],
                        half.clone(),
                        span,
                    ));
                }
                Some(self.node(Op::Concat, parts, dims, span))
            }
            "arc_scores" => {
                // Eq. 23, vᵀ tanh(Wᵀ[h_i; h_j] + c), rewritten as
                // vᵀ tanh(W₁ᵀh_i + W₂ᵀh_j + c): the two projections are per
                // word, O(N·D·K), and only the tanh and the v-contraction are
                // per pair, O(N²·K), instead of O(N²·D·K).
                let he = args.expr("h")?;
                let d = feature(&he.ty.dims);
                let k = self.need(args.size("hidden"), span)? as usize;
                let h = self.arg(args, "h")?;
                self.layer_index += 1;
                let root = self.param(
                    "arc_scores",
                    "root",
                    vec![d],
                    Init::Uniform(1.0 / (d.max(1) as f64).sqrt()),
                    span,
                );
                let n1 = match he.ty.dims.get(1) {
                    Some(Dim::Sym(s, o)) => Dim::Sym(s, o + 1),
                    Some(Dim::Const(c)) => Dim::Const(c + 1),
                    None => Dim::Sym("N", 1),
                };
                let batch = he.ty.dims.first().copied().unwrap_or(Dim::Sym("B", 0));
                let hr = self.node(
                    Op::PrependRoot,
                    vec![h, root],
                    vec![batch, n1, Dim::Const(d as u64)],
                    span,
                );
                // As nn.Linear(2D, K) and nn.Linear(K, 1).
                let bound = 1.0 / ((2 * d).max(1) as f64).sqrt();
                let w1 = self.param(
                    "arc_scores",
                    "w_head",
                    vec![d, k],
                    Init::Uniform(bound),
                    span,
                );
                let w2 = self.param(
                    "arc_scores",
                    "w_mod",
                    vec![d, k],
                    Init::Uniform(bound),
                    span,
                );
                let c = self.param("arc_scores", "bias", vec![k], Init::Uniform(bound), span);
                let v = self.param(
                    "arc_scores",
                    "v",
                    vec![k],
                    Init::Uniform(1.0 / (k.max(1) as f64).sqrt()),
                    span,
                );
                let proj = vec![batch, n1, Dim::Const(k as u64)];
                let p = self.node(Op::MatMul, vec![hr, w1], proj.clone(), span);
                let q = self.node(Op::MatMul, vec![hr, w2], proj, span);
                Some(self.node(Op::PairScore, vec![p, q, c, v], dims, span))
            }
            "heads" => {
                let z = self.arg(args, "z")?;
                let h = self.arg(args, "h")?;
                Some(self.node(Op::Heads, vec![z, h], dims, span))
            }
            "attention_pool" => {
                let xe = args.expr("x")?;
                let d = feature(&xe.ty.dims);
                let x = self.arg(args, "x")?;
                let lengths = self.input("lengths", vec![Dim::Sym("B", 0)], span);
                self.layer_index += 1;
                let w = self.param(
                    "attention_pool",
                    "weight",
                    vec![d],
                    Init::Uniform(1.0 / (d.max(1) as f64).sqrt()),
                    span,
                );
                Some(self.node(Op::AttentionPool, vec![x, lengths, w], dims, span))
            }
            other => self.unsupported(other, span),
        }
    }
}
