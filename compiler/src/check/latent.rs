//! The latent line (structure, forward mapping, `via`) and surrogate blocks.
//!
//! A surrogate body is typed with three kinds of value: shaped like the
//! scores (`s`, `z`, `map(…)`, `grad(…)`, …), per-example (`loss(…)`,
//! f32[B]) and scalar (parameters, numbers). Arithmetic broadcasts scalars
//! and per-example values over score-shaped ones.

use super::exprs::{article, Const, Ctx};
use super::{Block, CheckError, Checker, Unknown};
use crate::builtins::shapes;
use crate::builtins::{self, Kind, StructOp};
use crate::span::Span;
use crate::suggest::closest;
use crate::summary::LatentSummary;
use crate::syntax::ast::*;
use lsmc_ir::structures::Descriptor;
use std::collections::HashMap;

/// The `max_iter` of `sparsemap` when none is given: exact in practice.
pub const DEFAULT_MAX_ITER: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SType {
    Scores,
    PerExample,
    Scalar,
}

impl SType {
    fn describe(self) -> &'static str {
        match self {
            SType::Scores => "shaped like the scores",
            SType::PerExample => "a per-example value f32[B]",
            SType::Scalar => "a scalar",
        }
    }
}

/// What a surrogate definition needs from a structure, found once when the
/// definition is checked and consulted for every latent that uses it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SurrogateInfo {
    /// Structure operations the body calls, with where.
    pub uses: Vec<(StructOp, Span)>,
    /// `repeat` counts, evaluated against the bound arguments, each with
    /// the index of the `repeat` it is nested in.
    pub repeats: Vec<(Expr, Option<usize>)>,
    /// The `repeat`s open while the body is read.
    open: Vec<usize>,
}

/// The names visible at one point of a surrogate body: `s`, `z`, the
/// parameters and the variables assigned so far.
struct Scope {
    /// Each name's kind; `None` for a variable whose value had an error,
    /// already reported: its uses report nothing more (one mistake, one
    /// diagnostic), as a poisoned name does in the model's blocks.
    vars: HashMap<String, Option<SType>>,
    params: Vec<String>,
    /// Every variable the body assigns somewhere, to tell a name read
    /// before its assignment from one that does not exist.
    assigned: Vec<String>,
}

impl Checker {
    // ---- the latent line ---------------------------------------------------------

