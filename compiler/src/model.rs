//! The checked, typed model: what the checker hands to lowering. Every
//! expression carries its inferred type and its span; every call has its
//! arguments bound to parameter names with defaults filled in.

use crate::builtins::shapes::Args;
use crate::span::Span;
use crate::syntax::ast::{BinOp, SurrogateDef};
use crate::types::{Descriptor, Tensor};

/// A typed tensor expression.
#[derive(Clone, Debug, PartialEq)]
pub struct TExpr {
    pub kind: TKind,
    pub ty: Tensor,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TKind {
    /// A named value: provided by the data, or defined in a block or by a latent line.
    Value(String),
    /// A number inside tensor arithmetic (`s / tau`).
    Scalar(f64),
    /// A built-in layer, loss or noise with its bound arguments.
    Call {
        name: &'static str,
        args: Args,
    },
    /// An application of a shared layer instance (`F(a)` after
    /// `layer F = …`): the layer `name` called with `args`, the weights
    /// those of `instance` (`encoder.F`, the prefix of their names), made
    /// by its first application and reused by the others.
    Apply {
        instance: String,
        name: &'static str,
        args: Args,
    },
    Neg(Box<TExpr>),
    Binary {
        op: BinOp,
        lhs: Box<TExpr>,
        rhs: Box<TExpr>,
    },
}

/// `name = value` in `encoder` or `decoder`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub name: String,
    pub value: TExpr,
    pub span: Span,
}

pub use lsmc_ir::graph::Forward;

#[derive(Clone, Debug, PartialEq)]
pub struct SurrogateCall {
    pub name: String,
    /// Every parameter with its value (given or default), in order.
    pub args: Vec<(String, f64)>,
    pub def: SurrogateDef,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LatentModel {
    pub name: String,
    pub span: Span,
    pub structure: &'static Descriptor,
    /// Number of categories (categorical only).
    pub k: u64,
    /// Exactly one word attaches to the root (trees only).
    pub single_root: bool,
    pub forward: Forward,
    /// The argument of the forward mapping (scores, possibly perturbed).
    pub scores: TExpr,
    pub surrogate: Option<SurrogateCall>,
    /// The whole `= …` expression, for messages.
    pub forward_span: Span,
    /// `sparsemap(…, max_iter)`: the trees' active-set budget.
    pub max_iter: usize,
}

pub use lsmc_ir::plan::Unit;

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: String,
    /// The named values it reads, in parameter order.
    pub args: Vec<String>,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TrainPlan {
    pub optimizer: String,
    pub optimizer_args: Args,
    /// `None` means the whole split in one batch.
    pub batch: Option<u64>,
    pub steps: Option<u64>,
    pub epochs: Option<u64>,
    pub seed: Option<u64>,
    /// `None`: evaluate once, at the end.
    pub evaluate_every: Option<(u64, Unit)>,
    pub evaluate_on: Vec<String>,
    pub metrics: Vec<Metric>,
    /// Evaluations without improvement before training stops.
    pub patience: Option<u64>,
    /// `schedule NAME(…)`: the schedule's name and bound arguments.
    pub schedule: Option<(String, Args)>,
    pub clip_norm: Option<f64>,
    /// `log every N UNIT`.
    pub log_every: Option<(u64, Unit)>,
}

impl Model {
    /// The latent called `name`.
    pub fn latent(&self, name: &str) -> Option<&LatentModel> {
        self.latents.iter().find(|l| l.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Model {
    pub name: String,
    pub data_source: String,
    pub data_args: Args,
    pub encoder: Vec<Stmt>,
    /// One per `latent` line, in file order.
    pub latents: Vec<LatentModel>,
    pub decoder: Vec<Stmt>,
    pub loss: Option<TExpr>,
    pub train: TrainPlan,
}
