//! Lowering: the checked model → the program the runtime executes.
//!
//! Layers expand into primitive ops with their parameters (`linear` is a
//! matmul and a bias add, `mlp` two of those around an activation), each
//! by its own definition in [`crate::layers`] through a [`LayerCx`];
//! arithmetic with constants becomes `Affine`; the latent line becomes the
//! scores' nodes followed by one latent node carrying its surrogate as a
//! typed program ([`surrogate`]); the data line and the training block
//! become typed values ([`plan`]).

pub(crate) mod plan;
mod surrogate;

use crate::builtins::shapes::{ArgError, Args};
use crate::diag::Diagnostic;
use crate::layers::{Layer, ParamShape};
use crate::model::{Forward, Model, Stmt, TExpr, TKind};
use crate::span::Span;
use crate::syntax::ast::BinOp;
use crate::types::Dim;
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
    // A one-latent model keeps the state keys its checkpoints have always
    // used; with several, each latent's moving averages are its own.
    let several = model.latents.len() > 1;
    for lat in &model.latents {
        l.latent(lat, several);
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
    /// The parameter nodes of each shared layer instance applied so far,
    /// by its qualified name (`encoder.F`).
    shared: HashMap<String, Vec<NodeId>>,
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
            TKind::Apply {
                instance,
                name,
                args,
            } => self.apply(instance, name, args, dims, e.span),
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

    /// Something a checked model cannot contain.
    fn internal(&mut self, message: String, span: Span) -> Option<NodeId> {
        self.diags.push(internal(message, span));
        None
    }

    fn call(&mut self, name: &str, args: &Args, dims: Vec<Dim>, span: Span) -> Option<NodeId> {
        if let Some(layer) = crate::layers::lookup(name) {
            return self.layer(layer, args, dims, span);
        }
        let arg = |this: &mut Lowerer, name: &str| match args.expr(name) {
            Some(e) => this.expr(e),
            None => this.internal(format!("argument `{name}` is missing"), span),
        };
        match name {
            "gumbel" => Some(self.node(Op::Gumbel, vec![], dims, span)),
            "cross_entropy" => {
                let logits = arg(self, "logits")?;
                let labels = arg(self, "labels")?;
                Some(self.node(Op::CrossEntropy, vec![logits, labels], dims, span))
            }
            other => self.internal(
                format!("`{other}` is neither a layer, a noise source nor a loss"),
                span,
            ),
        }
    }

    /// An application of a shared layer instance: the first creates its
    /// parameters, named after the instance; the others reuse those nodes.
    fn apply(
        &mut self,
        instance: &str,
        name: &str,
        args: &Args,
        dims: Vec<Dim>,
        span: Span,
    ) -> Option<NodeId> {
        let Some(layer) = crate::layers::lookup(name) else {
            return self.internal(format!("`{instance}` applies `{name}`, no layer"), span);
        };
        let shared = match self.shared.get(instance) {
            Some(nodes) => Shared::Reuse(nodes.clone().into_iter()),
            None => Shared::Create {
                prefix: instance.to_string(),
                created: Vec::new(),
                outer: None,
            },
        };
        let (out, shared) = self.lower_layer(layer, args, dims, span, Some(shared));
        if let Some(Shared::Create { created, .. }) = shared {
            self.shared.insert(instance.to_string(), created);
        }
        out
    }

    /// A layer call: its definition lowers it, with exactly the parameters
    /// its shape rule declares, so what `lsmc check` counts is what trains.
    fn layer(
        &mut self,
        layer: &dyn Layer,
        args: &Args,
        dims: Vec<Dim>,
        span: Span,
    ) -> Option<NodeId> {
        self.lower_layer(layer, args, dims, span, None).0
    }

    /// [`Lowerer::layer`], with the parameters of a shared instance when
    /// `shared` is given; returns what became of them.
    fn lower_layer(
        &mut self,
        layer: &dyn Layer,
        args: &Args,
        dims: Vec<Dim>,
        span: Span,
        shared: Option<Shared>,
    ) -> (Option<NodeId>, Option<Shared>) {
        let name = layer.signature().name;
        let shape = match layer.shape(args) {
            Ok(shape) => shape,
            Err(e) => {
                return (
                    self.internal(format!("`{name}`: {}", e.message), span),
                    None,
                )
            }
        };
        let declared = shape.params.len();
        let mut cx = LayerCx {
            l: self,
            layer: name,
            dims,
            span,
            params: shape.params.into_iter(),
            instance: None,
            shared,
        };
        let out = layer.lower(&mut cx, args);
        let left = cx.params.len();
        let shared = cx.shared.take();
        if let Some(Shared::Create {
            outer: Some((prefix, index)),
            ..
        }) = &shared
        {
            self.prefix = prefix.clone();
            self.layer_index = *index;
        }
        let Some(out) = out else {
            return (None, shared);
        };
        if left > 0 {
            let message = format!(
                "`{name}` declares {declared} parameters but its lowering takes {}",
                declared - left
            );
            return (self.internal(message, span), shared);
        }
        (Some(out), shared)
    }
}