    pub(crate) fn latent(&mut self, l: &Latent) -> Option<LatentSummary> {
        let structure_call = l.structure.as_call();
        let sargs = self.builtin_call(&structure_call, Kind::Structure, Ctx::Constant);
        let structure = sargs.as_ref().and_then(|a| {
            let d = self
                .structures
                .written_as(&l.structure.callee.name, a.symbol("kind").ok())?;
            // Only a sized structure has a `K`; the checker binds it there.
            let k = if d.scores.sized() {
                a.size("K").unwrap_or(0)
            } else {
                0
            };
            Some((d, k))
        });
        let structure_text = sargs
            .as_ref()
            .map(|a| super::format_structure(&l.structure.callee.name, a))
            .unwrap_or_default();

        // The forward mapping: `argmax(scores)` and friends, at the top.
        let ExprKind::Call(fwd) = &l.forward.kind else {
            self.emit(l.forward.span, CheckError::BadForward);
            return None;
        };
        let fb = match self.builtin(&fwd.callee.name) {
            Some(b) if b.kind == Kind::Forward => b,
            _ => {
                let d = self.emit(l.forward.span, CheckError::BadForward);
                if let Some(s) = closest(&fwd.callee.name, builtins::names_of(Kind::Forward)) {
                    d.help = Some(format!("did you mean `{s}`?"));
                } else if fwd.callee.name == "map" {
                    d.help = Some(
                        "on a latent line MAP is written `argmax(s)`; `map` is for surrogates"
                            .into(),
                    );
                }
                return None;
            }
        };
        let (kind, k) = structure?;
        let op = match fb.name {
            "argmax" => StructOp::Map,
            "marg" => StructOp::Marginals,
            "sparsemap" => StructOp::SparseMap,
            _ => StructOp::Sample,
        };
        if !builtins::supports(kind, op) {
            self.emit(
                fwd.callee.span,
                CheckError::StructureLacks {
                    structure: structure_text.clone(),
                    op: op.describe(),
                    what: format!("`{}`", fb.name),
                },
            )
            .with_secondary_mut(l.structure.span, "the structure is declared here");
        }
        // Noise in the scores (`argmax(s + gumbel())`) takes their shape,
        // so the sentences they range over are read off the values named
        // there before binding.
        let words = fwd
            .args
            .first()
            .and_then(|a| self.first_value(&a.value))
            .map_or("N", |t| shapes::words_of(kind, &t));
        let fargs = self.bind(fb, fwd, &Ctx::Scores(shapes::scores_shape(kind, k, words)))?;
        let scores = fargs.tensor("scores");
        let expected = shapes::scores_shape(kind, k, shapes::words_of(kind, scores));
        let scores_expr = fargs.expr("scores").cloned();
        if !scores.same_shape(&expected) {
            let span = fwd.args.first().map(|a| a.span).unwrap_or(fwd.span);
            self.emit(
                span,
                CheckError::ShapeMismatch {
                    message: format!(
                        "the scores of `{}` are {scores}, but {structure_text} needs {expected}",
                        l.name.name
                    ),
                    label: format!("this is {scores}"),
                    help: Some(kind.scores_hint(k)),
                },
            )
            .with_secondary_mut(l.structure.span, "the structure is declared here");
        }

        let needs_surrogate = matches!(op, StructOp::Map | StructOp::Sample);
        let surrogate = match &l.via {
            None if needs_surrogate => {
                self.emit(
                    fwd.callee.span,
                    CheckError::MissingSurrogate {
                        forward: fb.name.into(),
                    },
                );
                None
            }
            None => None,
            Some(via) => self.surrogate_use(via, kind, &structure_text),
        };
        if let Some(scores) = &scores_expr {
            self.refuse_latents_in_scores(&l.name.name, scores);
        }
        if let Some(scores) = scores_expr {
            let sargs = sargs.as_ref();
            self.model.latents.push(crate::model::LatentModel {
                name: l.name.name.clone(),
                span: l.name.span,
                structure: kind,
                k,
                single_root: sargs.is_none_or(|a| a.symbol("root").ok() != Some("multi")),
                forward: match op {
                    StructOp::Map => crate::model::Forward::Argmax,
                    StructOp::Marginals => crate::model::Forward::Marg,
                    StructOp::SparseMap => crate::model::Forward::SparseMap,
                    StructOp::Sample => crate::model::Forward::Sample,
                },
                scores,
                surrogate: surrogate.as_ref().map(|(_, call)| call.clone()),
                forward_span: l.forward.span,
                max_iter: match op {
                    StructOp::SparseMap => fargs
                        .size("max_iter")
                        .map_or(DEFAULT_MAX_ITER, |m| m.max(1) as usize),
                    _ => DEFAULT_MAX_ITER,
                },
            });
        }
        let surrogate = surrogate.map(|(text, _)| text);
        let mut ty = expected;
        ty.latent = Some(kind);
        self.define(&l.name, ty.clone(), Block::Latent);
        Some(LatentSummary {
            name: l.name.name.clone(),
            structure: structure_text,
            forward: self.sources.slice(l.forward.span).to_string(),
            surrogate,
            shape: ty.to_string(),
        })
    }

