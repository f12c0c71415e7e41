//! The layers of `encoder` and `decoder` blocks: one definition each behind
//! the [`Layer`] trait, and one registry, [`LAYERS`], that the built-in
//! table, the checker and lowering all consult.
//!
//! A layer's definition holds its signature, its shape rule, the parameter
//! tensors a call creates (shape and initialisation) and its lowering into
//! graph ops. The checker types a call with [`Layer::shape`] and counts the
//! parameters it declares; lowering runs the same rule again and hands
//! [`Layer::lower`] exactly those parameters, one [`LayerCx::param`] at a
//! time, reporting a lowering that takes fewer or more. The count
//! `lsmc check` prints and the tensors the runtime trains therefore come
//! from one list.

mod arc_scores;
mod attend;
mod attention_pool;
mod bilinear;
mod bilstm;
mod chain_scores;
mod concat;
mod dropout;
mod elementwise;
mod embed;
mod feed_forward;
mod heads;
mod linear;
mod matmul;
mod mlp;
mod one_hot;
mod pool;
mod tags;
#[cfg(test)]
mod tests;
mod transpose;

use crate::builtins::shapes::{Args, ShapeError};
use crate::builtins::{req, ArgTy, Builtin, Param};
pub use crate::lower::LayerCx;
use crate::types::{Dim, ParamCount, Tensor};
use lsmc_ir::graph::{Init, NodeId};

/// One layer: everything the language knows about it.
pub trait Layer: Sync {
    /// Name, parameters, defaults, ranges and documentation; its `kind` is
    /// [`crate::builtins::Kind::Layer`].
    fn signature(&self) -> &Builtin;

    /// The type of a call and the parameter tensors it creates, from its
    /// arguments bound and type-checked against the signature.
    fn shape(&self, args: &Args) -> Result<Shape, ShapeError>;

    /// The graph ops of a call whose shape rule succeeded. Takes the
    /// parameters [`Layer::shape`] declared from `cx`, in their order, and
    /// lowers its tensor arguments before taking any.
    fn lower(&self, cx: &mut LayerCx<'_>, args: &Args) -> Option<NodeId>;
}

/// What a shape rule finds: the call's type and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub ty: Tensor,
    pub params: Vec<ParamShape>,
}

impl Shape {
    /// A call that creates no parameters.
    pub fn of(ty: Tensor) -> Shape {
        Shape {
            ty,
            params: Vec::new(),
        }
    }

    /// The scalars of every parameter the call creates.
    pub fn param_count(&self) -> ParamCount {
        self.params
            .iter()
            .map(|p| ParamCount::of_shape(&p.dims))
            .fold(ParamCount::default(), |a, b| a + b)
    }
}

/// A parameter tensor a call creates.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamShape {
    /// Which of the call's layers it belongs to, from 0 (`mlp` is two
    /// `linear`s): every layer after a statement's first adds `#2`, `#3`, …
    /// to its parameters' names.
    pub instance: usize,
    /// The layer part of the name, e.g. `linear` or `bilstm.forward`.
    pub layer: &'static str,
    /// The last part of the name, e.g. `weight`.
    pub role: &'static str,
    /// `V` for a trained copy of the vocabulary's table, counted as such.
    pub dims: Vec<Dim>,
    pub init: Init,
}

impl ParamShape {
    /// A parameter of known size, of the call's first layer.
    pub fn new(layer: &'static str, role: &'static str, dims: &[u64], init: Init) -> ParamShape {
        ParamShape {
            instance: 0,
            layer,
            role,
            dims: dims.iter().map(|&d| Dim::Const(d)).collect(),
            init,
        }
    }

    /// The same parameter, of the call's `instance`th layer.
    pub fn of_instance(self, instance: usize) -> ParamShape {
        ParamShape { instance, ..self }
    }
}

/// Every layer, in the order the built-in table lists them.
pub static LAYERS: &[&dyn Layer] = &[
    &linear::Linear,
    &bilinear::Bilinear,
    &matmul::MatMul,
    &transpose::Transpose,
    &embed::Embed,
    &bilstm::BiLstm,
    &arc_scores::ArcScores,
    &heads::Heads,
    &chain_scores::ChainScores,
    &tags::Tags,
    &concat::Concat,
    &attention_pool::AttentionPool,
    &attend::Attend,
    &pool::SUM_POOL,
    &pool::MEAN_POOL,
    &mlp::Mlp,
    &feed_forward::FeedForward,
    &dropout::Dropout,
    &one_hot::OneHot,
    &elementwise::TANH,
    &elementwise::RELU,
    &elementwise::SIGMOID,
    &elementwise::EXP,
    &elementwise::LOG,
    &elementwise::SOFTMAX,
    &elementwise::LOG_SOFTMAX,
];

pub fn lookup(name: &str) -> Option<&'static dyn Layer> {
    LAYERS.iter().copied().find(|l| l.signature().name == name)
}

/// The layers' signatures, for the built-in table.
pub fn signatures() -> impl Iterator<Item = &'static Builtin> {
    LAYERS.iter().map(|l: &&'static dyn Layer| {
        let l: &'static dyn Layer = *l;
        l.signature()
    })
}

const X: Param = req("x", ArgTy::Value, "the input");
const OUT: Param = req("out", ArgTy::Int, "output features").positive();

/// PyTorch's default for weights and biases: U(±1/√fan_in).
fn fan_in(n: u64) -> Init {
    Init::Uniform(1.0 / (n.max(1) as f64).sqrt())
}

/// One more: the root row of a tree over `n` words.
fn plus_one(n: Dim) -> Dim {
    match n {
        Dim::Sym(s, k) => Dim::Sym(s, k + 1),
        Dim::Const(c) => Dim::Const(c + 1),
    }
}

/// `dims` with the last axis of size `n`: an intermediate node's shape.
fn with_last_dim(dims: &[Dim], n: u64) -> Vec<Dim> {
    let mut dims = dims.to_vec();
    if let Some(l) = dims.last_mut() {
        *l = Dim::Const(n);
    }
    dims
}
