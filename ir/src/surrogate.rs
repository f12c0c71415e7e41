//! A latent's surrogate gradient as a small typed program.
//!
//! The compiler lowers a `surrogate` block (with its arguments bound) to
//! this form: names resolved to slots, calls resolved to [`Intrinsic`]s with
//! their operands in place, so the runtime interprets a closed set of
//! operations and cannot meet an unknown name, a misspelt variable or a
//! `vjp` of something that has none.

use crate::span::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
        }
    }
}

/// A variable of the program: an argument or an assigned name.
pub type Slot = usize;

/// One lowered surrogate: `spigot(eta = 0.1, steps = 1)` with its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Surrogate {
    pub name: String,
    /// Every parameter with its value (given or default), in order; they
    /// occupy the first slots.
    pub args: Vec<(String, f64)>,
    /// The name of each slot, for messages and `lsmc inspect`.
    pub slots: Vec<String>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

impl Surrogate {
    /// `name(arg = value, …)` as the spec would write it.
    pub fn call_text(&self) -> String {
        if self.args.is_empty() {
            return self.name.clone();
        }
        let args: Vec<String> = self
            .args
            .iter()
            .map(|(n, v)| format!("{n} = {}", crate::types::fmt_number(*v)))
            .collect();
        format!("{}({})", self.name, args.join(", "))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Assign {
        slot: Slot,
        value: Expr,
    },
    /// `repeat count { … }`; the count is evaluated once, and must be a
    /// whole number of at least 0.
    Repeat {
        count: Expr,
        body: Vec<Stmt>,
        span: Span,
    },
    Return(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Number(f64),
    /// `s`: the latent's scores.
    Scores,
    /// `z`: the latent's forward value.
    Forward,
    Var(Slot),
    Neg(Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call {
        op: Intrinsic,
        span: Span,
    },
}

/// The mapping a `vjp` differentiates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// `marg`: the marginals (softmax, inside-outside, matrix-tree).
    Marg,
    /// `project`: the Euclidean projection onto the marginal polytope.
    Project,
}

/// The operations a surrogate computes with, each with its operands.
#[derive(Clone, Debug, PartialEq)]
pub enum Intrinsic {
    /// `map(x)`: the MAP structure.
    Map(Box<Expr>),
    /// `marg(x)`: the marginals.
    Marg(Box<Expr>),
    /// `project(x[, max_iter])`: SparseMAP; `None` runs to convergence.
    Project {
        at: Box<Expr>,
        max_iter: Option<Box<Expr>>,
    },
    /// `sample(x)`: an exact sample of the Gibbs distribution.
    Sample(Box<Expr>),
    /// `grad(µ)`: ∇_µ L, one decoder forward and backward at µ.
    Grad(Box<Expr>),
    /// `loss(µ)`: the per-example downstream loss at µ.
    Loss(Box<Expr>),
    Vjp {
        of: Mapping,
        at: Box<Expr>,
        g: Box<Expr>,
    },
    Zeros,
    Gumbel,
    /// Moving average of a per-example value's batch mean over earlier
    /// steps; `site` keys its state in checkpoints.
    RunningMean {
        value: Box<Expr>,
        decay: Box<Expr>,
        start: Start,
        site: String,
    },
    BatchMean(Box<Expr>),
    BatchSize,
    Exp(Box<Expr>),
    Log(Box<Expr>),
}

/// How a moving average begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// `running_mean`: the first batch's mean.
    FirstMean,
    /// `ema`: from 0, keeping the start's bias (the paper's published baseline).
    Zero,
}

impl Intrinsic {
    /// The language's name for the operation.
    pub fn name(&self) -> &'static str {
        match self {
            Intrinsic::Map(_) => "map",
            Intrinsic::Marg(_) => "marg",
            Intrinsic::Project { .. } => "project",
            Intrinsic::Sample(_) => "sample",
            Intrinsic::Grad(_) => "grad",
            Intrinsic::Loss(_) => "loss",
            Intrinsic::Vjp { .. } => "vjp",
            Intrinsic::Zeros => "zeros",
            Intrinsic::Gumbel => "gumbel",
            Intrinsic::RunningMean {
                start: Start::FirstMean,
                ..
            } => "running_mean",
            Intrinsic::RunningMean {
                start: Start::Zero, ..
            } => "ema",
            Intrinsic::BatchMean(_) => "batch_mean",
            Intrinsic::BatchSize => "batch_size",
            Intrinsic::Exp(_) => "exp",
            Intrinsic::Log(_) => "log",
        }
    }

    /// Whether the operation calls the decoder (what `grad` and `loss` cost).
    pub fn calls_decoder(&self) -> bool {
        matches!(self, Intrinsic::Grad(_) | Intrinsic::Loss(_))
    }
}