    /// A latent's scores may not read another latent: `grad(µ)` of one
    /// latent re-runs what depends on it with the others held fixed, which
    /// a latent computed from it would not be.
    fn refuse_latents_in_scores(&mut self, latent: &str, scores: &crate::model::TExpr) {
        use crate::model::TKind;
        let mut stack = vec![scores];
        while let Some(e) = stack.pop() {
            match &e.kind {
                TKind::Value(name) => {
                    if self
                        .values
                        .get(name)
                        .is_some_and(|v| v.block == Block::Latent)
                    {
                        self.emit(
                            e.span,
                            CheckError::LatentInScores {
                                latent: latent.to_string(),
                                reads: name.clone(),
                            },
                        );
                    }
                }
                TKind::Scalar(_) => {}
                TKind::Call { args, .. } | TKind::Apply { args, .. } => {
                    stack.extend(args.0.iter().filter_map(|(_, v)| match v {
                        shapes::Val::Tensor(t) => Some(&**t),
                        _ => None,
                    }))
                }
                TKind::Neg(x) => stack.push(x),
                TKind::Binary { lhs, rhs, .. } => {
                    stack.push(lhs);
                    stack.push(rhs);
                }
            }
        }
    }

    /// The type of the first defined value an expression names.
    fn first_value(&self, e: &Expr) -> Option<crate::types::Tensor> {
        match &e.kind {
            ExprKind::Name(id) => self.values.get(&id.name).map(|v| v.ty.clone()),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.first_value(lhs).or_else(|| self.first_value(rhs))
            }
            ExprKind::Neg(x) => self.first_value(x),
            ExprKind::Call(c) => c.args.iter().find_map(|a| self.first_value(&a.value)),
            _ => None,
        }
    }

    /// Resolves `via NAME(args)`, binds the arguments and checks the
    /// surrogate's needs against the structure. Returns the resolved call.
    fn surrogate_use(
        &mut self,
        via: &CallOrName,
        kind: &Descriptor,
        structure_text: &str,
    ) -> Option<(String, crate::model::SurrogateCall)> {
        let name = &via.callee.name;
        let Some(entry) = self.surrogates.get(name).cloned() else {
            let suggestion = closest(name, self.surrogates.keys().map(String::as_str));
            let note = self
                .builtin(name)
                .map(|b| format!("`{name}` is {}", article(b.kind.noun())));
            self.emit(
                via.callee.span,
                CheckError::Unknown {
                    what: Unknown::Surrogate,
                    name: name.clone(),
                    suggestion,
                    note,
                },
            );
            return None;
        };
        let def = &entry.def;
        let params: Vec<&str> = def.params.iter().map(|p| p.name.name.as_str()).collect();
        let sig = surrogate_signature(def);
        let call = via.as_call();
        let slots = self.bind_slots(name, &params, false, &call, &sig, |i| {
            def.params[i].default.is_some()
        })?;
        // Bound values: given arguments, else defaults.
        let mut bound: Vec<(String, f64)> = Vec::new();
        let mut ok = true;
        for (i, p) in def.params.iter().enumerate() {
            let expr = slots
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, e)| *e)
                .or(p.default.as_ref());
            let Some(expr) = expr else { continue };
            match self.const_expr(expr) {
                Some(Const::Num { value, .. }) if value.is_finite() => {
                    bound.push((p.name.name.clone(), value))
                }
                Some(other) => {
                    self.emit(
                        expr.span,
                        CheckError::ArgumentType {
                            callee: name.clone(),
                            param: p.name.name.clone(),
                            expected: "a finite number".into(),
                            found: other.to_string(),
                            help: None,
                        },
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        let info = entry.info?;
        for (op, span) in &info.uses {
            if !builtins::supports(kind, *op) {
                let d = self.emit(
                    via.span,
                    CheckError::StructureLacks {
                        structure: structure_text.to_string(),
                        op: op.describe(),
                        what: format!("surrogate `{name}`"),
                    },
                );
                d.with_secondary_mut(*span, "needed here");
                ok = false;
            }
        }
        let values: Vec<Option<f64>> = info
            .repeats
            .iter()
            .map(|(count, _)| eval_scalar(count, &bound))
            .collect();
        for (i, (count, _)) in info.repeats.iter().enumerate() {
            if let Some(v) = values[i] {
                if !(v >= 0.0 && v.fract() == 0.0 && v <= 1e6) {
                    // Blame the argument the count is made of, where it was given.
                    let mut names = Vec::new();
                    names_in(count, &mut names);
                    let blame = def
                        .params
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| names.contains(&p.name.name))
                        .find_map(|(i, _)| slots.iter().find(|(j, _)| *j == i).map(|(_, e)| e.span))
                        .unwrap_or(via.span);
                    self.emit(
                        blame,
                        CheckError::OutOfRange {
                            what: format!("the `repeat` count of `{name}`"),
                            value: super::fmt_number(v),
                            requirement: "a whole number of steps from 0 to 1,000,000",
                        },
                    )
                    .with_secondary_mut(count.span, "used as a repeat count here");
                    ok = false;
                }
            }
        }
        // Nested repeats multiply: the steps of the innermost loop, all
        // together, are held to the same budget.
        if ok {
            for (i, (count, _)) in info.repeats.iter().enumerate() {
                let mut total = Some(1.0);
                let mut at = Some(i);
                while let Some(j) = at {
                    total = total.zip(values[j]).map(|(t, v)| t * v);
                    at = info.repeats[j].1;
                }
                if let Some(total) = total.filter(|&t| t > 1e6) {
                    self.emit(
                        via.span,
                        CheckError::OutOfRange {
                            what: format!("the nested `repeat`s of `{name}`"),
                            value: super::fmt_number(total),
                            requirement: "at most 1,000,000 steps in all (nested counts multiply)",
                        },
                    )
                    .with_secondary_mut(count.span, "the innermost count");
                    ok = false;
                    break;
                }
            }
        }
        let args: Vec<String> = bound
            .iter()
            .map(|(n, v)| format!("{n} = {}", super::fmt_number(*v)))
            .collect();
        let call = crate::model::SurrogateCall {
            name: name.clone(),
            args: bound.clone(),
            def: def.clone(),
            span: via.span,
        };
        ok.then(|| (format!("{name}({})", args.join(", ")), call))
    }

    // ---- surrogate definitions ---------------------------------------------------

    /// Checks a surrogate definition on its own (names, arity, value kinds,
    /// `return`). Structure-dependent rules are checked where it is used.
    pub(crate) fn surrogate_def(&mut self, def: &SurrogateDef) -> Option<SurrogateInfo> {
        let before = self.diags.len();
        let mut scope = Scope {
            vars: HashMap::from([
                ("s".to_string(), Some(SType::Scores)),
                ("z".to_string(), Some(SType::Scores)),
            ]),
            params: Vec::new(),
            assigned: Vec::new(),
        };
        assigned_in(&def.body, &mut scope.assigned);
        for p in &def.params {
            if scope.vars.contains_key(&p.name.name) {
                self.emit(
                    p.name.span,
                    CheckError::DuplicateDefinition {
                        name: p.name.name.clone(),
                    },
                );
                continue;
            }
            if let Some(d) = &p.default {
                // Defaults are plain numbers: a surrogate must not depend on
                // the `param`s of whichever spec uses it.
                if let Some(v) = eval_scalar(d, &[]) {
                    if !v.is_finite() {
                        self.emit(
                            d.span,
                            CheckError::BadConstant {
                                message: "a surrogate parameter's default must be a finite number"
                                    .into(),
                            },
                        );
                    }
                } else {
                    self.emit(
                        d.span,
                        CheckError::BadConstant {
                            message: "a surrogate parameter's default must be a number".into(),
                        },
                    );
                }
            }
            scope.vars.insert(p.name.name.clone(), Some(SType::Scalar));
            scope.params.push(p.name.name.clone());
        }
        let mut info = SurrogateInfo::default();
        let returned = self.sbody(&def.body, &mut scope, &mut info, true);
        if !returned {
            self.emit(
                def.close,
                CheckError::MissingReturn {
                    surrogate: def.name.name.clone(),
                },
            )
            .with_secondary_mut(def.name.span, "this surrogate");
        }
        (self.diags.len() == before).then_some(info)
    }

    /// Checks statements; returns whether the (top-level) body returned.
    fn sbody(
        &mut self,
        body: &[SurrogateStmt],
        scope: &mut Scope,
        info: &mut SurrogateInfo,
        top: bool,
    ) -> bool {
        let mut returned = false;
        for (i, stmt) in body.iter().enumerate() {
            match stmt {
                SurrogateStmt::Assign(a) => {
                    let input = a.name.name == "s"
                        || a.name.name == "z"
                        || scope.params.contains(&a.name.name);
                    if input {
                        self.emit(
                            a.name.span,
                            CheckError::AssignToInput {
                                name: a.name.name.clone(),
                            },
                        );
                    }
                    // A variable whose value had an error is still defined,
                    // with no kind: the statements that read it were written
                    // against it and report nothing more.
                    let t = self.sexpr(&a.value, scope, info);
                    if t.is_some() || !input {
                        scope.vars.insert(a.name.name.clone(), t);
                    }
                }
                SurrogateStmt::Repeat { count, body, .. } => {
                    match self.sexpr(count, scope, info) {
                        Some(SType::Scalar) | None => {}
                        Some(t) => {
                            self.emit(
                                count.span,
                                CheckError::SurrogateType {
                                    message: "a `repeat` count must be a number".into(),
                                    label: format!("this is {}", t.describe()),
                                },
                            );
                        }
                    }
                    let at = info.repeats.len();
                    info.repeats
                        .push((count.clone(), info.open.last().copied()));
                    info.open.push(at);
                    self.sbody(body, scope, info, false);
                    info.open.pop();
                }
                SurrogateStmt::Return { value, span } => {
                    if !top || i + 1 != body.len() {
                        self.emit(*span, CheckError::ReturnNotLast);
                    }
                    if let Some(t) = self.sexpr(value, scope, info) {
                        if t != SType::Scores {
                            self.emit(
                                value.span,
                                CheckError::ReturnShape {
                                    found: t.describe().into(),
                                },
                            );
                        }
                    }
                    returned = true;
                }
            }
        }
        returned
    }

    fn sexpr(&mut self, e: &Expr, scope: &Scope, info: &mut SurrogateInfo) -> Option<SType> {
        match &e.kind {
            ExprKind::Number { .. } => Some(SType::Scalar),
            ExprKind::Name(id) => match scope.vars.get(&id.name) {
                Some(t) => *t,
                None => {
                    // Suggestions come from the names visible here, the
                    // ones the body could have meant.
                    let suggestion = closest(&id.name, scope.vars.keys().map(String::as_str));
                    let note = Some(if scope.assigned.contains(&id.name) {
                        format!(
                            "`{}` is assigned only after this point; a variable is visible from its first assignment on",
                            id.name
                        )
                    } else {
                        "a surrogate sees only `s`, `z`, its parameters and its own variables"
                            .to_string()
                    });
                    self.emit(
                        id.span,
                        CheckError::UndefinedName {
                            name: id.name.clone(),
                            suggestion,
                            note,
                        },
                    );
                    None
                }
            },
            ExprKind::Neg(inner) => self.sexpr(inner, scope, info),
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.sexpr(lhs, scope, info), self.sexpr(rhs, scope, info));
                let (l, r) = (l?, r?);
                use SType::*;
                Some(match (l, r) {
                    (Scores, _) | (_, Scores) => Scores,
                    (PerExample, _) | (_, PerExample) => PerExample,
                    _ => {
                        let _ = op;
                        Scalar
                    }
                })
            }
            ExprKind::Call(c) => self.scall(c, scope, info),
            ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::List(_) => {
                self.emit(
                    e.span,
                    CheckError::SurrogateType {
                        message: "surrogates compute with numbers and score-shaped values".into(),
                        label: "not a number".into(),
                    },
                );
                None
            }
        }
    }

    fn scall(&mut self, c: &Call, scope: &Scope, info: &mut SurrogateInfo) -> Option<SType> {
        let name = c.callee.name.as_str();
        let Some(op) = builtins::surrogate_op(name) else {
            let hint = match name {
                "argmax" => Some("map".to_string()),
                "sparsemap" => Some("project".to_string()),
                _ => closest(name, builtins::SURROGATE_OPS.iter().map(|o| o.name)),
            };
            let note = self.builtin(name).map(|b| {
                format!(
                    "`{name}` is {}; a surrogate can use {}",
                    article(b.kind.noun()),
                    surrogate_vocabulary()
                )
            });
            self.emit(
                c.callee.span,
                CheckError::Unknown {
                    what: Unknown::SurrogateOp,
                    name: name.into(),
                    suggestion: hint,
                    note,
                },
            );
            return None;
        };
        let sig = op_signature(op);
        // Keyword arguments are not part of the surrogate vocabulary.
        for a in &c.args {
            if let Some(n) = &a.name {
                self.emit(
                    n.span,
                    CheckError::UnknownArgument {
                        callee: name.into(),
                        name: n.name.clone(),
                        suggestion: None,
                        signature: sig.clone(),
                    },
                );
                return None;
            }
        }
        if c.args.len() > op.arity + op.optional {
            self.emit(
                c.args[op.arity + op.optional].span,
                CheckError::TooManyArguments {
                    callee: name.into(),
                    max: op.arity + op.optional,
                    given: c.args.len(),
                    signature: sig,
                },
            );
            return None;
        }
        if c.args.len() < op.arity {
            let missing = op_params(op)[c.args.len()];
            self.emit(
                c.close,
                CheckError::MissingArgument {
                    callee: name.into(),
                    param: missing.into(),
                    signature: sig,
                },
            );
            return None;
        }
        let struct_op = match name {
            "map" => Some(StructOp::Map),
            "marg" => Some(StructOp::Marginals),
            "project" => Some(StructOp::SparseMap),
            "sample" => Some(StructOp::Sample),
            _ => None,
        };
        if let Some(sop) = struct_op {
            info.uses.push((sop, c.callee.span));
        }
        let want = |this: &mut Checker,
                    e: &Expr,
                    t: Option<SType>,
                    allowed: &[SType],
                    what: &str|
         -> Option<SType> {
            let t = t?;
            if allowed.contains(&t) {
                Some(t)
            } else {
                this.emit(
                    e.span,
                    CheckError::SurrogateType {
                        message: format!("`{name}` expects {what}"),
                        label: format!("this is {}", t.describe()),
                    },
                );
                None
            }
        };
        match name {
            "zeros" | "gumbel" => Some(SType::Scores),
            "vjp" => {
                let f = &c.args[0].value;
                let fop = match &f.kind {
                    ExprKind::Name(id) if id.name == "marg" => StructOp::Marginals,
                    ExprKind::Name(id) if id.name == "project" => StructOp::SparseMap,
                    _ => {
                        self.emit(
                            f.span,
                            CheckError::SurrogateType {
                                message: "`vjp` differentiates `marg` or `project`".into(),
                                label: "expected `marg` or `project`".into(),
                            },
                        );
                        return None;
                    }
                };
                info.uses.push((fop, f.span));
                let at = self.sexpr(&c.args[1].value, scope, info);
                let g = self.sexpr(&c.args[2].value, scope, info);
                want(self, &c.args[1].value, at, &[SType::Scores], "scores")?;
                want(
                    self,
                    &c.args[2].value,
                    g,
                    &[SType::Scores],
                    "a score-shaped gradient",
                )?;
                Some(SType::Scores)
            }
            "loss" => {
                let t = self.sexpr(&c.args[0].value, scope, info);
                want(
                    self,
                    &c.args[0].value,
                    t,
                    &[SType::Scores],
                    "a structure shaped like the scores",
                )?;
                Some(SType::PerExample)
            }
            "batch_size" => Some(SType::Scalar),
            // A value, then an optional number: the averages of a per-example
            // value (the moving ones take a decay) and `project`'s budget.
            "batch_mean" | "running_mean" | "ema" | "project" => {
                let (allowed, what, result): (&[SType], _, _) = if name == "project" {
                    (
                        &[SType::Scores],
                        "a value shaped like the scores",
                        SType::Scores,
                    )
                } else {
                    (
                        &[SType::PerExample, SType::Scalar],
                        "a per-example value",
                        SType::PerExample,
                    )
                };
                let v = self.sexpr(&c.args[0].value, scope, info);
                let d = c.args.get(1).map(|a| self.sexpr(&a.value, scope, info));
                want(self, &c.args[0].value, v, allowed, what)?;
                if let (Some(d), Some(a)) = (d, c.args.get(1)) {
                    want(self, &a.value, d, &[SType::Scalar], "a number")?;
                }
                Some(result)
            }
            "exp" | "log" => self.sexpr(&c.args[0].value, scope, info),
            _ => {
                let t = self.sexpr(&c.args[0].value, scope, info);
                want(
                    self,
                    &c.args[0].value,
                    t,
                    &[SType::Scores],
                    "a value shaped like the scores",
                )?;
                Some(SType::Scores)
            }
        }
    }
}

