//! Expressions: constants (`param` values, numeric arguments), tensor
//! expressions with shape inference, and argument binding against the
//! built-in table.

use super::error::unquoted_string_help;
use super::{CheckError, Checker, Unknown};
use crate::builtins::shapes::{self, Args, ShapeErrorKind, Val};
use crate::builtins::{self, ArgTy, Builtin, Kind, Param, Range};
use crate::model::{TExpr, TKind};
use crate::span::{DataBase, Origin, Span};
use crate::suggest::closest;
use crate::syntax::ast::*;
use crate::types::Tensor;
use std::fmt;

/// A value known before anything runs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Const {
    Num { value: f64, integral: bool },
    Bool(bool),
    Str(String),
    List(Vec<Const>),
}

impl fmt::Display for Const {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Const::Num { value, .. } => write!(f, "{}", super::fmt_number(*value)),
            Const::Bool(b) => write!(f, "{b}"),
            Const::Str(s) => write!(f, "{s:?}"),
            Const::List(items) => {
                let parts: Vec<String> = items.iter().map(|c| c.to_string()).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl Const {
    fn describe(&self) -> String {
        match self {
            Const::Num { value, .. } => format!("the number {}", super::fmt_number(*value)),
            Const::Bool(b) => format!("`{b}`"),
            Const::Str(s) => format!("the string {s:?}"),
            Const::List(_) => "a list".into(),
        }
    }
}

/// Where an expression appears: decides which names and calls are allowed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ctx {
    /// Arguments that must be constants (data sources, optimizers, structures).
    Constant,
    Encoder,
    Decoder,
    /// The scores expression of a latent line, with the structure's score shape.
    Scores(Tensor),
    Loss,
    Metric,
}

/// The result of a tensor-context expression.
#[derive(Clone, Debug)]
enum Ev {
    Tensor(TExpr),
    Num(f64),
}

impl Ev {
    /// As an operand of tensor arithmetic.
    fn into_texpr(self, span: Span) -> TExpr {
        match self {
            Ev::Tensor(t) => t,
            Ev::Num(v) => TExpr {
                kind: TKind::Scalar(v),
                ty: Tensor::f32(vec![]),
                span,
            },
        }
    }
}

impl Checker {
    // ---- constants ---------------------------------------------------------

