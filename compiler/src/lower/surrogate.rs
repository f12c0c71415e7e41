//! A bound `surrogate` block → the typed program the runtime interprets:
//! names become slots, calls become intrinsics with their operands.

// A diagnostic is the error of a whole lowering, made at most once per
// problem: its size does not matter.
#![allow(clippy::result_large_err)]

use super::internal;
use crate::diag::Diagnostic;
use crate::model::SurrogateCall;
use crate::syntax::ast::{Expr as AExpr, ExprKind, SurrogateStmt};
use lsmc_ir::surrogate::{Expr, Intrinsic, Mapping, Start, Stmt, Surrogate};

struct Lowering<'a> {
    call: &'a SurrogateCall,
    slots: Vec<String>,
    /// Prefixes the state keys of moving averages (`LATENT/site`).
    latent: Option<&'a str>,
}

/// Lowers the surrogate a latent uses; `latent` (the latent's name, given
/// when the model has several) keys its running state apart from the
/// other latents' state.
pub(super) fn lower(call: &SurrogateCall, latent: Option<&str>) -> Result<Surrogate, Diagnostic> {
    let mut l = Lowering {
        call,
        slots: call.args.iter().map(|(n, _)| n.clone()).collect(),
        latent,
    };
    let body = l.block(&call.def.body)?;
    Ok(Surrogate {
        name: call.name.clone(),
        args: call.args.clone(),
        slots: l.slots,
        body,
        span: call.span,
    })
}

