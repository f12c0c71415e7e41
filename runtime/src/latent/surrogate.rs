//! Runs a latent's surrogate program (`lsmc_ir::surrogate`) as the
//! backward pass of a latent node.
//!
//! Values are score-shaped (`[B, …]` like `s`), per-example (`[B]`) or
//! scalars; arithmetic broadcasts scalars and per-example values over
//! score-shaped ones, as the checker's typing says. `grad(µ)` and `loss(µ)`
//! re-enter the decoder through an [`Oracle`]; `grad(z)` is free: it is the
//! gradient the ordinary backward pass brought to the latent node.

use super::structure::Structure;
use crate::context::Context;
use crate::real::Real;
use lsmc_ir::surrogate::{BinOp, Expr, Intrinsic, Mapping, Start, Stmt, Surrogate};
use ndarray::{ArrayD, Axis, IxDyn};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
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
    program: &'a Surrogate,
    structure: Structure,
    cx: &'a Context,
    lengths: Option<&'a [usize]>,
    s: Arc<ArrayD<T>>,
    z: Arc<ArrayD<T>>,
    gz: Arc<ArrayD<T>>,
    oracle: &'a mut dyn Oracle<T>,
    state: &'a mut State,
    slots: Vec<Option<SVal<T>>>,
    decoder_calls: usize,
    /// `repeat` iterations run so far in this call, all loops together.
    steps: u64,
    iterates: Vec<Iterate<T>>,
    trace: bool,
}

/// How many `repeat` iterations one surrogate call may run, every loop of
/// its body together (nested loops multiply). The checker holds each
/// count it can compute, and their products, to the same number; this
/// catches what it cannot see, such as a count made of `batch_size()`.
pub const REPEAT_BUDGET: u64 = 1_000_000;

/// Runs `program` with `s`, `z` and the free gradient `gz = grad(z)`;
/// `map`, `marg`, `project`, `sample` and their VJPs are those of
/// `structure` over items of the given lengths. The inner iterates are
/// kept when `trace` is set.
#[allow(clippy::too_many_arguments)]
pub fn run<T: Real>(
    program: &Surrogate,
    structure: Structure,
    cx: &Context,
    lengths: Option<&[usize]>,
    s: Arc<ArrayD<T>>,
    z: Arc<ArrayD<T>>,
    gz: Arc<ArrayD<T>>,
    oracle: &mut dyn Oracle<T>,
    state: &mut State,
    trace: bool,
) -> Result<Outcome<T>, String> {
    let mut slots = vec![None; program.slots.len()];
    for (slot, (_, v)) in slots.iter_mut().zip(&program.args) {
        *slot = Some(SVal::Scalar(*v));
    }
    let mut it = Interp {
        program,
        structure,
        cx,
        lengths,
        s,
        z,
        gz,
        oracle,
        state,
        slots,
        decoder_calls: 0,
        steps: 0,
        iterates: Vec::new(),
        trace,
    };
    let out = it.block(&program.body)?;
    match out {
        Some(SVal::Scores(g)) => Ok(Outcome {
            grad: Arc::try_unwrap(g).unwrap_or_else(|g| (*g).clone()),
            decoder_calls: it.decoder_calls,
            iterates: it.iterates,
        }),
        _ => Err(format!(
            "surrogate `{}` did not return a score-shaped value",
            program.name
        )),
    }
}

