//! Shared layer instances: `layer F = feed_forward(hidden = 200)` in a
//! block, applied as `F(a)`, `F(b)` with one set of weights.
//!
//! An application is the instance's call with the application's arguments
//! put first (the omitted leading tensors), bound and typed as any layer
//! call. Its first application creates the weights (and alone counts
//! them); every later one must declare the same parameter shapes, i.e.
//! give inputs of the same feature widths.

use super::exprs::Ctx;
use super::{CheckError, Checker, Unknown};
use crate::builtins::shapes::{Args, Val};
use crate::builtins::{Builtin, Kind};
use crate::layers::ParamShape;
use crate::model::{TExpr, TKind};
use crate::span::Span;
use crate::suggest::closest;
use crate::syntax::ast::{Call, LayerDef};

#[derive(Clone, Debug)]
pub(crate) struct Instance {
    pub def: LayerDef,
    /// The layer it instantiates; `None` when that is no layer (reported
    /// once at the definition: applications then report nothing more).
    pub layer: Option<&'static Builtin>,
    /// `encoder.F`: the prefix of its parameters' names.
    pub qualified: String,
    pub used: bool,
    pub first: Option<FirstApplication>,
}

/// What the first application fixed: where it is, its inputs' types (for
/// messages) and the parameters it created.
#[derive(Clone, Debug)]
pub(crate) struct FirstApplication {
    span: Span,
    inputs: String,
    params: Vec<ParamShape>,
}

impl Checker {
    /// Registers a block's layer instances before its statements are
    /// checked, so that they may be applied anywhere in it (and, for the
    /// encoder's, in the decoder).
    pub(crate) fn layer_instances(&mut self, defs: &[LayerDef], block_name: &str) {
        for def in defs {
            let name = &def.name;
            if let Some(prev) = self.instances.get(&name.name) {
                let prev_span = prev.def.name.span;
                self.duplicate_definition(name, prev_span, "first defined here");
                continue;
            }
            let layer = self.instance_layer(&def.call);
            self.instance_order.push(name.name.clone());
            self.instances.insert(
                name.name.clone(),
                Instance {
                    def: def.clone(),
                    layer,
                    qualified: format!("{block_name}.{}", name.name),
                    used: false,
                    first: None,
                },
            );
        }
    }

    /// The layer an instance's call names, or a diagnostic.
    fn instance_layer(&mut self, call: &Call) -> Option<&'static Builtin> {
        let name = call.callee.name.as_str();
        match self.builtin(name) {
            Some(b) if b.kind == Kind::Layer => Some(b),
            Some(b) => {
                self.emit(
                    call.callee.span,
                    CheckError::WrongKind {
                        name: name.into(),
                        is: super::exprs::article(b.kind.noun()),
                        expected: "a layer".into(),
                    },
                );
                None
            }
            None => {
                let suggestion = closest(name, self.names_of(Kind::Layer));
                self.emit(
                    call.callee.span,
                    CheckError::Unknown {
                        what: Unknown::Layer,
                        name: name.into(),
                        suggestion,
                        note: None,
                    },
                );
                None
            }
        }
    }

    /// `F(a, …)`: the instance's layer applied to the given inputs, with
    /// the instance's weights.
    pub(crate) fn apply_instance(&mut self, app: &Call, ctx: &Ctx) -> Option<TExpr> {
        let name = app.callee.name.clone();
        let inst = self.instances.get_mut(&name)?;
        inst.used = true;
        let (def, layer) = (inst.def.clone(), inst.layer?);
        match ctx {
            Ctx::Scores(_) => {
                self.emit(app.callee.span, CheckError::LayerInLatent { name });
                return None;
            }
            Ctx::Loss => {
                self.emit(app.callee.span, CheckError::LayerInLoss { name });
                return None;
            }
            _ => {}
        }
        let call = with_inputs(app, &def.call);
        let before = self.diags.len();
        let Some(args) = self.bind(layer, &call, ctx) else {
            // A mistake inside the definition is reported at its first
            // application only.
            if self.diags[before..]
                .iter()
                .any(|d| within(d.primary.span, def.call.span))
            {
                self.instances.get_mut(&name).expect("registered").layer = None;
            }
            return None;
        };
        let rule = crate::layers::lookup(layer.name).expect("a layer built-in is registered");
        let shape = match rule.shape(&args) {
            Ok(shape) => shape,
            Err(e) => {
                self.shape_error(&call, layer, e);
                return None;
            }
        };
        let inputs = input_types(&args);
        let inst = self.instances.get_mut(&name).expect("registered");
        match &inst.first {
            None => {
                inst.first = Some(FirstApplication {
                    span: app.span,
                    inputs,
                    params: shape.params.clone(),
                });
                self.layer_params = self.layer_params + shape.param_count();
            }
            Some(first) if !same_weights(&first.params, &shape.params) => {
                let (first_span, first_inputs) = (first.span, first.inputs.clone());
                self.emit(
                    app.span,
                    CheckError::SharedLayerMismatch {
                        name: name.clone(),
                        first: first_inputs.clone(),
                        here: inputs,
                    },
                )
                .with_secondary_mut(
                    first_span,
                    &format!("first applied here, to {first_inputs}: this sized its weights"),
                );
                return None;
            }
            Some(_) => {}
        }
        Some(TExpr {
            kind: TKind::Apply {
                instance: inst.qualified.clone(),
                name: layer.name,
                args,
            },
            ty: shape.ty,
            span: app.span,
        })
    }

    /// Instances never applied, as warnings.
    pub(crate) fn unused_instances(&self) -> Vec<(Span, CheckError)> {
        self.instance_order
            .iter()
            .map(|n| &self.instances[n])
            .filter(|i| !i.used)
            .map(|i| {
                let name = i.def.name.name.clone();
                (i.def.name.span, CheckError::UnusedLayer { name })
            })
            .collect()
    }

    /// The names of the instances, for "did you mean".
    pub(crate) fn instance_names(&self) -> Vec<&str> {
        self.instance_order.iter().map(String::as_str).collect()
    }
}

/// The instance's call with the application's arguments first: `F(a)`
/// after `layer F = linear(out = 8)` is `linear(a, out = 8)`. Each
/// argument keeps its own span, so a diagnostic points where it was written.
fn with_inputs(app: &Call, def: &Call) -> Call {
    let (positional, keywords): (Vec<_>, Vec<_>) =
        app.args.iter().cloned().partition(|a| a.name.is_none());
    Call {
        callee: def.callee.clone(),
        args: positional
            .into_iter()
            .chain(def.args.iter().cloned())
            .chain(keywords)
            .collect(),
        span: app.span,
        close: app.close,
    }
}

/// The same parameters: the same shapes in the same order. Symbolic axes
/// (a trained table's `V`) compare by symbol.
fn same_weights(a: &[ParamShape], b: &[ParamShape]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.dims == q.dims)
}

/// The types of a call's tensor arguments, as written in messages.
fn input_types(args: &Args) -> String {
    let types: Vec<String> = args
        .0
        .iter()
        .filter_map(|(_, v)| match v {
            Val::Tensor(t) => Some(t.ty.to_string()),
            _ => None,
        })
        .collect();
    types.join(" and ")
}

fn within(inner: Span, outer: Span) -> bool {
    inner.file == outer.file && inner.start >= outer.start && inner.end <= outer.end
}
