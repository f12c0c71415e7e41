//! Runs a `surrogate` block as the backward pass of a latent node.
//!
//! Values are score-shaped (`[B, …]` like `s`), per-example (`[B]`) or
//! scalars; arithmetic broadcasts scalars and per-example values over
//! score-shaped ones, as the checker's typing says. `grad(µ)` and `loss(µ)`
//! re-enter the decoder through an [`Oracle`]; `grad(z)` is free: it is the
//! gradient the ordinary backward pass brought to the latent node.

use super::structure::Structure;
use crate::real::Real;
use lsmc_compiler::model::SurrogateCall;
use lsmc_compiler::syntax::ast::{BinOp, Expr, ExprKind, SurrogateStmt};
use ndarray::{ArrayD, Axis, IxDyn};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};

/// What a surrogate needs from the rest of the graph.
pub trait Oracle<T: Real> {
    /// ∇_µ L(ŷ(µ), y): one decoder forward and backward at µ.
    fn grad(&mut self, mu: &ArrayD<T>) -> Result<ArrayD<T>, String>;
    /// Per-example downstream loss at µ, `[B]`.
    fn loss(&mut self, mu: &ArrayD<T>) -> Result<ArrayD<T>, String>;
    fn rng(&mut self) -> &mut ChaCha8Rng;
}

/// One inner iterate, for `lsmc inspect`: µ and ∇_µ L at µ.
#[derive(Clone, Debug)]
pub struct Iterate<T> {
    pub mu: ArrayD<T>,
    pub grad: ArrayD<T>,
}

/// State carried across steps (moving-average baselines), keyed by the
/// call site; saved in checkpoints so a resumed run is bit-identical.
pub type State = BTreeMap<String, f64>;

#[derive(Clone, Debug)]
enum SVal<T> {
    Scores(ArrayD<T>),
    PerExample(ArrayD<T>),
    Scalar(f64),
}

pub struct Outcome<T> {
    /// The surrogate gradient with respect to the scores.
    pub grad: ArrayD<T>,
    /// Decoder forward+backward passes the surrogate made (free `grad(z)` excluded).
    pub decoder_calls: usize,
    pub iterates: Vec<Iterate<T>>,
}

struct Interp<'a, T: Real> {
    structure: Structure,
    lengths: Option<&'a [usize]>,
    s: &'a ArrayD<T>,
    z: &'a ArrayD<T>,
    gz: &'a ArrayD<T>,
    oracle: &'a mut dyn Oracle<T>,
    state: &'a mut State,
    vars: HashMap<String, SVal<T>>,
    decoder_calls: usize,
    iterates: Vec<Iterate<T>>,
    site: String,
}

/// Runs `call`'s body with `s`, `z` and the free gradient `gz = grad(z)`;
/// `map`, `marg`, `project`, `sample` and their VJPs are those of
/// `structure` over items of the given lengths.
#[allow(clippy::too_many_arguments)]
pub fn run<T: Real>(
    call: &SurrogateCall,
    structure: Structure,
    lengths: Option<&[usize]>,
    s: &ArrayD<T>,
    z: &ArrayD<T>,
    gz: &ArrayD<T>,
    oracle: &mut dyn Oracle<T>,
    state: &mut State,
) -> Result<Outcome<T>, String> {
    let mut it = Interp {
        structure,
        lengths,
        s,
        z,
        gz,
        oracle,
        state,
        vars: HashMap::new(),
        decoder_calls: 0,
        iterates: Vec::new(),
        site: call.name.clone(),
    };
    for (name, v) in &call.args {
        it.vars.insert(name.clone(), SVal::Scalar(*v));
    }
    let out = it.block(&call.def.body)?;
    match out {
        Some(SVal::Scores(g)) => Ok(Outcome {
            grad: g,
            decoder_calls: it.decoder_calls,
            iterates: it.iterates,
        }),
        _ => Err(format!(
            "surrogate `{}` did not return a score-shaped value",
            call.name
        )),
    }
}

