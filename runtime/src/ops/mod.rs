//! Every graph op: its forward, its vector-Jacobian product and its tests,
//! one family per file. [`forward`] and [`vjp`] dispatch on [`Op`].

pub mod attend;
pub mod chain;
pub mod elementwise;
pub mod fastmath;
pub mod gemm;
#[cfg(test)]
pub mod gradcheck;
pub mod matmul;
pub mod noise;
pub mod sequence;
pub mod shape;
pub mod softmax;

use crate::real::Real;
use lsmc_ir::graph::Op;
use ndarray::{ArrayD, ArrayView2, CowArray, Ix2, IxDyn};
use rand_chacha::ChaCha8Rng;

/// What an op may need beyond its inputs.
pub struct Env<'a> {
    /// Training (dropout and noise on) or evaluation.
    pub train: bool,
    pub rng: &'a mut ChaCha8Rng,
    /// The context's thread count, which picks lsmc's own GEMM kernels
    /// (one thread) or matrixmultiply's (threaded).
    pub threads: usize,
}

/// An op's output, and whatever its VJP needs that the inputs and output
/// do not give.
pub struct Fwd<T> {
    pub out: ArrayD<T>,
    pub aux: Option<Aux<T>>,
}

/// What an op keeps from its forward pass for its backward.
pub enum Aux<T> {
    /// An array: a dropout mask, an intermediate product.
    Array(ArrayD<T>),
    /// Anything else, read back only by the op that made it: the latent
    /// node keeps its structure's solution here (SparseMAP's active sets),
    /// so its backward does not solve again.
    State(crate::latent::structure::State),
}

impl<T> Aux<T> {
    pub fn array(&self) -> Option<&ArrayD<T>> {
        match self {
            Aux::Array(a) => Some(a),
            Aux::State(_) => None,
        }
    }

    pub fn state(&self) -> Option<&crate::latent::structure::State> {
        match self {
            Aux::State(s) => Some(s),
            Aux::Array(_) => None,
        }
    }
}

impl<T> Fwd<T> {
    pub fn plain(out: ArrayD<T>) -> Fwd<T> {
        Fwd { out, aux: None }
    }

    /// An output with an array for the backward.
    pub fn with_array(out: ArrayD<T>, aux: ArrayD<T>) -> Fwd<T> {
        Fwd {
            out,
            aux: Some(Aux::Array(aux)),
        }
    }
}