/// The parameters of a shared layer instance while one of its applications
/// is lowered.
enum Shared {
    /// The first application creates them, named under `prefix`. The
    /// statement's own prefix and layer index are set aside in `outer`
    /// meanwhile: a layer lowers its tensor arguments (which may hold
    /// other layers of the statement) before it takes any parameter.
    Create {
        prefix: String,
        created: Vec<NodeId>,
        outer: Option<(String, usize)>,
    },
    /// Later applications take the first one's nodes, in order.
    Reuse(std::vec::IntoIter<NodeId>),
}

/// A layer's view of lowering while it lowers one call: its arguments,
/// the nodes it adds, and the parameters its shape rule declared.
pub struct LayerCx<'l> {
    l: &'l mut Lowerer,
    layer: &'static str,
    /// The call's type.
    dims: Vec<Dim>,
    span: Span,
    params: std::vec::IntoIter<ParamShape>,
    /// The [`ParamShape::instance`] of the last parameter taken.
    instance: Option<usize>,
    /// The weights of the shared layer instance being applied, if any.
    shared: Option<Shared>,
}

impl LayerCx<'_> {
    /// The shape of the call's result.
    pub fn dims(&self) -> &[Dim] {
        &self.dims
    }

    /// Lowers the tensor argument bound to `name`.
    pub fn arg(&mut self, args: &Args, name: &str) -> Option<NodeId> {
        match args.expr(name) {
            Some(e) => self.l.expr(e),
            None => self.internal(format!("`{}`: argument `{name}` is missing", self.layer)),
        }
    }

    /// Lowers one typed expression (an argument of a variadic parameter).
    pub fn expr(&mut self, e: &TExpr) -> Option<NodeId> {
        self.l.expr(e)
    }

    /// The true lengths of the sequences padded along `dim` (a
    /// sentence's `N`, a second text's `M`), as the data provides them.
    pub fn lengths_of(&mut self, dim: Dim) -> NodeId {
        let name = match dim {
            Dim::Sym(symbol, _) => lsmc_ir::types::lengths_input(symbol),
            Dim::Const(_) => lsmc_ir::types::lengths_input("N"),
        };
        self.l.input(&name, vec![Dim::Sym("B", 0)], self.span)
    }

    /// A node of the call's expansion, of shape `dims`.
    pub fn node(&mut self, op: Op, inputs: Vec<NodeId>, dims: Vec<Dim>) -> NodeId {
        self.l.node(op, inputs, dims, self.span)
    }

    /// The node computing the call's result.
    pub fn output(&mut self, op: Op, inputs: Vec<NodeId>) -> NodeId {
        let dims = self.dims.clone();
        self.node(op, inputs, dims)
    }

    /// The next parameter the shape rule declared, as a node.
    pub fn param(&mut self) -> Option<NodeId> {
        let Some(p) = self.params.next() else {
            return self.internal(format!(
                "`{}` takes more parameters than its shape rule declares",
                self.layer
            ));
        };
        match &mut self.shared {
            Some(Shared::Reuse(nodes)) => {
                let Some(node) = nodes.next() else {
                    return self.internal(format!(
                        "`{}` takes more parameters than its first application created",
                        self.layer
                    ));
                };
                return Some(node);
            }
            Some(Shared::Create { prefix, outer, .. }) if outer.is_none() => {
                let statement = std::mem::replace(&mut self.l.prefix, prefix.clone());
                *outer = Some((statement, std::mem::take(&mut self.l.layer_index)));
            }
            _ => {}
        }
        if self.instance != Some(p.instance) {
            self.instance = Some(p.instance);
            self.l.layer_index += 1;
        }
        // An axis known only once the data is read (a trained table's V)
        // is 0 here; the runtime sizes such a parameter from its data.
        let shape = p
            .dims
            .iter()
            .map(|d| match d {
                Dim::Const(c) => *c as usize,
                Dim::Sym(..) => 0,
            })
            .collect();
        let node = self.l.param(p.layer, p.role, shape, p.init, self.span);
        if let Some(Shared::Create { created, .. }) = &mut self.shared {
            created.push(node);
        }
        Some(node)
    }

    /// A bound argument; a missing one is the checker's bug, reported.
    pub fn need<T>(&mut self, r: Result<T, ArgError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let _ = self.internal(format!("`{}`: {e}", self.layer));
                None
            }
        }
    }

    /// Something a checked model cannot contain.
    pub fn internal(&mut self, message: String) -> Option<NodeId> {
        self.l.internal(message, self.span)
    }
}