impl<T: Real> Interp<'_, T> {
    fn block(&mut self, body: &[SurrogateStmt]) -> Result<Option<SVal<T>>, String> {
        for stmt in body {
            match stmt {
                SurrogateStmt::Assign(a) => {
                    let v = self.expr(&a.value)?;
                    self.vars.insert(a.name.name.clone(), v);
                }
                SurrogateStmt::Repeat { count, body, .. } => {
                    let n = match self.expr(count)? {
                        SVal::Scalar(n) if n >= 0.0 => n as usize,
                        _ => return Err("a `repeat` count must be a number of steps".into()),
                    };
                    for _ in 0..n {
                        if let Some(r) = self.block(body)? {
                            return Ok(Some(r));
                        }
                    }
                }
                SurrogateStmt::Return { value, .. } => return Ok(Some(self.expr(value)?)),
            }
        }
        Ok(None)
    }

    fn scores(&mut self, e: &Expr) -> Result<ArrayD<T>, String> {
        match self.expr(e)? {
            SVal::Scores(a) => Ok(a),
            _ => Err("expected a value shaped like the scores".into()),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<SVal<T>, String> {
        Ok(match &e.kind {
            ExprKind::Number { value, .. } => SVal::Scalar(*value),
            ExprKind::Name(id) => match id.name.as_str() {
                "s" => SVal::Scores(self.s.clone()),
                "z" => SVal::Scores(self.z.clone()),
                n => self
                    .vars
                    .get(n)
                    .cloned()
                    .ok_or_else(|| format!("`{n}` is not defined"))?,
            },
            ExprKind::Neg(inner) => match self.expr(inner)? {
                SVal::Scalar(v) => SVal::Scalar(-v),
                SVal::Scores(a) => SVal::Scores(a.mapv(|v| -v)),
                SVal::PerExample(a) => SVal::PerExample(a.mapv(|v| -v)),
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
                binary(*op, a, b)
            }
            ExprKind::Call(c) => {
                let arg = |i: usize| &c.args[i].value;
                match c.callee.name.as_str() {
                    "map" => {
                        let x = self.scores(arg(0))?;
                        SVal::Scores(
                            self.structure
                                .map(&x, self.lengths)
                                .map_err(|e| e.to_string())?,
                        )
                    }
                    "marg" => {
                        let x = self.scores(arg(0))?;
                        let (_, mu) = self
                            .structure
                            .marginals(&x, self.lengths)
                            .map_err(|e| e.to_string())?;
                        SVal::Scores(mu)
                    }
                    "project" => {
                        let x = self.scores(arg(0))?;
                        SVal::Scores(
                            self.structure
                                .sparsemap(&x, self.lengths)
                                .map_err(|e| e.to_string())?,
                        )
                    }
                    "sample" => {
                        let x = self.scores(arg(0))?;
                        let (structure, lengths) = (self.structure, self.lengths);
                        SVal::Scores(
                            structure
                                .sample(&x, lengths, self.oracle.rng())
                                .map_err(|e| e.to_string())?,
                        )
                    }
                    "zeros" => SVal::Scores(ArrayD::zeros(self.s.raw_dim())),
                    "gumbel" => {
                        let mut env = crate::ops::Env {
                            train: true,
                            rng: self.oracle.rng(),
                        };
                        SVal::Scores(crate::ops::noise::gumbel(self.s.shape(), &mut env))
                    }
                    "grad" => {
                        let mu = self.scores(arg(0))?;
                        let g = if mu == *self.z {
                            self.gz.clone()
                        } else {
                            self.decoder_calls += 1;
                            self.oracle.grad(&mu)?
                        };
                        self.iterates.push(Iterate {
                            mu,
                            grad: g.clone(),
                        });
                        SVal::Scores(g)
                    }
                    "loss" => {
                        let mu = self.scores(arg(0))?;
                        self.decoder_calls += 1;
                        SVal::PerExample(self.oracle.loss(&mu)?)
                    }
                    "vjp" => {
                        let at = self.scores(arg(1))?;
                        let g = self.scores(arg(2))?;
                        let f = match &arg(0).kind {
                            ExprKind::Name(id) => id.name.as_str(),
                            _ => "",
                        };
                        let r = if f == "project" {
                            self.structure.sparsemap_vjp(&at, self.lengths, &g)
                        } else {
                            self.structure.marginals_vjp(&at, self.lengths, &g)
                        };
                        SVal::Scores(r.map_err(|e| e.to_string())?)
                    }
                    "running_mean" => {
                        let v = self.expr(arg(0))?;
                        let decay = match self.expr(arg(1))? {
                            SVal::Scalar(d) => d,
                            _ => return Err("`running_mean` takes a numeric decay".into()),
                        };
                        let b = self.s.shape()[0];
                        let mean = match &v {
                            SVal::PerExample(a) => {
                                a.iter().map(|x| x.f64()).sum::<f64>() / a.len().max(1) as f64
                            }
                            SVal::Scalar(x) => *x,
                            SVal::Scores(_) => {
                                return Err("`running_mean` averages per-example values".into())
                            }
                        };
                        let key = format!("{}@{}", self.site, c.callee.span.start);
                        let current = self.state.get(&key).copied();
                        let next = match current {
                            Some(avg) => decay * avg + (1.0 - decay) * mean,
                            None => mean,
                        };
                        self.state.insert(key, next);
                        SVal::PerExample(ArrayD::from_elem(
                            IxDyn(&[b]),
                            T::of(current.unwrap_or(0.0)),
                        ))
                    }
                    "exp" => map(self.expr(arg(0))?, f64::exp),
                    "log" => map(self.expr(arg(0))?, f64::ln),
                    other => return Err(format!("`{other}` is not a surrogate operation")),
                }
            }
            ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::List(_) => {
                return Err("surrogates compute with numbers and score-shaped values".into())
            }
        })
    }
}

fn map<T: Real>(v: SVal<T>, f: fn(f64) -> f64) -> SVal<T> {
    match v {
        SVal::Scalar(x) => SVal::Scalar(f(x)),
        SVal::Scores(a) => SVal::Scores(a.mapv(|x| T::of(f(x.f64())))),
        SVal::PerExample(a) => SVal::PerExample(a.mapv(|x| T::of(f(x.f64())))),
    }
}

fn apply<T: Real>(op: BinOp, a: T, b: T) -> T {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
    }
}

