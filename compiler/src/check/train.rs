//! The `train { … }` block: optimizer, batch, length, evaluation, metrics.

use super::exprs::Ctx;
use super::{CheckError, Checker};
use crate::builtins::shapes;
use crate::builtins::{self, ArgTy, Kind, Param, Range};
use crate::model::{Metric, Unit};
use crate::span::Span;
use crate::suggest::closest;
use crate::summary::TrainSummary;
use crate::syntax::ast::*;

/// A setting of the `train` block, typed like a call argument.
struct Setting {
    param: Param,
    repeats: bool,
}

const fn setting(name: &'static str, ty: ArgTy, range: Range, repeats: bool) -> Setting {
    Setting {
        param: Param {
            name,
            ty,
            default: None,
            range,
            doc: "",
        },
        repeats,
    }
}

/// The settings a `train` block understands, and their types.
static SETTINGS: &[Setting] = &[
    setting("optimizer", ArgTy::Call(Kind::Optimizer), Range::Any, false),
    setting("batch", ArgTy::IntOr(&["full"]), Range::Positive, false),
    setting("steps", ArgTy::Int, Range::Positive, false),
    setting("epochs", ArgTy::Int, Range::Positive, false),
    setting("seed", ArgTy::Int, Range::NonNegative, false),
    setting("metric", ArgTy::Call(Kind::Metric), Range::Any, true),
    setting("schedule", ArgTy::Call(Kind::Schedule), Range::Any, false),
    setting("clip_norm", ArgTy::Float, Range::Positive, false),
    setting("patience", ArgTy::Int, Range::Positive, false),
];

static EVERY: Setting = setting("every", ArgTy::Int, Range::Positive, false);

pub(crate) const SETTING_NAMES: &[&str] = &[
    "optimizer",
    "batch",
    "steps",
    "epochs",
    "seed",
    "metric",
    "schedule",
    "clip_norm",
    "patience",
    "evaluate",
    "log",
];

const SPLITS: &[&str] = &["train", "valid", "test"];