impl Lowerer {
    /// One latent line: its scores' nodes, then the latent node. `several`
    /// keys the surrogate's running state by the latent's name.
    fn latent(&mut self, lat: &crate::model::LatentModel, several: bool) {
        self.section = Section::Latent;
        self.layer_index = 0;
        self.prefix = format!("latent.{}", lat.name);
        let via = match &lat.surrogate {
            Some(call) => match surrogate::lower(call, several.then_some(lat.name.as_str())) {
                Ok(s) => Some(s),
                Err(d) => {
                    self.diags.push(d);
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
                    self.diags.push(internal(
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
        if let (Some(scores), Some(mapping)) = (self.expr(&lat.scores), mapping) {
            let op = LatentOp {
                name: lat.name.clone(),
                structure: lat.structure,
                k: lat.k as usize,
                single_root: lat.single_root,
                mapping,
            };
            let dims = lat.scores.ty.dims.clone();
            // Structures over words take each sentence's own length:
            // padding never joins one.
            let mut inputs = vec![scores];
            if lat.structure.scores.over_words() {
                let name = match dims.get(1) {
                    Some(Dim::Sym(symbol, _)) => lsmc_ir::types::lengths_input(symbol),
                    _ => lsmc_ir::types::lengths_input("N"),
                };
                inputs.push(self.input(&name, vec![Dim::Sym("B", 0)], lat.forward_span));
            }
            let id = self.node(Op::Latent(op), inputs, dims, lat.forward_span);
            self.g.nodes[id].name = Some(lat.name.clone());
            self.named.insert(lat.name.clone(), id);
            self.g.values.push((lat.name.clone(), id));
            self.g.latents.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::{Builtin, Kind};
    use crate::layers::Shape;
    use crate::types::Tensor;

    /// A layer whose lowering takes `takes` parameters of the two its shape
    /// rule declares.
    struct Miscounted {
        takes: usize,
    }

    static SIGNATURE: Builtin = crate::builtins::b("miscounted", Kind::Layer, &[], "");

    impl Layer for Miscounted {
        fn signature(&self) -> &Builtin {
            &SIGNATURE
        }

        fn shape(&self, _: &Args) -> Result<Shape, crate::builtins::shapes::ShapeError> {
            let p = |role| ParamShape::new("miscounted", role, &[3], Init::Zeros);
            Ok(Shape {
                ty: Tensor::f32(vec![Dim::Const(3)]),
                params: vec![p("a"), p("b")],
            })
        }

        fn lower(&self, cx: &mut LayerCx<'_>, _: &Args) -> Option<NodeId> {
            let mut last = None;
            for _ in 0..self.takes {
                last = Some(cx.param()?);
            }
            last
        }
    }

    fn lower_call(layer: &dyn Layer) -> (Option<NodeId>, Vec<String>) {
        let mut l = Lowerer::default();
        let span = Span::new(lsmc_ir::span::FileId(0), 0, 0);
        let out = l.layer(layer, &Args::default(), vec![Dim::Const(3)], span);
        (out, l.diags.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn a_layer_that_creates_every_declared_parameter_lowers() {
        let (out, diags) = lower_call(&Miscounted { takes: 2 });
        assert!(out.is_some() && diags.is_empty(), "{diags:?}");
    }

    #[test]
    fn a_layer_that_creates_fewer_parameters_than_it_declares_does_not_lower() {
        let (out, diags) = lower_call(&Miscounted { takes: 1 });
        assert_eq!(out, None);
        assert_eq!(
            diags,
            ["`miscounted` declares 2 parameters but its lowering takes 1"]
        );
    }

    #[test]
    fn a_layer_that_creates_more_parameters_than_it_declares_does_not_lower() {
        let (out, diags) = lower_call(&Miscounted { takes: 3 });
        assert_eq!(out, None);
        assert_eq!(
            diags,
            ["`miscounted` takes more parameters than its shape rule declares"]
        );
    }
}