/// Broadcasts a per-example `[B]` value over the rows of a `[B, …]` one.
fn per_row<T: Real>(scores: &ArrayD<T>, v: &ArrayD<T>, f: impl Fn(T, T) -> T) -> ArrayD<T> {
    let mut out = scores.clone();
    for (mut row, &x) in out.axis_iter_mut(Axis(0)).zip(v.iter()) {
        row.mapv_inplace(|s| f(s, x));
    }
    out
}

fn binary<T: Real>(op: BinOp, a: SVal<T>, b: SVal<T>) -> SVal<T> {
    use SVal::*;
    match (a, b) {
        (Scalar(x), Scalar(y)) => Scalar(apply(op, x, y)),
        (Scores(x), Scores(y)) => Scores(
            ndarray::Zip::from(&x)
                .and(&y)
                .map_collect(|&p, &q| apply(op, p, q)),
        ),
        (PerExample(x), PerExample(y)) => PerExample(
            ndarray::Zip::from(&x)
                .and(&y)
                .map_collect(|&p, &q| apply(op, p, q)),
        ),
        (Scores(x), Scalar(c)) => Scores(x.mapv(|p| apply(op, p, T::of(c)))),
        (Scalar(c), Scores(x)) => Scores(x.mapv(|p| apply(op, T::of(c), p))),
        (PerExample(x), Scalar(c)) => PerExample(x.mapv(|p| apply(op, p, T::of(c)))),
        (Scalar(c), PerExample(x)) => PerExample(x.mapv(|p| apply(op, T::of(c), p))),
        (Scores(x), PerExample(v)) => Scores(per_row(&x, &v, |s, e| apply(op, s, e))),
        (PerExample(v), Scores(x)) => Scores(per_row(&x, &v, |s, e| apply(op, e, s))),
    }
}