/// Runs `op` forward. `shape` is the node's concrete shape (used by ops
/// without inputs, such as noise).
pub fn forward<T: Real>(op: &Op, x: &[&ArrayD<T>], shape: &[usize], env: &mut Env) -> Fwd<T> {
    use elementwise as ew;
    match op {
        Op::MatMul => Fwd::plain(matmul::matmul(x[0], x[1], env.threads)),
        Op::AddBias => Fwd::plain(matmul::add_bias(x[0], x[1])),
        Op::Bilinear => matmul::bilinear(x[0], x[1], x[2], env.threads),
        Op::Add => Fwd::plain(x[0] + x[1]),
        Op::Sub => Fwd::plain(x[0] - x[1]),
        Op::Mul => Fwd::plain(x[0] * x[1]),
        Op::Div => Fwd::plain(x[0] / x[1]),
        Op::Affine { scale, shift } => Fwd::plain(ew::affine(x[0], *scale, *shift)),
        Op::Recip => Fwd::plain(x[0].mapv(|v| T::one() / v)),
        Op::Neg => Fwd::plain(x[0].mapv(|v| -v)),
        Op::Tanh => Fwd::plain(ew::tanh(x[0])),
        Op::Relu => Fwd::plain(x[0].mapv(|v| if v > T::zero() { v } else { T::zero() })),
        Op::Sigmoid => Fwd::plain(x[0].mapv(ew::sigmoid)),
        Op::Exp => Fwd::plain(x[0].mapv(T::exp)),
        Op::Log => Fwd::plain(x[0].mapv(T::ln)),
        Op::Softmax => Fwd::plain(softmax::softmax(x[0])),
        Op::LogSoftmax => Fwd::plain(softmax::log_softmax(x[0])),
        Op::CrossEntropy => Fwd::plain(softmax::cross_entropy(x[0], x[1])),
        Op::Concat => Fwd::plain(shape::concat(x)),
        Op::SumPool => Fwd::plain(shape::pool(x[0], x[1], false)),
        Op::MeanPool => Fwd::plain(shape::pool(x[0], x[1], true)),
        Op::Embedding => Fwd::plain(shape::embedding(x[0], x[1])),
        Op::OneHot(k) => Fwd::plain(shape::one_hot(x[0], x.get(1).copied(), *k)),
        Op::Dropout(p) => noise::dropout(x[0], *p, env),
        Op::Gumbel => Fwd::plain(noise::gumbel(shape, env)),
        Op::Lstm { reverse } => {
            let (out, aux) = sequence::lstm(x[0], x[1], x[2], x[3], x[4], x[5], *reverse);
            Fwd::with_array(out, aux)
        }
        Op::PrependRoot => Fwd::plain(sequence::prepend_root(x[0], x[1])),
        Op::PairScore => {
            let (out, aux) = sequence::pair_score(x[0], x[1], x[2], x[3]);
            Fwd::with_array(out, aux)
        }
        Op::Heads => Fwd::plain(sequence::heads(x[0], x[1])),
        Op::ChainScores => Fwd::plain(chain::chain_scores(x[0], x[1], x[2])),
        Op::Tags => Fwd::plain(chain::tags(x[0])),
        Op::AttentionPool => {
            let (out, aux) = sequence::attention_pool(x[0], x[1], x[2]);
            Fwd::with_array(out, aux)
        }
        Op::Transpose => Fwd::plain(shape::transpose(x[0])),
        Op::Attend => {
            let (out, weights) = attend::attend(x[0], x[1], x[2]);
            Fwd::with_array(out, weights)
        }
        Op::Input(_) | Op::Param(_) | Op::Latent(_) => {
            unreachable!("inputs, parameters and latent nodes are evaluated by the executor")
        }
    }
}

/// The gradients of `op`'s inputs given the gradient `g` of its output;
/// `None` for inputs that have none (labels, ids, lengths). Products run
/// on `threads` threads, as [`Env::threads`].
pub fn vjp<T: Real>(
    op: &Op,
    x: &[&ArrayD<T>],
    out: &ArrayD<T>,
    aux: Option<&ArrayD<T>>,
    g: &ArrayD<T>,
    threads: usize,
) -> Vec<Option<ArrayD<T>>> {
    vjp_needed(op, x, out, aux, g, &[true; 8], threads)
}