fn op_params(op: &builtins::SurrogateOp) -> &'static [&'static str] {
    match op.name {
        "vjp" => &["f", "at", "g"],
        "running_mean" | "ema" => &["v", "decay"],
        "batch_mean" => &["v"],
        "project" => &["mu", "max_iter"],
        "zeros" | "gumbel" | "batch_size" => &[],
        _ => &["mu"],
    }
}

fn op_signature(op: &builtins::SurrogateOp) -> String {
    let (required, optional) = op_params(op).split_at(op.arity);
    let mut args = required.join(", ");
    for o in optional {
        args += &if args.is_empty() {
            format!("[{o}]")
        } else {
            format!("[, {o}]")
        };
    }
    format!("{}({args})", op.name)
}

fn surrogate_vocabulary() -> String {
    let names: Vec<String> = builtins::SURROGATE_OPS
        .iter()
        .map(|o| format!("`{}`", o.name))
        .collect();
    crate::syntax::join_or(&names)
}

fn surrogate_signature(def: &SurrogateDef) -> String {
    let ps: Vec<String> = def
        .params
        .iter()
        .map(|p| match &p.default {
            Some(d) => match eval_scalar(d, &[]) {
                Some(v) => format!("{} = {}", p.name.name, super::fmt_number(v)),
                None => p.name.name.clone(),
            },
            None => p.name.name.clone(),
        })
        .collect();
    format!("{}({})", def.name.name, ps.join(", "))
}

