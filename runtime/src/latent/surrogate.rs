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
use std::sync::Arc;

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

/// Score-shaped values are shared, not copied, when a name is read; an
/// operation writes in place into an operand nothing else holds.
#[derive(Clone, Debug)]
enum SVal<T> {
    Scores(Arc<ArrayD<T>>),
    PerExample(ArrayD<T>),
    Scalar(f64),
}

pub struct Outcome<T> {
    /// The surrogate gradient with respect to the scores.
    pub grad: ArrayD<T>,
    /// Decoder forward+backward passes the surrogate made (free `grad(z)` excluded).
    pub decoder_calls: usize,
    /// Recorded only when asked for (they copy every µ and gradient).
    pub iterates: Vec<Iterate<T>>,
}

struct Interp<'a, T: Real> {
    structure: Structure,
    lengths: Option<&'a [usize]>,
    s: Arc<ArrayD<T>>,
    z: Arc<ArrayD<T>>,
    gz: Arc<ArrayD<T>>,
    oracle: &'a mut dyn Oracle<T>,
    state: &'a mut State,
    vars: HashMap<String, SVal<T>>,
    decoder_calls: usize,
    iterates: Vec<Iterate<T>>,
    trace: bool,
    site: String,
}

/// Runs `call`'s body with `s`, `z` and the free gradient `gz = grad(z)`;
/// `map`, `marg`, `project`, `sample` and their VJPs are those of
/// `structure` over items of the given lengths. The inner iterates are
/// kept when `trace` is set.
#[allow(clippy::too_many_arguments)]
pub fn run<T: Real>(
    call: &SurrogateCall,
    structure: Structure,
    lengths: Option<&[usize]>,
    s: Arc<ArrayD<T>>,
    z: Arc<ArrayD<T>>,
    gz: Arc<ArrayD<T>>,
    oracle: &mut dyn Oracle<T>,
    state: &mut State,
    trace: bool,
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
        trace,
        site: call.name.clone(),
    };
    for (name, v) in &call.args {
        it.vars.insert(name.clone(), SVal::Scalar(*v));
    }
    let out = it.block(&call.def.body)?;
    match out {
        Some(SVal::Scores(g)) => Ok(Outcome {
            grad: Arc::try_unwrap(g).unwrap_or_else(|g| (*g).clone()),
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
    /// One value for every example of the batch.
    fn per_example(&self, v: f64) -> SVal<T> {
        SVal::PerExample(ArrayD::from_elem(IxDyn(&[self.s.shape()[0]]), T::of(v)))
    }

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

    fn scores(&mut self, e: &Expr) -> Result<Arc<ArrayD<T>>, String> {
        match self.expr(e)? {
            SVal::Scores(a) => Ok(a),
            _ => Err("expected a value shaped like the scores".into()),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<SVal<T>, String> {
        Ok(match &e.kind {
            ExprKind::Number { value, .. } => SVal::Scalar(*value),
            ExprKind::Name(id) => match id.name.as_str() {
                "s" => SVal::Scores(Arc::clone(&self.s)),
                "z" => SVal::Scores(Arc::clone(&self.z)),
                n => self
                    .vars
                    .get(n)
                    .cloned()
                    .ok_or_else(|| format!("`{n}` is not defined"))?,
            },
            ExprKind::Neg(inner) => match self.expr(inner)? {
                SVal::Scalar(v) => SVal::Scalar(-v),
                SVal::Scores(mut a) => {
                    Arc::make_mut(&mut a).mapv_inplace(|v| -v);
                    SVal::Scores(a)
                }
                SVal::PerExample(a) => SVal::PerExample(a.mapv(|v| -v)),
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
                binary(*op, a, b)
            }
            ExprKind::Call(c) => {
                let arg = |i: usize| &c.args[i].value;
                let callee = c.callee.name.as_str();
                match callee {
                    "map" => {
                        let x = self.scores(arg(0))?;
                        SVal::Scores(Arc::new(
                            self.structure
                                .map(&x, self.lengths)
                                .map_err(|e| e.to_string())?,
                        ))
                    }
                    "marg" => {
                        let x = self.scores(arg(0))?;
                        let mu = self
                            .structure
                            .marginals_only(&x, self.lengths)
                            .map_err(|e| e.to_string())?;
                        SVal::Scores(Arc::new(mu))
                    }
                    "project" => {
                        let x = self.scores(arg(0))?;
                        let max_iter = match c.args.get(1) {
                            None => crate::latent::sparsemap::EXACT_ITERATIONS,
                            Some(a) => match self.expr(&a.value)? {
                                SVal::Scalar(m) if m >= 1.0 && m.fract() == 0.0 => m as usize,
                                SVal::Scalar(m) => {
                                    return Err(format!(
                                        "`project`'s max_iter must be a whole number of at least 1, not {m}"
                                    ))
                                }
                                _ => return Err("`project`'s max_iter must be a number".into()),
                            },
                        };
                        SVal::Scores(Arc::new(
                            self.structure
                                .sparsemap_within(&x, self.lengths, max_iter)
                                .map_err(|e| e.to_string())?,
                        ))
                    }
                    "sample" => {
                        let x = self.scores(arg(0))?;
                        let (structure, lengths) = (self.structure, self.lengths);
                        SVal::Scores(Arc::new(
                            structure
                                .sample(&x, lengths, self.oracle.rng())
                                .map_err(|e| e.to_string())?,
                        ))
                    }
                    "zeros" => SVal::Scores(Arc::new(ArrayD::zeros(self.s.raw_dim()))),
                    "gumbel" => {
                        let mut env = crate::ops::Env {
                            train: true,
                            rng: self.oracle.rng(),
                        };
                        SVal::Scores(Arc::new(crate::ops::noise::gumbel(
                            self.s.shape(),
                            &mut env,
                        )))
                    }
                    "grad" => {
                        let mu = self.scores(arg(0))?;
                        let g = if Arc::ptr_eq(&mu, &self.z) || *mu == *self.z {
                            Arc::clone(&self.gz)
                        } else {
                            self.decoder_calls += 1;
                            Arc::new(self.oracle.grad(&mu)?)
                        };
                        if self.trace {
                            self.iterates.push(Iterate {
                                mu: (*mu).clone(),
                                grad: (*g).clone(),
                            });
                        }
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
                        SVal::Scores(Arc::new(r.map_err(|e| e.to_string())?))
                    }
                    "running_mean" | "ema" => {
                        let v = self.expr(arg(0))?;
                        let decay = match self.expr(arg(1))? {
                            SVal::Scalar(d) => d,
                            _ => return Err(format!("`{callee}` takes a numeric decay")),
                        };
                        let mean = batch_mean(&v)
                            .ok_or_else(|| format!("`{callee}` averages per-example values"))?;
                        let key = format!("{}@{}", self.site, c.callee.span.start);
                        let current = self.state.get(&key).copied();
                        // running_mean starts from the first batch's mean; ema
                        // starts from 0 and keeps the start's bias, as the
                        // paper's published REINFORCE baseline does.
                        let next = match (current, callee) {
                            (Some(avg), _) => decay * avg + (1.0 - decay) * mean,
                            (None, "ema") => (1.0 - decay) * mean,
                            (None, _) => mean,
                        };
                        self.state.insert(key, next);
                        self.per_example(current.unwrap_or(0.0))
                    }
                    "batch_mean" => {
                        let v = self.expr(arg(0))?;
                        let mean =
                            batch_mean(&v).ok_or("`batch_mean` averages per-example values")?;
                        self.per_example(mean)
                    }
                    "batch_size" => SVal::Scalar(self.s.shape()[0] as f64),
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

/// The mean over the batch of a per-example value (a scalar is its own).
fn batch_mean<T: Real>(v: &SVal<T>) -> Option<f64> {
    match v {
        SVal::PerExample(a) => Some(a.iter().map(|x| x.f64()).sum::<f64>() / a.len().max(1) as f64),
        SVal::Scalar(x) => Some(*x),
        SVal::Scores(_) => None,
    }
}

fn map<T: Real>(v: SVal<T>, f: fn(f64) -> f64) -> SVal<T> {
    match v {
        SVal::Scalar(x) => SVal::Scalar(f(x)),
        SVal::Scores(mut a) => {
            Arc::make_mut(&mut a).mapv_inplace(|x| T::of(f(x.f64())));
            SVal::Scores(a)
        }
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
fn per_row<T: Real>(
    mut scores: Arc<ArrayD<T>>,
    v: &ArrayD<T>,
    f: impl Fn(T, T) -> T,
) -> Arc<ArrayD<T>> {
    for (mut row, &x) in Arc::make_mut(&mut scores)
        .axis_iter_mut(Axis(0))
        .zip(v.iter())
    {
        row.mapv_inplace(|s| f(s, x));
    }
    scores
}

/// `f` elementwise on a shared value, in place when nothing else holds it.
fn scores_map<T: Real>(mut x: Arc<ArrayD<T>>, f: impl Fn(T) -> T) -> Arc<ArrayD<T>> {
    Arc::make_mut(&mut x).mapv_inplace(f);
    x
}

/// `op` elementwise on two score-shaped values, into whichever operand
/// nothing else holds.
fn scores_zip<T: Real>(op: BinOp, mut x: Arc<ArrayD<T>>, mut y: Arc<ArrayD<T>>) -> Arc<ArrayD<T>> {
    if let Some(xm) = Arc::get_mut(&mut x) {
        ndarray::Zip::from(xm)
            .and(&*y)
            .for_each(|p, &q| *p = apply(op, *p, q));
        x
    } else if let Some(ym) = Arc::get_mut(&mut y) {
        ndarray::Zip::from(ym)
            .and(&*x)
            .for_each(|q, &p| *q = apply(op, p, *q));
        y
    } else {
        Arc::new(
            ndarray::Zip::from(&*x)
                .and(&*y)
                .map_collect(|&p, &q| apply(op, p, q)),
        )
    }
}

fn binary<T: Real>(op: BinOp, a: SVal<T>, b: SVal<T>) -> SVal<T> {
    use SVal::*;
    match (a, b) {
        (Scalar(x), Scalar(y)) => Scalar(apply(op, x, y)),
        (Scores(x), Scores(y)) => Scores(scores_zip(op, x, y)),
        (PerExample(x), PerExample(y)) => PerExample(
            ndarray::Zip::from(&x)
                .and(&y)
                .map_collect(|&p, &q| apply(op, p, q)),
        ),
        (Scores(x), Scalar(c)) => Scores(scores_map(x, |p| apply(op, p, T::of(c)))),
        (Scalar(c), Scores(x)) => Scores(scores_map(x, |p| apply(op, T::of(c), p))),
        (PerExample(x), Scalar(c)) => PerExample(x.mapv(|p| apply(op, p, T::of(c)))),
        (Scalar(c), PerExample(x)) => PerExample(x.mapv(|p| apply(op, T::of(c), p))),
        (Scores(x), PerExample(v)) => Scores(per_row(x, &v, |s, e| apply(op, s, e))),
        (PerExample(v), Scores(x)) => Scores(per_row(x, &v, |s, e| apply(op, e, s))),
    }
}