/// [`vjp`], skipping the expensive gradients of inputs that need none
/// (`needs[i]` false): a data matrix's gradient in a matmul is a whole GEMM.
pub fn vjp_needed<T: Real>(
    op: &Op,
    x: &[&ArrayD<T>],
    out: &ArrayD<T>,
    aux: Option<&ArrayD<T>>,
    g: &ArrayD<T>,
    needs: &[bool],
    threads: usize,
) -> Vec<Option<ArrayD<T>>> {
    use elementwise as ew;
    match op {
        Op::MatMul => matmul::matmul_vjp(x[0], x[1], g, needs, threads),
        Op::AddBias => matmul::add_bias_vjp(x[0], g),
        Op::Bilinear => matmul::bilinear_vjp(
            x[0],
            x[1],
            x[2],
            aux.expect("bilinear keeps its product"),
            g,
            needs,
            threads,
        ),
        Op::Add => vec![Some(g.clone()), Some(g.clone())],
        Op::Sub => vec![Some(g.clone()), Some(g.mapv(|v| -v))],
        Op::Mul => vec![Some(g * x[1]), Some(g * x[0])],
        Op::Div => ew::div_vjp(x[0], x[1], g),
        Op::Affine { scale, .. } => vec![Some(g.mapv(|v| v * T::of(*scale)))],
        Op::Recip => vec![Some(ew::zip(g, out, |g, y| -g * y * y))],
        Op::Neg => vec![Some(g.mapv(|v| -v))],
        Op::Tanh => vec![Some(ew::zip(g, out, |g, y| g * (T::one() - y * y)))],
        Op::Relu => vec![Some(ew::zip(g, x[0], |g, v| {
            if v > T::zero() {
                g
            } else {
                T::zero()
            }
        }))],
        Op::Sigmoid => vec![Some(ew::zip(g, out, |g, y| g * y * (T::one() - y)))],
        Op::Exp => vec![Some(g * out)],
        Op::Log => vec![Some(g / x[0])],
        Op::Softmax => vec![Some(softmax::softmax_vjp(out, g))],
        Op::LogSoftmax => vec![Some(softmax::log_softmax_vjp(out, g))],
        Op::CrossEntropy => vec![Some(softmax::cross_entropy_vjp(x[0], x[1], g)), None],
        Op::Concat => shape::concat_vjp(x, g),
        Op::SumPool => vec![Some(shape::pool_vjp(x[0], x[1], g, false)), None],
        Op::MeanPool => vec![Some(shape::pool_vjp(x[0], x[1], g, true)), None],
        Op::Embedding => vec![None, Some(shape::embedding_vjp(x[0], x[1], g))],
        Op::OneHot(_) => vec![None],
        Op::Dropout(_) => vec![Some(noise::dropout_vjp(aux, g))],
        Op::Gumbel => vec![],
        Op::Lstm { reverse } => sequence::lstm_vjp(
            x[0],
            x[1],
            x[2],
            x[3],
            out,
            aux.expect("lstm keeps its gates"),
            g,
            *reverse,
        ),
        Op::PrependRoot => sequence::prepend_root_vjp(g),
        Op::PairScore => sequence::pair_score_vjp(
            x[0],
            x[3],
            aux.expect("pair_score keeps its tanh values"),
            g,
        ),
        Op::Heads => sequence::heads_vjp(x[0], x[1], g),
        Op::ChainScores => chain::chain_scores_vjp(g),
        Op::Tags => chain::tags_vjp(g),
        Op::AttentionPool => sequence::attention_pool_vjp(
            x[0],
            x[1],
            x[2],
            aux.expect("attention_pool keeps its weights"),
            g,
        ),
        Op::Transpose => vec![Some(shape::transpose(g))],
        Op::Attend => attend::attend_vjp(x[1], aux.expect("attend keeps its weights"), g),
        Op::Input(_) | Op::Param(_) | Op::Latent(_) => {
            unreachable!("inputs, parameters and latent nodes are differentiated by the executor")
        }
    }
}

/// `a` seen as a matrix of `rows × (len / rows)`, copying only if it is
/// not contiguous.
pub fn as_matrix<T: Real>(a: &ArrayD<T>, rows: usize) -> CowArray<'_, T, Ix2> {
    let cols = a.len().checked_div(rows).unwrap_or(0);
    match a.view().into_shape_with_order((rows, cols)) {
        Ok(v) => CowArray::from(v),
        Err(_) => {
            let owned = a.as_standard_layout().into_owned();
            CowArray::from(
                owned
                    .into_shape_with_order((rows, cols))
                    .expect("standard layout reshapes"),
            )
        }
    }
}

/// A matrix result back to the shape `dims`.
pub fn from_matrix<T: Real>(m: ndarray::Array2<T>, dims: &[usize]) -> ArrayD<T> {
    m.into_shape_with_order(IxDyn(dims)).expect("sizes agree")
}

/// View of a 2-D array (used by tests and the latent engine).
pub fn rows<T: Real>(a: &ArrayD<T>) -> ArrayView2<'_, T> {
    let r = a.shape()[0];
    let c = a.len().checked_div(r).unwrap_or(0);
    a.view()
        .into_shape_with_order((r, c))
        .expect("contiguous 2-D value")
}