impl<T: Real> Interp<'_, T> {
    /// One value for every example of the batch.
    fn per_example(&self, v: f64) -> SVal<T> {
        SVal::PerExample(ArrayD::from_elem(IxDyn(&[self.s.shape()[0]]), T::of(v)))
    }

    fn block(&mut self, body: &[Stmt]) -> Result<Option<SVal<T>>, String> {
        for stmt in body {
            match stmt {
                Stmt::Assign { slot, value } => {
                    let v = self.expr(value)?;
                    self.slots[*slot] = Some(v);
                }
                Stmt::Repeat { count, body, .. } => {
                    let n = match self.expr(count)? {
                        SVal::Scalar(n) if n >= 0.0 && n.fract() == 0.0 => n as usize,
                        SVal::Scalar(n) => {
                            return Err(format!(
                                "a `repeat` count must be a whole number of steps, not {n}"
                            ))
                        }
                        _ => return Err("a `repeat` count must be a number of steps".into()),
                    };
                    for _ in 0..n {
                        self.steps += 1;
                        if self.steps > REPEAT_BUDGET {
                            return Err(format!(
                                "surrogate `{}` ran more than {REPEAT_BUDGET} `repeat` steps in one backward pass (nested repeats multiply; this count is {n}); lower its step counts",
                                self.program.name
                            ));
                        }
                        if let Some(r) = self.block(body)? {
                            return Ok(Some(r));
                        }
                    }
                }
                Stmt::Return(value) => return Ok(Some(self.expr(value)?)),
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

    fn scalar(&mut self, e: &Expr, what: &str) -> Result<f64, String> {
        match self.expr(e)? {
            SVal::Scalar(v) => Ok(v),
            _ => Err(format!("{what} must be a number")),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<SVal<T>, String> {
        Ok(match e {
            Expr::Number(v) => SVal::Scalar(*v),
            Expr::Scores => SVal::Scores(Arc::clone(&self.s)),
            Expr::Forward => SVal::Scores(Arc::clone(&self.z)),
            Expr::Var(slot) => self.slots[*slot].clone().ok_or_else(|| {
                format!(
                    "`{}` is read before it is assigned",
                    self.program.slots[*slot]
                )
            })?,
            Expr::Neg(inner) => match self.expr(inner)? {
                SVal::Scalar(v) => SVal::Scalar(-v),
                SVal::Scores(mut a) => {
                    Arc::make_mut(&mut a).mapv_inplace(|v| -v);
                    SVal::Scores(a)
                }
                SVal::PerExample(a) => SVal::PerExample(a.mapv(|v| -v)),
            },
            Expr::Binary { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
                binary(*op, a, b)
            }
            Expr::Call { op, .. } => self.intrinsic(op)?,
        })
    }

    fn intrinsic(&mut self, op: &Intrinsic) -> Result<SVal<T>, String> {
        let err = |e: super::structure::StructureError| e.to_string();
        Ok(match op {
            Intrinsic::Map(x) => {
                let x = self.scores(x)?;
                SVal::Scores(Arc::new(
                    self.structure.map(self.cx, &x, self.lengths).map_err(err)?,
                ))
            }
            Intrinsic::Marg(x) => {
                let x = self.scores(x)?;
                let mu = self
                    .structure
                    .marginals_only(self.cx, &x, self.lengths)
                    .map_err(err)?;
                SVal::Scores(Arc::new(mu))
            }
            Intrinsic::Project { at, max_iter } => {
                let x = self.scores(at)?;
                let max_iter = match max_iter {
                    None => crate::latent::sparsemap::EXACT_ITERATIONS,
                    Some(m) => match self.scalar(m, "`project`'s max_iter")? {
                        m if m >= 1.0 && m.fract() == 0.0 => m as usize,
                        m => {
                            return Err(format!(
                                "`project`'s max_iter must be a whole number of at least 1, not {m}"
                            ))
                        }
                    },
                };
                SVal::Scores(Arc::new(
                    self.structure
                        .sparsemap_within(self.cx, &x, self.lengths, max_iter, Some(&self.s))
                        .map_err(err)?,
                ))
            }
            Intrinsic::Sample(x) => {
                let x = self.scores(x)?;
                let (structure, lengths) = (self.structure, self.lengths);
                SVal::Scores(Arc::new(
                    structure
                        .sample(&x, lengths, self.oracle.rng())
                        .map_err(err)?,
                ))
            }
            Intrinsic::Zeros => SVal::Scores(Arc::new(ArrayD::zeros(self.s.raw_dim()))),
            Intrinsic::Gumbel => {
                let mut env = crate::ops::Env {
                    train: true,
                    rng: self.oracle.rng(),
                    threads: self.cx.threads(),
                };
                SVal::Scores(Arc::new(crate::ops::noise::gumbel(
                    self.s.shape(),
                    &mut env,
                )))
            }
            Intrinsic::Grad(mu) => {
                let mu = self.scores(mu)?;
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
            Intrinsic::Loss(mu) => {
                let mu = self.scores(mu)?;
                self.decoder_calls += 1;
                SVal::PerExample(self.oracle.loss(&mu)?)
            }
            Intrinsic::Vjp { of, at, g } => {
                let at = self.scores(at)?;
                let g = self.scores(g)?;
                let r = match of {
                    Mapping::Project => {
                        self.structure.sparsemap_vjp(self.cx, &at, self.lengths, &g)
                    }
                    Mapping::Marg => self.structure.marginals_vjp(self.cx, &at, self.lengths, &g),
                };
                SVal::Scores(Arc::new(r.map_err(err)?))
            }
            Intrinsic::RunningMean {
                value,
                decay,
                start,
                site,
            } => {
                let name = op.name();
                let v = self.expr(value)?;
                let decay = self.scalar(decay, &format!("`{name}`'s decay"))?;
                let mean = batch_mean(&v)
                    .ok_or_else(|| format!("`{name}` averages per-example values"))?;
                let current = self.state.get(site).copied();
                // running_mean starts from the first batch's mean; ema
                // starts from 0 and keeps the start's bias, as the
                // paper's published REINFORCE baseline does.
                let next = match (current, start) {
                    (Some(avg), _) => decay * avg + (1.0 - decay) * mean,
                    (None, Start::Zero) => (1.0 - decay) * mean,
                    (None, Start::FirstMean) => mean,
                };
                self.state.insert(site.clone(), next);
                self.per_example(current.unwrap_or(0.0))
            }
            Intrinsic::BatchMean(x) => {
                let v = self.expr(x)?;
                let mean = batch_mean(&v).ok_or("`batch_mean` averages per-example values")?;
                self.per_example(mean)
            }
            Intrinsic::BatchSize => SVal::Scalar(self.s.shape()[0] as f64),
            Intrinsic::Exp(x) => map(self.expr(x)?, f64::exp),
            Intrinsic::Log(x) => map(self.expr(x)?, f64::ln),
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

fn apply_f64(op: BinOp, a: f64, b: f64) -> f64 {
    op.apply(a, b)
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
        (Scalar(x), Scalar(y)) => Scalar(apply_f64(op, x, y)),
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