    pub(crate) fn const_expr(&mut self, e: &Expr) -> Option<Const> {
        match &e.kind {
            ExprKind::Number { value, integral } => Some(Const::Num {
                value: *value,
                integral: *integral,
            }),
            ExprKind::Str(s) => Some(Const::Str(s.clone())),
            ExprKind::Bool(b) => Some(Const::Bool(*b)),
            ExprKind::List(items) => {
                let vals: Vec<Option<Const>> = items.iter().map(|i| self.const_expr(i)).collect();
                vals.into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Const::List)
            }
            ExprKind::Name(id) => self.const_name(id),
            ExprKind::Neg(inner) => match self.const_expr(inner)? {
                Const::Num { value, integral } => Some(Const::Num {
                    value: -value,
                    integral,
                }),
                other => {
                    self.emit(
                        e.span,
                        CheckError::BadConstant {
                            message: format!("cannot negate {}", other.describe()),
                        },
                    );
                    None
                }
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.const_expr(lhs), self.const_expr(rhs));
                match (l?, r?) {
                    (
                        Const::Num {
                            value: a,
                            integral: ia,
                        },
                        Const::Num {
                            value: b,
                            integral: ib,
                        },
                    ) => {
                        let value = match op {
                            BinOp::Add => a + b,
                            BinOp::Sub => a - b,
                            BinOp::Mul => a * b,
                            BinOp::Div => a / b,
                        };
                        Some(Const::Num {
                            value,
                            integral: ia && ib && *op != BinOp::Div,
                        })
                    }
                    (a, b) => {
                        self.emit(
                            e.span,
                            CheckError::BadConstant {
                                message: format!(
                                    "cannot compute {} {} {}",
                                    a.describe(),
                                    op.symbol(),
                                    b.describe()
                                ),
                            },
                        );
                        None
                    }
                }
            }
            ExprKind::Call(c) => {
                self.emit(
                    c.callee.span,
                    CheckError::NotConstant {
                        name: format!("{}(…)", c.callee.name),
                    },
                );
                None
            }
        }
    }

    /// [`Checker::const_expr`] where a string is expected: `Err(word)`
    /// for a lone name that is nothing defined and close to no `param`,
    /// which is likely a string written without quotes.
    fn const_expr_or_word(&mut self, e: &Expr) -> Option<Result<Const, String>> {
        if let ExprKind::Name(id) = &e.kind {
            let known = self.poisoned.contains(&id.name)
                || self.params.contains_key(&id.name)
                || self.values.contains_key(&id.name)
                || closest(&id.name, self.params.keys().map(String::as_str)).is_some();
            if !known {
                return Some(Err(id.name.clone()));
            }
        }
        self.const_expr(e).map(Ok)
    }

    fn const_name(&mut self, id: &Ident) -> Option<Const> {
        if self.poisoned.contains(&id.name) {
            return None;
        }
        if let Some(p) = self.params.get_mut(&id.name) {
            p.used = true;
            return p.value.clone();
        }
        if self.values.contains_key(&id.name) {
            self.emit(
                id.span,
                CheckError::NotConstant {
                    name: id.name.clone(),
                },
            );
            return None;
        }
        let suggestion = closest(&id.name, self.params.keys().map(String::as_str));
        self.emit(
            id.span,
            CheckError::UndefinedName {
                name: id.name.clone(),
                suggestion,
                note: None,
            },
        );
        None
    }

    // ---- tensor expressions --------------------------------------------------

    /// Checks an expression that must produce a tensor.
    pub(crate) fn tensor_value(&mut self, e: &Expr, ctx: Ctx) -> Option<TExpr> {
        match self.ev(e, &ctx)? {
            Ev::Tensor(t) => Some(t),
            Ev::Num(v) => {
                self.emit(
                    e.span,
                    CheckError::ShapeMismatch {
                        message: "expected a tensor, found a number".into(),
                        label: format!("this is the number {}", super::fmt_number(v)),
                        help: None,
                    },
                );
                None
            }
        }
    }

    fn ev(&mut self, e: &Expr, ctx: &Ctx) -> Option<Ev> {
        match &e.kind {
            ExprKind::Number { value, .. } => Some(Ev::Num(*value)),
            ExprKind::Name(id) => self.ev_name(id, ctx),
            ExprKind::Call(c) => self.ev_call(c, ctx).map(Ev::Tensor),
            ExprKind::Neg(inner) => match self.ev(inner, ctx)? {
                Ev::Num(v) => Some(Ev::Num(-v)),
                Ev::Tensor(t) if t.ty.elem != crate::types::Elem::F32 => {
                    self.emit(
                        e.span,
                        CheckError::ShapeMismatch {
                            message: format!("cannot negate {}", t.ty),
                            label: format!("this is {}", t.ty),
                            help: Some("labels and ids are not numbers to compute with".into()),
                        },
                    );
                    None
                }
                Ev::Tensor(t) => Some(Ev::Tensor(TExpr {
                    ty: Tensor::f32(t.ty.dims.clone()),
                    kind: TKind::Neg(Box::new(t)),
                    span: e.span,
                })),
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.ev(lhs, ctx), self.ev(rhs, ctx));
                match (l?, r?) {
                    (Ev::Num(a), Ev::Num(b)) => Some(Ev::Num(match op {
                        BinOp::Add => a + b,
                        BinOp::Sub => a - b,
                        BinOp::Mul => a * b,
                        BinOp::Div => a / b,
                    })),
                    (l, r) => {
                        let (lt, rt) = (l.into_texpr(lhs.span), r.into_texpr(rhs.span));
                        let (a, b) = (&lt.ty, &rt.ty);
                        let scalar = |t: &TExpr| matches!(t.kind, TKind::Scalar(_));
                        let f32s = (scalar(&lt) || a.elem == crate::types::Elem::F32)
                            && (scalar(&rt) || b.elem == crate::types::Elem::F32);
                        let fits = f32s && (scalar(&lt) || scalar(&rt) || a.same_shape(b));
                        if !fits {
                            self.emit(
                                e.span,
                                CheckError::ShapeMismatch {
                                    message: format!("cannot apply `{}` to {a} and {b}", op.symbol()),
                                    label: format!("{a} {} {b}", op.symbol()),
                                    help: Some("arithmetic works on f32 tensors (of one shape, or with a number); labels and ids are not numbers to compute with".into()),
                                },
                            )
                            .with_secondary_mut(lhs.span, &format!("this is {a}"))
                            .with_secondary_mut(rhs.span, &format!("this is {b}"));
                            return None;
                        }
                        let dims = if scalar(&lt) {
                            b.dims.clone()
                        } else {
                            a.dims.clone()
                        };
                        Some(Ev::Tensor(TExpr {
                            ty: Tensor::f32(dims),
                            kind: TKind::Binary {
                                op: *op,
                                lhs: Box::new(lt),
                                rhs: Box::new(rt),
                            },
                            span: e.span,
                        }))
                    }
                }
            }
            ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::List(_) => {
                let found = self.const_expr(e).map(|c| c.describe()).unwrap_or_default();
                self.emit(
                    e.span,
                    CheckError::ShapeMismatch {
                        message: format!("expected a tensor, found {found}"),
                        label: "not a tensor".into(),
                        help: None,
                    },
                );
                None
            }
        }
    }

    fn ev_name(&mut self, id: &Ident, ctx: &Ctx) -> Option<Ev> {
        if self.poisoned.contains(&id.name) {
            return None;
        }
        if let Some(v) = self.values.get_mut(&id.name) {
            v.used = true;
            return Some(Ev::Tensor(TExpr {
                kind: TKind::Value(id.name.clone()),
                ty: v.ty.clone(),
                span: id.span,
            }));
        }
        if self.data_unknown && !self.params.contains_key(&id.name) {
            return None;
        }
        if let Some(p) = self.params.get_mut(&id.name) {
            p.used = true;
            return match p.value.clone()? {
                Const::Num { value, .. } => Some(Ev::Num(value)),
                other => {
                    let d = other.describe();
                    self.emit(
                        id.span,
                        CheckError::ShapeMismatch {
                            message: format!("expected a tensor or a number, `{}` is {d}", id.name),
                            label: "not a tensor".into(),
                            help: None,
                        },
                    );
                    None
                }
            };
        }
        let note = if builtins::surrogate_op(&id.name).is_some() || id.name == "s" || id.name == "z"
        {
            None
        } else if self.builtin(&id.name).is_some() {
            Some(format!(
                "`{}` is a built-in: call it as `{}(…)`",
                id.name, id.name
            ))
        } else {
            None
        };
        let candidates: Vec<String> = self
            .values
            .keys()
            .chain(self.params.keys())
            .cloned()
            .collect();
        let suggestion = closest(&id.name, candidates.iter().map(String::as_str));
        let note = note.or_else(|| match ctx {
            Ctx::Scores(_) => None,
            _ if self.surrogates.contains_key(&id.name) => Some(format!(
                "`{}` is a surrogate: attach it with `via`",
                id.name
            )),
            _ => None,
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

    fn ev_call(&mut self, c: &Call, ctx: &Ctx) -> Option<TExpr> {
        let name = c.callee.name.as_str();
        let span = c.callee.span;
        if self.instances.contains_key(name) {
            return self.apply_instance(c, ctx);
        }
        let Some(b) = self.builtin(name) else {
            if builtins::surrogate_op(name).is_some() {
                self.emit(span, CheckError::SurrogateOnly { name: name.into() });
            } else if self.surrogates.contains_key(name) {
                self.emit(
                    span,
                    CheckError::WrongKind {
                        name: name.into(),
                        is: "a surrogate (attach it to a latent with `via`)".into(),
                        expected: "a layer".into(),
                    },
                );
            } else {
                let mut layers = self.names_of(Kind::Layer);
                layers.extend(self.instance_names());
                let suggestion = closest(name, layers);
                let (what, suggestion) = match ctx {
                    Ctx::Loss => (
                        Unknown::Loss,
                        closest(name, self.names_of(Kind::Loss)).or(suggestion),
                    ),
                    _ => (Unknown::Layer, suggestion),
                };
                self.emit(
                    span,
                    CheckError::Unknown {
                        what,
                        name: name.into(),
                        suggestion,
                        note: None,
                    },
                );
            }
            return None;
        };
        match (b.kind, ctx) {
            (Kind::Layer, Ctx::Scores(_)) => {
                self.emit(span, CheckError::LayerInLatent { name: name.into() });
                None
            }
            (Kind::Layer, Ctx::Loss) => {
                self.emit(span, CheckError::LayerInLoss { name: name.into() });
                None
            }
            (Kind::Forward, Ctx::Scores(_)) => {
                self.emit(span, CheckError::NestedMapping { name: name.into() });
                None
            }
            (Kind::Layer, _) => {
                let layer = crate::layers::lookup(name)
                    .expect("the layer registry declares every layer built-in");
                let args = self.bind(b, c, ctx)?;
                match layer.shape(&args) {
                    Ok(shape) => {
                        self.layer_params = self.layer_params + shape.param_count();
                        Some(TExpr {
                            kind: TKind::Call { name: b.name, args },
                            ty: shape.ty,
                            span: c.span,
                        })
                    }
                    Err(e) => {
                        self.shape_error(c, b, e);
                        None
                    }
                }
            }
            (Kind::Noise, Ctx::Scores(scores)) => {
                let ty = Tensor::f32(scores.dims.clone());
                let args = self.bind(b, c, ctx)?;
                Some(TExpr {
                    kind: TKind::Call { name: b.name, args },
                    ty,
                    span: c.span,
                })
            }
            (Kind::Forward | Kind::Noise, _) => {
                self.emit(span, CheckError::LatentOnly { name: name.into() });
                None
            }
            (Kind::Loss, _) => {
                let args = self.bind(b, c, ctx)?;
                match shapes::loss(name, &args) {
                    Ok(ty) => Some(TExpr {
                        kind: TKind::Call { name: b.name, args },
                        ty,
                        span: c.span,
                    }),
                    Err(e) => {
                        self.shape_error(c, b, e);
                        None
                    }
                }
            }
            (kind, _) => {
                self.emit(
                    span,
                    CheckError::WrongKind {
                        name: name.into(),
                        is: article(kind.noun()),
                        expected: "a layer".into(),
                    },
                );
                None
            }
        }
    }

    /// Reports a shape rule's error on the argument it blames.
    pub(crate) fn shape_error(&mut self, c: &Call, b: &Builtin, e: shapes::ShapeError) {
        let span = arg_span(c, b, e.arg).unwrap_or(c.span);
        let err = match e.kind {
            ShapeErrorKind::Mismatch => CheckError::ShapeMismatch {
                message: e.message,
                label: e.label,
                help: e.help,
            },
            ShapeErrorKind::NeedsTree => CheckError::NeedsTreeLatent {
                message: e.message,
                label: e.label,
                help: e.help,
            },
            ShapeErrorKind::NeedsSequence => CheckError::NeedsSequenceLatent {
                message: e.message,
                label: e.label,
                help: e.help,
            },
            ShapeErrorKind::BadSize => CheckError::BadSize {
                message: e.message,
                label: e.label,
                help: e.help,
            },
        };
        self.emit(span, err);
    }

    /// Resolves `call` as a built-in of `kind` and binds its arguments.
    pub(crate) fn builtin_call(&mut self, call: &Call, kind: Kind, ctx: Ctx) -> Option<Args> {
        match self.builtin(&call.callee.name) {
            Some(b) if b.kind == kind => self.bind(b, call, &ctx),
            Some(b) => {
                self.emit(
                    call.callee.span,
                    CheckError::WrongKind {
                        name: call.callee.name.clone(),
                        is: article(b.kind.noun()),
                        expected: article(kind.noun()),
                    },
                );
                None
            }
            None => {
                let what = match kind {
                    Kind::Structure => Unknown::Structure,
                    Kind::DataSource => Unknown::DataSource,
                    Kind::Embeddings => Unknown::Embeddings,
                    Kind::Split => Unknown::Split,
                    Kind::Optimizer => Unknown::Optimizer,
                    Kind::Schedule => Unknown::Schedule,
                    Kind::Metric => Unknown::Metric,
                    Kind::Loss => Unknown::Loss,
                    _ => Unknown::Layer,
                };
                let suggestion = closest(&call.callee.name, self.names_of(kind));
                self.emit(
                    call.callee.span,
                    CheckError::Unknown {
                        what,
                        name: call.callee.name.clone(),
                        suggestion,
                        note: None,
                    },
                );
                None
            }
        }
    }

    // ---- argument binding ------------------------------------------------------

    /// Binds `call`'s arguments to `b`'s parameters and checks each one.
    /// Returns `None` after reporting if anything is wrong.
    pub(crate) fn bind(&mut self, b: &Builtin, call: &Call, ctx: &Ctx) -> Option<Args> {
        let slots = self.bind_slots(
            &call.callee.name,
            &b.params.iter().map(|p| p.name).collect::<Vec<_>>(),
            b.variadic,
            call,
            &signature(b),
            |i| b.params[i].default.is_some(),
        )?;
        let mut args = Args::default();
        let mut ok = true;
        for (i, p) in b.params.iter().enumerate() {
            let given: Vec<&Expr> = slots
                .iter()
                .filter(|(j, _)| *j == i)
                .map(|(_, e)| *e)
                .collect();
            if given.is_empty() {
                if let Some(d) = p.default {
                    args.0.push((p.name, default_val(d)));
                }
                continue;
            }
            for e in given {
                match self.arg_value(b.name, p, e, ctx) {
                    Some(v) => args.0.push((p.name, v)),
                    None => ok = false,
                }
            }
        }
        ok.then_some(args)
    }

    /// Matches arguments to parameter slots: positional first, then keywords.
    /// Reports arity, unknown, duplicate and missing arguments.
    pub(crate) fn bind_slots<'c>(
        &mut self,
        callee: &str,
        params: &[&str],
        variadic: bool,
        call: &'c Call,
        signature: &str,
        has_default: impl Fn(usize) -> bool,
    ) -> Option<Vec<(usize, &'c Expr)>> {
        let mut slots: Vec<(usize, &Expr, Span)> = Vec::new();
        let mut ok = true;
        let mut seen_keyword = false;
        let mut positional = 0;
        for a in &call.args {
            match &a.name {
                None => {
                    if seen_keyword {
                        self.emit(a.span, CheckError::PositionalAfterKeyword);
                        return None;
                    }
                    let slot = if positional < params.len() {
                        positional
                    } else if variadic && !params.is_empty() {
                        params.len() - 1
                    } else {
                        let given = call.args.iter().filter(|a| a.name.is_none()).count();
                        self.emit(
                            a.span,
                            CheckError::TooManyArguments {
                                callee: callee.into(),
                                max: params.len(),
                                given,
                                signature: signature.into(),
                            },
                        );
                        return None;
                    };
                    positional += 1;
                    slots.push((slot, &a.value, a.span));
                }
                Some(name) => {
                    seen_keyword = true;
                    let Some(slot) = params.iter().position(|p| *p == name.name) else {
                        self.emit(
                            name.span,
                            CheckError::UnknownArgument {
                                callee: callee.into(),
                                name: name.name.clone(),
                                suggestion: closest(&name.name, params.iter().copied()),
                                signature: signature.into(),
                            },
                        );
                        ok = false;
                        continue;
                    };
                    if let Some((_, _, first)) = slots.iter().find(|(s, _, _)| *s == slot) {
                        let first = *first;
                        self.emit(
                            a.span,
                            CheckError::DuplicateArgument {
                                name: name.name.clone(),
                            },
                        )
                        .with_secondary_mut(first, "first given here");
                        ok = false;
                        continue;
                    }
                    slots.push((slot, &a.value, a.span));
                }
            }
        }
        for (i, p) in params.iter().enumerate() {
            if !has_default(i) && !slots.iter().any(|(s, _, _)| *s == i) {
                self.emit(
                    call.close,
                    CheckError::MissingArgument {
                        callee: callee.into(),
                        param: p.to_string(),
                        signature: signature.into(),
                    },
                );
                ok = false;
            }
        }
        ok.then(|| slots.into_iter().map(|(s, e, _)| (s, e)).collect())
    }

    fn arg_value(&mut self, callee: &str, p: &Param, e: &Expr, ctx: &Ctx) -> Option<Val> {
        let type_error = |this: &mut Checker, found: String, help: Option<String>| {
            this.emit(
                e.span,
                CheckError::ArgumentType {
                    callee: callee.into(),
                    param: p.name.into(),
                    expected: p.ty.describe(),
                    found,
                    help,
                },
            );
            None
        };
        match p.ty {
            ArgTy::Value => {
                let inner = match ctx {
                    Ctx::Constant => Ctx::Encoder,
                    other => other.clone(),
                };
                match self.ev(e, &inner)? {
                    Ev::Tensor(t) => Some(Val::Tensor(Box::new(t))),
                    Ev::Num(v) => {
                        type_error(self, format!("the number {}", super::fmt_number(v)), None)
                    }
                }
            }
            ArgTy::Symbol(words) | ArgTy::IntOr(words) => {
                if let ExprKind::Name(id) = &e.kind {
                    if words.contains(&id.name.as_str()) {
                        return Some(Val::Symbol(id.name.clone()));
                    }
                    if matches!(p.ty, ArgTy::Symbol(_)) || !self.params.contains_key(&id.name) {
                        let help = closest(&id.name, words.iter().copied())
                            .map(|s| format!("did you mean `{s}`?"));
                        return type_error(self, format!("`{}`", id.name), help);
                    }
                }
                if let ExprKind::Str(s) = &e.kind {
                    if words.contains(&s.as_str()) {
                        return type_error(
                            self,
                            format!("the string {s:?}"),
                            Some(format!("write it without quotes: `{s}`")),
                        );
                    }
                }
                if matches!(p.ty, ArgTy::Symbol(_)) {
                    let found = self.const_expr(e)?.describe();
                    return type_error(self, found, None);
                }
                self.number_arg(callee, p, e, true)
            }
            ArgTy::Int => self.number_arg(callee, p, e, true),
            ArgTy::Float => self.number_arg(callee, p, e, false),
            ArgTy::Bool => match self.const_expr(e)? {
                Const::Bool(b) => Some(Val::Bool(b)),
                other => type_error(self, other.describe(), None),
            },
            ArgTy::Str | ArgTy::File | ArgTy::Dir => match self.const_expr_or_word(e)? {
                Err(word) => {
                    // `path = sst`, `--set data.path=sst`: a string without quotes.
                    let help = self.unquoted_help(e.span);
                    type_error(self, format!("`{word}`"), Some(help))
                }
                Ok(Const::Str(s)) => {
                    if p.ty != ArgTy::Str {
                        // The runtime reads the path from wherever it runs:
                        // it gets the one resolved against the data root or
                        // the spec's directory ([`Checker::check_path`]).
                        let full = self.check_path(&s, e.span, p.ty == ArgTy::Dir)?;
                        return Some(Val::Str(full));
                    }
                    Some(Val::Str(s))
                }
                Ok(other) => type_error(self, other.describe(), None),
            },
            ArgTy::Floats(n) => match self.const_expr(e)? {
                Const::List(items) if items.len() == n => {
                    let mut out = Vec::new();
                    for it in items {
                        match it {
                            Const::Num { value, .. } => out.push(value),
                            other => {
                                return type_error(
                                    self,
                                    format!("a list holding {}", other.describe()),
                                    None,
                                )
                            }
                        }
                    }
                    Some(Val::Floats(out))
                }
                Const::List(items) => {
                    type_error(self, format!("a list of {} items", items.len()), None)
                }
                other => type_error(self, other.describe(), None),
            },
            ArgTy::Strs => match self.const_expr(e)? {
                Const::List(items) => {
                    let mut out = Vec::new();
                    for it in items {
                        match it {
                            Const::Str(s) => out.push(s),
                            other => {
                                return type_error(
                                    self,
                                    format!("a list holding {}", other.describe()),
                                    Some("write each item in quotes".into()),
                                )
                            }
                        }
                    }
                    Some(Val::Strs(out))
                }
                Const::Str(s) => type_error(
                    self,
                    format!("the string {s:?}"),
                    Some(format!("a list of one is written [{s:?}]")),
                ),
                other => type_error(self, other.describe(), None),
            },
            ArgTy::Call(kind) => match &e.kind {
                ExprKind::Call(c) => {
                    let args = self.builtin_call(c, kind, Ctx::Constant)?;
                    Some(Val::Call(c.callee.name.clone(), args))
                }
                _ => {
                    let example = self.names_of(kind).first().copied().unwrap_or("f");
                    type_error(
                        self,
                        "not a call".into(),
                        Some(format!("e.g. `{example}(…)`")),
                    )
                }
            },
        }
    }

    fn number_arg(&mut self, callee: &str, p: &Param, e: &Expr, want_int: bool) -> Option<Val> {
        let c = self.const_expr(e)?;
        let Const::Num { value, .. } = c else {
            self.emit(
                e.span,
                CheckError::ArgumentType {
                    callee: callee.into(),
                    param: p.name.into(),
                    expected: p.ty.describe(),
                    found: c.describe(),
                    help: None,
                },
            );
            return None;
        };
        if want_int && !(value.fract() == 0.0 && value.abs() < 9.0e15) {
            self.emit(
                e.span,
                CheckError::ArgumentType {
                    callee: callee.into(),
                    param: p.name.into(),
                    expected: p.ty.describe(),
                    found: format!("the number {}", super::fmt_number(value)),
                    help: None,
                },
            );
            return None;
        }
        let requirement = match p.range {
            Range::Any => None,
            Range::Positive if value.is_nan() || value <= 0.0 => Some("positive"),
            Range::NonNegative if value.is_nan() || value < 0.0 => Some("zero or more"),
            Range::Fraction if !(0.0..1.0).contains(&value) => Some("in [0, 1)"),
            Range::Between { lo, hi, said } if !(lo as f64..=hi as f64).contains(&value) => {
                Some(said)
            }
            _ => None,
        };
        let requirement = requirement.or((!value.is_finite()).then_some("finite"));
        if let Some(requirement) = requirement {
            let from_param = match &e.kind {
                ExprKind::Name(id) => self
                    .params
                    .get(&id.name)
                    .map(|p| (id.name.clone(), p.value_span)),
                _ => None,
            };
            let d = self.emit(
                e.span,
                CheckError::OutOfRange {
                    what: format!("`{}` of `{callee}`", p.name),
                    value: super::fmt_number(value),
                    requirement,
                },
            );
            if let Some((name, span)) = from_param {
                d.with_secondary_mut(span, &format!("`{name}` gets its value here"));
            }
            return None;
        }
        Some(if want_int {
            Val::Int(value as i64)
        } else {
            Val::Float(value)
        })
    }

    /// Checks that a data path exists, relative to the data root if there
    /// is one, else to the file it is written in (the working directory
    /// for a `--set` value); returns it resolved that way.
    fn check_path(&mut self, path: &str, span: Span, dir: bool) -> Option<String> {
        let src = self.sources.get(span.file);
        let (base, rule) = src.data_base(self.data_root.as_ref());
        let full = base.join(path);
        let ok = if dir { full.is_dir() } else { full.is_file() };
        if ok {
            return Some(full.display().to_string());
        }
        let kind = if dir { "directory" } else { "file" };
        // The message names the file the system looked for, absolute, and
        // what a relative path was taken relative to: a spec's directory
        // as the command named it, any other base absolute.
        let shown = match rule {
            DataBase::SpecDir if base.as_os_str().is_empty() => ".".to_string(),
            DataBase::SpecDir => base.display().to_string(),
            _ => lsmc_ir::data::shown_path(&base).display().to_string(),
        };
        let relative = std::path::Path::new(path).is_relative();
        let base = relative.then_some((shown, rule));
        self.emit(
            span,
            CheckError::MissingFile {
                path: path.into(),
                resolved: lsmc_ir::data::shown_path(&full).display().to_string(),
                kind,
                base,
            },
        );
        None
    }

    /// The help for a string written without quotes at `span`: in a
    /// `--set` flag it shows the flag quoted for the shell.
    fn unquoted_help(&self, span: Span) -> String {
        let src = self.sources.get(span.file);
        let flag = (src.origin == Origin::CommandLine)
            .then(|| src.text.split_once('='))
            .flatten();
        match flag {
            Some((path, value)) => unquoted_string_help(value.trim(), Some(path.trim())),
            None => unquoted_string_help(self.sources.slice(span), None),
        }
    }

    /// `--set data.path=/data/x`: a flag whose value does not parse, or
    /// names something undefined, while it reads like a string written
    /// without quotes gets a help saying how to quote it (once a flag).
    pub(super) fn hint_unquoted_set_values(&mut self) {
        let mut hinted = std::collections::HashSet::new();
        for i in 0..self.diags.len() {
            let d = &self.diags[i];
            let file = d.primary.span.file;
            let src = self.sources.get(file);
            let Some((_, value)) = src.text.split_once('=') else {
                continue;
            };
            // Any code of the parser.
            let parse = d.code.split("::").nth(1) == Some("parse");
            let unquoted = match d.code {
                _ if parse => looks_unquoted(value, true),
                "lsm::check::undefined_name" => looks_unquoted(value, false),
                _ => false,
            };
            if src.origin != Origin::CommandLine || !unquoted || !hinted.insert(file) {
                continue;
            }
            let help = self.unquoted_help(d.primary.span);
            self.diags[i].help = Some(help);
        }
    }
}

/// Whether a `--set` value reads like a string written without quotes: a
/// path, a file name or a word with `-` in it (`word`: or any word that
/// failed to parse). Not a number, a list, a call, or quoted.
fn looks_unquoted(value: &str, word: bool) -> bool {
    let v = value.trim();
    let pathy = v.contains(['/', '\\', '.', '~', '-', ':', '$']);
    let first = v.chars().next().unwrap_or(' ');
    !v.is_empty()
        && !v.contains(['"', '(', ')', '[', ']', ','])
        && v.parse::<f64>().is_err()
        && (pathy || (word && first.is_alphabetic()))
}

fn default_val(d: builtins::Default) -> Val {
    match d {
        builtins::Default::Int(v) => Val::Int(v),
        builtins::Default::Float(v) => Val::Float(v),
        builtins::Default::Bool(v) => Val::Bool(v),
        builtins::Default::Symbol(s) => Val::Symbol(s.into()),
        builtins::Default::Str(s) => Val::Str(s.into()),
        builtins::Default::Strs(v) => Val::Strs(v.iter().map(|x| x.to_string()).collect()),
        builtins::Default::Floats(v) => Val::Floats(v.to_vec()),
    }
}

/// `name(a, b, c = 1)` as users write calls.
pub(crate) fn signature(b: &Builtin) -> String {
    let parts: Vec<String> = b
        .params
        .iter()
        .map(|p| match p.default {
            Some(d) => format!("{} = {d}", p.name),
            None => p.name.to_string(),
        })
        .collect();
    let dots = if b.variadic { ", …" } else { "" };
    format!("{}({}{dots})", b.name, parts.join(", "))
}

/// The span of the argument bound to parameter `param`, if given.
fn arg_span(c: &Call, b: &Builtin, param: &str) -> Option<Span> {
    let idx = b.params.iter().position(|p| p.name == param)?;
    c.args
        .iter()
        .find(|a| a.name.as_ref().is_some_and(|n| n.name == param))
        .or_else(|| c.args.iter().filter(|a| a.name.is_none()).nth(idx))
        .or_else(|| {
            // Variadic extras blame the last parameter.
            if b.variadic && idx + 1 == b.params.len() {
                c.args.iter().rfind(|a| a.name.is_none())
            } else {
                None
            }
        })
        .map(|a| a.value.span)
}

pub(crate) fn article(noun: &str) -> String {
    let vowel = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}