impl Checker {
    pub(crate) fn train(&mut self, t: &Train) -> TrainSummary {
        let mut out = TrainSummary::default();
        let mut seen: Vec<(&str, Span)> = Vec::new();
        let mut length: Option<(&str, Span)> = None;
        let mut evaluate_seen: Option<Span> = None;
        for item in &t.items {
            match item {
                TrainItem::Setting { name, value, .. } => {
                    if name.name == "evaluate" {
                        self.emit(name.span.to(value.span), CheckError::MalformedEvaluate);
                        continue;
                    }
                    let Some(setting) = SETTINGS.iter().find(|s| s.param.name == name.name) else {
                        let suggestion = closest(&name.name, SETTING_NAMES.iter().copied());
                        self.emit(
                            name.span,
                            CheckError::UnknownSetting {
                                name: name.name.clone(),
                                suggestion,
                            },
                        );
                        continue;
                    };
                    let sname = setting.param.name;
                    if !setting.repeats {
                        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == sname) {
                            let first = *first;
                            self.emit(
                                name.span,
                                CheckError::DuplicateDefinition { name: sname.into() },
                            )
                            .with_secondary_mut(first, "first set here");
                            continue;
                        }
                        seen.push((sname, name.span));
                    }
                    if sname == "steps" || sname == "epochs" {
                        if let Some((_, first)) = length {
                            self.emit(name.span, CheckError::TrainingLength { both: true })
                                .with_secondary_mut(first, "first length here");
                        }
                        length = Some((sname, name.span));
                    }
                    self.setting(&setting.param, value, &mut out);
                }
                TrainItem::Evaluate {
                    every,
                    unit,
                    splits,
                    span,
                } => {
                    if let Some(first) = evaluate_seen {
                        self.emit(
                            *span,
                            CheckError::DuplicateDefinition {
                                name: "evaluate".into(),
                            },
                        )
                        .with_secondary_mut(first, "first set here");
                        continue;
                    }
                    evaluate_seen = Some(*span);
                    out.evaluate = self.evaluate(every, unit, splits);
                }
                TrainItem::Log { every, unit, span } => {
                    if let Some((_, first)) = seen.iter().find(|(n, _)| *n == "log") {
                        let first = *first;
                        self.emit(
                            *span,
                            CheckError::DuplicateDefinition { name: "log".into() },
                        )
                        .with_secondary_mut(first, "first set here");
                        continue;
                    }
                    seen.push(("log", *span));
                    let n = self.setting_value(&EVERY.param, every);
                    if let (Some(n), Some(unit)) =
                        (n.as_ref().and_then(|n| n.parse().ok()), self.unit(unit))
                    {
                        self.model.train.log_every = Some((n, unit));
                        let unit = if unit == Unit::Steps { "step" } else { "epoch" };
                        out.controls
                            .push(format!("log every {}", plural(&n.to_string(), unit)));
                    }
                }
            }
        }
        self.controls_agree(&seen, evaluate_seen.is_some());
        let close = Span {
            start: t.span.end.saturating_sub(1),
            ..t.span
        };
        for required in ["optimizer", "batch"] {
            if !seen.iter().any(|(n, _)| *n == required) {
                self.emit(t.keyword, CheckError::MissingSetting { setting: required })
                    .with_secondary_mut(close, "add it before this `}`");
            }
        }
        if length.is_none() {
            self.emit(t.keyword, CheckError::TrainingLength { both: false });
        }
        if out.evaluate.is_empty() {
            out.evaluate = "at the end, on valid and test".into();
        }
        out
    }

    fn setting(&mut self, p: &'static Param, value: &Expr, out: &mut TrainSummary) {
        let (name, ty) = (p.name, p.ty);
        match ty {
            ArgTy::Call(Kind::Metric) => {
                if let Some(m) = self.metric(value) {
                    out.metrics.push(m);
                }
            }
            ArgTy::Call(kind) => {
                // A bare name is a call with every argument defaulted: `optimizer adam`.
                let bare;
                let c = match &value.kind {
                    ExprKind::Call(c) => Some(c),
                    ExprKind::Name(id) => {
                        bare = Call {
                            callee: id.clone(),
                            args: Vec::new(),
                            span: value.span,
                            close: Span {
                                start: value.span.end,
                                ..value.span
                            },
                        };
                        Some(&bare)
                    }
                    _ => None,
                };
                let Some(c) = c else {
                    self.emit(
                        value.span,
                        CheckError::ArgumentType {
                            callee: "train".into(),
                            param: name.into(),
                            expected: ty.describe(),
                            found: self.sources.slice(value.span).to_string(),
                            help: Some(
                                if kind == Kind::Schedule {
                                    "e.g. `schedule cosine(warmup = 100)`"
                                } else {
                                    "e.g. `optimizer adam(lr = 1e-3)`"
                                }
                                .into(),
                            ),
                        },
                    );
                    return;
                };
                if let Some(args) = self.builtin_call(c, kind, Ctx::Constant) {
                    let text = super::format_call(&c.callee.name, &args);
                    if kind == Kind::Schedule {
                        out.controls.push(format!("schedule {text}"));
                        self.model.train.schedule = Some((c.callee.name.clone(), args));
                    } else {
                        out.optimizer = text;
                        self.model.train.optimizer = c.callee.name.clone();
                        self.model.train.optimizer_args = args;
                    }
                }
            }
            _ => {
                if let Some(v) = self.setting_value(p, value) {
                    match name {
                        "batch" => {
                            self.model.train.batch = v.parse().ok();
                            out.batch = v
                        }
                        "steps" => {
                            self.model.train.steps = v.parse().ok();
                            out.length = plural(&v, "step")
                        }
                        "epochs" => {
                            self.model.train.epochs = v.parse().ok();
                            out.length = plural(&v, "epoch")
                        }
                        "clip_norm" => {
                            self.model.train.clip_norm = v.parse().ok();
                            out.controls.push(format!("clip_norm {v}"))
                        }
                        "patience" => {
                            self.model.train.patience = v.parse().ok();
                            out.controls.push(format!("patience {v}"))
                        }
                        _ => {
                            self.model.train.seed = v.parse().ok();
                            out.seed = Some(v)
                        }
                    }
                }
            }
        }
    }

    /// A scalar setting checked through the same path as call arguments.
    fn setting_value(&mut self, p: &'static Param, value: &Expr) -> Option<String> {
        let call = Call {
            callee: Ident {
                name: p.name.into(),
                span: value.span,
            },
            args: vec![Arg {
                name: None,
                value: value.clone(),
                span: value.span,
            }],
            span: value.span,
            close: value.span,
        };
        let b = builtins::Builtin {
            name: "train",
            kind: Kind::Layer,
            params: std::slice::from_ref(p),
            variadic: false,
            doc: "",
        };
        let args = self.bind(&b, &call, &Ctx::Constant)?;
        args.get(p.name).map(super::format_val)
    }

    fn metric(&mut self, value: &Expr) -> Option<String> {
        let ExprKind::Call(c) = &value.kind else {
            self.emit(
                value.span,
                CheckError::ArgumentType {
                    callee: "train".into(),
                    param: "metric".into(),
                    expected: ArgTy::Call(Kind::Metric).describe(),
                    found: self.sources.slice(value.span).to_string(),
                    help: Some("e.g. `metric accuracy(y_hat, y)`".into()),
                },
            );
            return None;
        };
        let mut names_only = true;
        for a in &c.args {
            if !matches!(a.value.kind, ExprKind::Name(_)) {
                self.emit(a.value.span, CheckError::MetricArgument);
                names_only = false;
            }
        }
        if !names_only {
            return None;
        }
        let args = self.builtin_call(c, Kind::Metric, Ctx::Metric)?;
        if let Err(e) = shapes::metric(&c.callee.name, &args) {
            let b = builtins::lookup(&c.callee.name).expect("bound metrics exist");
            self.shape_error(c, b, e);
            return None;
        }
        let text = self.sources.slice(value.span).to_string();
        self.model.train.metrics.push(Metric {
            name: c.callee.name.clone(),
            args: c
                .args
                .iter()
                .filter_map(|a| match &a.value.kind {
                    ExprKind::Name(id) => Some(id.name.clone()),
                    _ => None,
                })
                .collect(),
            text: text.clone(),
        });
        Some(text)
    }

    fn evaluate(&mut self, every: &Expr, unit: &Ident, splits: &[Ident]) -> String {
        let n = self.setting_value(&EVERY.param, every);
        let unit_name = match self.unit(unit) {
            Some(Unit::Epochs) => "epochs",
            _ => "steps",
        };
        let mut names: Vec<&str> = Vec::new();
        for s in splits {
            if !SPLITS.contains(&s.name.as_str()) {
                let suggestion = closest(&s.name, SPLITS.iter().copied());
                self.emit(
                    s.span,
                    CheckError::UnknownSplit {
                        name: s.name.clone(),
                        suggestion,
                    },
                );
            } else if names.contains(&s.name.as_str()) {
                self.emit(
                    s.span,
                    CheckError::DuplicateDefinition {
                        name: s.name.clone(),
                    },
                );
            } else {
                names.push(&s.name);
            }
        }
        if let (Some(n), true) = (
            n.as_ref().and_then(|n| n.parse().ok()),
            names.len() == splits.len(),
        ) {
            let unit = if unit_name == "steps" {
                Unit::Steps
            } else {
                Unit::Epochs
            };
            self.model.train.evaluate_every = Some((n, unit));
        }
        if names.is_empty() {
            names = vec!["valid", "test"];
        }
        self.model.train.evaluate_on = names.iter().map(|s| s.to_string()).collect();
        format!(
            "every {} {unit_name} on {}",
            n.unwrap_or_default(),
            names.join(", ")
        )
    }
}