impl Lowering<'_> {
    fn slot(&mut self, name: &str) -> usize {
        match self.slots.iter().position(|s| s == name) {
            Some(i) => i,
            None => {
                self.slots.push(name.to_string());
                self.slots.len() - 1
            }
        }
    }

    fn block(&mut self, body: &[SurrogateStmt]) -> Result<Vec<Stmt>, Diagnostic> {
        body.iter()
            .map(|st| {
                Ok(match st {
                    SurrogateStmt::Assign(a) => {
                        let value = self.expr(&a.value)?;
                        Stmt::Assign {
                            slot: self.slot(&a.name.name),
                            value,
                        }
                    }
                    SurrogateStmt::Repeat { count, body, span } => Stmt::Repeat {
                        count: self.expr(count)?,
                        body: self.block(body)?,
                        span: *span,
                    },
                    SurrogateStmt::Return { value, .. } => Stmt::Return(self.expr(value)?),
                })
            })
            .collect()
    }

    fn boxed(&mut self, e: &AExpr) -> Result<Box<Expr>, Diagnostic> {
        self.expr(e).map(Box::new)
    }

    fn expr(&mut self, e: &AExpr) -> Result<Expr, Diagnostic> {
        Ok(match &e.kind {
            ExprKind::Number { value, .. } => Expr::Number(*value),
            ExprKind::Name(id) => match id.name.as_str() {
                "s" => Expr::Scores,
                "z" => Expr::Forward,
                n => match self.slots.iter().position(|s| s == n) {
                    Some(i) => Expr::Var(i),
                    None => {
                        return Err(internal(
                            format!("`{n}` is not defined in surrogate `{}`", self.call.name),
                            id.span,
                        ))
                    }
                },
            },
            ExprKind::Neg(inner) => Expr::Neg(self.boxed(inner)?),
            ExprKind::Binary { op, lhs, rhs } => Expr::Binary {
                op: *op,
                lhs: self.boxed(lhs)?,
                rhs: self.boxed(rhs)?,
            },
            ExprKind::Call(c) => {
                let name = c.callee.name.as_str();
                let want = |n: usize| -> Result<(), Diagnostic> {
                    if c.args.len() < n {
                        Err(internal(
                            format!("`{name}` takes {n} arguments, given {}", c.args.len()),
                            c.span,
                        ))
                    } else {
                        Ok(())
                    }
                };
                let op = match name {
                    "map" | "marg" | "sample" | "grad" | "loss" | "batch_mean" | "exp" | "log" => {
                        want(1)?;
                        let x = self.boxed(&c.args[0].value)?;
                        match name {
                            "map" => Intrinsic::Map(x),
                            "marg" => Intrinsic::Marg(x),
                            "sample" => Intrinsic::Sample(x),
                            "grad" => Intrinsic::Grad(x),
                            "loss" => Intrinsic::Loss(x),
                            "batch_mean" => Intrinsic::BatchMean(x),
                            "exp" => Intrinsic::Exp(x),
                            _ => Intrinsic::Log(x),
                        }
                    }
                    "project" => {
                        want(1)?;
                        Intrinsic::Project {
                            at: self.boxed(&c.args[0].value)?,
                            max_iter: match c.args.get(1) {
                                Some(a) => Some(self.boxed(&a.value)?),
                                None => None,
                            },
                        }
                    }
                    "vjp" => {
                        want(3)?;
                        let of = match &c.args[0].value.kind {
                            ExprKind::Name(id) if id.name == "marg" => Mapping::Marg,
                            ExprKind::Name(id) if id.name == "project" => Mapping::Project,
                            _ => {
                                return Err(internal(
                                    "`vjp` differentiates `marg` or `project`".into(),
                                    c.args[0].span,
                                ))
                            }
                        };
                        Intrinsic::Vjp {
                            of,
                            at: self.boxed(&c.args[1].value)?,
                            g: self.boxed(&c.args[2].value)?,
                        }
                    }
                    "running_mean" | "ema" => {
                        want(2)?;
                        Intrinsic::RunningMean {
                            value: self.boxed(&c.args[0].value)?,
                            decay: self.boxed(&c.args[1].value)?,
                            start: if name == "ema" {
                                Start::Zero
                            } else {
                                Start::FirstMean
                            },
                            // The key checkpoints already use: a call site
                            // by surrogate and offset, after the latent's
                            // name when there are several latents.
                            site: match self.latent {
                                Some(latent) => {
                                    format!("{latent}/{}@{}", self.call.name, c.callee.span.start)
                                }
                                None => format!("{}@{}", self.call.name, c.callee.span.start),
                            },
                        }
                    }
                    "zeros" => Intrinsic::Zeros,
                    "gumbel" => Intrinsic::Gumbel,
                    "batch_size" => Intrinsic::BatchSize,
                    other => {
                        return Err(internal(
                            format!("`{other}` is not a surrogate operation"),
                            c.callee.span,
                        ))
                    }
                };
                Expr::Call { op, span: c.span }
            }
            ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::List(_) => {
                return Err(internal(
                    "surrogates compute with numbers and score-shaped values".into(),
                    e.span,
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{check_text, Origin};
    use lsmc_ir::graph::{Mapping as LatentMapping, Op};
    use lsmc_ir::surrogate::{Expr, Intrinsic, Mapping, Stmt};
    use lsmc_runtime::latent::registry::catalog;

    fn surrogate_of(spec: &str) -> lsmc_ir::surrogate::Surrogate {
        let report = check_text("t.lsm", spec, Origin::CommandLine, &[], catalog());
        let model = report.model.expect("checks");
        let program = super::super::lower(&model).expect("lowers");
        let latent = program.graph.latents[0];
        match &program.graph.nodes[latent].op {
            Op::Latent(l) => match &l.mapping {
                LatentMapping::Argmax { via } => via.clone(),
                other => panic!("not argmax: {other:?}"),
            },
            _ => unreachable!(),
        }
    }

    const SPEC: &str = "model m
data synthetic_mixture(clusters = 3, features = 4, train = 8, valid = 4, test = 4)
encoder { s = linear(x, 3) }
latent z : categorical(3) = argmax(s) via mine(eta = 0.5)
decoder { y_hat = bilinear(z, x, 2) }
loss cross_entropy(y_hat, y)
train { optimizer adam(lr = 1e-3) batch full steps 1 }
surrogate mine(eta = 1.0, k = 2) {
  mu = marg(s)
  repeat k { mu = project(mu - eta * grad(mu), 10) }
  g = vjp(marg, s, mu)
  return z - mu + g * 0
}
";

    #[test]
    fn names_become_slots_and_calls_become_intrinsics() {
        let s = surrogate_of(SPEC);
        assert_eq!(s.args, vec![("eta".into(), 0.5), ("k".into(), 2.0)]);
        assert_eq!(s.slots, ["eta", "k", "mu", "g"]);
        let Stmt::Repeat { count, body, .. } = &s.body[1] else {
            panic!("{:?}", s.body[1])
        };
        assert_eq!(count, &Expr::Var(1));
        let Stmt::Assign { slot: 2, value } = &body[0] else {
            panic!("{body:?}")
        };
        assert!(matches!(
            value,
            Expr::Call {
                op: Intrinsic::Project {
                    max_iter: Some(_),
                    ..
                },
                ..
            }
        ));
        assert!(matches!(
            &s.body[2],
            Stmt::Assign {
                slot: 3,
                value: Expr::Call {
                    op: Intrinsic::Vjp {
                        of: Mapping::Marg,
                        ..
                    },
                    ..
                }
            }
        ));
        assert!(matches!(s.body[3], Stmt::Return(_)));
    }

    #[test]
    fn a_vjp_of_anything_but_marg_or_project_is_refused() {
        // The checker refuses it first, with its own diagnostic; lowering
        // never guesses which mapping was meant.
        let bad = SPEC.replace("vjp(marg, s, mu)", "vjp(map, s, mu)");
        let report = check_text("t.lsm", &bad, Origin::CommandLine, &[], catalog());
        assert!(
            report.model.is_none() || super::super::lower(report.model.as_ref().unwrap()).is_err()
        );
    }

    #[test]
    fn an_argmax_latent_without_a_surrogate_cannot_be_lowered() {
        // The checker refuses `argmax` without `via`; a model built any
        // other way still cannot become a program with a zero gradient.
        let report = check_text("t.lsm", SPEC, Origin::CommandLine, &[], catalog());
        let mut model = report.model.expect("checks");
        model.latents[0].surrogate = None;
        let diags = super::super::lower(&model).unwrap_err();
        assert!(
            diags
                .iter()
                .any(|d| d.message.contains("needs `via SURROGATE`")),
            "{diags:?}"
        );
    }
}