/// Every variable a surrogate body assigns, in `repeat`s too.
fn assigned_in(body: &[SurrogateStmt], out: &mut Vec<String>) {
    for stmt in body {
        match stmt {
            SurrogateStmt::Assign(a) => out.push(a.name.name.clone()),
            SurrogateStmt::Repeat { body, .. } => assigned_in(body, out),
            SurrogateStmt::Return { .. } => {}
        }
    }
}

/// Every name an expression mentions.
fn names_in(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Name(id) => out.push(id.name.clone()),
        ExprKind::Neg(inner) => names_in(inner, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            names_in(lhs, out);
            names_in(rhs, out);
        }
        ExprKind::Call(c) => c.args.iter().for_each(|a| names_in(&a.value, out)),
        ExprKind::List(items) => items.iter().for_each(|i| names_in(i, out)),
        _ => {}
    }
}

/// Evaluates a scalar expression over bound surrogate arguments.
fn eval_scalar(e: &Expr, bound: &[(String, f64)]) -> Option<f64> {
    match &e.kind {
        ExprKind::Number { value, .. } => Some(*value),
        ExprKind::Name(id) => bound.iter().find(|(n, _)| *n == id.name).map(|(_, v)| *v),
        ExprKind::Neg(inner) => eval_scalar(inner, bound).map(|v| -v),
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (eval_scalar(lhs, bound)?, eval_scalar(rhs, bound)?);
            Some(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
            })
        }
        _ => None,
    }
}