impl Checker {
    /// `steps` or `epochs` (either number), else a diagnostic.
    fn unit(&mut self, unit: &Ident) -> Option<Unit> {
        match unit.name.as_str() {
            "step" | "steps" => Some(Unit::Steps),
            "epoch" | "epochs" => Some(Unit::Epochs),
            _ => {
                self.emit(
                    unit.span,
                    CheckError::UnknownUnit {
                        name: unit.name.clone(),
                    },
                );
                None
            }
        }
    }

    /// Early stopping needs evaluations on `valid` during training; a
    /// warm-up must end before the run does (checked where the run's
    /// length is known in steps).
    fn controls_agree(&mut self, seen: &[(&str, Span)], evaluates: bool) {
        let at = |name: &str| seen.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
        let plan = self.model.train.clone();
        if let (Some(_), Some(span)) = (plan.patience, at("patience")) {
            let on_valid =
                plan.evaluate_on.is_empty() || plan.evaluate_on.iter().any(|s| s == "valid");
            if plan.evaluate_every.is_none() || !on_valid {
                let evaluates = evaluates && plan.evaluate_every.is_some();
                self.emit(span, CheckError::PatienceWithoutEvaluation { evaluates });
            }
        }
        let warmup = plan
            .schedule
            .as_ref()
            .and_then(|(_, args)| args.size("warmup").ok())
            .unwrap_or(0);
        if let (Some(steps), true, Some(span)) = (plan.steps, warmup > 0, at("schedule")) {
            if warmup >= steps {
                self.emit(span, CheckError::WarmupTooLong { warmup, steps });
            }
        }
    }
}

fn plural(n: &str, unit: &str) -> String {
    if n == "1" {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
